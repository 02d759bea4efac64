//! Rollups: per-day sums of sessions, orders and email, and per-day sets of visitors, customers
//! and opened email pairs, so a dashboard reads a few hundred rows instead of every session,
//! order and send of its periods.
//!
//! Session rollups are recomputed whole-day from `an_sessions`: the session refresher says which
//! days its new or replaced sessions touched. Each row keeps its visitors, so a breakdown counts
//! distinct visitors per group.
//!
//! Email rollups are recomputed whole-campaign from `email_events`: ingest notes the campaigns
//! it added events to in `an_dirty_campaigns`, in its own transaction ([`campaign_changed`]).
//!
//! Order rollups are kept by difference, so keeping them fresh costs what the changed orders
//! cost, not what their days hold. Every order change (placement, cancel, edit, exchange, refund,
//! return, import, moved attribution) writes the order's id to `an_dirty_orders` in its own
//! transaction. The refresher then takes each such order's stored contribution
//! (`an_order_facts`) out of the rollups and puts back in what the base rows now give, read with
//! the same loader and fold as the raw report ([`super::report`]). Because it works from state,
//! not from the change, seeing an order twice or late is harmless; tests check that the rollups
//! equal the raw rows and equal a rebuild from scratch.

use super::Zone;
use super::report;
use crate::db::{
    DbError, Dialect, FromRow, Row, Sql, Val, exec_in, in_list, int_vals as vals, query_as,
};
use crate::{Result, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Orders read from the dirty list per transaction: small enough that order placement, which
/// waits for the one writer on SQLite, is held up for milliseconds only.
pub const ORDER_CHUNK: i64 = 1_000;

/// The last entry of the dirty list.
pub fn dirty_bound(tx: &mut dyn Sql) -> Result<i64> {
    Ok(
        match tx.query_one(
            "SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) AS bound FROM an_dirty_orders",
            &[],
        )? {
            Some(r) => r.get("bound")?,
            None => 0,
        },
    )
}

/// Notes, in the caller's transaction, that an order's KPI facts changed.
pub fn mark_dirty(tx: &mut dyn Sql, order_id: i64) -> Result<()> {
    tx.exec_deferred(
        "INSERT INTO an_dirty_orders (order_id) VALUES ($1)",
        params![order_id],
    )?;
    Ok(())
}

/// Imported orders: noted as changed, and their lines given their variants' unit costs.
pub fn imported(tx: &mut dyn Sql, order_ids: &[i64]) -> Result<()> {
    if order_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Val>> = order_ids.iter().map(|i| vec![Val::from(*i)]).collect();
    tx.copy_rows("an_dirty_orders", &["order_id"], &rows)?;
    // Lines sold before their variant had a cost take its cost now, for the margin.
    crate::orders::fill_unit_costs(tx, order_ids)
}

/// Notes every order and email campaign as changed (a new time zone moves every order's and
/// send's day).
pub fn mark_all_dirty(tx: &mut dyn Sql) -> Result<()> {
    tx.exec("DELETE FROM an_dirty_orders", &[])?;
    tx.exec(
        "INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders",
        &[],
    )?;
    tx.exec("DELETE FROM an_dirty_campaigns", &[])?;
    tx.exec(
        "INSERT INTO an_dirty_campaigns (campaign_id) SELECT id FROM email_campaigns",
        &[],
    )?;
    Ok(())
}

/// Throws every rollup away (the session refresher and the dirty list rebuild them).
pub fn clear(tx: &mut dyn Sql) -> Result<()> {
    tx.exec(
        "UPDATE analytics_state SET order_gen = order_gen + 1 WHERE id = 1",
        &[],
    )?;
    for t in [
        "an_session_days",
        "an_order_days",
        "an_order_facts",
        "an_day_sets",
        "an_customers",
        "an_email_days",
    ] {
        tx.exec(&format!("DELETE FROM {t}"), &[])?;
    }
    Ok(())
}

/// A sorted set of ids as text: the gaps between them, comma-separated; an id with a count
/// other than 1 is followed by `*count`.
pub fn encode(members: &[(i64, i64)]) -> String {
    let mut s = String::with_capacity(members.len() * 4);
    let mut last = 0;
    for (i, (id, n)) in members.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&(id - last).to_string());
        if *n != 1 {
            s.push('*');
            s.push_str(&n.to_string());
        }
        last = *id;
    }
    s
}

/// Calls `f(id, count)` for each member of an encoded set.
pub fn decode(s: &str, mut f: impl FnMut(i64, i64)) {
    // A byte loop: dashboards decode hundreds of thousands of members per request.
    let (mut last, mut gap, mut count, mut in_count, mut any) = (0i64, 0i64, 0i64, false, false);
    for &c in s.as_bytes() {
        match c {
            b'0'..=b'9' => {
                let d = i64::from(c - b'0');
                if in_count {
                    count = count * 10 + d;
                } else {
                    gap = gap * 10 + d;
                }
                any = true;
            }
            b'*' => in_count = true,
            b',' => {
                if any {
                    last += gap;
                    f(last, if in_count { count } else { 1 });
                }
                (gap, count, in_count, any) = (0, 0, false, false);
            }
            _ => {}
        }
    }
    if any {
        f(last + gap, if in_count { count } else { 1 });
    }
}

/// "`day` is one of `days`" as `$1` ([`in_list`]), and its parameter.
fn day_list(dialect: Dialect, days: &[i32]) -> (String, [Val; 1]) {
    let v: Vec<Val> = days.iter().map(|d| Val::from(i64::from(*d))).collect();
    let (cond, list) = in_list(dialect, "day", 1, &v);
    (cond, [list])
}

/// "`expr` is one of `ids`" as `$1` ([`in_list`]), and its parameter.
fn id_list(dialect: Dialect, expr: &str, ids: &[i64]) -> (String, [Val; 1]) {
    let (cond, list) = in_list(dialect, expr, 1, &vals(ids));
    (cond, [list])
}

crate::row! {
    /// A session as the session rollups count it.
    struct SessionRow {
        day: i64,
        source: String,
        medium: String,
        campaign: String,
        device: String,
        country: String,
        visitor_key: i64,
        events: i64,
        page_views: i64,
        duration: i64,
        purchases: i64,
        carts: i64,
        product_views: i64,
        checkouts: i64,
    }
}

/// The columns of `an_session_days` past its key, in the order [`SessionSums`] gives them.
const SESSION_SUMS: [&str; 9] = [
    "sessions",
    "bounces",
    "duration",
    "converted",
    "carts",
    "abandoned",
    "product_views",
    "checkouts",
    "visitors",
];

/// A session rollup row's sums, and its visitors (with repeats until written).
#[derive(Default)]
struct SessionSums {
    sums: [i64; 8],
    visitors: Vec<i64>,
}

impl SessionSums {
    fn add(&mut self, s: &SessionRow) {
        let flag = |b: bool| i64::from(b);
        let add = [
            1,
            flag(s.events == 1 && s.page_views == 1),
            s.duration,
            flag(s.purchases > 0),
            flag(s.carts > 0),
            flag(s.carts > 0 && s.purchases == 0),
            flag(s.product_views > 0),
            flag(s.checkouts > 0),
        ];
        for (sum, a) in self.sums.iter_mut().zip(add) {
            *sum += a;
        }
        self.visitors.push(s.visitor_key);
    }

    fn vals(mut self) -> impl Iterator<Item = Val> {
        self.visitors.sort_unstable();
        self.visitors.dedup();
        let members: Vec<(i64, i64)> = self.visitors.iter().map(|v| (*v, 1)).collect();
        self.sums
            .into_iter()
            .map(Val::from)
            .chain(std::iter::once(Val::from(encode(&members))))
    }
}

/// Recomputes the session rollups and visitor sets of these days from `an_sessions`: each rollup
/// row (a day and a source, medium, campaign, device and country) with its sums and the set of
/// its visitors, and each day's set of visitors.
pub fn session_days(tx: &mut dyn Sql, days: &BTreeSet<i32>) -> Result<()> {
    type RowKey = (i64, String, String, String, String, String);
    let days: Vec<i32> = days.iter().copied().collect();
    for chunk in days.chunks(200) {
        let (day_in, v) = day_list(tx.dialect(), chunk);
        tx.exec(&format!("DELETE FROM an_session_days WHERE {day_in}"), &v)?;
        tx.exec(
            &format!("DELETE FROM an_day_sets WHERE kind = 'visitors' AND {day_in}"),
            &v,
        )?;
        let mut rows: BTreeMap<RowKey, SessionSums> = BTreeMap::new();
        let mut sets: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        for s in query_as::<SessionRow>(
            tx,
            &format!(
                "SELECT day, source, medium, campaign, device, country, visitor_key, events, page_views, \
                   end_ts - start_ts AS duration, purchases, carts, product_views, checkouts \
                 FROM an_sessions WHERE {day_in}"
            ),
            &v,
        )? {
            let mut s = s;
            sets.entry(s.day).or_default().push(s.visitor_key);
            let key = (
                s.day,
                std::mem::take(&mut s.source),
                std::mem::take(&mut s.medium),
                std::mem::take(&mut s.campaign),
                std::mem::take(&mut s.device),
                std::mem::take(&mut s.country),
            );
            rows.entry(key).or_default().add(&s);
        }
        let rows: Vec<Vec<Val>> = rows
            .into_iter()
            .map(|((d, s, m, c, dev, co), sums)| {
                [
                    d.into(),
                    s.into(),
                    m.into(),
                    c.into(),
                    dev.into(),
                    co.into(),
                ]
                .into_iter()
                .chain(sums.vals())
                .collect()
            })
            .collect();
        let columns: Vec<&str> = ["day", "source", "medium", "campaign", "device", "country"]
            .into_iter()
            .chain(SESSION_SUMS)
            .collect();
        tx.copy_rows("an_session_days", &columns, &rows)?;
        let sets: Vec<Vec<Val>> = sets
            .into_iter()
            .map(|(d, mut m)| {
                m.sort_unstable();
                m.dedup();
                let m: Vec<(i64, i64)> = m.into_iter().map(|v| (v, 1)).collect();
                vec![Val::from(d), Val::from("visitors"), Val::from(encode(&m))]
            })
            .collect();
        tx.copy_rows("an_day_sets", &["day", "kind", "members"], &sets)?;
    }
    Ok(())
}

/// Notes, in the caller's transaction, that a campaign's email events changed. The upsert holds
/// the campaign's entry until the caller commits, so a refresher taking the entry meanwhile
/// waits, then reads the new events (on PostgreSQL; SQLite has one writer).
pub fn campaign_changed(tx: &mut dyn Sql, campaign_id: i64) -> Result<()> {
    tx.exec(
        "INSERT INTO an_dirty_campaigns (campaign_id) VALUES ($1) \
         ON CONFLICT (campaign_id) DO UPDATE SET campaign_id = excluded.campaign_id",
        params![campaign_id],
    )?;
    Ok(())
}

crate::row! {
    /// A send, bounce or open of a campaign.
    pub struct EmailEventRow { pub id: i64, pub recipient: String, pub kind: String, pub ts: i64 }
}

/// A campaign's email on one local day: its sends, those whose recipient bounced, and the opened
/// pairs among the rest.
#[derive(Default, Debug, PartialEq)]
pub struct EmailDay {
    pub sent: i64,
    pub bounced: i64,
    /// Each opened pair (this campaign and a recipient) by the id of its first send, sorted.
    pub opened: Vec<i64>,
}

/// One campaign's email rows by local day, from its sends, bounces and opens in id order. A send
/// counts on the day it was sent, with what became of its recipient whenever that happened: a
/// bounce, or else an open (DOMAIN.md: the open rate of a period's sends).
pub fn email_days(zone: &Zone, events: &[EmailEventRow]) -> BTreeMap<i64, EmailDay> {
    let mut first_send: HashMap<&str, i64> = HashMap::new();
    let (mut bounced, mut opened) = (BTreeSet::new(), BTreeSet::new());
    for e in events {
        match e.kind.as_str() {
            "sent" => {
                first_send.entry(e.recipient.as_str()).or_insert(e.id);
            }
            "bounced" => {
                bounced.insert(e.recipient.as_str());
            }
            "opened" => {
                opened.insert(e.recipient.as_str());
            }
            _ => {}
        }
    }
    let mut days: BTreeMap<i64, EmailDay> = BTreeMap::new();
    for e in events.iter().filter(|e| e.kind == "sent") {
        let d = days.entry(i64::from(zone.day_of(e.ts))).or_default();
        d.sent += 1;
        if bounced.contains(e.recipient.as_str()) {
            d.bounced += 1;
        } else if opened.contains(e.recipient.as_str()) {
            d.opened.push(first_send[e.recipient.as_str()]);
        }
    }
    for d in days.values_mut() {
        d.opened.sort_unstable();
        d.opened.dedup();
    }
    days
}

/// Makes the email rows of one changed campaign again; false when no campaign waits.
pub fn email_campaign(tx: &mut dyn Sql, zone: &Zone) -> Result<bool> {
    let Some(r) = tx.query_one(
        "SELECT campaign_id FROM an_dirty_campaigns ORDER BY campaign_id LIMIT 1",
        &[],
    )?
    else {
        return Ok(false);
    };
    let id: i64 = r.get("campaign_id")?;
    // Taken by another refresher in between: it makes the rows.
    if tx.exec(
        "DELETE FROM an_dirty_campaigns WHERE campaign_id = $1",
        params![id],
    )? == 0
    {
        return Ok(true);
    }
    let events: Vec<EmailEventRow> = query_as(
        tx,
        "SELECT id, recipient, type AS kind, ts FROM email_events \
         WHERE campaign_id = $1 AND type IN ('sent', 'bounced', 'opened') ORDER BY id",
        params![id],
    )?;
    tx.exec(
        "DELETE FROM an_email_days WHERE campaign_id = $1",
        params![id],
    )?;
    let rows: Vec<Vec<Val>> = email_days(zone, &events)
        .into_iter()
        .map(|(day, d)| {
            let members: Vec<(i64, i64)> = d.opened.iter().map(|p| (*p, 1)).collect();
            vec![
                day.into(),
                id.into(),
                d.sent.into(),
                d.bounced.into(),
                encode(&members).into(),
            ]
        })
        .collect();
    tx.copy_rows(
        "an_email_days",
        &["day", "campaign_id", "sent", "bounced", "opened"],
        &rows,
    )?;
    Ok(true)
}

/// The next chunk of changed orders, worked out from a read snapshot: every row the order
/// rollups need written, so the write transaction that applies it ([`apply_chunk`]) is short
/// (on SQLite, order placement waits for the one writer).
pub struct Chunk {
    /// The `order_gen` the snapshot saw: the chunk applies only if no other refresher has
    /// written the order rollups since.
    generation: i64,
    seqs: Vec<i64>,
    ids: Vec<i64>,
    days: Vec<i64>,
    day_rows: Vec<Vec<Val>>,
    /// (day, kind, members), `None` when the set became empty.
    sets: Vec<(i64, String, Option<String>)>,
    customers: Vec<i64>,
    customer_rows: Vec<Vec<Val>>,
    fact_rows: Vec<Vec<Val>>,
}

/// Reads the next chunk of changed orders (up to the dirty entry `bound`) and works out their
/// difference to the rollups: each one's stored contribution taken out, and its contribution as
/// the base rows now give it put back in, together with the orders whose customers' first order
/// moved to or from them. `None` when nothing is left.
pub fn read_chunk(tx: &mut dyn Sql, zone: &Zone, bound: i64, limit: i64) -> Result<Option<Chunk>> {
    plan_for_key_lookups(tx)?;
    let generation = generation(tx, "")?;
    crate::row! {
        /// An entry of the dirty list.
        struct DirtyRow { seq: i64, order_id: i64 }
    }
    let rows: Vec<DirtyRow> = query_as(
        tx,
        "SELECT seq, order_id FROM an_dirty_orders WHERE seq <= $1 ORDER BY seq LIMIT $2",
        params![bound, limit],
    )?;
    if rows.is_empty() {
        return Ok(None);
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    let mut ids: BTreeSet<i64> = rows.iter().map(|r| r.order_id).collect();
    let (customers, customer_rows, moved) = first_orders(tx, zone, &ids)?;
    ids.extend(moved);
    let ids: Vec<i64> = ids.into_iter().collect();

    let mut delta: BTreeMap<GroupKey, Sums> = BTreeMap::new();
    let mut sets: BTreeMap<(i64, String), BTreeMap<i64, i64>> = BTreeMap::new();
    let mut add = |key: GroupKey, customer: i64, sums: &Sums, sign: i64| {
        if sums.orders != 0 && customer != report::NO_CUSTOMER {
            *sets
                .entry((key.0, format!("customers:{}", key.1)))
                .or_default()
                .entry(customer)
                .or_default() += sign * sums.orders;
        }
        delta.entry(key).or_default().add(sums, sign);
    };
    for chunk in ids.chunks(1000) {
        let (order_in, list) = id_list(tx.dialect(), "order_id", chunk);
        for r in tx.query(
            &format!(
                "SELECT {}, customer_id, {} FROM an_order_facts WHERE {}",
                KEY_COLUMNS.join(", "),
                SUM_COLUMNS.join(", "),
                order_in
            ),
            &list,
        )? {
            add(key_of(&r)?, r.get("customer_id")?, &Sums::from_row(&r)?, -1);
        }
    }
    let facts = facts(&report::load_orders_by_id(tx, zone, &ids)?);
    for ((_, key), (customer, sums)) in &facts {
        add(key.clone(), *customer, sums, 1);
    }
    let fact_rows = facts
        .into_iter()
        .map(|((order, key), (customer, sums))| {
            let mut row = vec![Val::from(order)];
            row.extend(key_vals(key));
            row.push(customer.into());
            row.extend(sums.vals());
            row
        })
        .collect();
    let days: Vec<i64> = delta
        .keys()
        .map(|k| k.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let day_rows = day_rows(tx, &days, delta)?;
    let sets = day_sets(tx, sets)?;
    Ok(Some(Chunk {
        generation,
        seqs,
        ids,
        day_rows,
        days,
        sets,
        customers,
        customer_rows,
        fact_rows,
    }))
}

/// A chunk reads and deletes up to a few thousand rows by key, through `IN` lists. PostgreSQL's
/// default cost of a random page read (4, tuned for spinning disks) makes it scan a whole table
/// instead, once the keys are a few percent of it: 27 ms rather than 3.6 ms for the lines of 1,000
/// orders among 56,000. The chunk's own transaction plans with 1.1, the value PostgreSQL's
/// documentation suggests when the data is cached or on SSD; nothing else is affected.
fn plan_for_key_lookups(tx: &mut dyn Sql) -> Result<()> {
    if tx.dialect() == Dialect::Postgres {
        tx.exec("SET LOCAL random_page_cost = 1.1", &[])?;
    }
    Ok(())
}

/// The generation of the order rollups (with `FOR UPDATE` or not).
fn generation(tx: &mut dyn Sql, lock: &str) -> Result<i64> {
    Ok(
        match tx.query_one(
            &format!("SELECT order_gen FROM analytics_state WHERE id = 1{lock}"),
            &[],
        )? {
            Some(r) => r.get("order_gen")?,
            None => 0,
        },
    )
}

/// Writes a chunk read by [`read_chunk`]. Returns how many dirty entries it consumed, or `None`
/// (writing nothing) when another refresher wrote the order rollups after the chunk's snapshot:
/// the caller reads the chunk again.
pub fn apply_chunk(tx: &mut dyn Sql, c: &Chunk) -> Result<Option<usize>> {
    plan_for_key_lookups(tx)?;
    // One refresher at a time (two servers on one PostgreSQL database take turns).
    let lock = tx.for_update();
    if generation(tx, lock)? != c.generation {
        return Ok(None);
    }
    tx.exec(
        "UPDATE analytics_state SET order_gen = order_gen + 1 WHERE id = 1",
        &[],
    )?;
    let mut key_columns = KEY_COLUMNS.to_vec();
    key_columns.extend(SUM_COLUMNS);
    exec_in(
        tx,
        "DELETE FROM an_order_days WHERE {}",
        "day",
        &vals(&c.days),
    )?;
    tx.copy_rows("an_order_days", &key_columns, &c.day_rows)?;
    for (day, kind, members) in &c.sets {
        tx.exec(
            "DELETE FROM an_day_sets WHERE day = $1 AND kind = $2",
            params![*day, kind.as_str()],
        )?;
        if let Some(m) = members {
            tx.exec(
                "INSERT INTO an_day_sets (day, kind, members) VALUES ($1, $2, $3)",
                params![*day, kind.as_str(), m.as_str()],
            )?;
        }
    }
    exec_in(
        tx,
        "DELETE FROM an_customers WHERE {}",
        "customer_id",
        &vals(&c.customers),
    )?;
    tx.copy_rows(
        "an_customers",
        &["customer_id", "first_order_id", "first_day"],
        &c.customer_rows,
    )?;
    exec_in(
        tx,
        "DELETE FROM an_order_facts WHERE {}",
        "order_id",
        &vals(&c.ids),
    )?;
    let mut columns = vec!["order_id"];
    columns.extend(KEY_COLUMNS);
    columns.push("customer_id");
    columns.extend(SUM_COLUMNS);
    tx.copy_rows("an_order_facts", &columns, &c.fact_rows)?;
    exec_in(
        tx,
        "DELETE FROM an_dirty_orders WHERE {}",
        "seq",
        &vals(&c.seqs),
    )?;
    Ok(Some(c.seqs.len()))
}

/// The customers of some changed orders, their new `an_customers` rows, and the orders that
/// became or stopped being a customer's first.
type FirstOrders = (Vec<i64>, Vec<Vec<Val>>, Vec<i64>);

/// The first order of these orders' customers, looked up in the snapshot (the
/// `orders(customer_id, placed_at)` index), and the orders that became or stopped being a
/// customer's first: their new-customer counts change, so they are worked out again.
///
/// The first order is read from the snapshot rather than derived from the changed orders alone:
/// an order of the customer that is visible but whose own change is not in this chunk (it
/// committed after the run began, or lies past the chunk) already decides which order is first,
/// and the new-customer counts read from the same snapshot must agree with it. Otherwise an
/// earlier order cancelled before its own change is processed would leave a later first order
/// counted as returning.
fn first_orders(tx: &mut dyn Sql, zone: &Zone, ids: &BTreeSet<i64>) -> Result<FirstOrders> {
    let ids: Vec<i64> = ids.iter().copied().collect();
    let mut customers: BTreeSet<i64> = BTreeSet::new();
    for chunk in ids.chunks(1000) {
        let (id_in, list) = id_list(tx.dialect(), "id", chunk);
        for r in tx.query(
            &format!("SELECT DISTINCT customer_id FROM orders WHERE {id_in}"),
            &list,
        )? {
            customers.insert(r.get("customer_id")?);
        }
    }
    let customers: Vec<i64> = customers.into_iter().collect();
    let (mut rows, mut moved) = (Vec::new(), Vec::new());
    for chunk in customers.chunks(1000) {
        let (customer_in, list) = id_list(tx.dialect(), "customer_id", chunk);
        let (c_in, _) = id_list(tx.dialect(), "c.id", chunk);
        // Each customer's first order as last stored.
        let mut before: HashMap<i64, i64> = HashMap::new();
        for r in tx.query(
            &format!("SELECT customer_id, first_order_id FROM an_customers WHERE {customer_in}"),
            &list,
        )? {
            before.insert(r.get("customer_id")?, r.get("first_order_id")?);
        }
        // And as the snapshot has it: the earliest live order.
        let mut after: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
        // Both dialects name the columns alike.
        let sql = match tx.dialect() {
            // PostgreSQL would join the first ids to the whole orders table by hashing it
            // (a cost that grows with every order ever placed); a lateral join looks each
            // customer's first order up in the index and stops there.
            Dialect::Postgres => format!(
                "SELECT c.id AS customer_id, f.id AS first_order_id, f.placed_at AS placed_at FROM customers c \
                 CROSS JOIN LATERAL (SELECT e.id, e.placed_at FROM orders e WHERE e.customer_id = c.id \
                   AND e.status <> 'cancelled' ORDER BY e.placed_at, e.id LIMIT 1) f \
                 WHERE {c_in}"
            ),
            // SQLite has no lateral joins; it runs the correlated subquery once per customer.
            Dialect::Sqlite => format!(
                "SELECT f.customer_id AS customer_id, o.id AS first_order_id, o.placed_at AS placed_at FROM (SELECT c.id AS customer_id, \
                   (SELECT e.id FROM orders e WHERE e.customer_id = c.id AND e.status <> 'cancelled' ORDER BY e.placed_at, e.id LIMIT 1) AS first_id \
                 FROM customers c WHERE {c_in}) f JOIN orders o ON o.id = f.first_id"
            ),
        };
        for r in tx.query(&sql, &list)? {
            after.insert(
                r.get("customer_id")?,
                (r.get("first_order_id")?, r.get("placed_at")?),
            );
        }
        for c in chunk {
            let (b, a) = (before.get(c).copied(), after.get(c).map(|x| x.0));
            if b != a {
                moved.extend(b.into_iter().chain(a));
            }
        }
        rows.extend(after.into_iter().map(|(c, (o, placed))| {
            vec![
                Val::from(c),
                Val::from(o),
                Val::from(i64::from(zone.day_of(placed))),
            ]
        }));
    }
    Ok((customers, rows, moved))
}

crate::row! {
    /// The sums of one (day, currency, channel, source, medium, campaign, device, country) group,
    /// or one order's contribution to it; read from the [`SUM_COLUMNS`] of a row.
    #[derive(Default, PartialEq, Eq)]
    struct Sums {
        orders: i64,
        gross: i64,
        attributed: i64,
        units: i64,
        returned: i64,
        costed: i64,
        cogs: i64,
        new_customers: i64,
        refunds: i64,
        discounts: i64,
        discounted: i64,
    }
}

const SUM_COLUMNS: [&str; 11] = [
    "orders",
    "gross",
    "attributed",
    "units",
    "returned",
    "costed",
    "cogs",
    "new_customers",
    "refunds",
    "discounts",
    "discounted",
];
const KEY_COLUMNS: [&str; 8] = [
    "day", "currency", "channel", "source", "medium", "campaign", "device", "country",
];

impl Sums {
    fn add(&mut self, o: &Sums, sign: i64) {
        self.orders += sign * o.orders;
        self.gross += sign * o.gross;
        self.attributed += sign * o.attributed;
        self.units += sign * o.units;
        self.returned += sign * o.returned;
        self.costed += sign * o.costed;
        self.cogs += sign * o.cogs;
        self.new_customers += sign * o.new_customers;
        self.refunds += sign * o.refunds;
        self.discounts += sign * o.discounts;
        self.discounted += sign * o.discounted;
    }
    fn is_zero(&self) -> bool {
        *self == Sums::default()
    }
    fn vals(self) -> [Val; 11] {
        [
            self.orders.into(),
            self.gross.into(),
            self.attributed.into(),
            self.units.into(),
            self.returned.into(),
            self.costed.into(),
            self.cogs.into(),
            self.new_customers.into(),
            self.refunds.into(),
            self.discounts.into(),
            self.discounted.into(),
        ]
    }
}

type GroupKey = (i64, String, String, String, String, String, String, String);

fn group_key(day: i32, currency: &str, channel: &str, c: &report::Credit) -> GroupKey {
    (
        i64::from(day),
        currency.to_string(),
        channel.to_string(),
        c.source.clone(),
        c.medium.clone(),
        c.campaign.clone(),
        c.device.clone(),
        c.country.clone(),
    )
}

/// The group of a row holding the [`KEY_COLUMNS`].
fn key_of(r: &Row) -> std::result::Result<GroupKey, DbError> {
    Ok((
        r.get("day")?,
        r.get("currency")?,
        r.get("channel")?,
        r.get("source")?,
        r.get("medium")?,
        r.get("campaign")?,
        r.get("device")?,
        r.get("country")?,
    ))
}

fn key_vals((day, cur, ch, s, m, c, d, co): GroupKey) -> [Val; 8] {
    [
        day.into(),
        cur.into(),
        ch.into(),
        s.into(),
        m.into(),
        c.into(),
        d.into(),
        co.into(),
    ]
}

/// Each order's contribution per day (the day it was placed and the days of its refunds), with
/// its customer, keyed by order and group. The same fold as the raw report's.
fn facts(f: &report::OrderFacts) -> BTreeMap<(i64, GroupKey), (i64, Sums)> {
    let mut out: BTreeMap<(i64, GroupKey), (i64, Sums)> = BTreeMap::new();
    let customers: HashMap<i64, i64> = f.orders.iter().map(|o| (o.id, o.customer)).collect();
    for o in &f.orders {
        let (_, g) = out
            .entry((o.id, group_key(o.day, &o.currency, &o.channel, &o.credit)))
            .or_insert((o.customer, Sums::default()));
        g.orders += 1;
        g.gross += o.merchandise;
        if o.credit.source != backroom_domain::analytics::DIRECT {
            g.attributed += o.merchandise;
        }
        g.new_customers += i64::from(o.first_order);
        g.discounts += o.discounts;
        g.discounted += i64::from(o.discounts > 0);
    }
    for l in &f.lines {
        let o = &f.orders[l.order];
        let (_, g) = out
            .entry((o.id, group_key(o.day, &o.currency, &o.channel, &o.credit)))
            .or_insert((o.customer, Sums::default()));
        g.units += l.quantity;
        g.returned += l.returned;
        if let Some(c) = l.cost {
            g.costed += l.net;
            g.cogs += c * l.quantity;
        }
    }
    for r in &f.refunds {
        let (_, g) = out
            .entry((
                r.order,
                group_key(r.day, &r.currency, &r.channel, &r.credit),
            ))
            .or_insert((customers[&r.order], Sums::default()));
        g.refunds += r.merchandise;
    }
    out
}

/// The order rollup rows of these days with the differences added; a row whose sums all come
/// to zero is left out (so the rows are the same whatever order the changes came in).
fn day_rows(
    tx: &mut dyn Sql,
    days: &[i64],
    mut delta: BTreeMap<GroupKey, Sums>,
) -> Result<Vec<Vec<Val>>> {
    let mut out = Vec::new();
    for chunk in days.chunks(500) {
        let mut rows: BTreeMap<GroupKey, Sums> = BTreeMap::new();
        let (day_in, list) = id_list(tx.dialect(), "day", chunk);
        for r in tx.query(
            &format!(
                "SELECT {}, {} FROM an_order_days WHERE {day_in}",
                KEY_COLUMNS.join(", "),
                SUM_COLUMNS.join(", "),
            ),
            &list,
        )? {
            rows.insert(key_of(&r)?, Sums::from_row(&r)?);
        }
        // The differences are sorted by day, as the chunks are.
        let hi = chunk[chunk.len() - 1];
        while let Some(e) = delta.first_entry() {
            if e.key().0 > hi {
                break;
            }
            let (k, d) = e.remove_entry();
            rows.entry(k).or_default().add(&d, 1);
        }
        out.extend(
            rows.into_iter()
                .filter(|(_, s)| !s.is_zero())
                .map(|(k, s)| key_vals(k).into_iter().chain(s.vals()).collect()),
        );
    }
    Ok(out)
}

/// The per-day customer sets with the order-count differences added; a customer whose count
/// comes to zero leaves the set, and an empty set is `None`.
fn day_sets(
    tx: &mut dyn Sql,
    sets: BTreeMap<(i64, String), BTreeMap<i64, i64>>,
) -> Result<Vec<(i64, String, Option<String>)>> {
    let mut out = Vec::new();
    for ((day, kind), changes) in sets {
        // Both sides are sorted by id: one merge, no tree.
        let mut old: Vec<(i64, i64)> = Vec::new();
        if let Some(r) = tx.query_one(
            "SELECT members FROM an_day_sets WHERE day = $1 AND kind = $2",
            params![day, kind.as_str()],
        )? {
            decode(&r.get::<String>("members")?, |id, n| old.push((id, n)));
        }
        let changes: Vec<(i64, i64)> = changes.into_iter().collect();
        let mut members: Vec<(i64, i64)> = Vec::with_capacity(old.len() + changes.len());
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < changes.len() {
            let next = if j == changes.len() || (i < old.len() && old[i].0 < changes[j].0) {
                i += 1;
                old[i - 1]
            } else if i == old.len() || changes[j].0 < old[i].0 {
                j += 1;
                changes[j - 1]
            } else {
                i += 1;
                j += 1;
                (old[i - 1].0, old[i - 1].1 + changes[j - 1].1)
            };
            if next.1 != 0 {
                members.push(next);
            }
        }
        out.push((day, kind, (!members.is_empty()).then(|| encode(&members))));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_round_trip() {
        let m = vec![(3, 1), (7, 2), (8, 1), (1000, 5)];
        let s = encode(&m);
        assert_eq!(s, "3,4*2,1,992*5");
        let mut back: HashMap<i64, i64> = HashMap::new();
        decode(&s, |id, n| *back.entry(id).or_default() += n);
        decode("3", |id, n| *back.entry(id).or_default() += n);
        assert_eq!(back[&3], 2);
        assert_eq!(back[&7], 2);
        assert_eq!(back[&1000], 5);
        assert_eq!(back.len(), 4);
        assert_eq!(encode(&[]), "");
    }
}
