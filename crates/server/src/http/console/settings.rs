//! Settings: locations, channels (sourcing strategy, handling time), users and roles, API tokens,
//! webhooks with their delivery log and replay, imports (upload, progress, rejected rows), and
//! the audit log ([`audit`]).

mod audit;

use super::ui::{self, Kind, col};
use super::{
    App, Fields, Posted, Staff, act, amount_value, describe, failed, load, page, see_other,
};
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backroom_core::api::{
    Channel, ChannelPatch, Location, LocationPatch, NewChannel, NewLocation, NewToken, NewUser,
};
use backroom_core::imports::jobs::{self as import_jobs, ImportJob, NewImport};
use backroom_core::webhooks::{self, NewSubscription};
use backroom_core::{Error, auth, catalog};
use backroom_domain::order::LocationKind;
use backroom_domain::roles::{ALL_ROLES, Permission};
use backroom_domain::sourcing::Strategy;
use maud::{Markup, html};

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
        .route("/console/settings/audit", get(audit::audit_log))
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
    let body = html! {
        ul.settings {
            @for (p, path, title, what) in PAGES {
                @if staff.may(p) { li { (ui::link(path, title)) ": " (what) } }
            }
        }
    };
    page(&staff, &headers, "Settings", body)
}

/// The choices of a yes/no field.
fn yes_no_options() -> Vec<(String, String)> {
    ui::options(&["yes", "no"])
}

fn yes_no_of(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

// ---------------------------------------------------------------------------------------------
// The store: currency, zone, taxes, shipping rates

async fn store(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::SettingsWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    store_page(&app, &staff, &headers, None).await
}

/// The store's settings: the form with the current values or, after a refusal, with what was
/// typed, the reason above it and under the field it names; then the shipping rates.
async fn store_page(
    app: &App,
    staff: &Staff,
    headers: &HeaderMap,
    refused: Option<(&Fields, &backroom_core::Error)>,
) -> Response {
    let s = match load(app, staff, backroom_core::settings::current).await {
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
    let window = s.attribution_window_days.to_string();
    let (taxes, rates) = (taxes.join("\n"), rates.join("\n"));
    let v = |name: &str, current: &str| -> String {
        refused.map_or(current.to_string(), |(f, _)| f.raw(name).to_string())
    };
    let refusal = refused.map(|(_, e)| describe(e));
    let r = refusal.as_deref();
    let fields = html! {
        (ui::input("Store name", "store_name", "text", &v("store_name", &s.store_name)).required().error_from(r))
        (ui::input("Currency (fixed once there are orders)", "currency", "text", &v("currency", &s.currency))
            .size(4).required().error_from(r))
        (ui::input("Time zone", "timezone", "text", &v("timezone", &s.timezone)).required()
            .hint("IANA name, e.g. Europe/Rome: times and report days follow it").error_from(r))
        (ui::input("Attribution window (days)", "attribution_window_days", "number", &v("attribution_window_days", &window))
            .min("1").max("365").error_from(r))
        (ui::input("Default tax rate", "default_tax_rate", "text", &v("default_tax_rate", &s.default_tax_rate))
            .size(8).inputmode("decimal").error_from(r))
        (ui::select("Shipping is taxed", "shipping_taxed", &yes_no_options(), &v("shipping_taxed", yes_no_of(s.shipping_taxed))))
        (ui::textarea("Tax rates by destination", "tax_rates", &v("tax_rates", &taxes))
            .hint("one per line: country (or country/region) and rate, e.g. IT 0.22 or US/CA 0.0725").error_from(r))
        (ui::textarea("Shipping rates", "shipping_rates", &v("shipping_rates", &rates))
            .hint("one per line: method; name; price; countries (blank: everywhere); free from (blank: never)").error_from(r))
    };
    let body = html! {
        @if let Some(why) = r { p.notice.error role="alert" { (why) } }
        (ui::form(staff, "/console/settings/store", fields, "Save settings"))
        (shipping_rates_table(&s))
    };
    let status = refused.map_or(StatusCode::OK, |(_, e)| super::status_of(e));
    (status, page(staff, headers, "Store settings", body)).into_response()
}

/// The shipping rates as customers are charged them, amounts in the store's currency.
fn shipping_rates_table(s: &backroom_core::settings::StoreSettings) -> Markup {
    let rows = s
        .shipping_rates
        .iter()
        .map(|r| {
            vec![
                html! { code { (r.method) } },
                html! { (r.name) },
                html! { (ui::money(r.price, &s.currency)) },
                html! { (r.free_above.map_or_else(|| "never".to_string(), |f| ui::money(f, &s.currency))) },
                html! { @if r.countries.is_empty() { "everywhere" } @else { (r.countries.join(", ")) } },
            ]
        })
        .collect();
    ui::table(
        "Shipping rates",
        &[
            col("Method"),
            col("Name"),
            col("Price").num(),
            col("Free from").num(),
            col("Ships to"),
        ],
        rows,
        "No shipping rate yet.",
    )
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

async fn update_store(
    State(app): State<App>,
    headers: HeaderMap,
    Posted { staff, form: f }: Posted,
) -> Response {
    let (typed, ctx) = (f.clone(), staff.ctx());
    let saved = app
        .db
        .write(move |tx| {
            let currency = backroom_core::settings::load(tx)?.currency;
            let patch = store_patch(&f, currency.as_str())?;
            backroom_core::settings::update(tx, &ctx, &patch)
        })
        .await;
    match saved {
        Ok(s) => super::see_other(
            "/console/settings/store",
            true,
            &format!(
                "Settings saved: {} in {}, {}.",
                s.store_name, s.currency, s.timezone
            ),
        ),
        // Shown again with what was typed: nothing of a long form is lost to one mistake.
        Err(e) => store_page(&app, &staff, &headers, Some((&typed, &e))).await,
    }
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
    let kinds = ui::options(&ui::names(LocationKind::ALL, LocationKind::as_str));
    let body = html! {
        @for l in &list { (location_section(&staff, l, &kinds)) }
        h2 { "New location" }
        (ui::form(&staff, "/console/settings/locations", html! {
            (ui::input("Code", "code", "text", "").required())
            (ui::input("Name", "name", "text", "").required())
            (ui::select("Kind", "kind", &kinds, "warehouse"))
            (ui::input("Priority", "priority", "number", "").size(4))
        }, "Create location"))
    };
    page(&staff, &headers, "Locations", body)
}

/// A location: its name, code and state, and the form that changes it.
fn location_section(staff: &Staff, l: &Location, kinds: &[(String, String)]) -> Markup {
    let yn = yes_no_options();
    let fields = html! {
        (ui::input("Name", "name", "text", &l.name).required())
        (ui::select("Kind", "kind", kinds, &l.kind))
        (ui::select("Ships online orders", "ships_online", &yn, yes_no_of(l.ships_online)))
        (ui::select("Offers pickup", "offers_pickup", &yn, yes_no_of(l.offers_pickup)))
        (ui::select("Sells in store", "sells_in_store", &yn, yes_no_of(l.sells_in_store)))
        (ui::input("Priority (lower first)", "priority", "number", &l.priority.to_string()).size(4))
        (ui::select("Active", "active", &yn, yes_no_of(l.active)))
    };
    html! {
        section.card data-location=(l.id) {
            h2 { (l.name) " " code { (l.code) } " " (ui::badge(if l.active { "active" } else { "inactive" })) }
            (ui::form(staff, &format!("/console/settings/locations/{}", l.id), fields, "Save location"))
        }
    }
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
    let strategies = ui::options(&ui::names(&Strategy::ALL, Strategy::as_str));
    let body = html! {
        @for c in &list { (channel_section(&staff, c, &locations, &strategies)) }
        h2 { "New channel" }
        (ui::form(&staff, "/console/settings/channels", html! {
            (ui::input("Code", "code", "text", "").required())
            (ui::input("Name", "name", "text", "").required())
            (ui::select("Kind", "kind", &ui::options(&catalog::CHANNEL_KINDS), "online"))
            (ui::select("Sourcing strategy", "sourcing_strategy", &strategies, "fewest_shipments"))
        }, "Create channel"))
    };
    page(&staff, &headers, "Channels", body)
}

/// A channel: its name, code and state, and the form that changes it, with a box per location
/// it may sell from.
fn channel_section(
    staff: &Staff,
    c: &Channel,
    locations: &[Location],
    strategies: &[(String, String)],
) -> Markup {
    let fields = html! {
        (ui::input("Name", "name", "text", &c.name).required())
        (ui::select("Sourcing strategy", "sourcing_strategy", strategies, &c.sourcing_strategy))
        (ui::input("Handling time (hours)", "handling_hours", "number", &c.handling_hours.to_string()).min("0").size(4))
        (ui::input("Pickup hold (hours)", "pickup_hold_hours", "number", &c.pickup_hold_hours.to_string()).min("1").size(4))
        (ui::select("Active", "active", &yes_no_options(), yes_no_of(c.active)))
        fieldset {
            legend { "Sells from" }
            @for l in locations {
                (ui::checkbox(&l.name, "location_id", &l.id.to_string(), c.location_ids.contains(&l.id)))
            }
        }
    };
    html! {
        section.card data-channel=(c.id) {
            h2 { (c.name) " " code { (c.code) } " " (ui::badge(if c.active { "active" } else { "inactive" })) }
            (ui::form(staff, &format!("/console/settings/channels/{}", c.id), fields, "Save channel"))
        }
    }
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
    let rows: Vec<Vec<Markup>> = list
        .iter()
        .map(|u| {
            let action = if u.id == staff.actor.user_id {
                html! { span.muted { "(you)" } }
            } else if u.active {
                ui::danger_form(
                    &staff,
                    &format!("/console/settings/users/{}/deactivate", u.id),
                    html! {},
                    "Deactivate",
                    "Yes, deactivate: their sessions and tokens stop working",
                )
            } else {
                ui::form_of(
                    &staff,
                    &format!("/console/settings/users/{}/activate", u.id),
                    html! {},
                    Kind::Secondary,
                    "Activate",
                )
            };
            vec![
                html! { (u.name) },
                html! { (u.email) },
                ui::badge(&u.role),
                ui::badge(if u.active { "active" } else { "inactive" }),
                html! { (staff.when(&u.created_at)) },
                action,
            ]
        })
        .collect();
    let roles: Vec<(String, String)> = ALL_ROLES
        .iter()
        .map(|r| (r.as_str().to_string(), r.as_str().to_string()))
        .collect();
    let body = html! {
        (ui::table("Staff and integration accounts",
            &[col("Name"), col("Email"), col("Role"), col("State"), col("Since"), col("")],
            rows, "No user."))
        h2 { "New user" }
        (ui::form(&staff, "/console/settings/users", html! {
            (ui::input("Email", "email", "email", "").required())
            (ui::input("Name", "name", "text", "").required())
            (ui::select("Role", "role", &roles, "support"))
            (ui::input("Password", "password", "password", "").minlength(10)
                .autocomplete("new-password").required().hint("10 characters or more"))
        }, "Create user"))
        p { "Roles: admin does everything; operations everything but users and the audit log; \
            inventory manages stock; fulfillment picks, packs and ships; support handles orders and \
            customers without touching stock; marketing reads and runs campaigns; analyst reads \
            everything but users and the audit log." }
    };
    page(&staff, &headers, "Users and roles", body)
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
    Posted { staff, form: f }: Posted,
) -> Response {
    let active = action == "activate";
    let r = act(
        &app,
        &staff,
        "/console/settings/users",
        move |tx, ctx| {
            // Deactivating ends the account's sessions and tokens: asked to confirm.
            if !active {
                f.confirmed()?;
            }
            auth::set_user_active(tx, ctx, id, active)
        },
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
    let rows: Vec<Vec<Markup>> = list
        .iter()
        .filter(|t| t.kind != "session")
        .map(|t| {
            vec![
                html! { (t.name) },
                html! { code { (t.prefix) "…" } },
                ui::badge(&t.kind),
                html! { (staff.when(&t.created_at)) },
                html! { (t.expires_at.as_deref().map_or_else(|| "never".to_string(), |e| staff.when(e))) },
                match &t.revoked_at {
                    Some(at) => html! { (ui::badge("revoked")) " " (staff.when(at)) },
                    None => ui::danger_form(
                        staff,
                        &format!("/console/settings/tokens/{}/revoke", t.id),
                        html! {},
                        "Revoke",
                        "Yes, revoke: whatever uses it stops working",
                    ),
                },
            ]
        })
        .collect();
    let body = html! {
        @if let Some(t) = issued {
            p.notice.ok role="status" { "The new token is " code data-token { (t) }
                ". Copy it now: it is shown this once and stored only as a hash." }
        }
        (ui::table("API tokens",
            &[col("Name"), col("Starts with"), col("Kind"), col("Created"), col("Expires"), col("")],
            rows, "No API token."))
        h2 { "New token" }
        (ui::form(staff, "/console/settings/tokens", html! {
            (ui::input("Name", "name", "text", "").required())
            (ui::input("Expires in (days)", "expires_in_days", "number", "").min("1")
                .hint("empty for never"))
            (ui::select("Kind", "ingest", &[
                ("no".into(), "API token acting as you".into()),
                ("yes".into(), "ingest key (storefront events only)".into()),
            ], "no"))
        }, "Create token"))
    };
    page(staff, headers, "API tokens", body)
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
    Posted { staff, form: f }: Posted,
) -> Response {
    let r = act(
        &app,
        &staff,
        "/console/settings/tokens",
        move |tx, ctx| {
            f.confirmed()?;
            auth::revoke_token(tx, ctx, id)
        },
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
    let body = html! {
        p {
            @if only_failed { (ui::link("/console/settings/webhooks", "Show every delivery")) }
            @else { (ui::link("/console/settings/webhooks?status=failed", "Show failed deliveries only")) }
        }
        @for (s, deliveries) in &subs { (endpoint_section(&staff, s, deliveries, only_failed)) }
        h2 { "New endpoint" }
        (ui::form(&staff, "/console/settings/webhooks", html! {
            (ui::input("URL", "url", "url", "").required().size(50).placeholder("https://"))
            fieldset {
                legend { "Events" }
                @for e in webhooks::EVENT_TYPES { (ui::checkbox(e, "event_type", e, false)) }
            }
        }, "Add endpoint"))
    };
    page(&staff, &headers, "Webhooks", body)
}

/// An endpoint: where it sends, what, and its latest deliveries (the failed ones only when
/// asked), each failed one with a way to send it again.
fn endpoint_section(
    staff: &Staff,
    s: &webhooks::Subscription,
    deliveries: &[webhooks::Delivery],
    only_failed: bool,
) -> Markup {
    let rows: Vec<Vec<Markup>> = deliveries
        .iter()
        .filter(|d| !only_failed || d.status == "failed")
        .map(|d| {
            vec![
                html! { (d.id) },
                html! { (d.event_type) },
                ui::badge(&d.status),
                html! { (ui::count(d.attempts)) },
                html! { @if let Some(c) = d.last_status_code { (c) } },
                html! { (d.last_error.as_deref().unwrap_or_default()) },
                html! { (staff.when(&d.created_at)) },
                html! {
                    @if d.status == "failed" {
                        (ui::form_of(staff, &format!("/console/settings/deliveries/{}/replay", d.id),
                            html! {}, Kind::Secondary, "Replay"))
                    }
                },
            ]
        })
        .collect();
    html! {
        section.card data-endpoint=(s.id) {
            h2 { (s.url) " " (ui::badge(if s.active { "active" } else { "inactive" })) }
            p { "Sends: " (s.event_types.join(", ")) }
            @if s.active {
                (ui::danger_form(staff, &format!("/console/settings/webhooks/{}/deactivate", s.id),
                    html! {}, "Stop sending", "Yes, stop sending events to this endpoint"))
            }
            (ui::table("Latest deliveries",
                &[col("#"), col("Event"), col("Status"), col("Attempts").num(), col("HTTP"),
                  col("Error"), col("Created"), col("")],
                rows, "No delivery."))
        }
    }
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
    Posted { staff, form: f }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/settings/webhooks",
        move |tx, ctx| {
            f.confirmed()?;
            webhooks::deactivate_subscription(tx, ctx, id)
        },
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
    let rows: Vec<Vec<Markup>> = jobs.iter().map(|j| import_row(&staff, j)).collect();
    let body = html! {
        @if running {
            // Live progress without script: the page reloads itself while an import runs.
            meta http-equiv="refresh" content="2";
            p role="status" { "An import is running; this page refreshes every 2 seconds." }
        }
        (ui::table("Imports, newest first",
            &[col("#"), col("Kind"), col("Status"), col("Progress"), col("Result"), col("Error"),
              col(""), col("Started")],
            rows, "No import yet."))
        h2 { "Upload a file" }
        (upload_form(&staff))
        p { "Products come from Shopify, WooCommerce, Magento or Backroom CSV (detected); stock as "
            code { "sku,location,quantity" } "; orders as the UCI Online Retail layout, Shopify's export or \
            Backroom's. Files over 256 MB: use " code { "backroom import" } "." }
    };
    page(&staff, &headers, "Imports", body)
}

/// An import in the list: its progress, what it did and where its rejected rows are.
fn import_row(staff: &Staff, j: &ImportJob) -> Vec<Markup> {
    let rejected = rejected_of(&j.summary);
    let summary = j.summary.as_ref().map(|s| {
        let n = |k: &str| ui::count(s.get(k).and_then(|v| v.as_i64()).unwrap_or(0));
        format!(
            "{} rows: {} created, {} updated, {} unchanged, {} rejected",
            n("rows"),
            n("created"),
            n("updated"),
            n("unchanged"),
            match rejected {
                100 => "100 or more".to_string(),
                r => r.to_string(),
            },
        )
    });
    vec![
        html! { (j.id) },
        html! { (j.kind) },
        ui::badge(&j.status),
        html! {
            progress max="100" value=(j.percent) aria-label=(format!("Import {} progress", j.id)) { (j.percent) "%" }
            " " (j.percent) "%"
        },
        html! { (summary.unwrap_or_default()) },
        html! { (j.error.as_deref().unwrap_or_default()) },
        html! {
            @if rejected > 0 {
                (ui::link(&format!("/console/settings/imports/{}/rejects.csv", j.id), "Rejected rows (CSV)"))
            }
        },
        html! { (staff.when(&j.created_at)) },
    ]
}

/// The upload form: a file sent as `multipart/form-data` (the kit's forms send fields only).
fn upload_form(staff: &Staff) -> Markup {
    html! {
        form.act method="post" action="/console/settings/imports" enctype="multipart/form-data" {
            (ui::hidden("csrf", &staff.csrf))
            (ui::select("What", "kind", &ui::options(&["products", "stock", "orders", "tickets"]), "products"))
            (ui::input("Stock location (products; code)", "location", "text", ""))
            (ui::checkbox("Dry run (report only)", "dry_run", "yes", false))
            div.field {
                label for="f-file" { "CSV file" }
                input #f-file type="file" name="file" accept=".csv,text/csv" required;
            }
            div.actions { (ui::button(Kind::Primary, "Import")) }
        }
    }
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
        Ok(csv) => crate::http::csv_response(csv, Some(&format!("import-{id}-rejected.csv"))),
        Err(e) => failed(&staff, &e),
    }
}
