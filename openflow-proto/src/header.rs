//! The 8-byte OpenFlow header (`ofp_header`) and the message types of OpenFlow 1.0.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::OFP_VERSION;
use bytes::BufMut;

/// An OpenFlow 1.0 message type (`ofp_type`), with unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MessageType {
    /// `OFPT_HELLO` (0).
    Hello,
    /// `OFPT_ERROR` (1).
    Error,
    /// `OFPT_ECHO_REQUEST` (2).
    EchoRequest,
    /// `OFPT_ECHO_REPLY` (3).
    EchoReply,
    /// `OFPT_VENDOR` (4).
    Vendor,
    /// `OFPT_FEATURES_REQUEST` (5).
    FeaturesRequest,
    /// `OFPT_FEATURES_REPLY` (6).
    FeaturesReply,
    /// `OFPT_GET_CONFIG_REQUEST` (7).
    GetConfigRequest,
    /// `OFPT_GET_CONFIG_REPLY` (8).
    GetConfigReply,
    /// `OFPT_SET_CONFIG` (9).
    SetConfig,
    /// `OFPT_PACKET_IN` (10).
    PacketIn,
    /// `OFPT_FLOW_REMOVED` (11).
    FlowRemoved,
    /// `OFPT_PORT_STATUS` (12).
    PortStatus,
    /// `OFPT_PACKET_OUT` (13).
    PacketOut,
    /// `OFPT_FLOW_MOD` (14).
    FlowMod,
    /// `OFPT_PORT_MOD` (15).
    PortMod,
    /// `OFPT_STATS_REQUEST` (16).
    StatsRequest,
    /// `OFPT_STATS_REPLY` (17).
    StatsReply,
    /// `OFPT_BARRIER_REQUEST` (18).
    BarrierRequest,
    /// `OFPT_BARRIER_REPLY` (19).
    BarrierReply,
    /// `OFPT_QUEUE_GET_CONFIG_REQUEST` (20).
    QueueGetConfigRequest,
    /// `OFPT_QUEUE_GET_CONFIG_REPLY` (21).
    QueueGetConfigReply,
    /// A type outside OpenFlow 1.0 (22-255), kept as decoded.
    Unknown(u8),
}

impl MessageType {
    /// From the wire value.
    #[inline]
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => MessageType::Hello,
            1 => MessageType::Error,
            2 => MessageType::EchoRequest,
            3 => MessageType::EchoReply,
            4 => MessageType::Vendor,
            5 => MessageType::FeaturesRequest,
            6 => MessageType::FeaturesReply,
            7 => MessageType::GetConfigRequest,
            8 => MessageType::GetConfigReply,
            9 => MessageType::SetConfig,
            10 => MessageType::PacketIn,
            11 => MessageType::FlowRemoved,
            12 => MessageType::PortStatus,
            13 => MessageType::PacketOut,
            14 => MessageType::FlowMod,
            15 => MessageType::PortMod,
            16 => MessageType::StatsRequest,
            17 => MessageType::StatsReply,
            18 => MessageType::BarrierRequest,
            19 => MessageType::BarrierReply,
            20 => MessageType::QueueGetConfigRequest,
            21 => MessageType::QueueGetConfigReply,
            v => MessageType::Unknown(v),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            MessageType::Hello => 0,
            MessageType::Error => 1,
            MessageType::EchoRequest => 2,
            MessageType::EchoReply => 3,
            MessageType::Vendor => 4,
            MessageType::FeaturesRequest => 5,
            MessageType::FeaturesReply => 6,
            MessageType::GetConfigRequest => 7,
            MessageType::GetConfigReply => 8,
            MessageType::SetConfig => 9,
            MessageType::PacketIn => 10,
            MessageType::FlowRemoved => 11,
            MessageType::PortStatus => 12,
            MessageType::PacketOut => 13,
            MessageType::FlowMod => 14,
            MessageType::PortMod => 15,
            MessageType::StatsRequest => 16,
            MessageType::StatsReply => 17,
            MessageType::BarrierRequest => 18,
            MessageType::BarrierReply => 19,
            MessageType::QueueGetConfigRequest => 20,
            MessageType::QueueGetConfigReply => 21,
            MessageType::Unknown(v) => v,
        }
    }

    /// The specification's name (`OFPT_FLOW_MOD`...); `OFPT_UNKNOWN` for unknown types.
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::Hello => "OFPT_HELLO",
            MessageType::Error => "OFPT_ERROR",
            MessageType::EchoRequest => "OFPT_ECHO_REQUEST",
            MessageType::EchoReply => "OFPT_ECHO_REPLY",
            MessageType::Vendor => "OFPT_VENDOR",
            MessageType::FeaturesRequest => "OFPT_FEATURES_REQUEST",
            MessageType::FeaturesReply => "OFPT_FEATURES_REPLY",
            MessageType::GetConfigRequest => "OFPT_GET_CONFIG_REQUEST",
            MessageType::GetConfigReply => "OFPT_GET_CONFIG_REPLY",
            MessageType::SetConfig => "OFPT_SET_CONFIG",
            MessageType::PacketIn => "OFPT_PACKET_IN",
            MessageType::FlowRemoved => "OFPT_FLOW_REMOVED",
            MessageType::PortStatus => "OFPT_PORT_STATUS",
            MessageType::PacketOut => "OFPT_PACKET_OUT",
            MessageType::FlowMod => "OFPT_FLOW_MOD",
            MessageType::PortMod => "OFPT_PORT_MOD",
            MessageType::StatsRequest => "OFPT_STATS_REQUEST",
            MessageType::StatsReply => "OFPT_STATS_REPLY",
            MessageType::BarrierRequest => "OFPT_BARRIER_REQUEST",
            MessageType::BarrierReply => "OFPT_BARRIER_REPLY",
            MessageType::QueueGetConfigRequest => "OFPT_QUEUE_GET_CONFIG_REQUEST",
            MessageType::QueueGetConfigReply => "OFPT_QUEUE_GET_CONFIG_REPLY",
            MessageType::Unknown(_) => "OFPT_UNKNOWN",
        }
    }
}

/// The OpenFlow header (`ofp_header`), as found on the wire: nothing is validated by
/// [`Header::parse`] except that 8 bytes are present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The version byte (0x01 for OpenFlow 1.0).
    pub version: u8,
    /// The message type.
    pub msg_type: MessageType,
    /// The length of the whole message, header included.
    pub length: u16,
    /// The transaction id.
    pub xid: u32,
}

impl Header {
    /// Size of the header on the wire.
    pub const LEN: usize = 8;

    /// Read a header from the first 8 bytes of `buf`, without validating it.
    #[inline]
    pub fn parse(buf: &[u8]) -> Result<Header, DecodeError> {
        match buf.get(..Self::LEN) {
            Some(&[version, t, l0, l1, x0, x1, x2, x3]) => Ok(Header {
                version,
                msg_type: MessageType::from_u8(t),
                length: u16::from_be_bytes([l0, l1]),
                xid: u32::from_be_bytes([x0, x1, x2, x3]),
            }),
            _ => Err(DecodeError::new(
                buf.get(1)
                    .map_or(MessageType::Unknown(0xff), |&t| MessageType::from_u8(t)),
                "header",
                0,
                DecodeErrorKind::Truncated {
                    needed: Self::LEN,
                    available: buf.len(),
                },
            )),
        }
    }

    /// The xid of a message, if `buf` holds at least its 8-byte header (for replying to a
    /// message that could not be decoded).
    pub fn peek_xid(buf: &[u8]) -> Option<u32> {
        Header::parse(buf).ok().map(|h| h.xid)
    }

    /// Check what the decoder requires of a header: version 0x01, a known type and a
    /// length of at least 8.
    #[inline]
    pub fn validate(&self) -> Result<(), DecodeError> {
        let err = |field, kind| DecodeError::new(self.msg_type, field, 0, kind);
        if usize::from(self.length) < Self::LEN {
            return Err(DecodeError::new(
                self.msg_type,
                "header.length",
                2,
                DecodeErrorKind::HeaderLength { found: self.length },
            ));
        }
        if self.version != OFP_VERSION {
            return Err(err(
                "header.version",
                DecodeErrorKind::BadVersion {
                    found: self.version,
                },
            ));
        }
        if let MessageType::Unknown(found) = self.msg_type {
            return Err(DecodeError::new(
                self.msg_type,
                "header.type",
                1,
                DecodeErrorKind::UnknownType { found },
            ));
        }
        Ok(())
    }

    /// Write the header.
    #[inline]
    pub fn encode(&self, dst: &mut impl BufMut) {
        let [l0, l1] = self.length.to_be_bytes();
        let [x0, x1, x2, x3] = self.xid.to_be_bytes();
        dst.put_slice(&[self.version, self.msg_type.to_u8(), l0, l1, x0, x1, x2, x3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        for v in 0..=255u8 {
            let t = MessageType::from_u8(v);
            assert_eq!(t.to_u8(), v);
            assert_eq!(matches!(t, MessageType::Unknown(_)), v > 21);
        }
        assert_eq!(MessageType::from_u8(14), MessageType::FlowMod);
        assert_eq!(MessageType::FlowMod.name(), "OFPT_FLOW_MOD");
    }

    #[test]
    fn parse_and_validate() {
        let h = Header::parse(&[1, 0, 0, 8, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            h,
            Header {
                version: 1,
                msg_type: MessageType::Hello,
                length: 8,
                xid: 1
            }
        );
        h.validate().unwrap();
        let mut v = Vec::new();
        h.encode(&mut v);
        assert_eq!(v, [1, 0, 0, 8, 0, 0, 0, 1]);
        let short = Header::parse(&[1, 14, 0]).unwrap_err();
        assert_eq!(short.msg_type, MessageType::FlowMod);
        assert_eq!(
            short.kind,
            DecodeErrorKind::Truncated {
                needed: 8,
                available: 3
            }
        );
        let bad = Header::parse(&[1, 0, 0, 7, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            bad.validate().unwrap_err().kind,
            DecodeErrorKind::HeaderLength { found: 7 }
        );
        let v4 = Header::parse(&[4, 0, 0, 8, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            v4.validate().unwrap_err().kind,
            DecodeErrorKind::BadVersion { found: 4 }
        );
        let t99 = Header::parse(&[1, 99, 0, 8, 0, 0, 0, 1]).unwrap();
        assert_eq!(
            t99.validate().unwrap_err().kind,
            DecodeErrorKind::UnknownType { found: 99 }
        );
        assert_eq!(Header::peek_xid(&[1, 99, 0, 8, 0, 0, 0, 0xa]), Some(0xa));
    }
}
