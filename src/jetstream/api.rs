//! The JetStream API envelope: names, reply parsing, and server errors mapped to kinds.

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::error::{ApiError, Error, ErrorKind, Result};

/// The longest stream or consumer name nats-server accepts.
const MAX_NAME_LEN: usize = 255;

/// Checks a stream or consumer name before it goes into a subject: not empty, at most 255
/// bytes, and none of whitespace, `.`, `*`, `>`, `/`, `\` or control characters (ADR-6).
pub(crate) fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!("the {what} name is empty"),
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!("the {what} name is longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        return Err(Error::new(
            ErrorKind::InvalidName,
            format!(
                "the {what} name '{}' has the character {c:?}",
                name.escape_debug()
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    error: Option<ApiError>,
}

/// The error for an API error reply, with the kind callers branch on.
pub(crate) fn api_error(api: ApiError) -> Error {
    let kind = match api.err_code {
        10059 => ErrorKind::StreamNotFound,
        10014 => ErrorKind::ConsumerNotFound,
        10037 => ErrorKind::MessageNotFound,
        10071 | 10164 => ErrorKind::WrongLastSequence,
        10039 | 10076 => ErrorKind::JetStreamNotEnabled,
        _ => ErrorKind::JetStream,
    };
    Error::bare(kind).with_api_error(api)
}

/// Parses an API reply: the server's error as an [`Error`], or the response as `T`. Anything
/// that is not the JSON the API promises is a protocol error.
pub(crate) fn parse_response<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    let env: Envelope = serde_json::from_slice(payload).map_err(malformed)?;
    if let Some(api) = env.error {
        return Err(api_error(api));
    }
    serde_json::from_slice(payload).map_err(malformed)
}

pub(crate) fn malformed(e: serde_json::Error) -> Error {
    Error::new(ErrorKind::Protocol, "malformed JetStream API reply").with_source(e)
}

/// The error for "nobody answers on the JetStream API".
pub(crate) fn not_enabled(subject: &str) -> Error {
    Error::new(
        ErrorKind::JetStreamNotEnabled,
        format!("no JetStream responder on '{subject}'"),
    )
}

/// `{"success": true}` replies (delete, purge…).
#[derive(Deserialize)]
pub(crate) struct Success {
    #[serde(default)]
    pub(crate) success: bool,
}

/// Reads the `total`/`offset`/`limit` of a paged reply.
#[derive(Deserialize, Default)]
pub(crate) struct Page {
    #[serde(default)]
    pub(crate) total: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["ORDERS", "a-b_c", "ünïcode", &"x".repeat(255)] {
            validate_name("stream", ok).unwrap();
        }
        for bad in [
            "",
            "a.b",
            "a b",
            "a*",
            "a>",
            "a/b",
            "a\\b",
            "a\tb",
            "a\u{1}",
            &"x".repeat(256),
        ] {
            let e = validate_name("stream", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidName, "{bad:?}");
        }
    }

    #[derive(Deserialize, Debug)]
    struct Info {
        name: String,
    }

    #[test]
    fn errors_map_to_kinds() {
        let cases = [
            (10059, ErrorKind::StreamNotFound),
            (10014, ErrorKind::ConsumerNotFound),
            (10037, ErrorKind::MessageNotFound),
            (10071, ErrorKind::WrongLastSequence),
            (10164, ErrorKind::WrongLastSequence),
            (10039, ErrorKind::JetStreamNotEnabled),
            (10076, ErrorKind::JetStreamNotEnabled),
            (10058, ErrorKind::JetStream),
        ];
        for (code, kind) in cases {
            let json = format!(
                r#"{{"type":"io.nats.jetstream.api.v1.stream_info_response","error":{{"code":404,"err_code":{code},"description":"words"}}}}"#
            );
            let e = parse_response::<Info>(json.as_bytes()).unwrap_err();
            assert_eq!(e.kind(), kind, "{code}");
            let api = e.api_error().unwrap();
            assert_eq!((api.code, api.err_code), (404, code));
            assert_eq!(api.description, "words");
            assert!(e.to_string().contains("words"), "{e}");
        }
    }

    #[test]
    fn good_reply_and_unknown_fields() {
        let i: Info = parse_response(br#"{"type":"x","name":"S","new_field":[1,2]}"#).unwrap();
        assert_eq!(i.name, "S");
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        for bad in [
            &b""[..],
            b"{",
            b"null",
            b"[1]",
            b"{\"error\":5}",
            b"{\"name\":3}",
            b"\xff",
        ] {
            let e = parse_response::<Info>(bad).unwrap_err();
            assert_eq!(
                e.kind(),
                ErrorKind::Protocol,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
