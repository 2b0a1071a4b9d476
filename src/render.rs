//! Turns clusters into Apache config text: the Handlebars registry with the templates
//! embedded from `templates/` (or read from `--templates DIR`), the plain values they
//! render, and Apache quoting.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use handlebars::{
    Context as HbContext, Handlebars, Helper, HelperResult, Output, RenderContext, RenderError,
    RenderErrorReason,
};
use serde::Serialize;

use crate::fragment;
use crate::merge::Cluster;
use crate::model::{LbMethod, Member, PROXY_COOKIE, Scheme, SessionAffinity};

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
        "footer",
        "footer.hbs",
        include_str!("../templates/footer.hbs"),
    ),
];

/// Failure handling on every member. `connectiontimeout` keeps a dead host from holding a
/// request for httpd's 60 s default; `retry` is how soon a member in error is tried again.
pub const MEMBER_DEFAULTS: &str = "connectiontimeout=2 retry=5";

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
}

#[derive(Serialize)]
struct DocView {
    title: String,
    version: &'static str,
    command: String,
    apache_version: &'static str,
    module_ids: String,
    a2enmod: String,
    needs_ssl: bool,
    apps: Vec<AppView>,
    member_records: Vec<String>,
    member_count: usize,
}

#[derive(Serialize)]
struct AppView {
    name: String,
    context_root: String,
    member_count: usize,
    affinity: String,
    balancer: Option<BalancerView>,
    route_cookie: Option<CookieView>,
    /// Set for every context root but `/`: ProxyPass matches plain prefixes, so `/shop`
    /// would also catch `/shopping`; the regex stops at a path-segment boundary.
    path_regex: Option<String>,
    target: String,
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

fn doc_view(clusters: &[Cluster], opts: &Options) -> Result<DocView> {
    let members: Vec<&Member> = clusters
        .iter()
        .flat_map(|c| c.members.iter().map(|m| &m.member))
        .collect();
    let modules = modules_needed(clusters, opts);
    let needs_ssl = members.iter().any(|m| m.scheme == Scheme::Https);
    let mut member_records = Vec::with_capacity(members.len());
    for m in &members {
        member_records.push(fragment::record(m)?);
    }
    Ok(DocView {
        title: opts.title.clone(),
        version: env!("CARGO_PKG_VERSION"),
        command: opts.command.clone(),
        apache_version: apache_version_needed(clusters, opts),
        module_ids: modules
            .iter()
            .map(|m| format!("{m}_module"))
            .collect::<Vec<_>>()
            .join(" "),
        a2enmod: modules.join(" "),
        needs_ssl,
        apps: clusters.iter().map(|c| app_view(c, opts)).collect(),
        member_count: member_records.len(),
        member_records,
    })
}

/// Modules by their short (a2enmod) names, in load order.
fn modules_needed(clusters: &[Cluster], opts: &Options) -> Vec<&'static str> {
    let all = || {
        clusters
            .iter()
            .flat_map(|c| c.members.iter().map(|m| &m.member))
    };
    let mut mods = vec!["proxy", "proxy_http"];
    if opts.balance {
        mods.extend([
            "slotmem_shm",
            "proxy_balancer",
            match opts.lbmethod {
                LbMethod::Byrequests => "lbmethod_byrequests",
                LbMethod::Bytraffic => "lbmethod_bytraffic",
                LbMethod::Bybusyness => "lbmethod_bybusyness",
                LbMethod::Heartbeat => "lbmethod_heartbeat",
            },
        ]);
        if all().any(|m| m.health_check.is_some()) {
            mods.push("proxy_hcheck");
        }
        if clusters
            .iter()
            .any(|c| c.session_affinity == SessionAffinity::ProxyCookie)
        {
            mods.push("headers");
        }
    }
    if all().any(|m| m.scheme == Scheme::Https) {
        mods.push("ssl");
    }
    let mut seen = BTreeSet::new();
    mods.retain(|m| seen.insert(*m));
    mods
}

fn apache_version_needed(clusters: &[Cluster], opts: &Options) -> &'static str {
    let hc = clusters
        .iter()
        .flat_map(|c| &c.members)
        .any(|m| m.member.health_check.is_some());
    let proxy_cookie = clusters
        .iter()
        .any(|c| c.session_affinity == SessionAffinity::ProxyCookie);
    match (opts.balance, hc, proxy_cookie) {
        (true, true, _) => "2.4.21 or later (mod_proxy_hcheck)",
        (true, false, true) => "2.4.10 or later (Header expr=)",
        _ => "2.4 or later",
    }
}

fn app_view(c: &Cluster, opts: &Options) -> AppView {
    let ctx = c.context_root.as_str();
    let root = c.context_root.is_root();
    let path_regex = (!root).then(|| c.context_root.match_regex());
    let affinity = c.session_affinity.describe();
    if !opts.balance {
        let url = c.members[0].member.url();
        return AppView {
            name: c.name.to_string(),
            context_root: ctx.to_owned(),
            member_count: 1,
            affinity,
            balancer: None,
            route_cookie: None,
            path_regex,
            // ProxyPassMatch appends the whole request path when the target has no `$1`.
            target: if root { format!("{url}/") } else { url.clone() },
            reverse_target: format!("{url}{ctx}"),
        };
    }
    let balancer_url = format!("balancer://{}", c.name.key());
    let mut settings = format!("lbmethod={}", opts.lbmethod.as_str());
    if let Some(cookie) = c.session_affinity.sticky_cookie() {
        settings.push_str(&format!(" stickysession={cookie}"));
    }
    let route_cookie = (c.session_affinity == SessionAffinity::ProxyCookie).then(|| CookieView {
        value: format!("{PROXY_COOKIE}=.%{{BALANCER_WORKER_ROUTE}}e; path={ctx}"),
        // Scoped to this balancer so that several apps in one file do not set each
        // other's cookie (BALANCER_ROUTE_CHANGED is set by every balancer).
        condition: format!(
            "expr=-n reqenv('BALANCER_ROUTE_CHANGED') && reqenv('BALANCER_NAME') == '{balancer_url}'"
        ),
    });
    AppView {
        name: c.name.to_string(),
        context_root: ctx.to_owned(),
        member_count: c.members.len(),
        affinity,
        balancer: Some(BalancerView {
            members: c.members.iter().map(|m| member_view(&m.member)).collect(),
            url: balancer_url.clone(),
            settings,
        }),
        route_cookie,
        path_regex,
        target: if root {
            format!("{balancer_url}/")
        } else {
            balancer_url.clone()
        },
        reverse_target: format!("{balancer_url}{ctx}"),
    }
}

fn member_view(m: &Member) -> MemberView {
    let mut params = format!("route={} loadfactor={}", m.route, m.load_factor.get());
    if m.standby {
        params.push_str(" status=+H");
    }
    params.push(' ');
    params.push_str(MEMBER_DEFAULTS);
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
