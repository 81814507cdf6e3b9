//! The text syntax of `ovs-ofctl` for matches, actions and flow_mods.
//!
//! [`Match`], [`Action`] and [`FlowMod`] implement [`Display`](fmt::Display) in the syntax
//! that `ovs-ofctl dump-flows` and `ovs-ofctl ofp-print` use, so that a flow logged by a
//! controller reads exactly like the same flow printed by Open vSwitch:
//!
//! ```
//! use core::net::Ipv4Addr;
//! use openflow_proto::{Action, FlowMod, Ipv4Match, Match, PortNo};
//!
//! let mut m = Match::any();
//! m.dl_type = Some(0x0800);
//! m.nw_proto = Some(6);
//! m.nw_dst = Ipv4Match::exact(Ipv4Addr::new(203, 0, 113, 10));
//! m.tp_dst = Some(22);
//! let actions = vec![
//!     Action::SetNwDst(Ipv4Addr::new(10, 0, 0, 2)),
//!     Action::output(PortNo(2)),
//! ];
//! let flow = FlowMod::add(m, 200, actions);
//! assert_eq!(
//!     flow.to_string(),
//!     "ADD priority=200,tcp,nw_dst=203.0.113.10,tp_dst=22 actions=mod_nw_dst:10.0.0.2,output:2"
//! );
//! // The flow itself, without the command, as `ovs-ofctl dump-flows` shows it:
//! assert_eq!(
//!     openflow_proto::display::DisplayFlow::new(&flow.r#match, flow.priority).to_string(),
//!     "priority=200,tcp,nw_dst=203.0.113.10,tp_dst=22"
//! );
//! ```
//!
//! # How the text relates to the wire
//!
//! The printing follows Open vSwitch's `match_format` and action formatting: a protocol
//! shorthand first (`ip`, `tcp`, `udp`, `sctp`, `icmp`, `arp`, `rarp`, `ipv6`, `tcp6`,
//! `udp6`, `sctp6`, `icmp6`) standing for `dl_type` and `nw_proto`, then `in_port`, the VLAN,
//! the Ethernet addresses, `dl_type` when no shorthand covers it, the IPv4 addresses (named
//! `arp_spa`/`arp_tpa` for ARP), `nw_proto` (`arp_op` for ARP), `nw_tos`, and the transport
//! ports (`icmp_type`/`icmp_code` for ICMP). A match of everything prints as the empty string,
//! which is also how `ovs-ofctl` writes and reads it.
//!
//! The printing is faithful, like the decoder: it shows the fields as they are, without the
//! prerequisite normalisation Open vSwitch applies when it installs a flow (that is the text
//! Open vSwitch logs as the "pre:" match when it normalises). The differences from the text of
//! a flow that Open vSwitch has normalised or installed are therefore deliberate:
//!
//! - a field whose prerequisites are not met is shown (`tp_src=80` without a protocol);
//! - values are shown as on the wire: a VLAN id above `0xfff`, a ToS with ECN bits, an
//!   untagged match with a VLAN priority (`vlan_tci=0x0000,dl_vlan_pcp=3`);
//! - the priority is the one on the wire, where Open vSwitch reports 65535 for a flow
//!   without any wildcard;
//! - a cookie of `0xffffffffffffffff` is shown (Open vSwitch omits it).
//!
//! [`FlowStats`] prints as a line of `ovs-ofctl dump-flows`; [`FlowRemoved`], [`PacketIn`] and
//! [`PacketOut`] as the first line `ovs-ofctl ofp-print` prints for their message (without the
//! dissection of the packet). Port `0xffff` (`OFPP_NONE`) prints as `ANY`, as Open vSwitch
//! names it.
//!
//! IPv4 prefixes are shown as Open vSwitch shows them, as `network/len` with the host bits
//! cleared, since they do not take part in matching. Vendor actions, which `ovs-ofctl` only
//! prints for the vendors it implements, are shown as `vendor:0xID` followed by `:HEX` when
//! they carry data.

use crate::action::Action;
use crate::actions::Actions;
use crate::flow_match::{Ipv4Match, Match, VlanMatch, ETH_TYPE_ARP, ETH_TYPE_IPV4};
use crate::flow_mod::{FlowMod, FlowModCommand, FlowModFlags, NO_BUFFER};
use crate::messages::{FlowRemoved, FlowRemovedReason, PacketIn, PacketInReason, PacketOut};
use crate::port::PortNo;
use crate::stats::FlowStats;
use core::fmt;
use core::net::Ipv4Addr;

/// The priority Open vSwitch omits when printing a flow (`OFP_DEFAULT_PRIORITY`).
pub const DEFAULT_PRIORITY: u16 = 0x8000;

/// Ethernet type of RARP.
const ETH_TYPE_RARP: u16 = 0x8035;
/// Ethernet type of IPv6.
const ETH_TYPE_IPV6: u16 = 0x86dd;

/// Writes comma-separated items, `lead` before the first one if there is one.
struct Fields<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    lead: &'static str,
    any: bool,
}

impl<'a, 'b> Fields<'a, 'b> {
    fn new(f: &'a mut fmt::Formatter<'b>) -> Self {
        Fields::with_lead(f, "")
    }

    fn with_lead(f: &'a mut fmt::Formatter<'b>, lead: &'static str) -> Self {
        Fields {
            f,
            lead,
            any: false,
        }
    }

    fn item(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        self.f.write_str(if self.any { "," } else { self.lead })?;
        self.any = true;
        self.f.write_fmt(args)
    }
}

/// The protocol shorthand for a `dl_type`/`nw_proto` pair, and whether it stands for
/// `nw_proto` too.
fn shorthand(dl_type: Option<u16>, nw_proto: Option<u8>) -> Option<(&'static str, bool)> {
    let name_for = |v4: bool, proto: u8| -> Option<&'static str> {
        Some(match (v4, proto) {
            (true, 1) => "icmp",
            (true, 6) => "tcp",
            (true, 17) => "udp",
            (true, 132) => "sctp",
            (false, 58) => "icmp6",
            (false, 6) => "tcp6",
            (false, 17) => "udp6",
            (false, 132) => "sctp6",
            _ => return None,
        })
    };
    match dl_type? {
        ETH_TYPE_IPV4 | ETH_TYPE_IPV6 => {
            let v4 = dl_type == Some(ETH_TYPE_IPV4);
            match nw_proto.and_then(|p| name_for(v4, p)) {
                Some(name) => Some((name, true)),
                None => Some((if v4 { "ip" } else { "ipv6" }, false)),
            }
        }
        ETH_TYPE_ARP => Some(("arp", false)),
        ETH_TYPE_RARP => Some(("rarp", false)),
        _ => None,
    }
}

/// An IPv4 prefix as Open vSwitch prints it: the address alone for a /32, else
/// `network/len` with the host bits cleared.
struct Prefix(Ipv4Match);

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.0.prefix_len();
        let net = Ipv4Addr::from(u32::from(self.0.addr()) & self.0.mask());
        if len >= 32 {
            write!(f, "{net}")
        } else {
            write!(f, "{net}/{len}")
        }
    }
}

/// A port as Open vSwitch prints it: reserved ports by name, `OFPP_NONE` as `ANY`.
struct OvsPort(PortNo);

impl fmt::Display for OvsPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == PortNo::NONE {
            f.write_str("ANY")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// Writes the fields of `m` (and `priority=N` first when `priority` is given and is not
/// the default) as comma-separated items.
fn write_match(out: &mut Fields<'_, '_>, m: &Match, priority: Option<u16>) -> fmt::Result {
    if let Some(p) = priority.filter(|&p| p != DEFAULT_PRIORITY) {
        out.item(format_args!("priority={p}"))?;
    }
    let short = shorthand(m.dl_type, m.nw_proto);
    if let Some((name, _)) = short {
        out.item(format_args!("{name}"))?;
    }
    if let Some(port) = m.in_port {
        out.item(format_args!("in_port={}", OvsPort(port)))?;
    }
    match m.dl_vlan {
        VlanMatch::Any => {}
        VlanMatch::Untagged => out.item(format_args!("vlan_tci=0x0000"))?,
        VlanMatch::Vid(v) => out.item(format_args!("dl_vlan={v}"))?,
    }
    if let Some(pcp) = m.dl_vlan_pcp {
        out.item(format_args!("dl_vlan_pcp={pcp}"))?;
    }
    if let Some(mac) = m.dl_src {
        out.item(format_args!("dl_src={mac}"))?;
    }
    if let Some(mac) = m.dl_dst {
        out.item(format_args!("dl_dst={mac}"))?;
    }
    if let (None, Some(t)) = (short, m.dl_type) {
        out.item(format_args!("dl_type={t:#06x}"))?;
    }
    let is_arp = matches!(m.dl_type, Some(ETH_TYPE_ARP | ETH_TYPE_RARP));
    if !m.nw_src.is_any() {
        let name = if is_arp { "arp_spa" } else { "nw_src" };
        out.item(format_args!("{name}={}", Prefix(m.nw_src)))?;
    }
    if !m.nw_dst.is_any() {
        let name = if is_arp { "arp_tpa" } else { "nw_dst" };
        out.item(format_args!("{name}={}", Prefix(m.nw_dst)))?;
    }
    let proto_in_shorthand = matches!(short, Some((_, true)));
    if let (false, Some(p)) = (proto_in_shorthand, m.nw_proto) {
        let name = if is_arp { "arp_op" } else { "nw_proto" };
        out.item(format_args!("{name}={p}"))?;
    }
    if let Some(tos) = m.nw_tos {
        out.item(format_args!("nw_tos={tos}"))?;
    }
    let is_icmp = matches!(short, Some(("icmp" | "icmp6", _)));
    if let Some(v) = m.tp_src {
        let name = if is_icmp { "icmp_type" } else { "tp_src" };
        out.item(format_args!("{name}={v}"))?;
    }
    if let Some(v) = m.tp_dst {
        let name = if is_icmp { "icmp_code" } else { "tp_dst" };
        out.item(format_args!("{name}={v}"))?;
    }
    Ok(())
}

/// `ovs-ofctl` syntax: comma-separated fields, the empty string for a match of everything.
impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_match(&mut Fields::new(f), self, None)
    }
}

/// A flow's match preceded by its priority, as `ovs-ofctl dump-flows` prints it:
/// `priority=200,tcp,tp_dst=22`. The priority is omitted when it is the default (32768).
#[derive(Clone, Copy, Debug)]
pub struct DisplayFlow<'a> {
    /// The match.
    pub r#match: &'a Match,
    /// The priority.
    pub priority: u16,
}

impl<'a> DisplayFlow<'a> {
    /// The text of `r#match` at `priority`.
    pub const fn new(r#match: &'a Match, priority: u16) -> Self {
        DisplayFlow { r#match, priority }
    }
}

impl fmt::Display for DisplayFlow<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_match(&mut Fields::new(f), self.r#match, Some(self.priority))
    }
}

/// An action list as `ovs-ofctl` prints it after `actions=`: comma-separated actions, or
/// `drop` for none.
#[derive(Clone, Copy, Debug)]
pub struct DisplayActions<'a>(pub &'a [Action]);

impl fmt::Display for DisplayActions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_actions(f, self.0)
    }
}

/// An action list as `ovs-ofctl` prints it after `actions=` ([`DisplayActions`]):
/// `mod_vlan_vid:20,output:1`, or `drop` for none.
impl fmt::Display for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_actions(f, self)
    }
}

/// Comma-separated actions, or `drop` for none.
fn write_actions<A: fmt::Display>(
    f: &mut fmt::Formatter<'_>,
    actions: impl IntoIterator<Item = A>,
) -> fmt::Result {
    let mut out = Fields::new(f);
    for a in actions {
        out.item(format_args!("{a}"))?;
    }
    if !out.any {
        f.write_str("drop")?;
    }
    Ok(())
}

/// `ovs-ofctl` syntax of one action: `output:2`, `CONTROLLER:128`, `LOCAL`, `mod_nw_dst:10.0.0.2`,
/// `enqueue:1:0`, `strip_vlan`...
impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Output { port, max_len } => {
                if *port == PortNo::CONTROLLER {
                    write!(f, "CONTROLLER:{max_len}")
                } else if let Some(name) = port.reserved_name() {
                    f.write_str(name)
                } else {
                    write!(f, "output:{}", port.0)
                }
            }
            Action::SetVlanVid(v) => write!(f, "mod_vlan_vid:{v}"),
            Action::SetVlanPcp(v) => write!(f, "mod_vlan_pcp:{v}"),
            Action::StripVlan => f.write_str("strip_vlan"),
            Action::SetDlSrc(mac) => write!(f, "mod_dl_src:{mac}"),
            Action::SetDlDst(mac) => write!(f, "mod_dl_dst:{mac}"),
            Action::SetNwSrc(ip) => write!(f, "mod_nw_src:{ip}"),
            Action::SetNwDst(ip) => write!(f, "mod_nw_dst:{ip}"),
            Action::SetNwTos(v) => write!(f, "mod_nw_tos:{v}"),
            Action::SetTpSrc(v) => write!(f, "mod_tp_src:{v}"),
            Action::SetTpDst(v) => write!(f, "mod_tp_dst:{v}"),
            Action::Enqueue { port, queue_id } => {
                write!(f, "enqueue:{}:{queue_id}", OvsPort(*port))
            }
            Action::Vendor { vendor, data } => {
                write!(f, "vendor:{vendor:#x}")?;
                if !data.is_empty() {
                    f.write_str(":")?;
                    for b in data.iter() {
                        write!(f, "{b:02x}")?;
                    }
                }
                Ok(())
            }
        }
    }
}

/// The command word `ovs-ofctl ofp-print` uses: `ADD`, `MOD`, `MOD_STRICT`, `DEL`,
/// `DEL_STRICT`, or `cmd:N` for a command outside the specification.
fn write_command(f: &mut fmt::Formatter<'_>, command: FlowModCommand) -> fmt::Result {
    match command {
        FlowModCommand::Add => f.write_str("ADD"),
        FlowModCommand::Modify => f.write_str("MOD"),
        FlowModCommand::ModifyStrict => f.write_str("MOD_STRICT"),
        FlowModCommand::Delete => f.write_str("DEL"),
        FlowModCommand::DeleteStrict => f.write_str("DEL_STRICT"),
        FlowModCommand::Unknown(v) => write!(f, "cmd:{v}"),
    }
}

/// The flag words of `ovs-ofctl ofp-print`, each preceded by a space: `send_flow_rem`,
/// `check_overlap`, `emerg`, then `flags:0xN` for bits outside the specification.
fn write_flags(f: &mut fmt::Formatter<'_>, flags: FlowModFlags) -> fmt::Result {
    let known = [
        (FlowModFlags::SEND_FLOW_REM, "send_flow_rem"),
        (FlowModFlags::CHECK_OVERLAP, "check_overlap"),
        (FlowModFlags::EMERG, "emerg"),
    ];
    let mut unknown = flags.bits();
    for (flag, name) in known {
        unknown &= !flag.bits();
        if flags.contains(flag) {
            write!(f, " {name}")?;
        }
    }
    if unknown != 0 {
        write!(f, " flags:{unknown:#x}")?;
    }
    Ok(())
}

/// The body of an `OFPT_FLOW_MOD` as `ovs-ofctl ofp-print` prints it:
/// `ADD priority=208,tcp,tp_src=80 cookie:0x1234 idle:1 hard:3 send_flow_rem actions=NORMAL`.
///
/// The command comes first; then the flow ([`DisplayFlow`]); then, each only when it differs
/// from its neutral value, `cookie:0x..`, `idle:N`, `hard:N`, `buf:0x..`, `out_port:P` and the
/// flags; then `actions=` and the actions ([`DisplayActions`]).
impl fmt::Display for FlowMod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_command(f, self.command)?;
        write_match(
            &mut Fields::with_lead(f, " "),
            &self.r#match,
            Some(self.priority),
        )?;
        if self.cookie != 0 {
            write!(f, " cookie:{:#x}", self.cookie)?;
        }
        if self.idle_timeout != 0 {
            write!(f, " idle:{}", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(f, " hard:{}", self.hard_timeout)?;
        }
        if self.buffer_id != NO_BUFFER {
            write!(f, " buf:{:#x}", self.buffer_id)?;
        }
        if self.out_port != PortNo::NONE {
            write!(f, " out_port:{}", OvsPort(self.out_port))?;
        }
        write_flags(f, self.flags)?;
        write!(f, " actions={}", self.actions)
    }
}

/// A duration as Open vSwitch prints it: the seconds; then, if the nanoseconds are not zero,
/// the milliseconds on at least three digits and the rest of the nanoseconds without their
/// trailing zeros (`7s`, `0.049s`, `0.02330631s`, `5.000000001s`; an out-of-range
/// `1000000000` ns prints as `.1000`, as Open vSwitch prints it).
struct Duration(u32, u32);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Duration(sec, nsec) = *self;
        write!(f, "{sec}")?;
        if nsec > 0 {
            write!(f, ".{:03}", nsec / 1_000_000)?;
            let mut rest = nsec % 1_000_000;
            if rest > 0 {
                let mut digits = 6;
                while rest % 10 == 0 {
                    rest /= 10;
                    digits -= 1;
                }
                write!(f, "{rest:0digits$}")?;
            }
        }
        f.write_str("s")
    }
}

/// One line of `ovs-ofctl dump-flows` for an OpenFlow 1.0 flow stats entry:
/// `cookie=0x1234, duration=0.066s, table=0, n_packets=0, n_bytes=0, idle_timeout=1,
/// hard_timeout=3, priority=208,tcp,tp_src=80 actions=NORMAL` (timeouts only when set).
impl fmt::Display for FlowStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cookie={:#x}, duration={}, table={}, n_packets={}, n_bytes={}, ",
            self.cookie,
            Duration(self.duration_sec, self.duration_nsec),
            self.table_id,
            self.packet_count,
            self.byte_count
        )?;
        if self.idle_timeout != 0 {
            write!(f, "idle_timeout={}, ", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(f, "hard_timeout={}, ", self.hard_timeout)?;
        }
        let mut flow = Fields::new(f);
        write_match(&mut flow, &self.r#match, Some(self.priority))?;
        if flow.any {
            f.write_str(" ")?;
        }
        write!(f, "actions={}", self.actions)
    }
}

/// The body of an `OFPT_FLOW_REMOVED` as `ovs-ofctl ofp-print` prints it:
/// `priority=500,icmp reason=idle cookie:0xabc duration2.060s idle2 pkts0 bytes0`.
/// The reason is `idle`, `hard`, `delete`, or its number when outside OpenFlow 1.0 (Open
/// vSwitch names 3 `group_delete`, a reason of later versions).
impl fmt::Display for FlowRemoved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_match(&mut Fields::new(f), &self.r#match, Some(self.priority))?;
        match self.reason {
            FlowRemovedReason::IdleTimeout => f.write_str(" reason=idle")?,
            FlowRemovedReason::HardTimeout => f.write_str(" reason=hard")?,
            FlowRemovedReason::Delete => f.write_str(" reason=delete")?,
            FlowRemovedReason::Unknown(v) => write!(f, " reason={v}")?,
        }
        if self.cookie != 0 {
            write!(f, " cookie:{:#x}", self.cookie)?;
        }
        write!(
            f,
            " duration{} idle{} pkts{} bytes{}",
            Duration(self.duration_sec, self.duration_nsec),
            self.idle_timeout,
            self.packet_count,
            self.byte_count
        )
    }
}

/// The first line of an `OFPT_PACKET_IN` in `ovs-ofctl ofp-print`:
/// `total_len=42 in_port=1 (via action) data_len=42 (unbuffered)`, or `buffer=0x00000055` for a
/// buffered packet; an unbuffered packet whose data is shorter or longer than `total_len` gets
/// Open vSwitch's `(***total_len != data_len***)` mark. Reasons 2 to 5 (of later OpenFlow
/// versions) print as Open vSwitch names them (`invalid_ttl`, `action_set`, `group`,
/// `packet_out`), others as their number (Open vSwitch prints nothing for 6 and 7).
impl fmt::Display for PacketIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "total_len={} in_port={} (via ",
            self.total_len,
            OvsPort(self.in_port)
        )?;
        match self.reason {
            PacketInReason::NoMatch => f.write_str("no_match")?,
            PacketInReason::Action => f.write_str("action")?,
            // Reasons of later OpenFlow versions, named as Open vSwitch names them.
            PacketInReason::Unknown(2) => f.write_str("invalid_ttl")?,
            PacketInReason::Unknown(3) => f.write_str("action_set")?,
            PacketInReason::Unknown(4) => f.write_str("group")?,
            PacketInReason::Unknown(5) => f.write_str("packet_out")?,
            PacketInReason::Unknown(v) => write!(f, "{v}")?,
        }
        write!(f, ") data_len={}", self.data.len())?;
        if self.buffer_id == NO_BUFFER {
            f.write_str(" (unbuffered)")?;
            if usize::from(self.total_len) != self.data.len() {
                f.write_str(" (***total_len != data_len***)")?;
            }
            Ok(())
        } else {
            write!(f, " buffer={:#010x}", self.buffer_id)
        }
    }
}

/// The first line of an `OFPT_PACKET_OUT` in `ovs-ofctl ofp-print`:
/// `in_port=1 actions=FLOOD data_len=86`, or `buffer=0x00000005` instead of the data length
/// for a buffered packet.
impl fmt::Display for PacketOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in_port={} actions={}",
            OvsPort(self.in_port),
            self.actions
        )?;
        if self.buffer_id == NO_BUFFER {
            write!(f, " data_len={}", self.data.len())
        } else {
            write!(f, " buffer={:#010x}", self.buffer_id)
        }
    }
}

#[cfg(test)]
mod tests {
    //! The expected strings are what `ovs-ofctl ofp-print` (Open vSwitch 3.1.0) printed for
    //! the same bytes; `tests/ovs_ofctl_oracle.rs` checks the same against the live tool.
    use super::*;
    use crate::MacAddr;
    use bytes::Bytes;

    fn ip4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
        Ipv4Addr::new(a, b, c, d)
    }

    fn ipv4() -> Match {
        Match {
            dl_type: Some(ETH_TYPE_IPV4),
            ..Match::any()
        }
    }

    fn proto(p: u8) -> Match {
        Match {
            nw_proto: Some(p),
            ..ipv4()
        }
    }

    #[test]
    fn match_all_is_the_empty_string() {
        assert_eq!(Match::any().to_string(), "");
        assert_eq!(DisplayFlow::new(&Match::any(), 0x8000).to_string(), "");
        assert_eq!(DisplayFlow::new(&Match::any(), 0).to_string(), "priority=0");
    }

    #[test]
    fn protocol_shorthands() {
        assert_eq!(ipv4().to_string(), "ip");
        assert_eq!(proto(1).to_string(), "icmp");
        assert_eq!(proto(6).to_string(), "tcp");
        assert_eq!(proto(17).to_string(), "udp");
        assert_eq!(proto(132).to_string(), "sctp");
        assert_eq!(proto(47).to_string(), "ip,nw_proto=47");
        let v6 = |p: Option<u8>| Match {
            dl_type: Some(ETH_TYPE_IPV6),
            nw_proto: p,
            ..Match::any()
        };
        assert_eq!(v6(None).to_string(), "ipv6");
        assert_eq!(v6(Some(6)).to_string(), "tcp6");
        assert_eq!(v6(Some(17)).to_string(), "udp6");
        assert_eq!(v6(Some(58)).to_string(), "icmp6");
        assert_eq!(v6(Some(47)).to_string(), "ipv6,nw_proto=47");
        let mut rarp = Match::any();
        rarp.dl_type = Some(ETH_TYPE_RARP);
        rarp.nw_proto = Some(3);
        assert_eq!(rarp.to_string(), "rarp,arp_op=3");
        let mut lldp = Match::any();
        lldp.dl_type = Some(0x88cc);
        assert_eq!(lldp.to_string(), "dl_type=0x88cc");
    }

    #[test]
    fn field_order_follows_ovs() {
        // ovs-ofctl parse-flow printed exactly this for the same fields.
        let m = Match {
            in_port: Some(PortNo(3)),
            dl_src: Some(MacAddr([0, 0, 0, 0, 0, 1])),
            dl_dst: Some(MacAddr([0, 0, 0, 0, 0, 2])),
            dl_vlan: VlanMatch::Vid(7),
            dl_vlan_pcp: Some(2),
            dl_type: Some(ETH_TYPE_IPV4),
            nw_tos: Some(8),
            nw_proto: Some(6),
            nw_src: Ipv4Match::prefix(ip4(1, 2, 3, 0), 24),
            nw_dst: Ipv4Match::exact(ip4(4, 5, 6, 7)),
            tp_src: Some(1),
            tp_dst: Some(2),
        };
        assert_eq!(
            DisplayFlow::new(&m, 5).to_string(),
            "priority=5,tcp,in_port=3,dl_vlan=7,dl_vlan_pcp=2,dl_src=00:00:00:00:00:01,\
             dl_dst=00:00:00:00:00:02,nw_src=1.2.3.0/24,nw_dst=4.5.6.7,nw_tos=8,tp_src=1,tp_dst=2"
        );
        let other = Match {
            in_port: Some(PortNo(3)),
            dl_vlan: VlanMatch::Vid(9),
            dl_src: Some(MacAddr([1, 2, 3, 4, 5, 6])),
            dl_type: Some(0x88cc),
            ..Match::any()
        };
        assert_eq!(
            other.to_string(),
            "in_port=3,dl_vlan=9,dl_src=01:02:03:04:05:06,dl_type=0x88cc"
        );
        let gre = Match {
            nw_src: Ipv4Match::exact(ip4(9, 9, 9, 9)),
            nw_tos: Some(8),
            ..proto(47)
        };
        assert_eq!(gre.to_string(), "ip,nw_src=9.9.9.9,nw_proto=47,nw_tos=8");
    }

    #[test]
    fn vlan_forms() {
        let untagged = Match {
            in_port: Some(PortNo(3)),
            dl_vlan: VlanMatch::Untagged,
            dl_src: Some(MacAddr([1; 6])),
            ..Match::any()
        };
        assert_eq!(
            untagged.to_string(),
            "in_port=3,vlan_tci=0x0000,dl_src=01:01:01:01:01:01"
        );
        let pcp = Match {
            dl_vlan_pcp: Some(3),
            ..Match::any()
        };
        assert_eq!(pcp.to_string(), "dl_vlan_pcp=3");
    }

    #[test]
    fn arp_names_and_prefixes() {
        let mut m = Match::any();
        m.set_arp_opcode(1);
        m.nw_dst = Ipv4Match::exact(ip4(203, 0, 113, 10));
        assert_eq!(m.to_string(), "arp,arp_tpa=203.0.113.10,arp_op=1");
        let spa = Match {
            dl_type: Some(ETH_TYPE_ARP),
            nw_src: Ipv4Match::from_raw(ip4(1, 2, 3, 4), 8),
            ..Match::any()
        };
        assert_eq!(spa.to_string(), "arp,arp_spa=1.2.3.0/24");
    }

    #[test]
    fn prefixes_clear_host_bits_and_clamp() {
        let m = |raw: u8, a: Ipv4Addr| Match {
            nw_src: Ipv4Match::from_raw(a, raw),
            ..ipv4()
        };
        assert_eq!(m(8, ip4(1, 2, 3, 4)).to_string(), "ip,nw_src=1.2.3.0/24");
        assert_eq!(
            m(31, ip4(129, 2, 3, 4)).to_string(),
            "ip,nw_src=128.0.0.0/1"
        );
        assert_eq!(m(32, ip4(1, 2, 3, 4)).to_string(), "ip");
        assert_eq!(m(40, ip4(1, 2, 3, 4)).to_string(), "ip");
        assert_eq!(m(63, ip4(1, 2, 3, 4)).to_string(), "ip");
        let dst = Match {
            nw_dst: Ipv4Match::from_raw(ip4(129, 2, 3, 5), 1),
            ..ipv4()
        };
        assert_eq!(dst.to_string(), "ip,nw_dst=129.2.3.4/31");
    }

    #[test]
    fn icmp_type_and_code() {
        let mut m = Match::any();
        m.set_icmp(Some(8), Some(0));
        assert_eq!(m.to_string(), "icmp,icmp_type=8,icmp_code=0");
        m.set_icmp(None, Some(3));
        assert_eq!(m.to_string(), "icmp,icmp_code=3");
        let v6 = Match {
            dl_type: Some(ETH_TYPE_IPV6),
            nw_proto: Some(58),
            tp_src: Some(135),
            ..Match::any()
        };
        assert_eq!(v6.to_string(), "icmp6,icmp_type=135");
        let udp = Match {
            tp_src: Some(3),
            tp_dst: Some(4),
            ..proto(17)
        };
        assert_eq!(udp.to_string(), "udp,tp_src=3,tp_dst=4");
    }

    #[test]
    fn reserved_in_ports_by_name() {
        let m = |p: u16| Match {
            in_port: Some(PortNo(p)),
            ..Match::any()
        };
        assert_eq!(m(0xfffe).to_string(), "in_port=LOCAL");
        assert_eq!(m(0).to_string(), "in_port=0");
    }

    #[test]
    fn faithful_fields_without_prerequisites() {
        // Open vSwitch logs these as the "pre:" match before dropping the field.
        let m = Match {
            tp_src: Some(80),
            ..ipv4()
        };
        assert_eq!(m.to_string(), "ip,tp_src=80");
        let bare = Match {
            nw_src: Ipv4Match::exact(ip4(1, 2, 3, 4)),
            ..Match::any()
        };
        assert_eq!(bare.to_string(), "nw_src=1.2.3.4");
    }

    #[test]
    fn every_action() {
        let cases: Vec<(Action, &str)> = vec![
            (Action::output(PortNo(1)), "output:1"),
            (
                Action::Output {
                    port: PortNo(1),
                    max_len: 64,
                },
                "output:1",
            ),
            (Action::output(PortNo(0)), "output:0"),
            (Action::output(PortNo(0xfeff)), "output:65279"),
            (Action::to_controller(0), "CONTROLLER:0"),
            (Action::to_controller(128), "CONTROLLER:128"),
            (Action::to_controller(65535), "CONTROLLER:65535"),
            (Action::output(PortNo::IN_PORT), "IN_PORT"),
            (Action::output(PortNo::TABLE), "TABLE"),
            (Action::output(PortNo::NORMAL), "NORMAL"),
            (Action::output(PortNo::FLOOD), "FLOOD"),
            (Action::output(PortNo::ALL), "ALL"),
            (Action::output(PortNo::LOCAL), "LOCAL"),
            (Action::SetVlanVid(4095), "mod_vlan_vid:4095"),
            (Action::SetVlanPcp(7), "mod_vlan_pcp:7"),
            (Action::StripVlan, "strip_vlan"),
            (
                Action::SetDlSrc(MacAddr([2, 0, 0, 0, 0, 0xff])),
                "mod_dl_src:02:00:00:00:00:ff",
            ),
            (
                Action::SetDlDst(MacAddr([2, 0, 0, 0, 0, 2])),
                "mod_dl_dst:02:00:00:00:00:02",
            ),
            (
                Action::SetNwSrc(ip4(203, 0, 113, 11)),
                "mod_nw_src:203.0.113.11",
            ),
            (Action::SetNwDst(ip4(10, 1, 0, 2)), "mod_nw_dst:10.1.0.2"),
            (Action::SetNwTos(32), "mod_nw_tos:32"),
            (Action::SetTpSrc(1000), "mod_tp_src:1000"),
            (Action::SetTpDst(2000), "mod_tp_dst:2000"),
            (
                Action::Enqueue {
                    port: PortNo(1),
                    queue_id: 0,
                },
                "enqueue:1:0",
            ),
            (
                Action::Enqueue {
                    port: PortNo::IN_PORT,
                    queue_id: 3,
                },
                "enqueue:IN_PORT:3",
            ),
            (
                Action::Enqueue {
                    port: PortNo::LOCAL,
                    queue_id: u32::MAX,
                },
                "enqueue:LOCAL:4294967295",
            ),
            (
                Action::Vendor {
                    vendor: 0x2320,
                    data: Bytes::from_static(&[0, 1, 0xab]),
                },
                "vendor:0x2320:0001ab",
            ),
            (
                Action::Vendor {
                    vendor: 0x2320,
                    data: Bytes::new(),
                },
                "vendor:0x2320",
            ),
        ];
        for (action, text) in cases {
            assert_eq!(action.to_string(), text, "{action:?}");
        }
    }

    #[test]
    fn action_lists() {
        assert_eq!(DisplayActions(&[]).to_string(), "drop");
        let list = [
            Action::output(PortNo(1)),
            Action::output(PortNo::LOCAL),
            Action::output(PortNo::ALL),
        ];
        assert_eq!(DisplayActions(&list).to_string(), "output:1,LOCAL,ALL");
    }

    #[test]
    fn flow_mods_as_ofp_print() {
        let mut m = Match::any();
        m.in_port = Some(PortNo(4));
        let mut fm = FlowMod::add(m, 0x8000, vec![Action::output(PortNo(1))]);
        fm.command = FlowModCommand::Modify;
        fm.cookie = 0x10;
        fm.idle_timeout = 1;
        fm.hard_timeout = 2;
        fm.buffer_id = 9;
        fm.out_port = PortNo(5);
        fm.flags = FlowModFlags::SEND_FLOW_REM | FlowModFlags::CHECK_OVERLAP;
        assert_eq!(
            fm.to_string(),
            "MOD in_port=4 cookie:0x10 idle:1 hard:2 buf:0x9 out_port:5 send_flow_rem \
             check_overlap actions=output:1"
        );

        let del = FlowMod {
            command: FlowModCommand::Delete,
            ..FlowMod::add(Match::any(), 0x8000, Vec::new())
        };
        assert_eq!(del.to_string(), "DEL actions=drop");

        let strict = FlowMod::delete_strict(
            Match {
                dl_type: Some(ETH_TYPE_IPV6),
                ..Match::any()
            },
            210,
        );
        assert_eq!(
            strict.to_string(),
            "DEL_STRICT priority=210,ipv6 actions=drop"
        );

        let mut tcp = proto(6);
        tcp.tp_src = Some(80);
        let mut fm = FlowMod::add(tcp, 208, vec![Action::output(PortNo::NORMAL)]);
        fm.cookie = 0x1234;
        fm.idle_timeout = 1;
        fm.hard_timeout = 3;
        fm.flags = FlowModFlags::SEND_FLOW_REM;
        assert_eq!(
            fm.to_string(),
            "ADD priority=208,tcp,tp_src=80 cookie:0x1234 idle:1 hard:3 send_flow_rem actions=NORMAL"
        );

        let odd = FlowMod {
            command: FlowModCommand::Unknown(7),
            flags: FlowModFlags::EMERG | FlowModFlags::from_bits_retain(0x30),
            ..FlowMod::add(Match::any(), 1, Vec::new())
        };
        assert_eq!(
            odd.to_string(),
            "cmd:7 priority=1 emerg flags:0x30 actions=drop"
        );
    }

    fn stats(priority: u16, m: Match, actions: Vec<Action>) -> FlowStats {
        FlowStats {
            table_id: 0,
            r#match: m,
            duration_sec: 0,
            duration_nsec: 49_000_000,
            priority,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: 0,
            packet_count: 1,
            byte_count: 70,
            actions: actions.into(),
        }
    }

    #[test]
    fn flow_stats_as_dump_flows() {
        let port2 = Match {
            in_port: Some(PortNo(2)),
            ..Match::any()
        };
        let s = stats(209, port2, vec![Action::output(PortNo(1))]);
        assert_eq!(
            s.to_string(),
            "cookie=0x0, duration=0.049s, table=0, n_packets=1, n_bytes=70, \
             priority=209,in_port=2 actions=output:1"
        );
        let s2 = FlowStats {
            table_id: 254,
            duration_sec: 5,
            duration_nsec: 1,
            idle_timeout: 1,
            cookie: u64::MAX,
            packet_count: 2,
            byte_count: 3,
            ..stats(0x8000, port2, Vec::new())
        };
        assert_eq!(
            s2.to_string(),
            "cookie=0xffffffffffffffff, duration=5.000000001s, table=254, n_packets=2, \
             n_bytes=3, idle_timeout=1, in_port=2 actions=drop"
        );
        let s3 = FlowStats {
            table_id: 3,
            duration_sec: 7,
            duration_nsec: 0,
            hard_timeout: 9,
            cookie: 5,
            packet_count: 0,
            byte_count: 0,
            ..stats(0, port2, vec![Action::to_controller(128)])
        };
        assert_eq!(
            s3.to_string(),
            "cookie=0x5, duration=7s, table=3, n_packets=0, n_bytes=0, hard_timeout=9, \
             priority=0,in_port=2 actions=CONTROLLER:128"
        );
        let empty = FlowStats {
            duration_nsec: 0,
            ..stats(0x8000, Match::any(), Vec::new())
        };
        assert_eq!(
            empty.to_string(),
            "cookie=0x0, duration=0s, table=0, n_packets=1, n_bytes=70, actions=drop"
        );
    }

    #[test]
    fn packet_in_and_packet_out_as_ofp_print() {
        // Printed by ovs-ofctl 3.1 for the same messages.
        let pi = |buffer_id, total_len, in_port, reason, len| PacketIn {
            buffer_id,
            total_len,
            in_port: PortNo(in_port),
            reason: PacketInReason::from_u8(reason),
            data: Bytes::from(vec![0; len]),
        };
        let cases = [
            (
                pi(NO_BUFFER, 42, 1, 1, 42),
                "total_len=42 in_port=1 (via action) data_len=42 (unbuffered)",
            ),
            (
                pi(NO_BUFFER, 10, 0xfffe, 2, 0),
                "total_len=10 in_port=LOCAL (via invalid_ttl) data_len=0 (unbuffered) \
                 (***total_len != data_len***)",
            ),
            (
                pi(7, 60, 3, 9, 14),
                "total_len=60 in_port=3 (via 9) data_len=14 buffer=0x00000007",
            ),
            (
                pi(NO_BUFFER, 60, 3, 0, 14),
                "total_len=60 in_port=3 (via no_match) data_len=14 (unbuffered) \
                 (***total_len != data_len***)",
            ),
        ];
        for (value, text) in cases {
            assert_eq!(value.to_string(), text);
        }
        let po = |buffer_id, in_port, actions: Vec<Action>, len| PacketOut {
            buffer_id,
            in_port: PortNo(in_port),
            actions: actions.into(),
            data: Bytes::from(vec![0; len]),
        };
        let cases = [
            (
                po(5, 1, vec![Action::output(PortNo(2))], 0),
                "in_port=1 actions=output:2 buffer=0x00000005",
            ),
            (
                po(5, 0xfffe, vec![], 0),
                "in_port=LOCAL actions=drop buffer=0x00000005",
            ),
            (
                po(NO_BUFFER, 0xffff, vec![], 0),
                "in_port=ANY actions=drop data_len=0",
            ),
            (
                po(NO_BUFFER, 1, vec![Action::output(PortNo::FLOOD)], 86),
                "in_port=1 actions=FLOOD data_len=86",
            ),
        ];
        for (value, text) in cases {
            assert_eq!(value.to_string(), text);
        }
        let any = Match {
            in_port: Some(PortNo::NONE),
            ..Match::any()
        };
        let mut del = FlowMod::delete_strict(any, 1);
        del.command = FlowModCommand::Delete;
        del.out_port = PortNo::LOCAL;
        assert_eq!(
            del.to_string(),
            "DEL priority=1,in_port=ANY out_port:LOCAL actions=drop"
        );
    }

    #[test]
    fn durations_as_ovs_prints_them() {
        // Printed by ovs-ofctl 3.1 for the same (sec, nsec).
        let cases = [
            (0, 0, "0s"),
            (7, 0, "7s"),
            (0, 23_306_310, "0.02330631s"),
            (0, 306_310, "0.00030631s"),
            (0, 1, "0.000000001s"),
            (0, 10, "0.00000001s"),
            (0, 100_000, "0.0001s"),
            (0, 123_456_780, "0.12345678s"),
            (0, 999_999_999, "0.999999999s"),
            (0, 1_000_000_000, "0.1000s"),
            (0, u32::MAX, "0.4294967295s"),
            (0, 60_000_000, "0.060s"),
            (0, 500_000_000, "0.500s"),
            (0, 1_500_000, "0.0015s"),
            (5, 1, "5.000000001s"),
        ];
        for (sec, nsec, text) in cases {
            assert_eq!(Duration(sec, nsec).to_string(), text);
        }
    }

    #[test]
    fn flow_removed_as_ofp_print() {
        let port2 = Match {
            in_port: Some(PortNo(2)),
            ..Match::any()
        };
        let fr = |cookie, priority, reason, sec, nsec, idle, pkts, bytes| FlowRemoved {
            r#match: port2,
            cookie,
            priority,
            reason,
            duration_sec: sec,
            duration_nsec: nsec,
            idle_timeout: idle,
            packet_count: pkts,
            byte_count: bytes,
        };
        let cases = [
            (
                fr(
                    0xabc,
                    500,
                    FlowRemovedReason::IdleTimeout,
                    2,
                    60_000_000,
                    2,
                    0,
                    0,
                ),
                "priority=500,in_port=2 reason=idle cookie:0xabc duration2.060s idle2 pkts0 bytes0",
            ),
            (
                fr(0, 0x8000, FlowRemovedReason::HardTimeout, 0, 0, 0, 5, 6),
                "in_port=2 reason=hard duration0s idle0 pkts5 bytes6",
            ),
            (
                fr(0, 7, FlowRemovedReason::Delete, 3, 123_456_789, 0, 1, 1),
                "priority=7,in_port=2 reason=delete duration3.123456789s idle0 pkts1 bytes1",
            ),
            (
                fr(1, 7, FlowRemovedReason::Unknown(9), 3, 1, 0, 1, 1),
                "priority=7,in_port=2 reason=9 cookie:0x1 duration3.000000001s idle0 pkts1 bytes1",
            ),
        ];
        for (value, text) in cases {
            assert_eq!(value.to_string(), text);
        }
        let all = FlowRemoved {
            r#match: Match::any(),
            priority: 0x8000,
            ..fr(0, 0, FlowRemovedReason::IdleTimeout, 0, 0, 0, 0, 0)
        };
        assert_eq!(
            all.to_string(),
            " reason=idle duration0s idle0 pkts0 bytes0"
        );
    }

    #[test]
    fn flow_mod_from_the_fixture_text() {
        // priority=201,udp,nw_src=10.10.1.0/24,tp_dst=53 from ovs-ofctl add-flow.
        let m = Match {
            nw_src: Ipv4Match::prefix(ip4(10, 10, 1, 0), 24),
            tp_dst: Some(53),
            ..proto(17)
        };
        let fm = FlowMod::add(
            m,
            201,
            vec![
                Action::SetNwSrc(ip4(203, 0, 113, 11)),
                Action::SetDlSrc(MacAddr([2, 0, 0, 0, 0, 0xff])),
                Action::SetTpSrc(1000),
                Action::SetTpDst(2000),
                Action::output(PortNo(1)),
            ],
        );
        assert_eq!(
            fm.to_string(),
            "ADD priority=201,udp,nw_src=10.10.1.0/24,tp_dst=53 actions=mod_nw_src:203.0.113.11,\
             mod_dl_src:02:00:00:00:00:ff,mod_tp_src:1000,mod_tp_dst:2000,output:1"
        );
    }
}
