//! Line charts over simulated time: axes, ticks, legend, shaded fault bands, thinned series.
//!
//! Every panel of a run shares one [`TimeAxis`], so a fault band sits at the same horizontal
//! place on each chart and the eye can run down the page.

use crate::escape::{escape, truncate};
use crate::limits::{
    AXIS_TICKS_MAX, FAULT_LABEL_ROWS_MAX, PLOT_WIDTH, SVG_LABEL_CHARS_MAX, VALUE_MAGNITUDE_MAX,
};
use crate::style::SERIES_COLOURS;
use crate::{FaultInterval, Panel, Series};

const SVG_WIDTH: f64 = 1120.0;
const MARGIN_LEFT: f64 = 64.0;
const PLOT_W: f64 = PLOT_WIDTH as f64;
const PLOT_RIGHT: f64 = MARGIN_LEFT + PLOT_W;
/// Room above the plot for the title and the legend.
const MARGIN_TOP: f64 = 36.0;
const PLOT_HEIGHT: f64 = 180.0;
const PLOT_BOTTOM: f64 = MARGIN_TOP + PLOT_HEIGHT;
/// Room below the plot for the time tick labels.
const MARGIN_BOTTOM: f64 = 24.0;
/// Extra room under the last panel for the time axis title.
const AXIS_TITLE_HEIGHT: f64 = 18.0;
/// Rough advance of one character of 11 px and 12 px system-ui text, to place labels.
const CHAR_WIDTH_11PX: f64 = 6.2;
const CHAR_WIDTH_12PX: f64 = 6.8;
const FAULT_LABEL_ROW_HEIGHT: f64 = 14.0;

/// Whether a time or value can be placed on an axis.
fn drawable(value: f64) -> bool {
    value.is_finite() && value.abs() <= VALUE_MAGNITUDE_MAX
}

/// The simulated-time axis shared by every panel of a run.
struct TimeAxis {
    min: f64,
    max: f64,
}

impl TimeAxis {
    /// Spans every drawable point of every panel and every fault's start and end.
    fn new(panels: &[Panel], faults: &[FaultInterval]) -> TimeAxis {
        let points = panels
            .iter()
            .flat_map(|panel| &panel.series)
            .flat_map(|series| &series.points);
        let point_times = points
            .filter(|(time, value)| drawable(*time) && drawable(*value))
            .map(|p| p.0);
        let fault_times = faults
            .iter()
            .flat_map(|fault| [Some(fault.start), fault.end])
            .flatten();
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for time in point_times
            .chain(fault_times)
            .filter(|time| drawable(*time))
        {
            min = min.min(time);
            max = max.max(time);
        }
        if min > max {
            return TimeAxis { min: 0.0, max: 1.0 };
        }
        // Below a nanosecond of span the ticks' arithmetic underflows; widen to a second.
        if max - min < 1e-9 {
            max = min + 1.0;
        }
        TimeAxis { min, max }
    }

    fn x(&self, time: f64) -> f64 {
        MARGIN_LEFT + (time - self.min) / (self.max - self.min) * PLOT_W
    }
}

/// Thins a series to at most two points per bucket: each bucket (an equal slice of
/// `x_min..=x_max`, one per pixel column of a chart) keeps its lowest and its highest point, in
/// time order, so a one-sample spike or dip survives any amount of thinning.
///
/// Non-finite points are dropped; points are sorted by time first if they are not already;
/// points outside the range fall into the first or last bucket. A series of at most
/// `2 * buckets` points is returned as it is (after those two steps).
///
/// # Panics
/// If `buckets` is zero.
pub fn downsample(
    points: &[(f64, f64)],
    x_min: f64,
    x_max: f64,
    buckets: usize,
) -> Vec<(f64, f64)> {
    assert!(
        buckets >= 1,
        "downsample needs at least one bucket: buckets={buckets}"
    );
    let mut finite: Vec<(f64, f64)> = points
        .iter()
        .copied()
        .filter(|(time, value)| time.is_finite() && value.is_finite())
        .collect();
    if !finite.windows(2).all(|pair| pair[0].0 <= pair[1].0) {
        finite.sort_by(|left, right| left.0.total_cmp(&right.0));
    }
    if finite.len() <= 2 * buckets {
        return finite;
    }
    let span = x_max - x_min;
    let bucket_of = |time: f64| -> usize {
        if span.is_nan() || span <= 0.0 {
            return 0;
        }
        let position = ((time - x_min) / span * buckets as f64).floor();
        position.clamp(0.0, (buckets - 1) as f64) as usize
    };
    let mut thinned = Vec::with_capacity(2 * buckets);
    let mut open: Option<Bucket> = None;
    for point in finite {
        let index = bucket_of(point.0);
        match &mut open {
            Some(bucket) if bucket.index == index => bucket.add(point),
            _ => {
                if let Some(bucket) = open.take() {
                    bucket.push_extremes(&mut thinned);
                }
                open = Some(Bucket {
                    index,
                    lowest: point,
                    highest: point,
                });
            }
        }
    }
    if let Some(bucket) = open {
        bucket.push_extremes(&mut thinned);
    }
    assert!(
        thinned.len() <= 2 * buckets,
        "thinned={} buckets={buckets}",
        thinned.len()
    );
    thinned
}

/// The lowest and highest point seen so far in one bucket of [`downsample`].
struct Bucket {
    index: usize,
    lowest: (f64, f64),
    highest: (f64, f64),
}

impl Bucket {
    fn add(&mut self, point: (f64, f64)) {
        if point.1 < self.lowest.1 {
            self.lowest = point;
        }
        if point.1 > self.highest.1 {
            self.highest = point;
        }
    }

    /// Appends the extremes in time order, once if they are the same point.
    fn push_extremes(self, thinned: &mut Vec<(f64, f64)>) {
        let Bucket {
            lowest, highest, ..
        } = self;
        if lowest == highest {
            thinned.push(lowest);
        } else if lowest.0 <= highest.0 {
            thinned.extend([lowest, highest]);
        } else {
            thinned.extend([highest, lowest]);
        }
    }
}

/// A series' points ready to draw: drawable, positive on a log axis, sorted, thinned.
fn prepare(series: &Series, log_scale: bool, axis: &TimeAxis) -> Vec<(f64, f64)> {
    let kept: Vec<(f64, f64)> = series
        .points
        .iter()
        .copied()
        .filter(|(time, value)| drawable(*time) && drawable(*value) && (!log_scale || *value > 0.0))
        .collect();
    downsample(&kept, axis.min, axis.max, PLOT_WIDTH)
}

/// The value axis of one panel.
enum ValueScale {
    Linear {
        min: f64,
        max: f64,
        step: f64,
    },
    /// Decades from `10^min_exponent` to `10^max_exponent`.
    Log {
        min_exponent: i32,
        max_exponent: i32,
    },
}

impl ValueScale {
    /// Fits the axis to the data; `None` when there is nothing to draw.
    fn fit(prepared: &[Vec<(f64, f64)>], log_scale: bool) -> Option<ValueScale> {
        let values = prepared.iter().flatten().map(|point| point.1);
        let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
            (low.min(value), high.max(value))
        });
        if low > high {
            return None;
        }
        if log_scale {
            let max_exponent = high.log10().ceil() as i32;
            let mut min_exponent = low.log10().floor() as i32;
            // Keep a dozen decades at most; smaller values are drawn on the bottom edge.
            min_exponent = min_exponent.max(max_exponent - 12);
            let max_exponent = if max_exponent == min_exponent {
                max_exponent + 1
            } else {
                max_exponent
            };
            return Some(ValueScale::Log {
                min_exponent,
                max_exponent,
            });
        }
        let mut min = low.min(0.0);
        let mut max = high.max(0.0);
        // A span of subnormal size would underflow the tick step to zero; widen it.
        if max - min < 1e-200 {
            max = min + 1.0;
        }
        let mut step = nice_step(max - min, 5);
        while ((max - min) / step).ceil() as usize > AXIS_TICKS_MAX {
            step *= 2.0;
        }
        min = (min / step).floor() * step;
        max = (max / step).ceil() * step;
        Some(ValueScale::Linear { min, max, step })
    }

    fn y(&self, value: f64) -> f64 {
        let fraction = match *self {
            ValueScale::Linear { min, max, .. } => (value - min) / (max - min),
            ValueScale::Log {
                min_exponent,
                max_exponent,
            } => (value.log10() - f64::from(min_exponent)) / f64::from(max_exponent - min_exponent),
        };
        PLOT_BOTTOM - PLOT_HEIGHT * fraction.clamp(0.0, 1.0)
    }

    /// Tick values with their labels.
    fn ticks(&self) -> Vec<(f64, String)> {
        match *self {
            ValueScale::Linear { min, max, step } => {
                let count = ((max - min) / step).round() as usize;
                let values: Vec<f64> = (0..=count).map(|index| min + index as f64 * step).collect();
                let labels = linear_labels(&values);
                values.into_iter().zip(labels).collect()
            }
            ValueScale::Log {
                min_exponent,
                max_exponent,
            } => {
                let every = ((max_exponent - min_exponent) as usize).div_ceil(6).max(1);
                (min_exponent..=max_exponent)
                    .step_by(every)
                    .map(|exponent| (10f64.powi(exponent), decade_label(exponent)))
                    .collect()
            }
        }
    }
}

/// A step of 1, 2 or 5 times a power of ten that cuts `range` into about `target` parts.
fn nice_step(range: f64, target: usize) -> f64 {
    assert!(range > 0.0 && range.is_finite(), "range={range}");
    let raw = range / target as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    let nice = if normalised <= 1.0 {
        1.0
    } else if normalised <= 2.0 {
        2.0
    } else if normalised <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Labels for evenly spaced values, with one `k` or `M` suffix for the whole axis.
fn linear_labels(values: &[f64]) -> Vec<String> {
    let largest = values
        .iter()
        .fold(0.0f64, |largest, value| largest.max(value.abs()));
    let (scale, suffix) = if largest >= 1e6 {
        (1e6, "M")
    } else if largest >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    values
        .iter()
        .map(|value| {
            let number = trim_number(value / scale);
            if number == "0" {
                number
            } else {
                format!("{number}{suffix}")
            }
        })
        .collect()
}

fn decade_label(exponent: i32) -> String {
    match exponent {
        -4..=3 => trim_number(10f64.powi(exponent)),
        4..=5 => format!("{}k", 10i64.pow((exponent - 3) as u32)),
        6..=8 => format!("{}M", 10i64.pow((exponent - 6) as u32)),
        _ => format!("1e{exponent}"),
    }
}

/// A number with at most six decimals and no trailing zeros: `2.50` → `2.5`, `-0` → `0`.
pub(crate) fn trim_number(value: f64) -> String {
    let text = format!("{value:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// Ticks of the time axis: multiples of a nice step inside the axis' range.
fn time_ticks(axis: &TimeAxis) -> Vec<(f64, String)> {
    let step = nice_step(axis.max - axis.min, 10);
    let first = (axis.min / step).ceil() as i64;
    let last = (axis.max / step + 1e-9).floor() as i64;
    let values: Vec<f64> = (first..=last).map(|index| index as f64 * step).collect();
    let labels = linear_labels(&values);
    values
        .into_iter()
        .zip(labels)
        .map(|(value, label)| (value, format!("{label} s")))
        .collect()
}

/// Writes the charts section: one SVG per panel, all on one time axis.
pub(crate) fn panels(out: &mut String, panels: &[Panel], faults: &[FaultInterval]) {
    out.push_str("<section class=\"charts\">\n<h2>Over simulated time</h2>\n");
    if panels.is_empty() {
        out.push_str("<p class=\"empty\">No charts in this run.</p>\n");
    }
    let axis = TimeAxis::new(panels, faults);
    let rows = fault_label_rows(faults, &axis);
    for (index, panel) in panels.iter().enumerate() {
        let is_last = index + 1 == panels.len();
        panel_svg(out, panel, &axis, faults, &rows, is_last);
    }
    out.push_str("</section>\n");
}

fn panel_svg(
    out: &mut String,
    panel: &Panel,
    axis: &TimeAxis,
    faults: &[FaultInterval],
    rows: &[usize],
    is_last: bool,
) {
    let prepared: Vec<Vec<(f64, f64)>> = panel
        .series
        .iter()
        .map(|series| prepare(series, panel.log_scale, axis))
        .collect();
    let height = PLOT_BOTTOM + MARGIN_BOTTOM + if is_last { AXIS_TITLE_HEIGHT } else { 0.0 };
    w!(
        out,
        "<svg class=\"panel\" viewBox=\"0 0 {SVG_WIDTH} {height}\" role=\"img\" aria-label=\"{}\">\n",
        escape(&format!("{} ({})", panel.title, panel.unit))
    );
    title_and_legend(out, panel, &prepared);
    time_grid(out, axis, is_last);
    let scale = ValueScale::fit(&prepared, panel.log_scale);
    match &scale {
        Some(scale) => value_grid(out, scale),
        None => w!(
            out,
            "<text class=\"t-nodata\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">no data</text>\n",
            MARGIN_LEFT + PLOT_W / 2.0,
            MARGIN_TOP + PLOT_HEIGHT / 2.0
        ),
    }
    fault_bands(out, faults, axis);
    if let Some(scale) = &scale {
        for (index, points) in prepared
            .iter()
            .enumerate()
            .filter(|(_, points)| !points.is_empty())
        {
            series_path(out, points, axis, scale, index);
        }
    }
    fault_labels(out, faults, axis, rows);
    w!(
        out,
        "<line class=\"axis\" x1=\"{MARGIN_LEFT}\" y1=\"{PLOT_BOTTOM}\" x2=\"{PLOT_RIGHT}\" y2=\"{PLOT_BOTTOM}\"/>\n\
         <line class=\"axis\" x1=\"{MARGIN_LEFT}\" y1=\"{MARGIN_TOP}\" x2=\"{MARGIN_LEFT}\" y2=\"{PLOT_BOTTOM}\"/>\n"
    );
    out.push_str("</svg>\n");
}

fn series_colour(index: usize) -> (&'static str, bool) {
    let colour = SERIES_COLOURS[index % SERIES_COLOURS.len()];
    // Past the palette, colours repeat: dash the repeats so lines stay distinct.
    let dashed = index >= SERIES_COLOURS.len();
    (colour, dashed)
}

/// The title on the left, the legend on the right, on one line above the plot.
fn title_and_legend(out: &mut String, panel: &Panel, prepared: &[Vec<(f64, f64)>]) {
    w!(
        out,
        "<text class=\"t-title\" x=\"8\" y=\"18\">{}",
        escape(&panel.title)
    );
    if !panel.unit.is_empty() {
        w!(
            out,
            "<tspan class=\"t-unit\"> · {}</tspan>",
            escape(&panel.unit)
        );
    }
    if panel.log_scale {
        out.push_str("<tspan class=\"t-unit\"> (log scale)</tspan>");
    }
    out.push_str("</text>\n");
    let mut right = PLOT_RIGHT;
    for (index, series) in panel.series.iter().enumerate().rev() {
        let name = truncate(&series.name, SVG_LABEL_CHARS_MAX);
        let empty = prepared[index].is_empty();
        let text = if empty {
            format!("{name} (no data)")
        } else {
            name
        };
        let text_width = text.chars().count() as f64 * CHAR_WIDTH_12PX;
        let left = right - text_width - 24.0;
        let (colour, dashed) = series_colour(index);
        let dash = if dashed {
            " stroke-dasharray=\"5 3\""
        } else {
            ""
        };
        w!(
            out,
            "<line x1=\"{left:.1}\" y1=\"14\" x2=\"{:.1}\" y2=\"14\" stroke=\"{colour}\" stroke-width=\"3\" stroke-linecap=\"round\"{dash}/>\
             <text class=\"t-legend{}\" x=\"{:.1}\" y=\"18\">{}</text>\n",
            left + 16.0,
            if empty { " t-muted" } else { "" },
            left + 22.0,
            escape(&text)
        );
        right = left - 18.0;
    }
}

fn time_grid(out: &mut String, axis: &TimeAxis, is_last: bool) {
    for (time, label) in time_ticks(axis) {
        let x = axis.x(time);
        w!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{MARGIN_TOP}\" x2=\"{x:.1}\" y2=\"{PLOT_BOTTOM}\"/>\
             <text class=\"t-tick\" x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            PLOT_BOTTOM + 16.0,
            escape(&label)
        );
    }
    if is_last {
        w!(
            out,
            "<text class=\"t-axis\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">simulated time</text>\n",
            MARGIN_LEFT + PLOT_W / 2.0,
            PLOT_BOTTOM + 34.0
        );
    }
}

fn value_grid(out: &mut String, scale: &ValueScale) {
    for (value, label) in scale.ticks() {
        let y = scale.y(value);
        w!(
            out,
            "<line class=\"grid\" x1=\"{MARGIN_LEFT}\" y1=\"{y:.1}\" x2=\"{PLOT_RIGHT}\" y2=\"{y:.1}\"/>\
             <text class=\"t-tick\" x=\"{}\" y=\"{y:.1}\" dy=\".32em\" text-anchor=\"end\">{}</text>\n",
            MARGIN_LEFT - 8.0,
            escape(&label)
        );
    }
}

/// The horizontal extent of a fault on the plot, at least two units wide so an instant shows.
fn fault_extent(fault: &FaultInterval, axis: &TimeAxis) -> Option<(f64, f64)> {
    let end = fault.end.unwrap_or(axis.max);
    if !drawable(fault.start) || !drawable(end) {
        return None;
    }
    let left = axis.x(fault.start.clamp(axis.min, axis.max));
    let right = axis.x(end.clamp(axis.min, axis.max)).max(left);
    if right - left < 2.0 {
        let centre = ((left + right) / 2.0).clamp(MARGIN_LEFT + 1.0, PLOT_RIGHT - 1.0);
        return Some((centre - 1.0, centre + 1.0));
    }
    Some((left, right))
}

fn fault_bands(out: &mut String, faults: &[FaultInterval], axis: &TimeAxis) {
    for fault in faults {
        let Some((left, right)) = fault_extent(fault, axis) else {
            continue;
        };
        w!(
            out,
            "<rect class=\"fault\" x=\"{left:.1}\" y=\"{MARGIN_TOP}\" width=\"{:.1}\" height=\"{PLOT_HEIGHT}\"><title>{}</title></rect>\
             <line class=\"fault-edge\" x1=\"{left:.1}\" y1=\"{MARGIN_TOP}\" x2=\"{left:.1}\" y2=\"{PLOT_BOTTOM}\"/>\
             <line class=\"fault-edge\" x1=\"{right:.1}\" y1=\"{MARGIN_TOP}\" x2=\"{right:.1}\" y2=\"{PLOT_BOTTOM}\"/>\n",
            right - left,
            escape(&fault.label)
        );
    }
}

fn fault_label_width(fault: &FaultInterval) -> f64 {
    truncate(&fault.label, SVG_LABEL_CHARS_MAX).chars().count() as f64 * CHAR_WIDTH_11PX
}

/// Stacks fault labels in rows so that labels of nearby faults do not overlap; past
/// `FAULT_LABEL_ROWS_MAX` rows they reuse rows in turn.
fn fault_label_rows(faults: &[FaultInterval], axis: &TimeAxis) -> Vec<usize> {
    let mut row_ends = [f64::NEG_INFINITY; FAULT_LABEL_ROWS_MAX];
    let mut rows = Vec::with_capacity(faults.len());
    for (index, fault) in faults.iter().enumerate() {
        let Some((left, _)) = fault_extent(fault, axis) else {
            rows.push(0);
            continue;
        };
        let free = row_ends.iter().position(|end| *end + 8.0 <= left);
        let row = free.unwrap_or(index % FAULT_LABEL_ROWS_MAX);
        row_ends[row] = left + 4.0 + fault_label_width(fault);
        rows.push(row);
    }
    rows
}

fn fault_labels(out: &mut String, faults: &[FaultInterval], axis: &TimeAxis, rows: &[usize]) {
    for (fault, row) in faults.iter().zip(rows) {
        let Some((left, right)) = fault_extent(fault, axis) else {
            continue;
        };
        let y = MARGIN_TOP + 13.0 + *row as f64 * FAULT_LABEL_ROW_HEIGHT;
        let fits_right = left + 4.0 + fault_label_width(fault) <= PLOT_RIGHT;
        let (x, anchor) = if fits_right {
            (left + 4.0, "start")
        } else {
            (right.min(PLOT_RIGHT) - 4.0, "end")
        };
        w!(
            out,
            "<text class=\"t-fault\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
            escape(&truncate(&fault.label, SVG_LABEL_CHARS_MAX))
        );
    }
}

fn series_path(
    out: &mut String,
    points: &[(f64, f64)],
    axis: &TimeAxis,
    scale: &ValueScale,
    index: usize,
) {
    let (colour, dashed) = series_colour(index);
    let dash = if dashed {
        " stroke-dasharray=\"5 3\""
    } else {
        ""
    };
    w!(out, "<path class=\"series\" stroke=\"{colour}\"{dash} d=\"");
    for (position, (time, value)) in points.iter().enumerate() {
        let command = if position == 0 { 'M' } else { 'L' };
        w!(out, "{command}{:.1},{:.1}", axis.x(*time), scale.y(*value));
    }
    if points.len() == 1 {
        // A lone point is a zero-length line; the round cap draws it as a dot.
        out.push_str("h0");
    }
    out.push_str("\"/>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsample_keeps_a_single_point_spike() {
        // Goal: thinning never hides a spike; method: a million flat points with one high and
        // one low sample, thinned to 100 buckets, must keep both extremes and stay bounded.
        let mut points: Vec<(f64, f64)> =
            (0..1_000_000).map(|i| (i as f64 / 1000.0, 1.0)).collect();
        points[777_777].1 = 5000.0;
        points[123_456].1 = -3.0;
        let thinned = downsample(&points, 0.0, 1000.0, 100);
        assert!(thinned.len() <= 200, "len={}", thinned.len());
        assert!(thinned.contains(&(777.777, 5000.0)), "spike lost");
        assert!(thinned.contains(&(123.456, -3.0)), "dip lost");
        assert!(
            thinned.windows(2).all(|pair| pair[0].0 <= pair[1].0),
            "not in time order"
        );
    }

    #[test]
    fn downsample_drops_non_finite_and_sorts() {
        // Goal: bad samples never reach a path; method: NaN and infinities among unsorted points.
        let points = [
            (2.0, 1.0),
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
            (0.0, 3.0),
        ];
        assert_eq!(
            downsample(&points, 0.0, 2.0, 10),
            vec![(0.0, 3.0), (2.0, 1.0)]
        );
    }

    #[test]
    fn linear_axis_reaches_the_data_maximum() {
        // Goal: the highest value is inside the plot, not clipped; method: fit a few ranges.
        for high in [0.3, 7.0, 999.0, 1000.0, 12_345.0, 9.9e9] {
            let scale = ValueScale::fit(&[vec![(0.0, 0.0), (1.0, high)]], false).unwrap();
            let ticks = scale.ticks();
            let top = ticks.last().unwrap().0;
            assert!(top >= high, "top tick {top} below {high}");
            assert!(ticks.len() <= AXIS_TICKS_MAX + 1, "ticks={}", ticks.len());
        }
    }

    #[test]
    fn tick_labels_are_short() {
        // Goal: readable labels; method: compare formatted axes with what a person would write.
        assert_eq!(linear_labels(&[0.0, 5000.0, 10_000.0]), ["0", "5k", "10k"]);
        assert_eq!(linear_labels(&[0.0, 0.1 + 0.2, 0.6]), ["0", "0.3", "0.6"]);
        assert_eq!(linear_labels(&[0.0, 1.5e6, 3e6]), ["0", "1.5M", "3M"]);
        assert_eq!(decade_label(-2), "0.01");
        assert_eq!(decade_label(4), "10k");
        assert_eq!(decade_label(12), "1e12");
    }
}
