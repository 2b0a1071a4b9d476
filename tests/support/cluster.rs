//! A load-balanced app for the end-to-end tests: backend processes, their fragments made
//! by `modproxy generate`, the merged App.conf, and helpers to drive requests through httpd.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::backend::Backend;
use super::fault::FaultRelay;
use super::httpd::{self, Running, get};
use super::{Test, scratch, write};

/// An app with one backend process per route, their fragments, and the merged App.conf.
pub struct App {
    pub dir: TempDir,
    pub backends: Vec<Backend>,
    pub conf: PathBuf,
}

impl App {
    /// Writes `json` as the app's modproxy.json, starts a backend per route, generates a
    /// fragment for each as its host would, and merges them with -balancer.
    pub fn new(json: &str, routes: &[&str], cookie: Option<&str>) -> Self {
        let mut app = Self::empty(json);
        let fragments: Vec<String> = routes.iter().map(|r| app.add_host(r, cookie)).collect();
        app.merge(&fragments.iter().map(String::as_str).collect::<Vec<_>>());
        app
    }

    /// A scratch folder with the app's modproxy.json, no members yet.
    fn empty(json: &str) -> Self {
        let dir = scratch();
        write(dir.path(), "modproxy.json", json);
        App {
            conf: dir.path().join("App.conf"),
            dir,
            backends: Vec::new(),
        }
    }

    /// Starts a backend and generates its fragment; returns the fragment's file name.
    pub fn add_host(&mut self, route: &str, cookie: Option<&str>) -> String {
        let backend = Backend::start(route, cookie);
        let file = generate_for(self.dir.path(), "modproxy.json", &backend);
        self.backends.push(backend);
        file
    }

    /// Like `new`, but the member `relayed` is reached through a fault relay (returned),
    /// so that a test can make it hang, vanish, reset, slow down or turn sick.
    pub fn with_relay(json: &str, direct: &[&str], relayed: &str) -> (Self, FaultRelay) {
        let mut app = Self::empty(json);
        let mut fragments: Vec<String> = direct.iter().map(|r| app.add_host(r, None)).collect();
        let backend = Backend::start(relayed, None);
        let relay = FaultRelay::start(backend.port);
        fragments.push(generate_at(
            app.dir.path(),
            "modproxy.json",
            relayed,
            relay.port,
        ));
        app.backends.push(backend);
        app.merge(&fragments.iter().map(String::as_str).collect::<Vec<_>>());
        (app, relay)
    }

    pub fn merge(&self, inputs: &[&str]) {
        self.merge_with(inputs, &[]);
    }

    /// Merges `inputs` into App.conf with -balancer and `flags`.
    pub fn merge_with(&self, inputs: &[&str], flags: &[&str]) {
        let mut args = vec!["merge", "-balancer", "-o", "App.conf"];
        args.extend_from_slice(inputs);
        args.extend_from_slice(flags);
        run(self.dir.path(), &args);
    }

    pub fn backend(&mut self, route: &str) -> &mut Backend {
        self.backends
            .iter_mut()
            .find(|b| b.route == route)
            .expect("backend by route")
    }

    pub fn start(&self) -> Running {
        httpd::start(&self.conf)
    }
}

/// Runs `modproxy generate -c config` in `dir` for `backend`, as its host would; returns
/// the fragment's file name (`ROUTE.conf`).
pub fn generate_for(dir: &Path, config: &str, backend: &Backend) -> String {
    generate_at(dir, config, &backend.route, backend.port)
}

/// `generate_for`, for a member reached at `port` (a relay in front of the backend).
pub fn generate_at(dir: &Path, config: &str, route: &str, port: u16) -> String {
    generate_with(dir, config, route, port, &[])
}

/// `generate_at` with more flags (`--publish URL`).
pub fn generate_with(dir: &Path, config: &str, route: &str, port: u16, extra: &[&str]) -> String {
    let file = format!("{route}.conf");
    let port = port.to_string();
    let mut args = vec![
        "generate",
        "-c",
        config,
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--route",
        route,
        "-o",
        &file,
    ];
    args.extend_from_slice(extra);
    run(dir, &args);
    file
}

/// Runs modproxy in `dir`, which must succeed.
pub fn run(dir: &Path, args: &[&str]) {
    Test::at(dir).args(args).run();
}

/// Sends `n` requests and counts which route answered each; every one must be a 200.
pub fn routes_of(httpd: &Running, n: usize, path: &str, cookie: Option<&str>) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = get(httpd, path, cookie);
            assert_eq!(
                r.status,
                200,
                "request {i} to {path}: {r:?}\n{}",
                httpd.wrapper.error_log()
            );
            r.route().expect("answered by a backend").to_owned()
        })
        .collect()
}

pub fn counts(routes: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in routes {
        *m.entry(r.clone()).or_default() += 1;
    }
    m
}

/// Polls until a request without cookie reaches `route`; returns how long it took.
pub fn wait_for_route(httpd: &Running, path: &str, route: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while start.elapsed() < limit {
        let r = get(httpd, path, None);
        assert_eq!(r.status, 200, "{r:?}");
        if r.route() == Some(route) {
            return start.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{route} got no traffic within {limit:?}\n{}",
        httpd.wrapper.error_log()
    );
}
