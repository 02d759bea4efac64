//! Bulk writes of the products an order history names first, for the importer: one multi-row
//! insert for the products and one for their variants per chunk, where creating them one by one
//! through [`super::create_product`] would cost a round trip (and a check, an audit row) each. The
//! importer decides what each product is; this module only knows how the rows are written.

use crate::Result;
use crate::db::{Sql, Val, insert_rows};
use backroom_domain::order::{InventoryPolicy, ProductStatus};
use std::collections::HashMap;

/// A product an order history names first, with its one variant (the first position), created
/// and updated at `at`.
#[derive(Clone, Debug)]
pub struct FirstSeenProduct {
    pub handle: String,
    pub title: String,
    pub status: ProductStatus,
    pub sku: String,
    /// The variant's title.
    pub variant_title: String,
    /// The variant's price, in minor units.
    pub price: i64,
    pub inventory_policy: InventoryPolicy,
    pub at: i64,
}

/// Inserts the products (one multi-row insert per chunk) and then their variants (likewise);
/// the new variants' ids by SKU. Handles and SKUs must be new: a taken one fails the batch.
pub fn insert_first_seen(
    tx: &mut dyn Sql,
    new: &[FirstSeenProduct],
) -> Result<HashMap<String, i64>> {
    let prows: Vec<Vec<Val>> = new
        .iter()
        .map(|n| {
            vec![
                n.handle.as_str().into(),
                n.title.as_str().into(),
                n.status.as_str().into(),
                n.at.into(),
                n.at.into(),
            ]
        })
        .collect();
    let product_ids = insert_rows(
        tx,
        "INSERT INTO products (handle, title, status, created_at, updated_at)",
        5,
        &prows,
        Some("handle, id"),
    )?
    .iter()
    .map(|r| Ok((r.get::<String>("handle")?, r.get::<i64>("id")?)))
    .collect::<Result<HashMap<String, i64>>>()?;
    let vrows: Vec<Vec<Val>> = new
        .iter()
        .map(|n| {
            vec![
                product_ids.get(&n.handle).copied().unwrap_or(0).into(),
                n.sku.as_str().into(),
                n.variant_title.as_str().into(),
                n.price.into(),
                n.inventory_policy.as_str().into(),
                0i64.into(),
                n.at.into(),
                n.at.into(),
            ]
        })
        .collect();
    let mut variants = HashMap::with_capacity(new.len());
    for r in insert_rows(
        tx,
        "INSERT INTO variants (product_id, sku, title, price_minor, inventory_policy, position, created_at, updated_at)",
        8,
        &vrows,
        Some("sku, id"),
    )? {
        variants.insert(r.get("sku")?, r.get("id")?);
    }
    Ok(variants)
}
