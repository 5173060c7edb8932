//! The reader thread: reads from the transport into one buffer, parses operations in place and
//! dispatches them. It never blocks on anything but the socket: subscriptions have unbounded
//! queues guarded by pending limits, flush waiters have one-slot channels, events are
//! fire-and-forget, and the callbacks of internal dispatch subscriptions never block (they are
//! called with no connection lock held, panics contained).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::connection::batch::{Collector, Entry};
use crate::connection::readbuf::{self, trace_in, ReadBuf};
use crate::connection::server_error::{self, Severity};
use crate::connection::shared::{Ctl, Shared};
use crate::connection::table::{Delivered, Dispatch, Limits, Routed, Table};
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::headers::Headers;
use crate::message::Message;
use crate::proto::{self, encode, Parsed, ServerInfo, ServerOp};
use crate::transport::ReadHalf;

pub(crate) fn run(shared: Arc<Shared>, mut input: Box<dyn ReadHalf>, mut rb: ReadBuf, gen: u64) {
    let (err, clean) = match read_loop(&shared, &mut *input, &mut rb, gen) {
        // The stream just ended: no goodbye from the server (a killed server looks the same).
        Ok(()) => (
            Error::new(ErrorKind::Disconnected, "the server closed the connection"),
            false,
        ),
        Err(e) => {
            let clean = e.websocket_close().is_some();
            (e, clean)
        }
    };
    let _ = shared.ctl.send(Ctl::Failed { gen, err, clean });
}

/// Runs until the stream ends (`Ok`) or fails.
///
/// Each read is parsed whole before the next: messages for subscriptions are routed under one
/// hold of the table lock and collected per subscription ([`Collector`]); the parsed bytes then
/// become one chunk and every subscription gets its batch. Any other operation first sends what
/// was collected before it, so a PONG (a flush, a drain) is seen after the messages that came
/// before it.
fn read_loop(
    shared: &Arc<Shared>,
    input: &mut dyn ReadHalf,
    rb: &mut ReadBuf,
    gen: u64,
) -> Result<()> {
    let mut limits = readbuf::limits(shared);
    let sub_limits = Limits {
        msgs: shared.opts.pending_msgs,
        bytes: shared.opts.pending_bytes,
    };
    let mut out = Collector::default();
    let mut stats = Stats::default();
    loop {
        // Bytes of `rb.data()` parsed and not yet handed out.
        let mut pos = 0;
        let need = loop {
            let next = parse_messages(
                shared,
                rb.data(),
                &mut pos,
                &limits,
                sub_limits,
                &mut out,
                &mut stats,
            );
            hand_out(shared, rb, &mut pos, &mut out, &mut stats);
            match next {
                Next::Handle(c) => {
                    if handle(shared, c)? {
                        limits = readbuf::limits(shared);
                        let _ = shared.ctl.send(Ctl::Info { gen });
                    }
                }
                Next::Read(need) => break need,
                Next::Fail(e) => return Err(e),
            }
        };
        let n = rb
            .fill(input, need)
            .map_err(|e| Error::io("reading from the server", e))?;
        if n == 0 {
            return Ok(());
        }
    }
}

/// Parses `data` from `*pos` on, routing messages into `out` under one hold of the table lock,
/// until an operation other than a message, an incomplete operation or a malformed one.
/// Messages for dispatch subscriptions gather (borrowed from `data`), and each callback is
/// called once the table is released, with its run of them.
fn parse_messages(
    shared: &Arc<Shared>,
    data: &[u8],
    pos: &mut usize,
    limits: &proto::Limits,
    sub_limits: Limits,
    out: &mut Collector,
    stats: &mut Stats,
) -> Next {
    let mut table = None;
    let mut calls = Dispatches::default();
    let next = loop {
        let (op, n) = match proto::parse(&data[*pos..], limits) {
            Ok(Parsed::Op(op, n)) => (op, n),
            // `need` counts from `pos`, the front of the buffer once handed out.
            Ok(Parsed::Incomplete { need }) => break Next::Read(need),
            // What came before the bad operation still reaches its subscriptions.
            Err(e) => break Next::Fail(e),
        };
        if log::log_enabled!(log::Level::Trace) {
            trace_in(&data[*pos..*pos + n]);
        }
        *pos += n;
        match op {
            ServerOp::Msg { .. } | ServerOp::HMsg { .. } => {
                let t = table.get_or_insert_with(|| shared.table.lock());
                deliver(shared, t, data, op, sub_limits, out, stats, &mut calls);
            }
            other => break Next::Handle(Control::from(other)),
        }
    };
    // The table is released: the callbacks may take their layer's locks.
    drop(table);
    calls.call_all();
    next
}

/// The messages of one read for dispatch subscriptions (borrowed from the read buffer), in
/// runs of consecutive messages for one subscription: each callback is called once per run,
/// and its `Dispatch` is cloned once per run, not per message.
#[derive(Default)]
struct Dispatches<'a> {
    /// The callback, its sid, and how many of `items` are its.
    runs: Vec<(Dispatch, u64, usize)>,
    items: Vec<Delivered<'a>>,
}

impl<'a> Dispatches<'a> {
    /// Adds a message for `sid` if it is a dispatch subscription's (`true`).
    fn add(&mut self, table: &Table, sid: u64, d: Delivered<'a>) -> bool {
        match self.runs.last_mut() {
            Some((_, s, n)) if *s == sid => *n += 1,
            _ => match table.dispatch_for(sid) {
                Some(f) => self.runs.push((f, sid, 1)),
                None => return false,
            },
        }
        self.items.push(d);
        true
    }

    /// Calls each callback with its run (no lock may be held). What a callback leaves of its
    /// run is handed to it again, as long as it takes something each time.
    fn call_all(self) {
        let mut items = self.items.into_iter();
        for (f, _, n) in self.runs {
            let mut run = items.by_ref().take(n);
            loop {
                let before = run.len();
                f.call(run.by_ref().map(Ok));
                let left = run.len();
                if left == 0 || left == before {
                    break;
                }
            }
            run.for_each(drop);
        }
    }
}

/// What stopped the parsing of a read.
enum Next {
    /// An operation other than a message.
    Handle(Control),
    /// An incomplete operation, of this many bytes in all.
    Read(usize),
    /// A malformed operation: the connection fails.
    Fail(Error),
}

/// Counts of what the current read delivered, added to the connection's statistics once per
/// read rather than once per message.
#[derive(Default)]
struct Stats {
    msgs: u64,
    bytes: u64,
}

/// Hands out the `pos` parsed bytes of `rb`: every subscription gets its batch of them.
fn hand_out(
    shared: &Shared,
    rb: &mut ReadBuf,
    pos: &mut usize,
    out: &mut Collector,
    stats: &mut Stats,
) {
    if stats.msgs > 0 {
        shared.in_msgs.fetch_add(stats.msgs, Ordering::Relaxed);
        shared.in_bytes.fetch_add(stats.bytes, Ordering::Relaxed);
        *stats = Stats::default();
    }
    if out.is_empty() {
        rb.consume(*pos);
    } else {
        let chunk = rb.take(*pos);
        out.flush(&chunk);
    }
    *pos = 0;
}

/// An operation other than a message, owned: handled after the messages before it are out.
enum Control {
    Ping,
    Pong,
    Ok,
    Info(Vec<u8>),
    Err(String),
}

impl From<ServerOp<'_>> for Control {
    fn from(op: ServerOp<'_>) -> Control {
        match op {
            ServerOp::Ping => Control::Ping,
            ServerOp::Pong => Control::Pong,
            ServerOp::Info(json) => Control::Info(json.to_vec()),
            ServerOp::Err(text) => Control::Err(text.to_string()),
            ServerOp::Ok | ServerOp::Msg { .. } | ServerOp::HMsg { .. } => Control::Ok,
        }
    }
}

/// Handles one operation; `Ok(true)` when the server's limits may have changed (INFO).
fn handle(shared: &Arc<Shared>, op: Control) -> Result<bool> {
    match op {
        Control::Ping => shared.send_control(|b| b.extend_from_slice(encode::PONG))?,
        Control::Pong => shared.pong(),
        Control::Ok => {}
        Control::Info(json) => {
            shared.update_info(ServerInfo::parse(&json)?);
            return Ok(true);
        }
        Control::Err(text) => {
            let err = server_error::classify(&text);
            match server_error::severity(&text) {
                Severity::Fatal => return Err(err),
                Severity::Async => route_async_error(shared, &text, err),
            }
        }
    }
    Ok(false)
}

/// Routes one message (`op`, parsed from `data`, the front of the read buffer): to the request
/// waiting for it, or into `out` for its subscription; a message for a dispatch subscription
/// joins `calls` (borrowed from `data`), for its callback to get once the table is released.
#[allow(clippy::too_many_arguments)]
fn deliver<'a>(
    shared: &Arc<Shared>,
    table: &mut Table,
    data: &'a [u8],
    op: ServerOp<'a>,
    limits: Limits,
    out: &mut Collector,
    stats: &mut Stats,
    calls: &mut Dispatches<'a>,
) {
    let (sid, subject, reply, headers, payload) = match op {
        ServerOp::Msg {
            subject,
            sid,
            reply,
            payload,
        } => (sid, subject, reply, None, payload),
        ServerOp::HMsg {
            subject,
            sid,
            reply,
            headers,
            payload,
        } => (sid, subject, reply, Some(headers), payload),
        _ => return,
    };
    stats.msgs += 1;
    stats.bytes += payload.len() as u64;
    // As it lies in the buffer: the callback parses the headers, if it needs them.
    let d = Delivered {
        subject,
        headers,
        payload,
    };
    if calls.add(table, sid, d) {
        return;
    }
    if table.is_inbox(sid) {
        let headers = match headers.map(Headers::parse).transpose() {
            Ok(h) => h,
            Err(e) => return drop_message(shared, subject, e),
        };
        table.reply(Message {
            subject: subject.to_string(),
            reply: reply.map(str::to_string),
            headers,
            payload: Bytes::copy_from_slice(payload),
            conn: reply.map(|_| shared.clone()),
        });
        return;
    }
    let Some(entry) = Entry::locate(data, subject, reply, headers, payload) else {
        // Longer subjects than the control-line limit allows: the parser refuses them first.
        let e = Error::new(ErrorKind::Protocol, "a message too long to queue");
        return drop_message(shared, subject, e);
    };
    if let Routed::Dropped(Some((subject, dropped))) = table.route(sid, entry, limits, out) {
        log::warn!(
            "slow consumer on '{subject}' (sid {sid}): pending limits reached, dropping messages"
        );
        shared.emit(Event::SlowConsumer {
            sid,
            subject,
            dropped,
        });
    }
}

/// One unreadable message spoils itself, not the connection: dropped and reported.
fn drop_message(shared: &Shared, subject: &str, e: Error) {
    log::warn!("dropping a message on '{subject}': {e:#}");
    shared.emit(Event::ServerError { error: e });
}

/// A -ERR that leaves the connection up: hand it to the subscription or request it concerns,
/// and report it as an event.
fn route_async_error(shared: &Shared, text: &str, err: Error) {
    log::warn!("server error: {text}");
    if let Some(target) = server_error::permission_target(text) {
        let mut table = shared.table.lock();
        let mut refused = Vec::new();
        match target {
            server_error::Target::Subscription { subject, queue } => {
                table.refuse_subscription(&subject, queue.as_deref(), &err);
                refused = table.refuse_dispatch(&subject, queue.as_deref());
            }
            server_error::Target::Publish { subject } => table.refuse_publish(&subject, &err),
        }
        drop(table);
        for f in refused {
            f.call(std::iter::once(Err(err.clone())));
        }
    }
    shared.emit(Event::ServerError { error: err });
}

#[cfg(test)]
mod tests {
    use super::*;
    use parking_lot::Mutex;

    /// A dispatch callback that takes at most `take` messages per call and records the runs
    /// it was given.
    fn recorder(take: usize) -> (Dispatch, Arc<Mutex<Vec<Vec<String>>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let f = Dispatch::new(move |run| {
            let got = run
                .take(take)
                .map(|d| d.map_or_else(|e| format!("{:?}", e.kind()), |d| d.subject.to_string()))
                .collect();
            c.lock().push(got);
        });
        (f, calls)
    }

    fn delivered(subject: &str) -> Delivered<'_> {
        Delivered {
            subject,
            headers: None,
            payload: b"",
        }
    }

    #[test]
    fn dispatch_messages_go_out_in_runs_per_subscription_in_order() {
        let mut table = Table::new("_INBOX");
        let (a, got_a) = recorder(usize::MAX);
        let (b, got_b) = recorder(usize::MAX);
        table.add_dispatch(1, "a.*", a);
        table.add_dispatch(2, "b.*", b);
        let _plain = table.add(3, "c", None);
        let mut calls = Dispatches::default();
        for (sid, subject) in [(1, "a.1"), (1, "a.2"), (2, "b.1"), (1, "a.3")] {
            assert!(calls.add(&table, sid, delivered(subject)));
        }
        assert!(
            !calls.add(&table, 3, delivered("c")),
            "not a dispatch subscription"
        );
        assert_eq!(calls.runs.len(), 3);
        calls.call_all();
        assert_eq!(*got_a.lock(), [vec!["a.1", "a.2"], vec!["a.3"]]);
        assert_eq!(*got_b.lock(), [vec!["b.1"]]);
    }

    #[test]
    fn what_a_callback_leaves_of_its_run_is_handed_to_it_again_never_to_another() {
        let mut table = Table::new("_INBOX");
        let (slow, got_slow) = recorder(1);
        let (stuck, got_stuck) = recorder(0);
        let (next, got_next) = recorder(usize::MAX);
        table.add_dispatch(1, "slow.*", slow);
        table.add_dispatch(2, "stuck.*", stuck);
        table.add_dispatch(3, "next.*", next);
        let mut calls = Dispatches::default();
        for (sid, subject) in [(1, "s.1"), (1, "s.2"), (2, "x.1"), (2, "x.2"), (3, "n.1")] {
            assert!(calls.add(&table, sid, delivered(subject)));
        }
        calls.call_all();
        assert_eq!(*got_slow.lock(), [vec!["s.1"], vec!["s.2"]]);
        // Took nothing: called once, its run dropped (no endless loop), nothing leaks on.
        assert_eq!(got_stuck.lock().len(), 1);
        assert_eq!(*got_next.lock(), [vec!["n.1"]]);
    }
}
