//! Returns (RMAs): a customer sends back shipped units with a reason per line; the warehouse
//! receives and inspects them, and each unit is restocked (ledger `return_restock`), kept on hand
//! as unavailable, or written off. The order's fulfillment status follows.
//! `history.rs`: the importer's bulk writes of historical returns.

pub mod history;

use crate::api::{NewReturn, ReceiveReturn, Return, ReturnLine};
use crate::db::{DbError, Sql};
use crate::inventory::{Reference, apply, ensure_level, lock_level};
use crate::orders::{event, lock_order};
use crate::util::{opt_rfc3339, rfc3339};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::Quantity;
use backroom_domain::balance;
use backroom_domain::order::{LedgerReason, OrderStatus};
use backroom_domain::roles::Permission;
use backroom_domain::values::optional_text;
use serde_json::json;

/// Why a unit may come back.
pub const REASONS: [&str; 8] = [
    "damaged",
    "defective",
    "wrong_size",
    "wrong_item",
    "not_as_described",
    "changed_mind",
    "late",
    "other",
];

pub fn get_return(tx: &mut dyn Sql, id: i64) -> Result<Return> {
    let r = tx
        .query_one("SELECT r.id, r.order_id, r.status, r.label_carrier, r.label_tracking, r.note, r.created_by, r.created_at, r.received_at, r.exchange, o.currency FROM returns r JOIN orders o ON o.id = r.order_id WHERE r.id = $1", params![id])?
        .ok_or(Error::NotFound { entity: "return" })?;
    let lines = tx.query(
        "SELECT rl.order_line_id, l.sku, rl.quantity, rl.reason, rl.received_quantity, rl.restocked, rl.unavailable, rl.written_off, \
         l.unit_price_minor, l.quantity AS line_quantity, l.discount_minor, l.tax_minor, o.tax_included \
         FROM return_lines rl JOIN order_lines l ON l.id = rl.order_line_id JOIN orders o ON o.id = l.order_id WHERE rl.return_id = $1 ORDER BY rl.id",
        params![id],
    )?;
    // The exchange's lines, found among its order's (by the order index, not a scan of every line).
    let added = tx.query(
        "SELECT l.id, l.unit_price_minor, l.quantity, l.discount_minor, l.tax_minor, o.tax_included FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.order_id = $2 AND l.exchange_return_id = $1 ORDER BY l.id",
        params![id, r.get::<i64>("order_id")?],
    )?;
    let returned_value: i64 = lines
        .iter()
        .map(|l| {
            let line_quantity: i64 = l.get("line_quantity")?;
            let value = balance::line_value(
                l.get("unit_price_minor")?,
                line_quantity,
                l.get("discount_minor")?,
                l.get("tax_minor")?,
                l.get::<i64>("tax_included")? != 0,
            );
            Ok(balance::units_value(
                value,
                line_quantity,
                l.get("quantity")?,
            ))
        })
        .sum::<std::result::Result<i64, DbError>>()?;
    let added_value: i64 = added
        .iter()
        .map(|l| {
            Ok(balance::line_value(
                l.get("unit_price_minor")?,
                l.get("quantity")?,
                l.get("discount_minor")?,
                l.get("tax_minor")?,
                l.get::<i64>("tax_included")? != 0,
            ))
        })
        .sum::<std::result::Result<i64, DbError>>()?;
    let exchange: bool = r.get("exchange")?;
    Ok(Return {
        exchange,
        exchange_line_ids: added
            .iter()
            .map(|l| l.get("id"))
            .collect::<std::result::Result<_, DbError>>()?,
        price_difference: crate::api::Money {
            amount: if exchange {
                added_value - returned_value
            } else {
                -returned_value
            },
            currency: r.get("currency")?,
        },
        id: r.get("id")?,
        order_id: r.get("order_id")?,
        status: r.get("status")?,
        label_carrier: r.get("label_carrier")?,
        label_tracking: r.get("label_tracking")?,
        note: r.get("note")?,
        created_by: r.get("created_by")?,
        created_at: rfc3339(r.get("created_at")?),
        received_at: opt_rfc3339(r.get("received_at")?),
        lines: lines
            .iter()
            .map(|l| {
                Ok(ReturnLine {
                    order_line_id: l.get("order_line_id")?,
                    sku: l.get("sku")?,
                    quantity: l.get("quantity")?,
                    reason: l.get("reason")?,
                    received_quantity: l.get("received_quantity")?,
                    restocked: l.get("restocked")?,
                    unavailable: l.get("unavailable")?,
                    written_off: l.get("written_off")?,
                })
            })
            .collect::<std::result::Result<_, DbError>>()?,
    })
}

/// Which returns [`list`] gives: newest first, by status, still to inspect, or of one order.
#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReturnQuery {
    /// `requested`, `partially_received`, `received` or `cancelled`.
    pub status: Option<String>,
    /// Only returns with units still to arrive and be inspected (requested or partially
    /// received), as the work queue counts them; `false` for the others.
    pub to_inspect: Option<bool>,
    pub order_id: Option<i64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The statuses of a return with units still to arrive and be inspected.
pub const TO_INSPECT: &str = "('requested', 'partially_received')";

/// Returns, newest first, paged like every list.
pub fn list(tx: &mut dyn Sql, q: &ReturnQuery) -> Result<crate::api::Page<Return>> {
    let mut f = crate::util::Filter::default();
    if let Some(s) = &q.status {
        if !["requested", "partially_received", "received", "cancelled"].contains(&s.as_str()) {
            return Err(Error::invalid(
                "status",
                "must be requested, partially_received, received or cancelled",
            ));
        }
        f.add("status = ?", vec![s.as_str().into()]);
    }
    match q.to_inspect {
        Some(true) => f.add(&format!("status IN {TO_INSPECT}"), vec![]),
        Some(false) => f.add(&format!("status NOT IN {TO_INSPECT}"), vec![]),
        None => {}
    }
    if let Some(o) = q.order_id {
        f.add("order_id = ?", vec![o.into()]);
    }
    let page = crate::api::PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    crate::util::page_by_id(
        tx,
        "returns",
        f,
        &page,
        crate::util::Keyset::IdDesc,
        get_return,
    )
}

pub fn list_for_order(tx: &mut dyn Sql, order_id: i64) -> Result<Vec<Return>> {
    let ids: Vec<i64> = tx
        .query(
            "SELECT id FROM returns WHERE order_id = $1 ORDER BY id",
            params![order_id],
        )?
        .iter()
        .map(|r| r.get("id"))
        .collect::<std::result::Result<_, DbError>>()?;
    ids.into_iter().map(|id| get_return(tx, id)).collect()
}

/// Opens a return for shipped units: never more of a line than shipped less already returned.
pub fn create(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64, n: &NewReturn) -> Result<Return> {
    ctx.actor.require(Permission::OrdersManage)?;
    let locked = lock_order(tx, order_id)?;
    let number = locked.number;
    let exchange_lines = n.exchange_lines.as_deref().unwrap_or_default();
    if n.exchange_lines.is_some() && exchange_lines.is_empty() {
        return Err(Error::invalid(
            "exchange_lines",
            "an exchange sends at least one new line",
        ));
    }
    if n.lines.is_empty() {
        return Err(Error::invalid("lines", "a return needs at least one line"));
    }
    let mut seen = Vec::new();
    for (i, l) in n.lines.iter().enumerate() {
        Quantity::parse(l.quantity).map_err(|e| e.under(&format!("lines[{i}]")))?;
        if !REASONS.contains(&l.reason.as_str()) {
            return Err(Error::invalid(
                format!("lines[{i}].reason"),
                format!("must be one of {}", REASONS.join(", ")),
            ));
        }
        if seen.contains(&l.line_id) {
            return Err(Error::invalid(
                format!("lines[{i}].line_id"),
                "listed twice",
            ));
        }
        seen.push(l.line_id);
        let r = tx
            .query_one(
                "SELECT CAST(COALESCE((SELECT SUM(fl.quantity) FROM fulfillment_lines fl WHERE fl.order_line_id = l.id), 0) AS BIGINT) AS shipped, \
                 CAST(COALESCE((SELECT SUM(rl.quantity) FROM return_lines rl JOIN returns rt ON rt.id = rl.return_id WHERE rl.order_line_id = l.id AND rt.status <> 'cancelled'), 0) AS BIGINT) AS on_returns, \
                 l.refunded_quantity, l.returned_quantity \
                 FROM order_lines l WHERE l.id = $1 AND l.order_id = $2",
                params![l.line_id, order_id],
            )?
            .ok_or_else(|| Error::invalid(format!("lines[{i}].line_id"), format!("order #{number} has no line {}", l.line_id)))?;
        // Units refunded by line and kept by the customer cannot come back for a credit again.
        let refunded_kept =
            (r.get::<i64>("refunded_quantity")? - r.get::<i64>("returned_quantity")?).max(0);
        let returnable = r.get::<i64>("shipped")? - r.get::<i64>("on_returns")? - refunded_kept;
        if l.quantity > returnable {
            return Err(Error::Conflict {
                code: "not_returnable",
                message: format!(
                    "line {} has {returnable} units that were shipped and neither returned nor refunded",
                    l.line_id
                ),
                field: Some(format!("lines[{i}].quantity")),
            });
        }
    }
    let note = optional_text("note", n.note.as_deref(), 1000)?;
    let row = tx.query_one(
        "INSERT INTO returns (order_id, status, label_carrier, label_tracking, note, created_by, created_at, exchange) VALUES ($1, 'requested', $2, $3, $4, $5, $6, $7) RETURNING id",
        params![order_id, optional_text("label_carrier", n.label_carrier.as_deref(), 100)?, optional_text("label_tracking", n.label_tracking.as_deref(), 100)?, note, ctx.actor.name.as_str(), ctx.now, !exchange_lines.is_empty()],
    )?;
    let id = row
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    // An exchange: the new lines join the order now, sourced and reserved; the balance shows the
    // price difference once the returned units are received.
    if !exchange_lines.is_empty() {
        if locked.status == OrderStatus::Cancelled {
            return Err(Error::conflict("cannot_exchange", "the order is cancelled"));
        }
        let changed = crate::orders::edits::change_lines(
            tx,
            ctx,
            order_id,
            &locked,
            crate::orders::edits::LineChanges {
                adds: exchange_lines,
                changes: &[],
                add_field: "exchange_lines",
                exchange_return_id: Some(id),
            },
        )?;
        event(
            tx,
            ctx,
            order_id,
            "exchange",
            &format!(
                "Exchange on return {id}: {} new lines; total {} to {}",
                changed.added_line_ids.len(),
                crate::orders::edits::money(changed.total_before, &locked.currency),
                crate::orders::edits::money(changed.total_after, &locked.currency)
            ),
        )?;
    }
    for l in &n.lines {
        tx.exec_deferred("INSERT INTO return_lines (return_id, order_line_id, quantity, reason) VALUES ($1, $2, $3, $4)", params![id, l.line_id, l.quantity, l.reason.as_str()])?;
    }
    let units: i64 = n.lines.iter().map(|l| l.quantity).sum();
    event(
        tx,
        ctx,
        order_id,
        "return_requested",
        &format!("Return {id} opened for {units} units"),
    )?;
    audit::record(
        tx,
        ctx,
        "return.created",
        "return",
        id,
        json!({"order_id": order_id, "lines": n.lines}),
    )?;
    get_return(tx, id)
}

/// A received line: (order line, units, disposition, the location its units go back to).
type Move = (i64, i64, String, Option<i64>);

/// A receipt's lines checked against the return: (line, units, disposition, location), each
/// within the units still expected, restocked units with a location that exists.
fn moves_of(tx: &mut dyn Sql, rcv: &ReceiveReturn, current: &Return) -> Result<Vec<Move>> {
    let mut moves: Vec<(i64, i64, String, Option<i64>)> = Vec::new();
    for (i, l) in rcv.lines.iter().enumerate() {
        let q = Quantity::parse(l.quantity)
            .map_err(|e| e.under(&format!("lines[{i}]")))?
            .get();
        let line = current
            .lines
            .iter()
            .find(|x| x.order_line_id == l.line_id)
            .ok_or_else(|| {
                Error::invalid(
                    format!("lines[{i}].line_id"),
                    format!("line {} is not on this return", l.line_id),
                )
            })?;
        let outstanding = line.quantity
            - line.received_quantity
            - moves
                .iter()
                .filter(|(id, ..)| *id == l.line_id)
                .map(|(_, q, ..)| *q)
                .sum::<i64>();
        if q > outstanding {
            return Err(Error::invalid(
                format!("lines[{i}].quantity"),
                format!(
                    "only {outstanding} units of line {} are expected",
                    l.line_id
                ),
            ));
        }
        let loc = match (l.disposition.as_str(), l.location_id) {
            ("restock" | "unavailable", Some(loc)) => {
                crate::catalog::get_location(tx, loc).map_err(|_| {
                    Error::invalid(
                        format!("lines[{i}].location_id"),
                        format!("no location has id {loc}"),
                    )
                })?;
                Some(loc)
            }
            ("restock" | "unavailable", None) => {
                return Err(Error::invalid(
                    format!("lines[{i}].location_id"),
                    "say where the units go back",
                ));
            }
            ("write_off", _) => None,
            _ => {
                return Err(Error::invalid(
                    format!("lines[{i}].disposition"),
                    "must be restock, unavailable or write_off",
                ));
            }
        };
        moves.push((l.line_id, q, l.disposition.clone(), loc));
    }
    Ok(moves)
}

/// Receives and inspects returned units, line by line, with a disposition each.
pub fn receive(tx: &mut dyn Sql, ctx: &Ctx, return_id: i64, rcv: &ReceiveReturn) -> Result<Return> {
    ctx.actor.require(Permission::OrdersFulfil)?;
    let sql = format!(
        "SELECT order_id, status FROM returns WHERE id = $1{}",
        tx.for_update()
    );
    let r = tx
        .query_one(&sql, params![return_id])?
        .ok_or(Error::NotFound { entity: "return" })?;
    let order_id: i64 = r.get("order_id")?;
    let status: String = r.get("status")?;
    if !matches!(status.as_str(), "requested" | "partially_received") {
        return Err(Error::conflict(
            "return_closed",
            format!("the return is {status}"),
        ));
    }
    lock_order(tx, order_id)?;
    if rcv.lines.is_empty() {
        return Err(Error::invalid("lines", "receive at least one line"));
    }
    let current = get_return(tx, return_id)?;
    let moves = moves_of(tx, rcv, &current)?;
    // Stock moves in (variant, location) order.
    let mut stock: Vec<(i64, i64, i64, i64, bool)> = Vec::new(); // (variant, location, line, qty, unavailable)
    for (line, q, disposition, loc) in &moves {
        if let Some(loc) = loc {
            // A line that is not there keeps the old variant 0.
            let variant = crate::orders::line_variant(tx, *line)?.unwrap_or(0);
            stock.push((variant, *loc, *line, *q, disposition == "unavailable"));
        }
    }
    stock.sort_unstable();
    for (variant, loc, _, q, unavailable) in &stock {
        ensure_level(tx, *variant, *loc, ctx.now)?;
        lock_level(tx, *variant, *loc)?;
        apply(
            tx,
            ctx,
            *variant,
            *loc,
            *q,
            if *unavailable { *q } else { 0 },
            LedgerReason::ReturnRestock,
            Reference {
                kind: "return",
                id: Some(return_id),
            },
            None,
        )?;
    }
    let levels: Vec<(i64, i64)> = stock.iter().map(|(v, l, ..)| (*v, *l)).collect();
    crate::inventory::note_low(tx, ctx, &levels)?;
    for (line, q, disposition, _) in &moves {
        let col = match disposition.as_str() {
            "restock" => "restocked",
            "unavailable" => "unavailable",
            _ => "written_off",
        };
        tx.exec(
            &format!("UPDATE return_lines SET received_quantity = received_quantity + $1, {col} = {col} + $1 WHERE return_id = $2 AND order_line_id = $3"),
            params![*q, return_id, *line],
        )?;
    }
    // What the customer owes falls by the value of the units received back.
    let units: Vec<(i64, i64)> = moves.iter().map(|(line, q, ..)| (*line, *q)).collect();
    crate::orders::credit_returned_units(tx, order_id, &units)?;
    let after = get_return(tx, return_id)?;
    let done = after
        .lines
        .iter()
        .all(|l| l.received_quantity == l.quantity);
    tx.exec(
        "UPDATE returns SET status = $1, received_at = $2 WHERE id = $3",
        params![
            if done {
                "received"
            } else {
                "partially_received"
            },
            if done { Some(ctx.now) } else { None },
            return_id
        ],
    )?;
    // Units still to ship (an exchange's new lines) keep the order in the shipping queue; once
    // everything has shipped, the order is returned or partly returned.
    let triples = crate::fulfillment::line_progress(tx, order_id)?;
    let status = backroom_domain::order::fulfillment_status_with_returns(&triples);
    crate::orders::set_fulfillment(tx, ctx.now, order_id, status, None)?;
    let units: i64 = moves.iter().map(|(_, q, ..)| q).sum();
    event(
        tx,
        ctx,
        order_id,
        "return_received",
        &format!("{units} returned units received on return {return_id}"),
    )?;
    audit::record(
        tx,
        ctx,
        "return.received",
        "return",
        return_id,
        json!({"lines": rcv.lines}),
    )?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "return.received",
        json!({"return_id": return_id, "order_id": order_id, "lines": rcv.lines}),
    )?;
    get_return(tx, return_id)
}

/// Cancels a return nothing of which was received.
pub fn cancel(tx: &mut dyn Sql, ctx: &Ctx, return_id: i64) -> Result<Return> {
    ctx.actor.require(Permission::OrdersManage)?;
    let sql = format!(
        "SELECT order_id, status FROM returns WHERE id = $1{}",
        tx.for_update()
    );
    let r = tx
        .query_one(&sql, params![return_id])?
        .ok_or(Error::NotFound { entity: "return" })?;
    let status: String = r.get("status")?;
    if status != "requested" {
        return Err(Error::conflict(
            "return_not_cancellable",
            format!("the return is {status}; only a return with nothing received can be cancelled"),
        ));
    }
    tx.exec(
        "UPDATE returns SET status = 'cancelled' WHERE id = $1",
        params![return_id],
    )?;
    event(
        tx,
        ctx,
        r.get("order_id")?,
        "return_cancelled",
        &format!("Return {return_id} cancelled"),
    )?;
    audit::record(tx, ctx, "return.cancelled", "return", return_id, json!({}))?;
    get_return(tx, return_id)
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReturnRateQuery {
    /// Orders placed at or after this time (RFC 3339 or a date).
    pub from: Option<String>,
    /// Orders placed before this time.
    pub to: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema, Clone, Debug, PartialEq)]
pub struct ReturnRates {
    /// Units of non-cancelled orders placed in the period.
    pub units_sold: i64,
    /// Of those, units received back.
    pub units_returned: i64,
    /// `units_returned / units_sold`, 0 when nothing sold.
    pub rate: f64,
    pub by_product: Vec<ProductReturnRate>,
    pub by_reason: Vec<ReasonCount>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema, Clone, Debug, PartialEq)]
pub struct ProductReturnRate {
    pub sku: String,
    pub units_sold: i64,
    pub units_returned: i64,
    pub rate: f64,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema, Clone, Debug, PartialEq)]
pub struct ReasonCount {
    pub reason: String,
    pub units_returned: i64,
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
