//! ADD inside the container: the move, the addresses and link state, and
//! what IPAM hands out.

use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cmd::errors::{kernel_error, refused as refused_request};
use crate::cmd::kept::check_kept;
use crate::cni::result::Route;
use crate::cni::{CniResult, Error, Result, code};
use crate::netlink::addr::{add_requests, unexpired};
use crate::netlink::link::up_request;
use crate::netlink::sysctl::enable_ipv6;
use crate::netlink::{Addr, NlError, Socket, Subject, route};
use crate::state::Record;
use crate::{info, warn};

pub(super) fn move_error(e: NlError, rec: &Record, ifname: &str) -> Error {
    let code = if e.is(Errno::EEXIST) {
        code::NAME_CLASH
    } else if e.is(Errno::EINVAL) {
        code::DEVICE_IMMOVABLE
    } else {
        code::KERNEL
    };
    Error::new(code, e.during(format!("move {} into the container as {ifname}", rec.host.name)).to_string())
}

/// The container's namespace and the host's, for what must be opened
/// inside the container (sockets, sysctls).
#[derive(Clone, Copy)]
pub(super) struct Namespaces<'a> {
    pub(super) ctr: BorrowedFd<'a>,
    pub(super) host: BorrowedFd<'a>,
}

/// Inside the container: re-add the addresses and bring the link up, in
/// one batch, then check that the kernel kept them all (see cmd/kept.rs).
/// Returns the link's index there.
pub(super) fn configure(
    ctr: &mut Socket,
    ns: Namespaces,
    ifname: &str,
    addrs: &[Addr],
    result: &mut CniResult,
) -> Result<u32> {
    let index = ctr.index_of(ifname).map_err(kernel_error("look up the moved interface"))?.ok_or_else(|| {
        Error::new(code::KERNEL, format!("{ifname} vanished from the container right after the move"))
    })?;
    let addrs = unexpired(addrs);
    let mut requests = add_requests(index, ifname, &addrs);
    requests.push(up_request(index));
    let mut refused = Vec::new();
    for f in ctr.batch(requests).map_err(kernel_error("configure the interface in the container"))? {
        match f.subject {
            // The container has IPv6 disabled: enabled below, on this interface only.
            Subject::Address(ip) if f.is(Errno::EACCES) && ip.is_ipv6() => {
                refused.extend(addrs.iter().find(|a| a.address == ip).cloned())
            }
            _ => return Err(refused_request(f)),
        }
    }
    if !refused.is_empty() {
        add_ipv6(ctr, ns, index, ifname, &refused, result);
    }
    // What stayed off the interface has left the result.
    let kept: Vec<Addr> = addrs.into_iter().filter(|a| result.ips.iter().any(|ip| ip.address == a.address)).collect();
    check_kept(ctr, index, ifname, &kept)?;
    info!("the interface is up in the container"; index = index, addresses = result.ips.len());
    Ok(index)
}

/// Enables IPv6 on our interface in a container that has it disabled, and
/// adds the IPv6 addresses it refused. What still fails stays off the
/// interface and out of the result, with a warning.
pub(super) fn add_ipv6(
    ctr: &mut Socket,
    ns: Namespaces,
    index: u32,
    ifname: &str,
    addrs: &[Addr],
    result: &mut CniResult,
) {
    info!("IPv6 is disabled in the container: enabling it on the interface");
    let failures = enable_ipv6(ns.ctr, ns.host, ifname)
        .and_then(|()| ctr.batch(add_requests(index, ifname, addrs)))
        .map(|failures| failures.into_iter().map(|f| (f.subject, f.error)).collect())
        .unwrap_or_else(|e| addrs.iter().map(|a| (Subject::Address(a.address), e.clone())).collect::<Vec<_>>());
    for (subject, e) in failures {
        if let Subject::Address(address) = subject {
            warn!("{address} stays off {ifname}: {e}");
            result.ips.retain(|ip| ip.address != address);
        }
    }
}

/// Applies what IPAM handed out to our interface.
/// IPv6 addresses are usable when ADD returns: like the upstream plugins,
/// it waits for duplicate address detection to settle (a fresh address may
/// clash on the link, unlike one the host had already checked).
pub(super) fn apply_ipam(ctr: &mut Socket, ns: Namespaces, index: u32, ifname: &str, got: &CniResult) -> Result<()> {
    let addrs: Vec<Addr> = got.ips.iter().map(|ip| Addr::plain(ip.address)).collect();
    let v6 = addrs.iter().any(|a| a.address.is_ipv6());
    if v6 {
        enable_ipv6(ns.ctr, ns.host, ifname).map_err(kernel_error(&format!("enable IPv6 on {ifname}")))?;
    }
    let mut requests = add_requests(index, ifname, &addrs);
    requests.extend(route::add_requests(index, &got.routes.iter().map(kernel_route).collect::<Vec<_>>()));
    if let Some(f) = ctr.batch(requests).map_err(kernel_error("apply the IPAM result"))?.into_iter().next() {
        return Err(refused_request(f));
    }
    if v6 {
        let ips: Vec<IpAddr> = addrs.iter().map(|a| a.address.ip()).collect();
        settle(ctr, index, ifname, &ips)?;
    }
    info!("IPAM's addresses and routes are set"; addresses = addrs.len(), routes = got.routes.len());
    Ok(())
}

/// How long IPv6 duplicate address detection may take, as upstream allows.
pub(super) const DAD_WAIT: Duration = Duration::from_secs(10);

pub(super) const DAD_POLL: Duration = Duration::from_millis(20);

/// Waits until none of `ips` on link `index` is tentative; an address
/// that failed DAD is another node's, an error.
pub(super) fn settle(ctr: &mut Socket, index: u32, ifname: &str, ips: &[IpAddr]) -> Result<()> {
    let deadline = Instant::now() + DAD_WAIT;
    loop {
        let mut unsettled = ctr.unsettled(index).map_err(kernel_error(&format!("read the addresses of {ifname}")))?;
        unsettled.retain(|(ip, _)| ips.contains(ip));
        if let Some((ip, _)) = unsettled.iter().find(|(_, failed)| *failed) {
            return Err(Error::new(
                code::IPAM,
                format!("IPAM address {ip} on {ifname} failed duplicate address detection: another node uses it"),
            ));
        }
        if unsettled.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::new(
                code::IPAM,
                format!("IPAM address {} on {ifname} is still tentative after {DAD_WAIT:?}", unsettled[0].0),
            ));
        }
        std::thread::sleep(DAD_POLL);
    }
}

/// An IPAM route as the kernel takes it, marked as made by a tool.
pub(super) fn kernel_route(r: &Route) -> route::NewRoute {
    route::NewRoute {
        dst: r.dst,
        gw: r.gw,
        metric: r.priority,
        table: r.table,
        scope: r.scope,
        mtu: r.mtu,
        advmss: r.advmss,
        protocol: route::RTPROT_BOOT,
    }
}
