//! The lock order of a connection, written once and checked in debug builds.
//!
//! Every lock a connection's threads share has a [`Rank`]. A thread may take a lock only while
//! it holds no lock of the same or a higher rank, so no two threads can wait on each other:
//!
//! ```text
//! Table (subscriptions and requests) → Out (the transport's writing half)
//!     → Outbound (the queue of bytes for the server) → Lifecycle (the state)
//! ```
//!
//! The other shared locks (the server's INFO, the URL, the socket handle kept for shutdowns,
//! the close reason, the event queue, the disconnect hooks) are leaves: nothing else is locked
//! while one is held. Callbacks of internal hooks (dispatch subscriptions, disconnect hooks)
//! are called with none of these locks held, so the locks of the layer above them are not
//! ordered against these.
//!
//! For example `subscribe` holds the table while it queues its SUB (Table → Outbound), and the
//! writer holds the transport while it takes the queue (Out → Outbound). Taking the table
//! while holding the queue would be an inversion: in a debug build (every test run) the
//! [`Ordered::lock`] that tries it panics with both ranks named, so a new inversion fails the
//! first test that reaches it instead of deadlocking one day in production. Release builds
//! carry no check and no cost. `try_lock` cannot deadlock and is not checked against the
//! order, but the lock it takes is recorded like any other.

use std::ops::{Deref, DerefMut};

use parking_lot::{Condvar, Mutex, MutexGuard, WaitTimeoutResult};

/// The rank of a lock: lower ranks are taken first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// The subscription and request table.
    Table = 1,
    /// The transport's writing half.
    Out = 2,
    /// The outbound queue.
    Outbound = 3,
    /// The lifecycle state.
    Lifecycle = 4,
}

/// A mutex with a rank.
pub(crate) struct Ordered<T> {
    rank: Rank,
    inner: Mutex<T>,
}

/// The guard of an [`Ordered`] lock.
pub(crate) struct Guard<'a, T> {
    inner: MutexGuard<'a, T>,
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    rank: Rank,
}

impl<T> Ordered<T> {
    pub(crate) const fn new(rank: Rank, value: T) -> Ordered<T> {
        Ordered {
            rank,
            inner: Mutex::new(value),
        }
    }

    /// Locks, after checking (debug builds) that no lock of this rank or higher is held.
    #[inline]
    pub(crate) fn lock(&self) -> Guard<'_, T> {
        held::check(self.rank);
        let inner = self.inner.lock();
        held::push(self.rank);
        Guard {
            inner,
            rank: self.rank,
        }
    }

    /// Locks if free, without waiting (and so without an order to respect).
    #[inline]
    pub(crate) fn try_lock(&self) -> Option<Guard<'_, T>> {
        let inner = self.inner.try_lock()?;
        held::push(self.rank);
        Some(Guard {
            inner,
            rank: self.rank,
        })
    }
}

impl<T> Guard<'_, T> {
    /// Waits on `cv`, releasing the lock meanwhile.
    #[inline]
    pub(crate) fn wait(&mut self, cv: &Condvar) {
        cv.wait(&mut self.inner);
    }

    /// Waits on `cv` until `deadline`.
    #[inline]
    pub(crate) fn wait_until(
        &mut self,
        cv: &Condvar,
        deadline: std::time::Instant,
    ) -> WaitTimeoutResult {
        cv.wait_until(&mut self.inner, deadline)
    }
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> DerefMut for Guard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for Guard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        held::pop(self.rank);
    }
}

#[cfg(debug_assertions)]
mod held {
    use super::Rank;
    use std::cell::RefCell;

    thread_local! {
        static HELD: RefCell<Vec<Rank>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn check(rank: Rank) {
        HELD.with(|h| {
            if let Some(top) = h.borrow().iter().max() {
                if *top >= rank {
                    panic!("lock order violated: taking {rank:?} while holding {top:?} (see connection/lock_order.rs)");
                }
            }
        })
    }

    pub(super) fn push(rank: Rank) {
        HELD.with(|h| h.borrow_mut().push(rank))
    }

    pub(super) fn pop(rank: Rank) {
        HELD.with(|h| {
            let mut h = h.borrow_mut();
            if let Some(i) = h.iter().rposition(|r| *r == rank) {
                h.remove(i);
            }
        })
    }
}

#[cfg(not(debug_assertions))]
mod held {
    use super::Rank;
    #[inline(always)]
    pub(super) fn check(_: Rank) {}
    #[inline(always)]
    pub(super) fn push(_: Rank) {}
    #[inline(always)]
    pub(super) fn pop(_: Rank) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_order_is_allowed() {
        let table = Ordered::new(Rank::Table, ());
        let out = Ordered::new(Rank::Out, ());
        let queue = Ordered::new(Rank::Outbound, ());
        let state = Ordered::new(Rank::Lifecycle, ());
        let _a = table.lock();
        let _b = out.lock();
        let _c = queue.lock();
        let _d = state.lock();
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "lock order violated: taking Table while holding Outbound")]
    fn an_inversion_panics_in_debug_builds() {
        let table = Ordered::new(Rank::Table, ());
        let queue = Ordered::new(Rank::Outbound, ());
        let _q = queue.lock();
        let _t = table.lock();
    }

    #[test]
    fn try_lock_is_recorded_and_released() {
        let out = Ordered::new(Rank::Out, ());
        let queue = Ordered::new(Rank::Outbound, ());
        {
            let _q = queue.lock();
            // Not an inversion: try_lock never waits.
            assert!(out.try_lock().is_some());
        }
        // Everything was released: the order starts afresh.
        let _o = out.lock();
        let _q = queue.lock();
    }
}
