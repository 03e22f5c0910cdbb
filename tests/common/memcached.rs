//! A minimal memcached (text protocol) for the pooling tests: the far end
//! of `memcached_pass`, on a loopback TCP port or a unix socket, counting
//! connections and requests and recording every key asked for.
//!
//! Why not Debian's real `memcached`: nginx's memcached module sends one
//! command only, `get KEY\r\n`, and reads one of two answers, `VALUE KEY
//! FLAGS LENGTH\r\n<data>\r\nEND\r\n` or `END\r\n`; both are fixed by the
//! protocol, so a responder this small speaks exactly what nginx hears from
//! the real server. What the tests need that the real server cannot give
//! is per-request evidence: which key came on which connection (memcached's
//! `stats` only has totals, and `total_connections` also counts the
//! connection that asks, and the connections that seeded the data). It
//! also saves an install and a child process per test.
//!
//! Keys: a key holding `miss` is not found (`END\r\n`, which nginx turns
//! into a 404); any other key is found, with a value naming the backend and
//! the key. Other commands get `ERROR\r\n`; `quit` closes the connection.
//! Several commands on one connection are answered one after the other.

use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::backend::escape_bytes;
use super::counting::{Recorder, Speaks, Stream};

/// One `get` as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Get {
    /// The connection it came on (0 for the first accepted).
    pub connection: usize,
    pub key: String,
    pub hit: bool,
}

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicUsize,
    pub seen: Mutex<Vec<Get>>,
    /// Commands other than `get` and `quit`; nginx sends none.
    pub unknown: Mutex<Vec<String>>,
}

/// The memcached server (see the module's text).
pub type Memcached = Recorder<Stats>;

impl Speaks for Stats {
    fn serve_connection(&self, stream: Box<dyn Stream>, number: usize, label: &str) {
        serve_connection(stream, number, self, label)
    }
}

impl Memcached {
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Get> {
        self.stats.seen.lock().unwrap().clone()
    }

    pub fn unknown(&self) -> Vec<String> {
        self.stats.unknown.lock().unwrap().clone()
    }
}

/// The value stored under `key` (`None`: not found).
pub fn value_for(label: &str, key: &str) -> Option<String> {
    (!key.contains("miss")).then(|| format!("backend={label} key={key}\n"))
}

fn serve_connection(stream: Box<dyn Stream>, number: usize, stats: &Stats, label: &str) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = Vec::new();
        // End of stream (nginx closed the connection) or the read timeout.
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = escape_bytes(line.trim_ascii_end());
        let mut words = line.split(' ');
        let answer = match (words.next(), words.next(), words.next()) {
            (Some("get"), Some(key), None) => {
                let value = value_for(label, key);
                stats.requests.fetch_add(1, Ordering::SeqCst);
                stats.seen.lock().unwrap().push(Get {
                    connection: number,
                    key: key.to_string(),
                    hit: value.is_some(),
                });
                match value {
                    Some(v) => format!("VALUE {key} 0 {}\r\n{v}\r\nEND\r\n", v.len()),
                    None => "END\r\n".to_string(),
                }
            }
            (Some("quit"), None, None) => return,
            _ => {
                stats.unknown.lock().unwrap().push(line.clone());
                "ERROR\r\n".to_string()
            }
        };
        if reader.get_mut().write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
