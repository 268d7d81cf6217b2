//! Minimal SVG line charts (hand-written: no plotting dependency to build on 2 cores).

use std::fmt::Write as _;

/// One line: a name and its (x, y) points. Points with a non-finite y (or y <= 0 on a log
/// axis) are left out: they mean "not observed", which a chart cannot place.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Logarithmic x axis.
    pub x_log: bool,
    /// X values are integers (e.g. a replication factor): no fractional ticks.
    pub x_integer: bool,
    /// Logarithmic y axis.
    pub y_log: bool,
    /// Lines.
    pub series: Vec<Series>,
    /// A note under the plot (e.g. the command that made it).
    pub note: String,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 190.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 80.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];
/// Dash patterns, so that lines lying on top of each other stay distinguishable.
const DASHES: [&str; 4] = ["none", "7 4", "2 3", "10 3 2 3"];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An axis: maps data values to pixels and proposes tick values.
struct Axis {
    log: bool,
    integer: bool,
    low: f64,
    high: f64,
}

impl Axis {
    fn new(values: impl Iterator<Item = f64>, log: bool, integer: bool) -> Axis {
        let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
        for value in values {
            let value = if log { value.log10() } else { value };
            low = low.min(value);
            high = high.max(value);
        }
        if !low.is_finite() {
            (low, high) = (0.0, 1.0);
        }
        if log {
            (low, high) = (low.floor(), high.ceil());
        }
        if high - low < 1e-9 {
            (low, high) = (low - 1.0, high + 1.0);
        }
        Axis {
            log,
            integer,
            low,
            high,
        }
    }

    /// Position in 0..1 along the axis.
    fn fraction(&self, value: f64) -> f64 {
        let value = if self.log { value.log10() } else { value };
        (value - self.low) / (self.high - self.low)
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            return (self.low as i32..=self.high as i32)
                .map(|e| 10f64.powi(e))
                .collect();
        }
        let span = self.high - self.low;
        let raw = span / 6.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * magnitude)
            .find(|&s| s >= raw)
            .unwrap_or(raw);
        let step = if self.integer {
            step.max(1.0).round()
        } else {
            step
        };
        let mut ticks = Vec::new();
        let mut tick = (self.low / step).ceil() * step;
        while tick <= self.high + step * 1e-9 {
            ticks.push(tick);
            tick += step;
        }
        ticks
    }
}

fn tick_label(value: f64, log: bool) -> String {
    if log {
        let exponent = value.log10().round() as i32;
        if (0..=4).contains(&exponent) {
            format!("{}", 10f64.powi(exponent))
        } else {
            format!("1e{exponent}")
        }
    } else if value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

impl LineChart {
    fn visible(&self, point: (f64, f64)) -> bool {
        point.0.is_finite()
            && point.1.is_finite()
            && (!self.y_log || point.1 > 0.0)
            && (!self.x_log || point.0 > 0.0)
    }

    /// The chart as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let points = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter().copied())
                .filter(|&p| self.visible(p))
        };
        let x_axis = Axis::new(points().map(|p| p.0), self.x_log, self.x_integer);
        let y_axis = Axis::new(points().map(|p| p.1), self.y_log, false);
        let plot_width = WIDTH - LEFT - RIGHT;
        let plot_height = HEIGHT - TOP - BOTTOM;
        let px = |x: f64| LEFT + x_axis.fraction(x) * plot_width;
        let py = |y: f64| TOP + (1.0 - y_axis.fraction(y)) * plot_height;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
            WIDTH / 2.0,
            escape(&self.title)
        );
        for tick in x_axis.ticks() {
            let x = px(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/>"##,
                TOP + plot_height
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                TOP + plot_height + 18.0,
                tick_label(tick, self.x_log)
            );
        }
        for tick in y_axis.ticks() {
            let y = py(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
                LEFT + plot_width
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                LEFT - 6.0,
                y + 4.0,
                tick_label(tick, self.y_log)
            );
        }
        let _ = writeln!(
            svg,
            r#"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="black"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            LEFT + plot_width / 2.0,
            TOP + plot_height + 40.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + plot_height / 2.0,
            escape(&self.y_label)
        );
        self.draw_series(&mut svg, &px, &py);
        let _ = writeln!(
            svg,
            r##"<text x="{LEFT}" y="{:.1}" font-size="10" fill="#555">{}</text>"##,
            HEIGHT - 12.0,
            escape(&self.note)
        );
        svg.push_str("</svg>\n");
        svg
    }

    fn draw_series(&self, svg: &mut String, px: &dyn Fn(f64) -> f64, py: &dyn Fn(f64) -> f64) {
        for (index, series) in self.series.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let dash = DASHES[index % DASHES.len()];
            let marker_radius = 5.0 - (index % 3) as f64;
            let visible: Vec<(f64, f64)> = series
                .points
                .iter()
                .copied()
                .filter(|&p| self.visible(p))
                .collect();
            let path: Vec<String> = visible
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
                .collect();
            if path.len() > 1 {
                let _ = writeln!(
                    svg,
                    r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/>"#,
                    path.join(" ")
                );
            }
            for &(x, y) in &visible {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="{marker_radius}" fill="{color}"/>"#,
                    px(x),
                    py(y)
                );
            }
            let legend_y = TOP + 20.0 + 22.0 * index as f64;
            let legend_x = WIDTH - RIGHT + 16.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{legend_x}" y1="{legend_y}" x2="{:.1}" y2="{legend_y}" stroke="{color}" stroke-width="3" stroke-dasharray="{dash}"/>"#,
                legend_x + 24.0
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
                legend_x + 30.0,
                legend_y + 4.0,
                escape(&series.name)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_has_every_series() {
        // Goal: the document is well-formed enough to hold one polyline per multi-point series.
        let chart = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            x_log: false,
            x_integer: false,
            y_log: true,
            series: vec![
                Series {
                    name: "a".into(),
                    points: vec![(1.0, 1e-3), (2.0, 1e-5)],
                },
                Series {
                    name: "b<c".into(),
                    points: vec![(1.0, 0.0), (2.0, 1e-4), (3.0, 1e-6)],
                },
            ],
            note: "n".into(),
        };
        let svg = chart.to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("b&lt;c"));
    }
}
