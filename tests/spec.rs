//! Spec-level tests: every CNI version's result shape with static IPAM,
//! CHECK, STATUS, GC, IPAM rollback, DEL without netns, chained ADD.
mod common;

use common::*;
use serde_json::{Value, json};

use hostdev::cni::version::SUPPORTED as ALL_VERSIONS;

fn static_ipam() -> Value {
    json!({"type":"static",
        "addresses":[{"address":"192.0.2.10/24","gateway":"192.0.2.1"}],
        "routes":[{"dst":"198.51.100.0/24","gw":"192.0.2.1"}]})
}

fn conf(w: &World, version: &str, device: &str, ipam: Value) -> Value {
    json!({"cniVersion":version,"name":"n","type":"hostdev","device":device,
        "dataDir":w.data_dir(),"ipam":ipam})
}

fn ctr_has_addr(w: &World, ifname: &str, addr: &str) -> bool {
    link(&w.ctr.name, ifname).is_some_and(|l| l.addrs.contains(addr))
}

fn ctr_has_route(w: &World, dst: &str) -> bool {
    ip(&w.ctr.name, &["route", "show"]).contains(dst)
}

fn assert_home(w: &World, dev: &str) {
    let l = link(&w.host.name, dev).unwrap_or_else(|| panic!("{dev} not home"));
    assert!(l.addrs.contains("10.1.2.3/24"), "{dev} lost its address: {l:?}");
}

#[test]
fn add_static_ipam_every_version() {
    for v in ALL_VERSIONS {
        let w = World::new();
        w.host_veth("h1", true);
        let c = conf(&w, v, "h1", static_ipam());
        let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
        out.assert_ok();
        let r = &out.json;
        assert_eq!(r["cniVersion"], v, "{out:#?}");
        match v {
            "0.1.0" | "0.2.0" => {
                assert!(r["ip4"]["ip"].is_string(), "{v}: {out:#?}");
                assert!(r.get("interfaces").is_none(), "{v}: {out:#?}");
                assert!(r.get("ips").is_none(), "{v}: {out:#?}");
            }
            _ => {
                let ips = r["ips"].as_array().unwrap_or_else(|| panic!("{v}: {out:#?}"));
                let ipc = ips
                    .iter()
                    .find(|i| i["address"] == "192.0.2.10/24")
                    .unwrap_or_else(|| panic!("{v} no 192.0.2.10: {out:#?}"));
                if v.starts_with("0.") {
                    assert_eq!(ipc["version"], "4", "{v}: {out:#?}");
                } else {
                    assert!(ipc.get("version").is_none(), "{v}: {out:#?}");
                }
                let i0 = &r["interfaces"][0];
                assert_eq!(i0["name"], "eth0", "{v}: {out:#?}");
                if v == "1.1.0" {
                    assert!(i0["mtu"].is_u64(), "{v}: {out:#?}");
                }
            }
        }
        assert!(ctr_has_addr(&w, "eth0", "192.0.2.10/24"), "{v}: address missing");
        assert!(ctr_has_route(&w, "198.51.100.0/24"), "{v}: route missing");
        w.run(&w.env("DEL", "eth0"), &c.to_string()).assert_ok();
        assert_home(&w, "h1");
    }
}

/// World with h1 attached (static IPAM, 1.0.0); returns the ADD result.
fn attached(w: &World) -> Value {
    w.host_veth("h1", true);
    let c = conf(w, "1.0.0", "h1", static_ipam());
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    out.json.clone()
}

fn check_conf(w: &World, prev: &Value, version: &str) -> String {
    let mut c = conf(w, version, "h1", static_ipam());
    c["prevResult"] = prev.clone();
    c.to_string()
}

#[test]
fn check_success() {
    let w = World::new();
    let prev = attached(&w);
    w.run(&w.env("CHECK", "eth0"), &check_conf(&w, &prev, "1.0.0")).assert_ok();
}

#[test]
fn check_address_removed() {
    let w = World::new();
    let prev = attached(&w);
    ip(&w.ctr.name, &["addr", "del", "192.0.2.10/24", "dev", "eth0"]);
    let out = w.run(&w.env("CHECK", "eth0"), &check_conf(&w, &prev, "1.0.0"));
    out.assert_err(108);
    assert!(out.json["msg"].as_str().unwrap().contains("192.0.2.10"), "{out:#?}");
}

#[test]
fn check_route_removed() {
    let w = World::new();
    let prev = attached(&w);
    ip(&w.ctr.name, &["route", "del", "198.51.100.0/24"]);
    w.run(&w.env("CHECK", "eth0"), &check_conf(&w, &prev, "1.0.0")).assert_err(108);
}

#[test]
fn check_interface_down() {
    let w = World::new();
    let prev = attached(&w);
    ip(&w.ctr.name, &["link", "set", "eth0", "down"]);
    w.run(&w.env("CHECK", "eth0"), &check_conf(&w, &prev, "1.0.0")).assert_err(108);
}

#[test]
fn check_mac_changed() {
    let w = World::new();
    let prev = attached(&w);
    ip(&w.ctr.name, &["link", "set", "eth0", "address", "02:11:22:33:44:55"]);
    w.run(&w.env("CHECK", "eth0"), &check_conf(&w, &prev, "1.0.0")).assert_err(108);
}

#[test]
fn check_without_prev_result() {
    let w = World::new();
    attached(&w);
    let c = conf(&w, "1.0.0", "h1", static_ipam()).to_string();
    w.run(&w.env("CHECK", "eth0"), &c).assert_err(7);
}

#[test]
fn check_old_version() {
    let w = World::new();
    let prev = attached(&w);
    w.run(&w.env("CHECK", "eth0"), &check_conf(&w, &prev, "0.3.1")).assert_err(1);
}

#[test]
fn status() {
    let w = World::new();
    w.host_veth("h1", true);
    let c = conf(&w, "1.1.0", "h1", static_ipam()).to_string();
    w.run(&w.env("STATUS", "eth0"), &c).assert_ok();
    let c = conf(&w, "1.1.0", "nope0", static_ipam()).to_string();
    w.run(&w.env("STATUS", "eth0"), &c).assert_err(50);
    let c = conf(&w, "1.1.0", "h1", json!({"type":"nonexistent"})).to_string();
    w.run(&w.env("STATUS", "eth0"), &c).assert_err(50);
}

#[test]
fn gc_collects_stale_attachment() {
    let w = World::new();
    w.host_veth("h1", true);
    w.host_veth("h2", true);
    let ctr_b = Netns::new(format!("{}-ctrb", w.id));
    let id_b = format!("{}-b", w.id);
    let ca = conf(&w, "1.1.0", "h1", static_ipam()).to_string();
    w.run(&w.env("ADD", "eth0"), &ca).assert_ok();
    let mut env_b = w.env("ADD", "eth0");
    env_b.insert("CNI_CONTAINERID", id_b.clone());
    env_b.insert("CNI_NETNS", ctr_b.path());
    let cb = conf(&w, "1.1.0", "h2", static_ipam()).to_string();
    w.run(&env_b, &cb).assert_ok();
    assert!(link(&ctr_b.name, "eth0").is_some());

    let mut gc = conf(&w, "1.1.0", "h1", static_ipam());
    gc.as_object_mut().unwrap().remove("device");
    gc["cni.dev/valid-attachments"] = json!([{"containerID": w.id, "ifname": "eth0"}]);
    let mut env = w.env("GC", "");
    env.remove("CNI_CONTAINERID");
    env.remove("CNI_NETNS");
    env.remove("CNI_IFNAME");
    w.run(&env, &gc.to_string()).assert_ok();
    assert_home(&w, "h2");
    assert!(link(&ctr_b.name, "eth0").is_none(), "B still has eth0");
    assert!(link(&w.ctr.name, "eth0").is_some(), "A lost eth0");
    assert!(link(&w.host.name, "h1").is_none(), "h1 came home");
}

fn files_under(dir: &std::path::Path) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(files_under(&p));
            } else {
                v.push(p.to_string_lossy().into_owned());
            }
        }
    }
    v
}

#[test]
fn ipam_failure_rolls_back() {
    let w = World::new();
    w.host_veth("h1", true);
    let c = conf(&w, "1.0.0", "h1", json!({"type":"static","addresses":[{"address":"not-an-ip"}]}));
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    assert_ne!(out.code, 0, "{out:#?}");
    // static's own error, passed through with its code and naming the plugin.
    assert!(out.json["msg"].as_str().unwrap_or("").contains("static"), "{out:#?}");
    assert_eq!(out.json["code"], 999, "static reports a bad address as 999: {out:#?}");
    assert_home(&w, "h1");
    assert!(link(&w.ctr.name, "eth0").is_none());
    let recs = files_under(std::path::Path::new(&w.data_dir()));
    assert!(recs.iter().all(|f| !f.ends_with(".json")) || recs.is_empty(), "records left: {recs:?}");
    let store_file = |f: &String| f.ends_with(".lock") || f.ends_with(STORE_FILES[1]);
    assert!(recs.iter().all(store_file), "records left: {recs:?}");
}

#[test]
fn del_without_netns_releases_host_local() {
    let w = World::new();
    w.host_veth("h1", true);
    let hl = w.tmp.join("hl");
    let c = conf(
        &w,
        "1.0.0",
        "h1",
        json!({"type":"host-local","dataDir":hl,
        "ranges":[[{"subnet":"10.55.0.0/24"}]]}),
    );
    w.run(&w.env("ADD", "eth0"), &c.to_string()).assert_ok();
    let dir = hl.join("n");
    let reserved = |d: &std::path::Path| {
        files_under(d)
            .into_iter()
            .any(|f| std::path::Path::new(&f).file_name().unwrap().to_string_lossy().starts_with("10.55.0."))
    };
    assert!(reserved(&dir), "no reservation: {:?}", files_under(&dir));
    let mut env = w.env("DEL", "eth0");
    env.insert("CNI_NETNS", String::new());
    w.run(&env, &c.to_string()).assert_ok();
    assert!(!reserved(&dir), "reservation left: {:?}", files_under(&dir));
}

#[test]
fn chained_add_keeps_prev_result() {
    let w = World::new();
    w.host_veth("h1", true);
    let mut c = conf(&w, "1.0.0", "h1", static_ipam());
    c["prevResult"] = json!({"cniVersion":"1.0.0","interfaces":[{"name":"other0"}],
        "ips":[{"address":"10.9.9.9/24","interface":0}]});
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    let r = &out.json;
    assert_eq!(r["interfaces"][0]["name"], "other0", "{out:#?}");
    assert_eq!(r["interfaces"][1]["name"], "eth0", "{out:#?}");
    let ips = r["ips"].as_array().expect("ips");
    assert!(ips.iter().any(|i| i["address"] == "10.9.9.9/24" && i["interface"] == 0), "{out:#?}");
    assert!(ips.iter().any(|i| i["address"] == "192.0.2.10/24" && i["interface"] == 1), "{out:#?}");
    assert!(ips.iter().filter(|i| i["address"] != "10.9.9.9/24").all(|i| i["interface"] == 1), "{out:#?}");
}

/// A CNI_PATH holding tests/fixtures/reserving-ipam as IPAM type
/// "reserving" (a 1.1 IPAM with GC and STATUS), plus Debian's plugins.
fn reserving_world(w: &World) -> (String, Value) {
    let bin = w.tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reserving-ipam");
    std::fs::copy(fixture, bin.join("reserving")).unwrap();
    let path = format!("{}:/usr/lib/cni", bin.display());
    let ipam =
        json!({"type": "reserving", "dataDir": w.tmp.join("res").display().to_string(), "address": "192.0.2.20/24"});
    (path, ipam)
}

fn reservations(w: &World) -> Vec<String> {
    let mut v: Vec<String> =
        files_under(&w.tmp.join("res")).into_iter().map(|f| f.rsplit('/').next().unwrap().to_string()).collect();
    v.sort();
    v
}

/// GC is forwarded to IPAM with the valid attachments: the stale one's
/// reservation disappears, the valid one's stays.
#[test]
fn gc_is_forwarded_to_ipam() {
    let w = World::new();
    w.host_veth("h1", true);
    w.host_veth("h2", true);
    let (path, ipam) = reserving_world(&w);
    let ctr_b = Netns::new(format!("{}-ctrb", w.id));
    let id_b = format!("{}-b", w.id);
    let mut env_a = w.env("ADD", "eth0");
    env_a.insert("CNI_PATH", path.clone());
    let out = w.run(&env_a, &conf(&w, "1.1.0", "h1", ipam.clone()).to_string());
    out.assert_ok();
    assert!(out.json["ips"].as_array().unwrap().iter().any(|i| i["address"] == "192.0.2.20/24"), "{out:#?}");
    let mut env_b = env_a.clone();
    env_b.insert("CNI_CONTAINERID", id_b.clone());
    env_b.insert("CNI_NETNS", ctr_b.path());
    w.run(&env_b, &conf(&w, "1.1.0", "h2", ipam.clone()).to_string()).assert_ok();
    let mut both = vec![format!("{}-eth0", w.id), format!("{id_b}-eth0")];
    both.sort();
    assert_eq!(reservations(&w), both);

    let mut gc = conf(&w, "1.1.0", "h1", ipam);
    gc.as_object_mut().unwrap().remove("device");
    gc["cni.dev/valid-attachments"] = json!([{"containerID": w.id, "ifname": "eth0"}]);
    let mut env = w.env("GC", "");
    env.insert("CNI_PATH", path);
    for k in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        env.remove(k);
    }
    w.run(&env, &gc.to_string()).assert_ok();
    assert_eq!(reservations(&w), vec![format!("{}-eth0", w.id)], "B's reservation must be gone, A's kept");
    assert_home(&w, "h2");
    assert!(link(&w.ctr.name, "eth0").is_some(), "A lost eth0");
}

/// STATUS asks IPAM: not ready there is not ready here.
#[test]
fn status_is_forwarded_to_ipam() {
    let w = World::new();
    w.host_veth("h1", true);
    let (path, ipam) = reserving_world(&w);
    let c = conf(&w, "1.1.0", "h1", ipam).to_string();
    let mut env = w.env("STATUS", "eth0");
    env.insert("CNI_PATH", path);
    w.run(&env, &c).assert_ok();
    std::fs::create_dir_all(w.tmp.join("res")).unwrap();
    std::fs::write(w.tmp.join("res/not-ready"), b"").unwrap();
    let out = w.run(&env, &c);
    out.assert_err(50);
    assert!(out.json["msg"].as_str().unwrap_or("").contains("not-ready"), "{out:#?}");
}

// ------------------------------------------ CHECK against prevResult (issue 24)

/// h1's config without IPAM, chained onto `prev` unless it is null.
fn chained_conf(w: &World, version: &str, prev: &Value) -> String {
    let mut c = conf(w, version, "h1", Value::Null);
    if !prev.is_null() {
        c["prevResult"] = prev.clone();
    }
    c.to_string()
}

/// hostdev CHECK of eth0 with `prev` as prevResult (no IPAM).
fn check_with(w: &World, version: &str, prev: &Value) -> Out {
    w.run(&w.env("CHECK", "eth0"), &chained_conf(w, version, prev))
}

/// Upstream host-device's CHECK of the same attachment with the same
/// prevResult (it speaks at most 1.0.0).
fn upstream_check(w: &World, prev: &Value) -> Out {
    let mut c = conf(w, "1.0.0", "h1", Value::Null);
    c["type"] = json!("host-device");
    c["prevResult"] = prev.clone();
    run_binary(UPSTREAM, &w.host.name, &w.env("CHECK", "eth0"), &c.to_string())
}

/// ADD of h1 as eth0 chained onto `prev`; returns the result.
fn chained_add(w: &World, version: &str, prev: &Value) -> Value {
    let out = w.run(&w.env("ADD", "eth0"), &chained_conf(w, version, prev));
    out.assert_ok();
    out.json.clone()
}

/// SPEC.md, CHECK: "The plugin must consult the `prevResult` to determine
/// the expected interfaces and addresses." An earlier plugin's host-side
/// `eth0` (no sandbox) is not hostdev's: CHECK looks at the entry named
/// CNI_IFNAME whose sandbox is CNI_NETNS, and at the addresses pointing at
/// that entry.
#[test]
fn check_finds_its_interface_by_name_and_sandbox() {
    let w = World::new();
    w.host_veth("h1", true);
    let prev = json!({"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":"02:de:ad:00:00:01"}]});
    let result = chained_add(&w, "1.0.0", &prev);
    assert_eq!(result["interfaces"][1]["sandbox"], w.ctr.path(), "{result:#}");
    check_with(&w, "1.0.0", &result).assert_ok();
    // Its own addresses are the ones held to.
    ip(&w.ctr.name, &["addr", "del", "10.1.3.3/28", "dev", "eth0"]);
    let out = check_with(&w, "1.0.0", &result);
    out.assert_err(108);
    assert!(out.msg().contains("10.1.3.3/28"), "{out:#?}");
}

/// SPEC.md, Success: "Plugins provided a `prevResult` key as part of their
/// request configuration must output it as their result, with any possible
/// modifications made by that plugin included", and `interfaces` is "An
/// array of all interfaces created by the attachment": an entry that
/// already names CNI_IFNAME in CNI_NETNS is the one hostdev fills in, so
/// the result names the interface once, and hostdev's CHECK of its own
/// result passes.
#[test]
fn add_fills_in_the_prev_result_entry_of_its_interface() {
    let w = World::new();
    let h1 = w.host_veth("h1", true);
    let mut c = conf(&w, "1.0.0", "h1", static_ipam());
    c["prevResult"] = json!({"cniVersion":"1.0.0",
        "interfaces":[{"name":"other0"},{"name":"eth0","sandbox":w.ctr.path(),"x-vendor":1}],
        "ips":[{"address":"10.9.9.9/24","interface":0}]});
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    let r = &out.json;
    let ifs = r["interfaces"].as_array().expect("interfaces");
    assert_eq!(ifs.len(), 2, "eth0 listed twice: {out:#?}");
    assert_eq!((ifs[1]["name"].clone(), ifs[1]["mac"].clone()), (json!("eth0"), json!(h1.mac)), "{out:#?}");
    assert_eq!(ifs[1]["x-vendor"], 1, "{out:#?}");
    for ipc in r["ips"].as_array().expect("ips") {
        let want = if ipc["address"] == "10.9.9.9/24" { 0 } else { 1 };
        assert_eq!(ipc["interface"], want, "{ipc}: {out:#?}");
    }
    c["prevResult"] = r.clone();
    w.run(&w.env("CHECK", "eth0"), &c.to_string()).assert_ok();
}

/// SPEC.md, Success: `ips` are "IPs assigned by this attachment. Plugins may
/// include IPs assigned external to the container."; CHECK: "The plugin
/// should return an error if a resource included in the CNI Result type
/// (interface, address or route) was created by the plugin, and is listed in
/// `prevResult`, but is missing or in an invalid state." hostdev gives
/// every address it reports an `interface` index, so one without is not
/// its own to demand. Upstream demands every address on CNI_IFNAME.
#[test]
fn check_leaves_addresses_without_an_interface_alone() {
    let w = World::new();
    w.host_veth("h1", true);
    let prev = json!({"cniVersion":"1.0.0","ips":[{"address":"203.0.113.7/32"}]});
    let result = chained_add(&w, "1.0.0", &prev);
    assert!(result["ips"][0].get("interface").is_none(), "{result:#}");
    check_with(&w, "1.0.0", &result).assert_ok();
    let up = upstream_check(&w, &result);
    assert!(up.code != 0 && up.stdout.contains("203.0.113.7"), "upstream: {up:#?}");
}

/// SPEC.md, CHECK: "The plugin must consult the `prevResult` to determine
/// the expected interfaces and addresses." A prevResult that does not list
/// CNI_IFNAME in CNI_NETNS is not this attachment's: CHECK fails (7, naming
/// both), as upstream's does, instead of checking whatever is there.
#[test]
fn check_fails_when_prev_result_does_not_list_its_interface() {
    let w = World::new();
    w.host_veth("h1", true);
    let result = chained_add(&w, "1.0.0", &Value::Null);
    upstream_check(&w, &result).assert_ok();
    let mut cases = Vec::new();
    for iface in [
        json!({"name":"other0","sandbox":w.ctr.path()}),
        json!({"name":"eth0","sandbox":"/run/netns/elsewhere"}),
        json!({"name":"eth0"}),
    ] {
        let mut prev = result.clone();
        prev["interfaces"] = json!([iface]);
        cases.push(prev);
    }
    let mut none = result.clone();
    none.as_object_mut().unwrap().remove("interfaces");
    cases.push(none);
    for prev in cases {
        let out = check_with(&w, "1.0.0", &prev);
        out.assert_err(7);
        assert!(out.msg().contains("eth0") && out.msg().contains(&w.ctr.path()), "{prev}: {out:#?}");
        assert_ne!(upstream_check(&w, &prev).code, 0, "upstream passes {prev}");
    }
}

/// SPEC.md, Success (1.1.0): `mtu` is "The MTU of the interface (if
/// applicable)"; CHECK: "The plugin should return an error if a resource
/// ... was created by the plugin, and is listed in `prevResult`, but is
/// missing or in an invalid state." hostdev reports the MTU it left the
/// interface with, so CHECK holds it to that; a result without one (before
/// 1.1.0) holds it to nothing.
#[test]
fn check_holds_the_interface_to_its_reported_mtu() {
    let w = World::new();
    w.host_veth("h1", true);
    let result = chained_add(&w, "1.1.0", &Value::Null);
    assert_eq!(result["interfaces"][0]["mtu"], 1400, "{result:#}");
    check_with(&w, "1.1.0", &result).assert_ok();
    ip(&w.ctr.name, &["link", "set", "dev", "eth0", "mtu", "1280"]);
    let out = check_with(&w, "1.1.0", &result);
    out.assert_err(108);
    assert!(out.msg().contains("1280") && out.msg().contains("1400"), "{out:#?}");
    let mut older = result.clone();
    older["cniVersion"] = json!("1.0.0");
    older["interfaces"][0].as_object_mut().unwrap().remove("mtu");
    check_with(&w, "1.0.0", &older).assert_ok();
}

/// SPEC.md, CHECK: "The plugin must allow for a later chained plugin to
/// have modified networking resources, e.g. routes, on ADD", and it fails
/// only on what it set up. A route through a gateway none of hostdev's own
/// addresses reaches is another plugin's (or an external party's): its
/// absence is not hostdev's to report. One through a gateway on eth0's own
/// subnet is hostdev's (it reports IPAM's routes with their gateway).
#[test]
fn check_fails_only_on_routes_through_its_own_interface() {
    let w = World::new();
    w.host_veth("h1", true);
    let result = chained_add(&w, "1.0.0", &Value::Null);
    let mut theirs = result.clone();
    theirs["routes"] = json!([{"dst": "198.51.100.0/24", "gw": "203.0.113.1"}, {"dst": "198.51.101.0/24"}]);
    check_with(&w, "1.0.0", &theirs).assert_ok();
    let mut ours = result.clone();
    ours["routes"] = json!([{"dst": "10.99.0.0/16", "gw": "10.1.2.1"}]);
    let out = check_with(&w, "1.0.0", &ours);
    out.assert_err(108);
    assert!(out.msg().contains("10.99.0.0/16 via 10.1.2.1"), "{out:#?}");
}
