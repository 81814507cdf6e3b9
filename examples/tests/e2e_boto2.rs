//! Issue #6's end-to-end scenario driven by boto 2.49 with its original calls (EC2-Classic
//! addressing: public IPs and group names), against the in-process controller and real Open
//! vSwitch bridges, with real traffic between network namespaces (see `common/scenario.rs` for
//! what it covers).
//!
//! Needs root, iproute2, ethtool, Open vSwitch and `OVS_EC2_PYTHON` (a Python with
//! `scripts/requirements-test.txt`); `scripts/test.sh` provides them. A missing prerequisite
//! fails the test, naming it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::clients::PyDriver;
use common::scenario::{run, Bed};

#[test]
fn boto2_drives_elastic_ips_and_security_groups_through_open_vswitch() {
    let mut bed = Bed::start("e2e-botwo");
    let endpoint = bed.endpoint();
    let mut client = PyDriver::start("boto2", &endpoint);
    run(&mut bed, &mut client);
}
