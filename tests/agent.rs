//! The node agent, `hostdev reconcile`: it heals, on proof only, what no
//! DEL will come for. The real binary runs as the agent inside the test's
//! host namespace (`ip netns exec`) with the test's private dataDir, and is
//! always killed at the end (`Agent`'s Drop, also when the test fails).
//! Nothing waits on a clock: a test waits for the agent's log line or for
//! the state, with a generous bound, and `--once` is a pass that has ended
//! when the process has.
//!
//! Physical NICs cannot be made here: the kernel's return of one from a
//! dead namespace is emulated by moving the veth to the host by hand
//! before the namespace is deleted (as tests/reliability.rs does);
//! scripts/vm-e2e.sh proves it with e1000 NICs.
//!
//! Run: cargo test --features test-hooks --test agent

mod common;

use common::*;
use serde_json::Value;
use std::fs::File;
use std::path::Path;
use std::process::Command;

/// Runs `hostdev reconcile --once` to its end; returns its log.
fn once(w: &World) -> String {
    let out = agent_command(w, &["--once"]).output().expect("run reconcile --once");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "reconcile --once failed: {log}");
    assert!(out.stdout.is_empty(), "reconcile wrote to stdout: {:?}", String::from_utf8_lossy(&out.stdout));
    log
}

/// `once` after a namespace's death. The kernel tears the namespace's
/// devices down after its nsid is gone; until it is done, the agent rightly
/// answers that it waits for the kernel, and its next sweep or event acts.
/// What that later pass does is what these tests look at: ask again until
/// the kernel is done.
fn once_after_death(w: &World) -> String {
    let mut said = String::new();
    let settled = wait_until(60, || {
        said = once(w);
        !said.contains("waiting for the kernel")
    });
    assert!(settled, "the kernel never finished with the dead namespace: {said}");
    said
}

/// ADD killed by the fail point `point` (built with test-hooks).
fn killed_add(w: &World, device: &str, point: &str) {
    let mut env = w.env("ADD", "eth0");
    env.insert("HOSTDEV_FAILPOINT", point.to_string());
    let (st, out) = run(&w.host.name, &env, &w.config("1.0.0", device));
    assert_killed(&st, &out, point);
}

fn phase(w: &World) -> Value {
    only_record(w, &w.id, "eth0")["phase"].clone()
}

/// No record and no claim left in the dataDir.
fn assert_no_records(w: &World) {
    let left: Vec<String> = data_entries(w).into_iter().filter(|n| !n.starts_with(".parked")).collect();
    assert!(left.iter().all(|n| n.ends_with(".lock")), "records or claims left: {left:?}");
}

/// Deletes the world's container namespace and waits until the host's nsid
/// for it is gone: the kernel has destroyed it (asynchronously).
fn delete_and_wait(w: &mut World) {
    let nsid = only_record(w, &w.id, "eth0")["nsid"].as_i64().expect("an nsid in the record");
    w.ctr.delete();
    let listed = || ip(&w.host.name, &["netns", "list-id"]).contains(&format!("nsid {nsid} "));
    assert!(wait_until(60, || !listed()), "the namespace with nsid {nsid} never died");
}

// ------------------------------------------------------------------ ADD

/// ADD gives the container's namespace an nsid in the host's and records
/// it, so that the namespace's death arrives as RTM_DELNSID.
#[test]
fn add_records_the_namespace_nsid() {
    let w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let rec = only_record(&w, &w.id, "eth0");
    let nsid = rec["nsid"].as_i64().unwrap_or_else(|| panic!("no nsid in the record: {rec:#}"));
    let ids = ip(&w.host.name, &["netns", "list-id"]);
    assert!(ids.contains(&format!("nsid {nsid} ")), "nsid {nsid} not assigned on the host: {ids}");
}

// ------------------------------------------------------------ the running agent

/// The kernel returns a NIC from a dead namespace down and bare: the
/// running agent restores it under its own name with everything it had.
#[test]
fn a_returned_device_is_restored_by_the_running_agent() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    w.attach("h1", "eth0");
    let agent = Agent::start(&w);
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]);
    w.ctr.delete();
    agent.wait_for(&w, "eth0", "healed");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 not restored: {}", agent.said());
    assert_eq!(link_names(&w.host.name), host_names);
    assert_no_records(&w);
    assert!(agent.said().contains("why="), "the log says why: {}", agent.said());
    let watching = "command=RECONCILE msg=\"the node agent is watching\"";
    assert!(agent.said().contains(watching), "the agent's own lines name it: {}", agent.said());
}

/// SIGTERM stops the agent, also after it has handled events, and it
/// says so; nothing stops it before.
#[test]
fn the_running_agent_stops_on_sigterm() {
    let mut w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let mut agent = Agent::start(&w);
    w.ctr.delete();
    agent.wait_for(&w, "eth0", "healed");
    assert!(agent.running(), "the agent exited on its own: {}", agent.said());
    let status = agent.stop().unwrap_or_else(|| panic!("SIGTERM did not stop the agent: {}", agent.said()));
    assert!(status.success(), "{status:?}: {}", agent.said());
    assert!(agent.said().contains("command=RECONCILE msg=\"the node agent stops\""), "{}", agent.said());
}

/// An ADD killed before the move leaves the device on the host and a
/// record that refuses it to every other pod: once the namespace is dead,
/// the agent finishes it as DEL would.
#[test]
fn a_killed_add_is_finished_by_the_running_agent() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    let agent = Agent::start(&w);
    killed_add(&w, "h1", "add-after-record");
    assert_eq!(phase(&w), "adding");
    w.ctr.delete();
    agent.wait_for(&w, "eth0", "healed");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_no_records(&w);
    w.host_veth("h2", true); // another pod may have it now
}

/// An ADD killed after the move: the veth died with the namespace (its
/// peer is gone: proof), and the record goes.
#[test]
fn a_killed_add_after_the_move_is_dropped_by_the_running_agent() {
    let mut w = World::new();
    w.host_veth("h1", true);
    let agent = Agent::start(&w);
    killed_add(&w, "h1", "add-after-move");
    assert_eq!(phase(&w), "adding");
    w.ctr.delete();
    agent.wait_for(&w, "eth0", "healed");
    assert!(link(&w.host.name, "h1p").is_none());
    assert_no_records(&w);
}

/// A veth whose namespace died without any DEL: the record is dropped.
#[test]
fn a_veth_whose_namespace_died_is_dropped_by_the_running_agent() {
    let mut w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let agent = Agent::start(&w);
    w.ctr.delete();
    agent.wait_for(&w, "eth0", "healed");
    assert_no_records(&w);
    let why = "why=\"the kernel announced the death of its namespace";
    assert!(agent.said().contains(why), "the death is the kernel's word: {}", agent.said());
}

/// A namespace whose path was removed while a process holds it is alive:
/// its attachment is left alone, also one whose ADD was killed, while
/// another world's dead one is healed; when the process goes, the agent
/// finishes it.
#[test]
fn a_living_namespace_is_left_alone_until_it_dies() {
    let mut alive = World::new();
    let mut dead = World::new();
    alive.host_veth("h1", true);
    dead.host_veth("h1", true);
    killed_add(&alive, "h1", "add-after-move");
    dead.attach("h1", "eth0");
    let holder = Holder::new(&alive);
    alive.ctr.delete(); // the path goes, the namespace lives
    let inside = || Command::new("nsenter").args(["-t", &holder.0.id().to_string(), "-n", "ip", "-j", "link"]).output();
    let before = inside().unwrap().stdout;
    // Both worlds' agents run; the dead world's event is seen and healed.
    let a1 = Agent::start(&alive);
    let a2 = Agent::start(&dead);
    dead.ctr.delete();
    a2.wait_for(&dead, "eth0", "healed");
    assert!(String::from_utf8_lossy(&before).contains("\"eth0\""), "eth0 in the held namespace");
    // The sweep looks at every record: the living one is left alone.
    let said = once(&alive);
    assert!(said.contains("left alone"), "{said}");
    assert_eq!(phase(&alive), "adding", "{said}");
    assert_eq!(inside().unwrap().stdout, before, "the agent touched the living namespace");
    drop(holder);
    a1.wait_for(&alive, "eth0", "healed");
    assert_no_records(&alive);
}

// ------------------------------------------------------------------ --once

/// Attaches a new veth `h1` (up or not) as eth0, then the container hands
/// it back to the node under another name, as a runtime's cleanup might:
/// the host link as it was before ADD.
fn returned_as_dev9(w: &World, up: bool) -> Link {
    let before = w.host_veth("h1", up);
    w.attach("h1", "eth0");
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name, "name", "dev9"]);
    before
}

#[test]
fn once_restores_a_returned_device() {
    let mut w = World::new();
    let before = returned_as_dev9(&w, false);
    delete_and_wait(&mut w);
    let said = once_after_death(&w);
    assert!(said.contains("msg=healed"), "{said}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "{said}");
    assert_no_records(&w);
}

/// A device the agent brings home while a host link holds its name is
/// parked (`hdpark<index>`), and the log says so. A parked record is
/// unparking's, not the agent's to heal again: the next pass leaves it,
/// and once the name is free the sweep's unparking gives it back.
#[test]
fn once_parks_a_returned_device_whose_name_is_taken_then_unparks_it() {
    let mut w = World::new();
    let before = returned_as_dev9(&w, true);
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    delete_and_wait(&mut w);
    let said = once_after_death(&w);
    assert!(said.contains("msg=healed") && said.contains("record=parked"), "{said}");
    assert_eq!(phase(&w), "parked", "{said}");
    let said = once(&w);
    assert!(!said.contains("healing:"), "the agent healed a parked record again: {said}");
    assert_eq!(phase(&w), "parked", "{said}");
    ip(&w.host.name, &["link", "del", "h1"]);
    let said = once(&w);
    assert_eq!(link(&w.host.name, "h1"), Some(before), "{said}");
    assert_no_records(&w);
}

#[test]
fn once_finishes_a_killed_add() {
    let mut w = World::new();
    w.host_veth("h1", true);
    killed_add(&w, "h1", "add-after-move");
    delete_and_wait(&mut w);
    let said = once_after_death(&w);
    assert!(said.contains("msg=healed"), "{said}");
    assert_no_records(&w);
}

/// An attachment whose namespace lives is never touched, even with its
/// path gone.
#[test]
fn once_leaves_a_living_namespace_alone() {
    let mut w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let _holder = Holder::new(&w);
    w.ctr.delete();
    let said = once(&w);
    assert!(!said.contains("msg=healed"), "{said}");
    assert_eq!(phase(&w), "attached");
    assert!(link(&w.host.name, "h1").is_none(), "h1 came home from a living namespace: {said}");
}

/// ADD may fail to give the namespace an id on the node: nothing can
/// prove its death then, but an unfinished ADD's namespace is looked for
/// all the same, and the log says it lives.
#[test]
fn once_says_it_leaves_a_killed_add_without_an_nsid_alone_while_its_namespace_lives() {
    let w = World::new();
    w.host_veth("h1", true);
    killed_add(&w, "h1", "add-after-record");
    let (name, mut rec) = records(&w).into_iter().next().expect("the killed ADD's record");
    rec.as_object_mut().unwrap().remove("nsid").expect("an nsid in the record");
    std::fs::write(Path::new(&w.data_dir()).join(&name), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let said = once(&w);
    assert!(said.contains("msg=\"left alone: its namespace is alive\" phase=adding"), "{said}");
    assert_eq!(phase(&w), "adding", "{said}");
}

/// Another call holds the attachment's lock: the agent skips it and says
/// so; once the lock is free it heals it.
#[test]
fn a_locked_attachment_is_skipped() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    killed_add(&w, "h1", "add-after-record");
    let lock = Path::new(&w.data_dir()).join(format!(".testnet+{}+eth0.json.lock", w.id));
    let held = File::options().read(true).write(true).create(true).truncate(false).open(&lock).unwrap();
    held.lock().unwrap();
    delete_and_wait(&mut w);
    let said = once(&w);
    drop(held);
    assert!(said.contains("another hostdev call holds its lock"), "{said}");
    assert_eq!(phase(&w), "adding", "{said}");
    let said = once(&w);
    assert!(said.contains("msg=healed"), "{said}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_no_records(&w);
}

/// A lost record of a virtual device whose namespace is dead is dropped:
/// the device died with it, or lives on where nothing proves it ours. Lost
/// here: the container moved its macvlan into a namespace of its own.
#[test]
fn a_lost_virtual_record_is_dropped_once_its_namespace_is_dead() {
    let (mut w, _inner) = hidden_macvlan_world();
    w.del("m1", "eth0").assert_ok();
    assert_eq!(phase(&w), "lost");
    let said = once(&w);
    assert!(!said.contains("msg=healed"), "a lost record whose namespace lives: {said}");
    delete_and_wait(&mut w);
    let said = once_after_death(&w);
    assert!(said.contains("msg=healed"), "{said}");
    assert_no_records(&w);
}

/// The way home may be what finds a virtual device lost: here an
/// attached macvlan the container moved into a namespace of its own
/// before dying. Its record is dropped in the same pass, not left lost
/// for the next one.
#[test]
fn a_virtual_device_found_lost_on_its_way_home_is_dropped_in_one_pass() {
    let (mut w, _inner) = hidden_macvlan_world();
    assert_eq!(phase(&w), "attached");
    delete_and_wait(&mut w);
    let said = once_after_death(&w);
    assert!(said.contains("msg=healed") && said.contains("record=\"dropped:"), "{said}");
    assert_no_records(&w);
}

/// m1, a macvlan attached as eth0, which the container then moved into a
/// namespace of its own (returned: it lives as long as the test keeps it).
fn hidden_macvlan_world() -> (World, Netns) {
    let w = World::new();
    let inner = Netns::new(format!("{}-inner", w.id));
    w.host_veth("h1", true);
    ip(&w.host.name, &["link", "add", "m1", "link", "h1", "type", "macvlan", "mode", "bridge"]);
    w.attach("m1", "eth0");
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &inner.name]);
    (w, inner)
}

/// The node gives a dead namespace's id to the next one (lowest first):
/// `--once`, which heard no RTM_DELNSID, proves the death by finding the
/// id's new holder, and leaves that one alone.
#[test]
fn once_sees_a_death_through_a_reused_nsid() {
    let (w, next, before) = reused_nsid_world();
    assert_dead_one_healed_next_left(&w, &next, before);
}

/// The newer namespace often takes the dead one's nsfs inode as well as its
/// id (both are given lowest first): the census's holder of the id has the
/// recorded inode, and only the cookie says it is another namespace. Here
/// the record is given the newer one's inode, so that this happens every
/// time, not only when the kernel reused the inode.
#[test]
fn once_sees_a_death_when_the_newer_namespace_has_its_id_and_inode() {
    let (w, next, before) = reused_nsid_world();
    let next_id = format!("{}-next", w.id);
    let (name, mut rec) = records(&w).into_iter().find(|(n, _)| !n.contains(&next_id)).expect("the dead one's record");
    rec["netnsIdentity"] = identity_of(&next.path());
    std::fs::write(Path::new(&w.data_dir()).join(&name), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    assert_dead_one_healed_next_left(&w, &next, before);
}

/// h1 attached and handed back to the host by the container, which then
/// died; h2 attached to a newer namespace that got the dead one's nsid.
fn reused_nsid_world() -> (World, Netns, Link) {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    w.host_veth("h2", true);
    w.attach("h1", "eth0");
    let nsid = only_record(&w, &w.id, "eth0")["nsid"].clone();
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]);
    delete_and_wait(&mut w);
    let next = Netns::new(format!("{}-next", w.id));
    let next_id = format!("{}-next", w.id);
    let (_, out) = run(&w.host.name, &env_for("ADD", &next_id, &next.path(), "eth0"), &w.config("1.0.0", "h2"));
    out.assert_ok();
    let reused = records(&w).into_iter().find(|(n, _)| n.contains(&next_id)).expect("the new record").1;
    assert_eq!(reused["nsid"], nsid, "the kernel did not reuse the id: the test proves nothing");
    (w, next, before)
}

fn assert_dead_one_healed_next_left(w: &World, next: &Netns, before: Link) {
    let said = once(w);
    assert!(said.contains(&format!("container={} ifname=eth0 msg=healed", w.id)), "{said}");
    assert!(said.contains("now belongs to another namespace"), "{said}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "{said}");
    assert!(link(&next.name, "eth0").is_some(), "the new attachment was touched: {said}");
    assert_eq!(records(w).len(), 1, "{said}");
}

/// The nsfs device and inode of `path`, as a record keeps them.
fn identity_of(path: &str) -> Value {
    let st = Command::new("stat").args(["-L", "-c", "%d %i", path]).output().unwrap();
    let text = String::from_utf8_lossy(&st.stdout).to_string();
    let (dev, ino) = text.trim().split_once(' ').expect("stat's device and inode");
    serde_json::json!({"dev": dev.parse::<u64>().unwrap(), "ino": ino.parse::<u64>().unwrap()})
}

/// A dead namespace's nsfs inode can be given to a newer namespace (seen
/// here under load: the agent left a dead pod's attachment alone because
/// another test's new namespace had its inode). The cookie recorded at ADD
/// tells them apart: the newer namespace, given the recorded device and
/// inode here by editing the record, is not taken for the dead one.
#[test]
fn a_newer_namespace_with_the_dead_ones_inode_is_not_taken_for_it() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    killed_add(&w, "h1", "add-after-record");
    let (name, mut rec) = records(&w).into_iter().next().expect("the killed ADD's record");
    assert!(rec["netnsCookie"].is_u64(), "ADD records the namespace's cookie: {rec:#}");
    delete_and_wait(&mut w);
    let newer = Netns::new(format!("{}-newer", w.id));
    rec["netnsIdentity"] = identity_of(&newer.path());
    std::fs::write(Path::new(&w.data_dir()).join(&name), serde_json::to_vec_pretty(&rec).unwrap()).unwrap();

    let said = once(&w);
    assert!(said.contains("msg=healed"), "the newer namespace was taken for the dead one: {said}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "{said}");
    assert_no_records(&w);
}
