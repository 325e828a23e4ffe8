//! The commands: each is the list of steps it takes.

pub mod add;
pub mod adopt;
pub mod check;
pub mod del;
pub mod gc;
pub mod home;
pub mod locate;
pub mod status;
pub mod version;

use std::os::fd::AsFd;
use std::path::Path;

use crate::cni::{Error, code};
use crate::netlink::{NlError, Socket};
use crate::netns::Netns;
use crate::warn;

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

/// The container side: its namespace handle and a netlink socket in it.
pub struct Container {
    pub ns: Netns,
    pub sock: Socket,
}

impl Container {
    /// Opens the container namespace `ns` from the host.
    pub fn open(ns: Netns, host: &Host) -> crate::cni::Result<Container> {
        let sock = Socket::open_in(ns.as_fd(), host.ns.as_fd())
            .map_err(kernel_error("open a netlink socket in the container"))?;
        Ok(Container { ns, sock })
    }

    /// The container at `path` when its namespace still exists and is not
    /// the host's own; DEL and GC go on without it otherwise.
    pub fn find(path: &Path, host: &Host) -> Option<Container> {
        let ns = match Netns::open(path) {
            Ok(ns) => ns,
            Err(e) => {
                crate::info!("container namespace unusable, looking on the host only: {}", e.msg);
                return None;
            }
        };
        if ns.same_as(&host.ns) {
            return None;
        }
        Container::open(ns, host).map_err(|e| warn!("{}", e.msg)).ok()
    }
}

/// Maps a netlink failure while doing `what` to code 100.
pub fn kernel_error(what: &str) -> impl Fn(NlError) -> Error + '_ {
    move |e| Error::new(code::KERNEL, e.during(what).to_string())
}
