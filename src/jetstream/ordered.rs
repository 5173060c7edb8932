//! Ordered consumers: every message of a stream (or of some subjects) exactly once and in
//! order, without acks, over a consumer natsws recreates whenever something goes wrong.

use std::fmt;
use std::time::{Duration, Instant, SystemTime};

use super::consume::{ConsumeOptions, Interruption, Messages, Settled};
use super::consumer::{AckPolicy, Consumer, ConsumerConfig, DeliverPolicy, ReplayPolicy};
use super::message::JsMessage;
use super::pull::{Batch, FetchOptions};
use super::JetStream;
use crate::error::{Error, ErrorKind, Result};
use crate::time::Wait;

/// The first wait before recreating a consumer failed; doubled up to `MAX_BACKOFF`.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What an ordered consumer reads ([`JetStream::ordered_consumer`]).
#[derive(Debug, Clone)]
pub struct OrderedConsumerConfig {
    filter_subjects: Vec<String>,
    deliver_policy: DeliverPolicy,
    opt_start_seq: u64,
    opt_start_time: Option<SystemTime>,
    replay_policy: ReplayPolicy,
    inactive_threshold: Duration,
    headers_only: bool,
}

impl Default for OrderedConsumerConfig {
    fn default() -> Self {
        OrderedConsumerConfig {
            filter_subjects: Vec::new(),
            deliver_policy: DeliverPolicy::All,
            opt_start_seq: 0,
            opt_start_time: None,
            replay_policy: ReplayPolicy::Instant,
            inactive_threshold: Duration::from_secs(300),
            headers_only: false,
        }
    }
}

impl OrderedConsumerConfig {
    /// Every message of the stream from the first.
    pub fn new() -> OrderedConsumerConfig {
        OrderedConsumerConfig::default()
    }

    /// Only these subjects.
    pub fn filter_subjects<I, S>(mut self, subjects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.filter_subjects = subjects.into_iter().map(Into::into).collect();
        self
    }

    /// Where to start (sequences and times: [`start_sequence`](Self::start_sequence),
    /// [`start_time`](Self::start_time)).
    pub fn deliver_policy(mut self, policy: DeliverPolicy) -> Self {
        self.deliver_policy = policy;
        self
    }

    /// Start at stream sequence `seq`.
    pub fn start_sequence(mut self, seq: u64) -> Self {
        self.deliver_policy = DeliverPolicy::ByStartSequence;
        self.opt_start_seq = seq;
        self
    }

    /// Start at the first message stored at or after `t`.
    pub fn start_time(mut self, t: SystemTime) -> Self {
        self.deliver_policy = DeliverPolicy::ByStartTime;
        self.opt_start_time = Some(t);
        self
    }

    /// Replay at the original pace instead of as fast as possible.
    pub fn replay_policy(mut self, policy: ReplayPolicy) -> Self {
        self.replay_policy = policy;
        self
    }

    /// How long the server keeps an idle consumer (default 5 min).
    pub fn inactive_threshold(mut self, d: Duration) -> Self {
        self.inactive_threshold = d;
        self
    }

    /// Headers only (payload size in `Nats-Msg-Size`).
    pub fn headers_only(mut self, on: bool) -> Self {
        self.headers_only = on;
        self
    }
}

/// An ordered consumer of a stream; read it with [`messages`](OrderedConsumer::messages).
#[derive(Debug)]
pub struct OrderedConsumer {
    js: JetStream,
    stream: String,
    config: OrderedConsumerConfig,
    prefix: String,
    serial: u64,
    current: Option<Consumer>,
    /// The last stream and consumer sequences handed to the user.
    last_stream_seq: u64,
    last_consumer_seq: u64,
}

impl JetStream {
    /// An ordered consumer of `stream`: no acks, one message after the other, recreated from
    /// the last stream sequence delivered on a gap, a missed heartbeat, a reconnect or when
    /// deleted — never a duplicate, never a gap. Its first consumer is created here.
    pub fn ordered_consumer(
        &self,
        stream: &str,
        config: OrderedConsumerConfig,
    ) -> Result<OrderedConsumer> {
        super::api::validate_name("stream", stream)?;
        let mut oc = OrderedConsumer {
            js: self.clone(),
            stream: stream.to_string(),
            config,
            prefix: nuid::next().to_string(),
            serial: 0,
            current: None,
            last_stream_seq: 0,
            last_consumer_seq: 0,
        };
        oc.create()?;
        Ok(oc)
    }
}

impl OrderedConsumer {
    /// The name of the consumer in use now (`<prefix>_<serial>`).
    pub fn current_name(&self) -> Option<&str> {
        self.current.as_ref().map(Consumer::name)
    }

    /// The info the server returned when the consumer in use now was created: its
    /// `num_pending` is how many messages it had to deliver then (what a KV watcher needs to
    /// know when the initial values end).
    pub fn current_info(&self) -> Option<&super::ConsumerInfo> {
        self.current.as_ref().map(Consumer::cached_info)
    }

    fn consumer_config(&self) -> ConsumerConfig {
        let c = &self.config;
        let mut cfg = ConsumerConfig::ephemeral();
        cfg.name = format!("{}_{}", self.prefix, self.serial);
        cfg.ack_policy = AckPolicy::None;
        cfg.max_deliver = 1;
        cfg.mem_storage = true;
        cfg.num_replicas = 1;
        cfg.inactive_threshold = c.inactive_threshold;
        cfg.headers_only = c.headers_only;
        cfg.replay_policy = c.replay_policy;
        if self.last_stream_seq == 0 {
            cfg.deliver_policy = c.deliver_policy;
            cfg.opt_start_seq = c.opt_start_seq;
            cfg.opt_start_time = c.opt_start_time;
        } else {
            cfg.deliver_policy = DeliverPolicy::ByStartSequence;
            cfg.opt_start_seq = self.last_stream_seq + 1;
        }
        match c.filter_subjects.len() {
            0 if cfg.deliver_policy == DeliverPolicy::LastPerSubject => {
                cfg.filter_subjects = vec![">".to_string()];
            }
            0 => {}
            1 => cfg.filter_subject = c.filter_subjects[0].clone(),
            _ => cfg.filter_subjects = c.filter_subjects.clone(),
        }
        cfg
    }

    fn create(&mut self) -> Result<()> {
        self.serial += 1;
        let cfg = self.consumer_config();
        let c = self.js.consumer_op(&self.stream, cfg, None)?;
        self.current = Some(c);
        self.last_consumer_seq = 0;
        Ok(())
    }

    /// Fetches the next messages in order (a batch, like [`Consumer::fetch`]). Something
    /// wrong with the current consumer (a sequence gap, missed heartbeats, deleted) ends the
    /// batch early and quietly; the next fetch recreates the consumer from the last sequence
    /// handed out. Fetch and [`messages`](OrderedConsumer::messages) are not mixed: the
    /// latter takes the consumer.
    pub fn fetch(&mut self, options: FetchOptions) -> Result<OrderedBatch<'_>> {
        if self.current.is_none() {
            self.create()?;
        }
        let inner = self.current.as_ref().expect("created").fetch(options)?;
        Ok(OrderedBatch {
            oc: self,
            inner,
            done: false,
        })
    }

    /// The next message in order, waiting up to `timeout` ([`ErrorKind::Timeout`]).
    pub fn next(&mut self, timeout: Duration) -> Result<JsMessage> {
        let expires = timeout.max(super::pull::MIN_FETCH_EXPIRES);
        let mut b = self.fetch(FetchOptions::new(1).expires(expires))?;
        match b.next() {
            Some(r) => r,
            None => Err(Error::new(
                ErrorKind::Timeout,
                format!("no message from the ordered consumer within {timeout:?}"),
            )),
        }
    }

    /// Checks a delivered message's consumer sequence; `Ok(false)` on a gap.
    fn accept(&mut self, m: &JsMessage) -> Result<bool> {
        let reply = m.reply().ok_or_else(|| {
            Error::new(
                ErrorKind::NotJetStreamMessage,
                "a message without ack subject",
            )
        })?;
        let (stream_seq, consumer_seq) = super::message::ack_sequences(reply)?;
        if consumer_seq != self.last_consumer_seq + 1 {
            return Ok(false);
        }
        self.last_consumer_seq = consumer_seq;
        self.last_stream_seq = stream_seq;
        Ok(true)
    }

    /// Drops the current consumer (deleting it on the server when `delete`); the next read
    /// recreates one.
    fn drop_current(&mut self, why: &Error, delete: bool) {
        log::debug!(
            "ordered consumer on '{}': recreating after {why}",
            self.stream
        );
        if let Some(old) = self.current.take() {
            if delete {
                let _ = self.js.delete_consumer(&self.stream, old.name());
            }
        }
    }

    /// Reads the stream in order: an iterator that recreates its consumer as needed.
    pub fn messages(self, options: ConsumeOptions) -> Result<OrderedMessages> {
        let opts = options.settle()?;
        let current = self.current.as_ref().expect("created with the consumer");
        let inner = Messages::start(current, opts.clone(), true)?;
        Ok(OrderedMessages {
            oc: self,
            opts,
            inner: Some(inner),
            backoff: FIRST_BACKOFF,
            ended: false,
        })
    }
}

/// The messages of an [`OrderedConsumer`], in stream order.
pub struct OrderedMessages {
    oc: OrderedConsumer,
    opts: Settled,
    inner: Option<Messages>,
    backoff: Duration,
    ended: bool,
}

impl fmt::Debug for OrderedMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedMessages")
            .field("consumer", &self.oc.current_name())
            .field("last_stream_seq", &self.oc.last_stream_seq)
            .finish()
    }
}

impl OrderedMessages {
    /// The next message, waiting up to `timeout` ([`ErrorKind::Timeout`]).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<JsMessage> {
        self.next_until(Wait::For(timeout))
    }

    /// The last stream sequence handed out (0 before the first message).
    pub fn last_stream_sequence(&self) -> u64 {
        self.oc.last_stream_seq
    }

    /// The name of the consumer in use now.
    pub fn current_name(&self) -> Option<&str> {
        self.oc.current_name()
    }

    /// Drops the current consumer (deleting it when `delete`), so the next read recreates.
    fn reset(&mut self, why: &Error, delete: bool) {
        self.inner = None;
        self.oc.drop_current(why, delete);
    }

    fn next_until(&mut self, mut wait: Wait) -> Result<JsMessage> {
        loop {
            if self.ended {
                return Err(Error::new(
                    ErrorKind::Unsubscribed,
                    "the ordered consumption has ended",
                ));
            }
            if self.inner.is_none() {
                let made = self.oc.create().and_then(|()| {
                    let c = self.oc.current.as_ref().expect("just created");
                    Messages::start(c, self.opts.clone(), true)
                });
                match made {
                    Ok(m) => {
                        self.inner = Some(m);
                        self.backoff = FIRST_BACKOFF;
                    }
                    // The stream is gone (or the connection): nothing to wait for.
                    Err(e)
                        if matches!(
                            e.kind(),
                            ErrorKind::InvalidName | ErrorKind::Closed | ErrorKind::StreamNotFound
                        ) =>
                    {
                        self.ended = true;
                        return Err(e);
                    }
                    Err(e) => {
                        log::debug!(
                            "ordered consumer on '{}': cannot recreate: {e}",
                            self.oc.stream
                        );
                        let mut pause = self.backoff;
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                        if let Some(d) = wait.deadline() {
                            let left = d.saturating_duration_since(Instant::now());
                            if left.is_zero() {
                                return Err(e);
                            }
                            pause = pause.min(left);
                        }
                        // A retry pause after a failed creation, not a synchronisation.
                        std::thread::sleep(pause);
                        continue;
                    }
                }
            }
            let inner = self.inner.as_mut().expect("set above");
            match inner.next_until(&mut wait) {
                Ok(m) => {
                    let reply = m.reply().ok_or_else(|| {
                        Error::new(
                            ErrorKind::NotJetStreamMessage,
                            "a message without ack subject",
                        )
                    })?;
                    let (stream_seq, consumer_seq) = super::message::ack_sequences(reply)?;
                    if consumer_seq != self.oc.last_consumer_seq + 1 {
                        let e = Error::new(
                            ErrorKind::Protocol,
                            format!(
                                "consumer sequence {consumer_seq} after {}",
                                self.oc.last_consumer_seq
                            ),
                        );
                        self.reset(&e, true);
                        continue;
                    }
                    self.oc.last_consumer_seq = consumer_seq;
                    self.oc.last_stream_seq = stream_seq;
                    return Ok(m);
                }
                Err(Interruption::Reset(e)) => match e.kind() {
                    ErrorKind::Timeout => return Err(e),
                    ErrorKind::ConsumerDeleted | ErrorKind::ConsumerNotFound => {
                        self.reset(&e, false)
                    }
                    ErrorKind::NoHeartbeat | ErrorKind::Disconnected => self.reset(&e, false),
                    _ => {
                        self.ended = true;
                        return Err(e);
                    }
                },
            }
        }
    }
}

impl Iterator for OrderedMessages {
    type Item = Result<JsMessage>;

    fn next(&mut self) -> Option<Result<JsMessage>> {
        if self.ended {
            return None;
        }
        Some(self.next_until(Wait::Forever))
    }
}

/// The messages of one [`OrderedConsumer::fetch`], in stream order.
pub struct OrderedBatch<'a> {
    oc: &'a mut OrderedConsumer,
    inner: Batch,
    done: bool,
}

impl fmt::Debug for OrderedBatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrderedBatch")
            .field("consumer", &self.oc.current_name())
            .field("done", &self.done)
            .finish()
    }
}

impl Iterator for OrderedBatch<'_> {
    type Item = Result<JsMessage>;

    fn next(&mut self) -> Option<Result<JsMessage>> {
        if self.done {
            return None;
        }
        match self.inner.next() {
            None => {
                self.done = true;
                None
            }
            Some(Ok(m)) => match self.oc.accept(&m) {
                Ok(true) => Some(Ok(m)),
                Ok(false) => {
                    self.done = true;
                    let e = Error::new(ErrorKind::Protocol, "a consumer sequence gap");
                    self.oc.drop_current(&e, true);
                    None
                }
                Err(e) => {
                    self.done = true;
                    Some(Err(e))
                }
            },
            Some(Err(e)) => {
                self.done = true;
                match e.kind() {
                    ErrorKind::ConsumerDeleted
                    | ErrorKind::ConsumerNotFound
                    | ErrorKind::NoHeartbeat => {
                        self.oc.drop_current(&e, false);
                        None
                    }
                    _ => Some(Err(e)),
                }
            }
        }
    }
}
