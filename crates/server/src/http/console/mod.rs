//! The operations console: pages rendered on the server under `/console`, signed in with a
//! session cookie (`HttpOnly`, `SameSite=Strict`, `Secure` behind HTTPS).
//!
//! Every POST must come from this site: its `Origin` (or, failing that, its `Referer`) must name
//! the request's `Host`, and a form of a signed-in page carries a token derived from the session
//! secret, which another site cannot read. A request that fails either check changes nothing.
//!
//! Pages call the same services as the API, in one transaction each; a form that is refused comes
//! back with the service's message (naming the field) and nothing changed. After a change the
//! browser is sent on with a one-time notice (a short-lived cookie), so reloading repeats nothing.
//!
//! This module holds the kit every page uses: who is signed in, the frame, forms, notices,
//! tables and paging. Each area of the console has its own module.

mod analytics;
mod catalog;
mod customers;
mod home;
mod inventory;
mod jobs;
mod orders;
mod settings;

use super::App;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use backroom_core::util::sha256_hex;
use backroom_core::{Actor, Ctx, Error, Sql};
use backroom_domain::roles::{Permission, Role};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::fmt::Write;

const COOKIE: &str = "backroom_session";
const NOTICE: &str = "backroom_notice";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/console", get(home::home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route(
            "/console/password",
            get(password_page).post(change_password),
        )
        .merge(analytics::routes())
        .merge(catalog::routes())
        .merge(inventory::routes())
        .merge(orders::routes())
        .merge(customers::routes())
        .merge(settings::routes())
        .merge(jobs::routes())
}

// ---------------------------------------------------------------------------------------------
// HTML

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

/// Percent-encodes a query-string value.
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A query string from pairs, empty values left out: `?a=1&b=x`.
fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let parts: Vec<String> = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A table of already-rendered cells, or `empty` when there are no rows.
fn table(caption: &str, head: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return format!("<p class=\"empty\">{}</p>", esc(empty));
    }
    let mut out = format!(
        "<div class=\"scroll\"><table><caption>{}</caption><thead><tr>",
        esc(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A labelled input. `attrs` is raw (trusted) attribute text such as `required min="1"`.
fn input(label: &str, name: &str, kind: &str, value: &str, attrs: &str) -> String {
    format!(
        "<label>{} <input name=\"{}\" type=\"{}\" value=\"{}\" {attrs}></label>",
        esc(label),
        esc(name),
        kind,
        esc(value)
    )
}

/// A labelled select; `options` are (value, label).
fn select(label: &str, name: &str, options: &[(String, String)], selected: &str) -> String {
    let mut out = format!("<label>{} <select name=\"{}\">", esc(label), esc(name));
    for (v, l) in options {
        let _ = write!(
            out,
            "<option value=\"{}\"{}>{}</option>",
            esc(v),
            if v == selected { " selected" } else { "" },
            esc(l)
        );
    }
    out.push_str("</select></label>");
    out
}

/// The names of a vocabulary of the domain (`OrderStatus::ALL` and its `as_str`, say), for
/// [`options`].
fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

fn options(values: &[&str]) -> Vec<(String, String)> {
    values
        .iter()
        .map(|v| (v.to_string(), v.replace('_', " ")))
        .collect()
}

/// A POST form carrying the session's CSRF token. `class` groups related forms visually.
fn form(staff: &Staff, action: &str, fields: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"act\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}<button type=\"submit\">{}</button></form>",
        esc(action),
        esc(&staff.csrf),
        esc(button)
    )
}

/// A form whose action cannot be undone (cancel an order, archive a product): a red button and
/// a box to tick first. The box is `required`, so the browser asks without any script, and the
/// server refuses the action unticked as well ([`Fields::confirmed`]).
fn danger_form(staff: &Staff, action: &str, fields: &str, button: &str, confirm: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" class=\"act danger\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{fields}\
         <label><input type=\"checkbox\" name=\"confirm\" value=\"yes\" required> {}</label>\
         <button type=\"submit\" class=\"danger\">{}</button></form>",
        esc(action),
        esc(&staff.csrf),
        esc(confirm),
        esc(button)
    )
}

/// A GET filter form: its fields, then Apply and a link that clears them.
fn filter_form(action: &str, fields: &str) -> String {
    format!(
        "<form method=\"get\" action=\"{a}\" class=\"filters\" role=\"search\">{fields}<button type=\"submit\">Apply</button> <a href=\"{a}\">Clear</a></form>",
        a = esc(action)
    )
}

/// Links to the first and the next page of a list, keeping its filters.
fn pager(path: &str, params: &Fields, next: Option<&str>) -> String {
    let kept: Vec<(&str, &str)> = params
        .0
        .iter()
        .filter(|(k, _)| k != "cursor")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut out = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    if params.get("cursor").is_some() {
        out.push_str(&link(
            &format!("{path}{}", query_string(kept.iter().copied())),
            "First page",
        ));
    }
    if let Some(c) = next {
        let mut with = kept.clone();
        with.push(("cursor", c));
        out.push(' ');
        out.push_str(&link(&format!("{path}{}", query_string(with)), "Next page"));
    }
    out.push_str("</nav>");
    out
}

/// Locations as select options (with "any" first for a filter).
fn location_options(
    locations: &[backroom_core::api::Location],
    any: bool,
) -> Vec<(String, String)> {
    let mut o = Vec::new();
    if any {
        o.push((String::new(), "any".into()));
    }
    o.extend(
        locations
            .iter()
            .map(|l| (l.id.to_string(), format!("{} ({})", l.name, l.code))),
    );
    o
}

/// A location's code, for tables.
fn code_of(locations: &[backroom_core::api::Location], id: i64) -> String {
    locations
        .iter()
        .find(|l| l.id == id)
        .map_or_else(|| id.to_string(), |l| l.code.clone())
}

fn money(minor: i64, currency: &str) -> String {
    backroom_domain::Currency::parse(currency).map_or_else(
        |_| format!("{minor} {currency}"),
        |c| backroom_domain::Money::new(minor, c).to_string(),
    )
}

fn show_money(m: &backroom_core::api::Money) -> String {
    money(m.amount, &m.currency)
}

/// An amount as typed in a form field: `12.50` for 1250 cents.
fn amount_value(minor: i64, currency: &str) -> String {
    backroom_domain::Currency::parse(currency)
        .map_or_else(|_| minor.to_string(), |c| c.format_amount(minor))
}

/// A time as staff read it: `2026-11-27 14:05 UTC`.
fn when(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(s) => format!("{} UTC", s.replace('T', " ")),
        None => rfc3339.to_string(),
    }
}

fn badge(text: &str) -> String {
    format!(
        "<span class=\"badge b-{}\">{}</span>",
        esc(&text.replace(' ', "_")),
        esc(&text.replace('_', " "))
    )
}

// ---------------------------------------------------------------------------------------------
// Charts, drawn here as SVG: no browser code

/// Columns over time: (label, value, value as shown) per column.
fn column_chart(caption: &str, points: &[(String, i64, String)]) -> String {
    let max = points.iter().map(|p| p.1).max().unwrap_or(0).max(1);
    let (w, h) = (600.0, 160.0);
    let bw = w / points.len().max(1) as f64;
    let bars: String = points
        .iter()
        .enumerate()
        .map(|(i, (label, v, shown))| {
            let bh = ((*v).max(0) as f64 / max as f64) * (h - 10.0);
            format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#2563eb\"><title>{}: {}</title></rect>",
                i as f64 * bw + 1.0,
                h - bh,
                (bw - 2.0).max(1.0),
                bh,
                esc(label),
                esc(shown)
            )
        })
        .collect();
    format!(
        "<figure><svg viewBox=\"0 0 {w} {h}\" width=\"100%\" role=\"img\" aria-label=\"{c}\">{bars}</svg>\
         <figcaption>{c}</figcaption></figure>",
        c = esc(caption)
    )
}

/// Horizontal bars, one per row: (label, value, value as shown).
fn bar_list(caption: &str, rows: &[(String, i64, String)]) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    let mut out = format!(
        "<figure class=\"bars\"><figcaption>{}</figcaption>",
        esc(caption)
    );
    for (label, v, shown) in rows {
        let width = (*v).max(0) as f64 / max as f64 * 100.0;
        let _ = write!(
            out,
            "<div><span>{}: <strong>{}</strong></span><svg viewBox=\"0 0 100 4\" preserveAspectRatio=\"none\" width=\"100%\" height=\"10\" aria-hidden=\"true\"><rect width=\"{width:.2}\" height=\"4\" fill=\"#1d4ed8\"/></svg></div>",
            esc(label),
            esc(shown)
        );
    }
    out.push_str("</figure>");
    out
}

/// The funnel as horizontal bars, each with its share of sessions and its drop-off.
fn funnel_chart(steps: &[backroom_core::analytics::report::FunnelStep]) -> String {
    let top = steps.first().map_or(1, |s| s.sessions.max(1));
    let mut out = String::from("<h2>Conversion funnel</h2><div class=\"funnel\">");
    for s in steps {
        let width = s.sessions as f64 / top as f64 * 100.0;
        let _ = write!(
            out,
            "<div class=\"step\" data-step=\"{}\"><span>{}: <strong>{}</strong>{}</span>\
             <svg viewBox=\"0 0 100 4\" preserveAspectRatio=\"none\" width=\"100%\" height=\"12\" aria-hidden=\"true\"><rect width=\"{width:.2}\" height=\"4\" fill=\"#1d4ed8\"/></svg></div>",
            esc(&s.step),
            esc(&s.step.replace('_', " ")),
            s.sessions,
            s.drop_off
                .map(|d| format!(" ({:.1}% lost at this step)", d * 100.0))
                .unwrap_or_default()
        );
    }
    out.push_str("</div>");
    out
}

// ---------------------------------------------------------------------------------------------
// Who is signed in

/// The token a signed-in form carries: derived from the session secret, so only pages served to
/// that session know it.
fn csrf_token(secret: &str) -> String {
    sha256_hex(&format!("csrf:{secret}"))
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
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
    secret: String,
}

impl Staff {
    async fn signed_in(app: &App, headers: &HeaderMap) -> Option<Staff> {
        let secret = cookie_value(headers, COOKIE)?;
        let actor = app.authenticate(&secret).await.ok()?;
        if matches!(actor.role, Role::Ingest | Role::Storefront) {
            return None;
        }
        Some(Staff {
            actor,
            csrf: csrf_token(&secret),
            secret,
        })
    }

    /// A page view: the signed-in member if their role allows `p`; otherwise the sign-in form
    /// (signed out) or a refusal (signed in without the right).
    async fn viewing(app: &App, headers: &HeaderMap, p: Permission) -> Result<Staff, Response> {
        let staff = Staff::signed_in(app, headers)
            .await
            .ok_or_else(|| Redirect::to("/console/login").into_response())?;
        if !staff.may(p) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                Some(&staff),
                &format!(
                    "The {} role may not open this page.",
                    staff.actor.role.as_str()
                ),
            ));
        }
        Ok(staff)
    }

    /// A form post: signed in, from this site, with the session's token. What the role may do
    /// is checked by the service, in its transaction.
    async fn posting(app: &App, headers: &HeaderMap, fields: &Fields) -> Result<Staff, Response> {
        let staff = Staff::signed_in(app, headers)
            .await
            .ok_or_else(|| Redirect::to("/console/login").into_response())?;
        if !same_origin(headers) || fields.get("csrf") != Some(staff.csrf.as_str()) {
            return Err(refused(
                StatusCode::FORBIDDEN,
                Some(&staff),
                "This form was not sent from this site, or the page is out of date; reload it and try again.",
            ));
        }
        Ok(staff)
    }

    fn may(&self, p: Permission) -> bool {
        self.actor.role.allows(p)
    }

    fn ctx(&self) -> Ctx {
        Ctx::new(self.actor.clone(), backroom_core::util::now_micros())
    }
}

/// A signed-in form post from this site and its fields: the extractor every console POST takes
/// (its body, so it comes last). A post that fails [`Staff::posting`] is answered there.
struct Posted {
    staff: Staff,
    form: Fields,
}

impl axum::extract::FromRequest<App> for Posted {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, app: &App) -> Result<Self, Response> {
        let headers = req.headers().clone();
        let Form(form) = Form::<Fields>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let staff = Staff::posting(app, &headers, &form).await?;
        if let Some((name, _)) = form
            .0
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&staff),
                &format!("{name}: contains the NUL character (U+0000), which no text may hold"),
            ));
        }
        Ok(Posted { staff, form })
    }
}

// ---------------------------------------------------------------------------------------------
// Fields of a query string or a form

/// The fields of a query string or form, in order; a name may repeat (checkboxes).
#[derive(Deserialize, Default, Clone)]
#[serde(transparent)]
struct Fields(Vec<(String, String)>);

impl Fields {
    /// The first value of `name`, trimmed; `None` when absent or blank.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
    /// The first value of `name` exactly as sent (passwords keep their spaces).
    fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }
    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }
    fn opt(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }
    /// Every non-blank value of `name`.
    fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect()
    }
    fn opt_int(&self, name: &str) -> Result<Option<i64>, Error> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| Error::invalid(name, "must be a whole number"))
            })
            .transpose()
    }
    fn int(&self, name: &str) -> Result<i64, Error> {
        self.opt_int(name)?
            .ok_or_else(|| Error::invalid(name, "is required"))
    }
    /// Whether a [`danger_form`]'s box was ticked; refused with the field named when not.
    fn confirmed(&self) -> Result<(), Error> {
        if self.flag("confirm") == Some(true) {
            Ok(())
        } else {
            Err(Error::invalid(
                "confirm",
                "tick the box to confirm: this cannot be undone",
            ))
        }
    }
    /// A yes/no filter: `yes`/`true`/`on` or `no`/`false`; anything else is no filter.
    fn flag(&self, name: &str) -> Option<bool> {
        match self.get(name) {
            Some("yes" | "true" | "on") => Some(true),
            Some("no" | "false") => Some(false),
            _ => None,
        }
    }
    fn opt_amount(
        &self,
        name: &str,
        currency: backroom_domain::Currency,
    ) -> Result<Option<i64>, Error> {
        Ok(self
            .get(name)
            .map(|v| currency.parse_amount(name, v))
            .transpose()?)
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

/// A one-time notice shown on the next page: what was done, or why nothing was.
struct Notice {
    ok: bool,
    text: String,
}

fn take_notice(headers: &HeaderMap) -> Option<Notice> {
    let raw = cookie_value(headers, NOTICE)?;
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (flag, text) = text.split_at_checked(1)?;
    Some(Notice {
        ok: flag == "1",
        text: text.to_string(),
    })
}

/// Sends the browser to `to` (a console path) with a notice for the page it lands on.
fn see_other(to: &str, ok: bool, text: &str) -> Response {
    let mut text = text.to_string();
    if text.len() > 1500 {
        let mut cut = 1500;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    let value = URL_SAFE_NO_PAD.encode(format!("{}{text}", if ok { '1' } else { '0' }));
    let mut r = Redirect::to(to).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!(
        "{NOTICE}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// What a refused change says, from the API's one error table ([`super::error::ApiError::of`]): the reason,
/// naming the field. A storage failure is logged and shown as the API shows it, never as
/// database text.
fn describe(e: &Error) -> String {
    super::error::ApiError::log(e);
    let s = super::error::ApiError::of(e).message;
    if matches!(e, Error::Invalid(_)) {
        // "field: reason", as the form's field is named.
        return s;
    }
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// The status of a refused page or form: the API's for the same error.
fn status_of(e: &Error) -> StatusCode {
    super::error::ApiError::of(e).status
}

/// A page that says why it cannot be shown.
fn refused(status: StatusCode, staff: Option<&Staff>, message: &str) -> Response {
    (
        status,
        Html(layout(
            "Refused",
            staff,
            None,
            &format!("<p class=\"error\" role=\"alert\">{}</p>", esc(message)),
        )),
    )
        .into_response()
}

fn failed(staff: &Staff, e: &Error) -> Response {
    refused(status_of(e), Some(staff), &describe(e))
}

/// A signed-in page: the frame, the pending notice (then forgotten), the body.
fn page(staff: &Staff, headers: &HeaderMap, title: &str, body: &str) -> Response {
    let notice = take_notice(headers);
    let clear = notice.is_some();
    let mut r = Html(layout(title, Some(staff), notice, body)).into_response();
    if clear {
        r.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_static("backroom_notice=; Path=/console; Max-Age=0"),
        );
    }
    r
}

/// Reads in one transaction for a page, or the page that says why not.
async fn load<T: Send + 'static>(
    app: &App,
    staff: &Staff,
    f: impl FnMut(&mut dyn Sql) -> backroom_core::Result<T> + Send + 'static,
) -> Result<T, Response> {
    app.db.read(f).await.map_err(|e| failed(staff, &e))
}

/// Runs a change in one transaction as the signed-in member, then sends the browser back to
/// `page` with `message(&result)`, or with the reason nothing changed.
async fn act<T: Send + 'static>(
    app: &App,
    staff: &Staff,
    page: &str,
    f: impl FnMut(&mut dyn Sql, &Ctx) -> backroom_core::Result<T> + Send + 'static,
    message: impl FnOnce(&T) -> String,
) -> Response {
    act_then(app, staff, page, f, |v| (page.to_string(), message(v))).await
}

/// [`act`], going on to the page `done(&result)` names (a new order's, say) when it succeeds.
async fn act_then<T: Send + 'static>(
    app: &App,
    staff: &Staff,
    back: &str,
    mut f: impl FnMut(&mut dyn Sql, &Ctx) -> backroom_core::Result<T> + Send + 'static,
    done: impl FnOnce(&T) -> (String, String),
) -> Response {
    let ctx = staff.ctx();
    match app.db.write(move |tx| f(tx, &ctx)).await {
        Ok(v) => {
            let (to, message) = done(&v);
            see_other(&to, true, &message)
        }
        Err(e) => see_other(back, false, &describe(&e)),
    }
}

/// The page frame: navigation for a signed-in member (what their role may open, and the
/// sign-out form), the notice, then the body.
fn layout(title: &str, staff: Option<&Staff>, notice: Option<Notice>, body: &str) -> String {
    let nav = match staff {
        Some(s) => {
            let mut links = String::from("<a href=\"/console\">Home</a>");
            for (p, href, text) in [
                (Permission::CatalogRead, "/console/products", "Catalog"),
                (Permission::InventoryRead, "/console/inventory", "Inventory"),
                (Permission::OrdersRead, "/console/orders", "Orders"),
                (Permission::CustomersRead, "/console/customers", "Customers"),
                (Permission::AnalyticsRead, "/console/analytics", "Analytics"),
            ] {
                if s.may(p) {
                    links.push_str(&link(href, text));
                }
            }
            links.push_str(&link("/console/settings", "Settings"));
            format!(
                "<nav aria-label=\"Main\">{links}</nav><div class=\"who\"><a href=\"/console/password\">{} ({})</a>\
                 <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <button type=\"submit\">Sign out</button></form></div>",
                esc(&s.actor.name),
                esc(s.actor.role.as_str()),
                esc(&s.csrf)
            )
        }
        None => String::new(),
    };
    let notice = notice
        .map(|n| {
            format!(
                "<p class=\"notice {}\" role=\"{}\">{}</p>",
                if n.ok { "ok" } else { "error" },
                if n.ok { "status" } else { "alert" },
                esc(&n.text)
            )
        })
        .unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · Backroom</title><style>{CSS}</style></head>\
         <body><a class=\"skip\" href=\"#main\">Skip to content</a><header><strong>Backroom</strong>{nav}</header>\
         <main id=\"main\"><h1>{}</h1>{notice}{body}</main></body></html>",
        esc(title),
        esc(title)
    )
}

/// Colours meet WCAG AA contrast on their backgrounds; focus is always visible; tables scroll
/// sideways on a phone instead of squeezing.
const CSS: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#111;background:#fafafa}\
header{display:flex;gap:1rem;align-items:center;padding:.5rem 1rem;background:#1f2937;color:#fff;flex-wrap:wrap}\
header a{color:#fff}nav{display:flex;gap:1rem;align-items:center;flex-wrap:wrap}.who{display:flex;gap:.5rem;align-items:center;margin-left:auto}\
.who form{margin:0}.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:2}\
main{padding:1rem;max-width:80rem}h2{margin-top:1.5rem}.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.75rem}\
.card{background:#fff;border:1px solid #d1d5db;border-radius:.4rem;padding:.75rem}.card .v{font-size:1.5rem;font-weight:600}\
.up{color:#065f46}.down{color:#991b1b}.error{color:#991b1b;font-weight:600}.notice{padding:.5rem .75rem;border-radius:.3rem}\
.notice.ok{background:#d1fae5;color:#064e3b}.notice.error{background:#fee2e2}\
label{display:inline-block;margin:.25rem .75rem .25rem 0}input,select,textarea,button{font:inherit;padding:.35rem .5rem}\
button{cursor:pointer;background:#1d4ed8;color:#fff;border:0;border-radius:.3rem}button.danger{background:#b91c1c}\
form.danger{border-color:#fca5a5}\
:focus{outline:3px solid #2563eb;outline-offset:2px}.scroll{overflow-x:auto}\
table{border-collapse:collapse;background:#fff;width:100%}caption{text-align:left;font-weight:600;padding:.25rem 0}\
th,td{border-bottom:1px solid #e5e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}\
form.act,form.filters{background:#fff;border:1px solid #e5e7eb;border-radius:.4rem;padding:.5rem .75rem;margin:.5rem 0}\
.badge{display:inline-block;padding:0 .4rem;border-radius:.3rem;background:#e5e7eb;font-size:.875rem}\
.b-open,.b-paid,.b-received,.b-active{background:#d1fae5}.b-cancelled,.b-archived,.b-voided{background:#fee2e2}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(20rem,1fr));gap:1rem}.empty{color:#4b5563}\
.fix{color:#991b1b}.consider{color:#92400e}dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dd{margin:0}\
figure{margin:1rem 0}figure svg{max-height:14rem}.funnel .step,.bars div{margin:.25rem 0}\
@media print{header,form,.pager{display:none}}";

// ---------------------------------------------------------------------------------------------
// Signing in and out, and the password

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
        None,
        &format!(
            "{error}<form method=\"post\" action=\"/console/login\">\
             <p><label>Email <input name=\"email\" type=\"email\" autocomplete=\"username\" required autofocus></label></p>\
             <p><label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
             <button type=\"submit\">Sign in</button></form>"
        ),
    )
}

async fn login(State(app): State<App>, headers: HeaderMap, Form(form): Form<Fields>) -> Response {
    if !same_origin(&headers) {
        return refused(
            StatusCode::FORBIDDEN,
            None,
            "This form was not sent from this site.",
        );
    }
    let now = backroom_core::util::now_micros();
    match backroom_core::auth::sign_in(&app.db, &form.text("email"), form.raw("password"), now)
        .await
    {
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
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, None, &describe(&e)),
    }
}

async fn logout(State(app): State<App>, Posted { staff, .. }: Posted) -> Response {
    let (ctx, secret) = (staff.ctx(), staff.secret.clone());
    let _ = app
        .db
        .write(move |tx| backroom_core::auth::revoke_by_secret(tx, &ctx, &secret))
        .await;
    app.forget_tokens();
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

async fn password_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(staff) = Staff::signed_in(&app, &headers).await else {
        return Redirect::to("/console/login").into_response();
    };
    let body = format!(
        "<p>Signed in as {} with the {} role. Changing the password signs out your other sessions.</p>{}",
        esc(&staff.actor.name),
        esc(staff.actor.role.as_str()),
        form(
            &staff,
            "/console/password",
            "<p><label>Current password <input name=\"current_password\" type=\"password\" autocomplete=\"current-password\" required></label></p>\
             <p><label>New password (10 characters or more) <input name=\"new_password\" type=\"password\" autocomplete=\"new-password\" minlength=\"10\" required></label></p>",
            "Change password"
        )
    );
    page(&staff, &headers, "Your account", &body)
}

async fn change_password(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    let r = backroom_core::auth::change_password(
        &app.db,
        &staff.ctx(),
        f.raw("current_password"),
        f.raw("new_password"),
        &staff.secret,
    )
    .await;
    app.forget_tokens();
    match r {
        Ok(()) => see_other(
            "/console/password",
            true,
            "Password changed; your other sessions are signed out.",
        ),
        Err(e) => see_other("/console/password", false, &describe(&e)),
    }
}
