//! Reading objects back: an ordered consumer on the chunk subject behind a `Read`, which
//! checks size, chunk count and SHA-256 when the last chunk has been read (ADR-20).

use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::info::{digest_string, ObjectInfo};
use super::ObjectStore;
use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::{ConsumeOptions, OrderedConsumerConfig, OrderedMessages};

/// An object being read ([`ObjectStore::get`]). Reading past the end checks the object:
/// a wrong size or digest is an `io::Error` wrapping an [`ErrorKind::DigestMismatch`]
/// natsws error (`natsws::Error` is its source), never silently wrong bytes.
pub struct ObjectReader {
    info: ObjectInfo,
    msgs: Option<OrderedMessages>,
    chunk: Bytes,
    hasher: Option<ring::digest::Context>,
    size: u64,
    chunks: u64,
    last_seen: bool,
    outcome: Option<std::result::Result<(), Error>>,
    timeout: Duration,
}

impl fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectReader")
            .field("name", &self.info.name)
            .field("size", &self.info.size)
            .field("read", &self.size)
            .finish()
    }
}

impl ObjectStore {
    /// Opens an object for reading (following a link). [`ErrorKind::ObjectNotFound`] when
    /// there is none or it was deleted.
    pub fn get(&self, name: &str) -> Result<ObjectReader> {
        let info = self.info(name)?;
        let info = match &info.link {
            None => info,
            Some(link) => {
                let Some(target) = &link.name else {
                    return Err(Error::new(
                        ErrorKind::InvalidOption,
                        format!(
                            "'{name}' is a link to the bucket '{}': it cannot be read",
                            link.bucket
                        ),
                    ));
                };
                let store = if link.bucket == self.bucket {
                    self.clone()
                } else {
                    self.js.object_store(&link.bucket)?
                };
                let t = store.info(target)?;
                if t.link.is_some() {
                    return Err(Error::new(
                        ErrorKind::InvalidOption,
                        format!("'{name}' links to a link"),
                    ));
                }
                return store.reader(t);
            }
        };
        self.reader(info)
    }

    fn reader(&self, info: ObjectInfo) -> Result<ObjectReader> {
        let msgs = if info.chunks == 0 && info.size == 0 {
            None
        } else {
            // Enough for two of the largest chunks the server allows, at least 4 MiB: a
            // bounded buffer whatever the object's size.
            let max = self.js.connection().max_payload();
            let budget = (2 * (max + 4096)).max(4 << 20);
            let oc = self.js.ordered_consumer(
                self.stream.name(),
                OrderedConsumerConfig::new()
                    .filter_subjects([self.chunk_subject(&info.nuid)])
                    .inactive_threshold(Duration::from_secs(60)),
            )?;
            Some(oc.messages(ConsumeOptions::new().max_bytes(budget))?)
        };
        Ok(ObjectReader {
            info,
            msgs,
            chunk: Bytes::new(),
            hasher: Some(ring::digest::Context::new(&ring::digest::SHA256)),
            size: 0,
            chunks: 0,
            last_seen: false,
            outcome: None,
            timeout: self.js.timeout(),
        })
    }

    /// Reads a whole object into memory (for small objects; [`get`](Self::get) streams).
    pub fn get_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let mut r = self.get(name)?;
        let mut out = Vec::with_capacity(r.info.size.min(64 << 20) as usize);
        r.read_to_end(&mut out).map_err(from_io)?;
        Ok(out)
    }

    /// Streams an object into a file (created or truncated); returns its info.
    pub fn get_file(&self, name: &str, path: impl AsRef<Path>) -> Result<ObjectInfo> {
        let path = path.as_ref();
        let mut r = self.get(name)?;
        let mut f = std::fs::File::create(path)
            .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
        io::copy(&mut r, &mut f).map_err(from_io)?;
        f.flush()
            .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        Ok(r.info)
    }
}

/// Back from `io::Error` to the natsws error inside, if there is one.
fn from_io(e: io::Error) -> Error {
    let natsws = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<Error>())
        .cloned();
    natsws.unwrap_or_else(|| Error::io("reading an object", e))
}

impl ObjectReader {
    /// The object's info.
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    fn mismatch(&self, why: String) -> Error {
        Error::new(
            ErrorKind::DigestMismatch,
            format!(
                "object '{}' of bucket '{}': {why}",
                self.info.name, self.info.bucket
            ),
        )
    }

    /// Checks what was read against the info (once).
    fn finish(&mut self) -> std::result::Result<(), Error> {
        if let Some(r) = &self.outcome {
            return r.clone();
        }
        let digest = digest_string(self.hasher.take().expect("hashed once").finish().as_ref());
        let r = if self.size != self.info.size || self.chunks != self.info.chunks {
            Err(self.mismatch(format!(
                "read {} bytes in {} chunks, the info says {} in {}",
                self.size, self.chunks, self.info.size, self.info.chunks
            )))
        } else if self.info.digest.as_deref() != Some(digest.as_str()) {
            Err(self.mismatch(format!(
                "digest {digest}, the info says {}",
                self.info.digest.as_deref().unwrap_or("none")
            )))
        } else {
            Ok(())
        };
        self.msgs = None;
        self.outcome = Some(r.clone());
        r
    }

    /// The next chunk; `false` at the end.
    fn next_chunk(&mut self) -> std::result::Result<bool, Error> {
        if self.last_seen {
            return Ok(false);
        }
        let Some(msgs) = self.msgs.as_mut() else {
            return Ok(false);
        };
        let m = msgs.next_timeout(self.timeout)?;
        let md = m.metadata()?;
        let data = m.payload().clone();
        self.size += data.len() as u64;
        self.chunks += 1;
        if self.size > self.info.size {
            return Err(self.mismatch(format!(
                "more than the {} bytes the info says",
                self.info.size
            )));
        }
        if let Some(h) = self.hasher.as_mut() {
            h.update(&data);
        }
        if md.num_pending == 0 {
            self.last_seen = true;
        }
        self.chunk = data;
        Ok(true)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.chunk.is_empty() {
                let n = buf.len().min(self.chunk.len());
                buf[..n].copy_from_slice(&self.chunk[..n]);
                let _ = self.chunk.split_to(n);
                return Ok(n);
            }
            if self.outcome.is_some() {
                return self.finish().map(|()| 0).map_err(io::Error::from);
            }
            match self.next_chunk() {
                Ok(true) => {}
                Ok(false) => return self.finish().map(|()| 0).map_err(io::Error::from),
                Err(e) => {
                    if e.kind() == ErrorKind::DigestMismatch {
                        self.outcome = Some(Err(e.clone()));
                        self.msgs = None;
                    }
                    return Err(io::Error::from(e));
                }
            }
        }
    }
}
