//! What Apache needs for a file, in Apache's own terms: the modules it loads, the oldest
//! httpd it works with, and the parameter strings of `BalancerMember`, `ProxySet` and
//! `ProxyPass`. The templates only place what is computed here.

use crate::cluster::Cluster;
use crate::model::{
    AdminState, Cidr, HttpStatus, LbMethod, Member, PROXY_COOKIE, Scheme, SessionAffinity,
};

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

    pub fn id(&self) -> String {
        format!("{}_module", self.name)
    }
}

/// What a file uses that decides its modules and the httpd it needs, worked out once so
/// that the module list and the version line cannot disagree.
pub struct Features {
    balance: bool,
    lbmethod: LbMethod,
    /// Balanced members with health checks (mod_proxy_hcheck only probes balancer members).
    health_checks: bool,
    /// mod_headers with `expr=`: the proxy-cookie header or X-Forwarded-Proto.
    headers: bool,
    pub https: bool,
    websocket: bool,
    manager: bool,
}

impl Features {
    /// `forwarded_headers` and `manager` are the file's options of those names.
    pub fn of(
        clusters: &[Cluster],
        balance: bool,
        lbmethod: LbMethod,
        forwarded_headers: bool,
        manager: bool,
    ) -> Self {
        let any = |f: &dyn Fn(&Member) -> bool| all_members(clusters).any(f);
        let proxy_cookie = clusters
            .iter()
            .any(|c| c.policy.session_affinity == SessionAffinity::ProxyCookie);
        Self {
            balance,
            lbmethod,
            health_checks: balance && any(&|m| m.health_check.is_some()),
            headers: (balance && proxy_cookie) || forwarded_headers,
            https: any(&|m| m.scheme == Scheme::Https),
            websocket: any(&|m| m.websocket),
            manager: balance && manager,
        }
    }

    /// The modules, in load order.
    pub fn modules(&self) -> Vec<Module> {
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
    pub fn apache_version(&self) -> String {
        let needs = [
            (self.websocket, 47, "upgrade=websocket"),
            (self.https, 30, "SSLProxy* in <Proxy>"),
            (self.health_checks, 21, "mod_proxy_hcheck"),
            (self.headers, 10, "mod_headers expr="),
        ];
        match needs.iter().filter(|n| n.0).max_by_key(|n| n.1) {
            Some((_, patch, why)) => format!("2.4.{patch} or later ({why})"),
            None => "2.4 or later".into(),
        }
    }
}

fn all_members(clusters: &[Cluster]) -> impl Iterator<Item = &Member> {
    clusters
        .iter()
        .flat_map(|c| c.members.iter().map(|m| &m.member))
}

/// The balancer an app's members form: `balancer://NAME`, the name lowercased.
pub fn balancer_url(c: &Cluster) -> String {
    format!("balancer://{}", c.name.key())
}

/// The `ProxySet` parameters of an app's balancer.
pub fn balancer_settings(c: &Cluster, lbmethod: LbMethod) -> String {
    let mut settings = format!("lbmethod={}", lbmethod.as_str());
    if let Some(cookie) = c.policy.session_affinity.sticky_cookie() {
        settings.push_str(&format!(" stickysession={cookie}"));
    }
    if c.policy.fail_on_timeout {
        settings.push_str(" failontimeout=On");
    }
    if let Some(codes) = HttpStatus::list(&c.policy.fail_on_status) {
        settings.push_str(&format!(" failonstatus={codes}"));
    }
    settings
}

/// For `proxy-cookie` affinity: the `ROUTEID` cookie httpd sets and the condition under
/// which it sets it, as the two arguments of `Header add Set-Cookie`.
pub fn route_cookie(c: &Cluster) -> Option<(String, String)> {
    (c.policy.session_affinity == SessionAffinity::ProxyCookie).then(|| {
        (
            format!(
                "{PROXY_COOKIE}=.%{{BALANCER_WORKER_ROUTE}}e; path={}",
                c.context_root
            ),
            // Scoped to this balancer so that several apps in one file do not set each
            // other's cookie (BALANCER_ROUTE_CHANGED is set by every balancer).
            format!(
                "expr=-n reqenv('BALANCER_ROUTE_CHANGED') && reqenv('BALANCER_NAME') == '{}'",
                balancer_url(c)
            ),
        )
    })
}

/// Parameters of the connection to one app instance, on a BalancerMember or a ProxyPass.
pub fn worker_params(m: &Member) -> String {
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

/// The parameters of a `BalancerMember` line: route, weight, state, connection and health
/// check.
pub fn member_params(m: &Member) -> String {
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
    params
}

/// Who may reach the balancer manager, as a `Require` line's arguments: this machine
/// only, unless addresses or networks are given.
pub fn manager_require(allow: &[Cidr]) -> String {
    if allow.is_empty() {
        "local".into()
    } else {
        format!(
            "ip {}",
            allow.iter().map(Cidr::as_str).collect::<Vec<_>>().join(" ")
        )
    }
}
