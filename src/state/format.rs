//! The record's file format: JSON, as these types spell it. They are the
//! record's own, converted from and to the structs hostdev works with
//! (the netlink layer's links, addresses, routes and nexthop objects, the
//! VF's state) when a record is written and read: a change to those
//! structs cannot change what is on disk, and the golden files in
//! `tests/fixtures/records` pin every kind of record byte for byte.
//!
//! Fields that came after the first format are optional and default to
//! "absent", so that older records still read; a record says nothing it
//! does not hold (`skip_serializing_if`), as it always has.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use ipnetwork::IpNetwork;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Anchor, Phase, Record};
use crate::cni::config::Unprovable;
use crate::cni::env::Pod;
use crate::device::Userspace;
use crate::netlink::addr::Lifetime;
use crate::netlink::gso::Sizes;
use crate::netlink::link::{AdminFlags, Master, Parent, Stacking};
use crate::netlink::nexthop::{Member, Nexthop};
use crate::netlink::route::{Hop, RouteEntry};
use crate::netlink::vf::{LinkState, VfState, VlanProto};
use crate::netlink::{Addr, Link};
use crate::netns::NsIdentity;
use crate::vf::{Vf, VfRecord};

/// The record as it is written: pretty JSON and a newline.
pub fn write(rec: &Record) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(&RecordFile::from(rec.clone())).expect("records always serialise");
    text.push(b'\n');
    text
}

/// A record as read from its file, not yet checked.
pub fn read(bytes: &[u8]) -> serde_json::Result<Record> {
    serde_json::from_slice::<RecordFile>(bytes).map(Record::from)
}

/// `From` both ways between a file type and the struct it stands for,
/// field by field: `same` fields are of one type on both sides, `into`
/// fields convert, `opt` and `vec` fields convert what they hold; `rest`
/// completes the struct from a file (what is never written).
macro_rules! mirror {
    ($file:ident, $kept:ident {
        $($same:ident),*
        $(; into $($into:ident),*)?
        $(; opt $($opt:ident),*)?
        $(; vec $($vec:ident),*)?
        $(; rest $($rest:tt)*)?
    }) => {
        impl From<$kept> for $file {
            fn from(v: $kept) -> $file {
                $file {
                    $($same: v.$same,)*
                    $($($into: v.$into.into(),)*)?
                    $($($opt: v.$opt.map(Into::into),)*)?
                    $($($vec: v.$vec.into_iter().map(Into::into).collect(),)*)?
                }
            }
        }

        impl From<$file> for $kept {
            fn from(v: $file) -> $kept {
                $kept {
                    $($same: v.$same,)*
                    $($($into: v.$into.into(),)*)?
                    $($($opt: v.$opt.map(Into::into),)*)?
                    $($($vec: v.$vec.into_iter().map(Into::into).collect(),)*)?
                    $($($rest)*)?
                }
            }
        }
    };
}

/// `From` both ways between a file enum and the enum it stands for.
macro_rules! mirror_enum {
    ($file:ident, $kept:ident { $($variant:ident),* }) => {
        impl From<$kept> for $file {
            fn from(v: $kept) -> $file {
                match v {
                    $($kept::$variant => $file::$variant),*
                }
            }
        }

        impl From<$file> for $kept {
            fn from(v: $file) -> $kept {
                match v {
                    $($file::$variant => $kept::$variant),*
                }
            }
        }
    };
}

mirror!(RecordFile, Record {
    format, network, container_id, ifname, netns, netns_cookie, nsid, phase, anchor, rules, sysctls, features,
    container_index, parked_as, lost, added, device_info;
    into host;
    opt netns_identity, unprovable, userspace, pod, vf;
    vec addrs, routes, nexthops
});
mirror!(LinkFile, Link {
    index, name, mac, perm_mac, mtu, alias, altnames, up, kind, txqlen, group;
    into sizes;
    opt parent, flags, master, stacking;
    rest ..Link::default()
});
mirror!(AddrFile, Addr { address, peer, broadcast, label, flags, metric, scope, settled; opt lifetime });
mirror!(RouteFile, RouteEntry {
    dst, gw, table, metric, scope, protocol, onlink, src, from, pref, nhid, metrics, tos, realm;
    vec hops;
    rest oif: None
});
mirror!(NexthopFile, Nexthop {
    id, family, protocol, onlink, oif, gw, blackhole, fdb, group_type, resilient;
    vec group
});
mirror!(VfFile, VfRecord { ; into vf, was });
mirror!(VfIdFile, Vf { pci, pf_pci, pf, number });
mirror!(VfStateFile, VfState { mac, vlan, qos, spoofchk, trust, min_tx_rate, max_tx_rate; into vlan_proto, link_state });
mirror!(NsIdentityFile, NsIdentity { dev, ino });
mirror!(UserspaceFile, Userspace { id, driver });
mirror!(PodFile, Pod { namespace, name });
mirror!(ParentFile, Parent { bus, device });
mirror!(FlagsFile, AdminFlags { promisc, allmulti, noarp, multicast });
mirror!(MasterFile, Master { index, name });
mirror!(StackingFile, Stacking { mode, flags, vlan, protocol });
mirror!(SizesFile, Sizes { gso, gro, gso_ipv4, gro_ipv4 });
mirror!(LifetimeFile, Lifetime { valid, preferred, read_at_ms });
mirror!(HopFile, Hop { gw, oif, weight, onlink });
mirror!(MemberFile, Member { id, weight });
mirror_enum!(UnprovableFile, Unprovable { TrustContainer, LeaveInContainer });
mirror_enum!(VlanProtoFile, VlanProto { Dot1Q, Dot1Ad });
mirror_enum!(LinkStateFile, LinkState { Auto, Enable, Disable });

/// A map of settings (some 90 sysctls, some 60 features), read as a
/// whole: its pairs gathered, then made a map at once (a sort and a bulk
/// build), where serde's own read inserts them one by one, every DEL. Of
/// a key given twice the last is taken, as there.
fn settings<'de, D, V>(d: D) -> Result<Arc<BTreeMap<String, V>>, D::Error>
where
    D: Deserializer<'de>,
    V: Deserialize<'de>,
{
    struct Pairs<V>(PhantomData<V>);

    impl<'de, V: Deserialize<'de>> Visitor<'de> for Pairs<V> {
        type Value = Vec<(String, V)>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0));
            while let Some(pair) = map.next_entry()? {
                pairs.push(pair);
            }
            Ok(pairs)
        }
    }

    Ok(Arc::new(d.deserialize_map(Pairs(PhantomData))?.into_iter().collect()))
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordFile {
    format: u32,
    network: String,
    container_id: String,
    ifname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    netns: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    netns_identity: Option<NsIdentityFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    netns_cookie: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nsid: Option<i32>,
    phase: Phase,
    host: LinkFile,
    #[serde(default)]
    anchor: Anchor,
    addrs: Vec<AddrFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    routes: Vec<RouteFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    nexthops: Vec<NexthopFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    rules: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "settings")]
    sysctls: Arc<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "settings")]
    features: Arc<BTreeMap<String, bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    container_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parked_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lost: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unprovable: Option<UnprovableFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    userspace: Option<UserspaceFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pod: Option<PodFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    added: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vf: Option<VfFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_info: Option<PathBuf>,
}

/// The device and inode of the container's namespace (`netns::NsIdentity`).
#[derive(Serialize, Deserialize)]
struct NsIdentityFile {
    dev: u64,
    ino: u64,
}

/// A device bound to a userspace driver (`device::Userspace`).
#[derive(Serialize, Deserialize)]
struct UserspaceFile {
    id: String,
    driver: String,
}

/// The pod the runtime named (`cni::env::Pod`).
#[derive(Serialize, Deserialize)]
struct PodFile {
    namespace: String,
    name: String,
}

/// What DEL does with an unprovable device, spelt as the config spells it.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum UnprovableFile {
    TrustContainer,
    LeaveInContainer,
}

/// The host interface as it was before ADD: what the kernel reported of
/// it that DEL puts back or checks (not what only steers one request,
/// such as its peer's index or its MTU range).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LinkFile {
    index: u32,
    name: String,
    mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    perm_mac: Option<String>,
    mtu: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alias: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    altnames: Vec<String>,
    up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent: Option<ParentFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flags: Option<FlagsFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    txqlen: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    master: Option<MasterFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stacking: Option<StackingFile>,
    #[serde(default, skip_serializing_if = "SizesFile::is_unset")]
    sizes: SizesFile,
}

/// The parent device on its bus (pci, auxiliary).
#[derive(Serialize, Deserialize)]
struct ParentFile {
    bus: String,
    device: String,
}

#[derive(Serialize, Deserialize)]
struct FlagsFile {
    promisc: bool,
    allmulti: bool,
    noarp: bool,
    multicast: bool,
}

/// The bridge (bond, team) it was a port of.
#[derive(Serialize, Deserialize)]
struct MasterFile {
    index: u32,
    #[serde(default)]
    name: String,
}

/// How a macvlan, ipvlan or vlan sat on its lower device.
#[derive(Serialize, Deserialize)]
struct StackingFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    flags: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vlan: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol: Option<u16>,
}

/// GSO/GRO maximum sizes, named as the config names them.
#[derive(Default, PartialEq, Serialize, Deserialize)]
struct SizesFile {
    #[serde(rename = "gsoMaxSize", default, skip_serializing_if = "Option::is_none")]
    gso: Option<u32>,
    #[serde(rename = "groMaxSize", default, skip_serializing_if = "Option::is_none")]
    gro: Option<u32>,
    #[serde(rename = "gsoIPv4MaxSize", default, skip_serializing_if = "Option::is_none")]
    gso_ipv4: Option<u32>,
    #[serde(rename = "groIPv4MaxSize", default, skip_serializing_if = "Option::is_none")]
    gro_ipv4: Option<u32>,
}

impl SizesFile {
    fn is_unset(&self) -> bool {
        *self == SizesFile::default()
    }
}

/// An address with every attribute that comes back with it.
#[derive(Serialize, Deserialize)]
struct AddrFile {
    address: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peer: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    broadcast: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
    #[serde(default)]
    flags: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric: Option<u32>,
    #[serde(default, skip_serializing_if = "is_zero")]
    scope: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lifetime: Option<LifetimeFile>,
    #[serde(default, skip_serializing_if = "is_false")]
    settled: bool,
}

/// Seconds left when read, and when (CLOCK_MONOTONIC, milliseconds).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LifetimeFile {
    valid: u32,
    preferred: u32,
    read_at_ms: u64,
}

/// A route through the interface, with what DEL needs to make it again.
#[derive(Serialize, Deserialize)]
struct RouteFile {
    dst: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gw: Option<IpAddr>,
    table: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metric: Option<u32>,
    scope: u8,
    protocol: u8,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    hops: Vec<HopFile>,
    #[serde(default, skip_serializing_if = "is_false")]
    onlink: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    src: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<IpNetwork>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pref: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nhid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metrics: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    tos: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    realm: Option<u32>,
}

/// One next hop of a multipath route.
#[derive(Serialize, Deserialize)]
struct HopFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gw: Option<IpAddr>,
    oif: u32,
    weight: u16,
    #[serde(default, skip_serializing_if = "is_false")]
    onlink: bool,
}

/// A nexthop object as `ip nexthop` shows it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NexthopFile {
    id: u32,
    #[serde(default)]
    family: u8,
    #[serde(default)]
    protocol: u8,
    #[serde(default, skip_serializing_if = "is_false")]
    onlink: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oif: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gw: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "is_false")]
    blackhole: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    fdb: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    group: Vec<MemberFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group_type: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resilient: Option<String>,
}

/// A member of a nexthop group, with its weight.
#[derive(Serialize, Deserialize)]
struct MemberFile {
    id: u32,
    weight: u16,
}

/// A VF whose admin state ADD changed: where it is (its fields beside
/// `was`) and what its PF reported for it before.
#[derive(Serialize, Deserialize)]
struct VfFile {
    #[serde(flatten)]
    vf: VfIdFile,
    was: VfStateFile,
}

/// A VF and its PF, as sysfs showed them at ADD.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VfIdFile {
    pci: String,
    pf_pci: String,
    pf: String,
    number: u32,
}

/// A VF's state as its PF reports it (`ip link show <pf>`: `vf N ...`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VfStateFile {
    mac: String,
    vlan: u32,
    qos: u32,
    vlan_proto: VlanProtoFile,
    spoofchk: bool,
    trust: bool,
    link_state: LinkStateFile,
    min_tx_rate: u32,
    max_tx_rate: u32,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
enum VlanProtoFile {
    #[serde(rename = "802.1Q")]
    Dot1Q,
    #[serde(rename = "802.1ad")]
    Dot1Ad,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LinkStateFile {
    Auto,
    Enable,
    Disable,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fields that came later read as absent from records without them.
    #[test]
    fn old_records_leave_the_new_fields_unset() {
        let l: Link = serde_json::from_str::<LinkFile>(
            r#"{"index":3,"name":"h1","mac":"02:00:00:00:00:01","mtu":1500,"up":true}"#,
        )
        .unwrap()
        .into();
        assert_eq!((l.flags, l.txqlen, l.group, l.master), (None, None, None, None));
        assert!(l.sizes.is_unset());
        let a: Addr = serde_json::from_str::<AddrFile>(r#"{"address":"10.0.0.2/24","flags":0}"#).unwrap().into();
        assert_eq!(a, Addr::plain("10.0.0.2/24".parse().unwrap()));
    }

    #[test]
    fn sizes_are_named_as_the_config_names_them() {
        let s = Sizes { gso: Some(1), gro_ipv4: Some(2), ..Sizes::default() };
        assert_eq!(serde_json::to_string(&SizesFile::from(s)).unwrap(), r#"{"gsoMaxSize":1,"groIPv4MaxSize":2}"#);
        assert!(SizesFile::from(Sizes::default()).is_unset());
    }
}
