//! Connections to an exchange: plain TCP (`ws://`, `http://`: `minerva exchange`) or
//! TLS (`wss://`, `https://`: Binance and its testnet), one type for both so the
//! WebSocket and REST clients do not care which.
//!
//! TLS is rustls (ring) with the Mozilla roots of `webpki-roots`, plus the PEM
//! certificates of `MINERVA_CA_FILE` when set (a private endpoint, a test CA).
//! Cold path: connecting; reads and writes go through rustls' buffers.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The variable naming an extra CA file (PEM) to trust.
pub const CA_FILE_VAR: &str = "MINERVA_CA_FILE";

/// A connection, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

fn config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            if let Ok(path) = std::env::var(CA_FILE_VAR) {
                let certs = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| format!("{CA_FILE_VAR}={path}: {e}"))?;
                for c in certs {
                    let c = c.map_err(|e| format!("{CA_FILE_VAR}={path}: {e}"))?;
                    roots
                        .add(c)
                        .map_err(|e| format!("{CA_FILE_VAR}={path}: {e}"))?;
                }
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let cfg = ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(cfg))
        })
        .clone()
        .map_err(io::Error::other)
}

impl Conn {
    /// Connects to `host` (`name:port`), with TLS when `tls`, within `timeout`; the
    /// TLS handshake completes before this returns. Cold.
    ///
    /// # Errors
    /// The socket's error, or a TLS one (unknown issuer, wrong name, bad CA file).
    pub fn connect(host: &str, tls: bool, timeout: Duration) -> io::Result<Self> {
        let addr = host
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(timeout))?;
        if !tls {
            return Ok(Conn::Plain(tcp));
        }
        let name = host.rsplit_once(':').map_or(host, |(n, _)| n);
        let server = ServerName::try_from(name.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(config()?, server).map_err(io::Error::other)?;
        let mut s = StreamOwned::new(conn, tcp);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(Conn::Tls(Box::new(s)))
    }

    /// The TCP socket under it (timeouts, shutdown).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => &s.sock,
        }
    }

    /// True when a read would find the peer gone (a keep-alive connection the server
    /// closed while idle); never blocks.
    pub fn closed(&mut self) -> bool {
        let tcp = self.tcp();
        if tcp.set_nonblocking(true).is_err() {
            return true;
        }
        let mut b = [0u8; 1];
        let r = tcp.peek(&mut b);
        let _ = tcp.set_nonblocking(false);
        match r {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}
