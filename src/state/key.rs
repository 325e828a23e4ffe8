//! What names one attachment, and the names of its files in the store.

/// Longest record file name used as it is; longer keys are hashed, so that
/// every valid attachment fits the file system's 255-byte limit together
/// with the lock and temporary names derived from it.
const PLAIN_NAME_MAX: usize = 200;

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

pub(super) fn escape(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::record::tests::key;

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
}
