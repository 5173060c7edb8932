//! What an emitter publishes, as bytes: the subject and the JSON payload of each dialect.
//!
//! socket.io-nats 0.1 (`efmr/socket.io-nats` `lib/nats.js`, `channelName` and `broadcast`; its
//! emitter `lib/nats-emitter.js`, `emit`):
//!
//! ```text
//! subject  <key><delim><nsp>                        zero or several rooms
//!          <key><delim><nsp><delim>encodeURI(room)  exactly one room
//! payload  ["<uid>",{"type":2,"data":["<event>",args...],"nsp":"<nsp>"},
//!           {"rooms":[...],"except":[...],"flags":{...}}]     ("except" only when not empty)
//! ```
//!
//! `@mickl/socket.io-nats-adapter` 2.0.1 (`dist/index.js`: the subject at line 37, the object
//! at lines 53-61, published with nats.js's `JSONCodec`, i.e. `JSON.stringify`, at line 63):
//!
//! ```text
//! subject  <key>.<nsp>
//! payload  {"fromUid":"<uid>","packet":{"type":2,"data":["<event>",args...],"nsp":"<nsp>"},
//!           "opts":{"rooms":[...],"except":[...],"flags":{...}}}
//! ```
//!
//! Keys come in the order JavaScript writes them (`type`, `data`, `nsp` is the order socket.io
//! builds a packet in), so the bytes equal what the JavaScript emitters publish.

use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde::Serialize as DeriveSerialize;
use serde_json::Value;

use super::encode_uri::encode_uri;
use super::flags::Flags;
use super::options::{Dialect, EmitterOptions};
use crate::subject::validate_publish;
use crate::{Error, ErrorKind, Message, Result};

/// socket.io's packet type of an event (`EVENT`); 5 is `BINARY_EVENT`.
pub(crate) const EVENT: u8 = 2;

/// Event names socket.io keeps for itself (socket.io 4 `RESERVED_EVENTS`): clients treat them
/// as their own lifecycle events.
pub(crate) const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// One emit, before encoding.
pub(crate) struct Outgoing<'a> {
    pub nsp: &'a str,
    pub rooms: &'a [String],
    pub except: &'a [String],
    pub flags: &'a Flags,
    pub event: &'a str,
    pub args: &'a [Value],
}

/// `["<event>", args...]`
struct Data<'a>(&'a str, &'a [Value]);

impl Serialize for Data<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(1 + self.1.len()))?;
        seq.serialize_element(self.0)?;
        for a in self.1 {
            seq.serialize_element(a)?;
        }
        seq.end()
    }
}

#[derive(DeriveSerialize)]
struct Packet<'a> {
    #[serde(rename = "type")]
    ty: u8,
    data: Data<'a>,
    nsp: &'a str,
}

#[derive(DeriveSerialize)]
struct Opts<'a> {
    rooms: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    except: &'a [String],
    flags: &'a Flags,
}

#[derive(DeriveSerialize)]
struct MicklOpts<'a> {
    rooms: &'a [String],
    except: &'a [String],
    flags: &'a Flags,
}

#[derive(DeriveSerialize)]
#[serde(rename_all = "camelCase")]
struct MicklDto<'a> {
    from_uid: &'a str,
    packet: Packet<'a>,
    opts: MicklOpts<'a>,
}

/// The message that carries `out` to servers running `opts.dialect`.
pub(crate) fn encode(opts: &EmitterOptions, out: &Outgoing<'_>) -> Result<Message> {
    if RESERVED_EVENTS.contains(&out.event) {
        return Err(Error::new(
            ErrorKind::InvalidOption,
            format!(
                "socket.io event {:?} is reserved (socket.io clients use it themselves)",
                out.event
            ),
        ));
    }
    let packet = Packet {
        ty: EVENT,
        data: Data(out.event, out.args),
        nsp: out.nsp,
    };
    let (subject, payload) = match opts.dialect {
        Dialect::Mickl => {
            let dto = MicklDto {
                from_uid: &opts.uid,
                packet,
                opts: MicklOpts {
                    rooms: out.rooms,
                    except: out.except,
                    flags: out.flags,
                },
            };
            (opts.namespace_subject(out.nsp), serde_json::to_vec(&dto))
        }
        Dialect::SocketIoNats => {
            let body = (
                &*opts.uid,
                packet,
                Opts {
                    rooms: out.rooms,
                    except: out.except,
                    flags: out.flags,
                },
            );
            (socketio_nats_subject(opts, out), serde_json::to_vec(&body))
        }
    };
    validate_publish(&subject)?;
    let payload = payload.map_err(|e| {
        Error::new(
            ErrorKind::InvalidOption,
            "socket.io arguments cannot be written as JSON",
        )
        .with_source(e)
    })?;
    Ok(Message::new(subject, payload))
}

/// 0.1's routing: exactly one room goes to that room's subject, anything else to the
/// namespace's. A room whose subject cannot be published to (the empty room, or one whose
/// escaped name makes an empty or a wildcard token, like `*` or `a..b`) goes to the namespace
/// subject too: every server subscribes to it and keeps only the rooms listed in the payload,
/// so the same sockets receive it.
fn socketio_nats_subject(opts: &EmitterOptions, out: &Outgoing<'_>) -> String {
    let mut subject = opts.namespace_subject(out.nsp);
    if let [room] = out.rooms {
        if !room.is_empty() {
            let base = subject.len();
            subject.push_str(&opts.delimiter);
            subject.push_str(&encode_uri(room));
            if validate_publish(&subject).is_err() {
                subject.truncate(base);
            }
        }
    }
    subject
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(opts: &EmitterOptions, nsp: &str, rooms: &[&str], except: &[&str]) -> Message {
        let rooms: Vec<String> = rooms.iter().map(|s| s.to_string()).collect();
        let except: Vec<String> = except.iter().map(|s| s.to_string()).collect();
        encode(
            opts,
            &Outgoing {
                nsp,
                rooms: &rooms,
                except: &except,
                flags: &Flags::default(),
                event: "chat",
                args: &[json!("hello")],
            },
        )
        .unwrap()
    }

    fn text(m: &Message) -> &str {
        std::str::from_utf8(&m.payload).unwrap()
    }

    #[test]
    fn socketio_nats_golden_bytes() {
        let o = EmitterOptions::new(Dialect::SocketIoNats);
        // FEATURES §5.5's example, byte for byte.
        let m = enc(&o, "/", &["lobby"], &[]);
        assert_eq!(m.subject, "socket.io./.lobby");
        assert_eq!(
            text(&m),
            r#"["emitter",{"type":2,"data":["chat","hello"],"nsp":"/"},{"rooms":["lobby"],"flags":{}}]"#
        );
        let m = enc(&o, "/chat", &[], &[]);
        assert_eq!(m.subject, "socket.io./chat");
        assert_eq!(
            text(&m),
            r#"["emitter",{"type":2,"data":["chat","hello"],"nsp":"/chat"},{"rooms":[],"flags":{}}]"#
        );
        let m = enc(&o, "/", &["a", "b"], &["sid1"]);
        assert_eq!(m.subject, "socket.io./");
        assert_eq!(
            text(&m),
            r#"["emitter",{"type":2,"data":["chat","hello"],"nsp":"/"},{"rooms":["a","b"],"except":["sid1"],"flags":{}}]"#
        );
    }

    #[test]
    fn socketio_nats_room_subjects_are_encode_uri_escaped() {
        let o = EmitterOptions::new(Dialect::SocketIoNats)
            .key("app")
            .delimiter(":");
        assert_eq!(
            enc(&o, "/", &["café au lait"], &[]).subject,
            "app:/:caf%C3%A9%20au%20lait"
        );
        let o = EmitterOptions::new(Dialect::SocketIoNats);
        assert_eq!(
            enc(&o, "/chat", &["/chat#abc"], &[]).subject,
            "socket.io./chat./chat#abc"
        );
        assert_eq!(enc(&o, "/", &["a.b"], &[]).subject, "socket.io./.a.b");
        assert_eq!(enc(&o, "/", &["x>y"], &[]).subject, "socket.io./.x%3Ey");
        // Rooms that cannot be a publish subject go to the namespace subject, rooms kept.
        for room in ["*", "a.*", "a.*.b", "a..b", "a.", ".a", ""] {
            let m = enc(&o, "/", &[room], &[]);
            assert_eq!(m.subject, "socket.io./", "{room:?}");
            assert!(text(&m).contains(&format!(r#""rooms":[{}]"#, json!(room))));
        }
    }

    #[test]
    fn mickl_golden_bytes() {
        let o = EmitterOptions::new(Dialect::Mickl);
        let m = enc(&o, "/", &["lobby"], &[]);
        assert_eq!(m.subject, "socketIO./");
        assert_eq!(
            text(&m),
            r#"{"fromUid":"socket.io-nats-emitter","packet":{"type":2,"data":["chat","hello"],"nsp":"/"},"opts":{"rooms":["lobby"],"except":[],"flags":{}}}"#
        );
        let m = enc(&o.clone().key("k"), "/chat", &["a", "b"], &["vip"]);
        assert_eq!(m.subject, "k./chat");
        assert_eq!(
            text(&m),
            r#"{"fromUid":"socket.io-nats-emitter","packet":{"type":2,"data":["chat","hello"],"nsp":"/chat"},"opts":{"rooms":["a","b"],"except":["vip"],"flags":{}}}"#
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let o = EmitterOptions::new(Dialect::Mickl);
        let flags = Flags::default();
        let out = |nsp, event| Outgoing {
            nsp,
            rooms: &[],
            except: &[],
            flags: &flags,
            event,
            args: &[],
        };
        let e = encode(&o, &out("/", "disconnect")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOption);
        assert!(e.to_string().contains("reserved"), "{e}");
        let e = encode(&o, &out("/a b", "x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSubject);
    }
}
