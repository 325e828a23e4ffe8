//! A kernel request as a batch carries it: the message, its extra flags,
//! and what it is about, so a failure names its cause without anyone
//! counting positions in the batch.

use std::fmt;

use ipnetwork::IpNetwork;
use netlink_packet_route::RouteNetlinkMessage;

use super::error::NlError;

/// What a request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// The link itself: name, MAC, MTU, flags, up or down.
    Link,
    /// Making the link a port of its master (bridge, bond).
    Master,
    Address(IpNetwork),
    Route(IpNetwork),
    /// A policy rule, by its priority.
    Rule(u32),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub msg: RouteNetlinkMessage,
    /// Flags beyond NLM_F_REQUEST, such as NLM_F_CREATE.
    pub flags: u16,
    pub subject: Subject,
    /// What it does, for messages: "add address 10.0.0.2/24".
    pub what: String,
}

impl Request {
    pub fn new(msg: RouteNetlinkMessage, flags: u16, subject: Subject, what: impl Into<String>) -> Request {
        Request { msg, flags, subject, what: what.into() }
    }
}

/// A request of a batch that the kernel refused.
#[derive(Debug, Clone)]
pub struct Failure {
    pub subject: Subject,
    pub what: String,
    pub error: NlError,
}

impl Failure {
    pub fn is(&self, errno: nix::errno::Errno) -> bool {
        self.error.is(errno)
    }

    /// The kernel's error, in the context of what was asked.
    pub fn into_error(self) -> NlError {
        self.error.during(self.what)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}
