//! `OFPT_ERROR`: every error type and code of OpenFlow 1.0, typed, with unknown values kept.

use crate::error::first_64;
use crate::header::Header;
use bytes::Bytes;

macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $wire:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A code outside the specification, kept as decoded.
            Unknown(u16),
        }

        impl $name {
            /// From the wire value.
            pub const fn from_u16(v: u16) -> Self {
                match v {
                    $( $value => $name::$variant, )*
                    other => $name::Unknown(other),
                }
            }

            /// The wire value.
            pub const fn to_u16(self) -> u16 {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Unknown(v) => v,
                }
            }

            /// The specification's name for the code (`OFPBRC_BAD_LEN`...), or `None`
            /// for an unknown code.
            pub const fn name(self) -> Option<&'static str> {
                match self {
                    $( $name::$variant => Some($wire), )*
                    $name::Unknown(_) => None,
                }
            }
        }
    };
}

code_enum! {
    /// `OFPET_HELLO_FAILED` codes.
    HelloFailedCode {
        /// No compatible version.
        Incompatible = 0 => "OFPHFC_INCOMPATIBLE",
        /// Permissions error.
        Eperm = 1 => "OFPHFC_EPERM",
    }
}

code_enum! {
    /// `OFPET_BAD_REQUEST` codes.
    BadRequestCode {
        /// `ofp_header.version` not supported.
        BadVersion = 0 => "OFPBRC_BAD_VERSION",
        /// `ofp_header.type` not supported.
        BadType = 1 => "OFPBRC_BAD_TYPE",
        /// `ofp_stats_request.type` not supported.
        BadStat = 2 => "OFPBRC_BAD_STAT",
        /// Vendor not supported (in a vendor message or vendor stats).
        BadVendor = 3 => "OFPBRC_BAD_VENDOR",
        /// Vendor subtype not supported.
        BadSubtype = 4 => "OFPBRC_BAD_SUBTYPE",
        /// Permissions error.
        Eperm = 5 => "OFPBRC_EPERM",
        /// Wrong request length for its type.
        BadLen = 6 => "OFPBRC_BAD_LEN",
        /// The specified buffer has already been used.
        BufferEmpty = 7 => "OFPBRC_BUFFER_EMPTY",
        /// The specified buffer does not exist.
        BufferUnknown = 8 => "OFPBRC_BUFFER_UNKNOWN",
    }
}

code_enum! {
    /// `OFPET_BAD_ACTION` codes.
    BadActionCode {
        /// Unknown action type.
        BadType = 0 => "OFPBAC_BAD_TYPE",
        /// Length problem in actions.
        BadLen = 1 => "OFPBAC_BAD_LEN",
        /// Unknown vendor id.
        BadVendor = 2 => "OFPBAC_BAD_VENDOR",
        /// Unknown action type for the vendor id.
        BadVendorType = 3 => "OFPBAC_BAD_VENDOR_TYPE",
        /// Problem validating the output port.
        BadOutPort = 4 => "OFPBAC_BAD_OUT_PORT",
        /// Bad action argument.
        BadArgument = 5 => "OFPBAC_BAD_ARGUMENT",
        /// Permissions error.
        Eperm = 6 => "OFPBAC_EPERM",
        /// Cannot handle this many actions.
        TooMany = 7 => "OFPBAC_TOO_MANY",
        /// Problem validating the output queue.
        BadQueue = 8 => "OFPBAC_BAD_QUEUE",
    }
}

code_enum! {
    /// `OFPET_FLOW_MOD_FAILED` codes.
    FlowModFailedCode {
        /// Flow not added because of full tables.
        AllTablesFull = 0 => "OFPFMFC_ALL_TABLES_FULL",
        /// Attempted to add an overlapping flow with `CHECK_OVERLAP` set.
        Overlap = 1 => "OFPFMFC_OVERLAP",
        /// Permissions error.
        Eperm = 2 => "OFPFMFC_EPERM",
        /// Flow not added because of a non-zero idle/hard timeout on an emergency flow.
        BadEmergTimeout = 3 => "OFPFMFC_BAD_EMERG_TIMEOUT",
        /// Unknown command.
        BadCommand = 4 => "OFPFMFC_BAD_COMMAND",
        /// Unsupported action list.
        Unsupported = 5 => "OFPFMFC_UNSUPPORTED",
    }
}

code_enum! {
    /// `OFPET_PORT_MOD_FAILED` codes.
    PortModFailedCode {
        /// The port does not exist.
        BadPort = 0 => "OFPPMFC_BAD_PORT",
        /// The hardware address does not match the port's.
        BadHwAddr = 1 => "OFPPMFC_BAD_HW_ADDR",
    }
}

code_enum! {
    /// `OFPET_QUEUE_OP_FAILED` codes.
    QueueOpFailedCode {
        /// Invalid port (or the port does not exist).
        BadPort = 0 => "OFPQOFC_BAD_PORT",
        /// The queue does not exist.
        BadQueue = 1 => "OFPQOFC_BAD_QUEUE",
        /// Permissions error.
        Eperm = 2 => "OFPQOFC_EPERM",
    }
}

/// An OpenFlow 1.0 error: its type (`ofp_error_type`) with the code typed per type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// `OFPET_HELLO_FAILED` (type 0): the data is an ASCII explanation.
    HelloFailed(HelloFailedCode),
    /// `OFPET_BAD_REQUEST` (type 1): the data holds at least 64 bytes of the request.
    BadRequest(BadRequestCode),
    /// `OFPET_BAD_ACTION` (type 2).
    BadAction(BadActionCode),
    /// `OFPET_FLOW_MOD_FAILED` (type 3).
    FlowModFailed(FlowModFailedCode),
    /// `OFPET_PORT_MOD_FAILED` (type 4).
    PortModFailed(PortModFailedCode),
    /// `OFPET_QUEUE_OP_FAILED` (type 5).
    QueueOpFailed(QueueOpFailedCode),
    /// An error type outside the specification (vendor errors included), kept as decoded.
    Unknown {
        /// The error type.
        error_type: u16,
        /// The code.
        code: u16,
    },
}

impl ErrorType {
    /// From the wire's type and code.
    pub const fn from_wire(error_type: u16, code: u16) -> Self {
        match error_type {
            0 => ErrorType::HelloFailed(HelloFailedCode::from_u16(code)),
            1 => ErrorType::BadRequest(BadRequestCode::from_u16(code)),
            2 => ErrorType::BadAction(BadActionCode::from_u16(code)),
            3 => ErrorType::FlowModFailed(FlowModFailedCode::from_u16(code)),
            4 => ErrorType::PortModFailed(PortModFailedCode::from_u16(code)),
            5 => ErrorType::QueueOpFailed(QueueOpFailedCode::from_u16(code)),
            _ => ErrorType::Unknown { error_type, code },
        }
    }

    /// The wire's type and code.
    pub const fn to_wire(self) -> (u16, u16) {
        match self {
            ErrorType::HelloFailed(c) => (0, c.to_u16()),
            ErrorType::BadRequest(c) => (1, c.to_u16()),
            ErrorType::BadAction(c) => (2, c.to_u16()),
            ErrorType::FlowModFailed(c) => (3, c.to_u16()),
            ErrorType::PortModFailed(c) => (4, c.to_u16()),
            ErrorType::QueueOpFailed(c) => (5, c.to_u16()),
            ErrorType::Unknown { error_type, code } => (error_type, code),
        }
    }

    /// The specification's name for the type (`OFPET_BAD_REQUEST`...), or `None`.
    pub const fn type_name(self) -> Option<&'static str> {
        match self {
            ErrorType::HelloFailed(_) => Some("OFPET_HELLO_FAILED"),
            ErrorType::BadRequest(_) => Some("OFPET_BAD_REQUEST"),
            ErrorType::BadAction(_) => Some("OFPET_BAD_ACTION"),
            ErrorType::FlowModFailed(_) => Some("OFPET_FLOW_MOD_FAILED"),
            ErrorType::PortModFailed(_) => Some("OFPET_PORT_MOD_FAILED"),
            ErrorType::QueueOpFailed(_) => Some("OFPET_QUEUE_OP_FAILED"),
            ErrorType::Unknown { .. } => None,
        }
    }

    /// The specification's name for the code (`OFPBRC_BAD_LEN`...), or `None`.
    pub const fn code_name(self) -> Option<&'static str> {
        match self {
            ErrorType::HelloFailed(c) => c.name(),
            ErrorType::BadRequest(c) => c.name(),
            ErrorType::BadAction(c) => c.name(),
            ErrorType::FlowModFailed(c) => c.name(),
            ErrorType::PortModFailed(c) => c.name(),
            ErrorType::QueueOpFailed(c) => c.name(),
            ErrorType::Unknown { .. } => None,
        }
    }
}

/// An `OFPT_ERROR` message body: the error and its data (for most types, the start of the
/// offending request; for `HELLO_FAILED`, ASCII text), kept as bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorMsg {
    /// The error type and code.
    pub error: ErrorType,
    /// The data (a zero-copy slice of the decoded frame).
    pub data: Bytes,
}

impl ErrorMsg {
    /// Size of the fixed part (`ofp_error_msg`, header included).
    pub const FIXED_LEN: usize = 12;

    /// An error carrying the first 64 bytes of `request` (the offending message, header
    /// included), as the specification asks.
    pub fn for_request(error: ErrorType, request: &[u8]) -> Self {
        ErrorMsg {
            error,
            data: first_64(request),
        }
    }

    /// The header of the offending request carried in `data` (its type and xid), for every
    /// error type but `HELLO_FAILED` (whose data is text); `None` if fewer than 8 bytes.
    pub fn offending_header(&self) -> Option<Header> {
        match self.error {
            ErrorType::HelloFailed(_) => None,
            _ => Header::parse(&self.data).ok(),
        }
    }

    /// The explanation carried by a `HELLO_FAILED` error (invalid UTF-8 replaced), or
    /// `None` for other error types.
    pub fn text(&self) -> Option<String> {
        match self.error {
            ErrorType::HelloFailed(_) => Some(String::from_utf8_lossy(&self.data).into_owned()),
            _ => None,
        }
    }

    /// A `HELLO_FAILED/INCOMPATIBLE` error with an ASCII explanation.
    pub fn hello_incompatible(text: &str) -> Self {
        ErrorMsg {
            error: ErrorType::HelloFailed(HelloFailedCode::Incompatible),
            data: Bytes::copy_from_slice(text.as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offending_header_and_text() {
        let req = [1u8, 14, 0, 80, 0, 0, 0, 0x0d, 0, 0x3f];
        let e = ErrorMsg::for_request(ErrorType::BadAction(BadActionCode::BadLen), &req);
        let h = e.offending_header().unwrap();
        assert_eq!(h.msg_type, crate::MessageType::FlowMod);
        assert_eq!(h.xid, 0x0d);
        assert_eq!(e.text(), None);
        let e = ErrorMsg::hello_incompatible("no common version");
        assert_eq!(e.offending_header(), None);
        assert_eq!(e.text().as_deref(), Some("no common version"));
        let short = ErrorMsg::for_request(ErrorType::BadRequest(BadRequestCode::BadLen), &[1, 2]);
        assert_eq!(short.offending_header(), None);
    }

    #[test]
    fn every_code_round_trips() {
        for t in 0..8u16 {
            for c in 0..12u16 {
                let e = ErrorType::from_wire(t, c);
                assert_eq!(e.to_wire(), (t, c));
                if t <= 5 {
                    assert!(e.type_name().is_some());
                } else {
                    assert!(matches!(e, ErrorType::Unknown { .. }));
                }
            }
        }
        assert_eq!(
            ErrorType::from_wire(1, 6),
            ErrorType::BadRequest(BadRequestCode::BadLen)
        );
        assert_eq!(
            ErrorType::from_wire(5, 0),
            ErrorType::QueueOpFailed(QueueOpFailedCode::BadPort)
        );
        assert_eq!(
            ErrorType::from_wire(3, 4).code_name(),
            Some("OFPFMFC_BAD_COMMAND")
        );
        assert_eq!(
            ErrorType::from_wire(2, 99),
            ErrorType::BadAction(BadActionCode::Unknown(99))
        );
        assert_eq!(ErrorType::from_wire(2, 99).code_name(), None);
        assert_eq!(
            ErrorType::from_wire(0xb0c2, 7),
            ErrorType::Unknown {
                error_type: 0xb0c2,
                code: 7
            }
        );
    }
}
