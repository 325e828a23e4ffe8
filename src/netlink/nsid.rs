//! Namespace ids: the number a namespace gives another one it can refer
//! to. The node's namespace announces RTM_DELNSID when a namespace it gave
//! an id to is destroyed (when its last holder goes, not when its path is
//! removed), so an id given at ADD makes the container namespace's death
//! observable, and an id that is gone proves it.

use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::nsid::{NsidAttribute, NsidMessage};
use nix::errno::Errno;

use super::socket::{NlResult, Socket};

/// The kernel's "no id yet": asks RTM_NEWNSID to choose one.
const NOT_ASSIGNED: i32 = -1;

impl Socket {
    /// The id this socket's namespace gives the namespace `ns`; None when it
    /// has given it none (no link of ours refers to it). Assigns none.
    pub fn nsid_of(&mut self, ns: BorrowedFd<'_>) -> NlResult<Option<i32>> {
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Fd(ns.as_raw_fd() as u32));
        match self.get(Rt::GetNsId(msg))? {
            Rt::NewNsId(m) => Ok(id_of(&m)),
            _ => Ok(None),
        }
    }

    /// The id this socket's namespace gives `ns`, given now if it had none
    /// (RTM_NEWNSID; EEXIST when a link's notification gave one meanwhile).
    pub fn give_nsid(&mut self, ns: BorrowedFd<'_>) -> NlResult<i32> {
        if let Some(id) = self.nsid_of(ns)? {
            return Ok(id);
        }
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Fd(ns.as_raw_fd() as u32));
        msg.attributes.push(NsidAttribute::Id(NOT_ASSIGNED));
        match self.ack(Rt::NewNsId(msg)) {
            Err(e) if !e.is(Errno::EEXIST) => return Err(e),
            _ => {}
        }
        self.nsid_of(ns)?.ok_or_else(|| super::NlError::other("the kernel gave the namespace no id"))
    }

    /// Whether some living namespace holds the id `id` here (RTM_GETNSID
    /// by id: ENOENT when none does, a dying one included).
    pub fn nsid_exists(&mut self, id: i32) -> NlResult<bool> {
        let mut msg = NsidMessage::default();
        msg.attributes.push(NsidAttribute::Id(id));
        match self.get(Rt::GetNsId(msg)) {
            Ok(_) => Ok(true),
            Err(e) if e.is(Errno::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The id a RTM_NEWNSID/RTM_DELNSID message carries, if it is one.
pub fn id_of(m: &NsidMessage) -> Option<i32> {
    m.attributes.iter().find_map(|a| match a {
        NsidAttribute::Id(id) if *id >= 0 => Some(*id),
        _ => None,
    })
}
