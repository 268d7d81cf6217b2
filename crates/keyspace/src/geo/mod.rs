//! Geo commands over sorted sets, with Redis's 52-bit geohash.
//!
//! A point is a sorted-set member whose score is its geohash (`hash`): GEOADD is ZADD with
//! encoded scores, and a search scans the score intervals of 9 cells around the centre
//! (`search`), keeping what is inside the shape and sorting it as Redis does (`sort`).
//!
//! Replies follow Redis 7.0: coordinates are `%.17Lf` with the trailing zeros cut (a bulk
//! string in RESP2, a double in RESP3), distances `%.4f`-like with 4 decimals (a bulk
//! string in both).

mod hash;
mod search;
mod sort;

use bytes::{BufMut, Bytes, BytesMut};
use resp::Value;

use self::search::Form;
use crate::util::*;
use crate::zsets::parse_score;
use crate::{Context, Keyspace};

/// A C string's view of an option or unit: up to the first NUL, lowercased (strcasecmp).
fn with_c_str(b: &[u8]) -> Vec<u8> {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    b[..end].to_ascii_lowercase()
}

/// `extractUnitOrReply`: meters per unit.
fn unit_arg(b: &[u8]) -> Result<f64, Value> {
    match with_c_str(b).as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(err(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// `extractLongLatOrReply`: a longitude and a latitude inside Redis's limits.
fn lon_lat_arg(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Value> {
    let lon = parse_score(lon).ok_or_else(|| err(NOT_FLOAT))?;
    let lat = parse_score(lat).ok_or_else(|| err(NOT_FLOAT))?;
    // Never NaN here: the parse refuses it.
    if !(hash::LON_MIN..=hash::LON_MAX).contains(&lon)
        || !(hash::LAT_MIN..=hash::LAT_MAX).contains(&lat)
    {
        return Err(Value::Error(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok([lon, lat])
}

/// `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` (exact for a double), trailing zeros cut.
fn human(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    let mut s = format!("{d:.17}");
    if s.contains('.') {
        let kept = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(kept);
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

/// `addReplyHumanLongDouble`: a bulk string in RESP2, a double in RESP3.
fn human_reply(d: f64) -> Value {
    let text = human(d);
    let mut resp2 = BytesMut::with_capacity(text.len() + 8);
    resp2.put_u8(b'$');
    resp2.put_slice(text.len().to_string().as_bytes());
    resp2.put_slice(b"\r\n");
    resp2.put_slice(text.as_bytes());
    resp2.put_slice(b"\r\n");
    let mut resp3 = BytesMut::with_capacity(text.len() + 3);
    resp3.put_u8(b',');
    resp3.put_slice(text.as_bytes());
    resp3.put_slice(b"\r\n");
    Value::Raw {
        resp2: resp2.freeze(),
        resp3: resp3.freeze(),
    }
}

/// `[longitude, latitude]` as GEOPOS and WITHCOORD reply it.
fn coord_reply(xy: [f64; 2]) -> Value {
    Value::Array(vec![human_reply(xy[0]), human_reply(xy[1])])
}

/// `fixedpoint_d2string(.., 4)`: `llrint(d * 10000)` written with 4 decimals.
fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = (d * 10000.0).round_ties_even();
    // llrint of NaN or of anything out of range is LLONG_MIN on x86-64.
    let v: i64 = if (-9223372036854775808.0..9223372036854775808.0).contains(&scaled) {
        scaled as i64
    } else {
        i64::MIN
    };
    let sign = if v < 0 { "-" } else { "" };
    let u = v.unsigned_abs();
    format!("{sign}{}.{:04}", u / 10000, u % 10000)
}

/// GEOADD key [NX|XX] [CH] lon lat member [lon lat member ...]: ZADD with geohash scores.
pub fn geoadd(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    let (mut xx, mut nx) = (false, false);
    let mut first = 2;
    while first < a.len() {
        match with_c_str(&a[first]).as_slice() {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"ch" => {}
            _ => break,
        }
        first += 1;
    }
    if (a.len() - first) % 3 != 0 || (xx && nx) {
        return err(SYNTAX);
    }
    // ZADD key [options] score member ...: every pair checked before anything changes.
    let mut zadd: Vec<Bytes> = Vec::with_capacity(first + (a.len() - first) / 3 * 2);
    zadd.push(Bytes::from_static(b"zadd"));
    zadd.extend_from_slice(&a[1..first]);
    for t in a[first..].chunks(3) {
        let [lon, lat] = match lon_lat_arg(&t[0], &t[1]) {
            Ok(xy) => xy,
            Err(e) => return e,
        };
        let score = hash::encode_score(lon, lat);
        zadd.push(Bytes::from(score.to_string()));
        zadd.push(t[2].clone());
    }
    crate::zsets::zadd(ks, &zadd, c)
}

/// GEODIST key member1 member2 [unit]
pub fn geodist(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let to_meter = match a.len() {
        4 => 1.0,
        5 => match unit_arg(&a[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        _ => return err(SYNTAX),
    };
    let z = match ks.get_zset(&a[1], c.now_ms) {
        Ok(Some(z)) => z,
        Ok(None) => return Value::Null,
        Err(e) => return e,
    };
    let (Some(s1), Some(s2)) = (z.score(&a[2]), z.score(&a[3])) else {
        return Value::Null;
    };
    let [x1, y1] = hash::decode_score(s1);
    let [x2, y2] = hash::decode_score(s2);
    bulk_str(&distance_text(hash::distance(x1, y1, x2, y2) / to_meter))
}

/// GEOHASH key member...: the standard 11-character geohash of each position.
pub fn geohash(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let z = match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => z,
        Err(e) => return e,
    };
    let one = |m: &Bytes| -> Value {
        let Some(score) = z.and_then(|z| z.score(m)) else {
            return Value::Null;
        };
        // Redis's cells span latitudes -85..85; the standard geohash spans -90..90, so the
        // position is decoded and encoded again.
        let [lon, lat] = hash::decode_score(score);
        let bits = hash::encode_standard(lon, lat);
        let text: Vec<u8> = (0..11)
            .map(|i| {
                // 52 bits make 10 characters and 2 bits; the 11th is written as 0.
                let idx = if i == 10 {
                    0
                } else {
                    (bits >> (52 - (i + 1) * 5)) & 0x1f
                };
                ALPHABET[idx as usize]
            })
            .collect();
        Value::Bulk(Bytes::from(text))
    };
    Value::Array(a[2..].iter().map(one).collect())
}

/// GEOPOS key member...: `[lon, lat]` of each member, a null array for a missing one.
pub fn geopos(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    let z = match ks.get_zset(&a[1], c.now_ms) {
        Ok(z) => z,
        Err(e) => return e,
    };
    Value::Array(
        a[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                Some(score) => coord_reply(hash::decode_score(score)),
                None => Value::NullArray,
            })
            .collect(),
    )
}

/// GEORADIUS key lon lat radius unit [options] [STORE key] [STOREDIST key]
pub fn georadius(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    search::write(ks, a, c, Form::Coords)
}

/// GEORADIUS_RO key lon lat radius unit [options]
pub fn georadius_ro(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    search::read(ks, a, c, Form::Coords)
}

/// GEORADIUSBYMEMBER key member radius unit [options] [STORE key] [STOREDIST key]
pub fn georadiusbymember(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    search::write(ks, a, c, Form::Member)
}

/// GEORADIUSBYMEMBER_RO key member radius unit [options]
pub fn georadiusbymember_ro(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    search::read(ks, a, c, Form::Member)
}

/// GEOSEARCH key FROMMEMBER m|FROMLONLAT lon lat BYRADIUS r unit|BYBOX w h unit [options]
pub fn geosearch(ks: &Keyspace, a: &[Bytes], c: &Context) -> Value {
    search::read(ks, a, c, Form::Search)
}

/// GEOSEARCHSTORE dest src ... [STOREDIST]
pub fn geosearchstore(ks: &mut Keyspace, a: &[Bytes], c: &Context) -> Value {
    search::write(ks, a, c, Form::SearchStore)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(ks: &Keyspace, line: &str, protocol: resp::Protocol) -> Vec<u8> {
        let args: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let ctx = Context { now_ms: 1, seed: 1 };
        let mut out = BytesMut::new();
        resp::encode(&ks.read(&args, ctx), protocol, &mut out);
        out.to_vec()
    }

    /// RESP3 replies as Redis 7.0.15 sends them after HELLO 3: coordinates are doubles,
    /// distances and hashes stay strings and integers, missing members are `_`.
    #[test]
    fn resp3_replies() {
        let mut ks = Keyspace::new();
        let ctx = Context { now_ms: 1, seed: 1 };
        let add = "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania";
        let args: Vec<Bytes> = add
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        ks.apply(&args, ctx);
        let r3 = resp::Protocol::Resp3;
        assert_eq!(
            encoded(&ks, "GEOPOS g Palermo x", r3),
            b"*2\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n_\r\n"
        );
        assert_eq!(
            encoded(
                &ks,
                "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km ASC WITHCOORD WITHDIST WITHHASH",
                r3
            ),
            &b"*2\r\n*4\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n:3479447370796909\r\n*2\r\n\
               ,15.08726745843887329\r\n,37.50266842333162032\r\n*4\r\n$7\r\nPalermo\r\n\
               $8\r\n190.4424\r\n:3479099956230698\r\n*2\r\n,13.36138933897018433\r\n\
               ,38.11555639549629859\r\n"[..]
        );
        assert_eq!(encoded(&ks, "GEODIST g Palermo x", r3), b"_\r\n");
        assert_eq!(
            encoded(&ks, "GEODIST g Palermo Catania", r3),
            b"$11\r\n166274.1516\r\n"
        );
        assert_eq!(
            encoded(&ks, "GEOHASH g Palermo x", r3),
            b"*2\r\n$11\r\nsqc8b49rny0\r\n_\r\n"
        );
        assert_eq!(
            encoded(&ks, "GEOPOS g Palermo x", resp::Protocol::Resp2),
            b"*2\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n*-1\r\n"
        );
    }

    #[test]
    fn key_positions() {
        let args = |line: &str| -> Vec<Bytes> {
            line.split(' ')
                .map(|w| Bytes::copy_from_slice(w.as_bytes()))
                .collect()
        };
        let at = |line: &str| crate::key_positions(&args(line));
        assert_eq!(
            at("GEOSEARCHSTORE d s FROMLONLAT 1 1 BYRADIUS 1 km"),
            vec![1, 2]
        );
        assert_eq!(at("GEOSEARCH s FROMLONLAT 1 1 BYRADIUS 1 km"), vec![1]);
        assert_eq!(
            at("GEORADIUS s 1 1 1 km STORE d STOREDIST e"),
            vec![1, 7, 9]
        );
        assert_eq!(at("GEORADIUSBYMEMBER s m 1 km storedist d"), vec![1, 6]);
        assert_eq!(at("GEOADD g 1 1 a"), vec![1]);
    }

    #[test]
    fn human_format() {
        assert_eq!(human(13.361389338970184), "13.36138933897018433");
        assert_eq!(human(180.0), "180");
        assert_eq!(human(-0.0), "0");
        assert_eq!(human(0.5), "0.5");
    }

    #[test]
    fn distance_format() {
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(166274.1516), "166274.1516");
        assert_eq!(distance_text(0.00005), "0.0000");
        assert_eq!(distance_text(1.5), "1.5000");
        assert_eq!(distance_text(f64::NAN), "-922337203685477.5808");
    }
}
