//! A complete, exact, panic-free OpenFlow 1.0 wire codec.
//!
//! The crate is modelled on the `wire` module of smoltcp: typed values for every message,
//! match and action, a bounded cursor for decoding that cannot overrun, and encoders that
//! emit into a caller's buffer. Constants are enums with an `Unknown` case so that values
//! outside the specification survive a decode/encode round trip.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod action;
pub mod display;
pub mod flow_match;
pub mod flow_mod;
pub mod mac;
pub mod port;

pub use action::{Action, ActionValueError};
pub use flow_match::{Ipv4Match, Match, VlanMatch};
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags, NO_BUFFER};
pub use mac::MacAddr;
pub use port::PortNo;

/// The OpenFlow wire version this crate speaks (OpenFlow 1.0).
pub const OFP_VERSION: u8 = 0x01;
