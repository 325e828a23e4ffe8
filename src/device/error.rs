//! Why no device was selected, or the selected one cannot go: every
//! message names the selector, its value or the device. No CNI here: the
//! commands give each kind its code (`cmd::errors`).

use crate::fault::{Fault, Kinds};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A selector is malformed, fits several interfaces, or the
    /// selectors name different devices.
    Config,
    /// A selector names nothing.
    NotFound,
    /// The kernel does not move it (loopback, bridges, ...).
    Immovable,
    /// Its sysfs entry cannot be read.
    Unreadable,
    /// The kernel refused a lookup.
    Kernel,
}

pub type Error = Fault<Kind>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Kinds for Kind {
    const CONFIG: Kind = Kind::Config;
    const KERNEL: Kind = Kind::Kernel;
}
