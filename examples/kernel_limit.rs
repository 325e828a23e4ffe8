//! The kernel's own limit for one ADD+DEL cycle, for scripts/bench.sh: the
//! requests hostdev must send (one move+rename each way, the address adds,
//! link up), sent by ONE resident process over sockets it opened at start,
//! with no process start and no reads per cycle. No plugin can beat it.
//!
//!     kernel_limit [DECLARED...] <container netns path> <host ifname> <container ifname> <addr/len>...
//!
//! DECLARED are the settings of a config's `mtu`, `mac`, `ethtool.features`
//! and `sysctl`, done as the bare requests hostdev makes for them:
//!
//!     --mtu N --mac MAC       in the move's RTM_NEWLINK; the host's back in the
//!                             RTM_NEWLINK that leads DEL's batch
//!     --feature NAME=on|off   one ETHTOOL_MSG_FEATURES_SET in the pod after the
//!                             move, one on the host after the move home (its own
//!                             back), on ethtool netlink sockets opened at start
//!     --sysctl ipv4.KEY=VAL   the files opened in the pod (one namespace switch
//!                             there and back) and written after the move
//!
//! The move home resets every per-device sysctl to the host's defaults, which
//! are what the interface had here: DEL writes none, as hostdev writes none
//! for this interface (it reads them all and writes those that differ). What
//! the requests need that does not change from cycle to cycle (the feature
//! names and bits, the host's MTU, MAC and features) is read once, at start.
//!
//! Run it in the host namespace, with the interface there, up, holding the
//! addresses. It answers each line on stdin, `add` or `del`, with one line on
//! stdout: `ok`, or `error: ...` (the world is then left as the kernel left it).

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use std::collections::BTreeMap;

use hostdev::netlink::addr::add_requests;
use hostdev::netlink::ethtool::{Ethtool, Features, members};
use hostdev::netlink::link::{set_link_request, up_request};
use hostdev::netlink::{Addr, LinkChange, NlError, Socket, sysctl};
use netlink_packet_route::address::AddressFlags;

/// Everything the cycle needs, opened and looked up once, before any cycle.
struct World {
    host_ns: File,
    ctr_ns: File,
    host: Socket,
    ctr: Socket,
    index: u32,
    host_name: String,
    ctr_name: String,
    addrs: Vec<Addr>,
    declared: Declared,
}

/// The declared settings' requests, prepared at start.
#[derive(Default)]
struct Declared {
    /// In the move to the pod (MTU, MAC).
    pod: LinkChange,
    /// The host's own, back in DEL's batch.
    home: LinkChange,
    /// ("ipv4.arp_ignore", "1"), written in the pod.
    sysctls: Vec<(String, String)>,
    features: Option<FeatureSwap>,
}

/// The features both ways: the host's state and what the pod asks for,
/// the pod's state and what the host had.
struct FeatureSwap {
    /// Ethtool netlink sockets on the host and in the pod.
    on_host: Ethtool,
    in_pod: Ethtool,
    host: Features,
    pod_want: BTreeMap<String, bool>,
    pod: Features,
    host_want: BTreeMap<String, bool>,
}

/// The options before the positional arguments: (mtu, mac, features, sysctls, the rest).
type Options<'a> = (Option<u32>, Option<String>, Vec<(String, bool)>, Vec<(String, String)>, &'a [String]);

fn options(mut args: &[String]) -> Result<Options<'_>, String> {
    let (mut mtu, mut mac, mut features, mut sysctls) = (None, None, Vec::new(), Vec::new());
    while let [flag, value, rest @ ..] = args {
        if !flag.starts_with("--") {
            break;
        }
        let pair = || value.split_once('=').ok_or_else(|| format!("{flag} {value}: want NAME=VALUE"));
        match flag.as_str() {
            "--mtu" => mtu = Some(value.parse().map_err(|e| format!("--mtu {value}: {e}"))?),
            "--mac" => mac = Some(value.clone()),
            "--feature" => {
                let (name, on) = pair()?;
                let on = match on {
                    "on" => true,
                    "off" => false,
                    _ => return Err(format!("--feature {value}: want on or off")),
                };
                features.push((name.to_string(), on));
            }
            "--sysctl" => {
                let (key, v) = pair()?;
                sysctls.push((key.to_string(), v.to_string()));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
        args = rest;
    }
    Ok((mtu, mac, features, sysctls, args))
}

impl World {
    fn open(args: &[String]) -> Result<World, String> {
        let (mtu, mac, features, sysctls, args) = options(args)?;
        let [ctr_path, host_name, ctr_name, addrs @ ..] = args else {
            return Err("usage: kernel_limit [--mtu N] [--mac MAC] [--feature NAME=on|off]... \
                        [--sysctl ipv4.KEY=VALUE]... <container netns> <host ifname> <container ifname> <addr/len>..."
                .into());
        };
        let host_ns = File::open("/proc/thread-self/ns/net").map_err(|e| format!("host netns: {e}"))?;
        let ctr_ns = File::open(ctr_path).map_err(|e| format!("{ctr_path}: {e}"))?;
        let mut host = Socket::open().map_err(|e| e.to_string())?;
        let ctr = Socket::open_in(ctr_ns.as_fd(), host_ns.as_fd()).map_err(|e| e.to_string())?;
        // The index survives the moves: the container namespace has no
        // other link with it, and the host gets it back on return.
        let Some(link) = host.link_by_name(host_name).map_err(|e| e.to_string())? else {
            return Err(format!("no interface {host_name} in this namespace"));
        };
        let addrs = addrs.iter().map(|a| parse_addr(a)).collect::<Result<_, _>>()?;
        let mut declared = Declared {
            pod: LinkChange { mtu, mac: mac.clone(), ..LinkChange::default() },
            home: LinkChange {
                mtu: mtu.map(|_| link.mtu),
                mac: mac.map(|_| link.mac.clone()),
                ..LinkChange::default()
            },
            sysctls,
            features: None,
        };
        if !features.is_empty() {
            let in_pod = Ethtool::open_in(ctr_ns.as_fd(), host_ns.as_fd()).map_err(|e| e.to_string())?;
            declared.features = Some(feature_swap(in_pod, host_name, &features)?);
        }
        let (host_name, ctr_name) = (host_name.clone(), ctr_name.clone());
        Ok(World { host_ns, ctr_ns, host, ctr, index: link.index, host_name, ctr_name, addrs, declared })
    }

    /// Host -> container as ctr_name, then its addresses and up there.
    /// With settings declared: the MTU and MAC in the move, then the
    /// sysctls and the features in the pod, before the addresses.
    fn add(&mut self) -> Result<(), NlError> {
        let d = &self.declared;
        self.host.move_link_with(self.index, self.ctr_ns.as_fd(), &self.ctr_name, &d.pod)?;
        if !d.sysctls.is_empty() {
            let keys: Vec<&str> = d.sysctls.iter().map(|(k, _)| k.as_str()).collect();
            let files = sysctl::open_in(self.ctr_ns.as_fd(), self.host_ns.as_fd(), &self.ctr_name, &keys, true)?;
            for ((key, value), file) in d.sysctls.iter().zip(files) {
                file?.write_all(value.as_bytes()).map_err(NlError::io(key))?;
            }
        }
        if let Some(f) = &mut self.declared.features {
            f.host.set(&mut f.in_pod, &self.ctr_name, &f.pod_want)?;
        }
        configure(&mut self.ctr, self.index, &self.ctr_name, &self.addrs, None)
    }

    /// Container -> host as host_name, then its addresses and up there.
    /// With settings declared: the host's features back after the move,
    /// its MTU and MAC at the head of the batch.
    fn del(&mut self) -> Result<(), NlError> {
        self.ctr.move_link(self.index, self.host_ns.as_fd(), &self.host_name)?;
        if let Some(f) = &mut self.declared.features {
            f.pod.set(&mut f.on_host, &self.host_name, &f.host_want)?;
        }
        let d = &self.declared;
        let home = (d.home.mtu.is_some() || d.home.mac.is_some()).then_some(&d.home);
        configure(&mut self.host, self.index, &self.host_name, &self.addrs, home)
    }
}

/// The features of `name` now (the host's) and as the pod asks for them:
/// each declared name's members the driver lets change, as hostdev
/// resolves them. Read once; the cycle only sets.
fn feature_swap(in_pod: Ethtool, name: &str, declared: &[(String, bool)]) -> Result<FeatureSwap, String> {
    let mut on_host = Ethtool::open().map_err(|e| e.to_string())?;
    let have = Features::read(&mut on_host, name).map_err(|e| e.to_string())?;
    let mut pod_want = BTreeMap::new();
    for (feature, on) in declared {
        let changeable: Vec<&str> =
            members(&have, feature).into_iter().filter(|m| have.get(m).is_some_and(|f| f.changeable)).collect();
        if changeable.is_empty() {
            return Err(format!("{name} has no feature {feature} that its driver lets change"));
        }
        pod_want.extend(changeable.into_iter().map(|m| (m.to_string(), *on)));
    }
    let mut pod = have.clone();
    for (n, f) in pod.names.iter().zip(pod.state.iter_mut()) {
        if let Some(on) = pod_want.get(n) {
            f.requested = *on;
        }
    }
    let host_want = have.wanted();
    Ok(FeatureSwap { on_host, in_pod, host: have, pod_want, pod, host_want })
}

/// The address adds and the link-up, pipelined as hostdev sends them;
/// `change` (the host's MTU and MAC) ahead of them.
fn configure(
    sock: &mut Socket,
    index: u32,
    name: &str,
    addrs: &[Addr],
    change: Option<&LinkChange>,
) -> Result<(), NlError> {
    let mut requests: Vec<_> = change.map(|c| set_link_request(index, c)).into_iter().collect();
    requests.extend(add_requests(index, name, addrs));
    requests.push(up_request(index));
    match sock.batch(requests)?.into_iter().next() {
        Some(f) => Err(f.error),
        None => Ok(()),
    }
}

/// An address as the benchmark gives its interfaces: IPv6 without DAD.
fn parse_addr(s: &str) -> Result<Addr, String> {
    let mut a = Addr::plain(s.parse().map_err(|e| format!("address {s}: {e}"))?);
    if a.address.is_ipv6() {
        a.flags = AddressFlags::Nodad.bits();
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut world = match World::open(&args) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("kernel_limit: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let done = match line.as_deref().map(str::trim) {
            Ok("add") => world.add(),
            Ok("del") => world.del(),
            Ok("quit") | Err(_) => break,
            Ok(other) => Err(NlError::other(format!("unknown request {other:?}"))),
        };
        let answer = done.map_or_else(|e| format!("error: {e}"), |()| "ok".to_string());
        if writeln!(out, "{answer}").and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
