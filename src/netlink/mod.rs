//! A small rtnetlink client over netlink-packet-route: a socket bound to a
//! namespace, links and addresses as plain structs, extended-ACK errors.

pub mod addr;
pub mod error;
pub mod link;
pub mod route;
pub mod socket;

pub use addr::Addr;
pub use error::NlError;
pub use link::{Link, LinkChange, Parent};
pub use socket::{NlResult, Socket};
