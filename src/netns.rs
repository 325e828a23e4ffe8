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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NsIdentity {
    pub dev: u64,
    pub ino: u64,
}

nix::ioctl_none!(ns_get_nstype, 0xb7, 0x3);

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
    pub fn current() -> Result<Netns, String> {
        Netns::open(Path::new("/proc/thread-self/ns/net"))
    }

    /// The namespace's identity: the device and inode of its nsfs file.
    pub fn identity(&self) -> NsIdentity {
        let st = fstat(&self.file).expect("fstat of an open namespace file");
        NsIdentity { dev: st.st_dev, ino: st.st_ino }
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
