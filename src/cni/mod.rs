//! The CNI protocol: environment, config, results, errors. No kernel here.

pub mod config;
pub mod declare;
pub mod env;
pub mod error;
pub mod ipam;
pub mod keys;
pub mod result;
pub mod version;

pub use config::NetConf;
pub use env::{Command, Env};
pub use error::{Error, Result, code};
pub use result::CniResult;
