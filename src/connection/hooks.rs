//! Internal hooks the JetStream layer needs from the connection core, kept in one place so
//! they can be ported onto a new core. Each is `pub(crate)` and small.
//!
//! 1. [`Connection::request_with_headers_timeout`]: a request with headers and its own
//!    timeout (the public API has headers with the default timeout, or a timeout without
//!    headers). JetStream publishes with options (`Nats-Msg-Id`, expected sequences, TTL).
//! 2. [`Connection::transport_generation`]: which transport the connection is on, so a
//!    consumer or an async publisher can tell that a reconnect happened (and that replies to
//!    requests sent before it will never come) without taking the user's events.

#![cfg_attr(not(feature = "jetstream"), allow(dead_code))]

use std::time::Duration;

use crate::connection::Connection;
use crate::error::Result;
use crate::headers::Headers;
use crate::message::Message;

impl Connection {
    /// Sends a request with optional headers and waits up to `timeout` for one reply; no
    /// responders fails at once with `ErrorKind::NoResponders`, as for `request_timeout`.
    pub(crate) fn request_with_headers_timeout(
        &self,
        subject: &str,
        headers: Option<&Headers>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message> {
        self.shared().request(subject, headers, payload, timeout)
    }

    /// The generation of the live transport (it grows with every connection made), or `None`
    /// while disconnected. Two equal values mean no disconnect happened in between.
    pub(crate) fn transport_generation(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;
        let shared = self.shared();
        // The supervisor bumps the generation while down, before sends go through again: a
        // value read on both sides of an up check belongs to the transport that was up.
        let before = shared.generation.load(Ordering::Acquire);
        if shared.outbound.is_down() {
            return None;
        }
        (shared.generation.load(Ordering::Acquire) == before).then_some(before)
    }
}
