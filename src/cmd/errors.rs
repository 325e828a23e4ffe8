//! The one place where errors become CNI errors: each kind of the domain
//! layers' errors gets its code here, and keeps its message as it was
//! written (it names what is wrong); a refused kernel request is code 100,
//! with what hostdev was doing and the kernel's own words (extended ACK).
//! The store, the device selectors and the VF code know no CNI.

use crate::cni::{Error, code};
use crate::netlink::{Failure, NlError};
use crate::{device, state, vf};

/// Maps a netlink failure while doing `what` to code 100.
pub fn kernel_error(what: &str) -> impl Fn(NlError) -> Error + '_ {
    move |e| Error::new(code::KERNEL, e.during(what).to_string())
}

/// A request of a batch the kernel refused, as code 100 naming it.
pub fn refused(f: Failure) -> Error {
    Error::new(code::KERNEL, f.into_error().to_string())
}

impl From<state::Error> for Error {
    fn from(e: state::Error) -> Error {
        let code = match e.kind {
            state::Kind::Unusable | state::Kind::Corrupt => code::STATE,
            state::Kind::Busy => code::TRY_AGAIN,
        };
        Error::new(code, e.msg)
    }
}

impl From<device::Error> for Error {
    fn from(e: device::Error) -> Error {
        let code = match e.kind {
            device::Kind::Config => code::INVALID_CONFIG,
            device::Kind::NotFound => code::DEVICE_NOT_FOUND,
            device::Kind::Immovable => code::DEVICE_IMMOVABLE,
            device::Kind::Unreadable => code::IO_FAILURE,
            device::Kind::Kernel => code::KERNEL,
        };
        Error::new(code, e.msg)
    }
}

impl From<vf::Error> for Error {
    fn from(e: vf::Error) -> Error {
        let code = match e.kind {
            vf::Kind::Config => code::INVALID_CONFIG,
            vf::Kind::NotFound => code::DEVICE_NOT_FOUND,
            vf::Kind::Kernel => code::KERNEL,
        };
        Error::new(code, e.msg)
    }
}
