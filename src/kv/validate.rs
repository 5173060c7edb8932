//! Bucket names and keys: checked before anything is sent (`go:jetstream/kv.go` keyValid,
//! ADR-8).

use crate::error::{Error, ErrorKind, Result};

/// A bucket name: `[A-Za-z0-9_-]+` (ADR-8).
pub(crate) fn bucket(name: &str) -> Result<()> {
    crate::bucket_name::validate(name)
}

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'/' | b'_' | b'=' | b'.')
}

fn shape(key: &str, what: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::new(
            ErrorKind::InvalidKey,
            format!("invalid {what} '{key}': {why}"),
        ))
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.starts_with('.') || key.ends_with('.') {
        return bad("it starts or ends with '.'");
    }
    if key.contains("..") {
        return bad("an empty token ('..')");
    }
    Ok(())
}

/// A key to put, get or delete: `[-/_=.A-Za-z0-9]+`, no leading or trailing `.`, no `..`.
pub(crate) fn key(key: &str) -> Result<()> {
    shape(key, "key")?;
    if let Some(c) = key.bytes().find(|&b| !key_char(b)) {
        return Err(Error::new(
            ErrorKind::InvalidKey,
            format!(
                "invalid key '{key}': the character {:?} is not allowed (A-Z a-z 0-9 - / _ = . only{})",
                c as char,
                if c == b'*' || c == b'>' { "; wildcards only in watch and keys filters" } else { "" }
            ),
        ));
    }
    Ok(())
}

/// A key filter for watch and keys: keys whose tokens may also be `*`, and a final `>`.
pub(crate) fn filter(filter: &str) -> Result<()> {
    shape(filter, "key filter")?;
    let tokens: Vec<&str> = filter.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        let ok = *t == "*" || (*t == ">" && i == tokens.len() - 1) || t.bytes().all(key_char);
        if !ok {
            return Err(Error::new(
                ErrorKind::InvalidKey,
                format!("invalid key filter '{filter}': bad token '{t}'"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets() {
        for ok in ["a", "A-b_9", "config"] {
            bucket(ok).unwrap();
        }
        for bad in ["", "a.b", "a b", "a*", "a>", "ä", "a/b"] {
            assert_eq!(
                bucket(bad).unwrap_err().kind(),
                ErrorKind::InvalidName,
                "{bad}"
            );
        }
    }

    #[test]
    fn keys() {
        for ok in ["a", "a.b", "A/b_c=d-e.9", "_kv.x", "=="] {
            key(ok).unwrap();
        }
        for bad in [
            "", ".a", "a.", "a..b", "a b", "a*", "a.>", "*", ">", "a\tb", "ä", "a:b",
        ] {
            assert_eq!(key(bad).unwrap_err().kind(), ErrorKind::InvalidKey, "{bad}");
        }
    }

    #[test]
    fn filters() {
        for ok in [">", "*", "a.*", "a.>", "a.*.c", "a"] {
            filter(ok).unwrap();
        }
        for bad in ["", "a.>.b", ">.a", "a*", "a..b", ".a", "a b", "a.b>"] {
            assert_eq!(
                filter(bad).unwrap_err().kind(),
                ErrorKind::InvalidKey,
                "{bad}"
            );
        }
    }
}
