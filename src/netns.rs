//! Opening network namespace handles and making sure they are one.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::libc;

use crate::cni::{Error, Result, code};

nix::ioctl_none!(ns_get_nstype, 0xb7, 0x3);

/// An open network namespace.
#[derive(Debug)]
pub struct Netns {
    file: File,
}

impl Netns {
    /// Opens `path` and checks it is a network namespace (a bind mount
    /// under /run/netns, or /proc/<pid>/ns/net).
    pub fn open(path: &Path) -> Result<Netns> {
        let bad = |why: String| Error::new(code::BAD_NETNS, format!("CNI_NETNS {}: {why}", path.display()));
        let file = File::open(path).map_err(|e| bad(format!("cannot open it: {e}")))?;
        // SAFETY: the ioctl takes no argument and only reads the fd.
        match unsafe { ns_get_nstype(file.as_raw_fd()) } {
            Ok(t) if t == libc::CLONE_NEWNET => Ok(Netns { file }),
            Ok(_) => Err(bad("it is a namespace, but not a network namespace".into())),
            Err(_) => Err(bad("it is not a namespace".into())),
        }
    }

    /// The namespace this process runs in: the host, to a CNI plugin.
    pub fn current() -> Result<Netns> {
        // thread-self: only this thread's namespace is ours to speak of.
        Netns::open(Path::new("/proc/thread-self/ns/net"))
            .map_err(|e| Error::new(code::KERNEL, format!("cannot open the host network namespace: {}", e.msg)))
    }

    /// Whether both handles name the same namespace.
    pub fn same_as(&self, other: &Netns) -> bool {
        match (self.file.metadata(), other.file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
