//! Changing an order after it was placed: edits before shipment (add lines, change or remove
//! quantities), exchanges (new lines in place of returned ones) and re-sourcing a line to another
//! location. Reservations and totals follow in the same transaction, and the order's balance
//! shows what the customer owes or is owed.

use crate::api::{self, EditOrder, LineQuantity, Order, ResourceLine, SkuQuantity};
use crate::db::DbError;
use crate::inventory::{
    Hold, Reservation, lock_channel_levels, note_low, release_line_units, release_units, reserve,
};
use crate::orders::{
    LockedOrder, event, fill_available, get, lock_order, lookup_lines, parse_lines, sourcing_error,
};
use crate::util::from_json;
use crate::{Ctx, Error, Result, Sql, audit, params, settings};
use backroom_domain::order::{self as states, FulfillmentStatus, InventoryPolicy, OrderStatus};
use backroom_domain::pricing::{PriceLine, price_order};
use backroom_domain::roles::Permission;
use backroom_domain::sourcing::{Candidate, Demand, Place, Strategy, source};
use backroom_domain::values::optional_text;
use backroom_domain::{Money, Quantity};
use serde_json::json;

/// A count left fewer units of a `deny` variant on the shelf than are promised (`short` units):
/// the reservations of the orders placed last give theirs up first, each moved to another
/// location of its order's channel that has the units, or else kept where it is marked
/// backordered (short), so it waits for stock ahead of new sales, shows in the work queue, and
/// cannot ship before the stock arrives. The caller holds the counted level's lock.
pub(crate) fn cover_shortfall(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    variant_id: i64,
    location_id: i64,
    mut short: i64,
) -> Result<()> {
    for r in crate::inventory::covered_reservations(tx, variant_id, location_id)? {
        if short == 0 {
            break;
        }
        let crate::inventory::CoveredReservation {
            id: reservation,
            order_id,
            order_line_id: line_id,
            covered,
            quantity,
            sku,
            location_name: here,
        } = r;
        let take = short.min(covered);
        short -= take;
        let mut sc = sourcing_context(tx, order_id)?;
        sc.candidates.retain(|c| c.location_id != location_id);
        let elsewhere: Vec<i64> = sc.candidates.iter().map(|c| c.location_id).collect();
        let decision = if elsewhere.is_empty() {
            None
        } else {
            let levels =
                lock_channel_levels(tx, ctx.now, sc.channel_id, &[variant_id], &elsewhere)?;
            fill_available(&mut sc.candidates, &levels, &[variant_id]);
            let demand = [Demand {
                variant_id,
                sku: sku.clone(),
                quantity: take,
                allow_backorder: false,
            }];
            source(sc.strategy, &demand, &sc.candidates, &sc.destination).ok()
        };
        let message = match decision {
            Some(d) => {
                // The units leave this reservation for the locations that have them: covered
                // units only, so its backordered ones stay with it.
                release_units(
                    tx,
                    ctx.now,
                    &Reservation {
                        id: reservation,
                        variant_id,
                        location_id,
                        order_id,
                        order_line_id: line_id,
                        quantity,
                        backordered: quantity - covered,
                    },
                    take,
                    0,
                    "count_shortfall",
                )?;
                let holds: Vec<Hold> = d
                    .allocations
                    .iter()
                    .map(|a| Hold {
                        variant_id,
                        location_id: a.location_id,
                        order_line_id: line_id,
                        quantity: a.quantity,
                        backordered: 0,
                    })
                    .collect();
                reserve(tx, ctx.now, order_id, &holds)?;
                let touched: Vec<(i64, i64)> =
                    holds.iter().map(|h| (variant_id, h.location_id)).collect();
                note_low(tx, ctx, &touched)?;
                format!(
                    "A count at {here} left {take} x {sku} short: re-sourced, {}",
                    d.reason
                )
            }
            None => {
                crate::inventory::backorder_reserved(tx, reservation, take)?;
                format!(
                    "A count at {here} left {take} x {sku} short and no other location has them: backordered until stock arrives"
                )
            }
        };
        tx.exec_deferred(
            "UPDATE orders SET updated_at = $1 WHERE id = $2",
            params![ctx.now, order_id],
        )?;
        event(tx, ctx, order_id, "short", &message)?;
    }
    Ok(())
}

/// Where an order may draw stock from: its channel's active locations (only the pickup location
/// for click and collect), the channel's strategy, and the shipping address.
struct SourcingContext {
    channel_id: i64,
    channel: String,
    strategy: Strategy,
    candidates: Vec<Candidate>,
    destination: Place,
}

fn sourcing_context(tx: &mut dyn Sql, order_id: i64) -> Result<SourcingContext> {
    let order = tx
        .query_one(
            "SELECT o.channel_id, o.shipping_address, o.pickup_location_id FROM orders o WHERE o.id = $1",
            params![order_id],
        )?
        .ok_or(Error::NotFound { entity: "order" })?;
    let address: api::Address = from_json(&order.get::<String>("shipping_address")?);
    let pickup: Option<i64> = order.get("pickup_location_id")?;
    let mut ch = crate::catalog::channel_sourcing(tx, order.get("channel_id")?)?;
    // Click and collect draws only on its pickup location.
    ch.candidates
        .retain(|c| pickup.is_none_or(|p| p == c.location_id));
    Ok(SourcingContext {
        channel_id: ch.id,
        channel: ch.code,
        strategy: Strategy::parse(&ch.strategy).unwrap_or(Strategy::FewestShipments),
        candidates: ch.candidates,
        destination: Place {
            latitude: address.latitude,
            longitude: address.longitude,
            postal_code: Some(address.postal_code.clone()),
            country: Some(address.country.clone()),
        },
    })
}

/// An existing line as an edit sees it.
struct LineNow {
    id: i64,
    variant_id: i64,
    sku: String,
    quantity: i64,
    shipped: i64,
    policy: InventoryPolicy,
}

fn lines_now(tx: &mut dyn Sql, order_id: i64) -> Result<Vec<LineNow>> {
    Ok(tx
        .query(
            &format!(
                "SELECT l.id, l.variant_id, l.sku, l.quantity, {} AS shipped, {} AS inventory_policy \
                 FROM order_lines l WHERE l.order_id = $1 ORDER BY l.line_no",
                crate::fulfillment::sql::shipped_of_line("l.id"),
                crate::catalog::sql::inventory_policy_of("l.variant_id")
            ),
            params![order_id],
        )?
        .iter()
        .map(|r| {
            Ok(LineNow {
                id: r.get("id")?,
                variant_id: r.get("variant_id")?,
                sku: r.get("sku")?,
                quantity: r.get("quantity")?,
                shipped: r.get("shipped")?,
                policy: InventoryPolicy::parse(&r.get::<String>("inventory_policy")?)
                    .unwrap_or(InventoryPolicy::Deny),
            })
        })
        .collect::<std::result::Result<_, DbError>>()?)
}

/// What an edit did, for the timeline and the audit log.
pub(crate) struct Changed {
    pub total_before: i64,
    pub total_after: i64,
    pub added_line_ids: Vec<i64>,
    pub sourcing: Option<String>,
}

/// The lines an edit or exchange brings.
pub(crate) struct LineChanges<'a> {
    pub adds: &'a [SkuQuantity],
    pub changes: &'a [LineQuantity],
    /// The input of added lines in errors: `add` or `exchange_lines`.
    pub add_field: &'a str,
    /// Set when an exchange adds the lines.
    pub exchange_return_id: Option<i64>,
}

/// The quantity changes that move something, as (line, new quantity): each line on the order
/// once, within the quantity bounds, never below its shipped units.
fn quantity_moves<'a>(
    now_lines: &'a [LineNow],
    changes: &[LineQuantity],
    number: i64,
) -> Result<Vec<(&'a LineNow, i64)>> {
    // (line, old quantity, new quantity)
    let mut moves: Vec<(&LineNow, i64)> = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let field = format!("change[{i}].quantity");
        let line = now_lines
            .iter()
            .find(|l| l.id == c.line_id)
            .ok_or_else(|| {
                Error::invalid(
                    format!("change[{i}].line_id"),
                    format!("order #{} has no line {}", number, c.line_id),
                )
            })?;
        if moves.iter().any(|(l, _)| l.id == c.line_id) {
            return Err(Error::invalid(
                format!("change[{i}].line_id"),
                "listed twice",
            ));
        }
        if !(0..=Quantity::MAX).contains(&c.quantity) {
            return Err(Error::invalid(
                field,
                format!("must be between 0 and {}", Quantity::MAX),
            ));
        }
        if c.quantity < line.shipped {
            return Err(Error::Conflict {
                code: "already_shipped",
                message: format!(
                    "{} units of line {} have shipped; its quantity cannot go below that",
                    line.shipped, line.id
                ),
                field: Some(field),
            });
        }
        if c.quantity != line.quantity {
            moves.push((line, c.quantity));
        }
    }
    Ok(moves)
}

/// Adds lines and changes quantities of a locked order: releases what is no longer needed, sources
/// and reserves what is new (all or nothing, never overselling `deny` variants), then re-prices the
/// order.
pub(crate) fn change_lines(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    o: &LockedOrder,
    lc: LineChanges<'_>,
) -> Result<Changed> {
    let LineChanges {
        adds,
        changes,
        add_field,
        exchange_return_id,
    } = lc;
    let adds = lookup_lines(tx, parse_lines(add_field, adds)?, add_field)?;
    let now_lines = lines_now(tx, order_id)?;
    let moves = quantity_moves(&now_lines, changes, o.number)?;
    let mut sc = sourcing_context(tx, order_id)?;
    let mut variant_ids: Vec<i64> = moves
        .iter()
        .map(|(l, _)| l.variant_id)
        .chain(adds.iter().map(|a| a.variant_id))
        .collect();
    variant_ids.sort_unstable();
    variant_ids.dedup();
    let location_ids: Vec<i64> = sc.candidates.iter().map(|c| c.location_id).collect();
    let mut touched: Vec<(i64, i64)> = Vec::new();
    if !variant_ids.is_empty() {
        lock_channel_levels(tx, ctx.now, sc.channel_id, &variant_ids, &location_ids)?;
    }
    // Fewer units: release them (backordered first).
    for (line, q) in &moves {
        if *q < line.quantity {
            for (loc, _) in release_line_units(tx, ctx.now, line.id, line.quantity - q, "edited")? {
                touched.push((line.variant_id, loc));
            }
        }
    }
    // More units and new lines: source and reserve them against what is available now.
    // (demand, existing line id or index into adds)
    let mut demands: Vec<Demand> = Vec::new();
    let mut targets: Vec<Result<i64, usize>> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    for (line, q) in &moves {
        if *q > line.quantity {
            demands.push(Demand {
                variant_id: line.variant_id,
                sku: line.sku.clone(),
                quantity: q - line.quantity,
                allow_backorder: line.policy == InventoryPolicy::Continue,
            });
            targets.push(Ok(line.id));
            let i = changes
                .iter()
                .position(|c| c.line_id == line.id)
                .unwrap_or(0);
            fields.push(format!("change[{i}].quantity"));
        }
    }
    for (i, a) in adds.iter().enumerate() {
        demands.push(Demand {
            variant_id: a.variant_id,
            sku: a.sku.to_string(),
            quantity: a.quantity,
            allow_backorder: a.policy == InventoryPolicy::Continue,
        });
        targets.push(Err(i));
        fields.push(format!("{add_field}[{i}].quantity"));
    }
    let mut added_line_ids = Vec::new();
    let mut sourcing = None;
    if !demands.is_empty() {
        let rows = lock_channel_levels(tx, ctx.now, sc.channel_id, &variant_ids, &location_ids)?;
        fill_available(&mut sc.candidates, &rows, &variant_ids);
        let decision = source(sc.strategy, &demands, &sc.candidates, &sc.destination)
            .map_err(|e| sourcing_error(e, &sc.channel, |i| fields[i].clone()))?;
        // New lines, numbered after the last one.
        let next_no = tx
            .query_one(
                "SELECT CAST(COALESCE(MAX(line_no), 0) AS BIGINT) AS last_no FROM order_lines WHERE order_id = $1",
                params![order_id],
            )?
            .map(|r| r.get::<i64>("last_no"))
            .transpose()?
            // An aggregate always gives a row: the old 0 for none kept.
            .unwrap_or(0);
        for (i, a) in adds.iter().enumerate() {
            let r = tx.query_one(
                "INSERT INTO order_lines (order_id, line_no, variant_id, sku, title, quantity, unit_price_minor, discount_minor, tax_minor, exchange_return_id, unit_cost_minor) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9) RETURNING id",
                params![order_id, next_no + 1 + i as i64, a.variant_id, a.sku.as_str(), a.title.as_str(), a.quantity, a.unit_price, exchange_return_id, a.unit_cost],
            )?;
            added_line_ids.push(
                r.map(|r| r.get::<i64>("id"))
                    .transpose()?
                    // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
                    .unwrap_or(0),
            );
        }
        let mut holds = Vec::with_capacity(decision.allocations.len());
        for al in &decision.allocations {
            let line_id = match targets[al.line_index] {
                Ok(id) => id,
                Err(i) => added_line_ids[i],
            };
            holds.push(Hold {
                variant_id: demands[al.line_index].variant_id,
                location_id: al.location_id,
                order_line_id: line_id,
                quantity: al.quantity,
                backordered: al.backordered,
            });
            touched.push((demands[al.line_index].variant_id, al.location_id));
        }
        reserve(tx, ctx.now, order_id, &holds)?;
        sourcing = Some(decision.reason);
    }
    for (line, q) in &moves {
        tx.exec_deferred(
            "UPDATE order_lines SET quantity = $1 WHERE id = $2",
            params![*q, line.id],
        )?;
    }
    let total_after = reprice(tx, ctx, order_id, o, exchange_return_id.is_none())?;
    // What was credited (returns and concessions) stays credited: the order's total may not
    // fall below it, or the customer would owe less than nothing.
    let credited = o.returned + o.adjustments;
    if total_after < credited {
        return Err(Error::Conflict {
            code: "below_credited",
            message: format!(
                "this change would bring order #{}'s total to {}, below the {} already credited by returns and refunds",
                o.number,
                money(total_after, &o.currency),
                money(credited, &o.currency)
            ),
            field: None,
        });
    }
    touched.sort_unstable();
    touched.dedup();
    note_low(tx, ctx, &touched)?;
    Ok(Changed {
        total_before: o.total,
        total_after,
        added_line_ids,
        sourcing,
    })
}

/// The tax the order was priced with; an order from before orders kept it is taxed as the store
/// now taxes its destination.
fn order_tax(tx: &mut dyn Sql, order_id: i64) -> Result<backroom_domain::pricing::TaxPolicy> {
    let r = tx
        .query_one(
            "SELECT tax_rate_ppm, shipping_taxed, shipping_address, tax_included FROM orders WHERE id = $1",
            params![order_id],
        )?
        .ok_or(Error::NotFound { entity: "order" })?;
    Ok(
        match (
            r.get::<Option<i64>>("tax_rate_ppm")?,
            r.get::<Option<i64>>("shipping_taxed")?,
        ) {
            (Some(ppm), Some(taxed)) => backroom_domain::pricing::TaxPolicy {
                rate_ppm: u32::try_from(ppm).unwrap_or(0),
                shipping_taxed: taxed != 0,
                included: r.get::<i64>("tax_included")? != 0,
            },
            // Orders from before kept their rate were all priced with the tax on top.
            _ => {
                let a: api::Address = from_json(&r.get::<String>("shipping_address")?);
                backroom_domain::pricing::TaxPolicy {
                    included: false,
                    ..settings::load(tx)?.tax_for(&a.country, a.region.as_deref())
                }
            }
        },
    )
}

/// Prices the order again from its lines (today's line prices stay as sold), sets its totals and
/// fulfillment status, and reopens a closed order that has units to ship again. Returns the total.
/// With `promotions`, an order with nothing returned has its promotions evaluated again first.
fn reprice(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    o: &LockedOrder,
    promotions: bool,
) -> Result<i64> {
    // (id, unit price, quantity, discount, shipped, returned) per line.
    let mut rows: Vec<(i64, i64, i64, i64, i64, i64)> = tx
        .query(
            &format!(
                "SELECT l.id, l.unit_price_minor, l.quantity, l.discount_minor, {} AS shipped, l.returned_quantity \
                 FROM order_lines l WHERE l.order_id = $1 ORDER BY l.line_no",
                crate::fulfillment::sql::shipped_of_line("l.id")
            ),
            params![order_id],
        )?
        .iter()
        .map(|r| {
            Ok((
                r.get("id")?,
                r.get("unit_price_minor")?,
                r.get("quantity")?,
                r.get("discount_minor")?,
                r.get("shipped")?,
                r.get("returned_quantity")?,
            ))
        })
        .collect::<std::result::Result<_, DbError>>()?;
    if promotions && rows.iter().all(|r| r.5 == 0) {
        discounts_again(tx, ctx, order_id, &o.currency, &mut rows)?;
    }
    let kept: Vec<&(i64, i64, i64, i64, i64, i64)> = rows
        .iter()
        .filter(|(_, _, quantity, ..)| *quantity > 0)
        .collect();
    if kept.is_empty() {
        return Err(Error::invalid(
            "change",
            "an edit cannot remove every line; cancel the order instead",
        ));
    }
    let price_lines: Vec<PriceLine> = kept
        .iter()
        .map(|(_, unit_price, quantity, discount, ..)| PriceLine {
            unit_price: *unit_price,
            quantity: *quantity,
            discount: *discount,
        })
        .collect();
    let totals = price_order(&price_lines, o.shipping, order_tax(tx, order_id)?)?;
    for (id, ..) in &rows {
        let tax = kept
            .iter()
            .position(|k| k.0 == *id)
            .map_or(0, |i| totals.line_tax[i]);
        tx.exec_deferred(
            "UPDATE order_lines SET tax_minor = $1 WHERE id = $2",
            params![tax, *id],
        )?;
    }
    let triples: Vec<(i64, i64, i64)> = rows
        .iter()
        .map(|(_, _, quantity, _, shipped, returned)| (*quantity, *shipped, *returned))
        .collect();
    let fulfillment = states::fulfillment_status_with_returns(&triples);
    let status = if o.status == OrderStatus::Closed
        && matches!(
            fulfillment,
            FulfillmentStatus::Unfulfilled | FulfillmentStatus::PartiallyFulfilled
        ) {
        OrderStatus::Open
    } else {
        o.status
    };
    tx.exec_deferred(
        "UPDATE orders SET subtotal_minor = $1, discounts_minor = $2, tax_minor = $3, total_minor = $4, fulfillment_status = $5, status = $6, updated_at = $7, included_tax_minor = $8 WHERE id = $9",
        params![totals.subtotal, totals.discounts, totals.tax, totals.total, fulfillment.as_str(), status.as_str(), ctx.now, totals.included_tax(), order_id],
    )?;
    Ok(totals.total)
}

/// Evaluates the order's promotions again on its lines as they are now and sets each line's
/// discount (in `rows` and in the database) and the order's notes.
fn discounts_again(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    currency: &str,
    rows: &mut [(i64, i64, i64, i64, i64, i64)],
) -> Result<()> {
    let mut by_line = std::collections::HashMap::new();
    for r in tx.query(
        "SELECT id, variant_id FROM order_lines WHERE order_id = $1",
        params![order_id],
    )? {
        by_line.insert(r.get::<i64>("id")?, r.get::<i64>("variant_id")?);
    }
    let variants: Vec<i64> = rows
        .iter()
        .map(|r| by_line.get(&r.0).copied().unwrap_or(0))
        .collect();
    let facts = crate::catalog::promotion_facts(tx, &variants)?;
    let lines = rows
        .iter()
        .zip(&variants)
        .map(|(r, v)| {
            let (product_id, product_type, vendor, tags) =
                facts.get(v).cloned().unwrap_or_default();
            backroom_domain::promotions::engine::CartLine {
                variant_id: *v,
                product_id,
                product_type,
                vendor,
                tags,
                unit_price: r.1,
                quantity: r.2,
            }
        })
        .collect();
    let Some((discounts, notes)) =
        crate::promotions::apply::reevaluate(tx, order_id, lines, ctx.now, currency)?
    else {
        return Ok(());
    };
    for (r, d) in rows.iter_mut().zip(discounts) {
        r.3 = d;
        tx.exec_deferred(
            "UPDATE order_lines SET discount_minor = $1 WHERE id = $2",
            params![d, r.0],
        )?;
    }
    if !notes.is_empty() {
        tx.exec_deferred(
            "UPDATE orders SET promotion_notes = $1 WHERE id = $2",
            params![crate::util::to_json(&notes), order_id],
        )?;
    }
    Ok(())
}

/// An amount as staff read it in the timeline (`12.50 EUR`).
pub(crate) fn money(amount: i64, currency: &str) -> String {
    match backroom_domain::Currency::parse(currency) {
        Ok(c) => Money::new(amount, c).to_string(),
        Err(_) => format!("{amount} {currency}"),
    }
}

/// Edits an open order before shipment: new lines, new quantities (0 removes a line's unshipped
/// units). Never below what has shipped; never overselling; all or nothing.
pub fn edit(tx: &mut dyn Sql, ctx: &Ctx, order_id: i64, e: &EditOrder) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    if e.add.is_empty() && e.change.is_empty() {
        return Err(Error::invalid(
            "add",
            "an edit adds lines or changes quantities",
        ));
    }
    if e.add.len() > 250 {
        return Err(Error::invalid("add", "add at most 250 lines at once"));
    }
    let reason = optional_text("reason", e.reason.as_deref(), 1000)?;
    let o = lock_order(tx, order_id)?;
    if o.status != OrderStatus::Open {
        return Err(Error::conflict(
            "cannot_edit",
            format!(
                "order #{} is {}; only open orders can be edited",
                o.number,
                o.status.as_str()
            ),
        ));
    }
    let changed = change_lines(
        tx,
        ctx,
        order_id,
        &o,
        LineChanges {
            adds: &e.add,
            changes: &e.change,
            add_field: "add",
            exchange_return_id: None,
        },
    )?;
    let msg = format!(
        "Order edited{}: {} lines added, {} changed; total {} to {}",
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        e.add.len(),
        e.change.len(),
        money(changed.total_before, &o.currency),
        money(changed.total_after, &o.currency),
    );
    event(tx, ctx, order_id, "edited", &msg)?;
    audit::record(
        tx,
        ctx,
        "order.edited",
        "order",
        order_id,
        json!({"add": e.add, "change": e.change, "reason": reason, "added_line_ids": changed.added_line_ids,
               "total": {"from": changed.total_before, "to": changed.total_after}, "sourcing": changed.sourcing}),
    )?;
    get(tx, order_id)
}

/// Moves the unshipped units of a line to another location, or lets the channel's strategy choose
/// again: the old reservations are released and the new ones taken in one transaction.
pub fn resource_line(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    line_id: i64,
    r: &ResourceLine,
) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let o = lock_order(tx, order_id)?;
    if o.status != OrderStatus::Open {
        return Err(Error::conflict(
            "cannot_resource",
            format!("order #{} is {}", o.number, o.status.as_str()),
        ));
    }
    let line = lines_now(tx, order_id)?
        .into_iter()
        .find(|l| l.id == line_id)
        .ok_or(Error::NotFound {
            entity: "order line",
        })?;
    let live = crate::inventory::live_units_of_line(tx, line_id)?;
    if live == 0 {
        return Err(Error::conflict(
            "nothing_to_source",
            format!("line {line_id} has no unshipped units reserved"),
        ));
    }
    let mut sc = sourcing_context(tx, order_id)?;
    let mut strategy = sc.strategy;
    if let Some(loc) = r.location_id {
        if !sc.candidates.iter().any(|c| c.location_id == loc) {
            return Err(Error::invalid(
                "location_id",
                format!(
                    "location {loc} does not sell for channel {} (or is not this order's pickup location)",
                    sc.channel
                ),
            ));
        }
        sc.candidates.retain(|c| c.location_id == loc);
        strategy = Strategy::Priority;
    }
    let all_locations: Vec<i64> = sc.candidates.iter().map(|c| c.location_id).collect();
    let variants = [line.variant_id];
    lock_channel_levels(tx, ctx.now, sc.channel_id, &variants, &all_locations)?;
    let released = release_line_units(tx, ctx.now, line_id, live, "resourced")?;
    let rows = lock_channel_levels(tx, ctx.now, sc.channel_id, &variants, &all_locations)?;
    fill_available(&mut sc.candidates, &rows, &variants);
    let demand = [Demand {
        variant_id: line.variant_id,
        sku: line.sku.clone(),
        quantity: live,
        allow_backorder: line.policy == InventoryPolicy::Continue,
    }];
    let decision = source(strategy, &demand, &sc.candidates, &sc.destination)
        .map_err(|e| sourcing_error(e, &sc.channel, |_| "location_id".into()))?;
    let holds: Vec<Hold> = decision
        .allocations
        .iter()
        .map(|a| Hold {
            variant_id: line.variant_id,
            location_id: a.location_id,
            order_line_id: line_id,
            quantity: a.quantity,
            backordered: a.backordered,
        })
        .collect();
    reserve(tx, ctx.now, order_id, &holds)?;
    let mut touched: Vec<(i64, i64)> = released
        .iter()
        .map(|(l, _)| (line.variant_id, *l))
        .chain(holds.iter().map(|h| (h.variant_id, h.location_id)))
        .collect();
    touched.sort_unstable();
    touched.dedup();
    note_low(tx, ctx, &touched)?;
    tx.exec_deferred(
        "UPDATE orders SET updated_at = $1 WHERE id = $2",
        params![ctx.now, order_id],
    )?;
    event(
        tx,
        ctx,
        order_id,
        "sourced",
        &format!("Line {line_id} re-sourced: {}", decision.reason),
    )?;
    audit::record(
        tx,
        ctx,
        "order.resourced",
        "order",
        order_id,
        json!({"line_id": line_id, "released": released, "reserved": holds.iter().map(|h| (h.location_id, h.quantity)).collect::<Vec<_>>(), "reason": decision.reason}),
    )?;
    get(tx, order_id)
}
