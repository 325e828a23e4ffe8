//! Declared settings: what the config says the interface looks like in the
//! pod (MTU, MAC, queue length, GSO/GRO maximum sizes, ethtool features,
//! the interface's own sysctls), applied in or right after the move, checked by CHECK, and the
//! host's own state back exactly after DEL, GC, a crash at any fail point
//! and a failed ADD. Also the host-side per-device sysctls the kernel resets
//! on every move, and `useInterfaceNetwork`. The real binary against the
//! real kernel, each test in its own namespaces (see tests/common); needs
//! ethtool(8) to look.
//!
//! Run: cargo test --features test-hooks --test declared

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::process::Command;

/// `ethtool -k` of `dev`: every feature and its state.
fn features(ns: &str, dev: &str) -> BTreeMap<String, String> {
    exec(ns, &["ethtool", "-k", dev])
        .lines()
        .skip(1)
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every readable sysctl of `dev`'s own trees, IPv4 and IPv6.
fn sysctls(ns: &str, dev: &str) -> BTreeMap<String, String> {
    let v4 = format!("/proc/sys/net/ipv4/conf/{dev}");
    let v6 = format!("/proc/sys/net/ipv6/conf/{dev}");
    // grep prints path:value; unreadable files (stable_secret) are skipped.
    let out = Command::new("ip").args(["netns", "exec", ns, "grep", "-rs", ".", &v4, &v6]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.replace(&format!("/{dev}/"), "/DEV/"), v.to_string()))
        .collect()
}

/// `ip -d -j link show` of `dev`.
fn details(ns: &str, dev: &str) -> Value {
    let v: Value = serde_json::from_str(&ip(ns, &["-d", "-j", "link", "show", "dev", dev])).unwrap();
    v[0].clone()
}

/// The GSO/GRO maximum sizes of `dev`: gso_max_size and gro_max_size as
/// `ip -d` shows them; iproute2 6.1 does not know the IPv4 ones, read with
/// hostdev's netlink socket (netlink-packet-route parses the reply).
fn sizes(ns: &str, dev: &str) -> [u64; 4] {
    let d = details(ns, dev);
    let path = format!("/run/netns/{ns}");
    let there = hostdev::netns::Netns::open(std::path::Path::new(&path)).unwrap();
    let home = hostdev::netns::Netns::current().unwrap();
    let mut sock = hostdev::netlink::Socket::open_in(there.as_fd(), home.as_fd()).unwrap();
    let l = sock.link_by_name(dev).unwrap().unwrap();
    let v4 = |v: Option<u32>| u64::from(v.expect("the kernel reports the IPv4 GSO/GRO sizes"));
    [
        d["gso_max_size"].as_u64().unwrap(),
        d["gro_max_size"].as_u64().unwrap(),
        v4(l.sizes.gso_ipv4),
        v4(l.sizes.gro_ipv4),
    ]
}

/// Everything of `dev` a declared setting could change, and what the host
/// configured: link, features, sysctls of its own trees.
#[derive(Debug, PartialEq)]
struct State {
    link: Option<Link>,
    txqlen: u64,
    sizes: [u64; 4],
    features: BTreeMap<String, String>,
    sysctls: BTreeMap<String, String>,
}

fn state(ns: &str, dev: &str) -> State {
    State {
        link: link(ns, dev),
        txqlen: details(ns, dev)["txqlen"].as_u64().unwrap(),
        sizes: sizes(ns, dev),
        features: features(ns, dev),
        sysctls: sysctls(ns, dev),
    }
}

/// A veth h1 on the host with addresses and per-device sysctls that differ
/// from the namespace's defaults (the kernel resets those on every move).
fn host(w: &World) -> State {
    let ns = &w.host.name;
    w.host_veth("h1", true);
    for (path, value) in [
        ("ipv4/conf/h1/arp_ignore", "2"),
        ("ipv4/conf/h1/forwarding", "1"),
        ("ipv4/conf/h1/rp_filter", "2"),
        ("ipv6/conf/h1/accept_ra", "2"),
        ("ipv6/conf/h1/forwarding", "1"),
        ("ipv6/conf/h1/hop_limit", "33"),
        // Recorded from the link message, not its file (sysctl::FROM_LINK).
        ("ipv6/conf/h1/addr_gen_mode", "1"),
    ] {
        set_sysctl(ns, path, value);
    }
    exec(ns, &["ethtool", "-K", "h1", "gro", "off", "tso", "on"]);
    ip(ns, &["link", "set", "h1", "gso_max_size", "60000", "gro_max_size", "50000"]);
    state(ns, "h1")
}

/// What the tests declare.
fn declared() -> Value {
    json!({
        "mtu": 9000,
        "mac": "02:22:00:00:00:01",
        "txQLen": 77,
        "gsoMaxSize": 100000,
        "groMaxSize": 120000,
        "gsoIPv4MaxSize": 90000,
        "groIPv4MaxSize": 80000,
        "ethtool": {"features": {"tx-checksumming": false, "gro": true, "tcp-segmentation-offload": false}},
        "sysctl": {
            "net.ipv4.conf.IFNAME.arp_ignore": "1",
            "net.ipv6.conf.eth0.accept_ra": "0",
        },
    })
}

fn assert_declared_in_pod(w: &World) {
    let ns = &w.ctr.name;
    let d = details(ns, "eth0");
    assert_eq!(
        (d["mtu"].as_u64(), d["address"].as_str(), d["txqlen"].as_u64()),
        (Some(9000), Some("02:22:00:00:00:01"), Some(77))
    );
    assert_eq!(sizes(ns, "eth0"), [100000, 120000, 90000, 80000]);
    let f = features(ns, "eth0");
    assert_eq!(f["tx-checksumming"], "off", "{f:?}");
    assert_eq!(f["generic-receive-offload"], "on", "{f:?}");
    assert_eq!(f["tcp-segmentation-offload"], "off", "{f:?}");
    assert_eq!(sysctl(ns, "ipv4/conf/eth0/arp_ignore"), "1");
    assert_eq!(sysctl(ns, "ipv6/conf/eth0/accept_ra"), "0");
}

fn assert_home(w: &World, before: &State, what: &str) {
    assert_eq!(&state(&w.host.name, "h1"), before, "{what}: h1 is not as it was");
    assert!(records(w).is_empty(), "{what}: records left: {:#?}", records(w));
}

/// ADD in 1.1.0 with everything declared: the config, the CHECK config
/// (with the result as prevResult) and the result.
fn add_declared(w: &World) -> (String, String, Out) {
    let cfg = conf(w, "1.1.0", "h1", declared());
    let out = w.run(&w.env("ADD", "eth0"), &cfg);
    out.assert_ok();
    let mut check = serde_json::from_str::<Value>(&cfg).unwrap();
    check["prevResult"] = out.json.clone();
    (cfg, check.to_string(), out)
}

#[test]
fn declared_settings_are_in_the_pod_and_the_host_gets_its_own_back() {
    let w = World::new();
    let before = host(&w);
    let (cfg, check, out) = add_declared(&w);
    assert_declared_in_pod(&w);
    let iface = &out.json["interfaces"][0];
    assert_eq!((iface["mac"].as_str(), iface["mtu"].as_u64()), (Some("02:22:00:00:00:01"), Some(9000)), "{out:#?}");
    w.run(&w.env("CHECK", "eth0"), &check).assert_ok();
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    assert_home(&w, &before, "DEL");
}

/// hostdev records a device's sysctls from the link message where it
/// carries them (IFLA_INET_CONF, IFLA_INET6_CONF), not from their files:
/// the snapshot equals every file as read, key for key, on this kernel. In
/// round r, the n-th file of each tree is moved off its value when bit r of
/// n is set (a tree has fewer than 64), so any two keys differ in some
/// round: a key read from another key's slot shows.
#[test]
fn the_link_message_reads_as_the_sysctl_files_do() {
    let w = World::new();
    for round in 0..6 {
        let dev = format!("s{round}");
        w.host_veth(&dev, true);
        let moved = sysctls_moved(&w.host.name, &dev, round);
        assert!(moved > 10, "round {round}: too few sysctls could be changed ({moved})");
        let (files, mut snapshot) = in_node(&w, |sock| {
            let link = sock.link_by_name(&dev).unwrap().unwrap();
            (
                hostdev::netlink::sysctl::read_all(&dev),
                hostdev::netlink::sysctl::snapshot(&dev, &link, &hostdev::netlink::sysctl::Names::listed()),
            )
        });
        // DEL's read of the recorded keys alone says what the snapshot says.
        let current = in_node(&w, |sock| {
            let link = sock.link_by_name(&dev).unwrap().unwrap();
            hostdev::netlink::sysctl::current(&dev, &link, snapshot.keys())
        });
        assert_eq!(current, snapshot, "round {round}: DEL's read differs from ADD's snapshot");
        assert_eq!(snapshot.remove("ipv6.addr_gen_mode").as_deref(), Some("0"), "addr_gen_mode comes from the link");
        let differ: Vec<_> = files.iter().filter(|(k, v)| snapshot.get(*k) != Some(*v)).collect();
        assert!(differ.is_empty(), "round {round}: the snapshot differs from the files: {differ:?}");
        assert_eq!(snapshot.len(), files.len(), "round {round}: {snapshot:?}");
    }
}

/// Moves the integer sysctls of `dev` whose place in their tree has bit
/// `round` set one up (else one down: a 0/1 switch at 1 refuses 2); how many.
fn sysctls_moved(ns: &str, dev: &str, round: u32) -> usize {
    let script = format!(
        r#"for t in ipv4 ipv6; do n=0; for f in /proc/sys/net/$t/conf/{dev}/*; do
            n=$((n + 1)); [ $(( (n >> {round}) & 1 )) = 1 ] || continue
            case ${{f##*/}} in mtu|disable_ipv6|stable_secret|addr_gen_mode) continue;; esac
            v=$(cat "$f" 2>/dev/null) || continue
            case $v in ''|*[!0-9-]*) continue;; esac
            {{ echo $((v + 1)) > "$f" || echo $((v - 1)) > "$f"; }} 2>/dev/null && echo "$f"
        done; done"#
    );
    exec(ns, &["sh", "-c", &script]).lines().count()
}

/// Runs `f` with a netlink socket in the test's node namespace.
fn in_node<T>(w: &World, f: impl FnOnce(&mut hostdev::netlink::Socket) -> T) -> T {
    let there = hostdev::netns::Netns::open(std::path::Path::new(&format!("/run/netns/{}", w.host.name))).unwrap();
    let home = hostdev::netns::Netns::current().unwrap();
    hostdev::netlink::socket::in_namespace(there.as_fd(), home.as_fd(), || {
        f(&mut hostdev::netlink::Socket::open().unwrap())
    })
    .unwrap()
}

/// Runs the plugin under strace, tracing sockets and ioctls: the trace.
fn traced(w: &World, command: &str, cfg: &str) -> String {
    traced_with(w, command, cfg, "trace=socket,ioctl")
}

/// Runs the plugin under strace with the filter `what`: the trace.
fn traced_with(w: &World, command: &str, cfg: &str, what: &str) -> String {
    let trace = std::path::Path::new(&w.data_dir()).join(format!("{command}.strace"));
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &w.host.name, "strace", "-f", "-qq", "-e", what, "-o"]).arg(&trace).arg(BIN);
    finish(spawn_command(cmd, &w.env(command, "eth0"), cfg)).1.assert_ok();
    std::fs::read_to_string(&trace).unwrap()
}

/// DEL writes back only the sysctls the move reset, those `host` set off
/// the namespace's defaults: writing all of them would re-run handlers
/// (forwarding's, disable_ipv6's) for nothing.
#[test]
fn del_writes_back_only_the_sysctls_that_differ() {
    let w = World::new();
    let before = host(&w);
    let (cfg, _, _) = add_declared(&w);
    let trace = traced_with(&w, "DEL", &cfg, "trace=open,openat");
    let mut written: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("O_WRONLY"))
        .filter_map(|l| l.split('"').nth(1))
        .filter_map(|p| p.strip_prefix("/proc/sys/net/"))
        .collect();
    written.sort();
    let want = [
        "ipv4/conf/h1/arp_ignore",
        "ipv4/conf/h1/forwarding",
        "ipv4/conf/h1/rp_filter",
        "ipv6/conf/h1/accept_ra",
        "ipv6/conf/h1/addr_gen_mode",
        "ipv6/conf/h1/forwarding",
        "ipv6/conf/h1/hop_limit",
    ];
    assert_eq!(written, want, "DEL wrote other sysctls than those that differ:\n{trace}");
    assert_home(&w, &before, "DEL under strace");
}

/// Issue 22 asks for the kernel's ethtool netlink family: every feature
/// read and set (ADD on the host and in the pod, CHECK in the pod, DEL on
/// the host) goes through a generic-netlink socket, none through the
/// SIOCETHTOOL ioctl.
#[test]
fn features_go_through_the_ethtool_netlink_family() {
    let w = World::new();
    let before = host(&w);
    let (cfg, check, _) = add_declared(&w);
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    for (command, stdin) in [("ADD", &cfg), ("CHECK", &check), ("DEL", &cfg)] {
        let trace = traced(&w, command, stdin);
        assert!(trace.contains("NETLINK_GENERIC"), "{command} opened no generic-netlink socket:\n{trace}");
        assert!(!trace.contains("SIOCETHTOOL"), "{command} used the ethtool ioctl:\n{trace}");
    }
    assert_home(&w, &before, "DEL under strace");
}

#[test]
fn what_the_pod_changed_is_undone_and_check_sees_it() {
    let w = World::new();
    let before = host(&w);
    let (cfg, check, _) = add_declared(&w);
    let ns = &w.ctr.name;
    // One change at a time, each seen by CHECK, named.
    exec(ns, &["ethtool", "-K", "eth0", "gro", "off"]);
    let e = w.run(&w.env("CHECK", "eth0"), &check);
    e.assert_err(108);
    assert!(e.json["msg"].as_str().unwrap().contains("gro"), "{e:#?}");
    exec(ns, &["ethtool", "-K", "eth0", "gro", "on"]);
    set_sysctl(ns, "ipv4/conf/eth0/arp_ignore", "0");
    let e = w.run(&w.env("CHECK", "eth0"), &check);
    e.assert_err(108);
    assert!(e.json["msg"].as_str().unwrap().contains("arp_ignore"), "{e:#?}");
    set_sysctl(ns, "ipv4/conf/eth0/arp_ignore", "1");
    ip(ns, &["link", "set", "eth0", "txqueuelen", "5"]);
    let e = w.run(&w.env("CHECK", "eth0"), &check);
    e.assert_err(108);
    assert!(e.json["msg"].as_str().unwrap().contains("txQLen"), "{e:#?}");
    ip(ns, &["link", "set", "eth0", "txqueuelen", "77", "gro_max_size", "65536"]);
    let e = w.run(&w.env("CHECK", "eth0"), &check);
    e.assert_err(108);
    assert!(e.json["msg"].as_str().unwrap().contains("groMaxSize"), "{e:#?}");
    // The pod changes everything; DEL undoes it all.
    ip(ns, &["link", "set", "eth0", "mtu", "1280", "address", "02:33:00:00:00:09", "gso_max_size", "30000"]);
    exec(ns, &["ethtool", "-K", "eth0", "tx", "on", "sg", "off", "gso", "off"]);
    set_sysctl(ns, "ipv6/conf/eth0/hop_limit", "7");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    assert_home(&w, &before, "DEL after the pod changed things");
}

/// Multus passes the `mac` capability in runtimeConfig: it wins over `mac`.
#[test]
fn the_mac_capability_wins() {
    let w = World::new();
    host(&w);
    let cfg =
        conf(&w, "1.0.0", "h1", json!({"mac": "02:22:00:00:00:01", "runtimeConfig": {"mac": "02:44:00:00:00:02"}}));
    let out = w.run(&w.env("ADD", "eth0"), &cfg);
    out.assert_ok();
    assert_eq!(details(&w.ctr.name, "eth0")["address"], "02:44:00:00:00:02");
    assert_eq!(out.json["interfaces"][0]["mac"], "02:44:00:00:00:02");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
}

/// A crash at every fail point, with everything declared: DEL (or GC)
/// brings the host's own state back.
#[test]
fn crashes_at_every_fail_point_leave_the_host_as_it_was() {
    for point in [
        "add-after-record",
        "add-after-move",
        "add-after-addresses",
        "del-after-record",
        "del-before-move",
        "del-after-move",
        "del-after-restore",
    ] {
        for gc in [false, true] {
            let w = World::new();
            let before = host(&w);
            let cfg = conf(&w, "1.1.0", "h1", declared());
            w.crash_at(point, &cfg);
            if gc {
                run_gc(&w, "h1").assert_ok();
            } else {
                w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
            }
            assert_home(&w, &before, &format!("{} after a crash at {point}", if gc { "GC" } else { "DEL" }));
        }
    }
}

/// A physical NIC comes home by itself when its namespace dies: down,
/// with the pod's settings and the namespace's default sysctls. Emulated
/// with a veth moved back by hand; DEL restores the host's own.
#[test]
fn a_device_back_from_a_dead_namespace_gets_the_host_state() {
    let mut w = World::new();
    let before = host(&w);
    let cfg = conf(&w, "1.0.0", "h1", declared());
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]);
    let path = w.ctr.path();
    w.ctr.delete();
    let out = w.run(&env_for("DEL", &w.id, &path, "eth0"), &cfg);
    assert!(out.status.success(), "{out:#?}");
    assert_home(&w, &before, "DEL after the namespace died");
}

/// A declared value the kernel refuses only after the move: ADD fails with
/// 7 naming it, and the rollback leaves the host as it was.
#[test]
fn a_failed_add_leaves_the_host_as_it_was() {
    let w = World::new();
    let before = host(&w);
    let mut extra = declared();
    extra["sysctl"]["net.ipv4.conf.IFNAME.arp_ignore"] = json!("x");
    let out = w.run(&w.env("ADD", "eth0"), &conf(&w, "1.1.0", "h1", extra));
    out.assert_err(7);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains("net.ipv4.conf.IFNAME.arp_ignore") && msg.contains("\"x\""), "{msg}");
    assert!(link(&w.ctr.name, "eth0").is_none());
    assert_home(&w, &before, "a failed ADD");
}

#[test]
fn bad_declarations_are_refused_before_anything_changes() {
    let w = World::new();
    let before = host(&w);
    let ctr_names = link_names(&w.ctr.name);
    for (extra, key, value) in [
        (json!({"mtu": 70000}), "mtu", "70000"),
        (json!({"mtu": 67}), "mtu", "67"),
        (json!({"mtu": "9000"}), "mtu", "9000"),
        (json!({"mac": "01:00:5e:00:00:01"}), "mac", "01:00:5e:00:00:01"),
        (json!({"mac": "02:00:00:00:00"}), "mac", "02:00:00:00:00"),
        (json!({"mac": "zz:00:00:00:00:01"}), "mac", "zz:00:00:00:00:01"),
        (json!({"runtimeConfig": {"mac": "ff:ff:ff:ff:ff:ff"}}), "runtimeConfig.mac", "ff:ff:ff:ff:ff:ff"),
        (json!({"txQLen": -1}), "txQLen", "-1"),
        // veth's tso_max_size is 524280; so is the kernel's GRO limit.
        (json!({"gsoMaxSize": 524281}), "gsoMaxSize", "524281"),
        (json!({"gsoIPv4MaxSize": 600000}), "gsoIPv4MaxSize", "600000"),
        (json!({"groMaxSize": 524281}), "groMaxSize", "524281"),
        (json!({"groIPv4MaxSize": 1e9}), "groIPv4MaxSize", "1000000000"),
        (json!({"gsoMaxSize": 0}), "gsoMaxSize", "0"),
        (json!({"groMaxSize": "65536"}), "groMaxSize", "65536"),
        // Below the kernel's own floor (MAX_TCP_HEADER): refused by the
        // kernel with the move, before anything moved.
        (json!({"gsoMaxSize": 100, "groMaxSize": 65536}), "gsoMaxSize", "100"),
        (json!({"gsoIPv4MaxSize": 100}), "gsoIPv4MaxSize", "100"),
        (json!({"ethtool": {"features": {"no-such-feature": true}}}), "no-such-feature", "true"),
        (json!({"ethtool": {"features": {"netns-local": true}}}), "netns-local", "true"),
        (json!({"ethtool": {"features": {"gro": "on"}}}), "gro", "on"),
        (json!({"sysctl": {"net.ipv4.ip_forward": "1"}}), "net.ipv4.ip_forward", "1"),
        (json!({"sysctl": {"net.ipv4.conf.all.forwarding": "1"}}), "net.ipv4.conf.all.forwarding", "1"),
        (json!({"sysctl": {"net.ipv4.conf.eth9.forwarding": "1"}}), "net.ipv4.conf.eth9.forwarding", "1"),
        (json!({"sysctl": {"net.ipv6.conf.IFNAME.no_such": "1"}}), "net.ipv6.conf.IFNAME.no_such", "1"),
        (json!({"sysctl": {"net.ipv4.conf.IFNAME.../x": "1"}}), "net.ipv4.conf.IFNAME.../x", "1"),
        (json!({"sysctl": {"net.core.somaxconn": "1"}}), "net.core.somaxconn", "1"),
        (json!({"useInterfaceNetwork": "yes"}), "useInterfaceNetwork", "yes"),
    ] {
        let out = w.run(&w.env("ADD", "eth0"), &conf(&w, "1.0.0", "h1", extra.clone()));
        out.assert_err(7);
        let msg = out.json["msg"].as_str().unwrap();
        assert!(msg.contains(key) && msg.contains(value), "{extra}: {msg}");
        assert_eq!(link_names(&w.ctr.name), ctr_names, "{extra}: the container changed");
        assert_home(&w, &before, &extra.to_string());
    }
}

/// The kernel resets per-device sysctls to the namespace's defaults on
/// every move. A host whose default disables IPv6 gets the device's own
/// setting back, and with it the device's IPv6 address.
#[test]
fn a_host_that_disables_ipv6_by_default_gets_the_device_setting_back() {
    let w = World::new();
    let before = host(&w);
    set_sysctl(&w.host.name, "ipv6/conf/default/disable_ipv6", "1");
    w.attach("h1", "eth0");
    w.del("h1", "eth0").assert_ok();
    assert_home(&w, &before, "DEL on a host that disables IPv6 by default");
    assert!(before.link.unwrap().addrs.contains("2001:db8:1::3/64"));
}

fn ips(out: &Out) -> Vec<String> {
    out.json["ips"].as_array().unwrap().iter().map(|i| norm_addr(i["address"].as_str().unwrap())).collect()
}

#[test]
fn use_interface_network_false_carries_no_addresses() {
    let w = World::new();
    let before = host(&w);
    let cfg = conf(&w, "1.0.0", "h1", json!({"useInterfaceNetwork": false, "ipam": static_ipam("192.0.2.10/24")}));
    let out = w.run(&w.env("ADD", "eth0"), &cfg);
    out.assert_ok();
    assert_eq!(ips(&out), vec!["192.0.2.10/24".to_string()], "{out:#?}");
    let inside = link(&w.ctr.name, "eth0").unwrap();
    assert_eq!(inside.addrs.into_iter().collect::<Vec<_>>(), vec!["192.0.2.10/24".to_string()]);
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    assert_home(&w, &before, "DEL with useInterfaceNetwork false");
}

#[test]
fn use_interface_network_true_carries_addresses_as_the_default_does() {
    for extra in [json!({"useInterfaceNetwork": true}), json!({})] {
        let w = World::new();
        let before = host(&w);
        let cfg = conf(&w, "1.0.0", "h1", extra.clone());
        let out = w.run(&w.env("ADD", "eth0"), &cfg);
        out.assert_ok();
        let host_addrs = before.link.clone().unwrap().addrs;
        assert_eq!(link(&w.ctr.name, "eth0").unwrap().addrs, host_addrs, "{extra}");
        assert!(host_addrs.iter().all(|a| ips(&out).contains(a)), "{extra}: {out:#?}");
        w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
        assert_home(&w, &before, &extra.to_string());
    }
}

/// A finite-lifetime address (a DHCP lease) is permanent in the pod, where
/// nobody renews it: it never expires there unannounced. The host's copy
/// comes home with what is left of its lifetime.
#[test]
fn a_finite_lifetime_address_is_permanent_in_the_pod() {
    let w = World::new();
    host(&w);
    ip(&w.host.name, &["addr", "add", "10.8.8.8/24", "dev", "h1", "valid_lft", "3000", "preferred_lft", "3000"]);
    w.attach("h1", "eth0");
    let v: Value = serde_json::from_str(&ip(&w.ctr.name, &["-j", "addr", "show", "dev", "eth0"])).unwrap();
    let info = v[0]["addr_info"].as_array().unwrap().iter().find(|i| i["local"] == "10.8.8.8").cloned().unwrap();
    assert_eq!(info["valid_life_time"].as_u64(), Some(u32::MAX as u64), "{info}");
    w.del("h1", "eth0").assert_ok();
    let v: Value = serde_json::from_str(&ip(&w.host.name, &["-j", "addr", "show", "dev", "h1"])).unwrap();
    let info = v[0]["addr_info"].as_array().unwrap().iter().find(|i| i["local"] == "10.8.8.8").cloned().unwrap();
    assert!(info["valid_life_time"].as_u64().unwrap() <= 3000, "{info}");
}

/// The names of a device's sysctls are the kernel's, the same for a whole
/// boot: the first ADD lists the `default` trees (some 0.2 ms of CPU) and
/// keeps the names in the dataDir, the next ones take them from there. The
/// snapshot is the same either way.
#[test]
fn a_second_add_takes_the_sysctl_names_from_the_data_directory() {
    let w = World::new();
    let before = host(&w);
    let (cfg, listed) = first_snapshot(&w);
    assert!(listed.get("ipv6.router_solicitation_interval").is_some(), "a key read from its file: {listed:#}");
    let trace = traced_with(&w, "ADD", &cfg, "trace=open,openat,getdents64");
    assert!(!trace.contains("getdents64") && !trace.contains("/conf/default"), "ADD listed the trees again:\n{trace}");
    assert_eq!(only_record(&w, &w.id, "eth0")["sysctls"], listed, "the snapshot differs with the kept names");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    assert_home(&w, &before, "DEL");
}

/// The link message carries IPv6's intervals too, in milliseconds: the
/// MLD ones print so in their files, the router ones in whole seconds. So
/// neither ADD nor DEL opens their files, nor IPv4's tree, all of whose
/// keys the message carries; the record holds the same values as when
/// each file was read (`the_link_message_reads_as_the_sysctl_files_do`
/// holds the snapshot to the files).
#[test]
fn the_snapshot_opens_no_file_the_link_message_carries() {
    let w = World::new();
    let before = host(&w);
    let (cfg, listed) = first_snapshot(&w);
    let carried = [
        "mldv1_unsolicited_report_interval",
        "mldv2_unsolicited_report_interval",
        "router_probe_interval",
        "router_solicitation_delay",
        "router_solicitation_interval",
        "router_solicitation_max_interval",
    ];
    for command in ["ADD", "DEL"] {
        let trace = traced_with(&w, command, &cfg, "trace=open,openat");
        // Files opened to read (DEL writes back what the pod reset).
        let opened: Vec<&str> =
            trace.lines().filter(|l| !l.contains("O_WRONLY")).filter_map(|l| l.split('"').nth(1)).collect();
        let read: Vec<&&str> =
            opened.iter().filter(|p| p.contains("/ipv4/conf/h1") || carried.iter().any(|c| p.ends_with(c))).collect();
        assert!(read.is_empty(), "{command} opened what the link message carries: {read:?}\n{trace}");
        if command == "ADD" {
            assert_eq!(only_record(&w, &w.id, "eth0")["sysctls"], listed, "the snapshot changed");
        }
    }
    assert_home(&w, &before, "DEL");
}

/// Kept names are taken only from this boot and only as plain names: a
/// file from another boot, or one naming a path, is listed anew and
/// replaced, and the snapshot is the kernel's.
#[test]
fn sysctl_names_of_another_boot_or_not_plain_are_listed_anew() {
    let w = World::new();
    let before = host(&w);
    let (cfg, listed) = first_snapshot(&w);
    let kept = facts_file(&w);
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    for planted in [
        "boot 00000000-0000-0000-0000-000000000000\nipv4 forwarding not_a_sysctl\nipv6 forwarding\n".to_string(),
        format!("boot {}\nipv4 forwarding ../../../kernel/hostname\nipv6 forwarding\n", boot.trim()),
    ] {
        std::fs::write(&kept, &planted).unwrap();
        w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
        assert_eq!(
            only_record(&w, &w.id, "eth0")["sysctls"],
            listed,
            "the snapshot took the planted names:\n{planted}"
        );
        let now = std::fs::read_to_string(&kept).unwrap();
        assert!(now.starts_with(&format!("boot {}\n", boot.trim())) && !now.contains(".."), "not replaced:\n{now}");
        w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    }
    assert_home(&w, &before, "DEL");
}

/// Where the store keeps what the kernel has for the boot.
fn facts_file(w: &World) -> std::path::PathBuf {
    std::path::Path::new(&w.data_dir()).join(".kernel-facts")
}

/// A plain config, and the sysctls its first ADD recorded (with the trees
/// listed, as nothing was kept yet); DEL has run since.
fn first_snapshot(w: &World) -> (String, Value) {
    let cfg = conf(w, "1.1.0", "h1", json!({}));
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    let listed = only_record(w, &w.id, "eth0")["sysctls"].clone();
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    (cfg, listed)
}

/// The ethtool family's id and the features' names are the kernel's for
/// the boot too: the first ADD learns them, the next ADDs and DELs neither
/// look the family up nor ask for names, and read the same features from
/// the compact reply as from the full one, whatever the host or the pod
/// set.
#[test]
fn a_second_add_reads_the_features_without_names_and_the_same() {
    let w = World::new();
    host(&w); // gro off, tso on
    let (cfg, _) = first_snapshot(&w);
    exec(&w.host.name, &["ethtool", "-K", "h1", "tx-checksumming", "off"]);
    let before = state(&w.host.name, "h1");
    let trace = traced_with(&w, "ADD", &cfg, "trace=sendto");
    assert!(!trace.contains("nlctrl"), "ADD looked the ethtool family up again:\n{trace}");
    let compact = only_record(&w, &w.id, "eth0")["features"].clone();
    exec(&w.ctr.name, &["ethtool", "-K", "eth0", "tx-checksumming", "on", "tso", "off"]);
    let trace = traced_with(&w, "DEL", &cfg, "trace=sendto");
    assert!(!trace.contains("nlctrl"), "DEL looked the ethtool family up:\n{trace}");
    assert_eq!(state(&w.host.name, "h1").features, before.features, "DEL did not give the features back");
    std::fs::remove_file(facts_file(&w)).unwrap();
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    let full = only_record(&w, &w.id, "eth0")["features"].clone();
    assert_eq!(compact, full, "the compact read differs from the full one");
    let (gro, csum, tso) = (&full["rx-gro"], &full["tx-checksum-ip-generic"], &full["tx-tcp-segmentation"]);
    assert_eq!((gro.as_bool(), csum.as_bool(), tso.as_bool()), (Some(false), Some(false), Some(true)), "{full:#}");
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    assert_home(&w, &before, "DEL");
}

/// A kept ethtool family id is the dataDir's word, not the kernel's: one
/// that names another family (the controller's own, 16) or none makes the
/// read look the family up by name, record the same features as a full
/// read does, and keep the right id again; DEL gives the features back.
#[test]
fn a_kept_ethtool_family_that_is_not_ethtools_is_looked_up_anew() {
    let w = World::new();
    host(&w);
    let (cfg, _) = first_snapshot(&w);
    let facts = facts_file(&w);
    let kept = std::fs::read_to_string(&facts).unwrap();
    let line = kept.lines().find(|l| l.starts_with("ethtool ")).expect("an ethtool line").to_string();
    let (_, names) = line["ethtool ".len()..].split_once(' ').unwrap();
    let plant =
        |family: &str| std::fs::write(&facts, kept.replace(&line, &format!("ethtool {family} {names}"))).unwrap();
    let before = state(&w.host.name, "h1");
    w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
    let full = only_record(&w, &w.id, "eth0")["features"].clone();
    w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
    for planted in ["16", "1023"] {
        plant(planted);
        w.run(&w.env("ADD", "eth0"), &cfg).assert_ok();
        assert_eq!(only_record(&w, &w.id, "eth0")["features"], full, "family {planted}: not the features");
        let now = std::fs::read_to_string(&facts).unwrap();
        assert!(now.contains(&line), "family {planted}: the right id was not kept again:\n{now}");
        plant(planted);
        exec(&w.ctr.name, &["ethtool", "-K", "eth0", "tso", "off", "gro", "on"]);
        w.run(&w.env("DEL", "eth0"), &cfg).assert_ok();
        assert_home(&w, &before, &format!("DEL with family {planted} kept"));
    }
}
