//! ARP parsing, reply synthesis and gratuitous announcements for SDN controllers.
//!
//! This crate is being built (see the project's issues); it is an empty placeholder for now.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
