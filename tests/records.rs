//! The on-disk record format, pinned by real records (golden files): a
//! record written today must read back the same and serialise byte for
//! byte as it was written, and a record written before anchors existed (an
//! attachment that outlived an upgrade) must still load. The format is
//! the record's own (`state::format`): a change that changes what is on
//! disk fails here, not on a node. Every kind of record is pinned: a veth
//! by its peer, with its pod and time (Kubernetes), with routes, with the
//! host sysctls, features and GSO/GRO sizes ADD keeps for DEL; a macvlan
//! by its lower device; parked; lost; a userspace-bound device; and (in
//! tests/vf.rs) a physical VF by its parent device, with its VF state.

use hostdev::cni::env::Pod;
use hostdev::state::{Anchor, Phase, Record};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/records/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn a_record_of_today_reads_and_writes_unchanged() {
    let bytes = fixture("v1-veth-attached.json");
    let rec = Record::from_file("goldnet+c0ffee+eth0.json", &bytes).expect("today's record loads");
    assert_eq!(rec.phase, Phase::Attached);
    assert_eq!(rec.anchor, Anchor::Peer { index: 2 });
    assert_eq!((rec.host.name.as_str(), rec.host.mtu, rec.host.txqlen), ("h1", 1400, Some(1000)));
    assert_eq!(rec.addrs.len(), 2);
    assert_eq!(rec.routes.len(), 1);
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap());
}

/// Kubernetes names the pod in CNI_ARGS; ADD records it and its own time,
/// for `hostdev list`. Records without them (podman's, or older ones) read
/// as they did.
#[test]
fn a_record_with_its_pod_reads_and_writes_unchanged() {
    let bytes = fixture("v1-veth-attached-pod.json");
    let rec = Record::from_file("goldnet+c0ffee+eth0.json", &bytes).expect("a record with its pod loads");
    assert_eq!(rec.pod, Some(Pod { namespace: "shop".into(), name: "web-0".into() }));
    assert_eq!(rec.added, Some(1796408641));
    assert_eq!(rec.holder(), "container c0ffee (pod shop/web-0)");
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap());
    let without = Record::from_file("goldnet+c0ffee+eth0.json", &fixture("v1-veth-attached.json")).unwrap();
    assert_eq!((&without.pod, without.added), (&None, None));
    assert_eq!(without.holder(), "container c0ffee");
}

#[test]
fn a_record_from_before_anchors_still_loads() {
    let rec = Record::from_file("goldnet+c0ffee+eth0.json", &fixture("v1-before-anchors.json"))
        .expect("an older record loads");
    // Nothing recorded proves its identity: DEL will not take it back blind.
    assert_eq!(rec.anchor, Anchor::Unprovable);
    assert_eq!(rec.netns_identity, None);
    assert_eq!(rec.host.alias.as_deref(), Some("gold h1"));
    assert_eq!(rec.host.altnames, vec!["h1-alt".to_string()]);
}

/// Routes of every shape (multipath across two devices with weights,
/// onlink, src, table, protocol, metrics, IPv6 pref, through a nexthop
/// object and a group), the nexthop objects and the rules of an
/// attachment with `useInterfaceNetwork` (see tests/routes.rs) are pinned
/// as ADD wrote them; a record without them reads as before.
#[test]
fn a_record_with_routes_of_every_shape_reads_and_writes_unchanged() {
    let bytes = fixture("v1-veth-routing.json");
    let rec = Record::from_file("goldnet+c0ffee+eth0.json", &bytes).expect("a record with routing loads");
    let route = |dst: &str| rec.routes.iter().find(|r| r.dst.to_string() == dst).expect(dst);
    let multipath = route("10.99.0.0/24");
    let weights: Vec<(u32, u16)> = multipath.hops.iter().map(|h| (h.oif, h.weight)).collect();
    assert_eq!(weights, vec![(3, 2), (5, 3)]);
    assert!(route("10.96.0.1/32").onlink);
    assert_eq!(route("10.97.0.0/24").src, Some("10.9.1.1".parse().unwrap()));
    assert_eq!((route("10.97.0.0/24").table, route("10.97.0.0/24").protocol), (100, 4));
    assert_eq!(route("10.97.0.0/24").tos, 16, "a TOS is kept (0 is left out of the file)");
    let link_scope = rec.addrs.iter().find(|a| a.address.to_string() == "10.9.1.1/32").expect("10.9.1.1/32");
    assert_eq!(link_scope.scope, 253, "an address's scope is kept (0 is left out of the file)");
    assert_eq!(route("2001:db8:77::/48").pref, Some(1));
    assert_eq!(route("10.94.0.0/24").nhid, Some(7));
    assert!(route("10.98.0.0/24").metrics.is_some());
    let ids: Vec<u32> = rec.nexthops.iter().map(|n| n.id).collect();
    assert_eq!(ids, vec![5, 6, 7], "members before their group");
    assert_eq!(rec.rules.len(), 2);
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap());
    let without = Record::from_file("goldnet+c0ffee+eth0.json", &fixture("v1-veth-attached.json")).unwrap();
    assert!(without.nexthops.is_empty() && without.rules.is_empty());
    assert!(without.routes.iter().all(|r| r.hops.is_empty() && r.nhid.is_none() && !r.onlink));
}

/// ADD records the host's per-device sysctls (the kernel resets them on
/// every move) and the features the driver lets change, as the host asked
/// for them: what DEL, GC and healing put back whatever the pod declared.
#[test]
fn a_record_with_sysctls_and_features_reads_and_writes_unchanged() {
    let bytes = fixture("v1-veth-declared.json");
    let rec = Record::from_file("goldnet+c0ffee+eth0.json", &bytes).expect("a record with sysctls loads");
    assert_eq!(rec.sysctls.get("ipv4.arp_ignore").map(String::as_str), Some("0"));
    assert_eq!(rec.sysctls.get("ipv6.disable_ipv6").map(String::as_str), Some("0"));
    assert!(!rec.sysctls.contains_key("ipv6.mtu"), "IPv6's mtu follows the link's");
    assert_eq!(rec.features.get("rx-gro"), Some(&false), "the host's, not the declared gro");
    let sizes = rec.host.sizes;
    assert_eq!(
        (sizes.gso, sizes.gro, sizes.gso_ipv4, sizes.gro_ipv4),
        (Some(60000), Some(50000), Some(60000), Some(50000))
    );
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap());
    let without = Record::from_file("goldnet+c0ffee+eth0.json", &fixture("v1-veth-attached.json")).unwrap();
    assert!(without.sysctls.is_empty() && without.features.is_empty(), "older records have none: nothing to put back");
    assert!(without.host.sizes.is_unset(), "nor sizes");
}

/// The two maps are read as a whole (state/format.rs, `settings`): a key
/// given twice reads as its last, as serde's own map read had it, and a
/// map that is not one makes the record corrupt, saying so.
#[test]
fn a_records_settings_read_as_serde_reads_a_map() {
    let text = String::from_utf8(fixture("v1-veth-declared.json")).unwrap();
    let twice = text.replace(r#""ipv4.arp_ignore": "0","#, r#""ipv4.arp_ignore": "5", "ipv4.arp_ignore": "0","#);
    assert_ne!(twice, text);
    let rec = Record::from_file("goldnet+c0ffee+eth0.json", twice.as_bytes()).expect("a key given twice loads");
    assert_eq!(rec.sysctls.get("ipv4.arp_ignore").map(String::as_str), Some("0"));
    let not_a_map = text.replace(r#""sysctls": {"#, r#""sysctls": "none", "was": {"#);
    let e = Record::from_file("goldnet+c0ffee+eth0.json", not_a_map.as_bytes()).expect_err("sysctls must be a map");
    assert!(e.msg.contains("corrupt") && e.msg.contains("expected a map"), "{}", e.msg);
}

/// Reads a golden record filed as `name`, and checks that it is written
/// back byte for byte as the binary wrote it.
fn pinned(fixture_name: &str, name: &str) -> Record {
    let bytes = fixture(fixture_name);
    let rec = Record::from_file(name, &bytes).unwrap_or_else(|e| panic!("{fixture_name} does not load: {}", e.msg));
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap(), "{fixture_name}");
    rec
}

/// The records below were written by the binary of the release before
/// the record had a format of its own, in namespaces made for the purpose
/// (`hdgold-h` the host, `hdgold-c` the container), network `goldnet`,
/// container `c0ffee`, as `eth0`, and copied from its data directory
/// unchanged: they pin every kind of record a node can hold (the VF record
/// in tests/vf.rs is the physical device with its parent).
#[test]
fn a_macvlan_record_holds_its_lower_device_and_how_it_sits_there() {
    let rec = pinned("v1-macvlan-attached.json", "goldnet+c0ffee+eth0.json");
    assert_eq!(rec.phase, Phase::Attached);
    assert!(matches!(rec.anchor, Anchor::Lower { index } if index > 0));
    assert_eq!(rec.host.kind.as_deref(), Some("macvlan"));
    let stacking = rec.host.stacking.expect("how the macvlan sits on its lower device");
    assert_eq!((stacking.mode, stacking.flags), (Some(4), Some(0)), "bridge mode");
    assert!(rec.netns_cookie.is_some() && rec.nsid.is_some(), "the namespace's cookie and id on the node");
}

/// Home under a parking name while its own name is taken on the host.
#[test]
fn a_parked_record_names_its_interface_and_where_it_waits() {
    let rec = pinned("v1-veth-parked.json", "goldnet+c0ffee+eth0.json");
    assert_eq!(rec.phase, Phase::Parked);
    assert_eq!(rec.host.name, "h1");
    assert!(rec.parked_as.as_deref().is_some_and(|p| p.starts_with("hdpark")), "{:?}", rec.parked_as);
    assert!(matches!(rec.anchor, Anchor::Peer { .. }));
}

/// An unprovable tap the container renamed: DEL found nothing it could
/// trust, and the record says why and what the config decided.
#[test]
fn a_lost_record_says_why_and_keeps_the_decision_for_unprovable_devices() {
    let rec = pinned("v1-tap-lost.json", "goldnet+c0ffee+eth0.json");
    assert_eq!(rec.phase, Phase::Lost);
    assert_eq!(rec.anchor, Anchor::Unprovable);
    assert_eq!(rec.unprovable, Some(hostdev::cni::config::Unprovable::TrustContainer));
    assert!(rec.lost.as_deref().is_some_and(|why| why.contains("no tun with the MAC of t0")), "{:?}", rec.lost);
}

/// A PCI function bound to vfio-pci: nothing moved, the record holds the
/// device and no interface.
#[test]
fn a_userspace_record_holds_the_device_and_no_interface() {
    let rec = pinned("v1-userspace-attached.json", "goldnet+c0ffee+eth0.json");
    let device = rec.userspace.as_ref().expect("the userspace device");
    assert_eq!((device.id.as_str(), device.driver.as_str()), ("0000:03:00.3", "vfio-pci"));
    assert_eq!((rec.host.index, rec.host.name.as_str()), (0, ""));
    assert!(rec.addrs.is_empty());
    assert_eq!(rec.pod, Some(Pod { namespace: "shop".into(), name: "dpdk-0".into() }));
}
