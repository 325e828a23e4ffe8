//! Where is the interface a record describes? Answered only on identity a
//! container cannot forge (the record's `Anchor`): the host-side peer of a
//! veth, the lower device of a macvlan, the parent device of a physical
//! NIC. Index, name, MAC and kind only choose among proven candidates.
//!
//! The container is hostile: it can delete our interface and create another
//! one with the same index, name, MAC and kind, move ours into a namespace
//! of its own, or have its namespace destroyed. Each answer says which.

use std::os::fd::AsFd;

use crate::cmd::{Container, Host, kernel_error};
use crate::cni::Result;
use crate::netlink::{Link, Socket};
use crate::state::{Anchor, Record, Unprovable};

/// Where the interface is.
#[derive(Debug)]
pub enum Place {
    /// In the container's namespace, proven.
    Container(Link),
    /// In the host's namespace, proven.
    Host(Link),
    /// Proven alive, but in a namespace hostdev cannot reach: the container
    /// moved it on, or (`dying`: the container's namespace is being
    /// destroyed, or no longer has a path) it is about to die with it.
    Elsewhere { why: String, dying: bool },
    /// Proven destroyed.
    Dead(String),
    /// Nothing proves where it is or that it is gone.
    Unknown(String),
}

/// Link kinds whose lower device is what `Anchor::Lower` names. A
/// container holding one can make a sibling on it (the kernel hangs it off
/// the real lower device), so the lower proves the family, not the device:
/// a sibling passes only when it matches the record in every attribute
/// (kind, mode, flags, vlan id), and then, on the host, it is a plain
/// device on the host's lower that the container holds nothing of. Not so
/// macvtap and ipvtap: whoever opens their /dev/tapN holds a descriptor on
/// the device's traffic, so they are unprovable (see the README).
const UPPER_KINDS: [&str; 3] = ["macvlan", "ipvlan", "vlan"];

/// What will prove, later, that a link on the host now is this device.
pub fn anchor_of(link: &Link) -> Anchor {
    let kind = link.kind.as_deref().unwrap_or("");
    match (link.link, link.link_netnsid) {
        _ if link.parent.is_some() => Anchor::Parent,
        (Some(index), None) if kind == "veth" => Anchor::Peer { index },
        (Some(index), None) if UPPER_KINDS.contains(&kind) => Anchor::Lower { index },
        _ => Anchor::Unprovable,
    }
}

/// Finds `rec`'s interface: in the container `ctr` when given, else (or
/// then) on the host.
pub fn locate(host: &mut Host, ctr: Option<&mut Container>, rec: &Record) -> Result<Place> {
    match rec.anchor {
        Anchor::Peer { index } => veth(host, ctr, index),
        Anchor::Lower { .. } if !UPPER_KINDS.contains(&rec.host.kind.as_deref().unwrap_or("")) => Ok(unprovable(rec)),
        Anchor::Lower { index } => by_anchor(host, ctr, rec, |l, host_id| {
            l.link == Some(index)
                && l.link_netnsid == host_id
                && l.kind == rec.host.kind
                && rec.host.stacking.is_none_or(|s| l.stacking == Some(s))
        }),
        Anchor::Parent => by_anchor(host, ctr, rec, |l, _| l.parent.is_some() && l.parent == rec.host.parent),
        Anchor::Unprovable if rec.unprovable == Some(Unprovable::TrustContainer) => trusted(host, ctr, rec),
        Anchor::Unprovable => Ok(unprovable(rec)),
    }
}

/// A device nothing proves, and no decision to trust the container with
/// it (a record older than the `unprovable` key, or a macvtap recorded by
/// its lower device before it was found to give the container a handle).
fn unprovable(rec: &Record) -> Place {
    Place::Unknown(format!(
        "{} is a {} device: nothing a container cannot forge proves which link it is now, and the config did not say to trust the container (\"unprovable\"), so hostdev does not take it back",
        rec.host.name,
        rec.host.kind.as_deref().unwrap_or("virtual")
    ))
}

/// `"unprovable": "trustContainer"`: the link with the recorded kind and
/// MAC that is CNI_IFNAME in the container, as upstream host-device takes
/// it, or, on the host (which is not hostile), one with that kind and MAC.
fn trusted(host: &mut Host, ctr: Option<&mut Container>, rec: &Record) -> Result<Place> {
    let alike = |l: &Link| l.kind == rec.host.kind && l.mac == rec.host.mac;
    if let Some(ctr) = ctr
        && let Some(link) = pick(&mut ctr.sock, rec, |l| alike(l) && l.name == rec.ifname, "container")?
    {
        return Ok(Place::Container(link));
    }
    if let Some(link) = pick(&mut host.sock, rec, alike, "host")? {
        return Ok(Place::Host(link));
    }
    Ok(Place::Unknown(format!(
        "no {} with the MAC of {} ({}) is {} in the container, nor on the host: trusting the container, hostdev looks for nothing else",
        rec.host.kind.as_deref().unwrap_or("device"),
        rec.host.name,
        rec.host.mac,
        rec.ifname
    )))
}

/// A veth: its peer stays on the host and says where our end is. A veth
/// pair dies together, so a vanished peer proves our end is gone too.
fn veth(host: &mut Host, ctr: Option<&mut Container>, peer_index: u32) -> Result<Place> {
    let peer = host.sock.link_by_index(peer_index).map_err(kernel_error("read the veth peer on the host"))?;
    let Some((peer, ours)) = peer.filter(|p| p.kind.as_deref() == Some("veth")).and_then(|p| p.link.map(|o| (p, o)))
    else {
        return Ok(Place::Dead(format!(
            "its veth peer (host index {peer_index}) is gone, and a veth pair dies together"
        )));
    };
    let Some(nsid) = peer.link_netnsid else {
        let link = host.sock.link_by_index(ours).map_err(kernel_error("read the interface on the host"))?;
        return Ok(link.map_or_else(|| Place::Unknown("its veth peer points at a missing link".into()), Place::Host));
    };
    let ctr_missing = ctr.is_none();
    if let Some(ctr) = ctr
        && host.sock.nsid_of(ctr.ns.as_fd()).map_err(kernel_error("ask the host for the container's nsid"))?
            == Some(nsid)
    {
        let link = ctr.sock.link_by_index(ours).map_err(kernel_error("read the interface in the container"))?;
        return Ok(link.map_or_else(|| Place::Unknown("it vanished from the container".into()), Place::Container));
    }
    let dying = nsid < 0 || ctr_missing;
    let why = if nsid < 0 {
        format!("it is in a network namespace that is being destroyed (its peer {} says so)", peer.name)
    } else if ctr_missing {
        format!(
            "it is in another network namespace (host nsid {nsid}), and no process, open descriptor or bind mount holds it: it is being destroyed, or only a kernel object (a socket, say) keeps it"
        )
    } else {
        format!("it is in another network namespace (host nsid {nsid}), not in CNI_NETNS nor on the host")
    };
    Ok(Place::Elsewhere { why, dying })
}

/// A device found by what it hangs off (a lower device, a parent device):
/// every candidate is proven, the record's hints choose among them. Looks
/// in the container first, then on the host.
fn by_anchor(
    host: &mut Host,
    ctr: Option<&mut Container>,
    rec: &Record,
    proven: impl Fn(&Link, Option<i32>) -> bool,
) -> Result<Place> {
    if let Some(ctr) = ctr {
        // From inside the container, the host is another namespace.
        let host_id =
            ctr.sock.nsid_of(host.ns.as_fd()).map_err(kernel_error("ask the container for the host's nsid"))?;
        // A parent device needs no nsid: the container has none for the
        // host when nothing in it links there (a NIC moved in makes none).
        let usable = host_id.is_some() || rec.anchor == Anchor::Parent;
        if let Some(link) = pick(&mut ctr.sock, rec, |l| usable && proven(l, host_id), "container")? {
            return Ok(Place::Container(link));
        }
    }
    if let Some(link) = pick(&mut host.sock, rec, |l| proven(l, None), "host")? {
        return Ok(Place::Host(link));
    }
    Ok(Place::Unknown(format!("no link that {} hangs off is in the container or on the host", rec.host.name)))
}

/// The proven candidate the record's hints point at: the permanent MAC,
/// then the index it had, then its names, then the MAC.
fn pick(sock: &mut Socket, rec: &Record, proven: impl Fn(&Link) -> bool, side: &str) -> Result<Option<Link>> {
    let links = sock.links().map_err(kernel_error(&format!("list the links in the {side}")))?;
    let mut candidates: Vec<Link> = links.into_iter().filter(|l| proven(l)).collect();
    let was = &rec.host;
    let score = |l: &Link| {
        let names = [Some(&was.name), Some(&rec.ifname), rec.parked_as.as_ref()];
        (
            was.perm_mac.is_some() && l.perm_mac == was.perm_mac,
            rec.container_index == Some(l.index) || l.index == was.index,
            names.contains(&Some(&l.name)),
            l.mac == was.mac,
        )
    };
    candidates.sort_by_key(|l| std::cmp::Reverse(score(l)));
    // A proven link with no hint is not known to be ours, unless it is the
    // only link of its parent device: a lower device carries the host's own
    // macvlans (and other attachments'), a card can have several ports.
    let alone_is_ours = candidates.len() == 1 && rec.anchor == Anchor::Parent;
    if !alone_is_ours && candidates.first().is_some_and(|l| score(l) == (false, false, false, false)) {
        return Ok(None);
    }
    Ok(candidates.into_iter().next())
}
