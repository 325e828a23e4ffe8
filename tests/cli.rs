//! The operator's command line, run without CNI_COMMAND: `list` (what is
//! attached where, read-only), `version`, `install` (the DaemonSet's init
//! container and the "copy the binary" path), `pause` (its long-running
//! container) and `--help`. The real binary; attachments are made by real
//! ADDs in private namespaces (see tests/common), the mid-ADD and mid-DEL
//! ones with fail points, so this file needs `--features test-hooks`.
//!
//! Run: cargo test --features test-hooks --test cli

mod common;

use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary with `args` and no CNI_* variable, as an operator would.
fn hostdev(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env_remove("CNI_COMMAND").output().expect("run hostdev")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The output line that mentions `needle` (exactly one must).
fn line_with<'a>(out: &'a str, needle: &str) -> &'a str {
    let lines: Vec<&str> = out.lines().filter(|l| l.split_whitespace().any(|w| w == needle)).collect();
    assert_eq!(lines.len(), 1, "one line with {needle:?} expected in:\n{out}");
    lines[0]
}

fn assert_words(line: &str, words: &[&str]) {
    for w in words {
        assert!(line.split_whitespace().any(|x| x == *w), "{w:?} missing in line {line:?}");
    }
}

/// Every file of a directory with its size, mode and modification time.
fn dir_state(dir: &Path) -> BTreeMap<String, (u64, u32, i64, i64)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            (e.file_name().to_string_lossy().into_owned(), (m.len(), m.mode(), m.mtime(), m.mtime_nsec()))
        })
        .collect()
}

/// Runs the plugin with HOSTDEV_FAILPOINT=`point`: it dies there.
fn crash_at(w: &World, command: &str, device: &str, ifname: &str, point: &str) {
    let mut env = w.env(command, ifname);
    env.insert("HOSTDEV_FAILPOINT", point.to_string());
    let out = w.run(&env, &w.config("1.0.0", device));
    assert_ne!(out.code, 0, "{command} should have died at {point}: {out:#?}");
}

// ------------------------------------------------------------------- list

#[test]
fn list_shows_every_attachment_and_its_phase_without_writing() {
    let w = World::new();
    let h1 = w.host_veth("h1", true);
    let h2 = w.host_veth("h2", true);
    let h3 = w.host_veth("h3", true);
    let h4 = w.host_veth("h4", true);
    w.attach("h1", "eth1");
    // h2 comes home parked: somebody took its name meanwhile.
    w.attach("h2", "eth2");
    ip(&w.host.name, &["link", "add", "h2", "type", "veth", "peer", "name", "sq2p"]);
    w.del("h2", "eth2").assert_ok();
    // h3 is mid-ADD, h4 mid-DEL.
    crash_at(&w, "ADD", "h3", "eth3", "add-after-record");
    w.attach("h4", "eth4");
    crash_at(&w, "DEL", "h4", "eth4", "del-after-record");
    // t5, a tap, has nothing a container cannot forge: DEL leaves it lost.
    ip(&w.host.name, &["tuntap", "add", "t5", "mode", "tap"]);
    let t5 = link(&w.host.name, "t5").unwrap();
    w.attach("t5", "eth5");
    w.del("t5", "eth5").assert_ok();
    let data = PathBuf::from(w.data_dir());
    std::fs::write(data.join("testnet+broken+eth9.json"), b"{not json").unwrap();

    let before = dir_state(&data);
    let out = hostdev(&["list", "--data-dir", &w.data_dir()]);
    let stdout = text(&out.stdout);
    assert_eq!(dir_state(&data), before, "list changed the data directory");

    let row = line_with(&stdout, "eth1");
    assert_words(row, &["testnet", &w.id, "h1", &h1.mac, "attached"]);
    let row = line_with(&stdout, "eth2");
    assert_words(row, &["testnet", &w.id, "h2", &h2.mac, "parked"]);
    assert!(row.contains("hdpark"), "parked name missing: {row:?}");
    let row = line_with(&stdout, "eth3");
    assert_words(row, &["testnet", &w.id, "h3", &h3.mac, "adding"]);
    let row = line_with(&stdout, "eth4");
    assert_words(row, &["testnet", &w.id, "h4", &h4.mac, "removing"]);
    let row = line_with(&stdout, "eth5");
    assert_words(row, &["testnet", &w.id, "t5", &t5.mac, "lost"]);
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join(format!("testnet+{}+eth5.json", w.id))).unwrap()).unwrap();
    let why = record["lost"].as_str().expect("a lost record says why");
    assert!(row.contains(why), "why it is lost ({why:?}) missing: {row:?}");
    let row = line_with(&stdout, "testnet+broken+eth9.json");
    assert!(row.contains("unreadable"), "broken record not shown as unreadable: {row:?}");
    // An unreadable record is a problem the operator must see in the exit code.
    assert_eq!(out.status.code(), Some(1), "stdout:\n{stdout}\nstderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unreadable"), "stderr: {}", text(&out.stderr));
}

#[test]
fn list_of_an_empty_or_missing_data_dir_creates_nothing() {
    let w = World::new();
    let missing = w.tmp.join("nothing-here");
    let out = hostdev(&["list", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!missing.exists(), "list created the data directory");
    assert!(text(&out.stderr).contains("no attachments"), "{out:?}");

    std::fs::create_dir(&missing).unwrap();
    let out = hostdev(&["list", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stderr).contains("no attachments"), "{out:?}");
    assert_eq!(std::fs::read_dir(&missing).unwrap().count(), 0, "list wrote into the data directory");

    let out = hostdev(&["list", "--data-dir", "relative/dir"]);
    assert_eq!(out.status.code(), Some(2), "a relative dataDir is a usage error: {out:?}");
    assert!(text(&out.stderr).contains("relative/dir"), "{out:?}");
}

// ------------------------------------------------------- version, help, usage

/// git's answer in this checkout, trimmed; None when git fails.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").arg("-C").arg(env!("CARGO_MANIFEST_DIR")).args(args).output().ok();
    out.filter(|o| o.status.success()).map(|o| text(&o.stdout).trim().to_string())
}

/// The revision the binary must name: what git says about this checkout,
/// with "-dirty" when the files the binary is built from differ from it.
fn git_revision() -> String {
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else { return "unknown".into() };
    let changed = git(&["status", "--porcelain", "--", "src", "build.rs", "Cargo.toml", "Cargo.lock", ".cargo"]);
    if changed.is_some_and(|c| !c.is_empty()) { format!("{head}-dirty") } else { head }
}

#[test]
fn version_names_crate_version_and_git_revision() {
    let out = hostdev(&["version"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("hostdev {}", env!("CARGO_PKG_VERSION"))), "{stdout}");
    assert!(stdout.contains(&format!("(git {})", git_revision())), "{stdout}");
    assert!(stdout.contains("1.1.0"), "CNI versions missing: {stdout}");
}

#[test]
fn cni_version_logs_the_build_and_keeps_stdout_exact() {
    let w = World::new();
    let log = w.tmp.join("version.log");
    let stdin = serde_json::json!({"cniVersion": "1.0.0", "logLevel": "info", "logFile": log}).to_string();
    let env = BTreeMap::from([("CNI_COMMAND", "VERSION".to_string())]);
    let out = w.run(&env, &stdin);
    out.assert_ok();
    assert_eq!(
        out.stdout,
        "{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}\n"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains(&format!("hostdev {}", env!("CARGO_PKG_VERSION"))), "log: {logged:?}");
    assert!(logged.contains(&format!("git {}", git_revision())), "log: {logged:?}");
}

#[test]
fn help_lists_the_commands_and_bad_usage_fails_2() {
    for flag in ["--help", "-h", "help"] {
        let out = hostdev(&[flag]);
        assert!(out.status.success(), "{flag}: {out:?}");
        let stdout = text(&out.stdout);
        for cmd in ["list", "version", "install", "pause", "--data-dir", "--cni-bin-dir"] {
            assert!(stdout.contains(cmd), "{flag}: {cmd} missing in\n{stdout}");
        }
    }
    for args in [&["frob"][..], &["list", "--data-dir"], &["list", "--frob"], &["install", "extra"]] {
        let out = hostdev(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: usage errors go to stderr: {out:?}");
        assert!(text(&out.stderr).contains(args[args.len() - 1]), "{args:?}: names the culprit: {out:?}");
    }
    // The bare call keeps its one line on stderr.
    let out = hostdev(&[]);
    assert!(out.status.success() && out.stdout.is_empty(), "{out:?}");
    assert_eq!(text(&out.stderr).lines().count(), 1, "{out:?}");
}

// ---------------------------------------------------------------- install

fn assert_installed(dir: &Path) {
    let installed = dir.join("hostdev");
    assert_eq!(std::fs::read(&installed).unwrap(), std::fs::read(BIN).unwrap(), "not a copy of the binary");
    assert_eq!(std::fs::metadata(&installed).unwrap().permissions().mode() & 0o7777, 0o755);
    let names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["hostdev"], "temporary files left behind");
    let out = Command::new(&installed).env("CNI_COMMAND", "VERSION").stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success() && text(&out.stdout).contains("supportedVersions"), "{out:?}");
}

#[test]
fn install_copies_atomically_and_is_idempotent() {
    let w = World::new();
    let dir = w.tmp.join("bin");
    std::fs::create_dir(&dir).unwrap();
    let run = || hostdev(&["install", "--cni-bin-dir", dir.to_str().unwrap()]);

    let out = run();
    assert!(out.status.success(), "{out:?}");
    assert_installed(&dir);
    let inode = std::fs::metadata(dir.join("hostdev")).unwrap().ino();

    let out = run();
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stderr).contains("up to date"), "{out:?}");
    assert_eq!(std::fs::metadata(dir.join("hostdev")).unwrap().ino(), inode, "an identical copy was replaced");

    // An older plugin is replaced by rename, never rewritten in place.
    std::fs::write(dir.join("hostdev"), b"#!/bin/false\n").unwrap();
    let out = run();
    assert!(out.status.success(), "{out:?}");
    assert_installed(&dir);

    let out = hostdev(&["install", "--cni-bin-dir", w.tmp.join("no-such-dir").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("no-such-dir"), "{out:?}");
}

/// On a noexec mount the copy cannot run: install fails and leaves neither
/// a plugin nor a temporary file (a private mount namespace, so the mount
/// is nobody else's).
#[test]
fn install_refuses_a_copy_that_does_not_run() {
    let w = World::new();
    let dir = w.tmp.join("noexec");
    std::fs::create_dir(&dir).unwrap();
    let script = format!(
        "mount -t tmpfs -o noexec hdtest {d} || exit 99; {bin} install --cni-bin-dir {d}; rc=$?; ls -A {d}; exit $rc",
        d = dir.display(),
        bin = BIN
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .env_remove("CNI_COMMAND")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out.stdout), "", "files left on the noexec mount: {out:?}");
    assert!(text(&out.stderr).contains("does not run"), "{out:?}");
}

// ------------------------------------------------------------------ pause

#[test]
fn pause_waits_until_sigterm() {
    let mut child = Command::new(BIN).arg("pause").env_remove("CNI_COMMAND").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "pause exited on its own");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "pause ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}
