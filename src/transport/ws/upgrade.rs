//! The WebSocket opening handshake (RFC 6455 section 4) on a byte stream: the HTTP/1.1
//! upgrade request is written here (a few lines of text, with the extra headers checked), and
//! the 101 response head is read byte-exactly (httparse), so that the bytes behind it, the INFO
//! frame nats-server sends right after the 101 and often in the same read, are kept.

use data_encoding::BASE64;

use crate::error::{Error, ErrorKind, Result};
use crate::transport::deflate::{self, Codecs};
use crate::transport::{ReadHalf, Setup, WriteHalf, WsSetup};
use crate::url::ServerUrl;

/// Largest upgrade response head we accept.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// What the handshake leaves for the framing.
pub(super) struct Upgraded {
    /// The bytes read after the response head (the first frames).
    pub(super) rest: Vec<u8>,
    /// The compression codecs, when the server agreed to compression.
    pub(super) codecs: Option<Codecs>,
}

/// Sends the upgrade request and reads the server's answer up to the end of its head.
pub(super) fn handshake(
    reader: &mut dyn ReadHalf,
    writer: &mut dyn WriteHalf,
    url: &ServerUrl,
    setup: &Setup<'_>,
) -> Result<Upgraded> {
    let (bytes, key) = upgrade_request(url, setup.ws)?;
    writer
        .write_all(&bytes)
        .map_err(|e| Error::io(format!("sending the WebSocket upgrade to {url}"), e))?;

    // Read the response head; keep whatever follows it.
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    let (head_len, codecs) = loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(n)) => {
                check_response(&resp, &key, url)?;
                let extensions: Vec<String> = resp
                    .headers
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Extensions"))
                    .map(|h| String::from_utf8_lossy(h.value).into_owned())
                    .collect();
                let codecs = match setup.ws.compression {
                    Some(start) => start(&extensions)?,
                    None => {
                        deflate::refuse(extensions.iter().map(String::as_str))?;
                        None
                    }
                };
                break (n, codecs);
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
    Ok(Upgraded { rest: buf, codecs })
}

/// Headers of the upgrade request that natsws writes itself; an extra header may not repeat them.
const OWN_HEADERS: [&str; 5] = [
    "Host",
    "Connection",
    "Upgrade",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Key",
];

/// The HTTP/1.1 upgrade request (RFC 6455 section 4.1) and its `Sec-WebSocket-Key`. Extra
/// headers are checked here, the last moment they can be (the callback's are fresh): a name must
/// be an HTTP token, a value may hold no control character but tab.
fn upgrade_request(url: &ServerUrl, ws: &WsSetup) -> Result<(Vec<u8>, String)> {
    let key = BASE64.encode(&rand::random::<[u8; 16]>());
    let mut req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n",
        url.path,
        url.host_port(),
    );
    if ws.compression.is_some() {
        req.push_str("Sec-WebSocket-Extensions: ");
        req.push_str(deflate::OFFER);
        req.push_str("\r\n");
    }
    for (name, value) in &ws.headers {
        check_extra_header(name, value).map_err(|why| {
            Error::new(
                ErrorKind::InvalidOption,
                format!("bad WebSocket upgrade header: {why}"),
            )
        })?;
        req.push_str(name);
        req.push_str(": ");
        req.push_str(value);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    Ok((req.into_bytes(), key))
}

/// Why an extra header of the upgrade request cannot be sent, if it cannot: the name must be an
/// HTTP token and not one natsws writes itself, the value must hold no control character but tab
/// (what the `http` crate accepts).
pub(crate) fn check_extra_header(name: &str, value: &str) -> std::result::Result<(), String> {
    if !is_header_name(name) {
        return Err(format!("'{name}' is not a header name"));
    }
    if OWN_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Err(format!("natsws sets '{name}' itself"));
    }
    if !is_header_value(value) {
        return Err(format!("the value of '{name}' has a control character"));
    }
    Ok(())
}

/// An HTTP token (RFC 9110 section 5.6.2): visible ASCII but the separators.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// A header value without control characters (tab allowed).
fn is_header_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// `Sec-WebSocket-Accept` for `key`: base64 of SHA-1(key + the RFC 6455 GUID).
fn accept_key(key: &str) -> String {
    let mut sha1 = sha1_smol::Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    BASE64.encode(&sha1.digest().bytes())
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
    let want = accept_key(key);
    if header("Sec-WebSocket-Accept").as_deref() != Some(want.as_str()) {
        return Err(Error::new(
            ErrorKind::WebSocket,
            "the server's Sec-WebSocket-Accept does not match our key",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_is_rfc_6455s() {
        // The example of RFC 6455 section 1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn upgrade_request_is_http_1_1_with_a_fresh_key_and_checked_headers() {
        let url = ServerUrl::parse("wss://[::1]:8443/nats?x=1").unwrap();
        let ws = WsSetup {
            headers: vec![("Cookie".into(), "a=b; c=d".into())],
            compression: Some(deflate::start),
        };
        let (bytes, key) = upgrade_request(&url, &ws).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            format!(
                "GET /nats?x=1 HTTP/1.1\r\nHost: [::1]:8443\r\nConnection: Upgrade\r\n\
                 Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\
                 Sec-WebSocket-Extensions: {}\r\nCookie: a=b; c=d\r\n\r\n",
                deflate::OFFER
            )
        );
        // 16 random bytes in base64, new for every request.
        assert_eq!(BASE64.decode(key.as_bytes()).unwrap().len(), 16);
        assert_ne!(upgrade_request(&url, &ws).unwrap().1, key);
        // What httparse reads back is what was meant.
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        assert!(req.parse(text.as_bytes()).unwrap().is_complete());
        assert_eq!((req.method, req.path), (Some("GET"), Some("/nats?x=1")));

        for (name, value) in [
            ("Bad Name", "v"),
            ("", "v"),
            ("X-Ok", "a\r\nInjected: yes"),
            ("X-Ok", "nul\0"),
            ("sec-websocket-key", "mine"),
            ("HOST", "elsewhere"),
        ] {
            let ws = WsSetup {
                headers: vec![(name.into(), value.into())],
                compression: None,
            };
            let e = upgrade_request(&url, &ws).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOption, "{name:?}: {e}");
        }
        let tab = WsSetup {
            headers: vec![("X-Tab".into(), "a\tb \u{e9}".into())],
            compression: None,
        };
        upgrade_request(&url, &tab).unwrap();
    }
}
