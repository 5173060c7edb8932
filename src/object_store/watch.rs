//! Watching an object store's infos, and listing its objects.

use std::fmt;
use std::time::{Duration, Instant};

use super::info::ObjectInfo;
use super::ObjectStore;
use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::{ConsumeOptions, DeliverPolicy, OrderedConsumerConfig};
use crate::marked_watch::{MarkedWatch, Step};
use crate::time::deadline_after;

/// How an [`ObjectWatcher`] starts and what it skips.
#[derive(Debug, Clone, Default)]
pub struct WatchOptions {
    include_history: bool,
    ignore_deletes: bool,
    updates_only: bool,
}

impl WatchOptions {
    /// The latest info of each object (deleted ones included), then every change.
    pub fn new() -> WatchOptions {
        WatchOptions::default()
    }

    /// Every stored info, not only the latest of each object.
    pub fn include_history(mut self, on: bool) -> Self {
        self.include_history = on;
        self
    }

    /// Skip deleted objects.
    pub fn ignore_deletes(mut self, on: bool) -> Self {
        self.ignore_deletes = on;
        self
    }

    /// Only changes after the watch starts (the marker comes first).
    pub fn updates_only(mut self, on: bool) -> Self {
        self.updates_only = on;
        self
    }
}

/// What an [`ObjectWatcher`] yields.
// Handed out one at a time, by value: the variants' size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectWatchEvent {
    /// An object's info: put, updated, linked or deleted.
    Info(ObjectInfo),
    /// What was there when the watch started has been yielded. Sent exactly once.
    InitialDone,
}

/// Object infos as they change ([`ObjectStore::watch`]); goes on across reconnects.
pub struct ObjectWatcher {
    inner: MarkedWatch,
    bucket: String,
    ignore_deletes: bool,
}

impl fmt::Debug for ObjectWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectWatcher")
            .field("bucket", &self.bucket)
            .field("initial_done", &self.inner.initial_done())
            .finish()
    }
}

impl ObjectStore {
    /// Watches the bucket's objects.
    pub fn watch(&self) -> Result<ObjectWatcher> {
        self.watch_with(WatchOptions::new())
    }

    /// Watches with options.
    pub fn watch_with(&self, options: WatchOptions) -> Result<ObjectWatcher> {
        if options.updates_only && options.include_history {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "updates_only does not go with include_history",
            ));
        }
        let policy = if options.updates_only {
            DeliverPolicy::New
        } else if options.include_history {
            DeliverPolicy::All
        } else {
            DeliverPolicy::LastPerSubject
        };
        let cfg = OrderedConsumerConfig::new()
            .filter_subjects([format!("$O.{}.M.>", self.bucket)])
            .deliver_policy(policy);
        let inner = MarkedWatch::start(
            &self.js,
            self.stream.name(),
            cfg,
            ConsumeOptions::new().max_messages(256),
            options.updates_only,
        )?;
        Ok(ObjectWatcher {
            inner,
            bucket: self.bucket.clone(),
            ignore_deletes: options.ignore_deletes,
        })
    }

    /// The objects of the bucket (not deleted ones; links included), as an iterator that
    /// ends when all have been read; each step waits at most the context's timeout.
    pub fn list(&self) -> Result<Objects> {
        let w = self.watch_with(WatchOptions::new().ignore_deletes(true))?;
        Ok(Objects {
            w: Some(w),
            step: self.js.timeout(),
        })
    }
}

impl ObjectWatcher {
    /// The next event, waiting up to `timeout` ([`ErrorKind::Timeout`]).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<ObjectWatchEvent> {
        self.next_until(Some(deadline_after(timeout)))
    }

    /// Whether [`ObjectWatchEvent::InitialDone`] has been yielded.
    pub fn initial_done(&self) -> bool {
        self.inner.initial_done()
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<ObjectWatchEvent> {
        loop {
            match self.inner.next_until(deadline)? {
                Step::InitialDone => return Ok(ObjectWatchEvent::InitialDone),
                Step::Msg(m, md) => {
                    let info = ObjectInfo::from_json(m.payload(), Some(md.timestamp))?;
                    if self.ignore_deletes && info.deleted {
                        continue;
                    }
                    return Ok(ObjectWatchEvent::Info(info));
                }
            }
        }
    }
}

impl Iterator for ObjectWatcher {
    type Item = Result<ObjectWatchEvent>;

    /// The next event, waiting as long as it takes; after an error (the bucket deleted,
    /// the connection closed) `None`.
    fn next(&mut self) -> Option<Result<ObjectWatchEvent>> {
        match self.next_until(None) {
            Err(e) if e.kind() == ErrorKind::Unsubscribed => None,
            r => Some(r),
        }
    }
}

/// The objects of a bucket ([`ObjectStore::list`]).
pub struct Objects {
    w: Option<ObjectWatcher>,
    step: Duration,
}

impl fmt::Debug for Objects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Objects")
            .field("done", &self.w.is_none())
            .finish()
    }
}

impl Iterator for Objects {
    type Item = Result<ObjectInfo>;

    fn next(&mut self) -> Option<Result<ObjectInfo>> {
        let w = self.w.as_mut()?;
        match w.next_timeout(self.step) {
            Ok(ObjectWatchEvent::Info(i)) => Some(Ok(i)),
            Ok(ObjectWatchEvent::InitialDone) => {
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
