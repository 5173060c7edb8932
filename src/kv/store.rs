//! A bucket's entries: put, get, create, update, delete, purge, status.

use std::time::{Duration, SystemTime};

use super::config::Status;
use super::entry::{Entry, Operation, OPERATION};
use super::validate;
use super::KeyValue;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::jetstream::{PublishOptions, RawMessage};
use crate::message::Message;

/// Options of [`KeyValue::delete_with`].
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    revision: Option<u64>,
}

impl DeleteOptions {
    /// Delete whatever the latest revision is.
    pub fn new() -> DeleteOptions {
        DeleteOptions::default()
    }

    /// Delete only if the key's latest revision is `revision` (at least 1); otherwise
    /// [`ErrorKind::WrongLastSequence`].
    pub fn revision(mut self, revision: u64) -> Self {
        self.revision = Some(revision);
        self
    }
}

/// Options of [`KeyValue::purge_with`].
#[derive(Debug, Clone, Default)]
pub struct PurgeOptions {
    revision: Option<u64>,
    ttl: Option<Duration>,
}

impl PurgeOptions {
    /// Purge whatever the latest revision is; the purge marker stays.
    pub fn new() -> PurgeOptions {
        PurgeOptions::default()
    }

    /// Purge only if the key's latest revision is `revision` (at least 1).
    pub fn revision(mut self, revision: u64) -> Self {
        self.revision = Some(revision);
        self
    }

    /// The purge marker itself expires after `ttl` (at least 1 s; the bucket needs
    /// [`Config::limit_marker_ttl`](super::Config::limit_marker_ttl)).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

fn revision_needed(revision: u64) -> Result<()> {
    if revision == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            "revision 0: revisions start at 1 (use create for a key that must not exist)",
        ));
    }
    Ok(())
}

fn ttl_checked(ttl: Duration) -> Result<()> {
    if ttl < Duration::from_secs(1) {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            format!("a key TTL must be at least 1 s, not {ttl:?}"),
        ));
    }
    Ok(())
}

fn key_not_found(key: &str) -> Error {
    Error::new(ErrorKind::KeyNotFound, format!("key '{key}' not found"))
}

impl KeyValue {
    /// Puts `value` under `key`; returns its revision.
    pub fn put(&self, key: &str, value: impl AsRef<[u8]>) -> Result<u64> {
        validate::key(key)?;
        self.publish(key, value.as_ref(), None, &PublishOptions::new())
    }

    /// The latest value of `key`; [`ErrorKind::KeyNotFound`] if it has none (never put,
    /// deleted or purged).
    pub fn get(&self, key: &str) -> Result<Entry> {
        let e = self.last_entry(key)?;
        if e.operation != Operation::Put {
            return Err(key_not_found(key));
        }
        Ok(e)
    }

    /// `key` at `revision` (at least 1); [`ErrorKind::KeyNotFound`] when that revision is
    /// gone, belongs to another key, or is a delete or purge.
    pub fn get_revision(&self, key: &str, revision: u64) -> Result<Entry> {
        validate::key(key)?;
        revision_needed(revision)?;
        let raw = if self.direct {
            self.stream.direct_get(revision)
        } else {
            self.stream.get_msg(revision)
        };
        let raw = raw.map_err(|e| match e.kind() {
            ErrorKind::MessageNotFound => key_not_found(key),
            _ => e,
        })?;
        if raw.subject != self.subject(key) {
            return Err(key_not_found(key));
        }
        let e = self.to_entry(raw)?;
        if e.operation != Operation::Put {
            return Err(key_not_found(key));
        }
        Ok(e)
    }

    /// Puts `value` only if `key` has no value (never put, deleted or purged); otherwise
    /// [`ErrorKind::KeyExists`]. Returns the revision.
    pub fn create(&self, key: &str, value: impl AsRef<[u8]>) -> Result<u64> {
        self.create_inner(key, value.as_ref(), None)
    }

    /// [`create`](Self::create) with a TTL for this value (at least 1 s; the bucket needs
    /// [`Config::limit_marker_ttl`](super::Config::limit_marker_ttl)).
    pub fn create_with_ttl(
        &self,
        key: &str,
        value: impl AsRef<[u8]>,
        ttl: Duration,
    ) -> Result<u64> {
        ttl_checked(ttl)?;
        self.create_inner(key, value.as_ref(), Some(ttl))
    }

    fn create_inner(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<u64> {
        validate::key(key)?;
        let mut o = PublishOptions::new().expected_last_subject_sequence(0);
        if let Some(t) = ttl {
            o = o.ttl(t);
        }
        match self.publish(key, value, None, &o) {
            Err(e) if e.kind() == ErrorKind::WrongLastSequence => {}
            r => return r,
        }
        // Something is there: fine if it is a delete or purge marker (ADR-8).
        let exists = || Error::new(ErrorKind::KeyExists, format!("key '{key}' exists"));
        match self.last_entry(key) {
            Ok(last) if last.operation != Operation::Put => {
                let mut o = PublishOptions::new().expected_last_subject_sequence(last.revision);
                if let Some(t) = ttl {
                    o = o.ttl(t);
                }
                self.publish(key, value, None, &o).map_err(|e| {
                    if e.kind() == ErrorKind::WrongLastSequence {
                        exists()
                    } else {
                        e
                    }
                })
            }
            Ok(_) => Err(exists()),
            Err(e) => Err(e),
        }
    }

    /// Puts `value` only if the latest revision of `key` is `revision` (at least 1);
    /// otherwise [`ErrorKind::WrongLastSequence`]. Returns the new revision.
    pub fn update(&self, key: &str, value: impl AsRef<[u8]>, revision: u64) -> Result<u64> {
        validate::key(key)?;
        revision_needed(revision)?;
        let o = PublishOptions::new().expected_last_subject_sequence(revision);
        self.publish(key, value.as_ref(), None, &o)
    }

    /// Deletes `key`: a delete marker; its history stays. Returns the marker's revision.
    pub fn delete(&self, key: &str) -> Result<u64> {
        self.delete_with(key, DeleteOptions::new())
    }

    /// [`delete`](Self::delete) with options (an expected revision).
    pub fn delete_with(&self, key: &str, options: DeleteOptions) -> Result<u64> {
        validate::key(key)?;
        let mut o = PublishOptions::new();
        if let Some(r) = options.revision {
            revision_needed(r)?;
            o = o.expected_last_subject_sequence(r);
        }
        let mut h = Headers::new();
        h.insert(OPERATION, "DEL");
        self.publish(key, b"", Some(h), &o)
    }

    /// Purges `key`: a purge marker replaces its whole history. Returns the marker's revision.
    pub fn purge(&self, key: &str) -> Result<u64> {
        self.purge_with(key, PurgeOptions::new())
    }

    /// [`purge`](Self::purge) with options (an expected revision, a TTL for the marker).
    pub fn purge_with(&self, key: &str, options: PurgeOptions) -> Result<u64> {
        validate::key(key)?;
        let mut o = PublishOptions::new();
        if let Some(r) = options.revision {
            revision_needed(r)?;
            o = o.expected_last_subject_sequence(r);
        }
        if let Some(t) = options.ttl {
            ttl_checked(t)?;
            o = o.ttl(t);
        }
        let mut h = Headers::new();
        h.insert(OPERATION, "PURGE");
        h.insert(crate::jetstream::ROLLUP, crate::jetstream::ROLLUP_SUBJECT);
        self.publish(key, b"", Some(h), &o)
    }

    /// Removes old delete and purge markers and what is left behind them: markers older
    /// than 30 minutes go entirely; newer ones stay, alone (nats.go's default).
    pub fn purge_deletes(&self) -> Result<()> {
        self.purge_deletes_older_than(Duration::from_secs(30 * 60))
    }

    /// [`purge_deletes`](Self::purge_deletes) with another age: markers older than `age`
    /// go (zero: all of them).
    pub fn purge_deletes_older_than(&self, age: Duration) -> Result<()> {
        let limit = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let markers: Vec<Entry> = self
            .watch_with([">"], super::WatchOptions::new().meta_only(true))?
            .initial_entries(self.js.timeout())?
            .into_iter()
            .filter(|e| e.operation != Operation::Put)
            .collect();
        for m in markers {
            let keep = if age.is_zero() || m.created <= limit {
                0
            } else {
                1
            };
            self.stream.purge(
                crate::jetstream::PurgeOptions::new()
                    .filter(self.subject(&m.key))
                    .keep(keep),
            )?;
        }
        Ok(())
    }

    /// The bucket's state (one API call).
    pub fn status(&self) -> Result<Status> {
        let mut s = self.stream.clone();
        let info = s.info().map_err(crate::marked_watch::bucket_not_found)?;
        Ok(Status {
            bucket: self.bucket.clone(),
            info,
        })
    }

    /// The latest entry of `key`, delete and purge markers included.
    pub(crate) fn last_entry(&self, key: &str) -> Result<Entry> {
        validate::key(key)?;
        let subject = self.subject(key);
        let raw = if self.direct {
            self.stream.direct_get_last(&subject)
        } else {
            self.stream.get_last_msg(&subject)
        };
        match raw {
            Ok(raw) => self.to_entry(raw),
            Err(e) if e.kind() == ErrorKind::MessageNotFound => Err(key_not_found(key)),
            Err(e) => Err(e),
        }
    }

    fn publish(
        &self,
        key: &str,
        value: &[u8],
        headers: Option<Headers>,
        options: &PublishOptions,
    ) -> Result<u64> {
        let subject = format!("{}{key}", self.put_prefix);
        let mut msg = Message::new(subject, value.to_vec());
        if let Some(h) = headers {
            msg = msg.with_headers(h);
        }
        Ok(self.js.publish_message(&msg, options)?.sequence)
    }

    fn to_entry(&self, raw: RawMessage) -> Result<Entry> {
        let key = raw
            .subject
            .strip_prefix(&self.prefix)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("'{}' is not a key of bucket '{}'", raw.subject, self.bucket),
                )
            })?
            .to_string();
        Ok(Entry {
            bucket: self.bucket.clone(),
            key,
            operation: Operation::from_headers(raw.headers.as_ref()),
            value: raw.payload,
            revision: raw.sequence,
            delta: 0,
            created: raw.time.unwrap_or(SystemTime::UNIX_EPOCH),
        })
    }
}
