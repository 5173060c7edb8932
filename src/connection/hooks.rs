//! Internal hooks the JetStream layer needs from the connection core, kept in one place so
//! they can be ported onto a new core. Each is `pub(crate)` and small.
//!
//! 1. [`Connection::request_with_headers_timeout`]: a request with headers and its own
//!    timeout (the public API has headers with the default timeout, or a timeout without
//!    headers). JetStream publishes with options (`Nats-Msg-Id`, expected sequences, TTL).
//! 2. [`Connection::transport_generation`]: which transport the connection is on, so a
//!    consumer can tell that a reconnect happened (and that replies to requests sent before
//!    it will never come) without taking the user's events.
//! 3. [`Connection::subscribe_dispatch`]: a subscription whose messages are handed to a
//!    callback on the reader thread instead of a queue, so that replies are taken in with
//!    nobody reading (the pipelined publisher's acks). Ends when its [`DispatchSub`] drops.
//! 4. [`Connection::on_disconnect`]: a callback told when a transport ends (its replies will
//!    never come) and when the connection closes. Ends when its [`DisconnectHook`] drops.
//!
//! Callbacks of 3 and 4 run on the connection's threads: they must be cheap and must never
//! block (a short lock of their own layer is fine; publishing is not, it may wait for the
//! write buffer). They are called with no connection lock held, and a panic in one is
//! contained and logged. They must not hold what owns their guard (a `Connection`), so that
//! the last handle is never dropped on a connection thread.

#![cfg_attr(not(feature = "jetstream"), allow(dead_code))]

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::callback::contain;
use crate::connection::shared::Shared;
pub(crate) use crate::connection::table::Delivered;
use crate::connection::table::Dispatch;
use crate::connection::Connection;
use crate::error::{Error, ErrorKind, Result};
use crate::headers::Headers;
use crate::message::Message;
use crate::proto::encode;

impl Connection {
    /// Sends a request with optional headers and waits up to `timeout` for one reply; no
    /// responders fails at once with `ErrorKind::NoResponders`, as for `request_timeout`.
    pub(crate) fn request_with_headers_timeout(
        &self,
        subject: &str,
        headers: Option<&Headers>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Message> {
        self.shared().request(subject, headers, payload, timeout)
    }

    /// The generation of the live transport (it grows with every connection made), or `None`
    /// while disconnected. Two equal values mean no disconnect happened in between.
    pub(crate) fn transport_generation(&self) -> Option<u64> {
        use std::sync::atomic::Ordering;
        let shared = self.shared();
        // The supervisor bumps the generation while down, before sends go through again: a
        // value read on both sides of an up check belongs to the transport that was up.
        let before = shared.generation.load(Ordering::Acquire);
        if shared.outbound.is_down() {
            return None;
        }
        (shared.generation.load(Ordering::Acquire) == before).then_some(before)
    }

    /// Subscribes to `subject` with `f` called on the reader thread with the messages of each
    /// read, in order (and once with the error if the server refuses the subscription).
    /// Replayed on reconnect like any subscription; unsubscribed when the returned guard drops.
    pub(crate) fn subscribe_dispatch(
        &self,
        subject: &str,
        f: impl for<'a> Fn(&mut dyn Iterator<Item = Result<Delivered<'a>>>) + Send + Sync + 'static,
    ) -> Result<DispatchSub> {
        let shared = self.shared();
        let sid = shared.subscribe_dispatch(subject, Dispatch::new(f))?;
        Ok(DispatchSub {
            shared: Arc::downgrade(shared),
            sid,
        })
    }

    /// Registers `f`, called with a [`Disconnected`](crate::ErrorKind::Disconnected) error
    /// when a transport ends (on the supervisor thread, once the transport's reader has
    /// stopped: every message it received was dispatched before), and with a
    /// [`Closed`](crate::ErrorKind::Closed) one when the connection closes. Unregistered when
    /// the returned guard drops.
    pub(crate) fn on_disconnect(
        &self,
        f: impl Fn(&Error) + Send + Sync + 'static,
    ) -> DisconnectHook {
        let shared = self.shared();
        let id = shared.disconnect_hooks.add(Arc::new(f));
        DisconnectHook {
            shared: Arc::downgrade(shared),
            id,
        }
    }
}

impl Shared {
    /// Registers a dispatch subscription and sends SUB (holding the table, as `subscribe`).
    pub(crate) fn subscribe_dispatch(&self, subject: &str, f: Dispatch) -> Result<u64> {
        let (sid, ()) = self.add_subscription(
            subject,
            None,
            |table, sid| table.add_dispatch(sid, subject, f),
            |table, sid| {
                table.remove_dispatch(sid);
            },
        )?;
        Ok(sid)
    }

    /// A transport ended (its reader has stopped): tell the disconnect hooks, with `why`.
    pub(crate) fn transport_ended(&self, why: &Error) {
        let lost = Error::new(ErrorKind::Disconnected, "the connection was lost");
        self.disconnect_hooks.fire(&lost.with_source(why.clone()));
    }

    /// Ends a dispatch subscription (UNSUB if it was still live).
    fn unsubscribe_dispatch(&self, sid: u64) {
        let live = self.table.lock().remove_dispatch(sid);
        if live {
            let _ = self.send_control(|b| encode::unsub(b, sid, None));
        }
    }
}

/// A dispatch subscription: unsubscribes when dropped.
pub(crate) struct DispatchSub {
    shared: Weak<Shared>,
    sid: u64,
}

impl Drop for DispatchSub {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.unsubscribe_dispatch(self.sid);
        }
    }
}

/// A registered disconnect callback: unregistered when dropped.
pub(crate) struct DisconnectHook {
    shared: Weak<Shared>,
    id: u64,
}

impl Drop for DisconnectHook {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.disconnect_hooks.remove(self.id);
        }
    }
}

type Hook = Arc<dyn Fn(&Error) + Send + Sync>;

/// The disconnect callbacks of a connection. Its lock is a leaf, never held while one runs.
#[derive(Default)]
pub(crate) struct DisconnectHooks {
    list: Mutex<HookList>,
}

#[derive(Default)]
struct HookList {
    next_id: u64,
    hooks: Vec<(u64, Hook)>,
}

impl DisconnectHooks {
    fn add(&self, f: Hook) -> u64 {
        let mut l = self.list.lock();
        l.next_id += 1;
        let id = l.next_id;
        l.hooks.push((id, f));
        id
    }

    fn remove(&self, id: u64) {
        self.list.lock().hooks.retain(|(i, _)| *i != id);
    }

    /// Calls every hook with `why`, each with its panic contained; the list is released
    /// first, so a hook may register or drop hooks.
    pub(crate) fn fire(&self, why: &Error) {
        let hooks: Vec<Hook> = {
            let l = self.list.lock();
            if l.hooks.is_empty() {
                return;
            }
            l.hooks.iter().map(|(_, h)| h.clone()).collect()
        };
        for h in hooks {
            let _ = contain("disconnect hook", || {
                h(why);
                Ok(())
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_called_until_removed_and_a_panic_spares_the_others() {
        let hooks = Arc::new(DisconnectHooks::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let a = hooks.add(Arc::new(move |e: &Error| s.lock().push(("a", e.kind()))));
        hooks.add(Arc::new(|_: &Error| panic!("boom")));
        let s = seen.clone();
        let c = hooks.add(Arc::new(move |e: &Error| s.lock().push(("c", e.kind()))));
        hooks.fire(&Error::bare(ErrorKind::Disconnected));
        assert_eq!(
            *seen.lock(),
            [
                ("a", ErrorKind::Disconnected),
                ("c", ErrorKind::Disconnected)
            ]
        );
        hooks.remove(a);
        hooks.remove(c);
        seen.lock().clear();
        hooks.fire(&Error::bare(ErrorKind::Closed));
        assert!(seen.lock().is_empty());
    }

    #[test]
    fn a_hook_may_change_the_hooks_while_they_run() {
        let hooks = Arc::new(DisconnectHooks::default());
        let h = hooks.clone();
        let id = Arc::new(Mutex::new(0));
        let me = id.clone();
        *id.lock() = hooks.add(Arc::new(move |_: &Error| {
            // Removing itself and adding another: no deadlock, and the new one runs next time.
            h.remove(*me.lock());
            h.add(Arc::new(|_: &Error| {}));
        }));
        hooks.fire(&Error::bare(ErrorKind::Disconnected));
        let l = hooks.list.lock();
        assert_eq!(l.hooks.len(), 1);
        assert_ne!(l.hooks[0].0, *id.lock());
    }
}
