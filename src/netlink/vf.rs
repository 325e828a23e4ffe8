//! An SR-IOV VF's admin state, which its PF holds: read with one GETLINK of
//! the PF that asks for the VF list (IFLA_EXT_MASK with RTEXT_FILTER_VF),
//! written with one RTM_NEWLINK of the PF per setting, so that a refusal
//! names the setting the driver refused.

use netlink_packet_route::RouteNetlinkMessage as Rt;
use netlink_packet_route::link::{
    LinkAttribute, LinkExtentMask, LinkMessage, LinkVfInfo, VfInfo, VfInfoLinkState, VfInfoMac, VfInfoRate,
    VfInfoSpoofCheck, VfInfoTrust, VfInfoVlan, VfLinkState, VfVlan, VfVlanInfo, VlanProtocol,
};

use super::link::{format_mac, parse_mac};
use super::request::{Request, Subject};
use super::socket::{NlResult, Socket};

/// A VF's state as its PF reports it (`ip link show <pf>`: `vf N ...`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VfState {
    /// The admin MAC; 00:00:00:00:00:00 when none was set.
    pub mac: String,
    pub vlan: u32,
    pub qos: u32,
    pub vlan_proto: VlanProto,
    pub spoofchk: bool,
    pub trust: bool,
    pub link_state: LinkState,
    /// Mbit/s; 0 is no limit.
    pub min_tx_rate: u32,
    pub max_tx_rate: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum VlanProto {
    #[default]
    Dot1Q,
    Dot1Ad,
}

/// `ip link set <pf> vf N state ...`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkState {
    #[default]
    Auto,
    Enable,
    Disable,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Auto => "auto",
            LinkState::Enable => "enable",
            LinkState::Disable => "disable",
        }
    }
}

/// One setting of one VF, as one request to its PF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VfSetting {
    Mac(String),
    Vlan { vlan: u32, qos: u32, proto: VlanProto },
    Rate { min: u32, max: u32 },
    SpoofChk(bool),
    Trust(bool),
    LinkState(LinkState),
}

impl VfSetting {
    /// What it sets, in the words of the config keys, for messages.
    pub fn describe(&self) -> String {
        let on = |b: bool| if b { "on" } else { "off" };
        match self {
            VfSetting::Mac(mac) => format!("mac {mac}"),
            VfSetting::Vlan { vlan, qos, proto } => {
                let proto = if *proto == VlanProto::Dot1Ad { "802.1ad" } else { "802.1Q" };
                format!("vlan {vlan} vlanQoS {qos} vlanProto {proto}")
            }
            VfSetting::Rate { min, max } => format!("min_tx_rate {min} max_tx_rate {max}"),
            VfSetting::SpoofChk(b) => format!("spoofchk {}", on(*b)),
            VfSetting::Trust(b) => format!("trust {}", on(*b)),
            VfSetting::LinkState(s) => format!("link_state {}", s.name()),
        }
    }
}

impl Socket {
    /// The state PF `pf` reports for its VF `vf`; None when it reports no
    /// such VF (or no VFs at all).
    pub fn vf_state(&mut self, pf: u32, vf: u32) -> NlResult<Option<VfState>> {
        let mut msg = LinkMessage::default();
        msg.header.index = pf;
        msg.attributes.push(LinkAttribute::ExtMask(vec![LinkExtentMask::Vf, LinkExtentMask::SkipStats]));
        let Rt::NewLink(reply) = self.get(Rt::GetLink(msg))? else { return Ok(None) };
        Ok(reply.attributes.iter().find_map(|a| match a {
            LinkAttribute::VfInfoList(list) => list.iter().find_map(|info| state_of(info, vf)),
            _ => None,
        }))
    }

    /// Applies one setting to VF `vf` of PF `pf`.
    pub fn set_vf(&mut self, pf: u32, vf: u32, setting: &VfSetting) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = pf;
        msg.attributes.push(LinkAttribute::VfInfoList(vec![LinkVfInfo(vec![vf_info(vf, setting)])]));
        self.ack_one(Request::new(Rt::NewLink(msg), 0, Subject::Link, format!("set {} on VF {vf}", setting.describe())))
    }
}

fn vf_info(vf: u32, setting: &VfSetting) -> VfInfo {
    match setting {
        VfSetting::Mac(mac) => VfInfo::Mac(VfInfoMac::new(vf, &parse_mac(mac).unwrap_or_default())),
        // IFLA_VF_VLAN speaks 802.1Q only; the list form carries the protocol.
        VfSetting::Vlan { vlan, qos, proto: VlanProto::Dot1Q } => VfInfo::Vlan(VfInfoVlan::new(vf, *vlan, *qos)),
        VfSetting::Vlan { vlan, qos, proto: VlanProto::Dot1Ad } => {
            VfInfo::VlanList(vec![VfVlan::Info(VfVlanInfo::new(vf, *vlan, *qos, VlanProtocol::Ieee8021Ad))])
        }
        VfSetting::Rate { min, max } => VfInfo::Rate(VfInfoRate::new(vf, *min, *max)),
        VfSetting::SpoofChk(on) => VfInfo::SpoofCheck(VfInfoSpoofCheck::new(vf, *on)),
        VfSetting::Trust(on) => VfInfo::Trust(VfInfoTrust::new(vf, *on)),
        VfSetting::LinkState(s) => VfInfo::LinkState(VfInfoLinkState::new(
            vf,
            match s {
                LinkState::Auto => VfLinkState::Auto,
                LinkState::Enable => VfLinkState::Enable,
                LinkState::Disable => VfLinkState::Disable,
            },
        )),
    }
}

/// The state in one IFLA_VF_INFO, if it is VF `vf`'s.
fn state_of(info: &LinkVfInfo, vf: u32) -> Option<VfState> {
    let mut state = VfState::default();
    let mut ours = false;
    for attr in &info.0 {
        match attr {
            VfInfo::Mac(m) => {
                ours = m.vf_id == vf;
                state.mac = format_mac(&m.mac[..6]);
            }
            VfInfo::Vlan(v) => (state.vlan, state.qos) = (v.vlan_id, v.qos),
            VfInfo::VlanList(list) => {
                if let Some(VfVlan::Info(v)) = list.first() {
                    state.vlan_proto =
                        if v.protocol == VlanProtocol::Ieee8021Ad { VlanProto::Dot1Ad } else { VlanProto::Dot1Q };
                }
            }
            VfInfo::Rate(r) => (state.min_tx_rate, state.max_tx_rate) = (r.min_tx_rate, r.max_tx_rate),
            VfInfo::SpoofCheck(s) => state.spoofchk = s.enabled,
            VfInfo::Trust(t) => state.trust = t.enabled,
            VfInfo::LinkState(l) => {
                state.link_state = match l.state {
                    VfLinkState::Enable => LinkState::Enable,
                    VfLinkState::Disable => LinkState::Disable,
                    _ => LinkState::Auto,
                }
            }
            _ => {}
        }
    }
    ours.then_some(state)
}
