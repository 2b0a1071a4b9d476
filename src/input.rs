//! Reading input files (app configs, fragments): a size limit, UTF-8, and errors that name
//! the file and say what was expected.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};

/// Reads `path` as UTF-8 text of at most `limit` bytes (a leading BOM is dropped).
/// `expected` completes "give ..." in the error messages, e.g. "the fragment files made by
/// `modproxy generate`".
pub fn read_text(path: &Path, limit: u64, expected: &str) -> Result<String> {
    let name = path.display();
    let file = std::fs::File::open(path).with_context(|| format!("cannot read {name}"))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {name}"))?;
    if meta.is_dir() {
        bail!("{name} is a folder; give {expected}");
    }
    // The size is only a hint (a pipe has none); `take` enforces the limit.
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize + 1);
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() as u64 > limit {
        bail!(
            "{name} is larger than {} MiB, far more than a modproxy input holds; give {expected}",
            limit / (1024 * 1024)
        );
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{name} is not UTF-8 text; give {expected}"))?;
    Ok(text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned())
}
