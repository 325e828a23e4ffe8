//! Crashes: the plugin SIGKILLed at every fail point of ADD and DEL (a
//! `--features test-hooks` build kills itself where HOSTDEV_FAILPOINT
//! says), then recovered by the runtime's DEL or GC: the host interface is
//! back exactly as it was, a second DEL is harmless. Also two crashes in a
//! row, a crash then the container's death, a crash record that still
//! claims the device, and GC sparing what the runtime still lists.
//!
//! Run: cargo test --features test-hooks --test crash

mod common;

use common::*;
use serde_json::json;

/// Crashes ADD (or, for del-* points, DEL after a clean ADD) at `point`,
/// checks where the crash left things, recovers with a plain DEL or a GC,
/// and checks the host interface is back exactly as it was.
fn crash_and_recover(point: &str, recover: Recover, up: bool) {
    let w = World::new();
    let before = w.host_veth("h1", up);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let extra = if point == "add-after-ipam" { json!({"ipam": static_ipam("192.0.2.10/24")}) } else { json!({}) };
    let cfg = conf(&w, "1.0.0", "h1", extra);
    w.crash_at(point, &cfg);

    // Where the crash left things: proves the point is where its name says.
    let rec = only_record(&w, &w.id, "eth0");
    let phase = rec["phase"].as_str().unwrap_or("");
    let in_ctr = link(&w.ctr.name, "eth0");
    let on_host = link(&w.host.name, "h1");
    match point {
        "add-after-record" => {
            assert_eq!(phase, "adding");
            assert_eq!(on_host.as_ref(), Some(&before), "nothing moved yet");
        }
        "add-after-move" => {
            assert_eq!(phase, "adding");
            assert!(on_host.is_none() && in_ctr.is_some(), "moved, not configured: {in_ctr:?}");
        }
        "add-after-addresses" => {
            assert_eq!(phase, "adding");
            assert_eq!(in_ctr.expect("eth0 in container").addrs, before.addrs);
        }
        "add-after-ipam" => {
            assert_eq!(phase, "adding");
            let inside = in_ctr.expect("eth0 in container");
            assert!(inside.addrs.contains("192.0.2.10/24"), "IPAM address not applied: {inside:?}");
        }
        "del-after-record" => {
            assert_eq!(phase, "removing");
            assert!(in_ctr.is_some() && on_host.is_none());
        }
        "del-before-move" => {
            assert_eq!(phase, "removing");
            assert!(link(&w.ctr.name, "eth0").is_some() && on_host.is_none(), "found in the container, not yet moved");
        }
        "del-after-move" => {
            assert_eq!(phase, "removing");
            assert!(on_host.is_some(), "h1 is home, not yet restored");
        }
        "del-after-restore" => {
            assert_eq!(phase, "removing");
            assert_eq!(on_host.as_ref(), Some(&before), "restored, record not yet dropped");
        }
        other => panic!("unknown fail point {other}"),
    }
    assert_eq!(rec["host"]["name"], "h1", "record snapshot: {rec:#}");

    match recover {
        Recover::Del => {
            let out = w.run(&w.env("DEL", "eth0"), &cfg);
            assert!(out.status.success(), "DEL after a crash at {point} failed: {out:#?}");
        }
        Recover::Gc => {
            run_gc(&w, "h1").assert_ok();
        }
    }
    w.assert_home(&before, &host_names, &ctr_names, &format!("{recover:?} after crash at {point}"));

    // And a second DEL is harmless.
    let out = w.run(&w.env("DEL", "eth0"), &cfg);
    assert!(out.status.success(), "second DEL after {point}: {out:#?}");
    w.assert_home(&before, &host_names, &ctr_names, &format!("second DEL after {point}"));
}

macro_rules! fail_point_tests {
    ($($name:ident: $point:literal, $recover:ident, $up:literal;)*) => {
        $(
            #[test]
            fn $name() {
                crash_and_recover($point, Recover::$recover, $up);
            }
        )*
    };
}

fail_point_tests! {
    crash_add_after_record_then_del: "add-after-record", Del, true;
    crash_add_after_move_then_del: "add-after-move", Del, true;
    crash_add_after_addresses_then_del: "add-after-addresses", Del, true;
    crash_add_after_ipam_then_del: "add-after-ipam", Del, true;
    crash_del_after_record_then_del: "del-after-record", Del, true;
    crash_del_before_move_then_del: "del-before-move", Del, true;
    crash_del_after_move_then_del: "del-after-move", Del, true;
    crash_del_after_restore_then_del: "del-after-restore", Del, true;

    crash_add_after_record_then_gc: "add-after-record", Gc, true;
    crash_add_after_move_then_gc: "add-after-move", Gc, true;
    crash_add_after_addresses_then_gc: "add-after-addresses", Gc, true;
    crash_add_after_ipam_then_gc: "add-after-ipam", Gc, true;
    crash_del_after_record_then_gc: "del-after-record", Gc, true;
    crash_del_before_move_then_gc: "del-before-move", Gc, true;
    crash_del_after_move_then_gc: "del-after-move", Gc, true;
    crash_del_after_restore_then_gc: "del-after-restore", Gc, true;

    // A link that was down must come back down.
    crash_add_after_move_down_then_del: "add-after-move", Del, false;
    crash_add_after_addresses_down_then_del: "add-after-addresses", Del, false;
    crash_del_after_move_down_then_del: "del-after-move", Del, false;
    crash_del_before_move_down_then_gc: "del-before-move", Gc, false;
}

/// GC leaves alone an attachment the runtime still lists, even one whose
/// ADD crashed, and collects it once it is no longer listed.
#[test]
fn gc_spares_valid_attachments() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("h1", "eth0");
    let env = plain_env("GC");
    let keep = conf(&w, "1.1.0", "h1", json!({"cni.dev/valid-attachments": [{"containerID": w.id, "ifname": "eth0"}]}));
    let out = w.run(&env, &keep);
    out.assert_ok();
    assert!(link(&w.ctr.name, "eth0").is_some(), "GC took a valid attachment");
    assert_eq!(only_phase(&w), "attached");
    run_gc(&w, "h1").assert_ok();
    w.assert_home(&before, &host_names, &ctr_names, "GC of a stale attachment");
}

/// Two crashes in a row (ADD after the move, then the recovering DEL after
/// its own move), then a plain DEL: still nothing lost.
#[test]
fn crash_in_add_then_crash_in_recovering_del() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    for (command, point) in [("ADD", "add-after-addresses"), ("DEL", "del-before-move"), ("DEL", "del-after-move")] {
        w.killed_at(point, w.env(command, "eth0"), &cfg);
        assert_eq!(records(&w).len(), 1, "after the crash at {point}");
    }
    w.del("h1", "eth0").assert_ok();
    w.assert_home(&before, &host_names, &ctr_names, "after two crashes");
}

/// ADD crashed after the move, and the container died before anyone
/// called DEL; the kernel returned the (physical) interface to the host.
#[test]
fn crash_after_move_then_container_dies_then_del() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    w.crash_at("add-after-addresses", &w.config("1.0.0", "h1"));
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]);
    let netns_path = w.ctr.path();
    w.ctr.delete();
    let out = w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A record left by a crashed ADD still claims the device: another
/// container's ADD is refused cleanly until GC collects the stale one.
#[test]
fn stale_record_blocks_other_containers_until_gc() {
    let w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let cfg = w.config("1.0.0", "h1");
    w.crash_at("add-after-record", &cfg);
    assert_eq!(link(&w.host.name, "h1").as_ref(), Some(&before));

    let out = w.run(&env_for("ADD", "second", &other.path(), "eth0"), &cfg);
    out.assert_err(102);
    assert!(out.json["msg"].as_str().unwrap().contains("h1"), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1").as_ref(), Some(&before), "a refused ADD moved h1");
    assert!(link(&other.name, "eth0").is_none());

    let keep =
        conf(&w, "1.1.0", "h1", json!({"cni.dev/valid-attachments": [{"containerID": "second", "ifname": "eth0"}]}));
    let gc_env = plain_env("GC");
    let out = w.run(&gc_env, &keep);
    assert!(out.status.success(), "{out:#?}");
    assert!(records(&w).is_empty(), "GC kept the stale record: {:#?}", records(&w));
    let out = w.run(&env_for("ADD", "second", &other.path(), "eth0"), &cfg);
    assert!(out.status.success(), "ADD after GC: {out:#?}");
    let out = w.run(&env_for("DEL", "second", &other.path(), "eth0"), &cfg);
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
}

/// The container changed the MAC, then DEL died right after the move home
/// (before the restore): the next DEL still recognises the interface on the
/// host by its original index and name, and gives it back its own MAC.
#[test]
fn crash_after_move_home_with_mac_changed_in_container() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    w.attach("h1", "eth0");
    ip(&w.ctr.name, &["link", "set", "dev", "eth0", "address", "02:00:00:00:be:ef"]);
    w.killed_at("del-after-move", w.env("DEL", "eth0"), &cfg);
    assert_eq!(link(&w.host.name, "h1").map(|l| l.mac), Some("02:00:00:00:be:ef".to_string()), "home, not restored");
    let out = w.run(&w.env("DEL", "eth0"), &cfg);
    assert!(out.status.success(), "DEL after the crash: {out:#?}");
    w.assert_home(&before, &host_names, &ctr_names, "after the crash with a changed MAC");
    assert!(records(&w).is_empty());
}
