//! Named fail points for crash tests: with the `test-hooks` feature, the
//! process kills itself with SIGKILL when HOSTDEV_FAILPOINT names the point
//! it reaches, as a crash between two kernel requests would. Without the
//! feature, `hit` compiles to nothing.
//!
//! `lose_addrs` plays the kernel deleting addresses it has acknowledged
//! (see cmd/kept.rs): HOSTDEV_LOSE_ADDRS names them ("ip/prefix,..."),
//! HOSTDEV_LOSE_ROUNDS how many times (default once).

use std::time::Duration;

use crate::netlink::Socket;

/// A wait of `default`, which a test build lets the environment variable
/// `var` (milliseconds) replace: a test then waits as long as the machine's
/// load needs, not as long as a clock allows.
pub fn wait(var: &str, default: Duration) -> Duration {
    #[cfg(feature = "test-hooks")]
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse().ok()) {
        return Duration::from_millis(ms);
    }
    let _ = var;
    default
}

/// Every fail point, in the order ADD then DEL reach them.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub const ALL: &[&str] = &[
    "add-after-record",
    "add-after-vf",
    "add-after-move",
    "add-after-addresses",
    "add-after-ipam",
    "del-after-record",
    "del-before-move",
    "del-after-move",
    "del-after-restore",
];

/// Test builds: when HOSTDEV_PAUSE is `point`, says so by creating
/// HOSTDEV_PAUSE_DIR/<point>.reached, then waits (60 s at most) until the
/// test creates <point>.go: something happens right here, whatever the load.
#[cfg(feature = "test-hooks")]
pub fn pause(point: &str) {
    let (Ok(name), Ok(dir)) = (std::env::var("HOSTDEV_PAUSE"), std::env::var("HOSTDEV_PAUSE_DIR")) else { return };
    if name != point {
        return;
    }
    let dir = std::path::Path::new(&dir);
    let _ = std::fs::write(dir.join(format!("{point}.reached")), "");
    let go = dir.join(format!("{point}.go"));
    for _ in 0..6000 {
        if go.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn pause(_point: &str) {}

#[cfg(feature = "test-hooks")]
pub fn hit(name: &str) {
    debug_assert!(ALL.contains(&name), "unknown fail point {name}");
    if std::env::var("HOSTDEV_FAILPOINT").is_ok_and(|v| v == name) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn hit(_name: &str) {}

/// Deletes the addresses named in HOSTDEV_LOSE_ADDRS from link `index`,
/// in the first HOSTDEV_LOSE_ROUNDS calls of the process.
#[cfg(feature = "test-hooks")]
pub fn lose_addrs(sock: &mut Socket, index: u32) {
    use crate::netlink::{Addr, addr::del_requests};
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let Ok(list) = std::env::var("HOSTDEV_LOSE_ADDRS") else { return };
    let rounds = std::env::var("HOSTDEV_LOSE_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(1);
    if CALLS.fetch_add(1, Ordering::SeqCst) < rounds {
        let addrs: Vec<Addr> = list.split(',').filter_map(|a| a.parse().ok()).map(Addr::plain).collect();
        let _ = sock.batch(del_requests(index, &addrs));
    }
}

#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub fn lose_addrs(_sock: &mut Socket, _index: u32) {}
