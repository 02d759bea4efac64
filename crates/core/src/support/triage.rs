//! Triage: rules that sort a new ticket as it comes in, so a sudden influx sorts itself. Every
//! active rule whose conditions fit ([`backroom_domain::support::TriageWhen`]) applies, in
//! order: a later rule's priority or team wins, tags add up.

use crate::db::{Sql, query_as};
use crate::util::{from_json, rfc3339, to_json};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use backroom_domain::support::{Channel, TriageFacts, TriageThen, TriageWhen};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A triage rule.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct TriageRule {
    pub id: i64,
    pub name: String,
    pub position: i64,
    /// Conditions, all of which must hold: `text_contains` (any of the words), `channel`,
    /// `min_lifetime_value` (minor units), `has_open_order`, `has_late_order`.
    #[schema(value_type = Object)]
    pub when: TriageWhen,
    /// `priority`, `team_id`, `tags` (added).
    #[schema(value_type = Object)]
    pub then: TriageThen,
    pub active: bool,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTriageRule {
    pub name: String,
    #[schema(value_type = Object)]
    pub when: TriageWhen,
    #[schema(value_type = Object)]
    pub then: TriageThen,
    /// After every other rule by default.
    pub position: Option<i64>,
}

crate::row! {
    struct RuleRow { id: i64, name: String, position: i64, conditions: String, actions: String, active: bool, created_at: i64 }
}

fn rule_of(r: RuleRow) -> TriageRule {
    TriageRule {
        id: r.id,
        name: r.name,
        position: r.position,
        when: from_json(&r.conditions),
        then: from_json(&r.actions),
        active: r.active,
        created_at: rfc3339(r.created_at),
    }
}

fn rules(tx: &mut dyn Sql, active_only: bool) -> Result<Vec<TriageRule>> {
    let filter = if active_only {
        " WHERE active = TRUE"
    } else {
        ""
    };
    Ok(query_as::<RuleRow>(
        tx,
        &format!("SELECT id, name, position, conditions, actions, active, created_at FROM support_triage_rules{filter} ORDER BY position, id"),
        &[],
    )?
    .into_iter()
    .map(rule_of)
    .collect())
}

pub fn list_rules(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<TriageRule>> {
    ctx.actor.require(Permission::SupportRead)?;
    rules(tx, false)
}

pub fn create_rule(tx: &mut dyn Sql, ctx: &Ctx, r: &NewTriageRule) -> Result<TriageRule> {
    ctx.actor.require(Permission::SupportManage)?;
    let name = backroom_domain::values::required_text("name", &r.name, 200)?;
    r.when.check()?;
    r.then.check()?;
    if let Some(t) = r.then.team_id {
        super::teams::get_team(tx, t)
            .map_err(|_| Error::invalid("then.team_id", "is not a team"))?;
    }
    let position = match r.position {
        Some(p) => p,
        None => tx
            .query_one("SELECT CAST(COALESCE(MAX(position), 0) AS BIGINT) + 1 AS n FROM support_triage_rules", &[])?
            .map(|r| r.get::<i64>("n"))
            .transpose()?
            .unwrap_or(1),
    };
    let row = tx
        .query_one(
            "INSERT INTO support_triage_rules (name, position, conditions, actions, active, created_at) VALUES ($1, $2, $3, $4, TRUE, $5) RETURNING id",
            params![name.as_str(), position, to_json(&r.when), to_json(&r.then), ctx.now],
        )?
        .ok_or(Error::NotFound { entity: "triage rule" })?;
    let id: i64 = row.get("id")?;
    audit::record(
        tx,
        ctx,
        "triage_rule.created",
        "triage_rule",
        id,
        json!({"name": name, "when": r.when, "then": r.then}),
    )?;
    rules(tx, false)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(Error::NotFound {
            entity: "triage rule",
        })
}

/// Turns a rule on or off (new tickets only: the sorted ones stay as they are).
pub fn set_rule_active(tx: &mut dyn Sql, ctx: &Ctx, id: i64, active: bool) -> Result<TriageRule> {
    ctx.actor.require(Permission::SupportManage)?;
    let before = rules(tx, false)?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(Error::NotFound {
            entity: "triage rule",
        })?;
    tx.exec(
        "UPDATE support_triage_rules SET active = $1 WHERE id = $2",
        params![active, id],
    )?;
    audit::record(
        tx,
        ctx,
        "triage_rule.updated",
        "triage_rule",
        id,
        json!({"active": {"from": before.active, "to": active}}),
    )?;
    Ok(TriageRule { active, ..before })
}

/// Sorts a new ticket by the rules that fit it; `text` is its subject and first message.
pub(crate) fn apply(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    ticket: i64,
    channel: Channel,
    customer: i64,
    text: &str,
) -> Result<()> {
    let rules = rules(tx, true)?;
    if rules.is_empty() {
        return Ok(());
    }
    let needs_orders = rules
        .iter()
        .any(|r| r.when.has_open_order.is_some() || r.when.has_late_order.is_some());
    let lifetime_value = if rules.iter().any(|r| r.when.min_lifetime_value.is_some()) {
        crate::customers::get_customer(tx, customer)?
            .lifetime_value
            .amount
    } else {
        0
    };
    let (mut has_open_order, mut has_late_order) = (false, false);
    if needs_orders {
        let q = |late: Option<bool>| crate::orders::OrderQuery {
            customer_id: Some(customer),
            status: Some("open".into()),
            late,
            limit: Some(1),
            ..Default::default()
        };
        has_open_order = !crate::orders::list(tx, &q(None), ctx.now)?.items.is_empty();
        has_late_order = has_open_order
            && !crate::orders::list(tx, &q(Some(true)), ctx.now)?
                .items
                .is_empty();
    }
    let facts = TriageFacts {
        text,
        channel,
        lifetime_value,
        has_open_order,
        has_late_order,
    };
    let fitting: Vec<&TriageRule> = rules.iter().filter(|r| r.when.fits(&facts)).collect();
    if fitting.is_empty() {
        return Ok(());
    }
    crate::row! { struct NowRow { priority: String, tags: String, team_id: Option<i64> } }
    let Some(now) = crate::db::query_one_as::<NowRow>(
        tx,
        "SELECT priority, tags, team_id FROM support_tickets WHERE id = $1",
        params![ticket],
    )?
    else {
        return Ok(());
    };
    let (mut priority, mut team) = (now.priority, now.team_id);
    let mut tags: Vec<String> = from_json(&now.tags);
    for r in &fitting {
        if let Some(p) = &r.then.priority {
            priority = p.clone();
        }
        if let Some(t) = r.then.team_id {
            team = Some(t);
        }
        for t in &r.then.tags {
            let t = t.trim().to_lowercase();
            if !t.is_empty() && !tags.contains(&t) {
                tags.push(t);
            }
        }
    }
    tx.exec(
        "UPDATE support_tickets SET priority = $1, team_id = $2, tags = $3 WHERE id = $4",
        params![priority.as_str(), team, to_json(&tags), ticket],
    )?;
    audit::record(
        tx,
        ctx,
        "ticket.triaged",
        "ticket",
        ticket,
        json!({"rules": fitting.iter().map(|r| r.id).collect::<Vec<_>>(), "priority": priority, "team_id": team, "tags": tags}),
    )?;
    Ok(())
}
