//! Storage: one small SQL interface ([`Sql`]) with an adapter per backend, and [`Db`], the handle the
//! rest of Backroom uses to run a unit of work in a transaction.
//!
//! Queries are written once, with `$1` placeholders, in the functions of each business area
//! (`crate::orders`, `crate::inventory`, ...); the adapters differ only where the engines must: SQLite admits one writer, so
//! its adapter funnels every write through one thread that commits concurrent units of work together
//! (group commit, each in its own savepoint); PostgreSQL runs units of work concurrently on a pool
//! and takes row locks (`FOR UPDATE`), retrying a unit that lost a serialization race.

mod pgwire;
pub mod postgres;
pub mod sqlite;

use crate::Error;
use std::sync::Arc;

/// A value bound to or read from SQL.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    Bool(bool),
    /// Bytes: a BLOB on SQLite, a BYTEA on PostgreSQL (a job's uploaded file).
    Bytes(Vec<u8>),
    /// A list bound as one parameter (see [`in_list`]): an array on PostgreSQL, JSON text on
    /// SQLite. Never read back.
    List(Vec<Val>),
}

impl Val {
    /// A list as JSON text (SQLite's `json_each` reads it).
    pub(crate) fn list_json(items: &[Val]) -> String {
        let json: Vec<serde_json::Value> = items
            .iter()
            .map(|v| match v {
                Val::Null => serde_json::Value::Null,
                Val::Int(x) => (*x).into(),
                Val::Float(f) => (*f).into(),
                Val::Bool(b) => i64::from(*b).into(),
                Val::Text(t) => t.clone().into(),
                Val::Bytes(_) => serde_json::Value::Null,
                Val::List(l) => serde_json::Value::String(Val::list_json(l)),
            })
            .collect();
        serde_json::Value::Array(json).to_string()
    }
}

impl From<Vec<u8>> for Val {
    fn from(v: Vec<u8>) -> Self {
        Val::Bytes(v)
    }
}
impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::Int(v)
    }
}
impl From<i32> for Val {
    fn from(v: i32) -> Self {
        Val::Int(i64::from(v))
    }
}
impl From<usize> for Val {
    fn from(v: usize) -> Self {
        Val::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Float(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Self {
        v.map_or(Val::Null, Into::into)
    }
}

/// Builds a parameter slice: `params![a, b]` is `&[Val::from(a), Val::from(b)]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Val::from($v)),*][..] };
}

/// The names of a result's columns, shared by its rows.
pub type Names = Arc<[Box<str>]>;

/// One result row: its values and the names of its columns.
///
/// Read it by name with [`Row::get`] (or decode it whole with [`FromRow`], usually declared with
/// [`row!`](crate::row)): a NULL where a value is expected, a value of another type or a column
/// that is not there is an error naming the column ([`DbError::Decode`]), never a silent 0 or
/// "". There are no positional readers: [`Row::values`] gives the raw values in column order
/// for code that must handle every column alike (copying rows, printing them).
#[derive(Clone, Debug)]
pub struct Row {
    names: Names,
    vals: Vec<Val>,
}

impl Row {
    pub fn new(names: Names, vals: Vec<Val>) -> Row {
        Row { names, vals }
    }
    /// The values, in column order.
    pub fn values(&self) -> &[Val] {
        &self.vals
    }
    /// How many columns the row has.
    pub fn len(&self) -> usize {
        self.vals.len()
    }
    pub fn is_empty(&self) -> bool {
        self.vals.is_empty()
    }
    /// The column named `name` (the last part of `t.name`, or an `AS` alias), decoded.
    pub fn get<T: FromVal>(&self, name: &str) -> Result<T, DbError> {
        self.get_near(name, 0)
    }
    /// [`Row::get`], looking first at column `hint` (where a row type's field usually is: its
    /// queries list the columns in the order of its fields), then at every column. Columns read
    /// by name have names of their own (queries alias clashing ones apart), so where it is
    /// found does not change what is read.
    pub fn get_near<T: FromVal>(&self, name: &str, hint: usize) -> Result<T, DbError> {
        let i = match self.names.get(hint) {
            Some(n) if &**n == name => Some(hint),
            _ => self.names.iter().position(|n| &**n == name),
        };
        let i = i.ok_or_else(|| {
            DbError::Decode(format!(
                "the result has no column `{name}` (it has {})",
                self.names.join(", ")
            ))
        })?;
        T::from_val(&self.vals[i]).map_err(|expected| {
            DbError::Decode(format!(
                "column `{name}`: {} where {expected} was expected",
                describe(&self.vals[i])
            ))
        })
    }
}

/// What a value is, for decoding errors.
fn describe(v: &Val) -> String {
    match v {
        Val::Null => "NULL".into(),
        Val::Int(x) => format!("the integer {x}"),
        Val::Float(x) => format!("the number {x}"),
        Val::Bool(b) => format!("the boolean {b}"),
        Val::Text(t) if t.chars().count() > 40 => "a text".into(),
        Val::Text(t) => format!("the text {t:?}"),
        Val::List(_) => "a list".into(),
        Val::Bytes(b) => format!("{} bytes", b.len()),
    }
}

/// A Rust value one SQL value decodes into; `Err` says what was expected. Booleans come as
/// integers 0 and 1 from SQLite and as booleans from PostgreSQL, and decode alike.
pub trait FromVal: Sized {
    fn from_val(v: &Val) -> Result<Self, &'static str>;
}

impl FromVal for i64 {
    fn from_val(v: &Val) -> Result<Self, &'static str> {
        match v {
            Val::Int(x) => Ok(*x),
            Val::Bool(b) => Ok(i64::from(*b)),
            _ => Err("an integer"),
        }
    }
}
impl FromVal for f64 {
    fn from_val(v: &Val) -> Result<Self, &'static str> {
        match v {
            Val::Float(x) => Ok(*x),
            Val::Int(x) => Ok(*x as f64),
            _ => Err("a number"),
        }
    }
}
impl FromVal for bool {
    fn from_val(v: &Val) -> Result<Self, &'static str> {
        match v {
            Val::Bool(b) => Ok(*b),
            Val::Int(0) => Ok(false),
            Val::Int(1) => Ok(true),
            _ => Err("a boolean"),
        }
    }
}
impl FromVal for String {
    fn from_val(v: &Val) -> Result<Self, &'static str> {
        match v {
            Val::Text(t) => Ok(t.clone()),
            _ => Err("a text"),
        }
    }
}
impl FromVal for Vec<u8> {
    fn from_val(v: &Val) -> Result<Self, &'static str> {
        match v {
            Val::Bytes(b) => Ok(b.clone()),
            _ => Err("bytes"),
        }
    }
}
impl<T: FromVal> FromVal for Option<T> {
    fn from_val(v: &Val) -> Result<Self, &'static str> {
        match v {
            Val::Null => Ok(None),
            v => T::from_val(v).map(Some),
        }
    }
}

/// A row type decoded from a result row by column name.
pub trait FromRow: Sized {
    fn from_row(r: &Row) -> Result<Self, DbError>;
}

/// Runs `f` inside a savepoint of the open transaction: when it fails, what it wrote is rolled
/// back and the transaction goes on without it.
pub fn savepoint<T>(
    tx: &mut dyn Sql,
    f: impl FnOnce(&mut dyn Sql) -> Result<T, Error>,
) -> Result<T, Error> {
    tx.exec("SAVEPOINT step", &[])?;
    match f(tx) {
        Ok(v) => {
            tx.exec("RELEASE SAVEPOINT step", &[])?;
            Ok(v)
        }
        Err(e) => {
            tx.exec("ROLLBACK TO SAVEPOINT step", &[])?;
            tx.exec("RELEASE SAVEPOINT step", &[])?;
            Err(e)
        }
    }
}

/// Whether the database answers a trivial query (the health check).
pub fn ping(tx: &mut dyn Sql) -> Result<(), DbError> {
    tx.query_one("SELECT 1 AS one", &[]).map(|_| ())
}

/// Runs a query and decodes every row into `T`.
pub fn query_as<T: FromRow>(
    tx: &mut dyn Sql,
    sql: &str,
    params: &[Val],
) -> Result<Vec<T>, DbError> {
    tx.query(sql, params)?.iter().map(T::from_row).collect()
}

/// Runs a query and decodes its first row, if any, into `T`.
pub fn query_one_as<T: FromRow>(
    tx: &mut dyn Sql,
    sql: &str,
    params: &[Val],
) -> Result<Option<T>, DbError> {
    tx.query_one(sql, params)?
        .as_ref()
        .map(T::from_row)
        .transpose()
}

/// Declares a row type and its [`FromRow`]: each field is read from the column of its name.
///
/// ```ignore
/// backroom_core::row! {
///     /// A webhook subscription as stored.
///     pub struct SubscriptionRow { pub id: i64, pub url: String, pub active: bool }
/// }
/// ```
#[macro_export]
macro_rules! row {
    ($(#[$m:meta])* $vis:vis struct $name:ident { $($(#[$fm:meta])* $fvis:vis $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Debug)]
        $vis struct $name { $($(#[$fm])* $fvis $field: $ty),* }
        impl $crate::db::FromRow for $name {
            fn from_row(r: &$crate::db::Row) -> ::std::result::Result<Self, $crate::db::DbError> {
                // Each field is looked for first at its own position: the row's query
                // usually lists the columns in the fields' order.
                let mut _at = 0usize;
                Ok(Self { $($field: {
                    let v = r.get_near(stringify!($field), _at)?;
                    _at += 1;
                    v
                }),* })
            }
        }
    };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// A storage failure, classified so callers can act on it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DbError {
    /// A unique constraint refused a row; the constraint or column is named.
    #[error("unique constraint violated: {0}")]
    Unique(String),
    /// A concurrent transaction won; the unit of work may be retried.
    #[error("transaction conflict, retry: {0}")]
    Retry(String),
    /// A text value holds U+0000, which PostgreSQL cannot store; refused on both backends alike
    /// before it is sent, so that no input reaches the database as a server error.
    #[error("a text value contains the NUL character (U+0000), which no text may hold")]
    NulInText,
    /// PostgreSQL did not answer in time (connecting, or a statement past the query timeout,
    /// which was then cancelled); the connection was closed. The message says which.
    #[error("database timeout: {0}")]
    Timeout(String),
    /// A table changed its columns under a statement prepared before (PostgreSQL: "cached plan
    /// must not change result type", after a migration). The unit of work is run again once
    /// with its statements prepared afresh; this error means it happened again.
    #[error("a table changed under a prepared statement, even after preparing it again: {0}")]
    StalePlan(String),
    /// A result did not decode into its row type: a NULL where a value was expected, a value of
    /// another type, or a missing column. A defect in Backroom, named precisely.
    #[error("a stored value did not decode: {0}")]
    Decode(String),
    #[error("database error: {0}")]
    Other(String),
}

/// Refuses parameters holding U+0000 ([`DbError::NulInText`]); every adapter checks what it binds.
pub(crate) fn refuse_nul(params: &[Val]) -> Result<(), DbError> {
    fn nul(v: &Val) -> bool {
        match v {
            Val::Text(t) => t.contains('\0'),
            Val::List(items) => items.iter().any(nul),
            _ => false,
        }
    }
    if params.iter().any(nul) {
        return Err(DbError::NulInText);
    }
    Ok(())
}

/// An open transaction on one connection. Every repository function takes one.
pub trait Sql {
    fn dialect(&self) -> Dialect;
    /// Runs a statement; returns the number of rows changed.
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError>;
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError>;

    /// Runs a statement whose result the caller does not need. An adapter may queue it and send
    /// it with the next statement (PostgreSQL pipelines it); its failure then fails that statement
    /// or the commit, so the unit of work still fails whole.
    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<(), DbError> {
        self.exec(sql, params).map(|_| ())
    }

    /// Runs several statements in order and returns each one's rows. PostgreSQL sends them in
    /// one pipeline (one round trip, after whatever is queued); SQLite runs them one by one. The
    /// first failure fails the batch.
    fn query_batch(&mut self, stmts: &[(&str, &[Val])]) -> Result<Vec<Vec<Row>>, DbError> {
        stmts.iter().map(|(sql, p)| self.query(sql, p)).collect()
    }

    fn query_one(&mut self, sql: &str, params: &[Val]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }
    /// Appends rows to `table` as fast as the engine allows: PostgreSQL streams them with
    /// `COPY`; SQLite runs multi-row inserts of prepared statements.
    fn copy_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Val>],
    ) -> Result<(), DbError> {
        let cols = columns.len().max(1);
        let per = (30_000 / cols).max(1);
        let mut at = 0;
        for size in fixed_chunks(rows.len(), per) {
            let chunk = &rows[at..at + size];
            at += size;
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                columns.join(", "),
                values_sql(chunk.len(), cols)
            );
            let vals: Vec<Val> = chunk.iter().flatten().cloned().collect();
            self.exec(&sql, &vals)?;
        }
        Ok(())
    }

    /// ` FOR UPDATE` on PostgreSQL, nothing on SQLite (whose single writer already excludes others).
    fn for_update(&self) -> &'static str {
        match self.dialect() {
            Dialect::Postgres => " FOR UPDATE",
            Dialect::Sqlite => "",
        }
    }
}

/// `$from, $from+1, ...`: `n` numbered placeholders, for an `IN (...)` list whose length a
/// request bounds (an order's lines: at most 250). Only placement's SKU lookup and the
/// stock-level lock query (placement, and through `inventory::lock_channel_levels` edits,
/// exchanges, re-sourcing and a count's shortfall) use it: there, numbered
/// placeholders let PostgreSQL keep one generic plan per line count, where a list parameter
/// ([`in_list`]) makes it plan every execution afresh (binding the lock query took 0.78 ms
/// instead of 0.11 ms, and `bench orders` lost a third of its rate). Every list whose length
/// comes from data uses [`in_list`].
pub fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids as statement parameters.
pub fn int_vals(ids: &[i64]) -> Vec<Val> {
    ids.iter().map(|i| Val::from(*i)).collect()
}

/// The one policy for matching against a list of any length: `expr` is in `vals`, all held in
/// the single parameter `$n` ([`Val::List`]). PostgreSQL: `expr = ANY(CAST($n AS BIGINT[]))`
/// (`TEXT[]` unless every value is an integer), the list sent as a binary array; SQLite, which
/// has no arrays: `expr IN (SELECT value FROM json_each($n))`, the list sent as JSON. The statement's text is
/// the same for every length (one prepared statement, not one per length), no list meets a
/// parameter limit, and an empty list matches nothing. Returns the condition and the parameter.
pub fn in_list(dialect: Dialect, expr: &str, n: usize, vals: &[Val]) -> (String, Val) {
    let items: Vec<Val> = vals.iter().filter(|v| **v != Val::Null).cloned().collect();
    let cond = match dialect {
        Dialect::Postgres => {
            let ints = items
                .iter()
                .all(|v| matches!(v, Val::Int(_) | Val::Bool(_)));
            let ty = if ints { "BIGINT[]" } else { "TEXT[]" };
            format!("{expr} = ANY(CAST(${n} AS {ty}))")
        }
        Dialect::Sqlite => format!("{expr} IN (SELECT value FROM json_each(${n}))"),
    };
    (cond, Val::List(items))
}

/// Runs `sql`, whose one `{}` stands for "`expr` is in `vals`" ([`in_list`], as `$1`), in one
/// statement; returns the rows changed.
pub fn exec_in(tx: &mut dyn Sql, sql: &str, expr: &str, vals: &[Val]) -> Result<u64, DbError> {
    if vals.is_empty() {
        return Ok(0);
    }
    let (cond, list) = in_list(tx.dialect(), expr, 1, vals);
    tx.exec(&sql.replace("{}", &cond), &[list])
}

/// `($1, $2), ($3, $4)`: numbered placeholders for `rows` rows of `cols` columns.
pub fn values_sql(rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push_str(", ");
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push_str(", ");
            }
            s.push('$');
            s.push_str(&(r * cols + c + 1).to_string());
        }
        s.push(')');
    }
    s
}

/// Splits `n` rows into chunks of at most `per`, using only a few sizes (`per`, 256, 32, 4, 1),
/// so a multi-row statement is one of a handful of texts and prepared-statement caches stay
/// small.
pub fn fixed_chunks(n: usize, per: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = [per, 256, 32, 4, 1]
        .into_iter()
        .filter(|s| *s <= per)
        .collect();
    sizes.dedup();
    let mut out = Vec::new();
    let mut left = n;
    for s in sizes {
        while left >= s && s > 0 {
            out.push(s);
            left -= s;
        }
    }
    out
}

/// Runs `head` (`INSERT INTO t (a, b, ...)`, `cols` columns) over `rows` as multi-row `VALUES`
/// statements in [`fixed_chunks`] that stay under both engines' parameter limits, with
/// ` RETURNING {returning}` when given; the returned rows of every chunk, in order. One statement
/// per chunk: the bulk writers (an order history's orders, customers, products, returns) use it
/// where they need the new rows' ids back (`copy_rows` returns none).
pub fn insert_rows(
    tx: &mut dyn Sql,
    head: &str,
    cols: usize,
    rows: &[Vec<Val>],
    returning: Option<&str>,
) -> Result<Vec<Row>, DbError> {
    let per = (30_000 / cols).max(1);
    let mut out = Vec::new();
    let mut at = 0;
    for size in fixed_chunks(rows.len(), per) {
        let chunk = &rows[at..at + size];
        at += size;
        let vals: Vec<Val> = chunk.iter().flatten().cloned().collect();
        let sql = format!(
            "{head} VALUES {}{}",
            values_sql(chunk.len(), cols),
            returning
                .map(|r| format!(" RETURNING {r}"))
                .unwrap_or_default()
        );
        if returning.is_some() {
            out.extend(tx.query(&sql, &vals)?);
        } else {
            tx.exec(&sql, &vals)?;
        }
    }
    Ok(out)
}

/// A unit of work run in one transaction: it either commits whole or leaves nothing behind.
pub type Work<T> = Box<dyn FnMut(&mut dyn Sql) -> Result<T, Error> + Send>;

/// The database, chosen once from its URL.
#[derive(Clone)]
pub enum Db {
    Sqlite(Arc<sqlite::SqliteDb>, Lane),
    Postgres(Arc<postgres::PgDb>, Lane),
}

/// Whose units of work a [`Db`] handle runs. Each lane has its own admission: requests share
/// the pool's connections (SQLite: its readers), the background worker has one of its own, so
/// a long rollup read never leaves requests a connection short. SQLite's writes all go through
/// its one writer whatever the lane.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Requests,
    Background,
}

/// How many units of work run at once on each lane: up to the pool's size for requests, one for
/// the background worker. Each adapter holds one and enters it before taking a connection.
pub(crate) struct Admission {
    requests: tokio::sync::Semaphore,
    background: tokio::sync::Semaphore,
}

impl Admission {
    pub(crate) fn new(requests: usize) -> Admission {
        Admission {
            requests: tokio::sync::Semaphore::new(requests),
            background: tokio::sync::Semaphore::new(1),
        }
    }

    /// Waits for a place on `lane`; it is given back when the permit is dropped.
    pub(crate) async fn enter(
        &self,
        lane: Lane,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, Error> {
        let slots = match lane {
            Lane::Requests => &self.requests,
            Lane::Background => &self.background,
        };
        slots
            .acquire()
            .await
            .map_err(|e| Error::Db(DbError::Other(e.to_string())))
    }
}

/// How to open a database, beyond its URL.
#[derive(Clone, Debug)]
pub struct DbOptions {
    /// PostgreSQL connections kept for requests. Few suit a small machine: each PostgreSQL
    /// backend is a process, and on two cores more of them mostly add context switches.
    pub pg_pool: usize,
    /// How long a PostgreSQL statement may wait for the server's next message (`None`: no
    /// limit); then it is cancelled and its connection closed.
    pub pg_query_timeout: Option<std::time::Duration>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            pg_pool: postgres::DEFAULT_POOL,
            pg_query_timeout: Some(postgres::DEFAULT_QUERY_TIMEOUT),
        }
    }
}

impl Db {
    /// Opens `url` with the default [`DbOptions`].
    pub async fn open(url: &str) -> Result<Db, Error> {
        Db::open_with(url, &DbOptions::default()).await
    }

    /// Opens `url`: `sqlite://path` (or a bare path), `sqlite::memory:`-free; or `postgres://...`.
    /// Creates a SQLite file if missing and applies pending migrations on both. Reads no
    /// environment: the server's configuration gives `options`.
    pub async fn open_with(url: &str, options: &DbOptions) -> Result<Db, Error> {
        let url = url.to_string();
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let (size, query_timeout) = (options.pg_pool, options.pg_query_timeout);
            let pg = tokio::task::spawn_blocking(move || {
                postgres::PgDb::open_with(&url, size, query_timeout)
            })
            .await
            .map_err(|e| Error::Db(DbError::Other(e.to_string())))??;
            Db::Postgres(Arc::new(pg), Lane::Requests)
        } else {
            let path = url.strip_prefix("sqlite://").unwrap_or(&url).to_string();
            let lite = tokio::task::spawn_blocking(move || sqlite::SqliteDb::open(&path))
                .await
                .map_err(|e| Error::Db(DbError::Other(e.to_string())))??;
            Db::Sqlite(Arc::new(lite), Lane::Requests)
        };
        Ok(db)
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(..) => Dialect::Postgres,
        }
    }

    /// The same database, for the background worker's units of work (see [`Lane`]).
    pub fn background(&self) -> Db {
        match self {
            Db::Sqlite(d, _) => Db::Sqlite(d.clone(), Lane::Background),
            Db::Postgres(d, _) => Db::Postgres(d.clone(), Lane::Background),
        }
    }

    /// Runs `work` in a write transaction. On SQLite it joins the writer's next group commit; the
    /// result is returned only after the commit is durable.
    pub async fn write<T: Send + 'static>(
        &self,
        work: impl FnMut(&mut dyn Sql) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        match self {
            Db::Sqlite(d, _) => d.write(Box::new(work)).await,
            Db::Postgres(d, lane) => d.clone().run(Box::new(work), false, *lane).await,
        }
    }

    /// Runs `work` in a read-only transaction (one consistent snapshot).
    pub async fn read<T: Send + 'static>(
        &self,
        work: impl FnMut(&mut dyn Sql) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        match self {
            Db::Sqlite(d, lane) => d.clone().read(Box::new(work), *lane).await,
            Db::Postgres(d, lane) => d.clone().run(Box::new(work), true, *lane).await,
        }
    }
}

/// Splits a schema script into statements at `;` line ends (our scripts hold no procedural code).
pub(crate) fn statements(script: &str) -> impl Iterator<Item = String> + '_ {
    script
        .split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
}

/// Ids for rows a unit is about to insert, so that statements referring to them can be queued
/// (and, on PostgreSQL, sent together with the commit) instead of waiting for each insert's
/// `RETURNING`. Each request names a table whose `id` is wanted, or `order_numbers`, and how
/// many; the answer holds that many fresh values per request, in request order.
///
/// PostgreSQL draws them from the tables' identity sequences in one statement (values a rolled
/// back unit drew are skipped, as sequences always do). SQLite's single writer makes the next
/// value simply one past the largest, read in one statement: ids of the table, order numbers of
/// the orders (or the counter row an import raised, if higher).
pub fn next_ids(
    tx: &mut dyn Sql,
    requests: &[(&'static str, usize)],
) -> Result<Vec<Vec<i64>>, Error> {
    let mut out: Vec<Vec<i64>> = vec![Vec::new(); requests.len()];
    let wanted: Vec<(usize, &str, usize)> = requests
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(i, (t, n))| (i, *t, *n))
        .collect();
    if let Some((_, bad, _)) = wanted
        .iter()
        .find(|(_, t, _)| !t.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
    {
        return Err(Error::Db(DbError::Other(format!(
            "not a table name: {bad}"
        ))));
    }
    if wanted.is_empty() {
        return Ok(out);
    }
    match tx.dialect() {
        Dialect::Postgres => {
            let sql = wanted
                .iter()
                .map(|(i, t, n)| {
                    let seq = if *t == "order_numbers" {
                        "order_numbers".to_string()
                    } else {
                        format!("{t}_id_seq")
                    };
                    format!(
                        "SELECT CAST({i} AS BIGINT) AS slot, nextval('{seq}') AS id \
                         FROM generate_series(1, {n})"
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ");
            for r in tx.query(&sql, &[])? {
                let slot = r.get::<i64>("slot")?;
                if let Some(v) = usize::try_from(slot).ok().and_then(|i| out.get_mut(i)) {
                    v.push(r.get::<i64>("id")?);
                }
            }
            for v in &mut out {
                v.sort_unstable();
            }
        }
        Dialect::Sqlite => {
            // One read: the largest id of each table, and the largest order number (the counter
            // row holds the highest number an import brought in).
            let sql = format!(
                "SELECT {}",
                wanted
                    .iter()
                    .enumerate()
                    .map(|(k, (_, t, _))| if *t == "order_numbers" {
                        format!(
                            "MAX(COALESCE((SELECT MAX(number) FROM orders), 0), \
                             COALESCE((SELECT value FROM counters WHERE name = 'order_number'), 0)) \
                             AS top{k}"
                        )
                    } else {
                        format!("(SELECT COALESCE(MAX(id), 0) FROM {t}) AS top{k}")
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let row = tx
                .query_one(&sql, &[])?
                .ok_or_else(|| Error::Db(DbError::Other("no id row".into())))?;
            for (k, (i, _, n)) in wanted.iter().enumerate() {
                let top = row.get::<i64>(&format!("top{k}"))?;
                out[*i] = (1..=*n as i64).map(|d| top + d).collect();
            }
        }
    }
    Ok(out)
}
