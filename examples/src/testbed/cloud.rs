//! The seed's cloud: hypervisor bridges, an outside segment with an outside host, instances.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use ipnetwork::Ipv4Network;

use super::netns::Netns;
use super::ovs::{BridgeSpec, Ovs};
use super::{validate_ifname, MacAddr, Result, TestbedError, DEFAULT_PREFIX};

/// The Linux bridge, in the switch namespace, that joins the hypervisors' uplinks and the
/// outside host.
pub const OUTSIDE_SEGMENT: &str = "outside";

/// The switch-side interface of the outside host's veth (on [`OUTSIDE_SEGMENT`]).
pub const OUTSIDE_HOST_PORT: &str = "outhost";

/// One hypervisor: an Open vSwitch bridge with an uplink to the outside segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HypervisorSpec {
    /// The bridge name (at most 15 bytes).
    pub bridge: String,
    /// The bridge's pinned datapath id.
    pub datapath_id: u64,
    /// The uplink port name on the bridge (at most 15 bytes).
    pub uplink: String,
    /// The uplink's OpenFlow port number.
    pub uplink_ofport: u16,
}

impl HypervisorSpec {
    /// A hypervisor bridge `bridge` with datapath id `datapath_id`, its uplink `<bridge>-up` on
    /// OpenFlow port 1.
    pub fn new(bridge: &str, datapath_id: u64) -> HypervisorSpec {
        HypervisorSpec {
            bridge: bridge.to_owned(),
            datapath_id,
            uplink: format!("{bridge}-up"),
            uplink_ofport: 1,
        }
    }
}

/// The outside host: a namespace on the outside segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideSpec {
    /// Its addresses with prefix length (the first one is the primary).
    pub addresses: Vec<Ipv4Network>,
    /// Its default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Its MAC address (random if `None`).
    pub mac: Option<MacAddr>,
}

impl Default for OutsideSpec {
    /// `203.0.113.10/24` (TEST-NET-3: the public side), no gateway, a random MAC.
    fn default() -> OutsideSpec {
        OutsideSpec {
            addresses: vec![Ipv4Network::new(Ipv4Addr::new(203, 0, 113, 10), 24)
                .unwrap_or_else(|_| Ipv4Network::from(Ipv4Addr::new(203, 0, 113, 10)))],
            gateway: None,
            mac: None,
        }
    }
}

/// An instance to attach to a hypervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The instance id; also the name of its port on the bridge (at most 15 bytes).
    pub id: String,
    /// Its private address with prefix length.
    pub address: Ipv4Network,
    /// Its default gateway, if any.
    pub gateway: Option<Ipv4Addr>,
    /// Its MAC address (random if `None`).
    pub mac: Option<MacAddr>,
    /// The OpenFlow port number to ask for (the switch picks one if `None`).
    pub ofport: Option<u16>,
}

impl InstanceSpec {
    /// An instance with this id and address, no gateway, a random MAC, any port number.
    pub fn new(id: &str, address: Ipv4Network) -> InstanceSpec {
        InstanceSpec {
            id: id.to_owned(),
            address,
            gateway: None,
            mac: None,
            ofport: None,
        }
    }

    /// Sets the default gateway.
    pub fn gateway(mut self, gateway: Ipv4Addr) -> InstanceSpec {
        self.gateway = Some(gateway);
        self
    }

    /// Sets the MAC address.
    pub fn mac(mut self, mac: MacAddr) -> InstanceSpec {
        self.mac = Some(mac);
        self
    }

    /// Asks for this OpenFlow port number.
    pub fn ofport(mut self, ofport: u16) -> InstanceSpec {
        self.ofport = Some(ofport);
        self
    }
}

/// An instance attached to a hypervisor: a namespace whose `eth0` is a veth whose other end, on
/// the bridge, is named after the instance id.
#[derive(Debug)]
pub struct Instance {
    spec: InstanceSpec,
    hypervisor: String,
    ofport: u16,
    mac: MacAddr,
    netns: Netns,
}

impl Instance {
    /// The instance id (and port name).
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Its private address.
    pub fn ip(&self) -> Ipv4Addr {
        self.spec.address.ip()
    }

    /// Its MAC address (of `eth0` in its namespace).
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Its OpenFlow port number on the hypervisor bridge.
    pub fn ofport(&self) -> u16 {
        self.ofport
    }

    /// The bridge it is attached to.
    pub fn hypervisor(&self) -> &str {
        &self.hypervisor
    }

    /// Its namespace (run commands, traffic, neighbour table).
    pub fn netns(&self) -> &Netns {
        &self.netns
    }

    /// What it was created from.
    pub fn spec(&self) -> &InstanceSpec {
        &self.spec
    }
}

/// An additional host on the outside segment ([`Cloud::add_outside_host`]).
#[derive(Debug)]
pub struct OutsideHost {
    name: String,
    spec: OutsideSpec,
    mac: MacAddr,
    netns: Netns,
}

impl OutsideHost {
    /// Its name in the cloud.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its primary address.
    pub fn ip(&self) -> Option<Ipv4Addr> {
        self.spec.addresses.first().map(|network| network.ip())
    }

    /// Its MAC address.
    pub fn mac(&self) -> MacAddr {
        self.mac
    }

    /// Its namespace.
    pub fn netns(&self) -> &Netns {
        &self.netns
    }
}

/// Describes a cloud to build; [`Cloud::seed`] gives the seed's two-hypervisor topology.
#[derive(Debug, Clone)]
pub struct CloudBuilder {
    prefix: String,
    hypervisors: Vec<HypervisorSpec>,
    outside: OutsideSpec,
}

impl Default for CloudBuilder {
    fn default() -> CloudBuilder {
        CloudBuilder {
            prefix: DEFAULT_PREFIX.to_owned(),
            hypervisors: Vec::new(),
            outside: OutsideSpec::default(),
        }
    }
}

impl CloudBuilder {
    /// A cloud without hypervisors, the default outside host and name prefix.
    pub fn new() -> CloudBuilder {
        CloudBuilder::default()
    }

    /// Uses this name prefix (see [`super::validate_prefix`]).
    pub fn prefix(mut self, prefix: &str) -> CloudBuilder {
        self.prefix = prefix.to_owned();
        self
    }

    /// Adds a hypervisor.
    pub fn hypervisor(mut self, spec: HypervisorSpec) -> CloudBuilder {
        self.hypervisors.push(spec);
        self
    }

    /// Sets the outside host.
    pub fn outside(mut self, spec: OutsideSpec) -> CloudBuilder {
        self.outside = spec;
        self
    }

    /// Builds it: a private Open vSwitch, the bridges, the outside segment and host.
    pub fn start(self) -> Result<Cloud> {
        let mut seen = Vec::new();
        for spec in &self.hypervisors {
            validate_ifname("bridge", &spec.bridge)?;
            validate_ifname("uplink", &spec.uplink)?;
            for name in [&spec.bridge, &spec.uplink] {
                if seen.contains(name)
                    || [OUTSIDE_SEGMENT, OUTSIDE_HOST_PORT].contains(&name.as_str())
                {
                    return Err(TestbedError::Duplicate {
                        kind: "interface",
                        name: name.clone(),
                    });
                }
                seen.push(name.clone());
            }
        }
        let ovs = Ovs::start_with_prefix(&self.prefix)?;
        let switch = ovs.switch_netns();
        quiet_ipv6(switch)?;
        switch.exec_ok(
            "ip",
            &["link", "add", "name", OUTSIDE_SEGMENT, "type", "bridge"],
        )?;
        switch.exec_ok("ip", &["link", "set", OUTSIDE_SEGMENT, "up"])?;
        for (index, spec) in self.hypervisors.iter().enumerate() {
            ovs.add_bridge(&BridgeSpec::new(&spec.bridge, spec.datapath_id))?;
            let segment_end = format!("seg{}", index + 1);
            switch.exec_ok(
                "ip",
                &[
                    "link",
                    "add",
                    "name",
                    &spec.uplink,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &segment_end,
                ],
            )?;
            switch.exec_ok(
                "ip",
                &["link", "set", &segment_end, "master", OUTSIDE_SEGMENT],
            )?;
            switch.exec_ok("ip", &["link", "set", &segment_end, "up"])?;
            switch.exec_ok("ip", &["link", "set", &spec.uplink, "up"])?;
            ovs.add_port(&spec.bridge, &spec.uplink, Some(spec.uplink_ofport))?;
        }
        let outside_host = Netns::create(&format!("{}-out", ovs.base_name()))?;
        quiet_ipv6(&outside_host)?;
        attach_veth(switch, OUTSIDE_HOST_PORT, &outside_host)?;
        switch.exec_ok(
            "ip",
            &["link", "set", OUTSIDE_HOST_PORT, "master", OUTSIDE_SEGMENT],
        )?;
        switch.exec_ok("ip", &["link", "set", OUTSIDE_HOST_PORT, "up"])?;
        configure_eth0(
            &outside_host,
            self.outside.mac,
            &self.outside.addresses,
            self.outside.gateway,
        )?;
        let outside_mac = outside_host.mac("eth0")?;
        Ok(Cloud {
            instances: BTreeMap::new(),
            extra_outside: BTreeMap::new(),
            outside_host,
            outside: self.outside,
            outside_mac,
            hypervisors: self.hypervisors,
            ovs,
        })
    }
}

/// Turns IPv6 off in a namespace (no router solicitations or duplicate address detection to
/// disturb flow counters and controllers).
fn quiet_ipv6(netns: &Netns) -> Result<()> {
    netns.set_sysctl("net.ipv6.conf.all.disable_ipv6", "1")?;
    netns.set_sysctl("net.ipv6.conf.default.disable_ipv6", "1")
}

/// Creates a veth pair: `switch_end` in the switch namespace, `eth0` in `netns`.
fn attach_veth(switch: &Netns, switch_end: &str, netns: &Netns) -> Result<()> {
    super::process::run_ok(
        "ip",
        [
            "link",
            "add",
            "name",
            switch_end,
            "netns",
            switch.name(),
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            netns.name(),
        ],
    )
    .map(|_| ())
}

/// Configures `eth0` of a namespace: MAC, addresses, up, transmit checksum offload off (TCP
/// through the userspace datapath needs it), default route.
fn configure_eth0(
    netns: &Netns,
    mac: Option<MacAddr>,
    addresses: &[Ipv4Network],
    gateway: Option<Ipv4Addr>,
) -> Result<()> {
    if let Some(mac) = mac {
        netns.exec_ok("ip", &["link", "set", "eth0", "address", &mac.to_string()])?;
    }
    for address in addresses {
        netns.exec_ok("ip", &["addr", "add", &address.to_string(), "dev", "eth0"])?;
    }
    netns.exec_ok("ip", &["link", "set", "eth0", "up"])?;
    netns.exec_ok("ethtool", &["-K", "eth0", "tx", "off"])?;
    if let Some(gateway) = gateway {
        netns.exec_ok(
            "ip",
            &[
                "route",
                "add",
                "default",
                "via",
                &gateway.to_string(),
                "dev",
                "eth0",
            ],
        )?;
    }
    Ok(())
}

/// A running cloud. Dropping it removes the instances, the outside host and the Open vSwitch.
#[derive(Debug)]
pub struct Cloud {
    // Fields drop in this order: instances and outside host first, the switch last.
    instances: BTreeMap<String, Instance>,
    extra_outside: BTreeMap<String, OutsideHost>,
    outside_host: Netns,
    outside: OutsideSpec,
    outside_mac: MacAddr,
    hypervisors: Vec<HypervisorSpec>,
    ovs: Ovs,
}

impl Cloud {
    /// The seed's topology: hypervisors `hv1` (datapath id 1) and `hv2` (datapath id 2), uplinks
    /// `hv1-up` and `hv2-up` on port 1, joined by the outside segment with the outside host at
    /// `203.0.113.10/24`.
    pub fn seed() -> CloudBuilder {
        CloudBuilder::new()
            .hypervisor(HypervisorSpec::new("hv1", 1))
            .hypervisor(HypervisorSpec::new("hv2", 2))
    }

    /// The Open vSwitch running the bridges.
    pub fn ovs(&self) -> &Ovs {
        &self.ovs
    }

    /// The hypervisors.
    pub fn hypervisors(&self) -> &[HypervisorSpec] {
        &self.hypervisors
    }

    /// The hypervisor with this bridge name.
    pub fn hypervisor(&self, bridge: &str) -> Result<&HypervisorSpec> {
        self.hypervisors
            .iter()
            .find(|h| h.bridge == bridge)
            .ok_or_else(|| TestbedError::Unknown {
                kind: "hypervisor",
                name: bridge.to_owned(),
            })
    }

    /// The outside host's namespace.
    pub fn outside_host(&self) -> &Netns {
        &self.outside_host
    }

    /// The outside host's primary address.
    pub fn outside_ip(&self) -> Option<Ipv4Addr> {
        self.outside.addresses.first().map(|network| network.ip())
    }

    /// The outside host's MAC address.
    pub fn outside_mac(&self) -> MacAddr {
        self.outside_mac
    }

    /// Adds another host on the outside segment (for example a second source for CIDR rules).
    /// Its switch-side port is `o-<name>`, so `name` has at most 13 bytes.
    pub fn add_outside_host(&mut self, name: &str, spec: OutsideSpec) -> Result<&OutsideHost> {
        let port = format!("o-{name}");
        validate_ifname("outside host port", &port)?;
        if self.extra_outside.contains_key(name) {
            return Err(TestbedError::Duplicate {
                kind: "outside host",
                name: name.to_owned(),
            });
        }
        let netns = Netns::create(&format!("{}-out-{name}", self.ovs.base_name()))?;
        quiet_ipv6(&netns)?;
        let switch = self.ovs.switch_netns();
        attach_veth(switch, &port, &netns)?;
        switch.exec_ok("ip", &["link", "set", &port, "master", OUTSIDE_SEGMENT])?;
        switch.exec_ok("ip", &["link", "set", &port, "up"])?;
        configure_eth0(&netns, spec.mac, &spec.addresses, spec.gateway)?;
        let mac = netns.mac("eth0")?;
        let host = OutsideHost {
            name: name.to_owned(),
            spec,
            mac,
            netns,
        };
        Ok(self.extra_outside.entry(name.to_owned()).or_insert(host))
    }

    /// The additional outside host with this name.
    pub fn outside_host_named(&self, name: &str) -> Result<&OutsideHost> {
        self.extra_outside
            .get(name)
            .ok_or_else(|| TestbedError::Unknown {
                kind: "outside host",
                name: name.to_owned(),
            })
    }

    /// Points every hypervisor bridge at the controller at `addr` (see [`Ovs::set_controller`]:
    /// do it before installing flows, as the first controller flushes the flow table).
    pub fn set_controller(&self, addr: SocketAddr) -> Result<()> {
        for hypervisor in &self.hypervisors {
            self.ovs.set_controller(&hypervisor.bridge, addr)?;
        }
        Ok(())
    }

    /// Attaches a new instance to hypervisor `bridge`: a namespace, a veth whose bridge end is
    /// named after the instance id, the address, MAC, gateway and checksum settings, and the port
    /// on the bridge (which the switch then announces to its controller).
    pub fn add_instance(&mut self, bridge: &str, spec: InstanceSpec) -> Result<&Instance> {
        validate_ifname("instance port", &spec.id)?;
        self.hypervisor(bridge)?;
        let reserved = [OUTSIDE_SEGMENT, OUTSIDE_HOST_PORT];
        if self.instances.contains_key(&spec.id)
            || reserved.contains(&spec.id.as_str())
            || self
                .hypervisors
                .iter()
                .any(|h| h.bridge == spec.id || h.uplink == spec.id)
        {
            return Err(TestbedError::Duplicate {
                kind: "interface",
                name: spec.id.clone(),
            });
        }
        let netns = Netns::create(&format!("{}-{}", self.ovs.base_name(), spec.id))?;
        quiet_ipv6(&netns)?;
        let switch = self.ovs.switch_netns();
        attach_veth(switch, &spec.id, &netns)?;
        configure_eth0(&netns, spec.mac, &[spec.address], spec.gateway)?;
        let mac = netns.mac("eth0")?;
        switch.exec_ok("ip", &["link", "set", &spec.id, "up"])?;
        let ofport = self.ovs.add_port(bridge, &spec.id, spec.ofport)?;
        let id = spec.id.clone();
        let instance = Instance {
            spec,
            hypervisor: bridge.to_owned(),
            ofport,
            mac,
            netns,
        };
        Ok(self.instances.entry(id).or_insert(instance))
    }

    /// Detaches an instance: removes its port from the bridge and deletes its namespace.
    pub fn remove_instance(&mut self, id: &str) -> Result<()> {
        let instance = self
            .instances
            .remove(id)
            .ok_or_else(|| TestbedError::Unknown {
                kind: "instance",
                name: id.to_owned(),
            })?;
        self.ovs.del_port(&instance.hypervisor, id)?;
        drop(instance);
        Ok(())
    }

    /// The instance with this id.
    pub fn instance(&self, id: &str) -> Result<&Instance> {
        self.instances.get(id).ok_or_else(|| TestbedError::Unknown {
            kind: "instance",
            name: id.to_owned(),
        })
    }

    /// All instances, by id.
    pub fn instances(&self) -> impl Iterator<Item = &Instance> {
        self.instances.values()
    }
}
