//! What ADD answers: the CNI versions whose result has `interfaces` and
//! `ips`, and the check of such a result against the link it came from.

use super::links::{Link, norm_addr};
use super::run::Out;
use hostdev::cni::version::SUPPORTED;
use std::collections::BTreeSet;

/// The versions whose result has `interfaces` and `ips` (0.3.0 on): the
/// crate's own list less the legacy `ip4`/`ip6` ones, so a version the
/// crate adds is tested without anyone copying it here.
pub const VERSIONS: [&str; SUPPORTED.len() - legacy_count()] = current_versions();

/// Whether `v` ("0.1.0", "0.2.0") answers in the legacy result shape; core's
/// VERSION test holds this to the crate's `Version::is_legacy`.
pub const fn is_legacy(v: &str) -> bool {
    let b = v.as_bytes();
    b[0] == b'0' && b[2] < b'3'
}

const fn legacy_count() -> usize {
    let (mut i, mut n) = (0, 0);
    while i < SUPPORTED.len() {
        if is_legacy(SUPPORTED[i]) {
            n += 1;
        }
        i += 1;
    }
    n
}

const fn current_versions() -> [&'static str; SUPPORTED.len() - legacy_count()] {
    let mut out = [""; SUPPORTED.len() - legacy_count()];
    let (mut i, mut n) = (0, 0);
    while i < SUPPORTED.len() {
        if !is_legacy(SUPPORTED[i]) {
            out[n] = SUPPORTED[i];
            n += 1;
        }
        i += 1;
    }
    out
}

/// Checks an ADD result against the host link it was made from.
pub fn check_add_result(out: &Out, version: &str, ifname: &str, netns: &str, host: &Link) {
    let r = &out.json;
    assert_eq!(r["cniVersion"], version, "result: {out:#?}");
    let ifs = r["interfaces"].as_array().expect("interfaces");
    assert_eq!(ifs.len(), 1, "result: {out:#?}");
    let i = &ifs[0];
    assert_eq!(i["name"], ifname, "result: {out:#?}");
    assert_eq!(i["mac"].as_str().map(str::to_lowercase).as_deref(), Some(host.mac.as_str()));
    assert_eq!(i["sandbox"], netns, "result: {out:#?}");
    if version == "1.1.0" {
        assert_eq!(i["mtu"].as_u64(), Some(host.mtu), "1.1.0 mtu: {out:#?}");
    } else {
        assert!(i.get("mtu").is_none(), "{version} has no mtu field: {out:#?}");
    }
    let ips = r["ips"].as_array().expect("ips");
    let mut got = BTreeSet::new();
    for ipc in ips {
        let addr = norm_addr(ipc["address"].as_str().expect("ips[].address"));
        assert_eq!(ipc["interface"], 0, "ips[].interface: {out:#?}");
        let v6 = addr.contains(':');
        if version.starts_with("0.") {
            assert_eq!(ipc["version"], if v6 { "6" } else { "4" }, "{version} ips[].version");
        } else {
            assert!(ipc.get("version").is_none(), "{version} ips has no version: {out:#?}");
        }
        if !addr.starts_with("fe80:") {
            got.insert(addr);
        }
    }
    assert_eq!(got, host.addrs, "result ips: {out:#?}");
}
