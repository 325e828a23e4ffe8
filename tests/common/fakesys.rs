//! A fake sysfs tree for the tests of sysfs-based features, which the
//! binary reads through HOSTDEV_SYSFS_ROOT (a `test-hooks` build only).

use std::os::unix::fs::symlink;
use std::path::PathBuf;

use super::World;

/// A fake sysfs tree under the world's temp dir, shaped like the real one:
/// devices live under devices/, and bus/*/devices/ entries link to them.
pub struct FakeSys {
    pub root: PathBuf,
}

impl FakeSys {
    pub fn new(w: &World) -> FakeSys {
        let root = w.tmp.join("sys");
        std::fs::create_dir_all(root.join("devices")).unwrap();
        FakeSys { root }
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    /// Device directory `dev` (relative to the root) with `net/<name>/`
    /// entries.
    pub fn netdevs(&self, dev: &str, names: &[&str]) {
        self.mkdir(dev);
        for n in names {
            self.mkdir(&format!("{dev}/net/{n}"));
        }
    }

    /// PCI function `addr` under devices/pci0000:00/ with the given
    /// interfaces, linked from bus/pci/devices/ as the kernel does.
    pub fn pci(&self, addr: &str, names: &[&str]) -> String {
        let dev = format!("devices/pci0000:00/{addr}");
        self.netdevs(&dev, names);
        self.mkdir("bus/pci/devices");
        symlink(format!("../../../{dev}"), self.root.join("bus/pci/devices").join(addr)).unwrap();
        format!("/sys/{dev}")
    }

    /// Binds device directory `dev` to `driver` (a `driver` symlink).
    pub fn bind(&self, dev: &str, driver: &str) {
        self.mkdir(&format!("bus/pci/drivers/{driver}"));
        let depth = dev.split('/').count();
        symlink(format!("{}bus/pci/drivers/{driver}", "../".repeat(depth)), self.root.join(dev).join("driver"))
            .unwrap();
    }
}

impl FakeSys {
    /// PCI function `addr` as a device on the PCI bus (a `subsystem` link),
    /// reached from `class/net/<name>/device` as the kernel links it.
    pub fn pci_netdev(&self, addr: &str, name: &str) {
        self.pci(addr, &[name]);
        self.mkdir("bus/pci");
        symlink("../../../../bus/pci", self.root.join(format!("devices/pci0000:00/{addr}/subsystem"))).unwrap();
        self.mkdir("class/net");
        let class = self.root.join("class/net").join(name);
        std::fs::create_dir_all(&class).unwrap();
        symlink(format!("../../../devices/pci0000:00/{addr}"), class.join("device")).unwrap();
    }

    /// Makes PCI function `vf` VF number `n` of PF `pf` (`physfn`, `virtfnN`).
    pub fn vf(&self, pf: &str, n: u32, vf: &str) {
        let dev = |a: &str| self.root.join(format!("devices/pci0000:00/{a}"));
        symlink(format!("../{pf}"), dev(vf).join("physfn")).unwrap();
        symlink(format!("../{vf}"), dev(pf).join(format!("virtfn{n}"))).unwrap();
    }

    /// The environment variable that points the binary at this tree.
    pub fn env(&self) -> (&'static str, String) {
        ("HOSTDEV_SYSFS_ROOT", self.root.to_string_lossy().into_owned())
    }
}
