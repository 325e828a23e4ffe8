//! Reliability tests: crashes at every fail point, containers whose
//! namespace died, parked names, concurrent callers and the default-route
//! guard. The real binary (built with `--features test-hooks`, so
//! HOSTDEV_FAILPOINT makes it SIGKILL itself) against the real kernel, each
//! test in its own namespaces (see tests/common).
//!
//! Run: cargo test --features test-hooks --test reliability

mod common;

use common::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Child, Command, ExitStatus, Stdio};

// ------------------------------------------------------------------ helpers

fn static_ipam() -> Value {
    json!({"ipam": {"type": "static", "addresses": [{"address": "192.0.2.10/24"}]}})
}

/// Runs `ip -n NS -batch -` with these lines.
fn ip_batch(ns: &str, lines: &[String]) {
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(lines.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ip -batch in {ns}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Asserts `h1` is home exactly as it was, the namespaces hold what they
/// held, and no record is left.
fn assert_home(w: &World, before: &Link, host_names: &BTreeSet<String>, ctr_names: &BTreeSet<String>, what: &str) {
    assert_eq!(link(&w.host.name, &before.name).as_ref(), Some(before), "{what}: host interface not restored");
    assert_eq!(&link_names(&w.host.name), host_names, "{what}: host namespace links");
    if std::path::Path::new(&w.ctr.path()).exists() {
        assert_eq!(&link_names(&w.ctr.name), ctr_names, "{what}: container namespace links");
    }
    assert!(records(w).is_empty(), "{what}: records left: {:#?}", records(w));
}

// ---------------------------------------------------- crashes at fail points

#[derive(Clone, Copy, Debug)]
enum Recover {
    Del,
    Gc,
}

/// Crashes ADD (or, for del-* points, DEL after a clean ADD) at `point`,
/// checks where the crash left things, recovers with a plain DEL or a GC,
/// and checks the host interface is back exactly as it was.
fn crash_and_recover(point: &str, recover: Recover, up: bool) {
    let w = World::new();
    let before = w.host_veth("h1", up);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let extra = if point == "add-after-ipam" { static_ipam() } else { json!({}) };
    let cfg = conf(&w, "1.0.0", "h1", extra);
    let mut crash_env = w.env(if point.starts_with("add") { "ADD" } else { "DEL" }, "eth0");
    crash_env.insert("HOSTDEV_FAILPOINT", point.to_string());

    if point.starts_with("del") {
        let (_, out) = run(&w.host.name, &w.env("ADD", "eth0"), &cfg);
        out.assert_ok();
        assert!(link(&w.ctr.name, "eth0").is_some(), "clean ADD did not attach: {out:#?}");
    }
    let (st, out) = run(&w.host.name, &crash_env, &cfg);
    assert_killed(&st, &out, point);

    // Where the crash left things: proves the point is where its name says.
    let rec = only_record(&w, &w.id, "eth0");
    let phase = rec["phase"].as_str().unwrap_or("");
    let in_ctr = link(&w.ctr.name, "eth0");
    let on_host = link(&w.host.name, "h1");
    match point {
        "add-after-record" => {
            assert_eq!(phase, "adding");
            assert_eq!(on_host.as_ref(), Some(&before), "nothing moved yet");
        }
        "add-after-move" => {
            assert_eq!(phase, "adding");
            assert!(on_host.is_none() && in_ctr.is_some(), "moved, not configured: {in_ctr:?}");
        }
        "add-after-addresses" => {
            assert_eq!(phase, "adding");
            assert_eq!(in_ctr.expect("eth0 in container").addrs, before.addrs);
        }
        "add-after-ipam" => {
            assert_eq!(phase, "adding");
            let inside = in_ctr.expect("eth0 in container");
            assert!(inside.addrs.contains("192.0.2.10/24"), "IPAM address not applied: {inside:?}");
        }
        "del-after-record" => {
            assert_eq!(phase, "removing");
            assert!(in_ctr.is_some() && on_host.is_none());
        }
        "del-before-move" => {
            assert_eq!(phase, "removing");
            assert!(link(&w.ctr.name, "eth0").is_some() && on_host.is_none(), "found in the container, not yet moved");
        }
        "del-after-move" => {
            assert_eq!(phase, "removing");
            assert!(on_host.is_some(), "h1 is home, not yet restored");
        }
        "del-after-restore" => {
            assert_eq!(phase, "removing");
            assert_eq!(on_host.as_ref(), Some(&before), "restored, record not yet dropped");
        }
        other => panic!("unknown fail point {other}"),
    }
    assert_eq!(rec["host"]["name"], "h1", "record snapshot: {rec:#}");

    match recover {
        Recover::Del => {
            let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &cfg);
            assert!(st.success(), "DEL after a crash at {point} failed: {out:#?}");
        }
        Recover::Gc => {
            run_gc(&w, "h1").assert_ok();
        }
    }
    assert_home(&w, &before, &host_names, &ctr_names, &format!("{recover:?} after crash at {point}"));

    // And a second DEL is harmless.
    let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &cfg);
    assert!(st.success(), "second DEL after {point}: {out:#?}");
    assert_home(&w, &before, &host_names, &ctr_names, &format!("second DEL after {point}"));
}

macro_rules! fail_point_tests {
    ($($name:ident: $point:literal, $recover:ident, $up:literal;)*) => {
        $(
            #[test]
            fn $name() {
                crash_and_recover($point, Recover::$recover, $up);
            }
        )*
    };
}

fail_point_tests! {
    crash_add_after_record_then_del: "add-after-record", Del, true;
    crash_add_after_move_then_del: "add-after-move", Del, true;
    crash_add_after_addresses_then_del: "add-after-addresses", Del, true;
    crash_add_after_ipam_then_del: "add-after-ipam", Del, true;
    crash_del_after_record_then_del: "del-after-record", Del, true;
    crash_del_before_move_then_del: "del-before-move", Del, true;
    crash_del_after_move_then_del: "del-after-move", Del, true;
    crash_del_after_restore_then_del: "del-after-restore", Del, true;

    crash_add_after_record_then_gc: "add-after-record", Gc, true;
    crash_add_after_move_then_gc: "add-after-move", Gc, true;
    crash_add_after_addresses_then_gc: "add-after-addresses", Gc, true;
    crash_add_after_ipam_then_gc: "add-after-ipam", Gc, true;
    crash_del_after_record_then_gc: "del-after-record", Gc, true;
    crash_del_before_move_then_gc: "del-before-move", Gc, true;
    crash_del_after_move_then_gc: "del-after-move", Gc, true;
    crash_del_after_restore_then_gc: "del-after-restore", Gc, true;

    // A link that was down must come back down.
    crash_add_after_move_down_then_del: "add-after-move", Del, false;
    crash_add_after_addresses_down_then_del: "add-after-addresses", Del, false;
    crash_del_after_move_down_then_del: "del-after-move", Del, false;
    crash_del_before_move_down_then_gc: "del-before-move", Gc, false;
}

/// GC leaves alone an attachment the runtime still lists, even one whose
/// ADD crashed, and collects it once it is no longer listed.
#[test]
fn gc_spares_valid_attachments() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    w.attach("h1", "eth0");
    let env = plain_env("GC");
    let keep = conf(&w, "1.1.0", "h1", json!({"cni.dev/valid-attachments": [{"containerID": w.id, "ifname": "eth0"}]}));
    let (_, out) = run(&w.host.name, &env, &keep);
    out.assert_ok();
    assert!(link(&w.ctr.name, "eth0").is_some(), "GC took a valid attachment");
    assert_eq!(only_record(&w, &w.id, "eth0")["phase"], "attached");
    run_gc(&w, "h1").assert_ok();
    assert_home(&w, &before, &host_names, &ctr_names, "GC of a stale attachment");
}

// ---------------------------------------------- container namespace teardown

#[derive(Clone, Copy, Debug, PartialEq)]
enum Returned {
    /// The kernel kept the container-side name (eth0 was free on the host).
    SameName,
    /// eth0 was taken on the host: the kernel picked dev<N>.
    DevName,
}

/// A physical NIC outlives its container: the kernel moves it back to the
/// host, down, without addresses, under its container-side name (or
/// dev<N>). Emulated by hand with a veth; the namespace is then deleted.
/// DEL (or GC) must give it back its name and everything it had.
fn teardown_physical(returned: Returned, recover: Recover) {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    if returned == Returned::DevName {
        ip(&w.host.name, &["link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
    }
    let host_names = link_names(&w.host.name);
    let squatter = link(&w.host.name, "eth0");
    w.attach("h1", "eth0");

    match returned {
        Returned::SameName => ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]),
        Returned::DevName => ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name, "name", "dev7"]),
    };
    let back_as = if returned == Returned::SameName { "eth0" } else { "dev7" };
    let back = link(&w.host.name, back_as).expect("returned to the host");
    assert_eq!(back.mac, before.mac);
    assert!(!back.up && back.addrs.is_empty(), "the kernel returns it down and bare: {back:?}");
    let ctr = w.ctr.name.clone();
    let netns_path = w.ctr.path();
    // Delete the container namespace (the World's Drop copes).
    w.ctr.delete();
    assert!(!std::path::Path::new(&netns_path).exists());

    match recover {
        Recover::Del => {
            let (st, out) = run(&w.host.name, &env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
            assert!(st.success(), "DEL after teardown failed: {out:#?}");
        }
        Recover::Gc => {
            run_gc(&w, "h1").assert_ok();
        }
    }
    assert_eq!(link(&w.host.name, "h1"), Some(before), "{ctr}: h1 not restored after {recover:?}");
    assert_eq!(link_names(&w.host.name), host_names, "host links after {recover:?}");
    assert_eq!(link(&w.host.name, "eth0"), squatter, "the host's own eth0 (if any) untouched");
    assert!(records(&w).is_empty(), "records left: {:#?}", records(&w));
}

#[test]
fn teardown_physical_same_name_then_del() {
    teardown_physical(Returned::SameName, Recover::Del);
}

#[test]
fn teardown_physical_dev_name_then_del() {
    teardown_physical(Returned::DevName, Recover::Del);
}

#[test]
fn teardown_physical_same_name_then_gc() {
    teardown_physical(Returned::SameName, Recover::Gc);
}

#[test]
fn teardown_physical_dev_name_then_gc() {
    teardown_physical(Returned::DevName, Recover::Gc);
}

/// A virtual device dies with the container's namespace: DEL (or GC)
/// succeeds and drops the record.
fn teardown_virtual(recover: Recover) {
    let mut w = World::new();
    w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    w.attach("h1", "eth0");
    let netns_path = w.ctr.path();
    w.ctr.delete();
    // The veth and its peer in the host die with the namespace, asynchronously.
    assert!(wait_until(10, || link(&w.host.name, "h1p").is_none()), "peer h1p survived its namespace");
    match recover {
        Recover::Del => {
            let (st, out) = run(&w.host.name, &env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
            assert!(st.success(), "DEL after the veth died: {out:#?}");
        }
        Recover::Gc => {
            run_gc(&w, "h1").assert_ok();
        }
    }
    assert!(records(&w).is_empty(), "record kept for a destroyed device: {:#?}", records(&w));
    let expected: BTreeSet<String> = host_names.into_iter().filter(|n| n != "h1" && n != "h1p").collect();
    assert_eq!(link_names(&w.host.name), expected);
    // Idempotent.
    let (st, out) = run(&w.host.name, &env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(st.success(), "second DEL: {out:#?}");
}

#[test]
fn teardown_virtual_then_del() {
    teardown_virtual(Recover::Del);
}

#[test]
fn teardown_virtual_then_gc() {
    teardown_virtual(Recover::Gc);
}

// ------------------------------------------------------------- parked names

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
    assert_eq!(only_record(&w, &w.id, "eth0")["phase"], "parked");

    ip(&w.host.name, &["link", "del", "h1"]);
    match unpark {
        Unpark::Status => {
            let env = plain_env("STATUS");
            let (st, out) = run(&w.host.name, &env, &conf(&w, "1.1.0", "h1", json!({})));
            assert!(st.success(), "STATUS: {out:#?}");
        }
        Unpark::DelOther => {
            let (st, out) =
                run(&w.host.name, &env_for("DEL", "other-ctr", &w.ctr.path(), "net9"), &w.config("1.0.0", "h1"));
            assert!(st.success(), "DEL of another attachment: {out:#?}");
        }
        Unpark::AddOther => {
            let (st, out) = run(&w.host.name, &w.env("ADD", "net1"), &w.config("1.0.0", "h2"));
            assert!(st.success(), "ADD of another device: {out:#?}");
            assert!(link(&w.ctr.name, "net1").is_some());
            let (st, out) = run(&w.host.name, &w.env("DEL", "net1"), &w.config("1.0.0", "h2"));
            assert!(st.success(), "DEL of the other device: {out:#?}");
        }
    }
    assert_home(&w, &before, &host_names, &ctr_names, &format!("unparked by {unpark:?}"));
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

// ------------------------------------------------------------------ locking

/// Two ADDs that want h1, into two namespaces, at the same moment: one
/// wins, the other fails cleanly; both DELs succeed and h1 is home intact.
/// Several rounds, to give the race a chance.
#[test]
fn two_adds_race_for_one_device() {
    let w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    let sides = [("racer-a", w.ctr.path(), w.ctr.name.clone()), ("racer-b", other.path(), other.name.clone())];

    for round in 0..6 {
        // Alternate who is launched first.
        let order: Vec<usize> = if round % 2 == 0 { vec![0, 1] } else { vec![1, 0] };
        let children: Vec<(usize, Child)> = order
            .iter()
            .map(|&i| (i, spawn(&w.host.name, &env_for("ADD", sides[i].0, &sides[i].1, "eth0"), &cfg)))
            .collect();
        let mut results: Vec<(usize, ExitStatus, Out)> = children
            .into_iter()
            .map(|(i, c)| {
                let (st, out) = finish(c);
                (i, st, out)
            })
            .collect();
        results.sort_by_key(|r| r.0);

        let winners: Vec<usize> = results.iter().filter(|r| r.1.success()).map(|r| r.0).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one ADD must win: {results:#?}");
        let (win, lose) = (winners[0], 1 - winners[0]);
        let loser = &results[lose].2;
        assert!(results[lose].1.code().is_some(), "round {round}: the loser died: {loser:#?}");
        let code = loser.json["code"].as_u64();
        assert!(matches!(code, Some(101) | Some(102)), "round {round}: loser should get 101 or 102: {loser:#?}");
        assert!(!loser.json["msg"].as_str().unwrap_or("").is_empty(), "{loser:#?}");

        let inside = link(&sides[win].2, "eth0").expect("winner's container has eth0");
        assert_eq!(inside.mac, before.mac);
        assert_eq!(inside.addrs, before.addrs);
        assert!(link(&sides[lose].2, "eth0").is_none(), "round {round}: loser's container has an eth0");
        assert!(link(&w.host.name, "h1").is_none(), "round {round}: h1 still on the host");
        assert_eq!(only_record(&w, sides[win].0, "eth0")["phase"], "attached");

        // Both DELs succeed (the loser's finds nothing to do), loser first.
        for i in [lose, win] {
            let (st, out) = run(&w.host.name, &env_for("DEL", sides[i].0, &sides[i].1, "eth0"), &cfg);
            assert!(st.success(), "round {round}: DEL of {}: {out:#?}", sides[i].0);
        }
        assert_home(&w, &before, &host_names, &ctr_names, &format!("round {round}"));
        assert_eq!(link_names(&other.name), ctr_names, "round {round}: second container");
    }
}

/// 32 ADDs of 32 devices into 32 namespaces at once, then 32 DELs at once.
#[test]
fn thirty_two_concurrent_adds_and_dels() {
    const N: usize = 32;
    let w = World::new();
    let ctrs: Vec<Netns> = (0..N).map(|i| Netns::new(format!("{}-c{i}", w.id))).collect();
    let mut lines = Vec::new();
    for i in 0..N {
        let h = format!("h{i}");
        lines.push(format!("link add {h} type veth peer name {h}p"));
        lines.push(format!("link set dev {h} mtu {} alias \"dev number {i}\"", 1300 + i));
        lines.push(format!("link set dev {h}p up"));
        if i % 4 != 3 {
            lines.push(format!("link set dev {h} up"));
        }
        lines.push(format!("addr add 10.3.{i}.1/24 dev {h}"));
        lines.push(format!("addr add 2001:db8:3:{i:x}::1/64 dev {h} nodad"));
    }
    ip_batch(&w.host.name, &lines);
    let before: Vec<Link> = (0..N).map(|i| link(&w.host.name, &format!("h{i}")).unwrap()).collect();
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&ctrs[0].name);
    let id = |i: usize| format!("{}-{i}", w.id);

    let children: Vec<Child> = (0..N)
        .map(|i| {
            spawn(&w.host.name, &env_for("ADD", &id(i), &ctrs[i].path(), "eth0"), &w.config("1.0.0", &format!("h{i}")))
        })
        .collect();
    let results: Vec<(ExitStatus, Out)> = children.into_iter().map(finish).collect();
    for (i, (st, out)) in results.iter().enumerate() {
        assert!(st.success(), "ADD h{i}: {out:#?}");
        let inside = link(&ctrs[i].name, "eth0").unwrap_or_else(|| panic!("h{i} not in its container"));
        assert_eq!(inside.mac, before[i].mac, "h{i}");
        assert_eq!(inside.mtu, before[i].mtu, "h{i}");
        assert_eq!(inside.addrs, before[i].addrs, "h{i}");
    }
    assert_eq!(records(&w).len(), N);
    assert!(
        link_names(&w.host.name).iter().all(|n| !n.starts_with('h') || n.ends_with('p')),
        "devices left on the host"
    );

    let children: Vec<Child> = (0..N)
        .map(|i| {
            spawn(&w.host.name, &env_for("DEL", &id(i), &ctrs[i].path(), "eth0"), &w.config("1.0.0", &format!("h{i}")))
        })
        .collect();
    let results: Vec<(ExitStatus, Out)> = children.into_iter().map(finish).collect();
    for (i, (st, out)) in results.iter().enumerate() {
        assert!(st.success(), "DEL h{i}: {out:#?}");
    }
    for i in 0..N {
        assert_eq!(link(&w.host.name, &format!("h{i}")).as_ref(), Some(&before[i]), "h{i} not home intact");
        assert_eq!(link_names(&ctrs[i].name), ctr_names, "container {i}");
    }
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "records left: {:#?}", records(&w));
}

// ------------------------------------------------------ default-route guard

fn default_route_guard(v6: bool) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let (family, gw) = if v6 { ("-6", "2001:db8:1::1") } else { ("-4", "10.1.2.1") };
    ip(&w.host.name, &[family, "route", "add", "default", "via", gw, "dev", "h1"]);
    let routes = ip(&w.host.name, &[family, "route", "show", "default"]);
    assert!(routes.contains(gw), "{routes}");
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);

    let (_, out) = run(&w.host.name, &w.env("ADD", "eth0"), &w.config("1.0.0", "h1"));
    out.assert_err(107);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("h1") && msg.contains("allowDefaultRoute"),
        "message should name the device and the way out: {msg}"
    );
    assert_eq!(link(&w.host.name, "h1"), Some(before.clone()), "h1 changed by a refused ADD");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert_eq!(ip(&w.host.name, &[family, "route", "show", "default"]), routes, "the default route changed");
    assert!(records(&w).is_empty(), "a refused ADD left a record: {:#?}", records(&w));
    // The refused ADD is followed by DEL, as runtimes do: harmless.
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before.clone()));

    let allowed = conf(&w, "1.0.0", "h1", json!({"allowDefaultRoute": true}));
    let (_, out) = run(&w.host.name, &w.env("ADD", "eth0"), &allowed);
    out.assert_ok();
    let inside = link(&w.ctr.name, "eth0").expect("eth0 in the container");
    assert_eq!(inside.addrs, before.addrs);
    let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &allowed);
    assert!(st.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 after ADD/DEL with allowDefaultRoute");
    assert!(records(&w).is_empty());
}

#[test]
fn default_route_guard_ipv4() {
    default_route_guard(false);
}

#[test]
fn default_route_guard_ipv6() {
    default_route_guard(true);
}

/// A default route through another interface does not trip the guard.
#[test]
fn default_route_on_another_device_is_no_obstacle() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    ip(&w.host.name, &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    ip(&w.host.name, &["link", "set", "up0", "up"]);
    ip(&w.host.name, &["link", "set", "up0p", "up"]);
    ip(&w.host.name, &["addr", "add", "10.9.0.2/24", "dev", "up0"]);
    ip(&w.host.name, &["route", "add", "default", "via", "10.9.0.1", "dev", "up0"]);
    w.attach("h1", "eth0");
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

// ------------------------------------------------- crashes, combined

/// Two crashes in a row (ADD after the move, then the recovering DEL after
/// its own move), then a plain DEL: still nothing lost.
#[test]
fn crash_in_add_then_crash_in_recovering_del() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    for (command, point) in [("ADD", "add-after-addresses"), ("DEL", "del-before-move"), ("DEL", "del-after-move")] {
        let mut env = w.env(command, "eth0");
        env.insert("HOSTDEV_FAILPOINT", point.to_string());
        let (st, out) = run(&w.host.name, &env, &cfg);
        assert_killed(&st, &out, point);
        assert_eq!(records(&w).len(), 1, "after the crash at {point}");
    }
    w.del("h1", "eth0").assert_ok();
    assert_home(&w, &before, &host_names, &ctr_names, "after two crashes");
}

/// ADD crashed after the move, and the container died before anyone
/// called DEL; the kernel returned the (physical) interface to the host.
#[test]
fn crash_after_move_then_container_dies_then_del() {
    let mut w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let mut env = w.env("ADD", "eth0");
    env.insert("HOSTDEV_FAILPOINT", "add-after-addresses".to_string());
    let (st, out) = run(&w.host.name, &env, &w.config("1.0.0", "h1"));
    assert_killed(&st, &out, "add-after-addresses");
    ip(&w.ctr.name, &["link", "set", "eth0", "netns", &w.host.name]);
    let netns_path = w.ctr.path();
    w.ctr.delete();
    let (st, out) = run(&w.host.name, &env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(st.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A record left by a crashed ADD still claims the device: another
/// container's ADD is refused cleanly until GC collects the stale one.
#[test]
fn stale_record_blocks_other_containers_until_gc() {
    let w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let cfg = w.config("1.0.0", "h1");
    let mut env = w.env("ADD", "eth0");
    env.insert("HOSTDEV_FAILPOINT", "add-after-record".to_string());
    let (st, out) = run(&w.host.name, &env, &cfg);
    assert_killed(&st, &out, "add-after-record");
    assert_eq!(link(&w.host.name, "h1").as_ref(), Some(&before));

    let (_, out) = run(&w.host.name, &env_for("ADD", "second", &other.path(), "eth0"), &cfg);
    out.assert_err(102);
    assert!(out.json["msg"].as_str().unwrap().contains("h1"), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1").as_ref(), Some(&before), "a refused ADD moved h1");
    assert!(link(&other.name, "eth0").is_none());

    let keep =
        conf(&w, "1.1.0", "h1", json!({"cni.dev/valid-attachments": [{"containerID": "second", "ifname": "eth0"}]}));
    let gc_env = plain_env("GC");
    let (st, out) = run(&w.host.name, &gc_env, &keep);
    assert!(st.success(), "{out:#?}");
    assert!(records(&w).is_empty(), "GC kept the stale record: {:#?}", records(&w));
    let (st, out) = run(&w.host.name, &env_for("ADD", "second", &other.path(), "eth0"), &cfg);
    assert!(st.success(), "ADD after GC: {out:#?}");
    let (st, out) = run(&w.host.name, &env_for("DEL", "second", &other.path(), "eth0"), &cfg);
    assert!(st.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before));
    assert_eq!(link_names(&w.host.name), host_names);
}

// ------------------------------------------------- more races

/// Two DELs of the same attachment at once (a runtime retrying): both
/// succeed and h1 comes home intact.
#[test]
fn two_dels_of_one_attachment_race() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    for round in 0..15 {
        w.attach("h1", "eth0");
        let a = spawn(&w.host.name, &w.env("DEL", "eth0"), &cfg);
        let b = spawn(&w.host.name, &w.env("DEL", "eth0"), &cfg);
        let results = [finish(a), finish(b)];
        // Look at the whole state before judging, so a failure says it all.
        let state = format!(
            "h1 now: {:?}\nbefore: {before:?}\nrecords: {:#?}\nhost links: {:?}",
            link(&w.host.name, "h1"),
            records(&w),
            link_names(&w.host.name)
        );
        for (st, out) in &results {
            assert!(st.success(), "round {round}: a concurrent DEL failed: {out:#?}\n{state}");
        }
        assert_home(&w, &before, &host_names, &ctr_names, &format!("round {round}"));
    }
}

/// Container A's DEL and container B's ADD of the same device at once,
/// B started a little later each round so that it lands at different
/// moments of A's homecoming. B either wins cleanly (h1 in B) or fails
/// with 101/102 (h1 home); in both cases, after B's DEL, h1 must be home
/// with everything it had: B's snapshot must never be a half-restored h1.
#[test]
fn del_and_add_of_one_device_race() {
    let w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    let mut outcomes = BTreeMap::new();
    for round in 0..40u64 {
        w.attach("h1", "eth0");
        let a = spawn(&w.host.name, &w.env("DEL", "eth0"), &cfg);
        std::thread::sleep(std::time::Duration::from_micros(round * 750));
        let b = spawn(&w.host.name, &env_for("ADD", "b-side", &other.path(), "eth0"), &cfg);
        let (sta, outa) = finish(a);
        let (stb, outb) = finish(b);
        assert!(sta.success(), "round {round}: A's DEL: {outa:#?}");
        if stb.success() {
            *outcomes.entry("B won").or_insert(0) += 1;
            let inside = link(&other.name, "eth0").expect("B's container has eth0");
            let snapshot = only_record(&w, "b-side", "eth0");
            let snap_ok = snapshot["host"]["up"] == before.up
                && snapshot["host"]["mtu"] == before.mtu
                && snapshot["host"]["alias"] == before.alias.as_str()
                && snapshot["addrs"].as_array().map(Vec::len) == Some(before.addrs.len());
            if !snap_ok || inside.addrs != before.addrs || inside.mtu != before.mtu {
                let (st, out) = run(&w.host.name, &env_for("DEL", "b-side", &other.path(), "eth0"), &cfg);
                panic!(
                    "round {round} (B started {}us after A): B's ADD won with a half-restored h1.\n\
                     in B's container: {inside:?}\nB's record: {snapshot:#}\n\
                     after B's DEL ({:?}, {}): h1 = {:?}\nbefore: {before:?}",
                    round * 750,
                    st.code(),
                    out.stdout.trim(),
                    link(&w.host.name, "h1"),
                );
            }
        } else {
            *outcomes.entry("B refused").or_insert(0) += 1;
            assert!(stb.code().is_some(), "round {round}: B died: {outb:#?}");
            let code = outb.json["code"].as_u64();
            assert!(matches!(code, Some(101) | Some(102)), "round {round}: B should get 101 or 102: {outb:#?}");
        }
        let (st, out) = run(&w.host.name, &env_for("DEL", "b-side", &other.path(), "eth0"), &cfg);
        assert!(st.success(), "round {round}: B's DEL: {out:#?}");
        assert_home(&w, &before, &host_names, &ctr_names, &format!("round {round} ({outcomes:?})"));
        assert_eq!(link_names(&other.name), ctr_names);
    }
    eprintln!("del_and_add_of_one_device_race: {outcomes:?}");
}

/// A periodic GC that runs while the runtime DELs the same (no longer
/// valid) attachment: both succeed, h1 comes home intact.
#[test]
fn gc_and_del_of_one_attachment_race() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let gc_env = plain_env("GC");
    for round in 0..15 {
        w.attach("h1", "eth0");
        let del = spawn(&w.host.name, &w.env("DEL", "eth0"), &w.config("1.0.0", "h1"));
        let gc = spawn(&w.host.name, &gc_env, &gc_conf(&w, "h1"));
        let results = [("DEL", finish(del)), ("GC", finish(gc))];
        let state = format!("h1 now: {:?}\nbefore: {before:?}\nrecords: {:#?}", link(&w.host.name, "h1"), records(&w));
        for (what, (st, out)) in &results {
            assert!(st.success(), "round {round}: {what} failed: {out:#?}\n{state}");
        }
        assert_home(&w, &before, &host_names, &ctr_names, &format!("round {round}"));
    }
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

    let (st, out) = run(&w.host.name, &env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(st.success(), "{out:#?}");
    let parked_name = format!("hdpark{index}");
    assert_eq!(
        link(&w.host.name, &parked_name),
        Some(Link { name: parked_name.clone(), ..before.clone() }),
        "host links: {:?}",
        link_names(&w.host.name)
    );
    assert!(link(&w.host.name, "eth0").is_none());
    assert_eq!(only_record(&w, &w.id, "eth0")["phase"], "parked");

    ip(&w.host.name, &["link", "del", "h1"]);
    let env = plain_env("STATUS");
    let (st, out) = run(&w.host.name, &env, &conf(&w, "1.1.0", "h1", json!({})));
    assert!(st.success(), "STATUS: {out:#?}");
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
    let (st, out) = run(&w.host.name, &w.env("ADD", "eth0"), &by_mac);
    assert!(st.success(), "first ADD: {out:#?}");
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "sq1p"]);
    let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &by_mac);
    assert!(st.success(), "DEL that parks: {out:#?}");
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

    let (st, out) = run(&w.host.name, &w.env("ADD", "eth0"), &by_mac);
    assert!(st.success(), "ADD of the parked interface under the same key: {out:#?}");
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["phase"], "attached", "{rec:#}");
    assert_eq!(rec["host"]["name"], "h1", "the record keeps the true name: {rec:#}");

    ip(&w.host.name, &["link", "del", "h1"]);
    let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &by_mac);
    assert!(st.success(), "final DEL: {out:#?}");
    assert_home(&w, &before, &host_names, &ctr_names, "after the second attachment");
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

    let mut env = w.env("ADD", "eth0");
    env.insert("HOSTDEV_FAILPOINT", "add-after-record".to_string());
    let (st, out) = run(&w.host.name, &env, &by_mac);
    assert_killed(&st, &out, "add-after-record");
    // Not parked any more: the operator's listing does not say so.
    let listed = Command::new(BIN).args(["list", "--data-dir", &w.data_dir()]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("adding") && !listed.contains("home as"), "{listed}");

    let (_, out) = run(&w.host.name, &env_for("ADD", "second", &other.path(), "eth0"), &by_mac);
    out.assert_err(102);
    assert!(link(&other.name, "eth0").is_none(), "another container took a claimed device");
    let rec = only_record(&w, &w.id, "eth0");
    assert_eq!(rec["host"]["name"], "h1", "{rec:#}");

    ip(&w.host.name, &["link", "del", "h1"]);
    let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &by_mac);
    assert!(st.success(), "DEL after the crash: {out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 did not come home under its own name");
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A veth's container died with it: the veth is gone, its record is not
/// yet collected. An ADD that names it hears who holds it (busy), not that
/// it is on its way home: only a physical device comes back by itself.
#[test]
fn device_of_a_dead_container_is_busy_not_on_its_way_home() {
    let mut w = World::new();
    let other = Netns::new(format!("{}-ctr2", w.id));
    w.host_veth("h1", true);
    let cfg = w.config("1.0.0", "h1");
    w.attach("h1", "eth0");
    w.ctr.delete();
    assert!(wait_until(5, || link(&w.host.name, "h1p").is_none()), "the veth outlived its namespace");
    let (_, out) = run(&w.host.name, &env_for("ADD", "second", &other.path(), "eth0"), &cfg);
    out.assert_err(102);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains(&w.id) && msg.contains("attached"), "{out:#?}");
}

/// The container changed the MAC, then DEL died right after the move home
/// (before the restore): the next DEL still recognises the interface on the
/// host by its original index and name, and gives it back its own MAC.
#[test]
fn crash_after_move_home_with_mac_changed_in_container() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);
    let cfg = w.config("1.0.0", "h1");
    w.attach("h1", "eth0");
    ip(&w.ctr.name, &["link", "set", "dev", "eth0", "address", "02:00:00:00:be:ef"]);
    let mut env = w.env("DEL", "eth0");
    env.insert("HOSTDEV_FAILPOINT", "del-after-move".to_string());
    let (st, out) = run(&w.host.name, &env, &cfg);
    assert_killed(&st, &out, "del-after-move");
    assert_eq!(link(&w.host.name, "h1").map(|l| l.mac), Some("02:00:00:00:be:ef".to_string()), "home, not restored");
    let (st, out) = run(&w.host.name, &w.env("DEL", "eth0"), &cfg);
    assert!(st.success(), "DEL after the crash: {out:#?}");
    assert_home(&w, &before, &host_names, &ctr_names, "after the crash with a changed MAC");
    assert!(records(&w).is_empty());
}

/// The container changed what the interface had (MTU, alias, MAC, admin
/// state): DEL gives each back. Also when the host interface had no alias:
/// the container's alias does not come home with it.
#[test]
fn del_restores_what_the_container_changed() {
    for had_alias in [true, false] {
        let w = World::new();
        w.host_veth("h1", true);
        if !had_alias {
            ip(&w.host.name, &["link", "set", "dev", "h1", "alias", ""]);
        }
        let before = link(&w.host.name, "h1").unwrap();
        let host_names = link_names(&w.host.name);
        let ctr_names = link_names(&w.ctr.name);
        w.attach("h1", "eth0");
        let c = &w.ctr.name;
        ip(c, &["link", "set", "dev", "eth0", "mtu", "1280", "alias", "set by the container"]);
        ip(c, &["link", "set", "dev", "eth0", "address", "02:00:00:00:be:ef", "down"]);
        w.del("h1", "eth0").assert_ok();
        assert_home(&w, &before, &host_names, &ctr_names, &format!("changed in the container (alias: {had_alias})"));
    }
}

/// What keeps a container's namespace alive after its path is gone.
enum Holder {
    /// A process inside it.
    Process,
    /// A process in the host holding a descriptor of it.
    Descriptor,
    /// A bind mount of it elsewhere.
    Mount,
}

/// A process or mount that keeps namespace `ns` alive; ended on drop.
struct Holding {
    child: Option<std::process::Child>,
    mount: Option<std::path::PathBuf>,
}

impl Holding {
    fn new(w: &World, how: &Holder) -> Holding {
        let path = w.ctr.path();
        let sleeper = |args: &[&str]| Some(Command::new(args[0]).args(&args[1..]).spawn().unwrap());
        let (child, mount) = match how {
            Holder::Process => (sleeper(&["ip", "netns", "exec", &w.ctr.name, "sleep", "600"]), None),
            Holder::Descriptor => (sleeper(&["sh", "-c", &format!("exec 3<{path}; exec sleep 600")]), None),
            Holder::Mount => {
                let at = w.tmp.join("held-ns");
                std::fs::write(&at, "").unwrap();
                let st = Command::new("mount").args(["--bind", &path]).arg(&at).status().unwrap();
                assert!(st.success(), "bind-mount {path}");
                (None, Some(at))
            }
        };
        let holding = Holding { child, mount };
        let pid = holding.child.as_ref().map(|c| c.id().to_string());
        let ctr = w.ctr.name.clone();
        let ready = || match (&pid, how) {
            (Some(pid), Holder::Process) => ns_pids(&ctr).contains(pid),
            (Some(pid), _) => std::fs::read_link(format!("/proc/{pid}/fd/3")).is_ok(),
            (None, _) => true,
        };
        assert!(wait_until(30, ready), "the holder never took hold of {ctr}");
        holding
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(at) = &self.mount {
            let _ = Command::new("umount").arg(at).status();
        }
    }
}

/// The runtime removed the container's namespace path (or never had the
/// right one) while something still holds the namespace: DEL finds it by
/// the device and inode ADD recorded, through a process inside it, a
/// descriptor a process holds, or a bind mount elsewhere, and brings the
/// interface home at once.
#[test]
fn del_finds_a_lingering_namespace_through_what_holds_it() {
    for how in [Holder::Process, Holder::Descriptor, Holder::Mount] {
        let mut w = World::new();
        let before = w.host_veth("h1", true);
        ip(&w.host.name, &["netns", "set", &w.ctr.name, "7"]);
        w.attach("h1", "eth0");
        let _holding = Holding::new(&w, &how);
        let netns_path = w.ctr.path();
        w.ctr.delete();
        let log_conf = conf(&w, "1.0.0", "h1", json!({"logLevel": "info"}));
        let out = w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &log_conf);
        out.assert_ok();
        assert!(out.stderr.contains("found it through"), "DEL's log: {out:#?}");
        assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 is not home as it was");
        assert!(records(&w).is_empty(), "{:#?}", records(&w));
    }
}

/// The runtime passes a CNI_NETNS that does not exist while the container
/// namespace lives at its own path: DEL brings the interface home from
/// there, exit 0.
#[test]
fn del_with_a_wrong_netns_path_finds_the_recorded_namespace() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    w.attach("h1", "eth0");
    let wrong = format!("/var/run/netns/{}-nonexistent", w.id);
    w.run(&env_for("DEL", &w.id, &wrong, "eth0"), &w.config("1.0.0", "h1")).assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 is not home as it was");
    assert!(link(&w.ctr.name, "eth0").is_none(), "eth0 stayed in the container");
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// A namespace kept alive by a socket alone (no process in it, no
/// descriptor naming it, no mount) is out of reach: DEL waits a moment for
/// it to die, then answers 11 saying that nothing reachable holds it, and
/// the record stays for the next DEL, which brings the interface home once
/// the namespace is reachable or gone.
#[test]
fn namespace_held_only_by_a_socket_gets_11_and_the_record_stays() {
    let mut w = World::new();
    w.host_veth("h1", true);
    ip(&w.host.name, &["netns", "set", &w.ctr.name, "7"]);
    w.attach("h1", "eth0");
    let holder = SocketHolder::new(&w.ctr.path());
    let netns_path = w.ctr.path();
    w.ctr.delete();

    let mut env = env_for("DEL", &w.id, &netns_path, "eth0");
    env.insert("HOSTDEV_SETTLE_MS", "300".into());
    let out = w.run(&env, &w.config("1.0.0", "h1"));
    out.assert_err(11);
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains("another network namespace (host nsid 7)"), "{msg}");
    assert!(msg.contains("no process, open descriptor or bind mount holds it"), "{msg}");
    assert_eq!(only_record(&w, &w.id, "eth0")["phase"], "removing");

    drop(holder);
    // The veth dies with its namespace: the next DEL finds its peer gone.
    assert!(wait_until(30, || link(&w.host.name, "h1p").is_none()), "h1p outlived its namespace");
    w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1")).assert_ok();
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The process ids in the named namespace.
fn ns_pids(ns: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect()
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
    assert_eq!(only_record(&w, &w.id, "eth0")["phase"], "parked");

    let status = || {
        let (st, out) = run(&w.host.name, &plain_env("STATUS"), &conf(&w, "1.1.0", "h1", json!({})));
        assert!(st.success(), "STATUS: {out:#?}");
    };
    status();
    assert_eq!(only_record(&w, &w.id, "eth0")["phase"], "parked", "unparked while its name is taken");
    ip(&w.host.name, &["link", "del", "h1"]);
    status();
    assert_home(&w, &before, &host_names, &ctr_names, "unparked by the second STATUS");
}
