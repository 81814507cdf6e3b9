//! Gratuitous ARP announcements on a schedule the caller drives (sans-IO).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::addr::{MacAddr, VlanTag};
use crate::frame::{ArpFrame, BufferTooSmall, GratuitousForm};

/// Which gratuitous forms each round sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Forms {
    /// Only the request form.
    Request,
    /// Only the reply form.
    Reply,
    /// The request form, then the reply form, in every round.
    Both,
}

impl Forms {
    fn first(self) -> GratuitousForm {
        match self {
            Forms::Reply => GratuitousForm::Reply,
            Forms::Request | Forms::Both => GratuitousForm::Request,
        }
    }
}

/// How an address is announced: `rounds` rounds, `interval` apart, each
/// sending the given [`Forms`].
///
/// The default is 3 rounds, 1 s apart, both forms (hosts differ in which
/// form updates their cache; Neutron sends 3, OVN up to 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schedule {
    /// Number of rounds (0 announces nothing).
    pub rounds: u32,
    /// Minimum time between the starts of two rounds.
    pub interval: Duration,
    /// Forms sent in each round.
    pub forms: Forms,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            rounds: 3,
            interval: Duration::from_secs(1),
            forms: Forms::Both,
        }
    }
}

/// What to announce: `ip` is at `mac`, on an optional VLAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Announcement {
    /// The address that moved.
    pub ip: Ipv4Addr,
    /// Its new MAC.
    pub mac: MacAddr,
    /// The 802.1Q tag to send with, if any.
    pub vlan: Option<VlanTag>,
}

impl Announcement {
    /// The frame announcing this in the given form.
    pub fn frame(&self, form: GratuitousForm) -> ArpFrame {
        ArpFrame::gratuitous(form, self.mac, self.ip, self.vlan)
    }
}

/// One frame that is due: where to send it (the caller's key), what it
/// announces and in which form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Due<K> {
    /// The caller's key given to [`Announcer::announce`] (for example the
    /// switch and port to send out of).
    pub key: K,
    /// What is announced.
    pub announcement: Announcement,
    /// The form of this frame.
    pub form: GratuitousForm,
    /// The round this frame belongs to, from 0.
    pub round: u32,
}

impl<K> Due<K> {
    /// The frame to send.
    pub fn frame(&self) -> ArpFrame {
        self.announcement.frame(self.form)
    }

    /// Writes the frame into `buf` without allocating; returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        self.frame().write(buf)
    }
}

#[derive(Debug, Clone)]
struct Pending<K> {
    key: K,
    announcement: Announcement,
    schedule: Schedule,
    round: u32,
    next_form: GratuitousForm,
    deadline: Instant,
    seq: u64,
}

/// Runs gratuitous-ARP schedules without a clock of its own.
///
/// The caller starts announcements with [`Announcer::announce`], asks
/// [`Announcer::next_deadline`] when to wake up, and at any time calls
/// [`Announcer::poll`] with the current time until it returns `None`, sending
/// each [`Due`] frame. Rounds are at least `interval` apart measured from the
/// `now` at which their first frame was handed out, so a late caller gets a
/// late round, never a burst.
///
/// `K` is the caller's key for where to send (a switch and port, a VLAN,
/// `()`...). Announcing the same `(key, ip)` again replaces the pending
/// schedule. Each call costs O(n) in the number of pending announcements,
/// which stays small (addresses that moved recently).
#[derive(Debug, Clone)]
pub struct Announcer<K> {
    pending: Vec<Pending<K>>,
    seq: u64,
}

impl<K> Default for Announcer<K> {
    fn default() -> Self {
        Announcer {
            pending: Vec::new(),
            seq: 0,
        }
    }
}

impl<K: Clone + PartialEq> Announcer<K> {
    /// An announcer with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts announcing `announcement` to `key` on `schedule`, its first
    /// round due at `now`. Replaces any pending schedule for the same key
    /// and address.
    pub fn announce(
        &mut self,
        now: Instant,
        key: K,
        announcement: Announcement,
        schedule: Schedule,
    ) {
        self.cancel(&key, announcement.ip);
        if schedule.rounds == 0 {
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        self.pending.push(Pending {
            key,
            announcement,
            schedule,
            round: 0,
            next_form: schedule.forms.first(),
            deadline: now,
            seq: self.seq,
        });
    }

    /// Stops the pending schedule for `key` and `ip`; true if there was one.
    pub fn cancel(&mut self, key: &K, ip: Ipv4Addr) -> bool {
        let before = self.pending.len();
        self.pending
            .retain(|p| !(p.key == *key && p.announcement.ip == ip));
        self.pending.len() != before
    }

    /// The earliest time at which [`Announcer::poll`] has a frame to give,
    /// or `None` when nothing is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Number of pending schedules.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// The next frame due at `now` (earliest deadline first, then in the
    /// order announcements were started), or `None`. Call repeatedly until
    /// `None`.
    pub fn poll(&mut self, now: Instant) -> Option<Due<K>> {
        let idx = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.deadline <= now)
            .min_by_key(|(_, p)| (p.deadline, p.seq))
            .map(|(i, _)| i)?;
        let p = self.pending.get_mut(idx)?;
        let due = Due {
            key: p.key.clone(),
            announcement: p.announcement,
            form: p.next_form,
            round: p.round,
        };
        let round_done = match (p.schedule.forms, p.next_form) {
            (Forms::Both, GratuitousForm::Request) => {
                p.next_form = GratuitousForm::Reply;
                false
            }
            _ => true,
        };
        if round_done {
            p.round = p.round.saturating_add(1);
            p.next_form = p.schedule.forms.first();
            if p.round >= p.schedule.rounds {
                self.pending.swap_remove(idx);
            } else {
                p.deadline = now.checked_add(p.schedule.interval).unwrap_or(now);
            }
        }
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(n: u8) -> Announcement {
        Announcement {
            ip: Ipv4Addr::new(203, 0, 113, n),
            mac: MacAddr([0x02, 0, 0, 0, 0, n]),
            vlan: None,
        }
    }

    fn drain(a: &mut Announcer<u32>, now: Instant) -> Vec<Due<u32>> {
        std::iter::from_fn(|| a.poll(now)).collect()
    }

    #[test]
    fn default_schedule_three_rounds_one_second_both_forms() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        a.announce(t0, 7u32, ann(1), Schedule::default());
        assert_eq!(a.next_deadline(), Some(t0));
        let mut sent = Vec::new();
        for s in 0..3u64 {
            let now = t0 + Duration::from_secs(s);
            assert_eq!(a.next_deadline(), Some(now));
            assert!(a.poll(now - Duration::from_millis(1)).is_none());
            let round = drain(&mut a, now);
            assert_eq!(round.len(), 2);
            assert_eq!(round[0].form, GratuitousForm::Request);
            assert_eq!(round[1].form, GratuitousForm::Reply);
            assert!(round.iter().all(|d| d.round == s as u32 && d.key == 7));
            sent.extend(round);
        }
        assert_eq!(a.next_deadline(), None);
        assert!(a.is_empty());
        assert!(a.poll(t0 + Duration::from_secs(100)).is_none());
        let mut buf = [0u8; 64];
        let n = sent[1].write(&mut buf).unwrap();
        let f = ArpFrame::parse(&buf[..n]).unwrap();
        assert_eq!(
            f,
            ArpFrame::gratuitous(GratuitousForm::Reply, ann(1).mac, ann(1).ip, None)
        );
    }

    #[test]
    fn late_polls_do_not_burst() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        let sched = Schedule {
            rounds: 3,
            interval: Duration::from_secs(2),
            forms: Forms::Request,
        };
        a.announce(t0, 0u32, ann(1), sched);
        let late = t0 + Duration::from_secs(10);
        assert_eq!(drain(&mut a, late).len(), 1);
        assert_eq!(a.next_deadline(), Some(late + Duration::from_secs(2)));
    }

    #[test]
    fn reannounce_replaces_and_cancel_stops() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        a.announce(t0, 1u32, ann(1), Schedule::default());
        a.announce(t0, 2u32, ann(1), Schedule::default());
        assert_eq!(a.len(), 2);
        let moved = Announcement {
            mac: MacAddr([0x02, 0, 0, 0, 0, 0x77]),
            ..ann(1)
        };
        a.announce(t0, 1u32, moved, Schedule::default());
        assert_eq!(a.len(), 2);
        let due = drain(&mut a, t0);
        // Key 2 was started first, so its frames come first.
        assert_eq!(due.iter().map(|d| d.key).collect::<Vec<_>>(), [2, 2, 1, 1]);
        assert_eq!(due[2].announcement.mac, moved.mac);
        assert!(a.cancel(&2, ann(1).ip));
        assert!(!a.cancel(&2, ann(1).ip));
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn zero_rounds_and_reply_only() {
        let t0 = Instant::now();
        let mut a = Announcer::new();
        let none = Schedule {
            rounds: 0,
            ..Schedule::default()
        };
        a.announce(t0, 0u32, ann(1), none);
        assert!(a.is_empty());
        let reply_only = Schedule {
            rounds: 1,
            interval: Duration::ZERO,
            forms: Forms::Reply,
        };
        a.announce(t0, 0u32, ann(2), reply_only);
        let due = drain(&mut a, t0);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].form, GratuitousForm::Reply);
        assert!(a.is_empty());
    }
}
