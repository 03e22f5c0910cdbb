//! A real nginx master for the traffic tests: its own prefix, error log and
//! pid file, in the foreground (`daemon off`), listening on a free loopback
//! port, with the config's host names resolving to 127.0.0.1 (private mount
//! namespace). Stopped (SIGTERM, then SIGKILL) when dropped, also when a
//! test fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::backend::{frame, read_frame, websocket_accept};
use super::{is_root, with_hosts};

pub struct Nginx {
    pub port: u16,
    child: Child,
    prefix: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Replaces every `listen ...;` with `listen 127.0.0.1:PORT;`.
fn listen_on(config: &str, port: u16) -> String {
    let mut out = String::new();
    let mut rest = config;
    while let Some(i) = rest.find("listen ") {
        let before_ok =
            i == 0 || rest[..i].ends_with(|c: char| c.is_whitespace() || c == '{' || c == ';');
        let Some(end) = rest[i..].find(';') else {
            break;
        };
        out.push_str(&rest[..i]);
        if before_ok {
            out.push_str(&format!("listen 127.0.0.1:{port};"));
        } else {
            out.push_str(&rest[i..i + end + 1]);
        }
        rest = &rest[i + end + 1..];
    }
    out.push_str(rest);
    out
}

impl Nginx {
    /// Starts nginx on `config`, a snippet of `server` blocks (as included
    /// from `http`).
    pub fn start(nginx: &Path, config: &str, hosts: &[String]) -> Nginx {
        let prefix = tempfile::tempdir().unwrap();
        let p = prefix.path();
        for d in ["logs", "tmp"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        let port = free_port();
        std::fs::write(p.join("under-test.conf"), listen_on(config, port)).unwrap();
        let user = if is_root() { "user root;\n" } else { "" };
        let temp = |name: &str| format!("{name}_temp_path {}/tmp/{name};\n", p.display());
        let main = format!(
            "{user}worker_processes 1;\npid {pid};\nerror_log {log} warn;\nevents {{ worker_connections 512; }}\nhttp {{\naccess_log off;\n{body}{proxy}{fastcgi}{uwsgi}{scgi}include {conf};\n}}\n",
            pid = p.join("nginx.pid").display(),
            log = p.join("logs/error.log").display(),
            body = format!("client_body_temp_path {}/tmp/body;\n", p.display()),
            proxy = temp("proxy"),
            fastcgi = temp("fastcgi"),
            uwsgi = temp("uwsgi"),
            scgi = temp("scgi"),
            conf = p.join("under-test.conf").display(),
        );
        std::fs::write(p.join("nginx.conf"), main).unwrap();
        let args: Vec<String> = vec![
            "-p".into(),
            format!("{}/", p.display()),
            "-c".into(),
            p.join("nginx.conf").display().to_string(),
            "-e".into(),
            p.join("logs/error.log").display().to_string(),
            "-g".into(),
            "daemon off;".into(),
        ];
        let child = with_hosts(nginx, &args, hosts, p)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let mut server = Nginx {
            port,
            child,
            prefix,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!(
                    "nginx exited ({status}) before listening: {err}\n{}",
                    self.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "nginx did not listen on 127.0.0.1:{} within 10 s\n{}",
            self.port,
            self.error_log()
        );
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.prefix.path().join("logs/error.log")).unwrap_or_default()
    }

    pub fn prefix(&self) -> PathBuf {
        self.prefix.path().to_path_buf()
    }

    /// One request over a fresh client connection; returns (status, body).
    pub fn get(&self, path: &str, seq: usize) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: app.test\r\nX-Seq: {seq}\r\nX-Forwarded-Proto: https\r\nUser-Agent: upkeep-test\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    /// A WebSocket session: handshake, then each message echoed back.
    /// Returns the handshake status and the echoed messages.
    pub fn websocket(&self, path: &str, messages: &[&str]) -> (u16, Vec<String>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut status_line = String::new();
        reader.read_line(&mut status_line).unwrap();
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut accept = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case("sec-websocket-accept") {
                    accept = Some(v.trim().to_string());
                }
            }
        }
        if status != 101 {
            return (status, Vec::new());
        }
        assert_eq!(
            accept.as_deref(),
            Some(websocket_accept(key).as_str()),
            "Sec-WebSocket-Accept"
        );
        let mut echoed = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            stream
                .write_all(&frame(0x1, m.as_bytes(), Some([1, 2, 3, i as u8])))
                .unwrap();
            let (_, payload) = read_frame(&mut reader).expect("an echoed frame");
            echoed.push(String::from_utf8_lossy(&payload).into_owned());
        }
        let _ = stream.write_all(&frame(0x8, &[], Some([9, 9, 9, 9])));
        (status, echoed)
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
