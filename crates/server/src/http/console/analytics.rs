//! Analytics: every KPI of DOMAIN.md for a chosen period against the previous one and last year,
//! the series, the funnel, a breakdown, top products and campaigns, cohorts and lifetime value;
//! every table downloadable as CSV (the same numbers as the API and `backroom report`).

use super::{
    App, Fields, Staff, esc, failed, filter_form, input, link, page_html, query_string, select,
    table,
};
use crate::kpi_view;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
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

fn csv_link(q: &Fields, table: &str) -> String {
    let mut pairs: Vec<(&str, &str)> =
        q.0.iter()
            .filter(|(k, _)| k != "table")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
    pairs.push(("table", table));
    format!(
        "<a class=\"csv\" href=\"/console/analytics.csv{}\" download>Download CSV</a>",
        esc(&query_string(pairs))
    )
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
    let money = |v: i64| Money::new(v, cur).to_string();
    let by = q.opt("by").unwrap_or_else(|| "day".into());
    let mut body = String::new();

    // Tabs, the usual periods one click away, and the period picker.
    let keep = |view: &str, from: &str, to: &str| {
        format!(
            "/console/analytics{}",
            query_string([
                ("view", view),
                ("from", from),
                ("to", to),
                ("by", by.as_str()),
                ("breakdown", q.text("breakdown").as_str()),
            ])
        )
    };
    let _ = write!(
        body,
        "<nav class=\"tabs\" aria-label=\"Analytics\">{}</nav>",
        VIEWS
            .iter()
            .map(|(v, title)| if *v == view {
                format!("<strong aria-current=\"page\">{}</strong>", esc(title))
            } else {
                link(&keep(v, &d.from, &d.to), title)
            })
            .collect::<Vec<_>>()
            .join(" · ")
    );
    let t = d.today;
    let _ = write!(
        body,
        "<p class=\"quick\">{}</p>",
        [
            ("Last 7 days", t - 6),
            ("Last 30 days", t - 29),
            ("Last 90 days", t - 89),
            ("Last 365 days", t - 364),
        ]
        .iter()
        .map(|(label, f)| link(&keep(&view, &format_day(*f), &format_day(t + 1)), label))
        .collect::<Vec<_>>()
        .join(" · ")
    );
    let mut fields = vec![
        format!(
            "<input type=\"hidden\" name=\"view\" value=\"{}\">",
            esc(&view)
        ),
        input("From", "from", "date", &d.from, "required"),
        input("To (not included)", "to", "date", &d.to, "required"),
    ];
    if view == "overview" {
        fields.push(select(
            "By",
            "by",
            &[
                ("day".into(), "day".into()),
                ("week".into(), "week".into()),
                ("month".into(), "month".into()),
            ],
            &by,
        ));
    }
    if view == "breakdown" {
        let breakdowns: Vec<(String, String)> = BREAKDOWNS
            .iter()
            .map(|b| (b.to_string(), b.replace('_', " ")))
            .collect();
        fields.push(select(
            "Breakdown",
            "breakdown",
            &breakdowns,
            &q.opt("breakdown").unwrap_or_else(|| "channel".into()),
        ));
    }
    body.push_str(&filter_form("/console/analytics", &fields.concat()));
    let _ = write!(
        body,
        "<p>{} to {} (not included), {}, days in {}.</p>",
        esc(&d.from),
        esc(&d.to),
        esc(&d.currency),
        esc(&d.timezone)
    );
    match view.as_str() {
        "breakdown" => body.push_str(&breakdown_section(&q, &d, &money)),
        "top" => body.push_str(&top_section(&q, &d, &money)),
        "customers" => body.push_str(&customers_section(&q, &d, &money)),
        _ => {
            if let Some(r) = &d.report {
                body.push_str(&overview_section(&q, r, &d.funnel, cur, &by));
            }
        }
    }
    page_html(&staff, &headers, "Analytics", &body)
}

/// Every KPI against the previous period and last year, the series, the funnel.
fn overview_section(
    q: &Fields,
    r: &KpiReport,
    funnel: &[FunnelStep],
    cur: Currency,
    by: &str,
) -> String {
    let money = |v: i64| Money::new(v, cur).to_string();
    let mut body = String::new();
    if let Some(note) = &r.last_year_note {
        body.push_str(&format!("<p class=\"note\">{}</p>", esc(note)));
    }
    let now = kpi_view::lines(&r.totals, cur);
    let prev = r.previous.as_ref().map(|k| kpi_view::lines(k, cur));
    let ly = r.last_year.as_ref().map(|k| kpi_view::lines(k, cur));
    let rows: Vec<Vec<String>> = now
        .iter()
        .enumerate()
        .map(|(i, (name, shown, v))| {
            let p = prev.as_ref().map(|p| &p[i]);
            let l = ly.as_ref().map(|l| &l[i]);
            vec![
                esc(name),
                format!(
                    "<strong data-kpi=\"{}\">{}</strong>",
                    esc(&name.to_lowercase().replace(' ', "_")),
                    esc(shown)
                ),
                esc(&p.map_or("-".into(), |p| p.1.clone())),
                esc(&kpi_view::change(*v, p.and_then(|p| p.2))),
                esc(&l.map_or("-".into(), |l| l.1.clone())),
                esc(&kpi_view::change(*v, l.and_then(|l| l.2))),
            ]
        })
        .collect();
    let _ = write!(body, "<h2>KPIs</h2>{}", csv_link(q, "kpis"));
    body.push_str(&table(
        "Every KPI",
        &["KPI", "Period", "Previous", "Change", "Last year", "Change"],
        &rows,
        "No KPI.",
    ));
    let _ = write!(body, "<h2>Over time</h2>{}", csv_link(q, "series"));
    body.push_str("<div class=\"grid\">");
    let points = |f: &dyn Fn(&report::Kpis) -> (i64, String)| {
        r.series
            .iter()
            .map(|x| {
                let (v, shown) = f(&x.kpis);
                (x.bucket.clone().unwrap_or_default(), v, shown)
            })
            .collect::<Vec<_>>()
    };
    body.push_str(&column_chart(
        &format!("Net sales by {by}"),
        &points(&|k| (k.net_sales, money(k.net_sales))),
    ));
    body.push_str(&column_chart(
        &format!("Orders by {by}"),
        &points(&|k| (k.orders, k.orders.to_string())),
    ));
    body.push_str(&column_chart(
        &format!("Sessions by {by}"),
        &points(&|k| (k.sessions, k.sessions.to_string())),
    ));
    body.push_str("</div>");
    body.push_str(&funnel_chart(funnel));
    body
}

fn breakdown_section(q: &Fields, d: &Data, money: &dyn Fn(i64) -> String) -> String {
    let dim = q.opt("breakdown").unwrap_or_else(|| "channel".into());
    let mut body = format!(
        "<h2>By {}</h2>{}",
        esc(&dim.replace('_', " ")),
        csv_link(q, "breakdown")
    );
    body.push_str(&bar_list(
        "Net sales",
        &d.breakdown
            .iter()
            .map(|x| {
                (
                    x.group.clone().unwrap_or_else(|| "(none)".into()),
                    x.kpis.net_sales,
                    money(x.kpis.net_sales),
                )
            })
            .collect::<Vec<_>>(),
    ));
    let rows: Vec<Vec<String>> = d
        .breakdown
        .iter()
        .map(|x| {
            let k = &x.kpis;
            vec![
                esc(x.group.as_deref().unwrap_or("(none)")),
                esc(&money(k.net_sales)),
                k.orders.to_string(),
                esc(&k.aov.map_or("-".into(), money)),
                k.sessions.to_string(),
                esc(&kpi_view::pct(k.conversion_rate)),
                esc(&k.roas.map_or("-".into(), |v| format!("{v:.2}"))),
            ]
        })
        .collect();
    body.push_str(&table(
        "Breakdown",
        &[
            "Group",
            "Net sales",
            "Orders",
            "AOV",
            "Sessions",
            "Conversion",
            "ROAS",
        ],
        &rows,
        "Nothing in this period.",
    ));
    body
}

fn top_section(q: &Fields, d: &Data, money: &dyn Fn(i64) -> String) -> String {
    let top_rows = |rows: &[KpiRow]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|x| {
                let k = &x.kpis;
                vec![
                    esc(x.group.as_deref().unwrap_or("(none)")),
                    esc(&money(k.net_sales)),
                    k.units_sold.to_string(),
                    k.orders.to_string(),
                    esc(&money(k.ad_spend)),
                    esc(&k.roas.map_or("-".into(), |v| format!("{v:.2}"))),
                ]
            })
            .collect()
    };
    let mut body = String::from("<div class=\"grid\"><section>");
    let _ = write!(body, "<h2>Top products</h2>{}", csv_link(q, "top_products"));
    body.push_str(&bar_list(
        "Net sales",
        &d.top_products
            .iter()
            .map(|x| {
                (
                    x.group.clone().unwrap_or_default(),
                    x.kpis.net_sales,
                    money(x.kpis.net_sales),
                )
            })
            .collect::<Vec<_>>(),
    ));
    body.push_str(&table(
        "Top products by net sales",
        &[
            "Product",
            "Net sales",
            "Units",
            "Orders",
            "Ad spend",
            "ROAS",
        ],
        &top_rows(&d.top_products),
        "No sale in this period.",
    ));
    body.push_str("</section><section>");
    let _ = write!(
        body,
        "<h2>Top campaigns</h2>{}",
        csv_link(q, "top_campaigns")
    );
    body.push_str(&table(
        "Top campaigns by return on ad spend",
        &[
            "Campaign",
            "Net sales",
            "Units",
            "Orders",
            "Ad spend",
            "ROAS",
        ],
        &top_rows(&d.top_campaigns),
        "No campaign in this period.",
    ));
    body.push_str("</section></div>");
    body
}

fn customers_section(q: &Fields, d: &Data, money: &dyn Fn(i64) -> String) -> String {
    let months = d
        .cohorts
        .iter()
        .map(|c| c.retention.len())
        .max()
        .unwrap_or(0)
        .min(12);
    let mut head = vec!["First order".to_string(), "Customers".to_string()];
    head.extend((0..months).map(|m| format!("M{m}")));
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = d
        .cohorts
        .iter()
        .map(|c| {
            let mut row = vec![esc(&c.month), c.customers.to_string()];
            row.extend((0..months).map(|m| {
                c.retention
                    .get(m)
                    .map_or(String::new(), |r| esc(&kpi_view::pct(*r)))
            }));
            row
        })
        .collect();
    let mut body = format!("<h2>Cohort retention</h2>{}", csv_link(q, "cohorts"));
    body.push_str(&table(
        "Customers with an order N months after their first, by first-order month",
        &head,
        &rows,
        "No first order in this period.",
    ));
    let _ = write!(
        body,
        "<h2>Customer lifetime value</h2>{}",
        csv_link(q, "clv")
    );
    let rows: Vec<Vec<String>> = d
        .clv
        .iter()
        .flat_map(|c| &c.segments)
        .map(|s| {
            vec![
                esc(&s.segment),
                s.customers.to_string(),
                s.orders.to_string(),
                esc(&money(s.net_sales)),
                esc(&s.avg_clv.map_or("-".into(), money)),
                esc(&s.avg_gross_margin.map_or("-".into(), money)),
            ]
        })
        .collect();
    body.push_str(&table(
        "Historic lifetime value by acquisition source (all time)",
        &[
            "Source",
            "Customers",
            "Orders",
            "Net sales",
            "Average CLV",
            "Average margin",
        ],
        &rows,
        "No customer yet.",
    ));
    body
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
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"backroom-{name}-{}-{}.csv\"",
        d.from, d.to
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

// Until this page is built from templates: the charts as text.
fn column_chart(caption: &str, points: &[(String, i64, String)]) -> String {
    let p = super::charts::Period {
        covers: String::new(),
        points: points.to_vec(),
    };
    super::charts::columns(caption, &p, None, &|v| super::ui::count(v)).into_string()
}

fn bar_list(caption: &str, rows: &[(String, i64, String)]) -> String {
    super::charts::bars(caption, rows).into_string()
}

fn funnel_chart(steps: &[report::FunnelStep]) -> String {
    super::charts::funnel(steps).into_string()
}
