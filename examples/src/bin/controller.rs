//! The ovs-ec2 controller: `controller --help`.

use clap::Parser;
use examples::shell::cli::Args;
use std::process::ExitCode;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let args = Args::parse();
    let mut resolved = match args.resolve() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("controller: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match resolved.open_state(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("controller: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&resolved.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("controller: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let state_file = resolved.state_file.clone();
    runtime.block_on(async move {
        let model = &resolved.model;
        info!(
            switches = model.switches().len(),
            groups = model.groups().len(),
            instances = model.instances().len(),
            elastic_ips = model.elastic_ips().len(),
            state_file = %state_file.display(),
            "model loaded"
        );
        let app = match examples::app::App::start(resolved, store).await {
            Ok(app) => app,
            Err(e) => {
                error!(error = %e, "cannot start");
                return ExitCode::FAILURE;
            }
        };
        if let Some(a) = &app.created_account {
            // Printed once, on stdout, for the operator (and scripts) to pick up.
            println!(
                "No API credentials were configured: created the first account {} (stored in {}; shown only now).\n  AWS_ACCESS_KEY_ID={}\n  AWS_SECRET_ACCESS_KEY={}\n  EC2 endpoint: http://{}/",
                a.owner,
                state_file.display(),
                a.access_key,
                a.secret_key,
                app.api
            );
        }
        info!(
            openflow = ?app.openflow, api = %app.api, pool = app.pool.len(),
            accounts = app.service.accounts().all().len(), "controller running"
        );
        let _ = tokio::signal::ctrl_c().await;
        info!("interrupted; exiting");
        app.shutdown().await;
        ExitCode::SUCCESS
    })
}
