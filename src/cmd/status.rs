//! STATUS: could an ADD succeed now? Exit 0, or code 50 (not ready) / 51
//! (existing attachments affected) with the reason. An IPAM plugin's own
//! STATUS error is passed through with its code and details.

use crate::cmd::{Host, home};
use crate::cni::config::Selector;
use crate::cni::ipam::Ipam;
use crate::cni::version::V1_1_0;
use crate::cni::{Env, Error, NetConf, Result, code};
use crate::state::{Phase, Record, Store};
use crate::{debug, device, warn};

pub fn status(env: &Env, conf: &NetConf) -> Result<()> {
    conf.cni_version.require(V1_1_0, "STATUS")?;
    let not_ready = |why: String| Error::new(code::NOT_READY, why);
    let store = Store::open(&conf.data_dir).map_err(|e| not_ready(format!("data directory unusable: {}", e.msg)))?;
    store.check_writable().map_err(|e| not_ready(format!("data directory unusable: {}", e.msg)))?;
    let records = store.list().map_err(|e| not_ready(e.msg))?;
    // An unreadable record stops neither ADD nor any pod's traffic (the
    // spec's 50 and 51): only that attachment's DEL cannot restore it.
    let unreadable: Vec<&str> = records.iter().filter_map(|(_, r)| r.as_ref().err()).map(|e| e.msg.as_str()).collect();
    for why in &unreadable {
        warn!("{why}; ADD is not affected, but DEL cannot restore that attachment's interface");
    }
    let with_records = |e: Error| match unreadable.as_slice() {
        [] => e,
        list => Error { msg: format!("{} (also unreadable: {})", e.msg, list.join("; ")), ..e },
    };
    report_lost(&records);
    let mut host = Host::open().map_err(|e| with_records(not_ready(e.msg)))?;
    home::unpark_all(&mut host, &store);
    // A network whose device comes only from runtimeConfig.deviceID has no
    // device to look for: libcni's STATUS sends no runtimeConfig.
    if conf.selector != Selector::default() {
        let attached =
            records.iter().filter_map(|(_, r)| r.as_ref().ok()).any(|r| device::could_name(&conf.selector, &r.host));
        if let Err(e) = device::select(&mut host.sock, &conf.selector, &mut None)
            && !(e.kind == device::Kind::NotFound && attached)
        {
            return Err(with_records(not_ready(e.msg)));
        }
    }
    if let Some(ipam) = Ipam::of(env, conf) {
        ipam.call("STATUS").map_err(|e| with_records(ipam_status(e)))?;
    }
    debug!("ready"; records = records.len());
    Ok(())
}

/// Lost interfaces affect neither ADD nor other pods, so STATUS stays
/// successful, but it says in the log what an operator should look at
/// (`hostdev list` shows the same).
fn report_lost(records: &[(String, crate::state::Result<Record>)]) {
    for rec in records.iter().filter_map(|(_, r)| r.as_ref().ok()).filter(|r| r.phase == Phase::Lost) {
        warn!(
            "an interface is lost";
            device = rec.host.name,
            holder = rec.holder(),
            ifname = rec.ifname,
            attachment_network = rec.network,
            why = rec.lost.as_deref().unwrap_or("no reason recorded"),
        );
    }
}

/// A plugin that cannot be found or run is not ready (50); what a plugin
/// reports itself keeps its code and details.
fn ipam_status(e: Error) -> Error {
    match e.code {
        code::IPAM | code::INVALID_ENV => Error { code: code::NOT_READY, ..e },
        _ => e,
    }
}
