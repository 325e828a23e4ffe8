//! Declared settings (see cni/declare.rs) and the host-side state the
//! kernel does not carry home: checked against the device before anything
//! changes, applied in the pod, verified by CHECK, and the host's own put
//! back by `home::restore`. MTU, MAC, queue length and the GSO/GRO sizes
//! travel in the move itself (one RTM_NEWLINK); sysctls and features right
//! after it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;

use crate::cmd::errors::kernel_error;
use crate::cmd::{Container, Host};
use crate::cni::declare::Declared;
use crate::cni::error::config_error;
use crate::cni::{Error, NetConf, Result, code};
use crate::netlink::ethtool::{Ethtool, Features, Kept, members};
use crate::netlink::gso::GRO_MAX;
use crate::netlink::socket::in_namespace;
use crate::netlink::{Link, LinkChange, NlError, NlResult, sysctl};
use crate::state::{Facts, Record};
use crate::warn;

/// What ADD applies, resolved against the device.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Carried by the move.
    pub link: LinkChange,
    /// Kernel feature names, on or off; with the device's features.
    pub features: BTreeMap<String, bool>,
    pub device_features: Features,
    /// (config key, "ipv4.arp_ignore", value).
    pub sysctls: Vec<(String, String, String)>,
}

/// Reads what the host has set on `link` that a move loses or a pod may
/// change (its per-device sysctls, its features), into `rec`, and resolves
/// the declared settings against it: code 7 naming the key and value when
/// the device cannot take one. Nothing has changed yet.
pub fn prepare(conf: &NetConf, ifname: &str, link: &Link, rec: &mut Record, kernel: &mut Facts) -> Result<Plan> {
    let d = &conf.declared;
    rec.sysctls = sysctl::snapshot(&link.name, link, &kernel.sysctl).into();
    let device_features = match read_features(&link.name, &mut kernel.ethtool) {
        Ok(f) => f,
        Err(e) if d.features.is_empty() => {
            warn!("the features of {} cannot be read, so they are not kept: {e}", link.name);
            Features::default()
        }
        Err(e) => return Err(ethtool_error(e)),
    };
    rec.features = device_features.wanted().into();
    check_mtu(d, link)?;
    check_sizes(d, link)?;
    let plan = Plan {
        link: LinkChange {
            mtu: d.mtu,
            mac: d.mac.as_ref().map(|(_, m)| m.clone()),
            txqlen: d.txqlen,
            sizes: d.sizes,
            ..LinkChange::default()
        },
        features: resolve_features(d, &device_features, &link.name)?,
        sysctls: resolve_sysctls(d, ifname, &link.name, &rec.sysctls)?,
        device_features,
    };
    Ok(plan)
}

/// The features of `name` on the host, read with what is `kept` of the
/// ethtool family for the boot, which the read then updates.
fn read_features(name: &str, kept: &mut Option<Kept>) -> NlResult<Features> {
    let mut eth = Ethtool::open_kept(kept.as_ref())?;
    let features = Features::read(&mut eth, name)?;
    *kept = Some(eth.kept(&features));
    Ok(features)
}

fn check_mtu(d: &Declared, link: &Link) -> Result<()> {
    match (d.mtu, link.mtu_range) {
        (Some(mtu), Some((min, max))) if mtu < min || (max > 0 && mtu > max) => Err(config_error(format!(
            "config key \"mtu\" {mtu} is outside the range {} takes ({min} to {max})",
            link.name
        ))),
        _ => Ok(()),
    }
}

/// The GSO sizes up to the device's tso_max_size, the GRO ones up to the
/// kernel's limit (it would refuse them after the move), and only sizes
/// the kernel has (the IPv4 ones came with 6.3; an older one ignores them).
fn check_sizes(d: &Declared, link: &Link) -> Result<()> {
    let have = link.sizes.keyed();
    for ((key, want), (_, now)) in d.sizes.keyed().into_iter().zip(have) {
        let Some(want) = want else { continue };
        let dev = &link.name;
        let (limit, whose) = if key.starts_with("gso") {
            (link.tso_max_size, format!("{dev} takes (its tso_max_size)"))
        } else {
            (Some(GRO_MAX), "the kernel takes for GRO".to_string())
        };
        if now.is_none() {
            return Err(config_error(format!(
                "config key {key:?} {want}: this kernel has no such size for {dev} (the IPv4 sizes came with Linux 6.3)"
            )));
        }
        if let Some(limit) = limit.filter(|l| want > *l) {
            return Err(config_error(format!("config key {key:?} {want} is above the largest size {whose}: {limit}")));
        }
    }
    Ok(())
}

/// The kernel refuses a GSO size below its floor (MAX_TCP_HEADER, which
/// depends on how it was built) with ERANGE, for the whole move message,
/// before anything moved; nothing else in that message has a range. So
/// the smallest declared GSO size is the one it refused.
pub fn refused_size(e: &NlError, plan: &Plan) -> Option<Error> {
    if !e.is(nix::errno::Errno::ERANGE) {
        return None;
    }
    let s = &plan.link.sizes;
    let (key, size) = [("gsoMaxSize", s.gso), ("gsoIPv4MaxSize", s.gso_ipv4)]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .min_by_key(|(_, v)| *v)?;
    Some(config_error(format!("config key {key:?} {size} is below the smallest GSO size the kernel takes: {e}")))
}

/// Each declared feature as the kernel features it stands for, those the
/// driver lets change.
fn resolve_features(d: &Declared, have: &Features, dev: &str) -> Result<BTreeMap<String, bool>> {
    let mut out = BTreeMap::new();
    for (name, on) in &d.features {
        let all = members(have, name);
        if all.is_empty() {
            return Err(config_error(format!(
                "config key \"ethtool.features\" names {name:?}: {on}, which {dev} does not have (`ethtool -k {dev}` lists what it has)"
            )));
        }
        let changeable: Vec<&str> = all.into_iter().filter(|m| have.get(m).is_some_and(|f| f.changeable)).collect();
        if changeable.is_empty() {
            return Err(config_error(format!(
                "config key \"ethtool.features\" sets {name:?} to {on}, but the driver of {dev} does not let it change"
            )));
        }
        out.extend(changeable.into_iter().map(|m| (m.to_string(), *on)));
    }
    Ok(out)
}

/// Each declared sysctl: of CNI_IFNAME (or `IFNAME`), and one the device
/// has: in `snapshot` (its trees, just read), else a file there (one the
/// snapshot leaves out, IPv6's `mtu`).
fn resolve_sysctls(
    d: &Declared,
    ifname: &str,
    dev: &str,
    snapshot: &BTreeMap<String, String>,
) -> Result<Vec<(String, String, String)>> {
    d.sysctls
        .iter()
        .map(|s| {
            let entry = format!("config key \"sysctl\" entry {:?}: {:?}", s.key, s.value);
            if s.ifname != "IFNAME" && s.ifname != ifname {
                return Err(config_error(format!(
                    "{entry} names interface {}, not CNI_IFNAME {ifname} (write IFNAME): only the interface's own tree is hostdev's to set",
                    s.ifname
                )));
            }
            if !snapshot.contains_key(&s.leaf) && !std::path::Path::new(&sysctl::path(dev, &s.leaf)).exists() {
                return Err(config_error(format!("{entry}: there is no such sysctl for {dev}")));
            }
            Ok((s.key.clone(), s.leaf.clone(), s.value.clone()))
        })
        .collect()
}

/// In the pod, right after the move: the sysctls (each refused value is
/// code 7 naming it), then the features in one request.
pub fn apply_in_pod(ctr: &Container, host: &Host, ifname: &str, plan: &Plan) -> Result<()> {
    let leaves: Vec<&str> = plan.sysctls.iter().map(|(_, leaf, _)| leaf.as_str()).collect();
    let Some(pod) = Pod::enter(ctr, host, ifname, &leaves, true, !plan.features.is_empty())? else {
        return Ok(());
    };
    for ((key, _, value), file) in plan.sysctls.iter().zip(pod.sysctls) {
        file.and_then(|mut f| f.write_all(value.as_bytes()).map_err(NlError::io("write"))).map_err(|e| {
            config_error(format!("config key \"sysctl\" entry {key:?}: {value:?} is refused by the kernel: {e}"))
        })?;
    }
    if let Some(ethtool) = pod.ethtool {
        ethtool.and_then(|mut e| plan.device_features.set(&mut e, ifname, &plan.features)).map_err(ethtool_error)?;
    }
    Ok(())
}

/// What the declared settings are set and read through in the pod, made
/// in one namespace switch: the sysctl files, an ethtool netlink socket.
struct Pod {
    sysctls: Vec<NlResult<File>>,
    ethtool: Option<NlResult<Ethtool>>,
}

impl Pod {
    /// The files of `leaves` (to write or read), and a socket if
    /// `features`; None when neither is wanted.
    fn enter(
        ctr: &Container,
        host: &Host,
        ifname: &str,
        leaves: &[&str],
        write: bool,
        features: bool,
    ) -> Result<Option<Pod>> {
        if leaves.is_empty() && !features {
            return Ok(None);
        }
        in_namespace(ctr.ns.as_fd(), host.ns.as_fd(), || Pod {
            sysctls: sysctl::open_here(ifname, leaves, write),
            ethtool: features.then(Ethtool::open),
        })
        .map(Some)
        .map_err(kernel_error("enter the container"))
    }
}

/// On the host, before the addresses come back: the per-device sysctls the
/// move reset (IPv6 enabled again before its addresses, on a host whose
/// default disables it), and the features the pod may have changed (read
/// with what is `kept` of the ethtool family for the boot). What cannot be
/// put back is a warning: the interface is home all the same.
pub fn restore_host(name: &str, link: &Link, rec: &Record, kept: Option<&Kept>) {
    let have = sysctl::current(name, link, rec.sysctls.keys());
    for (key, want) in rec.sysctls.iter() {
        if have.get(key) == Some(want) {
            continue;
        }
        if let Err(e) = sysctl::write(name, key, want) {
            warn!("cannot give {name} back its sysctl {key} = {want}: {e}");
        }
    }
    if rec.features.is_empty() {
        return;
    }
    let put_back = |mut e: Ethtool| Features::read(&mut e, name).and_then(|f| f.set(&mut e, name, &rec.features));
    if let Err(e) = Ethtool::open_kept(kept).and_then(put_back) {
        warn!("cannot give {name} back its features: {e}");
    }
}

/// CHECK: the declared settings hold in the pod; 108 naming what differs.
pub fn check(ctr: &Container, host: &Host, ifname: &str, conf: &NetConf, link: &Link) -> Result<()> {
    let d = &conf.declared;
    let failed = |what: String| check_failed(ifname, what);
    if let Some(mtu) = d.mtu.filter(|m| *m != link.mtu) {
        return failed(format!("has MTU {}, the config's mtu says {mtu}", link.mtu));
    }
    if let Some((key, mac)) = d.mac.as_ref().filter(|(_, m)| !m.eq_ignore_ascii_case(&link.mac)) {
        return failed(format!("has MAC {}, the config's {key} says {mac}", link.mac));
    }
    if let Some(q) = d.txqlen.filter(|q| Some(*q) != link.txqlen) {
        return failed(format!("has queue length {}, the config's txQLen says {q}", link.txqlen.unwrap_or(0)));
    }
    for ((key, want), (_, have)) in d.sizes.keyed().into_iter().zip(link.sizes.keyed()) {
        if let Some(want) = want.filter(|w| Some(*w) != have) {
            return failed(format!("has {key} {}, the config says {want}", have.unwrap_or(0)));
        }
    }
    check_in_pod(ctr, host, ifname, d)
}

/// CHECK's half that asks inside the pod: the features, the sysctls.
fn check_in_pod(ctr: &Container, host: &Host, ifname: &str, d: &Declared) -> Result<()> {
    let failed = |what: String| check_failed(ifname, what);
    let leaves: Vec<&str> = d.sysctls.iter().map(|s| s.leaf.as_str()).collect();
    let Some(pod) = Pod::enter(ctr, host, ifname, &leaves, false, !d.features.is_empty())? else {
        return Ok(());
    };
    if let Some(ethtool) = pod.ethtool {
        let have = ethtool.and_then(|mut e| Features::read(&mut e, ifname)).map_err(ethtool_error)?;
        for (name, on) in &d.features {
            let differs =
                members(&have, name).into_iter().filter_map(|m| have.get(m)).any(|f| f.changeable && f.active != *on);
            if differs {
                return failed(format!("has ethtool feature {name} {}, the config says {}", onoff(!on), onoff(*on)));
            }
        }
    }
    for (s, file) in d.sysctls.iter().zip(pod.sysctls) {
        let have = file.and_then(|f| sysctl::read_file(&f)).map_err(kernel_error("read a sysctl in the container"))?;
        if have != s.value {
            return failed(format!("has sysctl {} = {have:?}, the config says {:?}", s.key, s.value));
        }
    }
    Ok(())
}

/// A failed ethtool request as code 100: the error already names what
/// was asked of which device (or that the kernel lacks the family).
fn ethtool_error(e: NlError) -> Error {
    Error::new(code::KERNEL, e.to_string())
}

/// CHECK's answer when the interface is not as declared: 108 naming what.
fn check_failed(ifname: &str, what: String) -> Result<()> {
    Err(Error::new(code::CHECK_FAILED, format!("interface {ifname} {what}")))
}

fn onoff(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}
