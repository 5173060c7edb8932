//! JetStream: streams, consumers, publish with acks, pull, ordered and push consumers (cargo
//! feature `jetstream`, on by default).
//!
//! [`Connection::jetstream`] gives a [`JetStream`] context: a cheap clone that holds the
//! connection, the API prefix and the timeout of every API call (default 5 s). Every call
//! blocks the calling thread, always with a deadline.
//!
//! ```no_run
//! use std::time::Duration;
//! use natsws::jetstream::{AckPolicy, ConsumerConfig, FetchOptions, StreamConfig};
//!
//! # fn main() -> natsws::Result<()> {
//! let nc = natsws::connect("nats://127.0.0.1:4222")?;
//! let js = nc.jetstream();
//!
//! // A stream capturing `orders.>`; creating it again with the same config is fine.
//! let stream = js.create_stream(StreamConfig::new("ORDERS").subjects(["orders.>"]))?;
//!
//! // Publish and wait for the stream's ack.
//! let ack = js.publish("orders.1", "one")?;
//! assert_eq!(ack.stream, "ORDERS");
//!
//! // A durable pull consumer; fetch up to 10 messages, waiting at most 1 s for them.
//! let consumer = stream.create_consumer(ConsumerConfig::durable("worker"))?;
//! for msg in consumer.fetch(FetchOptions::new(10).expires(Duration::from_secs(1)))? {
//!     let msg = msg?;
//!     println!("{} {:?}", msg.subject(), msg.payload());
//!     msg.ack()?;
//! }
//! # Ok(()) }
//! ```
//!
//! # Which way to read
//!
//! | You want | Use | How it behaves |
//! |---|---|---|
//! | a batch now and then | [`Consumer::fetch`], [`Consumer::fetch_bytes`] | one pull on a fresh inbox; waits up to `expires` for a full batch (like nats.go); 404/408/409 end statuses end it quietly |
//! | what is there, no waiting | [`Consumer::fetch_no_wait`] | ends at once when the consumer has nothing more |
//! | one message | [`Consumer::next`] | a fetch of one; [`ErrorKind::Timeout`] if none came |
//! | a steady stream, with acks | [`Consumer::messages`] | ADR-37 consume on one inbox: pulls inside `next()` when half the buffer is read; heartbeats watched; survives reconnects; ends on consumer deleted |
//! | replay in order, no acks | [`JetStream::ordered_consumer`] | recreates its consumer from the last sequence on a gap, missed heartbeats, a reconnect or deletion |
//! | server-driven delivery | [`JetStream::create_push_consumer`] | subscribes before creating; flow control answered as you read |
//!
//! No consumer has a thread of its own: everything happens inside your calls, so a reader
//! that stops reading stops pulling, and nothing is dropped behind its back.
//!
//! # Publishing
//!
//! [`JetStream::publish`] waits for each ack (one round trip per message);
//! [`JetStream::publish_async`] keeps up to 4000 acks outstanding
//! ([`JetStreamOptions::publish_async_max_pending`]) and returns a [`PubAckFuture`] to wait
//! on or drop; [`JetStream::wait_for_acks`] waits for all. Acks are taken in by the
//! connection's reader thread, so the window frees itself with nobody waiting. When the
//! connection is lost, outstanding acks fail at once with [`ErrorKind::Disconnected`].
//!
//! # Errors
//!
//! API errors are [`ErrorKind::JetStream`], or one of the kinds callers branch on
//! ([`StreamNotFound`](ErrorKind::StreamNotFound),
//! [`ConsumerNotFound`](ErrorKind::ConsumerNotFound),
//! [`MessageNotFound`](ErrorKind::MessageNotFound),
//! [`WrongLastSequence`](ErrorKind::WrongLastSequence),
//! [`JetStreamNotEnabled`](ErrorKind::JetStreamNotEnabled)); all of them carry the server's
//! [`ApiError`](crate::ApiError) in [`Error::api_error`]. Bad input (an invalid name, a
//! wildcard publish subject, a batch of 0) is refused before anything is sent, with
//! [`InvalidName`](ErrorKind::InvalidName), [`InvalidSubject`](ErrorKind::InvalidSubject) or
//! [`InvalidOption`](ErrorKind::InvalidOption).

mod api;
mod consume;
mod consumer;
mod json;
mod message;
mod ordered;
mod paged;
mod publish;
mod publish_async;
mod pull;
mod push;
mod stream;
mod streams;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};

pub use consume::{
    ConsumeOptions, Messages, DEFAULT_CONSUME_MAX_MESSAGES, MIN_CONSUME_EXPIRES,
    MIN_CONSUME_HEARTBEAT,
};
pub use consumer::{
    AckPolicy, Consumer, ConsumerConfig, ConsumerInfo, DeliverPolicy, PriorityPolicy, ReplayPolicy,
    SequenceInfo,
};
pub use message::{AckKind, JsMessage, MessageMetadata};
pub use ordered::{OrderedBatch, OrderedConsumer, OrderedConsumerConfig, OrderedMessages};
pub use paged::Paged;
pub use publish::{PubAck, PublishOptions, ROLLUP, ROLLUP_ALL, ROLLUP_SUBJECT};
pub use publish_async::PubAckFuture;
pub use pull::{Batch, FetchOptions, DEFAULT_FETCH_EXPIRES, MIN_FETCH_EXPIRES};
pub use push::PushConsumer;
pub use stream::{
    ClusterInfo, Compression, ConsumerLimits, DiscardPolicy, External, PeerInfo, PersistMode,
    Placement, Republish, RetentionPolicy, StorageType, StreamConfig, StreamInfo, StreamSource,
    StreamSourceInfo, StreamState, SubjectTransform,
};
pub use streams::{
    ConsumerInfos, ConsumerNames, ConsumerPause, InfoOptions, PurgeOptions, RawMessage, Stream,
    StreamInfos, StreamNames,
};

/// The default timeout of a JetStream API call (nats.go's and async-nats's).
pub const DEFAULT_API_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of a [`JetStream`] context, for [`Connection::jetstream_with`].
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    prefix: Option<String>,
    domain: Option<String>,
    timeout: Duration,
    max_pending: usize,
}

/// The default window of [`JetStream::publish_async`]: acks outstanding at most (nats.go's).
pub const DEFAULT_MAX_PENDING: usize = 4000;

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            prefix: None,
            domain: None,
            timeout: DEFAULT_API_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
        }
    }
}

impl JetStreamOptions {
    /// The defaults: prefix `$JS.API.`, no domain, a 5 s timeout.
    pub fn new() -> JetStreamOptions {
        JetStreamOptions::default()
    }

    /// The API prefix, for a JetStream imported from another account (a missing final `.` is
    /// added). Not together with [`domain`](JetStreamOptions::domain).
    pub fn api_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The JetStream domain: the API prefix becomes `$JS.<domain>.API.`. Not together with
    /// [`api_prefix`](JetStreamOptions::api_prefix).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// How long each API call (and a publish's wait for its ack) may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The window of [`JetStream::publish_async`]: how many acks may be outstanding
    /// (default 4000; at least 1).
    pub fn publish_async_max_pending(mut self, n: usize) -> Self {
        self.max_pending = n;
        self
    }
}

/// A JetStream context: stream and consumer management, publishing with acks.
///
/// Cheap to clone; it holds its [`Connection`] (and so keeps it open).
#[derive(Clone)]
pub struct JetStream {
    pub(crate) nc: Connection,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) max_pending: usize,
    /// The pipelined publisher, made on first use and shared by clones.
    pub(crate) publisher: Arc<Mutex<Option<Arc<publish_async::AsyncPublisher>>>>,
}

impl fmt::Debug for JetStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JetStream")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Connection {
    /// A JetStream context with the default settings (prefix `$JS.API.`, 5 s timeout).
    pub fn jetstream(&self) -> JetStream {
        JetStream {
            nc: self.clone(),
            prefix: "$JS.API.".to_string(),
            timeout: DEFAULT_API_TIMEOUT,
            max_pending: DEFAULT_MAX_PENDING,
            publisher: Arc::default(),
        }
    }

    /// A JetStream context with its own API prefix or domain, and timeout.
    ///
    /// Fails with [`ErrorKind::InvalidOption`] for both a prefix and a domain, an empty
    /// one, or one that is not a valid subject prefix.
    pub fn jetstream_with(&self, options: JetStreamOptions) -> Result<JetStream> {
        let prefix = match (options.prefix, options.domain) {
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    ErrorKind::InvalidOption,
                    "a JetStream API prefix and a domain cannot both be set",
                ))
            }
            (Some(p), None) => {
                if p.is_empty() || p == "." {
                    return Err(Error::new(
                        ErrorKind::InvalidOption,
                        "the JetStream API prefix is empty",
                    ));
                }
                if p.ends_with('.') {
                    p
                } else {
                    format!("{p}.")
                }
            }
            (None, Some(d)) => {
                if d.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidOption,
                        "the JetStream domain is empty",
                    ));
                }
                format!("$JS.{d}.API.")
            }
            (None, None) => "$JS.API.".to_string(),
        };
        // The prefix followed by a token must be a valid publish subject.
        crate::subject::validate_publish(&format!("{prefix}INFO")).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOption,
                format!("bad JetStream API prefix: {e}"),
            )
        })?;
        if options.max_pending == 0 {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "publish_async_max_pending must be at least 1",
            ));
        }
        Ok(JetStream {
            nc: self.clone(),
            prefix,
            timeout: options.timeout,
            max_pending: options.max_pending,
            publisher: Arc::default(),
        })
    }
}

impl JetStream {
    /// The connection this context uses.
    pub fn connection(&self) -> &Connection {
        &self.nc
    }

    /// The API prefix (`$JS.API.` unless set otherwise).
    pub fn api_prefix(&self) -> &str {
        &self.prefix
    }

    /// The timeout of each API call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends an API request (`<prefix><suffix>`) and parses the reply.
    pub(crate) fn api<T: DeserializeOwned>(&self, suffix: &str, body: &[u8]) -> Result<T> {
        let subject = format!("{}{suffix}", self.prefix);
        let msg = match self.nc.request_timeout(&subject, body, self.timeout) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NoResponders => {
                return Err(api::not_enabled(&subject))
            }
            Err(e) => return Err(e),
        };
        api::parse_response(&msg.payload)
    }

    /// [`api`](JetStream::api) with a JSON body.
    pub(crate) fn api_json<T: DeserializeOwned>(
        &self,
        suffix: &str,
        body: &impl serde::Serialize,
    ) -> Result<T> {
        let body = serde_json::to_vec(body).map_err(|e| {
            Error::new(ErrorKind::InvalidOption, "cannot encode the request").with_source(e)
        })?;
        self.api(suffix, &body)
    }

    /// The account's JetStream usage and limits (`$JS.API.INFO`). Fails quickly with
    /// [`ErrorKind::JetStreamNotEnabled`] when the server or account has no JetStream.
    pub fn account_info(&self) -> Result<AccountInfo> {
        self.api("INFO", b"")
    }
}

/// The account's JetStream usage and limits, from [`JetStream::account_info`].
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountInfo {
    /// Memory storage in use, in bytes.
    pub memory: u64,
    /// File storage in use, in bytes.
    pub storage: u64,
    /// Memory reserved by streams with `max_bytes`, in bytes.
    pub reserved_memory: u64,
    /// File storage reserved by streams with `max_bytes`, in bytes.
    pub reserved_storage: u64,
    /// Streams in the account.
    pub streams: u64,
    /// Consumers in the account.
    pub consumers: u64,
    /// The account's limits.
    pub limits: AccountLimits,
    /// The JetStream domain, if any.
    pub domain: Option<String>,
    /// API statistics, including the server's API level.
    pub api: ApiStats,
}

/// The JetStream limits of an account; `-1` means unlimited.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    /// Memory storage limit, in bytes.
    pub max_memory: i64,
    /// File storage limit, in bytes.
    pub max_storage: i64,
    /// Streams limit.
    pub max_streams: i64,
    /// Consumers limit.
    pub max_consumers: i64,
    /// Largest ack-pending count a consumer may have.
    pub max_ack_pending: i64,
    /// Memory limit of a single stream.
    pub memory_max_stream_bytes: i64,
    /// File storage limit of a single stream.
    pub storage_max_stream_bytes: i64,
    /// Whether streams must set `max_bytes`.
    pub max_bytes_required: bool,
}

/// The account's API statistics.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ApiStats {
    /// The server's JetStream API level (2.11 = 1 … 2.15 = 5).
    pub level: u32,
    /// API requests served.
    pub total: u64,
    /// API requests that failed.
    pub errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn handles_cross_threads() {
        send_sync::<JetStream>();
        send_sync::<Stream>();
        send_sync::<Consumer>();
        send_sync::<JsMessage>();
        send_sync::<PubAckFuture>();
        send::<Batch>();
        send::<Messages>();
        send::<OrderedMessages>();
        send::<PushConsumer>();
        fn clone<T: Clone>() {}
        clone::<JetStream>();
        clone::<Stream>();
        clone::<Consumer>();
    }
}
