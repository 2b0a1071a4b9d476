//! Turns clusters into Apache config text (or JSON): the Handlebars registry with the
//! templates embedded from `templates/` (or read from `--templates DIR`), the plain values
//! they render, and Apache quoting. What those values are in Apache's terms is worked out
//! in `directives`; the machine-read lines are written by `records`.

use std::path::Path;

use anyhow::{Context, Result, bail};
use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde::Serialize;

use crate::cluster::Cluster;
use crate::directives::{self, Features, Module};
use crate::model::{LbMethod, Member, Scheme, SessionAffinity};
use crate::records;
use crate::settings::{Manager, Settings};

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
];

/// What kind of file to render and how.
#[derive(Debug)]
pub struct Options {
    /// Put members of one app behind a `balancer://`; without it, each app proxies to its
    /// single member directly.
    pub balance: bool,
    /// The file's settings, applied here.
    pub settings: Settings,
    /// Keep `settings` in the file's records, so that the next merge of it keeps them
    /// (`merge`); `generate`'s flags shape only the fragment itself.
    pub keep_settings: bool,
    /// The command line to name in the header, e.g. `modproxy merge -balancer`.
    pub command: String,
    /// The header's first line.
    pub title: String,
}

impl Options {
    pub fn lbmethod(&self) -> LbMethod {
        self.settings.lbmethod.unwrap_or_default()
    }

    fn proxy(&self) -> ProxyOptions {
        ProxyOptions {
            preserve_host: self.settings.preserve_host.unwrap_or(false),
            forwarded_headers: self.settings.forwarded_headers.unwrap_or(true),
            balancer_manager: self
                .settings
                .balancer_manager
                .clone()
                .filter(|_| self.balance),
        }
    }
}

/// The proxy options a file ends up with, its settings and the defaults combined.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ProxyOptions {
    /// Send the client's Host header to the app (`ProxyPreserveHost On`).
    preserve_host: bool,
    /// `X-Forwarded-For/-Host/-Server` (`ProxyAddHeaders`) and `X-Forwarded-Proto`.
    forwarded_headers: bool,
    balancer_manager: Option<Manager>,
}

#[derive(Serialize)]
struct DocView {
    title: String,
    version: &'static str,
    command: String,
    needs_line: String,
    a2enmod: String,
    guards: Vec<GuardView>,
    needs_ssl: bool,
    manager: Option<ManagerView>,
    apps: Vec<AppView>,
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
    /// For apps with HTTPS members: how httpd verifies them.
    tls: Option<TlsView>,
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
struct TlsView {
    verify: bool,
    ca_file: String,
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
    let none = Settings::default();
    text.push_str(&records::block(
        if opts.keep_settings {
            &opts.settings
        } else {
            &none
        },
        clusters
            .iter()
            .flat_map(|c| c.members.iter().map(|m| &m.member))
            .collect::<Vec<_>>()
            .into_iter(),
    )?);
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
        member: Member,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct JsonDoc<'a> {
        modproxy: &'static str,
        balanced: bool,
        lbmethod: Option<&'static str>,
        httpd_version: String,
        modules: Vec<&'static str>,
        options: ProxyOptions,
        apps: Vec<JsonApp<'a>>,
    }
    let features = features(clusters, opts);
    let doc = JsonDoc {
        modproxy: env!("CARGO_PKG_VERSION"),
        balanced: opts.balance,
        lbmethod: opts.balance.then(|| opts.lbmethod().as_str()),
        httpd_version: features.apache_version(),
        modules: features.modules().iter().map(|m| m.name).collect(),
        options: opts.proxy(),
        apps: clusters
            .iter()
            .map(|c| JsonApp {
                name: c.name.as_str(),
                context_root: c.context_root.as_str(),
                balancer: opts.balance.then(|| directives::balancer_url(c)),
                session_affinity: &c.policy.session_affinity,
                fail_on_timeout: c.policy.fail_on_timeout,
                fail_on_status: c.policy.fail_on_status.iter().map(|s| s.get()).collect(),
                members: c
                    .members
                    .iter()
                    .map(|m| JsonMember {
                        url: m.member.url(),
                        source: &m.source,
                        member: opts.settings.apply(&m.member),
                    })
                    .collect(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&doc).context("encoding the model as JSON")?;
    text.push('\n');
    Ok(text)
}

/// The modules the file needs, as Debian's `a2enmod` names them (those it can enable).
pub fn a2enmod_names(clusters: &[Cluster], opts: &Options) -> Vec<&'static str> {
    features(clusters, opts)
        .modules()
        .iter()
        .filter(|m| m.a2enmod)
        .map(|m| m.name)
        .collect()
}

fn features(clusters: &[Cluster], opts: &Options) -> Features {
    Features::of(
        clusters,
        opts.balance,
        opts.lbmethod(),
        opts.proxy().forwarded_headers,
        opts.proxy().balancer_manager.is_some(),
    )
}

fn doc_view(clusters: &[Cluster], opts: &Options) -> Result<DocView> {
    let features = features(clusters, opts);
    let modules = features.modules();
    Ok(DocView {
        title: opts.title.clone(),
        version: env!("CARGO_PKG_VERSION"),
        command: opts.command.clone(),
        needs_line: records::needs_line(
            &features.apache_version(),
            &modules.iter().map(Module::id).collect::<Vec<_>>(),
        ),
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
        manager: opts.proxy().balancer_manager.map(|m| ManagerView {
            path: m.path.to_string(),
            require: vec![directives::manager_require(&m.allow)],
        }),
        apps: clusters.iter().map(|c| app_view(c, opts)).collect(),
    })
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
        preserve_host: opts.proxy().preserve_host,
        forwarded_headers: opts.proxy().forwarded_headers,
        route_cookie: None,
        tls: c
            .members
            .iter()
            .any(|m| m.member.scheme == Scheme::Https)
            .then(|| TlsView {
                verify: c.policy.tls_verify,
                ca_file: c.policy.tls_ca_file.to_string(),
            }),
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
            pass_params: directives::worker_params(&opts.settings.apply(member)),
            ..base(&member.url())
        };
    }
    let balancer_url = directives::balancer_url(c);
    let route_cookie =
        directives::route_cookie(c).map(|(value, condition)| CookieView { value, condition });
    AppView {
        balancer: Some(BalancerView {
            members: c
                .members
                .iter()
                .map(|m| MemberView {
                    url: m.member.url(),
                    params: directives::member_params(&opts.settings.apply(&m.member)),
                })
                .collect(),
            url: balancer_url.clone(),
            settings: directives::balancer_settings(c, opts.lbmethod()),
        }),
        proxy_scope: balancer_url.clone(),
        route_cookie,
        ..base(&balancer_url)
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
