//! ADD, as a list of steps: open the attachment, claim the device (select,
//! check, snapshot, record), move it in with one message, configure it in
//! the container, run IPAM, commit. Any failure after the claim goes
//! through one undo, which knows how far the steps got.

mod claim;
mod configure;
mod guard;
mod result;

use std::os::fd::AsFd;

use crate::cmd::{Container, Host, attachment, home, open_netns};
use crate::cni::ipam::Ipam;
use crate::cni::result::Interface;
use crate::cni::{CniResult, Env, Error, NetConf, Result, code};
use crate::failpoint;
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
}

/// How far the steps got, for the undo.
#[derive(Default)]
struct Progress {
    /// IPAM handed something out: it must be released.
    ipam_added: bool,
}

pub fn add(env: &Env, conf: &NetConf) -> Result<CniResult> {
    let store = Store::open(&conf.data_dir)?;
    let mut att = Attachment::open(env, conf, &store)?;
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
        Ok(Attachment { env, conf, store, host, ctr, key: attachment(env, conf) })
    }

    /// The steps for a network interface.
    fn netdev(&mut self, rec: &mut Record, progress: &mut Progress) -> Result<CniResult> {
        // An address whose lifetime ran out since the snapshot is neither
        // added nor reported.
        let addrs = unexpired(&rec.addrs);
        let (mut result, slot) = build_result(self.conf, netdev_interface(self.env, &rec.host), &addrs)?;
        failpoint::hit("add-after-record");
        let pci = self.pci_device(rec, &mut result.interfaces[slot])?;
        failpoint::hit("add-after-vf");
        self.move_in(rec)?;
        rec.parked_as = None; // in the container now, no longer parked on the host
        failpoint::hit("add-after-move");
        let index = self.configure(rec, &mut result)?;
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

    /// The one RTM_NEWLINK that moves the device in under CNI_IFNAME.
    fn move_in(&mut self, rec: &Record) -> Result<()> {
        let (env, ifname) = (self.env, &self.env.ifname);
        let target = env.sandbox().unwrap_or_default();
        info!("moving the interface into the container"; device = rec.host.name, index = rec.host.index, netns = target);
        self.host.sock.move_link(rec.host.index, self.ctr.ns.as_fd(), ifname).map_err(|e| move_error(e, rec, ifname))
    }

    /// Addresses and link state inside the container; the link's index there.
    fn configure(&mut self, rec: &Record, result: &mut CniResult) -> Result<u32> {
        let ns = Namespaces { ctr: self.ctr.ns.as_fd(), host: self.host.ns.as_fd() };
        configure(&mut self.ctr.sock, ns, &self.env.ifname, &rec.addrs, result)
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
        self.store.save(rec)
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
    fn undo(&mut self, rec: Record, progress: &Progress) {
        if progress.ipam_added
            && let Some(ipam) = Ipam::of(self.env, self.conf)
            && let Err(e) = ipam.call("DEL")
        {
            warn!("releasing the IPAM allocation after a failed ADD failed: {e}");
        }
        let name = rec.host.name.clone();
        if let Err(e) = home::finish(&mut self.host, Some(&mut self.ctr), self.store, rec) {
            warn!("rollback of {name} failed, the record stays for DEL: {e}");
        }
    }
}
