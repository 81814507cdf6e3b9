//! Framing OpenFlow messages on a byte stream.
//!
//! A [`Framer`] buffers partial reads and yields whole messages as [`Bytes`] frames. Only
//! a header length below 8 (or above the configured maximum) is unrecoverable: the stream
//! is out of sync and must be closed. A bad version or an unknown type in an otherwise
//! well-framed message is reported for that message only ([`InvalidMessage`]) and the
//! stream continues.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::header::Header;
use crate::message::Message;
use bytes::{Bytes, BytesMut};

/// A well-framed message that could not be decoded: the frame (to answer with
/// [`DecodeError::error_reply`] and the frame's xid) and the error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct InvalidMessage {
    /// The whole frame, header included.
    pub frame: Bytes,
    /// Why it could not be decoded.
    pub error: DecodeError,
}

impl InvalidMessage {
    /// The frame's xid.
    pub fn xid(&self) -> u32 {
        Header::peek_xid(&self.frame).unwrap_or(0)
    }

    /// The `OFPT_ERROR` message a peer should get for this frame, with the frame's xid.
    pub fn error_reply(&self) -> (u32, Message) {
        (
            self.xid(),
            Message::Error(self.error.error_reply(&self.frame)),
        )
    }
}

/// The result of decoding one frame: the message, or why this one message was invalid.
pub type FrameResult = Result<(Header, Message), InvalidMessage>;

/// Splits a byte stream into OpenFlow messages.
///
/// ```
/// use openflow_proto::{Framer, Message};
///
/// let mut framer = Framer::new();
/// // A HELLO and half of a BARRIER_REQUEST arrive...
/// framer.extend_from_slice(&[1, 0, 0, 8, 0, 0, 0, 1, 1, 18, 0]);
/// let (hdr, msg) = framer.next_message().unwrap().unwrap().unwrap();
/// assert_eq!((hdr.xid, msg), (1, Message::Hello(Default::default())));
/// assert!(framer.next_message().unwrap().is_none());
/// // ...then the rest.
/// framer.extend_from_slice(&[8, 0, 0, 0, 2]);
/// let (_, msg) = framer.next_message().unwrap().unwrap().unwrap();
/// assert_eq!(msg, Message::BarrierRequest);
/// ```
#[derive(Debug)]
pub struct Framer {
    buf: BytesMut,
    max_frame_len: usize,
    failed: Option<DecodeError>,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new()
    }
}

impl Framer {
    /// A framer accepting frames up to 65535 bytes (the most a header can say).
    pub fn new() -> Self {
        Self::with_max_frame_len(usize::from(u16::MAX))
    }

    /// A framer accepting frames up to `max` bytes (at least 8); a longer frame is fatal.
    pub fn with_max_frame_len(max: usize) -> Self {
        Framer {
            buf: BytesMut::new(),
            max_frame_len: max.max(Header::LEN),
            failed: None,
        }
    }

    /// Append received bytes.
    pub fn extend_from_slice(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The internal buffer, to read into directly (e.g. `read_buf`).
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Bytes buffered but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or a fatal error (the
    /// stream is out of sync; every later call returns the same error).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match split_frame(&mut self.buf, self.max_frame_len) {
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
            ok => ok,
        }
    }

    /// The next message: `Ok(None)` if more bytes are needed, `Ok(Some(Err(_)))` for one
    /// well-framed but invalid message (the stream continues), `Err` when the stream is out
    /// of sync.
    pub fn next_message(&mut self) -> Result<Option<FrameResult>, DecodeError> {
        Ok(self.next_frame()?.map(decode_frame))
    }
}

/// Decode a frame into a [`FrameResult`].
pub fn decode_frame(frame: Bytes) -> FrameResult {
    match Message::decode(&frame) {
        Ok(m) => Ok(m),
        Err(error) => Err(InvalidMessage { frame, error }),
    }
}

/// Split one frame off the front of `buf` if it is complete.
fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, DecodeError> {
    let Ok(header) = Header::parse(buf) else {
        return Ok(None);
    };
    let len = usize::from(header.length);
    if len < Header::LEN {
        return Err(DecodeError::new(
            header.msg_type,
            "header.length",
            2,
            DecodeErrorKind::HeaderLength {
                found: header.length,
            },
        ));
    }
    if len > max {
        return Err(DecodeError::new(
            header.msg_type,
            "header.length",
            2,
            DecodeErrorKind::FrameTooLarge { max, found: len },
        ));
    }
    if buf.len() < len {
        buf.reserve(len - buf.len());
        return Ok(None);
    }
    Ok(Some(buf.split_to(len).freeze()))
}

#[cfg(feature = "tokio")]
mod tokio_codec {
    use super::*;
    use crate::error::EncodeError;
    use tokio_util::codec::{Decoder, Encoder};

    /// Errors of [`OfpCodec`]: I/O, a stream out of sync, or a message that cannot be
    /// encoded. Invalid but well-framed messages are not errors: they are items.
    #[derive(Debug, thiserror::Error)]
    #[non_exhaustive]
    pub enum CodecError {
        /// The underlying I/O failed.
        #[error("I/O error: {0}")]
        Io(#[from] std::io::Error),
        /// The stream is out of sync (header length below 8 or above the maximum).
        #[error("stream out of sync: {0}")]
        Framing(#[from] DecodeError),
        /// A message could not be encoded.
        #[error("cannot encode: {0}")]
        Encode(#[from] EncodeError),
    }

    /// A `tokio_util::codec` codec for OpenFlow 1.0 (feature `tokio`).
    ///
    /// Decodes [`FrameResult`]s (an invalid message is an `Err` item and the stream
    /// continues; a stream out of sync is a [`CodecError`]) and encodes `(xid, Message)`.
    #[derive(Debug, Clone)]
    pub struct OfpCodec {
        max_frame_len: usize,
    }

    impl Default for OfpCodec {
        fn default() -> Self {
            OfpCodec {
                max_frame_len: usize::from(u16::MAX),
            }
        }
    }

    impl OfpCodec {
        /// A codec accepting frames up to 65535 bytes.
        pub fn new() -> Self {
            Self::default()
        }

        /// A codec accepting frames up to `max` bytes.
        pub fn with_max_frame_len(max: usize) -> Self {
            OfpCodec {
                max_frame_len: max.max(Header::LEN),
            }
        }
    }

    impl Decoder for OfpCodec {
        type Item = FrameResult;
        type Error = CodecError;

        fn decode(&mut self, src: &mut BytesMut) -> Result<Option<FrameResult>, CodecError> {
            Ok(split_frame(src, self.max_frame_len)?.map(decode_frame))
        }
    }

    impl Encoder<(u32, Message)> for OfpCodec {
        type Error = CodecError;

        fn encode(&mut self, item: (u32, Message), dst: &mut BytesMut) -> Result<(), CodecError> {
            item.1.encode(item.0, dst)?;
            Ok(())
        }
    }

    impl Encoder<(u32, &Message)> for OfpCodec {
        type Error = CodecError;

        fn encode(&mut self, item: (u32, &Message), dst: &mut BytesMut) -> Result<(), CodecError> {
            item.1.encode(item.0, dst)?;
            Ok(())
        }
    }
}

#[cfg(feature = "tokio")]
pub use tokio_codec::{CodecError, OfpCodec};
