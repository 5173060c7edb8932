//! Plain TCP: connect within a deadline, TCP_NODELAY, split by cloning the socket.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{ReadHalf, WriteHalf};
use crate::error::{Error, ErrorKind, Result};
use crate::url::ServerUrl;

/// Resolves the URL's host and tries each address until one connects or the deadline passes.
pub(crate) fn connect(url: &ServerUrl, deadline: Instant) -> Result<TcpStream> {
    connect_to(&url.host, url.port, deadline)
}

/// Resolves `host` and tries each address until one connects or the deadline passes.
pub(crate) fn connect_to(host: &str, port: u16, deadline: Instant) -> Result<TcpStream> {
    let addrs = resolve(host, port, deadline)?;
    if addrs.is_empty() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("{host} resolved to no address"),
        ));
    }
    let mut last = None;
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
                return Ok(s);
            }
            Err(e) => last = Some(Error::io(format!("connecting to {addr}"), e)),
        }
    }
    Err(last.unwrap_or_else(|| Error::bare(ErrorKind::Io)))
}

/// Resolves `host` within `deadline`. An IP address needs no lookup; a name is looked up on a
/// helper thread (the system resolver has no timeout of its own), which is left to finish on
/// its own if the deadline passes first.
fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = crossbeam_channel::bounded(1);
    let name = host.to_string();
    std::thread::Builder::new()
        .name("natsws-resolve".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect),
            );
        })
        .map_err(|e| Error::io("starting the resolver thread", e))?;
    match rx.recv_deadline(deadline) {
        Ok(r) => r.map_err(|e: io::Error| Error::io(format!("resolving {host}:{port}"), e)),
        Err(_) => Err(Error::new(
            ErrorKind::Timeout,
            format!("resolving {host} did not finish within the connect deadline"),
        )),
    }
}

/// Time left until `deadline`, or a Timeout error when it has passed.
pub(crate) fn remaining(deadline: Instant) -> Result<Duration> {
    let now = Instant::now();
    if now >= deadline {
        return Err(Error::new(ErrorKind::Timeout, "connect deadline passed"));
    }
    Ok(deadline - now)
}

/// Sets read and write timeouts to the time left before `deadline` (`None`: no timeout).
pub(crate) fn set_deadline(sock: &TcpStream, deadline: Option<Instant>) -> Result<()> {
    let t = match deadline {
        Some(d) => Some(remaining(d)?),
        None => None,
    };
    sock.set_read_timeout(t)
        .and_then(|_| sock.set_write_timeout(t))
        .map_err(|e| Error::io("setting socket timeouts", e))
}

/// Once the handshake is over: reads block without limit (the supervisor's stale check and
/// shutdowns end them), writes wake every [`WRITE_SLICE`] to check their deadline.
pub(crate) fn set_serving(sock: &TcpStream) -> Result<()> {
    sock.set_read_timeout(None)
        .and_then(|_| sock.set_write_timeout(Some(WRITE_SLICE)))
        .map_err(|e| Error::io("setting socket timeouts", e))
}

pub(crate) struct TcpRead(TcpStream);
pub(crate) struct TcpWrite(SocketWriter);

/// How long one blocking write to the socket may wait before it returns to check its
/// deadline. Set as the socket's send timeout once the handshake is over, so a writer
/// waiting on a peer that stopped reading wakes this often (and only then), and a write with
/// a deadline never blocks much past it.
pub(crate) const WRITE_SLICE: Duration = Duration::from_millis(5);

/// Writes to a socket, with an optional deadline: bytes the socket has not taken by then are
/// kept here, in order, and go out first at the next write. Whoever writes with a deadline
/// (a request written by the calling thread) thus never waits for a peer that stopped
/// reading; the writer thread, which writes without one, sends the rest.
pub(crate) struct SocketWriter {
    sock: TcpStream,
    pending: Vec<u8>,
    deadline: Option<Instant>,
}

impl SocketWriter {
    pub(crate) fn new(sock: TcpStream) -> SocketWriter {
        SocketWriter {
            sock,
            pending: Vec::new(),
            deadline: None,
        }
    }

    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sends what is pending, then `data`; with a deadline, what the socket does not take by
    /// then stays pending (and counts as written). `data` may be empty: only the pending bytes
    /// go out then.
    pub(crate) fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let done = self.send(&pending)?;
            self.pending = pending;
            self.pending.drain(..done);
            if !self.pending.is_empty() {
                self.pending.extend_from_slice(data);
                return Ok(());
            }
        }
        let done = self.send(data)?;
        if done < data.len() {
            self.pending.extend_from_slice(&data[done..]);
        }
        Ok(())
    }

    /// Writes until all of `data` is sent or the deadline passes; returns how much was sent.
    fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        while done < data.len() {
            match self.sock.write(&data[done..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    if self.deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}

pub(crate) fn split(sock: TcpStream) -> Result<(TcpRead, TcpWrite)> {
    let w = sock
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    Ok((TcpRead(sock), TcpWrite(SocketWriter::new(w))))
}

impl ReadHalf for TcpRead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.0.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl WriteHalf for TcpWrite {
    fn write_tracked(&mut self, data: &[u8], sent: &mut usize) -> io::Result<()> {
        *sent = 0;
        self.0.write_all(data)?;
        *sent = data.len();
        Ok(())
    }

    fn set_write_deadline(&mut self, deadline: Option<Instant>) {
        self.0.set_deadline(deadline);
    }

    fn has_pending(&self) -> bool {
        self.0.has_pending()
    }

    fn close(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A writer with a deadline never waits for a peer that stopped reading: what the socket
    /// does not take stays pending, and goes out, in order, at the next write without one.
    #[test]
    fn a_deadline_keeps_what_a_stalled_peer_does_not_take() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        set_serving(&client).unwrap();
        let mut w = SocketWriter::new(client);
        let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
        let mut written = 0usize;
        // The peer reads nothing: within a bounded number of chunks the kernel's buffers fill
        // and the rest becomes pending.
        for _ in 0..4096 {
            w.set_deadline(Some(Instant::now()));
            let start = Instant::now();
            w.write_all(&chunk).unwrap();
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "a write with a deadline blocked"
            );
            written += chunk.len();
            if w.has_pending() {
                break;
            }
        }
        assert!(
            w.has_pending(),
            "256 MiB were taken by a peer that reads nothing"
        );
        // The peer reads everything while the writer, without a deadline, sends the rest.
        let reader = std::thread::spawn(move || {
            let mut got = Vec::with_capacity(written);
            let mut buf = vec![0u8; 256 * 1024];
            while got.len() < written {
                let n = peer.read(&mut buf).unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        w.set_deadline(None);
        w.write_all(&[]).unwrap();
        assert!(!w.has_pending());
        let got = reader.join().unwrap();
        assert_eq!(got.len(), written);
        for (i, c) in got.chunks(chunk.len()).enumerate() {
            assert_eq!(c, &chunk[..], "chunk {i} out of order or corrupt");
        }
    }
}
