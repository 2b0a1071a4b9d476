//! Real backend processes (`examples/backend.rs`) on loopback: start, kill, restart,
//! freeze and thaw. The failover benchmark includes this file too.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use super::process::Process;

/// One app instance: a separate process answering with its route.
pub struct Backend {
    pub route: String,
    pub port: u16,
    cookie: Option<String>,
    process: Process,
}

fn binary() -> PathBuf {
    // Test binaries live in target/<profile>/deps; cargo test builds examples beside them.
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let path = profile_dir.join("examples").join("backend");
    assert!(
        path.is_file(),
        "the test backend {} is missing; build it with `cargo build --examples` (plain `cargo test` does; `cargo test --all-targets` builds it as a test harness instead)",
        path.display()
    );
    path
}

fn spawn(route: &str, port: u16, cookie: Option<&str>) -> (Child, u16) {
    let mut cmd = Command::new(binary());
    cmd.args(["--route", route, "--port", &port.to_string()]);
    if let Some(c) = cookie {
        cmd.args(["--cookie", c]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("start the test backend");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("backend stdout"))
        .read_line(&mut line)
        .expect("read the backend's first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("backend {route} did not start: {line:?}"));
    (child, port)
}

impl Backend {
    /// Starts a backend on a free port.
    pub fn start(route: &str, cookie: Option<&str>) -> Self {
        let (child, port) = spawn(route, 0, cookie);
        Self {
            route: route.to_owned(),
            port,
            cookie: cookie.map(str::to_owned),
            process: Process::new(child),
        }
    }

    /// Kills the process (SIGKILL), as when an app instance dies.
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// Stops the process with SIGSTOP: the kernel still accepts its connections, nothing
    /// answers them (a hung instance, from the outside).
    pub fn freeze(&self) {
        self.process.freeze();
    }

    /// Lets a frozen process go on (SIGCONT); it answers what queued up meanwhile.
    pub fn thaw(&self) {
        self.process.thaw();
    }

    /// Starts the process again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let (child, port) = spawn(&self.route, self.port, self.cookie.as_deref());
        assert_eq!(port, self.port);
        self.process = Process::new(child);
    }
}
