//! `modproxy watch`: a proxy follows the registry. Each round reads every registered
//! fragment, merges them (with any files and the flags) and hands the result to `apply`'s
//! install (guards, httpd check, previous file, graceful reload, probe, rollback); then it
//! waits for etcd to report a change. Reading everything each round, instead of applying
//! events one by one, is what makes a watcher that missed events (etcd down, watcher
//! restarted) catch up, and two watchers converge on the same file.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::apply::{self, Outcome};
use crate::cli::{ApplyArgs, WatchArgs};
use crate::cluster::Sourced;
use crate::commands;
use crate::model::Member;
use crate::records::Records;
use crate::registry::{self, Registered, Registry};

/// How long one etcd watch waits before the watcher reads the registry anyway: this
/// bounds how long a hung etcd (or a silent network) goes unnoticed, at the cost of one
/// read of the prefix per proxy per wait.
const WAIT: Duration = Duration::from_secs(10);
/// Backoff while etcd is unreachable: from the first to the last, doubling.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(500), Duration::from_secs(30));

pub fn watch(args: WatchArgs) -> Result<()> {
    let apply = &args.apply;
    let Some(url) = apply.merge.from.clone() else {
        bail!("watch follows a registry: give --from etcd://HOST:PORT/PREFIX");
    };
    let target = apply::target_of(&apply.merge)?;
    let same = |p: &Path| match (p.canonicalize(), target.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => p == target,
    };
    if let Some(input) = apply.merge.inputs.iter().find(|p| same(p)) {
        bail!(
            "{} is the file watch writes; do not give it as an input too (its members would never leave): its settings, drain states and weights are kept anyway",
            input.display()
        );
    }
    let registry = Registry::open(&url, &apply.merge.etcd)?;
    eprintln!("watching {url} for {}", target.display());
    let mut log = Log::default();
    let mut failed = Failed::default();
    let mut backoff = BACKOFF.0;
    let mut unreachable = false;
    loop {
        let (registered, revision) = match registry.read() {
            Ok(read) => read,
            Err(e) => {
                log.round(vec![format!(
                    "error: {e:#}; {} keeps its last good config; retrying with backoff (up to {} s)",
                    target.display(),
                    BACKOFF.1.as_secs()
                )]);
                unreachable = true;
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(BACKOFF.1);
                continue;
            }
        };
        if unreachable {
            eprintln!("{url} is reachable again; catching up");
            unreachable = false;
        }
        backoff = BACKOFF.0;
        let mut messages = Vec::new();
        match reconcile(apply, &target, registered, &mut messages, &mut failed) {
            Ok(Outcome::Applied) => log.applied(messages),
            Ok(_) => log.round(messages),
            Err(e) => {
                messages.push(format!("error: not applied: {e:#}"));
                log.round(messages);
            }
        }
        match registry.wait_for_change(revision, WAIT) {
            Ok(true) => std::thread::sleep(Duration::from_millis(args.debounce)),
            Ok(false) => {}
            // The next read says what is wrong, if anything still is.
            Err(_) => std::thread::sleep(BACKOFF.0),
        }
    }
}

/// The last config that failed to apply (refused by a guard, rejected by httpd, or rolled
/// back), and why: the same config is not tried again every round (each try would print
/// its changes and, for a failed probe, reload httpd twice), only a different one.
#[derive(Default)]
struct Failed {
    text: String,
    error: String,
}

/// One round: the registry's fragments (invalid ones skipped, each named in `messages`),
/// the files, and the target's own settings and member states, merged and installed.
fn reconcile(
    args: &ApplyArgs,
    target: &Path,
    registered: Vec<Registered>,
    messages: &mut Vec<String>,
    failed: &mut Failed,
) -> Result<Outcome> {
    let mut inputs = commands::read_files(&args.merge.inputs)?;
    let from_registry = registry::add(registered, &mut inputs, |key, e| {
        messages.push(format!(
            "error: skipped {key}: {e:#}; the rest is applied. Publish a valid fragment there or remove the key (etcdctl del {key})"
        ));
        Ok(())
    })?;
    if from_registry == 0 && !args.force {
        bail!(
            "the registry holds no valid fragment (wiped, or a new etcd?); {} keeps what it has; if that is meant, run with --force",
            target.display()
        );
    }
    let before = apply::installed(target)?;
    if let Some(live) = &before.records {
        keep_live_state(live, &mut inputs.members);
        inputs
            .kept
            .push((target.display().to_string(), live.settings.clone()));
    }
    let merged = commands::merge_inputs(&args.merge, inputs)?;
    if merged.text == failed.text {
        bail!("{}", failed.error);
    }
    let text = merged.text.clone();
    let outcome = apply::install(args, target, &before, merged);
    *failed = match &outcome {
        Ok(_) => Failed::default(),
        Err(e) => Failed {
            text,
            error: format!("{e:#}"),
        },
    };
    outcome
}

/// What the proxy's admin set in the live file survives: the drain state and weight of
/// each member (`modproxy drain`, `weight`), whether it came from the registry or a file.
fn keep_live_state(live: &Records, members: &mut [Sourced]) {
    let key = |m: &Member| (m.name.key(), m.route.to_string());
    let states: HashMap<_, _> = live
        .members
        .iter()
        .map(|s| (key(&s.member), &s.member))
        .collect();
    for m in members {
        if let Some(l) = states.get(&key(&m.member)) {
            m.member.admin_state = l.admin_state;
            m.member.load_factor = l.load_factor;
        }
    }
}

/// The watcher's messages, each round's printed only when they differ from the last
/// round's, so a lasting problem is said once, not every round.
#[derive(Default)]
struct Log {
    last: Vec<String>,
}

impl Log {
    fn round(&mut self, messages: Vec<String>) {
        if messages != self.last {
            for m in &messages {
                eprintln!("{m}");
            }
            self.last = messages;
        }
    }

    /// An applied change was printed by `install`; its messages start a new record.
    fn applied(&mut self, messages: Vec<String>) {
        self.last.clear();
        self.round(messages);
    }
}
