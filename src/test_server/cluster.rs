//! A cluster of `nats-server` nodes routed together on loopback, for reconnect and discovery
//! tests.
//!
//! ```no_run
//! use natsws::test_server::{Cluster, Transport};
//!
//! # fn main() -> natsws::Result<()> {
//! // Three nodes, each with a client port and a TLS WebSocket listener; the certificates of
//! // all nodes are signed by one CA.
//! let mut cluster = Cluster::start(3, Transport::Wss)?;
//! let urls = cluster.urls(Transport::Wss); // ["wss://localhost:P0", ...]
//! let ca = cluster.ca_pem().to_owned();
//! cluster.kill(0); // SIGKILL; the slot and its ports stay
//! cluster.restart(0)?; // same ports, waits until the node is back in the cluster
//! # let _ = (urls, ca);
//! # Ok(())
//! # }
//! ```
//!
//! # What clients see
//!
//! Every node advertises its client port and its WebSocket listener as `127.0.0.1:PORT`. A
//! client on the client port gets the client ports of all running nodes (its own included) in
//! `connect_urls`; a ws or wss client gets the WebSocket listeners instead. The lists arrive in
//! the first INFO once the cluster has formed, and in asynchronous INFOs when a node joins or
//! leaves.
//!
//! # Lame duck mode
//!
//! Nodes run with `lame_duck_grace_period: 1s` and `lame_duck_duration: 30s` (the smallest
//! duration nats-server accepts). After `node(i).signal("ldm")` the node sends its clients an
//! INFO with `"ldm":true` and a `connect_urls` without itself at once, closes its listeners
//! (new connections are refused), closes its clients one at a time from one second on (at most
//! one second apart), then exits with status 0 (`is_running()` turns false; `restart` works).
//! [`Cluster::start_with`] can override these settings.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::{generate_ca, io_error, read_line, Builder, NatsServer, Transport};
use crate::{Error, ErrorKind, Result};

/// How long [`Cluster::wait_formed`] waits for every node to see every other.
const FORM_TIMEOUT: Duration = Duration::from_secs(15);

/// Config every node gets before [`Cluster::start_with`]'s extra text.
const LAME_DUCK_CONFIG: &str = "lame_duck_grace_period: 1s\nlame_duck_duration: 30s\n";

/// Several [`NatsServer`]s routed together into one cluster on loopback.
///
/// Every node has a client port and the WebSocket listener of the cluster's transport (plain
/// for [`Transport::Tcp`] and [`Transport::Ws`], TLS for [`Transport::Wss`]), and a TLS
/// certificate signed by one shared CA ([`Cluster::ca_pem`]). Every node has explicit routes to
/// all other nodes (a node added later is written into the others' configs for their next
/// restart). Route ports are fixed per node, so a restarted node rejoins within about 100 ms. Dropping the cluster kills every node.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<NatsServer>,
    route_ports: Vec<u16>,
    transport: Transport,
    name: String,
    ca_cert: String,
    ca_key: String,
    extra: String,
    jetstream: bool,
}

impl Cluster {
    /// Start `n` nodes offering `transport` (and tcp), routed together; returns once every
    /// node lists every node's client port in its `connect_urls` (at most 15 seconds).
    pub fn start(n: usize, transport: Transport) -> Result<Cluster> {
        Cluster::start_with(n, transport, "")
    }

    /// [`Cluster::start`] with `extra` appended to every node's config (after the cluster and
    /// lame duck settings, so it can override them), also for nodes added later.
    pub fn start_with(n: usize, transport: Transport, extra: &str) -> Result<Cluster> {
        Cluster::start_inner(n, transport, extra, false)
    }

    /// `n` nodes (3 or more for replicated streams) with JetStream clustered among them, each
    /// node's store in its own temporary directory; returns once the JetStream API answers
    /// (at most 30 seconds after the cluster formed).
    pub fn start_jetstream(n: usize, transport: Transport) -> Result<Cluster> {
        let mut c = Cluster::start_inner(n, transport, "", true)?;
        c.wait_jetstream()?;
        Ok(c)
    }

    /// Waits until `$JS.API.INFO` answers without error on every running node.
    pub fn wait_jetstream(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        for i in 0..self.nodes.len() {
            if !self.nodes[i].is_running() {
                continue;
            }
            let nc = crate::connect(self.nodes[i].tcp_url().as_str())?;
            loop {
                let ok = nc
                    .request_timeout("$JS.API.INFO", "", Duration::from_secs(2))
                    .map(|m| {
                        !m.payload.is_empty()
                            && !String::from_utf8_lossy(&m.payload).contains("\"error\"")
                    })
                    .unwrap_or(false);
                if ok {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!("JetStream of test cluster {} not ready in 30 s", self.name),
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = nc.close();
        }
        Ok(())
    }

    fn start_inner(
        n: usize,
        transport: Transport,
        extra: &str,
        jetstream: bool,
    ) -> Result<Cluster> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let (ca_cert, ca_key) = generate_ca()?;
        let mut cluster = Cluster {
            nodes: Vec::with_capacity(n),
            route_ports: free_ports(n)?,
            transport,
            // Unique, so a route can never join another test's cluster on a reused port.
            name: format!(
                "natsws-{}-{}-{nanos}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ),
            ca_cert,
            ca_key,
            extra: extra.to_owned(),
            jetstream,
        };
        cluster.launch_all()?;
        // A node that replaced a taken port is not yet in the configs of the earlier ones.
        cluster.refresh_configs();
        cluster.wait_formed()?;
        Ok(cluster)
    }

    /// Node `i`. Panics if `i >= len()`.
    pub fn node(&self, i: usize) -> &NatsServer {
        &self.nodes[i]
    }

    /// Node `i`, e.g. to [`restart`](NatsServer::restart) or [`stop`](NatsServer::stop) it.
    /// Panics if `i >= len()`.
    pub fn node_mut(&mut self, i: usize) -> &mut NatsServer {
        &mut self.nodes[i]
    }

    /// The number of node slots (killed nodes included).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the cluster has no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The transport the cluster was started for.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Every node's URL for `t` (killed nodes included), in node order; empty if the nodes do
    /// not offer `t` (e.g. [`Transport::Ws`] in a [`Transport::Wss`] cluster).
    pub fn urls(&self, t: Transport) -> Vec<String> {
        self.nodes.iter().filter_map(|n| n.url(t)).collect()
    }

    /// Node `i`'s address for `t` as nats-server writes it into `connect_urls`:
    /// `"127.0.0.1:PORT"`; `None` if the node does not offer `t`.
    pub fn connect_url(&self, i: usize, t: Transport) -> Option<String> {
        let node = &self.nodes[i];
        let port = match t {
            Transport::Tcp => Some(node.port()),
            Transport::Ws => node.ws_port(),
            Transport::Wss => node.wss_port(),
        };
        port.map(|p| format!("127.0.0.1:{p}"))
    }

    /// Node `i`'s route (cluster) port.
    pub fn route_port(&self, i: usize) -> u16 {
        self.route_ports[i]
    }

    /// Start one more node, routed to every existing one; waits until the cluster has formed
    /// again. Returns the new node's index.
    pub fn add_node(&mut self) -> Result<usize> {
        self.route_ports.extend(free_ports(1)?);
        let i = match self.launch_node() {
            Ok(i) => i,
            Err(e) => {
                self.route_ports.pop();
                return Err(e);
            }
        };
        self.refresh_configs();
        self.wait_formed()?;
        Ok(i)
    }

    /// Kill node `i` (SIGKILL, see [`NatsServer::stop`]). Its slot, ports and config stay:
    /// [`Cluster::restart`] or `node_mut(i).restart()` brings it back. Does not wait for the
    /// other nodes to notice; [`Cluster::wait_formed`] does.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].stop();
    }

    /// Restart node `i` (killing it first if it runs) on the same ports and wait until the
    /// cluster has formed again.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.nodes[i].restart()?;
        self.wait_formed()
    }

    /// The PEM text of the CA that signed every node's certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_cert
    }

    /// Wait (at most 15 seconds) until every running node lists exactly the client ports of
    /// the running nodes in the `connect_urls` of a new client's INFO, i.e. every node has a
    /// route to every other running node.
    pub fn wait_formed(&mut self) -> Result<()> {
        let deadline = Instant::now() + FORM_TIMEOUT;
        let mut backoff = Duration::from_millis(1);
        loop {
            let running: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].is_running())
                .collect();
            let want: BTreeSet<String> = running
                .iter()
                .map(|&i| format!("127.0.0.1:{}", self.nodes[i].port()))
                .collect();
            let problem = running.iter().find_map(|&i| {
                match client_connect_urls(self.nodes[i].port()) {
                    // A lone node may advertise nothing.
                    Ok(urls) if urls == want || (running.len() == 1 && urls.is_empty()) => None,
                    Ok(urls) => Some(format!("node {i} advertises {urls:?}, want {want:?}")),
                    Err(e) => Some(format!("node {i}: {e}")),
                }
            });
            let Some(problem) = problem else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "test cluster {} did not form within {FORM_TIMEOUT:?}: {problem}",
                        self.name
                    ),
                ));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(20));
        }
    }

    /// Start the nodes for all route ports at once (in parallel), then retry one by one the
    /// nodes whose route port was taken meanwhile.
    fn launch_all(&mut self) -> Result<()> {
        let builders: Vec<Builder> = (0..self.route_ports.len())
            .map(|i| self.node_builder(i))
            .collect();
        let started: Vec<Result<NatsServer>> = std::thread::scope(|s| {
            let handles: Vec<_> = builders
                .into_iter()
                .map(|b| s.spawn(move || b.start()))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(
                            ErrorKind::Io,
                            "test cluster: node start panicked",
                        ))
                    })
                })
                .collect()
        });
        for (i, result) in started.into_iter().enumerate() {
            match result {
                Ok(server) => self.nodes.push(server),
                Err(e) if port_taken(&e) => {
                    self.route_ports[i] = free_ports(1)?[0];
                    self.launch_node()?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn node_builder(&self, i: usize) -> Builder {
        Builder::new()
            .transport(self.transport)
            .ca(&self.ca_cert, &self.ca_key)
            .jetstream(self.jetstream)
            .config(&self.node_config(i))
    }

    /// Start node `len()` on route port `route_ports[len()]`, with routes to every other
    /// node; does not wait for routes.
    fn launch_node(&mut self) -> Result<usize> {
        let i = self.nodes.len();
        // The route port is chosen here (not `-1`) so that it survives restarts and other
        // nodes can name it; another process may grab it before the server binds it, so
        // retry a few times with a new one.
        let mut attempt = 0;
        loop {
            match self.node_builder(i).start() {
                Ok(server) => {
                    self.nodes.push(server);
                    return Ok(i);
                }
                Err(e) if attempt < 4 && port_taken(&e) => {
                    log::debug!("test cluster: a port was taken, retrying: {e}");
                    self.route_ports[i] = free_ports(1)?[0];
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Rewrite every node's config (used at its next restart) so that it has routes to every
    /// other node, those added since it started included: a restarted node then reaches its
    /// peers at once instead of waiting for their route retry (one second).
    fn refresh_configs(&mut self) {
        for i in 0..self.nodes.len() {
            let mut config = self.node_config(i);
            config.push('\n'); // as Builder::config leaves it
            self.nodes[i].builder.extra_config = config;
        }
    }

    fn node_config(&self, i: usize) -> String {
        let mut c = String::new();
        let _ = writeln!(c, "server_name: \"n{i}\"");
        c.push_str("cluster {\n");
        let _ = writeln!(c, "  name: \"{}\"", self.name);
        c.push_str("  host: 127.0.0.1\n");
        let _ = writeln!(c, "  port: {}", self.route_ports[i]);
        c.push_str("  routes: [\n");
        for (j, p) in self.route_ports.iter().enumerate() {
            if j != i {
                let _ = writeln!(c, "    \"nats-route://127.0.0.1:{p}\"");
            }
        }
        c.push_str("  ]\n}\n");
        c.push_str(LAME_DUCK_CONFIG);
        c.push_str(&self.extra);
        c
    }
}

/// Whether a start failed because a port was taken.
fn port_taken(e: &Error) -> bool {
    e.to_string().contains("address already in use")
}

/// `n` distinct ports that were free a moment ago on 127.0.0.1.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind(("127.0.0.1", 0)))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io_error("find a free port", e))?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| io_error("find a free port", e))
}

/// The `connect_urls` of the INFO a new client on `port` receives.
fn client_connect_urls(port: u16) -> std::result::Result<BTreeSet<String>, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(1))
        .map_err(|e| format!("connect to client port {port}: {e}"))?;
    let line = read_line(&mut conn).map_err(|e| format!("read INFO on port {port}: {e}"))?;
    let json = line
        .strip_prefix("INFO ")
        .ok_or_else(|| format!("port {port} sent {line:?} instead of INFO"))?;
    let info: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("INFO on port {port}: {e}"))?;
    Ok(info["connect_urls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u.as_str().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Connection, Options};

    const WAIT: Duration = Duration::from_secs(10);

    fn client(cluster: &Cluster, i: usize, t: Transport) -> Connection {
        let url = cluster.node(i).url(t).expect("node offers the transport");
        Options::new()
            .add_root_certificate_pem(cluster.ca_pem().as_bytes().to_vec())
            .connect(url.as_str())
            .unwrap_or_else(|e| panic!("connect to node {i} at {url}: {e}"))
    }

    fn advertised(cluster: &Cluster, nodes: &[usize], t: Transport) -> BTreeSet<String> {
        nodes
            .iter()
            .map(|&i| cluster.connect_url(i, t).unwrap())
            .collect()
    }

    /// Poll `conn`'s INFO until `ok` holds (bounded); returns how long it took.
    fn wait_info(
        conn: &Connection,
        what: &str,
        ok: impl Fn(&crate::ServerInfo) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let info = conn.server_info();
            if ok(&info) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < WAIT,
                "{what}: not seen within {WAIT:?}; last INFO {info:?}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn urls_set(info: &crate::ServerInfo) -> BTreeSet<String> {
        info.connect_urls.iter().cloned().collect()
    }

    #[test]
    fn three_nodes_form_for_each_transport() {
        // A client over wss needs the `tls` feature.
        let clients_can_use = |t: &Transport| cfg!(feature = "tls") || *t != Transport::Wss;
        for t in Transport::ALL.into_iter().filter(clients_can_use) {
            let started = Instant::now();
            let cluster = Cluster::start(3, t).unwrap();
            eprintln!(
                "{}: 3-node cluster formed in {:?}",
                t.name(),
                started.elapsed()
            );
            assert_eq!(cluster.len(), 3);
            assert_eq!(cluster.transport(), t);
            let urls = cluster.urls(t);
            assert_eq!(urls.len(), 3, "{urls:?}");
            let want = advertised(&cluster, &[0, 1, 2], t);
            // Every node is reachable with the one CA, and advertises every node for `t`.
            for i in 0..3 {
                let conn = client(&cluster, i, t);
                let seen = wait_info(&conn, "full connect_urls", |info| urls_set(info) == want);
                eprintln!(
                    "{} client on node {i}: connect_urls {:?} (after {seen:?})",
                    t.name(),
                    conn.server_info().connect_urls
                );
                conn.close().unwrap();
            }
            // A tcp client of a ws/wss cluster gets the client ports.
            if t != Transport::Tcp {
                let conn = client(&cluster, 0, Transport::Tcp);
                let want = advertised(&cluster, &[0, 1, 2], Transport::Tcp);
                wait_info(&conn, "tcp connect_urls", |info| urls_set(info) == want);
                conn.close().unwrap();
            }
            for i in 0..3 {
                assert!(cluster.node(i).ca_pem() == cluster.ca_pem());
            }
        }
    }

    #[test]
    fn added_node_reaches_existing_clients() {
        for t in [Transport::Tcp, Transport::Ws] {
            let mut cluster = Cluster::start(2, t).unwrap();
            let conn = client(&cluster, 0, t);
            wait_info(&conn, "two nodes", |info| info.connect_urls.len() == 2);
            let started = Instant::now();
            let i = cluster.add_node().unwrap();
            eprintln!("{}: add_node took {:?}", t.name(), started.elapsed());
            assert_eq!(i, 2);
            assert_eq!(cluster.len(), 3);
            let want = advertised(&cluster, &[0, 1, 2], t);
            let seen = wait_info(&conn, "added node", |info| urls_set(info) == want);
            eprintln!(
                "{}: existing client saw the new node {seen:?} later",
                t.name()
            );
            conn.close().unwrap();
        }
    }

    #[test]
    fn kill_and_restart_a_node() {
        let mut cluster = Cluster::start(3, Transport::Tcp).unwrap();
        let conn = client(&cluster, 0, Transport::Tcp);
        let all = advertised(&cluster, &[0, 1, 2], Transport::Tcp);
        wait_info(&conn, "three nodes", |info| urls_set(info) == all);
        let port = cluster.node(1).port();

        cluster.kill(1);
        assert!(!cluster.node_mut(1).is_running());
        assert_eq!(cluster.len(), 3);
        let rest = advertised(&cluster, &[0, 2], Transport::Tcp);
        wait_info(&conn, "node 1 gone", |info| urls_set(info) == rest);
        cluster.wait_formed().unwrap();

        let started = Instant::now();
        cluster.restart(1).unwrap();
        eprintln!("restart + re-form took {:?}", started.elapsed());
        assert_eq!(cluster.node(1).port(), port);
        wait_info(&conn, "node 1 back", |info| urls_set(info) == all);

        // Restarting through the node itself works too (the route port is in its config).
        cluster.node_mut(2).restart().unwrap();
        cluster.wait_formed().unwrap();
        conn.close().unwrap();
    }

    #[test]
    fn lame_duck_reaches_clients() {
        for t in [Transport::Tcp, Transport::Ws] {
            let mut cluster = Cluster::start(2, t).unwrap();
            let conn = client(&cluster, 1, t);
            let all = advertised(&cluster, &[0, 1], t);
            wait_info(&conn, "two nodes", |info| urls_set(info) == all);
            assert!(!conn.server_info().ldm);

            let signalled = Instant::now();
            cluster.node(1).signal("ldm").unwrap();
            let seen = wait_info(&conn, "ldm", |info| info.ldm);
            let info = conn.server_info();
            // The lame duck advertises only the other nodes.
            assert_eq!(urls_set(&info), advertised(&cluster, &[0], t));
            // It exits after the grace period and closing its clients.
            while cluster.node_mut(1).is_running() {
                assert!(signalled.elapsed() < WAIT, "lame duck node still running");
                std::thread::sleep(Duration::from_millis(10));
            }
            eprintln!(
                "{}: ldm INFO after {seen:?}, node exited after {:?}",
                t.name(),
                signalled.elapsed()
            );
            cluster.restart(1).unwrap();
            let _ = conn.close();
        }
    }

    #[test]
    #[cfg(feature = "tls")] // a wss client
    fn one_node_cluster_and_shared_ca() {
        let mut cluster = Cluster::start(1, Transport::Wss).unwrap();
        assert_eq!(cluster.len(), 1);
        assert!(!cluster.is_empty());
        assert!(cluster.urls(Transport::Ws).is_empty());
        assert!(cluster.urls(Transport::Wss)[0].starts_with("wss://localhost:"));
        let i = cluster.add_node().unwrap();
        let conn = client(&cluster, i, Transport::Wss);
        let want = advertised(&cluster, &[0, 1], Transport::Wss);
        wait_info(&conn, "two nodes", |info| urls_set(info) == want);
        conn.close().unwrap();
        let ca = std::fs::read_to_string(cluster.node(i).ca_path()).unwrap();
        assert_eq!(ca, cluster.ca_pem());
        assert_ne!(cluster.route_port(0), cluster.route_port(1));
    }

    #[test]
    fn taken_route_port_is_replaced() {
        let mut cluster = Cluster::start(1, Transport::Tcp).unwrap();
        // Someone else holds the port the next node was going to use.
        let squatter = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let taken = squatter.local_addr().unwrap().port();
        cluster.route_ports.push(taken);
        let i = cluster.launch_node().unwrap();
        assert_ne!(cluster.route_port(i), taken);
        cluster.refresh_configs();
        cluster.wait_formed().unwrap();
        // The first node's config (for its next restart) names the new port.
        cluster.restart(0).unwrap();
        let config = std::fs::read_to_string(cluster.node(0).config_path()).unwrap();
        let want = format!("nats-route://127.0.0.1:{}", cluster.route_port(i));
        assert!(config.contains(&want), "{config}");
        assert!(!config.contains(&format!(":{taken}\"")), "{config}");
    }
}
