//! The data directory's records: one JSON file per attachment, written
//! atomically, its lock, the device claims, and the sweep of what killed
//! processes left behind.

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use nix::fcntl::Flock;

use super::error::{Error, Kind, Result};
use super::liveness::process_alive;
use super::record::parse_record;
use super::{Device, Key, Record};
use crate::safedir::{SafeDir, temp_owner};

pub struct Store {
    pub(super) dir: SafeDir,
}

/// The store's own files, beside the records.
const STORE_LOCK: &str = ".lock";
const PARKED_MARK: &str = ".parked";
const CLAIM_MAX: usize = 256;
/// A record is small; anything larger is not one of ours.
const RECORD_MAX: usize = 1 << 20;

impl Store {
    /// Opens (and creates, private to root) the data directory; refuses one
    /// that others could write to.
    pub fn open(dir: &Path) -> Result<Store> {
        Ok(Store { dir: SafeDir::open(dir)? })
    }

    /// Whether ADD could write its record now (STATUS).
    pub fn check_writable(&self) -> Result<()> {
        Ok(self.dir.check_writable()?)
    }

    /// Opens an existing data directory only to read it (`hostdev list`):
    /// creates nothing. None when there is no such directory.
    pub fn open_existing(dir: &Path) -> Result<Option<Store>> {
        Ok(SafeDir::open_existing(dir)?.map(|dir| Store { dir }))
    }

    /// Takes the store's lock: held only while claims are checked and
    /// written, never across a move.
    pub fn lock(&self) -> Result<Flock<File>> {
        Ok(self.dir.lock(STORE_LOCK, lock_wait())?)
    }

    /// Takes the lock of one attachment, held by ADD, DEL, CHECK and GC
    /// while they work on it, so that no two of them ever interleave on
    /// one attachment. Others are not held up. Waits a bounded time: code 11.
    pub fn lock_key(&self, key: &Key) -> Result<KeyLock<'_>> {
        if let Some(lock) = self.try_lock_key(key)? {
            return Ok(lock);
        }
        let wait = lock_wait();
        // Said once, so that a log shows why a call took seconds (and a
        // test knows that this call is now the one waiting).
        crate::info!(
            "the attachment is busy (another hostdev call works on it): waiting";
            attachment = format!("{}/{}/{}", key.network, key.container_id, key.ifname),
            wait_ms = wait.as_millis(),
        );
        let deadline = std::time::Instant::now() + wait;
        loop {
            let wait = deadline.saturating_duration_since(std::time::Instant::now());
            if let Some(lock) = self.take_key_lock(key, Some(wait))? {
                return Ok(lock);
            }
        }
    }

    /// The attachment's lock if nobody holds it now (GC skips busy ones).
    pub fn try_lock_key(&self, key: &Key) -> Result<Option<KeyLock<'_>>> {
        loop {
            match self.take_key_lock(key, None) {
                Ok(None) => continue, // the file was replaced under us
                Err(e) if e.kind == Kind::Busy => return Ok(None),
                other => return other,
            }
        }
    }

    /// One try at an attachment's lock: None when the file it locked was
    /// removed meanwhile. The holder before us removes the file as it lets
    /// go: a lock on a removed file excludes nobody, so take the current one.
    fn take_key_lock(&self, key: &Key, wait: Option<Duration>) -> Result<Option<KeyLock<'_>>> {
        let name = key.lock_name();
        let lock = match wait {
            Some(wait) => self.dir.lock(&name, wait)?,
            None => self.dir.try_lock(&name)?.ok_or_else(|| Error::busy("busy"))?,
        };
        Ok(self.dir.is_same(&name, &*lock).then(|| KeyLock { _lock: lock, dir: &self.dir, name }))
    }

    /// Notes that some record is parked (see `cmd::home::unpark_all`).
    pub fn mark_parked(&self) {
        if let Err(e) = self.dir.touch(PARKED_MARK) {
            crate::warn!("{}; parked interfaces wait for the next DEL or GC", e.msg);
        }
    }

    /// Removes the parked marker; true if it was there.
    pub fn take_parked_mark(&self) -> bool {
        self.dir.remove(PARKED_MARK).unwrap_or(false)
    }

    /// The record under `key`, checked; None when there is none.
    pub fn load(&self, key: &Key) -> Result<Option<Record>> {
        let name = key.file_name();
        let Some(bytes) = self.dir.read(&name, RECORD_MAX)? else { return Ok(None) };
        parse_record(&self.dir.show(&name), &name, &bytes).map(Some)
    }

    /// Writes `rec` atomically (see `SafeDir::write`). Not fsync'd: a
    /// record matters only while the kernel state it describes exists, and
    /// that does not survive the power loss fsync guards against; a killed
    /// process leaves the page cache intact.
    pub fn save(&self, rec: &Record) -> Result<()> {
        Ok(self.dir.write(&rec.key().file_name(), &rec.to_file())?)
    }

    /// Saves the step `rec` has reached when the file system has room;
    /// false (with a warning) when it is full. For a step that recovery
    /// does not need: a record still in its last step leads DEL and GC to
    /// the interface all the same.
    pub fn save_if_room(&self, rec: &Record) -> Result<bool> {
        let saved = self.dir.write_if_room(&rec.key().file_name(), &rec.to_file())?;
        if !saved {
            crate::warn!("the data directory {} is full: going on without recording the step", self.dir().display());
        }
        Ok(saved)
    }

    /// Removes `rec`, then its device's claim if it still names `rec`.
    pub fn remove(&self, rec: &Record) -> Result<()> {
        let name = rec.key().file_name();
        self.dir.remove(&name)?;
        if let Some(path) = &rec.device_info {
            crate::devinfo::remove(path);
        }
        let claim = rec.device().claim_name();
        if self.dir.read(&claim, CLAIM_MAX).ok().flatten().is_some_and(|c| c == name.as_bytes()) {
            self.dir.remove(&claim)?;
        }
        Ok(())
    }

    /// Notes that `rec` holds its device. Written before the record: a
    /// claim never points nowhere for long, and a stale one (its record
    /// gone, or about another device) is ignored by `claimant`.
    pub fn claim(&self, rec: &Record) -> Result<()> {
        Ok(self.dir.write(&rec.device().claim_name(), rec.key().file_name().as_bytes())?)
    }

    /// The record that claimed `device` (see `Record::holds`), through its claim
    /// file alone. An unreadable record behind a claim is an error, never
    /// "free".
    pub fn claimant(&self, device: Device<'_>) -> Result<Option<Record>> {
        let Some(name) = self.dir.read(&device.claim_name(), CLAIM_MAX)? else { return Ok(None) };
        let name = String::from_utf8(name).unwrap_or_default();
        if name.starts_with('.') || name.contains('/') || !name.ends_with(".json") {
            return Ok(None);
        }
        let Some(bytes) = self.dir.read(&name, RECORD_MAX)? else { return Ok(None) };
        parse_record(&self.dir.show(&name), &name, &bytes).map(Some)
    }

    /// Every record in the store; unreadable ones are reported, not
    /// skipped, and one that vanished while listed is left out.
    pub fn list(&self) -> Result<Vec<(String, Result<Record>)>> {
        let mut out = Vec::new();
        let names = self.dir.names()?;
        crate::failpoint::pause("list-after-names");
        for name in names {
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            // A record removed since the names were read (a DEL finished
            // meanwhile) is no longer there to list.
            let rec = match self.dir.read(&name, RECORD_MAX) {
                Ok(None) => continue,
                Ok(Some(bytes)) => parse_record(&self.dir.show(&name), &name, &bytes),
                Err(e) => Err(e.into()),
            };
            out.push((name, rec));
        }
        Ok(out)
    }

    /// Removes what killed processes left behind: temporary record files
    /// whose writer is dead, attachment lock files nobody holds, and device
    /// claims whose record was never written (ADD killed between the two)
    /// or is gone (DEL killed between the two removals).
    pub fn sweep_leftovers(&self) {
        let names = self.dir.names().unwrap_or_default();
        self.sweep_claims(&names);
        for name in names {
            if let Some(pid) = temp_owner(&name) {
                if !self.dir.modified(&name).is_some_and(|written| process_alive(pid, written)) {
                    crate::info!("removing a file left by a killed process"; file = self.dir.show(&name));
                    let _ = self.dir.remove(&name);
                }
            } else if name.starts_with('.') && name.ends_with(".json.lock") {
                // Unlinked while held, as KeyLock does: a waiter re-checks.
                if let Ok(Some(lock)) = self.dir.try_lock(&name) {
                    let _ = self.dir.remove(&name);
                    drop(lock);
                }
            }
        }
    }

    /// Under the store's lock, as ADD writes a claim and then its record
    /// under it: a claim is never taken for stale between the two.
    fn sweep_claims(&self, names: &[String]) {
        let Ok(_lock) = self.lock() else { return };
        for claim in names.iter().filter(|n| n.starts_with(".claim.")) {
            let Ok(Some(target)) = self.dir.read(claim, CLAIM_MAX) else { continue };
            let target = String::from_utf8_lossy(&target).into_owned();
            let missing = target.starts_with('.')
                || target.contains('/')
                || self.dir.read(&target, RECORD_MAX).is_ok_and(|r| r.is_none());
            if missing {
                crate::info!("removing a claim whose record does not exist"; file = self.dir.show(claim), record = target);
                let _ = self.dir.remove(claim);
            }
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The data directory, open (see `datadir`).
impl std::os::fd::AsFd for Store {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

/// How long a command waits for a lock another call holds before it
/// answers "try again later". A test build may shorten it.
fn lock_wait() -> Duration {
    crate::failpoint::wait("HOSTDEV_LOCK_TIMEOUT_MS", Duration::from_secs(10))
}

/// An attachment's lock. Its file is removed when the lock is dropped: a
/// waiter that then gets the lock on the removed file finds it replaced and
/// tries again, and only ever acts on a record it loaded under the lock.
pub struct KeyLock<'a> {
    _lock: Flock<File>,
    dir: &'a SafeDir,
    name: String,
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        let _ = self.dir.remove(&self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safedir::tests::TempDir;
    use crate::state::record::tests::{key, veth_record};
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn save_load_list_remove() {
        let tmp = TempDir::new("slr");
        let store = Store::open(&tmp.0).unwrap();
        assert_eq!(fs::metadata(&tmp.0).unwrap().permissions().mode() & 0o777, 0o700);
        let rec = veth_record("eth0");
        store.save(&rec).unwrap();
        assert_eq!(store.load(&key("eth0")).unwrap(), Some(rec.clone()));
        assert_eq!(store.list().unwrap().len(), 1);
        store.remove(&rec).unwrap();
        store.remove(&rec).unwrap();
        assert_eq!(store.load(&key("eth0")).unwrap(), None);
    }

    #[test]
    fn a_claim_names_the_record_holding_the_device() {
        let tmp = TempDir::new("claim");
        let store = Store::open(&tmp.0).unwrap();
        let rec = veth_record("eth0");
        assert_eq!(store.claimant(rec.device()).unwrap(), None);
        store.claim(&rec).unwrap();
        store.save(&rec).unwrap();
        assert_eq!(store.claimant(veth_record("eth9").device()).unwrap(), Some(rec.clone()));
        store.remove(&rec).unwrap();
        assert_eq!(store.claimant(rec.device()).unwrap(), None);
        assert!(!tmp.0.join(rec.device().claim_name()).exists(), "the claim goes with its record");
    }

    /// A claim naming anything but a record file names no record, even a
    /// readable one; `list` shows only record files.
    #[test]
    fn claims_and_listings_see_only_record_files() {
        let tmp = TempDir::new("only-records");
        let store = Store::open(&tmp.0).unwrap();
        let rec = veth_record("eth0");
        fs::write(tmp.0.join(".hidden.json"), rec.to_file()).unwrap();
        fs::write(tmp.0.join("notes.txt"), b"junk").unwrap();
        for target in [".hidden.json", "notes.txt", "../notes.txt", "sub/x.json"] {
            fs::write(tmp.0.join(rec.device().claim_name()), target).unwrap();
            assert_eq!(store.claimant(rec.device()).unwrap(), None, "a claim naming {target}");
        }
        assert!(store.list().unwrap().is_empty(), "{:?}", store.list().unwrap());
    }

    /// Sweeping keeps what live attachments and the store need: claims of
    /// records that exist, the store's lock, the parked mark.
    #[test]
    fn sweeping_keeps_what_is_in_use() {
        let tmp = TempDir::new("sweep");
        let store = Store::open(&tmp.0).unwrap();
        let rec = veth_record("eth0");
        store.claim(&rec).unwrap();
        store.save(&rec).unwrap();
        drop(store.lock().unwrap());
        store.mark_parked();
        let names = || {
            let mut n: Vec<String> =
                fs::read_dir(&tmp.0).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            n.sort();
            n
        };
        let before = names();
        assert_eq!(before, [".claim.if7", ".lock", ".parked", "net+c1+eth0.json"]);
        store.sweep_leftovers();
        assert_eq!(names(), before);
        // A temporary file is swept once its writer is gone, not before.
        let ours = crate::safedir::temp_name("net+c1+eth1.json", std::process::id());
        let dead = crate::safedir::temp_name("net+c1+eth2.json", u32::MAX);
        fs::write(tmp.0.join(&ours), b"{").unwrap();
        fs::write(tmp.0.join(&dead), b"{").unwrap();
        store.sweep_leftovers();
        assert!(tmp.0.join(&ours).exists(), "the temporary file of a live writer was swept");
        assert!(!tmp.0.join(&dead).exists(), "the temporary file of a dead writer was kept");
        // A claim naming a file that is no record is stale, also when the file exists.
        fs::write(tmp.0.join(".hidden.json"), rec.to_file()).unwrap();
        fs::write(tmp.0.join(".claim.if9"), ".hidden.json").unwrap();
        store.sweep_leftovers();
        assert!(!tmp.0.join(".claim.if9").exists(), "a claim of .hidden.json was kept");
    }

    #[test]
    fn corrupt_or_foreign_records_are_refused() {
        let tmp = TempDir::new("corrupt");
        let store = Store::open(&tmp.0).unwrap();
        fs::write(tmp.0.join(key("eth0").file_name()), b"{not json").unwrap();
        assert_eq!(store.load(&key("eth0")).unwrap_err().kind, Kind::Corrupt);
        assert!(store.list().unwrap()[0].1.is_err());
        // Filed under another attachment's name.
        let text = veth_record("eth1").to_file();
        fs::write(tmp.0.join(key("eth0").file_name()), &text).unwrap();
        assert!(store.load(&key("eth0")).unwrap_err().msg.contains("not the attachment"));
        // A host name that is a path.
        let mut rec = veth_record("eth0");
        rec.host.name = "../../x".into();
        fs::write(tmp.0.join(key("eth0").file_name()), rec.to_file()).unwrap();
        assert!(store.load(&key("eth0")).unwrap_err().msg.contains("host.name"));
    }

    /// Indices a kernel gives (1 ..= i32::MAX - 1), and an anchor that fits
    /// the record, pass; anything else steers no request.
    #[test]
    fn unsafe_data_dirs_are_refused() {
        let tmp = TempDir::new("unsafe");
        fs::create_dir(&tmp.0).unwrap();
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o0777)).unwrap();
        let e = Store::open(&tmp.0).err().unwrap();
        assert_eq!(e.kind, Kind::Unusable);
        assert!(e.msg.contains("chmod 0700"), "{}", e.msg);
        // A sticky one is shared, as /tmp: never chmod it, choose another.
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o1777)).unwrap();
        let e = Store::open(&tmp.0).err().unwrap();
        assert!(!e.msg.contains("chmod") && e.msg.contains("of hostdev's own"), "{}", e.msg);
        let file = tmp.0.join("file");
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(&file, b"x").unwrap();
        assert_eq!(Store::open(&file).err().unwrap().kind, Kind::Unusable);
    }

    #[test]
    fn planted_files_are_never_followed() {
        let tmp = TempDir::new("planted");
        let store = Store::open(&tmp.0).unwrap();
        let outside = TempDir::new("planted-outside");
        fs::create_dir(&outside.0).unwrap();
        let target = outside.0.join("target");
        let tmp_name = crate::safedir::temp_name(&key("eth0").file_name(), std::process::id());
        std::os::unix::fs::symlink(&target, tmp.0.join(tmp_name)).unwrap();
        std::os::unix::fs::symlink(&target, tmp.0.join(key("eth0").lock_name())).unwrap();
        store.save(&veth_record("eth0")).unwrap();
        assert!(store.lock_key(&key("eth0")).is_err());
        assert!(!target.exists());
        nix::unistd::mkfifo(&tmp.0.join("junk.json"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let listed = store.list().unwrap();
        assert!(listed.iter().any(|(n, r)| n == "junk.json" && r.is_err()));
    }
}
