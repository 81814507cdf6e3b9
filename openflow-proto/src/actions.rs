//! [`Actions`]: the action list of a flow_mod, a packet_out or a flow stats entry.

use crate::action::Action;
use crate::codec::Reader;
use crate::error::{DecodeError, EncodeError};
use crate::header::MessageType;
use bytes::{BufMut, Bytes};
use core::fmt;
use core::hash::{Hash, Hasher};
use core::iter::FusedIterator;

/// An OpenFlow 1.0 action list, as decoded from the wire or as built.
///
/// A list comes in one of three forms, which behave the same through this type's API:
///
/// - **As decoded, short**: [`crate::Message::decode`] checks a flow_mod's, packet_out's or
///   flow stats entry's actions as strictly as [`Action::decode_list`] does (with the same
///   errors) and keeps the bytes they arrived in. A list of at most 32 bytes of standard
///   actions (up to four 8-byte actions: the common case) is copied into the value itself:
///   no allocation, and no shared reference whose count every decode and drop would
///   update atomically.
/// - **As decoded, long**: a longer list, or one with a vendor action, is kept as a
///   zero-copy slice of the frame (a [`Bytes`]): its bytes are not copied, and a vendor
///   action's data is a slice of them too.
/// - **As built**: from a `Vec<Action>`, an array or an iterator of [`Action`]
///   (infallibly, without encoding anything). It is encoded action by action, and
///   [`crate::Message::encode`] fails with the same [`EncodeError`]s as
///   [`Action::encode_list`] for a vendor action that cannot be encoded.
///
/// A decoded list, short or long, decodes each action when iterated, and is encoded again
/// by copying its bytes as they are: the output is byte-for-byte the input, including
/// padding a peer left non-zero. Decoding a flow_mod therefore allocates nothing for its
/// actions. [`Actions::as_wire`] gives those bytes.
///
/// Equality and hashing are by the action sequence, whatever the form: a built list equals
/// the decoded list of its own encoding. Changing a decoded list ([`Actions::push`],
/// [`Extend`]) turns it into a built one.
///
/// # Example
///
/// ```
/// use bytes::Bytes;
/// use openflow_proto::{Action, Actions, FlowMod, Match, Message, PortNo};
///
/// // Built: from a Vec (or an array, or an iterator).
/// let actions = Actions::from(vec![Action::SetVlanVid(20), Action::output(PortNo(1))]);
/// assert_eq!(actions.len(), 2);
/// assert_eq!(actions.wire_len(), 16);
/// assert!(actions.as_wire().is_none());
/// let flow = FlowMod::add(Match::any(), 100, actions.clone());
///
/// // Decoded: the bytes of the frame, checked, decoded as they are iterated.
/// let frame = Message::FlowMod(flow).to_bytes(7)?;
/// let (_, msg) = Message::decode(&frame)?;
/// let Message::FlowMod(decoded) = msg else { unreachable!() };
/// assert_eq!(decoded.actions.as_wire(), Some(&frame[FlowMod::FIXED_LEN..]));
/// assert_eq!(decoded.actions, actions);
/// assert_eq!(decoded.actions, vec![Action::SetVlanVid(20), Action::output(PortNo(1))]);
/// let ports: Vec<PortNo> = decoded
///     .actions
///     .iter()
///     .filter_map(|a| match a {
///         Action::Output { port, .. } => Some(port),
///         _ => None,
///     })
///     .collect();
/// assert_eq!(ports, [PortNo(1)]);
/// assert_eq!(decoded.actions.to_string(), "mod_vlan_vid:20,output:1");
///
/// // Encoding it again gives the frame back exactly.
/// assert_eq!(Message::FlowMod(decoded).to_bytes(7)?, frame);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Actions(Repr);

#[derive(Clone)]
enum Repr {
    /// A short wire form held in place, every action standard and checked.
    Inline(Inline),
    /// The actions' wire form, every action checked by [`Action::check_list`].
    Wire(Bytes),
    /// Built by the user.
    Built(Vec<Action>),
}

/// The longest decoded list kept in place (four 8-byte actions, or two 16-byte ones):
/// `Actions` is then 40 bytes (32 with only the other two forms), and a `Message` stays
/// 128 bytes, which the compiler still moves without calling `memcpy`.
const INLINE_CAP: usize = 32;

/// A decoded list of at most [`INLINE_CAP`] bytes, all standard actions, checked: the
/// last `len` bytes of `bytes` (what comes before them is whatever preceded the list in
/// the message, copied along to make the copy one fixed-size move, and never read).
///
/// The bytes come first and the length after them (`repr(C)`); the length is one of five
/// values. The compiler gives `Repr` a tag byte of its own in front of `Inline` (so the
/// bytes sit at offset 1 of `Actions`, moved in unaligned wide loads and stores). Making
/// `Inline` 8-byte aligned instead puts the bytes at offset 0 and the variant in the
/// length's unused values, at the same size, but measured slower: a flow_mod decode
/// 17-18 ns against 21-22, 12 more instructions per flow_mod decode + encode and 17 more
/// per entry of a flow stats reply encode.
#[derive(Clone, Copy)]
#[repr(C)]
struct Inline {
    bytes: [u8; INLINE_CAP],
    /// At most [`INLINE_CAP`].
    len: InlineLen,
}

/// The length of an [`Inline`] list: standard actions are 8 or 16 bytes long, so a list
/// of them is a multiple of 8 bytes.
#[derive(Clone, Copy)]
#[repr(u8)]
enum InlineLen {
    L0 = 0,
    L8 = 8,
    L16 = 16,
    L24 = 24,
    L32 = 32,
}

impl InlineLen {
    #[inline(always)]
    fn new(len: usize) -> Option<InlineLen> {
        Some(match len {
            0 => InlineLen::L0,
            8 => InlineLen::L8,
            16 => InlineLen::L16,
            24 => InlineLen::L24,
            32 => InlineLen::L32,
            _ => return None,
        })
    }

    #[inline(always)]
    fn get(self) -> usize {
        usize::from(self as u8)
    }
}

const _: () = assert!(core::mem::size_of::<Actions>() == 40);

impl Inline {
    /// The list made of the last `len` bytes of `input`, if it fits.
    #[inline(always)]
    fn from_tail(input: &[u8], len: usize) -> Option<Inline> {
        let ilen = InlineLen::new(len)?;
        let bytes = match input.last_chunk::<INLINE_CAP>() {
            Some(tail) => *tail,
            None => {
                let mut bytes = [0; INLINE_CAP];
                let list = input.get(input.len().checked_sub(len)?..)?;
                bytes.get_mut(INLINE_CAP - len..)?.copy_from_slice(list);
                bytes
            }
        };
        Some(Inline { bytes, len: ilen })
    }

    #[inline(always)]
    fn as_slice(&self) -> &[u8] {
        self.bytes
            .get(INLINE_CAP.saturating_sub(self.len.get())..)
            .unwrap_or_default()
    }
}

impl Actions {
    /// An empty list (drop).
    pub const fn new() -> Self {
        Actions(Repr::Built(Vec::new()))
    }

    /// Decode the action list filling what is left of `r`: checked completely, with the
    /// errors of [`Action::decode_list`], and kept as its bytes (in place when short and
    /// standard, else a zero-copy slice when the reader reads a `Bytes`).
    #[inline]
    pub(crate) fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Actions, DecodeError> {
        let rest = r.rest_slice();
        if rest.is_empty() {
            return Ok(Actions::new());
        }
        if Action::all_standard(rest) {
            if let Some(inline) = Inline::from_tail(r.through_end(), rest.len()) {
                r.consume(rest.len());
                return Ok(Actions(Repr::Inline(inline)));
            }
        } else {
            Action::check_list(&mut r.clone(), field)?;
        }
        Ok(Actions(Repr::Wire(r.rest(field)?)))
    }

    /// [`Actions::read`] of the bytes of `frame` (a whole message) from `start` on, for the
    /// decoder's fast path; error offsets count from the start of the message.
    #[inline]
    pub(crate) fn read_frame_tail(
        frame: &Bytes,
        start: usize,
        msg: MessageType,
        field: &'static str,
    ) -> Result<Actions, DecodeError> {
        let rest = frame.get(start..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(Actions::new());
        }
        if Action::all_standard(rest) {
            if let Some(inline) = Inline::from_tail(frame, rest.len()) {
                return Ok(Actions(Repr::Inline(inline)));
            }
        } else {
            let mut r = Reader::from_bytes(frame, msg);
            r.consume(start);
            Action::check_list(&mut r, field)?;
        }
        Ok(Actions(Repr::Wire(frame.slice(start..))))
    }

    /// The list of the bytes of `frame` from `start` on when [`Actions::read_frame_tail`]
    /// would keep it in place (not empty, at most 32 bytes, all standard actions); `None`
    /// for every other list, valid or not.
    #[inline(always)]
    pub(crate) fn inline_frame_tail(frame: &[u8], start: usize) -> Option<Actions> {
        let rest = frame.get(start..)?;
        if rest.is_empty() || !Action::all_standard(rest) {
            return None;
        }
        Some(Actions(Repr::Inline(Inline::from_tail(frame, rest.len())?)))
    }

    /// Decode a whole action list from `bytes`, as [`Action::decode_list`] checks it, and
    /// keep it as those bytes: copied in place when short (at most 32 bytes of standard
    /// actions), else as a reference to `bytes`, not a copy.
    pub fn decode(bytes: &Bytes) -> Result<Actions, DecodeError> {
        let mut r = Reader::from_bytes(bytes, MessageType::FlowMod);
        Actions::read(&mut r, "actions")
    }

    /// The actions, decoded one by one (by value) as the iterator advances.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.0 {
            Repr::Inline(inline) => IterRepr::Wire {
                bytes: inline.as_slice(),
                src: None,
                pos: 0,
            },
            Repr::Wire(bytes) => IterRepr::Wire {
                bytes,
                src: Some(bytes),
                pos: 0,
            },
            Repr::Built(v) => IterRepr::Built(v.iter()),
        })
    }

    /// The number of actions (for a decoded list, counted by walking the action headers).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Inline(inline) => wire_count(inline.as_slice()),
            Repr::Wire(bytes) => wire_count(bytes),
            Repr::Built(v) => v.len(),
        }
    }

    /// True when there is no action (the flow drops its packets).
    pub fn is_empty(&self) -> bool {
        self.wire_len() == 0
    }

    /// True if the list holds `action`.
    pub fn contains(&self, action: &Action) -> bool {
        match &self.0 {
            Repr::Built(v) => v.contains(action),
            Repr::Inline(_) | Repr::Wire(_) => self.iter().any(|a| a == *action),
        }
    }

    /// The actions as a new `Vec`.
    pub fn to_vec(&self) -> Vec<Action> {
        match &self.0 {
            Repr::Built(v) => v.clone(),
            Repr::Inline(_) | Repr::Wire(_) => self.iter().collect(),
        }
    }

    /// The actions as a `Vec` (without copying a built list).
    pub fn into_vec(self) -> Vec<Action> {
        match self.0 {
            Repr::Built(v) => v,
            Repr::Inline(_) | Repr::Wire(_) => self.iter().collect(),
        }
    }

    /// Append an action. A decoded list is decoded into a built one first (it then no
    /// longer re-encodes byte-exactly: padding is written as zeros).
    pub fn push(&mut self, action: Action) {
        self.extend([action]);
    }

    /// The wire bytes of a decoded list, exactly as received (padding included), whether
    /// kept in place or as a slice of the frame; `None` for a built list.
    #[inline]
    pub fn as_wire(&self) -> Option<&[u8]> {
        match &self.0 {
            Repr::Inline(inline) => Some(inline.as_slice()),
            Repr::Wire(bytes) => Some(bytes),
            Repr::Built(_) => None,
        }
    }

    /// The length of the list on the wire (saturating for a built list too long to encode).
    #[inline]
    pub fn wire_len(&self) -> usize {
        match &self.0 {
            Repr::Inline(inline) => inline.len.get(),
            Repr::Wire(bytes) => bytes.len(),
            Repr::Built(v) => Action::list_len(v),
        }
    }

    /// Check that every action can be encoded ([`Action::check_encodable`]); a decoded list
    /// always can.
    pub fn check_encodable(&self) -> Result<(), EncodeError> {
        match &self.0 {
            Repr::Built(v) => v.iter().try_for_each(Action::check_encodable),
            Repr::Inline(_) | Repr::Wire(_) => Ok(()),
        }
    }

    /// Write the list, returning its length: a decoded list as its bytes, a built one action
    /// by action. Nothing is written if an action cannot be encoded or the list exceeds what
    /// a 16-bit length can carry (as [`Action::encode_list`]).
    pub fn encode(&self, dst: &mut impl BufMut) -> Result<usize, EncodeError> {
        match &self.0 {
            Repr::Built(v) => Action::encode_list(v, dst),
            Repr::Inline(_) | Repr::Wire(_) => {
                let bytes = self.as_wire().unwrap_or_default();
                dst.put_slice(bytes);
                Ok(bytes.len())
            }
        }
    }

    /// Write the list in one pass, checking each built action as it goes: for a caller that
    /// has already bounded the list's total length (by the message's) and discards what was
    /// written on error.
    #[inline]
    pub(crate) fn put(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        match &self.0 {
            Repr::Inline(inline) => {
                dst.put_slice(inline.as_slice());
                Ok(())
            }
            Repr::Wire(bytes) => {
                dst.put_slice(bytes);
                Ok(())
            }
            Repr::Built(v) => Action::put_list(v, dst),
        }
    }
}

/// The number of actions of a checked wire list, walking their headers.
fn wire_count(mut s: &[u8]) -> usize {
    let mut n = 0;
    while let Some([_, _, l0, l1]) = s.first_chunk::<4>().copied() {
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        // Checked at decode time: never 0. Stop rather than loop if it were.
        if len == 0 {
            break;
        }
        n += 1;
        s = s.get(len..).unwrap_or_default();
    }
    n
}

/// The next action of a checked wire list `bytes` at `*pos`, moving `*pos` past it. `src`
/// is `bytes` as `Bytes` when the list has it (a vendor action's data is then a slice of
/// it, else a copy).
#[inline]
fn next_wire(bytes: &[u8], src: Option<&Bytes>, pos: &mut usize) -> Option<Action> {
    let rest = bytes.get(*pos..)?;
    if rest.is_empty() {
        return None;
    }
    if let Some((action, len)) = Action::standard(rest) {
        *pos += len;
        return Some(action);
    }
    // A vendor action, through the general decoder.
    let mut r = match src {
        Some(src) => Reader::from_bytes(src, MessageType::FlowMod),
        None => Reader::from_slice(bytes, MessageType::FlowMod),
    };
    r.consume(*pos);
    match Action::read_one_general(&mut r, "actions") {
        Ok(action) => {
            *pos = r.offset();
            Some(action)
        }
        // The list was checked when decoded: this cannot happen. End the list.
        Err(_) => {
            *pos = bytes.len();
            None
        }
    }
}

/// The size hint of a wire list with `remaining` bytes left: every action is at least 8.
fn wire_size_hint(remaining: usize) -> (usize, Option<usize>) {
    (usize::from(remaining > 0), Some(remaining.div_ceil(8)))
}

/// An iterator over the actions of an [`Actions`] (by value), from [`Actions::iter`].
#[derive(Clone, Debug)]
pub struct Iter<'a>(IterRepr<'a>);

#[derive(Clone, Debug)]
enum IterRepr<'a> {
    /// Either decoded form: `src` is `bytes` as `Bytes` for a slice of the frame.
    Wire {
        bytes: &'a [u8],
        src: Option<&'a Bytes>,
        pos: usize,
    },
    Built(core::slice::Iter<'a, Action>),
}

impl Iterator for Iter<'_> {
    type Item = Action;

    #[inline]
    fn next(&mut self) -> Option<Action> {
        match &mut self.0 {
            IterRepr::Wire { bytes, src, pos } => next_wire(bytes, *src, pos),
            IterRepr::Built(it) => it.next().cloned(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::Wire { bytes, pos, .. } => wire_size_hint(bytes.len().saturating_sub(*pos)),
            IterRepr::Built(it) => it.size_hint(),
        }
    }
}

impl FusedIterator for Iter<'_> {}

/// An owning iterator over the actions of an [`Actions`].
#[derive(Clone, Debug)]
pub struct IntoIter(IntoIterRepr);

#[derive(Clone)]
enum IntoIterRepr {
    Inline { inline: Inline, pos: usize },
    Wire { bytes: Bytes, pos: usize },
    Built(std::vec::IntoIter<Action>),
}

impl fmt::Debug for IntoIterRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntoIterRepr::Inline { inline, pos } => f
                .debug_struct("Inline")
                .field("bytes", &inline.as_slice())
                .field("pos", pos)
                .finish(),
            IntoIterRepr::Wire { bytes, pos } => f
                .debug_struct("Wire")
                .field("bytes", bytes)
                .field("pos", pos)
                .finish(),
            IntoIterRepr::Built(it) => f.debug_tuple("Built").field(it).finish(),
        }
    }
}

impl Iterator for IntoIter {
    type Item = Action;

    #[inline]
    fn next(&mut self) -> Option<Action> {
        match &mut self.0 {
            IntoIterRepr::Inline { inline, pos } => next_wire(inline.as_slice(), None, pos),
            IntoIterRepr::Wire { bytes, pos } => next_wire(bytes, Some(bytes), pos),
            IntoIterRepr::Built(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterRepr::Inline { inline, pos } => {
                wire_size_hint(inline.len.get().saturating_sub(*pos))
            }
            IntoIterRepr::Wire { bytes, pos } => wire_size_hint(bytes.len().saturating_sub(*pos)),
            IntoIterRepr::Built(it) => it.size_hint(),
        }
    }
}

impl FusedIterator for IntoIter {}

impl<'a> IntoIterator for &'a Actions {
    type Item = Action;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Actions {
    type Item = Action;
    type IntoIter = IntoIter;

    fn into_iter(self) -> IntoIter {
        IntoIter(match self.0 {
            Repr::Inline(inline) => IntoIterRepr::Inline { inline, pos: 0 },
            Repr::Wire(bytes) => IntoIterRepr::Wire { bytes, pos: 0 },
            Repr::Built(v) => IntoIterRepr::Built(v.into_iter()),
        })
    }
}

impl Default for Actions {
    fn default() -> Self {
        Actions::new()
    }
}

impl From<Vec<Action>> for Actions {
    fn from(v: Vec<Action>) -> Self {
        Actions(Repr::Built(v))
    }
}

impl<const N: usize> From<[Action; N]> for Actions {
    fn from(a: [Action; N]) -> Self {
        Actions(Repr::Built(Vec::from(a)))
    }
}

impl From<&[Action]> for Actions {
    fn from(a: &[Action]) -> Self {
        Actions(Repr::Built(a.to_vec()))
    }
}

impl From<Actions> for Vec<Action> {
    fn from(a: Actions) -> Self {
        a.into_vec()
    }
}

impl FromIterator<Action> for Actions {
    fn from_iter<I: IntoIterator<Item = Action>>(iter: I) -> Self {
        Actions(Repr::Built(iter.into_iter().collect()))
    }
}

/// Appends to the list; a decoded list is decoded into a built one first.
impl Extend<Action> for Actions {
    fn extend<I: IntoIterator<Item = Action>>(&mut self, iter: I) {
        match &mut self.0 {
            Repr::Built(v) => v.extend(iter),
            Repr::Inline(_) | Repr::Wire(_) => {
                let mut v = self.to_vec();
                v.extend(iter);
                self.0 = Repr::Built(v);
            }
        }
    }
}

/// The same actions in the same order: whether from the wire (in place or not) or built,
/// and whatever the padding on the wire.
impl PartialEq for Actions {
    fn eq(&self, other: &Actions) -> bool {
        match (&self.0, &other.0) {
            (Repr::Built(a), Repr::Built(b)) => a == b,
            (_, Repr::Built(b)) => *self == b[..],
            (Repr::Built(a), _) => *other == a[..],
            _ => self.as_wire() == other.as_wire() || self.iter().eq(other.iter()),
        }
    }
}

impl Eq for Actions {}

impl PartialEq<[Action]> for Actions {
    fn eq(&self, other: &[Action]) -> bool {
        match &self.0 {
            Repr::Built(v) => v[..] == *other,
            Repr::Inline(_) | Repr::Wire(_) => {
                let mut mine = self.iter();
                other.iter().all(|b| mine.next().as_ref() == Some(b)) && mine.next().is_none()
            }
        }
    }
}
impl PartialEq<Vec<Action>> for Actions {
    fn eq(&self, other: &Vec<Action>) -> bool {
        *self == other[..]
    }
}

impl<const N: usize> PartialEq<[Action; N]> for Actions {
    fn eq(&self, other: &[Action; N]) -> bool {
        *self == other[..]
    }
}

impl PartialEq<Actions> for Vec<Action> {
    fn eq(&self, other: &Actions) -> bool {
        *other == self[..]
    }
}

impl PartialEq<Actions> for [Action] {
    fn eq(&self, other: &Actions) -> bool {
        *other == *self
    }
}

/// Hashes the action sequence, consistently with [`PartialEq`].
impl Hash for Actions {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut n = 0usize;
        for a in self.iter() {
            a.hash(state);
            n += 1;
        }
        state.write_usize(n);
    }
}

/// A list of the actions (`[Output { .. }, StripVlan]`), whatever the form.
impl fmt::Debug for Actions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Actions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Actions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<Action>::deserialize(deserializer).map(Actions::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::tests::all_actions;
    use crate::error::{DecodeErrorKind, Expected};
    use crate::port::PortNo;
    use crate::MacAddr;
    use core::net::Ipv4Addr;
    use std::collections::hash_map::DefaultHasher;

    fn wire_of(actions: &[Action]) -> Bytes {
        let mut buf = Vec::new();
        Action::encode_list(actions, &mut buf).unwrap();
        Bytes::from(buf)
    }

    fn hash_of(a: &Actions) -> u64 {
        let mut h = DefaultHasher::new();
        a.hash(&mut h);
        h.finish()
    }

    fn form(a: &Actions) -> &'static str {
        match a.0 {
            Repr::Inline(_) => "inline",
            Repr::Wire(_) => "wire",
            Repr::Built(_) => "built",
        }
    }

    #[test]
    fn short_standard_lists_are_kept_in_place_up_to_the_cap() {
        assert_eq!(INLINE_CAP, 32);
        // Exactly 32 bytes: four 8-byte actions, 16 + 16, or 16 + 8 + 8.
        let four = vec![
            Action::SetVlanVid(20),
            Action::SetVlanPcp(5),
            Action::SetTpDst(53),
            Action::output(PortNo(1)),
        ];
        let macs = vec![
            Action::SetDlSrc(MacAddr([1, 2, 3, 4, 5, 6])),
            Action::SetDlDst(MacAddr([6, 5, 4, 3, 2, 1])),
        ];
        let nat = vec![
            Action::SetDlDst(MacAddr([6, 5, 4, 3, 2, 1])),
            Action::SetNwDst(Ipv4Addr::new(10, 0, 0, 9)),
            Action::output(PortNo(2)),
        ];
        for acts in [&four, &macs, &nat] {
            let bytes = wire_of(acts);
            assert_eq!(bytes.len(), INLINE_CAP);
            // On its own, and at the end of a longer input (the flow_mod path).
            let mut longer = vec![0xee; 72];
            longer.extend_from_slice(&bytes);
            let longer = Bytes::from(longer);
            let tail = Actions::read_frame_tail(&longer, 72, MessageType::FlowMod, "x").unwrap();
            for a in [Actions::decode(&bytes).unwrap(), tail] {
                assert_eq!(form(&a), "inline");
                assert_eq!(a, *acts);
                assert_eq!(a.len(), acts.len());
                assert_eq!(a.wire_len(), INLINE_CAP);
                assert_eq!(a.as_wire(), Some(&bytes[..]));
                // Not a reference to the input: a copy.
                assert_ne!(a.as_wire().map(<[u8]>::as_ptr), Some(bytes.as_ptr()));
                let mut out = Vec::new();
                assert_eq!(a.encode(&mut out).unwrap(), INLINE_CAP);
                assert_eq!(out, bytes[..]);
            }
        }
        // 40 bytes (one more 8-byte action): a slice of the input.
        for acts in [&four, &macs] {
            let mut more = acts.clone();
            more.push(Action::StripVlan);
            let bytes = wire_of(&more);
            assert_eq!(bytes.len(), INLINE_CAP + 8);
            let a = Actions::decode(&bytes).unwrap();
            assert_eq!(form(&a), "wire");
            assert_eq!(a.as_wire().map(<[u8]>::as_ptr), Some(bytes.as_ptr()));
            assert_eq!(a, more);
            assert_eq!(a.len(), acts.len() + 1);
        }
        // A short list with a vendor action stays a slice (its data a slice too).
        let vendor = vec![
            Action::Vendor {
                vendor: 0x2320,
                data: Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0]),
            },
            Action::output(PortNo(1)),
        ];
        let bytes = wire_of(&vendor);
        let a = Actions::decode(&bytes).unwrap();
        assert_eq!(form(&a), "wire");
        assert_eq!(a, vendor);
        // One 8-byte action, and the empty list (built: nothing to keep).
        let one = Actions::decode(&wire_of(&[Action::StripVlan])).unwrap();
        assert_eq!(form(&one), "inline");
        assert_eq!(one, [Action::StripVlan]);
        assert_eq!(form(&Actions::decode(&Bytes::new()).unwrap()), "built");
        // The size the inline form costs.
        assert!(core::mem::size_of::<Actions>() <= 40);
        assert!(core::mem::size_of::<crate::Message>() <= 128);
    }

    #[test]
    fn the_three_forms_are_equal_and_hash_alike() {
        let acts = vec![
            Action::SetDlDst(MacAddr([6, 5, 4, 3, 2, 1])),
            Action::SetNwDst(Ipv4Addr::new(10, 0, 0, 9)),
            Action::output(PortNo(3)),
        ];
        let bytes = wire_of(&acts);
        let inline = Actions::decode(&bytes).unwrap();
        let wire = Actions(Repr::Wire(bytes.clone()));
        let built = Actions::from(acts.clone());
        assert_eq!(
            [form(&inline), form(&wire), form(&built)],
            ["inline", "wire", "built"]
        );
        let all = [&inline, &wire, &built];
        for a in all {
            for b in all {
                assert_eq!(a, b, "{} == {}", form(a), form(b));
                assert_eq!(hash_of(a), hash_of(b), "{} and {}", form(a), form(b));
            }
            assert_eq!(*a, acts);
            assert_eq!(acts, *a);
            assert_eq!(a.len(), 3);
            assert_eq!(a.wire_len(), 32);
            assert_eq!(a.iter().collect::<Vec<_>>(), acts);
            assert_eq!(a.clone().into_iter().collect::<Vec<_>>(), acts);
            let mut out = Vec::new();
            a.put(&mut out).unwrap();
            assert_eq!(out, bytes[..]);
        }
        // With different padding: equal as actions, in every pairing of forms.
        let mut padded = bytes.to_vec();
        padded[12..16].copy_from_slice(&[9, 9, 9, 9]);
        let padded = Bytes::from(padded);
        let inline_padded = Actions::decode(&padded).unwrap();
        let wire_padded = Actions(Repr::Wire(padded));
        for a in [&inline_padded, &wire_padded] {
            for b in all {
                assert_eq!(a, b);
                assert_eq!(b, a);
                assert_eq!(hash_of(a), hash_of(b));
            }
        }
        // Unequal to a prefix or a different list, in every form.
        let fewer = Actions::decode(&wire_of(&acts[..2])).unwrap();
        let other = Actions::decode(&wire_of(&[Action::output(PortNo(4))])).unwrap();
        for a in all {
            assert_ne!(*a, fewer);
            assert_ne!(fewer, *a);
            assert_ne!(*a, other);
            assert_ne!(*a, acts[..2]);
            assert!(a.contains(&Action::output(PortNo(3))));
            assert!(!a.contains(&Action::output(PortNo(4))));
        }
    }

    #[test]
    fn an_inline_list_keeps_non_zero_padding_through_clone_and_messages() {
        // mod_dl_src with its 6 pad bytes non-zero, then output:1 (24 bytes).
        let mut raw = wire_of(&[
            Action::SetDlSrc(MacAddr([2, 0, 0, 0, 0, 1])),
            Action::output(PortNo(1)),
        ])
        .to_vec();
        raw[10..16].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        let raw = Bytes::from(raw);
        let a = Actions::decode(&raw).unwrap();
        assert_eq!(form(&a), "inline");
        let copy = a.clone();
        drop(a);
        assert_eq!(form(&copy), "inline");
        assert_eq!(copy.as_wire(), Some(&raw[..]));
        let mut out = Vec::new();
        assert_eq!(copy.encode(&mut out).unwrap(), raw.len());
        assert_eq!(out, raw[..]);
        let mut it = copy.clone().into_iter();
        assert_eq!(it.size_hint(), (1, Some(3)));
        assert_eq!(
            it.next(),
            Some(Action::SetDlSrc(MacAddr([2, 0, 0, 0, 0, 1])))
        );
        assert_eq!(it.next(), Some(Action::output(PortNo(1))));
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));
        assert!(format!("{it:?}").contains("Inline"));

        // Through a whole flow_mod, on both decoder paths and from a slice.
        let fm = crate::FlowMod::add(crate::Match::any(), 9, copy.clone());
        let frame = crate::Message::FlowMod(fm).to_bytes(3).unwrap();
        assert_eq!(frame[crate::FlowMod::FIXED_LEN..], raw[..]);
        let mut r = Reader::from_bytes(&frame, MessageType::FlowMod);
        r.consume(crate::FlowMod::FIXED_LEN);
        let decoded = [
            crate::Message::decode(&frame).unwrap(),
            crate::Message::decode_slice(&frame).unwrap(),
        ];
        for (h, m) in decoded {
            let crate::Message::FlowMod(back) = &m else {
                panic!("not a flow_mod: {m:?}")
            };
            assert_eq!(form(&back.actions), "inline");
            assert_eq!(back.actions, copy);
            assert_eq!(m.to_bytes(h.xid).unwrap(), frame);
        }
        let tail =
            Actions::read_frame_tail(&frame, crate::FlowMod::FIXED_LEN, MessageType::FlowMod, "x");
        assert_eq!(form(&tail.unwrap()), "inline");
        let read = Actions::read(&mut r, "x").unwrap();
        assert_eq!(form(&read), "inline");
        assert!(r.is_empty());
        // Changing it makes a built list that writes zeros for the padding.
        let mut changed = copy;
        changed.push(Action::StripVlan);
        assert_eq!(form(&changed), "built");
        assert_eq!(changed.len(), 3);
    }

    #[test]
    fn wire_and_built_lists_are_equal_and_hash_alike() {
        let acts = all_actions();
        let built = Actions::from(acts.clone());
        let wire = Actions::decode(&wire_of(&acts)).unwrap();
        assert!(wire.as_wire().is_some());
        assert!(built.as_wire().is_none());
        assert_eq!(wire, built);
        assert_eq!(built, wire);
        assert_eq!(wire, acts);
        assert_eq!(acts, wire);
        assert_eq!(wire, acts[..]);
        assert_eq!(hash_of(&wire), hash_of(&built));
        // Not equal to a prefix, an extension or a different list, in either form.
        let shorter = Actions::from(&acts[..acts.len() - 1]);
        assert_ne!(wire, shorter);
        assert_ne!(shorter, wire);
        assert_ne!(wire, acts[..acts.len() - 1]);
        let mut longer = acts.clone();
        longer.push(Action::StripVlan);
        assert_ne!(wire, longer);
        let other = Actions::decode(&wire_of(&longer)).unwrap();
        assert_ne!(wire, other);
        assert_ne!(hash_of(&wire), hash_of(&other));
        // The empty list, both ways.
        let empty = Actions::decode(&Bytes::new()).unwrap();
        assert_eq!(empty, Actions::new());
        assert_eq!(hash_of(&empty), hash_of(&Actions::default()));
        assert!(empty.is_empty());
        assert_eq!(empty.len(), 0);
        assert_ne!(empty, wire);
    }

    #[test]
    fn padding_does_not_change_equality_but_is_re_encoded() {
        // output:1 with max_len 0, then strip_vlan with its 4 pad bytes non-zero.
        let plain = Bytes::from_static(&[0, 0, 0, 8, 0, 1, 0, 0, 0, 3, 0, 8, 0, 0, 0, 0]);
        let padded = Bytes::from_static(&[0, 0, 0, 8, 0, 1, 0, 0, 0, 3, 0, 8, 1, 2, 3, 4]);
        let a = Actions::decode(&plain).unwrap();
        let b = Actions::decode(&padded).unwrap();
        assert_eq!(a, b);
        assert_eq!(hash_of(&a), hash_of(&b));
        assert_eq!(b, vec![Action::output(PortNo(1)), Action::StripVlan]);
        // Encoding keeps the bytes exactly.
        let mut out = Vec::new();
        assert_eq!(b.encode(&mut out).unwrap(), 16);
        assert_eq!(out, padded[..]);
        let mut out = Vec::new();
        b.put(&mut out).unwrap();
        assert_eq!(out, padded[..]);
        // A decoded list turned into a built one writes zeros.
        let mut c = b.clone();
        c.extend([]);
        assert!(c.as_wire().is_none());
        let mut out = Vec::new();
        c.encode(&mut out).unwrap();
        assert_eq!(out, plain[..]);
    }

    #[test]
    fn iteration_len_and_conversions() {
        let acts = all_actions();
        let bytes = wire_of(&acts);
        let wire = Actions::decode(&bytes).unwrap();
        assert_eq!(wire.iter().collect::<Vec<_>>(), acts);
        assert_eq!((&wire).into_iter().count(), acts.len());
        assert_eq!(wire.clone().into_iter().collect::<Vec<_>>(), acts);
        assert_eq!(wire.len(), acts.len());
        assert!(!wire.is_empty());
        assert!(wire.contains(&Action::SetTpDst(53)));
        assert!(!wire.contains(&Action::SetTpDst(54)));
        assert_eq!(wire.wire_len(), bytes.len());
        assert_eq!(wire.as_wire(), Some(&bytes[..]));
        assert_eq!(wire.to_vec(), acts);
        assert_eq!(wire.clone().into_vec(), acts);
        assert_eq!(Vec::from(wire.clone()), acts);
        // The vendor action's data is a slice of the wire bytes.
        match wire.iter().last() {
            Some(Action::Vendor { data, .. }) => {
                assert_eq!(data.as_ptr(), bytes[bytes.len() - 8..].as_ptr());
            }
            other => panic!("expected a vendor action, got {other:?}"),
        }
        // Size hints bound the count.
        let mut it = wire.iter();
        let (lo, hi) = it.size_hint();
        assert!(lo <= acts.len() && hi.unwrap() >= acts.len());
        for _ in 0..acts.len() {
            assert!(it.next().is_some());
        }
        assert_eq!(it.next(), None);
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));

        let built: Actions = acts.iter().cloned().collect();
        assert_eq!(built.len(), acts.len());
        assert_eq!(built.iter().collect::<Vec<_>>(), acts);
        assert_eq!(built.wire_len(), bytes.len());
        let mut out = Vec::new();
        assert_eq!(built.encode(&mut out).unwrap(), bytes.len());
        assert_eq!(out, bytes[..]);
        let arr = Actions::from([Action::StripVlan, Action::output(PortNo(2))]);
        assert_eq!(arr, [Action::StripVlan, Action::output(PortNo(2))]);
        // Changing a decoded list.
        let mut changed = wire.clone();
        changed.push(Action::StripVlan);
        changed.extend([Action::output(PortNo(3))]);
        assert_eq!(changed.len(), acts.len() + 2);
        assert_eq!(changed.iter().take(acts.len()).collect::<Vec<_>>(), acts);
    }

    #[test]
    fn debug_and_display_print_the_actions() {
        let acts = vec![Action::output(PortNo(2)), Action::StripVlan];
        let wire = Actions::decode(&wire_of(&acts)).unwrap();
        assert_eq!(format!("{wire:?}"), format!("{acts:?}"));
        assert_eq!(format!("{:?}", Actions::from(acts)), format!("{wire:?}"));
        assert_eq!(wire.to_string(), "output:2,strip_vlan");
        assert_eq!(Actions::new().to_string(), "drop");
    }

    #[test]
    fn invalid_lists_are_rejected_with_the_errors_of_decode_list() {
        let cases: [&[u8]; 8] = [
            &[0, 0, 0, 0, 0, 1, 0, 0],
            &[0, 0, 0, 12, 0, 1, 0, 0, 0, 0, 0, 0],
            &[0, 0, 0, 16, 0, 1, 0, 0],
            &[0, 0, 0, 16, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[0, 4, 0, 8, 0, 1, 0, 0],
            &[0, 0],
            &[0, 0, 0, 8, 0, 1, 0, 0, 0, 0, 0, 8, 0],
            &[0, 99, 0, 8, 0, 0, 0, 0],
        ];
        for b in cases {
            let want = Action::decode_list(b).unwrap_err();
            let got = Actions::decode(&Bytes::copy_from_slice(b)).unwrap_err();
            assert_eq!(got, want, "{b:?}");
        }
        let e = Actions::decode(&Bytes::from_static(&[0, 0, 0, 16, 0, 1, 0, 0])).unwrap_err();
        assert!(matches!(
            e.kind,
            DecodeErrorKind::BadActionLength {
                expected: Expected::AtMost(8),
                ..
            }
        ));
    }

    #[test]
    fn built_lists_report_encode_errors() {
        let bad = Actions::from(vec![
            Action::StripVlan,
            Action::Vendor {
                vendor: 1,
                data: Bytes::from_static(&[1, 2, 3]),
            },
        ]);
        assert!(matches!(
            bad.check_encodable(),
            Err(EncodeError::Misaligned { len: 11, .. })
        ));
        let mut out = Vec::new();
        assert!(bad.encode(&mut out).is_err());
        assert!(out.is_empty());
    }
}
