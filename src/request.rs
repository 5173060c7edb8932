//! Requests with many replies (scatter-gather), with the stop strategies of nats.ws.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::connection::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::message::Message;

/// When [`Connection::request_many`](crate::Connection::request_many) stops collecting replies.
///
/// The strategies combine; whichever comes first ends the iterator:
/// - `max_wait`: the total time (default: the connection's request timeout) — nats.ws `timer`;
/// - `max_messages`: after this many replies — nats.ws `count`;
/// - `stall`: when no reply came for this long after the last one — nats.ws `stall`/jitter;
/// - `sentinel`: at the first reply with an empty payload and no headers (not yielded) —
///   nats.ws `sentinel`.
#[derive(Debug, Clone, Default)]
pub struct RequestManyOptions {
    max_wait: Option<Duration>,
    max_messages: Option<usize>,
    stall: Option<Duration>,
    sentinel: bool,
    headers: Option<Headers>,
}

impl RequestManyOptions {
    /// No limit but the connection's request timeout.
    pub fn new() -> RequestManyOptions {
        RequestManyOptions::default()
    }

    /// Stop after this much time in total.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = Some(d);
        self
    }

    /// Stop after this many replies.
    pub fn max_messages(mut self, n: usize) -> Self {
        self.max_messages = Some(n);
        self
    }

    /// Stop when no reply came for this long after the previous one.
    pub fn stall(mut self, d: Duration) -> Self {
        self.stall = Some(d);
        self
    }

    /// Stop at an empty reply.
    pub fn sentinel(mut self) -> Self {
        self.sentinel = true;
        self
    }

    /// Send the request with these headers.
    pub fn headers(mut self, h: Headers) -> Self {
        self.headers = Some(h);
        self
    }
}

/// The replies to a [`request_many`](crate::Connection::request_many), as an iterator.
///
/// Yields `Ok(reply)` for each reply; yields one `Err` and ends if the request fails (no
/// responders, a permissions violation, the connection closing); ends quietly when its stop
/// strategy says so.
pub struct RequestMany {
    shared: Arc<Shared>,
    reply: String,
    rx: Receiver<Result<Message>>,
    deadline: Instant,
    opts: RequestManyOptions,
    count: usize,
    done: bool,
}

impl RequestMany {
    pub(crate) fn start(
        shared: Arc<Shared>,
        subject: &str,
        payload: &[u8],
        opts: RequestManyOptions,
    ) -> Result<RequestMany> {
        let total = opts.max_wait.unwrap_or(shared.opts.request_timeout);
        let deadline = crate::time::deadline_after(total);
        let (reply, rx) = shared.register_waiter(subject, true)?;
        if let Err(e) = shared.publish_urgent(
            subject,
            Some(&reply),
            opts.headers.as_ref(),
            payload,
            Some(deadline),
        ) {
            shared.remove_waiter(&reply);
            return Err(e);
        }
        Ok(RequestMany {
            shared,
            reply,
            rx,
            deadline,
            opts,
            count: 0,
            done: false,
        })
    }

    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.shared.remove_waiter(&self.reply);
        }
    }
}

impl Iterator for RequestMany {
    type Item = Result<Message>;

    fn next(&mut self) -> Option<Result<Message>> {
        if self.done {
            return None;
        }
        if self.opts.max_messages.is_some_and(|m| self.count >= m) {
            self.finish();
            return None;
        }
        let mut wait_until = self.deadline;
        if let (Some(gap), true) = (self.opts.stall, self.count > 0) {
            wait_until = wait_until.min(crate::time::deadline_after(gap));
        }
        match self.rx.recv_deadline(wait_until) {
            Ok(Ok(m)) => {
                if self.opts.sentinel && m.payload.is_empty() && m.headers.is_none() {
                    self.finish();
                    return None;
                }
                self.count += 1;
                Some(Ok(m))
            }
            Ok(Err(e)) => {
                self.finish();
                Some(Err(e))
            }
            Err(RecvTimeoutError::Timeout) => {
                self.finish();
                None
            }
            Err(RecvTimeoutError::Disconnected) => {
                self.finish();
                let e = self.shared.gone_error();
                if e.kind() == ErrorKind::Disconnected {
                    return None;
                }
                Some(Err(
                    Error::new(ErrorKind::Closed, "the connection closed").with_source(e)
                ))
            }
        }
    }
}

impl Drop for RequestMany {
    fn drop(&mut self) {
        self.finish();
    }
}
