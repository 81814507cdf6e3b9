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

    /// The next whole frame where it lies, without taking it (`Ok(None)` if more bytes are
    /// needed; errors as [`Framer::next_frame`]'s). Take it with [`Framer::skip_frame`], or
    /// with [`Framer::next_frame`] to own it as [`Bytes`].
    ///
    /// ```
    /// use openflow_proto::{framing::Framer, Message};
    /// let mut framer = Framer::new();
    /// let mut wire = bytes::BytesMut::new();
    /// Message::BarrierRequest.encode(1, &mut wire).unwrap();
    /// Message::BarrierRequest.encode(2, &mut wire).unwrap();
    /// framer.extend_from_slice(&wire);
    /// assert_eq!(framer.peek_frame().unwrap(), Some(&wire[..8]));
    /// framer.skip_frame();
    /// assert_eq!(framer.peek_frame().unwrap(), Some(&wire[8..]));
    /// framer.skip_frame();
    /// assert_eq!(framer.peek_frame().unwrap(), None);
    /// ```
    pub fn peek_frame(&self) -> Result<Option<&[u8]>, DecodeError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        Ok(frame_len(&self.buf, self.max_frame_len)?.and_then(|len| self.buf.get(..len)))
    }

    /// Drop the whole frame at the front, if there is one (the one [`Framer::peek_frame`]
    /// gave); true if one was dropped. A stream out of sync records its error.
    pub fn skip_frame(&mut self) -> bool {
        if self.failed.is_some() {
            return false;
        }
        match frame_len(&self.buf, self.max_frame_len) {
            Ok(Some(len)) => {
                bytes::Buf::advance(&mut self.buf, len);
                true
            }
            Ok(None) => false,
            Err(e) => {
                self.failed = Some(e);
                false
            }
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

/// The length of the frame at the front of `buf` if the whole frame is there; `Ok(None)` if
/// more bytes are needed; an error if its header's length is impossible (below 8 or above
/// `max`): the stream is out of sync.
///
/// With it, frames can be handled where they lie (in a read buffer, as `&buf[..len]`)
/// instead of being split off as [`Bytes`] (see [`Framer::peek_frame`]).
///
/// ```
/// use openflow_proto::{framing::frame_len, Message};
/// let mut wire = bytes::BytesMut::new();
/// Message::EchoRequest(bytes::Bytes::from_static(b"hi")).encode(7, &mut wire).unwrap();
/// assert_eq!(frame_len(&wire, 65535).unwrap(), Some(10));
/// assert_eq!(frame_len(&wire[..9], 65535).unwrap(), None);
/// assert!(frame_len(&[1, 2, 0, 3, 0, 0, 0, 0], 65535).is_err());
/// ```
pub fn frame_len(buf: &[u8], max: usize) -> Result<Option<usize>, DecodeError> {
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
    Ok((buf.len() >= len).then_some(len))
}

/// Split one frame off the front of `buf` if it is complete.
fn split_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, DecodeError> {
    match frame_len(buf, max)? {
        Some(len) => Ok(Some(buf.split_to(len).freeze())),
        None => {
            if let Ok(header) = Header::parse(buf) {
                buf.reserve(usize::from(header.length).saturating_sub(buf.len()));
            }
            Ok(None)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_msg::{BadRequestCode, ErrorType};

    const HELLO: &[u8] = &[1, 0, 0, 8, 0, 0, 0, 1];
    const ECHO: &[u8] = &[1, 2, 0, 12, 0, 0, 0, 9, b'p', b'i', b'n', b'g'];
    const BARRIER: &[u8] = &[1, 18, 0, 8, 0, 0, 0, 6];

    fn stream() -> Vec<u8> {
        [HELLO, ECHO, BARRIER].concat()
    }

    #[test]
    fn byte_at_a_time() {
        let mut f = Framer::new();
        let mut got = Vec::new();
        for b in stream() {
            f.extend_from_slice(&[b]);
            while let Some(r) = f.next_message().unwrap() {
                got.push(r.unwrap());
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1, Message::Hello(Bytes::new()));
        assert_eq!(got[1].0.xid, 9);
        assert_eq!(got[1].1, Message::EchoRequest(Bytes::from_static(b"ping")));
        assert_eq!(got[2].1, Message::BarrierRequest);
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn all_at_once_frames_are_exact() {
        let mut f = Framer::new();
        f.extend_from_slice(&stream());
        f.extend_from_slice(&HELLO[..3]);
        assert_eq!(f.next_frame().unwrap().unwrap(), HELLO);
        assert_eq!(f.next_frame().unwrap().unwrap(), ECHO);
        assert_eq!(f.next_frame().unwrap().unwrap(), BARRIER);
        assert_eq!(f.next_frame().unwrap(), None);
        assert_eq!(f.buffered(), 3);
    }

    #[test]
    fn bad_version_and_unknown_type_do_not_poison_the_stream() {
        let mut f = Framer::new();
        let v4 = [4u8, 2, 0, 8, 0, 0, 0, 0x21];
        let t99 = [1u8, 99, 0, 10, 0, 0, 0, 0x22, 0xaa, 0xbb];
        f.extend_from_slice(&[&v4[..], &t99[..], HELLO].concat());
        let bad = f.next_message().unwrap().unwrap().unwrap_err();
        assert_eq!(bad.error.kind, DecodeErrorKind::BadVersion { found: 4 });
        assert_eq!(bad.xid(), 0x21);
        let (xid, reply) = bad.error_reply();
        assert_eq!(xid, 0x21);
        let Message::Error(e) = reply else { panic!() };
        assert_eq!(e.error, ErrorType::BadRequest(BadRequestCode::BadVersion));
        assert_eq!(&e.data[..], &v4[..]);
        let bad = f.next_message().unwrap().unwrap().unwrap_err();
        assert_eq!(bad.error.kind, DecodeErrorKind::UnknownType { found: 99 });
        assert_eq!(&bad.frame[..], &t99[..]);
        assert_eq!(
            f.next_message().unwrap().unwrap().unwrap().1,
            Message::Hello(Bytes::new())
        );
    }

    #[test]
    fn malformed_body_is_per_message() {
        // A barrier with a body is framed fine but invalid; the next message decodes.
        let mut f = Framer::new();
        f.extend_from_slice(&[&[1u8, 18, 0, 9, 0, 0, 0, 5, 0][..], HELLO].concat());
        let bad = f.next_message().unwrap().unwrap().unwrap_err();
        assert_eq!(
            bad.error.ofp_error(),
            ErrorType::BadRequest(BadRequestCode::BadLen)
        );
        assert!(f.next_message().unwrap().unwrap().is_ok());
    }

    #[test]
    fn short_header_length_is_fatal_and_sticky() {
        let mut f = Framer::new();
        f.extend_from_slice(&[1, 0, 0, 4, 0, 0, 0, 1]);
        let e = f.next_frame().unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::HeaderLength { found: 4 });
        assert!(e.is_fatal());
        f.extend_from_slice(HELLO);
        assert_eq!(f.next_frame().unwrap_err(), e);
        assert!(f.next_message().is_err());
    }

    #[test]
    fn zero_length_header_does_not_loop() {
        let mut f = Framer::new();
        f.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 1]);
        assert!(f.next_frame().is_err());
    }

    #[test]
    fn maximum_frame_size() {
        let mut f = Framer::with_max_frame_len(64);
        f.extend_from_slice(&[1, 2, 0, 65, 0, 0, 0, 1]);
        let e = f.next_frame().unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::FrameTooLarge { max: 64, found: 65 }
        );
        let mut f = Framer::with_max_frame_len(64);
        let mut echo = vec![1u8, 2, 0, 64, 0, 0, 0, 1];
        echo.resize(64, 7);
        f.extend_from_slice(&echo);
        assert_eq!(f.next_frame().unwrap().unwrap().len(), 64);
    }

    #[test]
    fn frames_are_zero_copy_from_the_buffer() {
        let mut f = Framer::new();
        f.extend_from_slice(ECHO);
        let frame = f.next_frame().unwrap().unwrap();
        let (_, m) = Message::decode(&frame).unwrap();
        let Message::EchoRequest(data) = m else {
            panic!()
        };
        assert_eq!(data.as_ptr(), frame[8..].as_ptr());
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn tokio_codec() {
        use tokio_util::codec::{Decoder, Encoder};
        let mut c = OfpCodec::new();
        let mut buf = BytesMut::new();
        c.encode((7, Message::BarrierRequest), &mut buf).unwrap();
        c.encode((8, &Message::EchoReply(Bytes::from_static(b"x"))), &mut buf)
            .unwrap();
        buf.extend_from_slice(&[4, 2, 0, 8, 0, 0, 0, 9]);
        buf.extend_from_slice(&HELLO[..5]);
        let (h, m) = c.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!((h.xid, m), (7, Message::BarrierRequest));
        let (h, m) = c.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(
            (h.xid, m),
            (8, Message::EchoReply(Bytes::from_static(b"x")))
        );
        assert!(c.decode(&mut buf).unwrap().unwrap().is_err());
        assert!(c.decode(&mut buf).unwrap().is_none());
        buf.clear();
        buf.extend_from_slice(&[1, 0, 0, 2, 0, 0, 0, 0]);
        assert!(matches!(c.decode(&mut buf), Err(CodecError::Framing(_))));
        let too_big = Message::EchoRequest(Bytes::from(vec![0; 70_000]));
        assert!(matches!(
            c.encode((1, too_big), &mut BytesMut::new()),
            Err(CodecError::Encode(_))
        ));
    }
}
