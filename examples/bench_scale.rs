//! Scale benchmark (not a test): `modproxy merge -balancer` over 10, 100, 1,000 and 10,000
//! one-member fragment files, timing the whole process (spawn to exit) and reading its
//! peak memory from GNU time; then `httpd -t` on the 1,000- and 10,000-member results.
//! Run it with `scripts/bench-scale` (figures in docs/hardening.md).
//!
//! ```text
//! bench_scale [--runs 7] [--sizes 10,100,1000,10000]
//! ```

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use modproxy::httpd::{Installation, Wrapper};

mod common;

use common::{modproxy_binary, run_modproxy};

/// Writes `n` fragments of app "shop", one member each: one made by `modproxy generate`,
/// the others the same text with their own address and route (what generate would write).
fn write_fragments(dir: &Path, n: usize) -> Vec<String> {
    const HOST: &str = "10.255.255.254";
    const ROUTE: &str = "zzroutezz";
    std::fs::write(
        dir.join("modproxy.json"),
        r#"{"name":"shop","contextRoot":"/shop","sessionAffinity":"app-cookie","healthCheck":{"uri":"/health"}}"#,
    )
    .unwrap();
    let template = run_modproxy(dir, &["generate", "--host", HOST, "--route", ROUTE]);
    (0..n)
        .map(|i| {
            let host = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
            let text = template
                .replace(HOST, &host)
                .replace(ROUTE, &format!("m{i}"));
            let name = format!("m{i}.conf");
            std::fs::write(dir.join(&name), text).unwrap();
            name
        })
        .collect()
}

/// One merge run: wall time of the whole process and its peak RSS in KiB.
fn merge_once(dir: &Path, files: &[String]) -> (Duration, u64) {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(modproxy_binary())
        .args(["merge", "-balancer", "-o", "App.conf"])
        .args(files)
        .current_dir(dir)
        .output()
        .expect("run /usr/bin/time (Debian package 'time')");
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "merge failed: {stderr}");
    let rss = stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("GNU time's %M");
    (wall, rss)
}

fn main() {
    let mut runs = 7usize;
    let mut sizes = vec![10usize, 100, 1000, 10_000];
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--runs" => runs = value.parse().expect("--runs N"),
            "--sizes" => {
                sizes = value
                    .split(',')
                    .map(|s| s.parse().expect("--sizes a,b,c"))
                    .collect()
            }
            _ => panic!("unknown flag {flag}"),
        }
    }
    let install = Installation::find();
    println!("modproxy merge -balancer, one-member fragment files, {runs} runs each (median; min)");
    println!();
    println!("| members | wall median | wall min | per member | peak RSS | output | httpd -t |");
    println!("|---:|---:|---:|---:|---:|---:|---|");
    for &n in &sizes {
        let dir = tempfile::Builder::new()
            .prefix("bench-scale-")
            .tempdir()
            .unwrap();
        let files = write_fragments(dir.path(), n);
        merge_once(dir.path(), &files); // warm the page cache
        let mut walls = Vec::new();
        let mut peak = 0;
        for _ in 0..runs {
            let (wall, rss) = merge_once(dir.path(), &files);
            walls.push(wall);
            peak = peak.max(rss);
        }
        walls.sort();
        let median = walls[walls.len() / 2];
        let out = dir.path().join("App.conf");
        let size = std::fs::metadata(&out).unwrap().len();
        let httpd = if n >= 1000 {
            match &install {
                Ok(i) => {
                    let started = Instant::now();
                    let verdict = Wrapper::new(i, &out).and_then(|w| w.syntax_check());
                    match verdict {
                        Ok(()) => {
                            format!("OK ({:.0} ms)", started.elapsed().as_secs_f64() * 1000.0)
                        }
                        Err(e) => format!("FAILED: {e:#}"),
                    }
                }
                Err(_) => "httpd not installed".into(),
            }
        } else {
            "-".into()
        };
        println!(
            "| {n} | {:.1} ms | {:.1} ms | {:.1} µs | {:.1} MiB | {:.0} KiB | {httpd} |",
            median.as_secs_f64() * 1000.0,
            walls[0].as_secs_f64() * 1000.0,
            median.as_secs_f64() * 1e6 / n as f64,
            peak as f64 / 1024.0,
            size as f64 / 1024.0,
        );
    }
}
