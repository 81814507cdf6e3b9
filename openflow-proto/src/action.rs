//! OpenFlow 1.0 actions: the twelve standard types plus vendor actions.

use crate::port::PortNo;
use crate::MacAddr;
use bytes::Bytes;
use core::net::Ipv4Addr;

/// One OpenFlow 1.0 action.
///
/// The variants hold what is on the wire; the decoder is faithful and accepts any value
/// (an out-of-range VLAN id, a ToS with ECN bits). The typed constructors
/// ([`Action::set_vlan_vid`], [`Action::set_vlan_pcp`], [`Action::set_nw_tos`]) validate
/// what a switch would reject.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `OFPAT_OUTPUT`: send out a port; `max_len` bytes go to the controller when the port is
    /// [`PortNo::CONTROLLER`].
    Output {
        /// The output port.
        port: PortNo,
        /// Bytes to send to the controller.
        max_len: u16,
    },
    /// `OFPAT_SET_VLAN_VID`: set the 802.1Q VLAN id (`0..=0xfff`), adding a tag if needed.
    SetVlanVid(u16),
    /// `OFPAT_SET_VLAN_PCP`: set the 802.1Q priority (`0..=7`), adding a tag if needed.
    SetVlanPcp(u8),
    /// `OFPAT_STRIP_VLAN`: remove the 802.1Q tag.
    StripVlan,
    /// `OFPAT_SET_DL_SRC`: set the Ethernet source address.
    SetDlSrc(MacAddr),
    /// `OFPAT_SET_DL_DST`: set the Ethernet destination address.
    SetDlDst(MacAddr),
    /// `OFPAT_SET_NW_SRC`: set the IPv4 source address.
    SetNwSrc(Ipv4Addr),
    /// `OFPAT_SET_NW_DST`: set the IPv4 destination address.
    SetNwDst(Ipv4Addr),
    /// `OFPAT_SET_NW_TOS`: set the IP ToS (DSCP bits only; the two ECN bits must be clear).
    SetNwTos(u8),
    /// `OFPAT_SET_TP_SRC`: set the TCP/UDP source port.
    SetTpSrc(u16),
    /// `OFPAT_SET_TP_DST`: set the TCP/UDP destination port.
    SetTpDst(u16),
    /// `OFPAT_ENQUEUE`: send out a port through one of its queues.
    Enqueue {
        /// The output port.
        port: PortNo,
        /// The queue on that port.
        queue_id: u32,
    },
    /// `OFPAT_VENDOR`: a vendor action, kept as the vendor id and the bytes after the
    /// 8-byte action header (the action's length is 8 plus their length).
    Vendor {
        /// The vendor id.
        vendor: u32,
        /// The vendor-defined bytes.
        data: Bytes,
    },
}

/// A typed action constructor was given a value a switch would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionValueError {
    /// VLAN id above 0xfff.
    #[error("set_vlan_vid: VLAN id {0:#x} is out of range (expected 0..=0xfff)")]
    VlanVid(u16),
    /// VLAN priority above 7.
    #[error("set_vlan_pcp: priority {0} is out of range (expected 0..=7)")]
    VlanPcp(u8),
    /// ToS with ECN bits set.
    #[error("set_nw_tos: ToS {0:#04x} has ECN bits set (expected the two low bits clear)")]
    NwTos(u8),
}

impl Action {
    /// Output to a port (with `max_len` 0; use the variant directly for the controller).
    pub const fn output(port: PortNo) -> Self {
        Action::Output { port, max_len: 0 }
    }

    /// Output to the controller with up to `max_len` bytes of the packet.
    pub const fn to_controller(max_len: u16) -> Self {
        Action::Output {
            port: PortNo::CONTROLLER,
            max_len,
        }
    }

    /// Set the VLAN id, validating `vid <= 0xfff`.
    pub fn set_vlan_vid(vid: u16) -> Result<Self, ActionValueError> {
        if vid > 0xfff {
            Err(ActionValueError::VlanVid(vid))
        } else {
            Ok(Action::SetVlanVid(vid))
        }
    }

    /// Set the VLAN priority, validating `pcp <= 7`.
    pub fn set_vlan_pcp(pcp: u8) -> Result<Self, ActionValueError> {
        if pcp > 7 {
            Err(ActionValueError::VlanPcp(pcp))
        } else {
            Ok(Action::SetVlanPcp(pcp))
        }
    }

    /// Set the IP ToS, validating that the ECN bits are clear.
    pub fn set_nw_tos(tos: u8) -> Result<Self, ActionValueError> {
        if tos & 0x03 != 0 {
            Err(ActionValueError::NwTos(tos))
        } else {
            Ok(Action::SetNwTos(tos))
        }
    }
}
