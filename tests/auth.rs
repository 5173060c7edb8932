//! Authentication against a real nats-server, over tcp, ws and wss: user and password, token,
//! NKey, JWT (operator mode), creds files, credential callbacks, WebSocket cookies, headers and
//! Origin. Each method succeeds with the right credentials and fails with its own error kind.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{assert_kind, wait_event, Ctx, WAIT};
use natsws::test_server::jwt::{Operator, User};
use natsws::test_server::{NatsServer, Transport};
use natsws::{Connection, ErrorKind, Event, Options};

fn round_trip(nc: &Connection) {
    let sub = nc.subscribe("auth.check").unwrap();
    nc.flush().unwrap();
    nc.publish("auth.check", "hello").unwrap();
    let m = sub.next_timeout(WAIT).unwrap();
    assert_eq!(&m.payload[..], b"hello");
}

/// Connects with `opts` and checks the error kind, and that no secret shows in the error.
#[track_caller]
fn refused(ctx: &Ctx, opts: Options, kind: ErrorKind, secrets: &[&str]) -> natsws::Error {
    let e = assert_kind(opts.connect(ctx.url().as_str()), kind);
    let shown = format!("{e} | {e:?}");
    for s in secrets {
        assert!(!shown.contains(s), "secret in {shown}");
    }
    e
}

fn user_and_password(t: Transport) {
    let ctx = Ctx::with_config(t, "authorization { user: alice, password: pw-s3cret }");
    round_trip(&ctx.connect_with(ctx.opts().user_and_password("alice", "pw-s3cret")));
    // `user:pass@` in the URL wins over the options.
    let url = ctx.url_with_user("alice", "pw-s3cret");
    let nc = ctx
        .opts()
        .user_and_password("alice", "wrong")
        .connect(url.as_str())
        .unwrap();
    round_trip(&nc);
    let e = refused(
        &ctx,
        ctx.opts().user_and_password("alice", "wrong-s3cret"),
        ErrorKind::Authorization,
        &["wrong-s3cret"],
    );
    assert_eq!(e.server_text(), Some("Authorization Violation"));
    refused(&ctx, ctx.opts(), ErrorKind::Authorization, &[]);
}

fn token(t: Transport) {
    let ctx = Ctx::with_config(t, "authorization { token: tok-s3cret }");
    round_trip(&ctx.connect_with(ctx.opts().token("tok-s3cret")));
    refused(
        &ctx,
        ctx.opts().token("bad-s3cret"),
        ErrorKind::Authorization,
        &["bad-s3cret"],
    );
}

/// A server that knows one user NKey.
fn nkey_ctx(t: Transport) -> (Ctx, nkeys::KeyPair) {
    let kp = nkeys::KeyPair::new_user();
    let ctx = Ctx::with_config(
        t,
        &format!(
            "authorization {{ users: [ {{ nkey: {} }} ] }}",
            kp.public_key()
        ),
    );
    (ctx, kp)
}

#[cfg(feature = "nkeys")]
fn nkey_seed(t: Transport) {
    let (ctx, kp) = nkey_ctx(t);
    let seed = kp.seed().unwrap();
    round_trip(&ctx.connect_with(ctx.opts().nkey_seed(seed.as_str())));
    // Another user's key is refused.
    let other = nkeys::KeyPair::new_user().seed().unwrap();
    refused(
        &ctx,
        ctx.opts().nkey_seed(other.as_str()),
        ErrorKind::Authorization,
        &[&other],
    );
    // A malformed seed fails before connecting.
    refused(
        &ctx,
        ctx.opts().nkey_seed("SUnot-a-s3cret-seed"),
        ErrorKind::InvalidOption,
        &["s3cret"],
    );
}

/// The seed stays with the caller: a signing callback (in every build, `nkeys` feature or not).
fn nkey_callback(t: Transport) {
    let (ctx, kp) = nkey_ctx(t);
    let signer = nkeys::KeyPair::from_seed(&kp.seed().unwrap()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let opts = ctx.opts().nkey(kp.public_key(), move |nonce| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok(signer.sign(nonce)?)
    });
    round_trip(&ctx.connect_with(opts));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Another user's signature is refused.
    let other = nkeys::KeyPair::new_user();
    refused(
        &ctx,
        ctx.opts()
            .nkey(kp.public_key(), move |nonce| Ok(other.sign(nonce)?)),
        ErrorKind::Authorization,
        &[],
    );
    // A callback that fails is the attempt's error.
    let e = refused(
        &ctx,
        ctx.opts()
            .nkey(kp.public_key(), |_| Err("keystore locked".into())),
        ErrorKind::Authorization,
        &[],
    );
    assert!(e.to_string().contains("keystore locked"), "{e}");
}

fn nkey_without_nonce_fails_early(t: Transport) {
    let ctx = Ctx::new(t);
    let kp = nkeys::KeyPair::new_user();
    let seed = kp.seed().unwrap();
    let mut attempts = vec![(
        "callback",
        ctx.opts()
            .nkey(kp.public_key(), move |nonce| Ok(kp.sign(nonce)?)),
    )];
    if cfg!(feature = "nkeys") {
        attempts.push(("seed", ctx.opts().nkey_seed(seed.as_str())));
    }
    for (form, opts) in attempts {
        let e = refused(&ctx, opts, ErrorKind::Authorization, &[&seed]);
        assert!(e.to_string().contains("no nonce"), "{form}: {e}");
        assert_eq!(e.server_text(), None, "{form}");
    }
}

/// An operator-mode server and a user of one of its accounts.
fn operator_ctx(t: Transport) -> (Ctx, Operator, User) {
    let op = Operator::new("test-operator").unwrap();
    let acc = op.account("app").unwrap();
    let user = acc.user("alice").unwrap();
    let ctx = Ctx::with_config(t, &op.server_config(&[&acc]));
    (ctx, op, user)
}

#[cfg(feature = "nkeys")]
fn jwt(t: Transport) {
    let (ctx, op, user) = operator_ctx(t);
    round_trip(&ctx.connect_with(ctx.opts().user_jwt_and_seed(user.jwt(), user.seed())));

    // The right JWT with another key's signature.
    let wrong = nkeys::KeyPair::new_user().seed().unwrap();
    refused(
        &ctx,
        ctx.opts().user_jwt_and_seed(user.jwt(), wrong.as_str()),
        ErrorKind::Authorization,
        &[&wrong],
    );
    // A user of an account the server does not know.
    let stranger = op.account("unknown").unwrap().user("mallory").unwrap();
    refused(
        &ctx,
        ctx.opts()
            .user_jwt_and_seed(stranger.jwt(), stranger.seed()),
        ErrorKind::Authorization,
        &[stranger.seed()],
    );
    // An expired user JWT.
    let old = ctx_account_user_expired(&op);
    refused(
        &ctx,
        ctx.opts().user_jwt_and_seed(old.jwt(), old.seed()),
        ErrorKind::Authorization,
        &[old.seed()],
    );
}

/// A user whose JWT expired an hour ago (of an account the server does not know either way:
/// the server refuses it at connect).
#[cfg(feature = "nkeys")]
fn ctx_account_user_expired(op: &Operator) -> User {
    op.account("expired")
        .unwrap()
        .user_expiring("old", SystemTime::now() - Duration::from_secs(3600))
        .unwrap()
}

fn jwt_callbacks(t: Transport) {
    let (ctx, _op, user) = operator_ctx(t);
    let seed = user.seed().to_string();
    let jwt = user.jwt().to_string();
    let (jc, sc) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (jc2, sc2) = (jc.clone(), sc.clone());
    let opts = ctx.opts().user_jwt(
        move || {
            jc2.fetch_add(1, Ordering::SeqCst);
            Ok(jwt.clone())
        },
        move |nonce| {
            sc2.fetch_add(1, Ordering::SeqCst);
            Ok(nkeys::KeyPair::from_seed(&seed)?.sign(nonce)?)
        },
    );
    round_trip(&ctx.connect_with(opts));
    assert_eq!(
        (jc.load(Ordering::SeqCst), sc.load(Ordering::SeqCst)),
        (1, 1)
    );
    let e = refused(
        &ctx,
        ctx.opts()
            .user_jwt(|| Err("vault unreachable".into()), |_| Ok(vec![0; 64])),
        ErrorKind::Authorization,
        &[],
    );
    assert!(e.to_string().contains("vault unreachable"), "{e}");
}

#[cfg(feature = "nkeys")]
fn creds_file(t: Transport) {
    let (ctx, op, user) = operator_ctx(t);
    let path = ctx.server.dir().join("user.creds");
    // As nsc writes it, then with Windows line ends and indentation.
    std::fs::write(&path, user.creds()).unwrap();
    round_trip(&ctx.connect_with(ctx.opts().credentials_file(&path)));
    let variant: String = user.creds().lines().map(|l| format!("  {l}\r\n")).collect();
    std::fs::write(&path, variant).unwrap();
    round_trip(&ctx.connect_with(ctx.opts().credentials_file(&path)));
    round_trip(&ctx.connect_with(ctx.opts().credentials(user.creds())));

    // The file is read at every attempt: replacing it changes who connects.
    let stranger = op.account("other").unwrap().user("bob").unwrap();
    std::fs::write(&path, stranger.creds()).unwrap();
    refused(
        &ctx,
        ctx.opts().credentials_file(&path),
        ErrorKind::Authorization,
        &[stranger.seed()],
    );

    // Malformed and missing files are clear option errors, without the secret.
    std::fs::write(
        &path,
        user.creds().replace("------END NATS USER JWT------", ""),
    )
    .unwrap();
    let e = refused(
        &ctx,
        ctx.opts().credentials_file(&path),
        ErrorKind::InvalidOption,
        &[user.seed()],
    );
    assert!(e.to_string().contains("not a valid creds file"), "{e}");
    let e = refused(
        &ctx,
        ctx.opts()
            .credentials_file(ctx.server.dir().join("missing.creds")),
        ErrorKind::InvalidOption,
        &[],
    );
    assert!(e.to_string().contains("cannot read the creds file"), "{e}");
    refused(
        &ctx,
        ctx.opts().credentials("garbage"),
        ErrorKind::InvalidOption,
        &[],
    );
}

each_transport!(
    user_and_password,
    token,
    nkey_callback,
    nkey_without_nonce_fails_early,
    jwt_callbacks,
);

// natsws signing with a seed it holds: the `nkeys` feature.
#[cfg(feature = "nkeys")]
each_transport!(nkey_seed, jwt, creds_file);

/// Without the `nkeys` feature, the options that hold a seed fail `connect` before any I/O,
/// with an error that names the feature and the callback forms that work.
#[test]
#[cfg(not(feature = "nkeys"))]
fn seeds_need_the_nkeys_feature() {
    let user = Operator::new("op")
        .unwrap()
        .account("a")
        .unwrap()
        .user("u")
        .unwrap();
    for (option, opts) in [
        ("nkey_seed", Options::new().nkey_seed(user.seed())),
        (
            "user_jwt_and_seed",
            Options::new().user_jwt_and_seed(user.jwt(), user.seed()),
        ),
        ("credentials", Options::new().credentials(user.creds())),
        (
            "credentials_file",
            Options::new().credentials_file("/nonexistent/u.creds"),
        ),
    ] {
        // Port 1 on loopback: nothing listens there, so an attempt would be an Io error.
        let e = assert_kind(opts.connect("nats://127.0.0.1:1"), ErrorKind::InvalidOption);
        let text = e.to_string();
        assert!(text.contains(option), "{text}");
        assert!(text.contains("cargo feature `nkeys`"), "{text}");
        assert!(!text.contains(user.seed()), "{text}");
    }
}

/// Callbacks run at every connection attempt, so fresh credentials are used after the server
/// restarts. Until reconnection lands this is shown with a new connection after the restart.
#[test]
fn callbacks_give_fresh_credentials_per_attempt() {
    let op = Operator::new("op").unwrap();
    let acc = op.account("app").unwrap();
    let users = Arc::new(vec![
        acc.user("first").unwrap(),
        acc.user("second").unwrap(),
    ]);
    let mut server = NatsServer::builder()
        .config(&op.server_config(&[&acc]))
        .start()
        .unwrap();
    let attempt = Arc::new(AtomicUsize::new(0));
    let current = Arc::new(Mutex::new(0usize));
    let (a, cur, us) = (attempt.clone(), current.clone(), users.clone());
    let (cur2, us2) = (current.clone(), users.clone());
    let opts = Options::new().user_jwt(
        move || {
            let i = a.fetch_add(1, Ordering::SeqCst).min(1);
            *cur.lock().unwrap() = i;
            Ok(us[i].jwt().to_string())
        },
        move |nonce| {
            let i = *cur2.lock().unwrap();
            Ok(nkeys::KeyPair::from_seed(us2[i].seed())?.sign(nonce)?)
        },
    );
    let nc = opts.clone().connect(server.tcp_url().as_str()).unwrap();
    round_trip(&nc);
    drop(nc);
    server.restart().unwrap();
    let nc = opts.connect(server.tcp_url().as_str()).unwrap();
    round_trip(&nc);
    assert_eq!(attempt.load(Ordering::SeqCst), 2);
    assert_eq!(*current.lock().unwrap(), 1, "the second user was used");
}

/// A JWT that expires while connected: the server says so, and the error has its own kind.
#[test]
fn jwt_expiring_while_connected_is_authentication_expired() {
    let op = Operator::new("op").unwrap();
    let acc = op.account("app").unwrap();
    let user = acc
        .user_expiring("brief", SystemTime::now() + Duration::from_secs(2))
        .unwrap();
    let server = NatsServer::builder()
        .config(&op.server_config(&[&acc]))
        .start()
        .unwrap();
    // The callback form, so this runs without the `nkeys` feature too.
    let (jwt, seed) = (user.jwt().to_string(), user.seed().to_string());
    let nc = Options::new()
        .user_jwt(
            move || Ok(jwt.clone()),
            move |nonce| Ok(nkeys::KeyPair::from_seed(&seed)?.sign(nonce)?),
        )
        .connect(server.tcp_url().as_str())
        .unwrap();
    let events = nc.events();
    let err = wait_event(&events, |ev| match ev {
        Event::Disconnected { reason, .. } => Some(reason.clone()),
        Event::Closed {
            reason: Some(reason),
        } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(err.kind(), ErrorKind::AuthenticationExpired, "{err}");
    assert_eq!(err.server_text(), Some("User Authentication Expired"));
}

/// The WebSocket listener's own auth: a token taken from a cookie, sent as a static header and
/// from the headers callback (evaluated per attempt).
#[test]
fn websocket_token_cookie() {
    let server = NatsServer::builder()
        .websocket_config("token_cookie: natstok\nauthorization { token: ck-s3cret }")
        .start()
        .unwrap();
    let url = server.ws_url().unwrap();
    let nc = Options::new()
        .websocket_header("Cookie", "natstok=ck-s3cret")
        .connect(url.as_str())
        .unwrap();
    round_trip(&nc);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let nc = Options::new()
        .websocket_headers_callback(move || {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(vec![("Cookie".into(), "natstok=ck-s3cret".into())])
        })
        .connect(url.as_str())
        .unwrap();
    round_trip(&nc);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let e = assert_kind(
        Options::new()
            .websocket_header("Cookie", "natstok=wrong-s3cret")
            .connect(url.as_str()),
        ErrorKind::Authorization,
    );
    assert!(!format!("{e} {e:?}").contains("s3cret"));
    assert_kind(
        Options::new()
            .websocket_headers_callback(|| Err("no cookie jar".into()))
            .connect(url.as_str()),
        ErrorKind::WebSocket,
    );
}

/// User and password from cookies, for the WebSocket listener only (the client port keeps its
/// own, different, auth).
#[test]
#[cfg(feature = "tls")]
fn websocket_user_and_pass_cookies() {
    let server = NatsServer::builder()
        .websocket_tls(true)
        .config("authorization { token: tcp-only }")
        .websocket_config(
            "user_cookie: u\npass_cookie: p\nauthorization { username: wsuser, password: pw-s3cret }",
        )
        .start()
        .unwrap();
    let url = server.wss_url().unwrap();
    let opts = || Options::new().add_root_certificate_pem(server.ca_pem().as_bytes().to_vec());
    round_trip(
        &opts()
            .websocket_header("Cookie", "u=wsuser; p=pw-s3cret")
            .connect(url.as_str())
            .unwrap(),
    );
    assert_kind(
        opts()
            .websocket_header("Cookie", "u=wsuser; p=nope")
            .connect(url.as_str()),
        ErrorKind::Authorization,
    );
}

/// `Origin`: accepted when allowed, the upgrade refused otherwise.
#[test]
fn websocket_origin() {
    let server = NatsServer::builder()
        .websocket_config("allowed_origins: [\"https://app.example.com\"]")
        .start()
        .unwrap();
    let url = server.ws_url().unwrap();
    round_trip(
        &Options::new()
            .websocket_origin("https://app.example.com")
            .connect(url.as_str())
            .unwrap(),
    );
    assert_kind(
        Options::new()
            .websocket_origin("https://evil.example.com")
            .connect(url.as_str()),
        ErrorKind::WebSocket,
    );
}

/// nats-server does not interpret `Authorization: Bearer` on the WebSocket upgrade, so a
/// bearer header is for a proxy or gateway in front of it. This test puts such a gateway on
/// loopback: it checks the header of the upgrade request (answering 401 without it) and then
/// relays the bytes to the server. The headers callback is evaluated at every attempt.
#[test]
fn websocket_bearer_header_reaches_a_gateway() {
    let server = NatsServer::start().unwrap();
    let gateway = Gateway::start(server.ws_port().unwrap(), "Bearer jwt-from-idp");
    let url = format!("ws://127.0.0.1:{}", gateway.port);
    let token = Arc::new(Mutex::new("Bearer jwt-from-idp".to_string()));
    let t = token.clone();
    let opts = Options::new().websocket_headers_callback(move || {
        Ok(vec![("Authorization".into(), t.lock().unwrap().clone())])
    });
    round_trip(&opts.clone().connect(url.as_str()).unwrap());
    *token.lock().unwrap() = "Bearer stale".to_string();
    let e = assert_kind(opts.connect(url.as_str()), ErrorKind::WebSocket);
    assert!(e.to_string().contains("401"), "{e}");
    assert_kind(Options::new().connect(url.as_str()), ErrorKind::WebSocket);
}

/// A loopback HTTP-upgrade gateway: checks `Authorization`, then relays to `upstream`.
struct Gateway {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // Wake the accept loop so its thread ends with the test.
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Gateway {
    fn start(upstream: u16, expect: &'static str) -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { return };
                std::thread::spawn(move || Gateway::serve(client, upstream, expect));
            }
        });
        Gateway { port, stop }
    }

    fn serve(mut client: TcpStream, upstream: u16, expect: &str) {
        client.set_read_timeout(Some(WAIT)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match client.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let authorized = text.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("authorization:") && l[14..].trim() == expect
        });
        if !authorized {
            let _ = client.write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n");
            return;
        }
        let mut server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
        server.write_all(&head).unwrap();
        client.set_read_timeout(None).unwrap();
        let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut s2, &mut c2);
            let _ = c2.shutdown(std::net::Shutdown::Both);
        });
        let _ = std::io::copy(&mut client, &mut server);
        let _ = server.shutdown(std::net::Shutdown::Both);
    }
}

#[test]
fn debug_of_options_and_errors_shows_no_secret() {
    let user = Operator::new("op")
        .unwrap()
        .account("a")
        .unwrap()
        .user("u")
        .unwrap();
    let sig_part = user.jwt().rsplit('.').next().unwrap().to_string();
    let all = [
        Options::new().user_and_password("alice", "pw-s3cret"),
        Options::new().token("tok-s3cret"),
        Options::new().nkey_seed(user.seed()),
        Options::new().user_jwt_and_seed(user.jwt(), user.seed()),
        Options::new().credentials(user.creds()),
        Options::new().credentials_file("/tmp/x.creds"),
        Options::new().user_jwt(|| Ok("x".into()), |_| Ok(vec![])),
        Options::new().client_certificate_pem("cert", "key-s3cret"),
        Options::new()
            .websocket_header("Authorization", "Bearer hdr-s3cret")
            .websocket_headers_callback(|| Ok(vec![])),
    ];
    for o in all {
        let d = format!("{o:?}");
        for secret in ["s3cret", user.seed(), &sig_part] {
            assert!(!d.contains(secret), "{d}");
        }
        assert!(!d.contains(user.jwt()), "JWTs are shown truncated: {d}");
    }
    // The error of a refused connection has the server's text and nothing of ours.
    let server = NatsServer::builder()
        .config("authorization { user: alice, password: right }")
        .start()
        .unwrap();
    let url = format!("nats://alice:url-s3cret@127.0.0.1:{}", server.port());
    let e = natsws::connect(url.as_str()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Authorization);
    let shown = format!("{e} | {e:?} | {}", e.server_text().unwrap());
    assert!(!shown.contains("url-s3cret"), "{shown}");
}
