//! A modproxy command that runs until stopped (`watch`, `generate --publish --keep`): its
//! messages go to a log file the test reads; it is killed when dropped (also when a test
//! panics).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::modproxy_bin;
use super::process::Process;

pub struct Daemon {
    process: Process,
    log: PathBuf,
}

impl Daemon {
    /// Starts `modproxy ARGS` in `dir`; its standard error goes to `dir/NAME.log`.
    pub fn start(dir: &Path, name: &str, args: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("the daemon's log file");
        let child = Command::new(modproxy_bin())
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start modproxy");
        Daemon {
            process: Process::new(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `text` `times` times; returns how long that took.
    pub fn wait_for(&self, text: &str, times: usize, limit: Duration) -> Duration {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.log().matches(text).count() >= times {
                return start.elapsed();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "{} did not say {text:?} ({times}x) within {limit:?}; its log:\n{}",
            self.log.display(),
            self.log()
        );
    }

    /// Kills the process (SIGKILL, as a host that is switched off).
    pub fn stop(&mut self) {
        self.process.kill();
    }
}
