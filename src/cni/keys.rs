//! How config keys are spelled. Upstream host-device and libcni decode
//! configs with Go's encoding/json, which matches a JSON key to a field
//! case-insensitively when no key has the field's exact spelling: configs
//! written for them (`"Device"`, `"pciBusId"`) work here too, with a
//! warning naming the spelling. An unknown key a typo away from a known one
//! (`"devcie"`) is warned about, since it is ignored.

use serde_json::{Map, Value};

/// The keys of one JSON object that hostdev reads.
pub struct Keys {
    /// How messages name the object's keys: "" at the top, "ipam." inside.
    pub path: &'static str,
    /// The keys read here, spelled as the README spells them.
    pub known: &'static [&'static str],
    /// Keys others read here (the runtime, libcni, Multus), never taken for
    /// a typo; None when the object's other keys are nobody's business of
    /// ours (`ipam` belongs to the IPAM plugin): no guesses there.
    pub others: Option<&'static [&'static str]>,
}

/// What the spelling of keys gave to say.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    /// Lines for the log.
    pub warnings: Vec<String>,
    /// The "did you mean" sentences, for a config error's message too.
    pub near_misses: Vec<String>,
}

impl Keys {
    /// `obj` with every known key under its exact spelling. When both
    /// spellings are there the exact one wins (hostdev cannot see which came
    /// last, which is what Go would take); of several inexact ones, the last
    /// in byte order, which is also the last after libcni's re-encoding.
    pub fn canonical(&self, obj: &Map<String, Value>, notes: &mut Notes) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in obj {
            match self.known.iter().find(|k| same_key(k, key)) {
                Some(k) if *k == key => {}
                Some(k) if obj.contains_key(*k) => {
                    notes.warnings.push(format!(
                        "config key {:?} is ignored: {:?} is also set, and the exact spelling wins",
                        self.name(key),
                        self.name(k)
                    ));
                    continue;
                }
                Some(k) => {
                    notes.warnings.push(format!(
                        "config key {:?} is read as {:?} (Go's encoding/json, as upstream plugins use it, ignores the case of keys); spell it {:?}",
                        self.name(key),
                        self.name(k),
                        self.name(k)
                    ));
                    out.insert(k.to_string(), value.clone());
                    continue;
                }
                None => self.guess(key, notes),
            }
            out.insert(key.clone(), value.clone());
        }
        out
    }

    /// A "did you mean" for an unknown key close to a known one.
    fn guess(&self, key: &str, notes: &mut Notes) {
        let Some(others) = self.others else { return };
        if others.iter().any(|o| same_key(o, key)) {
            return;
        }
        let close = |k: &&&str| distance(&fold(key), &fold(k)) <= if k.len() <= 5 { 1 } else { 2 };
        if let Some(k) = self.known.iter().filter(close).min_by_key(|k| distance(&fold(key), &fold(k))) {
            let hint =
                format!("config key {:?} is unknown and ignored: did you mean {:?}?", self.name(key), self.name(k));
            notes.warnings.push(hint.clone());
            notes.near_misses.push(hint);
        }
    }

    fn name(&self, key: &str) -> String {
        format!("{}{key}", self.path)
    }
}

/// A key as Go's encoding/json compares it: ASCII case ignored, and its
/// two folds of non-ASCII letters onto ASCII ones (ſ is s, the Kelvin sign
/// is k).
fn fold(s: &str) -> String {
    folded(s).collect()
}

/// Whether Go would take `a` and `b` for one key; compared char by char,
/// as every key of every config is compared with every known one.
fn same_key(a: &str, b: &str) -> bool {
    folded(a).eq(folded(b))
}

fn folded(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().map(|c| match c {
        '\u{17f}' => 's',
        '\u{212a}' => 'k',
        c => c.to_ascii_lowercase(),
    })
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    d[0] = (0..=b.len()).collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_count_a_swap_as_one_edit() {
        assert_eq!(distance("devcie", "device"), 1);
        assert_eq!(distance("dev", "device"), 3);
        assert_eq!(distance("datadri", "datadir"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("mtu", "dns"), 3);
    }

    #[test]
    fn folds_as_go_does() {
        assert_eq!(fold("PciBusId"), "pcibusid");
        assert_eq!(fold("\u{17f}\u{212a}"), "sk");
        assert_ne!(fold("\u{e9}"), "e");
        assert!(same_key("PciBusId", "pcibusID") && same_key("\u{17f}", "S"));
        assert!(!same_key("mtu", "mtuu") && !same_key("\u{e9}", "e"));
    }
}
