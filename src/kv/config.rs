//! A bucket's configuration, its mapping onto a stream (JETSTREAM.md §2, `go:jetstream/kv.go`
//! prepareKeyValueConfig), and its status.

use std::collections::HashMap;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::{
    Compression, DiscardPolicy, Placement, Republish, StorageType, StreamConfig, StreamInfo,
};

/// The most history a bucket may keep per key (ADR-8).
pub const MAX_HISTORY: u8 = 64;

/// The stream name of bucket `bucket`.
pub(crate) fn stream_name(bucket: &str) -> String {
    format!("KV_{bucket}")
}

/// The configuration of a Key-Value bucket ([`JetStream::create_key_value`](crate::jetstream::JetStream::create_key_value)).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The bucket's name: `A-Z a-z 0-9 _ -`.
    pub bucket: String,
    /// A description.
    pub description: String,
    /// Largest value in bytes (`None`: no limit).
    pub max_value_size: Option<i32>,
    /// Values kept per key, 1 to 64 (default 1).
    pub history: u8,
    /// How long a value lives (zero: forever).
    pub ttl: Duration,
    /// Most bytes the bucket holds (`None`: no limit).
    pub max_bytes: Option<i64>,
    /// File (default) or memory.
    pub storage: StorageType,
    /// Replicas in a cluster.
    pub replicas: usize,
    /// Placement in a cluster.
    pub placement: Option<Placement>,
    /// Republish stored values.
    pub republish: Option<Republish>,
    /// S2-compress stored values.
    pub compression: bool,
    /// Application metadata.
    pub metadata: HashMap<String, String>,
    /// When set (at least 1 s), the server leaves a marker for this long when a key's last
    /// value is removed by the bucket's TTL or by a purge with a TTL (ADR-48), and per-key
    /// TTLs are allowed ([`KeyValue::create_with_ttl`](super::KeyValue::create_with_ttl),
    /// [`PurgeOptions::ttl`](super::PurgeOptions::ttl)). Needs nats-server 2.11 or later.
    pub limit_marker_ttl: Option<Duration>,
}

impl Config {
    /// A bucket named `bucket`: history 1, no TTL, no limits, file storage, one replica.
    pub fn new(bucket: impl Into<String>) -> Config {
        Config {
            bucket: bucket.into(),
            description: String::new(),
            max_value_size: None,
            history: 1,
            ttl: Duration::ZERO,
            max_bytes: None,
            storage: StorageType::File,
            replicas: 1,
            placement: None,
            republish: None,
            compression: false,
            metadata: HashMap::new(),
            limit_marker_ttl: None,
        }
    }

    /// Values kept per key (1 to 64).
    pub fn history(mut self, n: u8) -> Self {
        self.history = n;
        self
    }

    /// How long a value lives.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// File or memory storage.
    pub fn storage(mut self, storage: StorageType) -> Self {
        self.storage = storage;
        self
    }

    /// Largest value in bytes.
    pub fn max_value_size(mut self, n: i32) -> Self {
        self.max_value_size = Some(n);
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

    /// Limit markers and per-key TTLs (see [`Config::limit_marker_ttl`]).
    pub fn limit_marker_ttl(mut self, ttl: Duration) -> Self {
        self.limit_marker_ttl = Some(ttl);
        self
    }

    /// The stream configuration of this bucket, checked.
    pub(crate) fn to_stream(&self) -> Result<StreamConfig> {
        super::validate::bucket(&self.bucket)?;
        if self.history > MAX_HISTORY {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!(
                    "history {} is above the maximum of {MAX_HISTORY}",
                    self.history
                ),
            ));
        }
        if let Some(m) = self.limit_marker_ttl {
            if m < Duration::from_secs(1) {
                return Err(Error::new(
                    ErrorKind::InvalidOption,
                    "limit_marker_ttl must be at least 1 s",
                ));
            }
        }
        let two_min = Duration::from_secs(120);
        let mut c = StreamConfig::new(stream_name(&self.bucket));
        c.description = self.description.clone();
        c.subjects = vec![format!("$KV.{}.>", self.bucket)];
        c.max_msgs_per_subject = i64::from(self.history.max(1));
        c.max_bytes = self.max_bytes.unwrap_or(-1);
        c.max_age = self.ttl;
        c.max_msg_size = self.max_value_size.map(i64::from).unwrap_or(-1);
        c.max_msgs = -1;
        c.max_consumers = -1;
        c.storage = self.storage;
        c.num_replicas = self.replicas.max(1);
        c.allow_rollup_hdrs = true;
        c.deny_delete = true;
        c.allow_direct = true;
        c.discard = DiscardPolicy::New;
        c.duplicate_window = if self.ttl.is_zero() {
            two_min
        } else {
            self.ttl.min(two_min)
        };
        c.placement = self.placement.clone();
        c.republish = self.republish.clone();
        c.compression = if self.compression {
            Compression::S2
        } else {
            Compression::None
        };
        c.metadata = self.metadata.clone();
        if let Some(m) = self.limit_marker_ttl {
            c.allow_msg_ttl = true;
            c.subject_delete_marker_ttl = Some(m);
        }
        Ok(c)
    }
}

/// The state of a bucket ([`KeyValue::status`](super::KeyValue::status)).
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

    /// Values stored, history and delete markers included (the stream's message count).
    pub fn values(&self) -> u64 {
        self.info.state.messages
    }

    /// Values kept per key.
    pub fn history(&self) -> i64 {
        self.info.config.max_msgs_per_subject
    }

    /// How long a value lives (zero: forever).
    pub fn ttl(&self) -> Duration {
        self.info.config.max_age
    }

    /// Bytes stored.
    pub fn bytes(&self) -> u64 {
        self.info.state.bytes
    }

    /// `"JetStream"`.
    pub fn backing_store(&self) -> &'static str {
        "JetStream"
    }

    /// Whether values are S2-compressed.
    pub fn is_compressed(&self) -> bool {
        self.info.config.compression == Compression::S2
    }

    /// How long limit markers stay (`None`: no markers).
    pub fn limit_marker_ttl(&self) -> Option<Duration> {
        self.info.config.subject_delete_marker_ttl
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
        let c = Config::new("cfg").history(5).ttl(Duration::from_secs(60));
        let v = serde_json::to_value(c.to_stream().unwrap()).unwrap();
        assert_eq!(v["name"], "KV_cfg");
        assert_eq!(v["subjects"][0], "$KV.cfg.>");
        assert_eq!(v["max_msgs_per_subject"], 5);
        assert_eq!(v["discard"], "new");
        assert_eq!(v["allow_rollup_hdrs"], true);
        assert!(v.get("rollup_hdrs").is_none());
        assert_eq!(v["deny_delete"], true);
        assert_eq!(v["allow_direct"], true);
        assert_eq!(v["max_age"], 60_000_000_000i64);
        assert_eq!(v["duplicate_window"], 60_000_000_000i64);
        assert_eq!(v["max_bytes"], -1);
        assert_eq!(v["max_msg_size"], -1);
        assert_eq!(v["max_msgs"], -1);
        assert_eq!(v["max_consumers"], -1);
        assert_eq!(v["num_replicas"], 1);
        assert_eq!(v["compression"], "none");
        assert!(v.get("allow_msg_ttl").is_none());
        let d = Config::new("x")
            .compression(true)
            .limit_marker_ttl(Duration::from_secs(2));
        let v = serde_json::to_value(d.to_stream().unwrap()).unwrap();
        assert_eq!(v["duplicate_window"], 120_000_000_000i64);
        assert_eq!(v["max_msgs_per_subject"], 1);
        assert_eq!(v["compression"], "s2");
        assert_eq!(v["allow_msg_ttl"], true);
        assert_eq!(v["subject_delete_marker_ttl"], 2_000_000_000i64);
    }

    #[test]
    fn bad_configs() {
        let k = |c: Config| c.to_stream().unwrap_err().kind();
        assert_eq!(k(Config::new("a.b")), ErrorKind::InvalidName);
        assert_eq!(k(Config::new("a").history(65)), ErrorKind::InvalidOption);
        assert_eq!(
            k(Config::new("a").limit_marker_ttl(Duration::from_millis(500))),
            ErrorKind::InvalidOption
        );
    }
}
