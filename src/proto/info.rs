//! The server's `INFO`.

use serde::{Deserialize, Deserializer};

use crate::{Error, ErrorKind};

/// What the server says about itself in `INFO`.
///
/// Every field is optional on the wire: a missing (or `null`) field gets its default, unknown
/// fields are ignored.
#[non_exhaustive]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    /// The server's unique id.
    #[serde(deserialize_with = "nullable")]
    pub server_id: String,
    /// The server's name.
    #[serde(deserialize_with = "nullable")]
    pub server_name: String,
    /// The server's version.
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    /// The Go version the server was built with.
    #[serde(deserialize_with = "nullable")]
    pub go: String,
    /// The host the server listens on.
    #[serde(deserialize_with = "nullable")]
    pub host: String,
    /// The port the server listens on.
    #[serde(deserialize_with = "nullable")]
    pub port: u16,
    /// The server accepts headers.
    #[serde(deserialize_with = "nullable")]
    pub headers: bool,
    /// The largest message (headers + payload) the server accepts.
    #[serde(deserialize_with = "nullable")]
    pub max_payload: usize,
    /// The server's protocol level.
    #[serde(deserialize_with = "nullable")]
    pub proto: i32,
    /// The server's id for this connection.
    #[serde(deserialize_with = "nullable")]
    pub client_id: u64,
    /// The server requires authentication.
    #[serde(deserialize_with = "nullable")]
    pub auth_required: bool,
    /// The server requires TLS.
    #[serde(deserialize_with = "nullable")]
    pub tls_required: bool,
    /// The server wants a client certificate.
    #[serde(deserialize_with = "nullable")]
    pub tls_verify: bool,
    /// The server offers TLS but does not require it.
    #[serde(deserialize_with = "nullable")]
    pub tls_available: bool,
    /// Other servers of the cluster (`host:port`).
    #[serde(deserialize_with = "nullable")]
    pub connect_urls: Vec<String>,
    /// The server is in lame duck mode and will shut down.
    #[serde(deserialize_with = "nullable")]
    pub ldm: bool,
    /// JetStream is enabled.
    #[serde(deserialize_with = "nullable")]
    pub jetstream: bool,
    /// A challenge to sign for NKey and JWT authentication.
    pub nonce: Option<String>,
    /// The cluster's name.
    pub cluster: Option<String>,
    /// The JetStream domain.
    pub domain: Option<String>,
    /// This client's IP address as the server sees it.
    pub client_ip: Option<String>,
    /// The server's x25519 public key (auth callout).
    pub xkey: Option<String>,
}

/// `null` is read as the default value.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl ServerInfo {
    /// Reads the JSON text of an `INFO` ([`ErrorKind::Protocol`] if it is not a JSON object
    /// of the expected shape).
    pub fn parse(json: &[u8]) -> Result<ServerInfo, Error> {
        serde_json::from_slice(json)
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("bad INFO JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_info() {
        // An INFO line captured from nats-server 2.15.1 (see fuzz/capture.py).
        let line = br#"INFO {"server_id":"NCRNROT3HVPICCYGUFKJCDR676ZPAH4OO6BP4DBMG5GTPUMSZCHK3UYK","server_name":"NCRNROT3HVPICCYGUFKJCDR676ZPAH4OO6BP4DBMG5GTPUMSZCHK3UYK","version":"2.15.1","proto":1,"git_commit":"b2fd3ef","go":"go1.27.2","host":"127.0.0.1","port":38565,"headers":true,"auth_required":true,"max_payload":1048576,"client_id":6,"client_ip":"127.0.0.1","api_lvl":5,"xkey":"XCZDOQJLLTMQZOQX7V4JKSHOETE25ORWHN6S4VMI4CUIFPMECF2GT7V5"} "#;
        let mut buf = line.to_vec();
        buf.extend_from_slice(b"\r\n");
        let json = match crate::proto::parse(&buf, &Default::default()).unwrap() {
            crate::proto::Parsed::Op(crate::proto::ServerOp::Info(j), n) if n == buf.len() => j,
            other => panic!("{other:?}"),
        };
        let i = ServerInfo::parse(json).unwrap();
        assert_eq!(
            i.server_id,
            "NCRNROT3HVPICCYGUFKJCDR676ZPAH4OO6BP4DBMG5GTPUMSZCHK3UYK"
        );
        assert_eq!(i.version, "2.15.1");
        assert_eq!(i.go, "go1.27.2");
        assert_eq!((i.host.as_str(), i.port), ("127.0.0.1", 38565));
        assert_eq!((i.proto, i.client_id, i.max_payload), (1, 6, 1048576));
        assert!(i.headers && i.auth_required && !i.tls_required && !i.jetstream);
        assert_eq!(i.client_ip.as_deref(), Some("127.0.0.1"));
        assert!(i.xkey.is_some() && i.nonce.is_none() && i.connect_urls.is_empty());
    }

    #[test]
    fn empty_object() {
        let i = ServerInfo::parse(b"{}").unwrap();
        assert_eq!(i.max_payload, 0);
        assert!(i.connect_urls.is_empty() && i.nonce.is_none());
    }

    #[test]
    fn nulls_and_unknown_fields() {
        let i = ServerInfo::parse(
            br#"{"connect_urls":null,"server_id":null,"port":null,"new_field":{"x":[1]},"nonce":"abc"}"#,
        )
        .unwrap();
        assert!(i.connect_urls.is_empty());
        assert_eq!(i.nonce.as_deref(), Some("abc"));
    }

    #[test]
    fn bad_json() {
        for bad in [
            &b""[..],
            b"42",
            b"{",
            b"{\"port\":70000}",
            b"{\"headers\":\"yes\"}",
        ] {
            let e = ServerInfo::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol);
        }
    }
}
