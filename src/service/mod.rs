//! Services: request/reply APIs that other clients discover, monitor and call — the NATS
//! micro protocol (ADR-32) of nats.go's `micro`, nats.ws's `services` and async-nats's
//! `service` (cargo feature `service`, on by default).
//!
//! A service has a name, a SemVer version and a random id, and answers on nine discovery
//! subjects (`$SRV.PING`, `$SRV.INFO`, `$SRV.STATS`, each also `.<name>` and `.<name>.<id>`)
//! from one internal thread. Its endpoints are queue subscriptions (queue group `q` unless
//! told otherwise, so instances share the load) that count requests, errors and processing
//! time.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # fn main() -> natsws::Result<()> {
//! let nc = natsws::connect("127.0.0.1")?;
//! let svc = nc
//!     .services()
//!     .builder("greeter", "1.0.0")
//!     .description("says hello")
//!     .start()?;
//!
//! // A handler on a thread of its own...
//! svc.endpoint("hello").handler(|req| {
//!     let _ = req.respond(format!("hello, {}", String::from_utf8_lossy(req.payload())));
//! })?;
//!
//! // ...or an iterator of requests you answer yourself, here under a group: `math.divide`.
//! let divide = svc.group("math").endpoint("divide").add()?;
//! std::thread::spawn(move || {
//!     for req in divide {
//!         if req.payload().is_empty() {
//!             let _ = req.respond_error(400, "nothing to divide", "");
//!         } else {
//!             let _ = req.respond("42");
//!         }
//!     }
//! });
//!
//! // Any client finds and calls it; errors arrive as headers read by `service_error`.
//! let found = nc.services().client().ping_name("greeter")?;
//! assert_eq!(found[0].id, svc.id());
//! let reply = nc.request_timeout("math.divide", "", Duration::from_secs(1))?;
//! assert_eq!(reply.service_error().unwrap().code, 400);
//!
//! svc.stop()?; // drains the endpoints, answers what is in flight, unsubscribes
//! # Ok(()) }
//! ```
//!
//! Choices where implementations differ (nats.go's in each case): the version must be strict
//! SemVer; `last_error` in STATS is the string `"<code>:<description>"`; a service without
//! metadata sends `{}`, an endpoint without metadata `null`; an endpoint without a queue group
//! shows `"queue_group": ""`; reset also restarts `started`. A handler that panics is answered
//! with error 500 and the service keeps serving (nats.go would crash).

mod builder;
mod client;
mod config;
mod core;
mod discovery;
mod endpoint;
mod request;
mod schema;
#[allow(clippy::module_inception)]
mod service;
mod stats;

pub use builder::ServiceBuilder;
pub use client::{ServiceClient, DEFAULT_MAX_WAIT, DEFAULT_STALL};
pub use config::DEFAULT_QUEUE_GROUP;
pub use discovery::API_PREFIX;
pub use endpoint::{Endpoint, EndpointBuilder};
pub use request::{Request, ServiceError, ERROR_CODE_HEADER, ERROR_HEADER};
pub use schema::{
    EndpointInfo, EndpointStats, InfoResponse, Metadata, PingResponse, StatsResponse,
    INFO_RESPONSE_TYPE, PING_RESPONSE_TYPE, STATS_RESPONSE_TYPE,
};
pub use service::{Group, Service, DEFAULT_STOP_TIMEOUT};

use crate::Connection;

/// A connection's services: build one, or a client that finds them (nats.ws
/// `nc.services`). From [`Connection::services`].
#[derive(Debug, Clone)]
pub struct Services {
    nc: Connection,
}

impl Services {
    /// Starts building a service `name` (`[A-Za-z0-9_-]+`) at `version` (SemVer).
    pub fn builder(&self, name: impl Into<String>, version: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder::new(&self.nc, name, version)
    }

    /// A client that discovers services and asks them INFO and STATS.
    pub fn client(&self) -> ServiceClient {
        ServiceClient::new(self.nc.clone())
    }
}

impl Connection {
    /// Services on this connection: [`builder`](Services::builder) starts one,
    /// [`client`](Services::client) finds them (feature `service`).
    pub fn services(&self) -> Services {
        Services { nc: self.clone() }
    }
}
