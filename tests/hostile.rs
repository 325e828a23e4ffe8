//! A hostile container: it has CAP_NET_ADMIN in its own namespace and
//! deletes, re-creates (at a chosen index), re-MACs, adds altnames to and
//! moves links there, and makes namespaces of its own. The host takes back
//! only what it gave (identity the container cannot forge: here, the veth's
//! host-side peer), a record is dropped only on proof that nothing is left
//! to restore, and no command runs against a half-done ADD.
//!
//! Run: cargo test --features test-hooks --test hostile

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;

// ------------------------------------------------------------------ helpers

fn without(names: &BTreeSet<String>, gone: &[&str]) -> BTreeSet<String> {
    names.iter().filter(|n| !gone.contains(&n.as_str())).cloned().collect()
}

fn with(names: &BTreeSet<String>, added: &[&str]) -> BTreeSet<String> {
    names.iter().cloned().chain(added.iter().map(|s| s.to_string())).collect()
}

/// Deletes the world's container namespace and waits until the veth that
/// was in it died, which takes its host-side peer `h1p` (the anchor) along.
fn kill_container(w: &mut World) -> String {
    let path = w.ctr.path();
    w.ctr.delete();
    assert!(wait_until(60, || link(&w.host.name, "h1p").is_none()), "h1p survived its peer's namespace");
    path
}

/// A world with h1 attached as eth0: h1 as it was, and the host's and the
/// container's link names before ADD.
fn attached_world() -> (World, Link, BTreeSet<String>, BTreeSet<String>) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("h1", "eth0");
    (w, before, host_names, ctr_names)
}

// ------------------------------------------- 1. the host takes back only what it gave

/// The container deletes eth0 (its host-side peer dies with it) and makes
/// a veth of its own at the same index. DEL without CNI_NETNS must not pull
/// that one into the host: it would be a cable from the container into the
/// host's namespace.
#[test]
fn impostor_at_the_same_index_stays_in_the_container() {
    let (w, _, host_names, ctr_names) = attached_world();
    let index = ifindex(&w.ctr.name, "eth0").to_string();
    ip(&w.ctr.name, &["link", "del", "eth0"]);
    plant_impostor(&w, &index);

    let out = w.run(&env_for("DEL", &w.id, "", "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "DEL: {out:#?}");
    assert_impostor_stayed(&w, &host_names, &ctr_names);
}

/// The container makes veth `evil` (peer `evilpeer`) at `index`.
fn plant_impostor(w: &World, index: &str) {
    ip(&w.ctr.name, &["link", "add", "evil", "index", index, "type", "veth", "peer", "name", "evilpeer"]);
    assert_eq!(ifindex(&w.ctr.name, "evil").to_string(), index);
}

/// h1 died with its peer (which is proof: no record is left), and the
/// impostor stayed in the container: the host gained nothing.
fn assert_impostor_stayed(w: &World, host_names: &BTreeSet<String>, ctr_names: &BTreeSet<String>) {
    assert_eq!(link_names(&w.host.name), without(host_names, &["h1", "h1p"]), "the host gained a link");
    assert_eq!(link_names(&w.ctr.name), with(ctr_names, &["evil", "evilpeer"]), "container links");
    assert!(records(w).is_empty(), "{:#?}", records(w));
}

/// ADD of h1 as eth0, held right before the move while `meanwhile` runs,
/// then let go: its outcome.
fn add_racing_the_move(w: &World, meanwhile: impl FnOnce()) -> Out {
    let (add, go) = w.spawn_paused("add-before-move", &w.env("ADD", "eth0"), &w.config("1.0.0", "h1"));
    meanwhile();
    std::fs::write(&go, "").unwrap();
    finish(add).1
}

/// The container makes an interface named CNI_IFNAME after ADD looked for
/// one and before the move: the kernel moves the device, then refuses the
/// new name with EEXIST (the single message is not one transaction). ADD
/// fails naming the clash, and the device it moved comes home as it was.
#[test]
fn a_name_taken_in_the_container_during_the_move_brings_the_device_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let (host_names, ctr_names) = (link_names(&w.host.name), link_names(&w.ctr.name));
    let out = add_racing_the_move(&w, || {
        ip(&w.ctr.name, &["link", "add", "eth0", "type", "veth", "peer", "name", "sneak"]);
    });
    assert_ne!(out.code, 0, "ADD succeeded over the container's eth0: {out:#?}");
    assert!(out.json["msg"].as_str().unwrap_or("").contains("eth0"), "{out:#?}");
    w.assert_home(&before, &host_names, &with(&ctr_names, &["eth0", "sneak"]), "after the taken name");
}

/// The move refused outright (the container holds both the device's name
/// and CNI_IFNAME, made between ADD's look and the move), with the device
/// renamed on the host meanwhile: it is no longer as ADD claimed it, so the
/// failed ADD puts it back as it was, under its own name.
#[test]
fn a_move_refused_outright_after_a_rename_leaves_the_host_as_it_was() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let (host_names, ctr_names) = (link_names(&w.host.name), link_names(&w.ctr.name));
    let out = add_racing_the_move(&w, || {
        ip(&w.host.name, &["link", "set", "h1", "name", "h1x"]);
        ip(&w.ctr.name, &["link", "add", "eth0", "type", "veth", "peer", "name", "h1x"]);
    });
    assert_ne!(out.code, 0, "ADD succeeded over the container's eth0: {out:#?}");
    w.assert_home(&before, &host_names, &with(&ctr_names, &["eth0", "h1x"]), "after the refused move");
}

/// The container's namespace is deleted and one is made under the same
/// name, with a link at the index eth0 had. GC must leave it there.
#[test]
fn link_in_a_recreated_namespace_stays_there() {
    let (mut w, _, host_names, ctr_names) = attached_world();
    let index = ifindex(&w.ctr.name, "eth0").to_string();
    let name = w.ctr.name.clone();
    kill_container(&mut w);
    w.ctr = Netns::new(name);
    plant_impostor(&w, &index);

    run_gc(&w, "h1").assert_ok();
    assert_impostor_stayed(&w, &host_names, &ctr_names);
}

/// h1 died with its namespace; a host veth made meanwhile with h1's MAC is
/// not h1: DEL neither renames nor re-addresses it.
#[test]
fn host_link_with_the_same_mac_is_not_claimed() {
    let (mut w, before, host_names, _) = attached_world();
    ip(&w.host.name, &["link", "add", "sq", "type", "veth", "peer", "name", "sqp"]);
    ip(&w.host.name, &["link", "set", "sq", "address", &before.mac]);
    let squatter = link(&w.host.name, "sq").unwrap();
    let path = kill_container(&mut w);

    let out = w.run(&env_for("DEL", &w.id, &path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "DEL: {out:#?}");
    assert_eq!(link(&w.host.name, "sq"), Some(squatter), "the squatter was renamed or re-addressed");
    assert_eq!(link_names(&w.host.name), with(&without(&host_names, &["h1", "h1p"]), &["sq", "sqp"]));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A host veth made after ADD with h1's name and MAC: the real h1 comes
/// home parked as hdpark<index>, the squatter keeps its own state, and the
/// record stays parked.
#[test]
fn squatter_with_name_and_mac_is_left_alone_and_h1_parks() {
    let (w, before, _, ctr_names) = attached_world();
    let index = before_index(&w, &before);
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    ip(&w.host.name, &["link", "set", "h1", "address", &before.mac]);
    let squatter = link(&w.host.name, "h1").unwrap();

    w.del("h1", "eth0").assert_ok();
    let parked = format!("hdpark{index}");
    assert_eq!(
        link(&w.host.name, &parked),
        Some(Link { name: parked.clone(), ..before.clone() }),
        "h1 not parked and restored; host links: {:?}",
        link_names(&w.host.name)
    );
    assert_eq!(link(&w.host.name, "h1"), Some(squatter), "the squatter was touched");
    assert_eq!(link_names(&w.ctr.name), ctr_names, "left in the container");
    assert_eq!(only_phase(&w), "parked");
}

/// h1's host index, read from ADD's record (h1 is in the container now).
fn before_index(w: &World, before: &Link) -> u64 {
    let rec = only_record(w, &w.id, "eth0");
    assert_eq!(rec["host"]["mac"], before.mac.as_str(), "{rec:#}");
    rec["host"]["index"].as_u64().expect("host.index in the record")
}

// ------------------------------------------- 2. records dropped only on proof

/// The container gives eth0 an altname that names a host interface: the
/// move home would fail with EEXIST. DEL drops that altname first.
#[test]
fn foreign_altname_added_in_the_container_is_dropped() {
    let w = World::new();
    ip(&w.host.name, &["link", "add", "hostname0", "type", "veth", "peer", "name", "hostname0p"]);
    let other = link(&w.host.name, "hostname0").unwrap();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("h1", "eth0");
    ip(&w.ctr.name, &["link", "property", "add", "dev", "eth0", "altname", "hostname0"]);

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 not home with its own altnames");
    assert_eq!(link(&w.host.name, "hostname0"), Some(other));
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// Both h1 and hdpark<index> are taken on the host: h1 comes home under
/// another parking name (hdp...), and the record stays parked.
#[test]
fn taken_parking_name_falls_back_to_another() {
    let (w, before, _, ctr_names) = attached_world();
    let parked = format!("hdpark{}", before_index(&w, &before));
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    ip(&w.host.name, &["link", "add", &parked, "type", "veth", "peer", "name", "sq2p"]);
    let squatters = [link(&w.host.name, "h1").unwrap(), link(&w.host.name, &parked).unwrap()];
    let names = link_names(&w.host.name);

    w.del("h1", "eth0").assert_ok();
    let new: Vec<String> = link_names(&w.host.name).difference(&names).cloned().collect();
    assert_eq!(new.len(), 1, "h1 did not come home: new host links {new:?}; container {:?}", link_names(&w.ctr.name));
    let name = &new[0];
    assert!(name.starts_with("hdp"), "parked as {name}");
    assert_eq!(link(&w.host.name, name), Some(Link { name: name.clone(), ..before.clone() }));
    for s in squatters {
        let name = s.name.clone();
        assert_eq!(link(&w.host.name, &name), Some(s), "a squatter was touched");
    }
    assert_eq!(link_names(&w.ctr.name), ctr_names, "left in the container");
    assert_eq!(only_phase(&w), "parked");
}

/// The container moves eth0 into a namespace of its own. The veth's peer
/// on the host names that namespace (by the host's nsid for it), which the
/// kernel reports, not the container; hostdev finds the namespace with that
/// nsid through what holds it (here a bind mount) and brings h1 home from
/// there at once: "wherever it is" includes where the container put it.
#[test]
fn interface_moved_into_a_nested_namespace_comes_home_from_there() {
    let (w, before, host_names, ctr_names) = attached_world();
    let nested = Netns::new(format!("{}-nest", w.id));
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &nested.name]);

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert_eq!(link_names(&nested.name), BTreeSet::from(["lo".to_string()]));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The nested namespace outlives the container's: DEL with the container's
/// path gone still finds h1 through its peer's nsid.
#[test]
fn interface_in_a_nested_namespace_comes_home_after_the_container_died() {
    let (mut w, before, host_names, _) = attached_world();
    let nested = Netns::new(format!("{}-nest", w.id));
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &nested.name]);
    let path = w.ctr.path();
    w.ctr.delete();

    let out = w.run(&env_for("DEL", &w.id, &path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(link(&nested.name, "eth0").is_none());
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The container moves eth0 into a namespace that only a socket holds: it
/// is alive and out of reach. DEL fails with 110 and keeps the record.
#[test]
fn interface_in_an_unreachable_nested_namespace_fails_110() {
    let (w, _, _, _) = attached_world();
    let mut nested = Netns::new(format!("{}-nest", w.id));
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &nested.name]);
    let _holder = SocketHolder::new(&nested.path());
    nested.delete();

    let out = w.del("h1", "eth0");
    out.assert_err(110);
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains("h1") && msg.contains("another network namespace"), "{msg}");
    assert_eq!(records(&w).len(), 1, "the record must stay");
}

/// ADD is killed after the move (the record has no container index yet),
/// then the container changes the interface's MAC: DEL or GC still finds
/// it (by its anchor) and brings it home.
fn crash_after_move_then_mac_changed(recover: Recover) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.crash_at("add-after-move", &w.config("1.0.0", "h1"));
    assert!(link(&w.ctr.name, "eth0").is_some(), "not moved: {:?}", link_names(&w.ctr.name));
    ip(&w.ctr.name, &["link", "set", "dev", "eth0", "address", "02:00:00:00:be:ef"]);

    match recover {
        Recover::Del => w.del("h1", "eth0").assert_ok(),
        Recover::Gc => run_gc(&w, "h1").assert_ok(),
    };
    assert_eq!(link(&w.host.name, "h1"), Some(before), "{recover:?}: h1 not home as it was");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

#[test]
fn crash_after_move_then_mac_changed_then_del() {
    crash_after_move_then_mac_changed(Recover::Del);
}

#[test]
fn crash_after_move_then_mac_changed_then_gc() {
    crash_after_move_then_mac_changed(Recover::Gc);
}

// ------------------------------------------- 3. no command runs against a half-done ADD

/// The world's 1.1.0 config for h1 with `held` as its IPAM, and `extra` keys.
fn held_conf(w: &World, held: &HeldIpam, mut extra: Value) -> String {
    extra["ipam"] = held.ipam();
    conf(w, "1.1.0", "h1", extra)
}

/// A GC of the network and a DEL of another attachment run while ADD is in
/// IPAM: GC skips the attachment mid-ADD, and ADD's result is true.
#[test]
fn gc_during_add_skips_the_attachment() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let held = HeldIpam::new(&w);
    let add = w.spawn(&HeldIpam::env(w.env("ADD", "eth0")), &held_conf(&w, &held, json!({})));
    held.wait_started();
    let gc = held_conf(&w, &held, json!({"cni.dev/valid-attachments": []}));
    let gc_out = w.run(&HeldIpam::env(plain_env("GC")), &gc);
    let other = HeldIpam::env(env_for("DEL", "other-ctr", &w.ctr.path(), "net9"));
    let other_out = w.run(&other, &held_conf(&w, &held, json!({})));
    held.release();
    let (add_st, add_out) = finish(add);
    assert!(gc_out.status.success(), "GC: {gc_out:#?}");
    assert!(other_out.status.success(), "DEL of another attachment: {other_out:#?}");
    assert!(add_st.success(), "ADD: {add_out:#?}");
    let inside = link(&w.ctr.name, "eth0").unwrap_or_else(|| panic!("ADD said eth0, GC took it: {add_out:#?}"));
    assert_eq!(inside.mac, before.mac);
    assert!(inside.addrs.contains("192.0.2.77/24"), "{inside:?}");
    assert!(link(&w.host.name, "h1").is_none());
    assert_eq!(only_phase(&w), "attached");

    let check = held_conf(&w, &held, json!({"prevResult": add_out.json}));
    let out = w.run(&HeldIpam::env(w.env("CHECK", "eth0")), &check);
    assert!(out.status.success(), "CHECK against ADD's result: {out:#?}");

    let out = w.run(&HeldIpam::env(w.env("DEL", "eth0")), &held_conf(&w, &held, json!({})));
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

/// A DEL of the same attachment started while ADD is in IPAM waits for the
/// ADD (it says so in its log before ADD is let go), then brings the
/// interface home.
#[test]
fn del_during_add_waits_then_brings_it_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let held = HeldIpam::new(&w);
    let add = w.spawn(&HeldIpam::env(w.env("ADD", "eth0")), &held_conf(&w, &held, json!({})));
    held.wait_started();
    let log = w.tmp.join("del.log");
    let del_conf = held_conf(&w, &held, json!({"logFile": log, "logLevel": "info"}));
    let del = w.spawn(&HeldIpam::env(w.env("DEL", "eth0")), &del_conf);
    wait_for_log(&log, "the attachment is busy");
    held.release();
    let (add_st, add_out) = finish(add);
    let (del_st, del_out) = finish(del);
    assert!(add_st.success(), "ADD: {add_out:#?}");
    assert!(del_st.success(), "DEL: {del_out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 not home after the DEL");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A tap trusted to the container, which renamed it: nothing has its
/// kind, name and MAC, so DEL does not take anything back, keeps the record
/// as lost and says why, and STATUS names it in the log while it stays
/// successful.
#[test]
fn unprovable_tap_stays_lost_and_status_names_it() {
    let w = World::new();
    ip(&w.host.name, &["tuntap", "add", "dev", "tp1", "mode", "tap"]);
    let host_names = link_names(&w.host.name);
    w.run(&w.env("ADD", "eth0"), &trusting(&w, "tp1")).assert_ok();
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "tpx"]);

    let started = std::time::Instant::now();
    let out = w.run(&env_for("DEL", &w.id, &w.ctr.path(), "eth0"), &trusting(&w, "tp1"));
    assert!(out.status.success(), "DEL of a lost device is not a failure: {out:#?}");
    // Only a physical device is waited for (on its way back from a dying
    // namespace, for 3 s): nothing brings a tap back.
    let took = started.elapsed();
    assert!(took < Duration::from_millis(2500), "DEL waited {took:?} for a tap");
    assert!(link(&w.ctr.name, "tpx").is_some(), "the renamed tap was taken back");
    assert_eq!(link_names(&w.host.name), without(&host_names, &["tp1"]), "the host gained or lost links");
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["phase"], "lost", "record: {rec:#}");
    assert!(rec["lost"].as_str().unwrap_or("").contains("tp1"), "the record says why: {rec:#}");

    let status = conf(&w, "1.1.0", "tp1", json!({"logLevel": "warn"}));
    let out = w.run(&plain_env("STATUS"), &status);
    assert!(out.status.success(), "a lost interface does not make the network unready: {out:#?}");
    assert!(out.stderr.contains("tp1") && out.stderr.contains("lost"), "STATUS names the lost interface: {out:#?}");
}

/// The world's config for `device`, trusting the container with it.
fn trusting(w: &World, device: &str) -> String {
    conf(w, "1.0.0", device, json!({"unprovable": "trustContainer"}))
}

/// Tap tp1 attached as eth0 and lost by DEL (the container renamed it);
/// the container deletes it, and h1 is attached under the same key.
/// Returns the tap's host index.
fn lost_tap_then_h1(w: &World) -> String {
    ip(&w.host.name, &["tuntap", "add", "dev", "tp1", "mode", "tap"]);
    let tap_index = ifindex(&w.host.name, "tp1").to_string();
    w.run(&w.env("ADD", "eth0"), &trusting(w, "tp1")).assert_ok();
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "tpx"]);
    let out = w.run(&env_for("DEL", &w.id, &w.ctr.path(), "eth0"), &trusting(w, "tp1"));
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(only_phase(w), "lost");
    ip(&w.ctr.name, &["link", "del", "tpx"]);
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    tap_index
}

/// A lost record does not block its attachment for good: podman reuses a
/// container's id, and the runtime's DEL of the lost one succeeded.
#[test]
fn a_lost_record_gives_way_to_a_new_add_of_its_attachment() {
    let w = World::new();
    lost_tap_then_h1(&w);
    assert_eq!(only_phase(&w), "attached");
    assert_eq!(only_record(&w, &w.id, "eth0")["host"]["name"], "h1");
}

/// A lost record's claim outlives it when a new ADD under its key takes
/// another device. That claim is stale: a device that now has the lost
/// one's index, even under the name the new record's device had, is free.
#[test]
fn a_claim_left_by_a_replaced_lost_record_holds_nothing() {
    let w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let tap_index = lost_tap_then_h1(&w);
    assert!(data_entries(&w).contains(&format!(".claim.if{tap_index}")), "no stale claim: {:?}", data_entries(&w));

    // A new h1 on the host, at the tap's old index.
    ip(&w.host.name, &["link", "add", "h1", "index", &tap_index, "type", "veth", "peer", "name", "h1q"]);
    let out = w.run(&env_for("ADD", "second", &other.path(), "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "a stale claim held the new h1: {out:#?}");
    assert!(link(&other.name, "eth0").is_some(), "the new h1 is not in the second container");
    assert!(link(&w.host.name, "h1").is_none(), "the new h1 stayed on the host");
}

/// GC meets two attachments it cannot bring home (the container moved both
/// into a namespace of its own that only a socket holds): it reports both,
/// with their own code (110), and keeps both records. Add an unreadable
/// record (106) and the mix is reported as 100. Once the namespace dies,
/// so do the veths, and GC drops both records.
#[test]
fn gc_reports_every_problem_with_one_code() {
    let (w, _, _, _) = attached_world();
    w.host_veth("h2", true);
    w.run(&w.env("ADD", "net1"), &w.config("1.0.0", "h2")).assert_ok();
    let mut nested = Netns::new(format!("{}-nest", w.id));
    for dev in ["eth0", "net1"] {
        ip(&w.ctr.name, &["link", "set", dev, "netns", &nested.name]);
    }
    let holder = SocketHolder::new(&nested.path());
    nested.delete();

    let out = run_gc(&w, "h1");
    out.assert_err(110);
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains("2 problem(s)") && msg.contains("h1") && msg.contains("h2"), "{msg}");
    assert_eq!(records(&w).len(), 2, "{:#?}", records(&w));

    let bogus = std::path::Path::new(&w.data_dir()).join("testnet+someone+eth9.json");
    std::fs::write(&bogus, b"{ not a record").unwrap();
    let out = run_gc(&w, "h1");
    out.assert_err(100);
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains("3 problem(s)"), "{msg}");
    std::fs::remove_file(&bogus).unwrap();

    drop(holder);
    let peers_gone = || link(&w.host.name, "h1p").is_none() && link(&w.host.name, "h2p").is_none();
    assert!(wait_until(60, peers_gone), "the veths outlived their namespace");
    run_gc(&w, "h1").assert_ok();
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

// ------------------------------------------- 3. a macvlan, proven by its lower device

/// A world with macvlan mv1 (on host veth low0, with an address) attached
/// as eth0: mv1 as it was, and the host's and the container's link names
/// before ADD.
fn macvlan_world() -> (World, Link, BTreeSet<String>, BTreeSet<String>) {
    let w = World::new();
    let h = &w.host.name;
    ip(h, &["link", "add", "low0", "type", "veth", "peer", "name", "low0p"]);
    ip(h, &["link", "add", "mv1", "link", "low0", "type", "macvlan", "mode", "bridge"]);
    ip(h, &["link", "set", "mv1", "mtu", "1400", "alias", "macvlan mv1", "up"]);
    ip(h, &["addr", "add", "10.9.0.2/24", "dev", "mv1"]);
    let before = link(h, "mv1").unwrap();
    let host_names = link_names(h);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("mv1", "eth0");
    (w, before, host_names, ctr_names)
}

/// A macvlan comes home as it was, also renamed, re-MACed and with a new
/// MTU in the container: its lower device on the host proves it.
#[test]
fn macvlan_comes_home() {
    let (w, before, host_names, ctr_names) = macvlan_world();
    ip(&w.ctr.name, &["link", "set", "eth0", "down"]);
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "renamed", "address", "02:00:00:00:be:ef", "mtu", "1300"]);
    w.del("mv1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "mv1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The container deletes the macvlan and makes its own `eth0` macvlan at
/// the same index, on a veth of its own at the index the host's lower
/// device has: the same lower index, kind, name and index, but not on the
/// host's device. DEL takes nothing, and keeps the record as lost.
#[test]
fn macvlan_impostor_on_the_same_lower_index_stays_in_the_container() {
    let (w, _, host_names, ctr_names) = macvlan_world();
    let c = &w.ctr.name;
    let index = ifindex(c, "eth0").to_string();
    let lower = ifindex(&w.host.name, "low0").to_string();
    ip(c, &["link", "del", "eth0"]);
    ip(c, &["link", "add", "lowc", "index", &lower, "type", "veth", "peer", "name", "lowcp"]);
    ip(c, &["link", "add", "eth0", "index", &index, "link", "lowc", "type", "macvlan", "mode", "bridge"]);
    let impostor = link(c, "eth0").unwrap();

    w.del("mv1", "eth0").assert_ok();
    assert_eq!(link(c, "eth0"), Some(impostor), "the impostor was touched");
    assert_eq!(link_names(c), with(&ctr_names, &["eth0", "lowc", "lowcp"]));
    assert_eq!(link_names(&w.host.name), without(&host_names, &["mv1"]), "the host gained a link");
    assert_eq!(only_phase(&w), "lost");
}

/// The container deletes the macvlan; the host has one of its own on the
/// same lower device, which shares no name, index or MAC with it. DEL must
/// not take the host's macvlan for the lost one.
#[test]
fn host_macvlan_on_the_same_lower_is_not_taken_for_a_lost_one() {
    let (w, _, host_names, _) = macvlan_world();
    ip(&w.host.name, &["link", "add", "mv2", "link", "low0", "type", "macvlan", "mode", "bridge"]);
    let other = link(&w.host.name, "mv2").unwrap();
    ip(&w.ctr.name, &["link", "del", "eth0"]);

    w.del("mv1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "mv2"), Some(other), "the host's own macvlan was renamed or re-addressed");
    assert_eq!(link_names(&w.host.name), with(&without(&host_names, &["mv1"]), &["mv2"]));
    assert_eq!(only_phase(&w), "lost");
}

/// The container renamed the interface to `evil0`: DEL renames it home
/// inside the container first, so the host never sees a link by the
/// container's name, not even for an instant (a host daemon could act on
/// it). Watched with `ip monitor link` on the host, bracketed by marker
/// links so that no event is missed.
#[test]
fn host_never_sees_the_container_side_name() {
    let (w, before, host_names, _) = attached_world();
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "evil0"]);
    let log = w.tmp.join("monitor.log");
    let monitor = Monitor(
        std::process::Command::new("ip")
            .args(["-n", &w.host.name, "-o", "monitor", "link"])
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let seen = |name: &str| std::fs::read_to_string(&log).unwrap_or_default().contains(name);
    // A marker made before the monitor listens is never reported: make it
    // again until it is.
    let mark = |name: &str| {
        let reported = (0..10).any(|_| {
            ip(&w.host.name, &["link", "add", name, "type", "veth", "peer", "name", &format!("{name}p")]);
            ip(&w.host.name, &["link", "del", name]);
            wait_until(1, || seen(name))
        });
        assert!(reported, "ip monitor never reported {name}");
    };
    mark("mark0");
    w.del("h1", "eth0").assert_ok();
    mark("mark1");
    drop(monitor);
    let events = std::fs::read_to_string(&log).unwrap();
    assert!(events.contains("h1"), "no event for h1: {events}");
    assert!(!events.contains("evil0"), "the host saw the container-side name: {events}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
}

/// A child process killed and reaped when dropped, also when a test fails.
struct Monitor(std::process::Child);

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A nested namespace at host nsid 0 (the container's is 7): an id of 0
/// is a namespace like any other, found and brought home from at once.
#[test]
fn interface_in_a_nested_namespace_at_nsid_0_comes_home_at_once() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    ip(&w.host.name, &["netns", "set", &w.ctr.name, "7"]);
    w.attach("h1", "eth0");
    let nested = Netns::new(format!("{}-nest", w.id));
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &nested.name]);
    // The host gives the nested namespace an id when it first describes
    // h1p, whose peer is there. The kernel's own notice of h1p's carrier
    // comes later (linkwatch, delayed under load): describe h1p now.
    ip(&w.host.name, &["link", "show", "dev", "h1p"]);
    assert!(ip(&w.host.name, &["netns", "list-id"]).contains("nsid 0"), "the nested namespace is not at nsid 0");

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// mv1's index is taken in the container, so the kernel gives it another
/// one there; the container then renames it and changes its MAC. Only the
/// container index ADD recorded points at it: DEL still brings it home.
#[test]
fn macvlan_with_a_new_index_in_the_container_comes_home() {
    let w = World::new();
    let h = &w.host.name;
    ip(h, &["link", "add", "low0", "type", "veth", "peer", "name", "low0p"]);
    ip(h, &["link", "add", "mv1", "link", "low0", "type", "macvlan", "mode", "bridge"]);
    let before = link(h, "mv1").unwrap();
    let index = ifindex(h, "mv1").to_string();
    ip(&w.ctr.name, &["link", "add", "taken", "index", &index, "type", "veth", "peer", "name", "takenp"]);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("mv1", "eth0");
    assert_ne!(ifindex(&w.ctr.name, "eth0").to_string(), index, "the kernel kept a taken index");
    ip(&w.ctr.name, &["link", "set", "eth0", "name", "renamed", "address", "02:00:00:00:be:ef"]);

    w.del("mv1", "eth0").assert_ok();
    assert_eq!(link(h, "mv1"), Some(before));
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A parked interface was restored when it came home: coming out of
/// parking only gives it its name back. What the operator changed while it
/// waited (here its MTU and an address) stays.
#[test]
fn unparking_renames_and_keeps_what_the_operator_changed() {
    let (w, before, _, _) = attached_world();
    let index = before_index(&w, &before);
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    w.del("h1", "eth0").assert_ok();
    let parked = format!("hdpark{index}");
    ip(&w.host.name, &["link", "set", "dev", &parked, "mtu", "1300"]);
    ip(&w.host.name, &["addr", "add", "10.1.9.9/24", "dev", &parked]);
    ip(&w.host.name, &["link", "del", "h1"]);

    run_gc(&w, "h1").assert_ok();
    let home = link(&w.host.name, "h1").expect("h1 home under its own name");
    let mut addrs = before.addrs.clone();
    addrs.insert("10.1.9.9/24".into());
    assert_eq!(home, Link { mtu: 1300, addrs, ..before }, "unparking restored again");
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A process in the pod's namespace, root there, finds hostdev's netlink
/// socket in that namespace (`/proc/net/netlink` lists every port) and
/// sends it a forged reply: the kernel refuses it, as the socket is
/// connected to the kernel, and a connected netlink socket takes nothing
/// from another sender.
#[test]
fn a_process_in_the_pod_cannot_send_hostdevs_socket_a_forged_reply() {
    use std::os::fd::AsFd;
    let w = World::new();
    let pod = std::fs::File::open(w.ctr.path()).unwrap();
    let home = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
    let _ours = hostdev::netlink::Socket::open_in(pod.as_fd(), home.as_fd()).unwrap();
    let forge = r#"
import errno, socket, struct
me = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
me.bind((0, 0))
mine = me.getsockname()[0]
rows = [l.split() for l in open("/proc/net/netlink").readlines()[1:]]
for port in [int(r[2]) for r in rows if r[1] == "0" and int(r[2]) not in (0, mine)]:
    try:
        me.sendto(struct.pack("=IHHII", 16, 3, 0, 1, port), (port, 0))  # NLMSG_DONE
        print(port, "sent")
    except OSError as e:
        print(port, errno.errorcode[e.errno])
"#;
    let out = exec(&w.ctr.name, &["python3", "-c", forge]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "not one other route socket in the pod:\n{out}");
    assert!(lines[0].ends_with(" ECONNREFUSED"), "the forged reply was not refused: {out}");
}

/// A record names its sysctls by key ("ipv4.arp_ignore"), and DEL writes
/// each one back into the device's own tree. A record planted or edited in
/// dataDir with a key that climbs out of that tree must not steer a write
/// anywhere else: it is refused as corrupt, naming the key, and nothing is
/// written (here the namespace's `default` tree, one level up).
#[test]
fn a_record_whose_sysctl_key_leaves_the_devices_tree_is_refused() {
    let w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let default = "ipv4/conf/default/arp_ignore";
    let before = sysctl(&w.host.name, default);
    let (file, mut rec) = records(&w).pop().unwrap();
    rec["sysctls"]["ipv4.../default/arp_ignore"] = json!("2");
    let path = std::path::Path::new(&w.data_dir()).join(&file);
    std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let out = w.del("h1", "eth0");
    assert_eq!(sysctl(&w.host.name, default), before, "DEL wrote outside the device's tree: {out:#?}");
    out.assert_err(106);
    assert!(out.json["msg"].as_str().unwrap().contains("ipv4.../default/arp_ignore"), "{out:#?}");
}
