//! SQL that inventory publishes for other areas to embed in one statement: subqueries over its
//! own tables, so that a product list can keep the products in stock without another area naming
//! `inventory_levels`.

/// A subquery of the ids of variants with units available at some location.
pub const VARIANTS_AVAILABLE: &str =
    "SELECT l.variant_id FROM inventory_levels l WHERE l.on_hand - l.reserved - l.unavailable > 0";

/// A subquery of the ids of orders with units still reserved (live) at the location given as the
/// one `?` parameter.
pub const ORDERS_WITH_LIVE_UNITS_AT: &str =
    "SELECT r.order_id FROM reservations r WHERE r.location_id = ? AND r.released_at IS NULL";

/// A subquery of the ids of variants low at some location: available and incoming at or below
/// the level's reorder point.
pub const VARIANTS_LOW: &str = "SELECT l.variant_id FROM inventory_levels l \
     WHERE l.reorder_point IS NOT NULL AND l.on_hand - l.reserved - l.unavailable + l.incoming <= l.reorder_point";
