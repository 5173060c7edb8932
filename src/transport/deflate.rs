//! permessage-deflate (RFC 7692): the offer, reading the server's answer, and the codec of one
//! message in each direction (flate2, pure-Rust backend).
//!
//! * The offer is nats.go's: `permessage-deflate; server_no_context_takeover;
//!   client_no_context_takeover`, the only form nats-server answers (with the same three
//!   tokens when its `websocket` block has `compression: true`, with nothing otherwise).
//! * Outgoing: one message is deflated on its own (we promised no context takeover, and
//!   nats-server resets its inflater per message anyway), at [`LEVEL`], sync-flushed, with the
//!   final `00 00 ff ff` removed. Messages under
//!   [`COMPRESS_THRESHOLD`] bytes (nats-server's own threshold: PINGs, PONGs, small
//!   publishes), and messages that deflate does not make smaller, go out plain: RSV1 is per
//!   message, so that is always allowed.
//!   One compressed message carries at most [`MAX_COMPRESSED_MESSAGE`] bytes and never more
//!   than the server's `max_payload` (nats-server closes the connection otherwise).
//! * Incoming: compressed payload bytes are inflated as they arrive, straight into the
//!   reader's buffer, so memory stays bounded whatever the message size; `00 00 ff ff` is fed
//!   at the end of each message. The inflater keeps its window across messages unless the
//!   server said `server_no_context_takeover` (keeping it is always correct: a server that
//!   resets simply never refers back). One message may inflate to at most
//!   [`MAX_MESSAGE`] bytes; past that (a decompression bomb) or on corrupt data the read fails
//!   with [`ErrorKind::Protocol`].
//!
//! The WebSocket transport reaches all this only through the [`Start`] that
//! `Options::ws_compression(true)` stores (a fn pointer to [`start`]: read the answer, build
//! the codecs), and then through trait objects ([`Inflate`], [`Deflate`]). A connection that
//! offered nothing reads the answer with [`refuse`]. So a program that never turns compression
//! on links no deflate, inflate or negotiation code (about 55 KB of a release binary).
//!
//! Without the `ws_compression` feature nothing is offered (`Options::ws_compression(true)`
//! fails `connect`), so nothing can be agreed: [`Agreed`] and [`Codecs`] are then types without
//! values.

use std::io;

#[cfg(feature = "ws_compression")]
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::error::{Error, ErrorKind, Result};

/// The `Sec-WebSocket-Extensions` value we offer.
pub(crate) const OFFER: &str =
    "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

/// The deflate level. nats-server and nats.go use Go's `BestSpeed`; miniz_oxide's level 1 is
/// a cruder match finder that compresses noticeably worse (on 1 MiB of small JSON records:
/// 105 KB at level 1, 73 KB at level 2, 66 KB at level 6, where Go's `BestSpeed` gives about
/// 80 KB), while level 2 still deflates well over 200 MiB/s on one core: enough for any link
/// slow enough to want compression.
#[cfg(feature = "ws_compression")]
pub(crate) const LEVEL: u32 = 2;

/// The most one compressed message carries (before compression). nats-server refuses a
/// compressed message that inflates past its `max_payload` (checked with 2.15.1: it closes the
/// connection with "maximum payload exceeded"), so the writer also stays within the
/// `max_payload` of the server's INFO; this smaller cap also keeps within a user's or an
/// account's lower limit in most setups, and costs little ratio (the deflate window is 32 KiB).
pub(crate) const MAX_COMPRESSED_MESSAGE: usize = 64 * 1024;

/// Messages shorter than this are sent plain (nats-server's `wsCompressThreshold`).
#[cfg(feature = "ws_compression")]
pub(crate) const COMPRESS_THRESHOLD: usize = 64;

/// The most one incoming message may inflate to: twice nats-server's default `max_pending`
/// (64 MiB), the most a server queues for one client, and so the most it ever sends as one
/// compressed message. Beyond it the message is a decompression bomb, not NATS traffic.
#[cfg(feature = "ws_compression")]
pub(crate) const MAX_MESSAGE: u64 = 128 * 1024 * 1024;

/// The sync-flush tail RFC 7692 removes from each message and the receiver puts back (fed
/// through [`Inflate::inflate`] at the end of each compressed message).
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Inflates incoming compressed messages, streaming (`Inflater`).
pub(crate) trait Inflate: Send {
    /// Feeds `input` (part of the current message's payload; may be empty to take output the
    /// inflater still holds) and writes into `out`. Returns (input consumed, output written).
    fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<(usize, usize)>;

    /// The current message is over.
    fn end_message(&mut self);
}

/// Compresses outgoing messages (`Deflater`).
pub(crate) trait Deflate: Send {
    /// Deflates `data` as one message into `out` (cleared first), without the `00 00 ff ff`
    /// tail. `false` when it is not worth it (or not possible): send `data` plain then.
    fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool;
}

/// The codecs of one connection whose server agreed to compression.
pub(crate) struct Codecs {
    /// What it agreed to.
    pub(crate) agreed: Agreed,
    pub(crate) inflater: Box<dyn Inflate>,
    /// `None` when we may not compress (see `Agreed::may_compress`).
    pub(crate) deflater: Option<Box<dyn Deflate>>,
}

/// Compression for one connection that offered it: reads the server's answer to [`OFFER`]
/// (every `Sec-WebSocket-Extensions` value) and, when the server agreed, builds the codecs.
/// `Options::ws_compression(true)` stores [`start`] as this; a connection that did not offer
/// reads the answer with [`refuse`].
pub(crate) type Start = fn(&[String]) -> Result<Option<Codecs>>;

/// The one [`Start`] there is, named nowhere but in the option (and tests).
#[cfg(feature = "ws_compression")]
pub(crate) fn start(values: &[String]) -> Result<Option<Codecs>> {
    let Some(agreed) = negotiate(values.iter().map(String::as_str))? else {
        return Ok(None);
    };
    Ok(Some(Codecs {
        agreed,
        inflater: Box::new(Inflater::new(agreed)),
        deflater: Deflater::for_agreed(agreed).map(|d| Box::new(d) as Box<dyn Deflate>),
    }))
}

/// Without the feature nothing can be agreed: the option still stores this (and
/// `Options::validate` refuses it), and it reads any answer as one to an offer never made.
#[cfg(not(feature = "ws_compression"))]
pub(crate) fn start(values: &[String]) -> Result<Option<Codecs>> {
    refuse(values.iter().map(String::as_str)).map(|()| None)
}

/// Reads the server's answer when nothing was offered: any extension in it is one we did not
/// offer, and fails the upgrade as RFC 6455 requires of a client.
pub(crate) fn refuse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let first = values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|e| !e.is_empty());
    match first {
        None => Ok(()),
        Some(ext) => {
            let name = ext.split(';').next().unwrap_or("").trim();
            Err(bad(format!("'{name}' was not offered")))
        }
    }
}

/// What the server agreed to.
#[cfg(feature = "ws_compression")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server starts each message with a fresh compressor: our inflater may reset too.
    pub(crate) server_no_context_takeover: bool,
    /// We may send compressed messages. `false` when the server limits our window below 15
    /// bits, which the pure-Rust deflater cannot honour: we then send plain messages (always
    /// allowed) and still inflate the server's.
    pub(crate) may_compress: bool,
}

fn bad(why: String) -> Error {
    Error::new(
        ErrorKind::WebSocket,
        format!("the server's Sec-WebSocket-Extensions answer: {why}"),
    )
}

/// Without the feature: nothing can be agreed (a value of this type cannot exist).
#[cfg(not(feature = "ws_compression"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agreed {}

/// Reads the server's `Sec-WebSocket-Extensions` answer (every header value) to [`OFFER`]. No
/// extension → `None` (plain frames). An extension we did not offer, a parameter RFC 7692 does
/// not define, a duplicate or a bad value fails the upgrade, as the RFC requires of a client.
#[cfg(feature = "ws_compression")]
fn negotiate<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Option<Agreed>> {
    let mut agreed: Option<Agreed> = None;
    for value in values {
        for ext in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut params = ext.split(';').map(str::trim);
            let name = params.next().unwrap_or("");
            if !name.eq_ignore_ascii_case("permessage-deflate") {
                return Err(bad(format!("'{name}' was not offered")));
            }
            if agreed.is_some() {
                return Err(bad("permessage-deflate twice".into()));
            }
            let mut a = Agreed {
                server_no_context_takeover: false,
                may_compress: true,
            };
            let mut seen: Vec<String> = Vec::new();
            for p in params.filter(|p| !p.is_empty()) {
                let (key, val) = match p.split_once('=') {
                    Some((k, v)) => (k.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                };
                let key = key.to_ascii_lowercase();
                if seen.contains(&key) {
                    return Err(bad(format!("parameter '{key}' twice")));
                }
                seen.push(key.clone());
                let bits = |v: Option<&str>| -> Result<u8> {
                    match v.map(str::parse::<u8>) {
                        Some(Ok(b)) if (8..=15).contains(&b) => Ok(b),
                        _ => Err(bad(format!("bad value for '{key}'"))),
                    }
                };
                match (key.as_str(), val) {
                    ("server_no_context_takeover", None) => a.server_no_context_takeover = true,
                    // We keep no context anyway.
                    ("client_no_context_takeover", None) => {}
                    // Any window up to 15 bits inflates with ours.
                    ("server_max_window_bits", v) => {
                        bits(v)?;
                    }
                    ("client_max_window_bits", v) => {
                        if bits(v)? < 15 {
                            a.may_compress = false;
                        }
                    }
                    _ => return Err(bad(format!("unexpected parameter '{p}'"))),
                }
            }
            agreed = Some(a);
        }
    }
    Ok(agreed)
}

/// Compresses outgoing messages, one at a time, with no context kept between them.
#[cfg(feature = "ws_compression")]
pub(crate) struct Deflater {
    c: Compress,
}

#[cfg(feature = "ws_compression")]
impl Deflater {
    pub(crate) fn new() -> Deflater {
        Deflater {
            c: Compress::new(Compression::new(LEVEL), false),
        }
    }

    /// A deflater if the server lets us compress (see [`Agreed::may_compress`]).
    pub(crate) fn for_agreed(agreed: Agreed) -> Option<Deflater> {
        agreed.may_compress.then(Deflater::new)
    }
}

#[cfg(feature = "ws_compression")]
impl Deflate for Deflater {
    fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        out.clear();
        if data.len() < COMPRESS_THRESHOLD {
            return false;
        }
        self.c.reset();
        // Plain is the fallback, so there is no point in output longer than the input.
        let limit = data.len() + TAIL.len();
        out.reserve(limit.min(data.len() / 2 + 256));
        loop {
            let consumed = self.c.total_in() as usize;
            if out.len() == out.capacity() {
                if out.len() >= limit {
                    return false;
                }
                out.reserve((out.len() / 2).max(256).min(limit - out.len()));
            }
            match self
                .c
                .compress_vec(&data[consumed..], out, FlushCompress::Sync)
            {
                Ok(_) => {}
                Err(_) => return false,
            }
            // Done when all input is in and the flush did not run out of room.
            if self.c.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if !out.ends_with(&TAIL) {
            return false;
        }
        out.truncate(out.len() - TAIL.len());
        out.len() < data.len()
    }
}

/// Inflates incoming compressed messages, streaming.
#[cfg(feature = "ws_compression")]
pub(crate) struct Inflater {
    d: Decompress,
    reset_each: bool,
    /// Bytes this message has inflated to so far, and the limit.
    produced: u64,
    max: u64,
    /// The server ended the deflate stream (a block with BFINAL): the rest of the message is
    /// ignored and the inflater starts over at the next one.
    ended: bool,
}

#[cfg(feature = "ws_compression")]
fn corrupt(why: &str) -> io::Error {
    Error::new(
        ErrorKind::Protocol,
        format!("bad compressed WebSocket message: {why}"),
    )
    .into_io()
}

#[cfg(feature = "ws_compression")]
impl Inflater {
    pub(crate) fn new(agreed: Agreed) -> Inflater {
        Inflater::with_limit(agreed, MAX_MESSAGE)
    }

    pub(crate) fn with_limit(agreed: Agreed, max: u64) -> Inflater {
        Inflater {
            d: Decompress::new(false),
            reset_each: agreed.server_no_context_takeover,
            produced: 0,
            max,
            ended: false,
        }
    }
}

#[cfg(feature = "ws_compression")]
impl Inflate for Inflater {
    fn inflate(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<(usize, usize)> {
        if self.ended {
            return Ok((input.len(), 0));
        }
        // Never produce more than the limit allows, plus one byte to notice a bomb.
        let room = (self.max - self.produced).saturating_add(1);
        let out_len = out.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let (in0, out0) = (self.d.total_in(), self.d.total_out());
        let status = self
            .d
            .decompress(input, &mut out[..out_len], FlushDecompress::Sync)
            .map_err(|e| corrupt(&e.to_string()))?;
        let consumed = (self.d.total_in() - in0) as usize;
        let written = (self.d.total_out() - out0) as usize;
        self.produced += written as u64;
        if self.produced > self.max {
            return Err(corrupt(&format!(
                "it inflates past {} bytes (a decompression bomb?)",
                self.max
            )));
        }
        if status == Status::StreamEnd {
            self.ended = true;
            return Ok((input.len(), written));
        }
        Ok((consumed, written))
    }

    fn end_message(&mut self) {
        self.produced = 0;
        if self.reset_each || self.ended {
            self.d.reset(false);
            self.ended = false;
        }
    }
}

#[cfg(test)]
mod tests_without_an_offer {
    use super::*;

    #[test]
    fn any_extension_in_the_answer_was_not_offered() {
        refuse(Vec::<&str>::new()).unwrap();
        refuse([" ", ""]).unwrap();
        for answer in ["permessage-deflate", " , x-webkit-deflate-frame; a=1"] {
            let e = refuse([answer]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WebSocket, "{answer}");
            assert!(e.to_string().contains("was not offered"), "{e}");
        }
    }

    #[test]
    #[cfg(not(feature = "ws_compression"))]
    fn without_the_feature_nothing_is_agreed() {
        assert!(start(&[]).unwrap().is_none());
        let e = start(&["permessage-deflate".to_string()]).err().unwrap();
        assert!(e.to_string().contains("was not offered"), "{e}");
    }
}

#[cfg(all(test, feature = "ws_compression"))]
mod tests {
    use super::*;

    fn agreed(server_no_context_takeover: bool) -> Agreed {
        Agreed {
            server_no_context_takeover,
            may_compress: true,
        }
    }

    #[test]
    fn the_server_answer_is_read_strictly() {
        let ok = |v: &str| negotiate([v]).unwrap();
        assert_eq!(negotiate(Vec::<&str>::new()).unwrap(), None);
        assert_eq!(
            ok("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            Some(agreed(true))
        );
        assert_eq!(ok("Permessage-Deflate"), Some(agreed(false)));
        assert_eq!(
            ok("permessage-deflate; server_max_window_bits=10"),
            Some(agreed(false))
        );
        assert_eq!(
            ok("permessage-deflate; client_max_window_bits=\"9\""),
            Some(Agreed {
                server_no_context_takeover: false,
                may_compress: false
            })
        );
        for bad in [
            "x-webkit-deflate-frame",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate, permessage-deflate",
        ] {
            let e = negotiate([bad]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::WebSocket, "{bad}");
        }
        // What the option stores: the same reading, and codecs when agreed.
        let answer = |v: &str| start(&[v.to_string()]);
        assert!(answer("").unwrap().is_none());
        let c = answer("permessage-deflate; client_max_window_bits=9")
            .unwrap()
            .unwrap();
        assert!(!c.agreed.may_compress && c.deflater.is_none());
        let c = answer(OFFER).unwrap().unwrap();
        assert!(c.agreed.server_no_context_takeover && c.deflater.is_some());
        assert!(answer("x-webkit-deflate-frame").is_err());
    }

    /// Inflates one message's payload, fed in pieces of `chunk` bytes and read out in pieces of
    /// `out` bytes.
    fn inflate_all(inf: &mut Inflater, payload: &[u8], chunk: usize, out: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut buf = vec![0u8; out];
        let mut input: Vec<&[u8]> = payload.chunks(chunk).collect();
        input.push(&TAIL);
        for piece in input {
            let mut piece = piece;
            loop {
                let (c, w) = inf.inflate(piece, &mut buf).unwrap();
                got.extend_from_slice(&buf[..w]);
                piece = &piece[c..];
                if piece.is_empty() && w < buf.len() {
                    break;
                }
                assert!(c > 0 || w > 0, "no progress");
            }
        }
        inf.end_message();
        got
    }

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a repeating text with a counter in it.
        let mut v = Vec::with_capacity(len + 32);
        let mut i = 0u64;
        while v.len() < len {
            v.extend_from_slice(format!("MSG sensor.{} 1 {}\r\n", i % 97, i).as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    #[test]
    fn round_trips_around_frame_and_window_boundaries() {
        let mut def = Deflater::new();
        let mut inf = Inflater::new(agreed(true));
        let mut z = Vec::new();
        for len in [
            64,
            65,
            125,
            126,
            127,
            4095,
            4096,
            32767,
            32768,
            32769,
            65535,
            65536,
            65537,
            1 << 20,
        ] {
            let data = sample(len);
            assert!(def.compress(&data, &mut z), "{len} bytes did not compress");
            assert!(len < 4096 || z.len() < len / 4, "{len}: {} bytes", z.len());
            for (chunk, out) in [(z.len(), 1 << 16), (1, 7), (4096, 1), (777, 32768)] {
                if len >= 1 << 16 && (chunk == 1 || out == 1) {
                    continue; // byte-at-a-time on big messages is slow and proves nothing more
                }
                let got = inflate_all(&mut inf, &z, chunk, out);
                assert!(got == data, "{len} bytes, chunks {chunk}/{out}");
            }
        }
    }

    #[test]
    fn small_and_incompressible_messages_stay_plain() {
        let mut def = Deflater::new();
        let mut z = Vec::new();
        for len in [0, 1, 6, 63] {
            assert!(!def.compress(&sample(len), &mut z), "{len}");
        }
        // Random bytes do not get smaller.
        let noise: Vec<u8> = (0..10_000).map(|_| rand::random::<u8>()).collect();
        assert!(!def.compress(&noise, &mut z));
    }

    #[test]
    fn context_is_kept_across_messages_unless_the_server_resets() {
        // A server that keeps its context: the second message refers back into the first.
        let mut c = Compress::new(Compression::best(), false);
        let first = sample(5000);
        let mut z1 = Vec::with_capacity(10_000);
        c.compress_vec(&first, &mut z1, FlushCompress::Sync)
            .unwrap();
        let mut z2 = Vec::with_capacity(10_000);
        c.compress_vec(&first, &mut z2, FlushCompress::Sync)
            .unwrap();
        assert!(z2.len() < 100, "the repeat should be back-references");
        for z in [&mut z1, &mut z2] {
            assert!(z.ends_with(&TAIL));
            z.truncate(z.len() - 4);
        }
        let mut keep = Inflater::new(agreed(false));
        assert_eq!(inflate_all(&mut keep, &z1, 100, 1000), first);
        assert_eq!(inflate_all(&mut keep, &z2, 100, 1000), first);
        // An inflater that resets per message reads messages made without context, one after
        // the other.
        let mut reset = Inflater::new(agreed(true));
        assert_eq!(inflate_all(&mut reset, &z1, 100, 1000), first);
        assert_eq!(inflate_all(&mut reset, &z1, 7, 33), first);
    }

    #[test]
    fn corrupt_data_and_bombs_are_protocol_errors() {
        let mut buf = vec![0u8; 4096];
        // 0xff: a reserved block type.
        let mut inf = Inflater::new(agreed(true));
        let e = Error::io("x", inf.inflate(&[0xff, 0xff, 0xff], &mut buf).unwrap_err());
        assert_eq!(e.kind(), ErrorKind::Protocol);
        // Every truncation and every single-byte corruption of a real message: an error or
        // some output, never a panic or a hang.
        let mut def = Deflater::new();
        let data = sample(3000);
        let mut z = Vec::new();
        assert!(def.compress(&data, &mut z));
        for i in 0..z.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = z.clone();
                bad[i] ^= flip;
                let mut inf = Inflater::new(agreed(true));
                let _ = inf
                    .inflate(&bad, &mut buf)
                    .and_then(|_| inf.inflate(&TAIL, &mut buf));
            }
        }
        // A bomb: 64 MiB of zeros deflate to ~64 KiB; a 1 MiB limit stops it early.
        let zeros = vec![0u8; 64 << 20];
        let mut c = Compress::new(Compression::fast(), false);
        let mut bomb = Vec::with_capacity(1 << 20);
        c.compress_vec(&zeros, &mut bomb, FlushCompress::Sync)
            .unwrap();
        assert!(bomb.len() < 1 << 20);
        let mut inf = Inflater::with_limit(agreed(true), 1 << 20);
        let mut total = 0;
        let mut input = &bomb[..];
        let err = loop {
            match inf.inflate(input, &mut buf) {
                Ok((c, w)) => {
                    total += w;
                    input = &input[c..];
                    assert!(total <= 1 << 20);
                }
                Err(e) => break Error::io("x", e),
            }
        };
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.to_string().contains("bomb"), "{err}");
        // Exactly the limit is fine.
        let mut inf = Inflater::with_limit(agreed(true), 1 << 20);
        let mut z = Vec::new();
        assert!(def.compress(&vec![7u8; 1 << 20], &mut z));
        assert_eq!(inflate_all(&mut inf, &z, 1000, 4096).len(), 1 << 20);
    }
}
