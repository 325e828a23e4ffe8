//! ADD, as a list of steps: open the attachment, claim the device (select,
//! check, snapshot, record), move it in with one message, configure it in
//! the container, run IPAM, commit. Any failure after the claim goes
//! through one undo, which knows how far the steps got.

mod carry;
mod claim;
mod configure;
mod guard;
mod result;

use std::os::fd::AsFd;

use crate::cmd::settings::{Plan, apply_in_pod, refused_size};
use crate::cmd::{Container, Host, attachment, home, open_netns};
use crate::cni::config::Unprovable;
use crate::cni::ipam::Ipam;
use crate::cni::result::Interface;
use crate::cni::{CniResult, Env, Error, NetConf, Result, code};
use crate::failpoint;
use crate::netlink::Addr;
use crate::netlink::addr::unexpired;
use crate::state::{Key, KeyLock, Phase, Record, Store};
use crate::{info, warn};

use configure::{Namespaces, apply_ipam, configure, move_error};
use result::{build_result, merge_ipam, netdev_interface};

/// One ADD: what it works on.
struct Attachment<'a> {
    env: &'a Env,
    conf: &'a NetConf,
    store: &'a Store,
    host: Host,
    ctr: Container,
    key: Key,
    /// The declared settings, resolved against the device by the claim.
    plan: Plan,
}

/// How far the steps got, for the undo.
#[derive(Default)]
struct Progress {
    /// IPAM handed something out: it must be released.
    ipam_added: bool,
    /// The host may have changed: the VF's state was written through its
    /// PF, or the move was asked for and the device may be in the container.
    changed: bool,
}

pub fn add(env: &Env, conf: &NetConf) -> Result<CniResult> {
    let store = Store::open(&conf.data_dir)?;
    let added = add_in(env, conf, &store);
    crate::datadir::warn_if_not_hosts(&store); // where records are made
    added
}

fn add_in(env: &Env, conf: &NetConf, store: &Store) -> Result<CniResult> {
    let mut att = Attachment::open(env, conf, store)?;
    // Held to the end: no DEL, GC or CHECK of this attachment runs against
    // a half-done ADD.
    let _lock: KeyLock = store.lock_key(&att.key)?;
    let mut rec = claim::claim(&mut att)?;
    let mut progress = Progress::default();
    let done = if rec.userspace.is_some() {
        att.userspace(&mut rec, &mut progress)
    } else {
        att.netdev(&mut rec, &mut progress)
    };
    done.inspect_err(|_| att.undo(rec, &progress))
}

impl<'a> Attachment<'a> {
    /// Opens both sides: the container's namespace (which must not be the
    /// host's own) and the host's, and gives parked interfaces their names.
    fn open(env: &'a Env, conf: &'a NetConf, store: &'a Store) -> Result<Attachment<'a>> {
        let netns_path = env.netns.as_deref().expect("ADD requires CNI_NETNS");
        let ctr_ns = open_netns(netns_path)?;
        let mut host = Host::open()?;
        if ctr_ns.same_as(&host.ns) {
            return Err(Error::new(
                code::BAD_NETNS,
                format!("CNI_NETNS {} is the host's own network namespace", netns_path.display()),
            ));
        }
        home::unpark_all(&mut host, store);
        let ctr = Container::open(ctr_ns, &host)?;
        Ok(Attachment { env, conf, store, host, ctr, key: attachment(env, conf), plan: Plan::default() })
    }

    /// The steps for a network interface.
    fn netdev(&mut self, rec: &mut Record, progress: &mut Progress) -> Result<CniResult> {
        let addrs = carried(self.conf, &rec.addrs);
        let (mut result, slot) = build_result(self.conf, netdev_interface(self.env, &self.in_pod(rec)), &addrs)?;
        if self.conf.ipam.is_none() {
            // Final already: refused before anything moves (the undo drops the record).
            result.check_expressible(self.conf.cni_version)?;
        }
        failpoint::hit("add-after-record");
        // A VF's state goes through its PF before the move: a failure has something to put back.
        progress.changed = rec.vf.is_some();
        let pci = self.pci_device(rec, &mut result.interfaces[slot])?;
        failpoint::hit("add-after-vf");
        progress.changed = true;
        let vf = rec.vf.is_some();
        failpoint::pause("add-before-move");
        self.move_in(rec).inspect_err(|_| progress.changed = vf || !self.still_home(rec))?;
        rec.parked_as = None; // in the container now, no longer parked on the host
        failpoint::hit("add-after-move");
        apply_in_pod(&self.ctr, &self.host, &self.env.ifname, &self.plan)?;
        let index = self.configure(&addrs, &mut result)?;
        if self.conf.use_interface_network == Some(true) {
            carry::carry(&mut self.ctr.sock, rec, index, &self.env.ifname)?;
        }
        failpoint::hit("add-after-addresses");
        self.run_ipam(index, &mut result, slot, progress)?;
        failpoint::hit("add-after-ipam");
        rec.container_index = Some(index);
        if let (Some(path), Some((pci, pf))) = (&rec.device_info, &pci) {
            crate::devinfo::write(path, pci, pf.as_deref());
        }
        self.commit(rec, &result)?;
        Ok(result)
    }

    /// A PCI function's part, on the host before the move: the VF state
    /// the config declares, set through the PF; its PCI address (and its
    /// PF's) for the result's `pciID` and the device-info file.
    fn pci_device(&mut self, rec: &Record, iface: &mut Interface) -> Result<Option<(String, Option<String>)>> {
        if let Some(vf) = &rec.vf {
            crate::vf::apply(&mut self.host.sock, vf, &self.conf.vf, &rec.host)?;
            if let Some(mac) = &self.conf.vf.mac {
                iface.mac = mac.clone();
            }
        }
        let sysfs = crate::sysfs::Sysfs::from_env();
        let Some(pci) = crate::vf::pci_of(&sysfs, &rec.host) else { return Ok(None) };
        let pf = match &rec.vf {
            Some(vf) => Some(vf.vf.pf_pci.clone()),
            None => crate::vf::Vf::of(&sysfs, &rec.host).ok().flatten().map(|vf| vf.pf_pci),
        };
        iface.pci_id = Some(pci.clone());
        Ok(Some((pci, pf)))
    }

    /// The one RTM_NEWLINK that moves the device in under CNI_IFNAME,
    /// with the declared MTU, MAC, queue length and GSO/GRO sizes (the
    /// kernel applies them in the container, after the move).
    fn move_in(&mut self, rec: &Record) -> Result<()> {
        let (env, ifname) = (self.env, &self.env.ifname);
        let target = env.sandbox().unwrap_or_default();
        info!("moving the interface into the container"; device = rec.host.name, index = rec.host.index, netns = target);
        let change = &self.plan.link;
        self.host
            .sock
            .move_link_with(rec.host.index, self.ctr.ns.as_fd(), ifname, change)
            .map_err(|e| refused_size(&e, &self.plan).unwrap_or_else(|| move_error(e, rec, ifname)))
    }

    /// The device as the pod gets it: with the declared MAC and MTU.
    fn in_pod(&self, rec: &Record) -> crate::netlink::Link {
        let change = &self.plan.link;
        crate::netlink::Link {
            mac: change.mac.clone().unwrap_or_else(|| rec.host.mac.clone()),
            mtu: change.mtu.unwrap_or(rec.host.mtu),
            ..rec.host.clone()
        }
    }

    /// Whether the device is still on the host as it was claimed (a move
    /// the kernel refused outright, without CAP_NET_ADMIN say): at its
    /// index, under its name, in no namespace but the host's.
    fn still_home(&mut self, rec: &Record) -> bool {
        let here = self.host.sock.link_by_index(rec.host.index);
        here.is_ok_and(|l| l.is_some_and(|l| l.name == rec.host.name || Some(&l.name) == rec.parked_as.as_ref()))
    }

    /// Addresses and link state inside the container; the link's index there.
    fn configure(&mut self, addrs: &[Addr], result: &mut CniResult) -> Result<u32> {
        let ns = Namespaces { ctr: self.ctr.ns.as_fd(), host: self.host.ns.as_fd() };
        configure(&mut self.ctr.sock, ns, &self.env.ifname, addrs, result)
    }

    /// IPAM's addresses and routes, when the config has IPAM, on interface
    /// `index` in the container and on entry `slot` of the result.
    fn run_ipam(&mut self, index: u32, result: &mut CniResult, slot: usize, progress: &mut Progress) -> Result<()> {
        let Some(ipam) = Ipam::of(self.env, self.conf) else { return Ok(()) };
        let got = ipam.add()?; // a failed IPAM ADD releases what it took itself
        progress.ipam_added = true;
        let ns = Namespaces { ctr: self.ctr.ns.as_fd(), host: self.host.ns.as_fd() };
        apply_ipam(&mut self.ctr.sock, ns, index, &self.env.ifname, &got)?;
        merge_ipam(result, got, slot);
        Ok(())
    }

    /// The result must be expressible in the runtime's version; then the
    /// record says the attachment is complete.
    fn commit(&self, rec: &mut Record, result: &CniResult) -> Result<()> {
        result.check_expressible(self.conf.cni_version)?;
        rec.phase = Phase::Attached;
        Ok(self.store.save(rec)?)
    }

    /// A device bound to a userspace driver (DPDK) has no network interface:
    /// nothing moves, IPAM still runs, and the result names the device as
    /// CNI_IFNAME, with `pciID` only when it has a PCI address: the spec
    /// defines that field as one, and an auxiliary device has none.
    fn userspace(&mut self, rec: &mut Record, progress: &mut Progress) -> Result<CniResult> {
        let device = rec.userspace.clone().expect("a userspace record");
        info!("the device is bound to a userspace driver: nothing to move"; device = device.id, driver = device.driver);
        let iface = Interface {
            name: self.env.ifname.clone(),
            sandbox: self.env.sandbox(),
            pci_id: crate::sysfs::pci_address(&device.id),
            ..Interface::default()
        };
        let (mut result, slot) = build_result(self.conf, iface, &[])?;
        if let Some(ipam) = Ipam::of(self.env, self.conf) {
            let got = ipam.add()?;
            progress.ipam_added = true;
            merge_ipam(&mut result, got, slot);
        }
        self.commit(rec, &result)?;
        Ok(result)
    }

    /// The one undo: IPAM's allocation is released if IPAM handed one out,
    /// and the interface goes home as DEL would take it (the record goes
    /// only once it is home; a userspace device never moved).
    fn undo(&mut self, mut rec: Record, progress: &Progress) {
        if progress.ipam_added
            && let Some(ipam) = Ipam::of(self.env, self.conf)
            && let Err(e) = ipam.call("DEL")
        {
            warn!("releasing the IPAM allocation after a failed ADD failed: {e}");
        }
        // Nothing moved, nothing changed: the record and its claim go, so
        // that no other pod is refused the device. (A parked device keeps
        // the usual way: its record alone knows its true name.)
        if !progress.changed && rec.parked_as.is_none() {
            info!("nothing was moved: dropping the record"; device = rec.host.name);
            if let Err(e) = self.store.remove(&rec) {
                warn!("dropping the record of {} failed: {e}", rec.host.name);
            }
            return;
        }
        // A device left to the container on DEL was never the container's:
        // a failed ADD brings it home, as it would a trusted one.
        if rec.unprovable.is_some() {
            rec.unprovable = Some(Unprovable::TrustContainer);
        }
        let name = rec.host.name.clone();
        if let Err(e) = home::finish(&mut self.host, Some(&mut self.ctr), self.store, rec) {
            warn!("rollback of {name} failed, the record stays for DEL: {e}");
        }
    }
}

/// The host addresses the pod gets: none when `useInterfaceNetwork` is
/// false; else those whose lifetime has not run out since the snapshot,
/// each permanent in the pod. Nobody renews a lease there (the host's DHCP
/// client lost the interface): an address that expired in the pod would
/// cut it off unannounced. The host's copy comes home with what is left
/// of its lifetime.
fn carried(conf: &NetConf, addrs: &[Addr]) -> Vec<Addr> {
    if !conf.carries_addresses() {
        return Vec::new();
    }
    let addrs = unexpired(addrs);
    for a in addrs.iter().filter(|a| a.lifetime.is_some()) {
        warn!(
            "{} has a finite lifetime on the host; it is permanent in the container, where nobody renews it",
            a.address
        );
    }
    addrs.into_iter().map(|a| Addr { lifetime: None, ..a }).collect()
}
