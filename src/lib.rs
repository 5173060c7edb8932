//! natsws: a synchronous NATS client over WebSocket, TCP and TLS.
#![forbid(unsafe_code)]

mod error;
pub mod headers;
pub mod proto;
mod subject;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use error::{Error, ErrorKind, Result};
pub use headers::Headers;
