//! Messages as they travel from the reader thread to a subscription: not one `Message` each,
//! but batches of positions into the bytes the reader read.
//!
//! The reader reads into one buffer and parses it in place. Every message for a subscription
//! becomes an [`Entry`] (where its subject, reply, headers and payload lie); at the end of a read
//! the parsed bytes become one shared [`Bytes`] chunk and each subscription gets one [`Batch`]:
//! the chunk and its entries. The reader thread allocates nothing per message and sends one
//! channel message per subscription per read; the subscription makes each [`Message`] when it is
//! read, its payload a slice of the chunk.
//!
//! A queued message holds what the server sent for it plus one entry, so a subscriber that stops
//! reading costs what it has been sent. A subscription that got only a small part of a chunk gets
//! a compact copy of its part instead, so that it never holds more than twice what it is
//! charged for (see [`Collector::flush`]).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::Sender;

use crate::connection::Shared;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::int_hash::IntHash;
use crate::message::Message;

/// Where one message lies in its chunk. Subjects are at most a control line long (they fit in
/// `u16` lengths); chunks are at most a read buffer (they fit in `u32` offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    subject: u32,
    subject_len: u16,
    /// 0: no reply subject (a reply subject is never empty).
    reply_len: u16,
    reply: u32,
    /// The header block comes right before the payload; 0: no headers (`MSG`).
    headers_len: u32,
    payload: u32,
    payload_len: u32,
}

/// What a queued message is charged besides the bytes the server sent for it: its entry, and
/// its share of the queue's and chunk's bookkeeping. Pending byte limits count this too, so
/// they bound memory, not just payloads.
pub(crate) const ENTRY_OVERHEAD: usize = std::mem::size_of::<Entry>() + 8;

impl Entry {
    /// The entry for a message whose parts are these slices of `base` (the bytes the chunk
    /// will be made of, starting at the chunk's first byte). `None` when a subject or reply is
    /// longer than `u16::MAX` (the parser's control-line limit keeps them far shorter).
    pub(crate) fn locate(
        base: &[u8],
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Option<Entry> {
        let at = |s: &[u8]| -> Option<u32> {
            let off = (s.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
            (off + s.len() <= base.len())
                .then_some(off)?
                .try_into()
                .ok()
        };
        let reply = reply.unwrap_or("");
        let headers_len = headers.map_or(0, <[u8]>::len);
        if let Some(h) = headers {
            // The parser hands out the header block right before the payload.
            debug_assert_eq!(
                at(h).map(|o| o as usize + h.len()),
                at(payload).map(|o| o as usize)
            );
        }
        Some(Entry {
            subject: at(subject.as_bytes())?,
            subject_len: subject.len().try_into().ok()?,
            reply_len: reply.len().try_into().ok()?,
            reply: if reply.is_empty() {
                0
            } else {
                at(reply.as_bytes())?
            },
            headers_len: headers_len.try_into().ok()?,
            payload: at(payload)?,
            payload_len: payload.len().try_into().ok()?,
        })
    }

    /// The bytes this message holds in its chunk (subject, reply, headers, payload).
    fn parts_len(&self) -> usize {
        self.subject_len as usize
            + self.reply_len as usize
            + self.headers_len as usize
            + self.payload_len as usize
    }

    /// What a queued message is charged against the pending byte limit: the bytes of its parts,
    /// the protocol line around them (estimated) and [`ENTRY_OVERHEAD`].
    pub(crate) fn held(&self) -> usize {
        self.parts_len() + 24 + ENTRY_OVERHEAD
    }

    fn headers_start(&self) -> usize {
        self.payload as usize - self.headers_len as usize
    }

    /// Makes the message: the payload shares `chunk`; the subject and reply are copied.
    /// `conn` answers `respond`, kept only when there is a reply subject. A header block that
    /// does not parse is an error (the reader checked it, so only a bug gets there).
    #[inline]
    pub(crate) fn message(&self, chunk: &Bytes, conn: Option<&Arc<Shared>>) -> Result<Message> {
        let text = |at: u32, len: u16| -> Result<String> {
            let bytes = &chunk[at as usize..at as usize + len as usize];
            std::str::from_utf8(bytes)
                .map(str::to_string)
                .map_err(|_| Error::new(ErrorKind::Protocol, "a subject that is not UTF-8"))
        };
        let subject = text(self.subject, self.subject_len)?;
        let reply = match self.reply_len {
            0 => None,
            n => Some(text(self.reply, n)?),
        };
        let headers = match self.headers_len {
            0 => None,
            _ => Some(Headers::parse(
                &chunk[self.headers_start()..self.payload as usize],
            )?),
        };
        let start = self.payload as usize;
        Ok(Message {
            conn: reply.as_ref().and(conn).cloned(),
            subject,
            reply,
            headers,
            payload: chunk.slice(start..start + self.payload_len as usize),
        })
    }
}

/// Messages for one subscription from one read: positions in `chunk`.
pub(crate) struct Batch {
    pub(crate) chunk: Bytes,
    pub(crate) entries: Vec<Entry>,
}

impl Batch {
    /// A batch of its own bytes: the parts of `entries` copied out of `chunk`, packed.
    fn compact(chunk: &Bytes, entries: &[Entry]) -> Batch {
        let total: usize = entries.iter().map(Entry::parts_len).sum();
        let mut buf = BytesMut::with_capacity(total);
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            let mut copy = |at: usize, len: usize| -> u32 {
                let pos = buf.len() as u32;
                buf.extend_from_slice(&chunk[at..at + len]);
                pos
            };
            let subject = copy(e.subject as usize, e.subject_len as usize);
            let reply = if e.reply_len == 0 {
                0
            } else {
                copy(e.reply as usize, e.reply_len as usize)
            };
            let headers = copy(
                e.headers_start(),
                e.headers_len as usize + e.payload_len as usize,
            );
            out.push(Entry {
                subject,
                reply,
                payload: headers + e.headers_len,
                ..*e
            });
        }
        Batch {
            chunk: buf.freeze(),
            entries: out,
        }
    }
}

/// What the reader thread has routed in the current read and not yet sent, by subscription.
#[derive(Default)]
pub(crate) struct Collector {
    pending: Vec<Pending>,
    /// Index of a sid in `pending` (for reads that touch many subscriptions).
    index: std::collections::HashMap<u64, usize, IntHash>,
    /// The sid of the last entry added, and its index: most reads are for one subscription.
    last: Option<(u64, usize)>,
}

struct Pending {
    tx: Sender<super::table::Delivery>,
    entries: Vec<Entry>,
    bytes: usize,
}

impl Collector {
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Adds a message for `sid`; `tx` is its subscription's queue (cloned only the first time
    /// the read touches the subscription).
    pub(crate) fn push(&mut self, sid: u64, tx: &Sender<super::table::Delivery>, entry: Entry) {
        let i = match self.last {
            Some((s, i)) if s == sid => i,
            _ => {
                let next = self.pending.len();
                let i = *self.index.entry(sid).or_insert(next);
                if i == next {
                    self.pending.push(Pending {
                        tx: tx.clone(),
                        // Room for a typical read's worth without regrowing from one.
                        entries: Vec::with_capacity(16),
                        bytes: 0,
                    });
                }
                self.last = Some((sid, i));
                i
            }
        };
        let p = &mut self.pending[i];
        p.bytes += entry.parts_len();
        p.entries.push(entry);
    }

    /// Sends every subscription its batch of `chunk` (the bytes the entries point into). A
    /// subscription that got less than half of the chunk gets a compact copy of its part, so
    /// that what it holds stays within twice what it is charged for.
    pub(crate) fn flush(&mut self, chunk: &Bytes) {
        for p in self.pending.drain(..) {
            let batch = if p.bytes * 2 < chunk.len() {
                Batch::compact(chunk, &p.entries)
            } else {
                Batch {
                    chunk: chunk.clone(),
                    entries: p.entries,
                }
            };
            let _ = p.tx.send(super::table::Delivery::Batch(batch));
        }
        self.index.clear();
        self.last = None;
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::Delivery;
    use super::*;

    /// The entry of a message whose parts are at these byte ranges of `buf`.
    fn entry(
        buf: &[u8],
        subject: std::ops::Range<usize>,
        reply: Option<std::ops::Range<usize>>,
        headers: Option<std::ops::Range<usize>>,
        payload: std::ops::Range<usize>,
    ) -> Entry {
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&buf[r]).unwrap();
        Entry::locate(
            buf,
            text(subject),
            reply.map(text),
            headers.map(|r| &buf[r]),
            &buf[payload],
        )
        .unwrap()
    }

    fn batch_of(rx: &crossbeam_channel::Receiver<Delivery>) -> Batch {
        match rx.try_recv() {
            Ok(Delivery::Batch(b)) => b,
            _ => panic!("no batch"),
        }
    }

    fn payloads(b: &Batch) -> Vec<u8> {
        b.entries
            .iter()
            .map(|e| e.message(&b.chunk, None).unwrap().payload[0])
            .collect()
    }

    #[test]
    fn an_entry_makes_the_message_it_locates_shared_or_compacted() {
        let text =
            b"MSG a.b 1 ry 5\r\nhello\r\nHMSG c.d 2 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nworld\r\n";
        let buf = Bytes::from(&text[..]);
        let e1 = entry(&buf, 4..7, Some(10..12), None, 16..21);
        let e2 = entry(&buf, 28..31, None, Some(41..59), 59..64);
        let check = |batch: &Batch| {
            let m1 = batch.entries[0].message(&batch.chunk, None).unwrap();
            assert_eq!(
                (m1.subject.as_str(), m1.reply.as_deref(), &m1.payload[..]),
                ("a.b", Some("ry"), &b"hello"[..])
            );
            assert!(m1.headers.is_none());
            let m2 = batch.entries[1].message(&batch.chunk, None).unwrap();
            assert_eq!(
                (m2.subject.as_str(), &m2.payload[..]),
                ("c.d", &b"world"[..])
            );
            assert_eq!(m2.headers.unwrap().get("A"), Some("b"));
            assert!(m2.reply.is_none());
        };
        check(&Batch {
            chunk: buf.clone(),
            entries: vec![e1, e2],
        });
        let compact = Batch::compact(&buf, &[e1, e2]);
        assert_eq!(compact.chunk.len(), 3 + 2 + 5 + 3 + 18 + 5);
        check(&compact);
    }

    #[test]
    fn a_subscription_with_a_small_share_of_a_read_gets_a_compact_copy() {
        let text = b"MSG a 1 2\r\nhi\r\nMSG b 2 40\r\n0123456789012345678901234567890123456789\r\n";
        let buf = Bytes::from(&text[..]);
        let (tx1, rx1) = crossbeam_channel::unbounded();
        let (tx2, rx2) = crossbeam_channel::unbounded();
        let mut c = Collector::default();
        c.push(1, &tx1, entry(&buf, 4..5, None, None, 11..13));
        c.push(2, &tx2, entry(&buf, 19..20, None, None, 27..67));
        assert!(!c.is_empty());
        c.flush(&buf);
        assert!(c.is_empty());
        let small = batch_of(&rx1);
        assert_eq!(small.chunk.len(), 3, "compacted to its subject and payload");
        assert_eq!(
            &small.entries[0]
                .message(&small.chunk, None)
                .unwrap()
                .payload[..],
            b"hi"
        );
        let big = batch_of(&rx2);
        assert_eq!(big.chunk.len(), buf.len(), "shares the read's bytes");
        assert_eq!(
            big.entries[0]
                .message(&big.chunk, None)
                .unwrap()
                .payload
                .len(),
            40
        );
    }

    #[test]
    fn entries_of_one_subscription_stay_in_order_across_interleaving() {
        let text = b"MSG a 1 1\r\n1\r\nMSG b 2 1\r\n2\r\nMSG a 1 1\r\n3\r\n";
        let buf = Bytes::from(&text[..]);
        let (tx1, rx1) = crossbeam_channel::unbounded();
        let (tx2, rx2) = crossbeam_channel::unbounded();
        let mut c = Collector::default();
        c.push(1, &tx1, entry(&buf, 4..5, None, None, 11..12));
        c.push(2, &tx2, entry(&buf, 18..19, None, None, 25..26));
        c.push(1, &tx1, entry(&buf, 32..33, None, None, 39..40));
        c.flush(&buf);
        assert_eq!(payloads(&batch_of(&rx1)), b"13");
        assert_eq!(payloads(&batch_of(&rx2)), b"2");
        assert!(
            rx1.try_recv().is_err(),
            "one batch per subscription per read"
        );
    }

    #[test]
    fn an_entry_outside_the_buffer_is_refused() {
        let buf = b"MSG a 1 1\r\nx\r\n";
        let other = b"elsewhere";
        assert!(Entry::locate(buf, "a", None, None, &other[..1]).is_none());
    }
}
