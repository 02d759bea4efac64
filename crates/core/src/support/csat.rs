//! Satisfaction surveys. When a reply solves a ticket that is answered by email, the mail
//! carries a link to a survey: a random token, stored hashed, so the link is the customer's
//! only key (no sign-in). The customer rates the answer `good` or `bad` with an optional
//! comment, and may change it while the ticket is not closed. CSAT is good ratings over all
//! ratings (DOMAIN.md).

use crate::db::Sql;
use crate::util::{opt_rfc3339, random_hex, sha256_hex};
use crate::{Ctx, Error, Result, audit, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// A ticket's survey as the customer and staff see it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Satisfaction {
    /// `good` or `bad`; none until the customer answers.
    pub rating: Option<String>,
    pub comment: Option<String>,
    pub rated_at: Option<String>,
}

/// What the survey page shows.
pub struct Survey {
    pub reference: String,
    pub subject: String,
    pub satisfaction: Satisfaction,
    pub closed: bool,
}

/// A new survey token for a ticket (a new one each time it is solved); the raw token, which is
/// stored hashed.
pub(crate) fn issue(tx: &mut dyn Sql, ctx: &Ctx, ticket: i64) -> Result<String> {
    let token = random_hex(24);
    let hash = sha256_hex(&token);
    let n = tx.exec(
        "UPDATE support_csat SET token_hash = $1 WHERE ticket_id = $2",
        params![hash.as_str(), ticket],
    )?;
    if n == 0 {
        tx.exec(
            "INSERT INTO support_csat (ticket_id, token_hash, created_at) VALUES ($1, $2, $3)",
            params![ticket, hash.as_str(), ctx.now],
        )?;
    }
    Ok(token)
}

/// A ticket's rating, if it has a survey.
pub(crate) fn of_ticket(tx: &mut dyn Sql, ticket: i64) -> Result<Option<Satisfaction>> {
    Ok(
        match tx.query_one(
            "SELECT rating, comment, rated_at FROM support_csat WHERE ticket_id = $1",
            params![ticket],
        )? {
            Some(r) => Some(Satisfaction {
                rating: r.get("rating")?,
                comment: r.get("comment")?,
                rated_at: opt_rfc3339(r.get("rated_at")?),
            }),
            None => None,
        },
    )
}

fn ticket_of_token(tx: &mut dyn Sql, token: &str) -> Result<i64> {
    let bad = || Error::NotFound { entity: "survey" };
    if token.len() != 48 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    tx.query_one(
        "SELECT ticket_id FROM support_csat WHERE token_hash = $1",
        params![sha256_hex(token)],
    )?
    .ok_or_else(bad)?
    .get::<i64>("ticket_id")
    .map_err(Error::from)
}

/// The survey a token opens.
pub fn survey(tx: &mut dyn Sql, token: &str) -> Result<Survey> {
    let ticket = ticket_of_token(tx, token)?;
    let t = super::get_ticket(tx, ticket)?.ticket;
    Ok(Survey {
        reference: t.reference,
        subject: t.subject,
        satisfaction: of_ticket(tx, ticket)?.ok_or(Error::NotFound { entity: "survey" })?,
        closed: t.status == "closed",
    })
}

/// Records the customer's rating (`good` or `bad`) and comment.
pub fn rate(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    token: &str,
    rating: &str,
    comment: Option<&str>,
) -> Result<Satisfaction> {
    let ticket = ticket_of_token(tx, token)?;
    set_rating(tx, ctx, ticket, rating, comment)
}

/// Records a rating the customer gave another way (on the phone, in another survey tool): a
/// lead's to note, on a solved or closed ticket.
pub fn record(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    ticket: i64,
    rating: &str,
    comment: Option<&str>,
) -> Result<Satisfaction> {
    ctx.actor
        .require(backroom_domain::roles::Permission::SupportManage)?;
    let status = super::get_ticket(tx, ticket)?.ticket.status;
    if status != "solved" {
        return Err(Error::conflict(
            "ticket_not_solved",
            "only a solved ticket is rated",
        ));
    }
    if of_ticket(tx, ticket)?.is_none() {
        issue(tx, ctx, ticket)?;
    }
    set_rating(tx, ctx, ticket, rating, comment)
}

fn set_rating(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    ticket: i64,
    rating: &str,
    comment: Option<&str>,
) -> Result<Satisfaction> {
    if !matches!(rating, "good" | "bad") {
        return Err(Error::invalid("rating", "must be good or bad"));
    }
    let comment = backroom_domain::values::optional_text(
        "comment",
        comment.map(str::trim).filter(|c| !c.is_empty()),
        2000,
    )?;
    if super::get_ticket(tx, ticket)?.ticket.status == "closed" {
        return Err(Error::conflict(
            "ticket_closed",
            "the ticket is closed: its survey is over",
        ));
    }
    tx.exec(
        "UPDATE support_csat SET rating = $1, comment = $2, rated_at = $3 WHERE ticket_id = $4",
        params![rating, comment.clone(), ctx.now, ticket],
    )?;
    audit::record(
        tx,
        ctx,
        "ticket.rated",
        "ticket",
        ticket,
        json!({"rating": rating, "comment": comment}),
    )?;
    of_ticket(tx, ticket)?.ok_or(Error::NotFound { entity: "survey" })
}
