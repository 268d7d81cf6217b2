//! `etcd://` targets (feature `etcd`): the same closed and open loops as over RESP, through the
//! etcd-client crate (gRPC over one HTTP/2 connection per bench connection).
//! write = Put, read = Range of one key (linearizable: etcd's default), mixed = 50/50.
//! `--pipeline P` = P concurrent requests on the connection (gRPC multiplexes them).

use crate::keys::KeyGen;
use crate::load::{give_up, Plan};
use crate::stats::Stats;
use etcd_client::{Client, ConnectOptions, Error, KvClient};
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before a connection that found its endpoint unreachable tries the next one.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// The error kind of a request still unanswered at the drain deadline.
const TIMEOUT: &str = "timeout";

/// A finished request: when it was due, and the error kind if it failed.
type Outcome = (Instant, Result<(), String>);
type Request = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// A KV client on its own channel (its own HTTP/2 connection) to `endpoint`.
pub async fn connect(endpoint: &str) -> Result<KvClient, String> {
    let options = ConnectOptions::new().with_connect_timeout(CONNECT_TIMEOUT);
    let client = Client::connect([format!("http://{endpoint}")], Some(options))
        .await
        .map_err(|e| format!("cannot connect to etcd at {endpoint}: {e}"))?;
    Ok(client.kv_client())
}

/// One linearizable read, so that a dead or leaderless etcd fails the run with one clear error.
pub async fn probe(endpoint: &str) -> Result<(), String> {
    let mut kv = connect(endpoint).await?;
    match timeout(PROBE_TIMEOUT, kv.get("ninesdb-bench-probe", None)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "etcd at {endpoint} does not answer: {e} - is it running, with a leader?"
        )),
        Err(_) => Err(format!(
            "etcd at {endpoint}: no answer in {PROBE_TIMEOUT:?} - is it running, with a leader?"
        )),
    }
}

/// Errors grouped by gRPC status code (`Unavailable`, `DeadlineExceeded`, ...) or transport.
fn error_kind(error: &Error) -> String {
    match error {
        Error::GRpcStatus(status) => format!("{:?}", status.code()),
        Error::TransportError(_) => "transport".to_owned(),
        other => other
            .to_string()
            .split(':')
            .next()
            .unwrap_or("etcd")
            .to_owned(),
    }
}

/// Whether the endpoint itself looks gone (then the connection moves to the next one).
fn unreachable(kind: &str) -> bool {
    kind == "transport" || kind == "Unavailable"
}

struct EtcdClient {
    kv: KvClient,
    keys: KeyGen,
    target_index: usize,
    in_flight: FuturesUnordered<Request>,
}

impl EtcdClient {
    /// Starts the next request of the workload, due at `due`; it gives up at the drain deadline.
    fn send(&mut self, plan: &Plan, due: Instant) {
        let (write, key) = self.keys.next_request(plan.workload);
        let mut kv = self.kv.clone();
        let value = if write {
            plan.value.clone()
        } else {
            Vec::new()
        };
        let deadline = plan.drain_deadline;
        self.in_flight.push(Box::pin(async move {
            let request = async {
                match write {
                    true => kv.put(key.to_vec(), value, None).await.map(drop),
                    false => kv.get(key.to_vec(), None).await.map(drop),
                }
            };
            let result = match timeout_at(deadline, request).await {
                Ok(result) => result.map_err(|e| error_kind(&e)),
                Err(_) => Err(TIMEOUT.to_owned()),
            };
            (due, result)
        }));
    }

    /// After an unreachable endpoint: the next one (or the same, after a pause). Requests in
    /// flight finish on the old channel.
    async fn switch_endpoint(&mut self, plan: &Plan, stats: &mut Stats) {
        sleep(RECONNECT_PAUSE).await;
        self.target_index = (self.target_index + 1) % plan.targets.len();
        match connect(&plan.targets[self.target_index]).await {
            Ok(kv) => self.kv = kv,
            Err(_) => stats.error("connect", 1),
        }
    }
}

/// Books one finished request; returns its error kind, if any.
fn finish(plan: &Plan, stats: &mut Stats, (due, result): Outcome) -> Option<String> {
    plan.progress.fetch_add(1, Ordering::Relaxed);
    let measured = plan.measured(due);
    match result {
        Ok(()) if measured => stats.record_at(due.elapsed().as_micros() as u64, Instant::now()),
        Ok(()) => {}
        Err(kind) => {
            if measured {
                stats.error(&kind, 1);
            }
            return Some(kind);
        }
    }
    None
}

/// Runs one connection for the whole plan; never fails (failures are counted in the stats).
pub async fn connection(plan: Arc<Plan>, id: usize) -> Stats {
    let mut stats = Stats::new();
    let kv = match connect(&plan.targets[0]).await {
        Ok(kv) => kv,
        Err(_) => {
            stats.error("connect", 1);
            return stats;
        }
    };
    let mut client = EtcdClient {
        kv,
        keys: plan.keys_for(id),
        target_index: 0,
        in_flight: FuturesUnordered::new(),
    };
    match plan.interval {
        None => closed_loop(&plan, &mut client, &mut stats).await,
        Some(interval) => open_loop(&plan, &mut client, &mut stats, interval, id).await,
    }
    stats
}

/// Closed loop: start `pipeline` requests together, wait for all, repeat.
async fn closed_loop(plan: &Plan, client: &mut EtcdClient, stats: &mut Stats) {
    while Instant::now() < plan.end {
        let sent = Instant::now();
        for _ in 0..plan.pipeline {
            client.send(plan, sent);
        }
        let (mut gone, mut timed_out) = (false, false);
        while let Some(outcome) = client.in_flight.next().await {
            let kind = finish(plan, stats, outcome);
            gone |= kind.as_deref().is_some_and(unreachable);
            timed_out |= kind.as_deref() == Some(TIMEOUT);
        }
        if timed_out {
            return;
        }
        if gone {
            client.switch_endpoint(plan, stats).await;
        }
    }
}

/// Open loop: a request is due every `interval`, at most `pipeline` in flight; latency runs
/// from the due time (see `load::open_loop`).
async fn open_loop(
    plan: &Plan,
    client: &mut EtcdClient,
    stats: &mut Stats,
    interval: Duration,
    id: usize,
) {
    let mut next_due = plan.t0 + interval.mul_f64(id as f64 / plan.connections as f64);
    loop {
        let now = Instant::now();
        if client.in_flight.is_empty() && (next_due >= plan.end || now >= plan.drain_deadline) {
            // Whatever was scheduled and never sent is a timeout (none if all went out).
            return give_up(plan, Vec::new(), (next_due, interval), stats, now);
        }
        while now < plan.drain_deadline
            && next_due <= now
            && next_due < plan.end
            && client.in_flight.len() < plan.pipeline
        {
            client.send(plan, next_due);
            next_due += interval;
        }
        let can_send = next_due < plan.end && client.in_flight.len() < plan.pipeline;
        let wake = if can_send && now < plan.drain_deadline {
            next_due
        } else {
            plan.drain_deadline
        };
        tokio::select! {
            _ = sleep_until(wake) => {}
            Some((due, result)) = client.in_flight.next(), if !client.in_flight.is_empty() => {
                if result.as_ref().is_err_and(|kind| kind == TIMEOUT) && plan.measured(due) {
                    // As in `give_up`: the wait so far is the least this request took.
                    stats.histogram.saturating_record(due.elapsed().as_micros() as u64);
                }
                if finish(plan, stats, (due, result)).as_deref().is_some_and(unreachable) {
                    client.switch_endpoint(plan, stats).await;
                }
            }
        }
    }
}
