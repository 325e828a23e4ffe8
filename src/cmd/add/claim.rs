//! ADD's claim: under the store's lock, the device is selected, checked
//! free, snapshotted and recorded, before anything moves.

use std::os::fd::AsFd;

use crate::cmd::Host;
use crate::cmd::errors::kernel_error;
use crate::cmd::locate::anchor_of;
use crate::cmd::settings::Plan;
use crate::cni::config::Unprovable;
use crate::cni::error::config_error;
use crate::cni::{Error, NetConf, Result, code};
use crate::device::{self, Selected};
use crate::netlink::route::RouteEntry;
use crate::netlink::{Link, Socket};
use crate::state::{Anchor, Device, Key, Phase, Record, Store};
use crate::{info, warn};

use super::Attachment;
use super::carry::record_routing;
use super::guard::{Stack, check_container, guard_default_route, guard_upper_devices};

#[cfg(test)]
mod tests;

/// Under the store's lock: selects the device, checks that no other
/// attachment holds it, snapshots it, checks that the container can take
/// it, and writes the record. The lock is released before anything moves.
pub(super) fn claim(att: &mut Attachment) -> Result<Record> {
    let (store, key) = (att.store, att.key.clone());
    let _lock = store.lock()?;
    let same_key = same_key_record(store, &key)?;
    let (mut rec, parked) = record_selected(att)?;
    // The same key's parked record may only give way to its own device.
    let inherits_same_key = parked.as_ref().is_some_and(|p| p.key() == key);
    if let Some(waiting) = same_key.filter(|_| !inherits_same_key) {
        return Err(still_parked(&waiting, &key));
    }
    rec.pod = att.env.pod.clone();
    rec.added = Some(crate::state::now());
    watch_namespace(att, &mut rec);
    write(store, &rec)?;
    if let Some(parked) = parked.filter(|_| !inherits_same_key) {
        store.remove(&parked)?; // this attachment carries its name now
    }
    Ok(rec)
}

/// The record already under this attachment's key, if it may stay while
/// the claim goes on. A parked one (podman reuses a container's id when it
/// restarts it) gives way later if it is the same device; a lost one (its
/// DEL succeeded, nothing could be done) gives way to the new attachment
/// now. Any other means the container already has this attachment.
fn same_key_record(store: &Store, key: &Key) -> Result<Option<Record>> {
    let same_key = store.load(key)?.filter(|r| {
        let lost = r.phase == Phase::Lost;
        if lost {
            warn!("the record of {}, lost since an earlier DEL, is replaced by this attachment", r.host.name);
        }
        !lost
    });
    if same_key.as_ref().is_some_and(|r| r.phase != Phase::Parked) {
        return Err(Error::new(
            code::DEVICE_BUSY,
            format!(
                "container {} already has an attachment {} on network {}; DEL it first",
                key.container_id, key.ifname, key.network
            ),
        ));
    }
    Ok(same_key)
}

/// The selected device's record, once no other attachment holds it, and
/// the parked record it takes over (the same device, home and waiting for
/// its name), if any.
fn record_selected(att: &mut Attachment) -> Result<(Record, Option<Record>)> {
    let (store, key, netns) = (att.store, att.key.clone(), att.env.netns.clone());
    let mut dump = None;
    let selected = select_device(&mut att.host, att.conf, store, &mut dump)?;
    crate::failpoint::pause("add-after-select");
    match selected {
        Selected::Userspace(device) => {
            check_unclaimed(store, &key, &device.id, Device::Userspace(&device))?;
            Ok((Record::userspace(&key, netns, device), None))
        }
        Selected::Netdev(found) => {
            let parked = check_unclaimed(store, &key, &found.name, Device::Interface(&found))?;
            let mut rec = snapshot(att, netns, &found, dump)?;
            if let Some(parked) = &parked {
                // A parked interface keeps its true name: DEL brings it home
                // as that. Until it moves, the record knows it by its parking
                // name too, so its claim holds (see Record::describes).
                rec.host.name = parked.host.name.clone();
                rec.parked_as = parked.parked_as.clone();
            }
            Ok((rec, parked))
        }
    }
}

/// The same key's parked record (`waiting`) holds another device than
/// the one selected now: its own must come home first.
fn still_parked(waiting: &Record, key: &Key) -> Error {
    Error::new(
        code::DEVICE_BUSY,
        format!(
            "{} from an earlier attachment of container {} as {} is parked, waiting for its name; it must come home first",
            waiting.host.name, key.container_id, key.ifname
        ),
    )
}

/// Claims the device and writes the record: from here on, the device is
/// this attachment's, and a crash leaves a record for DEL or GC.
fn write(store: &Store, rec: &Record) -> Result<()> {
    store.claim(rec)?;
    store.save(rec)?;
    info!(
        "recorded the host interface";
        device = rec.host.name,
        index = rec.host.index,
        mac = rec.host.mac,
        addresses = rec.addrs.len(),
        routes = rec.routes.len(),
        state = if rec.host.up { "up" } else { "down" },
    );
    Ok(())
}

/// Records the container namespace's identity and the id the host gives
/// it (given now if it had none), so that its death arrives at the node
/// agent as RTM_DELNSID. Without an id the agent cannot prove the death:
/// a warning, not a failed ADD (DEL and GC still finish the job).
fn watch_namespace(att: &mut Attachment, rec: &mut Record) {
    rec.netns_identity = Some(att.ctr.ns.identity());
    // The container's netlink socket was made in its namespace: one call.
    rec.netns_cookie = crate::netns::cookie_of_socket(att.ctr.sock.fd());
    match att.host.sock.give_nsid(att.ctr.ns.as_fd()) {
        Ok(id) => rec.nsid = Some(id),
        Err(e) => {
            warn!("cannot give the container's namespace an id on the host ({e}): the node agent will not see it die")
        }
    }
}

/// What the selectors name (see `device::select` for `dump`); when nothing
/// is found because another attachment holds the device, says so.
pub(super) fn select_device(
    host: &mut Host,
    conf: &NetConf,
    store: &Store,
    dump: &mut Option<Vec<Link>>,
) -> Result<Selected> {
    device::select(&mut host.sock, &conf.selector, dump).map_err(|e| {
        if e.kind != device::Kind::NotFound {
            return e.into();
        }
        let holder = store
            .list()
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|(_, r)| r.ok())
            .find(|r| device::could_name(&conf.selector, &r.host));
        holder.map_or_else(|| e.into(), |r| held(&r))
    })
}

/// Why the device `r` holds is not on the host: attached (102), or on
/// its way back from a namespace that is gone (11: it will be).
fn held(r: &Record) -> Error {
    if on_its_way_home(r) {
        return Error::new(
            code::TRY_AGAIN,
            format!(
                "device {:?} is on its way back from the namespace of {}, which is gone (the kernel returns a physical device asynchronously); try again later",
                r.host.name,
                r.holder()
            ),
        );
    }
    Error::new(
        code::DEVICE_BUSY,
        format!("device {:?} is attached to {} as {} (network {})", r.host.name, r.holder(), r.ifname, r.network),
    )
}

/// A physical device whose attachment's namespace no longer exists: the
/// kernel is returning it to the host (DEL or GC then restores it).
pub(super) fn on_its_way_home(rec: &Record) -> bool {
    rec.anchor == Anchor::Parent && rec.phase != Phase::Parked && rec.netns.as_deref().is_some_and(|p| !p.exists())
}

/// The record of a netdev: read only now, after the claim check (a DEL
/// still restoring the device holds its record until the restore is
/// complete, and was refused), with the checks that need the fresh state.
pub(super) fn snapshot(
    att: &mut Attachment,
    netns: Option<std::path::PathBuf>,
    found: &Link,
    dump: Option<Vec<Link>>,
) -> Result<Record> {
    let (env, conf, key, host, ctr) = (att.env, att.conf, &att.key, &mut att.host, &mut att.ctr);
    let (mut link, all) = fresh(&mut host.sock, found, dump)?;
    device::check_movable(&link)?;
    let stack = Stack::of(&mut link, &all);
    let routes = routes_through(&mut host.sock, &link, &stack)?;
    guard_default_route(&routes, &link, &stack, conf.allow_default_route)?;
    guard_upper_devices(&link, &stack, conf.allow_upper_devices)?;
    let routes: Vec<RouteEntry> = routes.into_iter().filter(|r| r.uses(link.index)).collect();
    let addrs = host
        .sock
        .addrs(link.index, &link.mac)
        .map_err(kernel_error(&format!("read the addresses of {}", link.name)))?;
    check_container(&mut ctr.sock, &env.ifname, &link)?;
    let anchor = anchor_of(&link);
    let unprovable = match anchor {
        Anchor::Unprovable => Some(decided(conf, &link)?),
        _ => None,
    };
    let mut rec = Record::new(key, netns, link.clone(), addrs);
    let mut known = att.store.kernel_facts();
    att.plan = crate::cmd::settings::prepare(conf, &env.ifname, &link, &mut rec, &mut known.facts)?;
    att.store.keep(&known);
    record_vf(host, conf, &mut rec, &mut att.plan)?;
    rec.anchor = anchor;
    rec.unprovable = unprovable;
    rec.routes = routes.into_iter().filter(RouteEntry::worth_keeping).collect();
    record_routing(&mut host.sock, &mut rec, conf.use_interface_network == Some(true))?;
    Ok(rec)
}

/// The routes through `link`: for the guard, and to put back on DEL. With
/// a stack, the guard needs its devices' routes too: one unfiltered dump,
/// kept to the stack (the kernel filters by one device only).
fn routes_through(sock: &mut Socket, link: &Link, stack: &Stack) -> Result<Vec<RouteEntry>> {
    if stack.is_empty() {
        sock.routes(Some(link.index))
    } else {
        let ours = stack.indices(link);
        sock.routes(None).map(|r| r.into_iter().filter(|r| ours.iter().any(|i| r.uses(*i))).collect())
    }
    .map_err(kernel_error("read the host's routes"))
}

/// The VF's state as the PF holds it, recorded before anything changes,
/// and the device-info file to name when the device is a PCI function.
fn record_vf(host: &mut Host, conf: &NetConf, rec: &mut Record, plan: &mut Plan) -> Result<()> {
    let sysfs = crate::sysfs::Sysfs::from_env();
    rec.vf = crate::vf::snapshot(&mut host.sock, &sysfs, &rec.host, &conf.vf)?;
    rec.device_info = conf.device_info_file.clone().filter(|_| crate::vf::pci_of(&sysfs, &rec.host).is_some());
    if rec.vf.is_some() && conf.vf.mac.is_some() {
        // A VF takes its MAC from the PF's admin MAC (set before the move);
        // the move must not ask the VF's driver for it a second time.
        plan.link.mac = None;
    }
    Ok(())
}

/// The device as it is now, after the claim check, and the host's links
/// that answer for its master and what is stacked on it: the selector's
/// dump when it made one (only the device is read again: a DEL that held
/// it until the check may have changed it since), else `links_around`
/// (one dump, of which only those are decoded). A master missing from the
/// selector's dump means the stack changed meanwhile: then it is read
/// anew.
fn fresh(sock: &mut Socket, found: &Link, dump: Option<Vec<Link>>) -> Result<(Link, Vec<Link>)> {
    let vanished =
        || Error::new(code::DEVICE_NOT_FOUND, format!("device {:?} vanished while being attached", found.name));
    if let Some(all) = dump {
        let link = sock.link_by_index(found.index).map_err(kernel_error("read the selected device"))?;
        let link = link.ok_or_else(vanished)?;
        if link.master.as_ref().is_none_or(|m| all.iter().any(|l| l.index == m.index)) {
            return Ok((link, all));
        }
    }
    let all = sock.links_around(found.index).map_err(kernel_error("list the host's interfaces"))?;
    let link = all.iter().find(|l| l.index == found.index).cloned().ok_or_else(vanished)?;
    Ok((link, all))
}

/// A lost record (nothing proved where its device went) holding `what`,
/// which is on the host now: it gives way once its namespace is dead
/// (nothing reachable holds it), as nothing could then be waiting in it.
/// Under its attachment's lock, so no DEL or GC of it runs meanwhile.
fn lost_gives_way(store: &Store, key: &Key, what: &str, lost: Record) -> Result<Option<Record>> {
    let busy = |why: String| {
        Error::new(
            code::DEVICE_BUSY,
            format!(
                "device {what:?} is held by the lost attachment {} of {} (network {}): {why}. Once you have checked that nothing waits for it, `hostdev forget {} {} {}` drops that record",
                lost.ifname,
                lost.holder(),
                lost.network,
                lost.network,
                lost.container_id,
                lost.ifname
            ),
        )
    };
    if lost.key() == *key {
        return Ok(None); // this attachment replaces it (see `claim`)
    }
    if let Some(holder) = crate::cmd::namespace_holder(&lost) {
        return Err(busy(format!("its namespace is still alive ({holder})")));
    }
    let Some(_lock) = store.try_lock_key(&lost.key())? else {
        return Err(busy("another call is working on it".into()));
    };
    warn!(
        "the lost record gives way: its device is back on the host and its namespace is gone";
        device = what, attachment = format!("{}/{}/{}", lost.network, lost.container_id, lost.ifname),
    );
    store.remove(&lost)?;
    Ok(None)
}

/// What DEL is to do with `link`, which nothing a container cannot forge
/// identifies: the config must say (code 7 naming the key and the risk).
fn decided(conf: &NetConf, link: &Link) -> Result<Unprovable> {
    let kind = link.kind.as_deref().unwrap_or("device without a kind");
    let Some(decision) = conf.unprovable else {
        return Err(config_error(format!(
            "device {:?} is a {kind}: nothing a container cannot forge identifies it on DEL (its index, name, MAC and kind are the container's to set, and a tap or macvtap gives whoever holds its file descriptor the device's traffic). Set {key:?} to \"trustContainer\" to have DEL bring home whatever is CNI_IFNAME in the container with its kind and MAC, as upstream host-device does (a device the container made in its place would come into the host, with the container holding a file descriptor on it), or to \"leaveInContainer\" to leave it to the container for good",
            link.name,
            key = Unprovable::KEY
        )));
    };
    info!("the device is unprovable: DEL follows the config"; device = link.name, kind = kind, unprovable = decision.name());
    Ok(decision)
}

/// Fails when another attachment than `key`'s holds `device` (named
/// `what` in messages). A parked record (home, waiting for its name) does not
/// hold it: it is returned, so the new attachment can take over its name.
/// One claim file answers, whatever the number of attachments.
pub(super) fn check_unclaimed(store: &Store, key: &Key, what: &str, device: Device<'_>) -> Result<Option<Record>> {
    let Some(other) = store.claimant(device)? else { return Ok(None) };
    if !other.holds(device) {
        return Ok(None); // a stale claim: its record is about another device
    }
    if other.phase == Phase::Parked {
        return Ok(Some(other));
    }
    if other.phase == Phase::Lost {
        return lost_gives_way(store, key, what, other);
    }
    Err(Error::new(
        code::DEVICE_BUSY,
        format!(
            "device {what:?} is already attached to {} as {} (network {})",
            other.holder(),
            other.ifname,
            other.network
        ),
    ))
}
