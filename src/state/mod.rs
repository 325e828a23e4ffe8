//! The per-attachment record on disk: what the host interface was before
//! ADD, what proves its identity, and how far ADD or DEL got. Written
//! atomically, one JSON file per (network, container id, interface name),
//! readable by a person, in a directory only root can write (`SafeDir`).
//!
//! `record` is the record as hostdev works with it, `format` its file
//! format (types of its own, so that no change to the netlink layer's
//! structs changes what is on disk), `key` the names of its files,
//! `store` the directory that holds them, `liveness` whether the writer of
//! a leftover file still runs, `facts` what the kernel has, kept for the
//! boot beside the records.

mod error;
mod facts;
mod format;
mod key;
mod liveness;
mod record;
mod store;

pub use error::{Error, Kind, Result};
pub use facts::{Facts, Known};
pub use key::Key;
pub use record::{Anchor, Device, Phase, Record, now};
pub use store::{KeyLock, Store};
