//! Small helpers the verbs share: durations, sizes, headers, printing messages, confirming.

use std::io::{self, BufRead, IsTerminal, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use natsws::{Headers, Message};

/// Parses `500ms`, `5s`, `2m`, `1h`, `1d` or a bare number of seconds (`1.5`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 500ms, 5s, 2m, 1h, 1d)"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        "y" => n * 365.0 * 86400.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (ms, s, m, h, d, y)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("'{s}': {e}"))
}

/// Parses a byte size: `512`, `1K`/`1KB`/`1KiB` (1024), `1M`..., `1G`..., `1T`...; `-1` is
/// "unlimited" where the server accepts it.
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 512, 64K, 10MB, 1GiB)"))?;
    let shift = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (K, M, G, T)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Parses a `name:value` header argument (`nats`'s `-H` spelling).
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("'{s}' is not a header: use NAME:VALUE")),
    }
}

/// The headers of `-H name:value` arguments, `None` when there are none.
pub fn headers_of(pairs: &[(String, String)]) -> Option<Headers> {
    if pairs.is_empty() {
        return None;
    }
    let mut h = Headers::new();
    for (k, v) in pairs {
        h.append(k.as_str(), v.as_str());
    }
    Some(h)
}

/// The message body argument, or standard input when it is absent and not a terminal.
pub fn body_or_stdin(body: Option<String>) -> io::Result<Vec<u8>> {
    match body {
        Some(b) => Ok(b.into_bytes()),
        None if io::stdin().is_terminal() => Ok(Vec::new()),
        None => {
            let mut buf = Vec::new();
            io::Read::read_to_end(&mut io::stdin().lock(), &mut buf)?;
            Ok(buf)
        }
    }
}

/// Prints a message as `nats sub` does: a title line, the headers, a blank line, the payload;
/// with `raw` only the payload.
pub fn print_message(
    out: &mut impl Write,
    title: &str,
    msg: &Message,
    raw: bool,
) -> io::Result<()> {
    if raw {
        out.write_all(&msg.payload)?;
        out.write_all(b"\n")?;
        return out.flush();
    }
    writeln!(out, "{title}")?;
    if let Some(h) = &msg.headers {
        if let Some(code) = h.status() {
            writeln!(out, "Status: {code} {}", h.description().unwrap_or(""))?;
        }
        for (k, v) in h.iter() {
            writeln!(out, "{k}: {v}")?;
        }
    }
    writeln!(out)?;
    out.write_all(&msg.payload)?;
    if !msg.payload.is_empty() {
        writeln!(out)?;
    }
    writeln!(out)?;
    out.flush()
}

/// `true` when the user may go ahead with deleting `what`: `--force`, or a "y" typed at the
/// terminal. Without a terminal and without `--force` it refuses, as a script cannot answer.
pub fn confirm(what: &str, force: bool) -> crate::Result<()> {
    if force {
        return Ok(());
    }
    if !io::stdin().is_terminal() {
        return Err(format!("not deleting {what} without --force (no terminal to ask)").into());
    }
    eprint!("Really delete {what}? [y/N] ");
    let mut answer = String::new();
    io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err("not confirmed".into())
    }
}

/// A byte count for people: `1.5 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A time as RFC 3339 in UTC, to the millisecond: `2026-12-01T15:38:51.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    // Days since 1970-01-01 to a civil date (Howard Hinnant's days_from_civil, inverted).
    let z = (secs / 86400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let s = secs % 86400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

// Examples' unit tests run with `cargo test --all-features --example natsws`; tests/cli.rs
// covers the same parsing through the tool's flags.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("-1"), Ok(-1));
        assert!(parse_size("1X").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_210_096_789); // a leap day
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.789Z");
    }

    #[test]
    fn headers() {
        assert_eq!(parse_header("a: b:c"), Ok(("a".into(), "b:c".into())));
        assert!(parse_header("nocolon").is_err());
    }
}
