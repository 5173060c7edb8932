//! The nine discovery subscriptions (`$SRV.<VERB>`, `$SRV.<VERB>.<name>`,
//! `$SRV.<VERB>.<name>.<id>` for PING, INFO and STATS), all served by one thread.

use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Select};

use super::core::{Core, Discovery};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::subscription::{drain_all, Subscription};

/// The root of the discovery subjects.
pub const API_PREFIX: &str = "$SRV";

#[derive(Clone, Copy, Debug)]
pub(crate) enum Verb {
    Ping,
    Info,
    Stats,
}

impl Verb {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Verb::Ping => "PING",
            Verb::Info => "INFO",
            Verb::Stats => "STATS",
        }
    }
}

/// `$SRV.<VERB>[.<name>[.<id>]]`.
pub(crate) fn subject(verb: Verb, name: Option<&str>, id: Option<&str>) -> String {
    let mut s = format!("{API_PREFIX}.{}", verb.as_str());
    if let Some(n) = name {
        s.push('.');
        s.push_str(n);
        if let Some(i) = id {
            s.push('.');
            s.push_str(i);
        }
    }
    s
}

/// Subscribes the nine subjects (flushed: the server has them when this returns) and starts
/// the thread that answers them. On error nothing stays subscribed.
pub(crate) fn start(core: &Arc<Core>) -> Result<()> {
    let mut subs = Vec::with_capacity(9);
    for verb in [Verb::Ping, Verb::Info, Verb::Stats] {
        for subj in [
            subject(verb, None, None),
            subject(verb, Some(&core.name), None),
            subject(verb, Some(&core.name), Some(&core.id)),
        ] {
            subs.push((verb, core.nc.subscribe(&subj)?));
        }
    }
    core.nc.flush()?;
    let (stop_tx, stop_rx) = crossbeam_channel::bounded(1);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<()>(0);
    let thread_core = core.clone();
    let handle = std::thread::Builder::new()
        .name(format!("natsws-svc-{}-discovery", core.name))
        .spawn(move || {
            if let Some(deadline) = serve(&thread_core, &subs, &stop_rx) {
                // Stopped: drain all nine (one round trip; the server has forgotten them when
                // stop returns) and answer what was already sent to them.
                let all: Vec<&Subscription> = subs.iter().map(|(_, s)| s).collect();
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = drain_all(&all, left);
                let ping = serde_json::to_vec(&thread_core.ping()).unwrap_or_default();
                for (verb, sub) in &subs {
                    while let Some(msg) = sub.try_next() {
                        answer(&thread_core, *verb, &msg, &ping);
                    }
                }
            }
            drop(subs); // unsubscribes what is left (the connection closed)
            drop(thread_core);
            drop(done_tx);
        })
        .map_err(|e| Error::io("starting a service's discovery thread", e))?;
    core.set_discovery(Discovery {
        stop: stop_tx,
        done: done_rx,
        thread: handle.thread().id(),
    });
    Ok(())
}

/// Answers discovery requests until stopped (returns stop's deadline) or until every
/// subscription has ended (the connection closed).
fn serve(core: &Core, subs: &[(Verb, Subscription)], stop: &Receiver<Instant>) -> Option<Instant> {
    let mut sel = Select::new();
    let stop_index = sel.recv(stop);
    let indexes: Vec<usize> = subs.iter().map(|(_, s)| sel.recv(s.receiver())).collect();
    let mut live = subs.len();
    let ping = serde_json::to_vec(&core.ping()).unwrap_or_default();
    while live > 0 {
        let op = sel.select();
        let index = op.index();
        if index == stop_index {
            return op.recv(stop).ok();
        }
        let Some(i) = indexes.iter().position(|&x| x == index) else {
            // Not ours: cannot happen, but never spin on it.
            sel.remove(index);
            continue;
        };
        let (verb, sub) = &subs[i];
        match sub.accept(op.recv(sub.receiver())) {
            Some(msg) => {
                answer(core, *verb, &msg, &ping);
                // The rest of what came with it (messages arrive in batches per read).
                for msg in sub.try_iter() {
                    answer(core, *verb, &msg, &ping);
                }
            }
            None => {
                sel.remove(index);
                live -= 1;
            }
        }
    }
    None
}

fn answer(core: &Core, verb: Verb, msg: &Message, ping: &[u8]) {
    let body = match verb {
        Verb::Ping => Ok(ping.to_vec()),
        Verb::Info => serde_json::to_vec(&core.info()),
        Verb::Stats => serde_json::to_vec(&core.stats()),
    };
    let sent = match body {
        Ok(b) => msg.respond(b),
        Err(e) => {
            let mut h = crate::Headers::new();
            h.insert(
                super::ERROR_HEADER,
                format!("Error handling {} request: {e}", verb.as_str()),
            );
            h.insert(super::ERROR_CODE_HEADER, "500");
            msg.respond_with_headers(&h, b"")
        }
    };
    if let Err(e) = sent {
        log::debug!(
            "service '{}': answering {} on {}: {e}",
            core.name,
            verb.as_str(),
            msg.subject
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects() {
        assert_eq!(subject(Verb::Ping, None, None), "$SRV.PING");
        assert_eq!(subject(Verb::Info, Some("svc"), None), "$SRV.INFO.svc");
        assert_eq!(
            subject(Verb::Stats, Some("svc"), Some("ID")),
            "$SRV.STATS.svc.ID"
        );
    }
}
