//! SQL that inventory publishes for other areas to embed in one statement: subqueries over its
//! own tables, so that a product list can keep the products in stock without another area naming
//! `inventory_levels`.

/// A subquery of the ids of variants with units available at some location.
pub const VARIANTS_AVAILABLE: &str =
    "SELECT l.variant_id FROM inventory_levels l WHERE l.on_hand - l.reserved - l.unavailable > 0";

/// A subquery of the ids of variants low at some location: available and incoming at or below
/// the level's reorder point.
pub const VARIANTS_LOW: &str = "SELECT l.variant_id FROM inventory_levels l \
     WHERE l.reorder_point IS NOT NULL AND l.on_hand - l.reserved - l.unavailable + l.incoming <= l.reorder_point";
