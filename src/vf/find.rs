//! Finding a VF's PF and its number there in sysfs: the VF's PCI function
//! has a `physfn` link to its PF's, and the PF's has `virtfnN` links, one
//! per VF. A VF passed into a VM has no `physfn` there: its PF belongs to
//! another host.

use std::path::Path;

use super::error::{Error, Kind, Result};
use crate::netlink::{Link, Socket};
use crate::sysfs::{Sysfs, bus_device};

/// A VF and its PF, as sysfs shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vf {
    /// The VF's PCI address.
    pub pci: String,
    /// The PF's PCI address.
    pub pf_pci: String,
    /// The PF's interface name when ADD looked (a hint: found again by
    /// its PCI address).
    pub pf: String,
    /// The VF's number on its PF (`virtfnN`).
    pub number: u32,
}

/// The PCI address of `link`'s device: its parent as the kernel reports
/// it, or sysfs's `class/net/<name>/device` (which a test tree can fake).
pub fn pci_of(sysfs: &Sysfs, link: &Link) -> Option<String> {
    if let Some(p) = link.parent.as_ref().filter(|p| p.bus == "pci") {
        return Some(p.device.clone());
    }
    let (bus, device) = bus_device(&sysfs.root().join("class/net").join(&link.name).join("device"))?;
    (bus == "pci").then_some(device)
}

impl Vf {
    /// `link` as a VF with its PF on this host; None when it is none.
    pub fn of(sysfs: &Sysfs, link: &Link) -> Result<Option<Vf>> {
        let Some(pci) = pci_of(sysfs, link) else { return Ok(None) };
        let dev = sysfs.pci_device(&pci);
        let Some(pf_pci) = real_name(&dev.join("physfn")) else { return Ok(None) };
        let pf_dir = sysfs.pci_device(&pf_pci);
        let number = virtfn_number(&pf_dir, &pci)
            .ok_or_else(|| Error::new(Kind::NotFound, format!("PF {pf_pci} lists no virtfn for VF {pci} in sysfs")))?;
        let pf = pf_netdev(sysfs, &pf_pci)?;
        Ok(Some(Vf { pci, pf_pci, pf, number }))
    }

    /// The PF's interface index now, found by its PCI address.
    pub fn pf_index(&self, sock: &mut Socket) -> Result<u32> {
        let name = pf_netdev(&Sysfs::from_env(), &self.pf_pci)?;
        let index = sock.index_of(&name).map_err(Error::kernel(&format!("look up PF {name}")))?;
        index.ok_or_else(|| {
            Error::new(Kind::NotFound, format!("PF {name} ({}) is not in the host namespace", self.pf_pci))
        })
    }
}

/// The one interface of PF `pf_pci`.
fn pf_netdev(sysfs: &Sysfs, pf_pci: &str) -> Result<String> {
    let dir = sysfs.pci_device(pf_pci);
    match crate::sysfs::device_net(&dir) {
        Ok(crate::sysfs::DeviceNet::Netdevs { names, .. }) if names.len() == 1 => Ok(names[0].clone()),
        other => Err(Error::new(
            Kind::NotFound,
            format!("PF {pf_pci} has no single interface in sysfs ({other:?}): its VF state cannot be read or set"),
        )),
    }
}

/// N of the `virtfnN` link of `pf_dir` that leads to `vf_pci`.
fn virtfn_number(pf_dir: &Path, vf_pci: &str) -> Option<u32> {
    std::fs::read_dir(pf_dir).ok()?.flatten().find_map(|e| {
        let name = e.file_name().into_string().ok()?;
        let n = name.strip_prefix("virtfn")?.parse().ok()?;
        (real_name(&e.path()).as_deref() == Some(vf_pci)).then_some(n)
    })
}

/// The last component of what `link` resolves to.
fn real_name(link: &Path) -> Option<String> {
    Some(link.canonicalize().ok()?.file_name()?.to_string_lossy().into_owned())
}
