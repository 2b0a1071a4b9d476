//! The choices made for a file as a whole: the balancer's lbmethod, the balancer manager,
//! the proxy headers, and merge's overrides of member settings. A file keeps them in its
//! `# modproxy-settings` record (`records`), so merging it again (to add a host, say)
//! keeps every choice, for the new members too, until a flag replaces it or `--reset`
//! clears it.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

use crate::model::{BalancerPolicy, Cidr, ContextRoot, HttpStatus, LbMethod, Member, Seconds};

/// The balancer-manager page: where, and who may reach it (`Require local` if nobody).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manager {
    pub path: ContextRoot,
    #[serde(default)]
    pub allow: Vec<Cidr>,
}

/// Every file-level choice; `None` is "not chosen": the default, or the fragments' own
/// values for the member settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbmethod: Option<LbMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balancer_manager: Option<Manager>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preserve_host: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_headers: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_timeout: Option<Seconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Seconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Seconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_timeout: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_status: Option<Vec<HttpStatus>>,
}

/// A setting by the name its flag has, for `--reset` and for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Name {
    Lbmethod,
    BalancerManager,
    PreserveHost,
    ForwardedHeaders,
    ConnectionTimeout,
    Retry,
    Timeout,
    Failontimeout,
    Failonstatus,
    /// Every setting.
    All,
}

impl Name {
    /// As `--reset` takes it.
    fn as_str(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    fn flag(self) -> &'static str {
        match self {
            Name::Lbmethod => "--lbmethod",
            Name::BalancerManager => "--balancer-manager",
            Name::PreserveHost => "--preserve-host",
            Name::ForwardedHeaders => "--no-forwarded-headers",
            Name::ConnectionTimeout => "--connection-timeout",
            Name::Retry => "--retry",
            Name::Timeout => "--timeout",
            Name::Failontimeout => "--failontimeout",
            Name::Failonstatus => "--failonstatus",
            Name::All => "--reset all",
        }
    }
}

/// Takes `from`'s value of one setting into `into` where `into` has none; a different
/// value already there is a conflict between `source` and the file that chose it.
fn combine_one<'a, T: Clone + PartialEq>(
    into: &mut Option<T>,
    from: &Option<T>,
    name: Name,
    source: &'a str,
    chosen_by: &mut BTreeMap<Name, &'a str>,
    settled: &dyn Fn(Name) -> bool,
) -> Result<()> {
    let Some(value) = from else {
        return Ok(());
    };
    match into {
        None => {
            *into = Some(value.clone());
            chosen_by.insert(name, source);
        }
        Some(old) if old != value && !settled(name) => bail!(
            "{source} and {} keep different {} settings; pass {} to choose one for the merged file, or --reset {} for the default",
            chosen_by[&name],
            name.as_str(),
            name.flag(),
            name.as_str()
        ),
        Some(_) => {}
    }
    Ok(())
}

impl Settings {
    /// The settings of a merged file: those the input files keep, combined, less the ones
    /// named in `reset`, with those given on the command line (`flags`) replacing them.
    /// Where two files kept different values of a setting that the command line does not
    /// settle, an error names both files and the flag that settles it.
    pub fn merged<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a Settings)>,
        flags: Settings,
        reset: &[Name],
    ) -> Result<Self> {
        let settled =
            |name: Name| reset.contains(&Name::All) || reset.contains(&name) || flags.has(name);
        Ok(Self::combine(files, &settled)?.with_flags(flags, reset))
    }

    fn combine<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a Settings)>,
        settled: &dyn Fn(Name) -> bool,
    ) -> Result<Self> {
        let mut out = Settings::default();
        let mut by: BTreeMap<Name, &str> = BTreeMap::new();
        for (src, s) in files {
            let by = &mut by;
            combine_one(
                &mut out.lbmethod,
                &s.lbmethod,
                Name::Lbmethod,
                src,
                by,
                settled,
            )?;
            let (into, from) = (&mut out.balancer_manager, &s.balancer_manager);
            combine_one(into, from, Name::BalancerManager, src, by, settled)?;
            let (into, from) = (&mut out.preserve_host, &s.preserve_host);
            combine_one(into, from, Name::PreserveHost, src, by, settled)?;
            let (into, from) = (&mut out.forwarded_headers, &s.forwarded_headers);
            combine_one(into, from, Name::ForwardedHeaders, src, by, settled)?;
            let (into, from) = (&mut out.connection_timeout, &s.connection_timeout);
            combine_one(into, from, Name::ConnectionTimeout, src, by, settled)?;
            combine_one(&mut out.retry, &s.retry, Name::Retry, src, by, settled)?;
            combine_one(
                &mut out.timeout,
                &s.timeout,
                Name::Timeout,
                src,
                by,
                settled,
            )?;
            let (into, from) = (&mut out.fail_on_timeout, &s.fail_on_timeout);
            combine_one(into, from, Name::Failontimeout, src, by, settled)?;
            let (into, from) = (&mut out.fail_on_status, &s.fail_on_status);
            combine_one(into, from, Name::Failonstatus, src, by, settled)?;
        }
        Ok(out)
    }

    fn with_flags(mut self, flags: Settings, reset: &[Name]) -> Self {
        for name in reset {
            self.clear(*name);
        }
        Settings {
            lbmethod: flags.lbmethod.or(self.lbmethod),
            balancer_manager: flags.balancer_manager.or(self.balancer_manager),
            preserve_host: flags.preserve_host.or(self.preserve_host),
            forwarded_headers: flags.forwarded_headers.or(self.forwarded_headers),
            connection_timeout: flags.connection_timeout.or(self.connection_timeout),
            retry: flags.retry.or(self.retry),
            timeout: flags.timeout.or(self.timeout),
            fail_on_timeout: flags.fail_on_timeout.or(self.fail_on_timeout),
            fail_on_status: flags.fail_on_status.or(self.fail_on_status),
        }
    }

    /// Whether this has a value for `name` (`All`: for any).
    fn has(&self, name: Name) -> bool {
        match name {
            Name::Lbmethod => self.lbmethod.is_some(),
            Name::BalancerManager => self.balancer_manager.is_some(),
            Name::PreserveHost => self.preserve_host.is_some(),
            Name::ForwardedHeaders => self.forwarded_headers.is_some(),
            Name::ConnectionTimeout => self.connection_timeout.is_some(),
            Name::Retry => self.retry.is_some(),
            Name::Timeout => self.timeout.is_some(),
            Name::Failontimeout => self.fail_on_timeout.is_some(),
            Name::Failonstatus => self.fail_on_status.is_some(),
            Name::All => !self.is_empty(),
        }
    }

    fn clear(&mut self, name: Name) {
        match name {
            Name::Lbmethod => self.lbmethod = None,
            Name::BalancerManager => self.balancer_manager = None,
            Name::PreserveHost => self.preserve_host = None,
            Name::ForwardedHeaders => self.forwarded_headers = None,
            Name::ConnectionTimeout => self.connection_timeout = None,
            Name::Retry => self.retry = None,
            Name::Timeout => self.timeout = None,
            Name::Failontimeout => self.fail_on_timeout = None,
            Name::Failonstatus => self.fail_on_status = None,
            Name::All => *self = Settings::default(),
        }
    }

    /// The member as this file uses it: its own values, with the member settings this
    /// file chose on top. Records keep the member's own values, so that a setting cleared
    /// later gives them back.
    pub fn apply(&self, m: &Member) -> Member {
        let mut m = m.clone();
        if let Some(v) = self.connection_timeout {
            m.connection_timeout = v;
        }
        if let Some(v) = self.retry {
            m.retry = v;
        }
        if let Some(v) = self.timeout {
            m.timeout = Some(v);
        }
        if let Some(v) = self.fail_on_timeout {
            m.fail_on_timeout = v;
        }
        if let Some(v) = &self.fail_on_status {
            m.fail_on_status = v.clone();
        }
        m
    }

    /// The balancer policy a member asks for, with this file's choices on top (what
    /// `apply(m).balancer_policy()` gives, without copying the member).
    pub fn policy(&self, m: &Member) -> BalancerPolicy {
        BalancerPolicy {
            fail_on_timeout: self.fail_on_timeout.unwrap_or(m.fail_on_timeout),
            fail_on_status: self
                .fail_on_status
                .clone()
                .unwrap_or_else(|| m.fail_on_status.clone()),
            ..m.balancer_policy()
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Settings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_timeout(t: i64) -> Settings {
        Settings {
            timeout: Some(Seconds::new(t).unwrap()),
            ..Settings::default()
        }
    }

    #[test]
    fn files_combine_and_disagreeing_files_name_each_other() {
        let lb = Settings {
            lbmethod: Some(LbMethod::Byrequests),
            ..Settings::default()
        };
        let none = Settings::default();
        let both = Settings::merged(
            [("a.conf", &with_timeout(5)), ("b.conf", &lb)],
            none.clone(),
            &[],
        )
        .unwrap();
        assert_eq!(both.timeout, Seconds::new(5).ok());
        assert_eq!(both.lbmethod, Some(LbMethod::Byrequests));
        let two = [("a.conf", &with_timeout(5)), ("b.conf", &with_timeout(6))];
        let e = Settings::merged(two, none.clone(), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.conf and a.conf keep different timeout"),
            "{e}"
        );
        assert!(
            e.contains("--timeout") && e.contains("--reset timeout"),
            "{e}"
        );
    }

    #[test]
    fn flags_replace_kept_settings_and_reset_clears_them() {
        let kept = Settings {
            lbmethod: Some(LbMethod::Byrequests),
            ..with_timeout(5)
        };
        let s = kept.clone().with_flags(with_timeout(9), &[]);
        assert_eq!(
            (s.timeout, s.lbmethod),
            (Seconds::new(9).ok(), Some(LbMethod::Byrequests))
        );
        let s = kept
            .clone()
            .with_flags(Settings::default(), &[Name::Timeout]);
        assert_eq!((s.timeout, s.lbmethod), (None, Some(LbMethod::Byrequests)));
        assert!(
            kept.clone()
                .with_flags(Settings::default(), &[Name::All])
                .is_empty()
        );
        // A flag given with --reset all still counts.
        let s = kept.with_flags(with_timeout(9), &[Name::All]);
        assert_eq!(s, with_timeout(9));
    }
}
