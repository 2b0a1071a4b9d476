//! `modproxy apply`: the safe way to change a live proxy. Merge (as `merge` does), show
//! what changes, refuse a change that would leave an app without an active member or take
//! away more than half of its members, check the result with the real httpd, keep the
//! previous file, install the new one atomically, reload httpd gracefully and verify; on
//! any failure after the install, put the previous file back and reload again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cli::{ApplyArgs, Format, MergeArgs};
use crate::cluster::Cluster;
use crate::commands::{Merged, build_merge};
use crate::httpd::{self, client};
use crate::model::{AdminState, Member};
use crate::output::Target;
use crate::records::{self, Records};

/// A member as `apply` compares them: app and route.
type Key = (String, String);

/// What changes between the installed file and the new one, in words, one line each.
fn changes(old: &[Member], new: &[Member]) -> Vec<String> {
    let key = |m: &Member| (m.name.to_string(), m.route.to_string());
    let old: BTreeMap<Key, &Member> = old.iter().map(|m| (key(m), m)).collect();
    let new: BTreeMap<Key, &Member> = new.iter().map(|m| (key(m), m)).collect();
    let mut out = Vec::new();
    for (k, m) in &new {
        match old.get(k) {
            None => out.push(format!("+ {} member {} ({})", k.0, k.1, m.url())),
            Some(o) => {
                if o.url() != m.url() {
                    out.push(format!(
                        "~ {} member {}: {} -> {}",
                        k.0,
                        k.1,
                        o.url(),
                        m.url()
                    ));
                }
                if o.admin_state != m.admin_state {
                    out.push(format!(
                        "~ {} member {}: {:?} -> {:?}",
                        k.0, k.1, o.admin_state, m.admin_state
                    ));
                }
                if o.load_factor != m.load_factor {
                    out.push(format!(
                        "~ {} member {}: load factor {} -> {}",
                        k.0,
                        k.1,
                        o.load_factor.get(),
                        m.load_factor.get()
                    ));
                }
            }
        }
    }
    for (k, m) in &old {
        if !new.contains_key(k) {
            out.push(format!("- {} member {} ({})", k.0, k.1, m.url()));
        }
    }
    out
}

/// The guards: every app keeps an active member, and none loses more than half of its
/// members at once.
fn guard(old: &[Member], clusters: &[Cluster]) -> Result<()> {
    for c in clusters {
        if !c
            .members
            .iter()
            .any(|m| m.member.admin_state == AdminState::Active)
        {
            bail!(
                "app {} would have no active member (all drained or disabled); enable one, or pass --force",
                c.name
            );
        }
    }
    let mut before: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for m in old {
        before
            .entry(m.name.key())
            .or_default()
            .push(m.route.as_str());
    }
    for (app, routes) in before {
        let kept = clusters
            .iter()
            .filter(|c| c.name.key() == app)
            .flat_map(|c| &c.members)
            .filter(|m| routes.contains(&m.member.route.as_str()))
            .count();
        let removed = routes.len() - kept;
        if removed * 2 > routes.len() {
            bail!(
                "app {app} would lose {removed} of its {} members at once; if that is meant, pass --force",
                routes.len()
            );
        }
    }
    Ok(())
}

/// `apachectl graceful` or `apache2ctl graceful`, whichever is on the PATH.
fn default_reload() -> Result<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["apachectl", "apache2ctl"] {
        if std::env::split_paths(&path).any(|d| d.join(name).is_file()) {
            return Ok(format!("{name} graceful"));
        }
    }
    bail!(
        "neither apachectl nor apache2ctl is on the PATH; give the command that reloads httpd gracefully with --reload CMD"
    )
}

fn run_reload(cmd: &str) -> Result<()> {
    let out = Command::new("sh")
        .args(["-c", cmd])
        .output()
        .with_context(|| format!("cannot run the reload command {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "the reload command {cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Polls `url` until it answers 2xx, for up to 5 s.
fn probe(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = String::new();
    while Instant::now() < deadline {
        match client::request(url, "GET", "", "") {
            Ok((status, _)) if (200..300).contains(&status) => return Ok(()),
            Ok((status, _)) => last = format!("answered {status}"),
            Err(e) => last = format!("{e:#}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("the probe {url} did not answer 2xx within 5 s (last: {last})")
}

/// The name a2enconf knows `target` by, when it is a `.conf` in a `conf-available` folder.
fn conf_available_name(target: &Path) -> Option<String> {
    let folder = target.parent()?.file_name()?;
    let stem = target.file_stem()?.to_str()?;
    (folder == "conf-available" && target.extension()? == "conf").then(|| stem.to_owned())
}

/// Runs one of Debian's a2enmod family quietly with `names`.
fn run_tool(tool: &str, names: &[&str]) -> Result<()> {
    let out = Command::new(tool)
        .arg("-q")
        .args(names)
        .output()
        .with_context(|| format!("cannot run {tool} (Debian/Ubuntu's apache2 package has it)"))?;
    if !out.status.success() {
        bail!(
            "{tool} {} failed ({}): {}",
            names.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The file beside `target` that keeps the previous config.
fn previous_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(".previous");
    target.with_file_name(name)
}

/// What `install` did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The file already holds this config.
    Unchanged,
    /// `--dry-run`: the changes were shown, nothing else done.
    Shown,
    Applied,
}

/// The live file `apply` (and `watch`) change: `-o`, checked to be writable.
pub(crate) fn target_of(merge: &MergeArgs) -> Result<PathBuf> {
    let Some(target_path) = merge.out.output.clone().filter(|p| p.as_os_str() != "-") else {
        bail!("give the live file to change: -o /etc/apache2/conf-available/app.conf");
    };
    if merge.out.format != Format::Conf {
        bail!("apply and watch install Apache config; --format json is for merge");
    }
    Target::from_arg(Some(&target_path)).check()?;
    Ok(target_path)
}

/// The live file as it is before a change: its text and records, or nothing yet.
pub(crate) struct Installed {
    pub text: Option<String>,
    pub records: Option<Records>,
}

/// Reads the live file once, for the change list, the guards and the rollback (and for
/// `watch`, the states it carries over).
pub(crate) fn installed(target_path: &Path) -> Result<Installed> {
    let text = match std::fs::read_to_string(target_path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", target_path.display())),
    };
    let records = match &text {
        Some(t) => Some(records::parse(t, &target_path.display().to_string())?),
        None => None,
    };
    Ok(Installed { text, records })
}

pub fn apply(args: ApplyArgs) -> Result<()> {
    let target_path = target_of(&args.merge)?;
    let merged = build_merge(&args.merge)?;
    let before = installed(&target_path)?;
    if install(&args, &target_path, &before, merged)? == Outcome::Unchanged {
        eprintln!("{}: no change", target_path.display());
    }
    Ok(())
}

/// Installs `merged` over `before` (the live file, read with `installed`) as `apply`
/// does: print the changes, guard, check with httpd, keep the previous file, install,
/// reload, probe, roll back.
pub(crate) fn install(
    args: &ApplyArgs,
    target_path: &Path,
    before: &Installed,
    merged: Merged,
) -> Result<Outcome> {
    let target = Target::from_arg(Some(target_path));
    let old_text = &before.text;
    if old_text.as_deref() == Some(merged.text.as_str()) {
        return Ok(Outcome::Unchanged);
    }
    let old_members: Vec<Member> = before
        .records
        .iter()
        .flat_map(|r| r.members.iter().map(|s| s.member.clone()))
        .collect();
    let new_members: Vec<Member> = merged
        .clusters
        .iter()
        .flat_map(|c| c.members.iter().map(|m| m.member.clone()))
        .collect();
    let changed = changes(&old_members, &new_members);
    if changed.is_empty() {
        eprintln!(
            "{}: settings or text change, no member changes",
            target_path.display()
        );
    } else {
        for line in &changed {
            eprintln!("{line}");
        }
    }
    if args.dry_run {
        return Ok(Outcome::Shown);
    }
    if !args.force {
        guard(&old_members, &merged.clusters)?;
    }
    let reload = match &args.reload {
        Some(cmd) => cmd.clone(),
        None => default_reload()?,
    };

    // httpd's own verdict on the new file, before anything is installed.
    let candidate = tempfile::Builder::new()
        .prefix("modproxy-apply-")
        .suffix(".conf")
        .tempfile()
        .context("cannot create a temp file to check the new config")?;
    std::fs::write(candidate.path(), &merged.text)
        .context("cannot write the new config to check it")?;
    let install = httpd::Installation::find()?;
    let wrapper = httpd::Wrapper::new(&install, candidate.path())?;
    wrapper
        .syntax_check()
        .context("httpd rejects the new config; nothing was installed")?;
    wrapper
        .start()
        .context("httpd does not start with the new config; nothing was installed")?
        .stop();

    // Debian: what the file needs, enabled before it is installed.
    let conf_name = args
        .enable_modules
        .then(|| conf_available_name(target_path))
        .flatten();
    if args.enable_modules {
        run_tool("a2enmod", &merged.a2enmod)
            .context("cannot enable the modules the new config needs; nothing was installed")?;
    }

    if let Some(old) = &old_text {
        Target::from_arg(Some(&previous_path(target_path)))
            .write(old)
            .context("cannot keep the previous config; nothing was installed")?;
    }
    target.write(&merged.text)?;
    let enabled_conf = match &conf_name {
        Some(name) => run_tool("a2enconf", &[name.as_str()]).map(|()| true),
        None => Ok(false),
    };
    let conf_linked = matches!(enabled_conf, Ok(true));
    let verified = enabled_conf
        .and_then(|_| run_reload(&reload))
        .and_then(|()| match &args.probe {
            Some(url) => probe(url),
            None => Ok(()),
        });
    if let Err(failure) = verified {
        let restored = match &old_text {
            Some(old) => target.write(old),
            None => {
                // A new file goes away again, and so does the link a2enconf made for it.
                let disabled = match &conf_name {
                    Some(name) if conf_linked => run_tool("a2disconf", &[name.as_str()]),
                    _ => Ok(()),
                };
                disabled.and_then(|()| {
                    std::fs::remove_file(target_path)
                        .with_context(|| format!("cannot remove {}", target_path.display()))
                })
            }
        };
        let file = target_path.display();
        return Err(match restored {
            Err(e) => failure.context(format!(
                "the new config failed, and putting the previous one back failed too ({e:#}); {file} may hold the new config: check it now"
            )),
            Ok(()) => match run_reload(&reload) {
                Ok(()) => failure.context(format!(
                    "the new config failed; the previous config of {file} is back in place and httpd reloaded it"
                )),
                Err(e) => failure.context(format!(
                    "the new config failed; the previous config of {file} is back in place, but reloading it failed too ({e:#}): httpd serves what it loaded last"
                )),
            },
        });
    }
    eprintln!(
        "applied {}: {}{}",
        target_path.display(),
        merged.summary,
        if args.probe.is_some() {
            "; the probe answers"
        } else {
            ""
        }
    );
    Ok(Outcome::Applied)
}
