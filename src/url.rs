//! Server URLs: `nats://`, `tls://`, `ws://`, `wss://`, and scheme-less `host[:port]`.

use std::fmt;

use crate::error::{Error, ErrorKind, Result};

/// How natsws reaches a server, picked by the URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scheme {
    /// `nats://`: plain TCP (upgraded to TLS when the server requires it).
    Nats,
    /// `tls://`: TCP with TLS.
    Tls,
    /// `ws://`: WebSocket over TCP.
    Ws,
    /// `wss://`: WebSocket over TLS.
    Wss,
}

impl Scheme {
    pub(crate) fn default_port(self) -> u16 {
        match self {
            Scheme::Nats | Scheme::Tls => 4222,
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Nats => "nats",
            Scheme::Tls => "tls",
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }

    pub(crate) fn is_websocket(self) -> bool {
        matches!(self, Scheme::Ws | Scheme::Wss)
    }

    pub(crate) fn is_tls(self) -> bool {
        matches!(self, Scheme::Tls | Scheme::Wss)
    }
}

/// A parsed server URL. Credentials in it are kept out of `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    pub(crate) scheme: Scheme,
    /// Host name or IP address, without IPv6 brackets.
    pub(crate) host: String,
    pub(crate) port: u16,
    /// For WebSocket: the path and query of the upgrade request (`/` when the URL has none).
    pub(crate) path: String,
    pub(crate) user: Option<String>,
    pub(crate) pass: Option<String>,
    /// The name to verify the server's certificate against, when not the host (a discovered
    /// server announced by IP address is verified against the name we were configured with).
    pub(crate) tls_name: Option<String>,
}

impl ServerUrl {
    /// The name the server's TLS certificate must carry.
    pub(crate) fn tls_name(&self) -> &str {
        self.tls_name.as_deref().unwrap_or(&self.host)
    }

    /// Parses one URL. A URL without a scheme means `nats://` (as nats.go does;
    /// nats.ws would assume `wss://`).
    pub(crate) fn parse(input: &str) -> Result<ServerUrl> {
        let bad = |why: &str| {
            Error::new(
                ErrorKind::InvalidOption,
                format!("bad server URL '{}': {why}", redact_userinfo(input)),
            )
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(bad("empty"));
        }
        let (scheme, rest) = match s.find("://") {
            Some(i) => {
                let scheme = match s[..i].to_ascii_lowercase().as_str() {
                    "nats" => Scheme::Nats,
                    "tls" => Scheme::Tls,
                    "ws" => Scheme::Ws,
                    "wss" => Scheme::Wss,
                    other => {
                        return Err(bad(&format!(
                            "unknown scheme '{other}' (use nats, tls, ws or wss)"
                        )))
                    }
                };
                (scheme, &s[i + 3..])
            }
            None => (Scheme::Nats, s),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
            let end = stripped
                .find(']')
                .ok_or_else(|| bad("unclosed '[' in IPv6 address"))?;
            let host = &stripped[..end];
            let after = &stripped[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("junk after IPv6 address")),
            };
            (host, port)
        } else {
            match hostport.rfind(':') {
                Some(i) => (&hostport[..i], Some(&hostport[i + 1..])),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@') {
            return Err(bad("host has invalid characters"));
        }
        let port = match port {
            None => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(bad(&format!("bad port '{p}'"))),
            },
        };
        let (user, pass) = match userinfo {
            None => (None, None),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)), Some(percent_decode(p))),
                None => (Some(percent_decode(ui)), None),
            },
        };
        // The path goes into the upgrade request's first line as it is: it must be URI text.
        if scheme.is_websocket() && !path.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "the path has spaces, control or non-ASCII characters (percent-encode them)",
            ));
        }
        let path = if !scheme.is_websocket() {
            String::new()
        } else if path.is_empty() {
            "/".to_string()
        } else if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(ServerUrl {
            scheme,
            host: host.to_string(),
            port,
            path,
            user: user.filter(|u| !u.is_empty()),
            pass,
            tls_name: None,
        })
    }

    /// Parses a comma-separated list.
    pub(crate) fn parse_list(input: &str) -> Result<Vec<ServerUrl>> {
        let urls = input
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(ServerUrl::parse)
            .collect::<Result<Vec<_>>>()?;
        if urls.is_empty() {
            return Err(Error::new(ErrorKind::InvalidOption, "no server URL given"));
        }
        Ok(urls)
    }

    /// `host:port`, with brackets around an IPv6 address.
    pub(crate) fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for ServerUrl {
    /// The URL without credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme.as_str(), self.host_port())?;
        if self.scheme.is_websocket() && self.path != "/" {
            f.write_str(&self.path)?;
        }
        Ok(())
    }
}

impl fmt::Debug for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerUrl(\"{self}\"")?;
        if self.user.is_some() {
            f.write_str(", credentials: <redacted>")?;
        }
        f.write_str(")")
    }
}

/// Types that name one or more servers: `"nats://a:4222"`, `"a:4222,b:4222"`, a slice or `Vec`
/// of strings.
pub trait IntoServerList {
    /// The list of URLs, unparsed.
    fn into_server_list(self) -> Vec<String>;
}

impl IntoServerList for &str {
    fn into_server_list(self) -> Vec<String> {
        vec![self.to_string()]
    }
}
impl IntoServerList for String {
    fn into_server_list(self) -> Vec<String> {
        vec![self]
    }
}
impl IntoServerList for &String {
    fn into_server_list(self) -> Vec<String> {
        vec![self.clone()]
    }
}
impl<S: AsRef<str>> IntoServerList for &[S] {
    fn into_server_list(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_string()).collect()
    }
}
impl<S: AsRef<str>, const N: usize> IntoServerList for [S; N] {
    fn into_server_list(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_string()).collect()
    }
}
impl<S: AsRef<str>, const N: usize> IntoServerList for &[S; N] {
    fn into_server_list(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_string()).collect()
    }
}
impl<S: AsRef<str>> IntoServerList for Vec<S> {
    fn into_server_list(self) -> Vec<String> {
        self.iter().map(|s| s.as_ref().to_string()).collect()
    }
}

pub(crate) fn parse_servers(list: Vec<String>) -> Result<Vec<ServerUrl>> {
    let mut out = Vec::new();
    for item in &list {
        out.extend(ServerUrl::parse_list(item)?);
    }
    if out.is_empty() {
        return Err(Error::new(ErrorKind::InvalidOption, "no server URL given"));
    }
    #[cfg(not(feature = "tls"))]
    if let Some(u) = out.iter().find(|u| u.scheme.is_tls()) {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            format!("{u} needs TLS, but {}", crate::transport::TLS_MISSING),
        ));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
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

/// The input with anything before an `@` in the authority replaced, for error messages.
fn redact_userinfo(input: &str) -> String {
    let start = input.find("://").map(|i| i + 3).unwrap_or(0);
    let end = input[start..]
        .find(['/', '?'])
        .map(|i| start + i)
        .unwrap_or(input.len());
    match input[start..end].rfind('@') {
        Some(at) => format!("{}<redacted>@{}", &input[..start], &input[start + at + 1..]),
        None => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_default_ports() {
        for (u, scheme, port) in [
            ("nats://h", Scheme::Nats, 4222),
            ("tls://h", Scheme::Tls, 4222),
            ("ws://h", Scheme::Ws, 80),
            ("wss://h", Scheme::Wss, 443),
            ("h", Scheme::Nats, 4222),
            ("h:1234", Scheme::Nats, 1234),
            ("WS://h:8080", Scheme::Ws, 8080),
        ] {
            let p = ServerUrl::parse(u).unwrap();
            assert_eq!(
                (p.scheme, p.host.as_str(), p.port),
                (scheme, "h", port),
                "{u}"
            );
        }
    }

    #[test]
    fn websocket_path_and_query_kept() {
        let p = ServerUrl::parse("ws://h:1/nats/ws?x=1&y=2").unwrap();
        assert_eq!(p.path, "/nats/ws?x=1&y=2");
        assert_eq!(ServerUrl::parse("ws://h?q=1").unwrap().path, "/?q=1");
        assert_eq!(ServerUrl::parse("wss://h").unwrap().path, "/");
        assert_eq!(p.to_string(), "ws://h:1/nats/ws?x=1&y=2");
    }

    #[test]
    fn ipv6_and_credentials() {
        let p = ServerUrl::parse("nats://bob:s%40cret@[::1]:4333").unwrap();
        assert_eq!(p.host, "::1");
        assert_eq!(p.port, 4333);
        assert_eq!(p.user.as_deref(), Some("bob"));
        assert_eq!(p.pass.as_deref(), Some("s@cret"));
        assert_eq!(p.host_port(), "[::1]:4333");
        let dbg = format!("{p:?} {p}");
        assert!(!dbg.contains("cret") && !dbg.contains("bob"), "{dbg}");
        let t = ServerUrl::parse("nats://mytoken@h").unwrap();
        assert_eq!(t.user.as_deref(), Some("mytoken"));
        assert_eq!(t.pass, None);
    }

    #[test]
    fn errors_are_clear_and_redacted() {
        for bad in [
            "",
            "http://h",
            "nats://",
            "nats://h:0",
            "nats://h:99999",
            "nats://h:x",
            "nats://[::1",
            "ws://h/a b",
            "ws://h/a\u{7f}",
            "wss://h/caf\u{e9}",
        ] {
            let e = ServerUrl::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOption, "{bad}");
        }
        let e = ServerUrl::parse("nats://u:secretpw@h:bad").unwrap_err();
        assert!(!e.to_string().contains("secretpw"), "{e}");
    }

    #[test]
    fn lists() {
        let v = parse_servers("nats://a:1, ws://b:2,,c".into_server_list()).unwrap();
        assert_eq!(v.len(), 3);
        assert_eq!(v[1].scheme, Scheme::Ws);
        let v = parse_servers(["a", "b"].into_server_list()).unwrap();
        assert_eq!(v.len(), 2);
        assert!(parse_servers(" , ".into_server_list()).is_err());
    }

    #[test]
    fn percent_decoding_edges() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
        assert_eq!(percent_decode("%"), "%");
    }
}
