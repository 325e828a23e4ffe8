//! The log file, bounded: a file that has reached `MAX_BYTES` is renamed to
//! `<logFile>.1` (replacing the previous one) before this call writes, so
//! the two never hold much more than twice the cap. Every plugin call is
//! its own short process, so the size is checked when the file is opened.
//!
//! The file lives in a directory the operator chose and is opened by root,
//! so rotation trusts no name there: it renames only the regular file this
//! process has open, replaces `<logFile>.1` only when that is a regular
//! file (a rename never follows a symlink), and two calls that rotate at
//! once do it once: the rotation is done under a lock on the full file,
//! and a call that finds the name already moved on just reopens it.

use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg};
use nix::sys::stat::{FileStat, SFlag, fstat, fstatat};

/// The size at which the log file is rotated: with the rotated file, at
/// most about twice this on disk.
pub const MAX_BYTES: u64 = 10 << 20;

/// Opens `path` for appending, rotating it first when it has reached
/// `cap` bytes. Err says why it cannot be used.
pub fn open(path: &Path, cap: u64) -> Result<File, String> {
    if !path.is_absolute() {
        return Err("it is not an absolute path".into());
    }
    let file = open_append(path)?;
    let st = fstat(&file).map_err(|e| e.desc().to_string())?;
    if !is_regular(&st) || (st.st_size as u64) < cap {
        return Ok(file); // a FIFO or /dev/stderr has no size to bound
    }
    rotate(path, file)
}

/// Opens for appending, without waiting on a FIFO.
fn open_append(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| e.to_string())
}

/// Renames the full `file` (open at `path`) to `<path>.1` and opens a new
/// one. Another call rotating now keeps the lock: this one then writes its
/// few lines into the full file, as the one that just moved.
fn rotate(path: &Path, file: File) -> Result<File, String> {
    let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((file, Errno::EWOULDBLOCK)) => return Ok(file),
        Err((_, e)) => return Err(format!("cannot lock it to rotate it: {}", e.desc())),
    };
    match lstat(path) {
        Some(st) if is_regular(&st) && same(&st, &*lock) => {}
        // Rotated by another call since we opened it: write to the new one.
        Some(st) if is_regular(&st) => return open_append(path),
        _ => return Err("it is not a regular file (a symbolic link?), so it cannot be rotated".into()),
    }
    let rotated = rotated_name(path);
    if let Some(st) = lstat(&rotated)
        && !is_regular(&st)
    {
        return Err(format!("{} is not a regular file, so it is not replaced; remove it", rotated.display()));
    }
    std::fs::rename(path, &rotated).map_err(|e| format!("cannot rename it to {}: {e}", rotated.display()))?;
    open_append(path)
}

/// `<path>.1`.
pub fn rotated_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".1");
    PathBuf::from(name)
}

fn lstat(path: &Path) -> Option<FileStat> {
    fstatat(nix::fcntl::AT_FDCWD, path, AtFlags::AT_SYMLINK_NOFOLLOW).ok()
}

fn is_regular(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFREG
}

fn same(st: &FileStat, file: &impl AsFd) -> bool {
    fstat(file).is_ok_and(|f| f.st_dev == st.st_dev && f.st_ino == st.st_ino)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safedir::tests::TempDir;
    use std::os::unix::fs::MetadataExt;

    fn dir(tag: &str) -> (TempDir, PathBuf) {
        let tmp = TempDir::new(tag);
        std::fs::create_dir_all(&tmp.0).unwrap();
        let log = tmp.0.join("hostdev.log");
        (tmp, log)
    }

    #[test]
    fn a_full_file_is_rotated_once() {
        let (_tmp, log) = dir("rotate");
        std::fs::write(&log, b"0123456789").unwrap();
        let small = open(&log, 11).unwrap();
        assert!(same(&lstat(&log).unwrap(), &small), "under the cap: the same file");
        let fresh = open(&log, 10).unwrap();
        assert_eq!(std::fs::read(rotated_name(&log)).unwrap(), b"0123456789");
        assert_eq!(fresh.metadata().unwrap().len(), 0);
        assert!(same(&lstat(&log).unwrap(), &fresh));
    }

    /// Two calls open the full file; the first rotates it. The second,
    /// finding the name already moved on, reopens it and does not rotate
    /// the new file over the rotated one.
    #[test]
    fn a_second_rotation_of_the_same_file_only_reopens() {
        let (_tmp, log) = dir("race");
        std::fs::write(&log, b"full").unwrap();
        let late = open_append(&log).unwrap();
        let first = open(&log, 4).unwrap();
        std::fs::write(&log, b"new!").unwrap();
        let second = rotate(&log, late).unwrap();
        assert_eq!(std::fs::read(rotated_name(&log)).unwrap(), b"full", "the rotated file was replaced");
        assert_eq!(second.metadata().unwrap().ino(), first.metadata().unwrap().ino());
    }

    #[test]
    fn relative_paths_are_refused() {
        assert!(open(Path::new("hostdev.log"), 1).unwrap_err().contains("absolute"));
    }
}
