//! SR-IOV VFs: which PF a VF netdev belongs to and which VF number it is
//! there (sysfs: `physfn`, `virtfnN`), and its admin state, which the PF
//! holds (VLAN, QoS, spoof check, trust, link state, rates, admin MAC).
//! ADD snapshots that state into the record before changing anything,
//! applies the declared keys before the move, and the one way home
//! (`cmd::home`) puts the snapshot back.

mod change;
mod error;
pub mod find;

use nix::errno::Errno;

use crate::netlink::link::{down_request, set_link_request, up_request};
use crate::netlink::vf::{VfSetting, VfState};
use crate::netlink::{Link, LinkChange, Socket};
use crate::sysfs::Sysfs;
use crate::{info, warn};

use crate::cni::vf::VfAdmin;
use error::refused_request;
pub use error::{Error, Kind, Result};
pub use find::{Vf, pci_of};

/// What a record keeps of a VF whose state hostdev changed: where it is
/// and what the PF reported for it before ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VfRecord {
    pub vf: Vf,
    /// The VF's state as its PF reported it before ADD.
    pub was: VfState,
}

/// The snapshot ADD records when the config declares VF keys: refused
/// (7) when the device is no VF with a PF on this host.
pub fn snapshot(sock: &mut Socket, sysfs: &Sysfs, link: &Link, admin: &VfAdmin) -> Result<Option<VfRecord>> {
    if !admin.is_set() {
        return Ok(None);
    }
    let Some(vf) = Vf::of(sysfs, link)? else {
        // `mac` is the interface's MAC in the pod, for any device (the
        // declared settings set it in the move); only a VF's sets it
        // through the PF. The other keys need a PF.
        let keys: Vec<&str> = admin.keys().into_iter().filter(|k| *k != "mac").collect();
        if keys.is_empty() {
            return Ok(None);
        }
        return Err(Error::config(format!(
            "config keys {keys:?} set a VF's state through its PF, and {} has no PF on this host (it is no SR-IOV VF, or the PF belongs to another host, as for a VF passed into a VM)",
            link.name
        )));
    };
    let was = read_state(sock, &vf)?;
    info!("recorded the VF's state"; pf = vf.pf, vf = vf.number, mac = was.mac, vlan = was.vlan);
    Ok(Some(VfRecord { vf, was }))
}

/// Applies the declared keys through the PF, then gives the VF's netdev
/// (`link`, on the host) the declared MAC. The first refusal fails, naming
/// the key and the kernel's error; the caller's undo restores the snapshot.
pub fn apply(sock: &mut Socket, rec: &VfRecord, admin: &VfAdmin, link: &Link) -> Result<()> {
    let want = change::wanted(admin, &rec.was);
    write(sock, &rec.vf, &rec.was, &want)?;
    if let Some(mac) = &admin.mac {
        take_mac(sock, link, mac)?;
    }
    Ok(())
}

/// Puts the snapshot back through the PF (admin MAC first), then the VF's
/// own MAC, which some drivers (igb) refuse to change while the PF holds
/// another admin MAC. Returns the link as it is now.
pub fn restore(sock: &mut Socket, rec: &VfRecord, link: &Link, mac: &str) -> Result<Link> {
    let have = read_state(sock, &rec.vf)?;
    write(sock, &rec.vf, &have, &rec.was)?;
    if link.mac != mac {
        take_mac(sock, link, mac)?;
    }
    sock.link_by_index(link.index)
        .map_err(Error::kernel("look up the VF again"))?
        .ok_or_else(|| Error::new(Kind::Kernel, format!("VF {} vanished while its state was restored", link.name)))
}

/// The VF's state as its PF reports it now.
fn read_state(sock: &mut Socket, vf: &Vf) -> Result<VfState> {
    let pf = vf.pf_index(sock)?;
    sock.vf_state(pf, vf.number)
        .map_err(Error::kernel(&format!("read the state of VF {} from PF {}", vf.number, vf.pf)))?
        .ok_or_else(|| Error::new(Kind::Kernel, format!("PF {} reports no VF {}", vf.pf, vf.number)))
}

/// The requests from `have` to `want`, one at a time.
fn write(sock: &mut Socket, vf: &Vf, have: &VfState, want: &VfState) -> Result<()> {
    let pf = vf.pf_index(sock)?;
    for setting in change::changes(have, want) {
        sock.set_vf(pf, vf.number, &setting).map_err(|e| refused(e, vf, &setting))?;
        info!("set the VF's state"; pf = vf.pf, vf = vf.number, setting = setting.describe());
    }
    Ok(())
}

fn refused(e: crate::netlink::NlError, vf: &Vf, setting: &VfSetting) -> Error {
    let what = format!("set {} on VF {} of PF {} (the driver refused it)", setting.describe(), vf.number, vf.pf);
    Error::kernel(&what)(e)
}

/// Gives the VF's netdev the MAC its PF now holds for it. A driver that
/// refuses the change (igb: EADDRNOTAVAIL once an admin MAC is set) takes
/// it when it resets, which it does when the link goes down: so the link
/// goes up and down once, on the host, before it moves.
fn take_mac(sock: &mut Socket, link: &Link, mac: &str) -> Result<()> {
    let set = set_link_request(link.index, &LinkChange { mac: Some(mac.to_string()), ..LinkChange::default() });
    match sock.batch(vec![set]).map_err(Error::kernel("set the VF's MAC"))?.pop() {
        None => return Ok(()),
        Some(f) if f.is(Errno::EADDRNOTAVAIL) => {}
        Some(f) => return Err(refused_request(f)),
    }
    let mut cycle = vec![down_request(link.index)];
    if !link.up {
        cycle.insert(0, up_request(link.index));
    }
    if let Some(f) = sock.batch(cycle).map_err(Error::kernel("reset the VF"))?.pop() {
        warn!("resetting {} so that it takes its MAC failed: {f}", link.name);
    }
    let now = sock.link_by_index(link.index).map_err(Error::kernel("look up the VF"))?;
    match now {
        Some(l) if l.mac == mac => Ok(()),
        other => Err(Error::new(
            Kind::Kernel,
            format!(
                "VF {} does not take MAC {mac} (it has {}): its driver refuses the change and did not reload it from the PF",
                link.name,
                other.map_or("vanished".into(), |l| l.mac)
            ),
        )),
    }
}
