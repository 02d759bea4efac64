//! Reshipping: units of an order that were shipped and did not arrive whole (lost, damaged) go
//! out again as a replacement order to the same customer and address, by the same channel and
//! shipping method, sourced and reserved like any order, each line discounted in full and no
//! shipping charged, so nothing is owed. Both orders' timelines name each other.

use super::place::place_free;
use crate::api::{CustomerInput, PlaceOrder, SkuQuantity};
use crate::db::{Sql, query_as};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// What to send again: some shipped units of some lines, or (no lines) every shipped unit.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Reship {
    #[serde(default)]
    pub lines: Vec<ReshipLine>,
    /// Why, on both orders' timelines (lost in transit, arrived damaged...).
    pub reason: String,
}

#[derive(Deserialize, Serialize, ToSchema, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ReshipLine {
    pub line_id: i64,
    pub quantity: i64,
}

/// The replacement order placed, and the original's number.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct Reshipped {
    pub original: i64,
    pub replacement: crate::api::Order,
}

crate::row! { struct ShippedRow { id: i64, sku: String, shipped: i64 } }

/// The units to send again, by SKU, checked against what was shipped of each line.
fn units(tx: &mut dyn Sql, order_id: i64, r: &Reship) -> Result<Vec<SkuQuantity>> {
    let shipped: Vec<ShippedRow> = query_as(
        tx,
        &format!(
            "SELECT l.id, l.sku, {} AS shipped FROM order_lines l WHERE l.order_id = $1 ORDER BY l.line_no",
            crate::fulfillment::sql::shipped_of_line("l.id")
        ),
        params![order_id],
    )?;
    if r.lines.is_empty() {
        let all: Vec<SkuQuantity> = shipped
            .iter()
            .filter(|l| l.shipped > 0)
            .map(|l| SkuQuantity {
                sku: l.sku.clone(),
                quantity: l.shipped,
            })
            .collect();
        if all.is_empty() {
            return Err(Error::conflict(
                "nothing_shipped",
                "nothing of this order was shipped: there is nothing to send again",
            ));
        }
        return Ok(all);
    }
    let mut out = Vec::with_capacity(r.lines.len());
    for (i, want) in r.lines.iter().enumerate() {
        let field = format!("lines[{i}]");
        let line = shipped
            .iter()
            .find(|l| l.id == want.line_id)
            .ok_or_else(|| {
                Error::invalid(format!("{field}.line_id"), "is not a line of this order")
            })?;
        if !(1..=line.shipped).contains(&want.quantity) {
            return Err(Error::invalid(
                format!("{field}.quantity"),
                format!("must be from 1 to the {} shipped", line.shipped),
            ));
        }
        out.push(SkuQuantity {
            sku: line.sku.clone(),
            quantity: want.quantity,
        });
    }
    Ok(out)
}

/// Sends shipped units of an order again at no charge (see the module's doc).
pub fn reship(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64, r: &Reship) -> Result<Reshipped> {
    ctx.actor.require(Permission::OrdersManage)?;
    let reason = backroom_domain::values::required_text("reason", &r.reason, 500)?;
    let o = super::get(tx, order_id)?;
    if o.shipping_method == super::IN_STORE {
        return Err(Error::conflict(
            "in_store_sale",
            "a boutique sale was taken away by the customer: there is nothing to send again",
        ));
    }
    let lines = units(tx, order_id, r)?;
    let channel = crate::catalog::get_channel(tx, o.channel_id)?;
    let (first, last) = match o.customer.name.split_once(' ') {
        Some((f, l)) => (Some(f.to_string()), Some(l.to_string())),
        None => (
            Some(o.customer.name.clone()).filter(|n| !n.is_empty()),
            None,
        ),
    };
    let input = PlaceOrder {
        channel: channel.code,
        customer: CustomerInput {
            email: o.customer.email.clone(),
            first_name: first,
            last_name: last,
            ..Default::default()
        },
        shipping_address: o.shipping_address.clone(),
        shipping_method: Some(o.shipping_method.clone()),
        pickup_location_id: o.pickup.as_ref().map(|p| p.location_id),
        lines,
        note: Some(format!("Replacement for order #{}: {reason}", o.number)),
        ..Default::default()
    };
    let placed = place_free(tx, ctx, &input)?.order;
    super::event(
        tx,
        ctx,
        order_id,
        "reshipped",
        &format!("Reshipped as order #{}: {reason}", placed.number),
    )?;
    super::event(
        tx,
        ctx,
        placed.id,
        "replacement",
        &format!("Replacement for order #{}: {reason}", o.number),
    )?;
    audit::record(
        tx,
        ctx,
        "order.reshipped",
        "order",
        order_id,
        json!({"replacement": placed.number, "reason": reason}),
    )?;
    Ok(Reshipped {
        original: o.number,
        replacement: super::get(tx, placed.id)?,
    })
}
