//! Device features (what `ethtool -k` shows and `ethtool -K` sets), through
//! the kernel's ethtool generic-netlink family: ETHTOOL_MSG_FEATURES_GET
//! and ETHTOOL_MSG_FEATURES_SET, with bitsets by name. A small request of
//! our own on the blocking socket the rest of hostdev uses, rather than the
//! `ethtool` crate, which brings its own async netlink stack (tokio,
//! futures) for two messages; see docs/design.md.
//!
//! One FEATURES_GET says everything: its HW bitset lists every feature the
//! kernel has, by index and name (the kernel sends it with the mask of all
//! features), and WANTED, ACTIVE and NOCHANGE list the ones set. The family
//! id and the names are the kernel's for the whole boot (`Kept`): given
//! them, the request is for compact bitsets (bits without names, some
//! 200 bytes instead of 4.4 KB) and the family is not looked up.

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::sync::{Arc, OnceLock};

use super::NlError;
use super::nla::{self, attrs};
use super::socket::{NlResult, Socket, in_namespace};

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const ETHTOOL_GENL_NAME: &str = "ethtool";
const ETHTOOL_GENL_VERSION: u8 = 1;

const ETHTOOL_MSG_FEATURES_GET: u8 = 11;
const ETHTOOL_MSG_FEATURES_SET: u8 = 12;
/// The kernel's own numbering (enum ethtool_msg_kernel_type).
const ETHTOOL_MSG_FEATURES_GET_REPLY: u8 = 11;
const ETHTOOL_A_FEATURES_HEADER: u16 = 1;
const ETHTOOL_A_FEATURES_HW: u16 = 2;
const ETHTOOL_A_FEATURES_WANTED: u16 = 3;
const ETHTOOL_A_FEATURES_ACTIVE: u16 = 4;
const ETHTOOL_A_FEATURES_NOCHANGE: u16 = 5;
const ETHTOOL_A_HEADER_DEV_NAME: u16 = 2;
const ETHTOOL_A_HEADER_FLAGS: u16 = 3;
/// Bitsets as bit arrays, without names.
const ETHTOOL_FLAG_COMPACT_BITSETS: u32 = 1 << 0;
/// No FEATURES_SET_REPLY: the ACK is all we wait for.
const ETHTOOL_FLAG_OMIT_REPLY: u32 = 1 << 1;
const ETHTOOL_A_BITSET_NOMASK: u16 = 1;
const ETHTOOL_A_BITSET_SIZE: u16 = 2;
const ETHTOOL_A_BITSET_BITS: u16 = 3;
const ETHTOOL_A_BITSET_VALUE: u16 = 4;
const ETHTOOL_A_BITSET_BITS_BIT: u16 = 1;
const ETHTOOL_A_BITSET_BIT_INDEX: u16 = 1;
const ETHTOOL_A_BITSET_BIT_NAME: u16 = 2;
const ETHTOOL_A_BITSET_BIT_VALUE: u16 = 3;
/// struct genlmsghdr: cmd, version, reserved (u16).
const GENL_HDRLEN: usize = 4;

/// A generic-netlink socket that talks to the ethtool family, in the
/// namespace it was opened in (a device is found by name there).
pub struct Ethtool {
    sock: Socket,
    family: u16,
    /// The features' names, when kept from an earlier read this boot.
    names: Option<FeatureNames>,
}

/// The features' names in bit order: the kernel's for the boot, so one
/// list is shared by the kept file, the socket and each read (a copy of
/// some 60 names was made four times an ADD).
pub type FeatureNames = Arc<[String]>;

/// What a verbose read learns that holds for the boot: the family's id
/// and the names of the features, in bit order (kept by state/facts.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub family: u16,
    pub names: FeatureNames,
}

impl Ethtool {
    /// One in the calling thread's namespace.
    pub fn open() -> NlResult<Ethtool> {
        Ethtool::open_kept(None)
    }

    /// One that takes the family's id and the names from `kept` when
    /// given: no lookup, and compact replies.
    pub fn open_kept(kept: Option<&Kept>) -> NlResult<Ethtool> {
        let mut sock = Socket::generic().map_err(|e| e.during("open an ethtool netlink socket"))?;
        let family = match kept {
            Some(k) => k.family,
            None => family_id(&mut sock)?,
        };
        Ok(Ethtool { sock, family, names: kept.map(|k| k.names.clone()) })
    }

    /// What `features`, read in full through this socket, says for the
    /// boot.
    pub fn kept(&self, features: &Features) -> Kept {
        Kept { family: self.family, names: features.names.clone() }
    }

    /// One in namespace `ns` (a netlink socket stays where it was made).
    pub fn open_in(ns: BorrowedFd<'_>, home: BorrowedFd<'_>) -> NlResult<Ethtool> {
        in_namespace(ns, home, Ethtool::open)?
    }

    /// Sends command `cmd` about device `ifname`, with `attrs` after its
    /// header, and returns the replies, each from its generic-netlink header.
    fn request(&mut self, cmd: u8, ifname: &str, flags: u32, attrs: &[u8]) -> NlResult<Vec<Vec<u8>>> {
        let mut body = vec![cmd, ETHTOOL_GENL_VERSION, 0, 0];
        nla::nest(&mut body, ETHTOOL_A_FEATURES_HEADER, |h| {
            nla::push_str(h, ETHTOOL_A_HEADER_DEV_NAME, ifname);
            if flags != 0 {
                nla::push(h, ETHTOOL_A_HEADER_FLAGS, &flags.to_ne_bytes());
            }
        });
        body.extend_from_slice(attrs);
        self.sock.raw(self.family, 0, &body)
    }
}

impl Ethtool {
    /// FEATURES_GET of `ifname` with header `flags`: the reply's
    /// attributes. No FEATURES_GET_REPLY is an error: the family asked was
    /// not ethtool's.
    fn get(&mut self, ifname: &str, flags: u32) -> NlResult<Vec<u8>> {
        let during = || format!("read the ethtool features of {ifname}");
        let replies = self.request(ETHTOOL_MSG_FEATURES_GET, ifname, flags, &[]).map_err(|e| e.during(during()))?;
        features_reply(replies).ok_or_else(|| {
            NlError::other(format!("{}: generic-netlink family {} sent no FEATURES_GET_REPLY", during(), self.family))
        })
    }
}

/// The attributes of the reply to a FEATURES_GET, when it is one.
fn features_reply(replies: Vec<Vec<u8>>) -> Option<Vec<u8>> {
    let reply = replies.into_iter().next()?;
    (reply.first() == Some(&ETHTOOL_MSG_FEATURES_GET_REPLY))
        .then(|| reply.get(GENL_HDRLEN..).unwrap_or_default().to_vec())
}

/// The ethtool family's id, asked of the kernel's generic-netlink
/// controller once per process: ids are the same in every namespace.
fn family_id(sock: &mut Socket) -> NlResult<u16> {
    static FAMILY: OnceLock<u16> = OnceLock::new();
    if let Some(id) = FAMILY.get() {
        return Ok(*id);
    }
    let mut body = vec![CTRL_CMD_GETFAMILY, 1, 0, 0];
    nla::push_str(&mut body, CTRL_ATTR_FAMILY_NAME, ETHTOOL_GENL_NAME);
    let replies = sock.raw(GENL_ID_CTRL, 0, &body).map_err(|e| {
        e.during("find the kernel's ethtool netlink family (Linux 5.6 and later, with CONFIG_ETHTOOL_NETLINK)")
    })?;
    let id = replies
        .iter()
        .flat_map(|r| attrs(r.get(GENL_HDRLEN..).unwrap_or_default()))
        .find(|(kind, _)| *kind == CTRL_ATTR_FAMILY_ID)
        .and_then(|(_, v)| v.get(..2).map(|b| u16::from_ne_bytes([b[0], b[1]])))
        .ok_or_else(|| NlError::other("the kernel's generic-netlink controller gave no ethtool family id"))?;
    Ok(*FAMILY.get_or_init(|| id))
}

/// One feature's state, as FEATURES_GET reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Feature {
    /// The driver lets it change (in HW, and not in NOCHANGE).
    pub changeable: bool,
    /// What was asked for (WANTED).
    pub requested: bool,
    /// What is on now (ACTIVE).
    pub active: bool,
}

impl Feature {
    /// What bitset `kind` of a FEATURES_GET_REPLY says of it (`set`).
    fn take(&mut self, kind: u16, set: bool) {
        match kind {
            ETHTOOL_A_FEATURES_HW => self.changeable = set,
            ETHTOOL_A_FEATURES_WANTED => self.requested = set,
            ETHTOOL_A_FEATURES_ACTIVE => self.active = set,
            ETHTOOL_A_FEATURES_NOCHANGE => self.changeable &= !set,
            _ => {}
        }
    }
}

/// The features of one device, by the kernel's names, in bit order.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub names: FeatureNames,
    pub state: Vec<Feature>,
}

impl Features {
    /// Reads the features of `ifname` in the namespace of `eth`: in
    /// compact bitsets when `eth` has the names, in full otherwise.
    ///
    /// What was kept is the dataDir's word, not the kernel's: when the
    /// compact read fails or does not fit the names, the family is looked
    /// up by name and the features read in full (a kept id could name
    /// another family, which must not be taken for a device without
    /// features).
    pub fn read(eth: &mut Ethtool, ifname: &str) -> NlResult<Features> {
        if let Some(names) = eth.names.take() {
            let compact = eth.get(ifname, ETHTOOL_FLAG_COMPACT_BITSETS).ok();
            if let Some(f) = compact.and_then(|reply| Features::parse_compact(&reply, &names)) {
                eth.names = Some(names);
                return Ok(f);
            }
            eth.family = family_id(&mut eth.sock)?;
        }
        Ok(Features::parse(&eth.get(ifname, 0)?))
    }

    /// A FEATURES_GET_REPLY's attributes: every name from HW, each
    /// feature's state from the four bitsets.
    fn parse(reply: &[u8]) -> Features {
        let (mut names, mut state) = (Vec::new(), Vec::new());
        for (kind, value) in attrs(reply) {
            for (index, name, set) in bitset(value) {
                if names.len() <= index {
                    names.resize(index + 1, String::new());
                    state.resize(index + 1, Feature::default());
                }
                if names[index].is_empty() {
                    names[index] = name;
                }
                state[index].take(kind, set);
            }
        }
        Features { names: names.into(), state }
    }

    /// A reply in compact bitsets, with the names kept: None unless each
    /// of the four bitsets the kernel sends is there, with as many bits as
    /// there are names.
    fn parse_compact(reply: &[u8], names: &FeatureNames) -> Option<Features> {
        let mut state = vec![Feature::default(); names.len()];
        let bitsets =
            [ETHTOOL_A_FEATURES_HW, ETHTOOL_A_FEATURES_WANTED, ETHTOOL_A_FEATURES_ACTIVE, ETHTOOL_A_FEATURES_NOCHANGE];
        let mut seen = 0;
        for (kind, value) in attrs(reply).filter(|(kind, _)| bitsets.contains(kind)) {
            let bits = compact(value).filter(|bits| bits.len() == names.len())?;
            for (s, set) in state.iter_mut().zip(bits) {
                s.take(kind, set);
            }
            seen += 1;
        }
        (seen == bitsets.len()).then(|| Features { names: names.clone(), state })
    }

    /// The state of the feature called `name`.
    pub fn get(&self, name: &str) -> Option<Feature> {
        self.names.iter().position(|n| n == name).map(|i| self.state[i])
    }

    /// What was asked of each feature the driver lets change: what a
    /// record keeps, and what `set` takes back.
    pub fn wanted(&self) -> BTreeMap<String, bool> {
        self.names
            .iter()
            .zip(&self.state)
            .filter(|(_, f)| f.changeable)
            .map(|(n, f)| (n.clone(), f.requested))
            .collect()
    }

    /// Asks for each named feature on or off, in one FEATURES_SET; names
    /// the device does not have are left out. Only what differs is sent.
    pub fn set(&self, eth: &mut Ethtool, ifname: &str, want: &BTreeMap<String, bool>) -> NlResult<()> {
        let Some(wanted) = self.wanted_bitset(want) else { return Ok(()) };
        eth.request(ETHTOOL_MSG_FEATURES_SET, ifname, ETHTOOL_FLAG_OMIT_REPLY, &wanted)
            .map(drop)
            .map_err(|e| e.during(format!("set the ethtool features of {ifname}")))
    }

    /// The WANTED bitset asking for what `want` changes: each bit by index
    /// and name (the kernel refuses the request if they disagree), with a
    /// value when on; the bits listed are the mask, so the others
    /// stay as they are. None when nothing changes.
    fn wanted_bitset(&self, want: &BTreeMap<String, bool>) -> Option<Vec<u8>> {
        let changes: Vec<(usize, &String, bool)> = (self.names.iter().zip(&self.state).enumerate())
            .filter_map(|(i, (name, f))| want.get(name).filter(|on| **on != f.requested).map(|on| (i, name, *on)))
            .collect();
        if changes.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        nla::nest(&mut out, ETHTOOL_A_FEATURES_WANTED, |set| {
            nla::nest(set, ETHTOOL_A_BITSET_BITS, |bits| {
                for (index, name, on) in changes {
                    nla::nest(bits, ETHTOOL_A_BITSET_BITS_BIT, |bit| {
                        nla::push(bit, ETHTOOL_A_BITSET_BIT_INDEX, &(index as u32).to_ne_bytes());
                        nla::push_str(bit, ETHTOOL_A_BITSET_BIT_NAME, name);
                        if on {
                            nla::push(bit, ETHTOOL_A_BITSET_BIT_VALUE, &[]);
                        }
                    });
                }
            });
        });
        Some(out)
    }
}

/// A compact bitset's bits (SIZE of them, set as VALUE says); None
/// without a SIZE. Without a mask, as the kernel sends
/// each bitset of a compact FEATURES_GET_REPLY but HW, whose mask is
/// every feature, the VALUE is all that counts.
fn compact(b: &[u8]) -> Option<Vec<bool>> {
    let size = attrs(b).find(|(kind, _)| *kind == ETHTOOL_A_BITSET_SIZE).and_then(|(_, v)| nla::u32_of(v))? as usize;
    let value = attrs(b).find(|(kind, _)| *kind == ETHTOOL_A_BITSET_VALUE).map_or(&[][..], |(_, v)| v);
    // An array of u32 words in host order, bit i in word i / 32.
    let word = |w: usize| value.get(w * 4..w * 4 + 4).and_then(nla::u32_of).unwrap_or(0);
    let bit = |i: usize| word(i / 32) & (1 << (i % 32)) != 0;
    Some((0..size).map(bit).collect())
}

/// A bitset's bits, in the kernel's verbose form: (index, name, set). A
/// bitset without a mask (NOMASK) lists only the bits that are set; one
/// with a mask lists every bit of the mask, the set ones with a VALUE.
fn bitset(b: &[u8]) -> Vec<(usize, String, bool)> {
    let nomask = attrs(b).any(|(kind, _)| kind == ETHTOOL_A_BITSET_NOMASK);
    let Some((_, bits)) = attrs(b).find(|(kind, _)| *kind == ETHTOOL_A_BITSET_BITS) else {
        return Vec::new();
    };
    attrs(bits)
        .filter(|(kind, _)| *kind == ETHTOOL_A_BITSET_BITS_BIT)
        .filter_map(|(_, bit)| {
            let (mut index, mut name, mut value) = (None, String::new(), nomask);
            for (kind, v) in attrs(bit) {
                match kind {
                    ETHTOOL_A_BITSET_BIT_INDEX => index = nla::u32_of(v),
                    ETHTOOL_A_BITSET_BIT_NAME => name = nla::str_of(v),
                    ETHTOOL_A_BITSET_BIT_VALUE => value = true,
                    _ => {}
                }
            }
            Some((index? as usize, name, value))
        })
        .collect()
}

/// ethtool(8)'s names for groups of features (`ethtool -K dev tso off`),
/// long and short, with the kernel names they stand for (`*` any text).
const GROUPS: &[(&str, &str, &str)] = &[
    ("rx-checksumming", "rx", "rx-checksum"),
    ("tx-checksumming", "tx", "tx-checksum-*"),
    ("scatter-gather", "sg", "tx-scatter-gather*"),
    ("tcp-segmentation-offload", "tso", "tx-tcp*-segmentation"),
    ("udp-fragmentation-offload", "ufo", "tx-udp-fragmentation"),
    ("generic-segmentation-offload", "gso", "tx-generic-segmentation"),
    ("generic-receive-offload", "gro", "rx-gro"),
    ("large-receive-offload", "lro", "rx-lro"),
    ("rx-vlan-offload", "rxvlan", "rx-vlan-hw-parse"),
    ("tx-vlan-offload", "txvlan", "tx-vlan-hw-insert"),
    ("ntuple-filters", "ntuple", "rx-ntuple-filter"),
    ("receive-hashing", "rxhash", "rx-hashing"),
];

/// The kernel features a name stands for on this device: itself, or the
/// members of an ethtool(8) group name.
pub fn members<'a>(features: &'a Features, name: &str) -> Vec<&'a str> {
    let pattern = GROUPS.iter().find(|(long, short, _)| *long == name || *short == name).map_or(name, |g| g.2);
    features.names.iter().map(String::as_str).filter(|n| glob(pattern, n)).collect()
}

/// `pattern` with at most one `*` matches `name`.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((head, tail)) => name.len() >= head.len() + tail.len() && name.starts_with(head) && name.ends_with(tail),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests;
