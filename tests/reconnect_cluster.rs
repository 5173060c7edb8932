//! Reconnecting within a cluster over every transport: failover to a discovered node when the
//! current one dies, a node added later is discovered and used, and lame duck migration.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;
use natsws::test_server::{Cluster, Transport};
use natsws::{Connection, ErrorKind, Event, Options, Subscription};

each_transport!(cluster_failover_and_discovery, lame_duck_migration);

/// Which node of `cluster` a URL for `t` points to (by port).
fn node_of(cluster: &Cluster, t: Transport, url: &str) -> usize {
    let port = port_of(url);
    (0..cluster.len())
        .find(|&i| cluster.node(i).url(t).map(|u| port_of(&u)) == Some(port))
        .unwrap_or_else(|| panic!("{url} is no node of the cluster"))
}

fn current_node(nc: &Connection, cluster: &Cluster, t: Transport) -> usize {
    node_of(cluster, t, &nc.connected_url().expect("connected"))
}

fn opts(cluster: &Cluster) -> Options {
    Options::new()
        .add_root_certificate_pem(cluster.ca_pem().as_bytes().to_vec())
        .reconnect_wait(Duration::from_millis(250))
        .reconnect_jitter(Duration::from_millis(100), Duration::from_millis(100))
        .max_reconnects(None)
}

/// The ports of the servers the next `ServersChanged` events add, until `want` are all in.
fn wait_added(events: &crossbeam_channel::Receiver<Event>, want: &[u16]) -> BTreeSet<u16> {
    let mut seen = BTreeSet::new();
    wait_event(events, |e| match e {
        Event::ServersChanged { added, .. } => {
            seen.extend(added.iter().map(|u| port_of(u)));
            want.iter().all(|p| seen.contains(p)).then_some(())
        }
        _ => None,
    });
    seen
}

fn round_trip(nc: &Connection, sub: &Subscription, payload: &str) {
    nc.publish(sub.subject(), payload).unwrap();
    assert_eq!(&next(sub).payload[..], payload.as_bytes());
}

/// Given only node 0, the client learns nodes 1 and 2; when its node is killed it moves to
/// another within the reconnect wait + jitter + connect time, subscriptions intact. A node
/// added later is announced, and once every original node is dead the client is on it.
fn cluster_failover_and_discovery(t: Transport) {
    let mut cluster = Cluster::start(3, t).unwrap();
    let port = |c: &Cluster, i: usize| port_of(&c.node(i).url(t).unwrap());
    let seed = cluster.node(0).url(t).unwrap();
    let nc = opts(&cluster).connect(seed.as_str()).unwrap();
    let events = nc.events();
    wait_added(&events, &[port(&cluster, 1), port(&cluster, 2)]);
    let sub = nc.subscribe("cluster.fo").unwrap();
    let queue = nc.queue_subscribe("cluster.fo.q", "q").unwrap();
    round_trip(&nc, &sub, "before");

    let was = current_node(&nc, &cluster, t);
    assert_eq!(was, 0);
    cluster.kill(was);
    let killed = Instant::now();
    let url = wait_reconnected(&events);
    let failover = killed.elapsed();
    let now = node_of(&cluster, t, &url);
    assert_ne!(now, was);
    eprintln!(
        "{}: failover from node {was} to node {now} in {failover:?}",
        t.name()
    );
    // The first pass over the pool has no wait: this is about one connect time.
    assert!(failover < Duration::from_secs(5), "{failover:?}");
    round_trip(&nc, &sub, "after failover");
    round_trip(&nc, &queue, "queue after failover");

    let added_node = cluster.add_node().unwrap();
    wait_added(&events, &[port(&cluster, added_node)]);
    let start = Instant::now();
    for i in 0..added_node {
        cluster.kill(i);
    }
    let want = port(&cluster, added_node);
    wait_event(&events, |e| match e {
        Event::Reconnected { url } if port_of(url) == want => Some(()),
        Event::Closed { reason } => panic!("closed: {reason:?}"),
        _ => None,
    });
    eprintln!(
        "{}: on the added node {added_node} {:?} after killing the original ones",
        t.name(),
        start.elapsed()
    );
    assert_eq!(current_node(&nc, &cluster, t), added_node);
    round_trip(&nc, &sub, "on the added node");
    round_trip(&nc, &queue, "queue on the added node");
    nc.close().unwrap();
}

/// `ldm` on the client's node: LameDuckMode, then the client leaves on its own (within the
/// 200 ms window) for the other node, well before the node's 1 s grace period ends and it
/// starts evicting clients.
fn lame_duck_migration(t: Transport) {
    let mut cluster = Cluster::start(2, t).unwrap();
    let seed = cluster.node(0).url(t).unwrap();
    let nc = opts(&cluster)
        .lame_duck_window(Duration::from_millis(200))
        .connect(seed.as_str())
        .unwrap();
    let events = nc.events();
    wait_added(&events, &[port_of(&cluster.node(1).url(t).unwrap())]);
    let sub = nc.subscribe("ldm.sub").unwrap();
    round_trip(&nc, &sub, "before");
    assert_eq!(current_node(&nc, &cluster, t), 0);

    let signalled = Instant::now();
    cluster.node(0).signal("ldm").unwrap();
    let ldm_url = wait_event(&events, |e| match e {
        Event::LameDuckMode { url } => Some(url.clone()),
        _ => None,
    });
    let ldm_seen = signalled.elapsed();
    assert_eq!(node_of(&cluster, t, &ldm_url), 0);
    let reason = wait_disconnected(&events);
    assert_eq!(reason.kind(), ErrorKind::Disconnected, "{reason}");
    assert!(
        reason.to_string().contains("before its lame duck eviction"),
        "not our own leaving: {reason}"
    );
    let url = wait_reconnected(&events);
    let migrated = signalled.elapsed();
    // Still before the eviction: the lame duck is still running.
    assert!(cluster.node_mut(0).is_running(), "node 0 exited already");
    assert_eq!(node_of(&cluster, t, &url), 1);
    eprintln!(
        "{}: lame duck INFO {ldm_seen:?} after the signal, migrated to node 1 after \
         {migrated:?} ({:?} after the INFO)",
        t.name(),
        migrated - ldm_seen
    );
    assert!(migrated < Duration::from_secs(1), "{migrated:?}");
    round_trip(&nc, &sub, "after the migration");
    nc.close().unwrap();
}
