//! The embedded SQLite adapter.
//!
//! SQLite admits one writer at a time, so one thread owns the write connection. Units of work queue
//! up on a channel; the writer takes everything queued (up to a batch limit), runs each unit inside
//! its own savepoint in one transaction (a unit that fails rolls back alone), and commits once.
//! A second thread then flushes the WAL to disk and only then answers the batch's callers (see
//! [`sync_loop`]): an acknowledged write survives a power cut, one fsync covers every batch
//! committed since the last one, and the writer runs the next batch meanwhile. Readers use their
//! own connections and see committed snapshots.

use super::{DbError, Dialect, Row, Sql, Val, Work};
use crate::Error;
use rusqlite::{Connection, OpenFlags, types::ValueRef};
use std::sync::{Arc, Mutex, mpsc};

const MAX_BATCH: usize = 512;
const READERS: usize = 4;

type Done = Box<dyn FnOnce(Option<&DbError>) + Send>;
type Job = Box<dyn FnOnce(&mut dyn Sql) -> (bool, Done) + Send>;

pub struct SqliteDb {
    /// Dropping it stops the checkpoint thread.
    _stop_checkpoints: mpsc::Sender<()>,
    jobs: mpsc::Sender<Job>,
    readers: Mutex<Vec<Connection>>,
    /// Reads run at once: one per reader for requests, and one for the background worker, on a
    /// reader of its own as on PostgreSQL (see `Lane`).
    admission: super::Admission,
    path: String,
}

struct LiteSql<'c> {
    conn: &'c Connection,
}

/// Rewrites `$1` placeholders into SQLite's numbered `?1`.
fn translate(sql: &str) -> std::borrow::Cow<'_, str> {
    if sql.contains('$') {
        std::borrow::Cow::Owned(sql.replace('$', "?"))
    } else {
        std::borrow::Cow::Borrowed(sql)
    }
}

fn map_err(e: rusqlite::Error) -> DbError {
    let msg = e.to_string();
    if let rusqlite::Error::SqliteFailure(f, _) = &e {
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
        {
            return DbError::Unique(msg);
        }
        if f.code == rusqlite::ErrorCode::DatabaseBusy
            || f.code == rusqlite::ErrorCode::DatabaseLocked
        {
            return DbError::Retry(msg);
        }
    }
    DbError::Other(msg)
}

fn bind(stmt: &mut rusqlite::CachedStatement<'_>, params: &[Val]) -> Result<(), DbError> {
    super::refuse_nul(params)?;
    for (i, v) in params.iter().enumerate() {
        let idx = i + 1;
        let r = match v {
            Val::Null => stmt.raw_bind_parameter(idx, rusqlite::types::Null),
            Val::Int(x) => stmt.raw_bind_parameter(idx, x),
            Val::Float(x) => stmt.raw_bind_parameter(idx, x),
            Val::Text(x) => stmt.raw_bind_parameter(idx, x.as_str()),
            Val::Bool(x) => stmt.raw_bind_parameter(idx, i64::from(*x)),
            Val::List(items) => stmt.raw_bind_parameter(idx, Val::list_json(items)),
            Val::Bytes(b) => stmt.raw_bind_parameter(idx, b.as_slice()),
        };
        r.map_err(map_err)?;
    }
    Ok(())
}

impl Sql for LiteSql<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64, DbError> {
        let mut stmt = self.conn.prepare_cached(&translate(sql)).map_err(map_err)?;
        bind(&mut stmt, params)?;
        let n = stmt.raw_execute().map_err(map_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Val]) -> Result<Vec<Row>, DbError> {
        let mut stmt = self.conn.prepare_cached(&translate(sql)).map_err(map_err)?;
        bind(&mut stmt, params)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        // The result's shape is read from its first row: a statement prepared before its table
        // changed is prepared again by its first step, and only then tells its columns.
        let mut shape: Option<(usize, super::Names)> = None;
        while let Some(r) = rows.next().map_err(map_err)? {
            let (n, names) = shape.get_or_insert_with(|| {
                let st: &rusqlite::Statement<'_> = r.as_ref();
                (st.column_count(), column_names(sql, st))
            });
            let n = *n;
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match r.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Val::Null,
                    ValueRef::Integer(x) => Val::Int(x),
                    ValueRef::Real(x) => Val::Float(x),
                    ValueRef::Text(t) => Val::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Val::Bytes(b.to_vec()),
                });
            }
            out.push(Row::new(names.clone(), vals));
        }
        Ok(out)
    }
}

thread_local! {
    /// The column names of the statements this thread ran, by SQL text: shared by every row of
    /// every result, so a statement's names are allocated once, not once per query (PostgreSQL
    /// keeps them with its prepared statements). Bounded: cleared when it holds 4,096 texts.
    static NAMES: std::cell::RefCell<std::collections::HashMap<Box<str>, super::Names>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// The column names of `stmt`, prepared from `sql`: the ones kept for that text when they still
/// match the statement (a schema change may rename a column), else read and kept.
fn column_names(sql: &str, stmt: &rusqlite::Statement<'_>) -> super::Names {
    let n = stmt.column_count();
    let matches = |names: &super::Names| {
        names.len() == n
            && names
                .iter()
                .enumerate()
                .all(|(i, name)| stmt.column_name(i).is_ok_and(|c| c == &**name))
    };
    NAMES.with(|cache| {
        if let Some(names) = cache.borrow().get(sql).filter(|names| matches(names)) {
            return names.clone();
        }
        let names: super::Names = stmt
            .column_names()
            .into_iter()
            .map(Into::into)
            .collect::<Vec<Box<str>>>()
            .into();
        let mut cache = cache.borrow_mut();
        if cache.len() >= 4096 {
            cache.clear();
        }
        cache.insert(sql.into(), names.clone());
        names
    })
}

fn open_conn(path: &str, read_only: bool) -> Result<Connection, DbError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(map_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(map_err)?;
    // WAL lets readers proceed while the writer commits. The writer then switches to NORMAL: its
    // commits are made durable by the syncer thread (see [`sync_loop`]).
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; ",
    )
    .map_err(map_err)?;
    conn.execute_batch(&format!("PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT};"))
        .map_err(map_err)?;
    conn.set_prepared_statement_cache_capacity(256);
    Ok(conn)
}

impl SqliteDb {
    pub fn open(path: &str) -> Result<SqliteDb, Error> {
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| DbError::Other(format!("cannot create {}: {e}", dir.display())))?;
        }
        let writer = open_conn(path, false)?;
        // Durability rests on flushing the WAL (see [`sync_loop`]): refuse a filesystem on which
        // SQLite stayed in another journal mode.
        let mode: String = writer
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Db(DbError::Other(format!(
                "SQLite could not use write-ahead logging for {path} (journal mode {mode}); put the database on a local filesystem"
            ))));
        }
        crate::migrate::apply(&mut LiteSql { conn: &writer }, Dialect::Sqlite)?;
        let mut readers = Vec::new();
        for _ in 0..READERS {
            let c = open_conn(path, true)?;
            c.execute_batch("PRAGMA query_only=ON;").map_err(map_err)?;
            readers.push(c);
        }
        // Checkpoints copy the WAL back into the database file and fsync it. Left to SQLite, the
        // committing connection (our one writer) would do that inline, stalling every caller of
        // that batch; a separate connection does it instead, without blocking the writer.
        // The writer keeps 64 MiB of pages in memory (SQLite's default is 2 MiB), so index pages
        // of a busy store stay cached instead of being read again for every batch. Its temporary
        // files stay in memory too: above all the sub-journal that lets each unit of a group
        // commit roll back alone (it only serves that rollback; durability is the WAL's).
        // Its commits are made durable by the syncer thread (see [`sync_loop`]), not inside
        // COMMIT, so the writer can run the next batch while the last one reaches the disk.
        writer
            .execute_batch(
                "PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY; PRAGMA synchronous=NORMAL;",
            )
            .map_err(map_err)?;
        let page_size = writer
            .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))
            .map_err(map_err)?;
        let checkpointer = open_conn(path, false)?;
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, stop_rx, page_size))
            .map_err(|e| DbError::Other(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let (synced_tx, synced_rx) = mpsc::channel::<Vec<Done>>();
        let wal_path = std::path::PathBuf::from(format!("{path}-wal"));
        std::thread::Builder::new()
            .name("sqlite-sync".into())
            .spawn(move || sync_loop(&wal_path, synced_rx))
            .map_err(|e| DbError::Other(e.to_string()))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(writer, rx, synced_tx, page_size))
            .map_err(|e| DbError::Other(e.to_string()))?;
        Ok(SqliteDb {
            _stop_checkpoints: stop_tx,
            jobs: tx,
            readers: Mutex::new(readers),
            admission: super::Admission::new(READERS),
            path: path.to_string(),
        })
    }

    pub(super) async fn write<T: Send + 'static>(&self, mut work: Work<T>) -> Result<T, Error> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, Error>>();
        let job: Job = Box::new(move |sql: &mut dyn Sql| {
            let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(sql)))
            {
                Ok(r) => r,
                Err(_) => Err(Error::Db(DbError::Other(
                    "a unit of work panicked; it was rolled back".into(),
                ))),
            };
            let ok = result.is_ok();
            let done: Done = Box::new(move |commit_err: Option<&DbError>| {
                let out = match commit_err {
                    Some(e) if ok => Err(Error::Db(e.clone())),
                    _ => result,
                };
                let _ = tx.send(out);
            });
            (ok, done)
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::Db(DbError::Other("the SQLite writer has stopped".into())))?;
        rx.await.map_err(|_| {
            Error::Db(DbError::Other(
                "the SQLite writer dropped a unit of work".into(),
            ))
        })?
    }

    pub(super) async fn read<T: Send + 'static>(
        self: Arc<Self>,
        mut work: Work<T>,
        lane: super::Lane,
    ) -> Result<T, Error> {
        let _permit = self.admission.enter(lane).await?;
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = me
                .readers
                .lock()
                .map_err(|_| DbError::Other("reader pool poisoned".into()))?
                .pop();
            let conn = match conn {
                Some(c) => c,
                None => open_conn(&me.path, true)?,
            };
            let result = (|| {
                conn.execute_batch("BEGIN").map_err(map_err)?;
                let r = work(&mut LiteSql { conn: &conn });
                let _ = conn.execute_batch("COMMIT");
                r
            })();
            if let Ok(mut pool) = me.readers.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| Error::Db(DbError::Other(e.to_string())))?
    }
}

/// WAL content (frames since the log was last rewound) past which the writer rewinds it between
/// two batches. Each rewind stalls the writer for 5 to 7 ms (see [`writer_loop`]), felt by every
/// order in flight, so under load it should come seldom: placing about 4,300 orders/s wrote about
/// 170 MB/s of log, so this is one stall every six seconds or so (with 256 MiB, one every 1.5 s
/// sat next to half the bursts of slow requests, and p99 was about 1 ms worse). PostgreSQL's default
/// `max_wal_size` is the same 1 GB. A quiet store needs none of this: in any pause the
/// checkpointer copies the whole log back, and SQLite rewinds it at the next write.
const WAL_LIMIT_BYTES: i64 = 1024 * 1024 * 1024;

/// The size SQLite trims the WAL file to after a rewind. Above [`WAL_LIMIT_BYTES`], so the file is
/// reused rather than cut and grown again: extending a file makes every WAL fsync also write file
/// metadata, which showed as 200 ms stalls under load.
const JOURNAL_SIZE_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// How often the checkpointer copies committed pages back into the database file: seldom while
/// the log is far from its limit (a page rewritten by many batches is then copied once), often
/// once it nears it (so the writer's rewind finds little left to copy, and its stall stays
/// short), and at leisure when nothing was committed.
const CHECKPOINT_BUSY: std::time::Duration = std::time::Duration::from_millis(200);
const CHECKPOINT_NEAR_LIMIT: std::time::Duration = std::time::Duration::from_millis(10);
const CHECKPOINT_IDLE: std::time::Duration = std::time::Duration::from_millis(250);

thread_local! {
    /// Frames in the WAL after the writer's last commit, as SQLite reports them to
    /// [`count_wal_frames`].
    static WAL_FRAMES: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
}

fn count_wal_frames(_: &rusqlite::hooks::Wal, frames: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.with(|f| f.set(i64::from(frames)));
    Ok(())
}

/// Runs a PASSIVE checkpoint; returns (frames in the log, frames copied into the database).
fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

/// Checkpoints the WAL (PASSIVE: never waits for anyone) at the pace [`CHECKPOINT_BUSY`],
/// [`CHECKPOINT_NEAR_LIMIT`] and [`CHECKPOINT_IDLE`] describe, and once more on the way out. This
/// copies pages back into the database on the other core while the writer goes on; rewinding
/// the log is the writer's job (see [`writer_loop`]).
fn checkpoint_loop(conn: Connection, stop: mpsc::Receiver<()>, page_size: i64) {
    let mut last = (-1, -1);
    let mut wait = CHECKPOINT_BUSY;
    loop {
        let stopping = !matches!(
            stop.recv_timeout(wait),
            Err(mpsc::RecvTimeoutError::Timeout)
        );
        match checkpoint(&conn) {
            Ok(now) => {
                wait = if now == last {
                    CHECKPOINT_IDLE
                } else if now.0 * page_size > WAL_LIMIT_BYTES / 4 * 3 {
                    CHECKPOINT_NEAR_LIMIT
                } else {
                    CHECKPOINT_BUSY
                };
                last = now;
            }
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
        if stopping {
            return;
        }
    }
}

/// Runs batches of units of work.
///
/// PASSIVE checkpoints cannot rewind the log while the writer keeps appending to it, so under
/// sustained load the WAL would grow without bound (a 60 s benchmark once left an 8 GB WAL). So
/// once the log holds more than [`WAL_LIMIT_BYTES`], the writer runs a checkpoint itself between
/// two batches: with no write in
/// flight it can finish, the checkpointer has already copied all but the last few batches, and
/// the next transaction rewinds the log. If a reader's snapshot holds the log back, the writer
/// tries again after the next batch.
///
/// The decision is by the log's content (frames since the last rewind, which SQLite reports at
/// each commit): the file keeps its size after a rewind, and deciding by file size had the
/// writer checkpoint after every batch, a third of its time under load.
fn writer_loop(
    conn: Connection,
    rx: mpsc::Receiver<Job>,
    to_sync: mpsc::Sender<Vec<Done>>,
    page_size: i64,
) {
    conn.wal_hook(Some(count_wal_frames));
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut done: Vec<Done> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let mut sql = LiteSql { conn: &conn };
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE").map_err(map_err) {
            for job in batch.drain(..) {
                // Run nothing; report the failure to every caller.
                let (_, d) = job(&mut FailSql);
                d(Some(&e));
            }
            continue;
        }
        for job in batch.drain(..) {
            // Savepoint statements are prepared once: they run twice per unit of work.
            let sp = sql.exec("SAVEPOINT unit", &[]);
            let (ok, d) = job(&mut sql);
            if sp.is_ok() {
                if ok {
                    let _ = sql.exec("RELEASE unit", &[]);
                } else {
                    let _ = sql.exec("ROLLBACK TO unit", &[]);
                    let _ = sql.exec("RELEASE unit", &[]);
                }
            }
            if ok {
                done.push(d);
            } else {
                // A refused unit left nothing behind: its answer waits for no commit.
                d(None);
            }
        }
        match conn.execute_batch("COMMIT").map_err(map_err) {
            // Committed to the log; the callers hear of it once the syncer has made it durable.
            Ok(()) => {
                if let Err(mpsc::SendError(lost)) = to_sync.send(std::mem::take(&mut done)) {
                    let e = DbError::Other("the SQLite syncer has stopped".into());
                    for d in lost {
                        d(Some(&e));
                    }
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                for d in done.drain(..) {
                    d(Some(&e));
                }
            }
        }
        if WAL_FRAMES.with(std::cell::Cell::get) * page_size > WAL_LIMIT_BYTES
            && let Err(e) = checkpoint(&conn)
        {
            tracing::warn!(error = %e, "WAL rewind failed");
        }
    }
}

/// Makes committed batches durable, then answers their callers. The writer commits with
/// `synchronous=NORMAL` (SQLite appends the batch to the WAL without waiting for the disk) and
/// hands the batch's callers over; this thread takes every batch handed over so far, flushes the
/// WAL file to disk once (`fdatasync`, which covers every frame written before it starts), and
/// only then answers them. So an acknowledged write is on disk exactly as with
/// `synchronous=FULL`, while the writer runs the next batch during the flush instead of waiting
/// for it. (A crash before the flush can lose an unacknowledged batch but never tear one: WAL
/// frames are checksummed in a chain and recovery keeps only the valid prefix.)
///
/// If a flush fails, nothing after it can be trusted to be durable (the kernel may have dropped
/// the dirty pages): the callers of that batch and every later one get the error.
fn sync_loop(wal_path: &std::path::Path, rx: mpsc::Receiver<Vec<Done>>) {
    let mut wal: Option<std::fs::File> = None;
    let mut failed: Option<DbError> = None;
    let mut ready: Vec<Done> = Vec::new();
    while let Ok(first) = rx.recv() {
        ready.extend(first);
        while let Ok(more) = rx.try_recv() {
            ready.extend(more);
        }
        if failed.is_none() {
            let flushed = match &wal {
                Some(f) => f.sync_data(),
                None => std::fs::File::open(wal_path).and_then(|f| {
                    let r = f.sync_data();
                    wal = Some(f);
                    r
                }),
            };
            if let Err(e) = flushed {
                tracing::error!(error = %e, "the WAL could not be flushed to disk; refusing writes");
                failed = Some(DbError::Other(format!(
                    "the database log could not be flushed to disk: {e}"
                )));
            }
        }
        for d in ready.drain(..) {
            d(failed.as_ref());
        }
    }
}

/// Used only to report a failed batch start: every statement fails.
struct FailSql;
impl Sql for FailSql {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
    fn exec(&mut self, _: &str, _: &[Val]) -> Result<u64, DbError> {
        Err(DbError::Other(
            "the write transaction could not start".into(),
        ))
    }
    fn query(&mut self, _: &str, _: &[Val]) -> Result<Vec<Row>, DbError> {
        Err(DbError::Other(
            "the write transaction could not start".into(),
        ))
    }
}
