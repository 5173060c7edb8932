//! Sends socket.io events through NATS as socket.io servers with a NATS adapter expect them,
//! and shows what crosses the wire: the subject, the payload, and the payload decoded again.
//!
//! Usage: `cargo run --example socketio_emit [-- URL]`
//!
//! Without a URL it starts a local `nats-server` (through `natsws::test_server`; run it as
//! `scripts/ensure-nats-server cargo run --example socketio_emit` to have one installed). With
//! the URL of the NATS server your socket.io servers' adapter uses, their clients receive the
//! events: `@mickl/socket.io-nats-adapter` (socket.io 4) servers the `Dialect::Mickl` ones,
//! `socket.io-nats` 0.1 servers the others. Set `NATS_CA=<pem file>` to trust a private CA.

#[path = "common/mod.rs"]
mod common;

use std::process::ExitCode;
use std::time::Duration;

use natsws::socketio::{Broadcast, Dialect, Emitter, EmitterOptions};
use natsws::test_server::NatsServer;
use natsws::Connection;
use serde::Serialize;
use serde_json::json;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A struct as an argument: anything serde serializes will do.
#[derive(Serialize)]
struct Deal {
    table: u32,
    cards: Vec<&'static str>,
}

fn main() -> ExitCode {
    let Some(args) = common::utf8_args().filter(|a| a.len() <= 1) else {
        eprintln!("usage: socketio_emit [URL]");
        return ExitCode::from(2);
    };
    match run(args.first()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: Option<&String>) -> Res<()> {
    let mut _server = None;
    let url = match url {
        Some(u) => u.clone(),
        None => {
            let server = NatsServer::start()?;
            let url = server.tcp_url();
            println!("started a local nats-server at {url}");
            _server = Some(server);
            url
        }
    };
    let nc = common::options()
        .name("natsws socketio_emit")
        .connect(url.as_str())?;
    for dialect in [Dialect::Mickl, Dialect::SocketIoNats] {
        emit_and_show(&nc, dialect)?;
    }
    nc.close()?;
    Ok(())
}

fn emit_and_show(nc: &Connection, dialect: Dialect) -> Res<()> {
    let options = EmitterOptions::new(dialect);
    println!(
        "\n== {dialect:?}: subjects under {}.>",
        dialect.default_key()
    );
    // See our own messages, as a socket.io server would receive them.
    let wire = nc.subscribe(&format!("{}.>", dialect.default_key()))?;
    nc.flush()?;

    let io = Emitter::new(nc, options)?;
    // Every socket of the namespace "/".
    io.emit("announcement", "maintenance at noon")?;
    // The sockets in the room "lobby": two arguments.
    io.to("lobby").emit("chat", ("natsws", "hello, lobby"))?;
    // Namespace "/game", two rooms, one socket spared, volatile; a struct and a JSON value.
    io.of("/game")
        .to("table 1")
        .to("table 2")
        .except("kYpZ2f3tAAAB")
        .volatile()
        .emit(
            "deal",
            (
                Deal {
                    table: 1,
                    cards: vec!["A♠", "10♥"],
                },
                json!({"round": 3}),
            ),
        )?;

    for _ in 0..3 {
        let m = wire.next_timeout(Duration::from_secs(5))?;
        let b = Broadcast::from_message(dialect, &m)?;
        println!("subject {}", m.subject);
        println!("  payload {}", String::from_utf8_lossy(&m.payload));
        println!(
            "  decoded: event {:?} args {:?} namespace {} rooms {:?} except {:?} volatile {}",
            b.event, b.args, b.namespace, b.rooms, b.except, b.flags.volatile
        );
    }
    wire.unsubscribe()?;
    Ok(())
}
