//! The bodies of the fixed-layout messages: features, switch configuration, packet_in,
//! flow_removed, packet_out, vendor, port_status and port_mod.

use crate::actions::Actions;
use crate::codec::{Fixed, Reader};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Expected};
use crate::error_msg::ErrorMsg;
use crate::flow_match::Match;
use crate::port::{PhyPort, PortConfig, PortFeatures, PortMod, PortNo, PortReason, PortStatus};
use crate::stats::MAX_MESSAGE_LEN;
use crate::MacAddr;
use bytes::{BufMut, Bytes, BytesMut};

bitflags::bitflags! {
    /// Datapath capabilities (`ofp_capabilities`) of a features_reply. Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Capabilities: u32 {
        /// `OFPC_FLOW_STATS`.
        const FLOW_STATS = 1 << 0;
        /// `OFPC_TABLE_STATS`.
        const TABLE_STATS = 1 << 1;
        /// `OFPC_PORT_STATS`.
        const PORT_STATS = 1 << 2;
        /// `OFPC_STP`: 802.1D spanning tree.
        const STP = 1 << 3;
        /// `OFPC_RESERVED`: must not be set.
        const RESERVED = 1 << 4;
        /// `OFPC_IP_REASM`: can reassemble IP fragments.
        const IP_REASM = 1 << 5;
        /// `OFPC_QUEUE_STATS`.
        const QUEUE_STATS = 1 << 6;
        /// `OFPC_ARP_MATCH_IP`: matches IP addresses inside ARP packets.
        const ARP_MATCH_IP = 1 << 7;
        // Keep bits outside the specification.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// The supported-actions bitmap of a features_reply: bit `n` is action type `n`
    /// (bits 0-11 only). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct ActionBitmap: u32 {
        /// `OFPAT_OUTPUT`.
        const OUTPUT = 1 << 0;
        /// `OFPAT_SET_VLAN_VID`.
        const SET_VLAN_VID = 1 << 1;
        /// `OFPAT_SET_VLAN_PCP`.
        const SET_VLAN_PCP = 1 << 2;
        /// `OFPAT_STRIP_VLAN`.
        const STRIP_VLAN = 1 << 3;
        /// `OFPAT_SET_DL_SRC`.
        const SET_DL_SRC = 1 << 4;
        /// `OFPAT_SET_DL_DST`.
        const SET_DL_DST = 1 << 5;
        /// `OFPAT_SET_NW_SRC`.
        const SET_NW_SRC = 1 << 6;
        /// `OFPAT_SET_NW_DST`.
        const SET_NW_DST = 1 << 7;
        /// `OFPAT_SET_NW_TOS`.
        const SET_NW_TOS = 1 << 8;
        /// `OFPAT_SET_TP_SRC`.
        const SET_TP_SRC = 1 << 9;
        /// `OFPAT_SET_TP_DST`.
        const SET_TP_DST = 1 << 10;
        /// `OFPAT_ENQUEUE`.
        const ENQUEUE = 1 << 11;
        // Keep bits outside the specification.
        const _ = !0;
    }
}

/// An `OFPT_FEATURES_REPLY` body (`ofp_switch_features`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SwitchFeatures {
    /// Datapath id (low 48 bits usually a MAC address).
    pub datapath_id: u64,
    /// Packets the switch can buffer (0 for Open vSwitch since 2.7).
    pub n_buffers: u32,
    /// Number of flow tables.
    pub n_tables: u8,
    /// Capabilities.
    pub capabilities: Capabilities,
    /// Supported actions.
    pub actions: ActionBitmap,
    /// The physical ports.
    pub ports: Vec<PhyPort>,
}

const _: () = assert!(SwitchFeatures::FIXED_LEN == 32);

impl SwitchFeatures {
    /// Size of `ofp_switch_features` before the ports, header included.
    pub const FIXED_LEN: usize = 32;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let datapath_id = r.u64("features_reply.datapath_id")?;
        let n_buffers = r.u32("features_reply.n_buffers")?;
        let n_tables = r.u8("features_reply.n_tables")?;
        r.skip(3, "features_reply.pad")?;
        let capabilities = Capabilities::from_bits_retain(r.u32("features_reply.capabilities")?);
        let actions = ActionBitmap::from_bits_retain(r.u32("features_reply.actions")?);
        if !r.remaining().is_multiple_of(PhyPort::WIRE_LEN) {
            return Err(r.error(
                "features_reply.ports",
                DecodeErrorKind::BadLength {
                    expected: Expected::MultipleOf(PhyPort::WIRE_LEN),
                    found: r.remaining(),
                },
            ));
        }
        let mut ports = Vec::with_capacity(r.remaining() / PhyPort::WIRE_LEN);
        while !r.is_empty() {
            ports.push(PhyPort::read(r)?);
        }
        Ok(SwitchFeatures {
            datapath_id,
            n_buffers,
            n_tables,
            capabilities,
            actions,
            ports,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u64(self.datapath_id);
        dst.put_u32(self.n_buffers);
        dst.put_u8(self.n_tables);
        dst.put_bytes(0, 3);
        dst.put_u32(self.capabilities.bits());
        dst.put_u32(self.actions.bits());
        for p in &self.ports {
            p.encode(dst);
        }
    }
}

/// How the switch handles IP fragments (the 2-bit `OFPC_FRAG_*` field of the config flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FragHandling {
    /// `OFPC_FRAG_NORMAL` (0): no special handling.
    #[default]
    Normal,
    /// `OFPC_FRAG_DROP` (1): drop fragments.
    Drop,
    /// `OFPC_FRAG_REASM` (2): reassemble (only with `OFPC_IP_REASM`).
    Reasm,
    /// `OFPC_FRAG_NX_MATCH` (3, an Open vSwitch extension): make first fragments matchable.
    NxMatch,
}

/// The switch configuration flags: fragment handling and any other bits, kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ConfigFlags {
    /// Fragment handling (bits 0-1).
    pub frag: FragHandling,
    /// The other bits, as decoded (bit 2 is `OFPC_INVALID_TTL_TO_CONTROLLER` in later
    /// versions; bits 0-1 are never set here).
    pub other_bits: u16,
}

impl ConfigFlags {
    /// `OFPC_FRAG_MASK`.
    pub const FRAG_MASK: u16 = 3;

    /// From the wire value.
    pub const fn from_u16(v: u16) -> Self {
        ConfigFlags {
            frag: match v & Self::FRAG_MASK {
                0 => FragHandling::Normal,
                1 => FragHandling::Drop,
                2 => FragHandling::Reasm,
                _ => FragHandling::NxMatch,
            },
            other_bits: v & !Self::FRAG_MASK,
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        let frag = match self.frag {
            FragHandling::Normal => 0,
            FragHandling::Drop => 1,
            FragHandling::Reasm => 2,
            FragHandling::NxMatch => 3,
        };
        (self.other_bits & !Self::FRAG_MASK) | frag
    }
}

/// The body of `OFPT_GET_CONFIG_REPLY` and `OFPT_SET_CONFIG` (`ofp_switch_config`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SwitchConfig {
    /// Flags.
    pub flags: ConfigFlags,
    /// Bytes of a table-miss packet sent to the controller.
    pub miss_send_len: u16,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig {
            flags: ConfigFlags::default(),
            miss_send_len: Self::DEFAULT_MISS_SEND_LEN,
        }
    }
}

const _: () = assert!(SwitchConfig::WIRE_LEN == 12);

impl SwitchConfig {
    /// Size of `ofp_switch_config`, header included.
    pub const WIRE_LEN: usize = 12;
    /// `OFP_DEFAULT_MISS_SEND_LEN`.
    pub const DEFAULT_MISS_SEND_LEN: u16 = 128;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SwitchConfig {
            flags: ConfigFlags::from_u16(r.u16("switch_config.flags")?),
            miss_send_len: r.u16("switch_config.miss_send_len")?,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.flags.to_u16());
        dst.put_u16(self.miss_send_len);
    }
}

/// Why a packet was sent to the controller (`ofp_packet_in_reason`), unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketInReason {
    /// `OFPR_NO_MATCH`: no flow matched.
    NoMatch,
    /// `OFPR_ACTION`: an output action to the controller.
    Action,
    /// A value outside OpenFlow 1.0 (2 is `OFPR_INVALID_TTL` in later versions).
    Unknown(u8),
}

impl PacketInReason {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => PacketInReason::NoMatch,
            1 => PacketInReason::Action,
            v => PacketInReason::Unknown(v),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            PacketInReason::NoMatch => 0,
            PacketInReason::Action => 1,
            PacketInReason::Unknown(v) => v,
        }
    }
}

/// An `OFPT_PACKET_IN` body.
///
/// The fixed part is 18 bytes (header included): the C struct's `sizeof` is 20 because of
/// trailing padding, but the frame starts at byte 18.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketIn {
    /// The switch's buffer id, or [`crate::NO_BUFFER`].
    pub buffer_id: u32,
    /// Full length of the frame.
    pub total_len: u16,
    /// The port the frame came in on.
    pub in_port: PortNo,
    /// Why it was sent.
    pub reason: PacketInReason,
    /// The frame (or its first bytes): a zero-copy slice of the decoded message.
    pub data: Bytes,
}

const _: () = assert!(PacketIn::FIXED_LEN == 18);

impl PacketIn {
    /// Bytes before the data, header included (18, not the C struct's 20).
    pub const FIXED_LEN: usize = 18;

    #[inline]
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        // buffer_id, total_len, in_port, reason and a pad byte, behind one bounds check.
        let [b0, b1, b2, b3, t0, t1, p0, p1, reason, _pad] = r.array("packet_in.buffer_id")?;
        Ok(PacketIn {
            buffer_id: u32::from_be_bytes([b0, b1, b2, b3]),
            total_len: u16::from_be_bytes([t0, t1]),
            in_port: PortNo(u16::from_be_bytes([p0, p1])),
            reason: PacketInReason::from_u8(reason),
            data: r.rest("packet_in.data")?,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        let mut f = Fixed::<10>::zeroed();
        f.set_u32::<0>(self.buffer_id);
        f.set_u16::<4>(self.total_len);
        f.set_u16::<6>(self.in_port.0);
        f.set_u8::<8>(self.reason.to_u8());
        dst.put_slice(&f.0);
        dst.put_slice(&self.data);
    }
}

/// A `PACKET_IN` read where it lies: its fields, and its frame borrowed from the message.
///
/// [`Message::decode`](crate::Message::decode) gives a [`PacketIn`] whose frame is a
/// [`Bytes`] slice of the message, which shares (and counts references to) the buffer it was
/// read into. A controller answering a million packet_ins a second from one read buffer can
/// read each in place instead ([`PacketInRef::parse`] over
/// [`Framer::peek_frame`](crate::framing::Framer::peek_frame)), and copy only what it
/// sends on ([`PacketOut::encode_unbuffered`]).
///
/// ```
/// use openflow_proto::{Message, PacketIn, PacketInReason, PacketInRef, PortNo, NO_BUFFER};
/// let pi = PacketIn {
///     buffer_id: NO_BUFFER,
///     total_len: 3,
///     in_port: PortNo(2),
///     reason: PacketInReason::NoMatch,
///     data: bytes::Bytes::from_static(b"abc"),
/// };
/// let wire = Message::PacketIn(pi.clone()).to_bytes(9).unwrap();
/// let view = PacketInRef::parse(&wire).unwrap();
/// assert_eq!((view.xid, view.in_port, view.data), (9, PortNo(2), &b"abc"[..]));
/// assert_eq!(view.to_packet_in(), pi);
/// // Anything else is not a packet_in view (and is left to `Message::decode`).
/// let echo = Message::EchoRequest(bytes::Bytes::new()).to_bytes(1).unwrap();
/// assert_eq!(PacketInRef::parse(&echo), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PacketInRef<'a> {
    /// The message's transaction id.
    pub xid: u32,
    /// The switch's buffer id, or [`crate::NO_BUFFER`].
    pub buffer_id: u32,
    /// Full length of the frame.
    pub total_len: u16,
    /// The port the frame came in on.
    pub in_port: PortNo,
    /// Why it was sent.
    pub reason: PacketInReason,
    /// The frame (or its first bytes).
    pub data: &'a [u8],
}

impl<'a> PacketInRef<'a> {
    /// Read `frame`, one whole message, if it is an OpenFlow 1.0 `PACKET_IN` (its header's
    /// length equal to the frame's, at least [`PacketIn::FIXED_LEN`] bytes); `None` for
    /// anything else, which [`Message::decode`](crate::Message::decode) then reads or
    /// refuses with the precise error. Where both read a frame they agree.
    #[inline]
    pub fn parse(frame: &'a [u8]) -> Option<Self> {
        let (fixed, data) = frame.split_first_chunk::<{ PacketIn::FIXED_LEN }>()?;
        let [crate::OFP_VERSION, 10, l0, l1, x0, x1, x2, x3, b0, b1, b2, b3, t0, t1, p0, p1, reason, _pad] =
            *fixed
        else {
            return None;
        };
        if usize::from(u16::from_be_bytes([l0, l1])) != frame.len() {
            return None;
        }
        Some(PacketInRef {
            xid: u32::from_be_bytes([x0, x1, x2, x3]),
            buffer_id: u32::from_be_bytes([b0, b1, b2, b3]),
            total_len: u16::from_be_bytes([t0, t1]),
            in_port: PortNo(u16::from_be_bytes([p0, p1])),
            reason: PacketInReason::from_u8(reason),
            data,
        })
    }

    /// The owned message (the frame copied).
    pub fn to_packet_in(&self) -> PacketIn {
        PacketIn {
            buffer_id: self.buffer_id,
            total_len: self.total_len,
            in_port: self.in_port,
            reason: self.reason,
            data: Bytes::copy_from_slice(self.data),
        }
    }
}

/// Why a flow was removed (`ofp_flow_removed_reason`), unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowRemovedReason {
    /// `OFPRR_IDLE_TIMEOUT`.
    IdleTimeout,
    /// `OFPRR_HARD_TIMEOUT`.
    HardTimeout,
    /// `OFPRR_DELETE`: deleted by a flow_mod.
    Delete,
    /// A value outside the specification.
    Unknown(u8),
}

impl FlowRemovedReason {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => FlowRemovedReason::IdleTimeout,
            1 => FlowRemovedReason::HardTimeout,
            2 => FlowRemovedReason::Delete,
            v => FlowRemovedReason::Unknown(v),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            FlowRemovedReason::IdleTimeout => 0,
            FlowRemovedReason::HardTimeout => 1,
            FlowRemovedReason::Delete => 2,
            FlowRemovedReason::Unknown(v) => v,
        }
    }
}

/// An `OFPT_FLOW_REMOVED` body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    /// The flow's match.
    pub r#match: Match,
    /// The flow's cookie.
    pub cookie: u64,
    /// The flow's priority.
    pub priority: u16,
    /// Why it was removed.
    pub reason: FlowRemovedReason,
    /// Time the flow was alive, seconds part.
    pub duration_sec: u32,
    /// Time the flow was alive beyond `duration_sec`, nanoseconds.
    pub duration_nsec: u32,
    /// The flow's idle timeout.
    pub idle_timeout: u16,
    /// Packets that matched the flow.
    pub packet_count: u64,
    /// Bytes that matched the flow.
    pub byte_count: u64,
}

const _: () = assert!(FlowRemoved::WIRE_LEN == 88);

impl FlowRemoved {
    /// Size of `ofp_flow_removed`, header included.
    pub const WIRE_LEN: usize = 88;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let r#match = Match::read(r)?;
        let cookie = r.u64("flow_removed.cookie")?;
        let priority = r.u16("flow_removed.priority")?;
        let reason = FlowRemovedReason::from_u8(r.u8("flow_removed.reason")?);
        r.skip(1, "flow_removed.pad")?;
        let duration_sec = r.u32("flow_removed.duration_sec")?;
        let duration_nsec = r.u32("flow_removed.duration_nsec")?;
        let idle_timeout = r.u16("flow_removed.idle_timeout")?;
        r.skip(2, "flow_removed.pad2")?;
        Ok(FlowRemoved {
            r#match,
            cookie,
            priority,
            reason,
            duration_sec,
            duration_nsec,
            idle_timeout,
            packet_count: r.u64("flow_removed.packet_count")?,
            byte_count: r.u64("flow_removed.byte_count")?,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        self.r#match.encode(dst);
        dst.put_u64(self.cookie);
        dst.put_u16(self.priority);
        dst.put_u8(self.reason.to_u8());
        dst.put_u8(0);
        dst.put_u32(self.duration_sec);
        dst.put_u32(self.duration_nsec);
        dst.put_u16(self.idle_timeout);
        dst.put_u16(0);
        dst.put_u64(self.packet_count);
        dst.put_u64(self.byte_count);
    }
}

/// An `OFPT_PACKET_OUT` body: send a frame (or a buffered packet) through actions.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketOut {
    /// The switch's buffer id, or [`crate::NO_BUFFER`] when `data` carries the frame.
    pub buffer_id: u32,
    /// The frame's input port ([`PortNo::NONE`] if none; [`PortNo::CONTROLLER`] is common).
    pub in_port: PortNo,
    /// The actions to apply (decoded: the bytes of the message, checked; see [`Actions`]).
    pub actions: Actions,
    /// The frame, when not buffered: a zero-copy slice of the decoded message.
    pub data: Bytes,
}

const _: () = assert!(PacketOut::FIXED_LEN == 16);

impl PacketOut {
    /// Size of `ofp_packet_out` before the actions, header included.
    pub const FIXED_LEN: usize = 16;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let buffer_id = r.u32("packet_out.buffer_id")?;
        let in_port = PortNo(r.u16("packet_out.in_port")?);
        let actions_len = usize::from(r.u16("packet_out.actions_len")?);
        if actions_len > r.remaining() {
            return Err(r.error(
                "packet_out.actions_len",
                DecodeErrorKind::BadLength {
                    expected: Expected::AtMost(r.remaining()),
                    found: actions_len,
                },
            ));
        }
        let mut ar = r.sub(actions_len, "packet_out.actions")?;
        let actions = Actions::read(&mut ar, "packet_out.actions")?;
        Ok(PacketOut {
            buffer_id,
            in_port,
            actions,
            data: r.rest("packet_out.data")?,
        })
    }

    /// Encode the `PACKET_OUT` of `data` (not buffered: `buffer_id` is
    /// [`crate::NO_BUFFER`]) from `in_port` with `actions`, as [`Message::encode`] would
    /// encode the [`PacketOut`] holding them, without making `data` a [`Bytes`] first.
    /// Nothing is written on error.
    ///
    /// [`Message::encode`]: crate::Message::encode
    ///
    /// ```
    /// use openflow_proto::{Action, Message, PacketOut, PortNo, NO_BUFFER};
    /// let actions: openflow_proto::Actions = vec![Action::Output { port: PortNo(3), max_len: 0 }].into();
    /// let mut a = bytes::BytesMut::new();
    /// PacketOut::encode_unbuffered(5, PortNo(1), &actions, b"frame", &mut a).unwrap();
    /// let po = PacketOut {
    ///     buffer_id: NO_BUFFER,
    ///     in_port: PortNo(1),
    ///     actions,
    ///     data: bytes::Bytes::from_static(b"frame"),
    /// };
    /// let mut b = bytes::BytesMut::new();
    /// Message::PacketOut(po).encode(5, &mut b).unwrap();
    /// assert_eq!(a, b);
    /// ```
    pub fn encode_unbuffered(
        xid: u32,
        in_port: PortNo,
        actions: &Actions,
        data: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        actions.check_encodable()?;
        let actions_len = actions.wire_len();
        let len = Self::FIXED_LEN + actions_len + data.len();
        let too_long = |len| EncodeError::TooLong {
            what: crate::MessageType::PacketOut.name(),
            len,
            max: MAX_MESSAGE_LEN,
        };
        if len > MAX_MESSAGE_LEN {
            return Err(too_long(len));
        }
        let (Ok(len16), Ok(actions_len16)) = (u16::try_from(len), u16::try_from(actions_len))
        else {
            return Err(too_long(len));
        };
        let start = dst.len();
        dst.reserve(len);
        let mut f = Fixed::<{ Self::FIXED_LEN }>::zeroed();
        f.set_u8::<0>(crate::OFP_VERSION);
        f.set_u8::<1>(crate::MessageType::PacketOut.to_u8());
        f.set_u16::<2>(len16);
        f.set_u32::<4>(xid);
        f.set_u32::<8>(crate::NO_BUFFER);
        f.set_u16::<12>(in_port.0);
        f.set_u16::<14>(actions_len16);
        dst.put_slice(&f.0);
        if let Err(e) = actions.encode(dst) {
            dst.truncate(start);
            return Err(e);
        }
        dst.put_slice(data);
        Ok(())
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        self.actions.check_encodable()?;
        let len = self.actions.wire_len();
        let actions_len = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            what: "packet_out actions",
            len,
            max: usize::from(u16::MAX),
        })?;
        dst.put_u32(self.buffer_id);
        dst.put_u16(self.in_port.0);
        dst.put_u16(actions_len);
        self.actions.encode(dst)?;
        dst.put_slice(&self.data);
        Ok(())
    }
}

/// An `OFPT_VENDOR` message body: a vendor id and opaque bytes (no subtype is assumed).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VendorMsg {
    /// The vendor id (0x00002320 is Nicira / Open vSwitch).
    pub vendor: u32,
    /// The vendor-defined bytes after the id: a zero-copy slice of the decoded message.
    pub data: Bytes,
}

const _: () = assert!(VendorMsg::FIXED_LEN == 12);

impl VendorMsg {
    /// Minimum size of a vendor message, header included.
    pub const FIXED_LEN: usize = 12;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(VendorMsg {
            vendor: r.u32("vendor.vendor")?,
            data: r.rest("vendor.data")?,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u32(self.vendor);
        dst.put_slice(&self.data);
    }
}

impl PortStatus {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let reason = PortReason::from_u8(r.u8("port_status.reason")?);
        r.skip(7, "port_status.pad")?;
        Ok(PortStatus {
            reason,
            desc: PhyPort::read(r)?,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u8(self.reason.to_u8());
        dst.put_bytes(0, 7);
        self.desc.encode(dst);
    }
}

impl PortMod {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u16("port_mod.port_no")?);
        let hw_addr = MacAddr(r.array("port_mod.hw_addr")?);
        let config = PortConfig::from_bits_retain(r.u32("port_mod.config")?);
        let mask = PortConfig::from_bits_retain(r.u32("port_mod.mask")?);
        let advertise = PortFeatures::from_bits_retain(r.u32("port_mod.advertise")?);
        r.skip(4, "port_mod.pad")?;
        Ok(PortMod {
            port_no,
            hw_addr,
            config,
            mask,
            advertise,
        })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.port_no.0);
        dst.put_slice(&self.hw_addr.0);
        dst.put_u32(self.config.bits());
        dst.put_u32(self.mask.bits());
        dst.put_u32(self.advertise.bits());
        dst.put_u32(0);
    }
}

/// `OFPHET_VERSIONBITMAP`: the HELLO element listing the versions a peer supports.
const HELLO_ELEM_VERSIONBITMAP: u16 = 1;

/// Negotiate the version with a peer from its HELLO: the header's version and the body.
///
/// If the body carries a version bitmap (OpenFlow 1.3.1 and later), OpenFlow 1.0 is used
/// when the bitmap has bit 1 set; otherwise the version is `min(0x01, peer_version)`,
/// which must be 0x01. Without a common version, the error is the `HELLO_FAILED/
/// INCOMPATIBLE` message to send before closing the connection.
pub fn negotiate_version(peer_version: u8, hello_body: &[u8]) -> Result<u8, ErrorMsg> {
    let incompatible = || {
        ErrorMsg::hello_incompatible(&format!(
            "this peer supports only OpenFlow 1.0 (0x01); the other side offered version {peer_version:#04x}"
        ))
    };
    let mut rest = hello_body;
    // Each element is at least 4 bytes and advances by a multiple of 8: the loop ends.
    while let [t0, t1, l0, l1, ..] = *rest {
        let elem_type = u16::from_be_bytes([t0, t1]);
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        if len < 4 || len > rest.len() {
            break;
        }
        if elem_type == HELLO_ELEM_VERSIONBITMAP {
            let first = rest.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok());
            return match first {
                Some(w) if len >= 8 && u32::from_be_bytes(w) & (1 << crate::OFP_VERSION) != 0 => {
                    Ok(crate::OFP_VERSION)
                }
                _ => Err(incompatible()),
            };
        }
        let padded = len.div_ceil(8) * 8;
        rest = rest.get(padded..).unwrap_or_default();
    }
    if peer_version >= crate::OFP_VERSION {
        Ok(crate::OFP_VERSION)
    } else {
        Err(incompatible())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_negotiation() {
        use crate::error_msg::{ErrorType, HelloFailedCode};
        // A plain OpenFlow 1.0 or 1.3 hello without elements: min(ours, theirs).
        assert_eq!(negotiate_version(1, &[]), Ok(1));
        assert_eq!(negotiate_version(4, &[]), Ok(1));
        // Version 0: no common version.
        let e = negotiate_version(0, &[]).unwrap_err();
        assert_eq!(
            e.error,
            ErrorType::HelloFailed(HelloFailedCode::Incompatible)
        );
        assert!(!e.data.is_empty());
        // A bitmap offering 1.0 and 1.3 (bits 1 and 4).
        assert_eq!(negotiate_version(4, &[0, 1, 0, 8, 0, 0, 0, 0x12]), Ok(1));
        // A bitmap offering only 1.3.
        assert!(negotiate_version(4, &[0, 1, 0, 8, 0, 0, 0, 0x10]).is_err());
        // An unknown element first, then the bitmap.
        let body = [0, 9, 0, 5, 0xaa, 0, 0, 0, 0, 1, 0, 8, 0, 0, 0, 0x02];
        assert_eq!(negotiate_version(4, &body), Ok(1));
        // Malformed elements are ignored (length 0 does not loop).
        assert_eq!(negotiate_version(4, &[0, 1, 0, 0, 0, 0, 0, 0]), Ok(1));
        assert_eq!(negotiate_version(4, &[0, 1, 0]), Ok(1));
    }

    #[test]
    fn config_flags() {
        for v in [0u16, 1, 2, 3, 4, 7, 0x8001] {
            assert_eq!(ConfigFlags::from_u16(v).to_u16(), v);
        }
        assert_eq!(ConfigFlags::from_u16(1).frag, FragHandling::Drop);
        assert_eq!(ConfigFlags::from_u16(6).frag, FragHandling::Reasm);
        assert_eq!(ConfigFlags::from_u16(6).other_bits, 4);
    }

    #[test]
    fn reasons_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(PacketInReason::from_u8(v).to_u8(), v);
            assert_eq!(FlowRemovedReason::from_u8(v).to_u8(), v);
        }
        assert_eq!(PacketInReason::from_u8(2), PacketInReason::Unknown(2));
    }
}
