//! Confidence intervals and nines.

/// A point estimate with a 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Estimate {
    /// Point estimate.
    pub value: f64,
    /// Lower bound of the 95% interval.
    pub low: f64,
    /// Upper bound of the 95% interval.
    pub high: f64,
}

/// Two-sided 97.5% quantile of Student's t for `dof` degrees of freedom: with a handful of
/// runs the normal 1.96 would make intervals too narrow.
fn t_quantile(dof: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match dof {
        0 => f64::INFINITY,
        1..=30 => TABLE[dof - 1],
        _ => 1.96,
    }
}

/// Mean of per-run values with a t-based 95% interval (infinite width for one run).
pub fn mean_interval(values: &[f64]) -> Estimate {
    let n = values.len();
    if n == 0 {
        return Estimate {
            value: f64::NAN,
            low: f64::NAN,
            high: f64::NAN,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Estimate {
            value: mean,
            low: f64::NEG_INFINITY,
            high: f64::INFINITY,
        };
    }
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile(n - 1) * (variance / n as f64).sqrt();
    Estimate {
        value: mean,
        low: mean - half,
        high: mean + half,
    }
}

/// Wilson score 95% interval for `successes` out of `trials`: sane near 0 and 1, where
/// the normal approximation breaks down (rare losses are exactly that case).
pub fn wilson(successes: u64, trials: u64) -> Estimate {
    if trials == 0 {
        return Estimate {
            value: f64::NAN,
            low: 0.0,
            high: 1.0,
        };
    }
    let z = 1.959_964;
    let n = trials as f64;
    let p = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    Estimate {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// 95% interval for the mean of a Poisson count `k` (Wilson-Hilferty approximation of
/// the exact chi-square bounds; exact enough for k >= 1, and 0..3.689 for k = 0).
pub fn poisson_interval(k: u64) -> Estimate {
    let z = 1.959_964;
    let low = if k == 0 {
        0.0
    } else {
        let k = k as f64;
        k * (1.0 - 1.0 / (9.0 * k) - z / (3.0 * k.sqrt())).powi(3)
    };
    let k1 = k as f64 + 1.0;
    let high = k1 * (1.0 - 1.0 / (9.0 * k1) + z / (3.0 * k1.sqrt())).powi(3);
    Estimate {
        value: k as f64,
        low: low.max(0.0),
        high,
    }
}

/// Mean time between events from `k` events in `exposure` time, with its interval.
pub fn mean_time_between(k: u64, exposure: f64) -> Estimate {
    let count = poisson_interval(k);
    let estimate = if k == 0 {
        f64::INFINITY
    } else {
        exposure / k as f64
    };
    let high = if count.low > 0.0 {
        exposure / count.low
    } else {
        f64::INFINITY
    };
    Estimate {
        value: estimate,
        low: exposure / count.high,
        high,
    }
}

/// Nines of an availability: -log10(1 - A). Infinite for no observed unavailability.
pub fn nines(unavailability: f64) -> f64 {
    if unavailability <= 0.0 {
        f64::INFINITY
    } else {
        -unavailability.log10()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_cover_known_values() {
        // Goal: spot-check each interval against textbook values.
        let w = wilson(0, 100);
        assert!(w.low == 0.0 && (w.high - 0.037).abs() < 0.001, "{w:?}");
        let p = poisson_interval(10);
        assert!(
            (p.low - 4.80).abs() < 0.1 && (p.high - 18.39).abs() < 0.1,
            "{p:?}"
        );
        let m = mean_interval(&[1.0, 2.0, 3.0]);
        assert!(
            (m.value - 2.0).abs() < 1e-12 && (m.high - 4.484).abs() < 0.01,
            "{m:?}"
        );
        assert!((nines(1e-5) - 5.0).abs() < 1e-12);
    }
}
