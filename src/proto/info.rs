//! The server's `INFO`.

use serde::{Deserialize, Deserializer};

use crate::{Error, ErrorKind};

/// What the server says about itself in `INFO`.
///
/// Every field is optional on the wire: a missing (or `null`) field gets its default, unknown
/// fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ServerInfo {
    #[serde(deserialize_with = "nullable")]
    pub server_id: String,
    #[serde(deserialize_with = "nullable")]
    pub server_name: String,
    #[serde(deserialize_with = "nullable")]
    pub version: String,
    #[serde(deserialize_with = "nullable")]
    pub go: String,
    #[serde(deserialize_with = "nullable")]
    pub host: String,
    #[serde(deserialize_with = "nullable")]
    pub port: u16,
    #[serde(deserialize_with = "nullable")]
    pub headers: bool,
    #[serde(deserialize_with = "nullable")]
    pub max_payload: usize,
    #[serde(deserialize_with = "nullable")]
    pub proto: i32,
    #[serde(deserialize_with = "nullable")]
    pub client_id: u64,
    #[serde(deserialize_with = "nullable")]
    pub auth_required: bool,
    #[serde(deserialize_with = "nullable")]
    pub tls_required: bool,
    #[serde(deserialize_with = "nullable")]
    pub tls_verify: bool,
    #[serde(deserialize_with = "nullable")]
    pub tls_available: bool,
    #[serde(deserialize_with = "nullable")]
    pub connect_urls: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    pub ldm: bool,
    #[serde(deserialize_with = "nullable")]
    pub jetstream: bool,
    pub nonce: Option<String>,
    pub cluster: Option<String>,
    pub domain: Option<String>,
    pub client_ip: Option<String>,
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
