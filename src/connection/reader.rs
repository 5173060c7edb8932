//! The reader thread: reads from the transport into one buffer, parses operations in place and
//! dispatches them. It never blocks on anything but the socket: subscriptions have unbounded
//! queues guarded by pending limits, flush waiters have one-slot channels, events are
//! fire-and-forget, and the callbacks of internal dispatch subscriptions never block (they are
//! called with no connection lock held, panics contained).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::connection::readbuf::{self, trace_in, ReadBuf};
use crate::connection::server_error::{self, Severity};
use crate::connection::shared::{Ctl, Shared};
use crate::connection::table::{held, Delivery, Limits, Routed};
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
    loop {
        let need = loop {
            match proto::parse(rb.data(), &limits)? {
                Parsed::Op(op, n) => {
                    if log::log_enabled!(log::Level::Trace) {
                        trace_in(&rb.data()[..n]);
                    }
                    if handle(shared, op, sub_limits)? {
                        limits = readbuf::limits(shared);
                        let _ = shared.ctl.send(Ctl::Info { gen });
                    }
                    rb.consume(n);
                }
                Parsed::Incomplete { need } => break need,
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

/// Handles one operation; `Ok(true)` when the server's limits may have changed (INFO).
fn handle(shared: &Arc<Shared>, op: ServerOp<'_>, limits: Limits) -> Result<bool> {
    match op {
        ServerOp::Msg {
            subject,
            sid,
            reply,
            payload,
        } => deliver(shared, sid, subject, reply, None, payload, limits),
        ServerOp::HMsg {
            subject,
            sid,
            reply,
            headers,
            payload,
        } => match Headers::parse(headers) {
            Ok(h) => deliver(shared, sid, subject, reply, Some(h), payload, limits),
            Err(e) => {
                // One bad header block spoils one message, not the connection.
                log::warn!("dropping a message on '{subject}' with unreadable headers: {e:#}");
                shared.emit(Event::ServerError { error: e });
            }
        },
        ServerOp::Ping => shared.send_control(|b| b.extend_from_slice(encode::PONG))?,
        ServerOp::Pong => shared.pong(),
        ServerOp::Ok => {}
        ServerOp::Info(json) => {
            shared.update_info(ServerInfo::parse(json)?);
            return Ok(true);
        }
        ServerOp::Err(text) => {
            let err = server_error::classify(text);
            match server_error::severity(text) {
                Severity::Fatal => return Err(err),
                Severity::Async => route_async_error(shared, text, err),
            }
        }
    }
    Ok(false)
}

fn deliver(
    shared: &Arc<Shared>,
    sid: u64,
    subject: &str,
    reply: Option<&str>,
    headers: Option<Headers>,
    payload: &[u8],
    limits: Limits,
) {
    shared.in_msgs.fetch_add(1, Ordering::Relaxed);
    shared
        .in_bytes
        .fetch_add(payload.len() as u64, Ordering::Relaxed);
    let msg = Message {
        subject: subject.to_string(),
        reply: reply.map(str::to_string),
        headers,
        payload: Bytes::copy_from_slice(payload),
        conn: reply.map(|_| shared.clone()),
    };
    let held = held(&msg);
    let routed = shared.table.lock().route(sid, msg, held, limits);
    if let Routed::Dispatch(f, msg) = routed {
        // The table is released: the callback may take its own layer's locks.
        f.call(Delivery::Msg(msg));
        return;
    }
    if let Routed::Dropped(Some((subject, dropped))) = routed {
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
            f.call(Delivery::Err(err.clone()));
        }
    }
    shared.emit(Event::ServerError { error: err });
}
