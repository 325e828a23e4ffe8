//! Adoption's decisions, given the kernel's facts of devices no network
//! namespace can make here: a NIC the kernel returned under dev<N>, two
//! ports of one card, a container-made device with the same MAC.

use super::*;
use crate::cni::env::Command;
use crate::netlink::Parent;
use crate::safedir::tests::TempDir;

const MAC: &str = "52:54:00:00:00:01";

fn env() -> Env {
    Env {
        command: Command::Del,
        container_id: "c1".into(),
        netns: Some("/run/netns/c1".into()),
        ifname: "net1".into(),
        path: vec![],
        pod: None,
    }
}

fn key() -> Key {
    Key { network: "net".into(), container_id: "c1".into(), ifname: "net1".into() }
}

fn other_key() -> Key {
    Key { container_id: "c2".into(), ..key() }
}

fn link(index: u32, name: &str) -> Link {
    Link { index, name: name.into(), mac: MAC.into(), ..Link::default() }
}

/// A NIC on PCI function `function`, with its permanent MAC.
fn nic(index: u32, name: &str, function: &str) -> Link {
    Link {
        parent: Some(Parent { bus: "pci".into(), device: function.into() }),
        perm_mac: Some(MAC.into()),
        ..link(index, name)
    }
}

fn veth(index: u32, peer: u32, nsid: Option<i32>) -> Link {
    Link { kind: Some("veth".into()), link: Some(peer), link_netnsid: nsid, ..link(index, "net1") }
}

fn by_pci(function: &str) -> Selector {
    Selector { pci_bus_id: Some(function.into()), ..Selector::default() }
}

fn home(name: &str, upstream_alias: bool) -> Option<Home> {
    Some(Home { name: name.into(), upstream_alias })
}

fn nothing_taken(_: &str) -> Result<Option<Link>> {
    Ok(None)
}

fn record_of(key: &Key, dev: Link, anchor: Anchor) -> Record {
    Record { anchor, ..Record::new(key, None, dev, vec![]) }
}

#[test]
fn the_container_view_anchors_only_what_hangs_off_the_host() {
    assert_eq!(container_anchor(&veth(9, 4, Some(0)), Some(0)), Anchor::Peer { index: 4 });
    let mv = Link { kind: Some("macvlan".into()), link: Some(3), link_netnsid: Some(0), ..link(9, "net1") };
    assert_eq!(container_anchor(&mv, Some(0)), Anchor::Lower { index: 3 });
    // A NIC moved in: no link, and the container needs no nsid for the host.
    assert_eq!(container_anchor(&nic(9, "net1", "0000:03:00.0"), None), Anchor::Parent);
    for (why, l, host_nsid) in [
        ("a peer in a third namespace", veth(9, 4, Some(1)), Some(0)),
        ("a peer in the container itself", veth(9, 4, None), Some(0)),
        ("a container with no nsid for the host", veth(9, 4, None), None),
    ] {
        assert_eq!(container_anchor(&l, host_nsid), Anchor::Unprovable, "{why}");
    }
}

#[test]
fn a_physical_device_needs_a_selector_that_names_it() {
    let card = nic(9, "net1", "0000:03:00.0");
    let why = evidence(&by_pci("0000:03:00.0"), &card, &Anchor::Parent).unwrap();
    assert_eq!(why, "net1 is a physical device (pci 0000:03:00.0) and pciBusID \"0000:03:00.0\" names it");
    assert!(evidence(&by_pci("0000:03:00.1"), &card, &Anchor::Parent).is_err(), "the card's next port");
    let by_name = Selector { device: Some("eth1".into()), ..Selector::default() };
    assert!(evidence(&by_name, &card, &Anchor::Parent).is_err(), "a name proves nothing");
    // A container-made device with the NIC's MAC has no parent to show.
    let hw = Selector { hwaddr: Some(MAC.into()), ..Selector::default() };
    assert!(evidence(&hw, &card, &Anchor::Parent).is_ok());
    assert!(evidence(&hw, &link(9, "net1"), &Anchor::Parent).is_err());
}

#[test]
fn a_veth_or_macvlan_is_proven_by_its_anchor_a_tap_by_nothing() {
    let sel = Selector::default();
    let why = evidence(&sel, &veth(9, 4, None), &Anchor::Peer { index: 4 }).unwrap();
    assert_eq!(why, "net1 is a veth whose peer is on the host");
    let mv = Link { kind: Some("macvlan".into()), ..link(9, "net1") };
    let why = evidence(&sel, &mv, &Anchor::Lower { index: 3 }).unwrap();
    assert_eq!(why, "net1 is a macvlan whose lower device is on the host");
    assert!(evidence(&sel, &link(9, "net1"), &Anchor::Unprovable).is_err());
}

#[test]
fn the_configs_device_names_the_home_unless_it_is_an_altname() {
    let dev = "eth1".to_string();
    let v = Link { alias: Some("eth1".into()), ..veth(9, 4, None) };
    let peer = Anchor::Peer { index: 4 };
    let got = home_name(Some(&dev), &v, &peer, None, |_| panic!("a device name needs no look-up")).unwrap();
    assert_eq!(got, home("eth1", true), "upstream's alias names it: cleared");
    let got = home_name(Some(&dev), &veth(9, 4, None), &peer, None, nothing_taken).unwrap();
    assert_eq!(got, home("eth1", false));
    let alt = Link { altnames: vec!["eth1".into()], ..v.clone() };
    assert_eq!(home_name(Some(&dev), &alt, &peer, None, nothing_taken).unwrap(), None);
    let bad = "a/b".to_string();
    assert_eq!(home_name(Some(&bad), &v, &peer, None, nothing_taken).unwrap(), None);
    // A veth's alias is the container's to set.
    assert_eq!(home_name(None, &v, &peer, None, nothing_taken).unwrap(), None);
}

#[test]
fn a_physical_device_comes_home_under_its_alias_when_that_is_free() {
    let card = Link { alias: Some("eth1".into()), ..nic(11, "dev11", "0000:03:00.0") };
    let p = Anchor::Parent;
    assert_eq!(home_name(None, &card, &p, None, nothing_taken).unwrap(), home("eth1", true));
    let other_port = |_: &str| Ok(Some(nic(5, "eth1", "0000:03:00.1")));
    assert_eq!(home_name(None, &card, &p, None, other_port).unwrap(), None, "another port has the name");
    assert_eq!(home_name(None, &card, &p, Some(11), other_port).unwrap(), None);
    let itself = |_: &str| Ok(Some(nic(11, "eth1", "0000:03:00.0")));
    assert_eq!(home_name(None, &card, &p, Some(11), itself).unwrap(), home("eth1", true), "its own name");
    assert_eq!(home_name(None, &card, &p, None, itself).unwrap(), None, "in the container: not its own");
    // The config's device (not an altname) outranks the alias.
    let alt = Link { altnames: vec!["eth9".into()], ..card.clone() };
    let dev = "eth9".to_string();
    assert_eq!(home_name(Some(&dev), &alt, &p, None, nothing_taken).unwrap(), home("eth1", true));
    for (why, alias) in [("no alias", None), ("a bad alias", Some("a b")), ("an altname", Some("eth9"))] {
        let l = Link { alias: alias.map(str::to_string), ..alt.clone() };
        let asked = |_: &str| -> Result<Option<Link>> { panic!("{why}: nothing to look up") };
        assert_eq!(home_name(None, &l, &p, None, asked).unwrap(), None, "{why}");
    }
    let failing = |_: &str| Err(Error::new(code::KERNEL, "no socket"));
    assert_eq!(home_name(None, &card, &p, None, failing).unwrap_err().msg, "no socket");
}

#[test]
fn adopted_only_when_the_hosts_side_finds_cni_ifname_itself() {
    let v = veth(9, 4, None);
    let rec = || record_of(&key(), v.clone(), Anchor::Peer { index: 4 });
    let verdict = |place| confirmed(place, &v, rec(), "it is".into());
    assert!(
        matches!(verdict(Place::Container(veth(9, 4, None))), Verdict::Adopt(r, why) if *r == rec() && why == "it is")
    );
    let declined = |place| match verdict(place) {
        Verdict::Decline(why) => why,
        other => panic!("{other:?}"),
    };
    let why = declined(Place::Container(Link { name: "other".into(), ..veth(10, 4, None) }));
    assert_eq!(why, "net1 is not proven to be the host's: its anchor points at other (index 10)");
    let why = declined(Place::Host(link(9, "h1")));
    assert_eq!(why, "net1 is not proven to be the host's: its anchor points at h1 (index 9)");
    assert!(declined(Place::Dead("gone".into())).ends_with(": gone"));
    assert!(declined(Place::Unknown("unknown".into())).ends_with(": unknown"));
    assert!(declined(Place::Elsewhere { why: "far".into(), dying: false }).ends_with(": far"));
}

#[test]
fn the_kernel_returns_a_nic_down_under_its_name_or_dev_n() {
    let fits = |l: &Link| evidence(&by_pci("0000:03:00.0"), l, &Anchor::Parent);
    let returned = nic(11, "dev11", "0000:03:00.0");
    let (found, why) = returned_one(vec![link(1, "lo"), returned.clone()], "net1", fits).unwrap();
    assert_eq!((found.index, why.contains("pciBusID")), (11, true));
    assert_eq!(returned_one(vec![nic(11, "net1", "0000:03:00.0")], "net1", fits).unwrap().0.index, 11);
    for (why, l) in [
        ("up", Link { up: true, ..returned.clone() }),
        ("another name", nic(11, "dev12", "0000:03:00.0")),
        ("the card's next port", nic(11, "dev11", "0000:03:00.1")),
        ("a look-alike without a parent", link(11, "dev11")),
    ] {
        assert!(matches!(returned_one(vec![l], "net1", fits), Err(Verdict::Absent)), "{why}");
    }
    // Two ports of one function, both returned: which is ours is unknown.
    let twin = nic(12, "net1", "0000:03:00.0");
    match returned_one(vec![returned, twin], "net1", fits) {
        Err(Verdict::Decline(why)) => assert_eq!(why, "both dev11 and net1 on the host fit the config"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_returned_nic_comes_home_under_another_name_only() {
    let card = Link { alias: Some("eth1".into()), altnames: vec!["x".into()], ..nic(11, "dev11", "0000:03:00.0") };
    match back_home(&env(), &key(), card.clone(), home("eth1", true), "proven".into()) {
        Verdict::Adopt(rec, why) => {
            assert_eq!(why, "proven, back on the host");
            assert_eq!((rec.host.name.as_str(), rec.host.alias.as_ref()), ("eth1", None));
            assert_eq!((rec.anchor, rec.host.altnames.len()), (Anchor::Parent, 0));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(back_home(&env(), &key(), card.clone(), home("dev11", true), "p".into()), Verdict::Absent));
    assert!(matches!(back_home(&env(), &key(), card, None, "p".into()), Verdict::Absent));
}

#[test]
fn the_adopted_record_keeps_none_of_the_containers_names_or_view() {
    let e = Env { pod: Some(crate::cni::env::Pod { namespace: "ns".into(), name: "p".into() }), ..env() };
    let v = Link { alias: Some("mine".into()), altnames: vec!["alt".into()], ..veth(9, 4, Some(0)) };
    let rec = record(&e, &key(), &v, Anchor::Peer { index: 4 }, Home { name: "eth1".into(), upstream_alias: false });
    assert_eq!(rec.host.name, "eth1");
    assert_eq!(rec.host.alias.as_deref(), Some("mine"), "the user's own alias");
    assert!(rec.host.altnames.is_empty() && rec.host.link.is_none() && rec.host.link_netnsid.is_none());
    assert_eq!((rec.anchor, rec.pod, rec.netns), (Anchor::Peer { index: 4 }, e.pod, e.netns));
}

#[test]
fn another_attachments_record_of_the_same_device_holds_it() {
    let card = nic(11, "eth1", "0000:03:00.0");
    let probe = record_of(&key(), card.clone(), Anchor::Parent);
    let theirs = |dev: Link, anchor| record_of(&other_key(), dev, anchor);
    assert!(holds(&theirs(card.clone(), Anchor::Parent), &key(), &probe));
    assert!(!holds(&record_of(&key(), card.clone(), Anchor::Parent), &key(), &probe), "our own record");
    assert!(!holds(&theirs(nic(11, "eth1", "0000:03:00.1"), Anchor::Parent), &key(), &probe), "the next port");
    assert!(!holds(&theirs(card, Anchor::Lower { index: 3 }), &key(), &probe));
    let v = veth(9, 4, None);
    let probe = record_of(&key(), v.clone(), Anchor::Peer { index: 4 });
    assert!(holds(&theirs(v.clone(), Anchor::Peer { index: 4 }), &key(), &probe));
    assert!(!holds(&theirs(v, Anchor::Peer { index: 5 }), &key(), &probe), "another peer");
}

#[test]
fn the_holder_is_found_through_the_devices_claim() {
    let tmp = TempDir::new("adopt-holder");
    let store = Store::open(&tmp.0).unwrap();
    let card = nic(11, "eth1", "0000:03:00.0");
    let probe = record_of(&key(), card.clone(), Anchor::Parent);
    assert_eq!(holder(&store, &key(), &probe).unwrap(), None);
    let theirs = record_of(&other_key(), card, Anchor::Parent);
    store.claim(&theirs).unwrap();
    store.save(&theirs).unwrap();
    assert_eq!(holder(&store, &key(), &probe).unwrap(), Some(theirs.clone()));
    assert_eq!(holder(&store, &other_key(), &probe).unwrap(), None, "its own record holds nothing from it");
    assert!(held(&probe.host, &theirs).contains("attachment net1 of container c2 (network net)"));
}

#[test]
fn a_decline_says_why_nothing_names_the_home() {
    let v = Link { alias: Some("eth1".into()), ..veth(9, 4, None) };
    assert!(no_home_name(&v).contains("net1's alias is the container's to choose"), "{}", no_home_name(&v));
    let card = Link { alias: Some("eth1".into()), ..nic(11, "net1", "0000:03:00.0") };
    assert!(no_home_name(&card).contains("net1 has alias \"eth1\", which is not"), "{}", no_home_name(&card));
    assert!(no_home_name(&nic(11, "net1", "0000:03:00.0")).contains("net1 has no alias"));
    assert_eq!(describe(&card), "a physical device (pci 0000:03:00.0)");
    assert_eq!(describe(&v), "a veth");
    assert_eq!(describe(&link(1, "x")), "a device");
}
