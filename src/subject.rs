//! Subject and queue name checks, done before anything is written to the server.
//!
//! Each check is one pass over the bytes with no allocation on success.

use crate::{Error, ErrorKind};

#[inline]
fn is_space_or_nul(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0x0b | 0x0c | 0)
}

#[derive(Clone, Copy, PartialEq)]
enum Wildcards {
    /// `*` and `>` tokens are errors.
    Forbidden,
    /// `*` tokens anywhere, `>` only as the last token.
    Allowed,
}

/// Why `subject` is invalid, or `None`.
#[inline]
fn check(subject: &str, wildcards: Wildcards) -> Option<&'static str> {
    let s = subject.as_bytes();
    if s.is_empty() {
        return Some("is empty");
    }
    let mut token_start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'.' {
            if let Some(why) = check_token(&s[token_start..i], false, wildcards) {
                return Some(why);
            }
            token_start = i + 1;
        } else if is_space_or_nul(b) {
            return Some(if b == 0 {
                "contains NUL"
            } else {
                "contains whitespace"
            });
        }
    }
    check_token(&s[token_start..], true, wildcards)
}

#[inline]
fn check_token(token: &[u8], last: bool, wildcards: Wildcards) -> Option<&'static str> {
    match (token, wildcards) {
        ([], _) => Some("has an empty token"),
        (b"*" | b">", Wildcards::Forbidden) => Some("has a wildcard token"),
        (b">", Wildcards::Allowed) if !last => Some("has '>' before the last token"),
        _ => None,
    }
}

/// A subject to publish to: no empty tokens, whitespace, NUL or wildcard tokens.
pub(crate) fn validate_publish(subject: &str) -> Result<(), Error> {
    match check(subject, Wildcards::Forbidden) {
        None => Ok(()),
        Some(why) => Err(Error::new(
            ErrorKind::InvalidSubject,
            format!("publish subject {subject:?} {why}"),
        )),
    }
}

/// A subject to subscribe to: no empty tokens, whitespace or NUL; `>` only last.
pub(crate) fn validate_subscribe(subject: &str) -> Result<(), Error> {
    match check(subject, Wildcards::Allowed) {
        None => Ok(()),
        Some(why) => Err(Error::new(
            ErrorKind::InvalidSubject,
            format!("subscription subject {subject:?} {why}"),
        )),
    }
}

/// A queue group name: non-empty, no whitespace or NUL.
pub(crate) fn validate_queue(queue: &str) -> Result<(), Error> {
    let why = if queue.is_empty() {
        "is empty"
    } else {
        match queue.bytes().find(|&b| is_space_or_nul(b)) {
            None => return Ok(()),
            Some(0) => "contains NUL",
            Some(_) => "contains whitespace",
        }
    };
    Err(Error::new(
        ErrorKind::InvalidQueue,
        format!("queue group {queue:?} {why}"),
    ))
}

/// A reply subject: the same rules as a publish subject.
pub(crate) fn validate_reply(reply: &str) -> Result<(), Error> {
    match check(reply, Wildcards::Forbidden) {
        None => Ok(()),
        Some(why) => Err(Error::new(
            ErrorKind::InvalidSubject,
            format!("reply subject {reply:?} {why}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALWAYS_VALID: &[&str] = &[
        "foo",
        "foo.bar",
        "a.b.c.d",
        "foo*",
        "a>b",
        "*a",
        ">a.b",
        "$JS.API.INFO",
        "_INBOX.abc.1",
        "ünïcode.ok",
        "a-b_c/d=e",
    ];
    const ALWAYS_INVALID: &[&str] = &[
        "",
        ".",
        "..",
        ".foo",
        "foo.",
        "foo..bar",
        "foo bar",
        "foo\tbar",
        "foo\r",
        "\nfoo",
        "a\x0bb",
        "a\x0cb",
        "a\0b",
        " ",
        "foo. .bar",
    ];

    #[test]
    fn publish_and_reply() {
        for s in ALWAYS_VALID {
            validate_publish(s).unwrap();
            validate_reply(s).unwrap();
        }
        for s in ALWAYS_INVALID
            .iter()
            .chain(&["*", ">", "foo.*", "foo.>", "*.foo", "a.>.b"])
        {
            let e = validate_publish(s).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSubject, "{s:?}");
            assert!(e.to_string().contains(&format!("{s:?}")), "{e}");
            let e = validate_reply(s).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSubject);
            assert!(e.to_string().contains("reply"), "{e}");
        }
    }

    #[test]
    fn subscribe() {
        for s in ALWAYS_VALID
            .iter()
            .chain(&["*", ">", "foo.*", "foo.>", "*.*.>", "a.*.b"])
        {
            validate_subscribe(s).unwrap();
        }
        for s in ALWAYS_INVALID
            .iter()
            .chain(&[">.a", "a.>.b", "a.>.>", "foo.>."])
        {
            let e = validate_subscribe(s).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSubject, "{s:?}");
            assert!(e.to_string().contains(&format!("{s:?}")), "{e}");
        }
        assert!(validate_subscribe("a.>.b")
            .unwrap_err()
            .to_string()
            .contains("'>'"));
        assert!(validate_subscribe("a..b")
            .unwrap_err()
            .to_string()
            .contains("empty token"));
        assert!(validate_publish("a.*")
            .unwrap_err()
            .to_string()
            .contains("wildcard"));
    }

    #[test]
    fn queue() {
        for q in ["q", "workers", "a.b", "*", "q-1_x"] {
            validate_queue(q).unwrap();
        }
        for q in ["", " ", "a b", "a\tb", "a\r\n", "a\0"] {
            let e = validate_queue(q).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidQueue, "{q:?}");
            assert!(e.to_string().contains("queue group"), "{e}");
        }
    }
}
