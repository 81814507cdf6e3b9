//! `ovs-ec2-speed`: the controller's speed under real conditions, each measurement next to a
//! baseline measured in the same run (see `examples::speed`). Needs root and Open vSwitch
//! (`eip-move`, `rules`, `startup`) or `OVS_EC2_PYTHON` naming a Python with moto (`api`).
//!
//! ```text
//! ovs-ec2-speed eip-move --iterations 20     # EC2 API call -> first packet at the new host
//! ovs-ec2-speed rules --iterations 20        # authorize -> open, revoke -> closed
//! ovs-ec2-speed startup --instances 10000    # connect -> full table, vs ovs-ofctl add-flows
//! ovs-ec2-speed api --seconds 3 --clients 8  # requests/s vs moto_server
//! ovs-ec2-speed all
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use examples::speed::{self, dataplane, print_table, Row, SpeedError};

/// Speed of the ovs-ec2 controller through real Open vSwitch and its EC2 API, against
/// baselines measured in the same run.
#[derive(Debug, Parser)]
#[command(name = "ovs-ec2-speed", version)]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Clone, Copy, clap::Args)]
struct Dataplane {
    /// Changes per path (EC2 API, controller handle, ovs-ofctl baseline).
    #[arg(long, default_value_t = 20)]
    iterations: usize,
    /// Interval of the probe's UDP stream, microseconds.
    #[arg(long, default_value_t = 1000)]
    interval_us: u64,
    /// Pause between changes, milliseconds.
    #[arg(long, default_value_t = 250)]
    settle_ms: u64,
}

#[derive(Debug, Clone, Copy, clap::Args)]
struct Startup {
    /// Instances on the switch.
    #[arg(long, default_value_t = 10_000)]
    instances: usize,
    /// Runs of each.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Connect the bridge through the test bed's relay to the controller's TCP address
    /// (as the other measurements do) instead of straight to its unix socket.
    #[arg(long)]
    relay: bool,
}

#[derive(Debug, Clone, Copy, clap::Args)]
struct Api {
    /// Seconds per workload and server.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent clients of the concurrent runs.
    #[arg(long, default_value_t = 8)]
    clients: usize,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Elastic IP moved between hypervisors: API call to the first packet delivered.
    EipMove(Dataplane),
    /// Authorize to the port open, revoke to the port closed.
    Rules(Dataplane),
    /// Flow installation at start-up, against ovs-ofctl add-flows of the same flows.
    Startup(Startup),
    /// EC2 API requests per second, against moto's server.
    Api(Api),
    /// Everything, with the defaults.
    All,
}

fn dataplane_options(d: Dataplane) -> dataplane::Options {
    dataplane::Options {
        iterations: d.iterations,
        interval: Duration::from_micros(d.interval_us),
        settle: Duration::from_millis(d.settle_ms),
        ..dataplane::Options::default()
    }
}

fn run(what: What) -> Result<Vec<Row>, SpeedError> {
    match what {
        What::EipMove(d) => dataplane::eip_move(&dataplane_options(d)),
        What::Rules(d) => dataplane::rules(&dataplane_options(d)),
        What::Startup(s) => speed::startup::startup(&speed::startup::Options {
            instances: s.instances,
            runs: s.runs,
            relay: s.relay,
        }),
        What::Api(a) => speed::api::api(&speed::api::Options {
            duration: Duration::from_secs_f64(a.seconds),
            clients: a.clients,
        }),
        What::All => {
            let mut rows = dataplane::eip_move(&dataplane::Options::default())?;
            rows.extend(dataplane::rules(&dataplane::Options::default())?);
            rows.extend(speed::startup::startup(&speed::startup::Options::default())?);
            rows.extend(speed::api::api(&speed::api::Options::default())?);
            Ok(rows)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.what) {
        Ok(rows) => {
            print_table(
                "median / p90 (n samples); ratio = result / baseline (medians; for rates, ours / theirs)",
                &rows,
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ovs-ec2-speed: {e}");
            ExitCode::FAILURE
        }
    }
}
