//! One endpoint's request counters: updated once per request, read by STATS.

use std::time::Duration;

use parking_lot::Mutex;

use super::schema::EndpointStats;

/// The counters ADR-32 asks for, behind one uncontended lock (taken once per request).
#[derive(Default)]
pub(crate) struct Counters(Mutex<Inner>);

#[derive(Default)]
struct Inner {
    num_requests: u64,
    num_errors: u64,
    last_error: String,
    processing_time: Duration,
}

impl Counters {
    /// Counts one handled request that took `took`; `error` is `"<code>:<description>"` for
    /// a request answered with an error (or whose answer failed).
    pub(crate) fn record(&self, took: Duration, error: Option<String>) {
        let mut c = self.0.lock();
        c.num_requests += 1;
        c.processing_time = c.processing_time.saturating_add(took);
        if let Some(e) = error {
            c.num_errors += 1;
            c.last_error = e;
        }
    }

    /// Notes an error for a request already counted (its answer could not be sent); `count`
    /// says whether it adds to the errors (not when the request was already one).
    pub(crate) fn record_error(&self, error: String, count: bool) {
        let mut c = self.0.lock();
        if count {
            c.num_errors += 1;
        }
        c.last_error = error;
    }

    pub(crate) fn reset(&self) {
        *self.0.lock() = Inner::default();
    }

    /// The counters as the STATS document shows them (no `data`).
    pub(crate) fn snapshot(&self, name: &str, subject: &str, queue: Option<&str>) -> EndpointStats {
        let c = self.0.lock();
        let avg = match c.num_requests {
            0 => Duration::ZERO,
            n => {
                let ns = c.processing_time.as_nanos() / u128::from(n);
                Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
            }
        };
        EndpointStats {
            name: name.to_string(),
            subject: subject.to_string(),
            queue_group: queue.unwrap_or_default().to_string(),
            num_requests: c.num_requests,
            num_errors: c.num_errors,
            last_error: c.last_error.clone(),
            processing_time: c.processing_time,
            average_processing_time: avg,
            data: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_average_and_reset() {
        let c = Counters::default();
        c.record(Duration::from_nanos(100), None);
        c.record(Duration::from_nanos(201), Some("400:bad".into()));
        let s = c.snapshot("e", "s", Some("q"));
        assert_eq!((s.num_requests, s.num_errors), (2, 1));
        assert_eq!(s.last_error, "400:bad");
        assert_eq!(s.processing_time, Duration::from_nanos(301));
        assert_eq!(s.average_processing_time, Duration::from_nanos(150));
        assert_eq!(s.queue_group, "q");
        c.record_error("500:x".into(), false);
        assert_eq!(c.snapshot("e", "s", None).num_errors, 1);
        c.record_error("500:y".into(), true);
        let s = c.snapshot("e", "s", None);
        assert_eq!((s.num_errors, s.last_error.as_str()), (2, "500:y"));
        c.reset();
        let s = c.snapshot("e", "s", None);
        assert_eq!((s.num_requests, s.num_errors), (0, 0));
        assert_eq!(s.last_error, "");
        assert_eq!(s.processing_time, Duration::ZERO);
        assert_eq!(s.queue_group, "");
    }
}
