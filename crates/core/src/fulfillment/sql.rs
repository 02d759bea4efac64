//! SQL that fulfillment publishes for other areas to embed in one statement: how many units of
//! an order line have shipped, so that an order's lines can carry their progress without another
//! area naming `fulfillment_lines`.

/// The units of the order line whose id is `line` that have shipped (0 when none), as a BIGINT.
pub fn shipped_of_line(line: &str) -> String {
    format!(
        "CAST(COALESCE((SELECT SUM(fl.quantity) FROM fulfillment_lines fl WHERE fl.order_line_id = {line}), 0) AS BIGINT)"
    )
}
