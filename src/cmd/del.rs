//! DEL: bring the interface home with everything it had. Best effort and
//! idempotent: no record, no namespace, an interface proven gone are all
//! success. An interface that exists but cannot come home is a failure,
//! and its record stays for the runtime's next DEL.

use crate::cmd::adopt;
use crate::cmd::home::{self, Outcome, bring_home};
use crate::cmd::{Container, Host};
use crate::cni::ipam::Ipam;
use crate::cni::{Env, NetConf, Result};
use crate::failpoint;
use crate::state::{Key, Phase, Record, Store};
use crate::warn;

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
    let rec = match store.load(&key)? {
        Some(rec) => rec,
        // Upstream host-device's attachment, or one whose record was lost.
        None => match adopt::adoptable(env, conf, &mut host)? {
            Some(rec) => rec,
            None => return Ok(()),
        },
    };
    // containerd sends DEL with an empty CNI_NETNS on a second stop; the
    // namespace ADD used may still hold the interface.
    let path = env.netns.as_deref().or(rec.netns.as_deref());
    let mut ctr = path.and_then(|p| Container::find(p, &host));
    finish(&mut host, ctr.as_mut(), &store, rec)
}

/// Brings `rec`'s interface home and updates the record to match. The
/// record goes only on proof: home and restored, or proven gone.
pub fn finish(host: &mut Host, ctr: Option<&mut Container>, store: &Store, mut rec: Record) -> Result<()> {
    if rec.userspace.is_some() {
        return store.remove(&rec); // nothing was moved
    }
    // A parked interface is already home: only its name is missing.
    let ctr = if rec.phase == Phase::Parked { None } else { ctr };
    if !matches!(rec.phase, Phase::Parked | Phase::Removing) {
        rec.phase = Phase::Removing;
        store.save(&rec)?;
    }
    failpoint::hit("del-after-record");
    match bring_home(host, ctr, &rec)? {
        Outcome::Home | Outcome::Gone => store.remove(&rec),
        Outcome::Lost(why) => {
            warn!("the record of {} stays as lost: {why}", rec.host.name);
            rec.phase = Phase::Lost;
            rec.lost = Some(why);
            store.save(&rec)
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
