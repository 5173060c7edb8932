//! Stream and consumer management: the [`Stream`] handle, paged listings, purge, message get
//! and delete, direct get.

use std::time::SystemTime;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::api::{validate_name, Success};
use super::consumer::{Consumer, ConsumerConfig, ConsumerInfo};
use super::json::{opt_time, parse_rfc3339};
use super::paged::Paged;
pub use super::paged::{ConsumerInfos, ConsumerNames, StreamInfos, StreamNames};
use super::stream::{StreamConfig, StreamInfo};
use super::JetStream;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;

/// What [`Stream::info_with`] should include.
#[derive(Debug, Clone, Default)]
pub struct InfoOptions {
    deleted_details: bool,
    subjects_filter: Option<String>,
}

impl InfoOptions {
    /// Nothing extra.
    pub fn new() -> InfoOptions {
        InfoOptions::default()
    }

    /// Include the deleted sequences ([`StreamState::deleted`](super::StreamState::deleted)).
    pub fn deleted_details(mut self, on: bool) -> Self {
        self.deleted_details = on;
        self
    }

    /// Include the message count of every subject matching `filter`
    /// ([`StreamState::subjects`](super::StreamState::subjects)); all pages are fetched.
    pub fn subjects_filter(mut self, filter: impl Into<String>) -> Self {
        self.subjects_filter = Some(filter.into());
        self
    }
}

/// What [`Stream::purge`] removes: everything by default.
#[derive(Debug, Clone, Default)]
pub struct PurgeOptions {
    filter: Option<String>,
    sequence: Option<u64>,
    keep: Option<u64>,
}

impl PurgeOptions {
    /// Purge every message.
    pub fn new() -> PurgeOptions {
        PurgeOptions::default()
    }

    /// Only messages on subjects matching `filter`.
    pub fn filter(mut self, filter: impl Into<String>) -> Self {
        self.filter = Some(filter.into());
        self
    }

    /// Only messages below sequence `seq` (not `seq` itself). Not with [`keep`](Self::keep).
    pub fn sequence(mut self, seq: u64) -> Self {
        self.sequence = Some(seq);
        self
    }

    /// Keep the newest `n` messages. Not with [`sequence`](Self::sequence).
    pub fn keep(mut self, n: u64) -> Self {
        self.keep = Some(n);
        self
    }
}

/// A message read from a stream by [`Stream::get_msg`] or [`Stream::direct_get`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    /// The subject it was published to.
    pub subject: String,
    /// Its stream sequence.
    pub sequence: u64,
    /// Its headers (for a direct get, the server's `Nats-*` headers too).
    pub headers: Option<Headers>,
    /// Its payload.
    pub payload: Bytes,
    /// When it was stored.
    pub time: Option<SystemTime>,
}

/// Whether a consumer is paused, from [`JetStream::pause_consumer`] and
/// [`JetStream::resume_consumer`].
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ConsumerPause {
    /// Paused now.
    pub paused: bool,
    /// Until when.
    #[serde(with = "opt_time")]
    pub pause_until: Option<SystemTime>,
}

/// A stream: its cached info, and the calls that concern it.
///
/// Cheap to clone. Holds the [`JetStream`] context (and so its connection).
#[derive(Debug, Clone)]
pub struct Stream {
    js: JetStream,
    name: String,
    info: StreamInfo,
}

impl JetStream {
    /// Creates a stream. Creating a stream that exists with the same configuration is `Ok`
    /// (its info is returned); with a different one it fails (`err_code` 10058).
    pub fn create_stream(&self, config: StreamConfig) -> Result<Stream> {
        self.stream_op("CREATE", config)
    }

    /// Updates a stream's configuration; [`ErrorKind::StreamNotFound`] if it does not exist.
    pub fn update_stream(&self, config: StreamConfig) -> Result<Stream> {
        self.stream_op("UPDATE", config)
    }

    /// Updates the stream, or creates it when it does not exist.
    pub fn create_or_update_stream(&self, config: StreamConfig) -> Result<Stream> {
        match self.update_stream(config.clone()) {
            Err(e) if e.kind() == ErrorKind::StreamNotFound => self.create_stream(config),
            r => r,
        }
    }

    fn stream_op(&self, op: &str, config: StreamConfig) -> Result<Stream> {
        validate_name("stream", &config.name)?;
        let info: StreamInfo = self.api_json(&format!("STREAM.{op}.{}", config.name), &config)?;
        Ok(Stream {
            js: self.clone(),
            name: config.name,
            info,
        })
    }

    /// The stream `name` (one info request); [`ErrorKind::StreamNotFound`] if it does not exist.
    pub fn stream(&self, name: &str) -> Result<Stream> {
        validate_name("stream", name)?;
        let info: StreamInfo = self.api(&format!("STREAM.INFO.{name}"), b"")?;
        Ok(Stream {
            js: self.clone(),
            name: name.to_string(),
            info,
        })
    }

    /// Deletes the stream `name` and its consumers.
    pub fn delete_stream(&self, name: &str) -> Result<()> {
        validate_name("stream", name)?;
        let r: Success = self.api(&format!("STREAM.DELETE.{name}"), b"")?;
        expect_success(r, "delete the stream")
    }

    /// The names of every stream, fetched a page at a time as the iterator advances.
    pub fn stream_names(&self) -> StreamNames {
        Paged::new(self.clone(), "STREAM.NAMES".into(), None)
    }

    /// The names of the streams capturing `subject` (wildcards allowed).
    pub fn stream_names_by_subject(&self, subject: &str) -> StreamNames {
        Paged::new(
            self.clone(),
            "STREAM.NAMES".into(),
            Some(subject.to_string()),
        )
    }

    /// The info of every stream, a page at a time.
    pub fn streams(&self) -> StreamInfos {
        Paged::new(self.clone(), "STREAM.LIST".into(), None)
    }

    /// Creates a consumer on `stream` (see [`Stream::create_consumer`]).
    pub fn create_consumer(&self, stream: &str, config: ConsumerConfig) -> Result<Consumer> {
        self.consumer_op(stream, config, Some("create"))
    }

    /// Updates a consumer of `stream` (see [`Stream::update_consumer`]).
    pub fn update_consumer(&self, stream: &str, config: ConsumerConfig) -> Result<Consumer> {
        self.consumer_op(stream, config, Some("update"))
    }

    /// Creates or updates a consumer of `stream`.
    pub fn create_or_update_consumer(
        &self,
        stream: &str,
        config: ConsumerConfig,
    ) -> Result<Consumer> {
        self.consumer_op(stream, config, None)
    }

    /// The consumer `name` of `stream` (one info request).
    pub fn consumer(&self, stream: &str, name: &str) -> Result<Consumer> {
        validate_name("stream", stream)?;
        validate_name("consumer", name)?;
        let info: ConsumerInfo = self.api(&format!("CONSUMER.INFO.{stream}.{name}"), b"")?;
        Ok(Consumer::new(self.clone(), info))
    }

    /// Deletes the consumer `name` of `stream`.
    pub fn delete_consumer(&self, stream: &str, name: &str) -> Result<()> {
        validate_name("stream", stream)?;
        validate_name("consumer", name)?;
        let r: Success = self.api(&format!("CONSUMER.DELETE.{stream}.{name}"), b"")?;
        expect_success(r, "delete the consumer")
    }

    /// Pauses the consumer `name` of `stream` until `until` (nats-server 2.11+): it delivers
    /// nothing meanwhile. Returns whether it is paused and until when.
    pub fn pause_consumer(
        &self,
        stream: &str,
        name: &str,
        until: SystemTime,
    ) -> Result<ConsumerPause> {
        self.pause_op(stream, name, Some(until))
    }

    /// Resumes a paused consumer.
    pub fn resume_consumer(&self, stream: &str, name: &str) -> Result<ConsumerPause> {
        self.pause_op(stream, name, None)
    }

    fn pause_op(
        &self,
        stream: &str,
        name: &str,
        until: Option<SystemTime>,
    ) -> Result<ConsumerPause> {
        validate_name("stream", stream)?;
        validate_name("consumer", name)?;
        #[derive(Serialize)]
        struct Req {
            #[serde(with = "opt_time", skip_serializing_if = "Option::is_none")]
            pause_until: Option<SystemTime>,
        }
        self.api_json(
            &format!("CONSUMER.PAUSE.{stream}.{name}"),
            &Req { pause_until: until },
        )
    }

    pub(crate) fn consumer_op(
        &self,
        stream: &str,
        mut config: ConsumerConfig,
        action: Option<&str>,
    ) -> Result<Consumer> {
        validate_name("stream", stream)?;
        if !config.name.is_empty()
            && !config.durable_name.is_empty()
            && config.name != config.durable_name
        {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "a consumer's name and durable name differ",
            ));
        }
        if config.effective_name().is_empty() {
            if action == Some("update") {
                return Err(Error::new(
                    ErrorKind::InvalidName,
                    "updating a consumer needs its name",
                ));
            }
            // Name ephemerals here (as nats.go does), so the named CREATE subject is used.
            config.name = nuid::next().to_string();
        }
        let name = config.effective_name().to_string();
        validate_name("consumer", &name)?;
        #[derive(Serialize)]
        struct Req<'a> {
            stream_name: &'a str,
            config: &'a ConsumerConfig,
            #[serde(skip_serializing_if = "Option::is_none")]
            action: Option<&'a str>,
        }
        let req = Req {
            stream_name: stream,
            config: &config,
            action,
        };
        let info: ConsumerInfo =
            self.api_json(&format!("CONSUMER.CREATE.{stream}.{name}"), &req)?;
        Ok(Consumer::new(self.clone(), info))
    }
}

fn expect_success(r: Success, what: &str) -> Result<()> {
    if r.success {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::JetStream,
            format!("the server did not {what}"),
        ))
    }
}

impl Stream {
    /// The stream's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The info as of the last [`info`](Stream::info) (or creation), without a request.
    pub fn cached_info(&self) -> &StreamInfo {
        &self.info
    }

    /// The context this stream uses.
    pub fn jetstream(&self) -> &JetStream {
        &self.js
    }

    /// Fetches the stream's info (and caches it).
    pub fn info(&mut self) -> Result<StreamInfo> {
        self.info_with(InfoOptions::default())
    }

    /// Fetches the stream's info with deleted sequences and/or per-subject counts; the
    /// subject counts come in pages (100,000 subjects each), all fetched here.
    pub fn info_with(&mut self, options: InfoOptions) -> Result<StreamInfo> {
        #[derive(Serialize)]
        struct Req<'a> {
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            deleted_details: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            subjects_filter: Option<&'a str>,
            #[serde(skip_serializing_if = "is_zero")]
            offset: usize,
        }
        #[derive(Deserialize)]
        struct Reply {
            #[serde(flatten)]
            info: StreamInfo,
            #[serde(default)]
            total: usize,
        }
        let suffix = format!("STREAM.INFO.{}", self.name);
        let mut offset = 0;
        let mut info: Option<StreamInfo> = None;
        loop {
            let req = Req {
                deleted_details: options.deleted_details,
                subjects_filter: options.subjects_filter.as_deref(),
                offset,
            };
            let r: Reply = self.js.api_json(&suffix, &req)?;
            let got = r.info.state.subjects.len();
            offset += got;
            let total = r.total;
            match &mut info {
                None => info = Some(r.info),
                Some(i) => i.state.subjects.extend(r.info.state.subjects),
            }
            if options.subjects_filter.is_none() || got == 0 || offset >= total {
                break;
            }
        }
        let info = info.expect("at least one page");
        self.info = info.clone();
        Ok(info)
    }

    /// Purges messages (all, or as `options` say); returns how many were removed.
    pub fn purge(&self, options: PurgeOptions) -> Result<u64> {
        if options.sequence.is_some() && options.keep.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "purge takes a sequence or a keep count, not both",
            ));
        }
        #[derive(Serialize)]
        struct Req<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            filter: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            seq: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            keep: Option<u64>,
        }
        #[derive(Deserialize)]
        struct Reply {
            #[serde(default)]
            success: bool,
            #[serde(default)]
            purged: u64,
        }
        let r: Reply = self.js.api_json(
            &format!("STREAM.PURGE.{}", self.name),
            &Req {
                filter: options.filter.as_deref(),
                seq: options.sequence,
                keep: options.keep,
            },
        )?;
        if !r.success {
            return Err(Error::new(ErrorKind::JetStream, "the server did not purge"));
        }
        Ok(r.purged)
    }

    /// The message at stream sequence `seq` (from the stream's leader); a missing one is
    /// [`ErrorKind::MessageNotFound`].
    pub fn get_msg(&self, seq: u64) -> Result<RawMessage> {
        self.msg_get(&serde_json::json!({ "seq": seq }))
    }

    /// The last message on `subject` (from the stream's leader).
    pub fn get_last_msg(&self, subject: &str) -> Result<RawMessage> {
        crate::subject::validate_subscribe(subject)?;
        self.msg_get(&serde_json::json!({ "last_by_subj": subject }))
    }

    fn msg_get(&self, req: &serde_json::Value) -> Result<RawMessage> {
        #[derive(Deserialize)]
        struct Stored {
            subject: String,
            seq: u64,
            #[serde(default)]
            hdrs: Option<String>,
            #[serde(default)]
            data: Option<String>,
            #[serde(default, with = "opt_time")]
            time: Option<SystemTime>,
        }
        #[derive(Deserialize)]
        struct Reply {
            message: Stored,
        }
        let r: Reply = self
            .js
            .api_json(&format!("STREAM.MSG.GET.{}", self.name), req)?;
        let m = r.message;
        let b64 = |s: Option<String>| -> Result<Vec<u8>> {
            match s {
                None => Ok(Vec::new()),
                Some(s) => data_encoding::BASE64.decode(s.as_bytes()).map_err(|e| {
                    Error::new(ErrorKind::Protocol, "bad base64 in a stored message").with_source(e)
                }),
            }
        };
        let hdrs = b64(m.hdrs)?;
        let headers = if hdrs.is_empty() {
            None
        } else {
            Some(parse_header_block(&hdrs)?)
        };
        Ok(RawMessage {
            subject: m.subject,
            sequence: m.seq,
            headers,
            payload: Bytes::from(b64(m.data)?),
            time: m.time,
        })
    }

    /// The message at `seq` by direct get: any replica or mirror answers (no
    /// read-after-write guarantee). Needs `allow_direct` on the stream.
    pub fn direct_get(&self, seq: u64) -> Result<RawMessage> {
        let body = format!("{{\"seq\":{seq}}}");
        self.direct(&format!("DIRECT.GET.{}", self.name), body.as_bytes())
    }

    /// The last message on `subject` by direct get. Needs `allow_direct` on the stream.
    pub fn direct_get_last(&self, subject: &str) -> Result<RawMessage> {
        crate::subject::validate_publish(subject)?;
        self.direct(&format!("DIRECT.GET.{}.{subject}", self.name), b"")
    }

    fn direct(&self, suffix: &str, body: &[u8]) -> Result<RawMessage> {
        let subject = format!("{}{suffix}", self.js.prefix);
        let msg = match self.js.nc.request_timeout(&subject, body, self.js.timeout) {
            Ok(m) => m,
            Err(e) if e.kind() == ErrorKind::NoResponders => {
                return Err(Error::new(
                    ErrorKind::JetStream,
                    format!(
                    "no direct get responder for stream '{}' (does it exist, with allow_direct?)",
                    self.name
                ),
                ))
            }
            Err(e) => return Err(e),
        };
        if let Some(status) = msg.status() {
            let desc = msg
                .headers
                .as_ref()
                .and_then(|h| h.description())
                .unwrap_or("")
                .to_string();
            let kind = if status == 404 {
                ErrorKind::MessageNotFound
            } else {
                ErrorKind::JetStream
            };
            return Err(Error::new(kind, format!("direct get: {status} {desc}")));
        }
        let headers = msg
            .headers
            .ok_or_else(|| Error::new(ErrorKind::Protocol, "a direct get reply without headers"))?;
        let get = |name: &str| {
            headers.get(name).map(str::to_string).ok_or_else(|| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("a direct get reply without {name}"),
                )
            })
        };
        let subject = get("Nats-Subject")?;
        let sequence = get("Nats-Sequence")?.parse::<u64>().map_err(|_| {
            Error::new(
                ErrorKind::Protocol,
                "a direct get reply with a bad Nats-Sequence",
            )
        })?;
        let time = headers
            .get("Nats-Time-Stamp")
            .and_then(|t| parse_rfc3339(t).ok().flatten());
        Ok(RawMessage {
            subject,
            sequence,
            headers: Some(headers),
            payload: msg.payload,
            time,
        })
    }

    /// Deletes the message at `seq` (marks it deleted; its bytes are not overwritten).
    pub fn delete_msg(&self, seq: u64) -> Result<()> {
        self.msg_delete(seq, true)
    }

    /// Deletes the message at `seq` and overwrites its bytes on disk.
    pub fn erase_msg(&self, seq: u64) -> Result<()> {
        self.msg_delete(seq, false)
    }

    fn msg_delete(&self, seq: u64, no_erase: bool) -> Result<()> {
        let body = serde_json::json!({ "seq": seq, "no_erase": no_erase });
        let r: Success = self
            .js
            .api_json(&format!("STREAM.MSG.DELETE.{}", self.name), &body)?;
        expect_success(r, "delete the message")
    }

    /// Creates a consumer. Creating one that exists with the same configuration is `Ok`;
    /// with a different one it fails (`err_code` 10148). Without a name the consumer is
    /// ephemeral and natsws names it.
    pub fn create_consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        self.js.create_consumer(&self.name, config)
    }

    /// Updates a consumer; fails (`err_code` 10149) if it does not exist.
    pub fn update_consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        self.js.update_consumer(&self.name, config)
    }

    /// Creates or updates a consumer.
    pub fn create_or_update_consumer(&self, config: ConsumerConfig) -> Result<Consumer> {
        self.js.create_or_update_consumer(&self.name, config)
    }

    /// The consumer `name` (one info request); [`ErrorKind::ConsumerNotFound`] if missing.
    pub fn consumer(&self, name: &str) -> Result<Consumer> {
        self.js.consumer(&self.name, name)
    }

    /// Deletes the consumer `name`.
    pub fn delete_consumer(&self, name: &str) -> Result<()> {
        self.js.delete_consumer(&self.name, name)
    }

    /// The names of the stream's consumers, a page at a time.
    pub fn consumer_names(&self) -> ConsumerNames {
        Paged::new(
            self.js.clone(),
            format!("CONSUMER.NAMES.{}", self.name),
            None,
        )
    }

    /// The info of the stream's consumers, a page at a time.
    pub fn consumers(&self) -> ConsumerInfos {
        Paged::new(
            self.js.clone(),
            format!("CONSUMER.LIST.{}", self.name),
            None,
        )
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Parses a `NATS/1.0` header block as stored in a stream (`STREAM.MSG.GET`'s `hdrs`).
fn parse_header_block(block: &[u8]) -> Result<Headers> {
    let bad = || {
        Error::new(
            ErrorKind::Protocol,
            "unreadable headers in a stored message",
        )
    };
    let text = std::str::from_utf8(block).map_err(|_| bad())?;
    let mut lines = text.split("\r\n");
    let first = lines.next().ok_or_else(bad)?;
    let status = first.strip_prefix("NATS/1.0").ok_or_else(bad)?.trim();
    let mut headers = Headers::new();
    if !status.is_empty() {
        let (code, desc) = status.split_once(' ').unwrap_or((status, ""));
        let code: u16 = code.parse().map_err(|_| bad())?;
        let desc = desc.trim();
        headers.set_status(code, (!desc.is_empty()).then_some(desc));
    }
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or_else(bad)?;
        headers.append(name.trim(), value.trim());
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_header_blocks() {
        let h = parse_header_block(b"NATS/1.0\r\nA: 1\r\nA: 2\r\nNats-Msg-Id: x\r\n\r\n").unwrap();
        assert_eq!(h.get_all("A").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(h.get("Nats-Msg-Id"), Some("x"));
        let h = parse_header_block(b"NATS/1.0 404 Not Found\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(404));
        for bad in [
            &b"HTTP/1.1\r\n\r\n"[..],
            b"NATS/1.0\r\nno colon\r\n\r\n",
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse_header_block(bad).unwrap_err().kind(),
                ErrorKind::Protocol
            );
        }
    }
}
