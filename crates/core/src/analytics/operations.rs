//! Operational reports and views that join across areas, as the read model does: fulfillment
//! time and the on-time rate, return rates, and a location's pick list. Each reads the orders,
//! shipments, returns and reservations it summarises and writes nothing.

use crate::api::{PickItem, PickList, PickOrder};
use crate::db::{DbError, Sql};
use crate::fulfillment::FulfillmentReportQuery;
use crate::returns::{ProductReturnRate, ReasonCount, ReturnRateQuery, ReturnRates};
use crate::{Error, Result, params};

/// What to pick at a location for its open, unheld orders: units per SKU with the orders that
/// need them, oldest orders first, SKUs in order so a picker walks the shelves once.
pub fn pick_list(
    tx: &mut dyn Sql,
    location_id: i64,
    limit_orders: i64,
    now: i64,
) -> Result<PickList> {
    crate::catalog::get_location(tx, location_id)?;
    if !(1..=500).contains(&limit_orders) {
        return Err(Error::invalid("orders", "must be between 1 and 500"));
    }
    let rows = tx.query(
        "SELECT o.id, o.number, l.id AS line_id, l.sku, l.title, r.quantity, il.bin FROM reservations r \
         JOIN orders o ON o.id = r.order_id JOIN order_lines l ON l.id = r.order_line_id \
         LEFT JOIN inventory_levels il ON il.variant_id = r.variant_id AND il.location_id = r.location_id \
         WHERE r.location_id = $1 AND r.released_at IS NULL AND r.backordered < r.quantity AND o.status = 'open' AND o.hold_reason IS NULL \
           AND o.id IN (SELECT o2.id FROM orders o2 JOIN reservations r2 ON r2.order_id = o2.id \
                        WHERE r2.location_id = $1 AND r2.released_at IS NULL AND o2.status = 'open' AND o2.hold_reason IS NULL \
                        GROUP BY o2.id, o2.placed_at ORDER BY o2.placed_at, o2.id LIMIT $2) \
         ORDER BY CASE WHEN il.bin IS NULL THEN 1 ELSE 0 END, il.bin, l.sku, o.placed_at, o.id",
        params![location_id, limit_orders],
    )?;
    let mut items: Vec<PickItem> = Vec::new();
    let mut numbers: Vec<(i64, i64)> = Vec::new();
    for r in &rows {
        let sku: String = r.get("sku")?;
        let (order_id, number, quantity): (i64, i64, i64) =
            (r.get("id")?, r.get("number")?, r.get("quantity")?);
        if items.last().is_none_or(|i| i.sku != sku) {
            items.push(PickItem {
                bin: r.get("bin")?,
                sku: sku.clone(),
                title: r.get("title")?,
                quantity: 0,
                orders: Vec::new(),
            });
        }
        if let Some(item) = items.last_mut() {
            item.quantity += quantity;
            item.orders.push(PickOrder {
                order_id,
                number,
                line_id: r.get("line_id")?,
                quantity,
            });
        }
        if !numbers.iter().any(|(id, _)| *id == order_id) {
            numbers.push((order_id, number));
        }
    }
    numbers.sort_by_key(|(id, _)| *id);
    Ok(PickList {
        location_id,
        generated_at: crate::util::rfc3339(now),
        order_numbers: numbers.into_iter().map(|(_, n)| n).collect(),
        items,
    })
}

/// Fulfillment time (placed to fully shipped: median and 90th percentile) and on-time shipping
/// rate against each order's ship-by time, for orders placed in a period (DOMAIN.md).
pub fn fulfillment_report(
    tx: &mut dyn Sql,
    q: &FulfillmentReportQuery,
    now: i64,
) -> Result<crate::api::FulfillmentReport> {
    let to = match &q.to {
        Some(t) => crate::util::parse_time("to", t)?,
        None => now,
    };
    let from = match &q.from {
        Some(f) => crate::util::parse_time("from", f)?,
        None => to - 30 * 24 * 3_600_000_000,
    };
    if from >= to {
        return Err(Error::invalid("from", "must be before to"));
    }
    let mut f = crate::util::Filter::default();
    f.add("o.status <> 'cancelled'", vec![]);
    f.add("o.shipping_method <> 'pickup'", vec![]);
    f.add("o.placed_at >= ?", vec![from.into()]);
    f.add("o.placed_at < ?", vec![to.into()]);
    if let Some(c) = q.channel_id {
        f.add("o.channel_id = ?", vec![c.into()]);
    }
    let rows = tx.query(
        &format!(
            "SELECT o.placed_at, o.ship_by, \
             CAST(COALESCE((SELECT SUM(l.quantity) FROM order_lines l WHERE l.order_id = o.id), 0) AS BIGINT) AS units, \
             CAST(COALESCE((SELECT SUM(fl.quantity) FROM fulfillment_lines fl JOIN fulfillments fu ON fu.id = fl.fulfillment_id WHERE fu.order_id = o.id), 0) AS BIGINT) AS shipped_units, \
             (SELECT MAX(fu.shipped_at) FROM fulfillments fu WHERE fu.order_id = o.id) AS last_shipped_at FROM orders o{}",
            f.where_sql()
        ),
        &f.params,
    )?;
    let items: Vec<backroom_domain::kpi::Shipment> = rows
        .iter()
        .map(|r| {
            let (units, shipped_units): (i64, i64) = (r.get("units")?, r.get("shipped_units")?);
            let last_shipped_at: Option<i64> = r.get("last_shipped_at")?;
            Ok(backroom_domain::kpi::Shipment {
                placed_at: r.get("placed_at")?,
                ship_by: r.get("ship_by")?,
                shipped_at: (units > 0 && shipped_units >= units)
                    .then_some(last_shipped_at)
                    .flatten(),
            })
        })
        .collect::<std::result::Result<_, DbError>>()?;
    let s = backroom_domain::kpi::fulfillment_stats(&items, now);
    Ok(crate::api::FulfillmentReport {
        from: crate::util::rfc3339(from),
        to: crate::util::rfc3339(to),
        orders: s.orders,
        shipped: s.shipped,
        on_time: s.on_time,
        late: s.late,
        pending: s.pending,
        on_time_rate: s.on_time_rate,
        median_hours: s.median_hours,
        p90_hours: s.p90_hours,
    })
}

fn ratio(a: i64, b: i64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Return rate (units returned / units sold) overall, by product and by reason, for the orders
/// placed in the period: each returned unit counts against the sale it came from.
pub fn return_rates(tx: &mut dyn Sql, q: &ReturnRateQuery) -> Result<ReturnRates> {
    let from = q
        .from
        .as_deref()
        .map(|v| crate::util::parse_time("from", v))
        .transpose()?
        .unwrap_or(i64::MIN);
    let to =
        q.to.as_deref()
            .map(|v| crate::util::parse_time("to", v))
            .transpose()?
            .unwrap_or(i64::MAX);
    let rows = tx.query(
        "SELECT l.sku, CAST(SUM(l.quantity) AS BIGINT) AS units_sold, \
           CAST(COALESCE(SUM((SELECT SUM(rl.received_quantity) FROM return_lines rl WHERE rl.order_line_id = l.id)), 0) AS BIGINT) AS units_returned \
         FROM order_lines l JOIN orders o ON o.id = l.order_id \
         WHERE o.status <> 'cancelled' AND o.placed_at >= $1 AND o.placed_at < $2 GROUP BY l.sku ORDER BY l.sku",
        params![from, to],
    )?;
    let by_product: Vec<ProductReturnRate> = rows
        .iter()
        .map(|r| {
            let (units_sold, units_returned) = (r.get("units_sold")?, r.get("units_returned")?);
            Ok(ProductReturnRate {
                sku: r.get("sku")?,
                units_sold,
                units_returned,
                rate: ratio(units_returned, units_sold),
            })
        })
        .collect::<std::result::Result<_, DbError>>()?;
    let reasons = tx.query(
        "SELECT rl.reason, CAST(SUM(rl.received_quantity) AS BIGINT) AS units_returned FROM return_lines rl JOIN order_lines l ON l.id = rl.order_line_id JOIN orders o ON o.id = l.order_id \
         WHERE o.status <> 'cancelled' AND o.placed_at >= $1 AND o.placed_at < $2 AND rl.received_quantity > 0 GROUP BY rl.reason ORDER BY rl.reason",
        params![from, to],
    )?;
    let units_sold = by_product.iter().map(|p| p.units_sold).sum();
    let units_returned = by_product.iter().map(|p| p.units_returned).sum();
    Ok(ReturnRates {
        units_sold,
        units_returned,
        rate: ratio(units_returned, units_sold),
        by_product,
        by_reason: reasons
            .iter()
            .map(|r| {
                Ok(ReasonCount {
                    reason: r.get("reason")?,
                    units_returned: r.get("units_returned")?,
                })
            })
            .collect::<std::result::Result<_, DbError>>()?,
    })
}
