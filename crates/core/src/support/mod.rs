//! The support desk: tickets wired to customers and orders, their conversations, teams, and the
//! outbox of replies sent by email.
//!
//! A ticket's requester is the customer with that email (created if new); the orders a message
//! names by number are linked on their own (and the link is on the order's timeline). Customers'
//! messages come in by email ([`inbound::email`]), chat or a contact form ([`inbound::contact`]),
//! with a write-only key; staff open phone tickets and reply. A public reply to a ticket that
//! came by email is written to `support_outbox` in the reply's own transaction, with its
//! threading headers; the server's worker sends it ([`outbox`]).

pub mod after_sales;
pub mod csat;
pub mod history;
pub mod inbound;
pub mod kpi;
pub mod macros;
pub mod outbox;
pub mod report;
pub mod sla;
pub mod teams;
pub mod triage;
pub mod workload;

pub use teams::{NewTeam, Team, create_team, list_teams};

use crate::api::Page;
use crate::db::{Sql, query_as, query_one_as};
use crate::util::{Filter, from_json, opt_rfc3339, rfc3339, to_json};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use backroom_domain::support::{self as rules, Channel, Priority, Status};
use backroom_domain::values::{optional_text, required_text};
use backroom_domain::{Email, Invalid};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Longest subject, message body and tag the desk keeps.
const SUBJECT_MAX: usize = 300;
const BODY_MAX: usize = 100_000;
const TAG_MAX: usize = 60;

/// A ticket as the API shows it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Ticket {
    pub id: i64,
    /// `T-42`: what its emails carry in their subjects.
    pub reference: String,
    pub subject: String,
    /// `email`, `chat`, `form` or `phone`.
    pub channel: String,
    /// `new`, `open`, `pending` (waiting on the customer), `on_hold`, `solved` or `closed`.
    pub status: String,
    /// `low`, `normal`, `high` or `urgent`.
    pub priority: String,
    /// The ticket's type (free text: question, incident, return...).
    pub kind: Option<String>,
    pub tags: Vec<String>,
    pub requester_email: String,
    pub requester_name: Option<String>,
    /// The customer the requester is (by email).
    pub customer_id: Option<i64>,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// The orders the ticket concerns, by number.
    pub orders: Vec<TicketOrder>,
    /// The ticket this one was merged into.
    pub merged_into: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// When an agent first replied in public.
    pub first_reply_at: Option<String>,
    pub solved_at: Option<String>,
    pub closed_at: Option<String>,
    /// Its service-level policy and due times.
    pub sla: sla::TicketSla,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct TicketOrder {
    pub order_id: i64,
    pub number: i64,
}

/// A message of a ticket's conversation.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Message {
    pub id: i64,
    /// `customer`, `agent` or `system`.
    pub author_kind: String,
    pub author_user_id: Option<i64>,
    pub author_email: Option<String>,
    /// False for an internal note, which the customer never sees.
    pub public: bool,
    pub body: String,
    pub created_at: String,
    /// For a reply sent by email: `pending`, `sent` or `failed`.
    pub delivery: Option<String>,
}

/// A ticket with its conversation.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct TicketView {
    pub ticket: Ticket,
    pub messages: Vec<Message>,
    /// The customer's rating, once a solving reply has asked for it.
    pub satisfaction: Option<csat::Satisfaction>,
}

/// A ticket staff open (a phone call, or on a customer's behalf).
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    pub subject: String,
    /// What the customer said: the first message.
    pub body: String,
    pub requester_email: String,
    pub requester_name: Option<String>,
    /// `phone` by default.
    pub channel: Option<String>,
    /// `normal` by default.
    pub priority: Option<String>,
    pub kind: Option<String>,
    pub tags: Option<Vec<String>>,
    /// Order numbers the ticket concerns, beside those its subject and body name.
    pub orders: Option<Vec<i64>>,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
}

/// A reply or an internal note.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewMessage {
    pub body: String,
    /// False for an internal note; true (a reply the customer gets) by default.
    pub public: Option<bool>,
    /// The status a public reply leaves the ticket in (`pending` by default, waiting on the
    /// customer); a note leaves it as it is unless one is given.
    pub status: Option<String>,
}

/// A change to a ticket: only the fields given change.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct TicketPatch {
    pub status: Option<String>,
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "crate::api::double_option")]
    pub kind: Option<Option<String>>,
    /// Replaces the tags.
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::api::double_option")]
    pub team_id: Option<Option<i64>>,
    /// Who works the ticket; null leaves it unassigned. Agents may take a ticket or give it
    /// back; assigning it to someone else needs a support lead.
    #[serde(default, deserialize_with = "crate::api::double_option")]
    pub assignee_id: Option<Option<i64>>,
    /// Order numbers to link.
    pub add_orders: Option<Vec<i64>>,
    /// Order numbers to unlink.
    pub remove_orders: Option<Vec<i64>>,
}

/// Which tickets a list shows, newest first.
#[derive(Deserialize, utoipa::IntoParams, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// A status, or `open` for every status still needing work (new, open, pending, on hold)
    /// when given as `unsolved`.
    pub status: Option<String>,
    pub priority: Option<String>,
    pub channel: Option<String>,
    /// A user id, `me`, or `none` for unassigned tickets.
    pub assignee: Option<String>,
    pub team_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// An order number the ticket concerns.
    pub order: Option<i64>,
    /// Part of the subject or the requester's email.
    pub q: Option<String>,
    /// `breached` (a due time has passed) or `soon` (one falls within the hour).
    pub sla: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

crate::row! {
    struct TicketRow {
        id: i64,
        subject: String,
        channel: String,
        status: String,
        priority: String,
        kind: Option<String>,
        tags: String,
        requester_email: String,
        requester_name: Option<String>,
        customer_id: Option<i64>,
        team_id: Option<i64>,
        assignee_id: Option<i64>,
        merged_into: Option<i64>,
        created_at: i64,
        updated_at: i64,
        first_reply_at: Option<i64>,
        solved_at: Option<i64>,
        closed_at: Option<i64>,
        sla_policy_id: Option<i64>,
        first_reply_due_at: Option<i64>,
        next_reply_due_at: Option<i64>,
        resolution_due_at: Option<i64>,
        due_at: Option<i64>,
    }
}

const TICKET_COLUMNS: &str = "id, subject, channel, status, priority, kind, tags, requester_email, requester_name, customer_id, team_id, assignee_id, merged_into, created_at, updated_at, first_reply_at, solved_at, closed_at, sla_policy_id, first_reply_due_at, next_reply_due_at, resolution_due_at, due_at";

fn ticket_row(tx: &mut dyn Sql, id: i64) -> Result<TicketRow> {
    query_one_as::<TicketRow>(
        tx,
        &format!("SELECT {TICKET_COLUMNS} FROM support_tickets WHERE id = $1"),
        params![id],
    )?
    .ok_or(Error::NotFound { entity: "ticket" })
}

fn status_of(r: &TicketRow) -> Result<Status> {
    Ok(Status::parse_field(&r.status)?)
}

fn ticket_of(tx: &mut dyn Sql, r: TicketRow) -> Result<Ticket> {
    crate::row! {
        struct LinkRow { order_id: i64 }
    }
    let ids: Vec<i64> = query_as::<LinkRow>(
        tx,
        "SELECT order_id FROM support_ticket_orders WHERE ticket_id = $1 ORDER BY order_id",
        params![r.id],
    )?
    .into_iter()
    .map(|l| l.order_id)
    .collect();
    let numbers = crate::orders::numbers(tx, &ids)?;
    Ok(Ticket {
        id: r.id,
        reference: format!("T-{}", r.id),
        subject: r.subject,
        channel: r.channel,
        status: r.status,
        priority: r.priority,
        kind: r.kind,
        tags: from_json(&r.tags),
        requester_email: r.requester_email,
        requester_name: r.requester_name,
        customer_id: r.customer_id,
        team_id: r.team_id,
        assignee_id: r.assignee_id,
        orders: ids
            .into_iter()
            .filter_map(|id| {
                numbers.get(&id).map(|n| TicketOrder {
                    order_id: id,
                    number: *n,
                })
            })
            .collect(),
        merged_into: r.merged_into,
        created_at: rfc3339(r.created_at),
        updated_at: rfc3339(r.updated_at),
        first_reply_at: opt_rfc3339(r.first_reply_at),
        solved_at: opt_rfc3339(r.solved_at),
        closed_at: opt_rfc3339(r.closed_at),
        sla: sla::sla_view(
            r.sla_policy_id,
            [
                r.first_reply_due_at,
                r.next_reply_due_at,
                r.resolution_due_at,
                r.due_at,
            ],
        ),
    })
}

/// A ticket with its conversation, oldest message first.
pub fn get_ticket(tx: &mut dyn Sql, id: i64) -> Result<TicketView> {
    let r = ticket_row(tx, id)?;
    let ticket = ticket_of(tx, r)?;
    crate::row! {
        struct MessageRow {
            id: i64,
            author_kind: String,
            author_user_id: Option<i64>,
            author_email: Option<String>,
            public: bool,
            body: String,
            created_at: i64,
            delivery: Option<String>,
        }
    }
    let messages = query_as::<MessageRow>(
        tx,
        "SELECT m.id, m.author_kind, m.author_user_id, m.author_email, m.public, m.body, m.created_at, \
           (SELECT o.status FROM support_outbox o WHERE o.support_message_id = m.id) AS delivery \
         FROM support_messages m WHERE m.ticket_id = $1 ORDER BY m.id",
        params![id],
    )?
    .into_iter()
    .map(|m| Message {
        id: m.id,
        author_kind: m.author_kind,
        author_user_id: m.author_user_id,
        author_email: m.author_email,
        public: m.public,
        body: m.body,
        created_at: rfc3339(m.created_at),
        delivery: m.delivery,
    })
    .collect();
    let satisfaction = csat::of_ticket(tx, id)?;
    Ok(TicketView {
        ticket,
        messages,
        satisfaction,
    })
}

/// Tickets, newest first, filtered.
pub fn list_tickets(tx: &mut dyn Sql, ctx: &Ctx, q: &TicketQuery) -> Result<Page<Ticket>> {
    ctx.actor.require(Permission::SupportRead)?;
    let mut f = Filter::default();
    match q.status.as_deref() {
        None => {}
        Some("unsolved") => f.add(
            "status IN ('new', 'open', 'pending', 'on_hold')",
            Vec::new(),
        ),
        Some(s) => {
            let s = Status::parse(s).ok_or_else(|| {
                Error::invalid(
                    "status",
                    "must be new, open, pending, on_hold, solved, closed or unsolved",
                )
            })?;
            f.add("status = ?", vec![s.as_str().into()]);
        }
    }
    if let Some(p) = &q.priority {
        f.add(
            "priority = ?",
            vec![Priority::parse_field(p)?.as_str().into()],
        );
    }
    if let Some(c) = &q.channel {
        f.add(
            "channel = ?",
            vec![Channel::parse_field(c)?.as_str().into()],
        );
    }
    match q.assignee.as_deref() {
        None => {}
        Some("none") => f.add("assignee_id IS NULL", Vec::new()),
        Some("me") => f.add("assignee_id = ?", vec![ctx.actor.user_id.into()]),
        Some(id) => {
            let id: i64 = id
                .parse()
                .map_err(|_| Error::invalid("assignee", "must be a user id, me or none"))?;
            f.add("assignee_id = ?", vec![id.into()]);
        }
    }
    match q.sla.as_deref() {
        None => {}
        Some("breached") => f.add("due_at <= ?", vec![ctx.now.into()]),
        Some("soon") => f.add(
            "due_at > ? AND due_at <= ?",
            vec![ctx.now.into(), (ctx.now + 3_600_000_000).into()],
        ),
        Some(_) => {
            return Err(Error::invalid(
                "sla",
                "must be breached or soon (due within the hour)",
            ));
        }
    }
    if let Some(t) = q.team_id {
        f.add("team_id = ?", vec![t.into()]);
    }
    if let Some(c) = q.customer_id {
        f.add("customer_id = ?", vec![c.into()]);
    }
    if let Some(n) = q.order {
        let id = crate::orders::ids_by_number(tx, &[n])?
            .get(&n)
            .copied()
            .unwrap_or(0);
        f.add(
            "id IN (SELECT ticket_id FROM support_ticket_orders WHERE order_id = ?)",
            vec![id.into()],
        );
    }
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    // An email address finds its customer's tickets from the index, not by reading them all.
    if let Some(email) = text.and_then(|t| Email::parse(t).ok()) {
        let key = email.key();
        let customer = crate::customers::history::ids_by_email_key(tx, std::slice::from_ref(&key))?
            .get(&key)
            .copied()
            .unwrap_or(0);
        f.add("customer_id = ?", vec![customer.into()]);
    } else if let Some(text) = text {
        let like = crate::util::like_contains(&text.to_lowercase());
        f.add(
            "(LOWER(subject) LIKE ? ESCAPE '\\' OR LOWER(requester_email) LIKE ? ESCAPE '\\')",
            vec![like.clone().into(), like.into()],
        );
    }
    let page_q = crate::api::PageQuery {
        limit: q.limit,
        cursor: q.cursor.clone(),
    };
    crate::util::page_by_id(
        tx,
        "support_tickets",
        f,
        &page_q,
        crate::util::Keyset::IdDesc,
        |tx, id| {
            let r = ticket_row(tx, id)?;
            ticket_of(tx, r)
        },
    )
}

/// The requester's customer: found by email, or created (with the name given) if new.
fn requester_customer(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    email: &Email,
    name: Option<&str>,
) -> Result<i64> {
    let exists = crate::customers::names_by_email_key(tx, &email.key())?.is_some();
    let (first, last) = match (exists, name.map(str::trim).filter(|n| !n.is_empty())) {
        (false, Some(n)) => match n.split_once(' ') {
            Some((f, l)) => (Some(f.trim()), Some(l.trim())),
            None => (Some(n), None),
        },
        _ => (None, None),
    };
    let c = crate::customers::upsert_customer(
        tx,
        ctx,
        email,
        &crate::customers::CustomerInput {
            first,
            last,
            phone: None,
            accepts_marketing: None,
            channel: "support",
            address: None,
        },
    )?;
    Ok(c.id)
}

/// What a new ticket is opened with.
pub(crate) struct Opening<'a> {
    pub subject: &'a str,
    pub channel: Channel,
    pub email: &'a Email,
    pub name: Option<&'a str>,
    pub priority: Priority,
    pub kind: Option<String>,
    pub tags: Vec<String>,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
}

/// Opens a ticket (status `new`) for its requester's customer; returns its id and the
/// customer's.
pub(crate) fn open_ticket(tx: &mut dyn Sql, ctx: &Ctx, o: &Opening) -> Result<(i64, i64)> {
    let customer = requester_customer(tx, ctx, o.email, o.name)?;
    let subject = match o.subject.trim() {
        "" => "(no subject)".to_string(),
        s => s.chars().take(SUBJECT_MAX).collect(),
    };
    let r = tx
        .query_one(
            "INSERT INTO support_tickets (subject, channel, status, priority, kind, tags, requester_email, requester_name, customer_id, team_id, assignee_id, created_at, updated_at) \
             VALUES ($1, $2, 'new', $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
            params![
                subject.as_str(),
                o.channel.as_str(),
                o.priority.as_str(),
                o.kind.clone(),
                to_json(&o.tags),
                o.email.as_str(),
                o.name.map(str::trim).filter(|n| !n.is_empty()),
                customer,
                o.team_id,
                o.assignee_id,
                ctx.now
            ],
        )?
        .ok_or(Error::NotFound { entity: "ticket" })?;
    let id: i64 = r.get("id")?;
    sla::status_changed(tx, id, Status::New, ctx.now)?;
    audit::record(
        tx,
        ctx,
        "ticket.created",
        "ticket",
        id,
        json!({"subject": subject, "channel": o.channel.as_str(), "requester": o.email.as_str(), "priority": o.priority.as_str()}),
    )?;
    Ok((id, customer))
}

/// Links the orders `numbers` name (those that are orders of the store) to a ticket, each once,
/// and notes the link on the order's timeline.
pub(crate) fn link_orders(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    ticket: i64,
    numbers: &[i64],
) -> Result<Vec<i64>> {
    let ids = crate::orders::ids_by_number(tx, numbers)?;
    let mut linked = Vec::new();
    for n in numbers {
        let Some(&order) = ids.get(n) else { continue };
        let added = tx.exec(
            "INSERT INTO support_ticket_orders (ticket_id, order_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (ticket_id, order_id) DO NOTHING",
            params![ticket, order, ctx.now],
        )?;
        if added == 1 {
            crate::orders::event(
                tx,
                ctx,
                order,
                "support",
                &format!("Ticket T-{ticket} concerns this order"),
            )?;
            linked.push(*n);
        }
    }
    Ok(linked)
}

/// Appends a message to a ticket; returns its id.
pub(crate) struct Posting<'a> {
    pub ticket: i64,
    pub author_kind: &'a str,
    pub author_user_id: Option<i64>,
    pub author_email: Option<&'a str>,
    pub public: bool,
    pub body: &'a str,
    pub message_id: Option<&'a str>,
}

pub(crate) fn post(tx: &mut dyn Sql, ctx: &Ctx, m: &Posting) -> Result<i64> {
    let r = tx
        .query_one(
            "INSERT INTO support_messages (ticket_id, author_kind, author_user_id, author_email, public, body, message_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            params![
                m.ticket,
                m.author_kind,
                m.author_user_id,
                m.author_email,
                m.public,
                m.body,
                m.message_id,
                ctx.now
            ],
        )?
        .ok_or(Error::NotFound { entity: "ticket" })?;
    Ok(r.get("id")?)
}

/// Sets a ticket's status (with the times it was solved or closed) and its update time.
fn set_status(tx: &mut dyn Sql, ctx: &Ctx, id: i64, from: Status, to: Status) -> Result<()> {
    if to == Status::Solved && !matches!(from, Status::Solved | Status::Closed) {
        let due: Option<i64> = tx
            .query_one(
                "SELECT resolution_due_at FROM support_tickets WHERE id = $1",
                params![id],
            )?
            .map(|r| r.get("resolution_due_at"))
            .transpose()?
            .flatten();
        sla::fulfilled(tx, id, "resolution", due, ctx.now)?;
    }
    tx.exec(
        "UPDATE support_tickets SET status = $1, updated_at = $2, \
           solved_at = CASE WHEN $1 = 'solved' THEN $2 WHEN $1 = 'closed' THEN solved_at ELSE NULL END, \
           closed_at = CASE WHEN $1 = 'closed' THEN $2 ELSE NULL END WHERE id = $3",
        params![to.as_str(), ctx.now, id],
    )?;
    if from != to {
        sla::status_changed(tx, id, to, ctx.now)?;
        audit::record(
            tx,
            ctx,
            "ticket.status_changed",
            "ticket",
            id,
            json!({"status": {"from": from.as_str(), "to": to.as_str()}}),
        )?;
    }
    Ok(())
}

pub(crate) fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let t = t.trim().to_lowercase();
        if t.is_empty() || t.chars().count() > TAG_MAX || t.contains(',') {
            return Err(Error::invalid(
                format!("tags[{i}]"),
                format!("must be 1 to {TAG_MAX} characters, without commas"),
            ));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

fn check_team(tx: &mut dyn Sql, team: Option<i64>) -> Result<()> {
    if let Some(t) = team
        && tx
            .query_one("SELECT id FROM support_teams WHERE id = $1", params![t])?
            .is_none()
    {
        return Err(Error::invalid("team_id", "is not a team"));
    }
    Ok(())
}

fn check_assignee(tx: &mut dyn Sql, user: Option<i64>) -> Result<()> {
    match user {
        Some(u) => works_tickets(tx, u, "assignee_id"),
        None => Ok(()),
    }
}

/// Refuses, naming `field`, a user who is not an active member whose role works tickets.
pub(crate) fn works_tickets(tx: &mut dyn Sql, user: i64, field: &str) -> Result<()> {
    if crate::auth::members_who(tx, Permission::SupportWork)?
        .iter()
        .any(|(id, _)| *id == user)
    {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be an active member who works tickets",
        ))
    }
}

/// Opens a ticket on a customer's behalf (a phone call, say) with their first message.
pub fn create_ticket(tx: &mut dyn Sql, ctx: &Ctx, t: &NewTicket) -> Result<TicketView> {
    ctx.actor.require(Permission::SupportWork)?;
    let email =
        Email::parse(&t.requester_email).map_err(|e| Invalid::new("requester_email", e.message))?;
    let subject = required_text("subject", &t.subject, SUBJECT_MAX)?;
    let body = required_text("body", &t.body, BODY_MAX)?;
    let channel = Channel::parse_field(t.channel.as_deref().unwrap_or("phone"))?;
    let priority = Priority::parse_field(t.priority.as_deref().unwrap_or("normal"))?;
    let kind = optional_text("kind", t.kind.as_deref(), TAG_MAX)?;
    let tags = clean_tags(t.tags.as_deref().unwrap_or_default())?;
    let name = optional_text("requester_name", t.requester_name.as_deref(), 200)?;
    check_team(tx, t.team_id)?;
    if t.assignee_id.is_some_and(|a| a != ctx.actor.user_id) {
        ctx.actor.require(Permission::SupportManage)?;
    }
    check_assignee(tx, t.assignee_id)?;
    let (id, customer) = open_ticket(
        tx,
        ctx,
        &Opening {
            subject: &subject,
            channel,
            email: &email,
            name: name.as_deref(),
            priority,
            kind,
            tags,
            team_id: t.team_id,
            assignee_id: t.assignee_id,
        },
    )?;
    post(
        tx,
        ctx,
        &Posting {
            ticket: id,
            author_kind: "customer",
            author_user_id: None,
            author_email: Some(email.as_str()),
            public: true,
            body: &body,
            message_id: None,
        },
    )?;
    let mut numbers = rules::order_numbers_in(&format!("{subject}\n{body}"));
    for n in t.orders.as_deref().unwrap_or_default() {
        if !numbers.contains(n) {
            numbers.push(*n);
        }
    }
    let linked = link_orders(tx, ctx, id, &numbers)?;
    triage::apply(
        tx,
        ctx,
        id,
        channel,
        customer,
        &format!("{subject}\n{body}"),
    )?;
    if t.assignee_id.is_none() {
        teams::give_out(tx, ctx, id)?;
    }
    sla::refresh(tx, id, ctx.now)?;
    if let Some(missing) = t
        .orders
        .as_deref()
        .unwrap_or_default()
        .iter()
        .position(|n| !linked.contains(n))
    {
        return Err(Error::invalid(
            format!("orders[{missing}]"),
            "is not an order number of this store",
        ));
    }
    get_ticket(tx, id)
}

/// An agent's public reply or internal note. A public reply to a ticket that came by email is
/// queued for sending in this same transaction, with its threading headers.
pub fn add_message(tx: &mut dyn Sql, ctx: &Ctx, id: i64, m: &NewMessage) -> Result<TicketView> {
    ctx.actor.require(Permission::SupportWork)?;
    let body = required_text("body", &m.body, BODY_MAX)?;
    let public = m.public.unwrap_or(true);
    let asked = m.status.as_deref().map(Status::parse_field).transpose()?;
    let r = ticket_row(tx, id)?;
    let current = status_of(&r)?;
    if r.merged_into.is_some() {
        return Err(Error::conflict(
            "ticket_merged",
            "the ticket was merged into another: reply there",
        ));
    }
    let next = match (public, asked) {
        (true, asked) => rules::on_agent_reply(current, asked)?,
        (false, Some(s)) => rules::change_status(current, s)?,
        (false, None) if current == Status::Closed => {
            return Err(Invalid::new("status", "the ticket is closed").into());
        }
        (false, None) => current,
    };
    let message = post(
        tx,
        ctx,
        &Posting {
            ticket: id,
            author_kind: "agent",
            // The system (user 0) is no member.
            author_user_id: Some(ctx.actor.user_id).filter(|u| *u > 0),
            author_email: None,
            public,
            body: &body,
            message_id: None,
        },
    )?;
    if public {
        match r.first_reply_at {
            None => sla::fulfilled(tx, id, "first_reply", r.first_reply_due_at, ctx.now)?,
            Some(_) => sla::fulfilled(tx, id, "next_reply", r.next_reply_due_at, ctx.now)?,
        }
        tx.exec(
            "UPDATE support_tickets SET first_reply_at = COALESCE(first_reply_at, $1), awaiting_reply_since = NULL WHERE id = $2",
            params![ctx.now, id],
        )?;
        // Email and contact-form tickets are answered by email; chat and phone ones are not.
        if matches!(
            Channel::parse(&r.channel),
            Some(Channel::Email | Channel::Form)
        ) {
            // A reply that solves the ticket asks how it went.
            let survey = match next {
                Status::Solved => Some(csat::issue(tx, ctx, id)?),
                _ => None,
            };
            outbox::queue_reply(
                tx,
                ctx,
                &r.subject,
                &r.requester_email,
                id,
                message,
                &body,
                survey.as_deref(),
            )?;
        }
    }
    set_status(tx, ctx, id, current, next)?;
    sla::refresh(tx, id, ctx.now)?;
    audit::record(
        tx,
        ctx,
        if public {
            "ticket.replied"
        } else {
            "ticket.note_added"
        },
        "ticket",
        id,
        json!({"message_id": message}),
    )?;
    get_ticket(tx, id)
}

/// Changes a ticket's status, priority, type, tags, team, assignee or linked orders.
pub fn update_ticket(tx: &mut dyn Sql, ctx: &Ctx, id: i64, p: &TicketPatch) -> Result<TicketView> {
    ctx.actor.require(Permission::SupportWork)?;
    let r = ticket_row(tx, id)?;
    let current = status_of(&r)?;
    let mut changes = serde_json::Map::new();
    if let Some(s) = &p.status {
        let next = rules::change_status(current, Status::parse_field(s)?)?;
        set_status(tx, ctx, id, current, next)?;
    }
    if let Some(pr) = &p.priority {
        let pr = Priority::parse_field(pr)?;
        if pr.as_str() != r.priority {
            changes.insert(
                "priority".into(),
                json!({"from": r.priority, "to": pr.as_str()}),
            );
            tx.exec(
                "UPDATE support_tickets SET priority = $1 WHERE id = $2",
                params![pr.as_str(), id],
            )?;
        }
    }
    if let Some(k) = &p.kind {
        let k = optional_text("kind", k.as_deref(), TAG_MAX)?;
        changes.insert("kind".into(), json!({"from": r.kind, "to": k}));
        tx.exec(
            "UPDATE support_tickets SET kind = $1 WHERE id = $2",
            params![k, id],
        )?;
    }
    if let Some(tags) = &p.tags {
        let tags = clean_tags(tags)?;
        changes.insert(
            "tags".into(),
            json!({"from": from_json::<Vec<String>>(&r.tags), "to": tags}),
        );
        tx.exec(
            "UPDATE support_tickets SET tags = $1 WHERE id = $2",
            params![to_json(&tags), id],
        )?;
    }
    if let Some(team) = p.team_id {
        check_team(tx, team)?;
        changes.insert("team_id".into(), json!({"from": r.team_id, "to": team}));
        tx.exec(
            "UPDATE support_tickets SET team_id = $1 WHERE id = $2",
            params![team, id],
        )?;
    }
    if let Some(a) = p.assignee_id {
        // Taking a ticket, or giving back one's own, is an agent's; anything else a lead's.
        let own = a == Some(ctx.actor.user_id)
            || (a.is_none() && r.assignee_id == Some(ctx.actor.user_id));
        if !own && a != r.assignee_id {
            ctx.actor.require(Permission::SupportManage)?;
        }
        check_assignee(tx, a)?;
        changes.insert(
            "assignee_id".into(),
            json!({"from": r.assignee_id, "to": a}),
        );
        tx.exec(
            "UPDATE support_tickets SET assignee_id = $1 WHERE id = $2",
            params![a, id],
        )?;
    }
    if let Some(add) = &p.add_orders {
        let known = crate::orders::ids_by_number(tx, add)?;
        if let Some(i) = add.iter().position(|n| !known.contains_key(n)) {
            return Err(Error::invalid(
                format!("add_orders[{i}]"),
                "is not an order number of this store",
            ));
        }
        let linked = link_orders(tx, ctx, id, add)?;
        changes.insert("orders_added".into(), json!(linked));
    }
    if let Some(remove) = &p.remove_orders {
        let ids = crate::orders::ids_by_number(tx, remove)?;
        for order in ids.values() {
            tx.exec(
                "DELETE FROM support_ticket_orders WHERE ticket_id = $1 AND order_id = $2",
                params![id, *order],
            )?;
        }
        changes.insert("orders_removed".into(), json!(remove));
    }
    tx.exec(
        "UPDATE support_tickets SET updated_at = $1 WHERE id = $2",
        params![ctx.now, id],
    )?;
    // A ticket that joins a team with nobody on it is given out as the team gives them out.
    if p.team_id.is_some_and(|t| t.is_some()) {
        teams::give_out(tx, ctx, id)?;
    }
    sla::refresh(tx, id, ctx.now)?;
    if !changes.is_empty() {
        audit::record(
            tx,
            ctx,
            "ticket.updated",
            "ticket",
            id,
            serde_json::Value::Object(changes),
        )?;
    }
    get_ticket(tx, id)
}

/// Where a ticket is merged.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// The ticket that goes on (its id).
    pub into: i64,
}

/// Merges a duplicate ticket into another: the duplicate's conversation joins the other as an
/// internal note, its orders are linked there, and it is closed with a note that says where it
/// went. Later messages to it go to the other ticket.
pub fn merge(tx: &mut dyn Sql, ctx: &Ctx, id: i64, m: &Merge) -> Result<TicketView> {
    ctx.actor.require(Permission::SupportWork)?;
    if m.into == id {
        return Err(Error::invalid(
            "into",
            "a ticket cannot be merged into itself",
        ));
    }
    let from = ticket_row(tx, id)?;
    let to = ticket_row(tx, m.into).map_err(|_| Error::invalid("into", "is not a ticket"))?;
    let from_status = status_of(&from)?;
    if from.merged_into.is_some() || from_status == Status::Closed {
        return Err(Error::conflict(
            "ticket_closed",
            "the ticket is closed or merged already",
        ));
    }
    if to.merged_into.is_some() || status_of(&to)? == Status::Closed {
        return Err(Error::invalid(
            "into",
            "is closed or merged: merge into an open ticket",
        ));
    }
    let view = get_ticket(tx, id)?;
    let mut text = format!(
        "Merged from T-{id} ({}), from {}:",
        from.subject, from.requester_email
    );
    for msg in view.messages.iter() {
        let who = match (msg.author_kind.as_str(), &msg.author_email) {
            ("customer", Some(e)) => e.clone(),
            (kind, _) => kind.to_string(),
        };
        let note = if msg.public { "" } else { " (internal note)" };
        text.push_str(&format!(
            "\n\n{who}, {}{note}:\n{}",
            msg.created_at, msg.body
        ));
    }
    let text: String = text.chars().take(BODY_MAX).collect();
    for (ticket, body) in [
        (m.into, text.as_str()),
        (id, &format!("Merged into T-{}", m.into)),
    ] {
        post(
            tx,
            ctx,
            &Posting {
                ticket,
                author_kind: "system",
                author_user_id: None,
                author_email: None,
                public: false,
                body,
                message_id: None,
            },
        )?;
    }
    let numbers: Vec<i64> = view.ticket.orders.iter().map(|o| o.number).collect();
    link_orders(tx, ctx, m.into, &numbers)?;
    tx.exec(
        "UPDATE support_tickets SET merged_into = $1 WHERE id = $2",
        params![m.into, id],
    )?;
    set_status(tx, ctx, id, from_status, Status::Closed)?;
    tx.exec(
        "UPDATE support_tickets SET updated_at = $1 WHERE id = $2",
        params![ctx.now, m.into],
    )?;
    sla::refresh(tx, id, ctx.now)?;
    sla::refresh(tx, m.into, ctx.now)?;
    audit::record(
        tx,
        ctx,
        "ticket.merged",
        "ticket",
        id,
        json!({"into": m.into}),
    )?;
    get_ticket(tx, m.into)
}

/// One change to many tickets, all or nothing.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct BulkUpdate {
    /// 1 to 500 ticket ids.
    pub ids: Vec<i64>,
    pub changes: TicketPatch,
}

/// Applies one change to every ticket listed, in one unit: if one ticket refuses it, none
/// changes (the refusal names the ticket).
pub fn bulk_update(tx: &mut dyn Sql, ctx: &Ctx, b: &BulkUpdate) -> Result<Vec<Ticket>> {
    ctx.actor.require(Permission::SupportWork)?;
    if b.ids.is_empty() || b.ids.len() > 500 {
        return Err(Error::invalid("ids", "must list 1 to 500 tickets"));
    }
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, id) in b.ids.iter().enumerate() {
        if !seen.insert(*id) {
            continue;
        }
        let v = update_ticket(tx, ctx, *id, &b.changes).map_err(|e| match e {
            Error::Invalid(inv) => Error::Invalid(inv.under(&format!("ids[{i}]"))),
            Error::NotFound { .. } => Error::invalid(format!("ids[{i}]"), "is not a ticket"),
            other => other,
        })?;
        out.push(v.ticket);
    }
    Ok(out)
}
