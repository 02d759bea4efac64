//! Stock files: `sku,location,quantity` (location by code), one row per SKU and location.

use crate::RowError;
use crate::money::parse_int;
use crate::table::Table;
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockRecord {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub line: u64,
}

/// Reads a whole stock file: the records, and the rows refused.
pub fn read<R: Read>(input: R) -> (Vec<StockRecord>, Vec<RowError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut t = match Table::new(input) {
        Ok(t) => t,
        Err(e) => return (out, vec![e]),
    };
    for c in ["sku", "location", "quantity"] {
        if !t.header().iter().any(|h| h == c) {
            return (out, vec![RowError::new(1, Some(c), "missing column")]);
        }
    }
    let mut seen: std::collections::HashMap<(String, String), u64> = Default::default();
    while let Some(r) = t.next_row() {
        let row = match r {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let rec = (|| {
            let sku = row.require("sku")?.to_string();
            let location = row.require("location")?.to_string();
            let quantity =
                parse_int(row.require("quantity")?).map_err(|m| row.error(Some("quantity"), m))?;
            if !(-1_000_000..=1_000_000).contains(&quantity) {
                return Err(row.error(Some("quantity"), "must be between -1000000 and 1000000"));
            }
            if let Some(first) = seen.insert((sku.clone(), location.clone()), row.line) {
                return Err(row.error(
                    Some("sku"),
                    format!("{sku} at {location} is already on line {first}"),
                ));
            }
            Ok(StockRecord {
                sku,
                location,
                quantity,
                line: row.line,
            })
        })();
        match rec {
            Ok(r) => out.push(r),
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}
