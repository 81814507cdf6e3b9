//! The bounded cursor every decoder in this crate reads through.
//!
//! A [`Reader`] walks a byte slice and cannot overrun it: every read checks the remaining
//! length first and fails with a [`DecodeError`] that names the message type, the field
//! and the offset (counted from the start of the OpenFlow message). When the input is a
//! [`Bytes`], payloads are handed out as zero-copy slices of it.

use crate::error::{DecodeError, DecodeErrorKind};
use crate::header::MessageType;
use bytes::Bytes;

/// A cursor over one OpenFlow message (or a part of one) that cannot overrun its input.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    /// The whole input; `pos..end` is what is left to read.
    data: &'a [u8],
    /// The same input as `Bytes`, when the caller has it: payloads are sliced from it.
    src: Option<&'a Bytes>,
    pos: usize,
    end: usize,
    /// The message being decoded, for error context.
    msg: MessageType,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message held in `Bytes` (payloads are zero-copy slices).
    #[inline]
    pub(crate) fn from_bytes(src: &'a Bytes, msg: MessageType) -> Self {
        Reader {
            data: src.as_ref(),
            src: Some(src),
            pos: 0,
            end: src.len(),
            msg,
        }
    }

    /// A reader over a byte slice (payloads are copied).
    #[inline]
    pub(crate) fn from_slice(data: &'a [u8], msg: MessageType) -> Self {
        Reader {
            data,
            src: None,
            pos: 0,
            end: data.len(),
            msg,
        }
    }

    /// The message type this reader reports in its errors.
    #[inline]
    pub(crate) fn msg(&self) -> MessageType {
        self.msg
    }

    /// Offset of the next byte, from the start of the input.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    /// Bytes left to read.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// True when nothing is left.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// An error about `field` at the current offset.
    #[cold]
    #[inline(never)]
    pub(crate) fn error(&self, field: &'static str, kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(self.msg, field, self.pos, kind)
    }

    /// An error about `field` at `offset`.
    #[cold]
    #[inline(never)]
    pub(crate) fn error_at(
        &self,
        field: &'static str,
        offset: usize,
        kind: DecodeErrorKind,
    ) -> DecodeError {
        DecodeError::new(self.msg, field, offset, kind)
    }

    /// Take the next `n` bytes as a slice, or fail with `Truncated`.
    #[inline]
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let taken = start
            .checked_add(n)
            .filter(|&end| end <= self.end)
            .and_then(|end| Some((end, self.data.get(start..end)?)));
        match taken {
            Some((end, s)) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(self.truncated(n, field)),
        }
    }

    /// The error of a read of `n` bytes past the end (the cold path of [`Reader::take`]).
    #[cold]
    #[inline(never)]
    fn truncated(&self, n: usize, field: &'static str) -> DecodeError {
        self.error(
            field,
            DecodeErrorKind::Truncated {
                needed: n,
                available: self.remaining(),
            },
        )
    }

    /// Read a fixed-size array.
    #[inline]
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    /// Read a fixed-size block behind one bounds check, for decoding its fields at constant
    /// offsets ([`Fixed`]).
    #[inline]
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<Fixed<N>, DecodeError> {
        self.array(field).map(Fixed)
    }

    /// The next `N` bytes, if present, without consuming them.
    #[inline]
    pub(crate) fn peek_array<const N: usize>(&self) -> Option<[u8; N]> {
        let end = self.pos.checked_add(N).filter(|&end| end <= self.end)?;
        self.data.get(self.pos..end)?.try_into().ok()
    }

    /// What is left to read, as a slice (not consumed).
    #[inline(always)]
    pub(crate) fn rest_slice(&self) -> &'a [u8] {
        self.data.get(self.pos..self.end).unwrap_or_default()
    }

    /// The input up to this reader's end: what was read before [`Reader::rest_slice`], then
    /// it.
    #[inline(always)]
    pub(crate) fn through_end(&self) -> &'a [u8] {
        self.data.get(..self.end).unwrap_or_default()
    }

    /// Consume `n` bytes of [`Reader::rest_slice`] (never moves past the end).
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = self.pos.saturating_add(n).min(self.end);
    }

    /// Read one byte.
    #[inline]
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// Read a big-endian `u16`.
    #[inline]
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    /// Read a big-endian `u32`.
    #[inline]
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    /// Read a big-endian `u64`.
    #[inline]
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Skip `n` bytes (padding), which must be present.
    #[inline]
    pub(crate) fn skip(&mut self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        self.take(n, field).map(|_| ())
    }

    /// Take the next `n` bytes as `Bytes` (a zero-copy slice when the input is `Bytes`).
    #[inline]
    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        let s = self.take(n, field)?;
        Ok(match self.src {
            Some(src) => src.slice(start..start + n),
            None => Bytes::copy_from_slice(s),
        })
    }

    /// Take everything left as `Bytes`.
    #[inline]
    pub(crate) fn rest(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        self.bytes(self.remaining(), field)
    }

    /// Split off the next `n` bytes as a reader of their own (offsets stay relative to the
    /// start of the whole input); this reader moves past them.
    #[inline]
    pub(crate) fn sub(&mut self, n: usize, field: &'static str) -> Result<Reader<'a>, DecodeError> {
        let start = self.pos;
        self.take(n, field)?;
        Ok(Reader {
            data: self.data,
            src: self.src,
            pos: start,
            end: start + n,
            msg: self.msg,
        })
    }

    /// Peek at a big-endian `u16` `at` bytes ahead without consuming anything.
    #[inline]
    pub(crate) fn peek_u16(&self, at: usize, field: &'static str) -> Result<u16, DecodeError> {
        let mut probe = self.clone();
        probe.skip(at, field)?;
        probe.u16(field)
    }

    /// Fail unless the input is fully consumed.
    #[inline]
    pub(crate) fn finish(&self, field: &'static str) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(
                field,
                DecodeErrorKind::TrailingBytes {
                    count: self.remaining(),
                },
            ))
        }
    }
}

/// A fixed-size block read in one piece, whose big-endian fields are read at constant
/// offsets: an offset past the block fails to compile, so no read can panic.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fixed<const N: usize>(pub(crate) [u8; N]);

impl<const N: usize> Fixed<N> {
    /// An all-zero block, to fill with the `set_*` methods and write in one piece.
    #[inline(always)]
    pub(crate) const fn zeroed() -> Self {
        Fixed([0u8; N])
    }

    /// Put `v` at `AT`.
    #[inline(always)]
    pub(crate) fn set_u8<const AT: usize>(&mut self, v: u8) {
        const { assert!(AT < N) };
        self.0[AT] = v;
    }

    /// Put `v` big-endian at `AT`.
    #[inline(always)]
    pub(crate) fn set_u16<const AT: usize>(&mut self, v: u16) {
        self.set_bytes::<AT, 2>(v.to_be_bytes());
    }

    /// Put `v` big-endian at `AT`.
    #[inline(always)]
    pub(crate) fn set_u32<const AT: usize>(&mut self, v: u32) {
        self.set_bytes::<AT, 4>(v.to_be_bytes());
    }

    /// Put `v` big-endian at `AT`.
    #[inline(always)]
    pub(crate) fn set_u64<const AT: usize>(&mut self, v: u64) {
        self.set_bytes::<AT, 8>(v.to_be_bytes());
    }

    /// Put `M` bytes at `AT`.
    #[inline(always)]
    pub(crate) fn set_bytes<const AT: usize, const M: usize>(&mut self, v: [u8; M]) {
        const { assert!(AT + M <= N) };
        let mut i = 0;
        while i < M {
            self.0[AT + i] = v[i];
            i += 1;
        }
    }

    /// The byte at `AT`.
    #[inline(always)]
    pub(crate) fn u8<const AT: usize>(&self) -> u8 {
        const { assert!(AT < N) };
        self.0[AT]
    }

    /// The big-endian `u16` at `AT`.
    #[inline(always)]
    pub(crate) fn u16<const AT: usize>(&self) -> u16 {
        const { assert!(AT + 2 <= N) };
        u16::from_be_bytes([self.0[AT], self.0[AT + 1]])
    }

    /// The big-endian `u32` at `AT`.
    #[inline(always)]
    pub(crate) fn u32<const AT: usize>(&self) -> u32 {
        const { assert!(AT + 4 <= N) };
        u32::from_be_bytes([self.0[AT], self.0[AT + 1], self.0[AT + 2], self.0[AT + 3]])
    }

    /// The big-endian `u64` at `AT`.
    #[inline(always)]
    pub(crate) fn u64<const AT: usize>(&self) -> u64 {
        const { assert!(AT + 8 <= N) };
        u64::from_be_bytes([
            self.0[AT],
            self.0[AT + 1],
            self.0[AT + 2],
            self.0[AT + 3],
            self.0[AT + 4],
            self.0[AT + 5],
            self.0[AT + 6],
            self.0[AT + 7],
        ])
    }

    /// The `M` bytes at `AT`.
    #[inline(always)]
    pub(crate) fn bytes<const AT: usize, const M: usize>(&self) -> [u8; M] {
        const { assert!(AT + M <= N) };
        let mut out = [0u8; M];
        let mut i = 0;
        while i < M {
            out[i] = self.0[AT + i];
            i += 1;
        }
        out
    }

    /// The six bytes at `AT` (a MAC address).
    #[inline(always)]
    pub(crate) fn mac<const AT: usize>(&self) -> [u8; 6] {
        const { assert!(AT + 6 <= N) };
        [
            self.0[AT],
            self.0[AT + 1],
            self.0[AT + 2],
            self.0[AT + 3],
            self.0[AT + 4],
            self.0[AT + 5],
        ]
    }
}

/// Decode a NUL-padded fixed-size string field: the bytes up to the first NUL (all of them
/// if there is none), as UTF-8 with invalid sequences replaced by U+FFFD, cut at a
/// character boundary so that its UTF-8 form still fits the field. The result never
/// contains NUL, so [`put_fixed_str`] writes it back whole and it decodes to itself.
pub(crate) fn fixed_str(raw: &[u8]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let mut s = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned();
    if s.len() > raw.len() {
        let mut cut = raw.len();
        while cut > 0 && !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// Encode `s` into a NUL-padded field of `N` bytes. At most `N` bytes are kept (cut at a
/// character boundary, and at the first NUL if `s` has one); a string of exactly `N` bytes
/// fills the field without a terminating NUL, as a peer may send it.
pub(crate) fn put_fixed_str<const N: usize>(dst: &mut impl bytes::BufMut, s: &str) {
    let s = s.split('\0').next().unwrap_or_default();
    let mut out = [0u8; N];
    let mut cut = s.len().min(N);
    while cut > 0 && !s.is_char_boundary(cut) {
        cut -= 1;
    }
    if let (Some(dst_slice), Some(src_slice)) = (out.get_mut(..cut), s.as_bytes().get(..cut)) {
        dst_slice.copy_from_slice(src_slice);
    }
    dst.put_slice(&out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_never_overruns() {
        let data = Bytes::from_static(&[1, 2, 3]);
        let mut r = Reader::from_bytes(&data, MessageType::Hello);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        let e = r.u16("b").unwrap_err();
        assert_eq!(e.field, "b");
        assert_eq!(e.offset, 2);
        assert_eq!(
            e.kind,
            DecodeErrorKind::Truncated {
                needed: 2,
                available: 1
            }
        );
        // The failed read consumed nothing.
        assert_eq!(r.u8("c").unwrap(), 3);
        assert!(r.is_empty());
        assert!(r.u8("d").is_err());
    }

    #[test]
    fn sub_reader_keeps_absolute_offsets_and_bounds() {
        let data = Bytes::from_static(&[0, 1, 2, 3, 4, 5]);
        let mut r = Reader::from_bytes(&data, MessageType::Hello);
        r.skip(1, "pad").unwrap();
        let mut s = r.sub(2, "part").unwrap();
        assert_eq!(s.offset(), 1);
        assert_eq!(s.u8("x").unwrap(), 1);
        assert_eq!(s.u8("x").unwrap(), 2);
        let e = s.u8("x").unwrap_err();
        assert_eq!(e.offset, 3);
        assert_eq!(r.u8("y").unwrap(), 3);
        assert!(r.sub(10, "big").is_err());
    }

    #[test]
    fn bytes_are_zero_copy_slices() {
        let data = Bytes::from(vec![9u8; 32]);
        let mut r = Reader::from_bytes(&data, MessageType::Hello);
        r.skip(8, "h").unwrap();
        let b = r.rest("data").unwrap();
        assert_eq!(b.len(), 24);
        assert_eq!(b.as_ptr(), data[8..].as_ptr());
    }

    #[test]
    fn fixed_strings() {
        assert_eq!(fixed_str(b"eth0\0\0\0\0"), "eth0");
        assert_eq!(fixed_str(b"abcd"), "abcd");
        assert_eq!(fixed_str(b"ab\0d"), "ab");
        let mut v = Vec::new();
        put_fixed_str::<4>(&mut v, "abcdef");
        assert_eq!(v, b"abcd");
        let mut v = Vec::new();
        // 'é' is two bytes: a cut in its middle moves back.
        put_fixed_str::<4>(&mut v, "abcé");
        assert_eq!(v, b"abc\0");
        let mut v = Vec::new();
        put_fixed_str::<4>(&mut v, "a\0b");
        assert_eq!(v, b"a\0\0\0");
    }

    #[test]
    fn fixed_strings_are_stable_through_a_round_trip() {
        // Invalid UTF-8 grows when replaced by U+FFFD: the decoded value is cut to fit, so
        // it encodes whole and decodes to itself.
        for raw in [
            &[0x80u8; 4][..],
            &[b'a', b'b', b'c', 0xff][..],
            &[0xe2, 0x82, 0xac, b'x'][..],
            &[1, 1, 1, 1][..],
        ] {
            let s = fixed_str(raw);
            assert!(s.len() <= 4, "{s:?}");
            let mut v = Vec::new();
            put_fixed_str::<4>(&mut v, &s);
            assert_eq!(fixed_str(&v), s);
        }
    }
}
