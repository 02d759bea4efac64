//! Order histories with one row per line item and the order's columns on its first row: Shopify's
//! order export, and Backroom's own (`backroom export orders`, which repeats them on every row).

use crate::money::{parse_int, parse_minor};
use crate::table::{Row, SkipBom, Table};
use crate::{Format, RowError};
use std::io::Read;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderLineRecord {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub tax: i64,
    pub returned_quantity: i64,
    pub line: u64,
}

/// A historical order as the file gives it: totals and statuses are kept as they were.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    pub number: i64,
    /// RFC 3339, or `2024-01-05 10:12:33 -0500`, or a local time (the store's zone applies).
    pub placed_at: String,
    pub channel: Option<String>,
    pub email: Option<String>,
    pub status: String,
    pub payment_status: String,
    pub fulfillment_status: String,
    pub currency: Option<String>,
    pub subtotal: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    pub paid: i64,
    pub refunded: i64,
    pub lines: Vec<OrderLineRecord>,
    pub first_line: u64,
    pub file: Option<String>,
}

pub enum Item {
    Order(OrderRecord),
    Rejected(RowError),
}

pub struct OrderReader<R: Read> {
    table: Table<SkipBom<R>>,
    format: Format,
    exponent: u32,
    current: Option<OrderRecord>,
    queue: std::collections::VecDeque<Item>,
    done: bool,
}

impl<R: Read> OrderReader<R> {
    /// `format` is [`Format::ShopifyOrders`] or [`Format::BackroomOrders`], or detected.
    pub fn new(input: R, format: Option<Format>, exponent: u32) -> Result<Self, RowError> {
        let table = Table::new(input)?;
        let format = format
            .or_else(|| Format::detect(table.header()))
            .filter(|f| matches!(f, Format::ShopifyOrders | Format::BackroomOrders))
            .ok_or_else(|| {
                RowError::new(1, None, "the columns match no known order layout (Shopify's order export or Backroom's)")
            })?;
        Ok(OrderReader {
            table,
            format,
            exponent,
            current: None,
            queue: Default::default(),
            done: false,
        })
    }

    pub fn bytes_read(&self) -> u64 {
        self.table.position()
    }
}

fn money(row: &Row, col: &str, e: u32) -> Result<i64, RowError> {
    match row.get(col) {
        None => Ok(0),
        Some(v) => parse_minor(v, e).map_err(|m| row.error(Some(col), m)),
    }
}

fn shopify_payment(s: &str) -> Option<&'static str> {
    Some(match s.to_ascii_lowercase().as_str() {
        "paid" => "paid",
        "pending" => "pending",
        "authorized" => "authorized",
        "partially_paid" => "paid",
        "refunded" => "refunded",
        "partially_refunded" => "partially_refunded",
        "voided" => "voided",
        _ => return None,
    })
}

fn shopify_fulfillment(s: Option<&str>) -> Option<&'static str> {
    Some(match s.map(str::to_ascii_lowercase).as_deref() {
        None | Some("unfulfilled") | Some("pending") => "unfulfilled",
        Some("fulfilled") => "fulfilled",
        Some("partial") | Some("partially_fulfilled") => "partially_fulfilled",
        Some("restocked") => "returned",
        _ => return None,
    })
}

impl<R: Read> OrderReader<R> {
    /// The row's order key, its order head (when the row carries the order's columns) and line.
    fn parse(
        row: &Row,
        format: Format,
        e: u32,
    ) -> Result<(i64, Option<OrderRecord>, OrderLineRecord), RowError> {
        let (key_col, number) = match format {
            Format::ShopifyOrders => {
                let name = row.require("Name")?;
                let digits: String = name.chars().filter(char::is_ascii_digit).collect();
                (
                    "Name",
                    digits.parse::<i64>().map_err(|_| {
                        row.error(
                            Some("Name"),
                            format!("{name:?} is not an order name like #1001"),
                        )
                    })?,
                )
            }
            _ => (
                "number",
                parse_int(row.require("number")?).map_err(|m| row.error(Some("number"), m))?,
            ),
        };
        let _ = key_col;
        let line = match format {
            Format::ShopifyOrders => OrderLineRecord {
                sku: row.require("Lineitem sku")?.to_string(),
                title: row.get("Lineitem name").unwrap_or("").to_string(),
                quantity: parse_int(row.require("Lineitem quantity")?)
                    .map_err(|m| row.error(Some("Lineitem quantity"), m))?,
                unit_price: money(row, "Lineitem price", e)?,
                tax: 0,
                returned_quantity: 0,
                line: row.line,
            },
            _ => OrderLineRecord {
                sku: row.require("sku")?.to_string(),
                title: row.get("title").unwrap_or("").to_string(),
                quantity: parse_int(row.require("quantity")?)
                    .map_err(|m| row.error(Some("quantity"), m))?,
                unit_price: money(row, "unit_price", e)?,
                tax: money(row, "line_tax", e)?,
                returned_quantity: match row.get("returned_quantity") {
                    Some(v) => parse_int(v).map_err(|m| row.error(Some("returned_quantity"), m))?,
                    None => 0,
                },
                line: row.line,
            },
        };
        if line.quantity <= 0 {
            return Err(row.error(
                Some(if format == Format::ShopifyOrders {
                    "Lineitem quantity"
                } else {
                    "quantity"
                }),
                "must be positive",
            ));
        }
        let head = match format {
            Format::ShopifyOrders => match row.get("Created at") {
                None => None,
                Some(created) => {
                    let payment =
                        shopify_payment(row.require("Financial Status")?).ok_or_else(|| {
                            row.error(Some("Financial Status"), "is not a payment status")
                        })?;
                    let fulfillment = shopify_fulfillment(row.get("Fulfillment Status"))
                        .ok_or_else(|| {
                            row.error(Some("Fulfillment Status"), "is not a fulfillment status")
                        })?;
                    let total = money(row, "Total", e)?;
                    let refunded = money(row, "Refunded Amount", e)?;
                    let paid = if matches!(payment, "paid" | "refunded" | "partially_refunded") {
                        total
                    } else {
                        0
                    };
                    let status = if row.get("Cancelled at").is_some() {
                        "cancelled"
                    } else if fulfillment == "fulfilled" && payment == "paid" {
                        "closed"
                    } else {
                        "open"
                    };
                    Some(OrderRecord {
                        number,
                        placed_at: created.to_string(),
                        channel: None,
                        email: row.get("Email").map(str::to_string),
                        status: status.into(),
                        payment_status: payment.into(),
                        fulfillment_status: fulfillment.into(),
                        currency: row.get("Currency").map(str::to_string),
                        subtotal: money(row, "Subtotal", e)?,
                        shipping: money(row, "Shipping", e)?,
                        tax: money(row, "Taxes", e)?,
                        total,
                        paid,
                        refunded,
                        lines: Vec::new(),
                        first_line: row.line,
                        file: None,
                    })
                }
            },
            _ => Some(OrderRecord {
                number,
                placed_at: row.require("placed_at")?.to_string(),
                channel: row.get("channel").map(str::to_string),
                email: row.get("customer_email").map(str::to_string),
                status: row.require("status")?.to_string(),
                payment_status: row.require("payment_status")?.to_string(),
                fulfillment_status: row.require("fulfillment_status")?.to_string(),
                currency: row.get("currency").map(str::to_string),
                subtotal: money(row, "subtotal", e)?,
                shipping: money(row, "shipping", e)?,
                tax: money(row, "tax", e)?,
                total: money(row, "total", e)?,
                paid: money(row, "paid", e)?,
                refunded: money(row, "refunded", e)?,
                lines: Vec::new(),
                first_line: row.line,
                file: None,
            }),
        };
        Ok((number, head, line))
    }
}

impl<R: Read> Iterator for OrderReader<R> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(i) = self.queue.pop_front() {
                return Some(i);
            }
            if self.done {
                return self.current.take().map(Item::Order);
            }
            let (format, e) = (self.format, self.exponent);
            let parsed = match self.table.next_row() {
                None => {
                    self.done = true;
                    continue;
                }
                Some(Err(err)) => return Some(Item::Rejected(err)),
                Some(Ok(row)) => Self::parse(&row, format, e),
            };
            match parsed {
                Err(err) => return Some(Item::Rejected(err)),
                Ok((number, head, line)) => match &mut self.current {
                    Some(cur) if cur.number == number => cur.lines.push(line),
                    _ => match head {
                        Some(mut h) => {
                            h.lines.push(line);
                            if let Some(prev) = self.current.replace(h) {
                                self.queue.push_back(Item::Order(prev));
                            }
                        }
                        None => {
                            return Some(Item::Rejected(RowError::new(
                                line.line,
                                Some("Created at"),
                                format!("order {number} starts without its order columns"),
                            )));
                        }
                    },
                },
            }
        }
    }
}
