//! Guards: ADD refuses a device that carries the host's default route
//! (107, naming the device and `allowDefaultRoute`), changing nothing,
//! and moves it when allowed; a default route through another device is
//! no obstacle.
//!
//! Run: cargo test --features test-hooks --test guards

mod common;

use common::*;
use serde_json::json;
use std::os::fd::AsFd;

fn default_route_guard(v6: bool) {
    let w = World::new();
    let before = w.host_veth("h1", true);
    let (family, gw) = if v6 { ("-6", "2001:db8:1::1") } else { ("-4", "10.1.2.1") };
    ip(&w.host.name, &[family, "route", "add", "default", "via", gw, "dev", "h1"]);
    let routes = ip(&w.host.name, &[family, "route", "show", "default"]);
    assert!(routes.contains(gw), "{routes}");
    let host_names = link_names(&w.host.name);
    let ctr_names = link_names(&w.ctr.name);

    let out = w.run(&w.env("ADD", "eth0"), &w.config("1.0.0", "h1"));
    out.assert_err(107);
    let msg = out.json["msg"].as_str().unwrap();
    assert!(
        msg.contains("h1") && msg.contains("allowDefaultRoute"),
        "message should name the device and the way out: {msg}"
    );
    assert_eq!(link(&w.host.name, "h1"), Some(before.clone()), "h1 changed by a refused ADD");
    assert_eq!(link_names(&w.host.name), host_names);
    assert_eq!(link_names(&w.ctr.name), ctr_names);
    assert_eq!(ip(&w.host.name, &[family, "route", "show", "default"]), routes, "the default route changed");
    assert!(records(&w).is_empty(), "a refused ADD left a record: {:#?}", records(&w));
    // The refused ADD is followed by DEL, as runtimes do: harmless.
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before.clone()));

    let allowed = conf(&w, "1.0.0", "h1", json!({"allowDefaultRoute": true}));
    let out = w.run(&w.env("ADD", "eth0"), &allowed);
    out.assert_ok();
    let inside = link(&w.ctr.name, "eth0").expect("eth0 in the container");
    assert_eq!(inside.addrs, before.addrs);
    let out = w.run(&w.env("DEL", "eth0"), &allowed);
    assert!(out.status.success(), "{out:#?}");
    assert_eq!(link(&w.host.name, "h1"), Some(before), "h1 after ADD/DEL with allowDefaultRoute");
    assert!(records(&w).is_empty());
}

#[test]
fn default_route_guard_ipv4() {
    default_route_guard(false);
}

#[test]
fn default_route_guard_ipv6() {
    default_route_guard(true);
}

/// A default route through another interface does not trip the guard.
#[test]
fn default_route_on_another_device_is_no_obstacle() {
    let w = World::new();
    let before = w.host_veth("h1", true);
    ip(&w.host.name, &["link", "add", "up0", "type", "veth", "peer", "name", "up0p"]);
    ip(&w.host.name, &["link", "set", "up0", "up"]);
    ip(&w.host.name, &["link", "set", "up0p", "up"]);
    ip(&w.host.name, &["addr", "add", "10.9.0.2/24", "dev", "up0"]);
    ip(&w.host.name, &["route", "add", "default", "via", "10.9.0.1", "dev", "up0"]);
    w.attach("h1", "eth0");
    w.del("h1", "eth0").assert_ok();
    assert_eq!(link(&w.host.name, "h1"), Some(before));
}

/// A name look-up the kernel refuses (here an altname longer than it
/// takes) is an error, not a free name: the name-clash guard and DEL's
/// choice of a name on the host must not go on as if nothing had it.
#[test]
fn a_lookup_the_kernel_refuses_is_an_error_not_a_free_name() {
    let w = World::new();
    let there = hostdev::netns::Netns::open(std::path::Path::new(&w.host.path())).unwrap();
    let home = hostdev::netns::Netns::current().unwrap();
    let mut sock = hostdev::netlink::Socket::open_in(there.as_fd(), home.as_fd()).unwrap();
    assert_eq!(sock.index_of("lo").unwrap(), Some(1), "the node's loopback");
    assert_eq!(sock.index_of("nosuchlink").unwrap(), None, "a free name");
    let refused = sock.index_of(&"x".repeat(200));
    assert!(refused.is_err(), "a 200-byte altname read as {refused:?}");
    let refused = sock.link_by_name(&"x".repeat(200)).map(|l| l.map(|l| l.index));
    assert!(refused.is_err(), "a 200-byte altname's link read as {refused:?}");
}

/// Replies are the kernel's alone: a process with CAP_NET_ADMIN in the
/// namespace (a pod's, for the socket hostdev opens there) may send to
/// netlink ports, but hostdev's sockets are connected to the kernel's
/// port, so the kernel refuses a reply forged for one (here one naming
/// link 999 as `lo`, with the socket's next sequence number).
#[test]
fn a_forged_reply_from_the_namespace_is_not_the_kernels() {
    let w = World::new();
    let there = hostdev::netns::Netns::open(std::path::Path::new(&w.host.path())).unwrap();
    let home = hostdev::netns::Netns::current().unwrap();
    let mut sock = hostdev::netlink::Socket::open_in(there.as_fd(), home.as_fd()).unwrap();
    let port = port_of(sock.fd());
    let forger = hostdev::netlink::socket::in_namespace(there.as_fd(), home.as_fd(), || {
        let mut s = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).unwrap();
        s.bind_auto().unwrap();
        s
    })
    .unwrap();
    // RTM_NEWLINK, sequence 1 (the socket's first request), to its port;
    // an ifinfomsg for index 999.
    let mut forged = 32u32.to_ne_bytes().to_vec();
    forged.extend_from_slice(&16u16.to_ne_bytes());
    forged.extend_from_slice(&0u16.to_ne_bytes());
    forged.extend_from_slice(&1u32.to_ne_bytes());
    forged.extend_from_slice(&port.to_ne_bytes());
    forged.extend_from_slice(&[0u8; 4]);
    forged.extend_from_slice(&999i32.to_ne_bytes());
    forged.extend_from_slice(&[0u8; 8]);
    let sent = forger.send_to(&forged, &netlink_sys::SocketAddr::new(port, 0), 0);
    assert_eq!(
        sent.map_err(|e| e.raw_os_error()),
        Err(Some(nix::libc::ECONNREFUSED)),
        "a forged reply reached the socket"
    );
    assert_eq!(sock.index_of("lo").unwrap(), Some(1), "the forged reply was taken for the kernel's");
}

/// The netlink port the kernel gave socket `fd`.
fn port_of(fd: std::os::fd::RawFd) -> u32 {
    let mut addr: nix::libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<nix::libc::sockaddr_nl>() as nix::libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `addr`.
    let rc = unsafe { nix::libc::getsockname(fd, (&raw mut addr).cast(), &raw mut len) };
    assert_eq!(rc, 0, "getsockname");
    addr.nl_pid
}
