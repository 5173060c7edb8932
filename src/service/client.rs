//! [`ServiceClient`]: finds services and asks them PING, INFO and STATS (nats.ws
//! `services.client()`).

use std::time::Duration;

use serde::de::DeserializeOwned;

use super::discovery::{subject, Verb};
use super::schema::{InfoResponse, PingResponse, StatsResponse};
use crate::error::{Error, ErrorKind, Result};
use crate::{Connection, RequestManyOptions};

/// How long a discovery call collects replies, at most (nats.ws's `maxWait`).
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);
/// A discovery call ends this long after the last reply (nats.ws's stall strategy).
pub const DEFAULT_STALL: Duration = Duration::from_millis(300);

/// Asks services who they are, what endpoints they have and how they are doing.
///
/// Each question goes to all services, to every instance of one service (by name), or to
/// one instance (by name and id). Replies are collected with
/// [`request_many`](crate::Connection::request_many) until none came for
/// [`stall`](ServiceClient::stall) after the last (300 ms) or
/// [`max_wait`](ServiceClient::max_wait) passed (2 s); a question to one instance ends at its
/// answer.
///
/// ```no_run
/// # fn main() -> natsws::Result<()> {
/// let nc = natsws::connect("127.0.0.1")?;
/// for s in nc.services().client().info_name("echo")? {
///     println!("{} {} {}: {} endpoint(s)", s.name, s.version, s.id, s.endpoints.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct ServiceClient {
    nc: Connection,
    max_wait: Duration,
    stall: Duration,
}

impl ServiceClient {
    pub(crate) fn new(nc: Connection) -> ServiceClient {
        ServiceClient {
            nc,
            max_wait: DEFAULT_MAX_WAIT,
            stall: DEFAULT_STALL,
        }
    }

    /// The longest a call collects replies.
    pub fn max_wait(mut self, d: Duration) -> Self {
        self.max_wait = d;
        self
    }

    /// A call ends when no reply came for this long after the last one.
    pub fn stall(mut self, d: Duration) -> Self {
        self.stall = d;
        self
    }

    /// Every service instance's PING answer (empty when there is none).
    pub fn ping(&self) -> Result<Vec<PingResponse>> {
        self.all(Verb::Ping, None)
    }

    /// The PING answers of every instance of service `name`.
    pub fn ping_name(&self, name: &str) -> Result<Vec<PingResponse>> {
        self.all(Verb::Ping, Some(name))
    }

    /// The PING answer of one instance; [`ErrorKind::NoResponders`] when it is not there.
    pub fn ping_id(&self, name: &str, id: &str) -> Result<PingResponse> {
        self.one(Verb::Ping, name, id)
    }

    /// Every service instance's INFO answer.
    pub fn info(&self) -> Result<Vec<InfoResponse>> {
        self.all(Verb::Info, None)
    }

    /// The INFO answers of every instance of service `name`.
    pub fn info_name(&self, name: &str) -> Result<Vec<InfoResponse>> {
        self.all(Verb::Info, Some(name))
    }

    /// The INFO answer of one instance; [`ErrorKind::NoResponders`] when it is not there.
    pub fn info_id(&self, name: &str, id: &str) -> Result<InfoResponse> {
        self.one(Verb::Info, name, id)
    }

    /// Every service instance's STATS answer.
    pub fn stats(&self) -> Result<Vec<StatsResponse>> {
        self.all(Verb::Stats, None)
    }

    /// The STATS answers of every instance of service `name`.
    pub fn stats_name(&self, name: &str) -> Result<Vec<StatsResponse>> {
        self.all(Verb::Stats, Some(name))
    }

    /// The STATS answer of one instance; [`ErrorKind::NoResponders`] when it is not there.
    pub fn stats_id(&self, name: &str, id: &str) -> Result<StatsResponse> {
        self.one(Verb::Stats, name, id)
    }

    /// Every answer that parses; one that does not is logged and skipped, so a broken
    /// service does not hide the others.
    fn all<T: DeserializeOwned>(&self, verb: Verb, name: Option<&str>) -> Result<Vec<T>> {
        let answers = match self.collect(&subject(verb, name, None), None) {
            Err(e) if e.kind() == ErrorKind::NoResponders => return Ok(Vec::new()),
            r => r?,
        };
        Ok(answers
            .into_iter()
            .filter_map(|a| a.map_err(|e| log::warn!("{e}")).ok())
            .collect())
    }

    fn one<T: DeserializeOwned>(&self, verb: Verb, name: &str, id: &str) -> Result<T> {
        let subj = subject(verb, Some(name), Some(id));
        self.collect(&subj, Some(1))?.pop().unwrap_or_else(|| {
            Err(Error::new(
                ErrorKind::Timeout,
                format!("no answer on '{subj}' within {:?}", self.max_wait),
            ))
        })
    }

    fn collect<T: DeserializeOwned>(
        &self,
        subj: &str,
        max: Option<usize>,
    ) -> Result<Vec<Result<T>>> {
        let mut opts = RequestManyOptions::new()
            .max_wait(self.max_wait)
            .stall(self.stall);
        if let Some(n) = max {
            opts = opts.max_messages(n);
        }
        let mut out = Vec::new();
        for reply in self.nc.request_many(subj, b"", opts)? {
            let reply = reply?;
            if let Some(e) = reply.service_error() {
                out.push(Err(Error::new(
                    ErrorKind::Server,
                    format!("a service answered '{subj}' with an error"),
                )
                .with_source(e)));
                continue;
            }
            out.push(serde_json::from_slice(&reply.payload).map_err(|e| {
                Error::new(
                    ErrorKind::Protocol,
                    format!("a service's answer on '{subj}' is not the expected JSON"),
                )
                .with_source(e)
            }));
        }
        Ok(out)
    }
}
