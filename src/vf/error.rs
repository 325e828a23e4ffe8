//! What goes wrong with a VF's state: every message names the VF, its PF
//! or the key. No CNI here: the commands give each kind its code
//! (`cmd::errors`).

use crate::fault::{Fault, Kinds};
use crate::netlink::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The config declares VF keys for a device that is no VF with its PF
    /// on this host.
    Config,
    /// Sysfs or the host namespace lacks the VF's PF or its entry.
    NotFound,
    /// The kernel (the PF's driver) refused or did not do what was asked.
    Kernel,
}

pub type Error = Fault<Kind>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Kinds for Kind {
    const CONFIG: Kind = Kind::Config;
    const KERNEL: Kind = Kind::Kernel;
}

/// A request of a batch the kernel refused, naming it.
pub(super) fn refused_request(f: Failure) -> Error {
    Error::new(Kind::Kernel, f.into_error().to_string())
}
