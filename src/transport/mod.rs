//! Transports: one small seam between the connection and the bytes on the wire.
//!
//! Connecting yields a [`ReadHalf`] for the reader thread and a [`WriteHalf`] for the writer
//! thread; both carry NATS protocol bytes, whatever is underneath (TCP, TLS, WebSocket frames).
//! No lock is ever held across a blocking socket read: TLS keeps its session state behind a lock
//! taken only to encrypt or decrypt bytes already in memory, and WebSocket control replies
//! (pongs, the close reply) are queued by the reader and written by the writer.

mod deflate;
mod proxy;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
mod tls;
mod ws;

use std::io;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::options::Options;
use crate::url::{Scheme, ServerUrl};

pub(crate) use deflate::{start as ws_compression, Start as WsCompression};
pub(crate) use proxy::Proxy;
pub(crate) use tcp::{set_deadline, set_serving};
#[cfg(not(feature = "tls"))]
pub(crate) use tls::MISSING as TLS_MISSING;
pub(crate) use tls::{with_pem as tls_with_pem, TlsSetup, WithPem as TlsWithPem};
pub(crate) use ws::check_extra_header;

/// The proxy code: parsing, the environment's rules, the CONNECT tunnel. Reached only through
/// [`PROXY`], which [`Options::proxy`] and [`Options::proxy_from_env`] store, so a program that
/// calls neither links none of it.
pub(crate) struct ProxyCode {
    check: fn(&Options) -> Result<()>,
    for_url: fn(&Options, &ServerUrl) -> Result<Option<Proxy>>,
    open: fn(&Proxy, &ServerUrl, Instant) -> Result<TcpStream>,
}

pub(crate) static PROXY: ProxyCode = ProxyCode {
    check: check_proxy_settings,
    for_url: proxy_for_url,
    open: proxy::connect,
};

/// A proxy to tunnel through, and what opens the tunnel.
pub(crate) struct Tunnel {
    proxy: Proxy,
    open: fn(&Proxy, &ServerUrl, Instant) -> Result<TcpStream>,
}

/// Checks the proxy settings at `connect`: the URL of [`Options::proxy`] (an InvalidOption error
/// saying "bad proxy URL '…'", credentials redacted), else the environment's proxy variables
/// when the options take the proxy from there.
pub(crate) fn check_proxy(opts: &Options) -> Result<()> {
    if let Some(code) = opts.proxy_code {
        (code.check)(opts)?;
    }
    Ok(())
}

fn check_proxy_settings(opts: &Options) -> Result<()> {
    if let Some(proxy) = &opts.proxy {
        Proxy::parse(proxy)?;
    }
    if opts.proxy.is_none() && opts.proxy_from_env {
        proxy::check_env_vars(|name| std::env::var(name).ok())?;
    }
    Ok(())
}

/// The HTTP proxy to reach `url` through, if any: [`Options::proxy`], else the environment's
/// when [`Options::proxy_from_env`] is on.
pub(crate) fn proxy_for(opts: &Options, url: &ServerUrl) -> Result<Option<Tunnel>> {
    let Some(code) = opts.proxy_code else {
        return Ok(None);
    };
    Ok((code.for_url)(opts, url)?.map(|proxy| Tunnel {
        proxy,
        open: code.open,
    }))
}

fn proxy_for_url(opts: &Options, url: &ServerUrl) -> Result<Option<Proxy>> {
    proxy::for_url(
        opts.proxy.as_ref().map(|p| p.as_str()),
        opts.proxy_from_env,
        url,
    )
}

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

    /// From now on, until set again: bytes the socket has not taken by `deadline` are kept by
    /// the transport, count as written, and go out first at the next write (see
    /// `tcp::SocketWriter`). `None`: writes block until done (the writer thread).
    fn set_write_deadline(&mut self, _deadline: Option<Instant>) {}

    /// Bytes a write with a deadline left behind wait to be sent (by a `write_all(&[])`).
    fn has_pending(&self) -> bool {
        false
    }

    /// The server's `max_payload` (from its INFO, 0 when unknown). nats-server refuses a
    /// compressed WebSocket message that inflates past it, so a compressing WebSocket writer
    /// keeps each compressed message within it; other transports ignore it.
    fn set_max_payload(&mut self, _bytes: usize) {}

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
    /// Offer permessage-deflate (RFC 7692), and what reads the answer and builds the codecs
    /// (`Options::ws_compression`).
    pub(crate) compression: Option<WsCompression>,
}

/// Everything the transport layer needs for one attempt.
pub(crate) struct Setup<'a> {
    pub(crate) tls: &'a TlsSetup,
    /// TLS even on a `nats://` URL (the option `require_tls`).
    pub(crate) require_tls: bool,
    /// TLS handshake before the server's INFO (server `handshake_first`).
    pub(crate) tls_first: bool,
    pub(crate) ws: &'a WsSetup,
    /// An HTTP CONNECT proxy to tunnel through.
    pub(crate) proxy: Option<Tunnel>,
    pub(crate) deadline: Instant,
}

/// A connected transport, ready for the NATS handshake.
pub(crate) struct Connected {
    pub(crate) reader: Box<dyn ReadHalf>,
    pub(crate) writer: Box<dyn WriteHalf>,
    /// Kept to shut the socket down from any thread, which unblocks the reader and writer.
    pub(crate) socket: TcpStream,
    /// TLS is running (or runs under the WebSocket).
    pub(crate) tls: bool,
    /// Plain TCP to a `nats://` or `tls://` URL: the server speaks first, in the clear, and its
    /// INFO decides whether [`start_tls`] follows (the handshake reads it).
    pub(crate) may_upgrade: bool,
}

/// Opens a transport to `url` within `setup.deadline`: TCP (or a tunnel through the HTTP
/// proxy), then TLS first if asked (`tls_first`), or TLS and the WebSocket upgrade for
/// `ws://`/`wss://`. Reading INFO is the handshake's job.
pub(crate) fn connect(url: &ServerUrl, setup: &Setup<'_>, kick: Kick) -> Result<Connected> {
    let sock = match &setup.proxy {
        Some(t) => (t.open)(&t.proxy, url, setup.deadline)?,
        None => tcp::connect(url, setup.deadline)?,
    };
    let shutdown_handle = sock
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    // Every blocking step of the attempt (TLS, the WebSocket upgrade, INFO) shares one deadline.
    tcp::set_deadline(&shutdown_handle, Some(setup.deadline))?;
    match url.scheme {
        Scheme::Ws | Scheme::Wss => {
            let (reader, writer, tls): (Box<dyn ReadHalf>, Box<dyn WriteHalf>, bool) =
                if url.scheme == Scheme::Wss || setup.require_tls {
                    let (r, w) = tls::client(sock, url, setup.tls, setup.deadline, kick.clone())?;
                    (r, w, true)
                } else {
                    let (r, w) = tcp::split(sock)?;
                    (Box::new(r), Box::new(w), false)
                };
            let (reader, writer) = ws::upgrade(reader, writer, url, setup, kick)?;
            Ok(Connected {
                reader: Box::new(reader),
                writer: Box::new(writer),
                socket: shutdown_handle,
                tls,
                may_upgrade: false,
            })
        }
        Scheme::Nats | Scheme::Tls if setup.tls_first => {
            let (reader, writer) = tls::client(sock, url, setup.tls, setup.deadline, kick)?;
            Ok(Connected {
                reader,
                writer,
                socket: shutdown_handle,
                tls: true,
                may_upgrade: false,
            })
        }
        Scheme::Nats | Scheme::Tls => {
            let (r, w) = tcp::split(sock)?;
            Ok(Connected {
                reader: Box::new(r),
                writer: Box::new(w),
                socket: shutdown_handle,
                tls: false,
                may_upgrade: true,
            })
        }
    }
}

/// Upgrades a plain `nats://`/`tls://` connection to TLS, after the server's INFO (which the
/// server sends in the clear, and nothing more until we speak).
pub(crate) fn start_tls(
    conn: Connected,
    url: &ServerUrl,
    setup: &Setup<'_>,
    kick: Kick,
) -> Result<Connected> {
    let Connected { socket, .. } = conn;
    let sock = socket
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    let (reader, writer) = tls::client(sock, url, setup.tls, setup.deadline, kick)?;
    Ok(Connected {
        reader,
        writer,
        socket,
        tls: true,
        may_upgrade: false,
    })
}
