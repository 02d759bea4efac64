//! Budgets and targets: the categories an operating budget has, and the arithmetic of pace and
//! forecast to the end of a period. Amounts are minor units; days are counted whole.

use crate::money::div_round_half_even;
use crate::order::string_enum;
use serde::{Deserialize, Serialize};

string_enum!(
    /// What an operating budget is for. Advertising, discounts and refunds are measured from
    /// Backroom's own data; the others are entered by hand.
    Category {
        Advertising => "advertising",
        Discounts => "discounts",
        Shipping => "shipping",
        Refunds => "refunds",
        Support => "support",
        Other => "other",
    }
);

impl Category {
    /// Whether Backroom measures the actual itself (else it is entered).
    pub fn measured(self) -> bool {
        matches!(
            self,
            Category::Advertising | Category::Discounts | Category::Refunds
        )
    }
}

/// Where a period ends at the pace so far: `actual * total_days / elapsed_days` (half-to-even);
/// none before the first day is over.
pub fn at_pace(actual: i64, elapsed_days: i64, total_days: i64) -> Option<i64> {
    if elapsed_days <= 0 {
        return None;
    }
    let v = div_round_half_even(
        i128::from(actual) * i128::from(total_days.max(elapsed_days)),
        i128::from(elapsed_days),
    );
    i64::try_from(v).ok()
}

/// What the rest of a month should bring, from the days before it: each remaining day is
/// forecast as the mean of the same weekday in the last four weeks (`history` holds the last 28
/// days, oldest first, and `history_first_weekday` is the weekday of its first day, 0 to 6);
/// `remaining_weekdays` are the weekdays of the days left. A seasonal naive model by weekday,
/// rounded half-to-even per day.
pub fn forecast_rest(history: &[i64], history_first_weekday: u8, remaining_weekdays: &[u8]) -> i64 {
    let mut sums = [0i64; 7];
    let mut counts = [0i64; 7];
    for (i, v) in history.iter().enumerate() {
        let wd = (usize::from(history_first_weekday) + i) % 7;
        sums[wd] += v;
        counts[wd] += 1;
    }
    remaining_weekdays
        .iter()
        .map(|wd| {
            let wd = usize::from(*wd) % 7;
            if counts[wd] == 0 {
                0
            } else {
                i64::try_from(div_round_half_even(
                    i128::from(sums[wd]),
                    i128::from(counts[wd]),
                ))
                .unwrap_or(0)
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pace_and_forecast() {
        // 10 of 30 days gave 1,000.00: 3,000.00 at that pace.
        assert_eq!(at_pace(100_000, 10, 30), Some(300_000));
        assert_eq!(at_pace(100, 0, 30), None);
        // 7 / 3 * 1 rounds half-to-even per the whole.
        assert_eq!(at_pace(7, 3, 3), Some(7));
        assert_eq!(at_pace(5, 2, 3), Some(8)); // 7.5 -> 8
        // Weekday means: Mondays (weekday 0) gave 10, 20, 30, 40; other days 1.
        let mut h = vec![1i64; 28];
        for w in 0..4 {
            h[w * 7] = 10 * (w as i64 + 1);
        }
        assert_eq!(forecast_rest(&h, 0, &[0]), 25);
        assert_eq!(forecast_rest(&h, 0, &[0, 1, 2]), 27);
        assert_eq!(forecast_rest(&[], 0, &[0, 1]), 0);
        assert!(Category::Advertising.measured() && !Category::Shipping.measured());
    }
}
