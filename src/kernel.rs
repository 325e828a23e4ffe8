//! How a refused kernel request reaches the runtime: code 100, with what
//! hostdev was doing and the kernel's own words (extended ACK).

use crate::cni::{Error, code};
use crate::netlink::{Failure, NlError};

/// Maps a netlink failure while doing `what` to code 100.
pub fn kernel_error(what: &str) -> impl Fn(NlError) -> Error + '_ {
    move |e| Error::new(code::KERNEL, e.during(what).to_string())
}

/// A request of a batch the kernel refused, as code 100 naming it.
pub fn refused(f: Failure) -> Error {
    Error::new(code::KERNEL, f.into_error().to_string())
}
