//! `modproxy drain|disable|enable --manager`: member states changed in the file and in the
//! running httpd at once, under steady traffic, without a restart.

use std::path::Path;
use std::time::Duration;

use crate::support::Test;
use crate::support::cluster::{App, routes_of, wait_for_route};
use crate::support::httpd::Running;
use crate::support::load::{Load, Sample, keepalive_outcome};

const JSON: &str = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"proxy-cookie"}"#;

/// An app of a and b whose merged file serves the balancer manager at /bm.
fn app_with_manager() -> (App, Running, String) {
    let app = App::new(JSON, &["a", "b"], None);
    app.merge_with(&["App.conf"], &["--balancer-manager", "/bm"]);
    let httpd = app.start();
    wait_for_route(&httpd, "/app/", "b", Duration::from_secs(10));
    let url = format!("http://{}/bm", httpd.addr());
    (app, httpd, url)
}

/// Runs `change` 1 s into steady traffic (new users and a sticky user of b) and returns
/// the samples and when `change` had returned.
fn under_load(httpd: &Running, change: impl FnOnce()) -> (Vec<Sample>, Duration) {
    let load = Load::start(httpd.addr(), "/app/", 20, Some("ROUTEID=.b"));
    std::thread::sleep(Duration::from_secs(1));
    change();
    let done = load.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    (load.finish(), done)
}

/// `modproxy VERB b --file App.conf --manager URL` (drain, disable, enable).
fn change_live(dir: &Path, url: &str, verb: &str) {
    Test::at(dir)
        .args([verb, "b", "--file", "App.conf", "--manager", url])
        .run();
}

/// The same drain the old way: re-merge the file, then a graceful restart.
fn drain_by_reload(app: &App, httpd: &Running) {
    app.merge_with(&["App.conf"], &["--drain", "b"]);
    httpd.graceful().unwrap();
}

fn routes_after(samples: &[Sample], after: Duration, sticky: bool) -> Vec<String> {
    samples
        .iter()
        .filter(|s| s.sticky == sticky && s.start > after)
        .map(|s| s.route.clone().unwrap_or_default())
        .collect()
}

#[test]
fn a_live_drain_loses_no_request_and_keeps_sticky_users() {
    let (app, httpd, url) = app_with_manager();
    let dir = app.dir.path().to_owned();
    let (samples, done) = under_load(&httpd, || {
        Test::at(&dir)
            .args(["drain", "b", "--file", "App.conf", "--manager", &url])
            .stderr_has("set 1 member(s) to draining")
            .run();
    });
    let failed: Vec<_> = samples.iter().filter(|s| !s.ok()).collect();
    eprintln!(
        "live drain: {} requests, {} failed",
        samples.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
    let new_users = routes_after(&samples, done, false);
    assert!(
        !new_users.is_empty() && new_users.iter().all(|r| r == "a"),
        "{new_users:?}"
    );
    let sticky = routes_after(&samples, done, true);
    assert!(
        !sticky.is_empty() && sticky.iter().all(|r| r == "b"),
        "{sticky:?}"
    );
    // The file has it too, so a restart keeps it.
    let text = std::fs::read_to_string(dir.join("App.conf")).unwrap();
    assert!(text.contains("route=b loadfactor=1 status=+N"), "{text}");
    httpd.graceful().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let out = Test::at(&dir)
        .args(["status", "--manager", &url, "--format", "json"])
        .status(1)
        .run();
    assert!(out.stdout.contains("\"draining\""), "{}", out.stdout);

    // For comparison, the same change by re-merge and graceful restart (reported, not
    // asserted: what httpd's graceful restart drops depends on timing).
    change_live(&dir, &url, "enable");
    let (samples, _) = under_load(&httpd, || {
        drain_by_reload(&app, &httpd);
    });
    let failed = samples.iter().filter(|s| !s.ok()).count();
    eprintln!(
        "drain by re-merge and graceful: {} requests, {failed} failed",
        samples.len()
    );

    // And with 16 keep-alive clients, which a graceful restart can cut off.
    change_live(&dir, &url, "enable");
    httpd.graceful().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let live = keepalive_outcome(httpd.addr(), || {
        change_live(&dir, &url, "drain");
    });
    change_live(&dir, &url, "enable");
    let reloaded = keepalive_outcome(httpd.addr(), || {
        drain_by_reload(&app, &httpd);
    });
    eprintln!(
        "16 keep-alive clients: live drain {} requests, {} failed; re-merge and graceful {} requests, {} failed",
        live.0, live.1, reloaded.0, reloaded.1
    );
    assert_eq!(live.1, 0, "a live drain loses nothing: {live:?}");
}

#[test]
fn a_live_disable_moves_even_sticky_users_and_enable_brings_them_back() {
    let (app, httpd, url) = app_with_manager();
    let dir = app.dir.path().to_owned();
    let (samples, done) = under_load(&httpd, || {
        Test::at(&dir)
            .args(["disable", "b", "--file", "App.conf", "--manager", &url])
            .run();
    });
    assert!(samples.iter().all(|s| s.ok()));
    let sticky = routes_after(&samples, done, true);
    assert!(
        !sticky.is_empty() && sticky.iter().all(|r| r == "a"),
        "{sticky:?}"
    );
    let (samples, done) = under_load(&httpd, || {
        change_live(&dir, &url, "enable");
    });
    assert!(samples.iter().all(|s| s.ok()));
    let sticky = routes_after(&samples, done, true);
    assert!(
        !sticky.is_empty() && sticky.iter().all(|r| r == "b"),
        "{sticky:?}"
    );
    let text = std::fs::read_to_string(dir.join("App.conf")).unwrap();
    assert!(!text.contains("status=+"), "{text}");
}

#[test]
fn an_unknown_route_changes_nothing_live() {
    let (app, _httpd, url) = app_with_manager();
    Test::at(app.dir.path())
        .args(["drain", "zz", "--file", "App.conf", "--manager", &url])
        .status(1)
        .stderr_has("--drain zz: no member has that route")
        .run();
}

#[test]
fn a_live_weight_change_shifts_new_users_and_stays_in_the_file() {
    let (app, httpd, url) = app_with_manager();
    let dir = app.dir.path().to_owned();
    Test::at(&dir)
        .args(["weight", "a=3", "--file", "App.conf", "--manager", &url])
        .stderr_has("set 1 member(s) to their new load factor")
        .run();
    let text = std::fs::read_to_string(dir.join("App.conf")).unwrap();
    assert!(text.contains("route=a loadfactor=3"), "{text}");
    let routes = routes_of(&httpd, 40, "/app/", None);
    let on_a = routes.iter().filter(|r| *r == "a").count();
    assert!(
        (27..=33).contains(&on_a),
        "a got {on_a} of 40 at weight 3:1"
    );
    Test::at(&dir)
        .args(["weight", "zz=2", "--file", "App.conf"])
        .status(1)
        .stderr_has("--loadfactor zz=2: no member has that route")
        .run();
    Test::at(&dir)
        .args(["weight", "a", "--file", "App.conf"])
        .status(2)
        .stderr_has("is not ROUTE=N")
        .run();
}
