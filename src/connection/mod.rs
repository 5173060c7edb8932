//! [`Connection`]: the handle users hold, and how a connection starts and ends.

pub(crate) mod batch;
mod handshake;
pub(crate) mod hooks;
pub(crate) mod lifecycle;
pub(crate) mod lock_order;
pub(crate) mod outbound;
pub(crate) mod pool;
mod readbuf;
mod reader;
pub(crate) mod server_error;
pub(crate) mod shared;
mod supervisor;
pub(crate) mod table;
mod writer;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

pub use lifecycle::State;
pub(crate) use shared::Shared;
pub use shared::Stats;

use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::handler::HandlerSubscription;
use crate::headers::Headers;
use crate::message::Message;
use crate::options::Options;
use crate::proto::ServerInfo;
use crate::request::{RequestMany, RequestManyOptions};
use crate::subscription::{SubscribeOptions, Subscription, SubscriptionInfo};
use crate::transport::TlsSetup;
use crate::url;
use pool::Pool;
use supervisor::Supervisor;

pub(crate) use server_error::classify as server_error;

/// A connection to a NATS server.
///
/// Cheap to clone: clones share one connection (one reader thread, one writer thread, one
/// supervisor thread). It is `Send + Sync`; publish from as many threads as you like. The
/// connection closes when [`close`](Connection::close) is called or when the last clone — and
/// the last [`Subscription`], which keeps its connection open — is dropped; dropping flushes
/// what was published first (bounded by [`Options::close_timeout`]).
#[derive(Clone)]
pub struct Connection {
    pub(crate) handle: Arc<Handle>,
}

/// Closes the connection when the last user-facing reference goes away.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.shared.close();
    }
}

/// Connects to `servers` with default [`Options`]: one URL (`nats://`, `tls://`, `ws://`,
/// `wss://`, or `host:port` meaning `nats://`), a comma-separated list, or a slice.
pub fn connect(servers: impl url::IntoServerList) -> Result<Connection> {
    Options::new().connect(servers)
}

impl Connection {
    pub(crate) fn connect_with(opts: Options, servers: Vec<String>) -> Result<Connection> {
        let urls = url::parse_servers(servers)?;
        let tls = tls_setup(&opts)?;
        let pool = Pool::new(urls, !opts.no_randomize);
        let retry = opts.retry_on_initial_connect;
        let (ctl_tx, ctl_rx) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared::new(opts, ctl_tx));
        let mut sup = Supervisor::new(shared.clone(), ctl_rx, pool, tls);
        let first = if retry {
            None
        } else {
            match sup.first_pass() {
                Ok(io) => Some(io),
                Err(e) => {
                    shared.finish(Some(e.clone()));
                    return Err(e);
                }
            }
        };
        if first.is_some() {
            shared.emit(Event::Connected {
                url: shared.url.read().clone().unwrap_or_default(),
            });
        }
        let socket = first.as_ref().and_then(|io| io.socket_handle());
        let spawned = std::thread::Builder::new()
            .name("natsws-supervisor".into())
            .spawn(move || sup.run(first));
        if let Err(e) = spawned {
            // Without a supervisor nobody would ever stop the reader and writer: stop them.
            if let Some(s) = socket {
                let _ = s.shutdown(std::net::Shutdown::Both);
            }
            let e = Error::io("starting the supervisor thread", e);
            shared.finish(Some(e.clone()));
            return Err(e);
        }
        Ok(Connection {
            handle: Arc::new(Handle { shared }),
        })
    }

    /// Drops the current server and reconnects through the pool (nats.ws `reconnect()`).
    /// Subscriptions are restored and publishes buffered meanwhile, as for any reconnect.
    pub fn force_reconnect(&self) -> Result<()> {
        if self.state() == State::Closed {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        }
        let _ = self.shared().ctl.send(shared::Ctl::ForceReconnect);
        Ok(())
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Publishes `payload` to `subject`.
    ///
    /// `Ok` means the message is queued for the writer thread, not that the server has it;
    /// [`flush`](Connection::flush) waits for that. The subject and size are checked first:
    /// an invalid subject ([`ErrorKind::InvalidSubject`]) or a payload over the server's
    /// `max_payload` ([`ErrorKind::MaxPayload`]) is refused before anything reaches the wire,
    /// and the connection stays up.
    pub fn publish(&self, subject: &str, payload: impl AsRef<[u8]>) -> Result<()> {
        self.shared().publish(subject, None, None, payload.as_ref())
    }

    /// Publishes with a reply subject, for the receiver to answer to.
    pub fn publish_with_reply(
        &self,
        subject: &str,
        reply: &str,
        payload: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.shared()
            .publish(subject, Some(reply), None, payload.as_ref())
    }

    /// Publishes with headers.
    pub fn publish_with_headers(
        &self,
        subject: &str,
        headers: &Headers,
        payload: impl AsRef<[u8]>,
    ) -> Result<()> {
        self.shared()
            .publish(subject, None, Some(headers), payload.as_ref())
    }

    /// Publishes a whole [`Message`] (subject, optional reply, optional headers, payload).
    pub fn publish_message(&self, msg: &Message) -> Result<()> {
        self.shared().publish(
            &msg.subject,
            msg.reply.as_deref(),
            msg.headers.as_ref(),
            &msg.payload,
        )
    }

    /// Subscribes to `subject` (wildcards `*` and `>` allowed).
    pub fn subscribe(&self, subject: &str) -> Result<Subscription> {
        self.subscribe_with(subject, SubscribeOptions::new())
    }

    /// Subscribes as a member of queue group `queue`: each message goes to one member.
    pub fn queue_subscribe(&self, subject: &str, queue: &str) -> Result<Subscription> {
        self.subscribe_with(subject, SubscribeOptions::new().queue(queue))
    }

    /// Subscribes with options: a queue group, a message limit, a first-message timeout
    /// (nats.ws's `SubscriptionOptions`).
    pub fn subscribe_with(&self, subject: &str, options: SubscribeOptions) -> Result<Subscription> {
        let queue = options.queue.as_deref();
        let (sid, rx, counters) = self.shared().subscribe(subject, queue)?;
        if let Some(max) = options.max {
            self.shared().unsubscribe(sid, Some(max))?;
        }
        Ok(Subscription::new(
            self.handle.clone(),
            sid,
            subject.to_string(),
            options.queue,
            rx,
            counters,
            options.timeout,
        ))
    }

    /// Subscribes and calls `handler` with each message on a thread of this subscription's
    /// own (nats.ws's `callback`, the nes client's handlers). A handler that panics is
    /// contained: the panic is logged and reported as [`Event::HandlerPanicked`], and the
    /// handler is called again for the next message.
    pub fn subscribe_with_handler(
        &self,
        subject: &str,
        options: SubscribeOptions,
        handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<HandlerSubscription> {
        let sub = self.subscribe_with(subject, options)?;
        HandlerSubscription::start(sub, handler)
    }

    /// Every live subscription of this connection, with its queue and counters (the nes
    /// client's `subscriptions()`); the internal request inbox is not listed.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.shared().subscriptions()
    }

    /// Sends a request and waits for the first reply, up to the default request timeout
    /// ([`Options::request_timeout`]). Fails at once with [`ErrorKind::NoResponders`] when
    /// nobody listens on `subject`, and with [`ErrorKind::Timeout`] when no reply comes.
    pub fn request(&self, subject: &str, payload: impl AsRef<[u8]>) -> Result<Message> {
        let t = self.shared().opts.request_timeout;
        self.shared().request(subject, None, payload.as_ref(), t)
    }

    /// [`request`](Connection::request) with its own timeout.
    pub fn request_timeout(
        &self,
        subject: &str,
        payload: impl AsRef<[u8]>,
        timeout: Duration,
    ) -> Result<Message> {
        self.shared()
            .request(subject, None, payload.as_ref(), timeout)
    }

    /// [`request`](Connection::request) with headers.
    pub fn request_with_headers(
        &self,
        subject: &str,
        headers: &Headers,
        payload: impl AsRef<[u8]>,
    ) -> Result<Message> {
        let t = self.shared().opts.request_timeout;
        self.shared()
            .request(subject, Some(headers), payload.as_ref(), t)
    }

    /// Sends a request and returns an iterator over the replies, which ends as `options` say:
    /// after a total time, a number of replies, a quiet gap after the last reply, or an empty
    /// reply (the sentinel). See [`RequestManyOptions`].
    pub fn request_many(
        &self,
        subject: &str,
        payload: impl AsRef<[u8]>,
        options: RequestManyOptions,
    ) -> Result<RequestMany> {
        RequestMany::start(self.shared().clone(), subject, payload.as_ref(), options)
    }

    /// A new unique subject for replies: `<inbox prefix>.<nuid>`.
    pub fn new_inbox(&self) -> String {
        format!("{}.{}", self.shared().opts.inbox_prefix, nuid::next())
    }

    /// Waits until the server has processed everything published so far (a PING/PONG round
    /// trip), up to [`Options::flush_timeout`].
    pub fn flush(&self) -> Result<()> {
        let t = self.shared().opts.flush_timeout;
        self.shared().flush(t)
    }

    /// [`flush`](Connection::flush) with its own timeout.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<()> {
        self.shared().flush(timeout)
    }

    /// The round-trip time to the server, measured with a PING/PONG.
    pub fn rtt(&self) -> Result<Duration> {
        let start = Instant::now();
        self.flush()?;
        Ok(start.elapsed())
    }

    /// The server's latest INFO.
    pub fn server_info(&self) -> ServerInfo {
        (**self.shared().info.read()).clone()
    }

    /// The server's id for this connection.
    pub fn client_id(&self) -> u64 {
        self.shared().info.read().client_id
    }

    /// The largest message (headers + payload) the server accepts.
    pub fn max_payload(&self) -> usize {
        self.shared()
            .max_payload
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The URL of the server this connection talks to (without credentials).
    pub fn connected_url(&self) -> Option<String> {
        if self.state() == State::Closed {
            return None;
        }
        self.shared().url.read().clone()
    }

    /// Messages and bytes in and out.
    pub fn stats(&self) -> Stats {
        self.shared().stats()
    }

    /// Where the connection is in its life.
    pub fn state(&self) -> State {
        self.shared().state()
    }

    /// Why the connection closed, if it closed on an error (not by `close` or `drain`).
    pub fn close_reason(&self) -> Option<Error> {
        self.shared().close_reason.lock().clone()
    }

    /// Blocks until the connection is closed, and returns why (`None` when closed by the user).
    /// See [`closed_timeout`](Connection::closed_timeout) for a bounded wait.
    pub fn closed(&self) -> Option<Error> {
        while !self
            .shared()
            .wait_closed(crate::time::deadline_after(Duration::MAX))
        {}
        self.close_reason()
    }

    /// Waits at most `timeout` for the connection to close; `Ok` with why it closed (`None`
    /// when closed by the user), or [`ErrorKind::Timeout`] if it is still open.
    pub fn closed_timeout(&self, timeout: Duration) -> Result<Option<Error>> {
        if self
            .shared()
            .wait_closed(crate::time::deadline_after(timeout))
        {
            Ok(self.close_reason())
        } else {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("the connection did not close within {timeout:?}"),
            ))
        }
    }

    /// The connection's events (connected, disconnected, slow consumer, server errors,
    /// closed). Every call returns a receiver of the same queue: each event goes to one of them.
    pub fn events(&self) -> Receiver<Event> {
        self.shared().events.receiver()
    }

    /// Sends what was published, then closes. Idempotent: closing a closed connection is `Ok`.
    /// Subscriptions end once their queued messages have been read.
    pub fn close(&self) -> Result<()> {
        self.shared().close()
    }

    /// Drains, then closes: every subscription is unsubscribed, messages already on their way
    /// are delivered (nothing already sent to us is lost; queued messages stay readable from
    /// each [`Subscription`]), what was published is flushed, and the connection closes —
    /// within [`Options::drain_timeout`].
    pub fn drain(&self) -> Result<()> {
        self.shared().drain()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.shared().url.read())
            .field("state", &self.state())
            .finish()
    }
}

fn tls_setup(opts: &Options) -> Result<TlsSetup> {
    TlsSetup::from_options(opts)
}
