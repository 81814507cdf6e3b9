//! Link-layer values: MAC addresses and 802.1Q tags.

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE 802 MAC address, as carried in Ethernet headers and in ARP
/// sender/target hardware address fields.
///
/// Displayed and parsed in the usual lower-case colon form
/// (`02:00:00:00:00:01`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// The all-zero address `00:00:00:00:00:00` (an "unknown" target in ARP requests).
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Builds an address from its six octets.
    pub const fn new(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }

    /// The six octets, in wire order.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// True for the broadcast address.
    pub const fn is_broadcast(self) -> bool {
        let o = self.0;
        o[0] == 0xff && o[1] == 0xff && o[2] == 0xff && o[3] == 0xff && o[4] == 0xff && o[5] == 0xff
    }

    /// True for group addresses (the I/G bit, least significant bit of the
    /// first octet, is set): multicast and broadcast.
    pub const fn is_group(self) -> bool {
        self.0[0] & 0x01 == 0x01
    }

    /// True for the all-zero address.
    pub const fn is_zero(self) -> bool {
        let o = self.0;
        o[0] == 0 && o[1] == 0 && o[2] == 0 && o[3] == 0 && o[4] == 0 && o[5] == 0
    }

    /// True for an address a single station may use as its own: neither a
    /// group address nor all-zero.
    pub const fn is_unicast(self) -> bool {
        !self.is_group() && !self.is_zero()
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

impl From<MacAddr> for [u8; 6] {
    fn from(mac: MacAddr) -> Self {
        mac.0
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacAddr({self})")
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {input:?}: expected six hexadecimal octets separated by ':' or '-'")]
pub struct MacParseError {
    /// The text that was rejected (truncated to 32 characters).
    pub input: String,
}

impl FromStr for MacAddr {
    type Err = MacParseError;

    /// Parses `aa:bb:cc:dd:ee:ff` or `aa-bb-cc-dd-ee-ff` (either case; each
    /// octet exactly two hexadecimal digits).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || MacParseError {
            input: s.chars().take(32).collect(),
        };
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for slot in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

/// One IEEE 802.1Q tag: the 16-bit tag control information (priority code
/// point, drop eligible indicator, VLAN identifier), with TPID `0x8100`.
///
/// The tag is kept exactly as it was on the wire, so a reply can echo it
/// bit for bit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanTag {
    tci: u16,
}

/// Why a VLAN tag could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VlanTagError {
    /// The VLAN identifier does not fit in 12 bits.
    #[error("VLAN identifier {found} out of range: expected 0..=4095")]
    Vid {
        /// The rejected value.
        found: u16,
    },
    /// The priority code point does not fit in 3 bits.
    #[error("VLAN priority code point {found} out of range: expected 0..=7")]
    Pcp {
        /// The rejected value.
        found: u8,
    },
}

impl VlanTag {
    /// The tag protocol identifier of a customer VLAN tag (802.1Q).
    pub const TPID: u16 = 0x8100;

    /// Builds a tag from a VLAN identifier (0..=4095), a priority code point
    /// (0..=7) and the drop eligible indicator.
    pub const fn new(vid: u16, pcp: u8, dei: bool) -> Result<Self, VlanTagError> {
        if vid > 0x0fff {
            return Err(VlanTagError::Vid { found: vid });
        }
        if pcp > 7 {
            return Err(VlanTagError::Pcp { found: pcp });
        }
        Ok(VlanTag {
            tci: ((pcp as u16) << 13) | ((dei as u16) << 12) | vid,
        })
    }

    /// Builds a tag from its raw tag control information (every value is valid).
    pub const fn from_tci(tci: u16) -> Self {
        VlanTag { tci }
    }

    /// The raw tag control information, as on the wire.
    pub const fn tci(self) -> u16 {
        self.tci
    }

    /// The 12-bit VLAN identifier.
    pub const fn vid(self) -> u16 {
        self.tci & 0x0fff
    }

    /// The 3-bit priority code point.
    pub const fn pcp(self) -> u8 {
        (self.tci >> 13) as u8
    }

    /// The drop eligible indicator (formerly CFI).
    pub const fn dei(self) -> bool {
        self.tci & 0x1000 != 0
    }
}

impl fmt::Debug for VlanTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VlanTag")
            .field("vid", &self.vid())
            .field("pcp", &self.pcp())
            .field("dei", &self.dei())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_display_and_parse_round_trip() {
        let mac = MacAddr([0x02, 0, 0, 0xab, 0xcd, 0x01]);
        assert_eq!(mac.to_string(), "02:00:00:ab:cd:01");
        assert_eq!("02:00:00:AB:cd:01".parse::<MacAddr>(), Ok(mac));
        assert_eq!("02-00-00-ab-cd-01".parse::<MacAddr>(), Ok(mac));
    }

    #[test]
    fn mac_parse_rejects_bad_shapes() {
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "2:00:00:00:00:00",
            "02:00:00:00:00:0g",
            "+2:00:00:00:00:00",
            "020:0:00:00:00:00",
        ] {
            let err = bad.parse::<MacAddr>().unwrap_err();
            assert_eq!(err.input, bad);
        }
    }

    #[test]
    fn mac_classes() {
        assert!(MacAddr::BROADCAST.is_broadcast());
        assert!(MacAddr::BROADCAST.is_group());
        assert!(MacAddr([0x01, 0, 0x5e, 0, 0, 1]).is_group());
        assert!(!MacAddr([0x01, 0, 0x5e, 0, 0, 1]).is_broadcast());
        assert!(MacAddr::ZERO.is_zero());
        assert!(!MacAddr::ZERO.is_unicast());
        assert!(MacAddr([0x02, 0, 0, 0, 0, 1]).is_unicast());
    }

    #[test]
    fn vlan_fields() {
        let tag = VlanTag::new(100, 5, true).unwrap();
        assert_eq!(tag.tci(), (5 << 13) | (1 << 12) | 100);
        assert_eq!((tag.vid(), tag.pcp(), tag.dei()), (100, 5, true));
        assert_eq!(VlanTag::from_tci(tag.tci()), tag);
        assert_eq!(
            VlanTag::new(4096, 0, false),
            Err(VlanTagError::Vid { found: 4096 })
        );
        assert_eq!(
            VlanTag::new(1, 8, false),
            Err(VlanTagError::Pcp { found: 8 })
        );
        let all = VlanTag::from_tci(0xffff);
        assert_eq!((all.vid(), all.pcp(), all.dei()), (4095, 7, true));
    }
}
