//! Shared helpers for the integration tests: a throw-away "world" (one
//! namespace playing the host, one playing the container, a private dataDir),
//! running the real plugin binary as a CNI runtime would, and snapshots of
//! links and their addresses.
//!
//! Every name is unique per test (process id + counter) because tests run in
//! parallel threads. Nothing is ever created in the root namespace.
#![allow(dead_code)]

pub mod fakesys;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_hostdev");
pub const VERSIONS: [&str; 5] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// Upstream's plugin, as Debian installs it (containernetworking-plugins
/// 1.1.1), for side-by-side comparisons.
pub const UPSTREAM: &str = "/usr/lib/cni/host-device";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs `ip -n NS ARGS...`, panics with stderr on failure, returns stdout.
pub fn ip(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").arg("-n").arg(ns).args(args).output().expect("run ip");
    assert!(out.status.success(), "ip -n {ns} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A named network namespace, deleted on drop (also when a test panics).
pub struct Netns {
    pub name: String,
    deleted: bool,
}

impl Netns {
    pub fn new(name: String) -> Netns {
        let st = Command::new("ip").args(["netns", "add", &name]).status().unwrap();
        assert!(st.success(), "ip netns add {name}");
        Netns { name, deleted: false }
    }

    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Deletes the namespace now (e.g. to test DEL after the container died).
    pub fn delete(&mut self) {
        if !self.deleted {
            self.deleted = true;
            let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.delete();
    }
}

/// What the plugin printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
}

impl Out {
    /// What a finished plugin process printed, and its exit code.
    pub fn from_output(out: &std::process::Output) -> Out {
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Out {
            code: out.status.code().unwrap_or(-1),
            json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            stdout,
        }
    }

    pub fn assert_ok(&self) -> &Out {
        assert_eq!(self.code, 0, "plugin failed: {self:#?}");
        self
    }

    /// Asserts a CNI error with this code, in the spec's JSON shape.
    pub fn assert_err(&self, code: u64) -> &Out {
        assert_ne!(self.code, 0, "plugin should fail with code {code}: {self:#?}");
        assert_eq!(self.json["code"].as_u64(), Some(code), "wrong error: {self:#?}");
        assert!(self.json["cniVersion"].is_string(), "no cniVersion: {self:#?}");
        let msg = self.json["msg"].as_str().unwrap_or("");
        assert!(!msg.is_empty(), "no msg: {self:#?}");
        self
    }
}

/// Runs the plugin inside namespace `ns` with exactly `env` (plus PATH).
pub fn run_plugin(ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
    finish(spawn(ns, env, stdin)).1
}

/// Starts the plugin in namespace `ns` as a runtime would, without waiting.
pub fn spawn(ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    spawn_within(60, ns, env, stdin)
}

/// `spawn`, killed (SIGTERM, exit status 124) after `secs` seconds.
pub fn spawn_within(secs: u32, ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    spawn_timeout(BIN, &[secs.to_string()], ns, env, stdin)
}

/// `spawn`, SIGKILLed after `secs` seconds: a crash at a random moment.
pub fn spawn_killed_after(secs: f64, ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    spawn_timeout(BIN, &["-s".into(), "KILL".into(), format!("{secs:.3}")], ns, env, stdin)
}

/// Runs another CNI plugin `bin` (upstream's host-device, say) in namespace
/// `ns` exactly as `run_plugin` runs hostdev.
pub fn run_binary(bin: &str, ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
    finish(spawn_timeout(bin, &["60".into()], ns, env, stdin)).1
}

/// Starts plugin `bin` under `timeout ARGS`.
fn spawn_timeout(bin: &str, args: &[String], ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    let mut cmd = Command::new("timeout");
    cmd.args(args).args(["ip", "netns", "exec", ns, bin]);
    spawn_command(cmd, env, stdin)
}

/// Starts `cmd` as a runtime starts a plugin: exactly `env` (plus PATH),
/// `stdin` written, stdout and stderr captured.
pub fn spawn_command(mut cmd: Command, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
    let mut child = cmd
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn plugin");
    // Configs are small: this never blocks. The plugin may die before
    // reading (a fail point): ignore EPIPE.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child
}

/// Waits for a plugin started by `spawn`; keeps the raw status, which
/// tells a SIGKILL (timeout re-raises its child's signal) from an exit.
pub fn finish(child: Child) -> (ExitStatus, Out) {
    let out = child.wait_with_output().expect("wait plugin");
    (out.status, Out::from_output(&out))
}

pub fn run(ns: &str, env: &BTreeMap<&str, String>, stdin: &str) -> (ExitStatus, Out) {
    finish(spawn(ns, env, stdin))
}

/// One test's private world: host and container namespaces and a temp dir.
/// Field order matters: the container namespace goes first on drop.
pub struct World {
    pub ctr: Netns,
    pub host: Netns,
    pub id: String,
    pub tmp: PathBuf,
}

impl World {
    pub fn new() -> World {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        World::with_id(format!("hdt-{}-{}", std::process::id(), n))
    }

    /// A world whose namespaces and temp dir are named after `id`.
    pub fn with_id(id: String) -> World {
        let tmp = std::env::temp_dir().join(&id);
        std::fs::create_dir_all(&tmp).unwrap();
        World { ctr: Netns::new(format!("{id}-ctr")), host: Netns::new(format!("{id}-host")), id, tmp }
    }

    pub fn data_dir(&self) -> String {
        self.tmp.join("data").to_string_lossy().into_owned()
    }

    pub fn config(&self, version: &str, device: &str) -> String {
        json!({
            "cniVersion": version,
            "name": "testnet",
            "type": "hostdev",
            "device": device,
            "dataDir": self.data_dir(),
        })
        .to_string()
    }

    /// The environment a runtime sets for this world's container.
    pub fn env(&self, command: &str, ifname: &str) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            ("CNI_COMMAND", command.to_string()),
            ("CNI_CONTAINERID", self.id.clone()),
            ("CNI_NETNS", self.ctr.path()),
            ("CNI_IFNAME", ifname.to_string()),
            ("CNI_PATH", "/usr/lib/cni".to_string()),
            ("CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=hdt".to_string()),
        ])
    }

    /// Runs the plugin in the host namespace.
    pub fn run(&self, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
        run_plugin(&self.host.name, env, stdin)
    }

    pub fn add(&self, device: &str, ifname: &str) -> Out {
        self.add_v("1.0.0", device, ifname)
    }

    pub fn add_v(&self, version: &str, device: &str, ifname: &str) -> Out {
        self.run(&self.env("ADD", ifname), &self.config(version, device))
    }

    /// ADD that must succeed and move `device` into the container as `ifname`.
    pub fn attach(&self, device: &str, ifname: &str) -> Out {
        let out = self.add(device, ifname);
        out.assert_ok();
        assert!(link(&self.ctr.name, ifname).is_some(), "{ifname} not in container: {out:#?}");
        assert!(link(&self.host.name, device).is_none(), "{device} still on the host");
        out
    }

    pub fn del(&self, device: &str, ifname: &str) -> Out {
        self.run(&self.env("DEL", ifname), &self.config("1.0.0", device))
    }

    /// A veth `name` (peer `<name>p`) in the host namespace with non-default
    /// MTU, alias, an altname, two IPv4 and one IPv6 global address, admin
    /// state `up`. Returns its snapshot.
    pub fn host_veth(&self, name: &str, up: bool) -> Link {
        let ns = &self.host.name;
        let peer = format!("{name}p");
        ip(ns, &["link", "add", name, "type", "veth", "peer", "name", &peer]);
        let alias = format!("hostdev test {name}");
        ip(ns, &["link", "set", "dev", name, "mtu", "1400", "alias", &alias]);
        ip(ns, &["link", "property", "add", "dev", name, "altname", &format!("{name}-alt")]);
        if up {
            // Addresses are added after the link is up: IPv6 must survive.
            ip(ns, &["link", "set", "dev", &peer, "up"]);
            ip(ns, &["link", "set", "dev", name, "up"]);
        }
        ip(ns, &["addr", "add", "10.1.2.3/24", "dev", name]);
        ip(ns, &["addr", "add", "10.1.3.3/28", "dev", name]);
        ip(ns, &["addr", "add", "2001:db8:1::3/64", "dev", name, "nodad"]);
        link(ns, name).expect("host veth")
    }

    /// A veth pair `name` / `<name>p`, both in the container namespace.
    pub fn ctr_veth(&self, name: &str) -> Link {
        let ns = &self.ctr.name;
        ip(ns, &["link", "add", name, "type", "veth", "peer", "name", &format!("{name}p")]);
        link(ns, name).expect("container veth")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.ctr.delete();
        self.host.delete();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

/// The parts of a link that ADD then DEL must preserve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub mac: String,
    pub mtu: u64,
    pub alias: String,
    pub altnames: Vec<String>,
    pub up: bool,
    /// Global-scope addresses, normalised "ip/prefix".
    pub addrs: BTreeSet<String>,
}

/// Normalises "ip/prefix" so IPv6 spellings compare equal.
pub fn norm_addr(s: &str) -> String {
    let (a, p) = s.split_once('/').unwrap_or((s, ""));
    let a: IpAddr = a.parse().unwrap_or_else(|_| panic!("bad address {s}"));
    format!("{a}/{p}")
}

/// All links of a namespace (`ip -j -d link show` + `ip -j addr show`).
pub fn links(ns: &str) -> Vec<Link> {
    let l: Value = serde_json::from_str(&ip(ns, &["-j", "-d", "link", "show"])).unwrap();
    let a: Value = serde_json::from_str(&ip(ns, &["-j", "addr", "show"])).unwrap();
    let a = a.as_array().unwrap();
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    l.as_array()
        .unwrap()
        .iter()
        .map(|x| {
            let addrs = a
                .iter()
                .filter(|y| y["ifindex"] == x["ifindex"])
                .flat_map(|y| y["addr_info"].as_array().cloned().unwrap_or_default())
                .filter(|i| i["scope"] == "global")
                .map(|i| norm_addr(&format!("{}/{}", s(&i["local"]), i["prefixlen"])))
                .collect();
            let flags = x["flags"].as_array().cloned().unwrap_or_default();
            let mut altnames: Vec<String> =
                x["altnames"].as_array().cloned().unwrap_or_default().iter().map(s).collect();
            altnames.sort();
            Link {
                name: s(&x["ifname"]),
                mac: s(&x["address"]),
                mtu: x["mtu"].as_u64().unwrap_or(0),
                alias: s(&x["ifalias"]),
                altnames,
                up: flags.iter().any(|f| f == "UP"),
                addrs,
            }
        })
        .collect()
}

/// The link whose real name (not altname) is `name`.
pub fn link(ns: &str, name: &str) -> Option<Link> {
    links(ns).into_iter().find(|l| l.name == name)
}

pub fn link_names(ns: &str) -> BTreeSet<String> {
    links(ns).into_iter().map(|l| l.name).collect()
}

/// Polls `f` for up to `secs` seconds.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks an ADD result against the host link it was made from.
pub fn check_add_result(out: &Out, version: &str, ifname: &str, netns: &str, host: &Link) {
    let r = &out.json;
    assert_eq!(r["cniVersion"], version, "result: {out:#?}");
    let ifs = r["interfaces"].as_array().expect("interfaces");
    assert_eq!(ifs.len(), 1, "result: {out:#?}");
    let i = &ifs[0];
    assert_eq!(i["name"], ifname, "result: {out:#?}");
    assert_eq!(i["mac"].as_str().map(str::to_lowercase).as_deref(), Some(host.mac.as_str()));
    assert_eq!(i["sandbox"], netns, "result: {out:#?}");
    if version == "1.1.0" {
        assert_eq!(i["mtu"].as_u64(), Some(host.mtu), "1.1.0 mtu: {out:#?}");
    } else {
        assert!(i.get("mtu").is_none(), "{version} has no mtu field: {out:#?}");
    }
    let ips = r["ips"].as_array().expect("ips");
    let mut got = BTreeSet::new();
    for ipc in ips {
        let addr = norm_addr(ipc["address"].as_str().expect("ips[].address"));
        assert_eq!(ipc["interface"], 0, "ips[].interface: {out:#?}");
        let v6 = addr.contains(':');
        if version.starts_with("0.") {
            assert_eq!(ipc["version"], if v6 { "6" } else { "4" }, "{version} ips[].version");
        } else {
            assert!(ipc.get("version").is_none(), "{version} ips has no version: {out:#?}");
        }
        if !addr.starts_with("fe80:") {
            got.insert(addr);
        }
    }
    assert_eq!(got, host.addrs, "result ips: {out:#?}");
}

/// The world's config in `version` for `device`, with `extra` keys merged in.
pub fn conf(w: &World, version: &str, device: &str, extra: Value) -> String {
    let mut c = json!({
        "cniVersion": version,
        "name": "testnet",
        "type": "hostdev",
        "device": device,
        "dataDir": w.data_dir(),
    });
    if let Value::Object(m) = extra {
        for (k, v) in m {
            c[k] = v;
        }
    }
    c.to_string()
}

/// A GC config that declares no attachment valid.
pub fn gc_conf(w: &World, device: &str) -> String {
    conf(w, "1.1.0", device, json!({"cni.dev/valid-attachments": []}))
}

/// An environment for container `id` in namespace path `netns`.
pub fn env_for(command: &str, id: &str, netns: &str, ifname: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("CNI_COMMAND", command.to_string()),
        ("CNI_CONTAINERID", id.to_string()),
        ("CNI_NETNS", netns.to_string()),
        ("CNI_IFNAME", ifname.to_string()),
        ("CNI_PATH", "/usr/lib/cni".to_string()),
    ])
}

/// The environment of a command about no attachment (GC, STATUS), as a
/// runtime sends it.
pub fn plain_env(command: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("CNI_COMMAND", command.to_string()), ("CNI_PATH", "/usr/lib/cni".to_string())])
}

/// GC as a runtime sends it: no attachment variables.
pub fn run_gc(w: &World, device: &str) -> Out {
    let (_, out) = run(&w.host.name, &plain_env("GC"), &gc_conf(w, device));
    out
}

/// The records in the world's dataDir: file name and parsed JSON.
pub fn records(w: &World) -> Vec<(String, Value)> {
    let Ok(dir) = std::fs::read_dir(w.data_dir()) else {
        return vec![];
    };
    let mut out: Vec<(String, Value)> = dir
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .map(|e| {
            let text = std::fs::read(e.path()).unwrap();
            let v =
                serde_json::from_slice(&text).unwrap_or_else(|err| panic!("record {:?} unreadable: {err}", e.path()));
            (e.file_name().to_string_lossy().into_owned(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The only record there is; asserts its file name follows the documented
/// pattern, and that it and the directory are private.
pub fn only_record(w: &World, container_id: &str, ifname: &str) -> Value {
    let recs = records(w);
    assert_eq!(recs.len(), 1, "expected exactly one record: {recs:#?}");
    let (name, rec) = recs.into_iter().next().unwrap();
    assert_eq!(name, format!("testnet+{container_id}+{ifname}.json"));
    let dir_mode = std::fs::metadata(w.data_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "dataDir mode {dir_mode:o}");
    let file_mode =
        std::fs::metadata(std::path::Path::new(&w.data_dir()).join(&name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600, "record mode {file_mode:o}");
    rec
}

pub fn ifindex(ns: &str, name: &str) -> u64 {
    let v: Value = serde_json::from_str(&ip(ns, &["-j", "link", "show", "dev", name])).unwrap();
    v[0]["ifindex"].as_u64().expect("ifindex")
}

pub fn assert_killed(st: &ExitStatus, out: &Out, point: &str) {
    assert_eq!(
        st.signal(),
        Some(9),
        "fail point {point}: the plugin should have been SIGKILLed: status {st:?}, {out:#?}"
    );
}

/// Every entry of the world's dataDir but the store lock.
pub fn data_entries(w: &World) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(w.data_dir()) else { return vec![] };
    let mut names: Vec<String> =
        dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n != ".lock").collect();
    names.sort();
    names
}

/// tests/fixtures/slow-ipam as one ADD's IPAM: it holds that ADD in IPAM
/// until `release`, so another command runs against the half-done ADD
/// whatever the machine's load. Released on drop, so a failed test does
/// not leave an ADD waiting.
pub struct HeldIpam {
    started: PathBuf,
    release: PathBuf,
}

impl HeldIpam {
    pub fn new(w: &World) -> HeldIpam {
        HeldIpam { started: w.tmp.join("ipam-started"), release: w.tmp.join("ipam-release") }
    }

    /// The config's `ipam` object.
    pub fn ipam(&self) -> Value {
        json!({"type": "slow-ipam", "started": self.started, "release": self.release})
    }

    /// `env` with tests/fixtures in front of Debian's plugins on CNI_PATH.
    pub fn env(mut env: BTreeMap<&'static str, String>) -> BTreeMap<&'static str, String> {
        env.insert("CNI_PATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures:/usr/lib/cni").to_string());
        env
    }

    /// Waits until an ADD is held in IPAM (that is, past its claim and move).
    pub fn wait_started(&self) {
        assert!(wait_until(60, || self.started.exists()), "no ADD reached the IPAM within 60 s");
    }

    pub fn release(&self) {
        std::fs::write(&self.release, "").unwrap();
    }
}

impl Drop for HeldIpam {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.release, "");
    }
}

/// Waits (60 s at most) until the log file at `path` has a line containing
/// `needle`: the plugin said it reached a point.
pub fn wait_for_log(path: &std::path::Path, needle: &str) {
    let said = || std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle));
    assert!(wait_until(60, said), "{} never said {needle:?}", path.display());
}

/// tests/fixtures/socket-holder.py holding the namespace at `path` through
/// a socket alone (killed on drop): once its path is gone, the namespace
/// lives on out of anyone's reach.
pub struct SocketHolder(Child);

impl SocketHolder {
    pub fn new(path: &str) -> SocketHolder {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/socket-holder.py");
        let mut child = Command::new(script).arg(path).stdout(Stdio::piped()).spawn().unwrap();
        let mut ready = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the socket holder did not start");
        SocketHolder(child)
    }
}

impl Drop for SocketHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
