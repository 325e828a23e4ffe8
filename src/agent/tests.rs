//! Which records a batch of the kernel's notifications makes the agent
//! look at, for physical devices too (no namespace makes one), and when
//! the next sweep is due.

use super::*;
use crate::netlink::Link;

fn parent(device: &str) -> Parent {
    Parent { bus: "pci".into(), device: device.into() }
}

fn link(parent: Option<Parent>) -> Link {
    Link { index: 5, name: "eth1".into(), parent, ..Link::default() }
}

/// The record of a device with `anchor`, its parent 0000:03:00.0, in the
/// namespace the host knows as `nsid`.
fn record(anchor: Anchor, nsid: i32) -> Record {
    let key = Key { network: "net".into(), container_id: "c1".into(), ifname: "net1".into() };
    Record { anchor, nsid: Some(nsid), ..Record::new(&key, None, link(Some(parent("0000:03:00.0"))), vec![]) }
}

#[test]
fn a_burst_the_kernel_dropped_is_no_look_but_a_sweep() {
    assert!(Look::of(&[Event::NsidGone(3), Event::Overflow]).is_none());
    let look = Look::of(&[Event::NsidGone(3), Event::Link(link(None)), Event::LinkGone(link(Some(parent("a"))))]);
    let look = look.expect("no overflow");
    assert_eq!(look.nsids, [3]);
    assert_eq!(look.parents, [parent("a")]);
    assert!(look.links);
    assert!(!Look::of(&[Event::NsidGone(3)]).unwrap().links);
}

/// A pass reads every record: a batch that can want none skips it.
#[test]
fn only_a_death_a_returned_parent_or_a_link_while_one_waits_makes_a_pass() {
    let none = HashSet::new();
    let waiting = HashSet::from([NsIdentity { dev: 4, ino: 4026532000 }]);
    let nothing = Look::default();
    assert!(!nothing.wants_any(&none) && !nothing.wants_any(&waiting));
    let link_only = Look { links: true, ..Look::default() };
    assert!(!link_only.wants_any(&none), "a link event with nothing waiting");
    assert!(link_only.wants_any(&waiting), "a link event while a dead namespace's device is on its way");
    let death = Look { nsids: vec![3], ..Look::default() };
    assert!(death.wants_any(&none));
    let returned = Look { parents: vec![parent("0000:03:00.0")], links: true, ..Look::default() };
    assert!(returned.wants_any(&none), "a parent device's return without an nsid event");
}

#[test]
fn a_record_is_wanted_for_its_namespace_s_death_or_its_nic_s_return() {
    let (nic, veth) = (record(Anchor::Parent, 3), record(Anchor::Peer { index: 4 }, 3));
    let death = |n| Look { nsids: vec![n], ..Look::default() };
    assert_eq!(death(3).wants(&veth, false), Some(true));
    assert_eq!(death(4).wants(&veth, false), None);
    assert_eq!(death(4).wants(&veth, true), Some(true), "known dead before");
    assert_eq!(Look::default().wants(&nic, false), None);
    let back = |device| Look { parents: vec![parent(device)], links: true, ..Look::default() };
    assert_eq!(back("0000:03:00.0").wants(&nic, false), Some(false), "back, its death not announced");
    assert_eq!(back("0000:03:00.1").wants(&nic, false), None, "another NIC");
    assert_eq!(back("0000:03:00.0").wants(&veth, false), None, "only a physical device is anchored to its parent");
    let both = Look { nsids: vec![3], ..back("0000:03:00.0") };
    assert_eq!(both.wants(&nic, false), Some(true));
}

#[test]
fn the_next_sweep_is_one_interval_away() {
    let every = Duration::from_secs(300);
    let now = Instant::now();
    let next = after(every);
    assert!(next >= now + every && next < Instant::now() + every + Duration::from_secs(1), "{next:?} {now:?}");
}

/// What `hostdev list` and the log say the agent waits for.
#[test]
fn what_the_agent_waits_for_is_the_death_of_the_namespace_it_can_see_die() {
    let mut rec = record(Anchor::Peer { index: 4 }, 3);
    assert_eq!(waiting_for(&rec), "finishes it once its namespace (nsid 3 on the node) is dead");
    rec.nsid = None;
    assert_eq!(waiting_for(&rec), "cannot see its namespace die (it has no id on the node)");
}
