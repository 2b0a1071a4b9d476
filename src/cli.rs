//! The command line: clap definitions, and the small argv rewrite that accepts the
//! spellings of sMash's `zero modproxy` (`-balancer`, `-o=FILE`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::model::{
    AppName, Cidr, ContextRoot, Host, HttpStatus, LbMethod, Port, Route, RouteWeight, Scheme,
    Seconds,
};
use crate::registry::RegistryUrl;
use crate::settings;

#[derive(Debug, Parser)]
#[command(
    name = "modproxy",
    version,
    about = "Make an app highly available behind Apache httpd (mod_proxy_balancer).",
    long_about = "Make an app highly available behind Apache httpd.\n\n\
        On each host that runs the app, `modproxy generate` writes a per-host Apache fragment. \
        On the proxy, `modproxy merge -balancer` merges the fragments into one load-balancing \
        config with a route per host and sticky sessions where the app needs them.",
    after_help = "Examples:\n  \
        modproxy generate -o hostA.conf                 # on each app host, in the app's folder\n  \
        modproxy merge -balancer -o App.conf hostA.conf hostB.conf\n  \
        modproxy merge -balancer -o App.conf App.conf hostC.conf   # add a third host\n  \
        modproxy check App.conf --start                 # then: apachectl graceful"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write this host's Apache fragment for the app in the current folder.
    #[command(after_help = "Examples:\n  \
        modproxy generate -o hostA.conf\n  \
        modproxy generate --config /opt/shop/modproxy.json -o=hostA.conf\n  \
        modproxy generate --host app1.example.com --route app1 --port 8081\n  \
        modproxy generate            # print to standard output\n  \
        modproxy generate --publish etcd://127.0.0.1:2379/modproxy            # register it (docs/scale-out.md)\n  \
        modproxy generate --publish etcd://127.0.0.1:2379/modproxy --ttl 10 --keep   # while this runs\n\n\
        The app config is --config FILE, else ./modproxy.json, else ./config/zero.config (sMash), \
        else the defaults: name = folder name, port 8080, http, context root /.")]
    Generate(GenerateArgs),
    /// Merge fragments (and earlier merged files) into one Apache config.
    #[command(after_help = "Examples:\n  \
        modproxy merge -balancer -o App.conf hostA.conf hostB.conf\n  \
        modproxy merge -balancer -o App.conf App.conf hostC.conf   # add a host; App.conf's settings stay\n  \
        modproxy merge -o Apps.conf shop.conf blog.conf            # several apps, no balancing\n  \
        modproxy merge --balancer --lbmethod byrequests hostA.conf hostB.conf\n  \
        modproxy merge -balancer -o App.conf App.conf --reset timeout    # forget a kept setting\n  \
        modproxy merge -balancer -o App.conf App.conf --drain hostA      # maintenance\n  \
        modproxy merge -balancer -o App.conf App.conf --enable hostA\n  \
        modproxy merge -balancer --balancer-manager /balancer-manager -o App.conf A.conf B.conf\n  \
        modproxy merge -balancer --format json hostA.conf hostB.conf    # the model, for scripts\n  \
        modproxy merge -balancer --from etcd://127.0.0.1:2379/modproxy -o App.conf   # what hosts published")]
    Merge(MergeArgs),
    /// Remove a host's fragment from the registry (the last step of taking a host away).
    #[command(after_help = "Examples:\n  \
        modproxy withdraw etcd://127.0.0.1:2379/modproxy --name shop --route hostA\n\n\
        Every proxy that runs `modproxy watch` drops the member within a second or two \
        (drain it first to let its sticky users finish: docs/scale-out.md).")]
    Withdraw(WithdrawArgs),
    /// Follow the registry: on every change, do what `apply` does (check, keep the
    /// previous file, install, reload gracefully, verify, roll back).
    #[command(after_help = "Examples:\n  \
        modproxy watch --from etcd://127.0.0.1:2379/modproxy -balancer -o /etc/apache2/conf-available/app.conf\n  \
        modproxy watch --from etcd://etcd1:2379,etcd2:2379/modproxy --etcd-cacert /etc/modproxy/ca.pem \\\n      \
        --etcd-user proxy -balancer -o /etc/apache2/conf-available/app.conf --probe http://127.0.0.1/health\n\n\
        Runs until stopped (a systemd unit is in packaging/). The installed file is made from the \
        registered fragments and any FILEs, with the flags given here; the file's own kept settings \
        and the drain states and weights set with `modproxy drain`/`weight` are kept. Guards: an \
        empty registry, or a change that takes away more than half of an app's members or leaves it \
        no active member, is not applied (--force to allow); a key that is not a valid fragment is \
        skipped with an error naming it. If etcd is unreachable the installed file stays as it is \
        and the watcher retries with backoff, then catches up.",
        mut_arg("from", |a| a.required(true)))]
    Watch(WatchArgs),
    /// Check a config file with the installed Apache httpd (syntax, and with --start a real start).
    #[command(after_help = "Examples:\n  \
        modproxy check App.conf\n  \
        modproxy check --start App.conf && apachectl graceful")]
    Check(CheckArgs),
    /// Show each member's state as the running httpd sees it (from its balancer manager).
    #[command(after_help = "Examples:\n  \
        modproxy status --manager http://127.0.0.1/balancer-manager\n  \
        modproxy status --manager http://127.0.0.1/balancer-manager --format json\n\n\
        Exit status, as monitoring plugins use it: 0 every member is ok (or a hot standby); \
        1 some member is not (draining, disabled, in error, health check failed); \
        2 a balancer has no usable member; 3 the manager could not be read. \
        Merge with --balancer-manager PATH to serve the manager.")]
    Status(StatusArgs),
    /// Merge and install into a live httpd safely: check, keep the previous file, reload
    /// gracefully, verify, and roll back on any failure.
    #[command(after_help = "Examples:\n  \
        modproxy apply -balancer -o /etc/apache2/conf-available/app.conf /etc/apache2/conf-available/app.conf hostC.conf\n  \
        modproxy apply -balancer --dry-run -o app.conf app.conf hostC.conf          # show the change only\n  \
        modproxy apply -balancer -o app.conf app.conf hostC.conf --probe http://127.0.0.1/app/health\n\n\
        Same inputs and flags as merge. Steps: merge; print what changes (+ added, - removed, ~ changed); \
        refuse a change that leaves an app with no active member or removes more than half of its \
        members (--force to allow); check the result with the installed httpd (as check --start); \
        keep the previous file as FILE.previous; install the new one atomically; reload \
        (--reload CMD, default: apachectl graceful or apache2ctl graceful); with --probe, wait up \
        to 5 s for a 2xx. If the reload or the probe fails, the previous file is put back and \
        httpd reloaded again, and apply exits 1 saying so.")]
    Apply(ApplyArgs),
    /// Drain members: they keep their sticky sessions and get no new ones (in the file,
    /// and with --manager in the running httpd too, without a restart).
    #[command(after_help = "Examples:\n  \
        modproxy drain hostA --file App.conf --manager http://127.0.0.1/balancer-manager\n  \
        modproxy drain hostA --file App.conf        # the file only; takes effect at the next graceful restart\n\n\
        The file change is `modproxy merge -balancer -o App.conf App.conf --drain hostA`, written \
        atomically; with --manager the same state is set live through httpd's balancer manager, \
        so no restart is needed and the next one keeps it.")]
    Drain(StateArgs),
    /// Disable members: they get no requests at all, sticky ones included.
    #[command(after_help = "Examples:\n  \
        modproxy disable hostA --file App.conf --manager http://127.0.0.1/balancer-manager")]
    Disable(StateArgs),
    /// Put drained or disabled members back into service.
    #[command(after_help = "Examples:\n  \
        modproxy enable hostA --file App.conf --manager http://127.0.0.1/balancer-manager")]
    Enable(StateArgs),
    /// Change members' weights (load factors), in the file and with --manager live.
    #[command(after_help = "Examples:\n  \
        modproxy weight hostA=3 hostB=1 --file App.conf --manager http://127.0.0.1/balancer-manager\n\n\
        The file change is `modproxy merge -balancer -o App.conf App.conf --loadfactor hostA=3`.")]
    Weight(WeightArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:\n  \
        modproxy completions bash > /etc/bash_completion.d/modproxy\n  \
        modproxy completions zsh > \"${fpath[1]}/_modproxy\"")]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or write one page per command into a folder.
    #[command(after_help = "Examples:\n  \
        modproxy man | man -l -\n  \
        modproxy man --out-dir /usr/local/share/man/man1   # modproxy.1, modproxy-generate.1, ...")]
    Man {
        /// Write modproxy.1 and a page per subcommand (modproxy-merge.1, ...) into DIR.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
}

#[derive(Debug, Default, Args)]
pub struct OutputArgs {
    /// Write to FILE (atomically) instead of standard output; `-` means standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Use templates from DIR where it has them (config.conf.hbs, header.hbs, app.hbs,
    /// proxy-options.hbs). The member records that `merge` reads back are always written.
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Write the Apache config, or the model as JSON for automation.
    #[arg(long, value_enum, default_value_t = Format::Conf)]
    pub format: Format,

    /// Send the client's Host header to the app (ProxyPreserveHost On); default off.
    #[arg(long)]
    pub preserve_host: bool,

    /// Do not add X-Forwarded-For/-Host/-Server (ProxyAddHeaders) and X-Forwarded-Proto.
    #[arg(long)]
    pub no_forwarded_headers: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Apache httpd configuration.
    #[default]
    Conf,
    /// The model (apps, members, options) as JSON.
    Json,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub out: OutputArgs,

    /// App config: a modproxy.json, or an sMash zero.config (by its .config extension).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// App name (also the balancer's name).
    #[arg(long, value_parser = parse_with(AppName::new))]
    pub name: Option<AppName>,

    /// URL path the app serves, e.g. /shop.
    #[arg(long, value_name = "PATH", value_parser = parse_with(ContextRoot::new))]
    pub context_root: Option<ContextRoot>,

    /// Port the app listens on.
    #[arg(long, value_parser = parse_with(Port::parse))]
    pub port: Option<Port>,

    /// Scheme the app speaks: http or https.
    #[arg(long, value_parser = parse_with(Scheme::parse))]
    pub scheme: Option<Scheme>,

    /// Host name or address the proxy uses to reach this app (default: detected).
    #[arg(long, value_parser = parse_with(Host::new))]
    pub host: Option<Host>,

    /// Route of this host in the balancer (default: first label of the host name).
    #[arg(long, value_parser = parse_with(Route::new))]
    pub route: Option<Route>,

    /// Store the fragment in the registry at URL (etcd://HOST:PORT[,HOST:PORT]/PREFIX),
    /// under PREFIX/<app>/<route>; with -o it is also written to the file.
    #[arg(long, value_name = "URL", value_parser = parse_with(|s: &str| s.parse::<RegistryUrl>()))]
    pub publish: Option<RegistryUrl>,

    /// Tie the published fragment to an etcd lease of SECONDS (5-3600), so it goes away
    /// when nothing renews it (see --keep); without it, it stays until `modproxy withdraw`.
    #[arg(long, value_name = "SECONDS", requires = "publish", value_parser = clap::value_parser!(u32).range(5..=3600))]
    pub ttl: Option<u32>,

    /// Keep running and renew the lease (every third of --ttl); publish again if etcd lost
    /// it. Stop this (systemd) and the fragment expires after --ttl.
    #[arg(long, requires = "ttl")]
    pub keep: bool,

    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// How to reach a secured etcd: TLS and user.
#[derive(Debug, Default, Clone, Args)]
pub struct EtcdArgs {
    /// etcd's CA certificate (PEM); the registry is then reached over TLS (https).
    #[arg(long, value_name = "FILE")]
    pub etcd_cacert: Option<PathBuf>,

    /// A client certificate (PEM) for etcd's --client-cert-auth.
    #[arg(long, value_name = "FILE", requires_all = ["etcd_cacert", "etcd_key"])]
    pub etcd_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "etcd_cert")]
    pub etcd_key: Option<PathBuf>,

    /// etcd user; the password comes from MODPROXY_ETCD_PASSWORD or --etcd-password-file.
    #[arg(long, value_name = "NAME")]
    pub etcd_user: Option<String>,

    /// A file whose first line is the etcd user's password.
    #[arg(long, value_name = "FILE", requires = "etcd_user")]
    pub etcd_password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WithdrawArgs {
    /// The registry: etcd://HOST:PORT[,HOST:PORT]/PREFIX.
    #[arg(value_name = "URL", value_parser = parse_with(|s: &str| s.parse::<RegistryUrl>()))]
    pub url: RegistryUrl,

    /// The app the host served.
    #[arg(long, value_parser = parse_with(AppName::new))]
    pub name: AppName,

    /// The host's route.
    #[arg(long, value_parser = parse_with(Route::new))]
    pub route: Route,

    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub apply: ApplyArgs,

    /// Milliseconds to wait after a change for more changes before applying them together.
    #[arg(long, value_name = "MS", default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub debounce: u64,
}

#[derive(Debug, Default, Args)]
pub struct MergeArgs {
    #[command(flatten)]
    pub out: OutputArgs,

    /// Balance members of the same app (name and context root) in one balancer:// (sMash: -balancer).
    #[arg(short = 'b', long)]
    pub balancer: bool,

    /// How the balancer spreads requests that carry no sticky route (default: what the
    /// input files keep, else bybusyness).
    #[arg(long, value_enum)]
    pub lbmethod: Option<LbMethod>,

    /// Forget a setting the input files keep (lbmethod, balancer-manager, timeout, ...,
    /// or all), so that the default or the fragments' own value applies. Repeatable.
    #[arg(long, value_enum, value_name = "SETTING")]
    pub reset: Vec<settings::Name>,

    /// Drain the member(s) with this route: keep their sticky sessions, send them no new
    /// ones (status +N). Kept in the output until --enable. Repeatable.
    #[arg(long, value_name = "ROUTE", requires = "balancer", value_parser = parse_with(Route::new))]
    pub drain: Vec<Route>,

    /// Disable the member(s) with this route: send them nothing (status +D). Kept in the
    /// output until --enable. Repeatable.
    #[arg(long, value_name = "ROUTE", requires = "balancer", value_parser = parse_with(Route::new))]
    pub disable: Vec<Route>,

    /// Put a drained or disabled member back into service. Repeatable.
    #[arg(long, value_name = "ROUTE", requires = "balancer", value_parser = parse_with(Route::new))]
    pub enable: Vec<Route>,

    /// Give the member(s) with ROUTE load factor N (1-100; loadfactor=). Kept in the
    /// output. Repeatable.
    #[arg(long, value_name = "ROUTE=N", requires = "balancer", value_parser = parse_with(RouteWeight::parse))]
    pub loadfactor: Vec<RouteWeight>,

    /// Serve httpd's balancer-manager page at PATH (only from this machine unless
    /// --manager-allow).
    #[arg(long, value_name = "PATH", requires = "balancer", value_parser = parse_with(ContextRoot::new))]
    pub balancer_manager: Option<ContextRoot>,

    /// Let this address or network reach the balancer manager instead of only this machine.
    /// Repeatable.
    #[arg(long, value_name = "CIDR", requires = "balancer_manager", value_parser = parse_with(Cidr::new))]
    pub manager_allow: Vec<Cidr>,

    /// Seconds to wait for a connection to a member before failing over (all members).
    #[arg(long, value_name = "SECONDS", value_parser = parse_with(Seconds::parse))]
    pub connection_timeout: Option<Seconds>,

    /// Seconds before a member in error is tried again (all members).
    #[arg(long, value_name = "SECONDS", value_parser = parse_with(Seconds::parse))]
    pub retry: Option<Seconds>,

    /// Seconds to wait for a member's answer (all members; default: each fragment's
    /// "timeout", 60 s unless its app config says otherwise).
    #[arg(long, value_name = "SECONDS", value_parser = parse_with(Seconds::parse))]
    pub timeout: Option<Seconds>,

    /// Fail over when a member does not answer within its timeout: on or off (all apps).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub failontimeout: Option<bool>,

    /// HTTP statuses that put a member in error, e.g. 502,503, or none (all apps).
    #[arg(long, value_name = "CODES", value_parser = parse_with(|s: &str| HttpStatus::parse_list(s).map(StatusList)))]
    pub failonstatus: Option<StatusList>,

    /// Also merge every fragment registered at URL (etcd://HOST:PORT[,HOST:PORT]/PREFIX;
    /// see `generate --publish`).
    #[arg(long, value_name = "URL", value_parser = parse_with(|s: &str| s.parse::<RegistryUrl>()))]
    pub from: Option<RegistryUrl>,

    #[command(flatten)]
    pub etcd: EtcdArgs,

    /// Fragments from `modproxy generate`, or files from an earlier `modproxy merge`.
    #[arg(required_unless_present = "from", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
}

/// A parsed `--failonstatus` list (clap needs one value type per flag).
#[derive(Debug, Clone)]
pub struct StatusList(pub Vec<HttpStatus>);

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The config file to check, as it would be Included from httpd.conf.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Also start httpd on a free loopback port and stop it again (catches what -t misses).
    #[arg(long)]
    pub start: bool,

    /// Do not warn about published vulnerabilities the httpd's version number still has
    /// (for a distribution that backports fixes without changing it).
    #[arg(long)]
    pub no_cve_warnings: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The balancer manager's URL: http://HOST[:PORT]/PATH (merge's --balancer-manager).
    #[arg(long, value_name = "URL")]
    pub manager: String,

    /// A table for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = StatusFormat::Table)]
    pub format: StatusFormat,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub merge: MergeArgs,

    /// The command that reloads httpd gracefully (run with sh -c).
    #[arg(long, value_name = "CMD")]
    pub reload: Option<String>,

    /// After the reload, this URL must answer 2xx within 5 s (http:// only).
    #[arg(long, value_name = "URL")]
    pub probe: Option<String>,

    /// Show what would change, and stop.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply even a change that leaves an app without an active member or removes more
    /// than half of an app's members.
    #[arg(long)]
    pub force: bool,

    /// Debian/Ubuntu: enable the modules the file needs (a2enmod) before installing it,
    /// and the file itself (a2enconf) when it is in conf-available.
    #[arg(long)]
    pub enable_modules: bool,
}

#[derive(Debug, Args)]
pub struct WeightArgs {
    /// ROUTE=N: the new load factor (1-100) of every app's member with that route.
    #[arg(required = true, value_name = "ROUTE=N", value_parser = parse_with(RouteWeight::parse))]
    pub weights: Vec<RouteWeight>,

    #[command(flatten)]
    pub target: LiveTarget,
}

/// The file to change and, optionally, the running httpd's balancer manager.
#[derive(Debug, Args)]
pub struct LiveTarget {
    /// The merged file to change (written atomically).
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,

    /// Also change the running httpd through its balancer manager at URL
    /// (http://HOST[:PORT]/PATH), without a restart.
    #[arg(long, value_name = "URL")]
    pub manager: Option<String>,

    /// Use templates from DIR, as the file was made with (see merge --templates).
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The routes of the members to change (every app's member with that route).
    #[arg(required = true, value_name = "ROUTE", value_parser = parse_with(Route::new))]
    pub routes: Vec<Route>,

    #[command(flatten)]
    pub target: LiveTarget,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StatusFormat {
    Table,
    Json,
}

/// Adapts a validating constructor to clap, so a bad flag value is a usage error (exit 2).
fn parse_with<T, F>(f: F) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    F: Fn(&str) -> anyhow::Result<T> + Clone + Send + Sync + 'static,
{
    move |s| f(s).map_err(|e| e.to_string())
}

/// Rewrites sMash's single-dash long flag `-balancer` into `--balancer`, up to a `--`.
/// (`-o=FILE` needs no help: clap takes `=` after a short flag.)
pub fn normalize_args<I: IntoIterator<Item = OsString>>(args: I) -> Vec<OsString> {
    let mut seen_double_dash = false;
    args.into_iter()
        .map(|a| {
            if a == "--" {
                seen_double_dash = true;
            }
            if !seen_double_dash && a == "-balancer" {
                OsString::from("--balancer")
            } else {
                a
            }
        })
        .collect()
}
