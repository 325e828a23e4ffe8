//! DEL: bring the interface home with everything it had. Best effort and
//! idempotent: no record, no namespace, no interface are all success.

use std::os::fd::AsFd;
use std::path::Path;

use crate::cmd::Host;
use crate::cmd::home::{self, Outcome, bring_home};
use crate::cni::ipam::Ipam;
use crate::cni::{Env, NetConf, Result};
use crate::failpoint;
use crate::netlink::Socket;
use crate::netns::Netns;
use crate::state::{Key, Phase, Record, Store};
use crate::{info, warn};

pub fn del(env: &Env, conf: &NetConf) -> Result<()> {
    let homecoming = bring_back(env, conf);
    // The IPAM allocation is released whatever happened above, even with
    // no namespace at all (upstream host-device leaks it there).
    let released = Ipam::of(env, conf).map_or(Ok(()), |ipam| ipam.call("DEL"));
    homecoming.and(released)
}

fn bring_back(env: &Env, conf: &NetConf) -> Result<()> {
    let store = Store::open(&conf.data_dir)?;
    let key = Key { network: conf.name.clone(), container_id: env.container_id.clone(), ifname: env.ifname.clone() };
    let mut host = Host::open()?;
    // Before taking this attachment's lock: unparking takes the locks of
    // the parked records, which may include this one.
    home::unpark_all(&mut host, &store);
    let _lock = store.lock_key(&key)?;
    let rec = store.load(&key)?;
    let Some(rec) = rec else {
        info!("no record for {}/{}: nothing to do", key.container_id, key.ifname);
        return Ok(());
    };
    // containerd sends DEL with an empty CNI_NETNS on a second stop; the
    // namespace ADD used may still hold the interface.
    let path = env.netns.as_deref().or(rec.netns.as_deref());
    let mut ctr = path.and_then(|p| container_socket(p, &host));
    finish(&mut host, ctr.as_mut(), &store, rec)
}

/// The container's socket, when its namespace still exists and is not the
/// host's own.
pub fn container_socket(path: &Path, host: &Host) -> Option<Socket> {
    let ns = match Netns::open(path) {
        Ok(ns) => ns,
        Err(e) => {
            info!("container namespace unusable, looking on the host only: {}", e.msg);
            return None;
        }
    };
    if ns.same_as(&host.ns) {
        return None;
    }
    Socket::open_in(ns.as_fd(), host.ns.as_fd()).map_err(|e| warn!("cannot open a socket in the container: {e}")).ok()
}

/// Brings `rec`'s interface home and updates the record to match.
pub fn finish(host: &mut Host, ctr: Option<&mut Socket>, store: &Store, mut rec: Record) -> Result<()> {
    if rec.userspace.is_some() {
        return store.remove(&rec.key()); // nothing was moved
    }
    // A parked interface is already home: only its name is missing.
    let ctr = if rec.phase == Phase::Parked { None } else { ctr };
    if rec.phase != Phase::Parked {
        rec.phase = Phase::Removing;
        store.save(&rec)?;
    }
    failpoint::hit("del-after-record");
    match bring_home(host, ctr, &rec)? {
        Outcome::Home | Outcome::Gone => store.remove(&rec.key()),
        Outcome::Missing => Ok(()),
        Outcome::Parked(name) => {
            rec.phase = Phase::Parked;
            rec.parked_as = Some(name);
            store.save(&rec)?;
            store.mark_parked(); // after the record, so a sweep never misses it
            Ok(())
        }
    }
}
