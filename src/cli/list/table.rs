//! The listing as a table for a terminal: short container ids, ages as
//! kubectl writes them, every cell escaped (`escape::for_terminal`).

use super::escape::for_terminal;
use super::{Attachment, Entry};

const HEADER: [&str; 12] =
    ["NETWORK", "POD", "CONTAINER", "IFNAME", "HOST", "MAC", "PCI", "PHASE", "WHERE", "AGE", "NETNS", "NOTE"];

/// Container ids are 64 hex digits; 12 tell them apart, as in docker and crictl.
const SHORT_ID: usize = 12;

pub(super) fn render(entries: &[Entry]) -> String {
    let mut rows = vec![HEADER.map(String::from).to_vec()];
    for entry in entries {
        let row = match (&entry.attachment, &entry.error) {
            (Some(att), _) => row(att),
            (None, error) => vec![entry.file.clone(), format!("unreadable: {}", error.as_deref().unwrap_or(""))],
        };
        rows.push(row.iter().map(|cell| for_terminal(cell)).collect());
    }
    table(&rows)
}

fn row(att: &Attachment) -> Vec<String> {
    let dash = |v: Option<&String>| v.cloned().unwrap_or_else(|| "-".into());
    let host = att.host_ifname.as_ref().or(att.pci.as_ref());
    vec![
        att.network.clone(),
        dash(att.pod.as_ref().map(ToString::to_string).as_ref()),
        att.container_id.chars().take(SHORT_ID).collect(),
        att.ifname.clone(),
        dash(host),
        dash(att.mac.as_ref()),
        dash(att.pci.as_ref()),
        att.phase.name(),
        att.place.unwrap_or("-").to_string(),
        att.age_seconds.map_or("-".into(), age),
        dash(att.netns.as_ref()),
        dash(att.note.as_ref().or(att.where_detail.as_ref())),
    ]
}

/// An age as kubectl shows one: 45s, 12m, 5h, 3d.
fn age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Left-aligned columns two spaces apart; the last column of a row is not
/// padded (an unreadable record's row has only two).
fn table(rows: &[Vec<String>]) -> String {
    let mut widths = vec![0; HEADER.len()];
    for row in rows.iter().filter(|r| r.len() == HEADER.len()) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let cells = |first: &str, second: &str| {
            let mut row: Vec<String> = vec![first.into(), second.into()];
            row.extend((2..HEADER.len()).map(|i| i.to_string()));
            row
        };
        let rows = vec![cells("a", "bb"), cells("aaa", "b"), vec!["x.json".into(), "unreadable: bad".into()]];
        let out = table(&rows);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("a    bb  2  3"), "{out}");
        assert!(lines[1].starts_with("aaa  b   2  3"), "{out}");
        assert_eq!(lines[2], "x.json  unreadable: bad");
    }

    #[test]
    fn ages_read_as_kubectl_writes_them() {
        assert_eq!(
            [0, 119, 120, 7199, 7200, 172_799, 172_800].map(age),
            ["0s", "119s", "2m", "119m", "2h", "47h", "2d"]
        );
    }
}
