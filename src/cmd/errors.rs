//! The one place where the domain layers' errors become CNI errors: each
//! kind gets its code here, and keeps its message as it was written (it
//! names what is wrong). The store and the device selectors know no CNI.

use crate::cni::{Error, code};
use crate::{device, state};

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
