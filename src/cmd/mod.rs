//! The commands: each is the list of steps it takes.

pub mod add;
pub mod check;
pub mod del;
pub mod gc;
pub mod home;
pub mod status;
pub mod version;

use crate::cni::{Error, code};
use crate::netlink::{NlError, Socket};
use crate::netns::Netns;

/// The host side: its namespace handle and a netlink socket in it.
pub struct Host {
    pub ns: Netns,
    pub sock: Socket,
}

impl Host {
    pub fn open() -> crate::cni::Result<Host> {
        let ns = Netns::current()?;
        let sock = Socket::open().map_err(kernel_error("open a netlink socket in the host namespace"))?;
        Ok(Host { ns, sock })
    }
}

/// Maps a netlink failure while doing `what` to code 100.
pub fn kernel_error(what: &str) -> impl Fn(NlError) -> Error + '_ {
    move |e| Error::new(code::KERNEL, e.during(what).to_string())
}
