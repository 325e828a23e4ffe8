//! CHECK: is the attachment still what ADD made it? Verified inside the
//! container against prevResult; each failure names what differs.

use crate::cmd::errors::kernel_error;
use crate::cmd::{Container, Host, adopt, attachment, open_netns};
use crate::cni::error::config_error;
use crate::cni::ipam::Ipam;
use crate::cni::result::Interface;
use crate::cni::version::V0_4_0;
use crate::cni::{CniResult, Env, Error, NetConf, Result, code};
use crate::netlink::{Link, Socket};
use crate::state::Store;

pub fn check(env: &Env, conf: &NetConf) -> Result<()> {
    conf.cni_version.require(V0_4_0, "CHECK")?;
    let prev = conf
        .prev_result
        .as_ref()
        .ok_or_else(|| Error::new(code::INVALID_CONFIG, "CHECK needs prevResult in the config"))?;
    let prev = CniResult::from_json(prev)?;
    let ours = our_entry(env, &prev)?;
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
        let host = Host::open()?;
        let mut ctr = Container::open(ns, &host)?;
        let link = check_link(&mut ctr.sock, &env.ifname, &prev.interfaces[ours])?;
        crate::cmd::settings::check(&ctr, &host, &env.ifname, conf, &link)?;
        check_addresses(&mut ctr.sock, &link, &env.ifname, &prev, ours)?;
        check_routes(&mut ctr.sock, &prev, ours)?;
    }
    if let Some(ipam) = Ipam::of(env, conf) {
        ipam.call("CHECK")?;
    }
    Ok(())
}

fn failed(msg: String) -> Error {
    Error::new(code::CHECK_FAILED, msg)
}

/// The index of this attachment's interface in prevResult: CNI_IFNAME in
/// CNI_NETNS (the spec: "The plugin must consult the prevResult to
/// determine the expected interfaces and addresses"). An interface of that
/// name elsewhere (another plugin's, on the host side) is not hostdev's; a
/// prevResult without it is not this attachment's ADD result.
fn our_entry(env: &Env, prev: &CniResult) -> Result<usize> {
    let sandbox = env.sandbox().expect("CHECK requires CNI_NETNS");
    prev.interface_in(&env.ifname, &sandbox).ok_or_else(|| {
        let listed: Vec<String> = prev
            .interfaces
            .iter()
            .map(|i| match i.sandbox.as_deref().filter(|s| !s.is_empty()) {
                Some(s) => format!("{} in {s}", i.name),
                None => format!("{} on the host", i.name),
            })
            .collect();
        let listed = if listed.is_empty() { "no interface".to_string() } else { listed.join(", ") };
        config_error(format!(
            "prevResult does not list interface {} in {sandbox} (CNI_IFNAME in CNI_NETNS), so it is not this attachment's ADD result; it lists {listed}",
            env.ifname
        ))
    })
}

/// The interface is in the container under CNI_IFNAME, up, with the MAC
/// and the MTU prevResult reports (when it reports them).
fn check_link(ctr: &mut Socket, ifname: &str, expected: &Interface) -> Result<Link> {
    let link = ctr
        .link_by_name(ifname)
        .map_err(kernel_error("look up CNI_IFNAME in the container"))?
        .ok_or_else(|| failed(format!("interface {ifname} is not in the container")))?;
    if !expected.mac.is_empty() && !expected.mac.eq_ignore_ascii_case(&link.mac) {
        return Err(failed(format!("interface {ifname} has MAC {}, prevResult says {}", link.mac, expected.mac)));
    }
    if let Some(mtu) = expected.mtu.filter(|m| *m != link.mtu) {
        return Err(failed(format!("interface {ifname} has MTU {}, prevResult says {mtu}", link.mtu)));
    }
    if !link.up {
        return Err(failed(format!("interface {ifname} is down")));
    }
    Ok(link)
}

/// The addresses prevResult puts on our entry are on the interface. One
/// without an `interface` index is not hostdev's (it indexes every address
/// it reports; the spec allows "IPs assigned external to the container"),
/// nor is one on another entry.
fn check_addresses(ctr: &mut Socket, link: &Link, ifname: &str, prev: &CniResult, ours: usize) -> Result<()> {
    let present = ctr.all_addrs(link.index).map_err(kernel_error("read the container's addresses"))?;
    for ip in prev.ips.iter().filter(|ip| ip.interface == Some(ours)) {
        if !present.contains(&ip.address) {
            return Err(failed(format!("address {} is missing from {ifname}", ip.address)));
        }
    }
    Ok(())
}

/// The routes prevResult lists through our interface are there. A route
/// is ours when its gateway is on one of our entry's subnets (hostdev
/// reports IPAM's routes with their gateway); one through any other
/// gateway, or with none, is another plugin's or an external party's, and
/// a later plugin may have changed it (the spec: "must allow for a later
/// chained plugin to have modified networking resources, e.g. routes").
fn check_routes(ctr: &mut Socket, prev: &CniResult, ours: usize) -> Result<()> {
    let subnets: Vec<_> = prev.ips.iter().filter(|ip| ip.interface == Some(ours)).map(|ip| ip.address).collect();
    let through_ours = |gw: &std::net::IpAddr| subnets.iter().any(|net| net.contains(*gw));
    let routes = ctr.routes(None).map_err(kernel_error("read the container's routes"))?;
    for want in prev.routes.iter().filter(|r| r.gw.as_ref().is_some_and(through_ours)) {
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
