//! [`Service`]: the handle of a running service, and [`Group`]: a subject prefix for its
//! endpoints.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::config;
use super::core::Core;
use super::endpoint::EndpointBuilder;
use super::schema::{InfoResponse, StatsResponse};
use crate::error::Result;

/// How long [`Service::stop`] (and dropping the last handle) waits for in-flight requests.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A running service: discoverable on `$SRV.*`, with endpoints that take requests.
///
/// Built with [`Connection::services`](crate::Connection::services)`().builder(..)` or
/// [`ServiceBuilder`](super::ServiceBuilder). Cheap to clone; clones (and [`Group`]s) share
/// one service. The service runs until [`stop`](Service::stop) is called, its connection
/// closes, or the last `Service` and `Group` handle is dropped (which stops it, bounded by
/// [`DEFAULT_STOP_TIMEOUT`]).
#[derive(Clone)]
pub struct Service {
    handle: Arc<Handle>,
}

struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.core.stop(DEFAULT_STOP_TIMEOUT) {
            log::warn!("service '{}' stopped on drop: {e}", self.core.name);
        }
    }
}

impl Service {
    pub(crate) fn from_core(core: Arc<Core>) -> Service {
        Service {
            handle: Arc::new(Handle { core }),
        }
    }

    fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.core().name
    }

    /// The service version.
    pub fn version(&self) -> &str {
        &self.core().version
    }

    /// This instance's unique id (a nuid), what `$SRV.<VERB>.<name>.<id>` addresses.
    pub fn id(&self) -> &str {
        &self.core().id
    }

    /// Starts adding an endpoint named `name` (its subject is `name` unless set).
    pub fn endpoint(&self, name: impl Into<String>) -> EndpointBuilder {
        EndpointBuilder::new(
            self.core().clone(),
            String::new(),
            name.into(),
            self.core().queue.clone(),
        )
    }

    /// A group: endpoints added through it listen on `<name>.<subject>`. `name` may have dots
    /// but no wildcard; it is checked when an endpoint is added.
    pub fn group(&self, name: impl Into<String>) -> Group {
        Group {
            service: self.clone(),
            prefix: name.into(),
            queue: self.core().queue.clone(),
        }
    }

    /// What `$SRV.INFO` answers for this instance.
    pub fn info(&self) -> InfoResponse {
        self.core().info()
    }

    /// What `$SRV.STATS` answers for this instance.
    pub fn stats(&self) -> StatsResponse {
        self.core().stats()
    }

    /// Zeroes every endpoint's statistics and restarts the `started` clock.
    pub fn reset(&self) {
        self.core().reset()
    }

    /// `true` once [`stop`](Service::stop) has been called (or the last handle dropped), even
    /// while the stop is still draining.
    pub fn is_stopped(&self) -> bool {
        self.core().is_stopped()
    }

    /// Stops the service within [`DEFAULT_STOP_TIMEOUT`]; see
    /// [`stop_timeout`](Service::stop_timeout).
    pub fn stop(&self) -> Result<()> {
        self.stop_timeout(DEFAULT_STOP_TIMEOUT)
    }

    /// Stops the service: its endpoints are drained (no new requests; every request already
    /// sent to them is still handed out and their iterators then end), the discovery subjects
    /// are unsubscribed, and stop waits until the requests in flight are answered — all
    /// within `timeout`.
    /// Idempotent. Fails with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when requests
    /// were still unanswered at the deadline (the service is stopped all the same).
    pub fn stop_timeout(&self, timeout: Duration) -> Result<()> {
        self.core().stop(timeout)
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("name", &self.name())
            .field("id", &self.id())
            .field("version", &self.version())
            .finish()
    }
}

/// Endpoints under a common subject prefix, with their own default queue group.
#[derive(Clone)]
pub struct Group {
    service: Service,
    prefix: String,
    queue: Option<String>,
}

impl Group {
    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A group inside this one: `<prefix>.<name>`, inheriting its queue group.
    pub fn group(&self, name: impl Into<String>) -> Group {
        Group {
            service: self.service.clone(),
            prefix: config::join(&self.prefix, &name.into()),
            queue: self.queue.clone(),
        }
    }

    /// The default queue group of this group's endpoints.
    pub fn queue_group(mut self, queue: impl Into<String>) -> Group {
        self.queue = Some(queue.into());
        self
    }

    /// No queue group for this group's endpoints (unless an endpoint sets one).
    pub fn no_queue_group(mut self) -> Group {
        self.queue = None;
        self
    }

    /// Starts adding an endpoint `name` listening on `<prefix>.<subject>`.
    pub fn endpoint(&self, name: impl Into<String>) -> EndpointBuilder {
        EndpointBuilder::new(
            self.service.core().clone(),
            self.prefix.clone(),
            name.into(),
            self.queue.clone(),
        )
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Group")
            .field("prefix", &self.prefix)
            .field("queue_group", &self.queue)
            .finish()
    }
}
