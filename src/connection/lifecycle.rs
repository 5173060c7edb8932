//! The lifecycle of a connection: a state machine whose transitions are one function.
//!
//! Every change of [`State`] goes through [`next`], which is pure and tested transition by
//! transition. Two rules keep the state honest: `Draining` is left only for `Closed` (a
//! reconnect during a drain does not make the connection take subscriptions again), and
//! `Closed` is never left.

use std::time::Instant;

use parking_lot::Condvar;

use crate::connection::lock_order::{Ordered, Rank};

/// The lifecycle of a connection.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Connecting for the first time.
    Connecting,
    /// Connected and usable.
    Connected,
    /// The connection was lost and the supervisor is trying the server pool; publishes are
    /// buffered, subscriptions kept.
    Reconnecting,
    /// [`Connection::drain`](crate::Connection::drain) is under way.
    Draining,
    /// Closed for good.
    Closed,
}

/// What happened to the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transition {
    /// A transport is up and handshaken.
    Up,
    /// The transport was lost (or is being replaced); the supervisor will try the pool.
    Lost,
    /// The user asked for a drain.
    Drain,
    /// The connection is closed for good.
    Close,
}

/// Why a transition was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// A second drain.
    AlreadyDraining,
    /// The connection is closed.
    Closed,
}

/// The state after `t` happens in `s`, or why `t` is not allowed there.
pub(crate) fn next(s: State, t: Transition) -> Result<State, Refused> {
    use State::*;
    use Transition::*;
    match (s, t) {
        (Closed, Close) => Ok(Closed),
        (Closed, _) => Err(Refused::Closed),
        (_, Close) => Ok(Closed),
        (Draining, Drain) => Err(Refused::AlreadyDraining),
        (Draining, Up | Lost) => Ok(Draining),
        (_, Drain) => Ok(Draining),
        (Connecting | Connected | Reconnecting, Up) => Ok(Connected),
        (Connecting, Lost) => Ok(Connecting),
        (Connected | Reconnecting, Lost) => Ok(Reconnecting),
    }
}

/// The shared state, its lock and the condvar `Closed` is announced on.
pub(crate) struct Lifecycle {
    state: Ordered<State>,
    cv: Condvar,
}

impl Lifecycle {
    pub(crate) fn new() -> Lifecycle {
        Lifecycle {
            state: Ordered::new(Rank::Lifecycle, State::Connecting),
            cv: Condvar::new(),
        }
    }

    pub(crate) fn get(&self) -> State {
        *self.state.lock()
    }

    /// Applies `t`; returns the new state.
    pub(crate) fn apply(&self, t: Transition) -> Result<State, Refused> {
        let mut s = self.state.lock();
        let n = next(*s, t)?;
        if n != *s {
            log::debug!("state {:?} -> {n:?} ({t:?})", *s);
            *s = n;
            self.cv.notify_all();
        }
        Ok(n)
    }

    /// Waits until the state is `Closed` or `deadline` passes; `true` when closed.
    pub(crate) fn wait_closed(&self, deadline: Instant) -> bool {
        let mut s = self.state.lock();
        while *s != State::Closed {
            if s.wait_until(&self.cv, deadline).timed_out() {
                return *s == State::Closed;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;
    use Transition::*;

    const STATES: [State; 5] = [Connecting, Connected, Reconnecting, Draining, Closed];
    const TRANSITIONS: [Transition; 4] = [Up, Lost, Drain, Close];

    #[test]
    fn transition_table() {
        // Rows: states; columns: Up, Lost, Drain, Close. `None` = refused.
        let table: [(State, [Option<State>; 4]); 5] = [
            (
                Connecting,
                [
                    Some(Connected),
                    Some(Connecting),
                    Some(Draining),
                    Some(Closed),
                ],
            ),
            (
                Connected,
                [
                    Some(Connected),
                    Some(Reconnecting),
                    Some(Draining),
                    Some(Closed),
                ],
            ),
            (
                Reconnecting,
                [
                    Some(Connected),
                    Some(Reconnecting),
                    Some(Draining),
                    Some(Closed),
                ],
            ),
            (
                Draining,
                [Some(Draining), Some(Draining), None, Some(Closed)],
            ),
            (Closed, [None, None, None, Some(Closed)]),
        ];
        for (s, row) in table {
            for (t, want) in TRANSITIONS.iter().zip(row) {
                assert_eq!(next(s, *t).ok(), want, "{s:?} + {t:?}");
            }
        }
    }

    #[test]
    fn draining_and_closed_are_never_overwritten() {
        for t in TRANSITIONS {
            let d = next(Draining, t);
            assert!(matches!(d, Ok(Draining) | Ok(Closed) | Err(_)), "{t:?}");
            if t != Close {
                assert_ne!(d, Ok(Connected));
                assert_ne!(d, Ok(Reconnecting));
            }
            assert!(matches!(next(Closed, t), Ok(Closed) | Err(Refused::Closed)));
        }
    }

    #[test]
    fn a_second_drain_is_refused() {
        assert_eq!(next(Draining, Drain), Err(Refused::AlreadyDraining));
        assert_eq!(next(Closed, Drain), Err(Refused::Closed));
    }

    #[test]
    fn every_state_can_close() {
        for s in STATES {
            assert_eq!(next(s, Close), Ok(Closed));
        }
    }

    #[test]
    fn wait_closed_is_bounded() {
        let l = Lifecycle::new();
        let start = Instant::now();
        assert!(!l.wait_closed(Instant::now() + std::time::Duration::from_millis(20)));
        assert!(start.elapsed() >= std::time::Duration::from_millis(20));
        l.apply(Close).unwrap();
        assert!(l.wait_closed(Instant::now()));
        assert_eq!(l.get(), Closed);
    }
}
