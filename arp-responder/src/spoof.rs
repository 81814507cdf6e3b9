//! Anti-spoofing: does an ARP frame from a port carry exactly the addresses
//! bound to that port?

use std::fmt;
use std::net::Ipv4Addr;

use crate::addr::MacAddr;
use crate::frame::{ArpFrame, ArpKind};

/// The MAC and IPv4 address bound to a port (an instance's interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Binding {
    /// The only MAC the port may send from.
    pub mac: MacAddr,
    /// The only IPv4 address the port may claim.
    pub ip: Ipv4Addr,
}

/// A field that differs from the binding: what was expected, what was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mismatch<T> {
    /// The bound value.
    pub expected: T,
    /// The value in the frame.
    pub found: T,
}

/// An ARP frame that does not match its port's [`Binding`]: every field that
/// differs (at least one is `Some`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub struct Spoofed {
    /// The Ethernet source address differs from the bound MAC.
    pub eth_src: Option<Mismatch<MacAddr>>,
    /// The ARP sender hardware address differs from the bound MAC.
    pub sender_mac: Option<Mismatch<MacAddr>>,
    /// The ARP sender protocol address differs from the bound IP (and the
    /// frame is not an RFC 5227 probe for the bound IP).
    pub sender_ip: Option<Mismatch<Ipv4Addr>>,
}

impl fmt::Display for Spoofed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ARP frame does not match the port binding:")?;
        if let Some(m) = self.eth_src {
            write!(f, " Ethernet source {} (expected {})", m.found, m.expected)?;
        }
        if let Some(m) = self.sender_mac {
            write!(f, " sender MAC {} (expected {})", m.found, m.expected)?;
        }
        if let Some(m) = self.sender_ip {
            write!(f, " sender IP {} (expected {})", m.found, m.expected)?;
        }
        Ok(())
    }
}

fn mismatch<T: PartialEq + Copy>(expected: T, found: T) -> Option<Mismatch<T>> {
    (expected != found).then_some(Mismatch { expected, found })
}

impl Binding {
    /// Checks a frame received on the bound port: its Ethernet source and
    /// ARP sender MAC must be the bound MAC, and its ARP sender IP the bound
    /// IP.
    ///
    /// One exception: an RFC 5227 probe (sender IP `0.0.0.0`) whose target
    /// is the bound IP passes, because a host checks its own address that
    /// way before using it. A probe for any other address fails on
    /// `sender_ip`.
    pub fn check(&self, frame: &ArpFrame) -> Result<(), Spoofed> {
        let own_probe = frame.kind() == ArpKind::Probe && frame.target_ip == self.ip;
        let report = Spoofed {
            eth_src: mismatch(self.mac, frame.eth_src),
            sender_mac: mismatch(self.mac, frame.sender_mac),
            sender_ip: if own_probe {
                None
            } else {
                mismatch(self.ip, frame.sender_ip)
            },
        };
        if report.eth_src.is_none() && report.sender_mac.is_none() && report.sender_ip.is_none() {
            Ok(())
        } else {
            Err(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{GratuitousForm, Operation};

    const MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
    const EVIL: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x66]);
    const IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
    const B: Binding = Binding { mac: MAC, ip: IP };

    fn req() -> ArpFrame {
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: MAC,
            vlan: None,
            operation: Operation::Request,
            sender_mac: MAC,
            sender_ip: IP,
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(10, 1, 0, 2),
        }
    }

    #[test]
    fn honest_frames_pass() {
        assert_eq!(B.check(&req()), Ok(()));
        // The bound host answering someone else's request for its address.
        let asked = ArpFrame {
            eth_src: EVIL,
            sender_mac: EVIL,
            sender_ip: Ipv4Addr::new(10, 1, 0, 2),
            target_ip: IP,
            ..req()
        };
        assert_eq!(B.check(&asked.reply(MAC)), Ok(()));
        let g = ArpFrame::gratuitous(GratuitousForm::Request, MAC, IP, None);
        assert_eq!(B.check(&g), Ok(()));
        let own_probe = ArpFrame {
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_ip: IP,
            ..req()
        };
        assert_eq!(B.check(&own_probe), Ok(()));
    }

    #[test]
    fn each_mismatch_is_reported() {
        let f = ArpFrame {
            eth_src: EVIL,
            ..req()
        };
        assert_eq!(
            B.check(&f),
            Err(Spoofed {
                eth_src: Some(Mismatch {
                    expected: MAC,
                    found: EVIL
                }),
                sender_mac: None,
                sender_ip: None
            })
        );
        let f = ArpFrame {
            sender_mac: EVIL,
            ..req()
        };
        let e = B.check(&f).unwrap_err();
        assert!(e.eth_src.is_none() && e.sender_ip.is_none());
        assert_eq!(e.sender_mac.unwrap().found, EVIL);
        let stolen = Ipv4Addr::new(10, 1, 0, 200);
        let f = ArpFrame {
            sender_ip: stolen,
            ..req()
        };
        let e = B.check(&f).unwrap_err();
        assert_eq!(
            e.sender_ip,
            Some(Mismatch {
                expected: IP,
                found: stolen
            })
        );
        assert_eq!(
            e.to_string(),
            "ARP frame does not match the port binding: sender IP 10.1.0.200 (expected 10.1.0.1)"
        );
        let probe_other = ArpFrame {
            sender_ip: Ipv4Addr::UNSPECIFIED,
            target_ip: stolen,
            ..req()
        };
        assert!(B.check(&probe_other).unwrap_err().sender_ip.is_some());
        let all = ArpFrame {
            eth_src: EVIL,
            sender_mac: EVIL,
            sender_ip: stolen,
            ..req()
        };
        let e = B.check(&all).unwrap_err();
        assert!(e.eth_src.is_some() && e.sender_mac.is_some() && e.sender_ip.is_some());
    }
}
