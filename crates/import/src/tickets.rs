//! Ticket histories: one row per message,
//! `ticket_ref,ticket_created_at,channel,requester_email,subject,priority,status,solved_at,message_at,author_kind,agent_email,public,body,satisfaction`.
//! Rows of a ticket are grouped by `ticket_ref` (they need not be next to each other); the
//! ticket's own columns must read the same on each of its rows. Times are RFC 3339 and are
//! checked by the importer, which knows how to read them.

use crate::RowError;
use crate::table::Table;
use backroom_domain::support::{Channel, Priority, Status};
use std::collections::HashMap;
use std::io::Read;

pub const COLUMNS: [&str; 14] = [
    "ticket_ref",
    "ticket_created_at",
    "channel",
    "requester_email",
    "subject",
    "priority",
    "status",
    "solved_at",
    "message_at",
    "author_kind",
    "agent_email",
    "public",
    "body",
    "satisfaction",
];

/// One message of a ticket's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    pub at: String,
    /// `customer` or `agent`.
    pub author_kind: String,
    pub agent_email: Option<String>,
    pub public: bool,
    pub body: String,
    pub line: u64,
}

/// A ticket as its rows give it, with its messages in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketRecord {
    pub reference: String,
    pub created_at: String,
    pub channel: Channel,
    pub requester_email: String,
    pub subject: String,
    pub priority: Priority,
    pub status: Status,
    pub solved_at: Option<String>,
    /// `good`, `bad`, or none.
    pub satisfaction: Option<String>,
    pub messages: Vec<MessageRecord>,
    /// The line of its first row.
    pub line: u64,
}

/// What a ticket's rows must agree on.
fn ticket_columns(t: &TicketRecord) -> [Option<&str>; 8] {
    [
        Some(&t.created_at),
        Some(t.channel.as_str()),
        Some(&t.requester_email),
        Some(&t.subject),
        Some(t.priority.as_str()),
        Some(t.status.as_str()),
        t.solved_at.as_deref(),
        t.satisfaction.as_deref(),
    ]
}

fn parse_row(row: &crate::table::Row) -> Result<(TicketRecord, MessageRecord), RowError> {
    let field = |c: &str| row.require(c).map(str::to_string);
    let channel = Channel::parse(row.require("channel")?)
        .ok_or_else(|| row.error(Some("channel"), "must be email, chat, form or phone"))?;
    let priority = Priority::parse(row.require("priority")?)
        .ok_or_else(|| row.error(Some("priority"), "must be low, normal, high or urgent"))?;
    let status = Status::parse(row.require("status")?).ok_or_else(|| {
        row.error(
            Some("status"),
            "must be new, open, pending, on_hold, solved or closed",
        )
    })?;
    let author_kind = row.require("author_kind")?;
    if !matches!(author_kind, "customer" | "agent") {
        return Err(row.error(Some("author_kind"), "must be customer or agent"));
    }
    let public = match row.require("public")?.to_ascii_lowercase().as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(row.error(Some("public"), "must be true or false")),
    };
    if author_kind == "customer" && !public {
        return Err(row.error(Some("public"), "a customer's message is public"));
    }
    let satisfaction = row.get("satisfaction").map(str::to_ascii_lowercase);
    if satisfaction
        .as_deref()
        .is_some_and(|s| s != "good" && s != "bad")
    {
        return Err(row.error(Some("satisfaction"), "must be good, bad or empty"));
    }
    let solved_at = row.get("solved_at").map(str::to_string);
    if matches!(status, Status::Solved | Status::Closed) != solved_at.is_some() {
        return Err(row.error(
            Some("solved_at"),
            "is given exactly when the status is solved or closed",
        ));
    }
    let ticket = TicketRecord {
        reference: field("ticket_ref")?,
        created_at: field("ticket_created_at")?,
        channel,
        requester_email: field("requester_email")?,
        subject: field("subject")?,
        priority,
        status,
        solved_at,
        satisfaction,
        messages: Vec::new(),
        line: row.line,
    };
    let message = MessageRecord {
        at: field("message_at")?,
        author_kind: author_kind.to_string(),
        agent_email: row.get("agent_email").map(str::to_string),
        public,
        body: field("body")?,
        line: row.line,
    };
    Ok((ticket, message))
}

/// Reads a ticket history whole: the tickets in the order of their first rows, and the rows
/// refused (by line). A row whose ticket columns differ from its ticket's first row is refused.
pub fn read<R: Read>(input: R) -> (Vec<TicketRecord>, Vec<RowError>, u64) {
    let mut t = match Table::new(input) {
        Ok(t) => t,
        Err(e) => return (Vec::new(), vec![e], 0),
    };
    if let Some(missing) = COLUMNS
        .iter()
        .find(|c| !t.header().iter().any(|h| h.eq_ignore_ascii_case(c)))
    {
        return (
            Vec::new(),
            vec![RowError::new(1, Some(missing), "missing column")],
            0,
        );
    }
    let (mut tickets, mut errors, mut rows) = (Vec::<TicketRecord>::new(), Vec::new(), 0u64);
    let mut index: HashMap<String, usize> = HashMap::new();
    while let Some(r) = t.next_row() {
        rows += 1;
        let parsed = r.and_then(|row| parse_row(&row));
        let (ticket, message) = match parsed {
            Ok(p) => p,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        match index.get(&ticket.reference) {
            Some(&i) => {
                let first = &mut tickets[i];
                if ticket_columns(first) != ticket_columns(&ticket) {
                    errors.push(RowError::new(
                        message.line,
                        Some("ticket_ref"),
                        format!(
                            "the ticket's columns differ from its first row (line {})",
                            first.line
                        ),
                    ));
                    continue;
                }
                first.messages.push(message);
            }
            None => {
                index.insert(ticket.reference.clone(), tickets.len());
                let mut ticket = ticket;
                ticket.messages.push(message);
                tickets.push(ticket);
            }
        }
    }
    (tickets, errors, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "ticket_ref,ticket_created_at,channel,requester_email,subject,priority,status,solved_at,message_at,author_kind,agent_email,public,body,satisfaction\n";

    #[test]
    fn rows_group_by_ticket_and_bad_rows_are_named_by_line() {
        let file = format!(
            "{HEAD}\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Late parcel,normal,solved,2026-11-02T12:00:00Z,2026-11-02T09:00:00Z,customer,,true,Where is it?,good\n\
Z-2,2026-11-03T09:00:00Z,chat,bob@example.com,Size,low,open,,2026-11-03T09:00:00Z,customer,,true,Which size?,\n\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Late parcel,normal,solved,2026-11-02T12:00:00Z,2026-11-02T11:00:00Z,agent,cy@shop.example,true,On its way,good\n\
Z-1,2026-11-02T09:00:00Z,email,ann@example.com,Other subject,normal,solved,2026-11-02T12:00:00Z,2026-11-02T11:30:00Z,agent,cy@shop.example,false,note,good\n\
Z-3,2026-11-03T09:00:00Z,fax,c@example.com,Hi,low,open,,2026-11-03T09:00:00Z,customer,,true,Hi,\n\
Z-4,2026-11-03T09:00:00Z,chat,c@example.com,Hi,low,open,2026-11-03T10:00:00Z,2026-11-03T09:00:00Z,customer,,true,Hi,\n\
Z-5,2026-11-03T09:00:00Z,chat,c@example.com,Hi,low,open,,2026-11-03T09:00:00Z,customer,,false,Hi,\n"
        );
        let (tickets, errors, rows) = read(file.as_bytes());
        assert_eq!(rows, 7);
        assert_eq!(tickets.len(), 2);
        assert_eq!(tickets[0].reference, "Z-1");
        assert_eq!(tickets[0].messages.len(), 2);
        assert_eq!(tickets[0].satisfaction.as_deref(), Some("good"));
        assert_eq!(tickets[1].messages[0].body, "Which size?");
        let lines: Vec<(u64, Option<&str>)> = errors
            .iter()
            .map(|e| (e.line, e.column.as_deref()))
            .collect();
        assert_eq!(
            lines,
            vec![
                (5, Some("ticket_ref")),
                (6, Some("channel")),
                (7, Some("solved_at")),
                (8, Some("public")),
            ]
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let (t, e, _) = read("ticket_ref,body\nA,b\n".as_bytes());
        assert!(t.is_empty());
        assert_eq!(e[0].column.as_deref(), Some("ticket_created_at"));
    }
}
