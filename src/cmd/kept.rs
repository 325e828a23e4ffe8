//! Addresses the kernel acknowledged and then deleted.
//!
//! An IPv6 address added to a link that is down gets its host route later,
//! from asynchronous DAD work. When the link comes up before that work ran,
//! the kernel's NETDEV_UP handler (addrconf_permanent_addr) allocates the
//! route itself, atomically under a lock, and deletes the address when
//! that fails, telling no one but a rate-limited kernel log line. Measured
//! here with 4,096 addresses and the up in one batch: 128 to 424 of the
//! 2,048 IPv6 ones were still waiting for their DAD work when the link came
//! up; under load, 244 were lost. That happens inside the request that sets
//! the link up, so reading the addresses back after it sees every loss.
//!
//! Adding the addresses to a link that is already up avoids the handler,
//! but costs about 1 ms per IPv6 address there (each joins its
//! solicited-node group on a live link): 2 s for 2,048, against 0.1 s.

use std::collections::HashSet;

use crate::cmd::errors::kernel_error;
use crate::cni::{Error, Result, code};
use crate::failpoint;
use crate::netlink::addr::add_requests;
use crate::netlink::{Addr, Socket};
use crate::warn;

/// Looks for every address of `want` on link `index` (`ifname`), adds the
/// missing ones once more (the link is up by now, so they stay), and fails
/// naming them if they are gone again.
pub fn check_kept(sock: &mut Socket, index: u32, ifname: &str, want: &[Addr]) -> Result<()> {
    failpoint::lose_addrs(sock, index);
    let lost = lost_addrs(sock, index, ifname, want)?;
    if lost.is_empty() {
        return Ok(());
    }
    warn!(
        "the kernel dropped {} addresses of {ifname} after accepting them ({}); adding them again",
        lost.len(),
        sample(&lost)
    );
    let failures = sock.batch(add_requests(index, ifname, &lost)).map_err(kernel_error("add lost addresses again"))?;
    // A refused one is still missing below, and named there.
    for f in failures {
        warn!("{f}");
    }
    failpoint::lose_addrs(sock, index);
    let lost = lost_addrs(sock, index, ifname, &lost)?;
    if lost.is_empty() {
        return Ok(());
    }
    let msg = format!(
        "the kernel dropped {} addresses of {ifname} after accepting them, twice: {}",
        lost.len(),
        sample(&lost)
    );
    Err(Error::new(code::KERNEL, msg))
}

/// The addresses of `want` that link `index` does not have.
fn lost_addrs(sock: &mut Socket, index: u32, ifname: &str, want: &[Addr]) -> Result<Vec<Addr>> {
    let have = sock.all_addrs(index).map_err(kernel_error(&format!("read back the addresses of {ifname}")))?;
    let have: HashSet<_> = have.into_iter().collect();
    Ok(want.iter().filter(|a| !have.contains(&a.address)).cloned().collect())
}

/// The first few of `addrs`, for a message.
fn sample(addrs: &[Addr]) -> String {
    let mut s: Vec<String> = addrs.iter().take(5).map(|a| a.address.to_string()).collect();
    if addrs.len() > 5 {
        s.push("...".into());
    }
    s.join(", ")
}
