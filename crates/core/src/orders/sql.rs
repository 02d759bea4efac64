//! SQL that orders publish for other areas to embed in one statement: expressions over the
//! orders' own tables, so that a customer list can show each customer's order count, or a queue
//! can go oldest order first, without another area naming `orders`. Each function takes the SQL
//! expression (a column of the caller's query) that holds the id.

/// When the order whose id is `order` was placed.
pub fn placed_at_of(order: &str) -> String {
    format!("(SELECT placed_at FROM orders WHERE id = {order})")
}

/// How many orders, cancelled ones aside, the customer whose id is `customer` has placed.
pub fn orders_count_of(customer: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM orders o WHERE o.customer_id = {customer} AND o.status <> 'cancelled')"
    )
}

/// What the customer whose id is `customer` has spent: the totals of their orders, cancelled
/// ones aside, in minor units.
pub fn total_spent_of(customer: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(o.total_minor), 0) AS BIGINT) FROM orders o WHERE o.customer_id = {customer} AND o.status <> 'cancelled')"
    )
}

/// 1 when the customer whose id is `customer` has an order (cancelled ones aside), else 0.
pub fn has_orders_of(customer: &str) -> String {
    format!(
        "(CASE WHEN EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = {customer} AND o.status <> 'cancelled') THEN 1 ELSE 0 END)"
    )
}
