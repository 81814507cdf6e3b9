//! The `controller` binary as users run it: `--help`, a configuration file with the model, a
//! simulated switch connecting over loopback TCP and getting the compiled table, one log line
//! per switch event, and a restart from the state file alone restoring the model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use examples::core::sim_switch::SimSwitch;
use examples::shell::cli::FileConfig;
use netrules::compile::{compile, CompileOptions};

const CONFIG: &str = r#"
[model.settings]
subnet = "10.0.0.0/24"
gateway = "10.0.0.1"
router_mac = "02:00:00:00:00:01"
public_gateway = "203.0.113.1"
public_gateway_mac = "02:00:00:00:00:02"
elastic_ip_mac = "02:00:00:00:00:03"

[[model.switches]]
dpid = 7
uplink = 1

[[model.groups]]
id = "sg-ssh"
name = "ssh"
owner = "111122223333"
description = "SSH from anywhere"
ingress = [{ protocol = { tcp = { from = 22, to = 22 } }, peer = { cidr = "0.0.0.0/0" } }]
egress = [{ protocol = "any", peer = { cidr = "0.0.0.0/0" } }]

[[model.instances]]
id = "i-0a1b2c3d"
owner = "111122223333"
mac = "02:00:0a:00:00:02"
ip = "10.0.0.2"
groups = ["sg-ssh"]
"#;

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_controller"))
            .args(["--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
            .args(["--log-level", "info"])
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut r = Running {
            child,
            lines,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = r.wait_line("listening for OpenFlow switches");
        let at = line.find("local=").expect("the address is logged") + "local=".len();
        r.addr = line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        r
    }

    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} in time"),
            }
        }
    }
}

/// Connect a simulated switch and shuttle bytes until the controller says it reconciled it.
fn connect_switch(r: &mut Running, sw: SimSwitch) -> SimSwitch {
    let s = TcpStream::connect(r.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    run_switch(r, sw, s)
}

/// Shuttle bytes between a simulated switch and `s` (with a short read timeout) until the
/// controller says it reconciled it.
fn run_switch(r: &mut Running, mut sw: SimSwitch, mut s: impl Read + Write) -> SimSwitch {
    s.write_all(&sw.hello()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = vec![0u8; 65536];
    let mut reconciled = false;
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                sw.receive(&buf[..n]);
                let out = sw.take_output();
                s.write_all(&out).unwrap();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if reconciled {
                    // Everything answered and nothing more arrives.
                    return sw;
                }
            }
            Err(e) => panic!("{e}"),
        }
        while let Ok(line) = r.lines.try_recv() {
            if line.contains("flows reconciled") {
                assert!(line.contains("dpid=0000000000000007"), "{line}");
                reconciled = true;
            }
        }
    }
    panic!("the switch was not reconciled in time");
}

/// The number of flows switch 7 gets from `CONFIG`'s model with its instance bound to port 3.
fn bound_table_len() -> usize {
    let mut bound = FileConfig::parse(CONFIG).unwrap().model.unwrap();
    bound
        .attach(
            &netrules::model::InstanceId::new("i-0a1b2c3d").unwrap(),
            Some(netrules::model::Attachment {
                switch: 7,
                port: openflow_proto::PortNo(3),
            }),
        )
        .unwrap();
    compile(&bound, &CompileOptions::default())[&7].len()
}

#[test]
fn help_names_the_options() {
    let out = Command::new(env!("CARGO_BIN_EXE_controller"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--config",
        "--state-file",
        "--pinhole-idle-timeout",
        "--port-budget",
        "--subnet",
    ] {
        assert!(text.contains(flag), "{flag} in {text}");
    }
}

#[test]
fn a_bad_configuration_is_refused_with_its_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_controller"))
        .args([
            "--gateway",
            "192.168.0.1",
            "--state-file",
            "/nonexistent-dir/x.sqlite3",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("network settings"), "{text}");
}

#[test]
fn configured_model_is_installed_and_restored_from_the_state_file() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("controller.toml");
    let state = dir.join("state.sqlite3");
    let _ = std::fs::remove_file(&state);
    std::fs::write(&config, CONFIG).unwrap();
    let model = FileConfig::parse(CONFIG).unwrap().model.unwrap();
    let ports = [(1, "uplink"), (3, "i-0a1b2c3d")];

    let mut first = Running::start(&[
        "--config",
        config.to_str().unwrap(),
        "--state-file",
        state.to_str().unwrap(),
    ]);
    let sw = connect_switch(&mut first, SimSwitch::new(7, &ports));
    let want = bound_table_len();
    assert_eq!(sw.table().len(), want);
    assert!(want > compile(&model, &CompileOptions::default())[&7].len());
    drop(first);

    // Restart from the state file alone: the same table.
    let mut second = Running::start(&["--state-file", state.to_str().unwrap()]);
    let sw = connect_switch(&mut second, SimSwitch::new(7, &ports));
    assert_eq!(sw.table().len(), want);
    drop(second);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_switch_on_the_unix_socket_listener_gets_its_table() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-bin-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("controller.toml");
    let state = dir.join("state.sqlite3");
    let socket = dir.join("ctl.sock");
    let _ = std::fs::remove_file(&state);
    std::fs::write(&config, CONFIG).unwrap();
    let listen = format!("unix:{}", socket.display());
    let mut r = Running::start(&[
        "--config",
        config.to_str().unwrap(),
        "--state-file",
        state.to_str().unwrap(),
        "--listen",
        &listen,
    ]);
    // The TCP listener first (Running::start read it), then the unix one.
    let line = r.wait_line("listening for OpenFlow switches");
    assert!(line.contains(socket.to_str().unwrap()), "{line}");
    let s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let sw = run_switch(
        &mut r,
        SimSwitch::new(7, &[(1, "uplink"), (3, "i-0a1b2c3d")]),
        s,
    );
    assert_eq!(sw.table().len(), bound_table_len());
    drop(r);
    std::fs::remove_dir_all(&dir).unwrap();
}
