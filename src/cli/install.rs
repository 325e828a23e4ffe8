//! `hostdev install`: copies the running binary into a CNI bin directory,
//! as a DaemonSet's init container does on every node. A runtime may
//! execute the plugin at any moment, so the final path only ever holds a
//! whole plugin that was seen to run: the copy is written under a
//! temporary name of its own, flushed, made executable, run, and only then
//! renamed over the old one.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::cmd::version;
use crate::safedir;

/// The plugin's name in the bin directory: the `type` configs use.
const PLUGIN: &str = "hostdev";

pub fn install(dir: &Path) -> ExitCode {
    match install_into(dir) {
        Ok(msg) => {
            eprintln!("hostdev: {msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hostdev: install into {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}

fn install_into(dir: &Path) -> Result<String, String> {
    check_dir(dir)?;
    let me = fs::read("/proc/self/exe").map_err(|e| format!("cannot read this binary (/proc/self/exe): {e}"))?;
    let target = dir.join(PLUGIN);
    if is_same(&target, &me) {
        verify(&target)?;
        return Ok(format!("{} is up to date ({})", target.display(), version::build()));
    }
    let (tmp, file) = create_temp(dir)?;
    let placed = write(file, &me, &tmp).and_then(|()| verify(&tmp)).and_then(|()| place(&tmp, &target, dir));
    if placed.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    placed.map(|()| format!("installed {} ({})", target.display(), version::build()))
}

/// The directory must be one only root may write, as dataDir: anybody else
/// who may could swap the checked copy before the rename, and runtimes run
/// whatever the directory holds as root.
fn check_dir(dir: &Path) -> Result<(), String> {
    let m = fs::metadata(dir).map_err(|e| e.to_string())?;
    if !m.is_dir() {
        return Err("not a directory".into());
    }
    match safedir::not_private(dir, m.uid(), m.mode()) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Whether `target` already is this binary, executable as it should be.
fn is_same(target: &Path, me: &[u8]) -> bool {
    let mode_ok = fs::symlink_metadata(target).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o7777 == 0o755);
    mode_ok && fs::read(target).is_ok_and(|bytes| bytes == me)
}

/// A new file of our own (never one somebody else left or is writing),
/// hidden so that nothing mistakes it for a plugin.
fn create_temp(dir: &Path) -> Result<(PathBuf, File), String> {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    for attempt in 0..16u32 {
        let tmp = dir.join(format!(".{PLUGIN}.install.{}.{}", std::process::id(), nanos.wrapping_add(attempt)));
        match OpenOptions::new().write(true).create_new(true).mode(0o700).open(&tmp) {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", tmp.display())),
        }
    }
    Err("cannot find a free temporary name".into())
}

/// Writes and flushes the copy; it is closed on return, as a file open for
/// writing cannot be executed (ETXTBSY).
fn write(mut file: File, bytes: &[u8], tmp: &Path) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write {}: {e}", tmp.display());
    file.write_all(bytes).map_err(fail)?;
    file.set_permissions(fs::Permissions::from_mode(0o755)).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Runs `plugin` as a runtime would first: CNI_COMMAND=VERSION.
fn verify(plugin: &Path) -> Result<(), String> {
    let out = Command::new(plugin)
        .env_clear()
        .env("CNI_COMMAND", "VERSION")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("the copy {} does not run: {e}", plugin.display()))?;
    let answer: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    if !out.status.success() || answer.as_ref().and_then(|a| a.get("supportedVersions")).is_none() {
        return Err(format!(
            "the copy {} does not run: VERSION gave {} and {:?}",
            plugin.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    Ok(())
}

/// Renames the copy into place and flushes the directory, so that the
/// name survives a crash of the node too.
fn place(tmp: &Path, target: &Path, dir: &Path) -> Result<(), String> {
    fs::rename(tmp, target).map_err(|e| format!("cannot rename {} to {}: {e}", tmp.display(), target.display()))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| format!("cannot flush {}: {e}", dir.display()))
}
