//! The support KPIs against plain loops over the raw rows, on both backends: a month of tickets
//! replied to, put on pending, reopened, solved twice, rated and left open, with a business-hour
//! calendar, reported over a week that cuts through them.

use crate::desk::agents;
use crate::support::*;
use backroom_core::support::report::{SupportReportQuery, report};
use backroom_core::support::sla::{self, NewCalendar, NewPolicy};
use backroom_core::support::{self as desk, NewMessage, NewTicket, TicketPatch, csat};
use std::collections::HashMap;

const MIN: i64 = 60_000_000;

fn at(t: i64) -> Ctx {
    let mut c = ctx();
    c.now = t;
    c
}

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as i64
    }
}

/// Makes 40 tickets from Monday 2026-11-02 on, each through the desk's own services.
async fn history(db: &Db) {
    let base = backroom_core::util::parse_time("t", "2026-11-02T00:00:00Z").unwrap();
    let week = vec![["09:00".to_string(), "17:00".to_string()]];
    let cal = NewCalendar {
        name: "Office".into(),
        timezone: "UTC".into(),
        week: vec![
            week.clone(),
            week.clone(),
            week.clone(),
            week.clone(),
            week,
            vec![],
            vec![],
        ],
        holidays: Some(vec!["2026-11-11".into()]),
    };
    let c = db
        .write(move |tx| sla::create_calendar(tx, &at(base), &cal))
        .await
        .unwrap();
    for (priority, calendar, minutes) in [("high", Some(c.id), 120), ("normal", None, 240)] {
        let p = NewPolicy {
            name: priority.into(),
            priority: priority.into(),
            calendar_id: calendar,
            first_reply_minutes: Some(minutes),
            resolution_minutes: Some(minutes * 8),
            ..Default::default()
        };
        db.write(move |tx| sla::create_policy(tx, &at(base), &p))
            .await
            .unwrap();
    }
    let who = agents(db, 2).await;
    let mut rng = Lcg(7);
    for i in 0..40usize {
        let mut t = base + rng.next(12 * 1440) * MIN;
        let n = NewTicket {
            subject: format!("Question {i}"),
            body: "Where is my parcel?".into(),
            requester_email: format!("k{i}@example.com"),
            channel: Some(if i % 2 == 0 { "email" } else { "phone" }.into()),
            priority: Some(if i % 3 == 0 { "high" } else { "normal" }.into()),
            assignee_id: Some(who[i % 2]),
            ..Default::default()
        };
        let c = at(t);
        let id = db
            .write(move |tx| desk::create_ticket(tx, &c, &n))
            .await
            .unwrap()
            .ticket
            .id;
        let mut step = |rng: &mut Lcg| {
            t += (10 + rng.next(3000)) * MIN;
            at(t)
        };
        let message = |public: bool, status: Option<&str>| NewMessage {
            body: "Thanks for writing".into(),
            public: Some(public),
            status: status.map(String::from),
        };
        let patch = |status: &str| TicketPatch {
            status: Some(status.into()),
            ..Default::default()
        };
        if i % 5 != 4 {
            let (c, m) = (step(&mut rng), message(true, None));
            db.write(move |tx| desk::add_message(tx, &c, id, &m))
                .await
                .unwrap();
            if i % 2 == 1 {
                // It was left waiting on the customer, who came back.
                let (c, p) = (step(&mut rng), patch("open"));
                db.write(move |tx| desk::update_ticket(tx, &c, id, &p))
                    .await
                    .unwrap();
            }
        }
        if i % 3 == 1 {
            let (c, m) = (step(&mut rng), message(false, None));
            db.write(move |tx| desk::add_message(tx, &c, id, &m))
                .await
                .unwrap();
        }
        if i % 4 == 3 {
            continue;
        }
        let (c, m) = (step(&mut rng), message(true, Some("solved")));
        db.write(move |tx| desk::add_message(tx, &c, id, &m))
            .await
            .unwrap();
        if i % 6 == 0 {
            for s in ["open", "solved"] {
                let (c, p) = (step(&mut rng), patch(s));
                db.write(move |tx| desk::update_ticket(tx, &c, id, &p))
                    .await
                    .unwrap();
            }
        }
        if i % 2 == 0 && i % 5 != 2 {
            let token: String = db
                .read(move |tx| {
                    let r = tx.query_one(
                        "SELECT csat_token FROM support_outbox o JOIN support_messages m ON m.id = o.support_message_id \
                         WHERE m.ticket_id = $1 AND o.csat_token IS NOT NULL",
                        backroom_core::params![id],
                    )?;
                    Ok(r.unwrap().get("csat_token")?)
                })
                .await
                .unwrap();
            let (c, rating) = (step(&mut rng), if i % 3 == 2 { "bad" } else { "good" });
            db.write(move |tx| csat::rate(tx, &c, &token, rating, None))
                .await
                .unwrap();
        }
    }
}

/// (created, priority, status history, public agent replies)
type RawTicket = (i64, String, Vec<(String, i64)>, Vec<i64>);

/// The raw rows, read plainly.
#[derive(Default)]
struct Raw {
    /// id -> (created, priority, history, public agent replies)
    tickets: HashMap<i64, RawTicket>,
    ratings: Vec<(i64, bool)>,
    /// (at, met, ticket, metric)
    outcomes: Vec<(i64, bool, i64, String)>,
}

async fn raw(db: &Db) -> Raw {
    db.read(|tx| {
        let mut r = Raw::default();
        for row in tx.query("SELECT id, created_at, priority FROM support_tickets", &[])? {
            r.tickets.insert(
                row.get("id")?,
                (row.get("created_at")?, row.get("priority")?, vec![], vec![]),
            );
        }
        for row in tx.query(
            "SELECT ticket_id, status, at FROM support_status_changes ORDER BY at, id",
            &[],
        )? {
            let t = r.tickets.get_mut(&row.get::<i64>("ticket_id")?).unwrap();
            t.2.push((row.get("status")?, row.get("at")?));
        }
        for row in tx.query(
            "SELECT ticket_id, created_at, author_kind, public FROM support_messages ORDER BY created_at, id",
            &[],
        )? {
            let (kind, public): (String, bool) = (row.get("author_kind")?, row.get("public")?);
            if kind == "agent" && public {
                let t = r.tickets.get_mut(&row.get::<i64>("ticket_id")?).unwrap();
                t.3.push(row.get("created_at")?);
            }
        }
        for row in tx.query(
            "SELECT rating, rated_at FROM support_csat WHERE rating IS NOT NULL",
            &[],
        )? {
            let rating: String = row.get("rating")?;
            r.ratings.push((row.get("rated_at")?, rating == "good"));
        }
        for row in tx.query(
            "SELECT ticket_id, at, met, metric FROM support_sla_outcomes",
            &[],
        )? {
            r.outcomes.push((
                row.get("at")?,
                row.get("met")?,
                row.get("ticket_id")?,
                row.get("metric")?,
            ));
        }
        Ok(r)
    })
    .await
    .unwrap()
}

fn running_status(s: &str) -> bool {
    matches!(s, "new" | "open" | "on_hold")
}

/// The status a ticket had during the minute starting at `m` (microseconds).
fn status_during(history: &[(String, i64)], m: i64) -> Option<&str> {
    history
        .iter()
        .rev()
        .find(|(_, at)| *at <= m)
        .map(|(s, _)| s.as_str())
}

/// Working minute of the office calendar: Monday to Friday 9 to 17 UTC, not 2026-11-11.
fn office_minute(m: i64) -> bool {
    let day = m.div_euclid(1440 * MIN);
    let minute = m.rem_euclid(1440 * MIN) / MIN;
    let weekday = (day + 3).rem_euclid(7);
    let holiday = backroom_domain::analytics::format_day(day as i32) == "2026-11-11";
    weekday < 5 && !holiday && (540..1020).contains(&minute)
}

/// Minutes the clock ran from `a` to `b`, all minutes and working ones, one minute at a time.
/// Every ticket counts in the office calendar: the high ones by their policy's, the others as
/// the desk's first.
fn clock_minutes(history: &[(String, i64)], a: i64, b: i64) -> (i64, i64) {
    let (mut all, mut working) = (0, 0);
    let mut m = a;
    while m < b {
        if status_during(history, m).is_some_and(running_status) {
            all += 1;
            working += i64::from(office_minute(m));
        }
        m += MIN;
    }
    (all, working)
}

fn median(v: &mut [i64]) -> Option<f64> {
    v.sort();
    let n = v.len();
    (n > 0).then(|| {
        if n % 2 == 1 {
            v[n / 2] as f64
        } else {
            (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0
        }
    })
}

fn p90(v: &mut [i64]) -> Option<f64> {
    v.sort();
    let n = v.len();
    (n > 0).then(|| v[(9 * n).div_ceil(10).max(1) - 1] as f64)
}

#[tokio::test]
async fn support_kpis_equal_plain_loops_over_the_raw_rows() {
    for (name, db) in backends().await {
        history(&db).await;
        let zone = db
            .read(|tx| {
                backroom_core::analytics::Zone::get(&backroom_core::settings::load(tx)?.timezone)
            })
            .await
            .unwrap();
        let day = |s: &str| backroom_domain::analytics::parse_day(s).unwrap();
        let (from, to) = (
            zone.start_of(day("2026-11-04")),
            zone.start_of(day("2026-11-11")),
        );
        let q = SupportReportQuery {
            from: "2026-11-04".into(),
            to: "2026-11-11".into(),
            by: Some("day".into()),
            breakdown: Some("priority".into()),
            compare: Some(true),
        };
        let r = db.read(move |tx| report(tx, &ctx(), &q)).await.unwrap();
        let raw = raw(&db).await;
        let inside = |t: i64| from <= t && t < to;
        let (mut created, mut solved, mut backlog, mut replies, mut one_touch) = (0, 0, 0, 0, 0);
        let (mut first, mut first_b, mut res, mut res_b) = (vec![], vec![], vec![], vec![]);
        for (c, _, history, agent_replies) in raw.tickets.values() {
            created += i64::from(inside(*c));
            if let Some(f) = agent_replies.first().filter(|f| inside(**f)) {
                let (all, working) = clock_minutes(history, *c, *f);
                first.push(all);
                first_b.push(working);
            }
            // The last time it became solved (or closed from unsolved) in the period.
            let mut last_solve = None;
            let mut before = "";
            for (s, t) in history {
                if (s == "solved" || s == "closed")
                    && before != "solved"
                    && before != "closed"
                    && inside(*t)
                {
                    last_solve = Some(*t);
                }
                before = s;
            }
            if let Some(s) = last_solve {
                solved += 1;
                let n = agent_replies.iter().filter(|r| **r <= s).count() as i64;
                replies += n;
                one_touch += i64::from(n == 1);
                let (all, working) = clock_minutes(history, *c, s);
                res.push(all);
                res_b.push(working);
            }
            let at_end = history.iter().rev().find(|(_, t)| *t < to);
            backlog += i64::from(at_end.is_some_and(|(s, _)| s != "solved" && s != "closed"));
        }
        let k = &r.totals;
        assert!(
            created > 5 && solved > 5 && backlog > 0,
            "{name}: a poor scenario"
        );
        assert_eq!(
            (k.created, k.solved, k.backlog, k.one_touch),
            (created, solved, backlog, one_touch),
            "{name}"
        );
        assert_eq!(
            k.replies_per_ticket,
            Some(replies as f64 / solved as f64),
            "{name}"
        );
        let hours = |v: Option<f64>| v.map(|m| m / 60.0);
        let fr = &k.first_response;
        assert_eq!(fr.tickets, first.len() as i64, "{name}");
        assert_eq!(fr.median_hours, hours(median(&mut first)), "{name}");
        assert_eq!(fr.p90_hours, hours(p90(&mut first)), "{name}");
        assert_eq!(
            fr.business_median_hours,
            hours(median(&mut first_b)),
            "{name}"
        );
        assert_eq!(fr.business_p90_hours, hours(p90(&mut first_b)), "{name}");
        let rs = &k.resolution;
        assert_eq!(rs.median_hours, hours(median(&mut res)), "{name}");
        assert_eq!(rs.p90_hours, hours(p90(&mut res)), "{name}");
        assert_eq!(
            rs.business_median_hours,
            hours(median(&mut res_b)),
            "{name}"
        );
        assert_eq!(rs.business_p90_hours, hours(p90(&mut res_b)), "{name}");
        let good = raw.ratings.iter().filter(|(t, g)| inside(*t) && *g).count() as i64;
        let bad = raw
            .ratings
            .iter()
            .filter(|(t, g)| inside(*t) && !*g)
            .count() as i64;
        assert_eq!((k.csat_good, k.csat_bad), (good, bad), "{name}");
        assert!(good + bad > 0, "{name}: some ratings in the week");
        let met = raw
            .outcomes
            .iter()
            .filter(|(t, m, _, _)| inside(*t) && *m)
            .count() as i64;
        let missed = raw
            .outcomes
            .iter()
            .filter(|(t, m, _, _)| inside(*t) && !*m)
            .count() as i64;
        assert_eq!((k.sla_met, k.sla_missed), (met, missed), "{name}");
        assert!(met > 0 && missed > 0, "{name}: targets met and missed");
        // A calendar-hour policy's first reply is met exactly when it came within its 240
        // minutes of running clock.
        let mut checked = 0;
        for (t, m, ticket, metric) in &raw.outcomes {
            let (c, priority, history, agent_replies) = &raw.tickets[ticket];
            if priority == "normal" && metric == "first_reply" {
                assert_eq!(agent_replies.first(), Some(t), "{name}");
                checked += 1;
                let (all, _) = clock_minutes(history, *c, *t);
                assert_eq!(*m, all <= 240, "{name}: ticket {ticket}");
            }
        }
        assert!(checked > 5, "{name}");
        // Seven days in the series; the rows of each group add up to the totals.
        assert_eq!(r.series.len(), 7, "{name}");
        assert_eq!(
            r.series.iter().map(|s| s.kpis.created).sum::<i64>(),
            created,
            "{name}"
        );
        assert_eq!(r.series.last().unwrap().kpis.backlog, backlog, "{name}");
        let groups: Vec<_> = r.breakdown.iter().filter(|b| b.bucket.is_none()).collect();
        assert_eq!(groups.len(), 2, "{name}: high and normal");
        assert_eq!(
            groups.iter().map(|g| g.kpis.solved).sum::<i64>(),
            solved,
            "{name}"
        );
        for g in &groups {
            let want = raw
                .tickets
                .values()
                .filter(|(c, p, _, _)| inside(*c) && Some(p.as_str()) == g.group.as_deref())
                .count() as i64;
            assert_eq!(g.kpis.created, want, "{name}: {:?}", g.group);
        }
        // The week before, from the same rows.
        let prev = r.previous.as_ref().unwrap();
        let before = zone.start_of(day("2026-10-28"));
        let made = raw
            .tickets
            .values()
            .filter(|(c, ..)| before <= *c && *c < from)
            .count() as i64;
        let open_then = raw
            .tickets
            .values()
            .filter(|(_, _, h, _)| {
                h.iter()
                    .rev()
                    .find(|(_, t)| *t < from)
                    .is_some_and(|(s, _)| s != "solved" && s != "closed")
            })
            .count() as i64;
        assert_eq!(
            (prev.created, prev.backlog),
            (made, open_then),
            "{name}: {prev:?}"
        );
        assert!(made > 0, "{name}");
    }
}
