//! Bulk reads and writes of historical orders for the importer: an order history's orders and
//! lines are written with multi-row inserts (`COPY` on PostgreSQL), its cancellations matched
//! against the open sale lines read in one query, and their refunds, returned units and order
//! states written a few thousand rows a statement, where placement, refunds and returns would
//! cost round trips per order. The importer decides what each order, line and refund is (its
//! statuses and money); this module knows how their rows are read and written.

use crate::db::{DbError, Dialect, FromRow, Row, Sql, Val, in_list, insert_rows, query_as};
use crate::{Error, Result, params};
use backroom_domain::order::{FulfillmentStatus, OrderStatus, PaymentStatus};
use std::collections::{HashMap, HashSet};

/// An order of a history, placed (and last updated) at `placed_at`.
#[derive(Clone, Debug)]
pub struct HistoricalOrder {
    /// The order number the file gives it.
    pub number: i64,
    pub channel_id: i64,
    pub customer_id: i64,
    pub currency: String,
    pub status: OrderStatus,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
    /// Money, in minor units of `currency`.
    pub subtotal: i64,
    pub discounts: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub paid: i64,
    pub refunded: i64,
    pub shipping_method: String,
    /// The shipping address, as JSON.
    pub shipping_address: String,
    pub sourcing_strategy: String,
    pub sourcing_reason: String,
    pub placed_at: i64,
    /// The user who imported it.
    pub created_by: i64,
    pub ship_country: String,
}

/// A line of a historical order.
#[derive(Clone, Debug)]
pub struct HistoricalLine {
    pub order_id: i64,
    /// Its position in the order, from 1.
    pub line_no: i64,
    pub variant_id: i64,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    /// Money, in minor units of the order's currency.
    pub unit_price: i64,
    pub discount: i64,
    pub tax: i64,
    /// Units already returned.
    pub returned_quantity: i64,
}

/// A refund of a historical order (all merchandise when `merchandise` is `amount`).
#[derive(Clone, Debug)]
pub struct HistoricalRefund {
    pub order_id: i64,
    pub amount: i64,
    pub currency: String,
    pub reason: String,
    pub note: String,
    /// Who refunded, by name.
    pub actor: String,
    pub created_at: i64,
    pub settled: i64,
    pub merchandise: i64,
}

/// What an order becomes once refunds and returns of its history are applied.
#[derive(Clone, Debug)]
pub struct RefundedOrder {
    pub id: i64,
    pub refunded: i64,
    pub returned_value: i64,
    pub payment_status: PaymentStatus,
    pub fulfillment_status: FulfillmentStatus,
}

/// An order's money and units, as cancellations change them.
#[derive(Clone, Debug)]
pub struct OrderMoney {
    pub paid: i64,
    pub refunded: i64,
    pub currency: String,
    /// Units sold, over its lines.
    pub units: i64,
    pub returned_units: i64,
    pub returned_value: i64,
}

/// Decodes what [`order_money`] reads of an order (its `id` is read apart).
impl FromRow for OrderMoney {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(OrderMoney {
            paid: r.get("paid_minor")?,
            refunded: r.get("refunded_minor")?,
            currency: r.get("currency")?,
            units: r.get("units")?,
            returned_units: r.get("returned_units")?,
            returned_value: r.get("returned_minor")?,
        })
    }
}

/// A sale line with units not yet returned, and its order's customer and time.
#[derive(Clone, Debug)]
pub struct SaleLine {
    pub line: i64,
    pub order: i64,
    pub customer: i64,
    pub variant: i64,
    pub price: i64,
    pub placed: i64,
    /// Units sold and not returned.
    pub remaining: i64,
}

/// Decodes the sale lines [`open_sale_lines`] reads.
impl FromRow for SaleLine {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(SaleLine {
            line: r.get("id")?,
            order: r.get("order_id")?,
            customer: r.get("customer_id")?,
            variant: r.get("variant_id")?,
            price: r.get("unit_price_minor")?,
            placed: r.get("placed_at")?,
            remaining: r.get("remaining")?,
        })
    }
}

/// The order numbers among `numbers` that are already taken (a query per 1,000 numbers).
pub fn existing_numbers(tx: &mut dyn Sql, numbers: &[i64]) -> Result<HashSet<i64>> {
    let mut existing: HashSet<i64> = HashSet::new();
    for chunk in numbers.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|n| (*n).into()).collect();
        let (cond, list) = in_list(tx.dialect(), "number", 1, &vals);
        for r in tx.query(&format!("SELECT number FROM orders WHERE {cond}"), &[list])? {
            existing.insert(r.get("number")?);
        }
    }
    Ok(existing)
}

/// Inserts the orders, with everything a history keeps of them (statuses, money, refunds), in
/// multi-row inserts; the new ids by number. Numbers must be new: a taken one fails the batch.
pub fn insert_orders(tx: &mut dyn Sql, new: &[HistoricalOrder]) -> Result<HashMap<i64, i64>> {
    insert(tx, new, true)
}

/// [`insert_orders`] for orders with nothing refunded (a history whose refunds come later, with
/// its cancellations): `refunded_minor` keeps its default, 0, and each row is a parameter
/// shorter. An order with a refund is refused (nothing is written).
pub fn insert_unrefunded_orders(
    tx: &mut dyn Sql,
    new: &[HistoricalOrder],
) -> Result<HashMap<i64, i64>> {
    if let Some(o) = new.iter().find(|o| o.refunded != 0) {
        return Err(Error::invalid(
            "refunded",
            format!("order {} has a refund, which would be lost", o.number),
        ));
    }
    insert(tx, new, false)
}

/// The orders' rows, with `refunded_minor` when `refunded`.
fn insert(tx: &mut dyn Sql, new: &[HistoricalOrder], refunded: bool) -> Result<HashMap<i64, i64>> {
    let rows: Vec<Vec<Val>> = new
        .iter()
        .map(|o| {
            let mut row: Vec<Val> = vec![
                o.number.into(),
                o.channel_id.into(),
                o.customer_id.into(),
                o.currency.as_str().into(),
                o.status.as_str().into(),
                o.payment_status.as_str().into(),
                o.fulfillment_status.as_str().into(),
                o.subtotal.into(),
                o.discounts.into(),
                o.shipping.into(),
                o.tax.into(),
                o.total.into(),
                o.paid.into(),
                o.shipping_method.as_str().into(),
                o.shipping_address.as_str().into(),
                o.sourcing_strategy.as_str().into(),
                o.sourcing_reason.as_str().into(),
                o.placed_at.into(),
                o.placed_at.into(),
                o.created_by.into(),
                o.ship_country.as_str().into(),
            ];
            if refunded {
                row.push(o.refunded.into());
            }
            row
        })
        .collect();
    const COLUMNS: &str = "number, channel_id, customer_id, currency, status, payment_status, fulfillment_status, subtotal_minor, discounts_minor, shipping_minor, tax_minor, total_minor, paid_minor, shipping_method, shipping_address, sourcing_strategy, sourcing_reason, placed_at, updated_at, created_by, ship_country";
    let (head, cols) = if refunded {
        (
            format!("INSERT INTO orders ({COLUMNS}, refunded_minor)"),
            22,
        )
    } else {
        (format!("INSERT INTO orders ({COLUMNS})"), 21)
    };
    ids_by_number(insert_rows(tx, &head, cols, &rows, Some("number, id"))?)
}

/// The ids by number of rows returned as `number, id`.
fn ids_by_number(rows: Vec<Row>) -> Result<HashMap<i64, i64>> {
    rows.iter()
        .map(|r| Ok((r.get::<i64>("number")?, r.get::<i64>("id")?)))
        .collect()
}

/// Appends the lines, with the units already returned (`copy_rows`: `COPY` on PostgreSQL).
pub fn insert_lines(tx: &mut dyn Sql, lines: &[HistoricalLine]) -> Result<()> {
    copy_lines(tx, lines, true)
}

/// [`insert_lines`] for lines with nothing returned yet: `returned_quantity` keeps its default,
/// 0, and each row is a value shorter. A line with returned units is refused (nothing is
/// written).
pub fn insert_unreturned_lines(tx: &mut dyn Sql, lines: &[HistoricalLine]) -> Result<()> {
    if let Some(l) = lines.iter().find(|l| l.returned_quantity != 0) {
        return Err(Error::invalid(
            "returned_quantity",
            format!(
                "a line of {} has returned units, which would be lost",
                l.sku
            ),
        ));
    }
    copy_lines(tx, lines, false)
}

/// The lines' rows, with `returned_quantity` as the last column when `returned`.
fn copy_lines(tx: &mut dyn Sql, lines: &[HistoricalLine], returned: bool) -> Result<()> {
    const COLUMNS: [&str; 10] = [
        "order_id",
        "line_no",
        "variant_id",
        "sku",
        "title",
        "quantity",
        "unit_price_minor",
        "discount_minor",
        "tax_minor",
        "returned_quantity",
    ];
    let rows: Vec<Vec<Val>> = lines
        .iter()
        .map(|l| {
            let mut row: Vec<Val> = vec![
                l.order_id.into(),
                l.line_no.into(),
                l.variant_id.into(),
                l.sku.as_str().into(),
                l.title.as_str().into(),
                l.quantity.into(),
                l.unit_price.into(),
                l.discount.into(),
                l.tax.into(),
            ];
            if returned {
                row.push(l.returned_quantity.into());
            }
            row
        })
        .collect();
    let n = if returned { 10 } else { 9 };
    tx.copy_rows("order_lines", &COLUMNS[..n], &rows)?;
    Ok(())
}

/// The notes among `notes` that a `cancellation` refund already carries (a query per 1,000): an
/// imported cancellation's refund carries its number there, so a re-run finds it applied.
pub fn cancellation_refund_notes(tx: &mut dyn Sql, notes: &[&str]) -> Result<HashSet<String>> {
    let mut done: HashSet<String> = HashSet::new();
    for chunk in notes.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|n| (*n).into()).collect();
        let (cond, list) = in_list(tx.dialect(), "note", 1, &vals);
        for r in tx.query(
            &format!("SELECT note FROM refunds WHERE reason = 'cancellation' AND {cond}"),
            &[list],
        )? {
            done.insert(r.get("note")?);
        }
    }
    Ok(done)
}

/// The sale lines of these customers' orders selling these variants that still have units not
/// returned, in no particular order: one query per 1,000 customers and 1,000 variants (a query
/// per line would cost a round trip each on PostgreSQL).
pub fn open_sale_lines(
    tx: &mut dyn Sql,
    customer_ids: &[i64],
    variant_ids: &[i64],
) -> Result<Vec<SaleLine>> {
    // `CROSS JOIN` makes SQLite walk the customers' orders first (its planner otherwise starts
    // from every line of the variants); PostgreSQL plans it like any join.
    let mut cands: Vec<SaleLine> = Vec::new();
    if customer_ids.is_empty() || variant_ids.is_empty() {
        return Ok(cands);
    }
    for cchunk in customer_ids.chunks(1000) {
        for vchunk in variant_ids.chunks(1000) {
            let customers: Vec<Val> = cchunk.iter().map(|c| (*c).into()).collect();
            let variants: Vec<Val> = vchunk.iter().map(|v| (*v).into()).collect();
            let (customers_in, customers) = in_list(tx.dialect(), "o.customer_id", 1, &customers);
            let (variants_in, variants) = in_list(tx.dialect(), "l.variant_id", 2, &variants);
            cands.extend(query_as::<SaleLine>(
                tx,
                &format!(
                    "SELECT l.id, l.order_id, o.customer_id, l.variant_id, o.placed_at, l.quantity - l.returned_quantity AS remaining, l.unit_price_minor \
                     FROM orders o CROSS JOIN order_lines l \
                     WHERE l.order_id = o.id AND {customers_in} AND {variants_in} AND l.quantity > l.returned_quantity"
                ),
                &[customers, variants],
            )?);
        }
    }
    Ok(cands)
}

/// Adds units to the lines' returned quantity: `(line id, units)`, a line any number of times
/// (its units are summed), 5,000 lines a statement.
pub fn add_returned_units(tx: &mut dyn Sql, units: &[(i64, i64)]) -> Result<()> {
    let mut per_line: HashMap<i64, i64> = HashMap::new();
    for (line, q) in units {
        *per_line.entry(*line).or_default() += q;
    }
    let rows: Vec<(i64, i64)> = per_line.into_iter().collect();
    for chunk in rows.chunks(5000) {
        let mut vals: Vec<Val> = Vec::with_capacity(chunk.len() * 2);
        let tuples: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, (line, q))| {
                vals.push((*line).into());
                vals.push((*q).into());
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
                    2 * i + 1,
                    2 * i + 2
                )
            })
            .collect();
        tx.exec(
            &format!(
                "UPDATE order_lines SET returned_quantity = returned_quantity + v.column2 FROM (VALUES {}) AS v WHERE order_lines.id = v.column1",
                tuples.join(", ")
            ),
            &vals,
        )?;
    }
    Ok(())
}

/// The orders' money and units, by id (a query per 1,000 orders).
pub fn order_money(tx: &mut dyn Sql, order_ids: &[i64]) -> Result<HashMap<i64, OrderMoney>> {
    let mut state: HashMap<i64, OrderMoney> = HashMap::new();
    for chunk in order_ids.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|o| (*o).into()).collect();
        let (cond, list) = in_list(tx.dialect(), "o.id", 1, &vals);
        for r in tx.query(
            &format!(
                "SELECT o.id, o.paid_minor, o.refunded_minor, o.currency, \
                 CAST(COALESCE((SELECT SUM(quantity) FROM order_lines WHERE order_id = o.id), 0) AS BIGINT) AS units, \
                 CAST(COALESCE((SELECT SUM(returned_quantity) FROM order_lines WHERE order_id = o.id), 0) AS BIGINT) AS returned_units, o.returned_minor \
                 FROM orders o WHERE {cond}"
            ),
            &[list],
        )? {
            state.insert(r.get("id")?, OrderMoney::from_row(&r)?);
        }
    }
    Ok(state)
}

/// Appends the refunds (`copy_rows`: `COPY` on PostgreSQL).
pub fn insert_refunds(tx: &mut dyn Sql, refunds: &[HistoricalRefund]) -> Result<()> {
    let rows: Vec<Vec<Val>> = refunds
        .iter()
        .map(|r| {
            vec![
                r.order_id.into(),
                r.amount.into(),
                r.currency.as_str().into(),
                r.reason.as_str().into(),
                r.note.as_str().into(),
                r.actor.as_str().into(),
                r.created_at.into(),
                r.settled.into(),
                r.merchandise.into(),
            ]
        })
        .collect();
    tx.copy_rows(
        "refunds",
        &[
            "order_id",
            "amount_minor",
            "currency",
            "reason",
            "note",
            "actor",
            "created_at",
            "settled_minor",
            "merchandise_minor",
        ],
        &rows,
    )?;
    Ok(())
}

/// Writes what the orders became (refunded, returned, their payment and fulfillment statuses),
/// updated at `now`, 2,000 orders a statement.
pub fn set_refunded(tx: &mut dyn Sql, now: i64, orders: &[RefundedOrder]) -> Result<()> {
    for chunk in orders.chunks(2000) {
        let mut vals: Vec<Val> = Vec::with_capacity(chunk.len() * 5);
        let tuples: Vec<String> = chunk
            .iter()
            .enumerate()
            .map(|(i, o)| {
                vals.extend([
                    o.id.into(),
                    o.refunded.into(),
                    o.returned_value.into(),
                    o.payment_status.as_str().into(),
                    o.fulfillment_status.as_str().into(),
                ]);
                let b = 5 * i;
                format!(
                    "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS TEXT), CAST(${} AS TEXT))",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5
                )
            })
            .collect();
        let n = vals.len();
        vals.push(now.into());
        tx.exec(
            &format!(
                "UPDATE orders SET refunded_minor = v.column2, returned_minor = v.column3, payment_status = v.column4, fulfillment_status = v.column5, updated_at = ${} \
                 FROM (VALUES {}) AS v WHERE orders.id = v.column1",
                n + 1,
                tuples.join(", ")
            ),
            &vals,
        )?;
    }
    Ok(())
}

/// After a history's orders are in, new orders are numbered after the highest one: SQLite's
/// counter or PostgreSQL's sequence moves on (never back).
pub fn bump_order_numbers(tx: &mut dyn Sql) -> Result<()> {
    let max = tx
        .query_one(
            "SELECT CAST(COALESCE(MAX(number), 0) AS BIGINT) AS max_number FROM orders",
            &[],
        )?
        .map(|r| r.get::<i64>("max_number"))
        .transpose()?
        .unwrap_or(0);
    match tx.dialect() {
        Dialect::Sqlite => {
            tx.exec(
                "UPDATE counters SET value = $1 WHERE name = 'order_number' AND value < $1",
                params![max],
            )?;
        }
        Dialect::Postgres => {
            tx.query(
                "SELECT setval('order_numbers', GREATEST($1, (SELECT last_value FROM order_numbers)))",
                params![max],
            )?;
        }
    }
    Ok(())
}
