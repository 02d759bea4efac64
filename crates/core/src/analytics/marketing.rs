//! Marketing inputs: ad spend per campaign per day, and email campaigns with their events (sent,
//! delivered, bounced, opened, clicked) as an email provider's webhook reports them.

use super::Zone;
use super::ingest::{IngestReport, Rejected};
use crate::db::{DbError, Sql};
use crate::util::{parse_time, sha256_hex};
use crate::{Ctx, Error, Result, audit, params, settings};
use backroom_domain::analytics::{format_day, parse_day, ratio};
use backroom_domain::values::required_text;
use backroom_domain::{Currency, Invalid};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// What a campaign cost on one day.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SpendIn {
    /// The local date, `YYYY-MM-DD`.
    pub date: String,
    /// The `utm_source` the campaign's links carry, e.g. `google`.
    pub source: String,
    /// The `utm_medium`, e.g. `cpc`; `(none)` when absent.
    pub medium: Option<String>,
    /// The `utm_campaign`.
    pub campaign: String,
    /// Minor units (cents).
    pub amount: i64,
    /// The store's currency when absent.
    pub currency: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct SpendSaved {
    /// Rows written: a row for a (date, source, campaign) already stored replaces it.
    pub saved: usize,
}

/// Records ad spend, all rows or none. A row for a day, source and campaign already stored is
/// replaced, so sending a corrected file again is safe.
pub fn put_spend(tx: &mut dyn Sql, ctx: &Ctx, rows: &[SpendIn]) -> Result<SpendSaved> {
    if rows.is_empty() {
        return Err(Error::invalid("body", "send at least one row"));
    }
    let store = settings::load(tx)?.currency;
    for (i, r) in rows.iter().enumerate() {
        let f = |e: Invalid| Error::Invalid(e.under(&format!("[{i}]")));
        let day = parse_day(r.date.trim())
            .ok_or_else(|| f(Invalid::new("date", "must be a date like 2026-11-23")))?;
        let source = label("source", &r.source).map_err(f)?;
        let campaign = label("campaign", &r.campaign).map_err(f)?;
        let medium = match &r.medium {
            Some(m) if !m.trim().is_empty() => label("medium", m).map_err(f)?,
            _ => "(none)".into(),
        };
        if r.amount < 0 {
            return Err(f(Invalid::new("amount", "must not be negative")));
        }
        let currency = match &r.currency {
            Some(c) => Currency::parse(c).map_err(|e| f(e.under("currency")))?,
            None => store,
        };
        tx.exec(
            "INSERT INTO ad_spend (day, source, medium, campaign, currency, amount_minor, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (day, source, campaign) DO UPDATE SET medium = excluded.medium, currency = excluded.currency, amount_minor = excluded.amount_minor, updated_at = excluded.updated_at",
            params![i64::from(day), source, medium, campaign, currency.as_str(), r.amount, ctx.now],
        )?;
    }
    let total: i64 = rows.iter().map(|r| r.amount).sum();
    audit::record(
        tx,
        ctx,
        "ad_spend.recorded",
        "ad_spend",
        0,
        json!({"rows": rows.len(), "amount": total}),
    )?;
    Ok(SpendSaved { saved: rows.len() })
}

/// A required label (source, campaign, name...) of at most 200 characters.
fn label(field: &str, v: &str) -> Result<String, Invalid> {
    required_text(field, v, 200)
}

/// Reads an ad-spend CSV: `date,source,medium,campaign,amount[,currency]`, the amount in the
/// currency's units (`12.50`). Every bad row is reported with its line.
pub fn parse_spend_csv(bytes: &[u8], store: Currency) -> Result<Vec<SpendIn>> {
    let mut table =
        backroom_import::Table::new(bytes).map_err(|e| Error::invalid("body", e.to_string()))?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    while let Some(row) = table.next_row() {
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        let parsed = (|| {
            let currency = match row.get("currency").filter(|c| !c.trim().is_empty()) {
                Some(c) => {
                    Currency::parse(c).map_err(|e| row.error(Some("currency"), e.message))?
                }
                None => store,
            };
            let amount =
                backroom_import::money::parse_minor(row.require("amount")?, currency.exponent())
                    .map_err(|e| row.error(Some("amount"), e))?;
            Ok::<_, backroom_import::RowError>(SpendIn {
                date: row.require("date")?.to_string(),
                source: row.require("source")?.to_string(),
                medium: row.get("medium").map(String::from),
                campaign: row.require("campaign")?.to_string(),
                amount,
                currency: Some(currency.as_str().to_string()),
            })
        })();
        match parsed {
            Ok(s) => out.push(s),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(Error::invalid(
            "body",
            format!(
                "{} bad row(s), nothing saved: {}",
                errors.len(),
                errors.into_iter().take(20).collect::<Vec<_>>().join("; ")
            ),
        ));
    }
    Ok(out)
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct Spend {
    pub date: String,
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub amount: i64,
    pub currency: String,
}

/// Ad spend on local days `[from, to)`.
pub fn list_spend(tx: &mut dyn Sql, from: i32, to: i32) -> Result<Vec<Spend>> {
    Ok(tx
        .query(
            "SELECT day, source, medium, campaign, amount_minor, currency FROM ad_spend WHERE day >= $1 AND day < $2 ORDER BY day, source, campaign",
            params![i64::from(from), i64::from(to)],
        )?
        .iter()
        .map(|r| {
            Ok(Spend {
                date: format_day(r.get::<i64>("day")? as i32),
                source: r.get("source")?,
                medium: r.get("medium")?,
                campaign: r.get("campaign")?,
                amount: r.get("amount_minor")?,
                currency: r.get("currency")?,
            })
        })
        .collect::<std::result::Result<_, DbError>>()?)
}

/// One email event as a provider's webhook sends it.
#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct EmailEventIn {
    /// The provider's unique id for the event (duplicates are ignored).
    pub id: String,
    /// The campaign's name; a campaign not yet known is created.
    pub campaign: String,
    /// The recipient's address. Only a hash of it is stored: enough to count unique opens.
    pub recipient: String,
    /// `sent`, `delivered`, `bounced`, `opened` or `clicked`.
    #[serde(rename = "type")]
    pub kind: String,
    /// RFC 3339.
    pub timestamp: String,
}

const EMAIL_TYPES: [&str; 5] = ["sent", "delivered", "bounced", "opened", "clicked"];

/// Stores email events, one by one: bad ones come back with the field and reason.
pub fn ingest_email(
    tx: &mut dyn Sql,
    now: i64,
    items: &super::ingest::Items,
) -> Result<IngestReport> {
    let zone = Zone::get(&settings::load(tx)?.timezone)?;
    let mut report = IngestReport::default();
    // A batch names a handful of campaigns: look each up once.
    let mut campaigns: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    // The campaigns with new events, whose email rollups the refresher makes again.
    let mut changed = std::collections::BTreeSet::new();
    for (index, item) in items {
        let index = *index;
        let v = match item {
            Ok(v) => v.clone(),
            Err(e) => {
                report.rejected.push(Rejected {
                    index,
                    id: None,
                    field: String::new(),
                    message: format!("not a JSON object: {e}"),
                });
                continue;
            }
        };
        let id = v.get("id").and_then(|v| v.as_str()).map(String::from);
        let checked = serde_json::from_value::<EmailEventIn>(v)
            .map_err(|e| Invalid::new("", e.to_string()))
            .and_then(|e| {
                let kind = e.kind.trim().to_lowercase();
                if !EMAIL_TYPES.contains(&kind.as_str()) {
                    return Err(Invalid::new(
                        "type",
                        "must be sent, delivered, bounced, opened or clicked",
                    ));
                }
                let ts = parse_time("timestamp", &e.timestamp)
                    .map_err(|_| Invalid::new("timestamp", "must be an RFC 3339 time"))?;
                let recipient = e.recipient.trim().to_lowercase();
                if recipient.is_empty() {
                    return Err(Invalid::new("recipient", "is required"));
                }
                Ok((
                    label("id", &e.id)?,
                    label("campaign", &e.campaign)?,
                    sha256_hex(&recipient),
                    kind,
                    ts,
                ))
            });
        let (event_id, campaign, recipient, kind, ts) = match checked {
            Ok(c) => c,
            Err(e) => {
                report.rejected.push(Rejected {
                    index,
                    id,
                    field: e.field,
                    message: e.message,
                });
                continue;
            }
        };
        let campaign_id = match campaigns.get(&campaign) {
            Some(id) => *id,
            None => {
                let id = campaign_id(tx, &campaign, now)?;
                campaigns.insert(campaign, id);
                id
            }
        };
        let n = tx.exec(
            "INSERT INTO email_events (event_id, campaign_id, recipient, type, ts, day) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
            params![event_id, campaign_id, recipient, kind, ts, i64::from(zone.day_of(ts))],
        )?;
        if n == 1 {
            report.accepted += 1;
            changed.insert(campaign_id);
        } else {
            report.duplicates += 1;
        }
    }
    for id in changed {
        super::rollup::campaign_changed(tx, id)?;
    }
    Ok(report)
}

fn campaign_id(tx: &mut dyn Sql, name: &str, now: i64) -> Result<i64> {
    if let Some(r) = tx.query_one(
        "SELECT id FROM email_campaigns WHERE name = $1",
        params![name],
    )? {
        return Ok(r.get("id")?);
    }
    Ok(tx
        .query_one(
            "INSERT INTO email_campaigns (name, utm_campaign, created_at) VALUES ($1, $1, $2) RETURNING id",
            params![name, now],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0))
}

#[derive(Deserialize, ToSchema, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct NewEmailCampaign {
    pub name: String,
    /// The `utm_campaign` its links carry, so its traffic and sales are tied to it; its name when
    /// absent.
    pub utm_campaign: Option<String>,
    pub subject: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq)]
pub struct EmailCampaign {
    pub id: i64,
    pub name: String,
    pub utm_campaign: Option<String>,
    pub subject: Option<String>,
    pub sent: i64,
    pub bounced: i64,
    /// `sent - bounced` (DOMAIN.md).
    pub delivered: i64,
    pub unique_opens: i64,
    pub unique_clicks: i64,
    /// `unique_opens / delivered`.
    pub open_rate: Option<f64>,
    /// `unique_clicks / delivered`.
    pub click_rate: Option<f64>,
}

pub fn create_email_campaign(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    c: &NewEmailCampaign,
) -> Result<EmailCampaign> {
    let name = label("name", &c.name)?;
    if tx
        .query_one(
            "SELECT id FROM email_campaigns WHERE name = $1",
            params![name.as_str()],
        )?
        .is_some()
    {
        return Err(Error::Conflict {
            code: "duplicate",
            message: format!("an email campaign is already named {name}"),
            field: Some("name".into()),
        });
    }
    let utm = match &c.utm_campaign {
        Some(u) => label("utm_campaign", u)?,
        None => name.clone(),
    };
    let id = tx
        .query_one(
            "INSERT INTO email_campaigns (name, utm_campaign, subject, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            params![name.as_str(), utm.as_str(), c.subject.clone(), ctx.now],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    audit::record(
        tx,
        ctx,
        "email_campaign.created",
        "email_campaign",
        id,
        json!({"name": name, "utm_campaign": utm}),
    )?;
    email_campaigns(tx, None)?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(Error::NotFound {
            entity: "email campaign",
        })
}

/// Which sends the email campaign counts cover: those of a period (local days), or all.
#[derive(Deserialize, utoipa::IntoParams, Clone, Debug, Default)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EmailCampaignQuery {
    /// First local day of the sends counted, `YYYY-MM-DD`; with `to`.
    pub from: Option<String>,
    /// Day after the last, `YYYY-MM-DD`; with `from`.
    pub to: Option<String>,
}

/// The email campaigns over the sends of the query's period (all sends when it has none).
pub fn email_campaigns_for(tx: &mut dyn Sql, q: &EmailCampaignQuery) -> Result<Vec<EmailCampaign>> {
    let range = match (&q.from, &q.to) {
        (None, None) => None,
        (Some(from), Some(to)) => {
            let p = super::report::Period::parse(from, to)?;
            let zone = Zone::get(&settings::load(tx)?.timezone)?;
            Some((zone.start_of(p.from), zone.start_of(p.to)))
        }
        (None, Some(_)) => return Err(Error::invalid("from", "give from with to")),
        (Some(_), None) => return Err(Error::invalid("to", "give to with from")),
    };
    email_campaigns(tx, range)
}

/// Every email campaign with its counts over the sends made in `[from, to)` (UTC micros) when
/// given: those sends, how many of them bounced, and how many of their recipients opened or
/// clicked, whenever they did. So a rate does not fall as the period grows past the sends.
pub fn email_campaigns(tx: &mut dyn Sql, range: Option<(i64, i64)>) -> Result<Vec<EmailCampaign>> {
    let (from, to) = range.unwrap_or((i64::MIN, i64::MAX));
    let of_sends = |kind: &str, count: &str| {
        format!(
            "(SELECT {count} FROM email_events s WHERE s.campaign_id = c.id AND s.type = 'sent' AND s.ts >= $1 AND s.ts < $2 \
               AND EXISTS (SELECT 1 FROM email_events x WHERE x.campaign_id = s.campaign_id AND x.recipient = s.recipient AND x.type = '{kind}'))"
        )
    };
    let rows = tx.query(
        &format!(
            "SELECT c.id, c.name, c.utm_campaign, c.subject, \
               (SELECT COUNT(*) FROM email_events e WHERE e.campaign_id = c.id AND e.type = 'sent' AND e.ts >= $1 AND e.ts < $2) AS sent, \
               {} AS bounced, {} AS unique_opens, {} AS unique_clicks FROM email_campaigns c ORDER BY c.id",
            of_sends("bounced", "COUNT(*)"),
            of_sends("opened", "COUNT(DISTINCT s.recipient)"),
            of_sends("clicked", "COUNT(DISTINCT s.recipient)"),
        ),
        params![from, to],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let (sent, bounced): (i64, i64) = (r.get("sent")?, r.get("bounced")?);
            let delivered = sent - bounced;
            let (unique_opens, unique_clicks): (i64, i64) =
                (r.get("unique_opens")?, r.get("unique_clicks")?);
            Ok(EmailCampaign {
                id: r.get("id")?,
                name: r.get("name")?,
                utm_campaign: r.get("utm_campaign")?,
                subject: r.get("subject")?,
                sent,
                bounced,
                delivered,
                unique_opens,
                unique_clicks,
                open_rate: ratio(unique_opens, delivered),
                click_rate: ratio(unique_clicks, delivered),
            })
        })
        .collect::<std::result::Result<_, DbError>>()?)
}
