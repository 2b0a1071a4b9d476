//! The machine-readable part of a generated file: one `# modproxy-member v1 {json}` comment
//! line per member and a `# modproxy-end N` trailer, written into every fragment and merged
//! file and read back by `merge`.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::merge::Sourced;
use crate::model::Member;

const MEMBER_PREFIX: &str = "# modproxy-member ";
const END_PREFIX: &str = "# modproxy-end ";
const FORMAT: &str = "v1";
/// A 10,000-member merged file is about 5 MiB; 64 MiB leaves room for over 100,000.
const INPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// The text after `# modproxy-member ` for one member: the format version and its JSON.
/// serde_json escapes control characters, so the record is always one line.
pub fn record(m: &Member) -> Result<String> {
    let json = serde_json::to_string(m).context("encoding a member record")?;
    Ok(format!("{FORMAT} {json}"))
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
