//! Refunds: money back on an order, by amount or by lines and shipping, and what it does to the
//! order's payment status and balance.

use super::{LockedOrder, event, get, lock_order};
use crate::api::{Order, RefundOrder};
use crate::db::DbError;
use crate::{Ctx, Error, Result, Sql, audit, params};
use backroom_domain::balance;
use backroom_domain::order as states;
use backroom_domain::roles::Permission;
use backroom_domain::values::{optional_text, required_text};
use serde_json::json;

/// Refunds an amount, units of lines, or the shipping charge: never more than paid minus already
/// refunded. A refund first pays out what the customer is owed (after an edit or a received
/// return); anything beyond is a concession that lowers what they owe.
pub fn refund(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64, r: &RefundOrder) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let reason = required_text("reason", &r.reason, 100)?;
    let note = optional_text("note", r.note.as_deref(), 1000)?;
    let o = lock_order(tx, order_id)?;
    let shipping = r.shipping == Some(true);
    let lines = r.lines.as_deref().unwrap_or_default();
    if r.lines.is_some() && lines.is_empty() {
        return Err(Error::invalid("lines", "list at least one line to refund"));
    }
    // (line id, units, value)
    let mut by_line: Vec<(i64, i64, i64)> = Vec::new();
    let mut merchandise = 0;
    let amount = match r.amount {
        Some(_) if shipping || !lines.is_empty() => {
            return Err(Error::invalid(
                "amount",
                "give an amount, or lines and shipping to have it computed, not both",
            ));
        }
        Some(a) => a,
        None if !shipping && lines.is_empty() => {
            return Err(Error::invalid(
                "amount",
                "give an amount, or lines and/or shipping to refund",
            ));
        }
        None => {
            let (lines_by, mut sum, lines_merchandise) = lines_value(tx, &o, order_id, lines)?;
            by_line = lines_by;
            merchandise = lines_merchandise;
            if shipping {
                sum += shipping_value(tx, &o, order_id)?;
            }
            sum
        }
    };
    let new_payment =
        states::refund(o.payment, o.paid, o.refunded, amount).map_err(|e| Error::Conflict {
            code: "refund_refused",
            message: e.0,
            field: Some(
                if r.amount.is_some() {
                    "amount"
                } else {
                    "lines"
                }
                .into(),
            ),
        })?;
    let (settled, concession) = balance::split_refund(o.balance(), amount);
    if r.amount.is_some() {
        // An amount alone refunds merchandise, shipping and tax in the order's proportions.
        merchandise = tx
            .query_one(
                "SELECT subtotal_minor - discounts_minor - included_tax_minor AS merchandise, total_minor FROM orders WHERE id = $1",
                params![order_id],
            )?
            .map(|t| {
                Ok::<_, DbError>(balance::merchandise_share(
                    amount,
                    t.get("merchandise")?,
                    t.get("total_minor")?,
                ))
            })
            .transpose()?
            .unwrap_or(0);
    }
    tx.exec(
        "INSERT INTO refunds (order_id, amount_minor, currency, reason, note, actor, created_at, settled_minor, lines, merchandise_minor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        params![order_id, amount, o.currency.as_str(), reason.as_str(), note.clone(), ctx.actor.name.as_str(), ctx.now, settled, (!by_line.is_empty()).then(|| serde_json::to_string(&by_line).unwrap_or_default()), merchandise],
    )?;
    tx.exec(
        "UPDATE orders SET refunded_minor = refunded_minor + $1, adjustments_minor = adjustments_minor + $2, payment_status = $3, \
         shipping_refunded = (shipping_refunded OR $4), updated_at = $5 WHERE id = $6",
        params![amount, concession, new_payment.as_str(), shipping, ctx.now, order_id],
    )?;
    for (line, q, _) in &by_line {
        tx.exec_deferred(
            "UPDATE order_lines SET refunded_quantity = refunded_quantity + $1 WHERE id = $2",
            params![*q, *line],
        )?;
    }
    let cur = backroom_domain::Currency::parse(&o.currency)?;
    event(
        tx,
        ctx,
        order_id,
        "refunded",
        &format!(
            "{} refunded on order #{} ({reason})",
            backroom_domain::Money::new(amount, cur),
            o.number
        ),
    )?;
    audit::record(
        tx,
        ctx,
        "order.refunded",
        "order",
        order_id,
        json!({"amount": amount, "settled": settled, "concession": concession, "lines": by_line, "shipping": shipping, "reason": reason, "note": note, "payment_status": {"from": o.payment.as_str(), "to": new_payment.as_str()}}),
    )?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.refunded",
        json!({"order_id": order_id, "number": o.number, "amount": amount}),
    )?;
    get(tx, order_id)
}

/// A line refunded: (line id, units, value).
type RefundedLine = (i64, i64, i64);

/// The value of refunding these lines' units (each within what is not yet refunded): the
/// (line, units, value) list, their sum, and the merchandise part of it.
fn lines_value(
    tx: &mut dyn Sql,
    o: &LockedOrder,
    order_id: i64,
    lines: &[crate::api::RefundLine],
) -> Result<(Vec<RefundedLine>, i64, i64)> {
    let mut by_line: Vec<(i64, i64, i64)> = Vec::new();
    let (mut sum, mut merchandise) = (0, 0);
    for (i, l) in lines.iter().enumerate() {
        backroom_domain::Quantity::parse(l.quantity)
            .map_err(|e| e.under(&format!("lines[{i}]")))?;
        if by_line.iter().any(|(id, ..)| *id == l.line_id) {
            return Err(Error::invalid(
                format!("lines[{i}].line_id"),
                "listed twice",
            ));
        }
        let row = tx
            .query_one(
                "SELECT quantity, unit_price_minor, discount_minor, tax_minor, refunded_quantity FROM order_lines WHERE id = $1 AND order_id = $2",
                params![l.line_id, order_id],
            )?
            .ok_or_else(|| {
                Error::invalid(
                    format!("lines[{i}].line_id"),
                    format!("order #{} has no line {}", o.number, l.line_id),
                )
            })?;
        let (quantity, done): (i64, i64) = (row.get("quantity")?, row.get("refunded_quantity")?);
        if l.quantity > quantity - done {
            return Err(Error::Conflict {
                code: "refund_refused",
                message: format!(
                    "line {} has {} units not yet refunded",
                    l.line_id,
                    quantity - done
                ),
                field: Some(format!("lines[{i}].quantity")),
            });
        }
        let (price, discount, tax): (i64, i64, i64) = (
            row.get("unit_price_minor")?,
            row.get("discount_minor")?,
            row.get("tax_minor")?,
        );
        let value = balance::line_value(price, quantity, discount, tax, o.tax_included);
        let v = balance::next_units_value(value, quantity, done, l.quantity);
        by_line.push((l.line_id, l.quantity, v));
        sum += v;
        merchandise += balance::next_units_value(
            balance::line_merchandise(price, quantity, discount, tax, o.tax_included),
            quantity,
            done,
            l.quantity,
        );
    }
    Ok((by_line, sum, merchandise))
}

/// What refunding the shipping charge is worth, with its own tax unless the shipping price
/// holds it; refused when it was already refunded.
fn shipping_value(tx: &mut dyn Sql, o: &LockedOrder, order_id: i64) -> Result<i64> {
    if o.shipping_refunded {
        return Err(Error::Conflict {
            code: "refund_refused",
            message: "the shipping charge was already refunded".into(),
            field: Some("shipping".into()),
        });
    }
    // Shipping's own tax is added on top unless the shipping price holds it.
    let shipping_tax = if o.tax_included {
        0
    } else {
        tx.query_one(
            "SELECT CAST(COALESCE(SUM(tax_minor), 0) AS BIGINT) AS lines_tax, (SELECT tax_minor FROM orders WHERE id = $1) AS order_tax FROM order_lines WHERE order_id = $1",
            params![order_id],
        )?
        .map(|r| {
            Ok::<_, DbError>(
                // The subquery is NULL only without the (locked) order: the old 0 kept.
                r.get::<Option<i64>>("order_tax")?.unwrap_or(0)
                    - r.get::<i64>("lines_tax")?,
            )
        })
        .transpose()?
        .unwrap_or(0)
    };
    Ok(o.shipping + shipping_tax)
}
