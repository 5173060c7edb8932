//! Minting operator, account and user JWTs for a test server in operator mode (decentralized
//! authentication), with no `nsc` and no files.
//!
//! ```no_run
//! use natsws::test_server::{jwt::Operator, NatsServer};
//!
//! # fn main() -> natsws::Result<()> {
//! let operator = Operator::new("test-op")?;
//! let account = operator.account("app")?;
//! let user = account.user("alice")?;
//! let server = NatsServer::builder()
//!     .config(&operator.server_config(&[&account]))
//!     .start()?;
//! let nc = natsws::Options::new()
//!     .user_jwt_and_seed(user.jwt(), user.seed())
//!     .connect(server.tcp_url().as_str())?;
//! # Ok(()) }
//! ```
//!
//! A JWT here is `base64url(header).base64url(claims).base64url(signature)`, the header
//! `{"typ":"JWT","alg":"ed25519-nkey"}`, the signature the issuer's Ed25519 signature of the
//! first two parts. The account and user claims carry no limits (`-1`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::{Error, ErrorKind, Result};

/// An operator: the root of trust the server is configured with. It has a system account.
pub struct Operator {
    seed: Zeroizing<String>,
    public: String,
    jwt: String,
    system: Account,
}

/// An account, signed by its operator.
pub struct Account {
    seed: Zeroizing<String>,
    public: String,
    jwt: String,
}

/// A user of an account: a JWT signed by the account, and the user's own seed.
pub struct User {
    seed: Zeroizing<String>,
    public: String,
    jwt: String,
}

fn key_error(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOption,
        format!("test_server::jwt: {what}"),
    )
}

fn new_seed(kp: nkeys::KeyPair) -> Result<(Zeroizing<String>, String)> {
    let seed = kp
        .seed()
        .map_err(|_| key_error("cannot export a new seed"))?;
    Ok((Zeroizing::new(seed), kp.public_key()))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Encodes and signs a JWT with `claims`, issued by the holder of `issuer_seed`.
fn encode(
    issuer_seed: &str,
    subject: &str,
    name: &str,
    expires: Option<u64>,
    nats: Value,
) -> Result<String> {
    let b64 = |bytes: &[u8]| data_encoding::BASE64URL_NOPAD.encode(bytes);
    let issuer = nkeys::KeyPair::from_seed(issuer_seed).map_err(|_| key_error("bad seed"))?;
    let mut claims = json!({
        "jti": nuid::next().to_string(),
        "iat": now_secs(),
        "iss": issuer.public_key(),
        "sub": subject,
        "name": name,
        "nats": nats,
    });
    if let Some(exp) = expires {
        claims["exp"] = json!(exp);
    }
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = b64(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{body}");
    let sig = issuer
        .sign(signing_input.as_bytes())
        .map_err(|_| key_error("cannot sign"))?;
    Ok(format!("{signing_input}.{}", b64(&sig)))
}

fn new_account(operator_seed: &str, name: &str) -> Result<Account> {
    let (seed, public) = new_seed(nkeys::KeyPair::new_account())?;
    let jwt = encode(
        operator_seed,
        &public,
        name,
        None,
        json!({
            "limits": {
                "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
                "wildcards": true, "conn": -1, "leaf": -1
            },
            "default_permissions": { "pub": {}, "sub": {} },
            "type": "account",
            "version": 2
        }),
    )?;
    Ok(Account { seed, public, jwt })
}

impl Operator {
    /// A new operator key, its self-signed JWT, and a system account (`SYS`).
    pub fn new(name: &str) -> Result<Operator> {
        let (seed, public) = new_seed(nkeys::KeyPair::new_operator())?;
        let system = new_account(&seed, "SYS")?;
        let jwt = encode(
            &seed,
            &public,
            name,
            None,
            json!({ "system_account": system.public, "type": "operator", "version": 2 }),
        )?;
        Ok(Operator {
            seed,
            public,
            jwt,
            system,
        })
    }

    /// A new account signed by this operator.
    pub fn account(&self, name: &str) -> Result<Account> {
        new_account(&self.seed, name)
    }

    /// The operator's public key (`O…`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The operator JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The system account.
    pub fn system_account(&self) -> &Account {
        &self.system
    }

    /// Server config text for operator mode with a memory resolver preloaded with the system
    /// account and `accounts`: pass it to [`Builder::config`](super::Builder::config).
    pub fn server_config(&self, accounts: &[&Account]) -> String {
        let mut c = format!(
            "operator: {}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {}\n",
            self.jwt, self.system.public, self.system.public, self.system.jwt
        );
        for a in accounts {
            c.push_str(&format!("  {}: {}\n", a.public, a.jwt));
        }
        c.push_str("}\n");
        c
    }
}

impl Account {
    /// A new user of this account, with no expiry.
    pub fn user(&self, name: &str) -> Result<User> {
        self.mint_user(name, None)
    }

    /// A new user whose JWT expires at `expires` (the server then refuses it, or disconnects
    /// it with `User Authentication Expired` when the time comes while connected).
    pub fn user_expiring(&self, name: &str, expires: SystemTime) -> Result<User> {
        let exp = expires
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.mint_user(name, Some(exp))
    }

    fn mint_user(&self, name: &str, expires: Option<u64>) -> Result<User> {
        let (seed, public) = new_seed(nkeys::KeyPair::new_user())?;
        let jwt = encode(
            &self.seed,
            &public,
            name,
            expires,
            json!({
                "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                "type": "user", "version": 2
            }),
        )?;
        Ok(User { seed, public, jwt })
    }

    /// The account's public key (`A…`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// The account JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }
}

impl User {
    /// The user JWT.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The user's seed (`SU…`): secret.
    pub fn seed(&self) -> &str {
        &self.seed
    }

    /// The user's public key (`U…`).
    pub fn public_key(&self) -> &str {
        &self.public
    }

    /// A creds file's text for this user, in the layout `nsc` writes.
    pub fn creds(&self) -> String {
        format!(
            "-----BEGIN NATS USER JWT-----\n{}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n",
            self.jwt, *self.seed
        )
    }
}

macro_rules! debug_public {
    ($t:ty) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("public_key", &self.public)
                    .finish_non_exhaustive()
            }
        }
    };
}
debug_public!(Operator);
debug_public!(Account);
debug_public!(User);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_shape_and_signature() {
        let op = Operator::new("op").unwrap();
        let acc = op.account("acc").unwrap();
        let user = acc.user("u").unwrap();
        let parts: Vec<&str> = user.jwt().split('.').collect();
        assert_eq!(parts.len(), 3);
        let dec = |s: &str| data_encoding::BASE64URL_NOPAD.decode(s.as_bytes()).unwrap();
        let claims: Value = serde_json::from_slice(&dec(parts[1])).unwrap();
        assert_eq!(claims["iss"], acc.public_key());
        assert_eq!(claims["sub"], user.public_key());
        assert_eq!(claims["nats"]["type"], "user");
        let acc_kp = nkeys::KeyPair::from_public_key(acc.public_key()).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        acc_kp.verify(input.as_bytes(), &dec(parts[2])).unwrap();
        assert!(user.seed().starts_with("SU"));
        let d = format!("{op:?} {acc:?} {user:?}");
        assert!(!d.contains(user.seed()) && !d.contains(user.jwt()), "{d}");
    }
}
