//! Connection events: what happens to a connection in the background.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// Something that happened to a connection, delivered through [`Connection::events`](crate::Connection::events).
///
/// Events are queued, never waited for: the reader, writer and supervisor threads never block on
/// a slow event consumer. When the queue (1,024 events) is full, further events are dropped and
/// counted ([`Connection::stats`](crate::Connection::stats)`.events_dropped`).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Event {
    /// The connection is up (after the handshake), with the URL of the server (no credentials).
    Connected {
        /// The server's URL.
        url: String,
    },
    /// The connection to the server was lost. Unless reconnecting is off, the supervisor is
    /// now trying the server pool. Carries what the hapi nes client's `onDisconnect` tells.
    #[non_exhaustive]
    Disconnected {
        /// Why.
        reason: Error,
        /// The supervisor is going to reconnect (reconnecting is not turned off).
        will_reconnect: bool,
        /// The user asked for it ([`Connection::force_reconnect`](crate::Connection::force_reconnect)).
        requested: bool,
        /// The connection ended in an orderly way: the server said goodbye (a WebSocket close
        /// frame), or natsws left on purpose (a forced reconnect, lame duck migration);
        /// `false` when the stream just ended or broke (end of stream without a goodbye, a
        /// reset, an I/O or protocol error, a stale connection).
        clean: bool,
        /// The WebSocket close code and reason, when the server sent a close frame.
        websocket_close: Option<(u16, String)>,
    },
    /// Connected again after a disconnection; subscriptions are restored and buffered
    /// publishes sent.
    Reconnected {
        /// The server's URL (no credentials).
        url: String,
    },
    /// The cluster announced new servers or dropped some (INFO `connect_urls`).
    ServersChanged {
        /// Servers added to the pool.
        added: Vec<String>,
        /// Announced servers that are gone from the pool.
        removed: Vec<String>,
    },
    /// The server is shutting down gracefully (lame duck mode); unless turned off, natsws
    /// moves to another server before it is evicted.
    LameDuckMode {
        /// The server's URL.
        url: String,
    },
    /// A subscription's pending limits were reached and messages were dropped. Sent once per
    /// episode: again only after the subscription has caught up.
    SlowConsumer {
        /// The subscription's id.
        sid: u64,
        /// The subscription's subject.
        subject: String,
        /// Messages dropped on this subscription so far.
        dropped: u64,
    },
    /// The server reported an error that does not close the connection (a permissions
    /// violation, too many subscriptions).
    ServerError {
        /// The error, with the server's text.
        error: Error,
    },
    /// The handler of a [`HandlerSubscription`](crate::HandlerSubscription) panicked; the
    /// panic was contained and the next message is handled as usual.
    HandlerPanicked {
        /// The subscription's id.
        sid: u64,
        /// The subscription's subject.
        subject: String,
        /// The panic's message.
        message: String,
    },
    /// The connection is closed for good.
    Closed {
        /// Why, when it was not closed by the user.
        reason: Option<Error>,
    },
}

/// The sending side, shared by the connection's threads.
pub(crate) struct EventSink {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    dropped: AtomicU64,
}

impl EventSink {
    pub(crate) fn new() -> EventSink {
        let (tx, rx) = crossbeam_channel::bounded(1024);
        EventSink {
            tx,
            rx,
            dropped: AtomicU64::new(0),
        }
    }

    /// Queues an event without ever blocking.
    pub(crate) fn emit(&self, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn receiver(&self) -> Receiver<Event> {
        self.rx.clone()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
