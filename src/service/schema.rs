//! The JSON documents of the discovery subjects (`$SRV.PING|INFO|STATS…`), as ADR-32 and
//! nats.go write them: what a service sends and what the client reads back.
//!
//! Where clients disagree the choice is nats.go's: `last_error` is a string
//! (`"<code>:<description>"`, empty when none; ADR-32 calls it an error object), a service
//! without metadata sends `{}`, an endpoint without metadata sends `null`, an endpoint without
//! a queue group sends `"queue_group": ""`, and times are integer nanoseconds. Reading is
//! lenient about what other clients send: `null` for a string, map or list reads as empty,
//! and `last_error` may be an object `{code, description}`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The `type` of a PING response.
pub const PING_RESPONSE_TYPE: &str = "io.nats.micro.v1.ping_response";
/// The `type` of an INFO response.
pub const INFO_RESPONSE_TYPE: &str = "io.nats.micro.v1.info_response";
/// The `type` of a STATS response.
pub const STATS_RESPONSE_TYPE: &str = "io.nats.micro.v1.stats_response";

/// Metadata: string keys and values.
pub type Metadata = BTreeMap<String, String>;

/// A service's answer on `$SRV.PING…`: who it is.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResponse {
    /// The service name, shared by every instance of the service.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// This instance's unique id.
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    /// The service version (SemVer).
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    /// The service's metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// `io.nats.micro.v1.ping_response`.
    #[serde(rename = "type", deserialize_with = "null_default")]
    pub kind: String,
}

/// A service's answer on `$SRV.INFO…`: who it is and its endpoints.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoResponse {
    /// The service name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// This instance's unique id.
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    /// The service version.
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    /// The service's metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// `io.nats.micro.v1.info_response`.
    #[serde(rename = "type", deserialize_with = "null_default")]
    pub kind: String,
    /// What the service does.
    #[serde(default, deserialize_with = "null_default")]
    pub description: String,
    /// Its endpoints, in the order they were added.
    #[serde(default, deserialize_with = "null_default")]
    pub endpoints: Vec<EndpointInfo>,
}

/// One endpoint in an [`InfoResponse`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointInfo {
    /// The endpoint name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// The subject it listens on (with its group prefix).
    #[serde(deserialize_with = "null_default")]
    pub subject: String,
    /// Its queue group; empty when it has none.
    #[serde(default, deserialize_with = "null_default")]
    pub queue_group: String,
    /// The endpoint's metadata (sent as `null` when empty, as nats.go does).
    #[serde(
        default,
        deserialize_with = "null_default",
        serialize_with = "empty_as_null"
    )]
    pub metadata: Metadata,
}

/// A service's answer on `$SRV.STATS…`: request counts and timings per endpoint.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsResponse {
    /// The service name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// This instance's unique id.
    #[serde(deserialize_with = "null_default")]
    pub id: String,
    /// The service version.
    #[serde(deserialize_with = "null_default")]
    pub version: String,
    /// The service's metadata.
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: Metadata,
    /// `io.nats.micro.v1.stats_response`.
    #[serde(rename = "type", deserialize_with = "null_default")]
    pub kind: String,
    /// When the service started (or its stats were last reset): RFC 3339 in UTC.
    #[serde(default, deserialize_with = "null_default")]
    pub started: String,
    /// Per-endpoint statistics, in the order the endpoints were added.
    #[serde(default, deserialize_with = "null_default")]
    pub endpoints: Vec<EndpointStats>,
}

/// One endpoint's statistics in a [`StatsResponse`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    /// The endpoint name.
    #[serde(deserialize_with = "null_default")]
    pub name: String,
    /// The subject it listens on.
    #[serde(deserialize_with = "null_default")]
    pub subject: String,
    /// Its queue group; empty when it has none.
    #[serde(default, deserialize_with = "null_default")]
    pub queue_group: String,
    /// Requests handled.
    #[serde(default, deserialize_with = "null_default")]
    pub num_requests: u64,
    /// Requests answered with an error (or whose answer could not be sent).
    #[serde(default, deserialize_with = "null_default")]
    pub num_errors: u64,
    /// The last error, `"<code>:<description>"`; empty when there was none.
    #[serde(default, deserialize_with = "last_error")]
    pub last_error: String,
    /// Total time spent handling requests (integer nanoseconds on the wire).
    #[serde(default, with = "nanos")]
    pub processing_time: Duration,
    /// `processing_time / num_requests` (integer nanoseconds on the wire).
    #[serde(default, with = "nanos")]
    pub average_processing_time: Duration,
    /// What the service's stats handler added, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// `null` reads as the type's default.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn empty_as_null<S: Serializer>(m: &Metadata, s: S) -> Result<S::Ok, S::Error> {
    if m.is_empty() {
        s.serialize_none()
    } else {
        m.serialize(s)
    }
}

/// `last_error` as nats.go sends it (a string), or as ADR-32 describes it (an object).
fn last_error<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum LastError {
        Text(String),
        Object {
            #[serde(default)]
            code: serde_json::Value,
            #[serde(default)]
            description: String,
        },
    }
    Ok(match Option::<LastError>::deserialize(d)? {
        None => String::new(),
        Some(LastError::Text(s)) => s,
        Some(LastError::Object { code, description }) => match code {
            serde_json::Value::String(c) => format!("{c}:{description}"),
            serde_json::Value::Null => description,
            c => format!("{c}:{description}"),
        },
    })
}

/// A `Duration` as integer nanoseconds (reading also accepts a float or `null`).
mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let n = Option::<f64>::deserialize(d)?.unwrap_or(0.0);
        if n.is_finite() && n > 0.0 {
            Ok(Duration::from_nanos(n.min(u64::MAX as f64) as u64))
        } else {
            Ok(Duration::ZERO)
        }
    }
}

/// `t` in RFC 3339, UTC, with nanoseconds and trailing zeros trimmed (Go's `RFC3339Nano`,
/// what nats.go sends): `2026-12-01T14:35:28.123456789Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let mut out = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = since.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 0); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_796_135_728, 120_000_000);
        assert_eq!(rfc3339(t), "2026-12-01T14:35:28.12Z");
        let t = UNIX_EPOCH + Duration::new(4_102_444_799, 999_999_999);
        assert_eq!(rfc3339(t), "2099-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn stats_round_trip_and_wire_names() {
        let e = EndpointStats {
            name: "e".into(),
            subject: "g.e".into(),
            queue_group: "q".into(),
            num_requests: 3,
            num_errors: 1,
            last_error: "400:bad".into(),
            processing_time: Duration::from_nanos(3000),
            average_processing_time: Duration::from_nanos(1000),
            data: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name":"e","subject":"g.e","queue_group":"q","num_requests":3,
                "num_errors":1,"last_error":"400:bad","processing_time":3000,
                "average_processing_time":1000})
        );
        let back: EndpointStats = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn reads_other_clients_leniently() {
        // nats-py style: nulls; ADR-32 style: last_error as an object.
        let s: StatsResponse = serde_json::from_str(
            r#"{"type":"io.nats.micro.v1.stats_response","name":"p","id":"x","version":"1.0.0",
            "metadata":null,"started":"2026-01-01T00:00:00.000Z","endpoints":[{"name":"e",
            "subject":"e","queue_group":"q","num_requests":2,"num_errors":1,
            "last_error":{"code":500,"description":"boom"},"processing_time":10.0,
            "average_processing_time":5,"data":null}]}"#,
        )
        .unwrap();
        assert!(s.metadata.is_empty());
        assert_eq!(s.endpoints[0].last_error, "500:boom");
        assert_eq!(s.endpoints[0].processing_time, Duration::from_nanos(10));
        let i: InfoResponse = serde_json::from_str(
            r#"{"type":"io.nats.micro.v1.info_response","name":"p","id":"x","version":"1.0.0",
            "metadata":{},"description":null,"endpoints":[{"name":"e","subject":"e",
            "queue_group":"q","metadata":null}]}"#,
        )
        .unwrap();
        assert_eq!(i.description, "");
        assert!(i.endpoints[0].metadata.is_empty());
        let v = serde_json::to_value(&i.endpoints[0]).unwrap();
        assert_eq!(v["metadata"], serde_json::Value::Null);
    }
}
