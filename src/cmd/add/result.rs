//! The ADD result: our interface and its addresses, chained onto
//! prevResult, with what IPAM handed out.

use crate::cni::result::{Interface, IpConfig};
use crate::cni::{CniResult, Env, NetConf, Result};
use crate::netlink::{Addr, Link};

/// Adds IPAM's answer to the result, its addresses on our interface (the
/// last one).
pub(super) fn merge_ipam(result: &mut CniResult, got: CniResult) {
    let ours = result.interfaces.len() - 1;
    result.ips.extend(got.ips.into_iter().map(|ip| IpConfig { interface: Some(ours), ..ip }));
    result.routes.extend(got.routes);
    if !got.dns.is_empty() {
        result.dns = got.dns;
    }
}

/// Our interface as the result reports it.
pub(super) fn netdev_interface(env: &Env, link: &Link) -> Interface {
    Interface {
        name: env.ifname.clone(),
        mac: link.mac.clone(),
        mtu: Some(link.mtu),
        sandbox: env.netns.as_ref().map(|p| p.display().to_string()),
        ..Interface::default()
    }
}

/// The ADD result: chained onto prevResult when there is one, with `iface`
/// appended and `addrs` on it.
pub(super) fn build_result(conf: &NetConf, iface: Interface, addrs: &[Addr]) -> Result<CniResult> {
    let mut result = match &conf.prev_result {
        Some(prev) => CniResult::from_json(prev)?,
        None => CniResult::default(),
    };
    let index = result.interfaces.len();
    result.interfaces.push(iface);
    result.ips.extend(addrs.iter().map(|a| IpConfig::on(a.address, index)));
    if let Some(dns) = &conf.dns {
        result.dns = dns.clone();
    }
    Ok(result)
}
