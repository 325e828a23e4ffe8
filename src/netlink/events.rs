//! Notifications from the kernel: a socket subscribed to link changes
//! (RTNLGRP_LINK: a NIC the kernel returns from a dead namespace appears as
//! RTM_NEWLINK; a veth's peer going is RTM_DELLINK) and to namespace ids
//! (RTNLGRP_NSID: RTM_DELNSID when a namespace dies). Non-blocking: the
//! caller waits on its descriptor with poll, so an idle node costs nothing.

use std::os::fd::{AsFd, BorrowedFd};

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_sys::{Socket as RawSocket, protocols::NETLINK_ROUTE};
use nix::errno::Errno;

use super::error::NlError;
use super::link::Link;
use super::socket::NlResult;

const RTNLGRP_LINK: u32 = 1;
const RTNLGRP_NSID: u32 = 28;
/// Room for a burst (a node starting many pods at once); an overflow is
/// reported, not lost silently.
const RECV_BUF: usize = 1 << 20;

/// What the kernel said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A link appeared or changed in this namespace.
    Link(Link),
    /// A link left this namespace (deleted, or moved away).
    LinkGone(Link),
    /// The namespace this one knew as `id` died.
    NsidGone(i32),
    /// Notifications were dropped (the socket's buffer was full): anything
    /// may have happened.
    Overflow,
}

pub struct Events {
    raw: RawSocket,
    buf: Vec<u8>,
}

impl Events {
    /// A socket in the calling thread's namespace, subscribed.
    pub fn open() -> NlResult<Events> {
        let mut raw = RawSocket::new(NETLINK_ROUTE).map_err(NlError::io("open netlink socket"))?;
        raw.bind_auto().map_err(NlError::io("bind netlink socket"))?;
        for group in [RTNLGRP_LINK, RTNLGRP_NSID] {
            raw.add_membership(group).map_err(NlError::io("subscribe to netlink notifications"))?;
        }
        let _ = raw.set_rx_buf_sz(RECV_BUF);
        raw.set_non_blocking(true).map_err(NlError::io("make the netlink socket non-blocking"))?;
        Ok(Events { raw, buf: vec![0; 64 * 1024] })
    }

    /// Every notification waiting now (none when there is none).
    pub fn read(&mut self) -> NlResult<Vec<Event>> {
        let mut out = Vec::new();
        loop {
            match self.raw.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => decode(&self.buf[..n], &mut out)?,
                Err(e) if e.raw_os_error() == Some(Errno::EAGAIN as i32) => return Ok(out),
                Err(e) if e.raw_os_error() == Some(Errno::ENOBUFS as i32) => out.push(Event::Overflow),
                Err(e) => return Err(NlError::io("receive netlink notifications")(e)),
            }
        }
    }
}

impl AsFd for Events {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.raw.as_fd()
    }
}

/// The events in one datagram.
fn decode(mut bytes: &[u8], out: &mut Vec<Event>) -> NlResult<()> {
    while !bytes.is_empty() {
        let m = NetlinkMessage::<Rt>::deserialize(bytes)
            .map_err(|e| NlError::other(format!("cannot decode a netlink notification: {e}")))?;
        let len = (m.header.length as usize).max(16).next_multiple_of(4).min(bytes.len());
        bytes = &bytes[len..];
        let event = match m.payload {
            NetlinkPayload::InnerMessage(Rt::NewLink(l)) => Event::Link(Link::from(&l)),
            NetlinkPayload::InnerMessage(Rt::DelLink(l)) => Event::LinkGone(Link::from(&l)),
            NetlinkPayload::InnerMessage(Rt::DelNsId(n)) => match super::nsid::id_of(&n) {
                Some(id) => Event::NsidGone(id),
                None => continue,
            },
            _ => continue,
        };
        out.push(event);
    }
    Ok(())
}
