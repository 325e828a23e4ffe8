//! Addresses: read an interface's global addresses with every attribute
//! that matters, and add them back in one pipelined batch.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope};
use serde::{Deserialize, Serialize};

use super::socket::{NlResult, Socket};

/// Flags worth carrying over; the rest (tentative, deprecated, secondary,
/// permanent, ...) the kernel sets itself.
const KEPT_FLAGS: AddressFlags = AddressFlags::Nodad
    .union(AddressFlags::Homeaddress)
    .union(AddressFlags::Managetempaddr)
    .union(AddressFlags::Noprefixroute)
    .union(AddressFlags::Mcautojoin);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Addr {
    /// The local address with its prefix length.
    pub address: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broadcast: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default)]
    pub flags: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
}

impl Socket {
    /// The permanent global-scope addresses of link `index`, in the
    /// kernel's order (so primaries come back before their secondaries).
    pub fn addrs(&mut self, index: u32) -> NlResult<Vec<Addr>> {
        Ok(self.address_messages(index)?.iter().filter_map(Addr::from_message).collect())
    }

    /// Every address of link `index`, whatever its scope or lifetime.
    pub fn all_addrs(&mut self, index: u32) -> NlResult<Vec<IpNetwork>> {
        let local = |m: &AddressMessage| {
            let ip = m.attributes.iter().fold(None, |found, a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                AddressAttribute::Address(ip) => found.or(Some(*ip)),
                _ => found,
            })?;
            IpNetwork::new(ip, m.header.prefix_len).ok()
        };
        Ok(self.address_messages(index)?.iter().filter_map(local).collect())
    }

    fn address_messages(&mut self, index: u32) -> NlResult<Vec<AddressMessage>> {
        let mut req = AddressMessage::default();
        req.header.index = index;
        let replies = self.dump(Rt::GetAddress(req))?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                Rt::NewAddress(m) if m.header.index == index => Some(m),
                _ => None,
            })
            .collect())
    }
}

/// Requests that add `addrs` to link `index` named `ifname`. They replace
/// an existing equal address, so adding twice is harmless.
pub fn add_requests(index: u32, ifname: &str, addrs: &[Addr]) -> Vec<(Rt, u16)> {
    addrs.iter().map(|a| (Rt::NewAddress(a.to_message(index, ifname)), NLM_F_CREATE | NLM_F_REPLACE)).collect()
}

impl Addr {
    /// An address with nothing but its prefix (as IPAM hands them out).
    pub fn plain(address: IpNetwork) -> Addr {
        Addr { address, peer: None, broadcast: None, label: None, flags: 0, metric: None }
    }

    fn from_message(m: &AddressMessage) -> Option<Addr> {
        if m.header.scope != AddressScope::Universe {
            return None;
        }
        let (mut local, mut address, mut flags) = (None, None, u32::from(m.header.flags.bits()));
        let (mut broadcast, mut label, mut metric) = (None, None, None);
        for attr in &m.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Flags(f) => flags = f.bits(),
                AddressAttribute::RoutePriority(p) => metric = Some(*p),
                _ => {}
            }
        }
        if flags & AddressFlags::Permanent.bits() == 0 {
            return None; // SLAAC and temporary addresses belong to the kernel
        }
        // IFA_LOCAL is our address when present; IFA_ADDRESS is then the peer.
        let ip = local.or(address)?;
        Some(Addr {
            address: IpNetwork::new(ip, m.header.prefix_len).ok()?,
            peer: address.filter(|a| local.is_some() && *a != ip),
            broadcast,
            label,
            flags: flags & KEPT_FLAGS.bits(),
            metric,
        })
    }

    fn to_message(&self, index: u32, ifname: &str) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.index = index;
        m.header.prefix_len = self.address.prefix();
        m.header.family = if self.address.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        m.header.flags = AddressHeaderFlags::from_bits_truncate(self.flags as u8);
        let ip = self.address.ip();
        m.attributes.push(AddressAttribute::Local(ip));
        m.attributes.push(AddressAttribute::Address(self.peer.unwrap_or(ip)));
        if let Some(b) = self.broadcast {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(label) = self.label.as_deref().and_then(|l| relabel(l, ifname)) {
            m.attributes.push(AddressAttribute::Label(label));
        }
        m.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_truncate(self.flags)));
        if let Some(metric) = self.metric {
            m.attributes.push(AddressAttribute::RoutePriority(metric));
        }
        m
    }
}

/// IPv4 labels must start with the interface name: `old:1` becomes
/// `new:1`. The suffix is whatever follows the old name's first ':'.
fn relabel(label: &str, ifname: &str) -> Option<String> {
    let suffix = label.find(':').map(|i| &label[i..]).unwrap_or("");
    let new = format!("{ifname}{suffix}");
    (new.len() <= crate::ifname::MAX_LEN).then_some(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_new_name() {
        assert_eq!(relabel("h1", "eth0").as_deref(), Some("eth0"));
        assert_eq!(relabel("h1:web", "eth0").as_deref(), Some("eth0:web"));
        assert_eq!(relabel("h1:abcdefghijk", "eth0"), None);
    }

    #[test]
    fn message_round_trip_keeps_attributes() {
        let a = Addr {
            address: "10.0.0.2/24".parse().unwrap(),
            peer: Some("10.0.0.9".parse().unwrap()),
            broadcast: Some("10.0.0.255".parse().unwrap()),
            label: Some("h1:x".into()),
            flags: (AddressFlags::Noprefixroute | AddressFlags::Permanent).bits(),
            metric: Some(77),
        };
        let mut m = a.to_message(5, "eth0");
        m.attributes.retain(|x| !matches!(x, AddressAttribute::Flags(_)));
        m.attributes.push(AddressAttribute::Flags(AddressFlags::Noprefixroute | AddressFlags::Permanent));
        let back = Addr::from_message(&m).unwrap();
        assert_eq!(back.address, a.address);
        assert_eq!(back.peer, a.peer);
        assert_eq!(back.broadcast, a.broadcast);
        assert_eq!(back.label.as_deref(), Some("eth0:x"));
        assert_eq!(back.flags, AddressFlags::Noprefixroute.bits());
        assert_eq!(back.metric, Some(77));
    }
}
