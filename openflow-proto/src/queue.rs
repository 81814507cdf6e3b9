//! `OFPT_QUEUE_GET_CONFIG_REQUEST` / `REPLY`: the queues of a port and their properties.

use crate::codec::Reader;
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Expected};
use crate::port::PortNo;
use bytes::{BufMut, Bytes};

/// A queue property (`ofp_queue_prop_header` and what follows), unknown ones kept raw.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum QueueProperty {
    /// `OFPQT_MIN_RATE` (1): minimum rate in tenths of a percent (above 1000: disabled).
    MinRate(u16),
    /// Any other property (`OFPQT_NONE` included), kept as its type and the bytes after
    /// the 8-byte property header.
    Unknown {
        /// The property type.
        property: u16,
        /// The bytes after the property header.
        data: Bytes,
    },
}

/// `OFPQT_MIN_RATE`.
const OFPQT_MIN_RATE: u16 = 1;

const _: () = assert!(QueueProperty::MIN_RATE_LEN == 16 && QueueProperty::HEADER_LEN == 8);

impl QueueProperty {
    /// Size of `ofp_queue_prop_header`.
    pub const HEADER_LEN: usize = 8;
    /// Size of `ofp_queue_prop_min_rate`.
    pub const MIN_RATE_LEN: usize = 16;

    /// The property's length on the wire.
    pub fn wire_len(&self) -> usize {
        match self {
            QueueProperty::MinRate(_) => Self::MIN_RATE_LEN,
            QueueProperty::Unknown { data, .. } => Self::HEADER_LEN.saturating_add(data.len()),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let property = r.peek_u16(0, "queue_prop.property")?;
        let len = usize::from(r.peek_u16(2, "queue_prop.len")?);
        let bad = |expected| {
            r.error_at(
                "queue_prop.len",
                start,
                DecodeErrorKind::BadLength {
                    expected,
                    found: len,
                },
            )
        };
        if len < Self::HEADER_LEN {
            return Err(bad(Expected::AtLeast(Self::HEADER_LEN)));
        }
        if len > r.remaining() {
            return Err(bad(Expected::AtMost(r.remaining())));
        }
        if property == OFPQT_MIN_RATE && len != Self::MIN_RATE_LEN {
            return Err(bad(Expected::Exactly(Self::MIN_RATE_LEN)));
        }
        let mut p = r.sub(len, "queue_prop")?;
        p.skip(Self::HEADER_LEN, "queue_prop.header")?;
        if property == OFPQT_MIN_RATE {
            let rate = p.u16("queue_prop.min_rate.rate")?;
            p.skip(6, "queue_prop.min_rate.pad")?;
            Ok(QueueProperty::MinRate(rate))
        } else {
            Ok(QueueProperty::Unknown {
                property,
                data: p.rest("queue_prop.data")?,
            })
        }
    }

    fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        let len = self.wire_len();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            what: "queue property",
            len,
            max: usize::from(u16::MAX),
        })?;
        match self {
            QueueProperty::MinRate(rate) => {
                dst.put_u16(OFPQT_MIN_RATE);
                dst.put_u16(len16);
                dst.put_u32(0);
                dst.put_u16(*rate);
                dst.put_bytes(0, 6);
            }
            QueueProperty::Unknown { property, data } => {
                dst.put_u16(*property);
                dst.put_u16(len16);
                dst.put_u32(0);
                dst.put_slice(data);
            }
        }
        Ok(())
    }
}

/// One queue of a port (`ofp_packet_queue`, 8 bytes plus properties).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PacketQueue {
    /// The queue id.
    pub queue_id: u32,
    /// Its properties.
    pub properties: Vec<QueueProperty>,
}

const _: () = assert!(PacketQueue::FIXED_LEN == 8);

impl PacketQueue {
    /// Size before the properties.
    pub const FIXED_LEN: usize = 8;

    /// The queue's length on the wire.
    pub fn wire_len(&self) -> usize {
        self.properties
            .iter()
            .fold(Self::FIXED_LEN, |a, p| a.saturating_add(p.wire_len()))
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let mut probe = r.clone();
        let queue_id = probe.u32("packet_queue.queue_id")?;
        let len = usize::from(probe.u16("packet_queue.len")?);
        if len < Self::FIXED_LEN || len > r.remaining() {
            return Err(r.error_at(
                "packet_queue.len",
                start,
                DecodeErrorKind::BadLength {
                    expected: if len < Self::FIXED_LEN {
                        Expected::AtLeast(Self::FIXED_LEN)
                    } else {
                        Expected::AtMost(r.remaining())
                    },
                    found: len,
                },
            ));
        }
        let mut q = r.sub(len, "packet_queue")?;
        q.skip(Self::FIXED_LEN, "packet_queue.header")?;
        let mut properties = Vec::new();
        // Each property consumes at least 8 bytes or fails: the loop terminates.
        while !q.is_empty() {
            properties.push(QueueProperty::read(&mut q)?);
        }
        Ok(PacketQueue {
            queue_id,
            properties,
        })
    }

    fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        let len = self.wire_len();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            what: "packet queue",
            len,
            max: usize::from(u16::MAX),
        })?;
        dst.put_u32(self.queue_id);
        dst.put_u16(len16);
        dst.put_u16(0);
        for p in &self.properties {
            p.write(dst)?;
        }
        Ok(())
    }
}

/// An `OFPT_QUEUE_GET_CONFIG_REQUEST` body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueGetConfigRequest {
    /// The port to query.
    pub port: PortNo,
}

const _: () = assert!(QueueGetConfigRequest::WIRE_LEN == 12);

impl QueueGetConfigRequest {
    /// Size on the wire, header included.
    pub const WIRE_LEN: usize = 12;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port = PortNo(r.u16("queue_get_config_request.port")?);
        r.skip(2, "queue_get_config_request.pad")?;
        Ok(QueueGetConfigRequest { port })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.port.0);
        dst.put_u16(0);
    }
}

/// An `OFPT_QUEUE_GET_CONFIG_REPLY` body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueGetConfigReply {
    /// The port queried.
    pub port: PortNo,
    /// Its queues.
    pub queues: Vec<PacketQueue>,
}

const _: () = assert!(QueueGetConfigReply::FIXED_LEN == 16);

impl QueueGetConfigReply {
    /// Size before the queues, header included.
    pub const FIXED_LEN: usize = 16;

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port = PortNo(r.u16("queue_get_config_reply.port")?);
        r.skip(6, "queue_get_config_reply.pad")?;
        let mut queues = Vec::new();
        // Each queue consumes at least 8 bytes or fails: the loop terminates.
        while !r.is_empty() {
            queues.push(PacketQueue::read(r)?);
        }
        Ok(QueueGetConfigReply { port, queues })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        dst.put_u16(self.port.0);
        dst.put_bytes(0, 6);
        for q in &self.queues {
            q.write(dst)?;
        }
        Ok(())
    }
}
