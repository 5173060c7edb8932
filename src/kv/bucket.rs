//! Bucket management on the JetStream context: create, update, open, delete, names, list.

use super::config::{stream_name, Config, Status};
use super::KeyValue;
use crate::error::{Error, ErrorKind, Result};
use crate::jetstream::JetStream;
use crate::marked_watch::bucket_not_found;

impl JetStream {
    /// Creates a Key-Value bucket (the stream `KV_<bucket>`). Creating it again with the same
    /// configuration is `Ok`; with another one it fails with [`ErrorKind::BucketExists`].
    pub fn create_key_value(&self, config: Config) -> Result<KeyValue> {
        let sc = checked(self, &config)?;
        match self.create_stream(sc) {
            Ok(s) => Ok(KeyValue::bind(self, &config.bucket, s)),
            Err(e) if e.api_error().map(|a| a.err_code) == Some(10058) => {
                let mut out = Error::new(
                    ErrorKind::BucketExists,
                    format!(
                        "bucket '{}' exists with another configuration",
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

    /// Updates a bucket's configuration; [`ErrorKind::BucketNotFound`] if there is none.
    pub fn update_key_value(&self, config: Config) -> Result<KeyValue> {
        let sc = checked(self, &config)?;
        let s = self.update_stream(sc).map_err(bucket_not_found)?;
        Ok(KeyValue::bind(self, &config.bucket, s))
    }

    /// Updates the bucket, or creates it when there is none.
    pub fn create_or_update_key_value(&self, config: Config) -> Result<KeyValue> {
        match self.update_key_value(config.clone()) {
            Err(e) if e.kind() == ErrorKind::BucketNotFound => self.create_key_value(config),
            r => r,
        }
    }

    /// Opens an existing bucket (one API call); [`ErrorKind::BucketNotFound`] if there is none.
    pub fn key_value(&self, bucket: &str) -> Result<KeyValue> {
        super::validate::bucket(bucket)?;
        let s = self
            .stream(&stream_name(bucket))
            .map_err(bucket_not_found)?;
        Ok(KeyValue::bind(self, bucket, s))
    }

    /// Deletes a bucket and everything in it.
    pub fn delete_key_value(&self, bucket: &str) -> Result<()> {
        super::validate::bucket(bucket)?;
        self.delete_stream(&stream_name(bucket))
            .map_err(bucket_not_found)
    }

    /// The names of all Key-Value buckets (streams named `KV_…` capturing `$KV.*.>`).
    pub fn key_value_store_names(&self) -> impl Iterator<Item = Result<String>> {
        self.stream_names_by_subject("$KV.*.>")
            .filter_map(|r| match r {
                Ok(n) => n.strip_prefix("KV_").map(|b| Ok(b.to_string())),
                Err(e) => Some(Err(e)),
            })
    }

    /// The status of every Key-Value bucket.
    pub fn key_value_stores(&self) -> impl Iterator<Item = Result<Status>> {
        self.streams().filter_map(|r| match r {
            Ok(info) => {
                let bucket = info.config.name.strip_prefix("KV_")?.to_string();
                Some(Ok(Status { bucket, info }))
            }
            Err(e) => Some(Err(e)),
        })
    }
}

/// The stream config, after checking what needs the server's API level.
fn checked(js: &JetStream, config: &Config) -> Result<crate::jetstream::StreamConfig> {
    let sc = config.to_stream()?;
    if config.limit_marker_ttl.is_some() {
        let level = js.account_info()?.api.level;
        if level < 1 {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                "limit markers need nats-server 2.11 or later (JetStream API level 1)",
            ));
        }
    }
    Ok(sc)
}
