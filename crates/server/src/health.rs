//! Gray failures in the server: the rule itself (who is sick, with hysteresis) is
//! `placement::health`, shared with the lab; here are the server's clock and the operator's
//! fault injection.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use placement::health::{Health, Monitor};

/// Peer measures older than this are ignored.
pub const FRESH_FOR: Duration = Duration::from_micros(placement::health::FRESH_FOR_US);

/// An operator's fault injection (`NINESDB DEBUG SLOW-DISK <ms>`): every log flush that
/// syncs takes this much longer. For drills and tests of the handling.
pub static INJECTED_FSYNC_DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// An operator's fault injection (`NINESDB DEBUG FAIL-DISK`): the next log flush fails as a
/// broken disk would, so the fail-stop path can be drilled.
pub static INJECTED_DISK_FAILURE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

pub fn injected_fsync_delay() -> Option<Duration> {
    match INJECTED_FSYNC_DELAY_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// `at` as microseconds since the first call (the health rule's time axis).
pub fn micros(at: Instant) -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    at.saturating_duration_since(origin).as_micros() as u64
}
