//! The sample for two proxies behind one address (packaging/keepalived/): keepalived
//! accepts the config, and its check script, run against a real httpd, passes and fails
//! when it should.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::cluster::{App, run};
use crate::support::{modproxy_bin, scratch};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/keepalived")
        .join(name)
}

/// Runs check-modproxy against `url` with the built binary; returns whether it passed.
fn check_passes(url: &str) -> bool {
    Command::new(sample("check-modproxy"))
        .arg(url)
        .env("MODPROXY", modproxy_bin())
        .status()
        .expect("run check-modproxy")
        .success()
}

/// Polls the check until it gives `expected`, for up to `limit`.
fn until_check(url: &str, expected: bool, limit: Duration) {
    let start = Instant::now();
    while check_passes(url) != expected {
        assert!(
            start.elapsed() < limit,
            "check-modproxy did not {} within {limit:?}",
            if expected { "pass" } else { "fail" }
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn keepalived_accepts_the_sample_config() {
    let keepalived = ["/usr/sbin/keepalived", "/sbin/keepalived"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("this test needs keepalived; run the README's test command (scripts/test), which installs it");
    let dir = scratch();
    // keepalived checks that the script exists and is executable: point it at ours.
    let conf = std::fs::read_to_string(sample("keepalived.conf"))
        .unwrap()
        .replace(
            "/etc/keepalived/check-modproxy",
            &sample("check-modproxy").display().to_string(),
        );
    // `keepalived -t` on `text`: its output, with whether it passed.
    let config_test = |text: &str| {
        let path = dir.path().join("keepalived.conf");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(keepalived)
            .arg("-t")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), said)
    };
    let (passed, said) = config_test(&conf);
    assert!(passed, "keepalived -t: {said}");
    // And it does find errors: the same file cut short is refused.
    let (passed, _) = config_test(&conf[..conf.rfind('}').unwrap()]);
    assert!(!passed, "keepalived -t accepts anything");
}

#[test]
fn the_check_keeps_the_address_while_members_serve_and_gives_it_away_when_none_can() {
    let json = r#"{"name":"shop","contextRoot":"/shop","healthCheck":{"uri":"/","interval":1}}"#;
    let mut app = App::new(json, &["a", "b"], None);
    app.merge_with(&["App.conf"], &["--balancer-manager", "/balancer-manager"]);
    let httpd = app.start();
    let url = format!("http://{}/balancer-manager", httpd.addr());
    until_check(&url, true, Duration::from_secs(5));

    // A drained member is normal operations (status exits 1): the check still passes.
    let file = app.conf.display().to_string();
    run(
        app.dir.path(),
        &["drain", "a", "--file", &file, "--manager", &url],
    );
    assert!(check_passes(&url));

    // No usable member (status exits 2): it fails.
    app.backend("a").kill();
    app.backend("b").kill();
    until_check(&url, false, Duration::from_secs(10));

    // httpd gone (status exits 3): it fails.
    httpd.stop();
    assert!(!check_passes(&url));
}

#[test]
fn the_docs_show_the_packaged_sample() {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scale-out.md"))
            .unwrap();
    for file in ["keepalived.conf", "check-modproxy"] {
        let packaged = std::fs::read_to_string(sample(file)).unwrap();
        for line in packaged.lines().map(str::trim) {
            if line.is_empty()
                || line.starts_with('#')
                || [
                    "global_defs {",
                    "enable_script_security",
                    "script_user root",
                    "}",
                ]
                .contains(&line)
            {
                continue;
            }
            assert!(
                docs.lines().any(|l| l.trim() == line),
                "docs/scale-out.md does not show {file}'s line {line:?}"
            );
        }
    }
}
