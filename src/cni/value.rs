//! Typed reads of a config's JSON values, each error naming the key, what
//! it must be and what it got; and MACs as Go spells them.

use serde_json::{Map, Value};

use super::error::{Error, Result, config_error};

/// Names the key, what it must be, and what it got: its type, and the
/// value itself when it is short.
pub fn wrong_type(key: &str, want: &str, got: &Value) -> Error {
    let kind = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let text = got.to_string();
    let got = if text.len() > 64 { kind.to_string() } else { format!("{kind} ({text})") };
    config_error(format!("config key {key:?} must be {want}, got {got}"))
}

pub fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

pub fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(wrong_type(key, "true or false", other)),
    }
}

pub fn opt_object(obj: &Map<String, Value>, key: &str) -> Result<Option<Value>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
        Some(other) => Err(wrong_type(key, "an object", other)),
    }
}

/// A MAC in any spelling Go's net.ParseMAC takes (what upstream's `hwaddr`
/// accepts): `aa:bb:..`, `aa-bb-..` or `aabb.ccdd.eeff`, any case, 6, 8 or
/// 20 bytes; returned lowercase and colon-separated. None when it is none
/// of these (the selector then reports the value as written).
pub fn go_mac(s: &str) -> Option<String> {
    let (sep, width) = match s.as_bytes() {
        [_, _, b':', ..] => (':', 2),
        [_, _, b'-', ..] => ('-', 2),
        [_, _, _, _, b'.', ..] => ('.', 4),
        _ => return None,
    };
    let groups: Vec<&str> = s.split(sep).collect();
    let ok = groups.iter().all(|g| g.len() == width && g.bytes().all(|b| b.is_ascii_hexdigit()));
    let hex: String = groups.concat().to_ascii_lowercase();
    if !ok || ![6, 8, 20].contains(&(hex.len() / 2)) {
        return None;
    }
    let bytes: Vec<&str> = (0..hex.len()).step_by(2).map(|i| &hex[i..i + 2]).collect();
    Some(bytes.join(":"))
}
