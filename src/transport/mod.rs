//! Transports: one small seam between the connection and the bytes on the wire.
//!
//! Connecting yields a [`ReadHalf`] for the reader thread and a [`WriteHalf`] for the writer
//! thread; both carry NATS protocol bytes, whatever is underneath (TCP, TLS, WebSocket frames).
//! No lock is ever held across a blocking socket read: TLS keeps its session state behind a lock
//! taken only to encrypt or decrypt bytes already in memory, and WebSocket control replies
//! (pongs, the close reply) are queued by the reader and written by the writer.

mod tcp;
mod tls;
mod ws;

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, Parsed, ServerInfo, ServerOp};
use crate::url::{Scheme, ServerUrl};

pub(crate) use tcp::set_deadline;
pub(crate) use tls::TlsSetup;

/// The reading side: yields protocol bytes. `Ok(0)` means the peer closed the stream.
pub(crate) trait ReadHalf: Send {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// The writing side: takes protocol bytes. `write_all(&[])` sends only what the transport itself
/// has queued (a WebSocket pong, TLS records), so the writer calls it when kicked with no data.
pub(crate) trait WriteHalf: Send {
    /// Writes all of `data`. On error, `*sent` says how many leading bytes of `data` were
    /// handed to the operating system in full; the rest never left this process.
    fn write_tracked(&mut self, data: &[u8], sent: &mut usize) -> io::Result<()>;

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let mut sent = 0;
        self.write_tracked(data, &mut sent)
    }

    /// Says goodbye where the transport has a way to (a WebSocket close frame, a TLS
    /// close_notify); errors are ignored, the socket is shut down afterwards anyway.
    fn close(&mut self);
}

/// Wakes the writer thread so it sends what the reader queued. Called from the reader.
pub(crate) type Kick = Arc<dyn Fn() + Send + Sync>;

/// What the WebSocket upgrade request carries besides the basics.
#[derive(Clone, Default)]
pub(crate) struct WsSetup {
    pub(crate) headers: Vec<(String, String)>,
}

/// Everything the transport layer needs for one attempt.
pub(crate) struct Setup<'a> {
    pub(crate) tls: &'a TlsSetup,
    /// TLS even on a `nats://` URL (the option `require_tls`).
    pub(crate) require_tls: bool,
    /// TLS handshake before the server's INFO (server `handshake_first`).
    pub(crate) tls_first: bool,
    pub(crate) ws: &'a WsSetup,
    pub(crate) max_control_line: usize,
    pub(crate) deadline: Instant,
}

/// A connected transport, ready for the NATS handshake.
pub(crate) struct Connected {
    pub(crate) reader: Box<dyn ReadHalf>,
    pub(crate) writer: Box<dyn WriteHalf>,
    /// Kept to shut the socket down from any thread, which unblocks the reader and writer.
    pub(crate) socket: TcpStream,
    /// Protocol bytes already read (the INFO line read in the clear before a TLS upgrade); the
    /// parser must see them first.
    pub(crate) prefix: Vec<u8>,
    pub(crate) tls: bool,
}

impl Connected {
    pub(crate) fn shutdown(&self) {
        let _ = self.socket.shutdown(Shutdown::Both);
    }
}

/// Opens a transport to `url` within `setup.deadline`.
pub(crate) fn connect(url: &ServerUrl, setup: &Setup<'_>, kick: Kick) -> Result<Connected> {
    let sock = tcp::connect(url, setup.deadline)?;
    let shutdown_handle = sock
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    let tls_wanted = url.scheme.is_tls() || setup.require_tls;
    // Every blocking step of the attempt (TLS, the WebSocket upgrade, INFO) shares one deadline.
    tcp::set_deadline(&shutdown_handle, Some(setup.deadline))?;
    match url.scheme {
        Scheme::Ws | Scheme::Wss => {
            let (reader, writer, tls): (Box<dyn ReadHalf>, Box<dyn WriteHalf>, bool) =
                if url.scheme == Scheme::Wss || setup.require_tls {
                    let session = tls::handshake(&sock, url, setup.tls, setup.deadline)?;
                    let (r, w) = tls::split(sock, session, kick.clone())?;
                    (Box::new(r), Box::new(w), true)
                } else {
                    let (r, w) = tcp::split(sock)?;
                    (Box::new(r), Box::new(w), false)
                };
            let (reader, writer) = ws::upgrade(reader, writer, url, setup, kick)?;
            Ok(Connected {
                reader: Box::new(reader),
                writer: Box::new(writer),
                socket: shutdown_handle,
                prefix: Vec::new(),
                tls,
            })
        }
        Scheme::Nats | Scheme::Tls => {
            if setup.tls_first {
                let session = tls::handshake(&sock, url, setup.tls, setup.deadline)?;
                let (r, w) = tls::split(sock, session, kick)?;
                return Ok(Connected {
                    reader: Box::new(r),
                    writer: Box::new(w),
                    socket: shutdown_handle,
                    prefix: Vec::new(),
                    tls: true,
                });
            }
            // The server speaks first, in the clear: INFO says whether it wants TLS.
            let (mut r, w) = tcp::split(sock)?;
            let (prefix, info) = read_info_line(&mut r, setup.max_control_line)?;
            if info.tls_required || tls_wanted {
                if tls_wanted && !info.tls_required && !info.tls_available {
                    return Err(Error::new(
                        ErrorKind::Tls,
                        format!("TLS is required but the server at {url} does not offer it"),
                    ));
                }
                let sock = r.into_inner();
                drop(w);
                let session = tls::handshake(&sock, url, setup.tls, setup.deadline)?;
                let (r, w) = tls::split(sock, session, kick)?;
                Ok(Connected {
                    reader: Box::new(r),
                    writer: Box::new(w),
                    socket: shutdown_handle,
                    prefix,
                    tls: true,
                })
            } else {
                Ok(Connected {
                    reader: Box::new(r),
                    writer: Box::new(w),
                    socket: shutdown_handle,
                    prefix,
                    tls: false,
                })
            }
        }
    }
}

/// Reads exactly the first protocol line (the server sends nothing more until we speak) and
/// parses it as INFO.
fn read_info_line(r: &mut tcp::TcpRead, max_line: usize) -> Result<(Vec<u8>, ServerInfo)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    // INFO may be longer than other control lines (a big cluster's connect_urls); the parser
    // allows it up to max_payload.
    let limits = proto::Limits {
        max_control_line: max_line,
        max_payload: 1024 * 1024,
    };
    loop {
        match proto::parse(&buf, &limits)? {
            Parsed::Op(ServerOp::Info(json), _) => {
                let info = ServerInfo::parse(json)?;
                return Ok((buf, info));
            }
            Parsed::Op(ServerOp::Err(text), _) => {
                return Err(crate::connection::server_error(text));
            }
            Parsed::Op(_, _) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "the server's first message was not INFO",
                ))
            }
            Parsed::Incomplete { .. } => {}
        }
        let n = r
            .read(&mut chunk)
            .map_err(|e| Error::io("reading the server's INFO", e))?;
        if n == 0 {
            return Err(Error::new(
                ErrorKind::Io,
                "the server closed the connection before sending INFO",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}
