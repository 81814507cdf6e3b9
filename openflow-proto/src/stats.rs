//! `OFPT_STATS_REQUEST` and `OFPT_STATS_REPLY`: desc, flow, aggregate, table, port, queue
//! and vendor statistics; unknown statistics types kept raw.
//!
//! Replies with many entries travel as several messages with the same xid, the
//! [`StatsReplyFlags::MORE`] flag set on all but the last. [`StatsReply::split`] cuts a
//! reply into such parts (at entry boundaries, each message at most 65535 bytes) and
//! [`StatsReassembler`] puts received parts back together.

use crate::actions::Actions;
use crate::codec::{fixed_str, put_fixed_str, Fixed, Reader};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, Expected};
use crate::flow_match::Match;
use crate::header::Header;
use crate::port::PortNo;
use bytes::{BufMut, Bytes};
use std::collections::HashMap;

/// A statistics type (`ofp_stats_types`), with unknown values kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatsType {
    /// `OFPST_DESC` (0).
    Desc,
    /// `OFPST_FLOW` (1).
    Flow,
    /// `OFPST_AGGREGATE` (2).
    Aggregate,
    /// `OFPST_TABLE` (3).
    Table,
    /// `OFPST_PORT` (4).
    Port,
    /// `OFPST_QUEUE` (5).
    Queue,
    /// `OFPST_VENDOR` (0xffff).
    Vendor,
    /// Any other value.
    Unknown(u16),
}

impl StatsType {
    /// From the wire value.
    pub const fn from_u16(v: u16) -> Self {
        match v {
            0 => StatsType::Desc,
            1 => StatsType::Flow,
            2 => StatsType::Aggregate,
            3 => StatsType::Table,
            4 => StatsType::Port,
            5 => StatsType::Queue,
            0xffff => StatsType::Vendor,
            v => StatsType::Unknown(v),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            StatsType::Desc => 0,
            StatsType::Flow => 1,
            StatsType::Aggregate => 2,
            StatsType::Table => 3,
            StatsType::Port => 4,
            StatsType::Queue => 5,
            StatsType::Vendor => 0xffff,
            StatsType::Unknown(v) => v,
        }
    }
}

bitflags::bitflags! {
    /// Stats request flags (none defined in OpenFlow 1.0). Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct StatsRequestFlags: u16 {
        // Keep bits outside the specification.
        const _ = !0;
    }
}

bitflags::bitflags! {
    /// Stats reply flags. Unknown bits are kept.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct StatsReplyFlags: u16 {
        /// `OFPSF_REPLY_MORE`: more parts follow with the same xid.
        const MORE = 1 << 0;
        // Keep bits outside the specification.
        const _ = !0;
    }
}

/// The body of a flow or aggregate stats request (`ofp_flow_stats_request`, 44 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowStatsRequest {
    /// Flows to report.
    pub r#match: Match,
    /// Table to read ([`FlowStatsRequest::ALL_TABLES`] for all, 0xfe for emergency).
    pub table_id: u8,
    /// Require an output action to this port ([`PortNo::NONE`]: no filter).
    pub out_port: PortNo,
}

impl FlowStatsRequest {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 44;
    /// `table_id` for all tables.
    pub const ALL_TABLES: u8 = 0xff;
    /// `table_id` of the emergency table.
    pub const EMERGENCY_TABLE: u8 = 0xfe;

    /// Every flow of every table.
    pub const fn all() -> Self {
        FlowStatsRequest {
            r#match: Match::any(),
            table_id: Self::ALL_TABLES,
            out_port: PortNo::NONE,
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let r#match = Match::read(r)?;
        let table_id = r.u8("flow_stats_request.table_id")?;
        r.skip(1, "flow_stats_request.pad")?;
        Ok(FlowStatsRequest {
            r#match,
            table_id,
            out_port: PortNo(r.u16("flow_stats_request.out_port")?),
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        self.r#match.encode(dst);
        dst.put_u8(self.table_id);
        dst.put_u8(0);
        dst.put_u16(self.out_port.0);
    }
}

/// The body of a port stats request (`ofp_port_stats_request`, 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortStatsRequest {
    /// The port, or [`PortNo::NONE`] for all ports.
    pub port_no: PortNo,
}

impl PortStatsRequest {
    /// Every port (`port_no` [`PortNo::NONE`]).
    pub const fn all() -> Self {
        PortStatsRequest {
            port_no: PortNo::NONE,
        }
    }
}

/// The body of a queue stats request (`ofp_queue_stats_request`, 8 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueueStatsRequest {
    /// The port, or [`PortNo::ALL`] for all ports (not `NONE`, unlike port stats).
    pub port_no: PortNo,
    /// The queue, or [`QueueStatsRequest::ALL_QUEUES`].
    pub queue_id: u32,
}

impl QueueStatsRequest {
    /// `OFPQ_ALL`: all queues.
    pub const ALL_QUEUES: u32 = 0xffff_ffff;

    /// Every queue of every port (`port_no` [`PortNo::ALL`], `queue_id` `OFPQ_ALL`).
    pub const fn all() -> Self {
        QueueStatsRequest {
            port_no: PortNo::ALL,
            queue_id: Self::ALL_QUEUES,
        }
    }
}

/// What a stats request asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StatsRequestBody {
    /// `OFPST_DESC` (empty body).
    Desc,
    /// `OFPST_FLOW`.
    Flow(FlowStatsRequest),
    /// `OFPST_AGGREGATE`.
    Aggregate(FlowStatsRequest),
    /// `OFPST_TABLE` (empty body).
    Table,
    /// `OFPST_PORT`.
    Port(PortStatsRequest),
    /// `OFPST_QUEUE`.
    Queue(QueueStatsRequest),
    /// `OFPST_VENDOR`: a vendor id and opaque bytes.
    Vendor {
        /// The vendor id.
        vendor: u32,
        /// The vendor-defined bytes.
        data: Bytes,
    },
    /// An unknown stats type, kept raw.
    Unknown {
        /// The stats type.
        stats_type: u16,
        /// The body.
        body: Bytes,
    },
}

/// An `OFPT_STATS_REQUEST` body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StatsRequest {
    /// Flags (none defined).
    pub flags: StatsRequestFlags,
    /// What is asked for.
    pub body: StatsRequestBody,
}

impl StatsRequest {
    /// Size of `ofp_stats_request` before the body, header included.
    pub const FIXED_LEN: usize = 12;

    /// A request with no flags.
    pub const fn new(body: StatsRequestBody) -> Self {
        StatsRequest {
            flags: StatsRequestFlags::empty(),
            body,
        }
    }

    /// The stats type.
    pub fn stats_type(&self) -> StatsType {
        match &self.body {
            StatsRequestBody::Desc => StatsType::Desc,
            StatsRequestBody::Flow(_) => StatsType::Flow,
            StatsRequestBody::Aggregate(_) => StatsType::Aggregate,
            StatsRequestBody::Table => StatsType::Table,
            StatsRequestBody::Port(_) => StatsType::Port,
            StatsRequestBody::Queue(_) => StatsType::Queue,
            StatsRequestBody::Vendor { .. } => StatsType::Vendor,
            StatsRequestBody::Unknown { stats_type, .. } => StatsType::from_u16(*stats_type),
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw_type = r.u16("stats_request.type")?;
        let flags = StatsRequestFlags::from_bits_retain(r.u16("stats_request.flags")?);
        let exact = |r: &Reader<'_>, n: usize| -> Result<(), DecodeError> {
            if r.remaining() == n {
                Ok(())
            } else {
                Err(r.error(
                    "stats_request.body",
                    DecodeErrorKind::BadLength {
                        expected: Expected::Exactly(n),
                        found: r.remaining(),
                    },
                ))
            }
        };
        let body = match StatsType::from_u16(raw_type) {
            StatsType::Desc => {
                exact(r, 0)?;
                StatsRequestBody::Desc
            }
            StatsType::Table => {
                exact(r, 0)?;
                StatsRequestBody::Table
            }
            StatsType::Flow => {
                exact(r, FlowStatsRequest::WIRE_LEN)?;
                StatsRequestBody::Flow(FlowStatsRequest::read(r)?)
            }
            StatsType::Aggregate => {
                exact(r, FlowStatsRequest::WIRE_LEN)?;
                StatsRequestBody::Aggregate(FlowStatsRequest::read(r)?)
            }
            StatsType::Port => {
                exact(r, 8)?;
                let port_no = PortNo(r.u16("port_stats_request.port_no")?);
                r.skip(6, "port_stats_request.pad")?;
                StatsRequestBody::Port(PortStatsRequest { port_no })
            }
            StatsType::Queue => {
                exact(r, 8)?;
                let port_no = PortNo(r.u16("queue_stats_request.port_no")?);
                r.skip(2, "queue_stats_request.pad")?;
                StatsRequestBody::Queue(QueueStatsRequest {
                    port_no,
                    queue_id: r.u32("queue_stats_request.queue_id")?,
                })
            }
            StatsType::Vendor => StatsRequestBody::Vendor {
                vendor: r.u32("stats_request.vendor")?,
                data: r.rest("stats_request.vendor_data")?,
            },
            StatsType::Unknown(stats_type) => StatsRequestBody::Unknown {
                stats_type,
                body: r.rest("stats_request.body")?,
            },
        };
        Ok(StatsRequest { flags, body })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.stats_type().to_u16());
        dst.put_u16(self.flags.bits());
        match &self.body {
            StatsRequestBody::Desc | StatsRequestBody::Table => {}
            StatsRequestBody::Flow(f) | StatsRequestBody::Aggregate(f) => f.write(dst),
            StatsRequestBody::Port(p) => {
                dst.put_u16(p.port_no.0);
                dst.put_bytes(0, 6);
            }
            StatsRequestBody::Queue(q) => {
                dst.put_u16(q.port_no.0);
                dst.put_u16(0);
                dst.put_u32(q.queue_id);
            }
            StatsRequestBody::Vendor { vendor, data } => {
                dst.put_u32(*vendor);
                dst.put_slice(data);
            }
            StatsRequestBody::Unknown { body, .. } => dst.put_slice(body),
        }
    }
}

/// The switch description (`ofp_desc_stats`, 1056 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct DescStats {
    /// Manufacturer (up to 256 bytes).
    pub mfr_desc: String,
    /// Hardware description (up to 256 bytes).
    pub hw_desc: String,
    /// Software description (up to 256 bytes).
    pub sw_desc: String,
    /// Serial number (up to 32 bytes).
    pub serial_num: String,
    /// Datapath description (up to 256 bytes).
    pub dp_desc: String,
}

const _: () = assert!(DescStats::WIRE_LEN == 1056);

impl DescStats {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 256 * 4 + 32;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(DescStats {
            mfr_desc: fixed_str(r.take(256, "desc_stats.mfr_desc")?),
            hw_desc: fixed_str(r.take(256, "desc_stats.hw_desc")?),
            sw_desc: fixed_str(r.take(256, "desc_stats.sw_desc")?),
            serial_num: fixed_str(r.take(32, "desc_stats.serial_num")?),
            dp_desc: fixed_str(r.take(256, "desc_stats.dp_desc")?),
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        put_fixed_str::<256>(dst, &self.mfr_desc);
        put_fixed_str::<256>(dst, &self.hw_desc);
        put_fixed_str::<256>(dst, &self.sw_desc);
        put_fixed_str::<32>(dst, &self.serial_num);
        put_fixed_str::<256>(dst, &self.dp_desc);
    }
}

/// One flow of a flow stats reply (`ofp_flow_stats`, 88 bytes plus actions).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowStats {
    /// The flow's table.
    pub table_id: u8,
    /// The flow's match.
    pub r#match: Match,
    /// Time alive, seconds part.
    pub duration_sec: u32,
    /// Time alive beyond `duration_sec`, nanoseconds.
    pub duration_nsec: u32,
    /// Priority (65535 for an exact-match flow, as Open vSwitch reports it).
    pub priority: u16,
    /// Idle timeout.
    pub idle_timeout: u16,
    /// Hard timeout.
    pub hard_timeout: u16,
    /// Cookie.
    pub cookie: u64,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// The flow's actions (decoded: the bytes of the entry, checked; see [`Actions`]).
    pub actions: Actions,
}

const _: () = assert!(FlowStats::FIXED_LEN == 88);

impl FlowStats {
    /// Size before the actions.
    pub const FIXED_LEN: usize = 88;

    /// The entry's length on the wire.
    pub fn wire_len(&self) -> usize {
        Self::FIXED_LEN.saturating_add(self.actions.wire_len())
    }

    #[inline]
    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let start = r.offset();
        let len = usize::from(r.peek_u16(0, "flow_stats.length")?);
        if len < Self::FIXED_LEN || len > r.remaining() {
            return Err(r.error_at(
                "flow_stats.length",
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
        let mut e = r.sub(len, "flow_stats")?;
        // `len` >= 88: the fixed part is present, read in three blocks.
        let head = e.fixed::<4>("flow_stats.length")?;
        let table_id = head.u8::<2>();
        let r#match = Match::read(&mut e)?;
        let f = e.fixed::<44>("flow_stats.duration_sec")?;
        let duration_sec = f.u32::<0>();
        let duration_nsec = f.u32::<4>();
        let priority = f.u16::<8>();
        let idle_timeout = f.u16::<10>();
        let hard_timeout = f.u16::<12>();
        let cookie = f.u64::<20>();
        let packet_count = f.u64::<28>();
        let byte_count = f.u64::<36>();
        let actions = Actions::read(&mut e, "flow_stats.actions")?;
        Ok(FlowStats {
            table_id,
            r#match,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            cookie,
            packet_count,
            byte_count,
            actions,
        })
    }

    fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        self.actions.check_encodable()?;
        let len = self.wire_len();
        let len16 = u16::try_from(len).map_err(|_| EncodeError::TooLong {
            what: "flow stats entry",
            len,
            max: usize::from(u16::MAX),
        })?;
        let mut head = Fixed::<4>::zeroed();
        head.set_u16::<0>(len16);
        head.set_u8::<2>(self.table_id);
        dst.put_slice(&head.0);
        self.r#match.encode(dst);
        let mut f = Fixed::<44>::zeroed();
        f.set_u32::<0>(self.duration_sec);
        f.set_u32::<4>(self.duration_nsec);
        f.set_u16::<8>(self.priority);
        f.set_u16::<10>(self.idle_timeout);
        f.set_u16::<12>(self.hard_timeout);
        f.set_u64::<20>(self.cookie);
        f.set_u64::<28>(self.packet_count);
        f.set_u64::<36>(self.byte_count);
        dst.put_slice(&f.0);
        // The entry's length (so the list's) is checked above: one pass over the actions.
        self.actions.put(dst)
    }
}

/// An aggregate stats reply (`ofp_aggregate_stats_reply`, 24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AggregateStats {
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    /// Number of flows.
    pub flow_count: u32,
}

const _: () = assert!(AggregateStats::WIRE_LEN == 24);

impl AggregateStats {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 24;
}

/// One table of a table stats reply (`ofp_table_stats`, 64 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct TableStats {
    /// The table id.
    pub table_id: u8,
    /// The table's name (up to 32 bytes).
    pub name: String,
    /// Wildcards the table supports (`ofp_flow_wildcards` bits).
    pub wildcards: u32,
    /// Maximum number of entries.
    pub max_entries: u32,
    /// Active entries.
    pub active_count: u32,
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that hit.
    pub matched_count: u64,
}

const _: () = assert!(TableStats::WIRE_LEN == 64);

impl TableStats {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 64;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = r.u8("table_stats.table_id")?;
        r.skip(3, "table_stats.pad")?;
        Ok(TableStats {
            table_id,
            name: fixed_str(r.take(32, "table_stats.name")?),
            wildcards: r.u32("table_stats.wildcards")?,
            max_entries: r.u32("table_stats.max_entries")?,
            active_count: r.u32("table_stats.active_count")?,
            lookup_count: r.u64("table_stats.lookup_count")?,
            matched_count: r.u64("table_stats.matched_count")?,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u8(self.table_id);
        dst.put_bytes(0, 3);
        put_fixed_str::<32>(dst, &self.name);
        dst.put_u32(self.wildcards);
        dst.put_u32(self.max_entries);
        dst.put_u32(self.active_count);
        dst.put_u64(self.lookup_count);
        dst.put_u64(self.matched_count);
    }
}

/// One port of a port stats reply (`ofp_port_stats`, 104 bytes). Counters a switch does
/// not keep are all ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct PortStats {
    /// The port.
    pub port_no: PortNo,
    /// Received packets.
    pub rx_packets: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Packets dropped by RX.
    pub rx_dropped: u64,
    /// Packets dropped by TX.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Frame alignment errors.
    pub rx_frame_err: u64,
    /// Packets with RX overrun.
    pub rx_over_err: u64,
    /// CRC errors.
    pub rx_crc_err: u64,
    /// Collisions.
    pub collisions: u64,
}

const _: () = assert!(PortStats::WIRE_LEN == 104);

impl PortStats {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 104;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u16("port_stats.port_no")?);
        r.skip(6, "port_stats.pad")?;
        Ok(PortStats {
            port_no,
            rx_packets: r.u64("port_stats.rx_packets")?,
            tx_packets: r.u64("port_stats.tx_packets")?,
            rx_bytes: r.u64("port_stats.rx_bytes")?,
            tx_bytes: r.u64("port_stats.tx_bytes")?,
            rx_dropped: r.u64("port_stats.rx_dropped")?,
            tx_dropped: r.u64("port_stats.tx_dropped")?,
            rx_errors: r.u64("port_stats.rx_errors")?,
            tx_errors: r.u64("port_stats.tx_errors")?,
            rx_frame_err: r.u64("port_stats.rx_frame_err")?,
            rx_over_err: r.u64("port_stats.rx_over_err")?,
            rx_crc_err: r.u64("port_stats.rx_crc_err")?,
            collisions: r.u64("port_stats.collisions")?,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.port_no.0);
        dst.put_bytes(0, 6);
        for v in [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ] {
            dst.put_u64(v);
        }
    }
}

/// One queue of a queue stats reply (`ofp_queue_stats`, 32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct QueueStats {
    /// The port.
    pub port_no: PortNo,
    /// The queue.
    pub queue_id: u32,
    /// Transmitted bytes.
    pub tx_bytes: u64,
    /// Transmitted packets.
    pub tx_packets: u64,
    /// Packets dropped because of overrun.
    pub tx_errors: u64,
}

const _: () = assert!(QueueStats::WIRE_LEN == 32);

impl QueueStats {
    /// Size on the wire.
    pub const WIRE_LEN: usize = 32;

    fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let port_no = PortNo(r.u16("queue_stats.port_no")?);
        r.skip(2, "queue_stats.pad")?;
        Ok(QueueStats {
            port_no,
            queue_id: r.u32("queue_stats.queue_id")?,
            tx_bytes: r.u64("queue_stats.tx_bytes")?,
            tx_packets: r.u64("queue_stats.tx_packets")?,
            tx_errors: r.u64("queue_stats.tx_errors")?,
        })
    }

    fn write(&self, dst: &mut impl BufMut) {
        dst.put_u16(self.port_no.0);
        dst.put_u16(0);
        dst.put_u32(self.queue_id);
        dst.put_u64(self.tx_bytes);
        dst.put_u64(self.tx_packets);
        dst.put_u64(self.tx_errors);
    }
}

/// What a stats reply carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum StatsReplyBody {
    /// `OFPST_DESC`.
    Desc(DescStats),
    /// `OFPST_FLOW`: one entry per flow.
    Flow(Vec<FlowStats>),
    /// `OFPST_AGGREGATE`.
    Aggregate(AggregateStats),
    /// `OFPST_TABLE`: one entry per table.
    Table(Vec<TableStats>),
    /// `OFPST_PORT`: one entry per port.
    Port(Vec<PortStats>),
    /// `OFPST_QUEUE`: one entry per queue.
    Queue(Vec<QueueStats>),
    /// `OFPST_VENDOR`: a vendor id and opaque bytes.
    Vendor {
        /// The vendor id.
        vendor: u32,
        /// The vendor-defined bytes.
        data: Bytes,
    },
    /// An unknown stats type, kept raw.
    Unknown {
        /// The stats type.
        stats_type: u16,
        /// The body.
        body: Bytes,
    },
}

impl StatsReplyBody {
    /// The stats type.
    pub fn stats_type(&self) -> StatsType {
        match self {
            StatsReplyBody::Desc(_) => StatsType::Desc,
            StatsReplyBody::Flow(_) => StatsType::Flow,
            StatsReplyBody::Aggregate(_) => StatsType::Aggregate,
            StatsReplyBody::Table(_) => StatsType::Table,
            StatsReplyBody::Port(_) => StatsType::Port,
            StatsReplyBody::Queue(_) => StatsType::Queue,
            StatsReplyBody::Vendor { .. } => StatsType::Vendor,
            StatsReplyBody::Unknown { stats_type, .. } => StatsType::from_u16(*stats_type),
        }
    }

    /// The body's length on the wire (after the 12-byte stats header).
    pub fn wire_len(&self) -> usize {
        match self {
            StatsReplyBody::Desc(_) => DescStats::WIRE_LEN,
            StatsReplyBody::Flow(v) => v.iter().fold(0usize, |a, f| a.saturating_add(f.wire_len())),
            StatsReplyBody::Aggregate(_) => AggregateStats::WIRE_LEN,
            StatsReplyBody::Table(v) => v.len().saturating_mul(TableStats::WIRE_LEN),
            StatsReplyBody::Port(v) => v.len().saturating_mul(PortStats::WIRE_LEN),
            StatsReplyBody::Queue(v) => v.len().saturating_mul(QueueStats::WIRE_LEN),
            StatsReplyBody::Vendor { data, .. } => data.len().saturating_add(4),
            StatsReplyBody::Unknown { body, .. } => body.len(),
        }
    }
}

/// An `OFPT_STATS_REPLY` body (one part of a possibly multi-part reply).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StatsReply {
    /// Flags ([`StatsReplyFlags::MORE`] on all parts but the last).
    pub flags: StatsReplyFlags,
    /// The statistics.
    pub body: StatsReplyBody,
}

/// The largest message OpenFlow's 16-bit length allows.
pub const MAX_MESSAGE_LEN: usize = 0xffff;

impl StatsReply {
    /// Size of `ofp_stats_reply` before the body, header included.
    pub const FIXED_LEN: usize = 12;

    /// A (last or only) part with no flags.
    pub const fn new(body: StatsReplyBody) -> Self {
        StatsReply {
            flags: StatsReplyFlags::empty(),
            body,
        }
    }

    /// The stats type.
    pub fn stats_type(&self) -> StatsType {
        self.body.stats_type()
    }

    /// True if more parts follow.
    pub fn more(&self) -> bool {
        self.flags.contains(StatsReplyFlags::MORE)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let raw_type = r.u16("stats_reply.type")?;
        let flags = StatsReplyFlags::from_bits_retain(r.u16("stats_reply.flags")?);
        let multiple = |r: &Reader<'_>, n: usize| -> Result<usize, DecodeError> {
            if r.remaining().is_multiple_of(n) {
                Ok(r.remaining() / n)
            } else {
                Err(r.error(
                    "stats_reply.body",
                    DecodeErrorKind::BadLength {
                        expected: Expected::MultipleOf(n),
                        found: r.remaining(),
                    },
                ))
            }
        };
        let exact = |r: &Reader<'_>, n: usize| -> Result<(), DecodeError> {
            if r.remaining() == n {
                Ok(())
            } else {
                Err(r.error(
                    "stats_reply.body",
                    DecodeErrorKind::BadLength {
                        expected: Expected::Exactly(n),
                        found: r.remaining(),
                    },
                ))
            }
        };
        let body = match StatsType::from_u16(raw_type) {
            StatsType::Desc => {
                exact(r, DescStats::WIRE_LEN)?;
                StatsReplyBody::Desc(DescStats::read(r)?)
            }
            StatsType::Aggregate => {
                exact(r, AggregateStats::WIRE_LEN)?;
                let packet_count = r.u64("aggregate_stats.packet_count")?;
                let byte_count = r.u64("aggregate_stats.byte_count")?;
                let flow_count = r.u32("aggregate_stats.flow_count")?;
                r.skip(4, "aggregate_stats.pad")?;
                StatsReplyBody::Aggregate(AggregateStats {
                    packet_count,
                    byte_count,
                    flow_count,
                })
            }
            StatsType::Flow => {
                let mut v = Vec::with_capacity((r.remaining() / FlowStats::FIXED_LEN).min(1024));
                while !r.is_empty() {
                    v.push(FlowStats::read(r)?);
                }
                StatsReplyBody::Flow(v)
            }
            StatsType::Table => {
                let n = multiple(r, TableStats::WIRE_LEN)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(TableStats::read(r)?);
                }
                StatsReplyBody::Table(v)
            }
            StatsType::Port => {
                let n = multiple(r, PortStats::WIRE_LEN)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(PortStats::read(r)?);
                }
                StatsReplyBody::Port(v)
            }
            StatsType::Queue => {
                let n = multiple(r, QueueStats::WIRE_LEN)?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(QueueStats::read(r)?);
                }
                StatsReplyBody::Queue(v)
            }
            StatsType::Vendor => StatsReplyBody::Vendor {
                vendor: r.u32("stats_reply.vendor")?,
                data: r.rest("stats_reply.vendor_data")?,
            },
            StatsType::Unknown(stats_type) => StatsReplyBody::Unknown {
                stats_type,
                body: r.rest("stats_reply.body")?,
            },
        };
        Ok(StatsReply { flags, body })
    }

    pub(crate) fn write(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        dst.put_u16(self.stats_type().to_u16());
        dst.put_u16(self.flags.bits());
        match &self.body {
            StatsReplyBody::Desc(d) => d.write(dst),
            StatsReplyBody::Flow(v) => {
                for f in v {
                    f.write(dst)?;
                }
            }
            StatsReplyBody::Aggregate(a) => {
                dst.put_u64(a.packet_count);
                dst.put_u64(a.byte_count);
                dst.put_u32(a.flow_count);
                dst.put_u32(0);
            }
            StatsReplyBody::Table(v) => v.iter().for_each(|t| t.write(dst)),
            StatsReplyBody::Port(v) => v.iter().for_each(|p| p.write(dst)),
            StatsReplyBody::Queue(v) => v.iter().for_each(|q| q.write(dst)),
            StatsReplyBody::Vendor { vendor, data } => {
                dst.put_u32(*vendor);
                dst.put_slice(data);
            }
            StatsReplyBody::Unknown { body, .. } => dst.put_slice(body),
        }
        Ok(())
    }

    /// Split this reply into parts whose messages are each at most `max_message_len` bytes
    /// (header included; clamped to 65535), cutting only between entries. Every part but
    /// the last has [`StatsReplyFlags::MORE`] set; the last keeps this reply's other flags.
    ///
    /// Flow, table, port and queue replies split; the others are returned whole. An empty
    /// list gives one empty part. Fails if a single entry (or an unsplittable body) does
    /// not fit in one message.
    pub fn split(&self, max_message_len: usize) -> Result<Vec<StatsReply>, EncodeError> {
        let max_msg = max_message_len.min(MAX_MESSAGE_LEN);
        let max_body = max_msg.saturating_sub(Header::LEN + 4);
        let too_long = |len: usize| EncodeError::TooLong {
            what: "stats reply part",
            len: len.saturating_add(Self::FIXED_LEN),
            max: max_msg,
        };
        let last_flags = self.flags.difference(StatsReplyFlags::MORE);
        fn chunk<T: Clone>(
            items: &[T],
            size: impl Fn(&T) -> usize,
            max_body: usize,
            too_long: impl Fn(usize) -> EncodeError,
        ) -> Result<Vec<Vec<T>>, EncodeError> {
            let mut parts: Vec<Vec<T>> = Vec::new();
            let mut cur: Vec<T> = Vec::new();
            let mut cur_len = 0usize;
            for it in items {
                let n = size(it);
                if n > max_body {
                    return Err(too_long(n));
                }
                if cur_len + n > max_body && !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                    cur_len = 0;
                }
                cur.push(it.clone());
                cur_len += n;
            }
            parts.push(cur);
            Ok(parts)
        }
        let bodies: Vec<StatsReplyBody> = match &self.body {
            StatsReplyBody::Flow(v) => chunk(v, FlowStats::wire_len, max_body, too_long)?
                .into_iter()
                .map(StatsReplyBody::Flow)
                .collect(),
            StatsReplyBody::Table(v) => chunk(v, |_| TableStats::WIRE_LEN, max_body, too_long)?
                .into_iter()
                .map(StatsReplyBody::Table)
                .collect(),
            StatsReplyBody::Port(v) => chunk(v, |_| PortStats::WIRE_LEN, max_body, too_long)?
                .into_iter()
                .map(StatsReplyBody::Port)
                .collect(),
            StatsReplyBody::Queue(v) => chunk(v, |_| QueueStats::WIRE_LEN, max_body, too_long)?
                .into_iter()
                .map(StatsReplyBody::Queue)
                .collect(),
            other => {
                let len = other.wire_len();
                if len > max_body {
                    return Err(too_long(len));
                }
                vec![other.clone()]
            }
        };
        let n = bodies.len();
        Ok(bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| StatsReply {
                flags: if i + 1 < n {
                    last_flags | StatsReplyFlags::MORE
                } else {
                    last_flags
                },
                body,
            })
            .collect())
    }
}

/// A multi-part stats reply could not be put back together.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReassemblyError {
    /// A part's stats type differs from the first part's with the same xid.
    #[error("stats reply xid {xid:#x}: part of type {found:?} after parts of type {expected:?}")]
    TypeMismatch {
        /// The xid.
        xid: u32,
        /// The first part's type.
        expected: StatsType,
        /// This part's type.
        found: StatsType,
    },
    /// A reply type that cannot be split (desc, aggregate, vendor, unknown) came with MORE.
    #[error("stats reply xid {xid:#x}: type {stats_type:?} cannot be split into parts")]
    Unsplittable {
        /// The xid.
        xid: u32,
        /// The type.
        stats_type: StatsType,
    },
    /// The accumulated parts would exceed the reassembler's bound; the partial reply is
    /// dropped.
    #[error("stats reply xid {xid:#x}: reassembly would hold {size} bytes, limit {limit}")]
    TooLarge {
        /// The xid.
        xid: u32,
        /// The size it would have reached (wire bytes, all pending replies).
        size: usize,
        /// The limit.
        limit: usize,
    },
}

#[derive(Debug)]
struct Partial {
    body: StatsReplyBody,
    size: usize,
}

/// Puts multi-part stats replies back together, by xid.
///
/// Feed every received stats reply to [`StatsReassembler::push`]: parts with
/// [`StatsReplyFlags::MORE`] are held, and the last part yields the whole reply. The total
/// size held across all pending xids is bounded.
#[derive(Debug)]
pub struct StatsReassembler {
    pending: HashMap<u32, Partial>,
    held: usize,
    limit: usize,
}

impl Default for StatsReassembler {
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT)
    }
}

impl StatsReassembler {
    /// The default bound on held bytes (64 MiB).
    pub const DEFAULT_LIMIT: usize = 64 << 20;
    /// Bytes counted per part beside its entries (its stats header), so that a stream of
    /// empty parts, or of parts for ever new xids, also reaches the bound.
    pub const FIXED_LEN: usize = StatsReply::FIXED_LEN;

    /// A reassembler holding at most `limit` bytes at a time (wire size of the parts'
    /// bodies plus 12 bytes per part), across all pending xids.
    pub fn new(limit: usize) -> Self {
        StatsReassembler {
            pending: HashMap::new(),
            held: 0,
            limit,
        }
    }

    /// Bytes currently held.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    /// Number of replies in progress.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Forget a reply in progress (say, after its request timed out).
    pub fn discard(&mut self, xid: u32) {
        if let Some(p) = self.pending.remove(&xid) {
            self.held = self.held.saturating_sub(p.size);
        }
    }

    /// Add a part. Returns the whole reply when `part` is the last one (MORE clear),
    /// `None` while more parts are expected. On error the xid's partial reply is dropped.
    pub fn push(
        &mut self,
        xid: u32,
        part: StatsReply,
    ) -> Result<Option<StatsReply>, ReassemblyError> {
        let more = part.more();
        // Count the stats header too, so that empty parts also use up the bound.
        let size = part.body.wire_len().saturating_add(Self::FIXED_LEN);
        let stats_type = part.stats_type();
        let Some(mut partial) = self.pending.remove(&xid) else {
            if !more {
                return Ok(Some(part));
            }
            if !matches!(
                stats_type,
                StatsType::Flow | StatsType::Table | StatsType::Port | StatsType::Queue
            ) {
                return Err(ReassemblyError::Unsplittable { xid, stats_type });
            }
            let total = self.held.saturating_add(size);
            if total > self.limit {
                return Err(ReassemblyError::TooLarge {
                    xid,
                    size: total,
                    limit: self.limit,
                });
            }
            self.held = total;
            self.pending.insert(
                xid,
                Partial {
                    body: part.body,
                    size,
                },
            );
            return Ok(None);
        };
        self.held = self.held.saturating_sub(partial.size);
        let expected = partial.body.stats_type();
        if expected != stats_type {
            return Err(ReassemblyError::TypeMismatch {
                xid,
                expected,
                found: stats_type,
            });
        }
        let total = self.held.saturating_add(partial.size).saturating_add(size);
        if total > self.limit {
            return Err(ReassemblyError::TooLarge {
                xid,
                size: total,
                limit: self.limit,
            });
        }
        match (&mut partial.body, part.body) {
            (StatsReplyBody::Flow(a), StatsReplyBody::Flow(b)) => a.extend(b),
            (StatsReplyBody::Table(a), StatsReplyBody::Table(b)) => a.extend(b),
            (StatsReplyBody::Port(a), StatsReplyBody::Port(b)) => a.extend(b),
            (StatsReplyBody::Queue(a), StatsReplyBody::Queue(b)) => a.extend(b),
            _ => return Err(ReassemblyError::Unsplittable { xid, stats_type }),
        }
        partial.size = partial.size.saturating_add(size);
        if more {
            self.held = self.held.saturating_add(partial.size);
            self.pending.insert(xid, partial);
            Ok(None)
        } else {
            Ok(Some(StatsReply {
                flags: part.flags,
                body: partial.body,
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(n: usize) -> Vec<PortStats> {
        (0..n)
            .map(|i| PortStats {
                port_no: PortNo(i as u16 + 1),
                rx_packets: i as u64,
                ..PortStats::default()
            })
            .collect()
    }

    fn flows(n: usize) -> Vec<FlowStats> {
        (0..n)
            .map(|i| FlowStats {
                table_id: 0,
                r#match: Match::any(),
                duration_sec: 1,
                duration_nsec: 2,
                priority: i as u16,
                idle_timeout: 0,
                hard_timeout: 0,
                cookie: i as u64,
                packet_count: 0,
                byte_count: 0,
                // Entries of different sizes.
                actions: vec![crate::Action::StripVlan; i % 7].into(),
            })
            .collect()
    }

    #[test]
    fn split_cuts_at_entry_boundaries_within_limit() {
        for (body, n) in [
            (StatsReplyBody::Port(ports(1000)), 1000),
            (StatsReplyBody::Flow(flows(2000)), 2000),
            (
                StatsReplyBody::Queue(vec![QueueStats::default(); 5000]),
                5000,
            ),
        ] {
            let reply = StatsReply::new(body);
            let parts = reply.split(MAX_MESSAGE_LEN).unwrap();
            assert!(parts.len() > 1);
            let mut total = 0;
            for (i, p) in parts.iter().enumerate() {
                assert!(StatsReply::FIXED_LEN + p.body.wire_len() <= MAX_MESSAGE_LEN);
                assert_eq!(p.more(), i + 1 < parts.len());
                assert_eq!(p.stats_type(), reply.stats_type());
                total += match &p.body {
                    StatsReplyBody::Port(v) => v.len(),
                    StatsReplyBody::Flow(v) => v.len(),
                    StatsReplyBody::Queue(v) => v.len(),
                    _ => unreachable!(),
                };
            }
            assert_eq!(total, n);
            let mut re = StatsReassembler::default();
            let mut out = None;
            for p in parts {
                out = re.push(5, p).unwrap();
            }
            assert_eq!(out.unwrap(), reply);
        }
    }

    #[test]
    fn split_small_and_empty() {
        let r = StatsReply::new(StatsReplyBody::Table(vec![]));
        assert_eq!(r.split(MAX_MESSAGE_LEN).unwrap(), vec![r.clone()]);
        let r = StatsReply::new(StatsReplyBody::Port(ports(3)));
        // A tiny limit: one entry per part.
        let parts = r.split(12 + 104).unwrap();
        assert_eq!(parts.len(), 3);
        // Too small for one entry.
        assert!(matches!(
            r.split(12 + 103),
            Err(EncodeError::TooLong { .. })
        ));
        // Unsplittable bodies come back whole, or fail if too big.
        let d = StatsReply::new(StatsReplyBody::Desc(DescStats::default()));
        assert_eq!(d.split(MAX_MESSAGE_LEN).unwrap().len(), 1);
        assert!(d.split(100).is_err());
    }

    #[test]
    fn reassembler_errors() {
        let more = |body| StatsReply {
            flags: StatsReplyFlags::MORE,
            body,
        };
        let mut re = StatsReassembler::default();
        assert_eq!(
            re.push(1, more(StatsReplyBody::Port(ports(2)))).unwrap(),
            None
        );
        assert_eq!(re.pending(), 1);
        let e = re
            .push(1, StatsReply::new(StatsReplyBody::Table(vec![])))
            .unwrap_err();
        assert_eq!(
            e,
            ReassemblyError::TypeMismatch {
                xid: 1,
                expected: StatsType::Port,
                found: StatsType::Table
            }
        );
        assert_eq!(re.pending(), 0);
        assert_eq!(re.held_bytes(), 0);
        let e = re
            .push(
                2,
                more(StatsReplyBody::Aggregate(AggregateStats::default())),
            )
            .unwrap_err();
        assert!(matches!(e, ReassemblyError::Unsplittable { xid: 2, .. }));
        // Bounded: the third part of one 104-byte entry would exceed 250 bytes.
        let mut re = StatsReassembler::new(250);
        assert!(re.push(3, more(StatsReplyBody::Port(ports(1)))).is_ok());
        assert!(re.push(3, more(StatsReplyBody::Port(ports(1)))).is_ok());
        assert_eq!(re.held_bytes(), 2 * (104 + 12));
        let e = re
            .push(3, more(StatsReplyBody::Port(ports(1))))
            .unwrap_err();
        assert!(matches!(e, ReassemblyError::TooLarge { limit: 250, .. }));
        assert_eq!(re.held_bytes(), 0);
        assert_eq!(re.pending(), 0);
        // Empty parts for ever new xids also reach the bound.
        let mut re = StatsReassembler::new(1200);
        let mut refused = 0;
        for xid in 0..1000 {
            if re.push(xid, more(StatsReplyBody::Flow(vec![]))).is_err() {
                refused += 1;
            }
        }
        assert_eq!(re.pending(), 100);
        assert_eq!(refused, 900);
        // Interleaved xids and discard.
        let mut re = StatsReassembler::default();
        re.push(10, more(StatsReplyBody::Port(ports(1)))).unwrap();
        re.push(11, more(StatsReplyBody::Port(ports(2)))).unwrap();
        re.discard(10);
        let whole = re
            .push(11, StatsReply::new(StatsReplyBody::Port(ports(1))))
            .unwrap()
            .unwrap();
        assert!(matches!(whole.body, StatsReplyBody::Port(ref v) if v.len() == 3));
        assert!(!whole.more());
        assert_eq!(re.held_bytes(), 0);
        // A single-part reply passes through.
        let single = StatsReply::new(StatsReplyBody::Desc(DescStats::default()));
        assert_eq!(re.push(12, single.clone()).unwrap(), Some(single));
    }

    #[test]
    fn flow_entry_too_long_is_an_encode_error() {
        let mut f = flows(1).remove(0);
        f.actions = vec![crate::Action::StripVlan; 8200].into();
        let r = StatsReply::new(StatsReplyBody::Flow(vec![f]));
        assert!(r.split(MAX_MESSAGE_LEN).is_err());
        assert!(r.write(&mut Vec::new()).is_err());
    }

    #[test]
    fn stats_types() {
        for v in [0u16, 1, 2, 3, 4, 5, 6, 0xfffe, 0xffff] {
            assert_eq!(StatsType::from_u16(v).to_u16(), v);
        }
    }
}
