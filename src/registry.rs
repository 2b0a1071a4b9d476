//! The registry: fragments kept in etcd instead of copied by hand. A registry URL is
//! `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`; each host's fragment lives at
//! `PREFIX/<app>/<route>`, with the same text as the file `generate` writes, so the same
//! reader (records.rs) and the same rules apply to both.

use std::fmt;
use std::str::FromStr;

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::EtcdArgs;
use crate::commands::Inputs;
use crate::etcd::{self, Client, Entry};
use crate::model::{AppName, Member, Route};
use crate::records::{self, Records};

/// `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryUrl {
    pub endpoints: Vec<String>,
    /// `/PREFIX`, without a trailing slash.
    pub prefix: String,
}

impl FromStr for RegistryUrl {
    type Err = anyhow::Error;

    fn from_str(raw: &str) -> Result<Self> {
        let example = "etcd://127.0.0.1:2379/modproxy or etcd://etcd1:2379,etcd2:2379/modproxy";
        let rest = raw.strip_prefix("etcd://").ok_or_else(|| {
            anyhow!("registry URL {raw:?} must start with etcd:// (e.g. {example})")
        })?;
        let (hosts, path) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = format!("/{}", path.trim_end_matches('/'));
        if prefix == "/" {
            bail!(
                "registry URL {raw:?} has no prefix: give the folder for modproxy's keys, e.g. {example}"
            );
        }
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
            || prefix.contains("//")
            || prefix.split('/').any(|s| s == "." || s == "..")
        {
            bail!(
                "registry URL {raw:?}: the prefix may hold letters, digits, '-', '_', '.' and single '/' only (e.g. {example})"
            );
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let ok = host.rsplit_once(':').is_some_and(|(name, port)| {
                !name.is_empty()
                    && port.parse::<u16>().is_ok_and(|p| p > 0)
                    && name.chars().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':')
                    })
            });
            if !ok {
                bail!("registry URL {raw:?}: {host:?} is not HOST:PORT (e.g. {example})");
            }
            endpoints.push(host.to_owned());
        }
        Ok(RegistryUrl { endpoints, prefix })
    }
}

impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

/// The environment variable that holds the etcd user's password.
pub const PASSWORD_ENV: &str = "MODPROXY_ETCD_PASSWORD";

/// A registry: where it is and a client for it.
pub struct Registry {
    pub url: RegistryUrl,
    client: Client,
}

/// What one registered key holds: a fragment, or why it is not one.
pub struct Registered {
    pub key: String,
    pub records: Result<Records>,
}

impl Registry {
    pub fn open(url: &RegistryUrl, creds: &EtcdArgs) -> Result<Self> {
        let user = match &creds.etcd_user {
            None => None,
            Some(name) => Some((name.clone(), password(creds)?)),
        };
        let client = Client::new(&etcd::Connection {
            endpoints: url.endpoints.clone(),
            ca_file: creds.etcd_cacert.clone(),
            cert_file: creds.etcd_cert.clone(),
            key_file: creds.etcd_key.clone(),
            user,
        })?;
        Ok(Registry {
            url: url.clone(),
            client,
        })
    }

    /// The key of one host's fragment: `PREFIX/<app>/<route>` (the app by its
    /// case-insensitive key, so `Shop` and `shop` are one app, as in merge).
    pub fn key(&self, app: &AppName, route: &Route) -> String {
        format!("{}/{}/{}", self.url.prefix, app.key(), route)
    }

    /// The folder all fragments live under, with its trailing slash.
    fn folder(&self) -> String {
        format!("{}/", self.url.prefix)
    }

    /// Stores a fragment under its member's key; returns the key.
    pub fn publish(&self, member: &Member, text: &str, lease: Option<i64>) -> Result<String> {
        let key = self.key(&member.name, &member.route);
        self.client
            .put(&key, text.as_bytes(), lease)
            .with_context(|| format!("cannot publish {key} to {}", self.url))?;
        Ok(key)
    }

    /// Whether the member's key holds exactly `text`.
    pub fn holds(&self, member: &Member, text: &str) -> Result<bool> {
        let key = self.key(&member.name, &member.route);
        Ok(self.client.get(&key)?.as_deref() == Some(text.as_bytes()))
    }

    /// Removes one host's fragment; returns whether it was there.
    pub fn withdraw(&self, app: &AppName, route: &Route) -> Result<(String, bool)> {
        let key = self.key(app, route);
        let found = self
            .client
            .delete(&key)
            .with_context(|| format!("cannot withdraw {key} from {}", self.url))?;
        Ok((key, found))
    }

    pub fn grant(&self, ttl: u32) -> Result<i64> {
        self.client
            .grant(ttl)
            .with_context(|| format!("cannot get a lease from {}", self.url))
    }

    pub fn keep_alive(&self, lease: i64) -> Result<i64> {
        self.client.keep_alive(lease)
    }

    /// Every registered fragment, each checked as a file would be and against its key,
    /// with the store's revision.
    pub fn read(&self) -> Result<(Vec<Registered>, i64)> {
        let (entries, revision) = self
            .client
            .list(&self.folder())
            .with_context(|| format!("cannot read the registry {}", self.url))?;
        Ok((
            entries.into_iter().map(|e| self.check(e)).collect(),
            revision,
        ))
    }

    /// Waits (up to `wait`) for a change after `revision`; see `Client::wait_for_change`.
    pub fn wait_for_change(&self, revision: i64, wait: std::time::Duration) -> Result<bool> {
        self.client
            .wait_for_change(&self.folder(), revision, wait)
            .with_context(|| format!("cannot watch the registry {}", self.url))
    }

    fn check(&self, entry: Entry) -> Registered {
        let source = format!("etcd key {}", entry.key);
        let records = (|| {
            let text = String::from_utf8(entry.value)
                .map_err(|_| anyhow!("{source} is not UTF-8 text; publish it again with `modproxy generate --publish`"))?;
            let records = records::parse(&text, &source)?;
            if records.members.len() != 1 {
                bail!(
                    "{source} holds {} members; a registry key holds one host's fragment, as `modproxy generate --publish` writes it",
                    records.members.len()
                );
            }
            let m = &records.members[0].member;
            let expected = self.key(&m.name, &m.route);
            if expected != entry.key {
                bail!(
                    "{source} holds app {} route {}, which belongs at {expected}; a host may publish only under its own app and route",
                    m.name,
                    m.route
                );
            }
            Ok(records)
        })();
        Registered {
            key: entry.key,
            records,
        }
    }
}

/// The etcd user's password: the file's first line, else the environment variable.
fn password(creds: &EtcdArgs) -> Result<String> {
    if let Some(file) = &creds.etcd_password_file {
        let text = crate::input::read_text(file, 4096, "a file holding the etcd password")?;
        return Ok(text.lines().next().unwrap_or("").to_owned());
    }
    std::env::var(PASSWORD_ENV).map_err(|_| {
        anyhow!(
            "--etcd-user needs a password: set {PASSWORD_ENV} or give --etcd-password-file FILE"
        )
    })
}

/// Adds the registered fragments to `inputs`; returns how many members they brought. A
/// key that is not a valid fragment goes to `invalid` (with its key), which decides:
/// `merge --from` stops with the error, `watch` notes it and goes on.
pub fn add(
    registered: Vec<Registered>,
    inputs: &mut Inputs,
    mut invalid: impl FnMut(&str, anyhow::Error) -> Result<()>,
) -> Result<usize> {
    let mut added = 0;
    for r in registered {
        match r.records {
            Ok(records) => {
                added += records.members.len();
                inputs
                    .kept
                    .push((format!("etcd key {}", r.key), records.settings));
                inputs.members.extend(records.members);
            }
            Err(e) => invalid(&r.key, e)?,
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any text: refused or accepted, never a panic.
        #[test]
        fn any_text_is_refused_or_accepted(raw in "(etcd://)?[a-z0-9.:,\\[\\]/_ -]{0,40}") {
            let _ = raw.parse::<RegistryUrl>();
        }

        /// URL-shaped text: what is accepted prints back as itself, and its prefix holds no
        /// path tricks that could reach keys outside it.
        #[test]
        fn accepted_urls_round_trip(
            hosts in proptest::collection::vec("[a-z0-9.-]{1,8}:[0-9]{1,5}", 1..3),
            path in "[a-z0-9./_-]{0,24}",
        ) {
            let raw = format!("etcd://{}/{path}", hosts.join(","));
            if let Ok(url) = raw.parse::<RegistryUrl>() {
                prop_assert_eq!(url.to_string().parse::<RegistryUrl>().unwrap(), url.clone());
                prop_assert!(url.prefix.starts_with('/') && !url.prefix.ends_with('/'));
                prop_assert!(!url.prefix.contains("//"));
                prop_assert!(!url.prefix.split('/').any(|s| s == ".." || s == "."));
                prop_assert_eq!(url.endpoints, hosts);
            }
        }
    }

    #[test]
    fn urls() {
        let u: RegistryUrl = "etcd://127.0.0.1:2379,etcd2:2380/modproxy/prod/"
            .parse()
            .unwrap();
        assert_eq!(u.endpoints, ["127.0.0.1:2379", "etcd2:2380"]);
        assert_eq!(u.prefix, "/modproxy/prod");
        assert_eq!(
            u.to_string(),
            "etcd://127.0.0.1:2379,etcd2:2380/modproxy/prod"
        );
        for bad in [
            "http://127.0.0.1:2379/modproxy",
            "etcd://127.0.0.1:2379",
            "etcd://127.0.0.1:2379/",
            "etcd://127.0.0.1/modproxy",
            "etcd://127.0.0.1:2379/a b",
            "etcd://127.0.0.1:2379/a/../b",
            "etcd://127.0.0.1:2379/a//b",
            "etcd://:2379/a",
            "etcd://user@h:2379/a",
        ] {
            assert!(
                bad.parse::<RegistryUrl>().is_err(),
                "{bad} should be refused"
            );
        }
    }
}
