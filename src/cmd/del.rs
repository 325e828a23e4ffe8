//! DEL: bring the interface home with everything it had. Best effort and
//! idempotent: no record, no namespace, an interface proven gone are all
//! success. An interface that exists but cannot come home is a failure,
//! and its record stays for the runtime's next DEL.

use crate::cmd::adopt;
use crate::cmd::home;
use crate::cmd::{Container, Host, attachment};
use crate::cni::ipam::Ipam;
use crate::cni::{Env, NetConf, Result};
use crate::state::Store;

pub fn del(env: &Env, conf: &NetConf) -> Result<()> {
    let homecoming = bring_back(env, conf);
    // The IPAM allocation is released whatever happened above, even with
    // no namespace at all (upstream host-device leaks it there).
    let released = Ipam::of(env, conf).map_or(Ok(()), |ipam| ipam.call("DEL"));
    homecoming.and(released)
}

fn bring_back(env: &Env, conf: &NetConf) -> Result<()> {
    let store = Store::open(&conf.data_dir)?;
    let key = attachment(env, conf);
    let mut host = Host::open()?;
    // Before taking this attachment's lock: unparking takes the locks of
    // the parked records, which may include this one.
    home::unpark_all(&mut host, &store);
    let _lock = store.lock_key(&key)?;
    let rec = match store.load(&key)? {
        Some(rec) => rec,
        // Upstream host-device's attachment, or one whose record was lost.
        None => match adopt::adoptable(env, conf, &mut host, &store)? {
            Some(rec) => rec,
            None => return Ok(()),
        },
    };
    // containerd sends DEL with an empty CNI_NETNS on a second stop; the
    // namespace ADD used may still hold the interface, wherever it is now.
    let path = env.netns.as_deref().or(rec.netns.as_deref());
    let mut ctr = Container::of_record(path, &rec, &mut host);
    home::finish(&mut host, ctr.as_mut(), &store, rec)
}
