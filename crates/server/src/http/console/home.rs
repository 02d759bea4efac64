//! The home dashboard: the last 7, 30 (by default) or 90 days at a glance against the days
//! before, today's figures, sales by day, the funnel, and the work queue.

use super::{App, Staff, esc, failed, money, page};
use crate::kpi_view;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use backroom_core::analytics::queue::WorkQueue;
use backroom_core::analytics::{Zone, refresh, report};
use backroom_core::settings;
use backroom_domain::analytics::format_day;
use backroom_domain::roles::Permission;

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
fn card(label: &str, value: &str, change: Option<f64>, days: i32) -> String {
    let change = match change {
        Some(c) => format!(
            "<div class=\"{}\">{}% vs previous {days} days</div>",
            if (c >= 0.0) != kpi_view::lower_is_better(label) {
                "up"
            } else {
                "down"
            },
            esc(&format!("{:+.1}", c * 100.0))
        ),
        None => "<div>no previous figure</div>".into(),
    };
    format!(
        "<div class=\"card\"><div>{}</div><div class=\"v\" data-kpi=\"{}\">{}</div>{change}</div>",
        esc(label),
        esc(&label.to_lowercase().replace(' ', "_")),
        esc(value)
    )
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
    let mut body = String::new();
    if staff.may(Permission::AnalyticsRead) {
        let (r, funnel) = match load_kpis(&app, days, now).await {
            Ok(r) => r,
            Err(e) => return failed(&staff, &e),
        };
        match kpi_section(&r, &funnel, days) {
            Ok(html) => body.push_str(&html),
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
    body.push_str(&queue_section(&staff, &queue));
    page(&staff, &headers, "Home", &body)
}

/// Refreshes the analytics, then reads the KPIs of the last `days` days (against the days
/// before, by day) and the funnel, in one transaction.
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
            let (p, o) = report::Opts::from_query(tx, &q)?;
            Ok((report::kpis(tx, p, &o)?, report::funnel(tx, p)?))
        })
        .await
}

/// The analytics part: the period links, today's figures, the KPI cards, sales by day, the funnel.
fn kpi_section(
    r: &report::KpiReport,
    funnel: &[report::FunnelStep],
    days: i32,
) -> backroom_core::Result<String> {
    let mut body = String::new();
    let (t, prev) = (&r.totals, r.previous.clone().unwrap_or_default());
    let cur = r.currency.as_str();
    let today = r.series.last().map(|x| &x.kpis);
    body.push_str(&format!(
        "<p class=\"quick\">Period: {}</p><p data-today>Today: <strong>{}</strong> net sales, <strong>{}</strong> orders, <strong>{}</strong> sessions.</p>\
         <h2>Last {days} days ({} to {})</h2><div class=\"cards\">",
        [7, 30, 90]
            .iter()
            .map(|d| if *d == days {
                format!("<strong>{d} days</strong>")
            } else {
                super::link(&format!("/console?days={d}"), &format!("{d} days"))
            })
            .collect::<Vec<_>>()
            .join(" · "),
        esc(&money(today.map_or(0, |k| k.net_sales), cur)),
        today.map_or(0, |k| k.orders),
        today.map_or(0, |k| k.sessions),
        esc(&r.from),
        esc(&r.to)
    ));
    let cur_c = backroom_domain::Currency::parse(cur)?;
    let now = kpi_view::lines(t, cur_c);
    let before = kpi_view::lines(&prev, cur_c);
    for ((name, shown, v), (_, _, b)) in now.iter().zip(&before) {
        if CARDS.contains(name) {
            body.push_str(&card(name, shown, kpi_view::relative_change(*v, *b), days));
        }
    }
    body.push_str("</div>");
    body.push_str(&super::column_chart(
        &format!("Net sales by day, last {days} days"),
        &r.series
            .iter()
            .map(|x| {
                (
                    x.bucket.clone().unwrap_or_default(),
                    x.kpis.net_sales,
                    money(x.kpis.net_sales, cur),
                )
            })
            .collect::<Vec<_>>(),
    ));
    body.push_str(&super::funnel_chart(funnel));
    Ok(body)
}

/// The work queue: each count links to the list it counts, where the role may open it.
fn queue_section(staff: &Staff, queue: &WorkQueue) -> String {
    let mut body = String::new();
    body.push_str("<h2>Work queue</h2><ul class=\"queue\">");
    for (label, n, href, p) in [
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
    ] {
        let label_html = if !href.is_empty() && staff.may(p) {
            super::link(href, label)
        } else {
            esc(label)
        };
        body.push_str(&format!(
            "<li data-queue=\"{}\">{label_html}: <strong>{n}</strong></li>",
            esc(&label.to_lowercase().replace(' ', "_")),
        ));
    }
    body.push_str("</ul>");
    body
}
