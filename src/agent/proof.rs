//! Is an attachment's namespace dead? Answered on proof only, the
//! cheapest first. Proof is the kernel's: RTM_DELNSID for the id the node
//! gave the namespace at ADD, or that id gone (ids are never taken back
//! while a namespace lives). Life is the recorded device, inode and cookie
//! found through a process, a descriptor or a bind mount. "Not found" alone is
//! neither: a namespace held only by a kernel object (a socket) lives
//! where no one can see it.

use std::collections::HashMap;
use std::os::fd::AsFd;

use crate::cmd::Host;
use crate::netns::{self, NsIdentity};
use crate::state::{Phase, Record};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Something holds it: never touched. Says where it was found.
    Alive(String),
    /// Proven destroyed: why.
    Dead(String),
    /// Neither: the attachment is left as it is. Says what it waits for.
    Unproven(String),
}

/// The verdict on `rec`'s namespace. `announced` is the kernel's word
/// (RTM_DELNSID) when the agent heard it. An id still there may have been
/// given to a newer namespace since (ids are reused, lowest first): the
/// `census`, when there is one, says whose it is. An attached record whose
/// namespace nothing proves dead is answered without a look of its own
/// through /proc: that look is the expensive part, and such records are most.
pub fn verdict(host: &mut Host, rec: &Record, announced: bool, census: &mut Census) -> Verdict {
    let Some(id) = rec.netns_identity else {
        return Verdict::Unproven(
            "the record names no namespace (an older hostdev wrote it): DEL or GC finishes it".into(),
        );
    };
    let proof = match rec.nsid {
        Some(n) if announced => Some(format!("the kernel announced the death of its namespace (nsid {n})")),
        Some(n) if host.sock.nsid_exists(n).is_ok_and(|there| !there) => {
            Some(format!("the node's id for its namespace (nsid {n}) is gone: the namespace is destroyed"))
        }
        // The id's holder may be the recorded namespace itself, or a newer
        // one that took the id and even the inode (each is given lowest
        // first): only the cookie tells, and the look for life below asks
        // it, which overrules this proof.
        Some(n) => census.holder(host, n).map(|(_, via)| format!(
            "the node's id for its namespace (nsid {n}) now belongs to another namespace (found through {via}): the recorded one is destroyed"
        )),
        None => None,
    };
    if proof.is_none() && rec.phase == Phase::Attached {
        return Verdict::Unproven(waiting_for(rec));
    }
    // Also with a proof: an announcement may be older than the namespace
    // that now has the same id.
    if let Some((_, via)) = netns::find(id, rec.netns_cookie) {
        return Verdict::Alive(via);
    }
    match proof {
        Some(why) => Verdict::Dead(why),
        None => Verdict::Unproven(format!(
            "no process, descriptor or mount holds its namespace, but {}: a kernel object may hold it",
            match rec.nsid {
                Some(n) => format!("the node's id for it (nsid {n}) is still there"),
                None => "it has no id on the node (ADD could not give one)".into(),
            }
        )),
    }
}

/// What an attachment waits for before the agent may act, for the log
/// and `hostdev list`.
pub fn waiting_for(rec: &Record) -> String {
    match rec.nsid {
        Some(n) => format!("finishes it once its namespace (nsid {n} on the node) is dead"),
        None => "cannot see its namespace die (it has no id on the node)".into(),
    }
}

/// Which reachable namespace holds each of the node's ids, taken at most
/// once per sweep and only when a record needs it (a look through /proc
/// and one RTM_GETNSID per namespace). An event's pass takes none: the
/// kernel's announcement is its proof.
pub struct Census {
    taken: Option<HashMap<i32, (NsIdentity, String)>>,
    allowed: bool,
}

impl Census {
    /// A census taken when first asked.
    pub fn lazy() -> Census {
        Census { taken: None, allowed: true }
    }

    /// No census: every holder is unknown.
    pub fn none() -> Census {
        Census { taken: None, allowed: false }
    }

    /// The namespace (and where it was found) that holds id `n` now.
    fn holder(&mut self, host: &mut Host, n: i32) -> Option<&(NsIdentity, String)> {
        if !self.allowed {
            return None;
        }
        let taken = self.taken.get_or_insert_with(|| {
            let mut ids = HashMap::new();
            for (ns, via) in netns::every() {
                if let Ok(Some(id)) = host.sock.nsid_of(ns.as_fd()) {
                    ids.insert(id, (ns.identity(), via));
                }
            }
            ids
        });
        taken.get(&n)
    }
}
