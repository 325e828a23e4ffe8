//! Addresses: read the addresses an operator gave an interface (all
//! scopes, with every attribute that matters and their remaining
//! lifetimes), and add them back in one pipelined batch.

use std::net::{IpAddr, Ipv4Addr};

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressProtocol, AddressScope, CacheInfo,
};
use nix::time::{ClockId, clock_gettime};

use super::request::{Request, Subject};
use super::socket::{NlResult, Socket};

/// Flags worth carrying over; the rest (tentative, deprecated, secondary,
/// permanent, ...) the kernel sets itself.
const KEPT_FLAGS: AddressFlags = AddressFlags::Nodad
    .union(AddressFlags::Homeaddress)
    .union(AddressFlags::Managetempaddr)
    .union(AddressFlags::Noprefixroute)
    .union(AddressFlags::Mcautojoin);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// The local address with its prefix length.
    pub address: IpNetwork,
    pub peer: Option<IpAddr>,
    pub broadcast: Option<Ipv4Addr>,
    pub label: Option<String>,
    pub flags: u32,
    pub metric: Option<u32>,
    /// IPv4 scope (IPv6 derives it from the address); 0 is global.
    pub scope: u8,
    /// Remaining lifetimes when read; None is forever.
    pub lifetime: Option<Lifetime>,
    /// An IPv6 address that had completed duplicate address detection on
    /// this link: it comes back without a new round (IFA_F_NODAD).
    pub settled: bool,
}

/// A finite lifetime: seconds left at `read_at_ms` (CLOCK_MONOTONIC, the
/// clock the kernel's address lifetimes follow: it stops during suspend).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub valid: u32,
    pub preferred: u32,
    pub read_at_ms: u64,
}

const FOREVER: u32 = u32::MAX;

fn now_ms() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| t.tv_sec() as u64 * 1000 + t.tv_nsec() as u64 / 1_000_000)
}

impl Lifetime {
    /// The (valid, preferred) seconds left now; None once it has expired,
    /// as the address would have on the host.
    fn left_now(&self) -> Option<(u32, u32)> {
        let gone = u32::try_from(now_ms().saturating_sub(self.read_at_ms) / 1000).unwrap_or(u32::MAX);
        let left = |lft: u32| if lft == FOREVER { FOREVER } else { lft.saturating_sub(gone) };
        let valid = left(self.valid);
        (valid > 0).then(|| (valid, left(self.preferred).min(valid)))
    }
}

impl Socket {
    /// The addresses of link `index` (whose MAC is `mac`) that the kernel
    /// did not make itself, in the kernel's order (so primaries come back
    /// before their secondaries).
    pub fn addrs(&mut self, index: u32, mac: &str) -> NlResult<Vec<Addr>> {
        let read_at_ms = now_ms();
        Ok(self
            .address_messages(index)?
            .iter()
            .filter(|m| !kernel_made(m, mac))
            .filter_map(|m| Addr::from_message(m, read_at_ms))
            .collect())
    }

    /// Every address of link `index`, whatever its scope or lifetime.
    pub fn all_addrs(&mut self, index: u32) -> NlResult<Vec<IpNetwork>> {
        let local = |m: &AddressMessage| IpNetwork::new(address_and_flags(m)?.0, m.header.prefix_len).ok();
        Ok(self.address_messages(index)?.iter().filter_map(local).collect())
    }

    /// The IPv6 addresses of link `index` still in duplicate address
    /// detection, and those that failed it (`true`). An optimistic address
    /// may be used already (RFC 4429), so it is not waited for here; it is
    /// not "settled" either when a snapshot asks whether DAD may be skipped.
    pub fn unsettled(&mut self, index: u32) -> NlResult<Vec<(IpAddr, bool)>> {
        let tentative = (AddressFlags::Tentative | AddressFlags::Dadfailed).bits();
        let unsettled = |m: &AddressMessage| {
            let (ip, flags) = address_and_flags(m).filter(|(ip, flags)| ip.is_ipv6() && flags & tentative != 0)?;
            Some((ip, flags & AddressFlags::Dadfailed.bits() != 0))
        };
        Ok(self.address_messages(index)?.iter().filter_map(unsettled).collect())
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

/// The address a message is about (IFA_LOCAL, else IFA_ADDRESS) and its
/// flags (IFA_FLAGS, which holds all 32 bits, else the header's 8).
fn address_and_flags(m: &AddressMessage) -> Option<(IpAddr, u32)> {
    let (mut local, mut address, mut flags) = (None, None, u32::from(m.header.flags.bits()));
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    Some((local.or(address)?, flags))
}

/// Requests that add `addrs` to link `index` named `ifname`. They replace
/// an existing equal address, so adding twice is harmless. An address
/// whose lifetime ran out meanwhile is not added: it would have expired on
/// the host too.
pub fn add_requests(index: u32, ifname: &str, addrs: &[Addr]) -> Vec<Request> {
    addrs
        .iter()
        .filter_map(|a| {
            let what = format!("add address {} to {ifname}", a.address);
            let m = a.to_message(index, ifname)?;
            Some(Request::new(Rt::NewAddress(m), NLM_F_CREATE | NLM_F_REPLACE, Subject::Address(a.address), what))
        })
        .collect()
}

/// Requests that give the settled IPv6 addresses of `addrs`, re-added with
/// IFA_F_NODAD by `add_requests`, their own flags back (NLM_F_REPLACE
/// without NLM_F_CREATE changes an existing address; the kernel clears
/// NODAD without a new round of DAD). NODAD is only for the trip: left on
/// the host's address, it would skip DAD there for good.
pub fn own_flags_requests(index: u32, ifname: &str, addrs: &[Addr]) -> Vec<Request> {
    let borrowed = |a: &&Addr| a.settled && a.flags & AddressFlags::Nodad.bits() == 0;
    addrs
        .iter()
        .filter(borrowed)
        .filter_map(|a| {
            let what = format!("give address {} on {ifname} its own flags", a.address);
            let m = a.message(index, ifname, a.flags)?;
            Some(Request::new(Rt::NewAddress(m), NLM_F_REPLACE, Subject::Address(a.address), what))
        })
        .collect()
}

/// The addresses whose lifetime has not run out: those `add_requests`
/// turns into requests, one each, in order.
pub fn unexpired(addrs: &[Addr]) -> Vec<Addr> {
    addrs.iter().filter(|a| a.lifetime.is_none_or(|l| l.left_now().is_some())).cloned().collect()
}

/// The addresses the kernel made itself: loopback's, SLAAC's and the
/// privacy extensions' (from router advertisements), and the link-local it
/// generates. Kernels from 6.3 say so (IFA_PROTO); on older ones, SLAAC
/// addresses are the IPv6 ones without IFA_F_PERMANENT, and the link-local
/// is recognised as the EUI-64 one of `mac`.
fn kernel_made(m: &AddressMessage, mac: &str) -> bool {
    let mut proto = None;
    let mut flags = u32::from(m.header.flags.bits());
    let mut ip = None;
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Protocol(p) => proto = Some(*p),
            AddressAttribute::Flags(f) => flags = f.bits(),
            AddressAttribute::Address(a) | AddressAttribute::Local(a) => ip = Some(*a),
            _ => {}
        }
    }
    // IFA_F_TEMPORARY, a privacy address, shares its bit with IPv4's IFA_F_SECONDARY.
    if matches!(ip, Some(IpAddr::V6(_))) && flags & AddressFlags::Secondary.bits() != 0 {
        return true;
    }
    match (proto, ip) {
        (Some(AddressProtocol::Loopback | AddressProtocol::RouterAnnouncement | AddressProtocol::LinkLocal), _) => true,
        (Some(_), _) | (None, Some(IpAddr::V4(_)) | None) => false,
        // The kernel sends IFA_PROTO only when it is not 0: from 6.3 on,
        // its absence means somebody added the address.
        (None, Some(IpAddr::V6(v6))) => {
            let generated_ll = || v6.segments()[0] == 0xfe80 && Some(v6) == eui64_link_local(mac);
            (flags & AddressFlags::Permanent.bits() == 0 || generated_ll()) && !reports_proto()
        }
    }
}

/// Whether this kernel marks the addresses it makes (IFA_PROTO, 6.3 on).
fn reports_proto() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(['.', '-']).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 3)
}

/// The link-local address the kernel derives from `mac` (EUI-64).
fn eui64_link_local(mac: &str) -> Option<std::net::Ipv6Addr> {
    let b = super::link::parse_mac(mac).filter(|b| b.len() == 6)?;
    let iid = [b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    let mut octets = [0u8; 16];
    octets[0] = 0xfe;
    octets[1] = 0x80;
    octets[8..].copy_from_slice(&iid);
    Some(octets.into())
}

/// Requests that delete `addrs` from link `index`: only the test hook that
/// plays the kernel dropping addresses needs them.
#[cfg(feature = "test-hooks")]
pub fn del_requests(index: u32, addrs: &[Addr]) -> Vec<Request> {
    addrs
        .iter()
        .filter_map(|a| {
            let m = a.to_message(index, "")?;
            Some(Request::new(
                Rt::DelAddress(m),
                0,
                Subject::Address(a.address),
                format!("delete address {}", a.address),
            ))
        })
        .collect()
}

impl Addr {
    /// An address with nothing but its prefix (as IPAM hands them out).
    pub fn plain(address: IpNetwork) -> Addr {
        Addr {
            address,
            peer: None,
            broadcast: None,
            label: None,
            flags: 0,
            metric: None,
            scope: 0,
            lifetime: None,
            settled: false,
        }
    }

    fn from_message(m: &AddressMessage, read_at_ms: u64) -> Option<Addr> {
        let (mut local, mut address, mut flags) = (None, None, u32::from(m.header.flags.bits()));
        let (mut broadcast, mut label, mut metric, mut lifetime) = (None, None, None, None);
        for attr in &m.attributes {
            match attr {
                AddressAttribute::Local(ip) => local = Some(*ip),
                AddressAttribute::Address(ip) => address = Some(*ip),
                AddressAttribute::Broadcast(b) => broadcast = Some(*b),
                AddressAttribute::Label(l) => label = Some(l.clone()),
                AddressAttribute::Flags(f) => flags = f.bits(),
                AddressAttribute::RoutePriority(p) => metric = Some(*p),
                AddressAttribute::CacheInfo(c) if c.ifa_valid != FOREVER => {
                    lifetime = Some(Lifetime { valid: c.ifa_valid, preferred: c.ifa_preferred, read_at_ms })
                }
                _ => {}
            }
        }
        // IFA_LOCAL is our address when present; IFA_ADDRESS is then the peer.
        let ip = local.or(address)?;
        let unsettled = (AddressFlags::Tentative | AddressFlags::Dadfailed | AddressFlags::Optimistic).bits();
        Some(Addr {
            address: IpNetwork::new(ip, m.header.prefix_len).ok()?,
            peer: address.filter(|a| local.is_some() && *a != ip),
            broadcast,
            label,
            flags: flags & KEPT_FLAGS.bits(),
            metric,
            scope: if ip.is_ipv4() { u8::from(m.header.scope) } else { 0 },
            lifetime,
            settled: ip.is_ipv6() && flags & unsettled == 0,
        })
    }

    /// The request for this address; None once its lifetime has run out.
    /// It passed DAD on this very link a moment ago: no second round, so
    /// it is usable the moment ADD or DEL returns.
    fn to_message(&self, index: u32, ifname: &str) -> Option<AddressMessage> {
        let flags = if self.settled { self.flags | AddressFlags::Nodad.bits() } else { self.flags };
        self.message(index, ifname, flags)
    }

    /// The request for this address with `flags`.
    fn message(&self, index: u32, ifname: &str, flags: u32) -> Option<AddressMessage> {
        let mut m = AddressMessage::default();
        m.header.index = index;
        m.header.prefix_len = self.address.prefix();
        m.header.family = if self.address.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        m.header.scope = AddressScope::from(self.scope);
        m.header.flags = AddressHeaderFlags::from_bits_truncate(flags as u8);
        let ip = self.address.ip();
        m.attributes.push(AddressAttribute::Local(ip));
        m.attributes.push(AddressAttribute::Address(self.peer.unwrap_or(ip)));
        if let Some(b) = self.broadcast {
            m.attributes.push(AddressAttribute::Broadcast(b));
        }
        if let Some(label) = self.label.as_deref().and_then(|l| relabel(l, ifname)) {
            m.attributes.push(AddressAttribute::Label(label));
        }
        m.attributes.push(AddressAttribute::Flags(AddressFlags::from_bits_truncate(flags)));
        if let Some(metric) = self.metric {
            m.attributes.push(AddressAttribute::RoutePriority(metric));
        }
        if let Some(lifetime) = self.lifetime {
            let (valid, preferred) = lifetime.left_now()?;
            let mut cache = CacheInfo::default();
            (cache.ifa_valid, cache.ifa_preferred) = (valid, preferred);
            m.attributes.push(AddressAttribute::CacheInfo(cache));
        }
        Some(m)
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
            scope: 253,
            lifetime: None,
            settled: false,
        };
        let mut m = a.to_message(5, "eth0").unwrap();
        m.attributes.retain(|x| !matches!(x, AddressAttribute::Flags(_)));
        m.attributes.push(AddressAttribute::Flags(AddressFlags::Noprefixroute | AddressFlags::Permanent));
        let back = Addr::from_message(&m, 0).unwrap();
        assert_eq!(back.address, a.address);
        assert_eq!(back.peer, a.peer);
        assert_eq!(back.broadcast, a.broadcast);
        assert_eq!(back.label.as_deref(), Some("eth0:x"));
        assert_eq!(back.flags, AddressFlags::Noprefixroute.bits());
        assert_eq!(back.metric, Some(77));
        assert_eq!(back.scope, 253);
    }

    #[test]
    fn settled_ipv6_comes_back_without_dad_and_with_its_lifetime_left() {
        let mut a = Addr::plain("2001:db8::1/64".parse().unwrap());
        a.settled = true;
        a.lifetime = Some(Lifetime { valid: 100, preferred: 50, read_at_ms: now_ms() - 10_500 });
        let m = a.to_message(3, "eth0").unwrap();
        assert!(m.header.flags.contains(AddressHeaderFlags::Nodad));
        let cache = m.attributes.iter().find_map(|x| match x {
            AddressAttribute::CacheInfo(c) => Some((c.ifa_valid, c.ifa_preferred)),
            _ => None,
        });
        assert!(matches!(cache, Some((89 | 90, 39 | 40))), "{cache:?}");
        a.lifetime = Some(Lifetime { valid: 5, preferred: 5, read_at_ms: now_ms() - 6_000 });
        assert!(a.to_message(3, "eth0").is_none(), "an expired address is not re-added");
        assert!(unexpired(&[a]).is_empty());
    }

    #[test]
    fn eui64_link_local_of_a_mac() {
        assert_eq!(eui64_link_local("02:fc:00:00:00:01"), Some("fe80::fc:ff:fe00:1".parse().unwrap()));
        assert_eq!(eui64_link_local(""), None);
    }
}
