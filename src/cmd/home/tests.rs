//! What DEL answers for an interface out of reach, given the places
//! `locate` reports, for physical devices too (no namespace makes one).

use super::*;
use crate::netlink::Parent;

fn record(anchor: Anchor) -> Record {
    let key = Key { network: "net".into(), container_id: "c1".into(), ifname: "net1".into() };
    let parent = Some(Parent { bus: "pci".into(), device: "0000:03:00.0".into() });
    let host = Link { index: 5, name: "eth1".into(), parent, ..Link::default() };
    Record { anchor, ..Record::new(&key, None, host, vec![]) }
}

fn unknown() -> Place {
    Place::Unknown("nothing proves it".into())
}

fn dying(dying: bool) -> Place {
    Place::Elsewhere { why: "far".into(), dying }
}

#[test]
fn a_physical_device_nowhere_to_be_seen_is_on_its_way_back() {
    let nic = record(Anchor::Parent);
    let e = unreached(&nic, unknown(), " (held)").unwrap_err();
    assert_eq!(e.code, code::TRY_AGAIN);
    assert!(
        e.msg.starts_with("physical interface eth1 is in no namespace hostdev can see (nothing proves it) (held);")
    );
    let tap = record(Anchor::Unprovable);
    assert_eq!(unreached(&tap, unknown(), "").unwrap(), Outcome::Lost("nothing proves it".into()));
}

#[test]
fn a_device_elsewhere_stays_and_one_proven_dead_is_gone() {
    let veth = record(Anchor::Peer { index: 4 });
    let e = unreached(&veth, dying(true), " (held)").unwrap_err();
    assert_eq!(e.code, code::TRY_AGAIN);
    assert!(e.msg.contains("cannot be brought home: far (held)."), "{}", e.msg);
    let e = unreached(&veth, dying(false), " (held)").unwrap_err();
    assert_eq!(e.code, code::NOT_HOME);
    assert!(e.msg.contains("cannot be brought home: far."), "{}", e.msg);
    assert_eq!(unreached(&veth, Place::Dead("gone".into()), "").unwrap(), Outcome::Gone);
}

#[test]
fn only_a_returning_nic_or_a_dying_namespace_is_waited_for() {
    let (nic, veth) = (record(Anchor::Parent), record(Anchor::Peer { index: 4 }));
    assert_eq!(in_transit(&nic, &unknown()).map(String::as_str), Some("nothing proves it"));
    assert_eq!(in_transit(&veth, &unknown()), None);
    assert_eq!(in_transit(&veth, &dying(true)).map(String::as_str), Some("far"));
    assert_eq!(in_transit(&veth, &dying(false)), None);
    assert_eq!(in_transit(&nic, &Place::Dead("gone".into())), None);
    assert_eq!(in_transit(&nic, &Place::Host(Link::default())), None);
}
