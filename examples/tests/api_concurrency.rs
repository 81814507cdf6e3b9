//! The EC2 API under concurrency, over HTTP, against the controller with real Open vSwitch
//! connected: four accounts with several clients each launch instances, allocate addresses
//! from a pool smaller than their combined limits, associate them (and try each other's), and
//! authorize and revoke rules, all at once.
//!
//! - No private address, MAC or instance id is handed out twice; no public address twice.
//! - Every allocation beyond an account's limit or the pool's size is answered with
//!   `AddressLimitExceeded`, and the pool ends fully allocated, no account above its limit.
//! - Concurrent authorizations of the same rule: exactly one succeeds, the others get
//!   `InvalidPermission.Duplicate`; another account's allocation is `NotFound`.
//! - Afterwards the state file holds exactly the live model, the API describes exactly it,
//!   and both bridges hold exactly the flows it compiles to.
//!
//! Needs root and Open vSwitch (fails naming what is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Parser;
use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use examples::testbed::{Cloud, InstanceSpec, MacAddr};
use fault_common::*;
use netrules::model::{InstanceId, Model, OwnerId, Protocol as Proto};

const ACCOUNTS: usize = 4;
const POOL: usize = 12;
const LIMIT: usize = 5;

fn account(i: usize) -> (String, String, String) {
    (
        format!("AKIDCONCURRENT00000{i}"),
        format!("concurrentSecret{i:024}"),
        format!("{:012}", 100_000_000_000u64 + i as u64),
    )
}

fn config() -> String {
    let mut c = String::from(
        r#"
[model.settings]
subnet = "10.0.0.0/24"
gateway = "10.0.0.1"
router_mac = "02:00:00:00:00:01"
public_gateway = "203.0.113.1"
public_gateway_mac = "02:00:00:00:00:02"
elastic_ip_mac = "02:00:00:00:00:03"

[[model.switches]]
dpid = 1
uplink = 1

[[model.switches]]
dpid = 2
uplink = 1

[api]
pool = ["203.0.113.100-203.0.113.111"]
max_addresses_per_account = 5
"#,
    );
    for i in 0..ACCOUNTS {
        let (a, s, o) = account(i);
        c.push_str(&format!(
            "\n[[accounts]]\naccess_key = \"{a}\"\nsecret_key = \"{s}\"\nowner = \"{o}\"\n"
        ));
    }
    c
}

/// Runs `f(account, client, thread)` on `per_account` threads per account, all released at
/// once; returns their results by account.
fn all_at_once<T: Send + 'static>(
    api: SocketAddr,
    per_account: usize,
    f: impl Fn(usize, &Client, usize) -> T + Send + Sync + 'static,
) -> Vec<Vec<T>> {
    let f = Arc::new(f);
    let barrier = Arc::new(Barrier::new(ACCOUNTS * per_account));
    let mut handles = Vec::new();
    for a in 0..ACCOUNTS {
        for t in 0..per_account {
            let (access, secret, _) = account(a);
            let client = Client::new(api, &access, &secret);
            let (f, barrier) = (f.clone(), barrier.clone());
            handles.push((
                a,
                std::thread::spawn(move || {
                    barrier.wait();
                    f(a, &client, t)
                }),
            ));
        }
    }
    let mut out: Vec<Vec<T>> = (0..ACCOUNTS).map(|_| Vec::new()).collect();
    for (a, h) in handles {
        out[a].push(h.join().unwrap());
    }
    out
}

/// The model as JSON with every attachment removed (bindings are learnt from switches, not
/// stored).
fn unattached_json(m: &Model) -> serde_json::Value {
    let mut m = m.clone();
    let ids: Vec<InstanceId> = m.instances().keys().cloned().collect();
    for id in ids {
        m.attach(&id, None).unwrap();
    }
    serde_json::to_value(&m).unwrap()
}

#[test]
fn concurrent_clients_get_unique_resources_limits_and_a_consistent_state() {
    let started = Instant::now();
    let scratch = Scratch::new("api-concurrency");
    let state = scratch.path("state.sqlite3");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let args = Args::parse_from([
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--state-file",
        state.to_str().unwrap(),
    ]);
    let mut resolved = args.merge(FileConfig::parse(&config()).unwrap()).unwrap();
    let store = resolved.open_state(&args).unwrap();
    let app = rt.block_on(App::start(resolved, store)).unwrap();
    let handle = app.service.handle().clone();
    let api = app.api;
    let mut cloud = Cloud::seed().start().unwrap();
    cloud.set_controller(app.openflow[0]).unwrap();
    wait_for("both switches ready", Duration::from_secs(30), || {
        rt.block_on(handle.inspect(|c| c.is_ready(1) && c.is_ready(2)))
            .unwrap()
            .then_some(())
    });

    // 1. Launches: 3 clients per account, each launching two instances twice.
    let launched = all_at_once(api, 3, |_, c, _| {
        let mut ids = Vec::new();
        for _ in 0..2 {
            let r = c.call(&[
                ("Action", "RunInstances"),
                ("ImageId", "ami-00000001"),
                ("MinCount", "2"),
                ("MaxCount", "2"),
            ]);
            r.expect_ok();
            let ids_ = r.tags("instanceId");
            // Each instance shows its address twice (itself and its network interface).
            let mut ips = r.tags("privateIpAddress");
            ips.dedup();
            assert_eq!((ids_.len(), ips.len()), (2, 2), "{r:?}");
            ids.extend(ids_.into_iter().zip(ips));
        }
        ids
    });
    let mut ids = BTreeSet::new();
    let mut ips = BTreeSet::new();
    let mut mine: Vec<Vec<(String, Ipv4Addr)>> = Vec::new();
    for per_account in &launched {
        let mut list = Vec::new();
        for (id, ip) in per_account.iter().flatten() {
            assert!(ids.insert(id.clone()), "instance id {id} handed out twice");
            assert!(
                ips.insert(ip.clone()),
                "private address {ip} handed out twice"
            );
            list.push((id.clone(), ip.parse().unwrap()));
        }
        mine.push(list);
    }
    assert_eq!(ids.len(), ACCOUNTS * 3 * 2 * 2);
    let model = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    let macs: BTreeSet<_> = model.instances().values().map(|i| i.mac).collect();
    assert_eq!(
        macs.len(),
        model.instances().len(),
        "a MAC handed out twice"
    );

    // One instance of each account gets a port (alternating hypervisors), so that its flows
    // are installed.
    for (a, list) in mine.iter().enumerate() {
        let (id, ip) = &list[0];
        let o = ip.octets();
        let mac: MacAddr = format!("02:0e:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
            .parse()
            .unwrap();
        cloud
            .add_instance(
                if a % 2 == 0 { "hv1" } else { "hv2" },
                InstanceSpec::new(id, format!("{ip}/24").parse().unwrap())
                    .mac(mac)
                    .gateway(Ipv4Addr::new(10, 0, 0, 1)),
            )
            .unwrap();
    }

    // 2. Allocations: 4 clients per account, 3 attempts each: 48 attempts for a pool of 12
    // and limits of 5 per account.
    let allocated = all_at_once(api, 4, |_, c, _| {
        let mut got = Vec::new();
        for _ in 0..3 {
            let r = c.call(&[("Action", "AllocateAddress"), ("Domain", "vpc")]);
            if r.ok() {
                got.push((r.tag("publicIp").unwrap(), r.tag("allocationId").unwrap()));
            } else {
                r.expect_error(400, "AddressLimitExceeded");
            }
        }
        got
    });
    let mut public = BTreeSet::new();
    let mut allocations: Vec<Vec<(String, String)>> = Vec::new();
    for per_account in &allocated {
        let list: Vec<(String, String)> = per_account.iter().flatten().cloned().collect();
        assert!(list.len() <= LIMIT, "an account above its limit: {list:?}");
        for (ip, _) in &list {
            assert!(public.insert(ip.clone()), "address {ip} handed out twice");
        }
        allocations.push(list);
    }
    assert_eq!(public.len(), POOL, "the pool ends fully allocated");
    // An account below its limit is refused because the pool is exhausted (the same code).
    let (fewest, _) = allocations
        .iter()
        .enumerate()
        .min_by_key(|(_, l)| l.len())
        .unwrap();
    assert!(allocations[fewest].len() < LIMIT);
    let (access, secret, _) = account(fewest);
    let r = Client::new(api, &access, &secret).call(&[("Action", "AllocateAddress")]);
    r.expect_error(400, "AddressLimitExceeded");
    assert!(r.tag("Message").unwrap().contains("pool"), "{r:?}");

    // 3. Associations (each client moves its account's addresses between the account's
    // instances, and tries another account's allocation) and rules (each client authorizes
    // ports of its own, plus port 5000 that every client of the account authorizes at once,
    // and revokes half of its own) — all at once.
    let allocations = Arc::new(allocations);
    let mine = Arc::new(mine);
    let outcomes = all_at_once(api, 4, {
        let allocations = allocations.clone();
        let mine = mine.clone();
        move |a, c, t| {
            let mut codes: BTreeMap<String, usize> = BTreeMap::new();
            let mut note = |r: &Reply| {
                *codes
                    .entry(r.code().unwrap_or_else(|| "ok".to_owned()))
                    .or_insert(0) += 1;
            };
            let own = &allocations[a];
            let instances = &mine[a];
            for (k, (_, alloc)) in own.iter().enumerate() {
                let (id, _) = &instances[(k + t) % instances.len()];
                let r = c.call(&[
                    ("Action", "AssociateAddress"),
                    ("AllocationId", alloc),
                    ("InstanceId", id),
                    ("AllowReassociation", "true"),
                ]);
                r.expect_ok();
                note(&r);
            }
            let other = &allocations[(a + 1) % ACCOUNTS];
            if let Some((_, alloc)) = other.first() {
                let r = c.call(&[
                    ("Action", "AssociateAddress"),
                    ("AllocationId", alloc),
                    ("InstanceId", &instances[0].0),
                ]);
                r.expect_error(400, "InvalidAllocationID.NotFound");
                note(&r);
            }
            let rule = |action: &str, port: u16| {
                let port = port.to_string();
                c.call(&[
                    ("Action", action),
                    ("GroupName", "default"),
                    ("IpPermissions.1.IpProtocol", "tcp"),
                    ("IpPermissions.1.FromPort", &port),
                    ("IpPermissions.1.ToPort", &port),
                    ("IpPermissions.1.IpRanges.1.CidrIp", "198.51.100.0/24"),
                ])
            };
            let r = rule("AuthorizeSecurityGroupIngress", 5000);
            note(&r);
            for i in 0..6u16 {
                let port = 6000 + 100 * t as u16 + i;
                let r = rule("AuthorizeSecurityGroupIngress", port);
                r.expect_ok();
                note(&r);
                if i % 2 == 1 {
                    let r = rule("RevokeSecurityGroupIngress", port);
                    r.expect_ok();
                    note(&r);
                }
            }
            codes
        }
    });
    for (a, per_account) in outcomes.iter().enumerate() {
        let mut total: BTreeMap<String, usize> = BTreeMap::new();
        for codes in per_account {
            for (k, n) in codes {
                *total.entry(k.clone()).or_insert(0) += n;
            }
        }
        assert_eq!(
            total.get("InvalidPermission.Duplicate"),
            Some(&3),
            "account {a}: one of four identical authorizations succeeds: {total:?}"
        );
        let other = allocations[(a + 1) % ACCOUNTS].len().min(1) * 4;
        assert_eq!(
            total
                .get("InvalidAllocationID.NotFound")
                .copied()
                .unwrap_or(0),
            other,
            "{total:?}"
        );
    }

    // The live model: each account's rules are exactly what its clients left.
    let live = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    for a in 0..ACCOUNTS {
        let owner = OwnerId::new(account(a).2).unwrap();
        let g = live
            .groups()
            .values()
            .find(|g| g.owner == owner && g.name == "default")
            .unwrap();
        let ports: BTreeSet<u16> = g
            .ingress
            .iter()
            .filter_map(|p| match p.protocol() {
                Proto::Tcp(r) => Some(r.from()),
                _ => None,
            })
            .collect();
        let mut want: BTreeSet<u16> = [5000].into();
        for t in 0..4u16 {
            for i in [0u16, 2, 4] {
                want.insert(6000 + 100 * t + i);
            }
        }
        assert_eq!(ports, want, "account {a}'s rules");
        // Each instance holds at most one address; each address is associated.
        let held: Vec<_> = live
            .elastic_ips()
            .values()
            .filter(|e| e.owner == owner)
            .collect();
        assert_eq!(held.len(), allocations[a].len());
        let holders: Vec<_> = held.iter().filter_map(|e| e.instance.clone()).collect();
        let distinct: BTreeSet<_> = holders.iter().collect();
        assert_eq!(
            holders.len(),
            distinct.len(),
            "an instance with two addresses"
        );
        for h in &holders {
            assert_eq!(live.instance(h).unwrap().owner, owner);
        }
    }

    // The state file holds exactly the live model.
    let (stored, _) = stored_model(&state);
    assert_eq!(
        unattached_json(&stored),
        unattached_json(&live),
        "the stored model is the live one"
    );
    // The API describes exactly it.
    for (a, own) in allocations.iter().enumerate() {
        let (access, secret, owner) = account(a);
        let owner = OwnerId::new(owner).unwrap();
        let r = Client::new(api, &access, &secret).call(&[("Action", "DescribeAddresses")]);
        r.expect_ok();
        let described: BTreeSet<String> = r.tags("publicIp").into_iter().collect();
        let owned: BTreeSet<String> = own.iter().map(|(ip, _)| ip.clone()).collect();
        assert_eq!(described, owned);
        let associated: BTreeSet<String> = r.tags("instanceId").into_iter().collect();
        let want: BTreeSet<String> = live
            .elastic_ips()
            .values()
            .filter(|e| e.owner == owner)
            .filter_map(|e| e.instance.as_ref().map(|i| i.as_str().to_owned()))
            .collect();
        assert_eq!(associated, want);
    }
    // The switches hold exactly what it compiles to.
    wait_for("the ports bound", Duration::from_secs(30), || {
        rt.block_on(handle.inspect(|c| {
            c.model()
                .instances()
                .values()
                .filter(|i| i.attachment.is_some())
                .count()
        }))
        .unwrap()
        .eq(&ACCOUNTS)
        .then_some(())
    });
    let live = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    wait_tables_match(&cloud, &live, Duration::from_secs(30));
    wait_tables_match(&cloud, &attached(&stored, &cloud), Duration::from_secs(5));
    rt.block_on(app.shutdown());
    eprintln!("test took {:?}", started.elapsed());
}
