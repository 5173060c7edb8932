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
    let mut calls = Vec::new();
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
                if let Some(call) = deliver(shared, t, data, op, sub_limits, out, stats) {
                    calls.push(call);
                }
            }
            other => break Next::Handle(Control::from(other)),
        }
    };
    // The table is released: the callbacks may take their layer's locks.
    drop(table);
    dispatch(calls);
    next
}

/// Calls each dispatch callback once per run of consecutive messages for it.
fn dispatch(calls: Vec<(Dispatch, Delivered<'_>)>) {
    let mut calls = calls.into_iter().peekable();
    while let Some((f, first)) = calls.next() {
        let rest = std::iter::from_fn(|| calls.next_if(|(g, _)| *g == f).map(|(_, m)| m));
        // Whatever a callback leaves of its run is given to it in the next call.
        f.call(std::iter::once(first).chain(rest).map(Ok));
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
/// is returned (borrowed from `data`) with its callback, to be called once the table is
/// released.
fn deliver<'a>(
    shared: &Arc<Shared>,
    table: &mut Table,
    data: &'a [u8],
    op: ServerOp<'a>,
    limits: Limits,
    out: &mut Collector,
    stats: &mut Stats,
) -> Option<(Dispatch, Delivered<'a>)> {
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
        _ => return None,
    };
    stats.msgs += 1;
    stats.bytes += payload.len() as u64;
    let dispatch = table.dispatch_for(sid);
    if dispatch.is_some() || table.is_inbox(sid) {
        let headers = match headers.map(Headers::parse).transpose() {
            Ok(h) => h,
            Err(e) => {
                drop_message(shared, subject, e);
                return None;
            }
        };
        if let Some(f) = dispatch {
            let d = Delivered {
                subject,
                headers,
                payload,
            };
            return Some((f, d));
        }
        table.reply(Message {
            subject: subject.to_string(),
            reply: reply.map(str::to_string),
            headers,
            payload: Bytes::copy_from_slice(payload),
            conn: reply.map(|_| shared.clone()),
        });
        return None;
    }
    let Some(entry) = Entry::locate(data, subject, reply, headers, payload) else {
        // Longer subjects than the control-line limit allows: the parser refuses them first.
        let e = Error::new(ErrorKind::Protocol, "a message too long to queue");
        drop_message(shared, subject, e);
        return None;
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
    None
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
