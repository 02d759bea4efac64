//! Charts drawn on the server as SVG (no browser code): axes with labelled ticks, the value of
//! each column on hover or keyboard focus, the comparison period beside the current one with
//! the dates each covers named, and every value again in a table for screen readers and for
//! copying.

use super::ui;
use backroom_core::analytics::report::{KpiReport, KpiRow, Kpis};
use backroom_domain::analytics::{format_day, parse_day};
use maud::{Markup, html};

/// One period of a chart: what it covers ("8 Nov – 7 Dec 2026") and its values by bucket:
/// (bucket label, value, value as shown).
pub(super) struct Period {
    pub covers: String,
    pub points: Vec<(String, i64, String)>,
}

/// A report's series and, when it compared, the previous period's beside it, as a chart's two
/// periods: `value` gives each bucket's figure and how it shows.
pub(super) fn periods(
    r: &KpiReport,
    value: &dyn Fn(&Kpis) -> (i64, String),
) -> (Period, Option<Period>) {
    let of = |rows: &[KpiRow], from: &str, to: &str| Period {
        covers: covers(from, to),
        points: rows
            .iter()
            .map(|x| {
                let (v, shown) = value(&x.kpis);
                (x.bucket.clone().unwrap_or_default(), v, shown)
            })
            .collect(),
    };
    // The previous period: the same number of days just before.
    let before = match (parse_day(&r.from), parse_day(&r.to)) {
        (Some(f), Some(t)) if r.previous.is_some() => Some(format_day(f - (t - f))),
        _ => None,
    };
    (
        of(&r.series, &r.from, &r.to),
        before.map(|b| of(&r.previous_series, &b, &r.from)),
    )
}

/// What a period `from` to `to` (not included) covers, as people say it.
pub(super) fn covers(from: &str, to: &str) -> String {
    match parse_day(to) {
        Some(t) => span(from, &format_day(t - 1)),
        None => format!("{from} to {to}"),
    }
}

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

/// Round tick steps (1, 2 or 5 times a power of ten) from zero to at least `max`, at most six.
pub(super) fn ticks(max: i64) -> Vec<i64> {
    let max = max.max(1);
    let mut step: i64 = 1;
    'found: loop {
        for m in [1, 2, 5] {
            let s = step.saturating_mul(m);
            if max / s < 5 || s == i64::MAX {
                step = s;
                break 'found;
            }
        }
        step = step.saturating_mul(10);
    }
    let n = (max + step - 1) / step;
    (0..=n).map(|i| i * step).collect()
}

/// Columns over time, the current period's beside the previous one's when there is one. `unit`
/// names a bucket ("Day"), `axis` shows a tick's value (money or a count).
pub(super) fn columns(
    caption: &str,
    current: &Period,
    previous: Option<&Period>,
    unit: &'static str,
    axis: &dyn Fn(i64) -> String,
) -> Markup {
    let n = current.points.len().max(1);
    let top = current
        .points
        .iter()
        .chain(previous.iter().flat_map(|p| p.points.iter()))
        .map(|p| p.1)
        .max()
        .unwrap_or(0);
    let ticks = ticks(top);
    let scale = *ticks.last().unwrap_or(&1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let y = |v: i64| TOP + plot_h - (v.max(0) as f64 / scale) * plot_h;
    let slot = (W - LEFT - RIGHT) / n as f64;
    let bars = if previous.is_some() { 2.0 } else { 1.0 };
    let bw = ((slot - 2.0) / bars).max(1.0);
    // Label about eight buckets, evenly.
    let every = n.div_ceil(8).max(1);
    let summary = format!(
        "{caption}: {} buckets, highest {}",
        current.points.len(),
        current
            .points
            .iter()
            .max_by_key(|p| p.1)
            .map_or("none".to_string(), |p| format!("{} on {}", p.2, p.0))
    );
    html! {
        figure.chart {
            figcaption { (caption) }
            div.legend {
                span { span.swatch.cur {} "This period: " (current.covers) }
                @if let Some(p) = previous { span { span.swatch.prev {} "Previous period: " (p.covers) } }
            }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(summary) {
                @for t in &ticks {
                    line.grid-line x1=(LEFT) x2=(W - RIGHT) y1=(fmt(y(*t))) y2=(fmt(y(*t))) {}
                    text x=(LEFT - 6.0) y=(fmt(y(*t) + 4.0)) text-anchor="end" { (axis(*t)) }
                }
                line.axis x1=(LEFT) x2=(LEFT) y1=(TOP) y2=(fmt(TOP + plot_h)) {}
                line.axis x1=(LEFT) x2=(W - RIGHT) y1=(fmt(TOP + plot_h)) y2=(fmt(TOP + plot_h)) {}
                @for (i, (label, v, shown)) in current.points.iter().enumerate() {
                    @let x0 = LEFT + i as f64 * slot + 1.0;
                    @let before = previous.and_then(|p| p.points.get(i));
                    @let tip = match before {
                        Some((pl, _, ps)) => format!("{label}: {shown} (previous, {pl}: {ps})"),
                        None => format!("{label}: {shown}"),
                    };
                    g.col tabindex="0" aria-label=(tip) {
                        title { (tip) }
                        rect x=(fmt(x0)) y=(TOP) width=(fmt(slot)) height=(fmt(plot_h)) fill="transparent" {}
                        @if let Some((_, pv, _)) = before {
                            rect.prev x=(fmt(x0)) y=(fmt(y(*pv))) width=(fmt(bw)) height=(fmt(TOP + plot_h - y(*pv))) {}
                        }
                        @let xc = if before.is_some() { x0 + bw } else { x0 };
                        rect.cur x=(fmt(xc)) y=(fmt(y(*v))) width=(fmt(bw)) height=(fmt(TOP + plot_h - y(*v))) {}
                        @if i % every == 0 {
                            text x=(fmt(x0 + slot / 2.0)) y=(fmt(H - 10.0)) text-anchor="middle" { (short_day(label)) }
                        }
                        @let tw = 8.0 + 6.5 * tip.chars().count() as f64;
                        @let tx = (x0 + slot / 2.0 - tw / 2.0).clamp(LEFT, W - RIGHT - tw);
                        g.tip aria-hidden="true" {
                            rect x=(fmt(tx)) y="0" width=(fmt(tw)) height="20" rx="3" {}
                            text x=(fmt(tx + 4.0)) y="14" { (tip) }
                        }
                    }
                }
            }
            details.data {
                summary { "Show the values as a table" }
                (ui::table(caption, &[ui::col(unit), ui::col("This period").num(), ui::col("Previous"), ui::col("Previous period").num()],
                    current.points.iter().enumerate().map(|(i, (l, _, s))| {
                        let p = previous.and_then(|p| p.points.get(i));
                        vec![html!{ (l) }, html!{ (s) },
                             html!{ (p.map_or("–", |p| p.0.as_str())) }, html!{ (p.map_or("–", |p| p.2.as_str())) }]
                    }).collect(), "No values."))
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

/// `2026-11-03` as `3 Nov`; other labels as they are.
pub(super) fn short_day(label: &str) -> String {
    let parts: Vec<&str> = label.split('-').collect();
    match parts.as_slice() {
        [_, m, d] if d.len() == 2 => {
            let month = m
                .parse::<usize>()
                .ok()
                .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
            match (d.parse::<u32>(), month) {
                (Ok(d), Some(m)) => format!("{d} {m}"),
                _ => label.to_string(),
            }
        }
        _ => label.to_string(),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Dates `from` to `to` (inclusive, `YYYY-MM-DD`) as people say them: `8 Nov – 7 Dec 2026`.
pub(super) fn span(from: &str, to: &str) -> String {
    let year = |d: &str| d.get(..4).unwrap_or_default().to_string();
    if year(from) == year(to) {
        format!("{} – {} {}", short_day(from), short_day(to), year(to))
    } else {
        format!(
            "{} {} – {} {}",
            short_day(from),
            year(from),
            short_day(to),
            year(to)
        )
    }
}

/// Horizontal bars, one per row: (label, value, value as shown).
pub(super) fn bars(caption: &str, rows: &[(String, i64, String)]) -> Markup {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    html! {
        figure.bars {
            figcaption { (caption) }
            @for (label, v, shown) in rows {
                div {
                    span { (label) ": " strong { (shown) } }
                    (meter((*v).max(0) as f64 / max as f64))
                }
            }
        }
    }
}

/// A share from 0 to 1 as a bar (its figure is in the text beside it).
fn meter(share: f64) -> Markup {
    html! {
        svg viewBox="0 0 100 4" preserveAspectRatio="none" height="10" aria-hidden="true" {
            rect.cur width=(format!("{:.2}", share.clamp(0.0, 1.0) * 100.0)) height="4" {}
        }
    }
}

/// The funnel as horizontal bars, each with its share of sessions and its drop-off.
pub(super) fn funnel(steps: &[backroom_core::analytics::report::FunnelStep]) -> Markup {
    let top = steps.first().map_or(1, |s| s.sessions.max(1));
    html! {
        h2 { "Conversion funnel" }
        div.funnel {
            @for s in steps {
                div.step data-step=(s.step) {
                    span {
                        (s.step.replace('_', " ")) ": " strong { (ui::count(s.sessions)) }
                        @if let Some(d) = s.drop_off { (format!(" ({:.1}% lost at this step)", d * 100.0)) }
                    }
                    (meter(s.sessions as f64 / top as f64))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_top() {
        assert_eq!(ticks(0), vec![0, 1]);
        assert_eq!(ticks(7), vec![0, 2, 4, 6, 8]);
        assert_eq!(ticks(10), vec![0, 5, 10]);
        assert_eq!(ticks(123_456), vec![0, 50_000, 100_000, 150_000]);
        for max in [1, 3, 99, 1001, 987_654_321] {
            let t = ticks(max);
            assert!(*t.last().unwrap() >= max && t.len() <= 7, "{max}: {t:?}");
        }
    }

    #[test]
    fn days_read_as_people_say_them() {
        assert_eq!(short_day("2026-11-03"), "3 Nov");
        assert_eq!(span("2026-11-08", "2026-12-07"), "8 Nov – 7 Dec 2026");
        assert_eq!(span("2025-12-20", "2026-01-02"), "20 Dec 2025 – 2 Jan 2026");
        assert_eq!(short_day("week 3"), "week 3");
    }
}
