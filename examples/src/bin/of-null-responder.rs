//! `of-null-responder`: the load generator's baseline as a process of its own
//! (`of-null-responder --help`). It answers every packet_in with a packet_out and does
//! nothing else (see `examples::loadgen::responder`).
//!
//! ```text
//! of-null-responder --listen 127.0.0.1:6653 &
//! ofload --controller 127.0.0.1:6653 --switches 16 --duration 5
//! ```

use clap::Parser;
use examples::loadgen::responder::Responder;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// A do-nothing OpenFlow 1.0 controller: HELLO, features request, echo replies, and a
/// packet_out (flood) for every packet_in.
#[derive(Debug, Parser)]
#[command(name = "of-null-responder", version)]
struct Args {
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:6653")]
    listen: SocketAddr,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("of-null-responder: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async {
        let responder = match Responder::spawn(args.listen).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("of-null-responder: listening on {}: {e}", args.listen);
                return ExitCode::from(2);
            }
        };
        println!("listening on {}", responder.local_addr());
        let _ = std::io::stdout().flush();
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("of-null-responder: waiting for Ctrl-C: {e}");
            return ExitCode::from(2);
        }
        let c = responder.counters();
        println!(
            "{} connections, {} packet_ins, {} packet_outs, {} malformed",
            c.connections.load(Ordering::Relaxed),
            c.packet_ins.load(Ordering::Relaxed),
            c.packet_outs.load(Ordering::Relaxed),
            c.malformed.load(Ordering::Relaxed)
        );
        ExitCode::SUCCESS
    })
}
