//! Replays the fuzz targets' seeds and every input the fuzzers ever found a bug with
//! (fuzz/regressions/TARGET/*) through the same whole-pipeline checks the fuzzers run.

use std::path::Path;

use modproxy::robustness::{app_config_bytes, fragment_bytes};

fn replay(target: &str, check: impl Fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let dir = root.join(kind).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
            assert!(result.is_ok(), "{} broke a promise", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn fragment_reader_inputs_replay_cleanly() {
    assert!(replay("fragment", fragment_bytes) >= 10);
}

#[test]
fn zero_config_reader_inputs_replay_cleanly() {
    // Includes the context root with a dot the fuzzer found: its regex used `\.`, which
    // the Apache quoting refused, so no app with a dotted context root could be rendered.
    assert!(replay("zero_config", |d| app_config_bytes(d, true)) >= 2);
}

#[test]
fn app_json_reader_inputs_replay_cleanly() {
    assert!(replay("app_json", |d| app_config_bytes(d, false)) >= 5);
}
