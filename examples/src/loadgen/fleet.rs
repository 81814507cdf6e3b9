//! The emulated switches' world: their datapath ids and ports, the instances attached to
//! them, the model a controller needs to serve them, and the packets those instances send.
//!
//! Every instance belongs to one security group that allows all egress and no ingress, and
//! has an elastic IP. A TCP SYN from an instance to an outside address is therefore allowed
//! but its reply is not: the switch punts it, and the controller tracks the connection and
//! installs two pinholes (one per direction) before sending the packet on. Each packet a
//! [`Fleet`] makes is a connection never seen before (source port, destination address and
//! port vary with a counter), so every packet_in runs the controller's reactive path.

use crate::core::frame;
use core::net::Ipv4Addr;
use netrules::model::{
    Attachment, Dpid, ElasticIp, Instance, InstanceId, Model, ModelError, OwnerId, SecurityGroup,
    Settings, Switch,
};
use netrules::Packet;
use openflow_proto::{MacAddr, PortNo};

/// The uplink port number of every emulated switch.
pub const UPLINK: PortNo = PortNo(1);

/// The first port number instances are attached to (then one port per instance).
pub const FIRST_INSTANCE_PORT: u16 = 2;

/// The most instances one emulated switch may carry.
pub const MAX_INSTANCES_PER_SWITCH: u16 = 1000;

/// The most instances in a fleet (they share the private /16 of the test settings).
pub const MAX_INSTANCES: u32 = 60_000;

/// Destinations are taken from 198.18.0.0/15, the range set aside for benchmarks (RFC 2544).
const DEST_BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
const DEST_COUNT: u64 = 1 << 17;
/// Elastic IPs are taken from 100.64.0.0/10.
const EIP_BASE: u32 = u32::from_be_bytes([100, 64, 0, 0]);
/// Private addresses start at 10.0.1.0 (the test settings' subnet is 10.0.0.0/16).
const PRIVATE_BASE: u32 = u32::from_be_bytes([10, 0, 1, 0]);
/// Source ports used: 1024..=65535.
const SOURCE_PORTS: u64 = 65536 - 1024;
/// Offset of the TCP sequence number in a frame made by [`FleetSwitch::frame`] (Ethernet 14, IPv4
/// 20, then 4 bytes of ports).
pub const TCP_SEQ_OFFSET: usize = 14 + 20 + 4;

/// Why a fleet cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Zero switches or instances, or more than the address plan holds.
    #[error(
        "{switches} switches x {instances} instances: expected 1..={MAX_INSTANCES_PER_SWITCH} \
         instances per switch, at least one switch, and at most {MAX_INSTANCES} instances in all"
    )]
    Size {
        /// Switches asked for.
        switches: u32,
        /// Instances per switch asked for.
        instances: u16,
    },
    /// The model refused an element (a bug in the address plan, or odd settings).
    #[error("building the model: {0}")]
    Model(#[from] ModelError),
}

/// One instance of an emulated switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetInstance {
    /// Its id (also the name of its switch port, so a controller binds the port to it).
    pub id: InstanceId,
    /// Its MAC address.
    pub mac: MacAddr,
    /// Its private address.
    pub ip: Ipv4Addr,
    /// The switch port it is attached to.
    pub port: PortNo,
    /// Its elastic IP.
    pub elastic_ip: Ipv4Addr,
}

/// One emulated switch: its datapath id and instances.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetSwitch {
    /// Its datapath id.
    pub dpid: Dpid,
    /// Its instances, one per port from [`FIRST_INSTANCE_PORT`].
    pub instances: Vec<FleetInstance>,
}

impl FleetSwitch {
    /// The ports the switch reports in its features reply: `(number, name)`, the uplink
    /// (`uplink`) first, then one per instance named after it.
    pub fn ports(&self) -> Vec<(u16, String)> {
        std::iter::once((UPLINK.0, "uplink".to_owned()))
            .chain(
                self.instances
                    .iter()
                    .map(|i| (i.port.0, i.id.as_str().to_owned())),
            )
            .collect()
    }

    /// Which instance sends the `n`th connection, and its source port, destination address
    /// and destination port (see [`FleetSwitch::packet`]).
    pub fn connection(&self, n: u64) -> Option<(usize, u16, Ipv4Addr, u16)> {
        let k = u64::try_from(self.instances.len()).ok()?;
        let inst = usize::try_from(n.checked_rem(k)?).ok()?;
        let m = n / k;
        let sport = u16::try_from(1024 + m % SOURCE_PORTS).ok()?;
        let m = m / SOURCE_PORTS;
        let dst = DEST_BASE + u32::try_from(m % DEST_COUNT).ok()?;
        let m = m / DEST_COUNT;
        let dport = u16::try_from(1 + m % 65535).ok()?;
        Some((inst, sport, Ipv4Addr::from(dst), dport))
    }

    /// The headers of the `n`th new outbound connection from this switch's instances: a TCP
    /// SYN from instance `n % instances` to an address in 198.18.0.0/15 through the virtual
    /// router, with source port, destination address and destination port derived from `n`
    /// so that no two values of `n` below 2^48 give the same connection.
    pub fn packet(&self, settings: &Settings, n: u64) -> Option<Packet> {
        let (inst, sport, dst, dport) = self.connection(n)?;
        let inst = self.instances.get(inst)?;
        Some(Packet::ipv4(
            inst.mac,
            settings.router_mac,
            inst.ip,
            dst,
            6,
            sport,
            dport,
        ))
    }

    /// The frame of [`FleetSwitch::packet`] `n`, with the low 32 bits of `n` as its TCP
    /// sequence number (so an answer carrying the frame back names the packet it answers).
    pub fn frame(&self, settings: &Settings, n: u64) -> Option<Vec<u8>> {
        let mut f = frame::synthesize(&self.packet(settings, n)?);
        let seq = f.get_mut(TCP_SEQ_OFFSET..TCP_SEQ_OFFSET + 4)?;
        seq.copy_from_slice(&(n as u32).to_be_bytes());
        Some(f)
    }
}

/// [`FleetSwitch::frame`] made fast: one synthesized frame per instance, patched for each
/// connection (ports, destination address, IPv4 checksum, sequence number).
#[derive(Clone, Debug)]
pub struct FrameTemplates {
    templates: Vec<Vec<u8>>,
}

/// Offsets in a template (untagged Ethernet, 20-byte IPv4 header, then TCP).
const IP_CHECKSUM: usize = 14 + 10;
const IP_DST: usize = 14 + 16;
const TCP_SRC: usize = 14 + 20;

fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in header.chunks(2) {
        let hi = u32::from(pair.first().copied().unwrap_or(0));
        let lo = u32::from(pair.get(1).copied().unwrap_or(0));
        sum += (hi << 8) | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl FrameTemplates {
    /// The templates of `switch`'s instances.
    pub fn new(switch: &FleetSwitch, settings: &Settings) -> Self {
        let templates = (0..switch.instances.len() as u64)
            .filter_map(|k| switch.frame(settings, k))
            .collect();
        FrameTemplates { templates }
    }

    /// The same bytes as `switch.frame(settings, n)`.
    pub fn frame(&self, switch: &FleetSwitch, n: u64) -> Option<Vec<u8>> {
        let (inst, sport, dst, dport) = switch.connection(n)?;
        let mut f = self.templates.get(inst)?.clone();
        f.get_mut(TCP_SRC..TCP_SRC + 2)?
            .copy_from_slice(&sport.to_be_bytes());
        f.get_mut(TCP_SRC + 2..TCP_SRC + 4)?
            .copy_from_slice(&dport.to_be_bytes());
        f.get_mut(TCP_SEQ_OFFSET..TCP_SEQ_OFFSET + 4)?
            .copy_from_slice(&(n as u32).to_be_bytes());
        f.get_mut(IP_DST..IP_DST + 4)?
            .copy_from_slice(&dst.octets());
        f.get_mut(IP_CHECKSUM..IP_CHECKSUM + 2)?
            .copy_from_slice(&[0, 0]);
        let c = ipv4_checksum(f.get(14..34)?);
        f.get_mut(IP_CHECKSUM..IP_CHECKSUM + 2)?
            .copy_from_slice(&c.to_be_bytes());
        Some(f)
    }
}

/// The TCP sequence number of a frame made by [`FleetSwitch::frame`], if it is long enough.
pub fn frame_seq(frame: &[u8]) -> Option<u32> {
    let b: [u8; 4] = frame
        .get(TCP_SEQ_OFFSET..TCP_SEQ_OFFSET + 4)?
        .try_into()
        .ok()?;
    Some(u32::from_be_bytes(b))
}

/// The emulated switches and their instances (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fleet {
    /// The network settings.
    pub settings: Settings,
    /// The switches, datapath ids `first_dpid..`.
    pub switches: Vec<FleetSwitch>,
}

fn owner() -> Result<OwnerId, ModelError> {
    OwnerId::new("111122223333")
}

fn group() -> Result<netrules::model::GroupId, ModelError> {
    netrules::model::GroupId::new("sg-loadgen")
}

impl Fleet {
    /// `switches` switches with datapath ids from `first_dpid`, each with `instances`
    /// instances.
    pub fn new(
        settings: Settings,
        first_dpid: Dpid,
        switches: u32,
        instances: u16,
    ) -> Result<Self, FleetError> {
        let total = u64::from(switches) * u64::from(instances);
        if switches == 0
            || instances == 0
            || instances > MAX_INSTANCES_PER_SWITCH
            || total > u64::from(MAX_INSTANCES)
        {
            return Err(FleetError::Size {
                switches,
                instances,
            });
        }
        let mut out = Vec::new();
        let mut index: u32 = 0;
        for s in 0..switches {
            let dpid = first_dpid.wrapping_add(u64::from(s));
            let mut list = Vec::new();
            for k in 0..instances {
                let [_, _, hi, lo] = index.to_be_bytes();
                let [_, b1, b2, b3] = index.to_be_bytes();
                list.push(FleetInstance {
                    id: InstanceId::new(format!("i-lg{dpid:x}-{k}"))?,
                    mac: MacAddr([0x02, 0x1a, b1, b2, b3, 0x01]),
                    ip: Ipv4Addr::from(PRIVATE_BASE + index),
                    port: PortNo(FIRST_INSTANCE_PORT + k),
                    elastic_ip: Ipv4Addr::from(EIP_BASE + u32::from_be_bytes([0, 0, hi, lo])),
                });
                index += 1;
            }
            out.push(FleetSwitch {
                dpid,
                instances: list,
            });
        }
        Ok(Fleet {
            settings,
            switches: out,
        })
    }

    /// The model a controller needs to serve the fleet: the switches (uplink port 1), one
    /// security group allowing all egress, and every instance attached with its elastic IP.
    pub fn model(&self) -> Result<Model, ModelError> {
        let mut m = Model::new(self.settings)?;
        let owner = owner()?;
        let gid = group()?;
        m.add_group(SecurityGroup::new(
            gid.clone(),
            "loadgen",
            owner.clone(),
            "all egress, no ingress",
        ))?;
        for (n, s) in self.switches.iter().enumerate() {
            m.add_switch(Switch {
                dpid: s.dpid,
                uplink: UPLINK,
            })?;
            for (k, i) in s.instances.iter().enumerate() {
                m.add_instance(Instance {
                    id: i.id.clone(),
                    owner: owner.clone(),
                    mac: i.mac,
                    ip: i.ip,
                    groups: [gid.clone()].into(),
                    attachment: Some(Attachment {
                        switch: s.dpid,
                        port: i.port,
                    }),
                })?;
                m.allocate(ElasticIp {
                    public_ip: i.elastic_ip,
                    allocation_id: netrules::model::AllocationId::new(format!(
                        "eipalloc-lg{n}-{k}"
                    ))?,
                    owner: owner.clone(),
                    instance: Some(i.id.clone()),
                })?;
            }
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sim_switch::test_settings;
    use netrules::pinhole::Pinholes;
    use std::collections::HashSet;

    #[test]
    fn sizes_are_checked() {
        for (s, k) in [(0, 1), (1, 0), (1, 1001), (61, 1000)] {
            assert!(matches!(
                Fleet::new(test_settings(), 1, s, k),
                Err(FleetError::Size { .. })
            ));
        }
        let f = Fleet::new(test_settings(), 10, 60, 1000).unwrap();
        assert_eq!(f.switches.len(), 60);
        assert_eq!(f.switches[59].dpid, 69);
    }

    #[test]
    fn model_accepts_the_fleet() {
        let f = Fleet::new(test_settings(), 1, 3, 4).unwrap();
        let m = f.model().unwrap();
        for s in &f.switches {
            assert_eq!(m.instances_on(s.dpid).count(), 4);
            for i in &s.instances {
                assert_eq!(m.elastic_ip_of(&i.id), Some(i.elastic_ip));
            }
            let ports = s.ports();
            assert_eq!(ports[0], (1, "uplink".to_owned()));
            assert_eq!(ports.len(), 5);
        }
    }

    #[test]
    fn packets_are_distinct_connections() {
        let f = Fleet::new(test_settings(), 1, 1, 3).unwrap();
        let s = &f.switches[0];
        let mut seen = HashSet::new();
        // Across the wrap of the source ports.
        for n in (0..2000).chain(3 * SOURCE_PORTS - 5..3 * SOURCE_PORTS + 200) {
            let p = s.packet(&f.settings, n).unwrap();
            assert!(seen.insert((p.nw_src, p.tp_src, p.nw_dst, p.tp_dst)), "{n}");
            assert!(!f.settings.subnet.contains(p.nw_dst));
            let frame = s.frame(&f.settings, n).unwrap();
            assert_eq!(frame_seq(&frame), Some(n as u32));
            assert_eq!(frame::extract(&frame), Some(p));
        }
    }

    #[test]
    fn every_packet_is_a_new_pinholed_connection() {
        let f = Fleet::new(test_settings(), 1, 2, 2).unwrap();
        let m = f.model().unwrap();
        let mut pinholes = Pinholes::new(Default::default());
        for s in &f.switches {
            for n in 0..50 {
                let frame = s.frame(&f.settings, n).unwrap();
                let p = frame::extract(&frame).unwrap();
                let inst = &s.instances[(n % 2) as usize];
                let d = pinholes.packet_in(&m, s.dpid, inst.port, &p);
                assert_eq!(d.flow_mods().len(), 2, "{n}: {:?}", d.outcome);
                assert!(d.packet_out.is_some());
            }
        }
        // One tracked connection (with its two pinholes) per packet: 2 switches x 50.
        assert_eq!(pinholes.len(), 100);
    }

    proptest::proptest! {
        #[test]
        fn templates_make_the_same_frames(n in proptest::prelude::any::<u64>(), k in 1u16..7) {
            let f = Fleet::new(test_settings(), 1, 1, k).unwrap();
            let s = &f.switches[0];
            let t = FrameTemplates::new(s, &f.settings);
            proptest::prop_assert_eq!(t.frame(s, n), s.frame(&f.settings, n));
        }
    }

    #[test]
    fn short_frames_have_no_seq() {
        assert_eq!(frame_seq(&[0; 41]), None);
    }
}
