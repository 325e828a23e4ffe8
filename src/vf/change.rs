//! What a VF is to become: the declared keys over the state the PF reports,
//! and the PF requests that take it there (and back).

use crate::cni::vf::VfAdmin;
use crate::netlink::vf::{VfSetting, VfState};

/// The state the VF is to have: `was` with the keys `admin` declares over
/// it. A declared VLAN takes the declared (else default) QoS and protocol.
pub fn wanted(admin: &VfAdmin, was: &VfState) -> VfState {
    let mut want = was.clone();
    if let Some(vlan) = admin.vlan {
        want.vlan = vlan;
        want.qos = admin.qos.unwrap_or(0);
        want.vlan_proto = admin.proto.unwrap_or_default();
    }
    want.mac = admin.mac.clone().unwrap_or(want.mac);
    want.spoofchk = admin.spoofchk.unwrap_or(want.spoofchk);
    want.trust = admin.trust.unwrap_or(want.trust);
    want.link_state = admin.link_state.unwrap_or(want.link_state);
    want.min_tx_rate = admin.min_tx_rate.unwrap_or(want.min_tx_rate);
    want.max_tx_rate = admin.max_tx_rate.unwrap_or(want.max_tx_rate);
    want
}

/// The requests that take a VF from `have` to `want`, MAC first: once the
/// PF has set an admin MAC, some drivers (igb) refuse any other change of
/// the VF's own MAC, so the PF side is settled before anything else.
pub fn changes(have: &VfState, want: &VfState) -> Vec<VfSetting> {
    let mut out = Vec::new();
    if have.mac != want.mac {
        out.push(VfSetting::Mac(want.mac.clone()));
    }
    if (have.vlan, have.qos, have.vlan_proto) != (want.vlan, want.qos, want.vlan_proto) {
        out.push(VfSetting::Vlan { vlan: want.vlan, qos: want.qos, proto: want.vlan_proto });
    }
    if (have.min_tx_rate, have.max_tx_rate) != (want.min_tx_rate, want.max_tx_rate) {
        out.push(VfSetting::Rate { min: want.min_tx_rate, max: want.max_tx_rate });
    }
    if have.spoofchk != want.spoofchk {
        out.push(VfSetting::SpoofChk(want.spoofchk));
    }
    if have.trust != want.trust {
        out.push(VfSetting::Trust(want.trust));
    }
    if have.link_state != want.link_state {
        out.push(VfSetting::LinkState(want.link_state));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::vf::VlanProto;

    #[test]
    fn declared_keys_go_over_the_snapshot_mac_first() {
        let was = VfState { mac: "02:00:00:00:00:09".into(), vlan: 7, qos: 2, spoofchk: true, ..VfState::default() };
        let admin =
            VfAdmin { vlan: Some(100), trust: Some(true), mac: Some("02:00:00:00:00:10".into()), ..VfAdmin::default() };
        let want = wanted(&admin, &was);
        assert_eq!((want.vlan, want.qos, want.spoofchk, want.trust), (100, 0, true, true));
        assert_eq!(
            changes(&was, &want),
            [
                VfSetting::Mac("02:00:00:00:00:10".into()),
                VfSetting::Vlan { vlan: 100, qos: 0, proto: VlanProto::Dot1Q },
                VfSetting::Trust(true)
            ]
        );
        let same = VfAdmin { spoofchk: Some(true), ..VfAdmin::default() };
        assert!(changes(&was, &wanted(&same, &was)).is_empty(), "nothing to do");
        assert_eq!(changes(&want, &was)[0], VfSetting::Mac("02:00:00:00:00:09".into()), "the way back, MAC first");
    }
}
