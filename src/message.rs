//! [`Message`]: what subscriptions yield and what `publish_message` sends.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::connection::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;

/// A NATS message.
///
/// Received messages carry the subject they were published to, the reply subject if the
/// publisher expects an answer (answer with [`respond`](Message::respond)), headers if any, and
/// the payload. To build one for [`Connection::publish_message`](crate::Connection::publish_message),
/// use [`Message::new`] and the `with_*` methods.
#[non_exhaustive]
#[derive(Clone)]
pub struct Message {
    /// The subject the message was published to.
    pub subject: String,
    /// Where to send an answer, if the publisher wants one.
    pub reply: Option<String>,
    /// Headers, including the status line for status messages (e.g. 503 no responders).
    pub headers: Option<Headers>,
    /// The payload.
    pub payload: Bytes,
    /// The connection that received it, kept only when there is a reply subject to answer.
    pub(crate) conn: Option<Arc<Shared>>,
}

impl Message {
    /// A message for `subject` with this payload, no reply subject and no headers.
    pub fn new(subject: impl Into<String>, payload: impl Into<Bytes>) -> Message {
        Message {
            subject: subject.into(),
            reply: None,
            headers: None,
            payload: payload.into(),
            conn: None,
        }
    }

    /// Sets the reply subject.
    pub fn with_reply(mut self, reply: impl Into<String>) -> Message {
        self.reply = Some(reply.into());
        self
    }

    /// Sets the headers.
    pub fn with_headers(mut self, headers: Headers) -> Message {
        self.headers = Some(headers);
        self
    }

    /// The status code of a status message (`NATS/1.0 503`), if it is one.
    pub fn status(&self) -> Option<u16> {
        self.headers.as_ref().and_then(Headers::status)
    }

    /// `true` for the server's "no responders" answer to a request: status 503, empty payload.
    pub fn is_no_responders(&self) -> bool {
        self.status() == Some(503) && self.payload.is_empty()
    }

    /// Publishes `payload` to this message's reply subject, on the connection it arrived on.
    ///
    /// Fails with [`ErrorKind::InvalidSubject`] when the message has no reply subject, and with
    /// [`ErrorKind::Closed`] when the connection is gone.
    pub fn respond(&self, payload: impl AsRef<[u8]>) -> Result<()> {
        self.respond_inner(None, payload.as_ref())
    }

    /// Like [`respond`](Message::respond), with headers.
    pub fn respond_with_headers(&self, headers: &Headers, payload: impl AsRef<[u8]>) -> Result<()> {
        self.respond_inner(Some(headers), payload.as_ref())
    }

    fn respond_inner(&self, headers: Option<&Headers>, payload: &[u8]) -> Result<()> {
        let reply = self.reply.as_deref().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidSubject,
                "cannot respond: the message has no reply subject",
            )
        })?;
        let conn = self.conn.as_ref().ok_or_else(|| {
            Error::new(
                ErrorKind::Closed,
                "cannot respond: the message was not received on a connection",
            )
        })?;
        conn.publish_urgent(reply, None, headers, payload, None)
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("subject", &self.subject)
            .field("reply", &self.reply)
            .field("headers", &self.headers)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Message) -> bool {
        self.subject == other.subject
            && self.reply == other.reply
            && self.headers == other.headers
            && self.payload == other.payload
    }
}
