//! Entries: what a key holds at a revision, read by get, history and watch.

use std::time::SystemTime;

use bytes::Bytes;

use crate::headers::Headers;

/// What an entry records.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A value was put.
    Put,
    /// The key was deleted (its history kept).
    Delete,
    /// The key was purged (its history removed), or its last value expired (a limit marker).
    Purge,
}

/// The `KV-Operation` header.
pub(crate) const OPERATION: &str = "KV-Operation";

impl Operation {
    /// From a stored message's headers: `KV-Operation`, or a server limit marker's
    /// `Nats-Marker-Reason` (`MaxAge`, `Purge` ⇒ purge; `Remove` ⇒ delete; ADR-48).
    pub(crate) fn from_headers(h: Option<&Headers>) -> Operation {
        let Some(h) = h else {
            return Operation::Put;
        };
        match h.get(OPERATION) {
            Some("DEL") => return Operation::Delete,
            Some("PURGE") => return Operation::Purge,
            _ => {}
        }
        match h.get("Nats-Marker-Reason") {
            Some("MaxAge") | Some("Purge") => Operation::Purge,
            Some("Remove") => Operation::Delete,
            _ => Operation::Put,
        }
    }
}

/// A key's value at a revision.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// The value (empty for deletes and purges, and in a meta-only watch).
    pub value: Bytes,
    /// The revision: the stream sequence of this entry.
    pub revision: u64,
    /// In a watch, how many entries are still pending after this one (0 elsewhere).
    pub delta: u64,
    /// When it was stored (the Unix epoch if the server did not say, which nats-server
    /// always does).
    pub created: SystemTime,
    /// Put, delete or purge.
    pub operation: Operation,
}
