//! A real nginx master for the traffic tests: its own prefix, error log and
//! pid file, in the foreground (`daemon off`), each http `server` on its own
//! free 127.0.0.1 port, with the config's host names resolving to 127.0.0.1
//! and the test certificates (`ca.pem`, `client.pem`, `client.key`) next to
//! its nginx.conf, where relative `proxy_ssl_*` paths point. A snippet of
//! `server` blocks is included from `http { }`; a main config (with `http`,
//! `events` or `stream`) is included at the top, with the stream module
//! loaded when it needs it. Stopped (SIGTERM, then SIGKILL) when dropped,
//! also when a test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::backend::{escape_bytes, frame, read_frame, websocket_accept};
use super::{conf, is_root, pki, with_hosts, wrap_for_nginx};

pub struct Nginx {
    /// One per http `server`, in source order.
    pub ports: Vec<u16>,
    /// The first server's.
    pub port: u16,
    child: Child,
    log: PathBuf,
    _owned: Option<tempfile::TempDir>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A response as the client saw it; header names lowercased, the body
/// without chunked framing.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Nginx {
    /// Starts nginx on `config` in a prefix of its own; panics with the
    /// error log when nginx does not come up.
    pub fn start(nginx: &Path, config: &str, hosts: &[String]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let servers = conf::http_servers(&conf::parse(config.as_bytes())).len();
        let ports: Vec<u16> = (0..servers).map(|_| free_port()).collect();
        let mut server =
            Nginx::launch(nginx, config.as_bytes(), hosts, dir.path(), "nginx", &ports)
                .unwrap_or_else(|e| panic!("{e}"));
        server._owned = Some(dir);
        server
    }

    /// Starts nginx on `config` in `prefix`, which the caller keeps (runs
    /// that share it share what nginx keeps on disk, a `proxy_cache` for
    /// one), the i-th http server on `ports[i]` (runs on the same ports
    /// give the same absolute redirects); the error log is `logs/RUN.log`.
    /// Fails with the error log when nginx does not come up.
    pub fn launch(
        nginx: &Path,
        config: &[u8],
        hosts: &[String],
        prefix: &Path,
        run: &str,
        ports: &[u16],
    ) -> Result<Nginx, String> {
        let p = prefix;
        for d in ["logs", "tmp"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        pki::pki()?.copy_client_files(p)?;
        let tree = conf::parse(config);
        let servers = conf::http_servers(&tree).len();
        if servers > ports.len() {
            return Err(format!("{servers} http servers, {} ports", ports.len()));
        }
        let ports = ports[..servers].to_vec();
        let conf_path = p.join("under-test.conf");
        std::fs::write(&conf_path, conf::listen_on(config, &ports)).unwrap();
        let log = p.join(format!("logs/{run}.log"));
        let _ = std::fs::remove_file(&log);
        let pid = p.join("nginx.pid");
        let main = if conf::is_main(&tree) {
            let user = if is_root() && !tree.iter().any(|d| d.name == "user") {
                "user root;\n"
            } else {
                ""
            };
            format!(
                "{user}pid {};\n{}",
                pid.display(),
                wrap_for_nginx(&String::from_utf8_lossy(config), &conf_path)
            )
        } else {
            let user = if is_root() { "user root;\n" } else { "" };
            let temps: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
                .iter()
                .map(|name| format!("{name}_temp_path {}/tmp/{name};\n", p.display()))
                .collect();
            format!(
                "{user}worker_processes 1;\npid {pid};\nerror_log {log} warn;\nevents {{ worker_connections 512; }}\nhttp {{\naccess_log off;\n{temps}include {conf};\n}}\n",
                pid = pid.display(),
                log = log.display(),
                conf = conf_path.display(),
            )
        };
        std::fs::write(p.join("nginx.conf"), main).unwrap();
        let args: Vec<String> = vec![
            "-p".into(),
            format!("{}/", p.display()),
            "-c".into(),
            p.join("nginx.conf").display().to_string(),
            "-e".into(),
            log.display().to_string(),
            "-g".into(),
            "daemon off;".into(),
        ];
        let child = with_hosts(nginx, &args, hosts, p)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("start nginx: {e}"))?;
        let mut server = Nginx {
            port: ports.first().copied().unwrap_or(0),
            ports,
            child,
            log,
            _owned: None,
        };
        server.wait_ready()?;
        Ok(server)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut waiting = self.ports.clone();
        while Instant::now() < deadline {
            waiting.retain(|&port| TcpStream::connect(("127.0.0.1", port)).is_err());
            if waiting.is_empty() {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!(
                    "nginx exited ({status}) before listening: {err}\n{}",
                    self.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "nginx did not listen on 127.0.0.1:{waiting:?} within 10 s\n{}",
            self.error_log()
        ))
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// One request over a fresh client connection; returns (status, body).
    pub fn get(&self, path: &str, seq: usize) -> (u16, String) {
        let headers = [
            ("X-Seq".to_string(), seq.to_string()),
            ("X-Forwarded-Proto".to_string(), "https".to_string()),
            ("User-Agent".to_string(), "upkeep-test".to_string()),
        ];
        let r = request(self.port, "app.test", path, &headers);
        (r.status, String::from_utf8_lossy(&r.body).into_owned())
    }

    /// A WebSocket session on the first server; see [`websocket`].
    pub fn websocket(&self, path: &str, messages: &[&str]) -> (u16, Vec<String>) {
        websocket(self.port, "app.test", path, &[], messages)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its workers; SIGKILL only as a last resort.
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` with `Host: host` and `headers` to 127.0.0.1:`port` over a
/// fresh connection (`Connection: close`). A connection that fails or
/// times out gives status 0 and the reason as the body.
pub fn request(port: u16, host: &str, path: &str, headers: &[(String, String)]) -> Response {
    send(port, "GET", host, path, headers, None)
}

/// [`request`] with another method and, when given, a body (sent with
/// `Content-Length`).
pub fn send(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(String, String)],
    body: Option<&str>,
) -> Response {
    let failed = |why: String| Response {
        body: why.into_bytes(),
        ..Response::default()
    };
    let mut stream = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return failed(format!("connect: {e}")),
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    head.push_str(body.unwrap_or(""));
    if let Err(e) = stream.write_all(head.as_bytes()) {
        return failed(format!("send: {e}"));
    }
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw) {
        return failed(format!("read: {e} after {} bytes", raw.len()));
    }
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return failed(format!("no response head in {:?}", escape_bytes(&raw)));
    };
    let head = escape_bytes(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size_hex = size_text.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size_hex, 16) else {
            break;
        };
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

/// A WebSocket session: handshake, then each message echoed back. Returns
/// the handshake status and the echoed messages (a wrong
/// `Sec-WebSocket-Accept` or a missing echo shows as a marker among them).
pub fn websocket(
    port: u16,
    host: &str,
    path: &str,
    headers: &[(String, String)],
    messages: &[&str],
) -> (u16, Vec<String>) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, Vec::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, Vec::new());
    }
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut read_line = || {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line).ok()?;
        (!line.is_empty()).then(|| escape_bytes(line.trim_ascii()))
    };
    let status: u16 = read_line()
        .and_then(|l| l.split_whitespace().nth(1).and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let mut accept = None;
    while let Some(line) = read_line().filter(|l| !l.is_empty()) {
        if let Some((n, v)) = line.split_once(':') {
            if n.eq_ignore_ascii_case("sec-websocket-accept") {
                accept = Some(v.trim().to_string());
            }
        }
    }
    if status != 101 {
        return (status, Vec::new());
    }
    if accept.as_deref() != Some(websocket_accept(key).as_str()) {
        return (status, vec![format!("<Sec-WebSocket-Accept {accept:?}>")]);
    }
    let mut echoed = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if stream
            .write_all(&frame(0x1, m.as_bytes(), Some([1, 2, 3, i as u8])))
            .is_err()
        {
            break;
        }
        match read_frame(&mut reader) {
            Some((_, payload)) => echoed.push(String::from_utf8_lossy(&payload).into_owned()),
            None => {
                echoed.push("<no echo>".to_string());
                break;
            }
        }
    }
    let _ = stream.write_all(&frame(0x8, &[], Some([9, 9, 9, 9])));
    (status, echoed)
}
