//! The support KPIs (DOMAIN.md's support row) folded from a period's raw facts. No I/O: the
//! report loads the facts ([`super::report`]) and a test can hold the fold against plain loops.
//!
//! - **Created**: tickets created in the period. **Solved**: tickets solved in it (a ticket
//!   solved twice counts once, at its last solve). **Backlog**: tickets unsolved (`new`, `open`,
//!   `pending`, `on_hold`) at the period's end.
//! - **First response**: creation to the first public reply by an agent, for tickets whose first
//!   reply is in the period. **Resolution**: creation to the (last) solve in the period. Both count
//!   only while the ticket's clock runs (it stops while the ticket waits on the customer, and
//!   while solved), in calendar time and in business hours of the ticket's calendar.
//! - **Replies per ticket** and **one-touch rate** over the tickets solved in the period: public
//!   agent replies up to the solve, and the share solved with exactly one.
//! - **SLA attainment**: targets met / targets fulfilled in the period. **CSAT**: good ratings /
//!   ratings given in the period.
//!
//! Merged tickets are duplicates and count nowhere.

use backroom_domain::hours::{self, Clock};
use backroom_domain::kpi::{median, percentile_nearest_rank};
use backroom_domain::support::Status;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

const MINUTE: i64 = 60_000_000;
const HOUR: f64 = 3_600_000_000.0;

/// What a period's fold needs to know of a ticket.
#[derive(Clone, Debug)]
pub struct TicketFacts {
    /// The breakdown group it falls in (ignored without a breakdown).
    pub group: String,
    /// Its business clock: an index into the clocks the fold is given.
    pub clock: usize,
    pub created_at: i64,
    /// Its status changes in order, the first being its creation.
    pub history: Vec<(Status, i64)>,
    /// The times of its public agent replies, in order.
    pub replies: Vec<i64>,
}

/// A rating (good or not) or a service-level target (met or not), at a time.
#[derive(Clone, Debug)]
pub struct Mark {
    pub group: String,
    pub at: i64,
    pub good: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub tickets: Vec<TicketFacts>,
    pub ratings: Vec<Mark>,
    pub outcomes: Vec<Mark>,
}

/// Durations in hours: median and 90th percentile (nearest rank), counted in calendar time and
/// in business hours.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Default)]
pub struct Durations {
    /// The tickets measured.
    pub tickets: i64,
    pub median_hours: Option<f64>,
    pub p90_hours: Option<f64>,
    pub business_median_hours: Option<f64>,
    pub business_p90_hours: Option<f64>,
}

/// The support KPIs of a period, or of one bucket or group of it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Default)]
pub struct SupportKpis {
    pub created: i64,
    pub solved: i64,
    /// Tickets unsolved at the end.
    pub backlog: i64,
    pub first_response: Durations,
    pub resolution: Durations,
    /// Public agent replies per solved ticket.
    pub replies_per_ticket: Option<f64>,
    /// Solved tickets with exactly one public agent reply.
    pub one_touch: i64,
    pub one_touch_rate: Option<f64>,
    pub sla_met: i64,
    pub sla_missed: i64,
    /// Targets met / targets fulfilled.
    pub sla_attainment: Option<f64>,
    pub csat_good: i64,
    pub csat_bad: i64,
    /// Good ratings / ratings.
    pub csat: Option<f64>,
}

/// Where the fold puts things: the period, its buckets (`(first day, start, end)`, in order,
/// covering it) when a series is asked for, and whether rows go by group.
pub struct Scopes {
    pub from: i64,
    pub to: i64,
    pub buckets: Vec<(i32, i64, i64)>,
    pub by_group: bool,
}

/// A row's key: the bucket's first day and the group, each when asked for.
pub type Key = (Option<i32>, Option<String>);

#[derive(Default)]
struct Acc {
    created: i64,
    solved: i64,
    backlog: i64,
    replies: i64,
    one_touch: i64,
    first: Vec<i64>,
    first_business: Vec<i64>,
    resolution: Vec<i64>,
    resolution_business: Vec<i64>,
    good: i64,
    bad: i64,
    met: i64,
    missed: i64,
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn durations(mut calendar: Vec<i64>, mut business_minutes: Vec<i64>) -> Durations {
    calendar.sort_unstable();
    business_minutes.sort_unstable();
    let hours = |v: Option<f64>, unit: f64| v.map(|v| v / unit);
    Durations {
        tickets: calendar.len() as i64,
        median_hours: hours(median(&calendar), HOUR),
        p90_hours: hours(percentile_nearest_rank(&calendar, 90), HOUR),
        business_median_hours: hours(median(&business_minutes), 60.0),
        business_p90_hours: hours(percentile_nearest_rank(&business_minutes, 90), 60.0),
    }
}

impl Acc {
    fn kpis(self) -> SupportKpis {
        SupportKpis {
            created: self.created,
            solved: self.solved,
            backlog: self.backlog,
            first_response: durations(self.first, self.first_business),
            resolution: durations(self.resolution, self.resolution_business),
            replies_per_ticket: (self.solved > 0).then(|| self.replies as f64 / self.solved as f64),
            one_touch: self.one_touch,
            one_touch_rate: ratio(self.one_touch, self.solved),
            sla_met: self.met,
            sla_missed: self.missed,
            sla_attainment: ratio(self.met, self.met + self.missed),
            csat_good: self.good,
            csat_bad: self.bad,
            csat: ratio(self.good, self.good + self.bad),
        }
    }
}

fn unsolved(s: Status) -> bool {
    matches!(
        s,
        Status::New | Status::Open | Status::Pending | Status::OnHold
    )
}

/// The time a ticket's clock ran in `[a, b)`: calendar microseconds and business minutes.
fn running(t: &TicketFacts, clock: &Clock, a: i64, b: i64) -> (i64, i64) {
    let (mut micros, mut minutes) = (0, 0);
    for (i, (s, at)) in t.history.iter().enumerate() {
        let end = t.history.get(i + 1).map_or(i64::MAX, |n| n.1);
        if !matches!(s, Status::New | Status::Open | Status::OnHold) {
            continue;
        }
        let (s, e) = ((*at).max(a), end.min(b));
        if s < e {
            micros += e - s;
            minutes += hours::between(clock, s.div_euclid(MINUTE), e.div_euclid(MINUTE));
        }
    }
    (micros, minutes)
}

/// The instants a ticket was solved: into `solved`, or into `closed` from anything but solved.
fn solves(t: &TicketFacts) -> Vec<i64> {
    let mut out = Vec::new();
    let mut before: Option<Status> = None;
    for (s, at) in &t.history {
        let done = matches!(before, Some(Status::Solved | Status::Closed));
        if (*s == Status::Solved || *s == Status::Closed) && !done {
            out.push(*at);
        }
        before = Some(*s);
    }
    out
}

/// The status at instant `e` (the last change before it), if the ticket existed.
fn status_at(t: &TicketFacts, e: i64) -> Option<Status> {
    t.history
        .iter()
        .take_while(|(_, at)| *at < e)
        .last()
        .map(|(s, _)| *s)
}

/// The KPIs of every key the scopes ask for: the period's totals `(None, None)`, each bucket
/// (every bucket, empty ones too), each group, and each group in each bucket.
pub fn fold(f: &Facts, clocks: &[Clock], sc: &Scopes) -> BTreeMap<Key, SupportKpis> {
    let mut acc: BTreeMap<Key, Acc> = BTreeMap::new();
    acc.entry((None, None)).or_default();
    for (day, _, _) in &sc.buckets {
        acc.entry((Some(*day), None)).or_default();
    }
    let bucket_of = |at: i64| -> Option<i32> {
        sc.buckets
            .iter()
            .find(|(_, s, e)| *s <= at && at < *e)
            .map(|(d, _, _)| *d)
    };
    let in_period = |at: i64| sc.from <= at && at < sc.to;
    // Every key an event at `at` of `group` adds to.
    let keys = |at: i64, group: &str| -> Vec<Key> {
        let g = sc.by_group.then(|| group.to_string());
        let b = bucket_of(at);
        let mut k = vec![(None, None)];
        if b.is_some() {
            k.push((b, None));
        }
        if g.is_some() {
            k.push((None, g.clone()));
            if b.is_some() {
                k.push((b, g));
            }
        }
        k
    };
    for t in &f.tickets {
        let clock = clocks.get(t.clock).unwrap_or(&Clock::Calendar);
        if in_period(t.created_at) {
            for k in keys(t.created_at, &t.group) {
                acc.entry(k).or_default().created += 1;
            }
        }
        if let Some(first) = t.replies.first().copied().filter(|r| in_period(*r)) {
            let (micros, minutes) = running(t, clock, t.created_at, first);
            for k in keys(first, &t.group) {
                let a = acc.entry(k).or_default();
                a.first.push(micros);
                a.first_business.push(minutes);
            }
        }
        // The last solve in each key's scope.
        let mut last: BTreeMap<Key, i64> = BTreeMap::new();
        for at in solves(t).into_iter().filter(|at| in_period(*at)) {
            for k in keys(at, &t.group) {
                last.insert(k, at);
            }
        }
        for (k, at) in last {
            let (micros, minutes) = running(t, clock, t.created_at, at);
            let replies = t.replies.iter().filter(|r| **r <= at).count() as i64;
            let a = acc.entry(k).or_default();
            a.solved += 1;
            a.replies += replies;
            a.one_touch += i64::from(replies == 1);
            a.resolution.push(micros);
            a.resolution_business.push(minutes);
        }
        // The backlog at the end of the period and of each bucket.
        let group = sc.by_group.then(|| t.group.clone());
        let ends =
            std::iter::once((None, sc.to)).chain(sc.buckets.iter().map(|(d, _, e)| (Some(*d), *e)));
        for (b, end) in ends {
            if status_at(t, end).is_some_and(unsolved) {
                acc.entry((b, None)).or_default().backlog += 1;
                if group.is_some() {
                    acc.entry((b, group.clone())).or_default().backlog += 1;
                }
            }
        }
    }
    for (marks, is_rating) in [(&f.ratings, true), (&f.outcomes, false)] {
        for m in marks.iter().filter(|m| in_period(m.at)) {
            for k in keys(m.at, &m.group) {
                let a = acc.entry(k).or_default();
                match (is_rating, m.good) {
                    (true, true) => a.good += 1,
                    (true, false) => a.bad += 1,
                    (false, true) => a.met += 1,
                    (false, false) => a.missed += 1,
                }
            }
        }
    }
    acc.into_iter().map(|(k, a)| (k, a.kpis())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000_000;

    fn ticket(created: i64, history: &[(Status, i64)], replies: &[i64]) -> TicketFacts {
        TicketFacts {
            group: "g".into(),
            clock: 0,
            created_at: created,
            history: history.to_vec(),
            replies: replies.to_vec(),
        }
    }

    #[test]
    fn the_clock_stops_while_pending_and_a_reopened_ticket_counts_once() {
        use Status::*;
        // Created at 0, replied at 2 h (pending until 10 h), customer back at 10 h, solved at
        // 12 h, reopened at 20 h, solved again at 21 h.
        let t = ticket(
            0,
            &[
                (New, 0),
                (Pending, 2 * H),
                (Open, 10 * H),
                (Solved, 12 * H),
                (Open, 20 * H),
                (Solved, 21 * H),
            ],
            &[2 * H, 12 * H, 21 * H],
        );
        let f = Facts {
            tickets: vec![t],
            ..Default::default()
        };
        let sc = Scopes {
            from: 0,
            to: 48 * H,
            buckets: vec![],
            by_group: false,
        };
        let k = &fold(&f, &[Clock::Calendar], &sc)[&(None, None)];
        assert_eq!((k.created, k.solved, k.backlog), (1, 1, 0));
        assert_eq!(k.first_response.median_hours, Some(2.0));
        // 2 h + 2 h + 1 h of running clock.
        assert_eq!(k.resolution.median_hours, Some(5.0));
        assert_eq!(k.resolution.business_median_hours, Some(5.0));
        assert_eq!(k.replies_per_ticket, Some(3.0));
        assert_eq!((k.one_touch, k.one_touch_rate), (0, Some(0.0)));
        // A period ending at 15 h holds the first solve only; one ending just after the
        // reopening has the ticket in its backlog.
        let sc = Scopes { to: 15 * H, ..sc };
        let k = &fold(&f, &[Clock::Calendar], &sc)[&(None, None)];
        assert_eq!((k.solved, k.backlog), (1, 0));
        assert_eq!(k.resolution.median_hours, Some(4.0));
        let sc = Scopes {
            to: 20 * H + 1,
            ..sc
        };
        assert_eq!(fold(&f, &[Clock::Calendar], &sc)[&(None, None)].backlog, 1);
    }
}
