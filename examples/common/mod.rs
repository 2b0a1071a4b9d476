//! What the benchmarks share: running the modproxy binary built beside them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The tool: examples live in target/<profile>/examples, the tool in target/<profile>.
pub fn modproxy_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("modproxy")
}

/// Runs modproxy in `dir`, which must succeed; returns what it wrote to standard output.
pub fn run_modproxy(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(modproxy_binary())
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run modproxy (the benchmark's script builds it)");
    assert!(
        out.status.success(),
        "modproxy {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("modproxy writes UTF-8")
}

/// `modproxy generate` in `dir` (its modproxy.json) for a member on 127.0.0.1:`port` with
/// `route`, plus `extra` flags (`-o FILE`, `--publish URL`).
#[allow(dead_code)] // bench_scale writes its fragments itself
pub fn generate(dir: &Path, route: &str, port: u16, extra: &[&str]) {
    let port = port.to_string();
    let mut args = vec![
        "generate",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--route",
        route,
    ];
    args.extend_from_slice(extra);
    run_modproxy(dir, &args);
}
