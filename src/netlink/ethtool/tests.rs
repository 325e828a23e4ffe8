use super::*;

/// A verbose bitset as the kernel writes one: with `mask`, every bit of it
/// listed and the set ones with a VALUE; without, NOMASK and the set ones.
fn kernel_bitset(out: &mut Vec<u8>, kind: u16, names: &[&str], set: &[bool], mask: bool) {
    nla::nest(out, kind, |b| {
        if !mask {
            nla::push(b, ETHTOOL_A_BITSET_NOMASK, &[]);
        }
        nla::push(b, 2, &(names.len() as u32).to_ne_bytes()); // SIZE
        nla::nest(b, ETHTOOL_A_BITSET_BITS, |bits| {
            for (i, (name, on)) in names.iter().zip(set).enumerate() {
                if !mask && !on {
                    continue;
                }
                nla::nest(bits, ETHTOOL_A_BITSET_BITS_BIT, |bit| {
                    nla::push(bit, ETHTOOL_A_BITSET_BIT_INDEX, &(i as u32).to_ne_bytes());
                    nla::push_str(bit, ETHTOOL_A_BITSET_BIT_NAME, name);
                    if mask && *on {
                        nla::push(bit, ETHTOOL_A_BITSET_BIT_VALUE, &[]);
                    }
                });
            }
        });
    });
}

const NAMES: [&str; 4] = ["tx-scatter-gather", "tx-checksum-ipv4", "rx-gro", "netns-local"];

/// FEATURES_GET_REPLY's attributes: HW with the mask of every feature,
/// the others without one.
fn reply() -> Vec<u8> {
    let mut r = Vec::new();
    nla::nest(&mut r, ETHTOOL_A_FEATURES_HEADER, |h| nla::push_str(h, ETHTOOL_A_HEADER_DEV_NAME, "eth0"));
    kernel_bitset(&mut r, ETHTOOL_A_FEATURES_HW, &NAMES, &[true, true, true, false], true);
    kernel_bitset(&mut r, ETHTOOL_A_FEATURES_WANTED, &NAMES, &[true, false, true, false], false);
    kernel_bitset(&mut r, ETHTOOL_A_FEATURES_ACTIVE, &NAMES, &[true, false, false, true], false);
    kernel_bitset(&mut r, ETHTOOL_A_FEATURES_NOCHANGE, &NAMES, &[false, false, true, true], false);
    r
}

#[test]
fn a_reply_gives_every_name_and_each_state() {
    let f = Features::parse(&reply());
    assert_eq!(*f.names, NAMES);
    let feature = |changeable, requested, active| Feature { changeable, requested, active };
    assert_eq!(f.get("tx-scatter-gather"), Some(feature(true, true, true)));
    assert_eq!(f.get("tx-checksum-ipv4"), Some(feature(true, false, false)));
    // In HW but never to be changed (NOCHANGE): fixed.
    assert_eq!(f.get("rx-gro"), Some(feature(false, true, false)));
    assert_eq!(f.get("netns-local"), Some(feature(false, false, true)));
    assert_eq!(f.get("rx-lro"), None);
    let kept: Vec<(String, bool)> = f.wanted().into_iter().collect();
    assert_eq!(kept, [("tx-checksum-ipv4".into(), false), ("tx-scatter-gather".into(), true)]);
}

#[test]
fn a_set_names_only_what_changes() {
    let f = Features::parse(&reply());
    let want = |pairs: &[(&str, bool)]| pairs.iter().map(|(n, on)| (n.to_string(), *on)).collect();
    assert_eq!(f.wanted_bitset(&want(&[("tx-scatter-gather", true), ("nope", true)])), None);
    let set = f.wanted_bitset(&want(&[("tx-scatter-gather", false), ("tx-checksum-ipv4", true)])).unwrap();
    let (kind, value) = attrs(&set).next().unwrap();
    assert_eq!(kind, ETHTOOL_A_FEATURES_WANTED);
    // No NOMASK: the bits named are the mask, each on with a VALUE.
    let bits: Vec<(String, bool)> = bitset(value).into_iter().map(|(_, n, on)| (n, on)).collect();
    assert_eq!(bits, [("tx-scatter-gather".to_string(), false), ("tx-checksum-ipv4".to_string(), true)]);
    assert!(!attrs(value).any(|(k, _)| k == ETHTOOL_A_BITSET_NOMASK));
}

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

/// A compact bitset as the kernel writes one: SIZE, the bits as u32 words
/// in VALUE, and the MASK of every bit or NOMASK.
fn compact_bitset(out: &mut Vec<u8>, kind: u16, set: &[bool], mask: bool) {
    let words = |bits: &mut dyn Iterator<Item = bool>| {
        let mut w = vec![0u32; set.len().div_ceil(32)];
        for (i, on) in bits.enumerate() {
            w[i / 32] |= u32::from(on) << (i % 32);
        }
        w.iter().flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>()
    };
    nla::nest(out, kind, |b| {
        if !mask {
            nla::push(b, ETHTOOL_A_BITSET_NOMASK, &[]);
        }
        nla::push(b, ETHTOOL_A_BITSET_SIZE, &(set.len() as u32).to_ne_bytes());
        nla::push(b, ETHTOOL_A_BITSET_VALUE, &words(&mut set.iter().copied()));
        if mask {
            nla::push(b, 5, &words(&mut set.iter().map(|_| true))); // MASK
        }
    });
}

/// `reply()`'s states, in compact bitsets.
fn compact_reply(hw: &[bool]) -> Vec<u8> {
    let mut r = Vec::new();
    nla::nest(&mut r, ETHTOOL_A_FEATURES_HEADER, |h| nla::push_str(h, ETHTOOL_A_HEADER_DEV_NAME, "eth0"));
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_HW, hw, true);
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_WANTED, &[true, false, true, false], false);
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_ACTIVE, &[true, false, false, true], false);
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_NOCHANGE, &[false, false, true, true], false);
    r
}

#[test]
fn a_compact_reply_with_the_kept_names_reads_as_the_full_one() {
    let names: FeatureNames = NAMES.iter().map(|n| n.to_string()).collect();
    let full = Features::parse(&reply());
    let compact = Features::parse_compact(&compact_reply(&[true, true, true, false]), &names).unwrap();
    assert_eq!((&compact.names, &compact.state), (&full.names, &full.state));
    // Bits beyond the first word land where they belong.
    let many: Vec<bool> = (0..40).map(|i| i % 3 == 0).collect();
    let none = vec![false; 40];
    let mut r = Vec::new();
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_HW, &none, true);
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_WANTED, &none, false);
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_ACTIVE, &many, false);
    compact_bitset(&mut r, ETHTOOL_A_FEATURES_NOCHANGE, &none, false);
    let names: FeatureNames = (0..40).map(|i| format!("f{i}")).collect();
    let f = Features::parse_compact(&r, &names).unwrap();
    assert_eq!(f.state.iter().map(|s| s.active).collect::<Vec<_>>(), many);
}

#[test]
fn a_compact_reply_of_another_size_than_the_kept_names_is_not_taken() {
    let names: FeatureNames = NAMES[..3].iter().map(|n| n.to_string()).collect();
    assert!(Features::parse_compact(&compact_reply(&[true, true, true, false]), &names).is_none());
}

/// A reply that lacks a bitset, or whose bitset has no SIZE, is no
/// FEATURES_GET_REPLY of these names (an empty one would read as a device
/// without features).
#[test]
fn a_compact_reply_without_its_four_bitsets_is_not_taken() {
    let names: FeatureNames = NAMES.iter().map(|n| n.to_string()).collect();
    assert!(Features::parse_compact(&[], &names).is_none());
    let whole = compact_reply(&[true, true, true, false]);
    let bitsets: Vec<(u16, &[u8])> = attrs(&whole).filter(|(kind, _)| *kind != ETHTOOL_A_FEATURES_HEADER).collect();
    for (left_out, _) in &bitsets {
        let mut r = Vec::new();
        for (kind, value) in bitsets.iter().filter(|(kind, _)| kind != left_out) {
            nla::push(&mut r, *kind, value);
        }
        assert!(Features::parse_compact(&r, &names).is_none(), "without bitset {left_out}");
    }
    let mut r = Vec::new();
    for (kind, value) in &bitsets {
        let sizeless: Vec<u8> =
            attrs(value).filter(|(k, _)| *k != ETHTOOL_A_BITSET_SIZE).fold(Vec::new(), |mut b, (k, v)| {
                nla::push(&mut b, k, v);
                b
            });
        nla::push(&mut r, *kind, if *kind == ETHTOOL_A_FEATURES_ACTIVE { &sizeless } else { value });
    }
    assert!(Features::parse_compact(&r, &names).is_none(), "a bitset without SIZE");
}

/// Only a FEATURES_GET_REPLY is taken: a reply of another family's command
/// (the controller's NEWFAMILY is 1), or none, is not a device's features.
#[test]
fn only_a_features_reply_is_taken() {
    let attrs = compact_reply(&[true, true, true, false]);
    let with_header = |cmd: u8| [vec![cmd, ETHTOOL_GENL_VERSION, 0, 0], attrs.clone()].concat();
    assert_eq!(features_reply(vec![with_header(ETHTOOL_MSG_FEATURES_GET_REPLY)]), Some(attrs.clone()));
    assert_eq!(features_reply(vec![with_header(1)]), None);
    assert_eq!(features_reply(vec![]), None);
}
