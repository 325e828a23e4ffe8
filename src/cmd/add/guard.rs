//! ADD's refusals before anything changes: what would cut the node off
//! its network, strand stacked devices, or clash in the container.

use crate::cmd::errors::kernel_error;
use crate::cni::{Error, Result, code};
use crate::netlink::route::RouteEntry;
use crate::netlink::{Link, Master, Socket};

/// Moving the interface that carries the host's default route, or whose
/// bridge (bond) or stacked devices (macvlan, vlan, ...) carry it, would
/// cut the node off its network: refused unless the config allows it.
pub(super) fn guard_default_route(routes: &[RouteEntry], link: &Link, stack: &Stack, allowed: bool) -> Result<()> {
    if allowed {
        return Ok(());
    }
    let Some(default) = routes.iter().find(|r| r.is_default()) else { return Ok(()) };
    // The stack names only its master and uppers, never the link itself.
    let via = default.oif.and_then(|i| stack.describe(i)).map(|other| format!(" through {other}")).unwrap_or_default();
    Err(Error::new(
        code::DEFAULT_ROUTE,
        format!(
            "device {:?} carries the host's default route ({}, table {}){via}; moving it would cut the host off the network. Set \"allowDefaultRoute\": true to do it anyway",
            link.name, default.dst, default.table
        ),
    ))
}

/// Moving a device that others are stacked on strands them on the host
/// with a lower device they cannot reach: refused unless the config allows it.
pub(super) fn guard_upper_devices(link: &Link, stack: &Stack, allowed: bool) -> Result<()> {
    if allowed || stack.uppers.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = stack.uppers.iter().map(describe).collect();
    Err(Error::new(
        code::DEVICE_IMMOVABLE,
        format!(
            "device {:?} has devices stacked on it: {}; moving it would strand them on the host without their lower device. Set \"allowUpperDevices\": true to move it anyway",
            link.name,
            names.join(", ")
        ),
    ))
}

/// A link as errors name it: `"mv0" (macvlan)`.
pub(super) fn describe(l: &Link) -> String {
    match &l.kind {
        Some(kind) => format!("{:?} ({kind})", l.name),
        None => format!("{:?}", l.name),
    }
}

/// The devices around the one being moved: its master (a bridge, bond or
/// team it is a port of) and the devices stacked on it.
pub(super) struct Stack {
    master: Option<Link>,
    uppers: Vec<Link>,
}

impl Stack {
    /// Reads `link`'s stack from `all` (one dump of the host's links), and
    /// gives its recorded master the name it has.
    pub(super) fn of(link: &mut Link, all: &[Link]) -> Stack {
        let master = link.master.as_ref().and_then(|m| all.iter().find(|l| l.index == m.index)).cloned();
        // A master that vanished since the dump began is no master to restore.
        link.master = master.as_ref().map(|m| Master { index: m.index, name: m.name.clone() });
        Stack { master, uppers: link.uppers(all).into_iter().cloned().collect() }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.master.is_none() && self.uppers.is_empty()
    }

    /// The stacked device with index `index`, as errors name it.
    pub(super) fn describe(&self, index: u32) -> Option<String> {
        if let Some(m) = self.master.as_ref().filter(|m| m.index == index) {
            return Some(format!("its master {}", describe(m)));
        }
        self.uppers.iter().find(|u| u.index == index).map(|u| format!("the device stacked on it {}", describe(u)))
    }

    /// The indices whose routes matter to the guard: the device's own and
    /// its stack's.
    pub(super) fn indices(&self, link: &Link) -> Vec<u32> {
        let mut all = vec![link.index];
        all.extend(self.master.iter().map(|m| m.index));
        all.extend(self.uppers.iter().map(|u| u.index));
        all
    }
}

/// Refuses, before anything changes, what the kernel would refuse only
/// after moving the device: a taken CNI_IFNAME, or a clash with one of the
/// device's altnames.
pub(super) fn check_container(ctr: &mut Socket, ifname: &str, link: &Link) -> Result<()> {
    if ctr.index_of(ifname).map_err(kernel_error("look up CNI_IFNAME in the container"))?.is_some() {
        return Err(Error::new(code::NAME_CLASH, format!("CNI_IFNAME {ifname:?} already exists in the container")));
    }
    for alt in &link.altnames {
        if ctr.index_of(alt).map_err(kernel_error("look up altnames in the container"))?.is_some() {
            return Err(Error::new(
                code::NAME_CLASH,
                format!(
                    "device {:?} has altname {alt:?}, and an interface with that name exists in the container",
                    link.name
                ),
            ));
        }
    }
    Ok(())
}
