//! What the config declares about the interface in the pod: `mtu`, `mac`
//! (or the `mac` capability, `runtimeConfig.mac`, as Multus passes it),
//! `txQLen` and `sysctl` as the tuning plugin names them, `ethtool.features`
//! and the GSO/GRO maximum sizes (`gsoMaxSize`, ...) as dranet names them. Only the shape is checked here; what needs the
//! device (its MTU range, its features, CNI_IFNAME) is checked by ADD
//! before anything changes.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{Result, config_error};
use super::value::{go_mac, wrong_type};
use crate::netlink::gso::Sizes;

/// Declared settings; empty when the config declares none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub mtu: Option<u32>,
    /// The MAC, lowercase with colons, and the key it came from.
    pub mac: Option<(&'static str, String)>,
    pub txqlen: Option<u32>,
    /// `gsoMaxSize`, `groMaxSize`, `gsoIPv4MaxSize`, `groIPv4MaxSize`.
    pub sizes: Sizes,
    /// `ethtool.features`: a kernel feature name or an ethtool(8) group
    /// name (`tso`, `tx-checksumming`), on or off.
    pub features: BTreeMap<String, bool>,
    pub sysctls: Vec<Sysctl>,
}

/// One entry of `sysctl`, inside the interface's own tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// As the config spells it, for messages.
    pub key: String,
    /// The interface it names: `IFNAME` (tuning's placeholder) or a name.
    pub ifname: String,
    /// "ipv4.arp_ignore", as `netlink::sysctl` keys them.
    pub leaf: String,
    pub value: String,
}

impl Declared {
    pub fn parse(obj: &Map<String, Value>, runtime: Option<&Map<String, Value>>) -> Result<Declared> {
        let mac = match runtime.and_then(|rc| rc.get("mac")).filter(|v| !v.is_null()) {
            Some(v) => Some(("runtimeConfig.mac", mac("runtimeConfig.mac", v)?)),
            None => obj.get("mac").filter(|v| !v.is_null()).map(|v| mac("mac", v)).transpose()?.map(|m| ("mac", m)),
        };
        Ok(Declared {
            mtu: number(obj, "mtu", 1)?,
            mac,
            txqlen: number(obj, "txQLen", 0)?,
            sizes: Sizes {
                gso: number(obj, "gsoMaxSize", 1)?,
                gro: number(obj, "groMaxSize", 1)?,
                gso_ipv4: number(obj, "gsoIPv4MaxSize", 1)?,
                gro_ipv4: number(obj, "groIPv4MaxSize", 1)?,
            },
            features: features(obj)?,
            sysctls: sysctls(obj)?,
        })
    }
}

/// A whole number from `min` to u32's maximum.
fn number(obj: &Map<String, Value>, key: &str, min: u64) -> Result<Option<u32>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().filter(|n| *n >= min).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None if v.is_number() => Err(config_error(format!("config key {key:?} {v} is out of range"))),
            None => Err(wrong_type(key, "a whole number", v)),
        },
    }
}

/// A unicast Ethernet MAC in any spelling Go's net.ParseMAC takes.
fn mac(key: &str, v: &Value) -> Result<String> {
    let text = v.as_str().ok_or_else(|| wrong_type(key, "a MAC address", v))?;
    let bad = |why: &str| config_error(format!("config key {key:?} {text:?} {why}"));
    let mac = go_mac(text).ok_or_else(|| bad("is not a MAC address"))?;
    let bytes = crate::netlink::link::parse_mac(&mac).unwrap_or_default();
    if bytes.len() != 6 {
        return Err(bad("is not a 6-byte Ethernet MAC address"));
    }
    if bytes[0] & 1 != 0 {
        return Err(bad("is a multicast address: an interface needs a unicast one"));
    }
    if bytes.iter().all(|b| *b == 0) {
        return Err(bad("is all zeros"));
    }
    Ok(mac)
}

fn features(obj: &Map<String, Value>) -> Result<BTreeMap<String, bool>> {
    let Some(ethtool) = obj.get("ethtool").filter(|v| !v.is_null()) else { return Ok(BTreeMap::new()) };
    let ethtool = ethtool.as_object().ok_or_else(|| wrong_type("ethtool", "an object", ethtool))?;
    let Some(features) = ethtool.get("features").filter(|v| !v.is_null()) else { return Ok(BTreeMap::new()) };
    let features = features.as_object().ok_or_else(|| wrong_type("ethtool.features", "an object", features))?;
    features
        .iter()
        .map(|(name, on)| match on {
            Value::Bool(on) => Ok((name.clone(), *on)),
            other => Err(wrong_type(&format!("ethtool.features.{name}"), "true or false", other)),
        })
        .collect()
}

fn sysctls(obj: &Map<String, Value>) -> Result<Vec<Sysctl>> {
    let Some(map) = obj.get("sysctl").filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let map = map.as_object().ok_or_else(|| wrong_type("sysctl", "an object", map))?;
    map.iter().map(|(key, value)| sysctl(key, value)).collect()
}

/// One `sysctl` entry: `net.ipv4.conf.<if>.<leaf>` or `net.ipv6.conf.<if>.<leaf>`,
/// where `<if>` is `IFNAME` or an interface name; a string or number value.
fn sysctl(key: &str, value: &Value) -> Result<Sysctl> {
    let shown = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return Err(wrong_type(&format!("sysctl.{key}"), "a string", other)),
    };
    let outside = || {
        config_error(format!(
            "config key \"sysctl\" entry {key:?}: {shown:?} is outside the interface's own tree: only net.ipv4.conf.IFNAME.<name> and net.ipv6.conf.IFNAME.<name> are hostdev's to set"
        ))
    };
    let (family, rest) = ["ipv4", "ipv6"]
        .iter()
        .find_map(|f| key.strip_prefix(&format!("net.{f}.conf.")).map(|rest| (*f, rest)))
        .ok_or_else(outside)?;
    let (ifname, leaf) = rest.rsplit_once('.').ok_or_else(outside)?;
    let leaf_ok = !leaf.is_empty() && leaf.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let if_ok =
        ifname == "IFNAME" || (!["all", "default"].contains(&ifname) && crate::ifname::invalid(ifname).is_none());
    if !leaf_ok || !if_ok {
        return Err(outside());
    }
    Ok(Sysctl { key: key.to_string(), ifname: ifname.to_string(), leaf: format!("{family}.{leaf}"), value: shown })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Declared> {
        let obj = v.as_object().unwrap().clone();
        let rc = obj.get("runtimeConfig").and_then(Value::as_object).cloned();
        Declared::parse(&obj, rc.as_ref())
    }

    #[test]
    fn everything_declared_is_read() {
        let d = parse(json!({
            "mtu": 9000, "mac": "02-AB-00-00-00-01", "txQLen": 0, "gsoMaxSize": 100000, "groIPv4MaxSize": 70000,
            "ethtool": {"features": {"tso": false}},
            "sysctl": {"net.ipv6.conf.IFNAME.accept_ra": 0, "net.ipv4.conf.net1.100.arp_ignore": "1"},
        }))
        .unwrap();
        assert_eq!((d.mtu, d.mac, d.txqlen), (Some(9000), Some(("mac", "02:ab:00:00:00:01".into())), Some(0)));
        assert_eq!(d.sizes, Sizes { gso: Some(100000), gro_ipv4: Some(70000), ..Sizes::default() });
        assert_eq!(d.features, BTreeMap::from([("tso".to_string(), false)]));
        assert_eq!(d.sysctls[0].leaf, "ipv4.arp_ignore");
        assert_eq!(d.sysctls[0].ifname, "net1.100", "an interface name may hold dots");
        assert_eq!((d.sysctls[1].leaf.as_str(), d.sysctls[1].value.as_str()), ("ipv6.accept_ra", "0"));
        assert_eq!(parse(json!({})).unwrap(), Declared::default());
    }

    #[test]
    fn the_capability_wins() {
        let d = parse(json!({"mac": "02:00:00:00:00:01", "runtimeConfig": {"mac": "02:00:00:00:00:02"}})).unwrap();
        assert_eq!(d.mac, Some(("runtimeConfig.mac", "02:00:00:00:00:02".into())));
    }

    #[test]
    fn bad_declarations_name_key_and_value() {
        for (v, key, value) in [
            (json!({"mtu": 0}), "mtu", "0"),
            (json!({"mtu": 1e10}), "mtu", "10000000000"),
            (json!({"mtu": "1500"}), "mtu", "1500"),
            (json!({"txQLen": -3}), "txQLen", "-3"),
            (json!({"gsoMaxSize": 0}), "gsoMaxSize", "0"),
            (json!({"groIPv4MaxSize": "65536"}), "groIPv4MaxSize", "65536"),
            (json!({"mac": "01:00:00:00:00:01"}), "mac", "01:00:00:00:00:01"),
            (json!({"mac": "00:00:00:00:00:00"}), "mac", "00:00:00:00:00:00"),
            (json!({"mac": "02:00:00:00:00:00:00:01"}), "mac", "02:00:00:00:00:00:00:01"),
            (json!({"mac": 5}), "mac", "5"),
            (json!({"ethtool": {"features": {"gro": 1}}}), "gro", "1"),
            (json!({"ethtool": []}), "ethtool", "[]"),
            (json!({"sysctl": {"net.ipv4.conf.default.forwarding": "1"}}), "net.ipv4.conf.default.forwarding", "1"),
            (json!({"sysctl": {"net.ipv4.conf.IFNAME": "1"}}), "net.ipv4.conf.IFNAME", "1"),
            (json!({"sysctl": {"net.ipv4.conf.a/b.x": "1"}}), "net.ipv4.conf.a/b.x", "1"),
            (json!({"sysctl": {"net.ipv4.neigh.IFNAME.x": "1"}}), "net.ipv4.neigh.IFNAME.x", "1"),
            (json!({"sysctl": {"net.ipv4.conf.IFNAME.x": true}}), "net.ipv4.conf.IFNAME.x", "true"),
        ] {
            let e = parse(v.clone()).unwrap_err();
            assert_eq!(e.code, 7, "{v}");
            assert!(e.msg.contains(key) && e.msg.contains(value), "{v}: {}", e.msg);
        }
    }
}
