//! The accept loop the protocol backends share (FastCGI, memcached, gRPC):
//! a listener on a loopback TCP port or a unix socket, served by a thread
//! that counts every accepted connection and hands it, numbered, to the
//! protocol's handler on a thread of its own. Connection counts are what
//! the pooling tests measure, so they are counted here, once, the same way
//! for every protocol: at `accept`, before a byte is read.
//!
//! Each connection gets a read timeout, so a peer that stops talking (or a
//! test that forgets to stop nginx) cannot hang a test. Stopped when
//! dropped: the accept loop is woken with a connection of its own, which is
//! not counted. [`AcceptLoop`] is that thread and its stopping, shared with
//! the HTTP backends (`backend.rs`). [`Recorder`] is what each protocol's
//! server is: a label, its record, and this loop; a protocol brings only
//! how it serves a connection ([`Speaks`]).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::backend::Listener;

/// How long a backend waits for the next bytes from nginx. Long enough for
/// an idle pooled connection between two requests of a test, short enough
/// that a stuck peer fails the test instead of hanging it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection a backend serves: TCP or a unix socket.
pub trait Stream: Read + Write + Send {
    /// Closes our side for writing (a FIN), so that the peer sees the end
    /// of the stream at once, even while a clone of the socket is open.
    fn shutdown_write(&self);
}

impl Stream for TcpStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

impl Stream for UnixStream {
    fn shutdown_write(&self) {
        let _ = self.shutdown(std::net::Shutdown::Write);
    }
}

/// The handler of one connection: the stream and the connection's number
/// (0 for the first accepted, in order of acceptance).
pub type Handler = dyn Fn(Box<dyn Stream>, usize) + Send + Sync;

/// A thread accepting connections on a listener until dropped. The
/// accept blocks (no polling delay on new connections); dropping sets the
/// stop flag and wakes the accept with a connection of its own, which is
/// not handed on, then joins the thread and removes a unix socket.
pub struct AcceptLoop {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    wake: Wake,
}

enum Wake {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl AcceptLoop {
    /// Accepts with `accept` and hands every connection to `each`; a
    /// failed accept is retried after a short pause.
    pub fn spawn<C: 'static>(
        listener: Listener,
        accept: impl Fn(&Listener) -> std::io::Result<C> + Send + 'static,
        mut each: impl FnMut(C) + Send + 'static,
    ) -> AcceptLoop {
        let wake = match &listener {
            Listener::Tcp(l) => Wake::Tcp(l.local_addr().expect("a bound listener has an address")),
            Listener::Unix(_, path) => Wake::Unix(path.clone()),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let thread = std::thread::spawn(move || loop {
            let accepted = accept(&listener);
            if st.load(Ordering::SeqCst) {
                break;
            }
            match accepted {
                Ok(conn) => each(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        });
        AcceptLoop {
            stop,
            thread: Some(thread),
            wake,
        }
    }
}

impl Drop for AcceptLoop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        match &self.wake {
            Wake::Tcp(addr) => drop(TcpStream::connect(addr)),
            Wake::Unix(path) => drop(UnixStream::connect(path)),
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Wake::Unix(path) = &self.wake {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub struct Server {
    /// The TCP port (0 for a unix socket).
    pub port: u16,
    /// The unix socket's path, for `unix:PATH` targets.
    pub path: Option<PathBuf>,
    connections: Arc<AtomicUsize>,
    _accepting: AcceptLoop,
}

impl Server {
    /// Serves `listener`, each connection on its own thread with `handler`.
    pub fn serve(listener: Listener, handler: Arc<Handler>) -> Server {
        let (port, path) = match &listener {
            Listener::Tcp(l) => (
                l.local_addr()
                    .expect("a bound listener has an address")
                    .port(),
                None,
            ),
            Listener::Unix(_, path) => (0, Some(path.clone())),
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let count = connections.clone();
        let accepting = AcceptLoop::spawn(listener, accept, move |stream| {
            let number = count.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            std::thread::spawn(move || handler(stream, number));
        });
        Server {
            port,
            path,
            connections,
            _accepting: accepting,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The address as nginx's `*_pass` directives name it:
    /// `127.0.0.1:PORT` or `unix:PATH`.
    pub fn address(&self) -> String {
        match &self.path {
            Some(path) => format!("unix:{}", path.display()),
            None => format!("127.0.0.1:{}", self.port),
        }
    }
}

/// What a protocol's test server records (its requests, its errors) and
/// how it serves one connection into that record.
pub trait Speaks: Send + Sync + 'static {
    /// Serves connection `number` (0 for the first accepted) of the
    /// server called `label`.
    fn serve_connection(&self, stream: Box<dyn Stream>, number: usize, label: &str);
}

/// A protocol's test server: its label, what it recorded, and the accept
/// loop that counts its connections. Each protocol adds its own questions
/// about the record (`impl Recorder<fastcgi::Stats>`, ...).
pub struct Recorder<S> {
    pub label: String,
    pub stats: Arc<S>,
    server: Server,
}

impl<S: Speaks + Default> Recorder<S> {
    /// A server on a free 127.0.0.1 port.
    pub fn start(label: &str) -> Recorder<S> {
        Recorder::on(Listener::loopback(), label)
    }

    /// A server on the unix socket `path`.
    pub fn start_unix(label: &str, path: &Path) -> Recorder<S> {
        Recorder::on(Listener::unix(path).expect("bind a unix socket"), label)
    }

    /// A server on `listener`, starting with an empty record.
    pub fn on(listener: Listener, label: &str) -> Recorder<S> {
        Recorder::with(listener, label, S::default())
    }
}

impl<S: Speaks> Recorder<S> {
    /// A server on `listener` that records into `stats` (which may also
    /// hold how it behaves).
    pub fn with(listener: Listener, label: &str, stats: S) -> Recorder<S> {
        let stats = Arc::new(stats);
        let (s, l) = (stats.clone(), label.to_string());
        let server = Server::serve(
            listener,
            Arc::new(move |stream, number| s.serve_connection(stream, number, &l)),
        );
        Recorder {
            label: label.to_string(),
            stats,
            server,
        }
    }

    /// `127.0.0.1:PORT` or `unix:PATH`, as the `*_pass` directives name it.
    pub fn address(&self) -> String {
        self.server.address()
    }

    pub fn connections(&self) -> usize {
        self.server.connections()
    }
}

fn accept(listener: &Listener) -> std::io::Result<Box<dyn Stream>> {
    match listener {
        Listener::Tcp(l) => {
            let (stream, _) = l.accept()?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(READ_TIMEOUT))?;
            Ok(Box::new(stream))
        }
        Listener::Unix(l, _) => {
            let (stream, _) = l.accept()?;
            stream.set_read_timeout(Some(READ_TIMEOUT))?;
            Ok(Box::new(stream))
        }
    }
}
