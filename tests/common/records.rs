//! What the plugin leaves in the world's dataDir: its records, read as a
//! user or another tool would read them.

use super::world::World;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;

/// The records in the world's dataDir: file name and parsed JSON. One
/// removed between the listing and its read (by a DEL, GC or the node
/// agent running beside the test) is not there.
pub fn records(w: &World) -> Vec<(String, Value)> {
    let Ok(dir) = std::fs::read_dir(w.data_dir()) else {
        return vec![];
    };
    let mut out: Vec<(String, Value)> = dir
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .filter_map(|e| {
            let text = match std::fs::read(e.path()) {
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
                read => read.unwrap(),
            };
            let v =
                serde_json::from_slice(&text).unwrap_or_else(|err| panic!("record {:?} unreadable: {err}", e.path()));
            Some((e.file_name().to_string_lossy().into_owned(), v))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The only record there is; asserts its file name follows the documented
/// pattern, and that it and the directory are private.
pub fn only_record(w: &World, container_id: &str, ifname: &str) -> Value {
    let recs = records(w);
    assert_eq!(recs.len(), 1, "expected exactly one record: {recs:#?}");
    let (name, rec) = recs.into_iter().next().unwrap();
    assert_eq!(name, format!("testnet+{container_id}+{ifname}.json"));
    let dir_mode = std::fs::metadata(w.data_dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dir_mode, 0o700, "dataDir mode {dir_mode:o}");
    let file_mode =
        std::fs::metadata(std::path::Path::new(&w.data_dir()).join(&name)).unwrap().permissions().mode() & 0o777;
    assert_eq!(file_mode, 0o600, "record mode {file_mode:o}");
    rec
}

/// The phase of the world's own attachment (`eth0`), its only record.
pub fn only_phase(w: &World) -> String {
    only_record(w, &w.id, "eth0")["phase"].as_str().unwrap_or("").to_string()
}

/// The store's own files, beside the attachments': its lock, and the
/// kernel's sysctl names kept for the boot.
pub const STORE_FILES: [&str; 2] = [".lock", ".kernel-facts"];

/// Every entry of the world's dataDir but the store's own files.
pub fn data_entries(w: &World) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(w.data_dir()) else { return vec![] };
    let mut names: Vec<String> = dir
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !STORE_FILES.contains(&n.as_str()))
        .collect();
    names.sort();
    names
}
