//! Sessions and purchase attribution, derived from raw events.
//!
//! The refresher reads events past its watermark a chunk at a time. For each visitor in the chunk it
//! takes the earliest new event, drops the visitor's stored sessions that the new events could join
//! (those ending less than 30 minutes before it, and any later), and sessionizes the visitor's
//! events again from the start of the earliest dropped session. That start is a session boundary
//! in any order of arrival, so the result is exactly what sessionizing all events from scratch
//! gives (`backroom-domain`'s property test, and the contract test that compares with
//! [`rebuild`]). Purchases among the re-derived events are attributed again.

use super::{Zone, rollup};
use crate::db::{
    Db, DbError, Dialect, FromRow, Row, Sql, Val, exec_in, in_list, query_as, query_one_as,
    values_sql,
};
use crate::settings;
use crate::{Result, params};
use backroom_domain::analytics::{
    DAY_MICROS, EventType, Hit, SESSION_GAP_MICROS, Session, Source, Starts, attribute,
    sessionize_from,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Events read per unit of work.
pub const CHUNK: i64 = 20_000;
/// Visitors looked up per statement.
const VISITORS_PER_QUERY: usize = 400;

struct State {
    watermark: i64,
}

crate::row! {
    /// The refresher's stored state: its watermark, and the time zone and attribution window the
    /// derived rows were made with.
    struct StateRow { watermark: i64, timezone: String, window_days: i64 }
}

/// Reads (or creates) the refresher's state, under lock. When the store's time zone or
/// attribution window changed since the derived rows were made, they are thrown away so the next
/// chunks derive them again.
fn state(tx: &mut dyn Sql) -> Result<(State, Zone, i64)> {
    let s = settings::load(tx)?;
    let zone = Zone::get(&s.timezone)?;
    let window = i64::from(s.attribution_window_days);
    let lock = tx.for_update();
    let sql =
        format!("SELECT watermark, timezone, window_days FROM analytics_state WHERE id = 1{lock}");
    let mut row = query_one_as::<StateRow>(tx, &sql, &[])?;
    if row.is_none() {
        // The first refresh; two may race to make the row (on PostgreSQL), one wins.
        let made = tx.exec(
            "INSERT INTO analytics_state (id, watermark, timezone, window_days) VALUES (1, 0, $1, $2) ON CONFLICT (id) DO NOTHING",
            params![s.timezone.as_str(), window],
        )?;
        if made == 1 {
            clear(tx)?;
            return Ok((State { watermark: 0 }, zone, window));
        }
        row = query_one_as::<StateRow>(tx, &sql, &[])?;
    }
    let row = row.ok_or_else(|| {
        crate::Error::Db(crate::db::DbError::Other(
            "the analytics state row is missing".into(),
        ))
    })?;
    let watermark = if row.timezone != s.timezone || row.window_days != window {
        clear(tx)?;
        tx.exec(
            "UPDATE analytics_state SET watermark = 0, timezone = $1, window_days = $2 WHERE id = 1",
            params![s.timezone.as_str(), window],
        )?;
        0
    } else {
        row.watermark
    };
    Ok((State { watermark }, zone, window))
}

/// Throws every derived row away: sessions, attribution and rollups; every order is noted as
/// changed, so the next refresh derives it all again.
fn clear(tx: &mut dyn Sql) -> Result<()> {
    tx.exec("DELETE FROM an_sessions", &[])?;
    tx.exec("DELETE FROM an_purchases", &[])?;
    rollup::clear(tx)?;
    rollup::mark_all_dirty(tx)?;
    Ok(())
}

/// The highest event sequence number that no open transaction can still add below. On PostgreSQL
/// ingest holds a shared advisory lock until it commits; taking it exclusively waits for those in
/// flight. On SQLite the single writer already orders everything.
pub fn settled_bound(tx: &mut dyn Sql) -> Result<i64> {
    if tx.dialect() == Dialect::Postgres {
        tx.exec("SELECT pg_advisory_xact_lock(7301)", &[])?;
    }
    Ok(
        match tx.query_one(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS bound FROM events",
            &[],
        )? {
            Some(r) => r.get("bound")?,
            None => 0,
        },
    )
}

crate::row! {
    /// What [`pending`] compares: the newest event and the watermark, and the time zone and
    /// attribution window of the settings and of the derived rows (NULL where a row is missing).
    struct PendingRow {
        max_seq: i64,
        watermark: Option<i64>,
        zone_setting: Option<String>,
        state_zone: Option<String>,
        window_setting: Option<String>,
        state_window: Option<i64>,
    }
}

/// Whether events, changed orders or changed email campaigns wait to be derived, from a read
/// snapshot (cheap: a few index look-ups).
pub fn pending(tx: &mut dyn Sql) -> Result<bool> {
    let r = query_one_as::<PendingRow>(
        tx,
        "SELECT CAST(COALESCE((SELECT MAX(seq) FROM events), 0) AS BIGINT) AS max_seq, \
           (SELECT watermark FROM analytics_state WHERE id = 1) AS watermark, \
           (SELECT value FROM settings WHERE key = 'timezone') AS zone_setting, \
           (SELECT timezone FROM analytics_state WHERE id = 1) AS state_zone, \
           (SELECT value FROM settings WHERE key = 'attribution_window_days') AS window_setting, \
           (SELECT window_days FROM analytics_state WHERE id = 1) AS state_window",
        &[],
    )?;
    let dirty = tx
        .query_one("SELECT 1 FROM an_dirty_orders LIMIT 1", &[])?
        .is_some()
        || tx
            .query_one("SELECT 1 FROM an_dirty_campaigns LIMIT 1", &[])?
            .is_some();
    Ok(dirty
        || match r {
            None => false,
            Some(r) => match r.watermark {
                None => r.max_seq > 0,
                Some(w) => {
                    // What the state lacks compares as "", its window (a number) as its
                    // digits: the settings hold text.
                    r.max_seq > w
                        || r.zone_setting.unwrap_or_else(|| "UTC".into())
                            != r.state_zone.unwrap_or_default()
                        || r.window_setting.unwrap_or_else(|| "30".into())
                            != r.state_window.map(|d| d.to_string()).unwrap_or_default()
                }
            },
        })
}

const EVENT_COLS: &str = "seq, visitor_id, ts, type, path, referrer_host, utm_source, utm_medium, utm_campaign, device, country, order_number";

const SESSION_SELECT: &str = "id, visitor_id, start_ts, start_seq, end_ts, end_seq, day, events, page_views, product_views, carts, checkouts, purchases, landing_path, source, medium, campaign, device, country, utm_campaign";

crate::row! {
    /// A stored session, as [`SESSION_SELECT`] reads it.
    struct SessionRow {
        id: i64,
        visitor_id: String,
        start_ts: i64,
        start_seq: i64,
        end_ts: i64,
        end_seq: i64,
        day: i64,
        events: i64,
        page_views: i64,
        product_views: i64,
        carts: i64,
        checkouts: i64,
        purchases: i64,
        landing_path: String,
        source: String,
        medium: String,
        campaign: String,
        device: String,
        country: String,
        utm_campaign: Option<String>,
    }
}

impl SessionRow {
    /// The stored session as the domain's session.
    fn session(&self) -> Session {
        Session {
            start_ts: self.start_ts,
            start_seq: self.start_seq,
            end_ts: self.end_ts,
            end_seq: self.end_seq,
            events: self.events,
            page_views: self.page_views,
            product_views: self.product_views,
            carts: self.carts,
            checkouts: self.checkouts,
            purchases: self.purchases,
            landing_path: self.landing_path.clone(),
            source: Source {
                source: self.source.clone(),
                medium: self.medium.clone(),
                campaign: self.campaign.clone(),
            },
            utm_campaign: self.utm_campaign.clone(),
            device: self.device.clone(),
            country: self.country.clone(),
        }
    }
}

/// An event, as [`EVENT_COLS`] reads it: what sessions need, its visitor, and the order a
/// purchase names.
struct EventRow {
    visitor_id: String,
    order_number: Option<i64>,
    hit: Hit,
}

impl FromRow for EventRow {
    fn from_row(r: &Row) -> std::result::Result<Self, DbError> {
        Ok(EventRow {
            visitor_id: r.get("visitor_id")?,
            order_number: r.get("order_number")?,
            hit: hit(r)?,
        })
    }
}

/// A stored session as attribution needs it.
struct Stored {
    start_ts: i64,
    start_seq: i64,
    source: Source,
}
impl AsRef<Source> for Stored {
    fn as_ref(&self) -> &Source {
        &self.source
    }
}
impl Starts for Stored {
    fn start_ts(&self) -> i64 {
        self.start_ts
    }
    fn start_seq(&self) -> i64 {
        self.start_seq
    }
}

/// One visitor's work: the session to continue (if any) and the events to sessionize.
type Plan = (String, Option<Session>, Vec<(Hit, Option<i64>)>);

/// Derives sessions and attribution for the next chunk of events at or below `bound`. Returns how
/// many events it read; 0 when it is up to date.
///
/// For most visitors the new events come after their last session, which is then continued from
/// its stored sums without reading old events. When new events fall before or inside earlier
/// sessions (late arrivals), those sessions are dropped and the visitor's events from the start
/// of the earliest of them are read again (one scan by time for the whole chunk) and
/// sessionized afresh.
pub fn refresh_chunk(tx: &mut dyn Sql, bound: i64, limit: i64) -> Result<usize> {
    let (st, zone, window_days) = state(tx)?;
    let window = window_days * DAY_MICROS;
    let rows: Vec<EventRow> = query_as(
        tx,
        &format!(
            "SELECT {EVENT_COLS} FROM events WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
        ),
        params![st.watermark, bound, limit],
    )?;
    let Some(upper) = rows.last().map(|r| r.hit.seq) else {
        return Ok(0);
    };
    let read = rows.len();
    let mut news: BTreeMap<String, Vec<(Hit, Option<i64>)>> = BTreeMap::new();
    for r in rows {
        news.entry(r.visitor_id)
            .or_default()
            .push((r.hit, r.order_number));
    }
    for v in news.values_mut() {
        v.sort_by_key(|(h, _)| (h.ts, h.seq));
    }
    let mut touched = BTreeSet::new();
    let mut plans: Vec<Plan> = Vec::new();
    // Late arrivals: visitor, from (ts, seq), last instant involved.
    let mut late: Vec<(String, (i64, i64), i64)> = Vec::new();
    let mut dropped: Vec<Val> = Vec::new();
    let visitors: Vec<String> = news.keys().cloned().collect();
    for group in visitors.chunks(VISITORS_PER_QUERY) {
        let first = |v: &String| news[v].first().map_or((0, 0), |(h, _)| (h.ts, h.seq));
        let min_new = group.iter().map(|v| first(v).0).min().unwrap_or(0);
        let ids: Vec<Val> = group.iter().map(|v| Val::from(v.as_str())).collect();
        let (visitor_in, list) = in_list(tx.dialect(), "visitor_id", 1, &ids);
        let mut stored: HashMap<String, Vec<SessionRow>> = HashMap::new();
        for r in query_as::<SessionRow>(
            tx,
            &format!("SELECT {SESSION_SELECT} FROM an_sessions WHERE {visitor_in} AND end_ts > $2"),
            &[list, Val::from(min_new - SESSION_GAP_MICROS)],
        )? {
            stored.entry(r.visitor_id.clone()).or_default().push(r);
        }
        for v in group {
            let m = first(v);
            let affected: Vec<SessionRow> = stored
                .remove(v)
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.end_ts > m.0 - SESSION_GAP_MICROS)
                .collect();
            for r in &affected {
                dropped.push(Val::from(r.id));
                touched.insert(r.day as i32);
            }
            let hits = news.get(v).cloned().unwrap_or_default();
            match affected.as_slice() {
                [] => plans.push((v.clone(), None, hits)),
                [only] if (only.end_ts, only.end_seq) < m => {
                    plans.push((v.clone(), Some(only.session()), hits))
                }
                _ => {
                    let from = affected
                        .iter()
                        .map(|r| (r.start_ts, r.start_seq))
                        .fold(m, |a, b| a.min(b));
                    let last = affected
                        .iter()
                        .map(|r| r.end_ts)
                        .chain(hits.iter().map(|(h, _)| h.ts))
                        .max()
                        .unwrap_or(m.0);
                    late.push((v.clone(), from, last));
                }
            }
        }
    }
    exec_in(tx, "DELETE FROM an_sessions WHERE {}", "id", &dropped)?;
    if !late.is_empty() {
        let lo = late.iter().map(|l| l.1.0).min().unwrap_or(0);
        let hi = late.iter().map(|l| l.2).max().unwrap_or(0);
        let from: HashMap<&str, (i64, i64)> = late.iter().map(|l| (l.0.as_str(), l.1)).collect();
        let mut again: BTreeMap<String, Vec<(Hit, Option<i64>)>> = BTreeMap::new();
        for r in query_as::<EventRow>(
            tx,
            &format!(
                "SELECT {EVENT_COLS} FROM events WHERE ts >= $1 AND ts <= $2 AND seq <= $3 ORDER BY ts, seq"
            ),
            params![lo, hi, upper],
        )? {
            if let Some(f) = from.get(r.visitor_id.as_str())
                && (r.hit.ts, r.hit.seq) >= *f
            {
                again
                    .entry(r.visitor_id)
                    .or_default()
                    .push((r.hit, r.order_number));
            }
        }
        plans.extend(again.into_iter().map(|(v, hits)| (v, None, hits)));
    }
    derive(tx, &zone, window, plans, &mut touched)?;
    rollup::session_days(tx, &touched)?;
    tx.exec(
        "UPDATE analytics_state SET watermark = $1 WHERE id = 1",
        params![upper],
    )?;
    Ok(read)
}

/// Sessionizes each plan, credits its purchases, and writes the sessions and purchases.
fn derive(
    tx: &mut dyn Sql,
    zone: &Zone,
    window: i64,
    plans: Vec<Plan>,
    touched: &mut BTreeSet<i32>,
) -> Result<()> {
    // Earlier sessions a purchase may be credited to.
    let buyers: Vec<(&String, i64)> = plans
        .iter()
        .filter_map(|(v, _, hs)| {
            hs.iter()
                .filter(|(h, _)| h.kind == EventType::Purchase)
                .map(|(h, _)| h.ts)
                .min()
                .map(|t| (v, t))
        })
        .collect();
    crate::row! {
        /// An earlier session of a buyer.
        struct EarlierRow {
            visitor_id: String,
            start_ts: i64,
            start_seq: i64,
            source: String,
            medium: String,
            campaign: String,
        }
    }
    let mut earlier: HashMap<String, Vec<Stored>> = HashMap::new();
    for chunk in buyers.chunks(VISITORS_PER_QUERY) {
        let ids: Vec<Val> = chunk.iter().map(|(v, _)| Val::from(v.as_str())).collect();
        let since = chunk.iter().map(|(_, t)| *t).min().unwrap_or(0) - window;
        let (visitor_in, list) = in_list(tx.dialect(), "visitor_id", 1, &ids);
        for r in query_as::<EarlierRow>(
            tx,
            &format!(
                "SELECT visitor_id, start_ts, start_seq, source, medium, campaign FROM an_sessions WHERE {visitor_in} AND start_ts >= $2 AND source <> '(direct)'"
            ),
            &[list, Val::from(since)],
        )? {
            earlier.entry(r.visitor_id).or_default().push(Stored {
                start_ts: r.start_ts,
                start_seq: r.start_seq,
                source: Source {
                    source: r.source,
                    medium: r.medium,
                    campaign: r.campaign,
                },
            });
        }
    }
    let keys = visitor_keys(tx, plans.iter().map(|p| &p.0))?;
    let mut session_rows = Vec::new();
    let mut purchase_rows = Vec::new();
    let mut purchase_seqs = Vec::new();
    let mut numbers = Vec::new();
    for (visitor, open, items) in &plans {
        let key = keys.get(visitor.as_str()).copied().unwrap_or(0);
        let hits: Vec<Hit> = items.iter().map(|(h, _)| h.clone()).collect();
        let sessions = sessionize_from(open.clone(), &hits);
        let mut candidates: Vec<Stored> = earlier.remove(visitor).unwrap_or_default();
        for (s, _) in &sessions {
            candidates.push(Stored {
                start_ts: s.start_ts,
                start_seq: s.start_seq,
                source: s.source.clone(),
            });
        }
        for (k, (s, first)) in sessions.iter().enumerate() {
            let row = session_row(visitor, key, s, zone);
            if let Some(Val::Int(d)) = row.get(4) {
                touched.insert(*d as i32);
            }
            session_rows.push(row);
            let last = sessions.get(k + 1).map_or(items.len(), |n| n.1);
            for (h, order_number) in &items[*first..last] {
                if h.kind != EventType::Purchase {
                    continue;
                }
                purchase_seqs.push(Val::from(h.seq));
                numbers.push(Val::from(order_number.unwrap_or(0)));
                let credited = attribute(h.ts, window, &candidates)
                    .map(|c| c.source.clone())
                    .unwrap_or_else(|| s.source.clone());
                purchase_rows.push(vec![
                    Val::from(h.seq),
                    Val::from(order_number.unwrap_or(0)),
                    Val::from(visitor.as_str()),
                    Val::from(h.ts),
                    Val::from(credited.source),
                    Val::from(credited.medium),
                    Val::from(credited.campaign),
                    Val::from(s.device.as_str()),
                    Val::from(s.country.as_str()),
                ]);
            }
        }
    }
    exec_in(
        tx,
        "DELETE FROM an_purchases WHERE {}",
        "seq",
        &purchase_seqs,
    )?;
    tx.copy_rows("an_sessions", &SESSION_COLUMNS, &session_rows)?;
    // Orders whose attribution may have moved are recomputed in the order rollups.
    exec_in(
        tx,
        "INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders WHERE {}",
        "number",
        &numbers,
    )?;
    tx.copy_rows(
        "an_purchases",
        &[
            "seq",
            "order_number",
            "visitor_id",
            "ts",
            "source",
            "medium",
            "campaign",
            "device",
            "country",
        ],
        &purchase_rows,
    )?;
    Ok(())
}

const SESSION_COLUMNS: [&str; 20] = [
    "visitor_id",
    "start_ts",
    "start_seq",
    "end_ts",
    "day",
    "events",
    "page_views",
    "product_views",
    "carts",
    "checkouts",
    "purchases",
    "landing_path",
    "source",
    "medium",
    "campaign",
    "device",
    "country",
    "visitor_key",
    "end_seq",
    "utm_campaign",
];

/// The small number standing for each visitor id, made on first sight.
fn visitor_keys<'a>(
    tx: &mut dyn Sql,
    visitors: impl Iterator<Item = &'a String>,
) -> Result<HashMap<String, i64>> {
    let all: Vec<&String> = visitors.collect();
    let mut out = HashMap::with_capacity(all.len());
    for chunk in all.chunks(VISITORS_PER_QUERY) {
        let v: Vec<Val> = chunk.iter().map(|s| Val::from(s.as_str())).collect();
        tx.exec(
            &format!(
                "INSERT INTO an_visitors (visitor_id) VALUES {} ON CONFLICT (visitor_id) DO NOTHING",
                values_sql(chunk.len(), 1)
            ),
            &v,
        )?;
        let (visitor_in, list) = in_list(tx.dialect(), "visitor_id", 1, &v);
        for r in tx.query(
            &format!("SELECT visitor_id, id FROM an_visitors WHERE {visitor_in}"),
            &[list],
        )? {
            out.insert(r.get("visitor_id")?, r.get("id")?);
        }
    }
    Ok(out)
}

fn session_row(visitor: &str, key: i64, s: &Session, zone: &Zone) -> Vec<Val> {
    vec![
        Val::from(visitor),
        Val::from(s.start_ts),
        Val::from(s.start_seq),
        Val::from(s.end_ts),
        Val::from(i64::from(zone.day_of(s.start_ts))),
        Val::from(s.events),
        Val::from(s.page_views),
        Val::from(s.product_views),
        Val::from(s.carts),
        Val::from(s.checkouts),
        Val::from(s.purchases),
        Val::from(s.landing_path.as_str()),
        Val::from(s.source.source.as_str()),
        Val::from(s.source.medium.as_str()),
        Val::from(s.source.campaign.as_str()),
        Val::from(s.device.as_str()),
        Val::from(s.country.as_str()),
        Val::from(key),
        Val::from(s.end_seq),
        Val::from(s.utm_campaign.clone()),
    ]
}

/// An event row (columns `seq, ts, type, path, referrer_host, utm_source, utm_medium,
/// utm_campaign, device, country`) as sessions need it. An event without a path has the path "".
pub fn hit(r: &Row) -> std::result::Result<Hit, DbError> {
    Ok(Hit {
        seq: r.get("seq")?,
        ts: r.get("ts")?,
        kind: EventType::parse(&r.get::<String>("type")?).unwrap_or(EventType::PageView),
        path: r.get::<Option<String>>("path")?.unwrap_or_default(),
        referrer_host: r.get("referrer_host")?,
        utm_source: r.get("utm_source")?,
        utm_medium: r.get("utm_medium")?,
        utm_campaign: r.get("utm_campaign")?,
        device: r.get("device")?,
        country: r.get("country")?,
    })
}

/// Brings sessions, attribution and rollups up to date with every event acknowledged and every
/// order change committed so far. Returns the number of events derived.
pub async fn run(db: &Db) -> Result<u64> {
    if !db.read(pending).await? {
        return Ok(0);
    }
    drain(db, AT_ONCE).await
}

/// How changed orders are taken: so many per chunk, with a pause after each.
#[derive(Clone, Copy)]
struct Pace {
    chunk: i64,
    pause: Option<std::time::Duration>,
}

/// Reports take changed orders in large chunks, back to back: they wait for the result.
const AT_ONCE: Pace = Pace {
    chunk: rollup::ORDER_CHUNK,
    pause: None,
};

/// The background takes them in chunks with pauses, so its work is spread out instead of coming
/// in bursts that compete with order placement for the CPU.
///
/// On SQLite the chunks are small: each is written by the one writer, between two batches of
/// orders, so a large one shows in their latency (see docs/BENCHMARKS.md, "Session 4
/// re-measure"). The pause is short: with 20 ms the worker fell behind placement at 5,200
/// orders/s (by about 400 orders/s); with 10 ms it kept up (docs/BENCHMARKS.md, "Session 8").
///
/// On PostgreSQL a chunk is written alongside the orders, and a chunk of 1,000 costs about a
/// quarter less CPU per order than four of 250 (fewer statements and round trips per order);
/// with chunks of 250 the worker fell behind a load of 1,300 orders/s (docs/BENCHMARKS.md,
/// "Session 7").
fn background(dialect: Dialect) -> Pace {
    let (chunk, pause_ms) = match dialect {
        Dialect::Sqlite => (250, 10),
        Dialect::Postgres => (rollup::ORDER_CHUNK, 20),
    };
    Pace {
        chunk,
        pause: Some(std::time::Duration::from_millis(pause_ms)),
    }
}

/// [`run`] for the server's background worker.
pub async fn run_paced(db: &Db) -> Result<u64> {
    if !db.read(pending).await? {
        return Ok(0);
    }
    drain(db, background(db.dialect())).await
}

/// Throws every derived row away and derives them again from the raw events.
pub async fn rebuild(db: &Db) -> Result<u64> {
    db.write(|tx| {
        state(tx)?;
        clear(tx)?;
        tx.exec("UPDATE analytics_state SET watermark = 0 WHERE id = 1", &[])?;
        Ok(())
    })
    .await?;
    drain(db, AT_ONCE).await
}

async fn drain(db: &Db, pace: Pace) -> Result<u64> {
    let bound = db.write(settled_bound).await?;
    let mut total = 0u64;
    loop {
        let n = db.write(move |tx| refresh_chunk(tx, bound, CHUNK)).await?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    // Then the orders that changed (including those whose attribution the events moved).
    // Up to the changes committed by now: under a steady order flow the refresher would
    // otherwise chase new orders for ever.
    let bound = db.read(rollup::dirty_bound).await?;
    // Each chunk is worked out from a read snapshot and written in a short transaction.
    while let Some(chunk) = db
        .read(move |tx| {
            let zone = Zone::get(&settings::load(tx)?.timezone)?;
            rollup::read_chunk(tx, &zone, bound, pace.chunk)
        })
        .await?
    {
        let chunk = std::sync::Arc::new(chunk);
        // `None`: another refresher got there first; the loop reads the chunk again.
        db.write(move |tx| rollup::apply_chunk(tx, &chunk)).await?;
        if let Some(p) = pace.pause {
            tokio::time::sleep(p).await;
        }
    }
    // Then the email campaigns whose events changed, one at a time.
    while db
        .write(|tx| {
            let zone = Zone::get(&settings::load(tx)?.timezone)?;
            rollup::email_campaign(tx, &zone)
        })
        .await?
    {
        if let Some(p) = pace.pause {
            tokio::time::sleep(p).await;
        }
    }
    Ok(total)
}
