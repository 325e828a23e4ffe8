//! What `hostdev list` prints comes partly from pods (the interface name
//! is CNI_IFNAME, the pod's name is theirs): nothing in it may reach the
//! operator's terminal as a control sequence, or hide what follows.

/// Characters a terminal acts on or that reorder text: C0, DEL, C1, and
/// the bidirectional controls ("trojan source").
fn hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` for a table cell: every such character as `\xNN` (or `\u{NNNN}`),
/// and a backslash doubled, so that what is shown says what is there.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if hidden(c) && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// JSON text with DEL, C1 and the bidirectional controls written as
/// `\uNNNN` too (serde_json escapes only what JSON requires: C0 in
/// strings): the same strings to a parser, nothing raw on a terminal.
/// Outside strings JSON text is ASCII, with C0 only as whitespace (left
/// alone), so every character escaped here is inside a string.
pub fn for_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if hidden(c) && c >= '\u{7f}' {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        let pwn = "e\u{1b}]0;pwn\u{7}\u{1b}[2J";
        assert_eq!(for_terminal(pwn), "e\\x1b]0;pwn\\x07\\x1b[2J");
        assert_eq!(for_terminal("a\u{7f}b\u{9b}c\u{0}"), "a\\x7fb\\x9bc\\x00");
        assert_eq!(for_terminal("x\u{202e}y"), "x\\u{202e}y");
        assert_eq!(for_terminal("a\\x1b"), "a\\\\x1b", "a backslash in a name is not an escape");
        assert_eq!(for_terminal("eth0 é"), "eth0 é");
    }

    #[test]
    fn json_keeps_its_strings_and_escapes_what_it_need_not() {
        let value = serde_json::json!({"n": "e\u{1b}[2J\u{7f}\u{9b}\u{202e}é"});
        let text = for_json(&serde_json::to_string_pretty(&value).unwrap());
        assert!(text.chars().all(|c| !hidden(c) || c == '\n'), "{text:?}");
        assert!(text.contains("\\u001b") && text.contains("\\u007f") && text.contains("\\u009b"), "{text}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), value);
    }
}
