//! Gray failures: a node that still answers, but slowly (a failing disk whose fsyncs take
//! 100x longer, a thermally throttled CPU, long pauses), hurts more as a leader than a dead
//! one, because nobody elects a replacement. Each node measures itself (fsync time, how late
//! its ticks run), tells its peers, and compares: when it is far slower than the others for
//! a few seconds it is *sick*: it hands its leaderships away and is not given new ones, until
//! it has been healthy for a while (hysteresis against flapping).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Slower than the peers' median by this factor, and above the floor, counts as slow.
const SLOW_FACTOR: u64 = 4;
const FSYNC_FLOOR: Duration = Duration::from_millis(20);
const LAG_FLOOR: Duration = Duration::from_millis(100);
/// Slow this long in a row: sick.
const SICK_AFTER: Duration = Duration::from_secs(3);
/// Healthy this long in a row: well again.
const WELL_AFTER: Duration = Duration::from_secs(30);
/// Peer measures older than this are ignored.
pub const FRESH_FOR: Duration = Duration::from_secs(3);

/// An operator's fault injection (`NINESDB DEBUG SLOW-DISK <ms>`): every log flush that
/// syncs takes this much longer. For drills and tests of the handling below.
pub static INJECTED_FSYNC_DELAY_MS: AtomicU64 = AtomicU64::new(0);

pub fn injected_fsync_delay() -> Option<Duration> {
    match INJECTED_FSYNC_DELAY_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// What a node says of itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Smoothed fsync time.
    pub fsync_us: u64,
    /// Smoothed lateness of its ticks (CPU starvation, pauses).
    pub lag_us: u64,
    /// It judged itself sick: do not hand it leaderships.
    pub sick: bool,
}

/// This node's measures and verdict.
#[derive(Debug, Default)]
pub struct Monitor {
    fsync_us: Ewma,
    lag_us: Ewma,
    slow_since: Option<Instant>,
    well_since: Option<Instant>,
    sick: bool,
}

impl Monitor {
    pub fn record_fsync(&mut self, took: Duration) {
        self.fsync_us.add(took.as_micros() as u64);
    }

    pub fn record_tick_lag(&mut self, late: Duration) {
        self.lag_us.add(late.as_micros() as u64);
    }

    pub fn mine(&self) -> Health {
        Health { fsync_us: self.fsync_us.value, lag_us: self.lag_us.value, sick: self.sick }
    }

    pub fn is_sick(&self) -> bool {
        self.sick
    }

    /// Compares with the peers' fresh measures (at least two are needed to call anyone
    /// slow); returns whether this node is sick now and whether that just changed.
    pub fn assess(&mut self, peers: &[Health], now: Instant) -> (bool, bool) {
        let slow = peers.len() >= 2 && {
            let median = |pick: fn(&Health) -> u64| {
                let mut values: Vec<u64> = peers.iter().map(pick).collect();
                values.sort_unstable();
                values[values.len() / 2]
            };
            let beyond = |mine: u64, median: u64, floor: Duration| mine > (median * SLOW_FACTOR).max(floor.as_micros() as u64);
            beyond(self.fsync_us.value, median(|h| h.fsync_us), FSYNC_FLOOR) || beyond(self.lag_us.value, median(|h| h.lag_us), LAG_FLOOR)
        };
        let was = self.sick;
        if slow {
            self.well_since = None;
            let since = *self.slow_since.get_or_insert(now);
            if now.duration_since(since) >= SICK_AFTER {
                self.sick = true;
            }
        } else {
            self.slow_since = None;
            let since = *self.well_since.get_or_insert(now);
            if now.duration_since(since) >= WELL_AFTER {
                self.sick = false;
            }
        }
        (self.sick, self.sick != was)
    }
}

/// Exponentially weighted moving average (weight 1/4 on each new sample).
#[derive(Debug, Default)]
struct Ewma {
    value: u64,
}

impl Ewma {
    fn add(&mut self, sample: u64) {
        self.value = if self.value == 0 { sample } else { (self.value * 3 + sample) / 4 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(fsync_ms: u64) -> Health {
        Health { fsync_us: fsync_ms * 1000, lag_us: 1000, sick: false }
    }

    // Goal: a node far slower than its peers turns sick only after SICK_AFTER, and well only
    // after WELL_AFTER of health (no flapping). Method: feed 200 ms fsyncs against peers at
    // 2 ms, step the clock, then recover.
    #[test]
    fn sickness_needs_persistence_both_ways() {
        let start = Instant::now();
        let mut monitor = Monitor::default();
        for _ in 0..20 {
            monitor.record_fsync(Duration::from_millis(200));
        }
        let peers = [peer(2), peer(3)];
        assert_eq!(monitor.assess(&peers, start), (false, false));
        assert_eq!(monitor.assess(&peers, start + Duration::from_secs(2)), (false, false));
        assert_eq!(monitor.assess(&peers, start + SICK_AFTER), (true, true));
        for _ in 0..40 {
            monitor.record_fsync(Duration::from_millis(2));
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(monitor.assess(&peers, later), (true, false), "still sick right after recovering");
        assert_eq!(monitor.assess(&peers, later + WELL_AFTER), (false, true));
    }

    // Goal: nobody is called slow on thin evidence: one peer only, or below the floor, or
    // when everyone is equally slow. Method: the three cases, well past SICK_AFTER.
    #[test]
    fn slow_is_relative_and_floored() {
        let start = Instant::now();
        let later = start + SICK_AFTER + Duration::from_secs(1);
        let mut alone = Monitor::default();
        alone.record_fsync(Duration::from_millis(500));
        alone.assess(&[peer(1)], start);
        assert!(!alone.assess(&[peer(1)], later).0, "one peer is not enough to judge");
        let mut floored = Monitor::default();
        floored.record_fsync(Duration::from_millis(10));
        floored.assess(&[peer(1), peer(1)], start);
        assert!(!floored.assess(&[peer(1), peer(1)], later).0, "10 ms is below the floor");
        let mut everyone = Monitor::default();
        everyone.record_fsync(Duration::from_millis(200));
        everyone.assess(&[peer(150), peer(180)], start);
        assert!(!everyone.assess(&[peer(150), peer(180)], later).0, "all slow alike: nobody to prefer");
    }
}
