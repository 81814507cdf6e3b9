//! A complete, exact, panic-free OpenFlow 1.0 wire codec.
//!
//! The crate is modelled on the `wire` module of smoltcp: typed values for every message,
//! match and action, a bounded cursor for decoding that cannot overrun, and encoders that
//! emit into a caller's buffer. Constants are enums with an `Unknown` case so that values
//! outside the specification survive a decode/encode round trip.
//!
//! - [`Message`] has a variant for each of OpenFlow 1.0's 22 message types;
//!   [`Message::decode`] reads a whole frame, [`Message::encode`] writes one with the
//!   exact length in its header.
//! - [`Actions`], the action list of a flow_mod, packet_out or flow stats entry: as decoded,
//!   the message's bytes (checked as strictly as every action is decoded; a short list copied
//!   in place, a long one a slice of the frame), so that decoding allocates nothing for it
//!   and encoding again gives the same bytes; as built, a
//!   `Vec<Action>` (`FlowMod::add(m, 100, vec![...])`). The two compare by their actions.
//! - [`Framer`] splits a byte stream into frames; one bad message never poisons the stream.
//! - [`DecodeError`] says which message, which field, where, what was expected and what
//!   was found, and which OpenFlow error the peer should get ([`DecodeError::ofp_error`],
//!   [`DecodeError::error_reply`]).
//! - [`Match::normalized`] applies OpenFlow 1.0's prerequisites the way Open vSwitch does,
//!   explicitly: decoding never normalises.
//! - [`Message::validate`] checks, explicitly, what a switch would refuse although it
//!   decodes (unknown commands, bad output ports, out-of-range arguments...), with the
//!   OpenFlow error to answer ([`ValidationError::ofp_error`]).
//! - [`stats::StatsReply::split`] and [`stats::StatsReassembler`] handle multi-part stats.
//!
//! # Example
//!
//! ```
//! use bytes::{Bytes, BytesMut};
//! use openflow_proto::{Action, FlowMod, Match, Message, PortNo};
//! use openflow_proto::flow_match::ETH_TYPE_IPV4;
//!
//! // A GET_CONFIG_REPLY from Open vSwitch 3.1: frags=normal miss_send_len=128.
//! let frame = Bytes::from_static(&[1, 8, 0, 12, 0, 0, 0, 4, 0, 0, 0, 128]);
//! let (header, msg) = Message::decode(&frame)?;
//! assert_eq!(header.xid, 4);
//! match msg {
//!     Message::GetConfigReply(config) => assert_eq!(config.miss_send_len, 128),
//!     other => panic!("unexpected {other:?}"),
//! }
//!
//! // Encode a flow_mod: IPv4 from port 1 goes out of port 2.
//! let mut m = Match::any();
//! m.in_port = Some(PortNo(1));
//! m.dl_type = Some(ETH_TYPE_IPV4);
//! let flow = FlowMod::add(m, 100, vec![Action::output(PortNo(2))]);
//! let mut buf = BytesMut::new();
//! Message::FlowMod(flow.clone()).encode(7, &mut buf)?;
//! assert_eq!(buf.len(), 72 + 8);
//! assert_eq!(&buf[..4], &[1, 14, 0, 80]);
//!
//! // And it decodes back to the same value.
//! let (_, back) = Message::decode(&buf.freeze())?;
//! assert_eq!(back, Message::FlowMod(flow));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Cargo features
//!
//! - `tokio` (off by default): `OfpCodec` (in [`framing`]), a
//!   `tokio_util::codec::{Decoder, Encoder}` for `Framed` streams: it decodes
//!   [`FrameResult`]s (one invalid message is an item, not the end of the stream) and
//!   encodes `(xid, Message)`.
//! - `serde` (off by default): `Serialize`/`Deserialize` for the value types [`MacAddr`]
//!   (as `"aa:bb:cc:dd:ee:ff"`), [`PortNo`] (as a number), [`Match`], [`Ipv4Match`],
//!   [`VlanMatch`], [`Action`], [`Actions`] (as a sequence of actions), [`FlowMod`],
//!   [`FlowModCommand`] and [`FlowModFlags`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod action;
pub mod actions;
mod codec;
pub mod display;
pub mod error;
pub mod error_msg;
pub mod flow_match;
pub mod flow_mod;
pub mod framing;
pub mod header;
pub mod mac;
pub mod message;
pub mod messages;
pub mod port;
pub mod queue;
pub mod stats;
pub mod validate;

pub use action::{Action, ActionType, ActionValueError};
pub use actions::Actions;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, Expected};
pub use error_msg::{ErrorMsg, ErrorType};
pub use flow_match::{DroppedFields, Ipv4Match, Match, VlanMatch};
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags, NO_BUFFER};
#[cfg(feature = "tokio")]
pub use framing::{CodecError, OfpCodec};
pub use framing::{FrameResult, Framer, InvalidMessage};
pub use header::{Header, MessageType};
pub use mac::MacAddr;
pub use message::Message;
pub use messages::{
    negotiate_version, ActionBitmap, Capabilities, ConfigFlags, FlowRemoved, FlowRemovedReason,
    FragHandling, PacketIn, PacketInReason, PacketInRef, PacketOut, SwitchConfig, SwitchFeatures,
    VendorMsg,
};
pub use port::{
    PhyPort, PortConfig, PortFeatures, PortMod, PortNo, PortReason, PortState, PortStatus, StpState,
};
pub use queue::{PacketQueue, QueueGetConfigReply, QueueGetConfigRequest, QueueProperty};
pub use stats::{StatsReassembler, StatsReply, StatsReplyBody, StatsRequest, StatsRequestBody};
pub use validate::ValidationError;

/// The OpenFlow wire version this crate speaks (OpenFlow 1.0).
pub const OFP_VERSION: u8 = 0x01;

// Sizes from the specification, checked at compile time.
const _: () = {
    assert!(header::Header::LEN == 8);
    assert!(flow_match::Match::WIRE_LEN == 40);
    assert!(port::PhyPort::WIRE_LEN == 48);
    assert!(messages::SwitchFeatures::FIXED_LEN == 32);
    assert!(flow_mod::FlowMod::FIXED_LEN == 72);
    assert!(messages::PacketIn::FIXED_LEN == 18);
    assert!(messages::PacketOut::FIXED_LEN == 16);
    assert!(messages::FlowRemoved::WIRE_LEN == 88);
    assert!(port::PortStatus::WIRE_LEN == 64);
    assert!(port::PortMod::WIRE_LEN == 32);
    assert!(error_msg::ErrorMsg::FIXED_LEN == 12);
    assert!(stats::StatsRequest::FIXED_LEN == 12);
    assert!(stats::StatsReply::FIXED_LEN == 12);
    assert!(stats::FlowStats::FIXED_LEN == 88);
    assert!(stats::PortStats::WIRE_LEN == 104);
    assert!(stats::TableStats::WIRE_LEN == 64);
    assert!(stats::DescStats::WIRE_LEN == 1056);
    assert!(stats::AggregateStats::WIRE_LEN == 24);
    assert!(stats::QueueStats::WIRE_LEN == 32);
    assert!(queue::PacketQueue::FIXED_LEN == 8);
    assert!(queue::QueueProperty::MIN_RATE_LEN == 16);
    assert!(messages::VendorMsg::FIXED_LEN == 12);
};
