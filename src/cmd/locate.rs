//! Where is the interface a record describes? Answered only on identity a
//! container cannot forge (the record's `Anchor`): the host-side peer of a
//! veth, the lower device of a macvlan, the parent device of a physical
//! NIC. Index, name, MAC and kind only choose among proven candidates.
//!
//! The container is hostile: it can delete our interface and create another
//! one with the same index, name, MAC and kind, move ours into a namespace
//! of its own, or have its namespace destroyed. Each answer says which.
//!
//! The functions that talk to the kernel only gather its facts (link dumps,
//! nsids); the pure ones below them decide, so that unit tests can give
//! them the facts of hardware no namespace can make (`locate/tests.rs`).

use std::os::fd::AsFd;

use crate::cmd::errors::kernel_error;
use crate::cmd::{Container, Host};
use crate::cni::Result;
use crate::cni::config::Unprovable;
use crate::netlink::{Link, Socket};
use crate::state::{Anchor, Record};

#[cfg(test)]
mod tests;

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

/// How a record's interface is looked for.
#[derive(Debug, PartialEq, Eq)]
enum Search {
    /// Through its veth peer on the host, at this index.
    Peer(u32),
    /// Among the links that hang off what it hangs off (`proven`).
    Anchored,
    /// By kind and MAC, as the config said to trust the container.
    Trusted,
    /// Not at all: nothing proves it.
    Not,
}

fn search(rec: &Record) -> Search {
    match rec.anchor {
        Anchor::Peer { index } => Search::Peer(index),
        Anchor::Lower { .. } if !UPPER_KINDS.contains(&rec.host.kind.as_deref().unwrap_or("")) => Search::Not,
        Anchor::Lower { .. } | Anchor::Parent => Search::Anchored,
        Anchor::Unprovable if rec.unprovable == Some(Unprovable::TrustContainer) => Search::Trusted,
        Anchor::Unprovable => Search::Not,
    }
}

/// Finds `rec`'s interface: in the container `ctr` when given, else (or
/// then) on the host.
pub fn locate(host: &mut Host, ctr: Option<&mut Container>, rec: &Record) -> Result<Place> {
    match search(rec) {
        Search::Peer(index) => veth(host, ctr, index),
        Search::Anchored => by_anchor(host, ctr, rec),
        Search::Trusted => trusted(host, ctr, rec),
        Search::Not => Ok(unprovable(rec)),
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
    if let Some(ctr) = ctr
        && let Some(link) = choose(dump(&mut ctr.sock, "container")?, rec, |l| trusted_in_container(rec, l))
    {
        return Ok(Place::Container(link));
    }
    if let Some(link) = choose(dump(&mut host.sock, "host")?, rec, |l| alike(rec, l)) {
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

/// The recorded kind and MAC: all a trusted container's link shows.
fn alike(rec: &Record, l: &Link) -> bool {
    l.kind == rec.host.kind && l.mac == rec.host.mac
}

/// In the container, a trusted link is CNI_IFNAME too.
fn trusted_in_container(rec: &Record, l: &Link) -> bool {
    alike(rec, l) && l.name == rec.ifname
}

/// A veth: its peer stays on the host and says where our end is. A veth
/// pair dies together, so a vanished peer proves our end is gone too.
fn veth(host: &mut Host, ctr: Option<&mut Container>, peer_index: u32) -> Result<Place> {
    let peer = host.sock.link_by_index(peer_index).map_err(kernel_error("read the veth peer on the host"))?;
    let (peer, ours, nsid) = match peer_says(peer_index, peer) {
        PeerSays::Gone(why) => return Ok(Place::Dead(why)),
        PeerSays::OnHost(ours) => {
            let link = host.sock.link_by_index(ours).map_err(kernel_error("read the interface on the host"))?;
            return Ok(found_on_host(link));
        }
        PeerSays::In { peer, ours, nsid } => (peer, ours, nsid),
    };
    let ctr_nsid = match &ctr {
        Some(ctr) => {
            host.sock.nsid_of(ctr.ns.as_fd()).map_err(kernel_error("ask the host for the container's nsid"))?
        }
        None => None,
    };
    match ctr {
        Some(ctr) if ctr_nsid == Some(nsid) => {
            let link = ctr.sock.link_by_index(ours).map_err(kernel_error("read the interface in the container"))?;
            Ok(found_in_container(link))
        }
        ctr => Ok(elsewhere(&peer, nsid, ctr.is_none())),
    }
}

/// What a veth's peer on the host (read at `peer_index`) says of our end.
#[derive(Debug, PartialEq, Eq)]
enum PeerSays {
    /// Gone with its peer: why.
    Gone(String),
    /// On the host, at this index.
    OnHost(u32),
    /// At index `ours` in the namespace the host knows by `nsid` (negative:
    /// one being destroyed); `peer` is the peer's name.
    In { peer: String, ours: u32, nsid: i32 },
}

fn peer_says(peer_index: u32, peer: Option<Link>) -> PeerSays {
    match peer.filter(|p| p.kind.as_deref() == Some("veth")) {
        Some(Link { link: Some(ours), link_netnsid: None, .. }) => PeerSays::OnHost(ours),
        Some(Link { link: Some(ours), link_netnsid: Some(nsid), name, .. }) => PeerSays::In { peer: name, ours, nsid },
        _ => PeerSays::Gone(format!("its veth peer (host index {peer_index}) is gone, and a veth pair dies together")),
    }
}

fn found_on_host(link: Option<Link>) -> Place {
    link.map_or_else(|| Place::Unknown("its veth peer points at a missing link".into()), Place::Host)
}

fn found_in_container(link: Option<Link>) -> Place {
    link.map_or_else(|| Place::Unknown("it vanished from the container".into()), Place::Container)
}

/// A veth whose peer (named `peer`) says it is in the namespace with host
/// nsid `nsid`, which is not the container's: dying when that namespace
/// is being destroyed (negative nsid) or when no container was found
/// (nothing holds its namespace: `no_container`).
fn elsewhere(peer: &str, nsid: i32, no_container: bool) -> Place {
    let dying = nsid < 0 || no_container;
    let why = if nsid < 0 {
        format!("it is in a network namespace that is being destroyed (its peer {peer} says so)")
    } else if no_container {
        format!(
            "it is in another network namespace (host nsid {nsid}), and no process, open descriptor or bind mount holds it: it is being destroyed, or only a kernel object (a socket, say) keeps it"
        )
    } else {
        format!("it is in another network namespace (host nsid {nsid}), not in CNI_NETNS nor on the host")
    };
    Place::Elsewhere { why, dying }
}

/// Where a link dump was taken: on the host, or in the container, which
/// knows the host by `host_nsid` (None: it has no nsid for the host).
#[derive(Debug, Clone, Copy)]
enum Side {
    Host,
    Container { host_nsid: Option<i32> },
}

/// A device found by what it hangs off (a lower device, a parent device):
/// every candidate is proven, the record's hints choose among them. Looks
/// in the container first, then on the host.
fn by_anchor(host: &mut Host, ctr: Option<&mut Container>, rec: &Record) -> Result<Place> {
    if let Some(ctr) = ctr {
        // From inside the container, the host is another namespace.
        let host_nsid =
            ctr.sock.nsid_of(host.ns.as_fd()).map_err(kernel_error("ask the container for the host's nsid"))?;
        let side = Side::Container { host_nsid };
        if let Some(link) = choose(dump(&mut ctr.sock, "container")?, rec, |l| proven(rec, l, side)) {
            return Ok(Place::Container(link));
        }
    }
    if let Some(link) = choose(dump(&mut host.sock, "host")?, rec, |l| proven(rec, l, Side::Host)) {
        return Ok(Place::Host(link));
    }
    Ok(Place::Unknown(format!("no link that {} hangs off is in the container or on the host", rec.host.name)))
}

/// Whether `l`, dumped on `side`, hangs off what `rec`'s device hung off:
/// the same parent device; or the same lower device on the host (seen from
/// the host: a link in its own namespace; from the container: one in the
/// namespace it knows the host by), as the same kind, stacked alike.
fn proven(rec: &Record, l: &Link, side: Side) -> bool {
    match rec.anchor {
        Anchor::Parent => l.parent.is_some() && l.parent == rec.host.parent,
        Anchor::Lower { index } => {
            let lower_on_host = match side {
                Side::Host => l.link_netnsid.is_none(),
                // A container with no nsid for the host has nothing of it.
                Side::Container { host_nsid } => host_nsid.is_some() && l.link_netnsid == host_nsid,
            };
            lower_on_host
                && l.link == Some(index)
                && l.kind == rec.host.kind
                && rec.host.stacking.is_none_or(|s| l.stacking == Some(s))
        }
        Anchor::Peer { .. } | Anchor::Unprovable => false,
    }
}

fn dump(sock: &mut Socket, side: &str) -> Result<Vec<Link>> {
    sock.links().map_err(kernel_error(&format!("list the links in the {side}")))
}

/// The proven candidate among `links` the record's hints point at, the
/// strongest first: a permanent MAC (hardware's, and only when the record
/// has one), an index it had, one of its names, its MAC (when it had one:
/// a CAN card has none, and neither has the card's next channel).
fn choose(links: Vec<Link>, rec: &Record, proven: impl Fn(&Link) -> bool) -> Option<Link> {
    let was = &rec.host;
    let hints = |l: &Link| {
        let names = [Some(&was.name), Some(&rec.ifname), rec.parked_as.as_ref()];
        (
            was.perm_mac.is_some() && l.perm_mac == was.perm_mac,
            rec.container_index == Some(l.index) || l.index == was.index,
            names.contains(&Some(&l.name)),
            !was.mac.is_empty() && l.mac == was.mac,
        )
    };
    let mut candidates: Vec<Link> = links.into_iter().filter(|l| proven(l)).collect();
    candidates.sort_by_key(|l| std::cmp::Reverse(hints(l)));
    // A proven link with no hint is not known to be ours, unless it is the
    // only link of its parent device: a lower device carries the host's own
    // macvlans (and other attachments'), a card can have several ports.
    let alone_is_ours = candidates.len() == 1 && rec.anchor == Anchor::Parent;
    if !alone_is_ours && candidates.first().is_some_and(|l| hints(l) == (false, false, false, false)) {
        return None;
    }
    candidates.into_iter().next()
}
