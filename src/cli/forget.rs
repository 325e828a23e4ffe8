//! `hostdev forget NETWORK CONTAINER IFNAME`: drops one attachment's
//! record (and its device's claim, when it names that record) after the
//! operator checked that nothing waits for it: a `lost` record whose
//! device they found, say. Under the attachment's lock, as the plugin
//! takes it, so no ADD, DEL, CHECK or GC of it runs meanwhile. It changes
//! no interface, only what hostdev remembers.

use std::path::PathBuf;
use std::process::ExitCode;

use super::list::escape::for_terminal;
use crate::state::{Key, Record, Store};

#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub data_dir: PathBuf,
    pub key: Key,
}

pub fn forget(opts: &Options) -> ExitCode {
    match drop_record(opts) {
        Ok(said) => {
            println!("{}", for_terminal(&said));
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("hostdev: {}", for_terminal(&msg));
            ExitCode::FAILURE
        }
    }
}

/// Removes the record under its lock; says what it dropped.
fn drop_record(opts: &Options) -> Result<String, String> {
    let key = &opts.key;
    let shown = format!("{}/{}/{}", key.network, key.container_id, key.ifname);
    let store = Store::open_existing(&opts.data_dir)
        .map_err(|e| e.msg)?
        .ok_or_else(|| format!("{}: no such data directory", opts.data_dir.display()))?;
    let _lock = store.lock_key(key).map_err(|e| e.msg)?;
    let rec = store
        .load(key)
        .map_err(|e| e.msg)?
        .ok_or_else(|| format!("no record of {shown} in {}", opts.data_dir.display()))?;
    let claim =
        store.claimant(rec.device()).ok().flatten().filter(|c| c.key() == *key).map(|_| rec.device().claim_name());
    store.remove(&rec).map_err(|e| e.msg)?;
    Ok(format!("dropped the record of {shown}: {}{}", describe(&rec), claimed(claim)))
}

/// What the record said: the device, its phase and why it was lost.
fn describe(rec: &Record) -> String {
    let device = match &rec.userspace {
        Some(dev) => format!("device {} ({})", dev.id, dev.driver),
        None => format!(
            "interface {} (host index {}, {}, MAC {})",
            rec.host.name,
            rec.host.index,
            rec.host.kind.as_deref().unwrap_or("physical"),
            rec.host.mac
        ),
    };
    let phase = serde_json::to_value(rec.phase).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default();
    let lost = rec.lost.as_ref().map(|why| format!(": {why}")).unwrap_or_default();
    format!("{device} of {}, phase {phase}{lost}", rec.holder())
}

fn claimed(claim: Option<String>) -> String {
    claim.map_or_else(|| "; no claim named it".into(), |c| format!("; and its claim {c}"))
}
