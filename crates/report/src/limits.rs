//! Every bound the renderer keeps, in one place, so a huge or hostile run still gives a page of
//! bounded size.

/// Width of a chart's plotting area in SVG user units; one down-sampling bucket per unit.
pub const PLOT_WIDTH: usize = 1036;

/// A series keeps at most two points (its minimum and its maximum) per bucket once drawn.
pub const SERIES_POINTS_DRAWN_MAX: usize = 2 * PLOT_WIDTH;

/// Values and times whose magnitude is above this are skipped like NaN: beyond it, the span
/// of an axis could overflow to infinity.
pub const VALUE_MAGNITUDE_MAX: f64 = 1e15;

/// Labels drawn inside SVG (fault labels, box names) are cut to this many characters.
pub const SVG_LABEL_CHARS_MAX: usize = 40;

/// Fault labels stack in at most this many rows at the top of a chart.
pub const FAULT_LABEL_ROWS_MAX: usize = 3;

/// A linear axis never has more tick marks than this.
pub const AXIS_TICKS_MAX: usize = 12;

/// Nodes per row inside a rack box; more nodes wrap to further rows.
pub const RACK_COLUMNS_MAX: usize = 4;

const _: () = assert!(SERIES_POINTS_DRAWN_MAX >= 2 * PLOT_WIDTH);
const _: () = assert!(FAULT_LABEL_ROWS_MAX >= 1);
