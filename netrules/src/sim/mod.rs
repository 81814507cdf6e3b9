//! An OpenFlow 1.0 simulator: flow tables with the specification's exact semantics, action
//! application, and a network of switches with hosts, an outside segment and a controller.
//!
//! It exists to show that compiled flows do what the model says, the way Faucet tests its
//! pipelines against a fake OpenFlow table: load the flow_mods into a [`Network`], send
//! packets in at a [`Point`], and read the [`Trace`]: which [`Destination`]s received which
//! headers, what was dropped and why, what went to the controller and what it did.
//!
//! - [`FlowTable`]: add / modify / delete, strict and not, with the `out_port` filter;
//!   lookup with exact-match flows above all wildcarded ones, then priority; CIDR prefixes;
//!   VLAN any / untagged / id; the ARP opcode and addresses and the ICMP type and code as
//!   OpenFlow 1.0 overloads `nw_proto`, `nw_*` and `tp_*`; idle and hard timeouts driven by
//!   explicit time with flow_removed messages; counters. Equal-rank overlaps are reported.
//! - [`matching`]: the match semantics as pure functions (prerequisites, packet match,
//!   subsumption, overlap), shared with invariant checks.
//! - [`apply_actions`]: rewrites and outputs in order; each output sees the packet as
//!   modified so far; an empty list drops.
//! - [`Network`]: switches with ports, hosts on ports, uplinks joined to one outside segment
//!   with the public gateway, a [`Controller`] that receives packet_ins and flow_removed
//!   messages and answers with flow_mods and packet_outs, and a hop limit against loops.
//!
//! Where the specification is loose, the simulator does what Open vSwitch 3.1 does (the
//! crate's `ovs_oracle` test compares the two on random tables): field prerequisites are
//! enforced by dropping the field; an exact-match flow gets priority 65535 and ties with
//! wildcarded flows of that priority; `set_tp_src`/`set_tp_dst` also rewrite the ICMP type and
//! code; `FLOOD` and `ALL` include the local port; an output to the input port sends nothing.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use netrules::sim::{Destination, Network, Point, SilentController};
//! use netrules::Packet;
//! use openflow_proto::{Action, FlowMod, Match, MacAddr, PortNo};
//!
//! let mut net = Network::new(SilentController);
//! net.add_switch(1, Some(PortNo(100))).unwrap();
//! net.attach_host("a", 1, PortNo(1)).unwrap();
//! net.attach_host("b", 1, PortNo(2)).unwrap();
//!
//! // Forward everything from port 1 to port 2.
//! let mut m = Match::any();
//! m.in_port = Some(PortNo(1));
//! net.apply_flow_mod(1, &FlowMod::add(m, 10, vec![Action::output(PortNo(2))])).unwrap();
//!
//! let p = Packet::ipv4(
//!     MacAddr([2, 0, 0, 0, 0, 1]),
//!     MacAddr([2, 0, 0, 0, 0, 2]),
//!     Ipv4Addr::new(10, 0, 0, 1),
//!     Ipv4Addr::new(10, 0, 0, 2),
//!     6,
//!     40000,
//!     22,
//! );
//! let trace = net.inject(Point::Host("a".into()), p).unwrap();
//! assert_eq!(trace.delivered_to(&Destination::Host("b".into())), vec![p]);
//!
//! // The other way, nothing matches: the packet goes to the controller, which says nothing.
//! let trace = net.inject(Point::Host("b".into()), p.reversed()).unwrap();
//! assert!(trace.is_dropped());
//! assert_eq!(trace.packet_ins().count(), 1);
//! ```

mod actions;
pub mod matching;
mod model_net;
mod network;
mod table;

pub use actions::{apply_actions, rewrite, Emit};
pub use model_net::{ModelController, ModelNetwork};
pub use network::{
    nominal_len, Controller, ControllerMessage, Delivery, Destination, Dpid, DropReason, Limits,
    MissBehavior, Network, NetworkError, PacketIn, PacketInReason, Point, PortPeer,
    SilentController, Switch, Trace, TraceEvent,
};
pub use table::{
    FlowEntry, FlowId, FlowModError, FlowModOutcome, FlowRemoved, FlowTable, Lookup, RemovedReason,
    TableConfig, TableStats, EXACT_MATCH_PRIORITY,
};
