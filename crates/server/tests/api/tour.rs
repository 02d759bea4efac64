//! A tour of the console in a real browser: every page, as every staff role, in the light and
//! dark themes, 1440 and 390 CSS pixels wide. Each page it may open is screenshotted (under
//! `target/console-screenshots/tour/`) and audited with axe-core for WCAG 2 A/AA: no serious or
//! critical violation passes. On a phone no page, and no table, scrolls sideways (lists become
//! cards), and the themes really differ.
//!
//! axe-core comes from `tests/browser` (`npm ci` there; `.ci/run` does it). Without it the tour
//! fails when `BACKROOM_REQUIRE_BROWSER` is set, and says it skipped the audit otherwise.

use super::browser::Browser;
use super::*;
use backroom_domain::roles::{ALL_ROLES, Role};

/// Every page of the console with data behind it.
async fn pages(app: &TestApp) -> Vec<String> {
    app.product("TOUR-1", &[(app.locations.0, 3)]).await;
    app.product("TOUR-2", &[(app.locations.0, 40), (app.locations.1, 5)])
        .await;
    let (s, order) = app
        .req(
            "POST",
            "/api/v1/orders",
            Some(&app.admin),
            Some(order_body(
                &[("TOUR-1", 1), ("TOUR-2", 2)],
                "tour@example.com",
            )),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let (_, products) = app
        .req("GET", "/api/v1/products?q=TOUR-1", Some(&app.admin), None)
        .await;
    let product = &products["items"][0];
    let (o, c, p) = (
        order["id"].as_i64().unwrap(),
        order["customer"]["id"].as_i64().unwrap(),
        product["id"].as_i64().unwrap(),
    );
    let loc = app.locations.0;
    let (s, ticket) = app
        .req(
            "POST",
            "/api/v1/support/tickets",
            Some(&app.admin),
            Some(json!({"subject": "Parcel late", "body": format!("Where is order #{}?\nIt was due on Monday.", order["number"]), "requester_email": "tour@example.com"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ticket}");
    let t = ticket["ticket"]["id"].as_i64().unwrap();
    let (s, _) = app
        .req(
            "POST",
            &format!("/api/v1/support/tickets/{t}/messages"),
            Some(&app.admin),
            Some(json!({"body": "Checking with the carrier", "public": false})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    [
        "/console",
        "/console/support",
        &format!("/console/support/{t}"),
        "/console/support/new",
        "/console/support/workload",
        "/console/support/setup",
        "/console/promotions",
        "/console/support/setup/service-levels",
        "/console/support/setup/triage",
        "/console/support/setup/macros",
        "/console/support/reports?breakdown=agent",
        "/console/search?q=tour",
        "/console/help",
        "/console/password",
        "/console/orders",
        &format!("/console/orders/{o}"),
        "/console/orders/new",
        "/console/returns",
        &format!("/console/pick-list?location_id={loc}"),
        "/console/products",
        &format!("/console/products/{p}"),
        "/console/products/new",
        "/console/inventory",
        "/console/inventory/low?show=all",
        "/console/inventory/sku?sku=TOUR-1",
        "/console/transfers",
        "/console/customers",
        &format!("/console/customers/{c}"),
        "/console/analytics",
        "/console/analytics?view=breakdown",
        "/console/analytics?view=top",
        "/console/analytics?view=customers",
        "/console/settings",
        "/console/settings/store",
        "/console/settings/locations",
        "/console/settings/channels",
        "/console/settings/users",
        "/console/settings/tokens",
        "/console/settings/webhooks",
        "/console/settings/imports",
        "/console/settings/jobs",
        "/console/settings/audit",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect()
}

/// Signs `email` in through the sign-in form (with the password [`super::console::staff_user`]
/// gives) and lands on Home.
async fn sign_in(b: &Browser, app: &TestApp, email: &str) {
    b.goto(&format!("{}/console/login", app.base)).await;
    b.fill("input[name=email]", email).await;
    b.fill("input[name=password]", "correct horse battery")
        .await;
    b.click("form[action='/console/login'] button").await;
    assert_eq!(b.text("h1").await, "Home");
}

/// The four ways a page is seen: (width, dark).
const VIEWS: [(u32, bool); 4] = [(1440, false), (1440, true), (390, false), (390, true)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_as_every_role_light_and_dark_wide_and_narrow() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let audited = b.load_axe().await;
    b.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "window.__csp = []; document.addEventListener('securitypolicyviolation',\
            e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"}),
    )
    .await;
    if !audited {
        assert!(
            std::env::var("BACKROOM_REQUIRE_BROWSER").is_err(),
            "axe-core is not installed: run `npm ci` in crates/server/tests/browser"
        );
        eprintln!("SKIPPED: the accessibility audit (run `npm ci` in crates/server/tests/browser)");
    }
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    let pages = pages(&app).await;
    let at = |p: &str| format!("{}{p}", app.base);
    // Every console response says what the page may load, and that no frame may hold it.
    let r = app.http.get(at("/console/login")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let mut problems = Vec::new();
    let (mut shown, mut refused, mut axed) = (0, 0, 0);
    for role in ALL_ROLES
        .into_iter()
        .filter(|r| !matches!(r, Role::Storefront | Role::Ingest))
    {
        let email = super::console::staff_user(&app, role.as_str()).await;
        sign_in(&b, &app, &email).await;
        let mut closed = std::collections::HashSet::new();
        for (width, dark) in VIEWS {
            b.emulate(width, dark).await;
            let theme = if dark { "dark" } else { "light" };
            for path in &pages {
                if closed.contains(path) {
                    continue;
                }
                b.goto(&at(path)).await;
                if std::env::var("BACKROOM_TOUR_TRACE").is_ok() {
                    eprintln!("{} {width} {dark} {path}", role.as_str());
                }
                let title = b.text("main h1").await;
                if title == "Refused" {
                    refused += 1;
                    closed.insert(path.clone());
                    continue;
                }
                shown += 1;
                let slug: String = path
                    .trim_start_matches("/console")
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let shot = format!("tour/{}-{width}-{theme}{}", role.as_str(), slug);
                b.screenshot(&shot).await;
                let where_ = format!("{} {path} {width}px {theme}", role.as_str());
                let facts = b
                    .script(
                        "return [document.documentElement.scrollWidth, window.innerWidth,\
                         getComputedStyle(document.body).backgroundColor,\
                         Array.from(document.querySelectorAll('main .scroll'))\
                           .filter(e => e.scrollWidth > e.clientWidth + 1)\
                           .map(e => e.getAttribute('aria-label') || 'a table').join(', '),\
                         (window.__csp || []).join(', ')];",
                    )
                    .await;
                let (scroll, inner) = (facts[0].as_i64().unwrap(), facts[1].as_i64().unwrap());
                if width < 600 && scroll > inner {
                    problems.push(format!(
                        "{where_}: scrolls sideways ({scroll} > {inner} px)"
                    ));
                }
                let hidden = facts[3].as_str().unwrap_or_default();
                if width < 600 && !hidden.is_empty() {
                    problems.push(format!("{where_}: columns off-screen in {hidden}"));
                }
                let csp = facts[4].as_str().unwrap_or_default();
                if !csp.is_empty() {
                    problems.push(format!("{where_}: blocked by the page's policy: {csp}"));
                }
                let bg = facts[2].as_str().unwrap_or_default().to_string();
                let want = if dark {
                    "rgb(11, 17, 32)"
                } else {
                    "rgb(245, 246, 248)"
                };
                if bg != want {
                    problems.push(format!(
                        "{where_}: background {bg}, not the {theme} theme's {want}"
                    ));
                }
                if audited {
                    axed += 1;
                    for (rule, impact, help, nodes) in b.axe().await {
                        if matches!(impact.as_str(), "serious" | "critical") {
                            problems.push(format!("{where_}: {impact} {rule}: {help} at {nodes}"));
                        }
                    }
                }
            }
        }
        b.emulate(1440, false).await;
        b.click("form[action='/console/logout'] button").await;
    }
    eprintln!("tour: {shown} page views shown, {axed} audited, {refused} refused to their role");
    assert!(shown > 300, "the tour saw {shown} pages");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Finding anything from the keyboard: `/` focuses the search box on any page; a customer's
/// name, part of a phone number or a SKU finds them; an order number opens the order; `g o`
/// goes to the orders and `?` to the help page that lists the shortcuts. A role sees only the
/// kinds of results it may read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_anything_from_the_keyboard() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    app.product("FIND-7", &[(app.locations.0, 5)]).await;
    let (s, order) = app
        .req(
            "POST",
            "/api/v1/orders",
            Some(&app.admin),
            Some(order_body(&[("FIND-7", 1)], "m.curie@example.com")),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{order}");
    let customer = order["customer"]["id"].as_i64().unwrap();
    let (s, c) = app
        .req(
            "PATCH",
            &format!("/api/v1/customers/{customer}"),
            Some(&app.admin),
            Some(
                json!({"first_name": "Marie", "last_name": "Curie", "phone": "+33 6 12 34 56 78"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let (number, id) = (
        order["number"].as_i64().unwrap(),
        order["id"].as_i64().unwrap(),
    );
    sign_in(
        &b,
        &app,
        &super::console::staff_user(&app, "operations").await,
    )
    .await;

    let search = |text: &'static str| {
        let b = &b;
        async move {
            b.keys("/").await;
            let focused = b.script("return document.activeElement.id;").await;
            assert_eq!(focused, "q", "/ puts the cursor in the search box");
            let old = b.page_root().await;
            b.keys(&format!("{text}\u{E007}")).await;
            b.wait_new_page(&old, "the keys").await;
        }
    };
    search("Curie").await;
    assert_eq!(b.text("h1").await, "Search");
    let page = b.text("main").await;
    assert!(
        page.contains(&format!("#{number}")) && page.contains("Marie Curie"),
        "{page}"
    );
    search("12 34 56").await;
    assert!(b.text("main").await.contains("Marie Curie"), "by phone");
    search("FIND-7").await;
    assert!(b.text("main").await.contains("Product FIND-7"), "by SKU");
    search("nothing-like-this").await;
    assert!(b.text("main").await.contains("No order matches."));
    b.keys("/").await;
    let old = b.page_root().await;
    b.keys(&format!("#{number}\u{E007}")).await;
    b.wait_new_page(&old, "the keys").await;
    assert!(
        b.current_url()
            .await
            .ends_with(&format!("/console/orders/{id}")),
        "an order number opens the order"
    );

    let old = b.page_root().await;
    b.keys("?").await;
    b.wait_new_page(&old, "the keys").await;
    assert!(b.current_url().await.ends_with("/console/help"));
    let help = b.text("main").await;
    assert!(
        help.contains("Go to orders") && help.contains("Search orders"),
        "{help}"
    );
    let old = b.page_root().await;
    b.keys("go").await;
    b.wait_new_page(&old, "the keys").await;
    assert!(b.current_url().await.ends_with("/console/orders"));
    b.click("form[action='/console/logout'] button").await;

    // The inventory role reads products and orders, not customers.
    sign_in(
        &b,
        &app,
        &super::console::staff_user(&app, "inventory").await,
    )
    .await;
    search("FIND").await;
    let page = b.text("main").await;
    assert!(page.contains("Product FIND-7"), "{page}");
    assert!(
        !page.contains("Marie") && !page.contains("Customers\n") && page.contains("Orders\n"),
        "{page}"
    );
}

/// The home chart can be read: labelled ticks on its value axis, day labels, both periods named
/// with their dates, a column's value shown when it is pointed at or focused, and every value in
/// a table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_chart_can_be_read() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    let (s, p) = app
        .req(
            "POST",
            "/api/v1/products",
            Some(&app.admin),
            Some(json!({"title": "Sofa", "status": "active", "variants": [{"sku": "CHART-1", "price": 250_000}]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, r) = app
        .req(
            "POST",
            "/api/v1/inventory/receive",
            Some(&app.admin),
            Some(json!({"sku": "CHART-1", "location_id": app.locations.0, "quantity": 50})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    for _ in 0..3 {
        let (s, o) = app
            .req(
                "POST",
                "/api/v1/orders",
                Some(&app.admin),
                Some(order_body(&[("CHART-1", 4)], "chart@example.com")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{o}");
    }
    let email = super::console::staff_user(&app, "analyst").await;
    sign_in(&b, &app, &email).await;

    let ticks = b
        .script("return Array.from(document.querySelectorAll('figure.chart svg > text')).map(t => t.textContent);")
        .await;
    let ticks: Vec<&str> = ticks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    // Three orders of 4 × $2,500.00 today: $30,000 of net sales, on an axis from $0 to $30,000
    // in steps of $10,000 (thousands separated).
    assert_eq!(ticks, ["$0", "$10,000", "$20,000", "$30,000"], "{ticks:?}");
    let legend = b.text("figure.chart .legend").await;
    assert!(
        legend.contains("This period: ") && legend.contains("Previous period: "),
        "{legend}"
    );
    let tip = b
        .script(
            "const cols = document.querySelectorAll('figure.chart g.col');\
             const last = cols[cols.length - 1];\
             const tip = last.querySelector('.tip');\
             const before = getComputedStyle(tip).visibility;\
             last.focus();\
             return [cols.length, before, getComputedStyle(tip).visibility, tip.textContent];",
        )
        .await;
    assert_eq!(tip[0], 30, "a column per day: {tip}");
    assert_eq!(
        (tip[1].as_str(), tip[2].as_str()),
        (Some("hidden"), Some("visible")),
        "{tip}"
    );
    assert!(tip[3].as_str().unwrap().contains("$30,000.00"), "{tip}");
    assert_eq!(b.text("[data-kpi=net_sales]").await, "$30,000.00");
    b.script("document.querySelector('figure.chart details summary').click(); return 1;")
        .await;
    let table = b.text("figure.chart details table").await;
    assert!(
        table.contains("$30,000.00") && table.contains("This period"),
        "{table}"
    );
}

/// Saved views: a member names the filters of a list, finds them above the list, opens them,
/// and deletes them; another member does not see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_saves_opens_and_deletes_a_view() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    app.product("VIEW-1", &[(app.locations.0, 2)]).await;
    let at = |p: &str| format!("{}{p}", app.base);
    sign_in(
        &b,
        &app,
        &super::console::staff_user(&app, "operations").await,
    )
    .await;
    b.goto(&at("/console/products?status=active&sort=title"))
        .await;
    b.fill("input[name=name]", "Active A to Z").await;
    b.click("form.save-view button").await;
    let (ok, text) = b.notice().await;
    assert!(ok && text == "Saved the view Active A to Z.", "{text}");
    let href = b.attr(".views .view a", "href").await;
    assert!(
        href.ends_with("/console/products?status=active&sort=title"),
        "{href}"
    );
    assert_eq!(b.attr(".views .view a", "aria-current").await, "page");

    b.goto(&at("/console/products")).await;
    b.click(".views .view a").await;
    assert!(b.current_url().await.ends_with("?status=active&sort=title"));
    assert_eq!(b.text(".views a[aria-current]").await, "Active A to Z");
    b.click("form[action='/console/logout'] button").await;

    // Another member's list has no such view.
    sign_in(
        &b,
        &app,
        &super::console::staff_user(&app, "inventory").await,
    )
    .await;
    b.goto(&at("/console/products")).await;
    let views = b.text(".views").await;
    assert!(!views.contains("Active A to Z"), "{views}");
    b.click("form[action='/console/logout'] button").await;

    let (s, audit) = app
        .req(
            "GET",
            "/api/v1/audit-log?action=view.saved",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let id = audit["items"][0]["entity_id"].as_str().unwrap().to_string();
    // The owner deletes it.
    let (_, u) = app
        .req("GET", "/api/v1/users", Some(&app.admin), None)
        .await;
    let owner = u["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["role"] == "operations")
        .unwrap()["email"]
        .as_str()
        .unwrap()
        .to_string();
    sign_in(&b, &app, &owner).await;
    b.goto(&at("/console/products")).await;
    b.click(&format!("form[action='/console/views/{id}/delete'] button"))
        .await;
    let (ok, text) = b.notice().await;
    assert!(ok && text == "Deleted the view Active A to Z.", "{text}");
    assert!(!b.text(".views").await.contains("Active A to Z"));
}

/// A refused form keeps what was typed (the page script puts it back; never the password): a
/// new user with an email already taken comes back with its name and role as typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_form_keeps_what_was_typed() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    let email = super::console::staff_user(&app, "admin").await;
    sign_in(&b, &app, &email).await;
    b.goto(&format!("{}/console/settings/users", app.base))
        .await;
    let form = "form[action='/console/settings/users']";
    b.fill(&format!("{form} input[name=email]"), &email).await;
    b.fill(&format!("{form} input[name=name]"), "Second Person")
        .await;
    b.script("document.querySelector(\"form[action='/console/settings/users'] select[name=role]\").value = 'analyst'; return 1;")
        .await;
    b.fill(
        &format!("{form} input[name=password]"),
        "another long password",
    )
    .await;
    b.click(&format!("{form} button")).await;
    let (ok, text) = b.notice().await;
    assert!(!ok && text.contains("already exists"), "{text}");
    let kept = b
        .script(
            "const f = document.querySelector(\"form[action='/console/settings/users']\");\
             return [f.email.value, f.name.value, f.role.value, f.password.value];",
        )
        .await;
    assert_eq!(
        kept,
        json!([email, "Second Person", "analyst", ""]),
        "what was typed is back, the password is not"
    );
    // The next page, not refused, starts empty.
    b.goto(&format!("{}/console/settings/users", app.base))
        .await;
    let again = b
        .script(
            "return document.querySelector(\"form[action='/console/settings/users']\").name.value;",
        )
        .await;
    assert_eq!(again, "");
}

/// The promotion form previews as it is filled in: typing a sample cart shows what it would
/// get, and changing the value changes the preview, without pressing anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_previews_as_it_is_typed() {
    let Some(b) = super::browser::Browser::start().await else {
        return;
    };
    let (name, url) = database_urls().await.remove(0);
    let app = TestApp::spawn(name, &url).await;
    app.product("LIVE-1", &[(app.locations.0, 10)]).await;
    let email = super::console::staff_user(&app, "admin").await;
    sign_in(&b, &app, &email).await;
    b.goto(&format!("{}/console/promotions", app.base)).await;
    let form = "form[data-live-preview]";
    b.fill(&format!("{form} input[name=name]"), "Live").await;
    b.fill(&format!("{form} input[name=value]"), "20").await;
    b.fill(&format!("{form} input[name=sample]"), "LIVE-1 x 2")
        .await;
    let preview = |want: &'static str| {
        let b = &b;
        async move {
            for _ in 0..60 {
                let t = b
                    .script("return document.getElementById('preview').textContent;")
                    .await;
                if t.as_str().is_some_and(|t| t.contains(want)) {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the preview never said {want}");
        }
    };
    // 20% of 2 x 15.00.
    preview("$6.00").await;
    b.script(&format!(
        "const v = document.querySelector(\"{form} input[name=value]\"); v.value = '50'; \
         v.dispatchEvent(new Event('input', {{bubbles: true}})); return 1;"
    ))
    .await;
    preview("$15.00").await;
    // Nothing was made.
    let (_, list) = app
        .req("GET", "/api/v1/promotions", Some(&app.admin), None)
        .await;
    assert_eq!(list, json!([]));
}
