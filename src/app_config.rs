//! The app config `generate` reads: `modproxy.json`, an sMash `config/zero.config`, or
//! embedded defaults, with command-line overrides on top.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;

use crate::model::{
    AdminState, AppName, CaFile, ContextRoot, CookieName, HealthCheck, HealthUri, Host, HttpStatus,
    LoadFactor, Member, Port, Route, Scheme, Seconds, SessionAffinity, defaults,
};

pub const JSON_FILE: &str = "modproxy.json";
pub const ZERO_CONFIG: &str = "config/zero.config";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AffinityMode {
    None,
    AppCookie,
    ProxyCookie,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthCheckJson {
    uri: HealthUri,
    interval: Option<u32>,
}

/// The fields of `modproxy.json`; everything optional, every value validated on the way in.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AppConfig {
    pub name: Option<AppName>,
    pub context_root: Option<ContextRoot>,
    pub port: Option<Port>,
    pub scheme: Option<Scheme>,
    pub host: Option<Host>,
    pub route: Option<Route>,
    pub session_affinity: Option<AffinityMode>,
    pub session_cookie: Option<CookieName>,
    pub load_factor: Option<LoadFactor>,
    pub standby: Option<bool>,
    health_check: Option<HealthCheckJson>,
    pub connection_timeout: Option<Seconds>,
    pub retry: Option<Seconds>,
    pub timeout: Option<Seconds>,
    pub fail_on_timeout: Option<bool>,
    pub fail_on_status: Option<Vec<HttpStatus>>,
    pub websocket: Option<bool>,
    pub tls_verify: Option<bool>,
    pub tls_ca_file: Option<CaFile>,
    /// Filled in by the readers, never by serde: where this config came from.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

/// Values given on the command line; they win over the file.
#[derive(Debug, Default)]
pub struct Overrides {
    pub name: Option<AppName>,
    pub context_root: Option<ContextRoot>,
    pub port: Option<Port>,
    pub scheme: Option<Scheme>,
    pub host: Option<Host>,
    pub route: Option<Route>,
}

/// Finds and reads the app config: `explicit` if given, else `modproxy.json`, else
/// `config/zero.config` in `dir`, else none (defaults).
pub fn load(explicit: Option<&Path>, dir: &Path) -> Result<AppConfig> {
    if let Some(path) = explicit {
        return if is_zero_config(path) {
            read_zero_config(path)
        } else {
            read_json(path)
        };
    }
    let json = dir.join(JSON_FILE);
    if json.exists() {
        return read_json(&json);
    }
    let zero = dir.join(ZERO_CONFIG);
    if zero.exists() {
        return read_zero_config(&zero);
    }
    Ok(AppConfig::default())
}

fn is_zero_config(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "config")
}

/// App configs are a few hundred bytes; anything past 1 MiB is the wrong file.
const CONFIG_LIMIT: u64 = 1024 * 1024;

fn read_text(path: &Path) -> Result<String> {
    crate::input::read_text(
        path,
        CONFIG_LIMIT,
        "the app's modproxy.json or config/zero.config with --config",
    )
}

/// Reads `modproxy.json`; an error names the field by its JSON path.
pub fn read_json(path: &Path) -> Result<AppConfig> {
    parse_json(&read_text(path)?, path)
}

/// Parses `modproxy.json` text; `path` names the file in errors.
pub fn parse_json(text: &str, path: &Path) -> Result<AppConfig> {
    if !text.trim_start().starts_with('{') {
        bail!(
            "{}: the file must hold one JSON object, such as {{\"name\": \"shop\", \"port\": 8080}}; see \"App config\" in README.md",
            path.display()
        );
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let mut config: AppConfig = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        if field == "." {
            anyhow!(
                "{}: {inner}; see \"App config\" in README.md",
                path.display()
            )
        } else {
            anyhow!(
                "{}: field \"{field}\": {inner}; see \"App config\" in README.md",
                path.display()
            )
        }
    })?;
    de.end().map_err(|e| {
        anyhow!(
            "{}: {e}; the file must hold one JSON object",
            path.display()
        )
    })?;
    config.source = Some(path.to_owned());
    Ok(config)
}

/// Reads the five keys modproxy needs from an sMash `zero.config`. Lines are
/// `/key = JSON value`; comments and every other line are ignored.
pub fn read_zero_config(path: &Path) -> Result<AppConfig> {
    parse_zero_config(&read_text(path)?, path)
}

/// Parses `zero.config` text; `path` names the file in errors.
pub fn parse_zero_config(text: &str, path: &Path) -> Result<AppConfig> {
    let mut config = AppConfig {
        source: Some(path.to_owned()),
        ..Default::default()
    };
    let mut http_port = None;
    let mut https_port = None;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        let at = || format!("{}:{}: {key}", path.display(), index + 1);
        let json = || -> Result<serde_json::Value> {
            serde_json::from_str(value)
                .with_context(|| format!("{}: value {value:?} is not JSON", at()))
        };
        let text_value = || -> Result<String> {
            match json()? {
                serde_json::Value::String(s) => Ok(s),
                other => bail!("{}: expected a quoted string, found {other}", at()),
            }
        };
        let port_value = || -> Result<Port> {
            let n = json()?
                .as_i64()
                .ok_or_else(|| anyhow!("{}: expected a port number", at()))?;
            Port::new(n).with_context(at)
        };
        match key {
            "/config/http/port" => http_port = Some(port_value()?),
            "/config/https/port" => https_port = Some(port_value()?),
            "/config/contextRoot" => {
                config.context_root = Some(ContextRoot::new(&text_value()?).with_context(at)?)
            }
            "/config/name" => config.name = Some(AppName::new(&text_value()?).with_context(at)?),
            "/config/apacheRouteID" => {
                config.route = Some(Route::new(&text_value()?).with_context(at)?);
                // sMash appends ".ROUTE" to its zsessionid cookie once apacheRouteID is set.
                config.session_affinity = Some(AffinityMode::AppCookie);
            }
            _ => {}
        }
    }
    // Plain HTTP is preferred when the app listens on both: no TLS between proxy and app.
    if let Some(port) = http_port {
        config.port = Some(port);
        config.scheme = Some(Scheme::Http);
    } else if let Some(port) = https_port {
        config.port = Some(port);
        config.scheme = Some(Scheme::Https);
    }
    Ok(config)
}

impl AppConfig {
    /// With app-cookie affinity the app itself appends its route to the session cookie, so a
    /// `--route` that differs from the file's makes sticky sessions miss this member.
    pub fn route_override_warning(&self, flag: Option<&Route>) -> Option<String> {
        let (file_route, flag) = (self.route.as_ref()?, flag?);
        if file_route == flag || self.session_affinity != Some(AffinityMode::AppCookie) {
            return None;
        }
        Some(format!(
            "warning: --route {flag} replaces route {file_route} from {}, but with app-cookie affinity the app ends its session cookie with .{file_route}; sessions will not stick to this member unless the app uses {flag} too",
            self.source
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "the app config".into())
        ))
    }

    /// The member this app instance is: this file's values with command-line overrides on
    /// top and the defaults (`model::defaults`) below. `dir` is the app's folder, whose name
    /// is the default app name; `identify` settles host and route from the values given
    /// (`detect::identity` asks the machine for what is missing).
    pub fn resolve(
        self,
        overrides: Overrides,
        dir: &Path,
        identify: impl FnOnce(Option<Host>, Option<Route>) -> Result<(Host, Route)>,
    ) -> Result<Member> {
        let where_ = self
            .source
            .as_ref()
            .map(|p| format!("{}: ", p.display()))
            .unwrap_or_default();
        let name = match overrides.name.or(self.name) {
            Some(name) => name,
            None => default_name(dir)?,
        };
        let mode = self.session_affinity.unwrap_or(AffinityMode::None);
        let session_affinity = match (mode, self.session_cookie) {
            (AffinityMode::AppCookie, cookie) => {
                SessionAffinity::AppCookie(cookie.unwrap_or_else(defaults::session_cookie))
            }
            (_, Some(_)) => bail!(
                "{where_}field \"sessionCookie\" is only used with \"sessionAffinity\": \"app-cookie\"; remove it or set sessionAffinity to app-cookie"
            ),
            (AffinityMode::None, None) => SessionAffinity::None,
            (AffinityMode::ProxyCookie, None) => SessionAffinity::ProxyCookie,
        };
        let health_check = self
            .health_check
            .map(|hc| {
                HealthCheck::new(hc.uri, hc.interval.unwrap_or(defaults::HEALTH_INTERVAL))
                    .with_context(|| format!("{where_}field \"healthCheck.interval\""))
            })
            .transpose()?;
        let retry = self.retry.unwrap_or_else(if health_check.is_some() {
            defaults::retry_with_health_check
        } else {
            defaults::retry
        });
        let (host, route) = identify(overrides.host.or(self.host), overrides.route.or(self.route))?;
        Ok(Member {
            name,
            context_root: overrides
                .context_root
                .or(self.context_root)
                .unwrap_or_else(defaults::context_root),
            scheme: overrides.scheme.or(self.scheme).unwrap_or(Scheme::Http),
            host,
            port: overrides.port.or(self.port).unwrap_or_else(defaults::port),
            route,
            session_affinity,
            load_factor: self.load_factor.unwrap_or_default(),
            standby: self.standby.unwrap_or(false),
            health_check,
            connection_timeout: self
                .connection_timeout
                .unwrap_or_else(defaults::connection_timeout),
            retry,
            timeout: Some(self.timeout.unwrap_or_else(defaults::timeout)),
            fail_on_timeout: self.fail_on_timeout.unwrap_or(defaults::FAIL_ON_TIMEOUT),
            fail_on_status: {
                let mut codes = self.fail_on_status.unwrap_or_else(defaults::fail_on_status);
                codes.sort();
                codes.dedup();
                codes
            },
            websocket: self.websocket.unwrap_or(false),
            admin_state: AdminState::Active,
            tls_verify: self.tls_verify.unwrap_or(defaults::TLS_VERIFY),
            tls_ca_file: self.tls_ca_file.unwrap_or_else(defaults::tls_ca_file),
        })
    }
}

fn default_name(dir: &Path) -> Result<AppName> {
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    AppName::new(&folder).with_context(|| {
        format!(
            "no app name given and the folder name {folder:?} cannot be used as one; pass --name or set \"name\" in {JSON_FILE}"
        )
    })
}
