//! The work queue: what needs someone's hands now. Counts only, each one index-backed query, so
//! the console's home page can show them on every load.

use crate::Result;
use crate::db::Sql;
use crate::params;
use serde::Serialize;

/// How many of each kind of work wait, as of `now`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkQueue {
    /// Open orders not yet (fully) fulfilled, not on hold, not waiting for pickup.
    pub to_ship: i64,
    /// Of those, the ones past their ship-by time.
    pub late: i64,
    /// Orders on hold.
    pub on_hold: i64,
    /// Click-and-collect orders ready and waiting for their customer.
    pub pickups_waiting: i64,
    /// Returns with units still to arrive and be inspected (requested or partially received):
    /// what `GET /returns?to_inspect=true` lists.
    pub returns_to_inspect: i64,
    /// Stock levels at or below their reorder point (available + incoming).
    pub low_stock: i64,
    /// Webhook deliveries that gave up.
    pub failed_webhooks: i64,
    /// Open orders with units backordered (a count left them short): they wait for stock.
    pub backordered: i64,
}

pub fn work_queue(tx: &mut dyn Sql, now: i64) -> Result<WorkQueue> {
    let r = tx.query_one(
        "SELECT \
           (SELECT COUNT(*) FROM orders WHERE status = 'open' AND fulfillment_status IN ('unfulfilled', 'partially_fulfilled') AND hold_reason IS NULL) AS to_ship, \
           (SELECT COUNT(*) FROM orders WHERE status = 'open' AND fulfillment_status IN ('unfulfilled', 'partially_fulfilled') AND hold_reason IS NULL AND ship_by < $1) AS late, \
           (SELECT COUNT(*) FROM orders WHERE status = 'open' AND hold_reason IS NOT NULL) AS on_hold, \
           (SELECT COUNT(*) FROM orders WHERE status = 'open' AND fulfillment_status = 'ready_for_pickup') AS pickups_waiting, \
           (SELECT COUNT(*) FROM returns WHERE status IN ('requested', 'partially_received')) AS returns_to_inspect, \
           (SELECT COUNT(*) FROM inventory_levels WHERE reorder_point IS NOT NULL AND on_hand - reserved - unavailable + incoming <= reorder_point) AS low_stock, \
           (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed') AS failed_webhooks, \
           (SELECT COUNT(DISTINCT r.order_id) FROM reservations r WHERE r.released_at IS NULL AND r.backordered > 0) AS backordered",
        params![now],
    )?;
    let Some(r) = r else {
        return Ok(WorkQueue::default());
    };
    Ok(WorkQueue {
        to_ship: r.get("to_ship")?,
        late: r.get("late")?,
        on_hold: r.get("on_hold")?,
        pickups_waiting: r.get("pickups_waiting")?,
        returns_to_inspect: r.get("returns_to_inspect")?,
        low_stock: r.get("low_stock")?,
        failed_webhooks: r.get("failed_webhooks")?,
        backordered: r.get("backordered")?,
    })
}
