//! How long to wait between passes over the server pool while reconnecting.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The wait between two passes over the server pool while reconnecting.
///
/// natsws tries every server of the pool once without waiting (a pass), then waits, then
/// tries again — the way nats.go does. The wait depends on how many passes have failed so far
/// (`pass`, counting from 1) and resets to the first value after a successful reconnect. A
/// random jitter ([`Options::reconnect_jitter`](crate::Options::reconnect_jitter)) is added
/// to every preset, so clients that lost the same server do not come back in lockstep; a
/// [`custom`](Backoff::custom) function gets no jitter added.
#[non_exhaustive]
#[derive(Clone)]
pub enum Backoff {
    /// The same wait after every pass (the NATS default: 2 s).
    Constant(Duration),
    /// `step × pass`, capped at `max` (the nes client's `delay`/`maxDelay`).
    Linear {
        /// Added per pass.
        step: Duration,
        /// The cap.
        max: Duration,
    },
    /// `initial × 2^(pass-1)`, capped at `max`.
    Exponential {
        /// The first wait.
        initial: Duration,
        /// The cap.
        max: Duration,
    },
    /// Your own function of the pass number; no jitter is added.
    Custom(Arc<dyn Fn(u32) -> Duration + Send + Sync>),
}

impl Backoff {
    /// [`Backoff::Custom`] from a closure.
    pub fn custom(f: impl Fn(u32) -> Duration + Send + Sync + 'static) -> Backoff {
        Backoff::Custom(Arc::new(f))
    }

    /// The wait after failed pass number `pass` (1-based).
    pub fn delay(&self, pass: u32) -> Duration {
        let pass = pass.max(1);
        match self {
            Backoff::Constant(d) => *d,
            Backoff::Linear { step, max } => step.saturating_mul(pass).min(*max),
            Backoff::Exponential { initial, max } => {
                let factor = 1u32.checked_shl(pass - 1).unwrap_or(u32::MAX);
                initial.saturating_mul(factor).min(*max)
            }
            Backoff::Custom(f) => f(pass),
        }
    }

    pub(crate) fn jittered(&self) -> bool {
        !matches!(self, Backoff::Custom(_))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::Constant(Duration::from_secs(2))
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backoff::Constant(d) => f.debug_tuple("Constant").field(d).finish(),
            Backoff::Linear { step, max } => f
                .debug_struct("Linear")
                .field("step", step)
                .field("max", max)
                .finish(),
            Backoff::Exponential { initial, max } => f
                .debug_struct("Exponential")
                .field("initial", initial)
                .field("max", max)
                .finish(),
            Backoff::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn presets() {
        assert_eq!(Backoff::default().delay(7), Duration::from_secs(2));
        let lin = Backoff::Linear {
            step: 100 * MS,
            max: 350 * MS,
        };
        let got: Vec<_> = (1..=5).map(|p| lin.delay(p)).collect();
        assert_eq!(got, [100 * MS, 200 * MS, 300 * MS, 350 * MS, 350 * MS]);
        let exp = Backoff::Exponential {
            initial: 10 * MS,
            max: 100 * MS,
        };
        let got: Vec<_> = (1..=6).map(|p| exp.delay(p)).collect();
        assert_eq!(
            got,
            [10 * MS, 20 * MS, 40 * MS, 80 * MS, 100 * MS, 100 * MS]
        );
        assert_eq!(exp.delay(u32::MAX), 100 * MS);
        let c = Backoff::custom(|p| MS * p * 3);
        assert_eq!(c.delay(4), 12 * MS);
        assert!(!c.jittered() && lin.jittered());
        assert_eq!(format!("{c:?}"), "Custom(..)");
    }
}
