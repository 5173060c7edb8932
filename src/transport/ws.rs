//! WebSocket (RFC 6455) over a TCP or TLS byte stream.
//!
//! tungstenite writes the upgrade request, derives the accept key, and encodes and decodes frame
//! headers; this file runs them over our own halves. The 101 response head is parsed byte-exactly
//! so the INFO frame nats-server sends right behind it is kept. NATS bytes travel in masked binary
//! frames; one NATS operation may span frames and one frame may hold many operations, so the
//! reader simply concatenates payloads. A server Ping is answered by queueing a Pong for the
//! writer; a Close frame ends the stream with its code and reason kept in the error.

use std::io::{self, Cursor};
use std::sync::Arc;

use parking_lot::Mutex;
use tungstenite::handshake::client::{generate_key, generate_request};
use tungstenite::handshake::derive_accept_key;
use tungstenite::http;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::{Kick, ReadHalf, Setup, WriteHalf};
use crate::error::{Error, ErrorKind, Result};
use crate::url::ServerUrl;

/// Largest frame we write; bigger writes become several frames.
const MAX_FRAME: usize = 1024 * 1024;
/// Largest upgrade response head we accept.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// Frames queued by the reader for the writer (pongs, the close reply), already encoded.
type Outbox = Arc<Mutex<Vec<u8>>>;

pub(crate) struct WsRead {
    inner: Box<dyn ReadHalf>,
    raw: Vec<u8>,
    pos: usize,
    /// Payload bytes left in the current frame.
    left: u64,
    /// The current frame: a data frame (its mask and how far into it we are) or a control frame.
    frame: Current,
    control: Vec<u8>,
    outbox: Outbox,
    kick: Kick,
    closed: Option<Error>,
}

enum Current {
    None,
    Data {
        mask: Option<[u8; 4]>,
        offset: usize,
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
}

/// Performs the HTTP upgrade over `reader`/`writer` and wraps them in WebSocket framing.
pub(crate) fn upgrade(
    mut reader: Box<dyn ReadHalf>,
    mut writer: Box<dyn WriteHalf>,
    url: &ServerUrl,
    setup: &Setup<'_>,
    kick: Kick,
) -> Result<(WsRead, WsWrite)> {
    let host = url.host_port();
    let uri = format!(
        "{}://{}{}",
        if url.scheme.is_tls() { "wss" } else { "ws" },
        host,
        url.path
    );
    let mut req = http::Request::builder()
        .method("GET")
        .uri(&uri)
        .header("Host", &host)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", generate_key());
    for (k, v) in &setup.ws.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req.body(()).map_err(|e| {
        Error::new(ErrorKind::InvalidOption, "bad WebSocket upgrade request").with_source(e)
    })?;
    let (bytes, key) = generate_request(req).map_err(|e| {
        Error::new(ErrorKind::WebSocket, "building the upgrade request").with_source(e)
    })?;
    writer
        .write_all(&bytes)
        .map_err(|e| Error::io(format!("sending the WebSocket upgrade to {url}"), e))?;

    // Read the response head; keep whatever follows it.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let head_len = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                check_response(&resp, &key, url)?;
                break n;
            }
            Ok(httparse::Status::Partial) => {}
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::WebSocket,
                    format!("{url} answered the upgrade with something that is not HTTP"),
                )
                .with_source(e))
            }
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(Error::new(
                ErrorKind::WebSocket,
                "the upgrade response head is too long",
            ));
        }
        let n = reader
            .read(&mut chunk)
            .map_err(|e| Error::io(format!("reading the WebSocket upgrade reply from {url}"), e))?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::WebSocket,
                format!("{url} closed the connection during the WebSocket upgrade"),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    buf.drain(..head_len);
    let outbox: Outbox = Arc::new(Mutex::new(Vec::new()));
    Ok((
        WsRead {
            inner: reader,
            raw: buf,
            pos: 0,
            left: 0,
            frame: Current::None,
            control: Vec::new(),
            outbox: outbox.clone(),
            kick,
            closed: None,
        },
        WsWrite {
            inner: writer,
            frame: Vec::new(),
            outbox,
            closed: false,
        },
    ))
}

fn check_response(resp: &httparse::Response<'_, '_>, key: &str, url: &ServerUrl) -> Result<()> {
    let code = resp.code.unwrap_or(0);
    if code != 101 {
        return Err(Error::new(
            ErrorKind::WebSocket,
            format!(
                "{url} refused the WebSocket upgrade: HTTP {code} {}",
                resp.reason.unwrap_or("")
            ),
        ));
    }
    let header = |name: &str| {
        resp.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
    };
    let upgrade_ok = header("Upgrade")
        .map(|v| v.eq_ignore_ascii_case("websocket"))
        .unwrap_or(false);
    let connection_ok = header("Connection")
        .map(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        })
        .unwrap_or(false);
    if !upgrade_ok || !connection_ok {
        return Err(Error::new(
            ErrorKind::WebSocket,
            "the 101 response lacks 'Upgrade: websocket' or 'Connection: upgrade'",
        ));
    }
    let want = derive_accept_key(key.as_bytes());
    if header("Sec-WebSocket-Accept").as_deref() != Some(want.as_str()) {
        return Err(Error::new(
            ErrorKind::WebSocket,
            "the server's Sec-WebSocket-Accept does not match our key",
        ));
    }
    Ok(())
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

impl WsRead {
    /// Ensures at least one more raw byte is buffered; `false` on end of stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.pos > 0 && self.pos == self.raw.len() {
            self.raw.clear();
            self.pos = 0;
        } else if self.pos > 64 * 1024 {
            self.raw.drain(..self.pos);
            self.pos = 0;
        }
        let old = self.raw.len();
        if self.raw.capacity() - old < 16 * 1024 {
            self.raw.reserve(64 * 1024);
        }
        self.raw.resize(self.raw.capacity(), 0);
        let n = match self.inner.read(&mut self.raw[old..]) {
            Ok(n) => n,
            Err(e) => {
                self.raw.truncate(old);
                return Err(e);
            }
        };
        self.raw.truncate(old + n);
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
        loop {
            let avail = self.raw.len() - self.pos;
            match self.frame {
                Current::Data { mask, offset } if self.left > 0 => {
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
                    let mut cur = Cursor::new(&self.raw[self.pos..]);
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
                    if hdr.rsv1 || hdr.rsv2 || hdr.rsv3 {
                        return Err(protocol(
                            "the server set reserved frame bits (compression was not negotiated)",
                        ));
                    }
                    self.left = len;
                    match hdr.opcode {
                        OpCode::Data(Data::Binary | Data::Text | Data::Continue) => {
                            self.frame = Current::Data {
                                mask: hdr.mask,
                                offset: 0,
                            };
                        }
                        OpCode::Data(Data::Reserved(_)) => {
                            return Err(protocol("reserved data opcode"))
                        }
                        OpCode::Control(op) => {
                            if len > 125 || !hdr.is_final {
                                return Err(protocol("control frame too long or fragmented"));
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
    let mask: [u8; 4] = rand::random();
    let hdr = FrameHeader {
        is_final: true,
        rsv1: false,
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
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.send_outbox()?;
        if data.is_empty() || self.closed {
            return self.inner.write_all(&[]);
        }
        for chunk in data.chunks(MAX_FRAME) {
            self.frame.clear();
            write_frame(&mut self.frame, OpCode::Data(Data::Binary), chunk);
            self.inner.write_all(&self.frame)?;
        }
        Ok(())
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
}
