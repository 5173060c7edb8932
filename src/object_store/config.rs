//! An object store's configuration, its stream (JETSTREAM.md §3, `go:jetstream/object.go`
//! prepareObjectStoreConfig), and its status.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::Result;
use crate::jetstream::{
    Compression, DiscardPolicy, Placement, StorageType, StreamConfig, StreamInfo,
};

/// The stream name of bucket `bucket`.
pub(crate) fn stream_name(bucket: &str) -> String {
    format!("OBJ_{bucket}")
}

/// The configuration of an object store ([`JetStream::create_object_store`](crate::jetstream::JetStream::create_object_store)).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bucket's name: `A-Z a-z 0-9 _ -`.
    pub bucket: String,
    /// A description.
    pub description: String,
    /// How long objects live (zero: forever).
    pub ttl: Duration,
    /// Most bytes the bucket holds (`None`: no limit).
    pub max_bytes: Option<i64>,
    /// File (default) or memory.
    pub storage: StorageType,
    /// Replicas in a cluster.
    pub replicas: usize,
    /// Placement in a cluster.
    pub placement: Option<Placement>,
    /// S2-compress stored chunks.
    pub compression: bool,
    /// Application metadata.
    pub metadata: HashMap<String, String>,
}

impl Config {
    /// A bucket named `bucket`: no TTL, no limit, file storage, one replica.
    pub fn new(bucket: impl Into<String>) -> Config {
        Config {
            bucket: bucket.into(),
            description: String::new(),
            ttl: Duration::ZERO,
            max_bytes: None,
            storage: StorageType::File,
            replicas: 1,
            placement: None,
            compression: false,
            metadata: HashMap::new(),
        }
    }

    /// File or memory storage.
    pub fn storage(mut self, storage: StorageType) -> Self {
        self.storage = storage;
        self
    }

    /// How long objects live.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Most bytes the bucket holds.
    pub fn max_bytes(mut self, n: i64) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// S2 compression on or off.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    pub(crate) fn to_stream(&self) -> Result<StreamConfig> {
        crate::bucket_name::validate(&self.bucket)?;
        let b = &self.bucket;
        let mut c = StreamConfig::new(stream_name(b));
        c.description = self.description.clone();
        c.subjects = vec![format!("$O.{b}.C.>"), format!("$O.{b}.M.>")];
        c.max_age = self.ttl;
        c.max_bytes = self.max_bytes.unwrap_or(-1);
        c.storage = self.storage;
        c.num_replicas = self.replicas.max(1);
        c.placement = self.placement.clone();
        c.discard = DiscardPolicy::New;
        c.allow_rollup_hdrs = true;
        c.allow_direct = true;
        c.compression = if self.compression {
            Compression::S2
        } else {
            Compression::None
        };
        c.metadata = self.metadata.clone();
        Ok(c)
    }
}

/// The state of an object store ([`ObjectStore::status`](super::ObjectStore::status)).
#[derive(Debug, Clone)]
pub struct Status {
    pub(crate) bucket: String,
    pub(crate) info: StreamInfo,
}

impl Status {
    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The description.
    pub fn description(&self) -> &str {
        &self.info.config.description
    }

    /// How long objects live (zero: forever).
    pub fn ttl(&self) -> Duration {
        self.info.config.max_age
    }

    /// File or memory.
    pub fn storage(&self) -> StorageType {
        self.info.config.storage
    }

    /// Replicas.
    pub fn replicas(&self) -> usize {
        self.info.config.num_replicas
    }

    /// Whether the bucket is sealed (read only).
    pub fn sealed(&self) -> bool {
        self.info.config.sealed
    }

    /// Bytes stored (chunks and metadata).
    pub fn size(&self) -> u64 {
        self.info.state.bytes
    }

    /// `"JetStream"`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
    }

    /// Whether chunks are S2-compressed.
    pub fn is_compressed(&self) -> bool {
        self.info.config.compression == Compression::S2
    }

    /// The application metadata.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.info.config.metadata
    }

    /// The backing stream's info.
    pub fn stream_info(&self) -> &StreamInfo {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_mapping() {
        let c = Config::new("files")
            .ttl(Duration::from_secs(10))
            .compression(true);
        let v = serde_json::to_value(c.to_stream().unwrap()).unwrap();
        assert_eq!(v["name"], "OBJ_files");
        assert_eq!(
            v["subjects"],
            serde_json::json!(["$O.files.C.>", "$O.files.M.>"])
        );
        assert_eq!(v["discard"], "new");
        assert_eq!(v["allow_rollup_hdrs"], true);
        assert_eq!(v["allow_direct"], true);
        assert_eq!(v["max_age"], 10_000_000_000i64);
        assert_eq!(v["max_bytes"], -1);
        assert_eq!(v["compression"], "s2");
        assert_eq!(
            Config::new("a.b").to_stream().unwrap_err().kind(),
            crate::ErrorKind::InvalidName
        );
    }
}
