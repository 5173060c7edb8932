//! One connection attempt: transport, then INFO → CONNECT → PING → PONG, all inside one
//! deadline. Runs on the caller's thread before the reader and writer start.

use crate::callback::contain;
use crate::connection::readbuf::{self, trace_in, ReadBuf};
use crate::connection::server_error;
use crate::connection::shared::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{encode, ConnectInfo, Parsed, ServerInfo, ServerOp};
use crate::transport::{self, Connected, Kick, Setup, TlsSetup, WsSetup};
use crate::url::ServerUrl;

/// A connected, handshaken transport, and the bytes read past the PONG.
pub(crate) struct Established {
    pub(crate) conn: Connected,
    pub(crate) rest: ReadBuf,
}

pub(crate) fn establish(
    shared: &Shared,
    url: &ServerUrl,
    tls: &TlsSetup,
    kick: Kick,
) -> Result<Established> {
    let opts = &shared.opts;
    let deadline = crate::time::deadline_after(opts.connect_timeout);
    let ws = ws_setup(shared, url)?;
    let setup = Setup {
        tls,
        require_tls: opts.require_tls,
        tls_first: opts.tls_first,
        ws: &ws,
        proxy: transport::proxy_for(opts, url)?,
        deadline,
    };
    let conn = transport::connect(url, &setup, kick.clone())?;
    let socket = conn
        .socket
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    let r = run(shared, url, conn, &setup, kick);
    if r.is_err() {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    r
}

/// The upgrade request's extra headers for this attempt: the static ones, the Origin, then the
/// callback's (evaluated now, so they can be fresh at every attempt).
fn ws_setup(shared: &Shared, url: &ServerUrl) -> Result<WsSetup> {
    let opts = &shared.opts;
    let mut headers = Vec::new();
    if !url.scheme.is_websocket() {
        return Ok(WsSetup::default());
    }
    headers.extend(opts.ws_headers.iter().cloned());
    if let Some(origin) = &opts.ws_origin {
        headers.push(("Origin".to_string(), origin.clone()));
    }
    if let Some(cb) = &opts.ws_headers_callback {
        let extra = contain("WebSocket headers", || {
            cb().map_err(|e| {
                Error::new(
                    ErrorKind::WebSocket,
                    format!("the WebSocket headers callback failed: {e}"),
                )
            })
        })?;
        headers.extend(extra);
    }
    Ok(WsSetup {
        headers,
        compression: opts.ws_compression,
    })
}

fn run(
    shared: &Shared,
    url: &ServerUrl,
    mut conn: Connected,
    setup: &Setup<'_>,
    kick: Kick,
) -> Result<Established> {
    let deadline = setup.deadline;
    transport::set_deadline(&conn.socket, Some(deadline))?;
    let mut rb = ReadBuf::new(Vec::new());
    // Before INFO we know nothing of the server: an INFO (a big cluster's connect_urls) may be
    // long, but not longer than 1 MiB.
    let first = crate::proto::Limits {
        max_control_line: shared.opts.max_control_line,
        max_payload: 1024 * 1024,
    };

    // INFO
    let info = loop {
        match crate::proto::parse(rb.data(), &first)? {
            Parsed::Op(ServerOp::Info(json), n) => {
                trace_in(&rb.data()[..n]);
                let info = ServerInfo::parse(json)?;
                rb.consume(n);
                break info;
            }
            Parsed::Op(ServerOp::Err(text), _) => return Err(server_error::classify(text)),
            Parsed::Op(_, _) => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!("{url} did not start with INFO"),
                ))
            }
            Parsed::Incomplete { need } => fill(&mut conn, &mut rb, need, "waiting for INFO")?,
        }
    };
    shared.update_info(info.clone());
    conn.writer.set_max_payload(info.max_payload);

    // TLS after INFO, on nats:// and tls:// (the server said nothing more: nothing is lost).
    if conn.may_upgrade {
        let wanted = url.scheme.is_tls() || setup.require_tls;
        if wanted && !info.tls_required && !info.tls_available {
            return Err(Error::new(
                ErrorKind::Tls,
                format!("TLS is required but the server at {url} does not offer it"),
            ));
        }
        if wanted || info.tls_required {
            if !rb.data().is_empty() {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "the server sent more than INFO before the TLS handshake",
                ));
            }
            conn = transport::start_tls(conn, url, setup, kick)?;
        }
    }

    // CONNECT + PING
    let connect = connect_info(shared, url, &info, conn.tls)?;
    log::trace!("->> CONNECT {connect:?}");
    log::trace!("->> PING");
    let mut out = Vec::with_capacity(256);
    encode::connect(&mut out, &connect);
    out.extend_from_slice(encode::PING);
    conn.writer
        .write_all(&out)
        .map_err(|e| Error::io(format!("sending CONNECT to {url}"), e))?;

    // PONG (answering PINGs, taking INFO updates, failing on -ERR)
    let limits = readbuf::limits(shared);
    loop {
        match crate::proto::parse(rb.data(), &limits)? {
            Parsed::Op(op, n) => {
                trace_in(&rb.data()[..n]);
                match op {
                    ServerOp::Pong => {
                        rb.consume(n);
                        break;
                    }
                    ServerOp::Ping => {
                        log::trace!("->> PONG");
                        conn.writer
                            .write_all(encode::PONG)
                            .map_err(|e| Error::io("answering PING", e))?
                    }
                    ServerOp::Info(json) => shared.update_info(ServerInfo::parse(json)?),
                    ServerOp::Ok => {}
                    ServerOp::Err(text) => return Err(server_error::classify(text)),
                    ServerOp::Msg { .. } | ServerOp::HMsg { .. } => {
                        return Err(Error::new(
                            ErrorKind::Protocol,
                            "a message arrived before the handshake finished",
                        ))
                    }
                }
                rb.consume(n);
            }
            Parsed::Incomplete { need } => fill(&mut conn, &mut rb, need, "waiting for PONG")?,
        }
    }
    transport::set_serving(&conn.socket)?;
    Ok(Established { conn, rest: rb })
}

fn fill(conn: &mut Connected, rb: &mut ReadBuf, need: usize, what: &str) -> Result<()> {
    // Send anything the transport queued (a WebSocket pong) before blocking.
    conn.writer
        .write_all(&[])
        .map_err(|e| Error::io(what.to_string(), e))?;
    let n = rb
        .fill(&mut *conn.reader, need)
        .map_err(|e| Error::io(what.to_string(), e))?;
    if n == 0 {
        return Err(Error::new(
            ErrorKind::Io,
            format!("the server closed the connection while {what}"),
        ));
    }
    Ok(())
}

fn connect_info(
    shared: &Shared,
    url: &ServerUrl,
    info: &ServerInfo,
    tls: bool,
) -> Result<ConnectInfo> {
    let opts = &shared.opts;
    let mut ci = ConnectInfo {
        verbose: false,
        pedantic: opts.pedantic,
        lang: "rust-natsws".to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        protocol: 1,
        echo: !opts.no_echo,
        headers: true,
        no_responders: true,
        name: opts.name.clone(),
        tls_required: tls,
        ..ConnectInfo::default()
    };
    if opts.no_echo && info.proto < 1 {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            "no_echo needs a server with protocol 1 or later",
        ));
    }
    // Credentials in the URL win over the options (as in nats.go).
    match (&url.user, &url.pass) {
        (Some(u), Some(p)) => {
            ci.user = Some(u.clone());
            ci.pass = Some(p.clone());
        }
        (Some(token), None) => ci.auth_token = Some(token.clone()),
        _ => {
            ci.user = opts.user.clone();
            ci.pass = opts.pass.clone();
            ci.auth_token = opts.token.clone();
        }
    }
    // NKey / JWT: obtained again at every attempt (callbacks called, creds file re-read).
    let proof = contain("credentials", || {
        opts.prove_auth(info.nonce.as_deref(), &url.to_string())
    })?;
    ci.jwt = proof.jwt;
    ci.nkey = proof.nkey;
    ci.sig = proof.sig;
    Ok(ci)
}
