//! A small rtnetlink client over netlink-packet-route: a socket bound to a
//! namespace, links and addresses as plain structs, extended-ACK errors.

pub mod addr;
pub mod error;
pub mod ethtool;
pub mod events;
pub mod gso;
pub mod hex;
pub mod link;
pub mod nexthop;
pub mod nla;
pub mod nsid;
pub mod request;
pub mod route;
pub mod rule;
pub mod socket;
pub mod sysctl;
pub mod vf;

pub use addr::Addr;
pub use error::NlError;
pub use link::{AdminFlags, Link, LinkChange, Master, Parent};
pub use request::{Failure, Request, Subject};
pub use socket::{NlResult, Socket};
