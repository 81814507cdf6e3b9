//! The controller binaries assembled from the workspace's libraries (to come: see the issues),
//! and the end-to-end [`testbed`] their tests run on: a private Open vSwitch and network
//! namespaces.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod testbed;
