//! CHECK: is the attachment still what ADD made it? Verified inside the
//! container against prevResult; each failure names what differs.

use crate::cmd::{Container, Host, adopt, attachment, kernel_error, open_netns};
use crate::cni::ipam::Ipam;
use crate::cni::version::V0_4_0;
use crate::cni::{CniResult, Env, Error, NetConf, Result, code};
use crate::netlink::Socket;
use crate::state::Store;

pub fn check(env: &Env, conf: &NetConf) -> Result<()> {
    conf.cni_version.require(V0_4_0, "CHECK")?;
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| Error::new(code::INVALID_CONFIG, "CHECK needs prevResult in the config"))?;
    let prev = CniResult::from_json(prev)?;
    let store = Store::open(&conf.data_dir)?;
    let key = attachment(env, conf);
    let _lock = store.lock_key(&key)?; // never against a half-done ADD or DEL
    let rec = store.load(&key)?;
    if rec.is_none() {
        adopt::report(env, conf, &store)?; // what DEL would make of it
    }
    // A userspace-bound device has no interface to look at; IPAM still answers.
    if rec.is_none_or(|r| r.userspace.is_none()) {
        let ns = open_netns(env.netns.as_deref().expect("CHECK requires CNI_NETNS"))?;
        let mut ctr = Container::open(ns, &Host::open()?)?;
        check_interface(&mut ctr.sock, env, &prev)?;
    }
    if let Some(ipam) = Ipam::of(env, conf) {
        ipam.call("CHECK")?;
    }
    Ok(())
}

fn failed(msg: String) -> Error {
    Error::new(code::CHECK_FAILED, msg)
}

fn check_interface(ctr: &mut Socket, env: &Env, prev: &CniResult) -> Result<()> {
    let ifname = &env.ifname;
    let link = ctr
        .link_by_name(ifname)
        .map_err(kernel_error("look up CNI_IFNAME in the container"))?
        .ok_or_else(|| failed(format!("interface {ifname} is not in the container")))?;
    let ours = prev.interfaces.iter().position(|i| &i.name == ifname);
    if let Some(expected) = ours.map(|i| &prev.interfaces[i]).filter(|i| !i.mac.is_empty())
        && !expected.mac.eq_ignore_ascii_case(&link.mac)
    {
        return Err(failed(format!("interface {ifname} has MAC {}, prevResult says {}", link.mac, expected.mac)));
    }
    if !link.up {
        return Err(failed(format!("interface {ifname} is down")));
    }
    let present = ctr.all_addrs(link.index).map_err(kernel_error("read the container's addresses"))?;
    for ip in prev.ips.iter().filter(|ip| ip.interface.is_none() || ip.interface == ours) {
        if !present.contains(&ip.address) {
            return Err(failed(format!("address {} is missing from {ifname}", ip.address)));
        }
    }
    let routes = ctr.routes(None).map_err(kernel_error("read the container's routes"))?;
    for want in &prev.routes {
        let found = routes.iter().any(|r| r.dst == normalise(want.dst) && (want.gw.is_none() || r.gw == want.gw));
        if !found {
            let via = want.gw.map(|g| format!(" via {g}")).unwrap_or_default();
            return Err(failed(format!("route {}{via} is missing in the container", want.dst)));
        }
    }
    Ok(())
}

/// Routes are keyed by their network address (10.0.0.5/8 is 10.0.0.0/8).
fn normalise(n: ipnetwork::IpNetwork) -> ipnetwork::IpNetwork {
    ipnetwork::IpNetwork::new(n.network(), n.prefix()).unwrap_or(n)
}
