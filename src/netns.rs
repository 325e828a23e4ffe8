//! Opening network namespace handles and making sure they are one.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::libc;
use nix::sys::stat::{Mode, SFlag, fstat};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

/// A namespace's identity: the device and inode of its nsfs file, which
/// no container can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NsIdentity {
    pub dev: u64,
    pub ino: u64,
}

nix::ioctl_none!(ns_get_nstype, 0xb7, 0x3);

/// SO_NETNS_COOKIE (Linux 5.14; not in nix): the 64-bit number the kernel
/// gives a network namespace at its birth and never gives again until the
/// machine restarts. The nsfs inode is no such thing: once a namespace has
/// died, a newer one can get its inode (seen here under load).
const SO_NETNS_COOKIE: libc::c_int = 71;

/// A datagram socket in this thread's network namespace.
fn unix_socket() -> Option<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; a valid fd is owned from here.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    // SAFETY: fd is a new descriptor nobody else owns.
    (fd >= 0).then(|| unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// The cookie of the namespace socket `fd` was made in.
pub fn cookie_of_socket(fd: std::os::fd::RawFd) -> Option<u64> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `cookie`.
    let rc = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, SO_NETNS_COOKIE, (&raw mut cookie).cast(), &raw mut len) };
    (rc == 0).then_some(cookie)
}

/// An open network namespace.
#[derive(Debug)]
pub struct Netns {
    file: File,
}

impl Netns {
    /// Opens `path` and checks it is a network namespace (a bind mount
    /// under /run/netns, or /proc/<pid>/ns/net). It is looked at through an
    /// O_PATH handle first, so that a FIFO or a device at the path is
    /// refused without being opened (which could block, or act). The error
    /// says why, for the caller to put in context.
    pub fn open(path: &Path) -> Result<Netns, String> {
        let bad = |why: String| why;
        let handle = nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| bad(format!("cannot open it: {e}")))?;
        let st = fstat(&handle).map_err(|e| bad(format!("cannot stat it: {e}")))?;
        let regular = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG;
        let nsfs = fstatfs(&handle).is_ok_and(|fs| fs.filesystem_type() == NSFS_MAGIC);
        if !regular || !nsfs {
            return Err(bad("it is not a namespace".into()));
        }
        let file = reopen(&handle).map_err(|e| bad(format!("cannot open it: {e}")))?;
        // SAFETY: the ioctl takes no argument and only reads the fd.
        match unsafe { ns_get_nstype(file.as_raw_fd()) } {
            Ok(t) if t == libc::CLONE_NEWNET => Ok(Netns { file }),
            Ok(_) => Err(bad("it is a namespace, but not a network namespace".into())),
            Err(_) => Err(bad("it is not a namespace".into())),
        }
    }

    /// The namespace this thread runs in: the host, to a CNI plugin.
    /// (thread-self: only this thread's namespace is ours to speak of.)
    /// The kernel's own file, so opened as it is: no O_PATH look first, no
    /// reopen through /proc (five system calls, two of them /proc lookups).
    pub fn current() -> Result<Netns, String> {
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let fd = nix::fcntl::openat(nix::fcntl::AT_FDCWD, "/proc/thread-self/ns/net", flags, Mode::empty())
            .map_err(|e| format!("cannot open /proc/thread-self/ns/net: {e}"))?;
        Ok(Netns { file: File::from(fd) })
    }

    /// The namespace's identity: the device and inode of its nsfs file.
    pub fn identity(&self) -> NsIdentity {
        let st = fstat(&self.file).expect("fstat of an open namespace file");
        NsIdentity { dev: st.st_dev, ino: st.st_ino }
    }

    /// The namespace's cookie: a socket made inside it, asked. This thread
    /// enters the namespace for that one call and comes back (it aborts if
    /// it cannot: later requests would go to the wrong namespace).
    pub fn cookie(&self) -> Option<u64> {
        use nix::sched::{CloneFlags, setns};
        let home = File::open("/proc/thread-self/ns/net").ok()?;
        setns(&self.file, CloneFlags::CLONE_NEWNET).ok()?;
        let sock = unix_socket();
        if setns(&home, CloneFlags::CLONE_NEWNET).is_err() {
            eprintln!("hostdev: cannot return to the host network namespace");
            std::process::abort();
        }
        cookie_of_socket(sock?.as_raw_fd())
    }

    /// Whether this is the namespace a record names: its identity, and its
    /// cookie when one was recorded. A live namespace with the recorded
    /// inode but another cookie was born after the recorded one died and
    /// took its inode (nsfs inodes are given lowest first).
    pub fn is(&self, id: NsIdentity, cookie: Option<u64>) -> bool {
        self.identity() == id && cookie.is_none_or(|c| self.cookie() == Some(c))
    }

    /// Whether both handles name the same namespace.
    pub fn same_as(&self, other: &Netns) -> bool {
        self.identity() == other.identity()
    }
}

/// A readable file for what the O_PATH `handle` names (setns and ioctls
/// need one), without resolving the path a second time.
fn reopen(handle: &OwnedFd) -> nix::Result<File> {
    let path = format!("/proc/thread-self/fd/{}", handle.as_raw_fd());
    let fd = nix::fcntl::open(path.as_str(), OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK, Mode::empty())?;
    Ok(File::from(fd))
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

/// Finds the network namespace `id` wherever something still holds it: a
/// process's `ns/net`, a descriptor a process holds open, or an nsfs bind
/// mount in a mount table (a runtime's path can go stale, or never be
/// passed, while the namespace lingers). Returns it and where it was
/// found; None when nothing reachable holds it (it is dying, or only a
/// kernel object, such as a socket, keeps it). Each candidate is opened
/// and its identity checked on the open handle, so a pid reused meanwhile
/// cannot make it open another namespace.
///
/// With `cookie` (recorded at ADD), the namespace found must also have that
/// cookie (`Netns::is`), or ours is not found.
pub fn find(id: NsIdentity, cookie: Option<u64>) -> Option<(Netns, String)> {
    let (ns, path) = holders().filter(|path| stat_is(path, id)).find_map(|path| {
        let ns = Netns::open(Path::new(&path)).ok().filter(|ns| ns.identity() == id)?;
        Some((ns, path))
    })?;
    ns.is(id, cookie).then_some((ns, path))
}

/// The first network namespace something reachable holds (as `find`
/// looks) that `wanted` accepts, each one tried once, and where it was
/// found. `nsfs_dev` is the device every nsfs file has (the host
/// namespace's): other files are passed over without being opened.
pub fn find_where(nsfs_dev: u64, mut wanted: impl FnMut(&Netns) -> bool) -> Option<(Netns, String)> {
    let mut seen = std::collections::HashSet::new();
    holders().find_map(|path| {
        let st = nix::sys::stat::stat(path.as_str()).ok().filter(|st| st.st_dev == nsfs_dev)?;
        if !seen.insert(st.st_ino) {
            return None;
        }
        let ns = Netns::open(Path::new(&path)).ok()?;
        wanted(&ns).then_some((ns, path))
    })
}

/// Every network namespace something reachable holds (as `find` looks),
/// each once, opened, with where it was found.
pub fn every() -> Vec<(Netns, String)> {
    let Ok(nsfs) = nix::sys::stat::stat("/proc/thread-self/ns/net").map(|st| st.st_dev) else { return Vec::new() };
    let mut seen = std::collections::HashSet::new();
    holders()
        .filter(|path| nix::sys::stat::stat(path.as_str()).is_ok_and(|st| st.st_dev == nsfs && seen.insert(st.st_ino)))
        .filter_map(|path| Some((Netns::open(Path::new(&path)).ok()?, path)))
        .collect()
}

/// Every path through which a process holds a namespace, cheapest first
/// (most lingering namespaces have a process in them): its `ns/net`, its
/// descriptors, the nsfs bind mounts of its mount namespace.
fn holders() -> impl Iterator<Item = String> {
    let pids = pids();
    let own: Vec<String> = pids.iter().map(|p| format!("/proc/{p}/ns/net")).collect();
    let held = pids.clone().into_iter().flat_map(|p| descriptors(&p));
    let mounted = std::iter::once(pids).flat_map(|pids| nsfs_mounts(&pids));
    own.into_iter().chain(held).chain(mounted)
}

/// Who holds a namespace found at `path` (as `find` answers), for messages:
/// "process 42 (sleep)", "a descriptor of process 42 (sleep)", "a bind
/// mount at /run/netns/x (seen by process 42)".
pub fn describe_holder(path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches("/proc/").splitn(3, '/').collect();
    let pid = parts.first().copied().unwrap_or("");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let process = format!("process {pid} ({})", comm.trim_end());
    match parts.get(1).copied() {
        Some("ns") => process,
        Some("fd") => format!("a descriptor of {process}"),
        Some("root") => format!("a bind mount at /{} (seen by {process})", parts.get(2).copied().unwrap_or("")),
        _ => path.to_string(),
    }
}

/// Whether `path` (followed) is the nsfs file `id`: a cheap look before
/// anything is opened.
fn stat_is(path: &str, id: NsIdentity) -> bool {
    nix::sys::stat::stat(path).is_ok_and(|st| st.st_dev == id.dev && st.st_ino == id.ino)
}

/// The names in directory `dir` (none when it cannot be read).
fn entries(dir: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten().filter_map(|e| e.file_name().into_string().ok()).collect()
}

/// The paths of the descriptors process `pid` holds.
fn descriptors(pid: &str) -> Vec<String> {
    entries(&format!("/proc/{pid}/fd")).into_iter().map(|fd| format!("/proc/{pid}/fd/{fd}")).collect()
}

/// The process ids in /proc.
fn pids() -> Vec<String> {
    entries("/proc").into_iter().filter(|n| n.bytes().all(|b| b.is_ascii_digit())).collect()
}

/// The nsfs mount points of every mount namespace the processes `pids`
/// are in, each read once, as paths through that process's root.
fn nsfs_mounts(pids: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for pid in pids {
        let Ok(mnt) = nix::sys::stat::stat(format!("/proc/{pid}/ns/mnt").as_str()) else { continue };
        if !seen.insert((mnt.st_dev, mnt.st_ino)) {
            continue;
        }
        let table = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        out.extend(nsfs_mount_points(&table).map(|at| format!("/proc/{pid}/root{at}")));
    }
    out
}

/// The mount points of the nsfs mounts in a mountinfo table (proc(5):
/// the fifth field, with space, tab, newline and backslash octal-escaped;
/// the file system type follows the " - " separator).
fn nsfs_mount_points(table: &str) -> impl Iterator<Item = String> + '_ {
    table.lines().filter_map(|line| {
        let (mount, fs) = line.split_once(" - ")?;
        (fs.split(' ').next() == Some("nsfs")).then(|| unescape_octal(mount.split(' ').nth(4)?)).flatten()
    })
}

/// `\040`-style escapes undone.
fn unescape_octal(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let digits: Vec<u8> = bytes.by_ref().take(3).collect();
        let text = std::str::from_utf8(&digits).ok()?;
        out.push(u8::from_str_radix(text, 8).ok()?);
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two namespaces have two cookies; two handles of one namespace, and
    /// a socket made in it, agree on its cookie.
    #[test]
    fn cookies_tell_namespaces_apart() {
        let here = Netns::current().unwrap();
        let again = Netns::open(Path::new("/proc/self/ns/net")).unwrap();
        let sock = unix_socket().unwrap();
        assert_eq!(here.cookie(), cookie_of_socket(sock.as_raw_fd()));
        assert_eq!(here.cookie(), again.cookie());
        let other = std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            Netns::current().unwrap()
        })
        .join()
        .unwrap();
        assert!(here.cookie().is_some() && other.cookie().is_some());
        assert_ne!(here.cookie(), other.cookie());
    }

    #[test]
    fn holders_are_described_by_process() {
        let me = std::process::id();
        let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
        let process = format!("process {me} ({})", comm.trim_end());
        assert_eq!(describe_holder(&format!("/proc/{me}/ns/net")), process);
        assert_eq!(describe_holder(&format!("/proc/{me}/fd/7")), format!("a descriptor of {process}"));
        let mount = describe_holder(&format!("/proc/{me}/root/run/netns/x"));
        assert_eq!(mount, format!("a bind mount at /run/netns/x (seen by {process})"));
    }

    #[test]
    fn nsfs_mount_points_are_read_and_unescaped() {
        let table = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
581 29 0:4 net:[4026532412] /run/netns/a rw shared:220 - nsfs nsfs rw
582 29 0:4 net:[4026532413] /tmp/with\\040space rw - nsfs nsfs rw
583 29 0:4 mnt:[4026532414] /run/x\\134y rw master:1 - nsfs nsfs rw
40 29 0:35 / /run/nsfs-like rw - tmpfs nsfs rw";
        let got: Vec<String> = nsfs_mount_points(table).collect();
        assert_eq!(got, ["/run/netns/a", "/tmp/with space", "/run/x\\y"]);
    }
}
