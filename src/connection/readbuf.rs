//! The read buffer the handshake and the reader thread parse from, the parse limits for a
//! server, and the trace of what comes in.

use std::io;

use bytes::{Bytes, BytesMut};
use std::sync::atomic::Ordering;

use crate::connection::Shared;
use crate::proto;
use crate::transport::ReadHalf;

/// The read buffer: `data()` is what has been read and not yet taken.
///
/// The parsed front of the buffer is handed out as a shared [`Bytes`] chunk
/// ([`take`](ReadBuf::take)) that messages point into; the buffer then goes on after it. When
/// too little room is left, the unparsed tail moves to a fresh buffer: the old one lives on
/// only as long as messages in it are queued somewhere.
pub(crate) struct ReadBuf {
    /// Every byte is initialised (zeroed at allocation); `..end` has been read.
    buf: BytesMut,
    end: usize,
}

const INITIAL: usize = 64 * 1024;
/// Below this much free room, a read goes into a fresh buffer.
const MIN_ROOM: usize = 4096;

impl ReadBuf {
    pub(crate) fn new(prefix: Vec<u8>) -> ReadBuf {
        let end = prefix.len();
        let mut buf = BytesMut::zeroed(end.max(INITIAL));
        buf[..end].copy_from_slice(&prefix);
        ReadBuf { buf, end }
    }

    pub(crate) fn data(&self) -> &[u8] {
        &self.buf[..self.end]
    }

    /// Drops the first `n` bytes of `data()`.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end);
        self.end -= n;
        bytes::Buf::advance(&mut self.buf, n);
    }

    /// Takes the first `n` bytes of `data()` as a chunk of their own.
    pub(crate) fn take(&mut self, n: usize) -> Bytes {
        debug_assert!(n <= self.end);
        self.end -= n;
        self.buf.split_to(n).freeze()
    }

    /// Reads once from `r`, after making room for an operation of `need` bytes in total.
    /// Returns the number of bytes read (0 at end of stream).
    pub(crate) fn fill(&mut self, r: &mut dyn ReadHalf, need: usize) -> io::Result<usize> {
        let want = need.max(self.end + 1);
        if want > self.buf.len() || self.buf.len() - self.end < MIN_ROOM {
            let len = (want + MIN_ROOM).max(INITIAL);
            let mut fresh = BytesMut::zeroed(len);
            fresh[..self.end].copy_from_slice(&self.buf[..self.end]);
            self.buf = fresh;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `data` at most `step` bytes per read.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl ReadHalf for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn chunks_taken_keep_their_bytes_while_the_buffer_moves_on_and_grows() {
        let data: Vec<u8> = (0..400_000u32).map(|i| (i % 251) as u8).collect();
        let mut src = Trickle {
            data: data.clone(),
            pos: 0,
            step: 10_000,
        };
        let mut rb = ReadBuf::new(b"prefix".to_vec());
        assert_eq!(rb.data(), b"prefix");
        rb.consume(6);
        let mut chunks = Vec::new();
        let mut seen = 0;
        while seen < data.len() {
            // Ask for more than one buffer's worth now and then: it must grow to fit.
            let need = if chunks.len() % 7 == 3 {
                rb.data().len() + 100_000
            } else {
                0
            };
            while rb.data().len() < need.min(data.len() - seen) {
                assert!(rb.fill(&mut src, need).unwrap() > 0);
            }
            if rb.data().is_empty() {
                assert!(rb.fill(&mut src, 0).unwrap() > 0);
            }
            // Take an odd part, leave the rest for the next round.
            let n = (rb.data().len() * 2 / 3).max(1);
            seen += n;
            chunks.push(rb.take(n));
        }
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        assert_eq!(joined, data[..joined.len()]);
        assert_eq!(joined.len() + rb.data().len(), data.len());
    }
}
