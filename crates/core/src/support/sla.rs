//! Service levels: business-hour calendars, policies, and each ticket's due times.
//!
//! A ticket's policy is the first active one (by position) for its priority whose channel and tag,
//! when the policy names them, are the ticket's. Its clock runs while the ticket is `new`, `open`
//! or `on_hold`, and stops while it waits on the customer (`pending`) or is solved or closed,
//! counted in the policy's calendar ([`backroom_domain::hours`]) or in calendar hours. Targets:
//! first reply (from creation to the first public reply by an agent), next reply (from the
//! customer's first message after an agent's reply to the agent's next reply) and resolution
//! (from creation to solved). [`refresh`] works the due times out again from the ticket's status
//! history whenever something that moves them changes; they are stored so the inbox can list
//! tickets breached or due within the hour from an index.

use super::{SUBJECT_MAX, TAG_MAX};
use crate::db::{Sql, query_as, query_one_as};
use crate::util::{from_json, opt_rfc3339, rfc3339, to_json};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::analytics::{days_from_civil, format_day};
use backroom_domain::hours::{self, Clock, Hours};
use backroom_domain::roles::Permission;
use backroom_domain::support::{Channel, Priority, Status};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use utoipa::ToSchema;

const MINUTE: i64 = 60_000_000;
/// How far ahead a due time is looked for (a calendar with hours that never come has none).
const HORIZON_MINUTES: i64 = 400 * 1440;

/// A business-hour calendar.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Calendar {
    pub id: i64,
    pub name: String,
    /// IANA time zone the hours are in.
    pub timezone: String,
    /// Monday to Sunday: each day's working intervals, `["09:00", "17:00"]` (`"24:00"` ends a day).
    pub week: Vec<Vec<[String; 2]>>,
    /// Days off, `YYYY-MM-DD`.
    pub holidays: Vec<String>,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewCalendar {
    pub name: String,
    pub timezone: String,
    pub week: Vec<Vec<[String; 2]>>,
    pub holidays: Option<Vec<String>>,
}

/// A service-level policy.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Policy {
    pub id: i64,
    pub name: String,
    /// Policies are tried in this order; the first that fits a ticket is its policy.
    pub position: i64,
    pub priority: String,
    pub channel: Option<String>,
    pub tag: Option<String>,
    /// Business hours to count in; calendar hours when absent.
    pub calendar_id: Option<i64>,
    pub first_reply_minutes: Option<i64>,
    pub next_reply_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
    pub active: bool,
    pub created_at: String,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewPolicy {
    pub name: String,
    pub priority: String,
    pub channel: Option<String>,
    pub tag: Option<String>,
    pub calendar_id: Option<i64>,
    pub first_reply_minutes: Option<i64>,
    pub next_reply_minutes: Option<i64>,
    pub resolution_minutes: Option<i64>,
    /// After every other policy by default.
    pub position: Option<i64>,
}

/// `HH:MM` as minutes since midnight (`24:00` is 1440).
fn minutes_of(field: &str, s: &str) -> Result<i64> {
    let bad = || Error::invalid(field, "must be a time such as 09:00 (24:00 ends the day)");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

fn day_of(field: &str, s: &str) -> Result<i64> {
    let bad = || Error::invalid(field, "must be a date such as 2026-12-25");
    let mut parts = s.trim().splitn(3, '-');
    let (y, m, d) = (parts.next(), parts.next(), parts.next());
    let (Some(y), Some(m), Some(d)) = (y, m, d) else {
        return Err(bad());
    };
    let (y, m, d): (i32, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let day = days_from_civil(y, m, d);
    if format_day(day) != s.trim() {
        return Err(bad());
    }
    Ok(i64::from(day))
}

/// A calendar's hours, checked.
fn hours_of(week: &[Vec<[String; 2]>], holidays: &[String]) -> Result<Hours> {
    if week.len() != 7 {
        return Err(Error::invalid(
            "week",
            "must list the 7 days, Monday to Sunday",
        ));
    }
    let mut w: [Vec<(i64, i64)>; 7] = Default::default();
    for (d, intervals) in week.iter().enumerate() {
        for (i, [s, e]) in intervals.iter().enumerate() {
            let field = format!("week[{d}][{i}]");
            w[d].push((minutes_of(&field, s)?, minutes_of(&field, e)?));
        }
    }
    let days: BTreeSet<i64> = holidays
        .iter()
        .enumerate()
        .map(|(i, h)| day_of(&format!("holidays[{i}]"), h))
        .collect::<Result<_>>()?;
    Ok(Hours::new(w, days)?)
}

pub fn create_calendar(tx: &mut dyn Sql, ctx: &Ctx, c: &NewCalendar) -> Result<Calendar> {
    ctx.actor.require(Permission::SupportManage)?;
    let name = backroom_domain::values::required_text("name", &c.name, 100)?;
    crate::analytics::Zone::get(&c.timezone)?;
    let holidays = c.holidays.clone().unwrap_or_default();
    hours_of(&c.week, &holidays)?;
    let r = tx
        .query_one(
            "INSERT INTO support_calendars (name, timezone, week, holidays, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
            params![name.as_str(), c.timezone.as_str(), to_json(&c.week), to_json(&holidays), ctx.now],
        )?
        .ok_or_else(|| Error::Conflict {
            code: "calendar_exists",
            message: format!("a calendar named {name} exists"),
            field: Some("name".into()),
        })?;
    let id: i64 = r.get("id")?;
    audit::record(
        tx,
        ctx,
        "calendar.created",
        "calendar",
        id,
        json!({"name": name, "timezone": c.timezone}),
    )?;
    get_calendar(tx, id)
}

crate::row! {
    struct CalendarRow { id: i64, name: String, timezone: String, week: String, holidays: String, created_at: i64 }
}

fn calendar_of(r: CalendarRow) -> Calendar {
    Calendar {
        id: r.id,
        name: r.name,
        timezone: r.timezone,
        week: from_json(&r.week),
        holidays: from_json(&r.holidays),
        created_at: rfc3339(r.created_at),
    }
}

pub fn get_calendar(tx: &mut dyn Sql, id: i64) -> Result<Calendar> {
    query_one_as::<CalendarRow>(
        tx,
        "SELECT id, name, timezone, week, holidays, created_at FROM support_calendars WHERE id = $1",
        params![id],
    )?
    .map(calendar_of)
    .ok_or(Error::NotFound { entity: "calendar" })
}

pub fn list_calendars(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Calendar>> {
    ctx.actor.require(Permission::SupportRead)?;
    Ok(query_as::<CalendarRow>(
        tx,
        "SELECT id, name, timezone, week, holidays, created_at FROM support_calendars ORDER BY name, id",
        &[],
    )?
    .into_iter()
    .map(calendar_of)
    .collect())
}

crate::row! {
    struct PolicyRow {
        id: i64,
        name: String,
        position: i64,
        priority: String,
        channel: Option<String>,
        tag: Option<String>,
        calendar_id: Option<i64>,
        first_reply_minutes: Option<i64>,
        next_reply_minutes: Option<i64>,
        resolution_minutes: Option<i64>,
        active: bool,
        created_at: i64,
    }
}

const POLICY_COLUMNS: &str = "id, name, position, priority, channel, tag, calendar_id, first_reply_minutes, next_reply_minutes, resolution_minutes, active, created_at";

fn policy_of(r: PolicyRow) -> Policy {
    Policy {
        id: r.id,
        name: r.name,
        position: r.position,
        priority: r.priority,
        channel: r.channel,
        tag: r.tag,
        calendar_id: r.calendar_id,
        first_reply_minutes: r.first_reply_minutes,
        next_reply_minutes: r.next_reply_minutes,
        resolution_minutes: r.resolution_minutes,
        active: r.active,
        created_at: rfc3339(r.created_at),
    }
}

fn policies(tx: &mut dyn Sql, active_only: bool) -> Result<Vec<PolicyRow>> {
    let filter = if active_only {
        " WHERE active = TRUE"
    } else {
        ""
    };
    Ok(query_as(
        tx,
        &format!("SELECT {POLICY_COLUMNS} FROM support_sla_policies{filter} ORDER BY position, id"),
        &[],
    )?)
}

pub fn list_policies(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Policy>> {
    ctx.actor.require(Permission::SupportRead)?;
    Ok(policies(tx, false)?.into_iter().map(policy_of).collect())
}

pub fn create_policy(tx: &mut dyn Sql, ctx: &Ctx, p: &NewPolicy) -> Result<Policy> {
    ctx.actor.require(Permission::SupportManage)?;
    let name = backroom_domain::values::required_text("name", &p.name, SUBJECT_MAX)?;
    let priority = Priority::parse_field(&p.priority)?;
    let channel = p.channel.as_deref().map(Channel::parse_field).transpose()?;
    let tag = backroom_domain::values::optional_text("tag", p.tag.as_deref(), TAG_MAX)?
        .map(|t| t.trim().to_lowercase());
    if let Some(c) = p.calendar_id {
        get_calendar(tx, c).map_err(|_| Error::invalid("calendar_id", "is not a calendar"))?;
    }
    let targets = [
        ("first_reply_minutes", p.first_reply_minutes),
        ("next_reply_minutes", p.next_reply_minutes),
        ("resolution_minutes", p.resolution_minutes),
    ];
    for (field, m) in targets {
        if m.is_some_and(|m| !(1..=HORIZON_MINUTES).contains(&m)) {
            return Err(Error::invalid(field, "must be from 1 minute to 400 days"));
        }
    }
    if targets.iter().all(|(_, m)| m.is_none()) {
        return Err(Error::invalid(
            "first_reply_minutes",
            "a policy needs at least one target",
        ));
    }
    let position = match p.position {
        Some(n) => n,
        None => tx
            .query_one("SELECT CAST(COALESCE(MAX(position), 0) AS BIGINT) + 1 AS n FROM support_sla_policies", &[])?
            .map(|r| r.get::<i64>("n"))
            .transpose()?
            .unwrap_or(1),
    };
    let r = tx
        .query_one(
            "INSERT INTO support_sla_policies (name, position, priority, channel, tag, calendar_id, first_reply_minutes, next_reply_minutes, resolution_minutes, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, TRUE, $10) RETURNING id",
            params![
                name.as_str(),
                position,
                priority.as_str(),
                channel.map(Channel::as_str),
                tag.clone(),
                p.calendar_id,
                p.first_reply_minutes,
                p.next_reply_minutes,
                p.resolution_minutes,
                ctx.now
            ],
        )?
        .ok_or(Error::NotFound { entity: "policy" })?;
    let id: i64 = r.get("id")?;
    audit::record(
        tx,
        ctx,
        "sla_policy.created",
        "sla_policy",
        id,
        json!({"name": name, "priority": priority.as_str()}),
    )?;
    // Open tickets of that priority may fall under it now.
    reapply(tx, ctx, Some(priority))?;
    policies(tx, false)?
        .into_iter()
        .find(|p| p.id == id)
        .map(policy_of)
        .ok_or(Error::NotFound { entity: "policy" })
}

/// Turns a policy on or off; the unsolved tickets of its priority are looked at again.
pub fn set_policy_active(tx: &mut dyn Sql, ctx: &Ctx, id: i64, active: bool) -> Result<Policy> {
    ctx.actor.require(Permission::SupportManage)?;
    let p = policies(tx, false)?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(Error::NotFound { entity: "policy" })?;
    tx.exec(
        "UPDATE support_sla_policies SET active = $1 WHERE id = $2",
        params![active, id],
    )?;
    audit::record(
        tx,
        ctx,
        "sla_policy.updated",
        "sla_policy",
        id,
        json!({"active": {"from": p.active, "to": active}}),
    )?;
    reapply(tx, ctx, Priority::parse(&p.priority))?;
    policies(tx, false)?
        .into_iter()
        .find(|p| p.id == id)
        .map(policy_of)
        .ok_or(Error::NotFound { entity: "policy" })
}

/// Works the due times of the unsolved tickets (of one priority) out again.
fn reapply(tx: &mut dyn Sql, ctx: &Ctx, priority: Option<Priority>) -> Result<()> {
    crate::row! { struct IdRow { id: i64 } }
    let ids: Vec<IdRow> = match priority {
        Some(p) => query_as(
            tx,
            "SELECT id FROM support_tickets WHERE status IN ('new', 'open', 'pending', 'on_hold') AND priority = $1",
            params![p.as_str()],
        )?,
        None => query_as(
            tx,
            "SELECT id FROM support_tickets WHERE status IN ('new', 'open', 'pending', 'on_hold')",
            &[],
        )?,
    };
    for r in ids {
        refresh(tx, r.id, ctx.now)?;
    }
    Ok(())
}

/// A calendar's hours and zone: what a business clock counts in.
pub(crate) struct CalendarClock {
    pub hours: Hours,
    zone: jiff::tz::TimeZone,
}

impl CalendarClock {
    pub fn of(c: &Calendar) -> Result<CalendarClock> {
        Ok(CalendarClock {
            hours: hours_of(&c.week, &c.holidays)?,
            zone: jiff::tz::TimeZone::get(&c.timezone)
                .map_err(|_| Error::invalid("timezone", "is not a time zone"))?,
        })
    }

    /// The zone's offset from UTC, in minutes, at the UTC minute `m`.
    pub fn offset(&self, m: i64) -> i64 {
        jiff::Timestamp::from_second(m * 60)
            .map_or(0, |ts| i64::from(self.zone.to_offset(ts).seconds()) / 60)
    }
}

/// Every calendar's clock with its id, in order, and the calendar of each policy that has one.
pub(crate) type Clocks = (Vec<(i64, CalendarClock)>, HashMap<i64, i64>);

/// Every calendar's clock by id, and the calendar of each policy that has one.
pub(crate) fn clocks(tx: &mut dyn Sql) -> Result<Clocks> {
    let calendars = query_as::<CalendarRow>(
        tx,
        "SELECT id, name, timezone, week, holidays, created_at FROM support_calendars ORDER BY id",
        &[],
    )?
    .into_iter()
    .map(|r| {
        let c = calendar_of(r);
        Ok((c.id, CalendarClock::of(&c)?))
    })
    .collect::<Result<_>>()?;
    let of_policy = policies(tx, false)?
        .into_iter()
        .filter_map(|p| p.calendar_id.map(|c| (p.id, c)))
        .collect();
    Ok((calendars, of_policy))
}

/// Notes a target the ticket met or missed: a reply or solve fulfilled it at `at`, against the
/// due time it had until then (a target whose clock was stopped, or without a policy, has none
/// and notes nothing).
pub(crate) fn fulfilled(
    tx: &mut dyn Sql,
    ticket: i64,
    metric: &str,
    due: Option<i64>,
    at: i64,
) -> Result<()> {
    if let Some(due) = due {
        tx.exec(
            "INSERT INTO support_sla_outcomes (ticket_id, metric, due_at, at, met) VALUES ($1, $2, $3, $4, $5)",
            params![ticket, metric, due, at, at <= due],
        )?;
    }
    Ok(())
}

/// Notes a ticket's new status in its history (the clock reads it).
pub(crate) fn status_changed(tx: &mut dyn Sql, ticket: i64, status: Status, at: i64) -> Result<()> {
    tx.exec(
        "INSERT INTO support_status_changes (ticket_id, status, at) VALUES ($1, $2, $3)",
        params![ticket, status.as_str(), at],
    )?;
    Ok(())
}

/// The counted minutes of a ticket's clock: the runs of its status history in which it runs,
/// up to `now`, as `[from, to)` in minutes.
fn running(history: &[(Status, i64)], now: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for (i, (s, at)) in history.iter().enumerate() {
        let end = history.get(i + 1).map_or(now, |n| n.1);
        // The current run is kept even when it has only just begun: it goes on.
        let current = i + 1 == history.len();
        if matches!(s, Status::New | Status::Open | Status::OnHold) && (*at < end || current) {
            out.push((*at, end));
        }
    }
    out
}

/// When `target` counted minutes of the clock's runs from `start` on are spent, the last run
/// (the clock runs now) going on: `None` if the hours never come.
fn due(clock: &Clock, runs: &[(i64, i64)], start: i64, target: i64) -> Option<i64> {
    let mut used = 0;
    for (i, (s, e)) in runs.iter().enumerate() {
        let s = (*s).max(start);
        let last = i + 1 == runs.len();
        let e = if last { s + HORIZON_MINUTES } else { *e };
        if s >= e {
            continue;
        }
        let here = hours::between(clock, s, e);
        if used + here >= target {
            return hours::after(clock, s, target - used, e - s);
        }
        used += here;
    }
    None
}

crate::row! {
    struct SlaTicketRow {
        status: String,
        priority: String,
        channel: String,
        tags: String,
        created_at: i64,
        first_reply_at: Option<i64>,
        awaiting_reply_since: Option<i64>,
    }
}

/// Works a ticket's policy and due times out again, as of `now`.
pub(crate) fn refresh(tx: &mut dyn Sql, ticket: i64, now: i64) -> Result<()> {
    let Some(t) = query_one_as::<SlaTicketRow>(
        tx,
        "SELECT status, priority, channel, tags, created_at, first_reply_at, awaiting_reply_since FROM support_tickets WHERE id = $1",
        params![ticket],
    )?
    else {
        return Ok(());
    };
    let tags: Vec<String> = from_json(&t.tags);
    let policy = policies(tx, true)?.into_iter().find(|p| {
        p.priority == t.priority
            && p.channel.as_ref().is_none_or(|c| *c == t.channel)
            && p.tag.as_ref().is_none_or(|g| tags.contains(g))
    });
    let status = Status::parse_field(&t.status)?;
    let (mut first, mut next, mut resolution) = (None, None, None);
    // Only a running clock has due times: a ticket waiting on the customer, solved or closed
    // has none (a pending one gets them back when it runs again).
    let runs_now = matches!(status, Status::New | Status::Open | Status::OnHold);
    if let Some(p) = policy.as_ref().filter(|_| runs_now) {
        crate::row! { struct ChangeRow { status: String, at: i64 } }
        let history: Vec<(Status, i64)> = query_as::<ChangeRow>(
            tx,
            "SELECT status, at FROM support_status_changes WHERE ticket_id = $1 ORDER BY at, id",
            params![ticket],
        )?
        .into_iter()
        .filter_map(|c| Status::parse(&c.status).map(|s| (s, c.at / MINUTE)))
        .collect();
        let runs = running(&history, now / MINUTE);
        let business = match p.calendar_id {
            Some(c) => Some(CalendarClock::of(&get_calendar(tx, c)?)?),
            None => None,
        };
        let offset = |m: i64| business.as_ref().map_or(0, |b| b.offset(m));
        let clock = match &business {
            Some(b) => Clock::Business {
                hours: &b.hours,
                offset: &offset,
            },
            None => Clock::Calendar,
        };
        let created = t.created_at / MINUTE;
        let minute_to_micros = |m: i64| m * MINUTE;
        if t.first_reply_at.is_none()
            && let Some(target) = p.first_reply_minutes
        {
            first = due(&clock, &runs, created, target).map(minute_to_micros);
        }
        if let (Some(since), Some(target)) = (t.awaiting_reply_since, p.next_reply_minutes) {
            next = due(&clock, &runs, since / MINUTE, target).map(minute_to_micros);
        }
        if let Some(target) = p.resolution_minutes {
            resolution = due(&clock, &runs, created, target).map(minute_to_micros);
        }
    }
    let earliest = [first, next, resolution].into_iter().flatten().min();
    tx.exec(
        "UPDATE support_tickets SET sla_policy_id = $1, first_reply_due_at = $2, next_reply_due_at = $3, resolution_due_at = $4, due_at = $5 WHERE id = $6",
        params![policy.map(|p| p.id), first, next, resolution, earliest, ticket],
    )?;
    Ok(())
}

/// A ticket's service level as shown: its policy and each running target's due time (a target
/// met, or whose clock is stopped, has none).
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Default)]
pub struct TicketSla {
    pub policy_id: Option<i64>,
    pub first_reply_due_at: Option<String>,
    pub next_reply_due_at: Option<String>,
    pub resolution_due_at: Option<String>,
    /// The earliest of them: the ticket is breached once it has passed.
    pub due_at: Option<String>,
}

pub(crate) fn sla_view(policy_id: Option<i64>, due: [Option<i64>; 4]) -> TicketSla {
    TicketSla {
        policy_id,
        first_reply_due_at: opt_rfc3339(due[0]),
        next_reply_due_at: opt_rfc3339(due[1]),
        resolution_due_at: opt_rfc3339(due[2]),
        due_at: opt_rfc3339(due[3]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_dates() {
        assert_eq!(minutes_of("t", "09:30").unwrap(), 570);
        assert_eq!(minutes_of("t", "24:00").unwrap(), 1440);
        assert!(minutes_of("t", "24:30").is_err());
        assert!(minutes_of("t", "9h").is_err());
        assert_eq!(day_of("d", "1970-01-02").unwrap(), 1);
        assert!(day_of("d", "2026-02-30").is_err());
    }

    #[test]
    fn the_clock_stops_while_pending() {
        use Status::*;
        let history = [(New, 0), (Pending, 10), (Open, 30), (Solved, 50)];
        assert_eq!(running(&history, 100), vec![(0, 10), (30, 50)]);
        let clock = Clock::Calendar;
        let runs = running(&history[..3], 100);
        // 25 minutes: 10 before the pause, 15 after it resumes at 30.
        assert_eq!(due(&clock, &runs, 0, 25), Some(45));
        // While pending, the clock has no current run (refresh then gives no due time).
        assert_eq!(running(&history[..2], 20), vec![(0, 10)]);
    }
}
