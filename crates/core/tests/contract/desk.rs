//! The support desk on both backends: inbound email threading and retries, order and customer
//! links, status rules, the reply outbox and its leases, and who may do what.

use crate::support::*;
use backroom_core::support::{
    self as desk, NewMessage, NewTicket, TicketPatch, TicketQuery,
    inbound::{self, ContactMessage, InboundEmail},
    outbox,
};
use backroom_domain::roles::Role;

fn as_role(role: Role, user_id: i64) -> Ctx {
    Ctx::new(
        Actor {
            user_id,
            name: format!("{} {user_id}", role.as_str()),
            role,
        },
        backroom_core::util::now_micros(),
    )
}

fn ingest() -> Ctx {
    as_role(Role::Ingest, 0)
}

fn mail(from: &str, subject: &str, id: &str, in_reply_to: Option<&str>) -> InboundEmail {
    InboundEmail {
        from: from.into(),
        to: Some("help@shop.example".into()),
        subject: Some(subject.into()),
        text: Some(format!("message {id}")),
        message_id: format!("<{id}>"),
        in_reply_to: in_reply_to.map(|r| format!("<{r}>")),
        ..Default::default()
    }
}

async fn receive(db: &Db, m: InboundEmail) -> inbound::Received {
    db.write(move |tx| inbound::email(tx, &ingest(), &m))
        .await
        .unwrap()
}

async fn ticket(db: &Db, id: i64) -> desk::TicketView {
    db.read(move |tx| desk::get_ticket(tx, id)).await.unwrap()
}

async fn reply(
    db: &Db,
    id: i64,
    body: &str,
    public: bool,
    status: Option<&str>,
) -> desk::TicketView {
    let m = NewMessage {
        body: body.into(),
        public: Some(public),
        status: status.map(String::from),
    };
    db.write(move |tx| desk::add_message(tx, &ctx(), id, &m))
        .await
        .unwrap()
}

#[tokio::test]
async fn inbound_email_threads_retries_and_links_the_customer_and_orders() {
    for (name, db) in backends().await {
        Store::new(&db, &["D-A"])
            .stock("D-A", At::A, 10)
            .build()
            .await;
        let placed = place(&db, order(&[("D-A", 1)]), None).await.unwrap().order;
        let n = placed.number;

        // A new message opens a ticket for the customer with that email, linked to the order
        // its subject names; the order's timeline says so.
        let first = mail(
            "\"Ann B\" <ann@example.com>",
            &format!("Where is order #{n}?"),
            "m1@mail.example",
            None,
        );
        let r = receive(&db, first.clone()).await;
        assert!(r.created && !r.duplicate, "{name}");
        let t = ticket(&db, r.ticket_id).await;
        assert_eq!(t.ticket.status, "new", "{name}");
        assert_eq!(t.ticket.channel, "email");
        assert_eq!(
            t.ticket.customer_id,
            Some(placed.customer.id),
            "{name}: the order's customer"
        );
        assert_eq!(
            t.ticket.orders.iter().map(|o| o.number).collect::<Vec<_>>(),
            vec![n]
        );
        let timeline = db
            .read(move |tx| orders::timeline(tx, placed.id))
            .await
            .unwrap();
        assert!(
            timeline
                .iter()
                .any(|e| e.kind == "support" && e.message.contains(&format!("T-{}", r.ticket_id))),
            "{name}: {timeline:?}"
        );

        // The provider retries the same message: nothing is stored twice.
        let again = receive(&db, first).await;
        assert_eq!(
            (again.ticket_id, again.duplicate, again.created),
            (r.ticket_id, true, false)
        );
        assert_eq!(ticket(&db, r.ticket_id).await.messages.len(), 1, "{name}");

        // An internal note queues no mail and is no first reply; a public reply queues one
        // mail threaded on the customer's message, and waits on the customer.
        let noted = reply(&db, r.ticket_id, "checking the carrier", false, None).await;
        assert_eq!(noted.ticket.first_reply_at, None, "{name}");
        assert_eq!(noted.ticket.status, "new");
        let replied = reply(&db, r.ticket_id, "It ships today.", true, None).await;
        assert_eq!(replied.ticket.status, "pending", "{name}");
        assert!(replied.ticket.first_reply_at.is_some());
        assert_eq!(
            replied.messages.last().unwrap().delivery.as_deref(),
            Some("pending")
        );
        let now = backroom_core::util::now_micros();
        let mails = db
            .write(move |tx| outbox::claim(tx, now, 10, 60_000_000))
            .await
            .unwrap();
        assert_eq!(mails.len(), 1, "{name}: the note is not mailed");
        let out = &mails[0];
        assert_eq!(out.to_address, "ann@example.com");
        assert_eq!(out.in_reply_to.as_deref(), Some("m1@mail.example"));
        assert_eq!(out.refs, "<m1@mail.example>");
        assert_eq!(
            out.subject,
            format!("Re: Where is order #{n}? [T-{}]", r.ticket_id)
        );
        assert_eq!(out.body, "It ships today.");

        // The customer answers the reply: it threads back by In-Reply-To and reopens the ticket.
        let answer = receive(
            &db,
            mail(
                "ann@example.com",
                "Re: whatever",
                "m2@mail.example",
                Some(&out.message_id),
            ),
        )
        .await;
        assert_eq!(
            (answer.ticket_id, answer.created),
            (r.ticket_id, false),
            "{name}"
        );
        assert_eq!(ticket(&db, r.ticket_id).await.ticket.status, "open");

        // A subject reference threads only the requester's own mail.
        let subject = format!("About [T-{}]", r.ticket_id);
        let same = receive(
            &db,
            mail("ANN@example.com", &subject, "m3@mail.example", None),
        )
        .await;
        assert_eq!(same.ticket_id, r.ticket_id, "{name}");
        let other = receive(
            &db,
            mail("mallory@example.com", &subject, "m4@mail.example", None),
        )
        .await;
        assert!(other.created && other.ticket_id != r.ticket_id, "{name}");

        // Solved, then closed: a later answer opens a follow-up ticket.
        for status in ["solved", "closed"] {
            let p = TicketPatch {
                status: Some(status.into()),
                ..Default::default()
            };
            let id = r.ticket_id;
            let t = db
                .write(move |tx| desk::update_ticket(tx, &ctx(), id, &p))
                .await
                .unwrap();
            assert_eq!(t.ticket.status, status);
        }
        let late = receive(
            &db,
            mail(
                "ann@example.com",
                "Re: thanks",
                "m5@mail.example",
                Some("m2@mail.example"),
            ),
        )
        .await;
        assert!(late.created && late.ticket_id != r.ticket_id, "{name}");
        let follow = ticket(&db, late.ticket_id).await;
        assert!(
            follow
                .ticket
                .subject
                .contains(&format!("follow-up of T-{}", r.ticket_id)),
            "{name}"
        );
        assert_eq!(ticket(&db, r.ticket_id).await.ticket.status, "closed");

        // Lists: unsolved tickets, by order number, by text.
        let list = |q: TicketQuery| {
            let db = db.clone();
            async move {
                db.read(move |tx| desk::list_tickets(tx, &ctx(), &q))
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|t| t.id)
                    .collect::<Vec<_>>()
            }
        };
        let unsolved = list(TicketQuery {
            status: Some("unsolved".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(unsolved, vec![late.ticket_id, other.ticket_id], "{name}");
        let by_order = list(TicketQuery {
            order: Some(n),
            ..Default::default()
        })
        .await;
        assert_eq!(by_order, vec![r.ticket_id], "{name}");
        let by_text = list(TicketQuery {
            q: Some("MALLORY".into()),
            ..Default::default()
        })
        .await;
        assert_eq!(by_text, vec![other.ticket_id], "{name}");
    }
}

#[tokio::test]
async fn the_outbox_leases_each_mail_and_gives_up_after_its_attempts() {
    for (name, db) in backends().await {
        let r = receive(
            &db,
            mail("bo@example.com", "Hello", "x1@mail.example", None),
        )
        .await;
        reply(&db, r.ticket_id, "Hi Bo", true, Some("solved")).await;
        let t0 = backroom_core::util::now_micros();
        let lease = 60_000_000;
        let claim = |at: i64| {
            let db = db.clone();
            async move {
                db.write(move |tx| outbox::claim(tx, at, 10, lease))
                    .await
                    .unwrap()
            }
        };
        let first = claim(t0).await;
        assert_eq!(first.len(), 1, "{name}");
        assert!(claim(t0 + 1).await.is_empty(), "{name}: leased");
        // The worker stopped mid-send: the lease ends and the mail is claimed again.
        let again = claim(t0 + lease + 1).await;
        assert_eq!((again.len(), again[0].attempts), (1, 1), "{name}");
        let id = again[0].id;
        db.write(move |tx| outbox::sent(tx, id, t0)).await.unwrap();
        assert!(claim(t0 + 10 * lease).await.is_empty(), "{name}: sent once");
        let view = ticket(&db, r.ticket_id).await;
        assert_eq!(
            view.messages.last().unwrap().delivery.as_deref(),
            Some("sent")
        );
        assert_eq!(view.ticket.status, "solved");

        // A failing mail is retried, then given up.
        reply(&db, r.ticket_id, "One more thing", true, None).await;
        let mut at = t0;
        let mut tries = 0;
        loop {
            at += 2 * lease;
            let m = claim(at).await;
            if m.is_empty() {
                break;
            }
            tries += 1;
            let (id, attempts) = (m[0].id, m[0].attempts + 1);
            db.write(move |tx| outbox::not_sent(tx, id, "450 try later", attempts, Some(at)))
                .await
                .unwrap();
        }
        assert_eq!(tries, outbox::MAX_ATTEMPTS, "{name}");
        let last = ticket(&db, r.ticket_id).await.messages.pop().unwrap();
        assert_eq!(last.delivery.as_deref(), Some("failed"), "{name}");
    }
}

#[tokio::test]
async fn roles_and_bad_input_change_nothing() {
    for (name, db) in backends().await {
        Store::new(&db, &["D-B"])
            .stock("D-B", At::A, 10)
            .build()
            .await;
        let n = place(&db, order(&[("D-B", 1)]), None)
            .await
            .unwrap()
            .order
            .number;
        // An ingest key posts messages and reads nothing.
        let read = db
            .read(|tx| desk::list_tickets(tx, &ingest(), &TicketQuery::default()))
            .await;
        assert!(matches!(read, Err(Error::Forbidden(_))), "{name}");
        // A chat message names no known ticket of its sender: refused.
        let chat = ContactMessage {
            channel: "chat".into(),
            email: "cy@example.com".into(),
            text: "hi".into(),
            ticket: Some("T-999".into()),
            ..Default::default()
        };
        let e = db
            .write(move |tx| inbound::contact(tx, &ingest(), &chat))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "ticket"),
            "{name}: {e:?}"
        );
        // A phone ticket naming an order that does not exist: refused whole.
        let bad = NewTicket {
            subject: "Call".into(),
            body: "about an order".into(),
            requester_email: "dee@example.com".into(),
            orders: Some(vec![n, 999_999]),
            ..Default::default()
        };
        let agent = as_role(Role::Support, 0);
        let e = db
            .write(move |tx| desk::create_ticket(tx, &agent, &bad))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "orders[1]"),
            "{name}: {e:?}"
        );
        let all = db
            .read(|tx| desk::list_tickets(tx, &ctx(), &TicketQuery::default()))
            .await
            .unwrap();
        assert!(all.items.is_empty(), "{name}: nothing stored");
        // An agent may not assign a ticket to someone else; a lead may not assign it to a
        // member who does not work tickets.
        let ok = NewTicket {
            subject: "Call".into(),
            body: format!("about order {n}"),
            requester_email: "dee@example.com".into(),
            ..Default::default()
        };
        let t = db
            .write(move |tx| desk::create_ticket(tx, &as_role(Role::Support, 0), &ok))
            .await
            .unwrap();
        assert_eq!(t.ticket.channel, "phone");
        assert_eq!(t.ticket.orders.len(), 1, "{name}: linked from the body");
        let id = t.ticket.id;
        let give = TicketPatch {
            assignee_id: Some(Some(4242)),
            ..Default::default()
        };
        let g = give.clone();
        let e = db
            .write(move |tx| desk::update_ticket(tx, &as_role(Role::Support, 7), id, &g))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{name}: {e:?}");
        let e = db
            .write(move |tx| desk::update_ticket(tx, &as_role(Role::SupportLead, 7), id, &give))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "assignee_id"),
            "{name}: {e:?}"
        );
        // Nothing goes back to new; a ticket is closed only once solved.
        let open = TicketPatch {
            status: Some("open".into()),
            ..Default::default()
        };
        db.write(move |tx| desk::update_ticket(tx, &ctx(), id, &open))
            .await
            .unwrap();
        for (status, field) in [("new", "status"), ("closed", "status")] {
            let p = TicketPatch {
                status: Some(status.into()),
                ..Default::default()
            };
            let e = db
                .write(move |tx| desk::update_ticket(tx, &ctx(), id, &p))
                .await
                .unwrap_err();
            assert!(
                matches!(e, Error::Invalid(ref i) if i.field == field),
                "{name}: {e:?}"
            );
        }
    }
}

/// Due times follow the policy's business hours (Paris, Monday to Friday 9 to 5), stop while the
/// ticket waits on the customer, start the next-reply clock when the customer writes again, and
/// the inbox lists tickets breached or due within the hour.
#[tokio::test]
async fn service_levels_count_business_hours_and_stop_while_pending() {
    use backroom_core::support::sla::{self, NewCalendar, NewPolicy};
    fn at(s: &str) -> i64 {
        backroom_core::util::parse_time("t", s).unwrap()
    }
    let lead = |t: &str| {
        let mut c = as_role(Role::SupportLead, 0);
        c.now = at(t);
        c
    };
    for (name, db) in backends().await {
        let hours = vec![["09:00".to_string(), "17:00".to_string()]];
        let cal = NewCalendar {
            name: "Paris office".into(),
            timezone: "Europe/Paris".into(),
            week: vec![
                hours.clone(),
                hours.clone(),
                hours.clone(),
                hours.clone(),
                hours,
                vec![],
                vec![],
            ],
            holidays: Some(vec!["2026-12-25".into()]),
        };
        let c = db
            .write(move |tx| sla::create_calendar(tx, &lead("2026-12-01T00:00:00Z"), &cal))
            .await
            .unwrap();
        let p = NewPolicy {
            name: "High".into(),
            priority: "high".into(),
            calendar_id: Some(c.id),
            first_reply_minutes: Some(60),
            next_reply_minutes: Some(120),
            resolution_minutes: Some(480),
            ..Default::default()
        };
        db.write(move |tx| sla::create_policy(tx, &lead("2026-12-01T00:00:00Z"), &p))
            .await
            .unwrap();
        // Friday 16:30 in Paris.
        let t = NewTicket {
            subject: "Broken zip".into(),
            body: "It broke".into(),
            requester_email: "zed@example.com".into(),
            priority: Some("high".into()),
            ..Default::default()
        };
        let v = db
            .write(move |tx| desk::create_ticket(tx, &lead("2026-12-04T15:30:00Z"), &t))
            .await
            .unwrap();
        let id = v.ticket.id;
        let sla = &v.ticket.sla;
        assert!(sla.policy_id.is_some(), "{name}");
        // 30 minutes on Friday, then Monday 9:00: first reply due Monday 9:30 Paris.
        assert_eq!(
            sla.first_reply_due_at.as_deref(),
            Some("2026-12-07T08:30:00Z"),
            "{name}"
        );
        // 8 hours: 30 minutes Friday, 7.5 hours Monday (16:30 Paris).
        assert_eq!(
            sla.resolution_due_at.as_deref(),
            Some("2026-12-07T15:30:00Z"),
            "{name}"
        );
        assert_eq!(sla.due_at, sla.first_reply_due_at);
        // Monday 9:00 Paris: the agent replies and waits on the customer; the clock stops.
        let m = NewMessage {
            body: "Could you send a photo?".into(),
            public: Some(true),
            status: None,
        };
        let v = db
            .write(move |tx| desk::add_message(tx, &lead("2026-12-07T08:00:00Z"), id, &m))
            .await
            .unwrap();
        assert_eq!(v.ticket.status, "pending");
        assert_eq!(v.ticket.sla.first_reply_due_at, None, "{name}: met");
        assert_eq!(v.ticket.sla.resolution_due_at, None, "{name}: stopped");
        // Monday 11:00 Paris: the customer answers; the ticket reopens. Next reply within two
        // working hours (13:00 Paris); resolution resumes with 7.5 hours left (Tuesday 10:30).
        let mut c = ingest();
        c.now = at("2026-12-07T10:00:00Z");
        let r = db
            .write(move |tx| {
                inbound::contact(
                    tx,
                    &c,
                    &ContactMessage {
                        channel: "chat".into(),
                        email: "zed@example.com".into(),
                        text: "Here it is".into(),
                        ticket: Some(format!("T-{id}")),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(r.ticket_id, id);
        let v = ticket(&db, id).await;
        assert_eq!(v.ticket.status, "open", "{name}");
        assert_eq!(
            v.ticket.sla.next_reply_due_at.as_deref(),
            Some("2026-12-07T12:00:00Z"),
            "{name}"
        );
        assert_eq!(
            v.ticket.sla.resolution_due_at.as_deref(),
            Some("2026-12-08T09:30:00Z"),
            "{name}"
        );
        // The inbox: due within the hour at 11:30 UTC, breached at 12:00 UTC.
        let listed = |now: &str, which: &str| {
            let (db, mut c, which) = (db.clone(), lead(now), which.to_string());
            c.actor.user_id = 0;
            async move {
                db.read(move |tx| {
                    desk::list_tickets(
                        tx,
                        &c,
                        &TicketQuery {
                            sla: Some(which.clone()),
                            ..Default::default()
                        },
                    )
                })
                .await
                .unwrap()
                .items
                .len()
            }
        };
        assert_eq!(listed("2026-12-07T10:30:00Z", "soon").await, 0, "{name}");
        assert_eq!(listed("2026-12-07T11:30:00Z", "soon").await, 1, "{name}");
        assert_eq!(
            listed("2026-12-07T11:30:00Z", "breached").await,
            0,
            "{name}"
        );
        assert_eq!(
            listed("2026-12-07T12:00:00Z", "breached").await,
            1,
            "{name}"
        );
        // Solved: nothing is due any more.
        let p = TicketPatch {
            status: Some("solved".into()),
            ..Default::default()
        };
        let v = db
            .write(move |tx| desk::update_ticket(tx, &lead("2026-12-07T12:30:00Z"), id, &p))
            .await
            .unwrap();
        assert_eq!(v.ticket.sla.due_at, None, "{name}");
        // An agent may not set policies up.
        let e = db
            .write(|tx| {
                sla::create_policy(
                    tx,
                    &as_role(Role::Support, 0),
                    &NewPolicy {
                        name: "x".into(),
                        priority: "low".into(),
                        first_reply_minutes: Some(5),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{name}");
    }
}

/// Members who work tickets, created as a lead would: their user ids.
pub(crate) async fn agents(db: &Db, n: usize) -> Vec<i64> {
    let mut out = Vec::new();
    for i in 0..n {
        let prepared = std::sync::Arc::new(
            backroom_core::auth::prepare_user(&NewUser {
                email: format!(
                    "agent{i}-{}@example.com",
                    backroom_core::util::random_hex(3)
                ),
                name: format!("Agent {i}"),
                role: "support".into(),
                password: None,
            })
            .unwrap(),
        );
        out.push(
            db.write(move |tx| backroom_core::auth::create_user(tx, &ctx(), &prepared))
                .await
                .unwrap()
                .id,
        );
    }
    out
}

fn phone_ticket(team: i64, i: usize, priority: &str) -> NewTicket {
    NewTicket {
        subject: format!("Call {i}"),
        body: "help".into(),
        requester_email: format!("caller{i}@example.com"),
        priority: Some(priority.into()),
        team_id: Some(team),
        ..Default::default()
    }
}

/// Balanced assignment under concurrent ticket creation never passes a member's cap nor gives a
/// ticket twice; round robin takes members in turn; a member who goes away has their untouched
/// tickets given to the others; members set only their own availability.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn assignment_is_balanced_capped_and_exact_under_concurrency() {
    use backroom_core::support::teams::{self, MemberPatch, NewTeam, TeamPatch};
    for (name, db) in backends().await {
        let ids = agents(&db, 3).await;
        let team = db
            .write(|tx| {
                teams::create_team(
                    tx,
                    &ctx(),
                    &NewTeam {
                        name: "Front desk".into(),
                        assignment: Some("balanced".into()),
                    },
                )
            })
            .await
            .unwrap()
            .id;
        for u in &ids {
            let u = *u;
            db.write(move |tx| {
                teams::set_member(
                    tx,
                    &ctx(),
                    team,
                    u,
                    &MemberPatch {
                        available: Some(true),
                        capacity: Some(Some(2)),
                    },
                )
            })
            .await
            .unwrap();
        }
        // Eight tickets at once: six are given out, two to each member; two wait.
        let mut tasks = Vec::new();
        for i in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let t = phone_ticket(team, i, "normal");
                db.write(move |tx| desk::create_ticket(tx, &ctx(), &t))
                    .await
                    .unwrap()
                    .ticket
            }));
        }
        let mut per: std::collections::HashMap<Option<i64>, usize> = Default::default();
        for t in tasks {
            *per.entry(t.await.unwrap().assignee_id).or_default() += 1;
        }
        for u in &ids {
            assert_eq!(per.get(&Some(*u)), Some(&2), "{name}: {per:?}");
        }
        assert_eq!(per.get(&None), Some(&2), "{name}: {per:?}");
        let t = db.read(move |tx| teams::get_team(tx, team)).await.unwrap();
        assert!(
            t.members.iter().all(|m| m.open_tickets == 2),
            "{name}: {t:?}"
        );

        // An agent sets their own availability, not someone else's, and no cap.
        let (a, b) = (ids[0], ids[1]);
        let away = MemberPatch {
            available: Some(false),
            capacity: None,
        };
        let other = away.clone();
        let e = db
            .write(move |tx| teams::set_member(tx, &as_role(Role::Support, a), team, b, &other))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::Forbidden(_)), "{name}: {e:?}");
        // Raising the caps gives the waiting tickets out.
        for u in &ids {
            let u = *u;
            db.write(move |tx| {
                teams::set_member(
                    tx,
                    &ctx(),
                    team,
                    u,
                    &MemberPatch {
                        available: None,
                        capacity: Some(Some(10)),
                    },
                )
            })
            .await
            .unwrap();
        }
        let waiting = db
            .read(move |tx| {
                desk::list_tickets(
                    tx,
                    &ctx(),
                    &TicketQuery {
                        assignee: Some("none".into()),
                        team_id: Some(team),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert!(waiting.items.is_empty(), "{name}: {waiting:?}");
        // A goes away: their untouched tickets go to the others, none stays with A.
        db.write(move |tx| teams::set_member(tx, &as_role(Role::Support, a), team, a, &away))
            .await
            .unwrap();
        let t = db.read(move |tx| teams::get_team(tx, team)).await.unwrap();
        let held = |u: i64| {
            t.members
                .iter()
                .find(|m| m.user_id == u)
                .unwrap()
                .open_tickets
        };
        assert_eq!(held(a), 0, "{name}: {t:?}");
        assert_eq!(held(ids[1]) + held(ids[2]), 8, "{name}: {t:?}");

        // Round robin: in turn, skipping the member who is away.
        db.write(move |tx| {
            teams::update_team(
                tx,
                &ctx(),
                team,
                &TeamPatch {
                    assignment: Some("round_robin".into()),
                    ..Default::default()
                },
            )
        })
        .await
        .unwrap();
        let mut order = Vec::new();
        for i in 10..14 {
            let t = phone_ticket(team, i, "low");
            order.push(
                db.write(move |tx| desk::create_ticket(tx, &ctx(), &t))
                    .await
                    .unwrap()
                    .ticket
                    .assignee_id
                    .unwrap(),
            );
        }
        assert_eq!(order[0], order[2], "{name}: {order:?}");
        assert_eq!(order[1], order[3], "{name}: {order:?}");
        assert_ne!(order[0], order[1], "{name}: {order:?}");
        assert!(!order.contains(&a), "{name}: away");
    }
}

/// Triage sorts new tickets: a word in the text, the requester's value and open orders set the
/// priority, team (which gives the ticket out) and tags; a ticket no rule fits is left as it came.
#[tokio::test]
async fn triage_rules_sort_new_tickets() {
    use backroom_core::support::teams::{self, MemberPatch, NewTeam};
    use backroom_core::support::triage::{self, NewTriageRule};
    use backroom_domain::support::{TriageThen, TriageWhen};
    for (name, db) in backends().await {
        Store::new(&db, &["T-A"])
            .stock("T-A", At::A, 10)
            .build()
            .await;
        place(&db, order(&[("T-A", 2)]), None).await.unwrap();
        let agent = agents(&db, 1).await[0];
        let team = db
            .write(|tx| {
                teams::create_team(
                    tx,
                    &ctx(),
                    &NewTeam {
                        name: "Disputes".into(),
                        assignment: Some("balanced".into()),
                    },
                )
            })
            .await
            .unwrap()
            .id;
        db.write(move |tx| teams::set_member(tx, &ctx(), team, agent, &MemberPatch::default()))
            .await
            .unwrap();
        let rules = vec![
            NewTriageRule {
                name: "Chargebacks".into(),
                when: TriageWhen {
                    text_contains: vec!["chargeback".into(), "dispute".into()],
                    ..Default::default()
                },
                then: TriageThen {
                    priority: Some("urgent".into()),
                    team_id: Some(team),
                    tags: vec!["Chargeback".into()],
                },
                position: None,
            },
            NewTriageRule {
                name: "Customers with an open order".into(),
                when: TriageWhen {
                    min_lifetime_value: Some(1),
                    has_open_order: Some(true),
                    ..Default::default()
                },
                then: TriageThen {
                    priority: Some("high".into()),
                    tags: vec!["open-order".into()],
                    ..Default::default()
                },
                position: None,
            },
        ];
        for r in rules {
            db.write(move |tx| triage::create_rule(tx, &ctx(), &r))
                .await
                .unwrap();
        }
        // Ann has an open order and writes about a dispute: both rules fit; the later one's
        // priority wins, the first one's team gives the ticket out, the tags add up.
        let r = receive(
            &db,
            mail("ann@example.com", "Payment", "t1@mail.example", None),
        )
        .await;
        let t = ticket(&db, r.ticket_id).await.ticket;
        assert_eq!(t.priority, "high", "{name}");
        assert_eq!(
            t.tags,
            vec!["open-order"],
            "{name}: no dispute in 'message t1'"
        );
        let mut m = mail(
            "ann@example.com",
            "I opened a DISPUTE",
            "t2@mail.example",
            None,
        );
        m.text = Some("with my bank".into());
        let r = receive(&db, m).await;
        let t = ticket(&db, r.ticket_id).await.ticket;
        assert_eq!(t.priority, "high", "{name}");
        assert_eq!(t.team_id, Some(team), "{name}");
        assert_eq!(t.assignee_id, Some(agent), "{name}: given out");
        assert_eq!(t.tags, vec!["chargeback", "open-order"], "{name}");
        // Someone with no order and no keyword: as it came.
        let r = receive(
            &db,
            mail("new@example.com", "Hello", "t3@mail.example", None),
        )
        .await;
        let t = ticket(&db, r.ticket_id).await.ticket;
        assert_eq!(
            (t.priority.as_str(), t.team_id, t.tags.len()),
            ("normal", None, 0),
            "{name}"
        );
        // A rule with no condition is refused.
        let bad = NewTriageRule {
            name: "Everything".into(),
            then: TriageThen {
                priority: Some("low".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let e = db
            .write(move |tx| triage::create_rule(tx, &ctx(), &bad))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "when"),
            "{name}: {e:?}"
        );
    }
}

/// Macros fill in the ticket's facts; merging moves a duplicate's conversation and orders and
/// closes it (later mail to it goes on to the other); a bulk change is all or nothing.
#[tokio::test]
async fn macros_merges_and_bulk_changes() {
    use backroom_core::support::macros::{self, NewMacro};
    use backroom_core::support::{BulkUpdate, Merge};
    for (name, db) in backends().await {
        Store::new(&db, &["M-A"])
            .stock("M-A", At::A, 10)
            .build()
            .await;
        let n = place(&db, order(&[("M-A", 1)]), None)
            .await
            .unwrap()
            .order
            .number;
        let bad = NewMacro {
            name: "Bad".into(),
            body: "Hi {{customer.password}}".into(),
            ..Default::default()
        };
        let e = db
            .write(move |tx| macros::create_macro(tx, &ctx(), &bad))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "body"),
            "{name}: {e:?}"
        );
        let good = NewMacro {
            name: "Where is my order".into(),
            body: "Hi {{requester.first_name}}, order {{order.number}} ({{ticket.reference}}) is on its way.{{order.tracking}} {{agent.name}}".into(),
            status: Some("solved".into()),
            ..Default::default()
        };
        let m = db
            .write(move |tx| macros::create_macro(tx, &ctx(), &good))
            .await
            .unwrap();
        let first = receive(
            &db,
            mail(
                "Ann Bell <ann@example.com>",
                &format!("Order #{n}"),
                "g1@mail.example",
                None,
            ),
        )
        .await;
        let dup = receive(
            &db,
            mail(
                "Ann Bell <ann@example.com>",
                "Still waiting",
                "g2@mail.example",
                None,
            ),
        )
        .await;
        let (t, mid) = (first.ticket_id, m.id);
        let r = db
            .read(move |tx| macros::render(tx, &ctx(), t, mid))
            .await
            .unwrap();
        assert_eq!(
            r.body,
            format!("Hi Ann, order #{n} (T-{t}) is on its way. system"),
            "{name}"
        );
        assert_eq!(r.status.as_deref(), Some("solved"));

        // The duplicate merges into the first: a note there holds its conversation; it closes.
        let (into, from) = (first.ticket_id, dup.ticket_id);
        let v = db
            .write(move |tx| desk::merge(tx, &ctx(), from, &Merge { into }))
            .await
            .unwrap();
        let note = v.messages.last().unwrap();
        assert!(!note.public, "{name}: an internal note");
        assert!(
            note.body.contains(&format!("Merged from T-{from}"))
                && note.body.contains("message g2@mail.example"),
            "{name}: {}",
            note.body
        );
        let closed = ticket(&db, from).await.ticket;
        assert_eq!(
            (closed.status.as_str(), closed.merged_into),
            ("closed", Some(into)),
            "{name}"
        );
        // A later answer to the duplicate goes to the ticket it was merged into.
        let later = receive(
            &db,
            mail(
                "ann@example.com",
                "Re: Still waiting",
                "g3@mail.example",
                Some("g2@mail.example"),
            ),
        )
        .await;
        assert_eq!((later.ticket_id, later.created), (into, false), "{name}");
        let e = db
            .write(move |tx| desk::merge(tx, &ctx(), into, &Merge { into: from }))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "into"),
            "{name}: {e:?}"
        );

        // Bulk: one bad ticket in the list and nothing changes.
        let other = receive(&db, mail("bo@example.com", "Hi", "g4@mail.example", None))
            .await
            .ticket_id;
        let b = BulkUpdate {
            ids: vec![into, other, 999_999],
            changes: TicketPatch {
                priority: Some("urgent".into()),
                ..Default::default()
            },
        };
        let e = db
            .write(move |tx| desk::bulk_update(tx, &ctx(), &b))
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "ids[2]"),
            "{name}: {e:?}"
        );
        assert_eq!(
            ticket(&db, into).await.ticket.priority,
            "normal",
            "{name}: nothing changed"
        );
        let b = BulkUpdate {
            ids: vec![into, other],
            changes: TicketPatch {
                priority: Some("urgent".into()),
                tags: Some(vec!["wave".into()]),
                ..Default::default()
            },
        };
        let done = db
            .write(move |tx| desk::bulk_update(tx, &ctx(), &b))
            .await
            .unwrap();
        assert!(
            done.iter()
                .all(|t| t.priority == "urgent" && t.tags == vec!["wave"]),
            "{name}"
        );
    }
}

/// After-sales from the ticket run through the orders' own services: the order is linked, its
/// timeline says which ticket, the ticket has a note of it; a refused action changes nothing;
/// another customer's order is refused.
#[tokio::test]
async fn after_sales_from_the_ticket() {
    use backroom_core::api::{HoldOrder, OrderNote, RefundOrder};
    use backroom_core::support::after_sales::{self, AfterSale};
    for (name, db) in backends().await {
        Store::new(&db, &["S-A"])
            .stock("S-A", At::A, 10)
            .build()
            .await;
        let o = place(&db, order(&[("S-A", 2)]), None).await.unwrap().order;
        write(&db, pay(o.id, None)).await.unwrap();
        let mut theirs = order(&[("S-A", 1)]);
        theirs.customer.email = "someone@example.com".into();
        let other = place(&db, theirs, None).await.unwrap().order.id;
        let r = receive(
            &db,
            mail("ann@example.com", "Broken", "a1@mail.example", None),
        )
        .await;
        let id = r.ticket_id;
        let run = |a: AfterSale| {
            let db = db.clone();
            async move {
                db.write(move |tx| after_sales::act(tx, &ctx(), id, &a))
                    .await
            }
        };
        let v = run(AfterSale {
            order_id: o.id,
            action: "refund".into(),
            refund: Some(RefundOrder {
                amount: Some(500),
                reason: "damaged".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(v.ticket.orders.len(), 1, "{name}: linked");
        let note = v.messages.last().unwrap();
        assert!(
            !note.public
                && note.body.contains("Refunded")
                && note.body.contains(&format!("#{}", o.number)),
            "{name}: {}",
            note.body
        );
        let v = run(AfterSale {
            order_id: o.id,
            action: "hold".into(),
            hold: Some(HoldOrder {
                reason: "customer_request".into(),
                note: None,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(
            v.messages.last().unwrap().body.contains("on hold"),
            "{name}"
        );
        run(AfterSale {
            order_id: o.id,
            action: "note".into(),
            note: Some(OrderNote {
                message: "Customer called".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        let (oid, n) = (o.id, id);
        let (after, timeline) = db
            .read(move |tx| Ok((orders::get(tx, oid)?, orders::timeline(tx, oid)?)))
            .await
            .unwrap();
        assert_eq!(after.refunded.amount, 500, "{name}");
        assert!(after.hold.is_some(), "{name}");
        let from_ticket = timeline
            .iter()
            .filter(|e| e.message.contains(&format!("from ticket T-{n}")))
            .count();
        assert_eq!(from_ticket, 3, "{name}: {timeline:?}");
        // A refund beyond what was paid is refused by the orders' rules: nothing changes.
        let before = ticket(&db, id).await.messages.len();
        let e = run(AfterSale {
            order_id: o.id,
            action: "refund".into(),
            refund: Some(RefundOrder {
                amount: Some(1_000_000),
                reason: "goodwill".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
        assert!(!matches!(e, Error::Db(_)), "{name}: {e:?}");
        assert_eq!(ticket(&db, id).await.messages.len(), before, "{name}");
        // Someone else's order, or a missing payload: refused.
        let e = run(AfterSale {
            order_id: other,
            action: "note".into(),
            note: Some(OrderNote {
                message: "x".into(),
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "order_id"),
            "{name}: {e:?}"
        );
        let e = run(AfterSale {
            order_id: o.id,
            action: "cancel".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
        assert!(
            matches!(e, Error::Invalid(ref i) if i.field == "cancel"),
            "{name}: {e:?}"
        );
    }
}

/// The workload counts each member's unsolved tickets by priority, breached and due soon, and
/// what they solved this week, against the tickets as created.
#[tokio::test]
async fn workload_counts_each_members_tickets() {
    use backroom_core::support::sla::{self, NewPolicy};
    use backroom_core::support::workload;
    for (name, db) in backends().await {
        let ids = agents(&db, 2).await;
        let (a, b) = (ids[0], ids[1]);
        let t0 = backroom_core::util::now_micros() - 3_600_000_000;
        let at = move |m: i64| {
            let mut c = ctx();
            c.now = t0 + m * 60_000_000;
            c
        };
        let p = NewPolicy {
            name: "Urgent".into(),
            priority: "urgent".into(),
            first_reply_minutes: Some(10),
            ..Default::default()
        };
        let c = at(0);
        db.write(move |tx| sla::create_policy(tx, &c, &p))
            .await
            .unwrap();
        let mut made = Vec::new();
        for (i, (who, priority)) in [(a, "normal"), (a, "normal"), (a, "urgent"), (b, "low")]
            .into_iter()
            .enumerate()
        {
            let t = NewTicket {
                subject: format!("T{i}"),
                body: "x".into(),
                requester_email: format!("w{i}@example.com"),
                priority: Some(priority.into()),
                assignee_id: Some(who),
                ..Default::default()
            };
            let c = at(i as i64);
            made.push(
                db.write(move |tx| desk::create_ticket(tx, &c, &t))
                    .await
                    .unwrap()
                    .ticket
                    .id,
            );
        }
        // B solves theirs.
        let (last, c) = (made[3], at(5));
        let p = TicketPatch {
            status: Some("solved".into()),
            ..Default::default()
        };
        db.write(move |tx| desk::update_ticket(tx, &c, last, &p))
            .await
            .unwrap();
        // An hour on: the urgent ticket's first reply (10 minutes) is overdue.
        let loads = db
            .read(move |tx| workload::workload(tx, &at(60)))
            .await
            .unwrap();
        let of = |u: i64| loads.iter().find(|l| l.user_id == u).unwrap().clone();
        let (la, lb) = (of(a), of(b));
        assert_eq!(
            (la.normal, la.urgent, la.low, la.high),
            (2, 1, 0, 0),
            "{name}: {la:?}"
        );
        assert_eq!((la.breached, la.solved_this_week), (1, 0), "{name}: {la:?}");
        // Solved this week unless a Monday began between the solving and the count.
        let zone = db
            .read(|tx| {
                backroom_core::analytics::Zone::get(&backroom_core::settings::load(tx)?.timezone)
            })
            .await
            .unwrap();
        let monday = |t: i64| {
            let d = i64::from(zone.day_of(t));
            d - backroom_domain::hours::weekday(d) as i64
        };
        let same_week = monday(at(5).now) == monday(at(60).now);
        assert_eq!(
            (lb.low, lb.solved_this_week),
            (0, i64::from(same_week)),
            "{name}: {lb:?}"
        );
        assert_eq!(loads[0].user_id, a, "{name}: busiest first");
    }
}

/// Reshipping from a ticket: a replacement order for shipped units, at no charge (each line
/// discounted in full, no shipping, paid), reserved like any order, both orders and the ticket
/// linked; nothing shipped, too many units or another customer's order are refused and change
/// nothing.
#[tokio::test]
async fn reshipping_from_the_ticket() {
    use backroom_core::api::{ShipLine, ShipOrder};
    use backroom_core::orders::{Reship, ReshipLine};
    use backroom_core::support::after_sales::{self, AfterSale};
    for (name, db) in backends().await {
        let (a, _, _) = Store::new(&db, &["R-A", "R-B"])
            .stock("R-A", At::A, 10)
            .stock("R-B", At::A, 10)
            .build()
            .await;
        let o = place(&db, order(&[("R-A", 2), ("R-B", 1)]), None)
            .await
            .unwrap()
            .order;
        write(&db, pay(o.id, None)).await.unwrap();
        let unshipped = place(&db, order(&[("R-A", 1)]), None).await.unwrap().order;
        let line_a = o.lines.iter().find(|l| l.sku == "R-A").unwrap().id;
        ship_order(
            &db,
            o.id,
            ShipOrder {
                location_id: a,
                lines: Some(vec![ShipLine {
                    line_id: line_a,
                    quantity: 2,
                }]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let id = receive(
            &db,
            mail("ann@example.com", "Parcel lost", "rs1@mail.example", None),
        )
        .await
        .ticket_id;
        let run = |order_id: i64, r: Reship| {
            let db = db.clone();
            async move {
                let a = AfterSale {
                    order_id,
                    action: "reship".into(),
                    reship: Some(r),
                    ..Default::default()
                };
                db.write(move |tx| after_sales::act(tx, &ctx(), id, &a))
                    .await
            }
        };
        let before = stock(&db, "R-A").await.totals;
        // Refused: the unshipped line, more than was shipped, an order with nothing shipped.
        let line_b = o.lines.iter().find(|l| l.sku == "R-B").unwrap().id;
        for (order_id, lines, field) in [
            (
                o.id,
                vec![ReshipLine {
                    line_id: line_b,
                    quantity: 1,
                }],
                "quantity",
            ),
            (
                o.id,
                vec![ReshipLine {
                    line_id: line_a,
                    quantity: 3,
                }],
                "quantity",
            ),
            (unshipped.id, vec![], "nothing_shipped"),
        ] {
            let e = run(
                order_id,
                Reship {
                    lines,
                    reason: "lost".into(),
                },
            )
            .await
            .unwrap_err();
            assert!(format!("{e:?}").contains(field), "{name}: {e:?}");
        }
        let v = run(
            o.id,
            Reship {
                lines: vec![ReshipLine {
                    line_id: line_a,
                    quantity: 1,
                }],
                reason: "Lost in transit".into(),
            },
        )
        .await
        .unwrap();
        assert_eq!(v.ticket.orders.len(), 2, "{name}: both orders linked");
        let note = v.messages.last().unwrap();
        assert!(
            note.body.contains("Reshipped 1 units"),
            "{name}: {}",
            note.body
        );
        let new_id = v
            .ticket
            .orders
            .iter()
            .map(|t| t.order_id)
            .find(|x| *x != o.id)
            .unwrap();
        let (r, t_old, t_new) = db
            .read(move |tx| {
                Ok((
                    orders::get(tx, new_id)?,
                    orders::timeline(tx, o.id)?,
                    orders::timeline(tx, new_id)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            (r.total.amount, r.shipping.amount, r.tax.amount),
            (0, 0, 0),
            "{name}"
        );
        assert_eq!(
            r.discounts.amount, r.subtotal.amount,
            "{name}: discounted in full"
        );
        assert!(r.subtotal.amount > 0, "{name}");
        assert_eq!(
            (r.payment_status.as_str(), r.owed.amount),
            ("paid", 0),
            "{name}"
        );
        assert_eq!(r.customer.id, o.customer.id, "{name}");
        assert_eq!(r.shipping_address.line1, o.shipping_address.line1, "{name}");
        assert_eq!(r.lines.len(), 1);
        assert_eq!((r.lines[0].sku.as_str(), r.lines[0].quantity), ("R-A", 1));
        assert!(
            r.note.as_deref().unwrap().contains("Lost in transit"),
            "{name}"
        );
        let says =
            |t: &[backroom_core::api::OrderEvent], w: &str| t.iter().any(|e| e.message.contains(w));
        assert!(
            says(&t_old, &format!("Reshipped as order #{}", r.number)),
            "{name}"
        );
        assert!(
            says(&t_new, &format!("Replacement for order #{}", o.number)),
            "{name}"
        );
        // The replacement holds its unit like any order.
        let after = stock(&db, "R-A").await.totals;
        assert_eq!(after.reserved, before.reserved + 1, "{name}");
        assert_invariants(&db).await;
    }
}
