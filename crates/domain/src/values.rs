//! Value types whose constructors reject bad input, so the rest of the code only holds valid ones.

use crate::Invalid;
use std::fmt;

/// A stock-keeping unit: 1 to 64 characters of letters, digits and `-_./`, no spaces.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Sku(String);

impl Sku {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        if t.is_empty() {
            return Err(Invalid::new("sku", "must not be empty"));
        }
        if t.len() > 64 {
            return Err(Invalid::new("sku", "must be at most 64 characters"));
        }
        if !t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            return Err(Invalid::new(
                "sku",
                "may hold only letters, digits and - _ . /",
            ));
        }
        Ok(Sku(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A count of units: a positive whole number no larger than one million per operation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Quantity(i64);

impl Quantity {
    pub const MAX: i64 = 1_000_000;
    pub fn parse(n: i64) -> Result<Self, Invalid> {
        if n <= 0 {
            Err(Invalid::new("quantity", "must be at least 1"))
        } else if n > Self::MAX {
            Err(Invalid::new("quantity", "must be at most 1000000"))
        } else {
            Ok(Quantity(n))
        }
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// An email address, kept as typed; compared case-insensitively through [`Email::key`].
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let t = s.trim();
        let bad = || Invalid::new("email", "must be an email address like name@example.com");
        if t.len() > 254 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = t.rsplit_once('@').ok_or_else(bad)?;
        if local.is_empty()
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || domain.contains('@')
        {
            return Err(bad());
        }
        Ok(Email(t.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The unique, case-insensitive key.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A URL slug: 1 to 120 characters of lower-case letters, digits and single hyphens.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Handle(String);

impl Handle {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 120
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--");
        if ok {
            Ok(Handle(s.to_string()))
        } else {
            Err(Invalid::new(
                "handle",
                "must be lower-case letters, digits and single hyphens, like blue-linen-shirt",
            ))
        }
    }
    /// Derives a handle from a title: `Blue Linen Shirt!` becomes `blue-linen-shirt`.
    pub fn from_title(title: &str) -> Result<Self, Invalid> {
        let mut out = String::new();
        for c in title.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        }
        while out.ends_with('-') {
            out.pop();
        }
        out.truncate(120);
        while out.ends_with('-') {
            out.pop();
        }
        Handle::parse(&out).map_err(|_| {
            Invalid::new(
                "title",
                "needs at least one letter or digit to make a handle",
            )
        })
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A required, trimmed text of 1 to `max` characters.
pub fn required_text(field: &str, s: &str, max: usize) -> Result<String, Invalid> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Invalid::new(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(t.to_string())
}

/// An optional text of at most `max` characters.
pub fn optional_text(field: &str, s: Option<&str>, max: usize) -> Result<Option<String>, Invalid> {
    match s {
        None => Ok(None),
        Some(t) if t.chars().count() > max => Err(Invalid::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(t) => Ok(Some(t.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus() {
        assert!(Sku::parse("TSHIRT-RED-M").is_ok());
        assert_eq!(Sku::parse(" A1 ").unwrap().as_str(), "A1");
        assert!(Sku::parse("").is_err());
        assert!(Sku::parse("has space").is_err());
        assert!(Sku::parse(&"x".repeat(65)).is_err());
    }

    #[test]
    fn quantities() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-3).is_err());
        assert_eq!(Quantity::parse(5).unwrap().get(), 5);
        assert!(Quantity::parse(1_000_001).is_err());
    }

    #[test]
    fn emails() {
        let e = Email::parse("Ann.Lee@Example.COM").unwrap();
        assert_eq!(e.key(), "ann.lee@example.com");
        assert_eq!(e.as_str(), "Ann.Lee@Example.COM");
        for bad in ["", "ann", "ann@", "@x.com", "a b@x.com", "a@x", "a@.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn handles() {
        assert_eq!(
            Handle::from_title("Blue Linen Shirt!").unwrap().as_str(),
            "blue-linen-shirt"
        );
        assert!(Handle::from_title("!!!").is_err());
        assert!(Handle::parse("Bad").is_err());
        assert!(Handle::parse("a--b").is_err());
        assert!(Handle::parse("ok-1").is_ok());
    }
}
