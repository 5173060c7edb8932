//! Consumer configuration and state, and the [`Consumer`] handle.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::json::{nanos, opt_time, vec_nanos};
use super::stream::ClusterInfo;
use super::JetStream;
use crate::error::Result;

/// Where a new consumer starts in its stream.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliverPolicy {
    /// From the first message.
    #[default]
    All,
    /// From the last message.
    Last,
    /// Only messages stored from now on.
    New,
    /// From [`ConsumerConfig::opt_start_seq`].
    ByStartSequence,
    /// From [`ConsumerConfig::opt_start_time`].
    ByStartTime,
    /// The last message of each subject.
    LastPerSubject,
}

/// How a consumer wants acknowledgements.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckPolicy {
    /// No acks: delivered means done.
    None,
    /// An ack acknowledges every earlier message too.
    All,
    /// Each message is acknowledged on its own.
    #[default]
    Explicit,
}

/// How fast a consumer replays stored messages.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayPolicy {
    /// As fast as possible.
    #[default]
    Instant,
    /// At the pace they were stored.
    Original,
}

/// How pull requests of a priority group are served (nats-server 2.11+).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriorityPolicy {
    /// No priority groups.
    #[default]
    None,
    /// Overflow: serve a client only above a pending threshold.
    Overflow,
    /// One pinned client at a time.
    PinnedClient,
    /// By request priority.
    Prioritized,
}

/// The configuration of a consumer: every field of nats-server 2.15.
///
/// Start from [`ConsumerConfig::durable`] or [`ConsumerConfig::ephemeral`]; a pull consumer
/// has no [`deliver_subject`](Self::deliver_subject). Zero or empty fields are left to the
/// server's defaults (ack wait 30 s, max ack pending 1000, max waiting 512…).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ConsumerConfig {
    /// The consumer's name (empty for an ephemeral consumer: natsws names it).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The durable name (legacy; prefer [`name`](Self::name) with no inactive threshold).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub durable_name: String,
    /// A description.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Where it starts.
    pub deliver_policy: DeliverPolicy,
    /// The start sequence for [`DeliverPolicy::ByStartSequence`].
    #[serde(skip_serializing_if = "is_zero")]
    pub opt_start_seq: u64,
    /// The start time for [`DeliverPolicy::ByStartTime`].
    #[serde(with = "opt_time", skip_serializing_if = "Option::is_none")]
    pub opt_start_time: Option<SystemTime>,
    /// How it wants acks.
    pub ack_policy: AckPolicy,
    /// How long before an unacknowledged message is redelivered (zero: 30 s).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub ack_wait: Duration,
    /// Most deliveries of one message (-1 or 0: unlimited).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_deliver: i64,
    /// Redelivery delays, one per attempt.
    #[serde(with = "vec_nanos", skip_serializing_if = "Vec::is_empty")]
    pub backoff: Vec<Duration>,
    /// Only messages on this subject.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub filter_subject: String,
    /// Only messages on these subjects.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filter_subjects: Vec<String>,
    /// Replay speed.
    pub replay_policy: ReplayPolicy,
    /// Delivery rate limit in bits per second (push).
    #[serde(skip_serializing_if = "is_zero")]
    pub rate_limit_bps: u64,
    /// Percentage of acks to sample for observability (e.g. `"100%"`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sample_freq: String,
    /// Most pull requests waiting at once (pull; zero: 512).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_waiting: i64,
    /// Most messages delivered and not yet acknowledged (zero: 1000; -1: unlimited).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_ack_pending: i64,
    /// Deliver headers only (with `Nats-Msg-Size`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub headers_only: bool,
    /// Largest batch a pull may ask for (pull).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_batch: i64,
    /// Longest expiry a pull may ask for (pull).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub max_expires: Duration,
    /// Largest `max_bytes` a pull may ask for (pull).
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub max_bytes: i64,
    /// Delete the consumer after this long without activity (ephemerals: 5 s by default).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub inactive_threshold: Duration,
    /// Replicas (zero: the stream's).
    #[serde(skip_serializing_if = "is_zero_usize")]
    pub num_replicas: usize,
    /// Keep the consumer's state in memory.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mem_storage: bool,
    /// Application metadata.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub metadata: HashMap<String, String>,
    /// Paused until this time.
    #[serde(with = "opt_time", skip_serializing_if = "Option::is_none")]
    pub pause_until: Option<SystemTime>,
    /// Priority policy (pull).
    #[serde(skip_serializing_if = "is_no_priority")]
    pub priority_policy: PriorityPolicy,
    /// Priority groups (pull).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub priority_groups: Vec<String>,
    /// How long a pinned client stays pinned without pulling.
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub priority_timeout: Duration,
    /// Push consumers: where messages are delivered.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_subject: String,
    /// Push consumers: the queue group receiving them.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deliver_group: String,
    /// Push consumers: flow control.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flow_control: bool,
    /// Idle heartbeats (push).
    #[serde(with = "nanos", skip_serializing_if = "Duration::is_zero")]
    pub idle_heartbeat: Duration,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn is_zero_usize(n: &usize) -> bool {
    *n == 0
}

fn is_no_priority(p: &PriorityPolicy) -> bool {
    *p == PriorityPolicy::None
}

impl ConsumerConfig {
    /// A durable consumer named `name` (explicit acks, from the first message).
    pub fn durable(name: impl Into<String>) -> ConsumerConfig {
        let name = name.into();
        ConsumerConfig {
            name: name.clone(),
            durable_name: name,
            ..ConsumerConfig::default()
        }
    }

    /// An ephemeral consumer: the server deletes it after its inactive threshold (5 s by
    /// default) without pulls.
    pub fn ephemeral() -> ConsumerConfig {
        ConsumerConfig::default()
    }

    /// Sets the ack policy.
    pub fn ack_policy(mut self, policy: AckPolicy) -> Self {
        self.ack_policy = policy;
        self
    }

    /// Sets the deliver policy.
    pub fn deliver_policy(mut self, policy: DeliverPolicy) -> Self {
        self.deliver_policy = policy;
        self
    }

    /// Sets the filter subject.
    pub fn filter_subject(mut self, subject: impl Into<String>) -> Self {
        self.filter_subject = subject.into();
        self
    }

    /// Sets the ack wait.
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// Sets the most unacknowledged messages.
    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.max_ack_pending = n;
        self
    }

    /// Sets the most deliveries per message.
    pub fn max_deliver(mut self, n: i64) -> Self {
        self.max_deliver = n;
        self
    }

    /// Sets the inactive threshold.
    pub fn inactive_threshold(mut self, d: Duration) -> Self {
        self.inactive_threshold = d;
        self
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// The name the consumer is addressed by: `name`, else `durable_name`.
    pub(crate) fn effective_name(&self) -> &str {
        if self.name.is_empty() {
            &self.durable_name
        } else {
            &self.name
        }
    }
}

/// Delivered or acknowledged sequences of a consumer.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SequenceInfo {
    /// The consumer sequence.
    pub consumer_seq: u64,
    /// The stream sequence.
    pub stream_seq: u64,
    /// When it last moved.
    #[serde(with = "opt_time")]
    pub last_active: Option<SystemTime>,
}

/// A consumer's configuration and state.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ConsumerInfo {
    /// The stream.
    pub stream_name: String,
    /// The consumer's name.
    pub name: String,
    /// When it was created.
    #[serde(with = "opt_time")]
    pub created: Option<SystemTime>,
    /// Its configuration (as the server completed it).
    pub config: ConsumerConfig,
    /// The last delivered sequences.
    pub delivered: SequenceInfo,
    /// The acknowledged floor.
    pub ack_floor: SequenceInfo,
    /// Delivered and not yet acknowledged.
    pub num_ack_pending: u64,
    /// Redelivered messages.
    pub num_redelivered: u64,
    /// Pull requests waiting.
    pub num_waiting: u64,
    /// Messages not yet delivered.
    pub num_pending: u64,
    /// Where it lives in a cluster.
    pub cluster: Option<ClusterInfo>,
    /// A push consumer has a subscriber on its deliver subject.
    pub push_bound: bool,
    /// Paused.
    pub paused: bool,
    /// When the server gathered this.
    #[serde(with = "opt_time", rename = "ts")]
    pub timestamp: Option<SystemTime>,
}

/// A consumer of a stream: its info, and for pull consumers fetch and next.
///
/// Cheap to clone. Holds the [`JetStream`] context (and so its connection).
#[derive(Debug, Clone)]
pub struct Consumer {
    pub(crate) js: JetStream,
    pub(crate) stream: String,
    pub(crate) name: String,
    pub(crate) info: ConsumerInfo,
}

impl Consumer {
    pub(crate) fn new(js: JetStream, info: ConsumerInfo) -> Consumer {
        Consumer {
            js,
            stream: info.stream_name.clone(),
            name: info.name.clone(),
            info,
        }
    }

    /// The consumer's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// The info as of the last [`info`](Consumer::info) (or creation), without a request.
    pub fn cached_info(&self) -> &ConsumerInfo {
        &self.info
    }

    /// Fetches the consumer's info from the server (and caches it).
    pub fn info(&mut self) -> Result<ConsumerInfo> {
        let info: ConsumerInfo = self
            .js
            .api(&format!("CONSUMER.INFO.{}.{}", self.stream, self.name), b"")?;
        self.info = info.clone();
        Ok(info)
    }

    /// The context this consumer uses.
    pub fn jetstream(&self) -> &JetStream {
        &self.js
    }

    /// Pauses the consumer until `until` ([`JetStream::pause_consumer`]).
    pub fn pause(&self, until: SystemTime) -> Result<super::ConsumerPause> {
        self.js.pause_consumer(&self.stream, &self.name, until)
    }

    /// Resumes the consumer ([`JetStream::resume_consumer`]).
    pub fn resume(&self) -> Result<super::ConsumerPause> {
        self.js.resume_consumer(&self.stream, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_on_the_wire() {
        let c = ConsumerConfig::durable("C")
            .ack_wait(Duration::from_secs(2))
            .deliver_policy(DeliverPolicy::ByStartSequence)
            .filter_subject("a.b");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["name"], "C");
        assert_eq!(v["durable_name"], "C");
        assert_eq!(v["ack_wait"], 2_000_000_000i64);
        assert_eq!(v["deliver_policy"], "by_start_sequence");
        assert_eq!(v["ack_policy"], "explicit");
        assert_eq!(v["replay_policy"], "instant");
        assert_eq!(v["filter_subject"], "a.b");
        assert!(v.get("max_deliver").is_none());
        assert!(v.get("idle_heartbeat").is_none());
        assert!(v.get("priority_policy").is_none());
        let mut c = ConsumerConfig::ephemeral().ack_policy(AckPolicy::None);
        c.backoff = vec![Duration::from_secs(1), Duration::from_millis(2500)];
        c.priority_policy = PriorityPolicy::PinnedClient;
        let v = serde_json::to_value(&c).unwrap();
        assert!(v.get("name").is_none());
        assert_eq!(v["ack_policy"], "none");
        assert_eq!(v["backoff"][1], 2_500_000_000i64);
        assert_eq!(v["priority_policy"], "pinned_client");
        let back: ConsumerConfig = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn info_from_server_json() {
        let json = r#"{"type":"io.nats.jetstream.api.v1.consumer_create_response",
          "stream_name":"S","name":"C","created":"2026-12-01T14:35:28.1Z",
          "config":{"durable_name":"C","name":"C","deliver_policy":"last_per_subject",
            "ack_policy":"all","ack_wait":30000000000,"max_deliver":-1,"replay_policy":"original",
            "max_waiting":512,"max_ack_pending":1000,"num_replicas":0,"backoff":null,"new":1},
          "delivered":{"consumer_seq":5,"stream_seq":7,"last_active":"2026-12-01T14:35:29Z"},
          "ack_floor":{"consumer_seq":4,"stream_seq":6},
          "num_ack_pending":1,"num_redelivered":0,"num_waiting":2,"num_pending":10,
          "ts":"2026-12-01T14:35:30Z"}"#;
        let i: ConsumerInfo = serde_json::from_str(json).unwrap();
        assert_eq!(i.config.deliver_policy, DeliverPolicy::LastPerSubject);
        assert_eq!(i.config.ack_policy, AckPolicy::All);
        assert_eq!(i.config.replay_policy, ReplayPolicy::Original);
        assert_eq!(i.config.ack_wait, Duration::from_secs(30));
        assert_eq!(i.config.max_deliver, -1);
        assert!(i.config.backoff.is_empty());
        assert_eq!(i.delivered.stream_seq, 7);
        assert_eq!(i.ack_floor.consumer_seq, 4);
        assert_eq!(i.num_pending, 10);
        assert_eq!(i.num_waiting, 2);
    }
}
