//! Routes, policy rules and address flags: what comes home after DEL, and
//! what `useInterfaceNetwork: true` carries into the pod. Each test builds
//! a host namespace with two veth devices (`d0`, handed to the pod, and
//! `d1`, which stays) and routes of every shape through `d0`: multipath
//! with weights across both devices, onlink, a preferred source, IPv6
//! `pref high`, a non-main table, protocol and metric, routes through
//! nexthop objects (one on `d0`, a group across both), and rules naming
//! `d0` or its addresses. The host's `ip -j route/nexthop/rule` output
//! before ADD must equal the one after DEL, also after a crash at every
//! fail point and after a failed ADD.
//!
//! Run: cargo test --features test-hooks --test routes

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Everything the kernel reports about routes, nexthop objects and rules
/// in namespace `ns`, one JSON object per line, in a set (the kernel's
/// order of equal-priority entries is not ours to keep).
fn routing(ns: &str) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for (tag, args) in [
        ("route4", &["-j", "-4", "route", "show", "table", "all"][..]),
        ("route6", &["-j", "-6", "route", "show", "table", "all"][..]),
        ("nexthop", &["-j", "nexthop", "show"][..]),
        ("rule4", &["-j", "-4", "rule", "show"][..]),
        ("rule6", &["-j", "-6", "rule", "show"][..]),
    ] {
        let text = ip(ns, args);
        let v: Value = serde_json::from_str(if text.trim().is_empty() { "[]" } else { &text }).unwrap();
        all.extend(v.as_array().unwrap().iter().map(|x| format!("{tag} {x}")));
    }
    all
}

/// The IPv6 global addresses of `dev` with their flags, as `ip -j addr` has them.
fn v6_flags(ns: &str, dev: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(&ip(ns, &["-j", "-6", "addr", "show", "dev", dev, "scope", "global"])).unwrap();
    let info = v[0]["addr_info"].as_array().cloned().unwrap_or_default();
    let mut out: Vec<String> = info
        .iter()
        .filter(|a| a["local"].is_string())
        .map(|a| {
            let flags: Vec<&str> = ["nodad", "tentative", "noprefixroute", "dadfailed"]
                .into_iter()
                .filter(|f| a.get(*f).is_some_and(|x| x == true))
                .collect();
            format!("{}/{} {}", a["local"].as_str().unwrap(), a["prefixlen"], flags.join(","))
        })
        .collect();
    out.sort();
    out
}

/// Waits until no IPv6 address of `dev` is tentative (duplicate address
/// detection done), so the snapshot sees them settled.
fn settle(ns: &str, dev: &str) {
    let done = || !ip(ns, &["-6", "addr", "show", "dev", dev]).contains("tentative");
    assert!(wait_until(60, done), "DAD on {dev} in {ns} did not finish");
}

/// The host side: `d0` (moved) and `d1` (stays), both veths with their
/// peers up, addresses on both, and routes, nexthop objects and rules of
/// every shape through `d0`.
fn routed_host(w: &World) {
    let h = &w.host.name;
    for d in ["d0", "d1"] {
        ip(h, &["link", "add", d, "type", "veth", "peer", "name", &format!("{d}p")]);
        ip(h, &["link", "set", &format!("{d}p"), "up"]);
        ip(h, &["link", "set", d, "up"]);
    }
    ip(h, &["addr", "add", "10.9.0.1/24", "dev", "d0"]);
    ip(h, &["addr", "add", "10.9.1.1/32", "dev", "d0"]);
    ip(h, &["addr", "add", "10.10.0.1/24", "dev", "d1"]);
    // Not nodad: the host's own address must come home without it.
    ip(h, &["addr", "add", "2001:db8:5::1/64", "dev", "d0"]);
    ip(h, &["addr", "add", "2001:db8:6::1/64", "dev", "d1", "nodad"]);
    for d in ["d0", "d0p", "d1", "d1p"] {
        settle(h, d);
    }
    let lines = [
        "route add 10.99.0.0/24 nexthop via 10.9.0.254 dev d0 weight 2 nexthop via 10.10.0.254 dev d1 weight 3",
        "route add 10.96.0.1 via 10.200.0.1 dev d0 onlink",
        "route add 10.97.0.0/24 via 10.9.0.254 dev d0 src 10.9.1.1 table 100 proto static metric 5",
        "route add 10.98.0.0/24 dev d0 scope link proto 77 mtu 1300 advmss 1200",
        "-6 route add 2001:db8:77::/48 via 2001:db8:5::fe dev d0 pref high",
        "-6 route add 2001:db8:78::/48 nexthop via 2001:db8:5::fe dev d0 weight 4 nexthop via 2001:db8:6::fe dev d1",
        "-6 route add 2001:db8:79::/48 dev d0 table 200 metric 9 src 2001:db8:5::1",
        "nexthop add id 5 via 10.9.0.254 dev d0",
        "nexthop add id 6 via 10.10.0.254 dev d1",
        "nexthop add id 7 group 5,2/6",
        "route add 10.95.0.0/24 nhid 5",
        "route add 10.94.0.0/24 nhid 7 metric 3",
        "rule add from 10.9.1.1 lookup 100 pref 100",
        "rule add iif d0 lookup 100 pref 101",
        "rule add oif d0 fwmark 0x7 lookup 100 pref 102",
        "-6 rule add from 2001:db8:5::1 lookup 200 pref 103",
        "rule add from 10.10.0.1 lookup 100 pref 104",
    ];
    for line in lines {
        ip(h, &line.split_whitespace().collect::<Vec<_>>());
    }
}

fn config(w: &World, extra: Value) -> String {
    conf(w, "1.0.0", "d0", extra)
}

fn carry() -> Value {
    json!({"useInterfaceNetwork": true})
}

/// ADD then DEL, both successful.
fn add_del(w: &World, cfg: &str) {
    w.run(&w.env("ADD", "eth0"), cfg).assert_ok();
    assert!(link(&w.host.name, "d0").is_none(), "d0 moved");
    w.run(&w.env("DEL", "eth0"), cfg).assert_ok();
    assert!(records(w).is_empty(), "records left: {:#?}", records(w));
}

fn assert_same(before: &BTreeSet<String>, after: &BTreeSet<String>, what: &str) {
    let lost: Vec<&String> = before.difference(after).collect();
    let extra: Vec<&String> = after.difference(before).collect();
    assert!(lost.is_empty() && extra.is_empty(), "{what}:\nlost: {lost:#?}\nextra: {extra:#?}");
}

/// The host's own IPv6 address had completed DAD: it is re-added without
/// a second round, but `nodad` is the pod's copy's flag only.
#[test]
fn nodad_is_not_left_on_the_hosts_address() {
    let w = World::new();
    routed_host(&w);
    let before = v6_flags(&w.host.name, "d0");
    assert_eq!(before, vec!["2001:db8:5::1/64 ".to_string()]);
    add_del(&w, &config(&w, json!({})));
    assert_eq!(v6_flags(&w.host.name, "d0"), before, "flags of the host's address after DEL");
}

#[test]
fn routes_of_every_shape_come_home_exactly() {
    let w = World::new();
    routed_host(&w);
    let before = routing(&w.host.name);
    add_del(&w, &config(&w, json!({})));
    settle(&w.host.name, "d0");
    assert_same(&before, &routing(&w.host.name), "routing after ADD and DEL");
}

/// Without the key nothing but addresses is carried: the pod has only the
/// kernel's prefix routes and its default rules.
#[test]
fn without_use_interface_network_no_route_or_rule_is_carried() {
    let w = World::new();
    routed_host(&w);
    let pristine = routing(&w.ctr.name);
    let cfg = config(&w, json!({}));
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    let inside = routing(&w.ctr.name);
    assert!(!inside.iter().any(|r| r.contains("10.97.0.0") || r.contains("\"table\":\"100\"")), "{inside:#?}");
    assert!(inside.iter().filter(|r| r.starts_with("rule")).all(|r| pristine.contains(r)), "{inside:#?}");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
}

/// `useInterfaceNetwork: true` carries the routes through d0 (each hop
/// through d0 of a route that also goes elsewhere) and the rules naming d0
/// or its addresses into the pod, and all of it comes home exactly.
#[test]
fn use_interface_network_carries_routes_and_rules_and_restores_them() {
    let w = World::new();
    routed_host(&w);
    let before = routing(&w.host.name);
    let cfg = config(&w, carry());
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    let c = &w.ctr.name;
    let routes = ip(c, &["-4", "route", "show", "table", "all"]) + &ip(c, &["-6", "route", "show", "table", "all"]);
    for want in [
        "10.99.0.0/24 via 10.9.0.254 dev eth0",
        "10.96.0.1 via 10.200.0.1 dev eth0 onlink",
        "10.97.0.0/24 via 10.9.0.254 dev eth0 table 100 proto static src 10.9.1.1 metric 5",
        "10.98.0.0/24 dev eth0 proto 77 scope link mtu 1300 advmss 1200",
        "10.95.0.0/24 via 10.9.0.254 dev eth0",
        "10.94.0.0/24 via 10.9.0.254 dev eth0 metric 3",
        "2001:db8:77::/48 via 2001:db8:5::fe dev eth0 metric 1024 pref high",
        "2001:db8:78::/48 via 2001:db8:5::fe dev eth0 metric 1024 pref medium",
        "2001:db8:79::/48 dev eth0 table 200 src 2001:db8:5::1 metric 9 pref medium",
    ] {
        assert!(routes.contains(want), "no {want:?} in the pod:\n{routes}");
    }
    assert!(!routes.contains("10.10.0.254") && !routes.contains("2001:db8:6::fe"), "d1's hops stay:\n{routes}");
    let rules = ip(c, &["-4", "rule", "show"]) + &ip(c, &["-6", "rule", "show"]);
    for want in [
        "100:\tfrom 10.9.1.1 lookup 100",
        "101:\tfrom all iif eth0 lookup 100",
        "102:\tfrom all fwmark 0x7 oif eth0 lookup 100",
        "103:\tfrom 2001:db8:5::1 lookup 200",
    ] {
        assert!(rules.contains(want), "no {want:?} in the pod:\n{rules}");
    }
    assert!(!rules.contains("10.10.0.1"), "a rule about d1 stays on the host:\n{rules}");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    settle(&w.host.name, "d0");
    assert_same(&before, &routing(&w.host.name), "routing after ADD and DEL with useInterfaceNetwork");
    assert_eq!(v6_flags(&w.host.name, "d0"), vec!["2001:db8:5::1/64 ".to_string()]);
}

/// A rule the pod's namespace already has is no refusal: a rule has no
/// name to replace it by, so the kernel answers EEXIST for an equal one.
/// ADD carries the rest, and DEL brings the host's routing home.
#[test]
fn a_rule_the_pod_already_has_does_not_fail_the_add() {
    let w = World::new();
    routed_host(&w);
    let before = routing(&w.host.name);
    let c = &w.ctr.name;
    ip(c, &["rule", "add", "pref", "100", "from", "10.9.1.1", "lookup", "100"]);
    let cfg = config(&w, carry());
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    let rules = ip(c, &["-4", "rule", "show"]) + &ip(c, &["-6", "rule", "show"]);
    assert_eq!(rules.matches("100:\tfrom 10.9.1.1 lookup 100").count(), 1, "one equal rule:\n{rules}");
    assert!(rules.contains("103:\tfrom 2001:db8:5::1 lookup 200"), "the other rules are carried:\n{rules}");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    settle(&w.host.name, "d0");
    assert_same(&before, &routing(&w.host.name), "routing after ADD and DEL");
}

#[test]
fn use_interface_network_must_be_a_boolean() {
    let w = World::new();
    routed_host(&w);
    let before = routing(&w.host.name);
    let links = link_names(&w.host.name);
    for bad in [json!("yes"), json!(1), json!({"routes": true})] {
        let out = w.run(&w.env("ADD", "eth0"), &config(&w, json!({"useInterfaceNetwork": bad})));
        out.assert_err(7);
        let msg = out.json["msg"].as_str().unwrap();
        assert!(msg.contains("useInterfaceNetwork"), "names the key: {msg}");
        let shown = if bad.is_object() { "an object".to_string() } else { bad.to_string() };
        assert!(msg.contains(&shown), "names the value {shown}: {msg}");
        assert_eq!(link_names(&w.host.name), links, "nothing moved");
        assert_same(&before, &routing(&w.host.name), "routing after a refused ADD");
        assert!(records(&w).is_empty());
    }
}

/// An ADD that fails after the move (its IPAM plugin does not exist)
/// puts everything back.
#[test]
fn a_failed_add_restores_routes_rules_and_flags() {
    let w = World::new();
    routed_host(&w);
    let before = routing(&w.host.name);
    let flags = v6_flags(&w.host.name, "d0");
    let cfg = config(&w, json!({"useInterfaceNetwork": true, "ipam": {"type": "no-such-ipam"}}));
    let out = w.run(&w.env("ADD", "eth0"), &cfg);
    assert_ne!(out.code, 0, "{out:#?}");
    assert!(link(&w.host.name, "d0").is_some(), "d0 is home");
    settle(&w.host.name, "d0");
    assert_same(&before, &routing(&w.host.name), "routing after a failed ADD");
    assert_eq!(v6_flags(&w.host.name, "d0"), flags);
}

/// A crash at `point` (ADD, or DEL after a clean ADD), then DEL: the
/// host's routing and address flags are as before ADD.
fn crash_then_del(point: &str) {
    let w = World::new();
    routed_host(&w);
    let before = routing(&w.host.name);
    let flags = v6_flags(&w.host.name, "d0");
    let mut extra = carry();
    if point == "add-after-ipam" {
        extra["ipam"] = static_ipam("192.0.2.10/24");
    }
    let cfg = config(&w, extra);
    w.crash_at(point, &cfg);
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    assert!(records(&w).is_empty(), "{point}: records left");
    settle(&w.host.name, "d0");
    assert_same(&before, &routing(&w.host.name), &format!("routing after a crash at {point} and DEL"));
    assert_eq!(v6_flags(&w.host.name, "d0"), flags, "flags after a crash at {point} and DEL");
}

macro_rules! crash_tests {
    ($($name:ident: $point:literal;)*) => {
        $( #[test] fn $name() { crash_then_del($point); } )*
    };
}

crash_tests! {
    crash_add_after_record: "add-after-record";
    crash_add_after_move: "add-after-move";
    crash_add_after_addresses: "add-after-addresses";
    crash_add_after_ipam: "add-after-ipam";
    crash_del_after_record: "del-after-record";
    crash_del_before_move: "del-before-move";
    crash_del_after_move: "del-after-move";
    crash_del_after_restore: "del-after-restore";
}
