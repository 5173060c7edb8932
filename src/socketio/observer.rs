//! [`Observer`]: a subscription to the broadcasts socket.io servers exchange, decoded.

use std::time::Duration;

use super::decode::Broadcast;
use super::options::{Dialect, EmitterOptions};
use crate::{Connection, Error, ErrorKind, Result, Subscription};

/// Receives the broadcasts socket.io servers publish through their NATS adapter (and those
/// of emitters), decoded into [`Broadcast`]s: to watch, log or bridge socket.io traffic.
///
/// [`new`](Observer::new) subscribes to `<key>.>`, every namespace and room subject of the
/// adapter. Each message yields one item; a message that is not a broadcast of the dialect
/// yields an [`ErrorKind::Protocol`] error naming its subject, and the observer goes on.
///
/// ```no_run
/// use std::time::Duration;
/// use natsws::socketio::{Dialect, EmitterOptions, Observer};
///
/// # fn main() -> natsws::Result<()> {
/// let nc = natsws::connect("nats://127.0.0.1:4222")?;
/// let watch = Observer::new(&nc, &EmitterOptions::new(Dialect::Mickl))?;
/// let b = watch.next_timeout(Duration::from_secs(5))?;
/// println!("{} {:?} to {:?} in {}", b.event, b.args, b.rooms, b.namespace);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Observer {
    sub: Subscription,
    dialect: Dialect,
}

impl Observer {
    /// Subscribes to all of the adapter's subjects, `<key>.>`.
    ///
    /// That wildcard needs the delimiter `.`; with another delimiter, use
    /// [`with_subject`](Observer::with_subject) (this fails with [`ErrorKind::InvalidOption`]).
    pub fn new(nc: &Connection, options: &EmitterOptions) -> Result<Observer> {
        options.validate()?;
        if options.delimiter != "." {
            return Err(Error::new(
                ErrorKind::InvalidOption,
                format!(
                    "socket.io observer: no wildcard covers the delimiter {:?}; use Observer::with_subject",
                    options.delimiter
                ),
            ));
        }
        Observer::with_subject(nc, options.dialect, &format!("{}.>", options.key))
    }

    /// Subscribes to `subject` (wildcards allowed), decoding as `dialect`.
    pub fn with_subject(nc: &Connection, dialect: Dialect, subject: &str) -> Result<Observer> {
        Ok(Observer {
            sub: nc.subscribe(subject)?,
            dialect,
        })
    }

    /// Waits up to `timeout` for the next broadcast. Errors: those of
    /// [`Subscription::next_timeout`], and [`ErrorKind::Protocol`] for a message that does
    /// not decode.
    pub fn next_timeout(&self, timeout: Duration) -> Result<Broadcast> {
        let msg = self.sub.next_timeout(timeout)?;
        Broadcast::from_message(self.dialect, &msg)
    }

    /// The next broadcast if a message is queued, without waiting.
    pub fn try_next(&self) -> Option<Result<Broadcast>> {
        let msg = self.sub.try_next()?;
        Some(Broadcast::from_message(self.dialect, &msg))
    }

    /// The subscription underneath (its subject, counters, `unsubscribe`...).
    pub fn subscription(&self) -> &Subscription {
        &self.sub
    }

    /// Ends the observer, unsubscribing.
    pub fn unsubscribe(self) -> Result<()> {
        self.sub.unsubscribe()
    }
}

/// Blocks for each broadcast; ends when the subscription ends.
impl Iterator for Observer {
    type Item = Result<Broadcast>;

    fn next(&mut self) -> Option<Result<Broadcast>> {
        let msg = self.sub.iter().next()?;
        Some(Broadcast::from_message(self.dialect, &msg))
    }
}
