//! How promotion performance is shown, the same in the CLI's table and CSV and in the console:
//! amounts as people read them in the report's currency.

use crate::kpi_view::pct;
use backroom_core::analytics::export::csv_field;
use backroom_core::analytics::promotions::{PromotionReport, PromotionRow};
use backroom_domain::money::group_count;

/// An amount of the report's currency as people read it.
pub fn money(r: &PromotionReport, amount: i64) -> String {
    backroom_domain::money::human_in(amount, &r.currency)
}

/// The report's headline figures: (name, value shown).
pub fn headline(r: &PromotionReport) -> Vec<(&'static str, String)> {
    vec![
        ("Discounts", money(r, r.discounts)),
        ("Shipping discounts", money(r, r.shipping_discounts)),
        ("Orders", group_count(r.orders)),
        (
            "Orders with a discount",
            group_count(r.orders_with_discount),
        ),
        ("Share of orders", pct(r.share_of_orders)),
    ]
}

/// The cells of a row: promotion, code, orders, discount, shipping, sales, margin, rate.
pub fn cells(r: &PromotionReport, p: &PromotionRow) -> [String; 8] {
    [
        p.name.clone(),
        p.code.clone().unwrap_or_else(|| "-".into()),
        group_count(p.orders),
        money(r, p.discount),
        money(r, p.shipping_discount),
        money(r, p.sales),
        pct(p.gross_margin),
        pct(p.discount_rate),
    ]
}

pub const HEADERS: [&str; 8] = [
    "promotion",
    "code",
    "orders",
    "discount",
    "shipping",
    "sales",
    "margin",
    "discount rate",
];

/// A readable table: the headline, then each promotion, then each code.
pub fn table(r: &PromotionReport) -> String {
    let mut out = format!("Promotions {} to {} ({})\n", r.from, r.to, r.currency);
    for (k, v) in headline(r) {
        out.push_str(&format!("  {k:<24} {v:>14}\n"));
    }
    for (title, rows) in [("By promotion", &r.promotions), ("By code", &r.codes)] {
        out.push_str(&format!("\n{title}\n"));
        out.push_str(&format!(
            "{:<28} {:<16} {:>7} {:>13} {:>12} {:>14} {:>7} {:>8}\n",
            HEADERS[0],
            HEADERS[1],
            HEADERS[2],
            HEADERS[3],
            HEADERS[4],
            HEADERS[5],
            HEADERS[6],
            HEADERS[7]
        ));
        for p in rows.iter() {
            let c = cells(r, p);
            out.push_str(&format!(
                "{:<28} {:<16} {:>7} {:>13} {:>12} {:>14} {:>7} {:>8}\n",
                c[0].chars().take(28).collect::<String>(),
                c[1].chars().take(16).collect::<String>(),
                c[2],
                c[3],
                c[4],
                c[5],
                c[6],
                c[7]
            ));
        }
    }
    out
}

/// CSV: one row per promotion and per code, amounts in minor units.
pub fn csv(r: &PromotionReport) -> String {
    let mut out = String::from(
        "promotion_id,promotion,code,orders,discount_minor,shipping_discount_minor,sales_minor,gross_margin,discount_rate,currency\n",
    );
    for p in r.promotions.iter().chain(&r.codes) {
        let f = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\n",
            p.promotion_id,
            csv_field(&p.name),
            csv_field(p.code.as_deref().unwrap_or_default()),
            p.orders,
            p.discount,
            p.shipping_discount,
            p.sales,
            f(p.gross_margin),
            f(p.discount_rate),
            r.currency
        ));
    }
    out
}
