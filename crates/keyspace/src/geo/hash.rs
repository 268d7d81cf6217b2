//! Redis's geohash (`geohash.c`, `geohash_helper.c`): 26 bits per coordinate interleaved
//! into a 52-bit sorted-set score, the cell neighbours, the 9 cells that cover a search
//! shape, and the haversine distance.
//!
//! Every formula keeps Redis's order of floating-point operations, and the trigonometry
//! comes from the same C library, so scores, cell centres and distances are bit for bit
//! those of Redis: a point at the edge of a radius falls on the same side. Comparisons are
//! written as in C (`x > max || x < min`) so NaN goes the way it goes there.
#![allow(clippy::manual_range_contains)]

/// 26 bits per coordinate: a 52-bit score.
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LON_MIN: f64 = -180.0;
pub const LON_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, as Redis has it.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// `M_PI / 180.0`.
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(ang: f64) -> f64 {
    ang * D_R
}

fn rad_deg(ang: f64) -> f64 {
    ang / D_R
}

/// A cell: `step` bits per coordinate, interleaved (latitude in the even bits, longitude
/// in the odd ones). All zero means "no cell" (a neighbour left out of a search).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cell {
    pub bits: u64,
    pub step: u8,
}

impl Cell {
    fn is_zero(self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A coordinate interval.
#[derive(Clone, Copy, Debug, Default)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

const LON_RANGE: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// The longitude and latitude intervals a cell covers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

/// Spreads the low 32 bits of `x` to the even bits and those of `y` to the odd bits.
fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for k in (0..5).rev() {
        x = (x | (x << S[k])) & B[k];
        y = (y | (y << S[k])) & B[k];
    }
    x | (y << 1)
}

/// The inverse: even bits in the low half, odd bits in the high half.
fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for k in 0..6 {
        x = (x | (x >> S[k])) & B[k];
        y = (y | (y >> S[k])) & B[k];
    }
    x | (y << 32)
}

/// `geohashEncode`: None outside Redis's limits (or outside the given ranges).
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Cell> {
    if step > 32 || step == 0 {
        return None;
    }
    if lon > LON_MAX || lon < LON_MIN || lat > LAT_MAX || lat < LAT_MIN {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let mut lat_offset = (lat - lat_r.min) / (lat_r.max - lat_r.min);
    let mut lon_offset = (lon - lon_r.min) / (lon_r.max - lon_r.min);
    lat_offset *= (1u64 << step) as f64;
    lon_offset *= (1u64 << step) as f64;
    // C's double -> uint32_t: the offsets are in [0, 2^step], truncated.
    Some(Cell {
        bits: interleave64(lat_offset as u32, lon_offset as u32),
        step,
    })
}

/// The 52-bit score of a valid longitude/latitude pair.
pub fn encode_score(lon: f64, lat: f64) -> u64 {
    encode(LON_RANGE, LAT_RANGE, lon, lat, STEP_MAX).map_or(0, align52)
}

/// The standard geohash cell (latitude -90..90), for the GEOHASH string.
pub fn encode_standard(lon: f64, lat: f64) -> u64 {
    let lon_r = Range {
        min: -180.0,
        max: 180.0,
    };
    let lat_r = Range {
        min: -90.0,
        max: 90.0,
    };
    encode(lon_r, lat_r, lon, lat, STEP_MAX).map_or(0, |c| c.bits)
}

/// `geohashDecode` over Redis's ranges.
pub fn decode(cell: Cell) -> Option<Area> {
    if cell.is_zero() {
        return None;
    }
    let sep = deinterleave64(cell.bits);
    let lat_scale = LAT_RANGE.max - LAT_RANGE.min;
    let lon_scale = LON_RANGE.max - LON_RANGE.min;
    let ilato = sep as u32;
    let ilono = (sep >> 32) as u32;
    let div = (1u64 << cell.step) as f64;
    // uint32_t arithmetic, as in C: `ilato + 1` wraps.
    Some(Area {
        lat: Range {
            min: LAT_RANGE.min + (f64::from(ilato) * 1.0 / div) * lat_scale,
            max: LAT_RANGE.min + (f64::from(ilato.wrapping_add(1)) * 1.0 / div) * lat_scale,
        },
        lon: Range {
            min: LON_RANGE.min + (f64::from(ilono) * 1.0 / div) * lon_scale,
            max: LON_RANGE.min + (f64::from(ilono.wrapping_add(1)) * 1.0 / div) * lon_scale,
        },
    })
}

/// C's `(uint64_t)d` as gcc compiles it on x86-64: scores below 2^63 go through a signed
/// conversion (negative ones wrap), larger ones are offset by 2^63; anything out of range
/// gives the "integer indefinite" 0x8000000000000000. Redis decodes any score this way.
fn score_bits(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    fn cvtt(v: f64) -> u64 {
        if v >= -TWO63 && v < TWO63 {
            v as i64 as u64
        } else {
            1 << 63
        }
    }
    if d >= TWO63 {
        cvtt(d - TWO63) ^ (1 << 63)
    } else {
        cvtt(d)
    }
}

/// The centre of the cell a score names, clamped to the valid ranges (`decodeGeohash`).
pub fn decode_score(score: f64) -> [f64; 2] {
    let cell = Cell {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    let area = decode(cell).unwrap_or_default();
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// `geohashAlign52Bits`.
pub fn align52(cell: Cell) -> u64 {
    // Steps are 1..=26 here; anything else shifts by 0 rather than overflow.
    cell.bits << 52u32.saturating_sub(u32::from(cell.step) * 2)
}

fn move_x(cell: &mut Cell, d: i8) {
    if d == 0 || cell.step == 0 || cell.step > 32 {
        return;
    }
    let shift = 64 - u32::from(cell.step) * 2;
    let mut x = cell.bits & 0xaaaaaaaaaaaaaaaa;
    let y = cell.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    cell.bits = x | y;
}

fn move_y(cell: &mut Cell, d: i8) {
    if d == 0 || cell.step == 0 || cell.step > 32 {
        return;
    }
    let shift = 64 - u32::from(cell.step) * 2;
    let x = cell.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = cell.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    cell.bits = x | y;
}

/// A cell and its 8 neighbours (they wrap around at the edges of the map, as in Redis).
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbours {
    pub north: Cell,
    pub east: Cell,
    pub west: Cell,
    pub south: Cell,
    pub north_east: Cell,
    pub south_east: Cell,
    pub north_west: Cell,
    pub south_west: Cell,
}

fn moved(cell: Cell, dx: i8, dy: i8) -> Cell {
    let mut c = cell;
    move_x(&mut c, dx);
    move_y(&mut c, dy);
    c
}

fn neighbours(cell: Cell) -> Neighbours {
    Neighbours {
        east: moved(cell, 1, 0),
        west: moved(cell, -1, 0),
        south: moved(cell, 0, -1),
        north: moved(cell, 0, 1),
        north_west: moved(cell, -1, 1),
        north_east: moved(cell, 1, 1),
        south_east: moved(cell, 1, -1),
        south_west: moved(cell, -1, -1),
    }
}

/// A search shape: a circle (radius) or an axis-aligned box (width, height), in the
/// command's unit; `conversion` turns that unit into meters.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub kind: Kind,
    /// The centre: longitude, latitude.
    pub xy: [f64; 2],
    pub conversion: f64,
}

/// `geohashEstimateStepsByRadius`: the cell size for a search of this radius.
fn estimate_steps(mut range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range_meters < MERCATOR_MAX {
        range_meters *= 2.0;
        step += 1;
    }
    step -= 2;
    // Wider range towards the poles.
    if lat > 66.0 || lat < -66.0 {
        step -= 1;
        if lat > 80.0 || lat < -80.0 {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// `geohashBoundingBox`: [min lon, min lat, max lon, max lat] of the shape.
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let [longitude, latitude] = shape.xy;
    let (h, w) = match shape.kind {
        Kind::Circle { radius } => (radius, radius),
        Kind::Rect { width, height } => (height / 2.0, width / 2.0),
    };
    let height = shape.conversion * h;
    let width = shape.conversion * w;
    let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
    let long_delta_top =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
    let long_delta_bottom =
        rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
    // The box is wider at the edge nearer the equator.
    let long_delta = if latitude < 0.0 {
        long_delta_bottom
    } else {
        long_delta_top
    };
    [
        longitude - long_delta,
        latitude - lat_delta,
        longitude + long_delta,
        latitude + lat_delta,
    ]
}

/// The cells to scan for a search, in Redis's order: the centre cell, then north, south,
/// east, west, north-east, north-west, south-east, south-west; zero cells are left out.
pub fn search_cells(shape: &Shape) -> [Cell; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(shape);
    let [longitude, latitude] = shape.xy;
    let radius_meters = match shape.kind {
        Kind::Circle { radius } => radius,
        Kind::Rect { width, height } => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    } * shape.conversion;
    let mut steps = estimate_steps(radius_meters, latitude);
    let at = |steps: u8| {
        let hash = encode(LON_RANGE, LAT_RANGE, longitude, latitude, steps).unwrap_or_default();
        let area = decode(hash).unwrap_or_default();
        (hash, neighbours(hash), area)
    };
    let (mut hash, mut n, mut area) = at(steps);
    // The estimated step may leave part of the shape outside the neighbour cells when the
    // centre is near the edge of its cell: then one step coarser.
    let side = |c: Cell| decode(c).unwrap_or_default();
    let decrease = side(n.north).lat.max < max_lat
        || side(n.south).lat.min > min_lat
        || side(n.east).lon.max < max_lon
        || side(n.west).lon.min > min_lon;
    if steps > 1 && decrease {
        steps -= 1;
        (hash, n, area) = at(steps);
    }
    // Leave out the neighbours the shape cannot reach.
    if steps >= 2 {
        let zero = Cell::default();
        if area.lat.min < min_lat {
            (n.south, n.south_west, n.south_east) = (zero, zero, zero);
        }
        if area.lat.max > max_lat {
            (n.north, n.north_east, n.north_west) = (zero, zero, zero);
        }
        if area.lon.min < min_lon {
            (n.west, n.south_west, n.north_west) = (zero, zero, zero);
        }
        if area.lon.max > max_lon {
            (n.east, n.south_east, n.north_east) = (zero, zero, zero);
        }
    }
    [
        hash,
        n.north,
        n.south,
        n.east,
        n.west,
        n.north_east,
        n.north_west,
        n.south_east,
        n.south_west,
    ]
}

/// `scoresOfGeoHashBox`: the score interval [min, max) of the points in a cell.
pub fn cell_scores(cell: Cell) -> (f64, f64) {
    let min = align52(cell);
    let max = align52(Cell {
        bits: cell.bits.wrapping_add(1),
        step: cell.step,
    });
    (min as f64, max as f64)
}

/// `geohashGetLatDistance`.
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// `geohashGetDistance`: the haversine distance in meters.
pub fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// `geoWithinShape` after decoding: the distance from the centre if `xy` is inside.
pub fn within(shape: &Shape, xy: [f64; 2]) -> Option<f64> {
    let [x1, y1] = shape.xy;
    let [x2, y2] = xy;
    match shape.kind {
        Kind::Circle { radius } => {
            let d = distance(x1, y1, x2, y2);
            // `d > radius` rejects: a NaN distance is kept, as in Redis.
            if d > radius * shape.conversion {
                None
            } else {
                Some(d)
            }
        }
        Kind::Rect { width, height } => {
            // geohashGetDistanceIfInRectangle: latitude first, it is cheaper.
            let (width_m, height_m) = (width * shape.conversion, height * shape.conversion);
            if lat_distance(y2, y1) > height_m / 2.0 {
                return None;
            }
            if distance(x2, y2, x1, y2) > width_m / 2.0 {
                return None;
            }
            Some(distance(x1, y1, x2, y2))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for (x, y) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3ffffff, 0x1234567),
            (u32::MAX, 7),
        ] {
            let i = interleave64(x, y);
            let d = deinterleave64(i);
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn palermo_score_and_centre() {
        // GEOADD Sicily 13.361389 38.115556 Palermo; ZSCORE -> 3479099956230698
        assert_eq!(encode_score(13.361389, 38.115556), 3479099956230698);
        let xy = decode_score(3479099956230698.0);
        assert_eq!(format!("{:.17}", xy[0]), "13.36138933897018433");
        assert_eq!(format!("{:.17}", xy[1]), "38.11555639549629859");
    }

    #[test]
    fn out_of_range_scores_decode_like_redis() {
        // (uint64_t) of -inf is 0x8000000000000000: longitude far east, clamped.
        assert_eq!(score_bits(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(score_bits(f64::INFINITY), 0);
        assert_eq!(score_bits(-5.0), (-5i64) as u64);
        assert_eq!(score_bits(1e19), 10_000_000_000_000_000_000);
    }

    #[test]
    fn neighbours_wrap() {
        let c = Cell { bits: 0, step: 1 };
        let n = neighbours(c);
        assert_eq!(n.west.bits, 0b10);
        assert_eq!(n.south.bits, 0b01);
    }
}
