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
        .query_one("SELECT r.id, r.order_id, r.status, r.label_carrier, r.label_tracking, r.note, r.created_by, r.created_at, r.received_at, r.exchange FROM returns r WHERE r.id = $1", params![id])?
        .ok_or(Error::NotFound { entity: "return" })?;
    let lines = tx.query(
        "SELECT rl.order_line_id, rl.quantity, rl.reason, rl.received_quantity, rl.restocked, rl.unavailable, rl.written_off \
         FROM return_lines rl WHERE rl.return_id = $1 ORDER BY rl.id",
        params![id],
    )?;
    // What was paid for each of the order's lines; the exchange's new lines among them.
    let (currency, order_lines) = crate::orders::line_values(tx, r.get::<i64>("order_id")?)?;
    let line = |id: i64| {
        order_lines
            .iter()
            .find(|l| l.id == id)
            .ok_or(Error::NotFound {
                entity: "order line",
            })
    };
    let returned_value: i64 = lines
        .iter()
        .map(|l| {
            let ol = line(l.get("order_line_id")?)?;
            Ok(balance::units_value(
                ol.value,
                ol.quantity,
                l.get("quantity")?,
            ))
        })
        .sum::<Result<i64>>()?;
    let added: Vec<&crate::orders::LineValue> = order_lines
        .iter()
        .filter(|l| l.exchange_return_id == Some(id))
        .collect();
    let added_value: i64 = added.iter().map(|l| l.value).sum();
    let exchange: bool = r.get("exchange")?;
    Ok(Return {
        exchange,
        exchange_line_ids: added.iter().map(|l| l.id).collect(),
        price_difference: crate::api::Money {
            amount: if exchange {
                added_value - returned_value
            } else {
                -returned_value
            },
            currency,
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
                let order_line_id: i64 = l.get("order_line_id")?;
                Ok(ReturnLine {
                    order_line_id,
                    sku: line(order_line_id)?.sku.clone(),
                    quantity: l.get("quantity")?,
                    reason: l.get("reason")?,
                    received_quantity: l.get("received_quantity")?,
                    restocked: l.get("restocked")?,
                    unavailable: l.get("unavailable")?,
                    written_off: l.get("written_off")?,
                })
            })
            .collect::<Result<_>>()?,
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
    let order_lines = crate::orders::line_quantities(tx, order_id)?;
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
        let line = order_lines
            .iter()
            .find(|ol| ol.id == l.line_id)
            .ok_or_else(|| {
                Error::invalid(
                    format!("lines[{i}].line_id"),
                    format!("order #{number} has no line {}", l.line_id),
                )
            })?;
        let on_returns = tx
            .query_one(
                "SELECT CAST(COALESCE(SUM(rl.quantity), 0) AS BIGINT) AS on_returns FROM return_lines rl JOIN returns rt ON rt.id = rl.return_id \
                 WHERE rl.order_line_id = $1 AND rt.status <> 'cancelled'",
                params![l.line_id],
            )?
            .map(|r| r.get::<i64>("on_returns"))
            .transpose()?
            .unwrap_or(0);
        // Units refunded by line and kept by the customer cannot come back for a credit again.
        let refunded_kept = (line.refunded - line.returned).max(0);
        let returnable = line.shipped - on_returns - refunded_kept;
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
    let triples = crate::orders::line_progress(tx, order_id)?;
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
