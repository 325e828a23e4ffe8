//! `hostdev list`: every attachment recorded in a data directory, read
//! through the same `state` module the plugin writes with, and where its
//! interface is now, looked up live. Reads only: it creates, locks and
//! changes nothing, so it is safe while the plugin runs.

pub(super) mod escape;
mod place;
mod table;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::Serialize;

use crate::cni::env::Pod;
use crate::state::{Phase, Record, Store};
use place::Finder;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    #[default]
    Table,
    Json,
}

/// Which attachments to show; None shows all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    pub network: Option<String>,
    /// `NAMESPACE/NAME`, or `NAME` in any namespace.
    pub pod: Option<String>,
    pub phase: Option<Phase>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub data_dir: PathBuf,
    pub output: Output,
    pub filter: Filter,
}

/// One line of the listing, as `--output json` prints it: the fields
/// docs/operations.md documents, in this order. An unreadable record has
/// only `file` and `error`.
#[derive(Debug, Serialize)]
struct Entry {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(flatten)]
    attachment: Option<Attachment>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Attachment {
    network: String,
    container_id: String,
    ifname: String,
    pod: Option<Pod>,
    host_ifname: Option<String>,
    mac: Option<String>,
    pci: Option<String>,
    userspace_driver: Option<String>,
    phase: Phase,
    parked_as: Option<String>,
    netns: Option<String>,
    added_at: Option<u64>,
    age_seconds: Option<u64>,
    #[serde(rename = "where")]
    place: Option<&'static str>,
    where_detail: Option<String>,
    note: Option<String>,
}

pub fn list(opts: &Options) -> ExitCode {
    let records = match read(&opts.data_dir) {
        Ok(records) => records,
        Err(msg) => return failed(&msg),
    };
    let mut finder = Finder::new();
    let now = crate::state::now();
    let entries: Vec<Entry> = records
        .into_iter()
        .filter(|(_, rec)| rec.as_ref().map_or(true, |r| opts.filter.matches(r)))
        .map(|(file, rec)| match rec {
            Ok(rec) => Entry { file, error: None, attachment: Some(attachment(&rec, &mut finder, now)) },
            Err(e) => Entry { file, error: Some(e.msg), attachment: None },
        })
        .collect();
    match opts.output {
        Output::Json => println!("{}", escape::for_json(&serde_json::to_string_pretty(&entries).expect("serialises"))),
        Output::Table if entries.is_empty() => eprintln!("hostdev: no attachments in {}", opts.data_dir.display()),
        Output::Table => print!("{}", table::render(&entries)),
    }
    let unreadable = entries.iter().filter(|e| e.error.is_some()).count();
    if unreadable > 0 {
        return failed(&format!("{unreadable} record(s) in {} unreadable", opts.data_dir.display()));
    }
    ExitCode::SUCCESS
}

/// Every record, sorted by file name. A missing or unreadable directory is
/// an error: "no attachments" would hide a typo or a missing `sudo`.
fn read(dir: &Path) -> Result<Vec<(String, crate::state::Result<Record>)>, String> {
    let store = match Store::open_existing(dir) {
        Ok(Some(store)) => store,
        Ok(None) => {
            return Err(format!(
                "dataDir {}: no such directory (is --data-dir right? the plugin creates it at its first ADD)",
                dir.display()
            ));
        }
        Err(e) => return Err(format!("{}{}", e.msg, root_hint())),
    };
    let mut records = store.list().map_err(|e| format!("{}{}", e.msg, root_hint()))?;
    records.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(records)
}

/// The data directory is root's alone: say so to anybody else.
fn root_hint() -> &'static str {
    if nix::unistd::geteuid().is_root() { "" } else { " (only root can read hostdev's records: run it as root)" }
}

fn failed(msg: &str) -> ExitCode {
    eprintln!("hostdev: {}", escape::for_terminal(msg));
    ExitCode::FAILURE
}

impl Filter {
    fn matches(&self, rec: &Record) -> bool {
        let pod = |want: &str| {
            rec.pod.as_ref().is_some_and(|p| match want.split_once('/') {
                Some((ns, name)) => p.namespace == ns && p.name == name,
                None => p.name == want,
            })
        };
        self.network.as_ref().is_none_or(|n| *n == rec.network)
            && self.pod.as_deref().is_none_or(pod)
            && self.phase.is_none_or(|p| p == rec.phase)
    }
}

fn attachment(rec: &Record, finder: &mut Finder, now: u64) -> Attachment {
    let place = finder.find(rec);
    Attachment {
        network: rec.network.clone(),
        container_id: rec.container_id.clone(),
        ifname: rec.ifname.clone(),
        pod: rec.pod.clone(),
        host_ifname: rec.userspace.is_none().then(|| rec.host.name.clone()),
        mac: rec.userspace.is_none().then(|| rec.host.mac.clone()),
        pci: pci_address(rec),
        userspace_driver: rec.userspace.as_ref().map(|u| u.driver.clone()),
        phase: rec.phase,
        parked_as: rec.parked_as.clone(),
        netns: rec.netns.as_ref().map(|p| p.display().to_string()),
        added_at: rec.added,
        age_seconds: rec.added.map(|added| now.saturating_sub(added)),
        place: place.as_ref().map(|p| p.word),
        where_detail: place.and_then(|p| p.detail),
        note: note(rec),
    }
}

/// The device's PCI address: its parent on the pci bus, or the userspace
/// device when it is a PCI function (not an auxiliary device).
fn pci_address(rec: &Record) -> Option<String> {
    if let Some(device) = &rec.userspace {
        return device.id.contains(':').then(|| device.id.clone());
    }
    rec.host.parent.as_ref().filter(|p| p.bus == "pci").map(|p| p.device.clone())
}

/// What the record says an operator should know beyond the phase.
fn note(rec: &Record) -> Option<String> {
    // An ADD that took a parked interface back knows its parking name too
    // until the move: only a parked record is waiting for its name.
    if rec.phase == Phase::Parked
        && let Some(parked) = &rec.parked_as
    {
        return Some(format!(
            "home as {parked}: its own name is taken; the next ADD, DEL, GC or STATUS renames it back"
        ));
    }
    // What the node agent waits for: said from the record alone (no
    // look through /proc), for the phases it finishes.
    let agent = || format!("the node agent (hostdev reconcile) {}", crate::agent::waiting_for(rec));
    if let Some(why) = &rec.lost {
        return Some(format!("{why}; {}", agent()));
    }
    if let Some(device) = &rec.userspace {
        return Some(format!("bound to {}: nothing was moved", device.driver));
    }
    match rec.phase {
        Phase::Adding => {
            Some(format!("ADD did not finish: DEL or GC of this attachment finishes the job; {}", agent()))
        }
        Phase::Removing => {
            Some(format!("DEL did not finish: DEL or GC of this attachment finishes the job; {}", agent()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::Parent;

    fn record() -> Record {
        let key = crate::state::Key { network: "n".into(), container_id: "c".into(), ifname: "eth0".into() };
        Record::new(&key, None, crate::netlink::Link::default(), Vec::new())
    }

    #[test]
    fn the_pci_address_is_the_parent_on_the_pci_bus_or_the_userspace_function() {
        let mut rec = record();
        assert_eq!(pci_address(&rec), None);
        rec.host.parent = Some(Parent { bus: "pci".into(), device: "0000:00:0d.0".into() });
        assert_eq!(pci_address(&rec).as_deref(), Some("0000:00:0d.0"));
        rec.host.parent = Some(Parent { bus: "auxiliary".into(), device: "mlx5_core.sf.2".into() });
        assert_eq!(pci_address(&rec), None);
        let device = |id: &str| crate::device::Userspace { id: id.into(), driver: "vfio-pci".into() };
        rec.userspace = Some(device("0000:03:00.1"));
        assert_eq!(pci_address(&rec).as_deref(), Some("0000:03:00.1"));
        rec.userspace = Some(device("mlx5_core.sf.2"));
        assert_eq!(pci_address(&rec), None);
    }

    #[test]
    fn pods_match_by_namespace_and_name_or_by_name() {
        let mut rec = record();
        let by = |pod: &str| Filter { pod: Some(pod.into()), ..Filter::default() };
        assert!(!by("web-0").matches(&rec), "a record without a pod matches no pod filter");
        rec.pod = Some(Pod { namespace: "shop".into(), name: "web-0".into() });
        assert!(by("web-0").matches(&rec) && by("shop/web-0").matches(&rec));
        assert!(!by("other/web-0").matches(&rec) && !by("shop").matches(&rec) && !by("shop/").matches(&rec));
        assert!(Filter::default().matches(&rec));
    }

    #[test]
    fn phases_are_named_as_in_records() {
        assert_eq!(Phase::name(Phase::Attached), "attached");
        assert_eq!(Phase::name(Phase::Adding), "adding");
        assert_eq!(Phase::name(Phase::Parked), "parked");
        assert_eq!(Phase::name(Phase::Lost), "lost");
    }
}
