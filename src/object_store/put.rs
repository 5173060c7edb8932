//! Writing objects: chunks read from any `Read`, hashed and published through the publish
//! window; then the info; then the previous version's chunks go (ADR-20,
//! `go:jetstream/object.go` Put).

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::time::SystemTime;

use super::info::{digest_string, ObjectInfo, ObjectMeta, DEFAULT_CHUNK_SIZE};
use super::ObjectStore;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::jetstream::{PubAckFuture, PublishOptions, PurgeOptions, ROLLUP, ROLLUP_SUBJECT};
use crate::message::Message;

/// Reads until `buf` is full or the reader ends; returns how many bytes.
fn fill(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(crate) fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidName,
            "an object name is empty",
        ));
    }
    Ok(())
}

impl ObjectStore {
    /// Writes an object from `reader`, in chunks, replacing any object of that name; returns
    /// its info. Nothing is held beyond one chunk and the acks in flight. A failed put
    /// leaves the previous version in place and removes its own chunks.
    pub fn put(&self, meta: ObjectMeta, reader: &mut impl Read) -> Result<ObjectInfo> {
        check_name(&meta.name)?;
        let max_payload = self.js.connection().max_payload();
        let chunk_size = match meta.chunk_size {
            Some(0) => {
                return Err(Error::new(ErrorKind::InvalidOption, "a chunk size of 0"));
            }
            Some(n) if n > max_payload => {
                return Err(Error::new(
                    ErrorKind::InvalidOption,
                    format!("chunk size {n} is above the server's max_payload of {max_payload}"),
                ));
            }
            Some(n) => n,
            None => DEFAULT_CHUNK_SIZE.min(max_payload),
        };
        let previous = self.info_any(&meta.name)?;
        let nuid = nuid::next().to_string();
        let chunk_subject = self.chunk_subject(&nuid);
        let mut info = ObjectInfo {
            name: meta.name.clone(),
            description: meta.description.clone(),
            headers: meta.headers.clone(),
            metadata: meta.metadata.clone(),
            link: None,
            max_chunk_size: meta.chunk_size,
            bucket: self.bucket.clone(),
            nuid: nuid.clone(),
            size: 0,
            chunks: 0,
            digest: None,
            deleted: false,
            modified: None,
        };
        match self.write_chunks(&chunk_subject, chunk_size, reader, &mut info) {
            Ok(()) => {}
            Err(e) => {
                self.purge_quietly(&chunk_subject);
                return Err(e);
            }
        }
        if let Err(e) = self.publish_info(&info) {
            self.purge_quietly(&chunk_subject);
            return Err(e);
        }
        if let Some(old) = previous {
            if old.nuid != nuid && !old.nuid.is_empty() && old.link.is_none() {
                self.stream
                    .purge(PurgeOptions::new().filter(self.chunk_subject(&old.nuid)))?;
            }
        }
        info.modified = Some(SystemTime::now());
        Ok(info)
    }

    fn write_chunks(
        &self,
        subject: &str,
        chunk_size: usize,
        reader: &mut impl Read,
        info: &mut ObjectInfo,
    ) -> Result<()> {
        let mut pending: VecDeque<PubAckFuture> = VecDeque::new();
        let r = self.write_chunks_inner(subject, chunk_size, reader, info, &mut pending);
        if r.is_err() {
            // Chunks still in flight must be stored (or failed) before the caller purges the
            // new chunks, or they would land after the purge.
            let timeout = self.js.timeout();
            for mut f in pending {
                let _ = f.wait(timeout);
            }
        }
        r
    }

    fn write_chunks_inner(
        &self,
        subject: &str,
        chunk_size: usize,
        reader: &mut impl Read,
        info: &mut ObjectInfo,
        pending: &mut VecDeque<PubAckFuture>,
    ) -> Result<()> {
        let mut hasher = ring::digest::Context::new(&ring::digest::SHA256);
        let mut buf = vec![0u8; chunk_size];
        let opts = PublishOptions::new();
        loop {
            let n = fill(reader, &mut buf)
                .map_err(|e| Error::io(format!("reading the object to put: {e}"), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            pending.push_back(self.js.publish_async_with(subject, &buf[..n], &opts)?);
            info.size += n as u64;
            info.chunks += 1;
            // Settle the acks already in, so a failure stops the put early and the list
            // of futures stays short.
            while let Some(f) = pending.front_mut() {
                match f.try_get() {
                    Some(r) => {
                        r?;
                        pending.pop_front();
                    }
                    None => break,
                }
            }
            if n < chunk_size {
                break;
            }
        }
        let timeout = self.js.timeout();
        while let Some(mut f) = pending.pop_front() {
            if let Err(e) = f.wait(timeout) {
                pending.push_front(f);
                return Err(e);
            }
        }
        info.digest = Some(digest_string(hasher.finish().as_ref()));
        Ok(())
    }

    /// Publishes `info` to its meta subject, rolling up the previous one.
    pub(crate) fn publish_info(&self, info: &ObjectInfo) -> Result<()> {
        let mut h = Headers::new();
        h.insert(ROLLUP, ROLLUP_SUBJECT);
        let msg = Message::new(self.meta_subject(&info.name), info.to_json()).with_headers(h);
        self.js.publish_message(&msg, &PublishOptions::new())?;
        Ok(())
    }

    pub(crate) fn purge_quietly(&self, subject: &str) {
        if let Err(e) = self.stream.purge(PurgeOptions::new().filter(subject)) {
            log::warn!(
                "object store '{}': cannot purge {subject}: {e}",
                self.bucket
            );
        }
    }

    /// [`put`](Self::put) from bytes.
    pub fn put_bytes(&self, name: &str, data: impl AsRef<[u8]>) -> Result<ObjectInfo> {
        self.put(ObjectMeta::new(name), &mut data.as_ref())
    }

    /// [`put`](Self::put) from a file, streamed.
    pub fn put_file(&self, meta: ObjectMeta, path: impl AsRef<Path>) -> Result<ObjectInfo> {
        let path = path.as_ref();
        let mut f = std::fs::File::open(path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        self.put(meta, &mut f)
    }
}
