//! Order histories in the UCI Online Retail layout:
//! `InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country`.
//!
//! Rows of one invoice follow each other; the reader streams invoices one at a time, so memory
//! does not grow with the file. Invoices starting with `C` are cancellations; `A` invoices are
//! bad-debt adjustments, not sales.

use crate::RowError;
use crate::money::{parse_int, parse_minor};
use crate::table::{SkipBom, Table};
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceLine {
    pub stock_code: String,
    pub description: String,
    /// Positive: units sold, or (on a cancellation) units taken back.
    pub quantity: i64,
    pub unit_price: i64,
    pub line: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub number: String,
    pub cancellation: bool,
    /// `None` for a guest.
    pub customer: Option<String>,
    pub country: String,
    /// Local time as written: `2010-12-01 08:26:00`.
    pub date: String,
    pub lines: Vec<InvoiceLine>,
    pub first_line: u64,
    /// The file it came from, when an import reads several.
    pub file: Option<String>,
}

/// What the reader yields: an invoice, or a row it refused (with the row's fields, for the file
/// of rejected rows).
#[derive(Debug)]
pub enum Item {
    Invoice(Invoice),
    Rejected(RowError, Vec<String>),
}

pub struct InvoiceReader<R: Read> {
    table: Table<SkipBom<R>>,
    current: Option<Invoice>,
    queue: std::collections::VecDeque<Item>,
    done: bool,
    exponent: u32,
}

impl<R: Read> InvoiceReader<R> {
    pub fn new(input: R, exponent: u32) -> Result<Self, RowError> {
        let table = Table::new(input)?;
        for c in [
            "InvoiceNo",
            "StockCode",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ] {
            if !table.header().iter().any(|h| h == c) {
                return Err(RowError::new(1, Some(c), "missing column"));
            }
        }
        Ok(InvoiceReader {
            table,
            current: None,
            queue: Default::default(),
            done: false,
            exponent,
        })
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.table.position()
    }
}

/// `2010-12-01 08:26:00` (or with `T`, or without seconds) checked for shape and range.
fn check_date(s: &str) -> Result<String, String> {
    let s = s.replace('T', " ");
    let (d, t) = s
        .split_once(' ')
        .ok_or("is not a date and time like 2010-12-01 08:26:00")?;
    let dp: Vec<&str> = d.split('-').collect();
    let tp: Vec<&str> = t.split(':').collect();
    let num = |x: &str, lo: u32, hi: u32| x.parse::<u32>().ok().filter(|v| (lo..=hi).contains(v));
    let ok = dp.len() == 3
        && dp[0].len() == 4
        && num(dp[0], 1900, 2999).is_some()
        && num(dp[1], 1, 12).is_some()
        && num(dp[2], 1, 31).is_some()
        && (tp.len() == 2 || tp.len() == 3)
        && num(tp[0], 0, 23).is_some()
        && num(tp[1], 0, 59).is_some()
        && tp.get(2).is_none_or(|x| num(x, 0, 59).is_some());
    if !ok {
        return Err(format!(
            "{s:?} is not a date and time like 2010-12-01 08:26:00"
        ));
    }
    Ok(if tp.len() == 2 { format!("{s}:00") } else { s })
}

/// A parsed row (its invoice head and line), or the refusal with the row's fields.
type Parsed = Result<(Invoice, InvoiceLine), (RowError, Vec<String>)>;

impl<R: Read> InvoiceReader<R> {
    fn parse_row(&mut self) -> Option<Parsed> {
        let exponent = self.exponent;
        let row = match self.table.next_row()? {
            Ok(r) => r,
            Err(e) => return Some(Err((e, Vec::new()))),
        };
        let fields = row.fields();
        let r = (|| {
            let number = row.require("InvoiceNo")?.to_string();
            if number.starts_with('A') {
                return Err(row.error(
                    Some("InvoiceNo"),
                    "an A invoice is a bad-debt adjustment, not a sale",
                ));
            }
            let cancellation = number.starts_with('C');
            let digits = number.trim_start_matches('C');
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(row.error(
                    Some("InvoiceNo"),
                    format!("{number:?} is not an invoice number"),
                ));
            }
            let stock_code = row.require("StockCode")?.to_string();
            let quantity =
                parse_int(row.require("Quantity")?).map_err(|m| row.error(Some("Quantity"), m))?;
            if quantity == 0 {
                return Err(row.error(Some("Quantity"), "is zero"));
            }
            if !cancellation && quantity < 0 {
                return Err(row.error(
                    Some("Quantity"),
                    "is negative on a sale: a stock adjustment, not an order line",
                ));
            }
            if cancellation && quantity > 0 {
                return Err(row.error(Some("Quantity"), "is positive on a cancellation"));
            }
            let unit_price = parse_minor(row.require("UnitPrice")?, exponent)
                .map_err(|m| row.error(Some("UnitPrice"), m))?;
            if unit_price < 0 {
                return Err(row.error(Some("UnitPrice"), "is negative"));
            }
            let date = check_date(row.require("InvoiceDate")?)
                .map_err(|m| row.error(Some("InvoiceDate"), m))?;
            let customer = match row.get("CustomerID") {
                None => None,
                Some(c) => Some(
                    parse_int(c)
                        .map_err(|m| row.error(Some("CustomerID"), m))?
                        .to_string(),
                ),
            };
            let country = row.require("Country")?.to_string();
            Ok((
                Invoice {
                    number,
                    cancellation,
                    customer,
                    country,
                    date,
                    lines: Vec::new(),
                    first_line: row.line,
                    file: None,
                },
                InvoiceLine {
                    stock_code,
                    description: row.get("Description").unwrap_or("").to_string(),
                    quantity: quantity.abs(),
                    unit_price,
                    line: row.line,
                },
            ))
        })();
        Some(r.map_err(|e| (e, fields)))
    }
}

impl<R: Read> Iterator for InvoiceReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(i) = self.queue.pop_front() {
                return Some(i);
            }
            if self.done {
                return self.current.take().map(Item::Invoice);
            }
            match self.parse_row() {
                None => self.done = true,
                Some(Err((e, f))) => return Some(Item::Rejected(e, f)),
                Some(Ok((head, line))) => match &mut self.current {
                    Some(cur) if cur.number == head.number => {
                        if cur.customer != head.customer {
                            return Some(Item::Rejected(
                                RowError::new(
                                    line.line,
                                    Some("CustomerID"),
                                    format!(
                                        "invoice {} already belongs to another customer",
                                        cur.number
                                    ),
                                ),
                                Vec::new(),
                            ));
                        }
                        cur.lines.push(line);
                    }
                    _ => {
                        let mut head = head;
                        head.lines.push(line);
                        if let Some(prev) = self.current.replace(head) {
                            self.queue.push_back(Item::Invoice(prev));
                        }
                    }
                },
            }
        }
    }
}

/// The ISO 3166 code of a country as the Online Retail file names it (`EIRE`, `RSA`, `USA`,
/// `United Kingdom`...); `None` for names that are no country (`Unspecified`, `European
/// Community`, `Channel Islands`, which ISO splits into Jersey and Guernsey).
pub fn country_code(name: &str) -> Option<&'static str> {
    Some(match name.trim() {
        "United Kingdom" => "GB",
        "EIRE" | "Ireland" => "IE",
        "Germany" => "DE",
        "France" => "FR",
        "Spain" => "ES",
        "Netherlands" => "NL",
        "Belgium" => "BE",
        "Switzerland" => "CH",
        "Portugal" => "PT",
        "Australia" => "AU",
        "Norway" => "NO",
        "Italy" => "IT",
        "Finland" => "FI",
        "Cyprus" => "CY",
        "Sweden" => "SE",
        "Austria" => "AT",
        "Denmark" => "DK",
        "Japan" => "JP",
        "Poland" => "PL",
        "Israel" => "IL",
        "USA" => "US",
        "Hong Kong" => "HK",
        "Singapore" => "SG",
        "Iceland" => "IS",
        "Canada" => "CA",
        "Greece" => "GR",
        "Malta" => "MT",
        "United Arab Emirates" => "AE",
        "RSA" => "ZA",
        "Lebanon" => "LB",
        "Lithuania" => "LT",
        "Brazil" => "BR",
        "Czech Republic" => "CZ",
        "Bahrain" => "BH",
        "Saudi Arabia" => "SA",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn countries_of_the_file() {
        assert_eq!(super::country_code("EIRE"), Some("IE"));
        assert_eq!(super::country_code("United Kingdom"), Some("GB"));
        assert_eq!(super::country_code("RSA"), Some("ZA"));
        assert_eq!(super::country_code("Unspecified"), None);
    }
    use super::*;

    const HEAD: &str =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n";

    fn items(body: &str) -> Vec<Item> {
        InvoiceReader::new(format!("{HEAD}{body}").as_bytes(), 2)
            .unwrap()
            .collect()
    }

    #[test]
    fn invoices_group_and_bad_rows_are_named() {
        let got = items(
            "536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n\
             536365,71053,LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n\
             536366,22633,WARMER,-6,2010-12-01 08:28:00,1.85,,United Kingdom\n\
             C536379,D,Discount,-1,2010-12-01 09:41:00,27.50,14527.0,United Kingdom\n\
             536367,84879,BIRD,x,2010-12-01 08:34:00,1.69,13047.0,United Kingdom\n\
             A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,11062.06,,United Kingdom\n",
        );
        let inv: Vec<&Invoice> = got
            .iter()
            .filter_map(|i| match i {
                Item::Invoice(v) => Some(v),
                _ => None,
            })
            .collect();
        let rej: Vec<&RowError> = got
            .iter()
            .filter_map(|i| match i {
                Item::Rejected(e, _) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(inv.len(), 2);
        assert_eq!(inv[0].lines.len(), 2);
        assert_eq!(inv[0].lines[0].unit_price, 255);
        assert_eq!(inv[0].customer.as_deref(), Some("17850"));
        assert!(inv[1].cancellation);
        assert_eq!(inv[1].lines[0].quantity, 1);
        assert_eq!(
            rej.iter()
                .map(|e| (e.line, e.column.clone().unwrap_or_default()))
                .collect::<Vec<_>>(),
            vec![
                (4, "Quantity".into()),
                (6, "Quantity".into()),
                (7, "InvoiceNo".into())
            ]
        );
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(
            check_date("2010-12-01 08:26"),
            Ok("2010-12-01 08:26:00".into())
        );
        assert!(check_date("2010-13-01 08:26:00").is_err());
        assert!(check_date("01/12/2010 08:26").is_err());
    }
}
