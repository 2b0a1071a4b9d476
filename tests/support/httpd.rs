//! A real Apache httpd for the tests (via `modproxy::httpd`, the code behind
//! `modproxy check`), and a minimal HTTP client to talk to it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

pub use modproxy::httpd::Running;
use modproxy::httpd::{Installation, Wrapper};

/// The installed httpd; a test that needs it fails loudly when it is missing.
pub fn installation() -> Installation {
    Installation::find().unwrap_or_else(|e| {
        panic!("these tests need a real Apache httpd and none was found: {e:#}\nrun the README's test command (scripts/test), which installs it")
    })
}

/// Syntax-checks `conf` (Included from a minimal wrapper) and starts httpd with it.
pub fn start(conf: &Path) -> Running {
    let install = installation();
    let wrapper = Wrapper::new(&install, conf).unwrap_or_else(|e| panic!("{e:#}"));
    wrapper
        .syntax_check()
        .unwrap_or_else(|e| panic!("{}: httpd -t failed: {e:#}", conf.display()));
    wrapper
        .start()
        .unwrap_or_else(|e| panic!("{}: httpd failed to start: {e:#}", conf.display()))
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A `key=value` field of a test backend's answer (`route`, `path`, `host`, `xff`, `xfp`).
    pub fn field(&self, key: &str) -> Option<&str> {
        self.body
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }

    /// The backend that answered (its route).
    pub fn route(&self) -> Option<&str> {
        self.field("route")
    }
}

/// One GET over a fresh connection, closed after the answer, with an optional cookie.
pub fn get(httpd: &Running, path: &str, cookie: Option<&str>) -> Response {
    match cookie {
        Some(c) => request(httpd, path, &[("Cookie", c)]),
        None => request(httpd, path, &[]),
    }
}

/// One GET with extra headers (a `Host` given here replaces the default one).
pub fn request(httpd: &Running, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(httpd.addr()).expect("connect to httpd");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        head.push_str("Host: 127.0.0.1\r\n");
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("send request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad response to {path}: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}
