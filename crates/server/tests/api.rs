//! API tests through the real router, over real HTTP, on SQLite and (when `BACKROOM_TEST_PG_URL`
//! is set) PostgreSQL; and crash tests against the real binary.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use backroom::http::{App, serve};
use backroom_core::api::*;
use backroom_core::{Actor, Ctx, Db, auth, catalog, inventory, orders};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

#[path = "api/browser.rs"]
mod browser;
#[path = "api/console.rs"]
mod console;
#[path = "api/desk.rs"]
mod desk;
#[path = "api/jobs.rs"]
mod jobs;
#[path = "api/promotions.rs"]
mod promotions;
#[path = "api/tour.rs"]
mod tour;

static SEQ: AtomicU64 = AtomicU64::new(0);

fn tag() -> String {
    format!(
        "{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        backroom_core::util::random_hex(3)
    )
}

/// A fresh database URL per backend: a new SQLite file, or a new PostgreSQL schema.
static SWEEP: std::sync::Once = std::sync::Once::new();

async fn database_urls() -> Vec<(&'static str, String)> {
    SWEEP.call_once(|| {
        let pg = std::env::var("BACKROOM_TEST_PG_URL").ok();
        backroom_core::fixtures::sweep_test_leftovers("backroom-api-", "a_", pg.as_deref());
    });
    let t = tag();
    let path = std::env::temp_dir()
        .join(format!("backroom-api-{t}"))
        .join("t.db");
    let mut out = vec![("sqlite", format!("sqlite://{}", path.display()))];
    if let Ok(url) = std::env::var("BACKROOM_TEST_PG_URL") {
        let name = format!("a_{t}");
        out.push((
            "postgres",
            tokio::task::spawn_blocking(move || {
                backroom_core::db::postgres::fresh_schema_url(&url, &name)
            })
            .await
            .unwrap()
            .unwrap(),
        ));
    }
    out
}

struct TestApp {
    name: &'static str,
    base: String,
    http: reqwest::Client,
    db: Db,
    admin: String,
    locations: (i64, i64),
}

impl TestApp {
    async fn spawn(name: &'static str, url: &str) -> TestApp {
        let db = Db::open(url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(
            listener,
            App::new(db.clone()),
            std::future::pending(),
        ));
        let admin = Self::user(&db, "admin").await;
        let locations = db
            .write(|tx| {
                let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
                let store = backroom_core::fixtures::small_store(tx, &c)?;
                Ok((store.a, store.b))
            })
            .await
            .unwrap();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        TestApp {
            name,
            base,
            http,
            db,
            admin,
            locations,
        }
    }

    /// A user with `role` and a token for it.
    async fn user(db: &Db, role: &str) -> String {
        let prepared = std::sync::Arc::new(
            auth::prepare_user(&NewUser {
                email: format!("{role}-{}@example.com", tag()),
                name: role.into(),
                role: role.into(),
                password: None,
            })
            .unwrap(),
        );
        db.write(move |tx| {
            let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
            let u = auth::create_user(tx, &c, &prepared)?;
            auth::issue_api_token(tx, &c, &u.email, "test")
        })
        .await
        .unwrap()
        .token
    }

    async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        request(&self.http, &self.base, method, path, token, body).await
    }

    /// `GET path` as the admin: the answer's body.
    async fn admin_get(&self, path: &str) -> Value {
        let (status, body) = self.req("GET", path, Some(&self.admin), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    async fn product(&self, sku: &str, stock: &[(i64, i64)]) {
        let (s, body) = self.req("POST", "/api/v1/products", Some(&self.admin), Some(json!({"title": format!("Product {sku}"), "status": "active", "variants": [{"sku": sku, "price": 1500}]}))).await;
        assert_eq!(s, StatusCode::CREATED, "{}: {body}", self.name);
        for (loc, q) in stock {
            let (s, body) = self
                .req(
                    "POST",
                    "/api/v1/inventory/receive",
                    Some(&self.admin),
                    Some(json!({"sku": sku, "location_id": loc, "quantity": q})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{}: {body}", self.name);
        }
    }

    async fn check(&self) {
        let r = self
            .db
            .read(backroom_core::inventory::check::run)
            .await
            .unwrap();
        assert!(r.ok, "{}: {:#?}", self.name, r.violations);
    }
}

/// One API call: the status and the body (JSON, or the text as a string).
async fn request(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut r = http.request(method.parse().unwrap(), format!("{base}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn order_body(lines: &[(&str, i64)], email: &str) -> Value {
    json!({
        "channel": "online",
        "customer": {"email": email, "first_name": "Test"},
        "shipping_address": {"name": "Test", "line1": "1 Main St", "city": "Lyon", "postal_code": "69001", "country": "FR"},
        "lines": lines.iter().map(|(s, q)| json!({"sku": s, "quantity": q})).collect::<Vec<_>>(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_but_health_needs_a_token() {
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    let (s, body) = app.req("GET", "/health", None, None).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let doc = backroom::http::openapi();
    let mut checked = 0;
    for (path, item) in doc.paths.paths.iter() {
        let concrete = path.replace("{id}", "1").replace("{sku}", "X");
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PATCH", &item.patch),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ] {
            if op.is_none() || path.ends_with("/auth/login") {
                continue;
            }
            let (s, body) = app.req(method, &concrete, None, Some(json!({}))).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
            assert_eq!(body["error"]["code"], "unauthenticated");
            let (s, _) = app
                .req(
                    method,
                    &concrete,
                    Some("br_0000000000000000000000000000000000000000"),
                    Some(json!({})),
                )
                .await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with a bad token"
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} operations checked");
    let (s, _) = app.req("GET", "/api/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_enforced() {
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    app.product("R1", &[(app.locations.0, 5)]).await;
    let analyst = TestApp::user(&app.db, "analyst").await;
    let support = TestApp::user(&app.db, "support").await;
    let storefront = TestApp::user(&app.db, "storefront").await;
    let (s, _) = app
        .req("GET", "/api/v1/products", Some(&analyst), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = app
        .req(
            "POST",
            "/api/v1/products",
            Some(&analyst),
            Some(json!({"title": "X", "variants": [{"sku": "X1", "price": 1}]})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{body}"
    );
    let (s, _) = app
        .req(
            "POST",
            "/api/v1/inventory/adjust",
            Some(&support),
            Some(json!({"sku": "R1", "location_id": app.locations.0, "delta": 1, "note": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .req("GET", "/api/v1/audit-log", Some(&support), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .req("GET", "/api/v1/customers", Some(&storefront), None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = app
        .req(
            "POST",
            "/api/v1/orders",
            Some(&storefront),
            Some(order_body(&[("R1", 1)], "a@example.com")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // Nothing the forbidden calls tried was written.
    let (_, stock) = app
        .req("GET", "/api/v1/inventory/R1", Some(&analyst), None)
        .await;
    assert_eq!(stock["totals"]["on_hand"], 5);
    // The admin reads the audit log: the product, the receipt and the order are there.
    let (s, log) = app
        .req("GET", "/api/v1/audit-log?limit=100", Some(&app.admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "product.created",
        "inventory.received",
        "order.placed",
        "customer.created",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
    // Revoked tokens stop working at once, even though the server had cached the analyst's.
    let (_, tokens) = app
        .req("GET", "/api/v1/tokens", Some(&app.admin), None)
        .await;
    let id = tokens["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| analyst.starts_with(t["prefix"].as_str().unwrap()))
        .map(|t| t["id"].as_i64().unwrap())
        .unwrap();
    let (s, _) = app
        .req(
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = app
        .req("GET", "/api/v1/products", Some(&analyst), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_a_password() {
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    let (s, _) = app.req("POST", "/api/v1/users", Some(&app.admin), Some(json!({"email": "Ops@Example.com", "name": "Ops", "role": "operations", "password": "correct horse battery"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body) = app.req("POST", "/api/v1/users", Some(&app.admin), Some(json!({"email": "ops@example.com", "name": "Ops", "role": "operations", "password": "correct horse battery"}))).await;
    assert_eq!(
        (s, body["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("email"))
    );
    let (s, body) = app
        .req(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ops@example.com", "password": "wrong password!"})),
        )
        .await;
    assert_eq!(
        (s, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let (s, body) = app
        .req(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ops@example.com", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_string();
    let (s, me) = app.req("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(
        (s, me["role"].as_str()),
        (StatusCode::OK, Some("operations"))
    );
    let (s, _) = app
        .req("POST", "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.req("GET", "/api/v1/me", Some(&token), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Passwords are stored as Argon2id hashes, tokens as SHA-256 hashes.
    let (hash, tokens) = app
        .db
        .read(|tx| {
            let h = tx
                .query_one(
                    "SELECT password_hash FROM users WHERE email_key = 'ops@example.com'",
                    &[],
                )?
                .unwrap()
                .get::<String>("password_hash")?;
            let t: Vec<String> = tx
                .query("SELECT token_hash FROM api_tokens", &[])?
                .iter()
                .map(|r| r.get::<String>("token_hash"))
                .collect::<Result<_, _>>()?;
            Ok((h, t))
        })
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!tokens.contains(&token) && tokens.contains(&backroom_core::util::sha256_hex(&token)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_one_error_shape_and_changes_nothing() {
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    app.product("E1", &[(app.locations.0, 3)]).await;
    let t = Some(app.admin.as_str());
    // (method, path, body, status, error code, field)
    type Case<'a> = (
        &'a str,
        &'a str,
        Value,
        StatusCode,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/products",
            json!({"title": "X", "colour": "red", "variants": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("colour"),
        ),
        (
            "POST",
            "/api/v1/products",
            json!({"title": "X", "variants": [{"sku": "Z", "price": "cheap"}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("variants[0].price"),
        ),
        (
            "POST",
            "/api/v1/products",
            json!({"variants": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("title"),
        ),
        (
            "POST",
            "/api/v1/products",
            json!({"title": "X", "variants": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("variants"),
        ),
        (
            "POST",
            "/api/v1/orders",
            order_body(&[("E1", 0)], "a@example.com"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("lines[0].quantity"),
        ),
        (
            "POST",
            "/api/v1/orders",
            order_body(&[("E1", 1)], "not-an-email"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("customer.email"),
        ),
        (
            "POST",
            "/api/v1/orders",
            order_body(&[("NOPE", 1)], "a@example.com"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("lines[0].sku"),
        ),
        (
            "POST",
            "/api/v1/orders",
            order_body(&[("E1", 4)], "a@example.com"),
            StatusCode::CONFLICT,
            "insufficient_stock",
            Some("lines[0].quantity"),
        ),
        (
            "POST",
            "/api/v1/inventory/adjust",
            json!({"sku": "E1", "location_id": app.locations.0, "delta": -9, "note": "x"}),
            StatusCode::CONFLICT,
            "negative_on_hand",
            Some("delta"),
        ),
        (
            "GET",
            "/api/v1/products?limit=9999",
            Value::Null,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("limit"),
        ),
        (
            "GET",
            "/api/v1/products?bogus=1",
            Value::Null,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            Some("bogus"),
        ),
        (
            "GET",
            "/api/v1/products/999999",
            Value::Null,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
        (
            "GET",
            "/api/v1/products/abc",
            Value::Null,
            StatusCode::NOT_FOUND,
            "not_found",
            Some("id"),
        ),
        (
            "GET",
            "/api/v1/nowhere",
            Value::Null,
            StatusCode::NOT_FOUND,
            "not_found",
            None,
        ),
    ];
    for (method, path, body, status, code, field) in cases {
        let b = if body.is_null() {
            None
        } else {
            Some(body.clone())
        };
        let (s, got) = app.req(method, path, t, b).await;
        assert_eq!(s, status, "{method} {path} {body}: {got}");
        assert_eq!(got["error"]["code"], code, "{method} {path}: {got}");
        assert!(
            got["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        if let Some(f) = field {
            assert_eq!(got["error"]["field"], f, "{method} {path}: {got}");
        }
    }
    // An amount that is not an integer of minor units says so.
    for price in [json!(12.5), json!("12.50")] {
        let (s, got) = app
            .req(
                "POST",
                "/api/v1/products",
                t,
                Some(json!({"title": "X", "variants": [{"sku": "Z", "price": price}]})),
            )
            .await;
        assert_eq!(
            (s, got["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("variants[0].price")),
            "{got}"
        );
        let m = got["error"]["message"].as_str().unwrap();
        assert!(m.contains("integer minor units (1250 for 12.50)"), "{m}");
    }
    // Not JSON at all, and the wrong content type.
    let r = app
        .http
        .post(format!("{}/api/v1/products", app.base))
        .bearer_auth(&app.admin)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"]["code"],
        "malformed_json"
    );
    let r = app
        .http
        .post(format!("{}/api/v1/products", app.base))
        .bearer_auth(&app.admin)
        .body("title=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // A valid JSON value followed by anything but white space is refused too.
    let valid = r#"{"title": "T", "variants": [{"sku": "TR1", "price": 100}]}"#;
    for trailing in [
        format!("{valid} x"),
        format!("{valid}{{}}"),
        format!("{valid}]"),
    ] {
        let r = app
            .http
            .post(format!("{}/api/v1/products", app.base))
            .bearer_auth(&app.admin)
            .header("content-type", "application/json")
            .body(trailing.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{trailing}");
    }
    // Search: `%` and `_` match themselves, not any text.
    for q in ["%25", "_", "E%25"] {
        for path in [
            "/api/v1/products?q=",
            "/api/v1/customers?q=",
            "/api/v1/inventory?sku=",
        ] {
            let (s, p) = app.req("GET", &format!("{path}{q}"), t, None).await;
            assert_eq!(
                (s, p["items"].as_array().map(Vec::len)),
                (StatusCode::OK, Some(0)),
                "{path}{q}: {p}"
            );
        }
    }
    let (_, p) = app.req("GET", "/api/v1/products?q=e1", t, None).await;
    assert_eq!(
        p["items"].as_array().unwrap().len(),
        1,
        "plain search still finds: {p}"
    );
    // Nothing changed: one product, stock as received, no orders, no customers.
    let (_, p) = app.req("GET", "/api/v1/products", t, None).await;
    assert_eq!(p["items"].as_array().unwrap().len(), 1);
    let (_, s) = app.req("GET", "/api/v1/inventory/E1", t, None).await;
    assert_eq!(
        (
            s["totals"]["on_hand"].as_i64(),
            s["totals"]["reserved"].as_i64()
        ),
        (Some(3), Some(0))
    );
    let (_, o) = app.req("GET", "/api/v1/orders", t, None).await;
    assert!(o["items"].as_array().unwrap().is_empty());
    let (_, c) = app.req("GET", "/api/v1/customers", t, None).await;
    assert!(c["items"].as_array().unwrap().is_empty());
}

/// 500 simultaneous attempts at a SKU with 50 units over two locations: exactly 50 sold, every
/// other attempt a 409 with a clear message, the invariants hold. On both backends, and again
/// when each order has two lines of the same SKU.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_orders_never_oversell() {
    for (name, url) in database_urls().await {
        let app = std::sync::Arc::new(TestApp::spawn(name, &url).await);
        app.product("HOT1", &[(app.locations.0, 30), (app.locations.1, 20)])
            .await;
        app.product("HOT2", &[(app.locations.0, 30), (app.locations.1, 20)])
            .await;
        for (sku, lines) in [
            ("HOT1", vec![("HOT1", 1)]),
            ("HOT2", vec![("HOT2", 1), ("HOT2", 1)]),
        ] {
            let mut handles = Vec::new();
            for i in 0..500 {
                let app = app.clone();
                let body = order_body(&lines, &format!("c{i}@example.com"));
                handles.push(tokio::spawn(async move {
                    app.req("POST", "/api/v1/orders", Some(&app.admin), Some(body))
                        .await
                }));
            }
            let (mut sold, mut refused) = (0, 0);
            for h in handles {
                let (s, body) = h.await.unwrap();
                match s {
                    StatusCode::CREATED => {
                        sold += body["lines"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|l| l["quantity"].as_i64().unwrap())
                            .sum::<i64>()
                    }
                    StatusCode::CONFLICT => {
                        assert_eq!(
                            body["error"]["code"], "insufficient_stock",
                            "{name}: {body}"
                        );
                        assert!(
                            body["error"]["message"]
                                .as_str()
                                .unwrap()
                                .contains(&format!("not enough stock for {sku}"))
                        );
                        refused += 1;
                    }
                    other => panic!("{name}: unexpected {other}: {body}"),
                }
            }
            assert_eq!(sold, 50, "{name} {sku}: sold {sold}");
            let per_order = lines.len() as i64;
            assert_eq!(refused, 500 - 50 / per_order, "{name} {sku}");
            let (_, st) = app
                .req(
                    "GET",
                    &format!("/api/v1/inventory/{sku}"),
                    Some(&app.admin),
                    None,
                )
                .await;
            assert_eq!(
                (
                    st["totals"]["reserved"].as_i64(),
                    st["totals"]["available"].as_i64()
                ),
                (Some(50), Some(0)),
                "{name}: {st}"
            );
            app.check().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_order_placement_over_http() {
    for (name, url) in database_urls().await {
        let app = std::sync::Arc::new(TestApp::spawn(name, &url).await);
        app.product("ID1", &[(app.locations.0, 100)]).await;
        let mut handles = Vec::new();
        for _ in 0..30 {
            let app = app.clone();
            handles.push(tokio::spawn(async move {
                let r = app
                    .http
                    .post(format!("{}/api/v1/orders", app.base))
                    .bearer_auth(&app.admin)
                    .header("Idempotency-Key", "abc-123")
                    .json(&order_body(&[("ID1", 2)], "idem@example.com"))
                    .send()
                    .await
                    .unwrap();
                (r.status(), r.text().await.unwrap())
            }));
        }
        let mut bodies = Vec::new();
        for h in handles {
            let (s, b) = h.await.unwrap();
            assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
            bodies.push(b);
        }
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "{name}: responses differ"
        );
        let (_, orders) = app
            .req("GET", "/api/v1/orders", Some(&app.admin), None)
            .await;
        assert_eq!(orders["items"].as_array().unwrap().len(), 1, "{name}");
        let r = app
            .http
            .post(format!("{}/api/v1/orders", app.base))
            .bearer_auth(&app.admin)
            .header("Idempotency-Key", "abc-123")
            .json(&order_body(&[("ID1", 3)], "idem@example.com"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        app.check().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_lifecycle_through_the_api() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, b) = app.locations;
        app.product("L1", &[(a, 2), (b, 2)]).await;
        let t = Some(app.admin.as_str());
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_body(&[("L1", 3)], "Life@Example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
        assert_eq!(o["name"], format!("#{}", o["number"]));
        assert_eq!(o["total"]["amount"], 4500);
        assert!(
            o["sourcing"]["reason"]
                .as_str()
                .unwrap()
                .contains("2 shipments"),
            "{o}"
        );
        let id = o["id"].as_i64().unwrap();
        let (s, avail) = app
            .req("GET", "/api/v1/channels/1/availability?sku=L1", t, None)
            .await;
        assert_eq!((s, avail["available"].as_i64()), (StatusCode::OK, Some(1)));
        let (s, p) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/payments"),
                t,
                Some(json!({"status": "authorized"})),
            )
            .await;
        assert_eq!(
            (s, p["payment_status"].as_str()),
            (StatusCode::OK, Some("authorized"))
        );
        let (s, c) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/cancel"),
                t,
                Some(json!({"reason": "fraud"})),
            )
            .await;
        assert_eq!(
            (s, c["status"].as_str(), c["payment_status"].as_str()),
            (StatusCode::OK, Some("cancelled"), Some("voided"))
        );
        let (_, tl) = app
            .req("GET", &format!("/api/v1/orders/{id}/timeline"), t, None)
            .await;
        let kinds: Vec<&str> = tl
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["placed", "sourced", "payment_authorized", "cancelled"]
        );
        let (_, list) = app
            .req("GET", "/api/v1/orders?status=cancelled&q=life", t, None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        let (_, list) = app.req("GET", "/api/v1/orders?status=open", t, None).await;
        assert_eq!(list["items"].as_array().unwrap().len(), 0);
        let (_, st) = app.req("GET", "/api/v1/inventory/L1", t, None).await;
        assert_eq!(st["totals"]["available"], 4);
        let (_, ledger) = app
            .req("GET", "/api/v1/inventory-ledger?sku=L1", t, None)
            .await;
        assert_eq!(ledger["items"].as_array().unwrap().len(), 2);
        let (_, chk) = app.req("GET", "/api/v1/inventory-check", t, None).await;
        assert_eq!(chk["ok"], true, "{chk}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_exchanges_refunds_and_reports_through_the_api() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, b) = app.locations;
        app.product("M1", &[(a, 5)]).await;
        app.product("M2", &[(b, 5)]).await;
        let t = Some(app.admin.as_str());
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_body(&[("M1", 2)], "m@example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o}");
        let id = o["id"].as_i64().unwrap();
        let line = o["lines"][0]["id"].as_i64().unwrap();
        assert_eq!(
            (
                o["owed"]["amount"].as_i64(),
                o["balance"]["amount"].as_i64()
            ),
            (Some(3000), Some(-3000)),
            "{name}"
        );
        let (s, _) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/payments"),
                t,
                Some(json!({"status": "paid"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        // Edit: add one M2 (from B), change M1 to 1.
        let (s, e) = app
            .req("POST", &format!("/api/v1/orders/{id}/edits"), t,
                 Some(json!({"add": [{"sku": "M2", "quantity": 1}], "change": [{"line_id": line, "quantity": 1}], "reason": "phone"})))
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {e}");
        assert_eq!(
            (
                e["total"]["amount"].as_i64(),
                e["balance"]["amount"].as_i64()
            ),
            (Some(3000), Some(0)),
            "{name}: {e}"
        );
        // Unknown fields are refused by name; a missing line is named too.
        let (s, err) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/edits"),
                t,
                Some(json!({"remove": [1]})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {err}");
        let (s, err) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/edits"),
                t,
                Some(json!({"change": [{"line_id": 999999, "quantity": 1}]})),
            )
            .await;
        assert_eq!(
            (s, err["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("change[0].line_id")),
            "{name}: {err}"
        );
        // Re-source M1 to B (which has none): refused with a 409, nothing moves.
        let (s, err) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/lines/{line}/source"),
                t,
                Some(json!({"location_id": b})),
            )
            .await;
        assert_eq!(
            (s, err["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("insufficient_stock")),
            "{name}: {err}"
        );
        let (s, err) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/lines/x/source"),
                t,
                Some(json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{name}: {err}");
        // Ship everything, then exchange the M1 for two M2 and receive it.
        for loc in [a, b] {
            let (s, r) = app
                .req(
                    "POST",
                    &format!("/api/v1/orders/{id}/fulfillments"),
                    t,
                    Some(json!({"location_id": loc})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        }
        let (s, r) = app
            .req("POST", &format!("/api/v1/orders/{id}/returns"), t,
                 Some(json!({"lines": [{"line_id": line, "quantity": 1, "reason": "wrong_size"}], "exchange_lines": [{"sku": "M2", "quantity": 2}]})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        assert_eq!(
            (
                r["exchange"].as_bool(),
                r["price_difference"]["amount"].as_i64()
            ),
            (Some(true), Some(1500)),
            "{name}: {r}"
        );
        let rid = r["id"].as_i64().unwrap();
        let (s, r) = app
            .req("POST", &format!("/api/v1/returns/{rid}/receive"), t,
                 Some(json!({"lines": [{"line_id": line, "quantity": 1, "disposition": "restock", "location_id": a}]})))
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        let (_, o) = app
            .req("GET", &format!("/api/v1/orders/{id}"), t, None)
            .await;
        assert_eq!(o["balance"]["amount"].as_i64(), Some(-1500), "{name}: {o}");
        let (s, o) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/payments"),
                t,
                Some(json!({"status": "paid"})),
            )
            .await;
        assert_eq!(
            (s, o["balance"]["amount"].as_i64()),
            (StatusCode::OK, Some(0)),
            "{name}: {o}"
        );
        // Refund the shipping line by line (M2, one unit), computed by the server.
        let m2 = o["lines"][1]["id"].as_i64().unwrap();
        let (s, o) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/refunds"),
                t,
                Some(json!({"lines": [{"line_id": m2, "quantity": 1}], "reason": "damaged"})),
            )
            .await;
        assert_eq!(
            (s, o["refunded"]["amount"].as_i64()),
            (StatusCode::CREATED, Some(1500)),
            "{name}: {o}"
        );
        // A staff note joins the timeline; an empty one is refused with the field named.
        let (s, n) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/notes"),
                t,
                Some(json!({"message": "Customer prefers afternoon delivery"})),
            )
            .await;
        assert_eq!(
            (s, n["kind"].as_str()),
            (StatusCode::CREATED, Some("note")),
            "{name}: {n}"
        );
        let (s, n) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/notes"),
                t,
                Some(json!({"message": " "})),
            )
            .await;
        assert_eq!(
            (s, n["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("message")),
            "{name}: {n}"
        );
        let (_, tl) = app
            .req("GET", &format!("/api/v1/orders/{id}/timeline"), t, None)
            .await;
        let kinds: Vec<&str> = tl
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        for k in [
            "placed",
            "sourced",
            "payment_paid",
            "edited",
            "shipped",
            "return_requested",
            "exchange",
            "return_received",
            "payment_captured",
            "refunded",
            "note",
        ] {
            assert!(kinds.contains(&k), "{name}: no {k} in {kinds:?}");
        }
        // Reorder points and the low-stock list.
        let (s, r) = app
            .req("PUT", "/api/v1/inventory/reorder-points", t, Some(json!({"sku": "M2", "location_id": b, "reorder_point": 4, "reorder_quantity": 12})))
            .await;
        assert_eq!(
            (s, r["low"].as_bool(), r["suggested_order"].as_i64()),
            (StatusCode::OK, Some(true), Some(12)),
            "{name}: {r}"
        );
        let (_, l) = app
            .req("GET", "/api/v1/inventory/reorder-points?low=true", t, None)
            .await;
        assert_eq!(l["items"].as_array().map(Vec::len), Some(1), "{name}: {l}");
        // The exchange's new units ship; the fulfillment report: one order, shipped on time.
        let (s, r) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id}/fulfillments"),
                t,
                Some(json!({"location_id": b})),
            )
            .await;
        assert_eq!(
            (s, r["fulfillment_status"].as_str()),
            (StatusCode::CREATED, Some("partially_returned")),
            "{name}: {r}"
        );
        let (s, rep) = app.req("GET", "/api/v1/reports/fulfillment", t, None).await;
        assert_eq!(s, StatusCode::OK, "{name}: {rep}");
        assert_eq!(
            (
                rep["orders"].as_i64(),
                rep["on_time"].as_i64(),
                rep["on_time_rate"].as_f64()
            ),
            (Some(1), Some(1), Some(1.0)),
            "{name}: {rep}"
        );
        let (s, _) = app
            .req(
                "GET",
                "/api/v1/reports/fulfillment?from=2026-12-01&to=2026-11-01",
                t,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        app.check().await;
    }
}

/// Polls an import until it ends.
async fn finished_import(app: &TestApp, id: i64) -> Value {
    for _ in 0..300 {
        let (s, j) = app
            .req(
                "GET",
                &format!("/api/v1/imports/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{j}");
        if j["status"] != "running" && j["status"] != "queued" {
            return j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("import {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_run_as_jobs_through_the_api() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let upload = |q: &str, body: &'static str, token: String| {
            let r = app
                .http
                .post(format!("{}/api/v1/imports?{q}", app.base))
                .bearer_auth(token)
                .header("content-type", "text/csv")
                .body(body);
            async move {
                let resp = r.send().await.unwrap();
                let s = resp.status();
                (
                    s,
                    serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap(),
                )
            }
        };
        let csv = "handle,title,status,option1_name,sku,option1,price\ntee,Tee,active,Size,TEE-S,S,19.99\ntee,Tee,active,Size,TEE-M,M,oops\ncap,Cap,active,,CAP-1,,5\n";
        let (s, job) = upload("kind=products", csv, app.admin.clone()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{name}: {job}");
        let done = finished_import(&app, job["id"].as_i64().unwrap()).await;
        assert_eq!(done["status"], "done", "{name}: {done}");
        assert_eq!(done["percent"], 100, "{name}");
        assert_eq!(done["summary"]["created"], 2, "{name}: {done}");
        assert_eq!(done["summary"]["rejected"][0]["line"], 3, "{name}: {done}");
        assert_eq!(
            done["summary"]["rejected"][0]["column"], "price",
            "{name}: {done}"
        );
        // The rejected rows, to download and fix.
        let resp = app
            .http
            .get(format!("{}/api/v1/imports/{}/rejects", app.base, job["id"]))
            .bearer_auth(&app.admin)
            .send()
            .await
            .unwrap();
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        let text = resp.text().await.unwrap();
        assert!(
            text.starts_with("file,line,column,reason\n,3,price,"),
            "{name}: {text}"
        );
        // Orders, streamed.
        // A sale, a guest's, one to Ireland; a cancellation of the first at its price, and one at
        // a price it was never sold at (reported, not matched).
        let orders = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
            536365,85123A,HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n\
            536366,22633,MUG,4,2010-12-01 08:30:00,1.00,,France\n\
            536367,85123A,HEART,2,2010-12-01 08:40:00,2.55,12583.0,EIRE\n\
            C536368,85123A,HEART,-2,2010-12-01 09:00:00,2.55,17850.0,United Kingdom\n\
            C536369,85123A,HEART,-1,2010-12-01 09:10:00,3.00,17850.0,United Kingdom\n";
        let (s, job) = upload(
            "kind=orders&currency=GBP&timezone=Europe/London",
            orders,
            app.admin.clone(),
        )
        .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{name}: {job}");
        let done = finished_import(&app, job["id"].as_i64().unwrap()).await;
        let counts: Vec<(String, i64)> =
            serde_json::from_value(done["summary"]["counts"].clone()).unwrap();
        assert!(
            counts.contains(&("orders".into(), 3))
                && counts.contains(&("returns".into(), 1))
                && counts.contains(&("customers".into(), 2)),
            "{name}: {done}"
        );
        assert!(
            done["summary"]["rejected"].to_string().contains("C536369"),
            "{name}: {done}"
        );
        // The guest's order counts in orders and sales, not as a customer; countries are where
        // the orders ship.
        let (s, k) = app
            .req(
                "GET",
                "/api/v1/analytics/kpis?from=2010-12-01&to=2010-12-02&breakdown=country",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {k}");
        assert_eq!(
            (
                k["totals"]["orders"].as_i64(),
                k["totals"]["customers"].as_i64(),
                k["totals"]["new_customers"].as_i64(),
                k["totals"]["gross_sales"].as_i64()
            ),
            (Some(3), Some(2), Some(2), Some(1530 + 400 + 510)),
            "{name}: {k}"
        );
        let mut countries: Vec<(String, i64)> = k["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["group"].as_str().unwrap().to_string(),
                    r["kpis"]["orders"].as_i64().unwrap(),
                )
            })
            .collect();
        countries.sort();
        assert_eq!(
            countries,
            [
                ("FR".to_string(), 1),
                ("GB".to_string(), 1),
                ("IE".to_string(), 1)
            ],
            "{name}: {k}"
        );
        // No storefront events: the imported orders are no discrepancy.
        let (s, r) = app
            .req(
                "GET",
                "/api/v1/analytics/reconciliation?from=2010-12-01&to=2010-12-08",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (
                s,
                r["clean"].as_bool(),
                r["tracked"].as_bool(),
                r["discrepancies"].as_i64()
            ),
            (StatusCode::OK, Some(true), Some(false), Some(0)),
            "{name}: {r}"
        );
        let (_, list) = app
            .req("GET", "/api/v1/orders?q=536365", Some(&app.admin), None)
            .await;
        assert_eq!(
            list["items"][0]["payment_status"], "partially_refunded",
            "{name}: {list}"
        );
        // Refused up front: an unknown kind, an empty body, a role that may not write.
        let (s, e) = upload("kind=invoices", csv, app.admin.clone()).await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("kind")),
            "{name}"
        );
        let (s, e) = upload("kind=products", "", app.admin.clone()).await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("body")),
            "{name}"
        );
        let analyst = TestApp::user(&app.db, "analyst").await;
        let (s, _) = upload("kind=products", csv, analyst).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (_, list) = app
            .req("GET", "/api/v1/imports", Some(&app.admin), None)
            .await;
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(2),
            "{name}: {list}"
        );
        // Paged like every list: newest first, one at a time.
        let walked = walk_pages(&app, "/api/v1/imports?").await;
        assert_eq!(walked, list["items"].as_array().unwrap().clone(), "{name}");
        assert!(
            walked[0]["id"].as_i64() > walked[1]["id"].as_i64(),
            "{name}"
        );
        app.check().await;
    }
}

/// Every item of a list, walked one item per page by its cursors.
async fn walk_pages(app: &TestApp, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor = String::new();
    loop {
        let (s, page) = app
            .req(
                "GET",
                &format!("{path}limit=1{cursor}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{}: {path}: {page}", app.name);
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= 1, "{}: {path}: {page}", app.name);
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => return items,
        }
        assert!(items.len() < 100, "{}: {path} never ends", app.name);
    }
}

/// The settings lists (staff, tokens, locations, channels, safety buffers, webhooks) page like
/// every other list: `limit` and `cursor`, each item once, in the documented order, and a cursor
/// that is not one of ours refused naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_lists_are_paged_like_every_list() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let t = Some(app.admin.as_str());
        for i in 0..3 {
            let (s, b) = app.req("POST", "/api/v1/users", t, Some(json!({"email": format!("staff{i}@example.com"), "name": "Staff", "role": "support", "password": "correct horse battery"}))).await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
            let (s, b) = app
                .req(
                    "POST",
                    "/api/v1/tokens",
                    t,
                    Some(json!({"name": format!("erp{i}")})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
            let (s, b) = app.req("POST", "/api/v1/webhooks", t, Some(json!({"url": format!("http://127.0.0.1:9/{i}"), "event_types": ["order.created"]}))).await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
            // Two of these share a priority, so the id breaks the tie.
            let (s, b) = app.req("POST", "/api/v1/locations", t, Some(json!({"code": format!("x{i}"), "name": "Extra", "kind": "warehouse", "priority": 5 + i / 2}))).await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {b}");
        }
        let (_, ch) = app.req("POST", "/api/v1/channels", t, Some(json!({"code": "pos", "name": "Till", "kind": "pos", "location_ids": [app.locations.0]}))).await;
        let ch = ch["id"].as_i64().unwrap();
        for sku in ["PB-C", "PB-A", "PB-B"] {
            app.product(sku, &[]).await;
            let (s, b) = app
                .req(
                    "PUT",
                    &format!("/api/v1/channels/{ch}/safety-buffers"),
                    t,
                    Some(json!({"sku": sku, "quantity": 2})),
                )
                .await;
            assert_eq!(s, StatusCode::OK, "{name}: {b}");
        }
        let ids = |v: &[Value]| {
            v.iter()
                .map(|x| x["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        };
        for path in [
            "/api/v1/users?",
            "/api/v1/tokens?",
            "/api/v1/webhooks?",
            "/api/v1/channels?",
        ] {
            let (_, all) = app.req("GET", &format!("{path}limit=250"), t, None).await;
            let all = all["items"].as_array().unwrap().clone();
            assert!(all.len() >= 2, "{name}: {path}");
            let walked = walk_pages(&app, path).await;
            assert_eq!(walked, all, "{name}: {path}");
            let mut sorted = ids(&walked);
            sorted.sort();
            assert_eq!(ids(&walked), sorted, "{name}: {path} oldest first");
        }
        let locs = walk_pages(&app, "/api/v1/locations?").await;
        let keys: Vec<(i64, i64)> = locs
            .iter()
            .map(|l| (l["priority"].as_i64().unwrap(), l["id"].as_i64().unwrap()))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(
            (keys.len(), &keys),
            (6, &sorted),
            "{name}: locations by priority, then id"
        );
        let bufs = walk_pages(&app, &format!("/api/v1/channels/{ch}/safety-buffers?")).await;
        let skus: Vec<&str> = bufs.iter().map(|b| b["sku"].as_str().unwrap()).collect();
        assert_eq!(skus, ["PB-A", "PB-B", "PB-C"], "{name}");
        for path in [
            "/api/v1/users",
            "/api/v1/locations",
            &format!("/api/v1/channels/{ch}/safety-buffers"),
        ] {
            let (s, e) = app
                .req("GET", &format!("{path}?cursor=nope"), t, None)
                .await;
            assert_eq!(
                (s, e["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")),
                "{name}: {path}"
            );
            let (s, e) = app.req("GET", &format!("{path}?limit=0"), t, None).await;
            assert_eq!(
                (s, e["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")),
                "{name}: {path}"
            );
        }
    }
}

/// The order and customer lists sort by the keys they document, both ways: each page in order
/// (ties by id, the same way), every row once when paged one at a time, the default order
/// unchanged; an unknown sort is refused naming `sort`, and a cursor of another sort naming
/// `cursor`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_and_customer_lists_sort_and_page() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("SRT-1", &[(app.locations.0, 50)]).await;
        let t = Some(app.admin.as_str());
        // Five orders of four customers: two totals tie, one customer orders twice.
        for (first, qty) in [
            ("bob", 3),
            ("Alice", 1),
            ("carol", 3),
            ("Dave", 2),
            ("bob", 1),
        ] {
            let mut body = order_body(&[("SRT-1", qty)], &format!("{first}@example.com"));
            body["customer"]["first_name"] = json!(first);
            body["customer"]["last_name"] = json!("Sorter");
            let (st, o) = app.req("POST", "/api/v1/orders", t, Some(body)).await;
            assert_eq!(st, StatusCode::CREATED, "{name}: {o}");
        }
        let micros = |v: &Value| {
            v.as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond()
        };
        // Each sort: its key of an item, as (number, text) to compare.
        type Key = fn(&Value) -> (i64, String);
        let order_keys: [(&str, Key); 3] = [
            ("number", |o| (o["number"].as_i64().unwrap(), String::new())),
            ("placed_at", |o| {
                (
                    o["placed_at"]
                        .as_str()
                        .unwrap()
                        .parse::<jiff::Timestamp>()
                        .unwrap()
                        .as_microsecond(),
                    String::new(),
                )
            }),
            ("total", |o| {
                (o["total"]["amount"].as_i64().unwrap(), String::new())
            }),
        ];
        let customer_keys: [(&str, Key); 4] = [
            ("name", |c| {
                (
                    0,
                    format!(
                        "{} {}",
                        c["first_name"].as_str().unwrap(),
                        c["last_name"].as_str().unwrap()
                    )
                    .to_lowercase(),
                )
            }),
            ("orders_count", |c| {
                (c["orders_count"].as_i64().unwrap(), String::new())
            }),
            ("total_spent", |c| {
                (c["total_spent"]["amount"].as_i64().unwrap(), String::new())
            }),
            ("created_at", |c| {
                (
                    c["created_at"]
                        .as_str()
                        .unwrap()
                        .parse::<jiff::Timestamp>()
                        .unwrap()
                        .as_microsecond(),
                    String::new(),
                )
            }),
        ];
        for (list, keys) in [
            ("/api/v1/orders", &order_keys[..]),
            ("/api/v1/customers", &customer_keys[..]),
        ] {
            let (_, everything) = app.req("GET", &format!("{list}?limit=250"), t, None).await;
            let count = everything["items"].as_array().unwrap().len();
            assert!(count >= 4, "{name}: {list}: {everything}");
            for (key, of) in keys {
                for sort in [key.to_string(), format!("-{key}")] {
                    let (s, one) = app
                        .req("GET", &format!("{list}?sort={sort}&limit=250"), t, None)
                        .await;
                    assert_eq!(s, StatusCode::OK, "{name}: {list} {sort}: {one}");
                    let one = one["items"].as_array().unwrap().clone();
                    let walked = walk_pages(&app, &format!("{list}?sort={sort}&")).await;
                    assert_eq!(walked, one, "{name}: {list} {sort}: paged as in one page");
                    let mut ids: Vec<i64> =
                        walked.iter().map(|x| x["id"].as_i64().unwrap()).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    assert_eq!(ids.len(), count, "{name}: {list} {sort}: every row once");
                    let seen: Vec<(i64, String, i64)> = walked
                        .iter()
                        .map(|x| {
                            let (n, t) = of(x);
                            (n, t, x["id"].as_i64().unwrap())
                        })
                        .collect();
                    let mut want = seen.clone();
                    want.sort();
                    if sort.starts_with('-') {
                        want.reverse();
                    }
                    assert_eq!(seen, want, "{name}: {list} {sort}");
                }
            }
            // No sort: the order it always had (orders newest placed first, customers newest first).
            let default = walk_pages(&app, &format!("{list}?")).await;
            let newest: Vec<i64> = default.iter().map(|x| x["id"].as_i64().unwrap()).collect();
            if list == "/api/v1/orders" {
                let placed: Vec<i64> = default.iter().map(|o| micros(&o["placed_at"])).collect();
                assert!(
                    placed.windows(2).all(|w| w[0] >= w[1]),
                    "{name}: {placed:?}"
                );
                let explicit = walk_pages(&app, &format!("{list}?sort=-placed_at&")).await;
                assert_eq!(explicit, default, "{name}: -placed_at is the default");
            } else {
                assert!(newest.windows(2).all(|w| w[0] > w[1]), "{name}: {newest:?}");
            }
            // A sort it does not know, and a cursor of another sort, are refused by name.
            for bad in ["colour", "-", "total_minor", "--number"] {
                let (s, e) = app.req("GET", &format!("{list}?sort={bad}"), t, None).await;
                assert_eq!(
                    (s, e["error"]["field"].as_str()),
                    (StatusCode::UNPROCESSABLE_ENTITY, Some("sort")),
                    "{name}: {list} {bad}: {e}"
                );
            }
            let (first, other) = (keys[0].0, keys[1].0);
            let (_, p) = app
                .req("GET", &format!("{list}?sort={first}&limit=1"), t, None)
                .await;
            let c = p["next_cursor"].as_str().unwrap().to_string();
            for elsewhere in [
                format!("sort={other}&"),
                format!("sort=-{first}&"),
                String::new(),
            ] {
                let (s, e) = app
                    .req("GET", &format!("{list}?{elsewhere}cursor={c}"), t, None)
                    .await;
                assert_eq!(
                    (s, e["error"]["field"].as_str()),
                    (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")),
                    "{name}: {list} {elsewhere}: {e}"
                );
            }
        }
        // Sorting keeps the filters: Bob's orders, largest first.
        let (_, bobs) = app
            .req(
                "GET",
                "/api/v1/orders?q=bob%40example.com&sort=-total",
                t,
                None,
            )
            .await;
        let totals: Vec<i64> = bobs["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["total"]["amount"].as_i64().unwrap())
            .collect();
        assert_eq!(totals.len(), 2, "{name}: {bobs}");
        assert!(totals[0] > totals[1], "{name}: {totals:?}");
    }
}

#[test]
fn openapi_document_matches_snapshot() {
    let doc = serde_json::to_string_pretty(&backroom::http::openapi()).unwrap();
    let v: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(v["openapi"], "3.1.0");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(path, &doc).unwrap();
    }
    let want =
        std::fs::read_to_string(path).expect("snapshot missing: run with UPDATE_SNAPSHOTS=1");
    assert!(
        want == doc,
        "the OpenAPI document changed; review and rerun with UPDATE_SNAPSHOTS=1"
    );
}

/// SIGKILL during an order load, restart: every acknowledged order is there and `check` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_orders_survive_sigkill() {
    let bin = env!("CARGO_BIN_EXE_backroom");
    for (name, url) in database_urls().await {
        // Prepare the store, then hand the database to a real server process.
        let token = {
            let db = Db::open(&url).await.unwrap();
            let app_token = TestApp::user(&db, "admin").await;
            db.write(|tx| {
                let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
                let a = backroom_core::fixtures::small_store(tx, &c)?.a;
                catalog::create_product(
                    tx,
                    &c,
                    &NewProduct {
                        title: "Crash".into(),
                        status: Some("active".into()),
                        variants: vec![NewVariant {
                            sku: "CR1".into(),
                            price: 100,
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                )?;
                inventory::receive(
                    tx,
                    &c,
                    &ReceiveStock {
                        sku: "CR1".into(),
                        location_id: a,
                        quantity: 100_000,
                        note: None,
                    },
                )?;
                Ok(())
            })
            .await
            .unwrap();
            app_token
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mut child = std::process::Command::new(bin)
            .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .env("DATABASE_URL", &url)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/health")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<i64>::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut workers = Vec::new();
        for w in 0..16 {
            let (http, base, token, acked, stop) = (
                http.clone(),
                base.clone(),
                token.clone(),
                acked.clone(),
                stop.clone(),
            );
            workers.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let r = http
                        .post(format!("{base}/api/v1/orders"))
                        .bearer_auth(&token)
                        .json(&order_body(&[("CR1", 1)], &format!("w{w}-{i}@example.com")))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == StatusCode::CREATED => {
                            if let Ok(v) = r.json::<Value>().await {
                                acked.lock().unwrap().push(v["number"].as_i64().unwrap());
                            }
                        }
                        _ => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    }
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            w.await.unwrap();
        }
        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.len() > 20,
            "{name}: only {} orders acknowledged before the kill",
            acked.len()
        );
        // Restart on the same database: every acknowledged order is there, invariants hold.
        let out = std::process::Command::new(bin)
            .arg("check")
            .env("DATABASE_URL", &url)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: check failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let db = Db::open(&url).await.unwrap();
        let numbers: Vec<i64> = db
            .read(|tx| {
                Ok(tx
                    .query("SELECT number FROM orders", &[])?
                    .iter()
                    .map(|r| r.get::<i64>("number"))
                    .collect::<Result<_, _>>()?)
            })
            .await
            .unwrap();
        for n in &acked {
            assert!(
                numbers.contains(n),
                "{name}: acknowledged order #{n} was lost"
            );
        }
    }
}

/// Shipping and cancelling the same order at once: exactly one wins, the other gets a clear 409,
/// and stock reconciles either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ship_and_cancel_one_wins() {
    for (name, url) in database_urls().await {
        let app = std::sync::Arc::new(TestApp::spawn(name, &url).await);
        let (a, _) = app.locations;
        app.product("SC1", &[(a, 100)]).await;
        let fulfillment = TestApp::user(&app.db, "fulfillment").await;
        let (mut shipped, mut cancelled) = (0, 0);
        for i in 0..12 {
            let (s, o) = app
                .req(
                    "POST",
                    "/api/v1/orders",
                    Some(&app.admin),
                    Some(order_body(&[("SC1", 2)], &format!("sc{i}@example.com"))),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{o}");
            let id = o["id"].as_i64().unwrap();
            let (a1, a2, f) = (app.clone(), app.clone(), fulfillment.clone());
            let ship = tokio::spawn(async move {
                a1.req(
                    "POST",
                    &format!("/api/v1/orders/{id}/fulfillments"),
                    Some(&f),
                    Some(json!({"location_id": a, "tracking_number": "T1"})),
                )
                .await
            });
            let cancel = tokio::spawn(async move {
                a2.req(
                    "POST",
                    &format!("/api/v1/orders/{id}/cancel"),
                    Some(&a2.admin),
                    Some(json!({})),
                )
                .await
            });
            let ((s1, b1), (s2, b2)) = (ship.await.unwrap(), cancel.await.unwrap());
            match (s1, s2) {
                (StatusCode::CREATED, StatusCode::CONFLICT) => {
                    assert_eq!(b2["error"]["code"], "cannot_cancel", "{name}: {b2}");
                    shipped += 1;
                }
                (StatusCode::CONFLICT, StatusCode::OK) => {
                    assert_eq!(b1["error"]["code"], "cannot_ship", "{name}: {b1}");
                    cancelled += 1;
                }
                other => panic!("{name}: both or neither won: {other:?} {b1} {b2}"),
            }
        }
        let (_, st) = app
            .req("GET", "/api/v1/inventory/SC1", Some(&app.admin), None)
            .await;
        assert_eq!(st["totals"]["on_hand"], 100 - 2 * shipped, "{name}: {st}");
        assert_eq!(st["totals"]["reserved"], 0, "{name}: {st}");
        assert_eq!(shipped + cancelled, 12);
        app.check().await;
    }
}

/// A local webhook receiver. Every request is recorded with the status it was answered with; it
/// answers 500 while `fail` counts down, and while `hang` is set it waits two seconds and answers
/// 503 (the test kills the server meanwhile).
struct Receiver {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String, u16)>>>,
    fail: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    hang: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    async fn start() -> Receiver {
        let seen: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String, u16)>>> =
            Default::default();
        let fail = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s2, f2, h2) = (seen.clone(), fail.clone(), hang.clone());
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let (seen, fail, hang) = (s2.clone(), f2.clone(), h2.clone());
                async move {
                    let status = if hang.load(Ordering::SeqCst) {
                        seen.lock()
                            .unwrap()
                            .push((headers.clone(), body.clone(), 0));
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        503
                    } else if fail
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok()
                    {
                        500
                    } else {
                        200
                    };
                    seen.lock().unwrap().push((headers, body, status));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url,
            seen,
            fail,
            hang,
        }
    }

    /// The requests answered 200, in the order they arrived.
    fn delivered(&self) -> Vec<(axum::http::HeaderMap, Value, String)> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, _, s)| *s == 200)
            .map(|(h, b, _)| (h.clone(), serde_json::from_str(b).unwrap(), b.clone()))
            .collect()
    }
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..400 {
        if ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The small store (`fixtures::small_store`) and an admin in the database at `url`, before a
/// server is started on it: the admin's token and warehouse A's id.
async fn small_store_with_admin(url: &str) -> (String, i64) {
    let db = Db::open(url).await.unwrap();
    let token = TestApp::user(&db, "admin").await;
    let loc = db
        .write(|tx| {
            let c = Ctx::new(Actor::system(), backroom_core::util::now_micros());
            Ok(backroom_core::fixtures::small_store(tx, &c)?.a)
        })
        .await
        .unwrap();
    (token, loc)
}

/// A real `backroom serve` process on `url`, with its worker; returns once it answers.
async fn spawn_server(url: &str, env: &[(&str, &str)]) -> (std::process::Child, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    (child, base)
}

/// Webhooks through the front door: a real server process and its worker deliver every event type
/// the API lists to a local receiver, signed, once each, in the order of the events; a failing
/// receiver gets retries (and later events wait behind the one retried); a server killed while a
/// delivery is in flight loses nothing once it is started again; a refused order sends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_delivered_by_the_running_server() {
    for (name, url) in database_urls().await {
        let (token, loc) = small_store_with_admin(&url).await;
        let env = [
            ("BACKROOM_WEBHOOK_RETRY_MS", "50"),
            ("BACKROOM_WEBHOOK_TIMEOUT_MS", "500"),
            ("BACKROOM_ANALYTICS_REFRESH_MS", "0"),
        ];
        let (mut server, base) = spawn_server(&url, &env).await;
        let http = reqwest::Client::new();
        let call = |base: String, method: &'static str, path: String, body: Option<Value>| {
            let (http, token) = (http.clone(), token.clone());
            async move {
                let (s, v) = request(&http, &base, method, &path, Some(&token), body).await;
                assert!(s.is_success(), "{name}: {method} {path}: {s} {v}");
                v
            }
        };
        let hook = Receiver::start().await;
        let sub = call(
            base.clone(),
            "POST",
            "/api/v1/webhooks".into(),
            Some(json!({"url": hook.url, "event_types": backroom_core::webhooks::EVENT_TYPES})),
        )
        .await;
        let secret = sub["secret"].as_str().unwrap().to_string();
        call(base.clone(), "POST", "/api/v1/products".into(), Some(json!({"title": "Hook", "status": "active", "variants": [{"sku": "WH1", "price": 1500}]}))).await;
        call(
            base.clone(),
            "POST",
            "/api/v1/inventory/receive".into(),
            Some(json!({"sku": "WH1", "location_id": loc, "quantity": 10})),
        )
        .await;
        call(
            base.clone(),
            "PUT",
            "/api/v1/inventory/reorder-points".into(),
            Some(json!({"sku": "WH1", "location_id": loc, "reorder_point": 5})),
        )
        .await;
        // The first delivery fails twice: it is retried, and everything after it waits.
        hook.fail.store(2, Ordering::SeqCst);
        let a = call(
            base.clone(),
            "POST",
            "/api/v1/orders".into(),
            Some(order_body(&[("WH1", 2)], "a@example.com")),
        )
        .await;
        let a_id = a["id"].as_i64().unwrap();
        call(
            base.clone(),
            "POST",
            format!("/api/v1/orders/{a_id}/payments"),
            Some(json!({"status": "paid"})),
        )
        .await;
        call(
            base.clone(),
            "POST",
            format!("/api/v1/orders/{a_id}/fulfillments"),
            Some(json!({"location_id": loc})),
        )
        .await;
        // B takes available to 4, below the reorder point of 5; cancelling it gives it back.
        let b = call(
            base.clone(),
            "POST",
            "/api/v1/orders".into(),
            Some(order_body(&[("WH1", 4)], "b@example.com")),
        )
        .await;
        let b_id = b["id"].as_i64().unwrap();
        call(
            base.clone(),
            "POST",
            format!("/api/v1/orders/{b_id}/cancel"),
            Some(json!({"reason": "customer"})),
        )
        .await;
        // A refused order (not enough stock) commits nothing, so it sends nothing.
        let (s, _) = request(
            &http,
            &base,
            "POST",
            "/api/v1/orders",
            Some(&token),
            Some(order_body(&[("WH1", 99)], "x@example.com")),
        )
        .await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}");
        wait_for("the first five events", || hook.delivered().len() >= 5).await;
        // The receiver hangs on the next delivery and the server is killed mid-send.
        hook.hang.store(true, Ordering::SeqCst);
        let c = call(
            base.clone(),
            "POST",
            "/api/v1/orders".into(),
            Some(order_body(&[("WH1", 1)], "c@example.com")),
        )
        .await;
        let c_id = c["id"].as_i64().unwrap();
        let seen = hook.seen.clone();
        wait_for("the delivery in flight", || {
            seen.lock().unwrap().iter().any(|(_, _, s)| *s == 0)
        })
        .await;
        server.kill().unwrap();
        server.wait().unwrap();
        hook.hang.store(false, Ordering::SeqCst);
        hook.fail.store(1, Ordering::SeqCst);
        let (mut server, base) = spawn_server(&url, &env).await;
        call(
            base.clone(),
            "POST",
            format!("/api/v1/orders/{c_id}/payments"),
            Some(json!({"status": "paid"})),
        )
        .await;
        call(
            base.clone(),
            "POST",
            format!("/api/v1/orders/{c_id}/refunds"),
            Some(json!({"amount": 500, "reason": "goodwill"})),
        )
        .await;
        let line = a["lines"][0]["id"].as_i64().unwrap();
        let r = call(
            base.clone(),
            "POST",
            format!("/api/v1/orders/{a_id}/returns"),
            Some(json!({"lines": [{"line_id": line, "quantity": 1, "reason": "wrong_size"}]})),
        )
        .await;
        let rid = r["id"].as_i64().unwrap();
        call(base.clone(), "POST", format!("/api/v1/returns/{rid}/receive"), Some(json!({"lines": [{"line_id": line, "quantity": 1, "disposition": "restock", "location_id": loc}]}))).await;
        let expected = [
            ("order.created", a_id),
            ("order.paid", a_id),
            ("order.fulfilled", a_id),
            ("order.created", b_id),
            ("order.cancelled", b_id),
            ("order.created", c_id),
            ("order.paid", c_id),
            ("order.refunded", c_id),
            ("return.received", a_id),
        ];
        wait_for("every event", || hook.delivered().len() > expected.len()).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let got = hook.delivered();
        // Once each, in the order of the events, signed with the subscription's secret.
        let ids: Vec<i64> = got
            .iter()
            .map(|(_, v, _)| v["id"].as_i64().unwrap())
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{name}: in order, once each: {ids:?}"
        );
        for (headers, v, body) in &got {
            let sig = headers["backroom-signature"].to_str().unwrap();
            let t: i64 = sig
                .split(',')
                .next()
                .unwrap()
                .trim_start_matches("t=")
                .parse()
                .unwrap();
            assert_eq!(
                sig,
                backroom_core::webhooks::signature(&secret, t, body),
                "{name}: the signature verifies"
            );
            assert_eq!(
                headers["backroom-event"],
                v["type"].as_str().unwrap(),
                "{name}"
            );
        }
        let orders: Vec<(&str, i64)> = got
            .iter()
            .filter(|(_, v, _)| v["type"] != "inventory.low")
            .map(|(_, v, _)| {
                (
                    v["type"].as_str().unwrap(),
                    v["data"]["order_id"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(orders, expected, "{name}");
        let low: Vec<&Value> = got
            .iter()
            .map(|(_, v, _)| v)
            .filter(|v| v["type"] == "inventory.low")
            .collect();
        assert_eq!(low.len(), 1, "{name}: one low-stock crossing: {low:?}");
        assert_eq!(low[0]["data"]["sku"], "WH1", "{name}");
        // The receiver saw the retries: two 500s, the hung request, one more 500.
        let statuses: Vec<u16> = hook
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, s)| *s)
            .collect();
        assert_eq!(
            statuses.iter().filter(|s| **s == 500).count(),
            3,
            "{name}: {statuses:?}"
        );
        let sub_id = sub["id"].as_i64().unwrap();
        let log = call(
            base.clone(),
            "GET",
            format!("/api/v1/webhooks/{sub_id}/deliveries?limit=250"),
            None,
        )
        .await;
        let log = log["items"].as_array().unwrap();
        assert_eq!(log.len(), expected.len() + 1, "{name}");
        assert!(
            log.iter().all(|d| d["status"] == "delivered"),
            "{name}: {log:?}"
        );
        server.kill().unwrap();
        server.wait().unwrap();
    }
}

/// The demo's history behaves like a shop's, as the API, the reports and the console home show
/// it: a day or two of open work and few late orders, all recent; returns at a fashion shop's rate,
/// wrong sizes first, dresses and shoes above accessories; fulfillment times that spread (median
/// well below the 90th percentile), slower at the boutique, and no warehouse shipping at weekends.
async fn the_demo_works_like_a_shop(name: &str, db: &Db) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        App::new(db.clone()),
        std::future::pending(),
    ));
    let admin = TestApp::user(db, "admin").await;
    let http = reqwest::Client::new();
    let now = backroom_core::util::now_micros();
    let days_ago = |t: &Value| {
        let t: jiff::Timestamp = t.as_str().unwrap().parse().unwrap();
        (now - t.as_microsecond()) as f64 / 86_400_000_000.0
    };
    // Every order of a list, page by page.
    let all = async |query: &str| {
        let mut items = Vec::new();
        let mut cursor = String::new();
        loop {
            let (s, page) = request(
                &http,
                &base,
                "GET",
                &format!("/api/v1/orders?{query}&limit=250{cursor}"),
                Some(&admin),
                None,
            )
            .await;
            assert_eq!(s, StatusCode::OK, "{name}: {page}");
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => return items,
            }
        }
    };

    // Open work: recent orders to ship, and few late ones, none old.
    let open = all("status=open").await;
    let to_ship = all("status=open&fulfillment_status=unfulfilled").await;
    let late = all("late=true").await;
    assert!(!to_ship.is_empty(), "{name}: nothing to ship");
    let oldest = to_ship
        .iter()
        .map(|o| days_ago(&o["placed_at"]))
        .fold(0.0, f64::max);
    assert!(
        oldest < 6.0,
        "{name}: an order to ship is {oldest:.1} days old"
    );
    assert!(
        !late.is_empty() && late.len() * 20 <= open.len(),
        "{name}: {} late of {} open orders",
        late.len(),
        open.len()
    );
    for o in &late {
        assert!(days_ago(&o["placed_at"]) < 6.0, "{name}: late order {o}");
    }
    let held = open.iter().filter(|o| !o["hold"].is_null()).count();
    let waiting = open
        .iter()
        .filter(|o| o["fulfillment_status"] == "ready_for_pickup")
        .count();
    assert!(
        held >= 1 && waiting >= 1,
        "{name}: {held} on hold, {waiting} pickups waiting"
    );
    // The console's home says the same.
    let console = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = console
        .post(format!("{base}/console/login"))
        .header("origin", &base)
        .form(&[
            ("email", "admin@demo.backroom.dev"),
            ("password", "backroom-demo"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}: demo sign-in");
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.split(';').next().map(String::from))
        .collect();
    let home = console
        .get(format!("{base}/console"))
        .header("cookie", cookies.join("; "))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let queue = |label: &str| -> usize {
        let at = home
            .find(&format!("data-queue=\"{label}\""))
            .unwrap_or_else(|| panic!("{name}: no {label} on the home page"));
        let rest = &home[at..];
        let n = rest.find("<strong>").unwrap() + 8;
        rest[n..n + rest[n..].find('<').unwrap()].parse().unwrap()
    };
    let unheld_late = late.iter().filter(|o| o["hold"].is_null()).count();
    assert_eq!(queue("late_orders"), unheld_late, "{name}");
    assert!(
        queue("orders_to_ship") > 0 && queue("pickups_waiting") == waiting,
        "{name}"
    );

    // Fulfillment time over the last 30 days: about a day at the median, about three at p90.
    let (s, f) = request(
        &http,
        &base,
        "GET",
        "/api/v1/reports/fulfillment",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{name}: {f}");
    let (median, p90) = (
        f["median_hours"].as_f64().unwrap(),
        f["p90_hours"].as_f64().unwrap(),
    );
    assert!(
        (12.0..40.0).contains(&median) && (48.0..96.0).contains(&p90) && median * 2.0 < p90,
        "{name}: {f}"
    );
    assert!(f["on_time_rate"].as_f64().unwrap() > 0.9, "{name}: {f}");

    // Returns over the 90 days: between 15 and 30 % of units, wrong sizes first; dresses and shoes
    // come back far more than accessories. The KPI engine agrees with the returns report.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap())
        .date();
    let (from, to) = (
        (today - jiff::ToSpan::days(91)).to_string(),
        (today + jiff::ToSpan::days(1)).to_string(),
    );
    let (s, kpis) = request(
        &http,
        &base,
        "GET",
        &format!("/api/v1/analytics/kpis?from={from}&to={to}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{name}: {kpis}");
    let rate = kpis["totals"]["return_rate"].as_f64().unwrap();
    assert!((0.15..=0.30).contains(&rate), "{name}: return rate {rate}");
    let (s, returns) = request(
        &http,
        &base,
        "GET",
        "/api/v1/reports/returns",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{name}: {returns}");
    assert!(
        (returns["rate"].as_f64().unwrap() - rate).abs() < 0.01,
        "{name}: {} and {rate}",
        returns["rate"]
    );
    let reasons = returns["by_reason"].as_array().unwrap();
    let top = reasons
        .iter()
        .max_by_key(|r| r["units_returned"].as_i64())
        .unwrap();
    assert_eq!(top["reason"], "wrong_size", "{name}: {reasons:?}");
    let kind_rate = |prefixes: &[&str]| {
        let (mut sold, mut back) = (0, 0);
        for p in returns["by_product"].as_array().unwrap() {
            if prefixes
                .iter()
                .any(|x| p["sku"].as_str().unwrap().starts_with(x))
            {
                sold += p["units_sold"].as_i64().unwrap();
                back += p["units_returned"].as_i64().unwrap();
            }
        }
        back as f64 / sold as f64
    };
    let (worn, carried) = (
        kind_rate(&["DRE", "SNE"]),
        kind_rate(&["CAP", "SCA", "TOT"]),
    );
    assert!(
        worn > 0.25 && carried < 0.1,
        "{name}: dresses and sneakers {worn}, accessories {carried}"
    );
    // Most returned units go back on the shelf; received returns are refunded (exchanges are not);
    // a few returns wait for inspection; a few are exchanges.
    // One number, named `n`; a sum over no rows (NULL) is 0.
    let n = |sql: &'static str| {
        db.read(move |tx| {
            Ok(tx
                .query_one(sql, &[])?
                .map(|r| r.get::<Option<i64>>("n"))
                .transpose()?
                .flatten()
                .unwrap_or(0))
        })
    };
    let restocked = n("SELECT CAST(SUM(restocked) AS BIGINT) AS n FROM return_lines")
        .await
        .unwrap();
    let received = n("SELECT CAST(SUM(received_quantity) AS BIGINT) AS n FROM return_lines")
        .await
        .unwrap();
    let to_inspect = n("SELECT COUNT(*) AS n FROM returns WHERE status = 'requested'")
        .await
        .unwrap();
    let exchanges = n("SELECT COUNT(*) AS n FROM returns WHERE exchange = TRUE")
        .await
        .unwrap();
    let plain =
        n("SELECT COUNT(*) AS n FROM returns WHERE status = 'received' AND exchange = FALSE")
            .await
            .unwrap();
    let refunded = n("SELECT COUNT(DISTINCT r.id) AS n FROM returns r JOIN refunds f ON f.order_id = r.order_id AND f.reason = 'return' WHERE r.status = 'received' AND r.exchange = FALSE").await.unwrap();
    assert!(
        restocked * 4 >= received * 3
            && to_inspect > 0
            && exchanges > 0
            && exchanges * 10 < plain
            && refunded * 10 >= plain * 9,
        "{name}: {restocked} of {received} units restocked, {to_inspect} returns to inspect, {exchanges} exchanges, {refunded} of {plain} returns refunded"
    );

    // Placed to first shipment by location: the main warehouse is faster than the boutique; the
    // warehouses never ship at a weekend.
    let shipments: Vec<(String, i64, i64)> = db
        .read(|tx| {
            tx.query(
                    "SELECT l.code, o.placed_at, f.shipped_at FROM fulfillments f JOIN orders o ON o.id = f.order_id JOIN locations l ON l.id = f.location_id WHERE f.carrier <> 'pickup'",
                    &[],
                )?
                .iter()
                .map(|r| Ok((r.get("code")?, r.get("placed_at")?, r.get("shipped_at")?)))
                .collect::<Result<_, backroom_core::Error>>()
        })
        .await
        .unwrap();
    let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    let median_at = |code: &str| {
        let mut h: Vec<i64> = shipments
            .iter()
            .filter(|s| s.0 == code)
            .map(|s| s.2 - s.1)
            .collect();
        h.sort_unstable();
        h[h.len() / 2] as f64 / 3_600_000_000.0
    };
    assert!(
        median_at("main-wh") + 6.0 < median_at("paris-shop"),
        "{name}: main {} h, boutique {} h",
        median_at("main-wh"),
        median_at("paris-shop")
    );
    for (code, _, at) in shipments.iter().filter(|s| s.0.ends_with("-wh")) {
        let day = jiff::Timestamp::from_microsecond(*at)
            .unwrap()
            .to_zoned(paris.clone())
            .weekday();
        assert!(
            !matches!(
                day,
                jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
            ),
            "{name}: {code} shipped on a {day:?}"
        );
    }
}

/// The README's first command seeds the demo store: its orders are in every state the console and
/// reports need, and the inventory invariants hold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_store_has_orders_in_every_state() {
    for (name, url) in database_urls().await {
        let bin = env!("CARGO_BIN_EXE_backroom");
        let out = std::process::Command::new(bin)
            .args(["demo", "--seed-only", "--demo-database-url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let check = std::process::Command::new(bin)
            .args(["--database-url", &url, "check"])
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&check.stdout)
        );
        let db = Db::open(&url).await.unwrap();
        let counts = db
            .read(|tx| {
                let mut out = Vec::new();
                for (what, sql) in [
                    ("unfulfilled", "SELECT COUNT(*) AS n FROM orders WHERE fulfillment_status = 'unfulfilled' AND status = 'open'"),
                    ("fulfilled", "SELECT COUNT(*) AS n FROM orders WHERE fulfillment_status = 'fulfilled'"),
                    ("delivered", "SELECT COUNT(*) AS n FROM fulfillments WHERE delivered_at IS NOT NULL"),
                    ("ready_for_pickup", "SELECT COUNT(*) AS n FROM orders WHERE fulfillment_status = 'ready_for_pickup'"),
                    ("picked_up", "SELECT COUNT(*) AS n FROM orders WHERE fulfillment_status = 'picked_up'"),
                    ("returned", "SELECT COUNT(*) AS n FROM orders WHERE fulfillment_status IN ('returned', 'partially_returned')"),
                    ("return awaiting", "SELECT COUNT(*) AS n FROM returns WHERE status = 'requested'"),
                    ("exchanged", "SELECT COUNT(*) AS n FROM returns WHERE exchange = TRUE"),
                    ("refunded", "SELECT COUNT(*) AS n FROM orders WHERE payment_status IN ('partially_refunded', 'refunded')"),
                    ("cancelled", "SELECT COUNT(*) AS n FROM orders WHERE status = 'cancelled'"),
                    ("pending", "SELECT COUNT(*) AS n FROM orders WHERE payment_status = 'pending' AND status = 'open'"),
                    ("authorized", "SELECT COUNT(*) AS n FROM orders WHERE payment_status = 'authorized'"),
                    ("edited", "SELECT COUNT(*) AS n FROM order_events WHERE kind = 'edited'"),
                    ("on hold", "SELECT COUNT(*) AS n FROM orders WHERE status = 'open' AND hold_reason IS NOT NULL"),
                    ("endless aisle", "SELECT COUNT(*) AS n FROM orders WHERE origin_location_id IS NOT NULL"),
                    ("low stock", "SELECT COUNT(*) AS n FROM inventory_levels WHERE reorder_point IS NOT NULL AND on_hand - reserved - unavailable + incoming <= reorder_point"),
                    ("new ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE status = 'new'"),
                    ("open ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE status = 'open'"),
                    ("pending ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE status = 'pending'"),
                    ("on-hold ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE status = 'on_hold'"),
                    ("solved ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE status = 'solved'"),
                    ("closed ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE status = 'closed'"),
                    ("ticket about an order", "SELECT COUNT(*) AS n FROM support_ticket_orders"),
                    ("ticket with a due time", "SELECT COUNT(*) AS n FROM support_tickets WHERE due_at IS NOT NULL"),
                    ("triaged ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE priority = 'urgent'"),
                    ("assigned ticket", "SELECT COUNT(*) AS n FROM support_tickets WHERE assignee_id IS NOT NULL"),
                    ("good rating", "SELECT COUNT(*) AS n FROM support_csat WHERE rating = 'good'"),
                    ("bad rating", "SELECT COUNT(*) AS n FROM support_csat WHERE rating = 'bad'"),
                    ("service level met", "SELECT COUNT(*) AS n FROM support_sla_outcomes WHERE met = TRUE"),
                    ("service level missed", "SELECT COUNT(*) AS n FROM support_sla_outcomes WHERE met = FALSE"),
                ] {
                    let n = tx.query_one(sql, &[])?.map(|r| r.get::<i64>("n")).transpose()?;
                    out.push((what, n.unwrap_or(0)));
                }
                let late = orders::list(
                    tx,
                    &orders::OrderQuery { late: Some(true), ..Default::default() },
                    backroom_core::util::now_micros(),
                )?;
                out.push(("late", late.items.len() as i64));
                Ok(out)
            })
            .await
            .unwrap();
        for (what, n) in &counts {
            assert!(*n > 0, "{name}: no {what} in the demo: {counts:?}");
        }
        the_demo_works_like_a_shop(name, &db).await;
        let total: i64 = db
            .read(|tx| {
                Ok(tx
                    .query_one("SELECT COUNT(*) AS n FROM orders", &[])?
                    .map(|r| r.get::<i64>("n"))
                    .transpose()?
                    .unwrap_or(0))
            })
            .await
            .unwrap();
        assert!((3500..5000).contains(&total), "{name}: {total} orders");
        // Every KPI has a value over the last 30 days, and the CLI prints what the engine computes.
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::get("Europe/Paris").unwrap())
            .date();
        let (from, to) = (
            (today - jiff::ToSpan::days(30)).to_string(),
            (today + jiff::ToSpan::days(1)).to_string(),
        );
        let out = std::process::Command::new(bin)
            .args([
                "--database-url",
                &url,
                "report",
                "kpis",
                "--from",
                &from,
                "--to",
                &to,
                "--by",
                "week",
                "--format",
                "json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
        let q = backroom_core::analytics::report::KpiQuery {
            from: from.clone(),
            to: to.clone(),
            by: Some("week".into()),
            ..Default::default()
        };
        let engine = db
            .read(move |tx| {
                let (p, o) = backroom_core::analytics::report::Opts::from_query(tx, &q)?;
                backroom_core::analytics::report::kpis(tx, p, &o)
            })
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            serde_json::to_string_pretty(&engine).unwrap(),
            "{name}"
        );
        for (k, v) in cli["totals"].as_object().unwrap() {
            assert!(!v.is_null() && v != 0, "{name}: the demo's {k} is {v}");
        }
        let table = std::process::Command::new(bin)
            .args([
                "--database-url",
                &url,
                "report",
                "kpis",
                "--from",
                &from,
                "--to",
                &to,
                "--breakdown",
                "campaign",
            ])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        assert!(
            table.contains("Conversion rate") && table.contains("autumn-sale"),
            "{name}: {table}"
        );
        let rec = |format: &str| {
            std::process::Command::new(bin)
                .args([
                    "--database-url",
                    &url,
                    "report",
                    "reconciliation",
                    "--from",
                    &from,
                    "--to",
                    &to,
                    "--format",
                    format,
                ])
                .output()
                .unwrap()
        };
        let shown = rec("table");
        let text = String::from_utf8_lossy(&shown.stdout);
        assert!(
            shown.status.code() == Some(1)
                && text.starts_with("Reconciliation")
                && text.lines().nth(1).is_some_and(
                    |l| l.contains("DISCREPANCY: 1 campaigns with ad spend and no session")
                ),
            "{name}: {text}"
        );
        let rec = rec("json");
        assert_eq!(
            rec.status.code(),
            Some(1),
            "{name}: the test campaign without traffic is flagged"
        );
        let rec: Value = serde_json::from_slice(&rec.stdout).unwrap();
        assert_eq!(
            rec["spend_without_traffic"],
            json!(["tiktok-test"]),
            "{name}"
        );
        assert_eq!(rec["purchases_without_order"], json!([]), "{name}");
        assert_eq!(rec["orders_without_session"], json!([]), "{name}");
    }
}

impl TestApp {
    async fn raw(
        &self,
        path: &str,
        token: &str,
        content_type: &str,
        body: String,
    ) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storefront_events_and_kpis_through_the_api() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("EV1", &[(app.locations.0, 50)]).await;
        let analyst = TestApp::user(&app.db, "analyst").await;
        let marketing = TestApp::user(&app.db, "marketing").await;
        // A write-only ingest key.
        let (s, key) = app
            .req(
                "POST",
                "/api/v1/tokens",
                Some(&marketing),
                Some(json!({"name": "storefront", "ingest": true})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {key}");
        assert_eq!(key["details"]["kind"], "ingest");
        let key = key["token"].as_str().unwrap().to_string();
        let (s, _) = app
            .req(
                "POST",
                "/api/v1/tokens",
                Some(&analyst),
                Some(json!({"name": "x", "ingest": true})),
            )
            .await;
        assert_eq!(
            s,
            StatusCode::FORBIDDEN,
            "{name}: an analyst cannot issue ingest keys"
        );
        for path in [
            "/api/v1/analytics/kpis?from=2026-01-01&to=2026-02-01",
            "/api/v1/me",
            "/api/v1/tokens",
            "/api/v1/orders",
        ] {
            let (s, body) = app.req("GET", path, Some(&key), None).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{name} {path}: {body}");
        }
        // An order, and the storefront's events around it.
        let (s, order) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("EV1", 2)], "buyer@example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {order}");
        let number = order["number"].as_i64().unwrap();
        let now = jiff::Timestamp::now();
        let at = |min: i64| (now - jiff::SignedDuration::from_mins(min)).to_string();
        let ndjson = [
            json!({"id": "a1", "type": "page_view", "visitor_id": "v1", "timestamp": at(10), "url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter", "device": "mobile", "country": "fr"}),
            json!({"id": "a2", "type": "add_to_cart", "visitor_id": "v1", "timestamp": at(8), "sku": "EV1"}),
            json!({"id": "a3", "type": "purchase", "visitor_id": "v1", "timestamp": at(5), "order_number": format!("#{number}")}),
            json!({"id": "a4", "type": "teleport", "visitor_id": "v1", "timestamp": at(4)}),
            json!({"id": "a5", "type": "page_view", "visitor_id": "v2", "timestamp": at(3), "colour": "red"}),
        ]
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n");
        let (s, r) = app
            .raw(
                "/api/v1/events",
                &key,
                "application/x-ndjson",
                ndjson.clone(),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        assert_eq!(
            (r["accepted"].as_i64(), r["duplicates"].as_i64()),
            (Some(3), Some(0)),
            "{name}: {r}"
        );
        let rejected: Vec<(i64, String)> = r["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["index"].as_i64().unwrap(),
                    x["field"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            rejected,
            vec![(3, "type".to_string()), (4, "colour".to_string())],
            "{name}"
        );
        let (s, r) = app
            .raw("/api/v1/events", &key, "application/x-ndjson", ndjson)
            .await;
        assert_eq!(
            (s, r["accepted"].as_i64(), r["duplicates"].as_i64()),
            (StatusCode::OK, Some(0), Some(3)),
            "{name}: sent twice, stored once"
        );
        let (s, r) = app
            .raw(
                "/api/v1/events",
                &key,
                "application/json",
                json!([{"id": "b1", "type": "page_view", "visitor_id": "v3", "timestamp": at(2)}])
                    .to_string(),
            )
            .await;
        assert_eq!(
            (s, r["accepted"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{name}: {r}"
        );
        let (s, r) = app
            .raw(
                "/api/v1/events",
                &key,
                "application/json",
                "[{\"id\": ".into(),
            )
            .await;
        assert_eq!(
            (s, r["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("body")),
            "{name}: {r}"
        );
        // Ad spend, as JSON and as CSV; a bad CSV saves nothing.
        let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
        let (s, r) = app
            .raw(
                "/api/v1/ad-spend",
                &marketing,
                "text/csv",
                format!("date,source,medium,campaign,amount\n{today},google,cpc,winter,12.50\n"),
            )
            .await;
        assert_eq!(
            (s, r["saved"].as_i64()),
            (StatusCode::OK, Some(1)),
            "{name}: {r}"
        );
        let (s, r) = app
            .raw("/api/v1/ad-spend", &marketing, "text/csv", format!("date,source,medium,campaign,amount\n{today},bing,cpc,x,1\n{today},bing,cpc,y,abc\n"))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {r}");
        assert!(
            r["error"]["message"].as_str().unwrap().contains("line 3"),
            "{name}: {r}"
        );
        let (s, _) = app
            .raw(
                "/api/v1/ad-spend",
                &analyst,
                "application/json",
                "[]".into(),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let from = (today - jiff::ToSpan::days(1)).to_string();
        let to = (today + jiff::ToSpan::days(2)).to_string();
        let (s, spend) = app
            .req(
                "GET",
                &format!("/api/v1/ad-spend?from={from}&to={to}"),
                Some(&analyst),
                None,
            )
            .await;
        assert_eq!(
            (s, spend.as_array().map(|a| a.len())),
            (StatusCode::OK, Some(1)),
            "{name}: {spend}"
        );
        // Email events through the ingest key.
        let (s, r) = app
            .raw("/api/v1/email-events", &key, "application/json", json!([
                {"id": "m1", "campaign": "winter-news", "recipient": "a@x.example", "type": "sent", "timestamp": at(60)},
                {"id": "m2", "campaign": "winter-news", "recipient": "A@x.example", "type": "opened", "timestamp": at(50)},
                {"id": "m3", "campaign": "winter-news", "recipient": "a@x.example", "type": "opened", "timestamp": at(40)},
                {"id": "m4", "campaign": "winter-news", "recipient": "a@x.example", "type": "liked", "timestamp": at(40)}
            ]).to_string())
            .await;
        assert_eq!(
            (
                s,
                r["accepted"].as_i64(),
                r["rejected"][0]["field"].as_str()
            ),
            (StatusCode::OK, Some(3), Some("type")),
            "{name}: {r}"
        );
        let (_, camps) = app
            .req("GET", "/api/v1/email-campaigns", Some(&analyst), None)
            .await;
        assert_eq!(
            (
                camps[0]["sent"].as_i64(),
                camps[0]["unique_opens"].as_i64(),
                camps[0]["open_rate"].as_f64()
            ),
            (Some(1), Some(1), Some(1.0)),
            "{name}: {camps}"
        );
        // KPIs: the purchase is credited to the campaign, whose spend gives the ROAS.
        let (s, k) = app
            .req(
                "GET",
                &format!("/api/v1/analytics/kpis?from={from}&to={to}&by=day&breakdown=campaign"),
                Some(&analyst),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {k}");
        let t = &k["totals"];
        assert_eq!(
            (
                t["sessions"].as_i64(),
                t["orders"].as_i64(),
                t["conversion_rate"].as_f64()
            ),
            (Some(2), Some(1), Some(0.5)),
            "{name}: {t}"
        );
        assert_eq!(
            (t["ad_spend"].as_i64(), t["attributed_sales"].as_i64()),
            (Some(1250), Some(3000)),
            "{name}: {t}"
        );
        assert_eq!(t["roas"].as_f64(), Some(3000.0 / 1250.0), "{name}");
        assert_eq!(k["series"].as_array().unwrap().len(), 3, "{name}");
        let winter: Vec<&Value> = k["breakdown"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["group"] == "winter")
            .collect();
        assert_eq!(
            winter
                .iter()
                .map(|r| r["kpis"]["orders"].as_i64().unwrap())
                .sum::<i64>(),
            1,
            "{name}: {k}"
        );
        for path in [
            format!("/api/v1/analytics/funnel?from={from}&to={to}"),
            format!("/api/v1/analytics/top?from={from}&to={to}&by=product"),
            format!("/api/v1/analytics/cohorts?from={from}&to={to}"),
            "/api/v1/analytics/clv?segment=acquisition_source".to_string(),
            format!("/api/v1/analytics/reconciliation?from={from}&to={to}"),
            format!("/api/v1/analytics/stock?from={from}&to={to}"),
        ] {
            let (s, body) = app.req("GET", &path, Some(&analyst), None).await;
            assert_eq!(s, StatusCode::OK, "{name} {path}: {body}");
        }
        let (_, clv) = app
            .req(
                "GET",
                "/api/v1/analytics/clv?segment=acquisition_source",
                Some(&analyst),
                None,
            )
            .await;
        assert_eq!(clv["segments"][0]["segment"], "google", "{name}: {clv}");
        // Bad parameters are named.
        for (q, field) in [
            ("by=year", "by"),
            ("breakdown=colour", "breakdown"),
            ("to=2020-01-01", "to"),
            ("colour=red", "colour"),
        ] {
            let path = format!("/api/v1/analytics/kpis?from={from}&to={to}&{q}")
                .replace(&format!("to={to}&to="), "to=");
            let (s, body) = app.req("GET", &path, Some(&analyst), None).await;
            assert_eq!(
                (s, body["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{name} {q}: {body}"
            );
        }
        let (s, _) = app
            .req("POST", "/api/v1/analytics/rebuild", Some(&analyst), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (s, r) = app
            .req("POST", "/api/v1/analytics/rebuild", Some(&marketing), None)
            .await;
        assert_eq!(
            (s, r["events"].as_i64()),
            (StatusCode::OK, Some(4)),
            "{name}: {r}"
        );
    }
}

/// Prices that include tax: the tax is extracted from the price (122.00 to Italy at 22% holds
/// 22.00) and the customer pays the shown price, shipping included; edits re-price the same way;
/// refunds and returns credit what was paid (never the tax on top again); net sales leave the
/// tax inside the prices out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_that_include_tax() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, _) = app.locations;
        let t = Some(app.admin.as_str());
        let (s, p) = app
            .req("POST", "/api/v1/products", t, Some(json!({"title": "Scarf", "status": "active", "variants": [{"sku": "INC1", "price": 12200}]})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {p}");
        let (s, r) = app
            .req(
                "POST",
                "/api/v1/inventory/receive",
                t,
                Some(json!({"sku": "INC1", "location_id": a, "quantity": 10})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        let (s, set) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                t,
                Some(json!({
                    "currency": "EUR",
                    "prices_include_tax": true,
                    "tax_rates": [{"country": "IT", "rate": "0.22"}],
                    "shipping_taxed": true,
                    "shipping_rates": [{"method": "standard", "name": "Standard", "price": 610, "countries": ["IT"]}]
                })),
            )
            .await;
        assert_eq!(
            (s, set["prices_include_tax"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{name}: {set}"
        );
        let amounts = |o: &Value| {
            (
                o["subtotal"]["amount"].as_i64(),
                o["tax"]["amount"].as_i64(),
                o["lines"][0]["tax"]["amount"].as_i64(),
                o["total"]["amount"].as_i64(),
                o["prices_include_tax"].as_bool(),
            )
        };
        // 2 x 122.00 + 6.10 shipping: 250.10 paid, of which 45.10 is tax (44.00 + 1.10).
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("INC1", 2)], "IT", None, "standard")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o}");
        assert_eq!(
            amounts(&o),
            (Some(24400), Some(4510), Some(4400), Some(25010), Some(true)),
            "{name}: {o}"
        );
        let (id1, line1) = (
            o["id"].as_i64().unwrap(),
            o["lines"][0]["id"].as_i64().unwrap(),
        );
        // One unit: 122.00 + 6.10, tax 23.10; edited to two it is priced as the first.
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("INC1", 1)], "IT", None, "standard")),
            )
            .await;
        assert_eq!(
            (s, amounts(&o)),
            (
                StatusCode::CREATED,
                (Some(12200), Some(2310), Some(2200), Some(12810), Some(true))
            ),
            "{name}: {o}"
        );
        let (id2, line2) = (
            o["id"].as_i64().unwrap(),
            o["lines"][0]["id"].as_i64().unwrap(),
        );
        // The store changes its mind later: orders already placed keep how they were priced.
        let (s, _) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                t,
                Some(json!({"prices_include_tax": false})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, e) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id2}/edits"),
                t,
                Some(json!({"change": [{"line_id": line2, "quantity": 2}]})),
            )
            .await;
        assert_eq!(
            (s, amounts(&e)),
            (
                StatusCode::OK,
                (Some(24400), Some(4510), Some(4400), Some(25010), Some(true))
            ),
            "{name}: {e}"
        );
        for id in [id1, id2] {
            let (s, o) = app
                .req(
                    "POST",
                    &format!("/api/v1/orders/{id}/payments"),
                    t,
                    Some(json!({"status": "paid"})),
                )
                .await;
            assert_eq!(
                (s, o["balance"]["amount"].as_i64()),
                (StatusCode::OK, Some(0)),
                "{name}: {o}"
            );
            let (s, r) = app
                .req(
                    "POST",
                    &format!("/api/v1/orders/{id}/fulfillments"),
                    t,
                    Some(json!({"location_id": a})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        }
        // Refunding a unit gives back its 122.00 and the shipping its 6.10: what was paid.
        let (s, o) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/refunds"),
                t,
                Some(json!({"lines": [{"line_id": line1, "quantity": 1}], "shipping": true, "reason": "damaged"})),
            )
            .await;
        assert_eq!(
            (s, o["refunded"]["amount"].as_i64()),
            (StatusCode::CREATED, Some(12810)),
            "{name}: {o}"
        );
        // A unit returned and received is credited at 122.00.
        let (s, r) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id2}/returns"),
                t,
                Some(json!({"lines": [{"line_id": line2, "quantity": 1, "reason": "wrong_size"}]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        let rid = r["id"].as_i64().unwrap();
        let (s, r) = app
            .req("POST", &format!("/api/v1/returns/{rid}/receive"), t,
                 Some(json!({"lines": [{"line_id": line2, "quantity": 1, "disposition": "restock", "location_id": a}]})))
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        let (_, o) = app
            .req("GET", &format!("/api/v1/orders/{id2}"), t, None)
            .await;
        assert_eq!(o["balance"]["amount"].as_i64(), Some(12200), "{name}: {o}");
        // Net sales: each order's merchandise net of its 44.00 of tax is 200.00; the refunded
        // unit's 122.00 holds 100.00 of merchandise.
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let from = (today - jiff::ToSpan::days(1)).to_string();
        let to = (today + jiff::ToSpan::days(2)).to_string();
        for q in ["", "&breakdown=channel"] {
            let (s, k) = app
                .req(
                    "GET",
                    &format!("/api/v1/analytics/kpis?from={from}&to={to}&currency=EUR{q}"),
                    t,
                    None,
                )
                .await;
            let k = &k["totals"];
            assert_eq!(
                (
                    s,
                    k["gross_sales"].as_i64(),
                    k["refunds"].as_i64(),
                    k["net_sales"].as_i64()
                ),
                (StatusCode::OK, Some(40000), Some(10000), Some(30000)),
                "{name} {q}: {k}"
            );
        }
        app.check().await;
    }
}

/// Email open rate follows the sends of a period to their outcome, whenever the opens came, so
/// it does not fall as the period grows; ROAS is the sales of campaigns with ad spend over that
/// spend, and the sales of unpaid campaigns are reported beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_rate_and_roas_count_what_they_say() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, _) = app.locations;
        app.product("RO1", &[(a, 10)]).await;
        let t = Some(app.admin.as_str());
        let (_, key) = app
            .req(
                "POST",
                "/api/v1/tokens",
                t,
                Some(json!({"name": "shop", "ingest": true})),
            )
            .await;
        let key = key["token"].as_str().unwrap().to_string();
        let now = jiff::Timestamp::now();
        let ago = |days: i64| (now - jiff::SignedDuration::from_hours(24 * days)).to_string();
        let day = |days: i64| {
            (now - jiff::SignedDuration::from_hours(24 * days))
                .to_zoned(jiff::tz::TimeZone::UTC)
                .date()
                .to_string()
        };
        // Four sends 40 days ago; one bounces; the three others are opened then, 20 and 5 days
        // later.
        let mut events = Vec::new();
        for (i, r) in ["r1", "r2", "r3", "r4"].iter().enumerate() {
            events.push(json!({"id": format!("s{i}"), "campaign": "dec-news", "recipient": format!("{r}@x.example"), "type": "sent", "timestamp": ago(40)}));
        }
        events.push(json!({"id": "b4", "campaign": "dec-news", "recipient": "r4@x.example", "type": "bounced", "timestamp": ago(40)}));
        for (r, d) in [("r1", 40), ("r2", 20), ("r3", 5)] {
            events.push(json!({"id": format!("o{r}"), "campaign": "dec-news", "recipient": format!("{r}@x.example"), "type": "opened", "timestamp": ago(d)}));
        }
        let (s, r) = app
            .raw(
                "/api/v1/email-events",
                &key,
                "application/json",
                Value::Array(events).to_string(),
            )
            .await;
        assert_eq!(
            (s, r["accepted"].as_i64()),
            (StatusCode::OK, Some(8)),
            "{name}: {r}"
        );
        let (to, tomorrow) = (day(-1), day(-2));
        for from in [day(41), day(45), day(120)] {
            let (s, k) = app
                .req(
                    "GET",
                    &format!("/api/v1/analytics/kpis?from={from}&to={to}"),
                    t,
                    None,
                )
                .await;
            let k = &k["totals"];
            assert_eq!(
                (
                    s,
                    k["emails_sent"].as_i64(),
                    k["emails_delivered"].as_i64(),
                    k["email_unique_opens"].as_i64(),
                    k["email_open_rate"].as_f64()
                ),
                (StatusCode::OK, Some(4), Some(3), Some(3), Some(1.0)),
                "{name} from {from}: {k}"
            );
            let (s, c) = app
                .req(
                    "GET",
                    &format!("/api/v1/email-campaigns?from={from}&to={to}"),
                    t,
                    None,
                )
                .await;
            assert_eq!(
                (
                    s,
                    c[0]["delivered"].as_i64(),
                    c[0]["unique_opens"].as_i64(),
                    c[0]["open_rate"].as_f64()
                ),
                (StatusCode::OK, Some(3), Some(3), Some(1.0)),
                "{name} from {from}: {c}"
            );
        }
        // A period of the sends alone counts the opens that came after it.
        let (_, k) = app
            .req(
                "GET",
                &format!("/api/v1/analytics/kpis?from={}&to={}", day(41), day(38)),
                t,
                None,
            )
            .await;
        assert_eq!(
            k["totals"]["email_open_rate"].as_f64(),
            Some(1.0),
            "{name}: {k}"
        );
        // A period with no send has no rate.
        let (_, k) = app
            .req(
                "GET",
                &format!("/api/v1/analytics/kpis?from={}&to={to}", day(30)),
                t,
                None,
            )
            .await;
        assert_eq!(k["totals"]["email_open_rate"], Value::Null, "{name}: {k}");
        let (s, _) = app
            .req(
                "GET",
                &format!("/api/v1/email-campaigns?from={}", day(30)),
                t,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        // Two orders today: one from a paid search click, one from the newsletter.
        let mut events = Vec::new();
        for (i, (visitor, url)) in [
            ("v1", "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=winter"),
            ("v2", "https://shop.example/?utm_source=newsletter&utm_medium=email&utm_campaign=dec-news"),
        ]
        .iter()
        .enumerate()
        {
            let (s, o) = app
                .req("POST", "/api/v1/orders", t, Some(order_body(&[("RO1", i as i64 + 1)], &format!("{visitor}@x.example"))))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {o}");
            events.push(json!({"id": format!("p{i}"), "type": "page_view", "visitor_id": visitor, "timestamp": ago(0), "url": url}));
            events.push(json!({"id": format!("q{i}"), "type": "purchase", "visitor_id": visitor, "timestamp": ago(0), "order_number": o["name"]}));
        }
        let (s, r) = app
            .raw(
                "/api/v1/events",
                &key,
                "application/json",
                Value::Array(events).to_string(),
            )
            .await;
        assert_eq!(
            (s, r["accepted"].as_i64()),
            (StatusCode::OK, Some(4)),
            "{name}: {r}"
        );
        let (s, r) = app
            .raw(
                "/api/v1/ad-spend",
                &app.admin,
                "text/csv",
                format!(
                    "date,source,medium,campaign,amount\n{},google,cpc,winter,10.00\n",
                    day(0)
                ),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        for q in ["", "&by=day"] {
            let (s, k) = app
                .req(
                    "GET",
                    &format!("/api/v1/analytics/kpis?from={}&to={tomorrow}{q}", day(1)),
                    t,
                    None,
                )
                .await;
            let k = &k["totals"];
            assert_eq!(
                (
                    s,
                    k["attributed_sales"].as_i64(),
                    k["paid_attributed_sales"].as_i64(),
                    k["unpaid_attributed_sales"].as_i64(),
                    k["ad_spend"].as_i64(),
                    k["roas"].as_f64()
                ),
                (
                    StatusCode::OK,
                    Some(4500),
                    Some(1500),
                    Some(3000),
                    Some(1000),
                    Some(1.5)
                ),
                "{name} {q}: {k}"
            );
        }
    }
}

/// The API gaps of a working week: customers edited (names, phone, tags, note, consent with its
/// time and source, addresses) and keeping the addresses they ship to; a checkout that declines
/// marketing withdraws consent; returns listed and filtered; orders filtered by balance; a
/// boutique sale sourced from the boutique with nothing to ship unless staff ask to ship it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_working_week_of_customers_returns_balances_and_boutique_sales() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, _) = app.locations;
        let t = Some(app.admin.as_str());
        let support = TestApp::user(&app.db, "support").await;
        let analyst = TestApp::user(&app.db, "analyst").await;
        app.product("WK1", &[(a, 20)]).await;
        // A first order with consent; the address is kept on the customer.
        let mut body = order_body(&[("WK1", 1)], "ada@example.com");
        body["customer"]["accepts_marketing"] = json!(true);
        let (s, o1) = app
            .req("POST", "/api/v1/orders", t, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o1}");
        let cid = o1["customer"]["id"].as_i64().unwrap();
        let (_, c) = app
            .req("GET", &format!("/api/v1/customers/{cid}"), t, None)
            .await;
        assert_eq!(
            (
                c["accepts_marketing"].as_bool(),
                c["marketing_consent_source"].as_str(),
                c["addresses"].as_array().map(Vec::len)
            ),
            (Some(true), Some("checkout:online"), Some(1)),
            "{name}: {c}"
        );
        // The same address again adds nothing; a new one is kept after it; declining marketing
        // at checkout withdraws consent.
        body["customer"]["accepts_marketing"] = json!(false);
        let (s, _) = app
            .req("POST", "/api/v1/orders", t, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}");
        body["shipping_address"]["line1"] = json!("2 Rue Neuve");
        body["customer"]["accepts_marketing"] = Value::Null;
        let (s, _) = app
            .req("POST", "/api/v1/orders", t, Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}");
        let (_, c) = app
            .req("GET", &format!("/api/v1/customers/{cid}"), t, None)
            .await;
        assert_eq!(
            (
                c["accepts_marketing"].as_bool(),
                c["addresses"].as_array().map(Vec::len),
                c["addresses"][1]["line1"].as_str()
            ),
            (Some(false), Some(2), Some("2 Rue Neuve")),
            "{name}: {c}"
        );
        assert!(c["marketing_consent_at"].is_string(), "{name}: {c}");
        // Support edits the customer; an analyst may not; a bad address is named and nothing
        // of the change is applied.
        let patch = json!({"first_name": "Ada", "last_name": "Lovelace", "phone": "+33 6 12 34 56 78", "tags": ["vip"], "note": "Prefers email",
                           "accepts_marketing": true, "marketing_consent_source": "phone call"});
        let (s, _) = app
            .req(
                "PATCH",
                &format!("/api/v1/customers/{cid}"),
                Some(&analyst),
                Some(patch.clone()),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (s, e) = app
            .req("PATCH", &format!("/api/v1/customers/{cid}"), Some(&support),
                 Some(json!({"first_name": "X", "addresses": [c["addresses"][0].clone(), {"name": "A", "line1": "1", "city": "Lyon", "postal_code": "1", "country": "France"}]})))
            .await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("addresses[1].country")
            ),
            "{name}: {e}"
        );
        let (s, e) = app
            .req(
                "PATCH",
                &format!("/api/v1/customers/{cid}"),
                Some(&support),
                Some(json!({"nickname": "x"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        let (s, c) = app
            .req(
                "PATCH",
                &format!("/api/v1/customers/{cid}"),
                Some(&support),
                Some(patch),
            )
            .await;
        assert_eq!(
            (
                s,
                c["first_name"].as_str(),
                c["tags"].clone(),
                c["accepts_marketing"].as_bool(),
                c["marketing_consent_source"].as_str(),
                c["phone"].as_str()
            ),
            (
                StatusCode::OK,
                Some("Ada"),
                json!(["vip"]),
                Some(true),
                Some("phone call"),
                Some("+33 6 12 34 56 78")
            ),
            "{name}: {c}"
        );
        let (s, c) = app
            .req(
                "PATCH",
                &format!("/api/v1/customers/{cid}"),
                Some(&support),
                Some(json!({"phone": "", "addresses": []})),
            )
            .await;
        assert_eq!(
            (
                s,
                c["phone"].clone(),
                c["addresses"].clone(),
                c["first_name"].as_str()
            ),
            (StatusCode::OK, Value::Null, json!([]), Some("Ada")),
            "{name}: {c}"
        );
        let (_, log) = app.req("GET", "/api/v1/audit-log?limit=200", t, None).await;
        let edits: Vec<&Value> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "customer.updated")
            .collect();
        assert_eq!(edits.len(), 2, "{name}: {edits:?}");
        assert!(
            edits.iter().any(|e| e.to_string().contains("Lovelace")),
            "{name}: {edits:?}"
        );
        // Balances: pay the first order twice over its total is refused elsewhere; here pay it
        // and return a unit (refund due), leave another unpaid (to collect).
        let id1 = o1["id"].as_i64().unwrap();
        let (s, _) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/payments"),
                t,
                Some(json!({"status": "paid"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, _) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/fulfillments"),
                t,
                Some(json!({"location_id": a})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}");
        let line1 = o1["lines"][0]["id"].as_i64().unwrap();
        let (s, r) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/returns"),
                t,
                Some(json!({"lines": [{"line_id": line1, "quantity": 1, "reason": "wrong_size"}]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {r}");
        let rid = r["id"].as_i64().unwrap();
        for (q, n) in [
            ("to_inspect=true", 1),
            ("to_inspect=false", 0),
            ("status=requested", 1),
            ("status=received", 0),
            (&format!("order_id={id1}") as &str, 1),
        ] {
            let (s, l) = app
                .req("GET", &format!("/api/v1/returns?{q}"), Some(&support), None)
                .await;
            assert_eq!(
                (s, l["items"].as_array().map(Vec::len)),
                (StatusCode::OK, Some(n)),
                "{name} {q}: {l}"
            );
        }
        let (s, e) = app.req("GET", "/api/v1/returns?status=lost", t, None).await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("status")),
            "{name}"
        );
        let (s, _) = app.req("POST", &format!("/api/v1/returns/{rid}/receive"), t,
                             Some(json!({"lines": [{"line_id": line1, "quantity": 1, "disposition": "restock", "location_id": a}]}))).await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (_, l) = app
            .req("GET", "/api/v1/returns?to_inspect=true", t, None)
            .await;
        assert_eq!(l["items"].as_array().map(Vec::len), Some(0), "{name}: {l}");
        let numbers = |l: &Value| -> Vec<i64> {
            l["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap())
                .collect()
        };
        let (_, due) = app
            .req("GET", "/api/v1/orders?balance=refund_due", t, None)
            .await;
        assert_eq!(numbers(&due), vec![id1], "{name}: {due}");
        let (_, collect) = app
            .req("GET", "/api/v1/orders?balance=to_collect", t, None)
            .await;
        assert_eq!(numbers(&collect).len(), 2, "{name}: {collect}");
        let (s, e) = app
            .req("GET", "/api/v1/orders?balance=maybe", t, None)
            .await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("balance")),
            "{name}"
        );
        // A boutique sale: the shop holds 2 and sells for the in-store channel beside warehouse A.
        let (_, locs) = app.req("GET", "/api/v1/locations", t, None).await;
        let shop = locs["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["code"] == "shop")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let (s, ch) = app.req("POST", "/api/v1/channels", t, Some(json!({"code": "pos", "name": "Shop till", "kind": "pos", "location_ids": [shop, a]}))).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {ch}");
        let (s, _) = app
            .req(
                "POST",
                "/api/v1/inventory/receive",
                t,
                Some(json!({"sku": "WK1", "location_id": shop, "quantity": 2})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, _) = app.req("PATCH", "/api/v1/settings", t, Some(json!({"shipping_rates": [{"method": "standard", "name": "Standard", "price": 500}]}))).await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let sale = |q: i64, method: Option<&str>| {
            let mut b = order_body(&[("WK1", q)], "walkin@example.com");
            b["channel"] = json!("pos");
            b["origin_location_id"] = json!(shop);
            if let Some(m) = method {
                b["shipping_method"] = json!(m);
            }
            b
        };
        let at = |o: &Value| o["lines"][0]["allocations"][0]["location_id"].as_i64();
        let (s, o) = app
            .req("POST", "/api/v1/orders", t, Some(sale(2, None)))
            .await;
        assert_eq!(
            (
                s,
                o["shipping_method"].as_str(),
                o["shipping"]["amount"].as_i64(),
                at(&o)
            ),
            (StatusCode::CREATED, Some("in_store"), Some(0), Some(shop)),
            "{name}: {o}"
        );
        assert!(
            o["sourcing"]["reason"]
                .as_str()
                .unwrap()
                .contains("boutique sale"),
            "{name}: {o}"
        );
        // The shop has nothing left: the sale ships from the warehouse, charged.
        let (s, o) = app
            .req("POST", "/api/v1/orders", t, Some(sale(1, None)))
            .await;
        assert_eq!(
            (
                s,
                o["shipping_method"].as_str(),
                o["shipping"]["amount"].as_i64(),
                at(&o)
            ),
            (StatusCode::CREATED, Some("standard"), Some(500), Some(a)),
            "{name}: {o}"
        );
        // Staff ask to ship it even though the shop holds it.
        let (s, _) = app
            .req(
                "POST",
                "/api/v1/inventory/receive",
                t,
                Some(json!({"sku": "WK1", "location_id": shop, "quantity": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, o) = app
            .req("POST", "/api/v1/orders", t, Some(sale(1, Some("standard"))))
            .await;
        assert_eq!(
            (
                s,
                o["shipping_method"].as_str(),
                o["shipping"]["amount"].as_i64()
            ),
            (StatusCode::CREATED, Some("standard"), Some(500)),
            "{name}: {o}"
        );
        app.check().await;
    }
}

/// A count below what is reserved is kept (the shelf is the truth), and the shortfall is handled:
/// the orders placed last give their units up first, re-sourced where another location has them,
/// else backordered until stock arrives; the invariants hold throughout, the order cannot ship
/// what is short, and a receipt clears the backorder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_below_reserved_resources_or_backorders() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, b) = app.locations;
        let t = Some(app.admin.as_str());
        app.product("SH1", &[(a, 3), (b, 1)]).await;
        let place = |q: i64| order_body(&[("SH1", q)], "short@example.com");
        let (s, o1) = app.req("POST", "/api/v1/orders", t, Some(place(2))).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o1}");
        let (s, o2) = app.req("POST", "/api/v1/orders", t, Some(place(1))).await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o2}");
        let at = live_allocations;
        assert_eq!(
            (at(&o1), at(&o2)),
            (vec![(a, 2, 0)], vec![(a, 1, 0)]),
            "{name}"
        );
        // Only one unit is on A's shelf: two of the three promised are short.
        let (s, r) = app
            .req(
                "POST",
                "/api/v1/inventory/count",
                t,
                Some(json!({"sku": "SH1", "location_id": a, "counted": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        app.check().await;
        let (id1, id2) = (o1["id"].as_i64().unwrap(), o2["id"].as_i64().unwrap());
        let (_, o2) = app
            .req("GET", &format!("/api/v1/orders/{id2}"), t, None)
            .await;
        let (_, o1) = app
            .req("GET", &format!("/api/v1/orders/{id1}"), t, None)
            .await;
        // The last order moves to B, which had one; the first keeps one unit at A and waits for
        // the other.
        assert_eq!(at(&o2), vec![(b, 1, 0)], "{name}: {o2}");
        assert_eq!(at(&o1), vec![(a, 2, 1)], "{name}: {o1}");
        let (_, tl) = app
            .req("GET", &format!("/api/v1/orders/{id1}/timeline"), t, None)
            .await;
        assert!(
            tl.to_string().contains("backordered until stock arrives"),
            "{name}: {tl}"
        );
        let (_, tl) = app
            .req("GET", &format!("/api/v1/orders/{id2}/timeline"), t, None)
            .await;
        assert!(tl.to_string().contains("re-sourced"), "{name}: {tl}");
        // Nothing more can be sold, and the short order cannot ship both units.
        let (s, e) = app.req("POST", "/api/v1/orders", t, Some(place(1))).await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}: {e}");
        let (s, _) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/payments"),
                t,
                Some(json!({"status": "paid"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, e) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/fulfillments"),
                t,
                Some(json!({"location_id": a})),
            )
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{name}: {e}");
        // Stock arrives: the backorder clears and the order ships whole.
        let (s, _) = app
            .req(
                "POST",
                "/api/v1/inventory/receive",
                t,
                Some(json!({"sku": "SH1", "location_id": a, "quantity": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (_, o1) = app
            .req("GET", &format!("/api/v1/orders/{id1}"), t, None)
            .await;
        assert_eq!(at(&o1), vec![(a, 2, 0)], "{name}: {o1}");
        let (s, r) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{id1}/fulfillments"),
                t,
                Some(json!({"location_id": a})),
            )
            .await;
        assert_eq!(
            (s, r["fulfillment_status"].as_str()),
            (StatusCode::CREATED, Some("fulfilled")),
            "{name}: {r}"
        );
        app.check().await;
    }
}

/// The live allocations of an order's first line: (location, quantity, backordered), sorted.
fn live_allocations(o: &Value) -> Vec<(i64, i64, i64)> {
    let mut v: Vec<_> = o["lines"][0]["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["live"] == true)
        .map(|x| {
            (
                x["location_id"].as_i64().unwrap(),
                x["quantity"].as_i64().unwrap(),
                x["backordered"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A short count that takes only part of a reservation splits it: the part that moves is released
/// as a row of its own and re-sourced, the rest stays live where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_count_moves_part_of_a_reservation() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, b) = app.locations;
        let t = Some(app.admin.as_str());
        app.product("SP1", &[(a, 3), (b, 2)]).await;
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_body(&[("SP1", 3)], "split@example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o}");
        let id = o["id"].as_i64().unwrap();
        let live = live_allocations;
        assert_eq!(live(&o), vec![(a, 3, 0)], "{name}: {o}");
        let (s, r) = app
            .req(
                "POST",
                "/api/v1/inventory/count",
                t,
                Some(json!({"sku": "SP1", "location_id": a, "counted": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        app.check().await;
        let (_, o) = app
            .req("GET", &format!("/api/v1/orders/{id}"), t, None)
            .await;
        assert_eq!(live(&o), vec![(a, 1, 0), (b, 2, 0)], "{name}: {o}");
        let released: i64 = o["lines"][0]["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["live"] == false)
            .map(|x| x["quantity"].as_i64().unwrap())
            .sum();
        assert_eq!(
            released, 2,
            "{name}: the moved units are a released row: {o}"
        );
    }
}

/// An order body to `country` (and `region`), by `method`.
fn order_to(lines: &[(&str, i64)], country: &str, region: Option<&str>, method: &str) -> Value {
    let mut b = order_body(lines, "tax@example.com");
    b["shipping_address"]["country"] = json!(country);
    if let Some(r) = region {
        b["shipping_address"]["region"] = json!(r);
    }
    b["shipping_method"] = json!(method);
    b
}

/// Store settings through the API and the CLI: validated whole (a bad field is named and nothing
/// changes), audited, enforced by role; orders are taxed at their destination's rate (region,
/// country, else the default), shipping is charged by method and destination and free above a
/// threshold; an edit keeps the rate the order was priced with; the currency is fixed once the
/// store has orders.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_settings_tax_and_shipping() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (a, _) = app.locations;
        app.product("TX1", &[(a, 100)]).await;
        let t = Some(app.admin.as_str());
        let analyst = TestApp::user(&app.db, "analyst").await;
        let ops = TestApp::user(&app.db, "operations").await;
        let (s, _) = app
            .req("GET", "/api/v1/settings", Some(&analyst), None)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let (s, before) = app.req("GET", "/api/v1/settings", Some(&ops), None).await;
        assert_eq!(
            (s, before["currency"].as_str()),
            (StatusCode::OK, Some("USD")),
            "{name}: {before}"
        );
        let (s, _) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                Some(&analyst),
                Some(json!({"store_name": "x"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{name}");
        let patch = json!({
            "store_name": "Bottega",
            "currency": "EUR",
            "timezone": "Europe/Rome",
            "default_tax_rate": "0.1",
            "tax_rates": [{"country": "it", "rate": "0.22"}, {"country": "US", "region": "CA", "rate": "0.0725"}],
            "shipping_taxed": false,
            "shipping_rates": [
                {"method": "standard", "name": "Standard", "price": 500, "countries": ["IT", "FR"], "free_above": 20000},
                {"method": "express", "name": "Express", "price": 1500}
            ]
        });
        let (s, set) = app.req("PATCH", "/api/v1/settings", t, Some(patch)).await;
        assert_eq!(s, StatusCode::OK, "{name}: {set}");
        assert_eq!(
            set["tax_rates"][0],
            json!({"country": "IT", "rate": "0.22"}),
            "{name}"
        );
        let methods: Vec<&str> = set["shipping_rates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["method"].as_str().unwrap())
            .collect();
        assert_eq!(
            methods,
            ["express", "pickup", "standard"],
            "{name}: pickup stays"
        );
        // A bad value anywhere is named, and nothing of the change is applied.
        for (bad, field) in [
            (
                json!({"store_name": "Other", "tax_rates": [{"country": "IT", "rate": "0.22"}, {"country": "FR", "rate": "20%"}]}),
                "tax_rates[1].rate",
            ),
            (
                json!({"store_name": "Other", "timezone": "Mars/Base"}),
                "timezone",
            ),
            (
                json!({"store_name": "Other", "shipping_rates": [{"method": "std", "name": "S", "price": -1}]}),
                "shipping_rates[0].price",
            ),
            (
                json!({"store_name": "Other", "tax_rates": [{"country": "ITA", "rate": "0.22"}]}),
                "tax_rates[0].country",
            ),
            (
                json!({"store_name": "Other", "prices_include_tax": "yes"}),
                "prices_include_tax",
            ),
        ] {
            let (s, e) = app.req("PATCH", "/api/v1/settings", t, Some(bad)).await;
            assert_eq!(
                (s, e["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{name}: {e}"
            );
        }
        let (s, e) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                t,
                Some(json!({"colour": "red"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        let (_, now) = app.req("GET", "/api/v1/settings", t, None).await;
        assert_eq!(now, set, "{name}: refused changes left nothing behind");
        // Italy: 22% on 30.00, shipping 5.00 untaxed.
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("TX1", 2)], "IT", None, "standard")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{name}: {o}");
        assert_eq!(
            (
                o["tax"]["amount"].as_i64(),
                o["shipping"]["amount"].as_i64(),
                o["total"]["amount"].as_i64(),
                o["currency"].as_str()
            ),
            (Some(660), Some(500), Some(4160), Some("EUR")),
            "{name}: {o}"
        );
        // Free above 200.00 of merchandise.
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("TX1", 14)], "IT", None, "standard")),
            )
            .await;
        assert_eq!(
            (
                s,
                o["shipping"]["amount"].as_i64(),
                o["tax"]["amount"].as_i64()
            ),
            (StatusCode::CREATED, Some(0), Some(4620)),
            "{name}: {o}"
        );
        // Standard does not ship to Germany: refused, naming the country.
        let (s, e) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("TX1", 1)], "DE", None, "standard")),
            )
            .await;
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("shipping_address.country")
            ),
            "{name}: {e}"
        );
        // California's rate wins over the default; 7.25% of 15.00 is 1.0875, half-to-even 1.09.
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("TX1", 1)], "US", Some("CA"), "express")),
            )
            .await;
        assert_eq!(
            (
                s,
                o["tax"]["amount"].as_i64(),
                o["total"]["amount"].as_i64()
            ),
            (StatusCode::CREATED, Some(109), Some(3109)),
            "{name}: {o}"
        );
        // Elsewhere in the US: the default 10%.
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                t,
                Some(order_to(&[("TX1", 1)], "US", Some("NY"), "express")),
            )
            .await;
        assert_eq!(
            (s, o["tax"]["amount"].as_i64()),
            (StatusCode::CREATED, Some(150)),
            "{name}: {o}"
        );
        let (us_id, line) = (
            o["id"].as_i64().unwrap(),
            o["lines"][0]["id"].as_i64().unwrap(),
        );
        // The rate changes; an edit of an earlier order keeps the rate it was sold at.
        let (s, _) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                t,
                Some(json!({"default_tax_rate": "0.3", "timezone": "Europe/Paris"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}");
        let (s, e) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{us_id}/edits"),
                t,
                Some(json!({"change": [{"line_id": line, "quantity": 2}]})),
            )
            .await;
        assert_eq!(
            (s, e["tax"]["amount"].as_i64()),
            (StatusCode::OK, Some(300)),
            "{name}: {e}"
        );
        // The currency is fixed once there are orders.
        let (s, e) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                t,
                Some(json!({"currency": "GBP"})),
            )
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("currency_locked")),
            "{name}: {e}"
        );
        let (_, log) = app.req("GET", "/api/v1/audit-log?limit=200", t, None).await;
        let changes: Vec<&Value> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "settings.updated")
            .collect();
        assert_eq!(changes.len(), 2, "{name}: {changes:?}");
        assert!(
            changes
                .iter()
                .any(|c| c.to_string().contains("Europe/Rome")
                    && c.to_string().contains("Europe/Paris")),
            "{name}: {changes:?}"
        );
        app.check().await;
        // A period longer than a year has no last-year comparison (the two would overlap), and
        // the report says why; a shorter one has it.
        let (s, r) = app
            .req(
                "GET",
                "/api/v1/analytics/kpis?from=2025-01-01&to=2026-03-01",
                t,
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {r}");
        assert!(
            r["last_year"].is_null()
                && r["last_year_note"]
                    .as_str()
                    .is_some_and(|n| n.contains("longer than a year")),
            "{name}: {r}"
        );
        assert!(r["previous"].is_object(), "{name}");
        let (_, r) = app
            .req(
                "GET",
                "/api/v1/analytics/kpis?from=2026-01-01&to=2026-02-01",
                t,
                None,
            )
            .await;
        assert!(
            r["last_year"].is_object() && r["last_year_note"].is_null(),
            "{name}: {r}"
        );
    }
    // The CLI: set several at once, all or nothing; a bad value is named and exits non-zero.
    for (name, url) in database_urls().await {
        let bin = env!("CARGO_BIN_EXE_backroom");
        let run = |args: &[&str]| {
            std::process::Command::new(bin)
                .arg("--database-url")
                .arg(&url)
                .args(args)
                .env("BACKROOM_LOG", "error")
                .output()
                .unwrap()
        };
        let out = run(&[
            "settings",
            "set",
            "currency=EUR",
            "default_tax_rate=0.2",
            r#"tax_rates=[{"country":"DE","rate":"0.19"}]"#,
        ]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = run(&[
            "settings",
            "set",
            "store_name=Changed",
            "default_tax_rate=abc",
        ]);
        assert!(!out.status.success(), "{name}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("default_tax_rate"),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for args in [
            &["settings", "set", "currency=XYZ"][..],
            &[
                "report",
                "kpis",
                "--from",
                "2026-01-01",
                "--to",
                "2026-02-01",
                "--currency",
                "XYZ",
            ][..],
        ] {
            let out = run(args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success() && err.contains("XYZ is not an ISO 4217 currency code"),
                "{name}: {args:?}: {err}"
            );
        }
        let out = run(&["settings", "show", "--json"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            (
                v["currency"].as_str(),
                v["default_tax_rate"].as_str(),
                v["store_name"].as_str()
            ),
            (Some("EUR"), Some("0.2"), Some("My store")),
            "{name}: {v}"
        );
        assert_eq!(v["tax_rates"][0]["rate"], "0.19", "{name}");
    }
}

/// `backroom report ... | head -1`: the reader stops early and the command ends quietly, with
/// success, instead of panicking on the broken pipe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_piped_into_head_ends_quietly() {
    use std::io::BufRead;
    let (_, url) = database_urls().await.remove(0);
    let bin = env!("CARGO_BIN_EXE_backroom");
    let mut child = std::process::Command::new(bin)
        .args([
            "--database-url",
            &url,
            "report",
            "kpis",
            "--from",
            "2016-02-01",
            "--to",
            "2026-01-01",
            "--by",
            "day",
            "--format",
            "csv",
        ])
        .env("BACKROOM_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("bucket,"), "{first}");
    // The reader is gone; ~200 kB of rows are still to be written.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}

/// U+0000 in any text (PostgreSQL cannot store it) is refused with a 422 naming the field, on
/// both backends alike: in bodies, query strings, paths and console forms; in an import, the row
/// that holds it is refused and the others are applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_on_every_backend() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("NUL1", &[(app.locations.0, 3)]).await;
        let t = Some(app.admin.as_str());
        for (method, path, body, field) in [
            (
                "POST",
                "/api/v1/products",
                Some(json!({"title": "a\u{0}b", "variants": [{"sku": "N2", "price": 1}]})),
                "title",
            ),
            (
                "POST",
                "/api/v1/products",
                Some(json!({"title": "ok", "variants": [{"sku": "N\u{0}2", "price": 1}]})),
                "variants[0].sku",
            ),
            (
                "POST",
                "/api/v1/orders",
                Some(order_body(&[("NUL1", 1)], "a\u{0}@example.com")),
                "customer.email",
            ),
            ("GET", "/api/v1/products?q=a%00b", None, "q"),
            ("GET", "/api/v1/customers?q=%00", None, "q"),
        ] {
            let (s, e) = app.req(method, path, t, body).await;
            assert_eq!(
                (s, e["error"]["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
                "{name}: {method} {path}: {e}"
            );
        }
        // Where no field is named, storage refuses the text on both backends alike: a client
        // error, never a server error (a path names no SKU; a storefront event is refused).
        let (s, e) = app.req("GET", "/api/v1/inventory/NUL%001", t, None).await;
        assert!(s.is_client_error(), "{name}: {s} {e}");
        let (_, key) = app
            .req(
                "POST",
                "/api/v1/tokens",
                t,
                Some(json!({"name": "shop", "ingest": true})),
            )
            .await;
        let event = json!({"id": "n1", "type": "page_view", "visitor_id": "v\u{0}1", "timestamp": jiff::Timestamp::now().to_string(), "url": "https://shop.example/"});
        let (s, e) = app
            .raw(
                "/api/v1/events",
                key["token"].as_str().unwrap(),
                "application/x-ndjson",
                event.to_string(),
            )
            .await;
        assert!(
            s.is_client_error() && e.to_string().contains("U+0000"),
            "{name}: {s} {e}"
        );
        let (_, p) = app.req("GET", "/api/v1/products", t, None).await;
        assert_eq!(
            p["items"].as_array().unwrap().len(),
            1,
            "{name}: nothing was created"
        );
        // An import: the row with a NUL is refused, the next one applied.
        let dir = std::env::temp_dir().join(format!("backroom-api-nul-{}", tag()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("stock.csv");
        std::fs::write(&file, "sku,location,quantity\nNUL1,wh-a,5\nNU\0L1,wh-a,7\n").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
            .args(["--database-url", &url, "import", "stock"])
            .arg(&file)
            .args(["--mode", "set", "--json"])
            .env("BACKROOM_LOG", "error")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("U+0000"),
            "{name}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{name}: some applied, some refused: exit 3"
        );
        let (_, st) = app.req("GET", "/api/v1/inventory/NUL1", t, None).await;
        assert_eq!(
            st["totals"]["on_hand"], 5,
            "{name}: the good row was applied: {st}"
        );
        // A file whose every row is refused applied nothing: exit 1, whatever the kind.
        for (kind, content) in [
            ("stock", "sku,location,quantity\nNOPE,wh-a,5\n"),
            (
                "products",
                "Handle,Title,Variant SKU,Variant Price\nbad,Bad,BAD-1,not-a-price\n",
            ),
        ] {
            std::fs::write(&file, content).unwrap();
            let none = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
                .args(["--database-url", &url, "import", kind])
                .arg(&file)
                .env("BACKROOM_LOG", "error")
                .output()
                .unwrap();
            assert_eq!(
                none.status.code(),
                Some(1),
                "{name}: {kind}: {}",
                String::from_utf8_lossy(&none.stdout)
            );
        }
        // An unterminated quote refuses its row and the rows after it are read on their own:
        // exit 3, not 0 with the later rows lost.
        std::fs::write(&file, "sku,location,quantity\nNUL1,\"wh-a,9\nNUL1,wh-a,6\n").unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
            .args(["--database-url", &url, "import", "stock"])
            .arg(&file)
            .args(["--mode", "set", "--json"])
            .env("BACKROOM_LOG", "error")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.code() == Some(3) && text.contains("never closed"),
            "{name}: {:?} {text}",
            out.status.code()
        );
        let (_, st) = app.req("GET", "/api/v1/inventory/NUL1", t, None).await;
        assert_eq!(
            st["totals"]["on_hand"], 6,
            "{name}: the row after it was applied: {st}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// Runs the real binary with `args` and `DATABASE_URL=url` until it exits (at most 30 s);
/// returns whether it succeeded and what it wrote to standard error.
async fn run_binary(args: &[&str], url: &str) -> (bool, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_backroom"))
        .args(args)
        .env("DATABASE_URL", url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            return (status.success(), err);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    panic!("backroom {args:?} did not exit within 30 s");
}

/// `backroom serve` refuses to start, saying why, when PostgreSQL cannot be reached with the TLS
/// the URL asks for: a server that answers N to the SSLRequest (a stand-in here), and, with a
/// real PostgreSQL, `verify-full` against an address its certificate does not name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_to_start_without_the_tls_asked_for() {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let stand_in = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut req = [0u8; 8];
        s.read_exact(&mut req).unwrap();
        s.write_all(b"N").unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        rest
    });
    let (ok, err) = run_binary(
        &["serve", "--bind", "127.0.0.1:0"],
        &format!("postgres://u:secret@127.0.0.1:{port}/db?sslmode=require"),
    )
    .await;
    assert!(!ok, "serve must not start: {err}");
    assert!(
        err.contains("does not offer TLS") && err.contains("sslmode=require forbids"),
        "{err}"
    );
    assert!(!err.contains("secret"), "the password is not shown: {err}");
    let rest = stand_in.join().unwrap();
    assert!(rest.is_empty(), "cleartext sent after N: {rest:?}");

    if let Ok(pg) = std::env::var("BACKROOM_TEST_PG_URL") {
        let root = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
        if std::path::Path::new(root).exists() {
            let at = pg.rfind('@').unwrap() + 1;
            let end = at + pg[at..].find([':', '/']).unwrap();
            let url = format!(
                "{}127.0.0.1{}?sslmode=verify-full&sslrootcert={root}",
                &pg[..at],
                &pg[end..]
            );
            let (ok, err) = run_binary(&["serve", "--bind", "127.0.0.1:0"], &url).await;
            assert!(!ok, "serve must not start: {err}");
            assert!(err.contains("sslmode=verify-full"), "{err}");
        }
    }
}

/// Import jobs are leased by the server that runs them. A real `backroom serve` starting on a
/// database where other servers left running jobs fails the ones whose lease ran out (or that
/// have none), saying why, and leaves alone the one a live server still holds; the job it runs
/// itself carries its own lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_jobs_of_a_stopped_server_fail_and_a_live_servers_are_left() {
    use backroom_core::params;
    for (name, url) in database_urls().await {
        let (token, ids) = {
            let db = Db::open(&url).await.unwrap();
            let token = TestApp::user(&db, "admin").await;
            let now = backroom_core::util::now_micros();
            let ids = db
                .write(move |tx| {
                    let mut ids = Vec::new();
                    for (owner, lease) in [
                        (Some("stopped-server"), Some(now - 1_000_000)),
                        (Some("live-server"), Some(now + 600_000_000)),
                        (None, None),
                    ] {
                        let r = tx.query_one(
                            "INSERT INTO import_jobs (kind, options, status, bytes_total, created_by, created_at, owner, lease_until) VALUES ('products', '{}', 'running', 10, 'test', $1, $2, $3) RETURNING id",
                            params![now, owner, lease],
                        )?;
                        ids.push(r.unwrap().get::<i64>("id")?);
                    }
                    Ok(ids)
                })
                .await
                .unwrap();
            (token, ids)
        };
        let (mut child, base) = spawn_server(&url, &[]).await;
        let http = reqwest::Client::new();
        let job = |id: i64| {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            async move {
                request(
                    &http,
                    &base,
                    "GET",
                    &format!("/api/v1/imports/{id}"),
                    Some(&token),
                    None,
                )
                .await
                .1
            }
        };
        let stopped = job(ids[0]).await;
        assert_eq!(stopped["status"], "failed", "{name}: {stopped}");
        assert!(
            stopped["error"]
                .as_str()
                .unwrap()
                .starts_with("the server running this import stopped before it finished"),
            "{name}: {stopped}"
        );
        assert_eq!(job(ids[2]).await["status"], "failed", "{name}: no lease");
        let live = job(ids[1]).await;
        assert_eq!(live["status"], "running", "{name}: {live}");
        assert!(live["error"].is_null(), "{name}: {live}");
        // A job of its own: leased by this server while it runs.
        let resp = http
            .post(format!("{base}/api/v1/imports?kind=products"))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body("handle,title,status,option1_name,sku,option1,price\ntee,Tee,active,Size,TEE-S,S,19.99\n")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "{name}");
        let own: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        let own_id = own["id"].as_i64().unwrap();
        for _ in 0..200 {
            if !matches!(
                job(own_id).await["status"].as_str(),
                Some("running" | "queued")
            ) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let own = job(own_id).await;
        assert_eq!(own["status"], "done", "{name}");
        // Its lease is on the job that ran it: this server's, and ahead of its start.
        let (_, leased) = request(
            &http,
            &base,
            "GET",
            &format!("/api/v1/jobs/{}", own["job_id"].as_i64().unwrap()),
            Some(&token),
            None,
        )
        .await;
        child.kill().unwrap();
        child.wait().unwrap();
        let owner = leased["owner"].as_str().unwrap_or_default();
        assert!(
            owner.len() == 16 && owner != "live-server",
            "{name}: {leased}"
        );
        let at = |k: &str| {
            leased[k]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
                .as_microsecond()
        };
        assert!(
            at("lease_until") >= at("created_at") + 50_000_000,
            "{name}: leased ahead: {leased}"
        );
    }
}

/// `backroom config` prints the effective configuration with each value's source and the
/// database password hidden; a value that does not parse stops any command, naming the variable.
#[test]
fn the_cli_prints_its_configuration_and_refuses_a_bad_value() {
    let bin = env!("CARGO_BIN_EXE_backroom");
    let out = std::process::Command::new(bin)
        .args(["config"])
        .env("DATABASE_URL", "postgres://shop:pa55word@127.0.0.1/shop")
        .env("BACKROOM_PG_POOL", "3")
        .env_remove("BACKROOM_WEBHOOK_RETRY_MS")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("pa55word"), "{text}");
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        &line("BACKROOM_PG_POOL")[1..3],
        ["3", "environment"],
        "{text}"
    );
    assert_eq!(
        &line("BACKROOM_WEBHOOK_RETRY_MS")[1..3],
        ["10000", "default"],
        "{text}"
    );
    assert!(
        line("DATABASE_URL").contains(&"postgres://shop:***@127.0.0.1/shop"),
        "{text}"
    );
    for cmd in [&["config"][..], &["check"][..]] {
        let out = std::process::Command::new(bin)
            .args(cmd)
            .env("BACKROOM_PG_QUERY_TIMEOUT_MS", "a minute")
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("BACKROOM_PG_QUERY_TIMEOUT_MS=a minute"),
            "{cmd:?}: {err}"
        );
    }
}

/// Convention: the server crate (HTTP handlers, the console, the CLI, the demo) holds no SQL; it
/// calls the business areas' functions in `backroom-core`. The benchmarks (`bench*.rs`), which
/// read counters and export raw rows to measure the rest, are the one named exception.
#[test]
fn the_server_crate_holds_no_sql() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let markers = [
        "SELECT ",
        "INSERT INTO",
        "DELETE FROM",
        "UPDATE ",
        "SAVEPOINT",
        ".query(\"",
        ".query_one(",
        ".exec(",
        "exec_deferred(",
        "query_batch(",
    ];
    let mut found = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".rs") && !name.starts_with("bench") {
                for (n, line) in std::fs::read_to_string(&p).unwrap().lines().enumerate() {
                    let code = line.trim_start();
                    if code.starts_with("//") {
                        continue;
                    }
                    if markers.iter().any(|m| code.contains(m)) {
                        found.push(format!("{}:{}: {}", p.display(), n + 1, code));
                    }
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "SQL in the server crate:\n{}",
        found.join("\n")
    );
}

/// The previous period by buckets (`previous_series`, what the console's charts draw beside the
/// series) is that period's own series, asked for on its own, and adds up to `previous`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_previous_series_is_the_previous_periods_own() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("PREV-1", &[(app.locations.0, 20)]).await;
        for q in [1, 3] {
            let (s, o) = app
                .req(
                    "POST",
                    "/api/v1/orders",
                    Some(&app.admin),
                    Some(order_body(&[("PREV-1", q)], "prev@example.com")),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{name}: {o}");
        }
        // The store's days are UTC: a week from tomorrow, whose previous week holds today.
        let today = jiff::Timestamp::now()
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date();
        let day = |n: i64| today.saturating_add(jiff::Span::new().days(n)).to_string();
        let get = |q: String| {
            let app = &app;
            async move {
                let (s, r) = app
                    .req(
                        "GET",
                        &format!("/api/v1/analytics/kpis?{q}"),
                        Some(&app.admin),
                        None,
                    )
                    .await;
                assert_eq!(s, StatusCode::OK, "{r}");
                r
            }
        };
        let r = get(format!("from={}&to={}&by=day", day(1), day(8))).await;
        let before = get(format!(
            "from={}&to={}&by=day&compare=false",
            day(-6),
            day(1)
        ))
        .await;
        assert_eq!(r["previous_series"], before["series"], "{name}");
        assert_eq!(r["previous"], before["totals"], "{name}");
        let orders: i64 = r["previous_series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["kpis"]["orders"].as_i64().unwrap())
            .sum();
        assert_eq!(
            (orders, r["previous"]["orders"].as_i64()),
            (2, Some(2)),
            "{name}"
        );
        // Without buckets, no previous series.
        let totals = get(format!("from={}&to={}", day(1), day(8))).await;
        assert_eq!(totals["previous_series"], json!([]), "{name}");
    }
}
