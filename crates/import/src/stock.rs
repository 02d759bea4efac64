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

/// A customer as a file gives it: Backroom's customer export, or Magento's customer CSV
/// (`firstname,lastname,email,...,telephone`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomerRecord {
    pub email: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub accepts_marketing: Option<bool>,
    pub line: u64,
}

/// Reads a customer file whole (customers are few next to orders): the records and the refusals.
pub fn read_customers<R: Read>(input: R) -> (Vec<CustomerRecord>, Vec<RowError>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut t = match Table::new(input) {
        Ok(t) => t,
        Err(e) => return (out, vec![e]),
    };
    let magento = t.header().iter().any(|h| h == "firstname");
    if !t.header().iter().any(|h| h == "email") {
        return (out, vec![RowError::new(1, Some("email"), "missing column")]);
    }
    let mut seen: HashSet<String> = HashSet::new();
    while let Some(r) = t.next_row() {
        let row = match r {
            Ok(r) => r,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let rec = (|| {
            let email = row.require("email")?.to_string();
            if !seen.insert(email.to_lowercase()) {
                return Err(row.error(
                    Some("email"),
                    format!("{email} appears on an earlier line too"),
                ));
            }
            let (f, l, p) = if magento {
                ("firstname", "lastname", "telephone")
            } else {
                ("first_name", "last_name", "phone")
            };
            Ok(CustomerRecord {
                email,
                first_name: row.get(f).map(str::to_string),
                last_name: row.get(l).map(str::to_string),
                phone: row.get(p).map(str::to_string),
                accepts_marketing: row
                    .get("accepts_marketing")
                    .map(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes")),
                line: row.line,
            })
        })();
        match rec {
            Ok(c) => out.push(c),
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}
