//! Customers' messages coming in: email (a provider's parsed message) and chat or contact-form
//! messages, posted with a write-only key. Each finds its ticket or opens one.

use super::{Opening, Posting, link_orders, open_ticket, post};
use crate::db::Sql;
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use backroom_domain::support::{self as rules, Channel, Priority, Status};
use backroom_domain::values::optional_text;
use backroom_domain::{Email, Invalid};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A message as an email provider's inbound hook parses it.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct InboundEmail {
    /// The sender: `name@example.com` or `Name <name@example.com>`.
    pub from: String,
    pub to: Option<String>,
    pub subject: Option<String>,
    /// The plain-text body.
    pub text: Option<String>,
    /// The HTML body, used (as text) when there is no plain text.
    pub html: Option<String>,
    /// The message's `Message-ID`: a retry of the same message stores nothing twice.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Option<String>,
}

/// A chat or contact-form message from the storefront.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ContactMessage {
    /// `chat` or `form`.
    pub channel: String,
    pub email: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub text: String,
    /// The ticket a chat continues (`T-42` or 42): the message joins it when it is the same
    /// requester's.
    pub ticket: Option<String>,
    /// The sender's id for this message: sending it again stores nothing twice.
    pub message_id: Option<String>,
}

/// What became of a message that came in.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Received {
    pub ticket_id: i64,
    pub message_id: i64,
    /// Whether it opened a new ticket.
    pub created: bool,
    /// Whether it had come before (nothing was stored).
    pub duplicate: bool,
}

/// The address and display name of a `From` value.
fn sender(from: &str) -> Result<(Email, Option<String>)> {
    let from = from.trim();
    let (name, addr) = match (from.rfind('<'), from.rfind('>')) {
        (Some(l), Some(r)) if l < r => (
            Some(from[..l].trim().trim_matches('"').trim().to_string()),
            &from[l + 1..r],
        ),
        _ => (None, from),
    };
    let email = Email::parse(addr).map_err(|e| Invalid::new("from", e.message))?;
    Ok((email, name.filter(|n| !n.is_empty())))
}

/// Text from an HTML body: tags dropped, block ends as line breaks, the common entities decoded.
fn text_of_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut tag = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => {
                in_tag = true;
                tag.clear();
            }
            (true, '>') => {
                in_tag = false;
                let name = tag
                    .trim_start_matches('/')
                    .split(|c: char| c.is_whitespace() || c == '/')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if matches!(
                    name.as_str(),
                    "br" | "p" | "div" | "li" | "tr" | "h1" | "h2" | "h3"
                ) {
                    out.push('\n');
                }
            }
            (true, c) => tag.push(c),
            (false, c) => out.push(c),
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The id of a stored message with this `message_id`, and its ticket.
fn known(tx: &mut dyn Sql, message_id: &str) -> Result<Option<(i64, i64)>> {
    Ok(
        match tx.query_one(
            "SELECT id, ticket_id FROM support_messages WHERE message_id = $1",
            params![message_id],
        )? {
            Some(r) => Some((r.get("id")?, r.get("ticket_id")?)),
            None => None,
        },
    )
}

/// The status and requester of a ticket, if it exists.
fn ticket_state(tx: &mut dyn Sql, id: i64) -> Result<Option<(Status, String, Option<i64>)>> {
    Ok(
        match tx.query_one(
            "SELECT status, requester_email, merged_into FROM support_tickets WHERE id = $1",
            params![id],
        )? {
            Some(r) => Some((
                Status::parse_field(&r.get::<String>("status")?)?,
                r.get("requester_email")?,
                r.get("merged_into")?,
            )),
            None => None,
        },
    )
}

/// A customer's message: joins `thread` (a ticket it belongs to) unless that ticket is closed,
/// else opens a ticket (a follow-up of a closed one says so).
struct Incoming<'a> {
    thread: Option<i64>,
    channel: Channel,
    email: &'a Email,
    name: Option<&'a str>,
    subject: &'a str,
    body: &'a str,
    message_id: &'a str,
}

fn receive(tx: &mut dyn Sql, ctx: &Ctx, m: &Incoming) -> Result<Received> {
    if let Some((message_id, ticket_id)) = known(tx, m.message_id)? {
        return Ok(Received {
            ticket_id,
            message_id,
            created: false,
            duplicate: true,
        });
    }
    // A merged ticket's messages go where it was merged.
    let mut thread = m.thread;
    for _ in 0..8 {
        match thread.map(|t| ticket_state(tx, t)).transpose()?.flatten() {
            Some((_, _, Some(into))) => thread = Some(into),
            _ => break,
        }
    }
    let joined = match thread {
        Some(t) => match ticket_state(tx, t)? {
            Some((status, _, _)) => {
                rules::on_customer_message(status).map(|next| (t, status, next))
            }
            None => None,
        },
        None => None,
    };
    let follow_up = thread.filter(|_| joined.is_none());
    let (ticket_id, created) = match joined {
        Some((t, from, to)) => {
            if from != to {
                super::set_status(tx, ctx, t, from, to)?;
            } else {
                tx.exec(
                    "UPDATE support_tickets SET updated_at = $1 WHERE id = $2",
                    params![ctx.now, t],
                )?;
            }
            (t, false)
        }
        None => {
            let subject = match follow_up {
                Some(closed) => format!("{} (follow-up of T-{closed})", m.subject.trim()),
                None => m.subject.to_string(),
            };
            let (id, customer) = open_ticket(
                tx,
                ctx,
                &Opening {
                    subject: &subject,
                    channel: m.channel,
                    email: m.email,
                    name: m.name,
                    priority: Priority::Normal,
                    kind: None,
                    tags: Vec::new(),
                    team_id: None,
                    assignee_id: None,
                },
            )?;
            super::triage::apply(
                tx,
                ctx,
                id,
                m.channel,
                customer,
                &format!("{}\n{}", m.subject, m.body),
            )?;
            (id, true)
        }
    };
    // After an agent's reply, the customer's next message starts the next-reply clock.
    tx.exec(
        "UPDATE support_tickets SET awaiting_reply_since = $1 WHERE id = $2 AND first_reply_at IS NOT NULL AND awaiting_reply_since IS NULL",
        params![ctx.now, ticket_id],
    )?;
    let message_id = post(
        tx,
        ctx,
        &Posting {
            ticket: ticket_id,
            author_kind: "customer",
            author_user_id: None,
            author_email: Some(m.email.as_str()),
            public: true,
            body: m.body,
            message_id: Some(m.message_id),
        },
    )?;
    link_orders(
        tx,
        ctx,
        ticket_id,
        &rules::order_numbers_in(&format!("{}\n{}", m.subject, m.body)),
    )?;
    if created {
        super::teams::give_out(tx, ctx, ticket_id)?;
    }
    super::sla::refresh(tx, ticket_id, ctx.now)?;
    audit::record(
        tx,
        ctx,
        "ticket.message_received",
        "ticket",
        ticket_id,
        json!({"message_id": message_id, "channel": m.channel.as_str(), "created": created}),
    )?;
    Ok(Received {
        ticket_id,
        message_id,
        created,
        duplicate: false,
    })
}

/// An inbound email: threaded onto its ticket by `In-Reply-To` and `References` (the message
/// ids of the ticket's messages), else by a ticket reference in the subject (`[T-42]`) when it
/// comes from that ticket's requester; otherwise it opens a ticket.
pub fn email(tx: &mut dyn Sql, ctx: &Ctx, m: &InboundEmail) -> Result<Received> {
    ctx.actor.require(Permission::SupportIngest)?;
    let (from, name) = sender(&m.from)?;
    let message_id = rules::message_ids(&m.message_id)
        .into_iter()
        .next()
        .ok_or_else(|| Error::invalid("message_id", "must be the message's Message-ID"))?;
    let subject = optional_text("subject", m.subject.as_deref(), 2000)?.unwrap_or_default();
    let body = match (&m.text, &m.html) {
        (Some(t), _) if !t.trim().is_empty() => t.trim().to_string(),
        (_, Some(h)) => text_of_html(h).trim().to_string(),
        _ => String::new(),
    };
    if body.chars().count() > super::BODY_MAX {
        return Err(Error::invalid(
            "text",
            format!("must be at most {} characters", super::BODY_MAX),
        ));
    }
    let mut thread = None;
    let headers = [m.in_reply_to.as_deref(), m.references.as_deref()];
    for id in headers.into_iter().flatten().flat_map(rules::message_ids) {
        if let Some((_, ticket)) = known(tx, &id)? {
            thread = Some(ticket);
            break;
        }
    }
    if thread.is_none()
        && let Some(t) = rules::ticket_in_subject(&subject)
        && let Some((_, requester, _)) = ticket_state(tx, t)?
        && requester.eq_ignore_ascii_case(from.as_str())
    {
        thread = Some(t);
    }
    receive(
        tx,
        ctx,
        &Incoming {
            thread,
            channel: Channel::Email,
            email: &from,
            name: name.as_deref(),
            subject: &subject,
            body: if body.is_empty() { "(no text)" } else { &body },
            message_id: &message_id,
        },
    )
}

/// A chat or contact-form message: continues the ticket it names when it is the same
/// requester's, else opens one.
pub fn contact(tx: &mut dyn Sql, ctx: &Ctx, m: &ContactMessage) -> Result<Received> {
    ctx.actor.require(Permission::SupportIngest)?;
    let channel = match Channel::parse_field(&m.channel)? {
        c @ (Channel::Chat | Channel::Form) => c,
        _ => return Err(Error::invalid("channel", "must be chat or form")),
    };
    let email = Email::parse(&m.email)?;
    let name = optional_text("name", m.name.as_deref(), 200)?;
    let subject = optional_text("subject", m.subject.as_deref(), super::SUBJECT_MAX)?;
    let text = backroom_domain::values::required_text("text", &m.text, super::BODY_MAX)?;
    let client_id = optional_text("message_id", m.message_id.as_deref(), 200)?;
    let mut thread = None;
    if let Some(t) = &m.ticket {
        let id: i64 = t
            .trim()
            .trim_start_matches("T-")
            .parse()
            .map_err(|_| Error::invalid("ticket", "must be a ticket reference such as T-42"))?;
        match ticket_state(tx, id)? {
            Some((_, requester, _)) if requester.eq_ignore_ascii_case(email.as_str()) => {
                thread = Some(id)
            }
            _ => {
                return Err(Error::invalid(
                    "ticket",
                    "is not a ticket of this requester",
                ));
            }
        }
    }
    // Without the sender's id, each message is new: a server-made id.
    let message_id = match client_id {
        Some(c) => format!("{}:{c}", channel.as_str()),
        None => format!("{}:{}", channel.as_str(), crate::util::random_hex(12)),
    };
    let subject = subject.unwrap_or_else(|| text.chars().take(80).collect());
    receive(
        tx,
        ctx,
        &Incoming {
            thread,
            channel,
            email: &email,
            name: name.as_deref(),
            subject: &subject,
            body: &text,
            message_id: &message_id,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_and_html() {
        let (e, n) = sender("\"Jane Doe\" <Jane@Example.com>").unwrap();
        assert_eq!(
            (e.as_str(), n.as_deref()),
            ("Jane@Example.com", Some("Jane Doe"))
        );
        let (e, n) = sender("jane@example.com").unwrap();
        assert_eq!((e.as_str(), n), ("jane@example.com", None));
        assert!(sender("not an address").is_err());
        assert_eq!(
            text_of_html("<p>Hello&nbsp;there</p><div>Order &amp; more<br/>x</div>").trim(),
            "Hello there\n\nOrder & more\nx"
        );
    }
}
