//! Durable jobs through the front door: real `backroom serve` processes run imports as jobs from
//! the shared queue, a killed server's import runs again on the next one, several servers on one
//! PostgreSQL database run each job once, and `/api/v1/jobs` shows, retries and cancels them.

use super::*;
use std::time::Duration;

/// Uploads `body` as an import of `query` to a server; returns the import.
async fn upload(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    query: &str,
    body: String,
) -> Value {
    let resp = http
        .post(format!("{base}/api/v1/imports?{query}"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// Polls an import until `done(status)` or `secs` pass; returns it.
async fn wait_import(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: i64,
    secs: u64,
    done: impl Fn(&str) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let (_, v) = request(
            http,
            base,
            "GET",
            &format!("/api/v1/imports/{id}"),
            Some(token),
            None,
        )
        .await;
        if done(v["status"].as_str().unwrap_or_default()) || std::time::Instant::now() > deadline {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn job_of(http: &reqwest::Client, base: &str, token: &str, import: &Value) -> Value {
    let id = import["job_id"].as_i64().expect("an import has its job");
    request(
        http,
        base,
        "GET",
        &format!("/api/v1/jobs/{id}"),
        Some(token),
        None,
    )
    .await
    .1
}

fn products_csv(n: usize) -> String {
    let mut csv = String::from("handle,title,status,option1_name,sku,option1,price\n");
    for i in 0..n {
        csv.push_str(&format!(
            "p{i},Product {i},active,Size,SKU-{i},M,{}.50\n",
            10 + i % 90
        ));
    }
    csv
}

/// A server killed with `kill -9` in the middle of an import: the next server (its lease run
/// out) queues the job again and runs it from its start, to the same end as one uninterrupted
/// run: every product once, the import done, its job on its second attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_whose_server_is_killed_runs_again_on_the_next() {
    const N: usize = 3_000;
    for (name, url) in database_urls().await {
        let token = {
            let db = Db::open(&url).await.unwrap();
            TestApp::user(&db, "admin").await
        };
        let env = [("BACKROOM_JOB_LEASE_MS", "2000")];
        let http = reqwest::Client::new();
        let (mut first, base) = spawn_server(&url, &env).await;
        let import = upload(&http, &base, &token, "kind=products", products_csv(N)).await;
        assert_eq!(import["status"], "queued", "{name}: {import}");
        let id = import["id"].as_i64().unwrap();
        let running = wait_import(&http, &base, &token, id, 60, |s| s != "queued").await;
        assert_eq!(
            running["status"], "running",
            "{name}: killed mid-way: {running}"
        );
        first.kill().unwrap();
        first.wait().unwrap();

        let (mut second, base) = spawn_server(&url, &env).await;
        let done = wait_import(&http, &base, &token, id, 240, |s| {
            s == "done" || s == "failed"
        })
        .await;
        assert_eq!(done["status"], "done", "{name}: {done}");
        assert_eq!(done["summary"]["rows"], N as i64, "{name}: {done}");
        let job = job_of(&http, &base, &token, &done).await;
        assert_eq!(
            (job["status"].as_str(), job["attempts"].as_i64()),
            (Some("done"), Some(2)),
            "{name}: {job}"
        );
        second.kill().unwrap();
        second.wait().unwrap();
        let db = Db::open(&url).await.unwrap();
        let (products, variants) = db
            .read(|tx| {
                let p: i64 = tx
                    .query_one("SELECT COUNT(*) AS n FROM products", &[])?
                    .unwrap()
                    .get("n")?;
                let v: i64 = tx
                    .query_one("SELECT COUNT(*) AS n FROM variants", &[])?
                    .unwrap()
                    .get("n")?;
                Ok((p, v))
            })
            .await
            .unwrap();
        assert_eq!(
            (products, variants),
            (N as i64, N as i64),
            "{name}: each product once"
        );
    }
}

/// Two servers on one PostgreSQL database share the queue: imports uploaded to either are run
/// once each (stock added by each is counted exactly: a job run twice would add twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_servers_on_one_database_run_each_job_once() {
    let Some((name, url)) = database_urls()
        .await
        .into_iter()
        .find(|(n, _)| *n == "postgres")
    else {
        eprintln!("skipped: BACKROOM_TEST_PG_URL is not set");
        return;
    };
    let token = {
        let db = Db::open(&url).await.unwrap();
        db.write(|tx| {
            let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
            backroom_core::fixtures::small_store(tx, &c)?;
            Ok(())
        })
        .await
        .unwrap();
        TestApp::user(&db, "admin").await
    };
    let env = [("BACKROOM_JOB_WORKERS", "1")];
    let (mut a, base_a) = spawn_server(&url, &env).await;
    let (mut b, base_b) = spawn_server(&url, &env).await;
    let http = reqwest::Client::new();
    let first = upload(&http, &base_a, &token, "kind=products", products_csv(1)).await;
    wait_import(
        &http,
        &base_a,
        &token,
        first["id"].as_i64().unwrap(),
        60,
        |s| s == "done",
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let base = if i % 2 == 0 { &base_a } else { &base_b };
        let imp = upload(
            &http,
            base,
            &token,
            "kind=stock&mode=add",
            "sku,location,quantity\nSKU-0,wh-a,1\n".into(),
        )
        .await;
        ids.push(imp["id"].as_i64().unwrap());
    }
    let mut owners = std::collections::BTreeSet::new();
    for id in &ids {
        let done = wait_import(&http, &base_b, &token, *id, 120, |s| {
            s == "done" || s == "failed"
        })
        .await;
        assert_eq!(done["status"], "done", "{name}: {done}");
        let job = job_of(&http, &base_a, &token, &done).await;
        assert_eq!(job["attempts"], 1, "{name}: {job}");
        owners.insert(job["owner"].as_str().unwrap().to_string());
    }
    assert!(!owners.is_empty() && owners.len() <= 2, "{owners:?}");
    let (_, stock) = request(
        &http,
        &base_a,
        "GET",
        "/api/v1/inventory/SKU-0",
        Some(&token),
        None,
    )
    .await;
    let on_hand: i64 = stock["levels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["location_code"] == "wh-a")
        .map(|l| l["on_hand"].as_i64().unwrap())
        .sum();
    assert_eq!(on_hand, 12, "{name}: each added once: {stock}");
    a.kill().unwrap();
    b.kill().unwrap();
    a.wait().unwrap();
    b.wait().unwrap();
}

/// `/api/v1/jobs`: a failed import's job is listed, retried by hand (and fails again, its
/// attempts counted), refused when it cannot be retried or cancelled; roles are enforced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_listed_retried_and_cancelled_through_the_api() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let analyst = TestApp::user(&app.db, "analyst").await;
        let bad = upload(
            &app.http,
            &app.base,
            &app.admin,
            "kind=orders&timezone=Mars/Olympus",
            "InvoiceNo,StockCode\n1,2\n".into(),
        )
        .await;
        let id = bad["id"].as_i64().unwrap();
        let failed = wait_import(&app.http, &app.base, &app.admin, id, 60, |s| {
            s == "failed" || s == "done"
        })
        .await;
        assert_eq!(failed["status"], "failed", "{name}: {failed}");
        assert!(
            failed["error"]
                .as_str()
                .unwrap()
                .contains("not a time zone"),
            "{name}: {failed}"
        );
        let job_id = failed["job_id"].as_i64().unwrap();
        let (s, list) = app
            .req(
                "GET",
                "/api/v1/jobs?status=failed&kind=import",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {list}");
        let listed: Vec<i64> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["id"].as_i64().unwrap())
            .collect();
        assert_eq!(listed, vec![job_id], "{name}: {list}");
        assert_eq!(
            list["items"][0]["attempts"], 1,
            "{name}: a refused option is not retried: {list}"
        );
        let (s, _) = app.req("GET", "/api/v1/jobs", Some(&analyst), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (s, _) = app
            .req(
                "POST",
                &format!("/api/v1/jobs/{job_id}/retry"),
                Some(&analyst),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (s, body) = app
            .req("GET", "/api/v1/jobs?status=paused", Some(&app.admin), None)
            .await;
        assert_eq!(
            (s, body["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status")),
            "{name}: {body}"
        );
        let (s, _) = app
            .req("GET", "/api/v1/jobs/999999", Some(&app.admin), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{name}");

        // Retried by hand: queued again with fresh attempts, runs, fails again.
        let (s, retried) = app
            .req(
                "POST",
                &format!("/api/v1/jobs/{job_id}/retry"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (s, retried["status"].as_str()),
            (StatusCode::OK, Some("queued")),
            "{name}: {retried}"
        );
        let again = wait_import(&app.http, &app.base, &app.admin, id, 60, |s| s == "failed").await;
        assert_eq!(again["status"], "failed", "{name}: {again}");
        let (_, job) = app
            .req(
                "GET",
                &format!("/api/v1/jobs/{job_id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (job["status"].as_str(), job["attempts"].as_i64()),
            (Some("failed"), Some(2)),
            "{name}: {job}"
        );
        let (s, body) = app
            .req(
                "POST",
                &format!("/api/v1/jobs/{job_id}/cancel"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("job_not_queued")),
            "{name}: {body}"
        );
        let (_, audit) = app
            .req(
                "GET",
                "/api/v1/audit-log?action=job.retried",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            audit["items"].as_array().map(Vec::len),
            Some(1),
            "{name}: {audit}"
        );

        // A done import's job cannot be retried.
        let ok = upload(
            &app.http,
            &app.base,
            &app.admin,
            "kind=products",
            products_csv(2),
        )
        .await;
        let ok = wait_import(
            &app.http,
            &app.base,
            &app.admin,
            ok["id"].as_i64().unwrap(),
            60,
            |s| s == "done",
        )
        .await;
        let ok_job = ok["job_id"].as_i64().unwrap();
        let (s, body) = app
            .req(
                "POST",
                &format!("/api/v1/jobs/{ok_job}/retry"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (s, body["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("job_not_failed")),
            "{name}: {body}"
        );
        let (_, job) = app
            .req(
                "GET",
                &format!("/api/v1/jobs/{ok_job}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (
                job["status"].as_str(),
                job["progress_done"].as_i64(),
                job["progress_total"].as_i64()
            ),
            (
                Some("done"),
                job["progress_total"].as_i64(),
                Some(ok["bytes_total"].as_i64().unwrap())
            ),
            "{name}: {job}"
        );
    }
}
