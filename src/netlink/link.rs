//! Links: read them as plain structs, move, rename and configure them.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{DefaultNla, NlasIterator, Parseable};
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::link::{
    AfSpecInet, AfSpecInet6, AfSpecUnspec, Inet6DevConf, InetDevConf, InfoKind, LinkAttribute, LinkExtentMask,
    LinkFlags, LinkHeader, LinkInfo, LinkMessage, Prop,
};
use nix::errno::Errno;

use super::gso::Sizes;
use super::request::{Request, Subject};
use super::socket::{NlResult, Socket, undecodable};

const IFLA_ALT_IFNAME: u16 = 53;
const IFLA_LINK: u16 = 5;
const RTM_NEWLINK: u16 = 16;
/// An ifinfomsg's length, before its attributes.
const LINK_HEADER: usize = 16;

/// What hostdev needs to know about a network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: String,
    pub perm_mac: Option<String>,
    pub mtu: u32,
    pub alias: Option<String>,
    pub altnames: Vec<String>,
    pub up: bool,
    pub loopback: bool,
    pub netns_immutable: bool,
    pub kind: Option<String>,
    /// The device it sits on (a PCI function, an auxiliary device), as the
    /// kernel reports it: something no container can forge.
    pub parent: Option<Parent>,
    /// IFLA_LINK: a veth's peer, a macvlan's lower device.
    pub link: Option<u32>,
    /// IFLA_LINK_NETNSID: where `link` lives, when not in this namespace.
    pub link_netnsid: Option<i32>,
    /// Admin flags beyond up; absent in records written before they were kept.
    pub flags: Option<AdminFlags>,
    pub txqlen: Option<u32>,
    pub group: Option<u32>,
    /// The bridge (bond, team) it is a port of. A dump reports only the
    /// index; the snapshot fills in the name.
    pub master: Option<Master>,
    /// How a macvlan, ipvlan or vlan sits on its lower device: a sibling
    /// the container made on it must match this too to pass for it.
    pub stacking: Option<Stacking>,
    /// The MTUs the driver takes (IFLA_MIN_MTU, IFLA_MAX_MTU).
    pub mtu_range: Option<(u32, u32)>,
    /// GSO/GRO maximum sizes; unset in records written before they were kept.
    pub sizes: Sizes,
    /// The largest GSO size the device takes (IFLA_TSO_MAX_SIZE).
    pub tso_max_size: Option<u32>,
    /// Its IPv6 `addr_gen_mode` (IFLA_INET6_ADDR_GEN_MODE): the sysctl of
    /// that name, which the link message carries without the rtnl lock its
    /// file takes (see sysctl::FROM_LINK). None without an IPv6 tree. Not
    /// recorded: the record's sysctl snapshot holds it.
    pub addr_gen_mode: Option<u8>,
    /// Its IPv4 and IPv6 per-device settings as the link message carries
    /// them (IFLA_INET_CONF, IFLA_INET6_CONF): the values of most files of
    /// its sysctl trees, read here without opening them (sysctl::snapshot).
    /// Not recorded.
    pub inet_conf: Option<InetDevConf>,
    pub inet6_conf: Option<Inet6DevConf>,
}

/// A stacked device's settings on its lower device (`ip -d link`: macvlan
/// or ipvlan mode and flags, vlan id and protocol). Absent in records
/// written before they were kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stacking {
    pub mode: Option<u32>,
    pub flags: Option<u32>,
    pub vlan: Option<u16>,
    pub protocol: Option<u16>,
}

/// A link's parent device on its bus (`ip -d link`: parentbus, parentdev).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub bus: String,
    pub device: String,
}

/// The admin flags an operator sets with `ip link set` (besides up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdminFlags {
    pub promisc: bool,
    pub allmulti: bool,
    pub noarp: bool,
    pub multicast: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Master {
    pub index: u32,
    pub name: String,
}

/// What `links_around` reads of a link before deciding to decode it.
struct Skim {
    index: u32,
    /// IFLA_LINK: the device it is stacked on (or its peer's index).
    link: Option<u32>,
}

impl Skim {
    /// None for a body that is not an ifinfomsg and attributes.
    fn of(body: &[u8]) -> Option<Skim> {
        let header = LinkHeader::parse(body).ok()?;
        let mut link = None;
        for nla in NlasIterator::new(body.get(LINK_HEADER..)?) {
            let nla = nla.ok()?;
            if nla.kind() == IFLA_LINK {
                link = nla.value().get(..4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
            }
        }
        Some(Skim { index: header.index, link })
    }
}

/// Link kinds that come in pairs: IFLA_LINK names the peer, not a lower device.
const PAIR_KINDS: [&str; 3] = ["veth", "vxcan", "netkit"];

impl Link {
    /// The links of `all` stacked on this one (macvlan, vlan, ipvlan, ...).
    pub fn uppers<'a>(&self, all: &'a [Link]) -> Vec<&'a Link> {
        all.iter()
            .filter(|l| {
                l.link == Some(self.index)
                    && l.link_netnsid.is_none()
                    && !l.kind.as_deref().is_some_and(|k| PAIR_KINDS.contains(&k))
            })
            .collect()
    }
}

/// Changes to apply to a link in one request; None leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct LinkChange {
    pub name: Option<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    /// Some("") removes the alias.
    pub alias: Option<String>,
    pub up: Option<bool>,
    pub flags: Option<AdminFlags>,
    pub txqlen: Option<u32>,
    pub group: Option<u32>,
    pub sizes: Sizes,
}

impl Socket {
    /// The link called `name` (or with that altname), if it exists.
    pub fn link_by_name(&mut self, name: &str) -> NlResult<Option<Link>> {
        self.get_link(by_name(name))
    }

    /// The index of the link called `name` (or with that altname), if it
    /// exists: the reply's header alone, for a caller that needs nothing
    /// more. Its attributes, decoded, cost some 15,000 instructions.
    pub fn index_of(&mut self, name: &str) -> NlResult<Option<u32>> {
        let Some(body) = self.link_reply(by_name(name))? else { return Ok(None) };
        LinkHeader::parse(&body).map(|h| Some(h.index)).map_err(undecodable)
    }

    pub fn link_by_index(&mut self, index: u32) -> NlResult<Option<Link>> {
        self.get_link(link_request(index))
    }

    pub fn links(&mut self) -> NlResult<Vec<Link>> {
        self.links_where(|_| true)
    }

    /// The links a decision about link `index` needs: itself, those
    /// stacked on it (IFLA_LINK naming it), of one dump, and its master.
    /// Each reply is skimmed for its index and IFLA_LINK, and only these
    /// are kept and decoded: a node has a link or two per pod, which
    /// `links` decodes whole at some 23,000 instructions each. Its master,
    /// if it has one, is read after the dump.
    pub fn links_around(&mut self, index: u32) -> NlResult<Vec<Link>> {
        let near = |body: &[u8]| Skim::of(body).is_some_and(|s| s.index == index || s.link == Some(index));
        let mut links = self.links_where(near)?;
        let master = links.iter().find(|l| l.index == index).and_then(|l| l.master.as_ref()).map(|m| m.index);
        if let Some(master) = master.filter(|m| !links.iter().any(|l| l.index == *m)) {
            links.extend(self.link_by_index(master)?);
        }
        Ok(links)
    }

    /// The links of one dump whose replies `keep` takes, decoded.
    fn links_where(&mut self, keep: impl Fn(&[u8]) -> bool) -> NlResult<Vec<Link>> {
        let replies = self.dump_raw(Rt::GetLink(link_request(0)), |ty, body| ty == RTM_NEWLINK && keep(body))?;
        let decode = |(_, body): (u16, Vec<u8>)| LinkMessage::parse(body.as_slice()).map_err(undecodable);
        replies.into_iter().map(|reply| decode(reply).map(|m| Link::from(&m))).collect()
    }

    fn get_link(&mut self, msg: LinkMessage) -> NlResult<Option<Link>> {
        let Some(body) = self.link_reply(msg)? else { return Ok(None) };
        LinkMessage::parse(body.as_slice()).map(|m| Some(Link::from(&m))).map_err(undecodable)
    }

    /// The kernel's answer to link request `msg`, undecoded; None when
    /// there is no such link.
    fn link_reply(&mut self, msg: LinkMessage) -> NlResult<Option<Vec<u8>>> {
        match self.get_raw(Rt::GetLink(msg)) {
            Ok((RTM_NEWLINK, body)) => Ok(Some(body)),
            Ok(_) => Ok(None),
            Err(e) if e.is(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves link `index` into the namespace `target` and names it `name`
    /// there, in one RTM_NEWLINK. The kernel does this in two steps (move,
    /// then rename): on error the caller must look where the link ended up.
    pub fn move_link(&mut self, index: u32, target: BorrowedFd<'_>, name: &str) -> NlResult<()> {
        self.move_link_with(index, target, name, &LinkChange::default())
    }

    /// `move_link`, with `change` (MTU, MAC, queue length, GSO/GRO sizes) in the same
    /// message: the kernel applies it in the target namespace, after the
    /// move, so on error the link may have moved with part of it.
    pub fn move_link_with(
        &mut self,
        index: u32,
        target: BorrowedFd<'_>,
        name: &str,
        change: &LinkChange,
    ) -> NlResult<()> {
        self.ack_one(move_request(index, target, name, change)?)
    }

    /// Renames link `index`. Kernels before 6.x refuse to rename an UP link
    /// (EBUSY): only then is it taken down first, as closing a link costs an
    /// RCU grace period.
    pub fn rename_link(&mut self, index: u32, name: &str) -> NlResult<()> {
        let rename = || set_link_request(index, &LinkChange { name: Some(name.to_string()), ..LinkChange::default() });
        match self.batch(vec![rename()])?.pop() {
            Some(f) if f.is(Errno::EBUSY) => {
                self.batch(vec![down_request(index), rename()])?.pop().map_or(Ok(()), |f| Err(f.error))
            }
            failed => failed.map_or(Ok(()), |f| Err(f.error)),
        }
    }

    /// Removes altnames from link `index` (before it moves: an altname
    /// that exists in the target namespace makes the kernel refuse the move).
    pub fn del_altnames(&mut self, index: u32, names: &[String]) -> NlResult<()> {
        self.altnames_request(index, names, Rt::DelLinkProp)
    }

    /// The index `master` has now: the link at its recorded index if it
    /// still has its name, else the link with its name.
    pub fn find_master(&mut self, master: &Master) -> NlResult<Option<u32>> {
        if let Some(l) = self.link_by_index(master.index)?.filter(|l| l.name == master.name) {
            return Ok(Some(l.index));
        }
        self.index_of(&master.name)
    }

    /// Adds altnames the link lost (the kernel drops clashing ones when it
    /// returns a device from a dying namespace).
    pub fn add_altnames(&mut self, index: u32, names: &[String]) -> NlResult<()> {
        self.altnames_request(index, names, Rt::NewLinkProp)
    }

    fn altnames_request(&mut self, index: u32, names: &[String], kind: fn(LinkMessage) -> Rt) -> NlResult<()> {
        if names.is_empty() {
            return Ok(());
        }
        let mut msg = link_request(index);
        msg.attributes.push(LinkAttribute::PropList(names.iter().cloned().map(Prop::AltIfName).collect()));
        self.ack(kind(msg))
    }
}

/// The one RTM_NEWLINK that moves link `index` into `target` as `name`.
fn move_request(index: u32, target: BorrowedFd<'_>, name: &str, change: &LinkChange) -> NlResult<Request> {
    if crate::ifname::invalid(name).is_some() {
        return Err(super::NlError::errno(&format!("interface name {name:?}"), Errno::EINVAL));
    }
    let mut msg = link_request(index);
    msg.attributes.push(LinkAttribute::NetNsFd(target.as_raw_fd()));
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    push_change(&mut msg, change);
    Ok(Request::new(Rt::NewLink(msg), 0, Subject::Link, format!("move link {index} as {name}")))
}

/// The request that makes link `index` a port of `master`.
pub fn master_request(index: u32, master: u32) -> Request {
    let mut msg = link_request(index);
    msg.attributes.push(LinkAttribute::Controller(master));
    Request::new(Rt::NewLink(msg), 0, Subject::Master, format!("make link {index} a port of link {master}"))
}

/// The request that sets link `index` up.
pub fn up_request(index: u32) -> Request {
    Request {
        what: format!("set link {index} up"),
        ..set_link_request(index, &LinkChange { up: Some(true), ..LinkChange::default() })
    }
}

/// The request that sets link `index` down.
pub fn down_request(index: u32) -> Request {
    Request {
        what: format!("set link {index} down"),
        ..set_link_request(index, &LinkChange { up: Some(false), ..LinkChange::default() })
    }
}

/// The RTM_NEWLINK request (with its extra flags) that applies `change`
/// to an existing link, for batching.
pub fn set_link_request(index: u32, change: &LinkChange) -> Request {
    let mut msg = link_request(index);
    if let Some(name) = &change.name {
        msg.attributes.push(LinkAttribute::IfName(name.clone()));
    }
    push_change(&mut msg, change);
    Request::new(Rt::NewLink(msg), 0, Subject::Link, format!("change link {index}"))
}

/// The attributes and flags of `change` but its name.
fn push_change(msg: &mut LinkMessage, change: &LinkChange) {
    if let Some(mac) = change.mac.as_deref().and_then(parse_mac) {
        msg.attributes.push(LinkAttribute::Address(mac));
    }
    if let Some(mtu) = change.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(alias) = &change.alias {
        msg.attributes.push(LinkAttribute::IfAlias(alias.clone()));
    }
    if let Some(txqlen) = change.txqlen {
        msg.attributes.push(LinkAttribute::TxQueueLen(txqlen));
    }
    if let Some(group) = change.group {
        msg.attributes.push(LinkAttribute::Group(group));
    }
    msg.attributes.extend(change.sizes.attributes());
    if let Some(up) = change.up {
        set_flag(msg, LinkFlags::Up, up);
    }
    if let Some(f) = change.flags {
        set_flag(msg, LinkFlags::Promisc, f.promisc);
        set_flag(msg, LinkFlags::Allmulti, f.allmulti);
        set_flag(msg, LinkFlags::Noarp, f.noarp);
        set_flag(msg, LinkFlags::Multicast, f.multicast);
    }
}

/// Asks for `flag` on or off; the change mask leaves the others alone.
fn set_flag(msg: &mut LinkMessage, flag: LinkFlags, on: bool) {
    msg.header.change_mask |= flag;
    msg.header.flags.set(flag, on);
}

/// A request for the link called `name` (or with that altname).
fn by_name(name: &str) -> LinkMessage {
    let mut msg = link_request(0);
    if name.len() <= crate::ifname::MAX_LEN {
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    } else {
        // Altnames run up to 127 bytes; IFLA_IFNAME refuses them.
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        msg.attributes.push(LinkAttribute::Other(DefaultNla::new(IFLA_ALT_IFNAME, bytes)));
    }
    msg
}

fn link_request(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    // Statistics are large and never needed here.
    msg.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    msg
}

impl From<&LinkMessage> for Link {
    fn from(m: &LinkMessage) -> Link {
        let flags = m.header.flags;
        let mut link = Link {
            index: m.header.index,
            up: flags.contains(LinkFlags::Up),
            loopback: flags.contains(LinkFlags::Loopback),
            flags: Some(AdminFlags {
                promisc: flags.contains(LinkFlags::Promisc),
                allmulti: flags.contains(LinkFlags::Allmulti),
                noarp: flags.contains(LinkFlags::Noarp),
                multicast: flags.contains(LinkFlags::Multicast),
            }),
            ..Link::default()
        };
        let mut parent = (None, None);
        for attr in &m.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Address(a) => link.mac = format_mac(a),
                LinkAttribute::PermAddress(a) if a.iter().any(|b| *b != 0) => link.perm_mac = Some(format_mac(a)),
                LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
                LinkAttribute::IfAlias(a) if !a.is_empty() => link.alias = Some(a.clone()),
                LinkAttribute::PropList(props) => link.altnames.extend(props.iter().filter_map(|p| match p {
                    Prop::AltIfName(n) => Some(n.clone()),
                    _ => None,
                })),
                LinkAttribute::NetnsImmutable(b) => link.netns_immutable = *b,
                LinkAttribute::LinkInfo(infos) => (link.kind, link.stacking) = (kind_of(infos), stacking_of(infos)),
                LinkAttribute::Link(i) => link.link = Some(*i),
                LinkAttribute::LinkNetNsId(id) => link.link_netnsid = Some(*id),
                LinkAttribute::ParentDevName(n) => parent.1 = Some(n.clone()),
                LinkAttribute::ParentDevBusName(b) => parent.0 = Some(b.clone()),
                LinkAttribute::TxQueueLen(q) => link.txqlen = Some(*q),
                LinkAttribute::Group(g) => link.group = Some(*g),
                LinkAttribute::Controller(i) => link.master = Some(Master { index: *i, name: String::new() }),
                LinkAttribute::MinMtu(m) => link.mtu_range = Some((*m, link.mtu_range.map_or(u32::MAX, |r| r.1))),
                LinkAttribute::MaxMtu(m) => link.mtu_range = Some((link.mtu_range.map_or(0, |r| r.0), *m)),
                LinkAttribute::TsoMaxSize(m) => link.tso_max_size = Some(*m),
                LinkAttribute::AfSpecUnspec(specs) => {
                    link.addr_gen_mode = addr_gen_mode(specs);
                    (link.inet_conf, link.inet6_conf) = dev_conf(specs);
                }
                other => link.sizes.read(other),
            }
        }
        if let (Some(bus), Some(device)) = parent {
            link.parent = Some(Parent { bus, device });
        }
        link
    }
}

fn addr_gen_mode(specs: &[AfSpecUnspec]) -> Option<u8> {
    specs.iter().find_map(|s| match s {
        AfSpecUnspec::Inet6(attrs) => attrs.iter().find_map(|a| match a {
            AfSpecInet6::AddrGenMode(m) => Some(u8::from(m)),
            _ => None,
        }),
        _ => None,
    })
}

fn dev_conf(specs: &[AfSpecUnspec]) -> (Option<InetDevConf>, Option<Inet6DevConf>) {
    let mut out = (None, None);
    for spec in specs {
        match spec {
            AfSpecUnspec::Inet(attrs) => {
                out.0 = attrs.iter().find_map(|a| if let AfSpecInet::DevConf(c) = a { Some(*c) } else { None })
            }
            AfSpecUnspec::Inet6(attrs) => {
                out.1 = attrs.iter().find_map(|a| if let AfSpecInet6::DevConf(c) = a { Some(*c) } else { None })
            }
            _ => {}
        }
    }
    out
}

fn kind_of(infos: &[LinkInfo]) -> Option<String> {
    infos.iter().find_map(|i| match i {
        LinkInfo::Kind(InfoKind::Other(k)) => Some(k.clone()),
        LinkInfo::Kind(k) => Some(k.to_string()),
        _ => None,
    })
}

fn stacking_of(infos: &[LinkInfo]) -> Option<Stacking> {
    use netlink_packet_route::link::{InfoData, InfoIpVlan, InfoMacVlan, InfoVlan};
    let mut s = Stacking::default();
    match infos.iter().find_map(|i| if let LinkInfo::Data(d) = i { Some(d) } else { None })? {
        InfoData::MacVlan(nlas) => nlas.iter().for_each(|n| match n {
            InfoMacVlan::Mode(m) => s.mode = Some(u32::from(*m)),
            InfoMacVlan::Flags(f) => s.flags = Some(u32::from(f.bits())),
            _ => {}
        }),
        InfoData::IpVlan(nlas) => nlas.iter().for_each(|n| match n {
            InfoIpVlan::Mode(m) => s.mode = Some(u32::from(u16::from(*m))),
            InfoIpVlan::Flags(f) => s.flags = Some(u32::from(f.bits())),
            _ => {}
        }),
        InfoData::Vlan(nlas) => nlas.iter().for_each(|n| match n {
            InfoVlan::Id(id) => s.vlan = Some(*id),
            InfoVlan::Protocol(p) => s.protocol = Some(u16::from(*p)),
            _ => {}
        }),
        _ => return None,
    }
    Some(s)
}

pub fn format_mac(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

pub fn parse_mac(s: &str) -> Option<Vec<u8>> {
    let bytes: Option<Vec<u8>> =
        s.split(':').map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 2)).collect();
    bytes.filter(|b| !b.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uppers_are_stacked_links_not_veth_peers() {
        let base = Link { index: 3, ..Link::default() };
        let peer = Link { index: 4, link: Some(3), kind: Some("veth".into()), ..Link::default() };
        let mv = Link { index: 5, link: Some(3), kind: Some("macvlan".into()), ..Link::default() };
        let other = Link { index: 6, link: Some(9), kind: Some("macvlan".into()), ..Link::default() };
        let all = [base.clone(), peer, mv.clone(), other];
        assert_eq!(base.uppers(&all), vec![&mv]);
    }

    #[test]
    fn macs_round_trip() {
        let mac = [0x02, 0xab, 0, 1, 0xff, 0x10];
        assert_eq!(format_mac(&mac), "02:ab:00:01:ff:10");
        assert_eq!(parse_mac("02:ab:00:01:ff:10").unwrap(), mac);
        assert_eq!(parse_mac("02:AB:00:01:FF:10").unwrap(), mac);
        for bad in ["", "1:2", "zz:00", "0203"] {
            assert!(parse_mac(bad).is_none(), "{bad}");
        }
    }
}
