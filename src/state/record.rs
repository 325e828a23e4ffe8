//! The record of one attachment, as the rest of hostdev sees it: what the
//! host interface was before ADD, what proves its identity, and how far
//! ADD or DEL got. Its file format is `format`'s.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::{Key, format};
use crate::cni::config::Unprovable;
use crate::cni::env::Pod;
use crate::device::Userspace;
use crate::netlink::nexthop::Nexthop;
use crate::netlink::route::RouteEntry;
use crate::netlink::{Addr, Link};
use crate::netns::NsIdentity;
use crate::vf::VfRecord;

const FORMAT: u32 = 1;

/// How far an attachment got. Every step is recorded before the kernel
/// request it leads to, so a crash anywhere leaves a record DEL can finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The move into the container may have happened.
    Adding,
    /// ADD finished: the interface is in the container.
    Attached,
    /// The move home may have happened.
    Removing,
    /// The interface is home, under `parked_as`, because its own name was taken.
    Parked,
    /// Nobody knows where the interface is, and nothing proved it gone:
    /// `lost` says why. GC looks again; the record is the only memory of it.
    Lost,
}

impl Phase {
    /// The phase as records spell it, so that a phase added here shows up
    /// in logs and listings without a change there.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }
}

/// What proves that a link is the interface hostdev gave away: things a
/// container cannot forge (see the README's identity rule). Index, name,
/// MAC, alias and kind are only hints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Anchor {
    /// A physical device: the parent device on its bus (`host.parent`).
    Parent,
    /// A veth: its peer stays in the host at this index, and reports where
    /// our end is.
    Peer { index: u32 },
    /// A macvlan/ipvlan/vlan: its lower device in the host at this index.
    Lower { index: u32 },
    /// Nothing a container cannot forge (tap, vcan, macvtap, ...): DEL
    /// does what the record's `unprovable` says, and without it nothing.
    #[default]
    Unprovable,
}

/// One attachment's record (see the module doc); `format` writes and
/// reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub format: u32,
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    pub netns: Option<PathBuf>,
    pub netns_identity: Option<NsIdentity>,
    /// The namespace's cookie (SO_NETNS_COOKIE), never reused until the
    /// machine restarts: a newer namespace can take a dead one's inode.
    /// Absent in records written before it was kept.
    pub netns_cookie: Option<u64>,
    /// The id the node's namespace gave the container's at ADD: its death
    /// arrives as RTM_DELNSID with this id, and the id gone proves it.
    pub nsid: Option<i32>,
    pub phase: Phase,
    /// The host interface as it was before ADD.
    pub host: Link,
    pub anchor: Anchor,
    pub addrs: Vec<Addr>,
    /// The routes through it that somebody configured (kernel-made prefix
    /// routes come back with the addresses).
    pub routes: Vec<RouteEntry>,
    /// The nexthop objects the move deletes or changes: those through it,
    /// the groups they are in, the ones its routes name (`nhid`), members
    /// before their groups.
    pub nexthops: Vec<Nexthop>,
    /// With `useInterfaceNetwork`, the policy rules that name it or match
    /// its addresses, as the kernel reported them (RTM_NEWRULE, hex): copied
    /// into the container, and made again on the host if they went missing.
    pub rules: Vec<String>,
    /// Its per-device sysctls on the host ("ipv4.accept_ra" -> "2"): the
    /// kernel resets them to the namespace's defaults on every move.
    /// Shared (`Arc`), as the two maps are most of a record and a record
    /// is copied to be written, twice an ADD.
    pub sysctls: Arc<BTreeMap<String, String>>,
    /// Its device features the driver lets change, as the host asked for
    /// them (`ethtool -k`): the pod's changes travel home with the device.
    pub features: Arc<BTreeMap<String, bool>>,
    /// Its index inside the container, once known (a hint).
    pub container_index: Option<u32>,
    /// The name it waits under on the host while its own is taken.
    pub parked_as: Option<String>,
    /// Why the interface is lost (phase `lost`).
    pub lost: Option<String>,
    /// What DEL does with an unprovable device, as the config said at ADD.
    pub unprovable: Option<Unprovable>,
    /// Set for a device bound to a userspace driver: nothing was moved.
    pub userspace: Option<Userspace>,
    /// The pod the runtime named in CNI_ARGS (Kubernetes only).
    pub pod: Option<Pod>,
    /// When ADD recorded it, in seconds since the epoch (records of older
    /// versions have none).
    pub added: Option<u64>,
    /// An SR-IOV VF whose admin state ADD sets through its PF: the state
    /// before ADD, restored on the way home (see `vf`).
    pub vf: Option<VfRecord>,
    /// The device-info file ADD writes, removed with the record.
    pub device_info: Option<PathBuf>,
}

impl Record {
    pub fn new(key: &Key, netns: Option<PathBuf>, host: Link, addrs: Vec<Addr>) -> Record {
        Record {
            format: FORMAT,
            network: key.network.clone(),
            container_id: key.container_id.clone(),
            ifname: key.ifname.clone(),
            netns,
            netns_identity: None,
            netns_cookie: None,
            nsid: None,
            phase: Phase::Adding,
            host,
            anchor: Anchor::Unprovable,
            addrs,
            routes: Vec::new(),
            nexthops: Vec::new(),
            rules: Vec::new(),
            sysctls: Arc::default(),
            features: Arc::default(),
            container_index: None,
            parked_as: None,
            lost: None,
            unprovable: None,
            userspace: None,
            pod: None,
            added: None,
            vf: None,
            device_info: None,
        }
    }

    /// Who holds the attachment, for messages: the container, and its pod
    /// when the runtime named one.
    pub fn holder(&self) -> String {
        match &self.pod {
            Some(pod) => format!("container {} (pod {pod})", self.container_id),
            None => format!("container {}", self.container_id),
        }
    }

    /// The record of a userspace-bound device: no interface, no snapshot.
    pub fn userspace(key: &Key, netns: Option<PathBuf>, device: Userspace) -> Record {
        Record { userspace: Some(device), ..Record::new(key, netns, Link::default(), Vec::new()) }
    }

    pub fn key(&self) -> Key {
        Key { network: self.network.clone(), container_id: self.container_id.clone(), ifname: self.ifname.clone() }
    }

    /// Whether `link`, on the host before ADD, is this record's device: the
    /// same index and name (the claim check; the host is not hostile).
    pub fn describes(&self, link: &Link) -> bool {
        self.userspace.is_none()
            && self.host.index == link.index
            && (self.host.name == link.name || self.parked_as.as_ref() == Some(&link.name))
    }

    /// Reads a record as the store does from the file `name`: parsed,
    /// then checked (format, key, names, indices).
    pub fn from_file(name: &str, bytes: &[u8]) -> Result<Record> {
        parse_record(name, name, bytes)
    }

    /// The record as the store writes it.
    pub fn to_file(&self) -> Vec<u8> {
        format::write(self)
    }

    /// The device this record holds.
    pub fn device(&self) -> Device<'_> {
        match &self.userspace {
            Some(device) => Device::Userspace(device),
            None => Device::Interface(&self.host),
        }
    }

    /// Whether this record holds `device`: the same userspace-bound
    /// device, or the same interface (see `describes`).
    pub fn holds(&self, device: Device<'_>) -> bool {
        match (device, &self.userspace) {
            (Device::Userspace(d), Some(ours)) => ours.id == d.id,
            (Device::Interface(link), None) => self.describes(link),
            _ => false,
        }
    }

    /// The checks a record read from disk must pass before it may steer
    /// any kernel request.
    fn validate(&self) -> std::result::Result<(), String> {
        let name = crate::ifname::check;
        name("ifname", &self.ifname)?;
        if let Some(parked) = &self.parked_as {
            name("parkedAs", parked)?;
        }
        if self.userspace.is_some() {
            return Ok(());
        }
        name("host.name", &self.host.name)?;
        if let Some(bad) = self.host.altnames.iter().find(|a| !crate::ifname::valid_alt(a)) {
            return Err(format!("host.altnames holds {bad:?}, which is not an interface name"));
        }
        if let Some(bad) = self.sysctls.keys().find(|k| !crate::netlink::sysctl::is_key(k)) {
            return Err(format!("sysctls holds {bad:?}, which is not a sysctl of the device's own trees"));
        }
        let index_ok = |i: u32| i > 0 && i < i32::MAX as u32;
        let anchor_ok = match self.anchor {
            Anchor::Peer { index } | Anchor::Lower { index } => index_ok(index),
            Anchor::Parent => self.host.parent.is_some(),
            Anchor::Unprovable => true,
        };
        if !index_ok(self.host.index) || !anchor_ok || self.container_index.is_some_and(|i| !index_ok(i)) {
            return Err("it holds an impossible interface index or anchor".into());
        }
        Ok(())
    }
}

/// A device an attachment holds, as claims name it: an interface on the
/// host (by its index; its name confirms it), or a device bound to a
/// userspace driver (by its bus id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device<'a> {
    Interface(&'a Link),
    Userspace(&'a Userspace),
}

impl Device<'_> {
    /// The name of the file that says which attachment holds the device:
    /// one per device, so that ADD's claim check reads one file however
    /// many attachments the node has.
    pub fn claim_name(&self) -> String {
        match self {
            Device::Userspace(device) => format!(".claim.dev-{}", super::key::escape(&device.id)),
            Device::Interface(link) => format!(".claim.if{}", link.index),
        }
    }
}

/// Seconds since the epoch, as `Record::added` counts them.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Parses and checks a record read from the file `name`: it must be of our
/// format, filed under its own key, and name only valid interfaces, so that
/// an edited or corrupt record is refused before it can steer the kernel.
pub(super) fn parse_record(path: &str, name: &str, bytes: &[u8]) -> Result<Record> {
    let bad = |why: String| Error::corrupt(format!("record {path} is corrupt: {why}; nothing was changed"));
    let rec = format::read(bytes).map_err(|e| bad(format!("it is not valid JSON: {e}")))?;
    if rec.format != FORMAT {
        return Err(bad(format!("unknown format {}", rec.format)));
    }
    if rec.key().file_name() != name {
        return Err(bad(format!(
            "it describes {}/{}/{}, which is not the attachment its file name is for",
            rec.network, rec.container_id, rec.ifname
        )));
    }
    rec.validate().map_err(bad)?;
    Ok(rec)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn key(ifname: &str) -> Key {
        Key { network: "net".into(), container_id: "c1".into(), ifname: ifname.into() }
    }

    pub(crate) fn veth_record(ifname: &str) -> Record {
        let host = Link { index: 7, name: "h1".into(), mac: "02:00:00:00:00:01".into(), ..Link::default() };
        Record { anchor: Anchor::Peer { index: 8 }, ..Record::new(&key(ifname), None, host, vec![]) }
    }

    #[test]
    fn impossible_indices_and_anchors_are_refused() {
        let check = |f: &dyn Fn(&mut Record)| {
            let mut rec = veth_record("eth0");
            f(&mut rec);
            rec.validate()
        };
        let max = i32::MAX as u32;
        for good in [1, max - 1] {
            assert_eq!(check(&|r| r.host.index = good), Ok(()), "host index {good}");
            assert_eq!(check(&|r| r.anchor = Anchor::Lower { index: good }), Ok(()), "lower {good}");
            assert_eq!(check(&|r| r.container_index = Some(good)), Ok(()), "container index {good}");
        }
        for bad in [0, max, u32::MAX] {
            assert!(check(&|r| r.host.index = bad).is_err(), "host index {bad}");
            assert!(check(&|r| r.anchor = Anchor::Peer { index: bad }).is_err(), "peer {bad}");
            assert!(check(&|r| r.container_index = Some(bad)).is_err(), "container index {bad}");
        }
        assert!(check(&|r| r.anchor = Anchor::Parent).is_err(), "a parent anchor without a parent");
        let sysctl = |key: &str| check(&|r| r.sysctls = Arc::new([(key.to_string(), "1".to_string())].into()));
        assert_eq!(sysctl("ipv6.accept_ra"), Ok(()));
        for bad in
            ["ipv4.../default/arp_ignore", "ipv4./proc/x", "ipv4.", "ipv4", "ipv7.forwarding", "ipv4...", "ipv6.a b"]
        {
            assert!(sysctl(bad).is_err(), "sysctl key {bad:?}");
        }
        assert_eq!(check(&|r| r.anchor = Anchor::Unprovable), Ok(()));
    }
}
