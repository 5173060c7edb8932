//! The checks a service's name, version, endpoints and groups must pass before anything is
//! subscribed, and how an endpoint's queue group is chosen.

use crate::error::{Error, ErrorKind, Result};

/// The queue group every endpoint uses unless told otherwise (ADR-32).
pub const DEFAULT_QUEUE_GROUP: &str = "q";

/// A service or endpoint name: `[A-Za-z0-9_-]+`.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOption,
            format!("{what} name {name:?} must be one or more of A-Z, a-z, 0-9, '-' and '_'"),
        ))
    }
}

/// A version in strict SemVer 2.0.0: `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, no leading
/// zeros in numbers, non-empty dot-separated identifiers of `[0-9A-Za-z-]`.
pub(crate) fn check_version(version: &str) -> Result<()> {
    if is_semver(version) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOption,
            format!("service version {version:?} is not SemVer (like 1.2.3, 1.0.0-rc.1+build.5)"),
        ))
    }
}

fn is_semver(v: &str) -> bool {
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    if numbers.len() != 3 || !numbers.iter().all(|n| is_numeric_id(n)) {
        return false;
    }
    if let Some(pre) = pre {
        // Pre-release identifiers: numeric ones without leading zeros, or alphanumeric.
        let ok = pre.split('.').all(|id| {
            is_ident(id) && (!id.bytes().all(|b| b.is_ascii_digit()) || is_numeric_id(id))
        });
        if !ok {
            return false;
        }
    }
    if let Some(build) = build {
        if !build.split('.').all(is_ident) {
            return false;
        }
    }
    true
}

/// `0` or a number without a leading zero.
fn is_numeric_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
}

/// A non-empty identifier of `[0-9A-Za-z-]`.
fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// An endpoint subject: a valid subscription subject with no space and `>` only as the
/// last token (ADR-32's `^[^ >]*[>]?$` plus the usual subject rules).
pub(crate) fn check_endpoint_subject(subject: &str) -> Result<()> {
    let why = if subject.contains(' ') {
        Some("contains a space")
    } else if subject.find('>').is_some_and(|i| i != subject.len() - 1) {
        Some("has '>' before its end")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(Error::new(
            ErrorKind::InvalidSubject,
            format!("endpoint subject {subject:?} {why}"),
        ));
    }
    crate::subject::validate_subscribe(subject)
}

/// A group prefix: a valid subject with no wildcard (`*` or `>`) anywhere.
pub(crate) fn check_group(prefix: &str) -> Result<()> {
    if prefix.contains(['*', '>']) {
        return Err(Error::new(
            ErrorKind::InvalidSubject,
            format!("group {prefix:?} contains a wildcard"),
        ));
    }
    crate::subject::validate_publish(prefix).map_err(|e| {
        Error::new(
            ErrorKind::InvalidSubject,
            format!("group {prefix:?} is not a valid subject prefix"),
        )
        .with_source(e)
    })
}

/// A queue group name, when there is one.
pub(crate) fn check_queue(queue: Option<&str>) -> Result<()> {
    match queue {
        Some(q) => crate::subject::validate_queue(q),
        None => Ok(()),
    }
}

/// `prefix.name`, or `name` alone at the top.
pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "Echo_2", "my-svc", "0", "A-Z_a-z"] {
            check_name("service", ok).unwrap();
        }
        for bad in ["", "a b", "a.b", "a*", "ü", "a\n", "a>"] {
            let e = check_name("service", bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidOption, "{bad:?}");
        }
    }

    #[test]
    fn semver() {
        for ok in [
            "0.0.0",
            "1.2.3",
            "10.20.30",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-0.3.7",
            "1.0.0-x.7.z.92",
            "1.0.0-x-y-z.--",
            "1.0.0+20130313144700",
            "1.0.0-beta+exp.sha.5114f85",
            "1.0.0+21AF26D3----117B344092BD",
            "1.0.0-rc.1+build.1",
        ] {
            assert!(is_semver(ok), "{ok} should pass");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "v1.2.3",
            "01.2.3",
            "1.02.3",
            "1.2.03",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-01",
            "1.2.3-a..b",
            "1.2.3-a_b",
            "1.2.3+a..b",
            "1.2.3 ",
            " 1.2.3",
            "1.2.x",
            "1.2.3-hello world",
            "a.b.c",
        ] {
            assert!(!is_semver(bad), "{bad:?} should fail");
            assert_eq!(
                check_version(bad).unwrap_err().kind(),
                ErrorKind::InvalidOption
            );
        }
    }

    #[test]
    fn endpoint_subjects() {
        for ok in ["a", "a.b", "a.*.c", "a.>", ">", "*"] {
            check_endpoint_subject(ok).unwrap();
        }
        for bad in ["a b", "a.>.c", ">a", "a>.b", "", "a..b", "a.", "a\tb"] {
            let e = check_endpoint_subject(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSubject, "{bad:?}");
        }
    }

    #[test]
    fn groups() {
        for ok in ["a", "a.b", "math-v1"] {
            check_group(ok).unwrap();
        }
        for bad in ["a.*", "*", ">", "a.>", "a b", "a..b", "", "a*b"] {
            let e = check_group(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidSubject, "{bad:?}");
        }
    }

    #[test]
    fn joins() {
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("g.h", "x"), "g.h.x");
    }
}
