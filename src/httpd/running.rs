//! A started httpd: its address, graceful restart, and stopping it (also on a panic).

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Wrapper;

/// A started httpd; stopped (SIGTERM, then SIGKILL) when dropped, also on a panic.
pub struct Running {
    pub(super) child: Option<Child>,
    pub wrapper: Wrapper,
}

impl Running {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.wrapper.port))
    }

    /// The main process's id (its children are the workers).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops httpd and returns its error log.
    pub fn stop(mut self) -> String {
        self.shutdown();
        self.wrapper.error_log()
    }

    /// Makes httpd re-read its config (SIGUSR1, `apachectl graceful`).
    pub fn graceful(&self) -> Result<()> {
        let pid = self
            .child
            .as_ref()
            .map(|c| c.id())
            .context("httpd is not running")?;
        signal(pid, "USR1")
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn signal(pid: u32, sig: &str) -> Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .context("cannot run kill")?;
    if !status.success() {
        bail!("kill -{sig} {pid} failed");
    }
    Ok(())
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}
