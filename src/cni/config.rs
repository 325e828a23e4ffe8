//! The network configuration on stdin. Unknown keys are ignored (the spec
//! says so); a known key with the wrong type is code 7 naming the key.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::declare::Declared;
use super::env::check_spec_id;
use super::error::{Error, Result, code, config_error};
use super::keys::{Keys, Notes};
use super::result::Dns;
use super::value::{go_mac, opt_bool, opt_object, opt_string, wrong_type};
use super::version::Version;
use super::vf::VfAdmin;

/// Stdin larger than this is refused before parsing.
pub const MAX_STDIN: usize = 1 << 20;
pub const DEFAULT_DATA_DIR: &str = "/run/cni/hostdev";

/// How the host interface is chosen. All selection lives here and in
/// `device.rs`, so new selectors have one place to go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// An interface name or altname.
    pub device: Option<String>,
    /// The current MAC, or the permanent MAC when the current one changed.
    pub hwaddr: Option<String>,
    /// An absolute path under /sys/devices/ whose `net/` holds the interface.
    pub kernelpath: Option<String>,
    /// A PCI address such as 0000:03:00.1.
    pub pci_bus_id: Option<String>,
    /// The device plugin's ID: a PCI address or an auxiliary-bus device
    /// such as mlx5_core.sf.4. Overrides `pci_bus_id`.
    pub device_id: Option<String>,
    /// `device_id` came from a top-level `deviceID` (where Multus writes it,
    /// beside `pciBusID`, for a plugin that declares no deviceID
    /// capability), not from `runtimeConfig.deviceID`.
    pub device_id_top_level: bool,
}

impl Selector {
    /// The config key `device_id` came from, for messages.
    pub fn device_id_key(&self) -> &'static str {
        if self.device_id_top_level { "deviceID" } else { "runtimeConfig.deviceID" }
    }
}

/// What DEL does with a device nothing a container cannot forge
/// identifies (tap, macvtap, ...): the config's `unprovable`, which ADD
/// requires for such a device and records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Unprovable {
    /// Bring home what is CNI_IFNAME in the container with the recorded
    /// kind and MAC, trusting the container as upstream host-device does.
    TrustContainer,
    /// Leave it to the container for good: DEL drops the record.
    LeaveInContainer,
}

impl Unprovable {
    pub const KEY: &'static str = "unprovable";

    /// As the config and the record spell it.
    pub fn name(self) -> &'static str {
        match self {
            Unprovable::TrustContainer => "trustContainer",
            Unprovable::LeaveInContainer => "leaveInContainer",
        }
    }

    fn parse(obj: &Map<String, Value>) -> Result<Option<Unprovable>> {
        let Some(text) = opt_string(obj, Self::KEY)? else { return Ok(None) };
        serde_json::from_value(Value::String(text.clone())).map(Some).map_err(|_| {
            config_error(format!(
                "config key {:?} {text:?} is invalid: it must be \"trustContainer\" or \"leaveInContainer\"",
                Self::KEY
            ))
        })
    }
}

#[derive(Debug, Clone)]
pub struct NetConf {
    pub cni_version: Version,
    pub name: String,
    pub selector: Selector,
    pub data_dir: PathBuf,
    pub ipam: Option<Map<String, Value>>,
    pub prev_result: Option<Value>,
    pub dns: Option<Dns>,
    /// GC's (container id, interface) pairs still in use.
    pub valid_attachments: Vec<(String, String)>,
    pub log_file: Option<PathBuf>,
    pub log_level: Option<String>,
    pub allow_default_route: bool,
    /// Move a device even though others (macvlan, vlan, ...) are stacked on it.
    pub allow_upper_devices: bool,
    /// `useInterfaceNetwork`, upstream host-device's key: `true` also
    /// carries the routes and policy rules of the interface into the
    /// container. None when the config does not say.
    pub use_interface_network: Option<bool>,
    pub unprovable: Option<Unprovable>,
    /// How the interface is to look in the pod.
    pub declared: Declared,
    /// The whole config as received, passed unchanged to IPAM plugins.
    pub raw: Vec<u8>,
    pub object: Map<String, Value>,
    /// What the spelling of its keys gave to say (logged once the log is set up).
    pub notes: Notes,
    /// The VF admin state the config declares (sriov-cni's keys).
    pub vf: VfAdmin,
    /// Where to write the device-info file (`runtimeConfig.CNIDeviceInfoFile`).
    pub device_info_file: Option<PathBuf>,
}

/// The keys read at the top level of a config, and the keys others read
/// there (which are never taken for a typo of ours).
const TOP: Keys = Keys {
    path: "",
    known: &[
        "cniVersion",
        "name",
        "device",
        "hwaddr",
        "kernelpath",
        "pciBusID",
        "runtimeConfig",
        "ipam",
        "prevResult",
        "dns",
        "dataDir",
        "logFile",
        "logLevel",
        "allowDefaultRoute",
        "allowUpperDevices",
        "useInterfaceNetwork",
        "unprovable",
        "mtu",
        "mac",
        "txQLen",
        "gsoMaxSize",
        "groMaxSize",
        "gsoIPv4MaxSize",
        "groIPv4MaxSize",
        "ethtool",
        "sysctl",
        "cni.dev/valid-attachments",
        "cni.dev/attachments",
        "vlan",
        "vlanQoS",
        "vlanProto",
        "spoofchk",
        "trust",
        "link_state",
        "min_tx_rate",
        "max_tx_rate",
        "mac",
    ],
    others: Some(&["type", "capabilities", "args", "plugins", "deviceID", "disableCheck", "disableGC"]),
};
/// `runtimeConfig`: the capabilities runtimes and Multus pass besides ours.
const RUNTIME_CONFIG: Keys = Keys {
    path: "runtimeConfig.",
    known: &["deviceID", "mac", "CNIDeviceInfoFile"],
    others: Some(&["ips", "bandwidth", "portMappings", "ipRanges", "dns", "aliases", "cgroupPath", "infinibandGUID"]),
};
/// `ipam`: only its type is ours; the rest is the IPAM plugin's.
const IPAM: Keys = Keys { path: "ipam.", known: &["type"], others: None };

/// Parses stdin as a JSON object (code 6 when it is not one).
pub fn parse_object(raw: &[u8]) -> Result<Map<String, Value>> {
    if raw.len() > MAX_STDIN {
        return Err(Error::new(code::DECODE, format!("network config on stdin is larger than {MAX_STDIN} bytes")));
    }
    let text =
        std::str::from_utf8(raw).map_err(|e| Error::new(code::DECODE, format!("network config is not UTF-8: {e}")))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::new(code::DECODE, "network config must be a JSON object")),
        Err(e) => Err(Error::new(code::DECODE, format!("cannot decode network config: {e}"))),
    }
}

/// The `cniVersion` key, if any (VERSION tolerates its absence).
pub fn version_text(obj: &Map<String, Value>) -> Result<Option<String>> {
    opt_string(obj, "cniVersion")
}

/// The version the config speaks. A missing or empty `cniVersion` (libcni
/// passes "" for a config without one) is 0.1.0, as Go's skel reads it, so
/// configs that work with the reference plugins work here.
pub fn spoken_version(obj: &Map<String, Value>) -> Result<String> {
    Ok(version_text(obj)?.filter(|v| !v.is_empty()).unwrap_or_else(|| UNVERSIONED.to_string()))
}

/// What a config without `cniVersion` speaks.
pub const UNVERSIONED: &str = "0.1.0";

impl NetConf {
    pub fn parse(raw: &[u8]) -> Result<NetConf> {
        let received = parse_object(raw)?;
        let mut notes = Notes::default();
        let obj = TOP.canonical(&received, &mut notes);
        let cni_version = Version::parse(&spoken_version(&obj)?)?;
        let name = opt_string(&obj, "name")?.ok_or_else(|| config_error("config key \"name\" is required"))?;
        // The spec's rule; it also keeps record file names tame.
        check_spec_id("config key \"name\"", &name).map_err(config_error)?;
        let runtime = runtime_config(&obj, &mut notes)?;
        let (device_id, device_id_top_level) = device_id(&obj, &runtime)?;
        let selector = Selector {
            device: opt_string(&obj, "device")?,
            hwaddr: opt_string(&obj, "hwaddr")?.map(|m| go_mac(&m).unwrap_or(m)),
            kernelpath: opt_string(&obj, "kernelpath")?,
            pci_bus_id: opt_string(&obj, "pciBusID")?,
            device_id,
            device_id_top_level,
        };
        Ok(NetConf {
            cni_version,
            name,
            selector,
            data_dir: data_dir(&obj)?,
            ipam: opt_ipam(&obj, &mut notes)?,
            prev_result: opt_object(&obj, "prevResult")?,
            dns: opt_object(&obj, "dns")?
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| config_error(format!("config key \"dns\" is invalid: {e}")))?,
            valid_attachments: valid_attachments(&obj)?,
            log_file: absolute_path(&obj, "logFile")?,
            log_level: opt_string(&obj, "logLevel")?,
            allow_default_route: opt_bool(&obj, "allowDefaultRoute")?.unwrap_or(false),
            allow_upper_devices: opt_bool(&obj, "allowUpperDevices")?.unwrap_or(false),
            use_interface_network: opt_bool(&obj, "useInterfaceNetwork")?,
            unprovable: Unprovable::parse(&obj)?,
            declared: Declared::parse(&obj, Some(&runtime))?,
            raw: raw.to_vec(),
            object: received,
            notes,
            vf: VfAdmin::parse(&obj, runtime_string(&runtime, "mac")?)?,
            device_info_file: absolute_path(&runtime, "CNIDeviceInfoFile")
                .map_err(|e| config_error(format!("runtimeConfig.{}", e.msg.trim_start_matches("config key "))))?,
        })
    }

    /// Whether the host's addresses go into the pod: upstream's
    /// `useInterfaceNetwork`, true unless the config says false (hostdev
    /// has always carried them).
    pub fn carries_addresses(&self) -> bool {
        self.use_interface_network.unwrap_or(true)
    }

    /// A config error (7) also names the unknown keys that look like typos
    /// of known ones: `"devcie"` is why no device is selected.
    pub fn explain(&self, e: Error) -> Error {
        if e.code != code::INVALID_CONFIG || self.notes.near_misses.is_empty() {
            return e;
        }
        Error { msg: format!("{} ({})", e.msg, self.notes.near_misses.join("; ")), ..e }
    }
}

/// The (container id, interface) pairs the runtime still uses: from
/// `cni.dev/valid-attachments`, and the older `cni.dev/attachments`.
fn valid_attachments(obj: &Map<String, Value>) -> Result<Vec<(String, String)>> {
    let mut valid = Vec::new();
    for key in ["cni.dev/valid-attachments", "cni.dev/attachments"] {
        let Some(list) = obj.get(key).filter(|v| !v.is_null()) else { continue };
        let list = list.as_array().ok_or_else(|| config_error(format!("config key {key:?} must be an array")))?;
        for item in list {
            let field = |k: &str| item.get(k).and_then(Value::as_str).map(String::from);
            match (field("containerID"), field("ifname")) {
                (Some(id), Some(ifname)) => valid.push((id, ifname)),
                _ => {
                    return Err(config_error(format!(
                        "config key {key:?} holds an entry without containerID and ifname: {item}"
                    )));
                }
            }
        }
    }
    Ok(valid)
}

/// `dataDir`: records must not depend on the runtime's working directory.
fn data_dir(obj: &Map<String, Value>) -> Result<PathBuf> {
    Ok(absolute_path(obj, "dataDir")?.unwrap_or_else(|| DEFAULT_DATA_DIR.into()))
}

/// A path key, which must be absolute: the runtime's working directory is
/// nobody's choice (and differs between runtimes).
fn absolute_path(obj: &Map<String, Value>, key: &str) -> Result<Option<PathBuf>> {
    match opt_string(obj, key)?.map(PathBuf::from) {
        Some(path) if !path.is_absolute() => {
            Err(config_error(format!("config key {key:?} {:?} must be an absolute path", path.display().to_string())))
        }
        path => Ok(path),
    }
}

/// The device plugin's ID and whether it came from the top level:
/// `runtimeConfig.deviceID` (the deviceID capability), else a top-level
/// `deviceID`, which Multus writes (with `pciBusID` set to the same value,
/// even for an auxiliary device) when the plugin declares no capability.
fn device_id(obj: &Map<String, Value>, runtime: &Map<String, Value>) -> Result<(Option<String>, bool)> {
    let runtime = runtime_string(runtime, "deviceID")?;
    let top = opt_string(obj, "deviceID")?;
    if runtime.as_deref().is_none_or(str::is_empty) && top.is_some() {
        return Ok((top, true));
    }
    Ok((runtime, false))
}

/// `runtimeConfig`, its keys in their canonical spelling; empty when absent.
fn runtime_config(obj: &Map<String, Value>, notes: &mut Notes) -> Result<Map<String, Value>> {
    match obj.get("runtimeConfig") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(rc)) => Ok(RUNTIME_CONFIG.canonical(rc, notes)),
        Some(other) => Err(wrong_type("runtimeConfig", "an object", other)),
    }
}

fn runtime_string(runtime: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    opt_string(runtime, key).map_err(|_| config_error(format!("config key \"runtimeConfig.{key}\" must be a string")))
}

fn opt_ipam(obj: &Map<String, Value>, notes: &mut Notes) -> Result<Option<Map<String, Value>>> {
    let Some(Value::Object(ipam)) = opt_object(obj, "ipam")? else { return Ok(None) };
    let ipam = IPAM.canonical(&ipam, notes);
    match opt_string(&ipam, "type").map_err(|_| config_error("config key \"ipam.type\" must be a string"))? {
        // An empty ipam section (some tools write `"ipam": {}`) or an empty
        // type means no IPAM, as upstream host-device reads it.
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) if t.contains('/') => Err(config_error(format!("config key \"ipam.type\" {t:?} is not a plugin name"))),
        Some(_) => Ok(Some(ipam)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NetConf> {
        NetConf::parse(s.as_bytes())
    }

    #[test]
    fn minimal_config() {
        let c = parse(r#"{"cniVersion":"1.0.0","name":"n","type":"hostdev","device":"eth1","whatever":[1]}"#).unwrap();
        assert_eq!(c.selector.device.as_deref(), Some("eth1"));
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert!(c.ipam.is_none() && !c.allow_default_route);
    }

    #[test]
    fn wrong_types_name_the_key() {
        for (json, key) in [
            (r#"{"cniVersion":"1.0.0","name":"n","device":5}"#, "device"),
            (r#"{"cniVersion":"1.0.0","name":"n","dataDir":[]}"#, "dataDir"),
            (r#"{"cniVersion":"1.0.0","name":"n","allowDefaultRoute":"yes"}"#, "allowDefaultRoute"),
            (r#"{"cniVersion":"1.0.0","name":"n","allowUpperDevices":1}"#, "allowUpperDevices"),
            (r#"{"cniVersion":"1.0.0","name":"n","useInterfaceNetwork":"yes"}"#, "useInterfaceNetwork"),
            (r#"{"cniVersion":"1.0.0","name":"n","ipam":"static"}"#, "ipam"),
            (r#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":3}}"#, "ipam.type"),
            (r#"{"cniVersion":"1.0.0","name":7}"#, "name"),
            (r#"{"cniVersion":1,"name":"n"}"#, "cniVersion"),
        ] {
            let e = parse(json).unwrap_err();
            assert_eq!(e.code, 7, "{json}");
            assert!(e.msg.contains(key), "{} should name {key}", e.msg);
        }
    }

    #[test]
    fn decode_errors_are_code_6() {
        for bad in ["", "{", "[]", "\"x\"", "{\"a\":1}}"] {
            assert_eq!(parse(bad).unwrap_err().code, 6, "{bad}");
        }
        assert_eq!(NetConf::parse(b"{\"a\":\"\xff\"}").unwrap_err().code, 6);
        let deep = "[".repeat(1000) + &"]".repeat(1000);
        assert_eq!(parse(&format!("{{\"a\":{deep}}}")).unwrap_err().code, 6);
        assert_eq!(NetConf::parse(&vec![b' '; MAX_STDIN + 1]).unwrap_err().code, 6);
    }

    #[test]
    fn version_and_name_are_checked() {
        assert_eq!(parse(r#"{"cniVersion":"9.9.9","name":"n"}"#).unwrap_err().code, 1);
        assert_eq!(parse(r#"{"name":"n"}"#).unwrap().cni_version.to_string(), "0.1.0");
        assert_eq!(parse(r#"{"cniVersion":"","name":"n"}"#).unwrap().cni_version, Version(0, 1, 0));
        assert_eq!(parse(r#"{"cniVersion":"1.0.0"}"#).unwrap_err().code, 7);
        assert_eq!(parse(r#"{"cniVersion":"1.0.0","name":"../x"}"#).unwrap_err().code, 7);
    }

    #[test]
    fn macs_in_go_spellings() {
        for good in ["02:AB:cd:00:11:22", "02-ab-CD-00-11-22", "02ab.cd00.1122"] {
            assert_eq!(go_mac(good).as_deref(), Some("02:ab:cd:00:11:22"), "{good}");
        }
        for bad in ["02-ab:cd-00-11-22", "02:ab:cd:00:11", "2:ab:cd:00:11:22", "02ab.cd00.112", "zz:ab:cd:00:11:22", ""]
        {
            assert!(go_mac(bad).is_none(), "{bad}");
        }
    }

    /// Known keys match as Go's encoding/json matches them (any case, and
    /// Go's special folds ſ→s, K→k), each with a warning naming the
    /// spelling; the exact spelling wins over a folded one.
    #[test]
    fn keys_match_case_insensitively_as_in_go() {
        let c = parse(
            r#"{"cniVersion":"1.0.0","name":"n","Device":"eth1","HWAddr":"02:00:00:00:00:01","pciBusId":"0000:03:00.1","dataDIR":"/run/x","KERNELPATH":"/sys/devices/x","runtimeConfig":{"DeviceId":"0000:03:00.2"},"ipam":{"Type":"static"}}"#,
        )
        .unwrap();
        assert_eq!(c.selector.device.as_deref(), Some("eth1"));
        assert_eq!(c.selector.hwaddr.as_deref(), Some("02:00:00:00:00:01"));
        assert_eq!(c.selector.pci_bus_id.as_deref(), Some("0000:03:00.1"));
        assert_eq!(c.selector.kernelpath.as_deref(), Some("/sys/devices/x"));
        assert_eq!(c.selector.device_id.as_deref(), Some("0000:03:00.2"));
        assert_eq!(c.data_dir, PathBuf::from("/run/x"));
        assert!(c.ipam.is_some(), "ipam.Type is ipam.type");
        for (got, canonical) in [
            ("Device", "device"),
            ("HWAddr", "hwaddr"),
            ("pciBusId", "pciBusID"),
            ("dataDIR", "dataDir"),
            ("KERNELPATH", "kernelpath"),
            ("runtimeConfig.DeviceId", "runtimeConfig.deviceID"),
            ("ipam.Type", "ipam.type"),
        ] {
            let said = format!("config key {got:?} is read as {canonical:?}");
            assert!(c.notes.warnings.iter().any(|w| w.contains(&said)), "no {said:?} in {:?}", c.notes.warnings);
        }
        let go_folds = parse(r#"{"cniVersion":"1.0.0","name":"n","\u212aernelpath":"/sys/devices/y"}"#).unwrap();
        assert_eq!(go_folds.selector.kernelpath.as_deref(), Some("/sys/devices/y"), "the Kelvin sign folds to k");
        let both = parse(r#"{"cniVersion":"1.0.0","name":"n","Device":"folded","device":"exact"}"#).unwrap();
        assert_eq!(both.selector.device.as_deref(), Some("exact"));
        assert!(both.notes.warnings.iter().any(|w| w.contains("\"Device\" is ignored")), "{:?}", both.notes.warnings);
        let plain = parse(r#"{"cniVersion":"1.0.0","name":"n","device":"eth1","type":"hostdev","deviceID":"x"}"#);
        assert!(plain.unwrap().notes.warnings.is_empty(), "exact keys and others' keys warn of nothing");
    }

    /// An unknown key a small edit away from a known one gets a "did you
    /// mean" warning, and a config error (7) then names it too.
    #[test]
    fn near_misses_are_named() {
        let c = parse(r#"{"cniVersion":"1.0.0","name":"n","devcie":"eth1","dataDri":"/x","logfiles":"/y","vlan":9}"#)
            .unwrap();
        for (got, known) in [("devcie", "device"), ("dataDri", "dataDir"), ("logfiles", "logFile")] {
            let said = format!("config key {got:?} is unknown and ignored: did you mean {known:?}?");
            assert!(c.notes.warnings.iter().any(|w| w.contains(&said)), "no {said:?} in {:?}", c.notes.warnings);
        }
        assert_eq!(c.notes.warnings.len(), 3, "vlan is far from every key: {:?}", c.notes.warnings);
        let e = c.explain(config_error("no device selected"));
        assert!(e.msg.starts_with("no device selected") && e.msg.contains("did you mean \"device\""), "{}", e.msg);
        assert_eq!(c.explain(Error::new(101, "x")).msg, "x", "only config errors get the hint");
    }

    #[test]
    fn device_id_from_runtime_config_or_top_level() {
        let sel = |extra: &str| parse(&format!(r#"{{"cniVersion":"1.0.0","name":"n"{extra}}}"#)).map(|c| c.selector);
        let top = sel(r#","deviceID":"mlx5_core.sf.4","pciBusID":"mlx5_core.sf.4""#).unwrap();
        assert_eq!((top.device_id.as_deref(), top.device_id_key()), (Some("mlx5_core.sf.4"), "deviceID"));
        let both = sel(r#","deviceID":"a","runtimeConfig":{"deviceID":"b"}"#).unwrap();
        assert_eq!((both.device_id.as_deref(), both.device_id_key()), (Some("b"), "runtimeConfig.deviceID"));
        let empty = sel(r#","deviceID":"a","runtimeConfig":{"deviceID":""}"#).unwrap();
        assert_eq!(empty.device_id.as_deref(), Some("a"));
        assert!(sel(r#","deviceID":1"#).unwrap_err().msg.contains("\"deviceID\""));
    }

    #[test]
    fn empty_ipam_means_none() {
        assert!(parse(r#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":""}}"#).unwrap().ipam.is_none());
        assert!(parse(r#"{"cniVersion":"1.0.0","name":"n","ipam":{}}"#).unwrap().ipam.is_none());
        assert!(parse(r#"{"cniVersion":"1.0.0","name":"n","ipam":{"type":"static"}}"#).unwrap().ipam.is_some());
    }
}
