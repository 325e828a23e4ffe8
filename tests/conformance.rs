//! Conformance with CNI 1.1 and the upstream plugins, as runtimes and IPAM
//! plugins really call hostdev: IPAM routes and releases, STATUS, chaining,
//! configs written for upstream host-device, versions and error codes, and
//! where the data directory lives.
mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::{Value, json};

fn conf(w: &World, version: &str, device: &str, ipam: Value) -> Value {
    json!({"cniVersion":version,"name":"n","type":"hostdev","device":device,
        "dataDir":w.data_dir(),"ipam":ipam})
}

/// An IPAM plugin `name` made of a shell `body` (runs with the config in
/// $conf and its reservation directory in $dir), on a CNI_PATH in front of
/// Debian's plugins. Returns that CNI_PATH.
fn fake_ipam(w: &World, name: &str, body: &str) -> String {
    let bin = w.tmp.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let dir = w.tmp.join("res");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "#!/bin/sh\nconf=$(cat)\ndir={}\n[ \"$CNI_COMMAND\" = VERSION ] && {{ echo '{{\"cniVersion\":\"1.1.0\",\"supportedVersions\":[\"1.0.0\",\"1.1.0\"]}}'; exit 0; }}\n{body}\n",
        dir.display()
    );
    let path = bin.join(name);
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:/usr/lib/cni", bin.display())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn gc_env(w: &World) -> BTreeMap<&'static str, String> {
    let mut env = w.env("GC", "");
    for k in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        env.remove(k);
    }
    env
}

// ---------------------------------------------------------------- item 1

/// A route without `gw` goes via the gateway of its address family, as
/// upstream's ConfigureIface does, and the result says so.
#[test]
fn ipam_route_without_gw_uses_the_address_gateway() {
    let w = World::new();
    w.host_veth("h1", true);
    let ipam = json!({"type":"static",
        "addresses":[{"address":"192.0.2.10/24","gateway":"192.0.2.1"},
                     {"address":"2001:db8:9::10/64","gateway":"2001:db8:9::1"}],
        "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"},{"dst":"198.51.100.0/24","gw":"192.0.2.254"}]});
    let out = w.run(&w.env("ADD", "eth0"), &conf(&w, "1.1.0", "h1", ipam).to_string());
    out.assert_ok();
    let v4 = ip(&w.ctr.name, &["-4", "route", "show", "default"]);
    assert!(v4.contains("via 192.0.2.1 dev eth0"), "IPv4 default route is on-link: {v4}");
    let v6 = ip(&w.ctr.name, &["-6", "route", "show", "default"]);
    assert!(v6.contains("via 2001:db8:9::1 dev eth0"), "IPv6 default route is on-link: {v6}");
    let other = ip(&w.ctr.name, &["route", "show", "198.51.100.0/24"]);
    assert!(other.contains("via 192.0.2.254"), "explicit gw changed: {other}");
    let routes = out.json["routes"].as_array().expect("routes");
    let gw_of = |dst: &str| routes.iter().find(|r| r["dst"] == dst).map(|r| r["gw"].clone());
    assert_eq!(gw_of("0.0.0.0/0"), Some(json!("192.0.2.1")), "{out:#?}");
    assert_eq!(gw_of("::/0"), Some(json!("2001:db8:9::1")), "{out:#?}");
    assert_eq!(gw_of("198.51.100.0/24"), Some(json!("192.0.2.254")), "{out:#?}");
}

// ---------------------------------------------------------------- item 2

/// host-local files under its dataDir that hold container `id`.
fn host_local_holds(dir: &Path, id: &str) -> bool {
    files_in(dir)
        .iter()
        .any(|f| f.starts_with("10.55.0.") && std::fs::read_to_string(dir.join(f)).is_ok_and(|c| c.starts_with(id)))
}

/// Debian's host-local (1.1.1) has no GC: GC releases every stale
/// attachment's allocation with IPAM DEL, with that attachment's id.
#[test]
fn gc_releases_stale_allocations_of_host_local() {
    let w = World::new();
    w.host_veth("h1", true);
    w.host_veth("h2", true);
    let hl = w.tmp.join("hl");
    let ipam = json!({"type":"host-local","dataDir":hl,"ranges":[[{"subnet":"10.55.0.0/24"}]]});
    let ctr_b = Netns::new(format!("{}-ctrb", w.id));
    let id_b = format!("{}-b", w.id);
    w.run(&w.env("ADD", "eth0"), &conf(&w, "1.0.0", "h1", ipam.clone()).to_string()).assert_ok();
    let mut env_b = w.env("ADD", "net1");
    env_b.insert("CNI_CONTAINERID", id_b.clone());
    env_b.insert("CNI_NETNS", ctr_b.path());
    w.run(&env_b, &conf(&w, "1.0.0", "h2", ipam.clone()).to_string()).assert_ok();
    let dir = hl.join("n");
    assert!(host_local_holds(&dir, &w.id) && host_local_holds(&dir, &id_b), "{:?}", files_in(&dir));

    let mut gc = conf(&w, "1.1.0", "h1", ipam);
    gc.as_object_mut().unwrap().remove("device");
    gc["cni.dev/valid-attachments"] = json!([{"containerID": w.id, "ifname": "eth0"}]);
    w.run(&gc_env(&w), &gc.to_string()).assert_ok();
    assert!(!host_local_holds(&dir, &id_b), "B's reservation stayed: {:?}", files_in(&dir));
    assert!(host_local_holds(&dir, &w.id), "A's reservation was released: {:?}", files_in(&dir));
    assert!(link(&w.host.name, "h2").is_some(), "h2 not home");
}

/// An attachment GC skips because its ADD is still running keeps its IPAM
/// allocation: GC releases only what it collects.
#[test]
fn gc_does_not_release_an_attachment_mid_add() {
    let w = World::new();
    w.host_veth("h1", true);
    let body = r#"case $CNI_COMMAND in
ADD) : >"$dir/started"; i=0; while [ ! -e "$dir/release" ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done; echo '{"cniVersion":"1.1.0","ips":[{"address":"192.0.2.77/24"}]}';;
DEL) echo "$CNI_CONTAINERID $CNI_IFNAME" >>"$dir/dels";;
esac"#;
    let path = fake_ipam(&w, "slow", body);
    let c = conf(&w, "1.1.0", "h1", json!({"type":"slow"}));
    let mut add_env = w.env("ADD", "eth0");
    add_env.insert("CNI_PATH", path.clone());
    let mut gc = c.clone();
    gc.as_object_mut().unwrap().remove("device");
    gc["cni.dev/valid-attachments"] = json!([]);
    let mut env = gc_env(&w);
    env.insert("CNI_PATH", path);
    let (add, gc_out) = std::thread::scope(|s| {
        let add = s.spawn(|| w.run(&add_env, &c.to_string()));
        // The IPAM holds ADD until released: GC runs against it mid-ADD
        // whatever the machine's load.
        assert!(wait_until(60, || w.tmp.join("res/started").exists()), "ADD never reached the IPAM");
        let gc_out = w.run(&env, &gc.to_string());
        std::fs::write(w.tmp.join("res/release"), "").unwrap();
        (add.join().unwrap(), gc_out)
    });
    add.assert_ok();
    gc_out.assert_ok();
    let dels = std::fs::read_to_string(w.tmp.join("res/dels")).unwrap_or_default();
    assert!(!dels.contains(&w.id), "GC released the allocation of an ADD in progress: {dels:?}");
    assert!(link(&w.ctr.name, "eth0").is_some(), "GC took the interface of an ADD in progress");
}

// ---------------------------------------------------------------- item 3

/// An IPAM plugin that reserves, then fails (or prints junk): hostdev
/// calls its DEL, so nothing stays allocated.
#[test]
fn failed_ipam_add_is_released_with_ipam_del() {
    for (how, fail) in [
        ("error", r#"echo '{"cniVersion":"1.0.0","code":11,"msg":"pool exhausted"}'; exit 1"#),
        ("junk", "echo 'this is not a result'; exit 0"),
        ("no ips", r#"echo '{"cniVersion":"1.0.0","ips":[{"address":"nonsense"}]}'; exit 0"#),
    ] {
        let w = World::new();
        w.host_veth("h1", true);
        let body = format!(
            "case $CNI_COMMAND in ADD) touch \"$dir/$CNI_CONTAINERID-$CNI_IFNAME\"; {fail};; DEL) rm -f \"$dir/$CNI_CONTAINERID-$CNI_IFNAME\";; esac"
        );
        let path = fake_ipam(&w, "leaky", &body);
        let mut env = w.env("ADD", "eth0");
        env.insert("CNI_PATH", path);
        let out = w.run(&env, &conf(&w, "1.0.0", "h1", json!({"type":"leaky"})).to_string());
        assert_ne!(out.code, 0, "{how}: {out:#?}");
        assert!(out.json["code"].is_u64(), "{how}: {out:#?}");
        assert_eq!(files_in(&w.tmp.join("res")), Vec::<String>::new(), "{how}: the allocation stayed");
        assert!(link(&w.host.name, "h1").is_some(), "{how}: h1 not home");
    }
}

// ---------------------------------------------------------------- items 4, 5

fn status_env(w: &World, path: Option<String>) -> BTreeMap<&'static str, String> {
    let mut env = w.env("STATUS", "");
    for k in ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"] {
        env.remove(k);
    }
    if let Some(p) = path {
        env.insert("CNI_PATH", p);
    }
    env
}

/// libcni's STATUS sends no runtimeConfig: a network whose device comes
/// only from runtimeConfig.deviceID is ready when dataDir and IPAM are.
#[test]
fn status_without_static_selector_succeeds() {
    let w = World::new();
    let c = json!({"cniVersion":"1.1.0","name":"n","type":"hostdev","dataDir":w.data_dir(),
        "capabilities":{"deviceID":true},"ipam":{"type":"static","addresses":[{"address":"192.0.2.10/24"}]}});
    w.run(&status_env(&w, None), &c.to_string()).assert_ok();
    let c = json!({"cniVersion":"1.1.0","name":"n","type":"hostdev","dataDir":w.data_dir(),
        "ipam":{"type":"nonexistent"}});
    w.run(&status_env(&w, None), &c.to_string()).assert_err(50);
}

/// IPAM's STATUS error keeps its code and details.
#[test]
fn status_passes_the_ipam_error_through() {
    let w = World::new();
    w.host_veth("h1", true);
    let path = fake_ipam(
        &w,
        "limited",
        r#"echo '{"cniVersion":"1.1.0","code":51,"msg":"pool nearly empty","details":"2 left"}'; exit 1"#,
    );
    let out = w.run(&status_env(&w, Some(path)), &conf(&w, "1.1.0", "h1", json!({"type":"limited"})).to_string());
    out.assert_err(51);
    assert!(out.json["msg"].as_str().unwrap().contains("pool nearly empty"), "{out:#?}");
    assert_eq!(out.json["details"], "2 left", "{out:#?}");
}

/// An unreadable record does not stop ADD: STATUS succeeds and the log
/// names the file.
#[test]
fn status_with_an_unreadable_record_is_ready_and_logs_it() {
    let w = World::new();
    w.host_veth("h1", true);
    std::fs::create_dir_all(w.data_dir()).unwrap();
    std::fs::set_permissions(w.data_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(Path::new(&w.data_dir()).join("n+junk+eth0.json"), b"{not json").unwrap();
    let c = json!({"cniVersion":"1.1.0","name":"n","type":"hostdev","device":"h1","dataDir":w.data_dir()});
    let out = w.run(&status_env(&w, None), &c.to_string());
    out.assert_ok();
    assert!(out.stderr.contains("n+junk+eth0.json"), "the log should name the record: {out:#?}");
}

// ---------------------------------------------------------------- item 6

/// prevResult fields hostdev does not model (1.1's socketPath, vendor
/// keys) are passed on; what the output version cannot express is not.
#[test]
fn chained_add_keeps_unknown_prev_result_fields() {
    let w = World::new();
    w.host_veth("h1", true);
    let mut c = conf(&w, "1.1.0", "h1", Value::Null);
    c.as_object_mut().unwrap().remove("ipam");
    c["prevResult"] = json!({"cniVersion":"1.1.0",
        "interfaces":[{"name":"vhu0","socketPath":"/run/vhost/vhu0.sock","x-vendor":{"q":2}}],
        "ips":[{"address":"10.9.9.9/24","interface":0,"x-ip":"k"}],
        "x-top":[1,2]});
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    let r = &out.json;
    assert_eq!(r["interfaces"][0]["socketPath"], "/run/vhost/vhu0.sock", "{out:#?}");
    assert_eq!(r["interfaces"][0]["x-vendor"], json!({"q":2}), "{out:#?}");
    assert_eq!(r["ips"][0]["x-ip"], "k", "{out:#?}");
    assert_eq!(r["x-top"], json!([1, 2]), "{out:#?}");
    assert_eq!(r["interfaces"][1]["name"], "eth0", "{out:#?}");
    w.run(&w.env("DEL", "eth0"), &c.to_string()).assert_ok();

    // 1.0.0 has no socketPath: it goes, the vendor key stays.
    let mut c = conf(&w, "1.0.0", "h1", Value::Null);
    c.as_object_mut().unwrap().remove("ipam");
    c["prevResult"] = json!({"cniVersion":"1.0.0",
        "interfaces":[{"name":"vhu0","socketPath":"/run/vhost/vhu0.sock","x-vendor":1}]});
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    assert!(out.json["interfaces"][0].get("socketPath").is_none(), "{out:#?}");
    assert_eq!(out.json["interfaces"][0]["x-vendor"], 1, "{out:#?}");
}

// ---------------------------------------------------------------- item 7

#[test]
fn config_dns_wins_over_ipam_dns() {
    let w = World::new();
    w.host_veth("h1", true);
    let mut c = conf(
        &w,
        "1.0.0",
        "h1",
        json!({"type":"static","addresses":[{"address":"192.0.2.10/24"}],
            "dns":{"nameservers":["10.9.9.9"],"search":["ipam.example"]}}),
    );
    c["dns"] = json!({"nameservers":["10.0.0.53"]});
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    assert_eq!(out.json["dns"], json!({"nameservers":["10.0.0.53"]}), "{out:#?}");
    // Without the config's dns, IPAM's is reported.
    w.run(&w.env("DEL", "eth0"), &c.to_string()).assert_ok();
    c.as_object_mut().unwrap().remove("dns");
    let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
    out.assert_ok();
    assert_eq!(out.json["dns"]["nameservers"], json!(["10.9.9.9"]), "{out:#?}");
}

// ---------------------------------------------------------------- item 8

#[test]
fn empty_ipam_type_means_no_ipam() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let c = conf(&w, "1.0.0", "h1", json!({"type":""})).to_string();
    let out = w.run(&w.env("ADD", "eth0"), &c);
    out.assert_ok();
    check_add_result(&out, "1.0.0", "eth0", &w.ctr.path(), &before);
    w.run(&w.env("DEL", "eth0"), &c).assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

// ---------------------------------------------------------------- item 9

/// Go's net.ParseMAC spellings, as upstream accepts them.
#[test]
fn hwaddr_accepts_go_mac_spellings() {
    let w = World::new();
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "h1p"]);
    ip(&w.host.name, &["link", "set", "h1", "address", "02:ab:cd:00:11:22"]);
    for mac in ["02-AB-CD-00-11-22", "02ab.cd00.1122", "02:AB:CD:00:11:22", "02AB.CD00.1122"] {
        let c =
            json!({"cniVersion":"1.0.0","name":"n","type":"hostdev","hwaddr":mac,"dataDir":w.data_dir()}).to_string();
        let out = w.run(&w.env("ADD", "eth0"), &c);
        out.assert_ok();
        assert!(link(&w.ctr.name, "eth0").is_some(), "{mac}: not moved");
        w.run(&w.env("DEL", "eth0"), &c).assert_ok();
        assert!(link(&w.host.name, "h1").is_some(), "{mac}: not home");
    }
    let c =
        json!({"cniVersion":"1.0.0","name":"n","type":"hostdev","hwaddr":"02-ab:cd-00-11-22","dataDir":w.data_dir()});
    w.run(&w.env("ADD", "eth0"), &c.to_string()).assert_err(7);
}

// ---------------------------------------------------------------- item 10

/// A macvlan in passthru mode carries its lower device's MAC: `hwaddr`
/// (alone or with `device`) selects the real device, not the stacked one.
#[test]
fn hwaddr_shared_with_stacked_devices_selects_the_lower_one() {
    let w = World::new();
    ip(&w.host.name, &["link", "add", "h1", "type", "veth", "peer", "name", "h1p"]);
    ip(&w.host.name, &["link", "add", "link", "h1", "name", "mv1", "type", "macvlan", "mode", "passthru"]);
    let mac = link(&w.host.name, "h1").unwrap().mac;
    assert_eq!(link(&w.host.name, "mv1").unwrap().mac, mac, "the macvlan should share h1's MAC");
    for sel in [json!({"hwaddr": mac}), json!({"device": "h1", "hwaddr": mac})] {
        // Moving a lower device strands its macvlan: allowed explicitly here.
        let mut c = json!({"cniVersion":"1.0.0","name":"n","type":"hostdev","dataDir":w.data_dir(),
            "allowUpperDevices": true});
        for (k, v) in sel.as_object().unwrap() {
            c[k] = v.clone();
        }
        let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
        out.assert_ok();
        assert!(link(&w.host.name, "h1").is_none(), "{sel}: h1 not moved: {out:#?}");
        assert!(link(&w.host.name, "mv1").is_some(), "{sel}: the macvlan moved");
        w.run(&w.env("DEL", "eth0"), &c.to_string()).assert_ok();
        assert!(link(&w.host.name, "h1").is_some(), "{sel}: h1 not home");
    }
}

/// An empty selector key is unset, as upstream reads it (templates leave
/// `"pciBusID": ""` behind): the other selector decides.
#[test]
fn empty_selector_next_to_a_real_one_is_unset() {
    let w = World::new();
    w.host_veth("h1", true);
    let c = json!({"cniVersion":"1.0.0","name":"n","type":"hostdev","device":"h1","pciBusID":"","hwaddr":"",
        "kernelpath":"","runtimeConfig":{"deviceID":""},"dataDir":w.data_dir()})
    .to_string();
    w.run(&w.env("ADD", "eth0"), &c).assert_ok();
    w.run(&w.env("DEL", "eth0"), &c).assert_ok();
    assert!(link(&w.host.name, "h1").is_some(), "h1 not home");
}

/// Keys match as Go's encoding/json matches them for upstream (any case):
/// `"Device"` and `"dataDIR"` work, with a warning in the log naming the
/// spelling; a typo (`"devcie"`) is error 7 that says "did you mean".
#[test]
fn keys_in_any_case_work_and_typos_are_named() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let c = json!({"cniVersion":"1.0.0","name":"n","type":"hostdev","Device":"h1","dataDIR":w.data_dir()}).to_string();
    let out = w.run(&w.env("ADD", "eth0"), &c);
    out.assert_ok();
    for said in [r#"config key "Device" is read as "device""#, r#"config key "dataDIR" is read as "dataDir""#] {
        // The log quotes messages: \" is a quote there.
        assert!(out.stderr.replace("\\\"", "\"").contains(said), "no {said:?} in the log: {}", out.stderr);
    }
    assert!(!records(&w).is_empty(), "the record is in dataDIR");
    w.run(&w.env("DEL", "eth0"), &c).assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));

    let typo = json!({"cniVersion":"1.0.0","name":"n","type":"hostdev","devcie":"h1","dataDir":w.data_dir()});
    let out = w.run(&w.env("ADD", "eth0"), &typo.to_string());
    out.assert_err(7);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(msg.contains(r#"config key "devcie" is unknown and ignored: did you mean "device"?"#), "{msg}");
}

// ---------------------------------------------------------------- item 11

/// A config without cniVersion, or with an empty one (libcni passes ""),
/// is 0.1.0, as Go's skel reads it.
#[test]
fn missing_or_empty_cni_version_is_0_1_0() {
    for version in [None, Some("")] {
        let w = World::new();
        let before = w.host_veth("h1", true);
        let mut c = json!({"name":"n","type":"hostdev","device":"h1","dataDir":w.data_dir()});
        if let Some(v) = version {
            c["cniVersion"] = json!(v);
        }
        let out = w.run(&w.env("ADD", "eth0"), &c.to_string());
        out.assert_ok();
        assert_eq!(out.json["cniVersion"], "0.1.0", "{version:?}: {out:#?}");
        assert!(out.json["ip4"]["ip"].is_string(), "{version:?}: {out:#?}");
        w.run(&w.env("DEL", "eth0"), &c.to_string()).assert_ok();
        assert_eq!(link(&w.host.name, "h1"), Some(before), "{version:?}");
        // An error speaks that version too.
        let out = w.run(&w.env("CHECK", "eth0"), &c.to_string());
        out.assert_err(1);
        assert_eq!(out.json["cniVersion"], "0.1.0", "{out:#?}");
    }
}

// ---------------------------------------------------------------- item 12

/// An error found in the environment, before the config is used, speaks
/// the config's version.
#[test]
fn environment_errors_speak_the_config_version() {
    let w = World::new();
    let mut env = w.env("ADD", "eth0");
    env.remove("CNI_IFNAME");
    let out = w.run(&env, &w.config("1.0.0", "h1"));
    out.assert_err(4);
    assert_eq!(out.json["cniVersion"], "1.0.0", "{out:#?}");
    env.insert("CNI_COMMAND", "FROB".into());
    let out = w.run(&env, &w.config("0.4.0", "h1"));
    out.assert_err(4);
    assert_eq!(out.json["cniVersion"], "0.4.0", "{out:#?}");
}

// ---------------------------------------------------------------- item 14

/// A physical device whose record says it is in a namespace that died is
/// on its way back: a new ADD of it is told to try again later (11).
#[test]
fn add_of_a_device_on_its_way_back_is_code_11() {
    let w = World::new();
    w.host_veth("h1", true);
    w.attach("h1", "eth0");
    // Make the record say "physical, in a namespace that is gone", as the
    // kernel leaves it while it returns a NIC from a dying namespace.
    let rec_path = std::fs::read_dir(w.data_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("record");
    let mut rec: Value = serde_json::from_slice(&std::fs::read(&rec_path).unwrap()).unwrap();
    rec["host"].as_object_mut().unwrap().remove("kind");
    rec["host"]["parent"] = json!({"bus": "pci", "device": "0000:00:09.0"});
    rec["anchor"] = json!({"by": "parent"});
    rec["netns"] = json!(w.tmp.join("gone-netns"));
    std::fs::write(&rec_path, serde_json::to_vec(&rec).unwrap()).unwrap();
    let ctr_b = Netns::new(format!("{}-ctrb", w.id));
    let mut env = w.env("ADD", "eth0");
    env.insert("CNI_CONTAINERID", format!("{}-b", w.id));
    env.insert("CNI_NETNS", ctr_b.path());
    let out = w.run(&env, &w.config("1.0.0", "h1"));
    out.assert_err(11);
    assert!(out.json["msg"].as_str().unwrap().contains("h1"), "{out:#?}");
}

// ---------------------------------------------------------------- item 15

/// ADD in a mount namespace whose dataDir is not the host's (a tmpfs only
/// the plugin sees, as inside a Multus-thick container without hostPath)
/// warns in the log; with the host's directory it does not. A private PID
/// namespace gives the plugin a PID 1 in the "host" mount namespace, as a
/// node's init is.
#[test]
fn data_dir_not_the_hosts_is_warned_about() {
    let w = World::new();
    w.host_veth("h1", true);
    let data = w.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let run_in = |private: bool| {
        let tmpfs = if private { format!("mount -t tmpfs -o mode=0700 hdt {data} && ") } else { String::new() };
        let container = format!("mount -t proc proc /proc && {tmpfs}exec {BIN}");
        // `exit $?`: PID 1 must stay in the outer mount namespace, not exec.
        let init = format!("unshare -m --propagation private sh -c '{container}'; exit $?");
        let mut child = Command::new("ip")
            .args(["netns", "exec", &w.host.name, "unshare", "-p", "-f", "sh", "-c", &init])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(w.env("ADD", "eth0"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(w.config("1.0.0", "h1").as_bytes()).unwrap();
        Out::from_output(&child.wait_with_output().unwrap())
    };
    let out = run_in(false);
    out.assert_ok();
    assert!(!out.stderr.contains("dataDir"), "warned about the host's own dataDir: {out:#?}");
    w.del("h1", "eth0").assert_ok();
    let out = run_in(true);
    out.assert_ok();
    assert!(out.stderr.contains("dataDir") && out.stderr.contains(&data), "no warning: {out:#?}");
    assert!(out.json.is_object(), "stdout polluted: {out:#?}");
}

/// IPAM runs as the plugin's child: it inherits the standard streams and
/// nothing else of the plugin's (no namespace, netlink socket, dataDir or
/// lock), which a plugin it execs could otherwise keep or act on.
#[test]
fn ipam_inherits_no_descriptor_of_the_plugin() {
    let w = World::new();
    w.host_veth("h1", true);
    let body = r#"ls -l /proc/$$/fd >"$dir/fds.$CNI_COMMAND"
[ "$CNI_COMMAND" = ADD ] && echo '{"cniVersion":"1.1.0","ips":[{"address":"192.0.2.78/24"}]}'
exit 0"#;
    let path = fake_ipam(&w, "fds", body);
    let c = conf(&w, "1.1.0", "h1", json!({"type":"fds"}));
    for command in ["ADD", "DEL"] {
        let mut env = w.env(command, "eth0");
        env.insert("CNI_PATH", path.clone());
        w.run(&env, &c.to_string()).assert_ok();
        let fds = std::fs::read_to_string(w.tmp.join(format!("res/fds.{command}"))).unwrap();
        let data = w.data_dir();
        let leaked: Vec<&str> = fds
            .lines()
            .filter(|l| l.contains("net:[") || l.contains("socket:[") || l.contains(data.as_str()))
            .collect();
        assert!(leaked.is_empty(), "IPAM {command} inherited the plugin's descriptors: {leaked:?}\n{fds}");
    }
}

/// GC releases a stale attachment's allocation with IPAM DEL as that
/// attachment's DEL would: its container id and interface, and no
/// namespace (it may be gone), even when the runtime set CNI_NETNS for GC.
#[test]
fn gc_releases_with_the_attachments_own_identity_and_no_namespace() {
    let w = World::new();
    w.host_veth("h1", true);
    let body = r#"case $CNI_COMMAND in
ADD) echo '{"cniVersion":"1.1.0","ips":[{"address":"192.0.2.77/24"}]}';;
*) echo "$CNI_COMMAND id=$CNI_CONTAINERID if=$CNI_IFNAME netns=$CNI_NETNS" >>"$dir/calls";;
esac"#;
    let path = fake_ipam(&w, "rec", body);
    let c = conf(&w, "1.1.0", "h1", json!({"type":"rec"}));
    let mut add_env = w.env("ADD", "eth0");
    add_env.insert("CNI_PATH", path.clone());
    w.run(&add_env, &c.to_string()).assert_ok();

    let mut gc = c.clone();
    gc.as_object_mut().unwrap().remove("device");
    gc["cni.dev/valid-attachments"] = json!([]);
    let mut env = gc_env(&w);
    env.insert("CNI_PATH", path);
    env.insert("CNI_NETNS", w.ctr.path());
    w.run(&env, &gc.to_string()).assert_ok();
    let calls = std::fs::read_to_string(w.tmp.join("res/calls")).unwrap_or_default();
    let del = format!("DEL id={} if=eth0 netns=\n", w.id);
    assert!(calls.starts_with(&del), "IPAM calls: {calls:?}");
    assert!(link(&w.host.name, "h1").is_some(), "h1 not home");
}

// ------------------------------------------------- VERSION, STATUS (issue 24)

/// VERSION as a runtime probes it: only CNI_COMMAND, and `stdin`.
fn version_of(bin: &str, w: &World, stdin: &str) -> Out {
    let env = BTreeMap::from([("CNI_COMMAND", "VERSION".to_string())]);
    run_binary(bin, &w.host.name, &env, stdin)
}

/// SPEC.md, Version: "Plugins must output a JSON object with the following
/// keys upon a `VERSION` operation: `cniVersion`: The value of `cniVersion`
/// specified on input". Also a version newer than hostdev knows: the
/// runtime asks in order to learn which to speak. Upstream answers its own
/// 1.0.0 whatever it is asked.
#[test]
fn version_echoes_the_version_it_was_given() {
    let w = World::new();
    let supported: Vec<Value> = hostdev::cni::version::SUPPORTED.iter().map(|v| json!(v)).collect();
    for asked in ["1.2.0", "2.0.0", "1.1.0", "0.4.0", "0.1.0"] {
        let out = version_of(BIN, &w, &json!({"cniVersion": asked}).to_string());
        out.assert_ok();
        assert_eq!(out.json["cniVersion"], asked, "{out:#?}");
        assert_eq!(out.json["supportedVersions"], json!(supported), "{out:#?}");
    }
    // Nothing asked: the newest hostdev speaks.
    for stdin in ["{}", r#"{"cniVersion":""}"#, ""] {
        let out = version_of(BIN, &w, stdin);
        assert_eq!(out.json["cniVersion"], "1.1.0", "{stdin:?}: {out:#?}");
    }
    let up = version_of(UPSTREAM, &w, r#"{"cniVersion":"1.2.0"}"#);
    assert_eq!(up.json["cniVersion"], "1.0.0", "upstream: {up:#?}");
}

/// SPEC.md, Error codes: "`50`|The plugin is not available (i.e. cannot
/// service `ADD` requests)". A network whose only device is attached cannot
/// service another ADD, yet STATUS answers 0: containerd turns any STATUS
/// error into NetworkReady=false for the whole node, which would stop every
/// other pod from starting (README.md, "STATUS and an attached device").
#[test]
fn status_is_ready_while_its_only_device_is_attached() {
    let w = World::new();
    w.host_veth("h1", true);
    let c = json!({"cniVersion":"1.1.0","name":"n","type":"hostdev","device":"h1","dataDir":w.data_dir()});
    let mut add = c.clone();
    add["cniVersion"] = json!("1.0.0");
    w.run(&w.env("ADD", "eth0"), &add.to_string()).assert_ok();
    assert!(link(&w.host.name, "h1").is_none(), "h1 still on the host");
    w.run(&status_env(&w, None), &c.to_string()).assert_ok();
    // Though another ADD of it is refused, naming the attachment.
    let other = w.run(&env_for("ADD", "other-ctr", &w.ctr.path(), "net1"), &add.to_string());
    other.assert_err(102);
    assert!(other.json["msg"].as_str().unwrap_or("").contains(&w.id), "{other:#?}");
    // A device that is neither on the host nor attached is not ready.
    let mut gone = c.clone();
    gone["device"] = json!("h9");
    w.run(&status_env(&w, None), &gone.to_string()).assert_err(50);
}
