//! Port numbers, with named constants for the reserved ports.

use core::fmt;

/// An OpenFlow 1.0 port number.
///
/// Physical ports are `1..=0xfeff`; the values from [`PortNo::MAX`] upwards are reserved.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]

pub struct PortNo(pub u16);

impl PortNo {
    /// The highest port number a physical port can have is below this one (`OFPP_MAX`).
    pub const MAX: PortNo = PortNo(0xff00);
    /// Send the packet out the port it came in on (`OFPP_IN_PORT`).
    pub const IN_PORT: PortNo = PortNo(0xfff8);
    /// Submit the packet to the flow table (`OFPP_TABLE`, packet_out only).
    pub const TABLE: PortNo = PortNo(0xfff9);
    /// The switch's normal L2/L3 processing (`OFPP_NORMAL`).
    pub const NORMAL: PortNo = PortNo(0xfffa);
    /// All physical ports except the input port and those with flooding disabled (`OFPP_FLOOD`).
    pub const FLOOD: PortNo = PortNo(0xfffb);
    /// All physical ports except the input port (`OFPP_ALL`).
    pub const ALL: PortNo = PortNo(0xfffc);
    /// The controller (`OFPP_CONTROLLER`).
    pub const CONTROLLER: PortNo = PortNo(0xfffd);
    /// The switch's local networking stack (`OFPP_LOCAL`).
    pub const LOCAL: PortNo = PortNo(0xfffe);
    /// No port; also "no filter" in flow_mod and flow stats (`OFPP_NONE`).
    pub const NONE: PortNo = PortNo(0xffff);

    /// True for a physical port number (`1..=0xfeff`).
    pub const fn is_physical(self) -> bool {
        self.0 >= 1 && self.0 < Self::MAX.0
    }

    /// The name Open vSwitch prints for a reserved port, if this is one.
    pub const fn reserved_name(self) -> Option<&'static str> {
        match self.0 {
            0xfff8 => Some("IN_PORT"),
            0xfff9 => Some("TABLE"),
            0xfffa => Some("NORMAL"),
            0xfffb => Some("FLOOD"),
            0xfffc => Some("ALL"),
            0xfffd => Some("CONTROLLER"),
            0xfffe => Some("LOCAL"),
            0xffff => Some("NONE"),
            _ => None,
        }
    }
}

impl From<u16> for PortNo {
    fn from(v: u16) -> Self {
        PortNo(v)
    }
}

impl From<PortNo> for u16 {
    fn from(p: PortNo) -> Self {
        p.0
    }
}

impl fmt::Display for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reserved_name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for PortNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PortNo({self})")
    }
}
