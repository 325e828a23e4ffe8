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
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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

/// `hostdev list ARGS` on the world's dataDir, in its host namespace (where
/// the plugin runs, and where the listing looks for the interfaces).
fn list(w: &World, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", &w.host.name, BIN, "list", "--data-dir", &w.data_dir()])
        .args(args)
        .env_remove("CNI_COMMAND")
        .output()
        .expect("run hostdev list")
}

/// `hostdev list --output json ARGS`, which must succeed: its entries.
fn list_json(w: &World, args: &[&str]) -> Vec<Value> {
    let out = list(w, &[&["--output", "json"], args].concat());
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice::<Value>(&out.stdout).expect("one JSON document").as_array().expect("an array").clone()
}

/// The interface names of `entries`, in order.
fn ifnames(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["ifname"].as_str().expect("ifname")).collect()
}

fn epoch_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The world's ADD environment for `ifname` with CNI_ARGS `args` (None:
/// none at all, as podman sends).
fn env_with_args(w: &World, command: &str, ifname: &str, args: Option<&str>) -> BTreeMap<&'static str, String> {
    let mut env = w.env(command, ifname);
    match args {
        Some(args) => env.insert("CNI_ARGS", args.to_string()),
        None => env.remove("CNI_ARGS"),
    };
    env
}

/// `command` for `device` as `ifname`, killed at fail point `point`.
fn crash_at(w: &World, command: &str, device: &str, ifname: &str, point: &str) {
    w.killed_at(point, w.env(command, ifname), &w.config("1.0.0", device));
}

/// Tap t5, attached as eth5 trusting the container, renamed there and so
/// lost by DEL. Returns t5 as it was.
fn lost_tap(w: &World) -> Link {
    ip(&w.host.name, &["tuntap", "add", "t5", "mode", "tap"]);
    let t5 = link(&w.host.name, "t5").unwrap();
    let trusting = conf(w, "1.0.0", "t5", json!({"unprovable": "trustContainer"}));
    w.run(&w.env("ADD", "eth5"), &trusting).assert_ok();
    ip(&w.ctr.name, &["link", "set", "eth5", "name", "renamed5"]);
    w.run(&w.env("DEL", "eth5"), &trusting).assert_ok();
    t5
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
    // t5, a tap, is trusted to the container, which renames it: DEL finds
    // nothing with its kind, name and MAC and leaves it lost.
    let t5 = lost_tap(&w);
    let data = PathBuf::from(w.data_dir());
    std::fs::write(data.join("testnet+broken+eth9.json"), b"{not json").unwrap();

    let before = dir_state(&data);
    let out = list(&w, &[]);
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
    // In JSON: an object with only the file and why, among the others.
    let out = list(&w, &["--output", "json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let entries: Value = serde_json::from_slice(&out.stdout).unwrap();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 6, "{entries:#?}");
    let broken = entries.iter().find(|e| e["file"] == "testnet+broken+eth9.json").expect("the broken record");
    let keys: BTreeSet<&str> = broken.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["file", "error"]), "{broken:#?}");
    assert!(broken["error"].as_str().unwrap().contains("not valid JSON"), "{broken:#?}");
}

#[test]
fn list_of_a_missing_data_dir_fails_and_of_an_empty_one_succeeds() {
    let w = World::new();
    let missing = w.tmp.join("nothing-here");
    let out = hostdev(&["list", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "a mistyped --data-dir is an error: {out:?}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains(missing.to_str().unwrap()) && stderr.contains("no such directory"), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(!missing.exists(), "list created the data directory");

    std::fs::create_dir(&missing).unwrap();
    let out = hostdev(&["list", "--data-dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stderr).contains("no attachments"), "{out:?}");
    let out = hostdev(&["list", "--data-dir", missing.to_str().unwrap(), "--output", "json"]);
    assert_eq!((out.status.code(), text(&out.stdout).trim()), (Some(0), "[]"), "{out:?}");
    assert_eq!(std::fs::read_dir(&missing).unwrap().count(), 0, "list wrote into the data directory");

    let out = hostdev(&["list", "--data-dir", "relative/dir"]);
    assert_eq!(out.status.code(), Some(2), "a relative dataDir is a usage error: {out:?}");
    assert!(text(&out.stderr).contains("relative/dir"), "{out:?}");
}

/// Run by somebody other than root, list cannot read root's records: an
/// error naming the directory and why, whether the directory itself or a
/// parent keeps the user out (not "no attachments", exit 0).
#[test]
fn list_as_non_root_fails_naming_the_directory() {
    let w = World::new();
    let h1 = w.host_veth("h1", true);
    w.attach("h1", "eth1");
    assert!(!h1.name.is_empty());
    let private = w.tmp.join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let behind = private.join("data");
    std::fs::create_dir(&behind).unwrap();
    for dir in [PathBuf::from(w.data_dir()), behind] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN, "list", "--data-dir"])
            .arg(&dir)
            .env_remove("CNI_COMMAND")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}: {out:?}", dir.display());
        let stderr = text(&out.stderr);
        assert!(stderr.contains(dir.to_str().unwrap()), "{}: the directory is not named: {stderr}", dir.display());
        assert!(stderr.contains("Permission denied") && stderr.contains("root"), "{}: {stderr}", dir.display());
        assert!(out.stdout.is_empty(), "{out:?}");
    }
}

/// `--output json`: one array, the documented fields, the pod from
/// CNI_ARGS (null without one, as podman calls), the time of ADD.
#[test]
fn list_json_has_the_documented_fields() {
    let w = World::new();
    let h1 = w.host_veth("h1", true);
    let h2 = w.host_veth("h2", true);
    let before = epoch_secs();
    w.attach("h1", "eth1");
    w.run(&env_with_args(&w, "ADD", "eth2", None), &w.config("1.0.0", "h2")).assert_ok();
    let entries = list_json(&w, &[]);
    let after = epoch_secs();
    assert_eq!(ifnames(&entries), ["eth1", "eth2"], "{entries:#?}");
    let e = entries[0].as_object().unwrap();
    let keys: BTreeSet<&str> = e.keys().map(String::as_str).collect();
    let documented = [
        "file",
        "network",
        "containerId",
        "ifname",
        "pod",
        "hostIfname",
        "mac",
        "pci",
        "userspaceDriver",
        "phase",
        "parkedAs",
        "netns",
        "addedAt",
        "ageSeconds",
        "where",
        "whereDetail",
        "note",
    ];
    assert_eq!(keys, BTreeSet::from(documented), "{e:#?}");
    let expected = json!({
        "file": format!("testnet+{}+eth1.json", w.id),
        "network": "testnet",
        "containerId": w.id,
        "ifname": "eth1",
        "pod": {"namespace": "default", "name": "hdt"},
        "hostIfname": "h1",
        "mac": h1.mac,
        "pci": null,
        "userspaceDriver": null,
        "phase": "attached",
        "parkedAs": null,
        "netns": w.ctr.path(),
        "where": "pod",
        "whereDetail": null,
        "note": null,
    });
    for (key, want) in expected.as_object().unwrap() {
        assert_eq!(&e[key], want, "{key}: {e:#?}");
    }
    let added = e["addedAt"].as_u64().expect("addedAt");
    assert!((before..=after).contains(&added), "addedAt {added} not between {before} and {after}");
    assert!(e["ageSeconds"].as_u64().expect("ageSeconds") <= after - before, "{e:#?}");
    assert_eq!(entries[1]["pod"], Value::Null, "no CNI_ARGS, no pod: {:#?}", entries[1]);
    assert_eq!(entries[1]["mac"], h2.mac.as_str());
}

#[test]
fn list_filters_by_network_pod_and_phase() {
    let w = World::new();
    for h in ["h1", "h2", "h3"] {
        w.host_veth(h, true);
    }
    w.attach("h1", "eth1");
    let shop = env_with_args(&w, "ADD", "eth2", Some("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0"));
    w.run(&shop, &conf(&w, "1.0.0", "h2", json!({"name": "othernet"}))).assert_ok();
    crash_at(&w, "ADD", "h3", "eth3", "add-after-record");
    // Sorted by record file: network, container id, interface name.
    let cases: [(&[&str], &[&str]); 11] = [
        (&[], &["eth2", "eth1", "eth3"]),
        (&["--network", "othernet"], &["eth2"]),
        (&["--network=testnet"], &["eth1", "eth3"]),
        (&["--network", "none"], &[]),
        (&["--pod", "shop/web-0"], &["eth2"]),
        (&["--pod", "web-0"], &["eth2"]),
        (&["--pod", "default/hdt"], &["eth1", "eth3"]),
        (&["--pod", "default/web-0"], &[]),
        (&["--phase", "adding"], &["eth3"]),
        (&["--phase", "attached"], &["eth2", "eth1"]),
        (&["--network", "testnet", "--phase", "attached", "--pod", "hdt"], &["eth1"]),
    ];
    for (args, want) in cases {
        assert_eq!(ifnames(&list_json(&w, args)), want, "{args:?}");
    }
    let out = list(&w, &["--pod", "web-0"]);
    assert!(out.status.success(), "{out:?}");
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2, "a header and one row: {stdout}");
    assert_words(line_with(&stdout, "eth2"), &["othernet", "shop/web-0", "attached", "pod"]);
    let out = list(&w, &["--phase", "gone"]);
    assert_eq!(out.status.code(), Some(2), "an unknown phase is a usage error: {out:?}");
    assert!(text(&out.stderr).contains("gone"), "{out:?}");
}

/// A pod chooses its interface name and its name: escape sequences in them
/// reach the operator escaped, in the table and in JSON.
#[test]
fn list_escapes_control_characters_chosen_by_the_pod() {
    let w = World::new();
    w.host_veth("h1", true);
    let ifname = "e\u{1b}]0;pwn\u{7}\u{1b}[2J";
    let pod = "x\u{7f}\u{9b}31m";
    let env = env_with_args(&w, "ADD", ifname, Some(&format!("K8S_POD_NAMESPACE=ns;K8S_POD_NAME={pod}")));
    w.run(&env, &w.config("1.0.0", "h1")).assert_ok();
    let raw = |out: &[u8]| {
        let s = text(out);
        s.chars().find(|c| c.is_control() && *c != '\n').map(|c| format!("{c:?} in {s:?}"))
    };
    let out = list(&w, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(raw(&out.stdout), None, "a raw control character reached the terminal");
    let stdout = text(&out.stdout);
    assert!(stdout.contains(r"e\x1b]0;pwn\x07\x1b[2J"), "{stdout}");
    assert!(stdout.contains(r"ns/x\x7f\x9b31m"), "{stdout}");

    let out = list(&w, &["--output", "json"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(raw(&out.stdout), None, "a raw control character in the JSON");
    let stdout = text(&out.stdout);
    assert!(stdout.contains(r"e\u001b]0;pwn\u0007\u001b[2J") && stdout.contains(r"x\u007f\u009b31m"), "{stdout}");
    let entries: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(entries[0]["ifname"], ifname, "JSON keeps the name as it is");
    assert_eq!(entries[0]["pod"]["name"], pod);
}

/// WHERE is read live, not from the phase: in the pod, parked, home (an
/// ADD that died before the move), gone (a veth dies with its namespace),
/// and unknown for a tap, which nothing proves.
#[test]
fn list_says_where_each_interface_is_now() {
    let w = World::new();
    for h in ["h1", "h2", "h3", "h4"] {
        w.host_veth(h, true);
    }
    w.attach("h1", "eth1");
    w.attach("h2", "eth2");
    ip(&w.host.name, &["link", "add", "h2", "type", "veth", "peer", "name", "sq2p"]);
    w.del("h2", "eth2").assert_ok();
    let mut other = Netns::new(format!("{}-c2", w.id));
    let env = env_for("ADD", "c2", &other.path(), "eth3");
    w.run(&env, &w.config("1.0.0", "h3")).assert_ok();
    crash_at(&w, "ADD", "h4", "eth4", "add-after-record");
    ip(&w.host.name, &["tuntap", "add", "t5", "mode", "tap"]);
    w.run(&w.env("ADD", "eth5"), &conf(&w, "1.0.0", "t5", json!({"unprovable": "leaveInContainer"}))).assert_ok();
    other.delete();
    // The namespace dies after its path is gone, in the kernel's own time:
    // wait until its veth has (its peer on the host goes with it).
    assert!(wait_until(60, || link(&w.host.name, "h3p").is_none()), "the veth outlived its namespace");

    let data = PathBuf::from(w.data_dir());
    let before = dir_state(&data);
    let nsids = || [&w.host.name, &w.ctr.name].map(|ns| ip(ns, &["netns", "list-id"]));
    let (links_before, nsids_before) = (links(&w.host.name), nsids());
    let entries = list_json(&w, &[]);
    assert_eq!(dir_state(&data), before, "list changed the data directory");
    assert_eq!((links(&w.host.name), nsids()), (links_before, nsids_before), "looking changed the host");
    let place = |ifname: &str| {
        let e = entries.iter().find(|e| e["ifname"] == ifname).unwrap_or_else(|| panic!("{ifname}: {entries:#?}"));
        (e["phase"].as_str().unwrap(), e["where"].as_str().unwrap(), e["whereDetail"].as_str().unwrap_or(""))
    };
    assert_eq!(place("eth1"), ("attached", "pod", ""));
    let (phase, at, detail) = place("eth2");
    assert_eq!((phase, at), ("parked", "parked"));
    assert!(detail.starts_with("as hdpark"), "{detail}");
    let (phase, at, detail) = place("eth3");
    assert_eq!((phase, at), ("attached", "gone"), "{detail}");
    assert!(detail.contains("peer"), "{detail}");
    assert_eq!(place("eth4").0, "adding");
    assert_eq!(place("eth4").1, "home");
    let (phase, at, detail) = place("eth5");
    assert_eq!((phase, at), ("attached", "unknown"), "a tap proves nothing: {detail}");
    assert!(detail.contains("t5"), "{detail}");

    let out = list(&w, &[]);
    let stdout = text(&out.stdout);
    assert_words(line_with(&stdout, "eth1"), &["pod", "default/hdt"]);
    assert_words(line_with(&stdout, "eth3"), &["gone"]);

    // Without CAP_SYS_ADMIN list cannot enter the pod's namespace: it
    // cannot tell, and says so rather than "lost" or "not found".
    let out = Command::new("ip")
        .args(["netns", "exec", &w.host.name, "setpriv", "--bounding-set=-sys_admin", BIN, "list", "-o", "json"])
        .args(["--data-dir", &w.data_dir()])
        .env_remove("CNI_COMMAND")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let entries: Value = serde_json::from_slice(&out.stdout).unwrap();
    let eth1 = entries.as_array().unwrap().iter().find(|e| e["ifname"] == "eth1").unwrap();
    assert_eq!(eth1["where"], "unknown", "{eth1:#?}");
    assert!(eth1["whereDetail"].as_str().unwrap().contains(&w.ctr.path()), "{eth1:#?}");
}

/// An ADD refused because another attachment holds the device names that
/// attachment's pod, not only its container id.
#[test]
fn busy_device_error_names_the_other_pod() {
    let w = World::new();
    w.host_veth("h1", true);
    let shop = env_with_args(&w, "ADD", "eth1", Some("K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0"));
    w.run(&shop, &w.config("1.0.0", "h1")).assert_ok();
    let other = Netns::new(format!("{}-c2", w.id));
    let env = env_for("ADD", "c2", &other.path(), "eth1");
    let out = w.run(&env, &w.config("1.0.0", "h1"));
    out.assert_err(102);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains(&w.id) && msg.contains("pod shop/web-0"), "{msg}");
}

// ------------------------------------------------------- version, help, usage

// ------------------------------------------------------------------ forget

/// `hostdev forget` drops a lost record under its lock, claim and all, and
/// says what it dropped; a second one finds nothing (1); bad usage is 2.
#[test]
fn forget_drops_a_record_and_says_what_it_dropped() {
    let w = World::new();
    let t5 = lost_tap(&w);
    let claim = data_entries(&w).into_iter().find(|n| n.starts_with(".claim.")).expect("t5's claim");
    let forget = || hostdev(&["forget", "testnet", &w.id, "eth5", "--data-dir", &w.data_dir()]);

    let out = forget();
    let said = text(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for word in ["t5", t5.mac.as_str(), "lost", claim.as_str(), &format!("testnet/{}/eth5", w.id)] {
        assert!(said.contains(word), "{word} missing: {said}");
    }
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
    assert!(data_entries(&w).iter().all(|n| n.ends_with(".lock")), "{:?}", data_entries(&w));

    let out = forget();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("no record"), "{out:?}");
    for bad in [&["forget", "testnet", "c"][..], &["forget", "bad/name", "c", "eth0"], &["forget", "n", "c", "a/b"]] {
        assert_eq!(hostdev(bad).status.code(), Some(2), "{bad:?}");
    }
}

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

/// A bin directory somebody else may write (group- or world-writable,
/// sticky or not, or not root's) is refused, naming it and why, before
/// anything is written: another user could swap the checked copy before
/// the rename.
#[test]
fn install_refuses_a_directory_others_may_write() {
    let w = World::new();
    let cases: [(&str, u32, Option<u32>, &str); 4] = [
        ("world", 0o777, None, "writable by group or others (mode 777)"),
        ("sticky", 0o1777, None, "shared directory (sticky, mode 1777)"),
        ("group", 0o775, None, "writable by group or others (mode 775)"),
        ("owner", 0o755, Some(1000), "owned by uid 1000"),
    ];
    for (name, mode, owner, why) in cases {
        let dir = w.tmp.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        if owner.is_some() {
            std::os::unix::fs::chown(&dir, owner, owner).unwrap();
        }
        let out = hostdev(&["install", "--cni-bin-dir", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{name}: {out:?}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(dir.to_str().unwrap()) && stderr.contains(why), "{name}: {stderr}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "{name}: something was written");
    }
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
        "mount -t tmpfs -o noexec,mode=0755 hdtest {d} || exit 99; {bin} install --cni-bin-dir {d}; rc=$?; ls -A {d}; exit $rc",
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
