//! The device-info file of the Network Plumbing Working Group's
//! device-info spec (1.1.0): the runtime (Multus) names it in
//! `runtimeConfig.CNIDeviceInfoFile`, the plugin writes what it attached
//! (a PCI function, and its PF for a VF), and Multus copies it into the
//! pod's network-status annotation. Removed with the attachment's record.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use serde_json::json;

use crate::warn;

pub const SPEC_VERSION: &str = "1.1.0";

/// The file's contents for PCI function `pci` (with its PF `pf_pci`).
pub fn contents(pci: &str, pf_pci: Option<&str>) -> String {
    let mut info = json!({ "pci-address": pci });
    if let Some(pf) = pf_pci {
        info["pf-pci-address"] = json!(pf);
    }
    json!({ "type": "pci", "version": SPEC_VERSION, "pci": info }).to_string()
}

/// Writes the file atomically (a new temporary file beside it, renamed
/// over it), readable by all, as the spec's reference code leaves it. A
/// failure only warns: the pod works without it, Multus then reports no
/// device-info.
pub fn write(path: &Path, pci: &str, pf_pci: Option<&str>) {
    if let Err(e) = try_write(path, &contents(pci, pf_pci)) {
        warn!("cannot write the device-info file {}: {e}", path.display());
    }
}

fn try_write(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("it has no directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().ok_or_else(|| std::io::Error::other("it names no file"))?;
    let temp = dir.join(format!(".{}.hostdev-{}", name.to_string_lossy(), std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&temp)?;
    file.write_all(text.as_bytes())?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
}

/// Removes the file, if it is there.
pub fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            warn!("cannot remove the device-info file {}: {e}", path.display())
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_follow_the_spec() {
        let v: serde_json::Value = serde_json::from_str(&contents("0000:01:10.0", Some("0000:01:00.0"))).unwrap();
        assert_eq!(
            v,
            json!({"type":"pci","version":"1.1.0","pci":{"pci-address":"0000:01:10.0","pf-pci-address":"0000:01:00.0"}})
        );
        let v: serde_json::Value = serde_json::from_str(&contents("0000:03:00.1", None)).unwrap();
        assert!(v["pci"].get("pf-pci-address").is_none());
    }
}
