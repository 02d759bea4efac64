//! Rollups: per-day sums of sessions and orders, and per-day sets of visitors and customers, so
//! a dashboard reads a few hundred rows instead of every session and order of its periods.
//!
//! A rollup row is never adjusted by a delta: when anything about a day may have changed, the
//! whole day is recomputed from the base rows with the same loaders and fold as the raw report
//! ([`super::report`]), so the rollups always say what the raw rows say. Which days to recompute
//! comes from the session refresher (the days of sessions it replaced or made) and from
//! `an_dirty_orders`, which every order change writes in its own transaction.

use super::Zone;
use super::report::{self, Period};
use crate::db::{Sql, Val, exec_in, placeholders};
use crate::{Result, params};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Orders read from the dirty list per unit of work.
pub const ORDER_CHUNK: i64 = 20_000;

/// Notes, in the caller's transaction, that an order's KPI facts changed.
pub fn mark_dirty(tx: &mut dyn Sql, order_id: i64) -> Result<()> {
    tx.exec_deferred(
        "INSERT INTO an_dirty_orders (order_id) VALUES ($1)",
        params![order_id],
    )?;
    Ok(())
}

fn vals(ids: &[i64]) -> Vec<Val> {
    ids.iter().map(|i| Val::from(*i)).collect()
}

/// Imported orders: noted as changed, and their lines given their variants' unit costs.
pub fn imported(tx: &mut dyn Sql, order_ids: &[i64]) -> Result<()> {
    if order_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<Val>> = order_ids.iter().map(|i| vec![Val::from(*i)]).collect();
    tx.copy_rows("an_dirty_orders", &["order_id"], &rows)?;
    let any_cost = tx
        .query_one(
            "SELECT 1 FROM variants WHERE cost_minor IS NOT NULL LIMIT 1",
            &[],
        )?
        .is_some();
    if any_cost {
        exec_in(
            tx,
            "UPDATE order_lines SET unit_cost_minor = (SELECT v.cost_minor FROM variants v WHERE v.id = order_lines.variant_id) \
             WHERE unit_cost_minor IS NULL AND order_id IN ({})",
            &vals(order_ids),
        )?;
    }
    Ok(())
}

/// Notes every order as changed (a new time zone moves every order's day).
pub fn mark_all_dirty(tx: &mut dyn Sql) -> Result<()> {
    tx.exec("DELETE FROM an_dirty_orders", &[])?;
    tx.exec(
        "INSERT INTO an_dirty_orders (order_id) SELECT id FROM orders",
        &[],
    )?;
    Ok(())
}

/// Throws every rollup away (the session refresher and the dirty list rebuild them).
pub fn clear(tx: &mut dyn Sql) -> Result<()> {
    for t in [
        "an_session_days",
        "an_order_days",
        "an_day_sets",
        "an_customers",
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

fn day_list(days: &[i32]) -> (String, Vec<Val>) {
    (
        placeholders(1, days.len()),
        days.iter().map(|d| Val::from(i64::from(*d))).collect(),
    )
}

/// Recomputes the session rollups and visitor sets of these days from `an_sessions`.
pub fn session_days(tx: &mut dyn Sql, days: &BTreeSet<i32>) -> Result<()> {
    let days: Vec<i32> = days.iter().copied().collect();
    for chunk in days.chunks(200) {
        let (ph, v) = day_list(chunk);
        tx.exec(
            &format!("DELETE FROM an_session_days WHERE day IN ({ph})"),
            &v,
        )?;
        tx.exec(
            &format!(
                "INSERT INTO an_session_days (day, source, medium, campaign, device, country, sessions, bounces, duration, converted, carts, abandoned, product_views, checkouts) \
                 SELECT day, source, medium, campaign, device, country, COUNT(*), \
                   SUM(CASE WHEN events = 1 AND page_views = 1 THEN 1 ELSE 0 END), SUM(end_ts - start_ts), \
                   SUM(CASE WHEN purchases > 0 THEN 1 ELSE 0 END), SUM(CASE WHEN carts > 0 THEN 1 ELSE 0 END), \
                   SUM(CASE WHEN carts > 0 AND purchases = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN product_views > 0 THEN 1 ELSE 0 END), \
                   SUM(CASE WHEN checkouts > 0 THEN 1 ELSE 0 END) \
                 FROM an_sessions WHERE day IN ({ph}) GROUP BY day, source, medium, campaign, device, country"
            ),
            &v,
        )?;
        tx.exec(
            &format!("DELETE FROM an_day_sets WHERE kind = 'visitors' AND day IN ({ph})"),
            &v,
        )?;
        let mut sets: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
        for r in tx.query(
            &format!(
                "SELECT DISTINCT day, visitor_key FROM an_sessions WHERE day IN ({ph}) ORDER BY day, visitor_key"
            ),
            &v,
        )? {
            sets.entry(r.i64(0)).or_default().push((r.i64(1), 1));
        }
        let rows: Vec<Vec<Val>> = sets
            .into_iter()
            .map(|(d, m)| vec![Val::from(d), Val::from("visitors"), Val::from(encode(&m))])
            .collect();
        tx.copy_rows("an_day_sets", &["day", "kind", "members"], &rows)?;
    }
    Ok(())
}

/// Processes the next chunk of changed orders: finds every day whose order facts may have moved
/// (the orders' days, their refunds' days, and the days their customers' first order moved
/// from or to) and recomputes those days. Returns how many dirty entries it consumed.
pub fn order_chunk(tx: &mut dyn Sql, zone: &Zone, limit: i64) -> Result<usize> {
    // One refresher at a time (two servers on one PostgreSQL database take turns).
    let lock = tx.for_update();
    tx.query(
        &format!("SELECT id FROM analytics_state WHERE id = 1{lock}"),
        &[],
    )?;
    let rows = tx.query(
        "SELECT seq, order_id FROM an_dirty_orders ORDER BY seq LIMIT $1",
        params![limit],
    )?;
    if rows.is_empty() {
        return Ok(0);
    }
    let seqs: Vec<i64> = rows.iter().map(|r| r.i64(0)).collect();
    let mut ids: Vec<i64> = rows.iter().map(|r| r.i64(1)).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut days: BTreeSet<i32> = BTreeSet::new();
    let mut customers: BTreeSet<i64> = BTreeSet::new();
    for chunk in ids.chunks(1000) {
        for r in tx.query(
            &format!(
                "SELECT customer_id, placed_at FROM orders WHERE id IN ({})",
                placeholders(1, chunk.len())
            ),
            &vals(chunk),
        )? {
            customers.insert(r.i64(0));
            days.insert(zone.day_of(r.i64(1)));
        }
        for r in tx.query(
            &format!(
                "SELECT created_at FROM refunds WHERE order_id IN ({})",
                placeholders(1, chunk.len())
            ),
            &vals(chunk),
        )? {
            days.insert(zone.day_of(r.i64(0)));
        }
    }
    let customers: Vec<i64> = customers.into_iter().collect();
    for chunk in customers.chunks(1000) {
        let ph = placeholders(1, chunk.len());
        let mut before: HashMap<i64, (i64, i64)> = HashMap::new();
        for r in tx.query(
            &format!("SELECT customer_id, first_order_id, first_day FROM an_customers WHERE customer_id IN ({ph})"),
            &vals(chunk),
        )? {
            before.insert(r.i64(0), (r.i64(1), r.i64(2)));
        }
        let mut after: HashMap<i64, (i64, i64)> = HashMap::new();
        for r in tx.query(
            &format!(
                "SELECT customer_id, id, placed_at FROM orders WHERE customer_id IN ({ph}) AND status <> 'cancelled' ORDER BY placed_at, id"
            ),
            &vals(chunk),
        )? {
            after
                .entry(r.i64(0))
                .or_insert((r.i64(1), i64::from(zone.day_of(r.i64(2)))));
        }
        for c in chunk {
            let (b, a) = (before.get(c), after.get(c));
            if b != a {
                for (_, day) in b.into_iter().chain(a) {
                    days.insert(*day as i32);
                }
            }
        }
        tx.exec(
            &format!("DELETE FROM an_customers WHERE customer_id IN ({ph})"),
            &vals(chunk),
        )?;
        let rows: Vec<Vec<Val>> = after
            .iter()
            .map(|(c, (o, d))| vec![Val::from(*c), Val::from(*o), Val::from(*d)])
            .collect();
        tx.copy_rows(
            "an_customers",
            &["customer_id", "first_order_id", "first_day"],
            &rows,
        )?;
    }
    order_days(tx, zone, &days)?;
    exec_in(
        tx,
        "DELETE FROM an_dirty_orders WHERE seq IN ({})",
        &vals(&seqs),
    )?;
    Ok(rows.len())
}

/// The sums of one (day, currency, channel, source, medium, campaign, device, country) group.
#[derive(Default)]
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
}

type GroupKey = (i32, String, String, String, String, String, String, String);

fn group_key(day: i32, currency: &str, channel: &str, c: &report::Credit) -> GroupKey {
    (
        day,
        currency.to_string(),
        channel.to_string(),
        c.source.clone(),
        c.medium.clone(),
        c.campaign.clone(),
        c.device.clone(),
        c.country.clone(),
    )
}

/// Recomputes the order rollups and customer sets of these days from the base rows, a run of
/// consecutive days at a time.
pub fn order_days(tx: &mut dyn Sql, zone: &Zone, days: &BTreeSet<i32>) -> Result<()> {
    let mut runs: Vec<(i32, i32)> = Vec::new();
    for d in days {
        match runs.last_mut() {
            Some(last) if last.1 == *d && last.1 - last.0 < 31 => last.1 = d + 1,
            _ => runs.push((*d, d + 1)),
        }
    }
    for (from, to) in runs {
        let p = Period { from, to };
        let f = report::load_orders(tx, zone, p, None)?;
        let mut groups: BTreeMap<GroupKey, Sums> = BTreeMap::new();
        let mut sets: BTreeMap<(i32, String), BTreeMap<i64, i64>> = BTreeMap::new();
        for o in &f.orders {
            let g = groups
                .entry(group_key(o.day, &o.currency, &o.channel, &o.credit))
                .or_default();
            g.orders += 1;
            g.gross += o.merchandise;
            if o.credit.source != backroom_domain::analytics::DIRECT {
                g.attributed += o.merchandise;
            }
            g.new_customers += i64::from(o.first_order);
            *sets
                .entry((o.day, o.currency.clone()))
                .or_default()
                .entry(o.customer)
                .or_default() += 1;
        }
        for l in &f.lines {
            let o = &f.orders[l.order];
            let g = groups
                .entry(group_key(o.day, &o.currency, &o.channel, &o.credit))
                .or_default();
            g.units += l.quantity;
            g.returned += l.returned;
            if let Some(c) = l.cost {
                g.costed += l.net;
                g.cogs += c * l.quantity;
            }
        }
        for r in &f.refunds {
            groups
                .entry(group_key(r.day, &r.currency, &r.channel, &r.credit))
                .or_default()
                .refunds += r.merchandise;
        }
        let (f64d, t64d) = (i64::from(from), i64::from(to));
        tx.exec(
            "DELETE FROM an_order_days WHERE day >= $1 AND day < $2",
            params![f64d, t64d],
        )?;
        tx.exec(
            "DELETE FROM an_day_sets WHERE kind LIKE 'customers:%' AND day >= $1 AND day < $2",
            params![f64d, t64d],
        )?;
        let rows: Vec<Vec<Val>> = groups
            .into_iter()
            .map(|((day, cur, ch, s, m, c, d, co), g)| {
                vec![
                    Val::from(i64::from(day)),
                    cur.into(),
                    ch.into(),
                    s.into(),
                    m.into(),
                    c.into(),
                    d.into(),
                    co.into(),
                    g.orders.into(),
                    g.gross.into(),
                    g.attributed.into(),
                    g.units.into(),
                    g.returned.into(),
                    g.costed.into(),
                    g.cogs.into(),
                    g.new_customers.into(),
                    g.refunds.into(),
                ]
            })
            .collect();
        tx.copy_rows(
            "an_order_days",
            &[
                "day",
                "currency",
                "channel",
                "source",
                "medium",
                "campaign",
                "device",
                "country",
                "orders",
                "gross",
                "attributed",
                "units",
                "returned",
                "costed",
                "cogs",
                "new_customers",
                "refunds",
            ],
            &rows,
        )?;
        let rows: Vec<Vec<Val>> = sets
            .into_iter()
            .map(|((day, cur), members)| {
                let m: Vec<(i64, i64)> = members.into_iter().collect();
                vec![
                    Val::from(i64::from(day)),
                    Val::from(format!("customers:{cur}")),
                    Val::from(encode(&m)),
                ]
            })
            .collect();
        tx.copy_rows("an_day_sets", &["day", "kind", "members"], &rows)?;
    }
    Ok(())
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
