//! The server prices every order; a client-sent price is never trusted.
//!
//! `subtotal = sum(unit price x quantity)`, `total = subtotal - discounts + shipping + tax`. Tax is
//! computed once on the taxable whole (lines less discounts, plus shipping), rounded half-to-even,
//! then allocated to the lines and shipping so the parts sum to the whole.

use crate::Invalid;
use crate::money::{allocate, apply_basis_points};

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
}

/// Prices an order. Amounts are minor units; `tax_rate_bp` is in basis points (2000 = 20%).
pub fn price_order(
    lines: &[PriceLine],
    shipping: i64,
    tax_rate_bp: u32,
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
    weights.push(shipping);
    let taxable = (subtotal - discounts)
        .checked_add(shipping)
        .ok_or_else(overflow)?;
    let tax = apply_basis_points(taxable, tax_rate_bp);
    let mut parts = allocate(tax, &weights);
    let shipping_tax = parts.pop().unwrap_or(0);
    let total = taxable.checked_add(tax).ok_or_else(overflow)?;
    Ok(Totals {
        subtotal,
        discounts,
        shipping,
        tax,
        total,
        line_tax: parts,
        shipping_tax,
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
            2000,
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
        assert!(price_order(&[], 0, 0).is_err());
        assert!(
            price_order(
                &[PriceLine {
                    unit_price: 100,
                    quantity: 1,
                    discount: 101
                }],
                0,
                0
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
                0
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn totals_reconcile(lines in proptest::collection::vec((0i64..1_000_000, 1i64..100), 1..30), shipping in 0i64..10_000, bp in 0u32..3000) {
            let pl: Vec<PriceLine> = lines.iter().map(|(p, q)| PriceLine { unit_price: *p, quantity: *q, discount: p * q / 10 }).collect();
            let t = price_order(&pl, shipping, bp).unwrap();
            prop_assert_eq!(t.subtotal, lines.iter().map(|(p, q)| p * q).sum::<i64>());
            prop_assert_eq!(t.total, t.subtotal - t.discounts + t.shipping + t.tax);
            prop_assert_eq!(t.line_tax.iter().sum::<i64>() + t.shipping_tax, t.tax);
            prop_assert_eq!(t.line_tax.len(), pl.len());
        }
    }
}
