//! Decoding and encoding errors.
//!
//! A [`DecodeError`] says which message type was being decoded, which field, at which
//! offset (from the start of the message), and what was expected versus found. Every
//! decode error maps to the OpenFlow error a peer should get back
//! ([`DecodeError::ofp_error`]), and [`DecodeError::error_reply`] builds that `OFPT_ERROR`
//! message carrying the first 64 bytes of the offending request.

use crate::error_msg::{BadActionCode, BadRequestCode, ErrorMsg, ErrorType};
use crate::header::MessageType;
use bytes::Bytes;
use core::fmt;

/// What a length was expected to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// Exactly this many bytes.
    Exactly(usize),
    /// At least this many bytes.
    AtLeast(usize),
    /// At most this many bytes.
    AtMost(usize),
    /// A non-zero multiple of this many bytes.
    MultipleOf(usize),
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Exactly(n) => write!(f, "exactly {n}"),
            Expected::AtLeast(n) => write!(f, "at least {n}"),
            Expected::AtMost(n) => write!(f, "at most {n}"),
            Expected::MultipleOf(n) => write!(f, "a non-zero multiple of {n}"),
        }
    }
}

/// What went wrong while decoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The input ended early.
    #[error("truncated: needed {needed} bytes, {available} available")]
    Truncated {
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The header's length field is below 8: a byte stream is out of sync and cannot recover.
    #[error("header length {found} is below the 8-byte header (the stream is out of sync)")]
    HeaderLength {
        /// The length field.
        found: u16,
    },
    /// The header's length field disagrees with the size of the frame given to the decoder.
    #[error("header says {header} bytes but the frame has {actual}")]
    LengthMismatch {
        /// The length field.
        header: u16,
        /// The frame's size.
        actual: usize,
    },
    /// The header's version is not OpenFlow 1.0 (0x01).
    #[error("version {found:#04x}, expected 0x01 (OpenFlow 1.0)")]
    BadVersion {
        /// The version byte.
        found: u8,
    },
    /// The header's message type is not one of OpenFlow 1.0's (0-21).
    #[error("unknown message type {found}")]
    UnknownType {
        /// The type byte.
        found: u8,
    },
    /// A length (of a message, body or element) is wrong for its type.
    #[error("length {found}, expected {expected}")]
    BadLength {
        /// What it should have been.
        expected: Expected,
        /// What it was.
        found: usize,
    },
    /// Bytes were left over after a fixed-size body.
    #[error("{count} trailing bytes")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// An action type outside OpenFlow 1.0's (0-11 and 0xffff).
    #[error("unknown action type {found}")]
    UnknownActionType {
        /// The action type.
        found: u16,
    },
    /// An action length that is zero, not a multiple of 8, past the end of the action list
    /// or wrong for the action's type.
    #[error("action type {action_type}: length {found}, expected {expected}")]
    BadActionLength {
        /// The action type.
        action_type: u16,
        /// What the length should have been.
        expected: Expected,
        /// The length field.
        found: usize,
    },
    /// A frame larger than the framer accepts.
    #[error("frame of {found} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The configured maximum.
        max: usize,
        /// The header's length.
        found: usize,
    },
}

/// A message (or part of one) could not be decoded.
///
/// `msg_type` is the message being decoded ([`MessageType::Unknown`] when the header itself
/// is bad), `field` names the field (`"header.length"`, `"flow_mod.actions"`, ...), and
/// `offset` counts bytes from the start of the message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("decoding {} field `{field}` at offset {offset}: {kind}", msg_type.name())]
pub struct DecodeError {
    /// The message being decoded.
    pub msg_type: MessageType,
    /// The field being decoded.
    pub field: &'static str,
    /// Offset from the start of the message.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// A decode error.
    pub const fn new(
        msg_type: MessageType,
        field: &'static str,
        offset: usize,
        kind: DecodeErrorKind,
    ) -> Self {
        DecodeError {
            msg_type,
            field,
            offset,
            kind,
        }
    }

    /// The OpenFlow error a switch or controller should send back for this request.
    ///
    /// Bad versions give `BAD_REQUEST/BAD_VERSION`, unknown message types
    /// `BAD_REQUEST/BAD_TYPE`, unknown action types `BAD_ACTION/BAD_TYPE`, bad action
    /// lengths `BAD_ACTION/BAD_LEN`, every other length or truncation problem
    /// `BAD_REQUEST/BAD_LEN` (as Open vSwitch answers).
    ///
    /// Problems with content that decodes (an unknown stats type: `BAD_STAT`; a vendor
    /// nobody supports: `BAD_VENDOR`; an output to an invalid port: `BAD_OUT_PORT`; an
    /// out-of-range argument; an unknown flow_mod command) are found by
    /// [`crate::Message::validate`], whose [`crate::ValidationError::ofp_error`] maps them.
    pub fn ofp_error(&self) -> ErrorType {
        match self.kind {
            DecodeErrorKind::BadVersion { .. } => ErrorType::BadRequest(BadRequestCode::BadVersion),
            DecodeErrorKind::UnknownType { .. } => ErrorType::BadRequest(BadRequestCode::BadType),
            DecodeErrorKind::UnknownActionType { .. } => {
                ErrorType::BadAction(BadActionCode::BadType)
            }
            DecodeErrorKind::BadActionLength { .. } => ErrorType::BadAction(BadActionCode::BadLen),
            DecodeErrorKind::Truncated { .. }
            | DecodeErrorKind::HeaderLength { .. }
            | DecodeErrorKind::LengthMismatch { .. }
            | DecodeErrorKind::BadLength { .. }
            | DecodeErrorKind::TrailingBytes { .. }
            | DecodeErrorKind::FrameTooLarge { .. } => {
                ErrorType::BadRequest(BadRequestCode::BadLen)
            }
        }
    }

    /// True if the byte stream this came from is out of sync and must be closed
    /// (a header length below 8 or a frame too large to skip safely).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self.kind,
            DecodeErrorKind::HeaderLength { .. } | DecodeErrorKind::FrameTooLarge { .. }
        )
    }

    /// The `OFPT_ERROR` message answering `request` (the offending message, header
    /// included): [`DecodeError::ofp_error`] with the first 64 bytes of the request.
    /// Reply with the request's xid ([`crate::Header::peek_xid`]).
    ///
    /// ```
    /// use openflow_proto::error_msg::{BadActionCode, ErrorType};
    /// use openflow_proto::{Header, Message};
    ///
    /// // A flow_mod (match-all, no flags) whose only action has length 0.
    /// let mut req = vec![1, 14, 0, 80, 0, 0, 0, 0x2a, 0, 0x38, 0x20, 0xff];
    /// req.resize(72, 0);
    /// req.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0, 0]);
    /// let err = Message::decode_slice(&req).unwrap_err();
    /// assert_eq!(err.ofp_error(), ErrorType::BadAction(BadActionCode::BadLen));
    ///
    /// let xid = Header::peek_xid(&req).unwrap();
    /// let reply = Message::Error(err.error_reply(&req)).to_bytes(xid)?;
    /// assert_eq!(reply.len(), 12 + 64); // the first 64 bytes of the request
    /// # Ok::<(), openflow_proto::EncodeError>(())
    /// ```
    pub fn error_reply(&self, request: &[u8]) -> ErrorMsg {
        ErrorMsg::for_request(self.ofp_error(), request)
    }
}

/// A value cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A message, element or list would exceed what its 16-bit length field can carry.
    #[error("{what} would be {len} bytes, more than the maximum of {max}")]
    TooLong {
        /// What was being encoded.
        what: &'static str,
        /// The length it would have.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// An element whose length must be a multiple of 8 is not (a vendor action's data,
    /// a raw queue property...).
    #[error("{what} would be {len} bytes, which is not a multiple of 8")]
    Misaligned {
        /// What was being encoded.
        what: &'static str,
        /// The length it would have.
        len: usize,
    },
}

/// Build an `OFPT_ERROR` body for a request, keeping at most 64 bytes of it.
pub(crate) fn first_64(request: &[u8]) -> Bytes {
    Bytes::copy_from_slice(request.get(..64).unwrap_or(request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_context() {
        let e = DecodeError::new(
            MessageType::FlowMod,
            "flow_mod.actions",
            72,
            DecodeErrorKind::BadActionLength {
                action_type: 0,
                expected: Expected::Exactly(8),
                found: 16,
            },
        );
        let s = e.to_string();
        assert!(s.contains("OFPT_FLOW_MOD"), "{s}");
        assert!(s.contains("flow_mod.actions"), "{s}");
        assert!(s.contains("offset 72"), "{s}");
        assert!(s.contains("expected exactly 8"), "{s}");
        assert_eq!(e.ofp_error(), ErrorType::BadAction(BadActionCode::BadLen));
    }

    #[test]
    fn mapping() {
        let mk = |kind| DecodeError::new(MessageType::Hello, "x", 0, kind);
        assert_eq!(
            mk(DecodeErrorKind::BadVersion { found: 4 }).ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadVersion)
        );
        assert_eq!(
            mk(DecodeErrorKind::UnknownType { found: 99 }).ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadType)
        );
        assert_eq!(
            mk(DecodeErrorKind::UnknownActionType { found: 99 }).ofp_error(),
            ErrorType::BadAction(BadActionCode::BadType)
        );
        assert_eq!(
            mk(DecodeErrorKind::Truncated {
                needed: 1,
                available: 0
            })
            .ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadLen)
        );
        assert!(mk(DecodeErrorKind::HeaderLength { found: 4 }).is_fatal());
        assert!(!mk(DecodeErrorKind::BadVersion { found: 4 }).is_fatal());
    }

    #[test]
    fn error_reply_keeps_64_bytes() {
        let req = [7u8; 100];
        let e = DecodeError::new(
            MessageType::FlowMod,
            "x",
            0,
            DecodeErrorKind::UnknownActionType { found: 99 },
        );
        let m = e.error_reply(&req);
        assert_eq!(m.data.len(), 64);
        assert_eq!(m.error, ErrorType::BadAction(BadActionCode::BadType));
        let m = e.error_reply(&req[..10]);
        assert_eq!(m.data.len(), 10);
    }
}
