//! Named fail points for crash tests: with the `test-hooks` feature, the
//! process kills itself with SIGKILL when HOSTDEV_FAILPOINT names the point
//! it reaches, as a crash between two kernel requests would. Without the
//! feature, `hit` compiles to nothing.

/// Every fail point, in the order ADD then DEL reach them.
#[cfg_attr(not(feature = "test-hooks"), allow(dead_code))]
pub const ALL: &[&str] = &[
    "add-after-record",
    "add-after-move",
    "add-after-addresses",
    "add-after-ipam",
    "del-after-record",
    "del-before-move",
    "del-after-move",
    "del-after-restore",
];

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
