//! The fault lab: a small HTTP relay on loopback that sits in front of one backend and,
//! while traffic flows, switches between passing requests and the ways real members fail.
//! The tests and the failover benchmark (`examples/bench_failover.rs`, which includes this
//! file) put a member behind it. SIGKILL and SIGSTOP of the backend process itself are in
//! `backend.rs`.
//!
//! - `Pass`: every request goes to the backend and its answer comes back.
//! - `Hang`: connections stay open and new ones are accepted, but nothing is answered
//!   (a deadlocked app, a full thread pool, a GC pause).
//! - `Vanish`: nothing is answered and new connections are never accepted: the listener's
//!   accept queue is filled, so the kernel leaves their SYNs unanswered (a host that lost
//!   power or its network; no reset ever comes back).
//! - `Reset`: open connections are reset and new ones are reset as soon as they arrive.
//! - `Slow(d)`: every answer is delayed by `d`.
//! - `Sick(code)`: every request, health probes included, is answered with `code`.
//!
//! No kernel feature beyond plain sockets is needed (this machine has no dummy links and
//! no tc qdiscs, and the tests do not need root).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// How the relayed member behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Hang,
    Vanish,
    Reset,
    Slow(Duration),
    Sick(u16),
}

impl Fault {
    fn frozen(self) -> bool {
        matches!(self, Fault::Hang | Fault::Vanish)
    }
}

struct State {
    fault: Fault,
    /// Client sides of the open connections, to reset them on `Reset`.
    open: Vec<TcpStream>,
    /// Our own connections that fill the accept queue while `Vanish` holds.
    fillers: Vec<TcpStream>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    backend: SocketAddr,
    addr: SocketAddr,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits while the member is frozen; returns the fault in force afterwards.
    fn wait_thawed(&self) -> Fault {
        let mut state = self.lock();
        while state.fault.frozen() && !self.stop.load(Ordering::Relaxed) {
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(200))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        state.fault
    }
}

/// A relay in front of one backend; dropping it closes every connection it holds.
pub struct FaultRelay {
    pub port: u16,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultRelay {
    /// Listens on a free loopback port and relays to `127.0.0.1:backend_port`.
    pub fn start(backend_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("the fault relay binds a port");
        // A short accept queue, so that `Vanish` can fill it with a few connections.
        // SAFETY: listen(2) on a socket we own; calling it again only changes the backlog.
        let rc = unsafe { libc::listen(listener.as_raw_fd(), 1) };
        assert_eq!(rc, 0, "listen() on the fault relay's socket");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the relay's address");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                fault: Fault::Pass,
                open: Vec::new(),
                fillers: Vec::new(),
            }),
            changed: Condvar::new(),
            backend: SocketAddr::from(([127, 0, 0, 1], backend_port)),
            addr,
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, shared))
        };
        Self {
            port: addr.port(),
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Switches the fault; takes effect for every connection at its next request or answer.
    pub fn set(&self, fault: Fault) {
        let mut state = self.shared.lock();
        let before = state.fault;
        state.fault = fault;
        if before == Fault::Vanish && fault != Fault::Vanish {
            // Our fillers leave the queue; the acceptor takes and drops them.
            state.fillers.clear();
        }
        if fault == Fault::Reset {
            for conn in state.open.drain(..) {
                reset(&conn);
            }
        }
        if fault == Fault::Vanish && before != Fault::Vanish {
            // The acceptor stops taking connections; fill the queue so that the kernel
            // drops new SYNs (it accepts at most backlog + 1 before it does).
            for _ in 0..64 {
                match TcpStream::connect_timeout(&self.shared.addr, Duration::from_millis(100)) {
                    Ok(s) => state.fillers.push(s),
                    Err(_) => break,
                }
            }
        }
        drop(state);
        self.shared.changed.notify_all();
    }
}

impl Drop for FaultRelay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let mut state = self.shared.lock();
            state.fillers.clear();
            for conn in state.open.drain(..) {
                let _ = conn.shutdown(Shutdown::Both);
            }
        }
        self.shared.changed.notify_all();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

/// Sends a reset instead of an orderly close: SO_LINGER 0, then wake the connection's
/// reader, whose thread then closes the socket.
fn reset(conn: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) with a valid option struct of the right size on our socket.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = conn.shutdown(Shutdown::Read);
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        let fault = shared.lock().fault;
        if fault == Fault::Vanish {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        match listener.accept() {
            Ok((conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_nodelay(true);
                if fault == Fault::Reset {
                    reset(&conn);
                    continue;
                }
                if let Ok(clone) = conn.try_clone() {
                    let mut state = shared.lock();
                    state.open.retain(|c| c.peer_addr().is_ok());
                    state.open.push(clone);
                }
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = relay(conn, &shared);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// One HTTP message head plus its body, as bytes to forward.
struct Message {
    bytes: Vec<u8>,
    close: bool,
}

/// Reads one message: the head up to the blank line, then a `Content-Length` body (or, for
/// an answer without one, everything until the peer closes). None at a clean end.
fn read_message(
    reader: &mut BufReader<TcpStream>,
    is_answer: bool,
) -> std::io::Result<Option<Message>> {
    let mut bytes = Vec::new();
    let mut first = String::new();
    if reader.read_line(&mut first)? == 0 {
        return Ok(None);
    }
    bytes.extend_from_slice(first.as_bytes());
    let mut length = None;
    let mut close = first.ends_with("HTTP/1.0\r\n");
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes.extend_from_slice(line.as_bytes());
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        let (name, value) = trimmed.split_once(':').unwrap_or((trimmed, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    match length {
        Some(n) => {
            let start = bytes.len();
            bytes.resize(start + n, 0);
            reader.read_exact(&mut bytes[start..])?;
        }
        None if is_answer => {
            reader.read_to_end(&mut bytes)?;
            close = true;
        }
        None => {}
    }
    Ok(Some(Message { bytes, close }))
}

/// Serves one client connection until it closes or is reset.
fn relay(client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let mut backend: Option<(TcpStream, BufReader<TcpStream>)> = None;
    loop {
        let Some(request) = read_message(&mut from_client, false)? else {
            return Ok(());
        };
        let fault = shared.wait_thawed();
        if shared.stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let answer = match fault {
            Fault::Reset => {
                reset(&to_client);
                return Ok(());
            }
            Fault::Sick(code) => {
                let body = "sick\n";
                format!(
                    "HTTP/1.1 {code} Sick\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            Fault::Slow(delay) => {
                std::thread::sleep(delay);
                forward(&mut backend, shared.backend, &request, &to_client)?
            }
            _ => forward(&mut backend, shared.backend, &request, &to_client)?,
        };
        // A fault that began while the backend answered holds the answer back too.
        if shared.wait_thawed() == Fault::Reset {
            reset(&to_client);
            return Ok(());
        }
        to_client.write_all(&answer)?;
        if request.close {
            return Ok(());
        }
    }
}

/// Sends the request to the backend (connecting on first use) and returns its answer. A
/// backend that is gone resets the client, as a dead member's host would.
fn forward(
    backend: &mut Option<(TcpStream, BufReader<TcpStream>)>,
    addr: SocketAddr,
    request: &Message,
    client: &TcpStream,
) -> std::io::Result<Vec<u8>> {
    let attempt = |backend: &mut Option<(TcpStream, BufReader<TcpStream>)>| {
        if backend.is_none() {
            let conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            let _ = conn.set_nodelay(true);
            let reader = BufReader::new(conn.try_clone()?);
            *backend = Some((conn, reader));
        }
        let (conn, reader) = backend.as_mut().expect("connected just above");
        conn.write_all(&request.bytes)?;
        read_message(reader, true)?
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
    };
    let answer = match attempt(backend) {
        Ok(a) => a,
        Err(_) => {
            // A kept-alive backend connection may have been closed by the backend; one
            // fresh connection decides.
            *backend = None;
            match attempt(backend) {
                Ok(a) => a,
                Err(e) => {
                    reset(client);
                    return Err(e);
                }
            }
        }
    };
    if answer.close {
        *backend = None;
    }
    Ok(answer.bytes)
}
