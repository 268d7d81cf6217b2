//! Closed-form reliability figures the model is validated against
//! (reliability-anchors.md section 5).

use crate::config::HOURS_PER_YEAR;

/// Expected fleet failures per day: N / MTBF (section 5.1).
pub fn failures_per_day(servers: u32, mtbf_years: f64) -> f64 {
    f64::from(servers) / (mtbf_years * HOURS_PER_YEAR / 24.0)
}

/// Exact mean time to data loss of one group of `r` replicas from the all-healthy state:
/// a birth-death chain on the number of missing replicas, failures at rate (r - i) lambda,
/// repairs in parallel at rate i mu, absorbed at i = r (section 5.4). Time unit: 1/lambda's.
///
/// The mean passage time from i to i + 1 obeys tau_i = 1/a_i + (b_i / a_i) tau_{i-1}
/// (a_i: failure rate, b_i: repair rate in state i); the MTTDL is their sum.
pub fn mttdl_birth_death(r: u32, lambda: f64, mu: f64) -> f64 {
    let mut tau_previous = 0.0;
    let mut total = 0.0;
    for i in 0..r {
        let a = f64::from(r - i) * lambda;
        let b = f64::from(i) * mu;
        let tau = 1.0 / a + b / a * tau_previous;
        total += tau;
        tau_previous = tau;
    }
    total
}

/// ln C(n, k) via a product (exact enough for the sizes here).
fn ln_choose(n: u64, k: u64) -> f64 {
    (0..k)
        .map(|i| ((n - i) as f64).ln() - ((i + 1) as f64).ln())
        .sum()
}

/// Probability that `failed` simultaneous failures out of `nodes` destroy all r members of
/// at least one of `copysets` distinct copysets: 1 - (1 - C(F,R)/C(N,R))^S (section 5.5).
pub fn copyset_loss_probability(nodes: u64, r: u64, failed: u64, copysets: f64) -> f64 {
    if failed < r {
        return 0.0;
    }
    let p_one = (ln_choose(failed, r) - ln_choose(nodes, r)).exp();
    1.0 - (copysets * (-p_one).ln_1p()).exp()
}

/// Expected shards with all r = 3 replicas among `failed` of `nodes` servers, for `shards`
/// shards placed uniformly at random: shards x C(F,3)/C(N,3).
pub fn expected_lost_random(nodes: u64, failed: u64, shards: f64) -> f64 {
    shards * (ln_choose(failed, 3) - ln_choose(nodes, 3)).exp()
}

/// Expected groups (r = 3, random placement over K equal racks) that lose their majority
/// when one given rack fails: G [3 (1/K)^2 (1 - 1/K) + (1/K)^3] (section 5.6).
pub fn rack_quorum_loss_expected(groups: f64, racks: f64) -> f64 {
    let p = 1.0 / racks;
    groups * (3.0 * p * p * (1.0 - p) + p * p * p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_figures() {
        // Goal: the closed forms reproduce the figures printed in reliability-anchors.md 5.
        assert!((failures_per_day(10_000, 30.0) - 0.913).abs() < 0.001);
        // R=2, T=24 h, MTBF=30 y: MTTDL ~ MTBF^2 / (2T) = 1.6e5 years.
        let lambda = 1.0 / (30.0 * HOURS_PER_YEAR);
        let mttdl_years = mttdl_birth_death(2, lambda, 1.0 / 24.0) / HOURS_PER_YEAR;
        assert!((mttdl_years / 1.645e5 - 1.0).abs() < 0.02, "{mttdl_years}");
        // R=3, T=1 h: 6.9e11 years (parallel repair).
        let mttdl_years = mttdl_birth_death(3, lambda, 1.0) / HOURS_PER_YEAR;
        assert!((mttdl_years / 6.9e11 - 1.0).abs() < 0.05, "{mttdl_years}");
        assert!((copyset_loss_probability(5_000, 3, 50, 1_666.0) - 0.00157).abs() < 0.00002);
        assert!((copyset_loss_probability(5_000, 3, 50, 1.0e6) - 0.61).abs() < 0.01);
        assert!(copyset_loss_probability(5_000, 3, 50, 1.0e7) > 0.9999);
        assert!((rack_quorum_loss_expected(1.0e5, 250.0) - 4.8).abs() < 0.05);
    }
}
