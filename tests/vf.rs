//! SR-IOV VFs, the parts that run in namespaces: sriov-cni's VF keys are
//! checked and refused (7) before anything changes when the device has no
//! PF on this host; the record's VF snapshot format is pinned; the
//! device-info file and the result's `pciID` for a PCI netdev, with a fake
//! sysfs tree (HOSTDEV_SYSFS_ROOT, `test-hooks` builds):
//!
//!     cargo test --features test-hooks --test vf
//!
//! Real VFs (igb under QEMU 10) are exercised by scripts/vm-e2e.sh.

mod common;

use common::fakesys::FakeSys;
use common::*;
use hostdev::netlink::vf::{LinkState, VlanProto};
use hostdev::state::{Anchor, Record};
use serde_json::{Value, json};

/// ADD of `device` with `extra` fails with `code` naming every string of
/// `mentions`; neither namespace changed and no record stays; the DEL a
/// runtime sends after a failed ADD changes nothing either (it succeeds,
/// or refuses the same bad config with 7, as for any other key).
fn refused(w: &World, sys: Option<&FakeSys>, device: &str, extra: Value, code: u64, mentions: &[&str]) {
    let (host, ctr) = (links(&w.host.name), links(&w.ctr.name));
    let mut env = w.env("ADD", "eth0");
    env.extend(sys.map(FakeSys::env));
    let config = conf(w, "1.1.0", device, extra.clone());
    let out = w.run(&env, &config);
    out.assert_err(code);
    let msg = out.json["msg"].as_str().unwrap_or("");
    for m in mentions {
        assert!(msg.contains(m), "the message for {extra} should name {m:?}: {msg}");
    }
    assert_eq!(links(&w.host.name), host, "the host changed after {extra}");
    assert_eq!(links(&w.ctr.name), ctr, "the container changed after {extra}");
    assert!(records(w).is_empty(), "a record stayed after {extra}: {:?}", records(w));
    env.insert("CNI_COMMAND", "DEL".into());
    let del = w.run(&env, &config);
    assert!(del.json.get("code").is_none_or(|c| c == 7), "DEL after {extra}: {del:#?}");
    assert_eq!(links(&w.host.name), host, "the host changed by DEL after {extra}");
}

#[test]
fn vf_keys_on_a_device_without_a_pf_are_refused() {
    let w = World::new();
    w.host_veth("h1", true);
    for extra in [
        json!({"vlan": 100}),
        json!({"vlan": 0}),
        json!({"spoofchk": "off"}),
        json!({"trust": "on"}),
        json!({"link_state": "enable"}),
        json!({"max_tx_rate": 100}),
        json!({"vlan": 10, "vlanQoS": 3, "vlanProto": "802.1ad"}),
        json!({"mac": "02:00:00:00:00:10", "trust": "on"}),
    ] {
        // `mac` alone is no VF key: on any device it is the interface's MAC
        // in the pod (tests/declared.rs); only a VF sets it through a PF.
        let key = extra.as_object().unwrap().keys().find(|k| *k != "mac").unwrap().clone();
        refused(&w, None, "h1", extra, 7, &[&key, "has no PF on this host", "h1"]);
    }
}

#[test]
fn bad_vf_values_are_refused_naming_the_key() {
    let w = World::new();
    w.host_veth("h1", true);
    for (extra, key) in [
        (json!({"vlan": 4095}), "\"vlan\""),
        (json!({"vlan": "100"}), "\"vlan\""),
        (json!({"vlanQoS": 2}), "\"vlanQoS\""),
        (json!({"vlan": 4, "vlanQoS": 8}), "\"vlanQoS\""),
        (json!({"vlan": 4, "vlanProto": "802.1x"}), "\"vlanProto\""),
        (json!({"spoofchk": true}), "\"spoofchk\""),
        (json!({"trust": "yes"}), "\"trust\""),
        (json!({"link_state": "up"}), "\"link_state\""),
        (json!({"min_tx_rate": -1}), "\"min_tx_rate\""),
        (json!({"min_tx_rate": 500, "max_tx_rate": 100}), "\"min_tx_rate\""),
        (json!({"mac": "ff:ff:ff:ff:ff:ff"}), "\"mac\""),
        (json!({"runtimeConfig": {"mac": 7}}), "runtimeConfig.mac"),
        (json!({"runtimeConfig": {"CNIDeviceInfoFile": "devinfo.json"}}), "runtimeConfig.\"CNIDeviceInfoFile\""),
    ] {
        refused(&w, None, "h1", extra, 7, &[key]);
    }
}

/// A fake tree: PF 0000:03:00.0 (interface `hpf`), and its VF 2 at
/// 0000:03:10.4 (interface `hvf`); the interfaces are veths in the host.
fn vf_tree(w: &World) -> FakeSys {
    let sys = FakeSys::new(w);
    w.host_veth("hvf", true);
    ip(&w.host.name, &["link", "add", "hpf", "type", "veth", "peer", "name", "hpfp"]);
    sys.pci_netdev("0000:03:00.0", "hpf");
    sys.pci_netdev("0000:03:10.4", "hvf");
    sys.vf("0000:03:00.0", 2, "0000:03:10.4");
    sys
}

/// The device-info file Multus asks for holds the PCI address and the
/// PF's; the 1.1.0 result reports the PCI address as `pciID`; DEL removes
/// the file with the record.
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn device_info_file_and_pci_id_of_a_vf() {
    let w = World::new();
    let sys = vf_tree(&w);
    let info = w.tmp.join("devinfo/cni/net1-pod-eth0.json");
    let extra = json!({"runtimeConfig": {"CNIDeviceInfoFile": info, "deviceID": "0000:03:10.4"}});
    let config = conf(&w, "1.1.0", "hvf", extra);
    let mut env = w.env("ADD", "eth0");
    env.extend([sys.env()]);
    let out = w.run(&env, &config);
    out.assert_ok();
    assert_eq!(out.json["interfaces"][0]["pciID"], "0000:03:10.4", "{out:#?}");
    let written: Value = serde_json::from_slice(&std::fs::read(&info).expect("the device-info file")).unwrap();
    let want = json!({"type": "pci", "version": "1.1.0", "pci": {"pci-address": "0000:03:10.4", "pf-pci-address": "0000:03:00.0"}});
    assert_eq!(written, want);
    env.insert("CNI_COMMAND", "DEL".into());
    w.run(&env, &config).assert_ok();
    assert!(!info.exists(), "the device-info file outlived its attachment");
    // A PCI function that is no VF: no PF in the file; 1.0.0 has no pciID.
    let config = conf(&w, "1.0.0", "hpf", json!({"runtimeConfig": {"CNIDeviceInfoFile": info}}));
    env.insert("CNI_COMMAND", "ADD".into());
    let out = w.run(&env, &config);
    out.assert_ok();
    assert!(out.json["interfaces"][0].get("pciID").is_none(), "{out:#?}");
    let written: Value = serde_json::from_slice(&std::fs::read(&info).unwrap()).unwrap();
    assert_eq!(written["pci"], json!({"pci-address": "0000:03:00.0"}));
    env.insert("CNI_COMMAND", "DEL".into());
    w.run(&env, &config).assert_ok();
    assert!(!info.exists());
}

/// A PF that reports no state for the VF (here a veth, which has no VFs)
/// fails the ADD with the kernel's answer named, before anything changed.
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn vf_keys_with_a_pf_that_reports_no_vf_change_nothing() {
    let w = World::new();
    let sys = vf_tree(&w);
    refused(&w, Some(&sys), "hvf", json!({"vlan": 100, "trust": "on"}), 100, &["PF hpf reports no VF 2"]);
}

/// The record's VF section, pinned by a golden file: it reads back and is
/// written byte for byte as it was.
#[test]
fn a_record_with_a_vf_snapshot_reads_and_writes_unchanged() {
    let path = format!("{}/tests/fixtures/records/v1-vf-attached.json", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(path).unwrap();
    let rec = Record::from_file("sriov+c0ffee+net1.json", &bytes).expect("a record with a VF loads");
    // A physical device: proven by its parent on the PCI bus.
    assert_eq!(rec.anchor, Anchor::Parent);
    let parent = rec.host.parent.as_ref().expect("the parent device");
    assert_eq!((parent.bus.as_str(), parent.device.as_str()), ("pci", "0000:01:10.2"));
    assert_eq!(rec.host.perm_mac.as_deref(), Some("0a:95:59:1c:02:de"));
    let vf = rec.vf.as_ref().expect("the VF section");
    assert_eq!(
        (vf.vf.pci.as_str(), vf.vf.pf_pci.as_str(), vf.vf.pf.as_str(), vf.vf.number),
        ("0000:01:10.2", "0000:01:00.0", "eth0", 1)
    );
    let was = &vf.was;
    assert_eq!((was.mac.as_str(), was.vlan, was.qos, was.vlan_proto), ("0a:95:59:1c:02:de", 0, 0, VlanProto::Dot1Q));
    assert_eq!((was.spoofchk, was.trust, was.link_state), (true, false, LinkState::Auto));
    assert_eq!((was.min_tx_rate, was.max_tx_rate), (0, 0));
    assert_eq!(
        rec.device_info.as_deref(),
        Some(std::path::Path::new("/var/run/k8s.cni.cncf.io/devinfo/cni/sriov-c0ffee-net1.json"))
    );
    assert_eq!(String::from_utf8(rec.to_file()).unwrap(), String::from_utf8(bytes).unwrap());
}
