//! Replays the fuzz targets' seeds (taken from fixtures/, as scripts/fuzz takes them) and
//! every input the fuzzers ever found a bug with (fuzz/regressions/TARGET/*) through the
//! same whole-pipeline checks the fuzzers run.

use std::path::{Path, PathBuf};

use modproxy::robustness::{app_config_bytes, fragment_bytes};

/// Files named `name` anywhere under `dir`.
fn find(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            find(&path, name, out);
        } else if path.file_name().is_some_and(|n| n == name) {
            out.push(path);
        }
    }
}

/// Runs `check` on every fixture file named `seed` and every regression of `target`.
fn replay(target: &str, seed: &str, check: impl Fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut inputs = Vec::new();
    find(&root.join("fixtures"), seed, &mut inputs);
    if let Ok(entries) = std::fs::read_dir(root.join("fuzz/regressions").join(target)) {
        inputs.extend(entries.map(|e| e.unwrap().path()));
    }
    for path in &inputs {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        assert!(result.is_ok(), "{} broke a promise", path.display());
    }
    inputs.len()
}

#[test]
fn fragment_reader_inputs_replay_cleanly() {
    assert!(replay("fragment", "expected.conf", fragment_bytes) >= 10);
}

#[test]
fn zero_config_reader_inputs_replay_cleanly() {
    // Includes the context root with a dot the fuzzer found: its regex used `\.`, which
    // the Apache quoting refused, so no app with a dotted context root could be rendered.
    assert!(replay("zero_config", "zero.config", |d| app_config_bytes(d, true)) >= 2);
}

#[test]
fn app_json_reader_inputs_replay_cleanly() {
    assert!(replay("app_json", "modproxy.json", |d| app_config_bytes(d, false)) >= 5);
}
