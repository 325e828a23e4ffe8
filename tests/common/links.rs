//! The kernel's side of a test: `ip`, commands and sysctls in a namespace,
//! and snapshots of links with their addresses, in the shape ADD then DEL
//! must preserve.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

/// Runs `ip -n NS ARGS...`, panics with stderr on failure, returns stdout.
pub fn ip(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").arg("-n").arg(ns).args(args).output().expect("run ip");
    assert!(out.status.success(), "ip -n {ns} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `ip -n NS -batch -` with `script` (one command a line) on stdin,
/// panics with stderr on failure: one `ip` for thousands of commands.
pub fn ip_batch(ns: &str, script: &str) {
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ip -batch");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ip -n {ns} -batch: {}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a command inside namespace `ns`; its stdout (it must succeed).
pub fn exec(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").args(["netns", "exec", ns]).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?} in {ns}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The sysctl at /proc/sys/net/`path` in namespace `ns`, trimmed.
pub fn sysctl(ns: &str, path: &str) -> String {
    exec(ns, &["cat", &format!("/proc/sys/net/{path}")]).trim().to_string()
}

/// Sets the sysctl at /proc/sys/net/`path` in namespace `ns`.
pub fn set_sysctl(ns: &str, path: &str, value: &str) {
    exec(ns, &["sh", "-c", &format!("echo {value} > /proc/sys/net/{path}")]);
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

pub fn ifindex(ns: &str, name: &str) -> u64 {
    let v: Value = serde_json::from_str(&ip(ns, &["-j", "link", "show", "dev", name])).unwrap();
    v[0]["ifindex"].as_u64().expect("ifindex")
}
