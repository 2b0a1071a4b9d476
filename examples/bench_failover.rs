//! Failover benchmark (not a test): steady load through a real httpd and a merged modproxy
//! config to two backend processes; one is killed part way and restarted later. Prints
//! requests, non-2xx, socket errors, time until errors stop after the kill, time until the
//! restarted member serves again, and throughput against the same load sent straight to
//! one backend. Run it with `scripts/bench-failover` (see docs/failover.md).
//!
//! ```text
//! bench_failover [--seconds 20] [--connections 16] [--health-interval N] [--json FILE]
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use modproxy::apache::{Installation, Wrapper};

struct Args {
    seconds: u64,
    connections: usize,
    health_interval: Option<u32>,
    extra_json: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        seconds: 20,
        connections: 16,
        health_interval: None,
        extra_json: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse().map_err(|_| "bad --seconds")?,
            "--connections" => a.connections = value()?.parse().map_err(|_| "bad --connections")?,
            "--health-interval" => {
                a.health_interval = Some(value()?.parse().map_err(|_| "bad --health-interval")?)
            }
            "--json" => a.extra_json = Some(value()?),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.seconds < 10 {
        return Err("--seconds must be at least 10".into());
    }
    Ok(a)
}

/// One request's outcome, in milliseconds since the load started.
#[derive(Clone, Copy)]
struct Sample {
    at_ms: u64,
    outcome: Outcome,
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Ok { backend_b: bool },
    Status(u16),
    SocketError,
}

struct Backend {
    child: Child,
    port: u16,
}

fn backend_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name("backend")
}

fn start_backend(route: &str, port: u16) -> Backend {
    let mut child = Command::new(backend_binary())
        .args(["--route", route, "--port", &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start backend (build it with cargo build --release --examples)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    Backend { child, port }
}

fn modproxy_binary() -> PathBuf {
    // examples live in target/<profile>/examples; the tool in target/<profile>.
    let exe = std::env::current_exe().expect("own path");
    exe.parent().unwrap().parent().unwrap().join("modproxy")
}

fn run_modproxy(dir: &Path, args: &[&str]) {
    let out = Command::new(modproxy_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run modproxy (build it with cargo build --release)");
    assert!(
        out.status.success(),
        "modproxy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends GETs on one keep-alive connection (reconnecting as needed) until `stop`.
fn load_worker(addr: SocketAddr, path: &str, start: Instant, stop: Arc<AtomicBool>) -> Vec<Sample> {
    let mut samples = Vec::with_capacity(100_000);
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match TcpStream::connect(addr) {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
                    let r = BufReader::new(s.try_clone().unwrap());
                    conn = Some((s, r));
                }
                Err(_) => {
                    samples.push(Sample {
                        at_ms: start.elapsed().as_millis() as u64,
                        outcome: Outcome::SocketError,
                    });
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
        }
        let (stream, reader) = conn.as_mut().unwrap();
        let result = stream
            .write_all(request.as_bytes())
            .and_then(|_| read_response(reader));
        let at_ms = start.elapsed().as_millis() as u64;
        match result {
            Ok((status, body, keep)) => {
                let outcome = if (200..300).contains(&status) {
                    Outcome::Ok {
                        backend_b: body.starts_with("route=b "),
                    }
                } else {
                    Outcome::Status(status)
                };
                samples.push(Sample { at_ms, outcome });
                if !keep {
                    conn = None;
                }
            }
            Err(_) => {
                samples.push(Sample {
                    at_ms,
                    outcome: Outcome::SocketError,
                });
                conn = None;
            }
        }
    }
    samples
}

/// Reads one response: status, body, and whether the connection stays open.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, String, bool)> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let mut length = 0usize;
    let mut keep = true;
    let mut chunked = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().unwrap_or(0),
            "connection" => keep = !value.trim().eq_ignore_ascii_case("close"),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim(), 16)
                .map_err(|_| std::io::ErrorKind::InvalidData)?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), keep))
}

/// Drives `connections` workers for `seconds`, calling `during(elapsed)` every 10 ms
/// from the main thread (to kill/restart backends on schedule).
fn drive(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    seconds: u64,
    mut during: impl FnMut(Duration),
) -> (Vec<Sample>, Duration) {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let stop = stop.clone();
            let path = path.to_owned();
            std::thread::spawn(move || load_worker(addr, &path, start, stop))
        })
        .collect();
    let total = Duration::from_secs(seconds);
    while start.elapsed() < total {
        during(start.elapsed());
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed();
    let mut all: Vec<Sample> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    all.sort_by_key(|s| s.at_ms);
    (all, elapsed)
}

fn rps(samples: &[Sample], elapsed: Duration) -> f64 {
    let ok = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Ok { .. }))
        .count();
    ok as f64 / elapsed.as_secs_f64()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_failover: {e}");
            std::process::exit(2);
        }
    };
    let install = Installation::find().unwrap_or_else(|e| {
        eprintln!("bench_failover: {e:#}");
        std::process::exit(1);
    });
    let dir = tempfile::Builder::new().prefix("bench-").tempdir().unwrap();
    let mut json = String::from(r#"{"name":"app","contextRoot":"/app""#);
    if let Some(i) = args.health_interval {
        json.push_str(&format!(
            r#","healthCheck":{{"uri":"/health","interval":{i}}}"#
        ));
    }
    if let Some(extra) = &args.extra_json {
        json.push(',');
        json.push_str(extra);
    }
    json.push('}');
    std::fs::write(dir.path().join("modproxy.json"), &json).unwrap();

    let a = start_backend("a", 0);
    let mut b = start_backend("b", 0);
    for (route, port) in [("a", a.port), ("b", b.port)] {
        run_modproxy(
            dir.path(),
            &[
                "generate",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--route",
                route,
                "-o",
                &format!("{route}.conf"),
            ],
        );
    }
    run_modproxy(
        dir.path(),
        &["merge", "-balancer", "-o", "App.conf", "a.conf", "b.conf"],
    );
    let conf = dir.path().join("App.conf");
    let members: Vec<String> = std::fs::read_to_string(&conf)
        .unwrap()
        .lines()
        .filter(|l| l.trim_start().starts_with("BalancerMember"))
        .map(|l| l.trim().to_owned())
        .collect();

    let wrapper = Wrapper::new(&install, &conf).unwrap();
    wrapper.syntax_check().unwrap();
    let httpd = wrapper.start().unwrap();
    let steady = args.seconds.min(10) / 2;

    // 1. The same load straight to one backend, then through httpd with both members up.
    let direct_addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let (direct, direct_time) = drive(direct_addr, "/app/", args.connections, steady, |_| {});
    let (proxied, proxied_time) = drive(httpd.addr(), "/app/", args.connections, steady, |_| {});

    // 2. Failover: kill b at 1/4 of the run, restart it at 1/2.
    let kill_at = Duration::from_secs(args.seconds / 4);
    let restart_at = Duration::from_secs(args.seconds / 2);
    let mut killed = false;
    let mut restarted = false;
    let b_port = b.port;
    let (run, run_time) = drive(httpd.addr(), "/app/", args.connections, args.seconds, |t| {
        if !killed && t >= kill_at {
            let _ = b.child.kill();
            let _ = b.child.wait();
            killed = true;
        }
        if !restarted && t >= restart_at {
            b = start_backend("b", b_port);
            restarted = true;
        }
    });
    drop(httpd);
    let mut a = a;
    let _ = a.child.kill();
    let _ = b.child.kill();

    let kill_ms = kill_at.as_millis() as u64;
    let restart_ms = restart_at.as_millis() as u64;
    let errors = |s: &Sample| !matches!(s.outcome, Outcome::Ok { .. });
    let non2xx = run
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Status(_)))
        .count();
    let sock = run
        .iter()
        .filter(|s| s.outcome == Outcome::SocketError)
        .count();
    let last_error_after_kill = run
        .iter()
        .filter(|s| s.at_ms >= kill_ms && errors(s))
        .map(|s| s.at_ms - kill_ms)
        .max();
    let errors_before_kill = run
        .iter()
        .filter(|s| s.at_ms < kill_ms && errors(s))
        .count();
    let b_back = run
        .iter()
        .find(|s| s.at_ms >= restart_ms && s.outcome == (Outcome::Ok { backend_b: true }))
        .map(|s| s.at_ms - restart_ms);
    let b_while_down = run
        .iter()
        .filter(|s| s.at_ms > kill_ms + 100 && s.at_ms < restart_ms)
        .filter(|s| s.outcome == (Outcome::Ok { backend_b: true }))
        .count();

    let d_rps = rps(&direct, direct_time);
    let p_rps = rps(&proxied, proxied_time);
    println!("modproxy failover benchmark ({})", install.binary.display());
    println!("  app config: {json}");
    for m in &members {
        println!("  {m}");
    }
    println!(
        "  load: {} keep-alive connections, GET /app/, failover run {} s, kill b at {} s, restart b at {} s",
        args.connections,
        args.seconds,
        kill_at.as_secs(),
        restart_at.as_secs()
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| requests sent (failover run) | {} |", run.len());
    println!("| non-2xx responses | {non2xx} |");
    println!("| socket errors | {sock} |");
    println!("| errors before the kill | {errors_before_kill} |");
    println!(
        "| errors stop after the kill | {} |",
        last_error_after_kill
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_else(|| "no errors".into())
    );
    println!("| b answers while down (must be 0) | {b_while_down} |");
    println!(
        "| restarted b serves again after | {} |",
        b_back
            .map(|ms| format!("{ms} ms"))
            .unwrap_or_else(|| "never (within the run)".into())
    );
    println!("| throughput straight to one backend | {d_rps:.0} req/s |");
    println!("| throughput through httpd, 2 members | {p_rps:.0} req/s |");
    println!("| ratio (httpd / direct) | {:.2} |", p_rps / d_rps);
    println!(
        "| failover run throughput | {:.0} req/s |",
        rps(&run, run_time)
    );
}
