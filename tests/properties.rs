//! Property tests over random, often hostile, app configs and fragment files: `generate`
//! and `merge` never panic; they either fail with a clear error (exit 1) or write a file
//! that holds only the directives modproxy writes, and all those files together pass
//! `httpd -t` (one httpd run for every accepted case).

use crate::support;

use std::path::Path;

use crate::support::{fixtures, httpd, modproxy, scratch, stderr, stdout, write};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value, json};

/// Strings that try to break out of a value, plus a few ordinary ones.
fn hostile() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("")),
        Just(json!("a b")),
        Just(json!("x\nProxyPass / http://evil/")),
        Just(json!("x\" \"http://evil/")),
        Just(json!("${HOME}")),
        Just(json!("a\\")),
        Just(json!("<Directory />")),
        Just(json!("é")),
        Just(json!("a.b")),
        Just(json!("x".repeat(300))),
        Just(json!(-1)),
        Just(json!(null)),
        Just(json!([1, 2])),
        Just(json!({"a": 1})),
        "[ -~]{0,12}".prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
    ]
}

fn or_hostile<S: Strategy<Value = Value> + 'static>(valid: S) -> BoxedStrategy<Value> {
    prop_oneof![4 => valid, 1 => hostile()].boxed()
}

fn app_config() -> impl Strategy<Value = Map<String, Value>> {
    let fields: Vec<(&str, BoxedStrategy<Value>)> = vec![
        (
            "name",
            or_hostile("[a-zA-Z0-9][a-zA-Z0-9._-]{0,10}".prop_map(Value::from)),
        ),
        (
            "contextRoot",
            or_hostile(
                "(/[a-z0-9._~-]{1,6}){0,3}/?"
                    .prop_map(|s| Value::from(if s.is_empty() { "/".into() } else { s })),
            ),
        ),
        ("port", or_hostile((1i64..65536).prop_map(Value::from))),
        (
            "scheme",
            or_hostile(prop_oneof![Just(json!("http")), Just(json!("https"))]),
        ),
        (
            "host",
            or_hostile(prop_oneof![
                "[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,5}){0,2}".prop_map(Value::from),
                Just(json!("10.1.2.3")),
                Just(json!("2001:db8::7")),
            ]),
        ),
        (
            "route",
            or_hostile("[A-Za-z0-9_-]{1,10}".prop_map(Value::from)),
        ),
        (
            "sessionAffinity",
            or_hostile(prop_oneof![
                Just(json!("none")),
                Just(json!("app-cookie")),
                Just(json!("proxy-cookie"))
            ]),
        ),
        (
            "sessionCookie",
            or_hostile("[A-Za-z0-9_.-]{1,10}".prop_map(Value::from)),
        ),
        ("loadFactor", or_hostile((1i64..=100).prop_map(Value::from))),
        ("standby", or_hostile(any::<bool>().prop_map(Value::from))),
        (
            "healthCheck",
            or_hostile(
                ("/[a-z0-9/._-]{0,10}", 1i64..=60)
                    .prop_map(|(uri, interval)| json!({"uri": uri, "interval": interval})),
            ),
        ),
        (
            "connectionTimeout",
            or_hostile((1i64..=60).prop_map(Value::from)),
        ),
        ("retry", or_hostile((1i64..=60).prop_map(Value::from))),
        ("timeout", or_hostile((1i64..=600).prop_map(Value::from))),
        (
            "failOnTimeout",
            or_hostile(any::<bool>().prop_map(Value::from)),
        ),
        (
            "failOnStatus",
            or_hostile(prop::collection::vec(500i64..=504, 0..3).prop_map(Value::from)),
        ),
        ("websocket", or_hostile(any::<bool>().prop_map(Value::from))),
        ("unknownField", Just(json!(1)).boxed()),
    ];
    let per_field: Vec<_> = fields
        .into_iter()
        .map(|(k, s)| {
            // Most fields absent most of the time, so that many configs are accepted.
            let weight = if k == "unknownField" { 1 } else { 3 };
            prop_oneof![8 - weight => Just(None), weight => s.prop_map(Some)]
                .prop_map(move |v| (k, v))
        })
        .collect();
    per_field.prop_map(|pairs| {
        pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v)))
            .collect()
    })
}

/// Every directive modproxy may write; anything else means an input added a directive.
const DIRECTIVES: &[&str] = &[
    "<IfModule",
    "</IfModule>",
    "Error",
    "SSLProxyEngine",
    "SSLProxyVerify",
    "SSLProxyCheckPeerName",
    "SSLProxyCheckPeerExpire",
    "SSLProxyCACertificateFile",
    "ProxyPass",
    "ProxyPassMatch",
    "ProxyPassReverse",
    "<Proxy",
    "</Proxy>",
    "BalancerMember",
    "ProxySet",
    "ProxyPreserveHost",
    "ProxyAddHeaders",
    "RequestHeader",
    "Header",
    "<Location",
    "</Location>",
    "SetHandler",
    "Require",
];

/// Checks a written config's shape: known directives only, balanced quotes, no control
/// characters, no line continuations, and one ProxyPass per app.
fn assert_only_modproxy_directives(text: &str) {
    let mut apps = 0;
    let mut passes = 0;
    for line in text.lines() {
        assert!(
            !line.chars().any(|c| c.is_control()),
            "control character in {line:?}"
        );
        assert!(!line.ends_with('\\'), "line continuation in {line:?}");
        let t = line.trim();
        if t.starts_with("# App ") {
            apps += 1;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let first = t.split_whitespace().next().unwrap();
        assert!(
            DIRECTIVES.contains(&first),
            "unexpected directive {first:?} in {line:?}\n{text}"
        );
        assert_eq!(
            t.matches('"').count() % 2,
            0,
            "unbalanced quotes in {line:?}"
        );
        // `ProxyPass PATH !` (the balancer manager's exclusion) proxies nothing.
        if (first == "ProxyPass" || first == "ProxyPassMatch") && !t.ends_with(" !") {
            passes += 1;
        }
    }
    assert_eq!(apps, passes, "one ProxyPass per app:\n{text}");
}

/// Runs modproxy; returns its config text when it succeeded. A failure must be a clean
/// exit 1 with an `error:` line.
fn run_modproxy(dir: &Path, args: &[&str]) -> Option<String> {
    let out = modproxy().current_dir(dir).args(args).output().unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "panic on {args:?}: {err}");
    match out.status.code() {
        Some(0) => Some(stdout(&out)),
        Some(1) => {
            assert!(
                err.starts_with("error: ") || err.contains("\nerror: "),
                "unclear failure: {err}"
            );
            None
        }
        other => panic!("exit {other:?} for {args:?}: {err}"),
    }
}

/// Writes all accepted configs into one file, each in its own <VirtualHost> (balancer
/// names are per server), and has httpd check them in one run.
fn httpd_accepts_all(outputs: &[String]) {
    assert!(
        outputs.len() >= 20,
        "too few accepted cases ({}) to mean anything",
        outputs.len()
    );
    eprintln!("httpd -t on {} accepted cases in one run", outputs.len());
    let d = scratch();
    let mut modules = std::collections::BTreeSet::new();
    let mut body = String::new();
    for (i, text) in outputs.iter().enumerate() {
        let file = write(d.path(), &format!("case{i}.conf"), text);
        modules.extend(modproxy::records::modules_listed(text).unwrap_or_default());
        body.push_str(&format!(
            "<VirtualHost 127.0.0.1:80>\n    ServerName case{i}.test\n    Include \"{}\"\n</VirtualHost>\n",
            file.display()
        ));
    }
    let all: Vec<String> = modules.into_iter().map(|m| format!("{m}_module")).collect();
    let combined = write(
        d.path(),
        "all.conf",
        &format!(
            "# Needs Apache httpd 2.4 with modules: {}\n{body}",
            all.join(" ")
        ),
    );
    let install = httpd::installation();
    let wrapper = modproxy::httpd::Wrapper::new(&install, &combined).unwrap();
    if let Err(e) = wrapper.syntax_check() {
        panic!("httpd rejected an accepted case: {e:#}");
    }
}

#[test]
fn generate_never_panics_and_what_it_accepts_loads_in_httpd() {
    let mut runner = TestRunner::new(Config {
        cases: 500,
        ..Config::default()
    });
    let outputs = std::cell::RefCell::new(Vec::new());
    let dir = scratch();
    runner
        .run(&app_config(), |config| {
            let text = serde_json::to_string(&config).unwrap();
            write(dir.path(), "modproxy.json", &text);
            if let Some(out) = run_modproxy(dir.path(), &["generate"]) {
                assert_only_modproxy_directives(&out);
                outputs.borrow_mut().push(out);
            }
            Ok(())
        })
        .unwrap();
    httpd_accepts_all(&outputs.borrow());
}

/// A valid member record with some fields replaced by random (often hostile) values.
fn member_record() -> impl Strategy<Value = Value> {
    let base = json!({
        "name": "shop", "contextRoot": "/shop", "scheme": "http", "host": "h.example.com",
        "port": 8080, "route": "r", "sessionAffinity": {"mode": "none"}, "loadFactor": 1,
        "standby": false, "healthCheck": null
    });
    let keys = [
        "name",
        "contextRoot",
        "scheme",
        "host",
        "port",
        "route",
        "sessionAffinity",
        "loadFactor",
        "standby",
        "healthCheck",
        "adminState",
    ];
    let apps = [
        ("shop", "/shop"),
        ("api", "/shop/api"),
        ("root", "/"),
        ("v1", "/v1.2"),
        ("blog", "/blog"),
    ];
    (
        "[a-z]{1,6}",
        1i64..65536,
        // Most records stay valid so that many merges succeed; some get a hostile field.
        prop_oneof![3 => Just(vec![]), 1 => prop::sample::subsequence(keys.to_vec(), 1..2)],
        prop::collection::vec(hostile(), 2),
        prop::sample::select(apps.to_vec()),
    )
        .prop_map(move |(route, port, keys, values, (name, ctx))| {
            let mut m = base.clone();
            m["route"] = json!(route);
            m["port"] = json!(port);
            m["name"] = json!(name);
            m["contextRoot"] = json!(ctx);
            for (k, v) in keys.into_iter().zip(values) {
                m[k] = v;
            }
            m
        })
}

#[test]
fn merge_never_panics_and_what_it_accepts_loads_in_httpd() {
    let mut runner = TestRunner::new(Config {
        cases: 500,
        ..Config::default()
    });
    let outputs = std::cell::RefCell::new(Vec::new());
    let dir = scratch();
    let strategy = (
        prop::collection::vec(prop::collection::vec(member_record(), 1..3), 1..3),
        any::<bool>(),
        prop::option::of(prop_oneof![Just("--drain"), Just("--disable")]),
    );
    runner
        .run(&strategy, |(files, balance, maintenance)| {
            let mut args = vec!["merge".to_owned()];
            if balance {
                args.push("-balancer".into());
                if let Some(flag) = maintenance {
                    args.extend([flag.to_owned(), "r".into()]);
                }
            }
            for (i, records) in files.iter().enumerate() {
                let mut text = String::from("# a fragment\n");
                for r in records {
                    text.push_str(&format!("# modproxy-member v1 {r}\n"));
                }
                text.push_str(&format!("# modproxy-end {}\n", records.len()));
                let name = format!("f{i}.conf");
                write(dir.path(), &name, &text);
                args.push(name);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            if let Some(out) = run_modproxy(dir.path(), &args) {
                assert_only_modproxy_directives(&out);
                outputs.borrow_mut().push(out);
            }
            Ok(())
        })
        .unwrap();
    httpd_accepts_all(&outputs.borrow());
}

#[test]
fn every_golden_file_has_only_modproxy_directives() {
    for case in support::fixture_cases() {
        assert_only_modproxy_directives(
            &std::fs::read_to_string(case.join("expected.conf")).unwrap(),
        );
    }
    let _ = fixtures();
}
