//! Built without the `tls` feature: no TLS at all. What would need it is refused with an error
//! that names the feature, never attempted: `tls://` and `wss://` URLs (see
//! `url::parse_servers`), [`Options::require_tls`] and [`Options::tls_first`] fail `connect`
//! with [`ErrorKind::InvalidOption`]; a server whose INFO demands TLS fails that attempt with
//! [`ErrorKind::Tls`].

use std::net::TcpStream;
use std::time::Instant;

use super::{Kick, ReadHalf, WriteHalf};
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::url::ServerUrl;

/// What the error messages say about the missing feature.
pub(crate) const MISSING: &str = "this build of natsws has no TLS (cargo feature `tls`)";

/// No TLS configuration to carry; building one checks the options ask for no TLS.
#[derive(Clone)]
pub(crate) struct TlsSetup;

impl TlsSetup {
    pub(crate) fn from_options(opts: &Options) -> Result<TlsSetup> {
        let asked = if opts.require_tls {
            "require_tls"
        } else if opts.tls_first {
            "tls_first"
        } else {
            return Ok(TlsSetup);
        };
        Err(Error::new(
            ErrorKind::InvalidOption,
            format!("the option {asked} needs TLS, but {MISSING}"),
        ))
    }
}

/// What the certificate options store; without TLS they are not used.
pub(crate) type WithPem = fn(&Options) -> Result<()>;

/// Never called: without TLS the certificate options are not used.
pub(crate) fn with_pem(_opts: &Options) -> Result<()> {
    Ok(())
}

/// Always an error: reached only when a server's INFO says it requires TLS.
pub(crate) fn client(
    _sock: TcpStream,
    url: &ServerUrl,
    _setup: &TlsSetup,
    _deadline: Instant,
    _kick: Kick,
) -> Result<(Box<dyn ReadHalf>, Box<dyn WriteHalf>)> {
    Err(Error::new(
        ErrorKind::Tls,
        format!("the server at {url} requires TLS, but {MISSING}"),
    ))
}
