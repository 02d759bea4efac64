//! The durable job queue: enqueued with the change that asks for it, claimed by one holder at a
//! time with a lease, retried with backoff, recovered when its holder stops.

use crate::support::*;
use backroom_core::jobs::{self, NewJob, Outcome};
use backroom_domain::jobs::Next;

const SECOND: i64 = 1_000_000;

fn new_job(n: i64, max_attempts: i64) -> NewJob {
    NewJob {
        kind: "import",
        payload: serde_json::json!({"n": n}),
        max_attempts,
        file: Some(vec![0, 159, 146, 150, b'\n', n as u8]),
    }
}

async fn enqueue(db: &Db, n: i64, max_attempts: i64) -> i64 {
    db.write(move |tx| jobs::enqueue(tx, &ctx(), new_job(n, max_attempts)))
        .await
        .unwrap()
}

async fn claim(db: &Db, owner: &'static str, now: i64) -> Option<jobs::Claimed> {
    db.write(move |tx| jobs::claim(tx, &["import"], owner, now, 10 * SECOND))
        .await
        .unwrap()
}

async fn job(db: &Db, id: i64) -> jobs::Job {
    db.read(move |tx| jobs::get(tx, id)).await.unwrap()
}

/// A job exists exactly when the change that asked for it commits: one rolled back with its
/// transaction leaves nothing. Its file (bytes, not text) comes back as stored.
#[tokio::test]
async fn a_job_is_enqueued_in_the_callers_transaction() {
    for (name, db) in backends().await {
        let refused = db
            .write(|tx| {
                jobs::enqueue(tx, &ctx(), new_job(1, 3))?;
                Err::<(), _>(Error::invalid("x", "the change is refused"))
            })
            .await;
        assert!(refused.is_err());
        let page = db
            .read(|tx| jobs::page(tx, &Default::default()))
            .await
            .unwrap();
        assert!(page.items.is_empty(), "{name}: rolled back with its change");
        let id = enqueue(&db, 7, 3).await;
        let j = job(&db, id).await;
        assert_eq!(
            (j.status.as_str(), j.attempts, j.max_attempts),
            ("queued", 0, 3),
            "{name}"
        );
        assert_eq!(j.payload["n"], 7, "{name}");
        let file = db.read(move |tx| jobs::file(tx, id)).await.unwrap();
        assert_eq!(
            file,
            vec![0, 159, 146, 150, b'\n', 7],
            "{name}: bytes round-trip"
        );
    }
}

/// Claims take the oldest due job, one holder each; a finished attempt's success ends the job
/// and drops its file; a transient failure queues it again after the backoff, a permanent one
/// ends it; the attempts are counted and capped.
#[tokio::test]
async fn claims_leases_retries_and_ends() {
    for (name, db) in backends().await {
        let (a, b) = (enqueue(&db, 1, 2).await, enqueue(&db, 2, 1).await);
        let now = backroom_core::util::now_micros();
        let first = claim(&db, "server-a", now).await.unwrap();
        assert_eq!((first.id, first.attempt), (a, 1), "{name}: oldest first");
        let second = claim(&db, "server-b", now).await.unwrap();
        assert_eq!(second.id, b, "{name}");
        assert!(
            claim(&db, "server-c", now).await.is_none(),
            "{name}: none left"
        );
        let j = job(&db, a).await;
        assert_eq!(
            (j.status.as_str(), j.owner.as_deref()),
            ("running", Some("server-a")),
            "{name}"
        );

        // A transient failure: queued again, due after the backoff, not before.
        let f = first.clone();
        let next = db
            .write(move |tx| {
                jobs::finish(
                    tx,
                    &f,
                    &Outcome::Failed {
                        error: "db down".into(),
                        retry: true,
                    },
                    now,
                    5 * SECOND,
                )
            })
            .await
            .unwrap();
        assert_eq!(next, Next::RetryAt(now + 5 * SECOND), "{name}");
        let j = job(&db, a).await;
        assert_eq!(
            (j.status.as_str(), j.last_error.as_deref(), j.owner),
            ("queued", Some("db down"), None),
            "{name}"
        );
        assert!(
            claim(&db, "server-c", now + SECOND).await.is_none(),
            "{name}: not before its time"
        );
        let again = claim(&db, "server-c", now + 6 * SECOND).await.unwrap();
        assert_eq!((again.id, again.attempt), (a, 2), "{name}: second attempt");
        // The first holder's late finish does not count.
        let late = first.clone();
        let refused = db
            .write(move |tx| {
                jobs::finish(
                    tx,
                    &late,
                    &Outcome::Done(serde_json::json!({})),
                    now,
                    SECOND,
                )
            })
            .await;
        assert!(
            matches!(
                &refused,
                Err(Error::Conflict {
                    code: "job_lease_lost",
                    ..
                })
            ),
            "{name}: {refused:?}"
        );
        // The last attempt's transient failure ends it.
        let g = again.clone();
        let next = db
            .write(move |tx| {
                jobs::finish(
                    tx,
                    &g,
                    &Outcome::Failed {
                        error: "db down again".into(),
                        retry: true,
                    },
                    now,
                    SECOND,
                )
            })
            .await
            .unwrap();
        assert_eq!(next, Next::Failed, "{name}: attempts spent");
        assert_eq!(job(&db, a).await.status, "failed", "{name}");

        // Success ends the other, and its file goes.
        let s = second.clone();
        let next = db
            .write(move |tx| {
                jobs::finish(
                    tx,
                    &s,
                    &Outcome::Done(serde_json::json!({"rows": 3})),
                    now,
                    SECOND,
                )
            })
            .await
            .unwrap();
        assert_eq!(next, Next::Done, "{name}");
        let j = job(&db, b).await;
        assert_eq!(
            (
                j.status.as_str(),
                j.result.clone().unwrap()["rows"].as_i64()
            ),
            ("done", Some(3)),
            "{name}"
        );
        assert!(
            db.read(move |tx| jobs::file(tx, b)).await.is_err(),
            "{name}: file dropped"
        );

        // A failed job is retried by hand with fresh attempts; a done one is refused.
        let retried = db
            .write(move |tx| jobs::retry(tx, &ctx(), a))
            .await
            .unwrap();
        assert_eq!(
            (retried.status.as_str(), retried.max_attempts),
            ("queued", 4),
            "{name}"
        );
        let refused = db.write(move |tx| jobs::retry(tx, &ctx(), b)).await;
        assert!(
            matches!(
                refused,
                Err(Error::Conflict {
                    code: "job_not_failed",
                    ..
                })
            ),
            "{name}"
        );
        // A queued job is cancelled; then it is never claimed.
        let cancelled = db
            .write(move |tx| jobs::cancel(tx, &ctx(), a))
            .await
            .unwrap();
        assert_eq!(cancelled.status, "cancelled", "{name}");
        assert!(
            claim(&db, "server-c", now + 3600 * SECOND).await.is_none(),
            "{name}"
        );
        let refused = db.write(move |tx| jobs::cancel(tx, &ctx(), a)).await;
        assert!(
            matches!(
                refused,
                Err(Error::Conflict {
                    code: "job_not_queued",
                    ..
                })
            ),
            "{name}"
        );
        // Filters.
        let failed = db
            .read(|tx| {
                jobs::page(
                    tx,
                    &jobs::JobQuery {
                        status: Some("done".into()),
                        ..Default::default()
                    },
                )
            })
            .await
            .unwrap();
        assert_eq!(
            failed.items.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![b],
            "{name}"
        );
        let bad = db
            .read(|tx| {
                jobs::page(
                    tx,
                    &jobs::JobQuery {
                        status: Some("paused".into()),
                        ..Default::default()
                    },
                )
            })
            .await;
        assert!(
            matches!(bad, Err(Error::Invalid(i)) if i.field == "status"),
            "{name}"
        );
    }
}

/// A job whose holder stopped renewing is queued again once its lease ran out (or failed, its
/// attempts spent); one whose holder renews it is left alone.
#[tokio::test]
async fn a_lost_lease_is_recovered_and_a_renewed_one_is_not() {
    for (name, db) in backends().await {
        let (a, b, c) = (
            enqueue(&db, 1, 3).await,
            enqueue(&db, 2, 3).await,
            enqueue(&db, 3, 1).await,
        );
        let now = backroom_core::util::now_micros();
        let ja = claim(&db, "stopped", now).await.unwrap();
        let jb = claim(&db, "alive", now).await.unwrap();
        let jc = claim(&db, "stopped", now).await.unwrap();
        assert_eq!((ja.id, jb.id, jc.id), (a, b, c));
        let renewed = db
            .write(move |tx| jobs::renew(tx, &jb, now + 9 * SECOND, 10 * SECOND))
            .await
            .unwrap();
        assert!(renewed, "{name}");
        let lost = db
            .write(move |tx| jobs::recover(tx, now + 11 * SECOND))
            .await
            .unwrap();
        let mut got: Vec<(i64, bool)> = lost.iter().map(|r| (r.id, r.requeued)).collect();
        got.sort();
        assert_eq!(got, vec![(a, true), (c, false)], "{name}");
        assert_eq!(job(&db, b).await.status, "running", "{name}: still renewed");
        assert_eq!(job(&db, c).await.status, "failed", "{name}");
        assert_eq!(
            job(&db, a).await.last_error.as_deref(),
            Some(jobs::LOST),
            "{name}"
        );
        // The stopped holder can neither renew nor finish; the next claim is attempt 2.
        let stale = ja.clone();
        assert!(
            !db.write(move |tx| jobs::renew(tx, &stale, now, SECOND))
                .await
                .unwrap(),
            "{name}"
        );
        let next = claim(&db, "alive", now + 12 * SECOND).await.unwrap();
        assert_eq!((next.id, next.attempt), (a, 2), "{name}");
    }
}

/// Many claimers at once, on a shared database: every job is claimed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_take_each_job_once() {
    for (name, db) in backends().await {
        for n in 0..40 {
            enqueue(&db, n, 1).await;
        }
        let now = backroom_core::util::now_micros();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let owner: &'static str = Box::leak(format!("worker-{w}").into_boxed_str());
                let mut mine = Vec::new();
                while let Some(j) = claim(&db, owner, now).await {
                    mine.push(j.id);
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        let before = all.len();
        all.dedup();
        assert_eq!((before, all.len()), (40, 40), "{name}: each job once");
    }
}
