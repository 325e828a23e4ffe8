//! Is the data directory the host's? A plugin run inside a container (the
//! Multus thick daemon, any runtime in a pod) sees that container's
//! `/run` unless a hostPath maps the host's in; its records then die with
//! the container, and DEL can no longer bring interfaces home. This cannot
//! be proven from inside, so it is only a warning, on two signs that hold
//! up: the directory is not the one PID 1 sees at the same path while our
//! mount namespace differs from PID 1's, or it lies on an overlay file
//! system (a container image's writable layer).
//!
//! The directory is looked at through the descriptor the store holds: no
//! path is resolved again on an ordinary ADD (same mount namespace as
//! PID 1), only when the namespaces differ and PID 1's view is needed.

use std::fs;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::sys::stat::{fstat, stat};
use nix::sys::statfs::{OVERLAYFS_SUPER_MAGIC, fstatfs};

use crate::state::Store;

/// Why the directory `dir`, open as `fd`, looks like it is not the host's,
/// if it does.
pub fn not_the_hosts(dir: &Path, fd: impl AsFd) -> Option<String> {
    let same_file = |a: &Path, b: &Path| match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => Some(a.dev() == b.dev() && a.ino() == b.ino()),
        _ => None, // cannot tell: say nothing
    };
    if same_file(Path::new("/proc/self/ns/mnt"), Path::new("/proc/1/ns/mnt")) == Some(false) {
        let seen_by_init = Path::new("/proc/1/root").join(dir.strip_prefix("/").unwrap_or(dir));
        let ours = fstat(fd.as_fd()).ok();
        let init = stat(&seen_by_init).ok();
        let same = init.is_some_and(|i| ours.is_some_and(|o| (o.st_dev, o.st_ino) == (i.st_dev, i.st_ino)));
        if ours.is_some() && !same {
            return Some(format!(
                "hostdev runs in a mount namespace other than PID 1's, and dataDir {} is not the directory PID 1 sees at that path",
                dir.display()
            ));
        }
    }
    if fstatfs(fd).is_ok_and(|s| s.filesystem_type() == OVERLAYFS_SUPER_MAGIC) {
        return Some(format!("dataDir {} is on an overlay file system, as in a container's image", dir.display()));
    }
    None
}

/// Logs a warning when the store's directory looks like it is not the
/// host's.
pub fn warn_if_not_hosts(store: &Store) {
    if let Some(why) = not_the_hosts(store.dir(), store) {
        crate::warn!(
            "{why}: its records may be lost with this container, and DEL could then not bring interfaces home; run it chrooted into the node (Multus thick: its default chrootDir) or map the host's directory in at the same path (a hostPath volume)"
        );
    }
}
