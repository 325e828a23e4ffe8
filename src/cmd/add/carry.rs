//! The routing around the interface: recorded before the move (nexthop
//! objects always, since the move deletes them; policy rules with
//! `useInterfaceNetwork`), and with `useInterfaceNetwork: true` carried
//! into the container: the routes through the interface, in every table,
//! and copies of the rules that name it or match its addresses.

use nix::errno::Errno;

use crate::cmd::errors::{kernel_error, refused};
use crate::cni::Result;
use crate::netlink::nexthop::{Nexthop, affected};
use crate::netlink::route::{self, Hop, RouteEntry};
use crate::netlink::{Socket, rule};
use crate::state::Record;
use crate::{debug, info};

/// Records the nexthop objects the move will delete or change and, when
/// the routing is to be carried, the rules about the interface.
pub(super) fn record_routing(sock: &mut Socket, rec: &mut Record, carry: bool) -> Result<()> {
    // A kernel without nexthop objects refuses the dump: nothing to keep.
    match sock.nexthops() {
        Ok(all) => rec.nexthops = affected(&all, rec.host.index, &rec.routes),
        Err(e) => debug!("no nexthop objects to record: {e}"),
    }
    if carry {
        let addrs: Vec<_> = rec.addrs.iter().map(|a| a.address).collect();
        let rules = sock.rules().map_err(kernel_error("read the host's policy rules"))?;
        rec.rules = rules.iter().filter(|m| rule::concerns(m, &rec.host.name, &addrs)).map(rule::save).collect();
    }
    Ok(())
}

/// Adds the recorded routes and rules to the interface, now link `index`
/// named `ifname` in the container. A route or rule the container refuses
/// fails ADD (which puts everything back): the user asked for them.
pub(super) fn carry(ctr: &mut Socket, rec: &Record, index: u32, ifname: &str) -> Result<()> {
    let routes = for_pod(&rec.routes, &rec.nexthops, rec.host.index);
    let rules: Vec<_> =
        rec.rules.iter().filter_map(|r| rule::load(r)).map(|m| rule::renamed(m, &rec.host.name, ifname)).collect();
    let mut requests = route::saved_requests(index, rec.host.index, &routes, false);
    requests.extend(rule::add_requests(&rules));
    let failures = ctr.batch(requests).map_err(kernel_error("carry routes and rules into the container"))?;
    // An equal rule is there already (a rule has no name to replace it by).
    if let Some(f) = failures.into_iter().find(|f| !f.is(Errno::EEXIST)) {
        return Err(refused(f));
    }
    info!("routes and rules carried into the container"; routes = routes.len(), rules = rules.len());
    Ok(())
}

/// The routes as the container gets them, through the interface alone
/// (`recorded` is its host index): a multipath route keeps its hops
/// through it (one hop is a plain route), and a route through a nexthop
/// object, which is the host's, gets that object's path through it
/// written out. A route with nothing through it is left out.
pub(super) fn for_pod(routes: &[RouteEntry], nexthops: &[Nexthop], recorded: u32) -> Vec<RouteEntry> {
    routes
        .iter()
        .filter_map(|r| {
            let mut r = r.clone();
            if let Some(id) = r.nhid.take() {
                r.hops = expand(id, nexthops)?;
            }
            if r.hops.is_empty() {
                return (r.oif.is_none_or(|i| i == recorded)).then_some(r);
            }
            r.hops.retain(|h| h.oif == recorded);
            match r.hops.as_slice() {
                [] => None,
                [one] => {
                    (r.gw, r.onlink, r.oif) = (one.gw, one.onlink || r.onlink, Some(recorded));
                    r.hops.clear();
                    Some(r)
                }
                _ => Some(r),
            }
        })
        .collect()
}

/// A nexthop object as hops: a leaf is one hop, a group its members.
/// None for a blackhole or an object that was not recorded.
fn expand(id: u32, nexthops: &[Nexthop]) -> Option<Vec<Hop>> {
    let find = |id: u32| nexthops.iter().find(|n| n.id == id);
    let hop = |n: &Nexthop, weight: u16| Some(Hop { gw: n.gw, oif: n.oif?, weight, onlink: n.onlink });
    let nh = find(id)?;
    if nh.group.is_empty() {
        return hop(nh, 1).map(|h| vec![h]);
    }
    Some(nh.group.iter().filter_map(|m| hop(find(m.id)?, m.weight)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::nexthop::Member;

    fn route(dst: &str) -> RouteEntry {
        RouteEntry {
            dst: dst.parse().unwrap(),
            gw: None,
            oif: None,
            table: 254,
            metric: None,
            scope: 0,
            protocol: 3,
            hops: Vec::new(),
            onlink: false,
            src: None,
            from: None,
            pref: None,
            nhid: None,
            metrics: None,
            tos: 0,
            realm: None,
        }
    }

    fn hop(gw: &str, oif: u32, weight: u16) -> Hop {
        Hop { gw: Some(gw.parse().unwrap()), oif, weight, onlink: false }
    }

    fn leaf(id: u32, gw: &str, oif: u32) -> Nexthop {
        Nexthop {
            id,
            family: 2,
            protocol: 0,
            onlink: false,
            oif: Some(oif),
            gw: Some(gw.parse().unwrap()),
            blackhole: false,
            fdb: false,
            group: Vec::new(),
            group_type: None,
            resilient: None,
        }
    }

    #[test]
    fn a_multipath_route_keeps_only_the_hops_through_the_interface() {
        let mut two = route("10.99.0.0/24");
        two.hops = vec![hop("10.9.0.254", 3, 2), hop("10.10.0.254", 4, 3)];
        let mut three = route("10.98.0.0/24");
        three.hops = vec![hop("10.9.0.253", 3, 2), hop("10.9.0.254", 3, 5), hop("10.10.0.254", 4, 1)];
        let mut none = route("10.97.0.0/24");
        none.hops = vec![hop("10.10.0.254", 4, 1)];
        let pod = for_pod(&[two, three, none], &[], 3);
        assert_eq!(pod.len(), 2);
        assert_eq!((pod[0].gw, pod[0].oif, pod[0].hops.len()), (Some("10.9.0.254".parse().unwrap()), Some(3), 0));
        assert_eq!(pod[1].hops, vec![hop("10.9.0.253", 3, 2), hop("10.9.0.254", 3, 5)]);
    }

    /// The one hop left of a multipath route makes a plain route that is
    /// onlink when either the hop or the route was.
    #[test]
    fn the_one_hop_left_keeps_its_onlink_flag() {
        let mut by_hop = route("10.93.0.0/24");
        by_hop.hops = vec![Hop { onlink: true, ..hop("10.9.0.254", 3, 1) }, hop("10.10.0.254", 4, 1)];
        let mut by_route = route("10.92.0.0/24");
        by_route.onlink = true;
        by_route.hops = vec![hop("10.9.0.254", 3, 1), hop("10.10.0.254", 4, 1)];
        let mut neither = route("10.91.0.0/24");
        neither.hops = vec![hop("10.9.0.254", 3, 1), hop("10.10.0.254", 4, 1)];
        let pod = for_pod(&[by_hop, by_route, neither], &[], 3);
        assert_eq!(pod.iter().map(|r| r.onlink).collect::<Vec<_>>(), [true, true, false], "{pod:?}");
    }

    #[test]
    fn a_route_through_a_nexthop_object_is_written_out() {
        let mut group = leaf(7, "0.0.0.0", 0);
        (group.oif, group.gw) = (None, None);
        group.group = vec![Member { id: 5, weight: 2 }, Member { id: 6, weight: 1 }];
        let objects = [leaf(5, "10.9.0.254", 3), leaf(6, "10.10.0.254", 4), group];
        let mut via_leaf = route("10.95.0.0/24");
        via_leaf.nhid = Some(5);
        let mut via_group = route("10.94.0.0/24");
        via_group.nhid = Some(7);
        let pod = for_pod(&[via_leaf, via_group], &objects, 3);
        assert!(pod.iter().all(|r| r.nhid.is_none() && r.hops.is_empty() && r.oif == Some(3)), "{pod:?}");
        assert!(pod.iter().all(|r| r.gw == Some("10.9.0.254".parse().unwrap())), "{pod:?}");
    }
}
