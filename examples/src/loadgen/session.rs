//! The switch side of one controller connection, sans-IO: [`SwitchSession`] answers the
//! handshake, makes packet_ins on demand, and matches the packet_outs that come back.
//!
//! The session is *ready* for load once the controller is done setting it up: when the
//! controller read the switch's flows (`OFPST_FLOW`, answered with an empty table), at the
//! first barrier request after that reply (a reconciling controller sends its flow_mods,
//! then a barrier); when the controller never asks for the flows, once it has sent nothing
//! for [`SwitchSession::SETTLE`] after the features reply (see [`SwitchSession::poll_ready`]).

use super::fleet::{frame_seq, FleetSwitch, FrameTemplates};
use super::histogram::Histogram;
use bytes::{Bytes, BytesMut};
use netrules::model::Settings;
use openflow_proto::stats::{StatsReplyBody, StatsRequestBody};
use openflow_proto::{
    ActionBitmap, Capabilities, Framer, Message, PacketIn, PacketInReason, PortNo, StatsReply,
    SwitchConfig, SwitchFeatures, NO_BUFFER,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the switch has seen and done (cumulative; subtract two snapshots for a window).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packet_ins sent.
    pub packet_ins: u64,
    /// Packet_outs that answered a packet_in (carrying its frame back, unchanged).
    pub responses: u64,
    /// All packet_outs received.
    pub packet_outs: u64,
    /// Packet_outs that answered no outstanding packet_in (gratuitous ARPs, for example).
    pub other_packet_outs: u64,
    /// Of those, the ones carrying an ARP frame.
    pub arp_packet_outs: u64,
    /// Packet_outs naming an outstanding packet_in but carrying other bytes than it.
    pub mismatched_packet_outs: u64,
    /// All flow_mods received.
    pub flow_mods: u64,
    /// Flow_mods adding a pinhole (`ADD` with a pinhole cookie).
    pub pinhole_adds: u64,
    /// Barrier requests answered.
    pub barriers: u64,
    /// Echo requests answered.
    pub echoes: u64,
    /// OpenFlow errors received from the controller.
    pub errors: u64,
    /// Messages that could not be decoded.
    pub malformed: u64,
    /// Other messages received (a switch does not expect them; they are ignored).
    pub other: u64,
}

impl Counters {
    /// `self - earlier`, field by field.
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            packet_ins: self.packet_ins - earlier.packet_ins,
            responses: self.responses - earlier.responses,
            packet_outs: self.packet_outs - earlier.packet_outs,
            other_packet_outs: self.other_packet_outs - earlier.other_packet_outs,
            arp_packet_outs: self.arp_packet_outs - earlier.arp_packet_outs,
            mismatched_packet_outs: self.mismatched_packet_outs - earlier.mismatched_packet_outs,
            flow_mods: self.flow_mods - earlier.flow_mods,
            pinhole_adds: self.pinhole_adds - earlier.pinhole_adds,
            barriers: self.barriers - earlier.barriers,
            echoes: self.echoes - earlier.echoes,
            errors: self.errors - earlier.errors,
            malformed: self.malformed - earlier.malformed,
            other: self.other - earlier.other,
        }
    }

    /// Add another switch's counters.
    pub fn add(&mut self, o: &Counters) {
        self.packet_ins += o.packet_ins;
        self.responses += o.responses;
        self.packet_outs += o.packet_outs;
        self.other_packet_outs += o.other_packet_outs;
        self.arp_packet_outs += o.arp_packet_outs;
        self.mismatched_packet_outs += o.mismatched_packet_outs;
        self.flow_mods += o.flow_mods;
        self.pinhole_adds += o.pinhole_adds;
        self.barriers += o.barriers;
        self.echoes += o.echoes;
        self.errors += o.errors;
        self.malformed += o.malformed;
        self.other += o.other;
    }
}

/// Why a session cannot go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The byte stream from the controller is out of sync.
    #[error("switch {dpid:#x}: stream from the controller out of sync: {error}")]
    OutOfSync {
        /// The switch.
        dpid: u64,
        /// The framing error.
        error: String,
    },
    /// The controller's `HELLO` offers no version 1.0 (its version byte is below 1).
    #[error("switch {dpid:#x}: controller HELLO with version {version}, expected >= 1")]
    Version {
        /// The switch.
        dpid: u64,
        /// The version the controller sent.
        version: u8,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for the features request.
    Handshake,
    /// Features replied at this instant; no flow stats request seen.
    Featured(Instant),
    /// Flow stats answered; waiting for the barrier that follows.
    Reconciling,
    /// Ready for load.
    Ready,
}

struct Outstanding {
    frame: Bytes,
    sent: Instant,
}

/// The switch side of one connection (see the module docs).
pub struct SwitchSession {
    switch: FleetSwitch,
    templates: FrameTemplates,
    ports: Vec<openflow_proto::PhyPort>,
    framer: Framer,
    out: BytesMut,
    phase: Phase,
    next_n: u64,
    xid: u32,
    outstanding: HashMap<u32, Outstanding>,
    counters: Counters,
    recording: bool,
    latency: Histogram,
    config: SwitchConfig,
}

impl std::fmt::Debug for SwitchSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwitchSession")
            .field("dpid", &self.switch.dpid)
            .field("phase", &self.phase)
            .field("outstanding", &self.outstanding.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl SwitchSession {
    /// How long a controller that never asks for the flows may stay silent after the
    /// features reply before the switch counts as ready.
    pub const SETTLE: Duration = Duration::from_millis(100);

    /// A session for `switch`; its `HELLO` is queued.
    pub fn new(switch: FleetSwitch, settings: Settings) -> Self {
        let ports = switch
            .ports()
            .iter()
            .map(|(n, s)| crate::core::sim_switch::phy_port(*n, s))
            .collect();
        let templates = FrameTemplates::new(&switch, &settings);
        let mut s = SwitchSession {
            switch,
            templates,
            ports,
            framer: Framer::new(),
            out: BytesMut::with_capacity(16 * 1024),
            phase: Phase::Handshake,
            next_n: 0,
            xid: 0,
            outstanding: HashMap::new(),
            counters: Counters::default(),
            recording: false,
            latency: Histogram::new(),
            config: SwitchConfig::default(),
        };
        s.emit(0, &Message::Hello(Bytes::new()));
        s
    }

    /// The datapath id.
    pub fn dpid(&self) -> u64 {
        self.switch.dpid
    }

    /// The counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Packet_ins sent and not answered yet.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Record the latency of responses from now on (`true`) or not.
    pub fn set_recording(&mut self, on: bool) {
        self.recording = on;
    }

    /// The latencies recorded.
    pub fn latency(&self) -> &Histogram {
        &self.latency
    }

    /// True once the controller is done setting the switch up; `now` lets a controller
    /// that never reads the flows count as done after [`SwitchSession::SETTLE`].
    pub fn poll_ready(&mut self, now: Instant) -> bool {
        if let Phase::Featured(at) = self.phase {
            if now.saturating_duration_since(at) >= Self::SETTLE {
                self.phase = Phase::Ready;
            }
        }
        self.phase == Phase::Ready
    }

    /// When [`SwitchSession::poll_ready`] may change its answer without input.
    pub fn ready_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Featured(at) => Some(at + Self::SETTLE),
            _ => None,
        }
    }

    /// The bytes to write to the controller (everything queued so far).
    pub fn take_output(&mut self) -> Bytes {
        self.out.split().freeze()
    }

    /// True if output is queued.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    fn emit(&mut self, xid: u32, msg: &Message) {
        // What this module encodes is small and valid; a failure leaves nothing queued.
        let _ = msg.encode(xid, &mut self.out);
    }

    /// Queue `count` packet_ins, each a new outbound connection, stamped `now`.
    pub fn send_packet_ins(&mut self, count: usize, now: Instant) {
        for _ in 0..count {
            let n = self.next_n;
            self.next_n += 1;
            let Some(frame) = self.templates.frame(&self.switch, n) else {
                return;
            };
            let frame = Bytes::from(frame);
            let in_port = self
                .switch
                .instances
                .get((n % self.switch.instances.len().max(1) as u64) as usize)
                .map_or(PortNo(0), |i| i.port);
            let pi = PacketIn {
                buffer_id: NO_BUFFER,
                total_len: u16::try_from(frame.len()).unwrap_or(u16::MAX),
                in_port,
                reason: PacketInReason::NoMatch,
                data: frame.clone(),
            };
            self.xid = self.xid.wrapping_add(1);
            self.emit(self.xid, &Message::PacketIn(pi));
            self.outstanding
                .insert(n as u32, Outstanding { frame, sent: now });
            self.counters.packet_ins += 1;
        }
    }

    /// Bytes from the controller, received at `now`.
    pub fn handle_bytes(&mut self, data: &[u8], now: Instant) -> Result<(), SessionError> {
        self.framer.extend_from_slice(data);
        loop {
            match self.framer.next_frame() {
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => {
                    // Flow_mods, the bulk of what a reactive controller sends, are counted
                    // from their fixed fields without a full decode.
                    if !self.flow_mod(&frame) {
                        match openflow_proto::framing::decode_frame(frame) {
                            Ok((header, msg)) => self.handle(header, msg, now)?,
                            Err(_) => self.counters.malformed += 1,
                        }
                    }
                }
                Err(e) => {
                    return Err(SessionError::OutOfSync {
                        dpid: self.switch.dpid,
                        error: e.to_string(),
                    })
                }
            }
        }
    }

    /// Count `frame` if it is an OpenFlow 1.0 flow_mod (type 14, at least its 72 fixed
    /// bytes); false otherwise.
    fn flow_mod(&mut self, frame: &[u8]) -> bool {
        const TYPE_FLOW_MOD: u8 = 14;
        const COOKIE: usize = 8 + 40;
        const COMMAND: usize = COOKIE + 8;
        if frame.len() < 72
            || frame.first() != Some(&openflow_proto::OFP_VERSION)
            || frame.get(1) != Some(&TYPE_FLOW_MOD)
        {
            return false;
        }
        let cookie = frame
            .get(COOKIE..COOKIE + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_be_bytes);
        let command = frame
            .get(COMMAND..COMMAND + 2)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map_or(u16::MAX, u16::from_be_bytes);
        self.counters.flow_mods += 1;
        // OFPFC_ADD is 0.
        if command == 0
            && cookie & netrules::compile::cookie::KIND_MASK == netrules::compile::cookie::PINHOLE
        {
            self.counters.pinhole_adds += 1;
        }
        true
    }

    fn handle(
        &mut self,
        header: openflow_proto::Header,
        msg: Message,
        now: Instant,
    ) -> Result<(), SessionError> {
        let xid = header.xid;
        match msg {
            Message::Hello(_) => {
                if header.version < openflow_proto::OFP_VERSION {
                    return Err(SessionError::Version {
                        dpid: self.switch.dpid,
                        version: header.version,
                    });
                }
            }
            Message::EchoRequest(d) => {
                self.counters.echoes += 1;
                self.emit(xid, &Message::EchoReply(d));
            }
            Message::FeaturesRequest => {
                let f = SwitchFeatures {
                    datapath_id: self.switch.dpid,
                    n_buffers: 0,
                    n_tables: 1,
                    capabilities: Capabilities::FLOW_STATS,
                    actions: ActionBitmap::empty(),
                    ports: self.ports.clone(),
                };
                self.emit(xid, &Message::FeaturesReply(f));
                if self.phase == Phase::Handshake {
                    self.phase = Phase::Featured(now);
                }
            }
            Message::SetConfig(c) => self.config = c,
            Message::GetConfigRequest => self.emit(xid, &Message::GetConfigReply(self.config)),
            Message::BarrierRequest => {
                self.counters.barriers += 1;
                self.emit(xid, &Message::BarrierReply);
                if self.phase == Phase::Reconciling {
                    self.phase = Phase::Ready;
                }
            }
            Message::StatsRequest(req) => match req.body {
                StatsRequestBody::Flow(_) => {
                    let reply = StatsReply::new(StatsReplyBody::Flow(Vec::new()));
                    self.emit(xid, &Message::StatsReply(reply));
                    if matches!(self.phase, Phase::Featured(_)) {
                        self.phase = Phase::Reconciling;
                    }
                }
                _ => self.counters.other += 1,
            },
            Message::PacketOut(po) => {
                self.counters.packet_outs += 1;
                self.packet_out(&po.data, now);
            }
            Message::Error(_) => self.counters.errors += 1,
            _ => self.counters.other += 1,
        }
        Ok(())
    }

    fn other_packet_out(&mut self, data: &[u8]) {
        self.counters.other_packet_outs += 1;
        if data.get(12..14) == Some(&0x0806u16.to_be_bytes()[..]) {
            self.counters.arp_packet_outs += 1;
        }
    }

    fn packet_out(&mut self, data: &[u8], now: Instant) {
        // Only an IPv4 frame can answer a packet_in (an ARP frame could carry anything where
        // the TCP sequence number would be).
        let ipv4 = data.get(12..14) == Some(&0x0800u16.to_be_bytes()[..]);
        let Some(seq) = frame_seq(data).filter(|_| ipv4) else {
            self.other_packet_out(data);
            return;
        };
        let Some(o) = self.outstanding.get(&seq) else {
            self.other_packet_out(data);
            return;
        };
        // The frame must come back exactly as it was sent.
        if o.frame != data {
            self.counters.mismatched_packet_outs += 1;
            return;
        }
        let sent = o.sent;
        self.outstanding.remove(&seq);
        self.counters.responses += 1;
        if self.recording {
            self.latency.record(now.saturating_duration_since(sent));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sim_switch::test_settings;
    use crate::core::{Config, ConnId, Controller};
    use crate::loadgen::fleet::Fleet;
    use openflow_proto::{Action, PacketOut};

    /// Shuttle bytes between a real controller core and the sessions until nothing moves.
    fn pump(ctl: &mut Controller, sessions: &mut [SwitchSession], now: Instant) {
        loop {
            let mut moved = false;
            while let Some((conn, bytes)) = ctl.poll_transmit() {
                let s = &mut sessions[conn.0 as usize];
                s.handle_bytes(&bytes, now).unwrap();
                moved = true;
            }
            for (i, s) in sessions.iter_mut().enumerate() {
                if s.has_output() {
                    ctl.handle_bytes(ConnId(i as u64), &s.take_output(), now);
                    moved = true;
                }
            }
            while ctl.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }

    #[test]
    fn against_the_controller_core() {
        let fleet = Fleet::new(test_settings(), 1, 2, 3).unwrap();
        let mut ctl = Controller::new(fleet.model().unwrap(), Config::default());
        let now = Instant::now();
        let mut sessions: Vec<SwitchSession> = fleet
            .switches
            .iter()
            .map(|s| SwitchSession::new(s.clone(), fleet.settings))
            .collect();
        for i in 0..sessions.len() {
            ctl.handle_connect(ConnId(i as u64), now);
        }
        pump(&mut ctl, &mut sessions, now);
        let setup: Vec<Counters> = sessions
            .iter_mut()
            .map(|s| {
                assert!(s.poll_ready(now), "{s:?}");
                s.counters()
            })
            .collect();
        assert!(ctl.is_ready(1) && ctl.is_ready(2));
        for s in sessions.iter_mut() {
            s.set_recording(true);
            s.send_packet_ins(10, now);
        }
        pump(&mut ctl, &mut sessions, now);
        for (s, before) in sessions.iter().zip(&setup) {
            let c = s.counters().since(before);
            assert_eq!(c.packet_ins, 10);
            assert_eq!(c.responses, 10, "{c:?}");
            assert_eq!(c.pinhole_adds, 20);
            assert_eq!(c.flow_mods, 20);
            assert_eq!(c.errors + c.malformed + c.mismatched_packet_outs, 0);
            assert_eq!(s.outstanding(), 0);
            assert_eq!(s.latency().count(), 10);
        }
        assert_eq!(ctl.counters().packet_ins, 20);
        assert_eq!(ctl.pinholes().len(), 20);
    }

    fn ready_session(now: Instant) -> SwitchSession {
        let fleet = Fleet::new(test_settings(), 5, 1, 2).unwrap();
        let mut s = SwitchSession::new(fleet.switches[0].clone(), fleet.settings);
        let mut b = BytesMut::new();
        Message::Hello(Bytes::new()).encode(1, &mut b).unwrap();
        Message::FeaturesRequest.encode(2, &mut b).unwrap();
        s.handle_bytes(&b, now).unwrap();
        s
    }

    #[test]
    fn silent_controller_is_ready_after_settling() {
        let now = Instant::now();
        let mut s = ready_session(now);
        assert!(!s.poll_ready(now));
        assert_eq!(s.ready_deadline(), Some(now + SwitchSession::SETTLE));
        assert!(s.poll_ready(now + SwitchSession::SETTLE));
        // The output: HELLO then the features reply naming dpid 5 and 3 ports.
        let out = s.take_output();
        let mut f = Framer::new();
        f.extend_from_slice(&out);
        let (_, hello) = f.next_message().unwrap().unwrap().unwrap();
        assert_eq!(hello, Message::Hello(Bytes::new()));
        let (h, msg) = f.next_message().unwrap().unwrap().unwrap();
        assert_eq!(h.xid, 2);
        let Message::FeaturesReply(fr) = msg else {
            panic!("{msg:?}")
        };
        assert_eq!((fr.datapath_id, fr.ports.len()), (5, 3));
    }

    #[test]
    fn responses_are_matched_by_frame() {
        let now = Instant::now();
        let mut s = ready_session(now);
        s.send_packet_ins(3, now);
        let out = s.take_output();
        let mut f = Framer::new();
        f.extend_from_slice(&out);
        let mut pis = Vec::new();
        while let Some(r) = f.next_message().unwrap() {
            if let (_, Message::PacketIn(pi)) = r.unwrap() {
                pis.push(pi);
            }
        }
        assert_eq!(pis.len(), 3);
        let po = |data: Bytes| {
            Message::PacketOut(PacketOut {
                buffer_id: NO_BUFFER,
                in_port: PortNo(2),
                actions: vec![Action::Output {
                    port: PortNo::FLOOD,
                    max_len: 0,
                }]
                .into(),
                data,
            })
            .to_bytes(9)
            .unwrap()
        };
        // The second one answered; a tampered copy of the first; a gratuitous one; a
        // repeat of the second; an ARP frame.
        let mut tampered = pis[0].data.to_vec();
        tampered[20] ^= 1;
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let later = now + Duration::from_micros(50);
        s.set_recording(true);
        for data in [
            pis[1].data.clone(),
            Bytes::from(tampered),
            Bytes::from_static(&[0xff; 60]),
            pis[1].data.clone(),
            Bytes::from(arp),
        ] {
            s.handle_bytes(&po(data), later).unwrap();
        }
        let c = s.counters();
        assert_eq!(
            (
                c.packet_outs,
                c.responses,
                c.mismatched_packet_outs,
                c.other_packet_outs,
                c.arp_packet_outs
            ),
            (5, 1, 1, 3, 1)
        );
        assert_eq!(s.outstanding(), 2);
        assert_eq!(s.latency().mean(), Some(Duration::from_micros(50)));
    }

    #[test]
    fn flow_mods_are_counted_from_their_fields() {
        use openflow_proto::{FlowMod, Match};
        let now = Instant::now();
        let mut s = ready_session(now);
        let pinhole = netrules::compile::cookie::PINHOLE | 7;
        let mut b = BytesMut::new();
        let mut add = FlowMod::add(Match::any(), 40000, vec![]);
        add.cookie = pinhole;
        Message::FlowMod(add.clone()).encode(1, &mut b).unwrap();
        add.cookie = 5;
        Message::FlowMod(add).encode(2, &mut b).unwrap();
        let mut del = FlowMod::delete_strict(Match::any(), 40000);
        del.cookie = pinhole;
        Message::FlowMod(del).encode(3, &mut b).unwrap();
        s.handle_bytes(&b, now).unwrap();
        let c = s.counters();
        assert_eq!(
            (c.flow_mods, c.pinhole_adds, c.other, c.malformed),
            (3, 1, 0, 0)
        );
    }

    #[test]
    fn out_of_sync_stream_is_an_error() {
        let now = Instant::now();
        let mut s = ready_session(now);
        let err = s.handle_bytes(&[1, 0, 0, 4, 0, 0, 0, 0], now).unwrap_err();
        assert!(matches!(err, SessionError::OutOfSync { dpid: 5, .. }));
    }

    #[test]
    fn echo_barrier_and_config_are_answered() {
        let now = Instant::now();
        let mut s = ready_session(now);
        s.take_output();
        let mut b = BytesMut::new();
        Message::EchoRequest(Bytes::from_static(b"x"))
            .encode(7, &mut b)
            .unwrap();
        Message::SetConfig(SwitchConfig {
            flags: Default::default(),
            miss_send_len: 128,
        })
        .encode(8, &mut b)
        .unwrap();
        Message::GetConfigRequest.encode(9, &mut b).unwrap();
        Message::BarrierRequest.encode(10, &mut b).unwrap();
        s.handle_bytes(&b, now).unwrap();
        let mut f = Framer::new();
        f.extend_from_slice(&s.take_output());
        let mut got = Vec::new();
        while let Some(r) = f.next_message().unwrap() {
            got.push(r.unwrap());
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, Message::EchoReply(Bytes::from_static(b"x")));
        assert!(matches!(got[1].1, Message::GetConfigReply(c) if c.miss_send_len == 128));
        assert_eq!((got[2].0.xid, &got[2].1), (10, &Message::BarrierReply));
    }
}
