//! The operations console through the real router: sign-in, every page for every role, the
//! forms of each area end to end, CSRF; and the same flows in a real browser (Chromium).

use super::*;
use backroom_domain::roles::{ALL_ROLES, Permission, Role};
use std::collections::HashMap;

/// The console: signing in with a session cookie, the home page per role (its KPI figures equal
/// the API's), CSRF and origin checks on every form, signing out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_sign_in_home_and_csrf() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for (role, email) in [
            ("operations", "ops@example.com"),
            ("support", "desk@example.com"),
        ] {
            let (s, _) = app.req("POST", "/api/v1/users", Some(&app.admin), Some(json!({"email": email, "name": format!("{role} person"), "role": role, "password": "correct horse battery"}))).await;
            assert_eq!(s, StatusCode::CREATED);
        }
        app.product("CON-1", &[(app.locations.0, 20)]).await;
        let (s, body) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("CON-1", 2)], "shopper@example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let url = |p: &str| format!("{}{p}", app.base);
        let origin = app.base.clone();

        // Signed out: every page leads to the sign-in form.
        let r = http.get(url("/console")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}");
        assert_eq!(r.headers()["location"], "/console/login");
        let page = http
            .get(url("/console/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page.contains("name=\"password\"") && page.contains(">Email</label>"),
            "{name}"
        );

        // A sign-in form posted from another site is refused; a wrong password says so.
        let form = [
            ("email", "ops@example.com"),
            ("password", "correct horse battery"),
        ];
        let r = http
            .post(url("/console/login"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: no Origin");
        let r = http
            .post(url("/console/login"))
            .header("origin", "http://evil.example")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}: foreign Origin");
        let r = http
            .post(url("/console/login"))
            .header("origin", &origin)
            .form(&[
                ("email", "ops@example.com"),
                ("password", "wrong password!"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("the email or password is wrong")
        );

        let sign_in = |email: &'static str, proto: Option<&'static str>| {
            let (http, url, origin) = (http.clone(), url("/console/login"), origin.clone());
            async move {
                let mut req = http.post(url).header("origin", origin);
                if let Some(p) = proto {
                    req = req.header("x-forwarded-proto", p);
                }
                let r = req
                    .form(&[("email", email), ("password", "correct horse battery")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::SEE_OTHER);
                let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
                assert!(
                    cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
                    "{cookie}"
                );
                assert_eq!(cookie.contains("; Secure"), proto.is_some(), "{cookie}");
                cookie.split(';').next().unwrap().to_string()
            }
        };
        let ops = sign_in("ops@example.com", None).await;
        let _behind_tls = sign_in("ops@example.com", Some("https")).await;
        let home = |cookie: String| {
            let (http, url) = (http.clone(), url("/console"));
            async move {
                let r = http.get(url).header("cookie", cookie).send().await.unwrap();
                (r.status(), r.text().await.unwrap())
            }
        };
        let (s, page) = home(ops.clone()).await;
        assert_eq!(s, StatusCode::OK, "{name}: {page}");
        // The figures shown are the API's for the same 30 days.
        let figure = |page: &str, key: &str| -> String {
            let pat = format!("data-kpi=\"{key}\">");
            let at = page.find(&pat).unwrap_or_else(|| panic!("{key} in {page}"));
            let rest = &page[at + pat.len()..];
            rest[..rest.find('<').unwrap()].to_string()
        };
        // The period's heading names its dates, and carries them for machines.
        let attr = |name: &str| {
            let pat = format!("{name}=\"");
            let i = page.find(&pat).unwrap() + pat.len();
            page[i..i + 10].to_string()
        };
        let (from, to) = (attr("data-from"), attr("data-to"));
        let (s, api) = app
            .req(
                "GET",
                &format!("/api/v1/analytics/kpis?from={from}&to={to}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{api}");
        assert_eq!(
            figure(&page, "orders"),
            api["totals"]["orders"].to_string(),
            "{name}"
        );
        assert_eq!(api["totals"]["orders"], 1, "{name}");
        let net = api["totals"]["net_sales"].as_i64().unwrap();
        let shown = backroom_domain::Money::new(
            net,
            backroom_domain::Currency::parse(api["currency"].as_str().unwrap()).unwrap(),
        )
        .human();
        assert_eq!(figure(&page, "net_sales"), shown, "{name}");
        assert!(
            page.contains("<svg")
                && page
                    .contains("data-queue=\"orders_to_ship\"><a href=\"/console/orders?status=open&amp;fulfillment_status=unfulfilled\">Orders to ship</a>: <strong>1</strong>"),
            "{name}: {page}"
        );

        let page7 = http
            .get(url("/console?days=7"))
            .header("cookie", ops.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            page7.contains("data-today>Today: ") && page7.contains(">Last 7 days ("),
            "{name}"
        );
        // A role without analytics sees the work queue and the desk's cards, not the sales KPIs.
        let desk = sign_in("desk@example.com", None).await;
        let (s, page) = home(desk).await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            !page.contains("data-kpi=\"net_sales\"") && page.contains("Orders to ship"),
            "{name}"
        );
        assert!(
            page.contains("data-support"),
            "{name}: the support role sees the desk"
        );
        // An ingest key is no console session.
        let (s, ingest) = app
            .req(
                "POST",
                "/api/v1/tokens",
                Some(&app.admin),
                Some(json!({"name": "shop", "ingest": true})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{ingest}");
        let (s, _) = home(format!(
            "backroom_session={}",
            ingest["token"].as_str().unwrap()
        ))
        .await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{name}");

        // Signing out needs the page's token and this site's origin.
        let (_, page) = home(ops.clone()).await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        let csrf = page[at..at + 64].to_string();
        let logout = |cookie: String, origin: Option<String>, csrf: String| {
            let (http, url) = (http.clone(), url("/console/logout"));
            async move {
                let mut req = http.post(url).header("cookie", cookie);
                if let Some(o) = origin {
                    req = req.header("origin", o);
                }
                req.form(&[("csrf", csrf)]).send().await.unwrap().status()
            }
        };
        assert_eq!(
            logout(ops.clone(), Some(origin.clone()), "0".repeat(64)).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            logout(ops.clone(), None, csrf.clone()).await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            logout(
                ops.clone(),
                Some("http://evil.example".into()),
                csrf.clone()
            )
            .await,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            home(ops.clone()).await.0,
            StatusCode::OK,
            "{name}: refused posts change nothing"
        );
        assert_eq!(
            logout(ops.clone(), Some(origin.clone()), csrf).await,
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            home(ops).await.0,
            StatusCode::SEE_OTHER,
            "{name}: the session is revoked"
        );
    }
}

/// A console client that behaves like a browser: keeps its cookies, sends this site's `Origin`,
/// puts the session's CSRF token in every form, and follows the redirect after a post to the
/// page that shows the notice.
struct Session {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
    csrf: String,
}

/// Where a form post lands: the status of the post, where it sent the browser, and that page.
struct Landing {
    status: StatusCode,
    location: String,
    page: String,
}

impl Landing {
    /// The notice on the landing page: (ok, text).
    fn notice(&self) -> Option<(bool, String)> {
        let at = self.page.find("<p class=\"notice ")?;
        let rest = &self.page[at + 17..];
        let ok = rest.starts_with("ok");
        let text = &rest[rest.find('>')? + 1..];
        Some((ok, text[..text.find("</p>")?].to_string()))
    }
    fn ok(&self) -> String {
        match self.notice() {
            Some((true, t)) => t,
            other => panic!(
                "expected a success notice, got {other:?} at {}",
                self.location
            ),
        }
    }
    fn refused(&self) -> String {
        match self.notice() {
            Some((false, t)) => t,
            other => panic!("expected a refusal, got {other:?} at {}", self.location),
        }
    }
}

/// Staff with a password, created through the API.
pub(super) async fn staff_user(app: &TestApp, role: &str) -> String {
    let email = format!("{role}-{}@example.com", tag());
    let (s, body) = app
        .req(
            "POST",
            "/api/v1/users",
            Some(&app.admin),
            Some(json!({"email": email, "name": format!("{role} person"), "role": role, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    email
}

impl Session {
    async fn sign_in(app: &TestApp, email: &str, password: &str) -> Session {
        let mut s = Session {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookies: HashMap::new(),
            csrf: String::new(),
        };
        let l = s
            .post_raw(
                "/console/login",
                &[("email", email), ("password", password)],
            )
            .await;
        assert_eq!(l.status, StatusCode::SEE_OTHER, "{}", l.page);
        let (status, home) = s.get("/console").await;
        assert_eq!(status, StatusCode::OK, "{home}");
        let at = home.find("name=\"csrf\" value=\"").unwrap() + 19;
        s.csrf = home[at..at + 64].to_string();
        s
    }

    fn keep(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, attrs) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") || val.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_string(), val.to_string());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn get(&mut self, path: &str) -> (StatusCode, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&r);
        (r.status(), r.text().await.unwrap())
    }

    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Landing {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let status = r.status();
        let location = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let page = r.text().await.unwrap();
        Landing {
            status,
            location,
            page,
        }
    }

    /// Uploads a file with form fields (and the session's token) as `multipart/form-data`, and
    /// follows the redirect.
    async fn upload(&mut self, path: &str, fields: &[(&str, &str)], file: &str) -> Landing {
        let boundary = "backroomtestboundary";
        let mut body = String::new();
        for (k, v) in [("csrf", self.csrf.as_str())].iter().chain(fields) {
            body.push_str(&format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
            ));
        }
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.csv\"\r\nContent-Type: text/csv\r\n\r\n{file}\r\n--{boundary}--\r\n"
        ));
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("origin", &self.base)
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.keep(&r);
        let (status, location) = (
            r.status(),
            r.headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default(),
        );
        let page = if status == StatusCode::SEE_OTHER {
            self.get(&location).await.1
        } else {
            r.text().await.unwrap()
        };
        Landing {
            status,
            location,
            page,
        }
    }

    /// Posts a form with the session's token and follows the redirect.
    async fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Landing {
        let mut with = vec![("csrf", self.csrf.clone())];
        with.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
        let with: Vec<(&str, &str)> = with.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut l = self.post_raw(path, &with).await;
        if l.status == StatusCode::SEE_OTHER {
            let (s, page) = self.get(&l.location.clone()).await;
            assert_eq!(s, StatusCode::OK, "{}: {page}", l.location);
            l.page = page;
        }
        l
    }
}

/// Every page for every staff role: shown when the role may read it, refused (403) when not;
/// the navigation and the forms follow the role; signed out, every page leads to sign-in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_pages_for_every_role() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("ROLE-1", &[(app.locations.0, 10)]).await;
        let (s, order) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("ROLE-1", 1)], "role@example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{order}");
        let (_, products) = app
            .req("GET", "/api/v1/products?q=ROLE-1", Some(&app.admin), None)
            .await;
        let product = products["items"][0]["id"].as_i64().unwrap();
        let (order_id, customer) = (
            order["id"].as_i64().unwrap(),
            order["customer"]["id"].as_i64().unwrap(),
        );
        let loc = app.locations.0;
        let (s, ticket) = app
            .req(
                "POST",
                "/api/v1/support/tickets",
                Some(&app.admin),
                Some(json!({"subject": "A call", "body": "Where is my parcel?", "requester_email": "role@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{ticket}");
        let ticket = ticket["ticket"]["id"].as_i64().unwrap();
        use Permission::*;
        let pages: Vec<(String, Option<Permission>)> = vec![
            ("/console".into(), None),
            ("/console/support".into(), Some(SupportRead)),
            (
                "/console/support?view=all&status=new&priority=normal&channel=phone&q=call".into(),
                Some(SupportRead),
            ),
            (format!("/console/support/{ticket}"), Some(SupportRead)),
            ("/console/support/new".into(), Some(SupportWork)),
            ("/console/support/workload".into(), Some(SupportRead)),
            ("/console/support/setup".into(), Some(SupportRead)),
            ("/console/promotions".into(), Some(OrdersRead)),
            ("/console/budgets".into(), Some(AnalyticsRead)),
            (
                "/console/support/setup/service-levels".into(),
                Some(SupportRead),
            ),
            ("/console/support/setup/triage".into(), Some(SupportRead)),
            ("/console/support/setup/macros".into(), Some(SupportRead)),
            (
                "/console/support/reports?by=week&breakdown=agent".into(),
                Some(SupportRead),
            ),
            ("/console/password".into(), None),
            ("/console/products".into(), Some(CatalogRead)),
            (
                "/console/products?q=ROLE&status=active&stock=in_stock&sort=title".into(),
                Some(CatalogRead),
            ),
            (format!("/console/products/{product}"), Some(CatalogRead)),
            ("/console/products/new".into(), Some(CatalogWrite)),
            ("/console/inventory".into(), Some(InventoryRead)),
            (
                "/console/inventory/sku?sku=ROLE-1".into(),
                Some(InventoryRead),
            ),
            (
                "/console/inventory/low?show=all".into(),
                Some(InventoryRead),
            ),
            ("/console/transfers".into(), Some(InventoryRead)),
            ("/console/orders".into(), Some(OrdersRead)),
            (
                format!("/console/orders?status=open&late=no&location_id={loc}"),
                Some(OrdersRead),
            ),
            (format!("/console/orders/{order_id}"), Some(OrdersRead)),
            ("/console/orders/new".into(), Some(OrdersPlace)),
            (
                "/console/returns?to_inspect=yes&status=requested".into(),
                Some(OrdersRead),
            ),
            (
                format!("/console/pick-list?location_id={loc}"),
                Some(OrdersRead),
            ),
            ("/console/customers".into(), Some(CustomersRead)),
            (
                format!("/console/customers/{customer}"),
                Some(CustomersRead),
            ),
        ];
        // Signed out: the sign-in form, whatever the page.
        let mut anonymous = Session {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
            cookies: HashMap::new(),
            csrf: String::new(),
        };
        for (path, _) in &pages {
            let r = anonymous
                .http
                .get(format!("{}{path}", app.base))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER, "{name}: {path}");
            assert_eq!(r.headers()["location"], "/console/login", "{name}: {path}");
        }
        let _ = anonymous.get("/console/login").await;
        // Every staff role (integration accounts have no console).
        for role in ALL_ROLES.into_iter().filter(|r| *r != Role::Storefront) {
            let email = staff_user(&app, role.as_str()).await;
            let mut s = Session::sign_in(&app, &email, "correct horse battery").await;
            for (path, need) in &pages {
                let (status, page) = s.get(path).await;
                let allowed = need.is_none_or(|p| role.allows(p));
                let want = if allowed {
                    StatusCode::OK
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(status, want, "{name}: {} {path}: {page}", role.as_str());
                assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<main id=\"main\">"));
                if !allowed {
                    assert!(page.contains("may not open this page"), "{page}");
                }
            }
            // The navigation offers what the role may open, and no more.
            let (_, home) = s.get("/console").await;
            for (p, href) in [
                (CatalogRead, "/console/products"),
                (InventoryRead, "/console/inventory"),
                (OrdersRead, "/console/orders"),
                (CustomersRead, "/console/customers"),
                (AnalyticsRead, "/console/analytics"),
            ] {
                assert_eq!(
                    home.contains(&format!("href=\"{href}\"")),
                    role.allows(p),
                    "{name}: {} {href}",
                    role.as_str()
                );
            }
            // Forms appear only for what the role may do.
            if role.allows(InventoryRead) {
                let (_, sku) = s.get("/console/inventory/sku?sku=ROLE-1").await;
                assert_eq!(
                    sku.contains("action=\"/console/inventory/adjust\""),
                    role.allows(InventoryWrite),
                    "{name}: {}",
                    role.as_str()
                );
            }
            if role.allows(OrdersRead) {
                let (_, o) = s.get(&format!("/console/orders/{order_id}")).await;
                assert_eq!(
                    o.contains(&format!("action=\"/console/orders/{order_id}/ship\"")),
                    role.allows(OrdersFulfil),
                    "{name}: {}",
                    role.as_str()
                );
                assert_eq!(
                    o.contains(&format!("action=\"/console/orders/{order_id}/cancel\"")),
                    role.allows(OrdersManage),
                    "{name}: {}",
                    role.as_str()
                );
            }
            if role.allows(CatalogRead) {
                let (_, p) = s.get(&format!("/console/products/{product}")).await;
                assert!(p.contains("Listing quality:"), "{name}");
                assert_eq!(
                    p.contains("Save product"),
                    role.allows(CatalogWrite),
                    "{name}: {}",
                    role.as_str()
                );
            }
        }
        // Bad filters are refused with the field named, not a crash.
        let email = staff_user(&app, "operations").await;
        let mut s = Session::sign_in(&app, &email, "correct horse battery").await;
        let (status, page) = s.get("/console/products?stock=plenty").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(page.contains("stock: must be in_stock"), "{page}");
        let (status, page) = s.get("/console/orders?channel_id=abc").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            page.contains("channel_id: must be a whole number"),
            "{page}"
        );
        let (status, _) = s.get("/console/orders/999999").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        let (status, page) = s.get("/console/analytics?from=2026-13-01").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(page.contains("from: must be a date"), "{page}");

        // Analytics shows the API's figures, and each table downloads as CSV with them.
        let (from, to) = ("2026-01-01", "2030-01-01");
        let (st, api) = app
            .req(
                "GET",
                &format!("/api/v1/analytics/kpis?from={from}&to={to}&breakdown=channel"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{api}");
        let (status, page) = s
            .get(&format!(
                "/console/analytics?from={from}&to={to}&by=month&breakdown=channel"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            page.contains(&format!("data-kpi=\"orders\">{}<", api["totals"]["orders"])),
            "{name}"
        );
        assert!(
            page.contains("<figcaption>Net sales by month</figcaption>"),
            "{name}"
        );
        assert!(page.contains("data-step=\"purchase\""), "{name}");
        let csv = |table: &'static str| {
            let http = s.http.clone();
            let (url, cookie) = (
                format!(
                    "{}/console/analytics.csv?from={from}&to={to}&by=month&breakdown=channel&table={table}",
                    app.base
                ),
                s.cookie_header(),
            );
            async move {
                let r = http.get(url).header("cookie", cookie).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                assert!(
                    r.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/csv")
                );
                r.text().await.unwrap()
            }
        };
        let kpis = csv("kpis").await;
        let header: Vec<&str> = kpis.lines().next().unwrap().split(',').collect();
        let first: Vec<&str> = kpis.lines().nth(1).unwrap().split(',').collect();
        let col = header.iter().position(|h| *h == "net_sales").unwrap();
        assert_eq!(
            first[col],
            api["totals"]["net_sales"].to_string(),
            "{name}: {kpis}"
        );
        let by_channel = csv("breakdown").await;
        assert_eq!(
            by_channel.lines().count(),
            1 + api["breakdown"].as_array().unwrap().len(),
            "{name}: {by_channel}"
        );
        // Every table comes with its own header; the series has one row per month.
        for (t, header) in [
            ("series", "bucket,group,ad_spend,aov,"),
            ("top_products", "bucket,group,ad_spend,aov,"),
            ("top_campaigns", "bucket,group,ad_spend,aov,"),
            ("cohorts", "month,customers,month_offset,active,retention"),
            (
                "clv",
                "segment,customers,orders,net_sales,avg_clv,avg_gross_margin",
            ),
        ] {
            let body = csv(t).await;
            assert!(body.starts_with(header), "{name}: {t}: {body}");
            if t == "series" {
                assert_eq!(body.lines().count(), 1 + 48, "{name}: 48 months");
            }
        }
        let (_, empty) = s
            .get("/console/analytics.csv?from=2020-01-01&to=2020-01-02&table=top_products")
            .await;
        assert!(
            empty.starts_with("bucket,group,ad_spend,") && empty.lines().count() == 1,
            "{name}: an empty table still has its header: {empty}"
        );
        let (_, page) = s
            .get(&format!(
                "/console/analytics?view=breakdown&from={from}&to={to}&breakdown=channel"
            ))
            .await;
        for g in api["breakdown"].as_array().unwrap() {
            assert!(
                page.contains(&format!(
                    "<td data-label=\"Group\">{}</td>",
                    g["group"].as_str().unwrap_or("(none)")
                )),
                "{name}: {g}"
            );
        }
    }
}

/// The forms of every area, as an operations manager uses them, each checked against the API:
/// a product created and edited (a refused edit keeps what was typed and changes nothing), stock
/// received, adjusted, counted and damaged, an order placed, paid, shipped, returned, received
/// back and refunded, bulk actions, reorder points, a role refused, CSRF, the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_forms_change_state_end_to_end() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let (loc, loc_s) = (app.locations.0, app.locations.0.to_string());
        let ops = staff_user(&app, "operations").await;
        let mut s = Session::sign_in(&app, &ops, "correct horse battery").await;
        let stock = |sku: &'static str| {
            let app = &app;
            async move {
                let (st, v) = app
                    .req(
                        "GET",
                        &format!("/api/v1/inventory/{sku}"),
                        Some(&app.admin),
                        None,
                    )
                    .await;
                assert_eq!(st, StatusCode::OK, "{v}");
                v["totals"].clone()
            }
        };

        // Catalog: a bad price is refused by name and creates nothing; a good one creates.
        let l = s
            .submit(
                "/console/products",
                &[
                    ("title", "Linen shirt"),
                    ("sku", "LIN-1"),
                    ("price", "39,90"),
                    ("status", "active"),
                ],
            )
            .await;
        // The form comes back (no redirect) with what was typed, the reason above it and under
        // the price.
        assert_eq!(l.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            l.refused().contains("price: must be an amount like 19.99"),
            "{}",
            l.page
        );
        for typed in [
            "value=\"Linen shirt\"",
            "value=\"LIN-1\"",
            "value=\"39,90\"",
        ] {
            assert!(l.page.contains(typed), "{name}: {typed} kept: {}", l.page);
        }
        assert!(
            l.page
                .contains("id=\"f-price-error\">must be an amount like 19.99"),
            "{}",
            l.page
        );
        let (_, found) = app
            .req("GET", "/api/v1/products?q=LIN-1", Some(&app.admin), None)
            .await;
        assert_eq!(found["items"].as_array().unwrap().len(), 0, "{name}");
        let l = s
            .submit(
                "/console/products",
                &[
                    ("title", "Linen shirt"),
                    ("sku", "LIN-1"),
                    ("price", "39.90"),
                    ("unit_cost", "12"),
                    ("status", "active"),
                ],
            )
            .await;
        assert_eq!(l.ok(), "Created Linen shirt.", "{name}");
        let product: i64 = l.location.rsplit('/').next().unwrap().parse().unwrap();
        let (_, p) = app
            .req(
                "GET",
                &format!("/api/v1/products/{product}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(p["variants"][0]["price"]["amount"], 3990, "{name}");
        assert_eq!(p["variants"][0]["unit_cost"]["amount"], 1200, "{name}");
        assert!(l.page.contains("data-check=\"no_image\""), "{name}");

        // A refused edit comes back with what was typed, the field marked, nothing saved.
        let edit = |title: &'static str, status: &'static str| {
            vec![
                ("title", title),
                ("vendor", "Atelier"),
                ("product_type", "Shirts"),
                ("tags", "linen, summer"),
                ("status", status),
                ("description", "A shirt."),
                ("seo_title", "Linen shirt"),
                ("seo_description", ""),
                (
                    "image_urls",
                    "https://img.example/a.jpg, https://img.example/b.jpg",
                ),
            ]
        };
        let l = s
            .submit(
                &format!("/console/products/{product}"),
                &edit("Linen shirt, washed", "sold"),
            )
            .await;
        assert_eq!(
            l.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name}: {}",
            l.page
        );
        assert!(
            l.page.contains("value=\"Linen shirt, washed\""),
            "{name}: typed values kept"
        );
        assert!(
            l.page.contains("Nothing was saved. status: must be"),
            "{}",
            l.page
        );
        let l = s
            .submit(&format!("/console/products/{product}"), &edit("", "active"))
            .await;
        assert_eq!(l.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(l.page.contains("name=\"title\" type=\"text\" value=\"\" required maxlength=\"255\" aria-invalid=\"true\" aria-describedby=\"f-title-error\""), "{}", l.page);
        assert!(
            l.page
                .contains("<span class=\"field-error\" id=\"f-title-error\">"),
            "{name}: the reason under the field"
        );
        let (_, p) = app
            .req(
                "GET",
                &format!("/api/v1/products/{product}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(p["title"], "Linen shirt", "{name}: nothing saved");
        let l = s
            .submit(
                &format!("/console/products/{product}"),
                &edit("Linen shirt, washed", "active"),
            )
            .await;
        assert_eq!(l.ok(), "Saved Linen shirt, washed.", "{name}");
        let (_, p) = app
            .req(
                "GET",
                &format!("/api/v1/products/{product}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(p["tags"], json!(["linen", "summer"]), "{name}");
        assert_eq!(p["image_urls"].as_array().unwrap().len(), 2, "{name}");
        assert!(
            !l.page.contains("data-check=\"no_image\"")
                && l.page.contains("data-check=\"description_thin\"")
        );
        let variant = p["variants"][0]["id"].as_i64().unwrap();
        let l = s
            .submit(
                &format!("/console/variants/{variant}"),
                &[
                    ("price", "35"),
                    ("compare_at_price", "30"),
                    ("unit_cost", "12.00"),
                    ("barcode", ""),
                    ("inventory_policy", "deny"),
                ],
            )
            .await;
        assert_eq!(l.ok(), "Saved LIN-1.", "{name}");
        assert!(
            l.page.contains("data-check=\"compare_at_not_above_price\""),
            "{name}"
        );

        // Inventory: receive, adjust (a reason is required), count, damage; each in the ledger.
        let sku_page = "/console/inventory/sku?sku=LIN-1";
        let l = s
            .submit(
                "/console/inventory/receive",
                &[
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("quantity", "10"),
                ],
            )
            .await;
        assert_eq!(l.location, sku_page);
        assert!(l.ok().starts_with("Received 10"), "{name}");
        let l = s
            .submit(
                "/console/inventory/adjust",
                &[
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("delta", "-2"),
                    ("note", ""),
                ],
            )
            .await;
        assert!(l.refused().starts_with("note:"), "{name}: {}", l.page);
        assert_eq!(stock("LIN-1").await["on_hand"], 10, "{name}");
        let l = s
            .submit(
                "/console/inventory/adjust",
                &[
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("delta", "-2"),
                    ("note", "shrinkage"),
                ],
            )
            .await;
        l.ok();
        let l = s
            .submit(
                "/console/inventory/count",
                &[("sku", "LIN-1"), ("location_id", &loc_s), ("counted", "7")],
            )
            .await;
        assert_eq!(l.ok(), "Counted 7 at wh-a: variance -1.", "{name}");
        let l = s
            .submit(
                "/console/inventory/damage",
                &[
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("quantity", "1"),
                    ("action", "mark"),
                ],
            )
            .await;
        l.ok();
        let t = stock("LIN-1").await;
        assert_eq!(
            (
                t["on_hand"].as_i64(),
                t["unavailable"].as_i64(),
                t["available"].as_i64()
            ),
            (Some(7), Some(1), Some(6)),
            "{name}"
        );
        for reason in ["receipt", "adjustment", "count", "damage"] {
            assert!(
                l.page.contains(&format!("b-{reason}")),
                "{name}: {reason} in the ledger"
            );
        }

        // Reorder point in place; the low-stock list and the catalog's stock filter agree.
        let l = s
            .submit(
                "/console/inventory/reorder-point",
                &[
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("reorder_point", "8"),
                    ("reorder_quantity", "20"),
                ],
            )
            .await;
        assert!(
            l.ok().ends_with("set to 8: it is low now."),
            "{name}: {}",
            l.ok()
        );
        assert!(l.page.contains("LIN-1"), "{name}");
        // Saved again from the low-stock list as its inline form stands, the point keeps the
        // lead time set with it (the form used to leave the lead time out, which cleared it).
        s.submit(
            "/console/inventory/reorder-point",
            &[
                ("sku", "LIN-1"),
                ("location_id", &loc_s),
                ("reorder_point", "8"),
                ("reorder_quantity", "20"),
                ("lead_time_days", "5"),
            ],
        )
        .await;
        let (_, listed) = s.get("/console/inventory/low?show=all").await;
        let mut inline = form_fields(&listed, "/console/inventory/reorder-point", "LIN-1");
        assert!(!inline.is_empty(), "{name}: no inline form for LIN-1");
        for (k, v) in inline.iter_mut() {
            if k == "reorder_point" {
                *v = "9".into();
            }
        }
        let fields: Vec<(&str, &str)> = inline
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let l = s.submit("/console/inventory/reorder-point", &fields).await;
        assert!(l.ok().contains("set to 9"), "{name}: {}", l.ok());
        let after = form_fields(&l.page, "/console/inventory/reorder-point", "LIN-1");
        assert!(
            after.contains(&("lead_time_days".to_string(), "5".to_string())),
            "{name}: the lead time after saving from the list: {after:?}"
        );
        // The transfer form on the SKU's page starts from where the units are, to another
        // location (it used to start with the same location on both sides).
        let (_, sku_page) = s.get("/console/inventory/sku?sku=LIN-1").await;
        let transfer = form_fields(&sku_page, "/console/inventory/transfer", "LIN-1");
        let chosen = |name: &str| {
            transfer
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(chosen("from_location_id"), loc_s, "{name}: {transfer:?}");
        assert!(
            !chosen("to_location_id").is_empty() && chosen("to_location_id") != loc_s,
            "{name}: {transfer:?}"
        );
        // Bins are edited on the SKU's page, per location; empty clears one.
        let bin_form = form_fields(&sku_page, "/console/inventory/bin", "LIN-1");
        assert!(
            bin_form.contains(&("location_id".to_string(), loc_s.clone())),
            "{name}: {bin_form:?}"
        );
        let l = s
            .submit(
                "/console/inventory/bin",
                &[("sku", "LIN-1"), ("location_id", &loc_s), ("bin", "A-03-2")],
            )
            .await;
        assert!(
            l.ok().starts_with("LIN-1 sits in bin A-03-2 at "),
            "{name}: {}",
            l.ok()
        );
        let binned = form_fields(&l.page, "/console/inventory/bin", "A-03-2");
        assert!(
            binned.contains(&("bin".to_string(), "A-03-2".to_string())),
            "{name}: {binned:?}"
        );
        let l = s
            .submit(
                "/console/inventory/bin",
                &[("sku", "LIN-1"), ("location_id", &loc_s), ("bin", "")],
            )
            .await;
        assert!(l.ok().starts_with("Bin of LIN-1 at "), "{name}: {}", l.ok());
        // A draft transfer is cancelled from the list only once confirmed (a red button and a
        // box to tick; it used to go in one click).
        let to = chosen("to_location_id");
        let l = s
            .submit(
                "/console/inventory/transfer",
                &[
                    ("sku", "LIN-1"),
                    ("from_location_id", &loc_s),
                    ("to_location_id", &to),
                    ("quantity", "1"),
                    ("ship", "no"),
                ],
            )
            .await;
        let created = l.ok();
        let transfer: i64 = created["Transfer ".len()..]
            .split(' ')
            .next()
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("{name}: {created}"));
        let cancel = format!("/console/transfers/{transfer}/cancel");
        let (_, listed) = s.get("/console/transfers?status=draft").await;
        assert!(
            listed.contains(&format!(
                "class=\"act danger\" method=\"post\" action=\"{cancel}\""
            )) && listed.contains("LIN-1</a> × 1 (0 received)"),
            "{name}: {listed}"
        );
        assert!(
            s.submit(&cancel, &[])
                .await
                .refused()
                .starts_with("confirm: "),
            "{name}"
        );
        let t = app
            .admin_get(&format!("/api/v1/transfers/{transfer}"))
            .await;
        assert_eq!(t["status"], "draft", "{name}: refused, nothing changed");
        let l = s.submit(&cancel, &[("confirm", "yes")]).await;
        assert_eq!(
            l.ok(),
            format!("Transfer {transfer} is cancelled."),
            "{name}"
        );
        let (_, low) = s.get("/console/products?stock=low").await;
        assert!(low.contains("Linen shirt, washed"), "{name}");
        let (_, out) = s.get("/console/products?stock=out_of_stock").await;
        assert!(!out.contains("Linen shirt, washed"), "{name}");
        // The product list sorts by its headings, on the server, keeping its filters: title
        // A–Z, then Z–A from the same heading.
        app.product("SORT-1", &[]).await;
        let at = |page: &str, title: &str| {
            page.find(&format!(">{title}</a>"))
                .unwrap_or_else(|| panic!("{name}: {title} not listed: {page}"))
        };
        let follow = |page: &str, href: &str| {
            assert!(
                page.contains(&format!("href=\"{href}\"")),
                "{name}: no {href}: {page}"
            );
            href.replace("&amp;", "&")
        };
        let (_, listed) = s.get("/console/products?status=active").await;
        let (_, az) = s
            .get(&follow(
                &listed,
                "/console/products?status=active&amp;sort=title",
            ))
            .await;
        assert!(
            at(&az, "Linen shirt, washed") < at(&az, "Product SORT-1")
                && az.contains("aria-sort=\"ascending\""),
            "{name}: {az}"
        );
        let (_, za) = s
            .get(&follow(
                &az,
                "/console/products?status=active&amp;sort=-title",
            ))
            .await;
        assert!(
            at(&za, "Product SORT-1") < at(&za, "Linen shirt, washed")
                && za.contains("aria-sort=\"descending\""),
            "{name}: {za}"
        );

        // An order placed from the console, then paid, shipped, returned, received and refunded.
        let (_, new) = s.get("/console/orders/new").await;
        let at = new.find("name=\"idempotency_key\" value=\"").unwrap() + 30;
        let key = new[at..at + 32].to_string();
        let order_form = [
            ("idempotency_key", key.as_str()),
            ("channel", "online"),
            ("email", "walkin@example.com"),
            ("first_name", "Ada"),
            ("address_name", "Ada L"),
            ("line1", "1 Rue Neuve"),
            ("city", "Lyon"),
            ("postal_code", "69001"),
            ("country", "fr"),
            ("lines", "LIN-1 2\n"),
        ];
        // Refused (an unknown SKU), the form comes back with what was typed and the same key,
        // and says why (it used to come back empty).
        let mut wrong = order_form;
        wrong[9] = ("lines", "NOPE-404 2\n");
        let l = s.submit("/console/orders", &wrong).await;
        assert!(l.refused().contains("NOPE-404"), "{name}: {}", l.refused());
        let kept = form_fields(&l.page, "/console/orders", "idempotency_key");
        for (field, value) in [
            ("idempotency_key", key.as_str()),
            ("email", "walkin@example.com"),
            ("first_name", "Ada"),
            ("line1", "1 Rue Neuve"),
            ("postal_code", "69001"),
            ("channel", "online"),
        ] {
            assert!(
                kept.contains(&(field.to_string(), value.to_string())),
                "{name}: {field} not kept: {kept:?}"
            );
        }
        assert!(l.page.contains(">NOPE-404 2</textarea>"), "{name}");
        // The lines' field is marked with the reason.
        assert!(
            l.page.contains(
                "aria-invalid=\"true\" aria-describedby=\"f-lines-error\">NOPE-404 2</textarea>"
            ) && l
                .page
                .contains("id=\"f-lines-error\">no variant has SKU NOPE-404</span>"),
            "{name}: {}",
            l.page
        );
        let l = s.submit("/console/orders", &order_form).await;
        assert!(l.ok().starts_with("Order #"), "{name}: {}", l.page);
        let order: i64 = l.location.rsplit('/').next().unwrap().parse().unwrap();
        // The same form sent twice places one order.
        let again = s.submit("/console/orders", &order_form).await;
        assert_eq!(again.location, l.location, "{name}: idempotent");
        assert_eq!(stock("LIN-1").await["reserved"], 2, "{name}");
        let path = |a: &str| format!("/console/orders/{order}/{a}");
        s.submit(&path("pay"), &[("status", "paid"), ("reference", "ch_1")])
            .await
            .ok();
        let l = s
            .submit(
                &path("ship"),
                &[
                    ("location_id", &loc_s),
                    ("carrier", "Colissimo"),
                    ("tracking_number", "6A123"),
                ],
            )
            .await;
        assert_eq!(l.ok(), "Shipped: the order is fulfilled.", "{name}");
        let (_, o) = app
            .req(
                "GET",
                &format!("/api/v1/orders/{order}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(o["fulfillments"][0]["tracking_number"], "6A123", "{name}");
        // The shipment's ledger entry names the order by its number and links to it (it used
        // to say "order <id>", an id staff would search for as a number).
        let (_, sku_page) = s.get("/console/inventory/sku?sku=LIN-1").await;
        let number = o["number"].as_i64().unwrap();
        assert!(
            sku_page.contains(&format!(
                "<a href=\"/console/orders/{order}\">order #{number}</a>"
            )),
            "{name}: {sku_page}"
        );
        let line = o["lines"][0]["id"].as_i64().unwrap().to_string();
        let l = s
            .submit(
                &path("return"),
                &[
                    (format!("return_{line}").as_str(), "1"),
                    (format!("reason_{line}").as_str(), "wrong_size"),
                ],
            )
            .await;
        assert!(l.ok().starts_with("Return "), "{name}");
        // The returns list (the home's "Returns to inspect" opens it) shows it, by order number.
        let (_, home) = s.get("/console").await;
        assert!(
            home.contains("href=\"/console/returns?to_inspect=yes\""),
            "{name}: the work queue links to the returns to inspect"
        );
        let (status, listed) = s.get("/console/returns?to_inspect=yes").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            listed.contains(&format!(
                "<a href=\"/console/orders/{order}\">#{number}</a>"
            )) && listed.contains("0 of 1"),
            "{name}: {listed}"
        );
        let (_, rets) = app
            .req(
                "GET",
                &format!("/api/v1/orders/{order}/returns"),
                Some(&app.admin),
                None,
            )
            .await;
        let ret = rets[0]["id"].as_i64().unwrap();
        let before = stock("LIN-1").await["on_hand"].as_i64().unwrap();
        let l = s
            .submit(
                &format!("/console/returns/{ret}/receive"),
                &[
                    (format!("received_{line}").as_str(), "1"),
                    (format!("disposition_{line}").as_str(), "restock"),
                    ("location_id", &loc_s),
                ],
            )
            .await;
        assert_eq!(l.ok(), format!("Return {ret} is received."), "{name}");
        assert_eq!(
            stock("LIN-1").await["on_hand"].as_i64().unwrap(),
            before + 1,
            "{name}"
        );
        // A refund cannot be undone: unticked, it is refused and refunds nothing.
        let refund = [
            (format!("refund_{line}"), "1"),
            ("reason".to_string(), "wrong_size"),
        ];
        let mut fields: Vec<(&str, &str)> = refund.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let l = s.submit(&path("refund"), &fields).await;
        assert!(
            l.refused().starts_with("confirm: "),
            "{name}: {}",
            l.refused()
        );
        let o = app.admin_get(&format!("/api/v1/orders/{order}")).await;
        assert_eq!(
            o["refunded"]["amount"], 0,
            "{name}: refused, nothing refunded"
        );
        fields.push(("confirm", "yes"));
        let l = s.submit(&path("refund"), &fields).await;
        assert!(l.ok().starts_with("Refunded: "), "{name}");
        let (_, o) = app
            .req(
                "GET",
                &format!("/api/v1/orders/{order}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert!(o["refunded"]["amount"].as_i64().unwrap() > 0, "{name}");
        assert_eq!(o["balance"]["amount"], 0, "{name}: settled");
        // Over-refunding is refused with the reason; nothing changes.
        let l = s
            .submit(
                &path("refund"),
                &[
                    ("amount", "1000"),
                    ("reason", "goodwill"),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert!(
            !l.refused().starts_with("confirm: "),
            "{name}: {}",
            l.refused()
        );
        let (_, o2) = app
            .req(
                "GET",
                &format!("/api/v1/orders/{order}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(o2["refunded"], o["refunded"], "{name}");
        s.submit(&path("note"), &[("message", "Called the customer")])
            .await
            .ok();
        let (_, page) = s.get(&format!("/console/orders/{order}")).await;
        assert!(
            page.contains("Called the customer") && page.contains("Colissimo"),
            "{name}"
        );

        // Destructive actions are red and ask first: unticked, they are refused and change
        // nothing; ticked, they act (they used to act in one click, styled like any button).
        app.product("GONE-1", &[(loc, 3)]).await;
        let gone = placed(&app, "GONE-1", "gone@example.com").await;
        let (_, page) = s.get(&format!("/console/orders/{gone}")).await;
        let cancel_form = &page[page
            .find(&format!("/console/orders/{gone}/cancel"))
            .unwrap()..];
        let cancel_form = &cancel_form[..cancel_form.find("</form>").unwrap()];
        assert!(
            cancel_form.contains("name=\"confirm\" value=\"yes\" required")
                && cancel_form.contains("class=\"btn danger\""),
            "{name}: {cancel_form}"
        );
        let l = s
            .submit(
                &format!("/console/orders/{gone}/cancel"),
                &[("reason", "test")],
            )
            .await;
        assert!(
            l.refused().starts_with("confirm: "),
            "{name}: {}",
            l.refused()
        );
        let o = app.admin_get(&format!("/api/v1/orders/{gone}")).await;
        assert_eq!(o["status"], "open", "{name}: refused, nothing changed");
        let l = s
            .submit(
                &format!("/console/orders/{gone}/cancel"),
                &[("reason", "test"), ("confirm", "yes")],
            )
            .await;
        l.ok();
        let o = app.admin_get(&format!("/api/v1/orders/{gone}")).await;
        assert_eq!(o["status"], "cancelled", "{name}");
        let found = app.admin_get("/api/v1/products?q=GONE-1").await;
        let gone_product = found["items"][0]["id"].as_i64().unwrap();
        let archive = format!("/console/products/{gone_product}/archive");
        let (_, page) = s.get(&format!("/console/products/{gone_product}")).await;
        assert!(
            page.contains(&format!(
                "class=\"act danger\" method=\"post\" action=\"{archive}\""
            )),
            "{name}"
        );
        assert!(
            s.submit(&archive, &[])
                .await
                .refused()
                .starts_with("confirm: "),
            "{name}"
        );
        let p = app
            .admin_get(&format!("/api/v1/products/{gone_product}"))
            .await;
        assert_eq!(p["status"], "active", "{name}: refused, nothing changed");
        s.submit(&archive, &[("confirm", "yes")]).await.ok();
        let p = app
            .admin_get(&format!("/api/v1/products/{gone_product}"))
            .await;
        assert_eq!(p["status"], "archived", "{name}");

        // Bulk: hold two orders, then cancel them; one already cancelled is reported, not fatal.
        app.product("BULK-1", &[(loc, 5)]).await;
        let mut ids = Vec::new();
        for i in 0..2 {
            let (st, o) = app
                .req(
                    "POST",
                    "/api/v1/orders",
                    Some(&app.admin),
                    Some(order_body(
                        &[("BULK-1", 1)],
                        &format!("bulk{i}@example.com"),
                    )),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{o}");
            ids.push(o["id"].as_i64().unwrap().to_string());
        }
        // Posted from a filtered, sorted list, the bulk form brings the browser back to it (it
        // used to go back to the whole list).
        let list = "/console/orders?status=open&sort=-total";
        let (_, listed) = s.get(list).await;
        let at = listed.find("action=\"/console/orders/bulk").unwrap() + 8;
        let action = listed[at..at + listed[at..].find('"').unwrap()].replace("&amp;", "&");
        assert_eq!(
            action, "/console/orders/bulk?status=open&sort=-total",
            "{name}"
        );
        let l = s
            .submit(
                &action,
                &[
                    ("order_id", ids[0].as_str()),
                    ("order_id", ids[1].as_str()),
                    ("action", "hold"),
                ],
            )
            .await;
        assert_eq!(l.ok(), "2 orders updated.", "{name}");
        assert_eq!(
            l.location, list,
            "{name}: back to the same filters and sort"
        );
        let (_, held) = app
            .req("GET", "/api/v1/orders?on_hold=true", Some(&app.admin), None)
            .await;
        assert_eq!(held["items"].as_array().unwrap().len(), 2, "{name}");
        // Select all: a box for the page's script, and without script a link that ticks every
        // row's box.
        assert!(
            listed.contains("<input type=\"checkbox\" data-select-all=\"order_id\" hidden")
                && listed.contains("href=\"/console/orders?status=open&amp;sort=-total&amp;select=all\">Select all on this page</a>"),
            "{name}: {listed}"
        );
        let (_, all) = s.get(&format!("{list}&select=all")).await;
        let boxes = all.matches("name=\"order_id\"").count();
        assert!(boxes >= 2, "{name}: {all}");
        assert_eq!(
            all.matches("form=\"bulk\" checked").count(),
            boxes,
            "{name}: every row's box ticked"
        );
        assert!(
            !listed.contains("form=\"bulk\" checked"),
            "{name}: none ticked before"
        );
        // Cancelling in bulk cannot be undone: unticked, it is refused and cancels nothing.
        let l = s
            .submit(
                "/console/orders/bulk",
                &[("order_id", ids[0].as_str()), ("cancel", "yes")],
            )
            .await;
        assert!(
            l.refused().starts_with("confirm: "),
            "{name}: {}",
            l.refused()
        );
        let o = app.admin_get(&format!("/api/v1/orders/{}", ids[0])).await;
        assert_eq!(o["status"], "open", "{name}: refused, nothing changed");
        s.submit(
            "/console/orders/bulk",
            &[
                ("order_id", ids[0].as_str()),
                ("cancel", "yes"),
                ("confirm", "yes"),
            ],
        )
        .await
        .ok();
        let l = s
            .submit(
                "/console/orders/bulk",
                &[
                    ("order_id", ids[0].as_str()),
                    ("order_id", ids[1].as_str()),
                    ("action", "cancel"),
                    ("confirm", "yes"),
                ],
            )
            .await;
        let text = l.refused();
        assert!(
            text.starts_with("1 order updated. Refused: order "),
            "{name}: {text}"
        );
        assert_eq!(stock("BULK-1").await["reserved"], 0, "{name}");

        // An exchange from the order page: the returned unit and the new item reserved.
        let (st, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("LIN-1", 1)], "swap@example.com")),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{o}");
        let swap = o["id"].as_i64().unwrap();
        let (st, paid) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{swap}/payments"),
                Some(&app.admin),
                Some(json!({"status": "paid"})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{paid}");
        let (st, shipped) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{swap}/fulfillments"),
                Some(&app.admin),
                Some(json!({"location_id": loc})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{shipped}");
        let sline = o["lines"][0]["id"].as_i64().unwrap().to_string();
        let l = s
            .submit(
                &format!("/console/orders/{swap}/return"),
                &[
                    (format!("return_{sline}").as_str(), "1"),
                    (format!("reason_{sline}").as_str(), "wrong_size"),
                    ("exchange_sku", "BULK-1"),
                    ("exchange_quantity", "1"),
                ],
            )
            .await;
        assert!(l.ok().starts_with("Exchange "), "{name}: {}", l.page);
        let (_, o) = app
            .req(
                "GET",
                &format!("/api/v1/orders/{swap}"),
                Some(&app.admin),
                None,
            )
            .await;
        let added = o["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["sku"] == "BULK-1")
            .unwrap();
        assert!(
            added["exchange_return_id"].as_i64().is_some(),
            "{name}: {o}"
        );

        let on_hand = stock("LIN-1").await["on_hand"].as_i64().unwrap();
        // A role that may not change stock is refused by the service; nothing changes.
        let desk = staff_user(&app, "support").await;
        let mut d = Session::sign_in(&app, &desk, "correct horse battery").await;
        let l = d
            .submit(
                "/console/inventory/adjust",
                &[
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("delta", "5"),
                    ("note", "x"),
                ],
            )
            .await;
        assert!(l.refused().contains("support role may not"), "{name}");
        assert_eq!(
            stock("LIN-1").await["on_hand"].as_i64().unwrap(),
            on_hand,
            "{name}"
        );

        // CSRF: a wrong token or a foreign origin is refused and changes nothing.
        let l = s
            .post_raw(
                "/console/inventory/receive",
                &[
                    ("csrf", "x"),
                    ("sku", "LIN-1"),
                    ("location_id", &loc_s),
                    ("quantity", "50"),
                ],
            )
            .await;
        assert_eq!(l.status, StatusCode::FORBIDDEN, "{name}");
        let r = s
            .http
            .post(format!("{}/console/inventory/receive", app.base))
            .header("cookie", s.cookie_header())
            .header("origin", "http://evil.example")
            .form(&[
                ("csrf", s.csrf.as_str()),
                ("sku", "LIN-1"),
                ("location_id", &loc_s),
                ("quantity", "50"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{name}");
        assert_eq!(
            stock("LIN-1").await["on_hand"].as_i64().unwrap(),
            on_hand,
            "{name}"
        );

        // The password: the current one is checked; changing it signs out the other sessions.
        let mut other = Session::sign_in(&app, &ops, "correct horse battery").await;
        let l = s
            .submit(
                "/console/password",
                &[
                    ("current_password", "wrong password!"),
                    ("new_password", "a brand new secret"),
                ],
            )
            .await;
        assert_eq!(
            l.refused(),
            "current_password: is not your current password",
            "{name}"
        );
        let l = s
            .submit(
                "/console/password",
                &[
                    ("current_password", "correct horse battery"),
                    ("new_password", "short"),
                ],
            )
            .await;
        assert!(
            l.refused().starts_with("new_password: must be at least 10"),
            "{name}"
        );
        let l = s
            .submit(
                "/console/password",
                &[
                    ("current_password", "correct horse battery"),
                    ("new_password", "a brand new secret"),
                ],
            )
            .await;
        l.ok();
        assert_eq!(
            s.get("/console").await.0,
            StatusCode::OK,
            "{name}: this session stays"
        );
        assert_eq!(
            other.get("/console").await.0,
            StatusCode::SEE_OTHER,
            "{name}: others are signed out"
        );
        Session::sign_in(&app, &ops, "a brand new secret").await;
        app.check().await;
    }
}

/// The order and customer lists sorted by the server from their column headings, keeping the
/// filters; each order row carries its number, status and total as labelled cells (a phone's
/// card); times in the store's zone and money with separators on the order page and the
/// customer's; a return cancelled only with its box ticked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_order_lists_sort_and_show_store_times() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("SORT-1", &[(app.locations.0, 200)]).await;
        let mut placed_ids = Vec::new();
        for (email, qty) in [
            ("ann@example.com", 2),
            ("zoe@example.com", 80),
            ("max@example.com", 5),
        ] {
            let (st, o) = app
                .req(
                    "POST",
                    "/api/v1/orders",
                    Some(&app.admin),
                    Some(order_body(&[("SORT-1", qty)], email)),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{name}: {o}");
            placed_ids.push(o["id"].as_i64().unwrap());
        }
        let (st, set) = app
            .req(
                "PATCH",
                "/api/v1/settings",
                Some(&app.admin),
                Some(json!({"timezone": "Europe/Paris"})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{name}: {set}");
        let ops = staff_user(&app, "operations").await;
        let mut s = Session::sign_in(&app, &ops, "correct horse battery").await;
        let paris = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
        let shown = |rfc3339: &str| {
            rfc3339
                .parse::<jiff::Timestamp>()
                .unwrap()
                .to_zoned(paris.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string()
        };

        // The order page: placed in the Paris hour (it used to show UTC), money with separators.
        let big = placed_ids[1];
        let o = app.admin_get(&format!("/api/v1/orders/{big}")).await;
        let placed_at = shown(o["placed_at"].as_str().unwrap());
        assert!(
            placed_at.ends_with(" CET") || placed_at.ends_with(" CEST"),
            "{placed_at}"
        );
        let total = backroom_domain::Money::new(
            o["total"]["amount"].as_i64().unwrap(),
            backroom_domain::Currency::parse(o["currency"].as_str().unwrap()).unwrap(),
        )
        .human();
        assert!(total.contains(','), "{name}: {total}");
        let (_, page) = s.get(&format!("/console/orders/{big}")).await;
        assert!(
            page.contains(&format!("<dt>Placed</dt><dd>{placed_at}</dd>")),
            "{name}: {placed_at}: {page}"
        );
        assert!(
            page.contains(&format!("<dd>{total}</dd>")),
            "{name}: {total}"
        );

        // The list by total, largest first, kept to open orders: in that order; each heading
        // links to its sort with the filter kept, the current one to the other way.
        let (st, list) = s.get("/console/orders?status=open&sort=-total").await;
        assert_eq!(st, StatusCode::OK, "{name}: {list}");
        let at = |id: i64| {
            list.find(&format!("href=\"/console/orders/{id}\""))
                .unwrap_or_else(|| panic!("{name}: order {id} in {list}"))
        };
        let (ann, zoe, max) = (at(placed_ids[0]), at(placed_ids[1]), at(placed_ids[2]));
        assert!(zoe < max && max < ann, "{name}: largest first");
        for want in [
            "aria-sort=\"descending\"><a href=\"/console/orders?status=open&amp;sort=total\">Total",
            "<a href=\"/console/orders?status=open&amp;sort=number\">Order",
            "<a href=\"/console/orders?status=open&amp;sort=placed_at\">Placed",
            "<caption>Orders by total, largest first</caption>",
            // The filters keep the sort.
            "<input type=\"hidden\" name=\"sort\" value=\"-total\">",
        ] {
            assert!(list.contains(want), "{name}: {want}: {list}");
        }
        // On a phone each row is a card of labelled cells: number, status and total among them.
        let number = o["name"].as_str().unwrap();
        for cell in [
            format!("<td data-label=\"Order\"><a href=\"/console/orders/{big}\">{number}</a></td>"),
            "<td data-label=\"Status\"><span class=\"badge b-open\">open</span></td>".to_string(),
            format!("<td data-label=\"Total\" class=\"num\">{total}</td>"),
            format!("<td data-label=\"Placed\">{placed_at}</td>"),
        ] {
            assert!(list.contains(&cell), "{name}: {cell}: {list}");
        }
        let (_, by_number) = s.get("/console/orders?sort=number").await;
        let pos: Vec<usize> = placed_ids
            .iter()
            .map(|id| {
                by_number
                    .find(&format!("href=\"/console/orders/{id}\""))
                    .unwrap()
            })
            .collect();
        assert!(pos[0] < pos[1] && pos[1] < pos[2], "{name}: by number");
        let (st, bad) = s.get("/console/orders?sort=colour").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            bad.contains("sort: must be number, placed_at or total"),
            "{bad}"
        );

        // Customers by total spent, most first; their profile in the store's zone.
        let (st, customers) = s.get("/console/customers?sort=-total_spent").await;
        assert_eq!(st, StatusCode::OK, "{name}: {customers}");
        let at = |who: &str| {
            customers
                .find(who)
                .unwrap_or_else(|| panic!("{name}: {who}"))
        };
        assert!(
            at("zoe@example.com") < at("max@example.com")
                && at("max@example.com") < at("ann@example.com"),
            "{name}: most spent first"
        );
        assert!(
            customers.contains("aria-sort=\"descending\"><a href=\"/console/customers?sort=total_spent\">Total spent")
                && customers.contains(&format!("<td data-label=\"Total spent\" class=\"num\">{total}</td>")),
            "{name}: {customers}"
        );
        let (_, by_name) = s.get("/console/customers?sort=name&q=example.com").await;
        assert!(
            by_name.contains("<a href=\"/console/customers?q=example.com&amp;sort=-name\">Name"),
            "{name}: {by_name}"
        );
        let customer = o["customer"]["id"].as_i64().unwrap();
        let c = app
            .admin_get(&format!("/api/v1/customers/{customer}"))
            .await;
        let (_, profile) = s.get(&format!("/console/customers/{customer}")).await;
        assert!(
            profile.contains(&format!(
                "<dt>Customer since</dt><dd>{}</dd>",
                shown(c["created_at"].as_str().unwrap())
            )) && profile.contains(&format!("<td data-label=\"Placed\">{placed_at}</td>")),
            "{name}: {profile}"
        );

        // A return is cancelled only with its box ticked.
        let small = placed_ids[0];
        for (path, body) in [
            ("payments", json!({"status": "paid"})),
            ("fulfillments", json!({"location_id": app.locations.0})),
        ] {
            let (st, b) = app
                .req(
                    "POST",
                    &format!("/api/v1/orders/{small}/{path}"),
                    Some(&app.admin),
                    Some(body),
                )
                .await;
            assert!(st.is_success(), "{name}: {b}");
        }
        let o = app.admin_get(&format!("/api/v1/orders/{small}")).await;
        let line = o["lines"][0]["id"].as_i64().unwrap().to_string();
        let l = s
            .submit(
                &format!("/console/orders/{small}/return"),
                &[
                    (format!("return_{line}").as_str(), "1"),
                    (format!("reason_{line}").as_str(), "wrong_size"),
                ],
            )
            .await;
        assert!(l.ok().starts_with("Return "), "{name}");
        let rets = app
            .admin_get(&format!("/api/v1/orders/{small}/returns"))
            .await;
        let ret = rets[0]["id"].as_i64().unwrap();
        let cancel = format!("/console/returns/{ret}/cancel");
        assert!(
            l.page.contains(&format!("action=\"{cancel}\"")),
            "{name}: {}",
            l.page
        );
        assert!(
            s.submit(&cancel, &[])
                .await
                .refused()
                .starts_with("confirm: ")
        );
        let rets = app
            .admin_get(&format!("/api/v1/orders/{small}/returns"))
            .await;
        assert_eq!(
            rets[0]["status"], "requested",
            "{name}: refused, nothing changed"
        );
        let l = s.submit(&cancel, &[("confirm", "yes")]).await;
        assert_eq!(l.ok(), format!("Return {ret} cancelled."), "{name}");
        app.check().await;
    }
}

/// In Chromium: sign in, find a product, adjust its stock, place an order and ship it, return
/// and refund it, then open the dashboard and check its figures against the API. Screenshots of
/// each main page are saved. (The storage behind is covered on both backends by the router tests
/// above; the browser runs against SQLite.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_real_browser() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    app.product("BRW-1", &[(app.locations.0, 10)]).await;
    let ops = staff_user(&app, "operations").await;
    let at = |p: &str| format!("{}{p}", app.base);
    let api_stock = || async {
        app.req("GET", "/api/v1/inventory/BRW-1", Some(&app.admin), None)
            .await
            .1["totals"]
            .clone()
    };

    // Sign in.
    b.goto(&at("/console")).await;
    assert!(b.current_url().await.ends_with("/console/login"));
    b.screenshot("sign-in").await;
    b.fill("input[name=email]", &ops).await;
    b.fill("input[name=password]", "correct horse battery")
        .await;
    b.click("form[action='/console/login'] button").await;
    assert_eq!(b.text("h1").await, "Home");

    // Find the product by its SKU and open it.
    b.click("nav a[href='/console/products']").await;
    b.fill("input[name=q]", "BRW").await;
    b.click("form.filters button").await;
    b.click("td a[href^='/console/products/']").await;
    assert_eq!(b.text("h1").await, "Product BRW-1");
    assert_eq!(b.text("[data-available='BRW-1']").await, "10");
    b.screenshot("product").await;

    // Adjust its stock from the SKU's page.
    b.click("td a[href^='/console/inventory/sku']").await;
    b.fill(
        "form[action='/console/inventory/adjust'] input[name=delta]",
        "-3",
    )
    .await;
    b.fill(
        "form[action='/console/inventory/adjust'] input[name=note]",
        "shrinkage",
    )
    .await;
    b.click("form[action='/console/inventory/adjust'] button")
        .await;
    let (ok, text) = b.notice().await;
    assert!(ok && text.starts_with("Adjusted by -3"), "{text}");
    assert_eq!(api_stock().await["on_hand"], 7);
    b.screenshot("inventory").await;

    // Place an order from the console, record payment, ship it.
    b.goto(&at("/console/orders/new")).await;
    for (field, value) in [
        ("email", "browser@example.com"),
        ("first_name", "Grace"),
        ("address_name", "Grace H"),
        ("line1", "2 Quai Est"),
        ("city", "Lyon"),
        ("postal_code", "69002"),
        ("country", "FR"),
    ] {
        b.fill(&format!("input[name={field}]"), value).await;
    }
    b.fill("textarea[name=lines]", "BRW-1 2").await;
    b.click("form[action='/console/orders'] button").await;
    let (ok, text) = b.notice().await;
    assert!(ok && text.starts_with("Order #"), "{text}");
    let order: i64 = b
        .current_url()
        .await
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let form = |a: &str| format!("form[action='/console/orders/{order}/{a}']");
    b.click(&format!("{} button", form("pay"))).await;
    assert!(b.notice().await.0);
    b.fill(
        &format!("{} input[name=tracking_number]", form("ship")),
        "TRK-42",
    )
    .await;
    b.click(&format!("{} button", form("ship"))).await;
    let (ok, text) = b.notice().await;
    assert!(ok && text == "Shipped: the order is fulfilled.", "{text}");
    b.screenshot("order-shipped").await;
    let (_, o) = app
        .req(
            "GET",
            &format!("/api/v1/orders/{order}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(o["fulfillment_status"], "fulfilled");
    let line = o["lines"][0]["id"].as_i64().unwrap();

    // Return one unit, receive it back into stock, refund it.
    b.fill(
        &format!("{} input[name=return_{line}]", form("return")),
        "1",
    )
    .await;
    b.click(&format!("{} button", form("return"))).await;
    assert!(b.notice().await.0);
    b.click("section.return form[action$='/receive'] button")
        .await;
    let (ok, text) = b.notice().await;
    assert!(ok && text.ends_with("is received."), "{text}");
    b.fill(
        &format!("{} input[name=refund_{line}]", form("refund")),
        "1",
    )
    .await;
    b.fill(
        &format!("{} input[name=reason]", form("refund")),
        "wrong size",
    )
    .await;
    b.tick(&format!("{} input[name=confirm]", form("refund")))
        .await;
    b.click(&format!("{} button", form("refund"))).await;
    let (ok, text) = b.notice().await;
    assert!(ok && text.starts_with("Refunded"), "{text}");
    b.screenshot("order-refunded").await;
    let (_, o) = app
        .req(
            "GET",
            &format!("/api/v1/orders/{order}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert!(o["refunded"]["amount"].as_i64().unwrap() > 0);
    assert_eq!(o["lines"][0]["returned_quantity"], 1);
    assert_eq!(
        api_stock().await["on_hand"],
        6,
        "7 - 2 shipped + 1 restocked"
    );

    // The dashboard's figures are the API's.
    b.goto(&at("/console")).await;
    let (from, to) = (
        b.attr("[data-period]", "data-from").await,
        b.attr("[data-period]", "data-to").await,
    );
    let (_, api) = app
        .req(
            "GET",
            &format!("/api/v1/analytics/kpis?from={from}&to={to}"),
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(
        b.text("[data-kpi=orders]").await,
        api["totals"]["orders"].to_string()
    );
    let net = backroom_domain::Money::new(
        api["totals"]["net_sales"].as_i64().unwrap(),
        backroom_domain::Currency::parse(api["currency"].as_str().unwrap()).unwrap(),
    );
    assert_eq!(b.text("[data-kpi=net_sales]").await, net.human());
    b.screenshot("home").await;

    // The order list's select-all box: hidden without script, shown by it, ticking every row.
    b.goto(&at("/console/orders")).await;
    let boxes = b.count("input[name=order_id]").await;
    assert!(boxes > 0);
    b.tick("input[data-select-all=order_id]").await;
    assert_eq!(b.count("input[name=order_id]:checked").await, boxes);
    for (path, shot) in [
        ("/console/orders", "orders"),
        ("/console/customers", "customers"),
        ("/console/inventory/low?show=all", "low-stock"),
        ("/console/analytics", "analytics"),
        ("/console/settings/imports", "imports"),
        ("/console/settings/audit", "audit-log"),
    ] {
        b.goto(&at(path)).await;
        b.find("main h1").await;
        b.screenshot(shot).await;
    }
    app.check().await;
}

/// Settings through their forms: locations and channels, users and roles, API tokens (shown
/// once, then usable, then revoked), webhooks, a file import with its rejected rows, the audit log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_settings_end_to_end() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("SET-1", &[(app.locations.0, 3)]).await;
        let admin = staff_user(&app, "admin").await;
        let mut s = Session::sign_in(&app, &admin, "correct horse battery").await;
        let b = app.locations.1;

        // The store's settings: shown, changed whole, refused by line with nothing changed.
        let (st, page) = s.get("/console/settings/store").await;
        assert_eq!(st, StatusCode::OK, "{name}");
        assert!(
            page.contains("name=\"tax_rates\"") && page.contains("USD"),
            "{name}"
        );
        let store = [
            ("store_name", "Bottega"),
            ("currency", "EUR"),
            ("timezone", "Europe/Rome"),
            ("attribution_window_days", "14"),
            ("default_tax_rate", "0.22"),
            ("shipping_taxed", "yes"),
            ("tax_rates", "FR 0.2\nUS/CA 0.0725"),
            (
                "shipping_rates",
                "standard; Standard; 4.95; IT FR; 50.00\nexpress; Express; 12.00; ; 1500.00",
            ),
        ];
        let l = s.submit("/console/settings/store", &store).await;
        assert_eq!(
            l.ok(),
            "Settings saved: Bottega in EUR, Europe/Rome.",
            "{name}"
        );
        let (_, set) = app
            .req("GET", "/api/v1/settings", Some(&app.admin), None)
            .await;
        assert_eq!(
            set["tax_rates"][1],
            json!({"country": "US", "region": "CA", "rate": "0.0725"}),
            "{name}: {set}"
        );
        let standard = set["shipping_rates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["method"] == "standard")
            .unwrap();
        assert_eq!(
            (standard["price"].as_i64(), standard["free_above"].as_i64()),
            (Some(495), Some(5000)),
            "{name}: {set}"
        );
        let mut bad = store;
        bad[0] = ("store_name", "Renamed");
        bad[6] = ("tax_rates", "FR 0.2\nDE 19%");
        let l = s.submit("/console/settings/store", &bad).await;
        assert!(
            l.refused().contains("tax_rates[1].rate"),
            "{name}: {}",
            l.refused()
        );
        // The form comes back with what was typed, the reason under the tax rates.
        assert_eq!(l.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            l.page.contains("value=\"Renamed\"") && l.page.contains("FR 0.2\nDE 19%</textarea>"),
            "{name}: {}",
            l.page
        );
        assert!(l.page.contains("id=\"f-tax_rates-error\""), "{name}");
        let (_, after) = app
            .req("GET", "/api/v1/settings", Some(&app.admin), None)
            .await;
        assert_eq!(after, set, "{name}: a refused form changes nothing");

        // Locations and channels.
        let l = s
            .submit(
                &format!("/console/settings/locations/{b}"),
                &[
                    ("name", "Bordeaux"),
                    ("kind", "warehouse"),
                    ("ships_online", "yes"),
                    ("offers_pickup", "yes"),
                    ("sells_in_store", "no"),
                    ("priority", "7"),
                    ("active", "yes"),
                ],
            )
            .await;
        assert_eq!(l.ok(), "Location wh-b saved.", "{name}");
        let (_, loc) = app
            .req(
                "GET",
                &format!("/api/v1/locations/{b}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (
                loc["name"].as_str(),
                loc["priority"].as_i64(),
                loc["offers_pickup"].as_bool()
            ),
            (Some("Bordeaux"), Some(7), Some(true)),
            "{name}"
        );
        let l = s
            .submit(
                "/console/settings/locations",
                &[("code", "wh-c"), ("name", "C"), ("kind", "warehouse")],
            )
            .await;
        assert_eq!(l.ok(), "Location wh-c created.", "{name}");
        let l = s
            .submit(
                "/console/settings/locations",
                &[("code", "wh-c"), ("name", "C again"), ("kind", "warehouse")],
            )
            .await;
        l.refused();
        let (_, chans) = app
            .req("GET", "/api/v1/channels", Some(&app.admin), None)
            .await;
        let ch = chans["items"][0]["id"].as_i64().unwrap();
        let (a_s, b_s) = (app.locations.0.to_string(), b.to_string());
        let l = s
            .submit(
                &format!("/console/settings/channels/{ch}"),
                &[
                    ("name", "Web shop"),
                    ("sourcing_strategy", "priority"),
                    ("handling_hours", "24"),
                    ("pickup_hold_hours", "48"),
                    ("active", "yes"),
                    ("location_id", a_s.as_str()),
                    ("location_id", b_s.as_str()),
                ],
            )
            .await;
        assert_eq!(l.ok(), "Channel online saved.", "{name}");
        let (_, c) = app
            .req(
                "GET",
                &format!("/api/v1/channels/{ch}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (
                c["handling_hours"].as_i64(),
                c["sourcing_strategy"].as_str()
            ),
            (Some(24), Some("priority")),
            "{name}"
        );
        let l = s
            .submit(
                &format!("/console/settings/channels/{ch}"),
                &[
                    ("name", "Web shop"),
                    ("sourcing_strategy", "cheapest"),
                    ("active", "yes"),
                    ("location_id", a_s.as_str()),
                ],
            )
            .await;
        assert!(l.refused().starts_with("sourcing_strategy:"), "{name}");

        // Users: created with a role, then deactivated (their sign-in stops working).
        let l = s
            .submit(
                "/console/settings/users",
                &[
                    ("email", "picker@example.com"),
                    ("name", "Pat Picker"),
                    ("role", "fulfillment"),
                    ("password", "short"),
                ],
            )
            .await;
        assert!(l.refused().starts_with("password:"), "{name}");
        let l = s
            .submit(
                "/console/settings/users",
                &[
                    ("email", "picker@example.com"),
                    ("name", "Pat Picker"),
                    ("role", "fulfillment"),
                    ("password", "picker password 1"),
                ],
            )
            .await;
        assert_eq!(
            l.ok(),
            "picker@example.com can now sign in as fulfillment.",
            "{name}"
        );
        let mut picker = Session::sign_in(&app, "picker@example.com", "picker password 1").await;
        let (_, users) = app
            .req("GET", "/api/v1/users", Some(&app.admin), None)
            .await;
        let pid = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == "picker@example.com")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        // Deactivating is confirmed: unticked, it is refused and the account still works.
        let l = s
            .submit(&format!("/console/settings/users/{pid}/deactivate"), &[])
            .await;
        assert!(l.refused().starts_with("confirm:"), "{name}");
        assert_eq!(picker.get("/console").await.0, StatusCode::OK, "{name}");
        let l = s
            .submit(
                &format!("/console/settings/users/{pid}/deactivate"),
                &[("confirm", "yes")],
            )
            .await;
        assert!(
            l.ok().starts_with("picker@example.com is deactivated"),
            "{name}"
        );
        assert_eq!(
            picker.get("/console").await.0,
            StatusCode::SEE_OTHER,
            "{name}: signed out"
        );

        // API tokens: shown once on the answer, usable, then revoked.
        let l = s
            .submit(
                "/console/settings/tokens",
                &[("name", "erp"), ("ingest", "no")],
            )
            .await;
        assert_eq!(l.status, StatusCode::OK, "{name}");
        let at = l.page.find("<code data-token>").unwrap() + 17;
        let token = l.page[at..at + 43].to_string();
        assert!(token.starts_with("br_"), "{token}");
        assert_eq!(
            app.req("GET", "/api/v1/me", Some(&token), None).await.0,
            StatusCode::OK
        );
        let (_, page) = s.get("/console/settings/tokens").await;
        assert!(!page.contains(&token), "{name}: never shown again");
        let (_, list) = app
            .req("GET", "/api/v1/tokens", Some(&app.admin), None)
            .await;
        let tid = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "erp")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let l = s
            .submit(&format!("/console/settings/tokens/{tid}/revoke"), &[])
            .await;
        assert!(
            l.refused().starts_with("confirm:"),
            "{name}: confirmed first"
        );
        assert_eq!(
            app.req("GET", "/api/v1/me", Some(&token), None).await.0,
            StatusCode::OK
        );
        let l = s
            .submit(
                &format!("/console/settings/tokens/{tid}/revoke"),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(l.ok(), "Token erp revoked.", "{name}");
        assert_eq!(
            app.req("GET", "/api/v1/me", Some(&token), None).await.0,
            StatusCode::UNAUTHORIZED
        );

        // Webhooks.
        let l = s
            .submit(
                "/console/settings/webhooks",
                &[
                    ("url", "http://127.0.0.1:9/hook"),
                    ("event_type", "order.created"),
                    ("event_type", "inventory.low"),
                ],
            )
            .await;
        assert!(
            l.ok()
                .starts_with("Endpoint added. Its signing secret (shown once): "),
            "{name}"
        );
        assert!(
            l.page.contains("http://127.0.0.1:9/hook")
                && l.page.contains("order.created, inventory.low"),
            "{name}"
        );
        let (_, subs) = app
            .req("GET", "/api/v1/webhooks", Some(&app.admin), None)
            .await;
        let sid = subs["items"][0]["id"].as_i64().unwrap();
        s.submit(
            &format!("/console/settings/webhooks/{sid}/deactivate"),
            &[("confirm", "yes")],
        )
        .await
        .ok();

        // An import: the file uploaded, the job run, the rejected rows downloadable.
        let l = s
            .upload(
                "/console/settings/imports",
                &[("kind", "stock")],
                "sku,location,quantity\nSET-1,wh-a,12\nNOPE-9,wh-a,1\n",
            )
            .await;
        assert_eq!(l.status, StatusCode::SEE_OTHER, "{name}");
        assert!(l.ok().starts_with("Import "), "{name}");
        let (_, page) = s.get("/console/settings/imports").await;
        let at = page.find("Import ").unwrap() + 7;
        let job: i64 = page[at..].split(' ').next().unwrap().parse().unwrap();
        let done = super::finished_import(&app, job).await;
        assert_eq!(done["status"], "done", "{name}: {done}");
        let (_, t) = app
            .req("GET", "/api/v1/inventory/SET-1", Some(&app.admin), None)
            .await;
        assert_eq!(t["totals"]["on_hand"], 12, "{name}");
        let (_, page) = s.get("/console/settings/imports").await;
        assert!(
            page.contains("1 rejected")
                && page.contains(&format!("/console/settings/imports/{job}/rejects.csv")),
            "{name}: {page}"
        );
        let (st, csv) = s
            .get(&format!("/console/settings/imports/{job}/rejects.csv"))
            .await;
        assert_eq!(st, StatusCode::OK);
        assert!(csv.contains("NOPE-9"), "{name}: {csv}");
        // The job that ran it, on the Jobs page; a done job cannot be cancelled.
        let job_id = done["job_id"].as_i64().unwrap();
        let (st, page) = s.get("/console/settings/jobs").await;
        assert_eq!(st, StatusCode::OK, "{name}");
        assert!(
            page.contains(&format!("<td data-label=\"#\">{job_id}</td>"))
                && page.contains("1 of 3"),
            "{name}: {page}"
        );
        let l = s
            .submit(
                &format!("/console/settings/jobs/{job_id}/cancel"),
                &[("confirm", "yes")],
            )
            .await;
        assert!(
            l.refused().contains("only a queued job can be cancelled"),
            "{name}: {}",
            l.refused()
        );

        // A file larger than the API's JSON limit (4 MiB) still uploads (imports take up to
        // 256 MiB); a wrong kind is refused by name after the upload, and nothing starts.
        let big = format!(
            "sku,location,quantity\n{}",
            "NOPE-9,wh-a,1\n".repeat(400_000)
        );
        assert!(big.len() > 5 << 20);
        let l = s
            .upload("/console/settings/imports", &[("kind", "bogus")], &big)
            .await;
        assert_eq!(l.status, StatusCode::SEE_OTHER, "{name}");
        assert_eq!(
            l.refused(),
            "kind: must be products, stock, orders or tickets",
            "{name}"
        );
        let (_, jobs) = app
            .req("GET", "/api/v1/imports", Some(&app.admin), None)
            .await;
        assert_eq!(
            jobs["items"].as_array().unwrap().len(),
            1,
            "{name}: no new job"
        );

        // The audit log shows these changes in words, filtered: who, the thing linked, old → new
        // with amounts as money and times in the store's zone.
        let (_, page) = s
            .get("/console/settings/audit?action=location.updated")
            .await;
        assert!(
            page.contains("data-action=\"location.updated\">Changed location <a href=\"/console/settings/locations\">Bordeaux (wh-b)</a>")
                && page.contains("<ins>Bordeaux</ins>")
                && page.contains("<dt>priority</dt>"),
            "{name}: {page}"
        );
        let (_, page) = s.get("/console/settings/audit?entity_type=user").await;
        assert!(
            page.contains("data-action=\"user.deactivated\">Deactivated user <a href=\"/console/settings/users\">Pat Picker</a>"),
            "{name}: {page}"
        );
        let (_, page) = s
            .get("/console/settings/audit?action=settings.updated")
            .await;
        assert!(
            page.contains("data-action=\"settings.updated\"><a href=\"/console/settings/store\">Changed store settings</a>")
                && page.contains("admin person (admin)")
                && page.contains("<del>USD</del>")
                && page.contains("<ins>EUR</ins>")
                && page.contains("<ins>Europe/Rome</ins>")
                && page.contains("<del>UTC</del>")
                && page.contains("<dt>shipping_rates[express].free_above</dt>")
                && page.contains("<ins>€1,500.00</ins>")
                && (page.contains(" CET</td>") || page.contains(" CEST</td>")),
            "{name}: {page}"
        );
        // By who: the picker's own entries only; a bad id is refused by name.
        let (_, page) = s
            .get(&format!("/console/settings/audit?actor_user_id={pid}"))
            .await;
        assert!(
            page.contains("Pat Picker (fulfillment)")
                && page.contains("data-action=\"user.signed_in\">Signed in</span>")
                && !page.contains("data-action=\"settings.updated\""),
            "{name}: {page}"
        );
        let (st, page) = s.get("/console/settings/audit?actor_user_id=pat").await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{name}");
        assert!(
            page.contains("actor_user_id: must be a whole number"),
            "{page}"
        );
        let order = placed(&app, "SET-1", "audit@example.com").await;
        let (st, o) = app
            .req(
                "POST",
                &format!("/api/v1/orders/{order}/cancel"),
                Some(&app.admin),
                Some(json!({"reason": "test"})),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{o}");
        let (_, page) = s
            .get("/console/settings/audit?action=order.cancelled")
            .await;
        assert!(
            page.contains(&format!(
                "Cancelled order <a href=\"/console/orders/{order}\">#{}</a>",
                o["number"]
            )) && page.contains("<ins>cancelled</ins>"),
            "{name}: {page}"
        );
        app.check().await;
    }
}

/// The fields (name, value) of the first form on `page` posting to `action` whose inputs name
/// `marker` (its hidden SKU, say), as a browser would send them; the session's token left out.
fn form_fields(page: &str, action: &str, marker: &str) -> Vec<(String, String)> {
    let attr = |tag: &str, name: &str| {
        let key = format!("{name}=\"");
        tag.find(&key).map(|at| {
            let rest = &tag[at + key.len()..];
            rest[..rest.find('"').unwrap_or(rest.len())].to_string()
        })
    };
    for form in page.split("<form").skip(1) {
        let form = &form[..form.find("</form>").unwrap_or(form.len())];
        if !form.contains(&format!("action=\"{action}\"")) || !form.contains(marker) {
            continue;
        }
        let mut fields: Vec<(String, String)> = form
            .split("<input")
            .skip(1)
            .filter_map(|tag| {
                let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
                let name = attr(tag, "name")?;
                (name != "csrf").then(|| (name, attr(tag, "value").unwrap_or_default()))
            })
            .collect();
        // A select sends its selected option, or its first when none is.
        for select in form.split("<select").skip(1) {
            let select = &select[..select.find("</select>").unwrap_or(select.len())];
            let Some(name) = attr(select, "name") else {
                continue;
            };
            let options: Vec<&str> = select.split("<option").skip(1).collect();
            let chosen = options
                .iter()
                .find(|o| o[..o.find('>').unwrap_or(o.len())].contains(" selected"))
                .or(options.first());
            fields.push((
                name,
                chosen.and_then(|o| attr(o, "value")).unwrap_or_default(),
            ));
        }
        return fields;
    }
    Vec::new()
}

/// An order of one unit of `sku` for `email`, placed through the API: its id.
async fn placed(app: &TestApp, sku: &str, email: &str) -> i64 {
    let (st, o) = app
        .req(
            "POST",
            "/api/v1/orders",
            Some(&app.admin),
            Some(order_body(&[(sku, 1)], email)),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{o}");
    o["id"].as_i64().unwrap()
}

/// The desk in the console: an agent opens a phone ticket, finds it in their inbox once taken,
/// replies and adds a note through the ticket page's forms (as the page renders them), links an
/// order; a refused reply changes nothing; an analyst reads but sees no form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_support_desk_end_to_end() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("DESK-1", &[(app.locations.0, 10)]).await;
        let order = placed(&app, "DESK-1", "desk@example.com").await;
        let (_, o) = app
            .req(
                "GET",
                &format!("/api/v1/orders/{order}"),
                Some(&app.admin),
                None,
            )
            .await;
        let number = o["number"].as_i64().unwrap();
        // A calendar-hours policy for high priority: the ticket page shows its due times.
        let (st, v) = app
            .req(
                "POST",
                "/api/v1/support/sla-policies",
                Some(&app.admin),
                Some(json!({"name": "High", "priority": "high", "first_reply_minutes": 90, "resolution_minutes": 1440})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let agent = staff_user(&app, "support").await;
        let mut s = Session::sign_in(&app, &agent, "correct horse battery").await;
        let l = s
            .submit(
                "/console/support/new",
                &[
                    ("requester_email", "desk@example.com"),
                    ("requester_name", "Dee Esk"),
                    ("subject", "Wrong size"),
                    ("body", "I need a smaller one"),
                    ("channel", "phone"),
                    ("priority", "high"),
                ],
            )
            .await;
        assert!(l.ok().contains("opened"), "{name}");
        let id: i64 = l.location.rsplit('/').next().unwrap().parse().unwrap();
        assert!(
            l.page.contains("Wrong size") && l.page.contains("I need a smaller one"),
            "{name}"
        );
        assert!(
            l.page.contains("First reply due") && l.page.contains("Resolution due"),
            "{name}"
        );
        let (_, soon) = s.get("/console/support?view=soon").await;
        assert!(
            !soon.contains(&format!("/console/support/{id}\"")),
            "{name}: due in an hour and a half, not within the hour"
        );
        let (_, all) = s.get("/console/support?view=unsolved").await;
        assert!(all.contains(&format!("/console/support/{id}\"")), "{name}");
        // The ticket page shows the customer's orders beside the conversation.
        assert!(
            l.page.contains(&format!("#{number}")),
            "{name}: the customer's latest orders"
        );
        // Take it, link the order, through the properties form as rendered.
        let page = s.get(&format!("/console/support/{id}")).await.1;
        let action = format!("/console/support/{id}/update");
        let mut fields = form_fields(&page, &action, "assignee_id");
        assert!(!fields.is_empty(), "{name}: the properties form");
        let me = app
            .req("GET", "/api/v1/users", Some(&app.admin), None)
            .await
            .1["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == agent.as_str())
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        for (k, v) in fields.iter_mut() {
            match k.as_str() {
                "assignee_id" => *v = me.to_string(),
                "add_order" => *v = format!("#{number}"),
                "tags" => *v = "size, exchange".into(),
                _ => {}
            }
        }
        let f: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let l = s.submit(&action, &f).await;
        assert!(l.ok().contains("saved"), "{name}: {}", l.page);
        let (_, mine) = s.get("/console/support?view=mine").await;
        assert!(
            mine.contains(&format!("/console/support/{id}")),
            "{name}: in my inbox"
        );
        // A reply and an internal note.
        let reply = format!("/console/support/{id}/reply");
        let l = s
            .submit(
                &reply,
                &[("body", "A smaller one is on its way."), ("status", "")],
            )
            .await;
        assert!(l.ok().contains("pending"), "{name}: {}", l.page);
        let l = s
            .submit(
                &reply,
                &[
                    ("body", "Swap sent from the boutique"),
                    ("internal", "yes"),
                    ("status", ""),
                ],
            )
            .await;
        assert_eq!(l.ok(), "Note added", "{name}");
        assert!(l.page.contains("internal note"), "{name}");
        // An empty reply is refused and stores nothing.
        let l = s.submit(&reply, &[("body", "  "), ("status", "")]).await;
        assert!(l.refused().contains("body"), "{name}");
        let (_, t) = app
            .req(
                "GET",
                &format!("/api/v1/support/tickets/{id}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(t["ticket"]["status"], "pending", "{name}");
        assert_eq!(t["ticket"]["assignee_id"], me, "{name}");
        assert_eq!(t["ticket"]["priority"], "high");
        assert_eq!(t["ticket"]["tags"], json!(["size", "exchange"]));
        assert_eq!(t["ticket"]["orders"][0]["number"], number, "{name}");
        assert_eq!(t["messages"].as_array().unwrap().len(), 3, "{name}: {t}");
        assert_eq!(t["ticket"]["tags"], json!(["size", "exchange"]));
        assert_eq!(t["messages"][2]["public"], false);
        // The order's page shows the ticket on its timeline.
        let (_, order_page) = s.get(&format!("/console/orders/{order}")).await;
        assert!(order_page.contains(&format!("Ticket T-{id}")), "{name}");
        // After-sales from the ticket: a note on the order, unticked first (refused), then done.
        let after = format!("/console/support/{id}/after-sales");
        let order_field = order.to_string();
        let fields = [
            ("order_id", order_field.as_str()),
            ("action", "note"),
            ("text", "Swap agreed on the phone"),
        ];
        let l = s.submit(&after, &fields).await;
        assert!(l.refused().contains("confirm"), "{name}");
        let mut ticked = fields.to_vec();
        ticked.push(("confirm", "yes"));
        let l = s.submit(&after, &ticked).await;
        assert!(
            l.ok().contains(&format!("Noted on order #{number}")),
            "{name}"
        );
        let (_, order_page) = s.get(&format!("/console/orders/{order}")).await;
        assert!(order_page.contains("Swap agreed on the phone"), "{name}");
        assert!(
            order_page.contains(&format!("from ticket T-{id}")),
            "{name}"
        );
        // A macro fills the composer in, without script.
        let (st, m) = app
            .req(
                "POST",
                "/api/v1/support/macros",
                Some(&app.admin),
                Some(json!({"name": "Swap", "body": "Hi {{requester.first_name}}, about {{ticket.reference}}.", "status": "solved"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{m}");
        let (st, page) = s
            .get(&format!("/console/support/{id}?macro={}", m["id"]))
            .await;
        assert_eq!(st, StatusCode::OK, "{name}");
        assert!(
            page.contains(&format!("Hi Dee, about T-{id}.</textarea>")),
            "{name}: {page}"
        );
        assert!(
            page.contains("<option value=\"solved\" selected>"),
            "{name}"
        );
        // A duplicate merges into this ticket from its page.
        let (st, dup) = app
            .req(
                "POST",
                "/api/v1/support/tickets",
                Some(&app.admin),
                Some(json!({"subject": "Same thing", "body": "again", "requester_email": "desk@example.com"})),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{dup}");
        let dup = dup["ticket"]["id"].as_i64().unwrap();
        let l = s
            .submit(
                &format!("/console/support/{dup}/merge"),
                &[("into", &format!("T-{id}"))],
            )
            .await;
        assert!(l.ok().contains("merged"), "{name}");
        assert_eq!(l.location, format!("/console/support/{id}"));
        assert!(l.page.contains(&format!("Merged from T-{dup}")), "{name}");
        // An analyst reads the ticket and has no form to change it.
        let analyst = staff_user(&app, "analyst").await;
        let mut a = Session::sign_in(&app, &analyst, "correct horse battery").await;
        let (status, page) = a.get(&format!("/console/support/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(page.contains("Swap sent from the boutique"));
        assert!(
            !page.contains(&reply) && !page.contains(&action),
            "{name}: no forms"
        );
        let l = a.submit(&reply, &[("body", "hello"), ("status", "")]).await;
        assert!(
            l.status == StatusCode::FORBIDDEN || l.notice().is_some_and(|n| !n.0),
            "{name}"
        );
        // The analyst reads how the desk did: the cards, the breakdown by agent, the CSV, and
        // each agent's load.
        let (status, page) = a.get("/console/support/reports?breakdown=channel").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(page.contains("data-kpi=\"tickets_created\""), "{name}");
        assert!(
            page.contains("By channel") && page.contains(">phone<"),
            "{name}"
        );
        let (status, csv) = a.get("/console/support/reports.csv?by=day").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(
            csv.starts_with("bucket,group,created,solved,backlog,"),
            "{name}: {csv}"
        );
        assert_eq!(csv.lines().count(), 31, "{name}: a header and 30 days");
        let (status, page) = a.get("/console/support/workload").await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert!(page.contains("Solved this week"), "{name}");
        let (_, home) = a.get("/console").await;
        assert!(
            home.contains("data-support"),
            "{name}: the home page shows the desk"
        );
    }
}

/// A support lead sets the desk up from the console: a team with a member marked away, a
/// calendar and a policy counted in it (turned off and on), a triage rule that sorts the next
/// ticket, a macro made and deleted; an agent reads the set-up without a form and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_desk_set_up_by_a_lead() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        let lead = staff_user(&app, "support_lead").await;
        let agent = staff_user(&app, "support").await;
        let mut s = Session::sign_in(&app, &lead, "correct horse battery").await;
        let l = s
            .submit(
                "/console/support/setup/teams",
                &[("name", "Returns desk"), ("assignment", "round_robin")],
            )
            .await;
        assert!(l.ok().contains("Returns desk created"), "{name}");
        let (_, teams) = app
            .req("GET", "/api/v1/support/teams", Some(&app.admin), None)
            .await;
        let team = teams[0]["id"].as_i64().unwrap();
        let (_, users) = app
            .req("GET", "/api/v1/users", Some(&app.admin), None)
            .await;
        let agent_id = users["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["email"] == agent.as_str())
            .unwrap()["id"]
            .as_i64()
            .unwrap()
            .to_string();
        let members = format!("/console/support/setup/teams/{team}/members");
        let l = s
            .submit(&members, &[("user_id", &agent_id), ("capacity", "12")])
            .await;
        assert!(l.ok().contains("saved"), "{name}");
        let l = s
            .submit(&members, &[("user_id", &agent_id), ("available", "no")])
            .await;
        assert!(l.page.contains("away"), "{name}");
        let (_, t) = app
            .req("GET", "/api/v1/support/teams", Some(&app.admin), None)
            .await;
        let m = &t[0]["members"][0];
        assert_eq!(
            (m["available"].as_bool(), m["capacity"].as_i64()),
            (Some(false), Some(12)),
            "{name}: {t}"
        );
        // A calendar and a policy counted in it.
        let mut cal: Vec<(&str, &str)> = vec![
            ("name", "Lyon office"),
            ("timezone", "Europe/Paris"),
            ("holidays", "2026-12-25\n2027-01-01"),
        ];
        let days = [
            "09:00-12:30, 13:30-18:00",
            "09:00-18:00",
            "09:00-18:00",
            "09:00-18:00",
            "09:00-17:00",
            "",
            "",
        ];
        let names: Vec<String> = (0..7).map(|i| format!("day{i}")).collect();
        for (n, d) in names.iter().zip(days) {
            cal.push((n.as_str(), d));
        }
        let l = s.submit("/console/support/setup/calendars", &cal).await;
        assert!(l.ok().contains("Lyon office"), "{name}");
        assert!(l.page.contains("Mon 09:00-12:30, 13:30-18:00"), "{name}");
        let l = s
            .submit(
                "/console/support/setup/calendars",
                &[
                    ("name", "Bad"),
                    ("timezone", "Europe/Paris"),
                    ("day0", "nine to five"),
                ],
            )
            .await;
        assert!(l.refused().contains("Monday"), "{name}: the day named");
        let (_, cals) = app
            .req("GET", "/api/v1/support/calendars", Some(&app.admin), None)
            .await;
        assert_eq!(cals.as_array().unwrap().len(), 1, "{name}: nothing made");
        let cal_id = cals[0]["id"].as_i64().unwrap().to_string();
        let l = s
            .submit(
                "/console/support/setup/policies",
                &[
                    ("name", "Urgent"),
                    ("priority", "urgent"),
                    ("calendar_id", &cal_id),
                    ("first_reply_hours", "1.5"),
                    ("resolution_hours", "8"),
                ],
            )
            .await;
        assert!(l.ok().contains("Urgent"), "{name}");
        let (_, p) = app
            .req(
                "GET",
                "/api/v1/support/sla-policies",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(
            (
                p[0]["first_reply_minutes"].as_i64(),
                p[0]["calendar_id"].to_string()
            ),
            (Some(90), cal_id.clone()),
            "{name}: {p}"
        );
        let pid = p[0]["id"].as_i64().unwrap();
        let l = s
            .submit(
                &format!("/console/support/setup/policies/{pid}"),
                &[("active", "no")],
            )
            .await;
        assert!(l.ok().contains("turned off"), "{name}");
        // A triage rule: the next ticket that says "chargeback" is urgent, in the team.
        let team_s = team.to_string();
        let l = s
            .submit(
                "/console/support/setup/triage",
                &[
                    ("name", "Chargebacks"),
                    ("words", "chargeback, dispute"),
                    ("priority", "urgent"),
                    ("team_id", &team_s),
                    ("tags", "bank"),
                ],
            )
            .await;
        assert!(l.ok().contains("Chargebacks"), "{name}");
        assert!(l.page.contains("mentions chargeback or dispute"), "{name}");
        let (_, v) = app
            .req("POST", "/api/v1/support/tickets", Some(&app.admin), Some(json!({"subject": "Chargeback notice", "body": "The bank called", "requester_email": "cb@example.com"})))
            .await;
        assert_eq!(
            (
                v["ticket"]["priority"].as_str(),
                v["ticket"]["team_id"].as_i64()
            ),
            (Some("urgent"), Some(team)),
            "{name}: {v}"
        );
        // Bulk from the inbox: both tickets to the agent, low priority; all or none.
        let first = v["ticket"]["id"].as_i64().unwrap();
        let (_, w) = app
            .req("POST", "/api/v1/support/tickets", Some(&app.admin), Some(json!({"subject": "Size", "body": "Which size?", "requester_email": "sz@example.com"})))
            .await;
        let second = w["ticket"]["id"].as_i64().unwrap();
        let inbox = s.get("/console/support?view=all").await.1;
        assert!(
            inbox.contains("form=\"bulk\"") && inbox.contains("Apply to selected"),
            "{name}"
        );
        let (a, b) = (first.to_string(), second.to_string());
        let l = s
            .submit(
                "/console/support/bulk?view=all",
                &[
                    ("ticket_id", &a),
                    ("ticket_id", &b),
                    ("priority", "low"),
                    ("assignee_id", &agent_id),
                ],
            )
            .await;
        assert!(l.ok().contains("2 tickets changed"), "{name}");
        assert!(
            l.location.contains("view=all"),
            "{name}: back to the same view"
        );
        for id in [first, second] {
            let (_, t) = app
                .req(
                    "GET",
                    &format!("/api/v1/support/tickets/{id}"),
                    Some(&app.admin),
                    None,
                )
                .await;
            assert_eq!(
                (
                    t["ticket"]["priority"].as_str(),
                    t["ticket"]["assignee_id"].to_string()
                ),
                (Some("low"), agent_id.clone()),
                "{name}: {t}"
            );
        }
        let l = s
            .submit(
                "/console/support/bulk?view=all",
                &[
                    ("ticket_id", &a),
                    ("ticket_id", "999999"),
                    ("priority", "high"),
                ],
            )
            .await;
        assert!(
            l.refused().contains("ids[1]"),
            "{name}: the missing ticket named"
        );
        let (_, t) = app
            .req(
                "GET",
                &format!("/api/v1/support/tickets/{first}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(t["ticket"]["priority"], "low", "{name}: none changed");
        // A macro, then deleted once the box is ticked.
        let l = s
            .submit(
                "/console/support/setup/macros",
                &[
                    ("name", "Thanks"),
                    ("body", "Thank you, {{requester.first_name}}!"),
                    ("status", "solved"),
                ],
            )
            .await;
        assert!(l.ok().contains("Thanks"), "{name}");
        let (_, ms) = app
            .req("GET", "/api/v1/support/macros", Some(&app.admin), None)
            .await;
        let del = format!("/console/support/setup/macros/{}/delete", ms[0]["id"]);
        let l = s.submit(&del, &[]).await;
        assert!(l.refused().contains("tick the box"), "{name}");
        let l = s.submit(&del, &[("confirm", "yes")]).await;
        assert!(l.ok().contains("deleted"), "{name}");
        // An agent reads the set-up, without the forms, and a post is refused.
        let mut a = Session::sign_in(&app, &agent, "correct horse battery").await;
        for page in [
            "/console/support/setup",
            "/console/support/setup/service-levels",
            "/console/support/setup/triage",
            "/console/support/setup/macros",
        ] {
            let (st, html) = a.get(page).await;
            assert_eq!(st, StatusCode::OK, "{name}: {page}");
            assert!(
                !html.contains("method=\"post\" action=\"/console/support/setup"),
                "{name}: {page} has no form"
            );
        }
        assert!(
            a.get("/console/support/setup/service-levels")
                .await
                .1
                .contains("Lyon office"),
            "{name}"
        );
        let l = a
            .submit(
                &format!("/console/support/setup/policies/{pid}"),
                &[("active", "yes")],
            )
            .await;
        assert!(
            l.status == StatusCode::FORBIDDEN || l.notice().is_some_and(|n| !n.0),
            "{name}"
        );
        let (_, p) = app
            .req(
                "GET",
                "/api/v1/support/sla-policies",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(p[0]["active"], false, "{name}: still off");
        // The same switches through the API.
        let (st, p) = app
            .req(
                "PATCH",
                &format!("/api/v1/support/sla-policies/{pid}"),
                Some(&app.admin),
                Some(json!({"active": true})),
            )
            .await;
        assert_eq!(
            (st, p["active"].as_bool()),
            (StatusCode::OK, Some(true)),
            "{name}: {p}"
        );
        let (st, e) = app
            .req(
                "PATCH",
                &format!("/api/v1/support/sla-policies/{pid}"),
                Some(&app.admin),
                Some(json!({"active": true, "name": "x"})),
            )
            .await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {e}");
        let (_, rules) = app
            .req(
                "GET",
                "/api/v1/support/triage-rules",
                Some(&app.admin),
                None,
            )
            .await;
        let (st, r) = app
            .req(
                "PATCH",
                &format!("/api/v1/support/triage-rules/{}", rules[0]["id"]),
                Some(&app.admin),
                Some(json!({"active": false})),
            )
            .await;
        assert_eq!(
            (st, r["active"].as_bool()),
            (StatusCode::OK, Some(false)),
            "{name}: {r}"
        );
        let (st, _) = app
            .req(
                "DELETE",
                "/api/v1/support/macros/999999",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{name}");
    }
}

/// Reshipping through the front door: the API refuses more than was shipped, then an agent
/// reships a lost parcel from the ticket page; the replacement is an order at no charge, paid,
/// linked to the ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reshipping_a_lost_parcel_from_the_ticket() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("LOST-1", &[(app.locations.0, 10)]).await;
        let order = placed(&app, "LOST-1", "lost@example.com").await;
        let call = |method: &'static str, path: String, body: Option<Value>| {
            let app = &app;
            async move { app.req(method, &path, Some(&app.admin), body).await }
        };
        let (st, _) = call(
            "POST",
            format!("/api/v1/orders/{order}/payments"),
            Some(json!({"status": "paid"})),
        )
        .await;
        assert!(st.is_success(), "{name}");
        let (st, o) = call(
            "POST",
            format!("/api/v1/orders/{order}/fulfillments"),
            Some(json!({"location_id": app.locations.0})),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {o}");
        let line = o["lines"][0]["id"].as_i64().unwrap();
        let (st, e) = call(
            "POST",
            format!("/api/v1/orders/{order}/reship"),
            Some(json!({"lines": [{"line_id": line, "quantity": 2}], "reason": "lost"})),
        )
        .await;
        assert_eq!(
            (st, e["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("lines[0].quantity")),
            "{name}: {e}"
        );
        let (st, t) = call("POST", "/api/v1/support/tickets".into(), Some(json!({"subject": "Never arrived", "body": "My parcel is lost", "requester_email": "lost@example.com", "orders": [o["number"]]}))).await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {t}");
        let ticket = t["ticket"]["id"].as_i64().unwrap();
        let agent = staff_user(&app, "support").await;
        let mut s = Session::sign_in(&app, &agent, "correct horse battery").await;
        let page = s.get(&format!("/console/support/{ticket}")).await.1;
        assert!(page.contains("Reship what was shipped"), "{name}");
        let order_s = order.to_string();
        let l = s
            .submit(
                &format!("/console/support/{ticket}/after-sales"),
                &[
                    ("order_id", &order_s),
                    ("action", "reship"),
                    ("text", "Lost by the carrier"),
                    ("confirm", "yes"),
                ],
            )
            .await;
        assert!(l.ok().contains("at no charge"), "{name}");
        let (_, v) = call("GET", format!("/api/v1/support/tickets/{ticket}"), None).await;
        let linked: Vec<i64> = v["ticket"]["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].as_i64().unwrap())
            .collect();
        assert_eq!(linked.len(), 2, "{name}: {v}");
        let replacement = *linked.iter().find(|x| **x != order).unwrap();
        let (_, r) = call("GET", format!("/api/v1/orders/{replacement}"), None).await;
        assert_eq!(
            (r["total"]["amount"].as_i64(), r["payment_status"].as_str()),
            (Some(0), Some("paid")),
            "{name}: {r}"
        );
        assert_eq!(r["lines"][0]["sku"], "LOST-1");
    }
}

/// Promotions in the console: marketing creates a code through the form (a bad value refused by
/// name, nothing made), an order placed with it shows on the list as used; a support agent
/// reads the list without the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_promotions() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("PROMO-1", &[(app.locations.0, 10)]).await;
        let marketer = staff_user(&app, "marketing").await;
        let mut s = Session::sign_in(&app, &marketer, "correct horse battery").await;
        let l = s
            .submit(
                "/console/promotions",
                &[
                    ("name", "Bad"),
                    ("kind", "percentage"),
                    ("value", "150"),
                    ("code", "BAD"),
                ],
            )
            .await;
        assert!(l.refused().contains("value"), "{name}");
        let l = s
            .submit(
                "/console/promotions",
                &[
                    ("name", "Spring"),
                    ("kind", "percentage"),
                    ("value", "15"),
                    ("code", "Spring15"),
                    ("usage_limit", "5"),
                ],
            )
            .await;
        assert!(l.ok().contains("Spring created"), "{name}");
        let mut body = order_body(&[("PROMO-1", 1)], "promo@example.com");
        body["discount_codes"] = json!(["SPRING15"]);
        let (st, o) = app
            .req("POST", "/api/v1/orders", Some(&app.admin), Some(body))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {o}");
        assert!(
            o["discounts"]["amount"].as_i64().unwrap() > 0,
            "{name}: {o}"
        );
        let (_, page) = s.get("/console/promotions").await;
        assert!(
            page.contains("Spring15") && page.contains("15% off") && page.contains("1 of 5"),
            "{name}"
        );
        // The preview: what a sample cart gets, before anything is made; the form keeps what
        // was typed.
        let l = s
            .submit(
                "/console/promotions/preview",
                &[
                    ("name", "Twenty"),
                    ("kind", "percentage"),
                    ("value", "20"),
                    ("automatic", "on"),
                    ("sample", "PROMO-1 x 2"),
                ],
            )
            .await;
        assert_eq!(l.status, StatusCode::OK, "{name}");
        assert!(
            l.page.contains("gets <strong>$6.00</strong> off")
                && l.page.contains("value=\"Twenty\""),
            "{name}: {}",
            l.page
        );
        let l = s
            .submit(
                "/console/promotions/preview",
                &[
                    ("name", "Twenty"),
                    ("kind", "percentage"),
                    ("value", "20"),
                    ("sample", "NOPE x 1"),
                ],
            )
            .await;
        assert!(l.page.contains("no variant has SKU NOPE"), "{name}");
        // Made automatic for shoes of a vendor that sells nothing here: it says why not.
        let l = s
            .submit(
                "/console/promotions",
                &[
                    ("name", "Twenty"),
                    ("kind", "percentage"),
                    ("value", "20"),
                    ("automatic", "on"),
                    ("combines", "on"),
                    ("min_subtotal", "2000"),
                ],
            )
            .await;
        assert!(l.ok().contains("Twenty created"), "{name}");
        let (_, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("PROMO-1", 1)], "near@example.com")),
            )
            .await;
        let oid = o["id"].as_i64().unwrap();
        assert_eq!(
            o["discounts_not_applied"][0]["reason_code"], "min_subtotal",
            "{name}: {o}"
        );
        let (_, page) = s.get(&format!("/console/orders/{oid}")).await;
        assert!(
            page.contains("Twenty") && page.contains("did not apply: needs $5.00 more"),
            "{name}: {page}"
        );
        // Its page: codes generated, exported, imported; switched off.
        let list = app
            .req("GET", "/api/v1/promotions", Some(&app.admin), None)
            .await
            .1;
        let spring = list
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Spring")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let base = format!("/console/promotions/{spring}");
        let l = s
            .submit(
                &format!("{base}/codes"),
                &[
                    ("count", "25"),
                    ("prefix", "SP-"),
                    ("usage_limit_per_code", "1"),
                ],
            )
            .await;
        assert!(l.ok().contains("25 codes added"), "{name}");
        let l = s
            .submit(
                &format!("{base}/import"),
                &[("csv", "code\nHANDMADE-1\nbad code\n")],
            )
            .await;
        assert!(
            l.ok().contains("1 codes added, 1 refused"),
            "{name}: {}",
            l.page
        );
        let (st, csv) = s.get(&format!("{base}/codes.csv")).await;
        assert_eq!(
            (st, csv.lines().count()),
            (StatusCode::OK, 28),
            "{name}: {csv}"
        );
        let (_, page) = s.get(&base).await;
        assert!(
            page.contains("HANDMADE-1") && page.contains("Switch off"),
            "{name}"
        );
        let l = s
            .submit(&format!("{base}/active"), &[("active", "no")])
            .await;
        assert!(l.ok().contains("Spring is off"), "{name}");
        let agent = staff_user(&app, "support").await;
        let mut a = Session::sign_in(&app, &agent, "correct horse battery").await;
        let (st, page) = a.get(&base).await;
        assert!(st == StatusCode::OK && !page.contains("Generate"), "{name}");
        let (st, page) = a.get("/console/promotions").await;
        assert_eq!(st, StatusCode::OK, "{name}");
        assert!(
            page.contains("27 codes") && !page.contains("Create promotion"),
            "{name}"
        );
    }
}

/// Budgets and targets in the console: operations sets a target and a budget by form (a bad
/// amount refused by name), marketing makes a campaign budget, the home page shows the target;
/// an analyst reads the page without its forms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_budgets_and_targets() {
    for (name, url) in database_urls().await {
        let app = TestApp::spawn(name, &url).await;
        app.product("BT-1", &[(app.locations.0, 10)]).await;
        let (st, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("BT-1", 2)], "bt@example.com")),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{name}: {o}");
        let ops = staff_user(&app, "operations").await;
        let mut s = Session::sign_in(&app, &ops, "correct horse battery").await;
        let (_, page) = s.get("/console/budgets").await;
        let month = page
            .split("name=\"month\" type=\"month\" value=\"")
            .nth(1)
            .unwrap()[..7]
            .to_string();
        let l = s
            .submit(
                "/console/budgets/targets",
                &[("month", &month), ("revenue", "ten"), ("orders", "")],
            )
            .await;
        assert!(l.refused().contains("revenue"), "{name}");
        let l = s
            .submit(
                "/console/budgets/targets",
                &[("month", &month), ("revenue", "1000.00"), ("orders", "40")],
            )
            .await;
        assert!(l.ok().contains("Target set"), "{name}");
        assert!(
            l.page.contains("$1,000.00") && l.page.contains("$30.00"),
            "{name}: to date is 2 x 15.00"
        );
        let l = s
            .submit(
                "/console/budgets/operating",
                &[
                    ("month", &month),
                    ("category", "support"),
                    ("amount", "500"),
                    ("actual", "650"),
                ],
            )
            .await;
        assert!(
            l.ok().contains("Budget set") && l.page.contains("$150.00 over"),
            "{name}"
        );
        let (_, home) = s.get("/console").await;
        assert!(
            home.contains("data-targets") && home.contains("$1,000.00"),
            "{name}"
        );
        let marketer = staff_user(&app, "marketing").await;
        let mut m = Session::sign_in(&app, &marketer, "correct horse battery").await;
        let l = m
            .submit(
                "/console/budgets/campaigns",
                &[
                    ("campaign", "winter"),
                    ("starts_on", "2026-12-01"),
                    ("ends_on", "2026-12-31"),
                    ("discount_cap", "250.00"),
                ],
            )
            .await;
        assert!(l.ok().contains("Budget for winter created"), "{name}");
        assert!(
            l.page.contains("winter")
                && l.page.contains("$250.00")
                && !l.page.contains("Set target"),
            "{name}"
        );
        let analyst = staff_user(&app, "analyst").await;
        let mut a = Session::sign_in(&app, &analyst, "correct horse battery").await;
        let (st, page) = a.get("/console/budgets").await;
        assert!(
            st == StatusCode::OK && page.contains("winter") && !page.contains("Create budget"),
            "{name}"
        );
    }
}
