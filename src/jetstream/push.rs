//! Push consumers: the server delivers to a subject natsws subscribes to before the consumer
//! exists. Flow control is answered when the reader reaches the request; heartbeats are
//! watched, and a stalled consumer is woken.

use std::fmt;
use std::time::{Duration, Instant};

use super::consumer::{AckPolicy, Consumer, ConsumerConfig, ConsumerInfo};
use super::message::JsMessage;
use super::JetStream;
use crate::error::{Error, ErrorKind, Result};
use crate::subscription::Subscription;
use crate::time::deadline_after;

/// Missed heartbeats before [`ErrorKind::NoHeartbeat`] (ADR-15 for push consumers).
const MISSED_HEARTBEATS: u32 = 3;

/// A push consumer and the subscription on its deliver subject ([`JetStream::create_push_consumer`]).
///
/// Read it as an iterator, or with [`next_timeout`](PushConsumer::next_timeout). Dropping it
/// unsubscribes (a durable consumer stays on the server).
pub struct PushConsumer {
    consumer: Consumer,
    sub: Subscription,
    ack_none: bool,
    heartbeat: Option<Duration>,
    last_seen: Instant,
    last_stalled: Option<String>,
    flow_controls: u64,
}

impl fmt::Debug for PushConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConsumer")
            .field("consumer", &self.consumer.name())
            .field("deliver_subject", &self.sub.subject())
            .finish()
    }
}

impl JetStream {
    /// Creates (or binds to, when it exists with the same configuration) a push consumer of
    /// `stream` and subscribes to its deliver subject first, so nothing delivered is missed.
    /// Without a `deliver_subject` a new inbox is used; with a `deliver_group` the
    /// subscription is a queue subscription (then flow control and heartbeats are not
    /// allowed).
    pub fn create_push_consumer(
        &self,
        stream: &str,
        mut config: ConsumerConfig,
    ) -> Result<PushConsumer> {
        super::api::validate_name("stream", stream)?;
        if !config.deliver_group.is_empty()
            && (config.flow_control || !config.idle_heartbeat.is_zero())
        {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "a push consumer with a deliver group cannot have flow control or heartbeats",
            ));
        }
        if config.flow_control && config.idle_heartbeat.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "flow control needs idle heartbeats",
            ));
        }
        if config.deliver_subject.is_empty() {
            config.deliver_subject = self.nc.new_inbox();
        }
        crate::subject::validate_publish(&config.deliver_subject)?;
        let sub = if config.deliver_group.is_empty() {
            self.nc.subscribe(&config.deliver_subject)?
        } else {
            self.nc
                .queue_subscribe(&config.deliver_subject, &config.deliver_group)?
        };
        let heartbeat = (!config.idle_heartbeat.is_zero()).then_some(config.idle_heartbeat);
        let consumer = self.consumer_op(stream, config, None)?;
        Ok(PushConsumer {
            ack_none: consumer.info.config.ack_policy == AckPolicy::None,
            consumer,
            sub,
            heartbeat,
            last_seen: Instant::now(),
            last_stalled: None,
            flow_controls: 0,
        })
    }
}

impl PushConsumer {
    /// The consumer's name.
    pub fn name(&self) -> &str {
        self.consumer.name()
    }

    /// The deliver subject.
    pub fn deliver_subject(&self) -> &str {
        self.sub.subject()
    }

    /// The consumer's info as of creation or the last [`info`](PushConsumer::info).
    pub fn cached_info(&self) -> &ConsumerInfo {
        self.consumer.cached_info()
    }

    /// Fetches the consumer's info.
    pub fn info(&mut self) -> Result<ConsumerInfo> {
        self.consumer.info()
    }

    /// Flow-control requests answered so far.
    pub fn flow_controls_answered(&self) -> u64 {
        self.flow_controls
    }

    /// The next message, waiting up to `timeout` ([`ErrorKind::Timeout`]). With idle
    /// heartbeats configured, three missed ones give [`ErrorKind::NoHeartbeat`] (not final:
    /// call again to keep waiting).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<JsMessage> {
        self.next_until(Some(deadline_after(timeout)))
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Result<JsMessage> {
        loop {
            let now = Instant::now();
            let mut until = deadline.unwrap_or(now + Duration::from_secs(3600));
            let alarm = self
                .heartbeat
                .map(|h| self.last_seen + h * MISSED_HEARTBEATS);
            if let Some(a) = alarm {
                until = until.min(a);
            }
            match self.sub.next_timeout(until.saturating_duration_since(now)) {
                Ok(m) => {
                    self.last_seen = Instant::now();
                    let Some(code) = m.status() else {
                        return Ok(JsMessage::new(
                            m,
                            self.consumer.js.nc.clone(),
                            self.ack_none,
                        ));
                    };
                    let h = m.headers.as_ref();
                    let desc = h.and_then(|h| h.description()).unwrap_or("");
                    match code {
                        100 if desc.contains("FlowControl") => {
                            // Every message before it has been handed to the reader: answer.
                            if let Some(reply) = m.reply.as_deref() {
                                self.consumer.js.nc.publish(reply, b"")?;
                                self.flow_controls += 1;
                            }
                        }
                        100 => {
                            let stalled = h.and_then(|h| h.get("Nats-Consumer-Stalled"));
                            if let Some(s) = stalled {
                                if self.last_stalled.as_deref() != Some(s) {
                                    self.consumer.js.nc.publish(s, b"")?;
                                    self.last_stalled = Some(s.to_string());
                                }
                            }
                        }
                        409 if desc.contains("Consumer Deleted") => {
                            return Err(Error::new(
                                ErrorKind::ConsumerDeleted,
                                format!("consumer '{}' was deleted", self.name()),
                            ))
                        }
                        _ => log::debug!(
                            "push consumer '{}': status {code} {desc}",
                            self.consumer.name()
                        ),
                    }
                }
                Err(e) if e.kind() == ErrorKind::Timeout => {
                    let now = Instant::now();
                    if alarm.is_some_and(|a| now >= a) {
                        // Reset the clock: the next call waits for three more.
                        self.last_seen = now;
                        return Err(Error::new(
                            ErrorKind::NoHeartbeat,
                            format!("no heartbeat from push consumer '{}'", self.name()),
                        ));
                    }
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(Error::new(
                            ErrorKind::Timeout,
                            format!("no message from push consumer '{}' in time", self.name()),
                        ));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Iterator for PushConsumer {
    type Item = Result<JsMessage>;

    /// Blocks until a message arrives (or heartbeats are missed); `None` once the
    /// subscription has ended.
    fn next(&mut self) -> Option<Result<JsMessage>> {
        match self.next_until(None) {
            Err(e) if matches!(e.kind(), ErrorKind::Unsubscribed | ErrorKind::Closed) => None,
            r => Some(r),
        }
    }
}
