//! A minimal FastCGI responder for the pooling tests, written from the
//! FastCGI 1.0 specification: it is the application end of `fastcgi_pass`,
//! on a loopback TCP port or a unix socket, and it counts connections and
//! requests so that a test can tell whether nginx reused a connection.
//!
//! What it speaks:
//!
//! - records of version 1: an 8-byte header (version, type, request id,
//!   content length, padding length, reserved), the content, the padding;
//! - `BEGIN_REQUEST` (role and flags; the `FCGI_KEEP_CONN` bit is bit 0 of
//!   the flags), the `PARAMS` stream (name-value pairs whose lengths take 1
//!   byte, or 4 with the top bit set) and the `STDIN` stream, each ended by
//!   an empty record;
//! - an answer of `STDOUT` records (`Status: 200 OK`, `Content-Type:
//!   text/plain` and a body naming the backend and the request), an empty
//!   `STDOUT` and `END_REQUEST` (request complete);
//! - `ABORT_REQUEST` ends the request at once; a management record (request
//!   id 0) gets `UNKNOWN_TYPE`, since nginx never asks for values.
//!
//! The connection's fate follows the specification, which is the point of
//! the tests: without `FCGI_KEEP_CONN` the application closes the
//! connection after `END_REQUEST`; with it, the connection stays open for
//! the next request (nginx sends several requests on one connection one
//! after the other and never multiplexes, so neither does this responder).
//! [`FastCgi::start_ignoring_keep_conn`] starts one that never closes,
//! like applications that ignore the flag, to show what nginx alone
//! reuses.
//!
//! Every request is recorded (connection number, request id, the flag, all
//! params, stdin), the body says none of the connection's details, so that
//! the responses of a pooled and an unpooled run can be compared as they
//! are.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::backend::{escape_bytes, Listener};
use super::counting::{Recorder, Speaks, Stream};

pub const VERSION_1: u8 = 1;
pub const BEGIN_REQUEST: u8 = 1;
pub const ABORT_REQUEST: u8 = 2;
pub const END_REQUEST: u8 = 3;
pub const PARAMS: u8 = 4;
pub const STDIN: u8 = 5;
pub const STDOUT: u8 = 6;
pub const UNKNOWN_TYPE: u8 = 11;
/// The flag in `BEGIN_REQUEST`'s flags byte.
pub const KEEP_CONN: u8 = 1;
pub const RESPONDER: u16 = 1;
const REQUEST_COMPLETE: u8 = 0;

/// One request as the responder saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct FcgiRequest {
    /// The connection it came on (0 for the first accepted).
    pub connection: usize,
    pub request_id: u16,
    pub role: u16,
    /// Whether `BEGIN_REQUEST` set `FCGI_KEEP_CONN`.
    pub keep_conn: bool,
    /// Every param as sent (bytes that are not UTF-8 kept as `\xNN`).
    pub params: BTreeMap<String, String>,
    pub stdin: Vec<u8>,
    /// Ended by `ABORT_REQUEST` rather than by the end of stdin.
    pub aborted: bool,
}

impl FcgiRequest {
    pub fn param(&self, name: &str) -> &str {
        self.params.get(name).map(String::as_str).unwrap_or("")
    }
}

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicUsize,
    /// Connections the responder closed because a request lacked
    /// `FCGI_KEEP_CONN` (the others were closed by nginx, or timed out).
    pub closed_by_responder: AtomicUsize,
    pub seen: Mutex<Vec<FcgiRequest>>,
    /// What went wrong on a connection (a malformed record, a request id
    /// that changed mid-request); a test asserts this stays empty.
    pub errors: Mutex<Vec<String>>,
    /// When the responder closes a connection itself.
    pub closing: Closing,
}

/// The FastCGI responder (see the module's text).
pub type FastCgi = Recorder<Stats>;

impl Speaks for Stats {
    fn serve_connection(&self, stream: Box<dyn Stream>, number: usize, label: &str) {
        serve_connection(stream, number, self, label)
    }
}

impl FastCgi {
    /// A responder on a free 127.0.0.1 port that never closes a connection
    /// itself, `FCGI_KEEP_CONN` or not, as some FastCGI applications do
    /// against the specification: with it a test sees which connections
    /// nginx itself is willing to reuse.
    pub fn start_ignoring_keep_conn(label: &str) -> FastCgi {
        let stats = Stats {
            closing: Closing::Never,
            ..Stats::default()
        };
        FastCgi::with(Listener::loopback(), label, stats)
    }

    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    pub fn closed_by_responder(&self) -> usize {
        self.stats.closed_by_responder.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<FcgiRequest> {
        self.stats.seen.lock().unwrap().clone()
    }

    pub fn errors(&self) -> Vec<String> {
        self.stats.errors.lock().unwrap().clone()
    }

    /// Forgets the recorded requests (the counters keep counting).
    pub fn clear_seen(&self) {
        self.stats.seen.lock().unwrap().clear();
    }
}

/// When the responder closes a connection.
#[derive(Clone, Copy, PartialEq, Default)]
pub enum Closing {
    /// After a request without `FCGI_KEEP_CONN` (the specification).
    #[default]
    AsAsked,
    /// Never: only nginx (or the read timeout) ends a connection.
    Never,
}

/// One record as read from the wire.
struct Record {
    kind: u8,
    request_id: u16,
    content: Vec<u8>,
}

/// `None` at the end of the stream (nginx closed an idle connection) or on
/// the read timeout; `Err` for a malformed record.
fn read_record(stream: &mut dyn Stream) -> Option<Result<Record, String>> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).ok()?;
    if head[0] != VERSION_1 {
        return Some(Err(format!("record of version {}", head[0])));
    }
    let request_id = u16::from_be_bytes([head[2], head[3]]);
    let length = u16::from_be_bytes([head[4], head[5]]) as usize;
    let padding = head[6] as usize;
    let mut content = vec![0u8; length + padding];
    if stream.read_exact(&mut content).is_err() {
        return Some(Err("stream ended inside a record".into()));
    }
    content.truncate(length);
    Some(Ok(Record {
        kind: head[1],
        request_id,
        content,
    }))
}

/// A record with `content` (at most 65535 bytes), padded to a multiple of
/// eight bytes as the specification recommends.
pub fn record(kind: u8, request_id: u16, content: &[u8]) -> Vec<u8> {
    let length = u16::try_from(content.len()).expect("record content fits 16 bits");
    let padding = (8 - content.len() % 8) % 8;
    let mut out = Vec::with_capacity(8 + content.len() + padding);
    out.extend_from_slice(&[VERSION_1, kind]);
    out.extend_from_slice(&request_id.to_be_bytes());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&[padding as u8, 0]);
    out.extend_from_slice(content);
    out.resize(out.len() + padding, 0);
    out
}

/// A stream's content as records of at most 65535 bytes, then the empty
/// record that ends the stream.
pub fn stream_records(kind: u8, request_id: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(65535) {
        out.extend(record(kind, request_id, chunk));
    }
    out.extend(record(kind, request_id, &[]));
    out
}

/// Name-value pairs as FastCGI encodes them: each length in 1 byte below
/// 128, else in 4 bytes with the top bit set.
pub fn encode_params(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    let length = |out: &mut Vec<u8>, n: usize| {
        if n < 128 {
            out.push(n as u8);
        } else {
            out.extend_from_slice(&(n as u32 | 0x8000_0000).to_be_bytes());
        }
    };
    for (name, value) in pairs {
        length(&mut out, name.len());
        length(&mut out, value.len());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// The inverse of [`encode_params`]; `Err` for a truncated pair.
pub fn decode_params(mut data: &[u8]) -> Result<Vec<(String, String)>, String> {
    fn length(data: &mut &[u8]) -> Result<usize, String> {
        match data.first() {
            None => Err("a pair's length is missing".into()),
            Some(&b) if b & 0x80 == 0 => {
                *data = &data[1..];
                Ok(b as usize)
            }
            Some(_) if data.len() >= 4 => {
                let n = u32::from_be_bytes([data[0] & 0x7f, data[1], data[2], data[3]]);
                *data = &data[4..];
                Ok(n as usize)
            }
            Some(_) => Err("a 4-byte length is cut short".into()),
        }
    }
    let mut pairs = Vec::new();
    while !data.is_empty() {
        let name_len = length(&mut data)?;
        let value_len = length(&mut data)?;
        if data.len() < name_len + value_len {
            return Err(format!(
                "a pair of {name_len}+{value_len} bytes with {} left",
                data.len()
            ));
        }
        let (name, rest) = data.split_at(name_len);
        let (value, rest) = rest.split_at(value_len);
        pairs.push((escape_bytes(name), escape_bytes(value)));
        data = rest;
    }
    Ok(pairs)
}

/// The body of the answer: the backend and the request, nothing about the
/// connection, so that pooled and unpooled runs answer alike.
pub fn body_for(label: &str, request: &FcgiRequest) -> String {
    format!(
        "backend={label} method={} script={} uri={} query={} stdin={}\n",
        request.param("REQUEST_METHOD"),
        request.param("SCRIPT_NAME"),
        request.param("REQUEST_URI"),
        request.param("QUERY_STRING"),
        escape_bytes(&request.stdin),
    )
}

fn serve_connection(mut stream: Box<dyn Stream>, number: usize, stats: &Stats, label: &str) {
    let fail = |why: String| {
        stats
            .errors
            .lock()
            .unwrap()
            .push(format!("{label} connection {number}: {why}"));
    };
    // One request at a time: BEGIN_REQUEST, PARAMS until empty, STDIN until
    // empty (or ABORT_REQUEST), then the answer.
    loop {
        let mut request: Option<FcgiRequest> = None;
        let mut params = Vec::new();
        let mut params_done = false;
        let finished = loop {
            let got = match read_record(stream.as_mut()) {
                None => {
                    if request.is_some() {
                        fail("stream ended inside a request".into());
                    }
                    return;
                }
                Some(Err(why)) => return fail(why),
                Some(Ok(got)) => got,
            };
            if got.request_id == 0 {
                // A management record: answer that its type is unknown.
                let mut body = [0u8; 8];
                body[0] = got.kind;
                if stream.write_all(&record(UNKNOWN_TYPE, 0, &body)).is_err() {
                    return;
                }
                continue;
            }
            match (got.kind, request.as_mut()) {
                (BEGIN_REQUEST, None) => {
                    if got.content.len() < 8 {
                        return fail("BEGIN_REQUEST shorter than 8 bytes".into());
                    }
                    request = Some(FcgiRequest {
                        connection: number,
                        request_id: got.request_id,
                        role: u16::from_be_bytes([got.content[0], got.content[1]]),
                        keep_conn: got.content[2] & KEEP_CONN != 0,
                        params: BTreeMap::new(),
                        stdin: Vec::new(),
                        aborted: false,
                    });
                }
                (_, None) => {
                    return fail(format!("record of type {} before BEGIN_REQUEST", got.kind))
                }
                (_, Some(r)) if r.request_id != got.request_id => {
                    return fail(format!(
                        "record for request {} inside request {} (nginx does not multiplex)",
                        got.request_id, r.request_id
                    ));
                }
                (PARAMS, Some(_)) if !params_done => {
                    if got.content.is_empty() {
                        params_done = true;
                    } else {
                        params.extend_from_slice(&got.content);
                    }
                }
                (STDIN, Some(r)) => {
                    if got.content.is_empty() {
                        break r.clone();
                    }
                    r.stdin.extend_from_slice(&got.content);
                }
                (ABORT_REQUEST, Some(r)) => {
                    r.aborted = true;
                    break r.clone();
                }
                (kind, Some(_)) => return fail(format!("unexpected record of type {kind}")),
            }
        };
        let mut request = finished;
        match decode_params(&params) {
            Ok(pairs) => request.params = pairs.into_iter().collect(),
            Err(why) => return fail(why),
        }
        stats.requests.fetch_add(1, Ordering::SeqCst);
        stats.seen.lock().unwrap().push(request.clone());

        let mut answer = Vec::new();
        if !request.aborted {
            let body = body_for(label, &request);
            let stdout = format!("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n{body}");
            answer.extend(stream_records(
                STDOUT,
                request.request_id,
                stdout.as_bytes(),
            ));
        }
        // appStatus 0, protocolStatus REQUEST_COMPLETE, 3 reserved bytes.
        let end = [0, 0, 0, 0, REQUEST_COMPLETE, 0, 0, 0];
        answer.extend(record(END_REQUEST, request.request_id, &end));
        if stream.write_all(&answer).is_err() {
            return;
        }
        if !request.keep_conn && stats.closing == Closing::AsAsked {
            // The specification: without FCGI_KEEP_CONN the application
            // closes the connection once the request is done.
            stats.closed_by_responder.fetch_add(1, Ordering::SeqCst);
            stream.shutdown_write();
            return;
        }
    }
}
