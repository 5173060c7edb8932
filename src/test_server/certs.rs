//! Certificates for the test server, made fresh at every start (nothing checked in, nothing
//! that expires in the repository): a CA, a server certificate and a client certificate
//! signed by it.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::io_error;
use crate::{Error, ErrorKind, Result};

const CA_NAME: &str = "natsws test CA";

/// Where a server's certificates are, and the PEMs a client needs.
pub(super) struct TlsFiles {
    pub(super) ca_pem: String,
    pub(super) ca_path: PathBuf,
    pub(super) cert_path: PathBuf,
    pub(super) key_path: PathBuf,
    pub(super) client_cert_pem: String,
    pub(super) client_key_pem: String,
    pub(super) client_cert_path: PathBuf,
    pub(super) client_key_path: PathBuf,
}

fn tls_err(e: rcgen::Error) -> Error {
    Error::new(
        ErrorKind::Tls,
        format!("test server: cannot generate certificates: {e}"),
    )
    .with_source(e)
}

/// Makes `params` valid from yesterday for 30 days.
fn set_validity(params: &mut CertificateParams) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let day = |offset: i64| {
        let (y, m, d) = civil_from_days((now / 86_400) as i64 + offset);
        rcgen::date_time_ymd(y, m, d)
    };
    params.not_before = day(-1);
    params.not_after = day(30);
}

/// The parameters of a test CA; also what an issuer made from an existing CA key needs.
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params);
    Ok(params)
}

/// A new test CA (common name `natsws test CA`, valid from yesterday for 30 days):
/// `(certificate PEM, private key PEM)`, for [`Builder::ca`](super::Builder::ca).
pub fn generate_ca() -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = ca_params()?.self_signed(&key).map_err(tls_err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A server certificate for `names` and a client certificate, both signed by `ca`
/// (`(cert PEM, key PEM)` from [`generate_ca`]) or by a new CA, written into `dir`.
pub(super) fn generate_tls(
    dir: &Path,
    names: &[String],
    ca: Option<(&str, &str)>,
) -> Result<TlsFiles> {
    let (ca_pem, ca_key) = match ca {
        Some((cert, key)) => (cert.to_owned(), key.to_owned()),
        None => generate_ca()?,
    };
    let issuer = Issuer::new(ca_params()?, KeyPair::from_pem(&ca_key).map_err(tls_err)?);

    let mut params = CertificateParams::new(names.to_vec()).map_err(tls_err)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params);
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = params.signed_by(&key, &issuer).map_err(tls_err)?;

    let mut client_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "natsws test client");
    client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client_params.use_authority_key_identifier_extension = true;
    set_validity(&mut client_params);
    let client_key = KeyPair::generate().map_err(tls_err)?;
    let client_cert = client_params
        .signed_by(&client_key, &issuer)
        .map_err(tls_err)?;

    let files = TlsFiles {
        ca_pem,
        ca_path: dir.join("ca.pem"),
        cert_path: dir.join("server-cert.pem"),
        key_path: dir.join("server-key.pem"),
        client_cert_pem: client_cert.pem(),
        client_key_pem: client_key.serialize_pem(),
        client_cert_path: dir.join("client-cert.pem"),
        client_key_path: dir.join("client-key.pem"),
    };
    let write = |path: &Path, text: &str| {
        fs::write(path, text).map_err(|e| io_error(&format!("write {}", path.display()), e))
    };
    write(&files.ca_path, &files.ca_pem)?;
    write(&files.cert_path, &cert.pem())?;
    write(&files.key_path, &key.serialize_pem())?;
    write(&files.client_cert_path, &files.client_cert_pem)?;
    write(&files.client_key_path, &files.client_key_pem)?;
    Ok(files)
}

/// (year, month, day) of a day number counted from 1970-01-01 (proleptic Gregorian calendar).
pub(super) fn civil_from_days(days: i64) -> (i32, u8, u8) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of a 400-year era's years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..146096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of (March-based) year, 0..365
    let mp = (5 * doy + 2) / 153; // March-based month, 0..11
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}
