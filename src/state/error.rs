//! What can go wrong with records, as the store says it. Every error names
//! the file or record and why; the commands give each kind its CNI code
//! (`cmd::errors`).

use crate::fault::Fault;
use crate::safedir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The data directory, or a file in it, cannot be used.
    Unusable,
    /// A record fails its checks (JSON, format, key, names, indices):
    /// it steers nothing.
    Corrupt,
    /// Another call holds the lock it needs: worth trying again later.
    Busy,
}

pub type Error = Fault<Kind>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(super) fn corrupt(msg: String) -> Error {
        Error::new(Kind::Corrupt, msg)
    }

    pub(super) fn busy(msg: impl Into<String>) -> Error {
        Error::new(Kind::Busy, msg)
    }
}

impl From<safedir::Error> for Error {
    fn from(e: safedir::Error) -> Error {
        let kind = match e.kind {
            safedir::Kind::Unusable => Kind::Unusable,
            safedir::Kind::Busy => Kind::Busy,
        };
        Error::new(kind, e.msg)
    }
}
