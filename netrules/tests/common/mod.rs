//! Lockstep checking of the simulated network (compiled flows + controller) against the
//! reference model, shared by the property and scenario tests.
#![allow(dead_code, unreachable_pub)]

use core::time::Duration;
use netrules::compile::{check_invariants, cookie, CompileOptions};
use netrules::model::Model;
use netrules::reference::{Duty, Endpoint, Entry, Reference, Verdict};
use netrules::sim::matching::normalize;
use netrules::sim::{ModelNetwork, Trace};
use netrules::strategies::{reply_to, Source, Step};
use netrules::Packet;
use openflow_proto::FlowMod;
use std::collections::BTreeMap;

/// What the reference says leaves the network for a verdict: the delivered packet, or the
/// controller's ARP reply (to the asking instance, or out the uplink: it reaches the public
/// gateway if addressed to it or multicast, and no one otherwise).
pub fn expected(model: &Model, v: &Verdict) -> Vec<(Endpoint, Packet)> {
    match v {
        Verdict::Delivered { to, packet } => vec![(to.clone(), *packet)],
        Verdict::Controller {
            duty: Duty::ArpFromInstance(id),
            reply: Some(r),
            ..
        } => vec![(Endpoint::Instance(id.clone()), *r)],
        Verdict::Controller {
            duty: Duty::ArpForElasticIp { .. },
            reply: Some(r),
            ..
        } if r.dl_dst == model.settings().public_gateway_mac || r.dl_dst.is_multicast() => {
            vec![(Endpoint::Outside, *r)]
        }
        _ => Vec::new(),
    }
}

/// The simulated network and the reference, driven together.
pub struct Lockstep {
    pub net: ModelNetwork,
    pub reference: Reference,
    pub now: Duration,
    /// What each step delivered (for replies).
    pub delivered: Vec<Option<(Endpoint, Packet)>>,
    /// A readable log of the steps, for failure messages.
    pub log: Vec<String>,
}

impl Lockstep {
    pub fn new(model: Model, options: CompileOptions) -> Self {
        let idle = Duration::from_secs(u64::from(options.pinhole_idle_timeout));
        let net = ModelNetwork::new(model, options).expect("network builds");
        let l = Lockstep {
            net,
            reference: Reference::new(idle),
            now: Duration::ZERO,
            delivered: Vec::new(),
            log: Vec::new(),
        };
        l.check_tables("initial");
        l
    }

    pub fn model(&self) -> &Model {
        self.net.model()
    }

    fn fail(&self, what: String) -> ! {
        panic!(
            "{what}\n--- steps so far:\n{}\n--- model: {}",
            self.log.join("\n"),
            serde_json::to_string(self.model()).unwrap_or_default()
        );
    }

    /// Send a packet in both worlds and compare what leaves the network.
    pub fn send(&mut self, entry: Entry, packet: Packet) -> (Verdict, Trace) {
        let model = self.model().clone();
        let verdict = self.reference.inject(&model, self.now, entry, packet);
        let trace = self.net.inject(entry, packet).expect("inject");
        self.log.push(format!(
            "t={:?} send {entry:?} {packet:?}\n    reference: {verdict:?}",
            self.now
        ));
        let mut want = expected(&model, &verdict);
        want.sort();
        let mut got: Vec<(Endpoint, Packet)> = trace
            .deliveries()
            .map(|d| {
                (
                    self.net.endpoint(&d.to).expect("a model endpoint"),
                    d.packet,
                )
            })
            .collect();
        got.sort();
        if got != want {
            self.fail(format!(
                "deliveries differ\n  reference: {want:?}\n  simulated: {got:?}\n  trace: {:#?}",
                trace.events
            ));
        }
        if trace.ambiguous_lookups().next().is_some() {
            self.fail(format!("ambiguous lookup: {:#?}", trace.events));
        }
        if let Some((fm, e)) = trace.rejected_flow_mods().next() {
            self.fail(format!("switch refused {fm:?}: {e}"));
        }
        if trace.hit_limit() {
            self.fail(format!("hop or work limit: {:#?}", trace.events));
        }
        (verdict, trace)
    }

    /// Let time pass in both worlds.
    pub fn wait(&mut self, secs: u64) {
        self.now += Duration::from_secs(secs);
        self.log.push(format!("wait {secs}s -> t={:?}", self.now));
        let t = self.net.advance_to(self.now).expect("time");
        if let Some((fm, e)) = t.rejected_flow_mods().next() {
            self.fail(format!("switch refused {fm:?}: {e}"));
        }
        self.reference.expire(self.now);
    }

    /// Change the model in both worlds; false if the change did not apply.
    pub fn change(&mut self, c: &netrules::strategies::Change) -> bool {
        self.log.push(format!("change {c:?}"));
        match self.net.change(|m| c.apply(m)).expect("network") {
            Ok((touched, trace)) => {
                if let Some((fm, e)) = trace.rejected_flow_mods().next() {
                    self.fail(format!("switch refused {fm:?}: {e}"));
                }
                self.reference.cut(&touched);
                self.check_tables("after change");
                true
            }
            Err(e) => {
                self.log.push(format!("    (not applied: {e})"));
                false
            }
        }
    }

    /// The switches' tables, pinholes aside, are exactly the full compilation of the current
    /// model, and every compiled table keeps the invariants.
    pub fn check_tables(&self, when: &str) {
        let model = self.model();
        let full = netrules::compile(model, self.net.compiler().options());
        for (dpid, flows) in &full {
            if let Err(e) = check_invariants(flows) {
                self.fail(format!("{when}: switch {dpid}: invariant broken: {e}"));
            }
        }
        let canon = |fm: FlowMod| {
            let mut fm = fm;
            fm.r#match = normalize(&fm.r#match).0;
            format!("{fm:?}")
        };
        let mut want: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (dpid, flows) in &full {
            let mut v: Vec<String> = flows.iter().map(|f| canon(f.to_add())).collect();
            v.sort();
            want.insert(*dpid, v);
        }
        let mut got: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for (dpid, sw) in self.net.network().switches() {
            let mut v: Vec<String> = sw
                .table()
                .entries()
                .iter()
                .filter(|e| e.cookie & cookie::KIND_MASK != cookie::PINHOLE)
                .map(|e| canon(e.to_flow_mod()))
                .collect();
            v.sort();
            got.insert(*dpid, v);
        }
        if got != want {
            let mut diffs = Vec::new();
            for (d, w) in &want {
                let g = got.get(d).cloned().unwrap_or_default();
                for x in w.iter().filter(|x| !g.contains(x)) {
                    diffs.push(format!("switch {d} missing {x}"));
                }
                for x in g.iter().filter(|x| !w.contains(x)) {
                    diffs.push(format!("switch {d} extra   {x}"));
                }
            }
            self.fail(format!(
                "{when}: installed tables differ from the full compile:\n{}",
                diffs.join("\n")
            ));
        }
    }

    /// Run one generated step.
    pub fn step(&mut self, s: &Step) {
        match s {
            Step::Send(src, p) => self.send_from(src, *p),
            Step::Reply(n) => {
                if self.delivered.is_empty() {
                    self.delivered.push(None);
                    return;
                }
                let k = n % self.delivered.len();
                match self.delivered[k]
                    .clone()
                    .and_then(|(to, p)| reply_to(&to, &p))
                {
                    Some((src, p)) => {
                        self.log.push(format!("reply to step {k}"));
                        self.send_from(&src, p)
                    }
                    None => self.delivered.push(None),
                }
            }
            Step::Wait(s) => {
                self.wait(*s);
                self.delivered.push(None);
            }
            Step::Change(c) => {
                self.change(c);
                self.delivered.push(None);
            }
        }
    }

    fn send_from(&mut self, src: &Source, p: Packet) {
        match src.entry(self.model()) {
            Some(entry) => {
                let (v, _) = self.send(entry, p);
                let d = match v {
                    Verdict::Delivered { to, packet } => Some((to, packet)),
                    _ => None,
                };
                self.delivered.push(d);
            }
            None => self.delivered.push(None),
        }
    }
}
