//! Which promotions an order gets and what each takes off which line. Pure: the caller brings
//! the cart (lines with their product facts, channel, customer, time, shipping charge) and the
//! candidate promotions (every automatic one and those the order's codes name); limits and
//! budgets are claimed by the caller afterwards, and a promotion whose claim fails is dropped
//! and the cart evaluated again.
//!
//! The rules, in order:
//! 1. A promotion qualifies when the time is in its window, the channel and customer match, at
//!    least one line is eligible (with no product condition every line is; otherwise a line
//!    matching any listed product, variant, type, vendor or tag) and the eligible lines reach
//!    the minimum subtotal and quantity (at their full prices).
//! 2. Qualifying promotions are applied in a fixed sequence: buy X get Y first, then those off
//!    eligible lines, then those off the order, then free shipping; by id within each. Each
//!    works on what the lines are still worth after the ones before it, so two percentages
//!    compound and no line goes below zero.
//! 3. A promotion that does not combine is applied alone. The engine compares the promotions
//!    that combine, applied together, with each one that does not, applied alone, and keeps
//!    whichever takes most off (lines and shipping); a tie keeps the combined ones, then the
//!    lowest id. The others are refused with the reason.
//! 4. An amount is spread over the lines it comes off in proportion to what they are still
//!    worth (half-to-even, the remainder to the last of them), so the parts sum to it.

use super::{Kind, Target};
use crate::money::{allocate, apply_ppm};
use serde::{Deserialize, Serialize};

/// Who a promotion is for and which lines it concerns; an empty list is no condition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Conditions {
    /// Channel codes.
    pub channels: Vec<String>,
    /// Minor units the eligible lines must reach at full price.
    pub min_subtotal: Option<i64>,
    /// Units of eligible lines.
    pub min_quantity: Option<i64>,
    pub products: Vec<i64>,
    pub variants: Vec<i64>,
    pub product_types: Vec<String>,
    pub vendors: Vec<String>,
    /// Product tags.
    pub tags: Vec<String>,
    /// Only customers with no order yet.
    pub new_customers_only: bool,
    /// The customer carries at least one of these tags.
    pub customer_tags: Vec<String>,
}

impl Conditions {
    /// Whether it names products, variants, types, vendors or tags.
    pub fn names_products(&self) -> bool {
        !(self.products.is_empty()
            && self.variants.is_empty()
            && self.product_types.is_empty()
            && self.vendors.is_empty()
            && self.tags.is_empty())
    }

    fn eligible(&self, l: &CartLine) -> bool {
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        !self.names_products()
            || self.products.contains(&l.product_id)
            || self.variants.contains(&l.variant_id)
            || self.product_types.iter().any(|t| eq(t, &l.product_type))
            || self.vendors.iter().any(|v| eq(v, &l.vendor))
            || self.tags.iter().any(|t| l.tags.iter().any(|x| eq(t, x)))
    }
}

/// A step of a tiered promotion: from this subtotal of eligible lines, this value (millionths
/// for a percentage, minor units for a fixed amount).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub min_subtotal: i64,
    pub value: i64,
}

/// Buy `buy_quantity` eligible units, get `get_quantity` units (the cheapest, of the eligible
/// lines or of the named ones) at `get_percent_ppm` off (all of it: free).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyXGetY {
    pub buy_quantity: i64,
    pub get_quantity: i64,
    pub get_percent_ppm: u32,
    /// The units given come from these variants or products; none: from the eligible lines.
    #[serde(default)]
    pub get_variants: Vec<i64>,
    #[serde(default)]
    pub get_products: Vec<i64>,
    /// How many times an order may use it.
    #[serde(default)]
    pub max_per_order: Option<i64>,
}

/// A promotion as the engine sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: i64,
    pub kind: Kind,
    pub target: Target,
    pub percent_ppm: u32,
    pub amount: i64,
    /// When set, the highest tier reached gives the value.
    pub tiers: Vec<Tier>,
    pub buy_x_get_y: Option<BuyXGetY>,
    pub conditions: Conditions,
    pub combines: bool,
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
}

/// A line of the cart with what conditions look at.
#[derive(Clone, Debug, Default)]
pub struct CartLine {
    pub variant_id: i64,
    pub product_id: i64,
    pub product_type: String,
    pub vendor: String,
    pub tags: Vec<String>,
    pub unit_price: i64,
    pub quantity: i64,
}

impl CartLine {
    fn amount(&self) -> i64 {
        self.unit_price.saturating_mul(self.quantity)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    pub channel: String,
    /// The customer has no order yet.
    pub new_customer: bool,
    pub customer_tags: Vec<String>,
    pub now: i64,
    /// What shipping would cost without a promotion.
    pub shipping: i64,
}

/// Why a promotion did not apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotStarted,
    Ended,
    Channel,
    NewCustomersOnly,
    CustomerTags,
    NoEligibleLines,
    /// The eligible lines fall short of the minimum (or of the first tier) by this much.
    MinSubtotal {
        short: i64,
    },
    MinQuantity {
        short: i64,
    },
    /// This many more eligible units would earn it.
    BuyMore {
        short: i64,
    },
    /// The order has none of the units it gives.
    NothingToGive,
    /// Promotions before it left nothing for it to take off.
    NothingOff,
    /// It does not combine, and the promotion named gives more (or they do not combine).
    DoesNotCombine {
        with: i64,
    },
    /// Every redemption it allows is used (claimed by the caller).
    UsedUp,
    /// The customer has used it as often as it may.
    UsedByCustomer,
    /// Its campaign's discount or usage budget is spent.
    BudgetSpent,
}

impl Refusal {
    /// A stable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::NotStarted => "not_started",
            Refusal::Ended => "ended",
            Refusal::Channel => "channel",
            Refusal::NewCustomersOnly => "new_customers_only",
            Refusal::CustomerTags => "customer_tags",
            Refusal::NoEligibleLines => "no_eligible_lines",
            Refusal::MinSubtotal { .. } => "min_subtotal",
            Refusal::MinQuantity { .. } => "min_quantity",
            Refusal::BuyMore { .. } => "buy_more",
            Refusal::NothingToGive => "nothing_to_give",
            Refusal::NothingOff => "nothing_off",
            Refusal::DoesNotCombine { .. } => "does_not_combine",
            Refusal::UsedUp => "used_up",
            Refusal::UsedByCustomer => "used_by_customer",
            Refusal::BudgetSpent => "budget_spent",
        }
    }

    /// The reason in words; `money` writes an amount, `name` names a promotion by id.
    pub fn words(&self, money: &dyn Fn(i64) -> String, name: &dyn Fn(i64) -> String) -> String {
        match self {
            Refusal::NotStarted => "has not started yet".into(),
            Refusal::Ended => "has ended".into(),
            Refusal::Channel => "does not apply on this channel".into(),
            Refusal::NewCustomersOnly => "is for a customer's first order only".into(),
            Refusal::CustomerTags => "is for other customers".into(),
            Refusal::NoEligibleLines => "applies to none of the order's products".into(),
            Refusal::MinSubtotal { short } => {
                format!("needs {} more of eligible products", money(*short))
            }
            Refusal::MinQuantity { short } => format!("needs {short} more eligible units"),
            Refusal::BuyMore { short } => format!("needs {short} more eligible units"),
            Refusal::NothingToGive => "the order has none of the items it gives".into(),
            Refusal::NothingOff => "the promotions before it left nothing to take off".into(),
            Refusal::DoesNotCombine { with } => {
                format!("does not combine with {}, which was applied", name(*with))
            }
            Refusal::UsedUp => "has been used as often as it may be".into(),
            Refusal::UsedByCustomer => {
                "has been used by this customer as often as it may be".into()
            }
            Refusal::BudgetSpent => "its campaign's budget is spent".into(),
        }
    }
}

/// One promotion applied: what it took off each line and off shipping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub id: i64,
    pub line_discounts: Vec<i64>,
    /// Taken off the shipping charge.
    pub shipping: i64,
}

impl Applied {
    pub fn amount(&self) -> i64 {
        self.line_discounts.iter().sum()
    }
}

/// What the cart gets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub applied: Vec<Applied>,
    pub refused: Vec<(i64, Refusal)>,
    /// Each line's discount, all promotions together.
    pub line_discounts: Vec<i64>,
    pub free_shipping: bool,
}

impl Outcome {
    fn value(&self) -> i64 {
        self.applied.iter().map(|a| a.amount() + a.shipping).sum()
    }
}

/// Whether the rule qualifies for the cart; each line's eligibility when it does.
fn qualify(r: &Rule, cart: &Cart) -> Result<Vec<bool>, Refusal> {
    if r.starts_at.is_some_and(|s| cart.now < s) {
        return Err(Refusal::NotStarted);
    }
    if r.ends_at.is_some_and(|e| cart.now >= e) {
        return Err(Refusal::Ended);
    }
    let c = &r.conditions;
    if !c.channels.is_empty()
        && !c
            .channels
            .iter()
            .any(|x| x.eq_ignore_ascii_case(&cart.channel))
    {
        return Err(Refusal::Channel);
    }
    if c.new_customers_only && !cart.new_customer {
        return Err(Refusal::NewCustomersOnly);
    }
    if !c.customer_tags.is_empty()
        && !c
            .customer_tags
            .iter()
            .any(|t| cart.customer_tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
    {
        return Err(Refusal::CustomerTags);
    }
    let eligible: Vec<bool> = cart.lines.iter().map(|l| c.eligible(l)).collect();
    if !eligible.contains(&true) {
        return Err(Refusal::NoEligibleLines);
    }
    let (mut subtotal, mut units) = (0i64, 0i64);
    for (l, _) in cart.lines.iter().zip(&eligible).filter(|(_, e)| **e) {
        subtotal = subtotal.saturating_add(l.amount());
        units = units.saturating_add(l.quantity);
    }
    if let Some(min) = c.min_subtotal.filter(|m| subtotal < *m) {
        return Err(Refusal::MinSubtotal {
            short: min - subtotal,
        });
    }
    if let Some(min) = c.min_quantity.filter(|m| units < *m) {
        return Err(Refusal::MinQuantity { short: min - units });
    }
    Ok(eligible)
}

/// Spreads `amount` over the lines with something left, in proportion to it; never more than
/// a line has left.
fn spread(amount: i64, weights: &[i64]) -> Vec<i64> {
    let idx: Vec<usize> = (0..weights.len()).filter(|i| weights[*i] > 0).collect();
    let w: Vec<i64> = idx.iter().map(|i| weights[*i]).collect();
    let mut out = vec![0; weights.len()];
    for (i, p) in idx.iter().zip(allocate(amount, &w)) {
        out[*i] = p;
    }
    out
}

/// The value of a percentage or fixed-amount rule for eligible lines worth `eligible_gross`.
fn value_for(r: &Rule, eligible_gross: i64) -> Result<i64, Refusal> {
    if r.tiers.is_empty() {
        return Ok(match r.kind {
            Kind::Percentage => i64::from(r.percent_ppm),
            _ => r.amount,
        });
    }
    r.tiers
        .iter()
        .filter(|t| t.min_subtotal <= eligible_gross)
        .max_by_key(|t| t.min_subtotal)
        .map(|t| t.value)
        .ok_or_else(|| Refusal::MinSubtotal {
            short: r.tiers.iter().map(|t| t.min_subtotal).min().unwrap_or(0) - eligible_gross,
        })
}

/// What one rule takes off each line, given what each line has `left`.
fn take(r: &Rule, cart: &Cart, eligible: &[bool], left: &[i64]) -> Result<Vec<i64>, Refusal> {
    match r.kind {
        Kind::FreeShipping => Ok(vec![0; left.len()]),
        Kind::BuyXGetY => buy_x_get_y(r, cart, eligible, left),
        Kind::Percentage | Kind::FixedAmount => {
            let gross: i64 = cart
                .lines
                .iter()
                .zip(eligible)
                .filter(|(_, e)| **e)
                .map(|(l, _)| l.amount())
                .sum();
            let value = value_for(r, gross)?;
            let weights: Vec<i64> = left
                .iter()
                .zip(eligible)
                .map(|(w, e)| {
                    if r.target == Target::Order || *e {
                        *w
                    } else {
                        0
                    }
                })
                .collect();
            let base: i64 = weights.iter().sum();
            let amount = match r.kind {
                Kind::Percentage => apply_ppm(base, u32::try_from(value).unwrap_or(0)),
                _ => value,
            }
            .clamp(0, base.max(0));
            Ok(spread(amount, &weights))
        }
    }
}

/// Buy X get Y: the number of times the order earns it, and the cheapest units it gives.
fn buy_x_get_y(
    r: &Rule,
    cart: &Cart,
    eligible: &[bool],
    left: &[i64],
) -> Result<Vec<i64>, Refusal> {
    let Some(b) = &r.buy_x_get_y else {
        return Ok(vec![0; left.len()]);
    };
    let named = !(b.get_variants.is_empty() && b.get_products.is_empty());
    let gives: Vec<bool> = cart
        .lines
        .iter()
        .zip(eligible)
        .map(|(l, e)| {
            if named {
                b.get_variants.contains(&l.variant_id) || b.get_products.contains(&l.product_id)
            } else {
                *e
            }
        })
        .collect();
    let units = |mask: &dyn Fn(usize) -> bool| -> i64 {
        (0..cart.lines.len())
            .filter(|i| mask(*i))
            .map(|i| cart.lines[i].quantity)
            .sum()
    };
    let (buy, get) = (b.buy_quantity.max(1), b.get_quantity.max(1));
    let mut times = if named {
        let bought = units(&|i| eligible[i] && !gives[i]);
        if bought < buy {
            return Err(Refusal::BuyMore {
                short: buy - bought,
            });
        }
        if units(&|i| gives[i]) == 0 {
            return Err(Refusal::NothingToGive);
        }
        bought / buy
    } else {
        let all = units(&|i| eligible[i]);
        if all < buy + get {
            return Err(Refusal::BuyMore {
                short: buy + get - all,
            });
        }
        all / (buy + get)
    };
    if let Some(m) = b.max_per_order {
        times = times.min(m.max(0));
    }
    // The cheapest units of the lines that give, `times * get` of them.
    let mut order: Vec<usize> = (0..cart.lines.len()).filter(|i| gives[*i]).collect();
    order.sort_by_key(|i| (cart.lines[*i].unit_price, *i));
    let mut free = times.saturating_mul(get);
    let mut out = vec![0; left.len()];
    for i in order {
        if free == 0 {
            break;
        }
        let l = &cart.lines[i];
        let k = free.min(l.quantity);
        free -= k;
        out[i] = apply_ppm(l.unit_price.saturating_mul(k), b.get_percent_ppm).clamp(0, left[i]);
    }
    Ok(out)
}

/// The sequence rules are applied in (rule 2).
fn phase(r: &Rule) -> u8 {
    match (r.kind, r.target) {
        (Kind::BuyXGetY, _) => 0,
        (Kind::FreeShipping, _) => 3,
        (_, Target::Lines) => 1,
        (_, Target::Order) => 2,
    }
}

/// Applies qualifying rules (with their eligibility) in sequence.
fn stack(cart: &Cart, rules: &[(&Rule, Vec<bool>)]) -> Outcome {
    let mut left: Vec<i64> = cart.lines.iter().map(CartLine::amount).collect();
    let mut out = Outcome {
        line_discounts: vec![0; left.len()],
        ..Outcome::default()
    };
    let mut order: Vec<&(&Rule, Vec<bool>)> = rules.iter().collect();
    order.sort_by_key(|(r, _)| (phase(r), r.id));
    for (r, eligible) in order {
        let parts = match take(r, cart, eligible, &left) {
            Ok(p) => p,
            Err(why) => {
                out.refused.push((r.id, why));
                continue;
            }
        };
        let shipping = if r.kind == Kind::FreeShipping && !out.free_shipping {
            cart.shipping
        } else {
            0
        };
        if parts.iter().all(|p| *p == 0) && shipping == 0 {
            out.refused.push((r.id, Refusal::NothingOff));
            continue;
        }
        for (i, p) in parts.iter().enumerate() {
            left[i] -= p;
            out.line_discounts[i] += p;
        }
        out.free_shipping |= r.kind == Kind::FreeShipping;
        out.applied.push(Applied {
            id: r.id,
            line_discounts: parts,
            shipping,
        });
    }
    out
}

/// What the cart gets from the candidate rules (rules 1 to 4).
pub fn evaluate(cart: &Cart, rules: &[&Rule]) -> Outcome {
    let mut refused = Vec::new();
    let mut combining = Vec::new();
    let mut alone = Vec::new();
    for r in rules {
        match qualify(r, cart) {
            Ok(e) if r.combines => combining.push((*r, e)),
            Ok(e) => alone.push((*r, e)),
            Err(why) => refused.push((r.id, why)),
        }
    }
    alone.sort_by_key(|(r, _)| r.id);
    // The options: the combining rules together, then each other rule alone.
    let mut best = stack(cart, &combining);
    let mut best_ids: Vec<i64> = combining.iter().map(|(r, _)| r.id).collect();
    let mut others: Vec<i64> = Vec::new();
    for one in &alone {
        let o = stack(cart, std::slice::from_ref(one));
        if o.value() > best.value() {
            others.append(&mut best_ids);
            best_ids = vec![one.0.id];
            best = o;
        } else {
            others.push(one.0.id);
        }
    }
    let why = match best.applied.first() {
        Some(a) => Refusal::DoesNotCombine { with: a.id },
        None => Refusal::NothingOff,
    };
    refused.extend(others.into_iter().map(|id| (id, why.clone())));
    best.refused.extend(refused);
    best.refused.sort_by_key(|(id, _)| *id);
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(variant: i64, price: i64, qty: i64) -> CartLine {
        CartLine {
            variant_id: variant,
            product_id: variant * 10,
            product_type: if variant % 2 == 0 { "Shoes" } else { "Socks" }.into(),
            vendor: "Acme".into(),
            tags: vec![format!("t{variant}")],
            unit_price: price,
            quantity: qty,
        }
    }

    fn cart(lines: Vec<CartLine>) -> Cart {
        Cart {
            lines,
            channel: "web".into(),
            new_customer: true,
            customer_tags: vec!["vip".into()],
            now: 1_000,
            shipping: 500,
        }
    }

    fn rule(id: i64, kind: Kind, target: Target, value: i64) -> Rule {
        Rule {
            id,
            kind,
            target,
            percent_ppm: if kind == Kind::Percentage {
                u32::try_from(value).unwrap()
            } else {
                0
            },
            amount: if kind == Kind::FixedAmount { value } else { 0 },
            tiers: vec![],
            buy_x_get_y: None,
            conditions: Conditions::default(),
            combines: true,
            starts_at: None,
            ends_at: None,
        }
    }

    #[test]
    fn percentage_off_eligible_lines_only() {
        let mut r = rule(1, Kind::Percentage, Target::Lines, 200_000);
        r.conditions.product_types = vec!["shoes".into()];
        // Line 0 is socks (variant 1), line 1 shoes (variant 2): 20% of 80.00 = 16.00.
        let o = evaluate(&cart(vec![line(1, 1000, 2), line(2, 4000, 2)]), &[&r]);
        assert_eq!(o.line_discounts, vec![0, 1600]);
        // Off the order, the same condition only decides whether it applies: 20% of 100.00.
        r.target = Target::Order;
        let o = evaluate(&cart(vec![line(1, 1000, 2), line(2, 4000, 2)]), &[&r]);
        assert_eq!(o.line_discounts, vec![400, 1600]);
        let o = evaluate(&cart(vec![line(1, 1000, 2)]), &[&r]);
        assert_eq!(o.refused, vec![(1, Refusal::NoEligibleLines)]);
        assert!(o.applied.is_empty());
    }

    #[test]
    fn conditions_refuse_with_their_reason() {
        let c = cart(vec![line(1, 1000, 3)]);
        let mut r = rule(1, Kind::FixedAmount, Target::Order, 500);
        r.conditions.min_subtotal = Some(5000);
        assert_eq!(
            evaluate(&c, &[&r]).refused,
            vec![(1, Refusal::MinSubtotal { short: 2000 })]
        );
        r.conditions = Conditions {
            min_quantity: Some(5),
            ..Conditions::default()
        };
        assert_eq!(
            evaluate(&c, &[&r]).refused,
            vec![(1, Refusal::MinQuantity { short: 2 })]
        );
        r.conditions = Conditions {
            channels: vec!["pos".into()],
            ..Conditions::default()
        };
        assert_eq!(evaluate(&c, &[&r]).refused, vec![(1, Refusal::Channel)]);
        r.conditions = Conditions {
            customer_tags: vec!["wholesale".into()],
            ..Conditions::default()
        };
        assert_eq!(
            evaluate(&c, &[&r]).refused,
            vec![(1, Refusal::CustomerTags)]
        );
        r.conditions = Conditions {
            new_customers_only: true,
            ..Conditions::default()
        };
        let mut returning = c.clone();
        returning.new_customer = false;
        assert_eq!(
            evaluate(&returning, &[&r]).refused,
            vec![(1, Refusal::NewCustomersOnly)]
        );
        assert_eq!(evaluate(&c, &[&r]).line_discounts, vec![500]);
        r.conditions = Conditions::default();
        r.starts_at = Some(2_000);
        assert_eq!(evaluate(&c, &[&r]).refused, vec![(1, Refusal::NotStarted)]);
        r.starts_at = None;
        r.ends_at = Some(1_000);
        assert_eq!(evaluate(&c, &[&r]).refused, vec![(1, Refusal::Ended)]);
    }

    #[test]
    fn tiers_give_the_highest_step_reached() {
        let mut r = rule(1, Kind::FixedAmount, Target::Order, 0);
        r.tiers = vec![
            Tier {
                min_subtotal: 20_000,
                value: 2_000,
            },
            Tier {
                min_subtotal: 50_000,
                value: 6_000,
            },
        ];
        let at = |total: i64| evaluate(&cart(vec![line(1, total, 1)]), &[&r]);
        assert_eq!(
            at(19_999).refused,
            vec![(1, Refusal::MinSubtotal { short: 1 })]
        );
        assert_eq!(at(20_000).line_discounts, vec![2_000]);
        assert_eq!(at(49_999).line_discounts, vec![2_000]);
        assert_eq!(at(50_000).line_discounts, vec![6_000]);
    }

    #[test]
    fn buy_two_get_one_gives_the_cheapest_units() {
        let mut r = rule(1, Kind::BuyXGetY, Target::Lines, 0);
        r.buy_x_get_y = Some(BuyXGetY {
            buy_quantity: 2,
            get_quantity: 1,
            get_percent_ppm: 1_000_000,
            get_variants: vec![],
            get_products: vec![],
            max_per_order: None,
        });
        // Six units: twice, the two cheapest free (both of line 1's).
        let o = evaluate(&cart(vec![line(1, 3000, 4), line(2, 1000, 2)]), &[&r]);
        assert_eq!(o.line_discounts, vec![0, 2000]);
        // Five units: once.
        let o = evaluate(&cart(vec![line(1, 3000, 4), line(2, 1000, 1)]), &[&r]);
        assert_eq!(o.line_discounts, vec![0, 1000]);
        let o = evaluate(&cart(vec![line(1, 3000, 2)]), &[&r]);
        assert_eq!(o.refused, vec![(1, Refusal::BuyMore { short: 1 })]);
        // Buy two socks, get a named shoe at half price; at most once.
        let b = r.buy_x_get_y.as_mut().unwrap();
        b.get_variants = vec![2];
        b.get_percent_ppm = 500_000;
        b.max_per_order = Some(1);
        r.conditions.product_types = vec!["Socks".into()];
        let o = evaluate(&cart(vec![line(1, 1000, 4), line(2, 4001, 3)]), &[&r]);
        assert_eq!(o.line_discounts, vec![0, 2000]);
        let o = evaluate(&cart(vec![line(1, 1000, 4)]), &[&r]);
        assert_eq!(o.refused, vec![(1, Refusal::NothingToGive)]);
    }

    #[test]
    fn stacking_compounds_and_the_best_option_wins() {
        let c = cart(vec![line(1, 10_000, 1)]);
        let ten = rule(1, Kind::Percentage, Target::Order, 100_000);
        let five_off = rule(2, Kind::FixedAmount, Target::Lines, 500);
        let ship = rule(3, Kind::FreeShipping, Target::Order, 0);
        // Lines first (5.00), then 10% of the 95.00 left, and shipping.
        let o = evaluate(&c, &[&ten, &five_off, &ship]);
        assert_eq!(o.line_discounts, vec![500 + 950]);
        assert!(o.free_shipping);
        assert_eq!(
            o.applied.iter().map(|a| a.id).collect::<Vec<_>>(),
            [2, 1, 3]
        );
        // A 20% that does not combine (20.00) beats them (14.50 + 5.00 shipping).
        let mut twenty = rule(4, Kind::Percentage, Target::Order, 200_000);
        twenty.combines = false;
        let o = evaluate(&c, &[&ten, &five_off, &ship, &twenty]);
        assert_eq!(o.line_discounts, vec![2000]);
        assert!(!o.free_shipping);
        assert_eq!(
            o.refused,
            vec![
                (1, Refusal::DoesNotCombine { with: 4 }),
                (2, Refusal::DoesNotCombine { with: 4 }),
                (3, Refusal::DoesNotCombine { with: 4 }),
            ]
        );
        // A 15% that does not combine loses to them (19.50) and says why.
        twenty.percent_ppm = 150_000;
        let o = evaluate(&c, &[&ten, &five_off, &ship, &twenty]);
        assert_eq!(o.line_discounts, vec![1450]);
        assert_eq!(o.refused, vec![(4, Refusal::DoesNotCombine { with: 2 })]);
        // After 100% off, a fixed amount has nothing left to take.
        let all = rule(5, Kind::Percentage, Target::Lines, 1_000_000);
        let o = evaluate(&c, &[&all, &rule(6, Kind::FixedAmount, Target::Order, 100)]);
        assert_eq!(o.line_discounts, vec![10_000]);
        assert_eq!(o.refused, vec![(6, Refusal::NothingOff)]);
    }

    fn any_rule() -> impl Strategy<Value = Rule> {
        (
            0usize..4,
            any::<bool>(),
            1i64..1_000_000,
            any::<bool>(),
            proptest::collection::vec(1i64..6, 0..2),
        )
            .prop_map(|(k, lines, v, combines, types)| {
                let kind = [
                    Kind::Percentage,
                    Kind::FixedAmount,
                    Kind::FreeShipping,
                    Kind::BuyXGetY,
                ][k];
                let target = if lines { Target::Lines } else { Target::Order };
                let mut r = rule(0, kind, target, 0);
                r.percent_ppm = u32::try_from(v).unwrap();
                r.amount = v / 10;
                r.combines = combines;
                if kind == Kind::BuyXGetY {
                    r.buy_x_get_y = Some(BuyXGetY {
                        buy_quantity: 1 + v % 3,
                        get_quantity: 1 + v % 2,
                        get_percent_ppm: u32::try_from(v).unwrap(),
                        get_variants: vec![],
                        get_products: vec![],
                        max_per_order: None,
                    });
                }
                r.conditions.variants = types;
                r
            })
    }

    proptest! {
        #[test]
        fn discounts_stay_within_each_line_and_sum_per_promotion(
            lines in proptest::collection::vec((1i64..6, 1i64..50_000, 1i64..5), 1..6),
            mut rules in proptest::collection::vec(any_rule(), 0..6),
        ) {
            for (i, r) in rules.iter_mut().enumerate() {
                r.id = i as i64 + 1;
            }
            let c = cart(lines.iter().map(|(v, p, q)| line(*v, *p, *q)).collect());
            let refs: Vec<&Rule> = rules.iter().collect();
            let o = evaluate(&c, &refs);
            for (i, l) in c.lines.iter().enumerate() {
                let d = o.line_discounts[i];
                prop_assert!(d >= 0 && d <= l.amount(), "line {} gets {} of {}", i, d, l.amount());
                let parts: i64 = o.applied.iter().map(|a| a.line_discounts[i]).sum();
                prop_assert_eq!(parts, d);
            }
            // Every candidate is either applied or refused, once.
            let mut seen: Vec<i64> = o.applied.iter().map(|a| a.id).chain(o.refused.iter().map(|r| r.0)).collect();
            seen.sort_unstable();
            let mut ids: Vec<i64> = rules.iter().map(|r| r.id).collect();
            ids.sort_unstable();
            prop_assert_eq!(seen, ids);
            // Of what applied, at most one does not combine, and then it is alone.
            let lone = o.applied.iter().filter(|a| rules.iter().any(|r| r.id == a.id && !r.combines)).count();
            prop_assert!(lone == 0 || o.applied.len() == 1);
        }
    }
}
