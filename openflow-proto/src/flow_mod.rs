//! `OFPT_FLOW_MOD`: add, modify or delete flows.

use crate::actions::Actions;
use crate::codec::{Fixed, Reader};
use crate::error::{DecodeError, EncodeError};
use crate::flow_match::Match;
use crate::header::{Header, MessageType};
use crate::port::PortNo;
use crate::stats::MAX_MESSAGE_LEN;
use crate::OFP_VERSION;
use bytes::{BufMut, Bytes, BytesMut};

/// The buffer id meaning "no buffered packet" (`0xffffffff`).
pub const NO_BUFFER: u32 = 0xffff_ffff;

/// A flow_mod command (`ofp_flow_mod_command`), with unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum FlowModCommand {
    /// `OFPFC_ADD`: add a flow (replacing an identical one).
    Add,
    /// `OFPFC_MODIFY`: modify the actions of all matching flows.
    Modify,
    /// `OFPFC_MODIFY_STRICT`: modify the flow with exactly this match and priority.
    ModifyStrict,
    /// `OFPFC_DELETE`: delete all matching flows.
    Delete,
    /// `OFPFC_DELETE_STRICT`: delete the flow with exactly this match and priority.
    DeleteStrict,
    /// A command outside the specification, kept as decoded.
    Unknown(u16),
}

impl FlowModCommand {
    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            FlowModCommand::Add => 0,
            FlowModCommand::Modify => 1,
            FlowModCommand::ModifyStrict => 2,
            FlowModCommand::Delete => 3,
            FlowModCommand::DeleteStrict => 4,
            FlowModCommand::Unknown(v) => v,
        }
    }

    /// From the wire value.
    pub const fn from_u16(v: u16) -> Self {
        match v {
            0 => FlowModCommand::Add,
            1 => FlowModCommand::Modify,
            2 => FlowModCommand::ModifyStrict,
            3 => FlowModCommand::Delete,
            4 => FlowModCommand::DeleteStrict,
            v => FlowModCommand::Unknown(v),
        }
    }
}

bitflags::bitflags! {
    /// Flow_mod flags (`ofp_flow_mod_flags`). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
    pub struct FlowModFlags: u16 {
        /// `OFPFF_SEND_FLOW_REM`: send a flow_removed when the flow expires or is deleted.
        const SEND_FLOW_REM = 1 << 0;
        /// `OFPFF_CHECK_OVERLAP`: refuse an add that overlaps a flow of equal priority.
        const CHECK_OVERLAP = 1 << 1;
        /// `OFPFF_EMERG`: the flow goes to the emergency table.
        const EMERG = 1 << 2;
        // Keep bits outside the specification.
        const _ = !0;
    }
}

/// An `OFPT_FLOW_MOD` message body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FlowMod {
    /// The flow's match.
    pub r#match: Match,
    /// Opaque controller-issued identifier.
    pub cookie: u64,
    /// What to do.
    pub command: FlowModCommand,
    /// Idle time before the flow is removed, in seconds (0: never).
    pub idle_timeout: u16,
    /// Maximum time before the flow is removed, in seconds (0: never).
    pub hard_timeout: u16,
    /// Priority (higher wins among wildcarded flows).
    pub priority: u16,
    /// Buffered packet to apply the actions to, or [`NO_BUFFER`].
    pub buffer_id: u32,
    /// For delete commands, require an output action to this port ([`PortNo::NONE`]: no filter).
    pub out_port: PortNo,
    /// Flags.
    pub flags: FlowModFlags,
    /// The actions (empty: drop). Decoded, they are the bytes of the message (checked),
    /// which encode again exactly as they came ([`Actions`]).
    pub actions: Actions,
}

impl FlowMod {
    /// An `OFPFC_ADD` of a flow with this match, priority and actions; no timeouts,
    /// cookie 0, no buffer, no flags. The actions can be a `Vec<Action>`, an array of them
    /// or an [`Actions`].
    pub fn add(r#match: Match, priority: u16, actions: impl Into<Actions>) -> Self {
        FlowMod {
            r#match,
            cookie: 0,
            command: FlowModCommand::Add,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: NO_BUFFER,
            out_port: PortNo::NONE,
            flags: FlowModFlags::empty(),
            actions: actions.into(),
        }
    }

    /// An `OFPFC_DELETE_STRICT` of the flow with exactly this match and priority.
    pub fn delete_strict(r#match: Match, priority: u16) -> Self {
        FlowMod {
            command: FlowModCommand::DeleteStrict,
            ..FlowMod::add(r#match, priority, Actions::new())
        }
    }
}

const _: () = assert!(FlowMod::FIXED_LEN == 72);

impl FlowMod {
    /// Size of `ofp_flow_mod` before the actions, header included.
    pub const FIXED_LEN: usize = 72;

    /// Read a whole `OFPT_FLOW_MOD` body that must fill the reader, and wrap it: every
    /// fallible step comes first, so that the message is built in place in the result.
    #[inline(never)]
    pub(crate) fn read_message(
        r: &mut Reader<'_>,
        header: crate::Header,
    ) -> Result<(crate::Header, crate::Message), DecodeError> {
        let f = r.fixed::<{ FlowMod::FIXED_LEN - Header::LEN }>("match.wildcards")?;
        let actions = Actions::read(r, "flow_mod.actions")?;
        r.finish("body")?;
        Ok((
            header,
            crate::Message::FlowMod(FlowMod::from_wire(&f.0, actions)),
        ))
    }

    /// [`crate::Message::decode`] of a frame starting with version 1 and type
    /// `OFPT_FLOW_MOD`, the message a switch (or a proxy) receives most. A frame whose
    /// length matches its header and covers the fixed part is decoded here, exactly as
    /// [`FlowMod::read_message`] would; anything else takes the general path.
    ///
    /// The common case (a short list of standard actions, kept in place) is one straight
    /// path that writes the result once: the caller moves the result right away, and its
    /// loads wait for every store still pending here.
    #[inline(never)]
    pub(crate) fn decode_frame(
        frame: &Bytes,
    ) -> Result<(crate::Header, crate::Message), DecodeError> {
        let Some(fixed) = frame
            .first_chunk::<{ FlowMod::FIXED_LEN }>()
            .filter(|f| usize::from(u16::from_be_bytes([f[2], f[3]])) == frame.len())
        else {
            return crate::Message::decode_general(frame);
        };
        // The actions first; then the fixed part, read straight into the result (the other
        // path reads it again itself: nothing is kept on the stack for it).
        let Some(actions) = Actions::inline_frame_tail(frame, FlowMod::FIXED_LEN) else {
            return Self::decode_frame_general(frame, fixed);
        };
        let (header, body) = Self::split_fixed(fixed);
        Ok((
            header,
            crate::Message::FlowMod(FlowMod::from_wire(&body, actions)),
        ))
    }

    /// The header and the 64 bytes after it of a flow_mod whose version, type and length
    /// have been checked.
    #[inline(always)]
    fn split_fixed(
        fixed: &[u8; FlowMod::FIXED_LEN],
    ) -> (crate::Header, [u8; FlowMod::FIXED_LEN - Header::LEN]) {
        let fixed = Fixed(*fixed);
        let header = Header {
            version: OFP_VERSION,
            msg_type: MessageType::FlowMod,
            length: fixed.u16::<2>(),
            xid: fixed.u32::<4>(),
        };
        (
            header,
            fixed.bytes::<{ Header::LEN }, { FlowMod::FIXED_LEN - Header::LEN }>(),
        )
    }

    /// [`FlowMod::decode_frame`] of every other action list (empty, long, with a vendor
    /// action, or invalid).
    #[cold]
    #[inline(never)]
    fn decode_frame_general(
        frame: &Bytes,
        fixed: &[u8; FlowMod::FIXED_LEN],
    ) -> Result<(crate::Header, crate::Message), DecodeError> {
        let actions = Actions::read_frame_tail(
            frame,
            FlowMod::FIXED_LEN,
            MessageType::FlowMod,
            "flow_mod.actions",
        )?;
        let (header, body) = Self::split_fixed(fixed);
        Ok((
            header,
            crate::Message::FlowMod(FlowMod::from_wire(&body, actions)),
        ))
    }

    /// The flow_mod of the 64 bytes after the header (match, then cookie to flags) and
    /// its decoded actions.
    #[inline(always)]
    fn from_wire(f: &[u8; FlowMod::FIXED_LEN - Header::LEN], actions: Actions) -> FlowMod {
        let f = Fixed(*f);
        FlowMod {
            r#match: Match::from_wire(&f.bytes::<0, { Match::WIRE_LEN }>()),
            cookie: f.u64::<40>(),
            command: FlowModCommand::from_u16(f.u16::<48>()),
            idle_timeout: f.u16::<50>(),
            hard_timeout: f.u16::<52>(),
            priority: f.u16::<54>(),
            buffer_id: f.u32::<56>(),
            out_port: PortNo(f.u16::<60>()),
            flags: FlowModFlags::from_bits_retain(f.u16::<62>()),
            actions,
        }
    }

    /// The length of the whole message, header included (saturating).
    #[inline]
    pub(crate) fn message_len(&self) -> usize {
        FlowMod::FIXED_LEN.saturating_add(self.actions.wire_len())
    }

    /// [`crate::Message::encode`] of this flow_mod: header, match and fixed fields built on
    /// the stack and written in one piece, then the actions. On error nothing is appended.
    #[inline]
    pub(crate) fn encode_message(&self, xid: u32, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.encode_message_sized(xid, dst, self.message_len())
    }

    /// [`FlowMod::encode_message`], with `len` = [`FlowMod::message_len`] already computed.
    #[inline]
    pub(crate) fn encode_message_sized(
        &self,
        xid: u32,
        dst: &mut BytesMut,
        len: usize,
    ) -> Result<(), EncodeError> {
        let len16 = Self::len16(len)?;
        let start = dst.len();
        dst.reserve(len);
        if let Err(e) = self.put_message(xid, len16, dst) {
            dst.truncate(start);
            return Err(e);
        }
        Ok(())
    }

    /// [`crate::Message::to_bytes`] of this flow_mod: into a `Vec` of exactly the message's
    /// length, which becomes the `Bytes` without a copy.
    #[inline]
    pub(crate) fn to_bytes(&self, xid: u32) -> Result<Bytes, EncodeError> {
        let len = self.message_len();
        let len16 = Self::len16(len)?;
        let mut v = Vec::with_capacity(len);
        self.put_message(xid, len16, &mut v)?;
        Ok(Bytes::from(v))
    }

    /// [`FlowMod::to_bytes`] as a boxed slice of exactly the message's length, or `None`
    /// where [`FlowMod::to_bytes`] fails.
    #[inline(never)]
    pub(crate) fn to_boxed(&self, xid: u32) -> Option<Box<[u8]>> {
        let len = self.message_len();
        let len16 = Self::len16(len).ok()?;
        let mut v = Vec::with_capacity(len);
        self.put_message(xid, len16, &mut v).ok()?;
        Some(v.into_boxed_slice())
    }

    /// The message length as the header's 16-bit field, or the error of a message too long.
    #[inline]
    fn len16(len: usize) -> Result<u16, EncodeError> {
        u16::try_from(len).map_err(|_| EncodeError::TooLong {
            what: MessageType::FlowMod.name(),
            len,
            max: MAX_MESSAGE_LEN,
        })
    }

    /// Write the whole message, header included: header, match and fixed fields built on
    /// the stack and written in one piece, then the actions. On error, part of it may have
    /// been written: the caller discards it.
    #[inline(always)]
    fn put_message(&self, xid: u32, len16: u16, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        let mut f = Fixed::<{ FlowMod::FIXED_LEN }>::zeroed();
        f.set_bytes::<0, 8>([OFP_VERSION, MessageType::FlowMod.to_u8(), 0, 0, 0, 0, 0, 0]);
        f.set_u16::<2>(len16);
        f.set_u32::<4>(xid);
        f.set_bytes::<8, { FlowMod::FIXED_LEN - Header::LEN }>(self.fixed_wire());
        dst.put_slice(&f.0);
        self.actions.put(dst)
    }

    /// The 64 bytes after the header: the match, then cookie to flags.
    #[inline(always)]
    fn fixed_wire(&self) -> [u8; FlowMod::FIXED_LEN - Header::LEN] {
        let mut f = Fixed::<{ FlowMod::FIXED_LEN - Header::LEN }>::zeroed();
        f.set_bytes::<0, { Match::WIRE_LEN }>(self.r#match.to_wire());
        f.set_u64::<40>(self.cookie);
        f.set_u16::<48>(self.command.to_u16());
        f.set_u16::<50>(self.idle_timeout);
        f.set_u16::<52>(self.hard_timeout);
        f.set_u16::<54>(self.priority);
        f.set_u32::<56>(self.buffer_id);
        f.set_u16::<60>(self.out_port.0);
        f.set_u16::<62>(self.flags.bits());
        f.0
    }

    /// Write the body (everything after the header).
    /// On error, part of the body may have been written: [`crate::Message::encode`] (the
    /// one caller) truncates `dst` back.
    pub(crate) fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        // Match and fixed fields built on the stack and written in one piece.
        dst.put_slice(&self.fixed_wire());
        // The caller has checked the whole message's length (so the list's), and truncates
        // `dst` on error: one pass that checks each action as it writes it.
        self.actions.put(dst)
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;
    use crate::flow_match::{Ipv4Match, VlanMatch, ETH_TYPE_IPV4};
    use crate::Action;
    use crate::MacAddr;
    use bytes::Bytes;
    use core::net::Ipv4Addr;

    #[test]
    fn flow_mod_json_round_trip() {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.dl_src = Some(MacAddr([2, 0, 0, 0, 0, 1]));
        m.dl_vlan = VlanMatch::Vid(10);
        m.nw_src = Ipv4Match::from_raw(Ipv4Addr::new(10, 1, 2, 3), 40);
        let mut f = FlowMod::add(
            m,
            100,
            vec![
                Action::SetDlDst(MacAddr([2, 0, 0, 0, 0, 2])),
                Action::output(PortNo(2)),
                Action::Vendor {
                    vendor: 0x2320,
                    data: Bytes::from_static(&[0; 8]),
                },
            ],
        );
        f.flags = FlowModFlags::SEND_FLOW_REM | FlowModFlags::from_bits_retain(0x100);
        f.command = FlowModCommand::Unknown(9);
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"02:00:00:00:00:01\""), "{json}");
        let back: FlowMod = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
        // A raw count above 63 is masked as the wire would.
        let m: Ipv4Match =
            serde_json::from_str(r#"{"addr":"10.0.0.0","wildcard_bits":72}"#).unwrap();
        assert_eq!(m.raw_wildcard_bits(), 8);
        assert!(serde_json::from_str::<MacAddr>("\"nope\"").is_err());
    }
}
