//! A hasher for small integer keys we hand out ourselves (subscription ids, publish ids): a
//! multiplicative hash is enough, and SipHash showed up in profiles of the receive path and
//! of the pipelined publish.

use std::hash::{BuildHasherDefault, Hasher};

/// Build one [`IntHasher`] per map.
pub(crate) type IntHash = BuildHasherDefault<IntHasher>;

#[derive(Default)]
pub(crate) struct IntHasher(u64);

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
