//! Issue #6's end-to-end scenario driven by the AWS CLI v1, against the in-process controller
//! and real Open vSwitch bridges, with real traffic between network namespaces (see
//! `common/scenario.rs` for what it covers).
//!
//! Needs root, iproute2, ethtool, Open vSwitch and `OVS_EC2_PYTHON` (a Python with
//! `scripts/requirements-test.txt`); `scripts/test.sh` provides them. A missing prerequisite
//! fails the test, naming it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::clients::AwsCli;
use common::scenario::{run, Bed};

#[test]
fn awscli_drives_elastic_ips_and_security_groups_through_open_vswitch() {
    let mut bed = Bed::start("e2e-cli");
    let endpoint = bed.endpoint();
    let mut client = AwsCli::new(&endpoint);
    run(&mut bed, &mut client);
}
