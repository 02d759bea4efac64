//! Teams and assignment. A team gives out its tickets by hand (`manual`), in turn
//! (`round_robin`) or to whoever holds the least work (`balanced`: unsolved tickets weighted by
//! priority, low 1 to urgent 4), among its members who are available and under their cap of
//! unsolved tickets. A ticket that joins a team with no assignee is given out at once; a member
//! who goes away has their untouched (`new`) tickets of that team given to the others.
//!
//! Giving out takes the team's row lock (on PostgreSQL; SQLite has one writer), so two servers
//! assigning at once count each other's assignments and never pass a member's cap, and the
//! assignment itself only fills an empty assignee, so no ticket goes to two members.

use crate::db::{Sql, query_as};
use crate::util::rfc3339;
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use backroom_domain::values::required_text;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use utoipa::ToSchema;

/// A support team.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// `manual`, `round_robin` or `balanced`.
    pub assignment: String,
    pub members: Vec<Member>,
    pub created_at: String,
}

/// A member of a team.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    pub available: bool,
    /// The most unsolved tickets they hold before they get no more; none: no cap.
    pub capacity: Option<i64>,
    /// Unsolved tickets they hold now (in any team).
    pub open_tickets: i64,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTeam {
    pub name: String,
    /// `manual` by default.
    pub assignment: Option<String>,
}

/// A change to a team: only the fields given change.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct TeamPatch {
    pub name: Option<String>,
    pub assignment: Option<String>,
}

/// A member joining a team, or a change to one: availability and cap.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct MemberPatch {
    /// True when joining, unless said otherwise.
    pub available: Option<bool>,
    #[serde(default, deserialize_with = "crate::api::double_option")]
    pub capacity: Option<Option<i64>>,
}

const MODES: [&str; 3] = ["manual", "round_robin", "balanced"];

fn mode(s: &str) -> Result<&str> {
    MODES
        .iter()
        .find(|m| **m == s)
        .copied()
        .ok_or_else(|| Error::invalid("assignment", "must be manual, round_robin or balanced"))
}

/// The weight of a ticket's priority in a member's load.
fn weight(priority: &str) -> i64 {
    match priority {
        "low" => 1,
        "high" => 3,
        "urgent" => 4,
        _ => 2,
    }
}

/// Each member's unsolved tickets: (count, weighted by priority).
fn loads(tx: &mut dyn Sql, users: &[i64]) -> Result<HashMap<i64, (i64, i64)>> {
    let mut out = HashMap::new();
    if users.is_empty() {
        return Ok(out);
    }
    crate::row! { struct LoadRow { assignee_id: i64, priority: String, n: i64 } }
    let vals: Vec<crate::Val> = users.iter().map(|u| crate::Val::from(*u)).collect();
    let (cond, list) = crate::db::in_list(tx.dialect(), "assignee_id", 1, &vals);
    for r in query_as::<LoadRow>(
        tx,
        &format!(
            "SELECT assignee_id, priority, CAST(COUNT(*) AS BIGINT) AS n FROM support_tickets \
             WHERE {cond} AND status IN ('new', 'open', 'pending', 'on_hold') GROUP BY assignee_id, priority"
        ),
        &[list],
    )? {
        let e: &mut (i64, i64) = out.entry(r.assignee_id).or_default();
        e.0 += r.n;
        e.1 += r.n * weight(&r.priority);
    }
    Ok(out)
}

crate::row! {
    struct MemberRow { team_id: i64, user_id: i64, available: bool, capacity: Option<i64> }
}

fn members_of(tx: &mut dyn Sql, team: Option<i64>) -> Result<Vec<MemberRow>> {
    Ok(match team {
        Some(t) => query_as(
            tx,
            "SELECT team_id, user_id, available, capacity FROM support_team_members WHERE team_id = $1 ORDER BY user_id",
            params![t],
        )?,
        None => query_as(
            tx,
            "SELECT team_id, user_id, available, capacity FROM support_team_members ORDER BY team_id, user_id",
            &[],
        )?,
    })
}

pub fn create_team(tx: &mut dyn Sql, ctx: &Ctx, t: &NewTeam) -> Result<Team> {
    ctx.actor.require(Permission::SupportManage)?;
    let name = required_text("name", &t.name, 100)?;
    let assignment = mode(t.assignment.as_deref().unwrap_or("manual"))?;
    if tx
        .query_one(
            "SELECT id FROM support_teams WHERE LOWER(name) = LOWER($1)",
            params![name.as_str()],
        )?
        .is_some()
    {
        return Err(Error::Conflict {
            code: "team_exists",
            message: format!("a team named {name} exists"),
            field: Some("name".into()),
        });
    }
    let r = tx
        .query_one(
            "INSERT INTO support_teams (name, assignment, created_at) VALUES ($1, $2, $3) RETURNING id",
            params![name.as_str(), assignment, ctx.now],
        )?
        .ok_or(Error::NotFound { entity: "team" })?;
    let id: i64 = r.get("id")?;
    audit::record(
        tx,
        ctx,
        "team.created",
        "team",
        id,
        json!({"name": name, "assignment": assignment}),
    )?;
    get_team(tx, id)
}

pub fn update_team(tx: &mut dyn Sql, ctx: &Ctx, id: i64, p: &TeamPatch) -> Result<Team> {
    ctx.actor.require(Permission::SupportManage)?;
    let before = get_team(tx, id)?;
    if let Some(n) = &p.name {
        let n = required_text("name", n, 100)?;
        tx.exec(
            "UPDATE support_teams SET name = $1 WHERE id = $2",
            params![n.as_str(), id],
        )?;
    }
    if let Some(a) = &p.assignment {
        tx.exec(
            "UPDATE support_teams SET assignment = $1 WHERE id = $2",
            params![mode(a)?, id],
        )?;
    }
    let after = get_team(tx, id)?;
    audit::record(
        tx,
        ctx,
        "team.updated",
        "team",
        id,
        json!({"name": {"from": before.name, "to": after.name}, "assignment": {"from": before.assignment, "to": after.assignment}}),
    )?;
    Ok(after)
}

/// Adds a member to a team or changes their availability or cap. Members set their own
/// availability; the rest is a lead's. A member who goes away has their untouched tickets of
/// the team given out again.
pub fn set_member(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    team: i64,
    user: i64,
    m: &MemberPatch,
) -> Result<Team> {
    let own_availability = user == ctx.actor.user_id && m.capacity.is_none();
    if own_availability {
        ctx.actor.require(Permission::SupportWork)?;
    } else {
        ctx.actor.require(Permission::SupportManage)?;
    }
    get_team(tx, team)?;
    super::works_tickets(tx, user, "user_id")?;
    if let Some(Some(c)) = m.capacity
        && !(1..=10_000).contains(&c)
    {
        return Err(Error::invalid(
            "capacity",
            "must be from 1 to 10000, or null for no cap",
        ));
    }
    let existing = members_of(tx, Some(team))?
        .into_iter()
        .find(|r| r.user_id == user);
    if existing.is_none() && own_availability && !m.available.unwrap_or(true) {
        ctx.actor.require(Permission::SupportManage)?;
    }
    let available = m
        .available
        .unwrap_or(existing.as_ref().is_none_or(|e| e.available));
    let capacity = match m.capacity {
        Some(c) => c,
        None => existing.as_ref().and_then(|e| e.capacity),
    };
    match existing {
        Some(_) => tx.exec(
            "UPDATE support_team_members SET available = $1, capacity = $2 WHERE team_id = $3 AND user_id = $4",
            params![available, capacity, team, user],
        )?,
        None => tx.exec(
            "INSERT INTO support_team_members (team_id, user_id, available, capacity) VALUES ($1, $2, $3, $4)",
            params![team, user, available, capacity],
        )?,
    };
    audit::record(
        tx,
        ctx,
        "team.member_set",
        "team",
        team,
        json!({"user_id": user, "available": available, "capacity": capacity}),
    )?;
    if !available {
        // Their tickets no one has worked yet go to the others.
        crate::row! { struct IdRow { id: i64 } }
        let untouched: Vec<IdRow> = query_as(
            tx,
            "SELECT id FROM support_tickets WHERE team_id = $1 AND assignee_id = $2 AND status = 'new' ORDER BY id",
            params![team, user],
        )?;
        for t in untouched {
            tx.exec(
                "UPDATE support_tickets SET assignee_id = NULL WHERE id = $1",
                params![t.id],
            )?;
            give_out(tx, ctx, t.id)?;
        }
    } else {
        // Back, or new: the team's waiting tickets may go to them.
        crate::row! { struct IdRow { id: i64 } }
        let waiting: Vec<IdRow> = query_as(
            tx,
            "SELECT id FROM support_tickets WHERE team_id = $1 AND assignee_id IS NULL AND status IN ('new', 'open', 'on_hold') ORDER BY id",
            params![team],
        )?;
        for t in waiting {
            if give_out(tx, ctx, t.id)?.is_none() {
                break;
            }
        }
    }
    get_team(tx, team)
}

/// Takes a member off a team (a lead's); their tickets stay theirs.
pub fn remove_member(tx: &mut dyn Sql, ctx: &Ctx, team: i64, user: i64) -> Result<Team> {
    ctx.actor.require(Permission::SupportManage)?;
    let n = tx.exec(
        "DELETE FROM support_team_members WHERE team_id = $1 AND user_id = $2",
        params![team, user],
    )?;
    if n == 0 {
        return Err(Error::NotFound {
            entity: "team member",
        });
    }
    audit::record(
        tx,
        ctx,
        "team.member_removed",
        "team",
        team,
        json!({"user_id": user}),
    )?;
    get_team(tx, team)
}

/// Gives a ticket with a team and no assignee to a member, as its team gives out tickets; the
/// member's id, or `None` when the team gives out by hand or no member can take it.
pub(crate) fn give_out(tx: &mut dyn Sql, ctx: &Ctx, ticket: i64) -> Result<Option<i64>> {
    let Some(r) = tx.query_one(
        "SELECT team_id FROM support_tickets WHERE id = $1 AND assignee_id IS NULL AND status IN ('new', 'open', 'on_hold')",
        params![ticket],
    )?
    else {
        return Ok(None);
    };
    let Some(team) = r.get::<Option<i64>>("team_id")? else {
        return Ok(None);
    };
    // The team's lock: assignments of this team happen one at a time, each counting the last.
    // `NO KEY UPDATE`: the ticket rows that reference the team hold key-share locks on it, which
    // `FOR UPDATE` would wait on (two new tickets of one team would deadlock).
    let lock = match tx.dialect() {
        crate::Dialect::Postgres => " FOR NO KEY UPDATE",
        crate::Dialect::Sqlite => "",
    };
    let Some(t) = tx.query_one(
        &format!("SELECT assignment, last_assigned_id FROM support_teams WHERE id = $1{lock}"),
        params![team],
    )?
    else {
        return Ok(None);
    };
    let (assignment, last): (String, Option<i64>) =
        (t.get("assignment")?, t.get("last_assigned_id")?);
    if assignment == "manual" {
        return Ok(None);
    }
    let members: Vec<MemberRow> = members_of(tx, Some(team))?
        .into_iter()
        .filter(|m| m.available)
        .collect();
    let active: Vec<i64> = crate::auth::members_who(tx, Permission::SupportWork)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let ids: Vec<i64> = members.iter().map(|m| m.user_id).collect();
    let load = loads(tx, &ids)?;
    let candidates: Vec<&MemberRow> = members
        .iter()
        .filter(|m| active.contains(&m.user_id))
        .filter(|m| {
            m.capacity
                .is_none_or(|c| load.get(&m.user_id).map_or(0, |l| l.0) < c)
        })
        .collect();
    let chosen = match assignment.as_str() {
        "round_robin" => candidates
            .iter()
            .find(|m| last.is_none_or(|l| m.user_id > l))
            .or(candidates.first())
            .map(|m| m.user_id),
        _ => candidates
            .iter()
            .min_by_key(|m| (load.get(&m.user_id).map_or(0, |l| l.1), m.user_id))
            .map(|m| m.user_id),
    };
    let Some(user) = chosen else {
        return Ok(None);
    };
    let n = tx.exec(
        "UPDATE support_tickets SET assignee_id = $1, updated_at = $2 WHERE id = $3 AND assignee_id IS NULL",
        params![user, ctx.now, ticket],
    )?;
    if n == 0 {
        return Ok(None);
    }
    tx.exec(
        "UPDATE support_teams SET last_assigned_id = $1 WHERE id = $2",
        params![user, team],
    )?;
    audit::record(
        tx,
        ctx,
        "ticket.assigned",
        "ticket",
        ticket,
        json!({"assignee_id": user, "team_id": team, "by": assignment}),
    )?;
    Ok(Some(user))
}

crate::row! {
    struct TeamRow { id: i64, name: String, assignment: String, created_at: i64 }
}

fn team_of(tx: &mut dyn Sql, t: TeamRow, members: &[MemberRow]) -> Result<Team> {
    let mine: Vec<&MemberRow> = members.iter().filter(|m| m.team_id == t.id).collect();
    let ids: Vec<i64> = mine.iter().map(|m| m.user_id).collect();
    let names = crate::auth::member_names(tx, &ids)?;
    let load = loads(tx, &ids)?;
    Ok(Team {
        id: t.id,
        name: t.name,
        assignment: t.assignment,
        members: mine
            .into_iter()
            .map(|m| Member {
                user_id: m.user_id,
                name: names.get(&m.user_id).cloned().unwrap_or_default(),
                available: m.available,
                capacity: m.capacity,
                open_tickets: load.get(&m.user_id).map_or(0, |l| l.0),
            })
            .collect(),
        created_at: rfc3339(t.created_at),
    })
}

pub fn get_team(tx: &mut dyn Sql, id: i64) -> Result<Team> {
    let t = crate::db::query_one_as::<TeamRow>(
        tx,
        "SELECT id, name, assignment, created_at FROM support_teams WHERE id = $1",
        params![id],
    )?
    .ok_or(Error::NotFound { entity: "team" })?;
    let members = members_of(tx, Some(id))?;
    team_of(tx, t, &members)
}

/// Every team's id and name, by name: what a choice of team needs (without the members' loads
/// [`list_teams`] counts).
pub fn team_names(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<(i64, String)>> {
    ctx.actor.require(Permission::SupportRead)?;
    crate::row! { struct NameRow { id: i64, name: String } }
    Ok(query_as::<NameRow>(
        tx,
        "SELECT id, name FROM support_teams ORDER BY name, id",
        &[],
    )?
    .into_iter()
    .map(|t| (t.id, t.name))
    .collect())
}

pub fn list_teams(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Team>> {
    ctx.actor.require(Permission::SupportRead)?;
    let rows: Vec<TeamRow> = query_as(
        tx,
        "SELECT id, name, assignment, created_at FROM support_teams ORDER BY name, id",
        &[],
    )?;
    let members = members_of(tx, None)?;
    rows.into_iter().map(|t| team_of(tx, t, &members)).collect()
}
