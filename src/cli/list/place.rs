//! Where a recorded interface is now, read live for `hostdev list`: the
//! same proof DEL uses (`cmd::locate`), asked without a lock and without
//! changing anything (link dumps and RTM_GETNSID, which assigns no id; the
//! recorded namespace is only opened read-only).

use crate::cmd::locate::{Place, locate};
use crate::cmd::{Container, Host};
use crate::netns::Netns;
use crate::state::{Anchor, Record};

/// The answer, as `hostdev list` shows it: a word and, when it says more
/// than the word, why or under what name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Where {
    pub word: &'static str,
    pub detail: Option<String>,
}

impl Where {
    fn new(word: &'static str, detail: Option<String>) -> Where {
        Where { word, detail }
    }
}

/// Looks records up from the namespace `hostdev list` runs in, which must
/// be the host's (the plugin's).
pub struct Finder {
    host: Result<Host, String>,
}

impl Finder {
    pub fn new() -> Finder {
        Finder { host: Host::open().map_err(|e| e.msg) }
    }

    /// Where `rec`'s interface is; None for a device bound to a userspace
    /// driver, which has no interface and never moved.
    pub fn find(&mut self, rec: &Record) -> Option<Where> {
        if rec.userspace.is_some() {
            return None;
        }
        let host = match &mut self.host {
            Ok(host) => host,
            Err(why) => return Some(Where::new("unknown", Some(why.clone()))),
        };
        let (mut ctr, unreachable) = match recorded_namespace(rec, host) {
            Ok(ctr) => (ctr, None),
            Err(why) => (None, Some(why)),
        };
        Some(match (locate(host, ctr.as_mut(), rec), unreachable) {
            // Not seen on the host, and the pod's namespace could not be
            // looked in: it may well be there.
            (Ok(Place::Elsewhere { .. } | Place::Unknown(_)), Some(why)) => Where::new("unknown", Some(why)),
            (Ok(place), _) => word(rec, place),
            (Err(e), _) => Where::new("unknown", Some(e.msg)),
        })
    }
}

/// The namespace ADD moved the interface into: None when it has no path
/// any more (the runtime or `ip netns del` removed it) or its path names
/// another namespace now (not the recorded device and inode); an error
/// when it cannot be looked in from here (no CAP_SYS_ADMIN to enter it,
/// or its directory not mounted where list runs).
fn recorded_namespace(rec: &Record, host: &Host) -> Result<Option<Container>, String> {
    let Some(path) = rec.netns.as_deref() else { return Ok(None) };
    let cannot = |why: String| format!("cannot look in the pod's namespace {}: {why}", path.display());
    if path.parent().is_some_and(missing) {
        return Err(cannot("its directory is not visible here".into()));
    }
    let ns = match Netns::open(path) {
        Ok(ns) => ns,
        Err(_) if missing(path) => return Ok(None),
        Err(why) => return Err(cannot(why)),
    };
    if rec.netns_identity.is_some_and(|id| id != ns.identity()) || ns.same_as(&host.ns) {
        return Ok(None);
    }
    Container::open(ns, host).map(Some).map_err(|e| cannot(e.msg))
}

fn word(rec: &Record, place: Place) -> Where {
    let named = |now: &str, own: &str| (now != own).then(|| format!("as {now}"));
    match place {
        Place::Container(link) => Where::new("pod", named(&link.name, &rec.ifname)),
        Place::Host(link) if rec.parked_as.as_ref() == Some(&link.name) => {
            Where::new("parked", Some(format!("as {}", link.name)))
        }
        Place::Host(link) => Where::new("home", named(&link.name, &rec.host.name)),
        Place::Elsewhere { why, .. } => Where::new("lost", Some(why)),
        Place::Dead(why) => Where::new("gone", Some(why)),
        // Nothing proves which link it is: any answer would be a guess.
        Place::Unknown(why) if rec.anchor == Anchor::Unprovable => Where::new("unknown", Some(why)),
        Place::Unknown(why) => Where::new("not-found", Some(why)),
    }
}

/// Whether `path` is known not to exist (not merely out of reach).
fn missing(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}
