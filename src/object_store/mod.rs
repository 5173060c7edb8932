//! Object Store buckets on JetStream (cargo feature `object_store`, on by default; ADR-20).
//!
//! An object is written from any [`std::io::Read`] in chunks and read back as one: it is
//! never held whole in memory. A bucket is a stream (`OBJ_<bucket>`): chunks go to
//! `$O.<bucket>.C.<nuid>`, the object's info (JSON) to `$O.<bucket>.M.<name in base64url
//! with padding>`. Chunk publishes are pipelined through the JetStream context's
//! [`publish_async`](crate::jetstream::JetStream::publish_async) window, not one round trip
//! each; a reader checks size and SHA-256 at the end ([`ErrorKind::DigestMismatch`]).
//!
//! ```no_run
//! use std::io::Read;
//! use natsws::object_store::{Config, ObjectMeta};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let nc = natsws::connect("nats://127.0.0.1:4222")?;
//! let js = nc.jetstream();
//! let store = js.create_object_store(Config::new("firmware"))?;
//!
//! let mut file = std::fs::File::open("image.bin")?;
//! let info = store.put(ObjectMeta::new("image-1.2.bin"), &mut file)?;
//! println!("{} bytes in {} chunks, {}", info.size, info.chunks, info.digest.unwrap());
//!
//! let mut reader = store.get("image-1.2.bin")?; // a Read; digest checked at the end
//! let mut out = Vec::new();
//! reader.read_to_end(&mut out)?; // an error of kind InvalidData on a digest mismatch
//! # Ok(()) }
//! ```
//!
//! Bucket management hangs off the JetStream context, as in nats.go:
//! [`create_object_store`](crate::jetstream::JetStream::create_object_store),
//! [`object_store`](crate::jetstream::JetStream::object_store),
//! [`delete_object_store`](crate::jetstream::JetStream::delete_object_store),
//! [`object_store_names`](crate::jetstream::JetStream::object_store_names),
//! [`object_stores`](crate::jetstream::JetStream::object_stores).
//!
//! [`ErrorKind::DigestMismatch`]: crate::ErrorKind::DigestMismatch

mod bucket;
mod config;
mod get;
mod info;
mod manage;
mod put;
mod watch;

use crate::jetstream::{JetStream, Stream};

pub use config::{Config, Status};
pub use get::ObjectReader;
pub use info::{ObjectInfo, ObjectLink, ObjectMeta, DEFAULT_CHUNK_SIZE};
pub use watch::{ObjectWatchEvent, ObjectWatcher, Objects, WatchOptions};

/// An object store bucket: cheap to clone, holds its JetStream context.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    js: JetStream,
    stream: Stream,
    bucket: String,
}

impl ObjectStore {
    fn bind(js: &JetStream, bucket: &str, stream: Stream) -> ObjectStore {
        ObjectStore {
            js: js.clone(),
            stream,
            bucket: bucket.to_string(),
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn chunk_subject(&self, nuid: &str) -> String {
        format!("$O.{}.C.{nuid}", self.bucket)
    }

    fn meta_subject(&self, name: &str) -> String {
        format!("$O.{}.M.{}", self.bucket, info::encode_name(name))
    }
}
