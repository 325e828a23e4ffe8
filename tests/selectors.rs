//! Device selection end to end: the real binary picks a real veth in a
//! throw-away host namespace by `device` (name, altname), `hwaddr`,
//! `kernelpath`, `pciBusID` and `runtimeConfig.deviceID`. The sysfs-based
//! selectors read a fake sysfs tree whose `net/` entries name the test's
//! veths; the binary reads it through HOSTDEV_SYSFS_ROOT, which only a
//! `test-hooks` build honours:
//!
//!     cargo test --features test-hooks --test selectors
//!
//! Without the feature those tests are ignored. Every ambiguity is an error
//! that lists the candidates and changes nothing.

mod common;

use std::os::unix::fs::symlink;

use common::fakesys::FakeSys;
use common::*;
use serde_json::{Value, json};

/// Runs `command` with the selector keys `sel` merged into a minimal config.
fn run_sel(w: &World, sys: Option<&FakeSys>, command: &str, sel: &Value) -> Out {
    let mut conf = json!({"cniVersion": "1.0.0", "name": "testnet", "type": "hostdev", "dataDir": w.data_dir()});
    for (k, v) in sel.as_object().expect("selector object") {
        conf[k] = v.clone();
    }
    let mut env = w.env(command, "eth0");
    if let Some(sys) = sys {
        env.insert("HOSTDEV_SYSFS_ROOT", sys.root.to_string_lossy().into_owned());
    }
    w.run(&env, &conf.to_string())
}

/// ADD by `sel` moves `host_if` into the container as eth0; DEL with the same
/// config brings it back unchanged.
fn round_trip(w: &World, sys: Option<&FakeSys>, sel: Value, host_if: &str) -> Out {
    let before = link(&w.host.name, host_if).unwrap_or_else(|| panic!("{host_if} missing before ADD"));
    let out = run_sel(w, sys, "ADD", &sel);
    out.assert_ok();
    if before.addrs.is_empty() {
        // A bare veth: the result has no ips to check.
        assert_eq!(out.json["interfaces"][0]["mac"].as_str(), Some(before.mac.as_str()), "result: {out:#?}");
    } else {
        check_add_result(&out, "1.0.0", "eth0", &w.ctr.path(), &before);
    }
    assert!(link(&w.host.name, host_if).is_none(), "{host_if} still on the host after ADD by {sel}");
    assert_eq!(link(&w.ctr.name, "eth0").map(|l| l.mac), Some(before.mac.clone()), "wrong device moved by {sel}");
    run_sel(w, sys, "DEL", &sel).assert_ok();
    assert_eq!(link(&w.host.name, host_if), Some(before), "{host_if} after DEL");
    out
}

/// ADD by `sel` fails with `code`, its message names every string in
/// `mentions`, and neither namespace changed.
fn refused(w: &World, sys: Option<&FakeSys>, sel: Value, code: u64, mentions: &[&str]) -> Out {
    let host_before = links(&w.host.name);
    let ctr_before = links(&w.ctr.name);
    let out = run_sel(w, sys, "ADD", &sel);
    out.assert_err(code);
    let msg = out.json["msg"].as_str().unwrap_or("");
    for m in mentions {
        assert!(msg.contains(m), "message for {sel} should mention {m:?}: {msg}");
    }
    assert_eq!(links(&w.host.name), host_before, "host changed by refused ADD {sel}");
    assert_eq!(links(&w.ctr.name), ctr_before, "container changed by refused ADD {sel}");
    // A runtime calls DEL after a failed ADD: it must succeed and do nothing.
    run_sel(w, sys, "DEL", &sel).assert_ok();
    assert_eq!(links(&w.host.name), host_before, "host changed by DEL after refused ADD");
    out
}

/// A bare veth pair `name` / `<name>p` in the host namespace.
fn veth(w: &World, name: &str) {
    ip(&w.host.name, &["link", "add", name, "type", "veth", "peer", "name", &format!("{name}p")]);
}

fn set_mac(w: &World, name: &str, mac: &str) {
    ip(&w.host.name, &["link", "set", "dev", name, "address", mac]);
}

fn mac_of(w: &World, name: &str) -> String {
    link(&w.host.name, name).expect("link").mac
}

// ------------------------------------------------------------------ device

#[test]
fn device_by_name() {
    let w = World::new();
    w.host_veth("h1", true);
    round_trip(&w, None, json!({"device": "h1"}), "h1");
}

#[test]
fn device_by_altname() {
    let w = World::new();
    w.host_veth("h1", true);
    round_trip(&w, None, json!({"device": "h1-alt"}), "h1");
}

const LONG_ALTNAME: &str = "hostdev-test-a-rather-long-altname";

/// Altnames may be longer than IFNAMSIZ; the kernel refuses those in an
/// IFLA_IFNAME lookup, so selection matches them from the link dump.
/// STATUS runs the same selection as ADD without moving anything.
#[test]
fn device_by_long_altname_is_selected() {
    let w = World::new();
    w.host_veth("h1", false);
    ip(&w.host.name, &["link", "property", "add", "dev", "h1", "altname", LONG_ALTNAME]);
    let status = |device: &str| {
        let conf = json!({"cniVersion": "1.1.0", "name": "testnet", "type": "hostdev", "device": device, "dataDir": w.data_dir()});
        w.run(&w.env("STATUS", "eth0"), &conf.to_string())
    };
    status(LONG_ALTNAME).assert_ok();
    let out = status("hostdev-test-no-such-long-altname");
    out.assert_err(50);
    assert!(out.json["msg"].as_str().unwrap().contains("hostdev-test-no-such-long-altname"), "{out:#?}");
}

/// The whole ADD/DEL by a long altname. ADD's own altname pre-check in the
/// container (cmd/add.rs `check_container`, via `Socket::link_by_name`)
/// still sends IFLA_IFNAME and fails with ERANGE for altnames over 15 bytes.
#[test]
fn device_by_long_altname_round_trip() {
    let w = World::new();
    w.host_veth("h1", false);
    ip(&w.host.name, &["link", "property", "add", "dev", "h1", "altname", LONG_ALTNAME]);
    round_trip(&w, None, json!({"device": LONG_ALTNAME}), "h1");
}

#[test]
fn no_selector_or_empty_selector_is_a_config_error() {
    let w = World::new();
    w.host_veth("h1", true);
    refused(&w, None, json!({}), 7, &["device", "hwaddr"]);
    refused(&w, None, json!({"device": ""}), 7, &["device"]);
    refused(&w, None, json!({"hwaddr": ""}), 7, &["hwaddr"]);
    refused(&w, None, json!({"device": "nosuchdev"}), 101, &["nosuchdev"]);
}

// ------------------------------------------------------------------ hwaddr

#[test]
fn hwaddr_current_mac() {
    let w = World::new();
    w.host_veth("h1", true);
    let mac = mac_of(&w, "h1");
    round_trip(&w, None, json!({"hwaddr": mac.to_uppercase()}), "h1");
}

/// After the current MAC was changed, the new MAC selects the interface (a
/// veth has no permanent MAC: the permanent-MAC match is unit-tested in
/// src/device.rs with Link structs).
#[test]
fn hwaddr_after_mac_change() {
    let w = World::new();
    w.host_veth("h1", true);
    let old = mac_of(&w, "h1");
    set_mac(&w, "h1", "02:5e:1e:c7:00:01");
    refused(&w, None, json!({"hwaddr": old}), 101, &[&old]);
    round_trip(&w, None, json!({"hwaddr": "02:5e:1e:c7:00:01"}), "h1");
}

/// hwaddr's dump of the host's links serves the snapshot too, which is
/// taken after the claim check: the device is read again then, and a master
/// it got since the dump is seen (so DEL puts it back there). The test hook
/// holds ADD right after the selection while the device changes.
#[test]
fn hwaddr_snapshot_is_the_device_after_the_selection() {
    let w = World::new();
    w.host_veth("h1", true);
    let ns = w.host.name.clone();
    let sel = json!({"hwaddr": mac_of(&w, "h1")});
    let add_changing = |change: &[&[&str]]| {
        let conf = json!({"cniVersion": "1.0.0", "name": "testnet", "type": "hostdev", "dataDir": w.data_dir(), "hwaddr": sel["hwaddr"]});
        let (add, go) = w.spawn_paused("add-after-select", &w.env("ADD", "eth0"), &conf.to_string());
        for args in change {
            ip(&ns, args);
        }
        std::fs::write(&go, "").unwrap();
        let (_, out) = finish(add);
        out.assert_ok();
        run_sel(&w, None, "DEL", &sel).assert_ok();
    };
    add_changing(&[&["link", "set", "dev", "h1", "mtu", "1300"]]);
    assert_eq!(link(&ns, "h1").map(|l| l.mtu), Some(1300), "the MTU recorded before the selection came back");
    add_changing(&[&["link", "add", "brsel", "type", "bridge"], &["link", "set", "dev", "h1", "master", "brsel"]]);
    let master: Value = serde_json::from_str(&ip(&ns, &["-j", "link", "show", "dev", "h1"])).unwrap();
    assert_eq!(master[0]["master"], "brsel", "h1 came home without the master it had at ADD: {master}");
}

#[test]
fn hwaddr_shared_by_two_interfaces_is_ambiguous() {
    let w = World::new();
    veth(&w, "sa1");
    veth(&w, "sa2");
    set_mac(&w, "sa1", "02:5e:1e:c7:00:02");
    set_mac(&w, "sa2", "02:5e:1e:c7:00:02");
    refused(&w, None, json!({"hwaddr": "02:5e:1e:c7:00:02"}), 7, &["ambiguous", "sa1", "sa2", "device"]);
    // Naming one of them as well does not break the tie: hwaddr still
    // matches two. The user must drop hwaddr or make it unique.
    refused(&w, None, json!({"device": "sa1", "hwaddr": "02:5e:1e:c7:00:02"}), 7, &["sa1", "sa2"]);
}

/// A veth pair whose ends share a MAC, and a third interface with it:
/// each end is stacked on the other, so nothing is the one lower device.
#[test]
fn hwaddr_shared_by_a_veth_pair_and_another_is_ambiguous() {
    let w = World::new();
    veth(&w, "sa1");
    veth(&w, "sa2");
    for name in ["sa1", "sa1p", "sa2"] {
        set_mac(&w, name, "02:5e:1e:c7:00:03");
    }
    refused(&w, None, json!({"hwaddr": "02:5e:1e:c7:00:03"}), 7, &["ambiguous", "sa1", "sa1p", "sa2"]);
}

/// h1's veth peer is in another namespace at index 4000, and the macvlan
/// stacked on h1 (sharing its MAC) is index 4000 on the host: an index in
/// another namespace is no device here, and hwaddr selects h1. (Its peer
/// elsewhere, h1 has no identity a container cannot forge: ADD wants to
/// be told what DEL does with it.)
#[test]
fn hwaddr_lower_whose_peer_index_names_a_host_device_is_selected() {
    let w = World::new();
    let other = Netns::new(format!("{}-other", w.id));
    ip(
        &other.name,
        &["link", "add", "h1p", "index", "4000", "type", "veth", "peer", "name", "h1", "netns", &w.host.name],
    );
    ip(
        &w.host.name,
        &["link", "add", "link", "h1", "name", "mv1", "index", "4000", "type", "macvlan", "mode", "passthru"],
    );
    let mac = mac_of(&w, "h1");
    let out = run_sel(&w, None, "ADD", &json!({"hwaddr": mac, "allowUpperDevices": true}));
    out.assert_err(7);
    assert!(out.json["msg"].as_str().unwrap().contains("\"h1\" is a veth"), "{out:#?}");
    let trusting = json!({"hwaddr": mac, "allowUpperDevices": true, "unprovable": "trustContainer"});
    run_sel(&w, None, "ADD", &trusting).assert_ok();
    assert!(link(&w.host.name, "h1").is_none() && link(&w.host.name, "mv1").is_some(), "h1 not the one moved");
    assert_eq!(link(&w.ctr.name, "eth0").map(|l| l.mac), Some(mac));
}

#[test]
fn hwaddr_bad_or_unmatched() {
    let w = World::new();
    w.host_veth("h1", true);
    refused(&w, None, json!({"hwaddr": "02:5e:1e:c7:00"}), 101, &["02:5e:1e:c7:00"]);
    refused(&w, None, json!({"hwaddr": "not-a-mac"}), 7, &["hwaddr", "not-a-mac"]);
    refused(&w, None, json!({"hwaddr": "00:00:00:00:00:00"}), 7, &["hwaddr"]);
    refused(&w, None, json!({"hwaddr": "02:5e:1e:c7:00:09"}), 101, &["hwaddr", "02:5e:1e:c7:00:09"]);
}

// ------------------------------------------------------- selectors together

#[test]
fn device_and_hwaddr_must_name_the_same_interface() {
    let w = World::new();
    w.host_veth("h1", true);
    veth(&w, "h2");
    let mac2 = mac_of(&w, "h2");
    refused(
        &w,
        None,
        json!({"device": "h1", "hwaddr": mac2}),
        7,
        &["different devices", "device \"h1\" selects h1", "selects h2"],
    );
    // hwaddr naming nothing is not overridden by a device that exists.
    refused(&w, None, json!({"device": "h1", "hwaddr": "02:5e:1e:c7:00:0a"}), 101, &["hwaddr"]);
    let mac1 = mac_of(&w, "h1");
    round_trip(&w, None, json!({"device": "h1-alt", "hwaddr": mac1}), "h1");
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn sysfs_selectors_must_agree_with_device() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    veth(&w, "h2");
    let kpath = sys.pci("0000:03:00.1", &["h1"]);
    refused(
        &w,
        Some(&sys),
        json!({"device": "h2", "pciBusID": "0000:03:00.1"}),
        7,
        &["device \"h2\" selects h2", "pciBusID \"0000:03:00.1\" selects h1"],
    );
    refused(&w, Some(&sys), json!({"device": "h2", "kernelpath": kpath}), 7, &["selects h2", "selects h1"]);
    let mac1 = mac_of(&w, "h1");
    round_trip(
        &w,
        Some(&sys),
        json!({"device": "h1", "hwaddr": mac1, "kernelpath": kpath, "pciBusID": "0000:03:00.1"}),
        "h1",
    );
}

// -------------------------------------------------------------- kernelpath

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn kernelpath_selects_the_net_entry() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    veth(&w, "h2");
    let kpath = sys.pci("0000:03:00.1", &["h1"]);
    round_trip(&w, Some(&sys), json!({"kernelpath": kpath}), "h1");
    // `..` that stays under /sys/devices/ is fine.
    round_trip(&w, Some(&sys), json!({"kernelpath": "/sys/devices/pci0000:00/../pci0000:00/0000:03:00.1/"}), "h1");
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn kernelpath_outside_sys_devices_is_refused() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    sys.pci("0000:03:00.1", &["h1"]);
    sys.netdevs("class/net", &["h1"]);
    for bad in [
        "/sys/class",
        "/sys/devices/../class",
        "/sys/devices/pci0000:00/../../class",
        "/sys/devices/pci0000:00/0000:03:00.1/../../../bus/pci/devices/0000:03:00.1",
        "/sys/devices",
        "/sys/devices/..",
        "sys/devices/pci0000:00/0000:03:00.1",
        "/etc",
    ] {
        refused(&w, Some(&sys), json!({"kernelpath": bad}), 7, &["kernelpath", bad]);
    }
    // A symlink inside /sys/devices/ that leads out of it is refused too.
    symlink("../../class", sys.root.join("devices/pci0000:00/escape")).unwrap();
    refused(&w, Some(&sys), json!({"kernelpath": "/sys/devices/pci0000:00/escape"}), 7, &["outside /sys/devices/"]);
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn kernelpath_without_interface_is_not_found() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    sys.mkdir("devices/platform/foo");
    refused(
        &w,
        Some(&sys),
        json!({"kernelpath": "/sys/devices/platform/foo"}),
        101,
        &["device /sys/devices/platform/foo has no network interface"],
    );
    refused(&w, Some(&sys), json!({"kernelpath": "/sys/devices/platform/bar"}), 101, &["/sys/devices/platform/bar"]);
}

// ----------------------------------------------------------------- pciBusID

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn pci_bus_id_selects_the_function_netdev() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    veth(&w, "h2");
    sys.pci("0000:03:00.1", &["h1"]);
    sys.pci("0000:03:00.2", &["h2"]);
    round_trip(&w, Some(&sys), json!({"pciBusID": "0000:03:00.1"}), "h1");
    // sysfs spells addresses in lowercase; users may not.
    sys.pci("0000:af:00.0", &["h2"]);
    round_trip(&w, Some(&sys), json!({"pciBusID": "0000:AF:00.0"}), "h2");
}

/// A plain directory under bus/pci/devices (no symlink) works the same.
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn pci_bus_id_plain_directory() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    sys.netdevs("bus/pci/devices/0000:03:00.1", &["h1"]);
    round_trip(&w, Some(&sys), json!({"pciBusID": "0000:03:00.1"}), "h1");
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn pci_bus_id_virtio_fallback() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    sys.pci("0000:00:04.0", &[]);
    sys.netdevs("devices/pci0000:00/0000:00:04.0/virtio3", &["h1"]);
    round_trip(&w, Some(&sys), json!({"pciBusID": "0000:00:04.0"}), "h1");
    round_trip(&w, Some(&sys), json!({"kernelpath": "/sys/devices/pci0000:00/0000:00:04.0"}), "h1");
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn pci_function_with_two_netdevs_is_ambiguous() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    veth(&w, "h2");
    let kpath = sys.pci("0000:03:00.1", &["h1", "h2"]);
    refused(&w, Some(&sys), json!({"pciBusID": "0000:03:00.1"}), 7, &["ambiguous", "0000:03:00.1", "h1, h2"]);
    refused(&w, Some(&sys), json!({"kernelpath": kpath}), 7, &["ambiguous", "h1, h2"]);
    refused(
        &w,
        Some(&sys),
        json!({"runtimeConfig": {"deviceID": "0000:03:00.1"}}),
        7,
        &["runtimeConfig.deviceID", "h1, h2"],
    );
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn pci_bus_id_not_found_or_without_netdev() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    refused(&w, Some(&sys), json!({"pciBusID": "0000:09:00.0"}), 101, &["pciBusID", "0000:09:00.0"]);
    // Bound to a kernel driver but with no interface here (e.g. it is in
    // another namespace), or bound to nothing.
    sys.pci("0000:03:00.5", &[]);
    sys.bind("devices/pci0000:00/0000:03:00.5", "ixgbevf");
    refused(&w, Some(&sys), json!({"pciBusID": "0000:03:00.5"}), 101, &["0000:03:00.5", "ixgbevf"]);
    sys.pci("0000:03:00.6", &[]);
    refused(&w, Some(&sys), json!({"pciBusID": "0000:03:00.6"}), 101, &["0000:03:00.6", "no driver"]);
    // sysfs names an interface the host namespace does not have.
    sys.pci("0000:03:00.7", &["ghost0"]);
    refused(&w, Some(&sys), json!({"pciBusID": "0000:03:00.7"}), 101, &["ghost0"]);
    for bad in ["03:00.1", "0000:03:00.1/../..", "../../etc"] {
        refused(&w, Some(&sys), json!({"pciBusID": bad}), 7, &["pciBusID"]);
    }
}

// ------------------------------------------------------ runtimeConfig.deviceID

/// h1 as PCI function 0000:03:00.1 and veth sf4 as auxiliary device
/// mlx5_core.sf.4.
fn pci_and_sf(w: &World) -> FakeSys {
    let sys = FakeSys::new(w);
    w.host_veth("h1", true);
    veth(w, "sf4");
    sys.pci("0000:03:00.1", &["h1"]);
    sys.netdevs("bus/auxiliary/devices/mlx5_core.sf.4", &["sf4"]);
    sys
}

#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn device_id_pci_and_auxiliary() {
    let w = World::new();
    let sys = pci_and_sf(&w);
    round_trip(&w, Some(&sys), json!({"runtimeConfig": {"deviceID": "0000:03:00.1"}}), "h1");
    round_trip(&w, Some(&sys), json!({"runtimeConfig": {"deviceID": "mlx5_core.sf.4"}}), "sf4");
    refused(
        &w,
        Some(&sys),
        json!({"runtimeConfig": {"deviceID": "mlx5_core.sf.5"}}),
        101,
        &["mlx5_core.sf.5", "auxiliary"],
    );
    refused(&w, Some(&sys), json!({"runtimeConfig": {"deviceID": "../../x"}}), 7, &["deviceID"]);
}

/// The device plugin's deviceID replaces a static pciBusID, even one that
/// names another function or is malformed.
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn device_id_overrides_pci_bus_id() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    veth(&w, "h2");
    sys.pci("0000:03:00.1", &["h1"]);
    sys.pci("0000:03:00.2", &["h2"]);
    let out = round_trip(
        &w,
        Some(&sys),
        json!({"pciBusID": "0000:03:00.2", "runtimeConfig": {"deviceID": "0000:03:00.1"}, "logLevel": "info"}),
        "h1",
    );
    let replaced = r#"msg="runtimeConfig.deviceID replaces pciBusID" deviceID=0000:03:00.1 pciBusID=0000:03:00.2"#;
    assert!(out.stderr.contains(replaced), "{out:#?}");
    // The same function in both says nothing of it.
    let same = json!({"pciBusID": "0000:03:00.1", "runtimeConfig": {"deviceID": "0000:03:00.1"}, "logLevel": "info"});
    let out = round_trip(&w, Some(&sys), same, "h1");
    assert!(!out.stderr.contains("replaces"), "{out:#?}");
    round_trip(&w, Some(&sys), json!({"pciBusID": "", "runtimeConfig": {"deviceID": "0000:03:00.2"}}), "h2");
    // But it must agree with the other selectors.
    refused(
        &w,
        Some(&sys),
        json!({"device": "h1", "runtimeConfig": {"deviceID": "0000:03:00.2"}}),
        7,
        &["selects h1", "selects h2"],
    );
}

/// CONVENTIONS.md, Well-known Capabilities: `deviceID` is to "Provide
/// device identifier which is associated with the network to allow the CNI
/// plugin to perform device dependent network configurations". Multus, for
/// a plugin that declares no `deviceID` capability, writes that identifier
/// at the top level as both `deviceID` and `pciBusID`, also for an
/// auxiliary (SF) device, which has no PCI address: hostdev reads the
/// top-level `deviceID` as the device plugin's word, as it reads
/// `runtimeConfig.deviceID` (which wins when both are there).
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn multus_top_level_device_id() {
    let w = World::new();
    let sys = pci_and_sf(&w);
    let multus = |id: &str| json!({"deviceID": id, "pciBusID": id});
    round_trip(&w, Some(&sys), multus("mlx5_core.sf.4"), "sf4");
    round_trip(&w, Some(&sys), multus("0000:03:00.1"), "h1");
    let both = json!({"deviceID": "mlx5_core.sf.4", "runtimeConfig": {"deviceID": "0000:03:00.1"}});
    round_trip(&w, Some(&sys), both, "h1");
    // Errors name the key as the config spells it.
    for (sel, code) in [(multus("mlx5_core.sf.5"), 101), (json!({"deviceID": "../../x", "pciBusID": "../../x"}), 7)] {
        let out = refused(&w, Some(&sys), sel.clone(), code, &["deviceID"]);
        assert!(!out.json["msg"].as_str().unwrap().contains("runtimeConfig"), "{sel}: {out:#?}");
    }
}

// ------------------------------------------------------------------- DPDK

/// A function bound to a userspace driver (DPDK) has no interface: ADD
/// moves nothing, still runs IPAM, and reports the device by its PCI id;
/// CHECK and DEL agree; DEL still works after the device left sysfs.
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn userspace_bound_device_gets_ipam_only() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    let pci = "0000:03:00.3";
    sys.pci(pci, &[]);
    sys.bind("devices/pci0000:00/0000:03:00.3", "vfio-pci");
    let ipam = static_ipam("192.0.2.10/24");
    let selectors = [
        json!({"pciBusID": pci, "ipam": ipam}),
        json!({"runtimeConfig": {"deviceID": pci}, "ipam": ipam}),
        json!({"kernelpath": "/sys/devices/pci0000:00/0000:03:00.3", "ipam": ipam}),
    ];
    for (i, sel) in selectors.iter().enumerate() {
        let (host_before, ctr_before) = (links(&w.host.name), links(&w.ctr.name));
        let mut sel = sel.clone();
        sel["cniVersion"] = json!("1.1.0");
        let out = run_sel(&w, Some(&sys), "ADD", &sel);
        out.assert_ok();
        assert_eq!(out.json["interfaces"][0]["name"], "eth0", "{out:#?}");
        assert_eq!(out.json["interfaces"][0]["pciID"], pci, "{out:#?}");
        assert_eq!(out.json["interfaces"][0]["sandbox"], w.ctr.path(), "{out:#?}");
        assert_eq!(out.json["ips"][0]["address"], "192.0.2.10/24", "{out:#?}");
        assert_eq!(out.json["ips"][0]["interface"], 0, "{out:#?}");
        assert_eq!(links(&w.host.name), host_before, "ADD of a DPDK device changed the host");
        assert_eq!(links(&w.ctr.name), ctr_before, "ADD of a DPDK device changed the container");
        let mut check = sel.clone();
        check["prevResult"] = out.json.clone();
        run_sel(&w, Some(&sys), "CHECK", &check).assert_ok();
        if i == selectors.len() - 1 {
            // The device was unbound or removed since ADD: the record is enough.
            std::fs::remove_dir_all(sys.root.join("devices/pci0000:00/0000:03:00.3")).unwrap();
            let _ = std::fs::remove_file(sys.root.join("bus/pci/devices/0000:03:00.3"));
        }
        run_sel(&w, Some(&sys), "DEL", &sel).assert_ok();
        let left: Vec<_> = std::fs::read_dir(w.data_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .collect();
        assert!(left.is_empty(), "records left after DEL: {left:?}");
    }
    // Naming a netdev as well is a conflict, not a choice.
    sys.pci(pci, &[]);
    sys.bind("devices/pci0000:00/0000:03:00.3", "vfio-pci");
    refused(&w, Some(&sys), json!({"device": "h1", "pciBusID": pci}), 7, &["selects h1", "vfio-pci"]);
    // One container holds it: another's ADD is refused, and moves nothing.
    let sel = json!({"cniVersion": "1.1.0", "pciBusID": pci, "ipam": ipam});
    run_sel(&w, Some(&sys), "ADD", &sel).assert_ok();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let mut env = env_for("ADD", "second", &other.path(), "eth0");
    env.insert("HOSTDEV_SYSFS_ROOT", sys.root.to_string_lossy().into_owned());
    let mut conf = sel.clone();
    for (k, v) in [("name", json!("testnet")), ("type", json!("hostdev")), ("dataDir", json!(w.data_dir()))] {
        conf[k] = v;
    }
    let out = w.run(&env, &conf.to_string());
    out.assert_err(102);
    assert!(out.json["msg"].as_str().unwrap_or("").contains(&w.id), "names the holder: {out:#?}");
    run_sel(&w, Some(&sys), "DEL", &sel).assert_ok();
}

/// An auxiliary device bound to a userspace driver has no PCI address:
/// the result names it as CNI_IFNAME without `pciID` (which the spec
/// defines as a PCI address).
#[test]
#[cfg_attr(not(feature = "test-hooks"), ignore = "needs --features test-hooks")]
fn userspace_auxiliary_device_has_no_pci_id() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    sys.netdevs("bus/auxiliary/devices/mlx5_core.sf.6", &[]);
    sys.bind("bus/auxiliary/devices/mlx5_core.sf.6", "vfio-pci");
    let ipam = static_ipam("192.0.2.10/24");
    let sel = json!({"cniVersion": "1.1.0", "runtimeConfig": {"deviceID": "mlx5_core.sf.6"}, "ipam": ipam});
    let out = run_sel(&w, Some(&sys), "ADD", &sel);
    out.assert_ok();
    assert_eq!(out.json["interfaces"][0]["name"], "eth0", "{out:#?}");
    assert!(out.json["interfaces"][0].get("pciID").is_none(), "an auxiliary name is not a pciID: {out:#?}");
    run_sel(&w, Some(&sys), "DEL", &sel).assert_ok();
}

/// A shipped binary (no `test-hooks`) reads the real /sys whatever the
/// environment says: the fake tree's PCI function is unknown to it.
#[test]
#[cfg_attr(feature = "test-hooks", ignore = "only meaningful without --features test-hooks")]
fn sysfs_root_is_not_injectable_without_test_hooks() {
    let w = World::new();
    let sys = FakeSys::new(&w);
    w.host_veth("h1", true);
    sys.pci("0000:fe:1f.7", &["h1"]);
    refused(
        &w,
        Some(&sys),
        json!({"pciBusID": "0000:fe:1f.7"}),
        101,
        &["0000:fe:1f.7", "/sys/bus/pci/devices/0000:fe:1f.7"],
    );
}
