//! An object store's objects: info, delete, metadata updates, links; the bucket's status
//! and seal.

use super::config::Status;
use super::info::{ObjectInfo, ObjectLink, ObjectMeta};
use super::put::check_name;
use super::ObjectStore;
use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::PurgeOptions;
use crate::marked_watch::bucket_not_found;

fn not_found(bucket: &str, name: &str) -> Error {
    Error::new(
        ErrorKind::ObjectNotFound,
        format!("object '{name}' not found in bucket '{bucket}'"),
    )
}

impl ObjectStore {
    /// The info of object `name`; [`ErrorKind::ObjectNotFound`] when there is none or it
    /// was deleted.
    pub fn info(&self, name: &str) -> Result<ObjectInfo> {
        match self.info_any(name)? {
            Some(i) if !i.deleted => Ok(i),
            _ => Err(not_found(&self.bucket, name)),
        }
    }

    /// The latest info of `name`, deleted ones included; `None` when there is none.
    pub(crate) fn info_any(&self, name: &str) -> Result<Option<ObjectInfo>> {
        check_name(name)?;
        match self.stream.direct_get_last(&self.meta_subject(name)) {
            Ok(raw) => Ok(Some(ObjectInfo::from_json(&raw.payload, raw.time)?)),
            Err(e) if e.kind() == ErrorKind::MessageNotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes object `name`: its info becomes a tombstone and its chunks go.
    pub fn delete(&self, name: &str) -> Result<()> {
        let mut info = self.info(name)?;
        let nuid = info.nuid.clone();
        info.deleted = true;
        info.size = 0;
        info.chunks = 0;
        info.digest = None;
        self.publish_info(&info)?;
        if !nuid.is_empty() {
            self.stream
                .purge(PurgeOptions::new().filter(self.chunk_subject(&nuid)))?;
        }
        Ok(())
    }

    /// Changes an object's name, description, headers and metadata (not its content or
    /// chunk size). Renaming onto a live object is [`ErrorKind::ObjectExists`].
    pub fn update_meta(&self, name: &str, meta: ObjectMeta) -> Result<ObjectInfo> {
        check_name(&meta.name)?;
        let mut info = self.info(name)?;
        let renamed = meta.name != name;
        if renamed {
            if let Some(other) = self.info_any(&meta.name)? {
                if !other.deleted {
                    return Err(Error::new(
                        ErrorKind::ObjectExists,
                        format!("cannot rename '{name}' to '{}': it exists", meta.name),
                    ));
                }
            }
        }
        info.name = meta.name;
        info.description = meta.description;
        info.headers = meta.headers;
        info.metadata = meta.metadata;
        self.publish_info(&info)?;
        if renamed {
            self.stream
                .purge(PurgeOptions::new().filter(self.meta_subject(name)))?;
        }
        info.modified = Some(std::time::SystemTime::now());
        Ok(info)
    }

    /// Makes `name` a link to the object `target` (of this bucket or another). Refused
    /// for a target that is a link, deleted or missing ([`ErrorKind::ObjectNotFound`]),
    /// and over a live object that is not a link ([`ErrorKind::ObjectExists`]).
    pub fn add_link(&self, name: &str, target: &ObjectInfo) -> Result<ObjectInfo> {
        check_name(name)?;
        if target.link.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!(
                    "'{}' is a link: links to links are not allowed",
                    target.name
                ),
            ));
        }
        if target.deleted {
            return Err(not_found(&target.bucket, &target.name));
        }
        // The target as stored now (it may have gone since `target` was read).
        let store = if target.bucket == self.bucket {
            self.clone()
        } else {
            self.js.object_store(&target.bucket)?
        };
        let now = store.info(&target.name)?;
        if now.link.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!(
                    "'{}' is a link: links to links are not allowed",
                    target.name
                ),
            ));
        }
        self.link(
            name,
            ObjectLink {
                bucket: target.bucket.clone(),
                name: Some(target.name.clone()),
            },
        )
    }

    /// Makes `name` a link to the bucket `bucket`.
    pub fn add_bucket_link(&self, name: &str, bucket: &ObjectStore) -> Result<ObjectInfo> {
        check_name(name)?;
        self.link(
            name,
            ObjectLink {
                bucket: bucket.bucket.clone(),
                name: None,
            },
        )
    }

    fn link(&self, name: &str, link: ObjectLink) -> Result<ObjectInfo> {
        if let Some(existing) = self.info_any(name)? {
            if !existing.deleted && existing.link.is_none() {
                return Err(Error::new(
                    ErrorKind::ObjectExists,
                    format!("'{name}' is an object: a link cannot replace it"),
                ));
            }
        }
        let mut info = ObjectInfo {
            name: name.to_string(),
            description: String::new(),
            headers: None,
            metadata: Default::default(),
            link: Some(link),
            max_chunk_size: None,
            bucket: self.bucket.clone(),
            nuid: nuid::next().to_string(),
            size: 0,
            chunks: 0,
            digest: None,
            deleted: false,
            modified: None,
        };
        self.publish_info(&info)?;
        info.modified = Some(std::time::SystemTime::now());
        Ok(info)
    }

    /// The bucket's state (one API call).
    pub fn status(&self) -> Result<Status> {
        let mut s = self.stream.clone();
        let info = s.info().map_err(bucket_not_found)?;
        Ok(Status {
            bucket: self.bucket.clone(),
            info,
        })
    }

    /// Seals the bucket: no more puts, deletes or purges.
    pub fn seal(&self) -> Result<()> {
        let mut s = self.stream.clone();
        let mut config = s.info().map_err(bucket_not_found)?.config;
        config.sealed = true;
        self.js.update_stream(config)?;
        Ok(())
    }
}
