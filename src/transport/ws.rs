//! WebSocket (RFC 6455) over a TCP or TLS byte stream.
//!
//! The opening handshake is in `upgrade.rs`; tungstenite encodes and decodes frame headers, and
//! this file runs them over our own halves. NATS bytes travel in masked binary frames; one NATS
//! operation may span frames and one frame may hold many operations, so the reader simply
//! concatenates payloads. A server Ping is answered by queueing a Pong for the writer; a Close
//! frame ends the stream with its code and reason kept in the error.
//!
//! With compression agreed (permessage-deflate, see `deflate.rs`), a message whose first frame
//! has RSV1 set is inflated as its payload arrives, straight into the reader's buffer; the
//! writer deflates what is worth it and sets RSV1 on those frames.

use std::io::{self, Cursor};
use std::sync::Arc;

use parking_lot::Mutex;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::deflate::{self, Deflate, Inflate};
use super::{Kick, ReadHalf, Setup, WriteHalf};
use crate::error::{Error, ErrorKind, Result};
use crate::url::ServerUrl;

mod upgrade;

pub(crate) use upgrade::check_extra_header;
use upgrade::Upgraded;

/// Largest frame we write; bigger writes become several frames.
const MAX_FRAME: usize = 1024 * 1024;
/// Size of the raw (framed) read buffer.
const RAW_BUF: usize = 64 * 1024;

/// Frames queued by the reader for the writer (pongs, the close reply), already encoded.
type Outbox = Arc<Mutex<Vec<u8>>>;

pub(crate) struct WsRead {
    inner: Box<dyn ReadHalf>,
    /// Raw bytes from the stream: `raw[pos..end]` is not yet decoded.
    raw: Vec<u8>,
    pos: usize,
    end: usize,
    /// Payload bytes left in the current frame.
    left: u64,
    /// The current frame: a data frame (its mask and how far into it we are) or a control frame.
    frame: Current,
    control: Vec<u8>,
    outbox: Outbox,
    kick: Kick,
    closed: Option<Error>,
    /// Compression was agreed.
    inflater: Option<Box<dyn Inflate>>,
    /// Inside a fragmented data message (its first frame came, its final one has not): whether
    /// it is compressed.
    in_message: Option<bool>,
    /// Bytes at `raw[pos..]` already unmasked (a masked compressed frame is unmasked in place,
    /// and the inflater may not take all of it at once).
    unmasked: usize,
    /// The last inflate filled the caller's buffer: the inflater may hold more output.
    inflate_pending: bool,
}

enum Current {
    None,
    Data {
        mask: Option<[u8; 4]>,
        offset: usize,
        compressed: bool,
        fin: bool,
    },
    /// A compressed message's payload is all in: feeding the `00 00 ff ff` tail (`fed` bytes
    /// of it so far) and taking the last output.
    Finish {
        fed: usize,
    },
    Control {
        op: Control,
        mask: Option<[u8; 4]>,
    },
}

pub(crate) struct WsWrite {
    inner: Box<dyn WriteHalf>,
    frame: Vec<u8>,
    outbox: Outbox,
    closed: bool,
    /// Compression was agreed and we may compress.
    deflater: Option<Box<dyn Deflate>>,
    /// A compressed message, before framing.
    zbuf: Vec<u8>,
    /// With compression: the most one message carries (see `deflate::MAX_COMPRESSED_MESSAGE`).
    max_message: usize,
}

/// Performs the HTTP upgrade over `reader`/`writer` and wraps them in WebSocket framing.
/// Upgrades the stream (the opening handshake: `upgrade.rs`) and returns its two halves.
pub(crate) fn upgrade(
    mut reader: Box<dyn ReadHalf>,
    mut writer: Box<dyn WriteHalf>,
    url: &ServerUrl,
    setup: &Setup<'_>,
    kick: Kick,
) -> Result<(WsRead, WsWrite)> {
    let Upgraded {
        rest: mut buf,
        codecs,
    } = upgrade::handshake(&mut *reader, &mut *writer, url, setup)?;
    // What followed the 101 (usually the INFO frame) is the first raw bytes.
    let end = buf.len();
    buf.resize(RAW_BUF.max(end), 0);
    match &codecs {
        Some(c) => log::debug!("{url}: WebSocket compression agreed ({:?})", c.agreed),
        None if setup.ws.compression.is_some() => {
            log::debug!("{url}: the server declined WebSocket compression; plain frames")
        }
        None => {}
    }
    let (inflater, deflater) = match codecs {
        Some(c) => (Some(c.inflater), c.deflater),
        None => (None, None),
    };
    let outbox: Outbox = Arc::new(Mutex::new(Vec::new()));
    Ok((
        WsRead {
            inner: reader,
            raw: buf,
            pos: 0,
            end,
            left: 0,
            frame: Current::None,
            control: Vec::new(),
            outbox: outbox.clone(),
            kick,
            closed: None,
            inflater,
            in_message: None,
            unmasked: 0,
            inflate_pending: false,
        },
        WsWrite {
            inner: writer,
            frame: Vec::new(),
            outbox,
            closed: false,
            deflater,
            zbuf: Vec::new(),
            max_message: deflate::MAX_COMPRESSED_MESSAGE,
        },
    ))
}

/// XORs `buf` with the 4-byte mask, `offset` bytes into the masked stream.
pub(crate) fn apply_mask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let rot = offset & 3;
    let m = [
        mask[rot],
        mask[(rot + 1) & 3],
        mask[(rot + 2) & 3],
        mask[(rot + 3) & 3],
    ];
    let wide = u64::from_ne_bytes([m[0], m[1], m[2], m[3], m[0], m[1], m[2], m[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let v = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) ^ wide;
        c.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= m[i & 3];
    }
}

fn protocol(why: &str) -> io::Error {
    Error::new(ErrorKind::WebSocket, why.to_string()).into_io()
}

/// The inflater made no progress with input and room to write: never expected, but a loop on
/// it must not spin.
fn stalled() -> io::Error {
    Error::new(
        ErrorKind::Protocol,
        "bad compressed WebSocket message: the deflate stream does not advance",
    )
    .into_io()
}

impl WsRead {
    /// Reads more raw bytes (keeping the unread ones); `false` on end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.end == self.raw.len() {
            self.raw.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
        let n = self.inner.read(&mut self.raw[self.end..])?;
        self.end += n;
        Ok(n > 0)
    }

    fn queue(&self, frame: &[u8]) {
        self.outbox.lock().extend_from_slice(frame);
        (self.kick)();
    }

    fn handle_control(&mut self, op: Control) -> io::Result<()> {
        match op {
            Control::Ping => {
                let mut f = Vec::with_capacity(self.control.len() + 14);
                write_frame(&mut f, OpCode::Control(Control::Pong), &self.control);
                self.queue(&f);
            }
            Control::Pong => {}
            Control::Close => {
                let (code, reason) = if self.control.len() >= 2 {
                    let code = u16::from_be_bytes([self.control[0], self.control[1]]);
                    let reason = String::from_utf8_lossy(&self.control[2..]).into_owned();
                    (code, reason)
                } else {
                    (u16::from(CloseCode::Status), String::new())
                };
                // Echo the status back (none when the server gave none), then treat as EOF.
                let mut f = Vec::new();
                let body = if self.control.len() >= 2 {
                    code.to_be_bytes().to_vec()
                } else {
                    Vec::new()
                };
                write_frame(&mut f, OpCode::Control(Control::Close), &body);
                self.queue(&f);
                let err = Error::new(ErrorKind::WebSocket, "the server closed the WebSocket")
                    .with_ws_close(code, reason);
                self.closed = Some(err.clone());
                return Err(err.into_io());
            }
            Control::Reserved(_) => return Err(protocol("reserved control opcode")),
        }
        Ok(())
    }
}

impl ReadHalf for WsRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = &self.closed {
            return Err(e.clone().into_io());
        }
        if self.inflate_pending {
            // Output the inflater still holds comes before anything else.
            if let Some(inf) = self.inflater.as_mut() {
                let (_, w) = inf.inflate(&[], buf)?;
                self.inflate_pending = w == buf.len();
                if w > 0 {
                    return Ok(w);
                }
            }
        }
        loop {
            let avail = self.end - self.pos;
            match self.frame {
                Current::Data {
                    mask,
                    offset,
                    compressed: true,
                    fin,
                } if self.left > 0 => {
                    if avail == 0 {
                        if !self.fill()? {
                            return Ok(0);
                        }
                        continue;
                    }
                    let n = self.left.min(avail as u64) as usize;
                    if let Some(m) = mask {
                        if self.unmasked < n {
                            let from = self.pos + self.unmasked;
                            apply_mask(
                                &mut self.raw[from..self.pos + n],
                                m,
                                offset + self.unmasked,
                            );
                            self.unmasked = n;
                        }
                    }
                    let Some(inf) = self.inflater.as_mut() else {
                        return Err(stalled());
                    };
                    let (c, w) = inf.inflate(&self.raw[self.pos..self.pos + n], buf)?;
                    self.pos += c;
                    self.left -= c as u64;
                    self.unmasked = self.unmasked.saturating_sub(c);
                    self.inflate_pending = w == buf.len();
                    self.frame = if self.left == 0 && fin {
                        Current::Finish { fed: 0 }
                    } else {
                        Current::Data {
                            mask,
                            offset: offset + c,
                            compressed: true,
                            fin,
                        }
                    };
                    if w > 0 {
                        return Ok(w);
                    }
                    if c == 0 {
                        return Err(stalled());
                    }
                }
                Current::Finish { fed } => {
                    let Some(inf) = self.inflater.as_mut() else {
                        return Err(stalled());
                    };
                    let (c, w) = inf.inflate(&deflate::TAIL[fed..], buf)?;
                    let fed = fed + c;
                    if fed == deflate::TAIL.len() && w < buf.len() {
                        inf.end_message();
                        self.frame = Current::None;
                        self.inflate_pending = false;
                    } else {
                        self.frame = Current::Finish { fed };
                        self.inflate_pending = w == buf.len();
                    }
                    if w > 0 {
                        return Ok(w);
                    }
                    if c == 0 && fed < deflate::TAIL.len() {
                        return Err(stalled());
                    }
                }
                Current::Data { mask, offset, .. } if self.left > 0 => {
                    if avail == 0 {
                        if !self.fill()? {
                            return Ok(0);
                        }
                        continue;
                    }
                    let n = (self.left.min(avail as u64) as usize).min(buf.len());
                    buf[..n].copy_from_slice(&self.raw[self.pos..self.pos + n]);
                    if let Some(m) = mask {
                        apply_mask(&mut buf[..n], m, offset);
                    }
                    self.pos += n;
                    self.left -= n as u64;
                    self.frame = Current::Data {
                        mask,
                        offset: offset + n,
                        compressed: false,
                        fin: false,
                    };
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Current::Control { op, mask } if self.left > 0 => {
                    if avail == 0 {
                        if !self.fill()? {
                            return Ok(0);
                        }
                        continue;
                    }
                    let n = self.left.min(avail as u64) as usize;
                    let start = self.control.len();
                    self.control
                        .extend_from_slice(&self.raw[self.pos..self.pos + n]);
                    if let Some(m) = mask {
                        apply_mask(&mut self.control[start..], m, start);
                    }
                    self.pos += n;
                    self.left -= n as u64;
                    if self.left == 0 {
                        self.frame = Current::None;
                        self.handle_control(op)?;
                    }
                }
                Current::Control { op, .. } => {
                    // Empty control frame.
                    self.frame = Current::None;
                    self.handle_control(op)?;
                }
                _ => {
                    // At a frame boundary: decode the next header.
                    let mut cur = Cursor::new(&self.raw[self.pos..self.end]);
                    let parsed = FrameHeader::parse(&mut cur).map_err(|e| {
                        Error::new(ErrorKind::WebSocket, "bad frame header from the server")
                            .with_source(e)
                            .into_io()
                    })?;
                    let Some((hdr, len)) = parsed else {
                        if !self.fill()? {
                            return Ok(0);
                        }
                        continue;
                    };
                    self.pos += cur.position() as usize;
                    if hdr.rsv2 || hdr.rsv3 {
                        return Err(protocol("the server set reserved frame bits RSV2/RSV3"));
                    }
                    self.left = len;
                    match hdr.opcode {
                        OpCode::Data(d @ (Data::Binary | Data::Text | Data::Continue)) => {
                            let compressed = if matches!(d, Data::Continue) {
                                let Some(c) = self.in_message else {
                                    return Err(protocol("a continuation frame outside a message"));
                                };
                                if hdr.rsv1 {
                                    return Err(protocol("RSV1 on a continuation frame"));
                                }
                                c
                            } else {
                                if self.in_message.is_some() {
                                    return Err(protocol(
                                        "a new message began before the previous one ended",
                                    ));
                                }
                                if hdr.rsv1 && self.inflater.is_none() {
                                    return Err(protocol(
                                        "the server set reserved frame bits (compression was not negotiated)",
                                    ));
                                }
                                hdr.rsv1
                            };
                            self.in_message = (!hdr.is_final).then_some(compressed);
                            self.unmasked = 0;
                            self.frame = if compressed && hdr.is_final && len == 0 {
                                Current::Finish { fed: 0 }
                            } else {
                                Current::Data {
                                    mask: hdr.mask,
                                    offset: 0,
                                    compressed,
                                    fin: hdr.is_final,
                                }
                            };
                        }
                        OpCode::Data(Data::Reserved(_)) => {
                            return Err(protocol("reserved data opcode"))
                        }
                        OpCode::Control(op) => {
                            if len > 125 || !hdr.is_final {
                                return Err(protocol("control frame too long or fragmented"));
                            }
                            if hdr.rsv1 {
                                return Err(protocol("a compressed control frame"));
                            }
                            self.control.clear();
                            self.frame = Current::Control { op, mask: hdr.mask };
                        }
                    }
                }
            }
        }
    }
}

/// Appends one masked frame (header + masked payload) to `out`.
fn write_frame(out: &mut Vec<u8>, opcode: OpCode, payload: &[u8]) {
    write_frame_with(out, opcode, false, payload)
}

/// Appends one masked final frame; `compressed` sets RSV1 (the payload is a deflated message).
fn write_frame_with(out: &mut Vec<u8>, opcode: OpCode, compressed: bool, payload: &[u8]) {
    let mask: [u8; 4] = rand::random();
    let hdr = FrameHeader {
        is_final: true,
        rsv1: compressed,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(mask),
    };
    // Writing into a Vec cannot fail.
    let _ = hdr.format(payload.len() as u64, out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], mask, 0);
}

impl WsWrite {
    fn send_outbox(&mut self) -> io::Result<()> {
        let queued = std::mem::take(&mut *self.outbox.lock());
        if !queued.is_empty() {
            self.inner.write_all(&queued)?;
        }
        Ok(())
    }
}

impl WriteHalf for WsWrite {
    fn write_tracked(&mut self, data: &[u8], sent: &mut usize) -> io::Result<()> {
        *sent = 0;
        self.send_outbox()?;
        if data.is_empty() || self.closed {
            return self.inner.write_all(&[]);
        }
        // Compressed or not, one message per chunk: with compression the chunks stay within
        // what the server accepts once inflated.
        let chunk_size = if self.deflater.is_some() {
            self.max_message
        } else {
            MAX_FRAME
        };
        for chunk in data.chunks(chunk_size) {
            self.frame.clear();
            let compressed = match &mut self.deflater {
                Some(d) => d.compress(chunk, &mut self.zbuf),
                None => false,
            };
            if compressed {
                write_frame_with(
                    &mut self.frame,
                    OpCode::Data(Data::Binary),
                    true,
                    &self.zbuf,
                );
            } else {
                write_frame(&mut self.frame, OpCode::Data(Data::Binary), chunk);
            }
            self.inner.write_all(&self.frame)?;
            *sent += chunk.len();
        }
        Ok(())
    }

    fn set_write_deadline(&mut self, deadline: Option<std::time::Instant>) {
        self.inner.set_write_deadline(deadline);
    }

    fn has_pending(&self) -> bool {
        self.inner.has_pending()
    }

    fn set_max_payload(&mut self, bytes: usize) {
        if bytes > 0 {
            self.max_message = bytes.min(deflate::MAX_COMPRESSED_MESSAGE);
        }
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let _ = self.send_outbox();
        let mut f = Vec::new();
        write_frame(
            &mut f,
            OpCode::Control(Control::Close),
            &u16::from(CloseCode::Normal).to_be_bytes(),
        );
        let _ = self.inner.write_all(&f);
        self.inner.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[test]
    fn mask_matches_bytewise_at_every_offset_and_length() {
        let mask = [0x6d, 0xb6, 0xb2, 0x80];
        let data: Vec<u8> = (0..41u8).collect();
        for off in 0..8 {
            for len in 0..data.len() {
                let mut fast = data[..len].to_vec();
                apply_mask(&mut fast, mask, off);
                let slow: Vec<u8> = data[..len]
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[(i + off) & 3])
                    .collect();
                assert_eq!(fast, slow, "off {off} len {len}");
            }
        }
    }

    /// Serves scripted chunks, then end of stream.
    struct Script(VecDeque<Vec<u8>>);
    impl ReadHalf for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut c) = self.0.pop_front() else {
                return Ok(0);
            };
            let n = c.len().min(buf.len());
            buf[..n].copy_from_slice(&c[..n]);
            if n < c.len() {
                self.0.push_front(c.split_off(n));
            }
            Ok(n)
        }
    }

    /// Records what is written.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl WriteHalf for Sink {
        fn write_tracked(&mut self, data: &[u8], sent: &mut usize) -> io::Result<()> {
            self.0.lock().extend_from_slice(data);
            *sent = data.len();
            Ok(())
        }
        fn close(&mut self) {}
    }

    /// A server-side (unmasked unless `mask` is given) frame.
    fn frame(opcode: OpCode, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
        frame_rsv1(opcode, fin, false, payload, mask)
    }

    fn frame_rsv1(
        opcode: OpCode,
        fin: bool,
        rsv1: bool,
        payload: &[u8],
        mask: Option<[u8; 4]>,
    ) -> Vec<u8> {
        let hdr = FrameHeader {
            is_final: fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
        };
        let mut out = Vec::new();
        hdr.format(payload.len() as u64, &mut out).unwrap();
        let start = out.len();
        out.extend_from_slice(payload);
        if let Some(m) = mask {
            apply_mask(&mut out[start..], m, 0);
        }
        out
    }

    fn reader(chunks: Vec<Vec<u8>>) -> (WsRead, Outbox) {
        let outbox: Outbox = Arc::new(Mutex::new(Vec::new()));
        let r = WsRead {
            inner: Box::new(Script(chunks.into())),
            raw: vec![0; RAW_BUF],
            pos: 0,
            end: 0,
            left: 0,
            frame: Current::None,
            control: Vec::new(),
            outbox: outbox.clone(),
            kick: Arc::new(|| {}),
            closed: None,
            inflater: None,
            in_message: None,
            unmasked: 0,
            inflate_pending: false,
        };
        (r, outbox)
    }

    fn read_all(r: &mut WsRead) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    /// Server traffic of every frame shape we must accept, and the NATS bytes it carries.
    fn stream() -> (Vec<u8>, Vec<u8>) {
        let big: Vec<u8> = (0..70_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let mid: Vec<u8> = vec![b'x'; 300];
        let mut wire = Vec::new();
        let mut nats = Vec::new();
        let mut data = |wire: &mut Vec<u8>, op, fin, p: &[u8], mask| {
            wire.extend(frame(op, fin, p, mask));
            nats.extend_from_slice(p);
        };
        let bin = OpCode::Data(Data::Binary);
        data(&mut wire, bin, true, b"INFO {}\r\nPI", None);
        wire.extend(frame(OpCode::Control(Control::Ping), true, b"hb", None));
        data(&mut wire, bin, true, b"NG\r\nMSG a 1 2\r\nhi\r\n", None);
        data(&mut wire, OpCode::Data(Data::Text), true, b"PONG\r\n", None);
        data(&mut wire, bin, false, b"frag", None);
        data(
            &mut wire,
            OpCode::Data(Data::Continue),
            true,
            b"mented",
            None,
        );
        data(&mut wire, bin, true, b"", None);
        data(&mut wire, bin, true, &mid, None);
        data(&mut wire, bin, true, &big, None);
        data(
            &mut wire,
            bin,
            true,
            b"masked by a confused server",
            Some([1, 2, 3, 4]),
        );
        (wire, nats)
    }

    #[test]
    fn frames_split_at_every_point_give_the_same_bytes() {
        let (wire, nats) = stream();
        // Every split point of the small head of the stream (the big frame makes the rest),
        // plus a byte-at-a-time run.
        for cut in 0..200.min(wire.len()) {
            // (An empty read means end of stream, so a cut at 0 is one chunk.)
            let chunks = [wire[..cut].to_vec(), wire[cut..].to_vec()];
            let (mut r, outbox) = reader(chunks.into_iter().filter(|c| !c.is_empty()).collect());
            let got = read_all(&mut r).unwrap();
            assert!(got == nats, "cut at {cut}: {} bytes differ", got.len());
            let pong = frame_payloads(&outbox.lock());
            assert_eq!(pong, vec![(OpCode::Control(Control::Pong), b"hb".to_vec())]);
        }
        let bytes: Vec<Vec<u8>> = wire.iter().map(|b| vec![*b]).collect();
        let (mut r, _) = reader(bytes);
        let got = read_all(&mut r).unwrap();
        assert!(got == nats, "byte at a time: {} bytes differ", got.len());
    }

    /// Decodes client frames (masked) into (opcode, unmasked payload).
    fn frame_payloads(mut bytes: &[u8]) -> Vec<(OpCode, Vec<u8>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let mut cur = Cursor::new(bytes);
            let (hdr, len) = FrameHeader::parse(&mut cur).unwrap().unwrap();
            assert!(hdr.is_final);
            let start = cur.position() as usize;
            let mut p = bytes[start..start + len as usize].to_vec();
            apply_mask(&mut p, hdr.mask.expect("client frames are masked"), 0);
            out.push((hdr.opcode, p));
            bytes = &bytes[start + len as usize..];
        }
        out
    }

    #[test]
    fn close_frame_ends_the_stream_with_code_and_reason() {
        let mut body = 1008u16.to_be_bytes().to_vec();
        body.extend_from_slice(b"Authentication Failure");
        let mut wire = frame(OpCode::Data(Data::Binary), true, b"PING\r\n", None);
        wire.extend(frame(OpCode::Control(Control::Close), true, &body, None));
        wire.extend(frame(OpCode::Data(Data::Binary), true, b"never", None));
        let (mut r, outbox) = reader(vec![wire]);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 6);
        for _ in 0..2 {
            let err = Error::io("reading", r.read(&mut buf).unwrap_err());
            assert_eq!(err.kind(), ErrorKind::WebSocket);
            assert_eq!(
                err.websocket_close(),
                Some((1008, "Authentication Failure"))
            );
        }
        let reply = frame_payloads(&outbox.lock());
        assert_eq!(
            reply,
            vec![(
                OpCode::Control(Control::Close),
                1008u16.to_be_bytes().to_vec()
            )]
        );
    }

    #[test]
    fn protocol_violations_are_errors() {
        let mut rsv = frame(OpCode::Data(Data::Binary), true, b"x", None);
        rsv[0] |= 0x40;
        let long_ping = frame(OpCode::Control(Control::Ping), true, &[0u8; 126], None);
        let frag_ping = frame(OpCode::Control(Control::Ping), false, b"x", None);
        let mut reserved = frame(OpCode::Data(Data::Binary), true, b"x", None);
        reserved[0] = (reserved[0] & 0xf0) | 0x3;
        for wire in [rsv, long_ping, frag_ping, reserved] {
            let (mut r, _) = reader(vec![wire]);
            let err = Error::io("reading", read_all(&mut r).unwrap_err());
            assert_eq!(err.kind(), ErrorKind::WebSocket, "{err}");
        }
        // A stream that stops mid-frame is a clean end of stream, not a panic.
        let wire = frame(OpCode::Data(Data::Binary), true, b"hello", None);
        let (mut r, _) = reader(vec![wire[..4].to_vec()]);
        assert_eq!(read_all(&mut r).unwrap(), b"he");
    }

    #[test]
    fn writer_frames_are_masked_split_and_preceded_by_control_replies() {
        let sink = Sink::default();
        let outbox: Outbox = Arc::new(Mutex::new(Vec::new()));
        let mut w = WsWrite {
            inner: Box::new(sink.clone()),
            frame: Vec::new(),
            outbox: outbox.clone(),
            closed: false,
            deflater: None,
            zbuf: Vec::new(),
            max_message: deflate::MAX_COMPRESSED_MESSAGE,
        };
        write_frame(&mut outbox.lock(), OpCode::Control(Control::Pong), b"p");
        let data: Vec<u8> = (0..(MAX_FRAME + 10)).map(|i| i as u8).collect();
        w.write_all(&data).unwrap();
        w.write_all(&[]).unwrap();
        w.close();
        let frames = frame_payloads(&sink.0.lock());
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], (OpCode::Control(Control::Pong), b"p".to_vec()));
        assert_eq!(frames[1].0, OpCode::Data(Data::Binary));
        let mut joined = frames[1].1.clone();
        joined.extend_from_slice(&frames[2].1);
        assert_eq!(joined, data);
        assert_eq!(frames[3].0, OpCode::Control(Control::Close));
        // After close nothing more is written.
        let before = sink.0.lock().len();
        w.write_all(b"late").unwrap();
        assert_eq!(sink.0.lock().len(), before);
    }

    #[cfg(feature = "ws_compression")]
    mod compressed {
        use super::*;
        use crate::transport::deflate::{Agreed, Deflater, Inflater};
        use flate2::{Compress, Compression, FlushCompress};

        fn agreed(server_no_context_takeover: bool) -> Agreed {
            Agreed {
                server_no_context_takeover,
                may_compress: true,
            }
        }

        fn compressed_reader(chunks: Vec<Vec<u8>>, agreed: Agreed, limit: u64) -> WsRead {
            let (mut r, _) = reader(chunks);
            r.inflater = Some(Box::new(Inflater::with_limit(agreed, limit)));
            r
        }

        /// What a server sends for `data`: deflated with sync flush, tail removed (with `ctx` kept
        /// from earlier messages unless `reset`).
        fn server_deflate(c: &mut Compress, data: &[u8], reset: bool) -> Vec<u8> {
            if reset {
                c.reset();
            }
            let mut out = Vec::with_capacity(data.len() + 1024);
            let start = c.total_in();
            loop {
                let done = (c.total_in() - start) as usize;
                c.compress_vec(&data[done..], &mut out, FlushCompress::Sync)
                    .unwrap();
                if (c.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
                    break;
                }
                out.reserve(out.capacity());
            }
            assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
            out.truncate(out.len() - 4);
            out
        }

        fn text(len: usize, seed: usize) -> Vec<u8> {
            (0..len)
                .map(|i| b"MSG a.b 1 5\r\nhello\r\n"[(i + seed) % 20])
                .collect()
        }

        /// A server stream with compressed messages of every interesting size, some fragmented
        /// (RSV1 on the first frame only, a Ping between fragments), some masked, plain messages
        /// between them; and the NATS bytes it carries.
        fn compressed_stream(reset: bool, sizes: &[usize]) -> (Vec<u8>, Vec<u8>) {
            let mut c = Compress::new(Compression::new(6), false);
            let (mut wire, mut nats) = (Vec::new(), Vec::new());
            let bin = OpCode::Data(Data::Binary);
            let cont = OpCode::Data(Data::Continue);
            for (i, &len) in sizes.iter().enumerate() {
                let data = text(len, i);
                let z = server_deflate(&mut c, &data, reset);
                match i % 4 {
                    // One frame.
                    0 => wire.extend(frame_rsv1(bin, true, true, &z, None)),
                    // Three fragments (the middle one may be empty), a Ping in between.
                    1 => {
                        let (a, rest) = z.split_at(z.len() / 3);
                        let (b, c2) = rest.split_at(rest.len() / 2);
                        wire.extend(frame_rsv1(bin, false, true, a, None));
                        wire.extend(frame(OpCode::Control(Control::Ping), true, b"p", None));
                        wire.extend(frame(cont, false, b, None));
                        wire.extend(frame(cont, true, c2, None));
                    }
                    // Masked by a confused server, in two fragments.
                    2 => {
                        let (a, b) = z.split_at(z.len() / 2);
                        wire.extend(frame_rsv1(bin, false, true, a, Some([9, 8, 7, 6])));
                        wire.extend(frame(cont, true, b, Some([1, 2, 3, 4])));
                    }
                    // The whole message in the first frame, an empty final fragment.
                    _ => {
                        wire.extend(frame_rsv1(bin, false, true, &z, None));
                        wire.extend(frame(cont, true, b"", None));
                    }
                }
                nats.extend_from_slice(&data);
                // A plain message after each compressed one.
                let plain = format!("PING {i}\r\n");
                wire.extend(frame(bin, true, plain.as_bytes(), None));
                nats.extend_from_slice(plain.as_bytes());
            }
            (wire, nats)
        }

        fn read_all_with(r: &mut WsRead, size: usize) -> io::Result<Vec<u8>> {
            let mut out = Vec::new();
            let mut buf = vec![0u8; size];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    return Ok(out);
                }
                out.extend_from_slice(&buf[..n]);
            }
        }

        #[test]
        fn compressed_messages_of_every_size_read_back() {
            let sizes = [
                1,
                2,
                63,
                64,
                125,
                126,
                127,
                4096,
                32767,
                32768,
                32769,
                65535,
                65536,
                65537,
                1 << 20,
            ];
            for reset in [true, false] {
                let (wire, nats) = compressed_stream(reset, &sizes);
                for size in [1 << 16, 7, 1 << 20] {
                    let mut r = compressed_reader(vec![wire.clone()], agreed(reset), 1 << 30);
                    let got = read_all_with(&mut r, size).unwrap();
                    assert!(got == nats, "reset {reset}, reads of {size}");
                }
                // In 1000-byte pieces from the network.
                let pieces = wire.chunks(1000).map(<[u8]>::to_vec).collect();
                let mut r = compressed_reader(pieces, agreed(reset), 1 << 30);
                assert!(
                    read_all_with(&mut r, 4096).unwrap() == nats,
                    "reset {reset}"
                );
            }
        }

        #[test]
        fn compressed_frames_split_at_every_point_give_the_same_bytes() {
            let (wire, nats) = compressed_stream(true, &[1, 126, 300, 70, 2, 500, 64, 9]);
            for cut in 1..wire.len() {
                let chunks = vec![wire[..cut].to_vec(), wire[cut..].to_vec()];
                let mut r = compressed_reader(chunks, agreed(true), 1 << 30);
                let got = read_all_with(&mut r, 5).unwrap();
                assert!(got == nats, "cut at {cut}");
            }
            let bytes = wire.iter().map(|b| vec![*b]).collect();
            let mut r = compressed_reader(bytes, agreed(true), 1 << 30);
            assert!(read_all_with(&mut r, 3).unwrap() == nats, "byte at a time");
        }

        #[test]
        fn bad_compressed_frames_are_errors_never_panics() {
            let bin = OpCode::Data(Data::Binary);
            let mut c = Compress::new(Compression::fast(), false);
            let good = server_deflate(&mut c, &text(5000, 0), true);
            let kind = |wire: Vec<u8>, limit: u64| {
                let mut r = compressed_reader(vec![wire], agreed(true), limit);
                Error::io("reading", read_all_with(&mut r, 4096).unwrap_err()).kind()
            };
            // Corrupt deflate data: a reserved block type.
            let corrupt = frame_rsv1(bin, true, true, &[0xff, 0xff, 0xff, 0xff], None);
            assert_eq!(kind(corrupt, 1 << 30), ErrorKind::Protocol);
            // A bomb: more than the limit once inflated.
            let zeros = server_deflate(&mut c, &vec![0u8; 4 << 20], true);
            assert_eq!(
                kind(frame_rsv1(bin, true, true, &zeros, None), 1 << 20),
                ErrorKind::Protocol
            );
            // RSV1 on a continuation frame, on a control frame, or without a message.
            let mut wire = frame_rsv1(bin, false, true, &good[..10], None);
            wire.extend(frame_rsv1(
                OpCode::Data(Data::Continue),
                true,
                true,
                &good[10..],
                None,
            ));
            assert_eq!(kind(wire, 1 << 30), ErrorKind::WebSocket);
            let ping = frame_rsv1(OpCode::Control(Control::Ping), true, true, b"", None);
            assert_eq!(kind(ping, 1 << 30), ErrorKind::WebSocket);
            let orphan = frame(OpCode::Data(Data::Continue), true, b"x", None);
            assert_eq!(kind(orphan, 1 << 30), ErrorKind::WebSocket);
            let mut twice = frame(bin, false, b"x", None);
            twice.extend(frame(bin, true, b"y", None));
            assert_eq!(kind(twice, 1 << 30), ErrorKind::WebSocket);
            // Every single-byte corruption of a compressed message: an error or some bytes, and
            // the reader ends (no panic, no endless loop).
            for i in 0..good.len().min(400) {
                let mut bad = good.clone();
                bad[i] ^= 0x5a;
                let mut r = compressed_reader(
                    vec![frame_rsv1(bin, true, true, &bad, None)],
                    agreed(true),
                    1 << 20,
                );
                let _ = read_all_with(&mut r, 1000);
            }
        }

        /// Writes PING, a big compressible write and noise through a compressing writer with the
        /// server's `max_payload` set to `max_payload`; returns, per frame, RSV1 and the inflated
        /// (or plain) payload.
        fn compressing_writer_frames(
            max_payload: usize,
            big: &[u8],
            noise: &[u8],
        ) -> Vec<(bool, Vec<u8>)> {
            let sink = Sink::default();
            let mut w = WsWrite {
                inner: Box::new(sink.clone()),
                frame: Vec::new(),
                outbox: Arc::new(Mutex::new(Vec::new())),
                closed: false,
                deflater: Some(Box::new(Deflater::new())),
                zbuf: Vec::new(),
                max_message: deflate::MAX_COMPRESSED_MESSAGE,
            };
            w.set_max_payload(max_payload);
            w.write_all(b"PING\r\n").unwrap();
            w.write_all(big).unwrap();
            w.write_all(noise).unwrap();
            let wire = sink.0.lock().clone();
            // Decode as a server would: RSV1 frames inflate on their own (no context).
            let mut rest = &wire[..];
            let mut frames = Vec::new();
            while !rest.is_empty() {
                let mut cur = Cursor::new(rest);
                let (hdr, len) = FrameHeader::parse(&mut cur).unwrap().unwrap();
                assert!(hdr.is_final);
                let start = cur.position() as usize;
                let mut p = rest[start..start + len as usize].to_vec();
                apply_mask(&mut p, hdr.mask.unwrap(), 0);
                if hdr.rsv1 {
                    let mut inf = Inflater::new(agreed(true));
                    let mut buf = vec![0u8; 2 * MAX_FRAME];
                    let (_, w1) = inf.inflate(&p, &mut buf).unwrap();
                    let (_, w2) = inf.inflate(&deflate::TAIL, &mut buf[w1..]).unwrap();
                    p = buf[..w1 + w2].to_vec();
                }
                frames.push((hdr.rsv1, p));
                rest = &rest[start + len as usize..];
            }
            frames
        }

        #[test]
        fn writer_compresses_what_is_worth_it_within_the_servers_limit() {
            let big = text(MAX_FRAME + 4321, 3);
            let noise: Vec<u8> = (0..5000).map(|_| rand::random::<u8>()).collect();
            let mut want = b"PING\r\n".to_vec();
            want.extend_from_slice(&big);
            want.extend_from_slice(&noise);
            // max_payload: unknown (0), the server default, above the cap, and small.
            for (max_payload, per_message) in [
                (0, deflate::MAX_COMPRESSED_MESSAGE),
                (1 << 20, deflate::MAX_COMPRESSED_MESSAGE),
                (8 << 20, deflate::MAX_COMPRESSED_MESSAGE),
                (2048, 2048),
            ] {
                let frames = compressing_writer_frames(max_payload, &big, &noise);
                let wire: usize = frames.iter().filter(|f| f.0).map(|f| f.1.len()).sum();
                assert!(wire > 0);
                // PING plain, the big write compressed in messages of at most `per_message`
                // bytes inflated, the noise plain (in as many pieces).
                assert!(!frames[0].0 && frames[0].1 == b"PING\r\n");
                let big_frames = big.len().div_ceil(per_message);
                assert!(frames[1..=big_frames]
                    .iter()
                    .all(|f| f.0 && f.1.len() <= per_message));
                assert!(frames[big_frames + 1..].iter().all(|f| !f.0));
                let got: Vec<u8> = frames.into_iter().flat_map(|f| f.1).collect();
                assert!(got == want, "max_payload {max_payload}");
            }
        }
    }
}
