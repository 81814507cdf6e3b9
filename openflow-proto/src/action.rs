//! OpenFlow 1.0 actions: the twelve standard types plus vendor actions.

use crate::codec::{Fixed, Reader};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Expected};
use crate::header::MessageType;
use crate::port::PortNo;
use crate::MacAddr;
use bytes::{BufMut, Bytes};
use core::net::Ipv4Addr;

/// One OpenFlow 1.0 action.
///
/// The variants hold what is on the wire; the decoder is faithful and accepts any value
/// (an out-of-range VLAN id, a ToS with ECN bits). The typed constructors
/// ([`Action::set_vlan_vid`], [`Action::set_vlan_pcp`], [`Action::set_nw_tos`]) validate
/// what a switch would reject.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// An OpenFlow 1.0 action type (`ofp_action_type`), with unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionType {
    /// `OFPAT_OUTPUT` (0).
    Output,
    /// `OFPAT_SET_VLAN_VID` (1).
    SetVlanVid,
    /// `OFPAT_SET_VLAN_PCP` (2).
    SetVlanPcp,
    /// `OFPAT_STRIP_VLAN` (3).
    StripVlan,
    /// `OFPAT_SET_DL_SRC` (4).
    SetDlSrc,
    /// `OFPAT_SET_DL_DST` (5).
    SetDlDst,
    /// `OFPAT_SET_NW_SRC` (6).
    SetNwSrc,
    /// `OFPAT_SET_NW_DST` (7).
    SetNwDst,
    /// `OFPAT_SET_NW_TOS` (8).
    SetNwTos,
    /// `OFPAT_SET_TP_SRC` (9).
    SetTpSrc,
    /// `OFPAT_SET_TP_DST` (10).
    SetTpDst,
    /// `OFPAT_ENQUEUE` (11).
    Enqueue,
    /// `OFPAT_VENDOR` (0xffff).
    Vendor,
    /// Any other value.
    Unknown(u16),
}

impl ActionType {
    /// From the wire value.
    pub const fn from_u16(v: u16) -> Self {
        match v {
            0 => ActionType::Output,
            1 => ActionType::SetVlanVid,
            2 => ActionType::SetVlanPcp,
            3 => ActionType::StripVlan,
            4 => ActionType::SetDlSrc,
            5 => ActionType::SetDlDst,
            6 => ActionType::SetNwSrc,
            7 => ActionType::SetNwDst,
            8 => ActionType::SetNwTos,
            9 => ActionType::SetTpSrc,
            10 => ActionType::SetTpDst,
            11 => ActionType::Enqueue,
            0xffff => ActionType::Vendor,
            v => ActionType::Unknown(v),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            ActionType::Output => 0,
            ActionType::SetVlanVid => 1,
            ActionType::SetVlanPcp => 2,
            ActionType::StripVlan => 3,
            ActionType::SetDlSrc => 4,
            ActionType::SetDlDst => 5,
            ActionType::SetNwSrc => 6,
            ActionType::SetNwDst => 7,
            ActionType::SetNwTos => 8,
            ActionType::SetTpSrc => 9,
            ActionType::SetTpDst => 10,
            ActionType::Enqueue => 11,
            ActionType::Vendor => 0xffff,
            ActionType::Unknown(v) => v,
        }
    }

    /// The bit of this type in the features_reply `actions` bitmap (bits 0-11), if any.
    pub const fn bitmap_bit(self) -> Option<u32> {
        let v = self.to_u16();
        if v <= 11 {
            Some(1 << v)
        } else {
            None
        }
    }

    /// The fixed wire length of the standard types (`None` for vendor and unknown types).
    pub const fn fixed_len(self) -> Option<usize> {
        match self {
            ActionType::SetDlSrc | ActionType::SetDlDst | ActionType::Enqueue => Some(16),
            ActionType::Vendor | ActionType::Unknown(_) => None,
            _ => Some(8),
        }
    }
}

/// The one length of each standard action type (`OFPAT_OUTPUT` to `OFPAT_ENQUEUE`).
const STANDARD_LEN: [u16; 12] = [8, 8, 8, 8, 16, 16, 8, 8, 8, 8, 8, 16];

/// Size of the common action header (`ofp_action_header` without padding: type and length).
const ACTION_HEADER_LEN: usize = 4;
/// The largest length an action (or action list) can have in a 16-bit length field,
/// rounded down to a multiple of 8.
const MAX_ACTION_LEN: usize = 0xfff8;

// Per the pitfalls note: every action is a multiple of 8 bytes.
const _: () = {
    assert!(Action::OUTPUT_LEN == 8);
    assert!(Action::DL_ADDR_LEN == 16);
    assert!(Action::ENQUEUE_LEN == 16);
    assert!(Action::VENDOR_HEADER_LEN == 8);
};

impl Action {
    /// Size of `ofp_action_output` (and of the other 8-byte actions).
    pub const OUTPUT_LEN: usize = 8;
    /// Size of `ofp_action_dl_addr`.
    pub const DL_ADDR_LEN: usize = 16;
    /// Size of `ofp_action_enqueue`.
    pub const ENQUEUE_LEN: usize = 16;
    /// Size of `ofp_action_vendor_header`.
    pub const VENDOR_HEADER_LEN: usize = 8;

    /// This action's type.
    pub const fn action_type(&self) -> ActionType {
        match self {
            Action::Output { .. } => ActionType::Output,
            Action::SetVlanVid(_) => ActionType::SetVlanVid,
            Action::SetVlanPcp(_) => ActionType::SetVlanPcp,
            Action::StripVlan => ActionType::StripVlan,
            Action::SetDlSrc(_) => ActionType::SetDlSrc,
            Action::SetDlDst(_) => ActionType::SetDlDst,
            Action::SetNwSrc(_) => ActionType::SetNwSrc,
            Action::SetNwDst(_) => ActionType::SetNwDst,
            Action::SetNwTos(_) => ActionType::SetNwTos,
            Action::SetTpSrc(_) => ActionType::SetTpSrc,
            Action::SetTpDst(_) => ActionType::SetTpDst,
            Action::Enqueue { .. } => ActionType::Enqueue,
            Action::Vendor { .. } => ActionType::Vendor,
        }
    }

    /// The length this action occupies on the wire.
    #[inline]
    pub fn wire_len(&self) -> usize {
        match self {
            Action::Vendor { data, .. } => Self::VENDOR_HEADER_LEN.saturating_add(data.len()),
            Action::SetDlSrc(_) | Action::SetDlDst(_) => Self::DL_ADDR_LEN,
            Action::Enqueue { .. } => Self::ENQUEUE_LEN,
            _ => Self::OUTPUT_LEN,
        }
    }

    /// Check that the action can be encoded (a vendor action's length must be a multiple
    /// of 8 and fit in 16 bits).
    pub fn check_encodable(&self) -> Result<(), EncodeError> {
        let len = self.wire_len();
        if len > MAX_ACTION_LEN {
            return Err(EncodeError::TooLong {
                what: "vendor action",
                len,
                max: MAX_ACTION_LEN,
            });
        }
        if !len.is_multiple_of(8) {
            return Err(EncodeError::Misaligned {
                what: "vendor action",
                len,
            });
        }
        Ok(())
    }

    /// Write the action's wire form.
    pub fn encode(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        self.check_encodable()?;
        self.put(dst);
        Ok(())
    }

    /// Write the action's wire form, [`Action::check_encodable`] having passed.
    #[inline]
    fn put(&self, dst: &mut impl BufMut) {
        // A standard action is built on the stack and written in one piece of its constant
        // size (8 or 16 bytes).
        let ty = self.action_type().to_u16();
        let mut a = Fixed::<8>::zeroed();
        a.set_u16::<0>(ty);
        a.set_u16::<2>(Self::OUTPUT_LEN as u16);
        match self {
            Action::Output { port, max_len } => {
                a.set_u16::<4>(port.0);
                a.set_u16::<6>(*max_len);
            }
            Action::SetVlanVid(v) => a.set_u16::<4>(*v),
            Action::SetVlanPcp(v) | Action::SetNwTos(v) => a.set_u8::<4>(*v),
            Action::StripVlan => {}
            Action::SetNwSrc(ip) | Action::SetNwDst(ip) => a.set_u32::<4>(u32::from(*ip)),
            Action::SetTpSrc(p) | Action::SetTpDst(p) => a.set_u16::<4>(*p),
            Action::SetDlSrc(mac) | Action::SetDlDst(mac) => {
                let mut b = Fixed::<16>::zeroed();
                b.set_u16::<0>(ty);
                b.set_u16::<2>(Self::DL_ADDR_LEN as u16);
                b.set_bytes::<4, 6>(mac.0);
                dst.put_slice(&b.0);
                return;
            }
            Action::Enqueue { port, queue_id } => {
                let mut b = Fixed::<16>::zeroed();
                b.set_u16::<0>(ty);
                b.set_u16::<2>(Self::ENQUEUE_LEN as u16);
                b.set_u16::<4>(port.0);
                b.set_u32::<12>(*queue_id);
                dst.put_slice(&b.0);
                return;
            }
            Action::Vendor { vendor, data } => {
                // `check_encodable` passed: the length fits in 16 bits.
                a.set_u16::<2>(self.wire_len() as u16);
                a.set_u32::<4>(*vendor);
                dst.put_slice(&a.0);
                dst.put_slice(data);
                return;
            }
        }
        dst.put_slice(&a.0);
    }

    /// Write an action list in one pass, checking each action as it goes: for a caller
    /// that has already bounded the list's total length (by the message's) and discards
    /// what was written on error.
    #[inline]
    pub(crate) fn put_list(actions: &[Action], dst: &mut impl BufMut) -> Result<(), EncodeError> {
        for a in actions {
            // Only a vendor action can be unencodable.
            if let Action::Vendor { .. } = a {
                a.check_encodable()?;
            }
            a.put(dst);
        }
        Ok(())
    }

    /// The wire length of an action list.
    pub fn list_len(actions: &[Action]) -> usize {
        actions
            .iter()
            .fold(0usize, |acc, a| acc.saturating_add(a.wire_len()))
    }

    /// Write an action list, returning its length. Nothing is written if an action cannot
    /// be encoded or the list exceeds what a 16-bit length can carry.
    pub fn encode_list(actions: &[Action], dst: &mut impl BufMut) -> Result<usize, EncodeError> {
        for a in actions {
            a.check_encodable()?;
        }
        let len = Self::list_len(actions);
        if len > MAX_ACTION_LEN {
            return Err(EncodeError::TooLong {
                what: "action list",
                len,
                max: MAX_ACTION_LEN,
            });
        }
        for a in actions {
            a.put(dst);
        }
        Ok(len)
    }

    /// Decode a whole action list (as found in a flow_mod, packet_out or flow stats entry).
    ///
    /// Rejects an action with length 0, a length that is not a multiple of 8, a length
    /// past the end of the list, a length wrong for the action's type, and unknown types.
    pub fn decode_list(buf: &[u8]) -> Result<Vec<Action>, DecodeError> {
        let mut r = Reader::from_slice(buf, MessageType::FlowMod);
        Self::read_list(&mut r, "actions")
    }

    /// Decode exactly one action occupying all of `buf`.
    pub fn decode(buf: &[u8]) -> Result<Action, DecodeError> {
        let mut r = Reader::from_slice(buf, MessageType::FlowMod);
        let a = Self::read_one(&mut r, "action")?;
        r.finish("action")?;
        Ok(a)
    }

    /// Read actions until the reader is empty. Each iteration consumes at least 8 bytes
    /// or fails, so the loop always terminates.
    pub(crate) fn read_list(
        r: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Vec<Action>, DecodeError> {
        let mut out = Vec::with_capacity((r.remaining() / 8).min(64));
        loop {
            // The standard actions of their exact length, in a tight loop over the bytes.
            let rest = r.rest_slice();
            let mut s = rest;
            while let Some((action, len)) = Self::standard(s) {
                out.push(action);
                s = s.get(len..).unwrap_or_default();
            }
            r.consume(rest.len() - s.len());
            if r.is_empty() {
                return Ok(out);
            }
            // Anything else: a vendor action, or an error.
            out.push(Self::read_one_general(r, field)?);
        }
    }

    /// True if `s` is a list of standard actions each of its one valid length: the list
    /// [`Action::check_list`] accepts without going through the general decoder (which
    /// vendor actions, and every error, need).
    #[inline(always)]
    pub(crate) fn all_standard(s: &[u8]) -> bool {
        let mut s = s;
        while let Some(len) = Self::standard_len(s) {
            s = s.get(len..).unwrap_or_default();
        }
        s.is_empty()
    }

    /// Check the actions until the reader is empty, with exactly the checks and errors of
    /// [`Action::read_list`], without building them ([`crate::Actions`] keeps the bytes).
    #[inline(never)]
    pub(crate) fn check_list(r: &mut Reader<'_>, field: &'static str) -> Result<(), DecodeError> {
        loop {
            // The standard actions of their exact length, in a tight loop over the headers.
            let rest = r.rest_slice();
            let mut s = rest;
            while let Some(len) = Self::standard_len(s) {
                s = s.get(len..).unwrap_or_default();
            }
            r.consume(rest.len() - s.len());
            if r.is_empty() {
                return Ok(());
            }
            // Anything else: a vendor action, or an error.
            Self::read_one_general(r, field)?;
        }
    }

    /// The length of the standard action at the start of `s` if [`Action::standard`]
    /// would decode one there: a standard type with the one length it may have, all of it
    /// present.
    #[inline(always)]
    fn standard_len(s: &[u8]) -> Option<usize> {
        let [t0, t1, l0, l1] = *s.first_chunk::<4>()?;
        let want = *STANDARD_LEN.get(usize::from(u16::from_be_bytes([t0, t1])))?;
        let len = u16::from_be_bytes([l0, l1]);
        let len_usize = usize::from(len);
        (len == want && s.len() >= len_usize).then_some(len_usize)
    }

    /// Read one action: the standard types of their exact length in one step, anything
    /// else (vendor actions, and every error) through [`Action::read_one_general`].
    #[inline]
    pub(crate) fn read_one(r: &mut Reader<'_>, field: &'static str) -> Result<Action, DecodeError> {
        if let Some((action, len)) = Self::standard(r.rest_slice()) {
            r.consume(len);
            return Ok(action);
        }
        Self::read_one_general(r, field)
    }

    /// The standard action at the start of `s`, and its length, if it has a standard type
    /// and the one length that type may have (and all of it is present).
    #[inline(always)]
    pub(crate) fn standard(s: &[u8]) -> Option<(Action, usize)> {
        let a = Fixed(*s.first_chunk::<8>()?);
        // Type and length together: a standard type with the one length it may have.
        let action = match (a.u16::<0>(), a.u16::<2>()) {
            (0, 8) => Action::Output {
                port: PortNo(a.u16::<4>()),
                max_len: a.u16::<6>(),
            },
            (1, 8) => Action::SetVlanVid(a.u16::<4>()),
            (2, 8) => Action::SetVlanPcp(a.u8::<4>()),
            (3, 8) => Action::StripVlan,
            (6, 8) => Action::SetNwSrc(Ipv4Addr::from(a.u32::<4>())),
            (7, 8) => Action::SetNwDst(Ipv4Addr::from(a.u32::<4>())),
            (8, 8) => Action::SetNwTos(a.u8::<4>()),
            (9, 8) => Action::SetTpSrc(a.u16::<4>()),
            (10, 8) => Action::SetTpDst(a.u16::<4>()),
            (4 | 5 | 11, 16) => {
                let b = Fixed(*s.first_chunk::<16>()?);
                let action = match b.u8::<1>() {
                    4 => Action::SetDlSrc(MacAddr(b.mac::<4>())),
                    5 => Action::SetDlDst(MacAddr(b.mac::<4>())),
                    _ => Action::Enqueue {
                        port: PortNo(b.u16::<4>()),
                        queue_id: b.u32::<12>(),
                    },
                };
                return Some((action, 16));
            }
            _ => return None,
        };
        Some((action, 8))
    }

    /// Read one action of any type, with every check and error of the specification.
    #[inline(never)]
    pub(crate) fn read_one_general(
        r: &mut Reader<'_>,
        field: &'static str,
    ) -> Result<Action, DecodeError> {
        let start = r.offset();
        let remaining = r.remaining();
        if remaining < ACTION_HEADER_LEN {
            return Err(r.error(
                field,
                DecodeErrorKind::BadActionLength {
                    action_type: if remaining >= 2 {
                        r.peek_u16(0, field)?
                    } else {
                        0
                    },
                    expected: Expected::AtLeast(8),
                    found: remaining,
                },
            ));
        }
        let Some([t0, t1, l0, l1]) = r.peek_array::<ACTION_HEADER_LEN>() else {
            return Err(r.error(
                field,
                DecodeErrorKind::Truncated {
                    needed: ACTION_HEADER_LEN,
                    available: remaining,
                },
            ));
        };
        let raw_type = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let bad_len = |expected| {
            DecodeError::new(
                r.msg(),
                field,
                start,
                DecodeErrorKind::BadActionLength {
                    action_type: raw_type,
                    expected,
                    found: len,
                },
            )
        };
        if len == 0 || len % 8 != 0 {
            return Err(bad_len(Expected::MultipleOf(8)));
        }
        if len > remaining {
            return Err(bad_len(Expected::AtMost(remaining)));
        }
        let ty = ActionType::from_u16(raw_type);
        match ty {
            ActionType::Unknown(found) => {
                return Err(r.error(field, DecodeErrorKind::UnknownActionType { found }))
            }
            ActionType::Vendor => {
                if len < Self::VENDOR_HEADER_LEN {
                    return Err(bad_len(Expected::AtLeast(Self::VENDOR_HEADER_LEN)));
                }
            }
            _ => {
                let want = ty.fixed_len().unwrap_or(8);
                if len != want {
                    return Err(bad_len(Expected::Exactly(want)));
                }
            }
        }
        if ty == ActionType::Vendor {
            // `len` bytes are present: the vendor data is a slice of exactly that size.
            let mut a = r.sub(len, field)?;
            a.skip(ACTION_HEADER_LEN, field)?;
            let vendor = a.u32("action.vendor")?;
            return Ok(Action::Vendor {
                vendor,
                data: a.rest("action.vendor.data")?,
            });
        }
        // A standard action, 8 or 16 bytes as checked above: its fields at fixed offsets.
        let a = if len == 16 {
            Fixed(r.array::<16>(field)?)
        } else {
            let mut a = Fixed::<16>::zeroed();
            a.set_bytes::<0, 8>(r.array::<8>(field)?);
            a
        };
        let action = match ty {
            ActionType::Output => Action::Output {
                port: PortNo(a.u16::<4>()),
                max_len: a.u16::<6>(),
            },
            ActionType::SetVlanVid => Action::SetVlanVid(a.u16::<4>()),
            ActionType::SetVlanPcp => Action::SetVlanPcp(a.u8::<4>()),
            ActionType::StripVlan => Action::StripVlan,
            ActionType::SetDlSrc => Action::SetDlSrc(MacAddr(a.mac::<4>())),
            ActionType::SetDlDst => Action::SetDlDst(MacAddr(a.mac::<4>())),
            ActionType::SetNwSrc => Action::SetNwSrc(Ipv4Addr::from(a.u32::<4>())),
            ActionType::SetNwDst => Action::SetNwDst(Ipv4Addr::from(a.u32::<4>())),
            ActionType::SetNwTos => Action::SetNwTos(a.u8::<4>()),
            ActionType::SetTpSrc => Action::SetTpSrc(a.u16::<4>()),
            ActionType::SetTpDst => Action::SetTpDst(a.u16::<4>()),
            ActionType::Enqueue => Action::Enqueue {
                port: PortNo(a.u16::<4>()),
                queue_id: a.u32::<12>(),
            },
            ActionType::Vendor | ActionType::Unknown(_) => {
                return Err(r.error(
                    field,
                    DecodeErrorKind::UnknownActionType { found: ty.to_u16() },
                ))
            }
        };
        Ok(action)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One action of every kind (for this module's tests and [`crate::actions`]').
    pub(crate) fn all_actions() -> Vec<Action> {
        vec![
            Action::output(PortNo(1)),
            Action::to_controller(128),
            Action::SetVlanVid(20),
            Action::SetVlanPcp(5),
            Action::StripVlan,
            Action::SetDlSrc(MacAddr([1, 2, 3, 4, 5, 6])),
            Action::SetDlDst(MacAddr([6, 5, 4, 3, 2, 1])),
            Action::SetNwSrc(Ipv4Addr::new(10, 0, 0, 1)),
            Action::SetNwDst(Ipv4Addr::new(203, 0, 113, 10)),
            Action::SetNwTos(0x20),
            Action::SetTpSrc(1024),
            Action::SetTpDst(53),
            Action::Enqueue {
                port: PortNo(1),
                queue_id: 7,
            },
            Action::Vendor {
                vendor: 0x2320,
                data: Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0]),
            },
        ]
    }

    #[test]
    fn round_trip_every_type() {
        let acts = all_actions();
        let mut buf = Vec::new();
        let len = Action::encode_list(&acts, &mut buf).unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(len, Action::list_len(&acts));
        assert_eq!(Action::decode_list(&buf).unwrap(), acts);
        for a in &acts {
            let mut one = Vec::new();
            a.encode(&mut one).unwrap();
            assert_eq!(one.len(), a.wire_len());
            assert_eq!(one.len() % 8, 0);
            assert_eq!(Action::decode(&one).unwrap(), *a);
        }
    }

    #[test]
    fn one_step_path_agrees_with_the_general_decoder() {
        // Every type, with lengths right and wrong, whole and truncated, and with non-zero
        // pads: the one-step path decodes exactly what the general decoder does, consumes
        // the same bytes, and leaves everything else (errors included) to it.
        let types = (0u16..=12).chain([0xffff, 0x0100, 0x0400, 0x0b00]);
        for ty in types {
            for len in [0u16, 4, 8, 12, 16, 24, 0x0800, 0x1000] {
                for avail in [1usize, 2, 3, 4, 8, 12, 16, 24, 32] {
                    let mut b: Vec<u8> = (0..avail).map(|i| 0xa0 ^ i as u8).collect();
                    let head = [ty.to_be_bytes(), len.to_be_bytes()].concat();
                    let n = avail.min(4);
                    b[..n].copy_from_slice(&head[..n]);
                    let mut fast = Reader::from_slice(&b, MessageType::FlowMod);
                    let mut general = fast.clone();
                    let got = Action::read_one(&mut fast, "a");
                    let want = Action::read_one_general(&mut general, "a");
                    assert_eq!(got, want, "type {ty} len {len} avail {avail}");
                    assert_eq!(fast.offset(), general.offset(), "type {ty} len {len}");
                    // And as a list: the same actions or the same error.
                    let mut general = Reader::from_slice(&b, MessageType::FlowMod);
                    let mut want = Vec::new();
                    let want = loop {
                        if general.is_empty() {
                            break Ok(want);
                        }
                        match Action::read_one_general(&mut general, "actions") {
                            Ok(a) => want.push(a),
                            Err(e) => break Err(e),
                        }
                    };
                    assert_eq!(Action::decode_list(&b), want, "list {ty} {len} {avail}");
                    // Checking without building: the same verdict and the same error.
                    let mut checked = Reader::from_slice(&b, MessageType::FlowMod);
                    assert_eq!(
                        Action::check_list(&mut checked, "actions").err(),
                        want.err(),
                        "check {ty} {len} {avail}"
                    );
                }
            }
        }
    }

    #[test]
    fn known_bytes() {
        // output:CONTROLLER max_len 128, from the fixture's flow_mod.
        let b = [0, 0, 0, 8, 0xff, 0xfd, 0, 0x80];
        assert_eq!(Action::decode(&b).unwrap(), Action::to_controller(128));
        // enqueue:1:0
        let b = [0, 11, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Action::decode(&b).unwrap(),
            Action::Enqueue {
                port: PortNo(1),
                queue_id: 0
            }
        );
    }

    #[test]
    fn zero_length_is_rejected_not_looped() {
        let b = [0, 0, 0, 0, 0, 1, 0, 0];
        let e = Action::decode_list(&b).unwrap_err();
        assert!(matches!(
            e.kind,
            DecodeErrorKind::BadActionLength { found: 0, .. }
        ));
        assert_eq!(
            e.ofp_error(),
            crate::error_msg::ErrorType::BadAction(crate::error_msg::BadActionCode::BadLen)
        );
    }

    #[test]
    fn bad_lengths() {
        // Not a multiple of 8.
        let b = [0, 0, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            Action::decode_list(&b).unwrap_err().kind,
            DecodeErrorKind::BadActionLength {
                expected: Expected::MultipleOf(8),
                ..
            }
        ));
        // Past the end.
        let b = [0, 0, 0, 16, 0, 1, 0, 0];
        assert!(matches!(
            Action::decode_list(&b).unwrap_err().kind,
            DecodeErrorKind::BadActionLength {
                expected: Expected::AtMost(8),
                ..
            }
        ));
        // Wrong for the type: output with 16.
        let b = [0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            Action::decode_list(&b).unwrap_err().kind,
            DecodeErrorKind::BadActionLength {
                expected: Expected::Exactly(8),
                found: 16,
                ..
            }
        ));
        // set_dl_src with 8.
        let b = [0, 4, 0, 8, 0, 1, 0, 0];
        assert!(Action::decode_list(&b).is_err());
        // A truncated header.
        assert!(Action::decode_list(&[0, 0]).is_err());
        assert!(Action::decode_list(&[0]).is_err());
        // Empty list is fine.
        assert_eq!(Action::decode_list(&[]).unwrap(), vec![]);
        // A second action truncated after a good one: error offset points at it.
        let b = [0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0, 8, 0];
        let e = Action::decode_list(&b).unwrap_err();
        assert_eq!(e.offset, 8);
    }

    #[test]
    fn unknown_type() {
        let b = [0, 99, 0, 8, 0, 0, 0, 0];
        let e = Action::decode_list(&b).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownActionType { found: 99 });
        assert_eq!(
            e.ofp_error(),
            crate::error_msg::ErrorType::BadAction(crate::error_msg::BadActionCode::BadType)
        );
    }

    #[test]
    fn decoder_is_faithful_to_out_of_range_values() {
        // vid 0x1000 and tos with ECN bits decode as is.
        let b = [0, 1, 0, 8, 0x10, 0, 0, 0, 0, 8, 0, 8, 0x23, 0, 0, 0];
        assert_eq!(
            Action::decode_list(&b).unwrap(),
            vec![Action::SetVlanVid(0x1000), Action::SetNwTos(0x23)]
        );
    }

    #[test]
    fn vendor_encode_errors() {
        let a = Action::Vendor {
            vendor: 1,
            data: Bytes::from_static(&[1, 2, 3]),
        };
        assert!(matches!(
            a.encode(&mut Vec::new()),
            Err(EncodeError::Misaligned { len: 11, .. })
        ));
        let a = Action::Vendor {
            vendor: 1,
            data: Bytes::from(vec![0u8; 70_000]),
        };
        let mut v = Vec::new();
        assert!(matches!(a.encode(&mut v), Err(EncodeError::TooLong { .. })));
        assert!(v.is_empty());
        let many = vec![Action::StripVlan; 9000];
        let mut v = Vec::new();
        assert!(matches!(
            Action::encode_list(&many, &mut v),
            Err(EncodeError::TooLong { .. })
        ));
        assert!(v.is_empty());
    }

    #[test]
    fn type_codes() {
        for v in 0..=12u16 {
            assert_eq!(ActionType::from_u16(v).to_u16(), v);
        }
        assert_eq!(ActionType::from_u16(0xffff), ActionType::Vendor);
        assert_eq!(ActionType::Enqueue.bitmap_bit(), Some(1 << 11));
        assert_eq!(ActionType::Vendor.bitmap_bit(), None);
    }
}
