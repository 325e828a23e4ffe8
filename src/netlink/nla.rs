//! Netlink attributes written by hand, for the messages netlink-packet-route
//! has no type for (nexthop objects, the ethtool family): a type-length-value
//! each, padded to four bytes, nests marked as the kernel marks them.

use netlink_packet_core::{NLA_F_NESTED, NLA_TYPE_MASK};

/// Appends attribute `kind` carrying `value`.
pub fn push(b: &mut Vec<u8>, kind: u16, value: &[u8]) {
    b.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize(b.len().next_multiple_of(4), 0);
}

/// Appends a string attribute, NUL-terminated as the kernel reads it.
pub fn push_str(b: &mut Vec<u8>, kind: u16, value: &str) {
    let mut v = value.as_bytes().to_vec();
    v.push(0);
    push(b, kind, &v);
}

/// Appends nested attribute `kind`, its contents written by `fill`.
pub fn nest(b: &mut Vec<u8>, kind: u16, fill: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    fill(&mut inner);
    push(b, kind | NLA_F_NESTED, &inner);
}

/// A u32 attribute's value.
pub fn u32_of(v: &[u8]) -> Option<u32> {
    v.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_ne_bytes)
}

/// A string attribute's value, without its NUL.
pub fn str_of(v: &[u8]) -> String {
    String::from_utf8_lossy(&v[..v.iter().position(|b| *b == 0).unwrap_or(v.len())]).into_owned()
}

/// The (kind, value) of each attribute in `b`, the kind without its
/// NESTED and byte-order bits; stops at the first malformed one.
pub fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = b;
    std::iter::from_fn(move || {
        let len = u16::from_ne_bytes([*rest.first()?, *rest.get(1)?]) as usize;
        let kind = u16::from_ne_bytes([*rest.get(2)?, *rest.get(3)?]) & NLA_TYPE_MASK;
        let value = rest.get(4..len)?;
        rest = rest.get(len.next_multiple_of(4)..).unwrap_or_default();
        Some((kind, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_read_back_as_written_and_a_torn_one_ends_the_list() {
        let mut b = Vec::new();
        push(&mut b, 1, &7u32.to_ne_bytes());
        push_str(&mut b, 2, "eth0");
        nest(&mut b, 3, |n| push(n, 4, &[]));
        let read: Vec<(u16, Vec<u8>)> = attrs(&b).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(read.len(), 3);
        assert_eq!((read[0].0, u32_of(&read[0].1)), (1, Some(7)));
        assert_eq!((read[1].0, str_of(&read[1].1)), (2, "eth0".to_string()));
        assert_eq!(read[2].0, 3, "the NESTED bit is not part of the kind");
        assert_eq!(attrs(&read[2].1).map(|(k, v)| (k, v.len())).collect::<Vec<_>>(), [(4, 0)]);
        // A length past the end, or below the header's own: nothing more.
        let torn = [&b[..8], &[12, 0, 5, 0, 1][..]].concat();
        assert_eq!(attrs(&torn).count(), 1);
        assert_eq!(attrs(&[2, 0, 1, 0]).count(), 0);
    }
}
