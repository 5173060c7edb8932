//! Bucket names of Key-Value and Object Store buckets: `[A-Za-z0-9_-]+` (ADR-8, ADR-20),
//! checked before anything is sent.

use crate::error::{Error, ErrorKind, Result};

pub(crate) fn validate(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!("invalid bucket name '{name}': use A-Z a-z 0-9 _ - only"),
        ));
    }
    Ok(())
}
