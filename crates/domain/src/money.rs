//! Money: an integer count of minor units plus an ISO 4217 currency. Never a float.
//!
//! Rounding happens once, at a named step, half-to-even; [`allocate`] splits a whole into parts that
//! always sum back to it, the rounding difference going to the last part.

use crate::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// ISO 4217's active alphabetic codes (list one, 2025), sorted for a binary search.
const ISO_4217: [&str; 169] = [
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// An ISO 4217 alphabetic code: three upper-case ASCII letters, one of the active codes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(|c| c.is_ascii_uppercase()) {
            if ISO_4217.binary_search(&s).is_err() {
                return Err(Invalid::new(
                    "currency",
                    format!("{s} is not an ISO 4217 currency code"),
                ));
            }
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(Invalid::new(
                "currency",
                "must be a three-letter ISO 4217 code in capitals, like USD",
            ))
        }
    }

    /// Decimals of the minor unit (ISO 4217): 0 for JPY and the like, 3 for KWD and the like,
    /// 2 for the rest.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF"
            | "UGX" | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }

    pub fn as_str(&self) -> &str {
        // The constructor only admits ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// An amount of money in minor units (cents) of one currency.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    /// Adds two amounts of the same currency; `None` on overflow or currency mismatch.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money::new(
            self.amount.checked_add(other.amount)?,
            self.currency,
        ))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}",
            self.currency.format_amount(self.amount),
            self.currency
        )
    }
}

/// A whole number with thousands separators: `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An amount in minor units of the currency with ISO code `code` as people read it
/// (`£1,234.50`); a code Backroom does not know shows the minor units and the code.
pub fn human_in(minor: i64, code: &str) -> String {
    match Currency::parse(code) {
        Ok(c) => Money::new(minor, c).human(),
        Err(_) => format!("{} {code}", group_count(minor)),
    }
}

/// A count with thousands separators and its sign: `-12,345`.
pub fn group_count(n: i64) -> String {
    let g = group_digits(n.unsigned_abs());
    if n < 0 { format!("-{g}") } else { g }
}

impl Money {
    /// An amount as people read it: the currency's sign where it has a well-known one, and
    /// thousands separators: `£1,234.50`, `-€12.00`, `¥1,500`, `1,234.50 CHF`. Exports and
    /// form fields keep [`Currency::format_amount`] (no separators), which reads back.
    pub fn human(&self) -> String {
        let sign = if self.amount < 0 { "-" } else { "" };
        let number = self
            .currency
            .unsigned_amount(self.amount.unsigned_abs(), true);
        match self.currency.symbol() {
            Some(sym) => format!("{sign}{sym}{number}"),
            None => format!("{sign}{number} {}", self.currency),
        }
    }
}

impl Currency {
    /// The sign people know the currency by, for the few where one is unambiguous.
    pub fn symbol(&self) -> Option<&'static str> {
        match self.as_str() {
            "USD" => Some("$"),
            "EUR" => Some("€"),
            "GBP" => Some("£"),
            "JPY" => Some("¥"),
            _ => None,
        }
    }

    /// Minor units as a number with the currency's decimals: `12.50` for 1250 cents, `1500` for
    /// 1500 yen. [`Currency::parse_amount`] reads it back.
    pub fn format_amount(&self, minor: i64) -> String {
        let sign = if minor < 0 { "-" } else { "" };
        format!(
            "{sign}{}",
            self.unsigned_amount(minor.unsigned_abs(), false)
        )
    }

    /// An amount without its sign, with the currency's decimals, its whole part grouped by
    /// thousands when `grouped`.
    fn unsigned_amount(&self, minor: u64, grouped: bool) -> String {
        let whole = |w: u64| {
            if grouped {
                group_digits(w)
            } else {
                w.to_string()
            }
        };
        match self.exponent() {
            0 => whole(minor),
            e => {
                let p = 10u64.pow(e);
                format!("{}.{:0w$}", whole(minor / p), minor % p, w = e as usize)
            }
        }
    }

    /// Reads an amount as people type it (`12`, `12.5`, `-0.99`) into minor units: at most as many
    /// decimals as the currency has, no thousands separators, no exponent.
    pub fn parse_amount(&self, field: &str, s: &str) -> Result<i64, Invalid> {
        let bad = || {
            Invalid::new(
                field,
                format!(
                    "must be an amount like {}, with at most {} decimals",
                    self.format_amount(1999 * 10i64.pow(self.exponent()) / 100),
                    self.exponent()
                ),
            )
        };
        // Stricter than files: digits, one point, no more decimals than the currency has.
        let digits = s.trim().strip_prefix('-').unwrap_or(s.trim());
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || !all_digits(whole)
            || !all_digits(frac)
            || frac.len() > self.exponent() as usize
            || (digits.contains('.') && frac.is_empty())
        {
            return Err(bad());
        }
        parse_minor(s, self.exponent()).map_err(|_| Invalid::new(field, "is too large"))
    }
}

/// Parses a decimal amount into minor units with `exponent` decimals (2 for EUR, 0 for JPY).
/// Extra decimals round half to even; thousands separators (`,` before a `.`) are accepted.
pub fn parse_minor(s: &str, exponent: u32) -> Result<i64, String> {
    let t = s.trim();
    let bad = || format!("{t:?} is not an amount");
    if t.is_empty() {
        return Err("is empty".into());
    }
    let (neg, t2) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let cleaned: String = if t2.contains('.') {
        t2.replace(',', "")
    } else {
        t2.to_string()
    };
    let (int, frac) = match cleaned.split_once('.') {
        Some((i, f)) => (i, f),
        None => (cleaned.as_str(), ""),
    };
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let e = exponent as usize;
    let mut digits = String::with_capacity(int.len() + e);
    digits.push_str(int);
    let kept: String = frac.chars().take(e).collect();
    digits.push_str(&kept);
    for _ in kept.len()..e {
        digits.push('0');
    }
    let mut value: i64 = if digits.is_empty() {
        0
    } else {
        digits
            .trim_start_matches('0')
            .parse::<i64>()
            .or_else(|_| {
                if digits.bytes().all(|b| b == b'0') {
                    Ok(0)
                } else {
                    Err(())
                }
            })
            .map_err(|_| format!("{t:?} is too large"))?
    };
    // Half to even on what was cut off.
    let rest = &frac[kept.len().min(frac.len())..];
    if let Some(first) = rest.bytes().next() {
        let tail_nonzero = rest.bytes().skip(1).any(|b| b != b'0');
        let round_up = first > b'5' || (first == b'5' && (tail_nonzero || value % 2 == 1));
        if round_up {
            value = value
                .checked_add(1)
                .ok_or_else(|| format!("{t:?} is too large"))?;
        }
    }
    Ok(if neg { -value } else { value })
}

/// `num / den` rounded half-to-even. `den` must be positive.
pub fn div_round_half_even(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    let q = num.div_euclid(den);
    let r = num.rem_euclid(den);
    let twice = 2 * r;
    if twice > den || (twice == den && q % 2 != 0) {
        q + 1
    } else {
        q
    }
}

/// `amount * ppm / 1_000_000` (a rate in millionths), rounded half-to-even.
pub fn apply_ppm(amount: i64, ppm: u32) -> i64 {
    let v = div_round_half_even(i128::from(amount) * i128::from(ppm), 1_000_000);
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The tax inside a tax-inclusive `amount` at a rate in millionths:
/// `amount * ppm / (1_000_000 + ppm)`, rounded half-to-even (122.00 at 22% holds 22.00).
pub fn extract_ppm(amount: i64, ppm: u32) -> i64 {
    let v = div_round_half_even(
        i128::from(amount) * i128::from(ppm),
        1_000_000 + i128::from(ppm),
    );
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Splits `total` across parts in proportion to `weights` (all non-negative).
///
/// Each part but the last is rounded half-to-even; the last takes the rounding difference, so the
/// parts always sum to `total`. With all weights zero the whole goes to the last part.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    let n = weights.len();
    if n == 0 {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    let mut parts = vec![0i64; n];
    if sum <= 0 {
        parts[n - 1] = total;
        return parts;
    }
    let mut given: i64 = 0;
    for i in 0..n - 1 {
        let p = div_round_half_even(i128::from(total) * i128::from(weights[i]), sum);
        let p = i64::try_from(p).unwrap_or(0);
        parts[i] = p;
        given += p;
    }
    parts[n - 1] = total - given;
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_as_people_read_them() {
        let m = |a, c| Money::new(a, Currency::parse(c).unwrap()).human();
        assert_eq!(m(123_456_789, "GBP"), "£1,234,567.89");
        assert_eq!(m(-1200, "EUR"), "-€12.00");
        assert_eq!(m(5, "USD"), "$0.05");
        assert_eq!(m(1_500, "JPY"), "¥1,500");
        assert_eq!(m(100_000, "CHF"), "1,000.00 CHF");
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_count(-1234), "-1,234");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn half_even() {
        assert_eq!(div_round_half_even(5, 2), 2);
        assert_eq!(div_round_half_even(7, 2), 4);
        assert_eq!(div_round_half_even(-5, 2), -2);
        assert_eq!(div_round_half_even(-7, 2), -4);
        assert_eq!(div_round_half_even(10, 3), 3);
        assert_eq!(div_round_half_even(11, 3), 4);
        assert_eq!(apply_ppm(1250, 200_000), 250);
        assert_eq!(apply_ppm(25, 200_000), 5);
        assert_eq!(apply_ppm(125, 200_000), 25);
        assert_eq!(apply_ppm(5, 100_000), 0); // 0.5 -> 0 (even)
        assert_eq!(apply_ppm(15, 100_000), 2); // 1.5 -> 2 (even)
        assert_eq!(apply_ppm(1500, 72_500), 109); // 108.75 -> 109
    }

    #[test]
    fn display_follows_the_currency_exponent() {
        let m = |a, c| Money::new(a, Currency::parse(c).unwrap()).to_string();
        assert_eq!(m(1250, "EUR"), "12.50 EUR");
        assert_eq!(m(-5, "USD"), "-0.05 USD");
        assert_eq!(m(1500, "JPY"), "1500 JPY");
        assert_eq!(m(1234, "KWD"), "1.234 KWD");
    }

    #[test]
    fn currency_parse() {
        assert!(Currency::parse("EUR").is_ok());
        assert!(Currency::parse("eur").is_err());
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("XYZ").is_err());
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
        for c in ISO_4217 {
            assert!(Currency::parse(c).is_ok(), "{c}");
        }
        assert_eq!(
            Money::new(-1234, Currency::parse("GBP").unwrap()).to_string(),
            "-12.34 GBP"
        );
    }

    #[test]
    fn amounts_are_read_as_typed() {
        let (eur, jpy, kwd) = (
            Currency::parse("EUR").unwrap(),
            Currency::parse("JPY").unwrap(),
            Currency::parse("KWD").unwrap(),
        );
        assert_eq!(eur.parse_amount("price", "12"), Ok(1200));
        assert_eq!(eur.parse_amount("price", " 12.5 "), Ok(1250));
        assert_eq!(eur.parse_amount("price", "0.07"), Ok(7));
        assert_eq!(eur.parse_amount("price", "-0.99"), Ok(-99));
        assert_eq!(jpy.parse_amount("price", "1500"), Ok(1500));
        assert_eq!(kwd.parse_amount("price", "1.234"), Ok(1234));
        for bad in [
            "", "-", "1.", ".5", "1.234", "1,5", "1e3", "abc", "--1", "1.2.3", "+1",
        ] {
            let e = eur.parse_amount("price", bad).unwrap_err();
            assert_eq!(e.field, "price", "{bad}");
            assert!(e.message.contains("19.99"), "{bad}: {}", e.message);
        }
        assert!(jpy.parse_amount("price", "1.5").is_err());
        assert_eq!(
            eur.parse_amount("price", "99999999999999999999")
                .unwrap_err()
                .message,
            "is too large"
        );
    }

    #[test]
    fn amounts_in_a_currency_code() {
        assert_eq!(human_in(123_450, "GBP"), "£1,234.50");
        assert_eq!(human_in(123_450, "XXQ"), "123,450 XXQ");
    }

    #[test]
    fn allocate_examples() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![33, 33, 34]);
        assert_eq!(allocate(10, &[0, 0]), vec![0, 10]);
        assert_eq!(allocate(7, &[]), Vec::<i64>::new());
    }

    proptest! {
        #[test]
        fn allocation_sums_to_whole(total in -10_000_000i64..10_000_000, weights in proptest::collection::vec(0i64..1_000_000, 1..20)) {
            let parts = allocate(total, &weights);
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            // Every part but the last is within one unit of its exact share.
            let sum: i128 = weights.iter().map(|w| *w as i128).sum();
            if sum > 0 {
                for i in 0..parts.len() - 1 {
                    let exact = total as f64 * weights[i] as f64 / sum as f64;
                    prop_assert!((parts[i] as f64 - exact).abs() <= 0.5 + 1e-9);
                }
            }
        }

        #[test]
        fn amounts_read_back_what_is_shown(amount in -1_000_000_000_000i64..1_000_000_000_000, c in prop::sample::select(vec!["EUR", "JPY", "KWD"])) {
            let c = Currency::parse(c).unwrap();
            prop_assert_eq!(c.parse_amount("x", &c.format_amount(amount)), Ok(amount));
            prop_assert_eq!(Money::new(amount, c).to_string(), format!("{} {c}", c.format_amount(amount)));
        }

        #[test]
        fn half_even_is_nearest(num in -1_000_000_000i128..1_000_000_000, den in 1i128..100_000) {
            let q = div_round_half_even(num, den);
            // |num - q*den| <= den/2
            prop_assert!(2 * (num - q * den).abs() <= den);
        }

        #[test]
        fn money_addition_is_exact(a in -1_000_000_000_000i64..1_000_000_000_000, b in -1_000_000_000_000i64..1_000_000_000_000) {
            let c = Currency::parse("USD").unwrap();
            let s = Money::new(a, c).checked_add(Money::new(b, c)).unwrap();
            prop_assert_eq!(s.amount, a + b);
            prop_assert!(Money::new(a, c).checked_add(Money::new(b, Currency::parse("EUR").unwrap())).is_none());
        }
    }
}
