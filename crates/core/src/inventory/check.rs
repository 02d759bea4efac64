//! The inventory invariants of DOMAIN.md, verified on the live database from one snapshot:
//! `on_hand` and `unavailable` equal the sums of their ledger; `reserved` equals the sum of live
//! reservations; `incoming` equals units shipped on transfers toward the location and not yet
//! received; no `deny` variant has `available` below zero (units a count left short, which wait
//! backordered for stock, aside).

use crate::Result;
use crate::api::{CheckReport, Violation};
use crate::db::Sql;

pub fn run(tx: &mut dyn Sql) -> Result<CheckReport> {
    let rows = tx.query(
        &format!("SELECT {} AS sku, l.variant_id, l.location_id, l.on_hand, l.reserved, l.unavailable, l.incoming, {} AS inventory_policy, \
           (SELECT CAST(COALESCE(SUM(e.on_hand_delta), 0) AS BIGINT) FROM inventory_ledger e WHERE e.variant_id = l.variant_id AND e.location_id = l.location_id) AS ledger_on_hand, \
           (SELECT CAST(COALESCE(SUM(e.unavailable_delta), 0) AS BIGINT) FROM inventory_ledger e WHERE e.variant_id = l.variant_id AND e.location_id = l.location_id) AS ledger_unavailable, \
           COALESCE(r.quantity, 0) AS live_reserved, \
           (SELECT CAST(COALESCE(SUM(tl.quantity - tl.received_quantity), 0) AS BIGINT) FROM transfer_lines tl JOIN transfers t ON t.id = tl.transfer_id \
              WHERE tl.variant_id = l.variant_id AND t.to_location_id = l.location_id AND t.status IN ('in_transit', 'partially_received')) AS in_transit, \
           COALESCE(r.backordered, 0) AS live_backordered \
         FROM inventory_levels l \
         LEFT JOIN (SELECT variant_id, location_id, CAST(SUM(quantity) AS BIGINT) AS quantity, CAST(SUM(backordered) AS BIGINT) AS backordered \
                    FROM reservations WHERE released_at IS NULL GROUP BY variant_id, location_id) r \
           ON r.variant_id = l.variant_id AND r.location_id = l.location_id \
         ORDER BY l.variant_id, l.location_id",
            crate::catalog::sql::sku_of("l.variant_id"),
            crate::catalog::sql::inventory_policy_of("l.variant_id")
        ),
        &[],
    )?;
    let mut violations = Vec::new();
    for r in &rows {
        let int = |column: &str| r.get::<i64>(column);
        let (sku, policy): (String, String) = (r.get("sku")?, r.get("inventory_policy")?);
        let loc = int("location_id")?;
        let (on_hand, reserved) = (int("on_hand")?, int("reserved")?);
        let (unavailable, incoming) = (int("unavailable")?, int("incoming")?);
        let (ledger_on_hand, ledger_unavailable) =
            (int("ledger_on_hand")?, int("ledger_unavailable")?);
        let (live_reserved, in_transit) = (int("live_reserved")?, int("in_transit")?);
        let backordered = int("live_backordered")?;
        let mut add = |rule: &str, recorded: i64, expected: i64, message: String| {
            violations.push(Violation {
                rule: rule.into(),
                sku: sku.clone(),
                location_id: loc,
                recorded,
                expected,
                message,
            });
        };
        if on_hand != ledger_on_hand {
            add(
                "on_hand_ledger",
                on_hand,
                ledger_on_hand,
                format!("on_hand is {on_hand} but its ledger sums to {ledger_on_hand}"),
            );
        }
        if unavailable != ledger_unavailable {
            add(
                "unavailable_ledger",
                unavailable,
                ledger_unavailable,
                format!("unavailable is {unavailable} but its ledger sums to {ledger_unavailable}"),
            );
        }
        if reserved != live_reserved {
            add(
                "reserved_reservations",
                reserved,
                live_reserved,
                format!("reserved is {reserved} but live reservations sum to {live_reserved}"),
            );
        }
        if incoming != in_transit {
            add(
                "incoming_transfers",
                incoming,
                in_transit,
                format!("incoming is {incoming} but open transfers bring {in_transit}"),
            );
        }
        // Units a count left short wait backordered for stock: what a `deny` variant's shelf
        // must cover is the rest of its reservations.
        let covered = on_hand - (reserved - backordered) - unavailable;
        if policy == "deny" && covered < 0 {
            add(
                "negative_available",
                covered,
                0,
                format!(
                    "available is {covered} for a deny variant (oversold; backordered units aside)"
                ),
            );
        }
        if on_hand < 0 || unavailable < 0 || reserved < 0 {
            add(
                "negative_bucket",
                on_hand.min(unavailable).min(reserved),
                0,
                "a stock bucket is negative".into(),
            );
        }
    }
    Ok(CheckReport {
        ok: violations.is_empty(),
        levels_checked: rows.len() as i64,
        violations,
    })
}
