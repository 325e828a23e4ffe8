//! A directory that only root may write, and the files in it, opened
//! relative to the directory's descriptor: never following a symlink, never
//! blocking on a FIFO, and only ever using regular files. Whatever somebody
//! plants in the directory can make a call fail, never write elsewhere or hang.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::fault::Fault;

/// Flags for every file opened here: no symlinks, no waiting on FIFOs.
const SAFE: OFlag = OFlag::O_NOFOLLOW.union(OFlag::O_NONBLOCK).union(OFlag::O_CLOEXEC);
/// How often a busy lock is tried again.
const LOCK_POLL: Duration = Duration::from_millis(5);

pub struct SafeDir {
    fd: OwnedFd,
    path: PathBuf,
}

/// Why the directory, or a file in it, cannot be used now; the message
/// names it and says why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Somebody must look: unsafe, unreadable, planted, full, ...
    Unusable,
    /// A lock that stayed held for the whole wait: worth trying again later.
    Busy,
}

pub type Error = Fault<Kind>;
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn unusable(msg: String) -> Error {
    Error::new(Kind::Unusable, msg)
}

/// The directory itself, to look at it without resolving its path again.
impl AsFd for SafeDir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl SafeDir {
    /// Opens `path` (created 0700 when missing) and refuses a directory that
    /// somebody other than root could write to.
    pub fn open(path: &Path) -> Result<SafeDir> {
        if let Err(e) = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path) {
            return Err(unusable(format!("dataDir {}: cannot create it: {e}", path.display())));
        }
        Self::open_dir(path)
    }

    /// Opens `path` as `open` does, but only if it exists: creates nothing
    /// (`hostdev list`). None only when it does not exist: a path that
    /// cannot be looked at (a parent only root may search) is an error.
    pub fn open_existing(path: &Path) -> Result<Option<SafeDir>> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(unusable(format!("dataDir {}: cannot look at it: {e}", path.display()))),
            Ok(_) => Self::open_dir(path).map(Some),
        }
    }

    fn open_dir(path: &Path) -> Result<SafeDir> {
        let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .map_err(|e| unusable(format!("dataDir {}: cannot open it as a directory: {e}", path.display())))?;
        let st = fstat(&fd).map_err(|e| unusable(format!("dataDir {}: {e}", path.display())))?;
        check_private(path, &st)?;
        Ok(SafeDir { fd, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where `name` lives, for messages.
    pub fn show(&self, name: &str) -> String {
        self.path.join(name).display().to_string()
    }

    /// Reads the regular file `name`, at most `limit` bytes; None if absent.
    pub fn read(&self, name: &str, limit: usize) -> Result<Option<Vec<u8>>> {
        let fd = match openat(&self.fd, name, OFlag::O_RDONLY | SAFE, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(None),
            Err(e) => return Err(self.refused(name, "read", e)),
        };
        let size = self.require_regular(name, &fd)?;
        // Room for all of it and the EOF read: one read, not a doubling
        // buffer's dozen.
        let mut bytes = Vec::with_capacity(size.min(limit as u64) as usize + 1);
        File::from(fd)
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| unusable(format!("cannot read {}: {e}", self.show(name))))?;
        if bytes.len() > limit {
            return Err(unusable(format!("{} is larger than {limit} bytes", self.show(name))));
        }
        Ok(Some(bytes))
    }

    /// Writes `name` atomically: a new temporary file of this process
    /// (created exclusively, so nothing planted there is followed), renamed
    /// over `name`.
    pub fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.try_write(name, bytes).map_err(|e| unusable(format!("cannot write {}: {e}", self.show(name))))
    }

    /// `write`, but false (nothing written) when the file system has no
    /// room for the new file.
    pub fn write_if_room(&self, name: &str, bytes: &[u8]) -> Result<bool> {
        match self.try_write(name, bytes) {
            Err(e) if matches!(Errno::from_raw(e.raw_os_error().unwrap_or(0)), Errno::ENOSPC | Errno::EDQUOT) => {
                Ok(false)
            }
            other => other.map(|()| true).map_err(|e| unusable(format!("cannot write {}: {e}", self.show(name)))),
        }
    }

    fn try_write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let tmp = temp_name(name, std::process::id());
        let fd = self.create_exclusive(&tmp)?;
        let written = File::from(fd).write_all(bytes);
        let renamed = written.and_then(|()| Ok(nix::fcntl::renameat(&self.fd, tmp.as_str(), &self.fd, name)?));
        if renamed.is_err() {
            let _ = self.remove(&tmp);
        }
        renamed
    }

    /// A new file: whatever sits at the name (a leftover of a killed process
    /// with the same pid, or something planted) is removed first.
    fn create_exclusive(&self, name: &str) -> nix::Result<OwnedFd> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | SAFE;
        match openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600)) {
            Err(Errno::EEXIST) => {
                unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir)?;
                openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600))
            }
            other => other,
        }
    }

    /// Whether a file can be created here now (STATUS: a read-only file
    /// system passes every check of `open` and still fails each ADD). The
    /// probe has a temporary name of this process, which GC collects if the
    /// process dies before removing it.
    pub fn check_writable(&self) -> Result<()> {
        let probe = temp_name("probe", std::process::id());
        self.create_exclusive(&probe).map_err(|e| {
            unusable(format!("dataDir {}: cannot create files in it: {}", self.path.display(), e.desc()))
        })?;
        self.remove(&probe).map(|_| ())
    }

    /// Creates `name` empty if it does not exist (a marker).
    pub fn touch(&self, name: &str) -> Result<()> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | SAFE;
        let fd = openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| self.refused(name, "create", e))?;
        self.require_regular(name, &fd).map(drop)
    }

    /// Removes `name`; true if it was there.
    pub fn remove(&self, name: &str) -> Result<bool> {
        match unlinkat(&self.fd, name, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(unusable(format!("cannot remove {}: {e}", self.show(name)))),
        }
    }

    /// The names in the directory.
    pub fn names(&self) -> Result<Vec<String>> {
        let fail = |e: Errno| unusable(format!("cannot list dataDir {}: {e}", self.path.display()));
        let mut dir =
            Dir::openat(&self.fd, ".", OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(fail)?;
        let mut names = Vec::new();
        for entry in dir.iter() {
            let entry = entry.map_err(fail)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// Takes an exclusive lock on the file `name` (created if missing),
    /// waiting at most `wait`: a busy error when it stays held.
    pub fn lock(&self, name: &str, wait: Duration) -> Result<Flock<File>> {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_lock(name)? {
                Some(lock) => return Ok(lock),
                None if Instant::now() >= deadline => {
                    return Err(Error::new(
                        Kind::Busy,
                        format!(
                            "{} stayed locked for {} ms: another hostdev call is working on it",
                            self.show(name),
                            wait.as_millis()
                        ),
                    ));
                }
                None => std::thread::sleep(LOCK_POLL),
            }
        }
    }

    /// The lock on `name` if nobody holds it now.
    pub fn try_lock(&self, name: &str) -> Result<Option<Flock<File>>> {
        let flags = OFlag::O_RDWR | OFlag::O_CREAT | SAFE;
        let fd = openat(&self.fd, name, flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| self.refused(name, "lock", e))?;
        self.require_regular(name, &fd)?;
        match Flock::lock(File::from(fd), FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(unusable(format!("cannot lock {}: {e}", self.show(name)))),
        }
    }

    /// When `name` was last written, in seconds since the epoch.
    pub fn modified(&self, name: &str) -> Option<i64> {
        fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW).ok().map(|st| st.st_mtime)
    }

    /// Whether `name` still is the file `file` (not removed or replaced).
    pub fn is_same(&self, name: &str, file: &impl AsFd) -> bool {
        match (fstat(file), fstatat(&self.fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }

    /// Fails unless `fd` is a regular file; its size.
    fn require_regular(&self, name: &str, fd: &OwnedFd) -> Result<u64> {
        let st = fstat(fd).map_err(|e| unusable(format!("{}: {e}", self.show(name))))?;
        if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
            return Err(unusable(format!("{} is not a regular file; remove it", self.show(name))));
        }
        Ok(st.st_size.max(0) as u64)
    }

    fn refused(&self, name: &str, what: &str, e: Errno) -> Error {
        let why = match e {
            Errno::ELOOP => "it is a symbolic link; remove it".to_string(),
            Errno::ENXIO => "it is not a regular file; remove it".to_string(),
            e => e.to_string(),
        };
        unusable(format!("cannot {what} {}: {why}", self.show(name)))
    }
}

/// The temporary name a process writes `name` under.
pub fn temp_name(name: &str, pid: u32) -> String {
    format!(".{name}.{pid}.tmp")
}

/// The pid in a temporary name, if `name` is one.
pub fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    rest.rsplit_once('.')?.1.parse().ok()
}

/// Records show the host's layout and decide what moves: only root may
/// write the directory.
fn check_private(path: &Path, st: &FileStat) -> Result<()> {
    match not_private(path, st.st_uid, st.st_mode) {
        Some(why) => Err(unusable(format!("dataDir {why}"))),
        None => Ok(()),
    }
}

/// Why somebody other than us (root) could write the directory `path`
/// with this owner and mode, and what fixes it; None when nobody can. A
/// sticky directory (/tmp) is shared by design: choosing another one is the
/// fix, never taking it from its other users with chmod.
pub fn not_private(path: &Path, uid: u32, mode: u32) -> Option<String> {
    let (dir, mode, euid) = (path.display(), mode & 0o7777, nix::unistd::geteuid().as_raw());
    Some(if uid != euid {
        format!("{dir} is owned by uid {uid}, not by uid {euid}: fix it with `chown {euid}:0 {dir}`")
    } else if mode & 0o1000 != 0 && mode & 0o022 != 0 {
        format!(
            "{dir} is a shared directory (sticky, mode {mode:o}): others may create files in it; choose a directory of hostdev's own"
        )
    } else if mode & 0o022 != 0 {
        format!("{dir} is writable by group or others (mode {mode:o}): fix it with `chmod 0700 {dir}`")
    } else {
        return None;
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn temp_names_carry_their_pid() {
        let t = temp_name("net+c1+eth0.json", 4242);
        assert_eq!(t, ".net+c1+eth0.json.4242.tmp");
        assert_eq!(temp_owner(&t), Some(4242));
        assert_eq!(temp_owner(".net+c1+eth0.json.lock"), None);
        assert_eq!(temp_owner("net+c1+eth0.json"), None);
    }

    /// A private directory for a unit test, removed also when an assertion fails.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> TempDir {
            let dir = std::env::temp_dir().join(format!("hostdev-unit-{}-{tag}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn reads_stop_at_their_limit() {
        let tmp = TempDir::new("limit");
        let dir = SafeDir::open(&tmp.0).unwrap();
        dir.write("four", b"1234").unwrap();
        dir.write("five", b"12345").unwrap();
        assert_eq!(dir.read("four", 4).unwrap(), Some(b"1234".to_vec()));
        let e = dir.read("five", 4).unwrap_err();
        assert!(e.msg.contains("five is larger than 4 bytes"), "{}", e.msg);
        assert_eq!(dir.read("absent", 4).unwrap(), None);
        // The buffer is sized from the file's size: an empty one too.
        dir.write("empty", b"").unwrap();
        assert_eq!(dir.read("empty", 4).unwrap(), Some(Vec::new()));
        dir.remove("empty").unwrap();
        let mut names = dir.names().unwrap();
        names.sort();
        assert_eq!(names, ["five", "four"], "the names of the files, without . and ..");
    }

    /// Only a full file system makes `write_if_room` go on without the
    /// file: any other failure (here a directory where the file goes) is
    /// an error that names it.
    #[test]
    fn only_a_full_file_system_is_no_room() {
        let tmp = TempDir::new("room");
        let dir = SafeDir::open(&tmp.0).unwrap();
        std::fs::create_dir(tmp.0.join("taken")).unwrap();
        std::fs::write(tmp.0.join("taken/inside"), b"").unwrap();
        let e = dir.write_if_room("taken", b"1").expect_err("a write over a directory said there was no room");
        assert!(e.msg.contains("cannot write") && e.msg.contains("taken"), "{}", e.msg);
        assert!(dir.write_if_room("free", b"1").unwrap(), "room for a small file");
        assert_eq!(dir.read("free", 4).unwrap(), Some(b"1".to_vec()));
    }

    /// Why a directory is not private, each case with its own fix: a
    /// group-writable directory is no shared one unless it is sticky.
    #[test]
    fn not_private_names_each_case() {
        let euid = nix::unistd::geteuid().as_raw();
        let why = |uid, mode| not_private(Path::new("/d"), uid, mode);
        assert_eq!(why(euid, 0o40700), None);
        assert_eq!(why(euid, 0o40755), None, "readable is not writable");
        assert!(why(euid + 1, 0o40700).unwrap().contains(&format!("owned by uid {}", euid + 1)));
        let group = why(euid, 0o40770).unwrap();
        assert!(group.contains("writable by group or others (mode 770)"), "{group}");
        let shared = why(euid, 0o41777).unwrap();
        assert!(shared.contains("shared directory (sticky, mode 1777)"), "{shared}");
        assert_eq!(why(euid, 0o41700), None, "sticky but writable by root alone");
    }

    /// A lock whose file was removed, or replaced, is no longer on `name`.
    #[test]
    fn a_lock_knows_when_its_file_is_gone() {
        let tmp = TempDir::new("same");
        let dir = SafeDir::open(&tmp.0).unwrap();
        let lock = dir.try_lock("a.lock").unwrap().expect("a free lock");
        assert!(dir.is_same("a.lock", &*lock));
        dir.remove("a.lock").unwrap();
        assert!(!dir.is_same("a.lock", &*lock), "removed");
        dir.write("a.lock", b"").unwrap();
        assert!(!dir.is_same("a.lock", &*lock), "replaced");
    }

    /// A path that exists but is no directory is refused, also when only
    /// reading (`hostdev list`), with what it is.
    #[test]
    fn a_file_is_no_data_dir() {
        let tmp = TempDir::new("file");
        std::fs::DirBuilder::new().mode(0o700).create(&tmp.0).unwrap();
        let file = tmp.0.join("file");
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let e = SafeDir::open_existing(&file).err().expect("a file opened as a dataDir");
        assert!(e.msg.contains("cannot open it as a directory"), "{}", e.msg);
    }
}
