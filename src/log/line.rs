//! One log line: `key=value` pairs (logfmt, as containerd writes its own
//! log), always in the same order: `time` (RFC 3339, UTC, milliseconds),
//! `level`, `command`, `network`, `container`, `ifname`, `msg`, then the
//! line's own data. A field the command does not have is left out, never
//! printed empty. Values with spaces, quotes, `=` or control characters
//! are quoted with escapes, so an interface name chosen by a pod cannot
//! write escape sequences to an operator's terminal or forge a field.

use std::fmt::Write;
use std::time::Duration;

/// The line for `msg` and its `data`, after the fixed `fields`.
pub fn format(now: Duration, level: &str, fields: &[(&str, &str)], msg: &str, data: &[(&str, String)]) -> String {
    let mut line = format!("time={} level={level}", rfc3339(now));
    let fixed = fields.iter().map(|(k, v)| (*k, *v));
    let rest = std::iter::once(("msg", msg)).chain(data.iter().map(|(k, v)| (*k, v.as_str())));
    for (key, value) in fixed.filter(|(_, v)| !v.is_empty()).chain(rest) {
        let _ = write!(line, " {key}={}", quoted(value));
    }
    line.push('\n');
    line
}

/// `value` as it is when it is plain, else quoted with Rust's escapes
/// (`\"`, `\\`, `\n`, `\u{1b}`).
fn quoted(value: &str) -> String {
    let plain = !value.is_empty() && value.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '=' | '\\'));
    if plain { value.to_string() } else { format!("{value:?}") }
}

/// `now` (since the epoch) as `2026-12-04T18:24:01.284Z`.
pub fn rfc3339(now: Duration) -> String {
    let secs = now.as_secs();
    let (y, m, d) = civil(secs / 86_400);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, s / 60 % 60, s % 60, now.subsec_millis())
}

/// The date `days` after 1970-01-01 (Howard Hinnant's days-to-civil).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(rfc3339(Duration::ZERO), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(Duration::from_millis(951_782_400_007)), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339(Duration::from_millis(1_796_408_641_284)), "2026-12-04T18:24:01.284Z");
        assert_eq!(rfc3339(Duration::from_secs(4_107_542_399)), "2100-02-28T23:59:59.000Z");
    }

    #[test]
    fn empty_fields_are_left_out_and_odd_values_quoted() {
        let fields = [("command", "STATUS"), ("network", "n"), ("container", ""), ("ifname", "")];
        let line = format(Duration::ZERO, "warn", &fields, "a b", &[("dev", "e\u{1b}]0;x\u{7}".into())]);
        assert_eq!(
            line,
            "time=1970-01-01T00:00:00.000Z level=warn command=STATUS network=n msg=\"a b\" dev=\"e\\u{1b}]0;x\\u{7}\"\n"
        );
        assert_eq!(quoted("a=b"), "\"a=b\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("eth0"), "eth0");
    }
}
