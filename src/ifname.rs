//! The kernel's rules for interface names, stated once.

/// Longest interface name (IFNAMSIZ - 1).
pub const MAX_LEN: usize = 15;
/// Longest alternative name (ALTIFNAMSIZ - 1).
pub const ALT_MAX_LEN: usize = 127;

/// Why `name` is not a valid interface name (the kernel's dev_valid_name),
/// or None when it is.
pub fn invalid(name: &str) -> Option<&'static str> {
    Some(if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_LEN {
        "it is longer than 15 bytes"
    } else if name == "." || name == ".." {
        "it cannot be '.' or '..'"
    } else if name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace()) {
        "it cannot contain '/', ':' or whitespace"
    } else {
        return None;
    })
}

/// `invalid` as a sentence naming `what` (a key, a field) and the name.
pub fn check(what: &str, name: &str) -> Result<(), String> {
    match invalid(name) {
        Some(why) => Err(format!("{what} {name:?} is not a valid interface name: {why}")),
        None => Ok(()),
    }
}

/// Whether `name` could be an alternative name.
pub fn valid_alt(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ALT_MAX_LEN
        && !name.contains(['/', '\0'])
        && !name.chars().any(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_kernel() {
        for good in ["eth0", "a", "net1-x_y.z", "fifteen-chars15"] {
            assert_eq!(invalid(good), None, "{good}");
        }
        for bad in ["", "sixteen-chars-16", ".", "..", "a/b", "a:b", "a b"] {
            assert!(invalid(bad).is_some(), "{bad:?}");
        }
        assert!(valid_alt(&"a".repeat(127)) && !valid_alt(&"a".repeat(128)) && !valid_alt("a b"));
    }
}
