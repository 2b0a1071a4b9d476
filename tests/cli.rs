//! The command line as a user sees it: sMash spellings, stdout, idempotence, host detection,
//! template overrides, help.

use crate::support::{
    Test, fixtures, generate_in, golden, golden_path, modproxy, modproxy_bin, scratch, stderr,
    stdout, write,
};

#[test]
fn generate_accepts_every_spelling_of_the_output_flag() {
    let d = scratch();
    write(
        d.path(),
        "modproxy.json",
        &std::fs::read_to_string(fixtures().join("gen-hostA/modproxy.json")).unwrap(),
    );
    let expected = golden("gen-hostA");
    for args in [
        vec!["-o=hostA.conf"],
        vec!["-o", "hostA.conf"],
        vec!["--output", "hostA.conf"],
        vec!["--output=hostA.conf"],
    ] {
        let _ = std::fs::remove_file(d.path().join("hostA.conf"));
        let out = modproxy()
            .current_dir(d.path())
            .arg("generate")
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?} also wrote to stdout");
        let written = std::fs::read_to_string(d.path().join("hostA.conf")).unwrap();
        assert_eq!(written, expected, "{args:?}");
        assert!(
            stderr(&out).contains("wrote hostA.conf: app shop at /shop"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn merge_accepts_every_spelling_of_the_balancer_flag() {
    let d = scratch();
    let expected = golden("merge-balancer-app-cookie");
    for flag in ["-balancer", "--balancer", "-b"] {
        let out = modproxy()
            .current_dir(d.path())
            .args([
                "merge",
                flag,
                "-o=App.conf",
                &golden_path("gen-hostA"),
                &golden_path("gen-hostB"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{flag}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(d.path().join("App.conf")).unwrap(),
            expected,
            "{flag}"
        );
        assert!(
            stderr(&out).contains("1 balancer(s), 2 member(s)"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn dash_output_and_no_output_both_write_to_stdout() {
    let a = golden_path("gen-hostA");
    let b = golden_path("gen-hostB");
    let with_dash = modproxy()
        .args(["merge", "-balancer", "-o", "-", &a, &b])
        .output()
        .unwrap();
    let without = modproxy()
        .args(["merge", "-balancer", &a, &b])
        .output()
        .unwrap();
    assert_eq!(stdout(&with_dash), golden("merge-balancer-app-cookie"));
    assert_eq!(with_dash.stdout, without.stdout);
    assert!(stderr(&with_dash).contains("wrote standard output"));
    assert!(
        !stdout(&with_dash).contains("wrote"),
        "summary leaked into the config"
    );
}

#[test]
fn merging_a_merged_file_again_changes_nothing() {
    let d = scratch();
    let app = write(d.path(), "App.conf", &golden("merge-balancer-app-cookie"));
    let out = modproxy()
        .current_dir(d.path())
        .args(["merge", "-balancer", "-o", "App.conf", "App.conf"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(app).unwrap(),
        golden("merge-balancer-app-cookie")
    );
}

#[test]
fn a_third_host_is_added_by_merging_into_the_merged_file() {
    let d = scratch();
    let app = write(d.path(), "App.conf", &golden("merge-balancer-app-cookie"));
    let out = modproxy()
        .current_dir(d.path())
        .args([
            "merge",
            "-balancer",
            "-o",
            "App.conf",
            "App.conf",
            &golden_path("gen-hostC"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(app).unwrap(),
        golden("merge-third-host")
    );
}

#[test]
fn input_order_does_not_change_the_output() {
    let files = [
        "gen-hostA",
        "gen-hostB",
        "gen-hostC",
        "gen-proxy-cookie-a",
        "gen-defaults",
    ]
    .map(golden_path);
    let forward = modproxy()
        .arg("merge")
        .arg("-balancer")
        .args(&files)
        .output()
        .unwrap();
    let mut reversed = files.to_vec();
    reversed.reverse();
    let backward = modproxy()
        .arg("merge")
        .arg("-balancer")
        .args(&reversed)
        .output()
        .unwrap();
    assert!(forward.status.success(), "{}", stderr(&forward));
    assert_eq!(forward.stdout, backward.stdout);
}

#[test]
fn generate_without_host_never_points_at_loopback() {
    let d = scratch();
    let out = modproxy()
        .current_dir(d.path())
        .arg("generate")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let url_line = text.lines().find(|l| l.starts_with("ProxyPass ")).unwrap();
    assert!(
        !url_line.contains("127.")
            && !url_line.contains("localhost")
            && !url_line.contains("[::1]"),
        "{url_line}"
    );
    // On a machine whose name resolves only to loopback the fallback must be announced.
    let host = hostname_resolves_to_loopback();
    assert_eq!(
        stderr(&out).contains("using its address"),
        host,
        "{}",
        stderr(&out)
    );
}

fn hostname_resolves_to_loopback() -> bool {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    (name.trim(), 0)
        .to_socket_addrs()
        .map(|a| a.into_iter().all(|a| a.ip().is_loopback()))
        .unwrap_or(true)
}

#[test]
fn generate_uses_an_explicit_loopback_host_when_asked() {
    let d = scratch();
    let text = generate_in(d.path(), &["--host", "127.0.0.1", "--route", "local"]);
    assert!(
        text.contains("ProxyPass \"/\" \"http://127.0.0.1:8080/\""),
        "{text}"
    );
}

#[test]
fn generate_defaults_name_the_app_after_its_folder() {
    let d = scratch();
    let folder = d.path().file_name().unwrap().to_string_lossy().into_owned();
    let text = generate_in(d.path(), &["--host", "app1.example.com"]);
    assert!(text.contains(&format!("\"name\":\"{folder}\"")), "{text}");
    assert!(
        text.contains("\"port\":8080") && text.contains("\"contextRoot\":\"/\""),
        "{text}"
    );
    assert!(text.contains("\"route\":\"app1\""), "{text}");
}

#[test]
fn generate_prefers_modproxy_json_over_zero_config_and_config_flag_over_both() {
    let d = scratch();
    write(
        d.path(),
        "config/zero.config",
        "/config/name = \"fromzero\"\n",
    );
    assert!(generate_in(d.path(), &["--host", "h1"]).contains("\"name\":\"fromzero\""));
    write(d.path(), "modproxy.json", r#"{"name":"fromjson"}"#);
    assert!(generate_in(d.path(), &["--host", "h1"]).contains("\"name\":\"fromjson\""));
    write(d.path(), "other.json", r#"{"name":"fromflag"}"#);
    assert!(
        generate_in(d.path(), &["--host", "h1", "-c", "other.json"])
            .contains("\"name\":\"fromflag\"")
    );
    assert!(
        generate_in(
            d.path(),
            &["--host", "h1", "--config", "config/zero.config"]
        )
        .contains("\"name\":\"fromzero\"")
    );
}

#[test]
fn templates_folder_overrides_only_the_templates_it_holds() {
    let out = Test::new()
        .file("tpl/header.hbs", "# Custom header for {{title}}\n")
        .args(["merge", "-balancer", "--templates", "tpl"])
        .arg(golden_path("gen-hostA"))
        .stdout_has("<Proxy \"balancer://shop\">")
        .run();
    assert!(
        out.stdout
            .starts_with("# Custom header for Apache config for 1 app(s)"),
        "{}",
        out.stdout
    );
}

#[test]
fn no_template_can_drop_the_records_merge_reads_back() {
    let d = scratch();
    // A whole-file template that writes nothing of its own.
    Test::at(d.path())
        .file("tpl/config.conf.hbs", "# minimal\n")
        .args(["merge", "-balancer", "--templates", "tpl", "-o", "App.conf"])
        .args(["gen-hostA", "gen-hostB"].map(golden_path))
        .run();
    // The file it made merges again, with both members.
    Test::at(d.path())
        .args(["merge", "-balancer", "App.conf"])
        .stdout_has("route=hostA")
        .stdout_has("route=hostB")
        .run();
}

#[test]
fn an_overridden_template_cannot_smuggle_unquotable_values() {
    // A template may quote anything it likes, but quote refuses what would break out.
    Test::new()
        .file("tpl/header.hbs", "# {{quote \"a\\\"b\"}}\n")
        .args(["merge", "--templates", "tpl", &golden_path("gen-hostA")])
        .status(1)
        .stderr_has("refusing to quote")
        .run();
}

#[test]
fn writing_a_file_keeps_its_permissions_and_leaves_no_temp_files() {
    use std::os::unix::fs::PermissionsExt;
    let d = scratch();
    let app = write(d.path(), "App.conf", "old\n");
    std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = modproxy()
        .current_dir(d.path())
        .args([
            "merge",
            "-balancer",
            "-o",
            "App.conf",
            &golden_path("gen-hostA"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mode = std::fs::metadata(&app).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let out = modproxy()
        .current_dir(d.path())
        .args([
            "merge",
            "-balancer",
            "-o",
            "New.conf",
            &golden_path("gen-hostA"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mode = std::fs::metadata(d.path().join("New.conf"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn help_shows_examples_and_version_prints() {
    for args in [
        vec!["--help"],
        vec!["generate", "--help"],
        vec!["merge", "--help"],
        vec!["check", "--help"],
    ] {
        let out = modproxy().args(&args).output().unwrap();
        assert!(out.status.success());
        let text = stdout(&out);
        assert!(
            text.contains("Examples:") && text.contains("modproxy "),
            "{args:?}: {text}"
        );
    }
    let out = modproxy().arg("--version").output().unwrap();
    assert_eq!(
        stdout(&out).trim(),
        format!("modproxy {}", env!("CARGO_PKG_VERSION"))
    );
    let out = modproxy().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn format_json_gives_the_merged_model() {
    let out = modproxy()
        .args(["merge", "-balancer", "--format", "json", "--drain", "hostB"])
        .args(["gen-hostA", "gen-hostB", "gen-proxy-cookie-a"].map(golden_path))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["balanced"], true);
    assert_eq!(doc["lbmethod"], "bybusyness");
    let apps = doc["apps"].as_array().unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(apps[0]["contextRoot"], "/shop/api");
    assert_eq!(apps[1]["balancer"], "balancer://shop");
    assert_eq!(apps[1]["sessionAffinity"]["cookie"], "zsessionid");
    let members = apps[1]["members"].as_array().unwrap();
    assert_eq!(members[0]["url"], "http://hostA.example.com:8081");
    assert_eq!(members[1]["adminState"], "drain");
    assert_eq!(members[1]["loadFactor"], 2);
    assert!(
        doc["modules"]
            .as_array()
            .unwrap()
            .contains(&"proxy_hcheck".into())
    );

    let d = scratch();
    write(
        d.path(),
        "modproxy.json",
        r#"{"name":"x","websocket":true}"#,
    );
    let out = modproxy()
        .current_dir(d.path())
        .args(["generate", "--host", "h1", "--format", "json"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["balanced"], false);
    assert_eq!(doc["apps"][0]["members"][0]["websocket"], true);
    assert_eq!(doc["apps"][0]["members"][0]["connectionTimeout"], 2);
}

#[test]
fn maintenance_flags_are_checked_against_the_members() {
    let a = golden_path("gen-hostA");
    let out = modproxy()
        .args(["merge", "-balancer", "--drain", "hostZ", &a])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--drain hostZ: no member has that route; the routes are: hostA"),
        "{}",
        stderr(&out)
    );
    let out = modproxy()
        .args([
            "merge",
            "-balancer",
            "--drain",
            "hostA",
            "--enable",
            "hostA",
            &a,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("both --drain and --enable"),
        "{}",
        stderr(&out)
    );
    for args in [
        vec!["merge", "--drain", "hostA", a.as_str()],
        vec!["merge", "--balancer-manager", "/bm", a.as_str()],
        vec!["merge", "-b", "--manager-allow", "10.0.0.0/8", a.as_str()],
        vec![
            "merge",
            "-b",
            "--balancer-manager",
            "/bm",
            "--manager-allow",
            "10.0.0.0/33",
            a.as_str(),
        ],
        vec!["merge", "-b", "--failonstatus", "503,abc", a.as_str()],
        vec!["merge", "-b", "--timeout", "0", a.as_str()],
        vec!["merge", "-b", "--failontimeout", "maybe", a.as_str()],
    ] {
        let out = modproxy().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn members_of_one_app_must_agree_on_failure_policy() {
    let d = scratch();
    let text = std::fs::read_to_string(golden_path("gen-hostB"))
        .unwrap()
        .replace("\"failOnStatus\":[502,503]", "\"failOnStatus\":[503]");
    let b = write(d.path(), "b.conf", &text);
    let out = modproxy()
        .args([
            "merge",
            "-balancer",
            &golden_path("gen-hostA"),
            b.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("failOnStatus 503 but")
            && err.contains("gen-hostA")
            && err.contains("--failonstatus"),
        "{err}"
    );
    // The merge flag settles it for every member.
    let out = modproxy()
        .args([
            "merge",
            "-balancer",
            "--failonstatus",
            "502",
            &golden_path("gen-hostA"),
            b.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("failonstatus=502\n"));
}

#[test]
fn completions_and_man_pages_are_generated() {
    let bash = modproxy().args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success());
    assert!(stdout(&bash).contains("_modproxy()") && stdout(&bash).contains("--balancer"));
    let zsh = modproxy().args(["completions", "zsh"]).output().unwrap();
    assert!(stdout(&zsh).starts_with("#compdef modproxy"));
    let man = modproxy().arg("man").output().unwrap();
    assert!(stdout(&man).contains(".TH modproxy 1"), "{}", stdout(&man));
    let d = scratch();
    let out = modproxy()
        .args(["man", "--out-dir"])
        .arg(d.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let merge = std::fs::read_to_string(d.path().join("modproxy-merge.1")).unwrap();
    assert!(merge.contains("balancer\\-manager"), "{merge}");
    for page in ["modproxy.1", "modproxy-generate.1", "modproxy-check.1"] {
        assert!(d.path().join(page).is_file(), "{page} missing");
    }
}

#[test]
fn a_reader_that_goes_away_is_not_an_error() {
    for args in [
        vec!["completions", "bash"],
        vec!["man"],
        vec!["merge", "-balancer", &golden_path("merge-several-apps")],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(modproxy_bin())
            .args(&args)
            .stdout(writer)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
}

#[test]
fn overriding_an_smash_route_id_warns_that_sessions_will_not_stick() {
    let d = scratch();
    write(
        d.path(),
        "config/zero.config",
        "/config/apacheRouteID = \"node1\"\n",
    );
    let out = modproxy()
        .current_dir(d.path())
        .args(["generate", "--host", "h1", "--route", "node2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: --route node2 replaces route node1"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("\"route\":\"node2\""));
    // The same route, or no affinity, is no reason to warn.
    let out = modproxy()
        .current_dir(d.path())
        .args(["generate", "--host", "h1", "--route", "node1"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    write(d.path(), "modproxy.json", r#"{"route":"a"}"#);
    let out = modproxy()
        .current_dir(d.path())
        .args(["generate", "--host", "h1", "--route", "b"])
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}
