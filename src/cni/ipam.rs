//! Delegation to an IPAM plugin, as the spec describes: the same
//! environment with CNI_COMMAND set, the whole config on stdin.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as Process, Stdio};

use serde_json::{Map, Value};

use super::error::{Error, Result, code, env_error};
use super::result::Dns;
use super::version::{V1_1_0, Version};
use super::{CniResult, Env, NetConf};
use crate::{info, warn};

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

    /// ADD, read as the reference plugins read it: a route without `gw`
    /// goes via its family's gateway, and the config's `dns` wins over
    /// IPAM's. When ADD fails or prints no result, the plugin is called
    /// again with DEL (as the spec asks of a plugin whose delegate failed),
    /// so nothing it reserved before failing stays allocated.
    pub fn add(&self) -> Result<CniResult> {
        let mut got = self.exec("ADD").and_then(|out| self.read_result(&out)).inspect_err(|_| {
            if let Err(e) = self.call("DEL") {
                warn!("releasing what IPAM plugin {} may hold after its failed ADD failed: {e}", self.plugin);
            }
        })?;
        fill_route_gateways(&mut got);
        if self.conf.dns.is_some() {
            got.dns = Dns::default();
        }
        Ok(got)
    }

    fn read_result(&self, out: &[u8]) -> Result<CniResult> {
        let value: Value = serde_json::from_slice(out).map_err(|e| {
            Error::new(code::IPAM, format!("IPAM plugin {} printed a result that is not JSON: {e}", self.plugin))
        })?;
        CniResult::from_json(&value)
            .map_err(|e| Error::new(code::IPAM, format!("IPAM plugin {}: {}", self.plugin, e.msg)))
    }

    /// DEL, CHECK, STATUS and GC print nothing on success. STATUS and GC
    /// are skipped for a plugin too old to know them (before 1.1.0).
    pub fn call(&self, command: &str) -> Result<()> {
        if matches!(command, "STATUS" | "GC") && self.best_version(&self.conf.raw)?.is_some_and(|v| v < V1_1_0) {
            info!("the IPAM plugin predates CNI 1.1.0: nothing to forward"; plugin = self.plugin, ipam_command = command);
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
                info!("the IPAM plugin does not speak our version"; plugin = self.plugin, ours = self.conf.cni_version, using = version);
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
        let mut process = Process::new(&path);
        process.env("CNI_COMMAND", command);
        // The attachment this call is about, which for GC's releases is not
        // the one (if any) in our own environment.
        let netns = self.env.sandbox().unwrap_or_default();
        for (key, value) in [
            ("CNI_CONTAINERID", self.env.container_id.as_str()),
            ("CNI_IFNAME", &self.env.ifname),
            ("CNI_NETNS", &netns),
        ] {
            if value.is_empty() {
                process.env_remove(key);
            } else {
                process.env(key, value);
            }
        }
        let mut child =
            process.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().map_err(fail)?;
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

/// Upstream's ConfigureIface: a route without `gw` goes via the gateway of
/// the first address of its family that has one (on-link when none does).
fn fill_route_gateways(result: &mut CniResult) {
    let gateway = |v4: bool| result.ips.iter().filter_map(|ip| ip.gateway).find(|g| g.is_ipv4() == v4);
    let (v4, v6) = (gateway(true), gateway(false));
    for route in result.routes.iter_mut().filter(|r| r.gw.is_none()) {
        route.gw = if route.dst.is_ipv4() { v4 } else { v6 };
    }
}

/// The config with its `cniVersion` replaced, and its prevResult in
/// that version's shape.
fn with_version(conf: &Map<String, Value>, version: Version) -> Vec<u8> {
    let mut conf = conf.clone();
    let text = version.to_string();
    if let Some(prev) = conf.get("prevResult").and_then(|p| CniResult::from_json(p).ok()) {
        conf.insert("prevResult".into(), prev.to_json(version));
    }
    conf.insert("cniVersion".into(), text.into());
    serde_json::to_vec(&conf).expect("configs always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_without_gw_take_their_familys_gateway() {
        let mut r = CniResult::from_json(&json!({"cniVersion":"1.0.0",
            "ips":[{"address":"10.0.0.2/24"},{"address":"10.1.0.2/24","gateway":"10.1.0.1"},
                   {"address":"fd00::2/64","gateway":"fd00::1"},{"address":"10.2.0.2/24","gateway":"10.2.0.1"}],
            "routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"},{"dst":"192.0.2.0/24","gw":"10.2.0.9"}]}))
        .unwrap();
        fill_route_gateways(&mut r);
        let gws: Vec<String> = r.routes.iter().map(|r| r.gw.unwrap().to_string()).collect();
        assert_eq!(gws, ["10.1.0.1", "fd00::1", "10.2.0.9"]);
        let mut only_v4 = CniResult::from_json(&json!({"ips":[{"address":"10.0.0.2/24","gateway":"10.0.0.1"}],
            "routes":[{"dst":"::/0"}]}))
        .unwrap();
        fill_route_gateways(&mut only_v4);
        assert_eq!(only_v4.routes[0].gw, None, "no IPv6 gateway: on-link");
    }
}
