//! The one error type of natsws.
//!
//! Every fallible call returns [`Error`]. Match on [`Error::kind`] to decide what to do; the
//! `Display` text says what happened in words, and [`Error::server_text`] keeps the server's own
//! `-ERR` text when the server said something.

use std::fmt;
use std::io;

/// What went wrong, in a form a program can match on.
///
/// New kinds may be added in minor releases, so a `match` needs a `_` arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A URL or option is malformed (bad scheme, bad port, conflicting settings), or asks for
    /// something this build of natsws leaves out (a `tls://` URL without the cargo feature
    /// `tls`, a seed without `nkeys`, WebSocket compression without `ws_compression`); the
    /// message names the feature.
    InvalidOption,
    /// A subject is empty, has an empty token, whitespace, or a wildcard where none is allowed.
    InvalidSubject,
    /// A queue group name is empty or has whitespace.
    InvalidQueue,
    /// A header name or value cannot be sent (CR/LF in a value, `:` or whitespace in a name).
    InvalidHeader,
    /// Headers plus payload are larger than the server's `max_payload`.
    MaxPayload,
    /// The operation did not finish before its deadline.
    Timeout,
    /// A request found no subscriber on its subject (status 503).
    NoResponders,
    /// The server refused a publish or subscription (`Permissions Violation …`).
    /// The connection stays up.
    PermissionViolation,
    /// The server refused our credentials (`Authorization Violation`).
    Authorization,
    /// The server says the user or account credentials have expired.
    AuthenticationExpired,
    /// A subscription fell behind and messages were dropped (its pending limits were reached):
    /// [`Subscription::next_timeout`](crate::Subscription::next_timeout) says so once per
    /// episode of drops, as nats.go's `NextMsg` does.
    SlowConsumer,
    /// The server sent something that is not the NATS protocol, or broke its rules
    /// (a control line too long, a payload larger than announced, a bad WebSocket frame).
    Protocol,
    /// The server sent `-ERR` with a text natsws has no more specific kind for.
    Server,
    /// TLS failed: handshake, certificate verification, or a bad certificate file.
    Tls,
    /// The WebSocket upgrade failed, or the server closed the WebSocket (code and reason kept).
    WebSocket,
    /// A socket operation failed (refused, reset, unreachable, name not resolved).
    Io,
    /// The connection was lost while this operation was waiting for it.
    Disconnected,
    /// The connection is closed (by `close()`, `drain()`, or a fatal error); nothing more can be done with it.
    Closed,
    /// The subscription was unsubscribed or drained; no more messages will come.
    Unsubscribed,
    /// The connection is draining and accepts no new subscriptions or publishes.
    Draining,
    /// The writer's buffer is full and could not be emptied in time.
    BufferFull,
    /// The connection went stale: the server answered none of our last pings.
    StaleConnection,
    /// A callback of the user's (credentials, signing, WebSocket headers, reconnect delay)
    /// panicked; the panic was contained and logged.
    Callback,
    /// The service was stopped: it takes no new endpoints (feature `service`).
    ServiceStopped,
    /// The HTTP proxy refused to open the tunnel to the server (the message quotes its status
    /// line: `407` wants other credentials, `403` forbids the target), or answered something
    /// that is not HTTP. A proxy that cannot be reached or does not answer in time is
    /// [`Io`](ErrorKind::Io) or [`Timeout`](ErrorKind::Timeout), as for a server.
    Proxy,
    /// A JetStream API call failed; [`Error::api_error`] has the server's code, `err_code` and
    /// description (the more specific JetStream kinds below carry it too).
    JetStream,
    /// JetStream is not enabled on the server or for the account (no responder on the API,
    /// or `err_code` 10039 / 10076).
    JetStreamNotEnabled,
    /// The stream does not exist (`err_code` 10059).
    StreamNotFound,
    /// The consumer does not exist (`err_code` 10014).
    ConsumerNotFound,
    /// No message matches (a get by sequence or subject; `err_code` 10037).
    MessageNotFound,
    /// A publish's expected last sequence did not match (`err_code` 10071, or 10164 on a
    /// replicated stream).
    WrongLastSequence,
    /// A consumer's idle heartbeats stopped coming.
    NoHeartbeat,
    /// The consumer was deleted while it was being read (`409 Consumer Deleted`).
    ConsumerDeleted,
    /// A stream or consumer name is empty or has characters names may not have
    /// (whitespace, `.`, `*`, `>`, path separators, control characters).
    InvalidName,
    /// The message was already acknowledged with a terminal ack (ack, nak or term).
    AlreadyAcked,
    /// The message is not a JetStream message (no `$JS.ACK` reply subject), or its consumer
    /// does not take acks.
    NotJetStreamMessage,
    /// The Key-Value bucket or object store does not exist (feature `kv` or `object_store`).
    BucketNotFound,
    /// A bucket of that name exists with another configuration.
    BucketExists,
    /// A key is not valid: empty, a leading or trailing `.`, `..`, characters outside
    /// `A-Z a-z 0-9 - / _ = .`, or a wildcard where none is allowed (feature `kv`).
    InvalidKey,
    /// The key has no value: never put, or deleted or purged (feature `kv`).
    KeyNotFound,
    /// `create` found a value under the key (feature `kv`).
    KeyExists,
    /// The object does not exist or was deleted (feature `object_store`).
    ObjectNotFound,
    /// An object (not a link) of that name exists where a rename or a link would go
    /// (feature `object_store`).
    ObjectExists,
    /// An object read back does not match its stored SHA-256 digest or size: a chunk is
    /// missing or corrupt (feature `object_store`).
    DigestMismatch,
}

impl ErrorKind {
    fn describe(self) -> &'static str {
        match self {
            ErrorKind::InvalidOption => "invalid option",
            ErrorKind::InvalidSubject => "invalid subject",
            ErrorKind::InvalidQueue => "invalid queue group",
            ErrorKind::InvalidHeader => "invalid header",
            ErrorKind::MaxPayload => "message larger than the server's max_payload",
            ErrorKind::Timeout => "timed out",
            ErrorKind::NoResponders => "no responders",
            ErrorKind::PermissionViolation => "permissions violation",
            ErrorKind::Authorization => "authorization violation",
            ErrorKind::AuthenticationExpired => "authentication expired",
            ErrorKind::SlowConsumer => "slow consumer: messages dropped",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Server => "server error",
            ErrorKind::Tls => "TLS error",
            ErrorKind::WebSocket => "WebSocket error",
            ErrorKind::Io => "I/O error",
            ErrorKind::Disconnected => "disconnected",
            ErrorKind::Closed => "connection closed",
            ErrorKind::Unsubscribed => "subscription ended",
            ErrorKind::Draining => "connection draining",
            ErrorKind::BufferFull => "write buffer full",
            ErrorKind::StaleConnection => "stale connection",
            ErrorKind::Callback => "a callback panicked",
            ErrorKind::ServiceStopped => "service stopped",
            ErrorKind::Proxy => "proxy error",
            ErrorKind::JetStream => "JetStream API error",
            ErrorKind::JetStreamNotEnabled => "JetStream not enabled",
            ErrorKind::StreamNotFound => "stream not found",
            ErrorKind::ConsumerNotFound => "consumer not found",
            ErrorKind::MessageNotFound => "message not found",
            ErrorKind::WrongLastSequence => "wrong last sequence",
            ErrorKind::NoHeartbeat => "no heartbeat received",
            ErrorKind::ConsumerDeleted => "consumer deleted",
            ErrorKind::InvalidName => "invalid name",
            ErrorKind::AlreadyAcked => "message already acknowledged",
            ErrorKind::NotJetStreamMessage => "not a JetStream message",
            ErrorKind::BucketNotFound => "bucket not found",
            ErrorKind::BucketExists => "bucket exists with another configuration",
            ErrorKind::InvalidKey => "invalid key",
            ErrorKind::KeyNotFound => "key not found",
            ErrorKind::KeyExists => "key exists",
            ErrorKind::ObjectNotFound => "object not found",
            ErrorKind::ObjectExists => "object exists",
            ErrorKind::DigestMismatch => "object digest mismatch",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// The error type of every natsws call.
///
/// It is one pointer wide; the details live behind a box.
#[derive(Clone)]
pub struct Error(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    detail: Option<String>,
    server_text: Option<String>,
    ws_close: Option<(u16, String)>,
    api: Option<ApiError>,
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    /// An error of `kind` with a sentence of detail.
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            detail: Some(detail.into()),
            server_text: None,
            ws_close: None,
            api: None,
            source: None,
        }))
    }

    /// An error of `kind` with no detail beyond the kind.
    pub(crate) fn bare(kind: ErrorKind) -> Error {
        Error(Box::new(Inner {
            kind,
            detail: None,
            server_text: None,
            ws_close: None,
            api: None,
            source: None,
        }))
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.0.source = Some(std::sync::Arc::new(source));
        self
    }

    pub(crate) fn with_server_text(mut self, text: impl Into<String>) -> Error {
        self.0.server_text = Some(text.into());
        self
    }

    pub(crate) fn with_ws_close(mut self, code: u16, reason: impl Into<String>) -> Error {
        self.0.ws_close = Some((code, reason.into()));
        self
    }

    /// Attaches the JetStream API error the server returned.
    #[cfg_attr(not(feature = "jetstream"), allow(dead_code))]
    pub(crate) fn with_api_error(mut self, api: ApiError) -> Error {
        self.0.api = Some(api);
        self
    }

    /// An I/O error, with a sentence saying what was being done.
    pub(crate) fn io(context: impl Into<String>, err: io::Error) -> Error {
        let kind = match err.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        // A transport error that already carries a natsws error (a WebSocket close, a TLS alert)
        // is passed through unchanged.
        if err.get_ref().map(|e| e.is::<Error>()).unwrap_or(false) {
            let inner = err.into_inner().expect("checked above");
            return *inner.downcast::<Error>().expect("checked above");
        }
        Error::new(kind, context).with_source(err)
    }

    /// Wraps this error in an `io::Error`, so transports can return it through `io::Result`.
    pub(crate) fn into_io(self) -> io::Error {
        io::Error::other(self)
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The server's own text, when the error comes from a server `-ERR` (quotes removed).
    pub fn server_text(&self) -> Option<&str> {
        self.0.server_text.as_deref()
    }

    /// The WebSocket close code and reason, when the server closed the WebSocket.
    pub fn websocket_close(&self) -> Option<(u16, &str)> {
        self.0.ws_close.as_ref().map(|(c, r)| (*c, r.as_str()))
    }

    /// The JetStream API error (HTTP-like code, stable `err_code`, description), when the
    /// server returned one.
    pub fn api_error(&self) -> Option<&ApiError> {
        self.0.api.as_ref()
    }

    /// `true` for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.0.kind == ErrorKind::Timeout
    }

    /// `true` for [`ErrorKind::NoResponders`].
    pub fn is_no_responders(&self) -> bool {
        self.0.kind == ErrorKind::NoResponders
    }

    /// `true` when the connection is gone for good ([`ErrorKind::Closed`]).
    pub fn is_closed(&self) -> bool {
        self.0.kind == ErrorKind::Closed
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.kind.describe())?;
        if let Some(d) = &self.0.detail {
            write!(f, ": {d}")?;
        }
        if let Some(t) = &self.0.server_text {
            write!(f, " (server: '{t}')")?;
        }
        if let Some(a) = &self.0.api {
            write!(
                f,
                " (code {}, err_code {}: '{}')",
                a.code, a.err_code, a.description
            )?;
        }
        if let Some((code, reason)) = &self.0.ws_close {
            write!(f, " (websocket close {code}")?;
            if !reason.is_empty() {
                write!(f, " '{reason}'")?;
            }
            f.write_str(")")?;
        }
        // The source is not repeated here: `source()` returns it, and error reporters print
        // the chain themselves. `{:#}` prints the whole chain on one line.
        if f.alternate() {
            let mut cur = std::error::Error::source(self);
            while let Some(s) = cur {
                write!(f, ": {s}")?;
                cur = s.source();
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.0.kind);
        if let Some(x) = &self.0.detail {
            d.field("detail", x);
        }
        if let Some(x) = &self.0.server_text {
            d.field("server_text", x);
        }
        if let Some(x) = &self.0.ws_close {
            d.field("websocket_close", x);
        }
        if let Some(x) = &self.0.api {
            d.field("api_error", x);
        }
        if let Some(x) = &self.0.source {
            d.field("source", &format_args!("{x}"));
        }
        d.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind() {
            ErrorKind::Timeout => io::ErrorKind::TimedOut,
            ErrorKind::Closed | ErrorKind::Disconnected => io::ErrorKind::NotConnected,
            ErrorKind::InvalidSubject
            | ErrorKind::InvalidQueue
            | ErrorKind::InvalidHeader
            | ErrorKind::InvalidOption => io::ErrorKind::InvalidInput,
            ErrorKind::Authorization | ErrorKind::PermissionViolation => {
                io::ErrorKind::PermissionDenied
            }
            ErrorKind::DigestMismatch => io::ErrorKind::InvalidData,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

/// The error a JetStream API call returned (`{"error": {"code", "err_code", "description"}}`).
///
/// Branch on `err_code`: it is stable, while the description's wording may change.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize)]
pub struct ApiError {
    /// HTTP-like status (400, 404, 503…).
    #[serde(default)]
    pub code: u16,
    /// The stable NATS error code (10059 stream not found…); 0 when the server sent none.
    #[serde(default)]
    pub err_code: u16,
    /// The server's words.
    #[serde(default)]
    pub description: String,
}

/// `Result` with natsws's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Result<()>>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn display_keeps_server_text_and_close() {
        let e = Error::new(ErrorKind::WebSocket, "server closed the websocket")
            .with_ws_close(1008, "Authentication Failure");
        let s = e.to_string();
        assert!(
            s.contains("1008") && s.contains("Authentication Failure"),
            "{s}"
        );
        let e = Error::bare(ErrorKind::PermissionViolation)
            .with_server_text("Permissions Violation for Publish to \"x\"");
        assert!(e.to_string().contains("Permissions Violation"));
        assert_eq!(
            e.server_text().unwrap(),
            "Permissions Violation for Publish to \"x\""
        );
    }

    #[test]
    fn io_round_trip_keeps_kind() {
        let e = Error::new(ErrorKind::WebSocket, "closed").with_ws_close(1001, "going away");
        let io = e.into_io();
        let back = Error::io("reading", io);
        assert_eq!(back.kind(), ErrorKind::WebSocket);
        assert_eq!(back.websocket_close(), Some((1001, "going away")));
        let t = Error::io("reading", io::Error::from(io::ErrorKind::TimedOut));
        assert!(t.is_timeout());
    }
}

#[cfg(test)]
mod display_tests {
    use super::*;

    #[test]
    fn display_does_not_repeat_the_source_but_alternate_prints_the_chain() {
        let inner = io::Error::new(io::ErrorKind::ConnectionRefused, "refused");
        let e = Error::io("connecting to 127.0.0.1:1", inner);
        let plain = e.to_string();
        let src = std::error::Error::source(&e)
            .expect("source kept")
            .to_string();
        assert!(!plain.contains(&src), "{plain} repeats {src}");
        let chain = format!("{e:#}");
        assert!(
            chain.starts_with(&plain) && chain.ends_with(&src),
            "{chain}"
        );
    }
}
