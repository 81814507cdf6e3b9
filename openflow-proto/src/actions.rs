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
/// A list comes in one of two forms, which behave the same through this type's API:
///
/// - **As decoded**: [`crate::Message::decode`] keeps a flow_mod's, packet_out's or flow
///   stats entry's actions as the bytes they arrived in (a zero-copy slice of the frame),
///   after checking every action as strictly as [`Action::decode_list`] does, with the same
///   errors. Decoding a flow_mod therefore allocates nothing for its actions, and encoding
///   it again copies those bytes as they are: the output is byte-for-byte the input,
///   including padding a peer left non-zero. Each action is decoded when iterated.
/// - **As built**: from a `Vec<Action>`, an array or an iterator of [`Action`]
///   (infallibly, without encoding anything). It is encoded action by action, and
///   [`crate::Message::encode`] fails with the same [`EncodeError`]s as
///   [`Action::encode_list`] for a vendor action that cannot be encoded.
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
/// assert_eq!(decoded.actions.as_wire().map(|b| b.len()), Some(16));
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
    /// The actions' wire form, every action checked by [`Action::check_list`].
    Wire(Bytes),
    /// Built by the user.
    Built(Vec<Action>),
}

impl Actions {
    /// An empty list (drop).
    pub const fn new() -> Self {
        Actions(Repr::Built(Vec::new()))
    }

    /// Decode the action list filling what is left of `r`: checked completely, with the
    /// errors of [`Action::decode_list`], and kept as its bytes (a zero-copy slice when the
    /// reader reads a `Bytes`).
    #[inline]
    pub(crate) fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Actions, DecodeError> {
        let rest = r.rest_slice();
        if rest.is_empty() {
            return Ok(Actions::new());
        }
        if !Action::all_standard(rest) {
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
        if !Action::all_standard(rest) {
            let mut r = Reader::from_bytes(frame, msg);
            r.consume(start);
            Action::check_list(&mut r, field)?;
        }
        Ok(Actions(Repr::Wire(frame.slice(start..))))
    }

    /// Decode a whole action list from `bytes`, as [`Action::decode_list`] checks it, and
    /// keep it as those bytes (the result holds a reference to them, not a copy).
    pub fn decode(bytes: &Bytes) -> Result<Actions, DecodeError> {
        let mut r = Reader::from_bytes(bytes, MessageType::FlowMod);
        Actions::read(&mut r, "actions")
    }

    /// The actions, decoded one by one (by value) as the iterator advances.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.0 {
            Repr::Wire(bytes) => IterRepr::Wire { bytes, pos: 0 },
            Repr::Built(v) => IterRepr::Built(v.iter()),
        })
    }

    /// The number of actions (for a decoded list, counted by walking the action headers).
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Wire(bytes) => {
                let mut n = 0;
                let mut s: &[u8] = bytes;
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
            Repr::Built(v) => v.len(),
        }
    }

    /// True when there is no action (the flow drops its packets).
    pub fn is_empty(&self) -> bool {
        match &self.0 {
            Repr::Wire(bytes) => bytes.is_empty(),
            Repr::Built(v) => v.is_empty(),
        }
    }

    /// True if the list holds `action`.
    pub fn contains(&self, action: &Action) -> bool {
        match &self.0 {
            Repr::Wire(_) => self.iter().any(|a| a == *action),
            Repr::Built(v) => v.contains(action),
        }
    }

    /// The actions as a new `Vec`.
    pub fn to_vec(&self) -> Vec<Action> {
        match &self.0 {
            Repr::Wire(_) => self.iter().collect(),
            Repr::Built(v) => v.clone(),
        }
    }

    /// The actions as a `Vec` (without copying a built list).
    pub fn into_vec(self) -> Vec<Action> {
        match self.0 {
            Repr::Wire(_) => self.iter().collect(),
            Repr::Built(v) => v,
        }
    }

    /// Append an action. A decoded list is decoded into a built one first (it then no
    /// longer re-encodes byte-exactly: padding is written as zeros).
    pub fn push(&mut self, action: Action) {
        self.extend([action]);
    }

    /// The wire bytes of a list decoded from the wire (`None` for a built list).
    pub fn as_wire(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Wire(bytes) => Some(bytes),
            Repr::Built(_) => None,
        }
    }

    /// The length of the list on the wire (saturating for a built list too long to encode).
    #[inline]
    pub fn wire_len(&self) -> usize {
        match &self.0 {
            Repr::Wire(bytes) => bytes.len(),
            Repr::Built(v) => Action::list_len(v),
        }
    }

    /// Check that every action can be encoded ([`Action::check_encodable`]); a decoded list
    /// always can.
    pub fn check_encodable(&self) -> Result<(), EncodeError> {
        match &self.0 {
            Repr::Wire(_) => Ok(()),
            Repr::Built(v) => v.iter().try_for_each(Action::check_encodable),
        }
    }

    /// Write the list, returning its length: a decoded list as its bytes, a built one action
    /// by action. Nothing is written if an action cannot be encoded or the list exceeds what
    /// a 16-bit length can carry (as [`Action::encode_list`]).
    pub fn encode(&self, dst: &mut impl BufMut) -> Result<usize, EncodeError> {
        match &self.0 {
            Repr::Wire(bytes) => {
                dst.put_slice(bytes);
                Ok(bytes.len())
            }
            Repr::Built(v) => Action::encode_list(v, dst),
        }
    }

    /// Write the list in one pass, checking each built action as it goes: for a caller that
    /// has already bounded the list's total length (by the message's) and discards what was
    /// written on error.
    #[inline]
    pub(crate) fn put(&self, dst: &mut impl BufMut) -> Result<(), EncodeError> {
        match &self.0 {
            Repr::Wire(bytes) => {
                dst.put_slice(bytes);
                Ok(())
            }
            Repr::Built(v) => Action::put_list(v, dst),
        }
    }
}

/// The next action of a checked wire list at `*pos`, moving `*pos` past it.
#[inline]
fn next_wire(bytes: &Bytes, pos: &mut usize) -> Option<Action> {
    let rest = bytes.get(*pos..)?;
    if rest.is_empty() {
        return None;
    }
    if let Some((action, len)) = Action::standard(rest) {
        *pos += len;
        return Some(action);
    }
    // A vendor action (its data a slice of `bytes`), through the general decoder.
    let mut r = Reader::from_bytes(bytes, MessageType::FlowMod);
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
    Wire { bytes: &'a Bytes, pos: usize },
    Built(core::slice::Iter<'a, Action>),
}

impl Iterator for Iter<'_> {
    type Item = Action;

    #[inline]
    fn next(&mut self) -> Option<Action> {
        match &mut self.0 {
            IterRepr::Wire { bytes, pos } => next_wire(bytes, pos),
            IterRepr::Built(it) => it.next().cloned(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::Wire { bytes, pos } => wire_size_hint(bytes.len().saturating_sub(*pos)),
            IterRepr::Built(it) => it.size_hint(),
        }
    }
}

impl FusedIterator for Iter<'_> {}

/// An owning iterator over the actions of an [`Actions`].
#[derive(Clone, Debug)]
pub struct IntoIter(IntoIterRepr);

#[derive(Clone, Debug)]
enum IntoIterRepr {
    Wire { bytes: Bytes, pos: usize },
    Built(std::vec::IntoIter<Action>),
}

impl Iterator for IntoIter {
    type Item = Action;

    #[inline]
    fn next(&mut self) -> Option<Action> {
        match &mut self.0 {
            IntoIterRepr::Wire { bytes, pos } => next_wire(bytes, pos),
            IntoIterRepr::Built(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
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
            Repr::Wire(_) => {
                let mut v = self.to_vec();
                v.extend(iter);
                self.0 = Repr::Built(v);
            }
        }
    }
}

/// The same actions in the same order: whether from the wire or built, and whatever the
/// padding on the wire.
impl PartialEq for Actions {
    fn eq(&self, other: &Actions) -> bool {
        match (&self.0, &other.0) {
            (Repr::Built(a), Repr::Built(b)) => a == b,
            (Repr::Wire(a), Repr::Wire(b)) if a == b => true,
            (_, Repr::Built(b)) => *self == b[..],
            (Repr::Built(a), _) => *other == a[..],
            _ => self.iter().eq(other.iter()),
        }
    }
}

impl Eq for Actions {}

impl PartialEq<[Action]> for Actions {
    fn eq(&self, other: &[Action]) -> bool {
        match &self.0 {
            Repr::Built(v) => v[..] == *other,
            Repr::Wire(_) => {
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
    use crate::error::{DecodeErrorKind, Expected};
    use crate::port::PortNo;
    use crate::MacAddr;
    use core::net::Ipv4Addr;
    use std::collections::hash_map::DefaultHasher;

    fn all_actions() -> Vec<Action> {
        vec![
            Action::output(PortNo(1)),
            Action::to_controller(128),
            Action::SetVlanVid(20),
            Action::SetVlanPcp(5),
            Action::StripVlan,
            Action::SetDlSrc(MacAddr([1, 2, 3, 4, 5, 6])),
            Action::SetDlDst(MacAddr([6, 5, 4, 3, 2, 1])),
            Action::SetNwSrc(Ipv4Addr::new(10, 0, 0, 1)),
            Action::SetNwDst(Ipv4Addr::new(203, 0, 113, 10)),
            Action::SetNwTos(0x20),
            Action::SetTpSrc(1024),
            Action::SetTpDst(53),
            Action::Enqueue {
                port: PortNo(1),
                queue_id: 7,
            },
            Action::Vendor {
                vendor: 0x2320,
                data: Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0]),
            },
        ]
    }

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
        assert_eq!(wire.as_wire(), Some(&bytes));
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
