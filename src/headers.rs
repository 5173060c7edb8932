//! Message headers.

use std::fmt;

use crate::{Error, ErrorKind};

/// The header a no-responders status message carries: the subject of the request.
pub const NATS_SUBJECT: &str = "Nats-Subject";

/// Message headers: an ordered multi-map plus the optional inline status of the header line
/// (`NATS/1.0 503`, `NATS/1.0 100 Idle Heartbeat`).
///
/// Names keep their case and values keep their order and repetition, exactly as sent or
/// received; lookups ([`get`](Headers::get), [`insert`](Headers::insert),
/// [`remove`](Headers::remove)) match names case-insensitively.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
    status: Option<u16>,
    description: Option<String>,
}

#[inline]
fn trim_ws(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

fn string(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

impl Headers {
    /// No headers, no status.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to `value`, replacing every value of that name (matched case-insensitively).
    /// The first existing entry keeps its position (and gets the new name's case); a new name
    /// goes at the end.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self
            .entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(i) => {
                let mut j = i + 1;
                while j < self.entries.len() {
                    if self.entries[j].0.eq_ignore_ascii_case(&name) {
                        self.entries.remove(j);
                    } else {
                        j += 1;
                    }
                }
                self.entries[i] = (name, value);
            }
            None => self.entries.push((name, value)),
        }
    }

    /// Adds one more value for `name`, at the end.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.entries.push((name.into(), value.into()));
    }

    /// The first value of `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (case-insensitive), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Removes every value of `name` (case-insensitive); `true` if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.entries.len() != before
    }

    /// Every `(name, value)`, in order, one per value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The number of values (the status line does not count).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when there are no values (there may still be a status).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The inline status code (`503` in `NATS/1.0 503`).
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The text after the status code (`Idle Heartbeat` in `NATS/1.0 100 Idle Heartbeat`).
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// Sets the inline status and its description (an empty description is none).
    pub fn set_status(&mut self, code: u16, description: Option<&str>) {
        self.status = Some(code);
        self.description = description.filter(|d| !d.is_empty()).map(Into::into);
    }

    /// Checks that these headers can be sent ([`ErrorKind::InvalidHeader`] otherwise):
    /// names non-empty and made of printable ASCII (33..=126) other than `:`, no CR or LF in
    /// values or the description, and a status, if any, of three digits (100..=999).
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |detail: String| Err(Error::new(ErrorKind::InvalidHeader, detail));
        if let Some(code) = self.status {
            if !(100..=999).contains(&code) {
                return bad(format!("status {code} is not a three-digit code"));
            }
        }
        if let Some(d) = &self.description {
            if d.bytes().any(|b| b == b'\r' || b == b'\n') {
                return bad(format!("status description {d:?} contains CR or LF"));
            }
        }
        for (name, value) in &self.entries {
            if name.is_empty() {
                return bad("empty header name".into());
            }
            if let Some(b) = name
                .bytes()
                .find(|&b| !(33..=126).contains(&b) || b == b':')
            {
                let why = match b {
                    b':' => "contains ':'",
                    b' ' | b'\t' | b'\r' | b'\n' => "contains whitespace",
                    _ => "contains a character other than printable ASCII",
                };
                return bad(format!("header name {name:?} {why}"));
            }
            if value.bytes().any(|b| b == b'\r' || b == b'\n') {
                return bad(format!("value of header {name:?} contains CR or LF"));
            }
        }
        Ok(())
    }

    /// The exact number of bytes [`encode`](Headers::encode) writes.
    pub(crate) fn encoded_len(&self) -> usize {
        let mut n = 8 + 2 + 2; // NATS/1.0 CRLF ... CRLF
        if let Some(code) = self.status {
            n += 1 + itoa::Buffer::new().format(code).len();
            if let Some(d) = &self.description {
                n += 1 + d.len();
            }
        }
        for (name, value) in &self.entries {
            n += name.len() + 2 + value.len() + 2;
        }
        n
    }

    /// Appends the header block: `NATS/1.0[ code[ description]]\r\n`, one `Name: value\r\n`
    /// per value, then `\r\n`. Call [`validate`](Headers::validate) first.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_len());
        out.extend_from_slice(b"NATS/1.0");
        if let Some(code) = self.status {
            out.push(b' ');
            out.extend_from_slice(itoa::Buffer::new().format(code).as_bytes());
            if let Some(d) = &self.description {
                out.push(b' ');
                out.extend_from_slice(d.as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
        for (name, value) in &self.entries {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    /// Reads a header block as received in `HMSG`.
    ///
    /// It must start with `NATS/1.0` ([`ErrorKind::Protocol`] otherwise). The rest is read
    /// tolerantly: lines may end in CRLF or LF; the first blank line ends the block (anything
    /// after it is ignored, as is a missing blank line); names and values are trimmed of
    /// whitespace; a line with no `:` or with an empty name is skipped; invalid UTF-8 is
    /// replaced with U+FFFD. On the first line, three digits after `NATS/1.0` are the status
    /// and the trimmed rest is the description; anything else there is ignored.
    pub(crate) fn parse(block: &[u8]) -> Result<Headers, Error> {
        let rest = block.strip_prefix(b"NATS/1.0").ok_or_else(|| {
            let cut = &block[..block.len().min(16)];
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "header block does not start with NATS/1.0: {:?}",
                    string(cut)
                ),
            )
        })?;
        let mut h = Headers::new();
        let mut lines = rest.split(|&b| b == b'\n');
        let first = trim_ws(lines.next().unwrap_or_default());
        if let [a, b, c, desc @ ..] = first {
            if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() {
                h.status = Some(
                    u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
                );
                let desc = trim_ws(desc);
                if !desc.is_empty() {
                    h.description = Some(string(desc));
                }
            }
        }
        for line in lines {
            let line = trim_ws(line);
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let name = trim_ws(&line[..colon]);
            if name.is_empty() {
                continue;
            }
            h.entries
                .push((string(name), string(trim_ws(&line[colon + 1..]))));
        }
        Ok(h)
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Headers");
        if let Some(s) = self.status {
            d.field("status", &s);
        }
        if let Some(s) = &self.description {
            d.field("description", s);
        }
        d.field("entries", &DebugEntries(&self.entries)).finish()
    }
}

struct DebugEntries<'a>(&'a [(String, String)]);

impl fmt::Debug for DebugEntries<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, v)| (n, v)))
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    /// Appends every pair in order (repeated names are kept).
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut h = Headers::new();
        h.extend(iter);
        h
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for Headers {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.append(k, v);
        }
    }
}

type EntryFn = for<'a> fn(&'a (String, String)) -> (&'a str, &'a str);

impl<'a> IntoIterator for &'a Headers {
    type Item = (&'a str, &'a str);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (String, String)>, EntryFn>;

    fn into_iter(self) -> Self::IntoIter {
        fn pair(e: &(String, String)) -> (&str, &str) {
            (e.0.as_str(), e.1.as_str())
        }
        self.entries.iter().map(pair as EntryFn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_append_get_remove() {
        let mut h = Headers::new();
        h.append("X-A", "1");
        h.append("B", "b");
        h.append("x-a", "2");
        assert_eq!(h.len(), 3);
        assert_eq!(h.get("x-A"), Some("1"));
        assert_eq!(h.get_all("X-a").collect::<Vec<_>>(), ["1", "2"]);
        h.insert("x-A", "3");
        assert_eq!(h.iter().collect::<Vec<_>>(), [("x-A", "3"), ("B", "b")]);
        h.insert("C", "c");
        assert_eq!(h.iter().last(), Some(("C", "c")));
        assert!(h.remove("b"));
        assert!(!h.remove("b"));
        assert_eq!(h.get("B"), None);
        assert_eq!((&h).into_iter().count(), 2);
        let h2: Headers = [("a", "1"), ("A", "2")].into_iter().collect();
        assert_eq!(h2.get_all("a").count(), 2);
        assert!(Headers::new().is_empty());
        let mut s = Headers::new();
        s.set_status(503, Some(""));
        assert!(s.is_empty() && s.status() == Some(503) && s.description().is_none());
        assert!(format!("{h2:?}").contains("\"A\": \"2\""));
    }

    #[test]
    fn validate_rejects() {
        let ok: Headers = [("Nats-Msg-Id", "x y"), ("!#~", "")].into_iter().collect();
        ok.validate().unwrap();
        let bad_names = ["", "a b", "a:b", "a\tb", "é", "a\x7f", "a\r", "a\n", "a\0"];
        for n in bad_names {
            let h: Headers = [(n, "v")].into_iter().collect();
            let e = h.validate().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidHeader, "{n:?}");
        }
        for v in ["a\rb", "a\nb", "\r\n"] {
            let h: Headers = [("N", v)].into_iter().collect();
            assert_eq!(h.validate().unwrap_err().kind(), ErrorKind::InvalidHeader);
        }
        let mut h = Headers::new();
        h.set_status(408, Some("Request\r\nTimeout"));
        assert_eq!(h.validate().unwrap_err().kind(), ErrorKind::InvalidHeader);
        h.set_status(42, None);
        assert_eq!(h.validate().unwrap_err().kind(), ErrorKind::InvalidHeader);
        h.set_status(100, Some("Idle Heartbeat"));
        h.validate().unwrap();
    }

    #[test]
    fn parse_server_blocks() {
        let h = Headers::parse(b"NATS/1.0 503\r\nNats-Subject: svc.none\r\n\r\n").unwrap();
        assert_eq!(h.status(), Some(503));
        assert_eq!(h.description(), None);
        assert_eq!(h.get(NATS_SUBJECT), Some("svc.none"));

        let h = Headers::parse(
            b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 0\r\nNats-Last-Stream: 0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(h.status(), Some(100));
        assert_eq!(h.description(), Some("Idle Heartbeat"));
        assert_eq!(h.get("nats-last-stream"), Some("0"));
        assert_eq!(h.len(), 2);

        let h = Headers::parse(b"NATS/1.0 408 Request Timeout\r\n\r\n").unwrap();
        assert_eq!(
            (h.status(), h.description()),
            (Some(408), Some("Request Timeout"))
        );

        let h = Headers::parse(b"NATS/1.0\r\nA: 1\r\na:2\r\nB :  x y \r\n\r\n").unwrap();
        assert_eq!(h.status(), None);
        assert_eq!(
            h.iter().collect::<Vec<_>>(),
            [("A", "1"), ("a", "2"), ("B", "x y")]
        );
    }

    #[test]
    fn parse_tolerates() {
        let h = Headers::parse(b"NATS/1.0\nA: 1\nno colon\n: novalue\nB: v: w\n").unwrap();
        assert_eq!(h.iter().collect::<Vec<_>>(), [("A", "1"), ("B", "v: w")]);
        let h = Headers::parse(b"NATS/1.0 abc\r\n\r\nAfter: blank\r\n").unwrap();
        assert!(h.status().is_none() && h.is_empty());
        let h = Headers::parse(b"NATS/1.0").unwrap();
        assert_eq!(h, Headers::new());
        let h = Headers::parse(b"NATS/1.0 50").unwrap();
        assert!(h.status().is_none());
        let h = Headers::parse(b"NATS/1.0 \xff\xfe\r\nK\xff: v\xff\r\n\r\n").unwrap();
        assert_eq!(h.len(), 1);
        for bad in [
            &b""[..],
            b"NATS/1",
            b"HTTP/1.1 200\r\n\r\n",
            b"nats/1.0\r\n\r\n",
        ] {
            assert_eq!(Headers::parse(bad).unwrap_err().kind(), ErrorKind::Protocol);
        }
    }

    #[test]
    fn round_trip() {
        let mut h = Headers::new();
        h.set_status(409, Some("Exceeded MaxRequestBatch of 5"));
        h.append("Nats-Stream", "S");
        h.append("X-Rep", "1");
        h.append("x-rep", "2");
        h.append("X-Rep", "3");
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out.len(), h.encoded_len());
        assert_eq!(Headers::parse(&out).unwrap(), h);
        let empty = Headers::new();
        let mut out = Vec::new();
        empty.encode(&mut out);
        assert_eq!(out, b"NATS/1.0\r\n\r\n");
        assert_eq!(empty.encoded_len(), 12);
    }
}
