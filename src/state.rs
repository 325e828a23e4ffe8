//! The per-attachment record on disk: what the host interface was before
//! ADD, and how far ADD or DEL got. Written atomically, one JSON file per
//! (network, container id, interface name), readable by a person.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::cni::{Error, Result, code};
pub use crate::device::Userspace;
use crate::netlink::route::RouteEntry;
use crate::netlink::{Addr, Link};

const FORMAT: u32 = 1;

/// How far an attachment got. Every step is recorded before the kernel
/// request it leads to, so a crash anywhere leaves a record DEL can finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The move into the container may have happened.
    Adding,
    /// ADD finished: the interface is in the container.
    Attached,
    /// The move home may have happened.
    Removing,
    /// The interface is home, under `parked_as`, because its own name was taken.
    Parked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub format: u32,
    pub network: String,
    pub container_id: String,
    pub ifname: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
    pub phase: Phase,
    /// The host interface as it was before ADD.
    pub host: Link,
    pub addrs: Vec<Addr>,
    /// The routes through it that somebody configured (kernel-made prefix
    /// routes come back with the addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
    /// Its index inside the container, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_index: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_as: Option<String>,
    /// Set for a device bound to a userspace driver: nothing was moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userspace: Option<Userspace>,
}

impl Record {
    pub fn new(key: &Key, netns: Option<PathBuf>, host: Link, addrs: Vec<Addr>) -> Record {
        Record {
            format: FORMAT,
            network: key.network.clone(),
            container_id: key.container_id.clone(),
            ifname: key.ifname.clone(),
            netns,
            phase: Phase::Adding,
            host,
            addrs,
            routes: Vec::new(),
            container_index: None,
            parked_as: None,
            userspace: None,
        }
    }

    /// The record of a userspace-bound device: no interface, no snapshot.
    pub fn userspace(key: &Key, netns: Option<PathBuf>, device: Userspace) -> Record {
        Record { userspace: Some(device), ..Record::new(key, netns, Link::default(), Vec::new()) }
    }

    pub fn key(&self) -> Key {
        Key { network: self.network.clone(), container_id: self.container_id.clone(), ifname: self.ifname.clone() }
    }

    /// Whether `link` is the interface this record is about: same
    /// permanent MAC, or same MAC, as before ADD.
    pub fn claims(&self, link: &Link) -> bool {
        match (&self.host.perm_mac, &link.perm_mac) {
            (Some(a), Some(b)) => a == b,
            _ => link.mac == self.host.mac,
        }
    }
}

/// What names one attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub network: String,
    pub container_id: String,
    pub ifname: String,
}

impl Key {
    /// The record's file name. Network names and container ids are
    /// already restricted to `[A-Za-z0-9_.-]`; the interface name is
    /// escaped, so nothing derived from input can leave the directory.
    fn file_name(&self) -> String {
        format!("{}+{}+{}.json", self.network, self.container_id, escape(&self.ifname))
    }
}

fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub struct Store {
    dir: PathBuf,
}

fn state_error(msg: String) -> Error {
    Error::new(code::STATE, msg)
}

impl Store {
    /// Opens (and creates, private to root) the data directory.
    pub fn open(dir: &Path) -> Result<Store> {
        if !dir.is_absolute() {
            return Err(Error::new(
                code::INVALID_CONFIG,
                format!("config key \"dataDir\" {} must be an absolute path", dir.display()),
            ));
        }
        if let Err(e) = fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
            return Err(state_error(format!("dataDir {}: cannot create it: {e}", dir.display())));
        }
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => Ok(Store { dir: dir.to_path_buf() }),
            Ok(_) => Err(state_error(format!("dataDir {} is not a directory", dir.display()))),
            Err(e) => Err(state_error(format!("dataDir {}: {e}", dir.display()))),
        }
    }

    /// Takes the store's lock: held only while claims are checked and
    /// written, never across a move.
    pub fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path);
        let file = file.map_err(|e| state_error(format!("cannot open lock {}: {e}", path.display())))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| state_error(format!("cannot lock {}: {e}", path.display())))
    }

    /// Takes the lock of one attachment, held while DEL or GC works on it
    /// so that two of them never race on the same record. Other attachments
    /// are not held up.
    pub fn lock_key(&self, key: &Key) -> Result<KeyLock> {
        let path = self.dir.join(format!(".{}.lock", key.file_name()));
        loop {
            let file = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path);
            let file = file.map_err(|e| state_error(format!("cannot open lock {}: {e}", path.display())))?;
            let lock = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, e)| state_error(format!("cannot lock {}: {e}", path.display())))?;
            // The holder before us removes the file as it lets go: a lock on
            // a removed file excludes nobody, so take the current one.
            if same_file(&lock, &path) {
                return Ok(KeyLock { _lock: lock, path });
            }
        }
    }

    /// Notes that some record is parked (see `cmd::home::unpark_all`).
    pub fn mark_parked(&self) {
        let path = self.dir.join(".parked");
        if let Err(e) = OpenOptions::new().create(true).truncate(false).write(true).mode(0o600).open(&path) {
            crate::warn!("cannot write {}: {e}; parked interfaces wait for the next DEL or GC", path.display());
        }
    }

    /// Removes the parked marker; true if it was there.
    pub fn take_parked_mark(&self) -> bool {
        fs::remove_file(self.dir.join(".parked")).is_ok()
    }

    pub fn load(&self, key: &Key) -> Result<Option<Record>> {
        let path = self.dir.join(key.file_name());
        match fs::read(&path) {
            Ok(bytes) => parse_record(&path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(state_error(format!("cannot read record {}: {e}", path.display()))),
        }
    }

    /// Writes `rec` atomically: a private temporary file, renamed. Not
    /// fsync'd: a record matters only while the kernel state it describes
    /// exists, and that does not survive the power loss fsync guards
    /// against; a killed process leaves the page cache intact.
    pub fn save(&self, rec: &Record) -> Result<()> {
        let path = self.dir.join(rec.key().file_name());
        // A temporary name of its own per process: concurrent writers of the
        // same record must not share (and truncate) one file.
        let tmp = self.dir.join(format!(".{}.{}.tmp", rec.key().file_name(), std::process::id()));
        let fail = |e: std::io::Error| state_error(format!("cannot write record {}: {e}", path.display()));
        let mut text = serde_json::to_vec_pretty(rec).expect("records always serialise");
        text.push(b'\n');
        let mut f = OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&tmp).map_err(fail)?;
        f.write_all(&text).map_err(fail)?;
        fs::rename(&tmp, &path).map_err(fail)
    }

    pub fn remove(&self, key: &Key) -> Result<()> {
        let path = self.dir.join(key.file_name());
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(state_error(format!("cannot remove record {}: {e}", path.display())))
            }
            _ => Ok(()),
        }
    }

    /// Every record in the store; unreadable ones are reported, not skipped.
    pub fn list(&self) -> Result<Vec<(PathBuf, Result<Record>)>> {
        let entries = fs::read_dir(&self.dir)
            .map_err(|e| state_error(format!("cannot list dataDir {}: {e}", self.dir.display())))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.ends_with(".json") {
                continue;
            }
            let rec = fs::read(&path)
                .map_err(|e| state_error(format!("cannot read record {}: {e}", path.display())))
                .and_then(|b| parse_record(&path, &b));
            out.push((path, rec));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    #[cfg(test)]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the directory is private, as records reveal the host's layout.
    #[cfg(test)]
    pub fn is_private(&self) -> bool {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(&self.dir).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
    }
}

/// An attachment's lock. Its file is removed when the lock is dropped: a
/// waiter that then gets the lock on the removed file finds no record, and
/// only ever acts on a record it loaded under the lock.
pub struct KeyLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn parse_record(path: &Path, bytes: &[u8]) -> Result<Record> {
    let rec: Record =
        serde_json::from_slice(bytes).map_err(|e| state_error(format!("record {} is corrupt: {e}", path.display())))?;
    if rec.format != FORMAT {
        return Err(state_error(format!("record {} has unknown format {}", path.display(), rec.format)));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ifname: &str) -> Key {
        Key { network: "net".into(), container_id: "c1".into(), ifname: ifname.into() }
    }

    fn temp_store(tag: &str) -> Store {
        let dir = std::env::temp_dir().join(format!("hostdev-state-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Store::open(&dir).unwrap()
    }

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(key("../../x").file_name(), "net+c1+%2E%2E%2F%2E%2E%2Fx.json");
        assert_eq!(key("eth0").file_name(), "net+c1+eth0.json");
        assert!(!key("a/b").file_name().contains('/'));
    }

    #[test]
    fn save_load_list_remove() {
        let store = temp_store("slr");
        assert!(store.is_private());
        let rec = Record::new(
            &key("eth0"),
            None,
            Link { name: "h1".into(), mac: "02:00:00:00:00:01".into(), ..Link::default() },
            vec![],
        );
        store.save(&rec).unwrap();
        assert_eq!(store.load(&key("eth0")).unwrap(), Some(rec.clone()));
        assert_eq!(store.list().unwrap().len(), 1);
        store.remove(&key("eth0")).unwrap();
        store.remove(&key("eth0")).unwrap();
        assert_eq!(store.load(&key("eth0")).unwrap(), None);
        fs::remove_dir_all(store.dir()).unwrap();
    }

    #[test]
    fn corrupt_records_are_errors() {
        let store = temp_store("corrupt");
        fs::write(store.dir().join(key("eth0").file_name()), b"{not json").unwrap();
        assert_eq!(store.load(&key("eth0")).unwrap_err().code, code::STATE);
        assert!(store.list().unwrap()[0].1.is_err());
        fs::remove_dir_all(store.dir()).unwrap();
    }

    #[test]
    fn a_file_is_not_a_data_dir() {
        let path = std::env::temp_dir().join(format!("hostdev-state-file-{}", std::process::id()));
        fs::write(&path, b"x").unwrap();
        assert_eq!(Store::open(&path).err().unwrap().code, code::STATE);
        assert_eq!(Store::open(Path::new("relative")).err().unwrap().code, code::INVALID_CONFIG);
        fs::remove_file(path).unwrap();
    }
}
