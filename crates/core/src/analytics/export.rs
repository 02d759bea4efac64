//! Exports: products, stock, orders, customers and the ledger as tables, a page at a time (keyset
//! pagination on a stable key), so a caller can stream any size of store in constant memory.
//! Product and stock tables use the columns their importers read, so an export imports back.

use crate::util::{Filter, parse_time, rfc3339};
use crate::{Error, Result, Sql};

/// What to export.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Products,
    Stock,
    Orders,
    Customers,
    Ledger,
    /// Ticket histories, one row per message, in the layout `backroom import tickets` reads.
    Tickets,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "products" => Kind::Products,
            "stock" => Kind::Stock,
            "orders" => Kind::Orders,
            "customers" => Kind::Customers,
            "ledger" => Kind::Ledger,
            "tickets" => Kind::Tickets,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Orders placed / ledger rows written at or after (RFC 3339 or a date).
    pub from: Option<String>,
    /// ... and before.
    pub to: Option<String>,
    /// Orders of this channel (code).
    pub channel: Option<String>,
    /// Stock and ledger rows of this location (code).
    pub location: Option<String>,
}

/// One page of a table: rows after the cursor, and the cursor of the next page when there is one.
pub struct Page {
    pub rows: Vec<Vec<String>>,
    pub next: Option<i64>,
}

/// The columns of each table.
pub fn header(kind: Kind) -> Vec<&'static str> {
    match kind {
        Kind::Products => vec![
            "handle",
            "title",
            "description",
            "vendor",
            "product_type",
            "tags",
            "status",
            "seo_title",
            "seo_description",
            "image_urls",
            "option1_name",
            "option2_name",
            "option3_name",
            "sku",
            "option1",
            "option2",
            "option3",
            "price",
            "compare_at_price",
            "unit_cost",
            "weight_grams",
            "barcode",
            "inventory_policy",
        ],
        Kind::Stock => vec![
            "sku",
            "location",
            "quantity",
            "reserved",
            "unavailable",
            "available",
            "incoming",
            "bin",
        ],
        Kind::Orders => vec![
            "number",
            "placed_at",
            "channel",
            "customer_email",
            "status",
            "payment_status",
            "fulfillment_status",
            "currency",
            "subtotal",
            "shipping",
            "tax",
            "total",
            "paid",
            "refunded",
            "line_no",
            "sku",
            "title",
            "quantity",
            "unit_price",
            "line_tax",
            "returned_quantity",
        ],
        Kind::Customers => vec![
            "email",
            "first_name",
            "last_name",
            "phone",
            "accepts_marketing",
            "created_at",
            "orders",
            "total_spent",
            "lifetime_value",
        ],
        Kind::Tickets => backroom_import::tickets::COLUMNS.to_vec(),
        Kind::Ledger => vec![
            "id",
            "created_at",
            "sku",
            "location",
            "on_hand_delta",
            "unavailable_delta",
            "reason",
            "actor",
            "reference_type",
            "reference_id",
            "note",
        ],
    }
}

/// Minor units as a decimal string with `exponent` decimals (`1999` → `19.99`).
pub fn decimal(minor: i64, exponent: u32) -> String {
    if exponent == 0 {
        return minor.to_string();
    }
    let p = 10i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let a = minor.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        a / p as u64,
        a % p as u64,
        width = exponent as usize
    )
}

fn opt(s: Option<String>) -> String {
    s.unwrap_or_default()
}

fn money_opt(v: Option<i64>, e: u32) -> String {
    v.map(|m| decimal(m, e)).unwrap_or_default()
}

fn list(json: &str, sep: &str) -> String {
    serde_json::from_str::<Vec<String>>(json)
        .unwrap_or_default()
        .join(sep)
}

/// One page of `kind`, after `cursor` (exclusive), at most `limit` rows of its key.
pub fn page(
    tx: &mut dyn Sql,
    kind: Kind,
    f: &Filters,
    cursor: Option<i64>,
    limit: i64,
) -> Result<Page> {
    if limit <= 0 {
        return Err(Error::invalid("limit", "must be positive"));
    }
    let e = crate::settings::load(tx)?.currency.exponent();
    let after = cursor.unwrap_or(0);
    let Some(PageQuery {
        sql,
        w,
        stock_window,
    }) = page_query(tx, kind, f, after, limit)?
    else {
        return Ok(Page {
            rows: Vec::new(),
            next: None,
        });
    };
    let rows = tx.query(&sql, &w.params)?;
    let mut out = Vec::with_capacity(rows.len());
    let mut last = None;
    // The key each table pages by: the variant for stock, else the row's own id.
    let key = if kind == Kind::Stock {
        "variant_id"
    } else {
        "id"
    };
    for r in &rows {
        last = Some(r.get::<i64>(key)?);
        out.push(row_values(kind, r, e)?);
    }
    let next = next_cursor(kind, &rows, limit, last, stock_window)?;
    Ok(Page { rows: out, next })
}

/// The query of one page: its SQL and parameters, and for stock the window of variants it covers.
struct PageQuery {
    sql: String,
    w: Filter,
    /// The page's last variant, and whether more may follow.
    stock_window: Option<(i64, bool)>,
}

/// The SQL and parameters of one page, with stock's variant window; `None` when none is left.
fn page_query(
    tx: &mut dyn Sql,
    kind: Kind,
    f: &Filters,
    after: i64,
    limit: i64,
) -> Result<Option<PageQuery>> {
    let mut w = Filter::default();
    let mut stock_window: Option<(i64, bool)> = None;
    let sql = match kind {
        Kind::Products => {
            w.add(
                "p.id IN (SELECT id FROM products WHERE id > ? ORDER BY id LIMIT ?)",
                vec![after.into(), limit.into()],
            );
            format!(
                "SELECT p.id, p.handle, p.title, p.description, p.vendor, p.product_type, p.tags, p.status, p.seo_title, p.seo_description, p.image_urls, p.options, \
                     v.sku, v.option1, v.option2, v.option3, v.price_minor, v.compare_at_minor, v.cost_minor, v.weight_grams, v.barcode, v.inventory_policy \
                     FROM products p JOIN variants v ON v.product_id = p.id{} ORDER BY p.id, v.position, v.id",
                w.where_sql()
            )
        }
        Kind::Stock => {
            // The window of variants first: some have no stock rows, so the page's own rows
            // cannot tell whether more follow.
            let ids = tx.query(
                "SELECT id FROM variants WHERE id > $1 ORDER BY id LIMIT $2",
                &[after.into(), limit.into()],
            )?;
            let (Some(first), Some(last)) = (
                ids.first().map(|r| r.get::<i64>("id")).transpose()?,
                ids.last().map(|r| r.get::<i64>("id")).transpose()?,
            ) else {
                return Ok(None);
            };
            stock_window = Some((last, ids.len() as i64 >= limit));
            w.add(
                "l.variant_id BETWEEN ? AND ?",
                vec![first.into(), last.into()],
            );
            if let Some(loc) = &f.location {
                w.add("loc.code = ?", vec![loc.as_str().into()]);
            }
            format!(
                "SELECT l.variant_id, v.sku, loc.code, l.on_hand, l.reserved, l.unavailable, l.incoming, l.bin \
                     FROM inventory_levels l JOIN variants v ON v.id = l.variant_id JOIN locations loc ON loc.id = l.location_id{} \
                     ORDER BY l.variant_id, l.location_id",
                w.where_sql()
            )
        }
        Kind::Orders => {
            let mut inner = Filter::default();
            inner.add("o2.id > ?", vec![after.into()]);
            if let Some(v) = &f.from {
                inner.add("o2.placed_at >= ?", vec![parse_time("from", v)?.into()]);
            }
            if let Some(v) = &f.to {
                inner.add("o2.placed_at < ?", vec![parse_time("to", v)?.into()]);
            }
            if let Some(c) = &f.channel {
                inner.add(
                    "o2.channel_id = (SELECT id FROM channels WHERE code = ?)",
                    vec![c.as_str().into()],
                );
            }
            let lim = inner.push(limit.into());
            let sub = format!(
                "SELECT o2.id FROM orders o2{} ORDER BY o2.id LIMIT {lim}",
                inner.where_sql()
            );
            w = inner;
            format!(
                "SELECT o.id, o.number, o.placed_at, ch.code, c.email, o.status, o.payment_status, o.fulfillment_status, o.currency, \
                     o.subtotal_minor, o.shipping_minor, o.tax_minor, o.total_minor, o.paid_minor, o.refunded_minor, \
                     l.line_no, l.sku, l.title, l.quantity, l.unit_price_minor, l.tax_minor AS line_tax_minor, l.returned_quantity \
                     FROM orders o JOIN channels ch ON ch.id = o.channel_id JOIN customers c ON c.id = o.customer_id \
                     JOIN order_lines l ON l.order_id = o.id WHERE o.id IN ({sub}) ORDER BY o.id, l.line_no"
            )
        }
        Kind::Customers => {
            w.add("c.id > ?", vec![after.into()]);
            let lim = w.push(limit.into());
            format!(
                "SELECT c.id, c.email, c.first_name, c.last_name, c.phone, c.accepts_marketing, c.created_at, \
                     (SELECT COUNT(*) FROM orders o WHERE o.customer_id = c.id AND o.status <> 'cancelled') AS order_count, \
                     (SELECT CAST(COALESCE(SUM(o.total_minor), 0) AS BIGINT) FROM orders o WHERE o.customer_id = c.id AND o.status <> 'cancelled') AS total_spent, {} AS lifetime_value \
                     FROM customers c{} ORDER BY c.id LIMIT {lim}",
                crate::analytics::report::lifetime_value_sql!(),
                w.where_sql()
            )
        }
        Kind::Tickets => {
            w.add("m.id > ?", vec![after.into()]);
            if let Some(v) = &f.from {
                w.add("t.created_at >= ?", vec![parse_time("from", v)?.into()]);
            }
            if let Some(v) = &f.to {
                w.add("t.created_at < ?", vec![parse_time("to", v)?.into()]);
            }
            w.add("m.author_kind <> 'system'", vec![]);
            w.add("t.merged_into IS NULL", vec![]);
            let lim = w.push(limit.into());
            format!(
                "SELECT m.id, t.id AS ticket_id, t.external_ref, t.created_at AS ticket_created_at, t.channel, t.requester_email, t.subject, t.priority, t.status, COALESCE(t.solved_at, t.closed_at) AS solved_at, \
                     m.created_at AS message_at, m.author_kind, COALESCE(u.email, m.author_email) AS agent_email, m.public, m.body, c.rating \
                     FROM support_messages m JOIN support_tickets t ON t.id = m.ticket_id LEFT JOIN users u ON u.id = m.author_user_id \
                     LEFT JOIN support_csat c ON c.ticket_id = t.id{} ORDER BY m.id LIMIT {lim}",
                w.where_sql()
            )
        }
        Kind::Ledger => {
            w.add("e.id > ?", vec![after.into()]);
            if let Some(v) = &f.from {
                w.add("e.created_at >= ?", vec![parse_time("from", v)?.into()]);
            }
            if let Some(v) = &f.to {
                w.add("e.created_at < ?", vec![parse_time("to", v)?.into()]);
            }
            if let Some(loc) = &f.location {
                w.add("loc.code = ?", vec![loc.as_str().into()]);
            }
            let lim = w.push(limit.into());
            format!(
                "SELECT e.id, e.created_at, v.sku, loc.code, e.on_hand_delta, e.unavailable_delta, e.reason, e.actor, e.reference_type, e.reference_id, e.note \
                     FROM inventory_ledger e JOIN variants v ON v.id = e.variant_id JOIN locations loc ON loc.id = e.location_id{} ORDER BY e.id LIMIT {lim}",
                w.where_sql()
            )
        }
    };
    Ok(Some(PageQuery {
        sql,
        w,
        stock_window,
    }))
}

/// One row of the page as the table's columns, money in `e` decimals (an order's in its own).
fn row_values(kind: Kind, r: &crate::Row, e: u32) -> Result<Vec<String>> {
    Ok(match kind {
        Kind::Products => {
            let names: Vec<String> =
                serde_json::from_str(&r.get::<String>("options")?).unwrap_or_default();
            vec![
                r.get("handle")?,
                r.get("title")?,
                r.get("description")?,
                r.get("vendor")?,
                r.get("product_type")?,
                list(&r.get::<String>("tags")?, ", "),
                r.get("status")?,
                opt(r.get("seo_title")?),
                opt(r.get("seo_description")?),
                list(&r.get::<String>("image_urls")?, " "),
                names.first().cloned().unwrap_or_default(),
                names.get(1).cloned().unwrap_or_default(),
                names.get(2).cloned().unwrap_or_default(),
                r.get("sku")?,
                opt(r.get("option1")?),
                opt(r.get("option2")?),
                opt(r.get("option3")?),
                decimal(r.get("price_minor")?, e),
                money_opt(r.get("compare_at_minor")?, e),
                money_opt(r.get("cost_minor")?, e),
                r.get::<Option<i64>>("weight_grams")?
                    .map(|g| g.to_string())
                    .unwrap_or_default(),
                opt(r.get("barcode")?),
                r.get("inventory_policy")?,
            ]
        }
        Kind::Stock => {
            let (on_hand, reserved, unavailable): (i64, i64, i64) =
                (r.get("on_hand")?, r.get("reserved")?, r.get("unavailable")?);
            vec![
                r.get("sku")?,
                r.get("code")?,
                on_hand.to_string(),
                reserved.to_string(),
                unavailable.to_string(),
                (on_hand - reserved - unavailable).to_string(),
                r.get::<i64>("incoming")?.to_string(),
                opt(r.get("bin")?),
            ]
        }
        Kind::Orders => {
            let currency: String = r.get("currency")?;
            let oe = backroom_domain::Currency::parse(&currency)
                .map(|c| c.exponent())
                .unwrap_or(e);
            let mut v = vec![
                r.get::<i64>("number")?.to_string(),
                rfc3339(r.get("placed_at")?),
                r.get("code")?,
                r.get("email")?,
                r.get("status")?,
                r.get("payment_status")?,
                r.get("fulfillment_status")?,
                currency,
            ];
            for col in [
                "subtotal_minor",
                "shipping_minor",
                "tax_minor",
                "total_minor",
                "paid_minor",
                "refunded_minor",
            ] {
                v.push(decimal(r.get(col)?, oe));
            }
            v.extend([
                r.get::<i64>("line_no")?.to_string(),
                r.get("sku")?,
                r.get("title")?,
                r.get::<i64>("quantity")?.to_string(),
                decimal(r.get("unit_price_minor")?, oe),
                decimal(r.get("line_tax_minor")?, oe),
                r.get::<i64>("returned_quantity")?.to_string(),
            ]);
            v
        }
        Kind::Customers => vec![
            r.get("email")?,
            r.get("first_name")?,
            r.get("last_name")?,
            opt(r.get("phone")?),
            r.get::<bool>("accepts_marketing")?.to_string(),
            rfc3339(r.get("created_at")?),
            r.get::<i64>("order_count")?.to_string(),
            decimal(r.get("total_spent")?, e),
            decimal(r.get("lifetime_value")?, e),
        ],
        Kind::Tickets => {
            let agent = r.get::<String>("author_kind")? == "agent";
            vec![
                r.get::<Option<String>>("external_ref")?
                    .unwrap_or_else(|| format!("T-{}", r.get::<i64>("ticket_id").unwrap_or(0))),
                rfc3339(r.get("ticket_created_at")?),
                r.get("channel")?,
                r.get("requester_email")?,
                r.get("subject")?,
                r.get("priority")?,
                r.get("status")?,
                r.get::<Option<i64>>("solved_at")?
                    .map(rfc3339)
                    .unwrap_or_default(),
                rfc3339(r.get("message_at")?),
                r.get("author_kind")?,
                if agent {
                    opt(r.get("agent_email")?)
                } else {
                    String::new()
                },
                r.get::<bool>("public")?.to_string(),
                r.get("body")?,
                opt(r.get("rating")?),
            ]
        }
        Kind::Ledger => vec![
            r.get::<i64>("id")?.to_string(),
            rfc3339(r.get("created_at")?),
            r.get("sku")?,
            r.get("code")?,
            r.get::<i64>("on_hand_delta")?.to_string(),
            r.get::<i64>("unavailable_delta")?.to_string(),
            r.get("reason")?,
            r.get("actor")?,
            opt(r.get("reference_type")?),
            r.get::<Option<i64>>("reference_id")?
                .map(|x| x.to_string())
                .unwrap_or_default(),
            opt(r.get("note")?),
        ],
    })
}

/// The cursor of the next page, from the page's rows and its last key (`None` on the last page).
fn next_cursor(
    kind: Kind,
    rows: &[crate::Row],
    limit: i64,
    last: Option<i64>,
    stock_window: Option<(i64, bool)>,
) -> Result<Option<i64>> {
    // Products, stock and orders page by a parent id (all of its rows come together); a short
    // page is the last.
    if let Some((last, more)) = stock_window {
        return Ok(more.then_some(last));
    }
    let full = match kind {
        Kind::Products | Kind::Orders => {
            let ids: std::collections::BTreeSet<i64> = rows
                .iter()
                .map(|r| r.get::<i64>("id"))
                .collect::<std::result::Result<_, _>>()?;
            ids.len() as i64 >= limit
        }
        _ => rows.len() as i64 >= limit,
    };
    Ok(if full { last } else { None })
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimals() {
        assert_eq!(decimal(1999, 2), "19.99");
        assert_eq!(decimal(5, 2), "0.05");
        assert_eq!(decimal(-1_106_206, 2), "-11062.06");
        assert_eq!(decimal(1500, 0), "1500");
        assert_eq!(decimal(1234, 3), "1.234");
    }
}

/// A CSV field, quoted when it needs to be.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `csv` or `jsonl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

/// Streams a whole table to `out`, a page of `page_size` at a time; returns the rows written.
pub async fn write_all(
    db: &crate::Db,
    kind: Kind,
    filters: Filters,
    format: Format,
    page_size: i64,
    out: &mut (dyn std::io::Write + Send),
) -> Result<u64> {
    let io = |e: std::io::Error| Error::conflict("write_failed", e.to_string());
    let head = header(kind);
    if format == Format::Csv {
        writeln!(out, "{}", head.join(",")).map_err(io)?;
    }
    let mut cursor = None;
    let mut n = 0u64;
    loop {
        let f = filters.clone();
        let p = db
            .read(move |tx| page(tx, kind, &f, cursor, page_size))
            .await?;
        for row in &p.rows {
            match format {
                Format::Csv => {
                    let line: Vec<String> = row.iter().map(|v| csv_field(v)).collect();
                    writeln!(out, "{}", line.join(",")).map_err(io)?;
                }
                Format::JsonLines => {
                    let obj: serde_json::Map<String, serde_json::Value> = head
                        .iter()
                        .zip(row)
                        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
                        .collect();
                    writeln!(out, "{}", serde_json::Value::Object(obj)).map_err(io)?;
                }
            }
            n += 1;
        }
        match p.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.flush().map_err(io)?;
    Ok(n)
}
