//! Failover benchmark (not a test): how a merged modproxy config on a real httpd contains
//! each way a member fails. Two backend processes, a and b; b fails after a few seconds of
//! steady traffic (many users at a fixed rate, plus one sticky user whose session is on b)
//! and is restored some seconds later. One table per config set, one row per failure
//! mode; then the throughput ratio to one backend and httpd's CPU per request against a
//! minimal hand-written config. Run it with `scripts/bench-failover` (docs/failover.md).
//!
//! ```text
//! bench_failover [--modes crash,stop,hang,vanish,reset,slow,sick,flap]
//!                [--configs defaults,recommended,v0.1] [--fault-seconds 12] [--rate 10]
//!                [--cost-runs 5] [--cost-requests 40000] [--no-cost | --cost-only]
//!                [--cost-without TEXT]... [--verbose]
//! ```

#[allow(dead_code)]
#[path = "../tests/support/backend.rs"]
mod backend;
mod common;
#[allow(dead_code)]
#[path = "../tests/support/fault.rs"]
mod fault;
#[allow(dead_code)]
#[path = "../tests/support/load.rs"]
mod load;
#[path = "../tests/support/process.rs"]
#[allow(dead_code)]
mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backend::Backend;
use common::run_modproxy;
use fault::{Fault, FaultRelay};
use load::{Load, Report};
use modproxy::httpd::{Installation, Running, Wrapper};

/// The failure modes, as the issue and docs/failover.md name them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// SIGKILL of the backend process; started again at the restore.
    Crash,
    /// SIGSTOP of the backend process; SIGCONT at the restore.
    Stop,
    Hang,
    Vanish,
    Reset,
    /// Every answer 2 s late.
    Slow,
    /// Every answer, health probes included, a 503.
    Sick,
    /// Killed and started again every 2 s while the fault lasts.
    Flap,
}

const MODES: &[(&str, Mode)] = &[
    ("crash", Mode::Crash),
    ("stop", Mode::Stop),
    ("hang", Mode::Hang),
    ("vanish", Mode::Vanish),
    ("reset", Mode::Reset),
    ("slow", Mode::Slow),
    ("sick", Mode::Sick),
    ("flap", Mode::Flap),
];

impl Mode {
    fn name(self) -> &'static str {
        MODES
            .iter()
            .find(|m| m.1 == self)
            .map(|m| m.0)
            .unwrap_or("?")
    }

    /// The relay's fault for the modes that need one (the others act on the process).
    fn relay_fault(self) -> Option<Fault> {
        match self {
            Mode::Hang => Some(Fault::Hang),
            Mode::Vanish => Some(Fault::Vanish),
            Mode::Reset => Some(Fault::Reset),
            Mode::Slow => Some(Fault::Slow(Duration::from_secs(2))),
            Mode::Sick => Some(Fault::Sick(503)),
            Mode::Crash | Mode::Stop | Mode::Flap => None,
        }
    }
}

/// A set of settings to compare: extra app-config fields and merge flags.
struct ConfigSet {
    name: &'static str,
    json: &'static str,
    merge_flags: &'static [&'static str],
    what: &'static str,
}

const CONFIGS: &[ConfigSet] = &[
    ConfigSet {
        name: "defaults",
        json: "",
        merge_flags: &[],
        what: "modproxy's defaults, plus a 1 s healthCheck and proxy-cookie affinity",
    },
    ConfigSet {
        name: "recommended",
        json: r#","timeout":5"#,
        merge_flags: &[],
        what: "the defaults with \"timeout\": 5 (docs/failover.md: the app's slowest request, with margin)",
    },
    ConfigSet {
        name: "v0.1",
        json: r#","timeout":30,"retry":5,"failOnTimeout":false,"failOnStatus":[]"#,
        merge_flags: &["--lbmethod", "byrequests"],
        what: "modproxy 0.1's choices: byrequests, retry 5, no failontimeout, no failonstatus, httpd's Timeout (30 s here)",
    },
];

struct Args {
    modes: Vec<Mode>,
    configs: Vec<&'static ConfigSet>,
    fault_seconds: u64,
    rate: u32,
    cost_runs: usize,
    cost_requests: usize,
    /// Compare the generated config with itself minus the lines holding these, instead of
    /// with the minimal one: what those directives cost.
    cost_without: Vec<String>,
    /// Print every bad request, to see what happened when.
    verbose: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        modes: MODES.iter().map(|m| m.1).collect(),
        configs: CONFIGS.iter().collect(),
        fault_seconds: 12,
        rate: 10,
        cost_runs: 5,
        cost_requests: 40_000,
        cost_without: Vec::new(),
        verbose: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--no-cost" {
            a.cost_runs = 0;
            continue;
        }
        if flag == "--cost-only" {
            a.modes.clear();
            a.configs.clear();
            continue;
        }
        if flag == "--verbose" {
            a.verbose = true;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("bad {what}: {value}"))
        };
        match flag.as_str() {
            "--modes" => {
                a.modes = value
                    .split(',')
                    .map(|m| {
                        MODES.iter().find(|x| x.0 == m).map(|x| x.1).ok_or(format!(
                            "unknown mode {m}; use {}",
                            MODES.iter().map(|x| x.0).collect::<Vec<_>>().join(",")
                        ))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--configs" => {
                a.configs = value
                    .split(',')
                    .map(|c| {
                        CONFIGS.iter().find(|x| x.name == c).ok_or(format!(
                            "unknown config set {c}; use {}",
                            CONFIGS.iter().map(|x| x.name).collect::<Vec<_>>().join(",")
                        ))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--fault-seconds" => a.fault_seconds = number("--fault-seconds")?.max(4),
            "--rate" => a.rate = number("--rate")?.clamp(1, 200) as u32,
            "--cost-runs" => a.cost_runs = number("--cost-runs")? as usize,
            "--cost-requests" => a.cost_requests = number("--cost-requests")?.max(1000) as usize,
            "--cost-without" => a.cost_without.push(value),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// The app's config set: modproxy.json, a and b's fragments (b's through `b_port`), App.conf.
fn write_config(dir: &Path, set: &ConfigSet, a_port: u16, b_port: u16) -> PathBuf {
    let json = format!(
        r#"{{"name":"app","contextRoot":"/app","sessionAffinity":"proxy-cookie","healthCheck":{{"uri":"/health","interval":1}}{}}}"#,
        set.json
    );
    std::fs::write(dir.join("modproxy.json"), json).expect("write modproxy.json");
    for (route, port) in [("a", a_port), ("b", b_port)] {
        common::generate(dir, route, port, &["-o", &format!("{route}.conf")]);
    }
    let mut args = vec!["merge", "-balancer", "-o", "App.conf", "a.conf", "b.conf"];
    args.extend_from_slice(set.merge_flags);
    run_modproxy(dir, &args);
    dir.join("App.conf")
}

fn start_httpd(install: &Installation, conf: &Path) -> Running {
    let wrapper = Wrapper::new(install, conf).unwrap_or_else(|e| panic!("{e:#}"));
    wrapper.syntax_check().unwrap_or_else(|e| panic!("{e:#}"));
    wrapper.start().unwrap_or_else(|e| panic!("{e:#}"))
}

/// Waits until both members have answered through httpd (health checks have passed).
fn wait_both_serve(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = (false, false);
    while Instant::now() < deadline && !(seen.0 && seen.1) {
        let load = Load::start(addr, "/app/", 20, None);
        std::thread::sleep(Duration::from_millis(300));
        for s in load.finish() {
            match s.route.as_deref() {
                Some("a") => seen.0 = true,
                Some("b") => seen.1 = true,
                _ => {}
            }
        }
    }
    assert!(seen.0 && seen.1, "both members should serve before a fault");
}

fn sleep_until(load: &Load, at: Duration) {
    if let Some(wait) = at.checked_sub(load.elapsed()) {
        std::thread::sleep(wait);
    }
}

/// One failure: b fails `warm` into the load and is restored `fault` later.
fn run_case(install: &Installation, set: &ConfigSet, mode: Mode, args: &Args) -> Report {
    let dir = tempfile::Builder::new()
        .prefix("bench-")
        .tempdir()
        .expect("temp dir");
    let a = Backend::start("a", None);
    let mut b = Backend::start("b", None);
    let relay = mode.relay_fault().map(|_| FaultRelay::start(b.port));
    let b_port = relay.as_ref().map_or(b.port, |r| r.port);
    let conf = write_config(dir.path(), set, a.port, b_port);
    let httpd = start_httpd(install, &conf);
    wait_both_serve(httpd.addr());

    let warm = Duration::from_secs(3);
    let span = Duration::from_secs(args.fault_seconds);
    let after = Duration::from_secs(6);
    let load = Load::start(httpd.addr(), "/app/", args.rate, Some("ROUTEID=.b"));
    sleep_until(&load, warm);
    let fault_at = load.elapsed();
    match (mode, &relay) {
        (Mode::Crash | Mode::Flap, _) => b.kill(),
        (Mode::Stop, _) => b.freeze(),
        (_, Some(r)) => r.set(mode.relay_fault().expect("a relay mode")),
        (_, None) => unreachable!("relay modes have a relay"),
    }
    if mode == Mode::Flap {
        // Down 2 s, up 2 s, ... ending down, so that the restore is a start.
        let mut up = false;
        let mut next = fault_at + Duration::from_secs(2);
        while next + Duration::from_secs(2) <= fault_at + span {
            sleep_until(&load, next);
            if up {
                b.kill();
            } else {
                b.restart();
            }
            up = !up;
            next += Duration::from_secs(2);
        }
        if up {
            b.kill();
        }
    }
    sleep_until(&load, fault_at + span);
    let restore_at = load.elapsed();
    match (mode, &relay) {
        (Mode::Crash | Mode::Flap, _) => b.restart(),
        (Mode::Stop, _) => b.thaw(),
        (_, Some(r)) => r.set(Fault::Pass),
        (_, None) => unreachable!(),
    }
    sleep_until(&load, restore_at + after);
    let samples = load.finish();
    if args.verbose {
        eprintln!(
            "{} / {}: fault at {fault_at:?}, restore at {restore_at:?}",
            set.name,
            mode.name()
        );
        for s in samples.iter().filter(|s| s.bad()) {
            eprintln!("  {s:?}");
        }
        let windows = [
            ("before", Duration::ZERO, fault_at),
            ("during", fault_at, restore_at),
            ("after", restore_at, Duration::MAX),
        ];
        for (name, from, to) in windows {
            let many = samples
                .iter()
                .filter(|s| !s.sticky && s.start >= from && s.start < to);
            let (mut a, mut b, mut other) = (0, 0, 0);
            for s in many {
                match s.route.as_deref() {
                    Some("a") => a += 1,
                    Some("b") => b += 1,
                    _ => other += 1,
                }
            }
            eprintln!("  new users {name} the fault: a {a}, b {b}, neither {other}");
        }
    }
    drop(httpd);
    drop(relay);
    drop((a, b));
    Report::of(&samples, "b", fault_at, restore_at)
}

fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{} ms", d.as_millis()))
        .unwrap_or_else(|| "-".into())
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

// ---- cost: throughput and httpd CPU per request -----------------------------------

/// Sends `n` GETs over keep-alive connections (a new one when httpd closes the last, as it
/// does after MaxKeepAliveRequests); returns how many were answered 2xx.
fn keepalive_requests(addr: SocketAddr, path: &str, n: usize) -> usize {
    let mut ok = 0;
    let mut sent = 0;
    let mut fresh_failures = 0;
    while sent < n && fresh_failures < 3 {
        let before = sent;
        sent += keepalive_connection(addr, path, n - sent, &mut ok);
        fresh_failures = if sent == before {
            fresh_failures + 1
        } else {
            0
        };
    }
    ok
}

/// Sends up to `n` GETs on one connection until it closes; returns how many were answered.
fn keepalive_connection(addr: SocketAddr, path: &str, n: usize, ok: &mut usize) -> usize {
    let Ok(stream) = TcpStream::connect(addr) else {
        return 0;
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(clone) = stream.try_clone() else {
        return 0;
    };
    let mut reader = BufReader::new(clone);
    let mut writer = stream;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    for answered in 0..n {
        if writer.write_all(request.as_bytes()).is_err() {
            return answered;
        }
        let mut status_line = String::new();
        if reader.read_line(&mut status_line).unwrap_or(0) == 0 {
            return answered;
        }
        let mut length = 0usize;
        let mut close = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return answered;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.trim().eq_ignore_ascii_case("close");
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return answered;
        }
        if status_line
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s.starts_with('2'))
        {
            *ok += 1;
        }
        if close {
            return answered + 1;
        }
    }
    n
}

/// `total` requests over `connections` keep-alive connections; returns (answered, seconds).
fn burst(addr: SocketAddr, path: &str, total: usize, connections: usize) -> (usize, f64) {
    let start = Instant::now();
    let per = total / connections;
    let workers: Vec<_> = (0..connections)
        .map(|_| {
            let path = path.to_owned();
            std::thread::spawn(move || keepalive_requests(addr, &path, per))
        })
        .collect();
    let ok = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    (ok, start.elapsed().as_secs_f64())
}

/// CPU seconds used so far by httpd's main process and its children (from /proc).
fn httpd_cpu(main: u32) -> f64 {
    // SAFETY: sysconf(3) has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let pid: u32 = stat
            .split(' ')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid: u32 = fields.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        if pid == main || ppid == main {
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            total += field(11) + field(12); // utime, stime
        }
    }
    total as f64 / ticks
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// A minimal hand-written balancer for the same members, loading the same modules (the
/// header line the test wrapper reads), for the CPU comparison.
fn minimal_config(dir: &Path, generated: &Path, a_port: u16, b_port: u16) -> PathBuf {
    let text = std::fs::read_to_string(generated).expect("read App.conf");
    let needs = text
        .lines()
        .find(|l| l.starts_with("# Needs Apache httpd"))
        .expect("the generated header names the modules");
    // The same lbmethod: which one to use is a choice, not overhead.
    let lbmethod = text
        .split_whitespace()
        .find(|w| w.starts_with("lbmethod="))
        .expect("the generated balancer names its lbmethod");
    let minimal = format!(
        "{needs}\n<Proxy \"balancer://app\">\n    BalancerMember \"http://127.0.0.1:{a_port}\" route=a\n    BalancerMember \"http://127.0.0.1:{b_port}\" route=b\n    ProxySet {lbmethod}\n</Proxy>\nProxyPass \"/app\" \"balancer://app/app\"\n"
    );
    let path = dir.join("minimal.conf");
    std::fs::write(&path, minimal).expect("write minimal.conf");
    path
}

fn cost(install: &Installation, args: &Args) {
    let dir = tempfile::Builder::new()
        .prefix("bench-")
        .tempdir()
        .expect("temp dir");
    let a = Backend::start("a", None);
    let b = Backend::start("b", None);
    let generated = write_config(dir.path(), &CONFIGS[0], a.port, b.port);
    let minimal = if args.cost_without.is_empty() {
        minimal_config(dir.path(), &generated, a.port, b.port)
    } else {
        let text = std::fs::read_to_string(&generated).expect("read App.conf");
        let kept: String = text
            .lines()
            .filter(|l| !args.cost_without.iter().any(|p| l.contains(p.as_str())))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = dir.path().join("without.conf");
        std::fs::write(&path, kept).expect("write without.conf");
        path
    };
    let gen_httpd = start_httpd(install, &generated);
    let min_httpd = start_httpd(install, &minimal);
    wait_both_serve(gen_httpd.addr());
    let direct: SocketAddr = ([127, 0, 0, 1], a.port).into();
    let connections = 8;
    let n = args.cost_requests;
    // Warm up every path once.
    for addr in [direct, gen_httpd.addr(), min_httpd.addr()] {
        burst(addr, "/app/", n / 10, connections);
    }
    let (mut gen_cpu, mut min_cpu, mut gen_rps, mut min_rps, mut direct_rps, mut cpu_ratio) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let measure = |httpd: &Running| {
        let pid = httpd.pid().expect("httpd runs");
        let before = httpd_cpu(pid);
        let (ok, took) = burst(httpd.addr(), "/app/", n, connections);
        let cpu = httpd_cpu(pid) - before;
        (cpu * 1e6 / ok.max(1) as f64, ok as f64 / took, ok)
    };
    for run in 0..args.cost_runs {
        // Alternate which goes first, so that drift on this shared machine hits both.
        let (g, m) = if run % 2 == 0 {
            let g = measure(&gen_httpd);
            (g, measure(&min_httpd))
        } else {
            let m = measure(&min_httpd);
            (measure(&gen_httpd), m)
        };
        let (ok, took) = burst(direct, "/app/", n, connections);
        assert!(
            g.2 == n / connections * connections && m.2 == g.2,
            "every request answered"
        );
        gen_cpu.push(g.0);
        min_cpu.push(m.0);
        cpu_ratio.push(g.0 / m.0);
        gen_rps.push(g.1);
        min_rps.push(m.1);
        direct_rps.push(ok as f64 / took);
    }
    let runs = args.cost_runs;
    println!(
        "\nCost, {runs} alternating runs of {n} keep-alive GETs over {connections} connections (median; min-max):"
    );
    let span = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        format!("{lo:.0}-{hi:.0}")
    };
    let other = if args.cost_without.is_empty() {
        "minimal hand-written".to_owned()
    } else {
        format!("without lines holding {:?}", args.cost_without)
    };
    println!("| figure | generated (defaults) | {other} | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| httpd CPU per request | {:.1} us | {:.1} us | {:.3} (runs: {}) |",
        median(gen_cpu.clone()),
        median(min_cpu.clone()),
        median(cpu_ratio.clone()),
        cpu_ratio
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "| throughput | {:.0} req/s ({}) | {:.0} req/s ({}) | {:.2} |",
        median(gen_rps.clone()),
        span(&gen_rps),
        median(min_rps.clone()),
        span(&min_rps),
        median(gen_rps.clone()) / median(min_rps.clone())
    );
    println!(
        "| throughput / straight to one backend ({:.0} req/s, {}) | {:.2} | {:.2} | |",
        median(direct_rps.clone()),
        span(&direct_rps),
        median(gen_rps.clone()) / median(direct_rps.clone()),
        median(min_rps) / median(direct_rps)
    );
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
    println!("modproxy failover benchmark ({})", install.binary.display());
    println!(
        "  load: {} new users/s (a new connection each, no cookie) + 1 sticky user of b (ROUTEID=.b, one request after another, {}/s)",
        args.rate,
        load::STICKY_RATE
    );
    println!(
        "  b fails 3 s into the load, is restored {} s later, load goes on 6 s more; bad = failed or slower than {} ms",
        args.fault_seconds,
        load::SLOW.as_millis()
    );
    for set in &args.configs {
        println!("\n### {}: {}\n", set.name, set.what);
        println!(
            "| mode | requests | failed | slow | worst | sticky: req | failed | slow | worst | on a | contained after | b's share | b back after |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for &mode in &args.modes {
            let r = run_case(&install, set, mode, &args);
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0}% | {} |",
                mode.name(),
                r.many.requests,
                r.many.failed,
                r.many.slow,
                secs(r.many.worst),
                r.sticky.requests,
                r.sticky.failed,
                r.sticky.slow,
                secs(r.sticky.worst),
                if r.sticky_last_route.as_deref() == Some("a") {
                    "yes"
                } else {
                    "no"
                },
                ms(r.contained_after),
                r.bad_member_share * 100.0,
                ms(r.back_after),
            );
        }
    }
    if args.cost_runs > 0 {
        cost(&install, &args);
    }
}
