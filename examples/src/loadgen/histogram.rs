//! A latency histogram of fixed size: log-linear buckets (each power of two of nanoseconds
//! split into 32), so any quantile is known within about 3 % whatever the number of samples.

use core::time::Duration;

const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two covered: up to 2^40 ns (about 18 minutes); longer samples land in the last
/// bucket.
const GROUPS: usize = 41;

/// Latency samples (see the module docs).
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum_ns: u128,
    max_ns: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

/// The bucket of a value in nanoseconds.
fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let top = 63 - ns.leading_zeros(); // >= SUB_BITS
    let shift = top - SUB_BITS;
    let sub = ((ns >> shift) as usize) & (SUB - 1);
    let group = (top - SUB_BITS + 1) as usize;
    (group * SUB + sub).min(GROUPS * SUB - 1)
}

/// The highest value (ns) of a bucket.
fn bucket_high(b: usize) -> u64 {
    let (group, sub) = (b / SUB, (b % SUB) as u64);
    if group == 0 {
        return sub;
    }
    let shift = (group - 1) as u32;
    (((SUB as u64) + sub + 1) << shift) - 1
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; GROUPS * SUB],
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        }
    }

    /// Add a sample.
    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get_mut(bucket(ns)) {
            *c += 1;
        }
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    /// Add another histogram's samples.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The mean (exact), or `None` without samples.
    pub fn mean(&self) -> Option<Duration> {
        let n = u128::from(self.count);
        let mean = self.sum_ns.checked_div(n)?;
        Some(Duration::from_nanos(
            u64::try_from(mean).unwrap_or(u64::MAX),
        ))
    }

    /// The largest sample (exact), or `None` without samples.
    pub fn max(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_nanos(self.max_ns))
    }

    /// The `q` quantile (`0.0..=1.0`): the smallest bucket bound at or above which that
    /// share of the samples lies, capped at the largest sample. `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // The rank of the sample wanted, 1-based.
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_nanos(bucket_high(b).min(self.max_ns)));
            }
        }
        Some(Duration::from_nanos(self.max_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty() {
        let h = Histogram::new();
        assert_eq!((h.mean(), h.quantile(0.5), h.max()), (None, None, None));
    }

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for ns in 0..32 {
            h.record(Duration::from_nanos(ns));
        }
        assert_eq!(h.quantile(0.5), Some(Duration::from_nanos(15)));
        assert_eq!(h.quantile(1.0), Some(Duration::from_nanos(31)));
        assert_eq!(h.quantile(0.0), Some(Duration::from_nanos(0)));
    }

    #[test]
    fn merge_adds() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(Duration::from_micros(10));
        b.record(Duration::from_micros(30));
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.mean(), Some(Duration::from_micros(20)));
        assert_eq!(a.max(), Some(Duration::from_micros(30)));
    }

    #[test]
    fn huge_values_do_not_overflow() {
        let mut h = Histogram::new();
        h.record(Duration::from_secs(u64::MAX));
        h.record(Duration::from_secs(100_000));
        assert_eq!(h.count(), 2);
        assert!(h.quantile(0.99).is_some());
    }

    proptest! {
        #[test]
        fn bucket_bounds_hold(ns in any::<u64>()) {
            let b = bucket(ns);
            if ns < 1 << 40 {
                prop_assert!(bucket_high(b) >= ns);
                prop_assert!(b == 0 || bucket_high(b - 1) < ns);
            }
        }

        #[test]
        fn quantiles_within_three_percent(mut v in proptest::collection::vec(1u64..10_000_000_000, 1..300), q in 0.0f64..=1.0) {
            let mut h = Histogram::new();
            for ns in &v {
                h.record(Duration::from_nanos(*ns));
            }
            v.sort_unstable();
            let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
            let exact = v[rank - 1] as f64;
            let got = h.quantile(q).unwrap().as_nanos() as f64;
            prop_assert!(got >= exact && got <= exact * 1.0325 + 1.0, "q={q} exact={exact} got={got}");
            let mean = v.iter().map(|x| u128::from(*x)).sum::<u128>() / v.len() as u128;
            prop_assert_eq!(h.mean().unwrap().as_nanos(), mean);
        }
    }
}
