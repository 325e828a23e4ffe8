//! The CNI_* environment variables, read and validated once.

use std::ffi::OsString;
use std::path::PathBuf;

use super::error::{Result, env_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Add,
    Del,
    Check,
    Status,
    Gc,
    Version,
}

impl Command {
    fn parse(s: &str) -> Result<Command> {
        Ok(match s {
            "ADD" => Command::Add,
            "DEL" => Command::Del,
            "CHECK" => Command::Check,
            "STATUS" => Command::Status,
            "GC" => Command::Gc,
            "VERSION" => Command::Version,
            other => return Err(env_error(format!("unknown CNI_COMMAND {other:?}"))),
        })
    }

    /// The name runtimes pass in CNI_COMMAND.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
            Command::Check => "CHECK",
            Command::Status => "STATUS",
            Command::Gc => "GC",
            Command::Version => "VERSION",
        }
    }

    /// Commands that act on one attachment need its id and interface name.
    pub fn needs_attachment(self) -> bool {
        matches!(self, Command::Add | Command::Del | Command::Check)
    }
}

#[derive(Debug, Clone)]
pub struct Env {
    pub command: Command,
    pub container_id: String,
    /// None when CNI_NETNS is unset or empty (allowed for DEL).
    pub netns: Option<PathBuf>,
    pub ifname: String,
    pub path: Vec<PathBuf>,
    /// The Kubernetes pod, from CNI_ARGS; None for podman, cnitool and others.
    pub pod: Option<Pod>,
}

/// The pod an attachment belongs to, as containerd and CRI-O name it in
/// CNI_ARGS (`K8S_POD_NAMESPACE`, `K8S_POD_NAME`): only to show an operator
/// which pod holds what. Recorded as given: whoever displays it escapes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
}

/// Longer than any name Kubernetes allows (253): not a pod name.
const POD_NAME_MAX: usize = 253;

impl Pod {
    /// The pod `CNI_ARGS` (`K=V;K=V`) names, if it names one. A malformed
    /// CNI_ARGS is not ours to refuse (IPAM plugins read it too): what is
    /// not a pod is ignored.
    pub fn from_cni_args(args: &str) -> Option<Pod> {
        let value = |key: &str| {
            args.split(';').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v.to_string())
        };
        let pod = Pod { namespace: value("K8S_POD_NAMESPACE").unwrap_or_default(), name: value("K8S_POD_NAME")? };
        let fits = |s: &str| s.len() <= POD_NAME_MAX;
        (!pod.name.is_empty() && fits(&pod.name) && fits(&pod.namespace)).then_some(pod)
    }
}

impl std::fmt::Display for Pod {
    /// `namespace/name`, as kubectl spells it; the name alone without one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.namespace.as_str() {
            "" => write!(f, "{}", self.name),
            ns => write!(f, "{ns}/{}", self.name),
        }
    }
}

impl Env {
    /// CNI_NETNS as results spell an interface's `sandbox`.
    pub fn sandbox(&self) -> Option<String> {
        self.netns.as_ref().map(|p| p.display().to_string())
    }

    /// Reads the environment through `get`, so tests need not touch the
    /// process environment. `Ok(None)` means CNI_COMMAND is unset.
    pub fn read(get: impl Fn(&str) -> Option<OsString>) -> Result<Option<Env>> {
        let text = |key: &str| -> Result<String> {
            match get(key) {
                None => Ok(String::new()),
                Some(v) => v.into_string().map_err(|_| env_error(format!("{key} is not valid UTF-8"))),
            }
        };
        let command = text("CNI_COMMAND")?;
        if command.is_empty() {
            return Ok(None);
        }
        let command = Command::parse(&command)?;
        let mut env = Env {
            command,
            container_id: text("CNI_CONTAINERID")?,
            netns: Some(PathBuf::from(text("CNI_NETNS")?)).filter(|p| !p.as_os_str().is_empty()),
            ifname: text("CNI_IFNAME")?,
            path: std::env::split_paths(&text("CNI_PATH")?).filter(|p| !p.as_os_str().is_empty()).collect(),
            pod: get("CNI_ARGS").and_then(|a| Pod::from_cni_args(&a.to_string_lossy())),
        };
        if command == Command::Version {
            return Ok(Some(env)); // podman probes VERSION with junk in the other variables
        }
        env.validate()?;
        Ok(Some(env))
    }

    fn validate(&mut self) -> Result<()> {
        if !self.command.needs_attachment() {
            return Ok(());
        }
        if self.container_id.is_empty() {
            return Err(env_error("CNI_CONTAINERID is required"));
        }
        check_spec_id("CNI_CONTAINERID", &self.container_id).map_err(env_error)?;
        check_ifname("CNI_IFNAME", &self.ifname)?;
        if self.netns.is_none() && self.command != Command::Del {
            return Err(env_error("CNI_NETNS is required"));
        }
        Ok(())
    }
}

/// The spec's one rule for container ids and network names (an
/// alphanumeric, then alphanumerics, `_`, `.`, `-`); Err names `what`
/// (the variable or config key) and the value. The caller gives the code:
/// a bad variable is not a bad config.
pub fn check_spec_id(what: &str, value: &str) -> std::result::Result<(), String> {
    if !is_spec_id(value) {
        return Err(format!("{what} {value:?} is invalid: {SPEC_ID_RULE}"));
    }
    Ok(())
}

/// The spec's rule for container ids and network names.
pub const SPEC_ID_RULE: &str = "it must start with a letter or digit and hold only letters, digits, '_', '.', '-'";

/// Whether `s` follows `SPEC_ID_RULE`; it also keeps record file names tame.
pub fn is_spec_id(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// The kernel's interface name rule (dev_valid_name), checked before any
/// request: an invalid name would fail only after the device has moved.
pub fn check_ifname(what: &str, name: &str) -> Result<()> {
    crate::ifname::check(what, name).map_err(env_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<Option<Env>> {
        let map: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        Env::read(|k| map.get(k).cloned())
    }

    const ADD: [(&str, &str); 4] = [
        ("CNI_COMMAND", "ADD"),
        ("CNI_CONTAINERID", "abc-1.2_3"),
        ("CNI_NETNS", "/run/netns/x"),
        ("CNI_IFNAME", "eth0"),
    ];

    #[test]
    fn no_command_is_none() {
        assert!(read(&[]).unwrap().is_none());
    }

    #[test]
    fn add_reads_everything() {
        let mut vars = ADD.to_vec();
        vars.push(("CNI_PATH", "/a:/b"));
        let env = read(&vars).unwrap().unwrap();
        assert_eq!(env.command, Command::Add);
        assert_eq!(env.path, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    }

    #[test]
    fn version_accepts_junk() {
        let env = read(&[("CNI_COMMAND", "VERSION"), ("CNI_NETNS", "dummy"), ("CNI_IFNAME", "a/b")]).unwrap();
        assert_eq!(env.unwrap().command, Command::Version);
    }

    #[test]
    fn del_does_not_need_netns() {
        let vars: Vec<_> =
            ADD.iter().copied().map(|(k, v)| if k == "CNI_COMMAND" { (k, "DEL") } else { (k, v) }).collect();
        let without: Vec<_> = vars.into_iter().filter(|(k, _)| *k != "CNI_NETNS").collect();
        assert!(read(&without).unwrap().unwrap().netns.is_none());
    }

    #[test]
    fn missing_or_bad_variables_are_code_4() {
        let cases: Vec<Vec<(&str, &str)>> = vec![
            vec![("CNI_COMMAND", "FROB")],
            ADD.iter().copied().filter(|(k, _)| *k != "CNI_NETNS").collect(),
            ADD.iter().copied().filter(|(k, _)| *k != "CNI_CONTAINERID").collect(),
            ADD.iter().copied().filter(|(k, _)| *k != "CNI_IFNAME").collect(),
            ADD.iter().copied().map(|(k, v)| if k == "CNI_CONTAINERID" { (k, "-bad") } else { (k, v) }).collect(),
        ];
        for vars in cases {
            assert_eq!(read(&vars).unwrap_err().code, 4, "{vars:?}");
        }
    }

    #[test]
    fn the_pod_comes_from_cni_args() {
        let pod = |args: &str| Pod::from_cni_args(args).map(|p| p.to_string());
        let k8s = "IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_NAMESPACE=shop";
        assert_eq!(pod(k8s).as_deref(), Some("shop/web-0"));
        assert_eq!(pod("K8S_POD_NAME=solo").as_deref(), Some("solo"), "no namespace");
        for none in ["", "IgnoreUnknown=1", "K8S_POD_NAMESPACE=shop", "K8S_POD_NAME=", "junk;;=;K8S_POD_NAME"] {
            assert_eq!(pod(none), None, "{none:?}");
        }
        assert_eq!(pod(&format!("K8S_POD_NAME={}", "a".repeat(254))), None, "too long for Kubernetes");
        let env = read(&[ADD.as_slice(), &[("CNI_ARGS", k8s)]].concat()).unwrap().unwrap();
        assert_eq!(env.pod, Some(Pod { namespace: "shop".into(), name: "web-0".into() }));
    }

    #[test]
    fn interface_names_follow_the_kernel() {
        for good in ["eth0", "a", "net1-x_y.z", "fifteen-chars15"] {
            check_ifname("n", good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a:b", "a b", "a\tb", "sixteen-chars-16"] {
            assert_eq!(check_ifname("n", bad).unwrap_err().code, 4, "{bad:?}");
        }
    }
}
