//! Routes: add the ones IPAM hands out, read a namespace's routes (for
//! CHECK, the default-route guard and the host snapshot), and put a host
//! interface's routes back when it comes home.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteMetric, RouteProtocol, RouteScope, RouteType,
};

use serde::{Deserialize, Serialize};

use super::request::{Request, Subject};
use super::socket::{NlResult, Socket};

/// A route as read from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteEntry {
    pub dst: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    /// The link it goes through (for the stacked-device guard).
    #[serde(skip)]
    pub oif: Option<u32>,
    pub table: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    pub scope: u8,
    pub protocol: u8,
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

/// Requests that put saved routes back through link `index`.
pub fn restore_requests(index: u32, routes: &[RouteEntry]) -> Vec<Request> {
    let routes: Vec<NewRoute> = routes
        .iter()
        .map(|e| NewRoute {
            dst: e.dst,
            gw: e.gw,
            metric: e.metric,
            table: Some(e.table),
            scope: Some(e.scope),
            mtu: None,
            advmss: None,
            protocol: e.protocol,
        })
        .collect();
    add_requests(index, &routes)
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
        let mut entry = RouteEntry {
            dst: IpNetwork::new(unspecified(m.header.address_family)?, 0).ok()?,
            gw: None,
            oif: None,
            table: u32::from(m.header.table),
            metric: None,
            scope: u8::from(m.header.scope),
            protocol: u8::from(m.header.protocol),
        };
        for attr in &m.attributes {
            match attr {
                RouteAttribute::Destination(a) => {
                    entry.dst = IpNetwork::new(ip_of(a)?, m.header.destination_prefix_length).ok()?
                }
                RouteAttribute::Gateway(a) => entry.gw = ip_of(a),
                RouteAttribute::Oif(i) => entry.oif = Some(*i),
                RouteAttribute::Table(t) => entry.table = *t,
                RouteAttribute::Priority(p) => entry.metric = Some(*p),
                _ => {}
            }
        }
        Some(entry)
    }

    pub fn is_default(&self) -> bool {
        self.dst.prefix() == 0
    }

    /// Whether DEL should put this route back: one somebody configured,
    /// not one the kernel derives from an address or a router.
    pub fn worth_keeping(&self) -> bool {
        self.protocol != RTPROT_KERNEL && self.protocol != RTPROT_RA && self.table != RT_TABLE_LOCAL
    }
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
