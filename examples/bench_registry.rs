//! Registry benchmark (issue 10's goals), with a real etcd and real httpd:
//! 1. publish-to-served: two proxies run `modproxy watch`; a new host runs `generate
//!    --publish`; the time until both proxies' httpd answer from it (runs, median).
//! 2. 1,000 registered members: `merge --from` as a whole process (runs, median), and a
//!    watcher over them applying a one-member change (publish to its "applied" line,
//!    which comes after its httpd check and the reload command; httpd's graceful restart
//!    itself follows).
//!
//! Usage: scripts/bench-registry [--runs 10] [--members 1000] [--verbose]
//! (--verbose: each run's times per proxy, applied then served.)

#[path = "../tests/support/backend.rs"]
#[allow(dead_code)]
mod backend;
#[path = "../tests/support/certs.rs"]
#[allow(dead_code)]
mod certs;
mod common;
#[path = "../tests/support/daemon.rs"]
#[allow(dead_code)]
mod daemon;
#[path = "../tests/support/etcd.rs"]
#[allow(dead_code)]
mod etcd;
#[path = "../tests/support/httpd.rs"]
#[allow(dead_code)]
mod httpd;
#[path = "../tests/support/process.rs"]
#[allow(dead_code)]
mod process;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use backend::Backend;
use common::run_modproxy;
use daemon::Daemon;
use etcd::Etcd;
use httpd::Running;

/// daemon.rs finds the binary through its parent module.
fn modproxy_bin() -> PathBuf {
    common::modproxy_binary()
}

const JSON: &str = r#"{"name":"shop","contextRoot":"/shop"}"#;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn publish(dir: &Path, url: &str, route: &str, port: u16) {
    common::generate(dir, route, port, &["--publish", url]);
}

/// A proxy following the registry: httpd started on what is registered, and a watcher.
struct Proxy {
    _dir: tempfile::TempDir,
    httpd: Running,
    watch: Daemon,
}

fn proxy(url: &str) -> Proxy {
    let dir = tempfile::tempdir().unwrap();
    run_modproxy(
        dir.path(),
        &["merge", "-balancer", "--from", url, "-o", "App.conf"],
    );
    let httpd = httpd::start(&dir.path().join("App.conf"));
    let reload = format!("kill -USR1 {}", httpd.pid().unwrap());
    let watch = Daemon::start(
        dir.path(),
        "watch",
        &[
            "watch",
            "--from",
            url,
            "-balancer",
            "-o",
            "App.conf",
            "--reload",
            &reload,
        ],
    );
    watch.wait_for("watching", 1, Duration::from_secs(10));
    Proxy {
        _dir: dir,
        httpd,
        watch,
    }
}

fn stats(label: &str, mut v: Vec<Duration>) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {label} | {} | {:.0} ms | {:.0} ms | {:.0} ms |",
        v.len(),
        ms(v[v.len() / 2]),
        ms(v[0]),
        ms(v[v.len() - 1])
    );
}

fn main() {
    let runs = arg("--runs", 10);
    let members = arg("--members", 1000);
    let verbose = std::env::args().any(|a| a == "--verbose");
    let etcd = Etcd::start();
    let app = tempfile::tempdir().unwrap();
    std::fs::write(app.path().join("modproxy.json"), JSON).unwrap();
    println!("| measure | runs | median | min | max |\n|---|---|---|---|---|");

    // 1. Publish to served on two proxies.
    let url = etcd.url("/bench");
    let mut backends = vec![Backend::start("a", None), Backend::start("b", None)];
    for b in &backends {
        publish(app.path(), &url, &b.route, b.port);
    }
    let proxies = [proxy(&url), proxy(&url)];
    let mut served = Vec::new();
    for i in 0..runs {
        let b = Backend::start(&format!("n{i}"), None);
        let start = Instant::now();
        publish(app.path(), &url, &b.route, b.port);
        let mut detail = Vec::new();
        for p in &proxies {
            p.watch
                .wait_for("applied App.conf", i + 1, Duration::from_secs(30));
            detail.push(start.elapsed());
            while httpd::get(&p.httpd, "/shop/", None).route() != Some(b.route.as_str()) {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "{}",
                    p.watch.log()
                );
            }
            detail.push(start.elapsed());
        }
        if verbose {
            eprintln!("run {i}: per proxy, applied then served: {detail:?}");
        }
        served.push(start.elapsed());
        backends.push(b);
    }
    stats("publish to served on both proxies (2 watchers)", served);

    // 2. Many members.
    let url = etcd.url("/scale");
    let started = Instant::now();
    for i in 0..members {
        publish(app.path(), &url, &format!("h{i}"), 20000 + i as u16);
    }
    eprintln!("published {members} members in {:?}", started.elapsed());
    let out = tempfile::tempdir().unwrap();
    let mut merges = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        run_modproxy(
            out.path(),
            &["merge", "-balancer", "--from", &url, "-o", "App.conf"],
        );
        merges.push(start.elapsed());
    }
    stats(
        &format!("merge --from, {members} members (whole process)"),
        merges,
    );

    let p = proxy(&url);
    let mut applied = Vec::new();
    for i in 0..runs {
        let start = Instant::now();
        publish(app.path(), &url, &format!("x{i}"), 40000 + i as u16);
        p.watch
            .wait_for("applied App.conf", i + 1, Duration::from_secs(60));
        applied.push(start.elapsed());
    }
    stats(
        &format!(
            "watch: publish to applied, {members} members (+1 each run; httpd check included, graceful restart after)"
        ),
        applied,
    );
}
