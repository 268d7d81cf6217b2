//! A hand-written SVG chart of `--json` result lines: grouped bars, one group per load row
//! (workload, connections x pipeline), one bar per target, ops/s on a log scale with the value
//! written above each bar.

use std::fmt::Write as _;

/// One bar: which target, which load row, how many ops/s.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub series: String,
    pub row: String,
    pub ops_per_sec: f64,
}

/// Reads JSON lines (as written by `--json`); the series is `label` if present, else `target`.
pub fn read_points(text: &str) -> Result<Vec<Point>, String> {
    let mut points = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let field = |name: &str| {
            v.get(name)
                .ok_or_else(|| format!("line {}: no field {name:?}", n + 1))
        };
        let series = match v.get("label").and_then(|l| l.as_str()) {
            Some(label) => label.to_owned(),
            None => field("target")?.as_str().unwrap_or("?").to_owned(),
        };
        let row = format!(
            "{} {}x{}",
            field("workload")?.as_str().unwrap_or("?"),
            field("connections")?.as_u64().unwrap_or(0),
            field("pipeline")?.as_u64().unwrap_or(0)
        );
        let ops_per_sec = field("ops_per_sec")?.as_f64().unwrap_or(0.0);
        points.push(Point {
            series,
            row,
            ops_per_sec,
        });
    }
    Ok(points)
}

/// Short human number: 950, 1k, 4.4k, 59k, 1.2M, 10M.
pub fn short(value: f64) -> String {
    let text = match value {
        v if v >= 1e6 => format!("{:.1}M", v / 1e6),
        v if v >= 1e4 => format!("{:.0}k", v / 1e3),
        v if v >= 1e3 => format!("{:.1}k", v / 1e3),
        v => format!("{v:.0}"),
    };
    match text.split_once(".0") {
        Some((whole, unit)) if !unit.starts_with(|c: char| c.is_ascii_digit()) => {
            format!("{whole}{unit}")
        }
        _ => text,
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLORS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const PLOT_H: f64 = 300.0;
const BOTTOM: f64 = 60.0;
const BAR_W: f64 = 22.0;
const LEGEND_W: f64 = 170.0;

/// Geometry of one chart: groups, decades of the log axis.
struct Layout {
    group_w: f64,
    plot_w: f64,
    lo_exp: f64,
    hi_exp: f64,
}

impl Layout {
    fn new(points: &[Point], rows: usize, series: usize) -> Self {
        let positive: Vec<f64> = points
            .iter()
            .map(|p| p.ops_per_sec)
            .filter(|v| *v > 0.0)
            .collect();
        let (lo_exp, hi_exp) = if positive.is_empty() {
            (0.0, 1.0)
        } else {
            let lo = positive
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .log10()
                .floor();
            let hi = positive.iter().copied().fold(0.0, f64::max).log10().ceil();
            (lo, hi.max(lo + 1.0))
        };
        let group_w = BAR_W * series.max(1) as f64 + 24.0;
        Layout {
            group_w,
            plot_w: group_w * rows.max(1) as f64,
            lo_exp,
            hi_exp,
        }
    }

    /// The y coordinate of a value (values below the lowest decade sit on the axis).
    fn y(&self, v: f64) -> f64 {
        let frac =
            (v.max(10f64.powf(self.lo_exp)).log10() - self.lo_exp) / (self.hi_exp - self.lo_exp);
        TOP + PLOT_H * (1.0 - frac)
    }

    fn axes(&self, out: &mut String) {
        let mut exp = self.lo_exp;
        while exp <= self.hi_exp {
            let y = self.y(10f64.powf(exp));
            let _ = writeln!(
                out,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + self.plot_w,
                LEFT - 6.0,
                y + 4.0,
                short(10f64.powf(exp))
            );
            exp += 1.0;
        }
        let mid = TOP + PLOT_H / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="16" y="{mid:.1}" transform="rotate(-90 16 {mid:.1})" text-anchor="middle">ops/s (log scale)</text>"#
        );
        let base = TOP + PLOT_H;
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{base:.1}" x2="{:.1}" y2="{base:.1}" stroke="#333"/>"##,
            LEFT + self.plot_w
        );
    }

    fn bar(&self, out: &mut String, (ri, si): (usize, usize), series: &str, row: &str, v: f64) {
        let x = LEFT + self.group_w * ri as f64 + 12.0 + BAR_W * si as f64;
        let y = self.y(v);
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {} {v:.0} ops/s</title></rect>"#,
            BAR_W - 2.0,
            (TOP + PLOT_H - y).max(0.0),
            COLORS[si % COLORS.len()],
            escape(series),
            escape(row),
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle">{}</text>"#,
            x + (BAR_W - 2.0) / 2.0,
            y - 3.0,
            short(v)
        );
    }
}

/// The SVG document. Rows and series keep the order of their first appearance; a later line
/// for the same (series, row) replaces an earlier one.
pub fn svg(points: &[Point], title: &str) -> String {
    let mut rows: Vec<&str> = Vec::new();
    let mut series: Vec<&str> = Vec::new();
    for p in points {
        if !rows.contains(&p.row.as_str()) {
            rows.push(&p.row);
        }
        if !series.contains(&p.series.as_str()) {
            series.push(&p.series);
        }
    }
    let value = |s: &str, r: &str| {
        points
            .iter()
            .rev()
            .find(|p| p.series == s && p.row == r)
            .map(|p| p.ops_per_sec)
    };
    let layout = Layout::new(points, rows.len(), series.len());
    let width = LEFT + layout.plot_w + 20.0 + LEGEND_W;
    let height = TOP + PLOT_H + BOTTOM;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="24" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    layout.axes(&mut out);
    for (ri, row) in rows.iter().enumerate() {
        for (si, s) in series.iter().enumerate() {
            if let Some(v) = value(s, row) {
                layout.bar(&mut out, (ri, si), s, row, v);
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + layout.group_w * (ri as f64 + 0.5),
            TOP + PLOT_H + 18.0,
            escape(row)
        );
    }
    for (si, s) in series.iter().enumerate() {
        let (x, y) = (LEFT + layout.plot_w + 20.0, TOP + 18.0 * si as f64);
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            COLORS[si % COLORS.len()],
            x + 18.0,
            y + 10.0,
            escape(s)
        );
    }
    out.push_str("</svg>\n");
    out
}

/// `--chart-from IN --chart-out OUT`: reads the JSON lines, writes the SVG.
pub fn write_chart(from: &std::path::Path, to: &std::path::Path) -> Result<(), String> {
    let text =
        std::fs::read_to_string(from).map_err(|e| format!("read {}: {e}", from.display()))?;
    let points = read_points(&text)?;
    if points.is_empty() {
        return Err(format!("{}: no result lines to chart", from.display()));
    }
    let doc = svg(&points, "ops/s per load (closed loop, 64-byte values)");
    std::fs::write(to, doc).map_err(|e| format!("write {}: {e}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_names_every_target_and_row() {
        let lines = [
            r#"{"target":"resp://127.0.0.1:18379","label":"redis","workload":"write","connections":1,"pipeline":1,"ops_per_sec":13000.0}"#,
            r#"{"target":"resp://127.0.0.1:18380","label":"redis-aof","workload":"write","connections":64,"pipeline":16,"ops_per_sec":307000.0}"#,
            r#"{"target":"resp://127.0.0.1:18001","workload":"read","connections":64,"pipeline":1,"ops_per_sec":0.0}"#,
            "",
        ];
        let points = read_points(&lines.join("\n")).unwrap();
        assert_eq!(points.len(), 3);
        let doc = svg(&points, "t & <t>");
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
        for name in [
            "redis",
            "redis-aof",
            "resp://127.0.0.1:18001",
            "write 1x1",
            "write 64x16",
            "read 64x1",
        ] {
            assert!(
                doc.contains(&format!(">{name}<")),
                "{name} missing from the SVG"
            );
        }
        assert!(doc.contains("t &amp; &lt;t&gt;"));
        assert!(doc.contains(">307k<") && doc.contains(">13k<"));
    }

    #[test]
    fn chart_flags_come_in_pairs_and_write_a_file() {
        assert!(crate::parse_args(["bench", "--chart-from", "a.jsonl"]).is_err());
        let dir = std::env::temp_dir().join(format!("bench-chart-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (from, to) = (dir.join("r.jsonl"), dir.join("c.svg"));
        std::fs::write(&from, r#"{"target":"t","label":"ninesdb","workload":"read","connections":1,"pipeline":1,"ops_per_sec":42.0}"#).unwrap();
        let args = crate::parse_args([
            "bench",
            "--chart-from",
            from.to_str().unwrap(),
            "--chart-out",
            to.to_str().unwrap(),
        ])
        .unwrap();
        crate::run(&args).unwrap();
        assert!(std::fs::read_to_string(&to).unwrap().contains(">ninesdb<"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn short_numbers() {
        assert_eq!(short(950.0), "950");
        assert_eq!(short(4400.0), "4.4k");
        assert_eq!(short(59_000.0), "59k");
        assert_eq!(short(1_200_000.0), "1.2M");
        assert_eq!(short(1000.0), "1k");
        assert_eq!(short(10_000_000.0), "10M");
        assert_eq!(short(3.0), "3");
    }

    #[test]
    fn bad_lines_are_reported() {
        assert!(read_points("{not json").is_err());
        assert!(read_points(r#"{"target":"x"}"#).is_err());
    }
}
