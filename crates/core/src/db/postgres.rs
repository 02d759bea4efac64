//! The PostgreSQL adapter: a pool of connections; each unit of work runs in its own transaction on
//! a blocking thread. Row locks (`FOR UPDATE`, always taken in one global order) keep concurrent
//! units from losing updates; a unit that hits a deadlock, a serialization failure or a racing
//! insert on a unique key is rolled back and run again from the start.
//!
//! Round trips are what a small machine pays for: statements whose results a unit does not need
//! ([`Sql::exec_deferred`], and `BEGIN`) are queued and sent pipelined with the next statement
//! that needs an answer, or with `COMMIT`, over the small wire client in [`super::pgwire`], which
//! ends a whole pipeline with one `Sync` (one write each way). A failure in a queued statement
//! fails the unit there.

use super::pgwire::{ConnectOptions, Outcome, Prepared, Wire};
use super::{DbError, Dialect, Row, Sql, Val, Work};
use crate::Error;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

const MAX_ATTEMPTS: usize = 20;

/// Connections kept by default (see `Db::open`): each PostgreSQL backend is a process, and on a
/// two-core machine more of them mostly add context switches.
pub const DEFAULT_POOL: usize = 8;

/// How long a statement may wait for PostgreSQL unless the configuration says
/// (`BACKROOM_PG_QUERY_TIMEOUT_MS`):
/// long enough for the heaviest report or rollup chunk, short enough that a server that stopped
/// answering frees its connection within a minute.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Prepared statements kept per connection; the least recently used one is closed when a new
/// one would pass this.
pub const STATEMENT_CACHE: usize = 256;

pub struct PgDb {
    opts: Arc<ConnectOptions>,
    idle: Mutex<Vec<PgConn>>,
    /// Units of work run at once: the pool's size for requests, and one for the background
    /// worker on a connection of its own (a rollup chunk holds its connection for a while, and
    /// taking one of the requests' for it would leave them one short for as long).
    admission: super::Admission,
}

/// One connection, with the statements prepared on it and the writes queued for its next
/// pipeline.
pub struct PgConn {
    wire: Wire,
    /// Statements by text, each with when it was last used (a tick of `uses`).
    cache: HashMap<String, (Prepared, u64)>,
    uses: u64,
    pending: Vec<(Prepared, Vec<Val>)>,
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Int(v) => match *ty {
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Val::Float(v) => v.to_sql(ty, out),
            Val::Text(v) => v.as_str().to_sql(ty, out),
            Val::Bytes(v) => v.as_slice().to_sql(ty, out),
            Val::Bool(v) => match *ty {
                Type::INT8 => i64::from(*v).to_sql(ty, out),
                Type::INT4 => i32::from(*v).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            // A list (`db::in_list`) as a binary array of its statement's type.
            Val::List(items) => match *ty {
                Type::INT8_ARRAY => items
                    .iter()
                    .map(|v| match v {
                        Val::Int(x) => Ok(*x),
                        Val::Bool(b) => Ok(i64::from(*b)),
                        other => Err(format!("{other:?} in a BIGINT[] list")),
                    })
                    .collect::<Result<Vec<i64>, String>>()?
                    .to_sql(ty, out),
                Type::TEXT_ARRAY => items
                    .iter()
                    .map(|v| match v {
                        Val::Text(t) => t.clone(),
                        Val::Int(x) => x.to_string(),
                        Val::Float(f) => f.to_string(),
                        Val::Bool(b) => b.to_string(),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<String>>()
                    .to_sql(ty, out),
                _ => Err(format!("a list binds to BIGINT[] or TEXT[], not {ty}").into()),
            },
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

impl PgConn {
    fn stmt(&mut self, sql: &str) -> Result<Prepared, DbError> {
        self.uses += 1;
        if let Some((s, used)) = self.cache.get_mut(sql) {
            *used = self.uses;
            return Ok(s.clone());
        }
        if self.cache.len() >= STATEMENT_CACHE {
            // The least recently used goes; it is closed at the end of the next pipeline, after
            // any queued statement that still uses it.
            let oldest = self
                .cache
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some((old, _)) = oldest.and_then(|k| self.cache.remove(&k)) {
                self.wire.close_later(old.name().to_string());
            }
        }
        let s = self.wire.prepare(sql)?;
        self.cache.insert(sql.to_string(), (s.clone(), self.uses));
        Ok(s)
    }

    /// Forgets every prepared statement (after PostgreSQL found one stale); outside a
    /// transaction.
    fn forget_statements(&mut self) -> Result<(), DbError> {
        self.cache.clear();
        self.wire.deallocate_all()
    }

    /// Sends whatever is queued, then `stmts`, as one pipeline; returns the outcomes of `stmts`.
    fn flush_with(&mut self, stmts: &[(&str, &[Val])]) -> Result<Vec<Outcome>, DbError> {
        for (_, params) in stmts {
            super::refuse_nul(params)?;
        }
        let prepared = stmts
            .iter()
            .map(|(sql, _)| self.stmt(sql))
            .collect::<Result<Vec<_>, _>>()?;
        let pending = std::mem::take(&mut self.pending);
        let mut steps: Vec<(&Prepared, &[Val])> =
            pending.iter().map(|(st, p)| (st, p.as_slice())).collect();
        steps.extend(prepared.iter().zip(stmts).map(|(st, (_, p))| (st, *p)));
        let mut out = self.wire.run(&steps, pending.len())?;
        Ok(out.split_off(pending.len()))
    }

    /// Runs a transaction statement (BEGIN, COMMIT, ROLLBACK) after whatever is queued, in the
    /// same pipeline.
    fn control(&mut self, sql: &str) -> Result<(), DbError> {
        self.flush_with(&[(sql, &[])]).map(|_| ())
    }

    /// Queues `sql` to open the next pipeline.
    fn queue(&mut self, sql: &str, params: &[Val]) -> Result<(), DbError> {
        super::refuse_nul(params)?;
        let st = self.stmt(sql)?;
        self.pending.push((st, params.to_vec()));
        Ok(())
    }
}

/// A value in `COPY ... FROM STDIN` text format.
fn copy_text(out: &mut String, v: &Val) {
    match v {
        Val::Null => out.push_str("\\N"),
        Val::Int(x) => out.push_str(&x.to_string()),
        Val::Float(x) => out.push_str(&x.to_string()),
        Val::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Val::List(items) => copy_text(out, &Val::Text(Val::list_json(items))),
        // bytea's hex form, its backslash doubled for COPY.
        Val::Bytes(b) => {
            out.push_str("\\\\x");
            for byte in b {
                out.push_str(&format!("{byte:02x}"));
            }
        }
        Val::Text(t) => {
            for ch in t.chars() {
                match ch {
                    '\\' => out.push_str("\\\\"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    c => out.push(c),
                }
            }
        }
    }
}

impl Sql for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn copy_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Val>],
    ) -> Result<(), DbError> {
        if rows.is_empty() {
            return Ok(());
        }
        for r in rows {
            super::refuse_nul(r)?;
        }
        // Whatever is queued goes first, in order.
        self.flush_with(&[])?;
        self.wire
            .copy_start(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))?;
        let mut buf = String::with_capacity(1 << 20);
        for row in rows {
            for (i, v) in row.iter().enumerate() {
                if i > 0 {
                    buf.push('\t');
                }
                copy_text(&mut buf, v);
            }
            buf.push('\n');
            if buf.len() > (1 << 20) {
                let chunk = std::mem::replace(&mut buf, String::with_capacity(1 << 20));
                self.wire.copy_data(bytes::Bytes::from(chunk))?;
            }
        }
        if !buf.is_empty() {
            self.wire.copy_data(bytes::Bytes::from(buf))?;
        }
        self.wire.copy_done()
    }
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        Ok(self
            .flush_with(&[(sql, params)])?
            .pop()
            .map_or(0, |o| o.changed))
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        Ok(self
            .flush_with(&[(sql, params)])?
            .pop()
            .map(|o| o.rows)
            .unwrap_or_default())
    }
    fn query_batch(&mut self, stmts: &[(&str, &[Val])]) -> Result<Vec<Vec<Row>>, DbError> {
        Ok(self
            .flush_with(stmts)?
            .into_iter()
            .map(|o| o.rows)
            .collect())
    }
    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<(), DbError> {
        self.queue(sql, params)
    }
}

impl PgDb {
    /// Connects (blocking), applies migrations, and keeps up to `size` connections, with the
    /// [`DEFAULT_QUERY_TIMEOUT`].
    pub fn open(url: &str, size: usize) -> Result<PgDb, Error> {
        PgDb::open_with(url, size, Some(DEFAULT_QUERY_TIMEOUT))
    }

    /// [`PgDb::open`] with a given query timeout (`None`: none). Connecting as the URL asks
    /// must work now: a server that cannot be reached, or not with the TLS asked for, is an
    /// error here, so a server process refuses to start rather than fail request by request.
    pub fn open_with(
        url: &str,
        size: usize,
        query_timeout: Option<Duration>,
    ) -> Result<PgDb, Error> {
        let db = PgDb {
            opts: Arc::new(ConnectOptions::from_url(url, query_timeout)?),
            idle: Mutex::new(Vec::new()),
            admission: super::Admission::new(size),
        };
        let mut c = db.connect()?;
        // Migrations may build indexes on large tables: no query timeout while they run.
        c.wire.set_query_timeout(None)?;
        c.control("BEGIN")?;
        // One migrator at a time, even when several processes start together.
        c.query("SELECT CAST(pg_advisory_xact_lock(7262011) AS TEXT)", &[])?;
        match crate::migrate::apply(&mut c, Dialect::Postgres) {
            Ok(()) => c.control("COMMIT")?,
            Err(e) => {
                let _ = c.control("ROLLBACK");
                return Err(e);
            }
        }
        c.wire.set_query_timeout(query_timeout)?;
        db.put(c);
        Ok(db)
    }

    fn connect(&self) -> Result<PgConn, DbError> {
        Ok(PgConn {
            wire: Wire::connect(&self.opts)?,
            cache: HashMap::new(),
            uses: 0,
            pending: Vec::new(),
        })
    }

    fn take(&self) -> Result<PgConn, DbError> {
        let c = self
            .idle
            .lock()
            .map_err(|_| DbError::Other("pool poisoned".into()))?
            .pop();
        match c {
            Some(c) if !c.wire.broken => Ok(c),
            _ => self.connect(),
        }
    }

    fn put(&self, c: PgConn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(c);
        }
    }

    pub(super) async fn run<T: Send + 'static>(
        self: Arc<Self>,
        mut work: Work<T>,
        read_only: bool,
        lane: super::Lane,
    ) -> Result<T, Error> {
        let _permit = self.admission.enter(lane).await?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = me.take()?;
            let begin = if read_only {
                "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ"
            } else {
                "BEGIN"
            };
            let mut attempt = 0;
            let mut prepared_again = false;
            let result = loop {
                attempt += 1;
                conn.pending.clear();
                if let Err(e) = conn.queue(begin, &[]) {
                    break Err(Error::Db(e));
                }
                let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(&mut conn)
                })) {
                    Ok(r) => r,
                    Err(_) => Err(Error::Db(DbError::Other(
                        "a unit of work panicked; it was rolled back".into(),
                    ))),
                };
                let r = r.and_then(|v| conn.control("COMMIT").map(|_| v).map_err(Error::Db));
                match r {
                    Ok(v) => break Ok(v),
                    Err(e) => {
                        conn.pending.clear();
                        let _ = conn.control("ROLLBACK");
                        if conn.wire.broken {
                            break Err(e);
                        }
                        // A table changed under a cached statement (a migration ran): the unit
                        // was rolled back whole, so it runs again, once, on statements prepared
                        // afresh. A second time is reported.
                        if matches!(e, Error::Db(DbError::StalePlan(_))) && !prepared_again {
                            prepared_again = true;
                            match conn.forget_statements() {
                                Ok(()) => continue,
                                Err(f) => break Err(Error::Db(f)),
                            }
                        }
                        if e.is_retryable() && attempt < MAX_ATTEMPTS {
                            std::thread::sleep(std::time::Duration::from_millis(attempt as u64));
                            continue;
                        }
                        break Err(e);
                    }
                }
            };
            if !conn.wire.broken {
                me.put(conn);
            }
            result
        })
        .await
        .map_err(|e| Error::Db(DbError::Other(e.to_string())))?
    }
}

/// Creates an empty schema `name` and returns `url` with its search path set to it, so a test or a
/// benchmark gets a fresh database of its own on a shared server.
pub fn fresh_schema_url(url: &str, name: &str) -> Result<String, Error> {
    schema_script(
        url,
        name,
        &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
    )?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-csearch_path%3D{name}"))
}

/// Drops a schema [`fresh_schema_url`] made, and everything in it.
pub fn drop_schema(url: &str, name: &str) -> Result<(), Error> {
    schema_script(url, name, &format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
}

/// The names of the schemas that start with `prefix`.
pub fn schemas_starting_with(url: &str, prefix: &str) -> Result<Vec<String>, Error> {
    let db = PgDb::open_bare(url)?;
    let mut c = db.connect()?;
    let rows = c.query(
        "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
        &[Val::from(prefix)],
    )?;
    Ok(rows
        .iter()
        .map(|r| r.get::<String>("nspname"))
        .collect::<Result<_, _>>()?)
}

fn schema_script(url: &str, name: &str, script: &str) -> Result<(), Error> {
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(Error::invalid(
            "schema",
            "must be lower-case letters, digits and _",
        ));
    }
    let db = PgDb::open_bare(url)?;
    let mut c = db.connect()?;
    c.wire.simple(script)?;
    Ok(())
}

impl PgDb {
    fn open_bare(url: &str) -> Result<PgDb, Error> {
        Ok(PgDb {
            opts: Arc::new(ConnectOptions::from_url(url, Some(DEFAULT_QUERY_TIMEOUT))?),
            idle: Mutex::new(Vec::new()),
            admission: super::Admission::new(1),
        })
    }
}
