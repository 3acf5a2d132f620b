//! Two chart shapes drawn as plain SVG text: lines over a numeric x axis, and bars over
//! labelled categories. Both scale their axes to the data and say "no data" when there is none.

use std::fmt::Write;

use super::ticks::Scale;

const WIDTH: f64 = 800.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 56.0;
const BOTTOM: f64 = 64.0;
const PLOT_WIDTH: f64 = WIDTH - LEFT - RIGHT;
const PLOT_HEIGHT: f64 = HEIGHT - TOP - BOTTOM;

/// Titles of a chart and its axes.
pub struct Labels<'a> {
    pub title: &'a str,
    pub x: &'a str,
    pub y: &'a str,
}

/// One named series of (x, y) points, drawn as a polyline.
pub struct Line<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub points: Vec<(f64, f64)>,
}

/// A line chart; lines without points are left out, legend included.
pub fn lines(labels: &Labels, lines: &[Line], x_min_step: f64, y_min_step: f64) -> String {
    let drawn: Vec<&Line> = lines.iter().filter(|l| !l.points.is_empty()).collect();
    let all = || drawn.iter().flat_map(|l| l.points.iter());
    let x = Scale::covering(all().map(|p| p.0).fold(0.0, f64::max), x_min_step);
    let y = Scale::covering(all().map(|p| p.1).fold(0.0, f64::max), y_min_step);
    let mut svg = open(labels, &y, drawn.is_empty());
    for tick in &x.ticks {
        let px = LEFT + tick / x.max * PLOT_WIDTH;
        x_tick(&mut svg, px, &x.label(*tick));
    }
    for line in &drawn {
        let points: Vec<String> = line
            .points
            .iter()
            .map(|(vx, vy)| {
                let px = LEFT + vx / x.max * PLOT_WIDTH;
                let py = TOP + PLOT_HEIGHT - vy / y.max * PLOT_HEIGHT;
                format!("{px:.1},{py:.1}")
            })
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{}" stroke-width="1.5" points="{}"/>"#,
            line.colour,
            points.join(" ")
        );
    }
    legend(&mut svg, &drawn);
    close(svg)
}

/// A bar chart over labelled categories, one bar per (label, value).
pub fn bars(labels: &Labels, bars: &[(String, f64)], colour: &str) -> String {
    let y = Scale::covering(bars.iter().map(|b| b.1).fold(0.0, f64::max), 1.0);
    let empty = bars.iter().all(|b| b.1 <= 0.0);
    let mut svg = open(labels, &y, empty);
    let slot = PLOT_WIDTH / bars.len().max(1) as f64;
    for (i, (label, value)) in bars.iter().enumerate() {
        let left = LEFT + i as f64 * slot;
        let height = value.max(0.0) / y.max * PLOT_HEIGHT;
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="{colour}"><title>{}: {value}</title></rect>"#,
            left + slot * 0.1,
            TOP + PLOT_HEIGHT - height,
            slot * 0.8,
            escape(label),
        );
        x_tick(&mut svg, left + slot / 2.0, label);
    }
    close(svg)
}

/// The frame, title, axis titles and y ticks with grid lines; a note when there is no data.
fn open(labels: &Labels, y: &Scale, empty: bool) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>
<text x="{}" y="28" text-anchor="middle" font-size="16">{}</text>
<text x="{}" y="{}" text-anchor="middle">{}</text>
<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(labels.title),
        LEFT + PLOT_WIDTH / 2.0,
        HEIGHT - 16.0,
        escape(labels.x),
        TOP + PLOT_HEIGHT / 2.0,
        escape(labels.y),
    );
    for tick in &y.ticks {
        let py = TOP + PLOT_HEIGHT - tick / y.max * PLOT_HEIGHT;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{}" y2="{py:.1}" stroke="#ddd"/>
<text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + PLOT_WIDTH,
            LEFT - 6.0,
            py + 4.0,
            y.label(*tick),
        );
    }
    let _ = writeln!(
        svg,
        r#"<polyline fill="none" stroke="black" points="{LEFT},{TOP} {LEFT},{bottom} {right},{bottom}"/>"#,
        bottom = TOP + PLOT_HEIGHT,
        right = LEFT + PLOT_WIDTH,
    );
    if empty {
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="middle" font-size="20" fill="#888">no data</text>"##,
            LEFT + PLOT_WIDTH / 2.0,
            TOP + PLOT_HEIGHT / 2.0,
        );
    }
    svg
}

fn x_tick(svg: &mut String, px: f64, label: &str) {
    let bottom = TOP + PLOT_HEIGHT;
    let _ = writeln!(
        svg,
        r#"<line x1="{px:.1}" y1="{bottom}" x2="{px:.1}" y2="{}" stroke="black"/>
<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
        bottom + 5.0,
        bottom + 18.0,
        escape(label),
    );
}

/// Top right inside the plot, on a translucent box so a line running under it stays legible.
fn legend(svg: &mut String, lines: &[&Line]) {
    let x = LEFT + PLOT_WIDTH - 170.0;
    if !lines.is_empty() {
        let _ = writeln!(
            svg,
            r#"<rect x="{}" y="{}" width="164" height="{}" fill="white" fill-opacity="0.8"/>"#,
            x - 6.0,
            TOP + 4.0,
            lines.len() as f64 * 18.0 + 4.0,
        );
    }
    for (i, line) in lines.iter().enumerate() {
        let y = TOP + 14.0 + i as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="{}" stroke-width="3"/>
<text x="{}" y="{}">{}</text>"#,
            x + 24.0,
            line.colour,
            x + 30.0,
            y + 4.0,
            escape(line.name),
        );
    }
}

fn close(mut svg: String) -> String {
    svg.push_str("</svg>\n");
    svg
}

/// Text as XML character data: a scenario name may hold `&` or `<`.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
