//! Decimal amounts as files write them ("19.99", "1,234.5", "-11062.06") to integer minor units,
//! exactly: no floating point on the way.

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

/// A whole number of units ("6", "-12", "6.0").
pub fn parse_int(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let t = t.strip_suffix(".0").unwrap_or(t);
    t.parse::<i64>()
        .map_err(|_| format!("{:?} is not a whole number", s.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts() {
        assert_eq!(parse_minor("19.99", 2), Ok(1999));
        assert_eq!(parse_minor("25", 2), Ok(2500));
        assert_eq!(parse_minor("19.9", 2), Ok(1990));
        assert_eq!(parse_minor("1,234.56", 2), Ok(123_456));
        assert_eq!(parse_minor("-11062.06", 2), Ok(-1_106_206));
        assert_eq!(parse_minor("0.001", 2), Ok(0));
        assert_eq!(parse_minor("0.005", 2), Ok(0));
        assert_eq!(parse_minor("0.015", 2), Ok(2));
        assert_eq!(parse_minor("0.0051", 2), Ok(1));
        assert_eq!(parse_minor(".5", 2), Ok(50));
        assert_eq!(parse_minor("1500", 0), Ok(1500));
        assert!(parse_minor("12,5", 2).is_err());
        assert!(parse_minor("abc", 2).is_err());
        assert!(parse_minor("1.2.3", 2).is_err());
        assert!(parse_minor("99999999999999999999", 2).is_err());
        assert_eq!(parse_int("17850.0"), Ok(17850));
        assert!(parse_int("2.5").is_err());
    }

    proptest! {
        #[test]
        fn printed_amounts_parse_back(v in -1_000_000_000i64..1_000_000_000) {
            let s = format!("{}{}.{:02}", if v < 0 { "-" } else { "" }, v.abs() / 100, v.abs() % 100);
            prop_assert_eq!(parse_minor(&s, 2), Ok(v));
        }

        #[test]
        fn never_panics(s in "\\PC{0,30}") {
            let _ = parse_minor(&s, 2);
            let _ = parse_int(&s);
        }
    }
}
