//! The production options on a real httpd: draining and disabling members, failure
//! handling (timeout, failontimeout, failonstatus), WebSocket, the balancer manager, and
//! forwarded headers, each shown with real requests.

use crate::support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::certs;
use crate::support::cluster::{App, counts, generate_at, routes_of};
use crate::support::httpd::{Running, get, request};

const APP: &str = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"app-cookie"}"#;

fn text(app: &App) -> String {
    std::fs::read_to_string(&app.conf).unwrap()
}

#[test]
fn a_drained_member_keeps_its_sessions_and_gets_no_new_ones() {
    let app = App::new(APP, &["a", "b"], Some("zsessionid"));
    app.merge_with(&["App.conf"], &["--drain", "b"]);
    assert!(text(&app).contains("route=b loadfactor=1 status=+N"));
    let httpd = app.start();
    // New clients (no cookie) only reach a; b's existing session still reaches b.
    assert_eq!(routes_of(&httpd, 10, "/app/", None), vec!["a"; 10]);
    assert_eq!(
        routes_of(&httpd, 5, "/app/", Some("zsessionid=3.b")),
        vec!["b"; 5]
    );
    drop(httpd);

    // Merging again, as when adding a host, keeps the drain until --enable.
    app.merge(&["App.conf"]);
    assert!(
        text(&app).contains("status=+N"),
        "the drain was lost on re-merge"
    );
    app.merge_with(&["App.conf"], &["--enable", "b"]);
    assert!(!text(&app).contains("status=+"));
    let httpd = app.start();
    assert_eq!(counts(&routes_of(&httpd, 10, "/app/", None)).len(), 2);
}

#[test]
fn a_disabled_member_gets_nothing_even_for_its_own_sessions() {
    let app = App::new(APP, &["a", "b"], Some("zsessionid"));
    app.merge_with(&["App.conf"], &["--disable", "b"]);
    let httpd = app.start();
    assert_eq!(routes_of(&httpd, 10, "/app/", None), vec!["a"; 10]);
    assert_eq!(
        routes_of(&httpd, 5, "/app/", Some("zsessionid=3.b")),
        vec!["a"; 5]
    );
}

/// A request to b's 3-second /slow path fails after the 1 s timeout (httpd answers 502
/// "Error reading from remote server", or 504).
fn slow_request_times_out(httpd: &Running) {
    let started = Instant::now();
    let r = get(httpd, "/app/slow", Some("zsessionid=1.b"));
    let took = started.elapsed();
    assert!(matches!(r.status, 502 | 504), "{r:?}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2500),
        "took {took:?}"
    );
}

#[test]
fn failontimeout_takes_a_hung_member_out() {
    let app = App::new(APP, &["a", "b"], Some("zsessionid"));
    app.merge_with(
        &["App.conf"],
        &["--timeout", "1", "--failontimeout", "on", "--retry", "30"],
    );
    let httpd = app.start();
    // b hangs for 3 s on /slow; httpd gives up after 1 s and puts b in error.
    slow_request_times_out(&httpd);
    assert_eq!(routes_of(&httpd, 10, "/app/", None), vec!["a"; 10]);
    assert_eq!(
        routes_of(&httpd, 3, "/app/", Some("zsessionid=1.b")),
        vec!["a"; 3]
    );
}

#[test]
fn without_failontimeout_a_slow_answer_keeps_the_member() {
    let app = App::new(APP, &["a", "b"], Some("zsessionid"));
    // failontimeout is on by default, and httpd may answer the timeout with 502, which
    // the default failonstatus counts: turn both off.
    app.merge_with(
        &["App.conf"],
        &[
            "--timeout",
            "1",
            "--retry",
            "30",
            "--failontimeout",
            "off",
            "--failonstatus",
            "none",
        ],
    );
    let httpd = app.start();
    slow_request_times_out(&httpd);
    let routes = routes_of(&httpd, 10, "/app/", None);
    assert_eq!(counts(&routes).len(), 2, "{routes:?}");
}

#[test]
fn failonstatus_takes_a_member_answering_503_out() {
    let json = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"app-cookie",
                   "failOnStatus":[503],"retry":30}"#;
    let app = App::new(json, &["a", "b"], Some("zsessionid"));
    assert!(text(&app).contains("failonstatus=503"));
    let httpd = app.start();
    let r = get(&httpd, "/app/status/503", Some("zsessionid=1.b"));
    assert_eq!(r.status, 503);
    assert_eq!(routes_of(&httpd, 10, "/app/", None), vec!["a"; 10]);
}

/// Sends a WebSocket upgrade through httpd and, once switched, some bytes to be echoed.
fn websocket_echo(httpd: &Running) -> (String, Option<String>) {
    let mut s = TcpStream::connect(httpd.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /app/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    if !status.contains(" 101 ") {
        return (status, None);
    }
    s.write_all(b"ping through the tunnel").unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap();
    (
        status,
        Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
    )
}

#[test]
fn websocket_upgrades_pass_only_with_websocket_true() {
    let json = r#"{"name":"app","contextRoot":"/app","websocket":true}"#;
    let app = App::new(json, &["a"], None);
    assert!(text(&app).contains("upgrade=websocket"));
    assert!(text(&app).contains("2.4.47 or later"));
    let httpd = app.start();
    let (status, echo) = websocket_echo(&httpd);
    assert!(status.contains(" 101 "), "{status}");
    assert_eq!(echo.as_deref(), Some("ping through the tunnel"));
    drop(httpd);

    let plain = App::new(r#"{"name":"app","contextRoot":"/app"}"#, &["a"], None);
    let httpd = plain.start();
    let (status, echo) = websocket_echo(&httpd);
    assert!(
        !status.contains(" 101 "),
        "upgraded without websocket: {status}"
    );
    assert!(echo.is_none());
}

#[test]
fn balancer_manager_is_served_locally_and_never_proxied() {
    let app = App::new(r#"{"name":"app","contextRoot":"/"}"#, &["a", "b"], None);
    app.merge_with(&["App.conf"], &["--balancer-manager", "/balancer-manager"]);
    let conf = text(&app);
    assert!(!conf.contains("nonce=None"));
    let httpd = app.start();
    let r = get(&httpd, "/balancer-manager", None);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("Load Balancer Manager") && r.body.contains("balancer://app"));
    assert!(r.route().is_none(), "the manager path reached the app");
    // Everything else still goes to the app at /.
    assert_eq!(get(&httpd, "/other", None).status, 200);
    assert!(get(&httpd, "/other", None).route().is_some());
    drop(httpd);

    app.merge_with(
        &["App.conf"],
        &[
            "--balancer-manager",
            "/balancer-manager",
            "--manager-allow",
            "192.0.2.0/24",
        ],
    );
    let httpd = app.start();
    let r = get(&httpd, "/balancer-manager", None);
    assert_eq!(
        r.status, 403,
        "loopback is not in the allowed network: {r:?}"
    );
}

#[test]
fn forwarded_headers_are_added_by_default_and_host_is_preserved_on_request() {
    let app = App::new(r#"{"name":"app","contextRoot":"/app"}"#, &["a"], None);
    let httpd = app.start();
    let r = request(
        &httpd,
        "/app/",
        &[("Host", "shop.example.com"), ("X-Forwarded-Proto", "https")],
    );
    assert_eq!(r.field("xff"), Some("127.0.0.1"));
    // A client cannot claim HTTPS: httpd sets X-Forwarded-Proto from the real scheme.
    assert_eq!(r.field("xfp"), Some("http"));
    assert_ne!(r.field("host"), Some("shop.example.com"));
    drop(httpd);

    app.merge_with(
        &["App.conf"],
        &["--preserve-host", "--no-forwarded-headers"],
    );
    let httpd = app.start();
    let r = request(&httpd, "/app/", &[("Host", "shop.example.com")]);
    assert_eq!(r.field("host"), Some("shop.example.com"));
    assert_eq!(r.field("xff"), Some("-"));
    assert_eq!(r.field("xfp"), Some("-"));
}

#[test]
fn adding_a_host_keeps_every_setting_of_the_file() {
    let json = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"app-cookie"}"#;
    let mut app = App::new(json, &["a", "b"], Some("zsessionid"));
    app.merge_with(
        &["App.conf"],
        &[
            "--lbmethod",
            "byrequests",
            "--balancer-manager",
            "/bm",
            "--preserve-host",
            "--timeout",
            "1",
        ],
    );
    // The README's "add a third host": no flags at all.
    let c = app.add_host("c", Some("zsessionid"));
    app.merge(&["App.conf", &c]);
    let conf = text(&app);
    assert!(conf.contains("lbmethod=byrequests"), "{conf}");
    let httpd = app.start();
    assert_eq!(get(&httpd, "/bm", None).status, 200, "the manager is kept");
    let r = request(&httpd, "/app/", &[("Host", "shop.example.com")]);
    assert_eq!(
        r.field("host"),
        Some("shop.example.com"),
        "preserve-host is kept"
    );
    // The kept timeout applies to the new member too: c's 3 s /slow fails after 1 s.
    let started = Instant::now();
    let r = get(&httpd, "/app/slow", Some("zsessionid=1.c"));
    assert!(matches!(r.status, 502 | 504), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

/// `openssl s_server -www` on a free loopback port with a certificate for `name`, signed
/// by a test CA made for it (`ca.pem` in `dir`): a real TLS member. Killed when dropped.
struct TlsServer {
    child: std::process::Child,
    port: u16,
}

impl TlsServer {
    fn start(dir: &std::path::Path, name: &str) -> Self {
        certs::ca(dir, "ca");
        certs::issue(dir, "ca", name, "cert");
        let port = modproxy::httpd::free_port().unwrap();
        let child = std::process::Command::new("openssl")
            .current_dir(dir)
            .args([
                "s_server",
                "-quiet",
                "-www",
                "-accept",
                &format!("127.0.0.1:{port}"),
                "-cert",
                "cert.pem",
                "-key",
                "cert.key",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start openssl s_server");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "openssl s_server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An app whose member `tls` is the TLS server (and, with `plain`, a second member `b`
/// over plain HTTP), generated with `extra` app-config fields; httpd started with it.
fn tls_app(
    d: &std::path::Path,
    tls: &TlsServer,
    extra: &str,
    plain: bool,
) -> (Running, Option<crate::support::backend::Backend>) {
    let config = |scheme: &str| {
        format!(r#"{{"name":"secure","contextRoot":"/secure","scheme":"{scheme}"{extra}}}"#)
    };
    support::write(d, "tls.json", &config("https"));
    let mut inputs = vec![generate_at(d, "tls.json", "tls", tls.port)];
    let backend = plain.then(|| {
        let b = crate::support::backend::Backend::start("b", None);
        support::write(d, "plain.json", &config("http"));
        inputs.push(generate_at(d, "plain.json", "b", b.port));
        b
    });
    let mut args = vec!["merge", "-balancer", "-o", "App.conf"];
    args.extend(inputs.iter().map(String::as_str));
    support::cluster::run(d, &args);
    (support::httpd::start(&d.join("App.conf")), backend)
}

/// The answer comes from the TLS server: its status page names the TLS session.
fn from_tls_server(r: &crate::support::httpd::Response) -> bool {
    r.status == 200 && r.body.contains("s_server") && r.body.contains("Ciphers")
}

#[test]
fn https_members_are_verified_against_the_given_ca() {
    let d = support::scratch();
    let tls = TlsServer::start(d.path(), "127.0.0.1");
    let ca = d.path().join("ca.pem");
    let extra = format!(r#","tlsCaFile":"{}""#, ca.display());
    let (httpd, _) = tls_app(d.path(), &tls, &extra, false);
    let conf = std::fs::read_to_string(d.path().join("App.conf")).unwrap();
    assert!(conf.contains("SSLProxyVerify require") && conf.contains("SSLProxyCheckPeerName on"));
    let r = get(&httpd, "/secure/page", None);
    assert!(from_tls_server(&r), "{r:?}\n{}", httpd.wrapper.error_log());
}

#[test]
fn an_https_member_httpd_cannot_verify_gets_nothing_and_the_app_fails_over() {
    let d = support::scratch();
    let tls = TlsServer::start(d.path(), "127.0.0.1");
    // The system CA bundle does not know the test CA.
    let (httpd, _b) = tls_app(d.path(), &tls, "", true);
    // httpd answers a failed handshake with 500 and takes the member out (it cannot
    // resend the request): one request fails, every other one is answered by b.
    let answers: Vec<_> = (0..8).map(|_| get(&httpd, "/secure/page", None)).collect();
    let failed = answers.iter().filter(|r| r.status != 200).count();
    assert!(failed <= 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|r| r.status == 200)
            .all(|r| r.route() == Some("b")),
        "{answers:?}"
    );
    assert!(
        httpd.wrapper.error_log().contains("SSL"),
        "the refusal is logged"
    );
}

#[test]
fn an_https_member_whose_certificate_names_another_host_is_refused() {
    let d = support::scratch();
    let tls = TlsServer::start(d.path(), "other.example");
    let ca = d.path().join("ca.pem");
    let extra = format!(r#","tlsCaFile":"{}""#, ca.display());
    let (httpd, _) = tls_app(d.path(), &tls, &extra, false);
    let r = get(&httpd, "/secure/page", None);
    assert!(!from_tls_server(&r) && r.status >= 500, "{r:?}");
}

#[test]
fn tls_verify_false_is_the_explicit_way_to_trust_any_certificate() {
    let d = support::scratch();
    let tls = TlsServer::start(d.path(), "other.example");
    let (httpd, _) = tls_app(d.path(), &tls, r#","tlsVerify":false"#, false);
    let conf = std::fs::read_to_string(d.path().join("App.conf")).unwrap();
    assert!(conf.contains("SSLProxyVerify none") && conf.contains("anyone"));
    let r = get(&httpd, "/secure/page", None);
    assert!(from_tls_server(&r), "{r:?}");
}
