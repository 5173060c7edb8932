//! Stream configuration and state, as nats-server 2.15 spells them in JSON.
//!
//! Durations are `Duration` (nanoseconds on the wire), "unlimited" is `-1`, instants are
//! `SystemTime` (RFC 3339 on the wire); fields a newer server adds are ignored when read.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::json::{nanos, opt_nanos, opt_time};

/// How a stream keeps messages.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionPolicy {
    /// Until a limit (messages, bytes, age) is reached.
    #[default]
    Limits,
    /// While some consumer has not acknowledged them.
    Interest,
    /// Until one consumer acknowledges them (a work queue).
    #[serde(rename = "workqueue")]
    WorkQueue,
}

/// What a stream does at its limits.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscardPolicy {
    /// Removes the oldest messages.
    #[default]
    Old,
    /// Refuses new messages.
    New,
}

/// Where a stream keeps its messages.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// On disk.
    #[default]
    File,
    /// In memory.
    Memory,
}

/// Compression of a file-stored stream.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// No compression.
    #[default]
    None,
    /// S2 compression.
    S2,
}

/// How a replicated stream persists writes (nats-server 2.12+).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PersistMode {
    /// The server's default.
    #[default]
    Default,
    /// Acknowledge before the write is flushed.
    Async,
}

/// Where to place a stream in a cluster.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Placement {
    /// The cluster's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
    /// Tags the servers must have.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// A preferred server for the leader.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub preferred: String,
}

/// A subject transform: messages matching `src` get the subject `dest`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SubjectTransform {
    /// The subject pattern to match.
    pub src: String,
    /// The subject to map to.
    pub dest: String,
}

impl SubjectTransform {
    /// A transform from `src` to `dest`.
    pub fn new(src: impl Into<String>, dest: impl Into<String>) -> SubjectTransform {
        SubjectTransform {
            src: src.into(),
            dest: dest.into(),
        }
    }
}

/// Republishes stored messages to another subject.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Republish {
    /// Subjects to republish (empty: all).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub src: String,
    /// Where to republish.
    pub dest: String,
    /// Republish headers only (with `Nats-Msg-Size`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_only: bool,
}

/// A stream in another account or domain, for a mirror or source.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct External {
    /// The API prefix importing the other account's `$JS.API.CONSUMER.>`.
    pub api: String,
    /// The delivery prefix.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver: String,
}

/// A stream to mirror or source from.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamSource {
    /// The other stream's name.
    pub name: String,
    /// Start at this sequence.
    #[serde(skip_serializing_if = "is_zero")]
    pub opt_start_seq: u64,
    /// Start at this time.
    #[serde(with = "opt_time", skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<SystemTime>,
    /// Take only these subjects.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Filters with transforms.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subject_transforms: Vec<SubjectTransform>,
    /// The other stream is in another account or domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<External>,
}

impl StreamSource {
    /// A source (or mirror) of the stream `name`.
    pub fn new(name: impl Into<String>) -> StreamSource {
        StreamSource {
            name: name.into(),
            ..StreamSource::default()
        }
    }
}

/// Defaults and limits for the consumers of a stream.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerLimits {
    /// The longest inactive threshold a consumer may have (zero: none).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub inactive_threshold: Duration,
    /// The largest `max_ack_pending` a consumer may have (zero: none).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_ack_pending: i64,
}

/// The configuration of a stream: every field of nats-server 2.15.
///
/// Start from [`StreamConfig::new`]; set fields directly or with the chaining helpers.
/// `-1` means unlimited for the `max_*` counts and sizes, zero for [`max_age`](Self::max_age).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StreamConfig {
    /// The stream's name (no whitespace, `.`, `*`, `>`, path separators).
    pub name: String,
    /// A description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Subjects the stream captures (wildcards allowed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,
    /// How messages are kept.
    pub retention: RetentionPolicy,
    /// Most consumers (-1: unlimited).
    pub max_consumers: i64,
    /// Most messages (-1: unlimited).
    pub max_msgs: i64,
    /// Most bytes (-1: unlimited).
    pub max_bytes: i64,
    /// What happens at the limits.
    pub discard: DiscardPolicy,
    /// With `discard: new` and `max_msgs_per_subject`: refuse per subject.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub discard_new_per_subject: bool,
    /// Oldest message age (zero: unlimited).
    #[serde(with = "nanos")]
    pub max_age: Duration,
    /// Most messages per subject (-1: unlimited).
    pub max_msgs_per_subject: i64,
    /// Largest message (-1: unlimited).
    pub max_msg_size: i64,
    /// File or memory.
    pub storage: StorageType,
    /// Replicas in a cluster (1 to 5).
    pub num_replicas: usize,
    /// Do not ack publishes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_ack: bool,
    /// The window for `Nats-Msg-Id` deduplication (zero: the server's 2 minutes).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub duplicate_window: Duration,
    /// Placement in a cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The stream mirrors another.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<StreamSource>,
    /// The stream sources from others.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<StreamSource>,
    /// Sealed: no more writes or deletes (set only by an update).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
    /// Refuse message deletes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deny_delete: bool,
    /// Refuse purges.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub deny_purge: bool,
    /// Allow the `Nats-Rollup` header.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_rollup_hdrs: bool,
    /// Compression (file storage).
    pub compression: Compression,
    /// The first sequence of a new stream.
    #[serde(skip_serializing_if = "is_zero")]
    pub first_seq: u64,
    /// A transform applied to incoming subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_transform: Option<SubjectTransform>,
    /// Republish stored messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub republish: Option<Republish>,
    /// Allow direct get.
    pub allow_direct: bool,
    /// Allow direct get of the mirrored stream's messages.
    pub mirror_direct: bool,
    /// Consumer defaults and limits.
    #[serde(skip_serializing_if = "is_default_limits")]
    pub consumer_limits: ConsumerLimits,
    /// Application metadata.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub metadata: HashMap<String, String>,
    /// Allow per-message TTLs (`Nats-TTL`; nats-server 2.11+).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_msg_ttl: bool,
    /// Leave delete markers for this long when limits remove a subject's last message.
    #[serde(with = "opt_nanos", skip_serializing_if = "Option::is_none")]
    pub subject_delete_marker_ttl: Option<Duration>,
    /// Counter streams (nats-server 2.12+).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_msg_counter: bool,
    /// Atomic batch publishing (nats-server 2.12+).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_atomic: bool,
    /// Message schedules (nats-server 2.12+).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_msg_schedules: bool,
    /// Persistence mode (nats-server 2.12+).
    #[serde(skip_serializing_if = "is_default_persist")]
    pub persist_mode: PersistMode,
    /// Fast batch publishing (nats-server 2.14+).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_batched: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn is_default_limits(l: &ConsumerLimits) -> bool {
    *l == ConsumerLimits::default()
}

fn is_default_persist(p: &PersistMode) -> bool {
    *p == PersistMode::Default
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            name: String::new(),
            description: String::new(),
            subjects: Vec::new(),
            retention: RetentionPolicy::Limits,
            max_consumers: -1,
            max_msgs: -1,
            max_bytes: -1,
            discard: DiscardPolicy::Old,
            discard_new_per_subject: false,
            max_age: Duration::ZERO,
            max_msgs_per_subject: -1,
            max_msg_size: -1,
            storage: StorageType::File,
            num_replicas: 1,
            no_ack: false,
            duplicate_window: Duration::ZERO,
            placement: None,
            mirror: None,
            sources: Vec::new(),
            sealed: false,
            deny_delete: false,
            deny_purge: false,
            allow_rollup_hdrs: false,
            compression: Compression::None,
            first_seq: 0,
            subject_transform: None,
            republish: None,
            allow_direct: false,
            mirror_direct: false,
            consumer_limits: ConsumerLimits::default(),
            metadata: HashMap::new(),
            allow_msg_ttl: false,
            subject_delete_marker_ttl: None,
            allow_msg_counter: false,
            allow_atomic: false,
            allow_msg_schedules: false,
            persist_mode: PersistMode::Default,
            allow_batched: false,
        }
    }
}

impl StreamConfig {
    /// A stream named `name` with the server's defaults (limits retention, file storage,
    /// one replica, no limits). Without subjects it captures the subject `name`.
    pub fn new(name: impl Into<String>) -> StreamConfig {
        StreamConfig {
            name: name.into(),
            ..StreamConfig::default()
        }
    }

    /// Sets the subjects.
    pub fn subjects<I, S>(mut self, subjects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subjects = subjects.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the storage.
    pub fn storage(mut self, storage: StorageType) -> Self {
        self.storage = storage;
        self
    }

    /// Sets the retention policy.
    pub fn retention(mut self, retention: RetentionPolicy) -> Self {
        self.retention = retention;
        self
    }

    /// Sets the replicas.
    pub fn replicas(mut self, n: usize) -> Self {
        self.num_replicas = n;
        self
    }

    /// Sets the message limit.
    pub fn max_msgs(mut self, n: i64) -> Self {
        self.max_msgs = n;
        self
    }

    /// Sets the per-subject message limit.
    pub fn max_msgs_per_subject(mut self, n: i64) -> Self {
        self.max_msgs_per_subject = n;
        self
    }

    /// Sets the maximum age.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Sets the discard policy.
    pub fn discard(mut self, discard: DiscardPolicy) -> Self {
        self.discard = discard;
        self
    }

    /// Sets the deduplication window.
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// Allows direct get.
    pub fn allow_direct(mut self, on: bool) -> Self {
        self.allow_direct = on;
        self
    }

    /// Allows per-message TTLs.
    pub fn allow_msg_ttl(mut self, on: bool) -> Self {
        self.allow_msg_ttl = on;
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
}

/// A cluster peer of a stream or consumer.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PeerInfo {
    /// The server's name.
    pub name: String,
    /// Up to date with the leader.
    pub current: bool,
    /// Considered offline.
    pub offline: bool,
    /// Time since last seen.
    #[serde(with = "nanos")]
    pub active: Duration,
    /// Operations behind the leader.
    pub lag: u64,
}

/// Where a stream or consumer lives in a cluster.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClusterInfo {
    /// The cluster's name.
    pub name: Option<String>,
    /// The Raft group.
    pub raft_group: Option<String>,
    /// The leader's server name.
    pub leader: Option<String>,
    /// The other replicas.
    pub replicas: Vec<PeerInfo>,
}

/// The state of a mirror or source.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StreamSourceInfo {
    /// The other stream.
    pub name: String,
    /// Messages behind.
    pub lag: u64,
    /// Time since last activity.
    #[serde(with = "nanos")]
    pub active: Duration,
    /// Its filter.
    pub filter_subject: Option<String>,
}

/// What a stream holds.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StreamState {
    /// Messages stored.
    pub messages: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// The first sequence.
    pub first_seq: u64,
    /// When the first message was stored.
    #[serde(with = "opt_time", rename = "first_ts")]
    pub first_time: Option<SystemTime>,
    /// The last sequence.
    pub last_seq: u64,
    /// When the last message was stored.
    #[serde(with = "opt_time", rename = "last_ts")]
    pub last_time: Option<SystemTime>,
    /// Consumers.
    pub consumer_count: usize,
    /// Deleted sequences (with [`InfoOptions::deleted_details`](super::InfoOptions::deleted_details)).
    pub deleted: Vec<u64>,
    /// How many sequences in the middle were deleted.
    pub num_deleted: u64,
    /// Distinct subjects.
    pub num_subjects: u64,
    /// Messages per subject (with [`InfoOptions::subjects_filter`](super::InfoOptions::subjects_filter));
    /// all pages together.
    pub subjects: HashMap<String, u64>,
}

/// A stream's configuration and state.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct StreamInfo {
    /// The configuration (as the server completed it).
    pub config: StreamConfig,
    /// When the stream was created.
    #[serde(with = "opt_time")]
    pub created: Option<SystemTime>,
    /// What it holds.
    pub state: StreamState,
    /// Where it lives in a cluster.
    pub cluster: Option<ClusterInfo>,
    /// Its mirror's state.
    pub mirror: Option<StreamSourceInfo>,
    /// Its sources' states.
    pub sources: Vec<StreamSourceInfo>,
    /// When the server gathered this.
    #[serde(with = "opt_time", rename = "ts")]
    pub timestamp: Option<SystemTime>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_on_the_wire() {
        let c = StreamConfig::new("S").subjects(["a.>"]);
        let v: serde_json::Value = serde_json::to_value(&c).unwrap();
        assert_eq!(v["name"], "S");
        assert_eq!(v["subjects"][0], "a.>");
        assert_eq!(v["retention"], "limits");
        assert_eq!(v["storage"], "file");
        assert_eq!(v["discard"], "old");
        assert_eq!(v["max_msgs"], -1);
        assert_eq!(v["max_bytes"], -1);
        assert_eq!(v["max_age"], 0);
        assert_eq!(v["num_replicas"], 1);
        assert!(v.get("duplicate_window").is_none());
        assert!(v.get("mirror").is_none());
        assert!(v.get("subject_delete_marker_ttl").is_none());
    }

    #[test]
    fn config_round_trip_and_enums() {
        let mut c = StreamConfig::new("S")
            .retention(RetentionPolicy::WorkQueue)
            .storage(StorageType::Memory)
            .discard(DiscardPolicy::New)
            .max_age(Duration::from_secs(90))
            .duplicate_window(Duration::from_millis(1500));
        c.allow_rollup_hdrs = true;
        c.subject_delete_marker_ttl = Some(Duration::from_secs(1));
        c.compression = Compression::S2;
        c.mirror = Some(StreamSource::new("O"));
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""retention":"workqueue""#), "{json}");
        assert!(json.contains(r#""max_age":90000000000"#), "{json}");
        assert!(json.contains(r#""duplicate_window":1500000000"#), "{json}");
        assert!(json.contains(r#""allow_rollup_hdrs":true"#), "{json}");
        assert!(json.contains(r#""compression":"s2""#), "{json}");
        let back: StreamConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn info_from_server_json() {
        let json = r#"{"type":"io.nats.jetstream.api.v1.stream_create_response",
          "config":{"name":"S","subjects":["s.>"],"retention":"interest","max_consumers":-1,
            "max_msgs":-1,"max_bytes":-1,"max_age":0,"max_msgs_per_subject":-1,"max_msg_size":-1,
            "discard":"old","storage":"memory","num_replicas":1,"duplicate_window":120000000000,
            "compression":"none","allow_direct":false,"mirror_direct":false,"sealed":false,
            "deny_delete":false,"deny_purge":false,"allow_rollup_hdrs":false,
            "consumer_limits":{},"some_future_field":{"x":1}},
          "created":"2026-12-01T14:35:28.123456789Z",
          "state":{"messages":3,"bytes":120,"first_seq":1,"first_ts":"2026-12-01T14:35:28.2Z",
            "last_seq":3,"last_ts":"0001-01-01T00:00:00Z","consumer_count":0,"num_subjects":2,
            "subjects":{"s.a":2,"s.b":1}},
          "cluster":{"leader":"n1"},"ts":"2026-12-01T14:35:29Z"}"#;
        let i: StreamInfo = serde_json::from_str(json).unwrap();
        assert_eq!(i.config.retention, RetentionPolicy::Interest);
        assert_eq!(i.config.storage, StorageType::Memory);
        assert_eq!(i.config.duplicate_window, Duration::from_secs(120));
        assert_eq!(i.state.messages, 3);
        assert_eq!(i.state.subjects["s.a"], 2);
        assert!(i.state.first_time.is_some());
        assert!(i.state.last_time.is_none());
        assert_eq!(i.cluster.unwrap().leader.as_deref(), Some("n1"));
        assert!(i.created.is_some());
    }
}
