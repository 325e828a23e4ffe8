//! The CNI result: one model (the 1.1.0 shape) with conversions to and from
//! every published version. Fields hostdev does not model (a newer spec's,
//! another plugin's) are kept as they came in `extra`, so a chained plugin
//! passes prevResult on with only its own changes; only what the output
//! version cannot express is dropped.

use std::net::IpAddr;

use ipnetwork::IpNetwork;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{Error, Result, code};
use super::version::{V1_0_0, V1_1_0, Version};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// 1.1.0: the PCI address of a device without a netdev (DPDK).
    #[serde(rename = "pciID", default, skip_serializing_if = "Option::is_none")]
    pub pci_id: Option<String>,
    /// Everything else, e.g. 1.1.0's `socketPath`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpConfig {
    pub address: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<usize>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl IpConfig {
    /// An address without gateway on interface `index` of the result.
    pub fn on(address: IpNetwork, index: usize) -> IpConfig {
        IpConfig { address, gateway: None, interface: Some(index), extra: Map::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub dst: IpNetwork,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw: Option<IpAddr>,
    // The rest are 1.1.0 fields, dropped for older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<u8>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dns {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl Dns {
    pub fn is_empty(&self) -> bool {
        *self == Dns::default()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CniResult {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ips: Vec<IpConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "Dns::is_empty")]
    pub dns: Dns,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CniResult {
    /// The index of the entry for interface `name` in `sandbox`. Should
    /// several plugins have listed it, the last one's report is the latest.
    pub fn interface_in(&self, name: &str, sandbox: &str) -> Option<usize> {
        self.interfaces.iter().rposition(|i| i.name == name && i.sandbox.as_deref() == Some(sandbox))
    }

    /// Reads a result of any version (a prevResult or an IPAM answer).
    pub fn from_json(v: &Value) -> Result<CniResult> {
        let bad = |e: serde_json::Error| Error::new(code::DECODE, format!("cannot decode CNI result: {e}"));
        // Go runtimes write absent lists and fields as null.
        let v = &without_nulls(v.clone());
        if v.get("ip4").is_some() || v.get("ip6").is_some() {
            return from_legacy(v).map_err(bad);
        }
        serde_json::from_value(v.clone()).map_err(bad)
    }

    /// Whether `to_json(version)` can express this result.
    pub fn check_expressible(&self, version: Version) -> Result<()> {
        if version.is_legacy() && self.ips.is_empty() {
            return Err(Error::new(
                code::INCOMPATIBLE_VERSION,
                format!(
                    "a cniVersion {version} result needs an IP address, and there is none: add addresses to the device, configure ipam, or use cniVersion 0.3.0 or later"
                ),
            ));
        }
        Ok(())
    }

    /// The result as the spec of `version` shapes it.
    pub fn to_json(&self, version: Version) -> Value {
        let version_text = version.to_string();
        let version_text = version_text.as_str();
        if version.is_legacy() {
            return self.to_legacy(version_text);
        }
        let mut v = serde_json::to_value(self).expect("results always serialise");
        v["cniVersion"] = version_text.into();
        if version < V1_1_0 {
            strip_1_1_fields(&mut v);
        }
        // get_mut, not v["ips"]: indexing would add a null "ips".
        for ip in v.get_mut("ips").and_then(Value::as_array_mut).into_iter().flatten() {
            // 0.x results carry each address's family; 1.0.0 dropped it.
            if version < V1_0_0 {
                let family = if ip["address"].as_str().is_some_and(|a| a.contains(':')) { "6" } else { "4" };
                ip["version"] = family.into();
            } else if let Some(o) = ip.as_object_mut() {
                o.remove("version");
            }
        }
        v
    }

    fn to_legacy(&self, version_text: &str) -> Value {
        let family = |v4: bool| {
            let ip = self.ips.iter().find(|ip| ip.address.is_ipv4() == v4)?;
            let routes: Vec<Value> = self
                .routes
                .iter()
                .filter(|r| r.dst.is_ipv4() == v4)
                .map(|r| json!({"dst": r.dst, "gw": r.gw}))
                .map(drop_nulls)
                .collect();
            Some(drop_nulls(json!({"ip": ip.address, "gateway": ip.gateway, "routes": routes})))
        };
        let mut v = json!({"cniVersion": version_text});
        if let Some(ip4) = family(true) {
            v["ip4"] = ip4;
        }
        if let Some(ip6) = family(false) {
            v["ip6"] = ip6;
        }
        if !self.dns.is_empty() {
            v["dns"] = serde_json::to_value(&self.dns).expect("dns serialises");
        }
        v
    }
}

fn without_nulls(mut v: Value) -> Value {
    match &mut v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            for x in o.values_mut() {
                *x = without_nulls(x.take());
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| *x = without_nulls(x.take())),
        _ => {}
    }
    v
}

/// What CNI 1.1.0 added to interfaces and routes; older versions cannot
/// express it.
const INTERFACE_1_1: [&str; 3] = ["mtu", "pciID", "socketPath"];
const ROUTE_1_1: [&str; 5] = ["mtu", "advmss", "priority", "table", "scope"];

fn strip_1_1_fields(v: &mut Value) {
    for (list, fields) in [("interfaces", &INTERFACE_1_1[..]), ("routes", &ROUTE_1_1[..])] {
        for item in v.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(o) = item.as_object_mut() {
                o.retain(|k, _| !fields.contains(&k.as_str()));
            }
        }
    }
}

fn drop_nulls(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.retain(|_, x| !x.is_null());
    }
    v
}

fn from_legacy(v: &Value) -> serde_json::Result<CniResult> {
    #[derive(Deserialize)]
    struct Family {
        ip: IpNetwork,
        gateway: Option<IpAddr>,
        #[serde(default)]
        routes: Vec<Route>,
    }
    let mut result = CniResult::default();
    for key in ["ip4", "ip6"] {
        let Some(f) = v.get(key).filter(|f| !f.is_null()) else { continue };
        let f: Family = serde_json::from_value(f.clone())?;
        result.ips.push(IpConfig { address: f.ip, gateway: f.gateway, interface: None, extra: Map::new() });
        result.routes.extend(f.routes);
    }
    if let Some(dns) = v.get("dns").filter(|d| !d.is_null()) {
        result.dns = serde_json::from_value(dns.clone())?;
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CniResult {
        CniResult {
            interfaces: vec![Interface {
                name: "eth0".into(),
                mac: "aa:bb:cc:dd:ee:ff".into(),
                mtu: Some(1400),
                sandbox: Some("/run/netns/x".into()),
                ..Interface::default()
            }],
            ips: vec![
                IpConfig {
                    gateway: Some("10.1.0.1".parse().unwrap()),
                    ..IpConfig::on("10.1.0.2/24".parse().unwrap(), 0)
                },
                IpConfig::on("fd00::2/64".parse().unwrap(), 0),
            ],
            routes: vec![Route {
                dst: "0.0.0.0/0".parse().unwrap(),
                gw: Some("10.1.0.1".parse().unwrap()),
                mtu: Some(1300),
                advmss: None,
                priority: None,
                table: None,
                scope: None,
                extra: Map::new(),
            }],
            dns: Dns { nameservers: vec!["10.1.0.53".into()], ..Dns::default() },
            extra: Map::new(),
        }
    }

    #[test]
    fn unknown_fields_survive_and_newer_ones_go_for_older_versions() {
        let j = json!({"cniVersion":"1.1.0","x":1,"interfaces":[{"name":"a","socketPath":"/s","y":2}],
            "ips":[{"address":"10.0.0.1/8","version":"4","z":3}],"routes":[{"dst":"0.0.0.0/0","table":5,"w":4}]});
        let r = CniResult::from_json(&j).unwrap();
        let out = r.to_json(v("1.1.0"));
        assert_eq!((out["x"].clone(), out["interfaces"][0]["socketPath"].clone()), (json!(1), json!("/s")));
        assert!(out["ips"][0].get("version").is_none(), "{out}");
        let out = r.to_json(v("1.0.0"));
        assert!(out["interfaces"][0].get("socketPath").is_none() && out["routes"][0].get("table").is_none());
        assert_eq!((out["interfaces"][0]["y"].clone(), out["ips"][0]["z"].clone()), (json!(2), json!(3)));
        assert_eq!(out["routes"][0]["w"], 4);
    }

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn current_shape_keeps_1_1_fields() {
        let j = sample().to_json(v("1.1.0"));
        assert_eq!(j["interfaces"][0]["mtu"], 1400);
        assert_eq!(j["routes"][0]["mtu"], 1300);
        assert_eq!(j["ips"][0]["address"], "10.1.0.2/24");
        assert!(j["ips"][0].get("version").is_none());
    }

    #[test]
    fn older_shapes_drop_newer_fields() {
        let j = sample().to_json(v("1.0.0"));
        assert!(j["interfaces"][0].get("mtu").is_none());
        assert!(j["routes"][0].get("mtu").is_none());
        let j = sample().to_json(v("0.3.1"));
        assert_eq!(j["ips"][0]["version"], "4");
        assert_eq!(j["ips"][1]["version"], "6");
        assert_eq!(j["cniVersion"], "0.3.1");
    }

    #[test]
    fn legacy_shape_round_trips() {
        let j = sample().to_json(v("0.2.0"));
        assert_eq!(j["ip4"]["ip"], "10.1.0.2/24");
        assert_eq!(j["ip4"]["gateway"], "10.1.0.1");
        assert_eq!(j["ip4"]["routes"][0]["dst"], "0.0.0.0/0");
        assert_eq!(j["ip6"]["ip"], "fd00::2/64");
        assert!(j.get("interfaces").is_none());
        let back = CniResult::from_json(&j).unwrap();
        assert_eq!(back.ips.len(), 2);
        assert_eq!(back.dns.nameservers, vec!["10.1.0.53".to_string()]);
    }

    #[test]
    fn absent_lists_stay_absent() {
        let r = CniResult {
            interfaces: vec![Interface { name: "eth0".into(), ..Interface::default() }],
            ..CniResult::default()
        };
        for v in ["0.3.1", "1.0.0", "1.1.0"] {
            let j = r.to_json(Version::parse(v).unwrap());
            assert!(j.get("routes").is_none() && j.get("ips").is_none(), "{v}: {j}");
        }
    }

    #[test]
    fn interface_in_needs_name_and_sandbox_and_takes_the_last() {
        let iface = |name: &str, sandbox: Option<&str>| Interface {
            name: name.into(),
            sandbox: sandbox.map(String::from),
            ..Interface::default()
        };
        let r = CniResult {
            interfaces: vec![
                iface("eth0", None),
                iface("eth0", Some("/run/netns/b")),
                iface("eth0", Some("/run/netns/a")),
                iface("eth0", Some("/run/netns/a")),
            ],
            ..CniResult::default()
        };
        assert_eq!(r.interface_in("eth0", "/run/netns/a"), Some(3));
        assert_eq!(r.interface_in("eth0", "/run/netns/c"), None);
        assert_eq!(r.interface_in("eth1", "/run/netns/b"), None);
    }

    #[test]
    fn legacy_needs_an_address() {
        assert_eq!(CniResult::default().check_expressible(v("0.1.0")).unwrap_err().code, 1);
        CniResult::default().check_expressible(v("0.3.0")).unwrap();
    }

    #[test]
    fn reads_nulls_as_absent() {
        let j =
            json!({"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mac":null}],"ips":null,"routes":null,"dns":null});
        let r = CniResult::from_json(&j).unwrap();
        assert_eq!(r.interfaces[0].name, "eth0");
        assert!(r.ips.is_empty());
    }

    #[test]
    fn reads_current_results_with_version_fields() {
        let j = json!({"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.5/8","interface":0}],"interfaces":[{"name":"eth0"}]});
        let r = CniResult::from_json(&j).unwrap();
        assert_eq!(r.ips[0].interface, Some(0));
        assert_eq!(r.interfaces[0].name, "eth0");
    }
}
