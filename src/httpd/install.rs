//! Finding the installed httpd: its binary, its module folder and the modules compiled in.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, anyhow};

/// An installed httpd: its binary, module folder and compiled-in modules.
#[derive(Debug, Clone)]
pub struct Installation {
    pub binary: PathBuf,
    pub modules_dir: PathBuf,
    pub(super) builtin: Vec<String>,
}

impl Installation {
    /// Finds httpd: `$MODPROXY_HTTPD`, else Debian's `/usr/sbin/apache2`, else `httpd` or
    /// `apache2` on the PATH or in /usr/sbin.
    pub fn find() -> Result<Self> {
        let binary = std::env::var_os("MODPROXY_HTTPD")
            .map(PathBuf::from)
            .or_else(|| {
                let mut candidates = vec![
                    PathBuf::from("/usr/sbin/apache2"),
                    PathBuf::from("/usr/sbin/httpd"),
                ];
                if let Some(path) = std::env::var_os("PATH") {
                    for dir in std::env::split_paths(&path) {
                        candidates.push(dir.join("apache2"));
                        candidates.push(dir.join("httpd"));
                    }
                }
                candidates.into_iter().find(|p| p.is_file())
            })
            .ok_or_else(|| {
                anyhow!(
                    "Apache httpd is not installed (looked for /usr/sbin/apache2, httpd and apache2 on the PATH); install it (Debian/Ubuntu: apt-get install apache2; RHEL: dnf install httpd) or set MODPROXY_HTTPD"
                )
            })?;
        let modules_dir = [
            "/usr/lib/apache2/modules",
            "/usr/lib64/httpd/modules",
            "/usr/lib/httpd/modules",
            "/usr/local/apache2/modules",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("mod_proxy.so").is_file())
        .ok_or_else(|| {
            anyhow!(
                "cannot find httpd's modules folder (with mod_proxy.so) for {}",
                binary.display()
            )
        })?;
        let listed = Command::new(&binary)
            .arg("-l")
            .output()
            .with_context(|| format!("cannot run {} -l", binary.display()))?;
        let builtin = String::from_utf8_lossy(&listed.stdout)
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("mod_")
                    .and_then(|m| m.strip_suffix(".c"))
            })
            .map(str::to_owned)
            .collect();
        Ok(Self {
            binary,
            modules_dir,
            builtin,
        })
    }

    pub(super) fn load_line(&self, module: &str) -> Option<String> {
        if self.builtin.iter().any(|b| b == module) {
            return None;
        }
        let so = self.modules_dir.join(format!("mod_{module}.so"));
        so.is_file()
            .then(|| format!("LoadModule {module}_module \"{}\"\n", so.display()))
    }
}

impl Installation {
    /// What `httpd -v` says of itself: `Apache/2.4.71 (Debian)`.
    pub fn version_text(&self) -> Result<String> {
        let out = Command::new(&self.binary)
            .arg("-v")
            .output()
            .with_context(|| format!("cannot run {} -v", self.binary.display()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix("Server version:"))
            .map(|v| v.trim().to_owned())
            .ok_or_else(|| anyhow!("{} -v did not say its version", self.binary.display()))
    }
}
