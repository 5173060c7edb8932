//! Object store management on the JetStream context.

use super::config::{stream_name, Config, Status};
use super::ObjectStore;
use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::JetStream;
use crate::marked_watch::bucket_not_found;

impl JetStream {
    /// Creates an object store (the stream `OBJ_<bucket>`). Again with the same configuration
    /// is `Ok`; with another one [`ErrorKind::BucketExists`].
    pub fn create_object_store(&self, config: Config) -> Result<ObjectStore> {
        let sc = config.to_stream()?;
        match self.create_stream(sc) {
            Ok(s) => Ok(ObjectStore::bind(self, &config.bucket, s)),
            Err(e) if e.api_error().map(|a| a.err_code) == Some(10058) => {
                let mut out = Error::new(
                    ErrorKind::BucketExists,
                    format!(
                        "object store '{}' exists with another configuration",
                        config.bucket
                    ),
                );
                if let Some(a) = e.api_error() {
                    out = out.with_api_error(a.clone());
                }
                Err(out)
            }
            Err(e) => Err(e),
        }
    }

    /// Updates an object store's configuration; [`ErrorKind::BucketNotFound`] if none.
    pub fn update_object_store(&self, config: Config) -> Result<ObjectStore> {
        let sc = config.to_stream()?;
        let s = self.update_stream(sc).map_err(bucket_not_found)?;
        Ok(ObjectStore::bind(self, &config.bucket, s))
    }

    /// Opens an existing object store; [`ErrorKind::BucketNotFound`] if there is none.
    pub fn object_store(&self, bucket: &str) -> Result<ObjectStore> {
        crate::bucket_name::validate(bucket)?;
        let s = self
            .stream(&stream_name(bucket))
            .map_err(bucket_not_found)?;
        Ok(ObjectStore::bind(self, bucket, s))
    }

    /// Deletes an object store and everything in it.
    pub fn delete_object_store(&self, bucket: &str) -> Result<()> {
        crate::bucket_name::validate(bucket)?;
        self.delete_stream(&stream_name(bucket))
            .map_err(bucket_not_found)
    }

    /// The names of all object stores.
    pub fn object_store_names(&self) -> impl Iterator<Item = Result<String>> {
        self.stream_names_by_subject("$O.*.C.>")
            .filter_map(|r| match r {
                Ok(n) => n.strip_prefix("OBJ_").map(|b| Ok(b.to_string())),
                Err(e) => Some(Err(e)),
            })
    }

    /// The status of every object store.
    pub fn object_stores(&self) -> impl Iterator<Item = Result<Status>> {
        self.streams().filter_map(|r| match r {
            Ok(info) => {
                let bucket = info.config.name.strip_prefix("OBJ_")?.to_string();
                Some(Ok(Status { bucket, info }))
            }
            Err(e) => Some(Err(e)),
        })
    }
}
