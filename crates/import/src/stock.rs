//! Stock files: `sku,location,quantity` (location by code), one row per SKU and location,
//! streamed row by row.

use crate::RowError;
use crate::money::parse_int;
use crate::table::{SkipBom, Table};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockRecord {
    pub sku: String,
    pub location: String,
    pub quantity: i64,
    pub line: u64,
}

/// Reads stock rows one at a time. Repeated (SKU, location) pairs are refused; only an 8-byte
/// hash per pair is kept to notice them.
pub struct StockReader<R: Read> {
    table: Table<SkipBom<R>>,
    seen: HashSet<u64>,
}

impl<R: Read> StockReader<R> {
    pub fn new(input: R) -> Result<Self, RowError> {
        let table = Table::new(input)?;
        for c in ["sku", "location", "quantity"] {
            if !table.header().iter().any(|h| h == c) {
                return Err(RowError::new(1, Some(c), "missing column"));
            }
        }
        Ok(StockReader {
            table,
            seen: HashSet::new(),
        })
    }

    pub fn bytes_read(&self) -> u64 {
        self.table.position()
    }
}

impl<R: Read> Iterator for StockReader<R> {
    type Item = Result<StockRecord, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let row = match self.table.next_row()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let seen = &mut self.seen;
        Some((|| {
            let sku = row.require("sku")?.to_string();
            let location = row.require("location")?.to_string();
            let quantity =
                parse_int(row.require("quantity")?).map_err(|m| row.error(Some("quantity"), m))?;
            if !(-1_000_000..=1_000_000).contains(&quantity) {
                return Err(row.error(Some("quantity"), "must be between -1000000 and 1000000"));
            }
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&sku, &location).hash(&mut h);
            if !seen.insert(h.finish()) {
                return Err(row.error(
                    Some("sku"),
                    format!("{sku} at {location} appears on an earlier line too"),
                ));
            }
            Ok(StockRecord {
                sku,
                location,
                quantity,
                line: row.line,
            })
        })())
    }
}

/// Reads a whole stock file: the records, and the rows refused.
pub fn read<R: Read>(input: R) -> (Vec<StockRecord>, Vec<RowError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    match StockReader::new(input) {
        Err(e) => errors.push(e),
        Ok(r) => {
            for item in r {
                match item {
                    Ok(v) => out.push(v),
                    Err(e) => errors.push(e),
                }
            }
        }
    }
    (out, errors)
}
