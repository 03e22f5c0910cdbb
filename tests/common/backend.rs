//! Recording backends for the traffic tests: real servers in the test
//! process, on a loopback TCP port (IPv4 or IPv6), optionally over TLS
//! (rustls), or on a unix socket. Each counts accepted connections and
//! requests, records every request as it arrived (request line and headers,
//! bytes that are not UTF-8 kept as `\xNN`), and answers:
//!
//! - HTTP/1.1 with keep-alive (HTTP/1.0 and `Connection: close` close), a
//!   body naming the backend (label and port) and the request, and
//!   `Cache-Control: max-age=600` so that a `proxy_cache` stores it;
//! - a URI containing `redirect-me`: `302` with `Location` and `Refresh`
//!   pointing at the backend's own address as the config names it, which is
//!   what nginx's default `proxy_redirect` rewrites;
//! - WebSocket handshakes (101 with the right `Sec-WebSocket-Accept`), then
//!   echoes frames.
//!
//! Over TLS the record also says whether nginx presented a client
//! certificate (`x-tls-client-cert: yes|no`) and which server name it sent
//! (`x-tls-sni`), as if they were request headers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use super::counting::AcceptLoop;

/// One request as the backend saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRequest {
    pub method: String,
    pub uri: String,
    pub version: String,
    /// Header names lowercased; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
}

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicUsize,
    pub requests: AtomicUsize,
    pub upgrades: AtomicUsize,
    pub seen: Mutex<Vec<SeenRequest>>,
}

/// A bound socket a backend will serve.
pub enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// A free port on 127.0.0.1.
    pub fn loopback() -> Listener {
        Listener::tcp(([127, 0, 0, 1], 0).into()).expect("bind a loopback port")
    }

    /// `addr` with port 0 takes a free port.
    pub fn tcp(addr: SocketAddr) -> std::io::Result<Listener> {
        TcpListener::bind(addr).map(Listener::Tcp)
    }

    pub fn unix(path: &Path) -> std::io::Result<Listener> {
        UnixListener::bind(path).map(|l| Listener::Unix(l, path.to_path_buf()))
    }

    /// The TCP port (0 for a unix socket).
    pub fn port(&self) -> u16 {
        match self {
            Listener::Tcp(l) => l.local_addr().unwrap().port(),
            Listener::Unix(..) => 0,
        }
    }

    /// The next connection, over TLS when `tls` is given; with a read
    /// timeout, so that a peer that stops talking cannot hang a test.
    fn accept(&self, tls: Option<&Arc<ServerConfig>>) -> std::io::Result<Box<dyn Conn>> {
        let timeout = Some(Duration::from_secs(10));
        match self {
            Listener::Tcp(l) => {
                let (stream, _) = l.accept()?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(timeout)?;
                Ok(match tls {
                    Some(config) => {
                        let conn =
                            ServerConnection::new(config.clone()).map_err(std::io::Error::other)?;
                        Box::new(StreamOwned::new(conn, stream))
                    }
                    None => Box::new(stream),
                })
            }
            Listener::Unix(l, _) => {
                let (stream, _) = l.accept()?;
                stream.set_read_timeout(timeout)?;
                Ok(Box::new(stream))
            }
        }
    }
}

/// How a backend presents itself.
pub struct Identity {
    /// Printed in the body and the tests' tables.
    pub label: String,
    /// `host[:port]` (or `unix:/path:`) as the config names the backend,
    /// for redirects to itself.
    pub authority: String,
    /// Serve TLS with this configuration.
    pub tls: Option<Arc<ServerConfig>>,
}

pub struct Backend {
    pub name: String,
    pub port: u16,
    pub stats: Arc<Stats>,
    _accepting: AcceptLoop,
}

impl Backend {
    /// A plain HTTP backend on a free 127.0.0.1 port.
    pub fn start(name: &str) -> Backend {
        let listener = Listener::loopback();
        let authority = format!("127.0.0.1:{}", listener.port());
        Backend::serve(
            listener,
            Identity {
                label: name.to_string(),
                authority,
                tls: None,
            },
        )
    }

    pub fn serve(listener: Listener, identity: Identity) -> Backend {
        let port = listener.port();
        let stats = Arc::new(Stats::default());
        let name = identity.label.clone();
        let (s, id) = (stats.clone(), Arc::new(identity));
        let tls = id.tls.clone();
        let accepting = AcceptLoop::spawn(
            listener,
            move |l: &Listener| l.accept(tls.as_ref()),
            move |conn| {
                s.connections.fetch_add(1, Ordering::SeqCst);
                let (s, id) = (s.clone(), id.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn);
                    serve(&mut reader, &s, &id, port);
                    reader.get_mut().close();
                });
            },
        );
        Backend {
            name,
            port,
            stats,
            _accepting: accepting,
        }
    }

    pub fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        self.stats.seen.lock().unwrap().clone()
    }
}

/// A TLS server configuration (ring) with `cert`/`key`, asking for a client
/// certificate signed by `ca` without requiring one.
pub fn tls_config(cert: &Path, key: &Path, ca: &Path) -> Result<Arc<ServerConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| e.to_string())? {
        roots
            .add(c.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| e.to_string())?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(config))
}

/// A connection a backend serves: plain TCP, a unix socket or TLS.
trait Conn: Read + Write + Send {
    /// Facts about the connection recorded as pseudo-headers.
    fn facts(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    fn close(&mut self) {}
}

impl Conn for TcpStream {}

impl Conn for UnixStream {}

impl Conn for StreamOwned<ServerConnection, TcpStream> {
    fn facts(&self) -> Vec<(String, String)> {
        let mut facts = vec![(
            "x-tls-client-cert".to_string(),
            if self.conn.peer_certificates().is_some() {
                "yes"
            } else {
                "no"
            }
            .to_string(),
        )];
        if let Some(sni) = self.conn.server_name() {
            facts.push(("x-tls-sni".to_string(), sni.to_string()));
        }
        facts
    }

    fn close(&mut self) {
        self.conn.send_close_notify();
        let _ = self.flush();
    }
}

fn serve(reader: &mut BufReader<Box<dyn Conn>>, stats: &Stats, id: &Identity, port: u16) {
    loop {
        let Some(mut request) = read_request(reader) else {
            return;
        };
        request.headers.extend(reader.get_ref().facts());
        stats.requests.fetch_add(1, Ordering::SeqCst);
        stats.seen.lock().unwrap().push(request.clone());
        let wants_upgrade = request
            .headers
            .get("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if wants_upgrade {
            if let Some(key) = request.headers.get("sec-websocket-key") {
                stats.upgrades.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    websocket_accept(key)
                );
                if reader.get_mut().write_all(response.as_bytes()).is_err() {
                    return;
                }
                echo_frames(reader);
                return;
            }
        }
        let close = request
            .headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || (request.version == "HTTP/1.0"
                && !request
                    .headers
                    .get("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
        let mut head = String::from("HTTP/1.1 200 OK\r\n");
        if request.uri.contains("redirect-me") {
            let scheme = if id.tls.is_some() { "https" } else { "http" };
            let url = format!("{scheme}://{}{}", id.authority, request.uri);
            head = format!("HTTP/1.1 302 Found\r\nLocation: {url}\r\nRefresh: 0; url={url}\r\n");
        }
        let body = format!(
            "backend={} port={port} method={} uri={}\n",
            id.label, request.method, request.uri
        );
        let response = format!(
            "{head}Content-Type: text/plain\r\nCache-Control: max-age=600\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn read_request(reader: &mut impl BufRead) -> Option<SeenRequest> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).ok()? == 0 {
        return None;
    }
    let line = escape_bytes(line.trim_ascii_end());
    let mut parts = line.split_whitespace();
    let (method, uri, version) = (
        parts.next()?.to_string(),
        parts.next()?.to_string(),
        parts.next()?.to_string(),
    );
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    loop {
        let mut h = Vec::new();
        if reader.read_until(b'\n', &mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_ascii_end();
        if h.is_empty() {
            break;
        }
        if let Some(colon) = h.iter().position(|&b| b == b':') {
            let name = escape_bytes(h[..colon].trim_ascii()).to_ascii_lowercase();
            let value = escape_bytes(h[colon + 1..].trim_ascii());
            headers
                .entry(name)
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(&value);
                })
                .or_insert(value);
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(SeenRequest {
        method,
        uri,
        version,
        headers,
    })
}

/// Text as is where it is UTF-8; other bytes as `\xNN`, so that `caf\xe9`
/// and `caf\u{fffd}` stay different.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Echoes WebSocket frames (client frames are masked; ours are not) until a
/// close frame or EOF.
fn echo_frames(reader: &mut BufReader<Box<dyn Conn>>) {
    while let Some((opcode, payload)) = read_frame(reader) {
        let _ = reader.get_mut().write_all(&frame(opcode, &payload, None));
        if opcode == 0x8 {
            return;
        }
    }
}

pub fn read_frame(reader: &mut impl Read) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    reader.read_exact(&mut head).ok()?;
    let opcode = head[0] & 0x0f;
    let masked = head[1] & 0x80 != 0;
    let mut len = (head[1] & 0x7f) as usize;
    if len == 126 {
        let mut b = [0u8; 2];
        reader.read_exact(&mut b).ok()?;
        len = u16::from_be_bytes(b) as usize;
    } else if len == 127 {
        let mut b = [0u8; 8];
        reader.read_exact(&mut b).ok()?;
        len = u64::from_be_bytes(b) as usize;
    }
    let mut mask = [0u8; 4];
    if masked {
        reader.read_exact(&mut mask).ok()?;
    }
    let mut payload = vec![0u8; len];
    reader.read_exact(&mut payload).ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
    }
    Some((opcode, payload))
}

/// A final frame; masked with `mask` when given (clients must mask).
pub fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    if payload.len() < 126 {
        out.push(mask_bit | payload.len() as u8);
    } else {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// RFC 6455: base64(SHA-1(key + GUID)).
pub fn websocket_accept(key: &str) -> String {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64(&sha.digest().bytes())
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn websocket_accept_matches_rfc_6455_example() {
    assert_eq!(
        websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}
