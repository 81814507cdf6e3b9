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
    /// The frame must be exactly as long as the header says. Payloads are zero-copy slices
    /// of `frame`. Nothing is normalised: values outside the specification are kept.
    pub fn decode(frame: &Bytes) -> Result<(Header, Message), DecodeError> {
        let header = Header::parse(frame)?;
        Self::decode_with(Reader::from_bytes(frame, header.msg_type), header)
    }

    /// Like [`Message::decode`], from a byte slice (payloads are copied).
    pub fn decode_slice(frame: &[u8]) -> Result<(Header, Message), DecodeError> {
        let header = Header::parse(frame)?;
        Self::decode_with(Reader::from_slice(frame, header.msg_type), header)
    }

    fn decode_with(mut r: Reader<'_>, header: Header) -> Result<(Header, Message), DecodeError> {
        header.validate()?;
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
        let msg = match t {
            MessageType::Hello => Message::Hello(r.rest("hello.body")?),
            MessageType::Error => {
                let error_type = r.u16("error.type")?;
                let code = r.u16("error.code")?;
                Message::Error(ErrorMsg {
                    error: ErrorType::from_wire(error_type, code),
                    data: r.rest("error.data")?,
                })
            }
            MessageType::EchoRequest => Message::EchoRequest(r.rest("echo_request.data")?),
            MessageType::EchoReply => Message::EchoReply(r.rest("echo_reply.data")?),
            MessageType::Vendor => Message::Vendor(VendorMsg::read(r)?),
            MessageType::FeaturesRequest => Message::FeaturesRequest,
            MessageType::FeaturesReply => Message::FeaturesReply(SwitchFeatures::read(r)?),
            MessageType::GetConfigRequest => Message::GetConfigRequest,
            MessageType::GetConfigReply => Message::GetConfigReply(SwitchConfig::read(r)?),
            MessageType::SetConfig => Message::SetConfig(SwitchConfig::read(r)?),
            MessageType::PacketIn => Message::PacketIn(PacketIn::read(r)?),
            MessageType::FlowRemoved => Message::FlowRemoved(FlowRemoved::read(r)?),
            MessageType::PortStatus => Message::PortStatus(PortStatus::read(r)?),
            MessageType::PacketOut => Message::PacketOut(PacketOut::read(r)?),
            MessageType::FlowMod => Message::FlowMod(FlowMod::read(r)?),
            MessageType::PortMod => Message::PortMod(PortMod::read(r)?),
            MessageType::StatsRequest => Message::StatsRequest(StatsRequest::read(r)?),
            MessageType::StatsReply => Message::StatsReply(StatsReply::read(r)?),
            MessageType::BarrierRequest => Message::BarrierRequest,
            MessageType::BarrierReply => Message::BarrierReply,
            MessageType::QueueGetConfigRequest => {
                Message::QueueGetConfigRequest(QueueGetConfigRequest::read(r)?)
            }
            MessageType::QueueGetConfigReply => {
                Message::QueueGetConfigReply(QueueGetConfigReply::read(r)?)
            }
            MessageType::Unknown(found) => {
                return Err(r.error_at("header.type", 1, DecodeErrorKind::UnknownType { found }))
            }
        };
        r.finish("body")?;
        Ok((header, msg))
    }

    /// Append the message, header included, to `dst`, with this xid and the exact length
    /// in the header. On error nothing is appended.
    ///
    /// Fails (never panics) when the message would exceed 65535 bytes or holds a value that
    /// cannot be encoded (a vendor action whose length is not a multiple of 8...).
    pub fn encode(&self, xid: u32, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let start = dst.len();
        let result = self.encode_inner(xid, dst, start);
        if result.is_err() {
            dst.truncate(start);
        }
        result
    }

    fn encode_inner(&self, xid: u32, dst: &mut BytesMut, start: usize) -> Result<(), EncodeError> {
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
    pub fn to_bytes(&self, xid: u32) -> Result<Bytes, EncodeError> {
        let mut b = BytesMut::new();
        self.encode(xid, &mut b)?;
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
        let start = dst.len();
        for part in &parts {
            if let Err(e) = Message::StatsReply(part.clone()).encode(xid, dst) {
                dst.truncate(start);
                return Err(e);
            }
        }
        Ok(parts.len())
    }
}
