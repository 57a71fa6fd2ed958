//! Built-in TLS (`tls_cert`, `tls_key`; `docs/operations.md`): the certificate and key are
//! read from PEM files and can be replaced while the server runs.
//!
//! Every handshake asks [`CertStore`] (a rustls [`ResolvesServerCert`]) for the current
//! [`CertifiedKey`], so a reload changes what *new* connections get and leaves open ones
//! alone: nothing is dropped. [`watch`] reloads on SIGHUP and when either file's
//! modification time or size changes. A reload that fails (a file missing, unparsable, or
//! a key that does not match the certificate, as when only one of the two has been written
//! yet) keeps the certificate in use and logs an error; the next change tries again.

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use tokio_rustls::TlsAcceptor;

/// Why the certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The certificate file cannot be read or holds no PEM certificate.
    #[error("TLS certificate {path}: {why}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key file cannot be read or holds no usable PEM private key.
    #[error("TLS key {path}: {why}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The key is not the certificate's.
    #[error("TLS key {key} does not match the certificate {cert}: {why}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls reported.
        why: String,
    },
}

/// The files a [`CertStore`] loads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// The PEM private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Reads and checks both files: at least one certificate, a key the ring provider can
    /// sign with, and a key that belongs to the first certificate.
    pub fn load(&self) -> Result<CertifiedKey, TlsError> {
        let cert_err = |why: String| TlsError::Cert { path: self.cert.clone(), why };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .map_err(|e| cert_err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| cert_err(e.to_string()))?;
        if certs.is_empty() {
            return Err(cert_err("no PEM certificate (BEGIN CERTIFICATE) in the file".into()));
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| TlsError::Key { path: self.key.clone(), why: e.to_string() })?;
        let signing = provider()
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::Key { path: self.key.clone(), why: e.to_string() })?;
        let certified = CertifiedKey::new(certs, signing);
        match certified.keys_match() {
            // A key whose public half rustls cannot derive is taken on trust, as
            // `CertifiedKey::from_der` does.
            Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                Ok(certified)
            }
            Err(e) => Err(TlsError::Mismatch {
                cert: self.cert.clone(),
                key: self.key.clone(),
                why: e.to_string(),
            }),
        }
    }

    /// Modification time and size of both files, to notice a change; `None` for a file
    /// that cannot be read.
    fn stamp(&self) -> [Option<(SystemTime, u64)>; 2] {
        let one =
            |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
        [one(&self.cert), one(&self.key)]
    }
}

/// The ring provider: the project's one TLS provider.
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The certificate handshakes get, replaceable while connections use the old one.
#[derive(Debug)]
pub struct CertStore {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    /// Loads `files`; fails when they cannot serve.
    pub fn open(files: TlsFiles) -> Result<Self, TlsError> {
        let key = files.load()?;
        Ok(Self { files, current: RwLock::new(Arc::new(key)) })
    }

    /// Reads the files again and, when they are good, hands their certificate to new
    /// handshakes; otherwise keeps the current one and says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = Arc::new(self.files.load()?);
        match self.current.write() {
            Ok(mut current) => *current = key,
            // A writer never panics while holding the lock; should one have, the value
            // is still a whole `Arc` and can be replaced.
            Err(poisoned) => *poisoned.into_inner() = key,
        }
        Ok(())
    }

    /// The certificate in use now (its chain, leaf first).
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The acceptor of the listeners: TLS 1.2 and 1.3, HTTP/1.1 by ALPN, certificates from
    /// this store.
    pub fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Cert { path: self.files.cert.clone(), why: e.to_string() })?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        let mut config = config;
        // HTTP/1.1 only: the listener speaks nothing else.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Reloads `store` on SIGHUP and, every `interval` (none: never), when either file has
/// changed; runs until the process ends. Each outcome is logged: success at `info`, a
/// failure at `error` with the reason, the old certificate still serving.
pub fn watch(store: Arc<CertStore>, interval: Option<Duration>) {
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS files reload on change only");
                None
            }
        };
        let mut seen = store.files.stamp();
        loop {
            #[cfg(unix)]
            let hangup = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup = std::future::pending::<()>();
            let tick = async {
                match interval {
                    Some(every) => tokio::time::sleep(every).await,
                    None => std::future::pending::<()>().await,
                }
            };
            let why = tokio::select! {
                () = hangup => "SIGHUP",
                () = tick => {
                    let now = store.files.stamp();
                    if now == seen {
                        continue;
                    }
                    "the files changed"
                }
            };
            // Recorded before loading, so a bad pair is reported once, not at every tick.
            seen = store.files.stamp();
            match store.reload() {
                Ok(()) => tracing::info!(
                    cert = %store.files.cert.display(),
                    reason = why,
                    "TLS certificate reloaded"
                ),
                Err(e) => tracing::error!(
                    error = %e,
                    reason = why,
                    "TLS certificate reload failed; still serving the previous certificate"
                ),
            }
        }
    });
}
