//! Serde representations for the `openflow-proto` value types the model uses (that crate has
//! no serde support): MAC addresses as `"aa:bb:cc:dd:ee:ff"` strings, ports as numbers.

pub(crate) mod mac {
    use openflow_proto::MacAddr;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(m: &MacAddr, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(m)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<MacAddr, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) mod port {
    use openflow_proto::PortNo;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(p: &PortNo, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(p.0)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PortNo, D::Error> {
        u16::deserialize(d).map(PortNo)
    }
}
