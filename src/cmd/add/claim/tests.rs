//! The claim's decisions on physical devices, which no namespace makes.

use super::*;
use crate::netlink::Parent;
use crate::state::Key;

fn record(anchor: Anchor, netns: &str) -> Record {
    let key = Key { network: "net".into(), container_id: "c1".into(), ifname: "net1".into() };
    let parent = Some(Parent { bus: "pci".into(), device: "0000:03:00.0".into() });
    let host = Link { index: 5, name: "eth1".into(), parent, ..Link::default() };
    Record { anchor, ..Record::new(&key, Some(netns.into()), host, vec![]) }
}

#[test]
fn only_a_nic_whose_namespace_is_gone_is_on_its_way_home() {
    let gone = "/run/netns/hostdev-unit-no-such-namespace";
    assert!(on_its_way_home(&record(Anchor::Parent, gone)));
    assert!(!on_its_way_home(&record(Anchor::Parent, "/")), "its namespace is still there");
    assert!(!on_its_way_home(&record(Anchor::Peer { index: 4 }, gone)), "a veth dies with it");
    let parked = Record { phase: Phase::Parked, ..record(Anchor::Parent, gone) };
    assert!(!on_its_way_home(&parked), "a parked one is home already");
}
