//! The simulated network of a [`Model`]: its switches, its instances on their ports, the
//! compiled tables loaded, and the controller deciding punted packets with [`Pinholes`].

use super::network::{
    Controller, ControllerMessage, Destination, Dpid, Network, NetworkError, PacketIn, Point, Trace,
};
use super::table::{FlowRemoved, TableConfig};
use crate::compile::{CompileOptions, Compiler};
use crate::diff::Update;
use crate::model::{Attachment, InstanceId, Model, ModelError, Touched};
use crate::pinhole::{gratuitous_arp, Outcome, Pinholes};
use crate::reference::{Endpoint, Entry};
use core::net::Ipv4Addr;
use core::time::Duration;
use std::collections::BTreeMap;

impl From<Entry> for Point {
    fn from(e: Entry) -> Self {
        match e {
            Entry::Port { switch, port } => Point::Port { switch, port },
            Entry::Outside => Point::Outside,
        }
    }
}

fn messages(updates: Vec<Update>) -> Vec<ControllerMessage> {
    updates
        .into_iter()
        .map(|u| ControllerMessage::FlowMod {
            switch: u.switch,
            flow_mod: u.flow_mod,
        })
        .collect()
}

/// The controller as a simulation participant: it owns the [`Model`] and the [`Pinholes`]
/// table, decides every packet_in with [`Pinholes::packet_in`] (sending its flow_mods, then
/// its packet_out), and answers flow_removed messages with [`Pinholes::flow_removed`].
#[derive(Clone, Debug)]
pub struct ModelController {
    model: Model,
    pinholes: Pinholes,
    decisions: Vec<(Dpid, Outcome)>,
}

impl ModelController {
    /// A controller for `model`, with pinholes as `options` say.
    pub fn new(model: Model, options: CompileOptions) -> Self {
        ModelController {
            model,
            pinholes: Pinholes::new(options),
            decisions: Vec::new(),
        }
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The pinhole table (the connections the controller tracks).
    pub fn pinholes(&self) -> &Pinholes {
        &self.pinholes
    }

    /// Every decision taken so far, with the switch that asked.
    pub fn decisions(&self) -> &[(Dpid, Outcome)] {
        &self.decisions
    }
}

impl Controller for ModelController {
    fn packet_in(&mut self, _now: Duration, ev: &PacketIn) -> Vec<ControllerMessage> {
        let d = self
            .pinholes
            .packet_in(&self.model, ev.switch, ev.in_port, &ev.packet);
        let mut out = messages(d.flow_mods());
        self.decisions.push((ev.switch, d.outcome));
        if let Some(po) = d.packet_out {
            out.push(ControllerMessage::PacketOut {
                switch: po.switch,
                in_port: po.in_port,
                actions: po.actions.into_vec(),
                packet: po.packet,
            });
        }
        out
    }

    fn flow_removed(
        &mut self,
        _now: Duration,
        switch: Dpid,
        removed: &FlowRemoved,
    ) -> Vec<ControllerMessage> {
        messages(
            self.pinholes
                .flow_removed(switch, removed.cookie, &removed.r#match),
        )
    }
}

/// A [`Network`] kept in step with a [`Model`]: one simulated switch per model switch (uplink
/// on the outside segment, the public gateway's MAC on it), each attached instance as a host
/// named by its id, the compiled tables loaded, and a [`ModelController`].
///
/// Tables refuse matches whose fields lack their prerequisites
/// ([`TableConfig::strict_prerequisites`]), so that a compiler bug of that kind shows up as an
/// error rather than as a silently wider flow.
///
/// [`ModelNetwork::change`] changes the model the way the controller does: the incremental
/// [`Compiler`]'s flow_mods and the cut pinholes' deletes are sent to the switches, and the
/// hosts are re-attached where the model now says.
#[derive(Debug)]
pub struct ModelNetwork {
    net: Network<ModelController>,
    compiler: Compiler,
}

impl ModelNetwork {
    /// Build the network of `model` and load its compiled tables.
    pub fn new(model: Model, options: CompileOptions) -> Result<Self, NetworkError> {
        let compiler = Compiler::new(&model, options);
        let mut net = Network::new(ModelController::new(model, options));
        net.set_table_config(TableConfig {
            capacity: None,
            strict_prerequisites: true,
        });
        net.set_gateway(net.controller().model().settings().public_gateway_mac);
        let mut mn = ModelNetwork { net, compiler };
        mn.sync_topology()?;
        for (dpid, flows) in mn.compiler.tables() {
            for f in flows {
                mn.net.apply_flow_mod(dpid, &f.to_add())?;
            }
        }
        Ok(mn)
    }

    /// Add and remove switches and hosts so that the network matches the model.
    fn sync_topology(&mut self) -> Result<(), NetworkError> {
        let model = self.net.controller().model().clone();
        let have: Vec<Dpid> = self.net.switches().keys().copied().collect();
        for d in have {
            if model.switch(d).is_none() {
                self.net.remove_switch(d)?;
            }
        }
        for s in model.switches().values() {
            let same = self
                .net
                .switches()
                .get(&s.dpid)
                .map(|sw| sw.uplink() == Some(s.uplink));
            if same == Some(false) {
                self.net.remove_switch(s.dpid)?;
            }
            if same != Some(true) {
                self.net.add_switch(s.dpid, Some(s.uplink))?;
            }
        }
        let want: BTreeMap<String, (Dpid, openflow_proto::PortNo)> = model
            .instances()
            .values()
            .filter_map(|i| {
                i.attachment
                    .map(|a| (i.id.as_str().to_owned(), (a.switch, a.port)))
            })
            .collect();
        let hosts: Vec<(String, (Dpid, openflow_proto::PortNo))> = self.net.hosts().collect();
        for (name, at) in hosts {
            if want.get(&name) != Some(&at) {
                self.net.detach_host(&name)?;
            }
        }
        for (name, (d, p)) in want {
            if self.net.host_location(&name).is_none() {
                self.net.attach_host(&name, d, p)?;
            }
        }
        Ok(())
    }

    /// The network.
    pub fn network(&self) -> &Network<ModelController> {
        &self.net
    }

    /// The network, mutably (to inject raw frames or change limits).
    pub fn network_mut(&mut self) -> &mut Network<ModelController> {
        &mut self.net
    }

    /// The model.
    pub fn model(&self) -> &Model {
        self.net.controller().model()
    }

    /// The incremental compiler, in step with the model.
    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// Send a frame in where the reference model's [`Entry`] says.
    pub fn inject(&mut self, entry: Entry, packet: crate::Packet) -> Result<Trace, NetworkError> {
        self.net.inject(entry.into(), packet)
    }

    /// Move time forward (flows expire; the controller cleans up pinholes).
    pub fn advance_to(&mut self, now: Duration) -> Result<Trace, NetworkError> {
        self.net.advance_to(now)
    }

    /// Change the model with `f` (one of the [`Model`]'s mutators). If it succeeds, re-attach
    /// hosts, send the incremental compiler's flow_mods, the deletes of the pinholes the change
    /// cuts, and one gratuitous ARP ([`gratuitous_arp`]) for every elastic IP now hosted
    /// elsewhere; return what the change touched and the trace of those messages.
    /// If `f` fails, nothing changes and its error is returned inside `Ok`.
    pub fn change<F>(&mut self, f: F) -> Result<Result<(Touched, Trace), ModelError>, NetworkError>
    where
        F: FnOnce(&mut Model) -> Result<Touched, ModelError>,
    {
        let hosts = |m: &Model| -> BTreeMap<Ipv4Addr, Option<Attachment>> {
            m.elastic_ips()
                .keys()
                .map(|ip| (*ip, m.elastic_ip_host(*ip).and_then(|i| i.attachment)))
                .collect()
        };
        let before = hosts(self.model());
        let touched = match f(&mut self.net.controller_mut().model) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        self.sync_topology()?;
        let model = self.net.controller().model().clone();
        let mut msgs = messages(self.compiler.update(&model, &touched));
        msgs.extend(messages(self.net.controller_mut().pinholes.cut(&touched)));
        // Announce every elastic IP that now lives somewhere else, once the flows are in.
        for (ip, at) in hosts(&model) {
            if at.is_some() && before.get(&ip) != Some(&at) {
                if let Some(po) = gratuitous_arp(&model, ip) {
                    msgs.push(ControllerMessage::PacketOut {
                        switch: po.switch,
                        in_port: po.in_port,
                        actions: po.actions.into_vec(),
                        packet: po.packet,
                    });
                }
            }
        }
        let trace = self.net.send(msgs)?;
        Ok(Ok((touched, trace)))
    }

    /// The reference model's name for a destination.
    pub fn endpoint(&self, d: &Destination) -> Option<Endpoint> {
        match d {
            Destination::Host(name) => InstanceId::new(name).ok().map(Endpoint::Instance),
            Destination::Outside => Some(Endpoint::Outside),
            Destination::Local(_) => None,
        }
    }
}
