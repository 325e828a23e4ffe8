//! The data directory and every path it names are safe: nothing blocks on
//! a FIFO, nothing follows a planted symlink, an unsafe directory is
//! refused, logs never land in the result, stale temporary files are
//! collected, long names work, an edited record changes nothing in the
//! kernel, and a held lock times out with code 11.
//!
//! File names relied on (dataDir D, network N, container C, interface I):
//! the record D/N+C+I.json, its temporary files D/.N+C+I.json.<pid>.tmp,
//! the attachment lock D/.N+C+I.json.lock and the store lock D/.lock.
//!
//! Run: cargo test --features test-hooks --test datadir

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ------------------------------------------------------------------ helpers

/// Runs the plugin in the world's host namespace (killed 5 s after
/// `limit`), and asserts it finished on its own within `limit` seconds.
fn run_within(w: &World, limit: u64, env: &BTreeMap<&str, String>, stdin: &str, what: &str) -> Out {
    let start = Instant::now();
    let (st, out) = finish(spawn_within(limit as u32 + 5, &w.host.name, env, stdin));
    let took = start.elapsed();
    assert_ne!(st.code(), Some(124), "{what} hung (killed after {took:?}): {out:#?}");
    assert!(took < Duration::from_secs(limit), "{what} took {took:?}, more than {limit} s: {out:#?}");
    out
}

/// Creates the world's dataDir as hostdev would (root's, 0700).
fn make_data_dir(w: &World) -> PathBuf {
    let dir = PathBuf::from(w.data_dir());
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    let st = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Asserts a refused command changed nothing: h1 as it was on the host,
/// the container as it was, no record.
fn assert_untouched(w: &World, before: &Link, ctr_names: &BTreeSet<String>) {
    assert_eq!(link(&w.host.name, "h1").as_ref(), Some(before), "h1 changed");
    assert_eq!(&link_names(&w.ctr.name), ctr_names, "the container changed");
}

// ------------------------------------------------------------------ FIFOs

/// CNI_NETNS names a FIFO: ADD fails (105) and DEL succeeds, neither blocks.
#[test]
fn fifo_as_netns_does_not_block() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let ctr_names = link_names(&w.ctr.name);
    let fifo = w.tmp.join("netns-fifo");
    mkfifo(&fifo);
    let fifo = fifo.to_string_lossy().into_owned();

    let out = run_within(&w, 5, &env_for("ADD", &w.id, &fifo, "eth0"), &w.config("1.0.0", "h1"), "ADD");
    out.assert_err(105);
    assert_untouched(&w, &before, &ctr_names);
    let out = run_within(&w, 5, &env_for("DEL", &w.id, &fifo, "eth0"), &w.config("1.0.0", "h1"), "DEL");
    out.assert_ok();
}

/// A FIFO among the records: ADD, STATUS and GC do not block on it.
#[test]
fn fifo_in_data_dir_does_not_block() {
    let w = World::new();
    w.host_veth("h1", true);
    mkfifo(&make_data_dir(&w).join("junk.json"));

    run_within(&w, 10, &w.env("ADD", "eth0"), &w.config("1.0.0", "h1"), "ADD").assert_ok();
    assert!(link(&w.ctr.name, "eth0").is_some());
    run_within(&w, 10, &plain_env("STATUS"), &conf(&w, "1.1.0", "h1", json!({})), "STATUS");
    run_within(&w, 10, &plain_env("GC"), &gc_conf(&w, "h1"), "GC");
}

/// A FIFO as the store lock: ADD fails with 106 naming it.
#[test]
fn fifo_as_store_lock_is_refused() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let ctr_names = link_names(&w.ctr.name);
    mkfifo(&make_data_dir(&w).join(".lock"));

    let out = run_within(&w, 10, &w.env("ADD", "eth0"), &w.config("1.0.0", "h1"), "ADD");
    out.assert_err(106);
    assert!(out.msg().contains(".lock"), "the message names no file: {out:#?}");
    assert_untouched(&w, &before, &ctr_names);
}

// ------------------------------------------------------------------ symlinks

/// Symlinks planted at every temporary record name the next plugin runs
/// may use (`.testnet+<cid>+eth0.json.<pid>.tmp`, for the next 1000 pids)
/// point at a file outside dataDir: ADD and DEL never write through them.
#[test]
fn symlink_at_a_temporary_name_is_not_followed() {
    let w = World::new();
    w.host_veth("h1", true);
    let dir = make_data_dir(&w);
    let victim = w.tmp.join("victim");
    std::fs::write(&victim, b"precious\n").unwrap();
    let plant = || {
        let last: u64 = std::fs::read_to_string("/proc/sys/kernel/ns_last_pid").unwrap().trim().parse().unwrap();
        let max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap().trim().parse().unwrap();
        for i in 1..=1000 {
            let pid = if last + i > max { last + i - max + 300 } else { last + i };
            let _ = std::os::unix::fs::symlink(&victim, dir.join(format!(".testnet+{}+eth0.json.{pid}.tmp", w.id)));
        }
    };
    for command in ["ADD", "DEL"] {
        plant();
        let out = run_within(&w, 10, &w.env(command, "eth0"), &w.config("1.0.0", "h1"), command);
        assert!(out.code == 0 || out.json["code"] == 106, "{command}: {out:#?}");
        let now = String::from_utf8_lossy(&std::fs::read(&victim).unwrap()).into_owned();
        assert_eq!(now, "precious\n", "{command} wrote through a symlink");
    }
}

/// A dangling symlink planted as the attachment's lock: ADD and DEL create
/// nothing at its target.
#[test]
fn symlink_at_the_lock_name_is_not_followed() {
    let w = World::new();
    w.host_veth("h1", true);
    let dir = make_data_dir(&w);
    let target = w.tmp.join("lock-target");
    let lock = dir.join(format!(".testnet+{}+eth0.json.lock", w.id));
    for command in ["ADD", "DEL"] {
        if std::fs::symlink_metadata(&lock).is_err() {
            std::os::unix::fs::symlink(&target, &lock).unwrap();
        }
        let out = run_within(&w, 10, &w.env(command, "eth0"), &w.config("1.0.0", "h1"), command);
        assert!(out.code == 0 || out.json["code"] == 106, "{command}: {out:#?}");
        assert!(std::fs::symlink_metadata(&target).is_err(), "{command} created {}", target.display());
    }
}

/// A FIFO planted as a stale attachment's lock: GC does not block on it,
/// and reports it (106, naming the file) rather than passing the
/// attachment over as busy; the attachment stays as it is.
#[test]
fn fifo_at_a_stale_attachments_lock_is_reported_by_gc() {
    let w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let lock = Path::new(&w.data_dir()).join(format!(".testnet+{}+eth0.json.lock", w.id));
    let _ = std::fs::remove_file(&lock);
    mkfifo(&lock);
    let out = run_within(&w, 10, &plain_env("GC"), &gc_conf(&w, "h1"), "GC");
    out.assert_err(106);
    assert!(out.msg().contains(&lock.display().to_string()), "the message names no lock: {out:#?}");
    assert!(link(&w.ctr.name, "eth0").is_some(), "GC took eth0 without its lock");
    assert_eq!(records(&w).len(), 1);
}

// ------------------------------------------------------------------ unsafe dataDir

/// An existing dataDir others can write to, or owned by another user, is
/// refused with 106 and a message that says what to fix; nothing moves.
fn unsafe_data_dir(spoil: impl Fn(&Path), hints: &[&str]) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let ctr_names = link_names(&w.ctr.name);
    spoil(&make_data_dir(&w));

    let out = w.add("h1", "eth0");
    out.assert_err(106);
    let m = out.msg();
    assert!(m.contains(&w.data_dir()), "the message names no dataDir: {m}");
    assert!(hints.iter().any(|h| m.contains(h)), "the message says none of {hints:?}: {m}");
    assert_untouched(&w, &before, &ctr_names);
    assert!(data_entries(&w).is_empty(), "{:?}", data_entries(&w));
}

#[test]
fn world_writable_data_dir_is_refused() {
    unsafe_data_dir(
        |d| std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o1777)).unwrap(),
        &["mode", "chmod", "writable"],
    );
}

#[test]
fn data_dir_owned_by_another_user_is_refused() {
    unsafe_data_dir(|d| std::os::unix::fs::chown(d, Some(1000), Some(1000)).unwrap(), &["owner", "owned", "chown"]);
}

// ------------------------------------------------------------------ logs

/// logFile naming stdout (directly or through /proc) puts no log line into
/// the result: stdout is exactly one JSON result.
#[test]
fn log_file_on_stdout_does_not_spoil_the_result() {
    for path in ["/dev/stdout", "/proc/self/fd/1"] {
        let w = World::new();
        w.host_veth("h1", true);
        let c = conf(&w, "1.0.0", "h1", json!({"logFile": path, "logLevel": "debug"}));
        let out = w.run(&w.env("ADD", "eth0"), &c);
        assert_eq!(out.code, 0, "logFile {path}: {out:#?}");
        assert!(out.json["interfaces"].is_array(), "logFile {path}: stdout is not one result: {:?}", out.stdout);
    }
}

// ------------------------------------------------------------------ leftovers and long names

/// A file a killed plugin left behind is removed by GC, while a live
/// attachment's files are kept; once that one is DELed, dataDir is empty.
fn stale_file_is_collected_by_gc(name: &str, content: &[u8]) {
    let w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let stale = Path::new(&w.data_dir()).join(name);
    std::fs::write(&stale, content).unwrap();
    let keep = conf(&w, "1.1.0", "h1", json!({"cni.dev/valid-attachments": [{"containerID": w.id, "ifname": "eth0"}]}));
    let out = w.run(&plain_env("GC"), &keep);
    out.assert_ok();
    assert!(!stale.exists(), "GC left {}", stale.display());
    assert!(link(&w.ctr.name, "eth0").is_some(), "GC took a valid attachment");
    assert_eq!(records(&w).len(), 1);
    w.del("h1", "eth0").assert_ok();
    assert!(data_entries(&w).is_empty(), "left in dataDir: {:?}", data_entries(&w));
}

/// A record write killed mid-way: its temporary file (of a pid that
/// cannot exist).
#[test]
fn stale_temporary_files_are_collected_by_gc() {
    stale_file_is_collected_by_gc(".testnet+x+eth0.json.99999999.tmp", b"{\"half\":");
}

/// An ADD killed between writing a device's claim and its record (the
/// soak found one): a claim that names no record.
#[test]
fn stale_claim_files_are_collected_by_gc() {
    stale_file_is_collected_by_gc(".claim.if99999", b"testnet+gone+eth0.json");
}

/// A network name of 240 characters (file names would pass the 255-byte
/// limit): DEL before ADD, ADD and DEL work, nothing is left.
#[test]
fn long_network_name_adds_and_dels() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let name: String = (0..240).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    let c = conf(&w, "1.0.0", "h1", json!({"name": name}));
    w.run(&w.env("DEL", "eth0"), &c).assert_ok(); // never added: DEL is idempotent
    let out = w.run(&w.env("ADD", "eth0"), &c);
    out.assert_ok();
    assert!(link(&w.ctr.name, "eth0").is_some());
    w.run(&w.env("DEL", "eth0"), &c).assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert!(data_entries(&w).is_empty(), "left in dataDir: {:?}", data_entries(&w));
}

// ------------------------------------------------------------------ edited records

/// ADD h1 (and h2 as net1), then `edit` h1's record: DEL of eth0 must not
/// touch the kernel beyond what the edit can prove.
fn edited_record(edit: impl Fn(&mut Value, &World)) -> (World, Out, Link, Link) {
    let w = World::new();
    w.host_veth("h1", true);
    w.host_veth("h2", true);
    w.attach("h1", "eth0");
    w.run(&w.env("ADD", "net1"), &w.config("1.0.0", "h2")).assert_ok();
    let file = Path::new(&w.data_dir()).join(format!("testnet+{}+eth0.json", w.id));
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    edit(&mut rec, &w);
    std::fs::write(&file, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let eth0 = link(&w.ctr.name, "eth0").unwrap();
    let net1 = link(&w.ctr.name, "net1").unwrap();
    let out = w.del("h1", "eth0");
    (w, out, eth0, net1)
}

/// A record that fails validation is reported (106) and nothing changes.
fn invalid_record(edit: impl Fn(&mut Value, &World)) {
    let (w, out, eth0, net1) = edited_record(edit);
    out.assert_err(106);
    assert_eq!(link(&w.ctr.name, "eth0"), Some(eth0), "eth0 changed");
    assert_eq!(link(&w.ctr.name, "net1"), Some(net1), "net1 changed");
    let host = link_names(&w.host.name);
    assert!(!host.contains("h1") && !host.contains("h2") && !host.contains("eth0"), "host links: {host:?}");
}

#[test]
fn record_with_a_path_as_host_name_is_refused() {
    invalid_record(|r, _| r["host"]["name"] = json!("../../x"));
}

#[test]
fn record_of_another_container_is_refused() {
    invalid_record(|r, _| r["containerId"] = json!("someone-else"));
}

/// A record that holds the container index of another attachment: DEL of
/// eth0 never moves that other interface.
#[test]
fn record_with_another_attachments_index_leaves_it_alone() {
    let (w, out, _, net1) = edited_record(|r, w| r["containerIndex"] = json!(ifindex(&w.ctr.name, "net1")));
    assert_eq!(link(&w.ctr.name, "net1"), Some(net1), "DEL of eth0 took net1: {out:#?}");
    assert!(link(&w.host.name, "h2").is_none(), "h2 came home: {out:#?}");
}

// ------------------------------------------------------------------ lock timeout

/// `flock -F` holding a file until killed: the lock is taken when this returns.
struct Holder {
    child: std::process::Child,
}

impl Holder {
    fn new(path: &Path) -> Holder {
        let child = Command::new("flock")
            .args(["-F", "-x"])
            .arg(path)
            .args(["sleep", "30"])
            .stdout(Stdio::null())
            .spawn()
            .expect("flock");
        let held = || Command::new("flock").args(["-n", "-x"]).arg(path).arg("true").status().map(|s| !s.success());
        assert!(wait_until(60, || held().unwrap_or(false)), "flock did not take {}", path.display());
        Holder { child }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// DEL cannot get the attachment's lock within HOSTDEV_LOCK_TIMEOUT_MS:
/// it fails with 11 (try again later) instead of hanging; once the lock is
/// free, DEL works.
#[test]
fn held_lock_times_out_with_code_11() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let lock = Path::new(&w.data_dir()).join(format!(".testnet+{}+eth0.json.lock", w.id));
    let holder = Holder::new(&lock);
    let mut env = w.env("DEL", "eth0");
    env.insert("HOSTDEV_LOCK_TIMEOUT_MS", "1000".to_string());
    let out = run_within(&w, 5, &env, &w.config("1.0.0", "h1"), "DEL");
    out.assert_err(11);
    assert!(link(&w.ctr.name, "eth0").is_some(), "DEL without the lock moved eth0");
    assert_eq!(records(&w).len(), 1);
    drop(holder);
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

// ------------------------------------------------------------------ read-only and shared dataDirs

/// Runs the plugin as `run_plugin` does, in a private mount namespace
/// where a read-only tmpfs (root's, 0700) covers the world's dataDir: the
/// machine's mounts are never touched, and the mount goes with the
/// namespace when the call ends.
fn run_on_read_only_data_dir(w: &World, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
    let dir = make_data_dir(w);
    let script = r#"mount -t tmpfs -o ro,mode=0700 hostdev-test-ro "$1" && shift && exec "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]).arg(&dir);
    cmd.args(["timeout", "60", "ip", "netns", "exec", &w.host.name, BIN]);
    finish(spawn_command(cmd, env, stdin)).1
}

/// A dataDir ADD cannot write (here a read-only file system) makes STATUS
/// answer 50, naming the directory, as ADD fails with 106.
#[test]
fn status_is_not_ready_when_the_data_dir_is_read_only() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let ctr_names = link_names(&w.ctr.name);
    let add = run_on_read_only_data_dir(&w, &w.env("ADD", "eth0"), &w.config("1.0.0", "h1"));
    add.assert_err(106);
    assert_untouched(&w, &before, &ctr_names);
    let status = run_on_read_only_data_dir(&w, &plain_env("STATUS"), &w.config("1.1.0", "h1"));
    status.assert_err(50);
    let m = status.msg();
    assert!(m.contains(&w.data_dir()) && m.contains("Read-only"), "{m}");
    // Without the read-only mount the same directory is ready.
    w.run(&plain_env("STATUS"), &w.config("1.1.0", "h1")).assert_ok();
}

/// A directory others share (sticky and world-writable, as /tmp) is refused
/// with the advice to choose one of hostdev's own, never to chmod it.
#[test]
fn shared_data_dir_is_refused_without_chmod_advice() {
    let w = World::new();
    w.host_veth("h1", true);
    let shared = make_data_dir(&w);
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = w.add("h1", "eth0");
    out.assert_err(106);
    let m = out.msg();
    assert!(!m.contains("chmod"), "advises chmod of a shared directory: {m}");
    assert!(m.contains(&w.data_dir()) && m.contains("sticky") && m.contains("of hostdev's own"), "{m}");
}

// ------------------------------------ the harness's own: what killed runs left

/// A world is named after this process's pid, and pids come round again
/// (32,768 here): a run that was killed (a test timeout, a mutant) leaves
/// its temp dir, and with it its records, to a later process with the same
/// pid. A new world must start from nothing, or the plugin finds the dead
/// run's record under the same container id and refuses the device.
#[test]
fn a_world_starts_without_what_a_killed_run_left() {
    let id = format!("hdt-{}-left", std::process::id());
    let left = std::env::temp_dir().join(&id).join("data");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join(format!("testnet+{id}+eth0.json")), "{}").unwrap();
    let w = World::with_id(id);
    assert!(data_entries(&w).is_empty(), "left by the killed run: {:?}", data_entries(&w));
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
}

/// The same for the namespaces a killed run left under this pid's names:
/// they are the dead run's (a live process has a pid of its own), so a new
/// world takes their names over instead of failing on `ip netns add`.
#[test]
fn a_world_replaces_namespaces_a_killed_run_left() {
    let id = format!("hdt-{}-leftns", std::process::id());
    // What the killed run left. These handles delete the names again at
    // the end, after the world that took them over: a failure leaks nothing.
    let left = ["ctr", "host"].map(|side| Netns::new(format!("{id}-{side}")));
    ip(&left[1].name, &["link", "add", "h1", "type", "veth", "peer", "name", "h1p"]);
    let w = World::with_id(id);
    assert!(link(&w.host.name, "h1").is_none(), "the killed run's h1 is still there");
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
}

/// A record the listing names may be gone when it is read (a DEL, GC or
/// the node agent removed it meanwhile): it is not there, and no reason to
/// fail. A dangling symbolic link stands in for it, deterministically.
#[test]
fn records_skips_a_record_removed_while_it_is_read() {
    let w = World::new();
    let dir = make_data_dir(&w);
    std::os::unix::fs::symlink(dir.join("gone"), dir.join("testnet+gone+eth0.json")).unwrap();
    assert!(records(&w).is_empty(), "{:?}", records(&w));
}
