//! What a server `-ERR` means: its [`ErrorKind`], whether the server closes the connection
//! after it, and which subscription or request a permissions violation concerns.
//! Texts and behaviour: NATS-SPEC.md §3 (server source `client.go`).

use crate::error::{Error, ErrorKind};

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Severity {
    /// The server closes the connection after sending it.
    Fatal,
    /// The connection stays up; the error concerns one operation.
    Async,
}

/// The error for a server `-ERR` text (quotes already removed).
pub(crate) fn classify(text: &str) -> Error {
    let lower = text.to_ascii_lowercase();
    let kind = if lower.starts_with("permissions violation") {
        ErrorKind::PermissionViolation
    } else if lower.starts_with("authorization violation") {
        ErrorKind::Authorization
    } else if lower.contains("authentication expired") {
        ErrorKind::AuthenticationExpired
    } else if lower.starts_with("maximum payload violation") {
        ErrorKind::MaxPayload
    } else if lower.starts_with("stale connection") {
        ErrorKind::StaleConnection
    } else if lower.starts_with("unknown protocol operation")
        || lower.starts_with("maximum control line exceeded")
    {
        ErrorKind::Protocol
    } else {
        ErrorKind::Server
    };
    Error::new(kind, "the server reported an error").with_server_text(text)
}

pub(crate) fn severity(text: &str) -> Severity {
    let lower = text.to_ascii_lowercase();
    const ASYNC: [&str; 5] = [
        "permissions violation",
        "maximum subscriptions exceeded",
        "invalid subject",
        "invalid publish subject",
        "failed account registration",
    ];
    if ASYNC.iter().any(|p| lower.starts_with(p)) {
        Severity::Async
    } else {
        Severity::Fatal
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    Subscription {
        subject: String,
        queue: Option<String>,
    },
    Publish {
        subject: String,
    },
}

/// For `Permissions Violation for Subscription to "s" [using queue "q"]` and
/// `Permissions Violation for Publish to "s"`: what was refused.
pub(crate) fn permission_target(text: &str) -> Option<Target> {
    let lower = text.to_ascii_lowercase();
    let quoted = quoted_strings(text);
    if lower.starts_with("permissions violation for subscription to") {
        let subject = quoted.first()?.clone();
        let queue = if lower.contains("using queue") {
            quoted.get(1).cloned()
        } else {
            None
        };
        Some(Target::Subscription { subject, queue })
    } else if lower.starts_with("permissions violation for publish to") {
        Some(Target::Publish {
            subject: quoted.first()?.clone(),
        })
    } else {
        None
    }
}

/// The double-quoted strings in `text`, in order.
fn quoted_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('"') else { break };
        out.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_severity() {
        for (text, kind, sev) in [
            (
                "Authorization Violation",
                ErrorKind::Authorization,
                Severity::Fatal,
            ),
            (
                "User Authentication Expired",
                ErrorKind::AuthenticationExpired,
                Severity::Fatal,
            ),
            (
                "Maximum Payload Violation",
                ErrorKind::MaxPayload,
                Severity::Fatal,
            ),
            (
                "Stale Connection",
                ErrorKind::StaleConnection,
                Severity::Fatal,
            ),
            (
                "maximum connections exceeded",
                ErrorKind::Server,
                Severity::Fatal,
            ),
            (
                "Unknown Protocol Operation",
                ErrorKind::Protocol,
                Severity::Fatal,
            ),
            (
                "Permissions Violation for Publish to \"x\"",
                ErrorKind::PermissionViolation,
                Severity::Async,
            ),
            (
                "maximum subscriptions exceeded",
                ErrorKind::Server,
                Severity::Async,
            ),
            ("Invalid Subject", ErrorKind::Server, Severity::Async),
        ] {
            let e = classify(text);
            assert_eq!(e.kind(), kind, "{text}");
            assert_eq!(e.server_text(), Some(text));
            assert_eq!(severity(text), sev, "{text}");
        }
    }

    #[test]
    fn permission_targets() {
        assert_eq!(
            permission_target("Permissions Violation for Subscription to \"a.b\""),
            Some(Target::Subscription {
                subject: "a.b".into(),
                queue: None
            })
        );
        assert_eq!(
            permission_target(
                "Permissions Violation for Subscription to \"a.*\" using queue \"q1\""
            ),
            Some(Target::Subscription {
                subject: "a.*".into(),
                queue: Some("q1".into())
            })
        );
        assert_eq!(
            permission_target("Permissions Violation for Publish to \"x.y\""),
            Some(Target::Publish {
                subject: "x.y".into()
            })
        );
        assert_eq!(
            permission_target("Permissions Violation for Publish with Reply of \"r\""),
            None
        );
        assert_eq!(
            permission_target("Permissions Violation for Publish to"),
            None
        );
    }
}
