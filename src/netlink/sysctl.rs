//! Per-interface sysctls (`net.ipv4.conf.<if>.*`, `net.ipv6.conf.<if>.*`).
//! /proc/sys/net shows the namespace of the thread that opens a file there,
//! and the open file stays bound to it: files of another namespace are
//! opened from inside it, and read or written from anywhere.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::BorrowedFd;

use super::NlError;
use super::socket::{NlResult, in_namespace};

/// The two trees of an interface, by the name their keys start with.
pub const FAMILIES: [&str; 2] = ["ipv4", "ipv6"];

/// Left out of a snapshot: IPv6's `mtu` follows the link's MTU (which is
/// restored, and resets it), `stable_secret` cannot be read until set.
const NOT_KEPT: [&str; 2] = ["ipv6.mtu", "ipv6.stable_secret"];

/// The file of sysctl `key` ("ipv4.arp_ignore") of interface `ifname`.
pub fn path(ifname: &str, key: &str) -> String {
    let (family, leaf) = key.split_once('.').unwrap_or(("", key));
    format!("/proc/sys/net/{family}/conf/{ifname}/{leaf}")
}

/// Every readable sysctl of `ifname`'s own trees in this thread's
/// namespace, as "ipv4.accept_ra" -> "1". A tree that is missing (IPv6
/// disabled at boot) is empty.
pub fn read_all(ifname: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for family in FAMILIES {
        let Ok(dir) = std::fs::read_dir(format!("/proc/sys/net/{family}/conf/{ifname}")) else { continue };
        for entry in dir.flatten() {
            let key = format!("{family}.{}", entry.file_name().to_string_lossy());
            if NOT_KEPT.contains(&key.as_str()) {
                continue;
            }
            if let Ok(value) = std::fs::read_to_string(entry.path()) {
                out.insert(key, value.trim_end().to_string());
            }
        }
    }
    out
}

/// Reads sysctl `key` of `ifname` in this thread's namespace.
pub fn read(ifname: &str, key: &str) -> NlResult<String> {
    let p = path(ifname, key);
    std::fs::read_to_string(&p).map(|v| v.trim_end().to_string()).map_err(NlError::io(&format!("read {p}")))
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
    in_namespace(ns, home, || {
        keys.iter()
            .map(|key| {
                let p = path(ifname, key);
                OpenOptions::new().read(!write).write(write).open(&p).map_err(NlError::io(&format!("open {p}")))
            })
            .collect()
    })
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
