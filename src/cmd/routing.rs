//! The host's routing around an interface that came home, after its
//! addresses and plain routes: the nexthop objects the move deleted or
//! changed (members before their groups), the routes through them, and
//! the recorded policy rules. The kernel keeps rules when a device leaves
//! (it marks them detached), so a rule is made again only if it went
//! missing meanwhile. Nothing here fails DEL: the interface is home.

use nix::errno::Errno;

use crate::netlink::{Socket, route, rule};
use crate::state::Record;
use crate::warn;

/// Puts back, on link `index` named `name`, what `rec` recorded.
pub fn restore_routing(sock: &mut Socket, index: u32, name: &str, rec: &Record) {
    for nh in &rec.nexthops {
        if let Err(e) = sock.restore_nexthop(nh, index, rec.host.index) {
            warn!("cannot make nexthop object {} of {name} again: {e}", nh.id);
        }
    }
    let rules: Vec<_> = rec.rules.iter().filter_map(|r| rule::load(r)).collect();
    let mut requests = route::saved_requests(index, rec.host.index, &rec.routes, true);
    requests.extend(rule::add_requests(&rules));
    if requests.is_empty() {
        return;
    }
    match sock.batch(requests) {
        // EEXIST: the rule is still there, as it should be.
        Ok(failures) => failures.iter().filter(|f| !f.is(Errno::EEXIST)).for_each(|f| warn!("{name}: {f}")),
        Err(e) => warn!("cannot put the routes and rules of {name} back: {e}"),
    }
}
