//! End to end on a real Apache httpd: generated files load and start, and the balancer
//! actually balances, sticks, fails over and takes new members, driven by real requests
//! to real backend processes on loopback.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::backend::Backend;
use crate::support::cluster::{App, counts, generate_for, routes_of, run, wait_for_route};
use crate::support::httpd::{self, get};
use crate::support::{fixture_cases, scratch, write};

#[test]
fn every_golden_fixture_passes_syntax_check_and_starts() {
    let cases = fixture_cases();
    assert!(!cases.is_empty());
    for case in cases {
        let httpd = httpd::start(&case.join("expected.conf"));
        let log = httpd.stop();
        assert!(
            !log.contains("[proxy:error]") && !log.contains("emerg"),
            "{}: {log}",
            case.display()
        );
    }
}

#[test]
fn stateless_requests_alternate_between_two_and_three_members() {
    let json = r#"{"name":"app","contextRoot":"/app"}"#;
    let mut app = App::new(json, &["a", "b"], None);
    let httpd = app.start();
    let routes = routes_of(&httpd, 10, "/app/page", None);
    assert_eq!(
        counts(&routes),
        BTreeMap::from([("a".into(), 5), ("b".into(), 5)])
    );
    assert!(
        routes.windows(2).all(|w| w[0] != w[1]),
        "not alternating: {routes:?}"
    );
    drop(httpd);

    let c = app.add_host("c", None);
    app.merge(&["App.conf", &c]);
    let httpd = app.start();
    let routes = routes_of(&httpd, 12, "/app/", None);
    assert_eq!(
        counts(&routes),
        BTreeMap::from([("a".into(), 4), ("b".into(), 4), ("c".into(), 4)])
    );
}

#[test]
fn only_the_context_root_and_paths_below_it_reach_the_app() {
    let app = App::new(r#"{"name":"app","contextRoot":"/app"}"#, &["a"], None);
    let httpd = app.start();
    for (path, backend_path) in [
        ("/app", "/app"),
        ("/app/", "/app/"),
        ("/app/x/y?q=1&r=2", "/app/x/y?q=1&r=2"),
        ("/app/a%20b", "/app/a%20b"),
    ] {
        let r = get(&httpd, path, None);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_eq!(r.route(), Some("a"), "{path}");
        assert_eq!(r.field("path"), Some(backend_path), "{path}");
    }
    for path in [
        "/application",
        "/",
        "/ap",
        "/app.x",
        "/other/app",
        "/appx/y",
    ] {
        let r = get(&httpd, path, None);
        assert_eq!(r.status, 404, "{path} reached something: {r:?}");
        assert!(r.route().is_none(), "{path} reached the app");
    }
}

#[test]
fn a_dot_in_the_context_root_is_a_literal_dot() {
    let app = App::new(r#"{"name":"api","contextRoot":"/v1.2"}"#, &["a"], None);
    let httpd = app.start();
    for path in ["/v1.2", "/v1.2/orders"] {
        assert_eq!(get(&httpd, path, None).route(), Some("a"), "{path}");
    }
    for path in ["/v1x2", "/v1x2/orders", "/v1.22"] {
        assert_eq!(get(&httpd, path, None).status, 404, "{path}");
    }
}

#[test]
fn app_cookie_keeps_a_client_on_the_route_in_its_session_id() {
    let json = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"app-cookie"}"#;
    let app = App::new(json, &["a", "b"], Some("zsessionid"));
    let httpd = app.start();
    let first = get(&httpd, "/app/login", None);
    let cookie = first
        .set_cookies()
        .first()
        .map(|c| c.split(';').next().unwrap().to_owned());
    let cookie = cookie.expect("the app set its session cookie");
    let route = first.route().unwrap().to_owned();
    assert!(cookie.ends_with(&format!(".{route}")), "{cookie}");
    assert_eq!(
        routes_of(&httpd, 10, "/app/cart", Some(&cookie)),
        vec![route.clone(); 10]
    );
    // A client whose cookie names b always reaches b, whatever the balancer would pick.
    let routes = routes_of(&httpd, 10, "/app/cart", Some("other=1; zsessionid=77.b"));
    assert_eq!(routes, vec!["b".to_owned(); 10]);
}

#[test]
fn proxy_cookie_sets_routeid_once_and_then_sticks() {
    let json = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"proxy-cookie"}"#;
    let app = App::new(json, &["a", "b"], None);
    let httpd = app.start();
    let first = get(&httpd, "/app/", None);
    let route = first.route().unwrap().to_owned();
    assert_eq!(
        first.set_cookies(),
        vec![format!("ROUTEID=.{route}; path=/app")]
    );
    let cookie = format!("ROUTEID=.{route}");
    for _ in 0..10 {
        let r = get(&httpd, "/app/next", Some(&cookie));
        assert_eq!(r.route(), Some(route.as_str()));
        assert!(r.set_cookies().is_empty(), "cookie set again: {r:?}");
    }
}

#[test]
fn failover_keeps_every_request_served_and_a_restarted_member_returns() {
    let json = r#"{"name":"app","contextRoot":"/app","sessionAffinity":"app-cookie",
                   "healthCheck":{"uri":"/health","interval":1}}"#;
    let mut app = App::new(json, &["a", "b"], Some("zsessionid"));
    let httpd = app.start();
    let sticky = "zsessionid=9.b";
    assert_eq!(routes_of(&httpd, 3, "/app/", Some(sticky)), vec!["b"; 3]);

    app.backend("b").kill();
    // Every request after the kill succeeds on a, the client stuck to b included.
    assert_eq!(routes_of(&httpd, 20, "/app/", Some(sticky)), vec!["a"; 20]);
    assert_eq!(routes_of(&httpd, 20, "/app/", None), vec!["a"; 20]);

    app.backend("b").restart();
    let back = wait_for_route(&httpd, "/app/", "b", Duration::from_secs(15));
    // The health check (every 1 s) clears the member; allow for one missed probe.
    eprintln!("restarted member b got traffic again after {back:?}");
    assert!(
        back <= Duration::from_secs(3),
        "b took {back:?} to get traffic again"
    );
    assert_eq!(routes_of(&httpd, 5, "/app/", Some(sticky)), vec!["b"; 5]);
}

#[test]
fn hot_standby_gets_traffic_only_when_every_other_member_is_down() {
    let dir = scratch();
    write(
        dir.path(),
        "modproxy.json",
        r#"{"name":"app","contextRoot":"/app"}"#,
    );
    write(
        dir.path(),
        "standby.json",
        r#"{"name":"app","contextRoot":"/app","standby":true}"#,
    );
    let mut a = Backend::start("a", None);
    let mut b = Backend::start("b", None);
    let s = Backend::start("s", None);
    for (be, config) in [
        (&a, "modproxy.json"),
        (&b, "modproxy.json"),
        (&s, "standby.json"),
    ] {
        generate_for(dir.path(), config, be);
    }
    run(
        dir.path(),
        &[
            "merge",
            "-balancer",
            "-o",
            "App.conf",
            "a.conf",
            "b.conf",
            "s.conf",
        ],
    );
    let httpd = httpd::start(&dir.path().join("App.conf"));
    let routes = routes_of(&httpd, 10, "/app/", None);
    assert_eq!(
        counts(&routes),
        BTreeMap::from([("a".into(), 5), ("b".into(), 5)])
    );
    a.kill();
    assert_eq!(routes_of(&httpd, 6, "/app/", None), vec!["b"; 6]);
    b.kill();
    assert_eq!(routes_of(&httpd, 6, "/app/", None), vec!["s"; 6]);
}

#[test]
fn nested_apps_each_get_their_own_paths() {
    let dir = scratch();
    let shop = Backend::start("shop1", None);
    let api = Backend::start("api1", None);
    write(
        dir.path(),
        "shop.json",
        r#"{"name":"shop","contextRoot":"/shop"}"#,
    );
    write(
        dir.path(),
        "api.json",
        r#"{"name":"api","contextRoot":"/shop/api"}"#,
    );
    for (be, config) in [(&shop, "shop.json"), (&api, "api.json")] {
        generate_for(dir.path(), config, be);
    }
    // The general app first on the command line: merge must still put /shop/api first.
    for balancer in [true, false] {
        let mut args = vec!["merge", "-o", "Apps.conf", "shop1.conf", "api1.conf"];
        if balancer {
            args.push("-balancer");
        }
        run(dir.path(), &args);
        let httpd = httpd::start(&dir.path().join("Apps.conf"));
        for (path, route) in [
            ("/shop/api", "api1"),
            ("/shop/api/orders/1", "api1"),
            ("/shop", "shop1"),
            ("/shop/cart", "shop1"),
            ("/shop/apix", "shop1"),
            ("/shop/ap", "shop1"),
        ] {
            let r = get(&httpd, path, None);
            assert_eq!(
                r.route(),
                Some(route),
                "{path} (balancer {balancer}): {r:?}"
            );
        }
        assert_eq!(get(&httpd, "/shopping", None).status, 404);
    }
}

#[test]
fn a_third_host_merged_into_the_live_file_gets_traffic_after_graceful() {
    let mut app = App::new(r#"{"name":"app","contextRoot":"/app"}"#, &["a", "b"], None);
    let httpd = app.start();
    let routes = routes_of(&httpd, 4, "/app/", None);
    assert!(!routes.contains(&"c".to_owned()));

    let c = app.add_host("c", None);
    app.merge(&["App.conf", &c]);
    httpd.graceful().unwrap();
    wait_for_route(&httpd, "/app/", "c", Duration::from_secs(15));
    let routes = routes_of(&httpd, 9, "/app/", None);
    assert_eq!(counts(&routes).len(), 3, "{routes:?}");
}

#[test]
fn proxy_cookie_apps_in_one_file_set_only_their_own_cookie() {
    let dir = scratch();
    let backends = [Backend::start("s1", None), Backend::start("b1", None)];
    write(
        dir.path(),
        "shop.json",
        r#"{"name":"shop","contextRoot":"/shop","sessionAffinity":"proxy-cookie"}"#,
    );
    write(
        dir.path(),
        "blog.json",
        r#"{"name":"blog","contextRoot":"/blog","sessionAffinity":"proxy-cookie"}"#,
    );
    generate_for(dir.path(), "shop.json", &backends[0]);
    generate_for(dir.path(), "blog.json", &backends[1]);
    run(
        dir.path(),
        &[
            "merge",
            "-balancer",
            "-o",
            "Apps.conf",
            "s1.conf",
            "b1.conf",
        ],
    );
    let httpd = httpd::start(&dir.path().join("Apps.conf"));
    let shop = get(&httpd, "/shop/", None);
    assert_eq!(shop.set_cookies(), vec!["ROUTEID=.s1; path=/shop"]);
    let blog = get(&httpd, "/blog/", None);
    assert_eq!(blog.set_cookies(), vec!["ROUTEID=.b1; path=/blog"]);
}
