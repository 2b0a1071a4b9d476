//! Clusters: the members of one app at one context root. Groups members (each with the
//! file it came from) into clusters, applies the conflict rules, and puts paths in the
//! order Apache must see them.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use anyhow::{Result, bail};

use crate::model::{AppName, BalancerPolicy, ContextRoot, Member, Route};
use crate::settings::Settings;

/// A member together with the file it was read from, so errors can name both files.
#[derive(Clone, Debug)]
pub struct Sourced {
    pub member: Member,
    pub source: String,
}

/// One app at one context root, with its members in route order.
#[derive(Debug)]
pub struct Cluster {
    pub name: AppName,
    pub context_root: ContextRoot,
    pub policy: BalancerPolicy,
    pub members: Vec<Sourced>,
}

impl fmt::Display for Sourced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)
    }
}

/// A cluster being built, with indexes of its routes and URLs (to the file that brought
/// each), so that the conflict checks stay linear for 10,000-member merges.
struct Building {
    cluster: Cluster,
    routes: HashMap<Route, String>,
    urls: HashMap<String, String>,
}

/// Builds the clusters. With `balance`, all members of one app form one cluster; without
/// it, every path must be served by exactly one member.
/// The balancer policy of each member is the one the file's `settings` make of it.
pub fn clusters(members: Vec<Sourced>, balance: bool, settings: &Settings) -> Result<Vec<Cluster>> {
    if members.is_empty() {
        bail!("no members to merge; give at least one fragment made by `modproxy generate`");
    }
    let mut by_path: BTreeMap<ContextRoot, Building> = BTreeMap::new();
    for m in members {
        let b = by_path
            .entry(m.member.context_root.clone())
            .or_insert_with(|| Building {
                cluster: Cluster {
                    name: m.member.name.clone(),
                    context_root: m.member.context_root.clone(),
                    policy: settings.policy(&m.member),
                    members: Vec::new(),
                },
                routes: HashMap::new(),
                urls: HashMap::new(),
            });
        let cluster = &b.cluster;
        if let Some(first) = cluster.members.first() {
            if cluster.name.key() != m.member.name.key() {
                bail!(
                    "{m}: app {} and app {} (from {first}) both serve {}; give them different context roots, or the same name if they are one app",
                    m.member.name,
                    cluster.name,
                    cluster.context_root
                );
            }
            if !balance {
                bail!(
                    "{m} and {first} both serve app {} at {}; pass -balancer to balance them, or merge only one of them",
                    cluster.name,
                    cluster.context_root
                );
            }
            if let Some(diff) = settings
                .policy(&m.member)
                .difference(&cluster.policy, &first.source)
            {
                bail!("{m}: app {} uses {diff}", cluster.name);
            }
        }
        if let Some(other) = b.routes.get(&m.member.route) {
            bail!(
                "{m}: route \"{}\" is already used by {other}; give each host its own route (--route or \"route\" in modproxy.json)",
                m.member.route
            );
        }
        let url = m.member.url();
        if let Some(other) = b.urls.get(&url) {
            bail!(
                "{m}: backend {url} is already a member from {other}; each member must be a different host or port (to replace a host, merge its fresh fragment instead of the old one)"
            );
        }
        b.routes.insert(m.member.route.clone(), m.source.clone());
        b.urls.insert(url, m.source.clone());
        b.cluster.members.push(m);
    }

    let mut out: Vec<Cluster> = by_path.into_values().map(|b| b.cluster).collect();
    if balance {
        // Each balancer is named after its app, so one app cannot sit at two paths.
        let mut names: BTreeMap<String, &Cluster> = BTreeMap::new();
        for c in &out {
            if let Some(other) = names.insert(c.name.key(), c) {
                bail!(
                    "{}: app {} is at {} but {} has it at {}; an app has one context root, so rename one of them (--name) or use the same context root",
                    c.members[0],
                    c.name,
                    c.context_root,
                    other.members[0],
                    other.context_root
                );
            }
        }
    }
    for c in &mut out {
        c.members
            .sort_by(|a, b| a.member.route.cmp(&b.member.route));
    }
    // Apache uses the first ProxyPass that matches, so deeper paths go first.
    out.sort_by(|a, b| {
        b.context_root
            .depth()
            .cmp(&a.context_root.depth())
            .then_with(|| a.context_root.cmp(&b.context_root))
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Host;

    /// A member of app `name` at `ctx`, reached at `host:8080` with `route`.
    fn member(name: &str, ctx: &str, host: &str, route: &str, source: &str) -> Sourced {
        let mut m = crate::app_config::AppConfig::default()
            .resolve(
                Default::default(),
                std::path::Path::new("/srv/app"),
                |_, _| Ok((Host::new(host)?, Route::new(route)?)),
            )
            .expect("a valid member");
        m.name = AppName::new(name).expect("valid name");
        m.context_root = ContextRoot::new(ctx).expect("valid context root");
        Sourced {
            member: m,
            source: source.to_owned(),
        }
    }

    fn error(members: Vec<Sourced>, balance: bool) -> String {
        format!(
            "{:#}",
            clusters(members, balance, &Settings::default()).expect_err("a conflict")
        )
    }

    #[test]
    fn deeper_paths_come_first_and_members_in_route_order() {
        let out = clusters(
            vec![
                member("shop", "/shop", "h1", "b", "b.conf"),
                member("root", "/", "h1", "a", "r.conf"),
                member("api", "/shop/api", "h1", "a", "api.conf"),
                member("shop", "/shop", "h2", "a", "a.conf"),
            ],
            true,
            &Settings::default(),
        )
        .unwrap();
        let paths: Vec<&str> = out.iter().map(|c| c.context_root.as_str()).collect();
        assert_eq!(paths, ["/shop/api", "/shop", "/"]);
        let routes: Vec<&str> = out[1]
            .members
            .iter()
            .map(|m| m.member.route.as_str())
            .collect();
        assert_eq!(routes, ["a", "b"]);
    }

    #[test]
    fn a_route_or_url_used_twice_names_both_files() {
        let e = error(
            vec![
                member("shop", "/shop", "h1", "a", "a.conf"),
                member("shop", "/shop", "h2", "a", "b.conf"),
            ],
            true,
        );
        assert!(
            e.contains("b.conf") && e.contains("a.conf") && e.contains("route"),
            "{e}"
        );
        // Another route, but the same host and (default) port.
        let same_url = member("shop", "/shop", "h1", "b", "b.conf");
        let e = error(
            vec![member("shop", "/shop", "h1", "a", "a.conf"), same_url],
            true,
        );
        assert!(e.contains("already a member from a.conf"), "{e}");
    }

    #[test]
    fn two_members_of_a_path_need_balance_and_one_app_name() {
        let two = || {
            vec![
                member("shop", "/shop", "h1", "a", "a.conf"),
                member("shop", "/shop", "h2", "b", "b.conf"),
            ]
        };
        assert!(error(two(), false).contains("pass -balancer"));
        assert!(clusters(two(), true, &Settings::default()).is_ok());
        let e = error(
            vec![
                member("shop", "/shop", "h1", "a", "a.conf"),
                member("blog", "/shop", "h2", "b", "b.conf"),
            ],
            true,
        );
        assert!(e.contains("both serve /shop"), "{e}");
        let e = error(
            vec![
                member("shop", "/shop", "h1", "a", "a.conf"),
                member("shop", "/store", "h2", "b", "b.conf"),
            ],
            true,
        );
        assert!(e.contains("one context root"), "{e}");
    }

    #[test]
    fn members_of_one_app_must_share_its_balancer_policy() {
        let mut b = member("shop", "/shop", "h2", "b", "b.conf");
        b.member.fail_on_timeout = !b.member.fail_on_timeout;
        let e = error(vec![member("shop", "/shop", "h1", "a", "a.conf"), b], true);
        assert!(e.contains("failOnTimeout") && e.contains("a.conf"), "{e}");
    }
}
