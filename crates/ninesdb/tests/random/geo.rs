//! Geo commands (Redis's `geo` group). Results with no order asked for are compared sorted;
//! with `ANY` (the first matches found, Redis's scan order), by shape only.

use super::gen::{on_key, Gen, GEOS, ZSETS};
use super::{Cmd, Mode};

const PLACES: &[(&str, &str, &str)] = &[
    ("13.361389", "38.115556", "Palermo"),
    ("15.087269", "37.502669", "Catania"),
    ("12.758489", "38.788135", "edge1"),
    ("13.583333", "37.316667", "Agrigento"),
    ("2.3522", "48.8566", "Paris"),
    ("-180", "-85.05112878", "corner"),
    ("180", "85.05112878", "corner2"),
    ("0", "0", "a"),
];

fn geo_key(g: &mut Gen) -> String {
    if g.chance(10) {
        g.key(ZSETS)
    } else {
        g.key(GEOS)
    }
}

fn place_member(g: &mut Gen) -> String {
    if g.chance(85) {
        g.rng.pick(PLACES).2.to_owned()
    } else {
        g.pick(&["nowhere", "b", ""])
    }
}

fn lon_lat(g: &mut Gen, c: &mut Cmd) {
    if g.chance(85) {
        let (lon, lat, _) = *g.rng.pick(PLACES);
        c.arg(lon).arg(lat);
    } else {
        c.arg(g.pick(&["181", "-181", "abc", "15", "nan", "inf"]))
            .arg(g.pick(&["86", "-85.06", "abc", "37", "90"]));
    }
}

fn unit(g: &mut Gen) -> String {
    if g.chance(90) {
        g.pick(&["m", "km", "mi", "ft", "KM"])
    } else {
        g.pick(&["yd", "", "meters"])
    }
}

fn radius(g: &mut Gen) -> String {
    if g.chance(85) {
        g.pick(&["100", "200", "50.5", "1000", "0", "10000000"])
    } else {
        g.pick(&["-1", "abc", "nan", "inf"])
    }
}

/// The options after the shape: sort, COUNT [ANY], WITH*; picks the comparison mode.
fn search_options(g: &mut Gen, c: &mut Cmd, with: bool) {
    let mut sorted = false;
    let mut any = false;
    if g.chance(50) {
        c.arg(g.pick(&["ASC", "DESC", "asc"]));
        sorted = true;
    }
    if g.chance(40) {
        c.arg("COUNT")
            .arg(g.pick(&["1", "2", "3", "0", "-1", "abc", "9223372036854775807"]));
        // With COUNT (and no ANY) Redis sorts nearest first.
        sorted = true;
        if g.chance(30) {
            c.arg("ANY");
            any = true;
        }
    }
    if with {
        for option in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
            if g.chance(30) {
                c.arg(option);
            }
        }
    }
    if g.chance(4) {
        c.arg(g.pick(&["ANY", "FOO", "COUNT", "STOREDIST"]));
    }
    c.mode(if any {
        Mode::Shape
    } else if sorted {
        Mode::Exact
    } else {
        Mode::Sorted
    });
    c.fragile();
}

/// FROMMEMBER m | FROMLONLAT lon lat, then BYRADIUS r unit | BYBOX w h unit.
fn search_shape(g: &mut Gen, c: &mut Cmd) {
    if g.chance(50) {
        c.arg("FROMMEMBER").arg(place_member(g));
    } else {
        c.arg("FROMLONLAT");
        lon_lat(g, c);
    }
    if g.chance(50) {
        c.arg("BYRADIUS").arg(radius(g)).arg(unit(g));
    } else {
        c.arg("BYBOX").arg(radius(g)).arg(radius(g)).arg(unit(g));
    }
    if g.chance(5) {
        c.arg(g.pick(&["FROMMEMBER", "BYRADIUS"])).arg("a");
    }
}

pub fn geo(g: &mut Gen) -> Cmd {
    let k = geo_key(g);
    match g.rng.below(14) {
        0..=3 => {
            let mut c = on_key("GEOADD", &k);
            for flag in ["NX", "XX", "CH"] {
                if g.chance(10) {
                    c.arg(flag);
                }
            }
            for _ in 0..1 + g.rng.below(3) {
                lon_lat(g, &mut c);
                c.arg(place_member(g));
            }
            c
        }
        4 => {
            let mut c = on_key("GEODIST", &k);
            c.arg(place_member(g)).arg(place_member(g));
            if g.chance(60) {
                c.arg(unit(g));
            }
            c
        }
        5 | 6 => {
            let mut c = on_key(&g.pick(&["GEOHASH", "GEOPOS"]), &k);
            for _ in 0..1 + g.rng.below(3) {
                c.arg(place_member(g));
            }
            c
        }
        7 | 8 => {
            let mut c = on_key("GEOSEARCH", &k);
            search_shape(g, &mut c);
            search_options(g, &mut c, true);
            c
        }
        9 => {
            let mut c = Cmd::new("GEOSEARCHSTORE");
            c.key(&g.key(GEOS)).key(&k);
            search_shape(g, &mut c);
            search_options(g, &mut c, false);
            if g.chance(40) {
                c.arg("STOREDIST");
            }
            c.mode(Mode::Exact);
            c
        }
        10 | 11 => {
            let by_member = g.chance(50);
            let read_only = g.chance(40);
            let name = match (by_member, read_only) {
                (false, false) => "GEORADIUS",
                (false, true) => "GEORADIUS_RO",
                (true, false) => "GEORADIUSBYMEMBER",
                (true, true) => "GEORADIUSBYMEMBER_RO",
            };
            let mut c = on_key(name, &k);
            if by_member {
                c.arg(place_member(g));
            } else {
                lon_lat(g, &mut c);
            }
            c.arg(radius(g)).arg(unit(g));
            search_options(g, &mut c, true);
            if !read_only && g.chance(20) {
                c.arg(g.pick(&["STORE", "STOREDIST"])).key(&g.key(GEOS));
                c.mode(Mode::Exact);
            }
            c
        }
        _ => {
            // A geo set read as the sorted set it is: the scores are the geohashes.
            let mut c = on_key("ZRANGE", &k);
            c.arg("0").arg("-1").arg("WITHSCORES");
            c
        }
    }
}
