//! The machine-read lines of every file modproxy writes, each written and read here: the
//! header line that lists the modules a file needs (read by `check` and the tests' httpd),
//! and the block at the end with one `# modproxy-member v1 {json}` line per member and a
//! `# modproxy-end N` trailer (read back by `merge`). Templates never write these, so no
//! template override can drop or alter them.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};

use crate::cluster::Sourced;
use crate::model::Member;
use crate::settings::Settings;

const SETTINGS_PREFIX: &str = "# modproxy-settings ";
const MEMBER_PREFIX: &str = "# modproxy-member ";
const END_PREFIX: &str = "# modproxy-end ";
const FORMAT: &str = "v1";
/// A 10,000-member merged file is about 5 MiB; 64 MiB leaves room for over 100,000.
const INPUT_LIMIT: u64 = 64 * 1024 * 1024;

/// The header line that names what a file needs: `NEEDS_PREFIX 2.4.10 or later (why)
/// NEEDS_MARKER proxy_module ...`.
const NEEDS_PREFIX: &str = "# Needs Apache httpd ";
const NEEDS_MARKER: &str = " with modules: ";

/// The header line naming the httpd and the modules (`proxy_module ...`) a file needs.
pub fn needs_line(apache_version: &str, module_ids: &[String]) -> String {
    format!(
        "{NEEDS_PREFIX}{apache_version}{NEEDS_MARKER}{}",
        module_ids.join(" ")
    )
}

/// The oldest httpd a file says it needs (from its `needs_line`), as written there:
/// `2.4.47 or later (upgrade=websocket)`.
pub fn httpd_needed(config: &str) -> Option<String> {
    config.lines().take(20).find_map(|l| {
        let (head, _) = l.split_once(NEEDS_MARKER)?;
        Some(head.strip_prefix(NEEDS_PREFIX)?.to_owned())
    })
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

/// The block that ends every file: the file's settings (when it has any), a record per
/// member and the trailer that counts them. serde_json escapes control characters, so
/// each record is always one line.
pub fn block<'a>(
    settings: &Settings,
    members: impl ExactSizeIterator<Item = &'a Member>,
) -> Result<String> {
    let count = members.len();
    let mut out =
        String::from("\n# Read back by `modproxy merge`; keep these lines as they are.\n");
    if !settings.is_empty() {
        let json = serde_json::to_string(settings).context("encoding the settings record")?;
        out.push_str(&format!("{SETTINGS_PREFIX}{FORMAT} {json}\n"));
    }
    for m in members {
        let json = serde_json::to_string(m).context("encoding a member record")?;
        out.push_str(&format!("{MEMBER_PREFIX}{FORMAT} {json}\n"));
    }
    out.push_str(&format!("{END_PREFIX}{count}\n"));
    Ok(out)
}

/// What one fragment or merged file holds for `merge`.
#[derive(Debug)]
pub struct Records {
    pub members: Vec<Sourced>,
    pub settings: Settings,
}

/// Reads every member, and the settings, from a fragment or merged file.
pub fn read(path: &Path) -> Result<Records> {
    let text = crate::input::read_text(
        path,
        INPUT_LIMIT,
        "the fragment files made by `modproxy generate` or `modproxy merge`",
    )?;
    parse(&text, &path.display().to_string())
}

/// One record's JSON, after its format version; `what` names the record in errors.
fn record<T: serde::de::DeserializeOwned>(rest: &str, what: &str, at: &str) -> Result<T> {
    let (version, json) = rest.split_once(' ').unwrap_or((rest, ""));
    if version != FORMAT {
        bail!(
            "{at}: {what} record format {version:?} is not one this modproxy reads ({FORMAT}); use the modproxy that wrote it, or regenerate the file"
        );
    }
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        anyhow!(
            "{at}: {what} record field \"{field}\": {}; regenerate this file with `modproxy generate` or `modproxy merge`",
            e.into_inner()
        )
    })
}

/// Parses the records of one file; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Records> {
    let mut members = Vec::new();
    let mut settings = None;
    let mut end = None;
    for (index, line) in text.lines().enumerate() {
        let at = || format!("{source}:{}", index + 1);
        if let Some(count) = line.strip_prefix(END_PREFIX) {
            end = Some(count.trim().parse::<usize>().map_err(|_| {
                anyhow!("{}: the end marker is damaged; regenerate this file", at())
            })?);
            continue;
        }
        let (rest, is_member) = if let Some(rest) = line.strip_prefix(MEMBER_PREFIX) {
            (rest, true)
        } else if let Some(rest) = line.strip_prefix(SETTINGS_PREFIX) {
            (rest, false)
        } else {
            continue;
        };
        if end.is_some() {
            bail!(
                "{}: record after the end marker; regenerate this file",
                at()
            );
        }
        if !is_member {
            if settings.is_some() {
                bail!("{}: a second settings record; regenerate this file", at());
            }
            settings = Some(record::<Settings>(rest, "settings", &at())?);
            continue;
        }
        let member: Member = record(rest, "member", &at())?;
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
        Some(_) => Ok(Records {
            members,
            settings: settings.unwrap_or_default(),
        }),
    }
}
