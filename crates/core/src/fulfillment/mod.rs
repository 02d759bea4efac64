//! Shipping order lines from a location, marking shipments delivered, and refunds.
//!
//! Shipping is the step where a promise becomes a movement: in one transaction the units leave
//! `on_hand` (ledger `sale_shipped`) and the matching reservation is released, so `available` does
//! not move and nothing is counted twice.

pub mod sql;

use crate::api::{HoldOrder, Order, RefundOrder, ShipOrder};
use crate::orders::{LockedOrder, event, get, lock_order};
use crate::{Ctx, Error, Result, Sql, audit, params};

use backroom_domain::order::{self as states, FulfillmentStatus, OrderStatus, PaymentStatus};
use backroom_domain::roles::Permission;
use backroom_domain::values::{optional_text, required_text};
use serde_json::json;

/// Ships units of an order from one location.
pub fn ship(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64, s: &ShipOrder) -> Result<Order> {
    ctx.actor.require(Permission::OrdersFulfil)?;
    let carrier = optional_text("carrier", s.carrier.as_deref(), 100)?;
    let service = optional_text("service", s.service.as_deref(), 100)?;
    let tracking_number = optional_text("tracking_number", s.tracking_number.as_deref(), 100)?;
    let tracking_url = optional_text("tracking_url", s.tracking_url.as_deref(), 1000)?;
    if let Some(u) = &tracking_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(Error::invalid("tracking_url", "must be an http(s) URL"));
    }
    let LockedOrder {
        status,
        payment,
        fulfillment,
        number,
        hold_reason,
        ..
    } = lock_order(tx, order_id)?;
    states::can_ship(status, fulfillment).map_err(|e| Error::conflict("cannot_ship", e.0))?;
    if let Some(reason) = hold_reason {
        return Err(Error::conflict(
            "on_hold",
            format!("order #{number} is on hold ({reason}); release the hold first"),
        ));
    }

    // Live reservations at this location, per line.
    let live = crate::inventory::live_at(tx, order_id, s.location_id)?;
    let wanted = lines_to_ship(s, &live, number)?;

    let f = tx.query_one(
        "INSERT INTO fulfillments (order_id, location_id, status, carrier, service, tracking_number, tracking_url, created_by, shipped_at) \
         VALUES ($1, $2, 'shipped', $3, $4, $5, $6, $7, $8) RETURNING id",
        params![order_id, s.location_id, carrier.clone(), service, tracking_number.clone(), tracking_url, ctx.actor.name.as_str(), ctx.now],
    )?;
    let fulfillment_id = f
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    // Move stock level by level, in (variant, location) order like every writer.
    let mut by_variant: Vec<(i64, i64, i64)> = Vec::new(); // (variant, line, quantity)
    for (line, q) in &wanted {
        let variant = live
            .iter()
            .find(|r| r.order_line_id == *line)
            .map_or(0, |r| r.variant_id);
        by_variant.push((variant, *line, *q));
    }
    by_variant.sort_unstable();
    for (variant, line, q) in &by_variant {
        crate::inventory::ship_units(tx, ctx, order_id, s.location_id, *variant, *line, *q, &live)?;
        tx.exec_deferred("INSERT INTO fulfillment_lines (fulfillment_id, order_line_id, quantity) VALUES ($1, $2, $3)", params![fulfillment_id, *line, *q])?;
    }

    // The order's fulfillment status from shipped units per line.
    let triples = crate::orders::line_progress(tx, order_id)?;
    let new_fulfillment = states::fulfillment_status_with_returns(&triples);
    // Everything shipped and paid: nothing is left to do.
    let new_status = if !matches!(
        new_fulfillment,
        FulfillmentStatus::Unfulfilled | FulfillmentStatus::PartiallyFulfilled
    ) && payment == PaymentStatus::Paid
    {
        OrderStatus::Closed
    } else {
        status
    };
    crate::orders::set_fulfillment(tx, ctx.now, order_id, new_fulfillment, Some(new_status))?;
    let units: i64 = wanted.iter().map(|(_, q)| q).sum();
    let tracking = match (&carrier, &tracking_number) {
        (Some(c), Some(t)) => format!(" with {c}, tracking {t}"),
        (None, Some(t)) => format!(", tracking {t}"),
        (Some(c), None) => format!(" with {c}"),
        _ => String::new(),
    };
    event(
        tx,
        ctx,
        order_id,
        "shipped",
        &format!(
            "{units} units shipped from location {}{tracking}",
            s.location_id
        ),
    )?;
    audit::record(
        tx,
        ctx,
        "order.shipped",
        "order",
        order_id,
        json!({"fulfillment_id": fulfillment_id, "location_id": s.location_id, "lines": wanted, "fulfillment_status": {"from": fulfillment.as_str(), "to": new_fulfillment.as_str()}}),
    )?;
    if !matches!(
        new_fulfillment,
        FulfillmentStatus::Unfulfilled | FulfillmentStatus::PartiallyFulfilled
    ) {
        crate::webhooks::emit(
            tx,
            ctx.now,
            "order.fulfilled",
            json!({"order_id": order_id, "number": number, "fulfillment_id": fulfillment_id}),
        )?;
    }
    get(tx, order_id)
}

/// The (line, units) a shipment takes: what it lists, each within the line's units reserved at
/// the location, or everything reserved there.
fn lines_to_ship(
    s: &ShipOrder,
    live: &[crate::inventory::LiveUnits],
    number: i64,
) -> Result<Vec<(i64, i64)>> {
    let reserved_for = |line: i64| {
        live.iter()
            .filter(|r| r.order_line_id == line)
            .map(|r| r.quantity)
            .sum::<i64>()
    };
    Ok(match &s.lines {
        None => {
            let mut all: Vec<(i64, i64)> = Vec::new();
            for r in live {
                match all.iter_mut().find(|(l, _)| *l == r.order_line_id) {
                    Some(x) => x.1 += r.quantity,
                    None => all.push((r.order_line_id, r.quantity)),
                }
            }
            if all.is_empty() {
                return Err(Error::Conflict {
                    code: "nothing_to_ship",
                    message: format!(
                        "order #{number} has no units reserved at location {}",
                        s.location_id
                    ),
                    field: Some("location_id".into()),
                });
            }
            all
        }
        Some(lines) => {
            if lines.is_empty() {
                return Err(Error::invalid(
                    "lines",
                    "list at least one line, or leave lines out to ship everything reserved here",
                ));
            }
            let mut out: Vec<(i64, i64)> = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                backroom_domain::Quantity::parse(l.quantity)
                    .map_err(|e| e.under(&format!("lines[{i}]")))?;
                if out.iter().any(|(x, _)| *x == l.line_id) {
                    return Err(Error::invalid(
                        format!("lines[{i}].line_id"),
                        "listed twice",
                    ));
                }
                let have = reserved_for(l.line_id);
                if l.quantity > have {
                    return Err(Error::Conflict {
                        code: "not_reserved_here",
                        message: format!(
                            "line {} has {have} units reserved at location {}; cannot ship {}",
                            l.line_id, s.location_id, l.quantity
                        ),
                        field: Some(format!("lines[{i}].quantity")),
                    });
                }
                out.push((l.line_id, l.quantity));
            }
            out
        }
    })
}

/// Marks a shipment delivered.
pub fn deliver(tx: &mut dyn Sql, ctx: &Ctx, fulfillment_id: i64) -> Result<Order> {
    ctx.actor.require(Permission::OrdersFulfil)?;
    let sql = format!(
        "SELECT order_id, status FROM fulfillments WHERE id = $1{}",
        tx.for_update()
    );
    let r = tx
        .query_one(&sql, params![fulfillment_id])?
        .ok_or(Error::NotFound {
            entity: "fulfillment",
        })?;
    let order_id: i64 = r.get("order_id")?;
    let status: String = r.get("status")?;
    if status != "shipped" {
        return Err(Error::conflict(
            "not_in_transit",
            format!("the shipment is {status}"),
        ));
    }
    tx.exec(
        "UPDATE fulfillments SET status = 'delivered', delivered_at = $1 WHERE id = $2",
        params![ctx.now, fulfillment_id],
    )?;
    event(
        tx,
        ctx,
        order_id,
        "delivered",
        &format!("Shipment {fulfillment_id} delivered"),
    )?;
    audit::record(
        tx,
        ctx,
        "order.delivered",
        "order",
        order_id,
        json!({"fulfillment_id": fulfillment_id}),
    )?;
    get(tx, order_id)
}

/// Why an order may be held.
pub const HOLD_REASONS: [&str; 5] = [
    "fraud_review",
    "address_problem",
    "customer_request",
    "payment_issue",
    "other",
];

/// Puts an open order on hold: it cannot ship until the hold is released.
pub fn hold(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64, h: &HoldOrder) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    if !HOLD_REASONS.contains(&h.reason.as_str()) {
        return Err(Error::invalid(
            "reason",
            "must be fraud_review, address_problem, customer_request, payment_issue or other",
        ));
    }
    let note = optional_text("note", h.note.as_deref(), 1000)?;
    let LockedOrder {
        status,
        number,
        hold_reason,
        ..
    } = lock_order(tx, order_id)?;
    if status != OrderStatus::Open {
        return Err(Error::conflict(
            "cannot_hold",
            format!(
                "order #{number} is {}; only open orders can be held",
                status.as_str()
            ),
        ));
    }
    if let Some(r) = hold_reason {
        return Err(Error::conflict(
            "already_on_hold",
            format!("order #{number} is already on hold ({r})"),
        ));
    }
    crate::orders::set_hold(
        tx,
        ctx.now,
        order_id,
        Some((h.reason.as_str(), note.as_deref())),
    )?;
    event(
        tx,
        ctx,
        order_id,
        "held",
        &format!(
            "Order #{number} put on hold: {}{}",
            h.reason,
            note.as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ),
    )?;
    audit::record(
        tx,
        ctx,
        "order.held",
        "order",
        order_id,
        json!({"reason": h.reason, "note": note}),
    )?;
    get(tx, order_id)
}

/// Releases an order's hold.
pub fn release_hold(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let LockedOrder {
        number,
        hold_reason,
        ..
    } = lock_order(tx, order_id)?;
    let Some(reason) = hold_reason else {
        return Err(Error::conflict(
            "not_on_hold",
            format!("order #{number} is not on hold"),
        ));
    };
    crate::orders::set_hold(tx, ctx.now, order_id, None)?;
    event(
        tx,
        ctx,
        order_id,
        "hold_released",
        &format!("Hold ({reason}) released on order #{number}"),
    )?;
    audit::record(
        tx,
        ctx,
        "order.hold_released",
        "order",
        order_id,
        json!({"reason": reason}),
    )?;
    get(tx, order_id)
}

/// Click and collect: the order is packed at its pickup location and waits for the customer until
/// the channel's pickup hold runs out.
pub fn ready_for_pickup(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64) -> Result<Order> {
    ctx.actor.require(Permission::OrdersFulfil)?;
    let LockedOrder {
        status,
        fulfillment,
        number,
        hold_reason,
        pickup_location,
        pickup_hold_hours: hold_hours,
        ..
    } = lock_order(tx, order_id)?;
    let Some(location) = pickup_location else {
        return Err(Error::conflict(
            "not_pickup",
            format!("order #{number} is not a pickup order"),
        ));
    };
    if status != OrderStatus::Open || fulfillment != FulfillmentStatus::Unfulfilled {
        return Err(Error::conflict(
            "cannot_ready",
            format!(
                "order #{number} is {} and {}",
                status.as_str(),
                fulfillment.as_str()
            ),
        ));
    }
    if hold_reason.is_some() {
        return Err(Error::conflict(
            "on_hold",
            format!("order #{number} is on hold; release the hold first"),
        ));
    }
    let backordered = crate::inventory::backordered_units(tx, order_id)?;
    if backordered > 0 {
        return Err(Error::conflict(
            "not_in_stock",
            format!("{backordered} units of order #{number} are backordered; receive them first"),
        ));
    }
    let deadline = ctx.now + hold_hours * 3_600_000_000;
    crate::orders::set_ready_for_pickup(tx, ctx.now, order_id, deadline)?;
    event(
        tx,
        ctx,
        order_id,
        "ready_for_pickup",
        &format!(
            "Order #{number} is ready for pickup at location {location} until {}",
            crate::util::rfc3339(deadline)
        ),
    )?;
    audit::record(
        tx,
        ctx,
        "order.ready_for_pickup",
        "order",
        order_id,
        json!({"location_id": location, "deadline": crate::util::rfc3339(deadline)}),
    )?;
    get(tx, order_id)
}

/// The customer collected the order: the units leave the boutique like a shipment.
pub fn picked_up(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    p: &crate::api::PickedUp,
) -> Result<Order> {
    ctx.actor.require(Permission::OrdersFulfil)?;
    let by = required_text("handed_over_by", &p.handed_over_by, 255)?;
    let LockedOrder {
        fulfillment,
        number,
        pickup_location,
        ..
    } = lock_order(tx, order_id)?;
    if fulfillment != FulfillmentStatus::ReadyForPickup {
        return Err(Error::conflict(
            "not_ready",
            format!(
                "order #{number} is {}, not ready for pickup",
                fulfillment.as_str()
            ),
        ));
    }
    let Some(location) = pickup_location else {
        return Err(Error::conflict(
            "not_pickup",
            format!("order #{number} is not a pickup order"),
        ));
    };
    ship(
        tx,
        ctx,
        order_id,
        &ShipOrder {
            location_id: location,
            carrier: Some("pickup".into()),
            ..Default::default()
        },
    )?;
    crate::orders::set_picked_up(tx, ctx.now, order_id, &by)?;
    event(
        tx,
        ctx,
        order_id,
        "picked_up",
        &format!("Order #{number} collected; handed over by {by}"),
    )?;
    audit::record(
        tx,
        ctx,
        "order.picked_up",
        "order",
        order_id,
        json!({"handed_over_by": by}),
    )?;
    get(tx, order_id)
}

/// Cancels ready pickup orders whose deadline has passed: their stock is released, an authorization
/// voided, a captured payment refunded. Returns the orders cancelled.
pub fn expire_pickups(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<i64>> {
    let due = crate::orders::uncollected_pickups(tx, ctx.now)?;
    for id in &due {
        let LockedOrder {
            payment,
            paid,
            refunded,
            ..
        } = lock_order(tx, *id)?;
        if matches!(
            payment,
            PaymentStatus::Paid | PaymentStatus::PartiallyRefunded
        ) && paid > refunded
        {
            crate::orders::refund(
                tx,
                ctx,
                *id,
                &RefundOrder {
                    amount: Some(paid - refunded),
                    lines: None,
                    shipping: None,
                    reason: "not_collected".into(),
                    note: Some("pickup deadline passed".into()),
                },
            )?;
        }
        crate::orders::reset_uncollected(tx, *id)?;
        crate::orders::cancel(
            tx,
            ctx,
            *id,
            &crate::api::CancelOrder {
                reason: Some("not collected by the pickup deadline".into()),
            },
        )?;
    }
    Ok(due)
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FulfillmentReportQuery {
    /// Orders placed at or after (RFC 3339 or a date); 30 days before `to` by default.
    pub from: Option<String>,
    /// Orders placed before; now by default.
    pub to: Option<String>,
    pub channel_id: Option<i64>,
}

/// An order's shipments, oldest first, each with its lines.
pub fn shipments_of_order(tx: &mut dyn Sql, order_id: i64) -> Result<Vec<crate::api::Fulfillment>> {
    let shipped = tx.query(
        "SELECT f.id, f.location_id, f.status, f.carrier, f.service, f.tracking_number, f.tracking_url, f.shipped_at, f.delivered_at, fl.order_line_id, fl.quantity \
         FROM fulfillments f JOIN fulfillment_lines fl ON fl.fulfillment_id = f.id WHERE f.order_id = $1 ORDER BY f.id, fl.id",
        params![order_id],
    )?;
    // One row per shipped line: the fulfillment's own columns are read on its first row only.
    let mut fulfillments: Vec<crate::api::Fulfillment> = Vec::new();
    for f in &shipped {
        let fulfillment_id: i64 = f.get("id")?;
        if fulfillments.last().is_none_or(|x| x.id != fulfillment_id) {
            fulfillments.push(crate::api::Fulfillment {
                id: fulfillment_id,
                location_id: f.get("location_id")?,
                status: f.get("status")?,
                carrier: f.get("carrier")?,
                service: f.get("service")?,
                tracking_number: f.get("tracking_number")?,
                tracking_url: f.get("tracking_url")?,
                lines: Vec::new(),
                shipped_at: crate::util::rfc3339(f.get("shipped_at")?),
                delivered_at: crate::util::opt_rfc3339(f.get("delivered_at")?),
            });
        }
        if let Some(last) = fulfillments.last_mut() {
            last.lines.push(crate::api::FulfillmentLine {
                order_line_id: f.get("order_line_id")?,
                quantity: f.get("quantity")?,
            });
        }
    }
    Ok(fulfillments)
}
