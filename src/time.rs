//! Deadlines from user-given durations, which may be as large as `Duration::MAX`.

use std::time::{Duration, Instant};

/// About a century: "no deadline" for durations too large to add to an `Instant`.
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + d`, or a deadline a century away when that does not fit in an `Instant`.
pub(crate) fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
}

/// How long a call may wait, with its deadline read from the clock only once it must wait: a
/// call that finds its answer at once (a message already queued) never reads the clock.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Never wait.
    Now,
    /// Up to this long from the moment waiting starts.
    For(Duration),
    /// Until this instant.
    Until(Instant),
    /// As long as it takes.
    Forever,
}

impl Wait {
    /// The deadline (`None`: no limit), fixed by the first call.
    pub(crate) fn deadline(&mut self) -> Option<Instant> {
        match *self {
            Wait::Forever => None,
            Wait::Until(t) => Some(t),
            Wait::Now => {
                let t = Instant::now();
                *self = Wait::Until(t);
                Some(t)
            }
            Wait::For(d) => {
                let t = deadline_after(d);
                *self = Wait::Until(t);
                Some(t)
            }
        }
    }
}

impl From<Option<Instant>> for Wait {
    fn from(deadline: Option<Instant>) -> Wait {
        deadline.map_or(Wait::Forever, Wait::Until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_reads_the_clock_once_and_keeps_its_deadline() {
        let mut w = Wait::For(Duration::from_secs(60));
        let d = w.deadline().unwrap();
        assert!(d > Instant::now() + Duration::from_secs(59));
        assert_eq!(w.deadline(), Some(d), "fixed by the first call");
        assert_eq!(Wait::Forever.deadline(), None);
        assert!(Wait::Now.deadline().unwrap() <= Instant::now());
        assert!(matches!(Wait::from(None), Wait::Forever));
    }

    #[test]
    fn huge_durations_do_not_overflow() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(3600));
        let near = deadline_after(Duration::from_millis(5));
        assert!(near <= Instant::now() + Duration::from_millis(5));
    }
}
