//! The cluster vocabulary: `Member` and the validated values it is made of.
//!
//! Every newtype here checks its value in its constructor and nowhere else, so a value
//! that reaches a template can never carry a quote, a newline or a space into Apache's
//! config. Parse, don't validate.

use std::fmt;
use std::net::IpAddr;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// Characters allowed in names that Apache parses bare (routes, cookie names).
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Shows a rejected value safely: control characters and quotes are escaped.
fn shown(value: &str) -> String {
    format!("{value:?}")
}

macro_rules! string_newtype {
    ($name:ident) => {
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::new(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(AppName);
string_newtype!(Route);
string_newtype!(CookieName);
string_newtype!(ContextRoot);
string_newtype!(Host);
string_newtype!(HealthUri);
string_newtype!(CaFile);

impl AppName {
    /// An app name becomes the balancer's name (`balancer://NAME`), which Apache parses as
    /// a URL host, so it keeps to letters, digits, `-`, `_` and `.`.
    pub fn new(raw: &str) -> Result<Self> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
            && raw.chars().all(|c| is_token_char(c) || c == '.');
        if !ok {
            bail!(
                "app name {} is not valid; use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit",
                shown(raw)
            );
        }
        Ok(Self(raw.to_owned()))
    }

    /// Balancer names are compared without regard to case, as URL hosts are.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl Route {
    /// Apache reads the route from a session cookie's value after the first `.`, so a route
    /// with a dot could never match; only `[A-Za-z0-9_-]{1,64}` is allowed.
    pub fn new(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > 64 || !raw.chars().all(is_token_char) {
            bail!(
                "route {} is not valid; use 1 to 64 letters, digits, '-' or '_' (no dots: Apache takes the route from the session cookie after its first '.')",
                shown(raw)
            );
        }
        Ok(Self(raw.to_owned()))
    }

    /// The route for a host when none is given: the first label of a host name, or the
    /// whole address with `.`/`:` turned into `-` for an IP address.
    pub fn from_host(host: &str) -> Result<Self> {
        let candidate = if host.parse::<IpAddr>().is_ok() {
            host.replace(['.', ':'], "-")
        } else {
            host.split('.').next().unwrap_or_default().to_owned()
        };
        Self::new(&candidate)
    }
}

impl CookieName {
    pub fn new(raw: &str) -> Result<Self> {
        let ok =
            !raw.is_empty() && raw.len() <= 64 && raw.chars().all(|c| is_token_char(c) || c == '.');
        if !ok {
            bail!(
                "session cookie name {} is not valid; use 1 to 64 letters, digits, '-', '_' or '.'",
                shown(raw)
            );
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A URL path segment character that needs neither quoting nor regex care beyond `.`.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~')
}

impl ContextRoot {
    /// `/` or `/seg/seg`, with no empty, `.` or `..` segments. A trailing slash is dropped,
    /// so `/app/` and `/app` are the same context root.
    pub fn new(raw: &str) -> Result<Self> {
        let fail = || {
            anyhow::anyhow!(
                "context root {} is not valid; use \"/\" or a path such as \"/shop\" or \"/shop/api\" made of letters, digits, '-', '_', '.' and '~'",
                shown(raw)
            )
        };
        let trimmed = raw.strip_suffix('/').unwrap_or(raw);
        if trimmed.is_empty() {
            return if raw == "/" {
                Ok(Self("/".into()))
            } else {
                Err(fail())
            };
        }
        let rest = trimmed.strip_prefix('/').ok_or_else(fail)?;
        if rest.len() > 200 {
            return Err(fail());
        }
        for seg in rest.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." || !seg.chars().all(is_path_char) {
                return Err(fail());
            }
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    /// Number of path segments: `/` has 0, `/shop/api` has 2. Longer paths are matched first.
    pub fn depth(&self) -> usize {
        if self.is_root() {
            0
        } else {
            self.0.matches('/').count()
        }
    }

    /// The anchored regex that matches exactly this path and the paths below it, and not
    /// `/shopping` for `/shop` (Apache's ProxyPass matches plain prefixes). A dot becomes
    /// `[.]`, not `\.`, so the regex holds no backslash for Apache's quoting to trip on.
    pub fn match_regex(&self) -> String {
        format!("^{}(/.*)?$", self.0.replace('.', "[.]"))
    }
}

impl Host {
    /// A DNS name (RFC 1123 labels) or an IP address.
    pub fn new(raw: &str) -> Result<Self> {
        if raw.parse::<IpAddr>().is_ok() {
            return Ok(Self(raw.to_owned()));
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let name = raw.strip_suffix('.').unwrap_or(raw);
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            bail!(
                "host {} is not valid; use a DNS name such as \"app1.example.com\" or an IP address",
                shown(raw)
            );
        }
        Ok(Self(name.to_owned()))
    }

    /// The host as it goes in a URL: IPv6 addresses in brackets.
    pub fn for_url(&self) -> String {
        match self.0.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => format!("[{v6}]"),
            _ => self.0.clone(),
        }
    }

    pub fn is_loopback(&self) -> bool {
        match self.0.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => {
                let lower = self.0.to_ascii_lowercase();
                lower == "localhost" || lower.ends_with(".localhost")
            }
        }
    }
}

impl HealthUri {
    /// The path (and query) httpd appends to the member URL to probe it.
    pub fn new(raw: &str) -> Result<Self> {
        let ok = raw.starts_with('/')
            && raw.len() <= 200
            && raw
                .chars()
                .all(|c| is_path_char(c) || matches!(c, '/' | '?' | '=' | '&' | '%'));
        if !ok {
            bail!(
                "health check uri {} is not valid; use a path such as \"/health\" (letters, digits and -_.~/?=&%)",
                shown(raw)
            );
        }
        Ok(Self(raw.to_owned()))
    }
}

impl CaFile {
    /// An absolute path on the proxy to a PEM bundle of the CAs that sign the members'
    /// certificates.
    pub fn new(raw: &str) -> Result<Self> {
        let ok = raw.starts_with('/')
            && raw.len() <= 400
            && !raw.split('/').any(|seg| seg == "..")
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_'));
        if !ok {
            bail!(
                "CA file {} is not valid; use an absolute path such as \"/etc/ssl/certs/ca-certificates.crt\" (letters, digits, '/', '.', '-', '_')",
                shown(raw)
            );
        }
        Ok(Self(raw.to_owned()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "http" => Ok(Scheme::Http),
            "https" => Ok(Scheme::Https),
            _ => bail!(
                "scheme {} is not valid; use \"http\" or \"https\"",
                shown(raw)
            ),
        }
    }
}

/// How a client is kept on the member that holds its session.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "mode", content = "cookie", rename_all = "kebab-case")]
pub enum SessionAffinity {
    /// Stateless (or replicated state): any member serves any request.
    None,
    /// The app sets a session cookie whose value ends in `.ROUTE`.
    AppCookie(CookieName),
    /// httpd sets its own `ROUTEID` cookie.
    ProxyCookie,
}

impl SessionAffinity {
    /// The cookie httpd reads the route from, if any.
    pub fn sticky_cookie(&self) -> Option<&str> {
        match self {
            SessionAffinity::None => None,
            SessionAffinity::AppCookie(c) => Some(c.as_str()),
            SessionAffinity::ProxyCookie => Some(PROXY_COOKIE),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            SessionAffinity::None => "none".into(),
            SessionAffinity::AppCookie(c) => format!("app-cookie ({c})"),
            SessionAffinity::ProxyCookie => format!("proxy-cookie ({PROXY_COOKIE})"),
        }
    }
}

/// The cookie httpd sets itself in `proxy-cookie` mode.
pub const PROXY_COOKIE: &str = "ROUTEID";

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawHealthCheck")]
pub struct HealthCheck {
    pub uri: HealthUri,
    /// Seconds between probes.
    pub interval: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthCheck {
    uri: HealthUri,
    interval: u32,
}

impl TryFrom<RawHealthCheck> for HealthCheck {
    type Error = anyhow::Error;

    fn try_from(raw: RawHealthCheck) -> Result<Self> {
        HealthCheck::new(raw.uri, raw.interval)
    }
}

impl HealthCheck {
    pub const MAX_INTERVAL: u32 = 3600;

    pub fn new(uri: HealthUri, interval: u32) -> Result<Self> {
        if !(1..=Self::MAX_INTERVAL).contains(&interval) {
            bail!(
                "health check interval {interval} is not valid; use 1 to {} seconds",
                Self::MAX_INTERVAL
            );
        }
        Ok(Self { uri, interval })
    }
}

/// A whole number in a fixed range, checked when it is made (also from JSON).
macro_rules! bounded_int {
    ($(#[$doc:meta])* $name:ident($inner:ty), $lo:literal..=$hi:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name($inner);

        impl $name {
            pub fn new(raw: i64) -> Result<Self> {
                if !($lo..=$hi).contains(&raw) {
                    bail!(concat!($what, " {} is not valid; use a whole number from ", $lo, " to ", $hi), raw);
                }
                Ok(Self(raw as $inner))
            }

            /// From command-line text.
            pub fn parse(raw: &str) -> Result<Self> {
                match raw.trim().parse::<i64>() {
                    Ok(n) => Self::new(n),
                    Err(_) => bail!(
                        concat!($what, " {} is not valid; use a whole number from ", $lo, " to ", $hi),
                        shown(raw)
                    ),
                }
            }

            pub fn get(self) -> $inner {
                self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $name::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

bounded_int!(
    /// Relative weight of a member, as Apache's `loadfactor`.
    LoadFactor(u8), 1..=100, "load factor"
);
bounded_int!(
    /// A TCP port.
    Port(u16), 1..=65535, "port"
);
bounded_int!(
    /// A time httpd waits, in whole seconds.
    Seconds(u32), 1..=86400, "time in seconds"
);
bounded_int!(
    /// An HTTP status code.
    HttpStatus(u16), 100..=599, "HTTP status"
);

impl Default for LoadFactor {
    fn default() -> Self {
        Self(1)
    }
}

impl HttpStatus {
    /// `502,503` as httpd's failonstatus takes it; None for an empty list.
    pub fn list(codes: &[Self]) -> Option<String> {
        (!codes.is_empty()).then(|| {
            codes
                .iter()
                .map(|c| c.0.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// A comma-separated list such as `502,503`, or `none` for an empty one.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>> {
        let mut out = Vec::new();
        if raw.trim() == "none" {
            return Ok(out);
        }
        for part in raw.split(',') {
            match part.trim().parse::<i64>() {
                Ok(n) => out.push(Self::new(n)?),
                Err(_) => bail!(
                    "{} is not a list of HTTP status codes such as 502,503 (or none)",
                    shown(raw)
                ),
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// `ROUTE=N`: a new load factor for the members with that route (`--loadfactor`, `weight`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteWeight {
    pub route: Route,
    pub load_factor: LoadFactor,
}

impl RouteWeight {
    pub fn parse(raw: &str) -> Result<Self> {
        let Some((route, n)) = raw.split_once('=') else {
            bail!(
                "{} is not ROUTE=N; give a route and its load factor, such as hostA=3",
                shown(raw)
            );
        };
        Ok(Self {
            route: Route::new(route)?,
            load_factor: LoadFactor::parse(n)?,
        })
    }
}

/// A member's state set by the admin with `merge --drain/--disable/--enable`; kept in the
/// member's record so that a later merge does not silently put the host back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    #[default]
    Active,
    /// Keeps its sticky sessions, gets no new ones (`status=+N`).
    Drain,
    /// Gets no requests (`status=+D`).
    Disabled,
}

/// Every default of a member's fields, in one place. The failure-handling ones were chosen
/// with the failover benchmark; docs/failover.md ("Why these defaults") explains each.
pub mod defaults {
    use super::{CaFile, ContextRoot, CookieName, HttpStatus, LbMethod, Port, Seconds};

    pub const PORT: u16 = 8080;
    pub const CONTEXT_ROOT: &str = "/";
    /// sMash's session cookie, for `app-cookie` affinity.
    pub const SESSION_COOKIE: &str = "zsessionid";
    pub const HEALTH_INTERVAL: u32 = 5;

    pub const CONNECTION_TIMEOUT: u32 = 2;
    /// How long a member in error is left alone before a live request tries it again.
    pub const RETRY: u32 = 5;
    /// The same with a health check, which puts a member back as soon as a probe passes:
    /// a short retry would only send live requests to a member the probes know is down
    /// (mod_proxy_hcheck leaves a member that is already in error as it is).
    pub const RETRY_WITH_HEALTH_CHECK: u32 = 60;
    /// The longest an app's legitimate request may take: the common ceiling of web proxies
    /// and load balancers, and shorter than Debian's `Timeout 300`.
    pub const TIMEOUT: u32 = 60;
    /// A member that does not answer within `timeout` is taken out (a hung instance).
    pub const FAIL_ON_TIMEOUT: bool = true;
    /// Answers that take a member out: 503 (the app says it cannot serve) and 502 (what
    /// httpd answers itself when a member resets or drops a connection).
    pub const FAIL_ON_STATUS: [u16; 2] = [502, 503];
    /// Fewest requests in flight: a hung or slow member stops getting new requests.
    pub const LBMETHOD: LbMethod = LbMethod::Bybusyness;

    /// Verify HTTPS members' certificates and host names.
    pub const TLS_VERIFY: bool = true;
    /// The CA bundle httpd verifies HTTPS members against: Debian's and Ubuntu's system
    /// bundle (RHEL: /etc/pki/tls/certs/ca-bundle.crt, set "tlsCaFile").
    pub const TLS_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

    pub fn tls_verify() -> bool {
        TLS_VERIFY
    }

    pub fn tls_ca_file() -> CaFile {
        CaFile(TLS_CA_FILE.to_owned())
    }

    pub fn port() -> Port {
        Port(PORT)
    }

    pub fn context_root() -> ContextRoot {
        ContextRoot(CONTEXT_ROOT.to_owned())
    }

    pub fn session_cookie() -> CookieName {
        CookieName(SESSION_COOKIE.to_owned())
    }

    pub fn connection_timeout() -> Seconds {
        Seconds(CONNECTION_TIMEOUT)
    }

    pub fn retry() -> Seconds {
        Seconds(RETRY)
    }

    pub fn retry_with_health_check() -> Seconds {
        Seconds(RETRY_WITH_HEALTH_CHECK)
    }

    pub fn timeout() -> Seconds {
        Seconds(TIMEOUT)
    }

    pub fn fail_on_status() -> Vec<HttpStatus> {
        FAIL_ON_STATUS.iter().map(|&c| HttpStatus(c)).collect()
    }
}

/// An address or network allowed to reach the balancer manager: `10.0.0.0/8`,
/// `192.0.2.7`, `2001:db8::/32`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Cidr(String);

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cidr::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl Cidr {
    pub fn new(raw: &str) -> Result<Self> {
        let (addr, prefix) = raw.split_once('/').unwrap_or((raw, ""));
        let ip: Option<IpAddr> = addr.parse().ok();
        let max = match ip {
            Some(IpAddr::V4(_)) => 32,
            Some(IpAddr::V6(_)) => 128,
            None => bail!(
                "{} is not an address or network; use one such as 10.0.0.0/8 or 192.0.2.7",
                shown(raw)
            ),
        };
        if !prefix.is_empty() && !prefix.parse::<u8>().is_ok_and(|p| p <= max) {
            bail!("{} has a bad prefix length; use /0 to /{max}", shown(raw));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a balancer picks a member for a request without a sticky route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LbMethod {
    /// Spread requests evenly, weighted by loadfactor (keeps feeding a hung member).
    Byrequests,
    /// Spread bytes transferred evenly.
    Bytraffic,
    /// Send each request to the member with the fewest requests in flight (the default:
    /// a hung or slow member stops getting new requests).
    Bybusyness,
    /// Use heartbeats from the members (needs mod_heartmonitor set up separately).
    Heartbeat,
}

impl Default for LbMethod {
    fn default() -> Self {
        defaults::LBMETHOD
    }
}

impl LbMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            LbMethod::Byrequests => "byrequests",
            LbMethod::Bytraffic => "bytraffic",
            LbMethod::Bybusyness => "bybusyness",
            LbMethod::Heartbeat => "heartbeat",
        }
    }
}

/// One running instance of an app on one host: everything a balancer needs to reach it.
/// This is also the record a fragment carries for `merge` to read back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Member {
    pub name: AppName,
    pub context_root: ContextRoot,
    pub scheme: Scheme,
    pub host: Host,
    pub port: Port,
    pub route: Route,
    pub session_affinity: SessionAffinity,
    pub load_factor: LoadFactor,
    pub standby: bool,
    pub health_check: Option<HealthCheck>,
    /// Seconds to wait for a TCP connection before failing over (`connectiontimeout`).
    #[serde(default = "defaults::connection_timeout")]
    pub connection_timeout: Seconds,
    /// Seconds a member in error is left alone before it is tried again (`retry`).
    #[serde(default = "defaults::retry")]
    pub retry: Seconds,
    /// Seconds to wait for the app's answer (`timeout`); httpd's `Timeout` when absent.
    #[serde(default)]
    pub timeout: Option<Seconds>,
    /// Fail over when the app does not answer within `timeout` (`failontimeout`).
    #[serde(default)]
    pub fail_on_timeout: bool,
    /// Answers that put a member in error (`failonstatus`), e.g. 503.
    #[serde(default)]
    pub fail_on_status: Vec<HttpStatus>,
    /// Pass WebSocket upgrades through (`upgrade=websocket`, httpd 2.4.47+).
    #[serde(default)]
    pub websocket: bool,
    #[serde(default)]
    pub admin_state: AdminState,
    /// For HTTPS members: verify the certificate, its host name and expiry
    /// (`SSLProxyVerify require`). `false` only for test set-ups with self-signed ones.
    #[serde(default = "defaults::tls_verify")]
    pub tls_verify: bool,
    /// For HTTPS members: the CA bundle on the proxy to verify against.
    #[serde(default = "defaults::tls_ca_file")]
    pub tls_ca_file: CaFile,
}

/// Settings that belong to a whole balancer, so every member of one app must agree on them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalancerPolicy {
    pub session_affinity: SessionAffinity,
    pub fail_on_timeout: bool,
    pub fail_on_status: Vec<HttpStatus>,
    /// How HTTPS members are verified: `SSLProxy*` directives apply to a whole `<Proxy>`.
    pub tls_verify: bool,
    pub tls_ca_file: CaFile,
}

impl BalancerPolicy {
    /// How `self` differs from `other` (the policy of the app as `other_source` gave it),
    /// with what to do about it, for error messages.
    pub fn difference(&self, other: &Self, other_source: &str) -> Option<String> {
        if self.session_affinity != other.session_affinity {
            Some(format!(
                "session affinity {} but {other_source} uses {}; generate every host of one app with the same sessionAffinity and sessionCookie",
                self.session_affinity.describe(),
                other.session_affinity.describe()
            ))
        } else if self.fail_on_timeout != other.fail_on_timeout {
            Some(format!(
                "failOnTimeout {} but {other_source} uses {}; use the same value on every host, or pass --failontimeout to merge",
                self.fail_on_timeout, other.fail_on_timeout
            ))
        } else if self.fail_on_status != other.fail_on_status {
            Some(format!(
                "failOnStatus {} but {other_source} uses {}; use the same value on every host, or pass --failonstatus to merge",
                HttpStatus::list(&self.fail_on_status).unwrap_or_else(|| "none".into()),
                HttpStatus::list(&other.fail_on_status).unwrap_or_else(|| "none".into())
            ))
        } else if self.tls_verify != other.tls_verify || self.tls_ca_file != other.tls_ca_file {
            Some(format!(
                "tlsVerify {} with CA file {} but {other_source} uses {} with {}; use the same \"tlsVerify\" and \"tlsCaFile\" on every host",
                self.tls_verify, self.tls_ca_file, other.tls_verify, other.tls_ca_file
            ))
        } else {
            None
        }
    }
}

impl Member {
    pub fn balancer_policy(&self) -> BalancerPolicy {
        BalancerPolicy {
            session_affinity: self.session_affinity.clone(),
            fail_on_timeout: self.fail_on_timeout,
            fail_on_status: self.fail_on_status.clone(),
            tls_verify: self.tls_verify,
            tls_ca_file: self.tls_ca_file.clone(),
        }
    }

    /// The backend's base URL, without a path: `http://host:port`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}:{}",
            self.scheme.as_str(),
            self.host.for_url(),
            self.port.get()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_root_drops_trailing_slash_and_rejects_tricks() {
        assert_eq!(ContextRoot::new("/app/").unwrap().as_str(), "/app");
        assert_eq!(ContextRoot::new("/").unwrap().as_str(), "/");
        for bad in [
            "", "app", "//", "/a//b", "/a/../b", "/a b", "/a\"", "/a\n", "/./", "/a?x",
        ] {
            assert!(ContextRoot::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn context_root_regex_matches_only_the_path_and_below() {
        assert_eq!(
            ContextRoot::new("/a.b/c").unwrap().match_regex(),
            "^/a[.]b/c(/.*)?$"
        );
    }

    #[test]
    fn route_rejects_dots_and_derives_from_hosts() {
        assert!(Route::new("host.a").is_err());
        assert!(Route::new("").is_err());
        assert_eq!(
            Route::from_host("app1.example.com").unwrap().as_str(),
            "app1"
        );
        assert_eq!(Route::from_host("10.0.0.7").unwrap().as_str(), "10-0-0-7");
        assert_eq!(Route::from_host("fe80::1").unwrap().as_str(), "fe80--1");
    }

    #[test]
    fn host_accepts_names_and_addresses_only() {
        assert!(Host::new("app1.example.com").is_ok());
        assert!(Host::new("::1").unwrap().is_loopback());
        assert_eq!(Host::new("::1").unwrap().for_url(), "[::1]");
        assert!(Host::new("LOCALHOST").unwrap().is_loopback());
        for bad in ["", "a b", "a\"b", "-a", "a..b", "x\nProxyPass"] {
            assert!(Host::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
