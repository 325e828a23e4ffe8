//! What the running kernel has, kept in the data directory for the boot:
//! the names of the per-device sysctls. Listing them costs every ADD some
//! 0.2 ms of CPU, a tenth of it, and they are the kernel's tables, the
//! same until the next boot. The file says which boot it is of; one of
//! another boot, or one that does not read as plain names, is listed anew
//! and replaced. Keeping it is best effort: ADD works without it.

use crate::netlink::sysctl::{self, FAMILIES, Names};

use super::Store;

const FACTS: &str = ".kernel-facts";
/// A kernel's tables have some 100 names; anything much larger is not ours.
const FACTS_MAX: usize = 16 << 10;
/// A new one at every boot (random(4)).
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

impl Store {
    /// The names of the per-device sysctls in this boot: kept ones, else
    /// listed in this thread's namespace and kept when every tree is there
    /// (a tree that is missing may come with its module later).
    pub fn sysctl_names(&self) -> Names {
        let boot = boot_id();
        if let Some(names) = boot.as_deref().and_then(|boot| self.kept(boot)) {
            return names;
        }
        let names = Names::listed();
        if let (Some(boot), Some(complete)) = (boot, names.complete()) {
            let _ = self.dir.write(FACTS, render(&boot, complete).as_bytes());
        }
        names
    }

    /// The names kept for boot `boot`, if they read as names.
    fn kept(&self, boot: &str) -> Option<Names> {
        let bytes = self.dir.read(FACTS, FACTS_MAX).ok()??;
        parse(&String::from_utf8(bytes).ok()?, boot)
    }
}

fn boot_id() -> Option<String> {
    let id = std::fs::read_to_string(BOOT_ID).ok()?;
    Some(id.trim().to_string()).filter(|id| !id.is_empty() && !id.contains(char::is_whitespace))
}

/// "boot <id>", then a line per family: its name, then its sysctls'.
fn render(boot: &str, names: [&[String]; 2]) -> String {
    let mut out = format!("boot {boot}\n");
    for (family, leaves) in FAMILIES.into_iter().zip(names) {
        out.push_str(&format!("{family} {}\n", leaves.join(" ")));
    }
    out
}

/// `render`'s text, for boot `boot` and with every family, else None.
fn parse(text: &str, boot: &str) -> Option<Names> {
    let mut lines = text.lines();
    if lines.next()? != format!("boot {boot}") {
        return None;
    }
    let mut names = Names::default();
    for (slot, family) in names.0.iter_mut().zip(FAMILIES) {
        let mut words = lines.next()?.split(' ');
        let leaves: Vec<String> = (words.next() == Some(family)).then(|| words.map(str::to_string).collect())?;
        if leaves.is_empty() || !leaves.iter().all(|leaf| sysctl::is_leaf(leaf)) {
            return None;
        }
        *slot = Some(leaves);
    }
    lines.next().is_none().then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> [Vec<String>; 2] {
        [vec!["forwarding".into(), "arp_ignore".into()], vec!["accept_ra".into()]]
    }

    #[test]
    fn kept_names_read_back_for_their_boot_only() {
        let [v4, v6] = names();
        let text = render("b1", [&v4, &v6]);
        assert_eq!(text, "boot b1\nipv4 forwarding arp_ignore\nipv6 accept_ra\n");
        assert_eq!(parse(&text, "b1"), Some(Names([Some(v4), Some(v6)])));
        assert_eq!(parse(&text, "b2"), None);
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
        ] {
            assert_eq!(parse(text, "b1"), None, "{text:?}");
        }
    }
}
