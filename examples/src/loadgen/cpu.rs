//! How busy a thread was: its time on a CPU, read from Linux's `/proc`.
//!
//! A rate alone does not say what bounds it. Next to each run the load generator reports the
//! share of the window that the serving runtime's threads and its own thread spent on a CPU:
//! a server near 100% is the bottleneck; a server well below it waited on its peer (here the
//! load generator, which shares the machine).

use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// One thread's CPU clock: the first field of `/proc/<pid>/task/<tid>/schedstat`, the
/// nanoseconds it has run on a CPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadCpu {
    path: PathBuf,
}

impl ThreadCpu {
    /// The calling thread's clock.
    pub fn current() -> io::Result<ThreadCpu> {
        // `/proc/thread-self` links to `<pid>/task/<tid>`.
        let task = fs::read_link("/proc/thread-self")?;
        let clock = ThreadCpu {
            path: PathBuf::from("/proc").join(task).join("schedstat"),
        };
        clock.read()?;
        Ok(clock)
    }

    /// The thread's time on a CPU so far (an error once the thread has ended).
    pub fn read(&self) -> io::Result<Duration> {
        let text = fs::read_to_string(&self.path)?;
        parse_schedstat(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: expected nanoseconds as the first field, found {text:?}",
                    self.path.display()
                ),
            )
        })
    }
}

fn parse_schedstat(text: &str) -> Option<Duration> {
    text.split_whitespace()
        .next()?
        .parse()
        .ok()
        .map(Duration::from_nanos)
}

/// The CPU time of a set of threads, summed.
#[derive(Clone, Debug, Default)]
pub struct CpuSet {
    threads: Vec<ThreadCpu>,
}

impl CpuSet {
    /// A set of these threads.
    pub fn new(threads: Vec<ThreadCpu>) -> CpuSet {
        CpuSet { threads }
    }

    /// True if the set has no thread.
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// The sum of the threads' times now (a thread that cannot be read counts 0).
    pub fn read(&self) -> Duration {
        self.threads
            .iter()
            .filter_map(|t| t.read().ok())
            .sum::<Duration>()
    }
}

/// The share of `wall` that `cpu` is, in percent.
pub fn busy_percent(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        0.0
    } else {
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn schedstat_is_parsed_and_garbage_refused() {
        assert_eq!(
            parse_schedstat("1014785798 69385562 631\n"),
            Some(Duration::from_nanos(1_014_785_798))
        );
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn a_spinning_thread_is_busy_and_a_sleeping_one_is_not() {
        let spin = std::thread::spawn(|| {
            let clock = ThreadCpu::current().unwrap();
            let (c0, t0) = (clock.read().unwrap(), Instant::now());
            let mut x = 0u64;
            while t0.elapsed() < Duration::from_millis(200) {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            busy_percent(clock.read().unwrap() - c0, t0.elapsed())
        });
        let sleep = std::thread::spawn(|| {
            let clock = ThreadCpu::current().unwrap();
            let (c0, t0) = (clock.read().unwrap(), Instant::now());
            std::thread::sleep(Duration::from_millis(200));
            busy_percent(clock.read().unwrap() - c0, t0.elapsed())
        });
        let (spin, sleep) = (spin.join().unwrap(), sleep.join().unwrap());
        // Generous bounds: the machine is shared (the spinning thread may wait for a core
        // while other tests run).
        assert!(spin > 20.0 && spin <= 101.0, "spinning thread {spin}% busy");
        assert!(sleep < 10.0, "sleeping thread {sleep}% busy");
    }

    #[test]
    fn a_set_sums_its_threads_and_an_ended_thread_is_an_error() {
        let ended = std::thread::spawn(|| ThreadCpu::current().unwrap())
            .join()
            .unwrap();
        assert!(ended.read().is_err());
        let me = ThreadCpu::current().unwrap();
        let set = CpuSet::new(vec![me.clone(), ended]);
        assert!(!set.is_empty());
        let (a, b) = (me.read().unwrap(), set.read());
        assert!(b >= a, "{b:?} < {a:?}");
        assert_eq!(busy_percent(Duration::from_millis(5), Duration::ZERO), 0.0);
    }
}
