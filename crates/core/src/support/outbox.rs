//! Replies to send by email. A public reply to an email ticket is written here in the reply's own
//! transaction, with its `Message-ID` (also stored on the message, so the customer's answer
//! threads back onto the ticket) and its `In-Reply-To` and `References` (the ticket's earlier
//! message ids). The server's worker [`claim`]s due mail with a lease, hands it to the SMTP
//! server and marks it [`sent`]; a worker that stops mid-send leaves the mail to be claimed again
//! when its lease ends. So a reply is sent at least once, and a second sending (only after a
//! crash between the SMTP server's acceptance and [`sent`]) carries the same `Message-ID`, which
//! mail clients show once.

use crate::db::{Sql, query_as};
use crate::{Ctx, Result, params};
use backroom_domain::support as rules;

/// Attempts before a mail is given up as `failed`.
pub const MAX_ATTEMPTS: i64 = 8;

/// Queues the email of a public reply (with the survey token of a reply that solved the
/// ticket); stores its `Message-ID` on the message.
#[allow(clippy::too_many_arguments, reason = "one row's columns")]
pub(crate) fn queue_reply(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    subject: &str,
    to: &str,
    ticket: i64,
    message: i64,
    body: &str,
    survey: Option<&str>,
) -> Result<()> {
    crate::row! {
        struct IdRow { message_id: String }
    }
    // The ticket's earlier messages with ids, oldest first: the last is what this replies to.
    let earlier: Vec<String> = query_as::<IdRow>(
        tx,
        "SELECT message_id FROM support_messages WHERE ticket_id = $1 AND message_id IS NOT NULL AND id < $2 \
           AND message_id LIKE '%@%' ORDER BY id",
        params![ticket, message],
    )?
    .into_iter()
    .map(|r| r.message_id)
    .collect();
    let message_id = format!(
        "t{ticket}.m{message}.{}@backroom.support",
        crate::util::random_hex(8)
    );
    tx.exec(
        "UPDATE support_messages SET message_id = $1 WHERE id = $2",
        params![message_id.as_str(), message],
    )?;
    let reference = rules::ticket_ref(ticket);
    let base = subject.trim();
    let subject = if base.contains(&reference) {
        base.to_string()
    } else if base.to_ascii_lowercase().starts_with("re:") {
        format!("{base} {reference}")
    } else {
        format!("Re: {base} {reference}")
    };
    // References: the thread's first message and the last few, as mail clients keep them.
    let refs: Vec<&String> = match earlier.len() {
        0..=10 => earlier.iter().collect(),
        n => std::iter::once(&earlier[0])
            .chain(earlier[n - 9..].iter())
            .collect(),
    };
    let refs = refs
        .iter()
        .map(|r| format!("<{r}>"))
        .collect::<Vec<_>>()
        .join(" ");
    tx.exec(
        "INSERT INTO support_outbox (support_message_id, to_address, subject, body, message_id, in_reply_to, refs, csat_token, status, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $9)",
        params![
            message,
            to,
            subject.as_str(),
            body,
            message_id.as_str(),
            earlier.last().map(String::as_str),
            refs.as_str(),
            survey,
            ctx.now
        ],
    )?;
    Ok(())
}

crate::row! {
    /// A mail to send, as the worker gets it.
    pub struct OutMail {
        pub id: i64,
        pub to_address: String,
        pub subject: String,
        pub body: String,
        pub message_id: String,
        pub in_reply_to: Option<String>,
        pub refs: String,
        pub attempts: i64,
        /// The survey the mail links to, when it solved the ticket.
        pub csat_token: Option<String>,
    }
}

/// Claims up to `limit` due mails for `lease_micros`: they are not due again until the lease
/// ends, so a worker that stops mid-send leaves them to another.
pub fn claim(tx: &mut dyn Sql, now: i64, limit: i64, lease_micros: i64) -> Result<Vec<OutMail>> {
    let lock = match tx.dialect() {
        crate::Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::Dialect::Sqlite => "",
    };
    let due: Vec<OutMail> = query_as(
        tx,
        &format!(
            "SELECT id, to_address, subject, body, message_id, in_reply_to, refs, attempts, csat_token FROM support_outbox \
             WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2{lock}"
        ),
        params![now, limit],
    )?;
    for m in &due {
        tx.exec(
            "UPDATE support_outbox SET next_attempt_at = $1, attempts = attempts + 1 WHERE id = $2",
            params![now + lease_micros, m.id],
        )?;
    }
    Ok(due)
}

/// The SMTP server took the mail.
pub fn sent(tx: &mut dyn Sql, id: i64, now: i64) -> Result<()> {
    tx.exec(
        "UPDATE support_outbox SET status = 'sent', sent_at = $1, last_error = NULL, csat_token = NULL WHERE id = $2",
        params![now, id],
    )?;
    Ok(())
}

/// The mail could not be sent: tried again at `retry_at`, or given up (`failed`) when it is
/// `None` or the attempts are spent.
pub fn not_sent(
    tx: &mut dyn Sql,
    id: i64,
    error: &str,
    attempts: i64,
    retry_at: Option<i64>,
) -> Result<()> {
    let error: String = error.chars().take(500).collect();
    match retry_at.filter(|_| attempts < MAX_ATTEMPTS) {
        Some(at) => tx.exec(
            "UPDATE support_outbox SET next_attempt_at = $1, last_error = $2 WHERE id = $3",
            params![at, error.as_str(), id],
        )?,
        None => tx.exec(
            "UPDATE support_outbox SET status = 'failed', last_error = $1 WHERE id = $2",
            params![error.as_str(), id],
        )?,
    };
    Ok(())
}
