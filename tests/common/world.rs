//! One test's private world: a namespace playing the node, one playing the
//! container, a private dataDir, and the plugin run in it as a runtime runs
//! it, crashes at fail points included.

use super::links::{Link, ip, link, link_names};
use super::records::records;
use super::run::{Out, assert_killed, failpoint_command, plain_env, run_plugin, spawn, with_failpoint};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace, deleted on drop (also when a test panics).
pub struct Netns {
    pub name: String,
    deleted: bool,
}

impl Netns {
    /// Makes the namespace `name`. Every name a test makes holds the pid of
    /// its run (the test process's, or soak.sh's), so one that exists is a
    /// killed run's, left under a pid that came round again: it goes first.
    pub fn new(name: String) -> Netns {
        if Path::new("/run/netns").join(&name).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
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

    /// A world whose namespaces and temp dir are named after `id`. A temp
    /// dir of that name is a killed run's (pids come round again): it goes.
    pub fn with_id(id: String) -> World {
        let tmp = std::env::temp_dir().join(&id);
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        World { ctr: Netns::new(format!("{id}-ctr")), host: Netns::new(format!("{id}-host")), id, tmp }
    }

    pub fn data_dir(&self) -> String {
        self.tmp.join("data").to_string_lossy().into_owned()
    }

    pub fn config(&self, version: &str, device: &str) -> String {
        conf(self, version, device, json!({}))
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

    /// Runs the plugin in the host namespace, as a runtime calls it:
    /// exactly `env` (plus PATH), `stdin`, waited for.
    pub fn run(&self, env: &BTreeMap<&str, String>, stdin: &str) -> Out {
        run_plugin(&self.host.name, env, stdin)
    }

    /// Starts the plugin as `run` does, without waiting (see `finish`).
    pub fn spawn(&self, env: &BTreeMap<&str, String>, stdin: &str) -> Child {
        spawn(&self.host.name, env, stdin)
    }

    /// Starts the plugin held at the test build's pause `point` and waits
    /// until it is there: the plugin, and the file that lets it go on.
    pub fn spawn_paused(&self, point: &str, env: &BTreeMap<&str, String>, stdin: &str) -> (Child, PathBuf) {
        let (reached, go) = (self.tmp.join(format!("{point}.reached")), self.tmp.join(format!("{point}.go")));
        let _ = (std::fs::remove_file(&reached), std::fs::remove_file(&go));
        let mut env = env.clone();
        env.insert("HOSTDEV_PAUSE", point.into());
        env.insert("HOSTDEV_PAUSE_DIR", self.tmp.to_string_lossy().into_owned());
        let child = self.spawn(&env, stdin);
        assert!(super::run::wait_until(60, || reached.exists()), "the plugin never reached {point}");
        (child, go)
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

    /// Runs `env`'s command with HOSTDEV_FAILPOINT=`point` and asserts the
    /// plugin was SIGKILLed there (a `test-hooks` build).
    pub fn killed_at(&self, point: &str, env: BTreeMap<&'static str, String>, stdin: &str) -> Out {
        let out = self.run(&with_failpoint(env, point), stdin);
        assert_killed(&out.status, &out, point);
        out
    }

    /// The world's attachment (`eth0`, config `cfg`) crashed at fail
    /// `point`: ADD killed there, or, for a `del-…` point, a clean ADD and
    /// then DEL killed there.
    pub fn crash_at(&self, point: &str, cfg: &str) -> Out {
        let command = failpoint_command(point);
        if command == "DEL" {
            let out = self.run(&self.env("ADD", "eth0"), cfg);
            out.assert_ok();
            assert!(link(&self.ctr.name, "eth0").is_some(), "clean ADD did not attach: {out:#?}");
        }
        self.killed_at(point, self.env(command, "eth0"), cfg)
    }

    /// `before` is home exactly as it was, the namespaces hold the links
    /// they held (the container's while its path exists), no record is left.
    pub fn assert_home(&self, before: &Link, host_names: &BTreeSet<String>, ctr_names: &BTreeSet<String>, what: &str) {
        let home = link(&self.host.name, &before.name);
        assert_eq!(home.as_ref(), Some(before), "{what}: host interface not restored");
        assert_eq!(&link_names(&self.host.name), host_names, "{what}: host namespace links");
        if std::path::Path::new(&self.ctr.path()).exists() {
            assert_eq!(&link_names(&self.ctr.name), ctr_names, "{what}: container namespace links");
        }
        assert!(records(self).is_empty(), "{what}: records left: {:#?}", records(self));
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

/// A config's `ipam` object: Debian's `static` plugin giving `address`.
pub fn static_ipam(address: &str) -> Value {
    json!({"type": "static", "addresses": [{"address": address}]})
}

/// A GC config that declares no attachment valid.
pub fn gc_conf(w: &World, device: &str) -> String {
    conf(w, "1.1.0", device, json!({"cni.dev/valid-attachments": []}))
}

/// GC as a runtime sends it: no attachment variables.
pub fn run_gc(w: &World, device: &str) -> Out {
    w.run(&plain_env("GC"), &gc_conf(w, device))
}

/// How an interface left behind (a crash, a dead namespace) is recovered:
/// the runtime's DEL, or its periodic GC.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Recover {
    Del,
    Gc,
}
