//! The server pool: the configured URLs plus the servers the cluster announces, each with its
//! own scheme, so tcp and ws servers can share one pool.

use rand::seq::SliceRandom;
use rand::Rng;

use crate::error::{Error, ErrorKind};
use crate::url::ServerUrl;

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) url: ServerUrl,
    /// Given by the user (never dropped by discovery).
    pub(crate) configured: bool,
    /// Failed attempts since the last successful connect.
    pub(crate) attempts: u32,
    /// The server text of the last authorization error from this server.
    pub(crate) last_auth_error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Pool {
    /// Round robin: the next server to try is at the front.
    entries: Vec<Entry>,
    randomize: bool,
}

/// Why a server was taken out of the pool after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Removed {
    No,
    AttemptsExhausted,
    SameAuthErrorTwice,
}

fn same_server(a: &ServerUrl, b: &ServerUrl) -> bool {
    a.scheme == b.scheme && a.port == b.port && a.host.eq_ignore_ascii_case(&b.host)
}

impl Pool {
    pub(crate) fn new(urls: Vec<ServerUrl>, randomize: bool) -> Pool {
        let mut entries: Vec<Entry> = Vec::new();
        for url in urls {
            if !entries.iter().any(|e| same_server(&e.url, &url)) {
                entries.push(Entry {
                    url,
                    configured: true,
                    attempts: 0,
                    last_auth_error: None,
                });
            }
        }
        if randomize {
            entries.shuffle(&mut rand::rng());
        }
        Pool { entries, randomize }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn urls(&self) -> impl Iterator<Item = &ServerUrl> {
        self.entries.iter().map(|e| &e.url)
    }

    /// The next server to try; it moves to the back of the pool.
    pub(crate) fn next(&mut self) -> Option<ServerUrl> {
        if self.entries.is_empty() {
            return None;
        }
        self.entries.rotate_left(1);
        self.entries.last().map(|e| e.url.clone())
    }

    fn find(&mut self, url: &ServerUrl) -> Option<usize> {
        self.entries.iter().position(|e| same_server(&e.url, url))
    }

    /// A successful connect resets the server's attempt count and auth memory.
    pub(crate) fn connected(&mut self, url: &ServerUrl) {
        if let Some(i) = self.find(url) {
            self.entries[i].attempts = 0;
            self.entries[i].last_auth_error = None;
        }
    }

    /// Records a failed attempt; takes the server out after `max` attempts (`None`: never) or
    /// after the same authorization error twice in a row.
    pub(crate) fn failed(&mut self, url: &ServerUrl, err: &Error, max: Option<u32>) -> Removed {
        let Some(i) = self.find(url) else {
            return Removed::No;
        };
        let e = &mut self.entries[i];
        e.attempts += 1;
        let auth = matches!(
            err.kind(),
            ErrorKind::Authorization | ErrorKind::AuthenticationExpired
        );
        let text = err.server_text().map(str::to_string);
        let repeated = auth && text.is_some() && e.last_auth_error == text;
        e.last_auth_error = if auth { text } else { None };
        let removed = if repeated {
            Removed::SameAuthErrorTwice
        } else if max.is_some_and(|m| e.attempts >= m) {
            Removed::AttemptsExhausted
        } else {
            Removed::No
        };
        if removed != Removed::No {
            self.entries.remove(i);
        }
        removed
    }

    /// Takes the servers announced in INFO `connect_urls` (`host:port`) into the pool with the
    /// scheme, WebSocket path and credentials of `current`; drops announced servers that are
    /// no longer announced (never configured ones, never `current`). Returns (added, removed)
    /// as display strings.
    pub(crate) fn update(
        &mut self,
        connect_urls: &[String],
        current: &ServerUrl,
    ) -> (Vec<String>, Vec<String>) {
        let mut announced = Vec::new();
        for hp in connect_urls {
            match ServerUrl::parse(&format!("{}://{}", current.scheme.as_str(), hp.trim())) {
                Ok(mut u) => {
                    u.path = current.path.clone();
                    u.user = current.user.clone();
                    u.pass = current.pass.clone();
                    if current.scheme.is_tls()
                        && u.host.parse::<std::net::IpAddr>().is_ok()
                        && current.host.parse::<std::net::IpAddr>().is_err()
                    {
                        // Verify a bare IP against the name we were configured with.
                        u.tls_name = Some(current.tls_name().to_string());
                    }
                    announced.push(u);
                }
                Err(e) => log::debug!("ignoring announced server '{hp}': {e}"),
            }
        }
        let mut removed = Vec::new();
        self.entries.retain(|e| {
            let keep = e.configured
                || same_server(&e.url, current)
                || announced.iter().any(|a| same_server(a, &e.url));
            if !keep {
                removed.push(e.url.to_string());
            }
            keep
        });
        let mut added = Vec::new();
        for u in announced {
            if self.find(&u).is_none() {
                added.push(u.to_string());
                let entry = Entry {
                    url: u,
                    configured: false,
                    attempts: 0,
                    last_auth_error: None,
                };
                if self.randomize {
                    let at = rand::rng().random_range(0..=self.entries.len());
                    self.entries.insert(at, entry);
                } else {
                    self.entries.push(entry);
                }
            }
        }
        (added, removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(list: &str) -> Vec<ServerUrl> {
        ServerUrl::parse_list(list).unwrap()
    }

    #[test]
    fn round_robin_in_order_without_randomize() {
        let mut p = Pool::new(urls("nats://a:1,ws://b:2,nats://a:1,wss://c"), false);
        assert_eq!(p.len(), 3, "duplicates collapse");
        let got: Vec<String> = (0..5).map(|_| p.next().unwrap().to_string()).collect();
        assert_eq!(
            got,
            [
                "nats://a:1",
                "ws://b:2",
                "wss://c:443",
                "nats://a:1",
                "ws://b:2"
            ]
        );
    }

    #[test]
    fn randomize_keeps_every_server() {
        let mut p = Pool::new(urls("a:1,a:2,a:3,a:4,a:5"), true);
        let mut seen: Vec<u16> = (0..5).map(|_| p.next().unwrap().port).collect();
        seen.sort();
        assert_eq!(seen, [1, 2, 3, 4, 5]);
    }

    #[test]
    fn attempts_and_auth_errors_remove_servers() {
        let mut p = Pool::new(urls("a:1,a:2"), false);
        let a1 = ServerUrl::parse("a:1").unwrap();
        let a2 = ServerUrl::parse("a:2").unwrap();
        let refused = Error::bare(ErrorKind::Io);
        assert_eq!(p.failed(&a1, &refused, Some(2)), Removed::No);
        p.connected(&a1);
        assert_eq!(p.failed(&a1, &refused, Some(2)), Removed::No);
        assert_eq!(p.failed(&a1, &refused, Some(2)), Removed::AttemptsExhausted);
        assert_eq!(p.len(), 1);
        let auth =
            Error::bare(ErrorKind::Authorization).with_server_text("Authorization Violation");
        assert_eq!(p.failed(&a2, &auth, None), Removed::No);
        assert_eq!(p.failed(&a2, &refused, None), Removed::No);
        assert_eq!(
            p.failed(&a2, &auth, None),
            Removed::No,
            "not twice in a row"
        );
        assert_eq!(p.failed(&a2, &auth, None), Removed::SameAuthErrorTwice);
        assert_eq!(p.len(), 0);
        assert!(p.next().is_none());
    }

    #[test]
    fn discovery_takes_the_current_scheme_and_drops_vanished_servers() {
        let mut p = Pool::new(urls("wss://seed.example:8443/nats?x=1"), false);
        let current = ServerUrl::parse("wss://u:pw@seed.example:8443/nats?x=1").unwrap();
        let (added, removed) = p.update(&["10.0.0.2:8443".into(), "node3:8443".into()], &current);
        assert_eq!(
            added,
            ["wss://10.0.0.2:8443/nats?x=1", "wss://node3:8443/nats?x=1"]
        );
        assert!(removed.is_empty());
        let ip = p.urls().find(|u| u.host == "10.0.0.2").unwrap().clone();
        assert_eq!(ip.tls_name(), "seed.example");
        assert_eq!(ip.user.as_deref(), Some("u"));
        let named = p.urls().find(|u| u.host == "node3").unwrap();
        assert_eq!(named.tls_name(), "node3");
        // node3 disappears; the configured seed stays even though it is not announced.
        let (added, removed) = p.update(&["10.0.0.2:8443".into()], &current);
        assert!(added.is_empty());
        assert_eq!(removed, ["wss://node3:8443/nats?x=1"]);
        assert_eq!(p.len(), 2);
    }
}
