//! Decimal amounts as files write them ("19.99", "1,234.5", "-11062.06") to integer minor units,
//! exactly: no floating point on the way.

pub use backroom_domain::money::parse_minor;

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
