//! The storage layer: SQLite and PostgreSQL adapters, pipelines, TLS, timeouts, schema parity.

use crate::support::*;

/// The storage layer itself: values of every kind and size come back as sent, through queued
/// statements, batches and COPY; a failed pipeline rolls back whole and leaves its connection
/// fit for the next unit; and a queued insert that loses a race to a concurrent unit makes its
/// unit run again (PostgreSQL), where it finds the row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_pipelines_copy_and_values_round_trip() {
    use backroom_core::{Val, params};
    let text = |v: &Val| match v {
        Val::Text(t) => Some(t.clone()),
        _ => None,
    };
    let int = |v: &Val| match v {
        Val::Int(i) => Some(*i),
        _ => None,
    };
    let float = |v: &Val| match v {
        Val::Float(f) => Some(*f),
        _ => None,
    };
    for (backend, db) in backends().await {
        db.write(|tx| {
            tx.exec(
                "CREATE TABLE wire_test (k TEXT PRIMARY KEY, n BIGINT, f DOUBLE PRECISION, b BOOLEAN, t TEXT)",
                &[],
            )?;
            Ok(())
        })
        .await
        .unwrap();

        // Values: extremes, NULLs, text that needs escaping, and one value larger than any
        // single read from the socket.
        let big = "é🙂\t\\\n".repeat(400_000);
        let rows: Vec<Vec<Val>> = vec![
            vec![
                "a".into(),
                i64::MAX.into(),
                0.1f64.into(),
                true.into(),
                "plain".into(),
            ],
            vec![
                "b".into(),
                i64::MIN.into(),
                (-2.5e300f64).into(),
                false.into(),
                Val::Null,
            ],
            vec![
                "c".into(),
                Val::Null,
                Val::Null,
                Val::Null,
                big.clone().into(),
            ],
        ];
        let sent = rows.clone();
        db.write(move |tx| {
            for r in &sent {
                tx.exec_deferred(
                    "INSERT INTO wire_test (k, n, f, b, t) VALUES ($1, $2, $3, $4, $5)",
                    r,
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
        let back = db
            .read(|tx| Ok(tx.query("SELECT k, n, f, b, t FROM wire_test ORDER BY k", &[])?))
            .await
            .unwrap();
        assert_eq!(back.len(), 3, "{backend}");
        for (got, want) in back.iter().zip(&rows) {
            let k = got.get::<String>("k").unwrap();
            assert_eq!(Some(k.clone()), text(&want[0]), "{backend}");
            assert_eq!(
                got.get::<Option<i64>>("n").unwrap(),
                int(&want[1]),
                "{backend}: n of {k}"
            );
            assert_eq!(
                got.get::<Option<f64>>("f").unwrap(),
                float(&want[2]),
                "{backend}: f of {k}"
            );
            assert_eq!(
                got.get::<Option<String>>("t").unwrap(),
                text(&want[4]),
                "{backend}: t of {k}"
            );
        }
        assert!(
            back[0].get::<bool>("b").unwrap() && !back[1].get::<bool>("b").unwrap(),
            "{backend}"
        );
        assert_eq!(back[2].get::<Option<bool>>("b").unwrap(), None, "{backend}");
        // Reading by name never defaults: a NULL where a value is expected, a value of another
        // type and a column the result does not have are errors naming the column.
        for (what, column, err) in [
            ("NULL as an integer", "n", back[2].get::<i64>("n").err()),
            ("NULL as a text", "t", back[1].get::<String>("t").err()),
            (
                "an integer as a text",
                "n",
                back[0].get::<String>("n").err(),
            ),
            ("a text as an integer", "k", back[0].get::<i64>("k").err()),
            (
                "a missing column",
                "nothing",
                back[0].get::<i64>("nothing").err(),
            ),
        ] {
            assert!(
                matches!(&err, Some(backroom_core::DbError::Decode(m)) if m.contains(&format!("`{column}`"))),
                "{backend}: {what}: {err:?}"
            );
        }

        // COPY (or multi-row inserts on SQLite) with the same awkward text, many rows at once.
        let many: Vec<Vec<Val>> = (0..20_000)
            .map(|i| {
                vec![
                    format!("m{i:05}").into(),
                    i.into(),
                    Val::Null,
                    (i % 2 == 0).into(),
                    format!("row\t{i}\n\\ é").into(),
                ]
            })
            .collect();
        db.write(move |tx| {
            tx.copy_rows("wire_test", &["k", "n", "f", "b", "t"], &many)?;
            Ok(())
        })
        .await
        .unwrap();
        let (count, sum, odd) = db
            .read(|tx| {
                let r = tx
                    .query_one(
                        "SELECT COUNT(*) AS how_many, CAST(SUM(n) AS BIGINT) AS total, MAX(t) AS last_t \
                         FROM wire_test WHERE k LIKE 'm%'",
                        &[],
                    )?
                    .unwrap();
                Ok((
                    r.get::<i64>("how_many")?,
                    r.get::<i64>("total")?,
                    r.get::<String>("last_t")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!((count, sum), (20_000, (0..20_000i64).sum()), "{backend}");
        assert_eq!(odd, "row\t9999\n\\ é", "{backend}");

        // A batch answers each statement in order.
        let batch = db
            .read(|tx| {
                Ok(tx.query_batch(&[
                    ("SELECT n FROM wire_test WHERE k = $1", params!["a"]),
                    (
                        "SELECT COUNT(*) AS n FROM wire_test WHERE b = $1",
                        params![true],
                    ),
                    ("SELECT k FROM wire_test WHERE k = $1", params!["nothing"]),
                ])?)
            })
            .await
            .unwrap();
        assert_eq!(batch.len(), 3, "{backend}");
        assert_eq!(batch[0][0].get::<i64>("n").unwrap(), i64::MAX, "{backend}");
        assert_eq!(batch[1][0].get::<i64>("n").unwrap(), 10_001, "{backend}");
        assert!(batch[2].is_empty(), "{backend}");

        // A failure after queued writes: nothing of the unit stays, and every pooled connection
        // still works afterwards.
        let failed = db
            .write(|tx| {
                tx.exec_deferred("INSERT INTO wire_test (k) VALUES ($1)", params!["ghost"])?;
                tx.exec_deferred("INSERT INTO wire_test (k) VALUES ($1)", params!["a"])?;
                tx.query("SELECT 1", &[])?;
                Ok(())
            })
            .await;
        assert!(
            failed.is_err(),
            "{backend}: a duplicate key must fail the unit"
        );
        let mut checks = Vec::new();
        for _ in 0..24 {
            let db = db.clone();
            checks.push(tokio::spawn(async move {
                db.read(|tx| {
                    Ok(tx
                        .query_one(
                            "SELECT COUNT(*) AS n FROM wire_test WHERE k = $1",
                            params!["ghost"],
                        )?
                        .map(|r| r.get::<i64>("n"))
                        .transpose()?
                        .unwrap_or(-1))
                })
                .await
            }));
        }
        for c in checks {
            assert_eq!(c.await.unwrap().unwrap(), 0, "{backend}");
        }

        // The race: A inserts key `r` and holds its transaction open; B reads (no `r`), queues
        // its own insert and flushes, which waits for A. When A commits, B's insert fails on
        // the key; B runs again and finds the row. On SQLite the single writer runs B after A.
        let (tx_started, rx_started) = std::sync::mpsc::channel::<()>();
        let a = {
            let db = db.clone();
            tokio::spawn(async move {
                db.write(move |tx| {
                    tx.exec("INSERT INTO wire_test (k, n) VALUES ('r', 1)", &[])?;
                    let _ = tx_started.send(());
                    std::thread::sleep(std::time::Duration::from_millis(400));
                    Ok(())
                })
                .await
            })
        };
        tokio::task::spawn_blocking(move || rx_started.recv().unwrap())
            .await
            .unwrap();
        let attempts = std::sync::Arc::new(AtomicU64::new(0));
        let seen = attempts.clone();
        let b = db
            .write(move |tx| {
                seen.fetch_add(1, Ordering::SeqCst);
                let found = tx.query_one("SELECT n FROM wire_test WHERE k = 'r'", &[])?;
                if found.is_none() {
                    tx.exec_deferred("INSERT INTO wire_test (k, n) VALUES ('r', 2)", &[])?;
                    tx.query("SELECT 1", &[])?;
                }
                Ok(found.map(|r| r.get::<i64>("n")).transpose()?)
            })
            .await;
        a.await.unwrap().unwrap();
        assert_eq!(b.unwrap(), Some(1), "{backend}: B finds A's row");
        let expected = if backend == "postgres" { 2 } else { 1 };
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            expected,
            "{backend}: B's attempts"
        );
    }
}

/// SQLite's log is rewound after a pause in writing (the checkpointer copies it all back into the
/// database, and the next write starts the log over), so a quiet store's WAL file stays as large
/// as its busiest burst rather than growing with every write: the second burst below reuses the
/// file the first one grew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_rewound_after_a_pause() {
    use backroom_core::{Val, params};
    let dir = std::env::temp_dir().join(format!(
        "backroom-wal-{}-{}",
        std::process::id(),
        backroom_core::util::random_hex(3)
    ));
    let path = dir.join("t.db");
    let db = Db::open(path.to_str().unwrap()).await.unwrap();
    db.write(|tx| {
        tx.exec("CREATE TABLE wal_test (k INTEGER PRIMARY KEY, t TEXT)", &[])?;
        Ok(())
    })
    .await
    .unwrap();
    let burst = |from: i64| {
        let db = db.clone();
        async move {
            for chunk in 0..8 {
                db.write(move |tx| {
                    for i in 0..64 {
                        let k = from + chunk * 64 + i;
                        tx.exec(
                            "INSERT INTO wal_test (k, t) VALUES ($1, $2)",
                            params![k, Val::from("x".repeat(16_000))],
                        )?;
                    }
                    Ok(())
                })
                .await
                .unwrap();
            }
        }
    };
    let wal = dir.join("t.db-wal");
    let size = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    burst(0).await;
    let first = size();
    assert!(
        first > 4_000_000,
        "the first burst grew the log: {first} bytes"
    );
    // A pause: the checkpointer copies the whole log back.
    tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
    burst(1_000_000).await;
    let second = size();
    assert!(
        second < first + first / 4,
        "the second burst reused the log: {first} then {second} bytes"
    );
    let n = db
        .read(|tx| {
            Ok(tx
                .query_one("SELECT COUNT(*) AS n FROM wal_test", &[])?
                .unwrap()
                .get::<i64>("n")?)
        })
        .await
        .unwrap();
    assert_eq!(n, 1024);
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

/// The background worker's units run on a connection of their own: with every request
/// connection held (and more requests queued for one), a background read still goes through,
/// while a request read waits its turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_work_does_not_queue_behind_requests() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;
    /// Lets the held units finish however the test ends (the runtime waits for them).
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    for (backend, db) in backends().await {
        let release = Arc::new(AtomicBool::new(false));
        let guard = Release(release.clone());
        let started = Arc::new(AtomicU64::new(0));
        // More units than any pool has connections; each holds its own until released.
        let held: Vec<_> = (0..32)
            .map(|_| {
                let (db, release, started) = (db.clone(), release.clone(), started.clone());
                tokio::spawn(async move {
                    db.read(move |tx| {
                        tx.query_one("SELECT 1", &[])?;
                        started.fetch_add(1, Ordering::SeqCst);
                        while !release.load(Ordering::SeqCst) {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        // Wait until the pool is full: the number of running units has stopped growing for
        // three looks in a row (connections open one by one on a slow machine).
        let (mut last, mut steady) = (0, 0);
        while steady < 3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let now = started.load(Ordering::SeqCst);
            steady = if now > 0 && now == last {
                steady + 1
            } else {
                0
            };
            last = now;
        }
        assert!(last < 32, "{backend}: every unit ran at once ({last})");
        let one = |db: Db| async move {
            db.read(|tx| {
                Ok(tx
                    .query_one("SELECT 1 AS one", &[])?
                    .unwrap()
                    .get::<i64>("one")?)
            })
            .await
        };
        let request = tokio::time::timeout(Duration::from_millis(300), one(db.clone())).await;
        assert!(
            request.is_err(),
            "{backend}: a request read found a free connection"
        );
        let background = tokio::time::timeout(Duration::from_secs(10), one(db.background()))
            .await
            .unwrap_or_else(|_| panic!("{backend}: the background read waited for requests"));
        assert_eq!(background.unwrap(), 1);
        drop(guard);
        for h in held {
            h.await.unwrap().unwrap();
        }
        // A background write as well (SQLite: through the one writer, like any write).
        db.background()
            .write(|tx| {
                Ok(tx
                    .query_one("SELECT 1 AS one", &[])?
                    .unwrap()
                    .get::<i64>("one")?)
            })
            .await
            .unwrap();
    }
}
/// A read that panics is reported as an error, and the lane it ran on serves the next read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_read_leaves_its_lane_working() {
    for (backend, db) in backends().await {
        for lane in [db.clone(), db.background()] {
            for _ in 0..2 {
                let r = lane
                    .read(|tx| {
                        tx.query_one("SELECT 1", &[])?;
                        if std::hint::black_box(true) {
                            panic!("a bug in a read");
                        }
                        Ok(())
                    })
                    .await;
                assert!(r.is_err(), "{backend}: the panic came back as an error");
                let one = lane
                    .read(|tx| {
                        Ok(tx
                            .query_one("SELECT 1 AS one", &[])?
                            .unwrap()
                            .get::<i64>("one")?)
                    })
                    .await;
                assert_eq!(one.unwrap(), 1, "{backend}: the lane still reads");
            }
        }
    }
}

/// A test run removes the databases earlier runs left behind (their processes have ended), and
/// leaves those of running processes alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_runs_sweep_up_what_ended_runs_left() {
    // No process has this id: Linux's largest is 4,194,304.
    let (ended, running) = ("999999999_0_x", format!("{}_0_sweep", std::process::id()));
    let dir = |t: &str| std::env::temp_dir().join(format!("backroom-sweeptest-{t}"));
    for t in [ended, running.as_str()] {
        std::fs::create_dir_all(dir(t)).unwrap();
        std::fs::write(dir(t).join("t.db"), b"x").unwrap();
    }
    let pg = std::env::var("BACKROOM_TEST_PG_URL").ok();
    if let Some(url) = &pg {
        for t in [ended, running.as_str()] {
            let (u, name) = (url.clone(), format!("s_{t}").to_lowercase());
            tokio::task::spawn_blocking(move || {
                backroom_core::db::postgres::fresh_schema_url(&u, &name)
            })
            .await
            .unwrap()
            .unwrap();
        }
    }
    let url = pg.clone();
    tokio::task::spawn_blocking(move || {
        backroom_core::fixtures::sweep_test_leftovers("backroom-sweeptest-", "s_", url.as_deref())
    })
    .await
    .unwrap();
    assert!(!dir(ended).exists(), "an ended run's directory is gone");
    assert!(
        dir(&running).exists(),
        "a running process's directory stays"
    );
    std::fs::remove_dir_all(dir(&running)).unwrap();
    if let Some(url) = pg {
        let left = tokio::task::spawn_blocking(move || {
            let left = backroom_core::db::postgres::schemas_starting_with(&url, "s_").unwrap();
            for n in &left {
                backroom_core::db::postgres::drop_schema(&url, n).unwrap();
            }
            left
        })
        .await
        .unwrap();
        assert_eq!(
            left,
            vec![format!("s_{running}")],
            "only the running process's schema stays"
        );
    }
}

/// The PostgreSQL URL of the tests with a fresh schema, or `None` (and a note) without one.
async fn pg_schema_url(what: &str) -> Option<String> {
    let Ok(url) = std::env::var("BACKROOM_TEST_PG_URL") else {
        eprintln!("{what}: skipped, BACKROOM_TEST_PG_URL is not set");
        return None;
    };
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        backroom_core::util::random_hex(3)
    );
    Some(
        tokio::task::spawn_blocking(move || {
            backroom_core::db::postgres::fresh_schema_url(&url, &name)
        })
        .await
        .unwrap()
        .unwrap(),
    )
}

/// `url` with its host replaced by `host`.
fn with_host(url: &str, host: &str) -> String {
    let at = url
        .rfind('@')
        .map_or(url.find("://").unwrap() + 3, |a| a + 1);
    let end = url[at..]
        .find([':', '/', '?'])
        .map_or(url.len(), |e| at + e);
    format!("{}{host}{}", &url[..at], &url[end..])
}

/// Whether the connection a unit of work runs on is encrypted, as PostgreSQL sees it.
async fn encrypted(db: &Db) -> bool {
    db.read(|tx| {
        Ok(tx
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )?
            .map(|r| r.get::<bool>("ssl"))
            .transpose()?
            .unwrap_or(false))
    })
    .await
    .unwrap()
}

/// The root certificate the test server's certificate is checked against, and the DNS names
/// that certificate holds. Debian's cluster serves its self-signed "snakeoil" certificate,
/// made for the machine's name when the package was installed; `.ci/run` makes sure TLS is on.
/// `None` (and a note) when the server offers no TLS, unless `BACKROOM_REQUIRE_PG_TLS` says
/// it must.
async fn pg_tls_root(url: &str) -> Option<(String, Vec<String>)> {
    let plain = Db::open(&format!("{url}&sslmode=disable")).await.unwrap();
    let on = plain
        .read(|tx| {
            Ok(tx
                .query_one("SHOW ssl", &[])?
                .unwrap()
                .get::<String>("ssl")?)
        })
        .await
        .unwrap();
    if on != "on" {
        assert!(
            std::env::var("BACKROOM_REQUIRE_PG_TLS").is_err(),
            "PostgreSQL has ssl = {on}, and BACKROOM_REQUIRE_PG_TLS says the TLS tests must run"
        );
        eprintln!("TLS tests skipped: PostgreSQL has ssl = {on}");
        return None;
    }
    let root = std::env::var("BACKROOM_TEST_PG_ROOTCERT")
        .unwrap_or_else(|_| "/etc/ssl/certs/ssl-cert-snakeoil.pem".into());
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in", &root])
        .output()
        .expect("openssl reads the root certificate's names");
    let names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split([',', '\n', ' '])
        .filter_map(|p| p.trim().strip_prefix("DNS:").map(str::to_string))
        .collect();
    assert!(!names.is_empty(), "{root} names no DNS host: {out:?}");
    Some((root, names))
}

/// TLS as libpq's `sslmode` means it: `require` (and the default, `prefer`, when the server
/// offers TLS) encrypts, which PostgreSQL itself confirms; `disable` does not; `verify-ca`
/// checks the chain against `sslrootcert` but not the name; `verify-full` also checks the name,
/// refusing 127.0.0.1 (not in the certificate) with a message that says so, and accepting the
/// name the certificate holds (reached at 127.0.0.1 through `hostaddr`, so the test does not
/// depend on that name resolving); a root that did not sign it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_tls_encrypts_and_checks_what_sslmode_asks() {
    let Some(url) = pg_schema_url("TLS").await else {
        return;
    };
    let Some((root, names)) = pg_tls_root(&url).await else {
        return;
    };
    for mode in ["require", "prefer"] {
        let db = Db::open(&format!("{url}&sslmode={mode}")).await.unwrap();
        assert!(encrypted(&db).await, "sslmode={mode} must encrypt");
    }
    let db = Db::open(&url).await.unwrap();
    assert!(encrypted(&db).await, "no sslmode is prefer, which encrypts");
    let db = Db::open(&format!("{url}&sslmode=disable")).await.unwrap();
    assert!(!encrypted(&db).await, "sslmode=disable must not encrypt");

    let at_ip = with_host(&url, "127.0.0.1");
    let db = Db::open(&format!("{at_ip}&sslmode=verify-ca&sslrootcert={root}"))
        .await
        .unwrap();
    assert!(encrypted(&db).await, "verify-ca");
    let db = Db::open(&format!("{at_ip}&sslmode=require&sslrootcert={root}"))
        .await
        .unwrap();
    assert!(encrypted(&db).await, "require with a root certificate");

    let refused = Db::open(&format!("{at_ip}&sslmode=verify-full&sslrootcert={root}"))
        .await
        .err()
        .expect("verify-full must refuse a certificate that does not name 127.0.0.1")
        .to_string();
    assert!(
        refused.contains("not valid for the host name 127.0.0.1")
            && refused.contains("sslmode=verify-full"),
        "{refused}"
    );
    let by_name = with_host(&url, &names[0]);
    let db = Db::open(&format!(
        "{by_name}&hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={root}"
    ))
    .await
    .unwrap();
    assert!(encrypted(&db).await, "verify-full as {}", names[0]);

    let missing = Db::open(&format!("{url}&sslmode=verify-full"))
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("needs sslrootcert"), "{missing}");
    // A root that did not sign the server's certificate: the system's public roots.
    let public = "/etc/ssl/certs/ca-certificates.crt";
    if std::path::Path::new(public).exists() {
        let e = Db::open(&format!(
            "{by_name}&hostaddr=127.0.0.1&sslmode=verify-ca&sslrootcert={public}"
        ))
        .await
        .err()
        .expect("a certificate no public root signed")
        .to_string();
        assert!(
            e.contains("not signed by a certificate in sslrootcert"),
            "{e}"
        );
    }
}

/// A stand-in server that answers `N` to the SSLRequest (no TLS) and records what it is sent
/// after that, on 127.0.0.1; returns its port and what it got.
fn refusing_tls_server() -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in l.incoming().take(1) {
            let mut s = conn.unwrap();
            s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let mut req = [0u8; 8];
            s.read_exact(&mut req).unwrap();
            assert_eq!(req, [0, 0, 0, 8, 4, 210, 22, 47], "an SSLRequest");
            s.write_all(b"N").unwrap();
            // Whatever comes next: nothing (the client gave up) or, with `prefer`, the
            // startup message in cleartext, which is enough to see.
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap_or(0);
            let after = buf[..n].to_vec();
            let _ = tx.send(after);
        }
    });
    (port, rx)
}

/// A server that does not offer TLS is refused when TLS is asked for, before a single byte of
/// cleartext is sent (no password, no startup message); `prefer` goes on without TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_tls_is_refused_when_tls_is_required() {
    for mode in ["require", "verify-ca", "verify-full"] {
        let (port, sent) = refusing_tls_server();
        let e = Db::open(&format!(
            "postgres://u:secret@127.0.0.1:{port}/db?sslmode={mode}&sslrootcert=/etc/ssl/certs/ssl-cert-snakeoil.pem"
        ))
        .await
        .err()
        .expect("no TLS, no connection")
        .to_string();
        assert!(
            e.contains("does not offer TLS") && e.contains(&format!("sslmode={mode} forbids")),
            "{mode}: {e}"
        );
        let after = tokio::task::spawn_blocking(move || sent.recv().unwrap())
            .await
            .unwrap();
        assert!(
            after.is_empty(),
            "{mode}: cleartext sent after N: {after:?}"
        );
    }
    let (port, sent) = refusing_tls_server();
    let e = Db::open(&format!(
        "postgres://u:secret@127.0.0.1:{port}/db?sslmode=prefer"
    ))
    .await
    .err()
    .unwrap()
    .to_string();
    let after = tokio::task::spawn_blocking(move || sent.recv().unwrap())
        .await
        .unwrap();
    assert!(
        after.windows(4).any(|w| w == b"user"),
        "prefer goes on in cleartext: {after:?} ({e})"
    );
}

/// A statement that outlives the query timeout is cancelled on the server (a CancelRequest),
/// its connection is dropped, the caller gets a timeout error quickly, and the pool goes on with
/// a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_query_timeout_cancels_the_statement() {
    use backroom_core::DbError;
    use backroom_core::db::{Lane, postgres::PgDb};
    let Some(url) = pg_schema_url("query timeout").await else {
        return;
    };
    for mode in ["disable", "prefer"] {
        let u = format!("{url}&sslmode={mode}");
        let pg = tokio::task::spawn_blocking(move || {
            PgDb::open_with(&u, 2, Some(std::time::Duration::from_millis(200)))
        })
        .await
        .unwrap()
        .unwrap();
        let db = Db::Postgres(std::sync::Arc::new(pg), Lane::Requests);
        let mark = format!("timeout_probe_{}", backroom_core::util::random_hex(4));
        let sql = format!("SELECT CAST(pg_sleep(10) AS TEXT), '{mark}'");
        let started = std::time::Instant::now();
        let r = db.read(move |tx| Ok(tx.query(&sql, &[])?)).await;
        let took = started.elapsed();
        match r {
            Err(Error::Db(DbError::Timeout(m))) => {
                assert!(
                    m.contains("200 ms") && m.contains("cancelled"),
                    "{mode}: {m}"
                )
            }
            other => panic!("{mode}: expected a timeout, got {other:?}"),
        }
        assert!(took < std::time::Duration::from_secs(3), "{mode}: {took:?}");
        // Nothing of it still runs on the server.
        let watcher = Db::open(&url).await.unwrap();
        let mut running = -1;
        for _ in 0..20 {
            let m = mark.clone();
            running = watcher
                .read(move |tx| {
                    Ok(tx
                        .query_one(
                            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid() AND strpos(query, $1) > 0",
                            &[m.as_str().into()],
                        )?
                        .unwrap()
                        .get::<i64>("n")?)
                })
                .await
                .unwrap();
            if running == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert_eq!(running, 0, "{mode}: the statement still runs");
        // The pool dropped the connection and works on.
        let one = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT 1 AS one", &[])?
                    .unwrap()
                    .get::<i64>("one")?)
            })
            .await
            .unwrap();
        assert_eq!(one, 1, "{mode}");
    }
}

/// Each connection keeps at most `STATEMENT_CACHE` prepared statements (the least recently
/// used ones are closed on the server), and a statement PostgreSQL finds stale after a table
/// changed (`cached plan must not change result type`) is prepared again: the unit of work runs
/// again once and sees the new column.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_statement_cache_is_bounded_and_survives_a_table_change() {
    use backroom_core::db::postgres::{PgDb, STATEMENT_CACHE};
    use backroom_core::db::{Lane, Val};
    let Some(url) = pg_schema_url("statement cache").await else {
        return;
    };
    let u = url.clone();
    // One connection, so every unit of work finds the statements the last one prepared.
    let pg = tokio::task::spawn_blocking(move || PgDb::open_with(&u, 1, None))
        .await
        .unwrap()
        .unwrap();
    let db = Db::Postgres(std::sync::Arc::new(pg), Lane::Requests);
    let (held, sum) = db
        .read(|tx| {
            let mut sum = 0;
            for i in 0..(2 * STATEMENT_CACHE as i64 + 100) {
                // One statement used all along stays cached; the others come and go.
                let hot = tx
                    .query_one("SELECT CAST($1 AS BIGINT) * 2 AS n", &[Val::Int(i)])?
                    .unwrap();
                assert_eq!(hot.get::<i64>("n")?, 2 * i);
                let r = tx
                    .query_one(
                        &format!("SELECT CAST($1 AS BIGINT) + {i} AS n"),
                        &[Val::Int(i)],
                    )?
                    .unwrap();
                sum += r.get::<i64>("n")?;
            }
            let held = tx
                .query_one("SELECT COUNT(*) AS n FROM pg_prepared_statements", &[])?
                .unwrap()
                .get::<i64>("n")?;
            Ok((held, sum))
        })
        .await
        .unwrap();
    let n = 2 * STATEMENT_CACHE as i64 + 100;
    assert_eq!(sum, (0..n).map(|i| 2 * i).sum::<i64>());
    assert!(
        held <= STATEMENT_CACHE as i64 + 1 && held >= STATEMENT_CACHE as i64 - 1,
        "{held} statements prepared on the connection"
    );

    db.write(|tx| {
        tx.exec("CREATE TABLE plan_test (a BIGINT)", &[])?;
        tx.exec("INSERT INTO plan_test (a) VALUES (1)", &[])?;
        Ok(())
    })
    .await
    .unwrap();
    let columns = db
        .read(|tx| Ok(tx.query_one("SELECT * FROM plan_test", &[])?.unwrap().len()))
        .await
        .unwrap();
    assert_eq!(columns, 1);
    // Another connection changes the table, as a migration would.
    let other = Db::open(&url).await.unwrap();
    other
        .write(|tx| {
            tx.exec("ALTER TABLE plan_test ADD COLUMN b BIGINT DEFAULT 7", &[])?;
            Ok(())
        })
        .await
        .unwrap();
    let runs = std::sync::Arc::new(AtomicU64::new(0));
    let seen = runs.clone();
    let row = db
        .read(move |tx| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(tx.query_one("SELECT * FROM plan_test", &[])?.unwrap())
        })
        .await
        .unwrap();
    assert_eq!((row.len(), row.get::<i64>("b").unwrap()), (2, 7), "{row:?}");
    assert_eq!(runs.load(Ordering::SeqCst), 2, "the unit ran again once");
}

/// A row's column names follow the table when the same statement text is run after its table
/// changed (SQLite keeps each statement's names; PostgreSQL its prepared statements'): a column
/// added is there, a column renamed is read by its new name, never by the one kept from before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn column_names_follow_a_table_change() {
    for (backend, db) in backends().await {
        let names = |db: Db| async move {
            db.write(|tx| {
                let r = tx.query_one("SELECT * FROM names_probe", &[])?.unwrap();
                let names: Vec<String> = ["a", "b", "c"]
                    .into_iter()
                    .filter(|n| r.get::<i64>(n).is_ok())
                    .map(String::from)
                    .collect();
                Ok((names, r.len()))
            })
            .await
            .unwrap()
        };
        // Each change, then the columns the same `SELECT *` must see after it.
        for (change, expected) in [
            (
                "CREATE TABLE names_probe (a BIGINT); INSERT INTO names_probe (a) VALUES (1)",
                vec!["a"],
            ),
            (
                "ALTER TABLE names_probe ADD COLUMN b BIGINT DEFAULT 2",
                vec!["a", "b"],
            ),
            (
                "ALTER TABLE names_probe RENAME COLUMN a TO c",
                vec!["b", "c"],
            ),
        ] {
            db.write(move |tx| {
                for statement in change.split("; ") {
                    tx.exec(statement, &[])?;
                }
                Ok(())
            })
            .await
            .unwrap();
            let expected: Vec<String> = expected.into_iter().map(String::from).collect();
            let n = expected.len();
            assert_eq!(
                names(db.clone()).await,
                (expected, n),
                "{backend}: {change}"
            );
        }
    }
}

/// The IN-list policy (`db::in_list`): a list of any length travels in one parameter (an array
/// on PostgreSQL, JSON on SQLite), texts that need quoting in either format match exactly, an
/// empty list matches nothing, and 50,000 ids go in one statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_of_any_length_match_through_one_parameter() {
    use backroom_core::db::{Val, exec_in, in_list};
    let awkward = [
        "a\"b", "c\\d", "e,f", "{g}", "h i", "é🙂", "NULL", "", "'q'",
    ];
    for (backend, db) in backends().await {
        db.write(move |tx| {
            tx.exec(
                "CREATE TABLE list_test (id BIGINT PRIMARY KEY, t TEXT)",
                &[],
            )?;
            let rows: Vec<Vec<Val>> = (1..=60_000i64)
                .map(|i| {
                    let t = awkward
                        .get(i as usize - 1)
                        .map_or(format!("t{i}"), |a| a.to_string());
                    vec![Val::Int(i), Val::Text(t)]
                })
                .collect();
            tx.copy_rows("list_test", &["id", "t"], &rows)?;
            Ok(())
        })
        .await
        .unwrap();
        let matched = |vals: Vec<Val>, expr: &'static str| {
            let db = db.clone();
            async move {
                db.read(move |tx| {
                    let (cond, list) = in_list(tx.dialect(), expr, 1, &vals);
                    Ok(tx
                        .query(
                            &format!("SELECT id FROM list_test WHERE {cond} ORDER BY id"),
                            &[list],
                        )?
                        .iter()
                        .map(|r| r.get::<i64>("id"))
                        .collect::<Result<Vec<_>, _>>()?)
                })
                .await
                .unwrap()
            }
        };
        let texts: Vec<Val> = awkward.iter().map(|t| Val::from(*t)).collect();
        assert_eq!(
            matched(texts, "t").await,
            (1..=awkward.len() as i64).collect::<Vec<_>>(),
            "{backend}"
        );
        assert!(matched(Vec::new(), "id").await.is_empty(), "{backend}");
        assert_eq!(
            matched(vec![Val::Int(7), Val::Int(59_999), Val::Int(70_000)], "id").await,
            vec![7, 59_999],
            "{backend}"
        );
        let gone = db
            .write(|tx| {
                let ids: Vec<Val> = (1..=50_000).map(Val::Int).collect();
                Ok(exec_in(tx, "DELETE FROM list_test WHERE {}", "id", &ids)?)
            })
            .await
            .unwrap();
        assert_eq!(gone, 50_000, "{backend}");
    }
}

/// Each table's columns and indexes, described as text.
type Shape = std::collections::BTreeMap<String, (Vec<String>, Vec<String>)>;

/// A schema as both engines can describe it: each table's columns with whether they take NULL,
/// and its indexes (other than the primary key) by columns, uniqueness and partiality. Types
/// are left out: the engines name them differently (`INTEGER` and `BIGINT`) by design.
fn schema_shape(tx: &mut dyn backroom_core::Sql) -> backroom_core::Result<Shape> {
    use backroom_core::Dialect;
    let mut out = std::collections::BTreeMap::new();
    let tables: Vec<String> = match tx.dialect() {
        Dialect::Sqlite => tx.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'", &[])?,
        Dialect::Postgres => tx.query("SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'", &[])?,
    }
    .iter()
    .map(|r| r.get::<String>("name"))
    .collect::<Result<_, _>>()?;
    for t in tables {
        let p = [backroom_core::Val::from(t.as_str())];
        let (mut cols, mut idx): (Vec<String>, Vec<String>) = match tx.dialect() {
            Dialect::Sqlite => {
                let cols = tx
                    .query(
                        "SELECT name, \"notnull\", pk FROM pragma_table_info($1)",
                        &p,
                    )?
                    .iter()
                    .map(|r| {
                        let nullable = r.get::<i64>("notnull")? == 0 && r.get::<i64>("pk")? == 0;
                        Ok(format!(
                            "{} {}",
                            r.get::<String>("name")?,
                            if nullable { "null" } else { "not null" }
                        ))
                    })
                    .collect::<Result<_, Error>>()?;
                let mut idx = Vec::new();
                for r in tx.query(
                    "SELECT name, \"unique\", origin, partial FROM pragma_index_list($1)",
                    &p,
                )? {
                    if r.get::<String>("origin")? == "pk" {
                        continue;
                    }
                    let names: Vec<String> = tx
                        .query(
                            "SELECT name FROM pragma_index_info($1) ORDER BY seqno",
                            &[r.get::<String>("name")?.into()],
                        )?
                        .iter()
                        .map(|c| c.get::<String>("name"))
                        .collect::<Result<_, _>>()?;
                    idx.push(format!(
                        "({}){}{}",
                        names.join(", "),
                        if r.get::<i64>("unique")? != 0 {
                            " unique"
                        } else {
                            ""
                        },
                        if r.get::<i64>("partial")? != 0 {
                            " partial"
                        } else {
                            ""
                        }
                    ));
                }
                (cols, idx)
            }
            Dialect::Postgres => {
                let cols = tx
                    .query("SELECT CAST(column_name AS TEXT) AS name, CAST(is_nullable AS TEXT) AS nullable FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", &p)?
                    .iter()
                    .map(|r| {
                        let nullable = r.get::<String>("nullable")? == "YES";
                        Ok(format!(
                            "{} {}",
                            r.get::<String>("name")?,
                            if nullable { "null" } else { "not null" }
                        ))
                    })
                    .collect::<Result<_, Error>>()?;
                let idx = tx
                    .query(
                        "SELECT array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(attnum, ord) \
                           JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord), ', ') AS columns, \
                           CAST(ix.indisunique AS INT) AS is_unique, CAST(ix.indpred IS NOT NULL AS INT) AS is_partial \
                         FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
                         WHERE n.nspname = current_schema() AND t.relname = $1 AND NOT ix.indisprimary",
                        &p,
                    )?
                    .iter()
                    .map(|r| {
                        Ok(format!(
                            "({}){}{}",
                            r.get::<String>("columns")?,
                            if r.get::<i64>("is_unique")? != 0 { " unique" } else { "" },
                            if r.get::<i64>("is_partial")? != 0 { " partial" } else { "" }
                        ))
                    })
                    .collect::<Result<_, Error>>()?;
                (cols, idx)
            }
        };
        cols.sort();
        idx.sort();
        out.insert(t, (cols, idx));
    }
    Ok(out)
}

/// Schema parity: the SQLite and the PostgreSQL migrations give the same tables, the same
/// columns with the same nullability, and the same indexes (columns, uniqueness, partiality).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_engines_migrate_to_the_same_schema() {
    let dbs = backends().await;
    if dbs.len() < 2 {
        eprintln!("SKIPPED: schema parity needs BACKROOM_TEST_PG_URL");
        return;
    }
    let mut shapes = Vec::new();
    for (_, db) in &dbs {
        shapes.push(db.read(schema_shape).await.unwrap());
    }
    let (lite, pg) = (&shapes[0], &shapes[1]);
    assert!(lite.len() > 30, "{} tables", lite.len());
    let mut diffs = Vec::new();
    for t in lite
        .keys()
        .chain(pg.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (lite.get(t), pg.get(t)) {
            (Some(a), Some(b)) if a == b => {}
            (a, b) => diffs.push(format!("{t}:\n  sqlite:     {a:?}\n  postgresql: {b:?}")),
        }
    }
    assert!(
        diffs.is_empty(),
        "the engines' schemas differ:\n{}",
        diffs.join("\n")
    );
}
