//! Finding the host interface the config names. All selection lives here.
//!
//! Selectors, in upstream host-device's order of precedence: `device` (a
//! name or altname), `hwaddr` (the current MAC, or the permanent one when
//! the current one was changed), `kernelpath` (a directory under
//! /sys/devices/ whose `net/` names the interface), `pciBusID` (a PCI
//! function), and the device plugin's `runtimeConfig.deviceID` or top-level
//! `deviceID` (a PCI function or an auxiliary device; it replaces
//! `pciBusID`). Unlike upstream we
//! never guess: every configured selector is resolved, they must all name
//! the same device, and a selector that fits several interfaces is an error
//! that lists them.

use std::path::{Path, PathBuf};

use crate::cni::config::Selector;
use crate::info;
use crate::netlink::link::{format_mac, parse_mac};
use crate::netlink::{Link, Socket};
use crate::sysfs::{self, DeviceNet, Sysfs};

mod error;

pub use error::{Error, Kind, Result};

/// What the selectors name. Made once per command, so the size of a `Link`
/// in one variant costs nothing worth a box.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Selected {
    /// A network interface in the host namespace.
    Netdev(Link),
    /// A PCI function (or auxiliary device) bound to a userspace driver
    /// such as vfio-pci (DPDK): it has no network interface to move.
    Userspace(Userspace),
}

/// A device bound to a userspace driver. `id` is the PCI address or
/// auxiliary device name as sysfs spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Userspace {
    pub id: String,
    pub driver: String,
}

impl Selected {
    fn same_as(&self, other: &Selected) -> bool {
        match (self, other) {
            (Selected::Netdev(a), Selected::Netdev(b)) => a.index == b.index,
            (Selected::Userspace(a), Selected::Userspace(b)) => a.id == b.id,
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Selected::Netdev(l) => l.name.clone(),
            Selected::Userspace(Userspace { id, driver }) => format!("{id} (bound to userspace driver {driver})"),
        }
    }
}

/// What `sel` names in the host namespace, with sysfs at "/sys" (or, in a
/// `test-hooks` build, HOSTDEV_SYSFS_ROOT). A selector that needs every
/// host link (`hwaddr`) leaves its dump in `dump`, for the caller to use
/// instead of making another; one already there is used.
pub fn select(sock: &mut Socket, sel: &Selector, dump: &mut Option<Vec<Link>>) -> Result<Selected> {
    select_in(sock, sel, &Sysfs::from_env(), dump)
}

/// `select` with an explicit sysfs tree.
///
/// Errors: code 7 for a malformed selector, a selector that fits several
/// interfaces, or selectors that name different devices; code 101 when a
/// selector names nothing. All are raised before anything changes.
pub fn select_in(sock: &mut Socket, sel: &Selector, sysfs: &Sysfs, dump: &mut Option<Vec<Link>>) -> Result<Selected> {
    let wants = plan(sel, sysfs)?;
    let mut picks = Vec::with_capacity(wants.len());
    for want in &wants {
        let found = resolve(sock, sysfs, want, dump)?;
        picks.push((want.describe(), found));
    }
    agree(picks)
}

/// True when `sel` could name `link` by what a record keeps of it: its name
/// or altnames, its MAC or permanent MAC, and a PCI address (`pciBusID`,
/// `deviceID`) by its recorded parent. `kernelpath` cannot be checked
/// against a record (the device's sysfs entry follows it into the
/// container), so it never matches here.
pub fn could_name(sel: &Selector, link: &Link) -> bool {
    let by_name = sel.device.as_ref().is_some_and(|n| !n.is_empty() && (link.name == *n || link.altnames.contains(n)));
    let by_pci = [&sel.device_id, &sel.pci_bus_id]
        .into_iter()
        .flatten()
        .filter_map(|a| sysfs::pci_address(a))
        .any(|a| link.parent.as_ref().is_some_and(|p| p.bus == "pci" && p.device == a));
    let by_mac = sel
        .hwaddr
        .as_deref()
        .and_then(normal_mac)
        .is_some_and(|m| !mac_matches(std::slice::from_ref(link), &m).is_empty());
    by_name || by_mac || by_pci
}

/// Which configured selector proves that `link`, a device with a parent
/// on its bus, is the one `sel` names, by what no container can forge: its
/// parent device against the device plugin's ID (or `pciBusID`) and
/// `kernelpath`, its permanent MAC against `hwaddr`. Every such selector
/// configured must agree. A name, an alias or a current MAC proves nothing.
/// Err says why there is no proof.
pub fn proven_by(sel: &Selector, link: &Link, sysfs: &Sysfs) -> std::result::Result<String, String> {
    let Some(parent) = &link.parent else { return Err("it has no parent device".into()) };
    let mut checks: Vec<(String, bool)> = Vec::new();
    let bus_id = match (&sel.device_id, &sel.pci_bus_id) {
        (Some(id), _) => Some((sel.device_id_key(), id)),
        (None, Some(id)) => Some(("pciBusID", id)),
        (None, None) => None,
    };
    if let Some((key, id)) = bus_id {
        let (bus, device) = sysfs::pci_address(id).map_or(("auxiliary", id.clone()), |a| ("pci", a));
        checks.push((format!("{key} {id:?}"), parent.bus == bus && parent.device == device));
    }
    if let Some(path) = &sel.kernelpath {
        let at = sysfs.kernel_path(path).ok().and_then(|dir| sysfs::bus_device(&dir));
        checks.push((format!("kernelpath {path:?}"), at == Some((parent.bus.clone(), parent.device.clone()))));
    }
    if let (Some(mac), Some(perm)) = (sel.hwaddr.as_deref().and_then(normal_mac), &link.perm_mac) {
        checks.push((format!("hwaddr {mac}"), *perm == mac));
    }
    if let Some((by, _)) = checks.iter().find(|(_, ok)| !ok) {
        let perm = link.perm_mac.as_deref().map(|m| format!(", permanent MAC {m}")).unwrap_or_default();
        return Err(format!("{by} names another device (this one is {} {}{perm})", parent.bus, parent.device));
    }
    checks.into_iter().next().map(|(by, _)| by).ok_or_else(|| {
        "the config selects it by nothing a container cannot forge (pciBusID, deviceID or runtimeConfig.deviceID, kernelpath, or hwaddr naming a permanent MAC)".into()
    })
}

/// Devices the kernel refuses to move (loopback, bridges, ...) are refused
/// before anything changes, with a reason.
pub fn check_movable(link: &Link) -> Result<()> {
    let why = if link.loopback {
        "it is the loopback interface"
    } else if link.netns_immutable {
        "the kernel marks it netns-immutable (bridges, bonds, VRFs and loopback cannot change namespace)"
    } else {
        return Ok(());
    };
    Err(Error::new(Kind::Immovable, format!("device {:?} cannot be moved to a container: {why}", link.name)))
}

/// One configured selector, checked, before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    Name(String),
    /// Lowercase, colon-separated.
    Mac {
        value: String,
        mac: String,
    },
    KernelPath {
        value: String,
        dir: PathBuf,
    },
    Pci {
        key: &'static str,
        addr: String,
    },
    Aux {
        key: &'static str,
        id: String,
    },
}

impl Want {
    /// The selector as the user wrote it, for messages.
    fn describe(&self) -> String {
        match self {
            Want::Name(n) => format!("device {n:?}"),
            Want::Mac { value, .. } => format!("hwaddr {value:?}"),
            Want::KernelPath { value, .. } => format!("kernelpath {value:?}"),
            Want::Pci { key, addr } => format!("{key} {addr:?}"),
            Want::Aux { key, id } => format!("{key} {id:?}"),
        }
    }
}

/// The configured selectors in order of precedence, each checked (code 7
/// when malformed). The device plugin's ID replaces `pciBusID`.
fn plan(sel: &Selector, sysfs: &Sysfs) -> Result<Vec<Want>> {
    // Checked in this order, so the first malformed key is the one named.
    let wants = [want_name(sel)?, want_mac(sel)?, want_kernel_path(sel, sysfs)?, want_bus_device(sel)?];
    let wants: Vec<Want> = wants.into_iter().flatten().collect();
    if wants.is_empty() {
        return Err(nothing_selected(sel));
    }
    Ok(wants)
}

/// `device`: held to the altname rule (longer than a name may be), as it
/// may name an altname.
fn want_name(sel: &Selector) -> Result<Option<Want>> {
    let Some(name) = given(&sel.device) else { return Ok(None) };
    if !crate::ifname::valid_alt(name) {
        return Err(Error::config(format!("config key \"device\" {name:?} is not an interface name")));
    }
    Ok(Some(Want::Name(name.to_string())))
}

/// `hwaddr`, as written (for messages) and as `Link::mac` spells it.
fn want_mac(sel: &Selector) -> Result<Option<Want>> {
    let Some(value) = given(&sel.hwaddr) else { return Ok(None) };
    let mac = normal_mac(value).ok_or_else(|| {
        Error::config(format!("config key \"hwaddr\" {value:?} is not a hardware address like 02:00:00:00:00:01"))
    })?;
    Ok(Some(Want::Mac { value: value.to_string(), mac }))
}

/// `kernelpath`: only a path below the sysfs root is a device's.
fn want_kernel_path(sel: &Selector, sysfs: &Sysfs) -> Result<Option<Want>> {
    let Some(value) = given(&sel.kernelpath) else { return Ok(None) };
    let dir = sysfs
        .kernel_path(value)
        .map_err(|why| Error::config(format!("config key \"kernelpath\" {value:?} is refused: {why}")))?;
    Ok(Some(Want::KernelPath { value: value.to_string(), dir }))
}

/// The device on its bus: the device plugin's ID (what it allocated to
/// this pod, so it wins over the config's `pciBusID`), a PCI function or
/// an auxiliary device; else `pciBusID`.
fn want_bus_device(sel: &Selector) -> Result<Option<Want>> {
    let Some(id) = given(&sel.device_id) else { return want_pci_bus_id(sel) };
    let key = sel.device_id_key();
    if let Some(pci) = sel.pci_bus_id.as_deref().filter(|p| !p.eq_ignore_ascii_case(id)) {
        info!("{key} replaces pciBusID"; deviceID = id, pciBusID = pci);
    }
    if let Some(addr) = sysfs::pci_address(id) {
        return Ok(Some(Want::Pci { key, addr }));
    }
    if sysfs::is_entry_name(id) {
        return Ok(Some(Want::Aux { key, id: id.to_string() }));
    }
    Err(Error::config(format!("{key} {id:?} is neither a PCI address (DDDD:BB:DD.F) nor an auxiliary device name")))
}

/// `pciBusID`, when no device plugin's ID replaces it.
fn want_pci_bus_id(sel: &Selector) -> Result<Option<Want>> {
    let Some(value) = given(&sel.pci_bus_id) else { return Ok(None) };
    let addr = sysfs::pci_address(value).ok_or_else(|| {
        Error::config(format!("config key \"pciBusID\" {value:?} is not a PCI address like 0000:03:00.1"))
    })?;
    Ok(Some(Want::Pci { key: "pciBusID", addr }))
}

/// Why nothing is selected: an empty key, named when only empty ones are
/// set (templates write `"pciBusID": ""`), else the keys that select.
fn nothing_selected(sel: &Selector) -> Error {
    let keys = [
        ("device", &sel.device),
        ("hwaddr", &sel.hwaddr),
        ("kernelpath", &sel.kernelpath),
        ("pciBusID", &sel.pci_bus_id),
        (sel.device_id_key(), &sel.device_id),
    ];
    if let Some((key, _)) = keys.iter().find(|(_, v)| v.as_deref() == Some("")) {
        return Error::config(format!("config key {key:?} is empty, and no other selector is set"));
    }
    Error::config(
        "no device selected: set one of the config keys \"device\", \"hwaddr\", \"kernelpath\" or \"pciBusID\" (or runtimeConfig.deviceID)",
    )
}

/// A configured key's value. An empty one is unset, as upstream reads it
/// (templates write `"pciBusID": ""`); only when nothing else is set is it
/// reported.
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// A MAC as `Link::mac` spells it; None when malformed or all zeros.
fn normal_mac(s: &str) -> Option<String> {
    parse_mac(s).filter(|b| b.iter().any(|x| *x != 0)).map(|b| format_mac(&b))
}

fn resolve(sock: &mut Socket, sysfs: &Sysfs, want: &Want, dump: &mut Option<Vec<Link>>) -> Result<Selected> {
    let by = want.describe();
    match want {
        Want::Name(name) => by_name(sock, name).map(Selected::Netdev),
        Want::Mac { mac, .. } => {
            if dump.is_none() {
                *dump = Some(sock.links().map_err(Error::kernel("list the host's interfaces"))?);
            }
            let links = dump.as_deref().unwrap_or_default();
            by_mac(links, mac, &by).map(|l| Selected::Netdev(l.clone()))
        }
        Want::KernelPath { dir, .. } => from_sysfs(sock, dir, &format!("device {}", kernel_path_text(sysfs, dir)), &by),
        Want::Pci { addr, .. } => from_sysfs(sock, &sysfs.pci_device(addr), &format!("PCI device {addr}"), &by),
        Want::Aux { id, .. } => from_sysfs(sock, &sysfs.aux_device(id), &format!("auxiliary device {id}"), &by),
    }
}

/// A kernel path as the user knows it (under /sys, whatever the root).
fn kernel_path_text(sysfs: &Sysfs, dir: &Path) -> String {
    match dir.strip_prefix(sysfs.root()) {
        Ok(rel) => Path::new("/sys").join(rel).display().to_string(),
        Err(_) => dir.display().to_string(),
    }
}

/// The interface with this name or altname.
fn by_name(sock: &mut Socket, name: &str) -> Result<Link> {
    let found = sock.link_by_name(name).map_err(Error::kernel(&format!("look up device {name:?}")))?;
    found.ok_or_else(|| Error::new(Kind::NotFound, format!("device {name:?} not found in the host network namespace")))
}

/// The one link `mac` names among `links`.
fn by_mac<'a>(links: &'a [Link], mac: &str, by: &str) -> Result<&'a Link> {
    let found = mac_matches(links, mac);
    match found.as_slice() {
        [] => Err(Error::new(Kind::NotFound, format!("{by} matches no interface in the host network namespace"))),
        [(link, _)] => Ok(link),
        many => {
            if let Some(lower) = stacked_on_one(many) {
                info!("the selector matches a device and devices stacked on it with its MAC: selecting that device"; selector = by, device = lower.name);
                return Ok(lower);
            }
            let list: Vec<String> = many
                .iter()
                .map(|(l, perm)| {
                    if *perm {
                        format!("{} (permanent MAC; current {})", l.name, l.mac)
                    } else {
                        format!("{} (current MAC)", l.name)
                    }
                })
                .collect();
            Err(Error::config(format!(
                "{by} is ambiguous: it matches {} interfaces: {}; select one with \"device\"",
                many.len(),
                list.join(", ")
            )))
        }
    }
}

/// When every match but one is stacked on that one (a macvlan or vlan
/// keeps its lower device's MAC), the one: the real device. A stacked
/// device is never the answer, as upstream's first-match would pick the
/// lower device too (it has the smaller index).
fn stacked_on_one<'a>(many: &[(&'a Link, bool)]) -> Option<&'a Link> {
    let mut lowers = many.iter().filter(|(l, _)| !many.iter().any(|(o, _)| lower(l) == Some(o.index)));
    let (lower, _) = lowers.next()?;
    let rest_stacked = many.iter().all(|(l, _)| l.index == lower.index || stacked_upon(l, lower, many));
    (lowers.next().is_none() && rest_stacked).then_some(*lower)
}

/// The index of the device `l` is stacked on (IFLA_LINK: a macvlan's or
/// vlan's lower device, a veth's peer) when that is in this namespace.
fn lower(l: &Link) -> Option<u32> {
    l.link.filter(|i| *i != l.index && l.link_netnsid.is_none())
}

/// Whether `l` sits on `base`, directly or through other matches.
fn stacked_upon(l: &Link, base: &Link, many: &[(&Link, bool)]) -> bool {
    let mut at = l;
    for _ in 0..many.len() {
        match lower(at) {
            Some(i) if i == base.index => return true,
            Some(i) => match many.iter().find(|(o, _)| o.index == i) {
                Some((o, _)) => at = o,
                None => return false,
            },
            None => return false,
        }
    }
    false
}

/// The links whose current MAC is `mac`, and those whose permanent MAC is
/// `mac` but whose current one was changed; `true` marks the latter.
fn mac_matches<'a>(links: &'a [Link], mac: &str) -> Vec<(&'a Link, bool)> {
    links
        .iter()
        .filter_map(|l| {
            if l.mac == mac {
                Some((l, false))
            } else if l.perm_mac.as_deref() == Some(mac) {
                Some((l, true))
            } else {
                None
            }
        })
        .collect()
}

/// What device directory `dir` (`what`, e.g. "PCI device 0000:03:00.1")
/// offers: its one interface, or a userspace binding.
fn from_sysfs(sock: &mut Socket, dir: &Path, what: &str, by: &str) -> Result<Selected> {
    let net = sysfs_facts(dir, what, by)?;
    match net {
        Facts::Netdev(name) => {
            let link = sock.link_by_name(&name).map_err(Error::kernel(&format!("look up {name:?}")))?;
            link.map(Selected::Netdev).ok_or_else(|| {
                Error::new(
                    Kind::NotFound,
                    format!("{by}: {what} names interface {name:?} in sysfs, but the host network namespace has no such interface"),
                )
            })
        }
        Facts::Userspace { id, driver } => Ok(Selected::Userspace(Userspace { id, driver })),
    }
}

/// What sysfs says about a device directory, before any netlink lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Facts {
    Netdev(String),
    Userspace { id: String, driver: String },
}

fn sysfs_facts(dir: &Path, what: &str, by: &str) -> Result<Facts> {
    let net = sysfs::device_net(dir)
        .map_err(|e| Error::new(Kind::Unreadable, format!("{by}: cannot read {}: {e}", dir.display())))?;
    let (names, driver) = match net {
        DeviceNet::Missing => {
            return Err(Error::new(Kind::NotFound, format!("{by}: no such {what} ({} does not exist)", dir.display())));
        }
        DeviceNet::Netdevs { names, driver } => (names, driver),
    };
    match (names.as_slice(), driver) {
        ([name], _) => Ok(Facts::Netdev(name.clone())),
        ([], Some(driver)) if sysfs::is_userspace_driver(&driver) => {
            let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(Facts::Userspace { id, driver })
        }
        ([], driver) => {
            let driver = match driver {
                Some(d) => format!("bound to driver {d}; is its interface in another network namespace?"),
                None => "bound to no driver".to_string(),
            };
            Err(Error::new(
                Kind::NotFound,
                format!("{by}: {what} has no network interface in the host network namespace ({driver})"),
            ))
        }
        (many, _) => Err(Error::config(format!(
            "{by} is ambiguous: {what} has {} network interfaces: {}; select one with \"device\"",
            many.len(),
            many.join(", ")
        ))),
    }
}

/// The one device every selector names; code 7 when they disagree.
fn agree(picks: Vec<(String, Selected)>) -> Result<Selected> {
    let Some((_, first)) = picks.first() else {
        return Err(Error::config("no device selected"));
    };
    if picks.iter().all(|(_, p)| p.same_as(first)) {
        return Ok(first.clone());
    }
    let list: Vec<String> = picks.iter().map(|(by, p)| format!("{by} selects {}", p.describe())).collect();
    Err(Error::config(format!("the configured selectors name different devices: {}", list.join("; "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safedir::tests::TempDir;

    fn link(index: u32, name: &str, mac: &str, perm: Option<&str>) -> Link {
        Link { index, name: name.into(), mac: mac.into(), perm_mac: perm.map(str::to_string), ..Link::default() }
    }

    fn sel() -> Selector {
        Selector::default()
    }

    #[test]
    fn only_unforgeable_selectors_prove_a_physical_device() {
        let root = std::env::temp_dir().join(format!("hostdev-proven-{}", std::process::id()));
        let dev = root.join("devices/pci0000:00/0000:00:0d.0");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(root.join("bus/pci")).unwrap();
        std::os::unix::fs::symlink("../../../bus/pci", dev.join("subsystem")).unwrap();
        let sysfs = Sysfs::new(&root);
        let parent = |bus: &str, device: &str| Some(crate::netlink::Parent { bus: bus.into(), device: device.into() });
        let nic = Link {
            parent: parent("pci", "0000:00:0d.0"),
            ..link(5, "eth1", "02:00:00:00:00:99", Some("52:54:00:00:00:01"))
        };
        let sf = Link { parent: parent("auxiliary", "mlx5_core.sf.4"), ..link(6, "eth2", "02:00:00:00:00:98", None) };
        let s = |f: fn(&mut Selector)| {
            let mut sel = sel();
            f(&mut sel);
            sel
        };
        let proof = |sel: &Selector, l: &Link| proven_by(sel, l, &sysfs);
        assert_eq!(
            proof(&s(|x| x.pci_bus_id = Some("0000:00:0D.0".into())), &nic).unwrap(),
            "pciBusID \"0000:00:0D.0\""
        );
        assert!(proof(&s(|x| x.device_id = Some("0000:00:0d.0".into())), &nic).is_ok());
        assert!(proof(&s(|x| x.device_id = Some("mlx5_core.sf.4".into())), &sf).is_ok());
        assert!(proof(&s(|x| x.kernelpath = Some("/sys/devices/pci0000:00/0000:00:0d.0".into())), &nic).is_ok());
        assert!(proof(&s(|x| x.hwaddr = Some("52:54:00:00:00:01".into())), &nic).is_ok());
        // deviceID replaces pciBusID, as in selection.
        let both = s(|x| {
            x.pci_bus_id = Some("0000:00:01.0".into());
            x.device_id = Some("0000:00:0d.0".into());
        });
        assert!(proof(&both, &nic).is_ok());
        for (why, sel, l) in [
            ("a name", s(|x| x.device = Some("eth1".into())), &nic),
            ("a current MAC", s(|x| x.hwaddr = Some("02:00:00:00:00:98".into())), &sf),
            ("no parent", s(|x| x.pci_bus_id = Some("0000:00:0d.0".into())), &link(7, "v", "02:00:00:00:00:01", None)),
            ("another PCI function", s(|x| x.pci_bus_id = Some("0000:00:0e.0".into())), &nic),
            ("another aux device", s(|x| x.device_id = Some("mlx5_core.sf.5".into())), &sf),
            ("another kernelpath", s(|x| x.kernelpath = Some("/sys/devices/pci0000:00/0000:00:0e.0".into())), &nic),
            ("another permanent MAC", s(|x| x.hwaddr = Some("52:54:00:00:00:02".into())), &nic),
            (
                "one selector agrees, another does not",
                s(|x| {
                    x.pci_bus_id = Some("0000:00:0d.0".into());
                    x.hwaddr = Some("52:54:00:00:00:02".into());
                }),
                &nic,
            ),
        ] {
            assert!(proof(&sel, l).is_err(), "{why} proved {}", l.name);
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn hwaddr_matches_current_then_permanent_mac() {
        let links = [
            link(1, "lo", "00:00:00:00:00:00", None),
            // A NIC whose MAC was changed: its permanent MAC still selects it.
            link(2, "eth1", "02:00:00:00:00:99", Some("52:54:00:00:00:01")),
            link(3, "eth2", "52:54:00:00:00:02", Some("52:54:00:00:00:02")),
        ];
        assert_eq!(by_mac(&links, "52:54:00:00:00:01", "hwaddr").unwrap().name, "eth1");
        assert_eq!(by_mac(&links, "02:00:00:00:00:99", "hwaddr").unwrap().name, "eth1");
        assert_eq!(by_mac(&links, "52:54:00:00:00:02", "hwaddr").unwrap().name, "eth2");
        let e = by_mac(&links, "52:54:00:00:00:03", "hwaddr \"x\"").unwrap_err();
        assert_eq!(e.kind, Kind::NotFound);
        assert!(e.msg.contains("hwaddr \"x\""), "{}", e.msg);
    }

    #[test]
    fn hwaddr_shared_with_stacked_devices_is_the_lower_one() {
        let mac = "02:00:00:00:00:01";
        let stacked = |index, name, lower| Link { link: Some(lower), ..link(index, name, mac, None) };
        let links = [stacked(7, "vlan7", 3), link(3, "eth1", mac, None), stacked(8, "mv8", 7)];
        assert_eq!(by_mac(&links, mac, "hwaddr").unwrap().name, "eth1");
        // Two unrelated devices with the MAC, one with a stacked device: ambiguous.
        let links = [link(3, "eth1", mac, None), stacked(7, "vlan7", 3), link(4, "eth2", mac, None)];
        assert_eq!(by_mac(&links, mac, "hwaddr").unwrap_err().kind, Kind::Config);
    }

    #[test]
    fn hwaddr_shared_is_ambiguous() {
        // Two current MACs alike, and a current MAC taken from another
        // interface's permanent one: both are ambiguous, never a guess.
        let links = [
            link(2, "a", "02:00:00:00:00:01", None),
            link(3, "b", "02:00:00:00:00:01", None),
            link(4, "c", "02:00:00:00:00:09", Some("52:54:00:00:00:01")),
            link(5, "d", "52:54:00:00:00:01", Some("52:54:00:00:00:05")),
        ];
        for (mac, names) in [
            ("02:00:00:00:00:01", ["a (current MAC)", "b (current MAC)"]),
            ("52:54:00:00:00:01", ["c (permanent MAC; current 02:00:00:00:00:09)", "d (current MAC)"]),
        ] {
            let e = by_mac(&links, mac, "hwaddr").unwrap_err();
            assert_eq!(e.kind, Kind::Config);
            for n in names {
                assert!(e.msg.contains(n), "{} should list {n}", e.msg);
            }
        }
    }

    #[test]
    fn names_checks_records() {
        let l = Link {
            altnames: vec!["long-alt".into()],
            ..link(7, "eth1", "02:00:00:00:00:99", Some("52:54:00:00:00:01"))
        };
        assert!(could_name(&Selector { device: Some("eth1".into()), ..sel() }, &l));
        assert!(could_name(&Selector { device: Some("long-alt".into()), ..sel() }, &l));
        assert!(could_name(&Selector { hwaddr: Some("52:54:00:00:00:01".into()), ..sel() }, &l));
        assert!(could_name(&Selector { hwaddr: Some("02:00:00:00:00:99".into()), ..sel() }, &l));
        assert!(!could_name(&Selector { hwaddr: Some("02:00:00:00:00:98".into()), ..sel() }, &l));
        assert!(!could_name(&Selector { pci_bus_id: Some("0000:03:00.1".into()), ..sel() }, &l));
        // A PCI address names a record by its recorded parent (a held VF: 102, not 101).
        let vf =
            Link { parent: Some(crate::netlink::Parent { bus: "pci".into(), device: "0000:03:10.2".into() }), ..l };
        assert!(could_name(&Selector { pci_bus_id: Some("0000:03:10.2".into()), ..sel() }, &vf));
        assert!(could_name(&Selector { device_id: Some("0000:03:10.2".into()), ..sel() }, &vf));
        assert!(!could_name(&Selector { pci_bus_id: Some("0000:03:10.4".into()), ..sel() }, &vf));
        assert!(!could_name(
            &Selector { kernelpath: Some("/sys/devices/pci0000:00/0000:03:10.2".into()), ..sel() },
            &vf
        ));
    }

    #[test]
    fn macs_are_normalised() {
        assert_eq!(normal_mac("02:AB:00:01:FF:10").as_deref(), Some("02:ab:00:01:ff:10"));
        for bad in ["", "00:00:00:00:00:00", "02-ab-00-01-ff-10", "2:ab:0:1:ff:10", "zz:00:00:00:00:00"] {
            assert!(normal_mac(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn plan_checks_values_and_order() {
        let sysfs = Sysfs::new("/nonexistent-sysfs");
        let err = |s: Selector| plan(&s, &sysfs).unwrap_err();
        assert_eq!(err(sel()).kind, Kind::Config);
        for (s, key) in [
            (Selector { device: Some("".into()), ..sel() }, "device"),
            (Selector { device: Some("a/b".into()), ..sel() }, "device"),
            (Selector { hwaddr: Some("nope".into()), ..sel() }, "hwaddr"),
            (Selector { kernelpath: Some("/sys/class/net/eth0".into()), ..sel() }, "kernelpath"),
            (Selector { kernelpath: Some("/sys/devices/../bus/pci".into()), ..sel() }, "kernelpath"),
            (Selector { kernelpath: Some("sys/devices/x".into()), ..sel() }, "kernelpath"),
            (Selector { pci_bus_id: Some("03:00.1".into()), ..sel() }, "pciBusID"),
            (Selector { device_id: Some("../x".into()), ..sel() }, "deviceID"),
            (Selector { device_id: Some("".into()), ..sel() }, "deviceID"),
        ] {
            let e = err(s);
            assert_eq!(e.kind, Kind::Config, "{}", e.msg);
            assert!(e.msg.contains(key), "{} should name {key}", e.msg);
        }
        let all = Selector {
            device: Some("h1".into()),
            hwaddr: Some("02:AA:00:00:00:01".into()),
            kernelpath: Some("/sys/devices/pci0000:00/0000:03:00.1".into()),
            pci_bus_id: Some("not even checked".into()),
            device_id: Some("MLX5_core.sf.4".into()),
            device_id_top_level: false,
        };
        assert_eq!(
            plan(&all, &sysfs).unwrap(),
            vec![
                Want::Name("h1".into()),
                Want::Mac { value: "02:AA:00:00:00:01".into(), mac: "02:aa:00:00:00:01".into() },
                Want::KernelPath {
                    value: "/sys/devices/pci0000:00/0000:03:00.1".into(),
                    dir: PathBuf::from("/nonexistent-sysfs/devices/pci0000:00/0000:03:00.1")
                },
                Want::Aux { key: "runtimeConfig.deviceID", id: "MLX5_core.sf.4".into() },
            ]
        );
        let pci = plan(
            &Selector { pci_bus_id: Some("0000:03:00.1".into()), device_id: Some("0000:AF:00.2".into()), ..sel() },
            &sysfs,
        )
        .unwrap();
        assert_eq!(pci, vec![Want::Pci { key: "runtimeConfig.deviceID", addr: "0000:af:00.2".into() }]);
    }

    #[test]
    fn selectors_must_agree() {
        let a = Selected::Netdev(link(2, "a", "02:00:00:00:00:01", None));
        let b = Selected::Netdev(link(3, "b", "02:00:00:00:00:02", None));
        let u = Selected::Userspace(Userspace { id: "0000:03:00.1".into(), driver: "vfio-pci".into() });
        assert_eq!(agree(vec![("device \"a\"".into(), a.clone()), ("hwaddr \"x\"".into(), a.clone())]).unwrap(), a);
        assert_eq!(agree(vec![("kernelpath".into(), u.clone()), ("pciBusID".into(), u.clone())]).unwrap(), u);
        for picks in [vec![a.clone(), b.clone()], vec![a.clone(), u.clone()], vec![a.clone(), a.clone(), b.clone()]] {
            let named: Vec<(String, Selected)> =
                picks.into_iter().enumerate().map(|(i, p)| (format!("sel{i}"), p)).collect();
            let e = agree(named).unwrap_err();
            assert_eq!(e.kind, Kind::Config);
            assert!(e.msg.contains("sel0 selects a") && e.msg.contains("sel1 selects"), "{}", e.msg);
        }
    }

    /// A fake sysfs tree in a temp dir, removed on drop.
    struct Tree(TempDir);

    impl Tree {
        fn new(tag: &str) -> Tree {
            let dir = TempDir::new(&format!("device-{tag}"));
            std::fs::create_dir_all(&dir.0).unwrap();
            Tree(dir)
        }
        fn root(&self) -> &Path {
            &self.0.0
        }
        fn dir(&self, rel: &str) -> PathBuf {
            let p = self.root().join(rel);
            std::fs::create_dir_all(&p).unwrap();
            p
        }
        fn driver(&self, rel: &str, driver: &str) {
            std::os::unix::fs::symlink(format!("../../../../bus/pci/drivers/{driver}"), self.dir(rel).join("driver"))
                .unwrap();
        }
    }

    #[test]
    fn sysfs_facts_cover_every_case() {
        let t = Tree::new("facts");
        let s = Sysfs::new(t.root());
        t.dir("bus/pci/devices/0000:03:00.1/net/h1");
        t.dir("bus/pci/devices/0000:03:00.2/net/a");
        t.dir("bus/pci/devices/0000:03:00.2/net/b");
        t.dir("bus/pci/devices/0000:00:04.0/virtio3/net/v1");
        t.driver("bus/pci/devices/0000:03:00.3", "vfio-pci");
        t.driver("bus/pci/devices/0000:03:00.4", "igb_uio");
        t.driver("bus/pci/devices/0000:03:00.5", "ixgbevf");
        t.dir("bus/pci/devices/0000:03:00.6");
        t.dir("bus/auxiliary/devices/mlx5_core.sf.4/net/sf4");
        let facts = |dir: PathBuf| sysfs_facts(&dir, "the device", "sel");
        let pci = |a: &str| facts(s.pci_device(a));
        assert_eq!(pci("0000:03:00.1").unwrap(), Facts::Netdev("h1".into()));
        assert_eq!(pci("0000:00:04.0").unwrap(), Facts::Netdev("v1".into()));
        assert_eq!(facts(s.aux_device("mlx5_core.sf.4")).unwrap(), Facts::Netdev("sf4".into()));
        assert_eq!(
            pci("0000:03:00.3").unwrap(),
            Facts::Userspace { id: "0000:03:00.3".into(), driver: "vfio-pci".into() }
        );
        assert_eq!(
            pci("0000:03:00.4").unwrap(),
            Facts::Userspace { id: "0000:03:00.4".into(), driver: "igb_uio".into() }
        );
        let e = pci("0000:03:00.2").unwrap_err();
        assert_eq!(e.kind, Kind::Config);
        assert!(e.msg.contains("a, b"), "{}", e.msg);
        for (addr, says) in
            [("0000:03:00.5", "ixgbevf"), ("0000:03:00.6", "no driver"), ("0000:09:00.0", "does not exist")]
        {
            let e = pci(addr).unwrap_err();
            assert_eq!(e.kind, Kind::NotFound, "{addr}");
            assert!(e.msg.contains(says) && e.msg.starts_with("sel: "), "{}", e.msg);
        }
    }

    /// `select` returns the userspace binding without touching netlink
    /// (the socket is opened in this process's namespace but never used).
    #[test]
    fn select_returns_userspace_devices() {
        let t = Tree::new("select");
        let s = Sysfs::new(t.root());
        t.driver("bus/pci/devices/0000:03:00.3", "vfio-pci");
        t.driver("devices/pci0000:00/0000:03:00.3", "vfio-pci");
        t.driver("bus/auxiliary/devices/x.sf.1", "uio_pci_generic");
        // A netlink socket always opens here (tests run as root on Linux):
        // a test that skipped itself without one would pass for nothing.
        let mut sock = Socket::open().expect("a netlink socket");
        let want = Selected::Userspace(Userspace { id: "0000:03:00.3".into(), driver: "vfio-pci".into() });
        let by_pci = Selector { pci_bus_id: Some("0000:03:00.3".into()), ..sel() };
        assert_eq!(select_in(&mut sock, &by_pci, &s, &mut None).unwrap(), want);
        let by_id =
            Selector { device_id: Some("0000:03:00.3".into()), pci_bus_id: Some("0000:99:00.0".into()), ..sel() };
        assert_eq!(select_in(&mut sock, &by_id, &s, &mut None).unwrap(), want);
        let both = Selector { kernelpath: Some("/sys/devices/pci0000:00/0000:03:00.3".into()), ..by_pci.clone() };
        assert_eq!(select_in(&mut sock, &both, &s, &mut None).unwrap(), want);
        let aux = Selector { device_id: Some("x.sf.1".into()), ..sel() };
        assert_eq!(
            select_in(&mut sock, &aux, &s, &mut None).unwrap(),
            Selected::Userspace(Userspace { id: "x.sf.1".into(), driver: "uio_pci_generic".into() })
        );
        let other = Selector { device_id: Some("x.sf.1".into()), kernelpath: both.kernelpath.clone(), ..sel() };
        assert_eq!(select_in(&mut sock, &other, &s, &mut None).unwrap_err().kind, Kind::Config);
    }
}
