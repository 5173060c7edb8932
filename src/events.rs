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
    /// The connection to the server was lost (the reason includes a WebSocket close code and
    /// text when the server sent one). Unless reconnecting is off, the supervisor is now
    /// trying the server pool.
    Disconnected {
        /// Why.
        reason: Error,
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
