//! Per-interface sysctls of another namespace. /proc/sys/net shows the
//! namespace of the thread that opens a file there, and the open file
//! stays bound to it: it is opened from inside, written from anywhere.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::BorrowedFd;

use super::NlError;
use super::socket::{NlResult, in_namespace};

/// Enables IPv6 on interface `ifname` of namespace `ns` (and only there:
/// the namespace's defaults stay as they are), as the upstream plugins'
/// address code does for the interface it configures.
pub fn enable_ipv6(ns: BorrowedFd<'_>, home: BorrowedFd<'_>, ifname: &str) -> NlResult<()> {
    let path = format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6");
    let mut file = in_namespace(ns, home, || OpenOptions::new().write(true).open(&path))?
        .map_err(NlError::io(&format!("open {path} in its namespace")))?;
    file.write_all(b"0").map_err(NlError::io(&format!("write {path} in its namespace")))
}
