//! Customer files: Backroom's customer export, or Magento's customer CSV.

use crate::RowError;
use crate::table::Table;
use std::collections::HashSet;
use std::io::Read;

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
pub fn read<R: Read>(input: R) -> (Vec<CustomerRecord>, Vec<RowError>) {
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
