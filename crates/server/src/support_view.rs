//! How support KPIs are shown, the same in the CLI's table and CSV and in the console: each
//! KPI's name, its value as people read it, and the number its change is computed from.

use crate::kpi_view::{change, pct};
use backroom_core::analytics::export::csv_field;
use backroom_core::support::kpi::{Durations, SupportKpis};
use backroom_core::support::report::{SupportReport, SupportRow};
use backroom_domain::money::group_count;

/// Hours as read: `45 min`, `3.2 h`, `2.1 d`, or `-`.
pub fn duration(h: Option<f64>) -> String {
    match h {
        None => "-".into(),
        Some(h) if h < 1.0 => format!("{:.0} min", h * 60.0),
        Some(h) if h < 48.0 => format!("{h:.1} h"),
        Some(h) => format!("{:.1} d", h / 24.0),
    }
}

/// The lines of a KPI table: (name, value shown, value compared).
pub fn lines(k: &SupportKpis) -> Vec<(&'static str, String, Option<f64>)> {
    let count = |v: i64| (group_count(v), Some(v as f64));
    let d = |v: Option<f64>| (duration(v), v);
    let row = |name, (shown, v): (String, Option<f64>)| (name, shown, v);
    let (f, r) = (&k.first_response, &k.resolution);
    vec![
        row("Tickets created", count(k.created)),
        row("Tickets solved", count(k.solved)),
        row("Backlog at the end", count(k.backlog)),
        row("First response, median", d(f.median_hours)),
        row("First response, p90", d(f.p90_hours)),
        row(
            "First response, business median",
            d(f.business_median_hours),
        ),
        row("First response, business p90", d(f.business_p90_hours)),
        row("Resolution, median", d(r.median_hours)),
        row("Resolution, p90", d(r.p90_hours)),
        row("Resolution, business median", d(r.business_median_hours)),
        row("Resolution, business p90", d(r.business_p90_hours)),
        row(
            "Replies per ticket",
            (
                k.replies_per_ticket
                    .map_or("-".into(), |v| format!("{v:.2}")),
                k.replies_per_ticket,
            ),
        ),
        row("One-touch rate", (pct(k.one_touch_rate), k.one_touch_rate)),
        row("SLA attainment", (pct(k.sla_attainment), k.sla_attainment)),
        row("CSAT", (pct(k.csat), k.csat)),
    ]
}

/// Support KPIs where a fall is good news.
pub fn lower_is_better(name: &str) -> bool {
    name.starts_with("First response")
        || name.starts_with("Resolution")
        || name == "Backlog at the end"
}

/// The report as read at a terminal: the totals against the previous period, then the series
/// or breakdown rows.
pub fn table(r: &SupportReport) -> String {
    use std::fmt::Write;
    let mut s = format!(
        "Support {} to {} (exclusive), days in {}\n{:<34} {:>12} {:>12} {:>8}\n",
        r.from, r.to, r.timezone, "", "period", "previous", "change"
    );
    let prev = r.previous.as_ref().map(lines);
    for (i, (name, shown, v)) in lines(&r.totals).into_iter().enumerate() {
        let p = prev.as_ref().map(|p| &p[i]);
        let _ = writeln!(
            s,
            "{:<34} {:>12} {:>12} {:>8}",
            name,
            shown,
            p.map_or("-".into(), |p| p.1.clone()),
            change(v, p.and_then(|p| p.2)),
        );
    }
    let rows = if r.breakdown.is_empty() {
        &r.series
    } else {
        &r.breakdown
    };
    if !rows.is_empty() {
        let _ = writeln!(
            s,
            "\n{:<12} {:<24} {:>8} {:>8} {:>8} {:>10} {:>10} {:>7} {:>7}",
            "bucket", "group", "created", "solved", "backlog", "1st resp.", "resol.", "SLA", "CSAT"
        );
        for row in rows {
            let k = &row.kpis;
            let _ = writeln!(
                s,
                "{:<12} {:<24} {:>8} {:>8} {:>8} {:>10} {:>10} {:>7} {:>7}",
                row.bucket.as_deref().unwrap_or(""),
                row.group.as_deref().unwrap_or(""),
                k.created,
                k.solved,
                k.backlog,
                duration(k.first_response.median_hours),
                duration(k.resolution.median_hours),
                pct(k.sla_attainment),
                pct(k.csat),
            );
        }
    }
    s
}

const COLUMNS: &str = "bucket,group,created,solved,backlog,\
first_response_tickets,first_response_median_hours,first_response_p90_hours,first_response_business_median_hours,first_response_business_p90_hours,\
resolution_tickets,resolution_median_hours,resolution_p90_hours,resolution_business_median_hours,resolution_business_p90_hours,\
replies_per_ticket,one_touch,one_touch_rate,sla_met,sla_missed,sla_attainment,csat_good,csat_bad,csat";

fn cell<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

fn duration_cells(d: &Durations) -> [String; 5] {
    [
        d.tickets.to_string(),
        cell(d.median_hours),
        cell(d.p90_hours),
        cell(d.business_median_hours),
        cell(d.business_p90_hours),
    ]
}

/// One CSV row per bucket and group (or the totals), with every KPI as a plain-number column.
pub fn csv(r: &SupportReport) -> String {
    let totals = [SupportRow {
        bucket: Some(r.from.clone()),
        group: None,
        kpis: r.totals.clone(),
    }];
    let rows: &[SupportRow] = if !r.breakdown.is_empty() {
        &r.breakdown
    } else if !r.series.is_empty() {
        &r.series
    } else {
        &totals
    };
    let mut out = format!("{COLUMNS}\n");
    for row in rows {
        let k = &row.kpis;
        let mut cells = vec![
            csv_field(row.bucket.as_deref().unwrap_or("")),
            csv_field(row.group.as_deref().unwrap_or("")),
            k.created.to_string(),
            k.solved.to_string(),
            k.backlog.to_string(),
        ];
        cells.extend(duration_cells(&k.first_response));
        cells.extend(duration_cells(&k.resolution));
        cells.extend([
            cell(k.replies_per_ticket),
            k.one_touch.to_string(),
            cell(k.one_touch_rate),
            k.sla_met.to_string(),
            k.sla_missed.to_string(),
            cell(k.sla_attainment),
            k.csat_good.to_string(),
            k.csat_bad.to_string(),
            cell(k.csat),
        ]);
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}
