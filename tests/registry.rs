//! The registry with a real etcd: hosts publish (`generate --publish`, `--ttl --keep`),
//! `withdraw`, `merge --from`, and proxies follow it (`watch`) into a real httpd each.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::backend::Backend;
use crate::support::cluster::{generate_with, routes_of, run, wait_for_route};
use crate::support::daemon::Daemon;
use crate::support::etcd::Etcd;
use crate::support::httpd::{self, Running, get};
use crate::support::{Test, scratch, write};

const JSON: &str =
    r#"{"name":"shop","contextRoot":"/shop","healthCheck":{"uri":"/","interval":1}}"#;

/// `generate --publish` for a host with `route` at `port`, also written to ROUTE.conf.
fn publish(dir: &Path, url: &str, route: &str, port: u16) -> String {
    generate_with(dir, "modproxy.json", route, port, &["--publish", url])
}

fn app_dir() -> tempfile::TempDir {
    let dir = scratch();
    write(dir.path(), "modproxy.json", JSON);
    dir
}

/// A registry and the app's hosts: a real etcd, the app's folder, and a backend per
/// route, published only when the test says so.
struct Fleet {
    etcd: Etcd,
    url: String,
    dir: tempfile::TempDir,
    backends: Vec<Backend>,
}

impl Fleet {
    fn new(routes: &[&str]) -> Self {
        let etcd = Etcd::start();
        Fleet {
            url: etcd.url("/modproxy"),
            etcd,
            dir: app_dir(),
            backends: routes.iter().map(|r| Backend::start(r, None)).collect(),
        }
    }

    /// Publishes the backend with `route`, as its host would.
    fn publish(&self, route: &str) {
        let b = self
            .backends
            .iter()
            .find(|b| b.route == route)
            .expect("a backend with that route");
        publish(self.dir.path(), &self.url, route, b.port);
    }
}

fn reload_cmd(httpd: &Running) -> String {
    format!("kill -USR1 {}", httpd.pid().expect("httpd runs"))
}

#[test]
fn hosts_publish_and_a_merge_from_the_registry_equals_the_merge_of_their_files() {
    let etcd = Etcd::start();
    let url = etcd.url("/modproxy");
    let dir = app_dir();
    let (a, b) = (Backend::start("a", None), Backend::start("b", None));
    let fa = publish(dir.path(), &url, "a", a.port);
    let fb = publish(dir.path(), &url, "b", b.port);
    assert_eq!(
        etcd.keys("/modproxy/"),
        ["/modproxy/shop/a", "/modproxy/shop/b"]
    );
    let file_a = std::fs::read_to_string(dir.path().join(&fa)).unwrap();
    assert_eq!(
        etcd.get("/modproxy/shop/a").trim_end(),
        file_a.trim_end(),
        "the key holds the file's text"
    );

    let from_files = Test::at(dir.path())
        .args(["merge", "-balancer", &fa, &fb])
        .run()
        .stdout;
    let from_registry = Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &url, "-o", "App.conf"])
        .stderr_has("1 balancer(s), 2 member(s): shop at /shop (2)")
        .run();
    let conf = dir.path().join("App.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        from_files,
        "same inputs, same bytes"
    );

    // With a dead endpoint listed first, the next one answers.
    let dead = modproxy::httpd::free_port().unwrap();
    let both = format!("etcd://127.0.0.1:{dead},127.0.0.1:{}/modproxy", etcd.port);
    let via_second = Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &both])
        .run()
        .stdout;
    assert_eq!(via_second, from_files);

    // It really balances.
    let httpd = httpd::start(&conf);
    let routes = routes_of(&httpd, 20, "/shop/", None);
    assert!(
        routes.contains(&"a".into()) && routes.contains(&"b".into()),
        "{routes:?}"
    );
    drop(from_registry);

    // Registry and files together; a file's member that is also registered conflicts,
    // naming both sources.
    let c = Backend::start("c", None);
    let fc = crate::support::cluster::generate_for(dir.path(), "modproxy.json", &c);
    Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &url, &fc])
        .stderr_has("3 member(s)")
        .run();
    Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &url, &fa])
        .status(1)
        .stderr_has("etcd key /modproxy/shop/a")
        .stderr_has("a.conf")
        .run();
}

#[test]
fn a_hostile_or_misplaced_value_is_refused_naming_its_key() {
    let etcd = Etcd::start();
    let url = etcd.url("/modproxy");
    let dir = app_dir();
    let fa = publish(dir.path(), &url, "a", 8081);
    let good = std::fs::read_to_string(dir.path().join(&fa)).unwrap();
    // A host field that would close the Proxy block and add a directive.
    let hostile = good.replace(
        "\"host\":\"127.0.0.1\"",
        "\"host\":\"127.0.0.1/ >\\n</Proxy>\\nProxyPass / http://evil/\"",
    );
    assert_ne!(hostile, good);
    etcd.put(
        "/modproxy/shop/b",
        &hostile.replace("\"route\":\"a\"", "\"route\":\"b\""),
    );
    // `merge --from` must fail, saying `why`.
    let refused = |why: &str| {
        Test::at(dir.path())
            .args(["merge", "-balancer", "--from", &url])
            .status(1)
            .stderr_has(why)
    };
    let out = refused("etcd key /modproxy/shop/b")
        .stderr_has("field \"host\"")
        .keeps_old_output()
        .run();
    assert!(!out.stdout.contains("evil"));

    // A valid fragment under another host's key is refused too.
    etcd.put("/modproxy/shop/b", &good);
    refused("etcd key /modproxy/shop/b holds app shop route a, which belongs at /modproxy/shop/a")
        .run();
    // And a key that is no fragment at all.
    etcd.put("/modproxy/shop/b", "hello");
    refused("etcd key /modproxy/shop/b is not a modproxy fragment").run();
}

#[test]
fn withdraw_takes_a_host_away_and_says_when_it_was_not_there() {
    let etcd = Etcd::start();
    let url = etcd.url("/apps/prod");
    let dir = app_dir();
    publish(dir.path(), &url, "a", 8081);
    publish(dir.path(), &url, "b", 8082);
    Test::at(dir.path())
        .args(["withdraw", &url, "--name", "shop", "--route", "a"])
        .stderr_has("withdrew /apps/prod/shop/a")
        .run();
    assert_eq!(etcd.keys("/apps/"), ["/apps/prod/shop/b"]);
    Test::at(dir.path())
        .args(["withdraw", &url, "--name", "shop", "--route", "a"])
        .status(1)
        .stderr_has("/apps/prod/shop/a is not in the registry")
        .run();
    Test::at(dir.path())
        .args(["withdraw", &url, "--name", "shop", "--route", "b"])
        .run();
    Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &url])
        .status(1)
        .stderr_has("holds no fragments; hosts register with `modproxy generate --publish")
        .run();
}

#[test]
fn registry_urls_and_an_unreachable_etcd_get_clear_errors() {
    Test::new()
        .args([
            "merge",
            "-balancer",
            "--from",
            "http://127.0.0.1:2379/modproxy",
        ])
        .status(2)
        .stderr_has("must start with etcd://")
        .run();
    Test::new()
        .args(["merge", "-balancer", "--from", "etcd://127.0.0.1:2379"])
        .status(2)
        .stderr_has("has no prefix")
        .run();
    let port = modproxy::httpd::free_port().unwrap();
    Test::new()
        .args([
            "merge",
            "-balancer",
            "--from",
            &format!("etcd://127.0.0.1:{port}/modproxy"),
        ])
        .status(1)
        .stderr_has(&format!("etcd is unreachable at 127.0.0.1:{port}"))
        .run();
    Test::new()
        .args(["watch", "-balancer", "-o", "App.conf"])
        .status(2)
        .stderr_has("--from <URL>")
        .run();
    Test::new()
        .file("App.conf", "# the live file\n")
        .args([
            "watch",
            "--from",
            "etcd://127.0.0.1:2379/m",
            "-balancer",
            "-o",
            "App.conf",
            "./App.conf",
        ])
        .status(1)
        .stderr_has("./App.conf is the file watch writes; do not give it as an input too")
        .run();
}

#[test]
fn a_ttl_entry_lives_while_its_keepalive_runs_and_expires_when_it_stops() {
    let etcd = Etcd::start();
    let url = etcd.url("/modproxy");
    let dir = app_dir();
    let mut keep = Daemon::start(
        dir.path(),
        "keep",
        &[
            "generate",
            "-c",
            "modproxy.json",
            "--host",
            "127.0.0.1",
            "--port",
            "8081",
            "--route",
            "a",
            "--publish",
            &url,
            "--ttl",
            "5",
            "--keep",
        ],
    );
    keep.wait_for("renewing its 5 s lease", 1, Duration::from_secs(10));
    // Twice the TTL: only the renewals keep it.
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(
        etcd.keys("/modproxy/"),
        ["/modproxy/shop/a"],
        "{}",
        keep.log()
    );
    // Wiped by hand, or its lease revoked: published again within a renewal period.
    etcd.ctl(&["del", "--prefix", "/modproxy/"]);
    keep.wait_for(
        "published /modproxy/shop/a again",
        1,
        Duration::from_secs(5),
    );
    let leases = etcd.ctl(&["lease", "list"]);
    let id = String::from_utf8_lossy(&leases.stdout)
        .lines()
        .nth(1)
        .expect("one lease")
        .trim()
        .to_owned();
    etcd.ctl(&["lease", "revoke", &id]);
    keep.wait_for(
        "published /modproxy/shop/a again",
        2,
        Duration::from_secs(5),
    );
    assert_eq!(
        etcd.keys("/modproxy/"),
        ["/modproxy/shop/a"],
        "{}",
        keep.log()
    );
    keep.stop();
    let stopped = Instant::now();
    while !etcd.keys("/modproxy/").is_empty() {
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "the entry outlived its lease"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let gone = stopped.elapsed();
    eprintln!("the entry expired {gone:?} after its keepalive stopped");
    assert!(
        gone > Duration::from_secs(2),
        "it expired by its lease, not at once: {gone:?}"
    );
}

/// A proxy that follows the registry: its own httpd and `modproxy watch`.
struct Proxy {
    dir: tempfile::TempDir,
    httpd: Running,
    watch: Daemon,
}

impl Proxy {
    /// Merges what is registered, starts httpd with it, and starts `watch` on its file.
    /// `extra` (credentials, fragment files) goes to the first merge and to the watcher.
    fn start(url: &str, extra: &[&str]) -> Self {
        let dir = scratch();
        let mut merge = vec!["merge", "-balancer", "--from", url, "-o", "App.conf"];
        merge.extend_from_slice(extra);
        run(dir.path(), &merge);
        let httpd = httpd::start(&dir.path().join("App.conf"));
        let reload = reload_cmd(&httpd);
        let mut args = vec![
            "watch",
            "--from",
            url,
            "-balancer",
            "-o",
            "App.conf",
            "--reload",
            &reload,
        ];
        args.extend_from_slice(extra);
        let watch = Daemon::start(dir.path(), "watch", &args);
        watch.wait_for("watching", 1, Duration::from_secs(5));
        Proxy { dir, httpd, watch }
    }

    fn file(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("App.conf")).unwrap()
    }
}

#[test]
fn two_watching_proxies_converge_on_the_same_file_and_serve_a_new_host() {
    let fleet = Fleet::new(&["a", "b", "c"]);
    let (url, dir) = (&fleet.url, &fleet.dir);
    fleet.publish("a");
    fleet.publish("b");
    let proxies = [Proxy::start(url, &[]), Proxy::start(url, &[])];

    let published = Instant::now();
    fleet.publish("c");
    for p in &proxies {
        wait_for_route(&p.httpd, "/shop/", "c", Duration::from_secs(10));
    }
    let served = published.elapsed();
    eprintln!("publish to served on both proxies: {served:?}");
    assert!(
        served < Duration::from_secs(5),
        "{served:?}; {}",
        proxies[0].watch.log()
    );
    assert_eq!(proxies[0].file(), proxies[1].file(), "byte-identical files");
    assert!(proxies[0].file().contains("route=c"));
    let previous =
        std::fs::read_to_string(proxies[0].dir.path().join("App.conf.previous")).unwrap();
    assert!(!previous.contains("route=c"), "the previous file is kept");

    // Withdrawn: both stop sending it requests.
    run(
        dir.path(),
        &["withdraw", url, "--name", "shop", "--route", "a"],
    );
    for p in &proxies {
        p.watch
            .wait_for("- shop member a", 1, Duration::from_secs(10));
        let start = Instant::now();
        while routes_of(&p.httpd, 10, "/shop/", None).contains(&"a".to_owned()) {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "a still served: {}",
                p.watch.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    assert_eq!(proxies[0].file(), proxies[1].file());

    // A burst: twelve hosts publish at once (members without a process: the file is what
    // is checked). Both proxies end with the same file holding all of them.
    std::thread::scope(|s| {
        for i in 0..12 {
            s.spawn(move || publish(dir.path(), url, &format!("burst{i}"), 9000 + i));
        }
    });
    let members = |p: &Proxy| p.file().matches("# modproxy-member").count();
    let start = Instant::now();
    while proxies.iter().any(|p| members(p) != 14) {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "not converged: {}",
            proxies[0].watch.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "a burst of 12 publishes converged on both proxies in {:?}",
        start.elapsed()
    );
    assert_eq!(
        proxies[0].file(),
        proxies[1].file(),
        "byte-identical after the burst"
    );
}

#[test]
fn a_wiped_or_shrunken_registry_is_not_applied_and_bad_keys_are_skipped() {
    let fleet = Fleet::new(&["a", "b", "c", "d"]);
    let etcd = &fleet.etcd;
    for route in ["a", "b", "c"] {
        fleet.publish(route);
    }
    let proxy = Proxy::start(&fleet.url, &[]);
    let before = proxy.file();
    let members = |text: &str| text.matches("# modproxy-member").count();
    assert_eq!(members(&before), 3);

    // Two of three gone at once (a restored old backup, say): refused.
    etcd.ctl(&["del", "/modproxy/shop/a"]);
    etcd.ctl(&["del", "/modproxy/shop/b"]);
    proxy.watch.wait_for(
        "would lose 2 of its 3 members at once",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(proxy.file(), before);
    // Wiped: refused.
    etcd.ctl(&["del", "--prefix", "/modproxy/"]);
    proxy.watch.wait_for(
        "the registry holds no valid fragment",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(proxy.file(), before);
    assert_eq!(
        routes_of(&proxy.httpd, 9, "/shop/", None).len(),
        9,
        "httpd still serves"
    );

    // Restored, plus a hostile key: the hostile one is skipped, naming its key; the rest
    // is applied (here: no change, as the restore brings back what was installed).
    for route in ["a", "b", "c"] {
        fleet.publish(route);
    }
    etcd.put(
        "/modproxy/shop/x",
        "Include /etc/shadow\n# modproxy-end 0\n",
    );
    proxy.watch.wait_for(
        "error: skipped /modproxy/shop/x",
        1,
        Duration::from_secs(10),
    );
    // One host more: applied, the bad key still skipped.
    fleet.publish("d");
    wait_for_route(&proxy.httpd, "/shop/", "d", Duration::from_secs(10));
    let after = proxy.file();
    assert_eq!(members(&after), 4);
    assert!(!after.contains("shadow"));
    let log = proxy.watch.log();
    assert!(
        !log.contains("applied App.conf: 1 balancer(s), 1 member")
            && !log.contains("applied App.conf: 1 balancer(s), 0 member"),
        "no applied config with fewer members than the guard allows:\n{log}"
    );

    // A shrink that is meant: refused by the watcher, then applied once by hand with
    // --force (a bad key must go first: apply, like merge, refuses it).
    for key in ["a", "b", "c", "x"] {
        etcd.ctl(&["del", &format!("/modproxy/shop/{key}")]);
    }
    proxy
        .watch
        .wait_for("would lose 3 of its 4 members", 1, Duration::from_secs(10));
    let reload = reload_cmd(&proxy.httpd);
    run(
        proxy.dir.path(),
        &[
            "apply",
            "-balancer",
            "--from",
            &fleet.url,
            "-o",
            "App.conf",
            "--force",
            "--reload",
            &reload,
        ],
    );
    assert_eq!(members(&proxy.file()), 1);
    let start = Instant::now();
    while routes_of(&proxy.httpd, 6, "/shop/", None) != ["d"; 6] {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not only d serves"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_watcher_keeps_serving_while_etcd_is_down_and_catches_up_when_it_returns() {
    let mut fleet = Fleet::new(&["a", "b", "c"]);
    fleet.publish("a");
    fleet.publish("b");
    let proxy = Proxy::start(&fleet.url, &[]);
    let before = proxy.file();

    fleet.etcd.stop();
    proxy
        .watch
        .wait_for("keeps its last good config", 1, Duration::from_secs(40));
    for _ in 0..10 {
        assert_eq!(get(&proxy.httpd, "/shop/", None).status, 200);
    }
    assert_eq!(proxy.file(), before, "nothing applied while etcd is down");

    fleet.etcd.restart();
    fleet.publish("c");
    let back = Instant::now();
    wait_for_route(&proxy.httpd, "/shop/", "c", Duration::from_secs(40));
    eprintln!("caught up {:?} after etcd returned", back.elapsed());
    assert!(
        proxy
            .watch
            .log()
            .contains("is reachable again; catching up")
    );
}

#[test]
fn a_watcher_survives_an_etcd_that_hangs_and_catches_up_when_it_answers_again() {
    let fleet = Fleet::new(&["a", "b", "c"]);
    fleet.publish("a");
    fleet.publish("b");
    let proxy = Proxy::start(&fleet.url, &[]);
    let before = proxy.file();

    // Frozen, not killed: connections open, nothing answers.
    fleet.etcd.freeze();
    let frozen = Instant::now();
    proxy
        .watch
        .wait_for("keeps its last good config", 1, Duration::from_secs(40));
    eprintln!(
        "the watcher noticed the hung etcd after {:?}",
        frozen.elapsed()
    );
    for _ in 0..10 {
        assert_eq!(get(&proxy.httpd, "/shop/", None).status, 200);
    }
    assert_eq!(proxy.file(), before);

    fleet.etcd.thaw();
    fleet.publish("c");
    wait_for_route(&proxy.httpd, "/shop/", "c", Duration::from_secs(40));
}

#[test]
fn a_watcher_with_an_etcd_user_logs_in_again_when_its_token_expires() {
    let mut fleet = Fleet::new(&["a", "b", "c"]);
    fleet.publish("a");
    fleet.publish("b");
    fleet.etcd.add_user("proxy", "pr0xy", "read", "/modproxy/");
    fleet.etcd.enable_auth();
    let secrets = scratch();
    write(secrets.path(), "pw", "pr0xy\n");
    let pw = secrets.path().join("pw").display().to_string();
    let proxy = Proxy::start(
        &fleet.url,
        &["--etcd-user", "proxy", "--etcd-password-file", &pw],
    );
    // Twice the token's lifetime (2 s in the test etcd), then a change to follow.
    std::thread::sleep(Duration::from_secs(5));
    let b = fleet.backends.iter().find(|b| b.route == "c").unwrap();
    let fragment = generate_with(fleet.dir.path(), "modproxy.json", "c", b.port, &[]);
    let text = std::fs::read_to_string(fleet.dir.path().join(fragment)).unwrap();
    fleet.etcd.put("/modproxy/shop/c", &text);
    wait_for_route(&proxy.httpd, "/shop/", "c", Duration::from_secs(15));
    let log = proxy.watch.log();
    assert!(!log.contains("error"), "{log}");
}

#[test]
fn watch_keeps_the_drain_state_set_on_the_proxy() {
    let fleet = Fleet::new(&["a", "b", "c", "s"]);
    fleet.publish("a");
    fleet.publish("b");
    // A member that is not registered: a fragment file given to merge and watch.
    let s = fleet.backends.iter().find(|b| b.route == "s").unwrap();
    let file = generate_with(fleet.dir.path(), "modproxy.json", "s", s.port, &[]);
    let file = fleet.dir.path().join(file).display().to_string();
    let proxy = Proxy::start(&fleet.url, &[&file]);
    run(proxy.dir.path(), &["drain", "a", "s", "--file", "App.conf"]);
    fleet.publish("c");
    proxy
        .watch
        .wait_for("applied App.conf", 1, Duration::from_secs(10));
    let text = proxy.file();
    let state = |route: &str| {
        let record = text
            .lines()
            .find(|l| {
                l.starts_with("# modproxy-member") && l.contains(&format!("\"route\":\"{route}\""))
            })
            .unwrap_or_else(|| panic!("no member {route}:\n{text}"));
        record
            .split("\"adminState\":\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        ["a", "b", "c", "s"].map(state),
        ["drain", "active", "active", "drain"],
        "the registered a and the file's s stay drained; c is new"
    );
}

#[test]
fn a_registry_over_tls_with_client_certificates_is_verified() {
    let etcd = Etcd::start_tls();
    let url = etcd.url("/modproxy");
    let dir = app_dir();
    let generate = |extra: &[&str]| {
        Test::at(dir.path())
            .args([
                "generate",
                "-c",
                "modproxy.json",
                "--host",
                "127.0.0.1",
                "--route",
                "a",
            ])
            .args(["--publish", &url])
            .args(extra.to_vec())
    };
    let (ca, other) = (etcd.file("ca.pem"), etcd.file("other.pem"));
    let (cert, key) = (etcd.file("client.pem"), etcd.file("client.key"));
    // Plain HTTP to a TLS port.
    generate(&[])
        .status(1)
        .stderr_has("if etcd serves TLS, give --etcd-cacert")
        .run();
    // Another CA: etcd's certificate is not trusted.
    generate(&[
        "--etcd-cacert",
        &other,
        "--etcd-cert",
        &cert,
        "--etcd-key",
        &key,
    ])
    .status(1)
    .stderr_has("etcd is unreachable")
    .stderr_has("certificate")
    .run();
    // No client certificate: etcd refuses the connection.
    generate(&["--etcd-cacert", &ca])
        .status(1)
        .stderr_has("etcd is unreachable")
        .run();
    generate(&["--etcd-cert", &cert]).status(2).run();
    generate(&[
        "--etcd-cacert",
        &ca,
        "--etcd-cert",
        &cert,
        "--etcd-key",
        &key,
    ])
    .stderr_has("published /modproxy/shop/a")
    .run();
    Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &url, "--etcd-cacert", &ca])
        .args(["--etcd-cert", &cert, "--etcd-key", &key])
        .stdout_has("route=a")
        .run();
}

#[test]
fn a_registry_with_auth_takes_the_password_from_the_environment_or_a_file() {
    let mut etcd = Etcd::start();
    etcd.add_user("web1", "s3cret", "readwrite", "/modproxy/");
    etcd.enable_auth();
    let dir = app_dir();
    write(dir.path(), "pw", "s3cret\n");
    let publish_as = |url: &str| {
        Test::at(dir.path())
            .args([
                "generate",
                "-c",
                "modproxy.json",
                "--host",
                "127.0.0.1",
                "--route",
                "a",
            ])
            .args(["--publish", url])
    };
    let url = etcd.url("/modproxy");
    publish_as(&url)
        .status(1)
        .stderr_has("give --etcd-user")
        .run();
    publish_as(&url)
        .args(["--etcd-user", "web1"])
        .status(1)
        .stderr_has("set MODPROXY_ETCD_PASSWORD or give --etcd-password-file")
        .run();
    publish_as(&url)
        .args(["--etcd-user", "web1"])
        .env("MODPROXY_ETCD_PASSWORD", "wrong")
        .status(1)
        .stderr_has("etcd refused user \"web1\"")
        .run();
    publish_as(&url)
        .args(["--etcd-user", "web1", "--etcd-password-file", "pw"])
        .stderr_has("published /modproxy/shop/a")
        .run();
    // Outside its role's prefix.
    publish_as(&etcd.url("/other"))
        .args(["--etcd-user", "web1", "--etcd-password-file", "pw"])
        .status(1)
        .stderr_has("permission denied")
        .run();
    Test::at(dir.path())
        .args(["merge", "-balancer", "--from", &url, "--etcd-user", "web1"])
        .env("MODPROXY_ETCD_PASSWORD", "s3cret")
        .stdout_has("route=a")
        .run();
}

/// The words of a unit's `ExecStart=`, after the program, with `${VAR}` (one word) and
/// `$VAR` (split on white space) taken from `env`, as systemd expands them.
fn exec_start(unit: &str, env: &[(String, String)]) -> Vec<String> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(unit)).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart line");
    let value = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{unit} uses {name}, which its example env file lacks"))
    };
    let mut words = Vec::new();
    for word in line.split_whitespace() {
        if let Some(name) = word.strip_prefix("${").and_then(|w| w.strip_suffix('}')) {
            words.push(value(name));
        } else if let Some(name) = word.strip_prefix('$') {
            words.extend(value(name).split_whitespace().map(str::to_owned));
        } else {
            words.push(word.to_owned());
        }
    }
    assert_eq!(
        words[0], "/usr/bin/modproxy",
        "the package installs it there"
    );
    words.remove(0);
    words
}

/// An example env file's settings, with `changes` (for this machine) applied.
fn example_env(file: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let mut env: Vec<(String, String)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    for (k, v) in changes {
        let slot = env
            .iter_mut()
            .find(|(name, _)| name == k)
            .unwrap_or_else(|| panic!("{file} has no {k}"));
        slot.1 = (*v).to_owned();
    }
    env
}

#[test]
fn the_systemd_units_run_as_written() {
    let etcd = Etcd::start();
    let url = etcd.url("/modproxy");
    let dir = app_dir();
    let config = dir.path().join("modproxy.json").display().to_string();
    let env = example_env(
        "packaging/systemd/publish.env",
        &[
            ("MODPROXY_REGISTRY", &url),
            ("MODPROXY_APP_CONFIG", &config),
            ("MODPROXY_ARGS", "--host 127.0.0.1 --route a --port 8081"),
        ],
    );
    let args = exec_start("packaging/systemd/modproxy-publish@.service", &env);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let _publisher = Daemon::start(dir.path(), "publish", &args);
    let start = Instant::now();
    while etcd.keys("/modproxy/") != ["/modproxy/shop/a"] {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the publish unit did not publish"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let proxy = scratch();
    let target = proxy
        .path()
        .join("modproxy-shop.conf")
        .display()
        .to_string();
    let env = example_env(
        "packaging/systemd/watch.env",
        &[
            ("MODPROXY_REGISTRY", &url),
            ("MODPROXY_TARGET", &target),
            (
                "MODPROXY_ARGS",
                "--balancer-manager /balancer-manager --reload true",
            ),
        ],
    );
    let args = exec_start("packaging/systemd/modproxy-watch@.service", &env);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let watcher = Daemon::start(proxy.path(), "watch", &args);
    watcher.wait_for("applied", 1, Duration::from_secs(10));
    let installed = std::fs::read_to_string(&target).unwrap();
    assert!(installed.contains("route=a") && installed.contains("balancer-manager"));
}
