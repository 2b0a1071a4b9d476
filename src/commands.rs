//! What each subcommand does, start to finish: read inputs, build the model, render, write.

use std::path::Path;

use anyhow::{Context, Result};

use crate::app_config;
use crate::cli::{CheckArgs, Format, GenerateArgs, MergeArgs, OutputArgs};
use crate::cluster::{self, Cluster, Sourced};
use crate::detect;
use crate::httpd;
use crate::model::LbMethod;
use crate::output::Target;
use crate::overrides::{self, Overrides};
use crate::records;
use crate::render::{self, Manager, Options, ProxyOptions};

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
    let clusters = cluster::clusters(
        vec![Sourced {
            member,
            source: "this host".into(),
        }],
        false,
    )?;
    let opts = Options {
        balance: false,
        lbmethod: LbMethod::default(),
        command: format!("modproxy generate{}", proxy_flags(&args.out)),
        title,
        proxy: proxy_options(&args.out, None),
    };
    write_output(&args.out, &target, &hb, &clusters, &opts)?;
    eprintln!("{summary}");
    eprintln!("{meaning}");
    Ok(())
}

/// What the member's failure settings mean, in words, for `generate` to say.
fn failure_handling(m: &crate::model::Member) -> String {
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
    match crate::model::HttpStatus::list(&m.fail_on_status) {
        Some(codes) => text.push_str(&format!("; answers {codes} take it out for {retry} s")),
        None => text.push_str("; no answer status takes it out (failOnStatus [])"),
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
    let hb = render::registry(args.out.templates.as_deref())?;
    // Everything is read before anything is written, so an input may also be the output.
    let mut members = Vec::new();
    for input in &args.inputs {
        members.extend(records::read(input)?);
    }
    overrides::apply(
        &mut members,
        &Overrides {
            connection_timeout: args.connection_timeout,
            retry: args.retry,
            timeout: args.timeout,
            fail_on_timeout: args.failontimeout,
            fail_on_status: args.failonstatus.clone().map(|l| l.0),
            drain: args.drain.clone(),
            disable: args.disable.clone(),
            enable: args.enable.clone(),
        },
    )?;
    let clusters = cluster::clusters(members, args.balancer)?;
    let member_count: usize = clusters.iter().map(|c| c.members.len()).sum();
    let apps: Vec<String> = clusters
        .iter()
        .map(|c| format!("{} at {} ({})", c.name, c.context_root, c.members.len()))
        .collect();
    let opts = Options {
        balance: args.balancer,
        lbmethod: args.lbmethod,
        command: if args.balancer {
            format!(
                "modproxy merge -balancer --lbmethod {}{}{}",
                args.lbmethod.as_str(),
                proxy_flags(&args.out),
                manager_flags(&args)
            )
        } else {
            format!("modproxy merge{}", proxy_flags(&args.out))
        },
        title: format!(
            "Apache config for {} app(s), {} member(s): {}",
            clusters.len(),
            member_count,
            apps.join(", ")
        ),
        proxy: proxy_options(
            &args.out,
            args.balancer_manager.clone().map(|path| Manager {
                path,
                allow: args.manager_allow.clone(),
            }),
        ),
    };
    write_output(&args.out, &target, &hb, &clusters, &opts)?;
    eprintln!(
        "wrote {}: {} {}, {member_count} member(s): {}",
        target.describe(),
        clusters.len(),
        if args.balancer {
            "balancer(s)"
        } else {
            "app(s)"
        },
        apps.join(", ")
    );
    Ok(())
}

fn proxy_options(out: &OutputArgs, balancer_manager: Option<Manager>) -> ProxyOptions {
    ProxyOptions {
        preserve_host: out.preserve_host,
        forwarded_headers: !out.no_forwarded_headers,
        balancer_manager,
    }
}

/// The file-level flags, for the header's record of the command that made the file.
fn proxy_flags(out: &OutputArgs) -> String {
    let mut flags = String::new();
    if out.preserve_host {
        flags.push_str(" --preserve-host");
    }
    if out.no_forwarded_headers {
        flags.push_str(" --no-forwarded-headers");
    }
    flags
}

fn manager_flags(args: &MergeArgs) -> String {
    let mut flags = String::new();
    if let Some(path) = &args.balancer_manager {
        flags.push_str(&format!(" --balancer-manager {path}"));
    }
    for cidr in &args.manager_allow {
        flags.push_str(&format!(" --manager-allow {}", cidr.as_str()));
    }
    flags
}

fn write_output(
    out: &OutputArgs,
    target: &Target,
    hb: &handlebars::Handlebars<'_>,
    clusters: &[Cluster],
    opts: &Options,
) -> Result<()> {
    let text = match out.format {
        Format::Conf => render::render(hb, clusters, opts)?,
        Format::Json => render::render_json(clusters, opts)?,
    };
    target.write(&text)
}

/// `modproxy check`: the installed httpd's verdict on a file.
pub fn check(args: CheckArgs) -> Result<()> {
    let file = absolute(&args.file)?;
    let install = httpd::Installation::find()?;
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
