//! The responder table and the policies that decide whether to answer.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::addr::MacAddr;
use crate::frame::{ArpFrame, ArpKind, BufferTooSmall, ParseError};

/// Where an entry of the [`ResponderTable`] applies.
///
/// Switches are named by their 64-bit datapath id; ports by a 32-bit number
/// (OpenFlow 1.0's 16-bit ports convert with `u32::from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every switch and port.
    Global,
    /// Every port of one switch.
    Switch(u64),
    /// One port of one switch.
    Port {
        /// The switch's datapath id.
        datapath: u64,
        /// The port number.
        port: u32,
    },
}

/// Where a frame was received: the switch's datapath id and the ingress port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The switch's datapath id.
    pub datapath: u64,
    /// The ingress port.
    pub port: u32,
}

impl Location {
    /// A location from a datapath id and a port.
    pub const fn new(datapath: u64, port: u32) -> Self {
        Location { datapath, port }
    }
}

/// The result of a table lookup: the MAC to answer with, and the scope of
/// the entry that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Answer {
    /// The MAC that owns the address at that location.
    pub mac: MacAddr,
    /// The scope of the entry that matched.
    pub scope: Scope,
}

/// Which IPv4 addresses are answered with which MAC, and where.
///
/// Entries are scoped ([`Scope`]): global, per switch, or per (switch,
/// port). A lookup at a [`Location`] returns the **most specific** entry
/// for the address: the (switch, port) entry if there is one, else the
/// switch entry, else the global entry. Each level is a `HashMap`, so a
/// lookup is at most three hash probes whatever the size of the table.
///
/// Typical use in an EC2-style controller: the elastic IP is answered only
/// on the uplink port of the switch that hosts the instance
/// (`Scope::Port`), the gateway address on every switch (`Scope::Global`).
#[derive(Debug, Clone, Default)]
pub struct ResponderTable {
    global: HashMap<Ipv4Addr, MacAddr>,
    switch: HashMap<(u64, Ipv4Addr), MacAddr>,
    port: HashMap<(u64, u32, Ipv4Addr), MacAddr>,
}

impl ResponderTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `ip` with `mac` within `scope`; returns the MAC this replaced
    /// at exactly that scope, if any.
    pub fn insert(&mut self, scope: Scope, ip: Ipv4Addr, mac: MacAddr) -> Option<MacAddr> {
        match scope {
            Scope::Global => self.global.insert(ip, mac),
            Scope::Switch(dp) => self.switch.insert((dp, ip), mac),
            Scope::Port { datapath, port } => self.port.insert((datapath, port, ip), mac),
        }
    }

    /// Stops answering `ip` at exactly `scope` (entries at other scopes
    /// stay); returns the MAC removed, if any.
    pub fn remove(&mut self, scope: Scope, ip: Ipv4Addr) -> Option<MacAddr> {
        match scope {
            Scope::Global => self.global.remove(&ip),
            Scope::Switch(dp) => self.switch.remove(&(dp, ip)),
            Scope::Port { datapath, port } => self.port.remove(&(datapath, port, ip)),
        }
    }

    /// The entry at exactly `scope`, without falling back to wider scopes.
    pub fn get(&self, scope: Scope, ip: Ipv4Addr) -> Option<MacAddr> {
        match scope {
            Scope::Global => self.global.get(&ip),
            Scope::Switch(dp) => self.switch.get(&(dp, ip)),
            Scope::Port { datapath, port } => self.port.get(&(datapath, port, ip)),
        }
        .copied()
    }

    /// The most specific entry for `ip` at `at` (port, then switch, then
    /// global).
    pub fn lookup(&self, ip: Ipv4Addr, at: Location) -> Option<Answer> {
        if let Some(&mac) = self.port.get(&(at.datapath, at.port, ip)) {
            return Some(Answer {
                mac,
                scope: Scope::Port {
                    datapath: at.datapath,
                    port: at.port,
                },
            });
        }
        if let Some(&mac) = self.switch.get(&(at.datapath, ip)) {
            return Some(Answer {
                mac,
                scope: Scope::Switch(at.datapath),
            });
        }
        self.global.get(&ip).map(|&mac| Answer {
            mac,
            scope: Scope::Global,
        })
    }

    /// Number of entries over all scopes.
    pub fn len(&self) -> usize {
        self.global.len() + self.switch.len() + self.port.len()
    }

    /// True when the table has no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.global.clear();
        self.switch.clear();
        self.port.clear();
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Scope, Ipv4Addr, MacAddr)> + '_ {
        let g = self.global.iter().map(|(&ip, &m)| (Scope::Global, ip, m));
        let s = self
            .switch
            .iter()
            .map(|(&(dp, ip), &m)| (Scope::Switch(dp), ip, m));
        let p = self
            .port
            .iter()
            .map(|(&(datapath, port, ip), &m)| (Scope::Port { datapath, port }, ip, m));
        g.chain(s).chain(p)
    }

    /// Decides what to do with a frame received at `at`: parse it, apply the
    /// policies, and look the target up. See [`ResponderTable::decide_parsed`]
    /// for the policies.
    pub fn decide(&self, frame: &[u8], at: Location) -> Decision {
        match ArpFrame::parse(frame) {
            Ok(f) => self.decide_parsed(&f, at),
            Err(e) => Decision::Invalid(e),
        }
    }

    /// Decides what to do with an already parsed frame received at `at`.
    ///
    /// Policies, in order:
    /// 1. Replies, gratuitous announcements (either form) and unknown
    ///    operations are never answered ([`Ignored::NotARequest`],
    ///    [`Ignored::Announcement`]); an announcement of an address of ours
    ///    is flagged as a conflict for the caller to log.
    /// 2. A sender hardware address that is a group address or zero, or a
    ///    sender IP that is multicast, limited broadcast or loopback, is
    ///    never answered ([`Ignored::BadSender`]): the reply would go to a
    ///    group or to nobody.
    /// 3. The target must be in the table at `at` (most specific scope);
    ///    otherwise [`Ignored::NotOurs`]. This covers RFC 5227 probes for
    ///    addresses that are not ours. The unspecified address `0.0.0.0` is
    ///    never ours, even if the table holds it: nobody owns it.
    /// 4. A requester is never told its own MAC ([`Ignored::RequesterIsOwner`]):
    ///    the host that owns the address is asking for it itself. This
    ///    includes the RFC 5227 probe the owner sends before it uses its
    ///    address: answering it with the owner's own MAC would make the owner
    ///    see a conflict and give the address up.
    /// 5. Otherwise, answer ([`Decision::Reply`]), including RFC 5227 probes
    ///    for our addresses from another host: the prober then sees the
    ///    address is in use.
    pub fn decide_parsed(&self, frame: &ArpFrame, at: Location) -> Decision {
        let kind = frame.kind();
        match kind {
            ArpKind::Request | ArpKind::Probe => {}
            ArpKind::GratuitousRequest | ArpKind::GratuitousReply => {
                let conflict = self
                    .lookup(frame.sender_ip, at)
                    .is_some_and(|a| a.mac != frame.sender_mac);
                return Decision::Ignore(Ignored::Announcement { conflict });
            }
            ArpKind::Reply | ArpKind::UnknownOperation(_) => {
                return Decision::Ignore(Ignored::NotARequest(kind));
            }
        }
        let spa = frame.sender_ip;
        if !frame.sender_mac.is_unicast()
            || spa.is_multicast()
            || spa.is_broadcast()
            || spa.is_loopback()
        {
            return Decision::Ignore(Ignored::BadSender);
        }
        let answer = if frame.target_ip.is_unspecified() {
            None
        } else {
            self.lookup(frame.target_ip, at)
        };
        let Some(answer) = answer else {
            return Decision::Ignore(Ignored::NotOurs(frame.target_ip));
        };
        if answer.mac == frame.sender_mac {
            return Decision::Ignore(Ignored::RequesterIsOwner);
        }
        Decision::Reply(Reply {
            request: *frame,
            answer,
        })
    }
}

/// Why a frame is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ignored {
    /// A reply or an unknown operation; carries its kind.
    NotARequest(ArpKind),
    /// A gratuitous announcement (the requester's own address: duplicate
    /// address detection and cache updates are never answered).
    /// `conflict` is true when the table maps the announced address to a
    /// different MAC at that location.
    Announcement {
        /// The announced address is ours, bound to another MAC.
        conflict: bool,
    },
    /// The sender MAC or IP cannot be answered (group or zero MAC,
    /// multicast, broadcast or loopback IP).
    BadSender,
    /// The target address is not in the table at that location (includes
    /// probes for addresses that are not ours), or is `0.0.0.0`.
    NotOurs(Ipv4Addr),
    /// The table's MAC for the target is the requester's own MAC: the owner
    /// asking for its own address, RFC 5227 probes before use included.
    RequesterIsOwner,
}

/// A reply to send: the request and the table entry that answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Reply {
    /// The request being answered.
    pub request: ArpFrame,
    /// The entry that answers it.
    pub answer: Answer,
}

impl Reply {
    /// The reply frame ([`ArpFrame::reply`] with the answered MAC).
    pub fn frame(&self) -> ArpFrame {
        self.request.reply(self.answer.mac)
    }

    /// Writes the reply frame into `buf` without allocating; returns its
    /// length (60, or 64 when tagged).
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.frame().write(buf)
    }
}

/// What [`ResponderTable::decide`] concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Answer: write the reply and send it out of the ingress port.
    Reply(Reply),
    /// A valid ARP frame that must not be answered, and why.
    Ignore(Ignored),
    /// Not an Ethernet/IPv4 ARP frame.
    Invalid(ParseError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{GratuitousForm, Operation};

    const DP: u64 = 0xc1;
    const A: Location = Location::new(DP, 1);
    const B: Location = Location::new(DP, 2);
    const OTHER: Location = Location::new(0xc2, 1);

    fn mac(n: u8) -> MacAddr {
        MacAddr([0x02, 0, 0, 0, 0, n])
    }

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 1, 0, n)
    }

    fn request(from: u8, for_ip: Ipv4Addr) -> ArpFrame {
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac(from),
            vlan: None,
            operation: Operation::Request,
            sender_mac: mac(from),
            sender_ip: ip(from),
            target_mac: MacAddr::ZERO,
            target_ip: for_ip,
        }
    }

    #[test]
    fn most_specific_scope_wins() {
        let mut t = ResponderTable::new();
        t.insert(Scope::Global, ip(9), mac(0x90));
        t.insert(Scope::Switch(DP), ip(9), mac(0x91));
        t.insert(
            Scope::Port {
                datapath: DP,
                port: 1,
            },
            ip(9),
            mac(0x92),
        );
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(ip(9), A).unwrap().mac, mac(0x92));
        assert_eq!(t.lookup(ip(9), B).unwrap().mac, mac(0x91));
        assert_eq!(
            t.lookup(ip(9), OTHER),
            Some(Answer {
                mac: mac(0x90),
                scope: Scope::Global
            })
        );
        assert_eq!(t.remove(Scope::Switch(DP), ip(9)), Some(mac(0x91)));
        assert_eq!(t.lookup(ip(9), B).unwrap().scope, Scope::Global);
        assert_eq!(t.get(Scope::Switch(DP), ip(9)), None);
        assert_eq!(t.iter().count(), 2);
        t.clear();
        assert!(t.is_empty());
        assert_eq!(t.lookup(ip(9), A), None);
    }

    #[test]
    fn iter_returns_every_entry_with_its_scope() {
        let mut t = ResponderTable::new();
        let far = Ipv4Addr::new(255, 254, 253, 252);
        let entries = [
            (Scope::Global, far, mac(1)),
            (Scope::Switch(u64::MAX), far, mac(2)),
            (
                Scope::Port {
                    datapath: u64::MAX,
                    port: u32::MAX,
                },
                far,
                mac(3),
            ),
            (
                Scope::Port {
                    datapath: 1,
                    port: 0xfffe,
                },
                ip(0),
                mac(4),
            ),
        ];
        for (scope, ip, m) in entries {
            t.insert(scope, ip, m);
        }
        let mut got: Vec<_> = t.iter().collect();
        got.sort_by_key(|&(_, _, m)| m);
        assert_eq!(got, entries);
        for (scope, ip, m) in entries {
            assert_eq!(t.get(scope, ip), Some(m));
        }
        assert_eq!(
            t.lookup(far, Location::new(u64::MAX, u32::MAX))
                .unwrap()
                .mac,
            mac(3)
        );
        assert_eq!(
            t.lookup(far, Location::new(u64::MAX, 0)).unwrap().mac,
            mac(2)
        );
    }

    #[test]
    fn insert_returns_previous_at_same_scope() {
        let mut t = ResponderTable::new();
        assert_eq!(t.insert(Scope::Global, ip(9), mac(1)), None);
        assert_eq!(t.insert(Scope::Global, ip(9), mac(2)), Some(mac(1)));
        assert_eq!(t.insert(Scope::Switch(DP), ip(9), mac(3)), None);
    }

    #[test]
    fn answers_requests_for_ours_only_where_scoped() {
        let mut t = ResponderTable::new();
        t.insert(
            Scope::Port {
                datapath: DP,
                port: 1,
            },
            ip(9),
            mac(0x99),
        );
        let req = request(1, ip(9));
        match t.decide_parsed(&req, A) {
            Decision::Reply(r) => {
                assert_eq!(r.answer.mac, mac(0x99));
                let f = r.frame();
                assert_eq!(f.sender_ip, ip(9));
                assert_eq!(f.target_mac, mac(1));
            }
            other => panic!("expected a reply, got {other:?}"),
        }
        assert_eq!(
            t.decide_parsed(&req, B),
            Decision::Ignore(Ignored::NotOurs(ip(9)))
        );
    }

    #[test]
    fn probes_answered_only_for_ours() {
        let mut t = ResponderTable::new();
        t.insert(Scope::Global, ip(9), mac(0x99));
        let probe = ArpFrame {
            sender_ip: Ipv4Addr::UNSPECIFIED,
            ..request(1, ip(9))
        };
        let Decision::Reply(r) = t.decide_parsed(&probe, A) else {
            panic!("probe for ours must be answered");
        };
        let f = r.frame();
        assert_eq!((f.sender_mac, f.sender_ip), (mac(0x99), ip(9)));
        assert_eq!((f.target_mac, f.target_ip), (mac(1), Ipv4Addr::UNSPECIFIED));
        assert_eq!(f.eth_dst, mac(1));
        let other = ArpFrame {
            target_ip: ip(8),
            ..probe
        };
        assert_eq!(
            t.decide_parsed(&other, A),
            Decision::Ignore(Ignored::NotOurs(ip(8)))
        );
    }

    #[test]
    fn the_owners_own_probe_is_not_answered() {
        // RFC 5227: before it uses 10.1.0.9, its owner (mac 0x99) probes for it. Answering
        // would tell the owner its address is taken (by itself).
        let mut t = ResponderTable::new();
        t.insert(
            Scope::Port {
                datapath: DP,
                port: 1,
            },
            ip(9),
            mac(0x99),
        );
        let owners_probe = ArpFrame {
            eth_src: mac(0x99),
            sender_mac: mac(0x99),
            sender_ip: Ipv4Addr::UNSPECIFIED,
            ..request(1, ip(9))
        };
        assert_eq!(owners_probe.kind(), ArpKind::Probe);
        assert_eq!(
            t.decide_parsed(&owners_probe, A),
            Decision::Ignore(Ignored::RequesterIsOwner)
        );
        assert_eq!(
            t.decide(&owners_probe.to_bytes()[..60], A),
            Decision::Ignore(Ignored::RequesterIsOwner)
        );
        // Where the address is not ours, the owner check never comes into it.
        assert_eq!(
            t.decide_parsed(&owners_probe, B),
            Decision::Ignore(Ignored::NotOurs(ip(9)))
        );
        // The same probe from another host is answered: the address is in use.
        let someone_elses = ArpFrame {
            eth_src: mac(1),
            sender_mac: mac(1),
            ..owners_probe
        };
        assert!(matches!(
            t.decide_parsed(&someone_elses, A),
            Decision::Reply(r) if r.answer.mac == mac(0x99)
        ));
    }

    #[test]
    fn the_unspecified_address_is_never_ours() {
        let mut t = ResponderTable::new();
        t.insert(Scope::Global, Ipv4Addr::UNSPECIFIED, mac(0x99));
        for sender_ip in [ip(1), Ipv4Addr::UNSPECIFIED] {
            let asks_for_zero = ArpFrame {
                sender_ip,
                ..request(1, Ipv4Addr::UNSPECIFIED)
            };
            assert_eq!(
                t.decide_parsed(&asks_for_zero, A),
                Decision::Ignore(Ignored::NotOurs(Ipv4Addr::UNSPECIFIED))
            );
        }
    }

    #[test]
    fn never_answers_own_address_or_announcements() {
        let mut t = ResponderTable::new();
        t.insert(Scope::Global, ip(1), mac(0x11));
        t.insert(Scope::Global, ip(2), mac(2));
        // Host 1 announces 10.1.0.1, which we map to another MAC: a conflict, not answered.
        for form in [GratuitousForm::Request, GratuitousForm::Reply] {
            let g = ArpFrame::gratuitous(form, mac(1), ip(1), None);
            assert_eq!(
                t.decide_parsed(&g, A),
                Decision::Ignore(Ignored::Announcement { conflict: true })
            );
            let g = ArpFrame::gratuitous(form, mac(0x11), ip(1), None);
            assert_eq!(
                t.decide_parsed(&g, A),
                Decision::Ignore(Ignored::Announcement { conflict: false })
            );
        }
        // Host 2 asks for its own entry's MAC through another sender IP.
        assert_eq!(
            t.decide_parsed(&request(2, ip(2)), A),
            Decision::Ignore(Ignored::Announcement { conflict: false })
        );
        let mut r = request(2, ip(2));
        r.sender_ip = ip(77);
        assert_eq!(
            t.decide_parsed(&r, A),
            Decision::Ignore(Ignored::RequesterIsOwner)
        );
    }

    #[test]
    fn replies_and_bad_senders_ignored() {
        let mut t = ResponderTable::new();
        t.insert(Scope::Global, ip(9), mac(9));
        let req = request(1, ip(9));
        let rep = req.reply(mac(5));
        assert_eq!(
            t.decide_parsed(&rep, A),
            Decision::Ignore(Ignored::NotARequest(ArpKind::Reply))
        );
        let odd = ArpFrame {
            operation: Operation::Unknown(4),
            ..req
        };
        assert_eq!(
            t.decide_parsed(&odd, A),
            Decision::Ignore(Ignored::NotARequest(ArpKind::UnknownOperation(4)))
        );
        for bad in [
            ArpFrame {
                sender_mac: MacAddr::BROADCAST,
                ..req
            },
            ArpFrame {
                sender_mac: MacAddr::ZERO,
                ..req
            },
            ArpFrame {
                sender_ip: Ipv4Addr::new(224, 0, 0, 1),
                ..req
            },
            ArpFrame {
                sender_ip: Ipv4Addr::BROADCAST,
                ..req
            },
            ArpFrame {
                sender_ip: Ipv4Addr::LOCALHOST,
                ..req
            },
        ] {
            assert_eq!(
                t.decide_parsed(&bad, A),
                Decision::Ignore(Ignored::BadSender)
            );
        }
    }

    #[test]
    fn decide_on_bytes() {
        let mut t = ResponderTable::new();
        t.insert(Scope::Global, ip(9), mac(9));
        let bytes = request(1, ip(9)).to_bytes();
        let Decision::Reply(r) = t.decide(&bytes[..60], A) else {
            panic!("expected a reply");
        };
        let mut buf = [0u8; 64];
        assert_eq!(r.write(&mut buf), Ok(60));
        assert!(matches!(
            t.decide(&bytes[..20], A),
            Decision::Invalid(ParseError::Truncated { .. })
        ));
    }
}
