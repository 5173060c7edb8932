//! [`Flags`]: the `opts.flags` object of a socket.io broadcast, both ways.

use std::time::Duration;

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// The modifiers of a socket.io broadcast (`opts.flags`): what `io.volatile`,
/// `io.compress(false)`, `io.local`, `socket.broadcast` or `io.timeout(ms)` set on the
/// sending server.
///
/// Receiving adapters act on `volatile` (drop the packet for a client that is not ready) and
/// `compress`; the others describe how the sender emitted. Keys natsws does not know are kept in
/// `other`, so nothing a server sent is lost.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    /// `volatile`: the packet may be dropped for clients that are not ready to receive.
    pub volatile: bool,
    /// `compress`: whether to compress the packet (`None`: not said; socket.io compresses).
    pub compress: Option<bool>,
    /// `local`: only for the sending server (such packets are normally not published).
    pub local: bool,
    /// `broadcast`: sent with `socket.broadcast`.
    pub broadcast: bool,
    /// `binary`: the sender marked the arguments as binary.
    pub binary: bool,
    /// `json` (socket.io 1.x).
    pub json: bool,
    /// `timeout`: the acknowledgement timeout of `io.timeout(ms)` (socket.io 4).
    pub timeout: Option<Duration>,
    /// Every other key, as sent.
    pub other: Map<String, Value>,
}

impl Flags {
    /// `true` when no flag is set (encodes as `{}`).
    pub fn is_empty(&self) -> bool {
        *self == Flags::default()
    }

    /// Reads a `flags` object; `Err` names the offending key.
    pub(crate) fn from_json(v: &Value) -> Result<Flags, String> {
        let obj = match v {
            Value::Null => return Ok(Flags::default()),
            Value::Object(o) => o,
            other => return Err(format!("flags is {}, not an object", kind_of(other))),
        };
        let mut f = Flags::default();
        for (k, v) in obj {
            let flag = |v: &Value| match v {
                Value::Bool(b) => Ok(Some(*b)),
                Value::Null => Ok(None),
                other => Err(format!("flag {k:?} is {}, not a boolean", kind_of(other))),
            };
            match k.as_str() {
                "volatile" => f.volatile = flag(v)?.unwrap_or(false),
                "compress" => f.compress = flag(v)?,
                "local" => f.local = flag(v)?.unwrap_or(false),
                "broadcast" => f.broadcast = flag(v)?.unwrap_or(false),
                "binary" => f.binary = flag(v)?.unwrap_or(false),
                "json" => f.json = flag(v)?.unwrap_or(false),
                "timeout" => {
                    f.timeout = match v {
                        Value::Null => None,
                        Value::Number(n) => Some(
                            n.as_f64()
                                .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
                                .ok_or_else(|| format!("flag \"timeout\" is {n}, not a time"))?,
                        ),
                        other => {
                            return Err(format!(
                                "flag \"timeout\" is {}, not milliseconds",
                                kind_of(other)
                            ))
                        }
                    }
                }
                _ => {
                    f.other.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(f)
    }
}

/// Writes only the flags that are set, in a fixed order (receivers read JSON, so the order
/// carries no meaning), then `other`.
impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if self.volatile {
            m.serialize_entry("volatile", &true)?;
        }
        if let Some(c) = self.compress {
            m.serialize_entry("compress", &c)?;
        }
        for (set, name) in [
            (self.local, "local"),
            (self.broadcast, "broadcast"),
            (self.binary, "binary"),
            (self.json, "json"),
        ] {
            if set {
                m.serialize_entry(name, &true)?;
            }
        }
        if let Some(t) = self.timeout {
            if t.subsec_nanos() % 1_000_000 == 0 {
                m.serialize_entry("timeout", &t.as_millis())?;
            } else {
                m.serialize_entry("timeout", &(t.as_secs_f64() * 1000.0))?;
            }
        }
        for (k, v) in &self.other {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// "a string", "an array"... for error messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_what_socket_io_sets_and_keeps_the_rest() {
        let f = Flags::from_json(&json!({
            "volatile": true, "compress": false, "local": true, "broadcast": true,
            "timeout": 1500, "expectSingleResponse": true
        }))
        .unwrap();
        assert!(f.volatile && f.local && f.broadcast && !f.binary && !f.json);
        assert_eq!(f.compress, Some(false));
        assert_eq!(f.timeout, Some(Duration::from_millis(1500)));
        assert_eq!(f.other.get("expectSingleResponse"), Some(&json!(true)));
        assert_eq!(Flags::from_json(&json!({})).unwrap(), Flags::default());
        assert_eq!(Flags::from_json(&Value::Null).unwrap(), Flags::default());
    }

    #[test]
    fn round_trips() {
        let mut f = Flags {
            volatile: true,
            compress: Some(true),
            json: true,
            timeout: Some(Duration::from_millis(250)),
            ..Flags::default()
        };
        f.other.insert("custom".into(), json!([1]));
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(
            text,
            r#"{"volatile":true,"compress":true,"json":true,"timeout":250,"custom":[1]}"#
        );
        let back = Flags::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, f);
        assert_eq!(serde_json::to_string(&Flags::default()).unwrap(), "{}");
        assert!(Flags::default().is_empty() && !f.is_empty());
    }

    #[test]
    fn wrong_types_are_named() {
        for (v, needle) in [
            (json!([]), "flags is an array"),
            (json!({"volatile": 1}), "\"volatile\" is a number"),
            (json!({"compress": "no"}), "\"compress\" is a string"),
            (json!({"timeout": -5}), "\"timeout\" is -5"),
            (json!({"timeout": "1s"}), "\"timeout\" is a string"),
        ] {
            let e = Flags::from_json(&v).unwrap_err();
            assert!(e.contains(needle), "{v}: {e}");
        }
    }
}
