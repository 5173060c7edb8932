//! The low-level, I/O-free protocol layer.
//!
//! [`parse()`] turns bytes received from the server into [`ServerOp`]s without allocating;
//! [`encode`] writes client operations into a caller's buffer; [`ServerInfo`] is the server's
//! `INFO` JSON. Nothing here touches a socket, so it works the same over TCP, TLS and WebSocket.

pub(crate) mod encode;
mod info;
pub mod parse;

pub(crate) use encode::ConnectInfo;
pub use info::ServerInfo;
pub use parse::{parse, Limits, Parsed, ServerOp};

/// Shared by the unit tests, `tests/proto_corpus.rs` and the fuzz target: drives [`parse()`]
/// the way a connection does. Not part of the API.
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod testing {
    use super::{parse, Limits, Parsed, ServerOp};
    use crate::Error;

    /// An owned copy of a [`ServerOp`], for comparisons.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum OwnedOp {
        Info(Vec<u8>),
        Msg {
            subject: String,
            sid: u64,
            reply: Option<String>,
            payload: Vec<u8>,
        },
        HMsg {
            subject: String,
            sid: u64,
            reply: Option<String>,
            headers: Vec<u8>,
            payload: Vec<u8>,
        },
        Ping,
        Pong,
        Ok,
        Err(String),
    }

    impl From<&ServerOp<'_>> for OwnedOp {
        fn from(op: &ServerOp<'_>) -> Self {
            match *op {
                ServerOp::Info(j) => OwnedOp::Info(j.to_vec()),
                ServerOp::Msg {
                    subject,
                    sid,
                    reply,
                    payload,
                } => OwnedOp::Msg {
                    subject: subject.into(),
                    sid,
                    reply: reply.map(Into::into),
                    payload: payload.to_vec(),
                },
                ServerOp::HMsg {
                    subject,
                    sid,
                    reply,
                    headers,
                    payload,
                } => OwnedOp::HMsg {
                    subject: subject.into(),
                    sid,
                    reply: reply.map(Into::into),
                    headers: headers.to_vec(),
                    payload: payload.to_vec(),
                },
                ServerOp::Ping => OwnedOp::Ping,
                ServerOp::Pong => OwnedOp::Pong,
                ServerOp::Ok => OwnedOp::Ok,
                ServerOp::Err(t) => OwnedOp::Err(t.into()),
            }
        }
    }

    /// Pseudo-random chunk sizes (1..=64, or 1..=4096 for odd seeds) derived from `seed`,
    /// for [`feed`].
    pub fn seeded_chunks(seed: u8) -> impl FnMut() -> usize {
        let max = if seed & 1 == 1 { 4096 } else { 64 };
        let mut x = (u64::from(seed) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + (x % max) as usize
        }
    }

    /// Feeds `input` in chunks of `next_chunk()` bytes (0 is taken as 1) into a growing buffer,
    /// parsing until `Incomplete` after each chunk and dropping consumed bytes, like a reader
    /// loop. Header blocks of `HMSG`s also go through the header parser.
    ///
    /// Returns the ops parsed and then either the number of bytes left unparsed at the end or
    /// the first parse error. Panics if `parse` breaks its contract (an `Incomplete.need` not
    /// greater than the buffer, an op returned before `need` bytes were buffered, an op
    /// consuming zero bytes or more than the buffer).
    pub fn feed(
        input: &[u8],
        mut next_chunk: impl FnMut() -> usize,
        limits: &Limits,
    ) -> (Vec<OwnedOp>, Result<usize, Error>) {
        let mut ops = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut start = 0; // consumed prefix of buf
        let mut pos = 0;
        let mut last_need = 0;
        while pos < input.len() {
            let n = next_chunk().max(1).min(input.len() - pos);
            if start > 0 && start >= buf.len() / 2 {
                buf.drain(..start);
                last_need -= start.min(last_need);
                start = 0;
            }
            buf.extend_from_slice(&input[pos..pos + n]);
            pos += n;
            loop {
                let avail = &buf[start..];
                match parse(avail, limits) {
                    Ok(Parsed::Op(op, used)) => {
                        assert!(used > 0 && used <= avail.len(), "bad consumed count {used}");
                        assert!(
                            avail.len() + start >= last_need,
                            "op returned before the announced need"
                        );
                        if let ServerOp::HMsg { headers, .. } = op {
                            let _ = crate::Headers::parse(headers);
                        }
                        ops.push(OwnedOp::from(&op));
                        start += used;
                        last_need = 0;
                    }
                    Ok(Parsed::Incomplete { need }) => {
                        assert!(need > avail.len(), "need {need} <= len {}", avail.len());
                        last_need = start + need;
                        break;
                    }
                    Err(e) => return (ops, Err(e)),
                }
            }
        }
        (ops, Ok(buf.len() - start))
    }
}
