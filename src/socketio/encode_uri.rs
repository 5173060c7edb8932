//! JavaScript's `encodeURI`, byte for byte: the socket.io-nats 0.1 adapter names a room's
//! subject `<key><delim><nsp><delim>encodeURI(room)`, so the emitter must escape exactly as it
//! does to land on the subject the adapter subscribed to.
//!
//! ECMAScript (§19.2.6.2, `encodeURI`) leaves alone the "unreserved" marks
//! `A-Z a-z 0-9 - _ . ! ~ * ' ( )`, the reserved characters `; / ? : @ & = + $ ,` and `#`;
//! every other code point is written as its UTF-8 bytes, each as `%XX` with upper-case hex.
//! (JavaScript throws on a lone surrogate; a Rust `&str` cannot hold one, so this cannot fail.)

use std::borrow::Cow;

/// `true` for the ASCII bytes `encodeURI` leaves as they are.
fn kept(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'_'
                | b'.'
                | b'!'
                | b'~'
                | b'*'
                | b'\''
                | b'('
                | b')'
                | b';'
                | b'/'
                | b'?'
                | b':'
                | b'@'
                | b'&'
                | b'='
                | b'+'
                | b'$'
                | b','
                | b'#'
        )
}

/// `encodeURI(s)` as JavaScript computes it; borrows `s` when nothing needs escaping.
pub fn encode_uri(s: &str) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let Some(first) = bytes.iter().position(|&b| !kept(b)) else {
        return Cow::Borrowed(s);
    };
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() + 2 * (s.len() - first) + 8);
    out.push_str(&s[..first]);
    for &b in &bytes[first..] {
        if kept(b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::encode_uri;

    #[test]
    fn leaves_the_characters_encode_uri_leaves() {
        let kept = "ABCXYZabcxyz0189-_.!~*'();/?:@&=+$,#";
        assert!(matches!(
            encode_uri(kept),
            std::borrow::Cow::Borrowed(s) if s == kept
        ));
    }

    #[test]
    fn escapes_every_other_ascii_character() {
        // The printable ASCII characters encodeURI escapes (from the ECMAScript sets).
        for (c, want) in [
            (' ', "%20"),
            ('"', "%22"),
            ('%', "%25"),
            ('<', "%3C"),
            ('>', "%3E"),
            ('[', "%5B"),
            ('\\', "%5C"),
            (']', "%5D"),
            ('^', "%5E"),
            ('`', "%60"),
            ('{', "%7B"),
            ('|', "%7C"),
            ('}', "%7D"),
            ('\u{7f}', "%7F"),
            ('\0', "%00"),
            ('\t', "%09"),
            ('\n', "%0A"),
        ] {
            assert_eq!(encode_uri(&c.to_string()), want, "{c:?}");
        }
        // Nothing else in ASCII is escaped.
        let escaped = " \"%<>[\\]^`{|}";
        for b in 0x21u8..0x7f {
            let s = (b as char).to_string();
            let out = encode_uri(&s);
            assert_eq!(out == s, !escaped.contains(b as char), "{s:?} -> {out}");
        }
    }

    #[test]
    fn non_ascii_is_escaped_as_upper_case_utf8() {
        assert_eq!(encode_uri("café"), "caf%C3%A9");
        assert_eq!(encode_uri("€"), "%E2%82%AC");
        assert_eq!(encode_uri("😀"), "%F0%9F%98%80");
        assert_eq!(encode_uri("\u{a0}"), "%C2%A0");
        assert_eq!(encode_uri("a b/c?d#é"), "a%20b/c?d#%C3%A9");
        assert_eq!(encode_uri(""), "");
    }
}
