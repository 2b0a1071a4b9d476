//! Shared test helpers: the binary, the fixtures, and (in `httpd`/`backend`) real servers.

pub mod backend;
pub mod certs;
pub mod cluster;
pub mod daemon;
pub mod etcd;
pub mod fault;
pub mod httpd;
pub mod load;
pub mod process;
pub mod test;

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub use test::Test;

pub fn modproxy() -> Command {
    Command::cargo_bin("modproxy").expect("the modproxy binary is built")
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The golden output of a fixture case, as a path argument.
pub fn golden_path(case: &str) -> String {
    fixtures()
        .join(case)
        .join("expected.conf")
        .display()
        .to_string()
}

/// The golden output of a fixture case.
pub fn golden(case: &str) -> String {
    std::fs::read_to_string(golden_path(case)).expect("golden file")
}

/// The built binary's path, for spawning it without assert_cmd.
pub fn modproxy_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("modproxy")
}

/// Every fixture case folder (holding an `args` file), in name order.
pub fn fixture_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures/ is readable")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    cases
}

/// Runs a fixture case (its `args` file, in its folder), which must succeed; returns the
/// file it wrote to standard output.
pub fn run_case(case: &Path) -> String {
    let args = std::fs::read_to_string(case.join("args")).expect("args file");
    Test::at(case).args(args.split_whitespace()).run().stdout
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create fixture folder");
    }
    std::fs::write(&path, text).expect("write fixture file");
    path
}

/// Runs `modproxy generate` in `dir` with the given args and returns the fragment text.
pub fn generate_in(dir: &Path, args: &[&str]) -> String {
    Test::at(dir).arg("generate").args(args).run().stdout
}

/// A scratch folder whose name is a valid app name (tempfile's default starts with a dot).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("scratch-")
        .tempdir()
        .expect("create a temp folder")
}
