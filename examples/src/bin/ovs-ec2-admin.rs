//! `ovs-ec2-admin`: the command-line client of the controller's JSON admin API.
//!
//! ```text
//! ovs-ec2-admin --token TOKEN switches              # switches and their connection state
//! ovs-ec2-admin --token TOKEN flows 0000000000000001 # desired vs installed flows (ovs-ofctl syntax)
//! ovs-ec2-admin --token TOKEN rules i-0a1b2c3d       # an instance's effective rules
//! ovs-ec2-admin --token TOKEN instances | groups | addresses
//! ```
//!
//! `--url` (or `OVS_EC2_ADMIN_URL`) is the admin API's base URL [default:
//! http://127.0.0.1:8774]; `--token` (or `OVS_EC2_ADMIN_TOKEN`) its bearer token. `--json`
//! prints the API's answer as it is. Exit status: 0 on success, 1 when the API or the
//! connection fails (the reason on stderr), 2 for a usage error.

use clap::{Parser, Subcommand};
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "ovs-ec2-admin",
    version,
    about = "Client of the ovs-ec2 controller's admin API: switches, flows, rules"
)]
struct Cli {
    /// Base URL of the admin API.
    #[arg(
        long,
        env = "OVS_EC2_ADMIN_URL",
        default_value = "http://127.0.0.1:8774"
    )]
    url: String,
    /// Bearer token of the admin API (printed by the controller's first start).
    #[arg(long, env = "OVS_EC2_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    /// Print the API's JSON answer instead of text.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the switches: datapath id, connection state, uplink, bound instances.
    Switches,
    /// Show a switch's flows: desired (compiled from the model) and installed (read from
    /// the switch now), in ovs-ofctl dump-flows syntax, and their difference.
    Flows {
        /// Datapath id, hexadecimal (`0000000000000001`, `0x1`, `1`).
        dpid: String,
        /// Print only the difference (missing and unexpected flows).
        #[arg(long)]
        diff: bool,
    },
    /// Show an instance's effective rules (the union over its groups).
    Rules {
        /// Instance id.
        instance: String,
    },
    /// List the instances and their bindings.
    Instances,
    /// List the security groups and their rules.
    Groups,
    /// List the elastic IPs.
    Addresses,
}

fn get(cli: &Cli, path: &str) -> Result<Value, String> {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let url = format!("{}{path}", cli.url.trim_end_matches('/'));
    let mut response = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {}", cli.token))
        .call()
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{url}: reading the answer: {e}"))?;
    let value: Value = serde_json::from_str(&body)
        .map_err(|e| format!("{url}: answered {status} with something not JSON ({e})"))?;
    if !status.is_success() {
        let why = value["error"].as_str().unwrap_or("no reason given");
        return Err(format!("{url}: {status}: {why}"));
    }
    Ok(value)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

fn rule_line(r: &Value) -> String {
    let proto = text(&r["protocol"]);
    let (from, to) = (&r["from_port"], &r["to_port"]);
    let what = match proto.as_str() {
        "-1" => "all traffic".to_owned(),
        "icmp" => format!("icmp type {} code {}", text(from), text(to)),
        p if from.as_i64() == Some(-1) => format!("{p} all ports"),
        p if from == to => format!("{p} port {}", text(from)),
        p => format!("{p} ports {}-{}", text(from), text(to)),
    };
    let group = r["group"]
        .as_str()
        .map(|g| format!("  [{g}]"))
        .unwrap_or_default();
    format!("{what:<28} {}{group}", text(&r["peer"]))
}

fn print_lines(title: &str, lines: &Value) {
    let items = list(lines);
    println!("{title} ({}):", items.len());
    for l in items {
        println!("  {}", text(l));
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let path = match &cli.command {
        Command::Switches => "/v1/switches".to_owned(),
        Command::Flows { dpid, .. } => format!("/v1/switches/{}/flows", dpid.trim()),
        Command::Rules { instance } => format!("/v1/instances/{}/rules", instance.trim()),
        Command::Instances => "/v1/instances".to_owned(),
        Command::Groups => "/v1/groups".to_owned(),
        Command::Addresses => "/v1/addresses".to_owned(),
    };
    let v = get(cli, &path)?;
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    match &cli.command {
        Command::Switches => {
            println!(
                "{:<18} {:<10} {:<6} {:<7} INSTANCES",
                "DPID", "CONNECTED", "READY", "UPLINK"
            );
            for s in list(&v["switches"]) {
                let instances: Vec<String> = list(&s["instances"]).iter().map(text).collect();
                println!(
                    "{:<18} {:<10} {:<6} {:<7} {}",
                    text(&s["dpid"]),
                    text(&s["connected"]),
                    text(&s["ready"]),
                    text(&s["uplink"]),
                    instances.join(",")
                );
            }
        }
        Command::Flows { diff, .. } => {
            println!("switch {}", text(&v["dpid"]));
            if !diff {
                print_lines("desired", &v["desired"]);
            }
            if let Some(e) = v["error"].as_str() {
                println!("installed: not read: {e}");
                return Ok(());
            }
            if !diff {
                print_lines("installed", &v["installed"]);
            }
            print_lines("missing on the switch", &v["missing"]);
            print_lines("unexpected on the switch", &v["unexpected"]);
        }
        Command::Rules { .. } => {
            let i = &v["instance"];
            let binding = match &i["binding"] {
                Value::Null => "not bound".to_owned(),
                b => format!(
                    "switch {} port {}{}",
                    text(&b["switch"]),
                    text(&b["port"]),
                    if b["pinned"] == Value::Bool(true) {
                        " (pinned)"
                    } else {
                        ""
                    }
                ),
            };
            println!(
                "{} {} {} ({}), elastic IP {}",
                text(&i["id"]),
                text(&i["private_ip"]),
                text(&i["mac"]),
                binding,
                text(&i["elastic_ip"])
            );
            for dir in ["ingress", "egress"] {
                let rules = list(&v[dir]);
                println!("{dir} ({}):", rules.len());
                for r in rules {
                    println!("  {}", rule_line(r));
                }
            }
        }
        Command::Instances => {
            for i in list(&v["instances"]) {
                let b = &i["binding"];
                println!(
                    "{} {} {} {} {} groups={} eip={}",
                    text(&i["id"]),
                    text(&i["owner"]),
                    text(&i["private_ip"]),
                    text(&i["state"]),
                    if b.is_null() {
                        "unbound".to_owned()
                    } else {
                        format!("{}:{}", text(&b["switch"]), text(&b["port"]))
                    },
                    list(&i["groups"])
                        .iter()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(","),
                    text(&i["elastic_ip"])
                );
            }
        }
        Command::Groups => {
            for g in list(&v["groups"]) {
                println!(
                    "{} {:?} owner {} members {}",
                    text(&g["id"]),
                    text(&g["name"]),
                    text(&g["owner"]),
                    list(&g["members"]).len()
                );
                for dir in ["ingress", "egress"] {
                    for r in list(&g[dir]) {
                        println!("  {dir:<7} {}", rule_line(r));
                    }
                }
            }
        }
        Command::Addresses => {
            for a in list(&v["addresses"]) {
                println!(
                    "{} {} owner {} -> {} {}",
                    text(&a["public_ip"]),
                    text(&a["allocation_id"]),
                    text(&a["owner"]),
                    text(&a["instance"]),
                    text(&a["private_ip"])
                );
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ovs-ec2-admin: {e}");
            ExitCode::FAILURE
        }
    }
}
