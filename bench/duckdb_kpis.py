"""The KPI dashboard of `backroom bench analytics`, computed by DuckDB from the raw rows.

Usage: python duckdb_kpis.py DIR FROM TO
DIR holds events.csv, orders.csv, lines.csv, refunds.csv and spend.csv as the bench exports them
(no header). FROM and TO are local dates in Europe/Paris; the period is [FROM, TO).

Definitions follow ../../shared/DOMAIN.md as Backroom implements them (see ARCHITECTURE.md):
sessions split after 30 minutes without an event or when an event carries another UTM campaign;
a purchase is credited to the visitor's last non-direct session started within 30 days before it.
Prints one JSON object: the totals, the previous period, the daily series, the funnel, and how
long the queries took once the CSV files were loaded. Only the events that can matter to the two
periods are sessionized (from 31 days before the previous period), so DuckDB is not made to do
more than the report needs; the same period last year is not compared.
"""

import datetime
import json
import sys
import time

import duckdb

GAP = 30 * 60 * 1_000_000
WINDOW = 30 * 86_400 * 1_000_000


def main():
    folder, start, end = sys.argv[1], sys.argv[2], sys.argv[3]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Europe/Paris'")
    load_started = time.perf_counter()
    tables = {
        "events": "seq BIGINT, v VARCHAR, ts BIGINT, type VARCHAR, us VARCHAR, um VARCHAR, uc VARCHAR, rh VARCHAR, order_number BIGINT",
        "orders": "id BIGINT, number BIGINT, placed_at BIGINT, status VARCHAR, merch BIGINT, customer_id BIGINT",
        "lines": "id BIGINT, order_id BIGINT, quantity BIGINT, net BIGINT, cost BIGINT, returned BIGINT",
        "refunds": "id BIGINT, order_id BIGINT, created_at BIGINT, merch BIGINT",
        "spend": "id BIGINT, day BIGINT, amount BIGINT",
    }
    for name, cols in tables.items():
        columns = ", ".join(
            f"'{c.split()[0]}': '{c.split()[1]}'" for c in cols.split(", ")
        )
        con.execute(
            f"CREATE TABLE {'ev' if name == 'events' else name} AS SELECT * FROM read_csv('{folder}/{name}.csv', header = false, "
            f"columns = {{{columns}}}, delim = ',', quote = '\"', auto_detect = false)"
        )
    load_seconds = time.perf_counter() - load_started

    started = time.perf_counter()
    d0 = datetime.date.fromisoformat(start)
    d1 = datetime.date.fromisoformat(end)
    days = (d1 - d0).days
    p0, p1 = d0 - datetime.timedelta(days=days), d0
    epoch = datetime.date(1970, 1, 1)

    # Only the events that can matter: from 31 days before the previous period (the attribution
    # window, and sessions that began the day before) to the end of the period. Sessions are
    # counted by the day they start, so a day of margin keeps every session of the periods whole.
    def micros(day):
        return int(datetime.datetime(day.year, day.month, day.day,
                                     tzinfo=datetime.timezone.utc).timestamp()) * 1_000_000
    lo_ts = micros(p0 - datetime.timedelta(days=31))
    hi_ts = micros(d1 + datetime.timedelta(days=1))
    con.execute(f"""
        CREATE TEMP TABLE s AS
        WITH e AS (
            SELECT v, ts, seq, type, NULLIF(us, '') AS us, NULLIF(um, '') AS um,
                   NULLIF(uc, '') AS uc, NULLIF(rh, '') AS rh, order_number,
                   lag(ts) OVER (PARTITION BY v ORDER BY ts, seq) AS prev_ts
            FROM ev WHERE ts >= {lo_ts} AND ts < {hi_ts}
        ), g AS (
            SELECT *, sum(CASE WHEN prev_ts IS NULL OR ts - prev_ts >= {GAP} THEN 1 ELSE 0 END)
                        OVER (PARTITION BY v ORDER BY ts, seq ROWS UNBOUNDED PRECEDING) AS gap_seg
            FROM e
        ), c AS (
            SELECT *, last_value(uc IGNORE NULLS) OVER (PARTITION BY v, gap_seg ORDER BY ts, seq
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS cur_c,
                      row_number() OVER (PARTITION BY v, gap_seg ORDER BY ts, seq) AS rn
            FROM g
        ), x AS (
            SELECT *, sum(CASE WHEN rn = 1 OR (uc IS NOT NULL AND uc IS DISTINCT FROM cur_c) THEN 1 ELSE 0 END)
                        OVER (PARTITION BY v ORDER BY ts, seq ROWS UNBOUNDED PRECEDING) AS sess
            FROM c
        )
        SELECT v, sess, min(ts) AS start_ts, max(ts) AS end_ts, count(*) AS events,
               count(*) FILTER (WHERE type IN ('page_view', 'product_view')) AS page_views,
               count(*) FILTER (WHERE type = 'product_view') AS product_views,
               count(*) FILTER (WHERE type = 'add_to_cart') AS carts,
               count(*) FILTER (WHERE type = 'checkout_started') AS checkouts,
               count(*) FILTER (WHERE type = 'purchase') AS purchases,
               first(CASE WHEN us IS NOT NULL THEN us WHEN uc IS NOT NULL THEN '(none)'
                          WHEN rh IS NOT NULL THEN rh ELSE '(direct)' END ORDER BY ts, seq) AS source,
               CAST(to_timestamp(min(ts) / 1000000.0) AS DATE) AS day
        FROM x GROUP BY v, sess
    """)

    def session_kpis(a, b):
        r = con.execute(
            """SELECT count(*), count(DISTINCT v),
                      count(*) FILTER (WHERE events = 1 AND page_views = 1),
                      sum(end_ts - start_ts),
                      count(*) FILTER (WHERE purchases > 0),
                      count(*) FILTER (WHERE carts > 0),
                      count(*) FILTER (WHERE carts > 0 AND purchases = 0),
                      count(*) FILTER (WHERE product_views > 0),
                      count(*) FILTER (WHERE checkouts > 0)
               FROM s WHERE day >= ? AND day < ?""",
            [a, b],
        ).fetchone()
        return [int(x or 0) for x in r]

    # Attribution: each order's first purchase event, credited to the latest non-direct session
    # of its visitor that started at most 30 days before it.
    con.execute(f"""
        CREATE TEMP TABLE credit AS
        WITH p AS (
            SELECT order_number, first(v ORDER BY seq) AS v, first(ts ORDER BY seq) AS ts
            FROM ev WHERE type = 'purchase' AND order_number > 0 AND ts >= {lo_ts} AND ts < {hi_ts}
            GROUP BY order_number
        ), nd AS (SELECT v, start_ts FROM s WHERE source <> '(direct)')
        SELECT p.order_number, nd.start_ts IS NOT NULL AND nd.start_ts >= p.ts - {WINDOW} AS credited
        FROM p ASOF LEFT JOIN nd ON p.v = nd.v AND p.ts >= nd.start_ts
    """)
    con.execute("""
        CREATE TEMP TABLE o AS
        SELECT o.*, CAST(to_timestamp(o.placed_at / 1000000.0) AS DATE) AS day,
               coalesce(c.credited, false) AS credited,
               row_number() OVER (PARTITION BY o.customer_id ORDER BY o.placed_at, o.id) = 1 AS first_order
        FROM orders o LEFT JOIN credit c ON c.order_number = o.number
        WHERE o.status <> 'cancelled'
    """)

    def order_kpis(a, b):
        r = con.execute(
            """SELECT count(*), coalesce(sum(merch), 0), count(DISTINCT customer_id),
                      count(*) FILTER (WHERE first_order),
                      coalesce(sum(merch) FILTER (WHERE credited), 0)
               FROM o WHERE day >= ? AND day < ?""",
            [a, b],
        ).fetchone()
        repeat = con.execute(
            """SELECT count(*) FROM (SELECT customer_id FROM o WHERE day >= ? AND day < ?
               GROUP BY customer_id HAVING count(*) >= 2)""",
            [a, b],
        ).fetchone()[0]
        lines = con.execute(
            """SELECT coalesce(sum(l.quantity), 0), coalesce(sum(l.returned), 0),
                      coalesce(sum(l.net) FILTER (WHERE l.cost >= 0), 0),
                      coalesce(sum(l.cost * l.quantity) FILTER (WHERE l.cost >= 0), 0)
               FROM lines l JOIN o ON o.id = l.order_id WHERE o.day >= ? AND o.day < ?""",
            [a, b],
        ).fetchone()
        refunds = con.execute(
            """SELECT coalesce(sum(r.merch), 0) FROM refunds r JOIN o ON o.id = r.order_id
               WHERE CAST(to_timestamp(r.created_at / 1000000.0) AS DATE) >= ?
                 AND CAST(to_timestamp(r.created_at / 1000000.0) AS DATE) < ?""",
            [a, b],
        ).fetchone()[0]
        return [int(x or 0) for x in list(r) + [repeat] + list(lines) + [refunds]]

    def spend(a, b):
        return int(con.execute(
            "SELECT coalesce(sum(amount), 0) FROM spend WHERE day >= ? AND day < ?",
            [(a - epoch).days, (b - epoch).days],
        ).fetchone()[0])

    def half_even(a, b):
        if b == 0:
            return None
        q, r = divmod(a, b)
        if 2 * r > b or (2 * r == b and q % 2 == 1):
            q += 1
        return q

    def ratio(a, b):
        return a / b if b else None

    def kpis(a, b):
        sess, vis, bounces, duration, converted, carts, abandoned, pv, co = session_kpis(a, b)
        orders, gross, customers, new, attributed, repeat, units, returned, costed, cogs, refunds = order_kpis(a, b)
        return {
            "sessions": sess,
            "unique_visitors": vis,
            "bounce_rate": ratio(bounces, sess),
            "avg_session_seconds": ratio(duration, sess) / 1e6 if sess else None,
            "conversion_rate": ratio(converted, sess),
            "cart_abandonment_rate": ratio(abandoned, carts),
            "orders": orders,
            "gross_sales": gross,
            "net_sales": gross - refunds,
            "aov": half_even(gross, orders),
            "customers": customers,
            "new_customers": new,
            "repeat_customer_rate": ratio(repeat, customers),
            "units_sold": units,
            "units_returned": returned,
            "return_rate": ratio(returned, units),
            "cogs": cogs,
            "gross_margin": ratio(costed - cogs, costed),
            "attributed_sales": attributed,
            "ad_spend": spend(a, b),
        }, [sess, pv, carts, co, converted]

    totals, funnel = kpis(d0, d1)
    previous, _ = kpis(p0, p1)
    # The daily series, one grouped query per table.
    by_day = {}
    for day, n in con.execute(
        "SELECT day, count(*) FROM s WHERE day >= ? AND day < ? GROUP BY day", [d0, d1]
    ).fetchall():
        by_day.setdefault(day, [0, 0])[0] = n
    for day, m in con.execute(
        "SELECT day, sum(merch) FROM o WHERE day >= ? AND day < ? GROUP BY day", [d0, d1]
    ).fetchall():
        by_day.setdefault(day, [0, 0])[1] += int(m)
    for day, m in con.execute(
        """SELECT CAST(to_timestamp(r.created_at / 1000000.0) AS DATE) AS day, sum(r.merch)
           FROM refunds r JOIN o ON o.id = r.order_id GROUP BY 1""",
    ).fetchall():
        if d0 <= day < d1:
            by_day.setdefault(day, [0, 0])[1] -= int(m)
    series = []
    for k in range(days):
        day = d0 + datetime.timedelta(days=k)
        n, net = by_day.get(day, [0, 0])
        series.append([day.isoformat(), n, net])
    seconds = time.perf_counter() - started
    print(json.dumps({
        "version": duckdb.__version__,
        "load_seconds": load_seconds,
        "seconds": seconds,
        "totals": totals,
        "previous": previous,
        "series": series,
        "funnel": funnel,
    }))


if __name__ == "__main__":
    main()
