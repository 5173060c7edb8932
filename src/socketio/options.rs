//! [`Dialect`] (which adapter the socket.io servers run) and [`EmitterOptions`] (key, delimiter
//! and uid, with each dialect's defaults).

use crate::{Error, ErrorKind, Result};

/// Which socket.io-over-NATS adapter the socket.io servers run: the two speak different
/// subjects and payloads, so the emitter and the decoder must know.
///
/// More dialects may be added, so a `match` needs a `_` arm.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `socket.io-nats` 0.1 and its `socket.io-nats-emitter` (socket.io 1.x).
    ///
    /// Subjects: `<key><delim><nsp>` for a namespace, `<key><delim><nsp><delim>encodeURI(room)`
    /// for a room; every server subscribes to the first and, for each room it has sockets in, to
    /// the second. Payload: the JSON array `[uid, packet, opts]`. Defaults: key `socket.io`,
    /// delimiter `.`, emitter uid `emitter`.
    SocketIoNats,
    /// `@mickl/socket.io-nats-adapter` 2.x (socket.io 3 and 4, nats.js 2).
    ///
    /// One subject per namespace, `<key>.<nsp>` (no room subjects), and the JSON object
    /// `{"fromUid", "packet", "opts": {"rooms", "except", "flags"}}`. Defaults: key `socketIO`,
    /// emitter uid `socket.io-nats-emitter` (the uid of MickL's `socket.io-nats-emitter`). The
    /// delimiter is always `.`.
    Mickl,
}

impl Dialect {
    /// The adapter's default subject key: `socket.io` or `socketIO`.
    pub fn default_key(self) -> &'static str {
        match self {
            Dialect::SocketIoNats => "socket.io",
            Dialect::Mickl => "socketIO",
        }
    }

    /// The uid the dialect's JavaScript emitter signs its messages with. Servers use 6-character
    /// uids and drop messages carrying their own, so an emitter's uid must not have 6 characters
    /// drawn by chance; these defaults are longer.
    pub fn default_uid(self) -> &'static str {
        match self {
            Dialect::SocketIoNats => "emitter",
            Dialect::Mickl => "socket.io-nats-emitter",
        }
    }
}

/// Settings of an [`Emitter`](super::Emitter) (and of an [`Observer`](super::Observer)):
/// the dialect, the adapter's subject key and delimiter, and the uid the emitter signs with.
///
/// ```
/// use natsws::socketio::{Dialect, EmitterOptions};
///
/// // Servers started with `createAdapter(nc, { subjectKey: "chat-app" })`:
/// let opts = EmitterOptions::new(Dialect::Mickl).key("chat-app");
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmitterOptions {
    pub(crate) dialect: Dialect,
    pub(crate) key: String,
    pub(crate) delimiter: String,
    pub(crate) uid: String,
}

impl EmitterOptions {
    /// The defaults of `dialect`: its key, the delimiter `.`, its emitter uid.
    pub fn new(dialect: Dialect) -> EmitterOptions {
        EmitterOptions {
            dialect,
            key: dialect.default_key().to_owned(),
            delimiter: ".".to_owned(),
            uid: dialect.default_uid().to_owned(),
        }
    }

    /// The subject key the servers' adapter uses (0.1: option `key`; MickL: option `subjectKey`).
    pub fn key(mut self, key: impl Into<String>) -> EmitterOptions {
        self.key = key.into();
        self
    }

    /// The delimiter between key, namespace and room (0.1's option `delimiter`). The MickL
    /// adapter always uses `.`; another delimiter makes [`Emitter::new`](super::Emitter::new)
    /// fail with [`ErrorKind::InvalidOption`].
    pub fn delimiter(mut self, delimiter: impl Into<String>) -> EmitterOptions {
        self.delimiter = delimiter.into();
        self
    }

    /// The uid this emitter signs its messages with (servers drop messages carrying their own).
    pub fn uid(mut self, uid: impl Into<String>) -> EmitterOptions {
        self.uid = uid.into();
        self
    }

    /// Refuses settings no adapter could share.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(Error::new(
                ErrorKind::InvalidOption,
                format!("socket.io emitter: {what}"),
            ))
        };
        if self.key.is_empty() {
            return bad("the key is empty");
        }
        if self.delimiter.is_empty() {
            return bad("the delimiter is empty");
        }
        if self.dialect == Dialect::Mickl && self.delimiter != "." {
            return bad("the @mickl/socket.io-nats-adapter dialect always uses the delimiter '.'");
        }
        if self.uid.is_empty() {
            return bad("the uid is empty");
        }
        Ok(())
    }

    /// The subject of namespace `nsp`: `<key><delim><nsp>`.
    pub(crate) fn namespace_subject(&self, nsp: &str) -> String {
        let mut s = String::with_capacity(self.key.len() + self.delimiter.len() + nsp.len());
        s.push_str(&self.key);
        s.push_str(&self.delimiter);
        s.push_str(nsp);
        s
    }
}

/// A namespace name as socket.io spells it: with a leading `/` (socket.io's `of("chat")` is
/// `of("/chat")`), `/` for the empty name.
pub(crate) fn normalize_namespace(nsp: &str) -> String {
    if nsp.starts_with('/') {
        nsp.to_owned()
    } else {
        format!("/{nsp}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_dialect() {
        let a = EmitterOptions::new(Dialect::SocketIoNats);
        assert_eq!(
            (&*a.key, &*a.delimiter, &*a.uid),
            ("socket.io", ".", "emitter")
        );
        assert_eq!(a.namespace_subject("/"), "socket.io./");
        let b = EmitterOptions::new(Dialect::Mickl);
        assert_eq!(
            (&*b.key, &*b.delimiter, &*b.uid),
            ("socketIO", ".", "socket.io-nats-emitter")
        );
        assert_eq!(b.namespace_subject("/chat"), "socketIO./chat");
        assert!(a.validate().is_ok() && b.validate().is_ok());
    }

    #[test]
    fn refuses_what_no_adapter_shares() {
        for o in [
            EmitterOptions::new(Dialect::Mickl).delimiter(":"),
            EmitterOptions::new(Dialect::Mickl).key(""),
            EmitterOptions::new(Dialect::SocketIoNats).delimiter(""),
            EmitterOptions::new(Dialect::SocketIoNats).uid(""),
        ] {
            assert_eq!(
                o.validate().unwrap_err().kind(),
                ErrorKind::InvalidOption,
                "{o:?}"
            );
        }
        let custom = EmitterOptions::new(Dialect::SocketIoNats)
            .key("app")
            .delimiter("-");
        assert!(custom.validate().is_ok());
        assert_eq!(custom.namespace_subject("/x"), "app-/x");
    }

    #[test]
    fn namespaces_get_their_slash() {
        assert_eq!(normalize_namespace("chat"), "/chat");
        assert_eq!(normalize_namespace("/chat"), "/chat");
        assert_eq!(normalize_namespace(""), "/");
    }
}
