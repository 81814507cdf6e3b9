//! The load generator against the real controller (the tokio shell around the core,
//! in-process, over loopback TCP) and against the do-nothing responder: what comes back is
//! checked message by message; no timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use examples::core::sim_switch::test_settings;
use examples::loadgen::fleet::Fleet;
use examples::loadgen::{compare, CompareConfig, LoadConfig, Mode, Report};
use std::process::Command;
use std::time::Duration;

/// What holds for any run: every response answered a packet_in sent (the frame came back
/// unchanged), nothing malformed, no OpenFlow error, nothing left unanswered.
fn sound(r: &Report) {
    let t = &r.totals;
    assert!(r.window.responses > 0, "{r}");
    assert_eq!(r.outstanding, 0, "{r}");
    assert_eq!(t.responses, t.packet_ins, "{t:?}");
    assert_eq!(
        t.errors + t.malformed + t.mismatched_packet_outs + t.other,
        0,
        "{t:?}"
    );
    assert_eq!(t.packet_outs, t.responses + t.other_packet_outs, "{t:?}");
    // Packet_outs answering nothing are gratuitous ARPs only.
    assert_eq!(t.other_packet_outs, t.arp_packet_outs, "{t:?}");
    assert!(r.window.responses <= r.window.packet_ins);
}

fn config(mode: Mode, ms: u64) -> CompareConfig {
    CompareConfig {
        switches: 2,
        instances: 3,
        load: LoadConfig {
            mode,
            duration: Duration::from_millis(ms),
            ..LoadConfig::default()
        },
    }
}

#[test]
fn throughput_against_controller_and_responder() {
    let cfg = config(Mode::Throughput { window: 16 }, 500);
    let c = compare(&cfg).unwrap();
    sound(&c.controller);
    sound(&c.responder);

    let ctl = &c.controller.totals;
    // Two pinholes per new connection, nothing else during the load: the other flow_mods
    // are the reconciliation of the compiled tables at set-up.
    assert_eq!(ctl.pinhole_adds, 2 * ctl.packet_ins, "{ctl:?}");
    let fleet = Fleet::new(test_settings(), 1, cfg.switches, cfg.instances).unwrap();
    let tables = netrules::compile(&fleet.model().unwrap(), &Default::default());
    let compiled: usize = tables.values().map(Vec::len).sum();
    assert_eq!(ctl.flow_mods - ctl.pinhole_adds, compiled as u64, "{ctl:?}");
    assert_eq!(
        c.controller.window.flow_mods,
        c.controller.window.pinhole_adds
    );
    // The controller saw exactly what the switches sent, and tracks each connection.
    assert_eq!(c.controller_counters.packet_ins, ctl.packet_ins);
    assert_eq!(c.tracked as u64, ctl.packet_ins);
    assert_eq!(c.controller_counters.switch_errors, 0);
    assert_eq!(c.controller_counters.malformed, 0);

    // The responder installs nothing and answers everything.
    let resp = &c.responder.totals;
    assert_eq!((resp.flow_mods, resp.other_packet_outs), (0, 0));
    assert_eq!(c.responder.latency.count(), c.responder.window.responses);
    assert!(c.ratio() > 0.0);
}

#[test]
fn latency_mode_keeps_one_outstanding() {
    let c = compare(&config(Mode::Latency, 300)).unwrap();
    for r in [&c.controller, &c.responder] {
        sound(r);
        // One at a time: at most one unanswered per switch when the window closed.
        assert!(r.window.packet_ins <= r.window.responses + 2, "{r}");
        assert_eq!(r.latency.count(), r.window.responses);
        let (p50, p99) = (
            r.latency.quantile(0.5).unwrap(),
            r.latency.quantile(0.99).unwrap(),
        );
        assert!(p50 <= p99 && p99 <= r.latency.max().unwrap());
    }
    assert_eq!(
        c.controller.totals.pinhole_adds,
        2 * c.controller.totals.packet_ins
    );
}

#[test]
fn ofload_binary_self_test_and_config() {
    let exe = env!("CARGO_BIN_EXE_ofload");
    let out = Command::new(exe)
        .args([
            "--self-test",
            "--switches",
            "2",
            "--instances",
            "2",
            "--duration",
            "0.2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("controller: 2 switches"), "{text}");
    assert!(text.contains("\nresponder:  2 switches"), "{text}");
    assert!(text.contains("ratio controller/responder: "), "{text}");

    // The configuration it writes is one the controller's configuration loader accepts,
    // with the fleet's model.
    let dir = std::env::temp_dir().join(format!("ofload-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fleet.toml");
    let st = Command::new(exe)
        .args(["--switches", "3", "--instances", "2", "--write-config"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&path).unwrap();
    let file: examples::shell::cli::FileConfig = toml::from_str(&text).unwrap();
    let model = file.model.unwrap();
    let fleet = Fleet::new(test_settings(), 1, 3, 2).unwrap();
    assert_eq!(
        serde_json::to_value(&model).unwrap(),
        serde_json::to_value(fleet.model().unwrap()).unwrap()
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // Bad arguments are refused with a message.
    let out = Command::new(exe)
        .args(["--switches", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(exe)
        .args(["--self-test", "--switches", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("0 switches"));
}

#[test]
fn null_responder_binary_answers_the_load() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_of-null-responder"))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr: std::net::SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .parse()
        .unwrap();
    let fleet = Fleet::new(test_settings(), 1, 2, 2).unwrap();
    let cfg = LoadConfig {
        duration: Duration::from_millis(200),
        ..LoadConfig::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let report = rt.block_on(examples::loadgen::run(addr, &fleet, &cfg));
    child.kill().unwrap();
    child.wait().unwrap();
    let report = report.unwrap();
    sound(&report);
    assert_eq!(report.totals.flow_mods, 0);
}
