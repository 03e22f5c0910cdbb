//! A minimal gRPC server over cleartext HTTP/2 (h2c with prior knowledge,
//! which is what `grpc_pass grpc://...` speaks) for the pooling tests, on a
//! loopback TCP port or a unix socket. It counts connections and calls and
//! records, per call, the connection and the HTTP/2 stream it came on, so
//! that a test sees reuse twice over: fewer connections, and stream ids
//! 1, 3, 5, ... on one connection.
//!
//! What it speaks (RFC 9113, just enough for nginx's gRPC proxy):
//!
//! - the client preface, then frames: our SETTINGS first; SETTINGS and PING
//!   acknowledged; WINDOW_UPDATE for the connection as request DATA is
//!   consumed; PRIORITY, WINDOW_UPDATE and unknown frames ignored;
//!   RST_STREAM drops a call; GOAWAY ends the connection;
//! - a call ends when the client ends its stream (END_STREAM on HEADERS or
//!   DATA); the answer is HEADERS (`:status 200`, `content-type:
//!   application/grpc`), one DATA frame holding one length-prefixed gRPC
//!   message that names the backend and the call, and trailers
//!   (`grpc-status: 0`) with END_STREAM.
//!
//! Header blocks are not decoded: nginx Huffman-codes its values, and the
//! tests identify a call by its body (the DATA nginx forwards) instead. Our
//! own header blocks use only the static table and literals without
//! indexing, after a dynamic table size update to 0 (nginx's SETTINGS
//! announce a header table of size 0), so no HPACK state is shared.
//! Streams are handled one at a time, in order, as nginx opens them: nginx
//! never has two calls on one upstream connection at once.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::backend::escape_bytes;
use super::counting::{Recorder, Speaks, Stream};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const CONTINUATION: u8 = 0x9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;

/// One call as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The connection it came on (0 for the first accepted).
    pub connection: usize,
    pub stream_id: u32,
    /// The request body: the gRPC messages as nginx forwarded them.
    pub body: Vec<u8>,
}

#[derive(Default)]
pub struct Stats {
    pub requests: AtomicUsize,
    pub seen: Mutex<Vec<Call>>,
    /// Protocol errors on a connection; a test asserts this stays empty.
    pub errors: Mutex<Vec<String>>,
}

/// The gRPC server (see the module's text).
pub type Grpc = Recorder<Stats>;

impl Speaks for Stats {
    fn serve_connection(&self, stream: Box<dyn Stream>, number: usize, label: &str) {
        if let Err(why) = serve_connection(stream, number, self, label) {
            self.errors
                .lock()
                .unwrap()
                .push(format!("{label} connection {number}: {why}"));
        }
    }
}

impl Grpc {
    pub fn requests(&self) -> usize {
        self.stats.requests.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<Call> {
        self.stats.seen.lock().unwrap().clone()
    }

    pub fn errors(&self) -> Vec<String> {
        self.stats.errors.lock().unwrap().clone()
    }
}

/// A gRPC message: a 0 (not compressed) flag, a 4-byte length, the bytes.
pub fn message(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload of the answer's message: the backend and the call's body,
/// nothing about the connection or the stream.
pub fn answer_for(label: &str, body: &[u8]) -> String {
    format!("backend={label} call={}\n", escape_bytes(body))
}

fn frame(kind: u8, flags: u8, stream_id: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&(stream_id & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A header field as a literal without indexing with a new name (HPACK
/// 6.2.2), no Huffman coding; names and values shorter than 127 bytes.
fn literal(name: &str, value: &str) -> Vec<u8> {
    assert!(name.len() < 127 && value.len() < 127);
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

struct Pending {
    id: u32,
    body: Vec<u8>,
    /// END_STREAM came on the HEADERS frame, whose block may still go on
    /// in CONTINUATION frames.
    ended: bool,
    headers_done: bool,
}

fn serve_connection(
    mut stream: Box<dyn Stream>,
    number: usize,
    stats: &Stats,
    label: &str,
) -> Result<(), String> {
    let mut preface = [0u8; 24];
    if stream.read_exact(&mut preface).is_err() {
        // A peer that left before saying anything.
        return Ok(());
    }
    if preface != PREFACE {
        return Err(format!("no HTTP/2 preface: {:?}", escape_bytes(&preface)));
    }
    let send = |stream: &mut Box<dyn Stream>, bytes: &[u8]| -> Result<(), String> {
        stream.write_all(bytes).map_err(|e| format!("write: {e}"))
    };
    send(&mut stream, &frame(SETTINGS, 0, 0, &[]))?;
    let mut first_block = true;
    let mut current: Option<Pending> = None;
    let mut opened: BTreeSet<u32> = BTreeSet::new();
    loop {
        let mut head = [0u8; 9];
        if stream.read_exact(&mut head).is_err() {
            // nginx closed the connection (or it stayed idle past the read
            // timeout): the connection's natural end.
            return Ok(());
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        let mut payload = vec![0u8; len];
        stream
            .read_exact(&mut payload)
            .map_err(|e| format!("frame of type {kind} cut short: {e}"))?;
        let unpadded = |payload: &[u8]| -> Result<Vec<u8>, String> {
            if flags & PADDED == 0 {
                return Ok(payload.to_vec());
            }
            let pad = *payload.first().ok_or("PADDED frame without a pad length")? as usize;
            if 1 + pad > payload.len() {
                return Err("padding longer than the frame".into());
            }
            Ok(payload[1..payload.len() - pad].to_vec())
        };
        let mut respond = None;
        match kind {
            SETTINGS if flags & ACK == 0 => send(&mut stream, &frame(SETTINGS, ACK, 0, &[]))?,
            PING if flags & ACK == 0 => send(&mut stream, &frame(PING, ACK, 0, &payload))?,
            HEADERS => {
                if current.is_some() {
                    return Err(format!(
                        "stream {id} opened while another call is open (nginx does not multiplex)"
                    ));
                }
                if !opened.insert(id) || id % 2 == 0 {
                    return Err(format!("HEADERS for stream {id}, reused or even"));
                }
                // The block itself is not read (see the module comment),
                // only checked for sane padding.
                unpadded(&payload)?;
                let pending = Pending {
                    id,
                    body: Vec::new(),
                    ended: flags & END_STREAM != 0,
                    headers_done: flags & END_HEADERS != 0,
                };
                if pending.ended && pending.headers_done {
                    respond = Some(pending);
                } else {
                    current = Some(pending);
                }
            }
            CONTINUATION => {
                let Some(p) = current.as_mut().filter(|p| p.id == id && !p.headers_done) else {
                    return Err(format!("CONTINUATION for stream {id} out of place"));
                };
                p.headers_done = flags & END_HEADERS != 0;
                if p.ended && p.headers_done {
                    respond = current.take();
                }
            }
            DATA => {
                let data = unpadded(&payload)?;
                let Some(p) = current.as_mut().filter(|p| p.id == id && p.headers_done) else {
                    return Err(format!("DATA for stream {id}, which is not open"));
                };
                p.body.extend_from_slice(&data);
                if !payload.is_empty() {
                    // Give the connection's window back (each call is small,
                    // so the stream's own window never runs out).
                    let inc = (payload.len() as u32).to_be_bytes();
                    send(&mut stream, &frame(WINDOW_UPDATE, 0, 0, &inc))?;
                }
                if flags & END_STREAM != 0 {
                    respond = current.take();
                }
            }
            RST_STREAM if current.as_ref().is_some_and(|p| p.id == id) => current = None,
            GOAWAY => return Ok(()),
            _ => {}
        }
        let Some(call) = respond else {
            continue;
        };
        stats.requests.fetch_add(1, Ordering::SeqCst);
        stats.seen.lock().unwrap().push(Call {
            connection: number,
            stream_id: call.id,
            body: call.body.clone(),
        });
        let mut block = Vec::new();
        if first_block {
            // Dynamic table size update to 0, as nginx's SETTINGS ask.
            block.push(0x20);
            first_block = false;
        }
        // :status 200 is static table entry 8.
        block.push(0x88);
        // content-type (static entry 31) as a literal without indexing:
        // 4-bit prefix 15, then 16.
        block.extend_from_slice(&[0x0f, 0x10, 16]);
        block.extend_from_slice(b"application/grpc");
        let mut answer = frame(HEADERS, END_HEADERS, call.id, &block);
        let body = message(answer_for(label, &call.body).as_bytes());
        answer.extend(frame(DATA, 0, call.id, &body));
        answer.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            call.id,
            &literal("grpc-status", "0"),
        ));
        send(&mut stream, &answer)?;
    }
}
