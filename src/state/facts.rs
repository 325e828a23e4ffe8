//! What the running kernel has, kept in the data directory for the boot:
//! the names of the per-device sysctls, and the ethtool family's id and
//! feature names. Finding them out costs every ADD some 0.2 ms of CPU (the
//! listing of the sysctl trees), and a family lookup and full replies
//! every read of features; they are the kernel's tables, the same until
//! the next boot. The file says which boot it is of; one of another boot,
//! or one that does not read as plain names, is found out anew and
//! replaced. Keeping it is best effort: ADD works without it.

use std::io::Read;

use crate::netlink::ethtool::{FeatureNames, Kept};
use crate::netlink::sysctl::{self, FAMILIES, Names};

use super::Store;

const FACTS: &str = ".kernel-facts";
/// A kernel's tables have some 100 names; anything much larger is not ours.
const FACTS_MAX: usize = 16 << 10;
/// A new one at every boot (random(4)).
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// What the kernel has, for one boot.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub sysctl: Names,
    /// Once a read of features has learnt it.
    pub ethtool: Option<Kept>,
}

/// The facts as loaded (or listed), to keep what a call learns on top.
/// A call may learn the ethtool part only (the sysctl names, once kept,
/// are the boot's), so only that is held to compare: a copy of every name
/// was some 200 allocations of every ADD.
pub struct Known {
    pub facts: Facts,
    boot: Option<String>,
    /// The ethtool part of the file, when the file was taken.
    kept_ethtool: Option<Option<Kept>>,
}

impl Store {
    /// The facts kept for this boot, else the sysctl names listed in this
    /// thread's namespace.
    pub fn kernel_facts(&self) -> Known {
        let boot = boot_id();
        match boot.as_deref().and_then(|boot| self.kept(boot)) {
            Some(facts) => Known { kept_ethtool: Some(facts.ethtool.clone()), facts, boot },
            None => Known { facts: Facts { sysctl: Names::listed(), ethtool: None }, boot, kept_ethtool: None },
        }
    }

    /// Keeps `known`'s facts for the boot when they are new, and when every
    /// sysctl tree is there (a tree that is missing may come with its
    /// module later).
    pub fn keep(&self, known: &Known) {
        let Some(boot) = known.boot.as_deref() else { return };
        if known.kept_ethtool.as_ref() == Some(&known.facts.ethtool) {
            return;
        }
        if let Some(text) = render(boot, &known.facts) {
            let _ = self.dir.write(FACTS, text.as_bytes());
        }
    }

    /// What is kept of the ethtool family for this boot, if anything:
    /// DEL's read of the features, without listing anything.
    pub fn kept_ethtool(&self) -> Option<Kept> {
        self.kept(&boot_id()?)?.ethtool
    }

    /// The facts kept for boot `boot`, if they read as such.
    fn kept(&self, boot: &str) -> Option<Facts> {
        let bytes = self.dir.read(FACTS, FACTS_MAX).ok()??;
        parse(&String::from_utf8(bytes).ok()?, boot)
    }
}

/// This boot's id: one read (a sysctl's handler writes the whole value
/// into a buffer that holds it).
fn boot_id() -> Option<String> {
    let mut buf = [0u8; 64];
    let n = std::fs::File::open(BOOT_ID).and_then(|mut f| f.read(&mut buf)).ok()?;
    let id = std::str::from_utf8(&buf[..n]).ok()?.trim();
    // Never empty from random(4); if it were, every boot would look alike.
    Some(id.to_string()).filter(|id| !id.is_empty())
}

/// "boot <id>", a line per sysctl family (its name, then its sysctls'),
/// then "ethtool <family id> <names, by commas>" when known. None without
/// every sysctl family.
fn render(boot: &str, facts: &Facts) -> Option<String> {
    let mut out = format!("boot {boot}\n");
    for (family, line) in FAMILIES.into_iter().zip(facts.sysctl.complete()?) {
        out.push_str(&format!("{family} {line}\n"));
    }
    if let Some(e) = &facts.ethtool {
        out.push_str(&format!("ethtool {} {}\n", e.family, e.names.join(",")));
    }
    Some(out)
}

/// `render`'s text, for boot `boot` and with every sysctl family, else
/// None.
fn parse(text: &str, boot: &str) -> Option<Facts> {
    let mut lines = text.lines();
    if lines.next()? != format!("boot {boot}") {
        return None;
    }
    let mut facts = Facts::default();
    for (slot, family) in facts.sysctl.0.iter_mut().zip(FAMILIES) {
        let line = lines.next()?.strip_prefix(family)?.strip_prefix(' ')?;
        if !line.split(' ').all(sysctl::is_leaf) {
            return None;
        }
        *slot = Some(line.to_string());
    }
    if let Some(line) = lines.next() {
        facts.ethtool = Some(parse_ethtool(line)?);
    }
    lines.next().is_none().then_some(facts)
}

/// "ethtool <family id> <names>": a feature's name may be empty (a bit
/// the kernel does not use), never holds a comma or a space.
fn parse_ethtool(line: &str) -> Option<Kept> {
    let mut words = line.split(' ');
    if words.next()? != "ethtool" {
        return None;
    }
    let family = words.next()?.parse().ok()?;
    let names: FeatureNames = words.next()?.split(',').map(str::to_string).collect();
    // Split at commas and spaces already: what is left must print.
    let plain = |n: &String| n.bytes().all(|b| b.is_ascii_graphic());
    (words.next().is_none() && names.iter().all(plain)).then_some(Kept { family, names })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> [String; 2] {
        ["forwarding arp_ignore".into(), "accept_ra".into()]
    }

    #[test]
    fn kept_facts_read_back_for_their_boot_only() {
        let [v4, v6] = names();
        let mut facts = Facts { sysctl: Names([Some(v4), Some(v6)]), ethtool: None };
        let text = render("b1", &facts).unwrap();
        assert_eq!(text, "boot b1\nipv4 forwarding arp_ignore\nipv6 accept_ra\n");
        assert_eq!(parse(&text, "b1").as_ref(), Some(&facts));
        assert_eq!(parse(&text, "b2"), None);
        facts.ethtool = Some(Kept { family: 21, names: ["tx-scatter-gather", "", "rx-gro"].map(String::from).into() });
        let text = render("b1", &facts).unwrap();
        assert!(text.ends_with("\nethtool 21 tx-scatter-gather,,rx-gro\n"), "{text}");
        assert_eq!(parse(&text, "b1"), Some(facts));
    }

    #[test]
    fn without_every_sysctl_tree_nothing_is_kept() {
        let [v4, _] = names();
        assert_eq!(render("b1", &Facts { sysctl: Names([Some(v4), None]), ethtool: None }), None);
    }

    #[test]
    fn anything_but_plain_names_of_both_families_is_not_taken() {
        for text in [
            "boot b1\nipv4 forwarding\n",
            "boot b1\nipv6 accept_ra\nipv4 forwarding\n",
            "boot b1\nipv4 ../../kernel/hostname\nipv6 accept_ra\n",
            "boot b1\nipv4 forwarding\nipv6 accept_ra\nipv7 x\n",
            "boot b1\nipv4 \nipv6 accept_ra\n",
            "boot b1\nipv4 forwarding  arp_ignore\nipv6 accept_ra\n",
            "boot b1\nipv4 forwarding ..\nipv6 accept_ra\n",
            "boot b1\nipv4 forwarding\nipv6 conf/all\n",
            "boot b1\nipv4 forwarding\nipv6 accept_ra\nethtool x tx-sg\n",
            "boot b1\nipv4 forwarding\nipv6 accept_ra\nethtool 21 tx sg\n",
            "boot b1\nipv4 forwarding\nipv6 accept_ra\nethtool 21\n",
            "boot b1\nipv4 forwarding\nipv6 accept_ra\nethtool 21 tx\tsg\n",
        ] {
            assert_eq!(parse(text, "b1"), None, "{text:?}");
        }
    }
}
