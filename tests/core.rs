//! Integration tests: the real `hostdev` binary against the real kernel, each
//! test in its own host and container namespaces (see tests/common).

mod common;

use common::*;
use serde_json::json;

// ---------------------------------------------------------------- round trips

/// ADD then DEL: the container sees the interface as configured, the host gets
/// it back identical.
fn round_trip(up: bool) {
    let w = World::new();
    let before = w.host_veth("h1", up);
    let ctr_before = link_names(&w.ctr.name);

    let out = w.add("h1", "eth0");
    out.assert_ok();
    check_add_result(&out, "1.0.0", "eth0", &w.ctr.path(), &before);

    assert!(link(&w.host.name, "h1").is_none(), "h1 still on the host");
    let inside = link(&w.ctr.name, "eth0").expect("eth0 in container");
    assert!(inside.up, "eth0 not up in container: {inside:?}");
    assert_eq!(inside.mac, before.mac);
    assert_eq!(inside.mtu, before.mtu);
    assert_eq!(inside.addrs, before.addrs, "addresses in container");

    let out = w.del("h1", "eth0");
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "", "DEL prints nothing");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "host link after DEL");
    assert_eq!(link_names(&w.ctr.name), ctr_before, "container after DEL");
}

#[test]
fn add_del_round_trip_up() {
    round_trip(true);
}

#[test]
fn add_del_round_trip_down() {
    round_trip(false);
}

/// ADD in each supported version produces that version's result shape.
fn result_shape(version: &str) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let out = w.add_v(version, "h1", "eth0");
    out.assert_ok();
    check_add_result(&out, version, "eth0", &w.ctr.path(), &before);
    let del = w.run(&w.env("DEL", "eth0"), &w.config(version, "h1"));
    del.assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn result_shape_0_3_0() {
    result_shape("0.3.0");
}

#[test]
fn result_shape_0_3_1() {
    result_shape("0.3.1");
}

#[test]
fn result_shape_0_4_0() {
    result_shape("0.4.0");
}

#[test]
fn result_shape_1_0_0() {
    result_shape("1.0.0");
}

#[test]
fn result_shape_1_1_0() {
    result_shape("1.1.0");
}

// ------------------------------------------------------------ name conflicts

/// The container already has a link called `taken`: ADD of h1 as eth0
/// fails with 103, and neither side changes, also after the DEL a runtime
/// sends after a failed ADD (which must not touch the container's own link).
fn refused_for_clash(taken: &str) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.ctr_veth(taken);
    let ctr_before = links(&w.ctr.name);
    let out = w.add("h1", "eth0");
    out.assert_err(103);
    // Refused before the move, naming the clash (the kernel's EEXIST names nothing).
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains(&format!("{taken:?}")) && msg.contains("exists in the container"), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before.clone()), "host after failed ADD");
    assert_eq!(links(&w.ctr.name), ctr_before, "container after failed ADD");
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(links(&w.ctr.name), ctr_before, "container after DEL");
}

/// An unknown device is not found (101), also while another attachment
/// holds a device: only a record of the device named is its holder.
#[test]
fn unknown_device_is_not_found_while_another_is_attached() {
    let w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let out = w.add("nosuchdev0", "net1");
    out.assert_err(101);
    assert!(out.json["msg"].as_str().unwrap_or("").contains("nosuchdev0"), "{out:#?}");
}

#[test]
fn ifname_taken_in_container_fails_103_and_del_is_harmless() {
    refused_for_clash("eth0");
}

#[test]
fn altname_clash_in_container_fails_103() {
    refused_for_clash("h1-alt"); // h1's altname
}

#[test]
fn host_name_already_used_in_container() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.ctr_veth("h1");
    let ctr_before = links(&w.ctr.name);

    let out = w.add("h1", "eth0");
    out.assert_ok();
    check_add_result(&out, "1.0.0", "eth0", &w.ctr.path(), &before);
    let inside = link(&w.ctr.name, "eth0").expect("eth0 in container");
    assert_eq!(inside.mac, before.mac);
    assert_eq!(inside.addrs, before.addrs);
    let own = ctr_before.iter().find(|l| l.name == "h1").unwrap();
    assert_eq!(link(&w.ctr.name, "h1").as_ref(), Some(own), "container's own h1");
    assert!(link(&w.host.name, "h1").is_none());

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(links(&w.ctr.name), ctr_before, "container after DEL");
}

#[test]
fn renamed_in_container_comes_home() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.attach("h1", "eth0");

    ip(&w.ctr.name, &["link", "set", "dev", "eth0", "down"]);
    ip(&w.ctr.name, &["link", "set", "dev", "eth0", "name", "foo"]);

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert!(link(&w.ctr.name, "foo").is_none(), "foo left in container");
}

// ------------------------------------------------------------ DEL robustness

#[test]
fn del_without_add_succeeds_and_changes_nothing() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());
}

#[test]
fn del_twice_succeeds() {
    let w = World::new();
    let before = w.host_veth("h1", false);
    w.attach("h1", "eth0");
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before.clone()));
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn del_with_empty_netns_succeeds_and_strands_nothing() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.attach("h1", "eth0");

    let mut env = w.env("DEL", "eth0");
    env.insert("CNI_NETNS", String::new());
    w.run(&env, &w.config("1.0.0", "h1")).assert_ok();

    // Whatever the empty-netns DEL did, a normal DEL afterwards must leave
    // the interface at home, intact (it must not be stranded in the container
    // with its record gone).
    w.del("h1", "eth0").assert_ok();
    assert!(link(&w.ctr.name, "eth0").is_none(), "eth0 stranded in container, record gone");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn del_without_netns_var_succeeds() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let mut env = w.env("DEL", "eth0");
    env.remove("CNI_NETNS");
    w.run(&env, &w.config("1.0.0", "h1")).assert_ok();
    w.del("h1", "eth0").assert_ok();
    assert!(link(&w.ctr.name, "eth0").is_none(), "eth0 stranded in container, record gone");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn del_after_container_netns_deleted() {
    let mut w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");

    // The veth is destroyed with the namespace (its peer h1p goes too).
    w.ctr.delete();
    w.del("h1", "eth0").assert_ok();
    w.del("h1", "eth0").assert_ok();
    assert!(
        wait_until(60, || link(&w.host.name, "h1p").is_none()),
        "veth pair not destroyed with the container namespace"
    );
    assert!(link(&w.host.name, "h1").is_none());
}

// --------------------------------------------------- devices that cannot move

#[test]
fn loopback_device_fails_104() {
    let w = World::new();
    ip(&w.host.name, &["link", "set", "dev", "lo", "up"]);
    let before = link(&w.host.name, "lo").unwrap();
    let ctr_before = links(&w.ctr.name);

    w.add("lo", "eth0").assert_err(104);
    assert_eq!(link(&w.host.name, "lo"), Some(before.clone()));
    assert_eq!(links(&w.ctr.name), ctr_before);

    w.del("lo", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "lo"), Some(before));
}

#[test]
fn bridge_device_fails_104() {
    let w = World::new();
    let h = &w.host.name;
    ip(h, &["link", "add", "br0", "type", "bridge"]);
    ip(h, &["link", "set", "dev", "br0", "mtu", "1400", "alias", "test bridge", "up"]);
    ip(h, &["addr", "add", "10.9.9.1/24", "dev", "br0"]);
    ip(h, &["addr", "add", "2001:db8:9::1/64", "dev", "br0", "nodad"]);
    let before = link(h, "br0").unwrap();
    let ctr_before = links(&w.ctr.name);

    w.add("br0", "eth0").assert_err(104);
    assert_eq!(link(h, "br0"), Some(before.clone()));
    assert_eq!(links(&w.ctr.name), ctr_before);

    w.del("br0", "eth0").assert_ok();
    assert_eq!(link(h, "br0"), Some(before));
}

#[test]
fn unknown_device_fails_101() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_before = links(&w.host.name);

    let out = w.add("nosuch0", "eth0");
    out.assert_err(101);
    assert_eq!(links(&w.host.name), host_before);
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());

    w.del("nosuch0", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn netns_not_a_network_namespace_fails_105() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let file = w.tmp.join("not-a-netns");
    std::fs::write(&file, "").unwrap();
    let bad = [
        file.to_string_lossy().into_owned(),
        w.tmp.join("missing").to_string_lossy().into_owned(),
        "/proc/self/ns/uts".to_string(),
    ];
    for path in bad {
        let mut env = w.env("ADD", "eth0");
        env.insert("CNI_NETNS", path.clone());
        let out = w.run(&env, &w.config("1.0.0", "h1"));
        assert_eq!(out.json["code"], 105, "CNI_NETNS={path}: {out:#?}");
        out.assert_err(105);
        assert_eq!(link(&w.host.name, "h1"), Some(before.clone()), "CNI_NETNS={path}");
    }
}

// ---------------------------------------------------------- attached devices

#[test]
fn second_add_of_attached_device_fails_and_its_del_is_harmless() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let ctr2 = Netns::new(format!("{}-ctr2", w.id));
    w.attach("h1", "eth0");
    let inside = link(&w.ctr.name, "eth0").unwrap();

    let mut env = w.env("ADD", "eth0");
    env.insert("CNI_CONTAINERID", format!("{}-b", w.id));
    env.insert("CNI_NETNS", ctr2.path());
    let out = w.run(&env, &w.config("1.0.0", "h1"));
    assert!(matches!(out.json["code"].as_u64(), Some(101 | 102)), "second ADD of an attached device: {out:#?}");
    assert_ne!(out.code, 0);

    // DEL for the failed container must not take the device from the first.
    env.insert("CNI_COMMAND", "DEL".into());
    w.run(&env, &w.config("1.0.0", "h1")).assert_ok();
    assert_eq!(link(&w.ctr.name, "eth0"), Some(inside));
    assert_eq!(link_names(&ctr2.name), ["lo".to_string()].into());

    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn concurrent_adds_of_one_device_one_wins() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let ctr2 = Netns::new(format!("{}-ctr2", w.id));
    let env_a = w.env("ADD", "eth0");
    let mut env_b = w.env("ADD", "eth0");
    env_b.insert("CNI_CONTAINERID", format!("{}-b", w.id));
    env_b.insert("CNI_NETNS", ctr2.path());
    let cfg = w.config("1.0.0", "h1");

    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| w.run(&env_a, &cfg));
        let b = s.spawn(|| w.run(&env_b, &cfg));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!((a.code == 0) != (b.code == 0), "exactly one ADD must win: {a:#?} {b:#?}");
    let a_won = a.code == 0;
    let loser = if a_won { &b } else { &a };
    assert!(matches!(loser.json["code"].as_u64(), Some(101 | 102)), "loser: {loser:#?}");
    let (mut win_env, mut lose_env) = if a_won { (env_a, env_b) } else { (env_b, env_a) };
    let win_ns = if a_won { &w.ctr.name } else { &ctr2.name };
    let inside = link(win_ns, "eth0").expect("eth0 in the winner's namespace");
    assert_eq!(inside.addrs, before.addrs);

    lose_env.insert("CNI_COMMAND", "DEL".into());
    w.run(&lose_env, &cfg).assert_ok();
    assert_eq!(link(win_ns, "eth0"), Some(inside), "loser's DEL took the device");

    win_env.insert("CNI_COMMAND", "DEL".into());
    w.run(&win_env, &cfg).assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

// ------------------------------------------------------- input validation

#[test]
fn version_with_junk_env() {
    let w = World::new();
    let env = [
        ("CNI_COMMAND", "VERSION".to_string()),
        ("CNI_NETNS", "dummy".to_string()),
        ("CNI_CONTAINERID", String::new()),
        ("CNI_IFNAME", String::new()),
        ("CNI_PATH", "/usr/lib/cni".to_string()),
    ]
    .into();
    let out = w.run(&env, r#"{"cniVersion":"1.0.0"}"#);
    out.assert_ok();
    assert!(out.json["cniVersion"].is_string(), "{out:#?}");
    let got: Vec<&str> = out.json["supportedVersions"]
        .as_array()
        .expect("supportedVersions")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for v in VERSIONS {
        assert!(got.contains(&v), "{v} missing from {got:?}");
    }
    // tests/common takes VERSIONS from the crate by this rule: hold it to
    // the crate's own.
    for v in hostdev::cni::version::SUPPORTED {
        let legacy = hostdev::cni::version::Version::parse(v).unwrap().is_legacy();
        assert_eq!(is_legacy(v), legacy, "{v}: tests/common's is_legacy disagrees with the crate");
    }
}

#[test]
fn bad_json_fails_6() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    for stdin in ["{not json", "", "[1,2"] {
        let out = w.run(&w.env("ADD", "eth0"), stdin);
        assert_eq!(out.json["code"], 6, "stdin {stdin:?}: {out:#?}");
        out.assert_err(6);
    }
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());
}

#[test]
fn missing_or_empty_env_vars_fail_4_no_command_prints_about() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let cfg = w.config("1.0.0", "h1");
    for var in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        for empty in [false, true] {
            let mut env = w.env("ADD", "eth0");
            if empty {
                env.insert(var, String::new());
            } else {
                env.remove(var);
            }
            let out = w.run(&env, &cfg);
            assert_eq!(out.json["code"], 4, "{var} empty={empty}: {out:#?}");
            out.assert_err(4);
        }
    }
    // No CNI_COMMAND at all: like the Go skel, print what the plugin is on
    // stderr and exit 0, with nothing on stdout.
    for empty in [false, true] {
        let mut env = w.env("ADD", "eth0");
        if empty {
            env.insert("CNI_COMMAND", String::new());
        } else {
            env.remove("CNI_COMMAND");
        }
        let out = w.run(&env, &cfg);
        out.assert_ok();
        assert_eq!(out.stdout, "", "no CNI_COMMAND (empty={empty}): {out:#?}");
        assert!(out.stderr.contains("hostdev"), "about text: {out:#?}");
    }
    let mut env = w.env("ADD", "eth0");
    env.insert("CNI_COMMAND", "FROB".into());
    let out = w.run(&env, &cfg);
    assert_eq!(out.json["code"], 4, "unknown CNI_COMMAND: {out:#?}");
    out.assert_err(4);

    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());
}

#[test]
fn bad_interface_names_fail_4() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    for name in ["abcdefghijklmnop", "a/b", "a:b", "a b", ".", ".."] {
        let out = w.add("h1", name);
        assert_eq!(out.json["code"], 4, "CNI_IFNAME={name:?}: {out:#?}");
        out.assert_err(4);
        assert_eq!(link(&w.host.name, "h1"), Some(before.clone()), "CNI_IFNAME={name:?}");
        assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into(), "{name:?}");
    }
    // 15 bytes is the longest valid name.
    let out = w.add("h1", "abcdefghijklmno");
    out.assert_ok();
    assert!(link(&w.ctr.name, "abcdefghijklmno").is_some());
    w.del("h1", "abcdefghijklmno").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

#[test]
fn unknown_cni_version_fails_1() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.add_v("9.9.9", "h1", "eth0").assert_err(1);
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());
}

/// A 0.x result must carry an IP: without IPAM and without addresses to
/// carry, ADD fails with 1 before anything moves, and leaves no record.
#[test]
fn legacy_version_without_addresses_fails_1_before_the_move() {
    let w = World::new();
    w.host_veth("h1", true);
    ip(&w.host.name, &["addr", "flush", "dev", "h1", "scope", "global"]);
    let before = link(&w.host.name, "h1");
    let out = w.add_v("0.2.0", "h1", "eth0");
    out.assert_err(1);
    assert!(out.json["msg"].as_str().unwrap().contains("needs an IP address"), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), before);
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());
    assert!(records(&w).is_empty(), "{:?}", records(&w));
}

#[test]
fn device_of_wrong_type_fails_7() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let cfg = json!({
        "cniVersion": "1.0.0", "name": "testnet", "type": "hostdev",
        "device": 5, "dataDir": w.data_dir(),
    });
    let out = w.run(&w.env("ADD", "eth0"), &cfg.to_string());
    out.assert_err(7);
    let text = format!("{} {}", out.json["msg"], out.json["details"]);
    assert!(text.contains("device"), "error should name the key: {out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.ctr.name), ["lo".to_string()].into());
}

/// Routes somebody configured through the device (a default route, a
/// static route, an IPv6 route with a metric) are back on the host after
/// DEL; the kernel's own prefix routes come back with the addresses.
#[test]
fn routes_through_the_device_come_home() {
    let w = World::new();
    w.host_veth("h1", true);
    let h = &w.host.name;
    ip(h, &["route", "add", "default", "via", "10.1.2.1", "dev", "h1"]);
    ip(h, &["route", "add", "198.51.100.0/24", "via", "10.1.2.1", "dev", "h1", "metric", "50"]);
    ip(h, &["-6", "route", "add", "2001:db8:99::/48", "via", "2001:db8:1::1", "dev", "h1", "metric", "7"]);
    let routes = |ns: &str| {
        let mut v: Vec<String> = ["-4", "-6"]
            .iter()
            .flat_map(|f| ip(ns, &[f, "route", "show", "dev", "h1"]).lines().map(String::from).collect::<Vec<_>>())
            .filter(|l| !l.starts_with("fe80") && !l.starts_with("multicast"))
            .map(|l| l.split_whitespace().filter(|t| *t != "linkdown").collect::<Vec<_>>().join(" "))
            .collect();
        v.sort();
        v
    };
    let before = routes(h);
    assert!(before.iter().any(|r| r.starts_with("default via 10.1.2.1")), "{before:?}");
    let mut conf: serde_json::Value = serde_json::from_str(&w.config("1.0.0", "h1")).unwrap();
    conf["allowDefaultRoute"] = serde_json::json!(true);
    w.run(&w.env("ADD", "eth0"), &conf.to_string()).assert_ok();
    assert!(link(h, "h1").is_none());
    w.run(&w.env("DEL", "eth0"), &conf.to_string()).assert_ok();
    assert_eq!(routes(h), before, "routes through h1 after ADD and DEL");
}

/// With `logFile` and `logLevel: info`, each step leaves a line naming the
/// container in the file; stdout carries only the result and stderr stays
/// quiet.
#[test]
fn log_file_gets_one_line_per_step() {
    let w = World::new();
    w.host_veth("h1", true);
    let log = w.tmp.join("hostdev.log");
    let mut conf: serde_json::Value = serde_json::from_str(&w.config("1.0.0", "h1")).unwrap();
    conf["logFile"] = serde_json::json!(log.display().to_string());
    conf["logLevel"] = serde_json::json!("info");
    let add = w.run(&w.env("ADD", "eth0"), &conf.to_string());
    add.assert_ok();
    assert!(add.json["interfaces"].is_array(), "stdout is the result: {add:#?}");
    assert!(add.stderr.is_empty(), "nothing on stderr when logging to a file: {add:#?}");
    let del = w.run(&w.env("DEL", "eth0"), &conf.to_string());
    del.assert_ok();
    assert!(del.stdout.trim().is_empty(), "DEL prints nothing: {del:#?}");
    let text = std::fs::read_to_string(&log).expect("log file written");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.iter().all(|l| l.contains(&w.id)), "every line names the container:\n{text}");
    for step in [
        r#"msg="recorded the host interface" device=h1"#,
        r#"msg="moving the interface into the container" device=h1"#,
        r#"msg="the interface is up in the container""#,
        r#"msg="found the interface in the container" device=h1"#,
        r#"msg=restored device=h1"#,
        r#"msg="the interface is home" device=h1"#,
    ] {
        assert!(lines.iter().any(|l| l.contains(step)), "no line for {step:?}:\n{text}");
    }
}
