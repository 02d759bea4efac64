//! The team's workload: each member who works tickets, with their unsolved tickets by
//! priority, how many are breached or due within four hours, and how many they solved this week
//! (since Monday 00:00 in the store's zone).

use crate::db::{Sql, query_as};
use crate::{Ctx, Result, params};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One member's load.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Default)]
pub struct AgentLoad {
    pub user_id: i64,
    pub name: String,
    /// Unsolved tickets (new, open, pending, on hold) by priority.
    pub low: i64,
    pub normal: i64,
    pub high: i64,
    pub urgent: i64,
    /// Unsolved tickets whose due time has passed.
    pub breached: i64,
    /// Unsolved tickets due within four hours (not yet breached).
    pub due_soon: i64,
    /// Tickets solved since Monday 00:00 (store time) and not reopened.
    pub solved_this_week: i64,
}

const FOUR_HOURS: i64 = 4 * 3_600_000_000;

/// Every member who works tickets, busiest first.
pub fn workload(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<AgentLoad>> {
    ctx.actor.require(Permission::SupportRead)?;
    let zone = crate::analytics::Zone::get(&crate::settings::load(tx)?.timezone)?;
    let today = i64::from(zone.day_of(ctx.now));
    let monday = today - backroom_domain::hours::weekday(today) as i64;
    let week_start = zone.start_of(monday as i32);
    let mut out: BTreeMap<i64, AgentLoad> = crate::auth::members_who(tx, Permission::SupportWork)?
        .into_iter()
        .map(|(id, name)| {
            (
                id,
                AgentLoad {
                    user_id: id,
                    name,
                    ..Default::default()
                },
            )
        })
        .collect();
    // Rows rather than groups: the database reads them from an index alone (grouping made
    // SQLite walk every ticket in assignee order).
    crate::row! {
        struct LoadRow { assignee_id: Option<i64>, priority: String, due_at: Option<i64> }
    }
    for r in query_as::<LoadRow>(
        tx,
        "SELECT assignee_id, priority, due_at FROM support_tickets WHERE status IN ('new', 'open', 'pending', 'on_hold')",
        &[],
    )? {
        let Some(a) = r.assignee_id.and_then(|id| out.get_mut(&id)) else {
            continue;
        };
        match r.priority.as_str() {
            "low" => a.low += 1,
            "high" => a.high += 1,
            "urgent" => a.urgent += 1,
            _ => a.normal += 1,
        }
        match r.due_at {
            Some(d) if d <= ctx.now => a.breached += 1,
            Some(d) if d <= ctx.now + FOUR_HOURS => a.due_soon += 1,
            _ => {}
        }
    }
    // A solve time is kept only while a ticket is solved or closed.
    crate::row! { struct SolvedRow { assignee_id: Option<i64> } }
    for r in query_as::<SolvedRow>(
        tx,
        "SELECT assignee_id FROM support_tickets WHERE solved_at >= $1",
        params![week_start],
    )? {
        if let Some(a) = r.assignee_id.and_then(|id| out.get_mut(&id)) {
            a.solved_this_week += 1;
        }
    }
    let mut v: Vec<AgentLoad> = out.into_values().collect();
    v.sort_by_key(|a| {
        (
            std::cmp::Reverse(a.low + a.normal + a.high + a.urgent),
            a.user_id,
        )
    });
    Ok(v)
}
