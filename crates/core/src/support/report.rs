//! The support report: a period's KPIs ([`super::kpi`]) with the previous period beside them, a
//! series by day, week or month, and a breakdown by agent, team, channel or priority. Periods
//! are local days of the store's zone, `[from, to)`; a ticket falls in the group of its current
//! assignee, team, channel and priority.

use super::kpi::{self, Facts, Key, Mark, Scopes, SupportKpis, TicketFacts};
use super::sla;
use crate::analytics::Zone;
use crate::analytics::report::Period;
use crate::db::{Sql, query_as};
use crate::{Ctx, Error, Result, params};
use backroom_domain::analytics::{Grain, format_day};
use backroom_domain::hours::Clock;
use backroom_domain::roles::Permission;
use backroom_domain::support::Status;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, Serialize, IntoParams, ToSchema, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
pub struct SupportReportQuery {
    /// First day, YYYY-MM-DD (store time).
    pub from: String,
    /// Day after the last, YYYY-MM-DD.
    pub to: String,
    /// A series by `day`, `week` or `month`.
    pub by: Option<String>,
    /// `agent`, `team`, `channel` or `priority`.
    pub breakdown: Option<String>,
    /// With the previous period of the same length (default true).
    pub compare: Option<bool>,
}

/// What a breakdown groups tickets by.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Breakdown {
    Agent,
    Team,
    Channel,
    Priority,
}

impl Breakdown {
    pub fn parse(s: &str) -> Result<Breakdown> {
        Ok(match s {
            "agent" => Breakdown::Agent,
            "team" => Breakdown::Team,
            "channel" => Breakdown::Channel,
            "priority" => Breakdown::Priority,
            _ => {
                return Err(Error::invalid(
                    "breakdown",
                    "must be agent, team, channel or priority",
                ));
            }
        })
    }
}

/// One row of a series or breakdown.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct SupportRow {
    /// First day of the bucket (`by`), or null.
    pub bucket: Option<String>,
    /// The breakdown group, or null.
    pub group: Option<String>,
    pub kpis: SupportKpis,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct SupportReport {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub totals: SupportKpis,
    /// The period of the same length just before, unless `compare` is false.
    pub previous: Option<SupportKpis>,
    /// One row per bucket when `by` is given (every bucket, empty ones too).
    pub series: Vec<SupportRow>,
    /// One row per group (and bucket, when `by` is given) when `breakdown` is given, busiest
    /// first.
    pub breakdown: Vec<SupportRow>,
}

/// Tickets that may count in a period starting at `$1`: unsolved now or changed since its
/// start (one solved before it and untouched since is done with). A union, so each side reads
/// its own index.
const ALIVE: &str = "SELECT id FROM support_tickets WHERE status IN ('new', 'open', 'pending', 'on_hold') \
     UNION SELECT ticket_id FROM support_status_changes WHERE at >= $1";

crate::row! {
    struct AliveRow {
        id: i64,
        created_at: i64,
        channel: String,
        priority: String,
        team_id: Option<i64>,
        assignee_id: Option<i64>,
        sla_policy_id: Option<i64>,
    }
}
crate::row! { struct ChangeRow { ticket_id: i64, status: String, at: i64 } }
crate::row! { struct ReplyRow { ticket_id: i64, created_at: i64 } }
crate::row! {
    struct MarkRow {
        at: i64,
        good: bool,
        channel: String,
        priority: String,
        team_id: Option<i64>,
        assignee_id: Option<i64>,
    }
}

/// Names groups: agents and teams by name.
struct Groups {
    by: Option<Breakdown>,
    agents: HashMap<i64, String>,
    teams: HashMap<i64, String>,
}

impl Groups {
    fn load(tx: &mut dyn Sql, by: Option<Breakdown>) -> Result<Groups> {
        crate::row! { struct TeamRow { id: i64, name: String } }
        let teams = query_as::<TeamRow>(tx, "SELECT id, name FROM support_teams", &[])?
            .into_iter()
            .map(|t| (t.id, t.name))
            .collect();
        crate::row! { struct AgentRow { assignee_id: i64 } }
        let ids: Vec<i64> = query_as::<AgentRow>(
            tx,
            "SELECT DISTINCT assignee_id FROM support_tickets WHERE assignee_id IS NOT NULL",
            &[],
        )?
        .into_iter()
        .map(|r| r.assignee_id)
        .collect();
        Ok(Groups {
            by,
            agents: crate::auth::member_names(tx, &ids)?,
            teams,
        })
    }

    fn of(&self, channel: &str, priority: &str, team: Option<i64>, agent: Option<i64>) -> String {
        let named = |names: &HashMap<i64, String>, id: Option<i64>, none: &str| match id {
            Some(id) => names.get(&id).cloned().unwrap_or_else(|| format!("#{id}")),
            None => none.to_string(),
        };
        match self.by {
            None => String::new(),
            Some(Breakdown::Agent) => named(&self.agents, agent, "unassigned"),
            Some(Breakdown::Team) => named(&self.teams, team, "no team"),
            Some(Breakdown::Channel) => channel.to_string(),
            Some(Breakdown::Priority) => priority.to_string(),
        }
    }
}

/// The raw facts of `[from, to)` (microseconds), each ticket with the index of its business
/// clock among `calendars` plus one: 0 is round the clock.
fn load(
    tx: &mut dyn Sql,
    from: i64,
    to: i64,
    groups: &Groups,
    calendars: &[(i64, sla::CalendarClock)],
    of_policy: &HashMap<i64, i64>,
) -> Result<Facts> {
    let clock_of = |policy: Option<i64>| -> usize {
        // The policy's calendar, else the desk's first calendar, else round the clock.
        let cal = policy.and_then(|p| of_policy.get(&p).copied());
        match cal {
            Some(c) => calendars
                .iter()
                .position(|(id, _)| *id == c)
                .map_or(0, |i| i + 1),
            None => usize::from(!calendars.is_empty()),
        }
    };
    let mut tickets: BTreeMap<i64, TicketFacts> = query_as::<AliveRow>(
        tx,
        &format!(
            "SELECT id, created_at, channel, priority, team_id, assignee_id, sla_policy_id FROM support_tickets \
             WHERE id IN ({ALIVE}) AND created_at < $2 AND merged_into IS NULL"
        ),
        params![from, to],
    )?
    .into_iter()
    .map(|r| {
        let facts = TicketFacts {
            group: groups.of(&r.channel, &r.priority, r.team_id, r.assignee_id),
            clock: clock_of(r.sla_policy_id),
            created_at: r.created_at,
            history: Vec::new(),
            replies: Vec::new(),
        };
        (r.id, facts)
    })
    .collect();
    for c in query_as::<ChangeRow>(
        tx,
        &format!(
            "SELECT ticket_id, status, at FROM support_status_changes WHERE ticket_id IN ({ALIVE}) ORDER BY ticket_id, at, id"
        ),
        params![from],
    )? {
        if let (Some(t), Some(s)) = (tickets.get_mut(&c.ticket_id), Status::parse(&c.status)) {
            t.history.push((s, c.at));
        }
    }
    for r in query_as::<ReplyRow>(
        tx,
        &format!(
            "SELECT ticket_id, created_at FROM support_messages WHERE author_kind = 'agent' AND public = $2 AND ticket_id IN ({ALIVE}) ORDER BY ticket_id, created_at, id"
        ),
        params![from, true],
    )? {
        if let Some(t) = tickets.get_mut(&r.ticket_id) {
            t.replies.push(r.created_at);
        }
    }
    let marks = |tx: &mut dyn Sql, sql: &str, p: &[crate::db::Val]| -> Result<Vec<Mark>> {
        Ok(query_as::<MarkRow>(tx, sql, p)?
            .into_iter()
            .map(|m| Mark {
                group: groups.of(&m.channel, &m.priority, m.team_id, m.assignee_id),
                at: m.at,
                good: m.good,
            })
            .collect())
    };
    const TICKET: &str = "t.channel, t.priority, t.team_id, t.assignee_id";
    let ratings = marks(
        tx,
        &format!(
            "SELECT c.rated_at AS at, c.rating = $3 AS good, {TICKET} FROM support_csat c JOIN support_tickets t ON t.id = c.ticket_id \
             WHERE c.rated_at >= $1 AND c.rated_at < $2 AND c.rating IS NOT NULL AND t.merged_into IS NULL"
        ),
        params![from, to, "good"],
    )?;
    let outcomes = marks(
        tx,
        &format!(
            "SELECT o.at, o.met AS good, {TICKET} FROM support_sla_outcomes o JOIN support_tickets t ON t.id = o.ticket_id \
             WHERE o.at >= $1 AND o.at < $2 AND t.merged_into IS NULL"
        ),
        params![from, to],
    )?;
    Ok(Facts {
        tickets: tickets.into_values().collect(),
        ratings,
        outcomes,
    })
}

/// The buckets of a period by `g`: each bucket's first day, and where it starts and ends
/// within the period.
fn buckets(zone: &Zone, p: Period, g: Grain) -> Vec<(i32, i64, i64)> {
    let mut out = Vec::new();
    let mut day = g.bucket(p.from);
    while day < p.to {
        let mut next = day + 1;
        while g.bucket(next) == day {
            next += 1;
        }
        out.push((
            day,
            zone.start_of(day.max(p.from)),
            zone.start_of(next.min(p.to)),
        ));
        day = next;
    }
    out
}

/// The support report for a period (see the module's doc).
pub fn report(tx: &mut dyn Sql, ctx: &Ctx, q: &SupportReportQuery) -> Result<SupportReport> {
    ctx.actor.require(Permission::SupportRead)?;
    let p = Period::parse(&q.from, &q.to)?;
    let grain = match &q.by {
        None => None,
        Some(b) => Some(
            Grain::parse(b).ok_or_else(|| Error::invalid("by", "must be day, week or month"))?,
        ),
    };
    let by = q.breakdown.as_deref().map(Breakdown::parse).transpose()?;
    let zone = Zone::get(&crate::settings::load(tx)?.timezone)?;
    let groups = Groups::load(tx, by)?;
    let (calendars, of_policy) = sla::clocks(tx)?;
    let offsets: Vec<Box<dyn Fn(i64) -> i64 + '_>> = calendars
        .iter()
        .map(|(_, c)| Box::new(move |m| c.offset(m)) as Box<dyn Fn(i64) -> i64>)
        .collect();
    let clocks: Vec<Clock> = std::iter::once(Clock::Calendar)
        .chain(
            calendars
                .iter()
                .zip(&offsets)
                .map(|((_, c), o)| Clock::Business {
                    hours: &c.hours,
                    offset: o.as_ref(),
                }),
        )
        .collect();
    let (from, to) = (zone.start_of(p.from), zone.start_of(p.to));
    let compare = q.compare.unwrap_or(true);
    // One read for both periods: the facts of the two together hold each one's.
    let loaded_from = if compare {
        zone.start_of(p.previous().from)
    } else {
        from
    };
    let facts = load(tx, loaded_from, to, &groups, &calendars, &of_policy)?;
    let mut rows = kpi::fold(
        &facts,
        &clocks,
        &Scopes {
            from,
            to,
            buckets: grain.map(|g| buckets(&zone, p, g)).unwrap_or_default(),
            by_group: by.is_some(),
        },
    );
    let previous = compare.then(|| {
        let sc = Scopes {
            from: loaded_from,
            to: from,
            buckets: Vec::new(),
            by_group: false,
        };
        kpi::fold(&facts, &clocks, &sc)
            .remove(&(None, None))
            .unwrap_or_default()
    });
    let totals = rows.remove(&(None, None)).unwrap_or_default();
    let row = |((b, g), kpis): (Key, SupportKpis)| SupportRow {
        bucket: b.map(format_day),
        group: g,
        kpis,
    };
    let (series, mut breakdown): (Vec<SupportRow>, Vec<SupportRow>) =
        rows.into_iter().map(row).partition(|r| r.group.is_none());
    // Busiest first: most tickets touched, then by name; buckets in order within a group.
    let weight = |k: &SupportKpis| k.created + k.solved + k.backlog;
    let totals_by_group: HashMap<String, i64> = breakdown
        .iter()
        .filter(|r| r.bucket.is_none())
        .map(|r| (r.group.clone().unwrap_or_default(), weight(&r.kpis)))
        .collect();
    breakdown.sort_by(|a, b| {
        let w = |r: &SupportRow| {
            totals_by_group
                .get(r.group.as_deref().unwrap_or(""))
                .copied()
        };
        w(b).cmp(&w(a))
            .then_with(|| a.group.cmp(&b.group))
            .then_with(|| a.bucket.is_some().cmp(&b.bucket.is_some()))
            .then_with(|| a.bucket.cmp(&b.bucket))
    });
    Ok(SupportReport {
        from: format_day(p.from),
        to: format_day(p.to),
        timezone: zone.name.clone(),
        totals,
        previous,
        series,
        breakdown,
    })
}
