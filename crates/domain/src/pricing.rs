//! The server prices every order; a client-sent price is never trusted.
//!
//! `subtotal = sum(unit price x quantity)`, `total = subtotal - discounts + shipping + tax` when
//! tax is added on top, `total = subtotal - discounts + shipping` when prices include it. Tax is
//! computed once on the taxable whole (lines less discounts, plus shipping when shipping is
//! taxed), rounded half-to-even, then allocated to the lines and shipping so the parts sum to the
//! whole: added as `taxable x rate`, or extracted as `taxable x rate / (1 + rate)` when prices
//! include it. Rates are millionths (`220_000` = 22%), written as decimal strings (`"0.22"`).

use crate::Invalid;
use crate::money::{allocate, apply_ppm, extract_ppm};

/// How an order is taxed: the destination's rate in millionths, and whether shipping is taxed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaxPolicy {
    pub rate_ppm: u32,
    pub shipping_taxed: bool,
    /// Prices (and the shipping price) include the tax, which is extracted from them instead of
    /// added on top: the customer pays the shown price.
    pub included: bool,
}

/// Parses a tax rate written as a decimal fraction (`"0.22"`, `"0.055"`, `"0"`): at most six
/// decimal places, from 0 up to but not including 1. Returns millionths.
pub fn parse_rate(field: &str, s: &str) -> Result<u32, Invalid> {
    let bad = || {
        Invalid::new(
            field,
            format!(
                "{s:?} is not a rate: write a decimal from 0 to below 1 with at most six decimals, such as \"0.22\" for 22%"
            ),
        )
    };
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty()
        || int.len() > 1
        || frac.len() > 6
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || (!int.is_empty() && int != "0")
    {
        return Err(bad());
    }
    let mut ppm: u32 = 0;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(6) {
        ppm = ppm * 10 + u32::from(b - b'0');
    }
    Ok(ppm)
}

/// Writes millionths back as the shortest decimal string (`220000` -> `"0.22"`, `0` -> `"0"`).
pub fn format_rate(ppm: u32) -> String {
    if ppm == 0 {
        return "0".into();
    }
    let digits = format!("{ppm:06}");
    format!("0.{}", digits.trim_end_matches('0'))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceLine {
    pub unit_price: i64,
    pub quantity: i64,
    pub discount: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discounts: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
    /// Tax allocated to each line, in line order.
    pub line_tax: Vec<i64>,
    /// Tax allocated to shipping.
    pub shipping_tax: i64,
    /// Whether the tax sits inside the prices (extracted) rather than on top of them.
    pub included: bool,
}

impl Totals {
    /// The tax inside the merchandise prices, which net sales leave out: the lines' tax when
    /// prices include it, else 0 (tax added on top is not in the subtotal).
    pub fn included_tax(&self) -> i64 {
        if self.included {
            self.tax - self.shipping_tax
        } else {
            0
        }
    }
}

/// Prices an order. Amounts are minor units; the tax is added on top of the prices or, when the
/// policy says prices include it, extracted from them.
pub fn price_order(
    lines: &[PriceLine],
    shipping: i64,
    policy: TaxPolicy,
) -> Result<Totals, Invalid> {
    if lines.is_empty() {
        return Err(Invalid::new("lines", "an order needs at least one line"));
    }
    let overflow = || Invalid::new("lines", "the order total is too large");
    let mut subtotal: i64 = 0;
    let mut discounts: i64 = 0;
    let mut weights = Vec::with_capacity(lines.len() + 1);
    for (i, l) in lines.iter().enumerate() {
        if l.unit_price < 0 || l.quantity <= 0 || l.discount < 0 {
            return Err(Invalid::new(
                format!("lines[{i}]"),
                "prices, quantities and discounts must be positive",
            ));
        }
        let gross = l.unit_price.checked_mul(l.quantity).ok_or_else(overflow)?;
        if l.discount > gross {
            return Err(Invalid::new(
                format!("lines[{i}].discount"),
                "a discount cannot exceed the line's price",
            ));
        }
        subtotal = subtotal.checked_add(gross).ok_or_else(overflow)?;
        discounts = discounts.checked_add(l.discount).ok_or_else(overflow)?;
        weights.push(gross - l.discount);
    }
    if shipping < 0 {
        return Err(Invalid::new("shipping", "must not be negative"));
    }
    // Untaxed shipping takes no part of the tax: it is left out of the weights.
    let taxed_shipping = if policy.shipping_taxed { shipping } else { 0 };
    if policy.shipping_taxed {
        weights.push(shipping);
    }
    let taxable = (subtotal - discounts)
        .checked_add(taxed_shipping)
        .ok_or_else(overflow)?;
    let tax = if policy.included {
        extract_ppm(taxable, policy.rate_ppm)
    } else {
        apply_ppm(taxable, policy.rate_ppm)
    };
    let mut parts = allocate(tax, &weights);
    let shipping_tax = if policy.shipping_taxed {
        parts.pop().unwrap_or(0)
    } else {
        0
    };
    let added = if policy.included { 0 } else { tax };
    let total = (subtotal - discounts)
        .checked_add(shipping)
        .and_then(|t| t.checked_add(added))
        .ok_or_else(overflow)?;
    Ok(Totals {
        subtotal,
        discounts,
        shipping,
        tax,
        total,
        line_tax: parts,
        shipping_tax,
        included: policy.included,
    })
}

/// A shipping rate as an order meets it: its price, the destination countries it ships to (none:
/// everywhere) and the merchandise amount from which it is free.
#[derive(Clone, Copy, Debug)]
pub struct ShippingRule<'a> {
    pub method: &'a str,
    pub price: i64,
    pub countries: &'a [String],
    pub free_above: Option<i64>,
}

/// What shipping costs to `country` for `lines`: refused when the rate does not ship there, free
/// once the merchandise (after discounts, before tax) reaches `free_above`.
pub fn shipping_charge(
    rule: ShippingRule<'_>,
    country: &str,
    lines: &[PriceLine],
) -> Result<i64, Invalid> {
    let country = country.trim();
    if !rule.countries.is_empty()
        && !rule
            .countries
            .iter()
            .any(|c| c.eq_ignore_ascii_case(country))
    {
        return Err(Invalid::new(
            "shipping_address.country",
            format!(
                "shipping method {} does not ship to {country}; it ships to {}",
                rule.method,
                rule.countries.join(", ")
            ),
        ));
    }
    let merchandise = lines
        .iter()
        .map(|l| {
            l.unit_price
                .saturating_mul(l.quantity)
                .saturating_sub(l.discount)
        })
        .fold(0i64, i64::saturating_add);
    Ok(match rule.free_above {
        Some(t) if merchandise >= t => 0,
        _ => rule.price,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn example() {
        let t = price_order(
            &[
                PriceLine {
                    unit_price: 1999,
                    quantity: 2,
                    discount: 0,
                },
                PriceLine {
                    unit_price: 500,
                    quantity: 1,
                    discount: 100,
                },
            ],
            499,
            TaxPolicy {
                rate_ppm: 200_000,
                shipping_taxed: true,
                included: false,
            },
        )
        .unwrap();
        assert_eq!(t.subtotal, 4498);
        assert_eq!(t.discounts, 100);
        assert_eq!(t.tax, 979); // (4398 + 499) * 0.2 = 979.4
        assert_eq!(t.total, 4498 - 100 + 499 + 979);
        assert_eq!(t.line_tax.iter().sum::<i64>() + t.shipping_tax, t.tax);
    }

    #[test]
    fn rejects() {
        const NONE: TaxPolicy = TaxPolicy {
            rate_ppm: 0,
            shipping_taxed: true,
            included: false,
        };
        assert!(price_order(&[], 0, NONE).is_err());
        assert!(
            price_order(
                &[PriceLine {
                    unit_price: 100,
                    quantity: 1,
                    discount: 101
                }],
                0,
                NONE
            )
            .is_err()
        );
        assert!(
            price_order(
                &[PriceLine {
                    unit_price: i64::MAX,
                    quantity: 2,
                    discount: 0
                }],
                0,
                NONE
            )
            .is_err()
        );
    }

    #[test]
    fn untaxed_shipping_and_rates() {
        let t = price_order(
            &[PriceLine {
                unit_price: 10000,
                quantity: 1,
                discount: 0,
            }],
            500,
            TaxPolicy {
                rate_ppm: 220_000,
                shipping_taxed: false,
                included: false,
            },
        )
        .unwrap();
        assert_eq!((t.tax, t.shipping_tax, t.total), (2200, 0, 12700));
        assert_eq!(parse_rate("r", "0.22"), Ok(220_000));
        assert_eq!(parse_rate("r", "0.055"), Ok(55_000));
        assert_eq!(parse_rate("r", "0.08875"), Ok(88_750));
        assert_eq!(parse_rate("r", "0"), Ok(0));
        assert_eq!(parse_rate("r", ".2"), Ok(200_000));
        for bad in ["", ".", "1", "1.0", "-0.1", "0.1234567", "22%", "0,2", "2"] {
            assert!(parse_rate("r", bad).is_err(), "{bad}");
        }
        for ppm in [0, 1, 55_000, 200_000, 220_000, 88_750, 999_999] {
            assert_eq!(parse_rate("r", &format_rate(ppm)), Ok(ppm));
        }
    }

    #[test]
    fn tax_inside_the_price() {
        let included = TaxPolicy {
            rate_ppm: 220_000,
            shipping_taxed: true,
            included: true,
        };
        // 122.00 to Italy at 22%: 22.00 of tax inside, and the customer pays 122.00.
        let line = |p, q| PriceLine {
            unit_price: p,
            quantity: q,
            discount: 0,
        };
        let t = price_order(&[line(12200, 1)], 0, included).unwrap();
        assert_eq!(
            (t.subtotal, t.tax, t.line_tax.clone(), t.total),
            (12200, 2200, vec![2200], 12200)
        );
        // Shipping 6.10 taxed and included: 1.10 of it is tax, the total is the shown prices.
        let t = price_order(&[line(12200, 1)], 610, included).unwrap();
        assert_eq!((t.tax, t.shipping_tax, t.total), (2310, 110, 12810));
        // 9.99 x 3 at 20%: 29.97 holds 4.995 of tax, which rounds half-to-even to 5.00.
        let t = price_order(
            &[line(999, 3)],
            0,
            TaxPolicy {
                rate_ppm: 200_000,
                ..included
            },
        )
        .unwrap();
        assert_eq!((t.tax, t.total), (500, 2997));
        // Untaxed shipping stays out of the extraction.
        let t = price_order(
            &[line(12200, 1)],
            610,
            TaxPolicy {
                shipping_taxed: false,
                ..included
            },
        )
        .unwrap();
        assert_eq!((t.tax, t.shipping_tax, t.total), (2200, 0, 12810));
    }

    #[test]
    fn shipping_by_destination_and_threshold() {
        let to = ["IT".to_string(), "FR".to_string()];
        let rule = ShippingRule {
            method: "standard",
            price: 500,
            countries: &to,
            free_above: Some(20_000),
        };
        let line = |q| PriceLine {
            unit_price: 1500,
            quantity: q,
            discount: 0,
        };
        assert_eq!(shipping_charge(rule, "it", &[line(2)]), Ok(500));
        assert_eq!(shipping_charge(rule, "FR", &[line(14)]), Ok(0)); // 210.00 >= 200.00
        let e = shipping_charge(rule, "DE", &[line(1)]).unwrap_err();
        assert_eq!(e.field, "shipping_address.country");
        let everywhere = ShippingRule {
            countries: &[],
            free_above: None,
            ..rule
        };
        assert_eq!(shipping_charge(everywhere, "DE", &[line(100)]), Ok(500));
    }

    proptest! {
        #[test]
        fn totals_reconcile(lines in proptest::collection::vec((0i64..1_000_000, 1i64..100), 1..30), shipping in 0i64..10_000, ppm in 0u32..300_000, taxed: bool, included: bool) {
            let pl: Vec<PriceLine> = lines.iter().map(|(p, q)| PriceLine { unit_price: *p, quantity: *q, discount: p * q / 10 }).collect();
            let t = price_order(&pl, shipping, TaxPolicy { rate_ppm: ppm, shipping_taxed: taxed, included }).unwrap();
            prop_assert_eq!(t.subtotal, lines.iter().map(|(p, q)| p * q).sum::<i64>());
            let added = if included { 0 } else { t.tax };
            prop_assert_eq!(t.total, t.subtotal - t.discounts + t.shipping + added);
            if included {
                // The tax inside is what the price less it would carry at the rate, to a minor unit.
                let taxable = t.subtotal - t.discounts + if taxed { t.shipping } else { 0 };
                let net = taxable - t.tax;
                prop_assert!((crate::money::apply_ppm(net, ppm) - t.tax).abs() <= 1);
            }
            prop_assert_eq!(t.line_tax.iter().sum::<i64>() + t.shipping_tax, t.tax);
            prop_assert_eq!(t.line_tax.len(), pl.len());
            if !taxed {
                prop_assert_eq!(t.shipping_tax, 0);
            }
        }
    }
}
