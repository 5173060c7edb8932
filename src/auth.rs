//! Credentials for CONNECT: NKey and JWT authentication, creds files, and the callbacks that
//! let secrets live elsewhere. Everything here is evaluated again at every connection attempt,
//! so a callback or a creds file can hand out fresh credentials.
//!
//! Secrets (seeds, creds file contents) are kept in [`Zeroizing`] buffers, wiped when dropped.
//! `nkeys::KeyPair` does not wipe its key material, so a `KeyPair` is built only for the moment
//! of signing a nonce and dropped right after.
//!
//! Signing with a seed (Ed25519, base32 seeds, SHA-512: about 120 KB of a release binary) is
//! reached only through the [`SeedSigner`] that an option taking a seed stores beside it, never
//! called by name from the handshake: a program that sets no seed links none of that code.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The error a credentials callback returns; natsws wraps it as the source of its own error.
pub type CallbackError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) type JwtCallback =
    Arc<dyn Fn() -> std::result::Result<String, CallbackError> + Send + Sync>;
pub(crate) type SignCallback =
    Arc<dyn Fn(&[u8]) -> std::result::Result<Vec<u8>, CallbackError> + Send + Sync>;
pub(crate) type HeadersCallback =
    Arc<dyn Fn() -> std::result::Result<Vec<(String, String)>, CallbackError> + Send + Sync>;

/// Signs `data` with an NKey seed: the seed's public key and the encoded signature. The options
/// that take a seed (or a creds file) store [`sign_with_seed`] as this, and the handshake signs
/// through it, so the signing code is linked only into programs that call one of them.
pub(crate) type SeedSigner = fn(&str, &[u8]) -> Result<(String, String)>;

/// A user NKey seed (`SU…`), wiped when dropped, and the function that signs with it.
#[derive(Clone)]
pub(crate) struct Seed {
    secret: Zeroizing<String>,
    sign: SeedSigner,
}

impl Seed {
    /// A seed given to an option; signs with [`sign_with_seed`].
    pub(crate) fn new(secret: Zeroizing<String>) -> Seed {
        Seed::with_signer(secret, sign_with_seed)
    }

    fn with_signer(secret: Zeroizing<String>, sign: SeedSigner) -> Seed {
        Seed { secret, sign }
    }

    /// The public key and the encoded signature of `data`.
    fn sign(&self, data: &[u8]) -> Result<(String, String)> {
        (self.sign)(&self.secret, data)
    }

    /// Checks a seed given as an option, so a typo fails at `connect` with a clear error.
    pub(crate) fn check(&self) -> Result<()> {
        self.sign(b"check").map(|_| ())
    }
}

/// The code that handles [`Auth`]: stored beside it by the options that set credentials, so a
/// program that sets none links none of it (creds parsing, signing, the callbacks' handling).
pub(crate) struct AuthCode {
    pub(crate) prove: fn(&Auth, Option<&str>, &str) -> Result<Proof>,
    pub(crate) check: fn(&Auth) -> Result<()>,
}

pub(crate) static AUTH: AuthCode = AuthCode {
    prove: Auth::prove,
    check: Auth::check,
};

/// How the client proves who it is beyond user/password and token.
#[derive(Clone, Default)]
pub(crate) enum Auth {
    #[default]
    None,
    /// A user NKey seed (`SU…`): CONNECT gets `nkey` and `sig`.
    NKeySeed(Seed),
    /// A public user NKey and a callback that signs the nonce with its seed.
    NKeyCallback {
        public_key: String,
        sign: SignCallback,
    },
    /// A user JWT and the user's seed.
    Jwt { jwt: String, seed: Seed },
    /// Callbacks for the JWT and the nonce signature.
    JwtCallback {
        jwt: JwtCallback,
        sign: SignCallback,
    },
    /// A creds file, read again at every attempt, and what signs with its seed.
    CredsFile(PathBuf, SeedSigner),
    /// The contents of a creds file, and what signs with its seed.
    Creds(Zeroizing<String>, SeedSigner),
}

/// The `jwt`, `nkey` and `sig` fields of one CONNECT.
#[derive(Default)]
pub(crate) struct Proof {
    pub(crate) jwt: Option<String>,
    pub(crate) nkey: Option<String>,
    pub(crate) sig: Option<String>,
}

impl Auth {
    /// Obtains the credentials for one attempt and signs the server's `nonce` (the bytes as
    /// received in INFO).
    pub(crate) fn prove(&self, nonce: Option<&str>, server: &str) -> Result<Proof> {
        let need_nonce = || {
            nonce.ok_or_else(|| {
                Error::new(
                    ErrorKind::Authorization,
                    format!(
                        "NKey/JWT authentication is configured but {server} sent no nonce to sign \
                         (the server does not use NKey or JWT authentication on this port)"
                    ),
                )
            })
        };
        match self {
            Auth::None => Ok(Proof::default()),
            Auth::NKeySeed(seed) => {
                let nonce = need_nonce()?;
                let (public, sig) = seed.sign(nonce.as_bytes())?;
                Ok(Proof {
                    jwt: None,
                    nkey: Some(public),
                    sig: Some(sig),
                })
            }
            Auth::NKeyCallback { public_key, sign } => {
                let nonce = need_nonce()?;
                let sig = sign(nonce.as_bytes()).map_err(|e| callback_error("NKey signing", e))?;
                Ok(Proof {
                    jwt: None,
                    nkey: Some(public_key.clone()),
                    sig: Some(encode_sig(&sig)),
                })
            }
            Auth::Jwt { jwt, seed } => {
                let nonce = need_nonce()?;
                let (_, sig) = seed.sign(nonce.as_bytes())?;
                Ok(Proof {
                    jwt: Some(jwt.clone()),
                    nkey: None,
                    sig: Some(sig),
                })
            }
            Auth::JwtCallback { jwt, sign } => {
                let nonce = need_nonce()?;
                let jwt = jwt().map_err(|e| callback_error("user JWT", e))?;
                let sig = sign(nonce.as_bytes()).map_err(|e| callback_error("JWT signing", e))?;
                Ok(Proof {
                    jwt: Some(jwt),
                    nkey: None,
                    sig: Some(encode_sig(&sig)),
                })
            }
            Auth::CredsFile(path, sign) => {
                let text = std::fs::read(path).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidOption,
                        format!("cannot read the creds file {}", path.display()),
                    )
                    .with_source(e)
                })?;
                let text = Zeroizing::new(text);
                let text = std::str::from_utf8(&text).map_err(|_| {
                    Error::new(
                        ErrorKind::InvalidOption,
                        format!("the creds file {} is not UTF-8 text", path.display()),
                    )
                })?;
                let (jwt, seed) = parse_creds(text)
                    .map_err(|e| e.in_file(&format!("the creds file {}", path.display())))?;
                let seed = Seed::with_signer(seed, *sign);
                Auth::Jwt { jwt, seed }.prove(nonce, server)
            }
            Auth::Creds(text, sign) => {
                let (jwt, seed) =
                    parse_creds(text).map_err(|e| e.in_file("the credentials text"))?;
                let seed = Seed::with_signer(seed, *sign);
                Auth::Jwt { jwt, seed }.prove(nonce, server)
            }
        }
    }
}

impl Auth {
    /// Fails early on credentials that cannot work (a malformed seed or creds text, or a seed
    /// in a build without the `nkeys` feature).
    pub(crate) fn check(&self) -> Result<()> {
        #[cfg(not(feature = "nkeys"))]
        if let Some(option) = self.seed_option() {
            return Err(nkeys_missing(&format!("the option {option}")));
        }
        match self {
            Auth::NKeySeed(seed) | Auth::Jwt { seed, .. } => seed.check(),
            Auth::Creds(text, _) => parse_creds(text)
                .map(|_| ())
                .map_err(|e| e.in_file("the credentials text")),
            _ => Ok(()),
        }
    }
}

fn callback_error(what: &str, e: CallbackError) -> Error {
    // The callback's own text is the caller's: it goes into the message as it is.
    Error::new(
        ErrorKind::Authorization,
        format!("the {what} callback failed: {e}"),
    )
}

/// base64url without padding, the encoding nats.go uses for `sig`.
fn encode_sig(sig: &[u8]) -> String {
    data_encoding::BASE64URL_NOPAD.encode(sig)
}

#[cfg(not(feature = "nkeys"))]
impl Auth {
    /// The option that set these credentials, when natsws itself signs with a seed they hold
    /// (which takes the `nkeys` feature); `None` for no credentials or signing callbacks.
    pub(crate) fn seed_option(&self) -> Option<&'static str> {
        match self {
            Auth::NKeySeed(_) => Some("nkey_seed"),
            Auth::Jwt { .. } => Some("user_jwt_and_seed"),
            Auth::CredsFile(..) => Some("credentials_file"),
            Auth::Creds(..) => Some("credentials"),
            Auth::None | Auth::NKeyCallback { .. } | Auth::JwtCallback { .. } => None,
        }
    }
}

/// Signing with a seed in a build without the `nkeys` feature: what `option` asks for cannot be
/// done, and the error says how else.
#[cfg(not(feature = "nkeys"))]
pub(crate) fn nkeys_missing(option: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOption,
        format!(
            "{option} signs with an NKey seed, but this build of natsws has no NKeys (cargo \
             feature `nkeys`); sign the nonce in a callback instead (Options::nkey, \
             Options::user_jwt)"
        ),
    )
}

/// The public key of `seed` and the encoded signature of `data` (a [`SeedSigner`]).
#[cfg(not(feature = "nkeys"))]
pub(crate) fn sign_with_seed(_seed: &str, _data: &[u8]) -> Result<(String, String)> {
    // Options::validate refuses such credentials before any attempt; this is the last guard.
    Err(nkeys_missing("signing"))
}

/// The public key of `seed` and the encoded signature of `data` (a [`SeedSigner`]). Named only
/// where an option stores it: the handshake calls it through the stored pointer.
#[cfg(feature = "nkeys")]
pub(crate) fn sign_with_seed(seed: &str, data: &[u8]) -> Result<(String, String)> {
    // The nkeys error text never contains the seed, but it is not needed either.
    let kp = nkeys::KeyPair::from_seed(seed.trim())
        .map_err(|_| Error::new(ErrorKind::InvalidOption, "the NKey seed is not valid"))?;
    let sig = kp
        .sign(data)
        .map_err(|_| Error::new(ErrorKind::InvalidOption, "the NKey seed cannot sign"))?;
    Ok((kp.public_key(), encode_sig(&sig)))
}

/// What is wrong with a creds text (the caller adds which file).
pub(crate) struct CredsError(&'static str);

impl CredsError {
    pub(crate) fn in_file(self, what: &str) -> Error {
        Error::new(
            ErrorKind::InvalidOption,
            format!("{what} is not a valid creds file: {}", self.0),
        )
    }
}

fn is_dash_line(line: &str) -> bool {
    let dashes = |s: &str| s.len() >= 3 && s.bytes().all(|b| b == b'-');
    line.len() >= 6
        && line.get(..3).is_some_and(dashes)
        && line.get(line.len() - 3..).is_some_and(dashes)
}

fn is_token(line: &str) -> bool {
    !line.is_empty()
        && line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'='))
}

/// The user JWT and seed of a creds file: the first armored block (`-----BEGIN … -----`, a
/// token line, `------END … ------`) is the JWT, the second the seed. Tolerates CRLF,
/// indentation, blank lines around the token and any number (≥ 3) of dashes. As in nats.go, a
/// line starting with `SU` is taken as the seed when the second block is missing.
pub(crate) fn parse_creds(
    text: &str,
) -> std::result::Result<(String, Zeroizing<String>), CredsError> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let next_non_blank = |mut i: usize| {
        while i < lines.len() && lines[i].is_empty() {
            i += 1;
        }
        i
    };
    let mut blocks: Vec<&str> = Vec::new();
    let mut i = 0;
    while i < lines.len() && blocks.len() < 2 {
        if !is_dash_line(lines[i]) {
            i += 1;
            continue;
        }
        let t = next_non_blank(i + 1);
        if t >= lines.len() || is_dash_line(lines[t]) || !is_token(lines[t]) {
            i = t.max(i + 1);
            continue;
        }
        let end = next_non_blank(t + 1);
        if end < lines.len() && is_dash_line(lines[end]) {
            blocks.push(lines[t]);
            i = end + 1;
        } else {
            i = t + 1;
        }
    }
    let jwt = *blocks
        .first()
        .ok_or(CredsError("no armored user JWT block found"))?;
    if jwt.split('.').count() != 3 {
        return Err(CredsError("the first block is not a JWT"));
    }
    let seed = match blocks.get(1) {
        Some(s) => *s,
        None => lines
            .iter()
            .copied()
            .find(|l| l.starts_with("SU"))
            .ok_or(CredsError("no user NKey seed block found"))?,
    };
    if !seed.starts_with("SU") {
        return Err(CredsError(
            "the second block is not a user NKey seed (it must start with SU)",
        ));
    }
    Ok((jwt.to_string(), Zeroizing::new(seed.to_string())))
}

/// A JWT for display: its first characters only (a JWT is not a secret, but long).
pub(crate) fn truncated(jwt: &str) -> String {
    match jwt.get(..16) {
        Some(head) if jwt.len() > 16 => format!("{head}…"),
        _ => jwt.to_string(),
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("None"),
            Auth::NKeySeed(_) => f.write_str("NKeySeed(<redacted>)"),
            Auth::NKeyCallback { public_key, .. } => f
                .debug_struct("NKeyCallback")
                .field("public_key", public_key)
                .finish_non_exhaustive(),
            Auth::Jwt { jwt, .. } => f
                .debug_struct("Jwt")
                .field("jwt", &truncated(jwt))
                .field("seed", &"<redacted>")
                .finish(),
            Auth::JwtCallback { .. } => f.write_str("JwtCallback"),
            Auth::CredsFile(p, _) => f.debug_tuple("CredsFile").field(p).finish(),
            Auth::Creds(..) => f.write_str("Creds(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJqdGkiOiJ4In0.c2ln";

    fn seed() -> String {
        nkeys::KeyPair::new_user().seed().unwrap()
    }

    fn creds(jwt: &str, seed: &str) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        )
    }

    #[test]
    fn creds_as_written_by_nsc() {
        let s = seed();
        let (jwt, got) = parse_creds(&creds(JWT, &s)).ok().unwrap();
        assert_eq!(jwt, JWT);
        assert_eq!(*got, s);
    }

    #[test]
    fn creds_whitespace_variants() {
        let s = seed();
        let base = creds(JWT, &s);
        let variants = [
            base.replace('\n', "\r\n"),
            base.lines().map(|l| format!("    {l}\n")).collect(),
            base.replace("\n", "\n\n"),
            base.replace("-----", "---").replace("------", "---"),
            base.replace("-----", "----------"),
            format!("\n\n\t{}", base.replace('\n', " \t\n")),
        ];
        for v in variants {
            let (jwt, got) = parse_creds(&v).ok().unwrap_or_else(|| panic!("{v:?}"));
            assert_eq!(jwt, JWT, "{v:?}");
            assert_eq!(*got, s, "{v:?}");
        }
    }

    #[test]
    fn creds_seed_fallback_line() {
        let s = seed();
        let text =
            format!("-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n{s}\n");
        let (_, got) = parse_creds(&text).ok().unwrap();
        assert_eq!(*got, s);
    }

    #[test]
    fn creds_malformed() {
        let s = seed();
        let cases = [
            ("", "no armored user JWT"),
            ("just some text\n", "no armored user JWT"),
            (
                "-----BEGIN NATS USER JWT-----\nnotajwt\n------END NATS USER JWT------\n",
                "not a JWT",
            ),
            (
                "-----BEGIN NATS USER JWT-----\n{JWT}\n------END NATS USER JWT------\n",
                "no user NKey seed",
            ),
            (
                "-----BEGIN NATS USER JWT-----\n{JWT}\n-----END-----\n---A---\nSAXYZ\n---B---\n",
                "not a user NKey seed",
            ),
            (
                "-----BEGIN NATS USER JWT-----\n{JWT}\n",
                "no armored user JWT",
            ),
        ];
        for (text, want) in cases {
            let text = text.replace("{JWT}", JWT);
            let err = parse_creds(&text)
                .err()
                .unwrap()
                .in_file("the creds file x");
            let msg = err.to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
            assert!(
                msg.contains("the creds file x is not a valid creds file"),
                "{msg}"
            );
            assert_eq!(err.kind(), ErrorKind::InvalidOption);
            assert!(!msg.contains(&s));
        }
    }

    fn seed_auth(s: &str) -> Auth {
        Auth::NKeySeed(Seed::new(Zeroizing::new(s.to_string())))
    }

    /// Every option that takes a seed stores a signer that signs: the proof carries a
    /// signature of the nonce that verifies with the seed's public key.
    #[test]
    #[cfg(feature = "nkeys")]
    fn every_seed_option_signs() {
        use crate::Options;
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let file = std::env::temp_dir().join(format!(
            "natsws-auth-unit-{}-{}.creds",
            std::process::id(),
            nuid::next()
        ));
        std::fs::write(&file, creds(JWT, &seed)).unwrap();
        let all = [
            ("nkey_seed", Options::new().nkey_seed(seed.clone()), true),
            (
                "user_jwt_and_seed",
                Options::new().user_jwt_and_seed(JWT, seed.clone()),
                false,
            ),
            (
                "credentials",
                Options::new().credentials(creds(JWT, &seed)),
                false,
            ),
            (
                "credentials_file",
                Options::new().credentials_file(&file),
                false,
            ),
        ];
        let nonce = "t3Ls-nonce_xyz";
        for (option, opts, nkey) in all {
            opts.check_auth().unwrap();
            let proof = opts.prove_auth(Some(nonce), "s").unwrap();
            if nkey {
                assert_eq!(proof.nkey.as_deref(), Some(kp.public_key().as_str()));
                assert_eq!(proof.jwt, None);
            } else {
                assert_eq!(proof.nkey, None, "{option}");
                assert_eq!(proof.jwt.as_deref(), Some(JWT), "{option}");
            }
            let sig = data_encoding::BASE64URL_NOPAD
                .decode(proof.sig.unwrap().as_bytes())
                .unwrap();
            assert_eq!(sig.len(), 64, "{option}");
            kp.verify(nonce.as_bytes(), &sig)
                .unwrap_or_else(|e| panic!("{option}: {e}"));
        }
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn no_nonce_fails_early() {
        let err = seed_auth(&seed()).prove(None, "nats://h:1").err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Authorization);
        assert!(err.to_string().contains("no nonce"), "{err}");
    }

    #[test]
    #[cfg(feature = "nkeys")]
    fn bad_seed_is_clear_and_secret_free() {
        let err = Seed::new(Zeroizing::new("SUnot-a-seed-s3cret".into()))
            .check()
            .err()
            .unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidOption);
        assert!(!format!("{err} {err:?}").contains("s3cret"));
    }

    #[test]
    #[cfg(not(feature = "nkeys"))]
    fn seeds_need_the_nkeys_feature() {
        let err = Seed::new(Zeroizing::new(seed())).check().err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidOption);
        assert!(err.to_string().contains("cargo feature `nkeys`"), "{err}");
        let err = seed_auth(&seed()).prove(Some("nonce"), "s").err().unwrap();
        assert!(err.to_string().contains("cargo feature `nkeys`"), "{err}");
    }

    #[test]
    fn debug_redacts() {
        let s = seed();
        let all = [
            seed_auth(&s),
            Auth::Jwt {
                jwt: JWT.to_string(),
                seed: Seed::new(Zeroizing::new(s.clone())),
            },
            Auth::Creds(Zeroizing::new(creds(JWT, &s)), sign_with_seed),
        ];
        for a in all {
            let d = format!("{a:?}");
            assert!(!d.contains(&s) && !d.contains("c2ln"), "{d}");
        }
    }
}
