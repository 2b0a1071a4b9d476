//! A large cluster still makes a file httpd loads: 1,000 hosts' fragments merged into one
//! balancer pass `httpd -t`. (Speed is measured by scripts/bench-scale, not here.)

use crate::support::{httpd, modproxy, scratch, stderr, write};

#[test]
fn a_thousand_member_balancer_loads_in_httpd() {
    let d = scratch();
    let mut files = Vec::new();
    for i in 0..1000 {
        let record = format!(
            r#"{{"name":"shop","contextRoot":"/shop","scheme":"http","host":"10.0.{}.{}","port":8080,"route":"m{i}","sessionAffinity":{{"mode":"app-cookie","cookie":"zsessionid"}},"loadFactor":1,"standby":false,"healthCheck":{{"uri":"/health","interval":5}}}}"#,
            i / 256,
            i % 256
        );
        let name = format!("m{i}.conf");
        write(
            d.path(),
            &name,
            &format!("# modproxy-member v1 {record}\n# modproxy-end 1\n"),
        );
        files.push(name);
    }
    let out = modproxy()
        .current_dir(d.path())
        .args(["merge", "-balancer", "-o", "App.conf"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = d.path().join("App.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert_eq!(text.matches("BalancerMember ").count(), 1000);
    let install = httpd::installation();
    let wrapper = modproxy::httpd::Wrapper::new(&install, &conf).unwrap();
    wrapper
        .syntax_check()
        .unwrap_or_else(|e| panic!("httpd -t: {e:#}"));
    // And the merged file reads back: adding one more host to it works.
    write(
        d.path(),
        "extra.conf",
        &std::fs::read_to_string(d.path().join("m0.conf"))
            .unwrap()
            .replace("\"m0\"", "\"extra\"")
            .replace("10.0.0.0", "10.9.9.9"),
    );
    let out = modproxy()
        .current_dir(d.path())
        .args([
            "merge",
            "-balancer",
            "-o",
            "App.conf",
            "App.conf",
            "extra.conf",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("1001 member(s)"), "{}", stderr(&out));
}
