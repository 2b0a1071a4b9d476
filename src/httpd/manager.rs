//! A client for a running httpd's balancer manager: reads its XML view (`?xml=1`) into
//! balancers and their members' states, as `modproxy status` shows them, and changes a
//! member's state live, as `modproxy drain|disable|enable --manager` do.
//!
//! The manager ignores every query parameter, `xml=1` included, unless the request
//! carries a same-site `Referer` (its guard against cross-site requests), so every request
//! names the manager page itself as its referer.

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;

use super::client;

use crate::model::{AdminState, Route};

/// One balancer as the manager shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Balancer {
    pub name: String,
    /// The token the manager wants with every change (its guard against forged
    /// requests); kept out of the JSON, which may end up in logs.
    #[serde(skip)]
    pub nonce: Option<String>,
    pub members: Vec<MemberStatus>,
}

/// One member (worker) of a balancer, as the manager shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub route: String,
    pub url: String,
    pub state: State,
    /// httpd's own status words, e.g. `Init Drn Ok`.
    pub flags: String,
    /// httpd would send it requests (`Ok` among the flags).
    pub usable: bool,
    pub busy: u64,
    pub elected: u64,
    pub load_factor: f64,
    /// Bytes sent to the member and read from it.
    pub sent: u64,
    pub received: u64,
}

/// A member's state, the most telling of httpd's status flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Ok,
    Standby,
    Draining,
    Disabled,
    Stopped,
    ShuttingDown,
    Error,
    HealthCheckFailed,
}

impl State {
    /// From httpd's flag words (mod_proxy.c's proxy_wstat_tbl), most telling first.
    fn of(flags: &str) -> Self {
        let has = |w: &str| flags.split_whitespace().any(|f| f == w);
        if has("HcFl") {
            State::HealthCheckFailed
        } else if has("Err") {
            State::Error
        } else if has("Dis") {
            State::Disabled
        } else if has("Stop") {
            State::Stopped
        } else if has("Shut") {
            State::ShuttingDown
        } else if has("Drn") {
            State::Draining
        } else if has("Stby") {
            State::Standby
        } else {
            State::Ok
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Standby => "standby",
            State::Draining => "draining",
            State::Disabled => "disabled",
            State::Stopped => "stopped",
            State::ShuttingDown => "shutting-down",
            State::Error => "error",
            State::HealthCheckFailed => "health-check-failed",
        }
    }
}

/// Reads the balancers from the manager at `url` (`http://HOST:PORT/PATH`).
pub fn read(url: &str) -> Result<Vec<Balancer>> {
    let body = exchange(url, "GET", "?xml=1", "")?;
    parse(&body).with_context(|| format!("{url} does not look like httpd's balancer manager"))
}

/// A change to members, as the manager's own form makes it.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    State(AdminState),
    LoadFactor(u8),
}

impl Change {
    /// The form fields that make the change.
    fn fields(self) -> String {
        match self {
            Change::State(state) => {
                let (drain, disable) = match state {
                    AdminState::Active => (0, 0),
                    AdminState::Drain => (1, 0),
                    AdminState::Disabled => (0, 1),
                };
                format!("w_status_N={drain}&w_status_D={disable}")
            }
            Change::LoadFactor(n) => format!("w_lf={n}"),
        }
    }

    /// Whether `m` shows the change made.
    fn shown_by(self, m: &MemberStatus) -> bool {
        let has = |w: &str| m.flags.split_whitespace().any(|f| f == w);
        match self {
            Change::State(state) => {
                has("Drn") == (state == AdminState::Drain)
                    && has("Dis") == (state == AdminState::Disabled)
            }
            Change::LoadFactor(n) => (m.load_factor - f64::from(n)).abs() < 0.005,
        }
    }
}

/// Makes each change to every member with its route, in every balancer; then reads the
/// manager again to see that it took. Returns how many members it changed.
pub fn change(url: &str, changes: &[(Route, Change)]) -> Result<usize> {
    let balancers = read(url)?;
    let mut targets = Vec::new();
    for (route, change) in changes {
        let before = targets.len();
        for b in &balancers {
            for m in b.members.iter().filter(|m| m.route == route.as_str()) {
                targets.push((b, m, *change));
            }
        }
        if targets.len() == before {
            let known: std::collections::BTreeSet<&str> = balancers
                .iter()
                .flat_map(|b| b.members.iter().map(|m| m.route.as_str()))
                .collect();
            bail!(
                "the running httpd has no member with route {route} (its routes: {}); is it running the file you changed?",
                known.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
    }
    for (b, m, change) in &targets {
        let name = b.name.strip_prefix("balancer://").unwrap_or(&b.name);
        let nonce = b.nonce.as_deref().ok_or_else(|| {
            anyhow!("{url} shows no nonce for {}; httpd 2.4 writes one unless the manager is configured with nonce=None, which modproxy never writes", b.name)
        })?;
        let form = format!(
            "b={}&w={}&nonce={}&{}",
            form_value(name),
            form_value(&m.url),
            form_value(nonce),
            change.fields()
        );
        exchange(url, "POST", "", &form)?;
    }
    let after = read(url)?;
    for (b, m, change) in &targets {
        let now = after
            .iter()
            .filter(|a| a.name == b.name)
            .flat_map(|a| &a.members)
            .find(|a| a.url == m.url);
        if !now.is_some_and(|n| change.shown_by(n)) {
            bail!(
                "{url} did not take the change for {} in {} (it shows {}); is this machine allowed to use the manager?",
                m.url,
                b.name,
                now.map(|n| format!("{:?}, load factor {}", n.flags, n.load_factor))
                    .unwrap_or_else(|| "no such member".into())
            );
        }
    }
    Ok(targets.len())
}

/// A form value: the manager unescapes each value twice, so `%` is escaped twice and the
/// form's own separators once.
fn form_value(raw: &str) -> String {
    let once: String = raw
        .chars()
        .map(|c| match c {
            '%' => "%25".to_owned(),
            '&' => "%26".to_owned(),
            '=' => "%3D".to_owned(),
            '+' => "%2B".to_owned(),
            ' ' => "%20".to_owned(),
            c => c.to_string(),
        })
        .collect();
    once.replace('%', "%25")
}

/// One request to the manager page; the body of a 200 answer.
fn exchange(url: &str, method: &str, query: &str, form: &str) -> Result<String> {
    let (status, body) = client::request(url, method, query, form)?;
    match status {
        200 => Ok(body),
        403 => bail!(
            "{url} refused this machine (403): the manager only answers the addresses in its Require line (--manager-allow)"
        ),
        404 => {
            bail!("{url} is not there (404); give the --balancer-manager path of the merged file")
        }
        other => bail!("{url} answered {other}; expected the balancer manager's page"),
    }
}

/// The text between `<httpd:TAG>` and its end tag in `block`, from `from` on.
fn tag<'a>(block: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<httpd:{name}>");
    let close = format!("</httpd:{name}>");
    let start = block.find(&open)? + open.len();
    let end = block[start..].find(&close)? + start;
    Some(&block[start..end])
}

/// Every `<httpd:TAG>...</httpd:TAG>` block in `text`, in order.
fn blocks<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    let open = format!("<httpd:{name}>");
    let close = format!("</httpd:{name}>");
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let inner = &rest[start + open.len()..];
        let Some(end) = inner.find(&close) else { break };
        out.push(&inner[..end]);
        rest = &inner[end + close.len()..];
    }
    out
}

/// httpd escapes `&<>"` in the values it prints.
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// Parses the manager's XML view.
fn parse(xml: &str) -> Result<Vec<Balancer>> {
    if !xml.contains("<httpd:manager") {
        bail!("its answer has no <httpd:manager> element");
    }
    let number = |w: &str, name: &str| -> u64 {
        tag(w, name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    blocks(xml, "balancer")
        .into_iter()
        .map(|b| {
            // The balancer's own name comes before its workers' names.
            let head = b.split("<httpd:workers>").next().unwrap_or(b);
            let name = tag(head, "name")
                .map(unescape)
                .ok_or_else(|| anyhow!("a balancer without a name"))?;
            let members = blocks(b, "worker")
                .into_iter()
                .map(|w| {
                    let flags = tag(w, "status").map(unescape).unwrap_or_default();
                    MemberStatus {
                        route: tag(w, "route").map(unescape).unwrap_or_default(),
                        url: tag(w, "name").map(unescape).unwrap_or_default(),
                        state: State::of(&flags),
                        usable: flags.split_whitespace().any(|f| f == "Ok"),
                        busy: number(w, "busy"),
                        elected: number(w, "elected"),
                        load_factor: tag(w, "loadfactor")
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0.0),
                        sent: number(w, "transferred"),
                        received: number(w, "read"),
                        flags,
                    }
                })
                .collect();
            let nonce = tag(head, "nonce").map(unescape);
            Ok(Balancer {
                name,
                nonce,
                members,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_come_from_the_most_telling_flag() {
        assert_eq!(State::of("Init Ok "), State::Ok);
        assert_eq!(State::of("Init Drn Ok "), State::Draining);
        assert_eq!(State::of("Init Stby Ok "), State::Standby);
        assert_eq!(State::of("Init Err "), State::Error);
        assert_eq!(State::of("Init Err HcFl "), State::HealthCheckFailed);
        assert_eq!(State::of("Init Dis "), State::Disabled);
    }

    #[test]
    fn the_xml_view_gives_balancers_and_members() {
        let xml = "<?xml version='1.0' encoding='UTF-8' ?>\n<httpd:manager xmlns:httpd='http://httpd.apache.org'>\n  <httpd:balancers>\n    <httpd:balancer>\n      <httpd:name>balancer://app</httpd:name>\n      <httpd:nonce>0b2c</httpd:nonce>\n      <httpd:workers>\n        <httpd:worker>\n          <httpd:name>http://127.0.0.1:9001</httpd:name>\n          <httpd:loadfactor>1.00</httpd:loadfactor>\n          <httpd:status>Init Drn Ok </httpd:status>\n          <httpd:transferred>10</httpd:transferred>\n          <httpd:read>20</httpd:read>\n          <httpd:elected>3</httpd:elected>\n          <httpd:route>a</httpd:route>\n          <httpd:busy>1</httpd:busy>\n        </httpd:worker>\n      </httpd:workers>\n    </httpd:balancer>\n  </httpd:balancers>\n</httpd:manager>\n";
        let b = parse(xml).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].name, "balancer://app");
        assert_eq!(b[0].nonce.as_deref(), Some("0b2c"));
        let m = &b[0].members[0];
        assert_eq!(
            (m.route.as_str(), m.url.as_str(), m.state, m.usable),
            ("a", "http://127.0.0.1:9001", State::Draining, true)
        );
        assert_eq!((m.busy, m.elected, m.sent, m.received), (1, 3, 10, 20));
        assert!(parse("<html>not it</html>").is_err());
    }
}
