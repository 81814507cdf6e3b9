//! Port numbers, with named constants for the reserved ports.

use crate::codec::{fixed_str, put_fixed_str, Reader};
use crate::error::DecodeError;
use crate::header::MessageType;
use crate::MacAddr;
use bytes::BufMut;
use core::fmt;

/// An OpenFlow 1.0 port number.
///
/// Physical ports are `1..=0xfeff`; the values from [`PortNo::MAX`] upwards are reserved.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(transparent)
)]
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

bitflags::bitflags! {
    /// Port configuration (`ofp_port_config`), as in `ofp_phy_port.config` and
    /// `ofp_port_mod`. Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct PortConfig: u32 {
        /// `OFPPC_PORT_DOWN`: administratively down.
        const PORT_DOWN = 1 << 0;
        /// `OFPPC_NO_STP`: 802.1D spanning tree disabled.
        const NO_STP = 1 << 1;
        /// `OFPPC_NO_RECV`: drop everything received except 802.1D STP packets.
        const NO_RECV = 1 << 2;
        /// `OFPPC_NO_RECV_STP`: drop received 802.1D STP packets.
        const NO_RECV_STP = 1 << 3;
        /// `OFPPC_NO_FLOOD`: not included when flooding.
        const NO_FLOOD = 1 << 4;
        /// `OFPPC_NO_FWD`: drop packets forwarded to the port.
        const NO_FWD = 1 << 5;
        /// `OFPPC_NO_PACKET_IN`: no packet_in for the port.
        const NO_PACKET_IN = 1 << 6;
        // Keep bits outside the specification.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Port features (`ofp_port_features`): speeds, medium and pause. Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct PortFeatures: u32 {
        /// `OFPPF_10MB_HD`.
        const F_10MB_HD = 1 << 0;
        /// `OFPPF_10MB_FD`.
        const F_10MB_FD = 1 << 1;
        /// `OFPPF_100MB_HD`.
        const F_100MB_HD = 1 << 2;
        /// `OFPPF_100MB_FD`.
        const F_100MB_FD = 1 << 3;
        /// `OFPPF_1GB_HD`.
        const F_1GB_HD = 1 << 4;
        /// `OFPPF_1GB_FD`.
        const F_1GB_FD = 1 << 5;
        /// `OFPPF_10GB_FD`.
        const F_10GB_FD = 1 << 6;
        /// `OFPPF_COPPER`.
        const COPPER = 1 << 7;
        /// `OFPPF_FIBER`.
        const FIBER = 1 << 8;
        /// `OFPPF_AUTONEG`.
        const AUTONEG = 1 << 9;
        /// `OFPPF_PAUSE`.
        const PAUSE = 1 << 10;
        /// `OFPPF_PAUSE_ASYM`.
        const PAUSE_ASYM = 1 << 11;
        // Keep bits outside the specification.
        const _ = !0;
    }
}

/// The 802.1D spanning-tree state of a port: a 2-bit field (bits 8-9 of `state`), not flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum StpState {
    /// `OFPPS_STP_LISTEN` (0): not learning or relaying frames.
    #[default]
    Listen,
    /// `OFPPS_STP_LEARN` (1): learning but not relaying.
    Learn,
    /// `OFPPS_STP_FORWARD` (2): learning and relaying.
    Forward,
    /// `OFPPS_STP_BLOCK` (3): not part of the spanning tree.
    Block,
}

/// A port's state (`ofp_port_state`): link down, the STP state, and any other bits kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PortState {
    /// `OFPPS_LINK_DOWN`: no physical link.
    pub link_down: bool,
    /// The spanning-tree state (bits 8-9).
    pub stp: StpState,
    /// Bits outside the specification, kept as decoded (never bit 0 or bits 8-9).
    pub other_bits: u32,
}

impl PortState {
    /// `OFPPS_LINK_DOWN`.
    pub const LINK_DOWN: u32 = 1 << 0;
    /// `OFPPS_STP_MASK`.
    pub const STP_MASK: u32 = 3 << 8;

    /// From the wire value.
    pub const fn from_u32(v: u32) -> Self {
        PortState {
            link_down: v & Self::LINK_DOWN != 0,
            stp: match (v & Self::STP_MASK) >> 8 {
                0 => StpState::Listen,
                1 => StpState::Learn,
                2 => StpState::Forward,
                _ => StpState::Block,
            },
            other_bits: v & !(Self::LINK_DOWN | Self::STP_MASK),
        }
    }

    /// The wire value.
    pub const fn to_u32(self) -> u32 {
        let stp = match self.stp {
            StpState::Listen => 0,
            StpState::Learn => 1,
            StpState::Forward => 2,
            StpState::Block => 3,
        };
        (self.other_bits & !(Self::LINK_DOWN | Self::STP_MASK))
            | (stp << 8)
            | if self.link_down { Self::LINK_DOWN } else { 0 }
    }
}

/// A physical port (`ofp_phy_port`, 48 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct PhyPort {
    /// The port number.
    pub port_no: PortNo,
    /// The port's Ethernet address.
    pub hw_addr: MacAddr,
    /// The port's name: up to 16 bytes (NUL-terminated on the wire only when shorter);
    /// invalid UTF-8 is replaced by U+FFFD on decode.
    pub name: String,
    /// Configuration flags.
    pub config: PortConfig,
    /// State.
    pub state: PortState,
    /// Current features.
    pub curr: PortFeatures,
    /// Features advertised by the port.
    pub advertised: PortFeatures,
    /// Features supported by the port.
    pub supported: PortFeatures,
    /// Features advertised by the peer.
    pub peer: PortFeatures,
}

const _: () = assert!(PhyPort::WIRE_LEN == 48);

impl PhyPort {
    /// Size of `ofp_phy_port`.
    pub const WIRE_LEN: usize = 48;
    /// Size of the name field (`OFP_MAX_PORT_NAME_LEN`).
    pub const NAME_LEN: usize = 16;

    /// Decode a port from the first 48 bytes of `buf`.
    pub fn decode(buf: &[u8]) -> Result<PhyPort, DecodeError> {
        Self::read(&mut Reader::from_slice(buf, MessageType::FeaturesReply))
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<PhyPort, DecodeError> {
        Ok(PhyPort {
            port_no: PortNo(r.u16("phy_port.port_no")?),
            hw_addr: MacAddr(r.array("phy_port.hw_addr")?),
            name: fixed_str(&r.array::<16>("phy_port.name")?),
            config: PortConfig::from_bits_retain(r.u32("phy_port.config")?),
            state: PortState::from_u32(r.u32("phy_port.state")?),
            curr: PortFeatures::from_bits_retain(r.u32("phy_port.curr")?),
            advertised: PortFeatures::from_bits_retain(r.u32("phy_port.advertised")?),
            supported: PortFeatures::from_bits_retain(r.u32("phy_port.supported")?),
            peer: PortFeatures::from_bits_retain(r.u32("phy_port.peer")?),
        })
    }

    /// Write the 48-byte wire form (a name longer than 16 bytes is cut).
    pub fn encode(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.port_no.0);
        dst.put_slice(&self.hw_addr.0);
        put_fixed_str::<16>(dst, &self.name);
        dst.put_u32(self.config.bits());
        dst.put_u32(self.state.to_u32());
        dst.put_u32(self.curr.bits());
        dst.put_u32(self.advertised.bits());
        dst.put_u32(self.supported.bits());
        dst.put_u32(self.peer.bits());
    }
}

/// Why a port_status was sent (`ofp_port_reason`), with unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortReason {
    /// `OFPPR_ADD`.
    Add,
    /// `OFPPR_DELETE`.
    Delete,
    /// `OFPPR_MODIFY`.
    Modify,
    /// A value outside the specification.
    Unknown(u8),
}

impl PortReason {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => PortReason::Add,
            1 => PortReason::Delete,
            2 => PortReason::Modify,
            v => PortReason::Unknown(v),
        }
    }

    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            PortReason::Add => 0,
            PortReason::Delete => 1,
            PortReason::Modify => 2,
            PortReason::Unknown(v) => v,
        }
    }
}

/// An `OFPT_PORT_STATUS` body: a port was added, removed or changed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortStatus {
    /// What happened.
    pub reason: PortReason,
    /// The port's description.
    pub desc: PhyPort,
}

const _: () = assert!(PortStatus::WIRE_LEN == 64);

impl PortStatus {
    /// Size of `ofp_port_status`, header included.
    pub const WIRE_LEN: usize = 64;
}

/// An `OFPT_PORT_MOD` body: change a port's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortMod {
    /// The port.
    pub port_no: PortNo,
    /// The port's hardware address (a sanity check: it must match the switch's).
    pub hw_addr: MacAddr,
    /// New values of the bits selected by `mask`.
    pub config: PortConfig,
    /// Which configuration bits to change.
    pub mask: PortConfig,
    /// Features to advertise (empty: leave unchanged).
    pub advertise: PortFeatures,
}

const _: () = assert!(PortMod::WIRE_LEN == 32);

impl PortMod {
    /// Size of `ofp_port_mod`, header included.
    pub const WIRE_LEN: usize = 32;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stp_state_is_a_field() {
        for stp in [
            StpState::Listen,
            StpState::Learn,
            StpState::Forward,
            StpState::Block,
        ] {
            let s = PortState {
                link_down: true,
                stp,
                other_bits: 0,
            };
            assert_eq!(PortState::from_u32(s.to_u32()), s);
        }
        assert_eq!(PortState::from_u32(2 << 8).stp, StpState::Forward);
        assert_eq!(PortState::from_u32(3 << 8).stp, StpState::Block);
        let odd = PortState::from_u32(0x8000_0301);
        assert!(odd.link_down);
        assert_eq!(odd.stp, StpState::Block);
        assert_eq!(odd.other_bits, 0x8000_0000);
        assert_eq!(odd.to_u32(), 0x8000_0301);
    }

    #[test]
    fn phy_port_from_fixture() {
        // LOCAL(cbr0) from the OVS 3.1 port_status: config PORT_DOWN, state LINK_DOWN,
        // current 10GB-FD COPPER.
        let hex = "fffe6ab2bbb3824f636272300000000000000000000000000000000100000001000000c0000000000000000000000000";
        let b: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let p = PhyPort::decode(&b).unwrap();
        assert_eq!(p.port_no, PortNo::LOCAL);
        assert_eq!(p.hw_addr.to_string(), "6a:b2:bb:b3:82:4f");
        assert_eq!(p.name, "cbr0");
        assert_eq!(p.config, PortConfig::PORT_DOWN);
        assert!(p.state.link_down);
        assert_eq!(p.state.stp, StpState::Listen);
        assert_eq!(p.curr, PortFeatures::F_10GB_FD | PortFeatures::COPPER);
        let mut v = Vec::new();
        p.encode(&mut v);
        assert_eq!(v, b);
    }

    #[test]
    fn unknown_bits_kept_and_long_names_cut() {
        let p = PhyPort {
            port_no: PortNo(7),
            name: "a-very-long-port-name".into(),
            config: PortConfig::from_bits_retain(0x8000_0001),
            curr: PortFeatures::from_bits_retain(0x0010_0000),
            ..PhyPort::default()
        };
        let mut v = Vec::new();
        p.encode(&mut v);
        assert_eq!(v.len(), 48);
        let d = PhyPort::decode(&v).unwrap();
        assert_eq!(d.name, "a-very-long-port");
        assert_eq!(d.config.bits(), 0x8000_0001);
        assert_eq!(d.curr.bits(), 0x0010_0000);
        // A 16-byte name without NUL decodes whole.
        let mut v2 = v.clone();
        v2[8..24].copy_from_slice(b"abcdefghijklmnop");
        assert_eq!(PhyPort::decode(&v2).unwrap().name, "abcdefghijklmnop");
        assert!(PhyPort::decode(&v[..47]).is_err());
    }

    #[test]
    fn reasons() {
        for v in 0..=255u8 {
            assert_eq!(PortReason::from_u8(v).to_u8(), v);
        }
    }
}
