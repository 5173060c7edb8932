//! Continuous pull consumption (ADR-37 "consume"), driven by the caller's `next()`: no thread
//! per consumer. Pulls are sent only from `next()`, so a slow reader buffers at most what it
//! asked for.

use std::fmt;
use std::time::{Duration, Instant};

use super::consumer::{AckPolicy, Consumer};
use super::message::JsMessage;
use super::pull::message_size;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::subscription::Subscription;
use crate::time::Wait;

/// The default of [`ConsumeOptions::max_messages`] (nats.go's).
pub const DEFAULT_CONSUME_MAX_MESSAGES: usize = 500;
/// The shortest `expires` a consume pull may ask for (ADR-37).
pub const MIN_CONSUME_EXPIRES: Duration = Duration::from_secs(1);
/// The shortest heartbeat a consume pull may ask for (ADR-37).
pub const MIN_CONSUME_HEARTBEAT: Duration = Duration::from_millis(500);
/// After a pull nobody answered (the consumer is gone, or JetStream is restarting), how long
/// before pulling again.
const NO_RESPONDERS_BACKOFF: Duration = Duration::from_millis(500);

/// How [`Consumer::messages`] pulls.
#[derive(Debug, Clone)]
pub struct ConsumeOptions {
    max_messages: Option<usize>,
    max_bytes: Option<usize>,
    expires: Duration,
    heartbeat: Option<Duration>,
    threshold_messages: Option<usize>,
    threshold_bytes: Option<usize>,
}

impl Default for ConsumeOptions {
    fn default() -> Self {
        ConsumeOptions {
            max_messages: None,
            max_bytes: None,
            expires: Duration::from_secs(30),
            heartbeat: None,
            threshold_messages: None,
            threshold_bytes: None,
        }
    }
}

impl ConsumeOptions {
    /// 500 messages buffered at most, pulls expiring after 30 s, heartbeats every 15 s,
    /// a new pull when half the buffer is used up.
    pub fn new() -> ConsumeOptions {
        ConsumeOptions::default()
    }

    /// Most messages asked for at once (and so buffered). Not with
    /// [`max_bytes`](Self::max_bytes).
    pub fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = Some(n);
        self
    }

    /// Most bytes asked for at once, instead of a message count.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// How long each pull waits on the server (default 30 s, at least 1 s).
    pub fn expires(mut self, d: Duration) -> Self {
        self.expires = d;
        self
    }

    /// The idle heartbeat (default half of `expires`, at most 30 s; between 0.5 s and half
    /// of `expires`). Two missed ones make a fresh pull.
    pub fn heartbeat(mut self, d: Duration) -> Self {
        self.heartbeat = Some(d);
        self
    }

    /// Pull again when at most this many messages are still asked for (default half).
    pub fn threshold_messages(mut self, n: usize) -> Self {
        self.threshold_messages = Some(n);
        self
    }

    /// Pull again when at most this many bytes are still asked for (default half).
    pub fn threshold_bytes(mut self, n: usize) -> Self {
        self.threshold_bytes = Some(n);
        self
    }

    /// Checks and completes the options.
    pub(crate) fn settle(&self) -> Result<Settled> {
        let invalid = |s: String| Err(Error::new(ErrorKind::InvalidOption, s));
        if self.max_messages == Some(0) {
            return invalid("max_messages must be at least 1".into());
        }
        if self.max_bytes == Some(0) {
            return invalid("max_bytes must be at least 1".into());
        }
        if self.max_bytes.is_some() && self.max_messages.is_some() {
            return invalid("max_messages and max_bytes cannot both be set".into());
        }
        if self.expires < MIN_CONSUME_EXPIRES {
            return invalid(format!(
                "expires {:?} is below the minimum of {MIN_CONSUME_EXPIRES:?}",
                self.expires
            ));
        }
        let heartbeat = self
            .heartbeat
            .unwrap_or_else(|| (self.expires / 2).min(Duration::from_secs(30)));
        if heartbeat < MIN_CONSUME_HEARTBEAT || heartbeat > self.expires / 2 {
            return invalid(format!(
                "heartbeat {heartbeat:?} must be between {MIN_CONSUME_HEARTBEAT:?} and half of expires ({:?})",
                self.expires / 2
            ));
        }
        let (batch, bytes) = match self.max_bytes {
            Some(b) => (1_000_000, Some(b)),
            None => (
                self.max_messages.unwrap_or(DEFAULT_CONSUME_MAX_MESSAGES),
                None,
            ),
        };
        let threshold_messages = self
            .threshold_messages
            .unwrap_or(batch / 2)
            .min(batch.saturating_sub(1));
        let threshold_bytes = bytes.map(|b| self.threshold_bytes.unwrap_or(b / 2).min(b - 1));
        Ok(Settled {
            batch,
            bytes,
            expires: self.expires,
            heartbeat,
            threshold_messages,
            threshold_bytes,
        })
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settled {
    batch: usize,
    bytes: Option<usize>,
    expires: Duration,
    heartbeat: Duration,
    threshold_messages: usize,
    threshold_bytes: Option<usize>,
}

/// What stops an ordered consumer's current consumer: it is then recreated.
pub(crate) enum Interruption {
    /// A sequence gap, a missed heartbeat, a reconnect, the consumer deleted or gone.
    Reset(Error),
}

/// Messages of a consumer, pulled as they are read ([`Consumer::messages`]).
///
/// An [`Iterator`] whose `next` blocks until a message arrives; it ends (after one error)
/// when the consumer is deleted or refuses pulls. A missed heartbeat or a reconnect does not
/// end it: it pulls afresh. [`next_timeout`](Messages::next_timeout) waits with a bound.
pub struct Messages {
    sub: Subscription,
    nc: Connection,
    consumer: String,
    pull_subject: String,
    inbox: String,
    opts: Settled,
    ack_none: bool,
    /// Messages and bytes asked for and not yet received.
    pending_msgs: usize,
    pending_bytes: usize,
    last_seen: Instant,
    /// Messages were taken without reading the clock since `last_seen` was set: the next wait
    /// sets it (a little late, which only delays a missed-heartbeat verdict by as long as the
    /// program took to come back).
    seen: bool,
    gen: Option<u64>,
    pull_after: Option<Instant>,
    ended: bool,
    /// Ordered mode: interruptions are reported (the ordered consumer recreates).
    ordered: bool,
}

impl fmt::Debug for Messages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Messages")
            .field("consumer", &self.consumer)
            .field("pending_msgs", &self.pending_msgs)
            .field("pending_bytes", &self.pending_bytes)
            .finish()
    }
}

impl Consumer {
    /// Consumes continuously: an iterator of messages that pulls as it is read (ADR-37).
    ///
    /// It asks for `max_messages` and pulls again when at most the threshold is still to
    /// come, so a reader that stops reading stops pulling: at most `max_messages` wait
    /// in its buffer. Heartbeats are watched; after two missed ones, or a reconnect, it
    /// pulls afresh (pulls made before a reconnect may still deliver, so for a moment up to
    /// twice `max_messages` can be buffered). It ends with [`ErrorKind::ConsumerDeleted`]
    /// when the consumer is deleted.
    pub fn messages(&self, options: ConsumeOptions) -> Result<Messages> {
        if !self.info.config.deliver_subject.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!("'{}' is a push consumer: it cannot be pulled", self.name),
            ));
        }
        let opts = options.settle()?;
        Messages::start(self, opts, false)
    }
}

impl Messages {
    pub(crate) fn start(c: &Consumer, opts: Settled, ordered: bool) -> Result<Messages> {
        let nc = c.js.nc.clone();
        let inbox = nc.new_inbox();
        let sub = nc.subscribe(&inbox)?;
        Ok(Messages {
            sub,
            gen: nc.transport_generation(),
            nc,
            consumer: c.name.clone(),
            pull_subject: format!("{}CONSUMER.MSG.NEXT.{}.{}", c.js.prefix, c.stream, c.name),
            inbox,
            opts,
            ack_none: c.info.config.ack_policy == AckPolicy::None,
            pending_msgs: 0,
            pending_bytes: 0,
            last_seen: Instant::now(),
            seen: false,
            pull_after: None,
            ended: false,
            ordered,
        })
    }

    /// Stops pulling: `next` and `next_timeout` end at once, while messages already
    /// buffered can still be taken with [`try_next`](Messages::try_next) (and acked).
    /// Pulls still open on the server expire on their own.
    pub fn stop(&mut self) {
        self.ended = true;
    }

    /// The next message, waiting up to `timeout` ([`ErrorKind::Timeout`]). After the
    /// consumption ended: the error that ended it once, then [`ErrorKind::Unsubscribed`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<JsMessage> {
        self.next_until(&mut Wait::For(timeout))
            .map_err(|i| match i {
                Interruption::Reset(e) => e,
            })
    }

    /// A message already buffered, without pulling or waiting.
    pub fn try_next(&mut self) -> Option<JsMessage> {
        loop {
            let m = self.sub.try_next()?;
            match m.status() {
                None => return Some(self.take(m)),
                Some(_) => {
                    if let Err(_e) = self.on_status(&m) {
                        return None;
                    }
                }
            }
        }
    }

    fn take(&mut self, m: crate::Message) -> JsMessage {
        self.pending_msgs = self.pending_msgs.saturating_sub(1);
        self.pending_bytes = self.pending_bytes.saturating_sub(message_size(&m));
        JsMessage::new(m, self.nc.clone(), self.ack_none)
    }

    /// Sends a pull when what is still to come is at or below the threshold.
    fn maybe_pull(&mut self) -> Result<()> {
        if self.pull_after.is_some_and(|t| Instant::now() < t) {
            return Ok(());
        }
        self.pull_after = None;
        let o = &self.opts;
        let need = match o.bytes {
            None => self.pending_msgs <= o.threshold_messages,
            Some(_) => self.pending_bytes <= o.threshold_bytes.unwrap_or(0),
        };
        if !need {
            return Ok(());
        }
        let batch = o.batch - self.pending_msgs.min(o.batch);
        let bytes = o.bytes.map(|b| b - self.pending_bytes.min(b));
        if batch == 0 || bytes == Some(0) {
            return Ok(());
        }
        let mut body = format!(
            "{{\"batch\":{batch},\"expires\":{},\"idle_heartbeat\":{}",
            super::json::to_nanos(o.expires),
            super::json::to_nanos(o.heartbeat)
        );
        if let Some(b) = bytes {
            body.push_str(&format!(",\"max_bytes\":{b}"));
        }
        body.push('}');
        // Written by this thread when the writer is parked (a pull every few hundred
        // messages would otherwise cost a wake-up of the writer each).
        self.nc.handle.shared.publish_urgent(
            &self.pull_subject,
            Some(&self.inbox),
            None,
            body.as_bytes(),
            None,
        )?;
        self.pending_msgs += batch;
        self.pending_bytes += bytes.unwrap_or(0);
        Ok(())
    }

    /// Pending counts back to zero: the next `next()` pulls afresh.
    fn reset_pending(&mut self) {
        self.pending_msgs = 0;
        self.pending_bytes = 0;
        self.last_seen = Instant::now();
    }

    /// Handles a status message; `Err` ends (or, ordered, interrupts) the consumption.
    fn on_status(&mut self, m: &crate::Message) -> std::result::Result<(), Interruption> {
        let code = m.status().unwrap_or(0);
        let h = m.headers.as_ref();
        let desc = h.and_then(|h| h.description()).unwrap_or("");
        let num = |name: &str| -> usize {
            h.and_then(|h| h.get(name))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        match code {
            100 => Ok(()),
            404 | 408 | 423 => {
                self.pending_msgs = self
                    .pending_msgs
                    .saturating_sub(num("Nats-Pending-Messages"));
                self.pending_bytes = self.pending_bytes.saturating_sub(num("Nats-Pending-Bytes"));
                Ok(())
            }
            409 if desc.contains("Consumer Deleted") => {
                let e = Error::new(
                    ErrorKind::ConsumerDeleted,
                    format!("consumer '{}' was deleted", self.consumer),
                );
                if !self.ordered {
                    self.ended = true;
                }
                Err(Interruption::Reset(e))
            }
            409 if desc.contains("Leadership Change") => {
                self.reset_pending();
                Ok(())
            }
            409 if desc.contains("Message Size Exceeds MaxBytes")
                || desc.contains("Batch Completed") =>
            {
                self.pending_msgs = self
                    .pending_msgs
                    .saturating_sub(num("Nats-Pending-Messages"));
                self.pending_bytes = self.pending_bytes.saturating_sub(num("Nats-Pending-Bytes"));
                Ok(())
            }
            409 if desc.contains("Exceeded Max") => {
                log::warn!(
                    "pull from consumer '{}' refused: {code} {desc}",
                    self.consumer
                );
                Ok(())
            }
            503 => {
                // Nobody took the pull: the consumer is gone or JetStream is (re)starting.
                self.reset_pending();
                self.pull_after = Some(Instant::now() + NO_RESPONDERS_BACKOFF);
                if self.ordered {
                    return Err(Interruption::Reset(Error::new(
                        ErrorKind::ConsumerNotFound,
                        format!("no consumer '{}' answers pulls", self.consumer),
                    )));
                }
                Ok(())
            }
            _ => {
                self.ended = true;
                Err(Interruption::Reset(Error::new(
                    ErrorKind::JetStream,
                    format!("consumer '{}': {code} {desc}", self.consumer),
                )))
            }
        }
    }

    /// The heart of consume: pull when needed, wait, sort messages from statuses.
    pub(crate) fn next_until(
        &mut self,
        wait: &mut Wait,
    ) -> std::result::Result<JsMessage, Interruption> {
        loop {
            if self.ended {
                return Err(Interruption::Reset(Error::new(
                    ErrorKind::Unsubscribed,
                    "the consumption has ended",
                )));
            }
            if self.gen.is_some() {
                self.maybe_pull().map_err(Interruption::Reset)?;
            }
            // A message already at hand is taken without reading the clock.
            if let Some(m) = self.sub.next_taken() {
                self.seen = true;
                if m.status().is_none() {
                    return Ok(self.take(m));
                }
                self.on_status(&m)?;
                continue;
            }
            let now = Instant::now();
            if std::mem::take(&mut self.seen) {
                self.last_seen = now;
            }
            let deadline = wait.deadline();
            let hb = self.opts.heartbeat;
            let mut until = (self.last_seen + 2 * hb).min(now + hb);
            if let Some(t) = self.pull_after {
                until = until.min(t);
            }
            if let Some(d) = deadline {
                until = until.min(d);
            }
            match self.sub.next_timeout(until.saturating_duration_since(now)) {
                Ok(m) => {
                    self.last_seen = Instant::now();
                    if m.status().is_none() {
                        return Ok(self.take(m));
                    }
                    self.on_status(&m)?;
                }
                Err(e) if e.kind() == ErrorKind::Timeout => {
                    let now = Instant::now();
                    let gen = self.nc.transport_generation();
                    if gen != self.gen {
                        // Disconnected: pause (no pulls, heartbeat clock reset); reconnected:
                        // pull afresh.
                        let was = self.gen;
                        self.gen = gen;
                        self.reset_pending();
                        if self.ordered && was.is_some() {
                            return Err(Interruption::Reset(Error::new(
                                ErrorKind::Disconnected,
                                "the connection was lost",
                            )));
                        }
                    } else if gen.is_none() {
                        self.last_seen = now;
                    } else if now >= self.last_seen + 2 * hb {
                        log::debug!(
                            "consumer '{}': missed heartbeats, pulling afresh",
                            self.consumer
                        );
                        self.reset_pending();
                        if self.ordered {
                            return Err(Interruption::Reset(Error::new(
                                ErrorKind::NoHeartbeat,
                                format!("no heartbeat from consumer '{}'", self.consumer),
                            )));
                        }
                    }
                    if deadline.is_some_and(|d| now >= d) {
                        return Err(Interruption::Reset(Error::new(
                            ErrorKind::Timeout,
                            format!("no message from consumer '{}' in time", self.consumer),
                        )));
                    }
                }
                Err(e) => {
                    self.ended = true;
                    return Err(Interruption::Reset(e));
                }
            }
        }
    }
}

impl Iterator for Messages {
    type Item = Result<JsMessage>;

    /// Blocks until a message arrives; `None` once the consumption has ended (after the
    /// error that ended it).
    fn next(&mut self) -> Option<Result<JsMessage>> {
        if self.ended {
            return None;
        }
        match self.next_until(&mut Wait::Forever) {
            Ok(m) => Some(Ok(m)),
            Err(Interruption::Reset(e)) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_checks() {
        let s = ConsumeOptions::new().settle().unwrap();
        assert_eq!((s.batch, s.threshold_messages), (500, 250));
        assert_eq!(s.heartbeat, Duration::from_secs(15));
        let s = ConsumeOptions::new().max_messages(1).settle().unwrap();
        assert_eq!((s.batch, s.threshold_messages), (1, 0));
        let s = ConsumeOptions::new().max_bytes(1000).settle().unwrap();
        assert_eq!(
            (s.batch, s.bytes, s.threshold_bytes),
            (1_000_000, Some(1000), Some(500))
        );
        let s = ConsumeOptions::new()
            .expires(Duration::from_secs(120))
            .settle()
            .unwrap();
        assert_eq!(s.heartbeat, Duration::from_secs(30));
        for bad in [
            ConsumeOptions::new().max_messages(0),
            ConsumeOptions::new().max_bytes(0),
            ConsumeOptions::new().max_messages(5).max_bytes(10),
            ConsumeOptions::new().max_messages(500).max_bytes(10),
            ConsumeOptions::new().expires(Duration::from_millis(999)),
            ConsumeOptions::new()
                .expires(Duration::from_secs(2))
                .heartbeat(Duration::from_millis(1001)),
            ConsumeOptions::new().heartbeat(Duration::from_millis(100)),
        ] {
            assert_eq!(
                bad.settle().unwrap_err().kind(),
                ErrorKind::InvalidOption,
                "{bad:?}"
            );
        }
    }
}
