//! The demo store's support desk: a lead and two agents in one team that balances its tickets,
//! a Paris office calendar with service-level policies per priority, triage rules, macros, and
//! 60 days of tickets about the store's own orders, lived through in time order, in every state.

use super::{DAY, Rng, e};
use anyhow::Result;
use backroom_core::api::NewUser;
use backroom_core::orders::OrderQuery;
use backroom_core::support::csat;
use backroom_core::support::inbound::{self, ContactMessage, InboundEmail};
use backroom_core::support::macros::{self, NewMacro};
use backroom_core::support::sla::{self, NewCalendar, NewPolicy};
use backroom_core::support::teams::{self, MemberPatch, NewTeam};
use backroom_core::support::triage::{self, NewTriageRule};
use backroom_core::support::{self as desk, NewMessage, NewTicket, TicketPatch};
use backroom_core::{Actor, Ctx, Db, auth};
use backroom_domain::roles::Role;
use backroom_domain::support::{TriageThen, TriageWhen};

const HOUR: i64 = 3_600_000_000;
const MINUTE: i64 = 60_000_000;

/// What customers write about, with a subject (`{n}` is their order's number).
const TOPICS: [(&str, &str); 8] = [
    (
        "Where is my order #{n}?",
        "Hello, my order #{n} has not arrived yet. Can you check?",
    ),
    (
        "Wrong size in order #{n}",
        "The jeans in order #{n} are too small. Can I exchange them?",
    ),
    (
        "Return for order #{n}",
        "I would like to return an item from order #{n}.",
    ),
    (
        "Damaged parcel",
        "My parcel for order #{n} arrived damaged.",
    ),
    (
        "Change my address",
        "Can you ship order #{n} to my office instead?",
    ),
    (
        "Refund not received",
        "I returned order #{n} two weeks ago, where is my refund?",
    ),
    (
        "Chargeback warning",
        "I will open a dispute with my bank about order #{n}.",
    ),
    ("Question about sizes", "Do your sneakers run large?"),
];

/// The desk's set-up, as the lead makes it.
async fn set_up(db: &Db, lead: &Ctx) -> Result<i64> {
    let hours = vec![["09:00".to_string(), "18:00".to_string()]];
    let mut week = vec![hours; 5];
    week.extend([vec![], vec![]]);
    let cal = NewCalendar {
        name: "Paris office".into(),
        timezone: "Europe/Paris".into(),
        week,
        holidays: Some(vec!["2026-12-25".into(), "2027-01-01".into()]),
    };
    let c = lead.clone();
    let calendar = db
        .write(move |tx| sla::create_calendar(tx, &c, &cal))
        .await
        .map_err(e)?
        .id;
    // Urgent in calendar hours, the rest in office hours: first reply, resolution (minutes).
    for (priority, first, resolve, office) in [
        ("urgent", 60, 8 * 60, false),
        ("high", 2 * 60, 16 * 60, true),
        ("normal", 8 * 60, 3 * 9 * 60, true),
        ("low", 16 * 60, 5 * 9 * 60, true),
    ] {
        let p = NewPolicy {
            name: format!("{priority} priority"),
            priority: priority.into(),
            calendar_id: office.then_some(calendar),
            first_reply_minutes: Some(first),
            next_reply_minutes: Some(first * 2),
            resolution_minutes: Some(resolve),
            ..Default::default()
        };
        let c = lead.clone();
        db.write(move |tx| sla::create_policy(tx, &c, &p))
            .await
            .map_err(e)?;
    }
    let c = lead.clone();
    let team = db
        .write(move |tx| {
            teams::create_team(
                tx,
                &c,
                &NewTeam {
                    name: "Customer care".into(),
                    assignment: Some("balanced".into()),
                },
            )
        })
        .await
        .map_err(e)?
        .id;
    let rules = [
        NewTriageRule {
            name: "Chargebacks and disputes".into(),
            when: TriageWhen {
                text_contains: vec!["chargeback".into(), "dispute".into()],
                ..Default::default()
            },
            then: TriageThen {
                priority: Some("urgent".into()),
                team_id: Some(team),
                tags: vec!["chargeback".into()],
            },
            position: None,
        },
        NewTriageRule {
            name: "Everything about an order goes to Customer care".into(),
            when: TriageWhen {
                text_contains: vec!["order".into()],
                ..Default::default()
            },
            then: TriageThen {
                team_id: Some(team),
                ..Default::default()
            },
            position: None,
        },
        NewTriageRule {
            name: "Late orders first".into(),
            when: TriageWhen {
                has_late_order: Some(true),
                ..Default::default()
            },
            then: TriageThen {
                priority: Some("high".into()),
                tags: vec!["late".into()],
                ..Default::default()
            },
            position: None,
        },
    ];
    for r in rules {
        let c = lead.clone();
        db.write(move |tx| triage::create_rule(tx, &c, &r))
            .await
            .map_err(e)?;
    }
    for (name, body, status) in [
        (
            "Where is my order",
            "Hi {{requester.first_name}},\n\nYour order {{order.number}} is on its way: {{order.tracking}}\n\n{{agent.name}}",
            Some("solved"),
        ),
        (
            "Return instructions",
            "Hi {{requester.first_name}},\n\nPrint the label in your account and drop the parcel at any post office within 30 days. Your refund follows once it is back.\n\n{{agent.name}}",
            Some("pending"),
        ),
        (
            "Refund issued",
            "Hi {{requester.first_name}},\n\nWe refunded order {{order.number}}; your bank shows it within 5 working days.\n\n{{agent.name}}",
            Some("solved"),
        ),
    ] {
        let m = NewMacro {
            name: name.into(),
            body: body.into(),
            status: status.map(String::from),
            ..Default::default()
        };
        let c = lead.clone();
        db.write(move |tx| macros::create_macro(tx, &c, &m))
            .await
            .map_err(e)?;
    }
    Ok(team)
}

/// The desk's people: (id, name, role) of the lead and the agents, created as of `at`.
async fn people(db: &Db, at: i64) -> Result<Vec<Ctx>> {
    let mut out = Vec::new();
    for (email, name, role) in [
        ("lead@demo.backroom.dev", "Lena Lead", "support_lead"),
        ("agent@demo.backroom.dev", "Ali Agent", "support"),
        ("support@demo.backroom.dev", "Sam Support", "support"),
    ] {
        let user = match db
            .read(move |tx| auth::password_hash_for(tx, email))
            .await
            .map_err(e)?
        {
            Some((id, _)) => db.read(move |tx| auth::get_user(tx, id)).await.map_err(e)?,
            None => {
                let prepared = std::sync::Arc::new(
                    auth::prepare_user(&NewUser {
                        email: email.into(),
                        name: name.into(),
                        role: role.into(),
                        password: Some(super::ADMIN_PASSWORD.into()),
                    })
                    .map_err(e)?,
                );
                db.write(move |tx| auth::create_user(tx, &Ctx::new(Actor::system(), at), &prepared))
                    .await
                    .map_err(e)?
            }
        };
        out.push(Ctx::new(
            Actor {
                user_id: user.id,
                name: user.name,
                role: Role::parse(&user.role).unwrap_or(Role::Support),
            },
            at,
        ));
    }
    Ok(out)
}

/// Seeds the desk: its set-up as of 60 days ago, then tickets up to `now`.
pub async fn seed(db: &Db, rng: &mut Rng, now: i64) -> Result<()> {
    let start = now - 60 * DAY;
    let staff = people(db, start).await?;
    let lead = &staff[0];
    let team = set_up(db, lead).await?;
    for member in &staff {
        let (c, id) = (lead.clone(), member.actor.user_id);
        db.write(move |tx| {
            teams::set_member(
                tx,
                &c,
                team,
                id,
                &MemberPatch {
                    available: Some(true),
                    capacity: Some(Some(40)),
                },
            )
        })
        .await
        .map_err(e)?;
    }
    // The orders customers write about: the store's latest.
    let orders = db
        .read(move |tx| {
            backroom_core::orders::list(
                tx,
                &OrderQuery {
                    limit: Some(250),
                    ..Default::default()
                },
                now,
            )
        })
        .await
        .map_err(e)?
        .items;
    if orders.is_empty() {
        return Ok(());
    }
    let mut k = 0;
    for i in 0..240i64 {
        // Spread over the 60 days, busier lately; office hours mostly.
        let day = 60 - (rng.range(0, 60 * 60) as f64).sqrt() as i64;
        let at = now - day * DAY + rng.range(7, 20) * HOUR + rng.range(0, 60) * MINUTE;
        if at >= now - 10 * MINUTE {
            continue;
        }
        let o = rng.pick(&orders);
        let (subject, body) = rng.pick(&TOPICS);
        let n = o.number.to_string();
        let (subject, body) = (subject.replace("{n}", &n), body.replace("{n}", &n));
        let email = o.customer.email.clone();
        let name = o.customer.name.clone();
        let ticket = match rng.range(0, 10) {
            // Email: a provider posts it.
            0..=4 => {
                k += 1;
                let m = InboundEmail {
                    from: format!("{name} <{email}>"),
                    to: Some("care@demo.backroom.dev".into()),
                    subject: Some(subject),
                    text: Some(body),
                    message_id: format!("<demo-{k}@mail.demo.backroom.dev>"),
                    ..Default::default()
                };
                let c = Ctx::new(
                    Actor {
                        user_id: 0,
                        name: "inbox".into(),
                        role: Role::Ingest,
                    },
                    at,
                );
                db.write(move |tx| inbound::email(tx, &c, &m))
                    .await
                    .map_err(e)?
                    .ticket_id
            }
            5..=7 => {
                let m = ContactMessage {
                    channel: if rng.chance(50) {
                        "chat".into()
                    } else {
                        "form".into()
                    },
                    email,
                    name: Some(name),
                    subject: Some(subject),
                    text: body,
                    ..Default::default()
                };
                let c = Ctx::new(
                    Actor {
                        user_id: 0,
                        name: "storefront".into(),
                        role: Role::Ingest,
                    },
                    at,
                );
                db.write(move |tx| inbound::contact(tx, &c, &m))
                    .await
                    .map_err(e)?
                    .ticket_id
            }
            _ => {
                let t = NewTicket {
                    subject,
                    body,
                    requester_email: email,
                    requester_name: Some(name),
                    team_id: Some(team),
                    ..Default::default()
                };
                let mut c = rng.pick(&staff).clone();
                c.now = at;
                db.write(move |tx| desk::create_ticket(tx, &c, &t))
                    .await
                    .map_err(e)?
                    .ticket
                    .id
            }
        };
        work(db, rng, &staff, ticket, at, now, i).await?;
    }
    Ok(())
}

/// What the desk did with a ticket opened at `at`, up to `now`: a reply after a while, often an
/// answer from the customer and a second reply, then solved and, a few days on, closed; the
/// newest stay new or open.
async fn work(
    db: &Db,
    rng: &mut Rng,
    staff: &[Ctx],
    id: i64,
    at: i64,
    now: i64,
    i: i64,
) -> Result<()> {
    let assignee = db
        .read(move |tx| desk::get_ticket(tx, id))
        .await
        .map_err(e)?
        .ticket
        .assignee_id;
    let mut agent = staff
        .iter()
        .find(|s| Some(s.actor.user_id) == assignee)
        .unwrap_or(&staff[(i as usize) % staff.len()])
        .clone();
    // Some of the last two days' tickets nobody has touched yet.
    if now - at < 2 * DAY && rng.chance(30) {
        return Ok(());
    }
    let mut t = at + rng.range(10, 8 * 60) * MINUTE;
    let step = |c: &mut Ctx, t: i64| {
        c.now = t;
        c.clone()
    };
    if t >= now {
        return Ok(());
    }
    let reply = |body: &str, status: Option<&str>| NewMessage {
        body: body.into(),
        public: Some(true),
        status: status.map(String::from),
    };
    let (c, m) = (
        step(&mut agent, t),
        reply(
            "Thanks for writing. We are looking into it and come back to you shortly.",
            Some(if rng.chance(20) { "on_hold" } else { "pending" }),
        ),
    );
    db.write(move |tx| desk::add_message(tx, &c, id, &m))
        .await
        .map_err(e)?;
    t += rng.range(30, 36 * 60) * MINUTE;
    if t >= now || rng.chance(15) {
        return Ok(());
    }
    if rng.chance(60) {
        let email = db
            .read(move |tx| desk::get_ticket(tx, id))
            .await
            .map_err(e)?
            .ticket
            .requester_email;
        let m = ContactMessage {
            channel: "chat".into(),
            email,
            text: "Thank you, any news?".into(),
            ticket: Some(format!("T-{id}")),
            ..Default::default()
        };
        let c = Ctx::new(
            Actor {
                user_id: 0,
                name: "storefront".into(),
                role: Role::Ingest,
            },
            t,
        );
        db.write(move |tx| inbound::contact(tx, &c, &m))
            .await
            .map_err(e)?;
        t += rng.range(20, 10 * 60) * MINUTE;
        if t >= now || rng.chance(10) {
            return Ok(());
        }
    }
    let (c, m) = (
        step(&mut agent, t),
        reply(
            "All sorted: you will find the details in your account. Anything else, just reply.",
            Some("solved"),
        ),
    );
    db.write(move |tx| desk::add_message(tx, &c, id, &m))
        .await
        .map_err(e)?;
    // Most customers who answer the survey are happy; some are not.
    if rng.chance(45) && t + 3 * HOUR < now {
        let (c, rating) = (
            step(&mut staff[0].clone(), t + 3 * HOUR),
            if rng.chance(85) { "good" } else { "bad" },
        );
        db.write(move |tx| csat::record(tx, &c, id, rating, None))
            .await
            .map_err(e)?;
    }
    t += 4 * DAY;
    if t < now {
        let c = step(&mut agent, t);
        let p = TicketPatch {
            status: Some("closed".into()),
            ..Default::default()
        };
        db.write(move |tx| desk::update_ticket(tx, &c, id, &p))
            .await
            .map_err(e)?;
    }
    Ok(())
}
