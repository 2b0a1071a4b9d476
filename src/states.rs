//! `merge --drain/--disable/--enable/--loadfactor`: members' admin states and weights by
//! route, kept in each member's record so that a later merge does not silently undo them.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::cluster::Sourced;
use crate::model::{AdminState, Route, RouteWeight};

/// The routes given to each of the three state flags, and the new weights.
#[derive(Debug, Default)]
pub struct StateFlags {
    pub drain: Vec<Route>,
    pub disable: Vec<Route>,
    pub enable: Vec<Route>,
    pub weights: Vec<RouteWeight>,
}

/// Sets the admin state of the members whose route a flag names.
pub fn apply(members: &mut [Sourced], flags: &StateFlags) -> Result<()> {
    let states = [
        (&flags.drain, AdminState::Drain, "--drain"),
        (&flags.disable, AdminState::Disabled, "--disable"),
        (&flags.enable, AdminState::Active, "--enable"),
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
    for w in &flags.weights {
        if !members.iter().any(|m| m.member.route == w.route) {
            bail!(
                "--loadfactor {}={}: no member has that route",
                w.route,
                w.load_factor.get()
            );
        }
    }
    for s in members.iter_mut() {
        for (routes, state, _) in &states {
            if routes.contains(&s.member.route) {
                s.member.admin_state = *state;
            }
        }
        for w in flags.weights.iter().filter(|w| w.route == s.member.route) {
            s.member.load_factor = w.load_factor;
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
    fn a_state_changes_only_its_route() {
        let mut m = members(&["a", "b"]);
        apply(
            &mut m,
            &StateFlags {
                drain: vec![Route::new("b").unwrap()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(m[0].member.admin_state, AdminState::Active);
        assert_eq!(m[1].member.admin_state, AdminState::Drain);
    }

    #[test]
    fn an_unknown_route_or_two_states_for_one_route_is_refused() {
        let mut m = members(&["a"]);
        let unknown = StateFlags {
            disable: vec![Route::new("z").unwrap()],
            ..Default::default()
        };
        let e = format!("{:#}", apply(&mut m, &unknown).unwrap_err());
        assert!(
            e.contains("--disable z") && e.contains("routes are: a"),
            "{e}"
        );
        let both = StateFlags {
            drain: vec![Route::new("a").unwrap()],
            enable: vec![Route::new("a").unwrap()],
            ..Default::default()
        };
        let e = format!("{:#}", apply(&mut m, &both).unwrap_err());
        assert!(e.contains("both --drain and --enable"), "{e}");
    }
}
