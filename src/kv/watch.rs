//! Watching a bucket, and what is built on it: keys and history (ADR-8 "Watchers").

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use super::entry::{Entry, Operation};
use super::validate;
use super::KeyValue;
use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::{ConsumeOptions, DeliverPolicy, OrderedConsumerConfig};
use crate::marked_watch::{MarkedWatch, Step};
use crate::time::deadline_after;

/// How a [`Watcher`] starts and what it skips.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    include_history: bool,
    ignore_deletes: bool,
    updates_only: bool,
    meta_only: bool,
    resume_from: Option<u64>,
}

impl WatchOptions {
    /// The latest entry of each key (deletes and purges included), then every change.
    pub fn new() -> WatchOptions {
        WatchOptions::default()
    }

    /// Every stored entry of each key first, not only the latest.
    pub fn include_history(mut self, on: bool) -> Self {
        self.include_history = on;
        self
    }

    /// Skip delete and purge entries.
    pub fn ignore_deletes(mut self, on: bool) -> Self {
        self.ignore_deletes = on;
        self
    }

    /// Only changes made after the watch starts (the marker comes first).
    pub fn updates_only(mut self, on: bool) -> Self {
        self.updates_only = on;
        self
    }

    /// Entries without their values.
    pub fn meta_only(mut self, on: bool) -> Self {
        self.meta_only = on;
        self
    }

    /// Every entry from `revision` on (at least 1).
    pub fn resume_from_revision(mut self, revision: u64) -> Self {
        self.resume_from = Some(revision);
        self
    }
}

/// What a [`Watcher`] yields.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum WatchEvent {
    /// An entry (a put, delete or purge).
    Entry(Entry),
    /// The entries there were when the watch started have all been yielded; what follows
    /// are changes. Sent exactly once, also for an empty bucket and for updates only.
    InitialDone,
}

/// The entries of a bucket as they change ([`KeyValue::watch`]): an ordered consumer, so it
/// goes on across reconnects and server restarts without losing or repeating an entry.
pub struct Watcher {
    inner: MarkedWatch,
    kv: KeyValue,
    ignore_deletes: bool,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("bucket", &self.kv.bucket)
            .field("initial_done", &self.inner.initial_done())
            .finish()
    }
}

impl KeyValue {
    /// Watches the keys matching `filter` (`*` for a token, a final `>` for the rest).
    pub fn watch(&self, filter: &str) -> Result<Watcher> {
        self.watch_with([filter], WatchOptions::new())
    }

    /// Watches every key.
    pub fn watch_all(&self) -> Result<Watcher> {
        self.watch_with([">"], WatchOptions::new())
    }

    /// Watches the keys matching any of `filters`, with options.
    pub fn watch_with<I, S>(&self, filters: I, options: WatchOptions) -> Result<Watcher>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut subjects = Vec::new();
        for f in filters {
            validate::filter(f.as_ref())?;
            subjects.push(self.subject(f.as_ref()));
        }
        if subjects.is_empty() {
            return Err(Error::new(ErrorKind::InvalidKey, "no key filter to watch"));
        }
        if options.updates_only && (options.include_history || options.resume_from.is_some()) {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "updates_only does not go with include_history or resume_from_revision",
            ));
        }
        let mut cfg = OrderedConsumerConfig::new()
            .filter_subjects(subjects)
            .headers_only(options.meta_only);
        cfg = if let Some(r) = options.resume_from {
            if r == 0 {
                return Err(Error::new(
                    ErrorKind::InvalidOption,
                    "resume_from_revision 0: revisions start at 1",
                ));
            }
            cfg.start_sequence(r)
        } else if options.updates_only {
            cfg.deliver_policy(DeliverPolicy::New)
        } else if options.include_history {
            cfg.deliver_policy(DeliverPolicy::All)
        } else {
            cfg.deliver_policy(DeliverPolicy::LastPerSubject)
        };
        let inner = MarkedWatch::start(
            &self.js,
            &self.stream_name,
            cfg,
            ConsumeOptions::new(),
            options.updates_only,
        )?;
        Ok(Watcher {
            inner,
            kv: self.clone(),
            ignore_deletes: options.ignore_deletes,
        })
    }

    /// The keys that have a value, sorted; empty for an empty bucket.
    pub fn keys(&self) -> Result<Vec<String>> {
        self.keys_filtered([">"])
    }

    /// The keys matching any of `filters` that have a value, sorted.
    pub fn keys_filtered<I, S>(&self, filters: I) -> Result<Vec<String>>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let opts = WatchOptions::new().ignore_deletes(true).meta_only(true);
        let entries = self
            .watch_with(filters, opts)?
            .initial_entries(self.js.timeout())?;
        let keys: BTreeSet<String> = entries.into_iter().map(|e| e.key).collect();
        Ok(keys.into_iter().collect())
    }

    /// The keys that have a value, as an iterator yielding them as they arrive (in stream
    /// order, not sorted; nats.go's `ListKeys`): nothing is collected first. Each step waits
    /// at most the context's timeout.
    pub fn list_keys(&self) -> Result<Keys> {
        let opts = WatchOptions::new().ignore_deletes(true).meta_only(true);
        Ok(Keys {
            w: Some(self.watch_with([">"], opts)?),
            step: self.js.timeout(),
        })
    }

    /// Every stored entry of `key`, oldest first (deletes and purges included);
    /// [`ErrorKind::KeyNotFound`] if there is none.
    pub fn history(&self, key: &str) -> Result<Vec<Entry>> {
        validate::key(key)?;
        let entries = self
            .watch_with([key], WatchOptions::new().include_history(true))?
            .initial_entries(self.js.timeout())?;
        if entries.is_empty() {
            return Err(Error::new(
                ErrorKind::KeyNotFound,
                format!("key '{key}' not found"),
            ));
        }
        Ok(entries)
    }
}

impl Watcher {
    /// The next event, waiting up to `timeout` ([`ErrorKind::Timeout`]).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<WatchEvent> {
        self.next_until(Some(deadline_after(timeout)))
    }

    /// Whether [`WatchEvent::InitialDone`] has been yielded.
    pub fn initial_done(&self) -> bool {
        self.inner.initial_done()
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<WatchEvent> {
        loop {
            match self.inner.next_until(deadline)? {
                Step::InitialDone => return Ok(WatchEvent::InitialDone),
                Step::Msg(m, md) => {
                    let key = m
                        .subject()
                        .strip_prefix(&self.kv.prefix)
                        .ok_or_else(|| {
                            Error::new(
                                ErrorKind::Protocol,
                                format!("'{}' is not a key of this bucket", m.subject()),
                            )
                        })?
                        .to_string();
                    let operation = Operation::from_headers(m.headers());
                    if self.ignore_deletes && operation != Operation::Put {
                        continue;
                    }
                    return Ok(WatchEvent::Entry(Entry {
                        bucket: self.kv.bucket.clone(),
                        key,
                        value: m.payload().clone(),
                        revision: md.stream_sequence,
                        delta: md.num_pending,
                        created: md.timestamp,
                        operation,
                    }));
                }
            }
        }
    }

    /// The entries up to the marker, each waited for `step` at most.
    pub(crate) fn initial_entries(mut self, step: Duration) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        loop {
            match self.next_timeout(step)? {
                WatchEvent::InitialDone => return Ok(out),
                WatchEvent::Entry(e) => out.push(e),
            }
        }
    }
}

impl Iterator for Watcher {
    type Item = Result<WatchEvent>;

    /// The next event, waiting as long as it takes; an error when the bucket is deleted or
    /// the connection closed, and then `None`.
    fn next(&mut self) -> Option<Result<WatchEvent>> {
        match self.next_until(None) {
            Err(e) if e.kind() == ErrorKind::Unsubscribed => None,
            r => Some(r),
        }
    }
}

/// The keys of a bucket as they arrive ([`KeyValue::list_keys`]); ends after the last.
pub struct Keys {
    w: Option<Watcher>,
    step: Duration,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("done", &self.w.is_none())
            .finish()
    }
}

impl Iterator for Keys {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        let w = self.w.as_mut()?;
        match w.next_timeout(self.step) {
            Ok(WatchEvent::Entry(e)) => Some(Ok(e.key)),
            Ok(WatchEvent::InitialDone) => {
                self.w = None;
                None
            }
            Err(e) => {
                self.w = None;
                Some(Err(e))
            }
        }
    }
}
