//! HTTP CONNECT proxies: a tunnel under every transport.
//!
//! The client asks the proxy to `CONNECT host:port`; after a `2xx` answer the socket is a byte
//! pipe to the server, and TCP, TLS and the WebSocket upgrade run over it exactly as over a
//! direct socket. TLS is therefore end to end and verified against the server's name (the
//! proxy sees only ciphertext). The proxy's answer is read without ever reading past its end
//! (the head is peeked, then only its own bytes are consumed), so whatever the server sends
//! right behind it (a `nats://` server's INFO) stays in the socket for the handshake.
//!
//! The proxy comes from [`Options::proxy`](crate::Options::proxy), or, with
//! [`Options::proxy_from_env`](crate::Options::proxy_from_env), from the environment as curl
//! reads it (see [`from_env`]).

use std::net::{IpAddr, TcpStream};
use std::time::Instant;

use zeroize::Zeroizing;

use super::tcp;
use crate::error::{Error, ErrorKind, Result};
use crate::url::{Scheme, ServerUrl};

/// The port of a proxy URL without one (curl's default).
const DEFAULT_PORT: u16 = 1080;
/// Longest proxy answer head accepted.
const MAX_HEAD: usize = 16 * 1024;

/// A parsed proxy URL. The credentials are kept only as the ready `Proxy-Authorization` value,
/// wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Proxy {
    host: String,
    port: u16,
    /// base64 of `user:password`, for `Proxy-Authorization: Basic`.
    basic: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.basic.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Proxy {
    /// Parses `http://[user[:password]@]host[:port][/]`, or the same without `http://` (as curl
    /// accepts). Other schemes (`https://` to the proxy, `socks5://`) are refused. The error
    /// never quotes the credentials.
    pub(crate) fn parse(input: &str) -> Result<Proxy> {
        let shown = redact(input);
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidOption,
                format!("bad proxy URL '{shown}': {why}"),
            )
        };
        let s = input.trim();
        let rest = match s.find("://") {
            Some(i) if s[..i].eq_ignore_ascii_case("http") => &s[i + 3..],
            Some(i) => {
                return Err(bad(&format!(
                "scheme '{}' is not supported (only http:// proxies, which tunnel with CONNECT)",
                &s[..i]
            )))
            }
            None => s,
        };
        let authority = match rest.find(['/', '?', '#']) {
            Some(i) if rest[i..] == *"/" => &rest[..i],
            Some(_) => return Err(bad("a proxy URL has no path")),
            None => rest,
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
            let end = stripped
                .find(']')
                .ok_or_else(|| bad("unclosed '[' in IPv6 address"))?;
            match &stripped[end + 1..] {
                "" => (&stripped[..end], None),
                after => match after.strip_prefix(':') {
                    Some(p) => (&stripped[..end], Some(p)),
                    None => return Err(bad("junk after IPv6 address")),
                },
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.contains(|c: char| c.is_whitespace() || c == '@' || c == '/') {
            return Err(bad("host has invalid characters"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad(&format!("bad port '{p}'"))),
            },
        };
        let basic = userinfo.map(|ui| {
            let (user, pass) = ui.split_once(':').unwrap_or((ui, ""));
            let plain = Zeroizing::new(format!(
                "{}:{}",
                percent_decode(user),
                Zeroizing::new(percent_decode(pass)).as_str()
            ));
            Zeroizing::new(data_encoding::BASE64.encode(plain.as_bytes()))
        });
        Ok(Proxy {
            host: host.to_string(),
            port,
            basic,
        })
    }

    /// `host:port` of the proxy (IPv6 in brackets), for messages.
    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `input` with any `user:password@` replaced, for error messages.
fn redact(input: &str) -> String {
    let (scheme, rest) = match input.find("://") {
        Some(i) => (&input[..i + 3], &input[i + 3..]),
        None => ("", input),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}<redacted>@{}", &rest[at + 1..]),
        None => input.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The proxy to use for `url`: the explicit one, else (with `from_env`) the environment's.
pub(crate) fn for_url(
    explicit: Option<&str>,
    from_env: bool,
    url: &ServerUrl,
) -> Result<Option<Proxy>> {
    if let Some(p) = explicit {
        return Proxy::parse(p).map(Some);
    }
    if from_env {
        return from_env_vars(url, |name| std::env::var(name).ok());
    }
    Ok(None)
}

/// The environment's proxy for `url`, read as curl reads it. `var` looks a variable up (the
/// process environment, or a fake one in tests). Lowercase names are looked up first; an empty
/// value counts as unset.
///
/// * `wss://` and `tls://` URLs use `https_proxy` / `HTTPS_PROXY`;
/// * `ws://` and `nats://` URLs use `http_proxy` (only lowercase: like curl, `HTTP_PROXY` is
///   ignored, as a CGI program may find a request header there);
/// * failing those, `all_proxy` / `ALL_PROXY`;
/// * and none at all when the server's host matches `no_proxy` / `NO_PROXY` (see
///   [`no_proxy_matches`]).
pub(crate) fn from_env_vars(
    url: &ServerUrl,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Proxy>> {
    let get = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
    };
    let scheme_vars: &[&str] = match url.scheme {
        Scheme::Wss | Scheme::Tls => &["https_proxy", "HTTPS_PROXY"],
        Scheme::Ws | Scheme::Nats => &["http_proxy"],
    };
    let Some(value) = get(scheme_vars).or_else(|| get(&["all_proxy", "ALL_PROXY"])) else {
        return Ok(None);
    };
    if let Some(list) = get(&["no_proxy", "NO_PROXY"]) {
        if no_proxy_matches(&list, &url.host) {
            log::debug!("{url}: no proxy (matched by no_proxy)");
            return Ok(None);
        }
    }
    Proxy::parse(&value).map(Some)
}

/// Every proxy variable [`from_env_vars`] may read, checked now, so that a bad value fails
/// `connect` at once (naming the variable) rather than each attempt.
pub(crate) fn check_env_vars(var: impl Fn(&str) -> Option<String>) -> Result<()> {
    for name in [
        "https_proxy",
        "HTTPS_PROXY",
        "http_proxy",
        "all_proxy",
        "ALL_PROXY",
    ] {
        if let Some(value) = var(name).filter(|v| !v.trim().is_empty()) {
            Proxy::parse(&value).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOption,
                    format!(
                        "proxy_from_env: {name} is not an http:// proxy URL ('{}')",
                        redact(&value)
                    ),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether `host` matches the `no_proxy` list, by curl's rules: entries separated by commas
/// (spaces around them ignored), case-insensitive; `*` alone matches every host; a name matches
/// itself and its subdomains (`example.com` and `.example.com` both match `example.com` and
/// `a.example.com`, not `badexample.com`); an IP address (IPv6 with or without brackets)
/// matches itself, and `address/bits` matches a CIDR range. Names are not resolved: `localhost`
/// does not match `127.0.0.1`. Ports in entries are not supported.
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host_ip = host.parse::<IpAddr>().ok();
    list.split(',').map(str::trim).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        if entry.is_empty() {
            return false;
        }
        if let Some(ip) = host_ip {
            let (addr, bits) = match entry.split_once('/') {
                Some((a, b)) => (a, b.parse::<u8>().ok()),
                None => (entry.as_str(), None),
            };
            let addr = addr.trim_start_matches('[').trim_end_matches(']');
            return match (addr.parse::<IpAddr>(), bits) {
                (Ok(net), None) => net == ip,
                (Ok(net), Some(bits)) => in_cidr(ip, net, bits),
                (Err(_), _) => false,
            };
        }
        let name = entry.trim_start_matches('.').trim_end_matches('.');
        !name.is_empty()
            && (host == name
                || (host.len() > name.len()
                    && host.ends_with(name)
                    && host.as_bytes()[host.len() - name.len() - 1] == b'.'))
    })
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Opens a tunnel through `proxy` to `url`'s host and port, all within `deadline` (resolving
/// and connecting to the proxy, the CONNECT request and its answer). The socket's timeouts are
/// left at the deadline.
pub(crate) fn connect(proxy: &Proxy, url: &ServerUrl, deadline: Instant) -> Result<TcpStream> {
    let at = proxy.addr();
    let target = url.host_port();
    log::debug!("connecting to {url} through the HTTP proxy at {at}");
    // Errors name the proxy's address ("connecting to 127.0.0.1:3128").
    let sock = tcp::connect_to(&proxy.host, proxy.port, deadline)?;
    tcp::set_deadline(&sock, Some(deadline))?;
    let mut req = Zeroizing::new(format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: natsws/{}\r\n",
        env!("CARGO_PKG_VERSION")
    ));
    if let Some(basic) = &proxy.basic {
        req.push_str("Proxy-Authorization: Basic ");
        req.push_str(basic);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    use std::io::Write;
    (&sock)
        .write_all(req.as_bytes())
        .map_err(|e| Error::io(format!("sending CONNECT {target} to the proxy at {at}"), e))?;
    let head = read_head(
        &sock,
        deadline,
        &format!("waiting for the proxy at {at} to answer CONNECT {target}"),
    )?;
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!(
                    "the proxy at {at} answered CONNECT {target} with something that is not HTTP"
                ),
            ))
        }
    }
    let code = resp.code.unwrap_or(0);
    if !(200..300).contains(&code) {
        return Err(Error::new(
            ErrorKind::Proxy,
            format!(
                "the proxy at {at} refused CONNECT {target}: HTTP/1.{} {code} {}",
                resp.version.unwrap_or(1),
                resp.reason.unwrap_or("").trim()
            ),
        ));
    }
    log::debug!("the proxy at {at} opened a tunnel to {target}");
    Ok(sock)
}

/// Reads the proxy's answer head (through the blank line) and not one byte more: each round
/// peeks at what arrived, and consumes either all of it (no end of head in it yet) or exactly
/// up to the end of the head. Never spins: a round that finds no end consumes what it saw, so
/// the next peek blocks until new bytes come.
fn read_head(sock: &TcpStream, deadline: Instant, what: &str) -> Result<Vec<u8>> {
    use std::io::Read;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    loop {
        tcp::set_deadline(sock, Some(deadline)).map_err(|_| {
            Error::new(
                ErrorKind::Timeout,
                format!("{what}: no answer within the connect deadline"),
            )
        })?;
        let n = match sock.peek(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(what.to_string(), e)),
        };
        if n == 0 {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("{what}: the proxy closed the connection"),
            ));
        }
        // The end of the head may straddle what was consumed and what is peeked.
        let old = head.len();
        head.extend_from_slice(&buf[..n]);
        let from = old.saturating_sub(3);
        let take = match head[from..].windows(4).position(|w| w == b"\r\n\r\n") {
            Some(i) => from + i + 4 - old,
            None => n,
        };
        head.truncate(old + take);
        let mut sink = vec![0u8; take];
        (&*sock)
            .read_exact(&mut sink)
            .map_err(|e| Error::io(what.to_string(), e))?;
        if head.ends_with(b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > MAX_HEAD {
            return Err(Error::new(
                ErrorKind::Proxy,
                format!("{what}: the answer head is too long"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    fn url(s: &str) -> ServerUrl {
        ServerUrl::parse(s).unwrap()
    }

    #[test]
    fn proxy_urls_parse_and_hide_credentials() {
        let p = Proxy::parse("http://al%40ice:p%3Aw@proxy.example:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        let basic = p.basic.as_deref().unwrap();
        assert_eq!(
            data_encoding::BASE64.decode(basic.as_bytes()).unwrap(),
            b"al@ice:p:w"
        );
        assert!(!format!("{p:?}").contains(basic), "{p:?}");
        let p = Proxy::parse("10.0.0.1").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.basic.is_none()),
            ("10.0.0.1", 1080, true)
        );
        let p = Proxy::parse("HTTP://[::1]:8080").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8080));
        assert_eq!(p.addr(), "[::1]:8080");
        let p = Proxy::parse("http://user@h:1").unwrap();
        assert_eq!(
            data_encoding::BASE64
                .decode(p.basic.as_deref().unwrap().as_bytes())
                .unwrap(),
            b"user:"
        );
        for bad in [
            "https://u:s3cret@h:1",
            "socks5://h:1",
            "http://u:s3cret@:1",
            "http://u:s3cret@h:0",
            "http://u:s3cret@h:x",
            "http://u:s3cret@h:1/path",
            "http://[::1",
            "",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOption, "{bad}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn no_proxy_follows_curl() {
        let cases = [
            ("*", "anything.example", true),
            ("example.com", "example.com", true),
            ("example.com", "a.b.EXAMPLE.com", true),
            (".example.com", "example.com", true),
            (".example.com", "a.example.com", true),
            ("example.com", "badexample.com", false),
            ("example.com", "example.com.evil", false),
            (" foo , example.com ", "x.example.com", true),
            ("localhost", "127.0.0.1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("10.0.0.0/8", "10.200.3.4", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("::1", "::1", true),
            ("[::1]", "::1", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("10.0.0.0/8", "ten.example", false),
            ("", "example.com", false),
            (",,", "example.com", false),
            ("*.example.com", "a.example.com", false),
        ];
        for (list, host, want) in cases {
            assert_eq!(no_proxy_matches(list, host), want, "{list:?} vs {host}");
        }
    }

    #[test]
    fn environment_variables_follow_curl() {
        let env = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |name: &str| map.get(name).cloned()
        };
        let host = |r: Result<Option<Proxy>>| r.unwrap().map(|p| p.host);
        let vars = env(&[
            ("https_proxy", "http://secure:1"),
            ("HTTPS_PROXY", "http://upper-secure:1"),
            ("http_proxy", "http://plain:1"),
            ("ALL_PROXY", "http://all:1"),
            ("NO_PROXY", "skip.example, 10.0.0.0/8"),
        ]);
        let of = |u: &str| host(from_env_vars(&url(u), &vars));
        assert_eq!(of("wss://a.example"), Some("secure".into()));
        assert_eq!(of("tls://a.example"), Some("secure".into()));
        assert_eq!(of("ws://a.example"), Some("plain".into()));
        assert_eq!(of("nats://a.example"), Some("plain".into()));
        assert_eq!(of("wss://x.skip.example"), None);
        assert_eq!(of("nats://10.1.2.3"), None);
        // HTTP_PROXY in capitals is ignored (curl's httpoxy rule); ALL_PROXY is the fallback.
        let vars = env(&[
            ("HTTP_PROXY", "http://ignored:1"),
            ("all_proxy", "http://all:1"),
        ]);
        assert_eq!(
            host(from_env_vars(&url("ws://a"), &vars)),
            Some("all".into())
        );
        let vars = env(&[("HTTPS_PROXY", "http://upper:1"), ("https_proxy", " ")]);
        assert_eq!(
            host(from_env_vars(&url("wss://a"), &vars)),
            Some("upper".into())
        );
        let vars = env(&[("http_proxy", "")]);
        assert_eq!(host(from_env_vars(&url("ws://a"), &vars)), None);
        let vars = env(&[("all_proxy", "socks5://s:1")]);
        let e = from_env_vars(&url("ws://a"), &vars).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOption);
        let e = check_env_vars(&vars).unwrap_err();
        assert!(e.to_string().contains("all_proxy"), "{e}");
        let vars = env(&[
            ("HTTPS_PROXY", "socks5://u:s3cret@s:1"),
            ("http_proxy", "h:1"),
        ]);
        let e = check_env_vars(&vars).unwrap_err();
        assert!(e.to_string().contains("HTTPS_PROXY") && !e.to_string().contains("s3cret"));
        check_env_vars(env(&[("http_proxy", "h:1"), ("HTTP_PROXY", "ignored://")])).unwrap();
    }

    /// A one-shot fake proxy: reads the request head, answers `answer` in one write, and hands
    /// back the request it saw.
    fn fake_proxy(answer: &'static [u8]) -> (u16, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut req = Vec::new();
            let mut b = [0u8; 1];
            while !req.ends_with(b"\r\n\r\n") {
                assert_eq!(s.read(&mut b).unwrap(), 1);
                req.push(b[0]);
            }
            s.write_all(answer).unwrap();
            // Keep the socket open until the client is done with it.
            let _ = s.read(&mut b);
            String::from_utf8(req).unwrap()
        });
        (port, t)
    }

    #[test]
    fn bytes_after_the_answer_stay_for_the_server_handshake() {
        let (port, t) =
            fake_proxy(b"HTTP/1.1 200 Connection established\r\nX-A: b\r\n\r\nINFO {}\r\n");
        let p = Proxy::parse(&format!("http://u:pw@127.0.0.1:{port}")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut sock = connect(&p, &url("nats://nats.example:4222"), deadline).unwrap();
        let mut info = [0u8; 9];
        sock.read_exact(&mut info).unwrap();
        assert_eq!(&info, b"INFO {}\r\n");
        drop(sock);
        let req = t.join().unwrap();
        assert!(
            req.starts_with("CONNECT nats.example:4222 HTTP/1.1\r\nHost: nats.example:4222\r\n"),
            "{req}"
        );
        assert!(
            req.contains("Proxy-Authorization: Basic dTpwdw==\r\n"),
            "{req}"
        );
    }

    #[test]
    fn refusals_quote_the_status_line() {
        let (port, t) = fake_proxy(b"HTTP/1.0 407 Proxy Authentication Required\r\n\r\n");
        let p = Proxy::parse(&format!("127.0.0.1:{port}")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let e = connect(&p, &url("ws://[::1]:80"), deadline).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy);
        assert!(
            e.to_string()
                .contains("HTTP/1.0 407 Proxy Authentication Required"),
            "{e}"
        );
        assert!(t
            .join()
            .unwrap()
            .starts_with("CONNECT [::1]:80 HTTP/1.1\r\n"));
        let (port, t) = fake_proxy(b"SSH-2.0-OpenSSH\r\n\r\n");
        let p = Proxy::parse(&format!("127.0.0.1:{port}")).unwrap();
        let e = connect(&p, &url("ws://a:80"), deadline).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Proxy, "{e}");
        t.join().unwrap();
    }
}
