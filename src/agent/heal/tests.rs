//! What the agent does with an attachment whose namespace is dead, given
//! its record and where `locate` found its device, for physical devices
//! too (no namespace makes one).

use super::*;
use crate::cni::{Error, code};
use crate::netlink::{Link, Parent};

fn record(anchor: Anchor, phase: Phase) -> Record {
    let key = Key { network: "net".into(), container_id: "c1".into(), ifname: "net1".into() };
    let parent = Some(Parent { bus: "pci".into(), device: "0000:03:00.0".into() });
    let host = Link { index: 5, name: "eth1".into(), parent, ..Link::default() };
    Record { anchor, phase, ..Record::new(&key, None, host, vec![]) }
}

#[test]
fn only_a_lost_virtual_device_has_its_record_dropped() {
    let veth = || Anchor::Peer { index: 4 };
    assert!(droppable(&record(veth(), Phase::Lost)));
    assert!(droppable(&record(Anchor::Lower { index: 4 }, Phase::Lost)));
    assert!(droppable(&record(Anchor::Unprovable, Phase::Lost)));
    // A lost NIC comes back when its namespace dies: its record waits.
    assert!(!droppable(&record(Anchor::Parent, Phase::Lost)));
    for phase in [Phase::Adding, Phase::Attached, Phase::Removing, Phase::Parked] {
        assert!(!droppable(&record(veth(), phase)), "{phase:?}");
    }
}

#[test]
fn a_returning_nic_a_dying_namespace_or_no_answer_is_waited_for() {
    let (nic, veth) = (record(Anchor::Parent, Phase::Attached), record(Anchor::Peer { index: 4 }, Phase::Attached));
    let unknown = || Ok(Place::Unknown("nothing proves it".into()));
    let elsewhere = |dying| Ok(Place::Elsewhere { why: "far".into(), dying });
    assert_eq!(on_its_way(&nic, unknown()).as_deref(), Some("nothing proves it"));
    assert_eq!(on_its_way(&veth, unknown()), None);
    assert_eq!(on_its_way(&veth, elsewhere(true)).as_deref(), Some("far"));
    assert_eq!(on_its_way(&veth, elsewhere(false)), None);
    assert_eq!(on_its_way(&nic, Ok(Place::Dead("gone".into()))), None);
    assert_eq!(on_its_way(&nic, Ok(Place::Host(Link::default()))), None);
    let failed = Err(Error::new(code::KERNEL, "cannot ask the kernel"));
    assert_eq!(on_its_way(&veth, failed).as_deref(), Some("cannot ask the kernel"));
}
