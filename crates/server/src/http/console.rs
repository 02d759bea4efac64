//! The operations console: pages rendered on the server under `/console`, signed in with a
//! session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind HTTPS).
//!
//! Every POST must come from this site: its `Origin` (or, failing that, its `Referer`) must name
//! the request's `Host`, and a form of a signed-in page carries a token derived from the session
//! secret, which another site cannot read. A request that fails either check changes nothing.

use super::App;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use backroom_core::analytics::{Zone, refresh, report};
use backroom_core::util::sha256_hex;
use backroom_core::{Actor, Error, settings};
use backroom_domain::analytics::format_day;
use backroom_domain::roles::{Permission, Role};
use serde::Deserialize;

const COOKIE: &str = "backroom_session";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
}

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The token a signed-in form carries: derived from the session secret, so only pages served to
/// that session know it.
fn csrf_token(secret: &str) -> String {
    sha256_hex(&format!("csrf:{secret}"))
}

fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty())
}

/// Whether a POST comes from this site: `Origin`, else `Referer`, names the `Host`.
fn same_origin(headers: &HeaderMap) -> bool {
    let host = match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(h) => h,
        None => return false,
    };
    let from = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok());
    match from {
        Some(url) => url
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            .is_some_and(|authority| authority == host),
        None => false,
    }
}

fn secure(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The signed-in staff member of a console request.
struct Staff {
    actor: Actor,
    csrf: String,
}

impl Staff {
    async fn signed_in(app: &App, headers: &HeaderMap) -> Option<Staff> {
        let secret = cookie_secret(headers)?;
        let actor = app.authenticate(&secret).await.ok()?;
        if actor.role == Role::Ingest {
            return None;
        }
        Some(Staff {
            actor,
            csrf: csrf_token(&secret),
        })
    }
    fn may(&self, p: Permission) -> bool {
        self.actor.role.allows(p)
    }
}

fn refused(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(layout(
            "Refused",
            None,
            &format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message)),
        )),
    )
        .into_response()
}

/// The page frame: navigation for a signed-in member (with the sign-out form), then the body.
fn layout(title: &str, staff: Option<&Staff>, body: &str) -> String {
    let nav = match staff {
        Some(s) => format!(
            "<nav aria-label=\"Main\"><a href=\"/console\">Home</a>\
             <span class=\"who\">{} ({})</span>\
             <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\">Sign out</button></form></nav>",
            esc(&s.actor.name),
            esc(s.actor.role.as_str()),
            esc(&s.csrf)
        ),
        None => String::new(),
    };
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Backroom</title><style>{CSS}</style></head>\
         <body><header><strong>Backroom</strong>{nav}</header><main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#111;background:#fafafa}\
header{display:flex;gap:1rem;align-items:center;padding:.5rem 1rem;background:#1f2937;color:#fff;flex-wrap:wrap}\
header a{color:#fff}nav{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}nav form{margin:0}\
main{padding:1rem;max-width:72rem}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.75rem}\
.card{background:#fff;border:1px solid #d1d5db;border-radius:.4rem;padding:.75rem}.card .v{font-size:1.5rem;font-weight:600}\
.up{color:#065f46}.down{color:#991b1b}.error{color:#991b1b;font-weight:600}label{display:block;margin:.5rem 0}\
input,button{font:inherit;padding:.4rem .6rem}button{cursor:pointer}:focus{outline:3px solid #2563eb;outline-offset:2px}";

#[derive(Deserialize)]
struct LoginForm {
    email: String,
    password: String,
}

async fn login_page(State(app): State<App>, headers: HeaderMap) -> Response {
    if Staff::signed_in(&app, &headers).await.is_some() {
        return Redirect::to("/console").into_response();
    }
    Html(login_html(None)).into_response()
}

fn login_html(error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    layout(
        "Sign in",
        None,
        &format!(
            "{error}<form method=\"post\" action=\"/console/login\">\
             <label>Email <input name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus></label>\
             <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

async fn login(State(app): State<App>, headers: HeaderMap, form: Form<LoginForm>) -> Response {
    if !same_origin(&headers) {
        return refused(
            StatusCode::FORBIDDEN,
            "This form was not sent from this site.",
        );
    }
    let now = backroom_core::util::now_micros();
    match backroom_core::auth::sign_in(&app.db, &form.email, &form.password, now).await {
        Ok(t) => {
            let cookie = format!(
                "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{}",
                t.token,
                if secure(&headers) { "; Secure" } else { "" }
            );
            (
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, cookie),
                    (header::LOCATION, "/console".to_string()),
                ],
            )
                .into_response()
        }
        Err(Error::Unauthenticated(m)) => {
            (StatusCode::UNAUTHORIZED, Html(login_html(Some(&m)))).into_response()
        }
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// Checks a signed-in POST: this site, and the session's token in the form.
async fn staff_post(app: &App, headers: &HeaderMap, csrf: &str) -> Result<Staff, Response> {
    let staff = Staff::signed_in(app, headers)
        .await
        .ok_or_else(|| Redirect::to("/console/login").into_response())?;
    if !same_origin(headers) || csrf != staff.csrf {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "This form was not sent from this site, or the page is out of date; reload it and try again.",
        ));
    }
    Ok(staff)
}

async fn logout(State(app): State<App>, headers: HeaderMap, form: Form<CsrfForm>) -> Response {
    let staff = match staff_post(&app, &headers, &form.csrf).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(secret) = cookie_secret(&headers) {
        let ctx = backroom_core::Ctx::new(staff.actor.clone(), backroom_core::util::now_micros());
        let _ = app
            .db
            .write(move |tx| backroom_core::auth::revoke_by_secret(tx, &ctx, &secret))
            .await;
        app.forget_tokens();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
            (header::LOCATION, "/console/login".to_string()),
        ],
    )
        .into_response()
}

/// A KPI card: the value and its change against the previous period.
fn card(label: &str, value: String, change: Option<f64>, higher_is_better: bool) -> String {
    let change = match change {
        Some(c) => {
            let good = (c >= 0.0) == higher_is_better;
            format!(
                "<div class=\"{}\">{}{:.1}% vs previous 30 days</div>",
                if good { "up" } else { "down" },
                if c >= 0.0 { "+" } else { "" },
                c * 100.0
            )
        }
        None => "<div>no previous figure</div>".into(),
    };
    format!(
        "<div class=\"card\"><div>{}</div><div class=\"v\" data-kpi=\"{}\">{}</div>{change}</div>",
        esc(label),
        esc(&label.to_lowercase().replace(' ', "_")),
        esc(&value)
    )
}

fn money(minor: i64, currency: &str) -> String {
    backroom_domain::Currency::parse(currency).map_or_else(
        |_| format!("{minor} {currency}"),
        |c| backroom_domain::Money::new(minor, c).to_string(),
    )
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |v| format!("{:.2}%", v * 100.0))
}

/// The relative change from `before` to `now`, when both are known and `before` is not zero.
fn change(now: Option<f64>, before: Option<f64>) -> Option<f64> {
    match (now, before) {
        (Some(n), Some(b)) if b != 0.0 => Some((n - b) / b),
        _ => None,
    }
}

/// Net sales per day as an SVG bar chart (drawn here: no browser code).
fn sales_chart(series: &[report::KpiRow]) -> String {
    let max = series
        .iter()
        .map(|r| r.kpis.net_sales)
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h) = (600.0, 160.0);
    let bw = w / series.len().max(1) as f64;
    let bars: String = series
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let bh = (r.kpis.net_sales.max(0) as f64 / max as f64) * (h - 10.0);
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2563eb\"><title>{}: {}</title></rect>",
                i as f64 * bw + 1.0,
                h - bh,
                (bw - 2.0).max(1.0),
                bh,
                esc(r.bucket.as_deref().unwrap_or_default()),
                r.kpis.net_sales
            )
        })
        .collect();
    format!(
        "<figure><svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"Net sales by day\">{bars}</svg>\
         <figcaption>Net sales by day, last 30 days</figcaption></figure>"
    )
}

async fn home(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(staff) = Staff::signed_in(&app, &headers).await else {
        return Redirect::to("/console/login").into_response();
    };
    let now = backroom_core::util::now_micros();
    let mut body = String::new();
    if staff.may(Permission::AnalyticsRead) {
        if let Err(e) = refresh::run(&app.db).await {
            return refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
        let report = app
            .db
            .read(move |tx| {
                let zone = Zone::get(&settings::load(tx)?.timezone)?;
                let today = zone.day_of(now);
                let q = report::KpiQuery {
                    from: format_day(today - 29),
                    to: format_day(today + 1),
                    by: Some("day".into()),
                    breakdown: None,
                    currency: None,
                    compare: Some(true),
                };
                let (p, o) = report::Opts::from_query(tx, &q)?;
                report::kpis(tx, p, &o)
            })
            .await;
        let r = match report {
            Ok(r) => r,
            Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let (t, prev) = (&r.totals, r.previous.clone().unwrap_or_default());
        let cur = r.currency.as_str();
        body.push_str(&format!(
            "<h2>Last 30 days ({} to {})</h2><div class=\"cards\">",
            esc(&r.from),
            esc(&r.to)
        ));
        let n = |x: i64| Some(x as f64);
        let ni = |x: Option<i64>| x.map(|v| v as f64);
        // (label, shown, now, before, higher is better)
        for (label, shown, now, before, up) in [
            (
                "Net sales",
                money(t.net_sales, cur),
                n(t.net_sales),
                n(prev.net_sales),
                true,
            ),
            (
                "Orders",
                t.orders.to_string(),
                n(t.orders),
                n(prev.orders),
                true,
            ),
            (
                "AOV",
                t.aov.map_or_else(|| "–".into(), |a| money(a, cur)),
                ni(t.aov),
                ni(prev.aov),
                true,
            ),
            (
                "Conversion rate",
                pct(t.conversion_rate),
                t.conversion_rate,
                prev.conversion_rate,
                true,
            ),
            (
                "Sessions",
                t.sessions.to_string(),
                n(t.sessions),
                n(prev.sessions),
                true,
            ),
            (
                "Bounce rate",
                pct(t.bounce_rate),
                t.bounce_rate,
                prev.bounce_rate,
                false,
            ),
            (
                "Cart abandonment",
                pct(t.cart_abandonment_rate),
                t.cart_abandonment_rate,
                prev.cart_abandonment_rate,
                false,
            ),
            (
                "ROAS",
                t.roas.map_or_else(|| "–".into(), |v| format!("{v:.2}")),
                t.roas,
                prev.roas,
                true,
            ),
        ] {
            body.push_str(&card(label, shown, change(now, before), up));
        }
        body.push_str("</div>");
        body.push_str(&sales_chart(&r.series));
    }
    let queue = match app
        .db
        .read(move |tx| backroom_core::queue::work_queue(tx, now))
        .await
    {
        Ok(q) => q,
        Err(e) => return refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    body.push_str("<h2>Work queue</h2><ul class=\"queue\">");
    for (label, n) in [
        ("Orders to ship", queue.to_ship),
        ("Late orders", queue.late),
        ("Orders on hold", queue.on_hold),
        ("Pickups waiting", queue.pickups_waiting),
        ("Returns to inspect", queue.returns_to_inspect),
        ("Low-stock SKUs", queue.low_stock),
        ("Failed webhooks", queue.failed_webhooks),
    ] {
        body.push_str(&format!(
            "<li data-queue=\"{}\">{}: <strong>{n}</strong></li>",
            esc(&label.to_lowercase().replace(' ', "_")),
            esc(label)
        ));
    }
    body.push_str("</ul>");
    Html(layout("Home", Some(&staff), &body)).into_response()
}
