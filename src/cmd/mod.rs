//! The commands: each is the list of steps it takes.

pub mod add;
pub mod adopt;
pub mod check;
pub mod del;
pub mod errors;
pub mod gc;
pub mod home;
pub mod kept;
pub mod locate;
pub mod routing;
pub mod settings;
pub mod status;
pub mod version;

use std::os::fd::AsFd;
use std::path::Path;

use crate::cmd::errors::kernel_error;
use crate::cni::{Error, code};
use crate::netlink::Socket;
use crate::netlink::ethtool::Kept;
use crate::netns::Netns;
use crate::state::{Anchor, Record};
use crate::warn;

/// The host side: its namespace handle and a netlink socket in it.
pub struct Host {
    pub ns: Netns,
    pub sock: Socket,
    /// The ethtool family's id and feature names kept for the boot, where
    /// the dataDir gave them (`home::finish`): reads of the features need
    /// no lookup and no names then.
    pub ethtool: Option<Kept>,
}

impl Host {
    pub fn open() -> crate::cni::Result<Host> {
        let ns = Netns::current()
            .map_err(|why| Error::new(code::KERNEL, format!("cannot open the host network namespace: {why}")))?;
        let sock = Socket::open().map_err(kernel_error("open a netlink socket in the host namespace"))?;
        Ok(Host { ns, sock, ethtool: None })
    }
}

/// The container side: its namespace handle and a netlink socket in it.
pub struct Container {
    pub ns: Netns,
    pub sock: Socket,
    /// What holds its namespace, when it was found by looking (not at the
    /// path the runtime gave): for messages.
    pub held_by: Option<String>,
}

impl Container {
    /// Opens the container namespace `ns` from the host.
    pub fn open(ns: Netns, host: &Host) -> crate::cni::Result<Container> {
        let sock = Socket::open_in(ns.as_fd(), host.ns.as_fd())
            .map_err(kernel_error("open a netlink socket in the container"))?;
        Ok(Container { ns, sock, held_by: None })
    }

    /// The container at `path` when its namespace still exists and is not
    /// the host's own; DEL and GC go on without it otherwise.
    pub fn find(path: &Path, host: &Host) -> Option<Container> {
        let ns = match open_netns(path) {
            Ok(ns) => ns,
            Err(e) => {
                crate::info!("container namespace unusable, looking on the host only: {}", e.msg);
                return None;
            }
        };
        if ns.same_as(&host.ns) {
            return None;
        }
        Container::open(ns, host).map_err(|e| warn!("{}", e.msg)).ok()
    }

    /// The container namespace `rec` recorded at ADD: at `path` (CNI_NETNS,
    /// or the recorded path) when that is still it, else wherever a
    /// process, a descriptor or a bind mount holds it (the path went stale,
    /// was never passed, or names another namespace now). Without a
    /// recorded identity, whatever `path` names.
    pub fn of_record(path: Option<&Path>, rec: &Record, host: &mut Host) -> Option<Container> {
        let found = Container::recorded(path, rec, host);
        match rec.anchor {
            Anchor::Peer { index } => Container::where_peer_says(found, index, rec, host),
            _ => found,
        }
    }

    /// A veth's peer on the host names the namespace its end is in (by the
    /// host's nsid for it), which the kernel, not the container, reports:
    /// when that is not `found` (the recorded namespace is out of sight, or
    /// the container moved the veth into a namespace of its own), the
    /// namespace with that nsid, wherever something holds it, is where DEL
    /// takes it from. Else `found`.
    fn where_peer_says(found: Option<Container>, peer: u32, rec: &Record, host: &mut Host) -> Option<Container> {
        let peer = host.sock.link_by_index(peer).ok().flatten().filter(|p| p.kind.as_deref() == Some("veth"));
        let Some(nsid) = peer.and_then(|p| p.link_netnsid).filter(|id| *id >= 0) else { return found };
        let is_it =
            |sock: &mut crate::netlink::Socket, ns: &Netns| sock.nsid_of(ns.as_fd()).ok().flatten() == Some(nsid);
        if found.as_ref().is_some_and(|c| is_it(&mut host.sock, &c.ns)) {
            return found;
        }
        let dev = host.ns.identity().dev;
        let Some((ns, via)) = crate::netns::find_where(dev, |ns| is_it(&mut host.sock, ns)) else { return found };
        let holder = crate::netns::describe_holder(&via);
        crate::info!(
            "the veth of {} is in the namespace with host nsid {nsid}: found it through {holder}",
            rec.holder()
        );
        Container::held(ns, holder, host).or(found)
    }

    /// The recorded namespace, at `path` or wherever something holds it.
    fn recorded(path: Option<&Path>, rec: &Record, host: &Host) -> Option<Container> {
        let at = path.and_then(|p| Container::find(p, host));
        let Some(id) = rec.netns_identity else { return at };
        if at.as_ref().is_some_and(|c| c.ns.identity() == id) {
            return at;
        }
        let Some((ns, via)) = crate::netns::find(id, rec.netns_cookie) else {
            crate::info!("the namespace of {} is held by no process, descriptor or mount", rec.holder());
            return at;
        };
        let shown = path.map_or_else(|| "no path".into(), |p| p.display().to_string());
        let holder = crate::netns::describe_holder(&via);
        crate::info!("the namespace of {} is not at {shown}: found it through {holder}", rec.holder());
        Container::held(ns, holder, host).or(at)
    }

    /// The namespace `ns`, found through `holder`.
    fn held(ns: Netns, holder: String, host: &Host) -> Option<Container> {
        let ctr = Container::open(ns, host).map_err(|e| warn!("{}", e.msg)).ok()?;
        Some(Container { held_by: Some(holder), ..ctr })
    }
}

/// What still holds the namespace `rec` recorded at ADD (a process, a
/// descriptor, a bind mount, or its recorded path when no identity was
/// recorded); None when nothing reachable does: it is dead, or dying.
pub fn namespace_holder(rec: &Record) -> Option<String> {
    match rec.netns_identity {
        Some(id) => crate::netns::find(id, rec.netns_cookie).map(|(_, via)| via),
        None => rec.netns.as_ref().filter(|p| p.exists()).map(|p| p.display().to_string()),
    }
}

/// Opens the namespace `CNI_NETNS` names (code 105 when it is none).
pub fn open_netns(path: &Path) -> crate::cni::Result<Netns> {
    Netns::open(path).map_err(|why| Error::new(code::BAD_NETNS, format!("CNI_NETNS {}: {why}", path.display())))
}

/// The attachment a call is about: its network, container and interface.
pub fn attachment(env: &crate::cni::Env, conf: &crate::cni::NetConf) -> crate::state::Key {
    crate::state::Key { network: conf.name.clone(), container_id: env.container_id.clone(), ifname: env.ifname.clone() }
}
