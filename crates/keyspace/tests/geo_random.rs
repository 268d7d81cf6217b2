// Goal: geo searches equal Redis's on many points, ordering included: points at the edge of a
// radius or box, the cell-by-cell order of unsorted results, ties under ASC/DESC/COUNT, and
// the areas where cells wrap (poles, antimeridian).
// Method: a seeded generator adds a few hundred points (uniform, clustered near hard places,
// and duplicated positions) and runs a few hundred GEOSEARCH/GEORADIUS/GEOSEARCHSTORE
// commands; the replies are compared with `tests/data/geo_random.txt`, recorded from Redis
// 7.0.15 by running this test with `GEO_RECORD_PORT=<port of a scratch redis-server>`
// (which flushes that server).

mod common;

use std::fmt::Write as _;
use std::io::{Read, Write};

use common::{parse_resp2, run, show, tokenize};
use keyspace::util::Rng;
use keyspace::{Context, Keyspace};

const KEY: &str = "{g}pts";
const EXPECTED: &str = "tests/data/geo_random.txt";

struct Gen(Rng);

impl Gen {
    /// Uniform in [lo, hi).
    fn float(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        lo + unit * (hi - lo)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Places where cells wrap or shrink, and an ordinary city.
const CENTRES: &[(f64, f64)] = &[
    (13.4, 38.1),
    (179.9, 0.3),
    (-179.95, -20.0),
    (0.0, 84.9),
    (120.0, -84.95),
    (-74.0, 40.7),
];

fn lon_text(x: f64) -> String {
    format!("{:.6}", x.clamp(-180.0, 180.0))
}

fn lat_text(y: f64) -> String {
    format!("{:.6}", y.clamp(-85.051128, 85.051128))
}

/// The points: (member, lon, lat) as the commands spell them.
fn points(g: &mut Gen) -> Vec<(String, String, String)> {
    let mut pts = Vec::new();
    for i in 0..160 {
        let lon = g.float(-180.0, 180.0);
        let lat = g.float(-85.0, 85.0);
        pts.push((format!("u{i}"), lon_text(lon), lat_text(lat)));
    }
    for i in 0..180 {
        let (cx, cy) = CENTRES[i % CENTRES.len()];
        let spread = if i % 3 == 0 { 0.05 } else { 0.6 };
        let lon = cx + g.float(-spread, spread);
        let lat = cy + g.float(-spread, spread);
        pts.push((format!("c{i}"), lon_text(lon), lat_text(lat)));
    }
    // Same positions under other names: equal distances for the sorts to order.
    for i in 0..40 {
        let (_, lon, lat) = pts[g.below(pts.len())].clone();
        pts.push((format!("d{i}"), lon, lat));
    }
    pts
}

fn unit(g: &mut Gen) -> (&'static str, f64) {
    [("m", 1.0), ("km", 1000.0), ("mi", 1609.34), ("ft", 0.3048)][g.below(4)]
}

/// A distance of 50 m to 2000 km, log-uniform, in `per` meters per unit.
fn length(g: &mut Gen, per: f64) -> String {
    let meters = 10f64.powf(g.float(1.7, 6.3));
    format!("{:.3}", meters / per)
}

/// One search command.
fn query(g: &mut Gen, pts: &[(String, String, String)], n: usize) -> Vec<String> {
    let member = pts[g.below(pts.len())].0.clone();
    let (lon, lat) = if g.chance(60) {
        let (cx, cy) = CENTRES[g.below(CENTRES.len())];
        (cx + g.float(-0.7, 0.7), cy + g.float(-0.7, 0.7))
    } else {
        (g.float(-180.0, 180.0), g.float(-85.0, 85.0))
    };
    let (lon, lat) = (lon_text(lon), lat_text(lat));
    let (u, per) = unit(g);
    let mut opts = String::new();
    match g.below(3) {
        0 => {}
        1 => opts.push_str(" ASC"),
        _ => opts.push_str(" DESC"),
    }
    if g.chance(40) {
        let _ = write!(opts, " COUNT {}", 1 + g.below(15));
        if g.chance(35) {
            opts.push_str(" ANY");
        }
    }
    let withs: String = [" WITHDIST", " WITHHASH", " WITHCOORD"]
        .iter()
        .filter(|_| g.chance(30))
        .copied()
        .collect();
    let from_member = g.chance(30);
    let from = if from_member {
        format!("FROMMEMBER {member}")
    } else {
        format!("FROMLONLAT {lon} {lat}")
    };
    let by = if g.chance(35) {
        format!("BYBOX {} {} {u}", length(g, per), length(g, per))
    } else {
        format!("BYRADIUS {} {u}", length(g, per))
    };
    match g.below(10) {
        0 => {
            let r = length(g, per);
            if from_member {
                vec![format!(
                    "GEORADIUSBYMEMBER_RO {KEY} {member} {r} {u}{opts}{withs}"
                )]
            } else {
                vec![format!("GEORADIUS {KEY} {lon} {lat} {r} {u}{opts}{withs}")]
            }
        }
        1 => {
            let dist = if g.chance(50) { " STOREDIST" } else { "" };
            let dst = format!("{{g}}dst{}", n % 3);
            vec![
                format!("GEOSEARCHSTORE {dst} {KEY} {from} {by}{opts}{dist}"),
                format!("ZRANGE {dst} 0 -1 WITHSCORES"),
            ]
        }
        _ => vec![format!("GEOSEARCH {KEY} {from} {by}{opts}{withs}")],
    }
}

/// Every command of the run, in order.
fn commands() -> Vec<String> {
    let mut g = Gen(Rng::new(20240607));
    let pts = points(&mut g);
    let mut cmds = Vec::new();
    for chunk in pts.chunks(40) {
        let mut c = format!("GEOADD {KEY}");
        for (m, lon, lat) in chunk {
            let _ = write!(c, " {lon} {lat} {m}");
        }
        cmds.push(c);
    }
    // Positions of a few members, and distances between neighbours in the list.
    for i in (0..pts.len()).step_by(23) {
        let j = (i + 181) % pts.len();
        cmds.push(format!("GEOPOS {KEY} {} {}", pts[i].0, pts[j].0));
        cmds.push(format!("GEOHASH {KEY} {} {}", pts[i].0, pts[j].0));
        cmds.push(format!("GEODIST {KEY} {} {} km", pts[i].0, pts[j].0));
    }
    for n in 0..320 {
        cmds.extend(query(&mut g, &pts, n));
    }
    cmds
}

/// Sends one command to Redis and reads one reply.
fn redis_reply(conn: &mut std::net::TcpStream, args: &[bytes::Bytes], buf: &mut Vec<u8>) -> String {
    let mut msg = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        msg.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        msg.extend_from_slice(a);
        msg.extend_from_slice(b"\r\n");
    }
    conn.write_all(&msg).expect("write to redis");
    loop {
        if let Some((v, used)) = parse_resp2(buf) {
            buf.drain(..used);
            return show(&v);
        }
        let mut chunk = [0u8; 65536];
        let n = conn.read(&mut chunk).expect("read from redis");
        assert!(n > 0, "redis closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn record(port: &str, cmds: &[String]) {
    let mut conn = std::net::TcpStream::connect(format!("127.0.0.1:{port}")).expect("redis");
    let mut buf = Vec::new();
    redis_reply(&mut conn, &tokenize("FLUSHALL"), &mut buf);
    let mut out = String::new();
    for c in cmds {
        let reply = redis_reply(&mut conn, &tokenize(c), &mut buf);
        let _ = writeln!(out, "{c} -> {reply}");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXPECTED);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, out).expect("write the expected replies");
}

#[test]
fn random_searches_match_redis() {
    let cmds = commands();
    if let Ok(port) = std::env::var("GEO_RECORD_PORT") {
        record(&port, &cmds);
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXPECTED);
    let text = std::fs::read_to_string(path).expect("recorded replies");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        cmds.len(),
        "the recording is of another generator"
    );
    let mut ks = Keyspace::new();
    let ctx = Context {
        now_ms: 1_000_000,
        seed: 7,
    };
    let mut failures = Vec::new();
    let mut nonempty = 0;
    for (cmd, line) in cmds.iter().zip(&lines) {
        let (rec_cmd, want) = line.split_once(" -> ").expect("cmd -> reply");
        assert_eq!(rec_cmd, cmd, "the recording is of another generator");
        let got = show(&run(&mut ks, cmd, ctx));
        if want != "[]" && want != ":0" {
            nonempty += 1;
        }
        if got != want {
            failures.push(format!("{cmd}\n   want {want}\n    got {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        cmds.len(),
        failures.join("\n")
    );
    // The run must exercise something.
    assert!(
        nonempty > cmds.len() / 2,
        "only {nonempty} non-empty replies"
    );
}

/// Arguments for the panic hunt: options, units, edge numbers and junk.
const WORDS: &str = "FROMMEMBER FROMLONLAT BYRADIUS BYBOX ASC DESC COUNT ANY WITHDIST WITHHASH \
    WITHCOORD STORE STOREDIST NX XX CH km m mi ft a b {g}k {g}d 0 -1 1 180 -180 85.05112878 \
    -85.05112878 90 1e400 inf -inf nan 1e-310 9223372036854775807 -9223372036854775808 \
    99999999999999999999 0x10 3.5 \"\"";
const NAMES: &str = "GEOADD GEODIST GEOHASH GEOPOS GEORADIUS GEORADIUS_RO GEORADIUSBYMEMBER \
    GEORADIUSBYMEMBER_RO GEOSEARCH GEOSEARCHSTORE";

/// No input makes a geo command panic: random mixes of options, numbers and junk.
#[test]
fn random_arguments_never_panic() {
    let mut g = Gen(Rng::new(99));
    let words: Vec<&str> = WORDS.split_whitespace().collect();
    let names: Vec<&str> = NAMES.split_whitespace().collect();
    let mut ks = Keyspace::new();
    let ctx = Context {
        now_ms: 1_000_000,
        seed: 7,
    };
    run(
        &mut ks,
        "GEOADD {g}k 1 1 a 1.001 1 b 180 85.05112878 c",
        ctx,
    );
    run(&mut ks, "ZADD {g}k inf d -inf e", ctx);
    for _ in 0..20000 {
        let mut c = format!("{} {{g}}k", names[g.below(names.len())]);
        for _ in 0..g.below(12) {
            let w = words[g.below(words.len())];
            let _ = write!(c, " {w}");
        }
        run(&mut ks, &c, ctx);
    }
}
