//! A domain layer's error: the kind of thing that went wrong (the layer's
//! own `Kind`) and a message that names it. Only the commands turn a kind
//! into a CNI code.

use std::fmt;

use crate::netlink::NlError;

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

/// The two kinds every layer that asks the kernel on a config's behalf
/// has: a declaration that cannot be carried out, and a kernel refusal.
pub trait Kinds: Copy {
    const CONFIG: Self;
    const KERNEL: Self;
}

impl<K: Kinds> Fault<K> {
    /// A declaration that cannot be carried out; `msg` names it.
    pub fn config(msg: impl Into<String>) -> Fault<K> {
        Fault::new(K::CONFIG, msg)
    }

    /// A request the kernel refused while doing `what`, in its own words.
    pub fn kernel(what: &str) -> impl Fn(NlError) -> Fault<K> + '_ {
        move |e| Fault::new(K::KERNEL, e.during(what).to_string())
    }
}
