//! Reading the sysfs device tree: which network interfaces a PCI, auxiliary
//! or kernel-path device has, and which driver it is bound to. No netlink
//! and no CNI errors here: `device.rs` turns these facts into a selection.
//!
//! The root is "/sys". Only a binary built with the `test-hooks` feature
//! reads HOSTDEV_SYSFS_ROOT, so tests can point it at a fake tree; it is not
//! a config key.

use std::io;
use std::path::{Component, Path, PathBuf};

/// Drivers that hand a PCI device to user space (DPDK and friends): such a
/// device has no kernel network interface, by design.
pub const USERSPACE_DRIVERS: &[&str] = &["vfio-pci", "uio_pci_generic", "igb_uio"];

/// True for a userspace driver: the list above, plus the vendor VFIO
/// variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, ...).
pub fn is_userspace_driver(driver: &str) -> bool {
    USERSPACE_DRIVERS.contains(&driver) || driver.ends_with("_vfio_pci")
}

/// A sysfs tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysfs {
    root: PathBuf,
}

/// What a device directory offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceNet {
    /// The directory does not exist.
    Missing,
    /// The names in its `net/` (or, for virtio, `virtio*/net/`), sorted.
    /// Empty when it has none (and then `driver` says why, if it can).
    Netdevs { names: Vec<String>, driver: Option<String> },
}

impl Default for Sysfs {
    fn default() -> Sysfs {
        Sysfs::new("/sys")
    }
}

impl Sysfs {
    pub fn new(root: impl Into<PathBuf>) -> Sysfs {
        Sysfs { root: root.into() }
    }

    /// "/sys", or HOSTDEV_SYSFS_ROOT in a `test-hooks` build.
    pub fn from_env() -> Sysfs {
        #[cfg(feature = "test-hooks")]
        if let Some(root) = std::env::var_os("HOSTDEV_SYSFS_ROOT").filter(|r| !r.is_empty()) {
            return Sysfs::new(root);
        }
        Sysfs::default()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/bus/pci/devices/<addr>`; `addr` must be a checked PCI address.
    pub fn pci_device(&self, addr: &str) -> PathBuf {
        self.root.join("bus/pci/devices").join(addr)
    }

    /// `<root>/bus/auxiliary/devices/<id>`; `id` must be a checked name.
    pub fn aux_device(&self, id: &str) -> PathBuf {
        self.root.join("bus/auxiliary/devices").join(id)
    }

    /// The directory a `kernelpath` value names, inside this tree. The value
    /// must be absolute and, once `.` and `..` are resolved (lexically: the
    /// way a user reads it), lie strictly under /sys/devices/; and once
    /// symlinks are followed, still under `<root>/devices`. Err says why not.
    pub fn kernel_path(&self, value: &str) -> Result<PathBuf, String> {
        let rel = devices_relative(value)?;
        let dir = self.root.join("devices").join(&rel);
        if let (Ok(real), Ok(base)) = (dir.canonicalize(), self.root.join("devices").canonicalize())
            && (!real.starts_with(&base) || real == base)
        {
            return Err(format!("it leads outside /sys/devices/ (to {})", real.display()));
        }
        Ok(dir)
    }
}

/// The network interfaces device directory `dev` holds.
pub fn device_net(dev: &Path) -> io::Result<DeviceNet> {
    match std::fs::metadata(dev) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Ok(DeviceNet::Missing),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(DeviceNet::Missing),
        Err(e) => return Err(e),
    }
    let mut names = entries(&dev.join("net"))?;
    if names.is_empty() {
        // virtio-net: the PCI function holds a virtioN device that holds net/.
        for virtio in entries(dev)?.into_iter().filter(|n| n.starts_with("virtio")) {
            names.extend(entries(&dev.join(virtio).join("net"))?);
        }
    }
    names.sort();
    names.dedup();
    let driver = if names.is_empty() { driver(dev) } else { None };
    Ok(DeviceNet::Netdevs { names, driver })
}

/// The driver `dev` is bound to: the last component of its `driver` link.
pub fn driver(dev: &Path) -> Option<String> {
    let target = std::fs::read_link(dev.join("driver")).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The bus and name of device directory `dev` (as netlink reports a link's
/// parent: "pci", "0000:03:00.1"), from its `subsystem` link and its real
/// path; None when it is not a device on a bus.
pub fn bus_device(dev: &Path) -> Option<(String, String)> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let bus = name(&std::fs::read_link(dev.join("subsystem")).ok()?)?;
    Some((bus, name(&dev.canonicalize().ok()?)?))
}

/// The names in directory `dir`; none when it does not exist.
fn entries(dir: &Path) -> io::Result<Vec<String>> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut names = Vec::new();
    for entry in rd {
        names.push(entry?.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}

/// `value` (an absolute path) as a path relative to /sys/devices, after
/// resolving `.` and `..` lexically.
fn devices_relative(value: &str) -> Result<PathBuf, String> {
    if !value.starts_with('/') {
        return Err("it must be an absolute path".into());
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(value).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str().expect("a &str path is UTF-8")),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    match parts.as_slice() {
        ["sys", "devices", rest @ ..] if !rest.is_empty() => Ok(rest.iter().collect()),
        _ => Err(format!("it must lie under /sys/devices/, and it resolves to /{}", parts.join("/"))),
    }
}

/// A PCI address as sysfs spells it (lowercase, with its domain), or None.
/// Accepts `DDDD:BB:DD.F`, with a domain of 4 or more hex digits.
pub fn pci_address(s: &str) -> Option<String> {
    let (domain, rest) = s.split_once(':')?;
    let (bus, rest) = rest.split_once(':')?;
    let (dev, func) = rest.split_once('.')?;
    let hex =
        |p: &str, min: usize, max: usize| (min..=max).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_hexdigit());
    let ok = hex(domain, 4, 8)
        && hex(bus, 2, 2)
        && hex(dev, 2, 2)
        && func.len() == 1
        && matches!(func.as_bytes()[0], b'0'..=b'7');
    ok.then(|| s.to_ascii_lowercase())
}

/// True when `s` can name an entry of a sysfs directory: not empty, no
/// `/`, no NUL, not `.` or `..`.
pub fn is_entry_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '\0'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tmp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hostdev-sysfs-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn kernelpath_must_stay_under_sys_devices() {
        let ok = |v: &str| devices_relative(v).unwrap();
        assert_eq!(ok("/sys/devices/pci0000:00/0000:03:00.1"), PathBuf::from("pci0000:00/0000:03:00.1"));
        assert_eq!(
            ok("/sys/devices/pci0000:00/../pci0000:00/./0000:03:00.1/"),
            PathBuf::from("pci0000:00/0000:03:00.1")
        );
        assert_eq!(ok("//sys//devices/x"), PathBuf::from("x"));
        for bad in [
            "sys/devices/x",
            "/sys/devices",
            "/sys/devices/",
            "/sys/devices/x/..",
            "/sys/devices/../class/net/eth0",
            "/sys/devices/../../sys/bus/pci",
            "/sys/class/net/eth0",
            "/etc/passwd",
            "/../sys/bus/x",
            "",
        ] {
            assert!(devices_relative(bad).is_err(), "{bad:?} accepted");
        }
        // `..` above the root stays at the root, as the kernel resolves it.
        assert_eq!(ok("/../../sys/devices/x"), PathBuf::from("x"));
    }

    #[test]
    fn kernelpath_symlinks_must_not_escape() {
        let root = tmp("escape");
        std::fs::create_dir_all(root.join("devices/pci0000:00/0000:03:00.1/net/h1")).unwrap();
        std::fs::create_dir_all(root.join("bus/pci/drivers/vfio-pci")).unwrap();
        symlink("../../../bus/pci/drivers/vfio-pci", root.join("devices/pci0000:00/0000:03:00.1/driver")).unwrap();
        let s = Sysfs::new(&root);
        assert_eq!(
            s.kernel_path("/sys/devices/pci0000:00/0000:03:00.1").unwrap(),
            root.join("devices/pci0000:00/0000:03:00.1")
        );
        let e = s.kernel_path("/sys/devices/pci0000:00/0000:03:00.1/driver").unwrap_err();
        assert!(e.contains("outside"), "{e}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn bus_device_reads_subsystem_and_real_name() {
        let root = tmp("bus");
        let dev = root.join("devices/pci0000:00/0000:03:00.1");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(root.join("bus/pci")).unwrap();
        symlink("../../../bus/pci", dev.join("subsystem")).unwrap();
        symlink("pci0000:00/0000:03:00.1", root.join("devices/alias")).unwrap();
        let want = Some(("pci".to_string(), "0000:03:00.1".to_string()));
        assert_eq!(bus_device(&dev), want);
        assert_eq!(bus_device(&root.join("devices/alias")), want, "through a symlink: the real name");
        assert_eq!(bus_device(&root.join("devices/pci0000:00")), None, "no subsystem: no device");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn pci_addresses() {
        assert_eq!(pci_address("0000:03:00.1").as_deref(), Some("0000:03:00.1"));
        assert_eq!(pci_address("0000:AF:1f.7").as_deref(), Some("0000:af:1f.7"));
        assert_eq!(pci_address("10000:01:00.0").as_deref(), Some("10000:01:00.0"));
        for bad in [
            "",
            "03:00.1",
            "0000:03:00.8",
            "0000:03:00",
            "0000:3:00.1",
            "0000:03:00.1/..",
            "../0000:03:00.1",
            "mlx5_core.sf.4",
        ] {
            assert!(pci_address(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn entry_names() {
        assert!(is_entry_name("mlx5_core.sf.4"));
        for bad in ["", ".", "..", "a/b", "a\0"] {
            assert!(!is_entry_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn device_net_reads_net_virtio_and_driver() {
        let root = tmp("net");
        let s = Sysfs::new(&root);
        let pci = |a: &str| s.pci_device(a);
        std::fs::create_dir_all(pci("0000:03:00.1").join("net/h1")).unwrap();
        std::fs::create_dir_all(pci("0000:03:00.2").join("net/b")).unwrap();
        std::fs::create_dir_all(pci("0000:03:00.2").join("net/a")).unwrap();
        std::fs::create_dir_all(pci("0000:00:04.0").join("virtio3/net/v1")).unwrap();
        std::fs::create_dir_all(pci("0000:03:00.3")).unwrap();
        std::fs::create_dir_all(root.join("bus/pci/drivers/vfio-pci")).unwrap();
        symlink("../../../../bus/pci/drivers/vfio-pci", pci("0000:03:00.3").join("driver")).unwrap();
        let net = |a: &str| device_net(&pci(a)).unwrap();
        let netdevs = |names: &[&str], driver: Option<&str>| DeviceNet::Netdevs {
            names: names.iter().map(|n| n.to_string()).collect(),
            driver: driver.map(str::to_string),
        };
        assert_eq!(net("0000:03:00.1"), netdevs(&["h1"], None));
        assert_eq!(net("0000:03:00.2"), netdevs(&["a", "b"], None));
        assert_eq!(net("0000:00:04.0"), netdevs(&["v1"], None));
        assert_eq!(net("0000:03:00.3"), netdevs(&[], Some("vfio-pci")));
        assert_eq!(net("0000:09:00.0"), DeviceNet::Missing);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn userspace_drivers() {
        for d in ["vfio-pci", "uio_pci_generic", "igb_uio", "mlx5_vfio_pci"] {
            assert!(is_userspace_driver(d), "{d}");
        }
        for d in ["mlx5_core", "ixgbe", "virtio-pci", "vfio"] {
            assert!(!is_userspace_driver(d), "{d}");
        }
    }
}
