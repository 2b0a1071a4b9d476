//! Where a rendered config goes: stdout, or a file replaced atomically so that httpd never
//! reads half a file and an error never clobbers the old one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The `-o` destination: stdout for none or `-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    pub fn from_arg(arg: Option<&Path>) -> Self {
        match arg {
            None => Target::Stdout,
            Some(p) if p.as_os_str() == "-" => Target::Stdout,
            Some(p) => Target::File(p.to_owned()),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Stdout => "standard output".into(),
            Target::File(p) => p.display().to_string(),
        }
    }

    /// Checks that the file can be written before any work is done, so a typo in `-o`
    /// fails fast with a clear message.
    pub fn check(&self) -> Result<()> {
        let Target::File(path) = self else {
            return Ok(());
        };
        if path.is_dir() {
            bail!(
                "output {} is a folder; give a file name such as {}/App.conf",
                path.display(),
                path.display()
            );
        }
        let dir = parent(path);
        if !dir.is_dir() {
            bail!(
                "cannot write {}: folder {} does not exist; create it first or choose another -o",
                path.display(),
                dir.display()
            );
        }
        Ok(())
    }

    /// Writes `text`. A file is written to a temporary file beside it, synced, then renamed
    /// over the target, keeping the old file's permissions (0644 for a new file).
    pub fn write(&self, text: &str) -> Result<()> {
        self.check()?;
        match self {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())
                    .and_then(|_| out.flush())
                    .context("cannot write to standard output")
            }
            Target::File(path) => write_atomic(path, text).with_context(|| {
                format!(
                    "cannot write {}; the old file, if any, is unchanged",
                    path.display()
                )
            }),
        }
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn write_atomic(path: &Path, text: &str) -> Result<()> {
    // Through a symlink (conf-enabled -> conf-available): replace the file it points to,
    // not the link.
    let path = &resolve_symlinks(path)?;
    let existing = std::fs::metadata(path).ok();
    if existing.as_ref().is_some_and(|meta| !meta.is_file()) {
        // A device or pipe (`-o /dev/stdout`) cannot be replaced by rename: write to it.
        let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
        f.write_all(text.as_bytes())?;
        return f.flush().map_err(Into::into);
    }
    let dir = parent(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".modproxy-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    let mode = existing
        .map(|m| m.permissions())
        .unwrap_or_else(default_permissions);
    std::fs::set_permissions(tmp.path(), mode)?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Make the rename itself durable; a failure here leaves the new file in place.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Follows symlinks (also dangling ones) to the path that will really be written.
fn resolve_symlinks(path: &Path) -> Result<PathBuf> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match std::fs::read_link(&current) {
            Ok(target) => current = parent(&current).join(target),
            Err(_) => return Ok(current),
        }
    }
    bail!("too many levels of symbolic links")
}

fn default_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o644)
}
