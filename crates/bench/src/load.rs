//! The load of one RESP connection (one client, see `route`): closed loop (batches of
//! `--pipeline` commands) or open loop (requests due at a fixed rate, latency from the due time).

use crate::cluster::SlotMap;
use crate::keys::KeyGen;
use crate::route::Client;
use crate::stats::Stats;
use crate::Workload;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep_until, timeout_at, Instant};

/// Everything the connections share, fixed before the run starts.
pub struct Plan {
    pub targets: Vec<String>,
    /// The target's slot map when it is a cluster of several nodes (routing by key slot);
    /// `None`: everything goes to `targets[0]`.
    pub slots: Option<SlotMap>,
    pub workload: Workload,
    pub pipeline: usize,
    pub keys: u64,
    pub cdf: Option<Arc<Vec<f64>>>,
    pub value: Vec<u8>,
    pub session: bool,
    pub connections: usize,
    /// Load starts at `t0`; only requests sent (or scheduled) in `[start, end)` are measured.
    pub t0: Instant,
    pub start: Instant,
    pub end: Instant,
    /// Replies still missing at this time are counted as "timeout".
    pub drain_deadline: Instant,
    /// Open loop: time between two requests of one connection.
    pub interval: Option<Duration>,
    /// Requests completed so far (all phases), for the progress line.
    pub progress: Arc<AtomicU64>,
}

impl Plan {
    /// Whether a request sent (or scheduled) at `due` counts in the results.
    pub fn measured(&self, due: Instant) -> bool {
        due >= self.start && due < self.end
    }

    /// Where connection `id` starts its key stream (distinct, reproducible).
    pub fn keys_for(&self, id: usize) -> KeyGen {
        KeyGen::new(id as u64 + 1, self.keys, self.cdf.clone())
    }
}

/// Runs one connection for the whole plan; never fails (failures are counted in the stats).
pub async fn connection(plan: Arc<Plan>, id: usize) -> Stats {
    let mut stats = Stats::new();
    let mut client = match Client::open(&plan, plan.keys_for(id)).await {
        Ok(client) => client,
        Err(e) => {
            stats.error(
                if e.starts_with("cannot connect") {
                    "connect"
                } else {
                    "io"
                },
                1,
            );
            return stats;
        }
    };
    match plan.interval {
        None => closed_loop(&plan, &mut client, &mut stats).await,
        Some(interval) => open_loop(&plan, &mut client, &mut stats, interval, id).await,
    }
    stats
}

/// Closed loop: send `pipeline` commands, wait for all replies (and the retries of redirected
/// ones), repeat.
async fn closed_loop(plan: &Plan, client: &mut Client, stats: &mut Stats) {
    while Instant::now() < plan.end {
        let sent = Instant::now();
        for _ in 0..plan.pipeline {
            let op = client.next_op(plan, sent);
            client.enqueue(plan, op);
        }
        client.flush(plan, stats).await;
        loop {
            client.take_replies(plan, stats);
            client.flush(plan, stats).await;
            if client.in_flight() == 0 {
                break;
            }
            if timeout_at(plan.drain_deadline, client.read_some(plan, stats))
                .await
                .is_err()
            {
                stats.error("timeout", client.abandon().len() as u64);
                return;
            }
        }
        if !client.recover(plan, stats).await {
            return;
        }
    }
}

/// Open loop (like wrk2): requests are due every `interval`; at most `pipeline` in flight per
/// connection. A request that has to wait for a slot keeps its scheduled time, so the queueing
/// delay a slow server causes is in the latency (coordinated omission is not hidden).
async fn open_loop(
    plan: &Plan,
    client: &mut Client,
    stats: &mut Stats,
    interval: Duration,
    id: usize,
) {
    // Spread the connections' schedules over one interval instead of firing them together.
    let mut next_due = plan.t0 + interval.mul_f64(id as f64 / plan.connections as f64);
    loop {
        let now = Instant::now();
        if now >= plan.drain_deadline {
            return give_up(plan, client.abandon(), (next_due, interval), stats, now);
        }
        if next_due >= plan.end && client.in_flight() == 0 {
            return;
        }
        while client.can_send()
            && next_due <= now
            && next_due < plan.end
            && client.in_flight() < plan.pipeline
        {
            let op = client.next_op(plan, next_due);
            client.enqueue(plan, op);
            next_due += interval;
        }
        client.flush(plan, stats).await;
        client.take_replies(plan, stats);
        client.flush(plan, stats).await;
        if !client.recover(plan, stats).await {
            return;
        }
        let can_send =
            client.can_send() && next_due < plan.end && client.in_flight() < plan.pipeline;
        let wake = if can_send {
            next_due
        } else {
            plan.drain_deadline
        };
        if client.in_flight() == 0 {
            sleep_until(wake).await;
            continue;
        }
        tokio::select! {
            _ = sleep_until(wake) => {}
            _ = client.read_some(plan, stats) => {}
        }
    }
}

/// At the drain deadline: requests still in flight (`in_flight`, their due times) or never
/// sent (`next_due` onwards, every `interval`) are timeouts. Their latency is at least
/// "deadline - scheduled time", and it is recorded so the tail is not flattered.
pub fn give_up(
    plan: &Plan,
    in_flight: Vec<Instant>,
    schedule: (Instant, Duration),
    stats: &mut Stats,
    now: Instant,
) {
    let (mut next_due, interval) = schedule;
    let mut pending = in_flight;
    while next_due < plan.end {
        pending.push(next_due);
        next_due += interval;
    }
    let measured: Vec<Instant> = pending
        .into_iter()
        .filter(|due| *due >= plan.start)
        .collect();
    stats.error("timeout", measured.len() as u64);
    for due in measured {
        stats
            .histogram
            .saturating_record((now - due).as_micros() as u64);
    }
}
