//! Endpoints: [`EndpointBuilder`] adds one, [`Endpoint`] is its iterator of requests, and a
//! handler can run on a thread of its own instead.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::config;
use super::core::Core;
use super::request::Request;
use super::schema::{EndpointInfo, Metadata};
use super::stats::Counters;
use crate::error::{Error, ErrorKind, Result};
use crate::subscription::Subscription;

/// What a service keeps of each endpoint: its identity, its counters, its subscription, and
/// what stop waits for.
pub(crate) struct EndpointShared {
    pub(crate) name: String,
    pub(crate) subject: String,
    pub(crate) queue: Option<String>,
    pub(crate) metadata: Metadata,
    pub(crate) counters: Counters,
    pub(crate) sub: Subscription,
    flight: Mutex<Flight>,
    flight_cv: Condvar,
}

#[derive(Default)]
struct Flight {
    /// Reads under way plus requests taken and not yet answered or dropped. A read counts
    /// from before it waits, so a request is never between the queue and this count.
    in_flight: usize,
    /// The reader saw the end of the queue, or went away.
    ended: bool,
    /// The thread that read last (a handler's thread): stop must not wait for itself there.
    reader: Option<ThreadId>,
}

impl EndpointShared {
    /// A read begins: counted until it yields nothing, or until its request is answered.
    fn reading(&self) {
        let mut f = self.flight.lock();
        f.in_flight += 1;
        f.reader = Some(std::thread::current().id());
    }

    /// A read yielded nothing, or a request was answered or dropped.
    pub(crate) fn done_one(&self) {
        let mut f = self.flight.lock();
        f.in_flight = f.in_flight.saturating_sub(1);
        if f.in_flight == 0 {
            self.flight_cv.notify_all();
        }
    }

    fn mark_ended(&self) {
        let mut f = self.flight.lock();
        if !f.ended {
            f.ended = true;
            self.flight_cv.notify_all();
        }
    }

    /// `true` when `me` is the thread reading this endpoint (its handler's thread): stop
    /// called from there must not wait for itself.
    pub(crate) fn read_by(&self, me: ThreadId) -> bool {
        self.flight.lock().reader == Some(me)
    }

    /// After a drain (nothing new can arrive): waits until every queued request has been
    /// taken and every request taken is answered or dropped, or `deadline`. Returns how many
    /// were left (queued ones included).
    pub(crate) fn wait_idle(&self, deadline: Instant) -> usize {
        let mut f = self.flight.lock();
        loop {
            let queued = self.sub.pending().0;
            if f.in_flight == 0 && (f.ended || queued == 0) {
                return 0;
            }
            if self.flight_cv.wait_until(&mut f, deadline).timed_out() {
                return f.in_flight + self.sub.pending().0;
            }
        }
    }

    pub(crate) fn info(&self) -> EndpointInfo {
        EndpointInfo {
            name: self.name.clone(),
            subject: self.subject.clone(),
            queue_group: self.queue.clone().unwrap_or_default(),
            metadata: self.metadata.clone(),
        }
    }
}

/// Adds an endpoint to a service: from [`Service::endpoint`](super::Service::endpoint) or
/// [`Group::endpoint`](super::Group::endpoint). Finish with [`add`](EndpointBuilder::add)
/// (you read the requests) or [`handler`](EndpointBuilder::handler) (a thread calls your
/// function for each).
#[must_use = "an endpoint builder does nothing until add() or handler()"]
pub struct EndpointBuilder {
    core: Arc<Core>,
    prefix: String,
    name: String,
    subject: Option<String>,
    queue: Option<String>,
    metadata: Metadata,
}

impl EndpointBuilder {
    pub(crate) fn new(
        core: Arc<Core>,
        prefix: String,
        name: String,
        queue: Option<String>,
    ) -> Self {
        EndpointBuilder {
            core,
            prefix,
            name,
            subject: None,
            queue,
            metadata: Metadata::new(),
        }
    }

    /// The subject to listen on (default: the endpoint's name), after the group prefix.
    /// Wildcards are allowed, `>` only last.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The queue group of this endpoint (default: its group's, else its service's, else `q`).
    pub fn queue_group(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// No queue group: every instance of the service gets every request.
    pub fn no_queue_group(mut self) -> Self {
        self.queue = None;
        self
    }

    /// Adds metadata entries (shown by INFO).
    pub fn metadata<K: Into<String>, V: Into<String>>(
        mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.metadata
            .extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Subscribes and returns the endpoint: an iterator of [`Request`]s to answer.
    ///
    /// Errors, before anything is subscribed: a name that is not `[A-Za-z0-9_-]+`
    /// ([`ErrorKind::InvalidOption`]); a subject with a space or a `>` before its end, or a
    /// group with a wildcard ([`ErrorKind::InvalidSubject`]); a bad queue group
    /// ([`ErrorKind::InvalidQueue`]); a stopped service ([`ErrorKind::ServiceStopped`]).
    pub fn add(self) -> Result<Endpoint> {
        let core = self.core.clone();
        let ep = self.subscribe()?;
        core.register(ep.clone())?;
        Ok(Endpoint { ep })
    }

    /// Subscribes and calls `handler` for each request on a thread of the endpoint's own,
    /// until the service stops or the connection closes. A handler that panics is contained:
    /// the request gets error 500 and the next request is served. Errors as for
    /// [`add`](EndpointBuilder::add).
    ///
    /// A handler that owns a [`Service`](super::Service) clone keeps the service from
    /// stopping on drop: stop it explicitly then.
    pub fn handler<F>(self, handler: F) -> Result<()>
    where
        F: FnMut(Request) + Send + 'static,
    {
        let core = self.core.clone();
        let service = core.name.clone();
        let ep = self.subscribe()?;
        let endpoint = Endpoint { ep: ep.clone() };
        let mut handler = handler;
        let spawned = std::thread::Builder::new()
            .name(format!("natsws-svc-{}", ep.name))
            .spawn(move || {
                for req in endpoint.iter() {
                    if let Err(p) = catch_unwind(AssertUnwindSafe(|| handler(req))) {
                        let what = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_default();
                        log::error!(
                            "service '{service}': the handler of endpoint '{}' panicked ({what}); \
                             the request got error 500, serving goes on",
                            endpoint.ep.name
                        );
                    }
                }
            });
        if let Err(e) = spawned {
            ep.sub.unsubscribe_now();
            return Err(Error::io("starting an endpoint's handler thread", e));
        }
        core.register(ep)
    }

    fn subscribe(self) -> Result<Arc<EndpointShared>> {
        config::check_name("endpoint", &self.name)?;
        if !self.prefix.is_empty() {
            config::check_group(&self.prefix)?;
        }
        let local = self.subject.unwrap_or_else(|| self.name.clone());
        config::check_endpoint_subject(&local)?;
        let subject = config::join(&self.prefix, &local);
        config::check_endpoint_subject(&subject)?;
        config::check_queue(self.queue.as_deref())?;
        self.core.check_running()?;
        let nc = &self.core.nc;
        let sub = match &self.queue {
            Some(q) => nc.queue_subscribe(&subject, q)?,
            None => nc.subscribe(&subject)?,
        };
        // The server has the interest when add returns: a request sent next is not lost.
        nc.flush()?;
        Ok(Arc::new(EndpointShared {
            name: self.name,
            subject,
            queue: self.queue,
            metadata: self.metadata,
            counters: Counters::default(),
            sub,
            flight: Mutex::new(Flight::default()),
            flight_cv: Condvar::new(),
        }))
    }
}

/// A service endpoint's requests, in order: an iterator like a
/// [`Subscription`](crate::Subscription).
///
/// `next` blocks until a request comes and returns `None` once the endpoint has stopped (the
/// service stopped and every request already sent to it was read, or the connection closed).
/// Dropping the `Endpoint` unsubscribes it (it stays in the service's INFO and STATS); requests
/// still queued are dropped unanswered.
pub struct Endpoint {
    ep: Arc<EndpointShared>,
}

impl Endpoint {
    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.ep.name
    }

    /// The subject it listens on, with its group prefix.
    pub fn subject(&self) -> &str {
        &self.ep.subject
    }

    /// Its queue group, if it has one.
    pub fn queue_group(&self) -> Option<&str> {
        self.ep.queue.as_deref()
    }

    fn stopped(&self) -> Error {
        Error::new(
            ErrorKind::ServiceStopped,
            format!("endpoint '{}' has stopped", self.ep.name),
        )
    }

    /// Waits up to `timeout` for the next request: [`ErrorKind::Timeout`] when none came,
    /// [`ErrorKind::ServiceStopped`] once the endpoint has stopped.
    pub fn next_timeout(&self, timeout: Duration) -> Result<Request> {
        self.ep.reading();
        match self.ep.sub.next_timeout(timeout) {
            Ok(m) => Ok(Request::new(m, self.ep.clone())),
            Err(e) => {
                let ended = !matches!(e.kind(), ErrorKind::Timeout | ErrorKind::SlowConsumer);
                if ended {
                    self.ep.mark_ended();
                }
                self.ep.done_one();
                match e.kind() {
                    ErrorKind::Timeout => Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "no request for endpoint '{}' within {timeout:?}",
                            self.ep.name
                        ),
                    )),
                    // Requests were dropped (the pending limits): said once, as a subscription does.
                    ErrorKind::SlowConsumer => Err(e),
                    _ => Err(self.stopped().with_source(e)),
                }
            }
        }
    }

    /// The next request if one is queued, without waiting.
    pub fn try_next(&self) -> Option<Request> {
        self.ep.reading();
        let got = self
            .ep
            .sub
            .try_next()
            .map(|m| Request::new(m, self.ep.clone()));
        if got.is_none() {
            self.ep.done_one();
        }
        got
    }

    /// A blocking iterator over the requests, by reference.
    pub fn iter(&self) -> impl Iterator<Item = Request> + '_ {
        std::iter::from_fn(move || self.blocking_next())
    }

    fn blocking_next(&self) -> Option<Request> {
        self.ep.reading();
        match self.ep.sub.next_or_end() {
            Ok(m) => Some(Request::new(m, self.ep.clone())),
            Err(e) => {
                log::debug!("endpoint '{}' ended: {e}", self.ep.name);
                self.ep.mark_ended();
                self.ep.done_one();
                None
            }
        }
    }
}

impl Iterator for Endpoint {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        self.blocking_next()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.ep.sub.unsubscribe_now();
        self.ep.mark_ended();
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.ep.name)
            .field("subject", &self.ep.subject)
            .field("queue_group", &self.ep.queue)
            .finish()
    }
}
