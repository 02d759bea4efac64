//! Promotion performance for a period of local days: per promotion, and per code of those
//! triggered by codes, the orders that used it, what it took off the lines and off shipping,
//! the sales of those orders (merchandise after every discount, net of tax inside prices) and
//! their gross margin where unit costs are known; with the period's discount totals. Cancelled
//! orders count nowhere. [`fold`] is pure; [`report`] loads its rows.

use super::Zone;
use super::report::Period;
use crate::db::{Sql, Val, query_as};
use crate::{Result, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One redemption of an order in the period, with the order's sales and costs.
#[derive(Clone, Debug, Default)]
pub struct Use {
    pub promotion_id: i64,
    pub name: String,
    pub kind: String,
    pub code: Option<String>,
    pub order_id: i64,
    pub discount: i64,
    pub shipping_discount: i64,
    /// The order's merchandise after discounts (net of included tax).
    pub sales: i64,
    /// Of its lines with a unit cost: their net sales and their cost.
    pub costed_sales: i64,
    pub cogs: i64,
}

/// A promotion's (or one of its codes') figures.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default, PartialEq)]
pub struct PromotionRow {
    pub promotion_id: i64,
    pub name: String,
    pub kind: String,
    /// The code, on a code's row; null on the promotion's.
    pub code: Option<String>,
    pub orders: i64,
    /// Taken off the lines, minor units.
    pub discount: i64,
    pub shipping_discount: i64,
    /// Sales of the orders that used it (after all their discounts).
    pub sales: i64,
    /// `(sales - cogs) / sales` over the lines with a unit cost; null without any.
    pub gross_margin: Option<f64>,
    /// `discount / (sales + discount)`: how much of the price it gave away.
    pub discount_rate: Option<f64>,
}

/// The period's promotion figures.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default, PartialEq)]
pub struct PromotionReport {
    pub from: String,
    pub to: String,
    pub currency: String,
    /// Discounts on orders placed in the period (the KPI layer's `discounts`).
    pub discounts: i64,
    pub orders: i64,
    pub orders_with_discount: i64,
    /// `orders_with_discount / orders`.
    pub share_of_orders: Option<f64>,
    pub shipping_discounts: i64,
    /// One row per promotion, most discount first.
    pub promotions: Vec<PromotionRow>,
    /// One row per code used in the period (the 200 with most discount), most discount first.
    pub codes: Vec<PromotionRow>,
}

#[derive(Default)]
struct Sums {
    name: String,
    kind: String,
    orders: std::collections::BTreeSet<i64>,
    discount: i64,
    shipping: i64,
    sales: i64,
    costed: i64,
    cogs: i64,
}

impl Sums {
    fn add(&mut self, u: &Use) {
        self.name.clone_from(&u.name);
        self.kind.clone_from(&u.kind);
        self.discount += u.discount;
        self.shipping += u.shipping_discount;
        // An order's sales count once per promotion, however it used it.
        if self.orders.insert(u.order_id) {
            self.sales += u.sales;
            self.costed += u.costed_sales;
            self.cogs += u.cogs;
        }
    }

    fn row(self, id: i64, code: Option<String>) -> PromotionRow {
        let ratio = |a: i64, b: i64| (b != 0).then(|| a as f64 / b as f64);
        PromotionRow {
            promotion_id: id,
            name: self.name,
            kind: self.kind,
            code,
            orders: self.orders.len() as i64,
            discount: self.discount,
            shipping_discount: self.shipping,
            sales: self.sales,
            gross_margin: ratio(self.costed - self.cogs, self.costed),
            discount_rate: ratio(self.discount, self.sales + self.discount),
        }
    }
}

/// Folds the period's uses into rows per promotion and per code.
pub fn fold(uses: &[Use]) -> (Vec<PromotionRow>, Vec<PromotionRow>) {
    let mut by_promotion: BTreeMap<i64, Sums> = BTreeMap::new();
    let mut by_code: BTreeMap<(i64, String), Sums> = BTreeMap::new();
    for u in uses {
        by_promotion.entry(u.promotion_id).or_default().add(u);
        if let Some(c) = &u.code {
            by_code
                .entry((u.promotion_id, c.clone()))
                .or_default()
                .add(u);
        }
    }
    let mut promotions: Vec<PromotionRow> = by_promotion
        .into_iter()
        .map(|(id, s)| s.row(id, None))
        .collect();
    let mut codes: Vec<PromotionRow> = by_code
        .into_iter()
        .map(|((id, c), s)| s.row(id, Some(c)))
        .collect();
    let most = |a: &PromotionRow, b: &PromotionRow| {
        (b.discount + b.shipping_discount)
            .cmp(&(a.discount + a.shipping_discount))
            .then(a.promotion_id.cmp(&b.promotion_id))
            .then(a.code.cmp(&b.code))
    };
    promotions.sort_by(most);
    codes.sort_by(most);
    codes.truncate(200);
    (promotions, codes)
}

crate::row! {
    struct UseRow {
        promotion_id: i64, name: String, kind: String, code: Option<String>, order_id: i64,
        amount_minor: i64, shipping_minor: i64, sales: i64,
    }
}

/// The report for local days `[from, to)` in the store's currency.
pub fn report(tx: &mut dyn Sql, p: Period) -> Result<PromotionReport> {
    let s = crate::settings::load(tx)?;
    let zone = Zone::get(&s.timezone)?;
    let currency = s.currency.as_str().to_string();
    let (t0, t1) = (zone.start_of(p.from), zone.start_of(p.to));
    let mut uses: Vec<Use> = query_as::<UseRow>(
        tx,
        "SELECT r.promotion_id, p.name, p.kind, c.code, r.order_id, r.amount_minor, r.shipping_minor, \
           o.subtotal_minor - o.discounts_minor - o.included_tax_minor AS sales \
         FROM promotion_redemptions r JOIN promotions p ON p.id = r.promotion_id \
         LEFT JOIN promotion_codes c ON c.id = r.code_id JOIN orders o ON o.id = r.order_id \
         WHERE o.placed_at >= $1 AND o.placed_at < $2 AND o.status <> 'cancelled' AND o.currency = $3 ORDER BY r.id",
        params![t0, t1, currency.as_str()],
    )?
    .into_iter()
    .map(|r| Use {
        promotion_id: r.promotion_id,
        name: r.name,
        kind: r.kind,
        code: r.code,
        order_id: r.order_id,
        discount: r.amount_minor,
        shipping_discount: r.shipping_minor,
        sales: r.sales,
        ..Use::default()
    })
    .collect();
    let ids: Vec<i64> = {
        let mut v: Vec<i64> = uses.iter().map(|u| u.order_id).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let mut costs: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for chunk in ids.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|i| (*i).into()).collect();
        let (cond, list) = crate::db::in_list(tx.dialect(), "l.order_id", 1, &vals);
        for r in tx.query(
            &format!(
                "SELECT l.order_id, CAST(SUM(l.unit_price_minor * l.quantity - l.discount_minor - CASE WHEN o.tax_included <> 0 THEN l.tax_minor ELSE 0 END) AS BIGINT) AS costed, \
                   CAST(SUM(l.unit_cost_minor * l.quantity) AS BIGINT) AS cogs \
                 FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE {cond} AND l.unit_cost_minor IS NOT NULL GROUP BY l.order_id"
            ),
            &[list],
        )? {
            costs.insert(r.get("order_id")?, (r.get("costed")?, r.get("cogs")?));
        }
    }
    for u in &mut uses {
        if let Some((costed, cogs)) = costs.get(&u.order_id) {
            (u.costed_sales, u.cogs) = (*costed, *cogs);
        }
    }
    let totals = tx
        .query_one(
            "SELECT CAST(COUNT(*) AS BIGINT) AS orders, CAST(COALESCE(SUM(discounts_minor), 0) AS BIGINT) AS discounts, \
               CAST(COALESCE(SUM(CASE WHEN discounts_minor > 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS discounted \
             FROM orders WHERE placed_at >= $1 AND placed_at < $2 AND status <> 'cancelled' AND currency = $3",
            params![t0, t1, currency.as_str()],
        )?
        .ok_or_else(|| crate::Error::Db(crate::DbError::Other("no totals row".into())))?;
    let (orders, discounted): (i64, i64) = (totals.get("orders")?, totals.get("discounted")?);
    let shipping_discounts = uses.iter().map(|u| u.shipping_discount).sum();
    let (promotions, codes) = fold(&uses);
    Ok(PromotionReport {
        from: backroom_domain::analytics::format_day(p.from),
        to: backroom_domain::analytics::format_day(p.to),
        currency,
        discounts: totals.get("discounts")?,
        orders,
        orders_with_discount: discounted,
        share_of_orders: (orders != 0).then(|| discounted as f64 / orders as f64),
        shipping_discounts,
        promotions,
        codes,
    })
}
