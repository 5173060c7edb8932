//! Key-Value buckets on JetStream (cargo feature `kv`, on by default; ADR-8, ADR-48).
//!
//! A bucket is a stream (`KV_<bucket>`, subjects `$KV.<bucket>.>`); a key's revisions are
//! stream sequences. Hang everything off the JetStream context, as nats.go does:
//! [`JetStream::create_key_value`](crate::jetstream::JetStream::create_key_value),
//! [`key_value`](crate::jetstream::JetStream::key_value),
//! [`delete_key_value`](crate::jetstream::JetStream::delete_key_value),
//! [`key_value_store_names`](crate::jetstream::JetStream::key_value_store_names),
//! [`key_value_stores`](crate::jetstream::JetStream::key_value_stores).
//!
//! ```no_run
//! use natsws::kv::{Config, WatchEvent};
//! # fn main() -> natsws::Result<()> {
//! let nc = natsws::connect("nats://127.0.0.1:4222")?;
//! let js = nc.jetstream();
//! let kv = js.create_key_value(Config::new("settings").history(5))?;
//!
//! let rev = kv.put("device.mode", "eco")?;
//! assert_eq!(&kv.get("device.mode")?.value[..], b"eco");
//! kv.update("device.mode", "boost", rev)?; // only if nobody changed it meanwhile
//!
//! // Current values, a marker, then every change as it happens.
//! for event in kv.watch("device.>")? {
//!     match event? {
//!         WatchEvent::Entry(e) => println!("{} = {:?} ({:?})", e.key, e.value, e.operation),
//!         WatchEvent::InitialDone => break,
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Every call blocks with the context's timeout as its deadline. Keys are
//! `A-Z a-z 0-9 - / _ = .` without a leading or trailing `.` or an empty token; watch and
//! keys filters may also have `*` tokens and a final `>`. A bad key or bucket name is
//! refused ([`ErrorKind::InvalidKey`](crate::ErrorKind::InvalidKey),
//! [`InvalidName`](crate::ErrorKind::InvalidName)) before anything is sent.
//!
//! Errors callers branch on: [`KeyNotFound`](crate::ErrorKind::KeyNotFound),
//! [`KeyExists`](crate::ErrorKind::KeyExists) (create),
//! [`WrongLastSequence`](crate::ErrorKind::WrongLastSequence) (update or a delete at a
//! revision that is not the latest), [`BucketNotFound`](crate::ErrorKind::BucketNotFound),
//! [`BucketExists`](crate::ErrorKind::BucketExists).

mod bucket;
mod config;
mod entry;
mod store;
pub(crate) mod validate;
mod watch;

use crate::jetstream::{JetStream, Stream};

pub use config::{Config, Status, MAX_HISTORY};
pub use entry::{Entry, Operation};
pub use store::{DeleteOptions, PurgeOptions};
pub use watch::{Keys, WatchEvent, WatchOptions, Watcher};

/// A Key-Value bucket: cheap to clone, holds its JetStream context.
#[derive(Debug, Clone)]
pub struct KeyValue {
    js: JetStream,
    stream: Stream,
    bucket: String,
    stream_name: String,
    /// `$KV.<bucket>.`
    prefix: String,
    /// Where puts go: the prefix, behind the API prefix when that is not the default (as
    /// nats.go does, for domains and for JetStream imported from another account).
    put_prefix: String,
    /// Reads by direct get (the bucket allows it) rather than through the stream's leader.
    direct: bool,
}

impl KeyValue {
    fn bind(js: &JetStream, bucket: &str, stream: Stream) -> KeyValue {
        let prefix = format!("$KV.{bucket}.");
        let put_prefix = put_prefix(js.api_prefix(), &prefix);
        KeyValue {
            js: js.clone(),
            direct: stream.cached_info().config.allow_direct,
            stream_name: stream.name().to_string(),
            stream,
            bucket: bucket.to_string(),
            prefix,
            put_prefix,
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The subject of `key`.
    fn subject(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

/// Puts go to the plain `$KV.` subject with the default API prefix, and behind the API
/// prefix otherwise — a domain's too — as nats.go does: across a leafnode, `$JS.<domain>.API.`
/// is what reaches the domain's servers, which map it back (the sync crate broke here,
/// nats-io/nats.rs#387).
fn put_prefix(api_prefix: &str, prefix: &str) -> String {
    if api_prefix == "$JS.API." {
        prefix.to_string()
    } else {
        format!("{api_prefix}{prefix}")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn put_prefixes() {
        assert_eq!(super::put_prefix("$JS.API.", "$KV.b."), "$KV.b.");
        assert_eq!(
            super::put_prefix("$JS.hub.API.", "$KV.b."),
            "$JS.hub.API.$KV.b."
        );
        assert_eq!(super::put_prefix("imported.", "$KV.b."), "imported.$KV.b.");
    }
}
