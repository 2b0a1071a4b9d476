//! `merge`'s command-line settings that change members: timeouts, failure policy and the
//! admin states (drain, disable, enable), applied to every member read.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::cluster::Sourced;
use crate::model::{AdminState, HttpStatus, Route, Seconds};

/// Settings given to `merge` on the command line that change members.
#[derive(Debug, Default)]
pub struct Overrides {
    pub connection_timeout: Option<Seconds>,
    pub retry: Option<Seconds>,
    pub timeout: Option<Seconds>,
    pub fail_on_timeout: Option<bool>,
    pub fail_on_status: Option<Vec<HttpStatus>>,
    pub drain: Vec<Route>,
    pub disable: Vec<Route>,
    pub enable: Vec<Route>,
}

/// Applies command-line overrides to every member (and admin states to members by route).
pub fn apply(members: &mut [Sourced], o: &Overrides) -> Result<()> {
    let states = [
        (&o.drain, AdminState::Drain, "--drain"),
        (&o.disable, AdminState::Disabled, "--disable"),
        (&o.enable, AdminState::Active, "--enable"),
    ];
    let mut seen: BTreeMap<&Route, &str> = BTreeMap::new();
    for (routes, _, flag) in &states {
        for route in routes.iter() {
            if let Some(other) = seen.insert(route, flag)
                && other != *flag
            {
                bail!("route {route} is given to both {other} and {flag}; choose one");
            }
            if !members.iter().any(|m| &m.member.route == route) {
                let known: std::collections::BTreeSet<&str> =
                    members.iter().map(|m| m.member.route.as_str()).collect();
                bail!(
                    "{flag} {route}: no member has that route; the routes are: {}",
                    known.into_iter().collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
    for s in members.iter_mut() {
        let m = &mut s.member;
        if let Some(v) = o.connection_timeout {
            m.connection_timeout = v;
        }
        if let Some(v) = o.retry {
            m.retry = v;
        }
        if let Some(v) = o.timeout {
            m.timeout = Some(v);
        }
        if let Some(v) = o.fail_on_timeout {
            m.fail_on_timeout = v;
        }
        if let Some(v) = &o.fail_on_status {
            m.fail_on_status = v.clone();
        }
        for (routes, state, _) in &states {
            if routes.contains(&m.route) {
                m.admin_state = *state;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Host;

    fn members(routes: &[&str]) -> Vec<Sourced> {
        routes
            .iter()
            .map(|r| Sourced {
                member: crate::app_config::AppConfig::default()
                    .resolve(
                        Default::default(),
                        std::path::Path::new("/srv/app"),
                        |_, _| Ok((Host::new(&format!("{r}.example.com"))?, Route::new(r)?)),
                    )
                    .expect("a valid member"),
                source: format!("{r}.conf"),
            })
            .collect()
    }

    #[test]
    fn flags_change_every_member_and_states_only_their_route() {
        let mut m = members(&["a", "b"]);
        apply(
            &mut m,
            &Overrides {
                timeout: Some(Seconds::new(7).unwrap()),
                drain: vec![Route::new("b").unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
        assert!(m.iter().all(|s| s.member.timeout == Seconds::new(7).ok()));
        assert_eq!(m[0].member.admin_state, AdminState::Active);
        assert_eq!(m[1].member.admin_state, AdminState::Drain);
    }

    #[test]
    fn an_unknown_route_or_two_states_for_one_route_is_refused() {
        let mut m = members(&["a"]);
        let unknown = Overrides {
            disable: vec![Route::new("z").unwrap()],
            ..Default::default()
        };
        let e = format!("{:#}", apply(&mut m, &unknown).unwrap_err());
        assert!(
            e.contains("--disable z") && e.contains("routes are: a"),
            "{e}"
        );
        let both = Overrides {
            drain: vec![Route::new("a").unwrap()],
            enable: vec![Route::new("a").unwrap()],
            ..Default::default()
        };
        let e = format!("{:#}", apply(&mut m, &both).unwrap_err());
        assert!(e.contains("both --drain and --enable"), "{e}");
    }
}
