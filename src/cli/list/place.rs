//! Where a recorded interface is now, read live for `hostdev list`: the
//! same proof DEL uses (`cmd::locate`), asked without a lock and without
//! changing anything (link dumps and RTM_GETNSID, which assigns no id; the
//! recorded namespace is only opened read-only).

use crate::cmd::locate::{Place, locate};
use crate::cmd::{Container, Host, open_netns};
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
        let mut ctr = recorded_namespace(rec, host);
        Some(match locate(host, ctr.as_mut(), rec) {
            Ok(place) => word(rec, place),
            Err(e) => Where::new("unknown", Some(e.msg)),
        })
    }
}

/// The namespace ADD moved the interface into, if its path still names it
/// (the same device and inode as recorded): a path now naming another
/// namespace is not the pod's.
fn recorded_namespace(rec: &Record, host: &Host) -> Option<Container> {
    let ns = open_netns(rec.netns.as_deref()?).ok()?;
    if rec.netns_identity.is_some_and(|id| id != ns.identity()) || ns.same_as(&host.ns) {
        return None;
    }
    Container::open(ns, host).ok()
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
