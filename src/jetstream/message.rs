//! [`JsMessage`]: a message delivered by a consumer, its ack-subject metadata and its acks.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::message::Message;

/// How a message is acknowledged ([`JsMessage::ack_with`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckKind {
    /// Processed (`+ACK`).
    Ack,
    /// Not processed: redeliver (`-NAK`).
    Nak,
    /// Not processed: redeliver after this delay (`-NAK {"delay": ns}`).
    NakWithDelay(Duration),
    /// Still working on it: restart the ack wait (`+WPI`); not terminal, repeatable.
    InProgress,
    /// Never redeliver (`+TERM`).
    Term,
    /// Never redeliver, with a reason the server reports in its advisory (`+TERM <reason>`).
    TermWithReason(String),
}

impl AckKind {
    fn payload(&self) -> Vec<u8> {
        match self {
            AckKind::Ack => b"+ACK".to_vec(),
            AckKind::Nak => b"-NAK".to_vec(),
            AckKind::NakWithDelay(d) => {
                format!("-NAK {{\"delay\": {}}}", super::json::to_nanos(*d)).into_bytes()
            }
            AckKind::InProgress => b"+WPI".to_vec(),
            AckKind::Term => b"+TERM".to_vec(),
            AckKind::TermWithReason(r) => format!("+TERM {r}").into_bytes(),
        }
    }

    fn is_terminal(&self) -> bool {
        !matches!(self, AckKind::InProgress)
    }
}

/// What the ack subject of a JetStream message tells.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMetadata {
    /// The stream.
    pub stream: String,
    /// The consumer.
    pub consumer: String,
    /// How many times it was delivered (1 the first time).
    pub num_delivered: u64,
    /// Its stream sequence.
    pub stream_sequence: u64,
    /// Its consumer sequence.
    pub consumer_sequence: u64,
    /// When it was stored.
    pub timestamp: SystemTime,
    /// Messages still pending for the consumer after this one.
    pub num_pending: u64,
    /// The JetStream domain, if any.
    pub domain: Option<String>,
}

impl MessageMetadata {
    /// Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>` (v1) or
    /// `$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>[.…]`
    /// (v2, 11 tokens or more).
    pub fn parse(reply: &str) -> Result<MessageMetadata> {
        let (domain, t) = ack_tokens(reply)?;
        let bad = || malformed(reply);
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
        let ts = num(t[5])?;
        Ok(MessageMetadata {
            stream: t[0].to_string(),
            consumer: t[1].to_string(),
            num_delivered: num(t[2])?,
            stream_sequence: num(t[3])?,
            consumer_sequence: num(t[4])?,
            timestamp: UNIX_EPOCH + Duration::from_nanos(ts),
            num_pending: num(t[6])?,
            domain: domain.map(str::to_string),
        })
    }
}

fn malformed(reply: &str) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("malformed JetStream ack subject '{reply}'"),
    )
}

/// The domain and the seven fields (stream, consumer, delivered, stream sequence, consumer
/// sequence, timestamp, pending) of an ack subject, without allocating.
fn ack_tokens(reply: &str) -> Result<(Option<&str>, [&str; 7])> {
    let rest = reply.strip_prefix("$JS.ACK.").ok_or_else(|| {
        Error::new(
            ErrorKind::NotJetStreamMessage,
            format!("'{reply}' is not a JetStream ack subject"),
        )
    })?;
    // The dots found with memchr (an ack subject is about 70 bytes; the ordered consumer
    // reads one per message): the tokens between them, the first nine kept.
    let mut all = [""; 9];
    let mut n = 0;
    let mut start = 0;
    let ends = memchr::memchr_iter(b'.', rest.as_bytes()).chain(std::iter::once(rest.len()));
    for end in ends {
        if n < all.len() {
            all[n] = rest.get(start..end).unwrap_or("");
        }
        n += 1;
        start = end + 1;
    }
    // After `$JS.ACK`: 7 tokens (v1), or 9 or more (v2: domain and account hash first).
    let (domain, t): (Option<&str>, &[&str]) = match n {
        7 => (None, &all[..7]),
        n if n >= 9 => {
            let d = all[0];
            ((d != "_" && !d.is_empty()).then_some(d), &all[2..9])
        }
        _ => return Err(malformed(reply)),
    };
    if t.iter().any(|s| s.is_empty()) {
        return Err(malformed(reply));
    }
    let mut out = [""; 7];
    out.copy_from_slice(t);
    Ok((domain, out))
}

/// The stream and consumer sequences of an ack subject (the ordered consumer's hot path).
pub(crate) fn ack_sequences(reply: &str) -> Result<(u64, u64)> {
    let (_, t) = ack_tokens(reply)?;
    let num = |s: &str| s.parse::<u64>().map_err(|_| malformed(reply));
    Ok((num(t[3])?, num(t[4])?))
}

const ACK_NONE: u8 = 0;
const ACK_SENDING: u8 = 1;
const ACK_DONE: u8 = 2;

/// A message delivered by a JetStream consumer, with its acks.
///
/// A terminal ack (ack, nak, term) is sent once: a second one fails with
/// [`ErrorKind::AlreadyAcked`] without sending anything. On a consumer with
/// [`AckPolicy::None`](super::AckPolicy::None) the ack calls send nothing and return `Ok`.
pub struct JsMessage {
    msg: Message,
    nc: Connection,
    ack_none: bool,
    acked: AtomicU8,
}

impl fmt::Debug for JsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsMessage")
            .field("subject", &self.msg.subject)
            .field("reply", &self.msg.reply)
            .field("payload_len", &self.msg.payload.len())
            .finish()
    }
}

impl JsMessage {
    pub(crate) fn new(msg: Message, nc: Connection, ack_none: bool) -> JsMessage {
        JsMessage {
            msg,
            nc,
            ack_none,
            acked: AtomicU8::new(ACK_NONE),
        }
    }

    /// The subject it was stored with.
    pub fn subject(&self) -> &str {
        &self.msg.subject
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.msg.payload
    }

    /// The headers, if any.
    pub fn headers(&self) -> Option<&Headers> {
        self.msg.headers.as_ref()
    }

    /// The ack subject (`$JS.ACK…`).
    pub fn reply(&self) -> Option<&str> {
        self.msg.reply.as_deref()
    }

    /// The underlying NATS message.
    pub fn message(&self) -> &Message {
        &self.msg
    }

    /// The underlying NATS message, by value.
    pub fn into_message(self) -> Message {
        self.msg
    }

    /// The delivery metadata from the ack subject.
    pub fn metadata(&self) -> Result<MessageMetadata> {
        let reply = self.reply().ok_or_else(|| {
            Error::new(
                ErrorKind::NotJetStreamMessage,
                "the message has no ack subject",
            )
        })?;
        MessageMetadata::parse(reply)
    }

    /// Acknowledges: processed.
    pub fn ack(&self) -> Result<()> {
        self.ack_with(AckKind::Ack)
    }

    /// Negative ack: redeliver.
    pub fn nak(&self) -> Result<()> {
        self.ack_with(AckKind::Nak)
    }

    /// Negative ack: redeliver after `delay`.
    pub fn nak_with_delay(&self, delay: Duration) -> Result<()> {
        self.ack_with(AckKind::NakWithDelay(delay))
    }

    /// Still working: restarts the ack wait. May be sent many times.
    pub fn in_progress(&self) -> Result<()> {
        self.ack_with(AckKind::InProgress)
    }

    /// Never redeliver.
    pub fn term(&self) -> Result<()> {
        self.ack_with(AckKind::Term)
    }

    /// Never redeliver, saying why.
    pub fn term_with_reason(&self, reason: &str) -> Result<()> {
        self.ack_with(AckKind::TermWithReason(reason.to_string()))
    }

    /// Sends `kind` to the ack subject (queued like a publish; not confirmed).
    pub fn ack_with(&self, kind: AckKind) -> Result<()> {
        self.send_ack(kind, None)
    }

    /// Acknowledges and waits up to `timeout` for the server to confirm it (a round trip).
    pub fn ack_sync(&self, timeout: Duration) -> Result<()> {
        self.send_ack(AckKind::Ack, Some(timeout))
    }

    fn send_ack(&self, kind: AckKind, sync: Option<Duration>) -> Result<()> {
        let reply = self.reply().ok_or_else(|| {
            Error::new(
                ErrorKind::NotJetStreamMessage,
                "the message has no ack subject",
            )
        })?;
        if !reply.starts_with("$JS.ACK.") {
            return Err(Error::new(
                ErrorKind::NotJetStreamMessage,
                format!("'{reply}' is not a JetStream ack subject"),
            ));
        }
        let terminal = kind.is_terminal();
        if terminal {
            if let Err(state) = self.acked.compare_exchange(
                ACK_NONE,
                ACK_SENDING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                let what = if state == ACK_DONE {
                    "already acknowledged"
                } else {
                    "an ack is being sent"
                };
                return Err(Error::new(ErrorKind::AlreadyAcked, what));
            }
        } else if self.acked.load(Ordering::Acquire) != ACK_NONE {
            return Err(Error::new(ErrorKind::AlreadyAcked, "already acknowledged"));
        }
        if self.ack_none {
            if terminal {
                self.acked.store(ACK_DONE, Ordering::Release);
            }
            return Ok(());
        }
        let payload = kind.payload();
        let r = match sync {
            // Sent with the next write or within a millisecond: a stream of acks costs a write
            // per batch, not a wake-up of the writer thread per ack.
            None => self
                .nc
                .handle
                .shared
                .publish_lazy(reply, None, None, &payload),
            Some(t) => self.nc.request_timeout(reply, &payload, t).map(|_| ()),
        };
        if terminal {
            let next = if r.is_ok() { ACK_DONE } else { ACK_NONE };
            self.acked.store(next, Ordering::Release);
        }
        r
    }

    /// `true` once a terminal ack was sent.
    pub fn is_acked(&self) -> bool {
        self.acked.load(Ordering::Acquire) == ACK_DONE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_subject() {
        let m = MessageMetadata::parse("$JS.ACK.ORDERS.worker.2.1005.37.1764599728123456789.12")
            .unwrap();
        assert_eq!(m.stream, "ORDERS");
        assert_eq!(m.consumer, "worker");
        assert_eq!(m.num_delivered, 2);
        assert_eq!(m.stream_sequence, 1005);
        assert_eq!(m.consumer_sequence, 37);
        assert_eq!(
            m.timestamp,
            UNIX_EPOCH + Duration::from_nanos(1_764_599_728_123_456_789)
        );
        assert_eq!(m.num_pending, 12);
        assert_eq!(m.domain, None);
    }

    #[test]
    fn v2_subjects() {
        let m = MessageMetadata::parse("$JS.ACK.hub.ACCHASH.S.C.1.2.3.4.5.rand").unwrap();
        assert_eq!(m.domain.as_deref(), Some("hub"));
        assert_eq!((m.stream.as_str(), m.consumer.as_str()), ("S", "C"));
        assert_eq!(
            (
                m.num_delivered,
                m.stream_sequence,
                m.consumer_sequence,
                m.num_pending
            ),
            (1, 2, 3, 5)
        );
        let m = MessageMetadata::parse("$JS.ACK._.ACCHASH.S.C.1.2.3.4.5").unwrap();
        assert_eq!(m.domain, None);
    }

    #[test]
    fn names_with_multi_byte_characters_split_whole() {
        let m = MessageMetadata::parse("$JS.ACK.ÖRDERS.wörker.1.2.3.4.5").unwrap();
        assert_eq!(
            (m.stream.as_str(), m.consumer.as_str()),
            ("ÖRDERS", "wörker")
        );
        assert_eq!((m.stream_sequence, m.num_pending), (2, 5));
    }

    #[test]
    fn bad_subjects() {
        for s in ["foo.bar", "$JS.ACKX.a", "_INBOX.x"] {
            assert_eq!(
                MessageMetadata::parse(s).unwrap_err().kind(),
                ErrorKind::NotJetStreamMessage,
                "{s}"
            );
        }
        for s in [
            "$JS.ACK.S.C.1.2.3.4",
            "$JS.ACK.S.C.1.2.3.4.5.6",
            "$JS.ACK.S.C.x.2.3.4.5",
            "$JS.ACK.S.C.1.2.3.4.-5",
            "$JS.ACK.S..1.2.3.4.5",
            "$JS.ACK.d.h.S.C.1.2.3.4.99999999999999999999999",
        ] {
            assert_eq!(
                MessageMetadata::parse(s).unwrap_err().kind(),
                ErrorKind::Protocol,
                "{s}"
            );
        }
    }

    #[test]
    fn ack_payloads() {
        assert_eq!(AckKind::Ack.payload(), b"+ACK");
        assert_eq!(AckKind::Nak.payload(), b"-NAK");
        assert_eq!(
            AckKind::NakWithDelay(Duration::from_secs(2)).payload(),
            b"-NAK {\"delay\": 2000000000}"
        );
        assert_eq!(AckKind::InProgress.payload(), b"+WPI");
        assert_eq!(AckKind::Term.payload(), b"+TERM");
        assert_eq!(
            AckKind::TermWithReason("bad input".into()).payload(),
            b"+TERM bad input"
        );
        assert!(!AckKind::InProgress.is_terminal());
        assert!(AckKind::Nak.is_terminal());
    }
}
