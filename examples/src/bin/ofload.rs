//! `ofload`: a cbench-style OpenFlow 1.0 load generator (`ofload --help`).
//!
//! Against a running controller:
//!
//! ```text
//! ofload --switches 16 --write-config fleet.toml      # the model the controller must serve
//! controller -c fleet.toml --listen 127.0.0.1:6653
//! ofload --controller 127.0.0.1:6653 --switches 16 --mode throughput --duration 5
//! ```
//!
//! Or everything in one process, the real controller next to a do-nothing responder:
//!
//! ```text
//! ofload --self-test --switches 16 --duration 3
//! ```

use clap::{Parser, ValueEnum};
use examples::core::sim_switch::test_settings;
use examples::loadgen::fleet::Fleet;
use examples::loadgen::{compare, run, CompareConfig, LoadConfig, Mode};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ModeArg {
    /// Up to --window packet_ins outstanding per switch.
    Throughput,
    /// One packet_in outstanding per switch; latency recorded.
    Latency,
}

/// Emulated OpenFlow 1.0 switches sending packet_ins (each a new outbound TCP connection of
/// one of their instances) to a controller, counting flow_mods, packet_outs and responses.
#[derive(Debug, Parser)]
#[command(name = "ofload", version)]
struct Args {
    /// The controller to load (host:port).
    #[arg(long, value_name = "ADDR", required_unless_present_any = ["self_test", "write_config"])]
    controller: Option<SocketAddr>,
    /// Run the in-process controller and the do-nothing responder, one after the other,
    /// and print both rates and their ratio.
    #[arg(long, conflicts_with = "controller")]
    self_test: bool,
    /// Write a controller configuration file (TOML) with the model that serves these
    /// switches, then exit.
    #[arg(long, value_name = "PATH")]
    write_config: Option<PathBuf>,
    /// Emulated switches.
    #[arg(long, default_value_t = 16)]
    switches: u32,
    /// Instances per switch.
    #[arg(long, default_value_t = 4)]
    instances: u16,
    /// Datapath id of the first switch (the others follow).
    #[arg(long, default_value_t = 1)]
    first_dpid: u64,
    /// Throughput or latency.
    #[arg(long, value_enum, default_value_t = ModeArg::Throughput)]
    mode: ModeArg,
    /// Packet_ins outstanding per switch in throughput mode.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds allowed for the switches to connect and be set up.
    #[arg(long, default_value_t = 10.0)]
    setup_timeout: f64,
}

fn seconds(name: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|e| format!("--{name} {s}: {e}"))
}

#[derive(serde::Serialize)]
struct ControllerFile {
    listen: Vec<SocketAddr>,
    model: netrules::model::Model,
}

fn main_inner(args: Args) -> Result<(), String> {
    let load = LoadConfig {
        mode: match args.mode {
            ModeArg::Throughput => Mode::Throughput {
                window: args.window.max(1),
            },
            ModeArg::Latency => Mode::Latency,
        },
        duration: seconds("duration", args.duration)?,
        setup_timeout: seconds("setup-timeout", args.setup_timeout)?,
        ..LoadConfig::default()
    };
    if args.self_test {
        if args.first_dpid != 1 {
            return Err("--self-test numbers its switches from 1".to_owned());
        }
        let c = compare(&CompareConfig {
            switches: args.switches,
            instances: args.instances,
            load,
        })
        .map_err(|e| e.to_string())?;
        println!("{c}");
        return Ok(());
    }
    let fleet = Fleet::new(
        test_settings(),
        args.first_dpid,
        args.switches,
        args.instances,
    )
    .map_err(|e| e.to_string())?;
    if let Some(path) = &args.write_config {
        let file = ControllerFile {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 6653))],
            model: fleet.model().map_err(|e| e.to_string())?,
        };
        let text = toml::to_string(&file).map_err(|e| format!("encoding the model: {e}"))?;
        std::fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!(
            "wrote {} ({} switches, {} instances each)",
            path.display(),
            args.switches,
            args.instances
        );
        return Ok(());
    }
    let addr = args
        .controller
        .ok_or_else(|| "--controller is required".to_owned())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let report = rt
        .block_on(run(addr, &fleet, &load))
        .map_err(|e| e.to_string())?;
    println!("{report}");
    if report.outstanding > 0 {
        println!(
            "{} packet_ins still unanswered after the drain",
            report.outstanding
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match main_inner(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ofload: {e}");
            ExitCode::from(2)
        }
    }
}
