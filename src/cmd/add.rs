//! ADD: snapshot the host interface, check the container can take it,
//! record the attachment, move it in one message, restore its addresses.

use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::cmd::home;
use crate::cmd::locate::anchor_of;
use crate::cmd::{Container, Host, attachment, kernel_error, open_netns};
use crate::cni::ipam::Ipam;
use crate::cni::result::{Interface, IpConfig};
use crate::cni::{CniResult, Env, Error, NetConf, Result, code};
use crate::device::Selected;
use crate::netlink::addr::{add_requests, unexpired};
use crate::netlink::link::up_request;
use crate::netlink::route::RouteEntry;
use crate::netlink::sysctl::enable_ipv6;
use crate::netlink::{Addr, Link, Master, Socket, route};
use crate::state::{Anchor, Key, Phase, Record, Store, Userspace};
use crate::{device, failpoint};
use crate::{info, warn};

pub fn add(env: &Env, conf: &NetConf) -> Result<CniResult> {
    let store = Store::open(&conf.data_dir)?;
    let netns_path = env.netns.as_deref().expect("ADD requires CNI_NETNS");
    let ctr_ns = open_netns(netns_path)?;
    let mut host = Host::open()?;
    if ctr_ns.same_as(&host.ns) {
        return Err(Error::new(
            code::BAD_NETNS,
            format!("CNI_NETNS {} is the host's own network namespace", netns_path.display()),
        ));
    }
    home::unpark_all(&mut host, &store);
    let mut ctr = Container::open(ctr_ns, &host)?;
    let key = attachment(env, conf);
    // Held to the end: no DEL, GC or CHECK of this attachment runs against
    // a half-done ADD.
    let _lock = store.lock_key(&key)?;
    let mut rec = claim(&store, &mut host, &mut ctr, env, conf, key)?;
    if let Some(device) = rec.userspace.clone() {
        return add_userspace(env, conf, &store, rec, device);
    }
    let mut result = build_result(conf, netdev_interface(env, &rec.host), &rec.addrs)?;
    failpoint::hit("add-after-record");

    info!("moving {} (index {}) into {} as {}", rec.host.name, rec.host.index, netns_path.display(), env.ifname);
    let ipam = Ipam::of(env, conf);
    let mut ipam_added = false;
    let ns = Namespaces { ctr: ctr.ns.as_fd(), host: host.ns.as_fd() };
    let attached = host
        .sock
        .move_link(rec.host.index, ctr.ns.as_fd(), &env.ifname)
        .map_err(|e| move_error(e, &rec, &env.ifname))
        .and_then(|()| {
            failpoint::hit("add-after-move");
            configure(&mut ctr.sock, ns, &env.ifname, &rec.addrs, &mut result)
        })
        .and_then(|index| {
            failpoint::hit("add-after-addresses");
            if let Some(ipam) = &ipam {
                let got = ipam.add()?;
                ipam_added = true;
                apply_ipam(&mut ctr.sock, ns, index, &env.ifname, got, &mut result)?;
            }
            failpoint::hit("add-after-ipam");
            result.check_expressible(conf.cni_version)?;
            rec.container_index = Some(index);
            rec.phase = Phase::Attached;
            store.save(&rec)
        });
    if let Err(e) = attached {
        if let (Some(ipam), true) = (&ipam, ipam_added)
            && let Err(e) = ipam.call("DEL")
        {
            warn!("releasing the IPAM allocation after a failed ADD failed: {e}");
        }
        roll_back(&mut host, &mut ctr, &store, rec);
        return Err(e);
    }
    Ok(result)
}

/// What the selectors name; when nothing is found because another
/// attachment holds the device, says so.
fn select_device(host: &mut Host, conf: &NetConf, store: &Store) -> Result<Selected> {
    device::select(&mut host.sock, &conf.selector).map_err(|e| {
        if e.code != code::DEVICE_NOT_FOUND {
            return e;
        }
        let holder = store
            .list()
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|(_, r)| r.ok())
            .find(|r| device::could_name(&conf.selector, &r.host));
        match holder {
            Some(r) if on_its_way_home(&r) => Error::new(
                code::TRY_AGAIN,
                format!(
                    "device {:?} is on its way back from the namespace of container {}, which is gone (the kernel returns a physical device asynchronously); try again later",
                    r.host.name, r.container_id
                ),
            ),
            Some(r) => Error::new(
                code::DEVICE_BUSY,
                format!(
                    "device {:?} is attached to container {} as {} (network {})",
                    r.host.name, r.container_id, r.ifname, r.network
                ),
            ),
            None => e,
        }
    })
}

/// A physical device whose attachment's namespace no longer exists: the
/// kernel is returning it to the host (DEL or GC then restores it).
fn on_its_way_home(rec: &Record) -> bool {
    rec.anchor == Anchor::Parent && rec.phase != Phase::Parked && rec.netns.as_deref().is_some_and(|p| !p.exists())
}

/// Moving the interface that carries the host's default route, or whose
/// bridge (bond) or stacked devices (macvlan, vlan, ...) carry it, would
/// cut the node off its network: refused unless the config allows it.
fn guard_default_route(routes: &[RouteEntry], link: &Link, stack: &Stack, allowed: bool) -> Result<()> {
    if allowed {
        return Ok(());
    }
    let Some(default) = routes.iter().find(|r| r.is_default()) else { return Ok(()) };
    let via = match default.oif.and_then(|i| stack.describe(i)) {
        Some(other) if default.oif != Some(link.index) => format!(" through {other}"),
        _ => String::new(),
    };
    Err(Error::new(
        code::DEFAULT_ROUTE,
        format!(
            "device {:?} carries the host's default route ({}, table {}){via}; moving it would cut the host off the network. Set \"allowDefaultRoute\": true to do it anyway",
            link.name, default.dst, default.table
        ),
    ))
}

/// Moving a device that others are stacked on strands them on the host
/// with a lower device they cannot reach: refused unless the config allows it.
fn guard_upper_devices(link: &Link, stack: &Stack, allowed: bool) -> Result<()> {
    if allowed || stack.uppers.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = stack.uppers.iter().map(describe).collect();
    Err(Error::new(
        code::DEVICE_IMMOVABLE,
        format!(
            "device {:?} has devices stacked on it: {}; moving it would strand them on the host without their lower device. Set \"allowUpperDevices\": true to move it anyway",
            link.name,
            names.join(", ")
        ),
    ))
}

/// A link as errors name it: `"mv0" (macvlan)`.
fn describe(l: &Link) -> String {
    match &l.kind {
        Some(kind) => format!("{:?} ({kind})", l.name),
        None => format!("{:?}", l.name),
    }
}

/// The devices around the one being moved: its master (a bridge, bond or
/// team it is a port of) and the devices stacked on it.
struct Stack {
    master: Option<Link>,
    uppers: Vec<Link>,
}

impl Stack {
    /// Reads `link`'s stack from `all` (one dump of the host's links), and
    /// gives its recorded master the name it has.
    fn of(link: &mut Link, all: &[Link]) -> Stack {
        let master = link.master.as_ref().and_then(|m| all.iter().find(|l| l.index == m.index)).cloned();
        // A master that vanished since the dump began is no master to restore.
        link.master = master.as_ref().map(|m| Master { index: m.index, name: m.name.clone() });
        Stack { master, uppers: link.uppers(all).into_iter().cloned().collect() }
    }

    fn is_empty(&self) -> bool {
        self.master.is_none() && self.uppers.is_empty()
    }

    /// The stacked device with index `index`, as errors name it.
    fn describe(&self, index: u32) -> Option<String> {
        if let Some(m) = self.master.as_ref().filter(|m| m.index == index) {
            return Some(format!("its master {}", describe(m)));
        }
        self.uppers.iter().find(|u| u.index == index).map(|u| format!("the device stacked on it {}", describe(u)))
    }

    /// The indices whose routes matter to the guard: the device's own and
    /// its stack's.
    fn indices(&self, link: &Link) -> Vec<u32> {
        let mut all = vec![link.index];
        all.extend(self.master.iter().map(|m| m.index));
        all.extend(self.uppers.iter().map(|u| u.index));
        all
    }
}

/// Refuses, before anything changes, what the kernel would refuse only
/// after moving the device: a taken CNI_IFNAME, or a clash with one of the
/// device's altnames.
fn check_container(ctr: &mut Socket, ifname: &str, link: &Link) -> Result<()> {
    if ctr.link_by_name(ifname).map_err(kernel_error("look up CNI_IFNAME in the container"))?.is_some() {
        return Err(Error::new(code::NAME_CLASH, format!("CNI_IFNAME {ifname:?} already exists in the container")));
    }
    for alt in &link.altnames {
        if ctr.link_by_name(alt).map_err(kernel_error("look up altnames in the container"))?.is_some() {
            return Err(Error::new(
                code::NAME_CLASH,
                format!(
                    "device {:?} has altname {alt:?}, and an interface with that name exists in the container",
                    link.name
                ),
            ));
        }
    }
    Ok(())
}

/// Under the store's lock: selects the device, checks that no other
/// attachment holds it, snapshots it, checks that the container can take
/// it, and writes the record. The lock is released before anything moves.
fn claim(store: &Store, host: &mut Host, ctr: &mut Container, env: &Env, conf: &NetConf, key: Key) -> Result<Record> {
    let _lock = store.lock()?;
    // A parked record under this key (podman reuses a container's id when it
    // restarts it) gives way below if it is the same device.
    let same_key = store.load(&key)?;
    if same_key.as_ref().is_some_and(|r| r.phase != Phase::Parked) {
        return Err(Error::new(
            code::DEVICE_BUSY,
            format!(
                "container {} already has an attachment {} on network {}; DEL it first",
                key.container_id, key.ifname, key.network
            ),
        ));
    }
    let netns = env.netns.clone();
    let mut parked = None;
    let rec = match select_device(host, conf, store)? {
        Selected::Userspace(device) => {
            let rec = Record::userspace(&key, netns, device);
            check_unclaimed(store, &rec.userspace.as_ref().expect("just set").id, &rec)?;
            rec
        }
        Selected::Netdev(found) => {
            parked = check_unclaimed(store, &found.name, &Record::new(&key, None, found.clone(), Vec::new()))?;
            let mut rec = snapshot(host, ctr, env, conf, &key, netns, &found)?;
            if let Some(parked) = &parked {
                // A parked interface keeps its true name: DEL brings it home as that.
                rec.host.name = parked.host.name.clone();
            }
            rec
        }
    };
    // The same key's parked record may only give way to its own device.
    let inherits_same_key = parked.as_ref().is_some_and(|p| p.key() == key);
    if let Some(waiting) = same_key.filter(|_| !inherits_same_key) {
        return Err(Error::new(
            code::DEVICE_BUSY,
            format!(
                "{} from an earlier attachment of container {} as {} is parked, waiting for its name; it must come home first",
                waiting.host.name, key.container_id, key.ifname
            ),
        ));
    }
    store.claim(&rec)?;
    store.save(&rec)?;
    info!(
        "recorded {} (index {}, {}): {} addresses, {} routes, {}",
        rec.host.name,
        rec.host.index,
        rec.host.mac,
        rec.addrs.len(),
        rec.routes.len(),
        if rec.host.up { "up" } else { "down" }
    );
    if let Some(parked) = parked.filter(|_| !inherits_same_key) {
        store.remove(&parked)?; // this attachment carries its name now
    }
    Ok(rec)
}

/// The record of a netdev: read only now, after the claim check (a DEL
/// still restoring the device holds its record until the restore is
/// complete, and was refused), with the checks that need the fresh state.
fn snapshot(
    host: &mut Host,
    ctr: &mut Container,
    env: &Env,
    conf: &NetConf,
    key: &Key,
    netns: Option<std::path::PathBuf>,
    found: &Link,
) -> Result<Record> {
    let name = &found.name;
    // One dump answers for the device, its master and what is stacked on it.
    let all = host.sock.links().map_err(kernel_error("list the host's interfaces"))?;
    let mut link =
        all.iter().find(|l| l.index == found.index).cloned().ok_or_else(|| {
            Error::new(code::DEVICE_NOT_FOUND, format!("device {name:?} vanished while being attached"))
        })?;
    device::check_movable(&link)?;
    let stack = Stack::of(&mut link, &all);
    // The routes through it: for the guard, and to put back on DEL. With a
    // stack, the guard needs its routes too: one unfiltered dump.
    let routes = if stack.is_empty() {
        host.sock.routes(Some(link.index))
    } else {
        let ours = stack.indices(&link);
        host.sock.routes(None).map(|r| r.into_iter().filter(|r| r.oif.is_some_and(|i| ours.contains(&i))).collect())
    }
    .map_err(kernel_error("read the host's routes"))?;
    guard_default_route(&routes, &link, &stack, conf.allow_default_route)?;
    guard_upper_devices(&link, &stack, conf.allow_upper_devices)?;
    let routes: Vec<RouteEntry> = routes.into_iter().filter(|r| r.oif.is_none_or(|i| i == link.index)).collect();
    let addrs = host
        .sock
        .addrs(link.index, &link.mac)
        .map_err(kernel_error(&format!("read the addresses of {}", link.name)))?;
    check_container(&mut ctr.sock, &env.ifname, &link)?;
    if conf.ipam.is_none() {
        build_result(conf, netdev_interface(env, &link), &addrs)?.check_expressible(conf.cni_version)?;
    }
    let anchor = anchor_of(&link);
    if anchor == Anchor::Unprovable {
        warn!(
            "{} ({}) has no identity a container cannot forge: DEL will not take it back from the container",
            link.name,
            link.kind.as_deref().unwrap_or("no kind")
        );
    }
    let mut rec = Record::new(key, netns, link, addrs);
    rec.anchor = anchor;
    rec.netns_identity = Some(ctr.ns.identity());
    rec.routes = routes.into_iter().filter(RouteEntry::worth_keeping).collect();
    Ok(rec)
}

/// Fails when another attachment holds the device `what` (`probe` is a
/// record of it). A parked record (home, waiting for its name) does not
/// hold it: it is returned, so the new attachment can take over its name.
/// One claim file answers, whatever the number of attachments.
fn check_unclaimed(store: &Store, what: &str, probe: &Record) -> Result<Option<Record>> {
    let Some(other) = store.claimant(probe)? else { return Ok(None) };
    let holds = match (&probe.userspace, &other.userspace) {
        (Some(a), Some(b)) => a.id == b.id,
        (None, None) => other.describes(&probe.host),
        _ => false,
    };
    if !holds {
        return Ok(None); // a stale claim: its record is about another device
    }
    if other.phase == Phase::Parked {
        return Ok(Some(other));
    }
    Err(Error::new(
        code::DEVICE_BUSY,
        format!(
            "device {what:?} is already attached to container {} as {} (network {})",
            other.container_id, other.ifname, other.network
        ),
    ))
}

/// A device bound to a userspace driver (DPDK) has no network interface:
/// nothing moves, IPAM still runs, and the result names the device as
/// CNI_IFNAME, with `pciID` only when it has a PCI address: the spec
/// defines that field as one, and an auxiliary device has none.
fn add_userspace(env: &Env, conf: &NetConf, store: &Store, mut rec: Record, device: Userspace) -> Result<CniResult> {
    info!("device {} is bound to {}: nothing to move", device.id, device.driver);
    let iface = Interface {
        name: env.ifname.clone(),
        sandbox: env.netns.as_ref().map(|p| p.display().to_string()),
        pci_id: crate::sysfs::pci_address(&device.id),
        ..Interface::default()
    };
    let ipam = Ipam::of(env, conf);
    let outcome = build_result(conf, iface, &[]).and_then(|mut result| {
        if let Some(ipam) = &ipam {
            merge_ipam(&mut result, ipam.add()?);
        }
        result.check_expressible(conf.cni_version).map(|()| result)
    });
    let saved = outcome.and_then(|result| {
        rec.phase = Phase::Attached;
        store.save(&rec).map(|()| result)
    });
    if saved.is_err() {
        if let Some(ipam) = &ipam {
            let _ = ipam.call("DEL");
        }
        let _ = store.remove(&rec);
    }
    saved
}

fn move_error(e: crate::netlink::NlError, rec: &Record, ifname: &str) -> Error {
    let code = if e.is(Errno::EEXIST) {
        code::NAME_CLASH
    } else if e.is(Errno::EINVAL) {
        code::DEVICE_IMMOVABLE
    } else {
        code::KERNEL
    };
    Error::new(code, e.during(format!("move {} into the container as {ifname}", rec.host.name)).to_string())
}

/// The container's namespace and the host's, for what must be opened
/// inside the container (sockets, sysctls).
#[derive(Clone, Copy)]
struct Namespaces<'a> {
    ctr: BorrowedFd<'a>,
    host: BorrowedFd<'a>,
}

/// Inside the container: re-add the addresses and bring the link up, in
/// one batch. Returns the link's index there.
fn configure(ctr: &mut Socket, ns: Namespaces, ifname: &str, addrs: &[Addr], result: &mut CniResult) -> Result<u32> {
    let link = ctr.link_by_name(ifname).map_err(kernel_error("look up the moved interface"))?.ok_or_else(|| {
        Error::new(code::KERNEL, format!("{ifname} vanished from the container right after the move"))
    })?;
    let addrs = unexpired(addrs);
    let mut requests = add_requests(link.index, ifname, &addrs);
    requests.push(up_request(link.index));
    let mut refused = Vec::new();
    for (pos, e) in ctr.batch(requests).map_err(kernel_error("configure the interface in the container"))? {
        match addrs.get(pos) {
            // The container has IPv6 disabled: enabled below, on this interface only.
            Some(a) if e.is(Errno::EACCES) && a.address.is_ipv6() => refused.push(a.clone()),
            Some(a) => return Err(kernel_error(&format!("add address {} to {ifname}", a.address))(e)),
            None => return Err(kernel_error(&format!("set {ifname} up"))(e)),
        }
    }
    if !refused.is_empty() {
        add_ipv6(ctr, ns, link.index, ifname, &refused, result);
    }
    info!("{ifname} is up in the container (index {}) with {} addresses", link.index, result.ips.len());
    Ok(link.index)
}

/// Enables IPv6 on our interface in a container that has it disabled, and
/// adds the IPv6 addresses it refused. What still fails stays off the
/// interface and out of the result, with a warning.
fn add_ipv6(ctr: &mut Socket, ns: Namespaces, index: u32, ifname: &str, addrs: &[Addr], result: &mut CniResult) {
    info!("IPv6 is disabled in the container; enabling it on {ifname}");
    let failures = enable_ipv6(ns.ctr, ns.host, ifname)
        .and_then(|()| ctr.batch(add_requests(index, ifname, addrs)))
        .map(|f| f.into_iter().filter_map(|(pos, e)| addrs.get(pos).map(|a| (a.address, e))).collect())
        .unwrap_or_else(|e| addrs.iter().map(|a| (a.address, e.clone())).collect::<Vec<_>>());
    for (address, e) in failures {
        warn!("{address} stays off {ifname}: {e}");
        result.ips.retain(|ip| ip.address != address);
    }
}

/// Applies what IPAM handed out to our interface, and adds it to the result.
/// IPv6 addresses are usable when ADD returns: like the upstream plugins,
/// it waits for duplicate address detection to settle (a fresh address may
/// clash on the link, unlike one the host had already checked).
fn apply_ipam(
    ctr: &mut Socket,
    ns: Namespaces,
    index: u32,
    ifname: &str,
    got: CniResult,
    result: &mut CniResult,
) -> Result<()> {
    let addrs: Vec<Addr> = got.ips.iter().map(|ip| Addr::plain(ip.address)).collect();
    let v6 = addrs.iter().any(|a| a.address.is_ipv6());
    if v6 {
        enable_ipv6(ns.ctr, ns.host, ifname).map_err(kernel_error(&format!("enable IPv6 on {ifname}")))?;
    }
    let mut requests = add_requests(index, ifname, &addrs);
    requests.extend(route::add_requests(index, &got.routes.iter().map(kernel_route).collect::<Vec<_>>()));
    if let Some((pos, e)) = ctr.batch(requests).map_err(kernel_error("apply the IPAM result"))?.into_iter().next() {
        let what = match addrs.get(pos) {
            Some(a) => format!("add IPAM address {} to {ifname}", a.address),
            None => format!("add IPAM route {}", got.routes[pos - addrs.len()].dst),
        };
        return Err(kernel_error(&what)(e));
    }
    if v6 {
        let ips: Vec<IpAddr> = addrs.iter().map(|a| a.address.ip()).collect();
        settle(ctr, index, ifname, &ips)?;
    }
    info!("IPAM gave {ifname} {} addresses and {} routes", addrs.len(), got.routes.len());
    merge_ipam(result, got);
    Ok(())
}

/// How long IPv6 duplicate address detection may take, as upstream allows.
const DAD_WAIT: Duration = Duration::from_secs(10);
const DAD_POLL: Duration = Duration::from_millis(20);

/// Waits until none of `ips` on link `index` is tentative; an address
/// that failed DAD is another node's, an error.
fn settle(ctr: &mut Socket, index: u32, ifname: &str, ips: &[IpAddr]) -> Result<()> {
    let deadline = Instant::now() + DAD_WAIT;
    loop {
        let mut unsettled = ctr.unsettled(index).map_err(kernel_error(&format!("read the addresses of {ifname}")))?;
        unsettled.retain(|(ip, _)| ips.contains(ip));
        if let Some((ip, _)) = unsettled.iter().find(|(_, failed)| *failed) {
            return Err(Error::new(
                code::IPAM,
                format!("IPAM address {ip} on {ifname} failed duplicate address detection: another node uses it"),
            ));
        }
        if unsettled.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::new(
                code::IPAM,
                format!("IPAM address {} on {ifname} is still tentative after {DAD_WAIT:?}", unsettled[0].0),
            ));
        }
        std::thread::sleep(DAD_POLL);
    }
}

/// Adds IPAM's answer to the result, its addresses on our interface (the
/// last one).
fn merge_ipam(result: &mut CniResult, got: CniResult) {
    let ours = result.interfaces.len() - 1;
    result.ips.extend(got.ips.into_iter().map(|ip| IpConfig { interface: Some(ours), ..ip }));
    result.routes.extend(got.routes);
    if !got.dns.is_empty() {
        result.dns = got.dns;
    }
}

/// Our interface as the result reports it.
fn netdev_interface(env: &Env, link: &Link) -> Interface {
    Interface {
        name: env.ifname.clone(),
        mac: link.mac.clone(),
        mtu: Some(link.mtu),
        sandbox: env.netns.as_ref().map(|p| p.display().to_string()),
        ..Interface::default()
    }
}

/// The ADD result: chained onto prevResult when there is one, with `iface`
/// appended and `addrs` on it.
fn build_result(conf: &NetConf, iface: Interface, addrs: &[Addr]) -> Result<CniResult> {
    let mut result = match &conf.prev_result {
        Some(prev) => CniResult::from_json(prev)?,
        None => CniResult::default(),
    };
    let index = result.interfaces.len();
    result.interfaces.push(iface);
    result.ips.extend(addrs.iter().map(|a| IpConfig::on(a.address, index)));
    if let Some(dns) = &conf.dns {
        result.dns = dns.clone();
    }
    Ok(result)
}

/// After a failed move or configuration: the interface goes home as DEL
/// would take it, and the record goes only once it is home.
fn roll_back(host: &mut Host, ctr: &mut Container, store: &Store, rec: Record) {
    let name = rec.host.name.clone();
    if let Err(e) = home::finish(host, Some(ctr), store, rec) {
        warn!("rollback of {name} failed, the record stays for DEL: {e}");
    }
}

/// An IPAM route as the kernel takes it, marked as made by a tool.
fn kernel_route(r: &crate::cni::result::Route) -> route::NewRoute {
    route::NewRoute {
        dst: r.dst,
        gw: r.gw,
        metric: r.priority,
        table: r.table,
        scope: r.scope,
        mtu: r.mtu,
        advmss: r.advmss,
        protocol: route::RTPROT_BOOT,
    }
}
