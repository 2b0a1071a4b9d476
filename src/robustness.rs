//! Whole-pipeline checks on arbitrary input, shared by the fuzz targets (`fuzz/`) and the
//! regression tests that replay their findings (`tests/fuzz_regressions.rs`). Each function
//! returns quietly when the input is rejected with an error, and panics on any broken
//! promise: a panic inside modproxy, a validated value that cannot be rendered, or a file
//! whose member records do not read back as written.

use std::path::Path;
use std::sync::OnceLock;

use handlebars::Handlebars;

use crate::app_config::{self, Overrides};
use crate::cluster::{self, Sourced};
use crate::model::{Host, Route};
use crate::records;
use crate::render::{self, Options};
use crate::settings::Settings;

fn registry() -> &'static Handlebars<'static> {
    static HB: OnceLock<Handlebars<'static>> = OnceLock::new();
    HB.get_or_init(|| render::registry(None).expect("the embedded templates parse"))
}

/// Renders `members` both ways with `settings` and checks that the records read back
/// unchanged.
fn render_and_read_back(members: Vec<Sourced>, settings: Settings) {
    for balance in [false, true] {
        let Ok(clusters) = cluster::clusters(members.clone(), balance, &settings) else {
            continue;
        };
        let opts = Options {
            balance,
            settings: settings.clone(),
            keep_settings: true,
            command: "modproxy robustness".into(),
            title: "robustness".into(),
        };
        let text =
            render::render(registry(), &clusters, &opts).expect("validated members always render");
        let mut written: Vec<_> = clusters
            .iter()
            .flat_map(|c| c.members.iter().map(|m| m.member.clone()))
            .collect();
        let read = records::parse(&text, "rendered").expect("modproxy reads back what it wrote");
        assert_eq!(
            read.settings, settings,
            "the settings record changed on the way through"
        );
        let mut back: Vec<_> = read.members.into_iter().map(|s| s.member).collect();
        let key = |m: &crate::model::Member| (m.context_root.clone(), m.route.clone());
        written.sort_by_key(key);
        back.sort_by_key(key);
        assert_eq!(written, back, "member records changed on the way through");
    }
}

/// A fragment or merged file, as `merge` reads it.
pub fn fragment_bytes(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(read) = records::parse(text, "input") {
        render_and_read_back(read.members, read.settings);
    }
}

/// An sMash `zero.config` (when `zero` is true) or a `modproxy.json`, as `generate` reads it.
pub fn app_config_bytes(data: &[u8], zero: bool) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new(if zero { "zero.config" } else { "modproxy.json" });
    let parsed = if zero {
        app_config::parse_zero_config(text, path)
    } else {
        app_config::parse_json(text, path)
    };
    let Ok(config) = parsed else {
        return;
    };
    let member = config.resolve(
        Overrides::default(),
        Path::new("/srv/app"),
        |host, route| {
            Ok((
                host.unwrap_or_else(|| Host::new("app1.example.com").expect("valid host")),
                route.unwrap_or_else(|| Route::new("app1").expect("valid route")),
            ))
        },
    );
    let Ok(member) = member else {
        return;
    };
    render_and_read_back(
        vec![Sourced {
            member,
            source: "input".into(),
        }],
        Settings::default(),
    );
}
