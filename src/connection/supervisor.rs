//! The supervisor thread: owns the reader and writer threads of a live connection, sends the
//! keepalive PINGs, declares the connection stale after `max_pings_out` unanswered ones, and
//! tears everything down when the connection fails or is closed.

use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::connection::shared::{Ctl, Shared, State};
use crate::error::{Error, ErrorKind};
use crate::events::Event;

/// The threads and socket of one live transport.
pub(crate) struct Io {
    pub(crate) reader: JoinHandle<()>,
    pub(crate) writer: JoinHandle<()>,
    /// Disconnects when the writer thread ends (its sender is dropped).
    pub(crate) writer_done: Receiver<()>,
    pub(crate) socket: TcpStream,
}

pub(crate) fn run(shared: Arc<Shared>, io: Io, ctl: Receiver<Ctl>) {
    let interval = shared.opts.ping_interval;
    let mut next_ping = Instant::now() + interval;
    let reason = loop {
        match ctl.recv_deadline(next_ping) {
            Ok(Ctl::Failed(e)) => break Some(Err(e)),
            Ok(Ctl::Close(deadline)) => break Some(Ok(deadline)),
            Err(RecvTimeoutError::Timeout) => {
                next_ping = Instant::now() + interval;
                let out = shared.pings_out.fetch_add(1, Ordering::Relaxed) + 1;
                if out > shared.opts.max_pings_out {
                    break Some(Err(Error::new(
                        ErrorKind::StaleConnection,
                        format!(
                            "the server answered none of the last {} pings",
                            shared.opts.max_pings_out
                        ),
                    )));
                }
                shared.keepalive_ping();
            }
            // Cannot happen while `shared` (which holds a sender) is alive; treat as close.
            Err(RecvTimeoutError::Disconnected) => break None,
        }
    };
    let reason = match reason {
        Some(Ok(deadline)) => {
            close_gracefully(&shared, io, deadline);
            None
        }
        None => {
            close_gracefully(&shared, io, Instant::now());
            None
        }
        Some(Err(e)) => {
            log::warn!("connection lost: {e}");
            shared.emit(Event::Disconnected { reason: e.clone() });
            abort(&shared, io, e.clone());
            Some(e)
        }
    };
    finish(&shared, reason);
}

/// Lets the writer send everything queued until `deadline`, then closes.
fn close_gracefully(shared: &Shared, io: Io, deadline: Instant) {
    {
        let mut w = shared.write.lock();
        w.closing = true;
        w.writer_idle = false;
        shared.write_cv.notify_one();
    }
    // The writer exits after its last write; past the deadline the socket is shut under it.
    let _ = io.writer_done.recv_deadline(deadline);
    set_final_error(
        shared,
        Error::new(ErrorKind::Closed, "the connection was closed"),
    );
    let _ = io.socket.shutdown(std::net::Shutdown::Both);
    let _ = io.writer.join();
    let _ = io.reader.join();
}

/// Stops at once: nothing more is sent.
fn abort(shared: &Shared, io: Io, reason: Error) {
    set_final_error(
        shared,
        Error::new(ErrorKind::Closed, "the connection was lost").with_source(reason),
    );
    let _ = io.socket.shutdown(std::net::Shutdown::Both);
    let _ = io.writer.join();
    let _ = io.reader.join();
}

/// From now on every send fails with `err`; flush waiters and blocked publishers are released.
fn set_final_error(shared: &Shared, err: Error) {
    let mut w = shared.write.lock();
    if w.error.is_none() {
        w.error = Some(err);
    }
    let gone = Error::new(
        ErrorKind::Disconnected,
        "the connection ended before the PONG",
    );
    for waiter in w.pongs.drain(..).flatten() {
        let _ = waiter.try_send(Err(gone.clone()));
    }
    w.buf.clear();
    shared.write_cv.notify_all();
    shared.space_cv.notify_all();
}

/// Ends every subscription and request, records why, and marks the connection closed.
fn finish(shared: &Shared, reason: Option<Error>) {
    shared.subs.lock().clear();
    shared.mux.lock().waiters.clear();
    *shared.close_reason.lock() = reason.clone();
    // The event first: whoever `close()` or `closed()` wakes must find it queued.
    shared.emit(Event::Closed { reason });
    shared.set_state(State::Closed);
}
