//! Devices nothing a container cannot forge identifies on DEL (tap,
//! macvtap, a stacked sibling in a mode of its own): a decision the config
//! makes, never a warning. Without `"unprovable"` ADD refuses them (7); with
//! `"trustContainer"` DEL brings home what has their kind, name and MAC, as
//! upstream does; with `"leaveInContainer"` DEL leaves them to the container
//! for good. A `lost` record gives way once its device is back on the host
//! and its namespace is dead.
//!
//! Run: cargo test --features test-hooks --test unprovable

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;

fn without(names: &BTreeSet<String>, gone: &[&str]) -> BTreeSet<String> {
    names.iter().filter(|n| !gone.contains(&n.as_str())).cloned().collect()
}

/// The world's 1.0.0 config for `device`, with `"unprovable": policy`.
fn decided(w: &World, device: &str, policy: &str) -> String {
    conf(w, "1.0.0", device, json!({"unprovable": policy}))
}

// ------------------------------------------- a stacked sibling forges the anchor

/// Macvlan mv1 (bridge mode, on host veth low0) attached as eth0.
fn macvlan_world() -> (World, Link, BTreeSet<String>) {
    let w = World::new();
    let h = &w.host.name;
    ip(h, &["link", "add", "low0", "type", "veth", "peer", "name", "low0p"]);
    ip(h, &["link", "add", "mv1", "link", "low0", "type", "macvlan", "mode", "bridge"]);
    ip(h, &["addr", "add", "10.9.0.2/24", "dev", "mv1"]);
    let before = link(h, "mv1").unwrap();
    let host_names = link_names(h);
    w.attach("mv1", "eth0");
    (w, before, host_names)
}

/// The container makes a sibling on eth0 (the kernel hangs it off low0, on
/// the host), deletes eth0 and gives the sibling eth0's name and MAC.
fn forge_sibling(w: &World, mac: &str, kind_and_mode: &[&str]) {
    let c = &w.ctr.name;
    ip(c, &[&["link", "add", "ev", "index", "4000", "link", "eth0", "type"][..], kind_and_mode].concat());
    ip(c, &["link", "del", "eth0"]);
    ip(c, &["link", "set", "ev", "name", "eth0", "address", mac, "up"]);
}

/// The reproduction: a private-mode sibling has every hint and the
/// lower device of mv1, but not its mode. DEL takes nothing into the host.
#[test]
fn a_macvlan_sibling_in_a_mode_of_its_own_stays_in_the_container() {
    let (w, before, host_names) = macvlan_world();
    forge_sibling(&w, &before.mac, &["macvlan", "mode", "private"]);
    let forged = link(&w.ctr.name, "eth0").unwrap();

    w.del("mv1", "eth0").assert_ok();
    assert_eq!(link(&w.ctr.name, "eth0"), Some(forged), "the sibling was taken");
    assert_eq!(link_names(&w.host.name), without(&host_names, &["mv1"]), "the host gained a link");
    assert_eq!(only_phase(&w), "lost");
}

/// A sibling alike in every attribute (kind, mode, lower, MAC) is, once on
/// the host, a plain macvlan on low0 that the container holds nothing of:
/// it is taken home as mv1, restored, and the container keeps no link on it.
#[test]
fn a_macvlan_sibling_alike_in_every_attribute_comes_home_without_a_handle() {
    let (w, before, host_names) = macvlan_world();
    forge_sibling(&w, &before.mac, &["macvlan", "mode", "bridge"]);

    w.del("mv1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "mv1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), BTreeSet::from(["lo".to_string()]));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A macvtap gives whoever opens its /dev/tapN a file descriptor on it: no
/// lower device proves it. ADD without a decision is 7, naming the key and
/// the risk, and changes nothing.
#[test]
fn a_macvtap_without_a_decision_is_refused() {
    let w = World::new();
    let h = &w.host.name;
    ip(h, &["link", "add", "low0", "type", "veth", "peer", "name", "low0p"]);
    ip(h, &["link", "add", "mt1", "link", "low0", "type", "macvtap"]);
    let (host_before, ctr_before) = (links(h), links(&w.ctr.name));

    let out = w.add("mt1", "eth0");
    out.assert_err(7);
    let msg = out.json["msg"].as_str().unwrap();
    for word in ["\"mt1\"", "macvtap", "\"unprovable\"", "trustContainer", "leaveInContainer", "file descriptor"] {
        assert!(msg.contains(word), "{word} missing: {msg}");
    }
    assert_eq!((links(h), links(&w.ctr.name)), (host_before, ctr_before));
    assert!(data_entries(&w).iter().all(|n| n.ends_with(".lock")), "{:?}", data_entries(&w));

    let bad = conf(&w, "1.0.0", "mt1", json!({"unprovable": "trust"}));
    let out = w.run(&w.env("ADD", "eth0"), &bad);
    out.assert_err(7);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains("\"unprovable\"") && msg.contains("\"trust\""), "{msg}");
}

// ------------------------------------------- tap: trust the container, or leave it

/// A tap, tp1 on the host, and its snapshot.
fn tap_world() -> (World, Link, BTreeSet<String>) {
    let w = World::new();
    ip(&w.host.name, &["tuntap", "add", "dev", "tp1", "mode", "tap"]);
    ip(&w.host.name, &["link", "set", "tp1", "mtu", "1400", "alias", "the tap"]);
    ip(&w.host.name, &["addr", "add", "10.7.0.1/24", "dev", "tp1"]);
    let before = link(&w.host.name, "tp1").unwrap();
    let host_names = link_names(&w.host.name);
    (w, before, host_names)
}

#[test]
fn a_tap_without_a_decision_is_refused() {
    let (w, before, host_names) = tap_world();
    let out = w.add("tp1", "eth0");
    out.assert_err(7);
    assert!(out.json["msg"].as_str().unwrap().contains("\"unprovable\""), "{out:#?}");
    assert_eq!(link(&w.host.name, "tp1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// trustContainer: DEL brings home whatever is CNI_IFNAME in the container
/// with the tap's kind and MAC, as upstream would, through the one way
/// home: its name, addresses, MTU and alias back.
#[test]
fn a_trusted_tap_comes_home_by_kind_name_and_mac() {
    let (w, before, host_names) = tap_world();
    let env = w.env("ADD", "eth0");
    w.run(&env, &decided(&w, "tp1", "trustContainer")).assert_ok();
    assert_eq!(only_record(&w, &w.id, "eth0")["unprovable"], "trustContainer");
    ip(&w.ctr.name, &["link", "set", "eth0", "mtu", "1300"]);

    w.run(&w.env("DEL", "eth0"), &decided(&w, "tp1", "trustContainer")).assert_ok();
    assert_eq!(link(&w.host.name, "tp1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The decision is the one ADD recorded: a DEL whose config lacks the key
/// (or says otherwise) still does what ADD was told.
#[test]
fn del_follows_the_decision_add_recorded() {
    let (w, before, _) = tap_world();
    w.run(&w.env("ADD", "eth0"), &decided(&w, "tp1", "trustContainer")).assert_ok();
    w.del("tp1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "tp1"), Some(before));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// trustContainer, but the container renamed the tap: nothing has its
/// kind, name and MAC, so DEL succeeds and the record stays lost.
#[test]
fn a_trusted_tap_the_container_renamed_is_lost() {
    let (w, _, host_names) = tap_world();
    w.run(&w.env("ADD", "eth0"), &decided(&w, "tp1", "trustContainer")).assert_ok();
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "other"]);

    w.del("tp1", "eth0").assert_ok();
    assert!(link(&w.ctr.name, "other").is_some(), "the renamed tap was taken");
    assert_eq!(link_names(&w.host.name), without(&host_names, &["tp1"]));
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["phase"], "lost", "{rec:#}");
    assert!(rec["lost"].as_str().unwrap().contains("eth0"), "{rec:#}");
}

/// leaveInContainer: DEL leaves the tap to the container and drops the
/// record and its claim: the device is no longer the host's.
#[test]
fn a_tap_left_in_the_container_is_given_away() {
    let (w, _, host_names) = tap_world();
    w.run(&w.env("ADD", "eth0"), &decided(&w, "tp1", "leaveInContainer")).assert_ok();
    let inside = link(&w.ctr.name, "eth0").unwrap();

    let out = w.run(&w.env("DEL", "eth0"), &decided(&w, "tp1", "leaveInContainer"));
    out.assert_ok();
    assert_eq!(link(&w.ctr.name, "eth0"), Some(inside), "the tap was touched");
    assert_eq!(link_names(&w.host.name), without(&host_names, &["tp1"]));
    assert!(data_entries(&w).iter().all(|n| n.ends_with(".lock")), "{:?}", data_entries(&w));
}

/// A failed ADD brings a tap home whatever the decision: it was in the
/// container only for the moment of the ADD (here IPAM fails).
#[test]
fn a_failed_add_brings_a_tap_home_even_when_left_to_the_container() {
    let (w, before, host_names) = tap_world();
    let config = conf(&w, "1.0.0", "tp1", json!({"unprovable": "leaveInContainer", "ipam": {"type": "no-such-ipam"}}));
    let out = w.run(&w.env("ADD", "eth0"), &config);
    assert_ne!(out.code, 0, "{out:#?}");
    assert_eq!(link(&w.host.name, "tp1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

// ------------------------------------------- a lost record gives way

/// tp1 trusted, renamed in the container and so lost; the operator moves
/// it back to the host. While the container's namespace lives the lost
/// record holds it (102, naming `hostdev forget`); once the namespace is
/// dead, a new ADD of tp1 takes it and the lost record is gone.
#[test]
fn a_lost_record_gives_way_once_its_device_is_home_and_its_namespace_dead() {
    let (mut w, _, _) = tap_world();
    w.run(&w.env("ADD", "eth0"), &decided(&w, "tp1", "trustContainer")).assert_ok();
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "other"]);
    w.del("tp1", "eth0").assert_ok();
    assert_eq!(only_phase(&w), "lost");
    ip(&w.ctr.name, &["link", "set", "other", "netns", &w.host.name, "name", "tp1"]);

    let second = Netns::new(format!("{}-second", w.id));
    let add =
        |w: &World| w.run(&env_for("ADD", "second", &second.path(), "eth0"), &decided(w, "tp1", "trustContainer"));
    let out = add(&w);
    out.assert_err(102);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains("lost") && msg.contains("hostdev forget"), "{msg}");

    w.ctr.delete();
    add(&w).assert_ok();
    assert!(link(&second.name, "eth0").is_some());
    let recs = records(&w);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0].1["containerId"], "second");
}
