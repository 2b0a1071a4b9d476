//! The machine-read lines of every file modproxy writes, each written and read here: the
//! header line that lists the modules a file needs (read by `check` and the tests' httpd),
//! and the block at the end with one `# modproxy-member v1 {json}` line per member and a
//! `# modproxy-end N` trailer (read back by `merge`). Templates never write these, so no
//! template override can drop or alter them.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::cluster::Sourced;
use crate::model::Member;

const MEMBER_PREFIX: &str = "# modproxy-member ";
const END_PREFIX: &str = "# modproxy-end ";
const FORMAT: &str = "v1";
/// A 10,000-member merged file is about 5 MiB; 64 MiB leaves room for over 100,000.
const INPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// Where the needed modules are listed in a generated file's header.
const NEEDS_MARKER: &str = " with modules: ";

/// The header line naming the httpd and the modules (`proxy_module ...`) a file needs.
pub fn needs_line(apache_version: &str, module_ids: &[String]) -> String {
    format!(
        "# Needs Apache httpd {apache_version}{NEEDS_MARKER}{}",
        module_ids.join(" ")
    )
}

/// The modules a file says it needs (from its `needs_line`), by short name.
pub fn modules_listed(config: &str) -> Option<Vec<String>> {
    config.lines().take(20).find_map(|l| {
        let (_, list) = l.split_once(NEEDS_MARKER)?;
        Some(
            list.split_whitespace()
                .map(|m| m.strip_suffix("_module").unwrap_or(m).to_owned())
                .collect(),
        )
    })
}

/// The block that ends every file: a record per member and the trailer that counts them.
/// serde_json escapes control characters, so each record is always one line.
pub fn block<'a>(members: impl ExactSizeIterator<Item = &'a Member>) -> Result<String> {
    let count = members.len();
    let mut out =
        String::from("\n# Read back by `modproxy merge`; keep these lines as they are.\n");
    for m in members {
        let json = serde_json::to_string(m).context("encoding a member record")?;
        out.push_str(&format!("{MEMBER_PREFIX}{FORMAT} {json}\n"));
    }
    out.push_str(&format!("{END_PREFIX}{count}\n"));
    Ok(out)
}

/// Reads every member from a fragment or merged file.
pub fn read(path: &Path) -> Result<Vec<Sourced>> {
    let text = crate::input::read_text(
        path,
        INPUT_LIMIT,
        "the fragment files made by `modproxy generate` or `modproxy merge`",
    )?;
    parse(&text, &path.display().to_string())
}

/// Parses the member records of one file; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Vec<Sourced>> {
    let mut members = Vec::new();
    let mut end = None;
    for (index, line) in text.lines().enumerate() {
        let at = || format!("{source}:{}", index + 1);
        if let Some(count) = line.strip_prefix(END_PREFIX) {
            end = Some(count.trim().parse::<usize>().map_err(|_| {
                anyhow!("{}: the end marker is damaged; regenerate this file", at())
            })?);
            continue;
        }
        let Some(rest) = line.strip_prefix(MEMBER_PREFIX) else {
            continue;
        };
        if end.is_some() {
            bail!(
                "{}: member record after the end marker; regenerate this file",
                at()
            );
        }
        let (version, json) = rest.split_once(' ').unwrap_or((rest, ""));
        if version != FORMAT {
            bail!(
                "{}: member record format {version:?} is not one this modproxy reads ({FORMAT}); use the modproxy that wrote it, or regenerate the file",
                at()
            );
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let member: Member = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = e.path().to_string();
            anyhow!(
                "{}: member record field \"{field}\": {}; regenerate this file with `modproxy generate`",
                at(),
                e.into_inner()
            )
        })?;
        members.push(Sourced {
            member,
            source: source.to_owned(),
        });
    }
    match end {
        None if members.is_empty() => bail!(
            "{source} is not a modproxy fragment (it has no \"{}\" lines); give files made by `modproxy generate` or `modproxy merge`",
            MEMBER_PREFIX.trim_end()
        ),
        None => bail!(
            "{source} is incomplete (its \"{}\" line is missing): it was cut short; copy it again or regenerate it",
            END_PREFIX.trim_end()
        ),
        Some(n) if n != members.len() => bail!(
            "{source} is incomplete: it should hold {n} member records but holds {}; copy it again or regenerate it",
            members.len()
        ),
        Some(_) => Ok(members),
    }
}
