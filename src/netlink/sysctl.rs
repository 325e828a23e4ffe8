//! Per-interface sysctls (`net.ipv4.conf.<if>.*`, `net.ipv6.conf.<if>.*`).
//! /proc/sys/net shows the namespace of the thread that opens a file there,
//! and the open file stays bound to it: files of another namespace are
//! opened from inside it, and read or written from anywhere.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::BorrowedFd;

use nix::dir::Dir;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use super::socket::{NlResult, in_namespace};
use super::{Link, NlError};

/// The two trees of an interface, by the name their keys start with.
pub const FAMILIES: [&str; 2] = ["ipv4", "ipv6"];

/// Left out of a snapshot: IPv6's `mtu` follows the link's MTU (which is
/// restored, and resets it), `stable_secret` cannot be read until set.
const NOT_KEPT: [&str; 2] = ["ipv6.mtu", "ipv6.stable_secret"];

/// Left out of `read_all` and taken from the link's own message instead
/// (`snapshot`): the kernel's handler for this file takes the rtnl lock
/// even to read, and only by trylock, restarting the read until it gets
/// it. So while any namespace move holds that lock (some 13 ms each) the
/// read spins: thousands of restarted `read` calls were seen in one call
/// on a busy node. IFLA_INET6_ADDR_GEN_MODE carries the same value.
pub const FROM_LINK: &str = "ipv6.addr_gen_mode";

/// Every sysctl of `link`'s own trees in this thread's namespace, as
/// `read_all` reads them, with `ipv6.addr_gen_mode` from the link message.
/// `name` is the link's name now (it may have been renamed since `link`
/// was read).
pub fn snapshot(name: &str, link: &Link) -> BTreeMap<String, String> {
    let mut out = read_all(name);
    if let Some(mode) = link.addr_gen_mode {
        out.insert(FROM_LINK.to_string(), mode.to_string());
    }
    out
}

/// The file of sysctl `key` ("ipv4.arp_ignore") of interface `ifname`.
pub fn path(ifname: &str, key: &str) -> String {
    let (family, leaf) = key.split_once('.').unwrap_or(("", key));
    format!("/proc/sys/net/{family}/conf/{ifname}/{leaf}")
}

/// Every readable sysctl of `ifname`'s own trees in this thread's
/// namespace, as "ipv4.accept_ra" -> "1". A tree that is missing (IPv6
/// disabled at boot) is empty. About a hundred files: each is opened by its
/// own name in its tree's open directory (a full path costs the kernel a
/// lookup of every component, each time) and read once, without a stat.
/// All but `FROM_LINK`, which `snapshot` takes from the link message.
pub fn read_all(ifname: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for family in FAMILIES {
        let Ok(mut dir) = Dir::open(format!("/proc/sys/net/{family}/conf/{ifname}").as_str(), DIR, Mode::empty())
        else {
            continue;
        };
        let names: Vec<String> = dir
            .iter()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|leaf| leaf != "." && leaf != "..")
            .collect();
        for leaf in names {
            let key = format!("{family}.{leaf}");
            if NOT_KEPT.contains(&key.as_str()) || key == FROM_LINK {
                continue;
            }
            if let Some(value) = read_at(&dir, &leaf) {
                out.insert(key, value);
            }
        }
    }
    out
}

const DIR: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_CLOEXEC);

/// The value of sysctl file `leaf` in `dir`; None when it cannot be read.
/// A sysctl's handler writes the whole value on the first read when the
/// buffer holds it, so a short read is the whole value.
fn read_at(dir: &Dir, leaf: &str) -> Option<String> {
    let fd = openat(dir, leaf, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    let mut file = File::from(fd);
    let mut buf = [0u8; 512];
    let mut text = Vec::new();
    loop {
        let n = file.read(&mut buf).ok()?;
        text.extend_from_slice(&buf[..n]);
        if n < buf.len() {
            break;
        }
    }
    let text = String::from_utf8(text).ok()?;
    Some(text.trim_end().to_string())
}

/// Writes sysctl `key` of `ifname` in this thread's namespace.
pub fn write(ifname: &str, key: &str, value: &str) -> NlResult<()> {
    let p = path(ifname, key);
    let mut file = OpenOptions::new().write(true).open(&p).map_err(NlError::io(&format!("open {p}")))?;
    file.write_all(value.as_bytes()).map_err(NlError::io(&format!("write {value:?} to {p}")))
}

/// Opens the files of `keys` of `ifname` in namespace `ns`, for writing
/// (or reading) from here: one namespace switch for all of them.
pub fn open_in(
    ns: BorrowedFd<'_>,
    home: BorrowedFd<'_>,
    ifname: &str,
    keys: &[&str],
    write: bool,
) -> NlResult<Vec<NlResult<File>>> {
    in_namespace(ns, home, || open_here(ifname, keys, write))
}

/// `open_in` for this thread's namespace, for a caller already there.
pub fn open_here(ifname: &str, keys: &[&str], write: bool) -> Vec<NlResult<File>> {
    keys.iter()
        .map(|key| {
            let p = path(ifname, key);
            OpenOptions::new().read(!write).write(write).open(&p).map_err(NlError::io(&format!("open {p}")))
        })
        .collect()
}

/// What an opened sysctl file holds.
pub fn read_file(mut file: &File) -> NlResult<String> {
    let mut s = String::new();
    file.read_to_string(&mut s).map_err(NlError::io("read a sysctl"))?;
    Ok(s.trim_end().to_string())
}

/// Enables IPv6 on interface `ifname` of namespace `ns` (and only there:
/// the namespace's defaults stay as they are), as the upstream plugins'
/// address code does for the interface it configures.
pub fn enable_ipv6(ns: BorrowedFd<'_>, home: BorrowedFd<'_>, ifname: &str) -> NlResult<()> {
    let file = open_in(ns, home, ifname, &["ipv6.disable_ipv6"], true)?.remove(0)?;
    (&file)
        .write_all(b"0")
        .map_err(NlError::io(&format!("write {} in the container", path(ifname, "ipv6.disable_ipv6"))))
}
