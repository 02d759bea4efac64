//! The money an order owes and is owed: one model for payments, refunds, edits, returns and
//! exchanges.
//!
//! - `owed` is what the customer must pay for what they keep: the order total (which edits and
//!   exchanges re-price), less the value of units received back, less concessions. A cancelled
//!   order owes nothing.
//! - `balance = paid - refunded - owed`. Positive: the store owes the customer (a refund is due).
//!   Negative: the customer owes the store (a capture is due). Zero: settled.
//! - A refund first pays out what the customer is owed (`settled`); anything beyond is a
//!   concession that lowers `owed`. So a refund never turns a settled order into a debt, and a
//!   refund is never more than was paid less what was refunded before.

/// The value of the first `n` of `quantity` units of a line worth `line_value` in all:
/// `floor(line_value * n / quantity)`. Values of successive units therefore sum exactly to the
/// line's value, whatever order units are returned or refunded in.
pub fn units_value(line_value: i64, quantity: i64, n: i64) -> i64 {
    if quantity <= 0 || n <= 0 {
        return 0;
    }
    let n = n.min(quantity);
    ((line_value as i128 * n as i128).div_euclid(quantity as i128)) as i64
}

/// The value of `k` more units of a line after `done` units were already counted.
pub fn next_units_value(line_value: i64, quantity: i64, done: i64, k: i64) -> i64 {
    units_value(line_value, quantity, done + k) - units_value(line_value, quantity, done)
}

/// A line's value, what the customer paid for it: price times quantity, less its discount, plus
/// its tax unless the prices include it (`tax_included`).
pub fn line_value(
    unit_price: i64,
    quantity: i64,
    discount: i64,
    tax: i64,
    tax_included: bool,
) -> i64 {
    unit_price * quantity - discount + if tax_included { 0 } else { tax }
}

/// A line's merchandise amount, net of tax (what net sales count): price times quantity, less
/// its discount, less its tax when the prices include it.
pub fn line_merchandise(
    unit_price: i64,
    quantity: i64,
    discount: i64,
    tax: i64,
    tax_included: bool,
) -> i64 {
    unit_price * quantity - discount - if tax_included { tax } else { 0 }
}

/// The merchandise part of a refund given as an amount alone: the amount split in the order's
/// proportions of merchandise (`subtotal - discounts`) to total, rounded half-to-even, and never
/// more than the merchandise.
pub fn merchandise_share(amount: i64, merchandise: i64, total: i64) -> i64 {
    if total <= 0 {
        return 0;
    }
    let share = crate::money::div_round_half_even(
        i128::from(amount) * i128::from(merchandise),
        i128::from(total),
    );
    (share as i64).clamp(0, merchandise.max(0))
}

/// What the customer owes for what they keep.
pub fn owed(cancelled: bool, total: i64, returned: i64, adjustments: i64) -> i64 {
    if cancelled {
        0
    } else {
        total - returned - adjustments
    }
}

/// What returned units worth `value` credit: their value, never more than the customer still
/// `owed` (a concession already given has lowered it), so what is owed never goes below zero.
pub fn return_credit(value: i64, owed: i64) -> i64 {
    value.min(owed.max(0)).max(0)
}

/// `paid - refunded - owed`: positive when the store owes the customer.
pub fn balance(paid: i64, refunded: i64, owed: i64) -> i64 {
    paid - refunded - owed
}

/// How a refund of `amount` splits given the balance before it: `(settled, concession)`.
/// `settled` pays out what the store owed; `concession` lowers what the customer owes.
pub fn split_refund(balance: i64, amount: i64) -> (i64, i64) {
    let settled = amount.min(balance.max(0)).max(0);
    (settled, amount - settled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn units_sum_to_the_line() {
        // 3 units worth 1000 in all: 333, 333, 334.
        assert_eq!(units_value(1000, 3, 1), 333);
        assert_eq!(next_units_value(1000, 3, 1, 1), 333);
        assert_eq!(next_units_value(1000, 3, 2, 1), 334);
        assert_eq!(units_value(1000, 3, 3), 1000);
        assert_eq!(units_value(1000, 3, 9), 1000);
        assert_eq!(units_value(1000, 0, 1), 0);
    }

    #[test]
    fn a_return_credits_at_most_what_is_owed() {
        assert_eq!(return_credit(1000, 400), 400);
        assert_eq!(return_credit(300, 400), 300);
        assert_eq!(return_credit(300, -50), 0);
    }

    #[test]
    fn refund_settles_first_then_concedes() {
        assert_eq!(split_refund(500, 300), (300, 0));
        assert_eq!(split_refund(500, 800), (500, 300));
        assert_eq!(split_refund(0, 800), (0, 800));
        assert_eq!(split_refund(-200, 100), (0, 100));
    }

    #[test]
    fn cancelled_orders_owe_nothing() {
        assert_eq!(owed(true, 5000, 0, 0), 0);
        assert_eq!(owed(false, 5000, 1200, 300), 3500);
        assert_eq!(balance(5000, 0, 3500), 1500);
    }

    proptest! {
        /// However units are taken in chunks, the chunks' values sum to the line's value.
        #[test]
        fn chunks_sum_exactly(value in 0i64..10_000_000, quantity in 1i64..50, cuts in proptest::collection::vec(1i64..10, 0..20)) {
            let mut done = 0;
            let mut sum = 0;
            for c in cuts {
                let k = c.min(quantity - done);
                sum += next_units_value(value, quantity, done, k);
                done += k;
            }
            sum += next_units_value(value, quantity, done, quantity - done);
            prop_assert_eq!(sum, value);
        }

        /// A refund never makes the balance negative when it was not, and the balance moves by
        /// exactly the settled part.
        #[test]
        fn refund_moves_balance_by_settled(paid in 0i64..100_000, refunded in 0i64..100_000, owed_ in 0i64..100_000, amount in 1i64..100_000) {
            let b = balance(paid, refunded, owed_);
            let (settled, concession) = split_refund(b, amount);
            prop_assert_eq!(settled + concession, amount);
            let after = balance(paid, refunded + amount, owed_ - concession);
            prop_assert_eq!(after, b - settled);
            if b >= 0 { prop_assert!(after >= 0); }
        }
    }
}
