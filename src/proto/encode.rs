//! Encoding of client-to-server operations into a caller's buffer.
//!
//! Nothing is validated here: subjects, queues and headers are checked by the caller before.
//! Nothing is allocated beyond growing `out`.

use std::fmt;

use serde::Serialize;

use crate::Headers;

/// `PING\r\n`.
pub const PING: &[u8] = b"PING\r\n";
/// `PONG\r\n`.
pub const PONG: &[u8] = b"PONG\r\n";

/// Writes `PUB subject [reply] size` (no headers) or `HPUB subject [reply] hdr_size total`
/// followed by the header block, the payload and CRLF.
pub fn publish(
    out: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    headers: Option<&Headers>,
    payload: &[u8],
) {
    let mut n1 = itoa::Buffer::new();
    let mut n2 = itoa::Buffer::new();
    let reply_len = reply.map_or(0, |r| r.len() + 1);
    match headers {
        None => {
            let size = n1.format(payload.len());
            out.reserve(4 + subject.len() + reply_len + 1 + size.len() + 2 + payload.len() + 2);
            out.extend_from_slice(b"PUB ");
            out.extend_from_slice(subject.as_bytes());
            if let Some(r) = reply {
                out.push(b' ');
                out.extend_from_slice(r.as_bytes());
            }
            out.push(b' ');
            out.extend_from_slice(size.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Some(h) => {
            let hlen = h.encoded_len();
            let hsize = n1.format(hlen);
            let total = n2.format(hlen + payload.len());
            out.reserve(
                5 + subject.len()
                    + reply_len
                    + 1
                    + hsize.len()
                    + 1
                    + total.len()
                    + 2
                    + hlen
                    + payload.len()
                    + 2,
            );
            out.extend_from_slice(b"HPUB ");
            out.extend_from_slice(subject.as_bytes());
            if let Some(r) = reply {
                out.push(b' ');
                out.extend_from_slice(r.as_bytes());
            }
            out.push(b' ');
            out.extend_from_slice(hsize.as_bytes());
            out.push(b' ');
            out.extend_from_slice(total.as_bytes());
            out.extend_from_slice(b"\r\n");
            h.encode(out);
        }
    }
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

/// Writes `SUB subject [queue] sid\r\n`.
pub fn sub(out: &mut Vec<u8>, subject: &str, queue: Option<&str>, sid: u64) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"SUB ");
    out.extend_from_slice(subject.as_bytes());
    if let Some(q) = queue {
        out.push(b' ');
        out.extend_from_slice(q.as_bytes());
    }
    out.push(b' ');
    out.extend_from_slice(n.format(sid).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes `UNSUB sid [max]\r\n`.
pub fn unsub(out: &mut Vec<u8>, sid: u64, max: Option<u64>) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"UNSUB ");
    out.extend_from_slice(n.format(sid).as_bytes());
    if let Some(m) = max {
        out.push(b' ');
        out.extend_from_slice(n.format(m).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes `CONNECT {json}\r\n`.
pub fn connect(out: &mut Vec<u8>, info: &ConnectInfo) {
    out.extend_from_slice(b"CONNECT ");
    // Writing plain strings, numbers and bools into a Vec cannot fail.
    serde_json::to_writer(&mut *out, info).expect("ConnectInfo serialises to JSON");
    out.extend_from_slice(b"\r\n");
}

/// The fields of `CONNECT`. `None` fields are left out of the JSON.
///
/// `Debug` shows `<redacted>` instead of `pass`, `auth_token`, `jwt` and `sig`.
#[derive(Clone, Default, Serialize)]
pub struct ConnectInfo {
    /// Ask for `+OK` after every operation (natsws sends `false`).
    pub verbose: bool,
    /// Ask the server for strict checking.
    pub pedantic: bool,
    /// The client library's language, for monitoring.
    pub lang: String,
    /// The client library's version.
    pub version: String,
    /// Protocol level; 1 accepts asynchronous INFO.
    pub protocol: u8,
    /// Deliver this connection's own publishes to its own subscriptions.
    pub echo: bool,
    /// The client sends HPUB and accepts HMSG.
    pub headers: bool,
    /// A request with no subscriber gets a 503 status message.
    pub no_responders: bool,
    /// A name for the connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Password (secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pass: Option<String>,
    /// Token (secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// User JWT (secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt: Option<String>,
    /// Public NKey of the user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nkey: Option<String>,
    /// Signature of the server's nonce (secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// The client uses TLS.
    pub tls_required: bool,
}

impl fmt::Debug for ConnectInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ConnectInfo")
            .field("verbose", &self.verbose)
            .field("pedantic", &self.pedantic)
            .field("lang", &self.lang)
            .field("version", &self.version)
            .field("protocol", &self.protocol)
            .field("echo", &self.echo)
            .field("headers", &self.headers)
            .field("no_responders", &self.no_responders)
            .field("name", &self.name)
            .field("user", &self.user)
            .field("pass", &secret(&self.pass))
            .field("auth_token", &secret(&self.auth_token))
            .field("jwt", &secret(&self.jwt))
            .field("nkey", &self.nkey)
            .field("sig", &secret(&self.sig))
            .field("tls_required", &self.tls_required)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = b"x".to_vec(); // appends, never clears
        f(&mut v);
        assert_eq!(v[0], b'x');
        String::from_utf8(v[1..].to_vec()).unwrap()
    }

    #[test]
    fn pub_exact() {
        assert_eq!(
            enc(|o| publish(o, "foo", None, None, b"hello")),
            "PUB foo 5\r\nhello\r\n"
        );
        assert_eq!(
            enc(|o| publish(o, "foo.bar", Some("_INBOX.1"), None, b"hi")),
            "PUB foo.bar _INBOX.1 2\r\nhi\r\n"
        );
        assert_eq!(enc(|o| publish(o, "e", None, None, b"")), "PUB e 0\r\n\r\n");
    }

    #[test]
    fn hpub_exact() {
        let mut h = Headers::new();
        h.append("A", "1");
        h.append("a", "2");
        let block = "NATS/1.0\r\nA: 1\r\na: 2\r\n\r\n";
        assert_eq!(h.encoded_len(), block.len());
        assert_eq!(
            enc(|o| publish(o, "s", Some("r"), Some(&h), b"xyz")),
            format!(
                "HPUB s r {} {}\r\n{block}xyz\r\n",
                block.len(),
                block.len() + 3
            )
        );
        let e = Headers::new();
        assert_eq!(
            enc(|o| publish(o, "s", None, Some(&e), b"")),
            "HPUB s 12 12\r\nNATS/1.0\r\n\r\n\r\n"
        );
        let mut st = Headers::new();
        st.set_status(503, None);
        st.insert("Nats-Subject", "x");
        let block = "NATS/1.0 503\r\nNats-Subject: x\r\n\r\n";
        assert_eq!(
            enc(|o| publish(o, "s", None, Some(&st), b"")),
            format!("HPUB s {0} {0}\r\n{block}\r\n", block.len())
        );
    }

    #[test]
    fn hpub_sizes_parse_back() {
        let mut h = Headers::new();
        h.set_status(100, Some("Idle Heartbeat"));
        h.append("Nats-Last-Consumer", "7");
        h.append("X-Multi", "a b");
        h.append("x-multi", "c");
        let mut out = Vec::new();
        publish(&mut out, "a.b", Some("r.1"), Some(&h), b"payload");
        // Re-read as a server would send it (HMSG has a sid after the subject).
        let text = String::from_utf8(out).unwrap();
        let hmsg = text.replacen("HPUB a.b", "HMSG a.b 1", 1);
        match crate::proto::parse(hmsg.as_bytes(), &Default::default()).unwrap() {
            crate::proto::Parsed::Op(
                crate::proto::ServerOp::HMsg {
                    headers,
                    payload,
                    reply,
                    ..
                },
                n,
            ) => {
                assert_eq!(n, hmsg.len());
                assert_eq!(headers.len(), h.encoded_len());
                assert_eq!(payload, b"payload");
                assert_eq!(reply, Some("r.1"));
                let back = Headers::parse(headers).unwrap();
                assert_eq!(back, h);
                assert_eq!(back.status(), Some(100));
                assert_eq!(back.description(), Some("Idle Heartbeat"));
                let all: Vec<_> = back.iter().collect();
                assert_eq!(
                    all,
                    [
                        ("Nats-Last-Consumer", "7"),
                        ("X-Multi", "a b"),
                        ("x-multi", "c")
                    ]
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn sub_unsub_exact() {
        assert_eq!(enc(|o| sub(o, "foo.>", None, 1)), "SUB foo.> 1\r\n");
        assert_eq!(
            enc(|o| sub(o, "foo", Some("q"), u64::MAX)),
            "SUB foo q 18446744073709551615\r\n"
        );
        assert_eq!(enc(|o| unsub(o, 7, None)), "UNSUB 7\r\n");
        assert_eq!(enc(|o| unsub(o, 7, Some(10))), "UNSUB 7 10\r\n");
        assert_eq!(PING, b"PING\r\n");
        assert_eq!(PONG, b"PONG\r\n");
    }

    #[test]
    fn connect_json() {
        let mut ci = ConnectInfo {
            lang: "rust".into(),
            version: "0.1.0".into(),
            protocol: 1,
            echo: true,
            headers: true,
            no_responders: true,
            user: Some("bob".into()),
            pass: Some("s3cret".into()),
            ..Default::default()
        };
        let s = enc(|o| connect(o, &ci));
        assert!(s.starts_with("CONNECT {") && s.ends_with("}\r\n"), "{s}");
        let v: serde_json::Value = serde_json::from_str(&s[8..s.len() - 2]).unwrap();
        assert_eq!(v["verbose"], false);
        assert_eq!(v["pedantic"], false);
        assert_eq!(v["lang"], "rust");
        assert_eq!(v["protocol"], 1);
        assert_eq!(v["headers"], true);
        assert_eq!(v["no_responders"], true);
        assert_eq!(v["user"], "bob");
        assert_eq!(v["pass"], "s3cret");
        assert_eq!(v["tls_required"], false);
        for absent in ["name", "auth_token", "jwt", "nkey", "sig"] {
            assert!(v.get(absent).is_none(), "{absent} in {s}");
        }
        ci.auth_token = Some("tok-123".into());
        ci.jwt = Some("eyJhbG".into());
        ci.sig = Some("sig-xyz".into());
        let d = format!("{ci:?}");
        for secret in ["s3cret", "tok-123", "eyJhbG", "sig-xyz"] {
            assert!(!d.contains(secret), "{d}");
        }
        assert!(d.contains("<redacted>") && d.contains("bob"), "{d}");
    }
}
