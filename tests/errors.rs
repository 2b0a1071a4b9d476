//! Every documented error: exit status 1 (2 for usage), a message naming the file and the
//! field with what to do, no panic, and the old output file untouched.

use std::path::Path;

use crate::support::{Test, golden_path, modproxy, scratch, stderr, write};
use tempfile::TempDir;

/// Runs modproxy in `dir` with `-o out.conf` over an existing file, expects exit `code`,
/// checks that stderr holds every `needles` and that out.conf is untouched. Returns stderr.
fn fails(dir: &Path, args: &[&str], code: i32, needles: &[&str]) -> String {
    needles
        .iter()
        .fold(
            Test::at(dir).args(args).keeps_old_output().status(code),
            |t, n| t.stderr_has(n),
        )
        .run()
        .stderr
}

fn app_dir(json: &str) -> TempDir {
    let dir = scratch();
    write(dir.path(), "modproxy.json", json);
    dir
}

#[test]
fn generate_names_an_unknown_field() {
    Test::new()
        .file("modproxy.json", r#"{"name":"shop","prot":8080}"#)
        .arg("generate")
        .keeps_old_output()
        .status(1)
        .stderr_has("modproxy.json")
        .stderr_has("unknown field `prot`")
        .stderr_has("README")
        .run();
}

#[test]
fn generate_names_the_field_of_a_bad_value() {
    let cases: &[(&str, &[&str])] = &[
        (r#"{"route":"host.a"}"#, &["field \"route\"", "no dots"]),
        (
            r#"{"contextRoot":"shop"}"#,
            &["field \"contextRoot\"", "\"/shop\""],
        ),
        (r#"{"port":70000}"#, &["field \"port\"", "1 to 65535"]),
        (r#"{"port":"8080"}"#, &["field \"port\"", "expected i64"]),
        (r#"{"scheme":"ftp"}"#, &["field \"scheme\"", "http"]),
        (r#"{"loadFactor":0}"#, &["field \"loadFactor\"", "1 to 100"]),
        (
            r#"{"sessionAffinity":"sticky"}"#,
            &["field \"sessionAffinity\"", "app-cookie"],
        ),
        (
            r#"{"sessionCookie":"a;b","sessionAffinity":"app-cookie"}"#,
            &["field \"sessionCookie\""],
        ),
        (
            r#"{"healthCheck":{"uri":"health"}}"#,
            &["field \"healthCheck.uri\"", "/health"],
        ),
        (
            r#"{"healthCheck":{"uri":"/h","interval":0}}"#,
            &["healthCheck.interval", "1 to 3600"],
        ),
        (r#"{"host":"a b"}"#, &["field \"host\"", "DNS name"]),
        (r#"{"name":"my app"}"#, &["field \"name\"", "letters"]),
        (r#"{"standby":"yes"}"#, &["field \"standby\""]),
    ];
    for (json, needles) in cases {
        let d = app_dir(json);
        let mut all = vec!["modproxy.json"];
        all.extend_from_slice(needles);
        fails(d.path(), &["generate", "--host", "h1.example.com"], 1, &all);
    }
}

#[test]
fn generate_refuses_a_session_cookie_without_app_cookie_mode() {
    Test::new()
        .file("modproxy.json", r#"{"sessionCookie":"JSESSIONID"}"#)
        .args(["generate", "--host", "h1"])
        .keeps_old_output()
        .status(1)
        .stderr_has("sessionCookie")
        .stderr_has("app-cookie")
        .run();
}

#[test]
fn generate_refuses_empty_binary_and_non_object_configs() {
    for (bytes, needle) in [
        (&b""[..], "one JSON object"),
        (&b"\x00\xff\xfe garbage"[..], "not UTF-8"),
        (&b"[1,2]"[..], "one JSON object"),
        (&b"{} {}"[..], "one JSON object"),
    ] {
        let d = scratch();
        std::fs::write(d.path().join("modproxy.json"), bytes).unwrap();
        fails(
            d.path(),
            &["generate", "--host", "h1"],
            1,
            &["modproxy.json", needle],
        );
    }
}

#[test]
fn generate_refuses_values_that_would_inject_directives() {
    for json in [
        r#"{"name":"shop\nProxyPass / http://evil/"}"#,
        r#"{"contextRoot":"/shop\" \"http://evil/"}"#,
        r#"{"host":"evil\nLoadModule x y"}"#,
        r#"{"route":"a route=b"}"#,
        r#"{"sessionAffinity":"app-cookie","sessionCookie":"x|y"}"#,
        r#"{"healthCheck":{"uri":"/h hcmethod=POST"}}"#,
        r#"{"contextRoot":"/${HOME}"}"#,
    ] {
        let d = app_dir(json);
        fails(
            d.path(),
            &["generate", "--host", "h1"],
            1,
            &["modproxy.json", "not valid"],
        );
    }
}

#[test]
fn generate_reports_bad_zero_config_lines_with_line_numbers() {
    let d = scratch();
    write(
        d.path(),
        "config/zero.config",
        "# app\n/config/http/port = eighty\n",
    );
    fails(
        d.path(),
        &["generate", "--host", "h1"],
        1,
        &["zero.config:2", "/config/http/port", "not JSON"],
    );
    write(
        d.path(),
        "config/zero.config",
        "/config/contextRoot = \"no-slash\"\n",
    );
    fails(
        d.path(),
        &["generate", "--host", "h1"],
        1,
        &["zero.config:1", "context root"],
    );
    write(
        d.path(),
        "config/zero.config",
        "/config/apacheRouteID = \"a.b\"\n",
    );
    fails(
        d.path(),
        &["generate", "--host", "h1"],
        1,
        &["zero.config:1", "route", "no dots"],
    );
}

#[test]
fn generate_reports_a_missing_config_file() {
    let d = scratch();
    fails(
        d.path(),
        &["generate", "--config", "nope.json"],
        1,
        &["cannot read nope.json"],
    );
}

#[test]
fn generate_asks_for_a_name_when_the_folder_name_is_unusable() {
    let parent = scratch();
    let dir = parent.path().join("my app");
    std::fs::create_dir(&dir).unwrap();
    fails(
        &dir,
        &["generate", "--host", "h1"],
        1,
        &["\"my app\"", "--name"],
    );
}

#[test]
fn bad_flag_values_are_usage_errors() {
    let d = scratch();
    fails(
        d.path(),
        &["generate", "--route", "a.b"],
        2,
        &["--route", "no dots"],
    );
    fails(d.path(), &["generate", "--port", "x"], 2, &["--port"]);
    fails(
        d.path(),
        &["generate", "--context-root", "app"],
        2,
        &["--context-root"],
    );
    fails(d.path(), &["generate", "--bogus"], 2, &["--bogus"]);
    fails(
        d.path(),
        &["merge", "--lbmethod", "random", "x.conf"],
        2,
        &["random"],
    );
    fails(d.path(), &["merge", "-balancer"], 2, &["FILE"]);
}

#[test]
fn merge_refuses_duplicate_route_naming_both_files() {
    let d = scratch();
    let a = golden_path("gen-hostA");
    let copy = write(
        d.path(),
        "copyA.conf",
        &std::fs::read_to_string(&a).unwrap(),
    );
    let err = fails(
        d.path(),
        &["merge", "-balancer", &a, copy.to_str().unwrap()],
        1,
        &[
            "route \"hostA\" is already used by",
            "copyA.conf",
            "--route",
        ],
    );
    assert!(err.contains("gen-hostA"), "{err}");
}

#[test]
fn merge_refuses_the_same_backend_twice() {
    let d = scratch();
    let a = golden_path("gen-hostA");
    let text = std::fs::read_to_string(&a)
        .unwrap()
        .replace("\"route\":\"hostA\"", "\"route\":\"other\"");
    let other = write(d.path(), "other.conf", &text);
    fails(
        d.path(),
        &["merge", "-balancer", &a, other.to_str().unwrap()],
        1,
        &[
            "backend http://hostA.example.com:8081 is already a member",
            "gen-hostA",
            "other.conf",
        ],
    );
}

#[test]
fn merge_refuses_disagreeing_session_affinity() {
    let d = scratch();
    let a = golden_path("gen-hostA");
    let text = std::fs::read_to_string(golden_path("gen-hostB"))
        .unwrap()
        .replace(
            r#"{"mode":"app-cookie","cookie":"zsessionid"}"#,
            r#"{"mode":"app-cookie","cookie":"JSESSIONID"}"#,
        );
    let b = write(d.path(), "b.conf", &text);
    fails(
        d.path(),
        &["merge", "-balancer", &a, b.to_str().unwrap()],
        1,
        &[
            "session affinity app-cookie (JSESSIONID)",
            "app-cookie (zsessionid)",
            "b.conf",
            "gen-hostA",
        ],
    );
}

#[test]
fn merge_without_balancer_suggests_it_for_one_path_twice() {
    let d = scratch();
    fails(
        d.path(),
        &[
            "merge",
            &golden_path("gen-hostA"),
            &golden_path("gen-hostB"),
        ],
        1,
        &[
            "both serve app shop at /shop",
            "-balancer",
            "gen-hostA",
            "gen-hostB",
        ],
    );
}

#[test]
fn merge_refuses_two_apps_on_one_path() {
    let d = scratch();
    let text = std::fs::read_to_string(golden_path("gen-hostB"))
        .unwrap()
        .replace(r#""name":"shop""#, r#""name":"store""#);
    let b = write(d.path(), "store.conf", &text);
    fails(
        d.path(),
        &[
            "merge",
            "-balancer",
            &golden_path("gen-hostA"),
            b.to_str().unwrap(),
        ],
        1,
        &["app store and app shop", "both serve /shop", "store.conf"],
    );
}

#[test]
fn merge_refuses_one_app_at_two_paths_when_balancing() {
    let d = scratch();
    let text = std::fs::read_to_string(golden_path("gen-hostB"))
        .unwrap()
        .replace(r#""contextRoot":"/shop""#, r#""contextRoot":"/store""#);
    let b = write(d.path(), "b.conf", &text);
    fails(
        d.path(),
        &[
            "merge",
            "-balancer",
            &golden_path("gen-hostA"),
            b.to_str().unwrap(),
        ],
        1,
        &["app shop is at", "/store", "/shop", "--name"],
    );
}

#[test]
fn merge_refuses_files_that_are_not_fragments() {
    let d = scratch();
    let cases: &[(&[u8], &str)] = &[
        (b"", "is not a modproxy fragment"),
        (b"ProxyPass / http://x/\n", "is not a modproxy fragment"),
        (b"\x00\x01\xff\xfe", "not UTF-8"),
        (
            b"# modproxy-member v9 {}\n# modproxy-end 1\n",
            "format \"v9\"",
        ),
        (
            b"# modproxy-member v1 {\"name\":\"x\"}\n# modproxy-end 1\n",
            "member record field",
        ),
        (
            b"# modproxy-member v1 not json\n# modproxy-end 1\n",
            "member record field",
        ),
        (b"# modproxy-end many\n", "end marker is damaged"),
    ];
    for (bytes, needle) in cases {
        std::fs::write(d.path().join("in.conf"), bytes).unwrap();
        fails(
            d.path(),
            &["merge", "-balancer", "in.conf"],
            1,
            &["in.conf", needle],
        );
    }
}

#[test]
fn merge_refuses_a_member_record_that_would_inject() {
    let d = scratch();
    let text = std::fs::read_to_string(golden_path("gen-hostA"))
        .unwrap()
        .replace(
            r#""host":"hostA.example.com""#,
            r#""host":"x\nProxyPass / http://evil/""#,
        );
    write(d.path(), "evil.conf", &text);
    fails(
        d.path(),
        &["merge", "-balancer", "evil.conf"],
        1,
        &["evil.conf", "field \"host\"", "not valid"],
    );
}

#[test]
fn merge_detects_a_truncated_golden_path() {
    let d = scratch();
    let full = std::fs::read_to_string(golden_path("merge-balancer-app-cookie")).unwrap();
    let cut = &full[..full.rfind("# modproxy-member").unwrap()];
    write(d.path(), "cut.conf", cut);
    fails(
        d.path(),
        &["merge", "-balancer", "cut.conf"],
        1,
        &["cut.conf is incomplete", "regenerate"],
    );
    let cut = &full[..full.find("# modproxy-end").unwrap()];
    write(d.path(), "cut.conf", cut);
    fails(
        d.path(),
        &["merge", "-balancer", "cut.conf"],
        1,
        &["cut.conf is incomplete", "cut short"],
    );
}

#[test]
fn merge_reports_missing_and_folder_inputs() {
    let d = scratch();
    fails(
        d.path(),
        &["merge", "missing.conf"],
        1,
        &["cannot read missing.conf"],
    );
    std::fs::create_dir(d.path().join("sub")).unwrap();
    fails(d.path(), &["merge", "sub"], 1, &["sub is a folder"]);
}

#[test]
fn output_errors_leave_nothing_behind() {
    let d = scratch();
    let a = golden_path("gen-hostA");
    for (out, needle) in [("nowhere/App.conf", "does not exist"), (".", "is a folder")] {
        let res = modproxy()
            .current_dir(d.path())
            .args(["merge", "-balancer", &a, "-o", out])
            .output()
            .unwrap();
        assert_eq!(res.status.code(), Some(1));
        assert!(stderr(&res).contains(needle), "{}", stderr(&res));
    }
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
}

#[test]
fn a_bad_templates_folder_is_a_clear_error() {
    let d = scratch();
    fails(
        d.path(),
        &["merge", &golden_path("gen-hostA"), "--templates", "nope"],
        1,
        &["templates folder nope does not exist"],
    );
    write(d.path(), "tpl/app.hbs", "{{#if}}");
    fails(
        d.path(),
        &["merge", &golden_path("gen-hostA"), "--templates", "tpl"],
        1,
        &["app.hbs", "does not parse"],
    );
    write(d.path(), "tpl/app.hbs", "{{no_such_value}}");
    fails(
        d.path(),
        &["merge", &golden_path("gen-hostA"), "--templates", "tpl"],
        1,
        &["rendering the config failed"],
    );
}

#[test]
fn oversized_inputs_are_refused_without_reading_them_whole() {
    let d = scratch();
    // Sparse files: no disk is used for their size.
    let big = std::fs::File::create(d.path().join("huge.conf")).unwrap();
    big.set_len(65 * 1024 * 1024).unwrap();
    fails(
        d.path(),
        &["merge", "-balancer", "huge.conf"],
        1,
        &["huge.conf is larger than 64 MiB"],
    );
    let big = std::fs::File::create(d.path().join("modproxy.json")).unwrap();
    big.set_len(2 * 1024 * 1024).unwrap();
    fails(
        d.path(),
        &["generate", "--host", "h1"],
        1,
        &["modproxy.json is larger than 1 MiB"],
    );
}

#[test]
fn merged_files_that_keep_different_settings_must_be_settled() {
    let d = scratch();
    for (file, lbmethod, input) in [
        ("one.conf", "byrequests", "gen-hostA"),
        ("two.conf", "bytraffic", "gen-hostB"),
    ] {
        Test::at(d.path())
            .args(["merge", "-balancer", "--lbmethod", lbmethod, "-o", file])
            .arg(golden_path(input))
            .run();
    }
    fails(
        d.path(),
        &["merge", "-balancer", "one.conf", "two.conf"],
        1,
        &[
            "two.conf and one.conf keep different lbmethod settings",
            "pass --lbmethod",
            "--reset lbmethod",
        ],
    );
    // The flag settles it.
    Test::at(d.path())
        .args([
            "merge",
            "-balancer",
            "--lbmethod",
            "bybusyness",
            "one.conf",
            "two.conf",
        ])
        .stdout_has("lbmethod=bybusyness")
        .run();
}
