//! Test certificates made with the openssl command: a CA (`ca.pem`, `ca.key`) and
//! certificates it signs, for TLS members and for etcd over TLS.

use std::path::Path;

/// Runs openssl with `args` in `dir`, which must succeed.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("this test needs the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A new test CA in `dir`: `STEM.pem` and `STEM.key`.
pub fn ca(dir: &Path, stem: &str) {
    let (key, pem) = (format!("{stem}.key"), format!("{stem}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=modproxy test CA",
            "-days",
            "2",
            "-keyout",
            &key,
            "-out",
            &pem,
        ],
    );
}

/// A certificate for `name` (a DNS name or an IP address) signed by the CA `ca` (its
/// stem) in `dir`: `STEM.pem` and `STEM.key`.
pub fn issue(dir: &Path, ca: &str, name: &str, stem: &str) {
    let (key, pem, csr, ext) = (
        format!("{stem}.key"),
        format!("{stem}.pem"),
        format!("{stem}.csr"),
        format!("{stem}.cnf"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
    );
    let san = if name.parse::<std::net::IpAddr>().is_ok() {
        format!("subjectAltName=DNS:{name},IP:{name}")
    } else {
        format!("subjectAltName=DNS:{name}")
    };
    std::fs::write(dir.join(&ext), san).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
}
