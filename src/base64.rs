//! base64 (RFC 4648) encoding of the few short values a connection sends: the WebSocket key
//! and its expected accept value, a proxy's Basic credentials, a nonce signature.
//!
//! By hand rather than with data-encoding, whose runtime-configured encoder is about 24 KB of
//! a release binary (one copy per bit width, padding and wrapping mode) for what is a dozen
//! lines here. Decoding, which only the JetStream API needs, stays with data-encoding.

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Standard base64 with `=` padding (HTTP headers).
pub(crate) fn encode(data: &[u8]) -> String {
    encode_with(data, STANDARD, true)
}

/// URL-safe base64 without padding (a nonce signature in CONNECT, as nats.go sends it).
pub(crate) fn encode_url_no_pad(data: &[u8]) -> String {
    encode_with(data, URL_SAFE, false)
}

/// The output is allocated once at its final size and never grows, so no copy of a secret
/// input's encoding is left behind in a freed buffer (the caller wipes the one it gets).
fn encode_with(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let len = if pad {
        data.len().div_ceil(3) * 4
    } else {
        (data.len() * 4).div_ceil(3)
    };
    let mut out = String::with_capacity(len);
    for chunk in data.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let bits = byte(0) << 16 | byte(1) << 8 | byte(2);
        // 1, 2 or 3 bytes make 2, 3 or 4 characters.
        for i in 0..=chunk.len() {
            out.push(char::from(alphabet[(bits >> (18 - 6 * i)) as usize & 63]));
        }
        if pad {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    debug_assert_eq!(out.len(), len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4648_vectors() {
        for (plain, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(plain.as_bytes()), want);
            assert_eq!(
                encode_url_no_pad(plain.as_bytes()),
                want.trim_end_matches('=')
            );
        }
        assert_eq!(encode(&[0xfb, 0xff, 0xbf]), "+/+/");
        assert_eq!(encode_url_no_pad(&[0xfb, 0xff, 0xbf]), "-_-_");
    }

    #[test]
    fn same_as_data_encoding_for_every_length_and_byte() {
        for len in 0..=100usize {
            let data: Vec<u8> = (0..len)
                .map(|i| (i * 97 + len * 31) as u8 ^ rand::random::<u8>())
                .collect();
            assert_eq!(encode(&data), data_encoding::BASE64.encode(&data));
            assert_eq!(
                encode_url_no_pad(&data),
                data_encoding::BASE64URL_NOPAD.encode(&data)
            );
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(encode(&all), data_encoding::BASE64.encode(&all));
    }
}
