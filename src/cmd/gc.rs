//! GC: every attachment of this network the runtime no longer knows is
//! cleaned up as DEL would, including interfaces whose container is gone.
//! Each one's IPAM allocation is released with IPAM DEL, as its DEL would;
//! GC is then forwarded to IPAM. Keeps going past errors and reports them
//! together.

use crate::cmd::{Container, Host, home};
use crate::cni::ipam::Ipam;
use crate::cni::version::V1_1_0;
use crate::cni::{Env, Error, NetConf, Result, code};
use crate::state::{Key, Store};
use crate::{debug, info};

pub fn gc(env: &Env, conf: &NetConf) -> Result<()> {
    conf.cni_version.require(V1_1_0, "GC")?;
    let valid = &conf.valid_attachments;
    let store = Store::open(&conf.data_dir)?;
    let mut host = Host::open()?;
    store.sweep_leftovers();
    home::unpark_all(&mut host, &store);
    let (mut errors, mut stale) = (Vec::new(), 0);
    for (_, rec) in store.list()? {
        match rec {
            Err(e) => errors.push(e.into()),
            Ok(rec) if rec.network != conf.name || valid.contains(&(rec.container_id.clone(), rec.ifname.clone())) => {}
            Ok(rec) => {
                stale += 1;
                errors.extend(collect(&mut host, &store, env, conf, &rec.key()).err());
            }
        }
    }
    debug!("attachments checked"; valid = valid.len(), stale = stale, problems = errors.len());
    if let Some(ipam) = Ipam::of(env, conf)
        && let Err(e) = ipam.call("GC")
    {
        errors.push(e);
    }
    match errors.as_slice() {
        [] => Ok(()),
        [first, ..] => {
            // One kind of problem keeps its own code; a mix is reported as 100.
            let code = if errors.iter().all(|e| e.code == first.code) { first.code } else { code::KERNEL };
            let msgs: Vec<&str> = errors.iter().map(|e| e.msg.as_str()).collect();
            Err(Error::new(code, format!("GC left {} problem(s): {}", errors.len(), msgs.join("; "))))
        }
    }
}

/// Cleans up one stale attachment as DEL would, under its lock, IPAM
/// allocation included. One that another call holds (an ADD still in
/// progress, a DEL) is skipped, allocation and all: GC never works on a
/// half-done attachment.
fn collect(host: &mut Host, store: &Store, env: &Env, conf: &NetConf, key: &Key) -> Result<()> {
    let Some(_lock) = store.try_lock_key(key)? else {
        info!("skipping a stale attachment: another call is working on it"; container = key.container_id, ifname = key.ifname);
        return Ok(());
    };
    let Some(rec) = store.load(key)? else { return Ok(()) };
    info!("collecting a stale attachment"; container = rec.container_id, ifname = rec.ifname, device = rec.host.name);
    let mut ctr = Container::of_record(rec.netns.as_deref(), &rec, host);
    let homecoming = home::finish(host, ctr.as_mut(), store, rec);
    homecoming.and(release_ipam(env, conf, key))
}

/// Releases a stale attachment's IPAM allocation as its DEL would, whatever
/// became of its interface: IPAM DEL with that attachment's container id
/// and interface name (no namespace: it may be gone). A plugin older than
/// CNI 1.1 has no GC that would do it; one that has GC is told once more,
/// harmlessly.
fn release_ipam(env: &Env, conf: &NetConf, key: &Key) -> Result<()> {
    // The command the plugin sees is call()'s argument, not Env.command.
    let theirs = Env { container_id: key.container_id.clone(), ifname: key.ifname.clone(), netns: None, ..env.clone() };
    Ipam::of(&theirs, conf).map_or(Ok(()), |ipam| ipam.call("DEL"))
}
