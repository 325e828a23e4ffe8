//! The kernel's own limit for one ADD+DEL cycle, for scripts/bench.sh: the
//! requests hostdev must send (one move+rename each way, the address adds,
//! link up), sent by ONE resident process over sockets it opened at start,
//! with no process start and no reads per cycle. No plugin can beat it.
//!
//!     kernel_limit <container netns path> <host ifname> <container ifname> <addr/len>...
//!
//! Run it in the host namespace, with the interface there, up, holding the
//! addresses. It answers each line on stdin, `add` or `del`, with one line on
//! stdout: `ok`, or `error: ...` (the world is then left as the kernel left it).

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use hostdev::netlink::addr::add_requests;
use hostdev::netlink::link::up_request;
use hostdev::netlink::{Addr, NlError, Socket};
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
}

impl World {
    fn open(args: &[String]) -> Result<World, String> {
        let [ctr_path, host_name, ctr_name, addrs @ ..] = args else {
            return Err("usage: kernel_limit <container netns> <host ifname> <container ifname> <addr/len>...".into());
        };
        let host_ns = File::open("/proc/thread-self/ns/net").map_err(|e| format!("host netns: {e}"))?;
        let ctr_ns = File::open(ctr_path).map_err(|e| format!("{ctr_path}: {e}"))?;
        let mut host = Socket::open().map_err(|e| e.to_string())?;
        let ctr = Socket::open_in(ctr_ns.as_fd(), host_ns.as_fd()).map_err(|e| e.to_string())?;
        // The index survives the moves: the container namespace has no
        // other link with it, and the host gets it back on return.
        let index = match host.link_by_name(host_name).map_err(|e| e.to_string())? {
            Some(link) => link.index,
            None => return Err(format!("no interface {host_name} in this namespace")),
        };
        let addrs = addrs.iter().map(|a| parse_addr(a)).collect::<Result<_, _>>()?;
        let (host_name, ctr_name) = (host_name.clone(), ctr_name.clone());
        Ok(World { host_ns, ctr_ns, host, ctr, index, host_name, ctr_name, addrs })
    }

    /// Host -> container as ctr_name, then its addresses and up there.
    fn add(&mut self) -> Result<(), NlError> {
        self.host.move_link(self.index, self.ctr_ns.as_fd(), &self.ctr_name)?;
        configure(&mut self.ctr, self.index, &self.ctr_name, &self.addrs)
    }

    /// Container -> host as host_name, then its addresses and up there.
    fn del(&mut self) -> Result<(), NlError> {
        self.ctr.move_link(self.index, self.host_ns.as_fd(), &self.host_name)?;
        configure(&mut self.host, self.index, &self.host_name, &self.addrs)
    }
}

/// The address adds and the link-up, pipelined as hostdev sends them.
fn configure(sock: &mut Socket, index: u32, name: &str, addrs: &[Addr]) -> Result<(), NlError> {
    let mut requests = add_requests(index, name, addrs);
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
