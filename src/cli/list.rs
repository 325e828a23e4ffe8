//! `hostdev list`: every attachment recorded in a data directory, read
//! through the same `state` module the plugin writes with. Reads only:
//! it creates, locks and changes nothing, so it is safe while the plugin
//! runs.

use std::path::Path;
use std::process::ExitCode;

use crate::state::{Phase, Record, Store};

const HEADER: [&str; 8] = ["NETWORK", "CONTAINER", "IFNAME", "HOST", "MAC", "PHASE", "NETNS", "NOTE"];

pub fn list(data_dir: &Path) -> ExitCode {
    let store = match Store::open_existing(data_dir) {
        Ok(Some(store)) => store,
        Ok(None) => {
            eprintln!("hostdev: no attachments: {} does not exist", data_dir.display());
            return ExitCode::SUCCESS;
        }
        Err(e) => return failed(&e.msg),
    };
    let records = match store.list() {
        Ok(records) => records,
        Err(e) => return failed(&e.msg),
    };
    if records.is_empty() {
        eprintln!("hostdev: no attachments in {}", data_dir.display());
        return ExitCode::SUCCESS;
    }
    let mut rows = vec![HEADER.map(String::from).to_vec()];
    let mut unreadable = 0;
    for (name, record) in &records {
        match record {
            Ok(rec) => rows.push(row(rec)),
            Err(e) => {
                unreadable += 1;
                rows.push(vec![name.clone(), format!("unreadable: {}", e.msg)]);
            }
        }
    }
    print!("{}", table(&rows));
    if unreadable > 0 {
        return failed(&format!("{unreadable} record(s) in {} unreadable", data_dir.display()));
    }
    ExitCode::SUCCESS
}

fn failed(msg: &str) -> ExitCode {
    eprintln!("hostdev: {msg}");
    ExitCode::FAILURE
}

fn row(rec: &Record) -> Vec<String> {
    let (host, mac) = match &rec.userspace {
        Some(device) => (device.id.clone(), "-".to_string()),
        None => (rec.host.name.clone(), rec.host.mac.clone()),
    };
    let netns = rec.netns.as_ref().map_or("-".into(), |p| p.display().to_string());
    vec![
        rec.network.clone(),
        rec.container_id.clone(),
        rec.ifname.clone(),
        host,
        mac,
        phase_name(rec.phase),
        netns,
        note(rec),
    ]
}

/// The phase as the record spells it, so a phase added to `state` shows
/// up here without a change.
fn phase_name(phase: Phase) -> String {
    match serde_json::to_value(phase) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{phase:?}"),
    }
}

/// What an operator should know beyond the phase.
fn note(rec: &Record) -> String {
    // An ADD that took a parked interface back knows its parking name too
    // until the move: only a parked record is waiting for its name.
    if rec.phase == Phase::Parked
        && let Some(parked) = &rec.parked_as
    {
        return format!("home as {parked}: its own name is taken; the next ADD, DEL, GC or STATUS renames it back");
    }
    if let Some(why) = &rec.lost {
        return why.clone();
    }
    if let Some(device) = &rec.userspace {
        return format!("bound to {}: nothing was moved", device.driver);
    }
    match rec.phase {
        Phase::Adding => "ADD did not finish: DEL or GC of this attachment finishes the job".into(),
        Phase::Removing => "DEL did not finish: DEL or GC of this attachment finishes the job".into(),
        _ => "-".into(),
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
        let rows = vec![
            vec!["a".into(), "bb".into(), "c".into(), "d".into(), "e".into(), "f".into(), "g".into(), "h".into()],
            vec!["aaa".into(), "b".into(), "c".into(), "d".into(), "e".into(), "f".into(), "g".into(), "h".into()],
            vec!["x.json".into(), "unreadable: bad".into()],
        ];
        assert_eq!(table(&rows), "a    bb  c  d  e  f  g  h\naaa  b   c  d  e  f  g  h\nx.json  unreadable: bad\n");
    }

    #[test]
    fn phases_are_named_as_in_records() {
        assert_eq!(phase_name(Phase::Attached), "attached");
        assert_eq!(phase_name(Phase::Adding), "adding");
        assert_eq!(phase_name(Phase::Parked), "parked");
        assert_eq!(phase_name(Phase::Lost), "lost");
    }
}
