//! `--web-config FILE`: TLS, client certificates, basic authentication, response headers and a
//! rate limit, in the file format of the Prometheus exporter-toolkit:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt              # or `cert:` with the PEM text
//!   key_file: server.key               # or `key:`
//!   client_auth_type: RequireAndVerifyClientCert
//!   client_ca_file: clients-ca.crt     # or `client_ca:`
//!   min_version: TLS12                 # TLS12 (default) or TLS13
//!   max_version: TLS13                 # TLS12 or TLS13 (default)
//!   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]   # TLS 1.2 suites, Go's names
//!   curve_preferences: [X25519, CurveP256]
//!   prefer_server_cipher_suites: true  # default true
//! http_server_config:
//!   http2: false                       # only HTTP/1.1 is served: `true` is refused
//!   headers:
//!     Strict-Transport-Security: max-age=31536000
//! rate_limit:
//!   burst: 10
//!   interval: 1s
//! basic_auth_users:
//!   prometheus: $2y$10$...             # bcrypt hash
//! ```
//!
//! Every key is either implemented as exporter-toolkit does or refused at start-up with an error
//! that names it; nothing is accepted and ignored. Refused: TLS10 and TLS11 (rustls speaks TLS
//! 1.2 and 1.3), CurveP521, `client_allowed_sans`, `http2: true`. Relative paths are relative to
//! the file's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hyper::header::{HeaderName, HeaderValue};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{ring as provider, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde::Deserialize;

use super::auth::{BasicAuth, RateLimit};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    rate_limit: Option<RawRateLimit>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    client_ca: Option<String>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    #[serde(default)]
    cipher_suites: Vec<String>,
    #[serde(default)]
    curve_preferences: Vec<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    client_allowed_sans: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    burst: u32,
    interval: String,
}

/// The loaded web configuration.
#[derive(Clone, Default)]
pub struct WebConfig {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Added to every response (`http_server_config.headers`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `rate_limit`: requests beyond it are answered 429.
    pub rate_limit: Option<Arc<RateLimit>>,
    /// `basic_auth_users`, when there are any.
    pub auth: Option<Arc<BasicAuth>>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("headers", &self.headers)
            .field("rate_limit", &self.rate_limit.is_some())
            .field("auth", &self.auth.is_some())
            .finish()
    }
}

/// The response headers exporter-toolkit lets a configuration set, with the values it allows
/// (empty: any value).
const CONFIGURABLE_HEADERS: &[(&str, &[&str])] = &[
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl WebConfig {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let at = |e: String| format!("{}: {e}", path.display());
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_norway::from_str(&text).map_err(|e| at(e.to_string()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let tls = match raw.tls_server_config {
            Some(t) => Some(Arc::new(load_tls(base, t).map_err(at)?)),
            None => None,
        };
        let http = raw.http_server_config.unwrap_or_default();
        if http.http2 == Some(true) {
            return Err(at("http_server_config.http2: true is not supported: this exporter serves \
                 HTTP/1.1 only (remove the key or set it to false)"
                .into()));
        }
        let headers = response_headers(&http.headers).map_err(at)?;
        let rate_limit = match raw.rate_limit {
            Some(r) => Some(Arc::new(rate_limit(&r).map_err(at)?)),
            None => None,
        };
        let auth = if raw.basic_auth_users.is_empty() {
            None
        } else {
            Some(Arc::new(BasicAuth::new(raw.basic_auth_users).map_err(at)?))
        };
        Ok(Self { tls, headers, rate_limit, auth })
    }
}

fn response_headers(headers: &BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let Some((_, allowed)) = CONFIGURABLE_HEADERS.iter().find(|(n, _)| n == name) else {
            let names: Vec<&str> = CONFIGURABLE_HEADERS.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "http_server_config.headers.{name}: this header cannot be configured (allowed: {})",
                names.join(", ")
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
            return Err(format!(
                "http_server_config.headers.{name}: {value:?} is not one of {}",
                allowed.join(", ")
            ));
        }
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| format!("http_server_config.headers.{name}: not a valid header value"))?;
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("http_server_config.headers.{name}: not a valid header name"))?;
        out.push((header_name, header_value));
    }
    Ok(out)
}

fn rate_limit(raw: &RawRateLimit) -> Result<RateLimit, String> {
    // Go's duration syntax (`1h`, `1m30s`, `250ms`).
    let interval = humantime::parse_duration(&raw.interval)
        .map_err(|e| format!("rate_limit.interval: {:?} is not a duration: {e}", raw.interval))?;
    if interval.is_zero() {
        return Err("rate_limit.interval: must be above 0".into());
    }
    if raw.burst == 0 {
        return Err("rate_limit.burst: must be at least 1".into());
    }
    Ok(RateLimit::new(raw.burst, interval))
}

/// A PEM source: inline text (`cert:`) or a file (`cert_file:`), exactly one of them.
fn pem_source(
    base: &Path,
    inline: Option<String>,
    file: Option<PathBuf>,
    names: (&str, &str),
) -> Result<Option<(String, Vec<u8>)>, String> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(format!("tls_server_config: give {} or {}, not both", names.0, names.1)),
        (Some(text), None) => Ok(Some((format!("tls_server_config.{}", names.0), text.into_bytes()))),
        (None, Some(file)) => {
            let path = base.join(file);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("tls_server_config.{}: cannot read {}: {e}", names.1, path.display()))?;
            Ok(Some((format!("tls_server_config.{} {}", names.1, path.display()), bytes)))
        }
        (None, None) => Ok(None),
    }
}

fn certificates(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<_> =
        CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().map_err(|e| format!("{what}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what}: no certificate found"));
    }
    Ok(certs)
}

/// How the server asks for client certificates (Go's `tls.ClientAuthType` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    fn parse(text: Option<&str>) -> Result<Self, String> {
        Ok(match text {
            None | Some("") | Some("NoClientCert") => Self::NoClientCert,
            Some("RequestClientCert") => Self::RequestClientCert,
            // exporter-toolkit keeps the old name `RequireClientCert` as an alias.
            Some("RequireAnyClientCert") | Some("RequireClientCert") => Self::RequireAnyClientCert,
            Some("VerifyClientCertIfGiven") => Self::VerifyClientCertIfGiven,
            Some("RequireAndVerifyClientCert") => Self::RequireAndVerifyClientCert,
            Some(other) => {
                return Err(format!(
                    "tls_server_config.client_auth_type: unknown {other:?} (NoClientCert, \
                     RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, \
                     RequireAndVerifyClientCert)"
                ))
            }
        })
    }
}

/// Go's names of the cipher suites this exporter can offer. TLS 1.3 suites are named for
/// compatibility only: as in Go, `cipher_suites` restricts TLS 1.2 and all TLS 1.3 suites stay.
const CIPHER_SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        provider::cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", provider::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", provider::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        provider::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        provider::cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    ("TLS_AES_128_GCM_SHA256", provider::cipher_suite::TLS13_AES_128_GCM_SHA256),
    ("TLS_AES_256_GCM_SHA384", provider::cipher_suite::TLS13_AES_256_GCM_SHA384),
    ("TLS_CHACHA20_POLY1305_SHA256", provider::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256),
];

/// The suites offered, in the server's order of preference (used when
/// `prefer_server_cipher_suites` is true): all TLS 1.3 suites, then the configured TLS 1.2 ones.
fn cipher_suites(names: &[String]) -> Result<Vec<SupportedCipherSuite>, String> {
    let all = provider::ALL_CIPHER_SUITES.to_vec();
    if names.is_empty() {
        return Ok(all);
    }
    let mut tls12 = Vec::new();
    for name in names {
        let suite = CIPHER_SUITES.iter().find(|(n, _)| n == name).map(|(_, s)| *s).ok_or_else(|| {
            let known: Vec<&str> = CIPHER_SUITES.iter().map(|(n, _)| *n).collect();
            format!(
                "tls_server_config.cipher_suites: {name:?} is not a cipher suite this exporter \
                 offers (one of {})",
                known.join(", ")
            )
        })?;
        if matches!(suite, SupportedCipherSuite::Tls12(_)) && !tls12.contains(&suite) {
            tls12.push(suite);
        }
    }
    if tls12.is_empty() {
        return Err("tls_server_config.cipher_suites: names no TLS 1.2 suite (TLS 1.3 suites \
                    cannot be restricted, as in Go)"
            .into());
    }
    let mut suites: Vec<SupportedCipherSuite> =
        all.into_iter().filter(|s| matches!(s, SupportedCipherSuite::Tls13(_))).collect();
    suites.extend(tls12);
    Ok(suites)
}

fn curves(names: &[String]) -> Result<Vec<&'static dyn rustls::crypto::SupportedKxGroup>, String> {
    if names.is_empty() {
        return Ok(provider::DEFAULT_KX_GROUPS.to_vec());
    }
    names
        .iter()
        .map(|name| match name.as_str() {
            "X25519" => Ok(provider::kx_group::X25519),
            "CurveP256" => Ok(provider::kx_group::SECP256R1),
            "CurveP384" => Ok(provider::kx_group::SECP384R1),
            "CurveP521" => Err("tls_server_config.curve_preferences: CurveP521 is not supported by \
                                this exporter (X25519, CurveP256, CurveP384)"
                .to_string()),
            other => Err(format!(
                "tls_server_config.curve_preferences: unknown curve {other:?} (X25519, CurveP256, \
                 CurveP384)"
            )),
        })
        .collect()
}

/// A TLS version key: 12 or 13. TLS 1.0 and 1.1 are refused rather than silently raised.
fn version(key: &str, text: Option<&str>, default: u8) -> Result<u8, String> {
    match text {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(12),
        Some("TLS13") => Ok(13),
        Some(v @ ("TLS10" | "TLS11")) => Err(format!(
            "tls_server_config.{key}: {v} is not supported (this exporter speaks TLS12 and TLS13)"
        )),
        Some(other) => Err(format!("tls_server_config.{key}: unknown TLS version {other:?} (TLS12, TLS13)")),
    }
}

fn load_tls(base: &Path, t: RawTls) -> Result<rustls::ServerConfig, String> {
    if t.client_allowed_sans.is_some() {
        return Err("tls_server_config.client_allowed_sans is not supported by this exporter: \
                    restrict clients with client_ca_file and RequireAndVerifyClientCert"
            .into());
    }
    let (cert_what, cert_pem) = pem_source(base, t.cert, t.cert_file, ("cert", "cert_file"))?
        .ok_or("tls_server_config: missing one of cert or cert_file")?;
    let (key_what, key_pem) = pem_source(base, t.key, t.key_file, ("key", "key_file"))?
        .ok_or("tls_server_config: missing one of key or key_file")?;
    let certs = certificates(&cert_what, &cert_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("{key_what}: {e}"))?;

    let client_auth = ClientAuth::parse(t.client_auth_type.as_deref())?;
    let client_ca = pem_source(base, t.client_ca, t.client_ca_file, ("client_ca", "client_ca_file"))?;
    let prefer_server = t.prefer_server_cipher_suites.unwrap_or(true);
    let min = version("min_version", t.min_version.as_deref(), 12)?;
    let max = version("max_version", t.max_version.as_deref(), 13)?;
    if min > max {
        return Err("tls_server_config: min_version is above max_version".into());
    }
    let versions: &[&rustls::SupportedProtocolVersion] = match (min, max) {
        (12, 12) => &[&rustls::version::TLS12],
        (13, 13) => &[&rustls::version::TLS13],
        _ => &[&rustls::version::TLS13, &rustls::version::TLS12],
    };
    let provider = Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(&t.cipher_suites)?,
        kx_groups: curves(&t.curve_preferences)?,
        ..provider::default_provider()
    });

    let verifier: Arc<dyn ClientCertVerifier> = match (client_auth, client_ca) {
        (ClientAuth::NoClientCert, Some(_)) => {
            return Err("tls_server_config: client CAs are configured without a client_auth_type \
                        that asks for client certificates"
                .into())
        }
        (ClientAuth::NoClientCert, None) => WebPkiClientVerifier::no_client_auth(),
        (ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert, ca) => {
            // Go does not check these certificates against the CAs either; a CA file given
            // anyway must still be readable and valid.
            if let Some((what, pem)) = ca {
                certificates(&what, &pem)?;
            }
            Arc::new(AnyClientCertificate {
                mandatory: client_auth == ClientAuth::RequireAnyClientCert,
                algorithms: provider.signature_verification_algorithms,
            })
        }
        (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert, None) => {
            return Err(format!(
                "tls_server_config.client_auth_type {client_auth:?} needs client_ca_file (or client_ca)"
            ))
        }
        (ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert, Some((what, pem))) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in certificates(&what, &pem)? {
                roots.add(cert).map_err(|e| format!("{what}: {e}"))?;
            }
            let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = if client_auth == ClientAuth::VerifyClientCertIfGiven {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder.build().map_err(|e| format!("{what}: {e}"))?
        }
    };
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| format!("tls_server_config: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| format!("tls_server_config: certificate and key: {e}"))?;
    config.ignore_client_order = prefer_server;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (and, for the
/// second, required) but not checked against any CA, as in Go; the client must still prove it
/// holds the certificate's key (the handshake signature is verified).
#[derive(Debug)]
struct AnyClientCertificate {
    mandatory: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
