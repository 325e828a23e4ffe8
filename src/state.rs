//! The per-attachment record on disk: what the host interface was before
//! ADD, what proves its identity, and how far ADD or DEL got. Written
//! atomically, one JSON file per (network, container id, interface name),
//! readable by a person, in a directory only root can write (`SafeDir`).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::Flock;
use serde::{Deserialize, Serialize};

pub use crate::cni::config::Unprovable;
pub use crate::cni::env::Pod;
use crate::cni::env::check_ifname;
use crate::cni::{Error, Result, code};
pub use crate::device::Userspace;
use crate::netlink::nexthop::Nexthop;
use crate::netlink::route::RouteEntry;
use crate::netlink::{Addr, Link};
pub use crate::netns::NsIdentity;
use crate::safedir::{SafeDir, temp_owner};

const FORMAT: u32 = 1;
/// Longest record file name used as it is; longer keys are hashed, so that
/// every valid attachment fits the file system's 255-byte limit together
/// with the lock and temporary names derived from it.
const PLAIN_NAME_MAX: usize = 200;

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
    /// Nobody knows where the interface is, and nothing proved it gone:
    /// `lost` says why. GC looks again; the record is the only memory of it.
    Lost,
}

impl Phase {
    /// The phase as records spell it, so that a phase added here shows up
    /// in logs and listings without a change there.
    pub fn name(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => format!("{self:?}"),
        }
    }
}

/// What proves that a link is the interface hostdev gave away: things a
/// container cannot forge (see the README's identity rule). Index, name,
/// MAC, alias and kind are only hints.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Anchor {
    /// A physical device: the parent device on its bus (`host.parent`).
    Parent,
    /// A veth: its peer stays in the host at this index, and reports where
    /// our end is.
    Peer { index: u32 },
    /// A macvlan/ipvlan/vlan: its lower device in the host at this index.
    Lower { index: u32 },
    /// Nothing a container cannot forge (tap, vcan, macvtap, ...): DEL
    /// does what the record's `unprovable` says, and without it nothing.
    #[default]
    Unprovable,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_identity: Option<NsIdentity>,
    /// The namespace's cookie (SO_NETNS_COOKIE), never reused until the
    /// machine restarts: a newer namespace can take a dead one's inode.
    /// Absent in records written before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_cookie: Option<u64>,
    /// The id the node's namespace gave the container's at ADD: its death
    /// arrives as RTM_DELNSID with this id, and the id gone proves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nsid: Option<i32>,
    pub phase: Phase,
    /// The host interface as it was before ADD.
    pub host: Link,
    #[serde(default)]
    pub anchor: Anchor,
    pub addrs: Vec<Addr>,
    /// The routes through it that somebody configured (kernel-made prefix
    /// routes come back with the addresses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
    /// The nexthop objects the move deletes or changes: those through it,
    /// the groups they are in, the ones its routes name (`nhid`), members
    /// before their groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nexthops: Vec<Nexthop>,
    /// With `useInterfaceNetwork`, the policy rules that name it or match
    /// its addresses, as the kernel reported them (RTM_NEWRULE, hex): copied
    /// into the container, and made again on the host if they went missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Its per-device sysctls on the host ("ipv4.accept_ra" -> "2"): the
    /// kernel resets them to the namespace's defaults on every move.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    /// Its device features the driver lets change, as the host asked for
    /// them (`ethtool -k`): the pod's changes travel home with the device.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub features: BTreeMap<String, bool>,
    /// Its index inside the container, once known (a hint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_index: Option<u32>,
    /// The name it waits under on the host while its own is taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parked_as: Option<String>,
    /// Why the interface is lost (phase `lost`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    /// What DEL does with an unprovable device, as the config said at ADD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unprovable: Option<Unprovable>,
    /// Set for a device bound to a userspace driver: nothing was moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userspace: Option<Userspace>,
    /// The pod the runtime named in CNI_ARGS (Kubernetes only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Pod>,
    /// When ADD recorded it, in seconds since the epoch (records of older
    /// versions have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added: Option<u64>,
    /// An SR-IOV VF whose admin state ADD sets through its PF: the state
    /// before ADD, restored on the way home (see `vf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vf: Option<crate::vf::VfRecord>,
    /// The device-info file ADD writes, removed with the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_info: Option<PathBuf>,
}

impl Record {
    pub fn new(key: &Key, netns: Option<PathBuf>, host: Link, addrs: Vec<Addr>) -> Record {
        Record {
            format: FORMAT,
            network: key.network.clone(),
            container_id: key.container_id.clone(),
            ifname: key.ifname.clone(),
            netns,
            netns_identity: None,
            netns_cookie: None,
            nsid: None,
            phase: Phase::Adding,
            host,
            anchor: Anchor::Unprovable,
            addrs,
            routes: Vec::new(),
            nexthops: Vec::new(),
            rules: Vec::new(),
            sysctls: BTreeMap::new(),
            features: BTreeMap::new(),
            container_index: None,
            parked_as: None,
            lost: None,
            unprovable: None,
            userspace: None,
            pod: None,
            added: None,
            vf: None,
            device_info: None,
        }
    }

    /// Who holds the attachment, for messages: the container, and its pod
    /// when the runtime named one.
    pub fn holder(&self) -> String {
        match &self.pod {
            Some(pod) => format!("container {} (pod {pod})", self.container_id),
            None => format!("container {}", self.container_id),
        }
    }

    /// The record of a userspace-bound device: no interface, no snapshot.
    pub fn userspace(key: &Key, netns: Option<PathBuf>, device: Userspace) -> Record {
        Record { userspace: Some(device), ..Record::new(key, netns, Link::default(), Vec::new()) }
    }

    pub fn key(&self) -> Key {
        Key { network: self.network.clone(), container_id: self.container_id.clone(), ifname: self.ifname.clone() }
    }

    /// Whether `link`, on the host before ADD, is this record's device: the
    /// same index and name (the claim check; the host is not hostile).
    pub fn describes(&self, link: &Link) -> bool {
        self.userspace.is_none()
            && self.host.index == link.index
            && (self.host.name == link.name || self.parked_as.as_ref() == Some(&link.name))
    }

    /// Reads a record as the store does from the file `name`: parsed,
    /// then checked (format, key, names, indices).
    pub fn from_file(name: &str, bytes: &[u8]) -> Result<Record> {
        parse_record(name, name, bytes)
    }

    /// The record as the store writes it.
    pub fn to_file(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("records always serialise");
        text.push(b'\n');
        text
    }

    /// The name of the file that says which attachment holds this record's
    /// device: one per device, so that ADD's claim check reads one file
    /// however many attachments the node has.
    pub fn claim_name(&self) -> String {
        match &self.userspace {
            Some(device) => format!(".claim.dev-{}", escape(&device.id)),
            None => format!(".claim.if{}", self.host.index),
        }
    }

    /// The checks a record read from disk must pass before it may steer
    /// any kernel request.
    fn validate(&self) -> std::result::Result<(), String> {
        let name = |what: &str, n: &str| check_ifname(what, n).map_err(|e| e.msg);
        name("ifname", &self.ifname)?;
        if let Some(parked) = &self.parked_as {
            name("parkedAs", parked)?;
        }
        if self.userspace.is_some() {
            return Ok(());
        }
        name("host.name", &self.host.name)?;
        if let Some(bad) = self.host.altnames.iter().find(|a| !crate::ifname::valid_alt(a)) {
            return Err(format!("host.altnames holds {bad:?}, which is not an interface name"));
        }
        let index_ok = |i: u32| i > 0 && i < i32::MAX as u32;
        let anchor_ok = match self.anchor {
            Anchor::Peer { index } | Anchor::Lower { index } => index_ok(index),
            Anchor::Parent => self.host.parent.is_some(),
            Anchor::Unprovable => true,
        };
        if !index_ok(self.host.index) || !anchor_ok || self.container_index.is_some_and(|i| !index_ok(i)) {
            return Err("it holds an impossible interface index or anchor".into());
        }
        Ok(())
    }
}

/// Seconds since the epoch, as `Record::added` counts them.
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
    /// Keys too long for a file name are hashed (the record inside says
    /// which attachment it is, and is checked against the key on reading).
    pub fn file_name(&self) -> String {
        let plain = format!("{}+{}+{}.json", self.network, self.container_id, escape(&self.ifname));
        if plain.len() <= PLAIN_NAME_MAX {
            return plain;
        }
        format!("h{:032x}.json", fnv1a_128(plain.as_bytes()))
    }

    /// The attachment lock's file name.
    pub fn lock_name(&self) -> String {
        format!(".{}.lock", self.file_name())
    }
}

/// FNV-1a, 128 bits: a stable hash without a dependency. Not a defence
/// against chosen collisions (only root writes keys), and a collision would
/// only make the record refused, as it names its own key.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    bytes.iter().fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME))
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
    dir: SafeDir,
}

fn state_error(msg: String) -> Error {
    Error::new(code::STATE, msg)
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
        self.dir.check_writable()
    }

    /// Opens an existing data directory only to read it (`hostdev list`):
    /// creates nothing. None when there is no such directory.
    pub fn open_existing(dir: &Path) -> Result<Option<Store>> {
        Ok(SafeDir::open_existing(dir)?.map(|dir| Store { dir }))
    }

    /// Takes the store's lock: held only while claims are checked and
    /// written, never across a move.
    pub fn lock(&self) -> Result<Flock<File>> {
        self.dir.lock(STORE_LOCK, lock_wait())
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
                Err(e) if e.code == code::TRY_AGAIN => return Ok(None),
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
            None => self.dir.try_lock(&name)?.ok_or_else(|| Error::new(code::TRY_AGAIN, "busy"))?,
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
        self.dir.write(&rec.key().file_name(), &rec.to_file())
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
        let claim = rec.claim_name();
        if self.dir.read(&claim, CLAIM_MAX).ok().flatten().is_some_and(|c| c == name.as_bytes()) {
            self.dir.remove(&claim)?;
        }
        Ok(())
    }

    /// Notes that `rec` holds its device. Written before the record: a
    /// claim never points nowhere for long, and a stale one (its record
    /// gone, or about another device) is ignored by `claimant`.
    pub fn claim(&self, rec: &Record) -> Result<()> {
        self.dir.write(&rec.claim_name(), rec.key().file_name().as_bytes())
    }

    /// The record whose device `probe` describes, found through the claim
    /// file alone. An unreadable record behind a claim is an error, never
    /// "free".
    pub fn claimant(&self, probe: &Record) -> Result<Option<Record>> {
        let Some(name) = self.dir.read(&probe.claim_name(), CLAIM_MAX)? else { return Ok(None) };
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
                Err(e) => Err(e),
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

/// Whether the process that wrote a file at `written` (seconds since the
/// epoch) as `pid` still runs: a hostdev (our own name) that is not a zombie
/// (an orphan nobody reaps keeps its pid) and started before the file was
/// written (pids are reused, quickly where pid_max is small).
fn process_alive(pid: u32, written: i64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let ours = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
    let Some(p) = ProcStat::parse(&stat) else { return false };
    p.comm == ours.trim_end() && !p.zombie && boot_time().is_some_and(|boot| boot + p.started <= written + 1)
}

/// What a process's /proc/<pid>/stat line says that `process_alive` needs.
#[derive(Debug, PartialEq, Eq)]
struct ProcStat<'a> {
    comm: &'a str,
    zombie: bool,
    /// Seconds after boot.
    started: i64,
}

impl ProcStat<'_> {
    /// The command name is between the first '(' and the last ')' (it may
    /// hold either); the fields after it are counted from the state.
    fn parse(stat: &str) -> Option<ProcStat<'_>> {
        let (open, close) = (stat.find('(')?, stat.rfind(')')?);
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: i64 = fields.get(19)?.parse().ok()?;
        Some(ProcStat { comm: &stat[open + 1..close], zombie: fields.first() == Some(&"Z"), started: ticks / CLK_TCK })
    }
}

/// Clock ticks per second in /proc/<pid>/stat (USER_HZ, 100 on Linux).
const CLK_TCK: i64 = 100;

/// When the machine booted, in seconds since the epoch.
fn boot_time() -> Option<i64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|b| b.trim().parse().ok())
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

/// Parses and checks a record read from the file `name`: it must be of our
/// format, filed under its own key, and name only valid interfaces, so that
/// an edited or corrupt record is refused before it can steer the kernel.
fn parse_record(path: &str, name: &str, bytes: &[u8]) -> Result<Record> {
    let bad = |why: String| state_error(format!("record {path} is corrupt: {why}; nothing was changed"));
    let rec: Record = serde_json::from_slice(bytes).map_err(|e| bad(format!("it is not valid JSON: {e}")))?;
    if rec.format != FORMAT {
        return Err(bad(format!("unknown format {}", rec.format)));
    }
    if rec.key().file_name() != name {
        return Err(bad(format!(
            "it describes {}/{}/{}, which is not the attachment its file name is for",
            rec.network, rec.container_id, rec.ifname
        )));
    }
    rec.validate().map_err(bad)?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::safedir::tests::TempDir;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn key(ifname: &str) -> Key {
        Key { network: "net".into(), container_id: "c1".into(), ifname: ifname.into() }
    }

    fn veth_record(ifname: &str) -> Record {
        let host = Link { index: 7, name: "h1".into(), mac: "02:00:00:00:00:01".into(), ..Link::default() };
        Record { anchor: Anchor::Peer { index: 8 }, ..Record::new(&key(ifname), None, host, vec![]) }
    }

    #[test]
    fn only_a_live_process_of_our_own_name_keeps_its_leftovers() {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        assert!(process_alive(std::process::id(), now));
        assert!(!process_alive(u32::MAX, now));
        // A file older than the process at its pid: the pid was reused.
        assert!(!process_alive(std::process::id(), 0));
        // The start is known to the second (ticks are truncated, and so is
        // a file's time): one second earlier still counts, two do not.
        let boot = boot_time().unwrap();
        let uptime: f64 = std::fs::read_to_string("/proc/uptime").unwrap().split(' ').next().unwrap().parse().unwrap();
        assert!((now - uptime as i64 - boot).abs() <= 2, "boot time {boot}, uptime {uptime}, now {now}");
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let started = boot + ProcStat::parse(&stat).unwrap().started;
        assert!(process_alive(std::process::id(), started - 1));
        assert!(!process_alive(std::process::id(), started - 2));
        // A zombie of our own name (this test binary, exited, not reaped).
        let mut zombie = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "no-such-test"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stat = format!("/proc/{}/stat", zombie.id());
        let dead = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            std::fs::read_to_string(&stat).is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.starts_with(" Z")))
        });
        assert!(dead, "the child did not become a zombie");
        assert!(!process_alive(zombie.id(), now), "a zombie counts as alive");
        zombie.wait().unwrap();
        // Another program at a pid (a reused pid, to a sweep) is not ours.
        let mut other = std::process::Command::new("sleep").arg("5").spawn().unwrap();
        assert!(!process_alive(other.id(), now));
        other.kill().unwrap();
        other.wait().unwrap();
    }

    #[test]
    fn proc_stat_lines_are_read_by_their_fields() {
        let line = "42 (host) (dev) Z 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 12345 1000 5\n";
        assert_eq!(ProcStat::parse(line), Some(ProcStat { comm: "host) (dev", zombie: true, started: 123 }));
        let line = "7 (hostdev) S 1 7 7 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 99 1000 5\n";
        assert_eq!(ProcStat::parse(line), Some(ProcStat { comm: "hostdev", zombie: false, started: 0 }));
        assert_eq!(ProcStat::parse("7 (hostdev) S 1 7"), None);
    }

    #[test]
    fn file_names_cannot_escape() {
        assert_eq!(key("../../x").file_name(), "net+c1+%2E%2E%2F%2E%2E%2Fx.json");
        assert_eq!(key("eth0").file_name(), "net+c1+eth0.json");
        assert_eq!(key("net-1_a").file_name(), "net+c1+net-1_a.json", "- and _ are kept as they are");
        assert!(!key("a/b").file_name().contains('/'));
    }

    #[test]
    fn long_keys_are_hashed_to_a_stable_name() {
        let long = Key { network: "n".repeat(240), container_id: "c".repeat(200), ifname: "eth0".into() };
        let name = long.file_name();
        assert!(name.len() < 64 && name.starts_with('h') && name.ends_with(".json"), "{name}");
        assert_eq!(name, long.clone().file_name());
        assert_ne!(name, Key { ifname: "eth1".into(), ..long.clone() }.file_name());
        assert!(long.lock_name().len() < 255);
    }

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
        assert_eq!(store.claimant(&rec).unwrap(), None);
        store.claim(&rec).unwrap();
        store.save(&rec).unwrap();
        assert_eq!(store.claimant(&veth_record("eth9")).unwrap(), Some(rec.clone()));
        store.remove(&rec).unwrap();
        assert_eq!(store.claimant(&rec).unwrap(), None);
        assert!(!tmp.0.join(rec.claim_name()).exists(), "the claim goes with its record");
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
            fs::write(tmp.0.join(rec.claim_name()), target).unwrap();
            assert_eq!(store.claimant(&rec).unwrap(), None, "a claim naming {target}");
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
        assert_eq!(store.load(&key("eth0")).unwrap_err().code, code::STATE);
        assert!(store.list().unwrap()[0].1.is_err());
        // Filed under another attachment's name.
        let text = serde_json::to_vec(&veth_record("eth1")).unwrap();
        fs::write(tmp.0.join(key("eth0").file_name()), &text).unwrap();
        assert!(store.load(&key("eth0")).unwrap_err().msg.contains("not the attachment"));
        // A host name that is a path.
        let mut rec = veth_record("eth0");
        rec.host.name = "../../x".into();
        fs::write(tmp.0.join(key("eth0").file_name()), serde_json::to_vec(&rec).unwrap()).unwrap();
        assert!(store.load(&key("eth0")).unwrap_err().msg.contains("host.name"));
    }

    /// Indices a kernel gives (1 ..= i32::MAX - 1), and an anchor that fits
    /// the record, pass; anything else steers no request.
    #[test]
    fn impossible_indices_and_anchors_are_refused() {
        let check = |f: &dyn Fn(&mut Record)| {
            let mut rec = veth_record("eth0");
            f(&mut rec);
            rec.validate()
        };
        let max = i32::MAX as u32;
        for good in [1, max - 1] {
            assert_eq!(check(&|r| r.host.index = good), Ok(()), "host index {good}");
            assert_eq!(check(&|r| r.anchor = Anchor::Lower { index: good }), Ok(()), "lower {good}");
            assert_eq!(check(&|r| r.container_index = Some(good)), Ok(()), "container index {good}");
        }
        for bad in [0, max, u32::MAX] {
            assert!(check(&|r| r.host.index = bad).is_err(), "host index {bad}");
            assert!(check(&|r| r.anchor = Anchor::Peer { index: bad }).is_err(), "peer {bad}");
            assert!(check(&|r| r.container_index = Some(bad)).is_err(), "container index {bad}");
        }
        assert!(check(&|r| r.anchor = Anchor::Parent).is_err(), "a parent anchor without a parent");
        assert_eq!(check(&|r| r.anchor = Anchor::Unprovable), Ok(()));
    }

    #[test]
    fn unsafe_data_dirs_are_refused() {
        let tmp = TempDir::new("unsafe");
        fs::create_dir(&tmp.0).unwrap();
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o0777)).unwrap();
        let e = Store::open(&tmp.0).err().unwrap();
        assert_eq!(e.code, code::STATE);
        assert!(e.msg.contains("chmod 0700"), "{}", e.msg);
        // A sticky one is shared, as /tmp: never chmod it, choose another.
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o1777)).unwrap();
        let e = Store::open(&tmp.0).err().unwrap();
        assert!(!e.msg.contains("chmod") && e.msg.contains("of hostdev's own"), "{}", e.msg);
        let file = tmp.0.join("file");
        fs::set_permissions(&tmp.0, fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(&file, b"x").unwrap();
        assert_eq!(Store::open(&file).err().unwrap().code, code::STATE);
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
