//! The identity decisions, given the kernel's facts of devices no network
//! namespace can make here: NICs with a parent device and a permanent MAC,
//! two ports of one card, CAN cards without a MAC.

use super::*;
use crate::netlink::Parent;
use crate::netlink::link::Stacking;
use crate::state::Key;

fn key() -> Key {
    Key { network: "net".into(), container_id: "c1".into(), ifname: "net1".into() }
}

fn link(index: u32, name: &str, mac: &str) -> Link {
    Link { index, name: name.into(), mac: mac.into(), ..Link::default() }
}

fn pci(device: &str) -> Option<Parent> {
    Some(Parent { bus: "pci".into(), device: device.into() })
}

/// A port of a PCI card: its parent device and permanent MAC.
fn port(index: u32, name: &str, function: &str, perm: &str) -> Link {
    Link { parent: pci(function), perm_mac: Some(perm.into()), ..link(index, name, perm) }
}

/// A CAN channel: a parent device, no MAC at all.
fn can(index: u32, name: &str, function: &str) -> Link {
    Link { parent: pci(function), kind: Some("can".into()), ..link(index, name, "") }
}

fn macvlan(index: u32, name: &str, lower: u32, mode: u32) -> Link {
    Link {
        kind: Some("macvlan".into()),
        link: Some(lower),
        stacking: Some(Stacking { mode: Some(mode), ..Stacking::default() }),
        ..link(index, name, "02:00:00:00:00:0a")
    }
}

fn record(host: Link, anchor: Anchor) -> Record {
    Record { anchor, ..Record::new(&key(), None, host, vec![]) }
}

#[test]
fn a_parent_device_anchors_whatever_else_the_link_reports() {
    let nic = port(5, "eth1", "0000:03:00.0", "52:54:00:00:00:01");
    assert_eq!(anchor_of(&nic), Anchor::Parent);
    assert_eq!(anchor_of(&can(6, "can0", "0000:04:00.0")), Anchor::Parent);
    // A physical device that reports a link of its own (an IPoIB child).
    assert_eq!(anchor_of(&Link { link: Some(2), kind: Some("ipoib".into()), ..nic }), Anchor::Parent);
}

#[test]
fn a_virtual_link_is_anchored_only_by_a_peer_or_lower_in_its_own_namespace() {
    let with = |kind: &str, lower: Option<u32>, nsid: Option<i32>| Link {
        kind: Some(kind.into()),
        link: lower,
        link_netnsid: nsid,
        ..link(9, "v", "02:00:00:00:00:09")
    };
    assert_eq!(anchor_of(&with("veth", Some(4), None)), Anchor::Peer { index: 4 });
    for kind in ["macvlan", "ipvlan", "vlan"] {
        assert_eq!(anchor_of(&with(kind, Some(3), None)), Anchor::Lower { index: 3 }, "{kind}");
    }
    for (why, l) in [
        ("a veth whose peer is in another namespace", with("veth", Some(4), Some(0))),
        ("a macvlan whose lower is in another namespace", with("macvlan", Some(3), Some(1))),
        ("a veth without a peer", with("veth", None, None)),
        // Tunnels with `dev` report a link, and prove nothing by it.
        ("a gre tunnel", with("gre", Some(3), None)),
        ("a macvtap", with("macvtap", Some(3), None)),
        ("a tap", with("tun", None, None)),
    ] {
        assert_eq!(anchor_of(&l), Anchor::Unprovable, "{why}");
    }
}

#[test]
fn how_a_record_is_searched_follows_its_anchor_and_the_config() {
    let mv = macvlan(7, "mv0", 3, 4);
    assert_eq!(search(&record(link(5, "v", ""), Anchor::Peer { index: 6 })), Search::Peer(6));
    assert_eq!(search(&record(mv.clone(), Anchor::Lower { index: 3 })), Search::Anchored);
    assert_eq!(search(&record(port(5, "eth1", "0000:03:00.0", "52:54:00:00:00:01"), Anchor::Parent)), Search::Anchored);
    // A macvtap recorded by its lower device before the unprovable rule.
    let tap = Link { kind: Some("macvtap".into()), ..mv };
    assert_eq!(search(&record(tap, Anchor::Lower { index: 3 })), Search::Not);
    let mut rec = record(link(5, "tap0", "02:00:00:00:00:05"), Anchor::Unprovable);
    assert_eq!(search(&rec), Search::Not);
    rec.unprovable = Some(Unprovable::TrustContainer);
    assert_eq!(search(&rec), Search::Trusted);
    rec.unprovable = Some(Unprovable::LeaveInContainer);
    assert_eq!(search(&rec), Search::Not);
}

#[test]
fn a_parent_device_proves_only_its_own_function() {
    let rec = record(port(5, "eth1", "0000:03:00.0", "52:54:00:00:00:01"), Anchor::Parent);
    let ctr = Side::Container { host_nsid: None };
    // The NIC moved in makes no nsid for the host: it needs none.
    for side in [Side::Host, ctr] {
        assert!(proven(&rec, &port(9, "net1", "0000:03:00.0", "52:54:00:00:00:01"), side));
        assert!(!proven(&rec, &port(5, "eth1", "0000:03:00.1", "52:54:00:00:00:01"), side), "the card's next port");
        assert!(!proven(&rec, &link(5, "eth1", "52:54:00:00:00:01"), side), "a container's look-alike");
    }
    // A record from before parents were kept proves nothing by them.
    let old = record(link(5, "eth1", "52:54:00:00:00:01"), Anchor::Parent);
    assert!(!proven(&old, &link(5, "eth1", "52:54:00:00:00:01"), Side::Host));
}

#[test]
fn a_lower_device_proves_an_upper_of_the_same_kind_stacked_alike() {
    let rec = record(macvlan(7, "mv0", 3, 4), Anchor::Lower { index: 3 });
    assert!(proven(&rec, &macvlan(12, "x", 3, 4), Side::Host));
    for (why, l) in [
        ("on another lower", macvlan(7, "mv0", 2, 4)),
        ("in another mode", macvlan(7, "mv0", 3, 8)),
        ("of another kind", Link { kind: Some("macvtap".into()), ..macvlan(7, "mv0", 3, 4) }),
        ("with its lower in another namespace", Link { link_netnsid: Some(0), ..macvlan(7, "mv0", 3, 4) }),
    ] {
        assert!(!proven(&rec, &l, Side::Host), "a sibling {why}");
    }
    // A record from before stacking was kept: any mode.
    let old = record(Link { stacking: None, ..macvlan(7, "mv0", 3, 4) }, Anchor::Lower { index: 3 });
    assert!(proven(&old, &macvlan(7, "mv0", 3, 8), Side::Host));
}

#[test]
fn in_the_container_the_lower_must_be_in_the_namespace_it_knows_the_host_by() {
    let rec = record(macvlan(7, "mv0", 3, 4), Anchor::Lower { index: 3 });
    let in_ns = |nsid: Option<i32>| Link { link_netnsid: nsid, ..macvlan(7, "net1", 3, 4) };
    let seen_from = |host_nsid| Side::Container { host_nsid };
    assert!(proven(&rec, &in_ns(Some(0)), seen_from(Some(0))));
    assert!(!proven(&rec, &in_ns(Some(1)), seen_from(Some(0))), "a lower in a third namespace");
    assert!(!proven(&rec, &in_ns(None), seen_from(Some(0))), "a lower of the container's own");
    assert!(!proven(&rec, &in_ns(None), seen_from(None)), "a container that has nothing of the host");
}

#[test]
fn peer_and_unprovable_anchors_prove_no_candidate() {
    let l = macvlan(7, "mv0", 3, 4);
    for anchor in [Anchor::Peer { index: 3 }, Anchor::Unprovable] {
        assert!(!proven(&record(l.clone(), anchor.clone()), &l, Side::Host), "{anchor:?}");
    }
}

#[test]
fn the_permanent_mac_tells_two_ports_of_one_function_apart() {
    // Two ports on one PCI function (mlx4): the same parent device. The
    // container gave ours the other port's index hint and name.
    let ours = port(5, "eth1", "0000:03:00.0", "52:54:00:00:00:01");
    let rec = record(ours, Anchor::Parent);
    let other = port(5, "eth1", "0000:03:00.0", "52:54:00:00:00:02");
    let returned = Link { mac: "02:00:00:00:00:99".into(), ..port(11, "dev11", "0000:03:00.0", "52:54:00:00:00:01") };
    let got = choose(vec![other.clone(), returned.clone()], &rec, |l| proven(&rec, l, Side::Host));
    assert_eq!(got.map(|l| l.name), Some("dev11".into()));
    // Without a permanent MAC on record, the other port's index wins.
    let rec = record(Link { perm_mac: None, ..rec.host }, Anchor::Parent);
    let got = choose(vec![returned, other], &rec, |l| proven(&rec, l, Side::Host));
    assert_eq!(got.map(|l| l.index), Some(5));
}

#[test]
fn hints_rank_the_index_then_names_then_the_mac() {
    let rec = Record {
        container_index: Some(21),
        parked_as: Some("hd-park".into()),
        ..record(port(5, "eth1", "0000:03:00.0", "52:54:00:00:00:01"), Anchor::Parent)
    };
    let with = |index, name: &str, mac: &str| Link { parent: pci("0000:03:00.0"), ..link(index, name, mac) };
    let pick = |links: Vec<Link>| choose(links, &rec, |l| proven(&rec, l, Side::Host)).map(|l| l.name);
    let mac = "52:54:00:00:00:01";
    assert_eq!(pick(vec![with(30, "eth1", mac), with(21, "x", "")]).as_deref(), Some("x"), "the container index");
    assert_eq!(pick(vec![with(30, "eth1", mac), with(5, "y", "")]).as_deref(), Some("y"), "the host index");
    for name in ["eth1", "net1", "hd-park"] {
        assert_eq!(pick(vec![with(30, "z", mac), with(31, name, "")]).as_deref(), Some(name));
    }
    assert_eq!(pick(vec![with(30, "a", ""), with(31, "b", mac)]).as_deref(), Some("b"), "the MAC");
}

#[test]
fn a_proven_link_without_hints_is_ours_only_as_the_only_one_of_its_parent() {
    let rec = record(can(5, "can0", "0000:04:00.0"), Anchor::Parent);
    let pick = |links: Vec<Link>| choose(links, &rec, |l| proven(&rec, l, Side::Host)).map(|l| l.name);
    assert_eq!(pick(vec![can(9, "x", "0000:04:00.0")]).as_deref(), Some("x"));
    // Two channels of one CAN card, neither with a hint: no MAC is one.
    assert_eq!(pick(vec![can(9, "x", "0000:04:00.0"), can(10, "y", "0000:04:00.0")]), None);
    assert_eq!(pick(vec![can(9, "x", "0000:04:00.0"), can(5, "y", "0000:04:00.0")]).as_deref(), Some("y"));
    assert_eq!(pick(vec![]), None);
    // A lower device's only upper with no hint is the host's own.
    let rec = record(macvlan(7, "mv0", 3, 4), Anchor::Lower { index: 3 });
    let pick = |links: Vec<Link>| choose(links, &rec, |l| proven(&rec, l, Side::Host)).map(|l| l.name);
    assert_eq!(pick(vec![Link { mac: "02:00:00:00:00:77".into(), ..macvlan(12, "own", 3, 4) }]), None);
    assert_eq!(pick(vec![macvlan(12, "own", 3, 4)]).as_deref(), Some("own"), "its MAC is a hint");
}

#[test]
fn a_trusted_container_link_has_the_recorded_kind_mac_and_cni_ifname() {
    let tap = Link { kind: Some("tun".into()), ..link(5, "tap0", "02:00:00:00:00:05") };
    let rec = record(tap.clone(), Anchor::Unprovable);
    assert!(alike(&rec, &tap) && !trusted_in_container(&rec, &tap));
    assert!(trusted_in_container(&rec, &Link { name: "net1".into(), ..tap.clone() }));
    assert!(!alike(&rec, &Link { mac: "02:00:00:00:00:06".into(), ..tap.clone() }));
    assert!(!alike(&rec, &Link { kind: Some("veth".into()), ..tap }));
}

#[test]
fn a_trusted_device_without_a_mac_is_found_by_its_index_or_names_only() {
    let vcan = |index, name: &str| Link { kind: Some("vcan".into()), ..link(index, name, "") };
    let rec = Record { unprovable: Some(Unprovable::TrustContainer), ..record(vcan(5, "vcan0"), Anchor::Unprovable) };
    let pick = |links: Vec<Link>| choose(links, &rec, |l| alike(&rec, l)).map(|l| l.name);
    assert_eq!(pick(vec![vcan(8, "vcan1")]), None, "the host's other vcan");
    assert_eq!(pick(vec![vcan(8, "vcan1"), vcan(9, "vcan0")]).as_deref(), Some("vcan0"));
}

#[test]
fn a_veth_peer_says_where_our_end_is() {
    let peer = |kind: &str, ours: Option<u32>, nsid: Option<i32>| {
        Some(Link { kind: Some(kind.into()), link: ours, link_netnsid: nsid, ..link(4, "veth-h", "") })
    };
    assert_eq!(peer_says(4, peer("veth", Some(9), None)), PeerSays::OnHost(9));
    assert_eq!(peer_says(4, peer("veth", Some(9), Some(2))), PeerSays::In { peer: "veth-h".into(), ours: 9, nsid: 2 });
    for (why, p) in
        [("gone", None), ("a tap at its index", peer("tun", None, None)), ("no link", peer("veth", None, None))]
    {
        assert!(matches!(peer_says(4, p), PeerSays::Gone(w) if w.contains("host index 4")), "{why}");
    }
}

#[test]
fn a_veth_elsewhere_is_dying_with_its_namespace_or_without_a_holder() {
    let place = |nsid, no_container| match elsewhere("veth-h", nsid, no_container) {
        Place::Elsewhere { why, dying } => (why, dying),
        other => panic!("{other:?}"),
    };
    let (why, dying) = place(-1, false);
    assert!(dying && why.contains("being destroyed (its peer veth-h"), "{why}");
    let (why, dying) = place(3, true);
    assert!(dying && why.contains("nsid 3), and no process"), "{why}");
    let (why, dying) = place(0, false);
    assert!(!dying && why.contains("nsid 0), not in CNI_NETNS"), "{why}");
    let (why, dying) = place(3, false);
    assert!(!dying && why.contains("not in CNI_NETNS"), "{why}");
    assert!(matches!(found_on_host(Some(link(9, "a", ""))), Place::Host(l) if l.index == 9));
    assert!(matches!(found_on_host(None), Place::Unknown(_)));
    assert!(matches!(found_in_container(Some(link(9, "a", ""))), Place::Container(l) if l.index == 9));
    assert!(matches!(found_in_container(None), Place::Unknown(_)));
}
