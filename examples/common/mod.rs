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
