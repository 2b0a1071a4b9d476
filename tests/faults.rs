//! Unreliable disks and awkward paths: a full disk, a read-only folder, /dev/full, a
//! symlinked output, and concurrent writers. Each ends in a clear error with the old
//! output intact, or in one whole file.

use std::process::Command;

use crate::support::{golden_path, modproxy, modproxy_bin, scratch, stderr, write};

/// Runs `script` with `sh` in a private mount namespace (`unshare -rm`), where it may mount
/// a small tmpfs on `$DIR` without touching the machine. Returns (exit ok, output).
fn in_mount_namespace(script: &str) -> (bool, String) {
    let d = scratch();
    let out = Command::new("unshare")
        .args(["-rm", "sh", "-c", script])
        .env("DIR", d.path())
        .env("MODPROXY", modproxy_bin())
        .env("INPUT", golden_path("merge-several-apps"))
        .output()
        .unwrap_or_else(|e| {
            panic!("these tests need unshare (util-linux) for a private tmpfs: {e}")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("unshare failed") && !text.contains("Operation not permitted"),
        "cannot make a private mount namespace here (unshare -rm): {text}"
    );
    (out.status.success(), text)
}

#[test]
fn a_full_disk_is_a_clear_error_and_the_old_file_survives() {
    let (ok, text) = in_mount_namespace(
        r#"set -e
        mount -t tmpfs -o size=16k tmpfs "$DIR"
        echo "old config" > "$DIR/App.conf"
        dd if=/dev/zero of="$DIR/fill" bs=1k count=64 2>/dev/null || true
        if "$MODPROXY" merge -balancer -o "$DIR/App.conf" "$INPUT"; then echo "UNEXPECTED SUCCESS"; fi
        echo "content: $(cat "$DIR/App.conf")"
        echo "files: $(ls -A "$DIR" | tr '\n' ' ')""#,
    );
    assert!(ok, "{text}");
    assert!(!text.contains("UNEXPECTED SUCCESS"), "{text}");
    assert!(
        text.contains("cannot write") && text.contains("No space left on device"),
        "{text}"
    );
    assert!(
        text.contains("the old file, if any, is unchanged"),
        "{text}"
    );
    assert!(text.contains("content: old config"), "{text}");
    assert!(
        text.contains("files: App.conf fill \n"),
        "temp file left behind: {text}"
    );
}

#[test]
fn a_read_only_folder_is_a_clear_error_and_the_old_file_survives() {
    let (ok, text) = in_mount_namespace(
        r#"set -e
        mount -t tmpfs tmpfs "$DIR"
        echo "old config" > "$DIR/App.conf"
        mount -o remount,ro "$DIR"
        if "$MODPROXY" merge -balancer -o "$DIR/App.conf" "$INPUT"; then echo "UNEXPECTED SUCCESS"; fi
        echo "content: $(cat "$DIR/App.conf")""#,
    );
    assert!(ok, "{text}");
    assert!(!text.contains("UNEXPECTED SUCCESS"), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
    assert!(text.contains("content: old config"), "{text}");
}

#[test]
fn writing_to_dev_full_reports_no_space_and_leaves_the_device_alone() {
    let out = modproxy()
        .args([
            "merge",
            "-balancer",
            "-o",
            "/dev/full",
            &golden_path("gen-hostA"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("No space left on device"),
        "{}",
        stderr(&out)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::metadata("/dev/full")
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn a_symlinked_output_writes_the_file_it_points_to() {
    let d = scratch();
    let real = write(d.path(), "conf-available/app.conf", "old\n");
    std::fs::create_dir(d.path().join("conf-enabled")).unwrap();
    let link = d.path().join("conf-enabled/app.conf");
    std::os::unix::fs::symlink("../conf-available/app.conf", &link).unwrap();
    let out = modproxy()
        .args(["merge", "-balancer", "-o"])
        .arg(&link)
        .arg(golden_path("gen-hostA"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("balancer://shop")
    );
}

#[test]
fn concurrent_merges_leave_one_whole_file() {
    let d = scratch();
    let out = d.path().join("App.conf");
    let inputs = [
        vec![golden_path("gen-hostA"), golden_path("gen-hostB")],
        vec![golden_path("merge-several-apps")],
    ];
    let expected: Vec<Vec<u8>> = inputs
        .iter()
        .map(|i| {
            modproxy()
                .args(["merge", "-balancer"])
                .args(i)
                .output()
                .unwrap()
                .stdout
        })
        .collect();
    for _round in 0..5 {
        let children: Vec<_> = (0..8)
            .map(|n| {
                Command::new(modproxy_bin())
                    .args(["merge", "-balancer", "-o"])
                    .arg(&out)
                    .args(&inputs[n % 2])
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success());
        }
        let got = std::fs::read(&out).unwrap();
        assert!(
            expected.contains(&got),
            "a mixed or partial file:\n{}",
            String::from_utf8_lossy(&got)
        );
    }
    let names: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temp files left: {names:?}");
}
