//! EC2-style elastic IPs and security groups, compiled to OpenFlow 1.0 flows.
//!
//! This crate is being built (see the project's issues).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod packet;
pub mod sim;
#[cfg(feature = "proptest")]
pub mod strategies;

pub use packet::Packet;
