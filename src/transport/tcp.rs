//! Plain TCP: connect within a deadline, TCP_NODELAY, split by cloning the socket.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::{ReadHalf, WriteHalf};
use crate::error::{Error, ErrorKind, Result};
use crate::url::ServerUrl;

/// Resolves the host and tries each address until one connects or the deadline passes.
pub(crate) fn connect(url: &ServerUrl, deadline: Instant) -> Result<TcpStream> {
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving {}", url.host_port()), e))?
        .collect();
    if addrs.is_empty() {
        return Err(Error::new(
            ErrorKind::Io,
            format!("{} resolved to no address", url.host),
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

pub(crate) struct TcpRead(TcpStream);
pub(crate) struct TcpWrite(TcpStream);

pub(crate) fn split(sock: TcpStream) -> Result<(TcpRead, TcpWrite)> {
    let w = sock
        .try_clone()
        .map_err(|e| Error::io("cloning the socket", e))?;
    Ok((TcpRead(sock), TcpWrite(w)))
}

impl TcpRead {
    pub(crate) fn into_inner(self) -> TcpStream {
        self.0
    }
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
        while *sent < data.len() {
            match self.0.write(&data[*sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => *sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    fn close(&mut self) {}
}
