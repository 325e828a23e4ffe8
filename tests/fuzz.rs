//! Property-based fuzzing of everything that parses untrusted input: the
//! network config, the CNI_* environment, stored records and CNI results.
//! Nothing may panic, and what parses must respect the documented limits.
//! PROPTEST_CASES sets the effort (scripts/test.sh keeps it brief).

use std::collections::HashMap;
use std::ffi::OsString;

use hostdev::cni::{CniResult, Env, NetConf};
use hostdev::state::Record;
use proptest::prelude::*;

/// JSON-ish text: real JSON values, mangled by truncation and splicing.
fn json_text() -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        Just("null".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-zA-Z0-9:/._ -]{0,20}".prop_map(|s| format!("{s:?}")),
    ];
    let value = leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(), inner), 0..8).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
                format!("{{{}}}", body.join(","))
            }),
        ]
    });
    (value, any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 0..4)).prop_map(|(v, cut, junk)| {
        let mut bytes = v.into_bytes();
        if !junk.is_empty() {
            let at = cut.index(bytes.len() + 1);
            bytes.splice(at..at, junk);
        }
        bytes
    })
}

/// Keys the parsers know, so that typed paths are exercised too.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "cniVersion",
            "name",
            "type",
            "device",
            "hwaddr",
            "kernelpath",
            "pciBusID",
            "dataDir",
            "ipam",
            "dns",
            "prevResult",
            "runtimeConfig",
            "deviceID",
            "logFile",
            "logLevel",
            "allowDefaultRoute",
            "interfaces",
            "ips",
            "routes",
            "address",
            "gateway",
            "interface",
            "ip4",
            "ip6",
            "dst",
            "gw",
            "host",
            "addrs",
            "phase",
            "format",
            "network",
            "containerId",
            "ifname",
            "index",
            "mac",
            "mtu",
            "up",
        ])
        .prop_map(String::from),
        "[a-z]{1,8}",
    ]
}

proptest! {
    #[test]
    fn config_parsing_never_panics(raw in json_text()) {
        if let Ok(conf) = NetConf::parse(&raw) {
            prop_assert!(!conf.name.is_empty());
            prop_assert!(conf.name.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
    }

    #[test]
    fn valid_looking_configs_parse_or_fail_with_a_code(
        version in prop::sample::select(vec!["0.1.0", "0.3.1", "1.0.0", "1.1.0", "2.0.0", ""]),
        name in "[a-zA-Z0-9./_-]{0,12}",
        device in prop_oneof![Just("\"eth1\"".to_string()), Just("5".to_string()), Just("null".to_string()), Just("[]".to_string())],
    ) {
        let raw = format!(r#"{{"cniVersion":"{version}","name":"{name}","type":"hostdev","device":{device}}}"#);
        match NetConf::parse(raw.as_bytes()) {
            Ok(c) => prop_assert_eq!(c.selector.device.is_some(), device.starts_with('"')),
            Err(e) => prop_assert!([1, 6, 7].contains(&e.code), "code {} for {}", e.code, raw),
        }
    }

    #[test]
    fn environment_parsing_never_panics(
        vars in prop::collection::hash_map(
            prop::sample::select(vec!["CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"]),
            prop_oneof![
                prop::sample::select(vec!["ADD", "DEL", "CHECK", "STATUS", "GC", "VERSION"]).prop_map(String::from),
                ".{0,20}",
            ],
            0..6,
        )
    ) {
        let vars: HashMap<&str, OsString> = vars.into_iter().map(|(k, v)| (k, OsString::from(v))).collect();
        if let Ok(Some(env)) = Env::read(|k| vars.get(k).cloned()) {
            use hostdev::cni::Command::{Add, Check, Del};
            // Only the commands that act on one attachment need CNI_IFNAME.
            if matches!(env.command, Add | Del | Check) {
                prop_assert!(env.ifname.len() <= 15 && !env.ifname.contains('/'));
            }
        }
    }

    /// Records of any shape the plugin writes come back the same, and a
    /// host name that is not an interface name is always refused.
    #[test]
    fn records_round_trip_and_bad_names_are_refused(
        network in "[a-z0-9][a-z0-9._-]{0,40}",
        container in "[a-f0-9]{1,64}",
        ifname in "[a-z][a-z0-9]{0,14}",
        host in prop_oneof!["[a-z][a-z0-9]{0,14}", "[./: a-z]{0,20}"],
        index in 0u32..5000,
        peer in 0u32..5000,
    ) {
        let key = hostdev::state::Key { network, container_id: container, ifname };
        let link = hostdev::netlink::Link { index, name: host.clone(), mac: "02:00:00:00:00:01".into(), ..Default::default() };
        let mut rec = Record::new(&key, None, link, Vec::new());
        rec.anchor = hostdev::state::Anchor::Peer { index: peer };
        let read = Record::from_file(&key.file_name(), &rec.to_file());
        let valid_name = !host.is_empty() && host.len() <= 15 && host != "." && host != ".."
            && !host.contains(['/', ':', ' ']);
        if valid_name && index > 0 && peer > 0 {
            prop_assert_eq!(read.ok(), Some(rec));
        } else {
            prop_assert_eq!(read.err().map(|e| e.kind), Some(hostdev::state::Kind::Corrupt));
        }
    }

    #[test]
    fn record_parsing_never_panics(raw in json_text()) {
        // Whatever the store accepts is a record it could have written:
        // it reads back the same, under its own file name.
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&raw) {
            let field = |k: &str| value.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let key = hostdev::state::Key { network: field("network"), container_id: field("containerId"), ifname: field("ifname") };
            let name = key.file_name();
            if let Ok(checked) = Record::from_file(&name, &raw) {
                prop_assert_eq!(checked.key(), key);
                prop_assert_eq!(Record::from_file(&name, &checked.to_file()).ok(), Some(checked));
            }
        }
        let _ = Record::from_file("net+c1+eth0.json", &raw);
    }

    #[test]
    fn result_parsing_never_panics(raw in json_text()) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&raw)
            && let Ok(result) = CniResult::from_json(&value) {
                for v in ["0.1.0", "0.4.0", "1.1.0"] {
                    let version = hostdev::cni::version::Version::parse(v).unwrap();
                    let _ = result.to_json(version);
                }
            }
    }
}
