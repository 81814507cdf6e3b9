//! The peer crates' versions of the benchmarked messages, shared by the `openflow` benchmark and
//! `benches/tests/peers.rs`, so that the test checks the very bytes the benchmark measures.

use rust_ofp::openflow0x01 as rofp;
use tenjin_sdn::openflow::ofp10 as tenjin;
use tenjin_sdn::openflow::ofp10::{MessageMarshal, OfpMsgEvent, OpenflowHeader};

/// The VLAN flow_mod (match dl_vlan=10, dl_vlan_pcp=3; mod_vlan_vid:20, mod_vlan_pcp:5,
/// output:1; priority 204) as `rust_ofp` builds it.
pub(crate) fn rust_ofp_vlan_flow_mod() -> rofp::FlowMod {
    let mut pattern = rofp::Pattern::match_all();
    pattern.dl_vlan = Some(Some(10));
    pattern.dl_vlan_pcp = Some(3);
    rofp::message::add_flow(
        204,
        pattern,
        vec![
            rofp::Action::SetDlVlan(Some(20)),
            rofp::Action::SetDlVlanPcp(5),
            rofp::Action::Output(rofp::PseudoPort::PhysicalPort(1)),
        ],
    )
}

/// The same VLAN flow_mod as `tenjin_sdn` builds it.
pub(crate) fn tenjin_vlan_flow_mod() -> tenjin::FlowModEvent {
    let mut fields = tenjin::MatchFields::match_all();
    fields.vlan_vid = Some(10);
    fields.vlan_pcp = Some(3);
    tenjin::FlowModEvent::add_flow(
        204,
        fields,
        vec![
            tenjin::Action::SetDlVlan(Some(20)),
            tenjin::Action::SetDlVlanPcp(5),
            tenjin::Action::Oputput(tenjin::PseudoPort::PhysicalPort(1)),
        ],
        None,
    )
}

/// tenjin_sdn's own send path: body first, then a header for its length.
pub(crate) fn tenjin_encode(msg: &impl MessageMarshal, xid: u32) -> Vec<u8> {
    let mut body = Vec::new();
    msg.marshal(&mut body);
    let header = tenjin::Openflow10::new().header(msg.msg_usize() as u8, body.len() as u16, xid);
    let mut out = Vec::new();
    header.marshal(&mut out);
    out.append(&mut body);
    out
}
