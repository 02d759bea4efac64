//! Bulk writes of historical returns for the importer: an order history's cancellations become
//! returns and their lines in a multi-row insert and a `COPY` (on PostgreSQL), where [`super::create`]
//! and [`super::receive`] would cost round trips per return. The importer decides what each return
//! is (its status, its lines' reason and units); this module knows how the rows are written.

use crate::Result;
use crate::db::{Sql, Val, insert_rows};
use std::collections::HashMap;

/// A return of a historical order.
#[derive(Clone, Debug)]
pub struct HistoricalReturn {
    pub order_id: i64,
    pub status: String,
    /// What the return came from (for a cancellation, its number); with the order, it names the
    /// return in what [`insert_returns`] gives back.
    pub note: String,
    /// Who recorded it, by name.
    pub created_by: String,
    pub created_at: i64,
    pub received_at: Option<i64>,
}

/// A line of a historical return.
#[derive(Clone, Debug)]
pub struct HistoricalReturnLine {
    pub return_id: i64,
    pub order_line_id: i64,
    pub quantity: i64,
    pub reason: String,
    pub received_quantity: i64,
    pub written_off: i64,
}

/// Inserts the returns in multi-row inserts; the new ids by (order, note).
pub fn insert_returns(
    tx: &mut dyn Sql,
    new: &[HistoricalReturn],
) -> Result<HashMap<(i64, String), i64>> {
    let rows: Vec<Vec<Val>> = new
        .iter()
        .map(|r| {
            vec![
                r.order_id.into(),
                r.status.as_str().into(),
                r.note.as_str().into(),
                r.created_by.as_str().into(),
                r.created_at.into(),
                r.received_at.into(),
            ]
        })
        .collect();
    insert_rows(
        tx,
        "INSERT INTO returns (order_id, status, note, created_by, created_at, received_at)",
        6,
        &rows,
        Some("id, order_id, note"),
    )?
    .iter()
    .map(|r| {
        Ok((
            (r.get::<i64>("order_id")?, r.get::<String>("note")?),
            r.get::<i64>("id")?,
        ))
    })
    .collect()
}

/// Appends the returns' lines (`copy_rows`: `COPY` on PostgreSQL).
pub fn insert_lines(tx: &mut dyn Sql, lines: &[HistoricalReturnLine]) -> Result<()> {
    let rows: Vec<Vec<Val>> = lines
        .iter()
        .map(|l| {
            vec![
                l.return_id.into(),
                l.order_line_id.into(),
                l.quantity.into(),
                l.reason.as_str().into(),
                l.received_quantity.into(),
                l.written_off.into(),
            ]
        })
        .collect();
    tx.copy_rows(
        "return_lines",
        &[
            "return_id",
            "order_line_id",
            "quantity",
            "reason",
            "received_quantity",
            "written_off",
        ],
        &rows,
    )?;
    Ok(())
}
