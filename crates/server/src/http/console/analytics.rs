//! Analytics: every KPI of DOMAIN.md for a chosen period against the previous one and last year,
//! the series, the funnel, a breakdown, top products and campaigns, cohorts and lifetime value;
//! every table downloadable as CSV (the same numbers as the API and `backroom report`).

use super::{
    App, Fields, Staff, bar_list, column_chart, esc, failed, filter_form, funnel_chart, input,
    link, page, query_string, select, table,
};
use crate::kpi_view;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backroom_core::analytics::report::{
    self, ClvQuery, ClvReport, Cohort, FunnelStep, KpiQuery, KpiReport, KpiRow, TopQuery,
};
use backroom_core::analytics::{Zone, refresh};
use backroom_core::export::csv_field;
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

/// Everything the page shows, computed in one read transaction.
struct Data {
    report: KpiReport,
    /// The whole period per group of the chosen breakdown.
    breakdown: Vec<KpiRow>,
    funnel: Vec<FunnelStep>,
    top_products: Vec<KpiRow>,
    top_campaigns: Vec<KpiRow>,
    cohorts: Vec<Cohort>,
    clv: ClvReport,
    today: i32,
}

/// The query of the page: the period (the last 30 days by default), grain and breakdown.
fn query(q: &Fields, today: i32) -> KpiQuery {
    KpiQuery {
        from: q.opt("from").unwrap_or_else(|| format_day(today - 29)),
        to: q.opt("to").unwrap_or_else(|| format_day(today + 1)),
        by: Some(q.opt("by").unwrap_or_else(|| "day".into())),
        breakdown: q.opt("breakdown"),
        currency: None,
        compare: Some(true),
    }
}

fn load(tx: &mut dyn Sql, q: &Fields, now: i64) -> backroom_core::Result<Data> {
    let zone = Zone::get(&settings::load(tx)?.timezone)?;
    let today = zone.day_of(now);
    let kq = query(q, today);
    let (p, o) = report::Opts::from_query(
        tx,
        &KpiQuery {
            breakdown: None,
            ..kq.clone()
        },
    )?;
    let breakdown = match &kq.breakdown {
        Some(_) => {
            let (p, o) = report::Opts::from_query(
                tx,
                &KpiQuery {
                    by: None,
                    compare: Some(false),
                    ..kq.clone()
                },
            )?;
            report::kpis(tx, p, &o)?.breakdown
        }
        None => Vec::new(),
    };
    let top = |tx: &mut dyn Sql, by: &str| {
        report::top(
            tx,
            &TopQuery {
                from: kq.from.clone(),
                to: kq.to.clone(),
                by: by.into(),
                limit: Some(10),
            },
        )
    };
    Ok(Data {
        report: report::kpis(tx, p, &o)?,
        breakdown,
        funnel: report::funnel(tx, p)?,
        top_products: top(tx, "product")?,
        top_campaigns: top(tx, "campaign")?,
        cohorts: report::cohorts(tx, p)?,
        clv: report::clv(
            tx,
            &ClvQuery {
                segment: Some("acquisition_source".into()),
                limit: Some(10),
            },
        )?,
        today,
    })
}

async fn fetch(app: &App, staff: &Staff, q: &Fields) -> Result<Data, Response> {
    if let Err(e) = refresh::run(&app.db).await {
        return Err(failed(staff, &e));
    }
    let (q, now) = (q.clone(), backroom_core::util::now_micros());
    app.db
        .read(move |tx| load(tx, &q, now))
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

fn pct(r: Option<f64>) -> String {
    kpi_view::pct(r)
}

async fn show(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AnalyticsRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let d = match fetch(&app, &staff, &q).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let r = &d.report;
    let cur = match Currency::parse(&r.currency) {
        Ok(c) => c,
        Err(e) => return failed(&staff, &e.into()),
    };
    let money = |v: i64| Money::new(v, cur).to_string();
    let mut body = String::new();

    // The period picker, with the usual periods one click away.
    let t = d.today;
    let quick = [
        ("Last 7 days", t - 6, t + 1),
        ("Last 30 days", t - 29, t + 1),
        ("Last 90 days", t - 89, t + 1),
        ("Last 365 days", t - 364, t + 1),
    ];
    let by = q.opt("by").unwrap_or_else(|| "day".into());
    let _ = write!(
        body,
        "<p class=\"quick\">{}</p>",
        quick
            .iter()
            .map(|(label, f, to)| link(
                &format!(
                    "/console/analytics{}",
                    query_string([
                        ("from", format_day(*f).as_str()),
                        ("to", format_day(*to).as_str()),
                        ("by", by.as_str()),
                        ("breakdown", q.text("breakdown").as_str())
                    ])
                ),
                label
            ))
            .collect::<Vec<_>>()
            .join(" · ")
    );
    let mut breakdowns = vec![(String::new(), "none".to_string())];
    breakdowns.extend(
        BREAKDOWNS
            .iter()
            .map(|b| (b.to_string(), b.replace('_', " "))),
    );
    body.push_str(&filter_form(
        "/console/analytics",
        &[
            input("From", "from", "date", &r.from, "required"),
            input("To (not included)", "to", "date", &r.to, "required"),
            select(
                "By",
                "by",
                &[
                    ("day".into(), "day".into()),
                    ("week".into(), "week".into()),
                    ("month".into(), "month".into()),
                ],
                &by,
            ),
            select("Breakdown", "breakdown", &breakdowns, &q.text("breakdown")),
        ]
        .concat(),
    ));
    let _ = write!(
        body,
        "<p>{} to {} (not included), {}, days in {}.</p>",
        esc(&r.from),
        esc(&r.to),
        esc(&r.currency),
        esc(&r.timezone)
    );

    // Every KPI against the previous period and last year.
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
    let _ = write!(body, "<h2>KPIs</h2>{}", csv_link(&q, "kpis"));
    body.push_str(&table(
        "Every KPI",
        &["KPI", "Period", "Previous", "Change", "Last year", "Change"],
        &rows,
        "No KPI.",
    ));

    // The series.
    let _ = write!(body, "<h2>Over time</h2>{}", csv_link(&q, "series"));
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
    body.push_str(&funnel_chart(&d.funnel));

    // The breakdown.
    if let Some(dim) = q.opt("breakdown") {
        let _ = write!(
            body,
            "<h2>By {}</h2>{}",
            esc(&dim.replace('_', " ")),
            csv_link(&q, "breakdown")
        );
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
                    esc(&pct(k.conversion_rate)),
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
    }

    // Top products and campaigns.
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
    body.push_str("<div class=\"grid\"><section>");
    let _ = write!(
        body,
        "<h2>Top products</h2>{}",
        csv_link(&q, "top_products")
    );
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
        csv_link(&q, "top_campaigns")
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

    // Cohorts.
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
            row.extend(
                (0..months).map(|m| c.retention.get(m).map_or(String::new(), |r| esc(&pct(*r)))),
            );
            row
        })
        .collect();
    let _ = write!(body, "<h2>Cohort retention</h2>{}", csv_link(&q, "cohorts"));
    body.push_str(&table(
        "Customers with an order N months after their first, by first-order month",
        &head,
        &rows,
        "No first order in this period.",
    ));

    // Lifetime value.
    let _ = write!(
        body,
        "<h2>Customer lifetime value</h2>{}",
        csv_link(&q, "clv")
    );
    let rows: Vec<Vec<String>> = d
        .clv
        .segments
        .iter()
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
    page(&staff, &headers, "Analytics", &body)
}

/// One table of the page as CSV, with the same numbers.
async fn download(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AnalyticsRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let d = match fetch(&app, &staff, &q).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let r = &d.report;
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
    let name = q.text("table");
    let body = match name.as_str() {
        "kpis" => {
            let mut all = vec![("period".to_string(), r.from.clone(), &r.totals)];
            if let Some(p) = &r.previous {
                all.push(("previous".into(), String::new(), p));
            }
            if let Some(l) = &r.last_year {
                all.push(("last_year".into(), String::new(), l));
            }
            kpi_view::csv_rows(all)
        }
        "series" => rows(&r.series),
        "breakdown" => rows(&d.breakdown),
        "top_products" => rows(&d.top_products),
        "top_campaigns" => rows(&d.top_campaigns),
        "cohorts" => {
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
        "clv" => {
            let mut out =
                String::from("segment,customers,orders,net_sales,avg_clv,avg_gross_margin\n");
            for s in &d.clv.segments {
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
        r.from, r.to
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}
