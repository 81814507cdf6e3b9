//! netrules: full compilation of 1k and 10k instances with 20 rules each, incremental
//! compilation of a one-rule change on groups of 20 and 100 members (an authorize and a
//! revoke in one iteration, and each of them alone), and the number of flows against a
//! naive expansion.
//!
//! Baselines measured in the same run: cloning the compiled tables (the memory floor of
//! producing them), and the full recompilation that an incremental update replaces.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::net::Ipv4Addr;
use core::time::Duration;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use netrules::compile::{compile, CompileOptions, Compiler};
use netrules::model::*;
use openflow_proto::{MacAddr, PortNo};
use std::time::Instant;

const INSTANCES_PER_SWITCH: usize = 50;
const GROUP_SIZE: usize = 20;
const RULES: usize = 20;

fn settings() -> Settings {
    Settings {
        subnet: "10.0.0.0/16".parse().unwrap(),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: "02:00:00:00:00:fe".parse().unwrap(),
        public_gateway: Ipv4Addr::new(198, 51, 100, 1),
        public_gateway_mac: "02:00:00:00:00:fd".parse().unwrap(),
        elastic_ip_mac: "02:00:00:00:00:fc".parse().unwrap(),
    }
}

fn gid(n: usize) -> GroupId {
    GroupId::new(format!("sg-{n}")).unwrap()
}

fn tcp(a: u16, b: u16) -> Protocol {
    Protocol::Tcp(PortRange::new(a, b).unwrap())
}

fn cidr(a: [u8; 4], l: u8) -> Peer {
    Peer::cidr(Ipv4Addr::from(a), l).unwrap()
}

/// The 20 ingress rules of group `g` (of `groups`): single ports, small ranges, UDP, ICMP,
/// every protocol from a CIDR, all TCP ports from a host, and two group references (the next
/// group, and the group itself).
fn rules(g: usize, groups: usize) -> Vec<Permission> {
    let any = Peer::anywhere();
    let p = |proto, peer| Permission::new(proto, peer).unwrap();
    let mut v = Vec::with_capacity(RULES);
    for port in [22, 80, 443, 8080, 8443, 3000, 5000, 9000] {
        v.push(p(tcp(port, port), any.clone()));
    }
    for base in [8000u16, 8100, 8200, 8300] {
        v.push(p(tcp(base, base + 3), cidr([10, 0, 0, 0], 16)));
    }
    v.push(p(
        Protocol::Udp(PortRange::single(53)),
        cidr([192, 0, 2, 0], 24),
    ));
    v.push(p(
        Protocol::Udp(PortRange::single(123)),
        cidr([198, 51, 100, 0], 24),
    ));
    v.push(p(
        Protocol::Icmp(IcmpSpec::new(Some(8), None).unwrap()),
        any.clone(),
    ));
    v.push(p(
        Protocol::Icmp(IcmpSpec::new(Some(3), Some(4)).unwrap()),
        any.clone(),
    ));
    v.push(p(Protocol::Any, cidr([192, 0, 2, 0], 24)));
    v.push(p(tcp(0, 65535), cidr([203, 0, 113, 5], 32)));
    v.push(p(tcp(5432, 5432), Peer::Group(gid((g + 1) % groups))));
    v.push(p(tcp(6379, 6379), Peer::Group(gid(g))));
    assert_eq!(v.len(), RULES);
    v
}

/// `n` instances, 50 per switch, in groups of 20 (each with the 20 rules above), one in ten
/// with an elastic IP; the first 100 instances are also in `sg-big`, a group with no rules
/// (the target of the incremental benchmark).
fn model(n: usize) -> Model {
    let owner = OwnerId::new("111122223333").unwrap();
    let groups = n.div_ceil(GROUP_SIZE);
    let switches = n.div_ceil(INSTANCES_PER_SWITCH);
    let mut sgs: Vec<SecurityGroup> = (0..groups)
        .map(|g| {
            let mut sg = SecurityGroup::new(gid(g), format!("g{g}"), owner.clone(), "bench");
            sg.ingress.extend(rules(g, groups));
            sg
        })
        .collect();
    sgs.push(SecurityGroup::new(
        GroupId::new("sg-big").unwrap(),
        "big",
        owner.clone(),
        "bench",
    ));
    let instances = (0..n).map(|i| {
        let mut groups_of: std::collections::BTreeSet<GroupId> = [gid(i / GROUP_SIZE)].into();
        if i < 100 {
            groups_of.insert(GroupId::new("sg-big").unwrap());
        }
        let b = (i as u32).to_be_bytes();
        Instance {
            id: InstanceId::new(format!("i-{i}")).unwrap(),
            owner: owner.clone(),
            mac: MacAddr([0x02, 0x01, b[0], b[1], b[2], b[3]]),
            ip: Ipv4Addr::new(10, 0, 1 + (i / 250) as u8, 2 + (i % 250) as u8),
            groups: groups_of,
            attachment: Some(Attachment {
                switch: 1 + (i / INSTANCES_PER_SWITCH) as u64,
                port: PortNo(1 + (i % INSTANCES_PER_SWITCH) as u16),
            }),
        }
    });
    let eips = (0..n).step_by(10).map(|i| ElasticIp {
        public_ip: Ipv4Addr::new(198, 18, (i / 2500) as u8, ((i / 10) % 250) as u8 + 1),
        allocation_id: AllocationId::new(format!("eipalloc-{i}")).unwrap(),
        owner: owner.clone(),
        instance: Some(InstanceId::new(format!("i-{i}")).unwrap()),
    });
    let sws = (1..=switches as u64).map(|dpid| Switch {
        dpid,
        uplink: PortNo(1000),
    });
    Model::from_parts(settings(), sws, sgs, instances, eips).unwrap()
}

/// Flows a naive compiler would emit: for every instance and every rule, one flow per port
/// of the range (65536 for "all ports") times one per member of a source group, on the
/// private path and again on the elastic-IP path when the instance has one.
fn naive_flows(m: &Model) -> u128 {
    let mut total: u128 = 0;
    for inst in m.instances().values() {
        let paths: u128 = if m.elastic_ip_of(&inst.id).is_some() {
            2
        } else {
            1
        };
        for (_, p) in m.permissions_of(inst, Direction::Ingress) {
            let ports: u128 = match p.protocol() {
                Protocol::Tcp(r) | Protocol::Udp(r) => u128::from(r.len()),
                _ => 1,
            };
            let peers: u128 = match p.peer() {
                Peer::Group(g) => m.member_count(g) as u128,
                Peer::Cidr(_) => 1,
            };
            total += ports * peers * paths;
        }
    }
    total
}

fn full(c: &mut Criterion) {
    let opts = CompileOptions::default();
    let mut g = c.benchmark_group("netrules_compile_full");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        let m = model(n);
        let tables = compile(&m, &opts);
        let flows: usize = tables.values().map(Vec::len).sum();
        eprintln!(
            "netrules: {n} instances x {RULES} rules: {flows} flows compiled on {} switches; naive expansion {} flows ({:.0}x more)",
            tables.len(),
            naive_flows(&m),
            naive_flows(&m) as f64 / flows as f64
        );
        // The tables made are dropped after the timing (`iter_with_large_drop`): freeing a
        // million flows (an atomic decrement of their shared actions each) is not compiling,
        // and costs about a tenth of it.
        g.bench_with_input(BenchmarkId::new("compile", n), &m, |b, m| {
            b.iter_with_large_drop(|| compile(black_box(m), &opts))
        });
        g.bench_with_input(
            BenchmarkId::new("baseline_clone_tables", n),
            &tables,
            |b, t| b.iter_with_large_drop(|| black_box(t).clone()),
        );
    }
    g.finish();
}

fn incremental(c: &mut Criterion) {
    let opts = CompileOptions::default();
    let mut m = model(10_000);
    let mut compiler = Compiler::new(&m, opts);
    let rule = Permission::new(tcp(9999, 9999), cidr([10, 0, 0, 0], 16)).unwrap();
    let mut g = c.benchmark_group("netrules_compile_incremental_10k");
    g.sample_size(20);
    for (label, group) in [
        ("one_rule_20_members", gid(7)),
        ("one_rule_100_members", GroupId::new("sg-big").unwrap()),
    ] {
        // Report the size of one change.
        let t = m
            .authorize(&group, Direction::Ingress, rule.clone())
            .unwrap();
        let mods = compiler.update(&m, &t).len();
        let t = m.revoke(&group, Direction::Ingress, &rule).unwrap();
        let back = compiler.update(&m, &t).len();
        eprintln!(
            "netrules: {label}: {} instances touched, {mods} flow_mods to add the rule, {back} to remove it",
            t.instances.len()
        );
        // One iteration: authorize the rule and update, revoke it and update (two changes).
        g.bench_function(format!("{label}_authorize_and_revoke"), |b| {
            b.iter(|| {
                let t = m
                    .authorize(&group, Direction::Ingress, rule.clone())
                    .unwrap();
                black_box(compiler.update(&m, &t));
                let t = m.revoke(&group, Direction::Ingress, &rule).unwrap();
                black_box(compiler.update(&m, &t));
            })
        });
        // One change alone: each iteration makes both changes (the model and the compiler
        // end as they began) but times only one of them, the model change and the update
        // with its flow_mods dropped; the other is made outside the timing.
        for (name, time_authorize) in [("authorize", true), ("revoke", false)] {
            g.bench_function(format!("{label}_{name}"), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        let t = m
                            .authorize(&group, Direction::Ingress, rule.clone())
                            .unwrap();
                        drop(black_box(compiler.update(&m, &t)));
                        let mid = Instant::now();
                        let t = m.revoke(&group, Direction::Ingress, &rule).unwrap();
                        drop(black_box(compiler.update(&m, &t)));
                        let end = Instant::now();
                        total += if time_authorize {
                            mid - start
                        } else {
                            end - mid
                        };
                    }
                    total
                })
            });
        }
    }
    g.bench_function("baseline_full_recompile", |b| {
        b.iter_with_large_drop(|| compile(black_box(&m), &opts))
    });
    g.finish();
}

criterion_group!(benches, full, incremental);
criterion_main!(benches);
