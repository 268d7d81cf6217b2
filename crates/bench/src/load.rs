//! The per-connection load loops: closed loop (send a batch, wait for it) and open loop
//! (send at scheduled times, latency measured from the scheduled time).

use crate::conn::{self, error_kind, moved_address, Conn};
use crate::keys::{KeyGen, KEY_LEN};
use crate::resp::{self, Reply};
use crate::stats::Stats;
use crate::Workload;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep, sleep_until, Instant};

/// Everything the connections share, fixed before the run starts.
pub struct Plan {
    pub targets: Vec<String>,
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

/// A connection plus what it needs to build commands.
struct Client {
    conn: Conn,
    keys: KeyGen,
    session: Option<u64>,
    seq: u64,
    target_index: usize,
}

impl Client {
    async fn open(plan: &Plan, address: &str, keys: KeyGen) -> Result<Client, String> {
        let (conn, session) = open_conn(plan, address, None).await?;
        Ok(Client { conn, keys, session, seq: 0, target_index: 0 })
    }

    /// Appends the next operation of the workload to `buf`.
    fn push_op(&mut self, plan: &Plan, buf: &mut Vec<u8>) {
        let write = match plan.workload {
            Workload::Write => true,
            Workload::Read => false,
            Workload::Mixed => self.keys.next_u64() & 1 == 0,
        };
        let mut key = [0u8; KEY_LEN];
        self.keys.next_key(&mut key);
        match (write, self.session) {
            (false, _) => resp::push_command(buf, &[b"GET", &key]),
            (true, None) => resp::push_command(buf, &[b"SET", &key, &plan.value]),
            (true, Some(session)) => {
                self.seq += 1;
                let (mut sid, mut seq) = (Vec::with_capacity(20), Vec::with_capacity(20));
                resp::push_uint(&mut sid, session);
                resp::push_uint(&mut seq, self.seq);
                resp::push_command(buf, &[b"NINESDB", b"REQ", &sid, &seq, b"SET", &key, &plan.value]);
            }
        }
    }

    /// Replaces the connection: to `address` after a MOVED, else to the next target.
    /// Retries until the run ends; `false` if it never came back.
    async fn reconnect(&mut self, plan: &Plan, address: Option<String>, stats: &mut Stats) -> bool {
        let mut address = address;
        while Instant::now() < plan.end {
            let to = address.take().unwrap_or_else(|| {
                self.target_index = (self.target_index + 1) % plan.targets.len();
                plan.targets[self.target_index].clone()
            });
            match open_conn(plan, &to, self.session).await {
                Ok((conn, session)) => {
                    (self.conn, self.session) = (conn, session);
                    return true;
                }
                Err(_) => {
                    stats.error("connect", 1);
                    sleep(Duration::from_millis(100)).await;
                }
            }
        }
        false
    }
}

/// Connects, and opens a session if the plan wants one and `session` has none yet.
async fn open_conn(plan: &Plan, address: &str, session: Option<u64>) -> Result<(Conn, Option<u64>), String> {
    let mut conn = conn::connect(address).await?;
    let session = match (plan.session, session) {
        // Sessions live in the replicated state: a reconnect keeps using the same one.
        (true, None) => Some(conn.open_session(plan.drain_deadline).await?),
        (_, kept) => kept,
    };
    Ok((conn, session))
}

/// Runs one connection for the whole plan; never fails (failures are counted in the stats).
pub async fn connection(plan: Arc<Plan>, id: usize) -> Stats {
    let mut stats = Stats::new();
    let keys = KeyGen::new(id as u64 + 1, plan.keys, plan.cdf.clone());
    let mut client = match Client::open(&plan, &plan.targets[0], keys).await {
        Ok(client) => client,
        Err(e) => {
            stats.error(&first_words(&e), 1);
            return stats;
        }
    };
    match plan.interval {
        None => closed_loop(&plan, &mut client, &mut stats).await,
        Some(interval) => open_loop(&plan, &mut client, &mut stats, interval, id).await,
    }
    stats
}

fn first_words(error: &str) -> String {
    if error.starts_with("cannot connect") { "connect".to_owned() } else { "io".to_owned() }
}

/// Closed loop: send `pipeline` commands, wait for all replies, repeat.
async fn closed_loop(plan: &Plan, client: &mut Client, stats: &mut Stats) {
    let mut buf = Vec::with_capacity(plan.pipeline * (plan.value.len() + 64));
    while Instant::now() < plan.end {
        buf.clear();
        for _ in 0..plan.pipeline {
            client.push_op(plan, &mut buf);
        }
        let sent = Instant::now();
        let measured = sent >= plan.start;
        let mut moved = None;
        let mut failed = client.conn.send(&buf).await.is_err().then_some(plan.pipeline);
        let mut answered = 0;
        while failed.is_none() && answered < plan.pipeline {
            match client.conn.reply_before(plan.drain_deadline).await {
                Ok(Some(Reply::Error(e))) => {
                    moved = moved.or_else(|| moved_address(&e).map(str::to_owned));
                    if measured {
                        stats.error(&error_kind(&e), 1);
                    }
                }
                Ok(Some(_)) if measured => stats.record_at(sent.elapsed().as_micros() as u64, Instant::now()),
                Ok(Some(_)) => {}
                Ok(None) => {
                    stats.error("timeout", (plan.pipeline - answered) as u64);
                    return;
                }
                Err(_) => failed = Some(plan.pipeline - answered),
            }
            answered += 1;
        }
        plan.progress.fetch_add(answered as u64, Ordering::Relaxed);
        if let Some(lost) = failed {
            stats.error("io", lost as u64);
        }
        if (failed.is_some() || moved.is_some()) && !client.reconnect(plan, moved, stats).await {
            return;
        }
    }
}

/// Open loop state of one connection: what was scheduled and not answered yet.
struct Schedule {
    interval: Duration,
    next_due: Instant,
    /// Scheduled send times of the requests in flight, oldest first.
    in_flight: VecDeque<Instant>,
    moved: Option<String>,
}

/// Open loop (like wrk2): requests are due every `interval`; at most `pipeline` in flight per
/// connection. A request that has to wait for a slot keeps its scheduled time, so the queueing
/// delay a slow server causes is in the latency (coordinated omission is not hidden).
async fn open_loop(plan: &Plan, client: &mut Client, stats: &mut Stats, interval: Duration, id: usize) {
    // Spread the connections' schedules over one interval instead of firing them together.
    let offset = interval.mul_f64(id as f64 / plan.connections as f64);
    let mut schedule = Schedule { interval, next_due: plan.t0 + offset, in_flight: VecDeque::new(), moved: None };
    let mut buf = Vec::new();
    loop {
        let now = Instant::now();
        if now >= plan.drain_deadline {
            return give_up(plan, &mut schedule, stats, now);
        }
        if schedule.next_due >= plan.end && schedule.in_flight.is_empty() {
            return;
        }
        if let Err(lost) = open_step(plan, client, stats, &mut schedule, &mut buf).await {
            stats.error("io", lost);
            let moved = schedule.moved.take();
            if !client.reconnect(plan, moved, stats).await {
                return;
            }
        }
    }
}

/// One turn of the open loop: send what is due, take the replies, wait for the next event.
/// `Err(lost)` when the connection must be replaced (`lost` requests died with it).
async fn open_step(plan: &Plan, client: &mut Client, stats: &mut Stats, s: &mut Schedule, buf: &mut Vec<u8>) -> Result<(), u64> {
    buf.clear();
    let now = Instant::now();
    while s.moved.is_none() && s.next_due <= now && s.next_due < plan.end && s.in_flight.len() < plan.pipeline {
        client.push_op(plan, buf);
        s.in_flight.push_back(s.next_due);
        s.next_due += s.interval;
    }
    if !buf.is_empty() && client.conn.send(buf).await.is_err() {
        return Err(drop_in_flight(s));
    }
    take_replies(plan, client, stats, s).map_err(|_| drop_in_flight(s))?;
    if s.moved.is_some() && s.in_flight.is_empty() {
        // Every reply of the old connection is in: now follow the redirect.
        return Err(0);
    }
    let can_send = s.moved.is_none() && s.next_due < plan.end && s.in_flight.len() < plan.pipeline;
    let wake = if can_send { s.next_due } else { plan.drain_deadline };
    tokio::select! {
        _ = sleep_until(wake) => Ok(()),
        read = client.conn.fill() => read.map_err(|_| drop_in_flight(s)),
    }
}

/// Handles every reply already buffered (no I/O).
fn take_replies(plan: &Plan, client: &mut Client, stats: &mut Stats, s: &mut Schedule) -> Result<(), String> {
    while let Some(reply) = client.conn.try_reply()? {
        let Some(due) = s.in_flight.pop_front() else { return Err("reply to nothing".to_owned()) };
        plan.progress.fetch_add(1, Ordering::Relaxed);
        let measured = due >= plan.start && due < plan.end;
        match reply {
            Reply::Error(e) => {
                if s.moved.is_none() {
                    s.moved = moved_address(&e).map(str::to_owned);
                }
                if measured {
                    stats.error(&error_kind(&e), 1);
                }
            }
            _ if measured => stats.record_at(due.elapsed().as_micros() as u64, Instant::now()),
            _ => {}
        }
    }
    Ok(())
}

fn drop_in_flight(s: &mut Schedule) -> u64 {
    let lost = s.in_flight.len() as u64;
    s.in_flight.clear();
    lost
}

/// At the drain deadline: requests still in flight or never sent are timeouts. Their latency is
/// at least "deadline - scheduled time", and it is recorded so the tail is not flattered.
fn give_up(plan: &Plan, s: &mut Schedule, stats: &mut Stats, now: Instant) {
    let mut pending: Vec<Instant> = s.in_flight.drain(..).collect();
    while s.next_due < plan.end {
        pending.push(s.next_due);
        s.next_due += s.interval;
    }
    let measured: Vec<Instant> = pending.into_iter().filter(|due| *due >= plan.start).collect();
    stats.error("timeout", measured.len() as u64);
    for due in measured {
        stats.histogram.saturating_record((now - due).as_micros() as u64);
    }
}
