//! Every OpenFlow 1.0 message, decoded from and encoded to whole frames.

use crate::codec::Reader;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Expected};
use crate::error_msg::{ErrorMsg, ErrorType};
use crate::flow_mod::FlowMod;
use crate::header::{Header, MessageType};
use crate::messages::{FlowRemoved, PacketIn, PacketOut, SwitchConfig, SwitchFeatures, VendorMsg};
use crate::port::{PortMod, PortStatus};
use crate::queue::{QueueGetConfigReply, QueueGetConfigRequest};
use crate::stats::{StatsReply, StatsRequest, MAX_MESSAGE_LEN};
use crate::OFP_VERSION;
use bytes::{BufMut, Bytes, BytesMut};

/// One OpenFlow 1.0 message (without its header: the xid travels beside it).
///
/// Payloads (`Hello` bodies, echo data, vendor data, error data, packet_in and packet_out
/// frames) are [`Bytes`]: decoding from a `Bytes` frame slices them without copying.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// `OFPT_HELLO`, with any body kept (later versions send a version bitmap).
    Hello(Bytes),
    /// `OFPT_ERROR`.
    Error(ErrorMsg),
    /// `OFPT_ECHO_REQUEST` with its payload.
    EchoRequest(Bytes),
    /// `OFPT_ECHO_REPLY` with its payload.
    EchoReply(Bytes),
    /// `OFPT_VENDOR`: a vendor id and opaque bytes.
    Vendor(VendorMsg),
    /// `OFPT_FEATURES_REQUEST`.
    FeaturesRequest,
    /// `OFPT_FEATURES_REPLY`.
    FeaturesReply(SwitchFeatures),
    /// `OFPT_GET_CONFIG_REQUEST`.
    GetConfigRequest,
    /// `OFPT_GET_CONFIG_REPLY`.
    GetConfigReply(SwitchConfig),
    /// `OFPT_SET_CONFIG`.
    SetConfig(SwitchConfig),
    /// `OFPT_PACKET_IN`.
    PacketIn(PacketIn),
    /// `OFPT_FLOW_REMOVED`.
    FlowRemoved(FlowRemoved),
    /// `OFPT_PORT_STATUS`.
    PortStatus(PortStatus),
    /// `OFPT_PACKET_OUT`.
    PacketOut(PacketOut),
    /// `OFPT_FLOW_MOD`.
    FlowMod(FlowMod),
    /// `OFPT_PORT_MOD`.
    PortMod(PortMod),
    /// `OFPT_STATS_REQUEST`.
    StatsRequest(StatsRequest),
    /// `OFPT_STATS_REPLY` (one part of a possibly multi-part reply).
    StatsReply(StatsReply),
    /// `OFPT_BARRIER_REQUEST`.
    BarrierRequest,
    /// `OFPT_BARRIER_REPLY`.
    BarrierReply,
    /// `OFPT_QUEUE_GET_CONFIG_REQUEST`.
    QueueGetConfigRequest(QueueGetConfigRequest),
    /// `OFPT_QUEUE_GET_CONFIG_REPLY`.
    QueueGetConfigReply(QueueGetConfigReply),
}

/// The length rule of each message type (whole message, header included).
const fn length_rule(t: MessageType) -> Expected {
    match t {
        MessageType::Hello | MessageType::EchoRequest | MessageType::EchoReply => {
            Expected::AtLeast(Header::LEN)
        }
        MessageType::Error => Expected::AtLeast(ErrorMsg::FIXED_LEN),
        MessageType::Vendor => Expected::AtLeast(VendorMsg::FIXED_LEN),
        MessageType::FeaturesRequest
        | MessageType::GetConfigRequest
        | MessageType::BarrierRequest
        | MessageType::BarrierReply => Expected::Exactly(Header::LEN),
        MessageType::FeaturesReply => Expected::AtLeast(SwitchFeatures::FIXED_LEN),
        MessageType::GetConfigReply | MessageType::SetConfig => {
            Expected::Exactly(SwitchConfig::WIRE_LEN)
        }
        MessageType::PacketIn => Expected::AtLeast(PacketIn::FIXED_LEN),
        MessageType::FlowRemoved => Expected::Exactly(FlowRemoved::WIRE_LEN),
        MessageType::PortStatus => Expected::Exactly(PortStatus::WIRE_LEN),
        MessageType::PacketOut => Expected::AtLeast(PacketOut::FIXED_LEN),
        MessageType::FlowMod => Expected::AtLeast(FlowMod::FIXED_LEN),
        MessageType::PortMod => Expected::Exactly(PortMod::WIRE_LEN),
        MessageType::StatsRequest => Expected::AtLeast(StatsRequest::FIXED_LEN),
        MessageType::StatsReply => Expected::AtLeast(StatsReply::FIXED_LEN),
        MessageType::QueueGetConfigRequest => Expected::Exactly(QueueGetConfigRequest::WIRE_LEN),
        MessageType::QueueGetConfigReply => Expected::AtLeast(QueueGetConfigReply::FIXED_LEN),
        MessageType::Unknown(_) => Expected::AtLeast(Header::LEN),
    }
}

impl Message {
    /// This message's type.
    pub const fn msg_type(&self) -> MessageType {
        match self {
            Message::Hello(_) => MessageType::Hello,
            Message::Error(_) => MessageType::Error,
            Message::EchoRequest(_) => MessageType::EchoRequest,
            Message::EchoReply(_) => MessageType::EchoReply,
            Message::Vendor(_) => MessageType::Vendor,
            Message::FeaturesRequest => MessageType::FeaturesRequest,
            Message::FeaturesReply(_) => MessageType::FeaturesReply,
            Message::GetConfigRequest => MessageType::GetConfigRequest,
            Message::GetConfigReply(_) => MessageType::GetConfigReply,
            Message::SetConfig(_) => MessageType::SetConfig,
            Message::PacketIn(_) => MessageType::PacketIn,
            Message::FlowRemoved(_) => MessageType::FlowRemoved,
            Message::PortStatus(_) => MessageType::PortStatus,
            Message::PacketOut(_) => MessageType::PacketOut,
            Message::FlowMod(_) => MessageType::FlowMod,
            Message::PortMod(_) => MessageType::PortMod,
            Message::StatsRequest(_) => MessageType::StatsRequest,
            Message::StatsReply(_) => MessageType::StatsReply,
            Message::BarrierRequest => MessageType::BarrierRequest,
            Message::BarrierReply => MessageType::BarrierReply,
            Message::QueueGetConfigRequest(_) => MessageType::QueueGetConfigRequest,
            Message::QueueGetConfigReply(_) => MessageType::QueueGetConfigReply,
        }
    }

    /// Decode one whole message (header included) from a frame, as yielded by
    /// [`crate::Framer`]. Returns the header (for the xid) and the message.
    ///
    /// The frame must be exactly as long as the header says and (except for `HELLO`, which
    /// is accepted from any version so that versions can be negotiated) carry version 0x01.
    /// Payloads are zero-copy slices of `frame`. Nothing is normalised: values outside the
    /// specification are kept.
    ///
    /// Messages without lists of ports, flows or queues (packet_in, echo, error, vendor,
    /// flow_mod and packet_out, whose [`crate::Actions`] are slices of the frame...) decode
    /// without touching the heap when `frame` is shared `Bytes` (as [`crate::Framer`]
    /// yields, or static); a `Bytes` made from a `Vec` allocates its shared header once, on
    /// its first slice.
    #[inline]
    pub fn decode(frame: &Bytes) -> Result<(Header, Message), DecodeError> {
        // A small dispatch on the version and type, inlined into the caller: the messages
        // received most have a function of their own that writes the result in place (and
        // falls back to the general path for anything else, valid or not), so a decode is
        // one call.
        match frame.first_chunk::<2>() {
            Some(&[OFP_VERSION, 10]) => Self::decode_packet_in(frame),
            Some(&[OFP_VERSION, 14]) => FlowMod::decode_frame(frame),
            _ => Self::decode_general(frame),
        }
    }

    /// [`Message::decode`] of a frame starting with version 1 and type `PACKET_IN`, the
    /// message a controller receives most: a valid one whose length matches the frame is
    /// checked and decoded in one step; anything else takes the general path, which
    /// decodes it the same way.
    #[inline(never)]
    fn decode_packet_in(frame: &Bytes) -> Result<(Header, Message), DecodeError> {
        if let [OFP_VERSION, 10, l0, l1, x0, x1, x2, x3, b0, b1, b2, b3, t0, t1, p0, p1, reason, _pad, ..] =
            frame[..]
        {
            let length = u16::from_be_bytes([l0, l1]);
            if usize::from(length) == frame.len() {
                let header = Header {
                    version: OFP_VERSION,
                    msg_type: MessageType::PacketIn,
                    length,
                    xid: u32::from_be_bytes([x0, x1, x2, x3]),
                };
                return Ok((
                    header,
                    Message::PacketIn(PacketIn {
                        buffer_id: u32::from_be_bytes([b0, b1, b2, b3]),
                        total_len: u16::from_be_bytes([t0, t1]),
                        in_port: crate::PortNo(u16::from_be_bytes([p0, p1])),
                        reason: crate::PacketInReason::from_u8(reason),
                        data: frame.slice(PacketIn::FIXED_LEN..),
                    }),
                ));
            }
        }
        Self::decode_general(frame)
    }

    /// [`Message::decode`] of any frame, through the general path.
    #[inline(never)]
    pub(crate) fn decode_general(frame: &Bytes) -> Result<(Header, Message), DecodeError> {
        let header = Header::parse(frame)?;
        Self::decode_with(Reader::from_bytes(frame, header.msg_type), header)
    }

    /// Like [`Message::decode`], from a byte slice (payloads are copied).
    #[inline]
    pub fn decode_slice(frame: &[u8]) -> Result<(Header, Message), DecodeError> {
        let header = Header::parse(frame)?;
        Self::decode_with(Reader::from_slice(frame, header.msg_type), header)
    }

    #[inline]
    fn decode_with(mut r: Reader<'_>, header: Header) -> Result<(Header, Message), DecodeError> {
        // HELLO is the one message every version shares: a newer peer's HELLO carries its
        // own version, and negotiation ([`crate::messages::negotiate_version`]) decides.
        if header.msg_type == MessageType::Hello && usize::from(header.length) >= Header::LEN {
            // Accepted whatever the version.
        } else {
            header.validate()?;
        }
        let t = header.msg_type;
        if usize::from(header.length) != r.remaining() {
            return Err(r.error(
                "header.length",
                DecodeErrorKind::LengthMismatch {
                    header: header.length,
                    actual: r.remaining(),
                },
            ));
        }
        let len = usize::from(header.length);
        let ok = match length_rule(t) {
            Expected::Exactly(n) => len == n,
            Expected::AtLeast(n) => len >= n,
            Expected::AtMost(n) => len <= n,
            Expected::MultipleOf(n) => n != 0 && len % n == 0,
        };
        if !ok {
            return Err(r.error_at(
                "header.length",
                2,
                DecodeErrorKind::BadLength {
                    expected: length_rule(t),
                    found: len,
                },
            ));
        }
        r.skip(Header::LEN, "header")?;
        let r = &mut r;
        // Each arm reads its body, checks that nothing is left over, and only then wraps it
        // in a `Message`, in a function of its own per type that writes the result in place
        // (not built in a local of the big `decode_with` and then moved).
        macro_rules! whole {
            ($read:expr, $wrap:expr) => {
                Self::whole(r, header, $read, $wrap)
            };
        }
        match t {
            MessageType::Hello => whole!(|r| r.rest("hello.body"), Message::Hello),
            MessageType::Error => whole!(
                |r| {
                    let error_type = r.u16("error.type")?;
                    let code = r.u16("error.code")?;
                    Ok(ErrorMsg {
                        error: ErrorType::from_wire(error_type, code),
                        data: r.rest("error.data")?,
                    })
                },
                Message::Error
            ),
            MessageType::EchoRequest => {
                whole!(|r| r.rest("echo_request.data"), Message::EchoRequest)
            }
            MessageType::EchoReply => whole!(|r| r.rest("echo_reply.data"), Message::EchoReply),
            MessageType::Vendor => whole!(VendorMsg::read, Message::Vendor),
            MessageType::FeaturesRequest => whole!(|_| Ok(()), |()| Message::FeaturesRequest),
            MessageType::FeaturesReply => {
                whole!(SwitchFeatures::read, Message::FeaturesReply)
            }
            MessageType::GetConfigRequest => whole!(|_| Ok(()), |()| Message::GetConfigRequest),
            MessageType::GetConfigReply => whole!(SwitchConfig::read, Message::GetConfigReply),
            MessageType::SetConfig => whole!(SwitchConfig::read, Message::SetConfig),
            MessageType::PacketIn => whole!(PacketIn::read, Message::PacketIn),
            MessageType::FlowRemoved => whole!(FlowRemoved::read, Message::FlowRemoved),
            MessageType::PortStatus => whole!(PortStatus::read, Message::PortStatus),
            MessageType::PacketOut => whole!(PacketOut::read, Message::PacketOut),
            MessageType::FlowMod => FlowMod::read_message(r, header),
            MessageType::PortMod => whole!(PortMod::read, Message::PortMod),
            MessageType::StatsRequest => whole!(StatsRequest::read, Message::StatsRequest),
            MessageType::StatsReply => whole!(StatsReply::read, Message::StatsReply),
            MessageType::BarrierRequest => whole!(|_| Ok(()), |()| Message::BarrierRequest),
            MessageType::BarrierReply => whole!(|_| Ok(()), |()| Message::BarrierReply),
            MessageType::QueueGetConfigRequest => {
                whole!(QueueGetConfigRequest::read, Message::QueueGetConfigRequest)
            }
            MessageType::QueueGetConfigReply => {
                whole!(QueueGetConfigReply::read, Message::QueueGetConfigReply)
            }
            MessageType::Unknown(found) => {
                Err(r.error_at("header.type", 1, DecodeErrorKind::UnknownType { found }))
            }
        }
    }

    /// Read a body with `read`, check that nothing is left, and wrap it with `wrap`.
    #[inline(never)]
    fn whole<T>(
        r: &mut Reader<'_>,
        header: Header,
        read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
        wrap: impl FnOnce(T) -> Message,
    ) -> Result<(Header, Message), DecodeError> {
        let body = read(r)?;
        r.finish("body")?;
        Ok((header, wrap(body)))
    }

    /// The length of the encoded message, header included (saturating: a value above 65535
    /// means [`Message::encode`] will fail with [`EncodeError::TooLong`]).
    pub fn encoded_len(&self) -> usize {
        let body = match self {
            Message::Hello(b) | Message::EchoRequest(b) | Message::EchoReply(b) => b.len(),
            Message::Error(e) => 4usize.saturating_add(e.data.len()),
            Message::Vendor(v) => 4usize.saturating_add(v.data.len()),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => 0,
            Message::FeaturesReply(f) => f
                .ports
                .len()
                .saturating_mul(crate::PhyPort::WIRE_LEN)
                .saturating_add(SwitchFeatures::FIXED_LEN - Header::LEN),
            Message::GetConfigReply(_) | Message::SetConfig(_) => {
                SwitchConfig::WIRE_LEN - Header::LEN
            }
            Message::PacketIn(p) => {
                (PacketIn::FIXED_LEN - Header::LEN).saturating_add(p.data.len())
            }
            Message::FlowRemoved(_) => FlowRemoved::WIRE_LEN - Header::LEN,
            Message::PortStatus(_) => PortStatus::WIRE_LEN - Header::LEN,
            Message::PacketOut(p) => (PacketOut::FIXED_LEN - Header::LEN)
                .saturating_add(p.actions.wire_len())
                .saturating_add(p.data.len()),
            Message::FlowMod(f) => f.message_len().saturating_sub(Header::LEN),
            Message::PortMod(_) => PortMod::WIRE_LEN - Header::LEN,
            Message::StatsRequest(s) => {
                (StatsRequest::FIXED_LEN - Header::LEN).saturating_add(match &s.body {
                    crate::StatsRequestBody::Desc | crate::StatsRequestBody::Table => 0,
                    crate::StatsRequestBody::Flow(_) | crate::StatsRequestBody::Aggregate(_) => {
                        crate::stats::FlowStatsRequest::WIRE_LEN
                    }
                    crate::StatsRequestBody::Port(_) | crate::StatsRequestBody::Queue(_) => 8,
                    crate::StatsRequestBody::Vendor { data, .. } => {
                        4usize.saturating_add(data.len())
                    }
                    crate::StatsRequestBody::Unknown { body, .. } => body.len(),
                })
            }
            Message::StatsReply(s) => {
                (StatsReply::FIXED_LEN - Header::LEN).saturating_add(s.body.wire_len())
            }
            Message::QueueGetConfigRequest(_) => QueueGetConfigRequest::WIRE_LEN - Header::LEN,
            Message::QueueGetConfigReply(q) => q.queues.iter().fold(
                QueueGetConfigReply::FIXED_LEN - Header::LEN,
                |acc, queue| acc.saturating_add(queue.wire_len()),
            ),
        };
        body.saturating_add(Header::LEN)
    }

    /// Append the message, header included, to `dst`, with this xid and the exact length
    /// in the header. On error nothing is appended.
    ///
    /// Fails (never panics) when the message would exceed 65535 bytes or holds a value that
    /// cannot be encoded (a vendor action whose length is not a multiple of 8...).
    pub fn encode(&self, xid: u32, dst: &mut BytesMut) -> Result<(), EncodeError> {
        if let Message::FlowMod(f) = self {
            return f.encode_message(xid, dst);
        }
        self.encode_sized(xid, dst, self.encoded_len())
    }

    /// [`Message::encode`], with `expected` = [`Message::encoded_len`] already computed.
    #[inline]
    fn encode_sized(
        &self,
        xid: u32,
        dst: &mut BytesMut,
        expected: usize,
    ) -> Result<(), EncodeError> {
        let start = dst.len();
        let result = self.encode_inner(xid, dst, start, expected);
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    fn encode_inner(
        &self,
        xid: u32,
        dst: &mut BytesMut,
        start: usize,
        expected: usize,
    ) -> Result<(), EncodeError> {
        if expected > MAX_MESSAGE_LEN {
            return Err(EncodeError::TooLong {
                what: self.msg_type().name(),
                len: expected,
                max: MAX_MESSAGE_LEN,
            });
        }
        dst.reserve(expected);
        Header {
            version: OFP_VERSION,
            msg_type: self.msg_type(),
            length: 0,
            xid,
        }
        .encode(dst);
        self.encode_body(dst)?;
        let len = dst.len().saturating_sub(start);
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            what: self.msg_type().name(),
            len,
            max: MAX_MESSAGE_LEN,
        })?;
        if let Some(slot) = dst.get_mut(start + 2..start + 4) {
            slot.copy_from_slice(&len16.to_be_bytes());
        }
        Ok(())
    }

    /// Encode into a new buffer.
    #[inline]
    pub fn to_bytes(&self, xid: u32) -> Result<Bytes, EncodeError> {
        // A flow_mod is written into a buffer of exactly its length, handed back in two
        // registers and made `Bytes` here, in the caller, which can then keep the `Bytes`
        // where it wants it (a `Bytes` written into a result in memory by a call, and moved
        // right away, waits for those stores). Any encode error takes the general path.
        if let Message::FlowMod(f) = self {
            if let Some(wire) = f.to_boxed(xid) {
                return Ok(Bytes::from(wire));
            }
        }
        self.to_bytes_general(xid)
    }

    /// [`Message::to_bytes`] of every message, through the general path.
    #[inline(never)]
    fn to_bytes_general(&self, xid: u32) -> Result<Bytes, EncodeError> {
        if let Message::FlowMod(f) = self {
            return f.to_bytes(xid);
        }
        let expected = self.encoded_len();
        let mut b = BytesMut::with_capacity(expected.min(MAX_MESSAGE_LEN));
        self.encode_sized(xid, &mut b, expected)?;
        Ok(b.freeze())
    }

    fn encode_body(&self, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match self {
            Message::Hello(b) | Message::EchoRequest(b) | Message::EchoReply(b) => dst.put_slice(b),
            Message::Error(e) => {
                let (t, c) = e.error.to_wire();
                dst.put_u16(t);
                dst.put_u16(c);
                dst.put_slice(&e.data);
            }
            Message::Vendor(v) => v.write(dst),
            Message::FeaturesRequest
            | Message::GetConfigRequest
            | Message::BarrierRequest
            | Message::BarrierReply => {}
            Message::FeaturesReply(f) => f.write(dst),
            Message::GetConfigReply(c) | Message::SetConfig(c) => c.write(dst),
            Message::PacketIn(p) => p.write(dst),
            Message::FlowRemoved(f) => f.write(dst),
            Message::PortStatus(p) => p.write(dst),
            Message::PacketOut(p) => p.write(dst)?,
            Message::FlowMod(f) => f.write(dst)?,
            Message::PortMod(p) => p.write(dst),
            Message::StatsRequest(s) => s.write(dst),
            Message::StatsReply(s) => s.write(dst)?,
            Message::QueueGetConfigRequest(q) => q.write(dst),
            Message::QueueGetConfigReply(q) => q.write(dst)?,
        }
        Ok(())
    }

    /// Encode a stats reply of any size as one or more `OFPT_STATS_REPLY` messages with the
    /// same xid ([`StatsReply::split`]), each at most 65535 bytes, appended to `dst`.
    /// Returns the number of messages. On error nothing is appended.
    pub fn encode_stats_reply(
        reply: &StatsReply,
        xid: u32,
        dst: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        let parts = reply.split(MAX_MESSAGE_LEN)?;
        let count = parts.len();
        let start = dst.len();
        for part in parts {
            if let Err(e) = Message::StatsReply(part).encode(xid, dst) {
                dst.truncate(start);
                return Err(e);
            }
        }
        Ok(count)
    }
}

macro_rules! from_body {
    ($($body:ty => $variant:ident),* $(,)?) => {
        $(
            impl From<$body> for Message {
                fn from(body: $body) -> Self {
                    Message::$variant(body)
                }
            }
        )*
    };
}

from_body! {
    ErrorMsg => Error,
    VendorMsg => Vendor,
    SwitchFeatures => FeaturesReply,
    PacketIn => PacketIn,
    FlowRemoved => FlowRemoved,
    PortStatus => PortStatus,
    PacketOut => PacketOut,
    FlowMod => FlowMod,
    PortMod => PortMod,
    StatsRequest => StatsRequest,
    StatsReply => StatsReply,
    QueueGetConfigRequest => QueueGetConfigRequest,
    QueueGetConfigReply => QueueGetConfigReply,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;
    use crate::actions::Actions;
    use crate::error_msg::{BadActionCode, BadRequestCode, QueueOpFailedCode};
    use crate::flow_match::{Ipv4Match, ETH_TYPE_ARP, ETH_TYPE_IPV4};
    use crate::flow_mod::{FlowModCommand, FlowModFlags};
    use crate::messages::{
        ActionBitmap, Capabilities, ConfigFlags, FlowRemovedReason, FragHandling, PacketInReason,
    };
    use crate::port::{PortConfig, PortFeatures, PortNo, PortReason};
    use crate::queue::{PacketQueue, QueueProperty};
    use crate::stats::{
        AggregateStats, FlowStatsRequest, StatsReplyBody, StatsReplyFlags, StatsRequestBody,
        StatsType,
    };
    use crate::{MacAddr, NO_BUFFER};
    use core::net::Ipv4Addr;

    #[test]
    fn packet_in_fast_path_agrees_with_the_general_path() {
        for data_len in [0usize, 1, 60] {
            let m = Message::PacketIn(PacketIn {
                buffer_id: 7,
                total_len: 99,
                in_port: PortNo(3),
                reason: PacketInReason::Unknown(9),
                data: Bytes::from(vec![0xab; data_len]),
            });
            let wire = m.to_bytes(0x1234).unwrap();
            // `decode_slice` has no fast path: it is the reference.
            let fast = Message::decode(&wire).unwrap();
            assert_eq!(fast, Message::decode_slice(&wire).unwrap());
            assert_eq!(fast.1, m);
            assert_eq!(fast.0.xid, 0x1234);
            // A wrong length or version gets the general path's error.
            for (at, flip) in [(3, 1u8), (2, 1), (0, 3)] {
                let mut bad = wire.to_vec();
                bad[at] ^= flip;
                assert_eq!(
                    Message::decode(&Bytes::from(bad.clone())).unwrap_err(),
                    Message::decode_slice(&bad).unwrap_err()
                );
            }
        }
    }

    #[test]
    fn flow_mod_fast_paths_agree_with_the_general_paths() {
        let mut m = crate::Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_dst = Ipv4Match::prefix(Ipv4Addr::new(203, 0, 113, 0), 24);
        let mut fm = FlowMod::add(
            m,
            200,
            vec![
                Action::SetNwDst(Ipv4Addr::new(10, 0, 0, 2)),
                Action::SetDlDst(MacAddr([2, 0, 0, 0, 0, 2])),
                Action::Enqueue {
                    port: PortNo(2),
                    queue_id: 7,
                },
                Action::Vendor {
                    vendor: 0x2320,
                    data: Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7]),
                },
                Action::output(PortNo(2)),
            ],
        );
        fm.flags = FlowModFlags::SEND_FLOW_REM;
        let msg = Message::FlowMod(fm);
        // Encoding: the flow_mod path writes what the general one does, and `to_bytes`
        // what `encode` appends after other bytes.
        let mut general = BytesMut::new();
        msg.encode_sized(9, &mut general, msg.encoded_len())
            .unwrap();
        let wire = msg.to_bytes(9).unwrap();
        assert_eq!(wire, general.freeze());
        assert_eq!(wire.len(), msg.encoded_len());
        let mut buf = BytesMut::from(&b"xy"[..]);
        msg.encode(9, &mut buf).unwrap();
        assert_eq!(&buf[2..], &wire[..]);
        // Decoding: `decode_slice` has no fast path and is the reference; every prefix,
        // and every byte changed, decodes (or fails) the same way on both.
        let fast = Message::decode(&wire).unwrap();
        assert_eq!(fast, Message::decode_slice(&wire).unwrap());
        assert_eq!(fast.1, msg);
        for cut in 0..wire.len() {
            let mut bad = wire[..cut].to_vec();
            if bad.len() >= 4 {
                bad[2..4].copy_from_slice(&(cut as u16).to_be_bytes());
            }
            assert_eq!(
                Message::decode(&Bytes::from(bad.clone())),
                Message::decode_slice(&bad),
                "cut at {cut}"
            );
        }
        for at in 0..wire.len() {
            for flip in [0x01u8, 0x08, 0x80, 0xff] {
                let mut bad = wire.to_vec();
                bad[at] ^= flip;
                assert_eq!(
                    Message::decode(&Bytes::from(bad.clone())),
                    Message::decode_slice(&bad),
                    "byte {at} ^ {flip:#x}"
                );
            }
        }
        // Encoding errors leave the buffer as it was, on both paths.
        let bad = Message::FlowMod(FlowMod::add(
            crate::Match::any(),
            1,
            vec![Action::Vendor {
                vendor: 1,
                data: Bytes::from_static(&[1, 2, 3]),
            }],
        ));
        let mut buf = BytesMut::from(&b"xy"[..]);
        let e = bad.encode(1, &mut buf).unwrap_err();
        assert_eq!(&buf[..], b"xy");
        assert_eq!(Err(e.clone()), bad.to_bytes(1));
        assert_eq!(
            Err(e),
            bad.encode_sized(1, &mut BytesMut::new(), bad.encoded_len())
        );
        let big = Message::FlowMod(FlowMod::add(
            crate::Match::any(),
            1,
            vec![Action::StripVlan; 8200],
        ));
        let e = big.encode(1, &mut buf).unwrap_err();
        assert_eq!(&buf[..], b"xy");
        assert_eq!(Err(e.clone()), big.to_bytes(1));
        assert_eq!(
            Err(e),
            big.encode_sized(1, &mut BytesMut::new(), big.encoded_len())
        );
    }

    fn hex(s: &str) -> Bytes {
        Bytes::from(
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>(),
        )
    }

    /// Decode a fixture, check it re-encodes byte for byte, return the message.
    fn rt(h: &str) -> (Header, Message) {
        let frame = hex(h);
        let (hdr, msg) = Message::decode(&frame).unwrap();
        assert_eq!(msg.encoded_len(), frame.len());
        let mut out = BytesMut::new();
        msg.encode(hdr.xid, &mut out).unwrap();
        assert_eq!(&out[..], &frame[..], "re-encoding {msg:?}");
        // The slice decoder agrees.
        assert_eq!(Message::decode_slice(&frame).unwrap(), (hdr, msg.clone()));
        (hdr, msg)
    }

    // Real messages from Open vSwitch 3.1 (tests/data of the crate has the whole capture).
    const FEATURES_REPLY: &str = concat!(
        "010600500000000200000000000000c100000000fe000000000000c700000fff",
        "fffe6ab2bbb3824f636272300000000000000000000000000000000100000001",
        "000000c0000000000000000000000000",
    );
    const PACKET_IN_ARP: &str = concat!(
        "010a003c00000000ffffffff002a00010100ffffffffffff0200000000010806",
        "00010800060400010200000000010a0100010000000000000a010002",
    );
    const FLOW_REMOVED: &str = concat!(
        "010b005800000000003820cf0000000000000000000000000000000000000800",
        "000100000000000000000000000000000000000000000abc01f4000000000002",
        "039387000002000000000000000000000000000000000000",
    );
    const PACKET_OUT: &str = concat!(
        "010d00420000006fffffffff0001000800000008fffbffffffffffffffff0200",
        "00000001080600010800060400010200000000010a0100010000000000000a01",
        "0002",
    );
    const FLOW_MOD: &str = concat!(
        "010e005000000006003800ea0001020000000001000000000000000000000800",
        "000000000a010001000000000000000000000000000000000000000000000064",
        "ffffffffffff00000000000800020000",
    );
    const PORT_STATUS: &str = concat!(
        "010c0040000000000200000000000000fffe6ab2bbb3824f6362723000000000",
        "00000000000000000000000100000001000000c0000000000000000000000000",
    );
    const FLOW_STATS_REQUEST: &str = concat!(
        "011000380000000200010000003820ff00000000000000000000000000000000",
        "0000000000000000000000000000000000000000ff00ffff",
    );
    // OFPST_FLOW reply with 11 flows, one of each action type.
    const FLOW_STATS_REPLY: &str = concat!(
        "01110494000000020001000000600000003820fe00020000000000000000000000000000000000000000000000000000",
        "00000000000000000000000002ebae4000d1000000000000000000000000000000000000000000000000000100000000",
        "000000460000000800010000006000000038208f00000000000000000000000000000000000008000006000000000000",
        "00000000005000000000000003ef148000d0000100030000000000000000000000001234000000000000000000000000",
        "0000000000000008fffa000000680000001820ef00000000000000000000000000000000000008002000000000000000",
        "000000000000000000000000053ec60000ce000000000000000000000000000000000000000000000000000000000000",
        "00000000000b001000010000000000000000000000680000003820fd0000000000000000000000000000001e00000000",
        "00000000000000000000000000000000000000000632ea0000cd00000000000000000000000000000000000000000000",
        "000000000000000000000000000300080000000000000008fff8000000700000002820fd000000000000000000000000",
        "0000000a0300000000000000000000000000000000000000000000000773594000cc0000000000000000000000000000",
        "000000000000000000000000000000000000000000010008001400000002000805000000000000080001000000600000",
        "003020cf00000000000000000000000000000000000008060001000000000000cb00710a00000000000000000848f8c0",
        "00cb0000000000000000000000000000000000000000000000000000000000000000000000000008fffd010000680000",
        "0038200f00000000000000000000000000000000000008000001000000000000000000000008000000000000095ba140",
        "00ca00000000000000000000000000000000000000000000000000000000000000000000000800082000000000000008",
        "fffdffff008800000038084f0000000000000000000000000000000000000800001100000a0a01000000000000000035",
        "000000000a7d8c0000c90000000000000000000000000000000000000000000000000000000000000000000000060008",
        "cb00710b000400100200000000ff0000000000000009000803e80000000a000807d00000000000080001000000780000",
        "0030204f00000000000000000000000000000000000008000006000000000000cb00710a00000016000000000b2564c0",
        "00c800000000000000000000000000000000000000000000000000000000000000000000000700080a01000200050010",
        "020000000002000000000000000000080002000000600000003800ea0001020000000001000000000000000000000800",
        "000000000a0100010000000000000000000000000c0a4680006400000000000000000000000000000000000000000000",
        "000000000000000000000000000000080002000000600000003820ff0000000000000000000000000000000000000000",
        "000000000000000000000000000000000000000516694e000000000000000000000000000000000000005eed00000000",
        "0000001200000000000005a700000008fffd0080",
    );

    #[test]
    fn hello_with_and_without_body() {
        let (h, m) = rt("0100000800000001");
        assert_eq!((h.xid, m), (1, Message::Hello(Bytes::new())));
        // A version bitmap element, as OpenFlow 1.3+ peers send: accepted and kept.
        let (_, m) = rt("01000010000000010001000800000012");
        assert_eq!(m, Message::Hello(hex("0001000800000012")));
        // An OpenFlow 1.3 peer's HELLO (version 4) decodes, keeping its version.
        let (h, m) = Message::decode(&hex("04000010000000010001000800000012")).unwrap();
        assert_eq!(h.version, 4);
        assert_eq!(m, Message::Hello(hex("0001000800000012")));
        // Other messages of version 4 are BAD_VERSION.
        assert!(Message::decode(&hex("0402000800000001")).is_err());
    }

    #[test]
    fn error_messages_typed() {
        let (h, m) = rt("0101001800000007000500000114000c00000007fffc0000");
        assert_eq!(h.xid, 7);
        let Message::Error(e) = m else { panic!() };
        assert_eq!(
            e.error,
            ErrorType::QueueOpFailed(QueueOpFailedCode::BadPort)
        );
        assert_eq!(e.data, hex("0114000c00000007fffc0000"));
        let (_, m) = rt("0101001c000000080001000401040010000000080000232000000000");
        let Message::Error(e) = m else { panic!() };
        assert_eq!(e.error, ErrorType::BadRequest(BadRequestCode::BadSubtype));
        // Unknown type and code kept.
        let (_, m) = rt("0101000c00000001b0c20007");
        let Message::Error(e) = m else { panic!() };
        assert_eq!(
            e.error,
            ErrorType::Unknown {
                error_type: 0xb0c2,
                code: 7
            }
        );
        assert!(e.data.is_empty());
    }

    #[test]
    fn echo_and_vendor() {
        let (_, m) = rt("0102000c0000000970696e67");
        assert_eq!(m, Message::EchoRequest(Bytes::from_static(b"ping")));
        let (_, m) = rt("0103000c0000000970696e67");
        assert_eq!(m, Message::EchoReply(Bytes::from_static(b"ping")));
        let (_, m) = rt("01040010000000080000232000000000");
        assert_eq!(
            m,
            Message::Vendor(VendorMsg {
                vendor: 0x2320,
                data: hex("00000000"),
            })
        );
        // Exactly 12 bytes: no data.
        let (_, m) = rt("0104000c0000000800002320");
        assert_eq!(
            m,
            Message::Vendor(VendorMsg {
                vendor: 0x2320,
                data: Bytes::new(),
            })
        );
        // Shorter than 12: BAD_LEN.
        let e = Message::decode(&hex("010400080000000a")).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::BadLength {
                expected: Expected::AtLeast(12),
                found: 8
            }
        );
        assert_eq!(e.ofp_error(), ErrorType::BadRequest(BadRequestCode::BadLen));
    }

    #[test]
    fn features() {
        assert_eq!(rt("0105000800000002").1, Message::FeaturesRequest);
        let (_, m) = rt(FEATURES_REPLY);
        let Message::FeaturesReply(f) = m else {
            panic!()
        };
        assert_eq!(f.datapath_id, 0xc1);
        assert_eq!(f.n_buffers, 0);
        assert_eq!(f.n_tables, 254);
        assert_eq!(
            f.capabilities,
            Capabilities::FLOW_STATS
                | Capabilities::TABLE_STATS
                | Capabilities::PORT_STATS
                | Capabilities::QUEUE_STATS
                | Capabilities::ARP_MATCH_IP
        );
        assert_eq!(f.actions.bits(), 0xfff);
        assert!(f.actions.contains(ActionBitmap::ENQUEUE));
        assert_eq!(f.ports.len(), 1);
        assert_eq!(f.ports[0].name, "cbr0");
        assert_eq!(f.ports[0].port_no, PortNo::LOCAL);
        // Unknown capability bits are kept.
        let mut b = hex(FEATURES_REPLY).to_vec();
        b[24] = 0x80;
        let (_, m) = Message::decode_slice(&b).unwrap();
        let Message::FeaturesReply(f) = m else {
            panic!()
        };
        assert_eq!(f.capabilities.bits() & 0x8000_0000, 0x8000_0000);
        // Ports not a multiple of 48: BAD_LEN.
        let e = Message::decode(&hex(
            "0106002100000002000000000000000000000000fe000000000000c700000fff00",
        ))
        .unwrap_err();
        assert_eq!(e.field, "features_reply.ports");
        assert_eq!(
            e.kind,
            DecodeErrorKind::BadLength {
                expected: Expected::MultipleOf(48),
                found: 1
            }
        );
    }

    #[test]
    fn switch_config() {
        assert_eq!(rt("0107000800000004").1, Message::GetConfigRequest);
        let (_, m) = rt("0108000c0000000400000080");
        assert_eq!(m, Message::GetConfigReply(SwitchConfig::default()));
        let (_, m) = rt("0109000c0000000300000080");
        assert_eq!(m, Message::SetConfig(SwitchConfig::default()));
        let (_, m) = rt("0109000c0000000300060040");
        assert_eq!(
            m,
            Message::SetConfig(SwitchConfig {
                flags: ConfigFlags {
                    frag: FragHandling::Reasm,
                    other_bits: 4
                },
                miss_send_len: 64
            })
        );
        // Wrong length for set_config.
        let e = Message::decode(&hex("0109000e000000030000008000ff")).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::BadLength {
                expected: Expected::Exactly(12),
                found: 14
            }
        );
    }

    #[test]
    fn packet_in_data_starts_at_byte_18_and_is_zero_copy() {
        let frame = hex(PACKET_IN_ARP);
        let (h, m) = rt(PACKET_IN_ARP);
        assert_eq!(h.xid, 0);
        let Message::PacketIn(p) = m else { panic!() };
        assert_eq!(p.buffer_id, NO_BUFFER);
        assert_eq!(p.total_len, 42);
        assert_eq!(p.in_port, PortNo(1));
        assert_eq!(p.reason, PacketInReason::Action);
        assert_eq!(p.data.len(), 42);
        // The Ethernet frame: broadcast destination, then ARP ethertype at 12.
        assert_eq!(&p.data[..6], &[0xff; 6]);
        assert_eq!(&p.data[12..14], &[0x08, 0x06]);
        // Decoding from Bytes slices the frame rather than copying it.
        let (_, m) = Message::decode(&frame).unwrap();
        let Message::PacketIn(p) = m else { panic!() };
        assert_eq!(p.data.as_ptr(), frame[18..].as_ptr());
        // A packet_in of exactly 18 bytes has empty data; 17 is too short.
        let (_, m) = rt("010a001200000000ffffffff000000010200");
        let Message::PacketIn(p) = m else { panic!() };
        assert!(p.data.is_empty());
        assert_eq!(p.reason, PacketInReason::Unknown(2));
        assert!(Message::decode(&hex("010a001100000000ffffffff0000000102")).is_err());
    }

    #[test]
    fn flow_removed() {
        let (_, m) = rt(FLOW_REMOVED);
        let Message::FlowRemoved(f) = m else { panic!() };
        assert!(f.r#match.is_icmp());
        assert_eq!(f.cookie, 0xabc);
        assert_eq!(f.priority, 500);
        assert_eq!(f.reason, FlowRemovedReason::IdleTimeout);
        assert_eq!(f.duration_sec, 2);
        assert_eq!(f.duration_nsec, 60_000_000);
        assert_eq!(f.idle_timeout, 2);
        assert_eq!((f.packet_count, f.byte_count), (0, 0));
    }

    #[test]
    fn port_status_and_port_mod() {
        let (_, m) = rt(PORT_STATUS);
        let Message::PortStatus(p) = m else { panic!() };
        assert_eq!(p.reason, PortReason::Modify);
        assert_eq!(p.desc.name, "cbr0");
        let (_, m) = rt("010f0020000000040002f23b7118256700000010000000100000000000000000");
        let Message::PortMod(p) = m else { panic!() };
        assert_eq!(p.port_no, PortNo(2));
        assert_eq!(p.hw_addr, MacAddr([0xf2, 0x3b, 0x71, 0x18, 0x25, 0x67]));
        assert_eq!(p.config, PortConfig::NO_FLOOD);
        assert_eq!(p.mask, PortConfig::NO_FLOOD);
        assert_eq!(p.advertise, PortFeatures::empty());
    }

    #[test]
    fn packet_out() {
        let frame = hex(PACKET_OUT);
        let (h, m) = rt(PACKET_OUT);
        assert_eq!(h.xid, 0x6f);
        let Message::PacketOut(p) = m else { panic!() };
        assert_eq!(p.buffer_id, NO_BUFFER);
        assert_eq!(p.in_port, PortNo(1));
        assert_eq!(
            p.actions,
            vec![Action::Output {
                port: PortNo::FLOOD,
                max_len: 0xffff
            }]
        );
        assert_eq!(p.data.len(), 42);
        assert_eq!(p.data[..], frame[24..]);
        // actions_len past the end of the message.
        let mut b = frame.to_vec();
        b[14..16].copy_from_slice(&0x0100u16.to_be_bytes());
        let e = Message::decode_slice(&b).unwrap_err();
        assert_eq!(e.field, "packet_out.actions_len");
        // actions_len covering part of an action.
        let mut b = frame.to_vec();
        b[14..16].copy_from_slice(&4u16.to_be_bytes());
        let e = Message::decode_slice(&b).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::BadActionLength { .. }));
    }

    #[test]
    fn flow_mod() {
        let (_, m) = rt(FLOW_MOD);
        let Message::FlowMod(f) = m else { panic!() };
        assert_eq!(f.command, FlowModCommand::Add);
        assert_eq!(f.priority, 100);
        assert_eq!(f.buffer_id, NO_BUFFER);
        assert_eq!(f.out_port, PortNo::NONE);
        assert_eq!(f.flags, FlowModFlags::empty());
        assert_eq!(f.actions, vec![Action::output(PortNo(2))]);
        assert_eq!(f.r#match.in_port, Some(PortNo(1)));
        assert_eq!(
            f.r#match.nw_src,
            Ipv4Match::exact(Ipv4Addr::new(10, 1, 0, 1))
        );
        // The fixture's bad-command flow_mod decodes faithfully (the switch rejects it).
        let (_, m) = rt(concat!(
            "010e00480000000e003fffff0000000000000000000000000000000000000000",
            "000000000000000000000000000000000000000000000000000700000000000d",
            "ffffffffffff0000",
        ));
        let Message::FlowMod(f) = m else { panic!() };
        assert_eq!(f.command, FlowModCommand::Unknown(7));
        assert!(f.r#match.nw_src.is_any());
        assert_eq!(f.r#match.nw_src.raw_wildcard_bits(), 63);
    }

    #[test]
    fn stats_requests() {
        let (_, m) = rt(FLOW_STATS_REQUEST);
        assert_eq!(
            m,
            Message::StatsRequest(StatsRequest::new(StatsRequestBody::Flow(
                FlowStatsRequest::all()
            )))
        );
        let (_, m) = rt("011000140000000200040000ffff000000000000");
        let Message::StatsRequest(s) = m else {
            panic!()
        };
        assert_eq!(s.stats_type(), StatsType::Port);
        assert_eq!(
            s.body,
            StatsRequestBody::Port(crate::stats::PortStatsRequest::all()),
            "all ports is OFPP_NONE for port stats"
        );
        let (_, m) = rt("011000140000000200050000fffc0000ffffffff");
        let Message::StatsRequest(s) = m else {
            panic!()
        };
        assert_eq!(
            s.body,
            StatsRequestBody::Queue(crate::stats::QueueStatsRequest::all()),
            "all ports is OFPP_ALL and all queues OFPQ_ALL for queue stats"
        );
        assert_eq!(
            rt("0110000c0000000200000000").1.msg_type(),
            MessageType::StatsRequest
        );
        assert_eq!(
            rt("0110000c0000000200030000").1.msg_type(),
            MessageType::StatsRequest
        );
        // Unknown stats type and vendor stats kept raw.
        let (_, m) = rt("01100010000000020077000101020304");
        let Message::StatsRequest(s) = m else {
            panic!()
        };
        assert_eq!(
            s.body,
            StatsRequestBody::Unknown {
                stats_type: 0x77,
                body: hex("01020304")
            }
        );
        assert_eq!(s.flags.bits(), 1);
        let (_, m) = rt("0110001400000002ffff00000000232000000001");
        let Message::StatsRequest(s) = m else {
            panic!()
        };
        assert_eq!(s.stats_type(), StatsType::Vendor);
        // A desc request with a body (the fixture's bad request): BAD_LEN like OVS says.
        let e = Message::decode(&hex(
            "011000380000001000000000003fffff000000000000000000000000000000000000000000000000000000000000000000000000ff00ffff"
        ))
        .unwrap_err();
        assert_eq!(e.ofp_error(), ErrorType::BadRequest(BadRequestCode::BadLen));
        assert_eq!(e.field, "stats_request.body");
        assert_eq!(e.offset, 12);
    }

    #[test]
    fn stats_replies() {
        let (_, m) = rt("011100240000000200020000000000000000001300000000000005ed0000000b00000000");
        assert_eq!(
            m,
            Message::StatsReply(StatsReply::new(StatsReplyBody::Aggregate(AggregateStats {
                packet_count: 19,
                byte_count: 1517,
                flow_count: 11
            })))
        );
        let (_, m) = rt("0111000c0000000200050000");
        assert_eq!(
            m,
            Message::StatsReply(StatsReply::new(StatsReplyBody::Queue(vec![])))
        );
        // Port stats: u64 counters only 4-byte aligned from the message start.
        let (_, m) = rt(concat!(
            "0111007400000002000400000001000000000000000000000000000b00000000",
            "000000110000000000000369000000000000056e000000000000000000000000",
            "0000000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000"
        ));
        let Message::StatsReply(s) = m else { panic!() };
        let StatsReplyBody::Port(ports) = s.body else {
            panic!()
        };
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].port_no, PortNo(1));
        assert_eq!((ports[0].rx_packets, ports[0].tx_packets), (11, 17));
        assert_eq!((ports[0].rx_bytes, ports[0].tx_bytes), (873, 1390));
        assert_eq!(ports[0].collisions, 0);
        let (_, m) = rt(FLOW_STATS_REPLY);
        let Message::StatsReply(s) = m else { panic!() };
        let StatsReplyBody::Flow(flows) = s.body else {
            panic!()
        };
        assert_eq!(flows.len(), 11);
        assert_eq!(flows[0].priority, 209);
        assert_eq!(flows[0].actions, vec![Action::output(PortNo(1))]);
        assert_eq!(flows[0].packet_count, 1);
        assert_eq!(flows[0].byte_count, 70);
        assert_eq!(flows[1].cookie, 0x1234);
        assert_eq!((flows[1].idle_timeout, flows[1].hard_timeout), (1, 3));
        assert_eq!(flows[1].actions, vec![Action::output(PortNo::NORMAL)]);
        assert_eq!(
            flows[5].r#match.dl_type,
            Some(ETH_TYPE_ARP),
            "priority=203,arp"
        );
        assert_eq!(flows[5].actions, vec![Action::to_controller(256)]);
        let last = &flows[10];
        assert_eq!(last.cookie, 0x5eed);
        assert_eq!((last.packet_count, last.byte_count), (18, 1447));
        assert_eq!(last.duration_sec, 5);
        // A flow stats entry whose length is below 88 is rejected, not looped on.
        let mut b = hex(FLOW_STATS_REPLY).to_vec();
        b[12..14].copy_from_slice(&0u16.to_be_bytes());
        let e = Message::decode_slice(&b).unwrap_err();
        assert_eq!(e.field, "flow_stats.length");
        assert_eq!(e.offset, 12);
        // Port stats not a multiple of 104.
        let e = Message::decode(&hex("0111000d000000020004000000")).unwrap_err();
        assert!(matches!(
            e.kind,
            DecodeErrorKind::BadLength {
                expected: Expected::MultipleOf(104),
                ..
            }
        ));
    }

    #[test]
    fn barrier_and_queue_config() {
        assert_eq!(rt("0112000800000006").1, Message::BarrierRequest);
        assert_eq!(rt("0113000800000006").1, Message::BarrierReply);
        // A barrier with a body is malformed.
        let e = Message::decode(&hex("011200090000000600")).unwrap_err();
        assert_eq!(e.ofp_error(), ErrorType::BadRequest(BadRequestCode::BadLen));
        let (_, m) = rt("0114000c0000000200010000");
        assert_eq!(
            m,
            Message::QueueGetConfigRequest(QueueGetConfigRequest { port: PortNo(1) })
        );
        let (_, m) = rt("01150010000000020001000000000000");
        assert_eq!(
            m,
            Message::QueueGetConfigReply(QueueGetConfigReply {
                port: PortNo(1),
                queues: vec![]
            })
        );
        // Queues with a min-rate property and an unknown property kept raw.
        let reply = QueueGetConfigReply {
            port: PortNo(3),
            queues: vec![
                PacketQueue {
                    queue_id: 1,
                    properties: vec![QueueProperty::MinRate(500)],
                },
                PacketQueue {
                    queue_id: 2,
                    properties: vec![
                        QueueProperty::Unknown {
                            property: 2,
                            data: Bytes::from_static(&[0, 0x64, 0, 0, 0, 0, 0, 0]),
                        },
                        QueueProperty::MinRate(1001),
                    ],
                },
            ],
        };
        let msg = Message::QueueGetConfigReply(reply);
        let b = msg.to_bytes(9).unwrap();
        assert_eq!(b.len(), 16 + (8 + 16) + (8 + 16 + 16));
        assert_eq!(Message::decode(&b).unwrap().1, msg);
        // A property with length 0: rejected (no infinite loop).
        let e = Message::decode(&hex(
            "0115002000000002000300000000000000000001001000000000000000000000",
        ))
        .unwrap_err();
        assert_eq!(e.field, "queue_prop.len");
        // min_rate with the wrong length.
        let e = Message::decode(&hex(
            "0115002000000002000300000000000000000001001000000001000800000000",
        ))
        .unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::BadLength {
                expected: Expected::Exactly(16),
                found: 8
            }
        );
        // A queue shorter than its header.
        let e =
            Message::decode(&hex("011500180000000200030000000000000000000100040000")).unwrap_err();
        assert_eq!(e.field, "packet_queue.len");
    }

    #[test]
    fn header_errors() {
        // Version 4 (an echo request): BAD_VERSION.
        let e = Message::decode(&hex("0402000800000001")).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::BadVersion { found: 4 });
        assert_eq!(
            e.ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadVersion)
        );
        // Type 99 (the fixture's invalid message): BAD_TYPE like OVS answered.
        let e = Message::decode(&hex("016300080000000a")).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::UnknownType { found: 99 });
        assert_eq!(
            e.ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadType)
        );
        // Header length below 8.
        let e = Message::decode(&hex("0100000400000001")).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::HeaderLength { found: 4 });
        assert!(e.is_fatal());
        // Header length disagrees with the frame.
        let e = Message::decode(&hex("010000090000000100aa")).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::LengthMismatch {
                header: 9,
                actual: 10
            }
        );
        // Shorter than a header.
        assert!(Message::decode(&hex("010000")).is_err());
        assert!(Message::decode(&Bytes::new()).is_err());
    }

    #[test]
    fn fixture_bad_requests_map_to_the_errors_ovs_sent() {
        // Unknown action type 0xeeee in a flow_mod: OVS said OFPBAC_BAD_TYPE.
        let e = Message::decode(&hex(concat!(
            "010e00500000000b003fffff0000000000000000000000000000000000000000",
            "000000000000000000000000000000000000000000000000000000000000000a",
            "ffffffffffff0000eeee000800000000",
        )))
        .unwrap_err();
        assert_eq!(e.ofp_error(), ErrorType::BadAction(BadActionCode::BadType));
        assert_eq!(e.offset, 72);
        // Output action with length 12: OVS said OFPBAC_BAD_LEN.
        let frame = hex(concat!(
            "010e00500000000d003fffff0000000000000000000000000000000000000000",
            "000000000000000000000000000000000000000000000000000000000000000c",
            "ffffffffffff00000000000c00010000",
        ));
        let e = Message::decode(&frame).unwrap_err();
        assert_eq!(e.ofp_error(), ErrorType::BadAction(BadActionCode::BadLen));
        // The reply carries the first 64 bytes of the request.
        let reply = Message::Error(e.error_reply(&frame));
        let b = reply.to_bytes(0xd).unwrap();
        assert_eq!(b.len(), 12 + 64);
        assert_eq!(&b[..12], &hex("0101004c0000000d00020001")[..]);
        assert_eq!(&b[12..], &frame[..64]);
    }

    #[test]
    fn every_prefix_of_every_fixture_is_an_error_not_a_panic() {
        for h in [
            FEATURES_REPLY,
            PACKET_IN_ARP,
            FLOW_REMOVED,
            PACKET_OUT,
            FLOW_MOD,
            PORT_STATUS,
            FLOW_STATS_REQUEST,
            FLOW_STATS_REPLY,
        ] {
            let full = hex(h);
            for n in 0..full.len() {
                let cut = full.slice(..n);
                assert!(Message::decode(&cut).is_err(), "prefix {n} of {h}");
                // With the header length patched to the cut length, still an error
                // (the fixed part or an element is cut), never a panic.
                if n >= 8 {
                    let mut b = cut.to_vec();
                    b[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                    let _ = Message::decode_slice(&b);
                }
            }
        }
    }

    fn sample_messages() -> Vec<Message> {
        let mut m = crate::Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_dst = Ipv4Match::prefix(Ipv4Addr::new(203, 0, 113, 0), 24);
        vec![
            Message::Hello(Bytes::from_static(&[0, 1, 0, 8, 0, 0, 0, 2])),
            Message::Error(ErrorMsg::hello_incompatible("only 1.0")),
            Message::EchoRequest(Bytes::from_static(b"abc")),
            Message::EchoReply(Bytes::new()),
            Message::Vendor(VendorMsg {
                vendor: 1,
                data: Bytes::from_static(b"xyz"),
            }),
            Message::FeaturesRequest,
            Message::FeaturesReply(SwitchFeatures::default()),
            Message::GetConfigRequest,
            Message::GetConfigReply(SwitchConfig::default()),
            Message::SetConfig(SwitchConfig::default()),
            Message::PacketIn(PacketIn {
                buffer_id: 5,
                total_len: 100,
                in_port: PortNo(3),
                reason: PacketInReason::NoMatch,
                data: Bytes::from_static(&[1, 2, 3]),
            }),
            Message::FlowRemoved(FlowRemoved {
                r#match: m,
                cookie: u64::MAX,
                priority: 7,
                reason: FlowRemovedReason::Unknown(9),
                duration_sec: 1,
                duration_nsec: 2,
                idle_timeout: 3,
                packet_count: 4,
                byte_count: 5,
            }),
            Message::PortStatus(PortStatus {
                reason: PortReason::Unknown(5),
                desc: crate::PhyPort::default(),
            }),
            Message::PacketOut(PacketOut {
                buffer_id: NO_BUFFER,
                in_port: PortNo::CONTROLLER,
                actions: vec![Action::output(PortNo::TABLE), Action::StripVlan].into(),
                data: Bytes::from_static(&[9; 60]),
            }),
            Message::FlowMod(FlowMod::add(m, 10, vec![Action::SetNwTos(4)])),
            Message::PortMod(PortMod {
                port_no: PortNo(1),
                hw_addr: MacAddr::BROADCAST,
                config: PortConfig::NO_FWD,
                mask: PortConfig::all(),
                advertise: PortFeatures::F_1GB_FD,
            }),
            Message::StatsRequest(StatsRequest::new(StatsRequestBody::Aggregate(
                FlowStatsRequest::all(),
            ))),
            Message::StatsReply(StatsReply {
                flags: StatsReplyFlags::MORE,
                body: StatsReplyBody::Desc(crate::stats::DescStats {
                    mfr_desc: "m".into(),
                    hw_desc: "h".into(),
                    sw_desc: "s".into(),
                    serial_num: "1".into(),
                    dp_desc: "d".into(),
                }),
            }),
            Message::BarrierRequest,
            Message::BarrierReply,
            Message::QueueGetConfigRequest(QueueGetConfigRequest { port: PortNo::ALL }),
            Message::QueueGetConfigReply(QueueGetConfigReply {
                port: PortNo(1),
                queues: vec![],
            }),
        ]
    }

    #[test]
    fn every_type_round_trips_with_exact_length() {
        let msgs = sample_messages();
        let mut seen = std::collections::BTreeSet::new();
        for (i, m) in msgs.iter().enumerate() {
            let xid = 1000 + i as u32;
            let mut b = BytesMut::from(&b"prefix"[..]);
            m.encode(xid, &mut b).unwrap();
            let frame = b.freeze().slice(6..);
            let h = Header::parse(&frame).unwrap();
            assert_eq!(usize::from(h.length), frame.len());
            assert_eq!(m.encoded_len(), frame.len(), "{m:?}");
            assert_eq!(h.version, OFP_VERSION);
            assert_eq!(h.msg_type, m.msg_type());
            let (h2, back) = Message::decode(&frame).unwrap();
            assert_eq!(h2.xid, xid);
            assert_eq!(&back, m);
            seen.insert(m.msg_type().to_u8());
        }
        assert_eq!(seen, (0..=21).collect());
    }

    #[test]
    fn from_bodies() {
        let f = FlowMod::add(crate::Match::any(), 1, vec![]);
        assert_eq!(Message::from(f.clone()), Message::FlowMod(f));
        let q = QueueGetConfigRequest { port: PortNo(1) };
        assert_eq!(
            Message::from(q).msg_type(),
            MessageType::QueueGetConfigRequest
        );
    }

    #[test]
    fn encoding_too_long_fails_without_writing() {
        let mut b = BytesMut::from(&b"keep"[..]);
        // Largest echo that fits.
        Message::EchoRequest(Bytes::from(vec![0u8; 65535 - 8]))
            .encode(1, &mut b)
            .unwrap();
        assert_eq!(b.len(), 4 + 65535);
        let mut b = BytesMut::from(&b"keep"[..]);
        let e = Message::EchoRequest(Bytes::from(vec![0u8; 65535 - 7]))
            .encode(1, &mut b)
            .unwrap_err();
        assert!(matches!(e, EncodeError::TooLong { len: 65536, .. }));
        assert_eq!(&b[..], b"keep");
        // Too many actions.
        let f = FlowMod::add(crate::Match::any(), 1, vec![Action::StripVlan; 8200]);
        assert!(Message::FlowMod(f).encode(1, &mut b).is_err());
        assert_eq!(&b[..], b"keep");
        // A packet_out whose actions fit but data does not.
        let p = PacketOut {
            buffer_id: NO_BUFFER,
            in_port: PortNo::NONE,
            actions: Actions::new(),
            data: Bytes::from(vec![0; 70_000]),
        };
        assert!(Message::PacketOut(p).encode(1, &mut b).is_err());
        // A misaligned vendor action.
        let f = FlowMod::add(
            crate::Match::any(),
            1,
            vec![Action::Vendor {
                vendor: 1,
                data: Bytes::from_static(&[1]),
            }],
        );
        assert!(matches!(
            Message::FlowMod(f).encode(1, &mut b),
            Err(EncodeError::Misaligned { .. })
        ));
        assert_eq!(&b[..], b"keep");
    }

    #[test]
    fn large_stats_replies_split_across_messages() {
        let tables: Vec<_> = (0..2000u32)
            .map(|i| crate::stats::TableStats {
                table_id: i as u8,
                name: format!("t{i}"),
                wildcards: 0x3fffff,
                max_entries: 1_000_000,
                active_count: i,
                lookup_count: u64::from(i) * 3,
                matched_count: u64::from(i),
            })
            .collect();
        let reply = StatsReply::new(StatsReplyBody::Table(tables.clone()));
        assert!(Message::StatsReply(reply.clone()).to_bytes(1).is_err());
        let mut b = BytesMut::new();
        let n = Message::encode_stats_reply(&reply, 42, &mut b).unwrap();
        assert_eq!(n, 2);
        let mut framer = crate::Framer::new();
        framer.extend_from_slice(&b);
        let mut re = crate::StatsReassembler::default();
        let mut whole = None;
        let mut parts = 0;
        while let Some(r) = framer.next_message().unwrap() {
            let (h, m) = r.unwrap();
            assert_eq!(h.xid, 42);
            assert!(usize::from(h.length) <= 65535);
            let Message::StatsReply(part) = m else {
                panic!()
            };
            parts += 1;
            assert_eq!(part.more(), parts < n);
            if let Some(w) = re.push(h.xid, part).unwrap() {
                whole = Some(w);
            }
        }
        assert_eq!(parts, n);
        assert_eq!(whole.unwrap().body, StatsReplyBody::Table(tables));
        assert_eq!(re.held_bytes(), 0);
    }
}
