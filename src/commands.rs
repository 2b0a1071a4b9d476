//! What each subcommand does, start to finish: read inputs, build the model, render, write.

use std::path::Path;

use anyhow::{Context, Result};

use crate::app_config;
use crate::cli::{
    CheckArgs, Format, GenerateArgs, LiveTarget, MergeArgs, OutputArgs, StateArgs, StatusArgs,
    StatusFormat, WeightArgs,
};
use crate::cluster::{self, Cluster, Sourced};
use crate::detect;
use crate::httpd::advisories::{self, Version};
use crate::httpd::{self, manager::Change, manager::State};
pub use crate::model::AdminState;
use crate::model::{HttpStatus, Member, Route};
use crate::output::Target;
use crate::records;
use crate::registry::{self, Registry};
use crate::render::{self, Options};
use crate::settings::{Manager, Settings};
use crate::states::{self, StateFlags};

/// `modproxy generate`: this host's fragment for the app in the current folder.
pub fn generate(args: GenerateArgs) -> Result<()> {
    let target = Target::from_arg(args.out.output.as_deref());
    target.check()?;
    let hb = render::registry(args.out.templates.as_deref())?;
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let config = app_config::load(args.config.as_deref(), &cwd)?;
    if let Some(warning) = config.route_override_warning(args.route.as_ref()) {
        eprintln!("{warning}");
    }
    let source = config.source.clone();
    let mut note = None;
    let member = config.resolve(
        app_config::Overrides {
            name: args.name,
            context_root: args.context_root,
            port: args.port,
            scheme: args.scheme,
            host: args.host,
            route: args.route,
        },
        &cwd,
        |host, route| {
            let id = detect::identity(host, route)?;
            note = id.note;
            Ok((id.host, id.route))
        },
    )?;
    if let Some(note) = &note {
        eprintln!("{note}");
    }
    let title = format!(
        "Apache fragment for app {} at {} on {} (route {})",
        member.name,
        member.context_root,
        member.url(),
        member.route
    );
    let summary = format!(
        "wrote {}: app {} at {} -> {} (route {}){}",
        target.describe(),
        member.name,
        member.context_root,
        member.url(),
        member.route,
        source
            .map(|p| format!(", from {}", p.display()))
            .unwrap_or_else(|| ", from defaults".into())
    );
    let meaning = failure_handling(&member);
    let settings = output_settings(&args.out);
    let clusters = cluster::clusters(
        vec![Sourced {
            member: member.clone(),
            source: "this host".into(),
        }],
        false,
        &settings,
    )?;
    let opts = Options {
        balance: false,
        command: command_line("modproxy generate", false, &settings),
        title,
        settings,
        keep_settings: false,
    };
    let text = rendered(&args.out, &hb, &clusters, &opts)?;
    let Some(url) = &args.publish else {
        target.write(&text)?;
        eprintln!("{summary}");
        eprintln!("{meaning}");
        return Ok(());
    };
    if args.out.format != Format::Conf {
        anyhow::bail!("--publish stores the Apache fragment; --format json is for files");
    }
    if args.out.output.is_some() {
        target.write(&text)?;
        eprintln!("{summary}");
    }
    eprintln!("{meaning}");
    crate::publish::publish(url, &args.etcd, &member, &text, args.ttl, args.keep)
}

/// What the member's failure settings mean, in words, for `generate` to say.
fn failure_handling(m: &Member) -> String {
    let retry = m.retry.get();
    let mut text = match m.timeout {
        Some(t) if m.fail_on_timeout => format!(
            "on failure: a request with no answer after {} s (\"timeout\") gets 504 and takes this member out for {retry} s; set \"timeout\" above the app's slowest legitimate request (docs/failover.md)",
            t.get()
        ),
        Some(t) => format!(
            "on failure: a request with no answer after {} s (\"timeout\") gets 504; failOnTimeout is off, so a hung member keeps its sticky users (docs/failover.md)",
            t.get()
        ),
        None => "on failure: requests wait for httpd's Timeout (docs/failover.md)".to_owned(),
    };
    match HttpStatus::list(&m.fail_on_status) {
        Some(codes) => text.push_str(&format!("; answers {codes} take it out for {retry} s")),
        None => text.push_str("; no answer status takes it out (failOnStatus [])"),
    }
    if m.scheme == crate::model::Scheme::Https {
        if m.tls_verify {
            text.push_str(&format!(
                "; TLS: httpd checks this member's certificate against {} and that it is valid for {} (the host above; --host if the certificate names another)",
                m.tls_ca_file, m.host
            ));
        } else {
            text.push_str("; WARNING: tlsVerify is false, so httpd accepts any certificate from this member and anyone on the path can pose as it");
        }
    }
    match &m.health_check {
        Some(hc) => text.push_str(&format!(
            "; health check {} every {} s",
            hc.uri, hc.interval
        )),
        None => text.push_str(
            "; no healthCheck, so a failed member is only tried again by live requests (\"retry\")",
        ),
    }
    text
}

/// `modproxy merge`: many fragments into one config, balanced with `-balancer`.
pub fn merge(args: MergeArgs) -> Result<()> {
    let target = Target::from_arg(args.out.output.as_deref());
    target.check()?;
    let merged = build_merge(&args)?;
    target.write(&merged.text)?;
    eprintln!("wrote {}: {}", target.describe(), merged.summary);
    Ok(())
}

/// A merged config, made but not written yet.
pub(crate) struct Merged {
    pub text: String,
    pub clusters: Vec<Cluster>,
    /// The modules it needs, by Debian's a2enmod names.
    pub a2enmod: Vec<&'static str>,
    /// `N balancer(s), M member(s): app at /path (n), ...`
    pub summary: String,
}

/// What `merge` makes of its inputs and flags (shared with `apply`).
pub(crate) fn build_merge(args: &MergeArgs) -> Result<Merged> {
    // Everything is read before anything is written, so an input may also be the output.
    let mut inputs = read_files(&args.inputs)?;
    if let Some(url) = &args.from {
        let (registered, _) = Registry::open(url, &args.etcd)?.read()?;
        if registered.is_empty() {
            anyhow::bail!(
                "the registry {url} holds no fragments; hosts register with `modproxy generate --publish {url}`"
            );
        }
        registry::add(registered, &mut inputs, |_, e| Err(e))?;
    }
    merge_inputs(args, inputs)
}

/// What merge's inputs hold: every member, and each source's kept settings.
#[derive(Default)]
pub(crate) struct Inputs {
    pub members: Vec<Sourced>,
    pub kept: Vec<(String, Settings)>,
}

/// Reads fragment and merged files.
pub(crate) fn read_files(paths: &[std::path::PathBuf]) -> Result<Inputs> {
    let mut inputs = Inputs::default();
    for input in paths {
        let read = records::read(input)?;
        inputs.members.extend(read.members);
        inputs
            .kept
            .push((input.display().to_string(), read.settings));
    }
    Ok(inputs)
}

/// The merge of `inputs` with `args`' flags.
pub(crate) fn merge_inputs(args: &MergeArgs, inputs: Inputs) -> Result<Merged> {
    let hb = render::registry(args.out.templates.as_deref())?;
    let Inputs { mut members, kept } = inputs;
    let settings = Settings::merged(
        kept.iter().map(|(source, s)| (source.as_str(), s)),
        merge_settings(args),
        &args.reset,
    )?;
    states::apply(
        &mut members,
        &StateFlags {
            drain: args.drain.clone(),
            disable: args.disable.clone(),
            enable: args.enable.clone(),
            weights: args.loadfactor.clone(),
        },
    )?;
    let clusters = cluster::clusters(members, args.balancer, &settings)?;
    let member_count: usize = clusters.iter().map(|c| c.members.len()).sum();
    let apps: Vec<String> = clusters
        .iter()
        .map(|c| format!("{} at {} ({})", c.name, c.context_root, c.members.len()))
        .collect();
    let opts = Options {
        balance: args.balancer,
        command: command_line("modproxy merge", args.balancer, &settings),
        title: format!(
            "Apache config for {} app(s), {} member(s): {}",
            clusters.len(),
            member_count,
            apps.join(", ")
        ),
        settings,
        keep_settings: true,
    };
    let text = rendered(&args.out, &hb, &clusters, &opts)?;
    let summary = format!(
        "{} {}, {member_count} member(s): {}",
        clusters.len(),
        if args.balancer {
            "balancer(s)"
        } else {
            "app(s)"
        },
        apps.join(", ")
    );
    let a2enmod = render::a2enmod_names(&clusters, &opts);
    Ok(Merged {
        text,
        clusters,
        a2enmod,
        summary,
    })
}

/// The file-level settings the output flags give (`generate` and `merge`).
fn output_settings(out: &OutputArgs) -> Settings {
    Settings {
        preserve_host: out.preserve_host.then_some(true),
        forwarded_headers: out.no_forwarded_headers.then_some(false),
        ..Settings::default()
    }
}

/// The settings `merge`'s flags give; the input files' kept settings fill the rest.
fn merge_settings(args: &MergeArgs) -> Settings {
    Settings {
        lbmethod: args.lbmethod,
        balancer_manager: args.balancer_manager.clone().map(|path| Manager {
            path,
            allow: args.manager_allow.clone(),
        }),
        connection_timeout: args.connection_timeout,
        retry: args.retry,
        timeout: args.timeout,
        fail_on_timeout: args.failontimeout,
        fail_on_status: args.failonstatus.clone().map(|l| l.0),
        ..output_settings(&args.out)
    }
}

/// The command that makes this file again, for its header: the command and the flags
/// that give its settings.
fn command_line(command: &str, balance: bool, s: &Settings) -> String {
    let mut line = command.to_owned();
    if balance {
        line.push_str(&format!(
            " -balancer --lbmethod {}",
            s.lbmethod.unwrap_or_default().as_str()
        ));
    }
    if s.preserve_host == Some(true) {
        line.push_str(" --preserve-host");
    }
    if s.forwarded_headers == Some(false) {
        line.push_str(" --no-forwarded-headers");
    }
    if let Some(m) = &s.balancer_manager {
        line.push_str(&format!(" --balancer-manager {}", m.path));
        for cidr in &m.allow {
            line.push_str(&format!(" --manager-allow {}", cidr.as_str()));
        }
    }
    let seconds = [
        ("--connection-timeout", s.connection_timeout),
        ("--retry", s.retry),
        ("--timeout", s.timeout),
    ];
    for (flag, value) in seconds {
        if let Some(v) = value {
            line.push_str(&format!(" {flag} {}", v.get()));
        }
    }
    if let Some(on) = s.fail_on_timeout {
        line.push_str(if on {
            " --failontimeout on"
        } else {
            " --failontimeout off"
        });
    }
    if let Some(codes) = &s.fail_on_status {
        line.push_str(&format!(
            " --failonstatus {}",
            HttpStatus::list(codes).unwrap_or_else(|| "none".into())
        ));
    }
    line
}

fn rendered(
    out: &OutputArgs,
    hb: &handlebars::Handlebars<'_>,
    clusters: &[Cluster],
    opts: &Options,
) -> Result<String> {
    match out.format {
        Format::Conf => render::render(hb, clusters, opts),
        Format::Json => render::render_json(clusters, opts),
    }
}

/// `status`'s exit codes, as monitoring plugins use them.
pub const STATUS_OK: u8 = 0;
pub const STATUS_DEGRADED: u8 = 1;
pub const STATUS_DOWN: u8 = 2;
pub const STATUS_UNKNOWN: u8 = 3;

/// `modproxy status`: every balancer's members as the running httpd sees them; returns
/// the exit code.
pub fn status(args: StatusArgs) -> Result<u8> {
    let balancers = httpd::manager::read(&args.manager)?;
    let down = balancers
        .iter()
        .any(|b| !b.members.iter().any(|m| m.usable));
    let degraded = balancers.iter().any(|b| {
        b.members
            .iter()
            .any(|m| !matches!(m.state, State::Ok | State::Standby))
    });
    let code = if down {
        STATUS_DOWN
    } else if degraded {
        STATUS_DEGRADED
    } else {
        STATUS_OK
    };
    let text = match args.format {
        StatusFormat::Json => {
            let overall = ["ok", "degraded", "down"][usize::from(code)];
            let mut t = serde_json::to_string_pretty(&serde_json::json!({
                "manager": args.manager,
                "status": overall,
                "balancers": balancers,
            }))
            .context("encoding the status as JSON")?;
            t.push('\n');
            t
        }
        StatusFormat::Table => status_table(&balancers),
    };
    Target::Stdout.write(&text)?;
    Ok(code)
}

fn status_table(balancers: &[httpd::manager::Balancer]) -> String {
    let mut out = String::new();
    for b in balancers {
        let rows: Vec<[String; 8]> = b
            .members
            .iter()
            .map(|m| {
                [
                    m.route.clone(),
                    m.url.clone(),
                    m.state.as_str().to_owned(),
                    m.busy.to_string(),
                    m.elected.to_string(),
                    format!("{}", m.load_factor),
                    m.sent.to_string(),
                    m.received.to_string(),
                ]
            })
            .collect();
        let head = [
            "route", "url", "state", "busy", "elected", "load", "sent", "received",
        ]
        .map(str::to_owned);
        let widths: Vec<usize> = (0..8)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].len())
                    .chain([head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        out.push_str(&format!("{}\n", b.name));
        for row in std::iter::once(&head).chain(&rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
        }
    }
    out
}

/// `modproxy drain|disable|enable ROUTE... --file FILE [--manager URL]`: the members'
/// state in the file (what `merge -balancer -o FILE FILE --drain ROUTE` does), and with
/// `--manager` in the running httpd too, so that no restart is needed.
pub fn set_state(args: StateArgs, state: AdminState) -> Result<()> {
    let mut flags = StateFlags::default();
    match state {
        AdminState::Drain => flags.drain = args.routes.clone(),
        AdminState::Disabled => flags.disable = args.routes.clone(),
        AdminState::Active => flags.enable = args.routes.clone(),
    }
    let changes: Vec<_> = args
        .routes
        .iter()
        .map(|r| (r.clone(), Change::State(state)))
        .collect();
    let word = match state {
        AdminState::Active => "active",
        AdminState::Drain => "draining",
        AdminState::Disabled => "disabled",
    };
    change_live(&args.target, flags, &changes, word)
}

/// `modproxy weight ROUTE=N... --file FILE [--manager URL]`: load factors, the same way.
pub fn set_weight(args: WeightArgs) -> Result<()> {
    let changes: Vec<_> = args
        .weights
        .iter()
        .map(|w| (w.route.clone(), Change::LoadFactor(w.load_factor.get())))
        .collect();
    let flags = StateFlags {
        weights: args.weights,
        ..StateFlags::default()
    };
    change_live(&args.target, flags, &changes, "their new load factor")
}

/// Rewrites the file with `flags` (as `merge -balancer -o FILE FILE` with them), then
/// makes the same `changes` in the running httpd if a manager is given.
fn change_live(
    target: &LiveTarget,
    flags: StateFlags,
    changes: &[(Route, Change)],
    what: &str,
) -> Result<()> {
    merge(MergeArgs {
        out: OutputArgs {
            output: Some(target.file.clone()),
            templates: target.templates.clone(),
            ..OutputArgs::default()
        },
        balancer: true,
        drain: flags.drain,
        disable: flags.disable,
        enable: flags.enable,
        loadfactor: flags.weights,
        inputs: vec![target.file.clone()],
        ..MergeArgs::default()
    })?;
    if let Some(url) = &target.manager {
        let changed = httpd::manager::change(url, changes).with_context(|| {
            format!(
                "{} is changed, but the running httpd may not be; a graceful restart applies the file",
                target.file.display()
            )
        })?;
        eprintln!("set {changed} member(s) to {what} in the running httpd through {url}");
    }
    Ok(())
}

/// `modproxy check`: the installed httpd's verdict on a file.
pub fn check(args: CheckArgs) -> Result<()> {
    let file = absolute(&args.file)?;
    let install = httpd::Installation::find()?;
    let version_text = install.version_text()?;
    eprintln!("httpd: {version_text} ({})", install.binary.display());
    if let Some(version) = Version::find_in(&version_text) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if let Some(needed) = records::httpd_needed(&text)
            && Version::find_in(&needed).is_some_and(|v| version < v)
        {
            eprintln!(
                "warning: {} needs Apache httpd {needed}, and this httpd is {version}; upgrade httpd or regenerate without that feature",
                args.file.display()
            );
        }
        if !args.no_cve_warnings {
            for a in advisories::open_in(version) {
                eprintln!(
                    "warning: httpd {version} is older than {}, which fixed {} ({}: {}). Distributions backport fixes without changing the version: if your vendor's advisory lists it as fixed, pass --no-cve-warnings",
                    a.fixed_in, a.cve, a.module, a.summary
                );
            }
        }
    }
    let wrapper = httpd::Wrapper::new(&install, &file)?;
    wrapper
        .syntax_check()
        .with_context(|| format!("{}: httpd's syntax check failed", args.file.display()))?;
    if args.start {
        let running = wrapper
            .start()
            .with_context(|| format!("{}: httpd failed to start with it", args.file.display()))?;
        let port = running.wrapper.port;
        running.stop();
        eprintln!(
            "OK: {} passes `{} -t` and httpd started and stopped with it on 127.0.0.1:{port}",
            args.file.display(),
            install.binary.display()
        );
    } else {
        eprintln!(
            "OK: {} passes `{} -t` (add --start to also start httpd with it)",
            args.file.display(),
            install.binary.display()
        );
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<std::path::PathBuf> {
    if path.is_dir() {
        anyhow::bail!("{} is a folder; give a config file", path.display());
    }
    std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))
}

/// `modproxy completions SHELL`: a completion script on stdout.
pub fn completions(shell: clap_complete::Shell) -> Result<()> {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "modproxy", &mut script);
    Target::Stdout.write(&String::from_utf8_lossy(&script))
}

/// `modproxy man`: the main page on stdout, or every page into `out_dir`.
pub fn man(out_dir: Option<&Path>) -> Result<()> {
    let cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let render = |cmd: clap::Command| -> Result<String> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut page)
            .context("cannot render the man page")?;
        Ok(String::from_utf8_lossy(&page).into_owned())
    };
    let Some(dir) = out_dir else {
        return Target::Stdout.write(&render(cmd)?);
    };
    let mut pages = vec![("modproxy.1".to_owned(), render(cmd.clone())?)];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("modproxy-{}", sub.get_name());
        pages.push((format!("{name}.1"), render(sub.clone().name(name))?));
    }
    for (file, text) in &pages {
        Target::File(dir.join(file)).write(text)?;
    }
    eprintln!("wrote {} man pages to {}", pages.len(), dir.display());
    Ok(())
}
