//! Parsing of server-to-client operations.
//!
//! [`parse`] looks at the front of a byte buffer and returns either one complete operation
//! (borrowing from the buffer) and how many bytes it used, or how many bytes it needs at least.
//! It never allocates and never walks a payload byte by byte: a partially received payload costs
//! one control-line parse and a length comparison per call.

use crate::{Error, ErrorKind};

/// Size limits applied while parsing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest control line accepted, in bytes, not counting its line end (default 4096).
    ///
    /// `INFO` lines are the exception: they may be as long as `max_payload` (a large cluster's
    /// `connect_urls` can exceed 4 KiB).
    pub max_control_line: usize,
    /// Largest `MSG`/`HMSG` size (headers plus payload) accepted, in bytes.
    /// Default 1 MiB + 64 KiB.
    pub max_payload: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_control_line: 4096,
            max_payload: 1024 * 1024 + 65536,
        }
    }
}

/// One operation sent by the server.
#[derive(Debug, PartialEq)]
pub enum ServerOp<'a> {
    /// `INFO {json}`: the JSON text, trimmed, not validated.
    Info(&'a [u8]),
    /// `MSG <subject> <sid> [reply] <size>`.
    Msg {
        /// The subject it was published to.
        subject: &'a str,
        /// The subscription it is for.
        sid: u64,
        /// The reply subject, if any.
        reply: Option<&'a str>,
        /// The payload.
        payload: &'a [u8],
    },
    /// `HMSG <subject> <sid> [reply] <hdr size> <total size>`.
    HMsg {
        /// The subject it was published to.
        subject: &'a str,
        /// The subscription it is for.
        sid: u64,
        /// The reply subject, if any.
        reply: Option<&'a str>,
        /// The whole header block, from `NATS/1.0` through the blank line.
        headers: &'a [u8],
        /// The payload after the headers.
        payload: &'a [u8],
    },
    /// `PING`: answer with `PONG`.
    Ping,
    /// `PONG`: the answer to our oldest `PING`.
    Pong,
    /// `+OK` (verbose mode only).
    Ok,
    /// `-ERR '<text>'`: the text with the surrounding single quotes removed, trimmed.
    Err(&'a str),
}

/// What [`parse`] found at the front of the buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed<'a> {
    /// A complete operation and the number of bytes of the buffer it used.
    Op(ServerOp<'a>, usize),
    /// The buffer holds only the start of an operation. `need` is a lower bound on the total
    /// buffer length required (always greater than the current length); it is exact once the
    /// control line is complete.
    Incomplete {
        /// Bytes needed in total.
        need: usize,
    },
}

fn proto_err(detail: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, detail)
}

#[inline]
fn is_sep(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn trim(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if is_sep(*first) {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = s {
        if is_sep(*last) {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Splits `line` on runs of spaces/tabs into `out`; returns the token count, or `None` when
/// there are more than `out.len()` tokens.
#[inline]
fn split_args<'a>(line: &'a [u8], out: &mut [&'a [u8]; 5]) -> Option<usize> {
    let mut n = 0;
    let mut i = 0;
    let len = line.len();
    while i < len {
        while i < len && is_sep(line[i]) {
            i += 1;
        }
        if i == len {
            break;
        }
        let start = i;
        while i < len && !is_sep(line[i]) {
            i += 1;
        }
        if n == out.len() {
            return None;
        }
        out[n] = &line[start..i];
        n += 1;
    }
    Some(n)
}

/// [`split_args`] for the shape servers write: one space after the op and between arguments,
/// no tabs. `None` for anything else, which [`split_args`] then splits. Other control bytes
/// are no separators for either, so they agree.
#[inline]
fn split_spaces<'a>(args: &'a [u8], out: &mut [&'a [u8]; 5]) -> Option<usize> {
    let rest = args.strip_prefix(b" ")?;
    // A core `MSG` line is a few dozen bytes: a byte loop. A JetStream one (with its ack
    // subject) is about a hundred: memchr finds the few separators faster.
    if rest.len() < LONG_LINE {
        split_with(rest, out, |r| {
            if r.contains(&b'\t') {
                return None;
            }
            Some(
                r.iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == b' ')
                    .map(|(i, _)| i),
            )
        })
    } else {
        split_with(rest, out, |r| {
            if memchr::memchr(b'\t', r).is_some() {
                return None;
            }
            Some(memchr::memchr_iter(b' ', r))
        })
    }
}

/// Arguments at which [`split_spaces`] looks for separators with memchr.
const LONG_LINE: usize = 64;

/// Splits `rest` at the spaces `spaces` finds (`None` from it: decline); declines empty
/// tokens and more than `out` holds.
#[inline]
fn split_with<'a, I: Iterator<Item = usize>>(
    rest: &'a [u8],
    out: &mut [&'a [u8]; 5],
    spaces: impl FnOnce(&'a [u8]) -> Option<I>,
) -> Option<usize> {
    let mut n = 0;
    let mut start = 0;
    for i in spaces(rest)? {
        if i == start || n + 1 >= out.len() {
            return None;
        }
        out[n] = &rest[start..i];
        n += 1;
        start = i + 1;
    }
    if start == rest.len() {
        return None;
    }
    out[n] = &rest[start..];
    Some(n + 1)
}

/// A decimal number: non-empty, digits only, no overflow.
#[inline]
fn parse_u64(s: &[u8], what: &str) -> Result<u64, Error> {
    if s.is_empty() {
        return Err(proto_err(format!("empty {what}")));
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(proto_err(format!(
                "{what} {:?} is not a number",
                String::from_utf8_lossy(s)
            )));
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
            Some(v) => v,
            None => {
                return Err(proto_err(format!(
                    "{what} {:?} is too large",
                    String::from_utf8_lossy(s)
                )))
            }
        };
    }
    Ok(v)
}

#[inline]
fn parse_size(s: &[u8], what: &str) -> Result<usize, Error> {
    let v = parse_u64(s, what)?;
    usize::try_from(v).map_err(|_| proto_err(format!("{what} {v} is too large")))
}

#[inline]
fn utf8<'a>(s: &'a [u8], what: &str) -> Result<&'a str, Error> {
    std::str::from_utf8(s).map_err(|_| proto_err(format!("{what} is not valid UTF-8")))
}

/// End of the payload and end of the operation (payload + CRLF).
#[inline]
fn ends(body_start: usize, size: usize) -> Result<(usize, usize), Error> {
    body_start
        .checked_add(size)
        .and_then(|end| Some((end, end.checked_add(2)?)))
        .ok_or_else(|| proto_err("message size overflows"))
}

fn show(line: &[u8]) -> String {
    let cut = &line[..line.len().min(64)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > cut.len() {
        s.push('…');
    }
    s
}

/// Parses one operation from the front of `buf`.
///
/// Op names are case-insensitive, arguments are separated by runs of spaces or tabs, and a
/// control line may end in CRLF or a bare LF. The two bytes after a payload must be CRLF.
///
/// Errors (all [`ErrorKind::Protocol`]): an unknown op or malformed arguments, a control line
/// longer than `limits.max_control_line` (reported as soon as that many bytes are buffered with
/// no line end), a message larger than `limits.max_payload` (reported at the control line,
/// before the payload arrives), a payload not followed by CRLF, or a subject, reply or `-ERR`
/// text that is not UTF-8.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Result<Parsed<'a>, Error> {
    let first = match buf.first() {
        Some(&b) => b,
        None => return Ok(Parsed::Incomplete { need: 1 }),
    };
    let max_line = if first | 0x20 == b'i' {
        limits.max_control_line.max(limits.max_payload)
    } else {
        limits.max_control_line
    };
    // The line end may sit one or two bytes past the limit (CR LF).
    let window = &buf[..buf.len().min(max_line.saturating_add(2))];
    let nl = match memchr::memchr(b'\n', window) {
        Some(i) => i,
        None => {
            // A line of exactly max_line bytes may still be waiting for the LF after its CR.
            let cr_pending = buf.len() == max_line.saturating_add(1) && buf[max_line] == b'\r';
            if buf.len() > max_line && !cr_pending {
                return Err(proto_err(format!(
                    "control line longer than {max_line} bytes: {}",
                    show(buf)
                )));
            }
            return Ok(Parsed::Incomplete {
                need: buf.len() + 1,
            });
        }
    };
    let mut line = &buf[..nl];
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    if line.len() > max_line {
        return Err(proto_err(format!(
            "control line longer than {max_line} bytes: {}",
            show(line)
        )));
    }
    let body_start = nl + 1;
    let op_end = line.iter().position(|&b| is_sep(b)).unwrap_or(line.len());
    let (op, args) = line.split_at(op_end);

    let simple = |op: ServerOp<'a>| -> Result<Parsed<'a>, Error> {
        if trim(args).is_empty() {
            Ok(Parsed::Op(op, body_start))
        } else {
            Err(proto_err(format!("unexpected arguments: {}", show(line))))
        }
    };

    if op.eq_ignore_ascii_case(b"MSG") {
        let mut a: [&[u8]; 5] = [&[]; 5];
        let n = split_spaces(args, &mut a)
            .or_else(|| split_args(args, &mut a))
            .ok_or_else(|| proto_err(format!("too many MSG arguments: {}", show(line))))?;
        let (subject, sid, reply, size) = match n {
            3 => (a[0], a[1], None, a[2]),
            4 => (a[0], a[1], Some(a[2]), a[3]),
            _ => return Err(proto_err(format!("wrong MSG arguments: {}", show(line)))),
        };
        let size = parse_size(size, "MSG size")?;
        if size > limits.max_payload {
            return Err(proto_err(format!(
                "MSG of {size} bytes exceeds the limit of {} bytes",
                limits.max_payload
            )));
        }
        let (end, total) = ends(body_start, size)?;
        if buf.len() < total {
            return Ok(Parsed::Incomplete { need: total });
        }
        if &buf[end..total] != b"\r\n" {
            return Err(proto_err("MSG payload not followed by CRLF"));
        }
        let op = ServerOp::Msg {
            subject: utf8(subject, "MSG subject")?,
            sid: parse_u64(sid, "MSG sid")?,
            reply: match reply {
                Some(r) => Some(utf8(r, "MSG reply subject")?),
                None => None,
            },
            payload: &buf[body_start..end],
        };
        return Ok(Parsed::Op(op, total));
    }
    if op.eq_ignore_ascii_case(b"HMSG") {
        let mut a: [&[u8]; 5] = [&[]; 5];
        let n = split_spaces(args, &mut a)
            .or_else(|| split_args(args, &mut a))
            .ok_or_else(|| proto_err(format!("too many HMSG arguments: {}", show(line))))?;
        let (subject, sid, reply, hsize, size) = match n {
            4 => (a[0], a[1], None, a[2], a[3]),
            5 => (a[0], a[1], Some(a[2]), a[3], a[4]),
            _ => return Err(proto_err(format!("wrong HMSG arguments: {}", show(line)))),
        };
        let hsize = parse_size(hsize, "HMSG header size")?;
        let size = parse_size(size, "HMSG total size")?;
        if hsize > size {
            return Err(proto_err(format!(
                "HMSG header size {hsize} exceeds total size {size}"
            )));
        }
        if size > limits.max_payload {
            return Err(proto_err(format!(
                "HMSG of {size} bytes exceeds the limit of {} bytes",
                limits.max_payload
            )));
        }
        let (end, total) = ends(body_start, size)?;
        let hend = body_start + hsize; // hsize <= size: cannot overflow
        if buf.len() < total {
            return Ok(Parsed::Incomplete { need: total });
        }
        if &buf[end..total] != b"\r\n" {
            return Err(proto_err("HMSG payload not followed by CRLF"));
        }
        let op = ServerOp::HMsg {
            subject: utf8(subject, "HMSG subject")?,
            sid: parse_u64(sid, "HMSG sid")?,
            reply: match reply {
                Some(r) => Some(utf8(r, "HMSG reply subject")?),
                None => None,
            },
            headers: &buf[body_start..hend],
            payload: &buf[hend..end],
        };
        return Ok(Parsed::Op(op, total));
    }
    if op.eq_ignore_ascii_case(b"PING") {
        return simple(ServerOp::Ping);
    }
    if op.eq_ignore_ascii_case(b"PONG") {
        return simple(ServerOp::Pong);
    }
    if op.eq_ignore_ascii_case(b"+OK") {
        return simple(ServerOp::Ok);
    }
    if op.eq_ignore_ascii_case(b"INFO") {
        return Ok(Parsed::Op(ServerOp::Info(trim(args)), body_start));
    }
    if op.eq_ignore_ascii_case(b"-ERR") {
        let mut t = trim(args);
        if let [b'\'', rest @ ..] = t {
            t = rest;
        }
        if let [rest @ .., b'\''] = t {
            t = rest;
        }
        let text = utf8(trim(t), "-ERR text")?;
        return Ok(Parsed::Op(ServerOp::Err(text), body_start));
    }
    Err(proto_err(format!(
        "unknown protocol operation: {}",
        show(line)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_split_agrees_with_the_general_one_or_declines() {
        // Every line of up to 7 bytes over this alphabet: tokens, spaces, tabs, a control byte.
        let alphabet = [b'a', b'1', b' ', b'\t', 0x01];
        let mut lines = vec![Vec::new()];
        for len in 1..=7 {
            let mut next = Vec::new();
            for l in lines.iter().filter(|l| l.len() == len - 1) {
                for &c in &alphabet {
                    let mut l = l.clone();
                    l.push(c);
                    next.push(l);
                }
            }
            lines.extend(next);
        }
        let mut fast_taken = 0;
        for line in &lines {
            let (mut fast, mut general) = ([&[][..]; 5], [&[][..]; 5]);
            let g = split_args(line, &mut general);
            if let Some(n) = split_spaces(line, &mut fast) {
                fast_taken += 1;
                assert_eq!(Some(n), g, "{line:?}");
                assert_eq!(fast[..n], general[..n], "{line:?}");
            }
        }
        assert!(fast_taken > 100, "the fast path takes the common shapes");
        // Long lines (memchr's side of the fast path): pseudo-random ones over the same
        // alphabet, mostly tokens, around the length where the two sides meet.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut long_taken = 0;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = LONG_LINE - 8 + (x % 80) as usize;
            let mut line = vec![b' '];
            let mut y = x;
            while line.len() < len {
                y = y
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let c = match (y >> 33) % 200 {
                    0..=4 => b' ',
                    5 => b'\t',
                    6 => 0x01,
                    _ => b'a',
                };
                line.push(c);
            }
            let (mut fast, mut general) = ([&[][..]; 5], [&[][..]; 5]);
            let g = split_args(&line, &mut general);
            if let Some(n) = split_spaces(&line, &mut fast) {
                long_taken += 1;
                assert_eq!(Some(n), g, "{line:?}");
                assert_eq!(fast[..n], general[..n], "{line:?}");
            }
        }
        assert!(
            long_taken > 1000,
            "long lines take the fast path too ({long_taken})"
        );
    }
    use crate::proto::testing::{feed, OwnedOp};

    fn one(buf: &[u8]) -> (ServerOp<'_>, usize) {
        match parse(buf, &Limits::default()).unwrap() {
            Parsed::Op(op, n) => (op, n),
            other => panic!("expected op, got {other:?}"),
        }
    }

    fn err(buf: &[u8]) -> Error {
        parse(buf, &Limits::default()).unwrap_err()
    }

    #[test]
    fn simple_ops() {
        assert_eq!(one(b"PING\r\n"), (ServerOp::Ping, 6));
        assert_eq!(one(b"PONG\r\nPING\r\n"), (ServerOp::Pong, 6));
        assert_eq!(one(b"+OK\r\n"), (ServerOp::Ok, 5));
        assert_eq!(one(b"ping\n"), (ServerOp::Ping, 5));
        assert_eq!(one(b"Pong \t\r\n"), (ServerOp::Pong, 8));
        assert_eq!(one(b"+ok\r\n"), (ServerOp::Ok, 5));
        assert_eq!(
            one(b"INFO {\"a\":1} \r\n"),
            (ServerOp::Info(b"{\"a\":1}"), 15)
        );
        assert_eq!(one(b"info\t{}\n"), (ServerOp::Info(b"{}"), 8));
        assert_eq!(err(b"PING x\r\n").kind(), ErrorKind::Protocol);
    }

    #[test]
    fn err_texts() {
        let cases: &[(&[u8], &str)] = &[
            (
                b"-ERR 'Authorization Violation'\r\n",
                "Authorization Violation",
            ),
            (
                b"-ERR 'Maximum Payload Violation'\r\n",
                "Maximum Payload Violation",
            ),
            (
                b"-ERR 'maximum control line exceeded'\r\n",
                "maximum control line exceeded",
            ),
            (
                b"-ERR 'Unknown Protocol Operation'\r\n",
                "Unknown Protocol Operation",
            ),
            (b"-ERR 'Stale Connection'\r\n", "Stale Connection"),
            (
                b"-ERR 'Permissions Violation for Publish to \"foo.bar\"'\r\n",
                "Permissions Violation for Publish to \"foo.bar\"",
            ),
            (
                b"-ERR 'Permissions Violation for Subscription to \"a.>\" using queue \"q\"'\r\n",
                "Permissions Violation for Subscription to \"a.>\" using queue \"q\"",
            ),
            (
                b"-ERR 'Permissions Violation for Publish with Reply of \"_R_.x\"'\r\n",
                "Permissions Violation for Publish with Reply of \"_R_.x\"",
            ),
            (
                b"-ERR 'Connection throttling is active. Please try again later.'\r\n",
                "Connection throttling is active. Please try again later.",
            ),
            (b"-ERR  'Invalid Subject' \n", "Invalid Subject"),
            (b"-err plain text\r\n", "plain text"),
            (b"-ERR '  spaced  '\r\n", "spaced"),
            (b"-ERR\r\n", ""),
            (b"-ERR ''\r\n", ""),
            (b"-ERR '\r\n", ""),
        ];
        for (input, text) in cases {
            assert_eq!(one(input), (ServerOp::Err(text), input.len()), "{input:?}");
        }
    }

    #[test]
    fn msg_forms() {
        assert_eq!(
            one(b"MSG foo.bar 9 5\r\nhello\r\n"),
            (
                ServerOp::Msg {
                    subject: "foo.bar",
                    sid: 9,
                    reply: None,
                    payload: b"hello"
                },
                24
            )
        );
        assert_eq!(
            one(b"msg foo 1 _INBOX.x 0\r\n\r\n"),
            (
                ServerOp::Msg {
                    subject: "foo",
                    sid: 1,
                    reply: Some("_INBOX.x"),
                    payload: b""
                },
                24
            )
        );
        let input = b"Msg \t foo  \t18446744073709551615   r\t4\nMSG \r\n\r\nPING\r\n";
        let (op, n) = one(input);
        assert_eq!(
            op,
            ServerOp::Msg {
                subject: "foo",
                sid: u64::MAX,
                reply: Some("r"),
                payload: b"MSG "
            }
        );
        assert_eq!(&input[n..], b"\r\nPING\r\n".as_slice());
        // payload containing CRLF and op text
        let input = b"MSG a 1 11\r\nMSG\r\nPING\r\n\r\n";
        assert_eq!(
            one(input),
            (
                ServerOp::Msg {
                    subject: "a",
                    sid: 1,
                    reply: None,
                    payload: b"MSG\r\nPING\r\n"
                },
                input.len()
            )
        );
    }

    #[test]
    fn hmsg_forms() {
        let hdr = b"NATS/1.0 503\r\nNats-Subject: svc.none\r\n\r\n";
        // 42 bytes of header; craft sizes to match
        let mut buf = Vec::new();
        buf.extend_from_slice(
            format!("HMSG _INBOX.abc 2  {} {}\r\n", hdr.len(), hdr.len()).as_bytes(),
        );
        buf.extend_from_slice(hdr);
        buf.extend_from_slice(b"\r\n");
        assert_eq!(
            one(&buf),
            (
                ServerOp::HMsg {
                    subject: "_INBOX.abc",
                    sid: 2,
                    reply: None,
                    headers: hdr,
                    payload: b""
                },
                buf.len()
            )
        );
        let buf = b"hmsg s 3 rep 12 15\r\nNATS/1.0\r\n\r\nabc\r\n";
        assert_eq!(
            one(buf),
            (
                ServerOp::HMsg {
                    subject: "s",
                    sid: 3,
                    reply: Some("rep"),
                    headers: b"NATS/1.0\r\n\r\n",
                    payload: b"abc"
                },
                buf.len()
            )
        );
        assert!(err(b"HMSG s 3 16 15\r\n")
            .to_string()
            .contains("header size"));
    }

    #[test]
    fn incomplete_and_exact_need() {
        let l = Limits::default();
        assert_eq!(parse(b"", &l).unwrap(), Parsed::Incomplete { need: 1 });
        assert_eq!(
            parse(b"MSG a 1 5", &l).unwrap(),
            Parsed::Incomplete { need: 10 }
        );
        assert_eq!(
            parse(b"MSG a 1 5\r", &l).unwrap(),
            Parsed::Incomplete { need: 11 }
        );
        assert_eq!(
            parse(b"MSG a 1 5\r\n", &l).unwrap(),
            Parsed::Incomplete { need: 18 }
        );
        assert_eq!(
            parse(b"MSG a 1 5\r\nhello\r", &l).unwrap(),
            Parsed::Incomplete { need: 18 }
        );
        assert_eq!(
            parse(b"HMSG a 1 12 20\r\nNATS", &l).unwrap(),
            Parsed::Incomplete { need: 16 + 22 }
        );
    }

    #[test]
    fn errors() {
        let bad: &[&[u8]] = &[
            b"\r\n",
            b"\n",
            b"FOO bar\r\n",
            b"MSGX a 1 1\r\nx\r\n",
            b" PING\r\n",
            b"MSG a 1\r\n",
            b"MSG a 1 r 2 3\r\n",
            b"MSG a 1 -1\r\n",
            b"MSG a 1 1x\r\n",
            b"MSG a 1 +1\r\n",
            b"MSG a 1 18446744073709551616\r\n",
            b"MSG a 99999999999999999999 1\r\nx\r\n",
            b"MSG a x 1\r\nx\r\n",
            b"MSG a 1 1\r\nxx\r\n",
            b"MSG a 1 1\r\nx\n\n",
            b"MSG a 1 1\r\nx\rX",
            b"HMSG a 1 2\r\n",
            b"HMSG a 1 r x 2 3\r\n",
            b"HMSG a 1 3 2\r\n",
            b"HMSG a 1 1 18446744073709551616\r\n",
            b"HMSG a 1 0 1\r\nxyz",
            b"MSG \xff 1 1\r\nx\r\n",
            b"MSG a 1 \xfe 1\r\nx\r\n",
            b"-ERR '\xff'\r\n",
            b"PONG PONG\r\n",
        ];
        for b in bad {
            let e = parse(b, &Limits::default());
            assert!(
                matches!(&e, Err(e) if e.kind() == ErrorKind::Protocol),
                "{:?} -> {e:?}",
                String::from_utf8_lossy(b)
            );
        }
    }

    #[test]
    fn limits() {
        let l = Limits {
            max_control_line: 16,
            max_payload: 100,
        };
        // line end within limit
        assert!(matches!(
            parse(b"MSG abcdefgh 1 1\r\nx\r\n", &l),
            Ok(Parsed::Op(..))
        ));
        // over the limit with a line end
        assert!(parse(b"MSG abcdefghi 1 1\r\nx\r\n", &l).is_err());
        // no line end: incomplete up to the limit, error past it
        let long = b"MSG aaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for n in 1..=16 {
            assert_eq!(
                parse(&long[..n], &l).unwrap(),
                Parsed::Incomplete { need: n + 1 }
            );
        }
        let mut exact = b"MSG abcdefgh 1 1\r".to_vec();
        assert_eq!(parse(&exact, &l).unwrap(), Parsed::Incomplete { need: 18 });
        exact.push(b'\n');
        assert_eq!(parse(&exact, &l).unwrap(), Parsed::Incomplete { need: 21 });
        assert!(parse(b"MSG abcdefgh 1 1x\r", &l).is_err());
        for n in 17..long.len() {
            assert!(parse(&long[..n], &l).is_err(), "{n}");
        }
        // announced size over the limit: error at the control line
        assert!(parse(b"MSG a 1 101\r\n", &l).is_err());
        assert!(parse(b"HMSG a 1 1 101\r\n", &l).is_err());
        assert!(matches!(
            parse(b"MSG a 1 100\r\n", &l),
            Ok(Parsed::Incomplete { need: 115 })
        ));
        // INFO may be as long as max_payload
        let mut info = b"INFO {\"x\":\"".to_vec();
        info.extend(std::iter::repeat_n(b'a', 80));
        info.extend_from_slice(b"\"}\r\n");
        assert!(matches!(
            parse(&info, &l),
            Ok(Parsed::Op(ServerOp::Info(_), _))
        ));
        info.truncate(info.len() - 2);
        info.extend(std::iter::repeat_n(b'a', 30));
        assert!(parse(&info, &l).is_err());
    }

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend_from_slice(
            b"INFO {\"server_id\":\"NABC\",\"version\":\"2.15.1\",\"headers\":true,\"max_payload\":1048576,\"proto\":1}\r\n",
        );
        s.extend_from_slice(b"PING\r\n");
        s.extend_from_slice(b"MSG foo.bar 1 5\r\nhello\r\n");
        s.extend_from_slice(b"MSG foo.bar 1 _INBOX.r.1 0\r\n\r\n");
        s.extend_from_slice(b"+OK\r\n");
        let hdr = b"NATS/1.0\r\nA: 1\r\nA: 2\r\nb: x\r\n\r\n";
        s.extend_from_slice(
            format!(
                "HMSG svc.x 22 _INBOX.r.2 {} {}\r\n",
                hdr.len(),
                hdr.len() + 7
            )
            .as_bytes(),
        );
        s.extend_from_slice(hdr);
        s.extend_from_slice(b"MSG\r\nOK\r\n");
        let hdr = b"NATS/1.0 503\r\nNats-Subject: svc.none\r\n\r\n";
        s.extend_from_slice(
            format!("HMSG _INBOX.r.3 3  {} {}\r\n", hdr.len(), hdr.len()).as_bytes(),
        );
        s.extend_from_slice(hdr);
        s.extend_from_slice(b"\r\n");
        s.extend_from_slice(b"msg a\t2  3\nabc\r\n");
        s.extend_from_slice(b"-ERR 'Permissions Violation for Publish to \"x.y\"'\r\n");
        s.extend_from_slice(b"PONG\r\n");
        s
    }

    #[test]
    fn every_split_point() {
        let s = stream();
        let l = Limits::default();
        let (whole, rest) = feed(&s, || s.len(), &l);
        assert_eq!(rest.unwrap(), 0);
        assert_eq!(whole.len(), 10);
        assert!(matches!(&whole[0], OwnedOp::Info(_)));
        assert!(matches!(&whole[9], OwnedOp::Pong));
        // byte at a time
        let (ops, rest) = feed(&s, || 1, &l);
        assert_eq!(rest.unwrap(), 0);
        assert_eq!(ops, whole);
        // every split point
        for split in 0..=s.len() {
            let mut first = true;
            let (ops, rest) = feed(
                &s,
                || {
                    if std::mem::take(&mut first) {
                        split.max(1)
                    } else {
                        s.len()
                    }
                },
                &l,
            );
            assert_eq!(rest.unwrap(), 0, "split {split}");
            assert_eq!(ops, whole, "split {split}");
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn token(&mut self) -> String {
            const CH: &[u8] = b"abcXYZ019_-$*>";
            let n = 1 + self.below(8) as usize;
            (0..n)
                .map(|_| CH[self.below(CH.len() as u64) as usize] as char)
                .collect()
        }
        fn subject(&mut self) -> String {
            let n = 1 + self.below(4);
            (0..n).map(|_| self.token()).collect::<Vec<_>>().join(".")
        }
        fn bytes(&mut self, max: u64) -> Vec<u8> {
            let n = self.below(max + 1) as usize;
            (0..n).map(|_| self.next() as u8).collect()
        }
        fn sep(&mut self) -> &'static str {
            [" ", " ", "  ", "\t", " \t "][self.below(5) as usize]
        }
    }

    #[test]
    fn random_round_trip() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let l = Limits::default();
        for round in 0..200 {
            let mut s = Vec::new();
            let mut expect = Vec::new();
            for _ in 0..(1 + rng.below(20)) {
                let subject = rng.subject();
                let sid = rng.next() >> rng.below(64);
                let reply = if rng.below(2) == 0 {
                    Some(rng.subject())
                } else {
                    None
                };
                let max = if rng.below(10) == 0 { 5000 } else { 40 };
                let payload = rng.bytes(max);
                let op = if rng.below(3) == 0 { "MSG" } else { "hmsg" };
                let end = if rng.below(4) == 0 { "\n" } else { "\r\n" };
                let r = reply
                    .as_deref()
                    .map(|r| format!("{r}{}", rng.sep()))
                    .unwrap_or_default();
                if op == "MSG" {
                    s.extend_from_slice(
                        format!(
                            "{op}{}{subject}{}{sid}{}{r}{}{end}",
                            rng.sep(),
                            rng.sep(),
                            rng.sep(),
                            payload.len()
                        )
                        .as_bytes(),
                    );
                    s.extend_from_slice(&payload);
                    s.extend_from_slice(b"\r\n");
                    expect.push(OwnedOp::Msg {
                        subject,
                        sid,
                        reply,
                        payload,
                    });
                } else {
                    let mut h = crate::Headers::new();
                    if rng.below(3) == 0 {
                        h.set_status(100 + rng.below(900) as u16, Some("Some Thing"));
                    }
                    for _ in 0..rng.below(4) {
                        h.append(rng.token().replace(['*', '>'], "k"), rng.subject());
                    }
                    let mut hb = Vec::new();
                    h.encode(&mut hb);
                    assert_eq!(crate::Headers::parse(&hb).unwrap(), h);
                    let total = hb.len() + payload.len();
                    s.extend_from_slice(
                        format!(
                            "{op}{}{subject}{}{sid}{}{r}{}{}{total}{end}",
                            rng.sep(),
                            rng.sep(),
                            rng.sep(),
                            hb.len(),
                            rng.sep()
                        )
                        .as_bytes(),
                    );
                    s.extend_from_slice(&hb);
                    s.extend_from_slice(&payload);
                    s.extend_from_slice(b"\r\n");
                    expect.push(OwnedOp::HMsg {
                        subject,
                        sid,
                        reply,
                        headers: hb,
                        payload,
                    });
                }
            }
            let mut seed = rng.next();
            let max_chunk = [1u64, 7, 64, 1500][round % 4];
            let (ops, rest) = feed(
                &s,
                || {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    1 + (seed % max_chunk) as usize
                },
                &l,
            );
            assert_eq!(rest.unwrap(), 0, "round {round}");
            assert_eq!(ops, expect, "round {round}");
        }
    }
}
