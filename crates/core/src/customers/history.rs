//! Bulk reads and writes of customers for the importer: an order history's customers are found
//! by email key a thousand at a time, and those first seen are created with multi-row inserts,
//! where [`super::upsert_customer`] would cost a round trip (or two) per customer. The importer
//! decides who each customer is; this module knows how their rows are read and written.

use crate::db::{Sql, Val, in_list, insert_rows};
use crate::{Error, Result};
use std::collections::HashMap;

/// A customer an order history names first, created and updated at `at`.
#[derive(Clone, Debug)]
pub struct HistoricalCustomer {
    /// The address as the file writes it.
    pub email: String,
    /// The address as customers are matched: lower case.
    pub email_key: String,
    pub first_name: String,
    pub note: Option<String>,
    pub at: i64,
    /// A placeholder for orders without a customer: counted in orders and sales, never in the
    /// customer KPIs.
    pub guest: bool,
}

/// Customer ids by email key, for those of `keys` that exist (a query per 1,000 keys).
pub fn ids_by_email_key(tx: &mut dyn Sql, keys: &[String]) -> Result<HashMap<String, i64>> {
    let mut customers: HashMap<String, i64> = HashMap::new();
    for chunk in keys.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|e| e.as_str().into()).collect();
        let (cond, list) = in_list(tx.dialect(), "email_key", 1, &vals);
        for r in tx.query(
            &format!("SELECT email_key, id FROM customers WHERE {cond}"),
            &[list],
        )? {
            customers.insert(r.get("email_key")?, r.get("id")?);
        }
    }
    Ok(customers)
}

/// Inserts the customers, with their first name and note, in multi-row inserts; the new ids by
/// email key. Email keys must be new: a taken one fails the batch.
pub fn insert_customers(
    tx: &mut dyn Sql,
    new: &[HistoricalCustomer],
) -> Result<HashMap<String, i64>> {
    insert(tx, new, true)
}

/// [`insert_customers`] for customers known by their email alone: the first name and the note
/// keep their defaults (empty, none), and each row is two parameters shorter. A customer with a
/// name or a note is refused (nothing is written): [`insert_customers`] writes those.
pub fn insert_unnamed_customers(
    tx: &mut dyn Sql,
    new: &[HistoricalCustomer],
) -> Result<HashMap<String, i64>> {
    if let Some(c) = new
        .iter()
        .find(|c| !c.first_name.is_empty() || c.note.is_some())
    {
        return Err(Error::invalid(
            "customers",
            format!("{} has a name or a note, which would be lost", c.email),
        ));
    }
    insert(tx, new, false)
}

/// The customers' rows, with the first name and the note when `named`.
fn insert(
    tx: &mut dyn Sql,
    new: &[HistoricalCustomer],
    named: bool,
) -> Result<HashMap<String, i64>> {
    let rows: Vec<Vec<Val>> = new
        .iter()
        .map(|c| {
            let mut row: Vec<Val> = vec![c.email.as_str().into(), c.email_key.as_str().into()];
            if named {
                row.extend([c.first_name.as_str().into(), c.note.as_deref().into()]);
            }
            row.extend([c.at.into(), c.at.into(), i64::from(c.guest).into()]);
            row
        })
        .collect();
    let (head, cols) = if named {
        (
            "INSERT INTO customers (email, email_key, first_name, note, created_at, updated_at, guest)",
            7,
        )
    } else {
        (
            "INSERT INTO customers (email, email_key, created_at, updated_at, guest)",
            5,
        )
    };
    ids_of(insert_rows(tx, head, cols, &rows, Some("email_key, id"))?)
}

/// The ids by email key of rows returned as `email_key, id`.
fn ids_of(rows: Vec<crate::Row>) -> Result<HashMap<String, i64>> {
    rows.iter()
        .map(|r| Ok((r.get::<String>("email_key")?, r.get::<i64>("id")?)))
        .collect()
}
