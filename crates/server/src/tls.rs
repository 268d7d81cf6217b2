//! TLS for the client port (Redis's `tls-*` settings) and mutual TLS between members.
//!
//! - Client port: this node's certificate; a client certificate signed by the CA is
//!   required, optional or not asked for (`tls-auth-clients`).
//! - Peer port (`tls-cluster`): both sides present a certificate signed by the cluster's CA,
//!   and both check the other's. The chain is what proves membership; the name in the
//!   certificate is not checked (members are dialled by IP address and certificates are often
//!   made for host names, as in Redis, which checks no name on its cluster bus either). Which
//!   member a peer is comes next, from its `Hello` (see `peer.rs`).

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::config::{ServerConfig, TlsAuthClients};

/// A stream of bytes both ways, plain or TLS, boxed so one code path serves both.
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}
pub type BoxStream = Box<dyn Stream>;

/// What a node needs to speak TLS on each side it is configured for.
#[derive(Clone, Default)]
pub struct Tls {
    /// The TLS client port's handshake.
    pub clients: Option<TlsAcceptor>,
    /// The peer port's handshake (mutual).
    pub peer_acceptor: Option<TlsAcceptor>,
    /// Dialling members (mutual).
    pub peer_connector: Option<TlsConnector>,
}

impl Tls {
    /// Loads the certificate files the configuration names; `Tls::default()` without TLS.
    pub fn load(config: &ServerConfig) -> Result<Tls, String> {
        let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) else {
            return Ok(Tls::default());
        };
        let chain = certificates(cert)?;
        let key = private_key(key)?;
        let roots = match &config.tls_ca_cert_file {
            Some(path) => Some(Arc::new(root_store(path)?)),
            None => None,
        };
        // ring builds with a C compiler alone (aws-lc-rs wants cmake); its lack of
        // post-quantum key exchange is what the deprecation is about.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server_config = |auth: TlsAuthClients| -> Result<rustls::ServerConfig, String> {
            let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS: {e}"))?;
            let builder = match (&roots, auth) {
                (Some(roots), TlsAuthClients::Yes | TlsAuthClients::Optional) => {
                    let verifier = WebPkiClientVerifier::builder_with_provider(
                        Arc::clone(roots),
                        Arc::clone(&provider),
                    );
                    let verifier = if auth == TlsAuthClients::Optional {
                        verifier.allow_unauthenticated()
                    } else {
                        verifier
                    };
                    builder.with_client_cert_verifier(
                        verifier
                            .build()
                            .map_err(|e| format!("tls-ca-cert-file: {e}"))?,
                    )
                }
                _ => builder.with_no_client_auth(),
            };
            builder
                .with_single_cert(chain.clone(), key.clone_key())
                .map_err(|e| format!("tls-cert-file/tls-key-file: {e}"))
        };
        let clients = if config.tls_port != 0 {
            Some(TlsAcceptor::from(Arc::new(server_config(
                config.tls_auth_clients,
            )?)))
        } else {
            None
        };
        let (peer_acceptor, peer_connector) = match (&roots, config.peer_tls()) {
            (Some(roots), true) => {
                let acceptor = TlsAcceptor::from(Arc::new(server_config(TlsAuthClients::Yes)?));
                let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                    Arc::clone(roots),
                    Arc::clone(&provider),
                )
                .build()
                .map_err(|e| format!("tls-ca-cert-file: {e}"))?;
                let client = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("TLS: {e}"))?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(ClusterCa(verifier)))
                    .with_client_auth_cert(chain.clone(), key.clone_key())
                    .map_err(|e| format!("tls-cert-file/tls-key-file: {e}"))?;
                (Some(acceptor), Some(TlsConnector::from(Arc::new(client))))
            }
            _ => (None, None),
        };
        Ok(Tls {
            clients,
            peer_acceptor,
            peer_connector,
        })
    }
}

/// The name a member is dialled by: its IP address (not checked, see the module comment,
/// but rustls wants one).
pub fn peer_name(address: std::net::SocketAddr) -> ServerName<'static> {
    ServerName::IpAddress(address.ip().into())
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", path.display()));
    }
    Ok(chain)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a private key from {}: {e}", path.display()))
}

fn root_store(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots
            .add(certificate)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// Checks a member's certificate chain against the cluster's CA, not its name.
#[derive(Debug)]
struct ClusterCa(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ClusterCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // The chain was checked before the name: only the name did not match.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A TLS client connection for `client::serve`. tokio-rustls keeps encrypted records that the
/// socket did not take yet until the stream is flushed; the client loop writes its replies,
/// then waits to read. So every read first flushes: whatever is pending goes out while the
/// task waits (a flush that cannot finish registers for writability, which wakes the task
/// to read, and so to flush, again).
pub struct FlushBeforeRead<S>(pub S);

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> tokio::io::AsyncRead
    for FlushBeforeRead<S>
{
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        // An error shows at the next write; pending is fine (see above).
        let _ = std::pin::Pin::new(&mut self.0).poll_flush(cx);
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for FlushBeforeRead<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

tokio::task_local! {
    /// Set for the task serving a TLS client: the slot map and redirections then give the
    /// members' TLS ports (Redis 7 with tls-cluster announces those to TLS clients).
    pub static CLIENT_IS_TLS: bool;
}

/// Whether the current task serves a TLS client.
pub fn client_is_tls() -> bool {
    CLIENT_IS_TLS.try_with(|tls| *tls).unwrap_or(false)
}
