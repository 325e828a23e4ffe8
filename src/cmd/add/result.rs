//! The ADD result: our interface and its addresses, chained onto
//! prevResult, with what IPAM handed out.

use std::mem::take;

use crate::cni::result::{Interface, IpConfig};
use crate::cni::{CniResult, Env, NetConf, Result};
use crate::netlink::{Addr, Link};

/// Adds IPAM's answer to the result, its addresses on our interface (entry
/// `ours`).
pub(super) fn merge_ipam(result: &mut CniResult, got: CniResult, ours: usize) {
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
        sandbox: env.sandbox(),
        ..Interface::default()
    }
}

/// The ADD result, chained onto prevResult when there is one, with `iface`
/// and `addrs` on it; and `iface`'s index in it.
pub(super) fn build_result(conf: &NetConf, iface: Interface, addrs: &[Addr]) -> Result<(CniResult, usize)> {
    let mut result = match &conf.prev_result {
        Some(prev) => CniResult::from_json(prev)?,
        None => CniResult::default(),
    };
    let index = place(&mut result, iface);
    result.ips.extend(addrs.iter().map(|a| IpConfig::on(a.address, index)));
    if let Some(dns) = &conf.dns {
        result.dns = dns.clone();
    }
    Ok((result, index))
}

/// Puts `iface` into the result and returns its index. An entry an earlier
/// plugin made for the same name in the same sandbox is filled in (keeping
/// its unknown fields), not listed a second time: the result would name
/// one interface twice, and CHECK could not tell which is hostdev's.
fn place(result: &mut CniResult, iface: Interface) -> usize {
    let listed = iface.sandbox.as_deref().and_then(|sandbox| result.interface_in(&iface.name, sandbox));
    match listed {
        Some(index) => {
            let extra = take(&mut result.interfaces[index].extra);
            result.interfaces[index] = Interface { extra, ..iface };
            index
        }
        None => {
            result.interfaces.push(iface);
            result.interfaces.len() - 1
        }
    }
}
