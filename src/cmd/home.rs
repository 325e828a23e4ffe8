//! Bringing an attached interface home: the one path DEL, a failed ADD,
//! GC and unparking all take. It finds the interface by proven identity
//! wherever it is (`locate`), moves it under its own name, and restores
//! what it had. Without proof nothing is moved, renamed or re-addressed.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cmd::errors::kernel_error;
use crate::cmd::errors::refused;
use crate::cmd::kept::check_kept;
use crate::cmd::locate::{Place, locate};
use crate::cmd::routing::restore_routing;
use crate::cmd::{Container, Host};
use crate::cni::config::Unprovable;
use crate::cni::{Error, Result, code};
use crate::failpoint;
use crate::netlink::addr::{add_requests, own_flags_requests, unexpired};
use crate::netlink::gso::Sizes;
use crate::netlink::link::{master_request, set_link_request, up_request};
use crate::netlink::sysctl::enable_ipv6;
use crate::netlink::{Addr, Link, LinkChange, Master, Request, Socket, Subject, route};
use crate::state::{Anchor, Key, Phase, Record, Store};
use crate::{debug, info, warn};

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Home under its own name, restored.
    Home,
    /// Home and restored, but under this name: its own was taken.
    Parked(String),
    /// Proven destroyed (a virtual device that died with its namespace).
    Gone,
    /// Nothing proves where it is or that it is gone: the record stays.
    Lost(String),
}

/// How long to wait for a physical device on its way back from a dying
/// namespace, or a veth whose namespace is being destroyed (a test build
/// reads HOSTDEV_SETTLE_MS), and how often to look.
fn settle_wait() -> Duration {
    failpoint::wait("HOSTDEV_SETTLE_MS", Duration::from_secs(3))
}
const SETTLE_POLL: Duration = Duration::from_millis(50);

/// Brings `rec`'s interface home. `ctr` is the container side when its
/// namespace still exists. Fails (the record stays) when the interface
/// exists but cannot come home: code 110, or 11 when it is on its way.
pub fn bring_home(host: &mut Host, mut ctr: Option<&mut Container>, rec: &Record) -> Result<Outcome> {
    // Said with an 11: what keeps the namespace hostdev looked in alive.
    let held = ctr.as_ref().and_then(|c| c.held_by.as_ref()).map(|h| format!(" (its namespace is held by {h})"));
    let held = held.unwrap_or_default();
    let link = match settle(host, ctr.as_deref_mut(), rec)? {
        Place::Container(link) => {
            let ctr = ctr.expect("found in the container, so there is one");
            info!("found the interface in the container"; device = rec.host.name, name = link.name, index = link.index);
            let failure = move_out(host, ctr, &link, rec)?;
            match locate(host, Some(ctr), rec)? {
                Place::Host(link) => link,
                Place::Dead(why) => return Ok(gone(rec, &why)),
                _ => return Err(not_home(rec, &failure.unwrap_or_else(|| "it did not arrive".into()))),
            }
        }
        Place::Host(link) => link,
        other => return unreached(rec, other, &held),
    };
    info!("the interface is on the host"; device = rec.host.name, name = link.name, index = link.index);
    let name = rename_on_host(&mut host.sock, &link, rec)?;
    restore_unless_parked(host, link, &name, rec)?;
    failpoint::hit("del-after-restore");
    if name == rec.host.name {
        info!("the interface is home"; device = name);
        Ok(Outcome::Home)
    } else {
        warn!("interface {} is home but parked as {name}: its name is taken on the host", rec.host.name);
        Ok(Outcome::Parked(name))
    }
}

/// Restores what the interface had, on the PF too for a VF. A parked
/// interface was restored when it came home: only its name was missing.
/// Restoring again would undo what the operator changed since.
fn restore_unless_parked(host: &mut Host, link: Link, name: &str, rec: &Record) -> Result<()> {
    if rec.phase == Phase::Parked {
        return Ok(());
    }
    // The PF side first: while the PF holds another admin MAC, some
    // drivers refuse to give the VF its own MAC back.
    let link = match &rec.vf {
        Some(vf) => crate::vf::restore(&mut host.sock, vf, &link, &rec.host.mac)?,
        None => link,
    };
    restore(host, &link, name, rec)?;
    info!("restored"; device = name, addresses = rec.addrs.len(), routes = rec.routes.len(), mtu = rec.host.mtu);
    Ok(())
}

/// Brings `rec`'s interface home and updates the record to match. The
/// record goes only on proof: home and restored, or proven gone.
pub fn finish(host: &mut Host, ctr: Option<&mut Container>, store: &Store, mut rec: Record) -> Result<()> {
    if rec.userspace.is_some() {
        return Ok(store.remove(&rec)?); // nothing was moved
    }
    if rec.unprovable == Some(Unprovable::LeaveInContainer) {
        info!("the device is the container's for good, as the config says: dropping its record"; device = rec.host.name);
        return Ok(store.remove(&rec)?);
    }
    // A parked interface is already home: only its name is missing.
    let ctr = if rec.phase == Phase::Parked { None } else { ctr };
    // `removing` only tells a reader that DEL began: a record that still
    // says `attached` leads the next DEL or GC to the interface all the
    // same, so a full data directory does not keep the interface away.
    if !matches!(rec.phase, Phase::Parked | Phase::Removing) {
        rec.phase = Phase::Removing;
        store.save_if_room(&rec)?;
    }
    failpoint::hit("del-after-record");
    // Read only when there are features to give back; a node agent or GC
    // keeps it for every record it brings home.
    if !rec.features.is_empty() {
        host.ethtool = host.ethtool.take().or_else(|| store.kept_ethtool());
    }
    match bring_home(host, ctr, &rec)? {
        Outcome::Home | Outcome::Gone => Ok(store.remove(&rec)?),
        Outcome::Lost(why) => {
            warn!("the record of {} stays as lost: {why}", rec.host.name);
            rec.phase = Phase::Lost;
            rec.lost = Some(why);
            Ok(store.save(&rec)?)
        }
        Outcome::Parked(name) => {
            rec.phase = Phase::Parked;
            rec.parked_as = Some(name);
            store.save(&rec)?;
            store.mark_parked(); // after the record, so a sweep never misses it
            Ok(())
        }
    }
}

/// Locates the interface, giving a moment to one in transit: a physical
/// device on its way back from a dying namespace, a veth whose namespace
/// is being destroyed.
fn settle(host: &mut Host, mut ctr: Option<&mut Container>, rec: &Record) -> Result<Place> {
    let wait = settle_wait();
    let deadline = Instant::now() + wait;
    let mut said = false;
    loop {
        let place = locate(host, ctr.as_deref_mut(), rec)?;
        let Some(why) = in_transit(rec, &place).filter(|_| Instant::now() < deadline) else { return Ok(place) };
        if !said {
            info!("the interface is not here yet: waiting"; device = rec.host.name, why = why, wait_ms = wait.as_millis());
            said = true;
        }
        std::thread::sleep(SETTLE_POLL);
    }
}

/// DEL's answer for an interface `settle` found neither in the container
/// nor on the host; `held` says what keeps the namespace alive.
fn unreached(rec: &Record, place: Place, held: &str) -> Result<Outcome> {
    match place {
        Place::Dead(why) => Ok(gone(rec, &why)),
        // Still there after the wait: its namespace lingers (a process
        // holds it) or is slow to die. The runtime's next DEL finishes.
        Place::Elsewhere { why, dying: true } => Err(not_home(rec, &format!("{why}{held}")).retry_later()),
        Place::Elsewhere { why, dying: false } => Err(not_home(rec, &why)),
        Place::Unknown(why) if rec.anchor == Anchor::Parent => Err(Error::new(
            code::TRY_AGAIN,
            format!(
                "physical interface {} is in no namespace hostdev can see ({why}){held}; the kernel returns it to the host when its namespace dies. The record stays: try again later",
                rec.host.name
            ),
        )),
        Place::Unknown(why) => {
            warn!("interface {} is lost: {why}; its record stays", rec.host.name);
            Ok(Outcome::Lost(why))
        }
        Place::Container(_) | Place::Host(_) => unreachable!("bring_home takes an interface in reach"),
    }
}

/// Why `place` is worth waiting for: a physical device nowhere to be seen
/// (the kernel returns it when its namespace dies), or one in a namespace
/// being destroyed. None: the answer is final.
pub fn in_transit<'a>(rec: &Record, place: &'a Place) -> Option<&'a String> {
    match place {
        Place::Unknown(why) => (rec.anchor == Anchor::Parent).then_some(why),
        Place::Elsewhere { why, dying: true } => Some(why),
        _ => None,
    }
}

fn gone(rec: &Record, why: &str) -> Outcome {
    info!("the interface is gone"; device = rec.host.name, why = why);
    Outcome::Gone
}

fn not_home(rec: &Record, why: &str) -> Error {
    Error::new(
        code::NOT_HOME,
        format!(
            "interface {} (attached as {} to {}) cannot be brought home: {why}. Its record stays; DEL again once it is back",
            rec.host.name,
            rec.ifname,
            rec.holder()
        ),
    )
}

/// The name the interface arrives under on the host: its home name (its
/// own, `rec.host.name`) when free (or held by `ours`, the host index of
/// the interface itself), else the first free parking name.
fn arrival_name(sock: &mut Socket, rec: &Record, ours: Option<u32>) -> Result<String> {
    for name in std::iter::once(rec.host.name.clone()).chain(parking_names(rec.host.index)) {
        let taken = sock.index_of(&name).map_err(kernel_error("look up a name on the host"))?;
        if taken.is_none_or(|other| Some(other) == ours) {
            return Ok(name);
        }
    }
    Err(not_home(rec, "its own name and every parking name are taken on the host"))
}

/// Deterministic fallback names, derived from the original index, each at
/// most 15 bytes: hdpark<index>, then hdp<index>-1 .. hdp<index>-9.
pub fn parking_names(index: u32) -> impl Iterator<Item = String> {
    let first = format!("hdpark{index}");
    let first = (first.len() <= crate::ifname::MAX_LEN).then_some(first);
    first.into_iter().chain((1..=9).map(move |n| format!("hdp{index}-{n}")))
}

/// Moves `link` from the container to the host under its arrival name. It
/// is first renamed to that name inside the container, so the host never sees
/// the container-side name even for an instant, and stripped of its
/// altnames, which the container may have chosen to clash with a host name
/// (the record's come back with the restore). Returns why the move failed,
/// if it did: the kernel may have moved it all the same (it moves first and
/// renames second), so the caller looks where it went.
fn move_out(host: &mut Host, ctr: &mut Container, link: &Link, rec: &Record) -> Result<Option<String>> {
    let name = arrival_name(&mut host.sock, rec, None)?;
    failpoint::hit("del-before-move");
    if let Err(e) = ctr.sock.del_altnames(link.index, &link.altnames) {
        debug!("removing the altnames {:?} of {} in the container failed: {e}", link.altnames, link.name);
    }
    if link.name != name
        && let Err(e) = ctr.sock.rename_link(link.index, &name)
    {
        debug!("renaming {} to {name} inside the container failed ({e}); renaming during the move", link.name);
    }
    debug!("moving the interface home"; index = link.index, name = name);
    let failure = ctr.sock.move_link(link.index, host.ns.as_fd(), &name).err().map(|e| {
        warn!("moving {} home as {name} failed: {e}", link.name);
        e.to_string()
    });
    failpoint::hit("del-after-move");
    Ok(failure)
}

/// Gives a link on the host its own name, or a parking name when its own
/// is taken. Returns the name it now has.
fn rename_on_host(sock: &mut Socket, link: &Link, rec: &Record) -> Result<String> {
    if link.name == rec.host.name {
        return Ok(link.name.clone()); // the usual case: it came home as itself
    }
    let mut last = None;
    // A name can be taken between the look-up and the rename: look again.
    for _ in 0..3 {
        let want = arrival_name(sock, rec, Some(link.index))?;
        if link.name == want {
            return Ok(want);
        }
        match sock.rename_link(link.index, &want) {
            Ok(()) => return Ok(want),
            Err(e) if e.is(Errno::EEXIST) => last = Some(e),
            Err(e) => return Err(kernel_error(&format!("rename {} to {want} on the host", link.name))(e)),
        }
    }
    let e = last.expect("the loop ran");
    Err(kernel_error(&format!("rename {} on the host (names kept being taken)", link.name))(e))
}

/// Gives `link` back its per-device sysctls and features, then MTU, MAC,
/// alias, admin flags, txqueuelen, group, GSO/GRO sizes,
/// altnames, its master, addresses, admin state and its routes, in one
/// pipelined batch, undoing whatever the container changed; then what
/// needs those first: nexthop objects, the routes through them, rules, and
/// the addresses' own flags (they came back with NODAD, to be usable at
/// once). A route or a master that cannot come back (its gateway or bridge
/// is gone, say) is a warning, not a failed DEL.
fn restore(host: &mut Host, link: &Link, name: &str, rec: &Record) -> Result<()> {
    // Before the addresses: IPv6 must be enabled again for its own.
    crate::cmd::settings::restore_host(name, link, rec, host.ethtool.as_ref());
    let addrs = unexpired(&rec.addrs);
    let requests = restore_requests(&mut host.sock, link, name, rec, &addrs);
    if send_restore(&mut host.sock, name, requests)? {
        info!("IPv6 is disabled on the host by default: enabling it on the interface"; device = name);
        enable_ipv6(host.ns.as_fd(), host.ns.as_fd(), name).map_err(kernel_error(&format!("enable IPv6 on {name}")))?;
    }
    restore_after_batch(&mut host.sock, link, name, rec, &addrs)
}

/// What `link` holds that differs from what it had (`was`): only that is
/// set, so an unchanged MTU or MAC asks nothing of the driver.
fn link_change(link: &Link, was: &Link) -> LinkChange {
    let differs = |want: Option<u32>, have: Option<u32>| want.filter(|w| Some(*w) != have);
    LinkChange {
        mac: (link.mac != was.mac).then(|| was.mac.clone()),
        mtu: (link.mtu != was.mtu).then_some(was.mtu),
        alias: (link.alias != was.alias).then(|| was.alias.clone().unwrap_or_default()),
        flags: was.flags.filter(|f| link.flags != Some(*f)),
        txqlen: differs(was.txqlen, link.txqlen),
        group: differs(was.group, link.group),
        sizes: Sizes::restoring(&was.sizes, &link.sizes),
        ..LinkChange::default()
    }
}

/// The one pipelined batch, in the order the kernel needs: the link's own
/// settings, its master, the addresses (`addrs`, those not expired), admin
/// state, then the routes, which need the addresses and the link up.
fn restore_requests(sock: &mut Socket, link: &Link, name: &str, rec: &Record, addrs: &[Addr]) -> Vec<Request> {
    let was = &rec.host;
    let mut requests = vec![set_link_request(link.index, &link_change(link, was))];
    let master = restore_master(sock, link, name, was.master.as_ref());
    requests.extend(master.map(|m| master_request(link.index, m)));
    requests.extend(add_requests(link.index, name, addrs));
    if was.up {
        requests.push(up_request(link.index));
    }
    requests.extend(route::saved_requests(link.index, was.index, &rec.routes, false));
    requests
}

/// Sends the batch. Only the link's own settings failing fails DEL: the
/// interface is home all the same. True when an IPv6 address was refused
/// because IPv6 is disabled on it.
fn send_restore(sock: &mut Socket, name: &str, requests: Vec<Request>) -> Result<bool> {
    let mut ipv6_refused = false;
    for f in sock.batch(requests).map_err(kernel_error("restore the interface on the host"))? {
        match f.subject {
            // The move reset its sysctls to the host's defaults, which
            // disable IPv6: enabled by the caller on this interface, as it was.
            Subject::Address(a) if f.is(Errno::EACCES) && a.is_ipv6() => ipv6_refused = true,
            // A route whose gateway is gone, a master that refuses the port:
            // the interface is home all the same.
            Subject::Route(dst) => warn!("cannot put route {dst} back on {name}: {}", f.error),
            Subject::Rule(_) => warn!("{f}"),
            Subject::Master => warn!("cannot make {name} a port of its master again: {}", f.error),
            // Tried once more after the batch, with the ones the kernel dropped.
            Subject::Address(a) => warn!("cannot put address {a} back on {name} yet: {}", f.error),
            Subject::Link => return Err(refused(f)),
        }
    }
    Ok(ipv6_refused)
}

/// What needs the batch first: the addresses checked (and re-added where
/// the kernel dropped them), nexthop objects, the routes through them and
/// rules, the addresses' own flags (they came back with NODAD, to be
/// usable at once), and the altnames the container took away.
fn restore_after_batch(sock: &mut Socket, link: &Link, name: &str, rec: &Record, addrs: &[Addr]) -> Result<()> {
    check_kept(sock, link.index, name, addrs)?;
    restore_routing(sock, link.index, name, rec);
    for f in sock.batch(own_flags_requests(link.index, name, addrs)).unwrap_or_default() {
        warn!("{f}");
    }
    let lost: Vec<String> = rec.host.altnames.iter().filter(|a| !link.altnames.contains(a)).cloned().collect();
    if let Err(e) = sock.add_altnames(link.index, &lost) {
        warn!("cannot give {name} back its altnames {lost:?}: {e}");
    }
    Ok(())
}

/// The index of the master (bridge, bond, team) `link` was a port of, when
/// it is not a port of it now; found by its recorded index and name.
fn restore_master(sock: &mut Socket, link: &Link, name: &str, master: Option<&Master>) -> Option<u32> {
    let master = master?;
    match sock.find_master(master) {
        Ok(Some(index)) if link.master.as_ref().is_some_and(|m| m.index == index) => None,
        Ok(Some(index)) => Some(index),
        Ok(None) => {
            warn!("{name} was a port of {}, which is gone from the host", master.name);
            None
        }
        Err(e) => {
            warn!("cannot look up {}, the master of {name}: {e}", master.name);
            None
        }
    }
}

/// Gives parked interfaces their own names back where those are free now.
/// Called by every command that can; failures only warn. A marker file says
/// whether any record is parked, so the common case costs one unlink.
pub fn unpark_all(host: &mut Host, store: &Store) {
    if !store.take_parked_mark() {
        return;
    }
    let mut still_parked = false;
    for (_, rec) in store.list().unwrap_or_default() {
        let Ok(rec) = rec else { continue };
        if rec.phase == Phase::Parked {
            still_parked |= !unpark(host, store, &rec.key());
        }
    }
    if still_parked {
        store.mark_parked();
    }
}

/// Unparks one record under its lock; false while it must stay parked.
fn unpark(host: &mut Host, store: &Store, key: &Key) -> bool {
    let Ok(Some(_lock)) = store.try_lock_key(key) else { return false };
    let Ok(Some(rec)) = store.load(key) else { return true };
    if rec.phase != Phase::Parked {
        return true;
    }
    if !host.sock.index_of(&rec.host.name).is_ok_and(|l| l.is_none()) {
        return false;
    }
    match bring_home(host, None, &rec) {
        Ok(Outcome::Home) => store.remove(&rec).is_ok(),
        Ok(_) => false,
        Err(e) => {
            warn!("cannot unpark {}: {e}", rec.host.name);
            false
        }
    }
}
