//! The ovs-ec2 controller: `controller --help`.
//!
//! SIGTERM or SIGINT stops it gracefully: the API stops accepting connections, calls in
//! progress finish (for at most [`SHUTDOWN_GRACE`]), and it exits with status 0. Every
//! change was committed to the state file before it was answered, and the switches keep
//! their flows meanwhile (`fail_mode=secure`), so nothing is lost. A second signal during
//! the grace period exits at once.

use clap::Parser;
use examples::shell::cli::Args;
use std::process::ExitCode;
use std::time::Duration;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

/// How long a graceful shutdown waits for the API calls in progress.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Resolves on the first SIGTERM or SIGINT, with the signal's name.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

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
    let code = runtime.block_on(async move {
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
        if let Some(t) = &app.created_admin_token {
            println!(
                "No admin token was configured: created one (stored in {}; shown only now).\n  OVS_EC2_ADMIN_TOKEN={t}\n  Admin API: http://{}/v1/switches",
                state_file.display(),
                app.admin
            );
        }
        info!(
            xmlrpc = %app.xmlrpc, admin = %app.admin,
            openflow = ?app.openflow, api = %app.api, pool = app.pool.len(),
            accounts = app.service.accounts().all().len(), "controller running"
        );
        let signal = stop_signal().await;
        info!(%signal, grace_s = SHUTDOWN_GRACE.as_secs(), "shutting down: no new API calls, waiting for the calls in progress");
        tokio::select! {
            r = tokio::time::timeout(SHUTDOWN_GRACE, app.shutdown()) => match r {
                Ok(()) => info!("stopped"),
                Err(_) => warn!("calls still in progress after the grace period; stopping anyway"),
            },
            signal = stop_signal() => warn!(%signal, "second signal; stopping now"),
        }
        ExitCode::SUCCESS
    });
    // Tasks still running (switch connections) end with the runtime; do not wait on them.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}
