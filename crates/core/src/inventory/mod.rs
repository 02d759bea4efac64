//! Inventory: levels per (SKU, location), the append-only ledger, reservations, and transfers.
//!
//! Architecture invariant: `on_hand` and `unavailable` change only in [`apply`], which writes the
//! ledger row in the same statement group; `reserved` changes only in [`reserve`] and [`release`],
//! which write the reservation row. `backroom check` verifies both sums at any moment.

mod channel_levels;
pub mod check;
pub mod sql;

pub(crate) use channel_levels::{
    Keys, LockedLevel, levels_complete, lock_channel_levels, lock_levels_sql, locked_levels,
};

use crate::api::{
    self, LedgerEntry, Page, SkuStock, StockChange, StockLevel, StockTotals, Transfer, TransferLine,
};
use crate::audit;
use crate::catalog::{self, get_channel, get_location, variant_by_sku};
use crate::db::{DbError, FromRow, Row, Sql};
use crate::util::page;
use crate::util::{Filter, decode_cursor, encode_cursor, opt_rfc3339, page_limit, rfc3339};
use crate::{Ctx, Error, Result, params};
use backroom_domain::Quantity;
use backroom_domain::order::{InventoryPolicy, LedgerReason, TransferStatus};
use backroom_domain::roles::Permission;
use backroom_domain::values::optional_text;
use serde_json::json;

/// Where a ledger row points: an order, a transfer, a count...
pub struct Reference<'a> {
    pub kind: &'a str,
    pub id: Option<i64>,
}

/// Makes sure a level row exists for (variant, location), so it can be locked and updated.
pub fn ensure_level(tx: &mut dyn Sql, variant_id: i64, location_id: i64, now: i64) -> Result<()> {
    tx.exec_deferred(
        "INSERT INTO inventory_levels (variant_id, location_id, on_hand, reserved, unavailable, incoming, updated_at) VALUES ($1, $2, 0, 0, 0, 0, $3) ON CONFLICT (variant_id, location_id) DO NOTHING",
        params![variant_id, location_id, now],
    )?;
    Ok(())
}

/// (on_hand, reserved, unavailable, incoming), locked for the rest of the transaction.
pub fn lock_level(
    tx: &mut dyn Sql,
    variant_id: i64,
    location_id: i64,
) -> Result<(i64, i64, i64, i64)> {
    let sql = format!(
        "SELECT on_hand, reserved, unavailable, incoming FROM inventory_levels WHERE variant_id = $1 AND location_id = $2{}",
        tx.for_update()
    );
    let r = tx
        .query_one(&sql, params![variant_id, location_id])?
        .ok_or(Error::NotFound {
            entity: "inventory level",
        })?;
    Ok((
        r.get("on_hand")?,
        r.get("reserved")?,
        r.get("unavailable")?,
        r.get("incoming")?,
    ))
}

/// The one way `on_hand` and `unavailable` change: updates the level and appends the ledger row.
#[allow(clippy::too_many_arguments)]
pub fn apply(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    variant_id: i64,
    location_id: i64,
    on_hand_delta: i64,
    unavailable_delta: i64,
    reason: LedgerReason,
    reference: Reference<'_>,
    note: Option<&str>,
) -> Result<i64> {
    tx.exec_deferred(
        "UPDATE inventory_levels SET on_hand = on_hand + $1, unavailable = unavailable + $2, updated_at = $3 WHERE variant_id = $4 AND location_id = $5",
        params![on_hand_delta, unavailable_delta, ctx.now, variant_id, location_id],
    )?;
    let r = tx.query_one(
        "INSERT INTO inventory_ledger (variant_id, location_id, on_hand_delta, unavailable_delta, reason, actor, reference_type, reference_id, note, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        params![variant_id, location_id, on_hand_delta, unavailable_delta, reason.as_str(), ctx.actor.name.as_str(), reference.kind, reference.id, note, ctx.now],
    )?;
    Ok(r.map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0))
}

/// Units of one order line held at one location.
pub struct Hold {
    pub variant_id: i64,
    pub location_id: i64,
    pub order_line_id: i64,
    pub quantity: i64,
    /// Units promised beyond stock (`continue` variants).
    pub backordered: i64,
}

/// Reserves units for an order's lines: the reservation rows and the levels' `reserved` move
/// together, in one statement each. The caller holds the level locks.
pub fn reserve(tx: &mut dyn Sql, now: i64, order_id: i64, holds: &[Hold]) -> Result<()> {
    if holds.is_empty() {
        return Ok(());
    }
    let mut ins_vals: Vec<crate::Val> = Vec::with_capacity(holds.len() * 7);
    let mut rows = Vec::with_capacity(holds.len());
    for h in holds {
        let n = ins_vals.len();
        rows.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7
        ));
        ins_vals.extend([
            h.variant_id.into(),
            h.location_id.into(),
            order_id.into(),
            h.order_line_id.into(),
            h.quantity.into(),
            h.backordered.into(),
            now.into(),
        ]);
    }
    let insert = format!(
        "INSERT INTO reservations (variant_id, location_id, order_id, order_line_id, quantity, backordered, created_at) VALUES {}",
        rows.join(", ")
    );
    // One row per level: UPDATE ... FROM applies a single source row to each target row.
    let mut per_level: Vec<(i64, i64, i64)> = Vec::new();
    for h in holds {
        match per_level
            .iter_mut()
            .find(|(v, l, _)| *v == h.variant_id && *l == h.location_id)
        {
            Some(p) => p.2 += h.quantity,
            None => per_level.push((h.variant_id, h.location_id, h.quantity)),
        }
    }
    let mut upd_vals: Vec<crate::Val> = vec![now.into()];
    let mut levels = Vec::with_capacity(per_level.len());
    for (v, l, q) in per_level {
        let n = upd_vals.len();
        levels.push(format!(
            "(CAST(${} AS BIGINT), CAST(${} AS BIGINT), CAST(${} AS BIGINT))",
            n + 1,
            n + 2,
            n + 3
        ));
        upd_vals.extend([v.into(), l.into(), q.into()]);
    }
    let update = format!(
        "UPDATE inventory_levels SET reserved = reserved + h.column3, updated_at = $1 FROM (VALUES {}) AS h \
         WHERE inventory_levels.variant_id = h.column1 AND inventory_levels.location_id = h.column2",
        levels.join(", ")
    );
    tx.exec_deferred(&insert, &ins_vals)?;
    tx.exec_deferred(&update, &upd_vals)?;
    Ok(())
}

/// Marks `units` more of reservation `id` backordered (a short count took them and no other
/// location has them): they wait for stock to arrive.
pub(crate) fn backorder_reserved(tx: &mut dyn Sql, id: i64, units: i64) -> Result<()> {
    tx.exec_deferred(
        "UPDATE reservations SET backordered = backordered + $1 WHERE id = $2",
        params![units, id],
    )?;
    Ok(())
}

crate::row! {
    /// A reservation of an order line's units at one location.
    struct ReservationRow {
        order_line_id: i64,
        location_id: i64,
        quantity: i64,
        backordered: i64,
        released_at: Option<i64>,
    }
}

/// An order's reservations, live and released, in the order they were made: each as its order
/// line and the allocation an order shows.
pub fn allocations_of_order(
    tx: &mut dyn Sql,
    order_id: i64,
) -> Result<Vec<(i64, api::Allocation)>> {
    tx.query(
        "SELECT order_line_id, location_id, quantity, backordered, released_at FROM reservations WHERE order_id = $1 ORDER BY id",
        params![order_id],
    )?
    .iter()
    .map(|r| {
        let a = ReservationRow::from_row(r)?;
        Ok((
            a.order_line_id,
            api::Allocation {
                location_id: a.location_id,
                quantity: a.quantity,
                backordered: a.backordered,
                live: a.released_at.is_none(),
            },
        ))
    })
    .collect()
}

/// The units of an order line reserved and not yet shipped or released.
pub fn live_units_of_line(tx: &mut dyn Sql, order_line_id: i64) -> Result<i64> {
    Ok(tx
        .query_one(
            "SELECT CAST(COALESCE(SUM(quantity), 0) AS BIGINT) AS live FROM reservations WHERE order_line_id = $1 AND released_at IS NULL",
            params![order_line_id],
        )?
        .map(|r| r.get::<i64>("live"))
        .transpose()?
        // An aggregate always gives a row: the old 0 for none kept.
        .unwrap_or(0))
}

/// A live reservation that holds units on the shelf (not all backordered).
pub struct CoveredReservation {
    pub id: i64,
    pub order_id: i64,
    pub order_line_id: i64,
    /// Its units the shelf covers (not backordered).
    pub covered: i64,
    pub quantity: i64,
    pub sku: String,
    pub location_name: String,
}

/// The live reservations of a level that hold units on its shelf, those of the orders placed
/// last first: the order a short count takes their units back in.
pub fn covered_reservations(
    tx: &mut dyn Sql,
    variant_id: i64,
    location_id: i64,
) -> Result<Vec<CoveredReservation>> {
    tx.query(
        &format!(
            "SELECT r.id, r.order_id, r.order_line_id, r.quantity - r.backordered AS covered, {} AS sku, {} AS name, r.quantity FROM reservations r \
             WHERE r.variant_id = $1 AND r.location_id = $2 AND r.released_at IS NULL AND r.quantity > r.backordered \
             ORDER BY {} DESC, r.id DESC",
            catalog::sql::sku_of("r.variant_id"),
            catalog::sql::location_name_of("r.location_id"),
            crate::orders::sql::placed_at_of("r.order_id")
        ),
        params![variant_id, location_id],
    )?
    .iter()
    .map(|r| {
        Ok(CoveredReservation {
            id: r.get("id")?,
            order_id: r.get("order_id")?,
            order_line_id: r.get("order_line_id")?,
            covered: r.get("covered")?,
            quantity: r.get("quantity")?,
            sku: r.get("sku")?,
            location_name: r.get("name")?,
        })
    })
    .collect()
}

/// The units of an order's live reservations that are backordered (waiting for stock).
pub fn backordered_units(tx: &mut dyn Sql, order_id: i64) -> Result<i64> {
    Ok(tx
        .query_one(
            "SELECT CAST(COALESCE(SUM(backordered), 0) AS BIGINT) AS backordered FROM reservations WHERE order_id = $1 AND released_at IS NULL",
            params![order_id],
        )?
        .map(|r| r.get::<i64>("backordered"))
        .transpose()?
        // An aggregate always gives a row: the old 0 for none kept.
        .unwrap_or(0))
}

/// Releases every live reservation of an order; returns how many units were released, and the
/// (variant, location) levels they came from.
pub fn release_order(
    tx: &mut dyn Sql,
    now: i64,
    order_id: i64,
    reason: &str,
) -> Result<(i64, Vec<(i64, i64)>)> {
    let live = tx.query(
        "SELECT id, variant_id, location_id, quantity FROM reservations WHERE order_id = $1 AND released_at IS NULL ORDER BY variant_id, location_id, id",
        params![order_id],
    )?;
    let mut total = 0;
    let mut levels: Vec<(i64, i64)> = Vec::new();
    for r in &live {
        let (id, variant_id, location_id, quantity): (i64, i64, i64, i64) = (
            r.get("id")?,
            r.get("variant_id")?,
            r.get("location_id")?,
            r.get("quantity")?,
        );
        lock_level(tx, variant_id, location_id)?;
        release(tx, now, id, variant_id, location_id, quantity, reason)?;
        total += quantity;
        if levels.last() != Some(&(variant_id, location_id)) {
            levels.push((variant_id, location_id));
        }
    }
    Ok((total, levels))
}

/// Releases `units` of an order line's live reservations, backordered units first and the newest
/// reservation first; a reservation released in part is split so every row stays whole. Returns
/// the units released per location. The caller holds the level locks.
pub fn release_line_units(
    tx: &mut dyn Sql,
    now: i64,
    order_line_id: i64,
    units: i64,
    reason: &str,
) -> Result<Vec<(i64, i64)>> {
    let live = tx.query(
        "SELECT id, variant_id, location_id, quantity, backordered, order_id FROM reservations \
         WHERE order_line_id = $1 AND released_at IS NULL ORDER BY backordered DESC, id DESC",
        params![order_line_id],
    )?;
    let mut left = units;
    let mut out: Vec<(i64, i64)> = Vec::new();
    for r in &live {
        if left == 0 {
            break;
        }
        let res = Reservation {
            id: r.get("id")?,
            variant_id: r.get("variant_id")?,
            location_id: r.get("location_id")?,
            order_id: r.get("order_id")?,
            order_line_id,
            quantity: r.get("quantity")?,
            backordered: r.get("backordered")?,
        };
        let location = res.location_id;
        let take = left.min(res.quantity);
        // Backordered units go first.
        release_units(tx, now, &res, take, take.min(res.backordered), reason)?;
        match out.iter_mut().find(|(l, _)| *l == location) {
            Some(x) => x.1 += take,
            None => out.push((location, take)),
        }
        left -= take;
    }
    if left > 0 {
        return Err(Error::conflict(
            "not_reserved",
            format!(
                "line {order_line_id} has {} fewer units reserved than expected",
                left
            ),
        ));
    }
    Ok(out)
}

/// Low stock: marks levels of these (variant, location) pairs that fell to or below their reorder
/// point (`available + incoming <= reorder_point`) and sends `inventory.low` once per crossing;
/// clears the mark of levels back above it. Levels without a reorder point cost nothing.
pub fn note_low(tx: &mut dyn Sql, ctx: &Ctx, pairs: &[(i64, i64)]) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut vals: Vec<crate::Val> = Vec::with_capacity(pairs.len() * 2);
    let mut ors = Vec::with_capacity(pairs.len());
    for (v, l) in pairs {
        let n = vals.len();
        ors.push(format!(
            "(l.variant_id = ${} AND l.location_id = ${})",
            n + 1,
            n + 2
        ));
        vals.extend([(*v).into(), (*l).into()]);
    }
    // The columns never change: built once (placement runs this for every order).
    static HEAD: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT l.variant_id, l.location_id, l.on_hand - l.reserved - l.unavailable AS available, l.incoming, l.reorder_point, l.low_since, {} AS sku, {} AS code \
             FROM inventory_levels l WHERE l.reorder_point IS NOT NULL",
            catalog::sql::sku_of("l.variant_id"),
            catalog::sql::location_code_of("l.location_id")
        )
    });
    let rows = tx.query(&format!("{} AND ({})", *HEAD, ors.join(" OR ")), &vals)?;
    for r in &rows {
        let (variant_id, location_id): (i64, i64) = (r.get("variant_id")?, r.get("location_id")?);
        let (available, incoming): (i64, i64) = (r.get("available")?, r.get("incoming")?);
        // Never NULL here (the query keeps `reorder_point IS NOT NULL`); the old reader's 0 is kept.
        let point = r.get::<Option<i64>>("reorder_point")?.unwrap_or(0);
        let low = available + incoming <= point;
        let marked = r.get::<Option<i64>>("low_since")?.is_some();
        if low && !marked {
            tx.exec_deferred(
                "UPDATE inventory_levels SET low_since = $1 WHERE variant_id = $2 AND location_id = $3",
                params![ctx.now, variant_id, location_id],
            )?;
            let (sku, code): (String, String) = (r.get("sku")?, r.get("code")?);
            crate::webhooks::emit(
                tx,
                ctx.now,
                "inventory.low",
                json!({"sku": sku, "variant_id": variant_id, "location_id": location_id, "location_code": code,
                       "available": available, "incoming": incoming, "reorder_point": point}),
            )?;
        } else if !low && marked {
            tx.exec_deferred(
                "UPDATE inventory_levels SET low_since = NULL WHERE variant_id = $1 AND location_id = $2",
                params![variant_id, location_id],
            )?;
        }
    }
    Ok(())
}

/// A live reservation of an order at one location, as shipping takes it.
pub struct LiveUnits {
    pub id: i64,
    pub order_line_id: i64,
    pub variant_id: i64,
    pub quantity: i64,
}

/// An order's live reservations at one location, by variant and then oldest first.
pub fn live_at(tx: &mut dyn Sql, order_id: i64, location_id: i64) -> Result<Vec<LiveUnits>> {
    Ok(tx
        .query(
            "SELECT r.id, r.order_line_id, r.variant_id, r.quantity FROM reservations r \
             WHERE r.order_id = $1 AND r.location_id = $2 AND r.released_at IS NULL ORDER BY r.variant_id, r.id",
            params![order_id, location_id],
        )?
        .iter()
        .map(|r| {
            Ok(LiveUnits {
                id: r.get("id")?,
                order_line_id: r.get("order_line_id")?,
                variant_id: r.get("variant_id")?,
                quantity: r.get("quantity")?,
            })
        })
        .collect::<std::result::Result<_, DbError>>()?)
}

/// Ships `q` units of an order's `line` (of `variant`) from `location_id`: locks the level,
/// refuses units not on hand, takes them off hand (ledger `sale_shipped`) and releases them from
/// the line's `live` reservations, oldest first (the last one split: the shipped part released,
/// the rest live), so `available` does not move. Callers go in (variant, location) order.
#[allow(clippy::too_many_arguments)]
pub fn ship_units(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    location_id: i64,
    variant: i64,
    line: i64,
    q: i64,
    live: &[LiveUnits],
) -> Result<()> {
    let (on_hand, _, _, _) = lock_level(tx, variant, location_id)?;
    if on_hand < q {
        return Err(Error::Conflict {
            code: "not_on_hand",
            message: format!(
                "only {on_hand} units are on hand at location {location_id} (the rest is backordered); receive stock first"
            ),
            field: Some("lines".into()),
        });
    }
    apply(
        tx,
        ctx,
        variant,
        location_id,
        -q,
        0,
        LedgerReason::SaleShipped,
        Reference {
            kind: "order",
            id: Some(order_id),
        },
        None,
    )?;
    let mut left = q;
    for r in live.iter().filter(|r| r.order_line_id == line) {
        if left == 0 {
            break;
        }
        let take = left.min(r.quantity);
        if take == r.quantity {
            tx.exec_deferred(
                "UPDATE reservations SET released_at = $1, release_reason = 'shipped' WHERE id = $2",
                params![ctx.now, r.id],
            )?;
        } else {
            tx.exec_deferred(
                "UPDATE reservations SET quantity = quantity - $1, backordered = CASE WHEN backordered > quantity - $1 THEN quantity - $1 ELSE backordered END WHERE id = $2",
                params![take, r.id],
            )?;
            tx.exec_deferred(
                "INSERT INTO reservations (variant_id, location_id, order_id, order_line_id, quantity, backordered, created_at, released_at, release_reason) \
                 VALUES ($1, $2, $3, $4, $5, 0, $6, $6, 'shipped')",
                params![variant, location_id, order_id, line, take, ctx.now],
            )?;
        }
        left -= take;
    }
    tx.exec_deferred(
        "UPDATE inventory_levels SET reserved = reserved - $1, updated_at = $2 WHERE variant_id = $3 AND location_id = $4",
        params![q, ctx.now, variant, location_id],
    )?;
    Ok(())
}

/// A live reservation row, as [`release_units`] takes it.
pub(crate) struct Reservation {
    pub id: i64,
    pub variant_id: i64,
    pub location_id: i64,
    pub order_id: i64,
    pub order_line_id: i64,
    pub quantity: i64,
    pub backordered: i64,
}

/// Releases `take` units of one live reservation, `backordered` of them backordered: the whole
/// row, or (fewer) a split, so every row stays whole: the released part becomes a row of its
/// own. The level's `reserved` follows. The caller holds the level lock.
pub(crate) fn release_units(
    tx: &mut dyn Sql,
    now: i64,
    r: &Reservation,
    take: i64,
    backordered: i64,
    reason: &str,
) -> Result<()> {
    if take == r.quantity {
        return release(tx, now, r.id, r.variant_id, r.location_id, take, reason);
    }
    tx.exec_deferred(
        "UPDATE reservations SET quantity = quantity - $1, backordered = backordered - $2 WHERE id = $3",
        params![take, backordered, r.id],
    )?;
    tx.exec_deferred(
        "INSERT INTO reservations (variant_id, location_id, order_id, order_line_id, quantity, backordered, created_at, released_at, release_reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
        params![r.variant_id, r.location_id, r.order_id, r.order_line_id, take, backordered, now, reason],
    )?;
    tx.exec_deferred(
        "UPDATE inventory_levels SET reserved = reserved - $1, updated_at = $2 WHERE variant_id = $3 AND location_id = $4",
        params![take, now, r.variant_id, r.location_id],
    )?;
    Ok(())
}

fn release(
    tx: &mut dyn Sql,
    now: i64,
    reservation_id: i64,
    variant_id: i64,
    location_id: i64,
    quantity: i64,
    reason: &str,
) -> Result<()> {
    tx.exec_deferred(
        "UPDATE reservations SET released_at = $1, release_reason = $2 WHERE id = $3",
        params![now, reason, reservation_id],
    )?;
    tx.exec_deferred(
        "UPDATE inventory_levels SET reserved = reserved - $1, updated_at = $2 WHERE variant_id = $3 AND location_id = $4",
        params![quantity, now, variant_id, location_id],
    )?;
    Ok(())
}

/// The columns [`level_from`] reads, from `inventory_levels l` (the SKU and location code through
/// the catalog's expressions).
fn level_select() -> &'static str {
    // Built once: the text never changes.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {} AS sku, l.variant_id, l.location_id, {} AS code, l.on_hand, l.reserved, l.unavailable, l.incoming, l.updated_at, l.bin FROM inventory_levels l",
            catalog::sql::sku_of("l.variant_id"),
            catalog::sql::location_code_of("l.location_id")
        )
    });
    &SQL
}

fn level_from(r: &Row) -> std::result::Result<StockLevel, DbError> {
    let (on_hand, reserved, unavailable): (i64, i64, i64) =
        (r.get("on_hand")?, r.get("reserved")?, r.get("unavailable")?);
    Ok(StockLevel {
        sku: r.get("sku")?,
        variant_id: r.get("variant_id")?,
        location_id: r.get("location_id")?,
        location_code: r.get("code")?,
        on_hand,
        reserved,
        unavailable,
        available: on_hand - reserved - unavailable,
        incoming: r.get("incoming")?,
        bin: r.get("bin")?,
        updated_at: rfc3339(r.get("updated_at")?),
    })
}

/// Sets or clears the bin of a SKU at a location.
pub fn set_bin(tx: &mut dyn Sql, ctx: &Ctx, b: &api::SetBin) -> Result<StockLevel> {
    let bin = optional_text("bin", b.bin.as_deref(), 64)?;
    let (variant_id, sku, _) = stock_target(tx, ctx, &b.sku, b.location_id)?;
    let before = get_level(tx, variant_id, b.location_id)?.bin;
    tx.exec(
        "UPDATE inventory_levels SET bin = $1 WHERE variant_id = $2 AND location_id = $3",
        params![bin.clone(), variant_id, b.location_id],
    )?;
    audit::record(
        tx,
        ctx,
        "inventory.bin_set",
        "inventory_level",
        format!("{sku}@{}", b.location_id),
        json!({"bin": {"from": before, "to": bin}}),
    )?;
    get_level(tx, variant_id, b.location_id)
}

pub fn get_level(tx: &mut dyn Sql, variant_id: i64, location_id: i64) -> Result<StockLevel> {
    let r = tx
        .query_one(
            &format!(
                "{} WHERE l.variant_id = $1 AND l.location_id = $2",
                level_select()
            ),
            params![variant_id, location_id],
        )?
        .ok_or(Error::NotFound {
            entity: "inventory level",
        })?;
    Ok(level_from(&r)?)
}

/// What is on hand of the variant with this SKU at one location: 0 when it has no level there
/// (or no variant has the SKU). One query (the level joined to its variant), so an import
/// compares each row of a stock file with its level in one round trip.
pub fn on_hand_by_sku(tx: &mut dyn Sql, sku: &str, location_id: i64) -> Result<i64> {
    Ok(tx
        .query_one(
            &format!(
                "SELECT l.on_hand FROM inventory_levels l WHERE l.variant_id = {} AND l.location_id = $2",
                catalog::sql::variant_id_by_sku("$1")
            ),
            params![sku, location_id],
        )?
        .map(|r| r.get::<i64>("on_hand"))
        .transpose()?
        .unwrap_or(0))
}

pub fn sku_stock(tx: &mut dyn Sql, sku: &str) -> Result<SkuStock> {
    let (variant_id, sku, policy) = variant_by_sku(tx, "sku", sku).map_err(|e| match e {
        Error::Invalid(_) => Error::NotFound { entity: "SKU" },
        e => e,
    })?;
    let rows = tx.query(
        &format!(
            "{} WHERE l.variant_id = $1 ORDER BY {}, l.location_id",
            level_select(),
            catalog::sql::location_priority_of("l.location_id")
        ),
        params![variant_id],
    )?;
    let levels: Vec<StockLevel> = rows
        .iter()
        .map(level_from)
        .collect::<std::result::Result<_, _>>()?;
    let mut t = StockTotals::default();
    for l in &levels {
        t.on_hand += l.on_hand;
        t.reserved += l.reserved;
        t.unavailable += l.unavailable;
        t.available += l.available;
        t.incoming += l.incoming;
    }
    Ok(SkuStock {
        sku: sku.to_string(),
        variant_id,
        inventory_policy: policy.as_str().into(),
        levels,
        totals: t,
    })
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LevelQuery {
    pub location_id: Option<i64>,
    /// Part of a SKU.
    pub sku: Option<String>,
    /// Only levels with available at or below zero.
    pub out_of_stock: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn list_levels(tx: &mut dyn Sql, q: &LevelQuery) -> Result<Page<StockLevel>> {
    let mut f = Filter::default();
    if q.out_of_stock == Some(true) {
        f.add("l.on_hand - l.reserved - l.unavailable <= 0", vec![]);
    }
    level_page(
        tx,
        level_select(),
        f,
        q.location_id,
        q.sku.as_deref(),
        q.cursor.as_deref(),
        q.limit,
        level_from,
        |l| (l.variant_id, l.location_id),
    )
}

/// A page of level rows (`select` reads `inventory_levels l`) matching
/// `f` and the usual location, SKU and cursor filters, in (variant, location) order.
#[allow(clippy::too_many_arguments)]
fn level_page<T: Clone>(
    tx: &mut dyn Sql,
    select: &str,
    mut f: Filter,
    location_id: Option<i64>,
    sku: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
    from: fn(&Row) -> std::result::Result<T, DbError>,
    key: fn(&T) -> (i64, i64),
) -> Result<Page<T>> {
    let limit = page_limit(limit)?;
    if let Some(l) = location_id {
        f.add("l.location_id = ?", vec![l.into()]);
    }
    if let Some(s) = sku {
        f.add(
            &format!("l.variant_id IN ({})", catalog::sql::VARIANTS_WITH_SKU_LIKE),
            vec![crate::util::like_contains(s).into()],
        );
    }
    if let Some(c) = cursor {
        let (v, loc) = decode_cursor(c)?;
        let var: i64 = v
            .parse()
            .map_err(|_| Error::invalid("cursor", "is not a cursor this list gave out"))?;
        f.add(
            "(l.variant_id > ? OR (l.variant_id = ? AND l.location_id > ?))",
            vec![var.into(), var.into(), loc.into()],
        );
    }
    let lim = f.push((limit + 1).into());
    let rows = tx.query(
        &format!(
            "{select}{} ORDER BY l.variant_id, l.location_id LIMIT {lim}",
            f.where_sql()
        ),
        &f.params,
    )?;
    let mut items: Vec<T> = rows
        .iter()
        .map(from)
        .collect::<std::result::Result<_, _>>()?;
    Ok(page(&mut items, limit, |x| {
        let (v, l) = key(x);
        encode_cursor(&v.to_string(), l)
    }))
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReorderQuery {
    pub location_id: Option<i64>,
    /// Part of a SKU.
    pub sku: Option<String>,
    /// Only levels at or below their reorder point (true, the default) or every level with one.
    pub low: Option<bool>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The columns [`reorder_from`] reads, from `inventory_levels l`.
fn reorder_select() -> &'static str {
    // Built once: the text never changes.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT {} AS sku, l.variant_id, l.location_id, {} AS code, l.on_hand, l.on_hand - l.reserved - l.unavailable AS available, l.incoming, \
             l.reorder_point, l.reorder_quantity, l.lead_time_days, l.low_since FROM inventory_levels l",
            catalog::sql::sku_of("l.variant_id"),
            catalog::sql::location_code_of("l.location_id")
        )
    });
    &SQL
}

fn reorder_from(r: &Row) -> std::result::Result<api::ReorderLevel, DbError> {
    let (available, incoming, point): (i64, i64, Option<i64>) = (
        r.get("available")?,
        r.get("incoming")?,
        r.get("reorder_point")?,
    );
    let low = point.is_some_and(|p| available + incoming <= p);
    let quantity: Option<i64> = r.get("reorder_quantity")?;
    Ok(api::ReorderLevel {
        sku: r.get("sku")?,
        variant_id: r.get("variant_id")?,
        location_id: r.get("location_id")?,
        location_code: r.get("code")?,
        on_hand: r.get("on_hand")?,
        available,
        incoming,
        reorder_point: point,
        reorder_quantity: quantity,
        lead_time_days: r.get("lead_time_days")?,
        low,
        low_since: opt_rfc3339(r.get("low_since")?),
        suggested_order: match (low, point) {
            (true, Some(p)) => quantity.unwrap_or(0).max(p - available - incoming + 1),
            _ => 0,
        },
    })
}

/// Levels with a reorder point; by default only those that are low, for the planner's list.
pub fn reorder_levels(tx: &mut dyn Sql, q: &ReorderQuery) -> Result<Page<api::ReorderLevel>> {
    let mut f = Filter::default();
    f.add("l.reorder_point IS NOT NULL", vec![]);
    if q.low.unwrap_or(true) {
        f.add(
            "l.on_hand - l.reserved - l.unavailable + l.incoming <= l.reorder_point",
            vec![],
        );
    }
    level_page(
        tx,
        reorder_select(),
        f,
        q.location_id,
        q.sku.as_deref(),
        q.cursor.as_deref(),
        q.limit,
        reorder_from,
        |l| (l.variant_id, l.location_id),
    )
}

/// Sets or clears the reorder point of a SKU at a location; a level already low is flagged (and
/// `inventory.low` sent) at once.
pub fn set_reorder_point(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    r: &api::SetReorderPoint,
) -> Result<api::ReorderLevel> {
    let check = |field: &str, v: Option<i64>, min: i64, max: i64| -> Result<()> {
        match v {
            Some(x) if !(min..=max).contains(&x) => Err(Error::invalid(
                field,
                format!("must be between {min} and {max}"),
            )),
            _ => Ok(()),
        }
    };
    check("reorder_point", r.reorder_point, 0, Quantity::MAX)?;
    check("reorder_quantity", r.reorder_quantity, 1, Quantity::MAX)?;
    check("lead_time_days", r.lead_time_days, 0, 365)?;
    if r.reorder_point.is_none() && (r.reorder_quantity.is_some() || r.lead_time_days.is_some()) {
        return Err(Error::invalid(
            "reorder_point",
            "set a reorder point along with a reorder quantity or lead time",
        ));
    }
    let (variant_id, sku, _) = stock_target(tx, ctx, &r.sku, r.location_id)?;
    lock_level(tx, variant_id, r.location_id)?;
    let before = tx
        .query_one(
            &format!(
                "{} WHERE l.variant_id = $1 AND l.location_id = $2",
                reorder_select()
            ),
            params![variant_id, r.location_id],
        )?
        .map(|r| reorder_from(&r))
        .transpose()?;
    tx.exec(
        "UPDATE inventory_levels SET reorder_point = $1, reorder_quantity = $2, lead_time_days = $3, \
         low_since = CASE WHEN CAST($1 AS BIGINT) IS NULL THEN NULL ELSE low_since END WHERE variant_id = $4 AND location_id = $5",
        params![r.reorder_point, r.reorder_quantity, r.lead_time_days, variant_id, r.location_id],
    )?;
    note_low(tx, ctx, &[(variant_id, r.location_id)])?;
    audit::record(
        tx,
        ctx,
        "inventory.reorder_point_set",
        "inventory_level",
        format!("{sku}@{}", r.location_id),
        json!({"reorder_point": {"from": before.as_ref().and_then(|b| b.reorder_point), "to": r.reorder_point},
               "reorder_quantity": r.reorder_quantity, "lead_time_days": r.lead_time_days}),
    )?;
    let row = tx
        .query_one(
            &format!(
                "{} WHERE l.variant_id = $1 AND l.location_id = $2",
                reorder_select()
            ),
            params![variant_id, r.location_id],
        )?
        .ok_or(Error::NotFound {
            entity: "inventory level",
        })?;
    Ok(reorder_from(&row)?)
}

/// What a channel may sell of a SKU: per location, available less the channel's safety buffer.
pub fn channel_availability(
    tx: &mut dyn Sql,
    channel_id: i64,
    sku: &str,
) -> Result<api::ChannelAvailability> {
    let ch = get_channel(tx, channel_id)?;
    let (variant_id, sku, _) = variant_by_sku(tx, "sku", sku)?;
    let buffer = catalog::safety_buffer(tx, channel_id, variant_id)?;
    let mut locations = Vec::new();
    for loc in ch.location_ids {
        let r = tx.query_one(
            &format!(
                "SELECT l.on_hand - l.reserved - l.unavailable AS available FROM inventory_levels l WHERE l.variant_id = $1 AND l.location_id = $2 AND {}",
                catalog::sql::location_is_active("l.location_id")
            ),
            params![variant_id, loc],
        )?;
        let avail = r
            .map(|r| r.get::<i64>("available"))
            .transpose()?
            .unwrap_or(0);
        locations.push(api::LocationAvailability {
            location_id: loc,
            available: (avail - buffer).max(0),
        });
    }
    Ok(api::ChannelAvailability {
        channel_id,
        sku: sku.to_string(),
        available: locations.iter().map(|l| l.available).sum(),
        locations,
    })
}

fn stock_target(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    sku: &str,
    location_id: i64,
) -> Result<(i64, String, InventoryPolicy)> {
    ctx.actor.require(Permission::InventoryWrite)?;
    let (variant_id, sku, policy) = variant_by_sku(tx, "sku", sku)?;
    let loc = get_location(tx, location_id)
        .map_err(|_| Error::invalid("location_id", format!("no location has id {location_id}")))?;
    if !loc.active {
        return Err(Error::Conflict {
            code: "location_inactive",
            message: format!("{} is inactive", loc.name),
            field: Some("location_id".into()),
        });
    }
    ensure_level(tx, variant_id, location_id, ctx.now)?;
    Ok((variant_id, sku.to_string(), policy))
}

fn change_result(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    variant_id: i64,
    location_id: i64,
    ledger_id: i64,
) -> Result<StockChange> {
    note_low(tx, ctx, &[(variant_id, location_id)])?;
    let level = get_level(tx, variant_id, location_id)?;
    let r = tx
        .query_one(
            &format!("{} WHERE e.id = $1", ledger_select()),
            params![ledger_id],
        )?
        .ok_or(Error::NotFound {
            entity: "ledger entry",
        })?;
    Ok(StockChange {
        level,
        ledger_entry: ledger_from(&r)?,
    })
}

fn note_of(n: Option<&str>) -> Result<Option<String>> {
    Ok(optional_text("note", n, 1000)?)
}

pub fn receive(tx: &mut dyn Sql, ctx: &Ctx, r: &api::ReceiveStock) -> Result<StockChange> {
    let q = Quantity::parse(r.quantity)?;
    let (variant_id, sku, _) = stock_target(tx, ctx, &r.sku, r.location_id)?;
    lock_level(tx, variant_id, r.location_id)?;
    let note = note_of(r.note.as_deref())?;
    let id = apply(
        tx,
        ctx,
        variant_id,
        r.location_id,
        q.get(),
        0,
        LedgerReason::Receipt,
        Reference {
            kind: "receipt",
            id: None,
        },
        note.as_deref(),
    )?;
    clear_backorders(tx, variant_id, r.location_id)?;
    audit::record(
        tx,
        ctx,
        "inventory.received",
        "inventory_level",
        format!("{sku}@{}", r.location_id),
        json!({"quantity": q.get(), "note": note}),
    )?;
    change_result(tx, ctx, variant_id, r.location_id, id)
}

pub fn adjust(tx: &mut dyn Sql, ctx: &Ctx, a: &api::AdjustStock) -> Result<StockChange> {
    if a.delta == 0 || a.delta.abs() > Quantity::MAX {
        return Err(Error::invalid(
            "delta",
            "must be a non-zero number of units, at most 1000000 either way",
        ));
    }
    let note = backroom_domain::values::required_text("note", &a.note, 1000)?;
    let (variant_id, sku, _) = stock_target(tx, ctx, &a.sku, a.location_id)?;
    let (on_hand, reserved, unavailable, _) = lock_level(tx, variant_id, a.location_id)?;
    if on_hand + a.delta < 0 {
        return Err(Error::Conflict {
            code: "negative_on_hand",
            message: format!("{sku} has {on_hand} on hand; cannot remove {}", -a.delta),
            field: Some("delta".into()),
        });
    }
    if on_hand + a.delta < reserved + unavailable && a.delta < 0 {
        return Err(Error::Conflict {
            code: "stock_committed",
            message: format!(
                "{sku} has {reserved} reserved and {unavailable} unavailable of {on_hand} on hand; removing {} would oversell. Release or ship first, or count instead.",
                -a.delta
            ),
            field: Some("delta".into()),
        });
    }
    let id = apply(
        tx,
        ctx,
        variant_id,
        a.location_id,
        a.delta,
        0,
        LedgerReason::Adjustment,
        Reference {
            kind: "adjustment",
            id: None,
        },
        Some(&note),
    )?;
    audit::record(
        tx,
        ctx,
        "inventory.adjusted",
        "inventory_level",
        format!("{sku}@{}", a.location_id),
        json!({"delta": a.delta, "note": note}),
    )?;
    change_result(tx, ctx, variant_id, a.location_id, id)
}

/// Sets on hand to what was counted; the variance is the ledger row. A count is the truth of the
/// shelf, so it is kept even when it leaves a `deny` SKU with fewer units than are reserved: the
/// shortfall's reservations are re-sourced where stock exists or marked backordered
/// ([`crate::orders::edits::cover_shortfall`]), in the same transaction.
pub fn count(tx: &mut dyn Sql, ctx: &Ctx, c: &api::CountStock) -> Result<StockChange> {
    if !(0..=1_000_000_000).contains(&c.counted) {
        return Err(Error::invalid(
            "counted",
            "must be between 0 and 1000000000",
        ));
    }
    let (variant_id, sku, _) = stock_target(tx, ctx, &c.sku, c.location_id)?;
    let (on_hand, reserved, unavailable, _) = lock_level(tx, variant_id, c.location_id)?;
    if c.counted < unavailable {
        return Err(Error::Conflict {
            code: "count_below_unavailable",
            message: format!(
                "{unavailable} units of {sku} are marked unavailable; write them off before counting fewer"
            ),
            field: Some("counted".into()),
        });
    }
    let note = note_of(c.note.as_deref())?;
    let variance = c.counted - on_hand;
    let id = apply(
        tx,
        ctx,
        variant_id,
        c.location_id,
        variance,
        0,
        LedgerReason::Count,
        Reference {
            kind: "count",
            id: None,
        },
        note.as_deref(),
    )?;
    audit::record(
        tx,
        ctx,
        "inventory.counted",
        "inventory_level",
        format!("{sku}@{}", c.location_id),
        json!({"counted": c.counted, "previous": on_hand, "variance": variance}),
    )?;
    cover_counted(
        tx,
        ctx,
        variant_id,
        c.location_id,
        c.counted,
        reserved,
        unavailable,
    )?;
    clear_backorders(tx, variant_id, c.location_id)?;
    change_result(tx, ctx, variant_id, c.location_id, id)
}

/// Stock arrived at a level: backordered units it now covers are backordered no more, for the
/// orders placed first. The caller holds the level's lock.
pub(crate) fn clear_backorders(tx: &mut dyn Sql, variant_id: i64, location_id: i64) -> Result<()> {
    let waiting = tx.query(
        &format!(
            "SELECT r.id, r.backordered FROM reservations r \
             WHERE r.variant_id = $1 AND r.location_id = $2 AND r.released_at IS NULL AND r.backordered > 0 \
             ORDER BY {}, r.id",
            crate::orders::sql::placed_at_of("r.order_id")
        ),
        params![variant_id, location_id],
    )?;
    if waiting.is_empty() {
        return Ok(());
    }
    let backordered: i64 = waiting
        .iter()
        .map(|r| r.get::<i64>("backordered"))
        .sum::<std::result::Result<i64, DbError>>()?;
    let (on_hand, reserved, unavailable, _) = lock_level(tx, variant_id, location_id)?;
    let mut spare = on_hand - unavailable - (reserved - backordered);
    for r in &waiting {
        if spare <= 0 {
            break;
        }
        let n = spare.min(r.get::<i64>("backordered")?);
        tx.exec_deferred(
            "UPDATE reservations SET backordered = backordered - $1 WHERE id = $2",
            params![n, r.get::<i64>("id")?],
        )?;
        spare -= n;
    }
    Ok(())
}

/// After a count: the units promised beyond what the shelf holds (for a `deny` variant, less
/// what is already backordered) are re-sourced or backordered.
pub(crate) fn cover_counted(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    variant_id: i64,
    location_id: i64,
    counted: i64,
    reserved: i64,
    unavailable: i64,
) -> Result<()> {
    let r = tx
        .query_one(
            &format!(
                "SELECT {} AS inventory_policy, CAST(COALESCE((SELECT SUM(r.backordered) FROM reservations r \
                   WHERE r.variant_id = $1 AND r.location_id = $2 AND r.released_at IS NULL), 0) AS BIGINT) AS backordered",
                catalog::sql::inventory_policy_of("$1")
            ),
            params![variant_id, location_id],
        )?
        .ok_or(Error::NotFound { entity: "variant" })?;
    let policy = r
        .get::<Option<String>>("inventory_policy")?
        .ok_or(Error::NotFound { entity: "variant" })?;
    let short = (reserved - r.get::<i64>("backordered")?) - (counted - unavailable);
    if policy == "deny" && short > 0 {
        crate::orders::edits::cover_shortfall(tx, ctx, variant_id, location_id, short)?;
    }
    Ok(())
}

pub fn damage(tx: &mut dyn Sql, ctx: &Ctx, d: &api::DamageStock) -> Result<StockChange> {
    let q = Quantity::parse(d.quantity)?.get();
    let (variant_id, sku, _) = stock_target(tx, ctx, &d.sku, d.location_id)?;
    let (on_hand, reserved, unavailable, _) = lock_level(tx, variant_id, d.location_id)?;
    let note = note_of(d.note.as_deref())?;
    let action = d.action.as_deref().unwrap_or("mark");
    let (oh, un, reason) = match action {
        "mark" => {
            let avail = on_hand - reserved - unavailable;
            if q > avail {
                return Err(Error::Conflict {
                    code: "insufficient_stock",
                    message: format!("only {avail} units of {sku} are available to mark damaged"),
                    field: Some("quantity".into()),
                });
            }
            (0, q, LedgerReason::Damage)
        }
        "release" | "write_off" => {
            if q > unavailable {
                return Err(Error::Conflict {
                    code: "insufficient_unavailable",
                    message: format!("only {unavailable} units of {sku} are unavailable"),
                    field: Some("quantity".into()),
                });
            }
            if action == "release" {
                (0, -q, LedgerReason::DamageRelease)
            } else {
                (-q, -q, LedgerReason::WriteOff)
            }
        }
        _ => {
            return Err(Error::invalid(
                "action",
                "must be mark, release or write_off",
            ));
        }
    };
    let id = apply(
        tx,
        ctx,
        variant_id,
        d.location_id,
        oh,
        un,
        reason,
        Reference {
            kind: "damage",
            id: None,
        },
        note.as_deref(),
    )?;
    audit::record(
        tx,
        ctx,
        &format!("inventory.damage_{action}"),
        "inventory_level",
        format!("{sku}@{}", d.location_id),
        json!({"quantity": q, "note": note}),
    )?;
    change_result(tx, ctx, variant_id, d.location_id, id)
}

/// The columns [`ledger_from`] reads, from `inventory_ledger e`.
fn ledger_select() -> &'static str {
    // Built once: the text never changes.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "SELECT e.id, {} AS sku, e.variant_id, e.location_id, e.on_hand_delta, e.unavailable_delta, e.reason, e.actor, e.reference_type, e.reference_id, e.note, e.created_at FROM inventory_ledger e",
            catalog::sql::sku_of("e.variant_id")
        )
    });
    &SQL
}

fn ledger_from(r: &Row) -> std::result::Result<LedgerEntry, DbError> {
    Ok(LedgerEntry {
        id: r.get("id")?,
        sku: r.get("sku")?,
        variant_id: r.get("variant_id")?,
        location_id: r.get("location_id")?,
        on_hand_delta: r.get("on_hand_delta")?,
        unavailable_delta: r.get("unavailable_delta")?,
        reason: r.get("reason")?,
        actor: r.get("actor")?,
        reference_type: r.get("reference_type")?,
        reference_id: r.get("reference_id")?,
        note: r.get("note")?,
        created_at: rfc3339(r.get("created_at")?),
    })
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LedgerQuery {
    pub sku: String,
    pub location_id: Option<i64>,
    pub reason: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The ledger of a SKU (at one location or all), newest first.
pub fn ledger(tx: &mut dyn Sql, q: &LedgerQuery) -> Result<Page<LedgerEntry>> {
    let limit = page_limit(q.limit)?;
    let (variant_id, _, _) = variant_by_sku(tx, "sku", &q.sku)?;
    let mut f = Filter::default();
    f.add("e.variant_id = ?", vec![variant_id.into()]);
    if let Some(l) = q.location_id {
        f.add("e.location_id = ?", vec![l.into()]);
    }
    if let Some(r) = &q.reason {
        let r = LedgerReason::parse(r)
            .ok_or_else(|| Error::invalid("reason", "is not a ledger reason"))?;
        f.add("e.reason = ?", vec![r.as_str().into()]);
    }
    if let Some(c) = &q.cursor {
        let (_, id) = decode_cursor(c)?;
        f.add("e.id < ?", vec![id.into()]);
    }
    let lim = f.push((limit + 1).into());
    let rows = tx.query(
        &format!(
            "{}{} ORDER BY e.id DESC LIMIT {lim}",
            ledger_select(),
            f.where_sql()
        ),
        &f.params,
    )?;
    let mut items: Vec<LedgerEntry> = rows
        .iter()
        .map(ledger_from)
        .collect::<std::result::Result<_, _>>()?;
    Ok(page(&mut items, limit, |e| encode_cursor("", e.id)))
}

// ----------------------------------------------------------------------------------------------
// Transfers: two legs, so stock in transit is visible (as `incoming` at the destination) and never
// counted twice (it has left the origin's on hand).

pub fn get_transfer(tx: &mut dyn Sql, id: i64) -> Result<Transfer> {
    let r = tx
        .query_one(
            "SELECT id, from_location_id, to_location_id, status, note, created_by, created_at, shipped_at, received_at FROM transfers WHERE id = $1",
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "transfer" })?;
    let lines = tx.query("SELECT sku, variant_id, quantity, received_quantity FROM transfer_lines WHERE transfer_id = $1 ORDER BY id", params![id])?;
    Ok(Transfer {
        id: r.get("id")?,
        from_location_id: r.get("from_location_id")?,
        to_location_id: r.get("to_location_id")?,
        status: r.get("status")?,
        note: r.get("note")?,
        created_by: r.get("created_by")?,
        created_at: rfc3339(r.get("created_at")?),
        shipped_at: opt_rfc3339(r.get("shipped_at")?),
        received_at: opt_rfc3339(r.get("received_at")?),
        lines: lines
            .iter()
            .map(|l| {
                Ok(TransferLine {
                    sku: l.get("sku")?,
                    variant_id: l.get("variant_id")?,
                    quantity: l.get("quantity")?,
                    received_quantity: l.get("received_quantity")?,
                })
            })
            .collect::<std::result::Result<_, DbError>>()?,
    })
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TransferQuery {
    pub status: Option<String>,
    pub location_id: Option<i64>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn list_transfers(tx: &mut dyn Sql, q: &TransferQuery) -> Result<Page<Transfer>> {
    let mut f = Filter::default();
    if let Some(s) = &q.status {
        let s = TransferStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "is not a transfer status"))?;
        f.add("status = ?", vec![s.as_str().into()]);
    }
    if let Some(l) = q.location_id {
        f.add(
            "(from_location_id = ? OR to_location_id = ?)",
            vec![l.into(), l.into()],
        );
    }
    let page = crate::api::PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    crate::util::page_by_id(
        tx,
        "transfers",
        f,
        &page,
        crate::util::Keyset::IdDesc,
        get_transfer,
    )
}

pub fn create_transfer(tx: &mut dyn Sql, ctx: &Ctx, t: &api::NewTransfer) -> Result<Transfer> {
    ctx.actor.require(Permission::InventoryWrite)?;
    if t.from_location_id == t.to_location_id {
        return Err(Error::invalid(
            "to_location_id",
            "must differ from from_location_id",
        ));
    }
    for (field, id) in [
        ("from_location_id", t.from_location_id),
        ("to_location_id", t.to_location_id),
    ] {
        let loc = get_location(tx, id)
            .map_err(|_| Error::invalid(field, format!("no location has id {id}")))?;
        if !loc.active {
            return Err(Error::invalid(field, format!("{} is inactive", loc.name)));
        }
    }
    if t.lines.is_empty() || t.lines.len() > 500 {
        return Err(Error::invalid("lines", "a transfer needs 1 to 500 lines"));
    }
    let mut lines: Vec<(i64, String, i64)> = Vec::new();
    for (i, l) in t.lines.iter().enumerate() {
        let (variant_id, sku, _) = variant_by_sku(tx, &format!("lines[{i}].sku"), &l.sku)?;
        let q = Quantity::parse(l.quantity).map_err(|e| e.under(&format!("lines[{i}]")))?;
        if lines.iter().any(|(v, _, _)| *v == variant_id) {
            return Err(Error::invalid(
                format!("lines[{i}].sku"),
                format!("{sku} appears twice"),
            ));
        }
        lines.push((variant_id, sku.to_string(), q.get()));
    }
    let note = note_of(t.note.as_deref())?;
    let row = tx.query_one(
        "INSERT INTO transfers (from_location_id, to_location_id, status, note, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
        params![t.from_location_id, t.to_location_id, TransferStatus::Draft.as_str(), note, ctx.actor.name.as_str(), ctx.now],
    )?;
    let id = row
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    for (variant_id, sku, q) in &lines {
        tx.exec("INSERT INTO transfer_lines (transfer_id, variant_id, sku, quantity, received_quantity) VALUES ($1, $2, $3, $4, 0)", params![id, *variant_id, sku.as_str(), *q])?;
    }
    audit::record(
        tx,
        ctx,
        "transfer.created",
        "transfer",
        id,
        json!({"from": t.from_location_id, "to": t.to_location_id, "lines": t.lines}),
    )?;
    if t.ship {
        ship_transfer(tx, ctx, id)
    } else {
        get_transfer(tx, id)
    }
}

fn lock_transfer(tx: &mut dyn Sql, id: i64) -> Result<TransferStatus> {
    let sql = format!(
        "SELECT status FROM transfers WHERE id = $1{}",
        tx.for_update()
    );
    let r = tx
        .query_one(&sql, params![id])?
        .ok_or(Error::NotFound { entity: "transfer" })?;
    Ok(TransferStatus::parse(&r.get::<String>("status")?).unwrap_or(TransferStatus::Draft))
}

/// The first leg: units leave the origin (ledger `transfer_out`) and show as incoming at the
/// destination. Only available units can leave: reserved units stay promised.
/// Every level a transfer moves: each line at both ends.
fn transfer_levels(t: &Transfer) -> Vec<(i64, i64)> {
    let mut v: Vec<(i64, i64)> = t
        .lines
        .iter()
        .flat_map(|l| {
            [
                (l.variant_id, t.from_location_id),
                (l.variant_id, t.to_location_id),
            ]
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

pub fn ship_transfer(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Transfer> {
    ctx.actor.require(Permission::InventoryWrite)?;
    let status = lock_transfer(tx, id)?;
    if status != TransferStatus::Draft {
        return Err(Error::conflict(
            "transfer_not_draft",
            format!(
                "the transfer is {}; only a draft can be shipped",
                status.as_str()
            ),
        ));
    }
    let t = get_transfer(tx, id)?;
    let mut lines = t.lines.clone();
    lines.sort_by_key(|l| l.variant_id);
    for (i, l) in lines.iter().enumerate() {
        // Lock in a global order (variant, then location) so concurrent writers cannot deadlock.
        let (a, b) = if t.from_location_id < t.to_location_id {
            (t.from_location_id, t.to_location_id)
        } else {
            (t.to_location_id, t.from_location_id)
        };
        ensure_level(tx, l.variant_id, a, ctx.now)?;
        ensure_level(tx, l.variant_id, b, ctx.now)?;
        lock_level(tx, l.variant_id, a)?;
        lock_level(tx, l.variant_id, b)?;
        let (on_hand, reserved, unavailable, _) = lock_level(tx, l.variant_id, t.from_location_id)?;
        let avail = on_hand - reserved - unavailable;
        if avail < l.quantity {
            return Err(Error::InsufficientStock {
                field: format!("lines[{i}].quantity"),
                sku: l.sku.clone(),
                requested: l.quantity,
                available: avail.max(0),
            });
        }
        apply(
            tx,
            ctx,
            l.variant_id,
            t.from_location_id,
            -l.quantity,
            0,
            LedgerReason::TransferOut,
            Reference {
                kind: "transfer",
                id: Some(id),
            },
            None,
        )?;
        tx.exec_deferred("UPDATE inventory_levels SET incoming = incoming + $1, updated_at = $2 WHERE variant_id = $3 AND location_id = $4", params![l.quantity, ctx.now, l.variant_id, t.to_location_id])?;
    }
    tx.exec(
        "UPDATE transfers SET status = $1, shipped_at = $2, updated_at = $2 WHERE id = $3",
        params![TransferStatus::InTransit.as_str(), ctx.now, id],
    )?;
    audit::record(
        tx,
        ctx,
        "transfer.shipped",
        "transfer",
        id,
        json!({"status": {"from": "draft", "to": "in_transit"}}),
    )?;
    let t = get_transfer(tx, id)?;
    note_low(tx, ctx, &transfer_levels(&t))?;
    Ok(t)
}

/// The second leg: units arrive (ledger `transfer_in`) and stop being incoming.
pub fn receive_transfer(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    r: &api::ReceiveTransfer,
) -> Result<Transfer> {
    ctx.actor.require(Permission::InventoryWrite)?;
    let status = lock_transfer(tx, id)?;
    if !matches!(
        status,
        TransferStatus::InTransit | TransferStatus::PartiallyReceived
    ) {
        return Err(Error::conflict(
            "transfer_not_in_transit",
            format!(
                "the transfer is {}; only shipped transfers can be received",
                status.as_str()
            ),
        ));
    }
    let t = get_transfer(tx, id)?;
    let mut receipts: Vec<(usize, i64)> = Vec::new();
    match &r.lines {
        None => {
            for (k, l) in t.lines.iter().enumerate() {
                if l.quantity > l.received_quantity {
                    receipts.push((k, l.quantity - l.received_quantity));
                }
            }
        }
        Some(lines) => {
            for (i, x) in lines.iter().enumerate() {
                let k = t.lines.iter().position(|l| l.sku == x.sku).ok_or_else(|| {
                    Error::invalid(
                        format!("lines[{i}].sku"),
                        format!("{} is not on this transfer", x.sku),
                    )
                })?;
                let q = Quantity::parse(x.quantity)
                    .map_err(|e| e.under(&format!("lines[{i}]")))?
                    .get();
                let outstanding = t.lines[k].quantity - t.lines[k].received_quantity;
                if q > outstanding {
                    return Err(Error::invalid(
                        format!("lines[{i}].quantity"),
                        format!("only {outstanding} units of {} are outstanding", x.sku),
                    ));
                }
                if receipts.iter().any(|(j, _)| *j == k) {
                    return Err(Error::invalid(format!("lines[{i}].sku"), "listed twice"));
                }
                receipts.push((k, q));
            }
        }
    }
    if receipts.is_empty() {
        return Err(Error::invalid("lines", "nothing to receive"));
    }
    receipts.sort_by_key(|(k, _)| t.lines[*k].variant_id);
    for (k, q) in &receipts {
        let l = &t.lines[*k];
        lock_level(tx, l.variant_id, t.to_location_id)?;
        apply(
            tx,
            ctx,
            l.variant_id,
            t.to_location_id,
            *q,
            0,
            LedgerReason::TransferIn,
            Reference {
                kind: "transfer",
                id: Some(id),
            },
            None,
        )?;
        tx.exec_deferred("UPDATE inventory_levels SET incoming = incoming - $1 WHERE variant_id = $2 AND location_id = $3", params![*q, l.variant_id, t.to_location_id])?;
        clear_backorders(tx, l.variant_id, t.to_location_id)?;
        tx.exec_deferred("UPDATE transfer_lines SET received_quantity = received_quantity + $1 WHERE transfer_id = $2 AND variant_id = $3", params![*q, id, l.variant_id])?;
    }
    let after = get_transfer(tx, id)?;
    let done = after
        .lines
        .iter()
        .all(|l| l.received_quantity == l.quantity);
    let new_status = if done {
        TransferStatus::Received
    } else {
        TransferStatus::PartiallyReceived
    };
    tx.exec(
        "UPDATE transfers SET status = $1, received_at = $2, updated_at = $3 WHERE id = $4",
        params![
            new_status.as_str(),
            if done { Some(ctx.now) } else { None },
            ctx.now,
            id
        ],
    )?;
    audit::record(
        tx,
        ctx,
        "transfer.received",
        "transfer",
        id,
        json!({"received": receipts.iter().map(|(k, q)| json!({"sku": t.lines[*k].sku, "quantity": q})).collect::<Vec<_>>(), "status": new_status.as_str()}),
    )?;
    let t = get_transfer(tx, id)?;
    note_low(tx, ctx, &transfer_levels(&t))?;
    Ok(t)
}

pub fn cancel_transfer(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Transfer> {
    ctx.actor.require(Permission::InventoryWrite)?;
    let status = lock_transfer(tx, id)?;
    if status != TransferStatus::Draft {
        return Err(Error::conflict(
            "transfer_not_draft",
            format!(
                "the transfer is {}; only a draft can be cancelled (receive shipped units instead)",
                status.as_str()
            ),
        ));
    }
    tx.exec(
        "UPDATE transfers SET status = $1, updated_at = $2 WHERE id = $3",
        params![TransferStatus::Cancelled.as_str(), ctx.now, id],
    )?;
    audit::record(
        tx,
        ctx,
        "transfer.cancelled",
        "transfer",
        id,
        json!({"status": {"from": "draft", "to": "cancelled"}}),
    )?;
    let t = get_transfer(tx, id)?;
    note_low(tx, ctx, &transfer_levels(&t))?;
    Ok(t)
}
