//! Policy rules (`ip rule`, FIB rules): those that name an interface
//! (`iif`, `oif`) or match its addresses (`from`, `to`). A rule is kept as
//! the kernel reported it, every attribute included, so that what is made
//! again is the same rule.

use ipnetwork::IpNetwork;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, Parseable};
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::rule::{RuleAttribute, RuleFlags, RuleMessage};

use super::hex;
use super::request::{Request, Subject};
use super::socket::{NlResult, Socket};

impl Socket {
    /// Every rule of the namespace, IPv4 and IPv6.
    pub fn rules(&mut self) -> NlResult<Vec<RuleMessage>> {
        let replies = self.dump(Rt::GetRule(RuleMessage::default()))?;
        Ok(replies.into_iter().filter_map(|r| if let Rt::NewRule(m) = r { Some(m) } else { None }).collect())
    }
}

/// Whether rule `m` names interface `ifname` or matches one of `addrs`:
/// its `from` or `to` prefix (not "all") holds one of them.
pub fn concerns(m: &RuleMessage, ifname: &str, addrs: &[IpNetwork]) -> bool {
    let holds = |ip: std::net::IpAddr, len: u8| {
        let net = IpNetwork::new(ip, len).ok();
        len > 0 && addrs.iter().any(|a| net.is_some_and(|n| n.contains(a.ip())))
    };
    m.attributes.iter().any(|a| match a {
        RuleAttribute::Iifname(n) | RuleAttribute::Oifname(n) => n == ifname,
        RuleAttribute::Source(ip) => holds(*ip, m.header.src_len),
        RuleAttribute::Destination(ip) => holds(*ip, m.header.dst_len),
        _ => false,
    })
}

/// The rule as a record keeps it: the kernel's message, in hex, with only
/// the flag a request may set (`not`): the others (detached,
/// unresolved) are the kernel's report of its state.
pub fn save(m: &RuleMessage) -> String {
    use netlink_packet_core::Emitable;
    let mut m = m.clone();
    m.header.flags &= RuleFlags::Invert;
    let mut buf = vec![0; m.buffer_len()];
    m.emit(&mut buf);
    hex::encode(&buf)
}

/// A rule a record kept; None when it is not one.
pub fn load(saved: &str) -> Option<RuleMessage> {
    let bytes = hex::decode(saved)?;
    RuleMessage::parse(bytes.as_slice()).ok()
}

/// The same rule about interface `to` where it named `from`.
pub fn renamed(mut m: RuleMessage, from: &str, to: &str) -> RuleMessage {
    for a in &mut m.attributes {
        if let RuleAttribute::Iifname(n) | RuleAttribute::Oifname(n) = a
            && n == from
        {
            *n = to.to_string();
        }
    }
    m
}

/// Requests that add `rules` where they are missing: an equal rule makes
/// the kernel answer EEXIST (never a duplicate), which callers take as done.
pub fn add_requests(rules: &[RuleMessage]) -> Vec<Request> {
    rules
        .iter()
        .map(|m| {
            let what = format!("add rule {}", describe(m));
            Request::new(Rt::NewRule(m.clone()), NLM_F_CREATE | NLM_F_EXCL, Subject::Rule(priority(m)), what)
        })
        .collect()
}

fn priority(m: &RuleMessage) -> u32 {
    m.attributes.iter().find_map(|a| if let RuleAttribute::Priority(p) = a { Some(*p) } else { None }).unwrap_or(0)
}

/// `pref 100 table 100`, for messages.
pub fn describe(m: &RuleMessage) -> String {
    let table = m.attributes.iter().find_map(|a| if let RuleAttribute::Table(t) = a { Some(*t) } else { None });
    format!("pref {} table {}", priority(m), table.unwrap_or(u32::from(m.header.table)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::AddressFamily;

    fn rule(attrs: Vec<RuleAttribute>, src_len: u8) -> RuleMessage {
        let mut m = RuleMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.src_len = src_len;
        m.attributes = attrs;
        m
    }

    #[test]
    fn a_rule_concerns_the_interface_it_names_or_whose_address_it_matches() {
        let addrs = ["10.9.1.1/32".parse().unwrap()];
        assert!(concerns(&rule(vec![RuleAttribute::Iifname("d0".into())], 0), "d0", &addrs));
        assert!(concerns(&rule(vec![RuleAttribute::Source("10.9.0.0".parse().unwrap())], 16), "d0", &addrs));
        assert!(!concerns(&rule(vec![RuleAttribute::Source("10.10.0.1".parse().unwrap())], 32), "d0", &addrs));
        assert!(!concerns(&rule(vec![RuleAttribute::Oifname("d1".into())], 0), "d0", &addrs));
        assert!(!concerns(&rule(vec![RuleAttribute::Table(254)], 0), "d0", &addrs));
    }

    #[test]
    fn a_saved_rule_loads_back_without_the_kernels_state_flags() {
        let mut m = rule(vec![RuleAttribute::Priority(101), RuleAttribute::Iifname("d0".into())], 0);
        m.header.flags = RuleFlags::Invert | RuleFlags::from_bits_retain(8);
        let back = load(&save(&m)).unwrap();
        assert_eq!(back.header.flags, RuleFlags::Invert);
        assert_eq!(renamed(back, "d0", "eth0").attributes[1], RuleAttribute::Iifname("eth0".into()));
    }
}
