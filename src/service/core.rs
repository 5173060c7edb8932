//! What a running service is made of, shared by its handles, its endpoints and its discovery
//! thread: identity, endpoints, INFO and STATS documents, reset and stop.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::ThreadId;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;

use super::endpoint::EndpointShared;
use super::schema::{
    rfc3339, EndpointStats, InfoResponse, Metadata, PingResponse, StatsResponse,
    INFO_RESPONSE_TYPE, PING_RESPONSE_TYPE, STATS_RESPONSE_TYPE,
};
use crate::error::{Error, ErrorKind, Result};
use crate::subscription::drain_all;
use crate::Connection;

/// A stats handler: extra `data` for one endpoint's STATS entry.
pub(crate) type StatsHandler = Arc<dyn Fn(&EndpointStats) -> serde_json::Value + Send + Sync>;

pub(crate) struct Core {
    pub(crate) nc: Connection,
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) metadata: Metadata,
    pub(crate) id: String,
    /// The service-level queue group (`None`: disabled).
    pub(crate) queue: Option<String>,
    pub(crate) stats_handler: Option<StatsHandler>,
    started: Mutex<SystemTime>,
    state: Mutex<State>,
    discovery: Mutex<Option<Discovery>>,
}

#[derive(Default)]
struct State {
    stopped: bool,
    endpoints: Vec<Arc<EndpointShared>>,
}

/// How stop reaches the discovery thread and learns it has finished.
pub(crate) struct Discovery {
    /// Stop by this deadline.
    pub(crate) stop: Sender<Instant>,
    /// Disconnected when the thread has ended.
    pub(crate) done: Receiver<()>,
    pub(crate) thread: ThreadId,
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        nc: Connection,
        name: String,
        version: String,
        description: String,
        metadata: Metadata,
        queue: Option<String>,
        stats_handler: Option<StatsHandler>,
    ) -> Core {
        Core {
            nc,
            name,
            version,
            description,
            metadata,
            id: nuid::next().to_string(),
            queue,
            stats_handler,
            started: Mutex::new(SystemTime::now()),
            state: Mutex::new(State::default()),
            discovery: Mutex::new(None),
        }
    }

    pub(crate) fn set_discovery(&self, d: Discovery) {
        *self.discovery.lock() = Some(d);
        *self.started.lock() = SystemTime::now();
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.state.lock().stopped
    }

    pub(crate) fn check_running(&self) -> Result<()> {
        if self.is_stopped() {
            Err(self.stopped_error())
        } else {
            Ok(())
        }
    }

    fn stopped_error(&self) -> Error {
        Error::new(
            ErrorKind::ServiceStopped,
            format!("service '{}' ({}) is stopped", self.name, self.id),
        )
    }

    /// Lists a subscribed endpoint; unsubscribes it instead if the service stopped meanwhile.
    pub(crate) fn register(&self, ep: Arc<EndpointShared>) -> Result<()> {
        let mut st = self.state.lock();
        if st.stopped {
            drop(st);
            ep.sub.unsubscribe_now();
            return Err(self.stopped_error());
        }
        st.endpoints.push(ep);
        Ok(())
    }

    fn endpoints(&self) -> Vec<Arc<EndpointShared>> {
        self.state.lock().endpoints.clone()
    }

    pub(crate) fn ping(&self) -> PingResponse {
        PingResponse {
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            kind: PING_RESPONSE_TYPE.to_string(),
        }
    }

    pub(crate) fn info(&self) -> InfoResponse {
        InfoResponse {
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            kind: INFO_RESPONSE_TYPE.to_string(),
            description: self.description.clone(),
            endpoints: self.endpoints().iter().map(|e| e.info()).collect(),
        }
    }

    pub(crate) fn stats(&self) -> StatsResponse {
        let endpoints = self
            .endpoints()
            .iter()
            .map(|e| {
                let mut s = e.counters.snapshot(&e.name, &e.subject, e.queue.as_deref());
                if let Some(h) = &self.stats_handler {
                    match catch_unwind(AssertUnwindSafe(|| h(&s))) {
                        Ok(v) => s.data = Some(v),
                        Err(_) => log::error!(
                            "service '{}': the stats handler panicked for endpoint '{}'; \
                             its stats go out without data",
                            self.name,
                            e.name
                        ),
                    }
                }
                s
            })
            .collect();
        StatsResponse {
            name: self.name.clone(),
            id: self.id.clone(),
            version: self.version.clone(),
            metadata: self.metadata.clone(),
            kind: STATS_RESPONSE_TYPE.to_string(),
            started: rfc3339(*self.started.lock()),
            endpoints,
        }
    }

    /// Zeroes every endpoint's counters and restarts the `started` clock (as nats.go does).
    pub(crate) fn reset(&self) {
        for e in self.endpoints() {
            e.counters.reset();
        }
        *self.started.lock() = SystemTime::now();
    }

    /// Stops: drains every endpoint (no new requests; those already sent are still handed
    /// out), ends the discovery thread (which unsubscribes the nine discovery subjects), then
    /// waits for the requests in flight to be answered. All within `timeout`.
    pub(crate) fn stop(&self, timeout: Duration) -> Result<()> {
        let deadline = crate::time::deadline_after(timeout);
        let endpoints = {
            let mut st = self.state.lock();
            if st.stopped {
                return Ok(());
            }
            st.stopped = true;
            st.endpoints.clone()
        };
        // One round trip for all endpoints: the server stops routing to them, and every
        // request it routed before is queued for its reader.
        let subs: Vec<&crate::Subscription> = endpoints.iter().map(|e| &e.sub).collect();
        let left = deadline.saturating_duration_since(Instant::now());
        let mut result = match drain_all(&subs, left) {
            Err(e) if e.kind() != ErrorKind::Closed => Err(e),
            _ => Ok(()),
        };
        // Discovery goes next, before the wait below can use up the deadline: once stop
        // returns the server has forgotten the nine subjects (unless the deadline passed).
        let me = std::thread::current().id();
        if let Some(d) = self.discovery.lock().take() {
            let _ = d.stop.send(deadline);
            if d.thread != me {
                let _ = d.done.recv_deadline(deadline);
            }
        }
        let mut unfinished = 0;
        for e in &endpoints {
            // A handler stopping its own service cannot wait for itself.
            if !e.read_by(me) {
                unfinished += e.wait_idle(deadline);
            }
        }
        if unfinished > 0 && result.is_ok() {
            result = Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "service '{}' stopped with {unfinished} request(s) still unanswered after {timeout:?}",
                    self.name
                ),
            ));
        }
        result
    }
}
