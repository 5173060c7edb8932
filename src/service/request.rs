//! [`Request`]: one request to an endpoint, answered with data or with a service error, and
//! [`ServiceError`]: how a caller reads that error back.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::endpoint::EndpointShared;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::message::Message;

/// The header that carries a service error's description (ADR-32).
pub const ERROR_HEADER: &str = "Nats-Service-Error";
/// The header that carries a service error's numeric code (ADR-32).
pub const ERROR_CODE_HEADER: &str = "Nats-Service-Error-Code";

/// A request to a service endpoint.
///
/// Answer it once with [`respond`](Request::respond) (or a sibling), or with
/// [`respond_error`](Request::respond_error). The endpoint's statistics count the request when
/// it is answered — or dropped unanswered — and its processing time runs from when it was
/// taken from the endpoint until then. A request dropped while its thread panics is answered
/// with error 500 (`handler panicked`), so the caller learns at once instead of timing out.
pub struct Request {
    msg: Message,
    taken: Instant,
    ep: Arc<EndpointShared>,
    done: AtomicBool,
}

impl Request {
    /// A request taken by a read, which already counted it in flight.
    pub(crate) fn new(msg: Message, ep: Arc<EndpointShared>) -> Request {
        Request {
            msg,
            taken: Instant::now(),
            ep,
            done: AtomicBool::new(false),
        }
    }

    /// The subject the request was sent to (an endpoint subject may have wildcards).
    pub fn subject(&self) -> &str {
        &self.msg.subject
    }

    /// The request's payload.
    pub fn payload(&self) -> &Bytes {
        &self.msg.payload
    }

    /// The request's headers, if it has any.
    pub fn headers(&self) -> Option<&Headers> {
        self.msg.headers.as_ref()
    }

    /// The whole message.
    pub fn message(&self) -> &Message {
        &self.msg
    }

    /// The name of the endpoint that received it.
    pub fn endpoint(&self) -> &str {
        &self.ep.name
    }

    /// Answers with `payload`.
    pub fn respond(&self, payload: impl AsRef<[u8]>) -> Result<()> {
        self.answer(None, || self.msg.respond(payload))
    }

    /// Answers with headers and `payload`.
    pub fn respond_with_headers(&self, headers: &Headers, payload: impl AsRef<[u8]>) -> Result<()> {
        self.answer(None, || self.msg.respond_with_headers(headers, payload))
    }

    /// Answers with `value` as JSON.
    pub fn respond_json<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        let body = serde_json::to_vec(value).map_err(|e| {
            Error::new(
                ErrorKind::InvalidOption,
                "the response cannot be written as JSON",
            )
            .with_source(e)
        })?;
        self.respond(body)
    }

    /// Answers with a service error: the `Nats-Service-Error-Code` and `Nats-Service-Error`
    /// headers (read back with [`Message::service_error`]) and an optional payload. The
    /// endpoint counts an error and keeps `"<code>:<description>"` as its last error.
    ///
    /// An empty description, or one with CR or LF, is refused with
    /// [`ErrorKind::InvalidHeader`] and nothing is sent (the request stays unanswered).
    pub fn respond_error(
        &self,
        code: u16,
        description: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<()> {
        if description.is_empty() || description.contains(['\r', '\n']) {
            return Err(Error::new(
                ErrorKind::InvalidHeader,
                format!(
                    "a service error needs a one-line, non-empty description, not {description:?}"
                ),
            ));
        }
        let headers = error_headers(code, description);
        self.answer(Some((code, description)), || {
            self.msg.respond_with_headers(&headers, payload)
        })
    }

    /// Sends an answer. The first answer counts the request in the endpoint's stats before
    /// it goes out (a caller that asks STATS after reading its reply sees it counted); an
    /// answer that cannot be sent counts as an error too.
    fn answer(&self, error: Option<(u16, &str)>, send: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.done.swap(true, Ordering::AcqRel) {
            return send();
        }
        let counted_error = error.is_some();
        let last_error = error.map(|(code, desc)| format!("{code}:{desc}"));
        self.ep.counters.record(self.taken.elapsed(), last_error);
        let sent = send();
        if let Err(e) = &sent {
            let why = format!("500:the response could not be sent: {e}");
            self.ep.counters.record_error(why, !counted_error);
        }
        self.ep.done_one();
        sent
    }
}

fn error_headers(code: u16, description: &str) -> Headers {
    let mut h = Headers::new();
    h.insert(ERROR_HEADER, description);
    h.insert(ERROR_CODE_HEADER, code.to_string());
    h
}

impl Drop for Request {
    fn drop(&mut self) {
        if self.done.load(Ordering::Acquire) {
            return;
        }
        if std::thread::panicking() {
            const WHY: &str = "handler panicked";
            let headers = error_headers(500, WHY);
            let _ = self.answer(Some((500, WHY)), || {
                self.msg.respond_with_headers(&headers, b"")
            });
        } else {
            let _ = self.answer(None, || Ok(()));
        }
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("endpoint", &self.ep.name)
            .field("subject", &self.msg.subject)
            .field("payload_len", &self.msg.payload.len())
            .finish()
    }
}

/// A service's error answer, as a caller reads it from the reply: see
/// [`Message::service_error`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    /// The `Nats-Service-Error-Code` header as a number (0 if it is missing or not a number).
    pub code: u16,
    /// The `Nats-Service-Error` header.
    pub description: String,
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service error {}: {}", self.code, self.description)
    }
}

impl std::error::Error for ServiceError {}

impl Message {
    /// The service error this reply carries, if a service answered with one (the
    /// `Nats-Service-Error` / `Nats-Service-Error-Code` headers of ADR-32); `None` for a
    /// normal answer. The payload may hold more details.
    ///
    /// ```no_run
    /// # fn main() -> natsws::Result<()> {
    /// # let nc = natsws::connect("127.0.0.1")?;
    /// let reply = nc.request("math.divide", "1/0")?;
    /// if let Some(e) = reply.service_error() {
    ///     eprintln!("the service refused: {} ({})", e.description, e.code);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn service_error(&self) -> Option<ServiceError> {
        let h = self.headers.as_ref()?;
        let description = h.get(ERROR_HEADER);
        let code = h.get(ERROR_CODE_HEADER);
        if description.is_none() && code.is_none() {
            return None;
        }
        Some(ServiceError {
            code: code.and_then(|c| c.trim().parse().ok()).unwrap_or(0),
            description: description.unwrap_or_default().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_error_from_headers() {
        assert_eq!(Message::new("x", "").service_error(), None);
        let plain = Message::new("x", "").with_headers([("A", "b")].into_iter().collect());
        assert_eq!(plain.service_error(), None);
        let m = Message::new("x", "").with_headers(error_headers(411, "data required"));
        let e = m.service_error().unwrap();
        assert_eq!((e.code, e.description.as_str()), (411, "data required"));
        assert_eq!(e.to_string(), "service error 411: data required");
        let odd =
            Message::new("x", "").with_headers([(ERROR_CODE_HEADER, "E42")].into_iter().collect());
        assert_eq!(odd.service_error().unwrap().code, 0);
    }
}
