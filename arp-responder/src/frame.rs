//! The typed view of an Ethernet/IPv4 ARP frame: parsing, classification and
//! serialisation into a caller's buffer.

use std::fmt;
use std::net::Ipv4Addr;

use etherparse::{EtherType, Ethernet2Slice, SingleVlanSlice};

use crate::addr::{MacAddr, VlanTag};

/// Length of an Ethernet II header (destination, source, EtherType).
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of one 802.1Q tag (TPID and TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// Length of an Ethernet/IPv4 ARP packet (RFC 826 with 6-byte hardware and
/// 4-byte protocol addresses).
pub const ARP_LEN: usize = 28;
/// The minimum length of an Ethernet frame on the wire, without its FCS.
pub const MIN_FRAME_LEN: usize = 60;
/// The longest frame this crate writes: an untagged frame padded to
/// [`MIN_FRAME_LEN`], plus one 802.1Q tag. A `[u8; 64]` always suffices.
pub const MAX_FRAME_LEN: usize = MIN_FRAME_LEN + VLAN_TAG_LEN;

/// EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// ARP hardware type of Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// ARP protocol type of IPv4 (its EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;

/// The ARP operation code, kept as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `1`: request ("who has").
    Request,
    /// `2`: reply ("is at").
    Reply,
    /// Any other value (RARP 3/4, InARP 8/9, or garbage), kept as found.
    Unknown(u16),
}

impl Operation {
    /// The operation code as on the wire.
    pub const fn code(self) -> u16 {
        match self {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(code) => code,
        }
    }

    /// The operation for a wire code.
    pub const fn from_code(code: u16) -> Self {
        match code {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

/// What an ARP frame means, as a responder sees it.
///
/// Classification (checked in this order):
///
/// | kind | operation | sender IP | target IP |
/// | --- | --- | --- | --- |
/// | [`Probe`](ArpKind::Probe) | request | `0.0.0.0` | the address being probed |
/// | [`GratuitousRequest`](ArpKind::GratuitousRequest) | request | X | X |
/// | [`GratuitousReply`](ArpKind::GratuitousReply) | reply | X | X |
/// | [`Request`](ArpKind::Request) | request | any other | any other |
/// | [`Reply`](ArpKind::Reply) | reply | any other | any other |
/// | [`UnknownOperation`](ArpKind::UnknownOperation) | other | | |
///
/// Both gratuitous forms are announcements: the sender tells the segment that
/// it holds the address; nobody is expected to answer them (RFC 5227 §2.3,
/// RFC 5944 §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpKind {
    /// An ordinary request for another host's address.
    Request,
    /// An ordinary reply.
    Reply,
    /// An RFC 5227 probe: a request with sender IP `0.0.0.0`, sent by a host
    /// that wants to know whether the target address is in use.
    Probe,
    /// A gratuitous announcement in request form (sender IP = target IP).
    GratuitousRequest,
    /// A gratuitous announcement in reply form (sender IP = target IP).
    GratuitousReply,
    /// An operation other than request or reply; carries the code.
    UnknownOperation(u16),
}

/// An Ethernet/IPv4 ARP frame: the Ethernet addresses, the optional 802.1Q
/// tag and the ARP fields (hardware type 1, protocol type `0x0800`, lengths
/// 6 and 4, which [`ArpFrame::parse`] checks and [`ArpFrame::write`] emits).
///
/// It is a plain value (`Copy`, 44 bytes of payload): parse one, inspect or
/// build one, write one into a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet destination address.
    pub eth_dst: MacAddr,
    /// Ethernet source address.
    pub eth_src: MacAddr,
    /// The 802.1Q tag, if the frame carries one.
    pub vlan: Option<VlanTag>,
    /// ARP operation.
    pub operation: Operation,
    /// Sender hardware address (`sha`).
    pub sender_mac: MacAddr,
    /// Sender protocol address (`spa`).
    pub sender_ip: Ipv4Addr,
    /// Target hardware address (`tha`).
    pub target_mac: MacAddr,
    /// Target protocol address (`tpa`).
    pub target_ip: Ipv4Addr,
}

/// A layer of the frame, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The Ethernet II header.
    Ethernet,
    /// The 802.1Q tag.
    VlanTag,
    /// The ARP packet.
    Arp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Ethernet => "Ethernet header",
            Layer::VlanTag => "802.1Q tag",
            Layer::Arp => "ARP packet",
        })
    }
}

/// A fixed ARP header field that must hold one value for Ethernet/IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpField {
    /// `htype`, at offset 0 of the ARP packet; must be 1 (Ethernet).
    HardwareType,
    /// `ptype`, at offset 2; must be `0x0800` (IPv4).
    ProtocolType,
    /// `hlen`, at offset 4; must be 6.
    HardwareLength,
    /// `plen`, at offset 5; must be 4.
    ProtocolLength,
}

impl fmt::Display for ArpField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArpField::HardwareType => "hardware type",
            ArpField::ProtocolType => "protocol type",
            ArpField::HardwareLength => "hardware address length",
            ArpField::ProtocolLength => "protocol address length",
        })
    }
}

/// Why a frame is not an Ethernet/IPv4 ARP frame this crate handles.
///
/// Offsets count bytes from the start of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The frame ends inside a layer.
    #[error("truncated {layer} at offset {offset}: need {needed} bytes, found {found}")]
    Truncated {
        /// The layer being read.
        layer: Layer,
        /// Where the layer starts.
        offset: usize,
        /// How many bytes the layer needs.
        needed: usize,
        /// How many bytes were left.
        found: usize,
    },
    /// The (inner) EtherType is not ARP.
    #[error("not ARP: EtherType {found:#06x} at offset {offset}, expected 0x0806")]
    NotArp {
        /// Where the EtherType field is.
        offset: usize,
        /// The EtherType found.
        found: u16,
    },
    /// A tag other than a single 802.1Q customer tag: an 802.1ad service tag
    /// (`0x88a8`), the legacy `0x9100`, or a second `0x8100` tag.
    #[error(
        "unsupported VLAN tagging: TPID {found:#06x} at offset {offset}, expected at most one 0x8100 tag"
    )]
    UnsupportedTag {
        /// Where the offending TPID is.
        offset: usize,
        /// The TPID found.
        found: u16,
    },
    /// A fixed ARP field does not describe Ethernet/IPv4.
    #[error("ARP {field} at offset {offset} is {found:#x}, expected {expected:#x}")]
    Field {
        /// Which field.
        field: ArpField,
        /// Where the field is.
        offset: usize,
        /// The value Ethernet/IPv4 ARP requires.
        expected: u16,
        /// The value found.
        found: u16,
    },
}

/// The caller's buffer cannot hold the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer too small for the ARP frame: need {needed} bytes, have {available}")]
pub struct BufferTooSmall {
    /// Bytes the frame takes.
    pub needed: usize,
    /// Bytes the buffer has.
    pub available: usize,
}

/// Which form a gratuitous ARP takes. Hosts differ in which they honour
/// (some only update their cache from requests, some only from replies), so
/// announcers commonly send both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GratuitousForm {
    /// Request form (RFC 5227 "ARP Announcement", `arping -U`): operation 1,
    /// sender = target = (MAC, IP), target hardware address zero.
    Request,
    /// Reply form (`arping -A`, RFC 5944 §4.6): operation 2, sender =
    /// (MAC, IP), target = (MAC, IP).
    Reply,
}

fn read_u16(bytes: [u8; 2]) -> u16 {
    u16::from_be_bytes(bytes)
}

impl ArpFrame {
    /// Parses an Ethernet frame (without FCS), untagged or with one 802.1Q
    /// tag, carrying an Ethernet/IPv4 ARP packet. Bytes after the 28-byte ARP
    /// packet (padding) are ignored.
    ///
    /// Never panics and never allocates; every rejection says what was found
    /// where and what was expected.
    pub fn parse(frame: &[u8]) -> Result<ArpFrame, ParseError> {
        let eth =
            Ethernet2Slice::from_slice_without_fcs(frame).map_err(|e| ParseError::Truncated {
                layer: Layer::Ethernet,
                offset: 0,
                needed: e.required_len,
                found: e.len,
            })?;
        let mut ether_type = eth.ether_type();
        let mut offset = ETHERNET_HEADER_LEN;
        let mut payload = eth.payload_slice();
        let mut vlan = None;
        if ether_type == EtherType::VLAN_TAGGED_FRAME {
            let tag = SingleVlanSlice::from_slice(payload).map_err(|e| ParseError::Truncated {
                layer: Layer::VlanTag,
                offset,
                needed: e.required_len,
                found: e.len,
            })?;
            let h = tag.to_header();
            vlan = Some(VlanTag::from_tci(
                (u16::from(h.pcp.value()) << 13)
                    | (u16::from(h.drop_eligible_indicator) << 12)
                    | h.vlan_id.value(),
            ));
            ether_type = tag.ether_type();
            payload = tag.payload_slice();
            offset += VLAN_TAG_LEN;
            if is_tpid(ether_type) {
                return Err(ParseError::UnsupportedTag {
                    offset: offset - 2,
                    found: ether_type.0,
                });
            }
        } else if is_tpid(ether_type) {
            return Err(ParseError::UnsupportedTag {
                offset: offset - 2,
                found: ether_type.0,
            });
        }
        if ether_type != EtherType::ARP {
            return Err(ParseError::NotArp {
                offset: offset - 2,
                found: ether_type.0,
            });
        }
        let arp: &[u8; ARP_LEN] = payload
            .get(..ARP_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(ParseError::Truncated {
                layer: Layer::Arp,
                offset,
                needed: ARP_LEN,
                found: payload.len(),
            })?;
        let check = |field, at: usize, expected: u16, found: u16| {
            if found == expected {
                Ok(())
            } else {
                Err(ParseError::Field {
                    field,
                    offset: offset + at,
                    expected,
                    found,
                })
            }
        };
        check(
            ArpField::HardwareType,
            0,
            HTYPE_ETHERNET,
            read_u16([arp[0], arp[1]]),
        )?;
        check(
            ArpField::ProtocolType,
            2,
            PTYPE_IPV4,
            read_u16([arp[2], arp[3]]),
        )?;
        check(ArpField::HardwareLength, 4, 6, u16::from(arp[4]))?;
        check(ArpField::ProtocolLength, 5, 4, u16::from(arp[5]))?;
        Ok(ArpFrame {
            eth_dst: MacAddr(eth.destination()),
            eth_src: MacAddr(eth.source()),
            vlan,
            operation: Operation::from_code(read_u16([arp[6], arp[7]])),
            sender_mac: MacAddr([arp[8], arp[9], arp[10], arp[11], arp[12], arp[13]]),
            sender_ip: Ipv4Addr::new(arp[14], arp[15], arp[16], arp[17]),
            target_mac: MacAddr([arp[18], arp[19], arp[20], arp[21], arp[22], arp[23]]),
            target_ip: Ipv4Addr::new(arp[24], arp[25], arp[26], arp[27]),
        })
    }

    /// Classifies the frame (see [`ArpKind`] for the rules).
    pub fn kind(&self) -> ArpKind {
        match self.operation {
            Operation::Request if self.sender_ip.is_unspecified() => ArpKind::Probe,
            Operation::Request if self.sender_ip == self.target_ip => ArpKind::GratuitousRequest,
            Operation::Request => ArpKind::Request,
            Operation::Reply if self.sender_ip == self.target_ip => ArpKind::GratuitousReply,
            Operation::Reply => ArpKind::Reply,
            Operation::Unknown(code) => ArpKind::UnknownOperation(code),
        }
    }

    /// The length [`ArpFrame::write`] produces: 60 bytes untagged, 64 with a
    /// tag (the frame stays at least 60 bytes after a switch pops the tag).
    pub const fn wire_len(&self) -> usize {
        if self.vlan.is_some() {
            MAX_FRAME_LEN
        } else {
            MIN_FRAME_LEN
        }
    }

    /// Serialises the frame into `buf` (zero padding included) and returns
    /// its length ([`ArpFrame::wire_len`]). Does not allocate; writes nothing
    /// if the buffer is too small.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let len = self.wire_len();
        let available = buf.len();
        let out = buf.get_mut(..len).ok_or(BufferTooSmall {
            needed: len,
            available,
        })?;
        let bytes = self.to_bytes();
        out.copy_from_slice(bytes.get(..len).ok_or(BufferTooSmall {
            needed: len,
            available,
        })?);
        Ok(len)
    }

    /// Serialises into a fixed 64-byte array; the frame is the first
    /// [`ArpFrame::wire_len`] bytes, the rest are zero.
    pub fn to_bytes(&self) -> [u8; MAX_FRAME_LEN] {
        let mut b = [0u8; MAX_FRAME_LEN];
        let [d0, d1, d2, d3, d4, d5] = self.eth_dst.0;
        let [s0, s1, s2, s3, s4, s5] = self.eth_src.0;
        b[0] = d0;
        b[1] = d1;
        b[2] = d2;
        b[3] = d3;
        b[4] = d4;
        b[5] = d5;
        b[6] = s0;
        b[7] = s1;
        b[8] = s2;
        b[9] = s3;
        b[10] = s4;
        b[11] = s5;
        let arp_at = match self.vlan {
            Some(tag) => {
                let [t0, t1] = VlanTag::TPID.to_be_bytes();
                let [c0, c1] = tag.tci().to_be_bytes();
                b[12] = t0;
                b[13] = t1;
                b[14] = c0;
                b[15] = c1;
                b[16] = 0x08;
                b[17] = 0x06;
                18
            }
            None => {
                b[12] = 0x08;
                b[13] = 0x06;
                14
            }
        };
        let [o0, o1] = self.operation.code().to_be_bytes();
        let [sm0, sm1, sm2, sm3, sm4, sm5] = self.sender_mac.0;
        let [si0, si1, si2, si3] = self.sender_ip.octets();
        let [tm0, tm1, tm2, tm3, tm4, tm5] = self.target_mac.0;
        let [ti0, ti1, ti2, ti3] = self.target_ip.octets();
        let arp: [u8; ARP_LEN] = [
            0x00, 0x01, 0x08, 0x00, 6, 4, o0, o1, sm0, sm1, sm2, sm3, sm4, sm5, si0, si1, si2, si3,
            tm0, tm1, tm2, tm3, tm4, tm5, ti0, ti1, ti2, ti3,
        ];
        if let Some(dst) = b.get_mut(arp_at..arp_at + ARP_LEN) {
            dst.copy_from_slice(&arp);
        }
        b
    }

    /// The reply a host owning `target_ip` with MAC `mac` sends to this
    /// request: Ethernet destination = the requester's sender MAC, source =
    /// `mac`, operation 2, sender = (`mac`, requested IP), target = (the
    /// requester's sender MAC, sender IP), the 802.1Q tag unchanged.
    ///
    /// This is what Linux sends (`arp_process`): for an RFC 5227 probe the
    /// target IP is therefore `0.0.0.0`. It builds the reply whatever the
    /// frame is; whether one should be sent at all is decided by
    /// [`ResponderTable::decide`](crate::ResponderTable::decide).
    pub fn reply(&self, mac: MacAddr) -> ArpFrame {
        ArpFrame {
            eth_dst: self.sender_mac,
            eth_src: mac,
            vlan: self.vlan,
            operation: Operation::Reply,
            sender_mac: mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// A broadcast gratuitous ARP announcing that `ip` is now at `mac`, in
    /// the given form, optionally tagged.
    pub fn gratuitous(
        form: GratuitousForm,
        mac: MacAddr,
        ip: Ipv4Addr,
        vlan: Option<VlanTag>,
    ) -> ArpFrame {
        let (operation, target_mac) = match form {
            GratuitousForm::Request => (Operation::Request, MacAddr::ZERO),
            GratuitousForm::Reply => (Operation::Reply, mac),
        };
        ArpFrame {
            eth_dst: MacAddr::BROADCAST,
            eth_src: mac,
            vlan,
            operation,
            sender_mac: mac,
            sender_ip: ip,
            target_mac,
            target_ip: ip,
        }
    }
}

fn is_tpid(ether_type: EtherType) -> bool {
    ether_type == EtherType::VLAN_TAGGED_FRAME
        || ether_type == EtherType::PROVIDER_BRIDGING
        || ether_type == EtherType::VLAN_DOUBLE_TAGGED_FRAME
}

/// Parses `request` and writes the reply announcing `mac` into `buf`:
/// [`ArpFrame::parse`], [`ArpFrame::reply`] and [`ArpFrame::write`] in one
/// call, without allocation. Returns the reply's length (60, or 64 when
/// tagged).
///
/// No policy is applied: use [`ResponderTable::decide`](crate::ResponderTable::decide)
/// to know whether to answer.
pub fn write_reply(request: &[u8], mac: MacAddr, buf: &mut [u8]) -> Result<usize, ReplyError> {
    let req = ArpFrame::parse(request)?;
    Ok(req.reply(mac).write(buf)?)
}

/// Why [`write_reply`] produced nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The request is not an Ethernet/IPv4 ARP frame.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The buffer cannot hold the reply.
    #[error(transparent)]
    Buffer(#[from] BufferTooSmall),
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str =
        "ffffffffffff020000000001080600010800060400010200000000010a0100010000000000000a010002";

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn tagged(untagged: &[u8], tci: u16) -> Vec<u8> {
        let mut v = untagged[..12].to_vec();
        v.extend_from_slice(&[0x81, 0x00]);
        v.extend_from_slice(&tci.to_be_bytes());
        v.extend_from_slice(&untagged[12..]);
        v
    }

    #[test]
    fn parses_request() {
        let f = ArpFrame::parse(&hex(REQUEST)).unwrap();
        assert_eq!(f.eth_dst, MacAddr::BROADCAST);
        assert_eq!(f.eth_src, MacAddr([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.vlan, None);
        assert_eq!(f.operation, Operation::Request);
        assert_eq!(f.sender_ip, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(f.target_ip, Ipv4Addr::new(10, 1, 0, 2));
        assert_eq!(f.target_mac, MacAddr::ZERO);
        assert_eq!(f.kind(), ArpKind::Request);
    }

    #[test]
    fn parses_tagged_and_reports_tag() {
        let f = ArpFrame::parse(&tagged(&hex(REQUEST), 0xa00a)).unwrap();
        let tag = f.vlan.unwrap();
        assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (5, false, 10));
        assert_eq!(f.target_ip, Ipv4Addr::new(10, 1, 0, 2));
    }

    #[test]
    fn rejects_with_precise_errors() {
        let req = hex(REQUEST);
        assert_eq!(
            ArpFrame::parse(&req[..13]),
            Err(ParseError::Truncated {
                layer: Layer::Ethernet,
                offset: 0,
                needed: 14,
                found: 13
            })
        );
        assert_eq!(
            ArpFrame::parse(&req[..41]),
            Err(ParseError::Truncated {
                layer: Layer::Arp,
                offset: 14,
                needed: 28,
                found: 27
            })
        );
        let t = tagged(&req, 1);
        assert_eq!(
            ArpFrame::parse(&t[..16]),
            Err(ParseError::Truncated {
                layer: Layer::VlanTag,
                offset: 14,
                needed: 4,
                found: 2
            })
        );
        let mut ip = req.clone();
        ip[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(
            ArpFrame::parse(&ip),
            Err(ParseError::NotArp {
                offset: 12,
                found: 0x0800
            })
        );
        let qinq = tagged(&tagged(&req, 1), 2);
        assert_eq!(
            ArpFrame::parse(&qinq),
            Err(ParseError::UnsupportedTag {
                offset: 16,
                found: 0x8100
            })
        );
        let mut s_tag = req.clone();
        s_tag[12..14].copy_from_slice(&[0x88, 0xa8]);
        assert_eq!(
            ArpFrame::parse(&s_tag),
            Err(ParseError::UnsupportedTag {
                offset: 12,
                found: 0x88a8
            })
        );
        let cases: [(usize, &[u8], ArpField, u16, u16); 4] = [
            (14, &[0x00, 0x06], ArpField::HardwareType, 1, 6),
            (16, &[0x86, 0xdd], ArpField::ProtocolType, 0x0800, 0x86dd),
            (18, &[8], ArpField::HardwareLength, 6, 8),
            (19, &[16], ArpField::ProtocolLength, 4, 16),
        ];
        for (at, bytes, field, expected, found) in cases {
            let mut bad = req.clone();
            bad[at..at + bytes.len()].copy_from_slice(bytes);
            let err = ArpFrame::parse(&bad).unwrap_err();
            assert_eq!(
                err,
                ParseError::Field {
                    field,
                    offset: at,
                    expected,
                    found
                }
            );
            assert!(err.to_string().contains(&format!("{expected:#x}")));
        }
    }

    #[test]
    fn classification() {
        let base = ArpFrame::parse(&hex(REQUEST)).unwrap();
        let ip = Ipv4Addr::new(10, 1, 0, 9);
        let probe = ArpFrame {
            sender_ip: Ipv4Addr::UNSPECIFIED,
            ..base
        };
        assert_eq!(probe.kind(), ArpKind::Probe);
        let g = ArpFrame::gratuitous(GratuitousForm::Request, base.sender_mac, ip, None);
        assert_eq!(g.kind(), ArpKind::GratuitousRequest);
        let g = ArpFrame::gratuitous(GratuitousForm::Reply, base.sender_mac, ip, None);
        assert_eq!(g.kind(), ArpKind::GratuitousReply);
        assert_eq!(base.reply(MacAddr([2; 6])).kind(), ArpKind::Reply);
        let odd = ArpFrame {
            operation: Operation::Unknown(3),
            ..base
        };
        assert_eq!(odd.kind(), ArpKind::UnknownOperation(3));
        assert_eq!(Operation::from_code(3).code(), 3);
    }

    #[test]
    fn reply_bytes_are_exact() {
        let mac = MacAddr([0x02, 0xee, 0, 0, 0, 0x42]);
        let mut buf = [0xaau8; 64];
        let n = write_reply(&hex(REQUEST), mac, &mut buf).unwrap();
        assert_eq!(n, 60);
        let expected = hex(concat!(
            "020000000001", // to the requester
            "02ee00000042", // from the answered MAC
            "0806",
            "0001080006040002",
            "02ee000000420a010002", // sender: (mac, requested ip)
            "0200000000010a010001", // target: requester
        ));
        assert_eq!(&buf[..42], &expected[..]);
        assert!(buf[42..60].iter().all(|&b| b == 0), "zero padding");
        assert!(
            buf[60..].iter().all(|&b| b == 0xaa),
            "nothing written past the frame"
        );
    }

    #[test]
    fn tagged_reply_echoes_tag_and_is_64_bytes() {
        let mac = MacAddr([0x02, 0xee, 0, 0, 0, 0x42]);
        let mut buf = [0u8; 64];
        let n = write_reply(&tagged(&hex(REQUEST), 0x3064), mac, &mut buf).unwrap();
        assert_eq!(n, 64);
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0x30, 0x64, 0x08, 0x06]);
        let back = ArpFrame::parse(&buf).unwrap();
        assert_eq!(back.vlan, Some(VlanTag::from_tci(0x3064)));
    }

    #[test]
    fn small_buffer_is_a_typed_error_and_untouched() {
        let mut buf = [0x55u8; 59];
        assert_eq!(
            write_reply(&hex(REQUEST), MacAddr([2; 6]), &mut buf),
            Err(ReplyError::Buffer(BufferTooSmall {
                needed: 60,
                available: 59
            }))
        );
        assert!(buf.iter().all(|&b| b == 0x55));
        assert!(matches!(
            write_reply(&[0u8; 3], MacAddr([2; 6]), &mut [0u8; 64]),
            Err(ReplyError::Parse(ParseError::Truncated { .. }))
        ));
    }

    #[test]
    fn gratuitous_forms() {
        let mac = MacAddr([0x02, 0, 0, 0, 0, 7]);
        let ip = Ipv4Addr::new(203, 0, 113, 7);
        let req = ArpFrame::gratuitous(GratuitousForm::Request, mac, ip, None);
        assert_eq!(
            (req.eth_dst, req.eth_src, req.operation),
            (MacAddr::BROADCAST, mac, Operation::Request)
        );
        assert_eq!(
            (req.sender_mac, req.sender_ip, req.target_mac, req.target_ip),
            (mac, ip, MacAddr::ZERO, ip)
        );
        let rep = ArpFrame::gratuitous(GratuitousForm::Reply, mac, ip, None);
        assert_eq!(rep.operation, Operation::Reply);
        assert_eq!((rep.target_mac, rep.target_ip), (mac, ip));
        let mut buf = [0u8; 64];
        let n = rep.write(&mut buf).unwrap();
        assert_eq!(ArpFrame::parse(&buf[..n]), Ok(rep));
    }

    #[test]
    fn write_parse_round_trip_keeps_unknown_operation() {
        let f = ArpFrame {
            operation: Operation::Unknown(0xbeef),
            ..ArpFrame::parse(&hex(REQUEST)).unwrap()
        };
        let bytes = f.to_bytes();
        assert_eq!(ArpFrame::parse(&bytes[..60]), Ok(f));
    }
}
