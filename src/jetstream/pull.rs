//! Pull consumers: fetch a batch (by count or bytes), fetch without waiting, next.

use std::fmt;
use std::time::{Duration, Instant};

use super::consumer::{AckPolicy, Consumer};
use super::message::JsMessage;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::message::Message;
use crate::subscription::Subscription;
use crate::time::deadline_after;

/// The default time a fetch waits for its batch (nats.go's).
pub const DEFAULT_FETCH_EXPIRES: Duration = Duration::from_secs(30);
/// The shortest `expires` a fetch may ask for.
pub const MIN_FETCH_EXPIRES: Duration = Duration::from_millis(10);
/// How much longer than `expires` the client waits for the server's end of batch.
const CLIENT_SLACK: Duration = Duration::from_secs(1);

/// What a [`Consumer::fetch`] asks for.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    batch: usize,
    max_bytes: Option<usize>,
    expires: Duration,
    heartbeat: Option<Duration>,
    no_wait: bool,
}

impl FetchOptions {
    /// Up to `batch` messages, waiting up to 30 s for them (see
    /// [`expires`](FetchOptions::expires)).
    pub fn new(batch: usize) -> FetchOptions {
        FetchOptions {
            batch,
            max_bytes: None,
            expires: DEFAULT_FETCH_EXPIRES,
            heartbeat: None,
            no_wait: false,
        }
    }

    /// Messages up to `max_bytes` in total (subject, reply, headers and payload; a single
    /// message larger than that ends the batch empty).
    pub fn bytes(max_bytes: usize) -> FetchOptions {
        FetchOptions {
            batch: 1_000_000,
            max_bytes: Some(max_bytes),
            ..FetchOptions::new(1)
        }
    }

    /// Sets a byte limit as well as the count.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = Some(n);
        self
    }

    /// How long the server holds the request when fewer messages than asked for are there
    /// (default 30 s, at least 10 ms). The batch ends when it is full or at `expires`.
    pub fn expires(mut self, expires: Duration) -> Self {
        self.expires = expires;
        self
    }

    /// Idle heartbeats from the server while the request waits (at most half of `expires`);
    /// two missed ones end the batch with [`ErrorKind::NoHeartbeat`]. Default: 5 s when
    /// `expires` is 10 s or more, else none.
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = Some(heartbeat);
        self
    }

    /// Do not wait: take what is there now (up to the batch) and end.
    pub fn no_wait(mut self) -> Self {
        self.no_wait = true;
        self
    }

    /// Checks the options and writes the pull request body.
    fn request(&self) -> Result<(String, Option<Duration>)> {
        let invalid = |s: String| Err(Error::new(ErrorKind::InvalidOption, s));
        if self.batch == 0 {
            return invalid("a fetch needs a batch of at least 1".into());
        }
        if self.max_bytes == Some(0) {
            return invalid("a fetch's max_bytes must be at least 1".into());
        }
        let mut body = format!("{{\"batch\":{}", self.batch);
        if let Some(b) = self.max_bytes {
            body.push_str(&format!(",\"max_bytes\":{b}"));
        }
        if self.no_wait {
            body.push_str(",\"no_wait\":true}");
            return Ok((body, None));
        }
        if self.expires < MIN_FETCH_EXPIRES {
            return invalid(format!(
                "expires {:?} is below the minimum of {MIN_FETCH_EXPIRES:?} (use no_wait)",
                self.expires
            ));
        }
        let heartbeat = match self.heartbeat {
            Some(h) if h.is_zero() => None,
            Some(h) if h > self.expires / 2 => {
                return invalid(format!(
                    "heartbeat {h:?} is longer than half of expires {:?}",
                    self.expires
                ))
            }
            Some(h) => Some(h),
            None if self.expires >= Duration::from_secs(10) => Some(Duration::from_secs(5)),
            None => None,
        };
        body.push_str(&format!(
            ",\"expires\":{}",
            super::json::to_nanos(self.expires)
        ));
        if let Some(h) = heartbeat {
            body.push_str(&format!(",\"idle_heartbeat\":{}", super::json::to_nanos(h)));
        }
        body.push('}');
        Ok((body, heartbeat))
    }
}

impl Consumer {
    /// Pulls a batch: up to the batch size (or bytes), waiting up to `expires` for them like
    /// nats.go's `Fetch`. The returned [`Batch`] yields messages as they arrive and ends when
    /// the batch is full, at `expires`, or when the server says there is nothing more; those
    /// end statuses are neither errors nor messages. Each fetch uses a fresh inbox.
    pub fn fetch(&self, options: FetchOptions) -> Result<Batch> {
        if !self.info.config.deliver_subject.is_empty() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!("'{}' is a push consumer: it cannot be pulled", self.name),
            ));
        }
        let (body, heartbeat) = options.request()?;
        let nc = self.js.nc.clone();
        let inbox = nc.new_inbox();
        let sub = nc.subscribe(&inbox)?;
        let subject = format!(
            "{}CONSUMER.MSG.NEXT.{}.{}",
            self.js.prefix, self.stream, self.name
        );
        nc.publish_with_reply(&subject, &inbox, body.as_bytes())?;
        let wait = if options.no_wait {
            self.js.timeout
        } else {
            options.expires.saturating_add(CLIENT_SLACK)
        };
        Ok(Batch {
            sub,
            nc,
            consumer: self.name.clone(),
            batch: options.batch,
            received: 0,
            deadline: deadline_after(wait),
            heartbeat,
            last_seen: Instant::now(),
            done: false,
            ack_none: self.info.config.ack_policy == AckPolicy::None,
        })
    }

    /// Fetches up to `batch` messages that are there now, without waiting for more.
    pub fn fetch_no_wait(&self, batch: usize) -> Result<Batch> {
        self.fetch(FetchOptions::new(batch).no_wait())
    }

    /// Fetches messages up to `max_bytes` in total, waiting up to 30 s.
    pub fn fetch_bytes(&self, max_bytes: usize) -> Result<Batch> {
        self.fetch(FetchOptions::bytes(max_bytes))
    }

    /// The next message, waiting up to `timeout` ([`ErrorKind::Timeout`] if none came).
    pub fn next(&self, timeout: Duration) -> Result<JsMessage> {
        let mut b = self.fetch(FetchOptions::new(1).expires(timeout))?;
        match b.next() {
            Some(r) => r,
            None => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no message from consumer '{}' within {timeout:?}",
                    self.name
                ),
            )),
        }
    }
}

/// The messages of one fetch, as they arrive: an iterator that ends when the batch is done.
///
/// Dropping it before the end unsubscribes its inbox; messages still on their way are then
/// redelivered after the consumer's ack wait.
pub struct Batch {
    sub: Subscription,
    nc: Connection,
    consumer: String,
    batch: usize,
    received: usize,
    deadline: Instant,
    heartbeat: Option<Duration>,
    last_seen: Instant,
    done: bool,
    ack_none: bool,
}

impl fmt::Debug for Batch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("consumer", &self.consumer)
            .field("received", &self.received)
            .field("done", &self.done)
            .finish()
    }
}

/// What a status message means for a pull.
pub(crate) enum Status {
    /// An idle heartbeat (or flow control): keep going.
    Heartbeat,
    /// The request is over without error (404, 408, 409 batch completed / size exceeded…).
    End,
    /// The request failed.
    Fail(Error),
}

/// Classifies a status message delivered to a pull inbox (ADR-37).
pub(crate) fn classify_status(code: u16, desc: &str, consumer: &str) -> Status {
    match code {
        100 => Status::Heartbeat,
        404 | 408 => Status::End,
        409 if desc.contains("Consumer Deleted") => Status::Fail(Error::new(
            ErrorKind::ConsumerDeleted,
            format!("consumer '{consumer}' was deleted"),
        )),
        409 if desc.contains("Message Size Exceeds MaxBytes")
            || desc.contains("Batch Completed")
            || desc.contains("Leadership Change") =>
        {
            Status::End
        }
        503 => Status::Fail(Error::new(
            ErrorKind::ConsumerNotFound,
            format!("no consumer '{consumer}' answers pull requests"),
        )),
        _ => Status::Fail(Error::new(
            ErrorKind::JetStream,
            format!("pull from '{consumer}': {code} {desc}"),
        )),
    }
}

/// The bytes a message counts for against `max_bytes`: subject, reply, headers, payload.
pub(crate) fn message_size(m: &Message) -> usize {
    let headers = m.headers.as_ref().map_or(0, |h| {
        12 + h.iter().map(|(k, v)| k.len() + v.len() + 4).sum::<usize>()
    });
    m.subject.len() + m.reply.as_deref().map_or(0, str::len) + headers + m.payload.len()
}

impl Iterator for Batch {
    type Item = Result<JsMessage>;

    fn next(&mut self) -> Option<Result<JsMessage>> {
        if self.done {
            return None;
        }
        loop {
            let now = Instant::now();
            let mut until = self.deadline;
            if let Some(h) = self.heartbeat {
                until = until.min(self.last_seen + 2 * h);
            }
            let got = self.sub.next_timeout(until.saturating_duration_since(now));
            let m = match got {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::Timeout => {
                    self.done = true;
                    if Instant::now() >= self.deadline {
                        return Some(Err(Error::new(
                            ErrorKind::Timeout,
                            "the server did not end the pull request in time",
                        )));
                    }
                    return Some(Err(Error::new(
                        ErrorKind::NoHeartbeat,
                        format!("no heartbeat from consumer '{}'", self.consumer),
                    )));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            };
            self.last_seen = Instant::now();
            if let Some(code) = m.status() {
                let desc = m
                    .headers
                    .as_ref()
                    .and_then(|h| h.description())
                    .unwrap_or("");
                match classify_status(code, desc, &self.consumer) {
                    Status::Heartbeat => continue,
                    Status::End => {
                        self.done = true;
                        return None;
                    }
                    Status::Fail(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
            self.received += 1;
            // A byte budget is the server's to account (it ends the batch when the next
            // message does not fit); the count is ours too, to end without a round trip.
            if self.received >= self.batch {
                self.done = true;
            }
            return Some(Ok(JsMessage::new(m, self.nc.clone(), self.ack_none)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies() {
        let (b, h) = FetchOptions::new(10).request().unwrap();
        assert_eq!(
            b,
            r#"{"batch":10,"expires":30000000000,"idle_heartbeat":5000000000}"#
        );
        assert_eq!(h, Some(Duration::from_secs(5)));
        let (b, h) = FetchOptions::new(2)
            .expires(Duration::from_secs(1))
            .request()
            .unwrap();
        assert_eq!(b, r#"{"batch":2,"expires":1000000000}"#);
        assert_eq!(h, None);
        let (b, _) = FetchOptions::bytes(100)
            .expires(Duration::from_secs(2))
            .heartbeat(Duration::from_secs(1))
            .request()
            .unwrap();
        assert_eq!(
            b,
            r#"{"batch":1000000,"max_bytes":100,"expires":2000000000,"idle_heartbeat":1000000000}"#
        );
        let (b, h) = FetchOptions::new(3).no_wait().request().unwrap();
        assert_eq!((b.as_str(), h), (r#"{"batch":3,"no_wait":true}"#, None));
    }

    #[test]
    fn bad_options() {
        let bad = [
            FetchOptions::new(0),
            FetchOptions::bytes(0),
            FetchOptions::new(1).expires(Duration::from_millis(1)),
            FetchOptions::new(1)
                .expires(Duration::from_secs(1))
                .heartbeat(Duration::from_millis(501)),
        ];
        for o in bad {
            assert_eq!(
                o.request().unwrap_err().kind(),
                ErrorKind::InvalidOption,
                "{o:?}"
            );
        }
    }

    #[test]
    fn statuses() {
        assert!(matches!(
            classify_status(100, "Idle Heartbeat", "c"),
            Status::Heartbeat
        ));
        for (code, d) in [
            (404, "No Messages"),
            (408, "Request Timeout"),
            (409, "Message Size Exceeds MaxBytes"),
            (409, "Batch Completed"),
        ] {
            assert!(
                matches!(classify_status(code, d, "c"), Status::End),
                "{code} {d}"
            );
        }
        let kind = |code, d| match classify_status(code, d, "c") {
            Status::Fail(e) => e.kind(),
            _ => panic!("{code} {d} should fail"),
        };
        assert_eq!(kind(409, "Consumer Deleted"), ErrorKind::ConsumerDeleted);
        assert_eq!(kind(409, "Consumer is push based"), ErrorKind::JetStream);
        assert_eq!(kind(409, "Exceeded MaxWaiting"), ErrorKind::JetStream);
        assert_eq!(kind(400, "Bad Request"), ErrorKind::JetStream);
        assert_eq!(kind(503, ""), ErrorKind::ConsumerNotFound);
    }
}
