//! Routes: add the ones IPAM hands out, read a namespace's routes (for
//! CHECK, the default-route guard and the host snapshot), and put a host
//! interface's routes back when it comes home.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_core::{DefaultNla, Emitable};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteNextHop, RouteNextHopFlags,
    RoutePreference, RouteProtocol, RouteRealm, RouteScope, RouteType, RouteVia,
};

use super::hex;
use super::request::{Request, Subject};
use super::socket::{NlResult, Socket};

/// A route as read from the kernel, with every attribute DEL needs to put
/// it back as it was (fields added after the first record format default
/// to "absent", so older records still read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub dst: IpNetwork,
    pub gw: Option<IpAddr>,
    /// The link it goes through (for the stacked-device guard).
    pub oif: Option<u32>,
    pub table: u32,
    pub metric: Option<u32>,
    pub scope: u8,
    pub protocol: u8,
    /// A multipath route's next hops (RTA_MULTIPATH), this device's and
    /// the others'.
    pub hops: Vec<Hop>,
    /// The gateway is on the link whatever the addresses say (RTNH_F_ONLINK).
    pub onlink: bool,
    /// The preferred source address (RTA_PREFSRC, `src`).
    pub src: Option<IpAddr>,
    /// A source-specific IPv6 route's source prefix (RTA_SRC, `from`).
    pub from: Option<IpNetwork>,
    /// IPv6 router preference (RTA_PREF: 0 medium, 1 high, 3 low).
    pub pref: Option<u8>,
    /// The nexthop object it goes through (RTA_NH_ID, `nhid`); the object
    /// itself is in the record's `nexthops`.
    pub nhid: Option<u32>,
    /// RTA_METRICS (mtu, advmss, window, ...) as the kernel sent them, in hex.
    pub metrics: Option<String>,
    pub tos: u8,
    /// RTA_FLOW (`realms`).
    pub realm: Option<u32>,
}

/// One next hop of a multipath route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub gw: Option<IpAddr>,
    /// The host's index of the link it goes through.
    pub oif: u32,
    /// 1 to 256, as `ip route` shows it.
    pub weight: u16,
    pub onlink: bool,
}

/// Routes the kernel makes by itself (prefix routes, router advertisements)
/// come back on their own; the others are worth keeping.
const RTPROT_KERNEL: u8 = 2;
const RTPROT_RA: u8 = 9;
const RT_TABLE_LOCAL: u32 = 255;

impl Socket {
    /// Every unicast route of the namespace, in all tables; only those
    /// through link `oif` when given (the kernel filters, so a node with
    /// many routes costs little).
    pub fn routes(&mut self, oif: Option<u32>) -> NlResult<Vec<RouteEntry>> {
        // AF_UNSPEC: one dump answers for IPv4 and IPv6 alike.
        let mut req = RouteMessage::default();
        req.attributes.extend(oif.map(RouteAttribute::Oif));
        let replies = self.dump(Rt::GetRoute(req))?;
        Ok(replies
            .iter()
            .filter_map(|r| if let Rt::NewRoute(m) = r { RouteEntry::from_message(m) } else { None })
            .collect())
    }
}

/// A route to add through a link, as the kernel takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRoute {
    pub dst: IpNetwork,
    pub gw: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: Option<u32>,
    pub scope: Option<u8>,
    pub mtu: Option<u32>,
    pub advmss: Option<u32>,
    /// RTPROT_*: who made it.
    pub protocol: u8,
}

/// RTPROT_BOOT: a route added by a configuration tool (IPAM, here).
pub const RTPROT_BOOT: u8 = 3;

/// Requests that add `routes` through link `index`, replacing equal ones.
pub fn add_requests(index: u32, routes: &[NewRoute]) -> Vec<Request> {
    routes
        .iter()
        .map(|r| {
            let via = r.gw.map(|g| format!(" via {g}")).unwrap_or_default();
            let what = format!("add route {}{via}", r.dst);
            Request::new(Rt::NewRoute(to_message(index, r)), NLM_F_CREATE | NLM_F_REPLACE, Subject::Route(r.dst), what)
        })
        .collect()
}

/// Requests that add saved routes, replacing equal ones: through link
/// `index`, which was link `recorded` when they were read (a hop through
/// another link keeps its index; a record does not keep a plain route's
/// link, which is always this one). Routes through a nexthop object need
/// the object first: `nhid` selects them (true) or the others (false).
pub fn saved_requests(index: u32, recorded: u32, routes: &[RouteEntry], nhid: bool) -> Vec<Request> {
    let oif = |i: u32| if i == recorded || i == 0 { index } else { i };
    routes
        .iter()
        .filter(|r| r.nhid.is_some() == nhid)
        .map(|r| {
            let what = format!("add route {}", r.describe());
            Request::new(Rt::NewRoute(r.to_message(oif)), NLM_F_CREATE | NLM_F_REPLACE, Subject::Route(r.dst), what)
        })
        .collect()
}

fn to_message(index: u32, r: &NewRoute) -> RouteMessage {
    let dst = r.dst;
    let mut m = RouteMessage::default();
    m.header.address_family = if dst.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    m.header.destination_prefix_length = dst.prefix();
    m.header.protocol = RouteProtocol::from(r.protocol);
    m.header.kind = RouteType::Unicast;
    m.header.scope = match (r.scope, r.gw) {
        (Some(s), _) => RouteScope::from(s),
        (None, Some(_)) => RouteScope::Universe,
        (None, None) => RouteScope::Link,
    };
    let table = r.table.unwrap_or(u32::from(RouteHeader::RT_TABLE_MAIN));
    m.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    m.attributes.push(RouteAttribute::Table(table));
    m.attributes.push(RouteAttribute::Destination(RouteAddress::from(dst.network())));
    if let Some(gw) = r.gw {
        m.attributes.push(RouteAttribute::Gateway(RouteAddress::from(gw)));
    }
    m.attributes.push(RouteAttribute::Oif(index));
    if let Some(p) = r.metric {
        m.attributes.push(RouteAttribute::Priority(p));
    }
    let metrics: Vec<RouteMetric> =
        [r.mtu.map(RouteMetric::Mtu), r.advmss.map(RouteMetric::Advmss)].into_iter().flatten().collect();
    if !metrics.is_empty() {
        m.attributes.push(RouteAttribute::Metrics(metrics));
    }
    m
}

impl RouteEntry {
    fn from_message(m: &RouteMessage) -> Option<RouteEntry> {
        if m.header.kind != RouteType::Unicast {
            return None;
        }
        let family = m.header.address_family;
        let mut entry = RouteEntry {
            dst: IpNetwork::new(unspecified(family)?, m.header.destination_prefix_length).ok()?,
            gw: None,
            oif: None,
            table: u32::from(m.header.table),
            metric: None,
            scope: u8::from(m.header.scope),
            protocol: u8::from(m.header.protocol),
            hops: Vec::new(),
            onlink: m.header.flags.contains(RouteFlags::Onlink),
            src: None,
            from: None,
            pref: None,
            nhid: None,
            metrics: None,
            tos: m.header.tos,
            realm: None,
        };
        for attr in &m.attributes {
            entry.read(attr, m.header.source_prefix_length)?;
        }
        Some(entry)
    }

    /// Takes one attribute in; None when it makes no sense.
    fn read(&mut self, attr: &RouteAttribute, src_len: u8) -> Option<()> {
        match attr {
            RouteAttribute::Destination(a) => self.dst = IpNetwork::new(ip_of(a)?, self.dst_len()).ok()?,
            RouteAttribute::Source(a) => self.from = IpNetwork::new(ip_of(a)?, src_len).ok(),
            RouteAttribute::Gateway(a) => self.gw = ip_of(a),
            RouteAttribute::Via(v) => self.gw = via_of(v),
            RouteAttribute::Oif(i) => self.oif = Some(*i),
            RouteAttribute::Table(t) => self.table = *t,
            RouteAttribute::Priority(p) => self.metric = Some(*p),
            RouteAttribute::PrefSource(a) => self.src = ip_of(a),
            RouteAttribute::Preference(p) => self.pref = Some(u8::from(*p)),
            RouteAttribute::NhId(id) => self.nhid = Some(*id),
            RouteAttribute::Realm(r) => self.realm = Some(realm_u32(r)),
            RouteAttribute::Metrics(ms) => self.metrics = Some(hex::encode(&emitted(&ms.as_slice()))),
            RouteAttribute::MultiPath(hops) => self.hops = hops.iter().map(Hop::from_kernel).collect(),
            _ => {}
        }
        Some(())
    }

    /// The destination's prefix length as the header gave it (kept in the
    /// placeholder until RTA_DST arrives).
    fn dst_len(&self) -> u8 {
        self.dst.prefix()
    }

    pub fn is_default(&self) -> bool {
        self.dst.prefix() == 0
    }

    /// Whether DEL should put this route back: one somebody configured,
    /// not one the kernel derives from an address or a router.
    pub fn worth_keeping(&self) -> bool {
        self.protocol != RTPROT_KERNEL && self.protocol != RTPROT_RA && self.table != RT_TABLE_LOCAL
    }

    /// Whether it goes through link `index`, alone or as one of its hops.
    pub fn uses(&self, index: u32) -> bool {
        self.oif == Some(index) || self.hops.iter().any(|h| h.oif == index)
    }

    /// The route for messages: `10.99.0.0/24 via 10.9.0.254 table 100`.
    pub fn describe(&self) -> String {
        let mut s = self.dst.to_string();
        if let Some(id) = self.nhid {
            s += &format!(" nhid {id}");
        } else if let Some(gw) = self.gw {
            s += &format!(" via {gw}");
        }
        if self.table != u32::from(RouteHeader::RT_TABLE_MAIN) {
            s += &format!(" table {}", self.table);
        }
        s
    }

    /// The request's message, through link `oif(recorded index)`.
    fn to_message(&self, oif: impl Fn(u32) -> u32) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = family_of(self.dst.ip());
        m.header.destination_prefix_length = self.dst.prefix();
        m.header.source_prefix_length = self.from.map_or(0, |f| f.prefix());
        m.header.tos = self.tos;
        m.header.protocol = RouteProtocol::from(self.protocol);
        m.header.kind = RouteType::Unicast;
        m.header.scope = RouteScope::from(self.scope);
        m.header.table = u8::try_from(self.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
        if self.onlink {
            m.header.flags = RouteFlags::Onlink;
        }
        let a = &mut m.attributes;
        a.push(RouteAttribute::Table(self.table));
        a.push(RouteAttribute::Destination(RouteAddress::from(self.dst.network())));
        a.extend(self.from.map(|f| RouteAttribute::Source(RouteAddress::from(f.network()))));
        // A nexthop object is the whole path: the kernel refuses a gateway,
        // a link or hops beside it.
        match (self.nhid, self.hops.is_empty()) {
            (Some(id), _) => a.push(RouteAttribute::NhId(id)),
            (None, false) => {
                a.push(RouteAttribute::MultiPath(self.hops.iter().map(|h| h.to_kernel(self.dst.ip(), &oif)).collect()))
            }
            (None, true) => {
                a.extend(self.gw.map(|g| gateway(self.dst.ip(), g)));
                a.push(RouteAttribute::Oif(oif(self.oif.unwrap_or_default())));
            }
        }
        a.extend(self.src.map(|s| RouteAttribute::PrefSource(RouteAddress::from(s))));
        a.extend(self.metric.map(RouteAttribute::Priority));
        a.extend(self.pref.map(|p| RouteAttribute::Preference(RoutePreference::from(p))));
        a.extend(
            self.realm.map(|r| RouteAttribute::Realm(RouteRealm { source: (r >> 16) as u16, destination: r as u16 })),
        );
        a.extend(
            self.metrics
                .as_deref()
                .and_then(hex::decode)
                .map(|b| RouteAttribute::Other(DefaultNla::new(RTA_METRICS, b))),
        );
        m
    }
}

/// RTA_METRICS, sent back as the kernel's bytes.
const RTA_METRICS: u16 = 8;

impl Hop {
    fn from_kernel(h: &RouteNextHop) -> Hop {
        let mut gw = None;
        for attr in &h.attributes {
            match attr {
                RouteAttribute::Gateway(a) => gw = ip_of(a),
                RouteAttribute::Via(v) => gw = via_of(v),
                _ => {}
            }
        }
        Hop {
            gw,
            oif: h.interface_index,
            weight: u16::from(h.hops) + 1,
            onlink: h.flags.contains(RouteNextHopFlags::Onlink),
        }
    }

    fn to_kernel(&self, dst: IpAddr, oif: impl Fn(u32) -> u32) -> RouteNextHop {
        let mut h = RouteNextHop::default();
        h.interface_index = oif(self.oif);
        h.hops = u8::try_from(self.weight.saturating_sub(1)).unwrap_or(u8::MAX);
        if self.onlink {
            h.flags = RouteNextHopFlags::Onlink;
        }
        h.attributes.extend(self.gw.map(|g| gateway(dst, g)));
        h
    }
}

/// The gateway attribute of a route to `dst`: RTA_VIA when the families differ.
fn gateway(dst: IpAddr, gw: IpAddr) -> RouteAttribute {
    match (dst, gw) {
        (IpAddr::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
        _ => RouteAttribute::Gateway(RouteAddress::from(gw)),
    }
}

fn family_of(ip: IpAddr) -> AddressFamily {
    if ip.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 }
}

fn via_of(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteVia::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}

/// RTA_FLOW as the kernel carries it: the destination realm in the low
/// 16 bits, the source realm in the high ones.
fn realm_u32(r: &RouteRealm) -> u32 {
    (u32::from(r.source) << 16) | u32::from(r.destination)
}

/// What `e` puts on the wire.
fn emitted(e: &impl Emitable) -> Vec<u8> {
    let mut buf = vec![0; e.buffer_len()];
    e.emit(&mut buf);
    buf
}

fn unspecified(family: AddressFamily) -> Option<IpAddr> {
    match family {
        AddressFamily::Inet => Some(IpAddr::from([0u8; 4])),
        AddressFamily::Inet6 => Some(IpAddr::from([0u8; 16])),
        _ => None,
    }
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(ip) => Some(IpAddr::V4(*ip)),
        RouteAddress::Inet6(ip) => Some(IpAddr::V6(*ip)),
        _ => None,
    }
}
