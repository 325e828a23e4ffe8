//! DEL and CHECK with no record: attachments made by upstream host-device
//! (Debian's /usr/lib/cni/host-device, from containernetworking-plugins),
//! and hostdev's own attachments whose records were lost. An interface
//! comes home only on identity a container cannot forge (here, a veth's
//! host-side peer or a macvlan's lower device in the host); an alias the
//! container set names nothing it can have.
//!
//! Run: cargo test --features test-hooks --test adopt

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

// ------------------------------------------------------------------ helpers

/// A config of network "testnet" for plugin `kind` with these selectors.
fn config(w: &World, kind: &str, selectors: Value) -> Value {
    let mut c = json!({"cniVersion": "1.0.0", "name": "testnet", "type": kind, "dataDir": w.data_dir()});
    for (k, v) in selectors.as_object().expect("selectors are an object") {
        c[k] = v.clone();
    }
    c
}

/// ADD by upstream host-device, as a runtime would run it on the host.
fn upstream_add(w: &World, selectors: Value, ifname: &str) -> Out {
    assert!(
        std::path::Path::new(UPSTREAM).exists(),
        "{UPSTREAM} is missing: install Debian's containernetworking-plugins"
    );
    let out =
        run_binary(UPSTREAM, &w.host.name, &w.env("ADD", ifname), &config(w, "host-device", selectors).to_string());
    out.assert_ok();
    out
}

/// hostdev `command` for `ifname` with these selectors (and `extra` keys).
fn hostdev(w: &World, command: &str, ifname: &str, selectors: Value, extra: Value) -> Out {
    let mut c = config(w, "hostdev", selectors);
    for (k, v) in extra.as_object().expect("extra is an object") {
        c[k] = v.clone();
    }
    w.run(&w.env(command, ifname), &c.to_string())
}

fn del(w: &World, ifname: &str, selectors: Value) -> Out {
    hostdev(w, "DEL", ifname, selectors, json!({}))
}

/// DEL as libcni sends it after a successful ADD: with that ADD's result,
/// which the runtime cached, as prevResult.
fn del_after(w: &World, ifname: &str, selectors: Value, added: &Out) -> Out {
    hostdev(w, "DEL", ifname, selectors, json!({"prevResult": added.json}))
}

/// `link` as it should be after coming home: `name`, the alias `alias`,
/// admin state `up`, no addresses (none are known without a record), and
/// the rest (MAC, MTU) as it was.
fn came_home(was: &Link, name: &str, alias: &str, up: bool) -> Link {
    Link { name: name.into(), alias: alias.into(), up, addrs: BTreeSet::new(), altnames: vec![], ..was.clone() }
}

/// The host's link `name`, compared without altnames (the container could
/// have set those, so they are not restored).
fn host_link(w: &World, name: &str) -> Option<Link> {
    link(&w.host.name, name).map(|l| Link { altnames: vec![], ..l })
}

/// DEL brought `ifname` home as `want` and recorded nothing.
fn assert_home(w: &World, ifname: &str, want: Link) {
    assert!(link(&w.ctr.name, ifname).is_none(), "{ifname} stayed in the container");
    assert_eq!(host_link(w, &want.name), Some(want.clone()));
    assert_no_records(w);
}

fn assert_no_records(w: &World) {
    assert!(records(w).is_empty(), "adoption records nothing: {:#?}", records(w));
}

// --------------------------------------------------- upstream's attachments

/// Upstream moved veth h1 in as eth0 (alias h1, up); the config is switched
/// to hostdev: DEL brings it home as h1, alias cleared, up.
#[test]
fn upstream_veth_comes_home_under_its_name() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let added = upstream_add(&w, json!({"device": "h1"}), "eth0");
    assert_eq!(link(&w.ctr.name, "eth0").expect("eth0 in the container").alias, "h1", "upstream's alias");
    ip(&w.ctr.name, &["link", "property", "add", "dev", "eth0", "altname", "ctr-alt"]);

    del_after(&w, "eth0", json!({"device": "h1"}), &added).assert_ok();
    assert_home(&w, "eth0", came_home(&before, "h1", "", true));
    let altnames = link(&w.host.name, "h1").unwrap().altnames;
    assert!(!altnames.contains(&"ctr-alt".to_string()), "the container's altname came home: {altnames:?}");
    assert_eq!(link_names(&w.host.name), host_names);
    del_after(&w, "eth0", json!({"device": "h1"}), &added).assert_ok();
    assert_eq!(link_names(&w.host.name), host_names, "a second DEL changed the host");
}

/// A veth proves only that it hangs off the host, not which of the host's
/// it is, and its MAC and alias are the container's to set: with no
/// `device` in the config, nothing but the container would name its home
/// (a pod's own primary veth, renamed to CNI_IFNAME, would qualify too).
/// DEL declines, exit 0, and leaves it where it is.
#[test]
fn upstream_veth_selected_by_mac_alone_is_declined() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    upstream_add(&w, json!({"hwaddr": before.mac}), "net1");
    let host_names = link_names(&w.host.name);

    let out = del(&w, "net1", json!({"hwaddr": before.mac}));
    out.assert_ok();
    assert!(out.stderr.contains("declines") && out.stderr.contains("container's to choose"), "{out:#?}");
    assert!(link(&w.ctr.name, "net1").is_some(), "net1 left the container");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_no_records(&w);
}

/// A macvlan upstream moved in: its lower device in the host proves it.
#[test]
fn upstream_macvlan_comes_home() {
    let w = World::new();
    ip(&w.host.name, &["link", "add", "low0", "type", "veth", "peer", "name", "low0p"]);
    ip(&w.host.name, &["link", "add", "mv1", "link", "low0", "type", "macvlan", "mode", "bridge"]);
    ip(&w.host.name, &["link", "set", "mv1", "up"]);
    let before = link(&w.host.name, "mv1").unwrap();
    let added = upstream_add(&w, json!({"device": "mv1"}), "eth0");

    del_after(&w, "eth0", json!({"device": "mv1"}), &added).assert_ok();
    assert_home(&w, "eth0", came_home(&before, "mv1", "", true));
}

/// CHECK with no record reports what it found and moves nothing.
#[test]
fn check_without_a_record_says_what_del_would_do() {
    let w = World::new();
    w.host_veth("h1", true);
    let added = upstream_add(&w, json!({"device": "h1"}), "eth0");
    let extra = json!({"prevResult": added.json, "logLevel": "info"});

    let out = hostdev(&w, "CHECK", "eth0", json!({"device": "h1"}), extra);
    out.assert_ok();
    assert!(out.stderr.contains("no record") && out.stderr.contains("home as h1"), "CHECK's log: {out:#?}");
    assert!(link(&w.ctr.name, "eth0").is_some(), "CHECK moved eth0");
    assert_no_records(&w);
}

// ------------------------------------------------- hostdev's lost records

/// hostdev's own attachment whose record was lost (a wiped dataDir): the
/// config's device names the home name; the user's alias stays.
#[test]
fn own_attachment_with_a_lost_record_comes_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let added = w.attach("h1", "eth0");
    for (name, _) in records(&w) {
        std::fs::remove_file(std::path::Path::new(&w.data_dir()).join(name)).unwrap();
    }

    del_after(&w, "eth0", json!({"device": "h1"}), &added).assert_ok();
    assert_home(&w, "eth0", came_home(&before, "h1", &before.alias, true));
}

// ------------------------------------------------------- what is refused

/// A hostile container makes devices of its own named eth0 with upstream's
/// alias "h1". Nothing proves any of them came from the host: DEL declines
/// (exit 0, a log line), CHECK fails saying why, nothing moves.
#[test]
fn forged_alias_on_a_container_device_is_refused() {
    // What each forgery is, and what CHECK calls it.
    let forgeries: [(&str, &str, &[&[&str]]); 3] = [
        ("a veth pair of its own", "a veth", &[&["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]]),
        (
            "a macvlan on its own veth",
            "a macvlan",
            &[
                &["link", "add", "lowc", "type", "veth", "peer", "name", "lowcp"],
                &["link", "add", "eth0", "link", "lowc", "type", "macvlan", "mode", "bridge"],
            ],
        ),
        ("a tap", "a tun", &[&["tuntap", "add", "eth0", "mode", "tap"]]),
    ];
    for (what, called, steps) in forgeries {
        let w = World::new();
        w.host_veth("h2", true);
        for step in steps {
            ip(&w.ctr.name, step);
        }
        ip(&w.ctr.name, &["link", "set", "eth0", "alias", "h1", "up"]);
        let host_names = link_names(&w.host.name);
        let ctr_names = link_names(&w.ctr.name);

        let out = del(&w, "eth0", json!({"device": "h1"}));
        assert_eq!(out.code, 0, "{what}: DEL must succeed: {out:#?}");
        assert!(out.stderr.contains("declines") && out.stderr.contains("eth0"), "{what}: no log line: {out:#?}");
        let extra =
            json!({"prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": w.ctr.path()}]}});
        let check = hostdev(&w, "CHECK", "eth0", json!({"device": "h1"}), extra);
        check.assert_err(108);
        let msg = check.json["msg"].as_str().unwrap_or("");
        assert!(msg.contains("declines") && msg.contains(UNTIED), "{what}: CHECK: {check:#?}");
        assert!(msg.contains(&format!("eth0 in the container is {called}:")), "{what}: CHECK: {check:#?}");
        assert_eq!(link_names(&w.host.name), host_names, "{what}: the host gained a link");
        assert_eq!(link_names(&w.ctr.name), ctr_names, "{what}: the container lost a link");
        assert_no_records(&w);
    }
}

/// Upstream selected h1 by its altname: the config's `device` is not a
/// name h1 can come home under (it is one of its altnames), and a veth's
/// alias is the container's: DEL declines and moves nothing.
#[test]
fn upstream_veth_selected_by_altname_is_declined() {
    let w = World::new();
    w.host_veth("h1", true);
    upstream_add(&w, json!({"device": "h1-alt"}), "eth0");
    let host_names = link_names(&w.host.name);

    let out = del(&w, "eth0", json!({"device": "h1-alt"}));
    out.assert_ok();
    assert!(out.stderr.contains("declines") && out.stderr.contains("nothing names its home"), "{out:#?}");
    assert!(link(&w.ctr.name, "eth0").is_some(), "eth0 left the container");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_no_records(&w);
}

/// Why a container's own device is declined, as CHECK says it.
const UNTIED: &str = "nothing a container cannot forge ties it to the host";

/// A veth whose peer is in a third namespace hangs off that namespace, not
/// the host: declined for that reason, whether or not the container has an
/// id for the host's namespace.
#[test]
fn veth_whose_peer_is_in_a_third_namespace_is_refused() {
    for host_id in [false, true] {
        let w = World::new();
        let third = Netns::new(format!("{}-third", w.id));
        w.host_veth("h1", true);
        ip(&w.ctr.name, &["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p", "netns", &third.name]);
        if host_id {
            ip(&w.ctr.name, &["netns", "set", &w.host.name, "7"]);
        }
        let host_names = link_names(&w.host.name);
        let ctr_names = link_names(&w.ctr.name);
        let extra =
            json!({"prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": w.ctr.path()}]}});
        let check = hostdev(&w, "CHECK", "eth0", json!({"device": "h1"}), extra);
        check.assert_err(108);
        assert!(check.json["msg"].as_str().unwrap_or("").contains(UNTIED), "host id {host_id}: {check:#?}");
        del(&w, "eth0", json!({"device": "h1"})).assert_ok();
        assert_eq!(link_names(&w.host.name), host_names, "host id {host_id}: the host changed");
        assert_eq!(link_names(&w.ctr.name), ctr_names, "host id {host_id}: the container lost a link");
        assert_no_records(&w);
    }
}

/// A proven veth whose alias the container changed to the name of another
/// host link, with a config that names no device: nothing says what to
/// call it at home, so it stays, and the other link is not touched.
#[test]
fn alias_naming_a_taken_host_name_is_refused() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let other = w.host_veth("h2", true);
    upstream_add(&w, json!({"hwaddr": before.mac}), "eth0");
    ip(&w.ctr.name, &["link", "set", "eth0", "alias", "h2"]);
    let host_names = link_names(&w.host.name);

    let out = del(&w, "eth0", json!({"hwaddr": before.mac}));
    out.assert_ok();
    assert!(out.stderr.contains("declines"), "no log line: {out:#?}");
    assert!(link(&w.ctr.name, "eth0").is_some(), "eth0 left the container");
    assert_eq!(link(&w.host.name, "h2"), Some(other), "h2 was touched");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_no_records(&w);
}

// ------------------------------------------- the runtime's evidence (prevResult)

/// What each runtime sends after a failed ADD: a DEL with no prevResult
/// (it cached no result). Nothing shows that an interface named
/// CNI_IFNAME in the container is this attachment's.
const NO_EVIDENCE: &str = "no prevResult";

/// The pod's own eth0 is a veth whose peer is on the host (as the bridge
/// or ptp plugin make it). ADD of h1 as eth0 fails (103: the name is
/// taken), and the runtime sends DEL, as every runtime does after a failed
/// ADD: the pod's veth stays in the pod, the host is unchanged, and
/// nothing is recorded.
#[test]
fn del_after_a_failed_add_leaves_the_pods_own_veth() {
    let w = World::new();
    w.host_veth("h1", true);
    ip(&w.host.name, &["link", "add", "podveth", "type", "veth", "peer", "name", "eth0", "netns", &w.ctr.name]);
    ip(&w.ctr.name, &["link", "set", "eth0", "up"]);
    let pods = link(&w.ctr.name, "eth0").unwrap();
    let host_names = link_names(&w.host.name);

    w.add("h1", "eth0").assert_err(103);
    let out = w.del("h1", "eth0");
    out.assert_ok();
    assert!(out.stderr.contains("declines") && out.stderr.contains(NO_EVIDENCE), "DEL's log: {out:#?}");
    assert_eq!(link(&w.ctr.name, "eth0"), Some(pods), "the pod's own eth0 was taken or changed");
    assert_eq!(link_names(&w.host.name), host_names, "the host changed");
    assert_no_records(&w);
}

/// Networks A and B share a dataDir and name the same device. A's ADD
/// succeeded; B's fails (102: the device is A's); the runtime sends B's
/// DEL. A's interface stays in the pod with its addresses, and A's record
/// still says attached.
#[test]
fn del_after_a_failed_add_leaves_another_networks_attachment() {
    let w = World::new();
    w.host_veth("h1", true);
    let added = w.attach("h1", "eth0");
    let inside = link(&w.ctr.name, "eth0").unwrap();
    let host_names = link_names(&w.host.name);
    let net_b = |command: &str, extra: Value| {
        let mut extra = extra;
        extra["name"] = json!("net-b");
        w.run(&w.env(command, "eth0"), &conf(&w, "1.0.0", "h1", extra))
    };

    net_b("ADD", json!({})).assert_err(102);
    net_b("DEL", json!({})).assert_ok();
    // Even a prevResult that lists the interface (A's, say) does not make
    // it B's: A's record holds the device.
    let out = net_b("DEL", json!({"prevResult": added.json}));
    out.assert_ok();
    assert!(out.stderr.contains("declines") && out.stderr.contains("network testnet"), "DEL's log: {out:#?}");
    assert_eq!(link(&w.ctr.name, "eth0"), Some(inside), "B's DEL took or changed A's interface");
    assert_eq!(link_names(&w.host.name), host_names, "the host changed");
    let recs = records(&w);
    assert_eq!(recs.len(), 1, "{recs:#?}");
    assert_eq!(recs[0].1["phase"], "attached", "A's record: {:#}", recs[0].1);
    assert_eq!(recs[0].1["network"], "testnet", "A's record: {:#}", recs[0].1);
}

/// Upstream's attachment, DEL without the cached result: declined (exit 0,
/// logged), nothing moves; the same DEL with it brings the veth home.
#[test]
fn upstream_attachment_needs_the_runtimes_cached_result() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let added = upstream_add(&w, json!({"device": "h1"}), "eth0");
    let host_names = link_names(&w.host.name);

    let out = del(&w, "eth0", json!({"device": "h1"}));
    out.assert_ok();
    assert!(out.stderr.contains("declines") && out.stderr.contains(NO_EVIDENCE), "DEL's log: {out:#?}");
    assert!(link(&w.ctr.name, "eth0").is_some(), "eth0 left the container without evidence");
    assert_eq!(link_names(&w.host.name), host_names);

    del_after(&w, "eth0", json!({"device": "h1"}), &added).assert_ok();
    assert_home(&w, "eth0", came_home(&before, "h1", "", true));
}

/// A prevResult that does not vouch for this interface proves nothing: it
/// must list CNI_IFNAME, in CNI_NETNS, with the interface's MAC.
#[test]
fn prev_result_for_another_interface_proves_nothing() {
    let w = World::new();
    w.host_veth("h1", true);
    let added = upstream_add(&w, json!({"device": "h1"}), "eth0");
    let host_names = link_names(&w.host.name);
    let iface = added.json["interfaces"][0].clone();
    let variants = [
        ("another name", json!({"name": "net1"})),
        ("another sandbox", json!({"sandbox": "/var/run/netns/someone-else"})),
        ("another MAC", json!({"mac": "02:00:00:00:00:99"})),
        ("no MAC", json!({"mac": null})),
        ("no sandbox (a host-side interface)", json!({"sandbox": null})),
    ];
    for (what, change) in variants {
        let mut forged = iface.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                forged.as_object_mut().unwrap().remove(k);
            } else {
                forged[k] = v.clone();
            }
        }
        let prev = json!({"cniVersion": "1.0.0", "interfaces": [forged]});
        let out = hostdev(&w, "DEL", "eth0", json!({"device": "h1"}), json!({"prevResult": prev}));
        out.assert_ok();
        assert!(out.stderr.contains("declines") && out.stderr.contains("prevResult"), "{what}: DEL's log: {out:#?}");
        assert!(link(&w.ctr.name, "eth0").is_some(), "{what}: eth0 left the container");
        assert_eq!(link_names(&w.host.name), host_names, "{what}: the host changed");
    }
    assert_no_records(&w);
}
