//! The CNI protocol: environment, config (with the declared settings and
//! sriov-cni's VF keys), results, errors. No kernel requests here: the
//! config borrows the kernel layer's value types (GSO sizes, VF link state).

pub mod config;
pub mod declare;
pub mod env;
pub mod error;
pub mod ipam;
pub mod keys;
pub mod result;
pub mod value;
pub mod version;
pub mod vf;

pub use config::NetConf;
pub use env::{Command, Env};
pub use error::{Error, Result, code};
pub use result::CniResult;
