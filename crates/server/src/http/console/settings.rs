//! Settings: locations, channels (sourcing strategy, handling time), users and roles, API tokens,
//! webhooks with their delivery log and replay, imports (upload, progress, rejected rows), and
//! the audit log.

use super::{
    App, Fields, Posted, Staff, act, amount_value, badge, describe, esc, failed, filter_form, form,
    input, link, load, names, options, page_html, pager, see_other, select, table, when,
};
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backroom_core::api::{ChannelPatch, LocationPatch, NewChannel, NewLocation, NewToken, NewUser};
use backroom_core::audit::{self, AuditQuery};
use backroom_core::imports::jobs::{self as import_jobs, NewImport};
use backroom_core::webhooks::{self, NewSubscription};
use backroom_core::{Error, auth, catalog};
use backroom_domain::order::LocationKind;
use backroom_domain::roles::{ALL_ROLES, Permission};
use backroom_domain::sourcing::Strategy;
use std::fmt::Write;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/settings", get(index))
        .route("/console/settings/store", get(store).post(update_store))
        .route(
            "/console/settings/locations",
            get(locations).post(create_location),
        )
        .route("/console/settings/locations/{id}", post(update_location))
        .route(
            "/console/settings/channels",
            get(channels).post(create_channel),
        )
        .route("/console/settings/channels/{id}", post(update_channel))
        .route("/console/settings/users", get(users).post(create_user))
        .route("/console/settings/users/{id}/{action}", post(user_action))
        .route("/console/settings/tokens", get(tokens).post(create_token))
        .route("/console/settings/tokens/{id}/revoke", post(revoke_token))
        .route(
            "/console/settings/webhooks",
            get(webhooks_page).post(create_webhook),
        )
        .route(
            "/console/settings/webhooks/{id}/deactivate",
            post(deactivate_webhook),
        )
        .route("/console/settings/deliveries/{id}/replay", post(replay))
        .route(
            "/console/settings/imports",
            get(imports)
                .post(upload)
                .layer(axum::extract::DefaultBodyLimit::max(256 << 20)),
        )
        .route("/console/settings/imports/{id}/rejects.csv", get(rejects))
        .route("/console/settings/audit", get(audit_log))
}

/// The settings pages a role may open: (permission, path, title, what it is for).
const PAGES: [(Permission, &str, &str, &str); 9] = [
    (
        Permission::SettingsWrite,
        "/console/settings/store",
        "Store",
        "name, currency, time zone, taxes per destination, shipping rates",
    ),
    (
        Permission::SettingsWrite,
        "/console/settings/locations",
        "Locations",
        "warehouses and boutiques: what ships online, offers pickup, sells in store; sourcing priority",
    ),
    (
        Permission::SettingsWrite,
        "/console/settings/channels",
        "Channels",
        "where orders come from: their locations, sourcing strategy, handling and pickup times",
    ),
    (
        Permission::UsersAdmin,
        "/console/settings/users",
        "Users and roles",
        "staff accounts and what each role may do",
    ),
    (
        Permission::OrdersRead,
        "/console/settings/tokens",
        "API tokens",
        "keys for integrations and storefronts, shown once and stored hashed",
    ),
    (
        Permission::SettingsWrite,
        "/console/settings/webhooks",
        "Webhooks",
        "endpoints told of orders, returns and low stock; the delivery log and replay",
    ),
    (
        Permission::OrdersRead,
        "/console/settings/imports",
        "Imports",
        "products, stock and order history from CSV files, with progress and rejected rows",
    ),
    (
        Permission::SettingsWrite,
        "/console/settings/jobs",
        "Jobs",
        "the background work queue: status, attempts, the server running each, retry and cancel",
    ),
    (
        Permission::AuditRead,
        "/console/settings/audit",
        "Audit log",
        "every change: who, what, when",
    ),
];

async fn index(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(staff) = Staff::signed_in(&app, &headers).await else {
        return axum::response::Redirect::to("/console/login").into_response();
    };
    let mut body = String::from("<ul class=\"settings\">");
    for (p, path, title, what) in PAGES {
        if staff.may(p) {
            let _ = write!(body, "<li>{}: {}</li>", link(path, title), esc(what));
        }
    }
    body.push_str("</ul>");
    page_html(&staff, &headers, "Settings", &body)
}

fn yes_no(label: &str, name: &str, value: bool) -> String {
    select(
        label,
        name,
        &[("yes".into(), "yes".into()), ("no".into(), "no".into())],
        if value { "yes" } else { "no" },
    )
}

// ---------------------------------------------------------------------------------------------
// The store: currency, zone, taxes, shipping rates

fn textarea(label: &str, name: &str, value: &str, hint: &str) -> String {
    format!(
        "<label>{} <small>{}</small><textarea name=\"{}\" rows=\"5\" cols=\"60\">{}</textarea></label>",
        esc(label),
        esc(hint),
        esc(name),
        esc(value)
    )
}

async fn store(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SettingsWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let s = match load(&app, &staff, backroom_core::settings::current).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let taxes: Vec<String> = s
        .tax_rates
        .iter()
        .map(|t| match &t.region {
            Some(r) => format!("{}/{} {}", t.country, r, t.rate),
            None => format!("{} {}", t.country, t.rate),
        })
        .collect();
    let rates: Vec<String> = s
        .shipping_rates
        .iter()
        .map(|r| {
            format!(
                "{}; {}; {}; {}; {}",
                r.method,
                r.name,
                amount_value(r.price, &s.currency),
                r.countries.join(" "),
                r.free_above
                    .map(|f| amount_value(f, &s.currency))
                    .unwrap_or_default()
            )
        })
        .collect();
    let body = form(
        &staff,
        "/console/settings/store",
        &[
            input("Store name", "store_name", "text", &s.store_name, "required"),
            input(
                "Currency (fixed once there are orders)",
                "currency",
                "text",
                &s.currency,
                "size=\"4\" required",
            ),
            input("Time zone", "timezone", "text", &s.timezone, "required"),
            input(
                "Attribution window (days)",
                "attribution_window_days",
                "number",
                &s.attribution_window_days.to_string(),
                "min=\"1\" max=\"365\"",
            ),
            input(
                "Default tax rate",
                "default_tax_rate",
                "text",
                &s.default_tax_rate,
                "size=\"8\"",
            ),
            yes_no("Shipping is taxed", "shipping_taxed", s.shipping_taxed),
            textarea(
                "Tax rates by destination",
                "tax_rates",
                &taxes.join("\n"),
                "one per line: country (or country/region) and rate, e.g. IT 0.22 or US/CA 0.0725",
            ),
            textarea(
                "Shipping rates",
                "shipping_rates",
                &rates.join("\n"),
                "one per line: method; name; price; countries (blank: everywhere); free from (blank: never)",
            ),
        ]
        .concat(),
        "Save settings",
    );
    page_html(&staff, &headers, "Store settings", &body)
}

/// The settings form's fields as a change; the lists are parsed line by line, each refusal naming
/// its line.
fn store_patch(
    f: &Fields,
    currency: &str,
) -> Result<backroom_core::settings::SettingsPatch, Error> {
    use backroom_core::settings::{SettingsPatch, ShippingRate, TaxRate};
    let cur = backroom_domain::Currency::parse(currency)?;
    let lines = |name: &str| -> Vec<(usize, String)> {
        f.raw(name)
            .lines()
            .map(str::trim)
            .enumerate()
            .filter(|(_, l)| !l.is_empty())
            .map(|(i, l)| (i, l.to_string()))
            .collect()
    };
    let mut tax_rates = Vec::new();
    for (i, l) in lines("tax_rates") {
        let (place, rate) = l.split_once(char::is_whitespace).ok_or_else(|| {
            Error::invalid(
                format!("tax_rates line {}", i + 1),
                "write the destination, a space, then the rate, e.g. IT 0.22",
            )
        })?;
        let (country, region) = match place.split_once('/') {
            Some((c, r)) => (c.to_string(), Some(r.to_string())),
            None => (place.to_string(), None),
        };
        tax_rates.push(TaxRate {
            country,
            region,
            rate: rate.trim().to_string(),
        });
    }
    let mut shipping_rates = Vec::new();
    for (i, l) in lines("shipping_rates") {
        let field = format!("shipping_rates line {}", i + 1);
        let parts: Vec<&str> = l.split(';').map(str::trim).collect();
        if parts.len() < 3 {
            return Err(Error::invalid(
                field,
                "write method; name; price; countries; free from",
            ));
        }
        let amount = |v: &str| cur.parse_amount(&field, v);
        shipping_rates.push(ShippingRate {
            method: parts[0].to_string(),
            name: parts[1].to_string(),
            price: amount(parts[2])?,
            countries: parts
                .get(3)
                .map(|c| c.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            free_above: parts
                .get(4)
                .filter(|v| !v.is_empty())
                .map(|v| amount(v))
                .transpose()?,
        });
    }
    Ok(SettingsPatch {
        store_name: f.opt("store_name"),
        currency: f.opt("currency"),
        timezone: f.opt("timezone"),
        attribution_window_days: f
            .opt_int("attribution_window_days")?
            .map(|d| u32::try_from(d).unwrap_or(0)),
        default_tax_rate: f.opt("default_tax_rate"),
        shipping_taxed: f.flag("shipping_taxed"),
        tax_rates: Some(tax_rates),
        shipping_rates: Some(shipping_rates),
        prices_include_tax: None,
    })
}

async fn update_store(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/store",
        move |tx, ctx| {
            let currency = backroom_core::settings::load(tx)?.currency;
            let patch = store_patch(&f, currency.as_str())?;
            backroom_core::settings::update(tx, ctx, &patch)
        },
        |s| {
            format!(
                "Settings saved: {} in {}, {}.",
                s.store_name, s.currency, s.timezone
            )
        },
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Locations and channels

async fn locations(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SettingsWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let list = match load(&app, &staff, catalog::list_locations).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = String::new();
    for l in &list {
        let _ = write!(
            body,
            "<section><h2>{} <code>{}</code> {}</h2>",
            esc(&l.name),
            esc(&l.code),
            badge(if l.active { "active" } else { "inactive" })
        );
        body.push_str(&form(
            &staff,
            &format!("/console/settings/locations/{}", l.id),
            &[
                input("Name", "name", "text", &l.name, "required"),
                select(
                    "Kind",
                    "kind",
                    &options(&names(LocationKind::ALL, LocationKind::as_str)),
                    &l.kind,
                ),
                yes_no("Ships online orders", "ships_online", l.ships_online),
                yes_no("Offers pickup", "offers_pickup", l.offers_pickup),
                yes_no("Sells in store", "sells_in_store", l.sells_in_store),
                input(
                    "Priority (lower first)",
                    "priority",
                    "number",
                    &l.priority.to_string(),
                    "size=\"4\"",
                ),
                yes_no("Active", "active", l.active),
            ]
            .concat(),
            "Save location",
        ));
        body.push_str("</section>");
    }
    body.push_str("<h2>New location</h2>");
    body.push_str(&form(
        &staff,
        "/console/settings/locations",
        &[
            input("Code", "code", "text", "", "required"),
            input("Name", "name", "text", "", "required"),
            select(
                "Kind",
                "kind",
                &options(&names(LocationKind::ALL, LocationKind::as_str)),
                "warehouse",
            ),
            input("Priority", "priority", "number", "", "size=\"4\""),
        ]
        .concat(),
        "Create location",
    ));
    page_html(&staff, &headers, "Locations", &body)
}

async fn create_location(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/locations",
        move |tx, ctx| {
            catalog::create_location(
                tx,
                ctx,
                &NewLocation {
                    code: f.text("code"),
                    name: f.text("name"),
                    kind: f.text("kind"),
                    priority: f.opt_int("priority")?,
                    ..Default::default()
                },
            )
        },
        |l| format!("Location {} created.", l.code),
    )
    .await
}

async fn update_location(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form: f }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/locations",
        move |tx, ctx| {
            catalog::update_location(
                tx,
                ctx,
                id,
                &LocationPatch {
                    name: f.opt("name"),
                    kind: f.opt("kind"),
                    ships_online: f.flag("ships_online"),
                    offers_pickup: f.flag("offers_pickup"),
                    sells_in_store: f.flag("sells_in_store"),
                    priority: f.opt_int("priority")?,
                    active: f.flag("active"),
                    ..Default::default()
                },
            )
        },
        |l| format!("Location {} saved.", l.code),
    )
    .await
}

async fn channels(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SettingsWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (list, locations) = match load(&app, &staff, |tx| {
        Ok((catalog::list_channels(tx)?, catalog::list_locations(tx)?))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = String::new();
    for c in &list {
        let _ = write!(
            body,
            "<section><h2>{} <code>{}</code> {}</h2>",
            esc(&c.name),
            esc(&c.code),
            badge(if c.active { "active" } else { "inactive" })
        );
        let mut boxes = String::from("<fieldset><legend>Sells from</legend>");
        for l in &locations {
            let _ = write!(
                boxes,
                "<label><input type=\"checkbox\" name=\"location_id\" value=\"{}\"{}> {}</label>",
                l.id,
                if c.location_ids.contains(&l.id) {
                    " checked"
                } else {
                    ""
                },
                esc(&l.name)
            );
        }
        boxes.push_str("</fieldset>");
        body.push_str(&form(
            &staff,
            &format!("/console/settings/channels/{}", c.id),
            &[
                input("Name", "name", "text", &c.name, "required"),
                select(
                    "Sourcing strategy",
                    "sourcing_strategy",
                    &options(&names(&Strategy::ALL, Strategy::as_str)),
                    &c.sourcing_strategy,
                ),
                input(
                    "Handling time (hours)",
                    "handling_hours",
                    "number",
                    &c.handling_hours.to_string(),
                    "min=\"0\" size=\"4\"",
                ),
                input(
                    "Pickup hold (hours)",
                    "pickup_hold_hours",
                    "number",
                    &c.pickup_hold_hours.to_string(),
                    "min=\"1\" size=\"4\"",
                ),
                yes_no("Active", "active", c.active),
                boxes,
            ]
            .concat(),
            "Save channel",
        ));
        body.push_str("</section>");
    }
    body.push_str("<h2>New channel</h2>");
    body.push_str(&form(
        &staff,
        "/console/settings/channels",
        &[
            input("Code", "code", "text", "", "required"),
            input("Name", "name", "text", "", "required"),
            select("Kind", "kind", &options(&catalog::CHANNEL_KINDS), "online"),
            select(
                "Sourcing strategy",
                "sourcing_strategy",
                &options(&names(&Strategy::ALL, Strategy::as_str)),
                "fewest_shipments",
            ),
        ]
        .concat(),
        "Create channel",
    ));
    page_html(&staff, &headers, "Channels", &body)
}

fn location_ids(f: &Fields) -> Result<Vec<i64>, Error> {
    f.all("location_id")
        .iter()
        .map(|v| {
            v.parse()
                .map_err(|_| Error::invalid("location_ids", "must be location ids"))
        })
        .collect()
}

async fn create_channel(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/channels",
        move |tx, ctx| {
            catalog::create_channel(
                tx,
                ctx,
                &NewChannel {
                    code: f.text("code"),
                    name: f.text("name"),
                    kind: f.text("kind"),
                    location_ids: location_ids(&f)?,
                    sourcing_strategy: f.opt("sourcing_strategy"),
                    ..Default::default()
                },
            )
        },
        |c| format!("Channel {} created; choose its locations.", c.code),
    )
    .await
}

async fn update_channel(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form: f }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/channels",
        move |tx, ctx| {
            catalog::update_channel(
                tx,
                ctx,
                id,
                &ChannelPatch {
                    name: f.opt("name"),
                    active: f.flag("active"),
                    location_ids: Some(location_ids(&f)?),
                    sourcing_strategy: f.opt("sourcing_strategy"),
                    handling_hours: f.opt_int("handling_hours")?,
                    pickup_hold_hours: f.opt_int("pickup_hold_hours")?,
                },
            )
        },
        |c| format!("Channel {} saved.", c.code),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Users and tokens

async fn users(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::UsersAdmin).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let list = match load(&app, &staff, move |tx| auth::list_users(tx, &ctx)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|u| {
            let action = if u.id == staff.actor.user_id {
                "(you)".to_string()
            } else if u.active {
                form(
                    &staff,
                    &format!("/console/settings/users/{}/deactivate", u.id),
                    "",
                    "Deactivate",
                )
            } else {
                form(
                    &staff,
                    &format!("/console/settings/users/{}/activate", u.id),
                    "",
                    "Activate",
                )
            };
            vec![
                esc(&u.name),
                esc(&u.email),
                badge(&u.role),
                badge(if u.active { "active" } else { "inactive" }),
                esc(&when(&u.created_at)),
                action,
            ]
        })
        .collect();
    let mut body = table(
        "Staff and integration accounts",
        &["Name", "Email", "Role", "", "Since", ""],
        &rows,
        "No user.",
    );
    let roles: Vec<(String, String)> = ALL_ROLES
        .iter()
        .map(|r| (r.as_str().to_string(), r.as_str().to_string()))
        .collect();
    body.push_str("<h2>New user</h2>");
    body.push_str(&form(
        &staff,
        "/console/settings/users",
        &[
            input("Email", "email", "email", "", "required"),
            input("Name", "name", "text", "", "required"),
            select("Role", "role", &roles, "support"),
            input(
                "Password (10 characters or more)",
                "password",
                "password",
                "",
                "minlength=\"10\" autocomplete=\"new-password\" required",
            ),
        ]
        .concat(),
        "Create user",
    ));
    body.push_str(
        "<p>Roles: admin does everything; operations everything but users and the audit log; \
         inventory manages stock; fulfillment picks, packs and ships; support handles orders and \
         customers without touching stock; marketing reads and runs campaigns; analyst reads \
         everything but users and the audit log.</p>",
    );
    page_html(&staff, &headers, "Users and roles", &body)
}

async fn create_user(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    let back = "/console/settings/users";
    if let Err(e) = staff.actor.require(Permission::UsersAdmin) {
        return see_other(back, false, &describe(&e));
    }
    let new = NewUser {
        email: f.text("email"),
        name: f.text("name"),
        role: f.text("role"),
        password: Some(f.raw("password").to_string()),
    };
    let prepared = match tokio::task::spawn_blocking(move || auth::prepare_user(&new)).await {
        Ok(Ok(p)) => std::sync::Arc::new(p),
        Ok(Err(e)) => return see_other(back, false, &describe(&e)),
        Err(e) => return see_other(back, false, &e.to_string()),
    };
    act(
        &app,
        &staff,
        back,
        move |tx, ctx| auth::create_user(tx, ctx, &prepared),
        |u| format!("{} can now sign in as {}.", u.email, u.role),
    )
    .await
}

async fn user_action(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, .. }: Posted,
) -> Response {
    let active = action == "activate";
    let r = act(
        &app,
        &staff,
        "/console/settings/users",
        move |tx, ctx| auth::set_user_active(tx, ctx, id, active),
        |u| {
            format!(
                "{} is {}.",
                u.email,
                if u.active {
                    "active"
                } else {
                    "deactivated: their sessions and tokens stop working"
                }
            )
        },
    )
    .await;
    app.forget_tokens();
    r
}

async fn tokens(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    tokens_page(&app, &headers, &staff, None).await
}

async fn tokens_page(
    app: &App,
    headers: &HeaderMap,
    staff: &Staff,
    issued: Option<&str>,
) -> Response {
    let ctx = staff.ctx();
    let list = match load(app, staff, move |tx| auth::list_tokens(tx, &ctx)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = String::new();
    if let Some(t) = issued {
        let _ = write!(
            body,
            "<p class=\"notice ok\" role=\"status\">The new token is <code data-token>{}</code>. Copy it now: it is shown this once and stored only as a hash.</p>",
            esc(t)
        );
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .filter(|t| t.kind != "session")
        .map(|t| {
            vec![
                esc(&t.name),
                format!("<code>{}…</code>", esc(&t.prefix)),
                badge(&t.kind),
                esc(&when(&t.created_at)),
                esc(&t
                    .expires_at
                    .as_deref()
                    .map(when)
                    .unwrap_or_else(|| "never".into())),
                match &t.revoked_at {
                    Some(at) => format!("revoked {}", esc(&when(at))),
                    None => form(
                        staff,
                        &format!("/console/settings/tokens/{}/revoke", t.id),
                        "",
                        "Revoke",
                    ),
                },
            ]
        })
        .collect();
    body.push_str(&table(
        "API tokens",
        &["Name", "Starts with", "Kind", "Created", "Expires", ""],
        &rows,
        "No API token.",
    ));
    body.push_str("<h2>New token</h2>");
    body.push_str(&form(
        staff,
        "/console/settings/tokens",
        &[
            input("Name", "name", "text", "", "required"),
            input(
                "Expires in (days, empty for never)",
                "expires_in_days",
                "number",
                "",
                "min=\"1\"",
            ),
            select(
                "Kind",
                "ingest",
                &[
                    ("no".into(), "API token acting as you".into()),
                    ("yes".into(), "ingest key (storefront events only)".into()),
                ],
                "no",
            ),
        ]
        .concat(),
        "Create token",
    ));
    page_html(staff, headers, "API tokens", &body)
}

/// A new token is shown on the page that answers the form, never stored or sent again.
async fn create_token(
    State(app): State<App>,
    headers: HeaderMap,
    Posted { staff, form: f }: Posted,
) -> Response {
    let ctx = staff.ctx();
    let r = app
        .db
        .write(move |tx| {
            auth::create_token(
                tx,
                &ctx,
                &NewToken {
                    name: f.text("name"),
                    user_id: None,
                    expires_in_days: f.opt_int("expires_in_days")?,
                    ingest: f.flag("ingest").unwrap_or(false),
                },
            )
        })
        .await;
    match r {
        Ok(t) => {
            let mut resp = tokens_page(&app, &headers, &staff, Some(&t.token)).await;
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => see_other("/console/settings/tokens", false, &describe(&e)),
    }
}

async fn revoke_token(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, .. }: Posted,
) -> Response {
    let r = act(
        &app,
        &staff,
        "/console/settings/tokens",
        move |tx, ctx| auth::revoke_token(tx, ctx, id),
        |t| format!("Token {} revoked.", t.name),
    )
    .await;
    app.forget_tokens();
    r
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async fn webhooks_page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SettingsWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let subs = match load(&app, &staff, move |tx| {
        let subs = webhooks::list_subscriptions(tx, &ctx)?;
        let mut out = Vec::new();
        for s in subs {
            let d = webhooks::deliveries(tx, &ctx, s.id, 25)?;
            out.push((s, d));
        }
        Ok(out)
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let only_failed = q.get("status") == Some("failed");
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{}</p>",
        if only_failed {
            link("/console/settings/webhooks", "Show every delivery")
        } else {
            link(
                "/console/settings/webhooks?status=failed",
                "Show failed deliveries only",
            )
        }
    );
    for (s, deliveries) in &subs {
        let _ = write!(
            body,
            "<section><h2>{} {}</h2><p>Sends: {}</p>",
            esc(&s.url),
            badge(if s.active { "active" } else { "inactive" }),
            esc(&s.event_types.join(", "))
        );
        if s.active {
            body.push_str(&form(
                &staff,
                &format!("/console/settings/webhooks/{}/deactivate", s.id),
                "",
                "Stop sending",
            ));
        }
        let rows: Vec<Vec<String>> = deliveries
            .iter()
            .filter(|d| !only_failed || d.status == "failed")
            .map(|d| {
                vec![
                    d.id.to_string(),
                    esc(&d.event_type),
                    badge(&d.status),
                    d.attempts.to_string(),
                    d.last_status_code
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                    esc(d.last_error.as_deref().unwrap_or_default()),
                    esc(&when(&d.created_at)),
                    if d.status == "failed" {
                        form(
                            &staff,
                            &format!("/console/settings/deliveries/{}/replay", d.id),
                            "",
                            "Replay",
                        )
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        body.push_str(&table(
            "Latest deliveries",
            &[
                "#", "Event", "Status", "Attempts", "HTTP", "Error", "Created", "",
            ],
            &rows,
            "No delivery.",
        ));
        body.push_str("</section>");
    }
    let mut boxes = String::from("<fieldset><legend>Events</legend>");
    for e in webhooks::EVENT_TYPES {
        let _ = write!(
            boxes,
            "<label><input type=\"checkbox\" name=\"event_type\" value=\"{e}\"> {e}</label>"
        );
    }
    boxes.push_str("</fieldset>");
    body.push_str("<h2>New endpoint</h2>");
    body.push_str(&form(
        &staff,
        "/console/settings/webhooks",
        &[
            input("URL", "url", "url", "", "required size=\"50\""),
            boxes,
        ]
        .concat(),
        "Add endpoint",
    ));
    page_html(&staff, &headers, "Webhooks", &body)
}

async fn create_webhook(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/webhooks",
        move |tx, ctx| {
            webhooks::create_subscription(
                tx,
                ctx,
                &NewSubscription {
                    url: f.text("url"),
                    event_types: f.all("event_type").iter().map(|s| s.to_string()).collect(),
                },
            )
        },
        |s| {
            format!(
                "Endpoint added. Its signing secret (shown once): {}",
                s.secret.as_deref().unwrap_or_default()
            )
        },
    )
    .await
}

async fn deactivate_webhook(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, .. }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/webhooks",
        move |tx, ctx| webhooks::deactivate_subscription(tx, ctx, id),
        |s| format!("No more events go to {}.", s.url),
    )
    .await
}

async fn replay(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, .. }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/webhooks",
        move |tx, ctx| webhooks::replay(tx, ctx, id),
        |d| format!("Delivery {} queued again.", d.id),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Imports

/// Rejected rows in a job's summary (which lists the first 100; the CSV has them all).
fn rejected_of(summary: &Option<serde_json::Value>) -> usize {
    summary
        .as_ref()
        .and_then(|s| s.get("rejected"))
        .and_then(|v| v.as_array())
        .map_or(0, Vec::len)
}

async fn imports(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let jobs = match load(&app, &staff, |tx| import_jobs::list(tx, 50)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let running = jobs
        .iter()
        .any(|j| j.status == "running" || j.status == "queued");
    let mut body = String::new();
    if running {
        // Live progress without script: the page reloads itself while an import runs.
        body.push_str("<meta http-equiv=\"refresh\" content=\"2\"><p role=\"status\">An import is running; this page refreshes every 2 seconds.</p>");
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let summary = j
                .summary
                .as_ref()
                .map(|s| {
                    let n = |k: &str| s.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
                    format!(
                        "{} rows: {} created, {} updated, {} unchanged, {} rejected",
                        n("rows"),
                        n("created"),
                        n("updated"),
                        n("unchanged"),
                        match rejected_of(&j.summary) {
                            100 => "100 or more".to_string(),
                            r => r.to_string(),
                        },
                    )
                })
                .unwrap_or_default();
            let rejected = rejected_of(&j.summary);
            vec![
                j.id.to_string(),
                esc(&j.kind),
                badge(&j.status),
                format!(
                    "<progress max=\"100\" value=\"{p}\" aria-label=\"Import {} progress\">{p}%</progress> {p}%",
                    j.id,
                    p = j.percent
                ),
                esc(&summary),
                esc(j.error.as_deref().unwrap_or_default()),
                if rejected > 0 {
                    link(
                        &format!("/console/settings/imports/{}/rejects.csv", j.id),
                        "Rejected rows (CSV)",
                    )
                } else {
                    String::new()
                },
                esc(&when(&j.created_at)),
            ]
        })
        .collect();
    body.push_str(&table(
        "Imports, newest first",
        &[
            "#", "Kind", "Status", "Progress", "Result", "Error", "", "Started",
        ],
        &rows,
        "No import yet.",
    ));
    body.push_str(&format!(
        "<h2>Upload a file</h2><form method=\"post\" action=\"/console/settings/imports\" enctype=\"multipart/form-data\" class=\"act\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">{}{}<label><input type=\"checkbox\" name=\"dry_run\" value=\"yes\"> Dry run (report only)</label>\
         <label>CSV file <input type=\"file\" name=\"file\" accept=\".csv,text/csv\" required></label><button type=\"submit\">Import</button></form>\
         <p>Products come from Shopify, WooCommerce, Magento or Backroom CSV (detected); stock as <code>sku,location,quantity</code>; \
         orders as the UCI Online Retail layout, Shopify's export or Backroom's. Files over 256 MB: use <code>backroom import</code>.</p>",
        esc(&staff.csrf),
        select("What", "kind", &options(&["products", "stock", "orders"]), "products"),
        input("Stock location (products; code)", "location", "text", "", ""),
    ));
    page_html(&staff, &headers, "Imports", &body)
}

/// The upload: the form's fields and the file, then the job starts and the list shows it.
async fn upload(State(app): State<App>, headers: HeaderMap, mut multipart: Multipart) -> Response {
    let back = "/console/settings/imports";
    let mut fields = Fields::default();
    let mut file = None;
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                if name == "file" {
                    match field.bytes().await {
                        Ok(b) => file = Some(b),
                        Err(e) => {
                            return see_other(back, false, &format!("The upload failed: {e}"));
                        }
                    }
                } else {
                    match field.text().await {
                        Ok(t) => fields.0.push((name, t)),
                        Err(e) => {
                            return see_other(back, false, &format!("The upload failed: {e}"));
                        }
                    }
                }
            }
            Ok(None) => break,
            Err(e) => return see_other(back, false, &format!("The upload failed: {e}")),
        }
    }
    let staff = match Staff::posting(&app, &headers, &fields).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return see_other(back, false, "file: choose a CSV file to import");
    };
    let n = NewImport {
        kind: fields.text("kind"),
        dry_run: fields.flag("dry_run").unwrap_or(false),
        location: fields.opt("location"),
        ..Default::default()
    };
    match import_jobs::start(&app.db, staff.actor.clone(), n, file).await {
        Ok(j) => see_other(
            back,
            true,
            &format!("Import {} started: {} bytes to read.", j.id, j.bytes_total),
        ),
        Err(e) => see_other(back, false, &describe(&e)),
    }
}

async fn rejects(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match app
        .db
        .read(move |tx| import_jobs::rejects_csv(tx, id))
        .await
    {
        Ok(csv) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"import-{id}-rejected.csv\""),
                ),
            ],
            csv,
        )
            .into_response(),
        Err(e) => failed(&staff, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// The audit log

async fn audit_log(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AuditRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = AuditQuery {
        entity_type: q.opt("entity_type"),
        entity_id: q.opt("entity_id"),
        action: q.opt("action"),
        actor_user_id: None,
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let found = match load(&app, &staff, move |tx| audit::list(tx, &query)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = filter_form(
        "/console/settings/audit",
        &[
            input(
                "Entity type",
                "entity_type",
                "text",
                &q.text("entity_type"),
                "placeholder=\"order\"",
            ),
            input("Entity id", "entity_id", "text", &q.text("entity_id"), ""),
            input(
                "Action",
                "action",
                "text",
                &q.text("action"),
                "placeholder=\"order.cancelled\"",
            ),
        ]
        .concat(),
    );
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|e| {
            let mut changes = e.changes.to_string();
            if changes.len() > 300 {
                let mut cut = 300;
                while !changes.is_char_boundary(cut) {
                    cut -= 1;
                }
                changes.truncate(cut);
                changes.push('…');
            }
            vec![
                esc(&when(&e.created_at)),
                esc(&e.actor),
                badge(&e.action),
                esc(&format!("{} {}", e.entity_type, e.entity_id)),
                format!("<code>{}</code>", esc(&changes)),
            ]
        })
        .collect();
    body.push_str(&table(
        "Every change, newest first",
        &["When", "Who", "Action", "What", "Changes"],
        &rows,
        "No entry matches.",
    ));
    body.push_str(&pager(
        "/console/settings/audit",
        &q,
        found.next_cursor.as_deref(),
    ));
    page_html(&staff, &headers, "Audit log", &body)
}
