//! Delegation to an IPAM plugin, as the spec describes: the same
//! environment with CNI_COMMAND set, the whole config on stdin.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use serde_json::{Map, Value};

use super::error::{Error, Result, code, env_error};
use super::version::{V1_1_0, Version};
use super::{CniResult, Env, NetConf};
use crate::info;

pub struct Ipam<'a> {
    plugin: String,
    env: &'a Env,
    conf: &'a NetConf,
}

impl<'a> Ipam<'a> {
    /// The IPAM delegate of `conf`, if it has one.
    pub fn of(env: &'a Env, conf: &'a NetConf) -> Option<Ipam<'a>> {
        let plugin = conf.ipam.as_ref()?.get("type")?.as_str()?.to_string();
        Some(Ipam { plugin, env, conf })
    }

    pub fn add(&self) -> Result<CniResult> {
        let out = self.exec("ADD")?;
        let value: Value = serde_json::from_slice(&out).map_err(|e| {
            Error::new(code::IPAM, format!("IPAM plugin {} printed a result that is not JSON: {e}", self.plugin))
        })?;
        CniResult::from_json(&value)
            .map_err(|e| Error::new(code::IPAM, format!("IPAM plugin {}: {}", self.plugin, e.msg)))
    }

    /// DEL, CHECK, STATUS and GC print nothing on success. STATUS and GC
    /// are skipped for a plugin too old to know them (before 1.1.0).
    pub fn call(&self, command: &str) -> Result<()> {
        if matches!(command, "STATUS" | "GC") && self.best_version(&self.conf.raw)?.is_some_and(|v| v < V1_1_0) {
            info!("IPAM plugin {} predates CNI 1.1.0: no {command} to forward", self.plugin);
            return Ok(());
        }
        self.exec(command).map(drop)
    }

    /// Runs `command`; when the plugin refuses our cniVersion (code 1),
    /// asks it which versions it speaks and retries in the newest one
    /// that is not newer than ours. hostdev converts the answer anyway.
    fn exec(&self, command: &str) -> Result<Vec<u8>> {
        match self.run(command, &self.conf.raw) {
            Err(e) if e.code == code::INCOMPATIBLE_VERSION => {
                let Some(version) = self.best_version(&self.conf.raw)? else { return Err(e) };
                info!("IPAM plugin {} does not speak {}; using {version}", self.plugin, self.conf.cni_version);
                self.run(command, &with_version(&self.conf.object, version))
            }
            other => other,
        }
    }

    /// The newest version the plugin supports that is not newer than the
    /// config's, or None when it supports the config's own.
    fn best_version(&self, stdin: &[u8]) -> Result<Option<Version>> {
        let out = self.run("VERSION", stdin)?;
        let answer: Value = serde_json::from_slice(&out).unwrap_or_default();
        let supported: Vec<Version> = answer["supportedVersions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| Version::parse(v.as_str()?).ok())
            .collect();
        if supported.contains(&self.conf.cni_version) {
            return Ok(None);
        }
        Ok(supported.into_iter().filter(|v| *v <= self.conf.cni_version).max())
    }

    fn find(&self) -> Result<PathBuf> {
        if self.env.path.is_empty() {
            return Err(env_error(format!("CNI_PATH is required to find the IPAM plugin {:?}", self.plugin)));
        }
        self.env.path.iter().map(|dir| dir.join(&self.plugin)).find(|p| p.is_file()).ok_or_else(|| {
            let dirs: Vec<String> = self.env.path.iter().map(|p| p.display().to_string()).collect();
            Error::new(code::IPAM, format!("IPAM plugin {:?} not found in CNI_PATH {}", self.plugin, dirs.join(":")))
        })
    }

    /// Runs the plugin; on failure passes its own error (code and message)
    /// through, as the spec asks, naming the plugin.
    fn run(&self, command: &str, stdin: &[u8]) -> Result<Vec<u8>> {
        let path = self.find()?;
        let fail =
            |e: std::io::Error| Error::new(code::IPAM, format!("cannot run IPAM plugin {}: {e}", path.display()));
        let mut child = Process::new(&path)
            .env("CNI_COMMAND", command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(fail)?;
        let written = child.stdin.take().map(|mut s| s.write_all(stdin));
        let output = child.wait_with_output().map_err(fail)?;
        if output.status.success() {
            // A plugin that succeeded without reading all of its stdin
            // (it exited first: EPIPE) needed no more of it.
            if let Some(Err(e)) =
                written.filter(|w| !w.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
            {
                return Err(fail(e));
            }
            return Ok(output.stdout);
        }
        Err(self.plugin_error(command, &output.stdout))
    }

    fn plugin_error(&self, command: &str, stdout: &[u8]) -> Error {
        let reported: Option<Value> = serde_json::from_slice(stdout).ok();
        let field = |k: &str| reported.as_ref().and_then(|v| v.get(k)).cloned();
        let code = field("code").and_then(|c| c.as_u64()).map_or(code::IPAM, |c| c as u32);
        let msg = field("msg")
            .and_then(|m| m.as_str().map(String::from))
            .unwrap_or_else(|| String::from_utf8_lossy(stdout).trim().to_string());
        let details = field("details").and_then(|m| m.as_str().map(String::from)).unwrap_or_default();
        Error::new(code, format!("IPAM plugin {} {command} failed: {msg}", self.plugin)).with_details(details)
    }
}

/// The config with its `cniVersion` replaced, and its prevResult in
/// that version's shape.
fn with_version(conf: &Map<String, Value>, version: Version) -> Vec<u8> {
    let mut conf = conf.clone();
    let text = version.to_string();
    if let Some(prev) = conf.get("prevResult").and_then(|p| CniResult::from_json(p).ok()) {
        conf.insert("prevResult".into(), prev.to_json(&text, version));
    }
    conf.insert("cniVersion".into(), text.into());
    serde_json::to_vec(&conf).expect("configs always serialise")
}
