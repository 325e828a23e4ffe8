//! The CNI spec versions hostdev speaks.

use super::error::{Error, Result, code};

pub const SUPPORTED: [&str; 7] = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A parsed `cniVersion`; ordering follows the spec's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u8, pub u8, pub u8);

pub const V0_4_0: Version = Version(0, 4, 0);
pub const V1_0_0: Version = Version(1, 0, 0);
pub const V1_1_0: Version = Version(1, 1, 0);

impl Version {
    pub fn parse(s: &str) -> Result<Version> {
        if !SUPPORTED.contains(&s) {
            return Err(Error::new(
                code::INCOMPATIBLE_VERSION,
                format!("unsupported cniVersion {s:?}; hostdev supports {}", SUPPORTED.join(", ")),
            ));
        }
        let mut parts = s.split('.').map(|p| p.parse::<u8>().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        Ok(Version(next(), next(), next()))
    }

    /// Results before 0.3.0 use the `ip4`/`ip6` shape.
    pub fn is_legacy(self) -> bool {
        self < Version(0, 3, 0)
    }

    /// Fails with code 1 when `self` is older than `needed` for `what`.
    pub fn require(self, needed: Version, what: &str) -> Result<()> {
        if self < needed {
            return Err(Error::new(
                code::INCOMPATIBLE_VERSION,
                format!("{what} needs cniVersion {needed} or later, the config says {self}"),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_version_in_order() {
        let parsed: Vec<Version> = SUPPORTED.iter().map(|s| Version::parse(s).unwrap()).collect();
        assert!(parsed.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(parsed[4].to_string(), "0.4.0");
    }

    #[test]
    fn rejects_unknown_versions_with_code_1() {
        for bad in ["9.9.9", "1.0", "", "v1.0.0", "1.2.0"] {
            let e = Version::parse(bad).unwrap_err();
            assert_eq!(e.code, 1, "{bad}");
            assert!(e.msg.contains("1.1.0"));
        }
    }

    #[test]
    fn require_names_the_feature() {
        let e = Version(0, 3, 1).require(V0_4_0, "CHECK").unwrap_err();
        assert_eq!(e.code, 1);
        assert!(e.msg.contains("CHECK") && e.msg.contains("0.3.1"));
    }
}
