//! Replays the captured server traffic in `fuzz/corpus/parse/` through the parser.
//!
//! Files named by capture.py (real nats-server output) must parse completely, and the same way
//! whole, byte by byte, and in seeded chunks. Files with 40-hex-digit names (added by a fuzzer
//! run) only have to parse without panicking.

use std::path::Path;

use natsws::fuzzing::{feed, seeded_chunks, Limits, OwnedOp};
use natsws::ServerInfo;

#[test]
fn corpus_replays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    let limits = Limits::default();
    let mut captured = 0;
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        let fuzzed = name.len() == 40 && name.bytes().all(|b| b.is_ascii_hexdigit());
        let (whole, rest) = feed(&data, || data.len(), &limits);
        let (seeded, seeded_rest) = feed(&data, seeded_chunks(name.len() as u8), &limits);
        let bytewise = (data.len() < 64 * 1024).then(|| feed(&data, || 1, &limits));
        if fuzzed {
            continue;
        }
        captured += 1;
        assert_eq!(rest.as_ref().ok(), Some(&0), "{name}: {rest:?}");
        assert!(!whole.is_empty(), "{name}");
        assert_eq!(seeded, whole, "{name}");
        assert_eq!(seeded_rest.ok(), Some(0), "{name}");
        if let Some((ops, rest)) = bytewise {
            assert_eq!(ops, whole, "{name}");
            assert_eq!(rest.ok(), Some(0), "{name}");
        }
        for op in &whole {
            match op {
                OwnedOp::Info(json) => {
                    let info = ServerInfo::parse(json).unwrap();
                    assert!(!info.server_id.is_empty() && info.max_payload > 0, "{name}");
                }
                OwnedOp::HMsg { headers, .. } => {
                    natsws::fuzzing::parse_headers(headers).unwrap();
                }
                _ => {}
            }
        }
    }
    assert!(captured > 0, "no captured (non-fuzzer) files in the corpus");
}
