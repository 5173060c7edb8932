//! [`Broadcast`]: a broadcast socket.io servers exchange over NATS, decoded.
//!
//! What the receiving adapters require (and so what is an error here):
//! - 0.1 (`lib/nats.js`, `onMessage`): a JSON array `[uid, packet, opts]`; `opts` must be an
//!   object (socket.io-adapter 0.4 reads `opts.rooms`, `opts.except`, `opts.flags`, each
//!   optional).
//! - MickL 2.0.1 (`dist/index.js` lines 67-85): an object with `fromUid`, `packet` and `opts`
//!   (`opts.rooms`, `opts.except` and `opts.flags` optional).
//! - Both: `packet.nsp` defaults to `/`; `packet.data` is `[event, args...]` with a string
//!   event; `packet.type` is 2 (`EVENT`) or 5 (`BINARY_EVENT`).

use serde_json::{Map, Value};

use super::flags::{kind_of, Flags};
use super::options::Dialect;
use crate::{Error, ErrorKind, Message, Result};

/// A broadcast between socket.io servers, as one of them published it: an `event` with
/// `args` for the sockets of `namespace` that are in one of `rooms` (all of the namespace's
/// sockets when `rooms` is empty) and in none of `except`.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Broadcast {
    /// The dialect it was decoded as.
    pub dialect: Dialect,
    /// The sending process's uid (6 characters for a socket.io server; an emitter's own).
    pub uid: String,
    /// The namespace, e.g. `/` or `/chat`.
    pub namespace: String,
    /// The rooms it goes to; empty means every socket of the namespace.
    pub rooms: Vec<String>,
    /// Rooms (socket ids are rooms) whose sockets must not receive it.
    pub except: Vec<String>,
    /// The event name.
    pub event: String,
    /// The event's arguments.
    pub args: Vec<Value>,
    /// The broadcast's flags.
    pub flags: Flags,
    /// The packet type was `BINARY_EVENT` (5) rather than `EVENT` (2). Binary arguments do not
    /// survive JSON: a Node.js `Buffer` arrives as `{"type":"Buffer","data":[...]}`.
    pub binary: bool,
}

impl Broadcast {
    /// Decodes a payload published by a socket.io server (or an emitter) of `dialect`.
    ///
    /// Malformed input fails with [`ErrorKind::Protocol`] and a sentence saying what is wrong.
    pub fn decode(dialect: Dialect, payload: &[u8]) -> Result<Broadcast> {
        decode(dialect, payload).map_err(|why| {
            Error::new(
                ErrorKind::Protocol,
                format!("not a socket.io broadcast: {why}"),
            )
        })
    }

    /// Decodes a message received on an adapter's subject; errors name the subject.
    pub fn from_message(dialect: Dialect, msg: &Message) -> Result<Broadcast> {
        decode(dialect, &msg.payload).map_err(|why| {
            Error::new(
                ErrorKind::Protocol,
                format!("not a socket.io broadcast on {:?}: {why}", msg.subject),
            )
        })
    }
}

type Why = String;

fn decode(dialect: Dialect, payload: &[u8]) -> std::result::Result<Broadcast, Why> {
    let v: Value = serde_json::from_slice(payload).map_err(|e| format!("bad JSON: {e}"))?;
    let (uid, packet, opts) = match dialect {
        Dialect::SocketIoNats => match v {
            Value::Array(a) if a.len() == 3 => {
                let mut it = a.into_iter();
                let (uid, packet, opts) = (it.next(), it.next(), it.next());
                (
                    uid.unwrap_or_default(),
                    packet.unwrap_or_default(),
                    opts.unwrap_or_default(),
                )
            }
            Value::Array(a) => {
                return Err(format!(
                    "expected [uid, packet, opts], got an array of {}",
                    a.len()
                ))
            }
            other => {
                return Err(format!(
                    "expected [uid, packet, opts], got {}",
                    kind_of(&other)
                ))
            }
        },
        Dialect::Mickl => match v {
            Value::Object(mut o) => (
                o.remove("fromUid").unwrap_or_default(),
                o.remove("packet").unwrap_or_default(),
                o.remove("opts").unwrap_or_default(),
            ),
            other => {
                return Err(format!(
                    "expected {{fromUid, packet, opts}}, got {}",
                    kind_of(&other)
                ))
            }
        },
    };
    let uid = match uid {
        Value::String(s) => s,
        other => return Err(format!("the uid is {}, not a string", kind_of(&other))),
    };
    let Value::Object(mut packet) = packet else {
        return Err(format!("the packet is {}, not an object", kind_of(&packet)));
    };
    let Value::Object(mut opts) = opts else {
        return Err(format!("opts is {}, not an object", kind_of(&opts)));
    };
    let binary = match packet.get("type") {
        Some(Value::Number(n)) if n.as_u64() == Some(2) => false,
        Some(Value::Number(n)) if n.as_u64() == Some(5) => true,
        Some(Value::Number(n)) => return Err(format!("packet type {n} is not an event")),
        Some(other) => return Err(format!("the packet type is {}", kind_of(other))),
        None => return Err("the packet has no type".into()),
    };
    let namespace = match packet.remove("nsp") {
        None | Some(Value::Null) => "/".to_owned(),
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("packet.nsp is {}, not a string", kind_of(&other))),
    };
    let mut data = match packet.remove("data") {
        Some(Value::Array(a)) => a.into_iter(),
        Some(other) => return Err(format!("packet.data is {}, not an array", kind_of(&other))),
        None => return Err("the packet has no data".into()),
    };
    let event = match data.next() {
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err(format!(
                "the event name is {}, not a string",
                kind_of(&other)
            ))
        }
        None => return Err("packet.data is empty (no event name)".into()),
    };
    Ok(Broadcast {
        dialect,
        uid,
        namespace,
        rooms: strings(&mut opts, "rooms")?,
        except: strings(&mut opts, "except")?,
        event,
        args: data.collect(),
        flags: Flags::from_json(opts.get("flags").unwrap_or(&Value::Null))?,
        binary,
    })
}

/// `opts[key]`: absent or null → empty, else an array of strings.
fn strings(opts: &mut Map<String, Value>, key: &str) -> std::result::Result<Vec<String>, Why> {
    match opts.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                other => Err(format!(
                    "opts.{key} holds {}, not only strings",
                    kind_of(&other)
                )),
            })
            .collect(),
        Some(other) => Err(format!("opts.{key} is {}, not an array", kind_of(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_a_socket_io_1_broadcast() {
        // What socket.io 1.4 publishes through socket.io-nats 0.1 for
        // `socket.broadcast.to('lobby').emit('msg', 1, {a: 'b'})` (opts in socket.io 1.4's order).
        let raw = br#"["Ab3_xZ",{"type":2,"data":["msg",1,{"a":"b"}],"nsp":"/chat"},{"except":["/chat#s1"],"rooms":["lobby"],"flags":{"broadcast":true}}]"#;
        let b = Broadcast::decode(Dialect::SocketIoNats, raw).unwrap();
        assert_eq!(b.uid, "Ab3_xZ");
        assert_eq!(b.namespace, "/chat");
        assert_eq!(b.rooms, ["lobby"]);
        assert_eq!(b.except, ["/chat#s1"]);
        assert_eq!(b.event, "msg");
        assert_eq!(b.args, [json!(1), json!({"a": "b"})]);
        assert!(b.flags.broadcast && !b.binary);
        // A missing nsp means "/", missing rooms/except/flags mean none.
        let b = Broadcast::decode(
            Dialect::SocketIoNats,
            br#"["emitter",{"type":5,"data":["x"]},{}]"#,
        )
        .unwrap();
        assert_eq!((b.namespace.as_str(), b.binary), ("/", true));
        assert!(b.rooms.is_empty() && b.except.is_empty() && b.args.is_empty());
    }

    #[test]
    fn decodes_a_mickl_broadcast() {
        let raw = br#"{"fromUid":"q1w2e3","packet":{"type":2,"data":["news",[1,2],null],"nsp":"/"},"opts":{"rooms":["a","b"],"except":["vip"],"flags":{"volatile":true,"compress":false}}}"#;
        let b = Broadcast::decode(Dialect::Mickl, raw).unwrap();
        assert_eq!(b.dialect, Dialect::Mickl);
        assert_eq!(b.uid, "q1w2e3");
        assert_eq!((b.namespace.as_str(), b.event.as_str()), ("/", "news"));
        assert_eq!(b.args, [json!([1, 2]), Value::Null]);
        assert_eq!((b.rooms.len(), b.except.len()), (2, 1));
        assert!(b.flags.volatile);
        assert_eq!(b.flags.compress, Some(false));
    }

    #[test]
    fn malformed_input_is_a_protocol_error_naming_the_fault() {
        use Dialect::*;
        for (d, raw, needle) in [
            (Mickl, &b"{not json"[..], "bad JSON"),
            (Mickl, b"", "bad JSON"),
            (Mickl, b"[1,2,3]", "got an array"),
            (SocketIoNats, b"{}", "got an object"),
            (SocketIoNats, b"[\"u\",{}]", "array of 2"),
            (SocketIoNats, br#"[1,{},{}]"#, "uid is a number"),
            (Mickl, br#"{"fromUid":"u","opts":{}}"#, "packet is null"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":["e"]}}"#, "opts is null"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":0,"data":["e"]},"opts":{}}"#, "type 0"),
            (Mickl, br#"{"fromUid":"u","packet":{"data":["e"]},"opts":{}}"#, "no type"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":"2","data":["e"]},"opts":{}}"#, "type is a string"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":[]},"opts":{}}"#, "data is empty"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":"e"},"opts":{}}"#, "data is a string"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2},"opts":{}}"#, "no data"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":[7]},"opts":{}}"#, "event name is a number"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":["e"],"nsp":1},"opts":{}}"#, "nsp is a number"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":["e"]},"opts":{"rooms":"a"}}"#, "rooms is a string"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":["e"]},"opts":{"except":[1]}}"#, "except holds a number"),
            (Mickl, br#"{"fromUid":"u","packet":{"type":2,"data":["e"]},"opts":{"flags":{"volatile":"y"}}}"#, "\"volatile\" is a string"),
        ] {
            let e = Broadcast::decode(d, raw).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol);
            assert!(e.to_string().contains(needle), "{}: {e}", String::from_utf8_lossy(raw));
        }
        let deep = "[".repeat(100_000);
        assert_eq!(
            Broadcast::decode(Mickl, deep.as_bytes())
                .unwrap_err()
                .kind(),
            ErrorKind::Protocol
        );
        let msg = Message::new("socketIO./", "nope");
        let e = Broadcast::from_message(Mickl, &msg).unwrap_err();
        assert!(e.to_string().contains("socketIO./"), "{e}");
    }
}
