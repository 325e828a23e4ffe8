//! The VF admin-state keys, compatible with sriov-cni's netdevice mode:
//! `vlan`, `vlanQoS`, `vlanProto`, `spoofchk`, `trust`, `link_state`,
//! `min_tx_rate`, `max_tx_rate` and `mac` (or `runtimeConfig.mac`, which
//! wins, as in sriov-cni). Unlike sriov-cni, a key that is not set leaves
//! that part of the VF alone (sriov-cni writes VLAN 0 when `vlan` is
//! missing). Values are checked here, before anything is looked up.

use serde_json::{Map, Value};

use super::error::{Result, config_error};
use super::value::{go_mac, opt_string};
use crate::netlink::vf::{LinkState, VlanProto};

/// The config keys this module reads.
pub const KEYS: [&str; 9] =
    ["vlan", "vlanQoS", "vlanProto", "spoofchk", "trust", "link_state", "min_tx_rate", "max_tx_rate", "mac"];

/// What the config declares about the VF; None leaves it as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VfAdmin {
    pub mac: Option<String>,
    pub vlan: Option<u32>,
    pub qos: Option<u32>,
    pub proto: Option<VlanProto>,
    pub spoofchk: Option<bool>,
    pub trust: Option<bool>,
    pub link_state: Option<LinkState>,
    pub min_tx_rate: Option<u32>,
    pub max_tx_rate: Option<u32>,
}

impl VfAdmin {
    /// Reads the keys from the top level of the config, and `mac` from
    /// `runtime_mac` (runtimeConfig.mac) when the runtime passed one.
    pub fn parse(obj: &Map<String, Value>, runtime_mac: Option<String>) -> Result<VfAdmin> {
        let admin = VfAdmin {
            mac: runtime_mac.or(string(obj, "mac")?).map(|m| unicast_mac(&m)).transpose()?,
            vlan: number(obj, "vlan", 4094)?,
            qos: number(obj, "vlanQoS", 7)?,
            proto: string(obj, "vlanProto")?.map(|p| vlan_proto(&p)).transpose()?,
            spoofchk: string(obj, "spoofchk")?.map(|v| on_off("spoofchk", &v)).transpose()?,
            trust: string(obj, "trust")?.map(|v| on_off("trust", &v)).transpose()?,
            link_state: string(obj, "link_state")?.map(|v| link_state(&v)).transpose()?,
            min_tx_rate: number(obj, "min_tx_rate", u32::MAX)?,
            max_tx_rate: number(obj, "max_tx_rate", u32::MAX)?,
        };
        admin.check()?;
        Ok(admin)
    }

    /// True when the config declares any of the keys.
    pub fn is_set(&self) -> bool {
        *self != VfAdmin::default()
    }

    /// The keys set, for messages.
    pub fn keys(&self) -> Vec<&'static str> {
        let set = [
            self.vlan.is_some(),
            self.qos.is_some(),
            self.proto.is_some(),
            self.spoofchk.is_some(),
            self.trust.is_some(),
            self.link_state.is_some(),
            self.min_tx_rate.is_some(),
            self.max_tx_rate.is_some(),
            self.mac.is_some(),
        ];
        KEYS.iter().zip(set).filter(|(_, s)| *s).map(|(k, _)| *k).collect()
    }

    /// The rules between keys, as sriov-cni has them: QoS and 802.1ad
    /// need a VLAN; a maximum rate below the minimum is no limit anyone
    /// can keep.
    fn check(&self) -> Result<()> {
        let vlan = self.vlan.unwrap_or(0);
        if self.qos.is_some_and(|q| q != 0) && vlan == 0 {
            return Err(config_error("config key \"vlanQoS\" needs a non-zero \"vlan\""));
        }
        if self.proto == Some(VlanProto::Dot1Ad) && vlan == 0 {
            return Err(config_error("config key \"vlanProto\" \"802.1ad\" needs a non-zero \"vlan\""));
        }
        if let (Some(min), Some(max)) = (self.min_tx_rate, self.max_tx_rate)
            && max != 0
            && min > max
        {
            return Err(config_error(format!(
                "config key \"min_tx_rate\" {min} is above \"max_tx_rate\" {max} (0 is no limit)"
            )));
        }
        Ok(())
    }
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    opt_string(obj, key)
}

/// A whole number from 0 to `max`.
fn number(obj: &Map<String, Value>, key: &str, max: u32) -> Result<Option<u32>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().filter(|n| *n <= u64::from(max)).map(|n| Some(n as u32)).ok_or_else(|| {
                config_error(format!("config key {key:?} must be a whole number from 0 to {max}, got {v}"))
            })
        }
    }
}

fn on_off(key: &str, value: &str) -> Result<bool> {
    match value {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(config_error(format!("config key {key:?} must be \"on\" or \"off\", got {value:?}"))),
    }
}

fn link_state(value: &str) -> Result<LinkState> {
    match value {
        "auto" => Ok(LinkState::Auto),
        "enable" => Ok(LinkState::Enable),
        "disable" => Ok(LinkState::Disable),
        _ => Err(config_error(format!(
            "config key \"link_state\" must be \"auto\", \"enable\" or \"disable\", got {value:?}"
        ))),
    }
}

/// sriov-cni lowercases the protocol before checking it.
fn vlan_proto(value: &str) -> Result<VlanProto> {
    match value.to_ascii_lowercase().as_str() {
        "802.1q" => Ok(VlanProto::Dot1Q),
        "802.1ad" => Ok(VlanProto::Dot1Ad),
        _ => Err(config_error(format!("config key \"vlanProto\" must be \"802.1Q\" or \"802.1ad\", got {value:?}"))),
    }
}

/// A MAC a VF can be given: six bytes, unicast, not all zero; in any of
/// the spellings `hwaddr` takes. Returned lowercase, colon-separated.
fn unicast_mac(value: &str) -> Result<String> {
    let mac = go_mac(value).filter(|m| m.len() == 17);
    let first = mac.as_deref().and_then(|m| u8::from_str_radix(&m[..2], 16).ok());
    match (mac, first) {
        (Some(mac), Some(first)) if first & 1 == 0 && mac != "00:00:00:00:00:00" => Ok(mac),
        _ => Err(config_error(format!(
            "config key \"mac\" {value:?} is not a unicast hardware address like 02:00:00:00:00:01"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<VfAdmin> {
        let obj: Map<String, Value> = serde_json::from_str(json).unwrap();
        VfAdmin::parse(&obj, None)
    }

    #[test]
    fn sriov_cni_keys_are_read() {
        let a = parse(
            r#"{"vlan":100,"vlanQoS":3,"vlanProto":"802.1AD","spoofchk":"off","trust":"on","link_state":"enable","min_tx_rate":10,"max_tx_rate":100,"mac":"02-AA-00-00-00-01"}"#,
        )
        .unwrap();
        let want = VfAdmin {
            mac: Some("02:aa:00:00:00:01".into()),
            vlan: Some(100),
            qos: Some(3),
            proto: Some(VlanProto::Dot1Ad),
            spoofchk: Some(false),
            trust: Some(true),
            link_state: Some(LinkState::Enable),
            min_tx_rate: Some(10),
            max_tx_rate: Some(100),
        };
        assert_eq!(a, want);
        assert_eq!(a.keys(), KEYS);
        assert!(!parse("{}").unwrap().is_set());
        assert!(parse(r#"{"vlan":0}"#).unwrap().is_set(), "vlan 0 is declared: it clears a VLAN");
    }

    #[test]
    fn runtime_config_mac_wins() {
        let obj: Map<String, Value> = serde_json::from_str(r#"{"mac":"02:00:00:00:00:01"}"#).unwrap();
        let a = VfAdmin::parse(&obj, Some("02:00:00:00:00:02".into())).unwrap();
        assert_eq!(a.mac.as_deref(), Some("02:00:00:00:00:02"));
    }

    #[test]
    fn bad_values_name_their_key() {
        for (json, key) in [
            (r#"{"vlan":4095}"#, "\"vlan\""),
            (r#"{"vlan":-1}"#, "\"vlan\""),
            (r#"{"vlan":"100"}"#, "\"vlan\""),
            (r#"{"vlan":1.5}"#, "\"vlan\""),
            (r#"{"vlan":1,"vlanQoS":8}"#, "\"vlanQoS\""),
            (r#"{"vlanQoS":1}"#, "\"vlanQoS\""),
            (r#"{"vlan":0,"vlanQoS":2}"#, "\"vlanQoS\""),
            (r#"{"vlanProto":"802.1ad"}"#, "\"vlanProto\""),
            (r#"{"vlan":5,"vlanProto":"qinq"}"#, "\"vlanProto\""),
            (r#"{"spoofchk":true}"#, "\"spoofchk\""),
            (r#"{"spoofchk":"yes"}"#, "\"spoofchk\""),
            (r#"{"trust":"On"}"#, "\"trust\""),
            (r#"{"link_state":"up"}"#, "\"link_state\""),
            (r#"{"min_tx_rate":-5}"#, "\"min_tx_rate\""),
            (r#"{"max_tx_rate":4294967296}"#, "\"max_tx_rate\""),
            (r#"{"min_tx_rate":200,"max_tx_rate":100}"#, "\"min_tx_rate\""),
            (r#"{"mac":"01:00:5e:00:00:01"}"#, "\"mac\""),
            (r#"{"mac":"00:00:00:00:00:00"}"#, "\"mac\""),
            (r#"{"mac":"02:00:00:00:00"}"#, "\"mac\""),
            (r#"{"mac":5}"#, "\"mac\""),
        ] {
            let e = parse(json).unwrap_err();
            assert_eq!(e.code, 7, "{json}");
            assert!(e.msg.contains(key), "{json}: {} should name {key}", e.msg);
        }
        assert!(parse(r#"{"min_tx_rate":200,"max_tx_rate":0}"#).is_ok(), "a maximum of 0 is no limit");
        assert!(parse(r#"{"vlan":0,"vlanQoS":0,"vlanProto":"802.1Q"}"#).is_ok());
    }
}
