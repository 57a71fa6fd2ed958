//! The HTTP/1.1 listener: accepts connections and serves the router on each, with the limits
//! that keep hostile or broken clients from tying the process up.
//!
//! - **Header read timeout**: a client must send a request's whole head (request line and
//!   headers) within [`ConnLimits::header_read_timeout`], counted from when the connection
//!   is ready for the next request, so it is also how long an idle keep-alive connection
//!   stays open. A slow-header client (slowloris) is disconnected when it runs out.
//! - **Header size**: hyper refuses a head over twice [`ConnLimits::max_header_bytes`] (a
//!   bare 431, before any routing); below that the edge middleware answers heads over the
//!   limit with a SCIM 431, so a client normally sees a SCIM error.
//! - **Connections**: at most [`ConnLimits::max_connections`] at once; one more is answered
//!   `503` with a SCIM error body and `Retry-After`, then closed, so a flood cannot exhaust
//!   memory or file descriptors.
//! - **Graceful shutdown**: when `shutdown` resolves, the listener closes, idle connections
//!   close, and requests in flight finish (up to [`ConnLimits::drain_timeout`]).
//! - **TLS** (when configured, [`crate::tls`]): the handshake runs in the connection's own
//!   task, so a slow or silent client ties up only its connection slot, and it must finish
//!   within the header read timeout; a client that fails it is closed without a response.

use crate::config::{Config, DOCS_PATH};
use crate::front::{PerConnection, Stack};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use scim_core::{ErrorCode, ScimError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

/// The per-connection limits ([`crate::config::Config`] holds their settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Longest time to receive a request's head, and to wait for the next request on an
    /// idle keep-alive connection.
    pub header_read_timeout: Duration,
    /// The header size the edge enforces with a SCIM 431; hyper's hard ceiling is twice it.
    pub max_header_bytes: usize,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub drain_timeout: Duration,
}

impl ConnLimits {
    /// The limits `config` sets.
    pub fn from_config(config: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(config.header_read_timeout_secs),
            max_header_bytes: config.max_header_bytes,
            max_connections: config.max_connections,
            ..Self::default()
        }
    }
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 32 * 1024,
            max_connections: 1024,
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `stack` (see [`crate::service`]) on `listener` until `shutdown` resolves, then
/// drains; over TLS when `tls` is given (HTTPS only: a plain HTTP client fails the
/// handshake).
pub async fn serve(
    listener: TcpListener,
    stack: Stack,
    limits: ConnLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes.saturating_mul(2).max(8 * 1024))
        .keep_alive(true);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors or a connection reset before accept: the
                    // listener itself is fine; pause briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Small responses go out at once instead of waiting on Nagle's algorithm.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics::counter!("scim_connections_refused_total").increment(1);
            tokio::spawn(refuse(tcp, limits.max_connections));
            continue;
        };
        let watcher = graceful.watcher();
        let (builder, stack, tls) = (builder.clone(), stack.clone(), tls.clone());
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let served = match tls {
                None => {
                    let conn =
                        builder.serve_connection(TokioIo::new(tcp), PerConnection::new(stack));
                    watcher.watch(conn).await
                }
                Some(acceptor) => {
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            let io = TokioIo::new(stream);
                            let conn = builder.serve_connection(io, PerConnection::new(stack));
                            watcher.watch(conn).await
                        }
                        Ok(Err(e)) => {
                            metrics::counter!("scim_tls_handshake_failures_total").increment(1);
                            tracing::debug!(error = %e, "TLS handshake failed");
                            Ok(())
                        }
                        Err(_) => {
                            metrics::counter!("scim_tls_handshake_failures_total").increment(1);
                            tracing::debug!("TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "connection closed with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.drain_timeout) => {
            tracing::warn!("shutdown: requests still running after the drain timeout");
        }
    }
}

/// Answers a connection over the limit with a SCIM 503 and closes it. The request is read
/// (briefly, and not parsed) before closing, so the client gets the answer instead of a
/// reset.
async fn refuse(mut tcp: TcpStream, max: usize) {
    let e = ScimError::new(
        ErrorCode::Overloaded,
        format!("the server has {max} connections open, its limit; retry shortly"),
    );
    // The request is not read, so its route family is unknown: the RFC 7644 3.12 body,
    // with the code in the Link header, as for any error outside the families.
    let mut wire = e.to_body(DOCS_PATH);
    let link = wire.more_info.take().unwrap_or_default();
    wire.code = None;
    let body = serde_json::to_vec(&wire).unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/scim+json\r\n\
         link: <{link}>; rel=\"help\"\r\nretry-after: 1\r\nconnection: close\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    let work = async {
        let mut buf = [0u8; 4096];
        // Take what the client has sent so far, so that closing does not reset it.
        let _ = tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf)).await;
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(&body).await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), work).await;
}
