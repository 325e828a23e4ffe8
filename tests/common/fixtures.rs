//! The helper programs in tests/fixtures, driven from a test: an IPAM
//! plugin that holds an ADD until released, and a process that keeps a
//! namespace alive through a socket alone.

use super::run::wait_until;
use super::world::World;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// tests/fixtures/slow-ipam as one ADD's IPAM: it holds that ADD in IPAM
/// until `release`, so another command runs against the half-done ADD
/// whatever the machine's load. Released on drop, so a failed test does
/// not leave an ADD waiting.
pub struct HeldIpam {
    started: PathBuf,
    release: PathBuf,
}

impl HeldIpam {
    pub fn new(w: &World) -> HeldIpam {
        HeldIpam { started: w.tmp.join("ipam-started"), release: w.tmp.join("ipam-release") }
    }

    /// The config's `ipam` object.
    pub fn ipam(&self) -> Value {
        json!({"type": "slow-ipam", "started": self.started, "release": self.release})
    }

    /// `env` with tests/fixtures in front of Debian's plugins on CNI_PATH.
    pub fn env(mut env: BTreeMap<&'static str, String>) -> BTreeMap<&'static str, String> {
        env.insert("CNI_PATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures:/usr/lib/cni").to_string());
        env
    }

    /// Waits until an ADD is held in IPAM (that is, past its claim and move).
    pub fn wait_started(&self) {
        assert!(wait_until(60, || self.started.exists()), "no ADD reached the IPAM within 60 s");
    }

    pub fn release(&self) {
        std::fs::write(&self.release, "").unwrap();
    }
}

impl Drop for HeldIpam {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.release, "");
    }
}

/// tests/fixtures/socket-holder.py holding the namespace at `path` through
/// a socket alone (killed on drop): once its path is gone, the namespace
/// lives on out of anyone's reach.
pub struct SocketHolder(Child);

impl SocketHolder {
    pub fn new(path: &str) -> SocketHolder {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/socket-holder.py");
        let mut child = Command::new(script).arg(path).stdout(Stdio::piped()).spawn().unwrap();
        let mut ready = String::new();
        let stdout = child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready).unwrap();
        assert_eq!(ready.trim(), "ready", "the socket holder did not start");
        SocketHolder(child)
    }
}

impl Drop for SocketHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
