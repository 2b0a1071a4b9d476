//! `modproxy check`: the installed httpd's verdict, with -t and with a real start.

use crate::support;

use crate::support::{fixtures, modproxy, scratch, stderr, write};

#[test]
fn check_passes_generated_files_with_and_without_start() {
    for case in [
        "merge-several-apps",
        "merge-production-options",
        "gen-websocket",
    ] {
        let file = fixtures().join(case).join("expected.conf");
        for extra in [&[][..], &["--start"][..]] {
            let out = modproxy()
                .arg("check")
                .args(extra)
                .arg(&file)
                .output()
                .unwrap();
            assert!(out.status.success(), "{case} {extra:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(err.starts_with("httpd: Apache/2.4."), "{err}");
            assert!(err.lines().any(|l| l.starts_with("OK: ")), "{err}");
        }
    }
}

#[test]
fn every_lbmethod_gives_a_file_httpd_starts_with() {
    let d = scratch();
    for lb in ["byrequests", "bytraffic", "bybusyness", "heartbeat"] {
        let out_file = d.path().join(format!("{lb}.conf"));
        let out = modproxy()
            .args(["merge", "-balancer", "--lbmethod", lb, "-o"])
            .arg(&out_file)
            .args([
                support::golden_path("gen-hostA"),
                support::golden_path("gen-hostB"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let text = std::fs::read_to_string(&out_file).unwrap();
        assert!(
            text.contains(&format!("lbmethod={lb}"))
                && text.contains(&format!("lbmethod_{lb}_module"))
        );
        let out = modproxy()
            .args(["check", "--start"])
            .arg(&out_file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{lb}: {}", stderr(&out));
    }
}

#[test]
fn check_shows_httpds_error_and_the_offending_line() {
    let d = scratch();
    let bad = write(
        d.path(),
        "bad.conf",
        "ProxyPass \"/\" \"http://127.0.0.1:9/\"\nProxyPassMatch \"^/(\" \"http://x\"\n",
    );
    let out = modproxy().arg("check").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("Syntax error on line 2"), "{err}");
    assert!(
        err.contains("line 2 of") && err.contains("ProxyPassMatch \"^/(\""),
        "{err}"
    );
}

/// The balancer golden file with slotmem_shm left out of the modules the wrapper loads,
/// and, with `strip_guard`, also without modproxy's guard for it.
fn without_slotmem(strip_guard: bool) -> String {
    let text = std::fs::read_to_string(fixtures().join("merge-balancer-app-cookie/expected.conf"))
        .unwrap()
        .replacen(" slotmem_shm_module", "", 1);
    if !strip_guard {
        return text;
    }
    let start = text.find("<IfModule !slotmem_shm_module>").unwrap();
    let end = start + text[start..].find("</IfModule>\n").unwrap() + "</IfModule>\n".len();
    format!("{}{}", &text[..start], &text[end..])
}

#[test]
fn module_guards_make_the_syntax_check_name_a_missing_module() {
    let d = scratch();
    let file = write(d.path(), "noslot.conf", &without_slotmem(false));
    let out = modproxy().arg("check").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("this config needs slotmem_shm_module: a2enmod slotmem_shm"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_start_catches_what_the_syntax_check_misses() {
    // Without mod_slotmem_shm (and no guard) a balancer passes `httpd -t` but cannot start.
    let d = scratch();
    let file = write(d.path(), "noslot.conf", &without_slotmem(true));
    let out = modproxy().arg("check").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let out = modproxy()
        .args(["check", "--start"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("AH01177"), "{}", stderr(&out));
}

#[test]
fn check_reports_missing_files_and_folders() {
    let d = scratch();
    let out = modproxy()
        .current_dir(d.path())
        .args(["check", "nope.conf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot read nope.conf"),
        "{}",
        stderr(&out)
    );
    let out = modproxy()
        .current_dir(d.path())
        .args(["check", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is a folder"), "{}", stderr(&out));
}

#[test]
fn httpd_moves_to_another_port_when_its_port_was_taken() {
    let install = support::httpd::installation();
    let w = modproxy::httpd::Wrapper::new(&install, &fixtures().join("gen-hostA/expected.conf"))
        .unwrap();
    // Another process takes the port between choosing it and starting httpd.
    let squatter = std::net::TcpListener::bind(("127.0.0.1", w.port)).unwrap();
    let taken = w.port;
    let running = w.start().unwrap();
    assert_ne!(running.wrapper.port, taken);
    // And it is httpd that answers on the new port, not the squatter.
    let r = support::httpd::get(&running, "/nothing-here", None);
    assert_eq!(r.status, 404);
    assert!(
        r.header("Server").is_some_and(|s| s.contains("Apache")),
        "{r:?}"
    );
    drop(squatter);
}

#[test]
fn check_names_the_httpd_it_used_and_warns_when_a_file_needs_a_newer_one() {
    let d = scratch();
    write(
        d.path(),
        "needs.conf",
        "# Needs Apache httpd 2.4.999 or later (a test) with modules: proxy_module\n",
    );
    let out = modproxy()
        .current_dir(d.path())
        .args(["check", "needs.conf"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a warning, not a failure: {err}"
    );
    assert!(err.starts_with("httpd: Apache/2.4."), "{err}");
    assert!(
        err.contains("warning: needs.conf needs Apache httpd 2.4.999 or later (a test), and this httpd is 2.4."),
        "{err}"
    );
}

/// The CVE patterns a proxy config can be exposed to on any 2.4 release: request data
/// back-referenced into a proxied URL (CVE-2023-25690 and kin), and a balancer manager
/// anyone can drive.
#[test]
fn no_generated_file_has_the_patterns_of_httpds_proxy_cves() {
    for case in crate::support::fixture_cases() {
        let text = std::fs::read_to_string(case.join("expected.conf")).unwrap();
        for line in text.lines().filter(|l| l.starts_with("ProxyPass")) {
            // ProxyPass[Match] "PATH" "TARGET" ...: the regex may anchor with `$`, the
            // target must not take anything from the request.
            let target = line.split('"').nth(3).unwrap_or("");
            assert!(!target.contains('$'), "{}: {line}", case.display());
        }
        assert!(!text.contains("nonce=None"), "{}", case.display());
        if text.contains("SetHandler balancer-manager") {
            let location = text.split("<Location").nth(1).unwrap();
            let block = location.split("</Location>").next().unwrap();
            assert!(
                block.contains("SetHandler balancer-manager") && block.contains("Require "),
                "{block}"
            );
        }
    }
}
