//! The wrapper config that tests one file: its own ServerRoot, PidFile, runtime dir and
//! logs in a temp folder, the modules the file needs, and one free loopback port; with it,
//! `httpd -t` and a start that waits until httpd really serves.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::{Installation, Running, free_port};
use crate::records;

/// Modules every wrapper loads (when not compiled in): an MPM, `Require`, and `User`.
const BASE_MODULES: &[&str] = &["mpm_event", "authz_core", "authz_host", "unixd"];

/// Modules loaded for a file that does not list its own (not made by modproxy).
const GENERIC_MODULES: &[&str] = &[
    "proxy",
    "proxy_http",
    "proxy_wstunnel",
    "slotmem_shm",
    "proxy_balancer",
    "lbmethod_byrequests",
    "lbmethod_bytraffic",
    "lbmethod_bybusyness",
    "watchdog",
    "proxy_hcheck",
    "headers",
    "socache_shmcb",
    "ssl",
    "alias",
    "rewrite",
    "setenvif",
    "env",
    "mime",
    "dir",
    "status",
];

/// A wrapper config in its own temp folder: ServerRoot, PidFile, runtime dir and logs all
/// live there, and httpd listens on one free loopback port.
pub struct Wrapper {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub main_conf: PathBuf,
    install: Installation,
}

impl Wrapper {
    /// Writes a main config that loads the modules `included` needs and Includes it.
    pub fn new(install: &Installation, included: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(included)
            .with_context(|| format!("cannot read {}", included.display()))?;
        let modules = records::modules_listed(&text)
            .unwrap_or_else(|| GENERIC_MODULES.iter().map(|m| m.to_string()).collect());
        let dir = tempfile::Builder::new()
            .prefix("modproxy-httpd-")
            .tempdir()
            .context("cannot create a temp folder for httpd")?;
        open_up(dir.path())?;
        let port = free_port()?;
        let root = dir.path().display().to_string();
        let mut conf = String::new();
        let _ = writeln!(conf, "# Wrapper written by modproxy to test one file.");
        let _ = writeln!(conf, "ServerRoot \"{root}\"");
        let _ = writeln!(conf, "ServerName 127.0.0.1");
        // In its own file, so that start() can move to another port if this one was taken.
        let _ = writeln!(conf, "Include \"{root}/listen.conf\"");
        let _ = writeln!(conf, "PidFile \"{root}/httpd.pid\"");
        let _ = writeln!(conf, "DefaultRuntimeDir \"{root}\"");
        let _ = writeln!(conf, "Mutex file:{root} default");
        let _ = writeln!(conf, "ErrorLog \"{root}/error.log\"");
        let _ = writeln!(conf, "LogLevel warn");
        let _ = writeln!(conf, "Timeout 30");
        for m in BASE_MODULES {
            conf.push_str(&install.load_line(m).unwrap_or_default());
        }
        for m in modules
            .iter()
            .filter(|m| !BASE_MODULES.contains(&m.as_str()))
        {
            let line = install.load_line(m);
            if line.is_none() && !install.builtin.iter().any(|b| b == m) {
                bail!(
                    "{} needs Apache module {m}, which is not installed in {}",
                    included.display(),
                    install.modules_dir.display()
                );
            }
            conf.push_str(&line.unwrap_or_default());
        }
        if let Some((uid, gid)) = unprivileged_ids() {
            let _ = writeln!(conf, "User #{uid}\nGroup #{gid}");
        }
        let _ = writeln!(conf, "Include \"{}\"", included.display());
        let main_conf = dir.path().join("httpd.conf");
        std::fs::write(&main_conf, conf).context("cannot write the wrapper config")?;
        let wrapper = Self {
            dir,
            port,
            main_conf,
            install: install.clone(),
        };
        wrapper.write_listen()?;
        Ok(wrapper)
    }

    fn pid_file_names(&self, pid: u32) -> bool {
        std::fs::read_to_string(self.dir.path().join("httpd.pid"))
            .is_ok_and(|text| text.trim() == pid.to_string())
    }

    fn write_listen(&self) -> Result<()> {
        std::fs::write(
            self.dir.path().join("listen.conf"),
            format!("Listen 127.0.0.1:{}\n", self.port),
        )
        .context("cannot write the wrapper config")
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }

    /// Runs `httpd -t`; returns httpd's own message on failure.
    pub fn syntax_check(&self) -> Result<()> {
        let out = Command::new(&self.install.binary)
            .arg("-t")
            .arg("-f")
            .arg(&self.main_conf)
            .output()
            .with_context(|| format!("cannot run {}", self.install.binary.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        msg.push_str(&String::from_utf8_lossy(&out.stdout));
        bail!("{}", with_offending_line(&msg))
    }

    /// Starts httpd in the foreground and waits until it accepts connections. If another
    /// process took the free port in the meantime, it moves to a new one (three tries).
    pub fn start(mut self) -> Result<Running> {
        let mut tries = 3;
        loop {
            match self.start_once() {
                Ok(child) => {
                    return Ok(Running {
                        child: Some(child),
                        wrapper: self,
                    });
                }
                Err(e) if tries > 1 && e.to_string().contains("Address already in use") => {
                    tries -= 1;
                    self.port = free_port()?;
                    self.write_listen()?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn start_once(&self) -> Result<Child> {
        let mut child = Command::new(&self.install.binary)
            .arg("-f")
            .arg(&self.main_conf)
            .arg("-DFOREGROUND")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {}", self.install.binary.display()))?;
        let deadline = Instant::now() + Duration::from_secs(15);
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut stderr);
                }
                // In the foreground httpd logs start-up errors to stderr, later ones to the log.
                let said = if stderr.trim().is_empty() {
                    self.error_log()
                } else {
                    stderr
                };
                bail!(
                    "httpd exited at start ({status}):\n{}",
                    with_offending_line(said.trim())
                );
            }
            // Listening is not enough: another process may hold the port. httpd writes its
            // PidFile once its sockets are bound.
            if self.pid_file_names(child.id())
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "httpd did not listen on {addr} within 15 s:\n{}",
                    self.error_log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// As root, httpd must switch to an unprivileged user: the first of these that exists.
fn unprivileged_ids() -> Option<(String, String)> {
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| {
            use std::os::unix::fs::MetadataExt;
            m.uid() == 0
        })
        .unwrap_or(false);
    if !is_root {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    ["www-data", "apache", "daemon", "nobody"]
        .iter()
        .find_map(|user| {
            passwd.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 3 && f[0] == *user).then(|| (f[2].to_owned(), f[3].to_owned()))
            })
        })
}

/// The temp folder is 0700; httpd's children run as another user and must reach it.
fn open_up(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .context("cannot set the temp folder's permissions")
}

/// Adds the text of the line httpd complains about (`... on line N of FILE:`).
fn with_offending_line(msg: &str) -> String {
    let mut out = msg.to_owned();
    let Some(rest) = msg.split(" on line ").nth(1) else {
        return out;
    };
    let Some((num, rest)) = rest.split_once(" of ") else {
        return out;
    };
    let file = rest.split(':').next().unwrap_or_default();
    if let (Ok(n), Ok(text)) = (num.trim().parse::<usize>(), std::fs::read_to_string(file))
        && let Some(line) = text.lines().nth(n.saturating_sub(1))
    {
        let _ = write!(out, "\n  line {n} of {file}: {}", line.trim());
    }
    out
}
