//! A real etcd for the registry tests: a single node on free loopback ports with its data
//! in a temp folder, stopped when dropped (also when a test panics). Tests change the
//! registry behind modproxy's back with etcd's own `etcdctl`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::certs;
use super::process::Process;

pub struct Etcd {
    /// First, so that it is killed (dropped) before its data folder goes.
    process: Option<Process>,
    dir: TempDir,
    pub port: u16,
    peer_port: u16,
    /// Serving TLS, with client certificates required (`start_tls`).
    tls: bool,
    /// The root user's password once auth is on (`enable_auth`).
    root_password: Option<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn need(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("these tests need a real etcd and {tool} is not installed; run the README's test command (scripts/test), which installs Debian's etcd-server and etcd-client")
        })
}

impl Etcd {
    pub fn start() -> Self {
        let mut etcd = Self::new(false);
        etcd.run();
        etcd
    }

    /// etcd over TLS that also requires a client certificate: its CA is `file("ca.pem")`,
    /// a client certificate `client.pem`/`client.key`; `other.pem` is an unrelated CA.
    pub fn start_tls() -> Self {
        let mut etcd = Self::new(true);
        let dir = etcd.dir.path();
        certs::ca(dir, "ca");
        certs::ca(dir, "other");
        certs::issue(dir, "ca", "127.0.0.1", "server");
        certs::issue(dir, "ca", "modproxy-client", "client");
        etcd.run();
        etcd
    }

    fn new(tls: bool) -> Self {
        Etcd {
            dir: tempfile::Builder::new()
                .prefix("modproxy-etcd-")
                .tempdir()
                .expect("a temp folder for etcd"),
            port: free_port(),
            peer_port: free_port(),
            process: None,
            tls,
            root_password: None,
        }
    }

    /// A file in etcd's folder (the TLS files of `start_tls`).
    pub fn file(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Adds etcd user NAME:PASSWORD with a role of its own that may `permission` (read,
    /// readwrite) every key under `prefix`.
    pub fn add_user(&self, name: &str, password: &str, permission: &str, prefix: &str) {
        let role = format!("{name}-role");
        self.ctl(&["user", "add", &format!("{name}:{password}")]);
        self.ctl(&["role", "add", &role]);
        self.ctl(&[
            "role",
            "grant-permission",
            &role,
            "--prefix=true",
            permission,
            prefix,
        ]);
        self.ctl(&["user", "grant-role", name, &role]);
    }

    /// Turns etcd's auth on with a root user; etcdctl here logs in as root from now on.
    pub fn enable_auth(&mut self) {
        self.ctl(&["user", "add", "root:rootpw"]);
        self.ctl(&["auth", "enable"]);
        self.root_password = Some("rootpw".into());
    }

    fn run(&mut self) {
        let scheme = if self.tls { "https" } else { "http" };
        let client = format!("{scheme}://127.0.0.1:{}", self.port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .expect("etcd's log file");
        let mut cmd = Command::new(need("etcd"));
        if self.tls {
            cmd.args(["--cert-file", &self.file("server.pem")])
                .args(["--key-file", &self.file("server.key")])
                .args(["--trusted-ca-file", &self.file("ca.pem")])
                .arg("--client-cert-auth");
        }
        // With auth on, a login token expires after 2 s instead of 300 s: long-running
        // commands must log in again, and the tests see that they do.
        let child = cmd
            .args(["--auth-token-ttl", "2"])
            .args(["--name", "test", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args([
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args(["--initial-cluster", &format!("test={peer}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start etcd");
        self.process = Some(Process::new(child));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.healthy() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        panic!("etcd did not become healthy within 20 s; its log:\n{log}");
    }

    fn healthy(&self) -> bool {
        if self.tls {
            return self.etcdctl(&["endpoint", "health"]).status.success();
        }
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(b"GET /health HTTP/1.0\r\n\r\n");
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.contains("\"health\":\"true\"")
    }

    /// The registry URL for `prefix` (e.g. `/modproxy`).
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://127.0.0.1:{}{prefix}", self.port)
    }

    /// Stops etcd (SIGKILL, as a crashed etcd); its data stays.
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Freezes etcd (SIGSTOP): its port still accepts connections but nothing answers, as
    /// when a host hangs or the network drops packets silently.
    pub fn freeze(&self) {
        self.process.as_ref().expect("etcd runs").freeze();
    }

    pub fn thaw(&self) {
        self.process.as_ref().expect("etcd runs").thaw();
    }

    /// Starts it again on the same ports with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Runs etcdctl against this etcd; it must succeed.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let out = self.etcdctl(args);
        assert!(
            out.status.success(),
            "etcdctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn etcdctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(need("etcdctl"));
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &format!("127.0.0.1:{}", self.port)]);
        if self.tls {
            cmd.args(["--cacert", &self.file("ca.pem")])
                .args(["--cert", &self.file("client.pem")])
                .args(["--key", &self.file("client.key")]);
        }
        if let Some(pw) = &self.root_password {
            cmd.args(["--user", &format!("root:{pw}")]);
        }
        cmd.args(args).output().expect("run etcdctl")
    }

    pub fn put(&self, key: &str, value: &str) {
        self.ctl(&["put", key, value]);
    }

    /// The keys under `prefix`, in order.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.ctl(&["get", "--prefix", "--keys-only", prefix]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn get(&self, key: &str) -> String {
        let out = self.ctl(&["get", "--print-value-only", key]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
