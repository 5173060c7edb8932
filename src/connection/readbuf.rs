//! The read buffer the handshake and the reader thread parse from, the parse limits for a
//! server, and the trace of what comes in.

use std::io;
use std::sync::atomic::Ordering;

use crate::connection::Shared;
use crate::proto;
use crate::transport::ReadHalf;

/// A growable read buffer: `data()` is what has been read and not yet parsed.
pub(crate) struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

const INITIAL: usize = 64 * 1024;

impl ReadBuf {
    pub(crate) fn new(prefix: Vec<u8>) -> ReadBuf {
        let end = prefix.len();
        let mut buf = prefix;
        buf.resize(end.max(INITIAL), 0);
        ReadBuf { buf, start: 0, end }
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `r`, after making room for an operation of `need` bytes in total.
    /// Returns the number of bytes read (0 at end of stream).
    pub(crate) fn fill(&mut self, r: &mut dyn ReadHalf, need: usize) -> io::Result<usize> {
        let len = self.end - self.start;
        let want = need.max(len + 1);
        if self.start + want > self.buf.len() || self.buf.len() - self.end < 4096 {
            // Move the partial operation to the front, and grow if it still does not fit.
            self.buf.copy_within(self.start..self.end, 0);
            self.start = 0;
            self.end = len;
            if want > self.buf.len() || self.buf.len() - self.end < 4096 {
                let new_len = want.max(self.buf.len() * 2).max(INITIAL);
                self.buf.resize(new_len, 0);
            }
        } else if len == 0 && self.buf.len() > 4 * INITIAL * 16 {
            // A big operation went through; don't keep its buffer forever.
            self.buf = vec![0; INITIAL];
            self.start = 0;
            self.end = 0;
        }
        let n = r.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }
}

/// Parse limits for messages from this server: its max_payload (at least 1 MiB) plus room for
/// headers the server adds.
pub(crate) fn limits(shared: &Shared) -> proto::Limits {
    // Whatever the server announces, a message is accepted up to 64 MiB (nats-server's own
    // ceiling for max_payload), so a hostile INFO cannot make us buffer without bound.
    let max = shared
        .max_payload
        .load(Ordering::Relaxed)
        .clamp(1024 * 1024, 64 * 1024 * 1024);
    proto::Limits {
        max_control_line: shared.opts.max_control_line,
        max_payload: max + 64 * 1024,
    }
}

/// Logs an incoming operation's first line at trace level.
pub(crate) fn trace_in(op: &[u8]) {
    if !log::log_enabled!(log::Level::Trace) {
        return;
    }
    let line_end = op.iter().position(|&b| b == b'\n').unwrap_or(op.len());
    log::trace!(
        "<<- {}",
        String::from_utf8_lossy(&op[..line_end]).trim_end()
    );
}
