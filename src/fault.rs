//! A domain layer's error: the kind of thing that went wrong (the layer's
//! own `Kind`) and a message that names it. Only the commands turn a kind
//! into a CNI code.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault<K> {
    pub kind: K,
    pub msg: String,
}

impl<K> Fault<K> {
    pub fn new(kind: K, msg: impl Into<String>) -> Fault<K> {
        Fault { kind, msg: msg.into() }
    }
}

impl<K> fmt::Display for Fault<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}
