//! The demo (`scripts/demo.sh` runs it) end to end, as a user sees it: it must finish with
//! every step as expected, show the boto 2 calls and what the outside host saw, and leave
//! nothing behind. It checks each observation itself and exits with 1 when one is wrong.
//!
//! Needs root, Open vSwitch and the other test bed tools, and a Python with boto 2.49
//! (`OVS_EC2_PYTHON`, or the workspace's `.venv`; `scripts/test.sh` sets both up): the demo
//! fails naming what is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

#[test]
fn the_demo_runs_every_step_as_expected_and_cleans_up() {
    let child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prefix = format!("oedemo{}-", child.id());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("every step did what it says"), "{stdout}");
    assert!(!stdout.contains("UNEXPECTED"), "{stdout}");
    // The original calls are shown as written, with boto 2's answers.
    for call in [
        ">>> conn.allocate_address().public_ip",
        ">>> web.authorize('tcp', 22, 22, '0.0.0.0/0')",
        ">>> conn.disassociate_address(ip)",
        ">>> conn.release_address(ip)",
    ] {
        assert!(stdout.contains(call), "{call} in\n{stdout}");
    }
    // What the outside host saw: blocked, then reaching the first instance, then the second.
    assert!(
        stdout.contains("no answer (dropped)  (as expected)"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("connected, arrived at i-").count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("source seen: 203.0.113.100"), "{stdout}");
    assert!(stdout.contains("ovs_ec2_switches_connected 2"), "{stdout}");
    // The secret key is not shown.
    assert!(stdout.contains("'<secret key>'"), "{stdout}");
    assert!(!stdout.contains("demoSecretKey"), "{stdout}");
    // Nothing left behind: no namespace, run directory or state directory of this run.
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let netns = String::from_utf8_lossy(&netns.stdout);
    assert!(!netns.contains(&prefix), "namespaces left: {netns}");
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(
        leftovers.is_empty(),
        "left in the temporary directory: {leftovers:?}"
    );
}
