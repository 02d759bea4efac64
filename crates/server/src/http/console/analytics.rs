//! Analytics: every KPI of DOMAIN.md for a chosen period against the previous one and last year,
//! the series, the funnel, a breakdown, top products and campaigns, cohorts and lifetime value;
//! every table downloadable as CSV (the same numbers as the API and `backroom report`).

use super::charts;
use super::ui::{self, col};
use super::{App, Fields, Staff, failed, page};
use crate::kpi_view;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use backroom_core::analytics::export::csv_field;
use backroom_core::analytics::report::{
    self, ClvQuery, ClvReport, Cohort, FunnelStep, KpiQuery, KpiReport, KpiRow,
};
use backroom_core::analytics::{Zone, refresh};
use backroom_core::{Sql, settings};
use backroom_domain::analytics::format_day;
use backroom_domain::roles::Permission;
use backroom_domain::{Currency, Money};
use maud::{Markup, html};
use std::fmt::Write;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/analytics", get(show))
        .route("/console/analytics.csv", get(download))
}

const BREAKDOWNS: [&str; 8] = [
    "channel",
    "campaign",
    "source",
    "medium",
    "device",
    "country",
    "product",
    "landing_page",
];

/// What a view of the page shows, computed in one read transaction; a view loads only its own.
#[derive(Default)]
struct Data {
    /// Overview: every KPI with comparisons and the series.
    report: Option<KpiReport>,
    funnel: Vec<FunnelStep>,
    /// The whole period per group of the chosen breakdown.
    breakdown: Vec<KpiRow>,
    top_products: Vec<KpiRow>,
    top_campaigns: Vec<KpiRow>,
    cohorts: Vec<Cohort>,
    clv: Option<ClvReport>,
    today: i32,
    currency: String,
    timezone: String,
    from: String,
    to: String,
}

/// The views of the page, each a tab: (view, title).
const VIEWS: [(&str, &str); 4] = [
    ("overview", "Overview"),
    ("breakdown", "Breakdown"),
    ("top", "Products and campaigns"),
    ("customers", "Cohorts and lifetime value"),
];

/// The query of the page: the period (the last 30 days by default), grain and breakdown.
fn query(q: &Fields, today: i32) -> KpiQuery {
    KpiQuery {
        from: q.opt("from").unwrap_or_else(|| format_day(today - 29)),
        to: q.opt("to").unwrap_or_else(|| format_day(today + 1)),
        by: Some(q.opt("by").unwrap_or_else(|| "day".into())),
        breakdown: None,
        currency: None,
        compare: Some(true),
    }
}

fn load(tx: &mut dyn Sql, q: &Fields, view: &str, now: i64) -> backroom_core::Result<Data> {
    let settings = settings::load(tx)?;
    let zone = Zone::get(&settings.timezone)?;
    let today = zone.day_of(now);
    let kq = query(q, today);
    let (p, o) = report::Opts::from_query(tx, &kq)?;
    let mut d = Data {
        today,
        currency: settings.currency.as_str().to_string(),
        timezone: settings.timezone.clone(),
        from: kq.from.clone(),
        to: kq.to.clone(),
        ..Default::default()
    };
    match view {
        "breakdown" => {
            let (p, o) = report::Opts::from_query(
                tx,
                &KpiQuery {
                    by: None,
                    compare: Some(false),
                    breakdown: Some(q.opt("breakdown").unwrap_or_else(|| "channel".into())),
                    ..kq.clone()
                },
            )?;
            d.breakdown = report::kpis(tx, p, &o)?.breakdown;
        }
        "top" => {
            (d.top_products, d.top_campaigns) =
                report::top_products_and_campaigns(tx, &kq.from, &kq.to, Some(10))?;
        }
        "customers" => {
            d.cohorts = report::cohorts(tx, p)?;
            d.clv = Some(report::clv(
                tx,
                &ClvQuery {
                    segment: Some("acquisition_source".into()),
                    limit: Some(10),
                },
            )?);
        }
        _ => {
            d.report = Some(report::kpis(tx, p, &o)?);
            d.funnel = report::funnel(tx, p)?;
        }
    }
    Ok(d)
}

async fn fetch(app: &App, staff: &Staff, q: &Fields, view: &str) -> Result<Data, Response> {
    if let Err(e) = refresh::run(&app.db).await {
        return Err(failed(staff, &e));
    }
    let (q, now, view) = (
        q.clone(),
        backroom_core::util::now_micros(),
        view.to_string(),
    );
    app.db
        .read(move |tx| load(tx, &q, &view, now))
        .await
        .map_err(|e| failed(staff, &e))
}

fn csv_link(q: &Fields, table: &str) -> Markup {
    let href = ui::with_params("/console/analytics.csv", q, &["table"], &[("table", table)]);
    html! { a.csv href=(href) download { "Download CSV" } }
}

async fn show(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AnalyticsRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let view = q.get("view").unwrap_or("overview").to_string();
    let d = match fetch(&app, &staff, &q, &view).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let cur = match Currency::parse(&d.currency) {
        Ok(c) => c,
        Err(e) => return failed(&staff, &e.into()),
    };
    let money = |v: i64| Money::new(v, cur).human();
    let by = q.opt("by").unwrap_or_else(|| "day".into());
    let body = html! {
        (period_picker(&q, &d, &view, &by))
        @match view.as_str() {
            "breakdown" => (breakdown_section(&q, &d, &money)),
            "top" => (top_section(&q, &d, &money)),
            "customers" => (customers_section(&q, &d, &money)),
            _ => @if let Some(r) = &d.report { (overview_section(&q, r, &d.funnel, cur, &by)) },
        }
    };
    page(&staff, &headers, "Analytics", body)
}

/// The tabs, the usual periods one click away, and the period form.
fn period_picker(q: &Fields, d: &Data, view: &str, by: &str) -> Markup {
    let keep = |view: &str, from: &str, to: &str| {
        format!(
            "/console/analytics{}",
            ui::query_string([
                ("view", view),
                ("from", from),
                ("to", to),
                ("by", by),
                ("breakdown", q.text("breakdown").as_str()),
            ])
        )
    };
    let t = d.today;
    let breakdowns: Vec<(String, String)> = BREAKDOWNS
        .iter()
        .map(|b| (b.to_string(), b.replace('_', " ")))
        .collect();
    let grains = ui::options(&["day", "week", "month"]);
    html! {
        nav.tabs aria-label="Analytics" {
            @for (i, (v, title)) in VIEWS.iter().enumerate() {
                @if i > 0 { " · " }
                @if *v == view { strong aria-current="page" { (title) } }
                @else { a href=(keep(v, &d.from, &d.to)) { (title) } }
            }
        }
        p.quick {
            @for (label, f) in [("Last 7 days", t - 6), ("Last 30 days", t - 29), ("Last 90 days", t - 89), ("Last 365 days", t - 364)] {
                a href=(keep(view, &format_day(f), &format_day(t + 1))) { (label) }
            }
        }
        (ui::filter_form("/console/analytics", q, html! {
            (ui::hidden("view", view))
            (ui::input("From", "from", "date", &d.from).required())
            (ui::input("To (not included)", "to", "date", &d.to).required())
            @if view == "overview" { (ui::select("By", "by", &grains, by)) }
            @if view == "breakdown" {
                (ui::select("Breakdown", "breakdown", &breakdowns, &q.opt("breakdown").unwrap_or_else(|| "channel".into())))
            }
        }))
        p.muted { (d.from) " to " (d.to) " (not included), " (d.currency) ", days in " (d.timezone) "." }
    }
}

/// Every KPI against the previous period and last year, the series beside the previous
/// period's, the funnel.
fn overview_section(
    q: &Fields,
    r: &KpiReport,
    funnel: &[FunnelStep],
    cur: Currency,
    by: &str,
) -> Markup {
    let now = kpi_view::lines(&r.totals, cur);
    let prev = r.previous.as_ref().map(|k| kpi_view::lines(k, cur));
    let ly = r.last_year.as_ref().map(|k| kpi_view::lines(k, cur));
    let rows: Vec<Vec<Markup>> = now
        .iter()
        .enumerate()
        .map(|(i, (name, shown, v))| {
            let p = prev.as_ref().map(|p| &p[i]);
            let l = ly.as_ref().map(|l| &l[i]);
            vec![
                html! { (name) },
                html! { strong data-kpi=(name.to_lowercase().replace(' ', "_")) { (shown) } },
                html! { (p.map_or("-", |p| p.1.as_str())) },
                html! { (kpi_view::change(*v, p.and_then(|p| p.2))) },
                html! { (l.map_or("-", |l| l.1.as_str())) },
                html! { (kpi_view::change(*v, l.and_then(|l| l.2))) },
            ]
        })
        .collect();
    let cols = [
        col("KPI"),
        col("Period").num(),
        col("Previous").num(),
        col("Change").num(),
        col("Last year").num(),
        col("Change").num(),
    ];
    let unit = match by {
        "week" => "Week of",
        "month" => "Month",
        _ => "Day",
    };
    let chart = |caption: &str,
                 f: &dyn Fn(&report::Kpis) -> (i64, String),
                 axis: &dyn Fn(i64) -> String| {
        let (current, before) = charts::periods(r, f);
        charts::columns(caption, &current, before.as_ref(), unit, axis)
    };
    let money = |v: i64| Money::new(v, cur).human();
    html! {
        @if let Some(note) = &r.last_year_note { p.note { (note) } }
        h2 { "KPIs" } (csv_link(q, "kpis"))
        (ui::table("Every KPI", &cols, rows, "No KPI."))
        h2 { "Over time" } (csv_link(q, "series"))
        div.grid {
            (chart(&format!("Net sales by {by}"), &|k| (k.net_sales, money(k.net_sales)), &|v| money(v).replace(".00", "")))
            (chart(&format!("Orders by {by}"), &|k| (k.orders, ui::count(k.orders)), &ui::count))
            (chart(&format!("Sessions by {by}"), &|k| (k.sessions, ui::count(k.sessions)), &ui::count))
        }
        (charts::funnel(funnel))
    }
}

/// The KPI columns of a table of groups.
fn group_row(x: &KpiRow, money: &dyn Fn(i64) -> String) -> Vec<Markup> {
    let k = &x.kpis;
    vec![
        html! { (x.group.as_deref().unwrap_or("(none)")) },
        html! { (money(k.net_sales)) },
        html! { (ui::count(k.orders)) },
        html! { (k.aov.map_or("-".into(), money)) },
        html! { (ui::count(k.sessions)) },
        html! { (kpi_view::pct(k.conversion_rate)) },
        html! { (k.roas.map_or("-".into(), |v| format!("{v:.2}"))) },
    ]
}

fn net_sales_bars(rows: &[KpiRow], money: &dyn Fn(i64) -> String, none: &str) -> Markup {
    charts::bars(
        "Net sales",
        &rows
            .iter()
            .map(|x| {
                (
                    x.group.clone().unwrap_or_else(|| none.into()),
                    x.kpis.net_sales,
                    money(x.kpis.net_sales),
                )
            })
            .collect::<Vec<_>>(),
    )
}

fn breakdown_section(q: &Fields, d: &Data, money: &dyn Fn(i64) -> String) -> Markup {
    let dim = q.opt("breakdown").unwrap_or_else(|| "channel".into());
    let cols = [
        col("Group"),
        col("Net sales").num(),
        col("Orders").num(),
        col("AOV").num(),
        col("Sessions").num(),
        col("Conversion").num(),
        col("ROAS").num(),
    ];
    html! {
        h2 { "By " (dim.replace('_', " ")) } (csv_link(q, "breakdown"))
        (net_sales_bars(&d.breakdown, money, "(none)"))
        (ui::table("Breakdown", &cols, d.breakdown.iter().map(|x| group_row(x, money)).collect(), "Nothing in this period."))
    }
}

fn top_section(q: &Fields, d: &Data, money: &dyn Fn(i64) -> String) -> Markup {
    let top_rows = |rows: &[KpiRow]| -> Vec<Vec<Markup>> {
        rows.iter()
            .map(|x| {
                let k = &x.kpis;
                vec![
                    html! { (x.group.as_deref().unwrap_or("(none)")) },
                    html! { (money(k.net_sales)) },
                    html! { (ui::count(k.units_sold)) },
                    html! { (ui::count(k.orders)) },
                    html! { (money(k.ad_spend)) },
                    html! { (k.roas.map_or("-".into(), |v| format!("{v:.2}"))) },
                ]
            })
            .collect()
    };
    let cols = |first| {
        [
            col(first),
            col("Net sales").num(),
            col("Units").num(),
            col("Orders").num(),
            col("Ad spend").num(),
            col("ROAS").num(),
        ]
    };
    html! {
        div.grid {
            section {
                h2 { "Top products" } (csv_link(q, "top_products"))
                (net_sales_bars(&d.top_products, money, ""))
                (ui::table("Top products by net sales", &cols("Product"), top_rows(&d.top_products), "No sale in this period."))
            }
            section {
                h2 { "Top campaigns" } (csv_link(q, "top_campaigns"))
                (ui::table("Top campaigns by return on ad spend", &cols("Campaign"), top_rows(&d.top_campaigns), "No campaign in this period."))
            }
        }
    }
}

/// The month columns of the cohort table (at most 12).
const MONTH_COLS: [&str; 12] = [
    "M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8", "M9", "M10", "M11",
];

fn customers_section(q: &Fields, d: &Data, money: &dyn Fn(i64) -> String) -> Markup {
    let months = d
        .cohorts
        .iter()
        .map(|c| c.retention.len())
        .max()
        .unwrap_or(0)
        .min(12);
    let mut head = vec![col("First order"), col("Customers").num()];
    head.extend(MONTH_COLS[..months].iter().map(|m| col(m).num()));
    let rows: Vec<Vec<Markup>> =
        d.cohorts
            .iter()
            .map(|c| {
                let mut row = vec![html! { (c.month) }, html! { (ui::count(c.customers)) }];
                row.extend((0..months).map(
                    |m| html! { @if let Some(r) = c.retention.get(m) { (kpi_view::pct(*r)) } },
                ));
                row
            })
            .collect();
    let clv_rows: Vec<Vec<Markup>> = d
        .clv
        .iter()
        .flat_map(|c| &c.segments)
        .map(|s| {
            vec![
                html! { (s.segment) },
                html! { (ui::count(s.customers)) },
                html! { (ui::count(s.orders)) },
                html! { (money(s.net_sales)) },
                html! { (s.avg_clv.map_or("-".into(), money)) },
                html! { (s.avg_gross_margin.map_or("-".into(), money)) },
            ]
        })
        .collect();
    let clv_cols = [
        col("Source"),
        col("Customers").num(),
        col("Orders").num(),
        col("Net sales").num(),
        col("Average CLV").num(),
        col("Average margin").num(),
    ];
    html! {
        h2 { "Cohort retention" } (csv_link(q, "cohorts"))
        (ui::table("Customers with an order N months after their first, by first-order month", &head, rows, "No first order in this period."))
        h2 { "Customer lifetime value" } (csv_link(q, "clv"))
        (ui::table("Historic lifetime value by acquisition source (all time)", &clv_cols, clv_rows, "No customer yet."))
    }
}

/// One table of the page as CSV, with the same numbers.
async fn download(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AnalyticsRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let name = q.text("table");
    let view = match name.as_str() {
        "breakdown" => "breakdown",
        "top_products" | "top_campaigns" => "top",
        "cohorts" | "clv" => "customers",
        _ => "overview",
    };
    let d = match fetch(&app, &staff, &q, view).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let rows = |rows: &[KpiRow]| {
        kpi_view::csv_rows(
            rows.iter()
                .map(|x| {
                    (
                        x.bucket.clone().unwrap_or_default(),
                        x.group.clone().unwrap_or_default(),
                        &x.kpis,
                    )
                })
                .collect(),
        )
    };
    let body = match (name.as_str(), &d.report) {
        ("kpis", Some(r)) => {
            let mut all = vec![("period".to_string(), r.from.clone(), &r.totals)];
            if let Some(p) = &r.previous {
                all.push(("previous".into(), String::new(), p));
            }
            if let Some(l) = &r.last_year {
                all.push(("last_year".into(), String::new(), l));
            }
            kpi_view::csv_rows(all)
        }
        ("series", Some(r)) => rows(&r.series),
        ("breakdown", _) => rows(&d.breakdown),
        ("top_products", _) => rows(&d.top_products),
        ("top_campaigns", _) => rows(&d.top_campaigns),
        ("cohorts", _) => {
            let mut out = String::from("month,customers,month_offset,active,retention\n");
            for c in &d.cohorts {
                for (m, (a, ret)) in c.active.iter().zip(&c.retention).enumerate() {
                    let _ = writeln!(
                        out,
                        "{},{},{m},{a},{}",
                        csv_field(&c.month),
                        c.customers,
                        ret.map(|v| v.to_string()).unwrap_or_default()
                    );
                }
            }
            out
        }
        ("clv", _) => {
            let mut out =
                String::from("segment,customers,orders,net_sales,avg_clv,avg_gross_margin\n");
            for s in d.clv.iter().flat_map(|c| &c.segments) {
                let _ = writeln!(
                    out,
                    "{},{},{},{},{},{}",
                    csv_field(&s.segment),
                    s.customers,
                    s.orders,
                    s.net_sales,
                    s.avg_clv.map(|v| v.to_string()).unwrap_or_default(),
                    s.avg_gross_margin
                        .map(|v| v.to_string())
                        .unwrap_or_default()
                );
            }
            out
        }
        _ => {
            return failed(
                &staff,
                &backroom_core::Error::invalid(
                    "table",
                    "must be kpis, series, breakdown, top_products, top_campaigns, cohorts or clv",
                ),
            );
        }
    };
    crate::http::csv_response(
        body,
        Some(&format!("backroom-{name}-{}-{}.csv", d.from, d.to)),
    )
}
