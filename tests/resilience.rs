//! The smaller ways an interface was stranded or a device refused (issue
//! 21, item 5), each reproduced as a runtime meets it: a GC running beside
//! a DEL, a full data directory, an ADD without CAP_NET_ADMIN, a host whose
//! default disables IPv6.
//!
//! Run: cargo test --features test-hooks --test resilience

mod common;

use common::*;
use serde_json::json;
use std::process::Command;

/// Only lock files are left in the world's dataDir: no record, no claim.
fn assert_nothing_recorded(w: &World) {
    let left: Vec<String> = data_entries(w).into_iter().filter(|n| !n.ends_with(".lock")).collect();
    assert!(left.is_empty(), "left in the dataDir: {left:?}");
}

/// A GC lists the records, and a DEL removes one before GC reads it (the
/// test hook holds GC right after it listed the names). The record that
/// vanished is no error: its DEL finished the job.
#[test]
fn a_record_that_vanishes_under_gc_is_no_error() {
    let w = World::new();
    w.host_veth("h1", true);
    w.host_veth("h2", true);
    w.attach("h1", "eth0");
    w.run(&w.env("ADD", "net1"), &w.config("1.0.0", "h2")).assert_ok();
    let valid = json!([{"containerID": w.id, "ifname": "eth0"}, {"containerID": w.id, "ifname": "net1"}]);
    let gc_conf = conf(&w, "1.1.0", "h1", json!({"cni.dev/valid-attachments": valid}));
    let (gc, go) = w.spawn_paused("list-after-names", &plain_env("GC"), &gc_conf);

    w.del("h1", "eth0").assert_ok();
    std::fs::write(&go, "").unwrap();
    let (st, out) = finish(gc);
    assert!(st.success(), "GC: {out:#?}");
    assert_eq!(records(&w).len(), 1, "{:#?}", records(&w));
}

/// DEL on a data directory whose file system is full: a tiny tmpfs mounted
/// inside the test's temp dir, in a private mount namespace that only this
/// DEL sees (unmounted when it ends). Writing the `removing` phase needs
/// new space; bringing the interface home and removing its record do not.
#[test]
fn del_with_a_full_data_dir_brings_the_interface_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    w.attach("h1", "eth0");
    let full = w.tmp.join("full");
    std::fs::create_dir(&full).unwrap();
    let listing = w.tmp.join("listing");
    let script = r#"
        mount -t tmpfs -o size=256k,mode=0700 hdfull "$1" || exit 90
        trap 'umount "$1"' EXIT
        cp -a "$2"/. "$1"/ || exit 91
        dd if=/dev/zero of="$1/filler" bs=4k 2>/dev/null
        ip netns exec "$3" "$4"
        rc=$?
        ls -A "$1" > "$5"
        exit $rc
    "#;
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]);
    cmd.args([full.to_str().unwrap(), &w.data_dir(), &w.host.name, BIN, listing.to_str().unwrap()]);
    let del_conf = conf(&w, "1.0.0", "h1", json!({"dataDir": full}));
    let (_, out) = common::finish(spawn_command(cmd, &w.env("DEL", "eth0"), &del_conf));
    out.assert_ok();
    let warning = format!("the data directory {} is full", full.display());
    assert!(out.stderr.contains(&warning), "DEL says the step went unrecorded: {out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    let left = std::fs::read_to_string(&listing).unwrap();
    let kept = |n: &str| n == "filler" || n.ends_with(".lock") || STORE_FILES.contains(&n);
    assert!(left.lines().all(kept), "left on the full dataDir: {left}");
    assert!(!full.join("filler").exists(), "the tmpfs was not private to the DEL");
}

/// An ADD without CAP_NET_ADMIN cannot move anything: it fails, and
/// leaves no record or claim that would refuse the device to another pod.
#[test]
fn an_add_that_moved_nothing_leaves_no_claim() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let mut cmd = Command::new("timeout");
    cmd.args(["60", "ip", "netns", "exec", &w.host.name]);
    cmd.args(["setpriv", "--inh-caps=-net_admin", "--bounding-set=-net_admin", BIN]);
    let (_, out) = common::finish(spawn_command(cmd, &w.env("ADD", "eth0"), &w.config("1.0.0", "h1")));
    assert_ne!(out.code, 0, "an ADD without CAP_NET_ADMIN succeeded: {out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_nothing_recorded(&w);

    let other = Netns::new(format!("{}-other", w.id));
    let out = w.run(&env_for("ADD", "other", &other.path(), "eth0"), &w.config("1.0.0", "h1"));
    out.assert_ok();
    assert!(link(&other.name, "eth0").is_some());
}

/// The same with a record written before records kept the device's
/// sysctls (no `sysctls`): nothing puts `disable_ipv6` back but DEL's own
/// answer to the kernel refusing IPv6 addresses (EACCES), which enables it.
#[test]
fn del_enables_ipv6_for_a_record_without_sysctls() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    set_sysctl(&w.host.name, "ipv6/conf/default/disable_ipv6", "1");
    w.attach("h1", "eth0");
    let (name, mut rec) = records(&w).pop().expect("a record");
    rec.as_object_mut().unwrap().remove("sysctls").expect("the record keeps sysctls");
    std::fs::write(std::path::Path::new(&w.data_dir()).join(name), rec.to_string()).unwrap();

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The host's default disables IPv6 (its own namespace only, here): the
/// kernel resets a device's sysctls to the defaults when it moves, so h1
/// comes home with IPv6 disabled. DEL enables it on h1, as ADD does in a
/// container, and h1's IPv6 address comes back.
#[test]
fn del_enables_ipv6_on_the_device_it_brings_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    assert!(before.addrs.iter().any(|a| a.contains(':')), "{before:?}");
    set_sysctl(&w.host.name, "ipv6/conf/default/disable_ipv6", "1");
    w.attach("h1", "eth0");

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}
