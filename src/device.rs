//! Finding the host interface the config names. All selection lives here.

use crate::cni::config::Selector;
use crate::cni::{Error, Result, code, error::config_error};
use crate::netlink::{Link, Socket};

use crate::cmd::kernel_error;

/// The host interface `sel` names, looked up in the host namespace.
pub fn find(sock: &mut Socket, sel: &Selector) -> Result<Link> {
    let name = sel.device.as_deref().ok_or_else(|| config_error("no device selected: set config key \"device\""))?;
    if name.is_empty() {
        return Err(config_error("config key \"device\" is empty"));
    }
    sock.link_by_name(name)
        .map_err(kernel_error(&format!("look up device {name:?}")))?
        .ok_or_else(|| Error::new(code::DEVICE_NOT_FOUND, format!("device {name:?} not found in the host network namespace")))
}

/// A short description of what `sel` asks for, for messages.
pub fn describe(sel: &Selector) -> String {
    sel.device.clone().unwrap_or_default()
}

/// Devices the kernel refuses to move (loopback, bridges, ...) are refused
/// before anything changes, with a reason.
pub fn check_movable(link: &Link) -> Result<()> {
    let why = if link.loopback {
        "it is the loopback interface"
    } else if link.netns_immutable {
        "the kernel marks it netns-immutable (bridges, bonds, VRFs and loopback cannot change namespace)"
    } else {
        return Ok(());
    };
    Err(Error::new(code::DEVICE_IMMOVABLE, format!("device {:?} cannot be moved to a container: {why}", link.name)))
}
