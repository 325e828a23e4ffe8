//! STATUS: could an ADD succeed now? Exit 0, or code 50 (not ready) / 51
//! (existing attachments affected) with the reason.

use crate::cmd::{Host, home};
use crate::cni::ipam::Ipam;
use crate::cni::version::V1_1_0;
use crate::cni::{Env, Error, NetConf, Result, code};
use crate::device;
use crate::state::Store;

pub fn status(env: &Env, conf: &NetConf) -> Result<()> {
    conf.cni_version.require(V1_1_0, "STATUS")?;
    let not_ready = |why: String| Error::new(code::NOT_READY, why);
    let store = Store::open(&conf.data_dir).map_err(|e| not_ready(format!("data directory unusable: {}", e.msg)))?;
    let records = store.list().map_err(|e| not_ready(e.msg))?;
    if let Some((_, Err(e))) = records.iter().find(|(_, r)| r.is_err()) {
        return Err(Error::new(
            code::LIMITED_CONNECTIVITY,
            format!("an existing attachment cannot be managed: {}", e.msg),
        ));
    }
    let mut host = Host::open().map_err(|e| not_ready(e.msg))?;
    home::unpark_all(&mut host, &store);
    let attached = records.iter().filter_map(|(_, r)| r.as_ref().ok()).any(|r| device::names(&conf.selector, &r.host));
    if let Err(e) = device::select(&mut host.sock, &conf.selector)
        && !(e.code == code::DEVICE_NOT_FOUND && attached)
    {
        return Err(not_ready(e.msg));
    }
    if let Some(ipam) = Ipam::of(env, conf) {
        ipam.call("STATUS").map_err(|e| not_ready(e.msg))?;
    }
    Ok(())
}
