//! Explicit validation of decoded messages: what a switch would refuse even though the
//! bytes decode.
//!
//! Decoding is faithful and accepts values outside the specification (an unknown flow_mod
//! command, a VLAN id above 0xfff, an output to port 0xff10...). [`Message::validate`]
//! checks them, separately, and each [`ValidationError`] maps to the OpenFlow error to
//! send back ([`ValidationError::ofp_error`]), as Open vSwitch answers them.

use crate::action::{Action, ActionValueError};
use crate::actions::Actions;
use crate::error_msg::{BadActionCode, BadRequestCode, ErrorMsg, ErrorType, FlowModFailedCode};
use crate::flow_mod::{FlowModCommand, FlowModFlags};
use crate::message::Message;
use crate::port::PortNo;
use crate::stats::StatsRequestBody;

/// A decoded message that a switch would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A stats request of a type outside the specification (`BAD_REQUEST/BAD_STAT`).
    #[error("unsupported stats type {stats_type:#x}")]
    UnknownStatsType {
        /// The stats type.
        stats_type: u16,
    },
    /// A vendor message or vendor stats request from a vendor not in the accepted list
    /// (`BAD_REQUEST/BAD_VENDOR`).
    #[error("unsupported vendor {vendor:#010x}")]
    UnsupportedVendor {
        /// The vendor id.
        vendor: u32,
    },
    /// A vendor action from a vendor not in the accepted list (`BAD_ACTION/BAD_VENDOR`).
    #[error("action {index}: unsupported vendor {vendor:#010x}")]
    UnsupportedVendorAction {
        /// Position of the action in its list.
        index: usize,
        /// The vendor id.
        vendor: u32,
    },
    /// An output or enqueue to a port that cannot be an output (`BAD_ACTION/BAD_OUT_PORT`).
    #[error("action {index}: {port} is not a valid output port here")]
    BadOutPort {
        /// Position of the action in its list.
        index: usize,
        /// The port.
        port: PortNo,
    },
    /// An action argument out of range (`BAD_ACTION/BAD_ARGUMENT`).
    #[error("action {index}: {reason}")]
    BadArgument {
        /// Position of the action in its list.
        index: usize,
        /// What is wrong.
        reason: ActionValueError,
    },
    /// A flow_mod command outside the specification (`FLOW_MOD_FAILED/BAD_COMMAND`).
    #[error("unknown flow_mod command {command}")]
    BadCommand {
        /// The command.
        command: u16,
    },
    /// An emergency flow with a timeout (`FLOW_MOD_FAILED/BAD_EMERG_TIMEOUT`).
    #[error("emergency flow with idle timeout {idle_timeout} and hard timeout {hard_timeout}")]
    BadEmergTimeout {
        /// The idle timeout.
        idle_timeout: u16,
        /// The hard timeout.
        hard_timeout: u16,
    },
}

impl ValidationError {
    /// The OpenFlow error to send back.
    pub fn ofp_error(&self) -> ErrorType {
        match self {
            ValidationError::UnknownStatsType { .. } => {
                ErrorType::BadRequest(BadRequestCode::BadStat)
            }
            ValidationError::UnsupportedVendor { .. } => {
                ErrorType::BadRequest(BadRequestCode::BadVendor)
            }
            ValidationError::UnsupportedVendorAction { .. } => {
                ErrorType::BadAction(BadActionCode::BadVendor)
            }
            ValidationError::BadOutPort { .. } => ErrorType::BadAction(BadActionCode::BadOutPort),
            ValidationError::BadArgument { .. } => ErrorType::BadAction(BadActionCode::BadArgument),
            ValidationError::BadCommand { .. } => {
                ErrorType::FlowModFailed(FlowModFailedCode::BadCommand)
            }
            ValidationError::BadEmergTimeout { .. } => {
                ErrorType::FlowModFailed(FlowModFailedCode::BadEmergTimeout)
            }
        }
    }

    /// The `OFPT_ERROR` answering `request` (the offending message, header included),
    /// with its first 64 bytes.
    pub fn error_reply(&self, request: &[u8]) -> ErrorMsg {
        ErrorMsg::for_request(self.ofp_error(), request)
    }
}

/// Where an action list appears: `OFPP_TABLE` is an output only in a packet_out.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ActionContext {
    Flow,
    PacketOut,
}

fn valid_output(port: PortNo, ctx: ActionContext) -> bool {
    port.is_physical()
        || matches!(
            port,
            PortNo::IN_PORT
                | PortNo::NORMAL
                | PortNo::FLOOD
                | PortNo::ALL
                | PortNo::CONTROLLER
                | PortNo::LOCAL
        )
        || (port == PortNo::TABLE && ctx == ActionContext::PacketOut)
}

fn check_actions(
    actions: &Actions,
    ctx: ActionContext,
    vendors: &[u32],
) -> Result<(), ValidationError> {
    for (index, a) in actions.iter().enumerate() {
        let a = &a;
        let arg = |r: Result<Action, ActionValueError>| {
            r.map(|_| ())
                .map_err(|reason| ValidationError::BadArgument { index, reason })
        };
        match a {
            Action::Output { port, .. } if !valid_output(*port, ctx) => {
                return Err(ValidationError::BadOutPort { index, port: *port })
            }
            Action::Enqueue { port, .. }
                if !(port.is_physical() || *port == PortNo::IN_PORT || *port == PortNo::LOCAL) =>
            {
                return Err(ValidationError::BadOutPort { index, port: *port })
            }
            Action::SetVlanVid(v) => arg(Action::set_vlan_vid(*v))?,
            Action::SetVlanPcp(v) => arg(Action::set_vlan_pcp(*v))?,
            Action::SetNwTos(v) => arg(Action::set_nw_tos(*v))?,
            Action::Vendor { vendor, .. } if !vendors.contains(vendor) => {
                return Err(ValidationError::UnsupportedVendorAction {
                    index,
                    vendor: *vendor,
                })
            }
            _ => {}
        }
    }
    Ok(())
}

impl Message {
    /// Check what a switch would refuse in a decoded message: unknown flow_mod commands,
    /// emergency flows with timeouts, invalid output ports, out-of-range action arguments,
    /// unknown stats types, and vendor messages, vendor stats and vendor actions whose
    /// vendor is not in `vendors`.
    ///
    /// Output ports must be physical (`1..=0xfeff`) or one of `IN_PORT`, `NORMAL`,
    /// `FLOOD`, `ALL`, `CONTROLLER`, `LOCAL`, plus `TABLE` in a packet_out; enqueue ports
    /// must be physical, `IN_PORT` or `LOCAL`.
    pub fn validate(&self, vendors: &[u32]) -> Result<(), ValidationError> {
        match self {
            Message::FlowMod(f) => {
                if let FlowModCommand::Unknown(command) = f.command {
                    return Err(ValidationError::BadCommand { command });
                }
                if f.flags.contains(FlowModFlags::EMERG)
                    && (f.idle_timeout != 0 || f.hard_timeout != 0)
                {
                    return Err(ValidationError::BadEmergTimeout {
                        idle_timeout: f.idle_timeout,
                        hard_timeout: f.hard_timeout,
                    });
                }
                check_actions(&f.actions, ActionContext::Flow, vendors)
            }
            Message::PacketOut(p) => check_actions(&p.actions, ActionContext::PacketOut, vendors),
            Message::StatsRequest(s) => match &s.body {
                StatsRequestBody::Unknown { stats_type, .. } => {
                    Err(ValidationError::UnknownStatsType {
                        stats_type: *stats_type,
                    })
                }
                StatsRequestBody::Vendor { vendor, .. } if !vendors.contains(vendor) => {
                    Err(ValidationError::UnsupportedVendor { vendor: *vendor })
                }
                _ => Ok(()),
            },
            Message::Vendor(v) if !vendors.contains(&v.vendor) => {
                Err(ValidationError::UnsupportedVendor { vendor: v.vendor })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow_match::Match;
    use crate::flow_mod::FlowMod;
    use crate::messages::{PacketOut, VendorMsg};
    use crate::stats::StatsRequest;
    use crate::NO_BUFFER;
    use bytes::Bytes;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn fixture_bad_argument_and_bad_command() {
        // From the OVS 3.1 capture: set_vlan_vid 0x1fff, answered OFPBAC_BAD_ARGUMENT.
        let frame = hex(concat!(
            "010e00500000000c003fffff0000000000000000000000000000000000000000",
            "000000000000000000000000000000000000000000000000000000000000000b",
            "ffffffffffff0000000100081fff0000",
        ));
        let (_, m) = Message::decode_slice(&frame).unwrap();
        let e = m.validate(&[]).unwrap_err();
        assert_eq!(
            e,
            ValidationError::BadArgument {
                index: 0,
                reason: ActionValueError::VlanVid(0x1fff)
            }
        );
        assert_eq!(
            e.ofp_error(),
            ErrorType::BadAction(BadActionCode::BadArgument)
        );
        assert_eq!(e.error_reply(&frame).data.len(), 64);
        // Command 7, answered OFPFMFC_BAD_COMMAND.
        let frame = hex(concat!(
            "010e00480000000e003fffff0000000000000000000000000000000000000000",
            "000000000000000000000000000000000000000000000000000700000000000d",
            "ffffffffffff0000",
        ));
        let (_, m) = Message::decode_slice(&frame).unwrap();
        let e = m.validate(&[]).unwrap_err();
        assert_eq!(e, ValidationError::BadCommand { command: 7 });
        assert_eq!(
            e.ofp_error(),
            ErrorType::FlowModFailed(FlowModFailedCode::BadCommand)
        );
    }

    #[test]
    fn output_ports() {
        let flow = |a| Message::FlowMod(FlowMod::add(Match::any(), 1, vec![a]));
        assert!(flow(Action::output(PortNo(1))).validate(&[]).is_ok());
        assert!(flow(Action::output(PortNo::FLOOD)).validate(&[]).is_ok());
        assert!(flow(Action::to_controller(128)).validate(&[]).is_ok());
        for bad in [
            PortNo(0),
            PortNo::MAX,
            PortNo(0xfff0),
            PortNo::NONE,
            PortNo::TABLE,
        ] {
            assert_eq!(
                flow(Action::output(bad)).validate(&[]).unwrap_err(),
                ValidationError::BadOutPort {
                    index: 0,
                    port: bad
                }
            );
        }
        let po = Message::PacketOut(PacketOut {
            buffer_id: NO_BUFFER,
            in_port: PortNo::CONTROLLER,
            actions: vec![Action::StripVlan, Action::output(PortNo::TABLE)].into(),
            data: Bytes::new(),
        });
        assert!(po.validate(&[]).is_ok());
        let e = flow(Action::Enqueue {
            port: PortNo::FLOOD,
            queue_id: 1,
        })
        .validate(&[])
        .unwrap_err();
        assert_eq!(
            e.ofp_error(),
            ErrorType::BadAction(BadActionCode::BadOutPort)
        );
    }

    #[test]
    fn vendors_stats_and_emergency() {
        let v = Message::Vendor(VendorMsg {
            vendor: 0x2320,
            data: Bytes::new(),
        });
        assert_eq!(
            v.validate(&[]).unwrap_err().ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadVendor)
        );
        assert!(v.validate(&[0x2320]).is_ok());
        let s = Message::StatsRequest(StatsRequest::new(StatsRequestBody::Unknown {
            stats_type: 9,
            body: Bytes::new(),
        }));
        assert_eq!(
            s.validate(&[]).unwrap_err().ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadStat)
        );
        let mut f = FlowMod::add(Match::any(), 1, vec![]);
        f.flags = FlowModFlags::EMERG;
        f.idle_timeout = 5;
        assert_eq!(
            Message::FlowMod(f).validate(&[]).unwrap_err().ofp_error(),
            ErrorType::FlowModFailed(FlowModFailedCode::BadEmergTimeout)
        );
        let f = FlowMod::add(
            Match::any(),
            1,
            vec![Action::Vendor {
                vendor: 7,
                data: Bytes::new(),
            }],
        );
        assert_eq!(
            Message::FlowMod(f).validate(&[]).unwrap_err().ofp_error(),
            ErrorType::BadAction(BadActionCode::BadVendor)
        );
        assert!(Message::BarrierRequest.validate(&[]).is_ok());
    }
}
