//! The global connection options, spelled as the `nats` CLI spells them, and the connection
//! they make.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use natsws::jetstream::{JetStream, JetStreamOptions};
use natsws::{Connection, Options};

use crate::util::parse_duration;

/// How to reach and authenticate to the server (every verb takes them).
#[derive(Args)]
#[command(next_help_heading = "Connection Options")]
pub struct ConnectArgs {
    /// Server URLs, comma separated: nats://, tls://, ws:// or wss://
    #[arg(
        short = 's',
        long,
        env = "NATS_URL",
        default_value = "nats://127.0.0.1:4222",
        value_name = "URL",
        global = true
    )]
    pub server: String,
    /// User credentials file (JWT and NKey seed)
    #[arg(long, env = "NATS_CREDS", value_name = "FILE", global = true)]
    pub creds: Option<PathBuf>,
    /// User name; alone (without --password) it is sent as a token, as `nats` does
    #[arg(long, env = "NATS_USER", global = true)]
    pub user: Option<String>,
    /// Password
    #[arg(long, env = "NATS_PASSWORD", hide_env_values = true, global = true)]
    pub password: Option<String>,
    /// Authentication token
    #[arg(long, env = "NATS_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to verify the server with, for tls:// and wss://
    #[arg(long, env = "NATS_CA", value_name = "FILE", global = true)]
    pub tlsca: Option<PathBuf>,
    /// Client certificate (PEM), with --tlskey
    #[arg(
        long,
        env = "NATS_CERT",
        value_name = "FILE",
        global = true,
        requires = "tlskey"
    )]
    pub tlscert: Option<PathBuf>,
    /// Client private key (PEM), with --tlscert
    #[arg(
        long,
        env = "NATS_KEY",
        value_name = "FILE",
        global = true,
        requires = "tlscert"
    )]
    pub tlskey: Option<PathBuf>,
    /// HTTP CONNECT proxy to reach the server through (http://[user:pass@]host:port)
    #[arg(long, value_name = "URL", global = true)]
    pub proxy: Option<String>,
    /// How long to wait for the server: connecting, requests, JetStream calls
    #[arg(long, env = "NATS_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub timeout: Duration,
    /// The connection's name, as the server shows it
    #[arg(long, default_value = "natsws CLI", global = true)]
    pub connection_name: String,
}

impl ConnectArgs {
    /// The options these arguments describe, before `connect`.
    pub fn options(&self) -> Options {
        let mut o = Options::new()
            .name(self.connection_name.as_str())
            .connect_timeout(self.timeout)
            .request_timeout(self.timeout);
        if let Some(path) = &self.creds {
            o = o.credentials_file(path);
        }
        match (&self.user, &self.password) {
            (Some(u), Some(p)) => o = o.user_and_password(u.as_str(), p.as_str()),
            (Some(u), None) => o = o.token(u.as_str()),
            _ => {}
        }
        if let Some(t) = &self.token {
            o = o.token(t.as_str());
        }
        if let Some(ca) = &self.tlsca {
            o = o.add_root_certificate(ca);
        }
        if let (Some(cert), Some(key)) = (&self.tlscert, &self.tlskey) {
            o = o.client_certificate(cert, key);
        }
        if let Some(p) = &self.proxy {
            o = o.proxy(p.as_str());
        }
        o
    }

    /// Connects to `--server`.
    pub fn connect(&self) -> natsws::Result<Connection> {
        self.connect_with(self.options())
    }

    /// Connects to `--server` with options built from [`options`](Self::options).
    pub fn connect_with(&self, options: Options) -> natsws::Result<Connection> {
        options.connect(self.server.as_str())
    }

    /// A JetStream context whose API calls wait at most `--timeout`.
    pub fn jetstream(&self) -> natsws::Result<(Connection, JetStream)> {
        let nc = self.connect()?;
        let js = nc.jetstream_with(JetStreamOptions::new().timeout(self.timeout))?;
        Ok((nc, js))
    }
}
