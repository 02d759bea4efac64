//! How KPIs are shown, the same in the CLI's tables and CSV and in the console: each KPI's
//! name, its value as people read it, and the number its change is computed from.

use backroom_core::analytics::report::{KpiReport, Kpis};
use backroom_domain::{Currency, Money};

pub fn pct(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{:.1}%", r * 100.0))
}

/// The KPI lines of a table as people read them (amounts and counts with thousands
/// separators; [`csv`] keeps plain numbers): (name, value shown, value compared).
pub fn lines(k: &Kpis, cur: Currency) -> Vec<(&'static str, String, Option<f64>)> {
    let money = |v: i64| Money::new(v, cur).human();
    let count = backroom_domain::money::group_count;
    let secs = |s: Option<f64>| s.map_or("-".into(), |s| format!("{s:.0} s"));
    vec![
        ("Net sales", money(k.net_sales), Some(k.net_sales as f64)),
        ("Orders", count(k.orders), Some(k.orders as f64)),
        (
            "Average order value",
            k.aov.map_or("-".into(), money),
            k.aov.map(|v| v as f64),
        ),
        ("Sessions", count(k.sessions), Some(k.sessions as f64)),
        (
            "Unique visitors",
            count(k.unique_visitors),
            Some(k.unique_visitors as f64),
        ),
        ("Conversion rate", pct(k.conversion_rate), k.conversion_rate),
        ("Bounce rate", pct(k.bounce_rate), k.bounce_rate),
        (
            "Avg session duration",
            secs(k.avg_session_seconds),
            k.avg_session_seconds,
        ),
        (
            "Cart abandonment",
            pct(k.cart_abandonment_rate),
            k.cart_abandonment_rate,
        ),
        (
            "New customers",
            count(k.new_customers),
            Some(k.new_customers as f64),
        ),
        (
            "Returning customers",
            count(k.returning_customers),
            Some(k.returning_customers as f64),
        ),
        (
            "Repeat customer rate",
            pct(k.repeat_customer_rate),
            k.repeat_customer_rate,
        ),
        ("Ad spend", money(k.ad_spend), Some(k.ad_spend as f64)),
        (
            "CAC",
            k.cac.map_or("-".into(), money),
            k.cac.map(|v| v as f64),
        ),
        (
            "ROAS",
            k.roas.map_or("-".into(), |r| format!("{r:.2}")),
            k.roas,
        ),
        (
            "Sales from unpaid campaigns",
            money(k.unpaid_attributed_sales),
            Some(k.unpaid_attributed_sales as f64),
        ),
        ("Email open rate", pct(k.email_open_rate), k.email_open_rate),
        ("Return rate", pct(k.return_rate), k.return_rate),
        ("Gross margin", pct(k.gross_margin), k.gross_margin),
        ("Discounts", money(k.discounts), Some(k.discounts as f64)),
        (
            "Orders with a discount",
            count(k.orders_with_discount),
            Some(k.orders_with_discount as f64),
        ),
    ]
}

/// The relative change from `then` to `now`, when both are known and `then` is not zero.
pub fn relative_change(now: Option<f64>, then: Option<f64>) -> Option<f64> {
    match (now, then) {
        (Some(a), Some(b)) if b != 0.0 => Some((a - b) / b.abs()),
        _ => None,
    }
}

/// The change as shown: `+12.5%`, or `-` when there is none.
pub fn change(now: Option<f64>, then: Option<f64>) -> String {
    relative_change(now, then).map_or("-".into(), |c| format!("{:+.1}%", c * 100.0))
}

/// KPIs where a fall is good news (the console colours their changes the other way).
pub fn lower_is_better(name: &str) -> bool {
    matches!(
        name,
        "Bounce rate" | "Cart abandonment" | "CAC" | "Return rate"
    )
}

/// One CSV row per bucket and group (or the totals), with every KPI as a column.
pub fn csv(r: &KpiReport) -> String {
    let rows: Vec<(String, String, &Kpis)> = if !r.breakdown.is_empty() {
        r.breakdown
            .iter()
            .map(|x| {
                (
                    x.bucket.clone().unwrap_or_default(),
                    x.group.clone().unwrap_or_default(),
                    &x.kpis,
                )
            })
            .collect()
    } else if !r.series.is_empty() {
        r.series
            .iter()
            .map(|x| (x.bucket.clone().unwrap_or_default(), String::new(), &x.kpis))
            .collect()
    } else {
        vec![(r.from.clone(), String::new(), &r.totals)]
    };
    csv_rows(rows)
}

/// CSV with a bucket and a group column, then every KPI as a column.
pub fn csv_rows(rows: Vec<(String, String, &Kpis)>) -> String {
    // The header names the KPIs as their JSON does, even when there is no row.
    let columns = |k: &Kpis| match serde_json::to_value(k) {
        Ok(serde_json::Value::Object(map)) => map.into_iter().collect::<Vec<_>>(),
        _ => Vec::new(),
    };
    let names: Vec<String> = columns(&Kpis::default())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut out = format!("bucket,group,{}\n", names.join(","));
    for (bucket, group, k) in rows {
        let cells: Vec<String> = columns(k)
            .into_iter()
            .map(|(_, v)| {
                if v.is_null() {
                    String::new()
                } else {
                    v.to_string()
                }
            })
            .collect();
        out.push_str(&format!(
            "{},{},{}\n",
            backroom_core::analytics::export::csv_field(&bucket),
            backroom_core::analytics::export::csv_field(&group),
            cells.join(",")
        ));
    }
    out
}
