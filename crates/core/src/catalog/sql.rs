//! SQL that the catalog publishes for other areas to embed in one statement: expressions and
//! subqueries over the catalog's own tables, so that a list of levels can show its SKUs, or a
//! filter can match a SKU, in the same round trip without another area naming `variants` or
//! `locations`. Each function takes the SQL expression (a column of the caller's query) that
//! holds the id, and gives a parenthesised expression or a subquery text.

/// The SKU of the variant whose id is `variant`.
pub fn sku_of(variant: &str) -> String {
    format!("(SELECT sku FROM variants WHERE id = {variant})")
}

/// The id of the variant whose SKU is `sku` (NULL when none is).
pub fn variant_id_by_sku(sku: &str) -> String {
    format!("(SELECT id FROM variants WHERE sku = {sku})")
}

/// The inventory policy (`deny` or `continue`) of the variant whose id is `variant`.
pub fn inventory_policy_of(variant: &str) -> String {
    format!("(SELECT inventory_policy FROM variants WHERE id = {variant})")
}

/// The current unit cost (NULL when unknown) of the variant whose id is `variant`.
pub fn unit_cost_of(variant: &str) -> String {
    format!("(SELECT cost_minor FROM variants WHERE id = {variant})")
}

/// A subquery of the ids of variants whose SKU contains the one `?` parameter (a
/// [`crate::util::like_contains`] pattern), case-insensitively.
pub const VARIANTS_WITH_SKU_LIKE: &str =
    "SELECT id FROM variants WHERE lower(sku) LIKE ? ESCAPE '\\'";

/// How long the channel whose id is `channel` holds a click-and-collect order, in hours.
pub fn pickup_hold_hours_of(channel: &str) -> String {
    format!("(SELECT pickup_hold_hours FROM channels WHERE id = {channel})")
}

/// The code of the location whose id is `location`.
pub fn location_code_of(location: &str) -> String {
    format!("(SELECT code FROM locations WHERE id = {location})")
}

/// The name of the location whose id is `location`.
pub fn location_name_of(location: &str) -> String {
    format!("(SELECT name FROM locations WHERE id = {location})")
}

/// The sourcing priority of the location whose id is `location` (lower first).
pub fn location_priority_of(location: &str) -> String {
    format!("(SELECT priority FROM locations WHERE id = {location})")
}

/// A condition: the location whose id is `location` is active.
pub fn location_is_active(location: &str) -> String {
    format!("EXISTS (SELECT 1 FROM locations WHERE id = {location} AND active = TRUE)")
}

/// A subquery of the ids of the variants whose SKU is in `list` (placeholders, `$2, $3, ...`).
pub fn variant_ids_by_skus(list: &str) -> String {
    format!("SELECT v.id FROM variants v WHERE v.sku IN ({list})")
}

/// A subquery of the ids of the locations the channel whose id is `channel` sells from.
pub fn location_ids_of_channel(channel: &str) -> String {
    format!("SELECT cl.location_id FROM channel_locations cl WHERE cl.channel_id = {channel}")
}

/// A subquery of the ids of the locations the channel whose code is `code` sells from.
pub fn location_ids_of_channel_code(code: &str) -> String {
    format!(
        "SELECT cl.location_id FROM channel_locations cl JOIN channels ch ON ch.id = cl.channel_id WHERE ch.code = {code}"
    )
}

/// The safety buffer (NULL when none) the channel whose id is `channel` keeps of the variant
/// whose id is `variant`.
pub fn buffer_of_channel(channel: &str, variant: &str) -> String {
    format!(
        "(SELECT b.quantity FROM channel_buffers b WHERE b.channel_id = {channel} AND b.variant_id = {variant})"
    )
}

/// The safety buffer (NULL when none) the channel whose code is `code` keeps of the variant
/// whose id is `variant`.
pub fn buffer_of_channel_code(code: &str, variant: &str) -> String {
    format!(
        "(SELECT b.quantity FROM channel_buffers b JOIN channels ch ON ch.id = b.channel_id WHERE ch.code = {code} AND b.variant_id = {variant})"
    )
}
