//! Locking the stock levels an order could draw on: every level of its variants at its
//! channel's locations, in the global lock order (variant, then location) every writer uses, so
//! concurrent orders cannot deadlock. Placement sends the query in its one batch, naming the
//! variants by SKU and the channel by code (it needs no earlier answer); edits and re-sourcing
//! name them by id.

use super::ensure_level;
use crate::db::{Dialect, Row, Sql};
use crate::{Result, Val, catalog};
use std::sync::LazyLock;

/// How the lock query names the variants (`$2..`) and the channel (`$1`).
#[derive(Clone, Copy)]
pub(crate) enum Keys {
    /// Variants by SKU, the channel by code: placement's batch.
    SkuAndCode,
    /// Variants and the channel by id.
    Ids,
}

/// The query that locks every stock level of `n` variants (`$2..`) at the locations of one
/// channel (`$1`), with the channel's safety buffer, in (variant, location) order (PostgreSQL
/// takes the row locks after the sort). Each row is a [`LockedLevel`].
pub(crate) fn lock_levels_sql(dialect: Dialect, keys: Keys, n: usize) -> String {
    // The channel's parts never change: built once (placement runs this for every order).
    static BY_CODE: LazyLock<(String, String)> = LazyLock::new(|| {
        (
            catalog::sql::location_ids_of_channel_code("$1"),
            catalog::sql::buffer_of_channel_code("$1", "l.variant_id"),
        )
    });
    static BY_ID: LazyLock<(String, String)> = LazyLock::new(|| {
        (
            catalog::sql::location_ids_of_channel("$1"),
            catalog::sql::buffer_of_channel("$1", "l.variant_id"),
        )
    });
    let list = crate::db::placeholders(2, n);
    let (variants, (locations, buffer)) = match keys {
        Keys::SkuAndCode => (catalog::sql::variant_ids_by_skus(&list), &*BY_CODE),
        Keys::Ids => (list, &*BY_ID),
    };
    format!(
        "SELECT l.variant_id, l.location_id, l.on_hand, l.reserved, l.unavailable, {buffer} AS channel_buffer, l.reorder_point \
         FROM inventory_levels l WHERE l.location_id IN ({locations}) AND l.variant_id IN ({variants}) \
         ORDER BY l.variant_id, l.location_id{}",
        match dialect {
            Dialect::Postgres => " FOR UPDATE OF l",
            Dialect::Sqlite => "",
        }
    )
}

/// A stock level locked by [`lock_levels_sql`], with the channel's safety buffer.
pub(crate) struct LockedLevel {
    pub variant_id: i64,
    pub location_id: i64,
    pub on_hand: i64,
    pub reserved: i64,
    pub unavailable: i64,
    pub channel_buffer: Option<i64>,
    pub reorder_point: Option<i64>,
}

/// Decodes [`lock_levels_sql`]'s rows.
pub(crate) fn locked_levels(rows: &[Row]) -> Result<Vec<LockedLevel>> {
    rows.iter()
        .map(|r| {
            Ok(LockedLevel {
                variant_id: r.get("variant_id")?,
                location_id: r.get("location_id")?,
                on_hand: r.get("on_hand")?,
                reserved: r.get("reserved")?,
                unavailable: r.get("unavailable")?,
                channel_buffer: r.get("channel_buffer")?,
                reorder_point: r.get("reorder_point")?,
            })
        })
        .collect()
}

/// Whether locked levels cover every (variant, location) pair.
pub(crate) fn levels_complete(
    rows: &[LockedLevel],
    variant_ids: &[i64],
    locations: &[i64],
) -> bool {
    variant_ids.iter().all(|v| {
        locations.iter().all(|l| {
            rows.iter()
                .any(|r| r.variant_id == *v && r.location_id == *l)
        })
    })
}

/// Locks every stock level of these variants at the channel's locations ([`lock_levels_sql`]);
/// if a level row does not exist yet, creates the missing ones and locks again.
pub(crate) fn lock_channel_levels(
    tx: &mut dyn Sql,
    now: i64,
    channel_id: i64,
    variant_ids: &[i64],
    locations: &[i64],
) -> Result<Vec<LockedLevel>> {
    let lock_sql = lock_levels_sql(tx.dialect(), Keys::Ids, variant_ids.len());
    let mut lock_params: Vec<Val> = vec![channel_id.into()];
    lock_params.extend(variant_ids.iter().map(|v| Val::from(*v)));
    let rows = locked_levels(&tx.query(&lock_sql, &lock_params)?)?;
    if levels_complete(&rows, variant_ids, locations) {
        return Ok(rows);
    }
    for v in variant_ids {
        for l in locations {
            ensure_level(tx, *v, *l, now)?;
        }
    }
    locked_levels(&tx.query(&lock_sql, &lock_params)?)
}
