//! Nexthop objects (`ip nexthop`, RTM_*NEXTHOP): the ones a route's `nhid`
//! names, read before the move and made again on the way home. Moving a
//! device deletes the objects through it, and takes it out of the groups
//! it was a member of. netlink-packet-route has no type for these
//! messages, so they are read and written here, on `Socket::raw`.

use std::net::IpAddr;

use netlink_packet_core::{NLA_F_NESTED, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE};

use super::route::RouteEntry;
use super::socket::{NlResult, Socket};
use super::{hex, nla};

const RTM_NEWNEXTHOP: u16 = 104;
const RTM_GETNEXTHOP: u16 = 106;
const NHA_ID: u16 = 1;
const NHA_GROUP: u16 = 2;
const NHA_GROUP_TYPE: u16 = 3;
const NHA_BLACKHOLE: u16 = 4;
const NHA_OIF: u16 = 5;
const NHA_GATEWAY: u16 = 6;
const NHA_FDB: u16 = 11;
const NHA_RES_GROUP: u16 = 12;
/// Inside NHA_RES_GROUP: how long the group has been unbalanced, which
/// the kernel reports but refuses in a request.
const NHA_RES_GROUP_UNBALANCED_TIME: u16 = 4;
/// The only flag a request may set.
const RTNH_F_ONLINK: u32 = 4;
/// struct nhmsg: family, scope, protocol, reserved, flags.
const NHMSG_LEN: usize = 8;

/// A nexthop object as `ip nexthop` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nexthop {
    pub id: u32,
    /// AF_INET or AF_INET6; 0 for a group.
    pub family: u8,
    pub protocol: u8,
    pub onlink: bool,
    /// The host's index of its link.
    pub oif: Option<u32>,
    pub gw: Option<IpAddr>,
    pub blackhole: bool,
    pub fdb: bool,
    pub group: Vec<Member>,
    /// NEXTHOP_GRP_TYPE_MPATH (0) or _RES (1).
    pub group_type: Option<u16>,
    /// A resilient group's settings (NHA_RES_GROUP: buckets and timers), hex.
    pub resilient: Option<String>,
}

/// A member of a group, with its weight (1 to 256, as `ip nexthop` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub id: u32,
    pub weight: u16,
}

impl Socket {
    /// Every nexthop object of the namespace; none on a kernel without them.
    pub fn nexthops(&mut self) -> NlResult<Vec<Nexthop>> {
        let replies = self.raw(RTM_GETNEXTHOP, NLM_F_DUMP, &[0; NHMSG_LEN])?;
        Ok(replies.iter().filter_map(|b| Nexthop::parse(b)).collect())
    }

    /// Makes `nh` again (or puts it back as it was), through link `index`
    /// where it went through link `recorded`.
    pub fn restore_nexthop(&mut self, nh: &Nexthop, index: u32, recorded: u32) -> NlResult<()> {
        let body = nh.to_body(|i| if i == recorded { index } else { i });
        self.raw(RTM_NEWNEXTHOP, NLM_F_CREATE | NLM_F_REPLACE, &body).map(|_| ())
    }
}

/// The objects a move of link `index` deletes or changes: those through
/// it, the groups they are members of, the ones `routes` go through, and
/// every member of those groups. Members come before their groups, so
/// they can be made again in this order.
pub fn affected(all: &[Nexthop], index: u32, routes: &[RouteEntry]) -> Vec<Nexthop> {
    let mut ids: Vec<u32> = all.iter().filter(|n| n.oif == Some(index)).map(|n| n.id).collect();
    ids.extend(routes.iter().filter_map(|r| r.nhid));
    let groups = all.iter().filter(|n| n.group.iter().any(|m| ids.contains(&m.id)) || ids.contains(&n.id));
    let members: Vec<u32> = groups.clone().flat_map(|g| g.group.iter().map(|m| m.id).chain([g.id])).collect();
    ids.extend(members);
    let (mut groups, leaves): (Vec<Nexthop>, Vec<Nexthop>) =
        all.iter().filter(|n| ids.contains(&n.id)).cloned().partition(|n| !n.group.is_empty());
    let mut out = leaves;
    out.append(&mut groups);
    out
}

impl Nexthop {
    fn parse(body: &[u8]) -> Option<Nexthop> {
        let header = body.get(..NHMSG_LEN)?;
        let flags = u32::from_ne_bytes(header[4..8].try_into().ok()?);
        let mut nh = Nexthop {
            id: 0,
            family: header[0],
            protocol: header[2],
            onlink: flags & RTNH_F_ONLINK != 0,
            oif: None,
            gw: None,
            blackhole: false,
            fdb: false,
            group: Vec::new(),
            group_type: None,
            resilient: None,
        };
        for (kind, value) in nla::attrs(&body[NHMSG_LEN..]) {
            nh.read(kind, value);
        }
        (nh.id != 0).then_some(nh)
    }

    fn read(&mut self, kind: u16, v: &[u8]) {
        match kind {
            NHA_ID => self.id = nla::u32_of(v).unwrap_or(0),
            NHA_OIF => self.oif = nla::u32_of(v),
            NHA_GATEWAY => self.gw = ip_of(v),
            NHA_BLACKHOLE => self.blackhole = true,
            NHA_FDB => self.fdb = true,
            NHA_GROUP_TYPE => self.group_type = v.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]])),
            NHA_GROUP => self.group = v.chunks_exact(8).map(Member::parse).collect(),
            NHA_RES_GROUP => self.resilient = Some(hex::encode(&settable(v))),
            _ => {}
        }
    }

    /// The RTM_NEWNEXTHOP body, with `oif` mapping recorded link indices.
    fn to_body(&self, oif: impl Fn(u32) -> u32) -> Vec<u8> {
        let flags = if self.onlink { RTNH_F_ONLINK } else { 0 };
        // The kernel refuses a scope in the request: it derives it.
        let mut b = vec![self.family, 0, self.protocol, 0];
        b.extend_from_slice(&flags.to_ne_bytes());
        nla::push(&mut b, NHA_ID, &self.id.to_ne_bytes());
        if !self.group.is_empty() {
            let members: Vec<u8> = self.group.iter().flat_map(Member::bytes).collect();
            nla::push(&mut b, NHA_GROUP, &members);
        }
        if let Some(t) = self.group_type {
            nla::push(&mut b, NHA_GROUP_TYPE, &t.to_ne_bytes());
        }
        if let Some(res) = self.resilient.as_deref().and_then(hex::decode) {
            nla::push(&mut b, NHA_RES_GROUP | NLA_F_NESTED, &res);
        }
        if self.blackhole {
            nla::push(&mut b, NHA_BLACKHOLE, &[]);
        }
        if self.fdb {
            nla::push(&mut b, NHA_FDB, &[]);
        }
        if let Some(i) = self.oif {
            nla::push(&mut b, NHA_OIF, &oif(i).to_ne_bytes());
        }
        match self.gw {
            Some(IpAddr::V4(v4)) => nla::push(&mut b, NHA_GATEWAY, &v4.octets()),
            Some(IpAddr::V6(v6)) => nla::push(&mut b, NHA_GATEWAY, &v6.octets()),
            None => {}
        }
        b
    }
}

impl Member {
    /// struct nexthop_grp: id, weight - 1 (low byte), its high byte
    /// (kernels from 6.12; reserved and 0 before), reserved.
    fn parse(b: &[u8]) -> Member {
        let id = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        Member { id, weight: u16::from_le_bytes([b[4], b[5]]) + 1 }
    }

    fn bytes(&self) -> [u8; 8] {
        let id = self.id.to_ne_bytes();
        let w = self.weight.saturating_sub(1).to_le_bytes();
        [id[0], id[1], id[2], id[3], w[0], w[1], 0, 0]
    }
}

/// NHA_RES_GROUP's attributes without the read-only one.
fn settable(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (kind, value) in nla::attrs(v) {
        if kind != NHA_RES_GROUP_UNBALANCED_TIME {
            nla::push(&mut out, kind, value);
        }
    }
    out
}

fn ip_of(v: &[u8]) -> Option<IpAddr> {
    match v.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(v).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(v).ok()?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_round_trips_through_its_request() {
        let nh = Nexthop {
            id: 7,
            family: 0,
            protocol: 3,
            onlink: false,
            oif: None,
            gw: None,
            blackhole: false,
            fdb: false,
            group: vec![Member { id: 5, weight: 2 }, Member { id: 6, weight: 256 }],
            group_type: Some(0),
            resilient: None,
        };
        assert_eq!(Nexthop::parse(&nh.to_body(|i| i)), Some(nh));
    }

    #[test]
    fn a_gateway_round_trips_with_its_link_mapped() {
        let nh = Nexthop {
            id: 5,
            family: 10,
            protocol: 4,
            onlink: true,
            oif: Some(3),
            gw: Some("2001:db8::fe".parse().unwrap()),
            blackhole: false,
            fdb: false,
            group: vec![],
            group_type: None,
            resilient: None,
        };
        let back = Nexthop::parse(&nh.to_body(|i| if i == 3 { 9 } else { i })).unwrap();
        assert_eq!(back, Nexthop { oif: Some(9), ..nh });
    }
}
