//! `modproxy status` against a real httpd's balancer manager, while members die and return.

use std::time::{Duration, Instant};

use crate::support::cluster::App;
use crate::support::{modproxy, stdout};

/// Runs `modproxy status` with the JSON format; returns its exit code and document.
fn status(url: &str) -> (i32, serde_json::Value) {
    let out = modproxy()
        .args(["status", "--manager", url, "--format", "json"])
        .output()
        .unwrap();
    let code = out.status.code().expect("an exit code");
    let doc = serde_json::from_str(&stdout(&out)).unwrap_or(serde_json::Value::Null);
    (code, doc)
}

/// The state `status` gives the member with `route`.
fn state_of(doc: &serde_json::Value, route: &str) -> String {
    doc["balancers"][0]["members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["route"] == route))
        .map(|m| m["state"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

/// Polls until `status` exits with `code`; returns how long it took.
fn until_code(url: &str, code: i32, limit: Duration) -> (Duration, serde_json::Value) {
    let start = Instant::now();
    loop {
        let (got, doc) = status(url);
        if got == code {
            return (start.elapsed(), doc);
        }
        assert!(
            start.elapsed() < limit,
            "status did not exit {code} within {limit:?}: {got} {doc}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn status_follows_members_dying_and_returning() {
    let json =
        r#"{"name":"app","contextRoot":"/app","healthCheck":{"uri":"/health","interval":1}}"#;
    let mut app = App::new(json, &["a", "b"], None);
    app.merge_with(&["App.conf"], &["--balancer-manager", "/bm"]);
    let httpd = app.start();
    let url = format!("http://{}/bm", httpd.addr());

    let (_, doc) = until_code(&url, 0, Duration::from_secs(5));
    assert_eq!(doc["balancers"][0]["name"], "balancer://app");
    assert_eq!(
        (state_of(&doc, "a"), state_of(&doc, "b")),
        ("ok".into(), "ok".into())
    );
    let table = modproxy()
        .args(["status", "--manager", &url])
        .output()
        .unwrap();
    assert_eq!(table.status.code(), Some(0));
    let text = stdout(&table);
    assert!(text.starts_with("balancer://app\n"), "{text}");
    assert!(text.contains("route") && text.contains(" ok "), "{text}");

    // One member dies: shown as down within one health interval (1 s, plus a probe).
    app.backend("b").kill();
    let (took, doc) = until_code(&url, 1, Duration::from_secs(5));
    eprintln!("status saw the dead member after {took:?}");
    assert!(took <= Duration::from_millis(2000), "took {took:?}");
    assert_eq!(state_of(&doc, "a"), "ok");
    assert_eq!(state_of(&doc, "b"), "health-check-failed");
    assert_eq!(doc["status"], "degraded");

    // Both die: no usable member.
    app.backend("a").kill();
    let (_, doc) = until_code(&url, 2, Duration::from_secs(5));
    assert_eq!(doc["status"], "down");

    // Both return: ok again.
    app.backend("a").restart();
    app.backend("b").restart();
    let (took, _) = until_code(&url, 0, Duration::from_secs(5));
    eprintln!("status saw both back after {took:?}");
    assert!(took <= Duration::from_millis(2000), "took {took:?}");
}

#[test]
fn status_exits_3_when_it_cannot_read_the_manager() {
    let out = modproxy()
        .args(["status", "--manager", "http://127.0.0.1:9/bm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot connect") && err.contains("127.0.0.1:9"),
        "{err}"
    );
    let out = modproxy()
        .args(["status", "--manager", "https://example.com/bm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
}
