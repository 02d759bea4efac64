//! Promotions' rules: their kinds and targets, and percentages as Backroom keeps them (in
//! millionths of the amount: `"10"` percent is `100_000`). Which promotions a cart gets, and
//! each line's share, is [`engine`]'s.

use crate::Invalid;
use crate::order::string_enum;
use serde::{Deserialize, Serialize};

pub mod engine;

string_enum!(
    /// What a promotion gives: a percentage or a fixed amount off, free shipping, or units of
    /// what is bought reduced or free.
    Kind {
        Percentage => "percentage",
        FixedAmount => "fixed_amount",
        FreeShipping => "free_shipping",
        BuyXGetY => "buy_x_get_y",
    }
);

impl Kind {
    pub fn parse_field(s: &str) -> Result<Kind, Invalid> {
        Kind::parse(s).ok_or_else(|| {
            Invalid::new(
                "kind",
                "must be percentage, fixed_amount, free_shipping or buy_x_get_y",
            )
        })
    }
}

string_enum!(
    /// What a percentage or fixed amount comes off: the whole order's lines, or only the lines
    /// the conditions make eligible.
    Target { Order => "order", Lines => "lines" }
);

/// A percentage written as a decimal string (`"10"`, `"12.5"`), above 0 and at most 100, with at
/// most four decimals; in millionths of the amount.
pub fn parse_percentage(field: &str, s: &str) -> Result<u32, Invalid> {
    let bad = || {
        Invalid::new(
            field,
            "must be a percentage above 0 and at most 100, such as \"10\" or \"12.5\"",
        )
    };
    let t = s.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty()
        || int.len() > 3
        || frac.len() > 4
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let mut v: u64 = int.parse().map_err(|_| bad())?;
    for b in frac.bytes().chain(std::iter::repeat(b'0')).take(4) {
        v = v * 10 + u64::from(b - b'0');
    }
    // v is in ten-thousandths of a percent: millionths of the amount.
    if v == 0 || v > 1_000_000 {
        return Err(bad());
    }
    u32::try_from(v).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_and_amounts() {
        assert_eq!(parse_percentage("value", "10"), Ok(100_000));
        assert_eq!(parse_percentage("value", "12.5"), Ok(125_000));
        assert_eq!(parse_percentage("value", "100"), Ok(1_000_000));
        for bad in ["0", "", "101", "-5", "1e2", "10.12345", "ten"] {
            assert!(parse_percentage("value", bad).is_err(), "{bad}");
        }
    }
}
