//! natsws: a synchronous NATS client over WebSocket (`ws://`, `wss://`), TCP (`nats://`) and
//! TLS (`tls://`), for programs that do not want an async runtime.
//!
//! Every call blocks the calling thread and nothing else: each connection has a reader thread,
//! a writer thread and a supervisor thread of its own, so publishing never waits for the
//! network, a slow subscriber never stalls the others, and an idle connection costs nothing.
//!
//! # A tour
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # fn main() -> natsws::Result<()> {
//! // Connect: the scheme picks the transport (nats, tls, ws, wss).
//! let nc = natsws::connect("ws://127.0.0.1:8080")?;
//!
//! // Subscribe; a Subscription is an iterator of messages.
//! let sub = nc.subscribe("greet.*")?;
//!
//! // Publish. `Ok` means queued for the writer thread; `flush` waits for the server.
//! nc.publish("greet.joe", "hello")?;
//! nc.flush()?;
//!
//! let msg = sub.next_timeout(Duration::from_secs(1))?;
//! println!("{} says {:?}", msg.subject, msg.payload);
//!
//! // Request/reply: a responder in a thread, and a request with a timeout.
//! let responder = nc.subscribe("time")?;
//! std::thread::spawn(move || {
//!     for req in responder {
//!         let _ = req.respond("noon");
//!     }
//! });
//! let reply = nc.request_timeout("time", "", Duration::from_secs(2))?;
//! assert_eq!(&reply.payload[..], b"noon");
//!
//! // Close sends what was published, then closes (dropping the last handle does the same).
//! nc.close()?;
//! # Ok(()) }
//! ```
//!
//! # Options
//!
//! [`Options`] is a builder that ends in [`connect`](Options::connect):
//!
//! ```no_run
//! # fn main() -> natsws::Result<()> {
//! let nc = natsws::Options::new()
//!     .name("edge-17")
//!     .add_root_certificate("ca.pem") // trust a private CA for wss:// or tls://
//!     .connect("wss://nats.example.com")?;
//! # Ok(()) }
//! ```
//!
//! URLs: one, a comma-separated list, or a slice; the first that answers is used. A URL without
//! a scheme means `nats://` (nats.go's rule; note that nats.ws assumes `wss://` instead).
//! Default ports: 4222 for `nats`/`tls`, 80 for `ws`, 443 for `wss`. `user:pass@` or `token@`
//! in a URL authenticate.
//!
//! # Cargo features
//!
//! On by default: `tls` (`tls://`, `wss://`, the TLS upgrade a server asks for; rustls with
//! Mozilla's roots compiled in), `nkeys` (NKey seeds held by natsws: `nkey_seed`,
//! `user_jwt_and_seed`, `credentials`, `credentials_file`), `ws_compression`
//! (permessage-deflate), and the layers `jetstream`, `kv`, `object_store`, `service`,
//! `socketio`. Off by default: `rustls` (`Options::tls_client_config`), `test-server`.
//!
//! With `default-features = false` natsws speaks `nats://` and `ws://` only and the binary is
//! less than half the size (most of a default build is the TLS stack). What a build leaves
//! out is refused, never silently skipped: a `tls://` or `wss://` URL, `require_tls`,
//! `tls_first`, a seed option or `ws_compression(true)` fails [`Options::connect`] with
//! [`ErrorKind::InvalidOption`] naming the feature, and a server that requires TLS fails the
//! attempt with [`ErrorKind::Tls`]. The callback forms of NKey and JWT authentication
//! ([`Options::nkey`], [`Options::user_jwt`]) work in every build.
//!
//! Within a build, an option a program never calls costs it nothing: the code behind NKey/JWT
//! credentials (signing, creds files), WebSocket compression, root and client certificate PEM,
//! and the HTTP proxy is reached only through the option that turns it on, so the linker
//! leaves it out of programs that do not.
//!
//! # Errors
//!
//! Every call returns [`Result`]; [`Error::kind`] gives an [`ErrorKind`] to match on.
//! Bad input is refused before anything reaches the wire and leaves the connection up:
//! an invalid subject ([`ErrorKind::InvalidSubject`]), a payload over the server's
//! `max_payload` ([`ErrorKind::MaxPayload`]), a bad header ([`ErrorKind::InvalidHeader`]).
//! A request nobody listens to fails at once with [`ErrorKind::NoResponders`]. Errors the
//! server reports without closing (a permissions violation) go to the subscription or request
//! they concern and to [`Connection::events`]. Nothing from the network can make natsws panic.
//!
//! # Services
//!
//! With the cargo feature `service` (on by default), `Connection::services()` builds NATS
//! services (ADR-32): named, versioned request/reply endpoints that any NATS client can
//! discover on `$SRV.PING|INFO|STATS`, monitor and call, and a client that finds them. See
//! the `natsws::service` module.
//!
//! # Testing with a real server
//!
//! With the cargo feature `test-server`, [`test_server::NatsServer`] starts a real
//! `nats-server` on free loopback ports (tcp plus ws or wss, with a generated CA) and kills it
//! when dropped.
//!
//! # socket.io rooms over NATS
//!
//! With the cargo feature `socketio` (on by default), `natsws::socketio` sends events to the
//! namespaces and rooms of socket.io servers that share a NATS adapter, and decodes the
//! broadcasts those servers exchange:
//!
//! ```no_run
//! # fn main() -> natsws::Result<()> {
//! # #[cfg(feature = "socketio")] {
//! use natsws::socketio::{Dialect, Emitter, EmitterOptions};
//! let nc = natsws::connect("nats://127.0.0.1:4222")?;
//! let io = Emitter::new(&nc, EmitterOptions::new(Dialect::Mickl))?;
//! io.to("lobby").emit("chat", ("natsws", "hello"))?;
//! # }
//! # Ok(()) }
//! ```
//!
//! # Logging
//!
//! natsws logs through the [`log`](https://docs.rs/log) crate. At `trace` level every protocol
//! line in and out is logged (what nats.ws calls `debug`), except that CONNECT is shown with
//! its secrets redacted; payloads are not logged. Disconnections and slow consumers are
//! `warn`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod backoff;
mod callback;
mod connection;
// Declared here, not in `connection/mod.rs`, so the connection core is untouched; see the file.
#[cfg(any(feature = "kv", feature = "object_store"))]
mod bucket_name;
mod error;
mod events;
mod handler;
pub mod headers;
mod int_hash;
#[cfg(feature = "jetstream")]
pub mod jetstream;
#[cfg(feature = "kv")]
pub mod kv;
#[cfg(any(feature = "kv", feature = "object_store"))]
mod marked_watch;
mod message;
#[cfg(feature = "object_store")]
pub mod object_store;
mod options;
mod proto;
mod request;
#[cfg(feature = "service")]
pub mod service;
#[cfg(feature = "socketio")]
pub mod socketio;
mod subject;
mod subscription;
#[cfg(feature = "test-server")]
pub mod test_server;
mod time;
mod transport;
mod url;

pub use auth::CallbackError;
pub use backoff::Backoff;
pub use connection::{connect, Connection, State, Stats};
pub use error::{ApiError, Error, ErrorKind, Result};
pub use events::Event;
pub use handler::HandlerSubscription;
pub use headers::Headers;
pub use message::Message;
pub use options::{Options, DEFAULT_PENDING_BYTES, DEFAULT_PENDING_MSGS};
pub use proto::ServerInfo;
pub use request::{RequestMany, RequestManyOptions};
pub use subscription::{Iter, SubscribeOptions, Subscription, SubscriptionInfo};
pub use url::IntoServerList;

/// The protocol parser, for the fuzz target and the corpus replay test (cargo feature
/// `fuzzing`). Not part of natsws's API: no semver promise, it may change in any release.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::proto::testing::{feed, seeded_chunks, OwnedOp};
    pub use crate::proto::{parse, Limits, Parsed, ServerOp};

    /// Parses an `HMSG` header block.
    pub fn parse_headers(block: &[u8]) -> crate::Result<crate::Headers> {
        crate::Headers::parse(block)
    }

    /// Encodes a header block as `HPUB` sends it.
    pub fn encode_headers(h: &crate::Headers, out: &mut Vec<u8>) {
        h.encode(out)
    }

    /// The length of [`encode_headers`]'s output.
    pub fn headers_len(h: &crate::Headers) -> usize {
        h.encoded_len()
    }
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<crate::Connection>();
        assert_send_sync::<crate::Message>();
        assert_send_sync::<crate::Error>();
        assert_send::<crate::Subscription>();
        assert_send::<crate::RequestMany>();
        fn clone<T: Clone>() {}
        clone::<crate::Connection>();
    }
}

/// The examples of the README, compiled as doc tests (they use the optional layers, so a
/// `--no-default-features` run skips them).
#[cfg(all(
    doctest,
    feature = "socketio",
    feature = "service",
    feature = "kv",
    feature = "object_store"
))]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
