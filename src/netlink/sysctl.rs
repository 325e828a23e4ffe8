//! Per-interface sysctls (`net.ipv4.conf.<if>.*`, `net.ipv6.conf.<if>.*`).
//! /proc/sys/net shows the namespace of the thread that opens a file there,
//! and the open file stays bound to it: files of another namespace are
//! opened from inside it, and read or written from anywhere.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::fcntl::{AT_FDCWD, OFlag, openat};
use nix::sys::stat::Mode;

use super::socket::{NlResult, in_namespace};
use netlink_packet_route::link::{Inet6DevConf, InetDevConf};

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

/// The names of the per-device sysctls, by family (as `FAMILIES`): what
/// a tree lists, None for a family whose tree is missing (IPv6 disabled
/// at boot). The kernel's tables, so the same for every device and every
/// namespace of one boot. A family's names are one line, by single
/// spaces, as the kept file writes them (each is `is_leaf`, so holds no
/// space): one string where a list was some 90, at every call that reads
/// the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Names(pub [Option<String>; 2]);

impl Names {
    /// The names in this thread's namespace's `default` trees, which every
    /// device's copy: listing a device's own tree makes the kernel build
    /// an inode for each of its ~95 entries, anew after every move, where
    /// `default`'s stay cached. Even so the listing costs some 0.2 ms of
    /// CPU, so ADD keeps the names for the boot (state/facts.rs).
    pub fn listed() -> Names {
        Names::of("default")
    }

    /// The names in device `dev`'s trees.
    fn of(dev: &str) -> Names {
        Names(FAMILIES.map(|family| tree(family, dev).ok().and_then(names)))
    }

    /// Every family's line, when every family has a tree.
    pub fn complete(&self) -> Option<[&str; 2]> {
        let [v4, v6] = &self.0;
        Some([v4.as_deref()?, v6.as_deref()?])
    }
}

/// Every sysctl of `link`'s own trees in this thread's namespace, as
/// `read_all` reads them, for the sysctls `names` has: the values from the
/// link message where it carries them as their files print them
/// (`from_link`), the rest (keys newer than that table) read from their
/// files, and `ipv6.addr_gen_mode` from the link message too. With each
/// file read, a snapshot cost some 0.65 ms of CPU on every ADD and DEL.
/// `name` is the link's name now (it may have been renamed since `link`
/// was read).
pub fn snapshot(name: &str, link: &Link, names: &Names) -> BTreeMap<String, String> {
    let mut out = read_trees(name, names, |family| from_link(link, family));
    if let Some(mode) = link.addr_gen_mode {
        out.insert(FROM_LINK.to_string(), mode.to_string());
    }
    out
}

/// What `snapshot` would say of `keys` alone (keys as it names them), for
/// `link`, named `name` in this thread's namespace, without listing the
/// trees: DEL compares only the keys its record holds, so the listing is
/// ADD's alone. A key that cannot be read is left out, as there.
pub fn current<'a>(name: &str, link: &Link, keys: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    let known = FAMILIES.map(|family| from_link(link, family));
    let mut trees = FAMILIES.map(|family| Tree::new(family, name));
    let mut out = Vec::new();
    for key in keys {
        let value = if key == FROM_LINK {
            link.addr_gen_mode.map(|mode| mode.to_string())
        } else {
            let Some((family, leaf)) = key.split_once('.') else { continue };
            let Some(i) = FAMILIES.iter().position(|f| *f == family) else { continue };
            known[i].get(leaf).cloned().or_else(|| trees[i].read(leaf))
        };
        if let Some(value) = value {
            out.push((key.clone(), value));
        }
    }
    // Made a map at once, as in `read_trees`.
    out.into_iter().collect()
}

/// The file of sysctl `key` ("ipv4.arp_ignore") of interface `ifname`.
pub fn path(ifname: &str, key: &str) -> String {
    let (family, leaf) = key.split_once('.').unwrap_or(("", key));
    format!("/proc/sys/net/{family}/conf/{ifname}/{leaf}")
}

/// Every readable sysctl of `ifname`'s own trees in this thread's
/// namespace, as "ipv4.accept_ra" -> "1", each listed and read from its
/// file: what `snapshot` stands for. A tree that is missing (IPv6 disabled
/// at boot) is empty. All but `FROM_LINK`.
pub fn read_all(ifname: &str) -> BTreeMap<String, String> {
    read_trees(ifname, &Names::of(ifname), |_| BTreeMap::new())
}

/// The keys `names` has, for `ifname`'s trees, each valued by
/// `known(family)` or else read from `ifname`'s file (see `Tree`).
fn read_trees(
    ifname: &str,
    names: &Names,
    known: impl Fn(&str) -> BTreeMap<&'static str, String>,
) -> BTreeMap<String, String> {
    // Gathered, then made a map at once (a sort and a bulk build), not
    // inserted one by one: some 90 keys, at every ADD.
    let mut out = Vec::new();
    for (family, line) in FAMILIES.into_iter().zip(&names.0) {
        let Some(line) = line else { continue };
        let (known, mut tree) = (known(family), Tree::new(family, ifname));
        for leaf in line.split(' ').filter(|leaf| is_leaf(leaf)) {
            let key = [family, leaf].join(".");
            if NOT_KEPT.contains(&key.as_str()) || key == FROM_LINK {
                continue;
            }
            if let Some(value) = known.get(leaf).cloned().or_else(|| tree.read(leaf)) {
                out.push((key, value));
            }
        }
    }
    out.into_iter().collect()
}

/// One family's tree of a device, opened at its first file to read: the
/// link message carries most keys (all of IPv4's), and the open costs the
/// kernel a lookup of every component of the path. Each file is opened by
/// its own name in the open directory and read once, without a stat.
struct Tree<'a> {
    family: &'a str,
    dev: &'a str,
    /// None until opened; then what the open gave (None: no such tree).
    dir: Option<Option<OwnedFd>>,
}

impl<'a> Tree<'a> {
    fn new(family: &'a str, dev: &'a str) -> Tree<'a> {
        Tree { family, dev, dir: None }
    }

    /// File `leaf`'s value; None when it cannot be read.
    fn read(&mut self, leaf: &str) -> Option<String> {
        let (family, dev) = (self.family, self.dev);
        let dir = self.dir.get_or_insert_with(|| tree(family, dev).ok());
        dir.as_ref().and_then(|dir| read_at(dir, leaf))
    }
}

/// Whether `key` names a sysctl of a device's own trees ("ipv4.arp_ignore"):
/// a family of `FAMILIES` and a leaf (`is_leaf`). A record's keys are read
/// with this check, as DEL writes each under the device's tree.
pub fn is_key(key: &str) -> bool {
    key.split_once('.').is_some_and(|(family, leaf)| FAMILIES.contains(&family) && is_leaf(leaf))
}

/// Whether `leaf` can only name a file of the tree it is opened in: no
/// `/`, not `.` or `..`, and printable without spaces (as a kept file
/// writes names). Names kept in a file are read with this check, not
/// trusted as paths.
pub fn is_leaf(leaf: &str) -> bool {
    !matches!(leaf, "" | "." | "..") && leaf.len() <= 255 && leaf.bytes().all(|b| b.is_ascii_graphic() && b != b'/')
}

/// `family`'s tree of the device `dev`, open: a plain descriptor, as the
/// files are opened in it and only a listing needs a directory stream
/// (whose set-up cost each ADD a dozen system calls when it listed none).
fn tree(family: &str, dev: &str) -> nix::Result<OwnedFd> {
    openat(AT_FDCWD, format!("/proc/sys/net/{family}/conf/{dev}").as_str(), DIR, Mode::empty())
}

/// The names of the entries of directory `dir`.
fn names(dir: OwnedFd) -> Option<String> {
    let mut dir = Dir::from_fd(dir).ok()?;
    let names = dir.iter().flatten().map(|e| e.file_name().to_string_lossy().into_owned());
    Some(names.filter(|leaf| is_leaf(leaf)).collect::<Vec<_>>().join(" "))
}

/// The sysctls of `family`'s tree whose files print exactly what the link
/// message carries: all of IPv4's (plain integers), and IPv6's, its three
/// unsigned ones printed as unsigned and its intervals as `intervals` says.
/// The order is the kernel's (DEVCONF_*, IPV4_DEVCONF_*); tests/declared.rs
/// holds this table to the files on the kernel it runs on.
fn from_link(link: &Link, family: &str) -> BTreeMap<&'static str, String> {
    let int = |(k, v): (&'static str, i32)| (k, v.to_string());
    match family {
        "ipv4" => link.inet_conf.map(|c| inet(&c).into_iter().map(int).collect()).unwrap_or_default(),
        _ => link.inet6_conf.map(|c| inet6(&c)).unwrap_or_default(),
    }
}

fn inet(c: &InetDevConf) -> [(&'static str, i32); 33] {
    [
        ("forwarding", c.forwarding),
        ("mc_forwarding", c.mc_forwarding),
        ("proxy_arp", c.proxy_arp),
        ("accept_redirects", c.accept_redirects),
        ("secure_redirects", c.secure_redirects),
        ("send_redirects", c.send_redirects),
        ("shared_media", c.shared_media),
        ("rp_filter", c.rp_filter),
        ("accept_source_route", c.accept_source_route),
        ("bootp_relay", c.bootp_relay),
        ("log_martians", c.log_martians),
        ("tag", c.tag),
        ("arp_filter", c.arpfilter),
        ("medium_id", c.medium_id),
        ("disable_xfrm", c.noxfrm),
        ("disable_policy", c.nopolicy),
        ("force_igmp_version", c.force_igmp_version),
        ("arp_announce", c.arp_announce),
        ("arp_ignore", c.arp_ignore),
        ("promote_secondaries", c.promote_secondaries),
        ("arp_accept", c.arp_accept),
        ("arp_notify", c.arp_notify),
        ("accept_local", c.accept_local),
        ("src_valid_mark", c.src_vmark),
        ("proxy_arp_pvlan", c.proxy_arp_pvlan),
        ("route_localnet", c.route_localnet),
        ("igmpv2_unsolicited_report_interval", c.igmpv2_unsolicited_report_interval),
        ("igmpv3_unsolicited_report_interval", c.igmpv3_unsolicited_report_interval),
        ("ignore_routes_with_linkdown", c.ignore_routes_with_linkdown),
        ("drop_unicast_in_l2_multicast", c.drop_unicast_in_l2_multicast),
        ("drop_gratuitous_arp", c.drop_gratuitous_arp),
        ("bc_forwarding", c.bc_forwarding),
        ("arp_evict_nocarrier", c.arp_evict_nocarrier),
    ]
}

fn inet6(c: &Inet6DevConf) -> BTreeMap<&'static str, String> {
    let signed = [
        ("forwarding", c.forwarding),
        ("hop_limit", c.hoplimit),
        ("accept_ra", c.accept_ra),
        ("accept_redirects", c.accept_redirects),
        ("autoconf", c.autoconf),
        ("dad_transmits", c.dad_transmits),
        ("router_solicitations", c.rtr_solicits),
        ("use_tempaddr", c.use_tempaddr),
        ("temp_valid_lft", c.temp_valid_lft),
        ("temp_prefered_lft", c.temp_prefered_lft),
        ("regen_max_retry", c.regen_max_retry),
        ("max_desync_factor", c.max_desync_factor),
        ("max_addresses", c.max_addresses),
        ("force_mld_version", c.force_mld_version),
        ("accept_ra_defrtr", c.accept_ra_defrtr),
        ("accept_ra_pinfo", c.accept_ra_pinfo),
        ("accept_ra_rtr_pref", c.accept_ra_rtr_pref),
        ("accept_ra_rt_info_max_plen", c.accept_ra_rt_info_max_plen),
        ("proxy_ndp", c.proxy_ndp),
        ("optimistic_dad", c.optimistic_dad),
        ("accept_source_route", c.accept_source_route),
        ("mc_forwarding", c.mc_forwarding),
        ("disable_ipv6", c.disable_ipv6),
        ("accept_dad", c.accept_dad),
        ("force_tllao", c.force_tllao),
        ("ndisc_notify", c.ndisc_notify),
        ("suppress_frag_ndisc", c.suppress_frag_ndisc),
        ("accept_ra_from_local", c.accept_ra_from_local),
        ("use_optimistic", c.use_optimistic),
        ("accept_ra_mtu", c.accept_ra_mtu),
        ("use_oif_addrs_only", c.use_oif_addrs_only),
        ("accept_ra_min_hop_limit", c.accept_ra_min_hop_limit),
        ("ignore_routes_with_linkdown", c.ignore_routes_with_linkdown),
        ("drop_unicast_in_l2_multicast", c.drop_unicast_in_l2_multicast),
        ("drop_unsolicited_na", c.drop_unsolicited_na),
        ("keep_addr_on_down", c.keep_addr_on_down),
        ("seg6_enabled", c.seg6_enabled),
        ("seg6_require_hmac", c.seg6_require_hmac),
        ("enhanced_dad", c.enhanced_dad),
        ("disable_policy", c.disable_policy),
        ("accept_ra_rt_info_min_plen", c.accept_ra_rt_info_min_plen),
        ("ndisc_tclass", c.ndisc_tclass),
        ("rpl_seg_enabled", c.rpl_seg_enabled),
        ("ioam6_enabled", c.ioam6_enabled),
        ("ndisc_evict_nocarrier", c.ndisc_evict_nocarrier),
        ("accept_untracked_na", c.accept_untracked_na),
        ("accept_ra_min_lft", c.accept_ra_min_lft),
        ("force_forwarding", c.force_forwarding),
    ];
    let unsigned =
        [("ra_defrtr_metric", c.ra_defrtr_metric), ("ioam6_id", c.ioam6_id), ("ioam6_id_wide", c.ioam6_id_wide)];
    let signed = signed.into_iter().map(|(k, v)| (k, v.to_string()));
    let unsigned = unsigned.into_iter().map(|(k, v)| (k, (v as u32).to_string()));
    signed.chain(unsigned).chain(intervals(c)).collect()
}

/// IPv6's intervals, which the kernel keeps in jiffies and the message
/// carries in milliseconds (`jiffies_to_msecs`). The MLD files print
/// milliseconds the same way; the router ones print whole seconds,
/// jiffies / HZ truncated, which is milliseconds / 1000 for every HZ up
/// to 1000. A negative value converts otherwise on each side: it is left
/// to its file.
fn intervals(c: &Inet6DevConf) -> impl Iterator<Item = (&'static str, String)> {
    let ms = [
        ("mldv1_unsolicited_report_interval", c.mldv1_unsolicited_report_interval),
        ("mldv2_unsolicited_report_interval", c.mldv2_unsolicited_report_interval),
    ];
    let seconds = [
        ("router_probe_interval", c.rtr_probe_interval),
        ("router_solicitation_delay", c.rtr_solicit_delay),
        ("router_solicitation_interval", c.rtr_solicit_interval),
        ("router_solicitation_max_interval", c.rtr_solicit_max_interval),
    ];
    let ms = ms.into_iter().filter(|(_, v)| *v >= 0).map(|(k, v)| (k, v.to_string()));
    ms.chain(seconds.into_iter().filter(|(_, v)| *v >= 0).map(|(k, v)| (k, (v / 1000).to_string())))
}

const DIR: OFlag = OFlag::O_RDONLY.union(OFlag::O_DIRECTORY).union(OFlag::O_CLOEXEC);

/// The value of sysctl file `leaf` in `dir`; None when it cannot be read.
/// A sysctl's handler writes the whole value on the first read when the
/// buffer holds it, so a short read is the whole value.
fn read_at(dir: &OwnedFd, leaf: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The message's milliseconds as the files print them: the MLD ones
    /// as they are, the router ones in truncated seconds; a negative value
    /// (which each side converts its own way) is left to its file.
    #[test]
    fn intervals_print_as_their_files_do() {
        let mut c = Inet6DevConf::default();
        c.mldv1_unsolicited_report_interval = 10_000;
        c.mldv2_unsolicited_report_interval = -4;
        c.rtr_probe_interval = 60_000;
        c.rtr_solicit_delay = 1_999;
        c.rtr_solicit_interval = -1_000;
        c.rtr_solicit_max_interval = 0;
        let got: BTreeMap<_, _> = intervals(&c).collect();
        let want: BTreeMap<_, _> = [
            ("mldv1_unsolicited_report_interval", "10000"),
            ("router_probe_interval", "60"),
            ("router_solicitation_delay", "1"),
            ("router_solicitation_max_interval", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
