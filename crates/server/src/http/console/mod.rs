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
//! Pages are compile-time templates ([`maud`]) built from the component set in [`ui`]; this
//! module holds the plumbing every page uses: who is signed in, fields, notices, reads and
//! changes in one transaction, and the page response. Each area of the console has its own
//! module.

mod analytics;
mod assets;
mod budgets;
mod catalog;
mod charts;
mod customers;
mod help;
mod home;
mod inventory;
mod jobs;
mod orders;
mod promotions;
mod settings;
mod support;
mod support_reports;
mod support_setup;
mod ui;
mod views;

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
use maud::{Markup, html};
use serde::Deserialize;

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
        .merge(promotions::routes())
        .merge(budgets::routes())
        .merge(support::routes())
        .merge(support_reports::routes())
        .merge(support_setup::routes())
        .merge(settings::routes())
        .merge(jobs::routes())
        .merge(assets::routes())
        .merge(help::routes())
        .merge(views::routes())
        .layer(axum::middleware::map_request(mark_path))
        .layer(axum::middleware::map_response(security_headers))
}

/// What a console page may load and do: only this site's own style sheet, script, images and
/// form targets; no frame may hold it (clickjacking), no type is guessed, and the address of a
/// page is not sent elsewhere.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

async fn security_headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// The header that tells a page where it is, for the navigation (set here, never trusted from
/// the client: any sent value is replaced).
const PATH_HEADER: &str = "x-backroom-console-path";

async fn mark_path(mut req: axum::extract::Request) -> axum::extract::Request {
    let path = req.uri().path().to_string();
    if let Ok(v) = HeaderValue::from_str(&path) {
        req.headers_mut().insert(PATH_HEADER, v);
    }
    req
}

fn path_of(headers: &HeaderMap) -> &str {
    headers
        .get(PATH_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("/console")
}

// ---------------------------------------------------------------------------------------------
// Values for forms and tables

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

/// An amount as typed in a form field: `12.50` for 1250 cents (no separators: it reads back).
fn amount_value(minor: i64, currency: &str) -> String {
    backroom_domain::Currency::parse(currency)
        .map_or_else(|_| minor.to_string(), |c| c.format_amount(minor))
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
    /// The store's zone: times are shown in it.
    zone: jiff::tz::TimeZone,
}

impl Staff {
    async fn signed_in(app: &App, headers: &HeaderMap) -> Option<Staff> {
        let secret = cookie_value(headers, COOKIE)?;
        let actor = app.authenticate(&secret).await.ok()?;
        if matches!(actor.role, Role::Ingest | Role::Storefront) {
            return None;
        }
        let zone = app
            .db
            .read(|tx| Ok(backroom_core::settings::load(tx)?.timezone))
            .await
            .ok()
            .and_then(|z| jiff::tz::TimeZone::get(&z).ok())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        Some(Staff {
            actor,
            csrf: csrf_token(&secret),
            secret,
            zone,
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

    /// A time (RFC 3339, as the services give it) as staff read it, in the store's zone:
    /// `2026-11-27 15:05 CET`. Text that is not a time is shown as it is.
    fn when(&self, rfc3339: &str) -> String {
        match rfc3339.parse::<jiff::Timestamp>() {
            Ok(t) => t
                .to_zoned(self.zone.clone())
                .strftime("%Y-%m-%d %H:%M %Z")
                .to_string(),
            Err(_) => rfc3339.to_string(),
        }
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
    /// Whether a [`ui::danger_form`]'s box was ticked; refused with the field named when not.
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
    let body = html! { p.error role="alert" { (message) } };
    (
        status,
        Html(ui::layout("Refused", staff, None, "", body).into_string()),
    )
        .into_response()
}

fn failed(staff: &Staff, e: &Error) -> Response {
    refused(status_of(e), Some(staff), &describe(e))
}

/// A signed-in page: the frame, the pending notice (then forgotten), the body.
fn page(staff: &Staff, headers: &HeaderMap, title: &str, body: Markup) -> Response {
    let notice = take_notice(headers);
    let clear = notice.is_some();
    let html = ui::layout(title, Some(staff), notice, path_of(headers), body);
    let mut r = Html(html.into_string()).into_response();
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

/// [`act`] on what a form said once it reads: a form that does not read goes back to `page`
/// with the field named, and nothing runs.
async fn act_on<P: Send + 'static, T: Send + 'static>(
    app: &App,
    staff: &Staff,
    page: &str,
    parsed: backroom_core::Result<P>,
    f: impl Fn(&mut dyn Sql, &Ctx, &P) -> backroom_core::Result<T> + Send + 'static,
    message: impl FnOnce(&T) -> String,
) -> Response {
    match parsed {
        Ok(p) => act(app, staff, page, move |tx, ctx| f(tx, ctx, &p), message).await,
        Err(e) => see_other(page, false, &describe(&e)),
    }
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

// ---------------------------------------------------------------------------------------------
// Signing in and out, and the password

async fn login_page(State(app): State<App>, headers: HeaderMap) -> Response {
    if Staff::signed_in(&app, &headers).await.is_some() {
        return Redirect::to("/console").into_response();
    }
    Html(login_html(None)).into_response()
}

fn login_html(error: Option<&str>) -> String {
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card.signin method="post" action="/console/login" {
            div.field {
                label for="email" { "Email" }
                input #email name="email" type="email" autocomplete="username" required autofocus;
            }
            div.field {
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
            }
            p { (ui::button(ui::Kind::Primary, "Sign in")) }
        }
    };
    ui::layout("Sign in", None, None, "/console/login", body).into_string()
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
    let body = html! {
        p { "Signed in as " (staff.actor.name) " with the " (staff.actor.role.as_str())
            " role. Changing the password signs out your other sessions." }
        (ui::form(&staff, "/console/password", html! {
            (ui::input("Current password", "current_password", "password", "").required().autocomplete("current-password"))
            (ui::input("New password", "new_password", "password", "").required().minlength(10)
                .autocomplete("new-password").hint("10 characters or more"))
        }, "Change password"))
    };
    page(&staff, &headers, "Your account", body)
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

#[cfg(test)]
mod tests {
    /// Every page is a template: no console module builds HTML from strings or escapes by hand
    /// (the 242 `format!` calls and 204 hand-written escapes this console once had).
    #[test]
    fn no_html_is_built_from_strings() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http/console");
        let mut files = vec![dir.clone()];
        let mut found = Vec::new();
        while let Some(p) = files.pop() {
            if p.is_dir() {
                files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
                continue;
            }
            if p.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            // The tests below are not pages (and name what they look for).
            let pages = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, line) in pages.lines().enumerate() {
                let l = line.trim_start();
                if l.starts_with("//") {
                    continue;
                }
                let built = [
                    "format!(\"<",
                    "push_str(\"<",
                    "write!(out, \"<",
                    "PreEscaped",
                    concat!("fn es", "c("),
                ]
                .iter()
                .any(|p| l.contains(p));
                if built {
                    found.push(format!("{}:{}: {l}", p.display(), i + 1));
                }
            }
        }
        assert!(
            found.is_empty(),
            "HTML built from strings:\n{}",
            found.join("\n")
        );
    }
}
