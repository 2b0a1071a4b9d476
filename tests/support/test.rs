//! One way to run modproxy in a test (as just's tests/test.rs): the arguments, the files in
//! its folder, and what it must do (exit status, text on stdout and stderr, an old output
//! file left alone); checked by `run`, which returns what it printed.
//!
//! ```ignore
//! Test::new()
//!     .file("modproxy.json", r#"{"port":0}"#)
//!     .args(["generate", "--host", "h1"])
//!     .status(1)
//!     .stderr_has("field \"port\"")
//!     .run();
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{modproxy, scratch, write};

/// What an output file holds before a run that must not change it.
const OLD_OUTPUT: &str = "# the previous App.conf\n";

/// A run of modproxy to make; `run` makes it and checks it.
#[must_use = "a Test does nothing until .run()"]
pub struct Test {
    /// Kept so that an owned folder lives until the run is checked.
    _owned: Option<TempDir>,
    dir: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    status: i32,
    stdout: Vec<String>,
    stderr: Vec<String>,
    keeps_old_output: bool,
}

/// What a run printed.
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    /// In a new scratch folder.
    pub fn new() -> Self {
        let owned = scratch();
        let dir = owned.path().to_owned();
        Self::with(Some(owned), dir)
    }

    /// In a folder the test already has (and keeps).
    pub fn at(dir: &Path) -> Self {
        Self::with(None, dir.to_owned())
    }

    fn with(owned: Option<TempDir>, dir: PathBuf) -> Self {
        Self {
            _owned: owned,
            dir,
            args: Vec::new(),
            env: Vec::new(),
            status: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            keeps_old_output: false,
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, args: I) -> Self {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the run.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Writes `text` to `name` in the test's folder (creating folders) before the run.
    pub fn file(self, name: &str, text: &str) -> Self {
        write(&self.dir, name, text);
        self
    }

    /// The exit status it must end with (0 unless said).
    pub fn status(mut self, code: i32) -> Self {
        self.status = code;
        self
    }

    pub fn stdout_has(mut self, text: &str) -> Self {
        self.stdout.push(text.to_owned());
        self
    }

    pub fn stderr_has(mut self, text: &str) -> Self {
        self.stderr.push(text.to_owned());
        self
    }

    /// Adds `-o out.conf` over an existing out.conf, which must come through unchanged and
    /// with no temp file left beside it (for runs that fail).
    pub fn keeps_old_output(mut self) -> Self {
        self.keeps_old_output = true;
        self
    }

    pub fn run(mut self) -> Ran {
        let out_file = self.dir.join("out.conf");
        if self.keeps_old_output {
            std::fs::write(&out_file, OLD_OUTPUT).expect("write the old output");
            self.args.extend(["-o".into(), "out.conf".into()]);
        }
        let out = modproxy()
            .current_dir(&self.dir)
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("modproxy runs");
        let ran = Ran {
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        let args = &self.args;
        let err = &ran.stderr;
        assert_eq!(
            out.status.code(),
            Some(self.status),
            "modproxy {args:?}\nstderr: {err}\nstdout: {}",
            ran.stdout
        );
        assert!(!err.contains("panicked"), "panic on {args:?}: {err}");
        for text in &self.stdout {
            assert!(
                ran.stdout.contains(text),
                "modproxy {args:?}: stdout lacks {text:?}:\n{}",
                ran.stdout
            );
        }
        for text in &self.stderr {
            assert!(
                err.contains(text),
                "modproxy {args:?}: stderr lacks {text:?}:\n{err}"
            );
        }
        if self.keeps_old_output {
            assert_eq!(
                std::fs::read_to_string(&out_file).expect("out.conf is still there"),
                OLD_OUTPUT,
                "modproxy {args:?} clobbered its output"
            );
            let leftovers: Vec<_> = std::fs::read_dir(&self.dir)
                .expect("read the test folder")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".tmp"))
                .collect();
            assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        }
        ran
    }
}
