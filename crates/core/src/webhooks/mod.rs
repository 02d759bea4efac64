//! Outbound webhooks, built as an outbox.
//!
//! [`emit`] writes the event and one pending delivery per matching subscription in the caller's
//! transaction: an event exists exactly when its change committed, and nothing is sent for a
//! change that rolled back. A worker (in the server) [`claim`]s due deliveries with a lease, sends
//! them signed, and records the outcome with [`complete`]; a delivery whose worker died is claimed
//! again when its lease runs out, so nothing is lost across a restart (delivery is at least once;
//! receivers deduplicate by the delivery id header).
//!
//! Signing secrets are the one secret stored in the clear: the HMAC needs the key itself.

use crate::db::{DbError, Row, Sql};
use crate::util::{hex, opt_rfc3339, random_hex, rfc3339};
use crate::{Ctx, Error, Result, audit, params};
use backroom_domain::roles::Permission;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

pub const EVENT_TYPES: [&str; 7] = [
    "order.created",
    "order.paid",
    "order.fulfilled",
    "order.cancelled",
    "order.refunded",
    "return.received",
    "inventory.low",
];

/// Attempts before a delivery is marked failed.
pub const MAX_ATTEMPTS: i64 = 10;

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    pub event_types: Vec<String>,
    pub active: bool,
    pub created_at: String,
    /// The signing secret: only in the response that creates the subscription.
    pub secret: Option<String>,
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// An http(s) URL that accepts POSTed JSON.
    pub url: String,
    /// Any of `order.created`, `order.paid`, `order.fulfilled`, `order.cancelled`,
    /// `order.refunded`, `return.received`, `inventory.low`.
    pub event_types: Vec<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug)]
pub struct Delivery {
    pub id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub subscription_id: i64,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: String,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
    pub created_at: String,
}

/// A delivery claimed by a worker: everything needed to send it.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub delivery_id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub url: String,
    pub secret: String,
    pub body: String,
    pub attempts: i64,
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let (mut ipad, mut opad) = ([0x36u8; 64], [0x5cu8; 64]);
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let inner = Sha256::new()
        .chain_update(ipad)
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(opad)
        .chain_update(inner)
        .finalize()
        .into()
}

/// The `Backroom-Signature` header: `t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">`.
pub fn signature(secret: &str, timestamp_s: i64, body: &str) -> String {
    format!(
        "t={timestamp_s},v1={}",
        hex(&hmac_sha256(
            secret.as_bytes(),
            format!("{timestamp_s}.{body}").as_bytes()
        ))
    )
}

fn subscription_from(r: &Row) -> std::result::Result<Subscription, DbError> {
    Ok(Subscription {
        id: r.get("id")?,
        url: r.get("url")?,
        event_types: crate::util::from_json(&r.get::<String>("event_types")?),
        active: r.get("active")?,
        created_at: rfc3339(r.get("created_at")?),
        secret: None,
    })
}

pub fn create_subscription(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    n: &NewSubscription,
) -> Result<Subscription> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let url = n.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(Error::invalid(
            "url",
            "must be an http(s) URL of at most 2000 characters",
        ));
    }
    if n.event_types.is_empty() {
        return Err(Error::invalid(
            "event_types",
            "subscribe to at least one event type",
        ));
    }
    for (i, t) in n.event_types.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            return Err(Error::invalid(
                format!("event_types[{i}]"),
                format!("must be one of {}", EVENT_TYPES.join(", ")),
            ));
        }
    }
    let secret = format!("whsec_{}", random_hex(24));
    let r = tx
        .query_one(
            "INSERT INTO webhook_subscriptions (url, event_types, secret, active, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id, url, event_types, active, created_at",
            params![url, crate::util::to_json(&n.event_types), secret.as_str(), true, ctx.now],
        )?
        .ok_or(Error::NotFound { entity: "subscription" })?;
    let mut s = subscription_from(&r)?;
    audit::record(
        tx,
        ctx,
        "webhook.subscribed",
        "webhook_subscription",
        s.id,
        json!({"url": url, "event_types": n.event_types}),
    )?;
    s.secret = Some(secret);
    Ok(s)
}

pub fn list_subscriptions(tx: &mut dyn Sql, ctx: &Ctx) -> Result<Vec<Subscription>> {
    ctx.actor.require(Permission::SettingsWrite)?;
    Ok(tx
        .query(
            "SELECT id, url, event_types, active, created_at FROM webhook_subscriptions ORDER BY id",
            &[],
        )?
        .iter()
        .map(subscription_from)
        .collect::<std::result::Result<_, _>>()?)
}

/// Subscriptions in the order they were made, paged.
pub fn subscriptions_page(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    q: &PageQuery,
) -> Result<crate::api::Page<Subscription>> {
    ctx.actor.require(Permission::SettingsWrite)?;
    crate::util::keyset_page(
        tx,
        "SELECT id, url, event_types, active, created_at FROM webhook_subscriptions",
        crate::util::Filter::default(),
        q,
        crate::util::Keyset::IdAsc,
        "id",
        subscription_from,
        |s| (String::new(), s.id),
    )
}

pub fn deactivate_subscription(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Subscription> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let n = tx.exec(
        "UPDATE webhook_subscriptions SET active = $1 WHERE id = $2",
        params![false, id],
    )?;
    if n == 0 {
        return Err(Error::NotFound {
            entity: "subscription",
        });
    }
    audit::record(
        tx,
        ctx,
        "webhook.unsubscribed",
        "webhook_subscription",
        id,
        json!({}),
    )?;
    let r = tx.query_one("SELECT id, url, event_types, active, created_at FROM webhook_subscriptions WHERE id = $1", params![id])?.ok_or(Error::NotFound { entity: "subscription" })?;
    Ok(subscription_from(&r)?)
}

/// Records an event in the outbox inside the caller's transaction, if any active subscription
/// wants its type: one deferred statement, so it never costs a round trip, and nothing at all
/// when nobody listens. The worker fans it out to deliveries ([`fan_out`]).
pub fn emit(
    tx: &mut dyn Sql,
    now: i64,
    event_type: &'static str,
    data: serde_json::Value,
) -> Result<()> {
    // The pattern is written into the statement rather than bound: SQLite compiles a statement
    // again after every binding of a LIKE pattern (the value may change the plan), which on the
    // order path cost the single writer a parse per order. Event types are Backroom's constants.
    tx.exec_deferred(
        &format!(
            "INSERT INTO webhook_events (event_type, payload, fanned_out, created_at) SELECT $1, $2, 0, $3 \
             WHERE EXISTS (SELECT 1 FROM webhook_subscriptions WHERE active = $4 AND event_types LIKE '%\"{}\"%')",
            event_type.replace('\'', "''")
        ),
        params![event_type, data.to_string(), now, true],
    )?;
    Ok(())
}

/// Turns new events into one pending delivery per active subscription to their type, in event
/// order. One fan-out runs at a time (PostgreSQL: an advisory lock; another server's worker skips
/// its turn), so a subscription's deliveries are numbered in the order its events were fanned out,
/// which is the order [`claim`] sends them in.
pub fn fan_out(tx: &mut dyn Sql, now: i64) -> Result<u64> {
    if tx.dialect() == crate::Dialect::Postgres {
        let got = tx
            .query_one("SELECT pg_try_advisory_xact_lock(7302) AS got", &[])?
            .map(|r| r.get::<bool>("got"))
            .transpose()?
            .unwrap_or(false);
        if !got {
            return Ok(0);
        }
    }
    let events = tx.query(
        "SELECT id, event_type FROM webhook_events WHERE fanned_out = 0 ORDER BY id LIMIT 500",
        &[],
    )?;
    if events.is_empty() {
        return Ok(0);
    }
    let subs = tx.query(
        "SELECT id, event_types FROM webhook_subscriptions WHERE active = $1 ORDER BY id",
        params![true],
    )?;
    let subs: Vec<(i64, Vec<String>)> = subs
        .iter()
        .map(|s| {
            Ok((
                s.get("id")?,
                crate::util::from_json::<Vec<String>>(&s.get::<String>("event_types")?),
            ))
        })
        .collect::<std::result::Result<_, DbError>>()?;
    let events: Vec<(i64, String)> = events
        .iter()
        .map(|e| Ok((e.get("id")?, e.get("event_type")?)))
        .collect::<std::result::Result<_, DbError>>()?;
    let mut n = 0;
    for (event, event_type) in &events {
        for (sub, _) in subs.iter().filter(|(_, types)| types.contains(event_type)) {
            tx.exec(
                "INSERT INTO webhook_deliveries (event_id, subscription_id, status, attempts, next_attempt_at, created_at) VALUES ($1, $2, 'pending', 0, $3, $3)",
                params![*event, *sub, now],
            )?;
            n += 1;
        }
    }
    // By id, not by range: on PostgreSQL an event inside the range may commit after this read.
    let ids: Vec<crate::db::Val> = events.iter().map(|(id, _)| (*id).into()).collect();
    crate::db::exec_in(
        tx,
        "UPDATE webhook_events SET fanned_out = 1 WHERE {}",
        "id",
        &ids,
    )?;
    Ok(n)
}

/// How many deliveries of one subscription a claim takes at most (sent one after another).
const CLAIM_PER_SUBSCRIPTION: i64 = 50;

/// Claims due deliveries for `lease_micros`, for up to `limit` subscriptions: they are not due
/// again until the lease ends, so a worker that dies mid-send leaves them to be claimed again.
///
/// A subscription's deliveries go out in order: only a subscription whose oldest pending delivery
/// is due is claimed, and then that delivery with up to [`CLAIM_PER_SUBSCRIPTION`] - 1 of the
/// pending ones behind it, in order. The worker sends them one after another and stops at the
/// first failure, giving the rest back ([`release`]), so a later event never overtakes an earlier
/// one that is being retried. The result is grouped by subscription, each group in order.
pub fn claim(
    tx: &mut dyn Sql,
    now: i64,
    limit: i64,
    lease_micros: i64,
) -> Result<Vec<Vec<Claimed>>> {
    let lock = match tx.dialect() {
        crate::Dialect::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        crate::Dialect::Sqlite => "",
    };
    let heads = tx.query(
        &format!(
            "SELECT d.id, d.subscription_id FROM webhook_deliveries d \
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.subscription_id = d.subscription_id AND p.status = 'pending' AND p.id < d.id) \
             ORDER BY d.next_attempt_at, d.id LIMIT $2{lock}"
        ),
        params![now, limit],
    )?;
    let mut out = Vec::with_capacity(heads.len());
    for h in &heads {
        let (head, subscription): (i64, i64) = (h.get("id")?, h.get("subscription_id")?);
        let rows = tx.query(
            "SELECT d.id, d.event_id, e.event_type, s.url, s.secret, e.payload, d.attempts, e.created_at FROM webhook_deliveries d \
             JOIN webhook_events e ON e.id = d.event_id JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             WHERE d.subscription_id = $1 AND d.status = 'pending' AND d.id >= $2 ORDER BY d.id LIMIT $3",
            params![subscription, head, CLAIM_PER_SUBSCRIPTION],
        )?;
        if rows.is_empty() {
            continue;
        }
        let claimed_rows = rows
            .iter()
            .map(claimed_from)
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let ids: Vec<crate::db::Val> = claimed_rows.iter().map(|c| c.delivery_id.into()).collect();
        let (claimed, list) = crate::db::in_list(tx.dialect(), "id", 2, &ids);
        tx.exec(
            &format!(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = $1 WHERE {claimed}"
            ),
            &[(now + lease_micros).into(), list],
        )?;
        out.push(claimed_rows);
    }
    Ok(out)
}

fn claimed_from(r: &Row) -> std::result::Result<Claimed, DbError> {
    let data: serde_json::Value =
        serde_json::from_str(&r.get::<String>("payload")?).unwrap_or(serde_json::Value::Null);
    let (event_id, event_type): (i64, String) = (r.get("event_id")?, r.get("event_type")?);
    let created_at: i64 = r.get("created_at")?;
    let body = json!({"id": event_id, "type": event_type, "created_at": rfc3339(created_at), "data": data})
        .to_string();
    Ok(Claimed {
        delivery_id: r.get("id")?,
        event_id,
        event_type,
        url: r.get("url")?,
        secret: r.get("secret")?,
        body,
        attempts: r.get::<i64>("attempts")? + 1,
    })
}

/// Gives back claimed deliveries that were not sent (an earlier one of their subscription failed):
/// the claim does not count as an attempt, and they are due again at once, behind the one that
/// failed.
pub fn release(tx: &mut dyn Sql, now: i64, unsent: &[Claimed]) -> Result<()> {
    for c in unsent {
        tx.exec(
            "UPDATE webhook_deliveries SET attempts = attempts - 1, next_attempt_at = $1 WHERE id = $2 AND status = 'pending' AND attempts > 0",
            params![now, c.delivery_id],
        )?;
    }
    Ok(())
}

/// Records the outcome of one attempt: delivered on a 2xx; otherwise retried with exponential
/// backoff (`base_micros * 2^(attempts-1)`, at most an hour) until [`MAX_ATTEMPTS`], then failed.
pub fn complete(
    tx: &mut dyn Sql,
    now: i64,
    c: &Claimed,
    status_code: Option<i64>,
    error: Option<&str>,
    base_micros: i64,
) -> Result<()> {
    if status_code.is_some_and(|s| (200..300).contains(&s)) {
        tx.exec("UPDATE webhook_deliveries SET status = 'delivered', delivered_at = $1, last_status_code = $2, last_error = NULL WHERE id = $3", params![now, status_code, c.delivery_id])?;
    } else if c.attempts >= MAX_ATTEMPTS {
        tx.exec("UPDATE webhook_deliveries SET status = 'failed', last_status_code = $1, last_error = $2 WHERE id = $3", params![status_code, error, c.delivery_id])?;
    } else {
        let backoff = base_micros
            .saturating_mul(1i64 << (c.attempts - 1).clamp(0, 30))
            .min(3_600_000_000);
        tx.exec(
            "UPDATE webhook_deliveries SET next_attempt_at = $1, last_status_code = $2, last_error = $3 WHERE id = $4",
            params![now + backoff, status_code, error, c.delivery_id],
        )?;
    }
    Ok(())
}

fn delivery_from(r: &Row) -> std::result::Result<Delivery, DbError> {
    Ok(Delivery {
        id: r.get("id")?,
        event_id: r.get("event_id")?,
        event_type: r.get("event_type")?,
        subscription_id: r.get("subscription_id")?,
        status: r.get("status")?,
        attempts: r.get("attempts")?,
        next_attempt_at: rfc3339(r.get("next_attempt_at")?),
        last_status_code: r.get("last_status_code")?,
        last_error: r.get("last_error")?,
        delivered_at: opt_rfc3339(r.get("delivered_at")?),
        created_at: rfc3339(r.get("created_at")?),
    })
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.event_id, e.event_type, d.subscription_id, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error, d.delivered_at, d.created_at \
     FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id";

/// The delivery log of a subscription, newest first.
pub fn deliveries(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    subscription_id: i64,
    limit: i64,
) -> Result<Vec<Delivery>> {
    Ok(deliveries_page(
        tx,
        ctx,
        subscription_id,
        &PageQuery {
            limit: Some(limit),
            cursor: None,
        },
    )?
    .items)
}

pub use crate::api::PageQuery;

/// A subscription's deliveries, newest first, paged like every list.
pub fn deliveries_page(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    subscription_id: i64,
    q: &PageQuery,
) -> Result<crate::api::Page<Delivery>> {
    use crate::util::{decode_cursor, encode_cursor, page, page_limit};
    ctx.actor.require(Permission::SettingsWrite)?;
    let limit = page_limit(q.limit)?;
    let before = match &q.cursor {
        Some(c) => decode_cursor(c)?.1,
        None => i64::MAX,
    };
    let mut items: Vec<Delivery> = tx
        .query(
            &format!("{DELIVERY_SELECT} WHERE d.subscription_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3"),
            params![subscription_id, before, limit + 1],
        )?
        .iter()
        .map(delivery_from)
        .collect::<std::result::Result<_, _>>()?;
    Ok(page(&mut items, limit, |d| encode_cursor("", d.id)))
}

/// Sends a delivery again now, whatever its state (a receiver that lost it, or a failed one).
pub fn replay(tx: &mut dyn Sql, ctx: &Ctx, delivery_id: i64) -> Result<Delivery> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let n = tx.exec("UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1 WHERE id = $2", params![ctx.now, delivery_id])?;
    if n == 0 {
        return Err(Error::NotFound { entity: "delivery" });
    }
    audit::record(
        tx,
        ctx,
        "webhook.replayed",
        "webhook_delivery",
        delivery_id,
        json!({}),
    )?;
    let r = tx
        .query_one(
            &format!("{DELIVERY_SELECT} WHERE d.id = $1"),
            params![delivery_id],
        )?
        .ok_or(Error::NotFound { entity: "delivery" })?;
    Ok(delivery_from(&r)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231.
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert_eq!(
            signature("k", 10, "{}"),
            format!("t=10,v1={}", hex(&hmac_sha256(b"k", b"10.{}")))
        );
    }
}
