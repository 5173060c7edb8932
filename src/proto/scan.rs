//! A scanner over client operations as our own encoder wrote them.
//!
//! When a connection breaks, the bytes it had not sent are kept for the next connection, but
//! only the publishes among them: subscriptions are re-sent from the subscription table, and a
//! PING from the old connection must not be answered by the new one.

/// One client operation found in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientOp {
    pub(crate) start: usize,
    pub(crate) len: usize,
    /// `PUB` or `HPUB`.
    pub(crate) publish: bool,
}

/// The operations in `buf`, in order. An incomplete or unreadable tail (which our encoder never
/// produces) ends the scan as one non-publish operation covering the rest.
pub(crate) fn client_ops(buf: &[u8]) -> impl Iterator<Item = ClientOp> + '_ {
    let mut pos = 0;
    std::iter::from_fn(move || {
        if pos >= buf.len() {
            return None;
        }
        let start = pos;
        let op = measure(&buf[start..]).unwrap_or(ClientOp {
            start: 0,
            len: buf.len() - start,
            publish: false,
        });
        pos = start + op.len;
        Some(ClientOp { start, ..op })
    })
}

/// The length of the operation at the front of `b`, or `None` if it is incomplete or unreadable.
fn measure(b: &[u8]) -> Option<ClientOp> {
    let line_end = b.windows(2).position(|w| w == b"\r\n")?;
    let line = &b[..line_end];
    let mut fields = line.split(|&c| c == b' ').filter(|f| !f.is_empty());
    let op = fields.next()?;
    let rest: Vec<&[u8]> = fields.collect();
    let number = |f: &[u8]| -> Option<usize> { std::str::from_utf8(f).ok()?.parse().ok() };
    let payload = match op {
        b"PUB" => Some(number(rest.last()?)?),
        b"HPUB" => Some(number(rest.last()?)?),
        _ => None,
    };
    let len = match payload {
        Some(n) => line_end + 2 + n + 2,
        None => line_end + 2,
    };
    if len > b.len() {
        return None;
    }
    Some(ClientOp {
        start: 0,
        len,
        publish: payload.is_some(),
    })
}

/// The start of the operation that contains byte `offset` (or `buf.len()` if `offset` is at
/// or past the end).
pub(crate) fn op_start(buf: &[u8], offset: usize) -> usize {
    if offset >= buf.len() {
        return buf.len();
    }
    client_ops(buf)
        .find(|op| op.start + op.len > offset)
        .map(|op| op.start)
        .unwrap_or(buf.len())
}

/// Appends the publishes of `buf` to `out`, dropping every other operation.
pub(crate) fn retain_publishes(buf: &[u8], out: &mut Vec<u8>) {
    for op in client_ops(buf).filter(|op| op.publish) {
        out.extend_from_slice(&buf[op.start..op.start + op.len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::encode;
    use crate::Headers;

    fn sample() -> (Vec<u8>, Vec<u8>) {
        let mut all = Vec::new();
        let mut pubs = Vec::new();
        let mut h = Headers::new();
        h.append("A", "1\r\n?"); // not valid to send, but the scanner must not care
        h.append("B", "2");
        let mut one = |f: &dyn Fn(&mut Vec<u8>), publish: bool| {
            let mut b = Vec::new();
            f(&mut b);
            all.extend_from_slice(&b);
            if publish {
                pubs.extend_from_slice(&b);
            }
        };
        one(&|b| encode::sub(b, "a.>", None, 1), false);
        one(
            &|b| encode::publish(b, "a.b", None, None, b"PING\r\nPUB x 1\r\n"),
            true,
        );
        one(&|b| b.extend_from_slice(encode::PING), false);
        one(
            &|b| encode::publish(b, "a.c", Some("r.1"), Some(&h), b""),
            true,
        );
        one(&|b| encode::unsub(b, 1, Some(5)), false);
        one(&|b| encode::publish(b, "a.d", None, None, b""), true);
        one(&|b| b.extend_from_slice(encode::PONG), false);
        (all, pubs)
    }

    #[test]
    fn keeps_only_publishes_even_with_protocol_text_in_payloads() {
        let (all, pubs) = sample();
        let mut out = Vec::new();
        retain_publishes(&all, &mut out);
        assert_eq!(out, pubs);
        let ops: Vec<_> = client_ops(&all).collect();
        assert_eq!(ops.len(), 7);
        assert_eq!(ops.iter().map(|o| o.len).sum::<usize>(), all.len());
    }

    #[test]
    fn op_start_finds_the_boundary_for_every_offset() {
        let (all, _) = sample();
        let ops: Vec<_> = client_ops(&all).collect();
        for offset in 0..all.len() {
            let op = ops
                .iter()
                .find(|o| o.start <= offset && offset < o.start + o.len)
                .unwrap();
            assert_eq!(op_start(&all, offset), op.start, "offset {offset}");
        }
        assert_eq!(op_start(&all, all.len()), all.len());
    }

    #[test]
    fn a_cut_tail_is_dropped_not_misread() {
        let (all, _) = sample();
        for cut in 0..all.len() {
            let mut out = Vec::new();
            retain_publishes(&all[..cut], &mut out);
            // Whatever survives is a sequence of complete publishes.
            let again: Vec<_> = client_ops(&out).collect();
            assert!(again.iter().all(|o| o.publish), "cut {cut}");
            assert_eq!(again.iter().map(|o| o.len).sum::<usize>(), out.len());
        }
    }
}
