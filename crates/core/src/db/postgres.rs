//! The PostgreSQL adapter: a pool of connections; each unit of work runs in its own transaction on
//! a blocking thread. Row locks (`FOR UPDATE`, always taken in one global order) keep concurrent
//! units from losing updates; a unit that hits a deadlock, a serialization failure or a racing
//! insert on a unique key is rolled back and run again from the start.
//!
//! Round trips are what a small machine pays for: statements whose results a unit does not need
//! ([`Sql::exec_deferred`], and `BEGIN`) are queued and sent pipelined with the next statement
//! that needs an answer, or with `COMMIT`. A failure in a queued statement fails the unit there.

use super::{DbError, Dialect, Row, Sql, Val, Work};
use crate::Error;
use futures_util::future::{FutureExt, LocalBoxFuture, try_join_all};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls, Statement};

const MAX_ATTEMPTS: usize = 20;

/// Connections kept by default (see `Db::open`): each PostgreSQL backend is a process, and on a
/// two-core machine more of them mostly add context switches.
pub const DEFAULT_POOL: usize = 8;

pub struct PgDb {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<PgConn>>,
    slots: tokio::sync::Semaphore,
}

enum Pending {
    Simple(String),
    Exec(Statement, Vec<Val>),
}

/// One connection, driven by its own single-threaded runtime while a unit of work runs on it.
pub struct PgConn {
    rt: tokio::runtime::Runtime,
    client: Client,
    cache: HashMap<String, Statement>,
    pending: Vec<Pending>,
}

impl ToSql for Val {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
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
            Val::Bool(v) => match *ty {
                Type::INT8 => i64::from(*v).to_sql(ty, out),
                Type::INT4 => i32::from(*v).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
        }
    }
    fn accepts(_: &Type) -> bool {
        true
    }
    to_sql_checked!();
}

fn map_err(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        return match code {
            "23505" => DbError::Unique(format!(
                "{} ({})",
                db.message(),
                db.constraint().unwrap_or("")
            )),
            "40001" | "40P01" => DbError::Retry(db.message().to_string()),
            _ => DbError::Other(format!("{}: {}", code, db.message())),
        };
    }
    DbError::Other(e.to_string())
}

fn read_row(r: &tokio_postgres::Row) -> Result<Row, DbError> {
    let mut vals = Vec::with_capacity(r.len());
    for (i, c) in r.columns().iter().enumerate() {
        let v = match *c.type_() {
            Type::INT8 => r
                .try_get::<_, Option<i64>>(i)
                .map(|v| v.map_or(Val::Null, Val::Int)),
            Type::INT4 => r
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map_or(Val::Null, |x| Val::Int(i64::from(x)))),
            Type::INT2 => r
                .try_get::<_, Option<i16>>(i)
                .map(|v| v.map_or(Val::Null, |x| Val::Int(i64::from(x)))),
            Type::BOOL => r
                .try_get::<_, Option<bool>>(i)
                .map(|v| v.map_or(Val::Null, Val::Bool)),
            Type::FLOAT8 => r
                .try_get::<_, Option<f64>>(i)
                .map(|v| v.map_or(Val::Null, Val::Float)),
            Type::FLOAT4 => r
                .try_get::<_, Option<f32>>(i)
                .map(|v| v.map_or(Val::Null, |x| Val::Float(f64::from(x)))),
            _ => r
                .try_get::<_, Option<String>>(i)
                .map(|v| v.map_or(Val::Null, Val::Text)),
        }
        .map_err(map_err)?;
        vals.push(v);
    }
    Ok(Row(vals))
}

fn refs(params: &[Val]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// Sends every queued statement, then `last`, pipelined; returns `last`'s result.
fn pipelined<'a, T: 'a>(
    client: &'a Client,
    pending: &'a [Pending],
    last: LocalBoxFuture<'a, Result<T, tokio_postgres::Error>>,
) -> LocalBoxFuture<'a, Result<T, DbError>> {
    async move {
        let queued = pending.iter().map(|p| match p {
            Pending::Simple(sql) => client
                .batch_execute(sql)
                .map(|r| r.map(|_| 0u64))
                .boxed_local(),
            Pending::Exec(st, params) => {
                async move { client.execute(st, &refs(params)).await }.boxed_local()
            }
        });
        let (before, last) = futures_util::future::join(try_join_all(queued), last).await;
        before.map_err(map_err)?;
        last.map_err(map_err)
    }
    .boxed_local()
}

impl PgConn {
    fn stmt(&mut self, sql: &str) -> Result<Statement, DbError> {
        if let Some(s) = self.cache.get(sql) {
            return Ok(s.clone());
        }
        let s = self
            .rt
            .block_on(self.client.prepare(sql))
            .map_err(map_err)?;
        self.cache.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs a simple statement (BEGIN, COMMIT, ROLLBACK) after whatever is queued.
    fn simple(&mut self, sql: &str) -> Result<(), DbError> {
        let pending = std::mem::take(&mut self.pending);
        let client = &self.client;
        self.rt.block_on(pipelined(
            client,
            &pending,
            client.batch_execute(sql).boxed_local(),
        ))
    }
}

/// A value in `COPY ... FROM STDIN` text format.
fn copy_text(out: &mut String, v: &Val) {
    match v {
        Val::Null => out.push_str("\\N"),
        Val::Int(x) => out.push_str(&x.to_string()),
        Val::Float(x) => out.push_str(&x.to_string()),
        Val::Bool(b) => out.push(if *b { 't' } else { 'f' }),
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
        use futures_util::SinkExt;
        if rows.is_empty() {
            return Ok(());
        }
        // Whatever is queued goes first, in order.
        let pending = std::mem::take(&mut self.pending);
        let client = &self.client;
        self.rt
            .block_on(pipelined(client, &pending, async { Ok(()) }.boxed_local()))?;
        let sql = format!("COPY {table} ({}) FROM STDIN", columns.join(", "));
        self.rt.block_on(async {
            let sink = client
                .copy_in::<_, bytes::Bytes>(&sql)
                .await
                .map_err(map_err)?;
            futures_util::pin_mut!(sink);
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
                    sink.send(bytes::Bytes::from(chunk))
                        .await
                        .map_err(map_err)?;
                }
            }
            if !buf.is_empty() {
                sink.send(bytes::Bytes::from(buf)).await.map_err(map_err)?;
            }
            sink.as_mut().finish().await.map_err(map_err)?;
            Ok(())
        })
    }
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let st = self.stmt(sql)?;
        let pending = std::mem::take(&mut self.pending);
        let client = &self.client;
        let p = refs(params);
        self.rt.block_on(pipelined(
            client,
            &pending,
            client.execute(&st, &p).boxed_local(),
        ))
    }
    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        let st = self.stmt(sql)?;
        let pending = std::mem::take(&mut self.pending);
        let client = &self.client;
        let p = refs(params);
        let rows = self.rt.block_on(pipelined(
            client,
            &pending,
            client.query(&st, &p).boxed_local(),
        ))?;
        rows.iter().map(read_row).collect()
    }
    fn exec_deferred(&mut self, sql: &str, params: &[Val]) -> Result<(), DbError> {
        let st = self.stmt(sql)?;
        self.pending.push(Pending::Exec(st, params.to_vec()));
        Ok(())
    }
}

impl PgDb {
    /// Connects (blocking), applies migrations, and keeps up to `size` connections.
    pub fn open(url: &str, size: usize) -> Result<PgDb, Error> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::Other(format!("bad DATABASE_URL: {e}")))?;
        let db = PgDb {
            config,
            idle: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(size),
        };
        let mut c = db.connect()?;
        c.simple("BEGIN")?;
        // One migrator at a time, even when several processes start together.
        c.query("SELECT CAST(pg_advisory_xact_lock(7262011) AS TEXT)", &[])?;
        match crate::migrate::apply(&mut c, Dialect::Postgres) {
            Ok(()) => c.simple("COMMIT")?,
            Err(e) => {
                let _ = c.simple("ROLLBACK");
                return Err(e);
            }
        }
        db.put(c);
        Ok(db)
    }

    fn connect(&self) -> Result<PgConn, DbError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| DbError::Other(e.to_string()))?;
        let (client, connection) = rt
            .block_on(self.config.connect(NoTls))
            .map_err(|e| DbError::Other(format!("cannot reach PostgreSQL: {e}")))?;
        rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        Ok(PgConn {
            rt,
            client,
            cache: HashMap::new(),
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
            Some(c) if !c.client.is_closed() => Ok(c),
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
    ) -> Result<T, Error> {
        let _permit = self
            .slots
            .acquire()
            .await
            .map_err(|e| Error::Db(DbError::Other(e.to_string())))?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = me.take()?;
            let begin = if read_only {
                "BEGIN READ ONLY ISOLATION LEVEL REPEATABLE READ"
            } else {
                "BEGIN"
            };
            let mut attempt = 0;
            let result = loop {
                attempt += 1;
                conn.pending.clear();
                conn.pending.push(Pending::Simple(begin.to_string()));
                let r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(&mut conn)
                })) {
                    Ok(r) => r,
                    Err(_) => Err(Error::Db(DbError::Other(
                        "a unit of work panicked; it was rolled back".into(),
                    ))),
                };
                let r = r.and_then(|v| conn.simple("COMMIT").map(|_| v).map_err(Error::Db));
                match r {
                    Ok(v) => break Ok(v),
                    Err(e) => {
                        conn.pending.clear();
                        let _ = conn.simple("ROLLBACK");
                        if e.is_retryable() && attempt < MAX_ATTEMPTS {
                            std::thread::sleep(std::time::Duration::from_millis(attempt as u64));
                            continue;
                        }
                        break Err(e);
                    }
                }
            };
            if !conn.client.is_closed() {
                me.put(conn);
            }
            result
        })
        .await
        .map_err(|e| Error::Db(DbError::Other(e.to_string())))?
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // A connection's runtime cannot be dropped inside an async context; drop them on a plain
        // thread instead.
        let idle = self.idle.get_mut().map(std::mem::take).unwrap_or_default();
        let _ = std::thread::spawn(move || drop(idle)).join();
    }
}

/// Creates an empty schema `name` and returns `url` with its search path set to it, so a test or a
/// benchmark gets a fresh database of its own on a shared server.
pub fn fresh_schema_url(url: &str, name: &str) -> Result<String, Error> {
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
    c.simple(&format!(
        "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
    ))?;
    drop(c);
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{sep}options=-csearch_path%3D{name}"))
}

impl PgDb {
    fn open_bare(url: &str) -> Result<PgDb, Error> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| DbError::Other(format!("bad DATABASE_URL: {e}")))?;
        Ok(PgDb {
            config,
            idle: Mutex::new(Vec::new()),
            slots: tokio::sync::Semaphore::new(1),
        })
    }
}
