//! An HTTP/1.1 backend with an idle timeout, as Node.js (`keepAliveTimeout`,
//! 5 s), uvicorn (`--timeout-keep-alive`, 5 s) and gunicorn (`--keep-alive`,
//! 2 s) have one: after a response it waits for the next request on the
//! connection for at most `idle`, then closes the connection itself. For
//! every connection it records how many requests it served and which side
//! ended it, after how long idle: nginx (the backend read the end of the
//! stream) or the backend (its idle timeout fired first). That is what
//! `keepalive_timeout` below `--backend-idle-timeout` is about.
//!
//! Requests are read up to the end of their head (the tests send no
//! bodies); each gets `200` with `Content-Length` and a body naming the
//! connection and the request's number on it. `Connection: close` from
//! nginx (its HTTP/1.0 default) is honoured.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::backend::Listener;
use super::counting::AcceptLoop;

/// Which side ended a connection, and how long it had been idle then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum End {
    /// nginx closed it (the backend read the end of the stream).
    ByNginx { idle: Duration },
    /// The backend's idle timeout fired and it closed the connection.
    ByBackend { idle: Duration },
    /// It ended after a request that asked for it (`Connection: close`).
    AfterClose,
}

/// One accepted connection.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub requests: usize,
    pub end: Option<End>,
}

pub struct IdleBackend {
    pub port: u16,
    pub idle: Duration,
    connections: Arc<Mutex<Vec<Connection>>>,
    _accepting: AcceptLoop,
}

impl IdleBackend {
    /// A backend on a free 127.0.0.1 port that closes connections idle
    /// for `idle`.
    pub fn start(idle: Duration) -> IdleBackend {
        let listener = Listener::loopback();
        let port = listener.port();
        let connections: Arc<Mutex<Vec<Connection>>> = Arc::default();
        let record = connections.clone();
        let accepting = AcceptLoop::spawn(
            listener,
            |l: &Listener| match l {
                Listener::Tcp(l) => l.accept().map(|(s, _)| s),
                Listener::Unix(..) => unreachable!("a TCP listener"),
            },
            move |stream: TcpStream| {
                let number = {
                    let mut list = record.lock().unwrap();
                    list.push(Connection::default());
                    list.len() - 1
                };
                let record = record.clone();
                std::thread::spawn(move || serve(stream, number, idle, &record));
            },
        );
        IdleBackend {
            port,
            idle,
            connections,
            _accepting: accepting,
        }
    }

    pub fn connections(&self) -> Vec<Connection> {
        self.connections.lock().unwrap().clone()
    }

    /// Waits until every connection accepted so far has ended (at most
    /// `limit`), and returns them.
    pub fn wait_ended(&self, limit: Duration) -> Vec<Connection> {
        let deadline = Instant::now() + limit;
        loop {
            let list = self.connections();
            if list.iter().all(|c| c.end.is_some()) || Instant::now() > deadline {
                return list;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(stream: TcpStream, number: usize, idle: Duration, record: &Mutex<Vec<Connection>>) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone a TCP stream");
    let mut reader = BufReader::new(stream);
    let mut last = Instant::now();
    let end = |e: End| record.lock().unwrap()[number].end = Some(e);
    loop {
        // Waiting for the next request: the idle timeout applies.
        let _ = reader.get_ref().set_read_timeout(Some(idle));
        match reader.fill_buf() {
            Ok([]) => {
                return end(End::ByNginx {
                    idle: last.elapsed(),
                })
            }
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let idle = last.elapsed();
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return end(End::ByBackend { idle });
            }
            Err(_) => {
                return end(End::ByNginx {
                    idle: last.elapsed(),
                })
            }
        }
        // A request has begun: read its head.
        let _ = reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)));
        let mut close = false;
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    return end(End::ByNginx {
                        idle: Duration::ZERO,
                    })
                }
                Ok(_) => {}
            }
            let lower = line.trim().to_ascii_lowercase();
            if lower.is_empty() {
                break;
            }
            close |= lower == "connection: close";
        }
        let requests = {
            let mut list = record.lock().unwrap();
            list[number].requests += 1;
            list[number].requests
        };
        let body = format!("connection={number} request={requests}\n");
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return end(End::ByNginx {
                idle: Duration::ZERO,
            });
        }
        last = Instant::now();
        if close {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return end(End::AfterClose);
        }
    }
}
