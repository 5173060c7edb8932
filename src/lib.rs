//! natsws: a synchronous NATS client over WebSocket (`ws://`, `wss://`), TCP (`nats://`) and
//! TLS (`tls://`), for programs that do not want an async runtime.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connection;
mod error;
mod events;
pub mod headers;
mod message;
mod options;
pub mod proto;
mod request;
mod subject;
mod subscription;
#[cfg(feature = "test-server")]
pub mod test_server;
mod transport;
mod url;

pub use connection::{connect, Connection, State, Stats};
pub use error::{Error, ErrorKind, Result};
pub use events::Event;
pub use headers::Headers;
pub use message::Message;
pub use options::{Options, DEFAULT_PENDING_BYTES, DEFAULT_PENDING_MSGS};
pub use proto::ServerInfo;
pub use request::{RequestMany, RequestManyOptions};
pub use subscription::{Iter, Subscription};
pub use url::IntoServerList;
