//! A link's GSO and GRO maximum sizes (`ip link set ... gso_max_size`,
//! BIG TCP), read from and set through RTM_NEWLINK like its MTU: set in
//! the message that moves it, restored in the one that brings it home.

use netlink_packet_route::link::LinkAttribute;

/// The kernel's own limit for the GRO sizes (GRO_MAX_SIZE, 8 * 65535); the
/// GSO sizes are limited by the device's `tso_max_size`.
pub const GRO_MAX: u32 = 8 * 65535;

/// IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE and
/// IFLA_GRO_IPV4_MAX_SIZE; None when unknown (old kernels have no IPv4
/// ones, old records none) or, in a change, left alone. Named as dranet
/// names them in its config.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub gso: Option<u32>,
    pub gro: Option<u32>,
    pub gso_ipv4: Option<u32>,
    pub gro_ipv4: Option<u32>,
}

impl Sizes {
    pub fn is_unset(&self) -> bool {
        *self == Sizes::default()
    }

    /// Each size with its config key, in a fixed order.
    pub fn keyed(&self) -> [(&'static str, Option<u32>); 4] {
        [
            ("gsoMaxSize", self.gso),
            ("groMaxSize", self.gro),
            ("gsoIPv4MaxSize", self.gso_ipv4),
            ("groIPv4MaxSize", self.gro_ipv4),
        ]
    }

    /// What brings `have` back to `want`: all of `want` when any size
    /// differs, as the kernel sets an IPv4 size along with its general one
    /// when that is at most 65536 (the attributes are applied in the order
    /// `attributes` gives, the general one first); nothing when none does.
    pub fn restoring(want: &Sizes, have: &Sizes) -> Sizes {
        let differs = want.keyed().iter().zip(have.keyed()).any(|((_, w), (_, h))| w.is_some() && *w != h);
        if differs { *want } else { Sizes::default() }
    }

    /// Takes `attr` when it is one of the sizes.
    pub fn read(&mut self, attr: &LinkAttribute) {
        match attr {
            LinkAttribute::GsoMaxSize(v) => self.gso = Some(*v),
            LinkAttribute::GroMaxSize(v) => self.gro = Some(*v),
            LinkAttribute::GsoIpv4MaxSize(v) => self.gso_ipv4 = Some(*v),
            LinkAttribute::GroIpv4MaxSize(v) => self.gro_ipv4 = Some(*v),
            _ => {}
        }
    }

    /// The attributes that set the sizes given.
    pub fn attributes(&self) -> impl Iterator<Item = LinkAttribute> {
        [
            self.gso.map(LinkAttribute::GsoMaxSize),
            self.gro.map(LinkAttribute::GroMaxSize),
            self.gso_ipv4.map(LinkAttribute::GsoIpv4MaxSize),
            self.gro_ipv4.map(LinkAttribute::GroIpv4MaxSize),
        ]
        .into_iter()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_are_set_back_when_one_differs() {
        let have = Sizes { gso: Some(65536), gro: Some(65536), gso_ipv4: Some(65536), gro_ipv4: None };
        let want = Sizes { gso: Some(65536), gro: Some(100000), gso_ipv4: None, gro_ipv4: Some(9000) };
        let d = Sizes::restoring(&want, &have);
        assert_eq!(d, want);
        let attrs: Vec<LinkAttribute> = d.attributes().collect();
        assert_eq!(
            attrs,
            vec![
                LinkAttribute::GsoMaxSize(65536),
                LinkAttribute::GroMaxSize(100000),
                LinkAttribute::GroIpv4MaxSize(9000)
            ]
        );
        assert!(Sizes::restoring(&have, &have).is_unset());
        assert!(Sizes::restoring(&Sizes::default(), &have).is_unset(), "an old record restores none");
    }
}
