//! Callback subscriptions: a handler called with each message on a thread of the
//! subscription's own (nats.ws's `callback`, the hapi nes client's handlers).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crossbeam_channel::Receiver;

use crate::callback::panic_text;
use crate::connection::table::SubCounters;
use crate::connection::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::message::Message;
use crate::subscription::Subscription;

/// A subscription whose messages go to a handler, from
/// [`Connection::subscribe_with_handler`](crate::Connection::subscribe_with_handler).
///
/// The handler runs on a thread of this subscription's own, one message at a time, in order. A
/// handler that panics is contained: the panic is logged and reported as
/// [`Event::HandlerPanicked`], and the next message is handled as usual. Dropping this value
/// unsubscribes (messages still queued are not handled); it never waits for the thread.
pub struct HandlerSubscription {
    shared: Arc<Shared>,
    sid: u64,
    subject: String,
    counters: Arc<SubCounters>,
    /// Set when the user unsubscribes: queued messages are no longer handled.
    stop: Arc<AtomicBool>,
    /// How the thread ended: `None` for an unsubscribe, a drain or a reached `max`.
    done: Receiver<Option<Error>>,
    ended: OnceLock<Option<Error>>,
}

impl HandlerSubscription {
    pub(crate) fn start(
        sub: Subscription,
        mut handler: impl FnMut(Message) + Send + 'static,
    ) -> Result<HandlerSubscription> {
        let shared = sub.shared().clone();
        let (sid, subject) = (sub.sid(), sub.subject().to_string());
        let counters = sub.counters().clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let (thread_stop, thread_shared, thread_subject) =
            (stop.clone(), shared.clone(), subject.clone());
        std::thread::Builder::new()
            .name(format!("natsws-handler-{sid}"))
            .spawn(move || {
                let end = loop {
                    match sub.next_or_end() {
                        Ok(m) => {
                            if thread_stop.load(Ordering::Acquire) {
                                break None;
                            }
                            if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler(m))) {
                                let text = panic_text(&*p);
                                log::error!(
                                    "the handler of subscription {sid} on '{thread_subject}' panicked: {text}"
                                );
                                thread_shared.emit(Event::HandlerPanicked {
                                    sid,
                                    subject: thread_subject.clone(),
                                    message: text,
                                });
                            }
                        }
                        Err(e) if e.kind() == ErrorKind::Unsubscribed => break None,
                        Err(e) => break Some(e),
                    }
                };
                drop(sub);
                let _ = done_tx.send(end);
            })
            .map_err(|e| Error::io("starting a handler thread", e))?;
        Ok(HandlerSubscription {
            shared,
            sid,
            subject,
            counters,
            stop,
            done,
            ended: OnceLock::new(),
        })
    }

    /// The subscription id used on the wire.
    pub fn sid(&self) -> u64 {
        self.sid
    }

    /// The subject (possibly with wildcards).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Messages handed to the handler so far.
    pub fn delivered(&self) -> u64 {
        self.counters.taken_msgs.load(Ordering::Relaxed)
    }

    /// Messages dropped because this subscription's pending limits were reached.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Unsubscribes now; messages still queued are not handled.
    pub fn unsubscribe(self) -> Result<()> {
        self.stop_now()
    }

    fn stop_now(&self) -> Result<()> {
        self.stop.store(true, Ordering::Release);
        self.shared.unsubscribe_if_live(self.sid)
    }

    /// Ends after `n` messages in total (as [`Subscription::unsubscribe_after`]).
    pub fn unsubscribe_after(&self, n: u64) -> Result<()> {
        self.shared.unsubscribe(self.sid, Some(n))
    }

    /// Unsubscribes and waits (up to the connection's drain timeout) until every message the
    /// server sent before is queued; the handler is then called with each of them, and the
    /// thread ends.
    pub fn drain(&self) -> Result<()> {
        self.shared
            .drain_subscriptions(&[self.sid], self.shared.opts.drain_timeout)
    }

    /// Waits at most `timeout` for the subscription to end, and says how it ended: `None`
    /// after an unsubscribe, a drain or a reached `max`; the error when it ended on one (a
    /// permissions violation, the first-message timeout, the connection closing).
    /// [`ErrorKind::Timeout`] if it is still running.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<Option<Error>> {
        if let Some(end) = self.ended.get() {
            return Ok(end.clone());
        }
        match self.done.recv_timeout(timeout) {
            Ok(end) => Ok(self.ended.get_or_init(|| end).clone()),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("the handler of '{}' is still running", self.subject),
            )),
        }
    }
}

impl Drop for HandlerSubscription {
    fn drop(&mut self) {
        if self.ended.get().is_none() {
            let _ = self.stop_now();
        }
    }
}

impl std::fmt::Debug for HandlerSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HandlerSubscription")
            .field("sid", &self.sid)
            .field("subject", &self.subject)
            .finish()
    }
}
