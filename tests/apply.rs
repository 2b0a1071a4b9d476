//! `modproxy apply` against a real, running httpd: the file it Includes is the live file,
//! and the reload is a real graceful restart (SIGUSR1).

use std::time::Duration;

use crate::support::Test;
use crate::support::cluster::{App, wait_for_route};
use crate::support::httpd::{Running, get};
use crate::support::load::{Load, keepalive_outcome};

const JSON: &str = r#"{"name":"app","contextRoot":"/app"}"#;

fn reload_cmd(httpd: &Running) -> String {
    format!("kill -USR1 {}", httpd.pid().expect("httpd runs"))
}

fn app_file(app: &App) -> String {
    std::fs::read_to_string(&app.conf).unwrap()
}

#[test]
fn apply_adds_a_host_to_a_live_proxy_under_load() {
    let mut app = App::new(JSON, &["a", "b"], None);
    let httpd = app.start();
    let c = app.add_host("c", None);
    let probe = format!("http://{}/app/", httpd.addr());
    let load = Load::start(httpd.addr(), "/app/", 20, None);
    std::thread::sleep(Duration::from_millis(500));
    Test::at(app.dir.path())
        .args(["apply", "-balancer", "-o", "App.conf", "App.conf", &c])
        .args(["--reload", &reload_cmd(&httpd), "--probe", &probe])
        .stderr_has("+ app member c (http://127.0.0.1:")
        .stderr_has("applied App.conf: 1 balancer(s), 3 member(s)")
        .run();
    wait_for_route(&httpd, "/app/", "c", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    let samples = load.finish();
    let failed = samples.iter().filter(|s| !s.ok()).count();
    eprintln!(
        "apply under load: {} requests, {failed} failed",
        samples.len()
    );
    assert_eq!(
        failed, 0,
        "a graceful restart with new connections per request drops none"
    );
    let previous = std::fs::read_to_string(app.dir.path().join("App.conf.previous")).unwrap();
    assert!(!previous.contains("route=c"), "the previous file is kept");
}

#[test]
fn apply_installs_nothing_httpd_rejects() {
    let mut app = App::new(JSON, &["a", "b"], None);
    let httpd = app.start();
    let before = app_file(&app);
    let c = app.add_host("c", None);
    Test::at(app.dir.path())
        .file("tpl/proxy-options.hbs", "    NoSuchDirective on\n")
        .args([
            "apply",
            "-balancer",
            "--templates",
            "tpl",
            "-o",
            "App.conf",
            "App.conf",
            &c,
        ])
        .args(["--reload", &reload_cmd(&httpd)])
        .status(1)
        .stderr_has("httpd rejects the new config; nothing was installed")
        .stderr_has("NoSuchDirective")
        .run();
    assert_eq!(app_file(&app), before);
    assert_eq!(
        get(&httpd, "/app/", None).status,
        200,
        "httpd serves as before"
    );
}

#[test]
fn a_failed_reload_or_probe_puts_the_previous_file_back() {
    let mut app = App::new(JSON, &["a", "b"], None);
    let httpd = app.start();
    let before = app_file(&app);
    let c = app.add_host("c", None);
    // A reload that fails the first time only, then works.
    let marker = app.dir.path().join("reloaded-once");
    let flaky = format!(
        "test -f {m} || {{ touch {m}; exit 1; }}; {}",
        reload_cmd(&httpd),
        m = marker.display()
    );
    Test::at(app.dir.path())
        .args([
            "apply",
            "-balancer",
            "-o",
            "App.conf",
            "App.conf",
            &c,
            "--reload",
            &flaky,
        ])
        .status(1)
        .stderr_has("the previous config of App.conf is back in place and httpd reloaded it")
        .run();
    assert_eq!(app_file(&app), before);

    let nowhere = format!("http://{}/not-the-app", httpd.addr());
    Test::at(app.dir.path())
        .args(["apply", "-balancer", "-o", "App.conf", "App.conf", &c])
        .args(["--reload", &reload_cmd(&httpd), "--probe", &nowhere])
        .status(1)
        .stderr_has("did not answer 2xx within 5 s (last: answered 404)")
        .stderr_has("back in place and httpd reloaded it")
        .run();
    assert_eq!(app_file(&app), before);
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..6 {
        let r = get(&httpd, "/app/", None);
        assert_eq!(r.status, 200);
        assert_ne!(
            r.route(),
            Some("c"),
            "c must not be served after the rollback"
        );
    }
}

#[test]
fn apply_guards_against_emptying_an_app_and_shows_dry_runs() {
    let app = App::new(JSON, &["a", "b", "c"], None);
    let before = app_file(&app);
    Test::at(app.dir.path())
        .args([
            "apply",
            "-balancer",
            "-o",
            "App.conf",
            "a.conf",
            "--reload",
            "true",
        ])
        .status(1)
        .stderr_has("- app member b")
        .stderr_has("would lose 2 of its 3 members at once")
        .stderr_has("--force")
        .run();
    Test::at(app.dir.path())
        .args([
            "apply",
            "-balancer",
            "-o",
            "App.conf",
            "App.conf",
            "--reload",
            "true",
        ])
        .args(["--disable", "a", "--disable", "b", "--drain", "c"])
        .status(1)
        .stderr_has("app app would have no active member")
        .run();
    Test::at(app.dir.path())
        .args([
            "apply",
            "-balancer",
            "--dry-run",
            "-o",
            "App.conf",
            "App.conf",
            "--drain",
            "b",
        ])
        .stderr_has("~ app member b: Active -> Drain")
        .run();
    assert_eq!(
        app_file(&app),
        before,
        "neither a refusal nor a dry run writes"
    );
}

#[test]
fn apply_under_keepalive_clients_drops_no_more_than_a_graceful_restart_can() {
    let mut app = App::new(JSON, &["a", "b"], None);
    let httpd = app.start();
    let plain = keepalive_outcome(httpd.addr(), || httpd.graceful().unwrap());
    let c = app.add_host("c", None);
    let applied = keepalive_outcome(httpd.addr(), || {
        Test::at(app.dir.path())
            .args(["apply", "-balancer", "-o", "App.conf", "App.conf", &c])
            .args(["--reload", &reload_cmd(&httpd)])
            .run();
    });
    eprintln!(
        "16 keep-alive clients: plain graceful restart {} requests, {} failed; apply {} requests, {} failed",
        plain.0, plain.1, applied.0, applied.1
    );
    // A graceful restart closes each kept-alive connection at most once, which can cost
    // the request on it; apply adds nothing to that (its check runs on another httpd).
    assert!(applied.1 <= 16, "{applied:?}");
    wait_for_route(&httpd, "/app/", "c", Duration::from_secs(5));
}

/// A sandboxed /etc/apache2 for Debian's a2enmod and a2enconf, which honour
/// APACHE_CONFDIR: the real mods-available, and nothing enabled.
fn sandboxed_etc() -> tempfile::TempDir {
    let etc = crate::support::scratch();
    for d in [
        "mods-available",
        "mods-enabled",
        "conf-available",
        "conf-enabled",
        "state",
    ] {
        std::fs::create_dir_all(etc.path().join(d)).unwrap();
    }
    let real = std::path::Path::new("/etc/apache2");
    let mods = std::fs::read_dir(real.join("mods-available")).unwrap_or_else(|e| {
        panic!("this test needs Debian's apache2 (/etc/apache2/mods-available): {e}; scripts/test installs it")
    });
    for entry in mods {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            etc.path()
                .join("mods-available")
                .join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::copy(real.join("envvars"), etc.path().join("envvars")).unwrap();
    etc
}

#[test]
fn apply_enables_what_the_file_needs_on_debian() {
    let app = App::new(JSON, &["a", "b"], None);
    let etc = sandboxed_etc();
    let target = etc.path().join("conf-available/app.conf");
    let debian = |t: Test| {
        t.env("APACHE_CONFDIR", etc.path())
            .env("APACHE_STATE_DIRECTORY", etc.path().join("state"))
    };
    debian(Test::at(app.dir.path()))
        .args([
            "apply",
            "-balancer",
            "--enable-modules",
            "--reload",
            "true",
            "-o",
        ])
        .arg(&target)
        .arg("App.conf")
        .run();
    for module in [
        "proxy",
        "proxy_http",
        "slotmem_shm",
        "proxy_balancer",
        "lbmethod_bybusyness",
        "headers",
    ] {
        assert!(
            etc.path()
                .join(format!("mods-enabled/{module}.load"))
                .exists(),
            "{module} is not enabled"
        );
    }
    assert!(etc.path().join("conf-enabled/app.conf").exists());

    // A new file whose reload fails goes away again, and so does its a2enconf link.
    let other = etc.path().join("conf-available/other.conf");
    debian(Test::at(app.dir.path()))
        .args([
            "apply",
            "-balancer",
            "--enable-modules",
            "--reload",
            "false",
            "-o",
        ])
        .arg(&other)
        .arg("App.conf")
        .status(1)
        .run();
    assert!(!other.exists());
    assert!(!etc.path().join("conf-enabled/other.conf").exists());
}
