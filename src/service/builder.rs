//! [`ServiceBuilder`]: a service's name, version, description, metadata and queue group.

use std::sync::Arc;

use super::config::{self, DEFAULT_QUEUE_GROUP};
use super::core::{Core, StatsHandler};
use super::schema::{EndpointStats, Metadata};
use super::service::Service;
use crate::error::Result;
use crate::Connection;

/// Configures a service; [`start`](ServiceBuilder::start) makes it discoverable.
#[must_use = "a service builder does nothing until start()"]
pub struct ServiceBuilder {
    nc: Connection,
    name: String,
    version: String,
    description: String,
    metadata: Metadata,
    queue: Option<String>,
    stats_handler: Option<StatsHandler>,
}

impl ServiceBuilder {
    /// A service `name` (`[A-Za-z0-9_-]+`) at `version` (SemVer, like `1.2.3-rc.1`) on `nc`.
    pub fn new(nc: &Connection, name: impl Into<String>, version: impl Into<String>) -> Self {
        ServiceBuilder {
            nc: nc.clone(),
            name: name.into(),
            version: version.into(),
            description: String::new(),
            metadata: Metadata::new(),
            queue: Some(DEFAULT_QUEUE_GROUP.to_string()),
            stats_handler: None,
        }
    }

    /// What the service does (shown by INFO).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Adds metadata entries (shown by PING, INFO and STATS).
    pub fn metadata<K: Into<String>, V: Into<String>>(
        mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.metadata
            .extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// The default queue group of the service's endpoints (default `q`).
    pub fn queue_group(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// No queue group by default: every instance gets every request (groups and endpoints
    /// can still set one).
    pub fn no_queue_group(mut self) -> Self {
        self.queue = None;
        self
    }

    /// Extra `data` for each endpoint's STATS entry, computed from the entry (name, subject,
    /// counts) when STATS is asked. A handler that panics is contained: that entry goes out
    /// without data.
    pub fn stats_handler<F>(mut self, handler: F) -> Self
    where
        F: Fn(&EndpointStats) -> serde_json::Value + Send + Sync + 'static,
    {
        self.stats_handler = Some(Arc::new(handler));
        self
    }

    /// Checks the configuration, subscribes the discovery subjects and starts the service.
    ///
    /// Errors, before anything is subscribed: a name that is not `[A-Za-z0-9_-]+` or a
    /// version that is not SemVer ([`ErrorKind::InvalidOption`](crate::ErrorKind::InvalidOption)),
    /// a bad queue group ([`ErrorKind::InvalidQueue`](crate::ErrorKind::InvalidQueue)); then
    /// whatever subscribing and flushing returns.
    pub fn start(self) -> Result<Service> {
        config::check_name("service", &self.name)?;
        config::check_version(&self.version)?;
        config::check_queue(self.queue.as_deref())?;
        let core = Arc::new(Core::new(
            self.nc,
            self.name,
            self.version,
            self.description,
            self.metadata,
            self.queue,
            self.stats_handler,
        ));
        super::discovery::start(&core)?;
        Ok(Service::from_core(core))
    }
}
