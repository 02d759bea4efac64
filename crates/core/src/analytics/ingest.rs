//! Storefront events in: a batch (a JSON array, or one JSON object per line) is checked event by
//! event; good events are stored in one transaction, deduplicated by their id; bad ones come back
//! with their position, the field and the reason. Nothing accepted is ever lost: the answer comes
//! after the commit.

use crate::db::{Dialect, Sql, Val, fixed_chunks, values_sql};
use crate::util::parse_time;
use crate::{Error, Result};
use backroom_domain::analytics::{DAY_MICROS, EventType};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The most events one request may carry.
pub const MAX_BATCH: usize = 50_000;

/// One storefront event as a storefront sends it.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// The sender's unique id for this event; a second event with the same id is a duplicate.
    pub id: String,
    /// `page_view`, `product_view`, `search`, `add_to_cart`, `remove_from_cart`,
    /// `checkout_started` or `purchase`.
    #[serde(rename = "type")]
    pub kind: String,
    pub visitor_id: String,
    /// RFC 3339.
    pub timestamp: String,
    /// The page's full URL; its path and `utm_*` query parameters are used when not given apart.
    pub url: Option<String>,
    pub path: Option<String>,
    pub referrer: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    /// `desktop`, `mobile`, `tablet` or `other`.
    pub device: Option<String>,
    /// ISO 3166-1 alpha-2, e.g. `FR`.
    pub country: Option<String>,
    /// The order a `purchase` completed (required for purchases), e.g. `1042` or `"#1042"`.
    pub order_number: Option<serde_json::Value>,
    pub sku: Option<String>,
    /// The search terms of a `search`.
    pub query: Option<String>,
}

/// A checked event, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    pub event_id: String,
    pub kind: EventType,
    pub visitor_id: String,
    pub ts: i64,
    pub path: String,
    pub referrer_host: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_campaign: Option<String>,
    pub device: Option<String>,
    pub country: Option<String>,
    pub order_number: Option<i64>,
    pub sku: Option<String>,
    pub query: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Rejected {
    /// The event's position in the batch, from 0 (for NDJSON, its line number minus one).
    pub index: usize,
    pub id: Option<String>,
    pub field: String,
    pub message: String,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default)]
pub struct IngestReport {
    /// Events stored by this request.
    pub accepted: usize,
    /// Events whose id was already stored (or repeated in this batch): ignored, not an error.
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}

/// The items of a batch body, a JSON array or one JSON object per line, each with its position
/// (for NDJSON, its line number minus one) and either its value or why it is not JSON.
pub type Items = Vec<(usize, std::result::Result<serde_json::Value, String>)>;

pub fn split(body: &[u8]) -> Result<Items> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::invalid("body", "events must be UTF-8 JSON"))?;
    let trimmed = text.trim_start();
    let items: Items = if trimmed.starts_with('[') {
        let all: Vec<serde_json::Value> = serde_json::from_str(trimmed).map_err(|e| {
            Error::invalid(
                "body",
                format!("the JSON array of events is malformed: {e}"),
            )
        })?;
        all.into_iter()
            .enumerate()
            .map(|(i, v)| (i, Ok(v)))
            .collect()
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i, serde_json::from_str(l).map_err(|e| e.to_string())))
            .collect()
    };
    if items.is_empty() {
        return Err(Error::invalid("body", "send at least one event"));
    }
    if items.len() > MAX_BATCH {
        return Err(Error::invalid(
            "body",
            format!("send at most {MAX_BATCH} events per request"),
        ));
    }
    Ok(items)
}

/// Splits a request body into checked events and rejections. A body that is neither a JSON array
/// nor lines of JSON objects is refused whole.
pub fn parse_batch(body: &[u8], now: i64) -> Result<(Vec<NewEvent>, Vec<Rejected>)> {
    let items = split(body)?;
    let mut good = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (index, item) in items {
        let value = match item {
            Ok(v) => v,
            Err(e) => {
                bad.push(Rejected {
                    index,
                    id: None,
                    field: String::new(),
                    message: format!("not a JSON object: {e}"),
                });
                continue;
            }
        };
        let id = value.get("id").and_then(|v| v.as_str()).map(String::from);
        let parsed = serde_json::from_value::<EventIn>(value)
            .map_err(|e| {
                let msg = e.to_string();
                let field = msg
                    .find('`')
                    .and_then(|s| {
                        msg[s + 1..]
                            .find('`')
                            .map(|l| msg[s + 1..s + 1 + l].to_string())
                    })
                    .unwrap_or_default();
                (field, msg)
            })
            .and_then(|e| check(e, now).map_err(|e| (e.field, e.message)));
        match parsed {
            Ok(e) => good.push(e),
            Err((field, message)) => bad.push(Rejected {
                index,
                id,
                field,
                message,
            }),
        }
    }
    Ok((good, bad))
}

/// An optional text: trimmed, empty as absent, at most `max` characters.
fn text(
    field: &str,
    v: Option<String>,
    max: usize,
) -> Result<Option<String>, backroom_domain::Invalid> {
    backroom_domain::values::optional_text(
        field,
        v.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        max,
    )
}

/// Checks one event; the error names the field.
pub fn check(e: EventIn, now: i64) -> Result<NewEvent, backroom_domain::Invalid> {
    use backroom_domain::Invalid;
    let event_id = text("id", Some(e.id), 200)?.ok_or_else(|| Invalid::new("id", "is required"))?;
    let kind = EventType::parse(&e.kind).ok_or_else(|| {
        Invalid::new(
            "type",
            "must be page_view, product_view, search, add_to_cart, remove_from_cart, checkout_started or purchase",
        )
    })?;
    let visitor_id = text("visitor_id", Some(e.visitor_id), 200)?
        .ok_or_else(|| Invalid::new("visitor_id", "is required"))?;
    let ts = parse_time("timestamp", &e.timestamp).map_err(|_| {
        Invalid::new(
            "timestamp",
            "must be an RFC 3339 time like 2026-11-23T10:00:00Z",
        )
    })?;
    if ts > now + DAY_MICROS {
        return Err(Invalid::new(
            "timestamp",
            "is more than a day in the future; check the sender's clock",
        ));
    }
    let url = text("url", e.url, 2000)?.map(|u| Url::parse(&u));
    let path = match text("path", e.path, 2000)? {
        Some(p) => p,
        None => url
            .as_ref()
            .map(|u| u.path.clone())
            .unwrap_or_else(|| "/".into()),
    };
    let param = |name: &str| url.as_ref().and_then(|u| u.param(name));
    let utm_source = text(
        "utm_source",
        e.utm_source.or_else(|| param("utm_source")),
        200,
    )?;
    let utm_medium = text(
        "utm_medium",
        e.utm_medium.or_else(|| param("utm_medium")),
        200,
    )?;
    let utm_campaign = text(
        "utm_campaign",
        e.utm_campaign.or_else(|| param("utm_campaign")),
        200,
    )?;
    // A referrer from the store's own site is navigation, not a source.
    let referrer_host = text("referrer", e.referrer, 2000)?
        .map(|r| Url::parse(&r).host)
        .filter(|h| !h.is_empty())
        .filter(|h| url.as_ref().is_none_or(|u| &u.host != h));
    let device = match text("device", e.device, 20)?.map(|d| d.to_lowercase()) {
        None => None,
        Some(d) if ["desktop", "mobile", "tablet", "other"].contains(&d.as_str()) => Some(d),
        Some(_) => {
            return Err(Invalid::new(
                "device",
                "must be desktop, mobile, tablet or other",
            ));
        }
    };
    let country = match text("country", e.country, 2)? {
        None => None,
        Some(c) if c.len() == 2 && c.chars().all(|c| c.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase())
        }
        Some(_) => {
            return Err(Invalid::new(
                "country",
                "must be a two-letter ISO 3166 code such as FR",
            ));
        }
    };
    let order_number = match e.order_number {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => Some(
            n.as_i64()
                .filter(|n| *n > 0)
                .ok_or_else(|| Invalid::new("order_number", "must be a positive whole number"))?,
        ),
        Some(serde_json::Value::String(s)) => Some(
            s.trim()
                .trim_start_matches('#')
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Invalid::new("order_number", "must be an order number like 1042"))?,
        ),
        Some(_) => {
            return Err(Invalid::new(
                "order_number",
                "must be an order number like 1042",
            ));
        }
    };
    if kind == EventType::Purchase && order_number.is_none() {
        return Err(Invalid::new("order_number", "is required for a purchase"));
    }
    Ok(NewEvent {
        event_id,
        kind,
        visitor_id,
        ts,
        path,
        referrer_host,
        utm_source,
        utm_medium,
        utm_campaign,
        device,
        country,
        order_number,
        sku: text("sku", e.sku, 100)?,
        query: text("query", e.query, 500)?,
    })
}

/// The parts of a URL the analytics need, without a URL library: host, path and query.
struct Url {
    host: String,
    path: String,
    query: String,
}

impl Url {
    fn parse(s: &str) -> Url {
        let rest = s.split_once("://").map_or(s, |(_, r)| r);
        let (authority, rest) = if s.contains("://") {
            match rest.find(['/', '?', '#']) {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            }
        } else {
            ("", rest)
        };
        let host = authority
            .rsplit('@')
            .next()
            .unwrap_or("")
            .split(':')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let host = host.strip_prefix("www.").unwrap_or(&host).to_string();
        let rest = rest.split('#').next().unwrap_or("");
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Url {
            host,
            path: if path.is_empty() {
                "/".into()
            } else {
                path.into()
            },
            query: query.into(),
        }
    }

    fn param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| percent_decode(v))
        })
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const COLUMNS: [&str; 16] = [
    "event_id",
    "type",
    "visitor_id",
    "ts",
    "path",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "device",
    "country",
    "order_number",
    "sku",
    "search_query",
    "received_at",
    "seq",
];

/// Stores checked events in the caller's transaction; returns how many were new (the rest were
/// duplicates by id).
pub fn store(tx: &mut dyn Sql, events: &[NewEvent], now: i64) -> Result<usize> {
    if tx.dialect() == Dialect::Postgres {
        // Held until commit: the refresher takes it exclusively to learn which sequence numbers
        // are settled (see refresh::settled_bound).
        tx.exec("SELECT pg_advisory_xact_lock_shared(7301)", &[])?;
    }
    let cols = &COLUMNS[..15];
    let per = 30_000 / cols.len();
    let mut inserted = 0;
    let mut at = 0;
    for size in fixed_chunks(events.len(), per) {
        let chunk = &events[at..at + size];
        at += size;
        let sql = format!(
            "INSERT INTO events ({}) VALUES {} ON CONFLICT (event_id) DO NOTHING",
            cols.join(", "),
            values_sql(size, cols.len())
        );
        let mut vals: Vec<Val> = Vec::with_capacity(size * cols.len());
        for e in chunk {
            vals.extend([
                Val::from(e.event_id.as_str()),
                Val::from(e.kind.as_str()),
                Val::from(e.visitor_id.as_str()),
                Val::from(e.ts),
                Val::from(e.path.as_str()),
                Val::from(e.referrer_host.clone()),
                Val::from(e.utm_source.clone()),
                Val::from(e.utm_medium.clone()),
                Val::from(e.utm_campaign.clone()),
                Val::from(e.device.clone()),
                Val::from(e.country.clone()),
                Val::from(e.order_number),
                Val::from(e.sku.clone()),
                Val::from(e.query.clone()),
                Val::from(now),
            ]);
        }
        inserted += tx.exec(&sql, &vals)? as usize;
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse(
            "https://www.Shop.example:443/p/a?utm_source=google&utm_campaign=spring+sale%21#x",
        );
        assert_eq!(u.host, "shop.example");
        assert_eq!(u.path, "/p/a");
        assert_eq!(u.param("utm_source").as_deref(), Some("google"));
        assert_eq!(u.param("utm_campaign").as_deref(), Some("spring sale!"));
        assert_eq!(u.param("utm_medium"), None);
        assert_eq!(Url::parse("/cart").path, "/cart");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn batch_rejects_one_by_one() {
        let now = 1_800_000_000_000_000;
        let body = br#"{"id":"a","type":"page_view","visitor_id":"v","timestamp":"2026-11-23T10:00:00Z","url":"https://shop.example/?utm_source=news","referrer":"https://shop.example/x"}
not json
{"id":"b","type":"purchase","visitor_id":"v","timestamp":"2026-11-23T10:00:00Z"}
{"id":"c","type":"page_view","visitor_id":"v","timestamp":"2026-11-23T10:00:00Z","colour":"red"}
{"id":"d","type":"page_view","visitor_id":"v","timestamp":"2026-11-23T10:00:00Z","country":"France"}
"#;
        let (good, bad) = parse_batch(body, now).unwrap_or_default();
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].utm_source.as_deref(), Some("news"));
        assert_eq!(good[0].referrer_host, None, "own-site referrer dropped");
        let fields: Vec<(usize, &str)> = bad.iter().map(|r| (r.index, r.field.as_str())).collect();
        assert_eq!(
            fields,
            vec![(1, ""), (2, "order_number"), (3, "colour"), (4, "country")]
        );
        assert!(parse_batch(b"[{]", now).is_err());
        assert!(parse_batch(b"  ", now).is_err());
    }
}
