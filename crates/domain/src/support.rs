//! The support desk's rules: a ticket's channel, status and priority, how its status moves when
//! the customer writes or an agent replies, and what an incoming message says about the ticket
//! and the orders it concerns (ticket references, order numbers, threading headers).

use crate::Invalid;
use crate::order::string_enum;
use serde::{Deserialize, Serialize};

string_enum!(
    /// Where a ticket came from.
    Channel { Email => "email", Chat => "chat", Form => "form", Phone => "phone" }
);
string_enum!(
    /// Where a ticket stands: `pending` waits on the customer (its service-level clock stops),
    /// `on_hold` on someone else; `closed` is final.
    Status {
        New => "new",
        Open => "open",
        Pending => "pending",
        OnHold => "on_hold",
        Solved => "solved",
        Closed => "closed",
    }
);
string_enum!(
    /// How soon a ticket must be worked.
    Priority { Low => "low", Normal => "normal", High => "high", Urgent => "urgent" }
);

impl Channel {
    pub fn parse_field(s: &str) -> Result<Channel, Invalid> {
        Channel::parse(s)
            .ok_or_else(|| Invalid::new("channel", "must be email, chat, form or phone"))
    }
}

impl Status {
    pub fn parse_field(s: &str) -> Result<Status, Invalid> {
        Status::parse(s).ok_or_else(|| {
            Invalid::new(
                "status",
                "must be new, open, pending, on_hold, solved or closed",
            )
        })
    }

    /// Whether the ticket still needs work (counts in the backlog and in agents' loads).
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::New | Status::Open | Status::Pending | Status::OnHold
        )
    }
}

impl Priority {
    pub fn parse_field(s: &str) -> Result<Priority, Invalid> {
        Priority::parse(s)
            .ok_or_else(|| Invalid::new("priority", "must be low, normal, high or urgent"))
    }
}

/// What a new message from the customer does to its ticket: it reopens one that was waiting on
/// them, on hold or solved; a new ticket stays new. A closed ticket takes no more messages (a
/// follow-up ticket is opened instead), so `None`.
pub fn on_customer_message(current: Status) -> Option<Status> {
    match current {
        Status::Closed => None,
        Status::New => Some(Status::New),
        _ => Some(Status::Open),
    }
}

/// The status staff move a ticket to, checked against where it stands: nothing goes back to
/// `new`, a closed ticket stays closed, and only a solved ticket can be closed.
pub fn change_status(current: Status, next: Status) -> Result<Status, Invalid> {
    if current == next {
        return Ok(next);
    }
    match (current, next) {
        (Status::Closed, _) => Err(Invalid::new(
            "status",
            "the ticket is closed: a follow-up ticket takes any further work",
        )),
        (_, Status::New) => Err(Invalid::new("status", "a ticket cannot go back to new")),
        (c, Status::Closed) if c != Status::Solved => {
            Err(Invalid::new("status", "only a solved ticket can be closed"))
        }
        _ => Ok(next),
    }
}

/// The status after an agent's public reply: the one asked for, else `pending` (the reply waits
/// on the customer, as help desks submit a reply by default) for a ticket not yet solved.
pub fn on_agent_reply(current: Status, asked: Option<Status>) -> Result<Status, Invalid> {
    match asked {
        Some(s) => change_status(current, s),
        None if current == Status::Closed => change_status(current, Status::Open),
        None => Ok(match current {
            Status::Solved => Status::Solved,
            _ => Status::Pending,
        }),
    }
}

/// The reference of ticket `id` as it is put in the subjects of its emails: `[T-42]`.
pub fn ticket_ref(id: i64) -> String {
    format!("[T-{id}]")
}

/// The ticket a subject names by its reference (`[T-42]`), if any.
pub fn ticket_in_subject(subject: &str) -> Option<i64> {
    let start = subject.find("[T-")? + 3;
    let rest = &subject[start..];
    let end = rest.find(']')?;
    let digits = &rest[..end];
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The order numbers a text names: `#1042`, or `order 1042` / `order #1042` / `order no 1042`
/// (any case); at least three digits, so that "2 items" or "#1" are not taken for orders. The
/// caller keeps those that are orders of the store. In the order first named, each once.
pub fn order_numbers_in(text: &str) -> Vec<i64> {
    let lower = text.to_lowercase();
    let b = lower.as_bytes();
    let mut found = Vec::new();
    let digits_at = |mut i: usize| -> Option<(i64, usize)> {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let len = i - start;
        // Not part of a longer word or number (`#1042b`, `#1042.5`).
        let ends_clean = i == b.len() || !(b[i].is_ascii_alphanumeric());
        if (3..=12).contains(&len) && ends_clean {
            lower[start..i].parse().ok().map(|n| (n, i))
        } else {
            None
        }
    };
    let skip = |mut i: usize, what: &[u8]| {
        while i < b.len() && what.contains(&b[i]) {
            i += 1;
        }
        i
    };
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let at = if b[i] == b'#' && word_start {
            Some(i + 1)
        } else if word_start && lower[i..].starts_with("order") {
            let mut j = skip(i + 5, b" :");
            for label in ["number", "no.", "no", "n°", "#"] {
                if lower[j..].starts_with(label) {
                    j = skip(j + label.len(), b" :#");
                    break;
                }
            }
            Some(j)
        } else {
            None
        };
        if let Some((n, end)) = at.and_then(digits_at) {
            if !found.contains(&n) {
                found.push(n);
            }
            i = end;
        } else {
            i += lower[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    found
}

/// The message ids of a `Message-ID`, `In-Reply-To` or `References` header: each `<id>` without
/// its angle brackets (a bare id counts too), in order.
pub fn message_ids(header: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in header.split(|c: char| c.is_whitespace() || c == ',') {
        let id = part
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        if !id.is_empty() && id.len() <= 500 && !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    out
}

/// What a triage rule asks of a new ticket; every condition given must hold.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TriageWhen {
    /// Any of these words or phrases in the subject or the first message (any case).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub text_contains: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The requester's lifetime value is at least this (minor units of the store's currency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_lifetime_value: Option<i64>,
    /// The requester has an order not yet closed or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_open_order: Option<bool>,
    /// The requester has an order past its ship-by time and not shipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_late_order: Option<bool>,
}

/// What a triage rule does to a ticket it fits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TriageThen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    /// Tags added.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// What triage knows of a new ticket.
pub struct TriageFacts<'a> {
    pub text: &'a str,
    pub channel: Channel,
    pub lifetime_value: i64,
    pub has_open_order: bool,
    pub has_late_order: bool,
}

impl TriageWhen {
    /// Checks a rule's conditions as staff wrote them.
    pub fn check(&self) -> Result<(), Invalid> {
        if self
            .text_contains
            .iter()
            .any(|w| w.trim().is_empty() || w.len() > 200)
        {
            return Err(Invalid::new(
                "when.text_contains",
                "each is 1 to 200 characters",
            ));
        }
        if let Some(c) = &self.channel {
            Channel::parse_field(c).map_err(|e| e.under("when"))?;
        }
        if *self == TriageWhen::default() {
            return Err(Invalid::new("when", "a rule needs at least one condition"));
        }
        Ok(())
    }

    /// Whether a ticket with these facts fits.
    pub fn fits(&self, f: &TriageFacts) -> bool {
        let text = f.text.to_lowercase();
        (self.text_contains.is_empty()
            || self
                .text_contains
                .iter()
                .any(|w| text.contains(&w.trim().to_lowercase())))
            && self
                .channel
                .as_deref()
                .is_none_or(|c| c == f.channel.as_str())
            && self
                .min_lifetime_value
                .is_none_or(|v| f.lifetime_value >= v)
            && self.has_open_order.is_none_or(|b| b == f.has_open_order)
            && self.has_late_order.is_none_or(|b| b == f.has_late_order)
    }
}

impl TriageThen {
    pub fn check(&self) -> Result<(), Invalid> {
        if let Some(p) = &self.priority {
            Priority::parse_field(p).map_err(|e| e.under("then"))?;
        }
        if *self == TriageThen::default() {
            return Err(Invalid::new("then", "a rule needs at least one action"));
        }
        Ok(())
    }
}

/// The placeholders a macro's text may use, each written `{{name}}`.
pub const PLACEHOLDERS: [&str; 7] = [
    "requester.name",
    "requester.first_name",
    "ticket.reference",
    "ticket.subject",
    "order.number",
    "order.tracking",
    "agent.name",
];

/// The placeholders of a macro's text, checked: each `{{...}}` must be one of
/// [`PLACEHOLDERS`], and every `{{` closed.
pub fn placeholders_in(text: &str) -> Result<Vec<&str>, Invalid> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        let after = &rest[at + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| Invalid::new("body", "a {{ is not closed by }}"))?;
        let name = after[..end].trim();
        if !PLACEHOLDERS.contains(&name) {
            return Err(Invalid::new(
                "body",
                format!(
                    "{{{{{name}}}}} is not a placeholder; use {}",
                    PLACEHOLDERS.join(", ")
                ),
            ));
        }
        out.push(name);
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// A macro's text with each placeholder replaced by its value (empty when the ticket has none,
/// an order's tracking link on a ticket with no shipment, say).
pub fn render(text: &str, value: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find("}}") {
            Some(end) => {
                out.push_str(&value(after[..end].trim()).unwrap_or_default());
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_messages_reopen_but_never_a_closed_ticket() {
        assert_eq!(on_customer_message(Status::New), Some(Status::New));
        for s in [
            Status::Open,
            Status::Pending,
            Status::OnHold,
            Status::Solved,
        ] {
            assert_eq!(on_customer_message(s), Some(Status::Open), "{s:?}");
        }
        assert_eq!(on_customer_message(Status::Closed), None);
    }

    #[test]
    fn staff_status_changes() {
        assert!(change_status(Status::Open, Status::New).is_err());
        assert!(change_status(Status::Open, Status::Closed).is_err());
        assert_eq!(
            change_status(Status::Solved, Status::Closed),
            Ok(Status::Closed)
        );
        assert!(change_status(Status::Closed, Status::Open).is_err());
        assert_eq!(
            change_status(Status::New, Status::Solved),
            Ok(Status::Solved)
        );
        assert_eq!(on_agent_reply(Status::New, None), Ok(Status::Pending));
        assert_eq!(
            on_agent_reply(Status::Open, Some(Status::Solved)),
            Ok(Status::Solved)
        );
        assert_eq!(on_agent_reply(Status::Solved, None), Ok(Status::Solved));
        assert!(on_agent_reply(Status::Closed, None).is_err());
    }

    #[test]
    fn ticket_references() {
        assert_eq!(
            ticket_in_subject(&format!("Re: Where is it? {}", ticket_ref(42))),
            Some(42)
        );
        assert_eq!(ticket_in_subject("Re: [T-] x"), None);
        assert_eq!(ticket_in_subject("[T-12a]"), None);
        assert_eq!(ticket_in_subject("no reference #1042"), None);
    }

    #[test]
    fn order_numbers() {
        assert_eq!(
            order_numbers_in("Where is #1042? Also ORDER 1043, order no. 1044 and order #1042"),
            vec![1042, 1043, 1044]
        );
        assert_eq!(order_numbers_in("order number: 2001"), vec![2001]);
        assert!(
            order_numbers_in("I bought 2 items for 1042 euros, #12, a#1042, #1042b").is_empty()
        );
        assert!(order_numbers_in("reorder 1042").is_empty());
        assert_eq!(order_numbers_in("Commande é #1050"), vec![1050]);
    }

    #[test]
    fn triage_conditions() {
        let f = TriageFacts {
            text: "I will file a CHARGEBACK with my bank",
            channel: Channel::Email,
            lifetime_value: 50_000,
            has_open_order: true,
            has_late_order: false,
        };
        let when = |w: TriageWhen| w.fits(&f);
        assert!(when(TriageWhen {
            text_contains: vec!["chargeback".into()],
            ..Default::default()
        }));
        assert!(!when(TriageWhen {
            text_contains: vec!["refund".into()],
            ..Default::default()
        }));
        assert!(when(TriageWhen {
            min_lifetime_value: Some(50_000),
            channel: Some("email".into()),
            ..Default::default()
        }));
        assert!(!when(TriageWhen {
            min_lifetime_value: Some(50_001),
            ..Default::default()
        }));
        assert!(!when(TriageWhen {
            has_late_order: Some(true),
            ..Default::default()
        }));
        assert!(when(TriageWhen {
            has_open_order: Some(true),
            ..Default::default()
        }));
        assert!(TriageWhen::default().check().is_err());
        assert!(TriageThen::default().check().is_err());
        assert!(
            TriageThen {
                priority: Some("asap".into()),
                ..Default::default()
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn macros_render_known_placeholders() {
        let text =
            "Hi {{ requester.first_name }}, order {{order.number}} ships: {{order.tracking}}";
        assert_eq!(
            placeholders_in(text).unwrap(),
            vec!["requester.first_name", "order.number", "order.tracking"]
        );
        assert!(placeholders_in("{{customer.password}}").is_err());
        assert!(placeholders_in("Hi {{requester.name").is_err());
        let v = |k: &str| match k {
            "requester.first_name" => Some("Ann".to_string()),
            "order.number" => Some("#1042".to_string()),
            _ => None,
        };
        assert_eq!(render(text, &v), "Hi Ann, order #1042 ships: ");
    }

    #[test]
    fn threading_headers() {
        assert_eq!(
            message_ids("<a@x.example> <b@y.example>,<a@x.example>"),
            vec!["a@x.example", "b@y.example"]
        );
        assert_eq!(message_ids("  "), Vec::<String>::new());
        assert_eq!(message_ids("bare@id"), vec!["bare@id"]);
    }
}
