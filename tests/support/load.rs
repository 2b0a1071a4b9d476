//! Steady traffic through httpd while a member fails, and what it saw: many users (one new
//! connection and no cookie per request, at a fixed rate, each request on its own thread so
//! that a hung one delays nobody else) and one sticky user (one request after another with
//! a route cookie). The failure tests and the failover benchmark both use it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A request that took longer than this counts as bad, as a failed one does.
pub const SLOW: Duration = Duration::from_secs(1);

/// Requests a second of the sticky user: one every half second, a person clicking through
/// a page that also fetches a little data. Not the many users' rate: with
/// `lbmethod=byrequests`, httpd counts sticky requests in the balance, so one heavy sticky
/// user would push every new user onto the other member.
pub const STICKY_RATE: u32 = 2;

/// How long one request may take before the client gives up (longer than any timeout the
/// configs under test set, so that httpd's answer is what is measured).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// One request's outcome.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was sent, from the start of the load.
    pub start: Duration,
    pub latency: Duration,
    /// None for a connection or read error.
    pub status: Option<u16>,
    /// The member that answered (the backend's `X-Route`).
    pub route: Option<String>,
    pub sticky: bool,
}

impl Sample {
    pub fn ok(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Failed, or answered but slower than `SLOW`.
    pub fn bad(&self) -> bool {
        !self.ok() || self.latency > SLOW
    }

    pub fn end(&self) -> Duration {
        self.start + self.latency
    }
}

/// Traffic in progress; `finish` stops it and waits for every answer.
pub struct Load {
    pub started: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `rate` requests a second from many users to `path`, plus one sticky user
    /// sending `sticky_cookie` (if given) one request after another, `STICKY_RATE` a second.
    pub fn start(addr: SocketAddr, path: &str, rate: u32, sticky_cookie: Option<&str>) -> Self {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let sticky_period = Duration::from_secs_f64(1.0 / f64::from(STICKY_RATE));
        let mut threads = Vec::new();
        {
            let (stop, samples, path) = (stop.clone(), samples.clone(), path.to_owned());
            threads.push(std::thread::spawn(move || {
                let mut requests = Vec::new();
                let mut n: u32 = 0;
                while !stop.load(Ordering::Relaxed) {
                    let due = period * n;
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    let (samples, path) = (samples.clone(), format!("{path}?user={n}"));
                    requests.push(std::thread::spawn(move || {
                        let sample = exchange(addr, &path, None, started);
                        lock(&samples).push(sample);
                    }));
                    n += 1;
                }
                for r in requests {
                    let _ = r.join();
                }
            }));
        }
        if let Some(cookie) = sticky_cookie {
            let (stop, samples, path) = (stop.clone(), samples.clone(), path.to_owned());
            let cookie = cookie.to_owned();
            threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let sample = exchange(addr, &path, Some(&cookie), started);
                    lock(&samples).push(sample);
                    std::thread::sleep(sticky_period);
                }
            }));
        }
        Self {
            started,
            stop,
            samples,
            threads,
        }
    }

    /// `connections` clients that each keep one connection open and send a request every
    /// `pause` (browsers, API clients): a graceful restart closes idle kept-alive
    /// connections, which is what a new-connection-per-request load cannot see. A request
    /// whose connection is closed under it counts as failed (a client that retries it may
    /// not notice); the client then opens a new connection.
    pub fn keepalive(addr: SocketAddr, path: &str, connections: usize, pause: Duration) -> Self {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..connections)
            .map(|_| {
                let (stop, samples, path) = (stop.clone(), samples.clone(), path.to_owned());
                std::thread::spawn(move || {
                    let mut conn: Option<BufReader<TcpStream>> = None;
                    while !stop.load(Ordering::Relaxed) {
                        let start = started.elapsed();
                        let sent = Instant::now();
                        let answer = keepalive_exchange(&mut conn, addr, &path);
                        if answer.is_err() {
                            conn = None;
                        }
                        let (status, route) = match answer {
                            Ok((s, r)) => (Some(s), r),
                            Err(_) => (None, None),
                        };
                        lock(&samples).push(Sample {
                            start,
                            latency: sent.elapsed(),
                            status,
                            route,
                            sticky: false,
                        });
                        std::thread::sleep(pause);
                    }
                })
            })
            .collect();
        Self {
            started,
            stop,
            samples,
            threads,
        }
    }

    /// Time since the load started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops sending, waits for every request in flight, and returns all samples by start.
    pub fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let mut all = std::mem::take(&mut *lock(&self.samples));
        all.sort_by_key(|s| s.start);
        all
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One GET on a new connection, closed after the answer.
fn exchange(addr: SocketAddr, path: &str, cookie: Option<&str>, origin: Instant) -> Sample {
    let start = origin.elapsed();
    let sent = Instant::now();
    let answer = (|| -> std::io::Result<(u16, Option<String>)> {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
        if let Some(c) = cookie {
            head.push_str(&format!("Cookie: {c}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let head = text.split("\r\n\r\n").next().unwrap_or("");
        let status = head
            .lines()
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or(std::io::ErrorKind::InvalidData)?;
        let route = head.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("x-route")
                .then(|| value.trim().to_owned())
        });
        Ok((status, route))
    })();
    let latency = sent.elapsed();
    let (status, route) = match answer {
        Ok((s, r)) => (Some(s), r),
        Err(_) => (None, None),
    };
    Sample {
        start,
        latency,
        status,
        route,
        sticky: cookie.is_some(),
    }
}

/// Runs `change` 1 s into traffic from 16 keep-alive clients (a request every 10 ms each)
/// and 1.5 s after it; returns how many requests were sent and how many failed.
pub fn keepalive_outcome(addr: SocketAddr, change: impl FnOnce()) -> (usize, usize) {
    let load = Load::keepalive(addr, "/app/", 16, Duration::from_millis(10));
    std::thread::sleep(Duration::from_secs(1));
    change();
    std::thread::sleep(Duration::from_millis(1500));
    let samples = load.finish();
    let failed = samples.iter().filter(|s| !s.ok()).count();
    (samples.len(), failed)
}

/// One GET on the kept connection (opening one if there is none); closes it when the
/// server says so.
fn keepalive_exchange(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: SocketAddr,
    path: &str,
) -> std::io::Result<(u16, Option<String>)> {
    if conn.is_none() {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
        stream.set_nodelay(true)?;
        *conn = Some(BufReader::new(stream));
    }
    let reader = conn.as_mut().expect("connected just above");
    reader
        .get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())?;
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let (mut length, mut close, mut route) = (0usize, false, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                "x-route" => route = Some(value.to_owned()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if close {
        *conn = None;
    }
    Ok((status, route))
}

/// What one group of requests (the many users, or the sticky one) saw.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub requests: usize,
    pub failed: usize,
    /// Answered 2xx, but slower than `SLOW`.
    pub slow: usize,
    pub worst: Duration,
}

impl Tally {
    pub fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Self {
        let mut t = Tally::default();
        for s in samples {
            t.requests += 1;
            if !s.ok() {
                t.failed += 1;
            } else if s.latency > SLOW {
                t.slow += 1;
            }
            t.worst = t.worst.max(s.latency);
        }
        t
    }

    /// Failed or slower than `SLOW`.
    pub fn bad(&self) -> usize {
        self.failed + self.slow
    }
}

/// The outcome of one failure: the member `bad_route` failed at `fault` and was restored
/// at `restore` (both from the start of the load).
#[derive(Clone, Debug)]
pub struct Report {
    pub many: Tally,
    pub sticky: Tally,
    /// From the failure to the start of the last many-user request that still met the bad
    /// member (answered by it, failed, or slow) before it was restored; None if none did.
    pub contained_after: Option<Duration>,
    /// Share of the many users' answers that came from the bad member while it was bad.
    pub bad_member_share: f64,
    /// From the restore to the start of the first request the member answered again.
    pub back_after: Option<Duration>,
    /// The member that answered the sticky user's last request before the restore.
    pub sticky_last_route: Option<String>,
}

impl Report {
    pub fn of(samples: &[Sample], bad_route: &str, fault: Duration, restore: Duration) -> Self {
        let during = |s: &&Sample| s.start >= fault && s.start < restore;
        let from_bad = |s: &Sample| s.route.as_deref() == Some(bad_route);
        let many_during: Vec<&Sample> = samples
            .iter()
            .filter(|s| !s.sticky)
            .filter(during)
            .collect();
        let answered = many_during.iter().filter(|s| s.ok()).count();
        let answered_by_bad = many_during.iter().filter(|s| s.ok() && from_bad(s)).count();
        Report {
            many: Tally::of(samples.iter().filter(|s| !s.sticky)),
            sticky: Tally::of(samples.iter().filter(|s| s.sticky)),
            contained_after: many_during
                .iter()
                .filter(|s| s.bad() || from_bad(s))
                .map(|s| s.start - fault)
                .max(),
            bad_member_share: if answered == 0 {
                0.0
            } else {
                answered_by_bad as f64 / answered as f64
            },
            back_after: samples
                .iter()
                .filter(|s| s.start >= restore && s.ok() && from_bad(s))
                .map(|s| s.start - restore)
                .min(),
            sticky_last_route: samples
                .iter()
                .rfind(|s| s.sticky && s.end() < restore)
                .and_then(|s| s.route.clone()),
        }
    }
}
