//! socket.io rooms over NATS (cargo feature `socketio`, on by default).
//!
//! socket.io servers that run a NATS adapter publish every broadcast (`io.to("room").emit(...)`)
//! on NATS, and each server delivers what the others publish to its own sockets. natsws speaks
//! that traffic both ways:
//!
//! * an [`Emitter`] sends events to the sockets of such servers, by namespace, room and
//!   exception, from any process (a worker, a cron job, a device) that is not a socket.io
//!   server;
//! * an [`Observer`] (or [`Broadcast::decode`] on a payload) turns the broadcasts the servers
//!   exchange into typed [`Broadcast`]s, to watch or bridge them.
//!
//! Pick the [`Dialect`] the servers' adapter speaks:
//!
//! | | [`Dialect::Mickl`] | [`Dialect::SocketIoNats`] |
//! | --- | --- | --- |
//! | adapter | `@mickl/socket.io-nats-adapter` 2.x | `socket.io-nats` 0.1 |
//! | socket.io | 3, 4 | 1.x |
//! | subjects | `socketIO.<nsp>` | `socket.io.<nsp>`, `socket.io.<nsp>.<encodeURI(room)>` |
//! | payload | `{"fromUid","packet","opts"}` | `[uid, packet, opts]` |
//!
//! ```no_run
//! use std::time::Duration;
//! use natsws::socketio::{Dialect, Emitter, EmitterOptions, Observer};
//!
//! # fn main() -> natsws::Result<()> {
//! let nc = natsws::connect("nats://127.0.0.1:4222")?;
//! let options = EmitterOptions::new(Dialect::Mickl);
//!
//! // Send: to everyone in "/", to one room, to several rooms but not to a socket.
//! let io = Emitter::new(&nc, options.clone())?;
//! io.emit("announcement", "maintenance at noon")?;
//! io.to("lobby").emit("chat", ("alice", "hello"))?;
//! io.of("/game").to("table-1").to("table-2").except("kYpZ2f3tAAAB").emit("deal", [3, 7])?;
//!
//! // Watch what the socket.io servers broadcast to each other.
//! let watch = Observer::new(&nc, &options)?;
//! let b = watch.next_timeout(Duration::from_secs(5))?;
//! println!("{} -> {:?} in {} (rooms {:?})", b.event, b.args, b.namespace, b.rooms);
//! # Ok(()) }
//! ```
//!
//! # Delivery
//!
//! The servers route by the payload: each delivers to its sockets of the namespace that are in
//! one of the rooms (every socket of the namespace when no room is given) and in none of the
//! exceptions. Socket ids are rooms, so `to(id)` reaches one socket and `except(id)` spares it.
//! Publishing is NATS publishing: at most once, no acknowledgements from clients.
//!
//! With [`Dialect::SocketIoNats`], an emit to exactly one room goes to that room's subject,
//! named with JavaScript's `encodeURI` exactly as the adapter names its subscription (see
//! [`encode_uri`]); other emits go to the namespace subject. A room whose escaped name cannot
//! be in a subject (`*`, `a..b`) is sent on the namespace subject, which every server hears.
//!
//! # Arguments
//!
//! Arguments are JSON: anything serde can serialize, or `serde_json::Value`. Binary data
//! does not survive these adapters' JSON (a Node.js `Buffer` arrives as
//! `{"type":"Buffer","data":[...]}`), so natsws sends none.

mod decode;
mod emitter;
mod encode_uri;
mod flags;
mod observer;
mod options;
mod wire;

pub use decode::Broadcast;
pub use emitter::{BroadcastOperator, Emitter};
pub use encode_uri::encode_uri;
pub use flags::Flags;
pub use observer::Observer;
pub use options::{Dialect, EmitterOptions};
