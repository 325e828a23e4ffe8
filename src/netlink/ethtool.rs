//! Device features (what `ethtool -k` shows and `ethtool -K` sets), through
//! the ETHTOOL ioctl's feature requests: ETHTOOL_GSSET_INFO and
//! ETHTOOL_GSTRINGS for the kernel's feature names, ETHTOOL_GFEATURES and
//! ETHTOOL_SFEATURES for their state. Why the ioctl and not the ethtool
//! netlink family: the same kernel code answers both, but the ioctl needs
//! no family-id look-up (a round trip per call), no nested bitset encoding
//! and no further crate (the `ethtool` crate brings its own async netlink
//! stack); its requests are fixed structs, sent on the rtnetlink socket we
//! already hold in the right namespace (the kernel hands device ioctls on
//! any socket to `dev_ioctl`, in that socket's namespace).

use std::collections::BTreeMap;
use std::os::fd::RawFd;

use nix::errno::Errno;

use super::NlError;
use super::socket::NlResult;

const SIOCETHTOOL: u64 = 0x8946;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETHTOOL_SFEATURES: u32 = 0x3b;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;

/// struct ifreq, with its union as the data pointer.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: *mut u8,
    _pad: [u8; 16],
}

nix::ioctl_readwrite_bad!(ethtool_ioctl, SIOCETHTOOL, IfReq);

/// One feature's state, as ETHTOOL_GFEATURES reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Feature {
    /// The driver lets it change (`hw_features`, and not fixed).
    pub changeable: bool,
    /// What was asked for (`wanted`).
    pub requested: bool,
    /// What is on now.
    pub active: bool,
}

/// The features of one device, by the kernel's names, in bit order.
#[derive(Debug, Clone, Default)]
pub struct Features {
    pub names: Vec<String>,
    pub state: Vec<Feature>,
}

impl Features {
    /// Reads the features of `ifname` in the namespace of socket `fd`.
    pub fn read(fd: RawFd, ifname: &str) -> NlResult<Features> {
        let context = format!("read the ethtool features of {ifname}");
        let names = feature_names(fd, ifname).map_err(|e| NlError::errno(&context, e))?;
        let blocks = names.len().div_ceil(32);
        let mut buf = words(&[ETHTOOL_GFEATURES, blocks as u32], blocks * 4);
        request(fd, ifname, &mut buf).map_err(|e| NlError::errno(&context, e))?;
        let state = (0..names.len())
            .map(|bit| {
                let word = |field: usize| buf[2 + (bit / 32) * 4 + field] & (1 << (bit % 32)) != 0;
                // available, requested, active, never_changed
                Feature { changeable: word(0) && !word(3), requested: word(1), active: word(2) }
            })
            .collect();
        Ok(Features { names, state })
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

    /// Asks for each named feature on or off, in one request; names the
    /// device does not have are left out. Only what differs is sent.
    pub fn set(&self, fd: RawFd, ifname: &str, want: &BTreeMap<String, bool>) -> NlResult<()> {
        let blocks = self.names.len().div_ceil(32);
        let mut buf = words(&[ETHTOOL_SFEATURES, blocks as u32], blocks * 2);
        let mut any = false;
        for (bit, name) in self.names.iter().enumerate() {
            let Some(&on) = want.get(name).filter(|on| Some(**on) != self.get(name).map(|f| f.requested)) else {
                continue;
            };
            let (word, mask) = (2 + (bit / 32) * 2, 1u32 << (bit % 32));
            buf[word] |= mask; // valid
            if on {
                buf[word + 1] |= mask; // requested
            }
            any = true;
        }
        if !any {
            return Ok(());
        }
        request(fd, ifname, &mut buf).map_err(|e| NlError::errno(&format!("set the ethtool features of {ifname}"), e))
    }
}

/// ETHTOOL_GSSET_INFO then ETHTOOL_GSTRINGS: the kernel's feature names.
fn feature_names(fd: RawFd, ifname: &str) -> Result<Vec<String>, Errno> {
    // cmd, reserved, sset_mask (u64), then one u32 per set in the mask.
    let mut info = words(&[ETHTOOL_GSSET_INFO, 0, 1 << ETH_SS_FEATURES, 0], 1);
    request(fd, ifname, &mut info)?;
    let count = if info[2] & (1 << ETH_SS_FEATURES) != 0 { info[4] as usize } else { 0 };
    let mut strings = words(&[ETHTOOL_GSTRINGS, ETH_SS_FEATURES, count as u32], count * ETH_GSTRING_LEN / 4);
    request(fd, ifname, &mut strings)?;
    let bytes: Vec<u8> = strings[3..].iter().flat_map(|w| w.to_ne_bytes()).collect();
    Ok(bytes
        .chunks(ETH_GSTRING_LEN)
        .map(|c| String::from_utf8_lossy(&c[..c.iter().position(|b| *b == 0).unwrap_or(c.len())]).into_owned())
        .collect())
}

/// A request buffer: `head`, then `more` zeroed words.
fn words(head: &[u32], more: usize) -> Vec<u32> {
    let mut v = head.to_vec();
    v.resize(head.len() + more, 0);
    v
}

/// One SIOCETHTOOL request on `ifname`; `buf` is read and written.
fn request(fd: RawFd, ifname: &str, buf: &mut [u32]) -> Result<(), Errno> {
    let mut req = IfReq { name: [0; 16], data: buf.as_mut_ptr().cast(), _pad: [0; 16] };
    let name = ifname.as_bytes();
    if name.len() >= req.name.len() {
        return Err(Errno::ENAMETOOLONG);
    }
    req.name[..name.len()].copy_from_slice(name);
    // SAFETY: `req` names a buffer as large as the command in it says (the
    // counts in its header were sized with it), alive for the call.
    unsafe { ethtool_ioctl(fd, &mut req) }.map(drop)
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
mod tests {
    use super::*;

    #[test]
    fn group_names_stand_for_their_members() {
        let names = [
            "tx-checksum-ipv4",
            "tx-checksum-ip-generic",
            "tx-tcp-segmentation",
            "tx-tcp6-segmentation",
            "rx-gro",
            "rx-gro-hw",
        ];
        let f = Features {
            names: names.iter().map(|s| s.to_string()).collect(),
            state: vec![Feature { changeable: true, requested: true, active: true }; names.len()],
        };
        assert_eq!(members(&f, "tx-checksumming"), ["tx-checksum-ipv4", "tx-checksum-ip-generic"]);
        assert_eq!(members(&f, "tx"), members(&f, "tx-checksumming"));
        assert_eq!(members(&f, "tso"), ["tx-tcp-segmentation", "tx-tcp6-segmentation"]);
        assert_eq!(members(&f, "gro"), ["rx-gro"]);
        assert_eq!(members(&f, "rx-gro-hw"), ["rx-gro-hw"]);
        assert!(members(&f, "nope").is_empty());
    }
}
