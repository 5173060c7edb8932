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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_durations_do_not_overflow() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(3600));
        let near = deadline_after(Duration::from_millis(5));
        assert!(near <= Instant::now() + Duration::from_millis(5));
    }
}
