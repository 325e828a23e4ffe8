//! Is an attachment's namespace dead? Answered on proof only, the
//! cheapest first. Proof is the kernel's: RTM_DELNSID for the id the node
//! gave the namespace at ADD, or that id gone (ids are never taken back
//! while a namespace lives). Life is the recorded device and inode found
//! through a process, a descriptor or a bind mount. "Not found" alone is
//! neither: a namespace held only by a kernel object (a socket) lives
//! where no one can see it.

use crate::cmd::Host;
use crate::netns;
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
/// (RTM_DELNSID) when the agent heard it. An attached record whose
/// namespace nothing proves dead is answered without a look through
/// /proc: that look is the expensive part, and such records are most.
pub fn verdict(host: &mut Host, rec: &Record, announced: bool) -> Verdict {
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
        _ => None,
    };
    if proof.is_none() && rec.phase == Phase::Attached {
        return Verdict::Unproven(waiting_for(rec));
    }
    // Also with a proof: an announcement may be older than the namespace
    // that now has the same id.
    if let Some((_, via)) = netns::find(id) {
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
