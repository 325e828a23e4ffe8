//! DEL and CHECK with no record: is CNI_IFNAME an interface this network
//! gave away, by upstream host-device or by hostdev before its record was
//! lost? Two things must say so (the README's adoption rule):
//! - identity a container cannot forge: a veth whose peer is on the host, a
//!   macvlan whose lower device is there, a physical device whose parent
//!   device or permanent MAC the config's selectors name, and no other
//!   attachment's record holding it;
//! - the runtime's evidence that this attachment's ADD succeeded: the result
//!   it cached, passed as prevResult, lists CNI_IFNAME in CNI_NETNS with the
//!   interface's MAC. Every runtime sends DEL after a failed ADD too, and
//!   then CNI_IFNAME in the container is someone else's (the pod's own
//!   veth, another network's attachment).
//!
//! The alias upstream leaves on the interface names its home name and
//! proves nothing. An adopted interface goes home the way a recorded one
//! does, on a record made of what is known now: no addresses, no routes,
//! no altnames (the container could have set those).

use std::os::fd::AsFd;

use crate::cmd::errors::kernel_error;
use crate::cmd::locate::{Place, anchor_of, locate};
use crate::cmd::{Container, Host, attachment};
use crate::cni::config::Selector;
use crate::cni::{Env, Error, NetConf, Result, code};
use crate::device;
use crate::netlink::{Link, Socket};
use crate::state::{Anchor, Key, Record, Store};
use crate::sysfs::Sysfs;
use crate::{info, warn};

#[cfg(test)]
mod tests;

/// What hostdev makes of CNI_IFNAME when it has no record of it.
#[derive(Debug)]
pub enum Verdict {
    /// Provably this network's: the record that brings it home, and why.
    Adopt(Box<Record>, String),
    /// There, but nothing proves it is ours (or names its home): why.
    Decline(String),
    /// Neither in the container nor returned to the host.
    Absent,
}

/// The record that brings CNI_IFNAME home when it is provably this
/// network's interface; None (logged) when it is absent or not proven.
pub fn adoptable(env: &Env, conf: &NetConf, host: &mut Host, store: &Store) -> Result<Option<Record>> {
    match examine(env, conf, host, store)? {
        Verdict::Adopt(rec, why) => {
            info!("no record of {}: {why}; bringing it home as {}", env.ifname, rec.host.name);
            Ok(Some(*rec))
        }
        Verdict::Decline(why) => {
            warn!(
                "no record of {} for container {}: hostdev declines to bring it home: {why}",
                env.ifname, env.container_id
            );
            Ok(None)
        }
        Verdict::Absent => {
            info!("no record of {} for container {}: nothing to do", env.ifname, env.container_id);
            Ok(None)
        }
    }
}

/// CHECK with no record: Ok when DEL would bring CNI_IFNAME home (and the
/// log says so), else code 108 saying what was found.
pub fn report(env: &Env, conf: &NetConf, store: &Store) -> Result<()> {
    let missing =
        format!("no attachment of {} for container {} on network {}", env.ifname, env.container_id, conf.name);
    match examine(env, conf, &mut Host::open()?, store)? {
        Verdict::Adopt(rec, why) => {
            info!("no record of {}, but {why}: DEL brings it home as {}", env.ifname, rec.host.name);
            Ok(())
        }
        Verdict::Decline(why) => Err(Error::new(code::CHECK_FAILED, format!("{missing}; hostdev declines it: {why}"))),
        Verdict::Absent => Err(Error::new(code::CHECK_FAILED, missing)),
    }
}

/// Looks for CNI_IFNAME in the container, then for a physical device the
/// kernel returned to the host under that name; one proven to be this
/// network's is adopted only when the runtime vouches for it too.
fn examine(env: &Env, conf: &NetConf, host: &mut Host, store: &Store) -> Result<Verdict> {
    let verdict = proven(env, conf, host, store)?;
    let Verdict::Adopt(rec, why) = verdict else { return Ok(verdict) };
    Ok(match vouched(env, conf, &rec.host) {
        Ok(()) => Verdict::Adopt(rec, format!("{why}, and the runtime's prevResult lists it")),
        Err(missing) => Verdict::Decline(format!("{why}, but {missing}")),
    })
}

/// The identity half of `examine`.
fn proven(env: &Env, conf: &NetConf, host: &mut Host, store: &Store) -> Result<Verdict> {
    let key = attachment(env, conf);
    if let Some(mut ctr) = env.netns.as_deref().and_then(|p| Container::find(p, host))
        && let Some(link) = by_name(&mut ctr.sock, &env.ifname, "container")?
    {
        return in_container(env, conf, host, &mut ctr, store, &key, link);
    }
    returned(env, conf, host, store, &key)
}

/// The runtime's evidence that this attachment's ADD succeeded: its cached
/// result lists CNI_IFNAME in CNI_NETNS with `dev`'s MAC (the current one,
/// or the permanent one of a device whose MAC the container changed).
/// Err says what is missing.
fn vouched(env: &Env, conf: &NetConf, dev: &Link) -> std::result::Result<(), String> {
    let Some(prev) = &conf.prev_result else {
        return Err(
            "the runtime passed no prevResult, so nothing shows that this attachment's ADD succeeded (runtimes send DEL after a failed ADD too)"
                .into(),
        );
    };
    let netns = env.netns.as_ref().map(|p| p.display().to_string());
    let interfaces = prev.get("interfaces").and_then(|i| i.as_array()).map(Vec::as_slice).unwrap_or_default();
    let listed = interfaces.iter().find(|i| {
        i.get("name").and_then(|n| n.as_str()) == Some(env.ifname.as_str())
            && netns.is_some()
            && i.get("sandbox").and_then(|s| s.as_str()) == netns.as_deref()
    });
    let Some(listed) = listed else {
        let netns = netns.as_deref().unwrap_or("(no CNI_NETNS)");
        return Err(format!("prevResult lists no interface {} in {netns}", env.ifname));
    };
    let mac = listed.get("mac").and_then(|m| m.as_str()).unwrap_or("");
    let same = |m: &str| !m.is_empty() && m.eq_ignore_ascii_case(mac);
    if same(&dev.mac) || dev.perm_mac.as_deref().is_some_and(same) {
        return Ok(());
    }
    Err(format!("prevResult lists {} with MAC {mac:?}, and {} has {}", env.ifname, dev.name, dev.mac))
}

/// CNI_IFNAME in the container: proven by its anchor (checked from the
/// host's side by `locate`) and, for a physical device, by the selectors.
fn in_container(
    env: &Env,
    conf: &NetConf,
    host: &mut Host,
    ctr: &mut Container,
    store: &Store,
    key: &Key,
    link: Link,
) -> Result<Verdict> {
    let host_nsid = ctr.sock.nsid_of(host.ns.as_fd()).map_err(kernel_error("ask the container for the host's nsid"))?;
    let anchor = container_anchor(&link, host_nsid);
    let why = match evidence(&conf.selector, &link, &anchor) {
        Ok(why) => why,
        Err(why) => {
            return Ok(Verdict::Decline(format!("{} in the container is {}: {why}", link.name, describe(&link))));
        }
    };
    let Some(home) =
        home_name(conf.selector.device.as_ref(), &link, &anchor, None, |n| by_name(&mut host.sock, n, "host"))?
    else {
        return Ok(Verdict::Decline(no_home_name(&link)));
    };
    let mut rec = record(env, key, &link, anchor, home);
    rec.container_index = Some(link.index);
    if let Some(holder) = holder(store, key, &rec)? {
        return Ok(Verdict::Decline(held(&link, &holder)));
    }
    // The container's view chose the anchor; the host's proves it.
    Ok(confirmed(locate(host, Some(ctr), &rec)?, &link, rec, why))
}

/// The anchor of `link`, seen in the container that knows the host by
/// `host_nsid`: a peer or lower device there is, seen from the host, a
/// link in the same namespace, the view `anchor_of` reads. Any other is
/// none.
fn container_anchor(link: &Link, host_nsid: Option<i32>) -> Anchor {
    let from_host = host_nsid.is_some() && link.link_netnsid == host_nsid;
    anchor_of(&Link { link: link.link.filter(|_| from_host), link_netnsid: None, ..link.clone() })
}

/// Adopt `rec` (proven by `why`) only when `locate`, looking from the
/// host's side, found CNI_IFNAME (`link`) itself.
fn confirmed(place: Place, link: &Link, rec: Record, why: String) -> Verdict {
    match place {
        Place::Container(found) if found.index == link.index => Verdict::Adopt(Box::new(rec), why),
        other => Verdict::Decline(format!("{} is not proven to be the host's: {}", link.name, unproven(&other))),
    }
}

/// Why `locate` did not find the interface where the container said it is.
fn unproven(place: &Place) -> String {
    match place {
        Place::Container(l) | Place::Host(l) => format!("its anchor points at {} (index {})", l.name, l.index),
        Place::Elsewhere { why, .. } | Place::Dead(why) | Place::Unknown(why) => why.clone(),
    }
}

/// A physical device the kernel returned to the host when the container's
/// namespace died: down, under the container-side name (or dev<index> when
/// that was taken), its parent device named by the config. One that has
/// no other name to go to is taken to be home already.
fn returned(env: &Env, conf: &NetConf, host: &mut Host, store: &Store, key: &Key) -> Result<Verdict> {
    let links = host.sock.links().map_err(kernel_error("list the host's interfaces"))?;
    let (link, why) = match returned_one(links, &env.ifname, |l| evidence(&conf.selector, l, &Anchor::Parent)) {
        Ok(found) => found,
        Err(verdict) => return Ok(verdict),
    };
    let probe = record(env, key, &link, Anchor::Parent, Home { name: link.name.clone(), upstream_alias: false });
    if let Some(holder) = holder(store, key, &probe)? {
        return Ok(Verdict::Decline(held(&link, &holder)));
    }
    let home = home_name(conf.selector.device.as_ref(), &link, &Anchor::Parent, Some(link.index), |n| {
        by_name(&mut host.sock, n, "host")
    })?;
    Ok(back_home(env, key, link, home, why))
}

/// The one link among the host's `links` that the kernel returned under
/// CNI_IFNAME (`ifname`) or dev<index>, down, with `proof` that it is
/// this network's; Err: the verdict when there is none (absent) or more
/// than one (declined).
fn returned_one(
    links: Vec<Link>,
    ifname: &str,
    proof: impl Fn(&Link) -> std::result::Result<String, String>,
) -> std::result::Result<(Link, String), Verdict> {
    let mut found = links.into_iter().filter_map(|l| {
        let named = l.name == ifname || l.name == format!("dev{}", l.index);
        let why = (named && !l.up).then(|| proof(&l).ok()).flatten();
        why.map(|why| (l, why))
    });
    match (found.next(), found.next()) {
        (None, _) => Err(Verdict::Absent),
        (Some(one), None) => Ok(one),
        (Some((a, _)), Some((b, _))) => {
            Err(Verdict::Decline(format!("both {} and {} on the host fit the config", a.name, b.name)))
        }
    }
}

/// A returned `link` comes home when it has a home name that is not the
/// one it has (else it is taken to be home already).
fn back_home(env: &Env, key: &Key, link: Link, home: Option<Home>, why: String) -> Verdict {
    match home {
        Some(home) if home.name != link.name => {
            let why = format!("{why}, back on the host");
            Verdict::Adopt(Box::new(record(env, key, &link, Anchor::Parent, home)), why)
        }
        _ => Verdict::Absent,
    }
}

fn held(link: &Link, holder: &Record) -> String {
    format!(
        "{} is the device of the attachment {} of {} (network {}), which its own DEL or GC brings home",
        link.name,
        holder.ifname,
        holder.holder(),
        holder.network
    )
}

/// What proves `link` is this network's, given the anchor its kernel facts
/// give it; Err says why nothing does.
fn evidence(sel: &Selector, link: &Link, anchor: &Anchor) -> std::result::Result<String, String> {
    match anchor {
        Anchor::Parent => device::proven_by(sel, link, &Sysfs::from_env())
            .map(|by| format!("{} is {} and {by} names it", link.name, describe(link))),
        Anchor::Peer { .. } => Ok(format!("{} is a veth whose peer is on the host", link.name)),
        Anchor::Lower { .. } => Ok(format!("{} is a {} whose lower device is on the host", link.name, kind(link))),
        Anchor::Unprovable => Err("nothing a container cannot forge ties it to the host".into()),
    }
}

/// An adopted interface's home name, and where it comes from.
#[derive(Debug, PartialEq, Eq)]
struct Home {
    name: String,
    /// The alias is upstream's (naming its home), to be cleared.
    upstream_alias: bool,
}

/// Its home name (its own on the host, the record's `host.name`): the
/// config's `device` when it is an interface name (not one of the link's
/// altnames), else, for a physical device only, the alias when it is an
/// interface name that no link on the host but its own (`ours`: its host
/// index, if there) has, as `taken` (a look-up on the host) says. A veth
/// or macvlan proves only that it hangs off the host, not which of the
/// host's it is: the container, which sets the alias, must not choose the
/// name it gets there.
fn home_name(
    device: Option<&String>,
    link: &Link,
    anchor: &Anchor,
    ours: Option<u32>,
    taken: impl FnOnce(&str) -> Result<Option<Link>>,
) -> Result<Option<Home>> {
    let usable = |n: &&String| crate::ifname::invalid(n).is_none() && !link.altnames.contains(n);
    if let Some(device) = device.filter(usable) {
        return Ok(Some(Home { name: device.clone(), upstream_alias: link.alias.as_ref() == Some(device) }));
    }
    if *anchor != Anchor::Parent {
        return Ok(None);
    }
    let Some(alias) = link.alias.as_ref().filter(usable) else { return Ok(None) };
    let free = taken(alias)?.is_none_or(|l| Some(l.index) == ours);
    Ok(free.then(|| Home { name: alias.clone(), upstream_alias: true }))
}

/// The link called `name` on `side` (a socket there), if any.
fn by_name(sock: &mut Socket, name: &str, side: &str) -> Result<Option<Link>> {
    sock.link_by_name(name).map_err(kernel_error(&format!("look up {name} in the {side}")))
}

fn no_home_name(link: &Link) -> String {
    if link.parent.is_none() {
        return format!(
            "nothing names its home: the config has no \"device\", and {}'s alias is the container's to choose",
            link.name
        );
    }
    let alias = link.alias.as_deref().map_or("no alias".into(), |a| format!("alias {a:?}"));
    format!(
        "nothing names its home: the config has no \"device\", and {} has {alias}, which is not an interface name free on the host",
        link.name
    )
}

/// Another attachment's record that holds the device `probe` describes:
/// that device is not this attachment's to adopt.
fn holder(store: &Store, key: &Key, probe: &Record) -> Result<Option<Record>> {
    Ok(store.claimant(probe.device())?.filter(|r| holds(r, key, probe)))
}

/// Whether `r`, found through `probe`'s claim, is another attachment's
/// (not `key`'s) record of the same device: the same peer, lower or
/// parent device.
fn holds(r: &Record, key: &Key, probe: &Record) -> bool {
    let same_device = match probe.anchor {
        Anchor::Parent => r.anchor == Anchor::Parent && r.host.parent == probe.host.parent,
        _ => r.anchor == probe.anchor,
    };
    r.key() != *key && same_device
}

/// The record of `link` as it will be at home: named `home.name`, with
/// the user's alias (none when it was upstream's), its admin state, MAC
/// and MTU.
fn record(env: &Env, key: &Key, link: &Link, anchor: Anchor, home: Home) -> Record {
    let mut dev = link.clone();
    dev.name = home.name;
    if home.upstream_alias {
        dev.alias = None;
    }
    // Not the host's to keep: the altnames the container could have set,
    // and the container's view of the peer or lower device (the anchor
    // holds the host's).
    dev.altnames.clear();
    (dev.link, dev.link_netnsid) = (None, None);
    let mut rec = Record::new(key, env.netns.clone(), dev, Vec::new());
    rec.anchor = anchor;
    rec.pod = env.pod.clone();
    rec
}

fn kind(link: &Link) -> &str {
    link.kind.as_deref().unwrap_or("device")
}

/// "a veth", "a tap", "a physical device (pci 0000:00:0d.0)".
fn describe(link: &Link) -> String {
    match &link.parent {
        Some(p) => format!("a physical device ({} {})", p.bus, p.device),
        None => format!("a {}", kind(link)),
    }
}
