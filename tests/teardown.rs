//! Teardown: the container's namespace dies, lingers or is named wrongly.
//! A physical NIC the kernel returns to the host (emulated with a veth
//! moved back by hand), a virtual device that dies with the namespace, a
//! namespace kept alive by a process, a descriptor, a bind mount or only a
//! socket, a wrong `CNI_NETNS`; and what the container changed on the
//! interface, given back by DEL.
//!
//! Run: cargo test --features test-hooks --test teardown

mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Command;

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
            let out = w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
            assert!(out.status.success(), "DEL after teardown failed: {out:#?}");
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
    assert!(wait_until(60, || link(&w.host.name, "h1p").is_none()), "peer h1p survived its namespace");
    match recover {
        Recover::Del => {
            let out = w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
            assert!(out.status.success(), "DEL after the veth died: {out:#?}");
        }
        Recover::Gc => {
            run_gc(&w, "h1").assert_ok();
        }
    }
    assert!(records(&w).is_empty(), "record kept for a destroyed device: {:#?}", records(&w));
    let expected: BTreeSet<String> = host_names.into_iter().filter(|n| n != "h1" && n != "h1p").collect();
    assert_eq!(link_names(&w.host.name), expected);
    // Idempotent.
    let out = w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1"));
    assert!(out.status.success(), "second DEL: {out:#?}");
}

#[test]
fn teardown_virtual_then_del() {
    teardown_virtual(Recover::Del);
}

#[test]
fn teardown_virtual_then_gc() {
    teardown_virtual(Recover::Gc);
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
    assert!(wait_until(60, || link(&w.host.name, "h1p").is_none()), "the veth outlived its namespace");
    let out = w.run(&env_for("ADD", "second", &other.path(), "eth0"), &cfg);
    out.assert_err(102);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains(&w.id) && msg.contains("attached"), "{out:#?}");
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
        w.assert_home(&before, &host_names, &ctr_names, &format!("changed in the container (alias: {had_alias})"));
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
        // The descriptor must be the namespace's (opened through its path):
        // the child may have inherited another fd 3 (cargo's jobserver
        // pipe, say) before its shell opens the namespace there.
        let held = path.clone();
        let ready = || match (&pid, how) {
            (Some(pid), Holder::Process) => ns_pids(&ctr).contains(pid),
            (Some(pid), _) => {
                std::fs::read_link(format!("/proc/{pid}/fd/3")).is_ok_and(|l| l.to_string_lossy() == held)
            }
            (None, _) => true,
        };
        assert!(wait_until(60, ready), "the holder never took hold of {ctr}");
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

/// h1 attached as eth0 into a namespace (host nsid 7) that only a socket
/// holds once its path is deleted: the holder and the deleted path.
fn held_by_a_socket() -> (World, SocketHolder, String) {
    let mut w = World::new();
    w.host_veth("h1", true);
    ip(&w.host.name, &["netns", "set", &w.ctr.name, "7"]);
    w.attach("h1", "eth0");
    let holder = SocketHolder::new(&w.ctr.path());
    let netns_path = w.ctr.path();
    w.ctr.delete();
    (w, holder, netns_path)
}

/// A namespace kept alive by a socket alone (no process in it, no
/// descriptor naming it, no mount) is out of reach: DEL waits a moment for
/// it to die, then answers 11 saying that nothing reachable holds it, and
/// the record stays for the next DEL, which brings the interface home once
/// the namespace is reachable or gone.
#[test]
fn namespace_held_only_by_a_socket_gets_11_and_the_record_stays() {
    let (w, holder, netns_path) = held_by_a_socket();
    let mut env = env_for("DEL", &w.id, &netns_path, "eth0");
    env.insert("HOSTDEV_SETTLE_MS", "300".into());
    let out = w.run(&env, &w.config("1.0.0", "h1"));
    out.assert_err(11);
    let msg = out.json["msg"].as_str().unwrap_or("");
    assert!(msg.contains("another network namespace (host nsid 7)"), "{msg}");
    assert!(msg.contains("no process, open descriptor or bind mount holds it"), "{msg}");
    assert_eq!(only_phase(&w), "removing");

    drop(holder);
    // The veth dies with its namespace: the next DEL finds its peer gone.
    assert!(wait_until(60, || link(&w.host.name, "h1p").is_none()), "h1p outlived its namespace");
    w.run(&env_for("DEL", &w.id, &netns_path, "eth0"), &w.config("1.0.0", "h1")).assert_ok();
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The same namespace, let go of while DEL waits for it: DEL says once
/// that it waits, sees the veth die with the namespace, and finishes. The
/// wait is what turns a dying namespace into a finished DEL instead of
/// the 11 above.
#[test]
fn del_waits_for_a_dying_namespace_and_finishes_when_it_dies() {
    let (w, holder, netns_path) = held_by_a_socket();
    let mut env = env_for("DEL", &w.id, &netns_path, "eth0");
    env.insert("HOSTDEV_SETTLE_MS", "30000".into());
    let mut cfg: serde_json::Value = serde_json::from_str(&w.config("1.0.0", "h1")).unwrap();
    cfg["logLevel"] = json!("info");
    let mut del = w.spawn(&env, &cfg.to_string());
    let mut lines = BufReader::new(del.stderr.take().unwrap()).lines().map_while(Result::ok);
    let waiting = lines.by_ref().find(|l| l.contains("not here yet: waiting"));
    assert!(waiting.is_some(), "DEL did not say it waits for the dying namespace");
    drop(holder);
    let rest: Vec<String> = lines.collect();
    let (_, out) = finish(del);
    out.assert_ok();
    assert!(!rest.iter().any(|l| l.contains("not here yet")), "DEL said it waits more than once: {rest:#?}");
    assert!(rest.iter().any(|l| l.contains("the interface is gone")), "{rest:#?}");
    assert!(records(&w).is_empty(), "{:#?}", records(&w));
}

/// The process ids in the named namespace.
fn ns_pids(ns: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "pids", ns]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().map(String::from).collect()
}
