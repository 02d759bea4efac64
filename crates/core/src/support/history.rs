//! Ticket histories from another desk: a ticket as its file gives it, restored with its
//! requester (linked to the customer by email), conversation, status history, the orders its
//! subject and customer messages name, and its rating. It keeps the reference it had, so
//! importing the file again finds it and changes nothing. A history has no service-level
//! policy (its due times are long past) and mails nothing.

use super::{BODY_MAX, Posting, SUBJECT_MAX, csat, link_orders, post, requester_customer, sla};
use crate::db::Sql;
use crate::util::parse_time;
use crate::{Ctx, Error, Result, params};
use backroom_domain::support::{self as rules, Status};
use backroom_domain::values::required_text;
use backroom_domain::{Email, Invalid};
use backroom_import::tickets::TicketRecord;

/// What restoring a ticket did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restored {
    Created(i64),
    /// It was there already: imported before under its reference, or a ticket of this store
    /// (`T-n`) with the same requester and creation time.
    Unchanged(i64),
}

/// The ticket a reference names, if it is here already.
fn existing(tx: &mut dyn Sql, t: &TicketRecord, created: i64) -> Result<Option<i64>> {
    if let Some(r) = tx.query_one(
        "SELECT id FROM support_tickets WHERE external_ref = $1",
        params![t.reference.as_str()],
    )? {
        return Ok(Some(r.get("id")?));
    }
    let own = t
        .reference
        .strip_prefix("T-")
        .and_then(|n| n.parse::<i64>().ok());
    let Some(id) = own else { return Ok(None) };
    Ok(tx
        .query_one(
            "SELECT id FROM support_tickets WHERE id = $1 AND created_at = $2 AND lower(requester_email) = lower($3)",
            params![id, created, t.requester_email.as_str()],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?)
}

/// Restores one ticket (all of it or nothing: the caller runs it in a savepoint).
pub fn restore(tx: &mut dyn Sql, ctx: &Ctx, t: &TicketRecord) -> Result<Restored> {
    ctx.actor
        .require(backroom_domain::roles::Permission::SupportManage)?;
    let created = parse_time("ticket_created_at", &t.created_at)?;
    if let Some(id) = existing(tx, t, created)? {
        return Ok(Restored::Unchanged(id));
    }
    let email =
        Email::parse(&t.requester_email).map_err(|e| Error::Invalid(e.under("requester_email")))?;
    let subject = required_text("subject", &t.subject, SUBJECT_MAX)?;
    let solved = t
        .solved_at
        .as_deref()
        .map(|s| parse_time("solved_at", s))
        .transpose()?;
    if solved.is_some_and(|s| s < created) {
        return Err(Error::invalid(
            "solved_at",
            "is before the ticket was created",
        ));
    }
    let mut messages = Vec::with_capacity(t.messages.len());
    for m in &t.messages {
        let at = parse_time("message_at", &m.at)?;
        if at < created {
            return Err(Invalid::new("message_at", "is before the ticket was created").into());
        }
        let body = required_text("body", &m.body, BODY_MAX)?;
        let author = match (&m.author_kind[..], &m.agent_email) {
            ("agent", Some(e)) => crate::auth::user_id_by_email(tx, e)?,
            _ => None,
        };
        messages.push((at, m, body, author));
    }
    messages.sort_by_key(|(at, ..)| *at);
    let last = messages
        .last()
        .map_or(created, |(at, ..)| *at)
        .max(solved.unwrap_or(created));
    let first_reply = messages
        .iter()
        .find(|(_, m, ..)| m.author_kind == "agent" && m.public)
        .map(|(at, ..)| *at);
    let at = |now: i64| Ctx::new(ctx.actor.clone(), now);
    let customer = requester_customer(tx, &at(created), &email, None)?;
    let closed = (t.status == Status::Closed).then_some(solved).flatten();
    let id: i64 = tx
        .query_one(
            "INSERT INTO support_tickets (subject, channel, status, priority, tags, requester_email, customer_id, created_at, updated_at, first_reply_at, solved_at, closed_at, external_ref) \
             VALUES ($1, $2, $3, $4, '[]', $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
            params![
                subject.as_str(),
                t.channel.as_str(),
                t.status.as_str(),
                t.priority.as_str(),
                email.as_str(),
                customer,
                created,
                last,
                first_reply,
                solved,
                closed,
                t.reference.as_str()
            ],
        )?
        .ok_or(Error::NotFound { entity: "ticket" })?
        .get("id")?;
    for (when, m, body, author) in &messages {
        post(
            tx,
            &at(*when),
            &Posting {
                ticket: id,
                author_kind: &m.author_kind,
                author_user_id: *author,
                author_email: match m.author_kind.as_str() {
                    "customer" => Some(email.as_str()),
                    _ => m.agent_email.as_deref(),
                },
                public: m.public,
                body,
                message_id: None,
            },
        )?;
    }
    // The status history: new at creation, then solved (and closed) or where it stands.
    sla::status_changed(tx, id, Status::New, created)?;
    match (t.status, solved) {
        (Status::Solved | Status::Closed, Some(s)) => {
            sla::status_changed(tx, id, Status::Solved, s)?;
            if t.status == Status::Closed {
                sla::status_changed(tx, id, Status::Closed, s)?;
            }
        }
        (Status::New, _) => {}
        (other, _) => sla::status_changed(tx, id, other, last)?,
    }
    let text: String = std::iter::once(subject.as_str())
        .chain(
            messages
                .iter()
                .filter(|(_, m, ..)| m.author_kind == "customer")
                .map(|(_, _, body, _)| body.as_str()),
        )
        .collect::<Vec<_>>()
        .join("\n");
    link_orders(tx, &at(created), id, &rules::order_numbers_in(&text))?;
    if let Some(rating) = &t.satisfaction {
        let when = solved.unwrap_or(last);
        csat::issue(tx, &at(when), id)?;
        tx.exec(
            "UPDATE support_csat SET rating = $1, rated_at = $2 WHERE ticket_id = $3",
            params![rating.as_str(), when, id],
        )?;
    }
    Ok(Restored::Created(id))
}
