//! CNI errors: the spec's well-known codes plus our own (100 and up).
//! Every error names the thing that is wrong; `main` prints it as the spec's
//! JSON on stdout and exits non-zero.

use std::fmt;

/// Error codes. 1..=11 and 50/51 are the spec's; 100+ are hostdev's own and
/// listed in the README.
pub mod code {
    pub const INCOMPATIBLE_VERSION: u32 = 1;
    pub const INVALID_ENV: u32 = 4;
    pub const IO_FAILURE: u32 = 5;
    pub const DECODE: u32 = 6;
    pub const INVALID_CONFIG: u32 = 7;
    pub const TRY_AGAIN: u32 = 11;
    pub const NOT_READY: u32 = 50;
    pub const LIMITED_CONNECTIVITY: u32 = 51;
    pub const KERNEL: u32 = 100;
    pub const DEVICE_NOT_FOUND: u32 = 101;
    pub const DEVICE_BUSY: u32 = 102;
    pub const NAME_CLASH: u32 = 103;
    pub const DEVICE_IMMOVABLE: u32 = 104;
    pub const BAD_NETNS: u32 = 105;
    pub const STATE: u32 = 106;
    pub const DEFAULT_ROUTE: u32 = 107;
    pub const CHECK_FAILED: u32 = 108;
    pub const IPAM: u32 = 109;
    /// The interface exists but cannot be brought home now.
    pub const NOT_HOME: u32 = 110;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub code: u32,
    pub msg: String,
    pub details: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: u32, msg: impl Into<String>) -> Error {
        Error { code, msg: msg.into(), details: String::new() }
    }

    /// The same error, as code 11: the condition is transient.
    pub fn retry_later(mut self) -> Error {
        self.code = code::TRY_AGAIN;
        self
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Error {
        self.details = details.into();
        self
    }

    /// The spec's error object, in the version the caller asked for.
    pub fn to_json(&self, cni_version: &str) -> serde_json::Value {
        let mut v = serde_json::json!({
            "cniVersion": cni_version,
            "code": self.code,
            "msg": self.msg,
        });
        if !self.details.is_empty() {
            v["details"] = self.details.clone().into();
        }
        v
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.msg)?;
        if !self.details.is_empty() {
            write!(f, " ({})", self.details)?;
        }
        Ok(())
    }
}

pub fn config_error(msg: impl Into<String>) -> Error {
    Error::new(code::INVALID_CONFIG, msg)
}

pub fn env_error(msg: impl Into<String>) -> Error {
    Error::new(code::INVALID_ENV, msg)
}
