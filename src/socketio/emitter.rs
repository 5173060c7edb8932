//! [`Emitter`] and [`BroadcastOperator`]: send socket.io events to the rooms of socket.io
//! servers that share a NATS adapter, from a process that is not a socket.io server.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::flags::Flags;
use super::options::{normalize_namespace, EmitterOptions};
use super::wire::{encode, Outgoing};
use crate::{Connection, Error, ErrorKind, Message, Result};

/// Sends socket.io events through NATS to the sockets of socket.io servers that use a NATS
/// adapter, as the adapters' JavaScript emitters do.
///
/// An emitter is bound to a namespace (`/` at first; [`of`](Emitter::of) picks another).
/// [`emit`](Emitter::emit) reaches every socket of the namespace; [`to`](Emitter::to),
/// [`except`](Emitter::except) and the flags return a [`BroadcastOperator`] that narrows the
/// audience. Cloning is cheap; clones share the connection.
///
/// ```no_run
/// use natsws::socketio::{Dialect, Emitter, EmitterOptions};
/// use serde_json::json;
///
/// # fn main() -> natsws::Result<()> {
/// let nc = natsws::connect("ws://127.0.0.1:8080")?;
/// let io = Emitter::new(&nc, EmitterOptions::new(Dialect::Mickl))?;
/// io.emit("news", "to everyone in /")?;
/// io.to("lobby").to("vip").except("muted").emit("chat", ("bob", "hi"))?;
/// io.of("/admin").volatile().emit("load", json!([0.5]))?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Emitter {
    nc: Connection,
    options: Arc<EmitterOptions>,
    nsp: String,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter")
            .field("options", &self.options)
            .field("namespace", &self.nsp)
            .finish_non_exhaustive()
    }
}

impl Emitter {
    /// An emitter for the namespace `/`, publishing on `nc`.
    ///
    /// Fails with [`ErrorKind::InvalidOption`] for settings no adapter could share (an empty
    /// key, delimiter or uid; a delimiter other than `.` for [`Dialect::Mickl`](super::Dialect::Mickl)).
    pub fn new(nc: &Connection, options: EmitterOptions) -> Result<Emitter> {
        options.validate()?;
        Ok(Emitter {
            nc: nc.clone(),
            options: Arc::new(options),
            nsp: "/".to_owned(),
        })
    }

    /// An emitter for namespace `nsp` (a missing leading `/` is added, as socket.io does).
    pub fn of(&self, nsp: &str) -> Emitter {
        Emitter {
            nc: self.nc.clone(),
            options: self.options.clone(),
            nsp: normalize_namespace(nsp),
        }
    }

    /// The namespace this emitter sends to.
    pub fn namespace(&self) -> &str {
        &self.nsp
    }

    fn operator(&self) -> BroadcastOperator {
        BroadcastOperator {
            emitter: self.clone(),
            rooms: Vec::new(),
            except: Vec::new(),
            flags: Flags::default(),
        }
    }

    /// Targets the sockets in `room` (socket.io's `to`).
    pub fn to(&self, room: impl Into<String>) -> BroadcastOperator {
        self.operator().to(room)
    }

    /// The same as [`to`](Emitter::to) (socket.io's `in`, a keyword in Rust).
    pub fn in_(&self, room: impl Into<String>) -> BroadcastOperator {
        self.operator().to(room)
    }

    /// Leaves out the sockets in `room` (a socket id is a room of one).
    pub fn except(&self, room: impl Into<String>) -> BroadcastOperator {
        self.operator().except(room)
    }

    /// Sets the `volatile` flag: servers may drop the event for clients not ready for it.
    pub fn volatile(&self) -> BroadcastOperator {
        self.operator().volatile()
    }

    /// Sets the `compress` flag.
    pub fn compress(&self, compress: bool) -> BroadcastOperator {
        self.operator().compress(compress)
    }

    /// The message [`emit`](Emitter::emit) would publish: its subject and payload.
    pub fn to_message(&self, event: &str, args: impl Serialize) -> Result<Message> {
        self.operator().to_message(event, args)
    }

    /// Sends `event` with `args` to every socket of the namespace.
    /// See [`BroadcastOperator::emit`] for the arguments and errors.
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<()> {
        self.operator().emit(event, args)
    }
}

/// An emit being put together: rooms, exceptions and flags, then
/// [`emit`](BroadcastOperator::emit). Each method returns the operator, so calls chain;
/// an operator can emit any number of times.
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    emitter: Emitter,
    rooms: Vec<String>,
    except: Vec<String>,
    flags: Flags,
}

impl BroadcastOperator {
    /// Adds `room` to the rooms targeted (a room given twice counts once).
    pub fn to(mut self, room: impl Into<String>) -> BroadcastOperator {
        push_unique(&mut self.rooms, room.into());
        self
    }

    /// The same as [`to`](BroadcastOperator::to).
    pub fn in_(self, room: impl Into<String>) -> BroadcastOperator {
        self.to(room)
    }

    /// Leaves out the sockets in `room`. socket.io 3 and 4 take any room here (a socket id is
    /// a room of one); socket.io 1.x servers ([`Dialect::SocketIoNats`](super::Dialect::SocketIoNats))
    /// compare it with socket ids only.
    pub fn except(mut self, room: impl Into<String>) -> BroadcastOperator {
        push_unique(&mut self.except, room.into());
        self
    }

    /// Sets the `volatile` flag.
    pub fn volatile(mut self) -> BroadcastOperator {
        self.flags.volatile = true;
        self
    }

    /// Sets the `compress` flag (socket.io compresses unless told `false`).
    pub fn compress(mut self, compress: bool) -> BroadcastOperator {
        self.flags.compress = Some(compress);
        self
    }

    /// Sets the `broadcast` flag (as the socket.io-nats 0.1 emitter's `.broadcast`).
    pub fn broadcast(mut self) -> BroadcastOperator {
        self.flags.broadcast = true;
        self
    }

    /// The message [`emit`](BroadcastOperator::emit) would publish: its subject and payload.
    pub fn to_message(&self, event: &str, args: impl Serialize) -> Result<Message> {
        let args = arguments(args)?;
        let e = &self.emitter;
        encode(
            &e.options,
            &Outgoing {
                nsp: &e.nsp,
                rooms: &self.rooms,
                except: &self.except,
                flags: &self.flags,
                event,
                args: &args,
            },
        )
    }

    /// Publishes `event` with `args`: the receiving servers deliver it to their sockets of
    /// the namespace that are in one of the rooms (all of them when no room was given) and in
    /// none of the exceptions.
    ///
    /// `args` is the argument list: anything that serializes to a JSON array (a tuple, a
    /// slice, a `Vec`, `json!([...])`) gives one argument per element, `()` gives none, and any
    /// other value is the one argument. To send a single array, wrap it: `(vec,)`.
    ///
    /// Like [`Connection::publish`], `Ok` means queued for the writer thread. Errors:
    /// [`ErrorKind::InvalidOption`] for a reserved event name (`connect`, `disconnect`, ...)
    /// or arguments serde cannot write as JSON, [`ErrorKind::InvalidSubject`] when the
    /// namespace makes an invalid subject, and the errors of [`Connection::publish`].
    pub fn emit(&self, event: &str, args: impl Serialize) -> Result<()> {
        let msg = self.to_message(event, args)?;
        self.emitter.nc.publish(&msg.subject, &msg.payload)
    }
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// The argument list `args` stands for.
fn arguments(args: impl Serialize) -> Result<Vec<Value>> {
    match serde_json::to_value(args) {
        Ok(Value::Array(a)) => Ok(a),
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(one) => Ok(vec![one]),
        Err(e) => Err(Error::new(
            ErrorKind::InvalidOption,
            "socket.io arguments cannot be written as JSON",
        )
        .with_source(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    #[test]
    fn arguments_are_the_list_they_look_like() {
        assert_eq!(arguments(("a", 1)).unwrap(), [json!("a"), json!(1)]);
        assert_eq!(arguments(json!(["a"])).unwrap(), [json!("a")]);
        assert_eq!(arguments(vec![1, 2]).unwrap(), [json!(1), json!(2)]);
        assert_eq!(arguments((vec![1, 2],)).unwrap(), [json!([1, 2])]);
        assert!(arguments(()).unwrap().is_empty());
        assert_eq!(arguments("hello").unwrap(), [json!("hello")]);
        assert_eq!(arguments(json!({"k": 1})).unwrap(), [json!({"k": 1})]);
        // A map with non-string keys cannot be JSON.
        let bad: HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert_eq!(arguments(bad).unwrap_err().kind(), ErrorKind::InvalidOption);
    }

    #[test]
    fn rooms_and_exceptions_count_once() {
        let mut v = Vec::new();
        push_unique(&mut v, "a".into());
        push_unique(&mut v, "b".into());
        push_unique(&mut v, "a".into());
        assert_eq!(v, ["a", "b"]);
    }
}
