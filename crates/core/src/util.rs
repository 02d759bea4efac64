//! Small helpers shared by the services: time, random tokens, hashing, JSON columns, keyset
//! paging and filters, `LIKE` patterns.

use sha2::{Digest, Sha256};

/// The wall clock in microseconds since the Unix epoch (UTC). Only entry points call this; services
/// take the time from their [`crate::Ctx`].
pub fn now_micros() -> i64 {
    jiff::Timestamp::now().as_microsecond()
}

/// RFC 3339 in UTC, e.g. `2026-11-23T10:15:00.123456Z`.
pub fn rfc3339(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub fn opt_rfc3339(micros: Option<i64>) -> Option<String> {
    micros.map(rfc3339)
}

/// Parses an RFC 3339 timestamp (or a plain date, taken as midnight UTC) into microseconds.
pub fn parse_time(field: &str, s: &str) -> Result<i64, crate::Error> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_microsecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>()
        && let Ok(z) = d.to_zoned(jiff::tz::TimeZone::UTC)
    {
        return Ok(z.timestamp().as_microsecond());
    }
    Err(crate::Error::invalid(
        field,
        "must be a time like 2026-11-23T10:00:00Z or a date like 2026-11-23",
    ))
}

/// `n` bytes from the operating system's secure random source, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The OS source does not fail on the systems we support. If it did, the error is ignored and
    // the buffer stays all zeros: nothing here or in the callers checks for it.
    let _ = getrandom::fill(&mut buf);
    hex(&buf)
}

pub fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

pub fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub fn from_json<T: serde::de::DeserializeOwned + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

/// An opaque keyset cursor: the sort value and id of the last item of a page.
pub fn encode_cursor(sort_value: &str, id: i64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{sort_value}\u{1f}{id}"))
}

pub fn decode_cursor(cursor: &str) -> Result<(String, i64), crate::Error> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad_cursor())?;
    let s = String::from_utf8(bytes).map_err(|_| bad_cursor())?;
    let (v, id) = s.rsplit_once('\u{1f}').ok_or_else(bad_cursor)?;
    Ok((v.to_string(), id.parse().map_err(|_| bad_cursor())?))
}

fn bad_cursor() -> crate::Error {
    crate::Error::invalid("cursor", "is not a cursor this list gave out")
}

/// A list's `sort` as asked, `key` (ascending) or `-key` (descending) with `key` one of `keys`:
/// (key, descending). Anything else is refused naming the field and the keys it takes.
pub fn parse_sort<'a>(sort: &'a str, keys: &[&str]) -> Result<(&'a str, bool), crate::Error> {
    let (key, desc) = match sort.strip_prefix('-') {
        Some(k) => (k, true),
        None => (sort, false),
    };
    if keys.contains(&key) {
        return Ok((key, desc));
    }
    let named = match keys.split_last() {
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(crate::Error::invalid(
        "sort",
        format!("must be {named}, with - for descending"),
    ))
}

/// The cursor of a list sorted by `sort` (as asked, `-total` say): the last row's sort value
/// and id, tagged with the sort so that another sort refuses it. `None` is the list's default
/// order, whose cursors carry the value alone.
pub fn sorted_cursor(sort: Option<&str>, value: &str, id: i64) -> String {
    match sort {
        Some(s) => encode_cursor(&format!("{s}:{value}"), id),
        None => encode_cursor(value, id),
    }
}

/// The sort value and id of a [`sorted_cursor`], refused when it was given out for another sort.
pub fn decode_sorted_cursor(
    cursor: &str,
    sort: Option<&str>,
) -> Result<(String, i64), crate::Error> {
    let (v, id) = decode_cursor(cursor)?;
    let value = match (sort, v.split_once(':')) {
        (Some(s), Some((tag, rest))) if tag == s => rest.to_string(),
        (None, None) => v,
        _ => return Err(crate::Error::invalid("cursor", "does not match this sort")),
    };
    Ok((value, id))
}

/// A page size: 50 by default, 1 to 250.
pub fn page_limit(limit: Option<i64>) -> Result<i64, crate::Error> {
    match limit {
        None => Ok(50),
        Some(n) if (1..=250).contains(&n) => Ok(n),
        Some(_) => Err(crate::Error::invalid("limit", "must be between 1 and 250")),
    }
}

/// Builds a WHERE clause with numbered placeholders as conditions are added.
#[derive(Default)]
pub struct Filter {
    pub clauses: Vec<String>,
    pub params: Vec<crate::Val>,
}

impl Filter {
    /// Adds a condition; each `?` in `clause` becomes the next `$n`.
    pub fn add(&mut self, clause: &str, vals: Vec<crate::Val>) {
        let mut out = String::new();
        let mut it = vals.into_iter();
        for c in clause.chars() {
            if c == '?' {
                if let Some(v) = it.next() {
                    self.params.push(v);
                    out.push_str(&format!("${}", self.params.len()));
                }
            } else {
                out.push(c);
            }
        }
        self.clauses.push(out);
    }
    pub fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }
    /// The next placeholder number, for a LIMIT appended after the conditions.
    pub fn push(&mut self, v: crate::Val) -> String {
        self.params.push(v);
        format!("${}", self.params.len())
    }
}

/// Trims a fetched `limit + 1` rows to a page and makes the next cursor from the last item.
pub fn page<T: Clone>(
    items: &mut Vec<T>,
    limit: i64,
    cursor: impl Fn(&T) -> String,
) -> crate::api::Page<T> {
    let more = items.len() as i64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if more { items.last().map(cursor) } else { None };
    crate::api::Page {
        items: std::mem::take(items),
        next_cursor,
    }
}

/// A page of a list keyed by id (`order` is [`Keyset::IdDesc`], newest first, or
/// [`Keyset::IdAsc`]): the ids of `table` that `filter` keeps (its clauses name the table's own
/// columns), paged by [`keyset_page`], each item read with `get`.
pub fn page_by_id<T: Clone>(
    tx: &mut dyn crate::db::Sql,
    table: &str,
    filter: Filter,
    q: &crate::api::PageQuery,
    order: Keyset,
    get: impl Fn(&mut dyn crate::db::Sql, i64) -> crate::Result<T>,
) -> crate::Result<crate::api::Page<T>> {
    let ids = keyset_page(
        tx,
        &format!("SELECT id FROM {table}"),
        filter,
        q,
        order,
        "id",
        |r| r.get("id"),
        |id| (String::new(), *id),
    )?;
    Ok(crate::api::Page {
        items: ids
            .items
            .into_iter()
            .map(|id| get(tx, id))
            .collect::<crate::Result<_>>()?,
        next_cursor: ids.next_cursor,
    })
}

/// The order of a keyset-paged list: by id (oldest or newest first), or by a sort column and
/// then the id, ascending.
#[derive(Clone, Copy)]
pub enum Keyset<'a> {
    IdAsc,
    IdDesc,
    /// An integer column, then the id.
    Int(&'a str),
    /// A text column, then the id.
    Text(&'a str),
}

/// One page of `select` (a query with no WHERE, ORDER BY or LIMIT, whose rows `map` decodes) in
/// the order `keys` names: `id_col` is the id column, `key` gives an item's sort value and id
/// for the next cursor. `filter` holds the list's own conditions.
#[allow(clippy::too_many_arguments)]
pub fn keyset_page<T: Clone>(
    tx: &mut dyn crate::db::Sql,
    select: &str,
    mut filter: Filter,
    q: &crate::api::PageQuery,
    keys: Keyset,
    id_col: &str,
    map: impl Fn(&crate::db::Row) -> Result<T, crate::DbError>,
    key: impl Fn(&T) -> (String, i64),
) -> crate::Result<crate::api::Page<T>> {
    let limit = page_limit(q.limit)?;
    if let Some(c) = &q.cursor {
        let (v, id) = decode_cursor(c)?;
        match keys {
            Keyset::IdAsc => filter.add(&format!("{id_col} > ?"), vec![id.into()]),
            Keyset::IdDesc => filter.add(&format!("{id_col} < ?"), vec![id.into()]),
            Keyset::Int(col) => {
                let v: i64 = v.parse().map_err(|_| bad_cursor())?;
                filter.add(
                    &format!("({col} > ? OR ({col} = ? AND {id_col} > ?))"),
                    vec![v.into(), v.into(), id.into()],
                )
            }
            Keyset::Text(col) => filter.add(
                &format!("({col} > ? OR ({col} = ? AND {id_col} > ?))"),
                vec![v.clone().into(), v.into(), id.into()],
            ),
        }
    }
    let order = match keys {
        Keyset::IdAsc => id_col.to_string(),
        Keyset::IdDesc => format!("{id_col} DESC"),
        Keyset::Int(col) | Keyset::Text(col) => format!("{col}, {id_col}"),
    };
    let lim = filter.push((limit + 1).into());
    let mut items: Vec<T> = tx
        .query(
            &format!(
                "{select}{} ORDER BY {order} LIMIT {lim}",
                filter.where_sql()
            ),
            &filter.params,
        )?
        .iter()
        .map(map)
        .collect::<Result<_, _>>()?;
    Ok(page(&mut items, limit, |t| {
        let (v, id) = key(t);
        encode_cursor(&v, id)
    }))
}

/// A `LIKE` pattern that matches `s` anywhere, lower-cased, in which `%`, `_` and the backslash
/// match themselves (each is escaped with a backslash); use it with `LIKE ? ESCAPE` backslash.
pub fn like_contains(s: &str) -> String {
    let mut p = String::with_capacity(s.len() + 2);
    p.push('%');
    for c in s.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}
