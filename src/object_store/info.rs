//! What an object is: its metadata as the user gives it, its info as stored (the JSON of
//! ADR-20, as nats.go writes it), and the encodings of names and digests (base64url *with*
//! padding, JETSTREAM.md §0).

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;

/// The chunk size when none is set: 128 KiB (ADR-20), never above the server's max_payload.
pub const DEFAULT_CHUNK_SIZE: usize = 128 * 1024;

/// An object's name in its meta subject: base64url with padding.
pub(crate) fn encode_name(name: &str) -> String {
    data_encoding::BASE64URL.encode(name.as_bytes())
}

/// `SHA-256=` and the digest in base64url with padding.
pub(crate) fn digest_string(sha256: &[u8]) -> String {
    format!("SHA-256={}", data_encoding::BASE64URL.encode(sha256))
}

/// What the user says about an object: name, description, headers, metadata, chunk size.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectMeta {
    /// The name (any non-empty UTF-8 text).
    pub name: String,
    /// A description.
    pub description: String,
    /// Headers stored with the object.
    pub headers: Option<Headers>,
    /// Application metadata.
    pub metadata: HashMap<String, String>,
    /// The chunk size for a put (default [`DEFAULT_CHUNK_SIZE`], at most the server's
    /// max_payload).
    pub chunk_size: Option<usize>,
}

impl ObjectMeta {
    /// An object named `name`.
    pub fn new(name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: name.into(),
            ..ObjectMeta::default()
        }
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Sets the headers.
    pub fn headers(mut self, headers: Headers) -> Self {
        self.headers = Some(headers);
        self
    }

    /// Sets the metadata.
    pub fn metadata(mut self, metadata: HashMap<String, String>) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the chunk size of a put.
    pub fn chunk_size(mut self, n: usize) -> Self {
        self.chunk_size = Some(n);
        self
    }
}

/// Where a link points: an object of a bucket, or a whole bucket.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectLink {
    /// The bucket.
    pub bucket: String,
    /// The object (`None`: a link to the bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// An object as stored: its metadata, size, chunks and digest.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// The name.
    pub name: String,
    /// The description.
    pub description: String,
    /// Headers stored with the object.
    pub headers: Option<Headers>,
    /// Application metadata.
    pub metadata: HashMap<String, String>,
    /// Set for a link.
    pub link: Option<ObjectLink>,
    /// The chunk size it was written with, if the writer said.
    pub max_chunk_size: Option<usize>,
    /// The bucket.
    pub bucket: String,
    /// The id of its chunks (`$O.<bucket>.C.<nuid>`).
    pub nuid: String,
    /// Size in bytes.
    pub size: u64,
    /// Number of chunks.
    pub chunks: u64,
    /// `SHA-256=<base64url>` (`None` for links and deleted objects).
    pub digest: Option<String>,
    /// Deleted (a tombstone).
    pub deleted: bool,
    /// When its metadata was stored (never stored itself, ADR-20).
    pub modified: Option<SystemTime>,
}

impl ObjectInfo {
    /// Whether this is a link (to an object or a bucket).
    pub fn is_link(&self) -> bool {
        self.link.is_some()
    }
}

#[derive(Serialize, Deserialize, Default)]
struct WireOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    link: Option<ObjectLink>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_chunk_size: Option<usize>,
}

#[derive(Serialize, Deserialize)]
struct Wire {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    headers: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<HashMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    options: Option<WireOptions>,
    #[serde(default)]
    bucket: String,
    #[serde(default)]
    nuid: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    chunks: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

impl ObjectInfo {
    /// The JSON stored in the meta subject.
    pub(crate) fn to_json(&self) -> Vec<u8> {
        let headers = self.headers.as_ref().filter(|h| !h.is_empty()).map(|h| {
            let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (k, v) in h.iter() {
                m.entry(k.to_string()).or_default().push(v.to_string());
            }
            m
        });
        let options = if self.link.is_some() || self.max_chunk_size.is_some() {
            Some(WireOptions {
                link: self.link.clone(),
                max_chunk_size: self.max_chunk_size,
            })
        } else {
            None
        };
        let w = Wire {
            name: self.name.clone(),
            description: Some(self.description.clone()).filter(|d| !d.is_empty()),
            headers,
            metadata: Some(self.metadata.clone()).filter(|m| !m.is_empty()),
            options,
            bucket: self.bucket.clone(),
            nuid: self.nuid.clone(),
            size: self.size,
            chunks: self.chunks,
            digest: self.digest.clone().filter(|d| !d.is_empty()),
            deleted: self.deleted,
        };
        serde_json::to_vec(&w).expect("object info serializes")
    }

    /// Parses stored JSON; `modified` is the meta message's timestamp.
    pub(crate) fn from_json(data: &[u8], modified: Option<SystemTime>) -> Result<ObjectInfo> {
        let w: Wire = serde_json::from_slice(data)
            .map_err(|e| Error::new(ErrorKind::Protocol, "malformed object info").with_source(e))?;
        let headers = w.headers.filter(|m| !m.is_empty()).map(|m| {
            let mut h = Headers::new();
            for (k, vs) in m {
                for v in vs {
                    h.append(k.clone(), v);
                }
            }
            h
        });
        let o = w.options.unwrap_or_default();
        Ok(ObjectInfo {
            name: w.name,
            description: w.description.unwrap_or_default(),
            headers,
            metadata: w.metadata.unwrap_or_default(),
            link: o.link,
            max_chunk_size: o.max_chunk_size.filter(|&n| n > 0),
            bucket: w.bucket,
            nuid: w.nuid,
            size: w.size,
            chunks: w.chunks,
            digest: w.digest.filter(|d| !d.is_empty()),
            deleted: w.deleted,
            modified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_digests_are_padded_base64url() {
        assert_eq!(encode_name("a"), "YQ==");
        assert_eq!(encode_name("ab"), "YWI=");
        assert_eq!(encode_name("abc"), "YWJj");
        assert_eq!(encode_name("??>"), "Pz8-");
        assert_eq!(encode_name("~~~?"), "fn5-Pw==");
        // SHA-256 of "" as nats.go writes it.
        let d = ring::digest::digest(&ring::digest::SHA256, b"");
        assert_eq!(
            digest_string(d.as_ref()),
            "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn json_round_trip_and_nats_go_shape() {
        let mut h = Headers::new();
        h.append("X-A", "1");
        h.append("X-A", "2");
        let info = ObjectInfo {
            name: "n".into(),
            description: "d".into(),
            headers: Some(h),
            metadata: HashMap::from([("k".into(), "v".into())]),
            link: None,
            max_chunk_size: Some(1024),
            bucket: "b".into(),
            nuid: "N".into(),
            size: 3,
            chunks: 1,
            digest: Some("SHA-256=x".into()),
            deleted: false,
            modified: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&info.to_json()).unwrap();
        assert_eq!(v["headers"]["X-A"], serde_json::json!(["1", "2"]));
        assert_eq!(v["options"]["max_chunk_size"], 1024);
        assert!(v.get("deleted").is_none());
        assert!(v.get("mtime").is_none());
        assert_eq!(ObjectInfo::from_json(&info.to_json(), None).unwrap(), info);
        // What nats.go and nats-py write, nulls and all.
        let go = br#"{"name":"f","description":"","headers":null,"options":{"link":{"bucket":"o","name":"x"}},
            "bucket":"b","nuid":"Q","size":0,"mtime":"0001-01-01T00:00:00Z","chunks":0,"digest":"","deleted":true}"#;
        let i = ObjectInfo::from_json(go, None).unwrap();
        assert!(i.deleted && i.is_link() && i.digest.is_none() && i.headers.is_none());
        assert_eq!(i.link.unwrap().name.as_deref(), Some("x"));
        assert_eq!(
            ObjectInfo::from_json(b"{", None).unwrap_err().kind(),
            ErrorKind::Protocol
        );
    }
}
