//! Feeds arbitrary bytes through the parser the way a connection does.
//!
//! The first byte seeds the chunk sizes and is also part of the stream, so raw captured server
//! traffic (fuzz/corpus/parse/, see capture.py) is a valid input as is.
#![no_main]

use libfuzzer_sys::fuzz_target;
use natsws::fuzzing::{feed, seeded_chunks, Limits, OwnedOp};
use natsws::ServerInfo;


fuzz_target!(|data: &[u8]| {
    let Some(&seed) = data.first() else { return };
    let limits = Limits {
        max_control_line: 256,
        max_payload: 4096,
    };
    // feed() asserts the parser's contract (need > len, no early op, sane consumed counts)
    // and runs every HMSG header block through Headers::parse.
    let (ops, _) = feed(data, seeded_chunks(seed), &limits);
    for op in &ops {
        match op {
            OwnedOp::Info(json) => {
                let _ = ServerInfo::parse(json);
            }
            OwnedOp::HMsg { headers, .. } => check_headers(headers),
            _ => {}
        }
    }
    check_headers(data);
});

/// Parsing never panics; valid parsed headers survive encode → parse unchanged.
fn check_headers(block: &[u8]) {
    if let Ok(h) = natsws::fuzzing::parse_headers(block) {
        if h.validate().is_ok() {
            let mut out = Vec::new();
            natsws::fuzzing::encode_headers(&h, &mut out);
            assert_eq!(out.len(), natsws::fuzzing::headers_len(&h));
            assert_eq!(natsws::fuzzing::parse_headers(&out).unwrap(), h);
        }
    }
}
