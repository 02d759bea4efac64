//! Customers: who buys, their addresses and marketing consent. Orders and imports create and
//! refresh them through [`upsert_customer`] and [`save_customer`]; the API edits them with
//! [`update_customer`]. `history.rs`: the importer's bulk reads and writes.

pub mod history;

pub mod sql;

use crate::api::{self, Customer, Page};
use crate::audit;
use crate::db::{Row, Sql};
use crate::orders::{check_address_at, money};
use crate::util::page;
use crate::util::{
    Filter, decode_sorted_cursor, from_json, opt_rfc3339, page_limit, parse_sort, rfc3339,
    sorted_cursor, to_json,
};
use crate::{Ctx, DbError, Error, Result, params, settings};
use backroom_domain::Email;
use backroom_domain::values::{optional_text, required_text};
use serde_json::json;

/// A customer by email key (`$1`): the row [`save_customer`] takes.
pub(crate) const FIND_CUSTOMER_SQL: &str = "SELECT id, accepts_marketing, email, first_name, last_name, addresses, tags FROM customers WHERE email_key = $1";

/// [`FIND_CUSTOMER_SQL`] with whether the customer has ordered before (`has_orders`, 1 or 0),
/// which promotions for new customers look at.
pub(crate) static FIND_BUYER_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "SELECT id, accepts_marketing, email, first_name, last_name, addresses, tags, {} AS has_orders FROM customers WHERE email_key = $1",
        crate::orders::sql::has_orders_of("customers.id")
    )
});

/// What an order or an import says about its customer.
pub struct CustomerInput<'a> {
    pub first: Option<&'a str>,
    pub last: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub accepts_marketing: Option<bool>,
    /// Where the customer came from: a channel code, or `import`.
    pub channel: &'a str,
    /// The address the order ships to, kept among the customer's addresses when new.
    pub address: Option<&'a api::Address>,
}

/// Whether two addresses are the same place for the same person (case and spacing aside).
fn same_address(a: &api::Address, b: &api::Address) -> bool {
    let n = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let o = |s: &Option<String>| n(s.as_deref().unwrap_or(""));
    n(&a.name) == n(&b.name)
        && n(&a.line1) == n(&b.line1)
        && o(&a.line2) == o(&b.line2)
        && n(&a.city) == n(&b.city)
        && n(&a.postal_code) == n(&b.postal_code)
        && a.country.eq_ignore_ascii_case(&b.country)
}

/// The saved addresses with `new` kept: appended when it is not there yet (the first stays the
/// default), the oldest other one dropped when the list is full. `None` when nothing changes.
fn keep_address(saved: &str, new: &api::Address) -> Option<String> {
    let mut list: Vec<api::Address> = from_json(saved);
    if list.iter().any(|a| same_address(a, new)) {
        return None;
    }
    if list.len() >= MAX_ADDRESSES {
        list.remove(1.min(list.len() - 1));
    }
    list.push(new.clone());
    Some(to_json(&list))
}

crate::row! {
    /// A customer's name and phone, as an import compares them with a file's.
    pub struct CustomerNames {
        pub first_name: String,
        pub last_name: String,
        pub phone: Option<String>,
    }
}

/// The name and phone of the customer with this email key, if there is one.
pub fn names_by_email_key(tx: &mut dyn Sql, email_key: &str) -> Result<Option<CustomerNames>> {
    Ok(crate::db::query_one_as(
        tx,
        "SELECT first_name, last_name, phone FROM customers WHERE email_key = $1",
        params![email_key],
    )?)
}

/// Creates or updates a customer by email.
pub fn upsert_customer(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    email: &Email,
    input: &CustomerInput,
) -> Result<CustomerRef> {
    // No row lock: concurrent orders of one customer may both refresh the name, and the last
    // one wins, which is what the customer typed last.
    let existing = tx.query_one(FIND_CUSTOMER_SQL, params![email.key()])?;
    let new_id = match existing {
        Some(_) => None,
        None => crate::db::next_ids(tx, &[("customers", 1)])?[0]
            .first()
            .copied(),
    };
    save_customer(tx, ctx, existing.as_ref(), new_id, email, input)
}

/// Writes a customer found (`existing`, a [`FIND_CUSTOMER_SQL`] row) or new (with `new_id`,
/// drawn by [`crate::db::next_ids`]); every statement is queued. Two orders creating the same
/// customer at once: the later insert fails on the email key at commit and its unit runs again,
/// then finds the customer.
pub fn save_customer(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    existing: Option<&Row>,
    new_id: Option<i64>,
    email: &Email,
    input: &CustomerInput,
) -> Result<CustomerRef> {
    let (first, last, phone) = (input.first, input.last, input.phone);
    let channel = input.channel;
    match existing {
        Some(r) => {
            let id: i64 = r.get("id")?;
            let (email, first_now, last_now): (String, String, String) =
                (r.get("email")?, r.get("first_name")?, r.get("last_name")?);
            let (accepts, saved): (bool, String) =
                (r.get("accepts_marketing")?, r.get("addresses")?);
            // Consent follows what the customer said last at checkout: given, or withdrawn.
            let consent_now = input.accepts_marketing.filter(|wants| *wants != accepts);
            let changed = first.is_some_and(|f| *f != first_now)
                || last.is_some_and(|l| *l != last_now)
                || phone.is_some();
            if changed {
                tx.exec_deferred(
                    "UPDATE customers SET first_name = COALESCE($1, first_name), last_name = COALESCE($2, last_name), phone = COALESCE($3, phone), updated_at = $4 WHERE id = $5",
                    params![first, last, phone, ctx.now, id],
                )?;
            }
            if let Some(wants) = consent_now {
                tx.exec_deferred(
                    "UPDATE customers SET accepts_marketing = $1, marketing_consent_at = $2, marketing_consent_source = $3, updated_at = $2 WHERE id = $4",
                    params![wants, ctx.now, format!("checkout:{channel}"), id],
                )?;
            }
            if let Some(list) = input.address.and_then(|a| keep_address(&saved, a)) {
                tx.exec_deferred(
                    "UPDATE customers SET addresses = $1 WHERE id = $2",
                    params![list, id],
                )?;
            }
            Ok(CustomerRef {
                id,
                email,
                first_name: first.map_or(first_now, str::to_string),
                last_name: last.map_or(last_now, str::to_string),
            })
        }
        None => {
            let id = new_id.ok_or_else(|| {
                Error::Db(DbError::Other("no id drawn for a new customer".into()))
            })?;
            let consent = input.accepts_marketing == Some(true);
            let addresses = to_json(&input.address.into_iter().collect::<Vec<_>>());
            tx.exec_deferred(
                "INSERT INTO customers (id, email, email_key, first_name, last_name, phone, accepts_marketing, marketing_consent_at, marketing_consent_source, acquisition_source, created_at, updated_at, addresses) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)",
                params![
                    id,
                    email.as_str(),
                    email.key(),
                    first.unwrap_or(""),
                    last.unwrap_or(""),
                    phone,
                    consent,
                    if consent { Some(ctx.now) } else { None },
                    if consent { Some(format!("checkout:{channel}")) } else { None },
                    format!("channel:{channel}"),
                    ctx.now,
                    addresses
                ],
            )?;
            audit::record(
                tx,
                ctx,
                "customer.created",
                "customer",
                id,
                json!({"email": email.as_str(), "source": "order"}),
            )?;
            Ok(CustomerRef {
                id,
                email: email.as_str().to_string(),
                first_name: first.unwrap_or("").to_string(),
                last_name: last.unwrap_or("").to_string(),
            })
        }
    }
}

/// A customer as an order shows it.
pub struct CustomerRef {
    pub id: i64,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

/// The columns [`customer_from`] reads, from `customers c` (the order count and spend through
/// the orders' expressions, the lifetime value through the read model's).
/// The columns [`customer_from`] reads from `customers c`.
fn customer_cols() -> &'static str {
    // Built once: the text never changes.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "c.id, c.email, c.first_name, c.last_name, c.phone, c.accepts_marketing, c.marketing_consent_at, c.marketing_consent_source, c.acquisition_source, c.tags, c.note, c.created_at, c.updated_at, \
             {} AS orders_count, {} AS total_spent, {} AS lifetime_value, c.guest, c.addresses",
            crate::orders::sql::orders_count_of("c.id"),
            crate::orders::sql::total_spent_of("c.id"),
            crate::analytics::report::lifetime_value_sql!()
        )
    });
    &SQL
}

fn customer_select() -> &'static str {
    static SQL: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {} FROM customers c", customer_cols()));
    &SQL
}

fn customer_from(r: &Row, cur: &str) -> std::result::Result<Customer, DbError> {
    Ok(Customer {
        id: r.get("id")?,
        email: r.get("email")?,
        first_name: r.get("first_name")?,
        last_name: r.get("last_name")?,
        phone: r.get("phone")?,
        accepts_marketing: r.get("accepts_marketing")?,
        marketing_consent_at: opt_rfc3339(r.get("marketing_consent_at")?),
        marketing_consent_source: r.get("marketing_consent_source")?,
        acquisition_source: r.get("acquisition_source")?,
        tags: from_json(&r.get::<String>("tags")?),
        note: r.get("note")?,
        created_at: rfc3339(r.get("created_at")?),
        updated_at: rfc3339(r.get("updated_at")?),
        orders_count: r.get("orders_count")?,
        total_spent: money(r.get("total_spent")?, cur),
        lifetime_value: money(r.get("lifetime_value")?, cur),
        guest: r.get::<i64>("guest")? != 0,
        addresses: from_json(&r.get::<String>("addresses")?),
    })
}

/// The most addresses a customer keeps.
const MAX_ADDRESSES: usize = 20;

/// Edits a customer: each field given is validated and set (an empty phone or note clears it);
/// marketing consent records its time and source (the staff member unless a source is given);
/// `addresses` replaces the saved list (the default first). All or nothing, audited with what
/// changed.
pub fn update_customer(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    p: &api::CustomerPatch,
) -> Result<Customer> {
    ctx.actor
        .require(backroom_domain::roles::Permission::CustomersWrite)?;
    let before = get_customer(tx, id)?;
    let mut sets: Vec<(&str, crate::Val)> = Vec::new();
    let mut changes = serde_json::Map::new();
    let mut change = |k: &str, from: serde_json::Value, to: serde_json::Value| {
        if from != to {
            changes.insert(k.into(), json!({"from": from, "to": to}));
        }
    };
    if let Some(v) = &p.first_name {
        let v = optional_text("first_name", Some(v), 255)?.unwrap_or_default();
        change("first_name", json!(before.first_name), json!(v));
        sets.push(("first_name", v.into()));
    }
    if let Some(v) = &p.last_name {
        let v = optional_text("last_name", Some(v), 255)?.unwrap_or_default();
        change("last_name", json!(before.last_name), json!(v));
        sets.push(("last_name", v.into()));
    }
    // An empty phone or note clears it.
    fn cleared(v: &str) -> Option<&str> {
        Some(v).filter(|v| !v.trim().is_empty())
    }
    if let Some(v) = &p.phone {
        let v = optional_text("phone", cleared(v), 64)?;
        change("phone", json!(before.phone), json!(v));
        sets.push(("phone", v.into()));
    }
    if let Some(v) = &p.note {
        let v = optional_text("note", cleared(v), 5000)?;
        change("note", json!(before.note), json!(v));
        sets.push(("note", v.into()));
    }
    if let Some(v) = &p.tags {
        let v = crate::catalog::check_list("tags", v, 250)?;
        change("tags", json!(before.tags), json!(v));
        sets.push(("tags", to_json(&v).into()));
    }
    if let Some(v) = &p.addresses {
        if v.len() > MAX_ADDRESSES {
            return Err(Error::invalid(
                "addresses",
                format!("a customer keeps at most {MAX_ADDRESSES} addresses"),
            ));
        }
        let v = v
            .iter()
            .enumerate()
            .map(|(i, a)| check_address_at(a, &format!("addresses[{i}]")))
            .collect::<Result<Vec<_>>>()?;
        change("addresses", json!(before.addresses), json!(v));
        sets.push(("addresses", to_json(&v).into()));
    }
    if p.marketing_consent_source.is_some() && p.accepts_marketing.is_none() {
        return Err(Error::invalid(
            "marketing_consent_source",
            "give it with accepts_marketing",
        ));
    }
    if let Some(v) = p.accepts_marketing {
        let source = match &p.marketing_consent_source {
            Some(s) => required_text("marketing_consent_source", s, 200)?,
            None => format!("staff:{}", ctx.actor.name),
        };
        if v != before.accepts_marketing {
            change(
                "accepts_marketing",
                json!(before.accepts_marketing),
                json!(v),
            );
            changes.insert("marketing_consent_source".into(), json!(source));
            sets.push(("accepts_marketing", v.into()));
            sets.push(("marketing_consent_at", ctx.now.into()));
            sets.push(("marketing_consent_source", source.into()));
        }
    }
    if sets.is_empty() {
        return Ok(before);
    }
    sets.push(("updated_at", ctx.now.into()));
    let cols: Vec<String> = sets
        .iter()
        .enumerate()
        .map(|(i, (c, _))| format!("{c} = ${}", i + 1))
        .collect();
    let mut vals: Vec<crate::Val> = sets.into_iter().map(|(_, v)| v).collect();
    vals.push(id.into());
    tx.exec(
        &format!(
            "UPDATE customers SET {} WHERE id = ${}",
            cols.join(", "),
            vals.len()
        ),
        &vals,
    )?;
    if !changes.is_empty() {
        audit::record(
            tx,
            ctx,
            "customer.updated",
            "customer",
            id,
            serde_json::Value::Object(changes),
        )?;
    }
    get_customer(tx, id)
}

pub fn get_customer(tx: &mut dyn Sql, id: i64) -> Result<Customer> {
    let cur = settings::load(tx)?.currency;
    let r = tx
        .query_one(
            &format!("{} WHERE c.id = $1", customer_select()),
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "customer" })?;
    Ok(customer_from(&r, cur.as_str())?)
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// Part of the email, name or phone.
    pub q: Option<String>,
    pub accepts_marketing: Option<bool>,
    /// The order: newest first by default; or `name` (first and last name, case aside),
    /// `orders_count`, `total_spent` (in minor units, cancelled orders aside) or `created_at`;
    /// prefix `-` for descending. Ties go by id, the same way. A cursor holds to the sort it was
    /// given out for.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// The sort keys of [`list_customers`] and what they order by: (key, expression, is text).
fn customer_sorts() -> &'static [(&'static str, String, bool); 4] {
    static SORTS: std::sync::LazyLock<[(&str, String, bool); 4]> = std::sync::LazyLock::new(|| {
        [
            (
                "name",
                "lower(c.first_name || ' ' || c.last_name)".into(),
                true,
            ),
            (
                "orders_count",
                crate::orders::sql::orders_count_of("c.id"),
                false,
            ),
            (
                "total_spent",
                crate::orders::sql::total_spent_of("c.id"),
                false,
            ),
            ("created_at", "c.created_at".into(), false),
        ]
    });
    &SORTS
}

/// Customers in the order `q.sort` asks, newest first by default.
pub fn list_customers(tx: &mut dyn Sql, q: &CustomerQuery) -> Result<Page<Customer>> {
    let limit = page_limit(q.limit)?;
    // Newest first by default: by id, whose cursors carry the id alone.
    let (sort, expr, text, desc) = match q.sort.as_deref() {
        None => (None, "c.id", false, true),
        Some(s) => {
            let (key, desc) = parse_sort(s, &customer_sorts().each_ref().map(|(k, _, _)| *k))?;
            let (_, expr, text) = customer_sorts()
                .iter()
                .find(|(k, _, _)| *k == key)
                .ok_or_else(|| Error::invalid("sort", "is not a sort of this list"))?;
            (Some(s), expr.as_str(), *text, desc)
        }
    };
    let mut f = Filter::default();
    if let Some(s) = &q.q {
        f.add(
            &format!("c.id IN ({})", sql::MATCHING),
            sql::match_params(s),
        );
    }
    if let Some(b) = q.accepts_marketing {
        f.add("c.accepts_marketing = ?", vec![b.into()]);
    }
    let op = if desc { "<" } else { ">" };
    if let Some(c) = &q.cursor {
        let (v, id) = decode_sorted_cursor(c, sort)?;
        let v: crate::Val = if sort.is_none() {
            id.into()
        } else if text {
            v.into()
        } else {
            v.parse::<i64>()
                .map_err(|_| Error::invalid("cursor", "does not match this sort"))?
                .into()
        };
        f.add(
            &format!("({expr} {op} ? OR ({expr} = ? AND c.id {op} ?))"),
            vec![v.clone(), v, id.into()],
        );
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let lim = f.push((limit + 1).into());
    let rows = tx.query(
        &format!(
            "SELECT {}, {expr} AS sort_key FROM customers c{} ORDER BY sort_key {dir}, c.id {dir} LIMIT {lim}",
            customer_cols(),
            f.where_sql()
        ),
        &f.params,
    )?;
    let cur = settings::load(tx)?.currency;
    let mut items = Vec::with_capacity(rows.len());
    // The raw sort value of each row, for the cursor.
    let mut keys = Vec::with_capacity(rows.len());
    for r in &rows {
        let c = customer_from(r, cur.as_str())?;
        let key = match (sort, text) {
            (None, _) => String::new(),
            (Some(_), true) => r.get::<String>("sort_key")?,
            (Some(_), false) => r.get::<i64>("sort_key")?.to_string(),
        };
        keys.push((c.id, key));
        items.push(c);
    }
    Ok(page(&mut items, limit, |c| {
        let key = keys
            .iter()
            .find(|(id, _)| *id == c.id)
            .map_or("", |(_, k)| k.as_str());
        sorted_cursor(sort, key, c.id)
    }))
}
