//! Publishing to streams and waiting for each ack ([`JetStream::publish`]); the options and
//! ack shared with the pipelined form (`publish_async.rs`).

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::api::api_error;
use super::JetStream;
use crate::error::{ApiError, Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::message::Message;
use crate::time::deadline_after;

/// How long to wait before resending a publish nobody answered (ADR-22, nats.go).
pub(crate) const RETRY_WAIT: Duration = Duration::from_millis(250);
/// Resends after a no-responders answer (ADR-22, nats.go): three attempts in all.
pub(crate) const RETRY_ATTEMPTS: u8 = 2;

/// The `Nats-Rollup` header: the stream (with `allow_rollup_hdrs`) keeps only this message
/// of its subject ([`ROLLUP_SUBJECT`]) or of the whole stream ([`ROLLUP_ALL`]).
pub const ROLLUP: &str = "Nats-Rollup";
/// [`ROLLUP`] value: roll up the message's subject.
pub const ROLLUP_SUBJECT: &str = "sub";
/// [`ROLLUP`] value: roll up the whole stream.
pub const ROLLUP_ALL: &str = "all";

/// The stream's acknowledgement of a stored message.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PubAck {
    /// The stream that stored it.
    pub stream: String,
    /// Its stream sequence.
    pub sequence: u64,
    /// `true` when a message with the same `Nats-Msg-Id` was already stored within the
    /// duplicate window (then `sequence` is the original's).
    pub duplicate: bool,
    /// The JetStream domain, if any.
    pub domain: Option<String>,
}

/// Headers and expectations for a publish ([`JetStream::publish_with`]).
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    msg_id: Option<String>,
    expected_stream: Option<String>,
    expected_last_seq: Option<u64>,
    expected_last_subject_seq: Option<u64>,
    expected_last_subject_seq_subject: Option<String>,
    expected_last_msg_id: Option<String>,
    ttl: Option<Duration>,
    headers: Option<Headers>,
    pub(crate) timeout: Option<Duration>,
}

impl PublishOptions {
    /// No headers, the context's timeout.
    pub fn new() -> PublishOptions {
        PublishOptions::default()
    }

    /// `Nats-Msg-Id`: the stream stores one message per id within its duplicate window.
    pub fn msg_id(mut self, id: impl Into<String>) -> Self {
        self.msg_id = Some(id.into());
        self
    }

    /// `Nats-Expected-Stream`: fail unless this stream captures the subject.
    pub fn expected_stream(mut self, stream: impl Into<String>) -> Self {
        self.expected_stream = Some(stream.into());
        self
    }

    /// `Nats-Expected-Last-Sequence`: fail ([`ErrorKind::WrongLastSequence`]) unless the
    /// stream's last sequence is `seq`.
    pub fn expected_last_sequence(mut self, seq: u64) -> Self {
        self.expected_last_seq = Some(seq);
        self
    }

    /// `Nats-Expected-Last-Subject-Sequence`: fail ([`ErrorKind::WrongLastSequence`]) unless
    /// the last message on the subject has sequence `seq` (0: there is none).
    pub fn expected_last_subject_sequence(mut self, seq: u64) -> Self {
        self.expected_last_subject_seq = Some(seq);
        self
    }

    /// `Nats-Expected-Last-Subject-Sequence-Subject`: the subject (filter) the expected last
    /// subject sequence refers to, instead of the published subject.
    pub fn expected_last_subject_sequence_subject(mut self, subject: impl Into<String>) -> Self {
        self.expected_last_subject_seq_subject = Some(subject.into());
        self
    }

    /// `Nats-Expected-Last-Msg-Id`: fail unless the stream's last message has this id.
    pub fn expected_last_msg_id(mut self, id: impl Into<String>) -> Self {
        self.expected_last_msg_id = Some(id.into());
        self
    }

    /// `Nats-TTL`: the message expires after `ttl` (at least 1 s; the stream needs
    /// `allow_msg_ttl`).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Headers of the message (the options' headers are added to them).
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers = Some(headers);
        self
    }

    /// How long to wait for the ack (default: the context's timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    fn is_plain(&self) -> bool {
        self.msg_id.is_none()
            && self.expected_stream.is_none()
            && self.expected_last_seq.is_none()
            && self.expected_last_subject_seq.is_none()
            && self.expected_last_subject_seq_subject.is_none()
            && self.expected_last_msg_id.is_none()
            && self.ttl.is_none()
            && self.headers.is_none()
    }

    /// The headers to send: `base` (a message's own), the options' headers, then the
    /// JetStream ones. `None` when there are none.
    pub(crate) fn build_headers(&self, base: Option<&Headers>) -> Option<Headers> {
        if self.is_plain() {
            return base.cloned();
        }
        let mut h = base.cloned().unwrap_or_default();
        if let Some(extra) = &self.headers {
            for (k, v) in extra.iter() {
                h.append(k, v);
            }
        }
        if let Some(v) = &self.msg_id {
            h.insert("Nats-Msg-Id", v.as_str());
        }
        if let Some(v) = &self.expected_stream {
            h.insert("Nats-Expected-Stream", v.as_str());
        }
        if let Some(v) = self.expected_last_seq {
            h.insert("Nats-Expected-Last-Sequence", v.to_string());
        }
        if let Some(v) = self.expected_last_subject_seq {
            h.insert("Nats-Expected-Last-Subject-Sequence", v.to_string());
        }
        if let Some(v) = &self.expected_last_subject_seq_subject {
            h.insert("Nats-Expected-Last-Subject-Sequence-Subject", v.as_str());
        }
        if let Some(v) = &self.expected_last_msg_id {
            h.insert("Nats-Expected-Last-Msg-Id", v.as_str());
        }
        if let Some(ttl) = self.ttl {
            h.insert("Nats-TTL", format_ttl(ttl));
        }
        Some(h)
    }
}

/// A TTL as nats-server reads it (a Go duration).
fn format_ttl(ttl: Duration) -> String {
    if ttl.subsec_nanos() == 0 {
        format!("{}s", ttl.as_secs())
    } else {
        format!("{}ms", ttl.as_millis().max(1))
    }
}

#[derive(Deserialize)]
struct AckReply {
    #[serde(default)]
    error: Option<ApiError>,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    seq: u64,
    #[serde(default)]
    duplicate: bool,
    #[serde(default)]
    domain: Option<String>,
}

/// Reads a stream's reply to a publish.
pub(crate) fn parse_ack(msg: &Message) -> Result<PubAck> {
    parse_ack_parts(msg.headers.as_ref(), &msg.payload)
}

/// Reads a stream's reply to a publish, from its headers and payload.
pub(crate) fn parse_ack_parts(headers: Option<&Headers>, payload: &[u8]) -> Result<PubAck> {
    if let Some(status) = headers.and_then(Headers::status) {
        let desc = headers.and_then(Headers::description).unwrap_or("");
        let kind = if status == 503 {
            ErrorKind::NoResponders
        } else {
            ErrorKind::JetStream
        };
        return Err(Error::new(
            kind,
            format!("publish answered {status} {desc}"),
        ));
    }
    if let Some(ack) = plain_ack(payload) {
        return Ok(ack);
    }
    let r: AckReply = serde_json::from_slice(payload).map_err(|e| {
        Error::new(ErrorKind::Protocol, "malformed JetStream publish ack").with_source(e)
    })?;
    if let Some(api) = r.error {
        return Err(api_error(api));
    }
    if r.stream.is_empty() {
        return Err(Error::new(
            ErrorKind::Protocol,
            "a JetStream publish ack without a stream",
        ));
    }
    Ok(PubAck {
        stream: r.stream,
        sequence: r.seq,
        duplicate: r.duplicate,
        domain: r.domain,
    })
}

/// The ack as nats-server writes it for a stored message, `{"stream":"S","seq":N}` (with
/// `,"duplicate":true` for a duplicate), read without serde: the pipelined publisher reads one
/// per message, and serde's general path was a fifth of its thread. `None` for anything else
/// (a domain, an error, escapes, other fields or spacing), which serde then reads: every ack
/// read here reads the same through serde (a test holds both to that).
fn plain_ack(payload: &[u8]) -> Option<PubAck> {
    let rest = payload.strip_prefix(b"{\"stream\":\"")?;
    let end = memchr::memchr(b'"', rest)?;
    let name = &rest[..end];
    // No escapes, no control characters (JSON has none unescaped): serde reads those.
    if name.is_empty() || name.iter().any(|&b| b == b'\\' || b < 0x20) {
        return None;
    }
    let stream = std::str::from_utf8(name).ok()?;
    let rest = rest[end..].strip_prefix(b"\",\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    // JSON numbers have no leading zeros.
    if digits == 0 || (digits > 1 && rest[0] == b'0') {
        return None;
    }
    let sequence = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let duplicate = match &rest[digits..] {
        b"}" => false,
        b",\"duplicate\":true}" => true,
        _ => return None,
    };
    Some(PubAck {
        stream: stream.to_string(),
        sequence,
        duplicate,
        domain: None,
    })
}

pub(crate) fn no_stream(subject: &str) -> Error {
    Error::new(
        ErrorKind::NoResponders,
        format!("no stream captures '{subject}' (no answer after 3 attempts)"),
    )
}

impl JetStream {
    /// Publishes `payload` to `subject` and waits for the stream's ack (at most the
    /// context's timeout). A subject no stream captures fails with
    /// [`ErrorKind::NoResponders`] after two resends 250 ms apart (ADR-22), not after the
    /// timeout.
    pub fn publish(&self, subject: &str, payload: impl AsRef<[u8]>) -> Result<PubAck> {
        self.publish_inner(subject, None, payload.as_ref(), &PublishOptions::default())
    }

    /// [`publish`](JetStream::publish) with headers and expectations.
    pub fn publish_with(
        &self,
        subject: &str,
        payload: impl AsRef<[u8]>,
        options: &PublishOptions,
    ) -> Result<PubAck> {
        self.publish_inner(subject, None, payload.as_ref(), options)
    }

    /// Publishes a [`Message`] (its subject, headers and payload; its reply subject is
    /// ignored) and waits for the ack.
    pub fn publish_message(&self, msg: &Message, options: &PublishOptions) -> Result<PubAck> {
        self.publish_inner(&msg.subject, msg.headers.as_ref(), &msg.payload, options)
    }

    fn publish_inner(
        &self,
        subject: &str,
        base: Option<&Headers>,
        payload: &[u8],
        options: &PublishOptions,
    ) -> Result<PubAck> {
        crate::subject::validate_publish(subject)?;
        let headers = options.build_headers(base);
        let timeout = options.timeout.unwrap_or(self.timeout);
        let deadline = deadline_after(timeout);
        let mut attempt = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply =
                self.nc
                    .request_with_headers_timeout(subject, headers.as_ref(), payload, left);
            match reply {
                Ok(m) => return parse_ack(&m),
                Err(e) if e.kind() == ErrorKind::NoResponders => {
                    if attempt == RETRY_ATTEMPTS {
                        return Err(no_stream(subject));
                    }
                    attempt += 1;
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left <= RETRY_WAIT {
                        return Err(no_stream(subject));
                    }
                    std::thread::sleep(RETRY_WAIT);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(payload: &str) -> Message {
        Message::new("_INBOX.x", payload.to_string())
    }

    /// What serde makes of `payload` (the general path).
    fn through_serde(payload: &[u8]) -> Option<PubAck> {
        let r: AckReply = serde_json::from_slice(payload).ok()?;
        (r.error.is_none() && !r.stream.is_empty()).then_some(PubAck {
            stream: r.stream,
            sequence: r.seq,
            duplicate: r.duplicate,
            domain: r.domain,
        })
    }

    #[test]
    fn the_plain_ack_reader_reads_what_serde_reads_or_declines() {
        let taken = [
            r#"{"stream":"PEERS","seq":1}"#,
            r#"{"stream":"S","seq":0}"#,
            r#"{"stream":"ÖRDERS","seq":18446744073709551615}"#,
            r#"{"stream":"S","seq":42,"duplicate":true}"#,
        ];
        for p in taken {
            let fast = plain_ack(p.as_bytes()).unwrap_or_else(|| panic!("declined {p}"));
            assert_eq!(Some(&fast), through_serde(p.as_bytes()).as_ref(), "{p}");
            assert_eq!(parse_ack(&reply(p)).unwrap(), fast);
        }
        let declined = [
            r#"{"stream":"S","seq":7,"domain":"hub"}"#,
            r#"{"stream":"S","domain":"hub","seq":7}"#,
            r#"{"stream":"S","seq":7,"duplicate":false}"#,
            r#"{"stream":"S\"x","seq":1}"#,
            r#"{"stream":"S\u0041","seq":1}"#,
            r#"{"stream":"","seq":1}"#,
            r#"{"stream":"S","seq":007}"#,
            r#"{"stream":"S","seq":18446744073709551616}"#,
            r#"{"stream":"S","seq":-1}"#,
            r#"{"stream":"S","seq":1.5}"#,
            r#"{"stream":"S","seq":1} "#,
            r#"{"stream": "S","seq":1}"#,
            r#"{"seq":1,"stream":"S"}"#,
            r#"{"error":{"code":503,"err_code":10076,"description":"x"},"stream":"S","seq":1}"#,
            "{\"stream\":\"S\u{1}\",\"seq\":1}",
            r#"{"stream":"S","seq":1"#,
            "",
        ];
        for p in declined {
            assert_eq!(plain_ack(p.as_bytes()), None, "{p}");
        }
        // Bytes that are not UTF-8 in the name: declined, and serde refuses them too.
        let bad = b"{\"stream\":\"S\xff\",\"seq\":1}";
        assert_eq!(plain_ack(bad), None);
        assert_eq!(through_serde(bad), None);
    }

    #[test]
    fn acks() {
        let a = parse_ack(&reply(r#"{"stream":"S","seq":7,"domain":"hub"}"#)).unwrap();
        assert_eq!(
            (a.stream.as_str(), a.sequence, a.duplicate),
            ("S", 7, false)
        );
        assert_eq!(a.domain.as_deref(), Some("hub"));
        let d = parse_ack(&reply(r#"{"stream":"S","seq":7,"duplicate":true}"#)).unwrap();
        assert!(d.duplicate);
        let e = parse_ack(&reply(
            r#"{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}}"#,
        ))
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WrongLastSequence);
        for bad in ["", "{}", r#"{"seq":1}"#, "[", r#"{"stream":5}"#] {
            assert_eq!(
                parse_ack(&reply(bad)).unwrap_err().kind(),
                ErrorKind::Protocol,
                "{bad}"
            );
        }
        let mut h = Headers::new();
        h.set_status(503, None);
        let nr = Message::new("x", "").with_headers(h);
        assert_eq!(parse_ack(&nr).unwrap_err().kind(), ErrorKind::NoResponders);
    }

    #[test]
    fn option_headers() {
        assert!(PublishOptions::new().build_headers(None).is_none());
        let mut base = Headers::new();
        base.insert("A", "1");
        let h = PublishOptions::new()
            .msg_id("m1")
            .expected_stream("S")
            .expected_last_sequence(4)
            .expected_last_subject_sequence(0)
            .expected_last_subject_sequence_subject("a.*")
            .expected_last_msg_id("m0")
            .ttl(Duration::from_secs(2))
            .build_headers(Some(&base))
            .unwrap();
        assert_eq!(h.get("A"), Some("1"));
        assert_eq!(h.get("Nats-Msg-Id"), Some("m1"));
        assert_eq!(h.get("Nats-Expected-Stream"), Some("S"));
        assert_eq!(h.get("Nats-Expected-Last-Sequence"), Some("4"));
        assert_eq!(h.get("Nats-Expected-Last-Subject-Sequence"), Some("0"));
        assert_eq!(
            h.get("Nats-Expected-Last-Subject-Sequence-Subject"),
            Some("a.*")
        );
        assert_eq!(h.get("Nats-Expected-Last-Msg-Id"), Some("m0"));
        assert_eq!(h.get("Nats-TTL"), Some("2s"));
        assert_eq!(format_ttl(Duration::from_millis(1500)), "1500ms");
    }
}
