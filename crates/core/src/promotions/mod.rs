//! Promotions and discount codes (first part): a percentage or a fixed amount off the order's
//! lines, or free shipping, triggered by a code, within a date window, with a total and a
//! per-customer redemption limit. Placement asks [`for_codes`] what the order's codes give, and
//! [`redeem`]s them in its transaction: the count goes up only while it is under the limit, so
//! a limit is exact however many orders race for it. A cancelled order gives its redemptions
//! back ([`release`]). Rules: [`backroom_domain::promotions`].

use crate::db::{Sql, query_as, query_one_as};
use crate::util::{opt_rfc3339, parse_time, rfc3339};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::promotions::{self as rules, Kind};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A new promotion.
#[derive(Deserialize, Serialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewPromotion {
    pub name: String,
    /// `percentage`, `fixed_amount` or `free_shipping`.
    pub kind: String,
    /// A percentage as a decimal string (`"10"`), or minor units for a fixed amount (`"500"`).
    pub value: Option<String>,
    /// The code a customer enters; matched without case.
    pub code: Option<String>,
    /// Redemptions in all.
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    /// RFC 3339 or a date.
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Promotion {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// As given: a percentage, or minor units.
    pub value: Option<String>,
    pub code: Option<String>,
    pub usage_limit: Option<i64>,
    pub usage_limit_per_customer: Option<i64>,
    /// Redemptions of orders not cancelled.
    pub times_used: i64,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub active: bool,
    pub created_at: String,
}

crate::row! {
    struct PromotionRow {
        id: i64,
        name: String,
        kind: String,
        percent_ppm: i64,
        amount_minor: i64,
        code: Option<String>,
        usage_limit: Option<i64>,
        usage_limit_per_customer: Option<i64>,
        times_used: i64,
        starts_at: Option<i64>,
        ends_at: Option<i64>,
        active: bool,
        created_at: i64,
    }
}

const COLUMNS: &str = "id, name, kind, percent_ppm, amount_minor, code, usage_limit, usage_limit_per_customer, times_used, starts_at, ends_at, active, created_at";

fn value_of(r: &PromotionRow) -> Option<String> {
    match Kind::parse(&r.kind) {
        Some(Kind::Percentage) => {
            let whole = r.percent_ppm / 10_000;
            let frac = r.percent_ppm % 10_000;
            Some(if frac == 0 {
                whole.to_string()
            } else {
                format!("{whole}.{}", format!("{frac:04}").trim_end_matches('0'))
            })
        }
        Some(Kind::FixedAmount) => Some(r.amount_minor.to_string()),
        _ => None,
    }
}

fn promotion_of(r: PromotionRow) -> Promotion {
    Promotion {
        value: value_of(&r),
        id: r.id,
        name: r.name,
        kind: r.kind,
        code: r.code,
        usage_limit: r.usage_limit,
        usage_limit_per_customer: r.usage_limit_per_customer,
        times_used: r.times_used,
        starts_at: opt_rfc3339(r.starts_at),
        ends_at: opt_rfc3339(r.ends_at),
        active: r.active,
        created_at: rfc3339(r.created_at),
    }
}

fn limit(field: &str, v: Option<i64>) -> Result<Option<i64>> {
    match v {
        Some(n) if n < 1 => Err(Error::invalid(field, "must be at least 1")),
        other => Ok(other),
    }
}

/// Creates a promotion (marketing's, operations' or an admin's).
pub fn create(tx: &mut dyn Sql, ctx: &Ctx, p: &NewPromotion) -> Result<Promotion> {
    ctx.actor.require(Permission::MarketingWrite)?;
    let name = backroom_domain::values::required_text("name", &p.name, 200)?;
    let kind = Kind::parse_field(&p.kind)?;
    let value = p.value.as_deref().map(str::trim).filter(|v| !v.is_empty());
    let (percent, amount) = match (kind, value) {
        (Kind::Percentage, Some(v)) => (rules::parse_percentage("value", v)?, 0),
        (Kind::FixedAmount, Some(v)) => match v.parse::<i64>() {
            Ok(n) if n > 0 => (0, n),
            _ => {
                return Err(Error::invalid(
                    "value",
                    "must be an amount in minor units above 0, such as \"500\"",
                ));
            }
        },
        (Kind::FreeShipping, None) => (0, 0),
        (Kind::FreeShipping, Some(_)) => {
            return Err(Error::invalid("value", "free shipping takes no value"));
        }
        (_, None) => return Err(Error::invalid("value", "is required for this kind")),
    };
    let code = p.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = code
        && (c.len() > 64
            || !c
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_'))
    {
        return Err(Error::invalid(
            "code",
            "must be 1 to 64 letters, digits, - or _",
        ));
    }
    let time = |f: &str, v: &Option<String>| v.as_deref().map(|s| parse_time(f, s)).transpose();
    let (starts, ends) = (
        time("starts_at", &p.starts_at)?,
        time("ends_at", &p.ends_at)?,
    );
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        return Err(Error::invalid("ends_at", "must be after starts_at"));
    }
    let (total, per_customer) = (
        limit("usage_limit", p.usage_limit)?,
        limit("usage_limit_per_customer", p.usage_limit_per_customer)?,
    );
    let r = tx
        .query_one(
            "INSERT INTO promotions (name, kind, percent_ppm, amount_minor, code, code_key, usage_limit, usage_limit_per_customer, starts_at, ends_at, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, $11) ON CONFLICT (code_key) DO NOTHING RETURNING id",
            params![
                name.as_str(),
                kind.as_str(),
                i64::from(percent),
                amount,
                code,
                code.map(str::to_uppercase),
                total,
                per_customer,
                starts,
                ends,
                ctx.now
            ],
        )?
        .ok_or_else(|| Error::Conflict {
            code: "code_exists",
            message: format!("the code {} is taken", code.unwrap_or_default()),
            field: Some("code".into()),
        })?;
    let id: i64 = r.get("id")?;
    audit::record(
        tx,
        ctx,
        "promotion.created",
        "promotion",
        id,
        json!({"name": name, "kind": kind.as_str(), "code": code}),
    )?;
    get(tx, id)
}

pub fn get(tx: &mut dyn Sql, id: i64) -> Result<Promotion> {
    query_one_as::<PromotionRow>(
        tx,
        &format!("SELECT {COLUMNS} FROM promotions WHERE id = $1"),
        params![id],
    )?
    .map(promotion_of)
    .ok_or(Error::NotFound {
        entity: "promotion",
    })
}

/// Every promotion, newest first.
pub fn list(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Promotion>> {
    ctx.actor.require(Permission::OrdersRead)?;
    Ok(query_as::<PromotionRow>(
        tx,
        &format!("SELECT {COLUMNS} FROM promotions ORDER BY id DESC"),
        &[],
    )?
    .into_iter()
    .map(promotion_of)
    .collect())
}

/// What an order's code gives: the promotion, and its discount on the order's lines.
#[derive(Clone, Debug)]
pub(crate) struct Applied {
    pub promotion_id: i64,
    pub code: String,
    pub kind: Kind,
    /// Each line's share of the discount, in line order.
    pub line_discounts: Vec<i64>,
    pub per_customer: Option<i64>,
}

/// The promotion the codes name, checked (one code per order, active, within its window) and
/// worked out on lines worth `line_amounts`; none without codes.
pub(crate) fn for_codes(
    tx: &mut dyn Sql,
    codes: &[String],
    line_amounts: &[i64],
    now: i64,
) -> Result<Option<Applied>> {
    let codes: Vec<&str> = codes
        .iter()
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
        .collect();
    let Some(code) = codes.first() else {
        return Ok(None);
    };
    if codes.len() > 1 {
        return Err(Error::invalid("discount_codes", "one code per order"));
    }
    let field = "discount_codes[0]";
    let r = query_one_as::<PromotionRow>(
        tx,
        &format!("SELECT {COLUMNS} FROM promotions WHERE code_key = $1"),
        params![code.to_uppercase()],
    )?
    .ok_or_else(|| Error::invalid(field, format!("{code} is not a discount code")))?;
    if !r.active || r.starts_at.is_some_and(|s| now < s) || r.ends_at.is_some_and(|e| now >= e) {
        return Err(Error::invalid(field, format!("{code} is not valid now")));
    }
    if r.usage_limit.is_some_and(|l| r.times_used >= l) {
        return Err(used_up(code));
    }
    let kind = Kind::parse(&r.kind).unwrap_or(Kind::FreeShipping);
    let subtotal: i64 = line_amounts.iter().sum();
    let percent = u32::try_from(r.percent_ppm).unwrap_or(0);
    let discount = rules::order_discount(kind, percent, r.amount_minor, subtotal);
    Ok(Some(Applied {
        promotion_id: r.id,
        code: r.code.unwrap_or_else(|| code.to_string()),
        kind,
        line_discounts: rules::allocate_discount(discount, line_amounts),
        per_customer: r.usage_limit_per_customer,
    }))
}

fn used_up(code: &str) -> Error {
    Error::Conflict {
        code: "code_used_up",
        message: format!("{code} has been used as often as it may be"),
        field: Some("discount_codes[0]".into()),
    }
}

/// Counts a redemption by an order, in its transaction: only while the promotion is under its
/// limit (the row's update serializes racing orders), and under the customer's limit.
pub(crate) fn redeem(
    tx: &mut dyn Sql,
    a: &Applied,
    order_id: i64,
    customer_id: i64,
    now: i64,
) -> Result<()> {
    let n = tx.exec(
        "UPDATE promotions SET times_used = times_used + 1 WHERE id = $1 AND (usage_limit IS NULL OR times_used < usage_limit)",
        params![a.promotion_id],
    )?;
    if n == 0 {
        return Err(used_up(&a.code));
    }
    if let Some(per) = a.per_customer {
        let used: i64 = tx
            .query_one(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM promotion_redemptions WHERE promotion_id = $1 AND customer_id = $2 AND released_at IS NULL",
                params![a.promotion_id, customer_id],
            )?
            .map(|r| r.get::<i64>("n"))
            .transpose()?
            .unwrap_or(0);
        if used >= per {
            return Err(Error::Conflict {
                code: "code_used_by_customer",
                message: format!(
                    "{} has been used by this customer as often as it may be",
                    a.code
                ),
                field: Some("discount_codes[0]".into()),
            });
        }
    }
    let amount: i64 = a.line_discounts.iter().sum();
    tx.exec(
        "INSERT INTO promotion_redemptions (promotion_id, order_id, customer_id, amount_minor, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![a.promotion_id, order_id, customer_id, amount, now],
    )?;
    Ok(())
}

/// Gives back a cancelled order's redemptions.
pub(crate) fn release(tx: &mut dyn Sql, order_id: i64, now: i64) -> Result<()> {
    crate::row! { struct RedemptionRow { id: i64, promotion_id: i64 } }
    for r in query_as::<RedemptionRow>(
        tx,
        "SELECT id, promotion_id FROM promotion_redemptions WHERE order_id = $1 AND released_at IS NULL",
        params![order_id],
    )? {
        tx.exec(
            "UPDATE promotion_redemptions SET released_at = $1 WHERE id = $2",
            params![now, r.id],
        )?;
        tx.exec(
            "UPDATE promotions SET times_used = times_used - 1 WHERE id = $1",
            params![r.promotion_id],
        )?;
    }
    Ok(())
}
