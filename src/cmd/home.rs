//! Bringing an attached interface home: the one path DEL, a failed ADD
//! and GC all take. It finds the interface by identity wherever it is (in
//! the container, or back in the host after the container's namespace
//! died), moves it under its own name, and restores what it had.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cmd::{Host, kernel_error};
use crate::cni::Result;
use crate::failpoint;
use crate::netlink::addr::add_requests;
use crate::netlink::link::{set_link_request, up_request};
use crate::netlink::{Link, LinkChange, Socket, route};
use crate::state::{Key, Phase, Record, Store};
use crate::{debug, info, warn};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Home under its own name, restored.
    Home,
    /// Home and restored, but under this name: its own was taken.
    Parked(String),
    /// Nowhere: a virtual device the kernel destroyed with its namespace.
    Gone,
    /// A physical device that is nowhere yet: the kernel returns it from a
    /// dying namespace asynchronously. The record must stay for GC.
    Missing,
}

/// What was just moved out of the container: the name it was sent home
/// under, and its MAC there (the container may have changed it).
struct Moved {
    name: String,
    mac: String,
}

/// How long to wait for a physical device on its way back from a dying
/// namespace, and how often to look.
const RETURN_WAIT: Duration = Duration::from_secs(2);
const RETURN_POLL: Duration = Duration::from_millis(50);

/// Brings `rec`'s interface home. `ctr` is the container side when its
/// namespace still exists.
pub fn bring_home(host: &mut Host, ctr: Option<&mut Socket>, rec: &Record) -> Result<Outcome> {
    let mut moved = None;
    if let Some(ctr) = ctr
        && let Some(link) =
            find_in_container(ctr, rec).map_err(kernel_error("look for the interface in the container"))?
    {
        info!("found {} in the container as {} (index {})", rec.host.name, link.name, link.index);
        let name = move_out(host, ctr, &link, rec)?;
        moved = Some(Moved { name, mac: link.mac });
    }
    let Some(link) = find_or_await(&mut host.sock, rec, moved.as_ref())? else {
        if is_virtual(rec) {
            warn!("interface {} ({}) is gone: a virtual device dies with its namespace", rec.host.name, rec.host.mac);
            return Ok(Outcome::Gone);
        }
        warn!(
            "interface {} ({}) is in no namespace hostdev can see yet; its record stays for GC",
            rec.host.name, rec.host.mac
        );
        return Ok(Outcome::Missing);
    };
    info!("{} is on the host as {} (index {})", rec.host.name, link.name, link.index);
    let name = rename_on_host(&mut host.sock, &link, rec)?;
    restore(&mut host.sock, &link, &name, rec)?;
    info!("restored {name}: {} addresses, {} routes, mtu {}", rec.addrs.len(), rec.routes.len(), rec.host.mtu);
    failpoint::hit("del-after-restore");
    if name == rec.host.name {
        info!("interface {} is home", name);
        Ok(Outcome::Home)
    } else {
        warn!("interface {} is home but parked as {name}: its name is taken on the host", rec.host.name);
        Ok(Outcome::Parked(name))
    }
}

/// The name to come home under: its own when free (or held by `ours`, the
/// host index of the interface itself), else the parking name.
fn home_name(sock: &mut Socket, rec: &Record, ours: Option<u32>) -> Result<String> {
    let own = &rec.host.name;
    let taken = sock.link_by_name(own).map_err(kernel_error("look up the original name on the host"))?;
    Ok(match taken {
        Some(other) if Some(other.index) != ours && !rec.claims(&other) => parking_name(rec),
        _ => own.clone(),
    })
}

/// A deterministic fallback name, derived from the original index.
pub fn parking_name(rec: &Record) -> String {
    format!("hdpark{}", rec.host.index)
}

/// Moves `link` from the container to the host under its home name. It is
/// first renamed to that name inside the container, so the host never sees
/// the container-side name even for an instant. If that rename fails (the
/// name is taken in the container), the move renames, during the move.
fn move_out(host: &mut Host, ctr: &mut Socket, link: &Link, rec: &Record) -> Result<String> {
    let name = home_name(&mut host.sock, rec, None)?;
    failpoint::hit("del-before-move");
    if link.name != name
        && let Err(e) = ctr.rename_link(link.index, &name)
    {
        debug!("renaming {} to {name} inside the container failed ({e}); renaming during the move", link.name);
    }
    debug!("moving index {} from the container to the host as {name}", link.index);
    if let Err(e) = ctr.move_link(link.index, host.ns.as_fd(), &name) {
        // The kernel may have moved it under its old name before failing:
        // `find_on_host` looks for it wherever it went.
        warn!("moving {} home as {name} failed: {e}", link.name);
    }
    failpoint::hit("del-after-move");
    Ok(name)
}

/// Finds the interface in the container: by its recorded index (indices
/// are not reused within a namespace, and the container may have changed
/// both its name and its MAC), by the container-side name, then by identity
/// among all links.
fn find_in_container(sock: &mut Socket, rec: &Record) -> crate::netlink::NlResult<Option<Link>> {
    if let Some(link) = rec.container_index.map(|i| sock.link_by_index(i)).transpose()?.flatten() {
        return Ok(Some(link));
    }
    if let Some(link) = sock.link_by_name(&rec.ifname)?.filter(|l| rec.claims(l)) {
        return Ok(Some(link));
    }
    Ok(sock.links()?.into_iter().find(|l| rec.claims(l)))
}

/// Virtual devices (veth, macvlan, tap, ...) report a link kind; physical
/// NICs do not. Only virtual ones die with a namespace.
fn is_virtual(rec: &Record) -> bool {
    rec.host.kind.is_some()
}

/// Finds the interface on the host; a physical one that is not there yet
/// may be on its way back from a dying namespace, so it is given a moment.
fn find_or_await(sock: &mut Socket, rec: &Record, moved: Option<&Moved>) -> Result<Option<Link>> {
    let deadline = Instant::now() + RETURN_WAIT;
    loop {
        let found = find_on_host(sock, rec, moved).map_err(kernel_error("look for the interface on the host"))?;
        if found.is_some() || is_virtual(rec) || Instant::now() >= deadline {
            return Ok(found);
        }
        std::thread::sleep(RETURN_POLL);
    }
}

/// Finds the interface on the host: under the name it was just moved as
/// (with the MAC it had in the container), by its original index, then by
/// identity among all links.
fn find_on_host(sock: &mut Socket, rec: &Record, moved: Option<&Moved>) -> crate::netlink::NlResult<Option<Link>> {
    if let Some(moved) = moved
        && let Some(link) = sock.link_by_name(&moved.name)?.filter(|l| rec.claims(l) || l.mac == moved.mac)
    {
        return Ok(Some(link));
    }
    // Its original index and name together identify it even when the
    // container changed its MAC (a crash between the move home and the
    // restore leaves it so): indices are allocated cyclically, not reused.
    let same = |l: &Link| rec.claims(l) || (l.name == rec.host.name && l.kind == rec.host.kind);
    if let Some(link) = sock.link_by_index(rec.host.index)?.filter(same) {
        return Ok(Some(link));
    }
    Ok(sock.links()?.into_iter().find(|l| rec.claims(l)))
}

/// Gives a link on the host its own name, or the parking name when its own
/// is taken. Returns the name it now has.
fn rename_on_host(sock: &mut Socket, link: &Link, rec: &Record) -> Result<String> {
    if link.name == rec.host.name {
        return Ok(link.name.clone()); // the usual case: it came home as itself
    }
    let want = home_name(sock, rec, Some(link.index))?;
    if link.name == want {
        return Ok(want);
    }
    match sock.rename_link(link.index, &want) {
        Ok(()) => Ok(want),
        Err(e) if e.is(Errno::EEXIST) => {
            warn!("cannot rename {} to {want} on the host: the name was just taken; it stays {}", link.name, link.name);
            Ok(link.name.clone())
        }
        Err(e) => Err(kernel_error(&format!("rename {} to {want} on the host", link.name))(e)),
    }
}

/// Gives `link` back MTU, MAC, alias, altnames, addresses, admin state and
/// its routes, in one pipelined batch. A route that cannot come back (its
/// gateway is gone, say) is a warning, not a failed DEL.
fn restore(sock: &mut Socket, link: &Link, name: &str, rec: &Record) -> Result<()> {
    let was = &rec.host;
    let change = LinkChange {
        mac: (link.mac != was.mac).then(|| was.mac.clone()),
        mtu: (link.mtu != was.mtu).then_some(was.mtu),
        alias: (link.alias != was.alias).then(|| was.alias.clone().unwrap_or_default()),
        ..LinkChange::default()
    };
    let mut requests = vec![set_link_request(link.index, &change)];
    requests.extend(add_requests(link.index, name, &rec.addrs));
    if was.up {
        requests.push(up_request(link.index, true));
    }
    let first_route = requests.len();
    requests.extend(route::restore_requests(link.index, &rec.routes));
    for (pos, e) in sock.batch(requests).map_err(kernel_error("restore the interface on the host"))? {
        match pos.checked_sub(first_route).and_then(|i| rec.routes.get(i)) {
            Some(r) => warn!("cannot put route {} back on {name}: {e}", r.dst),
            None => return Err(kernel_error(&format!("restore {name} on the host"))(e)),
        }
    }
    let lost: Vec<String> = was.altnames.iter().filter(|a| !link.altnames.contains(a)).cloned().collect();
    if let Err(e) = sock.add_altnames(link.index, &lost) {
        warn!("cannot give {name} back its altnames {lost:?}: {e}");
    }
    Ok(())
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
    let Ok(_lock) = store.lock_key(key) else { return false };
    let Ok(Some(rec)) = store.load(key) else { return true };
    if rec.phase != Phase::Parked {
        return true;
    }
    if !host.sock.link_by_name(&rec.host.name).is_ok_and(|l| l.is_none()) {
        return false;
    }
    match bring_home(host, None, &rec) {
        Ok(Outcome::Home) => store.remove(key).is_ok(),
        Ok(_) => false,
        Err(e) => {
            warn!("cannot unpark {}: {e}", rec.host.name);
            false
        }
    }
}
