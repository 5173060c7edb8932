//! The outbound queue: the bytes for the server, the boundaries of the operations in them, the
//! flush (PONG) waiters, and whether the connection can send at all.
//!
//! Publishers encode straight into the queue's buffer under one short lock; the writer thread
//! swaps the whole buffer out and writes it in one go (that is the coalescing). Each operation's
//! end is recorded as it is encoded, with a flag for control operations (SUB, UNSUB, PING,
//! PONG), so when a connection breaks the queue knows, without reading its own bytes again,
//! where the operation cut by the failure starts and which operations are publishes: only
//! those are kept for the next connection (subscriptions are replayed from the table, and a
//! PING of the old connection must not be answered on the new one).
//!
//! Nothing here touches a socket or starts a thread; the tests drive it directly.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use parking_lot::Condvar;

use crate::connection::lock_order::{Ordered, Rank};
use crate::error::{Error, ErrorKind, Result};

/// Write buffers keep their capacity while the connection is busy (growing them again for
/// every batch costs page faults); when the writer goes idle, anything bigger than this goes
/// back to the allocator.
pub(crate) const IDLE_CAPACITY: usize = 64 * 1024;

/// The largest write or reconnect buffer: operation ends are recorded as 31-bit offsets.
pub(crate) const MAX_BUFFER: usize = 512 * 1024 * 1024;

/// Marks a recorded end as that of a control operation.
const CONTROL: u32 = 1 << 31;

/// Encoded operations and where each ends.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) bytes: Vec<u8>,
    /// End offset of each operation, `| CONTROL` for a control operation.
    ends: Vec<u32>,
}

impl Batch {
    pub(crate) fn with_capacity(bytes: usize) -> Batch {
        Batch {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(bytes / 32),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Encodes one operation with `f`, and records its end.
    #[inline]
    pub(crate) fn push(&mut self, control: bool, f: impl FnOnce(&mut Vec<u8>)) {
        f(&mut self.bytes);
        let end = self.bytes.len() as u32;
        self.ends.push(if control { end | CONTROL } else { end });
    }

    /// The operations: byte range and whether it is a publish.
    fn ops(&self) -> impl Iterator<Item = (std::ops::Range<usize>, bool)> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&e| {
            let end = (e & !CONTROL) as usize;
            let r = start..end;
            start = end;
            (r, e & CONTROL == 0)
        })
    }

    /// Appends to `out` the publishes among this batch's operations, from the one that
    /// contains byte `from` on.
    fn keep_publishes_from(&self, from: usize, out: &mut Batch) {
        for (r, publish) in self.ops() {
            if r.end > from && publish {
                out.push(false, |b| b.extend_from_slice(&self.bytes[r]));
            }
        }
    }

    /// Appends `other`'s operations after this batch's.
    fn append(&mut self, other: &Batch) {
        let base = self.bytes.len() as u32;
        self.bytes.extend_from_slice(&other.bytes);
        self.ends.extend(other.ends.iter().map(|&e| e + base));
    }

    /// Gives big buffers back to the allocator.
    fn shrink_idle(&mut self) {
        if self.bytes.capacity() > IDLE_CAPACITY {
            *self = Batch::with_capacity(IDLE_CAPACITY);
        }
    }
}

/// How a publish gets to the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Send {
    /// The writer sends it (woken if parked).
    Writer,
    /// The caller would rather write itself than wake a parked writer (requests, replies).
    Direct,
    /// No hurry (acks, pipelined JetStream publishes): a parked writer sends it within
    /// [`LAZY_DELAY`], or once [`LAZY_BYTES`] are queued, or with whatever is sent next, or
    /// when a caller is about to wait for what it brings ([`Outbound::send_lazy`]: a
    /// subscription about to wait for messages, a publisher about to wait for acks). A stream
    /// of them then costs a write per batch, not a wake-up of the writer per message.
    Lazy,
}

/// The longest a lazy publish waits for company.
pub(crate) const LAZY_DELAY: Duration = Duration::from_millis(1);

/// Queued bytes at which lazy publishes stop waiting for company: a batch this big is worth
/// a write of its own.
pub(crate) const LAZY_BYTES: usize = 64 * 1024;

/// What a publisher should do after queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// The writer was woken (or is awake) and will send it.
    Writer,
    /// The writer is parked and was left asleep: the caller may write the queue itself
    /// ([`Outbound::take_direct`]) and must wake the writer if it cannot.
    Direct,
}

/// What the writer found when it took the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// Bytes to write.
    Write,
    /// Everything was sent and the connection is closing: say goodbye.
    Close,
    /// The transport is down or the connection closed: stop.
    Stop,
}

struct Queue {
    batch: Batch,
    /// No transport: publishes are buffered (bounded by the reconnect buffer), control
    /// operations are not queued (the table is replayed on reconnect).
    down: bool,
    /// What a failed write had not handed to the socket, from the operation it was cut in.
    unsent: Batch,
    /// The writer is parked and must be woken for new bytes.
    writer_idle: bool,
    /// Everything queued since the writer last took the queue is lazy (acks): it need not be
    /// sent before this time plus [`LAZY_DELAY`], unless something else is sent first.
    lazy_since: Option<Instant>,
    /// The transport has bytes of its own to send (a WebSocket pong, TLS records, bytes a
    /// write with a deadline left pending).
    kicked: bool,
    /// The writer should send what is queued and stop.
    closing: bool,
    /// Set once the connection cannot send any more; every send returns it.
    error: Option<Error>,
    /// Publishers blocked on a full buffer.
    space_waiters: usize,
    /// One entry per PING in flight, in order: `Some` for a flush waiting on it.
    pongs: VecDeque<Option<Sender<Result<()>>>>,
    out_msgs: u64,
    out_bytes: u64,
}

/// The queue, its lock and its two condvars (work for the writer, space for publishers).
pub(crate) struct Outbound {
    q: Ordered<Queue>,
    /// Mirrors `q.lazy_since.is_some()`, for a check without the lock.
    lazy: AtomicBool,
    work: Condvar,
    space: Condvar,
    write_buffer: usize,
    reconnect_buffer: usize,
    flush_timeout: Duration,
}

impl Outbound {
    pub(crate) fn new(
        write_buffer: usize,
        reconnect_buffer: usize,
        flush_timeout: Duration,
    ) -> Outbound {
        Outbound {
            lazy: AtomicBool::new(false),
            q: Ordered::new(
                Rank::Outbound,
                Queue {
                    batch: Batch::with_capacity(IDLE_CAPACITY),
                    down: true,
                    unsent: Batch::default(),
                    writer_idle: false,
                    lazy_since: None,
                    kicked: false,
                    closing: false,
                    error: None,
                    space_waiters: 0,
                    pongs: VecDeque::new(),
                    out_msgs: 0,
                    out_bytes: 0,
                },
            ),
            work: Condvar::new(),
            space: Condvar::new(),
            write_buffer,
            reconnect_buffer,
            flush_timeout,
        }
    }

    #[inline]
    fn wake(&self, q: &mut Queue) {
        self.clear_lazy(q);
        if q.writer_idle {
            q.writer_idle = false;
            self.work.notify_one();
        }
    }

    /// Nothing lazy waits any more (the queue was taken, or the writer woken for it all).
    #[inline]
    fn clear_lazy(&self, q: &mut Queue) {
        if q.lazy_since.take().is_some() {
            self.lazy.store(false, Ordering::Relaxed);
        }
    }

    /// Has the writer send lazy bytes now, if any wait: for a caller about to wait for what
    /// they bring (a subscription about to wait for messages sends the acks it made first, a
    /// pipelined publisher about to wait for acks its publishes).
    pub(crate) fn send_lazy(&self) {
        if self.lazy.load(Ordering::Relaxed) {
            self.wake_writer();
        }
    }

    /// Wakes the writer if it is parked.
    pub(crate) fn wake_writer(&self) {
        let mut q = self.q.lock();
        self.wake(&mut q);
    }

    /// The transport queued bytes of its own: the writer must call it even with nothing else
    /// to send.
    pub(crate) fn kick(&self) {
        let mut q = self.q.lock();
        q.kicked = true;
        self.wake(&mut q);
    }

    /// No transport: between a lost connection and the next one.
    pub(crate) fn is_down(&self) -> bool {
        self.q.lock().down
    }

    /// The error every send fails with, once the connection is closed.
    pub(crate) fn error(&self) -> Option<Error> {
        self.q.lock().error.clone()
    }

    /// Queues a control operation (SUB, UNSUB, PONG). While down nothing is queued: the
    /// subscription table is replayed on reconnect.
    pub(crate) fn control(&self, f: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let mut q = self.q.lock();
        if let Some(e) = &q.error {
            return Err(e.clone());
        }
        if q.down {
            return Ok(());
        }
        let start = q.batch.len();
        q.batch.push(true, f);
        trace_out(&q.batch.bytes[start..]);
        self.wake(&mut q);
        Ok(())
    }

    /// Queues a publish of `need` bytes at most (headers and payload included) encoded by `f`.
    /// Blocks only while the buffer is full (back-pressure), at most `wait` (`None`:
    /// `flush_timeout`; a request passes what is left of its own deadline).
    /// `mode`: see [`Send`].
    pub(crate) fn publish(
        &self,
        need: usize,
        payload_len: usize,
        mode: Send,
        wait: Option<Duration>,
        f: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Queued> {
        let wait = wait.unwrap_or(self.flush_timeout);
        // Read the clock only if the buffer is full: not on every publish.
        let mut until = None;
        let mut q = self.q.lock();
        loop {
            if let Some(e) = &q.error {
                return Err(e.clone());
            }
            if q.closing {
                return Err(Error::new(ErrorKind::Closed, "the connection is closing"));
            }
            if q.down {
                let limit = self.reconnect_buffer;
                if limit == 0 {
                    return Err(Error::new(
                        ErrorKind::Disconnected,
                        "not connected, and the reconnect buffer is off",
                    ));
                }
                if q.batch.len() + need > limit {
                    return Err(Error::new(
                        ErrorKind::BufferFull,
                        format!("not connected, and the reconnect buffer ({limit} bytes) is full"),
                    ));
                }
                break;
            }
            if q.batch.len() < self.write_buffer {
                break;
            }
            q.space_waiters += 1;
            let until = *until.get_or_insert_with(|| crate::time::deadline_after(wait));
            let timed_out = q.wait_until(&self.space, until).timed_out();
            q.space_waiters -= 1;
            if timed_out && q.error.is_none() && !q.down && q.batch.len() >= self.write_buffer {
                return Err(Error::new(
                    ErrorKind::BufferFull,
                    format!("the writer could not send for {wait:?}"),
                ));
            }
        }
        let start = q.batch.len();
        q.batch.push(false, f);
        if log::log_enabled!(log::Level::Trace) {
            trace_out(&q.batch.bytes[start..]);
        }
        q.out_msgs += 1;
        q.out_bytes += payload_len as u64;
        match mode {
            Send::Direct if q.writer_idle && !q.down => return Ok(Queued::Direct),
            Send::Lazy
                if q.writer_idle
                    && !q.down
                    && (q.lazy_since.is_some() || start == 0)
                    && q.batch.len() < LAZY_BYTES =>
            {
                // Only lazy bytes are waiting: the writer sends them within LAZY_DELAY, or
                // with whatever comes next. It is told once, to wait with that deadline.
                if q.lazy_since.is_none() {
                    q.lazy_since = Some(Instant::now());
                    self.lazy.store(true, Ordering::Relaxed);
                    self.work.notify_one();
                }
                return Ok(Queued::Writer);
            }
            _ => {}
        }
        self.wake(&mut q);
        Ok(Queued::Writer)
    }

    /// Queues a PING, with a waiter for its PONG if given.
    pub(crate) fn ping(&self, waiter: Option<Sender<Result<()>>>) -> Result<()> {
        let mut q = self.q.lock();
        if let Some(e) = &q.error {
            return Err(e.clone());
        }
        if q.down {
            return Err(Error::new(ErrorKind::Disconnected, "not connected"));
        }
        q.pongs.push_back(waiter);
        q.batch
            .push(true, |b| b.extend_from_slice(crate::proto::encode::PING));
        log::trace!("->> PING");
        self.wake(&mut q);
        Ok(())
    }

    /// The PONG for the oldest PING in flight arrived.
    pub(crate) fn pong(&self) {
        let waiter = self.q.lock().pongs.pop_front();
        if let Some(Some(tx)) = waiter {
            let _ = tx.try_send(Ok(()));
        }
    }

    /// The writer parks here until there is something to do; `false` when it should stop.
    /// Going idle, it gives big buffers back (its own `spare` too).
    pub(crate) fn wait_for_work(&self, spare: &mut Batch) -> bool {
        let mut q = self.q.lock();
        let idle = |q: &Queue| {
            (q.batch.is_empty() || q.lazy_since.is_some())
                && !q.kicked
                && !q.closing
                && q.error.is_none()
                && !q.down
        };
        if idle(&q) {
            q.batch.shrink_idle();
            spare.shrink_idle();
        }
        while idle(&q) {
            q.writer_idle = true;
            match q.lazy_since {
                None => q.wait(&self.work),
                Some(t) => {
                    let due = t + LAZY_DELAY;
                    if Instant::now() >= due {
                        break;
                    }
                    q.wait_until(&self.work, due);
                }
            }
        }
        q.writer_idle = false;
        q.error.is_none() && !q.down
    }

    /// The writer takes everything queued into `into` (which must be empty). Call with the
    /// transport locked, so bytes leave in the order they were queued.
    pub(crate) fn take(&self, into: &mut Batch) -> Take {
        let mut q = self.q.lock();
        if q.error.is_some() || q.down {
            return Take::Stop;
        }
        q.kicked = false;
        self.clear_lazy(&mut q);
        if q.closing && q.batch.is_empty() {
            return Take::Close;
        }
        std::mem::swap(&mut q.batch, into);
        if q.space_waiters > 0 {
            self.space.notify_all();
        }
        Take::Write
    }

    /// A caller that holds the transport takes the queue to write it itself (a request or a
    /// reply, while the writer is parked). `false` when there is nothing for it to do.
    pub(crate) fn take_direct(&self, into: &mut Batch) -> bool {
        let mut q = self.q.lock();
        if q.error.is_some() || q.down || q.closing || q.batch.is_empty() {
            return false;
        }
        q.kicked = false;
        self.clear_lazy(&mut q);
        std::mem::swap(&mut q.batch, into);
        if q.space_waiters > 0 {
            self.space.notify_all();
        }
        true
    }

    /// After a direct write: hands the (cleared) buffer's capacity back, and has the writer
    /// send what the transport kept pending.
    pub(crate) fn direct_done(&self, mut spare: Batch, pending: bool) {
        spare.clear();
        let mut q = self.q.lock();
        if q.batch.is_empty() && spare.bytes.capacity() <= IDLE_CAPACITY {
            q.batch = spare;
        }
        if pending {
            q.kicked = true;
        }
        if !q.batch.is_empty() || q.kicked {
            self.wake(&mut q);
        }
    }

    /// A write failed after handing `sent` bytes of `batch` to the socket: keep its publishes
    /// from the operation it was cut in, for the next connection.
    pub(crate) fn write_failed(&self, batch: &Batch, sent: usize) {
        let mut q = self.q.lock();
        batch.keep_publishes_from(sent, &mut q.unsent);
    }

    /// The transport is going away: sends are buffered from now on, flushes fail.
    pub(crate) fn go_down(&self) {
        let mut q = self.q.lock();
        q.down = true;
        fail_flushes(
            &mut q.pongs,
            Error::new(
                ErrorKind::Disconnected,
                "the connection was lost before the PONG",
            ),
        );
        self.work.notify_all();
        self.space.notify_all();
    }

    /// After `go_down`, once the old transport's threads are gone: of everything not sent
    /// (what a failed write left, then the queue), keep the publishes, in order.
    pub(crate) fn keep_only_publishes(&self) {
        let mut q = self.q.lock();
        q.down = true;
        let mut all = std::mem::take(&mut q.unsent);
        all.append(&q.batch);
        let mut kept = Batch::default();
        all.keep_publishes_from(0, &mut kept);
        q.batch = kept;
        self.work.notify_all();
    }

    /// A new transport is up: `replay` (the subscriptions) goes first, then the buffered
    /// publishes, and sends go through again.
    pub(crate) fn go_up(&self, mut replay: Batch) {
        let mut q = self.q.lock();
        let mut all = std::mem::take(&mut q.unsent);
        all.append(&q.batch);
        all.keep_publishes_from(0, &mut replay);
        q.batch = replay;
        q.down = false;
        q.pongs.clear();
    }

    /// The connection is closing: the writer sends what is queued, then says goodbye.
    pub(crate) fn close(&self) {
        let mut q = self.q.lock();
        q.closing = true;
        q.writer_idle = false;
        self.work.notify_one();
    }

    /// From now on every send fails with `err`; flush waiters and blocked publishers are
    /// released. Returns how many queued bytes will never be sent.
    pub(crate) fn fail(&self, err: Error) -> usize {
        let mut q = self.q.lock();
        if q.error.is_none() {
            q.error = Some(err.clone());
        }
        fail_flushes(&mut q.pongs, err);
        let lost = q.batch.len() + q.unsent.len();
        q.batch.clear();
        q.unsent.clear();
        self.work.notify_all();
        self.space.notify_all();
        lost
    }

    /// Messages and payload bytes published.
    pub(crate) fn counts(&self) -> (u64, u64) {
        let q = self.q.lock();
        (q.out_msgs, q.out_bytes)
    }

    #[cfg(test)]
    fn queued(&self) -> Vec<u8> {
        self.q.lock().batch.bytes.clone()
    }
}

fn fail_flushes(pongs: &mut VecDeque<Option<Sender<Result<()>>>>, err: Error) {
    for waiter in pongs.drain(..).flatten() {
        let _ = waiter.try_send(Err(err.clone()));
    }
}

fn trace_out(op: &[u8]) {
    if log::log_enabled!(log::Level::Trace) {
        let line_end = op.iter().position(|&b| b == b'\n').unwrap_or(op.len());
        log::trace!(
            "->> {}",
            String::from_utf8_lossy(&op[..line_end]).trim_end()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::encode;

    fn up() -> Outbound {
        let o = Outbound::new(1 << 20, 1 << 20, Duration::from_millis(50));
        o.go_up(Batch::default());
        o
    }

    fn publish(o: &Outbound, subject: &str, payload: &[u8]) {
        o.publish(64 + payload.len(), payload.len(), Send::Writer, None, |b| {
            encode::publish(b, subject, None, None, payload)
        })
        .unwrap();
    }

    fn pub_bytes(subject: &str, payload: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode::publish(&mut b, subject, None, None, payload);
        b
    }

    /// A queue of publishes and control operations, with payloads that look like protocol.
    fn mixed(o: &Outbound) -> Vec<u8> {
        let mut pubs = Vec::new();
        o.control(|b| encode::sub(b, "a.>", None, 1)).unwrap();
        publish(o, "a.b", b"PING\r\nPUB x 1\r\n");
        pubs.extend(pub_bytes("a.b", b"PING\r\nPUB x 1\r\n"));
        o.ping(None).unwrap();
        publish(o, "a.c", b"");
        pubs.extend(pub_bytes("a.c", b""));
        o.control(|b| encode::unsub(b, 1, Some(5))).unwrap();
        publish(o, "a.d", b"0123456789");
        pubs.extend(pub_bytes("a.d", b"0123456789"));
        o.control(|b| b.extend_from_slice(encode::PONG)).unwrap();
        pubs
    }

    #[test]
    fn a_failed_write_keeps_the_publishes_from_the_cut_operation_at_every_offset() {
        let probe = up();
        mixed(&probe);
        let mut batch = Batch::default();
        assert_eq!(probe.take(&mut batch), Take::Write);
        let ops: Vec<_> = batch.ops().collect();
        assert_eq!(ops.len(), 7);
        for sent in 0..=batch.len() {
            let o = up();
            mixed(&o);
            let mut b = Batch::default();
            o.take(&mut b);
            o.write_failed(&b, sent);
            o.go_down();
            o.keep_only_publishes();
            // Expected: every publish whose last byte had not left.
            let want: Vec<u8> = ops
                .iter()
                .filter(|(r, publish)| *publish && r.end > sent)
                .flat_map(|(r, _)| b.bytes[r.clone()].to_vec())
                .collect();
            assert_eq!(o.queued(), want, "sent {sent}");
        }
    }

    #[test]
    fn reconnect_replays_subscriptions_then_buffered_publishes() {
        let o = up();
        let pubs = mixed(&o);
        o.go_down();
        // While down: publishes are buffered, control operations are not queued.
        publish(&o, "late", b"x");
        o.control(|b| encode::sub(b, "ignored", None, 9)).unwrap();
        assert!(o.ping(None).is_err());
        o.keep_only_publishes();
        let mut replay = Batch::default();
        replay.push(true, |b| encode::sub(b, "a.>", None, 1));
        o.go_up(replay);
        let mut want = Vec::new();
        encode::sub(&mut want, "a.>", None, 1);
        want.extend(pubs);
        want.extend(pub_bytes("late", b"x"));
        assert_eq!(o.queued(), want);
    }

    #[test]
    fn the_reconnect_buffer_is_bounded_and_can_be_off() {
        let o = Outbound::new(1 << 20, 100, Duration::from_millis(10));
        publish(&o, "a", &[0; 20]);
        let e = o
            .publish(200, 100, Send::Writer, None, |b| {
                encode::publish(b, "a", None, None, &[0; 100])
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BufferFull);
        let off = Outbound::new(1 << 20, 0, Duration::from_millis(10));
        let e = off
            .publish(10, 1, Send::Writer, None, |b| {
                encode::publish(b, "a", None, None, b"x")
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Disconnected);
    }

    #[test]
    fn a_full_write_buffer_blocks_at_most_flush_timeout() {
        let o = Outbound::new(16, 1 << 20, Duration::from_millis(30));
        o.go_up(Batch::default());
        publish(&o, "a", &[0; 32]);
        let start = std::time::Instant::now();
        let e = o
            .publish(40, 1, Send::Writer, None, |b| {
                encode::publish(b, "a", None, None, b"x")
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BufferFull);
        assert!(start.elapsed() >= Duration::from_millis(30));
        // Taking the queue makes room.
        let mut b = Batch::default();
        assert_eq!(o.take(&mut b), Take::Write);
        publish(&o, "a", b"x");
    }

    #[test]
    fn flush_waiters_are_answered_in_order_and_failed_on_disconnect() {
        let o = up();
        let (t1, r1) = crossbeam_channel::bounded(1);
        let (t2, r2) = crossbeam_channel::bounded(1);
        o.ping(Some(t1)).unwrap();
        o.ping(None).unwrap();
        o.ping(Some(t2)).unwrap();
        o.pong();
        assert!(r1.try_recv().unwrap().is_ok());
        o.pong();
        assert!(r2.try_recv().is_err());
        o.go_down();
        assert_eq!(
            r2.try_recv().unwrap().unwrap_err().kind(),
            ErrorKind::Disconnected
        );
    }

    #[test]
    fn direct_writes_only_while_the_writer_is_parked() {
        let o = up();
        // The writer is not parked: the publisher leaves it to the writer.
        let q = o
            .publish(10, 1, Send::Direct, None, |b| {
                encode::publish(b, "a", None, None, b"x")
            })
            .unwrap();
        assert_eq!(q, Queued::Writer);
        let mut b = Batch::default();
        assert!(o.take_direct(&mut b));
        assert!(
            !o.take_direct(&mut Batch::default()),
            "nothing left to take"
        );
        o.direct_done(b, true);
        // Kicked: the writer has work (the transport's pending bytes) and does not park.
        let mut spare = Batch::default();
        assert!(o.wait_for_work(&mut spare));
        assert_eq!(o.take(&mut spare), Take::Write);
        assert!(spare.is_empty());
    }

    #[test]
    fn after_fail_every_send_returns_the_error() {
        let o = up();
        publish(&o, "a", b"x");
        assert!(o.fail(Error::new(ErrorKind::Closed, "closed")) > 0);
        let e = o
            .publish(10, 1, Send::Writer, None, |b| {
                encode::publish(b, "a", None, None, b"x")
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Closed);
        assert_eq!(o.control(|_| {}).unwrap_err().kind(), ErrorKind::Closed);
        assert!(!o.wait_for_work(&mut Batch::default()));
        assert_eq!(o.take(&mut Batch::default()), Take::Stop);
    }

    fn lazy(o: &Outbound) -> Queued {
        o.publish(10, 1, Send::Lazy, None, |b| {
            encode::publish(b, "ack", None, None, b"+")
        })
        .unwrap()
    }

    /// A writer thread's first wait, bounded by the test: what `wait_for_work` returned.
    fn writer_wakes(o: &std::sync::Arc<Outbound>) -> bool {
        let o2 = o.clone();
        let (tx, rx) = crossbeam_channel::bounded(1);
        std::thread::spawn(move || {
            let woke = o2.wait_for_work(&mut Batch::default());
            let _ = tx.send(woke);
        });
        rx.recv_timeout(Duration::from_secs(5))
            .expect("the writer must not wait for ever on lazy bytes")
    }

    #[test]
    fn lazy_bytes_wait_for_company_or_a_millisecond_never_for_ever() {
        let o = std::sync::Arc::new(up());
        // Park the writer (idle), then queue lazily: not woken for work, but told the deadline.
        assert_eq!(o.take(&mut Batch::default()), Take::Write);
        o.q.lock().writer_idle = true;
        assert_eq!(lazy(&o), Queued::Writer);
        assert_eq!(lazy(&o), Queued::Writer);
        assert!(o.lazy.load(Ordering::Relaxed));
        assert!(o.q.lock().writer_idle, "still parked");
        // Its wait ends by the deadline, and it takes both acks in one batch.
        assert!(writer_wakes(&o));
        let mut b = Batch::default();
        assert_eq!(o.take(&mut b), Take::Write);
        assert_eq!(b.bytes, b"PUB ack 1\r\n+\r\nPUB ack 1\r\n+\r\n");
        assert!(!o.lazy.load(Ordering::Relaxed), "taken: nothing lazy waits");
    }

    #[test]
    fn anything_else_sent_takes_the_lazy_bytes_along_at_once() {
        let o = up();
        assert_eq!(o.take(&mut Batch::default()), Take::Write);
        o.q.lock().writer_idle = true;
        lazy(&o);
        // A plain publish wakes the writer for everything; no deadline is left behind.
        publish(&o, "a", b"x");
        assert!(!o.q.lock().writer_idle);
        assert!(o.q.lock().lazy_since.is_none());
        assert!(!o.lazy.load(Ordering::Relaxed));
        // send_lazy wakes a parked writer only when lazy bytes wait.
        let mut b = Batch::default();
        assert_eq!(o.take(&mut b), Take::Write);
        o.q.lock().writer_idle = true;
        o.send_lazy();
        assert!(o.q.lock().writer_idle, "nothing lazy: left parked");
        lazy(&o);
        o.send_lazy();
        assert!(!o.q.lock().writer_idle, "woken for the lazy bytes");
    }

    #[test]
    fn lazy_bytes_stop_waiting_once_a_batch_is_worth_a_write() {
        let o = up();
        assert_eq!(o.take(&mut Batch::default()), Take::Write);
        o.q.lock().writer_idle = true;
        let each = b"PUB ack 1\r\n+\r\n".len();
        let mut queued = 0;
        while queued + each < LAZY_BYTES {
            lazy(&o);
            queued += each;
            assert!(
                o.q.lock().writer_idle,
                "{queued} bytes: still waiting for company"
            );
        }
        lazy(&o);
        assert!(
            !o.q.lock().writer_idle,
            "{LAZY_BYTES} bytes queued: the writer is woken"
        );
        assert!(!o.lazy.load(Ordering::Relaxed));
    }
}
