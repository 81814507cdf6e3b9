//! The ovs-ec2 controller: `controller --help`.

use clap::Parser;
use examples::core::Controller;
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
    runtime.block_on(async move {
        let model = resolved.model;
        info!(
            switches = model.switches().len(),
            groups = model.groups().len(),
            instances = model.instances().len(),
            elastic_ips = model.elastic_ips().len(),
            state_file = %resolved.state_file.display(),
            "model loaded"
        );
        let controller = Controller::new(model, resolved.config);
        match examples::shell::spawn_with_store(controller, Box::new(store), &resolved.listen).await
        {
            Ok(_handle) => {
                let _ = tokio::signal::ctrl_c().await;
                info!("interrupted; exiting");
                ExitCode::SUCCESS
            }
            Err(e) => {
                error!(error = %e, "cannot listen");
                ExitCode::FAILURE
            }
        }
    })
}
