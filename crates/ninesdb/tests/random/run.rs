//! Sending one generated sequence to Redis and ninesdb, recording every step and mismatch,
//! re-syncing keys whose state is random (SPOP) or diverged (after a mismatch), and checking the
//! whole key space now and then.

use super::compare::agree;
use super::events::{as_replies, Listeners};
use super::gen::{all_keys, near, Gen};
use super::{Cmd, Family, Mode};
use crate::common::{Client, Reply};

/// The two servers under comparison.
pub struct Servers {
    pub redis: Client,
    pub ninesdb: Client,
    /// Commands ninesdb answered TRYAGAIN to (then retried).
    pub retries: usize,
    /// Subscribers on both servers, whose transcripts are compared at each check.
    pub listeners: Option<Listeners>,
}

impl Servers {
    pub fn call(&mut self, cmd: &Cmd) -> (Reply, Reply) {
        let args = cmd.bytes();
        let redis = self
            .redis
            .call(&args)
            .unwrap_or_else(|e| panic!("redis-server failed on `{}`: {e}", cmd.line()));
        let mut ninesdb;
        // (`ninesdb` is whatever stands in its place: a second Redis with NINESDB_DIFF_AGAINST.)
        let mut tries = 0;
        // TRYAGAIN (a leadership transfer, as the cluster settles its leaders after start) means
        // "not done, retry", as Redis Cluster clients do; a Redis would not say it.
        loop {
            ninesdb = self
                .ninesdb
                .call(&args)
                .unwrap_or_else(|e| panic!("ninesdb failed on `{}`: {e}", cmd.line()));
            match &ninesdb {
                Reply::Error(e) if e.starts_with("TRYAGAIN") && tries < 50 => {
                    tries += 1;
                    self.retries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                // A node whose state machine died (a panic) answers BUSY from then on (not
                // BUSYGROUP, an XGROUP CREATE error Redis gives too): stop
                // here rather than report every later command.
                Reply::Error(e) if e.starts_with("BUSY ") => {
                    panic!(
                        "ninesdb stopped serving (BUSY) at `{}`: a node failed, see its log below",
                        cmd.line()
                    )
                }
                _ => break,
            }
        }
        (redis, ninesdb)
    }

    pub fn flush(&mut self) {
        self.call(&Cmd::new("FLUSHALL"));
    }
}

/// A command as run, with both replies and the number of generated commands before it.
pub struct Step {
    pub cmd: Cmd,
    pub redis: Reply,
    pub ninesdb: Reply,
    pub number: usize,
}

impl Step {
    pub fn agrees(&self) -> bool {
        agree(&self.redis, &self.ninesdb, self.cmd.mode)
    }
}

/// What one seed's run did.
pub struct Run {
    pub seed: u64,
    pub steps: Vec<Step>,
    /// Indexes into `steps` of the commands whose replies differ.
    pub mismatches: Vec<usize>,
}

/// Runs `commands` generated commands of `families` (from an empty key space), checking every
/// key's type and value after each `check_every` commands and at the end.
pub fn run(
    servers: &mut Servers,
    seed: u64,
    commands: usize,
    families: &[&Family],
    check_every: usize,
) -> Run {
    let mut gen = Gen::new(seed);
    let total: u32 = families.iter().map(|f| f.weight).sum();
    let mut run = Run {
        seed,
        steps: Vec::new(),
        mismatches: Vec::new(),
    };
    servers.flush();
    for number in 0..commands {
        let mut draw = gen.rng.below(total as usize) as u32;
        let family = families
            .iter()
            .find(|f| {
                draw < f.weight || {
                    draw -= f.weight;
                    false
                }
            })
            .expect("a family");
        let mut cmd = (family.generate)(&mut gen);
        cmd.family = family.name;
        gen.mutate(&mut cmd);
        run.execute(servers, cmd, number);
        if (number + 1) % check_every == 0 || number + 1 == commands {
            run.check(servers, number);
        }
    }
    run
}

impl Run {
    fn execute(&mut self, servers: &mut Servers, cmd: Cmd, number: usize) {
        let (redis, ninesdb) = servers.call(&cmd);
        let step = Step {
            cmd,
            redis,
            ninesdb,
            number,
        };
        let agrees = step.agrees();
        // After a mismatch its keys may hold different values: delete them on both sides so
        // that one bug shows up once. A command on every key (KEYS, SCAN) changes nothing.
        let mut resync = step.cmd.resync.clone();
        if !agrees && step.cmd.keys.len() < all_keys().len() {
            resync.clone_from(&step.cmd.keys);
        }
        if step.cmd.family == "resync" {
            resync.clear();
        }
        let keys = step.cmd.keys.clone();
        let settle = step.cmd.settle;
        let align = step.cmd.align_encoding;
        if !agrees {
            self.mismatches.push(self.steps.len());
        }
        self.steps.push(step);
        if settle && resync.is_empty() && !keys.is_empty() {
            let mut exists = Cmd::new("EXISTS");
            for key in &keys {
                exists.key(key);
            }
            exists.family = "settle";
            self.execute(servers, exists, number);
        }
        if align && resync.is_empty() {
            let mut sort = Cmd::new("SORT");
            sort.key(&keys[0])
                .arg("BY")
                .arg("nosort")
                .arg("LIMIT")
                .arg("0")
                .arg("0");
            sort.mode(Mode::Shape).family = "settle";
            self.execute(servers, sort, number);
        }
        if !resync.is_empty() {
            let mut del = Cmd::new("DEL");
            for key in &resync {
                del.key(key);
            }
            del.mode(Mode::Shape).family = "resync";
            self.execute(servers, del, number);
        }
    }

    /// Compares what the subscribers heard since the last check (see `events`): one step,
    /// a mismatch if the transcripts differ.
    fn check_heard(&mut self, servers: &mut Servers, number: usize) {
        let Some(mut listeners) = servers.listeners.take() else {
            return;
        };
        let mut marker = Cmd::new("SET");
        let args = listeners.next_marker();
        marker.args = args;
        marker.family = "check";
        self.execute(servers, marker, number);
        let (redis, ninesdb) = listeners.heard();
        servers.listeners = Some(listeners);
        let (redis, ninesdb) = as_replies(&redis, &ninesdb);
        let mut heard = Cmd::new("(what subscribers heard)");
        heard.family = "events";
        let step = Step {
            cmd: heard,
            redis,
            ninesdb,
            number,
        };
        if !step.agrees() {
            self.mismatches.push(self.steps.len());
        }
        self.steps.push(step);
    }

    /// Compares what subscribers heard, the key lists, then each key's type, value and time
    /// to live.
    fn check(&mut self, servers: &mut Servers, number: usize) {
        self.check_heard(servers, number);
        let mut keys = Cmd::new("KEYS");
        keys.arg("*").touches(&all_keys()).mode(Mode::Sorted).family = "check";
        let at = self.steps.len();
        self.execute(servers, keys, number);
        let Reply::Array(names) = self.steps[at].redis.clone() else {
            panic!("KEYS * is an array")
        };
        let mut names: Vec<String> = names
            .into_iter()
            .filter_map(|n| match n {
                Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            })
            .collect();
        names.sort();
        for name in names {
            let mut type_ = Cmd::new("TYPE");
            type_.key(&name).family = "check";
            let at = self.steps.len();
            self.execute(servers, type_, number);
            let kind = self.steps[at].redis.clone();
            let mut read = match kind {
                Reply::Simple(k) if k == "string" => Cmd::new("GET"),
                Reply::Simple(k) if k == "list" => Cmd::new("LRANGE"),
                Reply::Simple(k) if k == "set" => Cmd::new("SMEMBERS"),
                Reply::Simple(k) if k == "hash" => Cmd::new("HGETALL"),
                Reply::Simple(k) if k == "zset" => Cmd::new("ZRANGE"),
                Reply::Simple(k) if k == "stream" => Cmd::new("XRANGE"),
                _ => continue,
            };
            read.key(&name);
            match read.name().as_str() {
                "LRANGE" => read.arg("0").arg("-1"),
                "ZRANGE" => read.arg("0").arg("-1").arg("WITHSCORES"),
                "XRANGE" => read.arg("-").arg("+"),
                "SMEMBERS" => read.mode(Mode::Sorted),
                "HGETALL" => read.mode(Mode::Pairs),
                _ => &mut read,
            };
            read.family = "check";
            self.execute(servers, read, number);
            let mut pttl = Cmd::new("PTTL");
            pttl.key(&name).mode(near(true)).family = "check";
            self.execute(servers, pttl, number);
        }
    }
}
