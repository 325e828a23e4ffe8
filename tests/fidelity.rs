//! Interface fidelity: everything an operator configured on the host
//! interface comes back on DEL (whatever the container did to it), IPv6
//! addresses are usable the moment ADD and DEL return, and devices stacked
//! on others are guarded.

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn ip_json(ns: &str, args: &[&str]) -> Value {
    let mut all = vec!["-j"];
    all.extend_from_slice(args);
    serde_json::from_str(&ip(ns, &all)).unwrap()
}

/// One link as `ip -j -d link show` reports it.
fn link_details(ns: &str, name: &str) -> Value {
    ip_json(ns, &["-d", "link", "show", "dev", name])[0].clone()
}

/// The addresses of `dev`: (address/prefix, scope, flags) for each.
fn addr_infos(ns: &str, dev: &str) -> Vec<Value> {
    ip_json(ns, &["addr", "show", "dev", dev])[0]["addr_info"].as_array().cloned().unwrap_or_default()
}

fn addr_key(i: &Value) -> String {
    norm_addr(&format!("{}/{}", i["local"].as_str().unwrap(), i["prefixlen"]))
}

/// Every address of `dev` with its scope.
fn scoped_addrs(ns: &str, dev: &str) -> BTreeSet<(String, String)> {
    addr_infos(ns, dev).iter().map(|i| (addr_key(i), i["scope"].as_str().unwrap_or("").to_string())).collect()
}

/// The addresses of `dev` still running duplicate address detection.
fn tentative(ns: &str, dev: &str) -> Vec<String> {
    addr_infos(ns, dev).iter().filter(|i| i["tentative"] == true).map(addr_key).collect()
}

/// The kernel's own link-local: the one fe80:: address we did not add.
fn kernel_link_local(ns: &str, dev: &str) -> String {
    let lls: Vec<String> =
        addr_infos(ns, dev).iter().map(addr_key).filter(|a| a.starts_with("fe80:") && a != "fe80::abcd/64").collect();
    assert_eq!(lls.len(), 1, "one kernel link-local on {dev}: {lls:?}");
    lls[0].clone()
}

fn config_with(w: &World, device: &str, extra: Value) -> String {
    let mut c: Value = serde_json::from_str(&w.config("1.0.0", device)).unwrap();
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c.to_string()
}

/// A veth `h1` on the host, its peer up, itself up.
fn plain_veth(w: &World) {
    let ns = &w.host.name;
    ip(ns, &["link", "add", "h1", "type", "veth", "peer", "name", "h1p"]);
    ip(ns, &["link", "set", "h1p", "up"]);
    ip(ns, &["link", "set", "h1", "up"]);
}

#[test]
fn every_configured_address_comes_back_with_its_lifetime() {
    let w = World::new();
    let ns = &w.host.name;
    plain_veth(&w);
    ip(ns, &["addr", "add", "10.7.7.7/24", "dev", "h1", "scope", "link"]);
    ip(ns, &["addr", "add", "fe80::abcd/64", "dev", "h1", "nodad"]);
    ip(ns, &["addr", "add", "10.8.8.8/24", "dev", "h1", "valid_lft", "3000", "preferred_lft", "3000"]);
    ip(ns, &["addr", "add", "2001:db8:5::5/64", "dev", "h1", "valid_lft", "3000", "preferred_lft", "2000", "nodad"]);
    assert!(wait_until(60, || tentative(ns, "h1").is_empty()), "DAD on the host never finished");
    let before = scoped_addrs(ns, "h1");
    let kernel_ll = kernel_link_local(ns, "h1");

    let out = w.attach("h1", "eth0");
    let in_ctr = scoped_addrs(&w.ctr.name, "eth0");
    for want in [("10.7.7.7/24", "link"), ("fe80::abcd/64", "link"), ("10.8.8.8/24", "global")] {
        assert!(in_ctr.contains(&(want.0.into(), want.1.into())), "{want:?} not in the container: {in_ctr:?}");
    }
    let ips: BTreeSet<String> =
        out.json["ips"].as_array().unwrap().iter().map(|i| norm_addr(i["address"].as_str().unwrap())).collect();
    assert!(ips.contains("10.7.7.7/24") && ips.contains("2001:db8:5::5/64"), "result: {out:#?}");
    assert!(!ips.contains(&kernel_ll), "the kernel's own link-local is not carried: {out:#?}");

    w.del("h1", "eth0").assert_ok();
    assert_eq!(scoped_addrs(ns, "h1"), before, "addresses after DEL");
    for i in addr_infos(ns, "h1") {
        let key = addr_key(&i);
        if key == "10.8.8.8/24" || key == "2001:db8:5::5/64" {
            let valid = i["valid_life_time"].as_u64().unwrap();
            assert!(valid > 2900 && valid <= 3000, "{key} valid_lft {valid}");
            let preferred = i["preferred_life_time"].as_u64().unwrap();
            assert!(preferred <= if key.contains(':') { 2000 } else { 3000 } && preferred > 1900, "{key} {i}");
        }
    }
    let routes = ip(ns, &["route", "show", "dev", "h1"]);
    assert!(routes.contains("10.8.8.0/24"), "prefix route of a finite-lifetime address: {routes}");
}

#[test]
fn link_state_is_the_host_one_after_del_whatever_the_container_did() {
    let w = World::new();
    let ns = &w.host.name;
    plain_veth(&w);
    ip(ns, &["link", "set", "h1", "txqueuelen", "77", "group", "5", "alias", "uplink one"]);
    let before = link_details(ns, "h1");
    w.attach("h1", "eth0");
    ip(
        &w.ctr.name,
        &[
            "link",
            "set",
            "eth0",
            "promisc",
            "on",
            "allmulticast",
            "on",
            "arp",
            "off",
            "multicast",
            "off",
            "txqueuelen",
            "5",
            "group",
            "9",
            "alias",
            "the pod's",
        ],
    );
    w.del("h1", "eth0").assert_ok();
    let after = link_details(ns, "h1");
    assert_eq!(after["ifalias"], "uplink one", "{after}");
    for key in ["flags", "txqlen", "group", "promiscuity", "allmulti", "ifalias"] {
        assert_eq!(after[key], before[key], "{key} after DEL: {after}");
    }
}

#[test]
fn host_promisc_and_noarp_come_back() {
    let w = World::new();
    let ns = &w.host.name;
    plain_veth(&w);
    ip(ns, &["link", "set", "h1", "promisc", "on", "allmulticast", "on", "arp", "off"]);
    let before = link_details(ns, "h1");
    w.attach("h1", "eth0");
    ip(&w.ctr.name, &["link", "set", "eth0", "promisc", "off", "allmulticast", "off", "arp", "on"]);
    w.del("h1", "eth0").assert_ok();
    let after = link_details(ns, "h1");
    assert_eq!(after["flags"], before["flags"], "{after}");
}

#[test]
fn a_bridge_port_is_a_port_again_after_del() {
    let w = World::new();
    let ns = &w.host.name;
    ip(ns, &["link", "add", "br0", "type", "bridge"]);
    ip(ns, &["link", "set", "br0", "up"]);
    plain_veth(&w);
    ip(ns, &["link", "set", "h1", "master", "br0"]);
    w.attach("h1", "eth0");
    w.del("h1", "eth0").assert_ok();
    let after = link_details(ns, "h1");
    assert_eq!(after["master"], "br0", "h1 after DEL: {after}");
    assert!(after["flags"].as_array().unwrap().iter().any(|f| f == "UP"), "{after}");
}

#[test]
fn ipv6_addresses_are_not_tentative_when_add_and_del_return() {
    let w = World::new();
    let ns = &w.host.name;
    plain_veth(&w);
    ip(ns, &["addr", "add", "2001:db8:7::7/64", "dev", "h1"]);
    ip(ns, &["addr", "add", "fe80::abcd/64", "dev", "h1"]);
    assert!(wait_until(60, || tentative(ns, "h1").is_empty()), "DAD on the host never finished");

    w.attach("h1", "eth0");
    let in_ctr = tentative(&w.ctr.name, "eth0");
    assert!(!in_ctr.contains(&"2001:db8:7::7/64".to_string()), "tentative after ADD: {in_ctr:?}");
    assert!(!in_ctr.contains(&"fe80::abcd/64".to_string()), "tentative after ADD: {in_ctr:?}");

    w.del("h1", "eth0").assert_ok();
    let home = tentative(ns, "h1");
    assert!(!home.contains(&"2001:db8:7::7/64".to_string()), "tentative after DEL: {home:?}");
    assert!(!home.contains(&"fe80::abcd/64".to_string()), "tentative after DEL: {home:?}");
}

/// h1 with 10.1.2.3/24 and 2001:db8:1::3/64, for a container with IPv6
/// disabled in `net.ipv6.conf.<key>` for each of `keys`.
fn dual_stack_h1_for_a_container_without_ipv6(w: &World, keys: &[&str]) {
    plain_veth(w);
    ip(&w.host.name, &["addr", "add", "10.1.2.3/24", "dev", "h1"]);
    ip(&w.host.name, &["addr", "add", "2001:db8:1::3/64", "dev", "h1", "nodad"]);
    for key in keys {
        set_sysctl(&w.ctr.name, &format!("ipv6/conf/{key}/disable_ipv6"), "1");
    }
}

#[test]
fn ipv6_arrives_whole_in_a_container_with_ipv6_disabled() {
    let w = World::new();
    let ns = &w.host.name;
    dual_stack_h1_for_a_container_without_ipv6(&w, &["all", "default"]);
    let out = w.attach("h1", "eth0");
    let in_ctr = scoped_addrs(&w.ctr.name, "eth0");
    assert!(in_ctr.contains(&("2001:db8:1::3/64".into(), "global".into())), "{in_ctr:?}");
    assert!(in_ctr.contains(&("10.1.2.3/24".into(), "global".into())), "{in_ctr:?}");
    let mut ips: Vec<String> =
        out.json["ips"].as_array().unwrap().iter().map(|i| norm_addr(i["address"].as_str().unwrap())).collect();
    ips.sort();
    assert_eq!(ips, ["10.1.2.3/24", "2001:db8:1::3/64"], "result: {out:#?}");
    assert!(!out.stderr.contains("stays off"), "an address was left off: {out:#?}");
    // Only this interface: the container's default stays as it was.
    assert_eq!(sysctl(&w.ctr.name, "ipv6/conf/default/disable_ipv6"), "1");
    w.del("h1", "eth0").assert_ok();
    assert!(scoped_addrs(ns, "h1").contains(&("2001:db8:1::3/64".into(), "global".into())));
}

/// IPv6 is disabled in the container and cannot be enabled there either:
/// the plugin runs where /proc/sys is read-only (as in a hardened runtime).
/// The IPv6 address stays off the interface and out of the result, with a
/// warning; the IPv4 one arrives; DEL brings the IPv6 one home.
#[test]
fn ipv6_that_cannot_be_enabled_stays_off_and_out_of_the_result() {
    let w = World::new();
    let ns = &w.host.name;
    dual_stack_h1_for_a_container_without_ipv6(&w, &["default"]);
    let wrapper = w.tmp.join("ro-proc-sys");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec unshare -m --propagation private sh -c 'mount -o bind,ro /proc/sys /proc/sys && exec {BIN}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = run_binary(wrapper.to_str().unwrap(), ns, &w.env("ADD", "eth0"), &w.config("1.0.0", "h1"));
    out.assert_ok();
    assert!(out.stderr.contains("2001:db8:1::3/64 stays off eth0"), "{out:#?}");
    let ips: Vec<String> =
        out.json["ips"].as_array().unwrap().iter().map(|i| norm_addr(i["address"].as_str().unwrap())).collect();
    assert_eq!(ips, ["10.1.2.3/24"], "result: {out:#?}");
    let in_ctr: Vec<String> = addr_infos(&w.ctr.name, "eth0").iter().map(addr_key).collect();
    assert_eq!(in_ctr, ["10.1.2.3/24"], "addresses in the container");
    w.del("h1", "eth0").assert_ok();
    assert!(scoped_addrs(ns, "h1").contains(&("2001:db8:1::3/64".into(), "global".into())));
}

#[test]
fn ipam_ipv6_addresses_are_settled_when_add_returns() {
    let w = World::new();
    plain_veth(&w);
    let conf = config_with(
        &w,
        "h1",
        json!({"ipam": {"type": "static", "addresses": [{"address": "2001:db8:9::9/64"}, {"address": "10.9.9.9/24"}]}}),
    );
    w.run(&w.env("ADD", "eth0"), &conf).assert_ok();
    let t = tentative(&w.ctr.name, "eth0");
    assert!(!t.contains(&"2001:db8:9::9/64".to_string()), "IPAM address tentative after ADD: {t:?}");
    w.run(&w.env("DEL", "eth0"), &conf).assert_ok();
}

/// A bridge `br0` on the host with `h1` as its port, carrying the default route.
fn bridge_with_default_route(w: &World) {
    let ns = &w.host.name;
    ip(ns, &["link", "add", "br0", "type", "bridge"]);
    plain_veth(w);
    ip(ns, &["link", "set", "h1", "master", "br0"]);
    ip(ns, &["link", "set", "br0", "up"]);
    ip(ns, &["addr", "add", "10.9.0.1/24", "dev", "br0"]);
    ip(ns, &["route", "add", "default", "via", "10.9.0.254", "dev", "br0"]);
}

#[test]
fn the_port_of_a_bridge_that_carries_the_default_route_stays() {
    let w = World::new();
    bridge_with_default_route(&w);
    let out = w.add("h1", "eth0");
    out.assert_err(107);
    assert!(out.json["msg"].as_str().unwrap().contains("br0"), "{out:#?}");
    assert!(link(&w.host.name, "h1").is_some());

    let conf = config_with(&w, "h1", json!({"allowDefaultRoute": true}));
    w.run(&w.env("ADD", "eth0"), &conf).assert_ok();
    w.run(&w.env("DEL", "eth0"), &conf).assert_ok();
    assert_eq!(link_details(&w.host.name, "h1")["master"], "br0");
}

/// `h1` with a macvlan `mv0` on it.
fn macvlan_on_veth(w: &World) {
    let ns = &w.host.name;
    plain_veth(w);
    ip(ns, &["link", "add", "mv0", "link", "h1", "type", "macvlan", "mode", "bridge"]);
    ip(ns, &["link", "set", "mv0", "up"]);
}

#[test]
fn the_lower_device_of_a_macvlan_that_carries_the_default_route_stays() {
    let w = World::new();
    let ns = &w.host.name;
    macvlan_on_veth(&w);
    ip(ns, &["addr", "add", "10.9.1.1/24", "dev", "mv0"]);
    ip(ns, &["route", "add", "default", "via", "10.9.1.254", "dev", "mv0"]);
    let conf = config_with(&w, "h1", json!({"allowUpperDevices": true}));
    let out = w.run(&w.env("ADD", "eth0"), &conf);
    out.assert_err(107);
    assert!(out.json["msg"].as_str().unwrap().contains("mv0"), "{out:#?}");
    assert!(link(ns, "h1").is_some());
}

#[test]
fn a_device_with_upper_devices_is_refused_unless_allowed() {
    let w = World::new();
    let ns = &w.host.name;
    macvlan_on_veth(&w);
    let out = w.add("h1", "eth0");
    out.assert_err(104);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains("mv0") && msg.contains("allowUpperDevices"), "{out:#?}");
    assert!(link(ns, "h1").is_some());

    let conf = config_with(&w, "h1", json!({"allowUpperDevices": true}));
    w.run(&w.env("ADD", "eth0"), &conf).assert_ok();
    w.run(&w.env("DEL", "eth0"), &conf).assert_ok();
    assert!(link(ns, "h1").is_some());
}

/// ADD decodes only the links it needs of its dump (the device, what is
/// stacked on it, its master read after): among some 300 links, over many
/// datagrams, it still finds a macvlan on the device and a bridge it is a
/// port of, made after them all.
#[test]
fn the_stack_is_found_among_many_links() {
    let w = World::new();
    let ns = &w.host.name;
    let pairs: String = (0..150).map(|i| format!("link add x{i} type veth peer name y{i}\n")).collect();
    ip_batch(ns, &pairs);
    macvlan_on_veth(&w);
    ip(ns, &["link", "add", "h2", "type", "veth", "peer", "name", "h2p"]);
    ip(ns, &["link", "add", "br0", "type", "bridge"]);
    ip(ns, &["link", "set", "h2", "master", "br0", "up"]);
    let out = w.add("h1", "eth0");
    out.assert_err(104);
    assert!(out.json["msg"].as_str().unwrap().contains("mv0"), "{out:#?}");
    w.attach("h2", "eth1");
    w.del("h2", "eth1").assert_ok();
    assert_eq!(link_details(ns, "h2")["master"], "br0");
}

#[test]
fn a_veth_whose_peer_is_on_the_host_has_no_upper_devices() {
    let w = World::new();
    plain_veth(&w);
    w.attach("h1", "eth0");
    w.del("h1", "eth0").assert_ok();
}

// ------------------------------------------- addresses the kernel drops

/// h1 with `n` /32 addresses (10.1.4.1 up), attached with the test hook
/// deleting the first `lost` of them right after they were added, `rounds`
/// times (tests/scale_addrs.rs does this with 4,096 addresses).
#[cfg(feature = "test-hooks")]
fn add_losing(w: &World, n: usize, lost: usize, rounds: u32) -> (Out, Vec<String>) {
    plain_veth(w);
    let addrs: Vec<String> = (1..=n).map(|i| format!("10.1.4.{i}/32")).collect();
    for a in &addrs {
        ip(&w.host.name, &["addr", "add", a, "dev", "h1"]);
    }
    let mut env = w.env("ADD", "eth0");
    env.insert("HOSTDEV_LOSE_ADDRS", addrs[..lost].join(","));
    env.insert("HOSTDEV_LOSE_ROUNDS", rounds.to_string());
    (w.run(&env, &w.config("1.0.0", "h1")), addrs)
}

/// The IPv4 addresses of `dev`, sorted (the kernel adds an IPv6 link-local).
#[cfg(feature = "test-hooks")]
fn v4_addrs(ns: &str, dev: &str) -> Vec<String> {
    let mut v4: Vec<String> = addr_infos(ns, dev).iter().map(addr_key).filter(|a| !a.contains(':')).collect();
    v4.sort();
    v4
}

/// Lost once: put back, logged, and the result has every address.
#[cfg(feature = "test-hooks")]
#[test]
fn addresses_the_kernel_drops_once_are_put_back() {
    let w = World::new();
    let (out, addrs) = add_losing(&w, 3, 2, 1);
    out.assert_ok();
    assert!(out.stderr.contains("dropped 2 addresses of eth0") && out.stderr.contains("10.1.4.2/32"), "{out:#?}");
    assert_eq!(v4_addrs(&w.ctr.name, "eth0"), addrs, "addresses in the container");
    assert_eq!(out.json["ips"].as_array().map(|a| a.len()), Some(3), "{out:#?}");
}

/// Lost twice: ADD fails naming them (five at most, then "..."), and h1
/// is home with every address.
#[cfg(feature = "test-hooks")]
#[test]
fn addresses_the_kernel_keeps_dropping_are_named() {
    for (lost, named) in
        [(5, "10.1.4.1/32, 10.1.4.2/32, 10.1.4.3/32, 10.1.4.4/32, 10.1.4.5/32"), (6, "10.1.4.5/32, ...")]
    {
        let w = World::new();
        let (out, addrs) = add_losing(&w, 6, lost, 2);
        out.assert_err(100);
        let msg = out.json["msg"].as_str().unwrap_or("");
        let want = format!("the kernel dropped {lost} addresses of eth0 after accepting them, twice: ");
        assert!(msg.starts_with(&want) && msg.ends_with(named), "{lost} lost: {msg}");
        assert!(link(&w.ctr.name, "eth0").is_none(), "eth0 left in the container");
        assert_eq!(v4_addrs(&w.host.name, "h1"), addrs, "{lost} lost: h1 after the failed ADD");
    }
}
