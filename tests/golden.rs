//! Golden files: every case under fixtures/ gives exactly its expected.conf.
//! `UPDATE_GOLDEN=1 cargo test golden` rewrites them (review the diff).

use crate::support::{fixture_cases, run_case};

#[test]
fn every_fixture_matches_its_golden_file() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let cases = fixture_cases();
    assert!(
        cases.len() >= 10,
        "expected the fixture cases, found {}",
        cases.len()
    );
    let mut failures = Vec::new();
    for case in cases {
        let out = run_case(&case);
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let expected_path = case.join("expected.conf");
        if update {
            std::fs::write(&expected_path, &out).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{name}: no expected.conf; run UPDATE_GOLDEN=1 cargo test"));
        if out != expected {
            failures.push(format!("{name}:\n--- expected\n{expected}\n--- got\n{out}"));
        }
    }
    assert!(
        failures.is_empty(),
        "golden mismatch:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_fixture_is_byte_identical_when_run_twice() {
    for case in fixture_cases() {
        let first = run_case(&case);
        let second = run_case(&case);
        assert_eq!(first, second, "{} is not deterministic", case.display());
    }
}
