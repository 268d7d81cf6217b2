//! Gray failures: who should not lead. A node that still answers, but slowly (a failing disk
//! whose fsyncs take 100x longer, a thermally throttled CPU, long pauses), hurts more as a
//! leader than a dead one, because nobody elects a replacement. Each node measures itself
//! (fsync time, how late its ticks run), tells its peers, and compares: when it is far slower
//! than the others for a few seconds it is *sick*: it hands its leaderships away and is not
//! given new ones, until it has been healthy for a while (hysteresis against flapping).
//!
//! Three measures: fsync time (a failing disk), tick lateness or event-queue delay (a slow or
//! starved CPU, pauses), and the share of its peers' periodic health reports that did not reach
//! it (a wonky link or rack: packet loss, or TCP retransmissions that delay reports).
//!
//! Pure like the rest of the crate: time comes in as microseconds from any fixed origin, so the
//! server (wall clock) and the lab (simulated clock) run the same rule.

/// Slower than the peers' median by this factor, and above the floor, counts as slow.
pub const SLOW_FACTOR: u64 = 4;
/// Fsync times below this are never called slow.
pub const FSYNC_FLOOR_US: u64 = 20_000;
/// Tick lateness below this is never called slow.
pub const LAG_FLOOR_US: u64 = 100_000;
/// Missing fewer than this share (per mille) of the peers' reports is never called lossy.
pub const LOSS_FLOOR_PERMILLE: u64 = 200;
/// Slow this long in a row: sick.
pub const SICK_AFTER_US: u64 = 3_000_000;
/// Healthy this long in a row: well again.
pub const WELL_AFTER_US: u64 = 30_000_000;
/// Peer measures older than this are ignored.
pub const FRESH_FOR_US: u64 = 3_000_000;

/// The share (per mille) of the health reports peers should have sent that did not arrive,
/// from how many arrived from each peer over a window in which each should have sent
/// `expected_each`. `None` with fewer than two peers: no verdict on thin evidence.
pub fn report_loss_permille(received_per_peer: &[u64], expected_each: u64) -> Option<u64> {
    if received_per_peer.len() < 2 || expected_each == 0 {
        return None;
    }
    let heard: u64 = received_per_peer
        .iter()
        .map(|&count| count.min(expected_each))
        .sum();
    Some(1000 - 1000 * heard / (expected_each * received_per_peer.len() as u64))
}

/// What a node says of itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Smoothed fsync time, microseconds.
    pub fsync_us: u64,
    /// Smoothed lateness of its ticks (CPU starvation, queueing, pauses), microseconds.
    pub lag_us: u64,
    /// Share of the peers' health reports it missed over the last window, per mille.
    pub loss_permille: u64,
    /// It judged itself sick: do not hand it leaderships.
    pub sick: bool,
}

/// This node's measures and verdict.
#[derive(Clone, Debug, Default)]
pub struct Monitor {
    fsync_us: Ewma,
    lag_us: Ewma,
    loss_permille: u64,
    slow_since: Option<u64>,
    well_since: Option<u64>,
    sick: bool,
}

impl Monitor {
    /// One fsync took `micros`.
    pub fn record_fsync(&mut self, micros: u64) {
        self.fsync_us.add(micros);
    }

    /// One tick ran `micros` late.
    pub fn record_tick_lag(&mut self, micros: u64) {
        self.lag_us.add(micros);
    }

    /// Over the last window, this share (per mille) of the reports its peers should have sent
    /// it did not arrive.
    pub fn record_report_loss(&mut self, permille: u64) {
        self.loss_permille = permille.min(1000);
    }

    /// What this node tells its peers.
    pub fn mine(&self) -> Health {
        Health {
            fsync_us: self.fsync_us.value,
            lag_us: self.lag_us.value,
            loss_permille: self.loss_permille,
            sick: self.sick,
        }
    }

    /// The current verdict.
    pub fn is_sick(&self) -> bool {
        self.sick
    }

    /// Compares with the peers' fresh measures (at least two are needed to call anyone slow) at
    /// time `now_us`; returns whether this node is sick now and whether that just changed.
    pub fn assess(&mut self, peers: &[Health], now_us: u64) -> (bool, bool) {
        let slow = peers.len() >= 2 && {
            let median = |pick: fn(&Health) -> u64| {
                let mut values: Vec<u64> = peers.iter().map(pick).collect();
                values.sort_unstable();
                values[values.len() / 2]
            };
            let beyond = |mine: u64, median: u64, floor: u64| {
                mine > median.saturating_mul(SLOW_FACTOR).max(floor)
            };
            beyond(self.fsync_us.value, median(|h| h.fsync_us), FSYNC_FLOOR_US)
                || beyond(self.lag_us.value, median(|h| h.lag_us), LAG_FLOOR_US)
                || beyond(
                    self.loss_permille,
                    median(|h| h.loss_permille),
                    LOSS_FLOOR_PERMILLE,
                )
        };
        let was = self.sick;
        if slow {
            self.well_since = None;
            let since = *self.slow_since.get_or_insert(now_us);
            if now_us.saturating_sub(since) >= SICK_AFTER_US {
                self.sick = true;
            }
        } else {
            self.slow_since = None;
            let since = *self.well_since.get_or_insert(now_us);
            if now_us.saturating_sub(since) >= WELL_AFTER_US {
                self.sick = false;
            }
        }
        (self.sick, self.sick != was)
    }
}

/// Exponentially weighted moving average (weight 1/4 on each new sample).
#[derive(Clone, Debug, Default)]
struct Ewma {
    value: u64,
}

impl Ewma {
    fn add(&mut self, sample: u64) {
        self.value = if self.value == 0 {
            sample
        } else {
            (self.value.saturating_mul(3).saturating_add(sample)) / 4
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000;
    const S: u64 = 1_000_000;

    fn peer(fsync_ms: u64) -> Health {
        Health {
            fsync_us: fsync_ms * MS,
            lag_us: MS,
            loss_permille: 0,
            sick: false,
        }
    }

    // Goal: missed reports are counted per mille, extra reports do not hide missing ones, and
    // one peer is no evidence. Method: peers that sent 6, 6 and 1 of 6 (and one that sent 9).
    #[test]
    fn report_loss_is_counted_per_mille() {
        assert_eq!(
            report_loss_permille(&[6, 6, 1], 6),
            Some(1000 - 1000 * 13 / 18)
        );
        assert_eq!(report_loss_permille(&[9, 0], 6), Some(500));
        assert_eq!(report_loss_permille(&[0], 6), None);
    }

    // Goal: a node that misses far more of its peers' reports than they miss of each other's
    // (a wonky link or rack) turns sick; a loss everyone shares (a peer down) makes nobody sick.
    // Method: 450 per mille missed against peers at 40, then everyone at 450.
    #[test]
    fn a_lossy_node_is_sick_and_a_shared_loss_is_not() {
        let lossy_peer = |permille| Health {
            loss_permille: permille,
            ..peer(1)
        };
        let mut wonky = Monitor::default();
        wonky.record_report_loss(450);
        let peers = [lossy_peer(40), lossy_peer(60), lossy_peer(30)];
        wonky.assess(&peers, 0);
        assert_eq!(wonky.assess(&peers, SICK_AFTER_US), (true, true));
        let mut shared = Monitor::default();
        shared.record_report_loss(450);
        let peers = [lossy_peer(450), lossy_peer(430)];
        shared.assess(&peers, 0);
        assert!(
            !shared.assess(&peers, SICK_AFTER_US).0,
            "everyone misses the same reports: nobody to prefer"
        );
    }

    // Goal: a node far slower than its peers turns sick only after SICK_AFTER, and well only
    // after WELL_AFTER of health (no flapping). Method: feed 200 ms fsyncs against peers at
    // 2 ms, step the clock, then recover.
    #[test]
    fn sickness_needs_persistence_both_ways() {
        let start = 7 * S;
        let mut monitor = Monitor::default();
        for _ in 0..20 {
            monitor.record_fsync(200 * MS);
        }
        let peers = [peer(2), peer(3)];
        assert_eq!(monitor.assess(&peers, start), (false, false));
        assert_eq!(monitor.assess(&peers, start + 2 * S), (false, false));
        assert_eq!(monitor.assess(&peers, start + SICK_AFTER_US), (true, true));
        for _ in 0..40 {
            monitor.record_fsync(2 * MS);
        }
        let later = start + 10 * S;
        assert_eq!(
            monitor.assess(&peers, later),
            (true, false),
            "still sick right after recovering"
        );
        assert_eq!(monitor.assess(&peers, later + WELL_AFTER_US), (false, true));
    }

    // Goal: nobody is called slow on thin evidence: one peer only, or below the floor, or
    // when everyone is equally slow. Method: the three cases, well past SICK_AFTER.
    #[test]
    fn slow_is_relative_and_floored() {
        let start = 0;
        let later = start + SICK_AFTER_US + S;
        let mut alone = Monitor::default();
        alone.record_fsync(500 * MS);
        alone.assess(&[peer(1)], start);
        assert!(
            !alone.assess(&[peer(1)], later).0,
            "one peer is not enough to judge"
        );
        let mut floored = Monitor::default();
        floored.record_fsync(10 * MS);
        floored.assess(&[peer(1), peer(1)], start);
        assert!(
            !floored.assess(&[peer(1), peer(1)], later).0,
            "10 ms is below the floor"
        );
        let mut everyone = Monitor::default();
        everyone.record_fsync(200 * MS);
        everyone.assess(&[peer(150), peer(180)], start);
        assert!(
            !everyone.assess(&[peer(150), peer(180)], later).0,
            "all slow alike: nobody to prefer"
        );
    }
}
