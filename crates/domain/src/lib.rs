//! Backroom's business rules.
//!
//! This crate holds the rules of DOMAIN.md that do not depend on where data lives: money and its
//! rounding, the value types that every other crate trusts (SKU, quantity, email, handle), pricing of
//! an order, sourcing of order lines to locations, the order state machine, the support desk's ticket rules and the role matrix.
//!
//! It must never do I/O, know about HTTP or SQL, or read the clock: callers pass everything in.

pub mod analytics;
pub mod balance;
pub mod budgets;
pub mod hours;
pub mod jobs;
pub mod kpi;
pub mod listing;
pub mod money;
pub mod order;
pub mod pricing;
pub mod promotions;
pub mod roles;
pub mod sourcing;
pub mod support;
pub mod values;

pub use money::{Currency, Money};
pub use values::{Email, Handle, Quantity, Sku};

/// A rule was broken by a value a caller supplied. `field` names the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error reported under a longer path, e.g. `sku` becomes `lines[2].sku`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.field = if self.field.is_empty() {
            prefix.to_string()
        } else {
            format!("{prefix}.{}", self.field)
        };
        self
    }
}
