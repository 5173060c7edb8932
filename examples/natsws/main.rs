//! `natsws`: a small command-line tool in the manner of the `nats` CLI, built on natsws's
//! public API: publish, subscribe, request and reply, measure throughput, and manage
//! JetStream streams and consumers, Key-Value and Object Store buckets, and NATS services.
//!
//! ```text
//! cargo run --example natsws -- --help
//! cargo run --example natsws -- sub 'greet.*' --count 1 &
//! cargo run --example natsws -- pub greet.joe hello
//! cargo run --example natsws -- -s wss://nats.example.com --tlsca ca.pem stream ls
//! ```
//!
//! Global options (as the `nats` CLI spells them) go before or after the verb: `--server`/`-s`
//! (also `$NATS_URL`), `--creds`, `--user`, `--password`, `--token`, `--tlsca`, `--tlscert`,
//! `--tlskey`, `--proxy` (HTTP CONNECT), `--timeout`. Results go to stdout, progress and
//! errors to stderr; a failure exits with status 1, a usage error with status 2.

mod bench;
mod connect;
mod consumer;
mod kv;
mod obj;
mod progress;
mod pubsub;
mod reqrep;
mod service;
mod stream;
mod util;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The error type of every verb: natsws errors, I/O errors and usage problems found late.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A NATS command-line tool built on natsws (ws://, wss://, nats://, tls://).
#[derive(Parser)]
#[command(name = "natsws", version, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    conn: connect::ConnectArgs,
    #[command(subcommand)]
    verb: Verb,
}

#[derive(Subcommand)]
enum Verb {
    /// Publish a message (or --count messages) to a subject
    Pub(pubsub::PubArgs),
    /// Subscribe to a subject and print the messages.
    Sub(pubsub::SubArgs),
    /// Send a request and print the reply (or replies).
    Req(reqrep::ReqArgs),
    /// Answer the requests on a subject with a fixed body.
    Reply(reqrep::ReplyArgs),
    /// Measure publish and subscribe throughput.
    Bench(bench::BenchArgs),
    /// Manage JetStream streams.
    #[command(subcommand)]
    Stream(stream::StreamVerb),
    /// Manage JetStream consumers.
    #[command(subcommand)]
    Consumer(consumer::ConsumerVerb),
    /// Key-Value buckets: put, get, watch, ...
    #[command(subcommand)]
    Kv(kv::KvVerb),
    /// Object Store buckets: put and get files, ...
    #[command(subcommand, alias = "object")]
    Obj(obj::ObjVerb),
    /// Find and inspect NATS services (the micro protocol).
    #[command(subcommand, alias = "micro")]
    Service(service::ServiceVerb),
}

fn main() -> ExitCode {
    // clap prints --help and --version to stdout (exit 0) and usage errors to stderr (exit 2).
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints natsws errors with their causes ("connection refused").
            eprintln!("natsws: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result {
    let conn = &cli.conn;
    match cli.verb {
        Verb::Pub(a) => pubsub::publish(conn, a),
        Verb::Sub(a) => pubsub::subscribe(conn, a),
        Verb::Req(a) => reqrep::request(conn, a),
        Verb::Reply(a) => reqrep::reply(conn, a),
        Verb::Bench(a) => bench::run(conn, a),
        Verb::Stream(v) => stream::run(conn, v),
        Verb::Consumer(v) => consumer::run(conn, v),
        Verb::Kv(v) => kv::run(conn, v),
        Verb::Obj(v) => obj::run(conn, v),
        Verb::Service(v) => service::run(conn, v),
    }
}
