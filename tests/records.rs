//! The on-disk record format, pinned by real records (golden files): a
//! record written today must read back the same and serialise byte for
//! byte as it was written, and a record written before anchors existed (an
//! attachment that outlived an upgrade) must still load. Renaming a field
//! in the netlink structs a record embeds fails here, not on a node. A
//! record with the pod and time ADD wrote (Kubernetes) is pinned too, and
//! one with the host sysctls and features ADD keeps for DEL.

use hostdev::state::{Anchor, Phase, Pod, Record};

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
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap());
    let without = Record::from_file("goldnet+c0ffee+eth0.json", &fixture("v1-veth-attached.json")).unwrap();
    assert!(without.sysctls.is_empty() && without.features.is_empty(), "older records have none: nothing to put back");
}
