//! Promotions at placement: which an order gets, claimed exactly, and recorded.
//!
//! Each server keeps the live promotions' rules in memory, keyed by the generation stamp every
//! definition change rewrites; placement reads the stamp in its one round trip, so a stale cache
//! is never used. Codes are looked up in the same round trip. [`plan`] evaluates the cart
//! ([`backroom_domain::promotions::engine`]) and claims what applied in the order's transaction:
//! a code's and a limited promotion's counters go up only while under their limits (the row's
//! update serializes racing orders; a limit is exact), the customer's uses are counted after
//! that lock. A failed claim drops the promotion and the cart is evaluated again. [`record`]
//! writes the redemptions once the order has its id; [`release`] gives them back on cancel.

use crate::api::Money;
use crate::db::{Row, Sql, Val, query_as};
use crate::{Error, Result, params};
use backroom_domain::promotions::engine::{self, Cart, Outcome, Refusal, Rule};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;

/// The generation stamp: placement reads it with everything else.
pub(crate) const GENERATION_SQL: &str = "SELECT stamp FROM promotion_generation WHERE id = 1";

/// The codes an order names, by key (`$1`, a list of upper-cased codes).
pub(crate) fn codes_sql(dialect: crate::db::Dialect) -> String {
    let (cond, _) = crate::db::in_list(dialect, "code_key", 1, &[Val::Text(String::new())]);
    format!(
        "SELECT id, promotion_id, code, code_key, usage_limit, times_used FROM promotion_codes WHERE {cond}"
    )
}

/// The order's codes as [`codes_sql`]'s parameter, and as the customer wrote them.
pub(crate) fn code_keys(codes: &[String]) -> (Vec<String>, Val) {
    let mut entered: Vec<String> = Vec::new();
    for c in codes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        if !entered.iter().any(|e| e.eq_ignore_ascii_case(c)) {
            entered.push(c.to_string());
        }
    }
    let keys = entered
        .iter()
        .map(|c| Val::Text(c.to_uppercase()))
        .collect();
    (entered, Val::List(keys))
}

/// A live promotion as placement needs it.
#[derive(Debug)]
pub(crate) struct LiveRule {
    rule: Rule,
    name: String,
    usage_limit: Option<i64>,
    per_customer: Option<i64>,
    /// Its campaign (lower-cased) when that campaign has a budget to claim from.
    budget: Option<String>,
}

impl LiveRule {
    /// Its own counter is kept (and locked) only when a limit needs it.
    fn counted(&self) -> bool {
        self.usage_limit.is_some() || self.per_customer.is_some()
    }
}

/// The live promotions at one generation.
#[derive(Debug)]
pub(crate) struct Live {
    stamp: String,
    by_id: HashMap<i64, LiveRule>,
    automatic: Vec<i64>,
    /// The automatic promotions whose conditions name no product: every cart's candidates.
    general: Vec<i64>,
    /// The others, by what they name (types, vendors and tags lower-cased): a cart's
    /// candidates are those its lines match, since a promotion that names products applies
    /// only when a line is eligible.
    by_name: HashMap<Name, Vec<i64>>,
}

/// What a promotion's product conditions name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Name {
    Product(i64),
    Variant(i64),
    Type(String),
    Vendor(String),
    Tag(String),
}

impl Live {
    /// The automatic promotions that may apply to the cart (those naming none of its lines
    /// cannot), in id order.
    fn automatic_for(&self, cart: &Cart) -> Vec<i64> {
        let mut out = self.general.clone();
        let mut look = |n: Name| {
            if let Some(ids) = self.by_name.get(&n) {
                out.extend_from_slice(ids);
            }
        };
        for l in &cart.lines {
            look(Name::Variant(l.variant_id));
            look(Name::Product(l.product_id));
            look(Name::Type(l.product_type.to_lowercase()));
            look(Name::Vendor(l.vendor.to_lowercase()));
            for t in &l.tags {
                look(Name::Tag(t.to_lowercase()));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// The names a rule's product conditions give, or none when it names no product.
fn names_of(r: &Rule) -> Vec<Name> {
    let c = &r.conditions;
    let mut out: Vec<Name> = c.products.iter().map(|p| Name::Product(*p)).collect();
    out.extend(c.variants.iter().map(|v| Name::Variant(*v)));
    out.extend(c.product_types.iter().map(|t| Name::Type(t.to_lowercase())));
    out.extend(c.vendors.iter().map(|v| Name::Vendor(v.to_lowercase())));
    out.extend(c.tags.iter().map(|t| Name::Tag(t.to_lowercase())));
    out
}

/// A few generations (one per database a process serves; tests serve many).
static CACHE: Mutex<Vec<Arc<Live>>> = Mutex::new(Vec::new());

/// The live promotions for this stamp: from memory, or loaded once.
pub(crate) fn live(tx: &mut dyn Sql, stamp: &str, now: i64) -> Result<Arc<Live>> {
    if let Some(l) = CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|l| l.stamp == stamp)
    {
        return Ok(l.clone());
    }
    let rows = query_as::<super::PromotionRow>(
        tx,
        &format!(
            "SELECT {} FROM promotions WHERE active = TRUE AND (ends_at IS NULL OR ends_at > $1)",
            super::COLUMNS
        ),
        params![now],
    )?;
    let budgeted = crate::budgets::budgeted(tx)?;
    let mut by_id = HashMap::with_capacity(rows.len());
    let mut automatic = Vec::new();
    for r in rows {
        let budget = r
            .campaign
            .as_deref()
            .map(str::to_lowercase)
            .filter(|c| budgeted.contains(c));
        if r.automatic {
            automatic.push(r.id);
        }
        by_id.insert(
            r.id,
            LiveRule {
                rule: r.rule(),
                usage_limit: r.usage_limit,
                per_customer: r.usage_limit_per_customer,
                budget,
                name: r.name,
            },
        );
    }
    automatic.sort_unstable();
    let mut general = Vec::new();
    let mut by_name: HashMap<Name, Vec<i64>> = HashMap::new();
    for id in &automatic {
        let names = names_of(&by_id[id].rule);
        if names.is_empty() {
            general.push(*id);
        }
        for n in names {
            by_name.entry(n).or_default().push(*id);
        }
    }
    let l = Arc::new(Live {
        stamp: stamp.to_string(),
        by_id,
        automatic,
        general,
        by_name,
    });
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache.retain(|c| c.stamp != stamp);
    if cache.len() >= 16 {
        cache.remove(0);
    }
    cache.push(l.clone());
    Ok(l)
}

/// A promotion an order was offered that did not apply, and why.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Default)]
pub struct DiscountNotApplied {
    pub promotion_id: Option<i64>,
    pub name: Option<String>,
    /// The code the customer entered, when it came from one.
    pub code: Option<String>,
    /// A stable reason code (`min_subtotal`, `used_up`, `does_not_combine`, `unknown_code`...).
    pub reason_code: String,
    pub reason: String,
}

/// A promotion an order got.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct DiscountApplication {
    pub promotion_id: i64,
    pub name: String,
    pub kind: String,
    pub code: Option<String>,
    /// What it took off the lines (each line's `discount` holds its share).
    pub amount: Money,
    /// What it took off shipping.
    pub shipping: Money,
}

/// A claimed promotion, waiting for the order's id.
#[derive(Clone, Debug)]
pub(crate) struct Claimed {
    pub promotion_id: i64,
    pub code_id: Option<i64>,
    pub code: Option<String>,
    pub amount: i64,
    pub shipping: i64,
    name: String,
    kind: &'static str,
    /// What it took from its campaign's budget.
    budget: Option<i64>,
}

/// What an order gets: each line's discount, free shipping, and what to record.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub line_discounts: Vec<i64>,
    pub free_shipping: bool,
    pub claimed: Vec<Claimed>,
    pub not_applied: Vec<DiscountNotApplied>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.claimed.is_empty() && self.not_applied.is_empty()
    }

    /// As the order shows them.
    pub fn applications(&self, currency: &str) -> Vec<DiscountApplication> {
        let m = |a| crate::orders::money(a, currency);
        self.claimed
            .iter()
            .map(|c| DiscountApplication {
                promotion_id: c.promotion_id,
                name: c.name.clone(),
                kind: c.kind.into(),
                code: c.code.clone(),
                amount: m(c.amount),
                shipping: m(c.shipping),
            })
            .collect()
    }
}

/// A code row found by [`codes_sql`].
struct Hit {
    id: i64,
    promotion_id: i64,
    code: String,
}

/// What placement brings to [`plan`].
pub(crate) struct Offer<'a> {
    pub live: &'a Live,
    /// The codes as entered ([`code_keys`]).
    pub entered: &'a [String],
    /// [`codes_sql`]'s rows.
    pub code_rows: &'a [Row],
    pub skip_invalid: bool,
    pub cart: Cart,
    /// The customer when known (a new one has used nothing).
    pub customer_id: Option<i64>,
    pub currency: &'a str,
}

/// A refusal of an entered code: the order is refused naming it, unless the client asked to
/// place the order without codes that do not apply.
fn code_error(i: usize, code: &str, why: &Refusal, words: String) -> Error {
    let field = format!("discount_codes[{i}]");
    let message = format!("{code} {words}");
    match why {
        Refusal::UsedUp => Error::Conflict {
            code: "code_used_up",
            message,
            field: Some(field),
        },
        Refusal::UsedByCustomer => Error::Conflict {
            code: "code_used_by_customer",
            message,
            field: Some(field),
        },
        Refusal::BudgetSpent => Error::Conflict {
            code: "budget_spent",
            message,
            field: Some(field),
        },
        _ => Error::invalid(field, message),
    }
}

/// Reasons an automatic promotion's refusal is worth showing on the order: it was close, or it
/// lost to another. (Those for other channels, customers or products are not news.)
fn worth_noting(r: &Refusal) -> bool {
    !matches!(
        r,
        Refusal::NotStarted
            | Refusal::Ended
            | Refusal::Channel
            | Refusal::NewCustomersOnly
            | Refusal::CustomerTags
            | Refusal::NoEligibleLines
    )
}

/// Evaluates the offer and claims what applies (see the module's notes).
pub(crate) fn plan(tx: &mut dyn Sql, o: Offer<'_>) -> Result<Plan> {
    if o.live.automatic.is_empty() && o.entered.is_empty() {
        return Ok(Plan {
            line_discounts: vec![0; o.cart.lines.len()],
            ..Plan::default()
        });
    }
    let money = |a: i64| backroom_domain::money::human_in(a, o.currency);
    let name = |id: i64| {
        o.live
            .by_id
            .get(&id)
            .map_or_else(|| format!("promotion {id}"), |r| r.name.clone())
    };
    let mut notes: Vec<DiscountNotApplied> = Vec::new();
    // The entered codes: (index, code as entered, its row) for those that name a live promotion.
    let mut codes: Vec<(usize, String, Hit)> = Vec::new();
    for (i, entered) in o.entered.iter().enumerate() {
        let key = entered.to_uppercase();
        let hit = o
            .code_rows
            .iter()
            .find(|r| r.get::<String>("code_key").is_ok_and(|k| k == key));
        let refused = |code: &'static str, reason: &str| -> Result<DiscountNotApplied> {
            if !o.skip_invalid {
                return Err(Error::invalid(
                    format!("discount_codes[{i}]"),
                    format!("{entered} {reason}"),
                ));
            }
            Ok(DiscountNotApplied {
                code: Some(entered.clone()),
                reason_code: code.into(),
                reason: reason.into(),
                ..DiscountNotApplied::default()
            })
        };
        let Some(r) = hit else {
            notes.push(refused("unknown_code", "is not a discount code")?);
            continue;
        };
        let h = Hit {
            id: r.get("id")?,
            promotion_id: r.get("promotion_id")?,
            code: r.get("code")?,
        };
        if !o.live.by_id.contains_key(&h.promotion_id) {
            notes.push(refused("inactive", "is not valid now")?);
            continue;
        }
        let (limit, used): (Option<i64>, i64) = (r.get("usage_limit")?, r.get("times_used")?);
        if limit.is_some_and(|l| used >= l) {
            let words = Refusal::UsedUp.words(&money, &name);
            if !o.skip_invalid {
                return Err(code_error(i, entered, &Refusal::UsedUp, words));
            }
            notes.push(DiscountNotApplied {
                promotion_id: Some(h.promotion_id),
                name: Some(name(h.promotion_id)),
                code: Some(h.code),
                reason_code: "used_up".into(),
                reason: words,
            });
            continue;
        }
        if codes
            .iter()
            .any(|(_, _, c)| c.promotion_id == h.promotion_id)
            || o.live.automatic.contains(&h.promotion_id)
        {
            notes.push(refused(
                "same_promotion",
                "is for a promotion the order already has",
            )?);
            continue;
        }
        codes.push((i, entered.clone(), h));
    }
    let mut candidates: Vec<i64> = o.live.automatic_for(&o.cart);
    candidates.extend(codes.iter().map(|(_, _, h)| h.promotion_id));
    // Claims that failed, with why; the cart is evaluated again without them.
    let mut dropped: Vec<(i64, Refusal)> = Vec::new();
    loop {
        let rules: Vec<&Rule> = candidates
            .iter()
            .filter(|id| !dropped.iter().any(|(d, _)| d == *id))
            .filter_map(|id| o.live.by_id.get(id).map(|r| &r.rule))
            .collect();
        let outcome = engine::evaluate(&o.cart, &rules);
        let mut refused: Vec<(i64, Refusal)> = outcome.refused.clone();
        refused.extend(dropped.iter().cloned());
        // An entered code that does not apply refuses the order, unless asked otherwise.
        for (i, entered, h) in &codes {
            if let Some((_, why)) = refused.iter().find(|(id, _)| *id == h.promotion_id)
                && !o.skip_invalid
            {
                return Err(code_error(*i, entered, why, why.words(&money, &name)));
            }
        }
        match claim_all(tx, &o, &outcome, &codes)? {
            Err(failed) => dropped.push(failed),
            Ok(claimed) => {
                refused.sort_by_key(|(id, _)| *id);
                for (id, why) in refused {
                    let code = codes.iter().find(|(_, _, h)| h.promotion_id == id);
                    if code.is_none() && !worth_noting(&why) {
                        continue;
                    }
                    notes.push(DiscountNotApplied {
                        promotion_id: Some(id),
                        name: Some(name(id)),
                        code: code.map(|(_, _, h)| h.code.clone()),
                        reason_code: why.code().into(),
                        reason: why.words(&money, &name),
                    });
                }
                notes.truncate(20);
                return Ok(Plan {
                    line_discounts: outcome.line_discounts,
                    free_shipping: outcome.free_shipping,
                    claimed,
                    not_applied: notes,
                });
            }
        }
    }
}

/// A claim to undo when a later one fails.
enum Undo {
    Code(i64),
    Promotion(i64),
    Budget(String, i64),
}

/// Claims every applied promotion, or undoes those claimed and names the one that failed.
fn claim_all(
    tx: &mut dyn Sql,
    o: &Offer<'_>,
    outcome: &Outcome,
    codes: &[(usize, String, Hit)],
) -> Result<std::result::Result<Vec<Claimed>, (i64, Refusal)>> {
    let mut undo: Vec<Undo> = Vec::new();
    let mut claimed = Vec::with_capacity(outcome.applied.len());
    for a in &outcome.applied {
        let Some(live) = o.live.by_id.get(&a.id) else {
            continue;
        };
        let code = codes
            .iter()
            .find(|(_, _, h)| h.promotion_id == a.id)
            .map(|(_, _, h)| h);
        let cost = a.amount() + a.shipping;
        let failed = claim_one(tx, o.customer_id, live, code, cost, &mut undo)?;
        if let Some(why) = failed {
            for u in undo {
                match u {
                    Undo::Code(id) => tx.exec(UNDO_CODE, params![id])?,
                    Undo::Promotion(id) => tx.exec(UNDO_PROMOTION, params![id])?,
                    Undo::Budget(c, amount) => {
                        crate::budgets::give_back(tx, &c, amount)?;
                        0
                    }
                };
            }
            return Ok(Err((a.id, why)));
        }
        claimed.push(Claimed {
            promotion_id: a.id,
            code_id: code.map(|h| h.id),
            code: code.map(|h| h.code.clone()),
            amount: a.amount(),
            shipping: a.shipping,
            name: live.name.clone(),
            kind: live.rule.kind.as_str(),
            budget: live.budget.as_ref().map(|_| cost),
        });
    }
    Ok(Ok(claimed))
}

const UNDO_CODE: &str = "UPDATE promotion_codes SET times_used = times_used - 1 WHERE id = $1";
const UNDO_PROMOTION: &str = "UPDATE promotions SET times_used = times_used - 1 WHERE id = $1";

/// Claims one promotion (its code, then its own counter, then the customer's uses, then its
/// campaign's budget); the refusal when a limit is reached.
fn claim_one(
    tx: &mut dyn Sql,
    customer_id: Option<i64>,
    live: &LiveRule,
    code: Option<&Hit>,
    cost: i64,
    undo: &mut Vec<Undo>,
) -> Result<Option<Refusal>> {
    if let Some(h) = code {
        let n = tx.exec(
            "UPDATE promotion_codes SET times_used = times_used + 1 WHERE id = $1 AND (usage_limit IS NULL OR times_used < usage_limit)",
            params![h.id],
        )?;
        if n == 0 {
            return Ok(Some(Refusal::UsedUp));
        }
        undo.push(Undo::Code(h.id));
    }
    if live.counted() {
        let id = live.rule.id;
        let n = tx.exec(
            "UPDATE promotions SET times_used = times_used + 1 WHERE id = $1 AND (usage_limit IS NULL OR times_used < usage_limit)",
            params![id],
        )?;
        if n == 0 {
            return Ok(Some(Refusal::UsedUp));
        }
        undo.push(Undo::Promotion(id));
        if let (Some(per), Some(customer)) = (live.per_customer, customer_id) {
            let used: i64 = tx
                .query_one(
                    "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM promotion_redemptions WHERE promotion_id = $1 AND customer_id = $2 AND released_at IS NULL",
                    params![id, customer],
                )?
                .map(|r| r.get::<i64>("n"))
                .transpose()?
                .unwrap_or(0);
            if used >= per {
                return Ok(Some(Refusal::UsedByCustomer));
            }
        }
    }
    if let Some(c) = &live.budget {
        if !crate::budgets::claim(tx, c, cost)? {
            return Ok(Some(Refusal::BudgetSpent));
        }
        undo.push(Undo::Budget(c.clone(), cost));
    }
    Ok(None)
}

/// Writes the claimed promotions' redemptions for the order, in one queued statement.
pub(crate) fn record(
    tx: &mut dyn Sql,
    plan: &Plan,
    order_id: i64,
    customer_id: i64,
    now: i64,
) -> Result<()> {
    if plan.claimed.is_empty() {
        return Ok(());
    }
    let mut vals: Vec<Val> = Vec::with_capacity(plan.claimed.len() * 8);
    for c in &plan.claimed {
        vals.extend([
            c.promotion_id.into(),
            order_id.into(),
            customer_id.into(),
            c.amount.into(),
            c.shipping.into(),
            c.code_id.into(),
            c.budget.into(),
            now.into(),
        ]);
    }
    tx.exec_deferred(
        &format!(
            "INSERT INTO promotion_redemptions (promotion_id, order_id, customer_id, amount_minor, shipping_minor, code_id, budget_minor, created_at) VALUES {}",
            crate::db::values_sql(plan.claimed.len(), 8)
        ),
        &vals,
    )?;
    Ok(())
}

/// Gives back a cancelled order's redemptions (and the counters they took).
pub(crate) fn release(tx: &mut dyn Sql, order_id: i64, now: i64) -> Result<()> {
    crate::row! { struct RedemptionRow { id: i64, promotion_id: i64, code_id: Option<i64>, counted: bool, budget_minor: Option<i64>, campaign: Option<String> } }
    for r in query_as::<RedemptionRow>(
        tx,
        "SELECT r.id, r.promotion_id, r.code_id, (p.usage_limit IS NOT NULL OR p.usage_limit_per_customer IS NOT NULL) AS counted, r.budget_minor, p.campaign \
         FROM promotion_redemptions r JOIN promotions p ON p.id = r.promotion_id WHERE r.order_id = $1 AND r.released_at IS NULL",
        params![order_id],
    )? {
        tx.exec(
            "UPDATE promotion_redemptions SET released_at = $1 WHERE id = $2",
            params![now, r.id],
        )?;
        if r.counted {
            tx.exec(UNDO_PROMOTION, params![r.promotion_id])?;
        }
        if let Some(c) = r.code_id {
            tx.exec(UNDO_CODE, params![c])?;
        }
        if let (Some(amount), Some(campaign)) = (r.budget_minor, &r.campaign) {
            crate::budgets::give_back(tx, campaign, amount)?;
        }
    }
    Ok(())
}

/// Redemptions not given back, per promotion.
pub(crate) fn times_used(tx: &mut dyn Sql, ids: &[i64]) -> Result<HashMap<i64, i64>> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let vals: Vec<Val> = ids.iter().map(|i| (*i).into()).collect();
    let (cond, list) = crate::db::in_list(tx.dialect(), "promotion_id", 1, &vals);
    for r in tx.query(
        &format!(
            "SELECT promotion_id, CAST(COUNT(*) AS BIGINT) AS n FROM promotion_redemptions WHERE released_at IS NULL AND {cond} GROUP BY promotion_id"
        ),
        &[list],
    )? {
        out.insert(r.get("promotion_id")?, r.get("n")?);
    }
    Ok(out)
}

/// The promotions an order got, as it shows them.
pub fn applications(
    tx: &mut dyn Sql,
    order_id: i64,
    currency: &str,
) -> Result<Vec<DiscountApplication>> {
    crate::row! {
        struct AppRow { promotion_id: i64, name: String, kind: String, code: Option<String>, amount_minor: i64, shipping_minor: i64 }
    }
    let m = |a| crate::orders::money(a, currency);
    Ok(query_as::<AppRow>(
        tx,
        "SELECT r.promotion_id, p.name, p.kind, c.code, r.amount_minor, r.shipping_minor FROM promotion_redemptions r \
         JOIN promotions p ON p.id = r.promotion_id LEFT JOIN promotion_codes c ON c.id = r.code_id \
         WHERE r.order_id = $1 ORDER BY r.id",
        params![order_id],
    )?
    .into_iter()
    .map(|r| DiscountApplication {
        promotion_id: r.promotion_id,
        name: r.name,
        kind: r.kind,
        code: r.code,
        amount: m(r.amount_minor),
        shipping: m(r.shipping_minor),
    })
    .collect())
}

/// An order's promotions evaluated again after an edit, on its lines as they are now (`lines`,
/// in line order): what each line's discount becomes, and the promotions that fell away (their
/// redemptions removed and their uses given back), or none when the order has no promotion off its lines. Conditions
/// on the customer, channel and window were met when the order was placed and are not asked
/// again; no promotion is added; free shipping stays as placed.
pub(crate) fn reevaluate(
    tx: &mut dyn Sql,
    order_id: i64,
    lines: Vec<engine::CartLine>,
    now: i64,
    currency: &str,
) -> Result<Option<(Vec<i64>, Vec<DiscountNotApplied>)>> {
    crate::row! {
        struct Held { redemption_id: i64, code_id: Option<i64>, code: Option<String>, budget_minor: Option<i64>, amount_minor: i64 }
    }
    let cols = super::COLUMNS
        .split(", ")
        .map(|c| format!("p.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = tx.query(
        &format!(
            "SELECT r.id AS redemption_id, r.code_id, c.code, r.budget_minor, r.amount_minor, {cols} FROM promotion_redemptions r JOIN promotions p ON p.id = r.promotion_id \
             LEFT JOIN promotion_codes c ON c.id = r.code_id WHERE r.order_id = $1 AND r.released_at IS NULL ORDER BY r.id"
        ),
        params![order_id],
    )?;
    let mut held = Vec::new();
    for r in &rows {
        let p = <super::PromotionRow as crate::db::FromRow>::from_row(r)?;
        if p.kind() == backroom_domain::promotions::Kind::FreeShipping {
            continue;
        }
        let h = <Held as crate::db::FromRow>::from_row(r)?;
        let mut rule = p.rule();
        rule.conditions.channels.clear();
        rule.conditions.customer_tags.clear();
        rule.conditions.new_customers_only = false;
        (rule.starts_at, rule.ends_at) = (None, None);
        held.push((h, p, rule));
    }
    if held.is_empty() {
        return Ok(None);
    }
    let cart = Cart {
        lines,
        now,
        ..Cart::default()
    };
    let rules: Vec<&Rule> = held.iter().map(|(_, _, r)| r).collect();
    let outcome = engine::evaluate(&cart, &rules);
    let money = |a: i64| backroom_domain::money::human_in(a, currency);
    let mut notes = Vec::new();
    for (h, p, rule) in &held {
        let campaign = p.campaign.as_deref().filter(|_| h.budget_minor.is_some());
        if let Some(a) = outcome.applied.iter().find(|a| a.id == rule.id) {
            let delta = a.amount() - h.amount_minor;
            tx.exec(
                "UPDATE promotion_redemptions SET amount_minor = $1, budget_minor = budget_minor + $2 WHERE id = $3",
                params![a.amount(), delta, h.redemption_id],
            )?;
            if let Some(c) = campaign
                && delta != 0
            {
                crate::budgets::adjust(tx, c, delta)?;
            }
            continue;
        }
        if let (Some(c), Some(amount)) = (campaign, h.budget_minor) {
            crate::budgets::give_back(tx, c, amount)?;
        }
        let why = outcome
            .refused
            .iter()
            .find(|(id, _)| *id == rule.id)
            .map_or(Refusal::NothingOff, |(_, w)| w.clone());
        tx.exec(
            "DELETE FROM promotion_redemptions WHERE id = $1",
            params![h.redemption_id],
        )?;
        if p.usage_limit.is_some() || p.usage_limit_per_customer.is_some() {
            tx.exec(UNDO_PROMOTION, params![p.id])?;
        }
        if let Some(c) = h.code_id {
            tx.exec(UNDO_CODE, params![c])?;
        }
        notes.push(DiscountNotApplied {
            promotion_id: Some(p.id),
            name: Some(p.name.clone()),
            code: h.code.clone(),
            reason_code: why.code().into(),
            reason: why.words(&money, &|id| format!("promotion {id}")),
        });
    }
    Ok(Some((outcome.line_discounts, notes)))
}
