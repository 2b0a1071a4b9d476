//! Turns clusters into Apache config text (or JSON): the Handlebars registry with the
//! templates embedded from `templates/` (or read from `--templates DIR`), the plain values
//! they render, the modules and httpd version a file needs, and Apache quoting.

use std::path::Path;

use anyhow::{Context, Result, bail};
use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde::Serialize;

use crate::fragment;
use crate::merge::Cluster;
use crate::model::{
    AdminState, Cidr, ContextRoot, HttpStatus, LbMethod, Member, PROXY_COOKIE, Scheme,
    SessionAffinity,
};

/// The templates, by registry name and file name, as shipped in `templates/`.
const TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "config",
        "config.conf.hbs",
        include_str!("../templates/config.conf.hbs"),
    ),
    (
        "header",
        "header.hbs",
        include_str!("../templates/header.hbs"),
    ),
    ("app", "app.hbs", include_str!("../templates/app.hbs")),
    (
        "proxy-options",
        "proxy-options.hbs",
        include_str!("../templates/proxy-options.hbs"),
    ),
    (
        "footer",
        "footer.hbs",
        include_str!("../templates/footer.hbs"),
    ),
];

/// What kind of file to render and how.
#[derive(Debug)]
pub struct Options {
    /// Put members of one app behind a `balancer://`; without it, each app proxies to its
    /// single member directly.
    pub balance: bool,
    pub lbmethod: LbMethod,
    /// The command line to name in the header, e.g. `modproxy merge -balancer`.
    pub command: String,
    /// The header's first line.
    pub title: String,
    pub proxy: ProxyOptions,
}

/// Options for the whole file, given on the command line each time.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyOptions {
    /// Send the client's Host header to the app (`ProxyPreserveHost On`).
    pub preserve_host: bool,
    /// `X-Forwarded-For/-Host/-Server` (`ProxyAddHeaders`) and `X-Forwarded-Proto`.
    pub forwarded_headers: bool,
    pub balancer_manager: Option<Manager>,
}

impl Default for ProxyOptions {
    fn default() -> Self {
        Self {
            preserve_host: false,
            forwarded_headers: true,
            balancer_manager: None,
        }
    }
}

/// The balancer-manager page: where, and who may reach it (`Require local` if nobody).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    pub path: ContextRoot,
    pub allow: Vec<Cidr>,
}

/// An Apache module a file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Module {
    /// Short name, as `a2enmod` takes it: `proxy_http`.
    pub name: &'static str,
    /// Whether Debian ships it as a loadable module (watchdog is compiled in).
    pub a2enmod: bool,
}

impl Module {
    const fn new(name: &'static str) -> Self {
        Self {
            name,
            a2enmod: true,
        }
    }

    fn id(&self) -> String {
        format!("{}_module", self.name)
    }
}

#[derive(Serialize)]
struct DocView {
    title: String,
    version: &'static str,
    command: String,
    apache_version: String,
    module_ids: String,
    a2enmod: String,
    guards: Vec<GuardView>,
    needs_ssl: bool,
    manager: Option<ManagerView>,
    apps: Vec<AppView>,
    member_records: Vec<String>,
    member_count: usize,
}

#[derive(Serialize)]
struct GuardView {
    id: String,
    hint: String,
}

#[derive(Serialize)]
struct ManagerView {
    path: String,
    require: Vec<String>,
}

#[derive(Serialize)]
struct AppView {
    name: String,
    context_root: String,
    member_count: usize,
    affinity: String,
    balancer: Option<BalancerView>,
    /// The `<Proxy>` section that scopes this app's options.
    proxy_scope: String,
    preserve_host: bool,
    forwarded_headers: bool,
    route_cookie: Option<CookieView>,
    /// Set for every context root but `/`: ProxyPass matched plain prefixes before
    /// httpd 2.4.7x, so `/shop` would catch `/shopping`; the regex stops at a segment.
    path_regex: Option<String>,
    target: String,
    /// Worker parameters on the ProxyPass line itself (direct mode only).
    pass_params: String,
    reverse_target: String,
}

#[derive(Serialize)]
struct BalancerView {
    url: String,
    members: Vec<MemberView>,
    settings: String,
}

#[derive(Serialize)]
struct MemberView {
    url: String,
    params: String,
}

#[derive(Serialize)]
struct CookieView {
    value: String,
    condition: String,
}

/// Builds the registry from the embedded templates, replacing any that `dir` holds.
pub fn registry(dir: Option<&Path>) -> Result<Handlebars<'static>> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    hb.register_helper("quote", Box::new(quote_helper));
    if let Some(dir) = dir
        && !dir.is_dir()
    {
        bail!(
            "templates folder {} does not exist; pass a folder holding any of {}",
            dir.display(),
            TEMPLATES.iter().map(|t| t.1).collect::<Vec<_>>().join(", ")
        );
    }
    for (name, file, embedded) in TEMPLATES {
        let custom = dir.map(|d| d.join(file)).filter(|p| p.is_file());
        let text = match &custom {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read template {}", path.display()))?,
            None => (*embedded).to_owned(),
        };
        hb.register_template_string(name, text).with_context(|| {
            format!(
                "template {} does not parse",
                custom
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| format!("{file} (embedded)"))
            )
        })?;
    }
    Ok(hb)
}

/// Renders clusters into a complete config file.
pub fn render(hb: &Handlebars<'_>, clusters: &[Cluster], opts: &Options) -> Result<String> {
    let doc = doc_view(clusters, opts)?;
    let mut text = hb
        .render("config", &doc)
        .map_err(|e| anyhow::anyhow!("rendering the config failed: {e}"))?;
    // Handlebars drops the newline after a standalone partial at the end of a template.
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// The merged model as JSON, for automation (`--format json`).
pub fn render_json(clusters: &[Cluster], opts: &Options) -> Result<String> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JsonApp<'a> {
        name: &'a str,
        context_root: &'a str,
        balancer: Option<String>,
        session_affinity: &'a SessionAffinity,
        fail_on_timeout: bool,
        fail_on_status: Vec<u16>,
        members: Vec<JsonMember<'a>>,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JsonMember<'a> {
        url: String,
        source: &'a str,
        #[serde(flatten)]
        member: &'a Member,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JsonDoc<'a> {
        modproxy: &'static str,
        balanced: bool,
        lbmethod: Option<&'static str>,
        httpd_version: String,
        modules: Vec<&'static str>,
        options: &'a ProxyOptions,
        apps: Vec<JsonApp<'a>>,
    }
    let features = Features::of(clusters, opts);
    let doc = JsonDoc {
        modproxy: env!("CARGO_PKG_VERSION"),
        balanced: opts.balance,
        lbmethod: opts.balance.then(|| opts.lbmethod.as_str()),
        httpd_version: features.apache_version(),
        modules: features.modules().iter().map(|m| m.name).collect(),
        options: &opts.proxy,
        apps: clusters
            .iter()
            .map(|c| JsonApp {
                name: c.name.as_str(),
                context_root: c.context_root.as_str(),
                balancer: opts.balance.then(|| balancer_url(c)),
                session_affinity: &c.policy.session_affinity,
                fail_on_timeout: c.policy.fail_on_timeout,
                fail_on_status: c.policy.fail_on_status.iter().map(|s| s.get()).collect(),
                members: c
                    .members
                    .iter()
                    .map(|m| JsonMember {
                        url: m.member.url(),
                        source: &m.source,
                        member: &m.member,
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).context("encoding the model as JSON")?;
    text.push('\n');
    Ok(text)
}

fn doc_view(clusters: &[Cluster], opts: &Options) -> Result<DocView> {
    let members: Vec<&Member> = all_members(clusters).collect();
    let features = Features::of(clusters, opts);
    let modules = features.modules();
    let mut member_records = Vec::with_capacity(members.len());
    for m in &members {
        member_records.push(fragment::record(m)?);
    }
    Ok(DocView {
        title: opts.title.clone(),
        version: env!("CARGO_PKG_VERSION"),
        command: opts.command.clone(),
        apache_version: features.apache_version(),
        module_ids: modules.iter().map(Module::id).collect::<Vec<_>>().join(" "),
        a2enmod: modules
            .iter()
            .filter(|m| m.a2enmod)
            .map(|m| m.name)
            .collect::<Vec<_>>()
            .join(" "),
        guards: modules
            .iter()
            .map(|m| GuardView {
                id: m.id(),
                hint: if m.a2enmod {
                    format!(
                        "a2enmod {} (Debian/Ubuntu) or LoadModule {}",
                        m.name,
                        m.id()
                    )
                } else {
                    format!("LoadModule {} (Debian compiles it in)", m.id())
                },
            })
            .collect(),
        needs_ssl: features.https,
        manager: opts.proxy.balancer_manager.as_ref().map(|m| ManagerView {
            path: m.path.to_string(),
            require: if m.allow.is_empty() {
                vec!["local".into()]
            } else {
                vec![format!(
                    "ip {}",
                    m.allow
                        .iter()
                        .map(Cidr::as_str)
                        .collect::<Vec<_>>()
                        .join(" ")
                )]
            },
        }),
        apps: clusters.iter().map(|c| app_view(c, opts)).collect(),
        member_count: member_records.len(),
        member_records,
    })
}

fn all_members(clusters: &[Cluster]) -> impl Iterator<Item = &Member> {
    clusters
        .iter()
        .flat_map(|c| c.members.iter().map(|m| &m.member))
}

/// What a file uses that decides its modules and the httpd it needs, worked out once so
/// that the module list and the version line cannot disagree.
struct Features {
    balance: bool,
    lbmethod: LbMethod,
    /// Balanced members with health checks (mod_proxy_hcheck only probes balancer members).
    health_checks: bool,
    /// mod_headers with `expr=`: the proxy-cookie header or X-Forwarded-Proto.
    headers: bool,
    https: bool,
    websocket: bool,
    manager: bool,
}

impl Features {
    fn of(clusters: &[Cluster], opts: &Options) -> Self {
        let any = |f: &dyn Fn(&Member) -> bool| all_members(clusters).any(f);
        let proxy_cookie = clusters
            .iter()
            .any(|c| c.policy.session_affinity == SessionAffinity::ProxyCookie);
        Self {
            balance: opts.balance,
            lbmethod: opts.lbmethod,
            health_checks: opts.balance && any(&|m| m.health_check.is_some()),
            headers: (opts.balance && proxy_cookie) || opts.proxy.forwarded_headers,
            https: any(&|m| m.scheme == Scheme::Https),
            websocket: any(&|m| m.websocket),
            manager: opts.balance && opts.proxy.balancer_manager.is_some(),
        }
    }

    /// The modules, in load order.
    fn modules(&self) -> Vec<Module> {
        let mut mods = vec![Module::new("proxy"), Module::new("proxy_http")];
        if self.balance {
            mods.push(Module::new("slotmem_shm"));
            mods.push(Module::new("proxy_balancer"));
            mods.push(Module::new(match self.lbmethod {
                LbMethod::Byrequests => "lbmethod_byrequests",
                LbMethod::Bytraffic => "lbmethod_bytraffic",
                LbMethod::Bybusyness => "lbmethod_bybusyness",
                LbMethod::Heartbeat => "lbmethod_heartbeat",
            }));
        }
        if self.health_checks {
            mods.push(Module {
                name: "watchdog",
                a2enmod: false,
            });
            mods.push(Module::new("proxy_hcheck"));
        }
        if self.headers {
            mods.push(Module::new("headers"));
        }
        if self.https {
            mods.push(Module::new("ssl"));
        }
        if self.manager {
            mods.push(Module::new("authz_core"));
            mods.push(Module::new("authz_host"));
        }
        mods
    }

    /// The oldest httpd the file works with, and why.
    fn apache_version(&self) -> String {
        let needs = [
            (self.websocket, 47, "upgrade=websocket"),
            (self.health_checks, 21, "mod_proxy_hcheck"),
            (self.headers, 10, "mod_headers expr="),
        ];
        match needs.iter().filter(|n| n.0).max_by_key(|n| n.1) {
            Some((_, patch, why)) => format!("2.4.{patch} or later ({why})"),
            None => "2.4 or later".into(),
        }
    }
}

fn balancer_url(c: &Cluster) -> String {
    format!("balancer://{}", c.name.key())
}

fn app_view(c: &Cluster, opts: &Options) -> AppView {
    let ctx = c.context_root.as_str();
    let root = c.context_root.is_root();
    let path_regex = (!root).then(|| c.context_root.match_regex());
    let base = |url: &str| AppView {
        name: c.name.to_string(),
        context_root: ctx.to_owned(),
        member_count: c.members.len(),
        affinity: c.policy.session_affinity.describe(),
        balancer: None,
        proxy_scope: format!("{url}/"),
        preserve_host: opts.proxy.preserve_host,
        forwarded_headers: opts.proxy.forwarded_headers,
        route_cookie: None,
        path_regex: path_regex.clone(),
        // ProxyPassMatch appends the whole request path when the target has no `$1`.
        target: if root {
            format!("{url}/")
        } else {
            url.to_owned()
        },
        pass_params: String::new(),
        reverse_target: format!("{url}{ctx}"),
    };
    if !opts.balance {
        let member = &c.members[0].member;
        return AppView {
            pass_params: worker_params(member),
            ..base(&member.url())
        };
    }
    let balancer_url = balancer_url(c);
    let mut settings = format!("lbmethod={}", opts.lbmethod.as_str());
    if let Some(cookie) = c.policy.session_affinity.sticky_cookie() {
        settings.push_str(&format!(" stickysession={cookie}"));
    }
    if c.policy.fail_on_timeout {
        settings.push_str(" failontimeout=On");
    }
    if let Some(codes) = HttpStatus::list(&c.policy.fail_on_status) {
        settings.push_str(&format!(" failonstatus={codes}"));
    }
    let route_cookie = (c.policy.session_affinity == SessionAffinity::ProxyCookie).then(|| {
        CookieView {
            value: format!("{PROXY_COOKIE}=.%{{BALANCER_WORKER_ROUTE}}e; path={ctx}"),
            // Scoped to this balancer so that several apps in one file do not set each
            // other's cookie (BALANCER_ROUTE_CHANGED is set by every balancer).
            condition: format!(
                "expr=-n reqenv('BALANCER_ROUTE_CHANGED') && reqenv('BALANCER_NAME') == '{balancer_url}'"
            ),
        }
    });
    AppView {
        balancer: Some(BalancerView {
            members: c.members.iter().map(|m| member_view(&m.member)).collect(),
            url: balancer_url.clone(),
            settings,
        }),
        proxy_scope: balancer_url.clone(),
        route_cookie,
        ..base(&balancer_url)
    }
}

/// Parameters of the connection to one app instance, on a BalancerMember or a ProxyPass.
fn worker_params(m: &Member) -> String {
    let mut p = format!(
        "connectiontimeout={} retry={}",
        m.connection_timeout.get(),
        m.retry.get()
    );
    if let Some(t) = m.timeout {
        p.push_str(&format!(" timeout={}", t.get()));
    }
    if m.websocket {
        p.push_str(" upgrade=websocket");
    }
    p
}

fn member_view(m: &Member) -> MemberView {
    let mut params = format!("route={} loadfactor={}", m.route, m.load_factor.get());
    let mut status = String::new();
    if m.standby {
        status.push('H');
    }
    match m.admin_state {
        AdminState::Active => {}
        AdminState::Drain => status.push('N'),
        AdminState::Disabled => status.push('D'),
    }
    if !status.is_empty() {
        params.push_str(&format!(" status=+{status}"));
    }
    params.push(' ');
    params.push_str(&worker_params(m));
    if let Some(hc) = &m.health_check {
        params.push_str(&format!(
            " hcmethod=GET hcuri={} hcinterval={} hcpasses=1 hcfails=1",
            hc.uri, hc.interval
        ));
    }
    MemberView {
        url: m.url(),
        params,
    }
}

/// Quotes a value for Apache's config parser. Values are validated long before they get
/// here; this refuses anything that could still end the string or the line, or that httpd
/// would expand (`${VAR}`), so a bug elsewhere fails loudly instead of adding a directive.
pub fn apache_quote(value: &str) -> Result<String> {
    if value
        .chars()
        .any(|c| c.is_control() || c == '"' || c == '\\')
        || value.contains("${")
    {
        bail!(
            "refusing to quote {value:?} for Apache: it holds a quote, backslash, control character or ${{"
        );
    }
    Ok(format!("\"{value}\""))
}

fn quote_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &HbContext,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let param = h
        .param(0)
        .ok_or_else(|| RenderErrorReason::ParamNotFoundForIndex("quote", 0))?;
    let value = param
        .value()
        .as_str()
        .ok_or_else(|| RenderErrorReason::InvalidParamType("string"))?;
    let quoted = apache_quote(value)
        .map_err(|e| RenderError::from(RenderErrorReason::Other(e.to_string())))?;
    out.write(&quoted)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_refuses_what_could_escape_the_string() {
        assert_eq!(apache_quote("/app").unwrap(), "\"/app\"");
        for bad in ["a\"b", "a\nb", "a\\", "${HOME}", "a\rb", "\u{0}"] {
            assert!(apache_quote(bad).is_err(), "{bad:?} quoted");
        }
    }

    #[test]
    fn embedded_templates_parse() {
        registry(None).unwrap();
    }
}
