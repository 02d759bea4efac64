//! How the desk performs: the support report (the KPIs of a period against the one before, by
//! day, week or month, by agent, team, channel or priority, as CSV too) and the team's
//! workload (each agent's unsolved tickets by priority, breached, due soon, solved this week).

use super::charts;
use super::ui::{self, col};
use super::{App, Fields, Staff, failed, load, page};
use crate::kpi_view;
use crate::support_view;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use backroom_core::analytics::Zone;
use backroom_core::support::kpi::SupportKpis;
use backroom_core::support::report::{self, SupportReport, SupportReportQuery, SupportRow};
use backroom_core::support::workload;
use backroom_domain::analytics::format_day;
use backroom_domain::roles::Permission;
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/support/reports", get(show))
        .route("/console/support/reports.csv", get(download))
        .route("/console/support/workload", get(workload_page))
}

/// The cards at the top of the report (and on the home page), by their names in
/// [`support_view::lines`].
pub(super) const CARDS: [&str; 6] = [
    "Tickets created",
    "Backlog at the end",
    "First response, business median",
    "Resolution, business median",
    "SLA attainment",
    "CSAT",
];

/// The report the filters ask for: the last 30 days by day unless told otherwise.
async fn fetch(app: &App, staff: &Staff, q: &Fields) -> Result<SupportReport, Response> {
    let ctx = staff.ctx();
    let (from, to, by, breakdown) = (
        q.opt("from"),
        q.opt("to"),
        q.opt("by").or(Some("day".into())),
        q.opt("breakdown"),
    );
    load(app, staff, move |tx| {
        let zone = Zone::get(&backroom_core::settings::load(tx)?.timezone)?;
        let today = zone.day_of(ctx.now);
        let query = SupportReportQuery {
            from: from.clone().unwrap_or_else(|| format_day(today - 29)),
            to: to.clone().unwrap_or_else(|| format_day(today + 1)),
            by: by.clone(),
            breakdown: breakdown.clone(),
            compare: Some(true),
        };
        report::report(tx, &ctx, &query)
    })
    .await
}

/// The KPI cards of a report against its previous period.
pub(super) fn cards(r: &SupportReport, against: &str) -> Markup {
    let now = support_view::lines(&r.totals);
    let then = support_view::lines(&r.previous.clone().unwrap_or_default());
    html! {
        div.cards {
            @for ((name, shown, v), (_, _, b)) in now.iter().zip(&then) {
                @if CARDS.contains(name) {
                    @let key = name.to_lowercase().replace([' ', ','], "_").replace("__", "_");
                    @let under = match kpi_view::relative_change(*v, *b) {
                        Some(c) => {
                            let good = (c >= 0.0) != support_view::lower_is_better(name);
                            html! { div class=(if good { "up" } else { "down" }) { (format!("{:+.1}", c * 100.0)) "% vs " (against) } }
                        }
                        None => html! { div.muted { "no previous figure" } },
                    };
                    (ui::stat(name, &key, shown, under))
                }
            }
        }
    }
}

fn group_row(x: &SupportRow) -> Vec<Markup> {
    let k = &x.kpis;
    vec![
        html! { (x.group.as_deref().unwrap_or("")) },
        html! { (ui::count(k.created)) },
        html! { (ui::count(k.solved)) },
        html! { (ui::count(k.backlog)) },
        html! { (support_view::duration(k.first_response.business_median_hours)) },
        html! { (support_view::duration(k.resolution.business_median_hours)) },
        html! { (kpi_view::pct(k.one_touch_rate)) },
        html! { (kpi_view::pct(k.sla_attainment)) },
        html! { (kpi_view::pct(k.csat)) },
    ]
}

fn chart(
    r: &SupportReport,
    caption: &str,
    unit: &'static str,
    f: fn(&SupportKpis) -> i64,
) -> Markup {
    let current = charts::Period {
        covers: charts::covers(&r.from, &r.to),
        points: r
            .series
            .iter()
            .map(|x| {
                let v = f(&x.kpis);
                (x.bucket.clone().unwrap_or_default(), v, ui::count(v))
            })
            .collect(),
    };
    charts::columns(caption, &current, None, unit, &ui::count)
}

async fn show(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = match fetch(&app, &staff, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let by = q.opt("by").unwrap_or_else(|| "day".into());
    let breakdown = q.text("breakdown");
    let now = support_view::lines(&r.totals);
    let prev = r.previous.as_ref().map(support_view::lines);
    let rows: Vec<Vec<Markup>> = now
        .iter()
        .enumerate()
        .map(|(i, (name, shown, v))| {
            let p = prev.as_ref().map(|p| &p[i]);
            vec![
                html! { (name) },
                html! { strong { (shown) } },
                html! { (p.map_or("-", |p| p.1.as_str())) },
                html! { (kpi_view::change(*v, p.and_then(|p| p.2))) },
            ]
        })
        .collect();
    let groups: Vec<Vec<Markup>> = r
        .breakdown
        .iter()
        .filter(|x| x.bucket.is_none())
        .map(group_row)
        .collect();
    let unit = match by.as_str() {
        "week" => "Week of",
        "month" => "Month",
        _ => "Day",
    };
    let grains = ui::options(&["day", "week", "month"]);
    let mut dims = vec![(String::new(), "none".to_string())];
    dims.extend(ui::options(&["agent", "team", "channel", "priority"]));
    let csv = ui::with_params("/console/support/reports.csv", &q, &[], &[]);
    let body = html! {
        (ui::filter_form("/console/support/reports", &q, html! {
            (ui::input("From", "from", "date", &r.from).required())
            (ui::input("To (not included)", "to", "date", &r.to).required())
            (ui::select("By", "by", &grains, &by))
            (ui::select("Breakdown", "breakdown", &dims, &breakdown))
        }))
        p.muted { (r.from) " to " (r.to) " (not included), days in " (r.timezone)
            ". Times count while a ticket waits on the team (not while pending); business times in the ticket's calendar." }
        (cards(&r, "the period before"))
        h2 { "KPIs" } a.csv href=(csv) download { "Download CSV" }
        (ui::table("Every support KPI", &[col("KPI"), col("Period").num(), col("Previous").num(), col("Change").num()], rows, "No KPI."))
        @if !r.series.is_empty() {
            h2 { "Over time" }
            div.grid {
                (chart(&r, &format!("Tickets created by {by}"), unit, |k| k.created))
                (chart(&r, &format!("Tickets solved by {by}"), unit, |k| k.solved))
                (chart(&r, &format!("Backlog at the end of each {by}"), unit, |k| k.backlog))
            }
        }
        @if !breakdown.is_empty() {
            h2 { "By " (breakdown) }
            (ui::table(&format!("By {breakdown}, busiest first"), &[
                col("Group"), col("Created").num(), col("Solved").num(), col("Backlog").num(),
                col("First response (business median)").num(), col("Resolution (business median)").num(),
                col("One-touch").num(), col("SLA").num(), col("CSAT").num(),
            ], groups, "No ticket in the period."))
        }
    };
    page(&staff, &headers, "Support reports", body)
}

async fn download(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let r = match fetch(&app, &staff, &q).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    crate::http::csv_response(
        support_view::csv(&r),
        Some(&format!("backroom-support-{}-{}.csv", r.from, r.to)),
    )
}

async fn workload_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SupportRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let loads = match app.db.read(move |tx| workload::workload(tx, &ctx)).await {
        Ok(l) => l,
        Err(e) => return failed(&staff, &e),
    };
    let rows: Vec<Vec<Markup>> = loads
        .iter()
        .map(|l| {
            let unsolved = l.low + l.normal + l.high + l.urgent;
            vec![
                ui::link(
                    &format!("/console/support?view=unsolved&assignee={}", l.user_id),
                    &l.name,
                ),
                html! { (ui::count(l.urgent)) },
                html! { (ui::count(l.high)) },
                html! { (ui::count(l.normal)) },
                html! { (ui::count(l.low)) },
                html! { strong { (ui::count(unsolved)) } },
                html! { @if l.breached > 0 { strong.late { (ui::count(l.breached)) } } @else { "0" } },
                html! { (ui::count(l.due_soon)) },
                html! { (ui::count(l.solved_this_week)) },
            ]
        })
        .collect();
    let body = html! {
        p.muted { "Unsolved tickets (new, open, pending, on hold) of each member who works tickets, busiest first; solved this week counts from Monday in the store's time zone." }
        (ui::table("Workload", &[
            col("Agent"), col("Urgent").num(), col("High").num(), col("Normal").num(), col("Low").num(),
            col("Unsolved").num(), col("Breached").num(), col("Due within 4 h").num(), col("Solved this week").num(),
        ], rows, "No member works tickets."))
    };
    page(&staff, &headers, "Workload", body)
}
