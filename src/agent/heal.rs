//! Healing one attachment, exactly as DEL would and through the same way
//! home (`cmd::home::finish`), under the same per-attachment lock: only
//! once its namespace is proven dead, never while another call holds the
//! lock, and without waiting on the kernel (what is still on its way
//! comes back as a link event, and the agent looks again then).

use crate::cmd::Host;
use crate::cmd::home;
use crate::cmd::locate::{Place, locate};
use crate::cni::Result;
use crate::state::{Anchor, Key, Phase, Record, Store};
use crate::{info, warn};

#[cfg(test)]
mod tests;

use super::proof::{Census, Verdict, verdict};

/// What became of one look at an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// Nothing to do, or nothing proven: the attachment stays as it is.
    Nothing,
    /// Another call holds its lock: that call finishes it, or the next
    /// sweep looks again.
    Busy,
    /// Its namespace is dead, but it cannot be finished yet (its device is
    /// on its way back): look again at the next link event.
    Pending,
    /// Healed: the record is gone, or parked under a free name.
    Healed,
}

/// Looks at the attachment `key` and heals it if its namespace is proven
/// dead; `announced` when the kernel said so (RTM_DELNSID); `census` says
/// which namespace holds which id, when a sweep may afford one.
pub fn consider(host: &mut Host, store: &Store, key: &Key, announced: bool, census: &mut Census) -> Done {
    set_context(key);
    let lock = match store.try_lock_key(key) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            info!("skipped: another hostdev call holds its lock; looking again at the next sweep");
            return Done::Busy;
        }
        Err(e) => {
            warn!("skipped: {e}");
            return Done::Nothing;
        }
    };
    let rec = match store.load(key) {
        // Parked ones are home: unpark_all's. Checked here, under the lock,
        // not when the pass reads the records: one may be parked between.
        Ok(Some(rec)) if rec.phase != Phase::Parked => rec,
        Ok(_) => return Done::Nothing,
        Err(e) => {
            warn!("skipped: {e}");
            return Done::Nothing;
        }
    };
    let why = match verdict(host, &rec, announced, census) {
        Verdict::Alive(via) => {
            if rec.phase != Phase::Attached || announced {
                info!("left alone: its namespace is alive"; phase = rec.phase.name(), via = via);
            }
            return Done::Nothing;
        }
        Verdict::Unproven(what) => {
            crate::debug!("left alone: nothing proves its namespace dead"; why = what);
            return Done::Nothing;
        }
        Verdict::Dead(why) => why,
    };
    let done = heal(host, store, rec, &why);
    drop(lock);
    done
}

/// Heals `rec`, whose namespace is dead (`why`).
fn heal(host: &mut Host, store: &Store, rec: Record, why: &str) -> Done {
    let device = rec.host.name.clone();
    if droppable(&rec) {
        return drop_lost(store, &rec, why);
    }
    if rec.userspace.is_none()
        && let Some(what) = on_its_way(&rec, locate(host, None, &rec))
    {
        info!("its namespace is dead; waiting for the kernel"; device = device, why = why, waiting = what);
        return Done::Pending;
    }
    info!("healing: its namespace is dead"; device = device, phase = rec.phase.name(), why = why);
    let key = rec.key();
    if let Err(e) = home::finish(host, None, store, rec) {
        warn!("cannot heal it yet: {e}"; device = device);
        return Done::Pending;
    }
    match store.load(&key) {
        Ok(None) => info!("healed"; device = device, record = "removed", why = why),
        Ok(Some(rec)) if rec.phase == Phase::Parked => {
            info!("healed"; device = device, record = "parked", parked_as = rec.parked_as.unwrap_or_default(), why = why)
        }
        Ok(Some(rec)) => return left_lost(store, &rec, why),
        Err(e) => warn!("{e}"),
    }
    Done::Healed
}

/// The record the way home left neither removed nor parked: lost. A
/// virtual device's is dropped; a NIC's stays (the kernel returns it), and
/// is looked at again.
fn left_lost(store: &Store, rec: &Record, why: &str) -> Done {
    if droppable(rec) {
        return drop_lost(store, rec, why);
    }
    warn!("not healed"; device = rec.host.name, phase = rec.phase.name());
    Done::Pending
}

/// A lost record of a virtual device whose namespace is dead: the device
/// died with its namespace, or lives on where nothing proves it ours, and
/// the record only refuses it to others. Checked before the way home and
/// after it (which may be what finds the device lost). A physical device
/// comes back: its record stays.
fn droppable(rec: &Record) -> bool {
    rec.phase == Phase::Lost && rec.anchor != Anchor::Parent
}

/// Drops the lost record of a virtual device whose namespace is dead.
fn drop_lost(store: &Store, rec: &Record, why: &str) -> Done {
    match store.remove(rec) {
        Ok(()) => {
            info!("healed"; device = rec.host.name, record = "dropped: a virtual device does not outlive its namespace", why = why);
            Done::Healed
        }
        Err(e) => {
            warn!("cannot drop the lost record: {e}"; device = rec.host.name);
            Done::Pending
        }
    }
}

/// What is not here yet, given where `locate` found it, without waiting:
/// a physical device the kernel is still returning (it appears as
/// RTM_NEWLINK), a veth its dying namespace still holds (its peer's
/// RTM_DELLINK follows); or what kept `locate` from answering.
fn on_its_way(rec: &Record, located: Result<Place>) -> Option<String> {
    match located {
        Ok(place) => home::in_transit(rec, &place).cloned(),
        Err(e) => Some(e.msg),
    }
}

/// Every line about this attachment names it, as the plugin's lines do.
fn set_context(key: &Key) {
    crate::log::set_context(crate::log::Context {
        command: super::COMMAND,
        network: key.network.clone(),
        container: key.container_id.clone(),
        ifname: key.ifname.clone(),
    });
}
