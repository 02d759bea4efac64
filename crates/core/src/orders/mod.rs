//! Orders: placement (pricing, sourcing, reservation, all or nothing), idempotency,
//! cancellation, payments, and the order timeline.

pub mod edits;
pub mod history;
mod place;
mod refunds;
pub mod replacement;
pub mod sql;

pub use place::place;
pub use refunds::refund;
pub use replacement::{Reship, ReshipLine, Reshipped, reship};

use crate::api::{self, Order, OrderEvent, Page};
use crate::audit;
use crate::db::{DbError, FromRow, Row, Sql, query_one_as};
use crate::inventory::release_order;
use crate::util::page;
use crate::util::{
    Filter, decode_sorted_cursor, from_json, opt_rfc3339, page_limit, parse_sort, parse_time,
    rfc3339, sorted_cursor,
};
use crate::{Ctx, Error, Result, params};
use backroom_domain::balance;
use backroom_domain::order::{
    self as states, FulfillmentStatus, InventoryPolicy, OrderStatus, PaymentStatus, ProductStatus,
};
use backroom_domain::roles::Permission;
use backroom_domain::sourcing::{Candidate, SourcingError};
use backroom_domain::values::{optional_text, required_text};
use backroom_domain::{Quantity, Sku};
use serde_json::json;

/// The result of placing an order: the order, and whether it was created now or replayed from an
/// earlier request with the same idempotency key.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

pub(crate) fn money(amount: i64, currency: &str) -> api::Money {
    api::Money {
        amount,
        currency: currency.to_string(),
    }
}

fn check_address(a: &api::Address) -> Result<api::Address> {
    check_address_at(a, "shipping_address")
}

/// Validates an address, naming its fields under `at` (`shipping_address`, `addresses[0]`).
pub(crate) fn check_address_at(a: &api::Address, at: &str) -> Result<api::Address> {
    let f = |e: backroom_domain::Invalid| Error::Invalid(e.under(at));
    let country = a.country.trim().to_uppercase();
    if a.latitude.is_some() != a.longitude.is_some() {
        return Err(Error::invalid(
            format!("{at}.latitude"),
            "give both latitude and longitude, or neither",
        ));
    }
    if a.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v))
        || a.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v))
    {
        return Err(Error::invalid(
            format!("{at}.latitude"),
            "latitude must be within ±90 and longitude within ±180",
        ));
    }
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            format!("{at}.country"),
            "must be a two-letter ISO 3166 country code, like FR",
        ));
    }
    Ok(api::Address {
        name: required_text("name", &a.name, 255).map_err(f)?,
        line1: required_text("line1", &a.line1, 255).map_err(f)?,
        line2: optional_text("line2", a.line2.as_deref(), 255).map_err(f)?,
        city: required_text("city", &a.city, 255).map_err(f)?,
        region: optional_text("region", a.region.as_deref(), 255).map_err(f)?,
        postal_code: required_text("postal_code", &a.postal_code, 32).map_err(f)?,
        country,
        phone: optional_text("phone", a.phone.as_deref(), 64).map_err(f)?,
        latitude: a.latitude,
        longitude: a.longitude,
    })
}

pub(crate) struct LineIn {
    pub variant_id: i64,
    pub sku: Sku,
    pub title: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub policy: InventoryPolicy,
    /// The variant's unit cost when the line is sold: what its cost of goods stays.
    pub unit_cost: Option<i64>,
}

/// Parses `(sku, quantity)` inputs under `field` (e.g. `lines`): the SKU and quantity rules.
pub(crate) fn parse_lines(field: &str, lines: &[api::SkuQuantity]) -> Result<Vec<(Sku, i64)>> {
    let mut parsed = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let sku = Sku::parse(&l.sku).map_err(|e| e.under(&format!("{field}[{i}]")))?;
        let q = Quantity::parse(l.quantity).map_err(|e| e.under(&format!("{field}[{i}]")))?;
        parsed.push((sku, q.get()));
    }
    Ok(parsed)
}

/// Looks up the variants of parsed lines, in one query, at today's prices; refuses SKUs that do
/// not exist or whose product is not active.
pub(crate) fn lookup_lines(
    tx: &mut dyn Sql,
    parsed: Vec<(Sku, i64)>,
    field: &str,
) -> Result<Vec<LineIn>> {
    if parsed.is_empty() {
        return Ok(Vec::new());
    }
    let sku_vals: Vec<crate::Val> = parsed.iter().map(|(s, _)| s.as_str().into()).collect();
    let found = tx.query(&lookup_sql(parsed.len()), &sku_vals)?;
    lines_from(&found, parsed, field)
}

/// The query behind [`lookup_lines`], for `n` SKUs bound as `$1..$n`.
fn lookup_sql(n: usize) -> String {
    crate::catalog::variants_for_sale_sql(n)
}

/// Matches parsed lines with the variant rows [`lookup_sql`] found.
fn lines_from(found: &[Row], parsed: Vec<(Sku, i64)>, field: &str) -> Result<Vec<LineIn>> {
    let mut lines = Vec::with_capacity(parsed.len());
    for (i, (sku, q)) in parsed.into_iter().enumerate() {
        let mut hit = None;
        for r in found {
            if r.get::<String>("sku")? == sku.as_str() {
                hit = Some(r);
                break;
            }
        }
        let r = hit.ok_or_else(|| {
            Error::invalid(
                format!("{field}[{i}].sku"),
                format!("no variant has SKU {sku}"),
            )
        })?;
        let status: String = r.get("status")?;
        if ProductStatus::parse(&status) != Some(ProductStatus::Active) {
            return Err(Error::Conflict {
                code: "not_for_sale",
                message: format!("{sku} belongs to a product that is {status}, not active"),
                field: Some(format!("{field}[{i}].sku")),
            });
        }
        let (product, vt): (String, String) = (r.get("product_title")?, r.get("title")?);
        let title = if vt == "Default" {
            product
        } else {
            format!("{product} - {vt}")
        };
        lines.push(LineIn {
            variant_id: r.get("id")?,
            sku,
            title,
            quantity: q,
            unit_price: r.get("price_minor")?,
            policy: InventoryPolicy::parse(&r.get::<String>("inventory_policy")?)
                .unwrap_or(InventoryPolicy::Deny),
            unit_cost: r.get("cost_minor")?,
        });
    }
    Ok(lines)
}

/// The numbers of the orders whose ids are `ids` (those that exist), by id: what staff know an
/// order by, where a record only holds its id (a ledger entry's reference, say).
pub fn numbers(tx: &mut dyn Sql, ids: &[i64]) -> Result<std::collections::HashMap<i64, i64>> {
    if ids.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let vals: Vec<crate::Val> = ids.iter().map(|i| crate::Val::from(*i)).collect();
    let (cond, list) = crate::db::in_list(tx.dialect(), "id", 1, &vals);
    tx.query(
        &format!("SELECT id, number FROM orders WHERE {cond}"),
        &[list],
    )?
    .iter()
    .map(|r| Ok((r.get::<i64>("id")?, r.get::<i64>("number")?)))
    .collect()
}

/// The ids of the orders whose numbers are `numbers` (those that exist), by number: what a
/// message naming an order by its number refers to.
pub fn ids_by_number(
    tx: &mut dyn Sql,
    numbers: &[i64],
) -> Result<std::collections::HashMap<i64, i64>> {
    if numbers.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let vals: Vec<crate::Val> = numbers.iter().map(|i| crate::Val::from(*i)).collect();
    let (cond, list) = crate::db::in_list(tx.dialect(), "number", 1, &vals);
    tx.query(
        &format!("SELECT id, number FROM orders WHERE {cond}"),
        &[list],
    )?
    .iter()
    .map(|r| Ok((r.get::<i64>("number")?, r.get::<i64>("id")?)))
    .collect()
}

/// How many orders the store has (any status): the settings that can no longer change once it has
/// some ask.
pub fn count(tx: &mut dyn Sql) -> Result<i64> {
    Ok(tx
        .query_one("SELECT COUNT(*) AS n FROM orders", &[])?
        .map(|r| r.get::<i64>("n"))
        .transpose()?
        .unwrap_or(0))
}

/// Sets each candidate's sellable units per variant from locked level rows (less the channel's
/// safety buffer).
pub(crate) fn fill_available(
    candidates: &mut [Candidate],
    rows: &[crate::inventory::LockedLevel],
    variant_ids: &[i64],
) {
    for v in variant_ids {
        for c in candidates.iter_mut() {
            let avail = rows
                .iter()
                .find(|r| r.variant_id == *v && r.location_id == c.location_id)
                .map_or(0, |r| {
                    r.on_hand - r.reserved - r.unavailable - r.channel_buffer.unwrap_or(0)
                });
            c.available.insert(*v, avail);
        }
    }
}

/// The API error for a sourcing failure; `field` names the offending line's quantity.
pub(crate) fn sourcing_error(
    e: SourcingError,
    channel: &str,
    field: impl Fn(usize) -> String,
) -> Error {
    match e {
        SourcingError::NoLocations => Error::conflict(
            "no_locations",
            format!("channel {channel} sells from no active location"),
        ),
        SourcingError::Insufficient {
            line_index,
            sku,
            requested,
            available,
        } => Error::InsufficientStock {
            field: field(line_index),
            sku,
            requested,
            available,
        },
    }
}

/// The shipping method of a boutique sale the customer takes with them: nothing ships.
pub const IN_STORE: &str = "in_store";

pub(crate) fn event(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    kind: &str,
    message: &str,
) -> Result<()> {
    tx.exec_deferred(
        "INSERT INTO order_events (order_id, kind, message, actor, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![order_id, kind, message, ctx.actor.name.as_str(), ctx.now],
    )?;
    // What changes an order's KPI facts (its lines, status, refunds or returns) also tells the
    // analytics refresher, in the same transaction.
    if matches!(
        kind,
        "cancelled" | "edited" | "exchange" | "refunded" | "return_received"
    ) {
        crate::analytics::rollup::mark_dirty(tx, order_id)?;
    }
    Ok(())
}

/// The columns [`OrderRow`] reads from `orders o`; the customer's email and names come through
/// the customers' expressions.
static ORDER_COLS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "o.id, o.number, o.channel_id, o.customer_id, {} AS email, {} AS first_name, {} AS last_name, {ORDER_REST}",
        crate::customers::sql::email_of("o.customer_id"),
        crate::customers::sql::first_name_of("o.customer_id"),
        crate::customers::sql::last_name_of("o.customer_id"),
    )
});
const ORDER_REST: &str = "o.currency, o.status, o.payment_status, o.fulfillment_status, o.subtotal_minor, o.discounts_minor, o.shipping_minor, o.tax_minor, o.total_minor, o.paid_minor, o.shipping_method, o.shipping_address, o.note, o.sourcing_strategy, o.sourcing_reason, o.placed_at, o.updated_at, o.cancelled_at, o.cancel_reason, o.refunded_minor, o.hold_reason, o.hold_note, o.held_at, o.ship_by, o.pickup_location_id, o.pickup_deadline, o.picked_up_at, o.picked_up_by, o.returned_minor, o.adjustments_minor, o.origin_location_id, o.tax_included, o.promotion_notes";

crate::row! {
    /// An order as [`ORDER_COLS`] reads it, with its customer's email and name.
    struct OrderRow {
        id: i64,
        number: i64,
        channel_id: i64,
        customer_id: i64,
        email: String,
        first_name: String,
        last_name: String,
        currency: String,
        status: String,
        payment_status: String,
        fulfillment_status: String,
        subtotal_minor: i64,
        discounts_minor: i64,
        shipping_minor: i64,
        tax_minor: i64,
        total_minor: i64,
        paid_minor: i64,
        shipping_method: String,
        shipping_address: String,
        note: Option<String>,
        sourcing_strategy: String,
        sourcing_reason: String,
        placed_at: i64,
        updated_at: i64,
        cancelled_at: Option<i64>,
        cancel_reason: Option<String>,
        refunded_minor: i64,
        hold_reason: Option<String>,
        hold_note: Option<String>,
        held_at: Option<i64>,
        ship_by: Option<i64>,
        pickup_location_id: Option<i64>,
        pickup_deadline: Option<i64>,
        picked_up_at: Option<i64>,
        picked_up_by: Option<String>,
        returned_minor: i64,
        adjustments_minor: i64,
        origin_location_id: Option<i64>,
        tax_included: i64,
        promotion_notes: Option<String>,
    }
}

crate::row! {
    /// An order line as [`order_from`] reads it.
    struct LineRow {
        id: i64,
        line_no: i64,
        variant_id: i64,
        sku: String,
        title: String,
        quantity: i64,
        unit_price_minor: i64,
        discount_minor: i64,
        tax_minor: i64,
        returned_quantity: i64,
        refunded_quantity: i64,
        exchange_return_id: Option<i64>,
    }
}

fn order_from(tx: &mut dyn Sql, r: OrderRow) -> Result<Order> {
    let id = r.id;
    let cur = r.currency;
    let line_rows = tx.query("SELECT id, line_no, variant_id, sku, title, quantity, unit_price_minor, discount_minor, tax_minor, returned_quantity, refunded_quantity, exchange_return_id FROM order_lines WHERE order_id = $1 ORDER BY line_no", params![id])?;
    let res = crate::inventory::allocations_of_order(tx, id)?;
    let fulfillments = crate::fulfillment::shipments_of_order(tx, id)?;
    let mut lines = Vec::with_capacity(line_rows.len());
    for l in &line_rows {
        let l = LineRow::from_row(l)?;
        lines.push(api::OrderLine {
            id: l.id,
            line_no: l.line_no,
            variant_id: l.variant_id,
            sku: l.sku,
            title: l.title,
            quantity: l.quantity,
            unit_price: money(l.unit_price_minor, &cur),
            discount: money(l.discount_minor, &cur),
            tax: money(l.tax_minor, &cur),
            returned_quantity: l.returned_quantity,
            refunded_quantity: l.refunded_quantity,
            exchange_return_id: l.exchange_return_id,
            allocations: Vec::new(),
        });
    }
    // Each reservation to its line, in reservation order.
    for (order_line_id, a) in res {
        if let Some(line) = lines.iter_mut().find(|l| l.id == order_line_id) {
            line.allocations.push(a);
        }
    }
    let name = format!("{} {}", r.first_name, r.last_name)
        .trim()
        .to_string();
    let owed = balance::owed(
        r.status == OrderStatus::Cancelled.as_str(),
        r.total_minor,
        r.returned_minor,
        r.adjustments_minor,
    );
    Ok(Order {
        id,
        number: r.number,
        name: format!("#{}", r.number),
        channel_id: r.channel_id,
        customer: api::OrderCustomer {
            id: r.customer_id,
            email: r.email,
            name,
        },
        currency: cur.clone(),
        status: r.status,
        payment_status: r.payment_status,
        fulfillment_status: r.fulfillment_status,
        subtotal: money(r.subtotal_minor, &cur),
        discounts: money(r.discounts_minor, &cur),
        discount_applications: crate::promotions::apply::applications(tx, id, &cur)?,
        discounts_not_applied: r
            .promotion_notes
            .as_deref()
            .map(from_json)
            .unwrap_or_default(),
        shipping: money(r.shipping_minor, &cur),
        tax: money(r.tax_minor, &cur),
        total: money(r.total_minor, &cur),
        paid: money(r.paid_minor, &cur),
        refunded: money(r.refunded_minor, &cur),
        owed: money(owed, &cur),
        balance: money(balance::balance(r.paid_minor, r.refunded_minor, owed), &cur),
        origin_location_id: r.origin_location_id,
        prices_include_tax: r.tax_included != 0,
        shipping_method: r.shipping_method,
        shipping_address: from_json(&r.shipping_address),
        note: r.note,
        sourcing: api::Sourcing {
            strategy: r.sourcing_strategy,
            reason: r.sourcing_reason,
        },
        placed_at: rfc3339(r.placed_at),
        updated_at: rfc3339(r.updated_at),
        cancelled_at: opt_rfc3339(r.cancelled_at),
        cancel_reason: r.cancel_reason,
        fulfillments,
        hold: r.hold_reason.map(|reason| api::OrderHold {
            reason,
            note: r.hold_note,
            held_at: opt_rfc3339(r.held_at).unwrap_or_default(),
        }),
        ship_by: opt_rfc3339(r.ship_by),
        pickup: r.pickup_location_id.map(|location_id| api::Pickup {
            location_id,
            deadline: opt_rfc3339(r.pickup_deadline),
            picked_up_at: opt_rfc3339(r.picked_up_at),
            picked_up_by: r.picked_up_by,
        }),
        lines,
    })
}

pub fn get(tx: &mut dyn Sql, id: i64) -> Result<Order> {
    let r = query_one_as::<OrderRow>(
        tx,
        &format!("SELECT {} FROM orders o WHERE o.id = $1", *ORDER_COLS),
        params![id],
    )?
    .ok_or(Error::NotFound { entity: "order" })?;
    order_from(tx, r)
}

pub fn get_by_number(tx: &mut dyn Sql, number: i64) -> Result<Order> {
    let r = tx
        .query_one("SELECT id FROM orders WHERE number = $1", params![number])?
        .ok_or(Error::NotFound { entity: "order" })?;
    get(tx, r.get("id")?)
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    pub status: Option<String>,
    pub payment_status: Option<String>,
    pub fulfillment_status: Option<String>,
    pub channel_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// Only orders with units reserved (still to ship) at this location, or picked up there.
    pub location_id: Option<i64>,
    /// Placed at or after this time (RFC 3339 or a date).
    pub placed_from: Option<String>,
    /// Placed before this time.
    pub placed_to: Option<String>,
    /// An order number (`1001` or `#1001`), or part of the customer's email, name or phone.
    pub q: Option<String>,
    /// Only open orders not fully shipped whose ship-by time has passed.
    pub late: Option<bool>,
    /// Only open orders not fully shipped due to ship within the next 24 hours.
    pub at_risk: Option<bool>,
    /// Only orders on hold (true) or not on hold (false).
    pub on_hold: Option<bool>,
    /// By balance: `refund_due` (the store owes the customer), `to_collect` (the customer owes
    /// the store) or `settled`.
    pub balance: Option<String>,
    /// The order: `placed_at` (the default, newest first as `-placed_at`), `number` or `total`
    /// (in minor units); prefix `-` for descending. Ties go by id, the same way. A cursor holds
    /// to the sort it was given out for.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The sort keys of [`list`] and the columns they order by.
const ORDER_SORTS: [(&str, &str); 3] = [
    ("number", "o.number"),
    ("placed_at", "o.placed_at"),
    ("total", "o.total_minor"),
];

/// Orders in the order `q.sort` asks (newest first by default); `now` decides what is late or
/// at risk.
pub fn list(tx: &mut dyn Sql, q: &OrderQuery, now: i64) -> Result<Page<Order>> {
    let limit = page_limit(q.limit)?;
    // The default order's cursors carry the placed time alone, as they always have.
    let sort = q.sort.as_deref().filter(|s| *s != "-placed_at");
    let (key, desc) = parse_sort(sort.unwrap_or("-placed_at"), &ORDER_SORTS.map(|(k, _)| k))?;
    let col = ORDER_SORTS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("o.placed_at", |(_, c)| *c);
    let mut f = Filter::default();
    if let Some(s) = &q.status {
        let s = OrderStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be open, closed or cancelled"))?;
        f.add("o.status = ?", vec![s.as_str().into()]);
    }
    if let Some(s) = &q.payment_status {
        let s = PaymentStatus::parse(s)
            .ok_or_else(|| Error::invalid("payment_status", "is not a payment status"))?;
        f.add("o.payment_status = ?", vec![s.as_str().into()]);
    }
    if let Some(s) = &q.fulfillment_status {
        let s = FulfillmentStatus::parse(s)
            .ok_or_else(|| Error::invalid("fulfillment_status", "is not a fulfillment status"))?;
        f.add("o.fulfillment_status = ?", vec![s.as_str().into()]);
    }
    if let Some(v) = q.channel_id {
        f.add("o.channel_id = ?", vec![v.into()]);
    }
    if let Some(v) = q.customer_id {
        f.add("o.customer_id = ?", vec![v.into()]);
    }
    if let Some(v) = q.location_id {
        f.add(
            &format!(
                "(o.id IN ({}) OR o.pickup_location_id = ?)",
                crate::inventory::sql::ORDERS_WITH_LIVE_UNITS_AT
            ),
            vec![v.into(), v.into()],
        );
    }
    if let Some(v) = &q.placed_from {
        f.add(
            "o.placed_at >= ?",
            vec![parse_time("placed_from", v)?.into()],
        );
    }
    if let Some(v) = &q.placed_to {
        f.add("o.placed_at < ?", vec![parse_time("placed_to", v)?.into()]);
    }
    if let Some(s) = &q.q {
        let s = s.trim();
        match s.trim_start_matches('#').parse::<i64>() {
            Ok(n) => f.add("o.number = ?", vec![n.into()]),
            Err(_) => f.add(
                &format!("o.customer_id IN ({})", crate::customers::sql::MATCHING),
                crate::customers::sql::match_params(s),
            ),
        }
    }
    let pending =
        "o.status = 'open' AND o.fulfillment_status IN ('unfulfilled', 'partially_fulfilled')";
    if q.late == Some(true) {
        f.add(&format!("{pending} AND o.ship_by < ?"), vec![now.into()]);
    }
    if q.at_risk == Some(true) {
        f.add(
            &format!("{pending} AND o.ship_by >= ? AND o.ship_by < ?"),
            vec![now.into(), (now + 24 * 3_600_000_000).into()],
        );
    }
    match q.on_hold {
        Some(true) => f.add("o.hold_reason IS NOT NULL", vec![]),
        Some(false) => f.add("o.hold_reason IS NULL", vec![]),
        None => {}
    }
    if let Some(b) = &q.balance {
        // `paid - refunded - owed`, as `backroom_domain::balance` has it.
        let balance = "(o.paid_minor - o.refunded_minor - CASE WHEN o.status = 'cancelled' THEN 0 \
                       ELSE o.total_minor - o.returned_minor - o.adjustments_minor END)";
        let op = match b.as_str() {
            "refund_due" => ">",
            "to_collect" => "<",
            "settled" => "=",
            _ => {
                return Err(Error::invalid(
                    "balance",
                    "must be refund_due, to_collect or settled",
                ));
            }
        };
        f.add(&format!("{balance} {op} 0"), vec![]);
    }
    let op = if desc { "<" } else { ">" };
    if let Some(c) = &q.cursor {
        let (v, id) = decode_sorted_cursor(c, sort)?;
        let at: i64 = v
            .parse()
            .map_err(|_| Error::invalid("cursor", "is not a cursor this list gave out"))?;
        f.add(
            &format!("({col} {op} ? OR ({col} = ? AND o.id {op} ?))"),
            vec![at.into(), at.into(), id.into()],
        );
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let lim = f.push((limit + 1).into());
    let rows = tx.query(
        &format!(
            "SELECT {} FROM orders o{} ORDER BY {col} {dir}, o.id {dir} LIMIT {lim}",
            *ORDER_COLS,
            f.where_sql()
        ),
        &f.params,
    )?;
    let mut items = Vec::with_capacity(rows.len());
    // The raw sort value of each row, for the cursor.
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        let r = OrderRow::from_row(r)?;
        let v = match key {
            "number" => r.number,
            "total" => r.total_minor,
            _ => r.placed_at,
        };
        keys.push((r.id, v));
        items.push(order_from(tx, r)?);
    }
    Ok(page(&mut items, limit, |o| {
        let v = keys
            .iter()
            .find(|(id, _)| *id == o.id)
            .map_or(0, |(_, v)| *v);
        sorted_cursor(sort, &v.to_string(), o.id)
    }))
}

/// An order row, locked for the rest of the transaction: what the state-changing services decide on.
pub(crate) struct LockedOrder {
    pub status: OrderStatus,
    pub payment: PaymentStatus,
    pub fulfillment: FulfillmentStatus,
    pub total: i64,
    pub paid: i64,
    pub refunded: i64,
    pub number: i64,
    pub currency: String,
    pub hold_reason: Option<String>,
    pub pickup_location: Option<i64>,
    /// The channel's pickup hold, in hours.
    pub pickup_hold_hours: i64,
    pub returned: i64,
    pub adjustments: i64,
    pub shipping: i64,
    pub shipping_refunded: bool,
    /// The prices (and shipping price) hold the tax rather than having it added on top.
    pub tax_included: bool,
}

impl LockedOrder {
    /// What the customer owes for what they keep (see `backroom_domain::balance`).
    pub fn owed(&self) -> i64 {
        balance::owed(
            self.status == OrderStatus::Cancelled,
            self.total,
            self.returned,
            self.adjustments,
        )
    }

    /// `paid - refunded - owed`: positive when the store owes the customer.
    pub fn balance(&self) -> i64 {
        balance::balance(self.paid, self.refunded, self.owed())
    }
}

pub(crate) fn lock_order(tx: &mut dyn Sql, id: i64) -> Result<LockedOrder> {
    let sql = format!(
        "SELECT o.status, o.payment_status, o.fulfillment_status, o.total_minor, o.paid_minor, o.refunded_minor, o.number, o.currency, \
         o.hold_reason, o.pickup_location_id, {} AS pickup_hold_hours, \
         o.returned_minor, o.adjustments_minor, o.shipping_minor, o.shipping_refunded, o.tax_included FROM orders o WHERE o.id = $1{}",
        crate::catalog::sql::pickup_hold_hours_of("o.channel_id"),
        tx.for_update()
    );
    query_one_as::<LockedOrder>(tx, &sql, params![id])?.ok_or(Error::NotFound { entity: "order" })
}

/// Decodes [`lock_order`]'s row.
impl FromRow for LockedOrder {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(LockedOrder {
            status: OrderStatus::parse(&r.get::<String>("status")?).unwrap_or(OrderStatus::Open),
            payment: PaymentStatus::parse(&r.get::<String>("payment_status")?)
                .unwrap_or(PaymentStatus::Pending),
            fulfillment: FulfillmentStatus::parse(&r.get::<String>("fulfillment_status")?)
                .unwrap_or(FulfillmentStatus::Unfulfilled),
            total: r.get("total_minor")?,
            paid: r.get("paid_minor")?,
            refunded: r.get("refunded_minor")?,
            number: r.get("number")?,
            currency: r.get("currency")?,
            hold_reason: r.get("hold_reason")?,
            pickup_location: r.get("pickup_location_id")?,
            pickup_hold_hours: r.get("pickup_hold_hours")?,
            returned: r.get("returned_minor")?,
            adjustments: r.get("adjustments_minor")?,
            shipping: r.get("shipping_minor")?,
            shipping_refunded: r.get("shipping_refunded")?,
            tax_included: r.get::<i64>("tax_included")? != 0,
        })
    }
}

/// Cancels an unfulfilled order and releases every open reservation in the same transaction.
pub fn cancel(tx: &mut dyn Sql, ctx: &Ctx, id: i64, c: &api::CancelOrder) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let reason = optional_text("reason", c.reason.as_deref(), 1000)?;
    let LockedOrder {
        status,
        payment,
        fulfillment,
        number,
        ..
    } = lock_order(tx, id)?;
    let new_payment = states::cancel(status, payment, fulfillment)
        .map_err(|e| Error::conflict("cannot_cancel", e.0))?;
    let (released, levels) = release_order(tx, ctx.now, id, "cancelled")?;
    crate::promotions::apply::release(tx, id, ctx.now)?;
    crate::inventory::note_low(tx, ctx, &levels)?;
    tx.exec_deferred(
        "UPDATE orders SET status = $1, payment_status = $2, cancelled_at = $3, cancel_reason = $4, updated_at = $3 WHERE id = $5",
        params![OrderStatus::Cancelled.as_str(), new_payment.as_str(), ctx.now, reason.clone(), id],
    )?;
    let msg = format!(
        "Order #{number} cancelled{}; {released} reserved units released",
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    event(tx, ctx, id, "cancelled", &msg)?;
    audit::record(
        tx,
        ctx,
        "order.cancelled",
        "order",
        id,
        json!({"status": {"from": status.as_str(), "to": "cancelled"}, "payment_status": {"from": payment.as_str(), "to": new_payment.as_str()}, "released_units": released, "reason": reason}),
    )?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.cancelled",
        json!({"order_id": id, "number": number}),
    )?;
    get(tx, id)
}

/// Records a payment event from the gateway: authorized, paid (captured) or voided.
pub fn record_payment(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    p: &api::RecordPayment,
) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let to = PaymentStatus::parse(&p.status)
        .filter(|s| {
            matches!(
                s,
                PaymentStatus::Authorized | PaymentStatus::Paid | PaymentStatus::Voided
            )
        })
        .ok_or_else(|| Error::invalid("status", "must be authorized, paid or voided"))?;
    let reference = optional_text("reference", p.reference.as_deref(), 255)?;
    let locked = lock_order(tx, id)?;
    if to == PaymentStatus::Paid
        && matches!(
            locked.payment,
            PaymentStatus::Paid | PaymentStatus::PartiallyRefunded
        )
        && locked.status != OrderStatus::Cancelled
    {
        return capture_balance(tx, ctx, id, &locked, p.amount, reference);
    }
    let LockedOrder {
        status,
        payment: from,
        fulfillment,
        total,
        paid,
        number,
        currency: cur,
        ..
    } = locked;
    if let Some(a) = p.amount
        && a != total
    {
        return Err(Error::Conflict {
            code: "amount_mismatch",
            message: format!(
                "the amount must equal the order total ({total}); partial payments are not supported yet"
            ),
            field: Some("amount".into()),
        });
    }
    let new = states::record_payment(status, from, to)
        .map_err(|e| Error::conflict("invalid_payment_transition", e.0))?;
    let (kind, amount, new_paid) = match new {
        PaymentStatus::Authorized => ("authorization", total, paid),
        PaymentStatus::Paid => ("capture", total, total),
        _ => ("void", 0, paid),
    };
    tx.exec_deferred(
        "INSERT INTO payments (order_id, kind, amount_minor, currency, reference, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![id, kind, amount, cur.as_str(), reference, ctx.actor.name.as_str(), ctx.now],
    )?;
    // Paid and fully shipped: nothing is left to do.
    let new_status = if new == PaymentStatus::Paid && fulfillment == FulfillmentStatus::Fulfilled {
        OrderStatus::Closed
    } else {
        status
    };
    tx.exec_deferred(
        "UPDATE orders SET payment_status = $1, paid_minor = $2, status = $3, updated_at = $4 WHERE id = $5",
        params![new.as_str(), new_paid, new_status.as_str(), ctx.now, id],
    )?;
    event(
        tx,
        ctx,
        id,
        &format!("payment_{}", new.as_str()),
        &format!("Payment {} for order #{number}", new.as_str()),
    )?;
    audit::record(
        tx,
        ctx,
        "order.payment_recorded",
        "order",
        id,
        json!({"payment_status": {"from": from.as_str(), "to": new.as_str()}, "amount": amount}),
    )?;
    if new == PaymentStatus::Paid {
        crate::webhooks::emit(
            tx,
            ctx.now,
            "order.paid",
            json!({"order_id": id, "number": number, "amount": amount}),
        )?;
    }
    get(tx, id)
}

/// Captures what a paid order's customer owes after an edit or exchange added value.
fn capture_balance(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    o: &LockedOrder,
    amount: Option<i64>,
    reference: Option<String>,
) -> Result<Order> {
    let due = -o.balance();
    if due <= 0 {
        return Err(Error::conflict(
            "nothing_due",
            format!("order #{} is paid and the customer owes nothing", o.number),
        ));
    }
    let amount = amount.unwrap_or(due);
    if amount <= 0 || amount > due {
        return Err(Error::Conflict {
            code: "amount_mismatch",
            message: format!("the customer owes {due}; capture between 1 and {due}"),
            field: Some("amount".into()),
        });
    }
    tx.exec_deferred(
        "INSERT INTO payments (order_id, kind, amount_minor, currency, reference, actor, created_at) VALUES ($1, 'capture', $2, $3, $4, $5, $6)",
        params![id, amount, o.currency.as_str(), reference, ctx.actor.name.as_str(), ctx.now],
    )?;
    tx.exec_deferred(
        "UPDATE orders SET paid_minor = paid_minor + $1, updated_at = $2 WHERE id = $3",
        params![amount, ctx.now, id],
    )?;
    let cur = backroom_domain::Currency::parse(&o.currency)?;
    event(
        tx,
        ctx,
        id,
        "payment_captured",
        &format!(
            "{} captured on order #{} (balance due)",
            backroom_domain::Money::new(amount, cur),
            o.number
        ),
    )?;
    audit::record(
        tx,
        ctx,
        "order.payment_recorded",
        "order",
        id,
        json!({"capture": amount, "due_before": due}),
    )?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.paid",
        json!({"order_id": id, "number": o.number, "amount": amount}),
    )?;
    get(tx, id)
}

/// Adds a staff note to an order's timeline.
pub fn add_note(tx: &mut dyn Sql, ctx: &Ctx, id: i64, n: &api::OrderNote) -> Result<OrderEvent> {
    // Whoever works on orders may annotate them: support and operations, and the warehouse.
    ctx.actor
        .require(Permission::OrdersFulfil)
        .or_else(|_| ctx.actor.require(Permission::OrdersManage))?;
    let message = required_text("message", &n.message, 5000)?;
    get(tx, id)?;
    let r = tx
        .query_one(
            "INSERT INTO order_events (order_id, kind, message, actor, created_at) VALUES ($1, 'note', $2, $3, $4) RETURNING id",
            params![id, message.as_str(), ctx.actor.name.as_str(), ctx.now],
        )?
        .ok_or(Error::NotFound { entity: "order" })?;
    audit::record(
        tx,
        ctx,
        "order.note_added",
        "order",
        id,
        json!({"message": message}),
    )?;
    Ok(OrderEvent {
        id: r.get("id")?,
        kind: "note".into(),
        message,
        actor: ctx.actor.name.clone(),
        created_at: rfc3339(ctx.now),
    })
}

pub fn timeline(tx: &mut dyn Sql, id: i64) -> Result<Vec<OrderEvent>> {
    get(tx, id)?;
    let rows = tx.query("SELECT id, kind, message, actor, created_at FROM order_events WHERE order_id = $1 ORDER BY id", params![id])?;
    rows.iter()
        .map(|r| {
            let r = EventRow::from_row(r)?;
            Ok(OrderEvent {
                id: r.id,
                kind: r.kind,
                message: r.message,
                actor: r.actor,
                created_at: rfc3339(r.created_at),
            })
        })
        .collect()
}

crate::row! {
    /// A timeline event as stored.
    struct EventRow {
        id: i64,
        kind: String,
        message: String,
        actor: String,
        created_at: i64,
    }
}

/// [`line_progress`]'s query (built once: shipping runs it for every shipment).
static LINE_PROGRESS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT l.quantity, {} AS shipped, l.returned_quantity FROM order_lines l WHERE l.order_id = $1",
        crate::fulfillment::sql::shipped_of_line("l.id")
    )
});

/// [`line_quantities`]' query.
static LINE_QUANTITIES_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT l.id, {} AS shipped, l.refunded_quantity, l.returned_quantity FROM order_lines l WHERE l.order_id = $1 ORDER BY l.line_no",
        crate::fulfillment::sql::shipped_of_line("l.id")
    )
});

/// Each line of an order as (quantity, shipped, returned): what its fulfillment status is
/// worked out from ([`states::fulfillment_status_with_returns`]).
pub(crate) fn line_progress(tx: &mut dyn Sql, order_id: i64) -> Result<Vec<(i64, i64, i64)>> {
    Ok(tx
        .query(&LINE_PROGRESS_SQL, params![order_id])?
        .iter()
        .map(|r| {
            Ok((
                r.get("quantity")?,
                r.get("shipped")?,
                r.get("returned_quantity")?,
            ))
        })
        .collect::<std::result::Result<_, DbError>>()?)
}

/// What a return may take back of an order's line: its units shipped, refunded by line and
/// returned so far.
pub struct LineQuantities {
    pub id: i64,
    pub shipped: i64,
    pub refunded: i64,
    pub returned: i64,
}

/// [`LineQuantities`] of every line of an order, in line order.
pub(crate) fn line_quantities(tx: &mut dyn Sql, order_id: i64) -> Result<Vec<LineQuantities>> {
    Ok(tx
        .query(&LINE_QUANTITIES_SQL, params![order_id])?
        .iter()
        .map(|r| {
            Ok(LineQuantities {
                id: r.get("id")?,
                shipped: r.get("shipped")?,
                refunded: r.get("refunded_quantity")?,
                returned: r.get("returned_quantity")?,
            })
        })
        .collect::<std::result::Result<_, DbError>>()?)
}

/// An order's line as a return values it: what was paid for it ([`balance::line_value`]:
/// after discounts, with tax when the store's prices exclude it).
pub struct LineValue {
    pub id: i64,
    pub sku: String,
    pub quantity: i64,
    pub value: i64,
    /// The return this line was added by, when it is an exchange's new line.
    pub exchange_return_id: Option<i64>,
}

/// An order's currency and the [`LineValue`] of each of its lines, in one read.
pub(crate) fn line_values(tx: &mut dyn Sql, order_id: i64) -> Result<(String, Vec<LineValue>)> {
    let rows = tx.query(
        "SELECT o.currency, o.tax_included, l.id, l.sku, l.quantity, l.unit_price_minor, l.discount_minor, l.tax_minor, l.exchange_return_id \
         FROM orders o LEFT JOIN order_lines l ON l.order_id = o.id WHERE o.id = $1 ORDER BY l.id",
        params![order_id],
    )?;
    let currency = match rows.first() {
        Some(r) => r.get::<String>("currency")?,
        None => return Err(Error::NotFound { entity: "order" }),
    };
    let mut lines = Vec::with_capacity(rows.len());
    for r in &rows {
        let Some(id) = r.get::<Option<i64>>("id")? else {
            continue;
        };
        let quantity: i64 = r.get("quantity")?;
        lines.push(LineValue {
            id,
            sku: r.get("sku")?,
            quantity,
            value: backroom_domain::balance::line_value(
                r.get("unit_price_minor")?,
                quantity,
                r.get("discount_minor")?,
                r.get("tax_minor")?,
                r.get::<i64>("tax_included")? != 0,
            ),
            exchange_return_id: r.get("exchange_return_id")?,
        });
    }
    Ok((currency, lines))
}

/// Sets an order's fulfillment status, and its status when `status` is given (queued).
pub(crate) fn set_fulfillment(
    tx: &mut dyn Sql,
    now: i64,
    order_id: i64,
    fulfillment: FulfillmentStatus,
    status: Option<OrderStatus>,
) -> Result<()> {
    match status {
        Some(s) => tx.exec_deferred(
            "UPDATE orders SET fulfillment_status = $1, status = $2, updated_at = $3 WHERE id = $4",
            params![fulfillment.as_str(), s.as_str(), now, order_id],
        )?,
        None => tx.exec_deferred(
            "UPDATE orders SET fulfillment_status = $1, updated_at = $2 WHERE id = $3",
            params![fulfillment.as_str(), now, order_id],
        )?,
    }
    Ok(())
}

/// Puts the order on hold (`reason`, `note`), or takes it off (`None`).
pub(crate) fn set_hold(
    tx: &mut dyn Sql,
    now: i64,
    order_id: i64,
    hold: Option<(&str, Option<&str>)>,
) -> Result<()> {
    match hold {
        Some((reason, note)) => tx.exec(
            "UPDATE orders SET hold_reason = $1, hold_note = $2, held_at = $3, updated_at = $3 WHERE id = $4",
            params![reason, note, now, order_id],
        )?,
        None => tx.exec(
            "UPDATE orders SET hold_reason = NULL, hold_note = NULL, held_at = NULL, updated_at = $1 WHERE id = $2",
            params![now, order_id],
        )?,
    };
    Ok(())
}

/// The order waits at its pickup location until `deadline`.
pub(crate) fn set_ready_for_pickup(
    tx: &mut dyn Sql,
    now: i64,
    order_id: i64,
    deadline: i64,
) -> Result<()> {
    tx.exec(
        "UPDATE orders SET fulfillment_status = $1, pickup_deadline = $2, updated_at = $3 WHERE id = $4",
        params![FulfillmentStatus::ReadyForPickup.as_str(), deadline, now, order_id],
    )?;
    Ok(())
}

/// The customer collected the order, handed over by `by`.
pub(crate) fn set_picked_up(tx: &mut dyn Sql, now: i64, order_id: i64, by: &str) -> Result<()> {
    tx.exec(
        "UPDATE orders SET fulfillment_status = $1, picked_up_at = $2, picked_up_by = $3, updated_at = $2 WHERE id = $4",
        params![FulfillmentStatus::PickedUp.as_str(), now, by, order_id],
    )?;
    Ok(())
}

/// A pickup not collected goes back to unfulfilled before it is cancelled (so cancelling
/// releases its stock as for any unshipped order); its time is the cancellation's.
pub(crate) fn reset_uncollected(tx: &mut dyn Sql, order_id: i64) -> Result<()> {
    tx.exec(
        "UPDATE orders SET fulfillment_status = 'unfulfilled' WHERE id = $1",
        params![order_id],
    )?;
    Ok(())
}

/// Open pickup orders whose deadline passed before `now`, at most 500, oldest id first.
pub(crate) fn uncollected_pickups(tx: &mut dyn Sql, now: i64) -> Result<Vec<i64>> {
    tx.query(
        "SELECT id FROM orders WHERE fulfillment_status = 'ready_for_pickup' AND status = 'open' AND pickup_deadline < $1 ORDER BY id LIMIT 500",
        params![now],
    )?
    .iter()
    .map(|r| Ok(r.get("id")?))
    .collect()
}

/// Records the variant's current unit cost on the lines of `order_ids` that have none (lines
/// sold before their variant had a cost); the margin reports read it.
pub(crate) fn fill_unit_costs(tx: &mut dyn Sql, order_ids: &[i64]) -> Result<()> {
    if crate::catalog::any_unit_cost(tx)? {
        let ids: Vec<crate::Val> = order_ids.iter().map(|i| crate::Val::from(*i)).collect();
        crate::db::exec_in(
            tx,
            &format!(
                "UPDATE order_lines SET unit_cost_minor = {} WHERE unit_cost_minor IS NULL AND {{}}",
                crate::catalog::sql::unit_cost_of("order_lines.variant_id")
            ),
            "order_id",
            &ids,
        )?;
    }
    Ok(())
}

/// Counts units received back on their lines (`(line id, units)`) and lowers what the customer
/// owes by their value; returns the amount credited. A return never includes units refunded by
/// line and kept, so no unit is credited twice.
pub(crate) fn credit_returned_units(
    tx: &mut dyn Sql,
    order_id: i64,
    units: &[(i64, i64)],
) -> Result<i64> {
    let mut credited = 0;
    for (line, q) in units {
        let l = tx
            .query_one(
                "SELECT l.unit_price_minor, l.quantity, l.discount_minor, l.tax_minor, l.returned_quantity, o.tax_included FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.id = $1",
                params![*line],
            )?
            .ok_or(Error::NotFound { entity: "order line" })?;
        let quantity: i64 = l.get("quantity")?;
        let value = balance::line_value(
            l.get("unit_price_minor")?,
            quantity,
            l.get("discount_minor")?,
            l.get("tax_minor")?,
            l.get::<i64>("tax_included")? != 0,
        );
        credited += balance::next_units_value(value, quantity, l.get("returned_quantity")?, *q);
        tx.exec(
            "UPDATE order_lines SET returned_quantity = returned_quantity + $1 WHERE id = $2",
            params![*q, *line],
        )?;
    }
    // Never more than the customer still owes: a concession already given counts.
    let o = tx
        .query_one(
            "SELECT total_minor, returned_minor, adjustments_minor FROM orders WHERE id = $1",
            params![order_id],
        )?
        .ok_or(Error::NotFound { entity: "order" })?;
    let owed = balance::owed(
        false,
        o.get("total_minor")?,
        o.get("returned_minor")?,
        o.get("adjustments_minor")?,
    );
    let credited = balance::return_credit(credited, owed);
    tx.exec(
        "UPDATE orders SET returned_minor = returned_minor + $1 WHERE id = $2",
        params![credited, order_id],
    )?;
    Ok(credited)
}

/// The variant an order line sells, when the line exists.
pub(crate) fn line_variant(tx: &mut dyn Sql, line_id: i64) -> Result<Option<i64>> {
    Ok(tx
        .query_one(
            "SELECT variant_id FROM order_lines WHERE id = $1",
            params![line_id],
        )?
        .map(|r| r.get::<i64>("variant_id"))
        .transpose()?)
}
