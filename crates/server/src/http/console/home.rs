//! The home dashboard: the last 7, 30 (by default) or 90 days at a glance against the days
//! before, today's figures, sales by day, the funnel, and the work queue.

use super::charts;
use super::ui::{self, money};
use super::{App, Staff, failed, page};
use crate::kpi_view;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use backroom_core::analytics::queue::WorkQueue;
use backroom_core::analytics::{Zone, refresh, report};
use backroom_core::settings;
use backroom_core::support::report::{self as support_report, SupportReportQuery};
use backroom_domain::analytics::format_day;
use backroom_domain::roles::Permission;
use maud::{Markup, html};

/// The KPIs the home page shows, by their names in [`kpi_view::lines`].
const CARDS: [&str; 8] = [
    "Net sales",
    "Orders",
    "Average order value",
    "Conversion rate",
    "Sessions",
    "Bounce rate",
    "Cart abandonment",
    "ROAS",
];

/// A KPI card: the value and its change against the previous period.
fn card(label: &str, value: &str, change: Option<f64>, days: i32) -> Markup {
    let key = label.to_lowercase().replace(' ', "_");
    let under = match change {
        Some(c) => {
            let good = (c >= 0.0) != kpi_view::lower_is_better(label);
            html! { div class=(if good { "up" } else { "down" }) { (format!("{:+.1}", c * 100.0)) "% vs previous " (days) " days" } }
        }
        None => html! { div.muted { "no previous figure" } },
    };
    ui::stat(label, &key, value, under)
}

pub(super) async fn home(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<super::Fields>,
) -> Response {
    let Some(staff) = Staff::signed_in(&app, &headers).await else {
        return Redirect::to("/console/login").into_response();
    };
    let days: i32 = match q.get("days") {
        Some("7") => 7,
        Some("90") => 90,
        _ => 30,
    };
    let now = backroom_core::util::now_micros();
    let mut kpis = None;
    if staff.may(Permission::AnalyticsRead) {
        let (r, funnel) = match load_kpis(&app, days, now).await {
            Ok(r) => r,
            Err(e) => return failed(&staff, &e),
        };
        match kpi_section(&r, &funnel, days) {
            Ok(html) => kpis = Some(html),
            Err(e) => return failed(&staff, &e),
        }
    }
    let mut support = None;
    if staff.may(Permission::SupportRead) {
        let ctx = staff.ctx();
        let r = app
            .db
            .read(move |tx| {
                let zone = Zone::get(&settings::load(tx)?.timezone)?;
                let today = zone.day_of(now);
                let q = SupportReportQuery {
                    from: format_day(today - (days - 1)),
                    to: format_day(today + 1),
                    by: None,
                    breakdown: None,
                    compare: Some(true),
                };
                support_report::report(tx, &ctx, &q)
            })
            .await;
        match r {
            Ok(r) => {
                support = Some(html! {
                    h2 data-support { "Support, last " (days) " days" }
                    (super::support_reports::cards(&r, &format!("previous {days} days")))
                    p { a href=(format!("/console/support/reports?from={}&to={}", r.from, r.to)) { "Support reports" } }
                })
            }
            Err(e) => return failed(&staff, &e),
        }
    }
    let mut targets = None;
    if staff.may(Permission::AnalyticsRead) {
        let ctx = staff.ctx();
        let r = app
            .db
            .read(move |tx| {
                let month = backroom_core::budgets::plan::month_or_this(tx, None)?;
                backroom_core::budgets::plan::target_report(tx, &ctx, &month)
            })
            .await;
        match r {
            Ok(r) if !r.targets.is_empty() => {
                targets = Some(html! {
                    div data-targets { (super::budgets::targets_section(&r)) }
                    p { a href="/console/budgets" { "Budgets and targets" } }
                })
            }
            Ok(_) => {}
            Err(e) => return failed(&staff, &e),
        }
    }
    let queue = match app
        .db
        .read(move |tx| backroom_core::analytics::queue::work_queue(tx, now))
        .await
    {
        Ok(q) => q,
        Err(e) => return failed(&staff, &e),
    };
    let body = html! {
        @if let Some(k) = kpis { (k) }
        @if let Some(t) = targets { (t) }
        @if let Some(s) = support { (s) }
        (queue_section(&staff, &queue))
    };
    page(&staff, &headers, "Home", body)
}

/// Refreshes the analytics, then reads the KPIs of the last `days` days against the days
/// before, both by day, and the funnel, in one transaction.
async fn load_kpis(
    app: &App,
    days: i32,
    now: i64,
) -> backroom_core::Result<(report::KpiReport, Vec<report::FunnelStep>)> {
    refresh::run(&app.db).await?;
    app.db
        .read(move |tx| {
            let zone = Zone::get(&settings::load(tx)?.timezone)?;
            let today = zone.day_of(now);
            let q = report::KpiQuery {
                from: format_day(today - (days - 1)),
                to: format_day(today + 1),
                by: Some("day".into()),
                breakdown: None,
                currency: None,
                compare: Some(true),
            };
            let (p, mut o) = report::Opts::from_query(tx, &q)?;
            o.last_year = false; // the home page compares with the days before only
            Ok((report::kpis(tx, p, &o)?, report::funnel(tx, p)?))
        })
        .await
}

/// The analytics part: the period links, today's figures, the KPI cards, sales by day against
/// the days before, the funnel.
fn kpi_section(
    r: &report::KpiReport,
    funnel: &[report::FunnelStep],
    days: i32,
) -> backroom_core::Result<Markup> {
    let (t, prev) = (&r.totals, r.previous.clone().unwrap_or_default());
    let cur = r.currency.as_str();
    let today = r.series.last().map(|x| &x.kpis);
    let cur_c = backroom_domain::Currency::parse(cur)?;
    let now = kpi_view::lines(t, cur_c);
    let then = kpi_view::lines(&prev, cur_c);
    let (current, before) = charts::periods(r, &|k| (k.net_sales, money(k.net_sales, cur)));
    Ok(html! {
        p.quick { "Period: "
            @for d in [7, 30, 90] {
                @if d == days { strong aria-current="true" { (d) " days" } }
                @else { a href=(format!("/console?days={d}")) { (d) " days" } }
            }
        }
        p data-today { "Today: " strong { (money(today.map_or(0, |k| k.net_sales), cur)) } " net sales, "
            strong { (ui::count(today.map_or(0, |k| k.orders))) } " orders, "
            strong { (ui::count(today.map_or(0, |k| k.sessions))) } " sessions." }
        h2 data-period data-from=(r.from) data-to=(r.to) { "Last " (days) " days (" (current.covers) ")" }
        div.cards {
            @for ((name, shown, v), (_, _, b)) in now.iter().zip(&then) {
                @if CARDS.contains(name) { (card(name, shown, kpi_view::relative_change(*v, *b), days)) }
            }
        }
        (charts::columns(&format!("Net sales by day, last {days} days"), &current, before.as_ref(), "Day",
            &|v| money(v, cur).replace(".00", "")))
        (charts::funnel(funnel))
    })
}

/// The work queue: each count links to the list it counts, where the role may open it.
fn queue_section(staff: &Staff, queue: &WorkQueue) -> Markup {
    let items = [
        (
            "Orders to ship",
            queue.to_ship,
            "/console/orders?status=open&fulfillment_status=unfulfilled",
            Permission::OrdersRead,
        ),
        (
            "Late orders",
            queue.late,
            "/console/orders?late=yes",
            Permission::OrdersRead,
        ),
        (
            "Orders on hold",
            queue.on_hold,
            "/console/orders?on_hold=yes",
            Permission::OrdersRead,
        ),
        (
            "Pickups waiting",
            queue.pickups_waiting,
            "/console/orders?fulfillment_status=ready_for_pickup",
            Permission::OrdersRead,
        ),
        (
            "Returns to inspect",
            queue.returns_to_inspect,
            "/console/returns?to_inspect=yes",
            Permission::OrdersRead,
        ),
        (
            "Orders waiting for stock",
            queue.backordered,
            "",
            Permission::OrdersRead,
        ),
        (
            "Low-stock SKUs",
            queue.low_stock,
            "/console/inventory/low",
            Permission::InventoryRead,
        ),
        (
            "Failed webhooks",
            queue.failed_webhooks,
            "/console/settings/webhooks?status=failed",
            Permission::SettingsWrite,
        ),
    ];
    html! {
        h2 { "Work queue" }
        ul.queue {
            @for (label, n, href, p) in items {
                li data-queue=(label.to_lowercase().replace(' ', "_")) {
                    @if !href.is_empty() && staff.may(p) { a href=(href) { (label) } } @else { (label) }
                    ": " strong { (ui::count(n)) }
                }
            }
        }
    }
}
