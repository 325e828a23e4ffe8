//! Parking: the interface's name is taken on the host when it comes home,
//! so it waits restored under `hdpark<index>`, its record says so, and the
//! next plugin run (STATUS, another DEL, another ADD) gives its name back
//! once free; also after a teardown, when attached again under the same
//! key, and through a crash of that ADD.
//!
//! Run: cargo test --features test-hooks --test parking

mod common;

use common::*;
use serde_json::{Value, json};
use std::process::Command;

#[derive(Clone, Copy, Debug)]
enum Unpark {
    Status,
    DelOther,
    AddOther,
}

/// The original name is taken on the host when DEL runs: the interface
/// comes home, restored, under `hdpark<index>`, and the record says so.
/// Once the name is free, the next plugin run gives it back.
fn parked(unpark: Unpark) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let index = ifindex(&w.host.name, "h1");
    if matches!(unpark, Unpark::AddOther) {
        w.host_veth("h2", true);
    }
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("h1", "eth0");

    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    let squatter = link(&w.host.name, "h1").unwrap();
    let out = w.del("h1", "eth0");
    out.assert_ok();

    let parked_name = format!("hdpark{index}");
    let parked = link(&w.host.name, &parked_name)
        .unwrap_or_else(|| panic!("not parked as {parked_name}: {:?}", link_names(&w.host.name)));
    assert_eq!(parked, Link { name: parked_name.clone(), ..before.clone() }, "parked interface not restored");
    assert_eq!(link(&w.host.name, "h1"), Some(squatter), "the squatter was touched");
    assert_eq!(link_names(&w.ctr.name), ctr_names, "container after DEL");
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["phase"], "parked", "{rec:#}");
    assert_eq!(rec["parkedAs"], parked_name.as_str(), "{rec:#}");

    // A DEL while the name is still taken keeps it parked, and succeeds.
    w.del("h1", "eth0").assert_ok();
    assert!(link(&w.host.name, &parked_name).is_some());
    assert_eq!(only_phase(&w), "parked");

    ip(&w.host.name, &["link", "del", "h1"]);
    match unpark {
        Unpark::Status => {
            let env = plain_env("STATUS");
            let out = w.run(&env, &conf(&w, "1.1.0", "h1", json!({})));
            assert!(out.status.success(), "STATUS: {out:#?}");
        }
        Unpark::DelOther => {
            let out = w.run(&env_for("DEL", "other-ctr", &w.ctr.path(), "net9"), &w.config("1.0.0", "h1"));
            assert!(out.status.success(), "DEL of another attachment: {out:#?}");
        }
        Unpark::AddOther => {
            let out = w.run(&w.env("ADD", "net1"), &w.config("1.0.0", "h2"));
            assert!(out.status.success(), "ADD of another device: {out:#?}");
            assert!(link(&w.ctr.name, "net1").is_some());
            let out = w.run(&w.env("DEL", "net1"), &w.config("1.0.0", "h2"));
            assert!(out.status.success(), "DEL of the other device: {out:#?}");
        }
    }
    w.assert_home(&before, &host_names, &ctr_names, &format!("unparked by {unpark:?}"));
    assert!(link(&w.host.name, &parked_name).is_none());
}

#[test]
fn parked_then_unparked_by_status() {
    parked(Unpark::Status);
}

#[test]
fn parked_then_unparked_by_del_of_another_attachment() {
    parked(Unpark::DelOther);
}

#[test]
fn parked_then_unparked_by_add_of_another_device() {
    parked(Unpark::AddOther);
}

/// A parked interface whose name is still taken stays parked through a
/// STATUS, and is not forgotten: once the name is free, the next STATUS
/// brings it home.
#[test]
fn parked_stays_parked_through_status_then_comes_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("h1", "eth0");
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    w.del("h1", "eth0").assert_ok();
    assert_eq!(only_phase(&w), "parked");

    let status = || {
        let out = w.run(&plain_env("STATUS"), &conf(&w, "1.1.0", "h1", json!({})));
        assert!(out.status.success(), "STATUS: {out:#?}");
    };
    status();
    assert_eq!(only_phase(&w), "parked", "unparked while its name is taken");
    ip(&w.host.name, &["link", "del", "h1"]);
    status();
    w.assert_home(&before, &host_names, &ctr_names, "unparked by the second STATUS");
}

/// The container died, the kernel returned the NIC as eth0, and h1 has
/// meanwhile been taken on the host: DEL parks it (restored, under
/// hdpark<index>), and a later STATUS gives it its name back.
#[test]
fn teardown_physical_while_name_taken_parks_then_unparks() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    let index = ifindex(&w.host.name, "h1");
    let host_names = link_names(&w.host.name);
    w.attach("h1", "eth0");
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]);
    let netns_path = w.ctr.path();
    w.ctr.delete();
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);

    let out = w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "{out:#?}");
    let parked_name = format!("hdpark{index}");
    assert_eq!(
        link(&w.host.name, &parked_name),
        Some(Link { name: parked_name.clone(), ..before.clone() }),
        "host links: {:?}",
        link_names(&w.host.name)
    );
    assert!(link(&w.host.name, "eth0").is_none());
    assert_eq!(only_phase(&w), "parked");

    ip(&w.host.name, &["link", "del", "h1"]);
    let env = plain_env("STATUS");
    let out = w.run(&env, &conf(&w, "1.1.0", "h1", json!({})));
    assert!(out.status.success(), "STATUS: {out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// Attaches h1 (`before`) as eth0 by its MAC, and has DEL park it (a
/// squatter takes its name); returns that config, which has no `device`.
fn park_by_mac(w: &World, before: &Link) -> String {
    let mut by_mac: Value = serde_json::from_str(&conf(w, "1.0.0", "", json!({"hwaddr": before.mac}))).unwrap();
    by_mac.as_object_mut().unwrap().remove("device");
    let by_mac = by_mac.to_string();
    let out = w.run(&w.env("ADD", "eth0"), &by_mac);
    assert!(out.status.success(), "first ADD: {out:#?}");
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    let out = w.run(&w.env("DEL", "eth0"), &by_mac);
    assert!(out.status.success(), "DEL that parks: {out:#?}");
    assert_eq!(only_record(w, &w.id, "eth0")["phase"], "parked");
    by_mac
}

/// A parked interface attached again under the same key (podman restarts a
/// container with the same id), selected by MAC since its name is taken:
/// the new attachment inherits its true name, and once the squatter is gone
/// DEL brings it home as h1, not as its parking name.
#[test]
fn parked_interface_attached_again_comes_home_under_its_own_name() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let by_mac = park_by_mac(&w, &before);

    let out = w.run(&w.env("ADD", "eth0"), &by_mac);
    assert!(out.status.success(), "ADD of the parked interface under the same key: {out:#?}");
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["phase"], "attached", "{rec:#}");
    assert_eq!(rec["host"]["name"], "h1", "the record keeps the true name: {rec:#}");

    ip(&w.host.name, &["link", "del", "h1"]);
    let out = w.run(&w.env("DEL", "eth0"), &by_mac);
    assert!(out.status.success(), "final DEL: {out:#?}");
    w.assert_home(&before, &host_names, &ctr_names, "after the second attachment");
    assert!(records(&w).is_empty());
}

/// A parked interface taken again under the same key, by an ADD that dies
/// right after its record: the device is still claimed by that record (the
/// parked record it replaced was the same file, and its claim is the new
/// one's), so another container's ADD is refused.
#[test]
fn parked_interface_attached_again_stays_claimed_through_a_crash() {
    let w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let before = w.host_veth("h1", true);
    let by_mac = park_by_mac(&w, &before);

    w.killed_at("add-after-record", w.env("ADD", "eth0"), &by_mac);
    // Not parked any more: the operator's listing does not say so.
    let listed = Command::new(BIN).args(["list", "--data-dir", &w.data_dir()]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("adding") && !listed.contains("home as"), "{listed}");

    let out = w.run(&env_for("ADD", "second", &other.path(), "eth0"), &by_mac);
    out.assert_err(102);
    assert!(link(&other.name, "eth0").is_none(), "another container took a claimed device");
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["host"]["name"], "h1", "{rec:#}");

    ip(&w.host.name, &["link", "del", "h1"]);
    let out = w.run(&w.env("DEL", "eth0"), &by_mac);
    assert!(out.status.success(), "DEL after the crash: {out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 did not come home under its own name");
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}
