//! The audit log as staff read it: when (in the store's zone), who (name and role), what was
//! done in words with a link to the thing where the console shows it, and the fields it changed,
//! old → new, amounts in the store's currency and times in its zone.
//!
//! An entry's data comes in two shapes, often mixed: a change (`{"field": {"from": .., "to":
//! ..}}`, as the settings, products, locations and channels record it) and a record of what was
//! set or done (`{"amount": 1250, "reason": ..}`, or a whole snapshot of what was created).
//! [`fields`] reads both; it is pure presentation and tested below.

use super::super::ui::{self, col};
use super::super::{App, Fields, Staff, failed, load, page};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use backroom_core::api::{AuditEntry, User};
use backroom_core::audit::{self, AuditQuery};
use backroom_core::{Ctx, Error, Sql, auth, catalog, customers, orders, webhooks};
use backroom_domain::roles::Permission;
use maud::{Markup, html};
use serde_json::Value;
use std::collections::HashMap;

/// What each action did, in words; `{}` is where the thing it was done to goes. An action not
/// listed is worded from its name ([`wording`]).
const WORDS: &[(&str, &str)] = &[
    ("settings.updated", "Changed store settings"),
    ("location.created", "Created location {}"),
    ("location.updated", "Changed location {}"),
    ("channel.created", "Created channel {}"),
    ("channel.updated", "Changed channel {}"),
    (
        "channel.safety_buffer_set",
        "Set a safety buffer on channel {}",
    ),
    ("product.created", "Created product {}"),
    ("product.updated", "Changed product {}"),
    ("variant.created", "Added variant {}"),
    ("variant.updated", "Changed variant {}"),
    ("order.placed", "Placed order {}"),
    ("order.edited", "Edited order {}"),
    (
        "order.resourced",
        "Changed where a line of order {} ships from",
    ),
    ("order.payment_recorded", "Recorded a payment on order {}"),
    ("order.refunded", "Refunded order {}"),
    ("order.cancelled", "Cancelled order {}"),
    ("order.note_added", "Added a note to order {}"),
    ("order.held", "Put order {} on hold"),
    ("order.hold_released", "Released the hold on order {}"),
    ("order.shipped", "Shipped order {}"),
    ("order.delivered", "Marked order {} delivered"),
    ("order.ready_for_pickup", "Made order {} ready for pickup"),
    ("order.picked_up", "Handed order {} to the customer"),
    ("return.created", "Opened return {}"),
    ("return.received", "Received return {}"),
    ("return.cancelled", "Cancelled return {}"),
    ("customer.created", "Created customer {}"),
    ("customer.updated", "Changed customer {}"),
    ("inventory.received", "Received stock of {}"),
    ("inventory.adjusted", "Adjusted stock of {}"),
    ("inventory.counted", "Counted stock of {}"),
    ("inventory.damage_mark", "Marked stock of {} damaged"),
    ("inventory.damage_release", "Released damaged stock of {}"),
    (
        "inventory.damage_write_off",
        "Wrote off damaged stock of {}",
    ),
    ("inventory.bin_set", "Set the bin of {}"),
    ("inventory.reorder_point_set", "Set the reorder point of {}"),
    ("transfer.created", "Created transfer {}"),
    ("transfer.shipped", "Shipped transfer {}"),
    ("transfer.received", "Received transfer {}"),
    ("transfer.cancelled", "Cancelled transfer {}"),
    ("user.created", "Created user {}"),
    ("user.activated", "Reactivated user {}"),
    ("user.deactivated", "Deactivated user {}"),
    ("user.password_changed", "Changed the password of {}"),
    ("user.signed_in", "Signed in"),
    ("user.signed_out", "Signed out"),
    ("token.created", "Created API token {}"),
    ("token.revoked", "Revoked API token {}"),
    ("webhook.subscribed", "Added webhook endpoint {}"),
    ("webhook.unsubscribed", "Stopped webhook endpoint {}"),
    ("webhook.replayed", "Replayed webhook delivery {}"),
    ("job.retried", "Retried job {}"),
    ("job.cancelled", "Cancelled job {}"),
    ("import.products", "Imported products"),
    ("import.stock", "Imported stock"),
    ("import.customers", "Imported customers"),
    ("import.orders", "Imported orders"),
    ("email_campaign.created", "Created email campaign {}"),
    ("ad_spend.recorded", "Recorded ad spend"),
    ("analytics.rebuilt", "Rebuilt the analytics"),
];

/// The kinds of thing entries name, for the filter.
const ENTITY_TYPES: &[&str] = &[
    "settings",
    "location",
    "channel",
    "product",
    "variant",
    "order",
    "return",
    "customer",
    "inventory_level",
    "transfer",
    "user",
    "api_token",
    "webhook_subscription",
    "webhook_delivery",
    "job",
    "import",
    "email_campaign",
    "ad_spend",
    "analytics",
];

/// How many fields an entry shows before the rest fold away.
const FIRST_FIELDS: usize = 8;

pub(super) async fn audit_log(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AuditRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let actor_user_id = match q.opt_int("actor_user_id") {
        Ok(v) => v,
        Err(e) => return failed(&staff, &e),
    };
    let query = AuditQuery {
        entity_type: q.opt("entity_type"),
        entity_id: q.opt("entity_id"),
        action: q.opt("action"),
        actor_user_id,
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let ctx = staff.ctx();
    let may = (
        staff.may(Permission::UsersAdmin),
        staff.may(Permission::SettingsWrite),
    );
    let (found, known) = match load(&app, &staff, move |tx| {
        let found = audit::list(tx, &query)?;
        let known = Known::load(tx, &ctx, &found.items, may)?;
        Ok((found, known))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let one_thing = q.get("entity_id").is_some();
    let rows: Vec<Vec<Markup>> = found
        .items
        .iter()
        .map(|e| {
            vec![
                html! { (staff.when(&e.created_at)) },
                html! { (who(e, &known)) },
                what(&staff, e, &known, one_thing),
                changes(&staff, e, &known),
            ]
        })
        .collect();
    let body = html! {
        (filters(&q, &known))
        (ui::table("Every change, newest first",
            &[col("When"), col("Who"), col("What"), col("Changes")], rows, "No entry matches."))
        (ui::pager("/console/settings/audit", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Audit log", body)
}

// ---------------------------------------------------------------------------------------------
// What the entries name

/// What the entries of a page name, looked up once: the store's currency, the staff, and how
/// staff know each thing (an order by its number, a product by its title...).
#[derive(Default)]
struct Known {
    currency: String,
    /// Every staff account, when the member may see them.
    users: Vec<User>,
    /// By (entity type, id): `#1042`, a product's title, a location's name and code.
    names: HashMap<(String, String), String>,
    /// A variant's product, for its link.
    variant_products: HashMap<String, i64>,
}

/// A look-up of one thing: `None` when it is gone.
fn found<T>(r: backroom_core::Result<T>) -> backroom_core::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Known {
    /// Looks up what `entries` name, each kind only when one names it. `may` is whether the
    /// member may list the staff and the webhooks (the services refuse otherwise).
    fn load(
        tx: &mut dyn Sql,
        ctx: &Ctx,
        entries: &[AuditEntry],
        may: (bool, bool),
    ) -> backroom_core::Result<Known> {
        let ids = |kind: &str| -> Vec<String> {
            let mut v: Vec<String> = entries
                .iter()
                .filter(|e| e.entity_type == kind)
                .map(|e| e.entity_id.clone())
                .collect();
            v.sort();
            v.dedup();
            v
        };
        let numeric =
            |kind: &str| -> Vec<i64> { ids(kind).iter().filter_map(|i| i.parse().ok()).collect() };
        let mut k = Known {
            currency: backroom_core::settings::load(tx)?
                .currency
                .as_str()
                .to_string(),
            ..Known::default()
        };
        let mut name = |kind: &str, id: String, text: String| {
            k.names.insert((kind.to_string(), id), text);
        };
        let users = if may.0 {
            auth::list_users(tx, ctx)?
        } else {
            Vec::new()
        };
        for u in &users {
            name("user", u.id.to_string(), u.name.clone());
        }
        for (id, n) in orders::numbers(tx, &numeric("order"))? {
            name("order", id.to_string(), format!("#{n}"));
        }
        for id in numeric("product") {
            if let Some(p) = found(catalog::get_product(tx, id))? {
                name("product", id.to_string(), p.title);
            }
        }
        for id in numeric("customer") {
            if let Some(c) = found(customers::get_customer(tx, id))? {
                let full = format!("{} {}", c.first_name, c.last_name)
                    .trim()
                    .to_string();
                name(
                    "customer",
                    id.to_string(),
                    if full.is_empty() { c.email } else { full },
                );
            }
        }
        let levels = ids("inventory_level");
        if !levels.is_empty() || !ids("location").is_empty() {
            let locations = catalog::list_locations(tx)?;
            for l in &locations {
                name(
                    "location",
                    l.id.to_string(),
                    format!("{} ({})", l.name, l.code),
                );
            }
            for id in levels {
                if let Some((sku, loc)) = id.rsplit_once('@') {
                    let at = locations.iter().find(|l| l.id.to_string() == loc);
                    let text =
                        at.map_or_else(|| sku.to_string(), |l| format!("{sku} at {}", l.code));
                    name("inventory_level", id.clone(), text);
                }
            }
        }
        if !ids("channel").is_empty() {
            for c in catalog::list_channels(tx)? {
                name("channel", c.id.to_string(), c.name);
            }
        }
        if !ids("api_token").is_empty() {
            for t in auth::list_tokens(tx, ctx)? {
                name("api_token", t.id.to_string(), t.name);
            }
        }
        if may.1 && !ids("webhook_subscription").is_empty() {
            for s in webhooks::list_subscriptions(tx, ctx)? {
                name("webhook_subscription", s.id.to_string(), s.url);
            }
        }
        let mut variant_products = HashMap::new();
        for id in numeric("variant") {
            if let Some(v) = found(catalog::get_variant(tx, id))? {
                name("variant", id.to_string(), v.sku);
                variant_products.insert(id.to_string(), v.product_id);
            }
        }
        k.users = users;
        k.variant_products = variant_products;
        Ok(k)
    }
}

/// Who made the change: the name it was made under and the account's role (the system and the
/// demo's people have no account).
fn who(e: &AuditEntry, known: &Known) -> String {
    match known.users.iter().find(|u| u.id == e.actor_user_id) {
        Some(u) => format!("{} ({})", e.actor, u.role),
        None => e.actor.clone(),
    }
}

/// How staff know the thing an entry names: looked up, else from what the entry recorded (a
/// created thing's title, name or address), else its id.
fn name_of(e: &AuditEntry, known: &Known) -> String {
    if let Some(n) = known
        .names
        .get(&(e.entity_type.clone(), e.entity_id.clone()))
    {
        return n.clone();
    }
    ["title", "name", "url", "email", "sku", "code"]
        .iter()
        .find_map(|k| e.changes.get(*k).and_then(Value::as_str))
        .map(str::to_string)
        .unwrap_or_else(|| {
            if e.entity_id.parse::<i64>().is_ok() {
                format!("#{}", e.entity_id)
            } else {
                e.entity_id.clone()
            }
        })
}

/// The console page that shows what an entry names, and what opening it takes.
fn href_of(e: &AuditEntry, known: &Known) -> Option<(String, Permission)> {
    use Permission::*;
    let id = &e.entity_id;
    let fixed = |path: &str, p| Some((path.to_string(), p));
    match e.entity_type.as_str() {
        "order" => Some((format!("/console/orders/{id}"), OrdersRead)),
        "product" => Some((format!("/console/products/{id}"), CatalogRead)),
        "variant" => known
            .variant_products
            .get(id)
            .map(|p| (format!("/console/products/{p}"), CatalogRead)),
        "customer" => Some((format!("/console/customers/{id}"), CustomersRead)),
        "inventory_level" => id.rsplit_once('@').map(|(sku, _)| {
            let q = ui::query_string([("sku", sku)]);
            (format!("/console/inventory/sku{q}"), InventoryRead)
        }),
        "transfer" => fixed("/console/transfers", InventoryRead),
        "return" => fixed("/console/returns", OrdersRead),
        "settings" => fixed("/console/settings/store", SettingsWrite),
        "location" => fixed("/console/settings/locations", SettingsWrite),
        "channel" => fixed("/console/settings/channels", SettingsWrite),
        "user" => fixed("/console/settings/users", UsersAdmin),
        "api_token" => fixed("/console/settings/tokens", OrdersRead),
        "webhook_subscription" | "webhook_delivery" => {
            fixed("/console/settings/webhooks", SettingsWrite)
        }
        "job" => fixed("/console/settings/jobs", SettingsWrite),
        "import" => fixed("/console/settings/imports", OrdersRead),
        "email_campaign" | "ad_spend" | "analytics" => fixed("/console/analytics", AnalyticsRead),
        _ => None,
    }
}

/// What was done, in words, the thing linked where the member may open it; and a link to the
/// thing's every entry (unless the log shows one thing already).
fn what(staff: &Staff, e: &AuditEntry, known: &Known, one_thing: bool) -> Markup {
    let words = wording(&e.action);
    let href = href_of(e, known)
        .filter(|(_, p)| staff.may(*p))
        .map(|(h, _)| h);
    let thing = |text: &str| match &href {
        Some(h) => ui::link(h, text),
        None => html! { (text) },
    };
    let history = format!(
        "/console/settings/audit{}",
        ui::query_string([
            ("entity_type", e.entity_type.as_str()),
            ("entity_id", e.entity_id.as_str()),
        ])
    );
    html! {
        span data-action=(e.action) {
            @match words.split_once("{}") {
                Some((before, after)) => { (before) (thing(&name_of(e, known))) (after) }
                // The words name the thing (store settings, an import), but for a member's own
                // signing in and out.
                None if e.entity_type != "user" => { (thing(&words)) }
                None => { (words) }
            }
        }
        @if !one_thing && !e.entity_id.is_empty() {
            br; a.muted href=(history) { "History" }
        }
    }
}

/// The fields an entry changed or recorded; past the first few, folded away.
fn changes(staff: &Staff, e: &AuditEntry, known: &Known) -> Markup {
    let when = |t: &str| staff.when(t);
    let shown = Shown {
        currency: &known.currency,
        when: &when,
    };
    let all = fields(&e.changes, &shown);
    let (first, rest) = all.split_at(all.len().min(FIRST_FIELDS));
    html! {
        @if all.is_empty() { span.muted { "–" } }
        (field_list(first))
        @if !rest.is_empty() {
            details { summary { (rest.len()) " more" } (field_list(rest)) }
        }
    }
}

fn field_list(fields: &[Field]) -> Markup {
    html! {
        @if !fields.is_empty() {
            dl.diff {
                @for f in fields {
                    dt { (f.name) }
                    dd {
                        @if let Some(old) = &f.from {
                            span.visually-hidden { "was " } del { (old) }
                            " → " span.visually-hidden { "now " } ins { (f.to) }
                        } @else { (f.to) }
                    }
                }
            }
        }
    }
}

/// The filters: who, what was done, the kind of thing and its id.
fn filters(q: &Fields, known: &Known) -> Markup {
    let with_current = |mut o: Vec<(String, String)>, name: &str| {
        if let Some(v) = q.get(name)
            && !o.iter().any(|(x, _)| x == v)
        {
            o.push((v.to_string(), v.to_string()));
        }
        o
    };
    let mut who = vec![
        (String::new(), "anyone".to_string()),
        ("0".to_string(), "system".to_string()),
    ];
    who.extend(
        known
            .users
            .iter()
            .map(|u| (u.id.to_string(), format!("{} ({})", u.name, u.role))),
    );
    let mut actions = vec![(String::new(), "any".to_string())];
    actions.extend(
        WORDS
            .iter()
            .map(|(a, w)| (a.to_string(), w.replace("{}", "…"))),
    );
    let who = with_current(who, "actor_user_id");
    let actions = with_current(actions, "action");
    let kinds = with_current(ui::any_of(ENTITY_TYPES), "entity_type");
    ui::filter_form(
        "/console/settings/audit",
        q,
        html! {
            (ui::select("Who", "actor_user_id", &who, &q.text("actor_user_id")))
            (ui::select("What was done", "action", &actions, &q.text("action")))
            (ui::select("Kind of thing", "entity_type", &kinds, &q.text("entity_type")))
            (ui::input("Its id", "entity_id", "text", &q.text("entity_id")).size(10))
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Entries in words (pure)

/// An action in words, `{}` standing for the thing it was done to: from [`WORDS`], else from
/// its name (`widget.frobbed` reads "Frobbed widget {}", `channel.limit_set` "Channel limit
/// set {}").
fn wording(action: &str) -> String {
    if let Some((_, w)) = WORDS.iter().find(|(a, _)| *a == action) {
        return w.to_string();
    }
    let (thing, verb) = action.rsplit_once('.').unwrap_or(("", action));
    let (thing, verb) = (thing.replace(['_', '.'], " "), verb.replace('_', " "));
    let capital = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
            .unwrap_or_default()
    };
    let text = if verb.ends_with("ed") && !verb.contains(' ') {
        format!("{} {thing}", capital(&verb))
    } else {
        format!("{} {verb}", capital(&thing))
    };
    format!(
        "{} {{}}",
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    )
}

/// How values read: amounts in the store's currency, times through `when` (the store's zone).
struct Shown<'a> {
    currency: &'a str,
    when: &'a dyn Fn(&str) -> String,
}

/// A field an entry names, as the log shows it: its name (nested names joined `a.b`, list items
/// by their SKU, code or method, else numbered from 1: `variants[MUG-1].price`,
/// `lines[1].quantity`), its old value when the entry records a change, and its (new) value.
#[derive(Debug, PartialEq)]
struct Field {
    name: String,
    from: Option<String>,
    to: String,
}

/// The fields of an entry's data. A `{"from": .., "to": ..}` pair is a change: the old and new
/// values flattened, the parts that read the same left out. Any other value is what was set or
/// recorded: flattened too, its empty parts (null, "", []) and its own id and times left out.
fn fields(data: &Value, shown: &Shown) -> Vec<Field> {
    let mut out = Vec::new();
    walk(data, "", shown, &mut out);
    out
}

/// The old and new values of a change pair.
fn change_of(v: &Value) -> Option<(&Value, &Value)> {
    let m = v.as_object()?;
    (m.len() == 2).then_some(())?;
    Some((m.get("from")?, m.get("to")?))
}

/// An amount as the API writes it: `{"amount": 1250, "currency": "EUR"}`.
fn money_of(v: &Value) -> Option<(i64, &str)> {
    let m = v.as_object()?;
    (m.len() == 2).then_some(())?;
    Some((m.get("amount")?.as_i64()?, m.get("currency")?.as_str()?))
}

/// Whether a value is opened into its parts (an object, a list holding objects) rather than
/// shown whole.
fn opens(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty() && money_of(v).is_none(),
        Value::Array(a) => a.iter().any(opens),
        _ => false,
    }
}

fn part(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(v: &Value, path: &str, shown: &Shown, out: &mut Vec<Field>) {
    if let Some((from, to)) = change_of(v) {
        let (before, after) = (leaves(from, path), leaves(to, path));
        let names = after.iter().map(|(n, _)| n).chain(
            before
                .iter()
                .map(|(n, _)| n)
                .filter(|n| !after.iter().any(|(m, _)| m == *n)),
        );
        for name in names {
            let at = |side: &[(String, &Value)]| {
                side.iter()
                    .find(|(n, _)| n == name)
                    .map_or(Value::Null, |(_, v)| (*v).clone())
            };
            let (old, new) = (
                value(name, &at(&before), shown),
                value(name, &at(&after), shown),
            );
            // Parts that read the same (absent before, empty now) did not change for staff.
            if old != new {
                out.push(Field {
                    name: shown_name(name),
                    from: Some(old),
                    to: new,
                });
            }
        }
        return;
    }
    match v {
        Value::Object(m) if opens(v) => {
            for (k, x) in m {
                walk(x, &part(path, k), shown, out);
            }
        }
        Value::Array(a) if opens(v) => {
            for (name, x) in item_names(path, a).iter().zip(a) {
                walk(x, name, shown, out);
            }
        }
        // The thing's own id and times: the entry already says what and when.
        _ if BOOKKEEPING.contains(&last_key(path)) => {}
        Value::Null => {}
        Value::String(s) if s.is_empty() => {}
        Value::Array(a) if a.is_empty() => {}
        Value::Object(m) if m.is_empty() => {}
        _ => out.push(Field {
            name: shown_name(path),
            from: None,
            to: value(path, v, shown),
        }),
    }
}

/// A value as (name, part) pairs: objects opened into `a.b`, lists of objects into `a[1]`.
fn leaves<'v>(v: &'v Value, path: &str) -> Vec<(String, &'v Value)> {
    let mut out = Vec::new();
    fn go<'v>(v: &'v Value, path: &str, out: &mut Vec<(String, &'v Value)>) {
        match v {
            Value::Object(m) if opens(v) => {
                for (k, x) in m {
                    go(x, &part(path, k), out);
                }
            }
            Value::Array(a) if opens(v) => {
                for (name, x) in item_names(path, a).iter().zip(a) {
                    go(x, name, out);
                }
            }
            _ => out.push((path.to_string(), v)),
        }
    }
    go(v, path, &mut out);
    out
}

/// The names of a list's items: by what identifies them (a SKU, a code, a shipping method)
/// when each item has its own, so a reordered list compares item by item (`rates[express]`);
/// else numbered from 1 (`lines[1]`).
fn item_names(path: &str, items: &[Value]) -> Vec<String> {
    for key in ["sku", "code", "method"] {
        let ids: Vec<&str> = items
            .iter()
            .filter_map(|x| x.get(key)?.as_str())
            .filter(|id| !id.is_empty())
            .collect();
        let distinct: std::collections::HashSet<&&str> = ids.iter().collect();
        if ids.len() == items.len() && distinct.len() == ids.len() {
            return ids.iter().map(|id| format!("{path}[{id}]")).collect();
        }
    }
    (1..=items.len()).map(|i| format!("{path}[{i}]")).collect()
}

/// Parts of a record a snapshot leaves out.
const BOOKKEEPING: [&str; 3] = ["id", "created_at", "updated_at"];

fn shown_name(path: &str) -> String {
    if path.is_empty() {
        "value".to_string()
    } else {
        path.to_string()
    }
}

/// The last name of a path, list numbers off: `shipping_rates[2].price` → `price`.
fn last_key(path: &str) -> &str {
    let last = path.rsplit('.').next().unwrap_or(path);
    last.split('[').next().unwrap_or(last)
}

/// Whether a whole number named `key` is an amount in minor units.
fn is_amount(key: &str) -> bool {
    const AMOUNTS: [&str; 9] = [
        "amount",
        "price",
        "total",
        "subtotal",
        "cost",
        "free_above",
        "capture",
        "due_before",
        "settled",
    ];
    key.ends_with("_minor")
        || key == "concession"
        || AMOUNTS
            .iter()
            .any(|a| key == *a || key.ends_with(&format!("_{a}")))
}

/// Whether a whole number named `key` is an id or a number staff read as one (no separators).
fn is_id(key: &str) -> bool {
    key == "id" || key == "number" || key.ends_with("_id") || key.ends_with("_ids")
}

/// A value as staff read it: yes/no, amounts as money, counts with separators, times in the
/// store's zone, lists joined, long texts cut.
fn value(path: &str, v: &Value, shown: &Shown) -> String {
    let key = last_key(path);
    match v {
        Value::Null => "–".to_string(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        Value::Number(n) => match n.as_i64() {
            Some(i) if is_amount(key) => ui::money(i, shown.currency),
            Some(i) if is_id(key) => i.to_string(),
            Some(i) => ui::count(i),
            None => n.to_string(),
        },
        Value::String(s) if s.is_empty() => "–".to_string(),
        Value::String(s) if s.parse::<jiff::Timestamp>().is_ok() => (shown.when)(s),
        Value::String(s) => clip(s),
        Value::Array(a) if a.is_empty() => "–".to_string(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::Array(_) => format!("({})", value(path, x, shown)),
                _ => value(path, x, shown),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Value::Object(_) => match money_of(v) {
            Some((amount, currency)) => ui::money(amount, currency),
            None if v.as_object().is_some_and(|m| m.is_empty()) => "–".to_string(),
            None => clip(&v.to_string()),
        },
    }
}

/// A text cut to 200 characters.
fn clip(s: &str) -> String {
    match s.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fields of `data`, amounts in euros, times marked so the test sees they went through
    /// the store's zone.
    fn read(data: Value) -> Vec<Field> {
        let when = |t: &str| format!("at {t} in the store's zone");
        let shown = Shown {
            currency: "EUR",
            when: &when,
        };
        fields(&data, &shown)
    }

    fn find<'a>(fields: &'a [Field], name: &str) -> &'a Field {
        fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
    }

    #[test]
    fn a_change_set_shows_old_and_new_leaving_out_what_stayed() {
        let f = read(json!({
            "currency": {"from": "USD", "to": "EUR"},
            "timezone": {"from": "UTC", "to": "Europe/Rome"},
            "shipping_taxed": {"from": false, "to": true},
            "shipping_rates": {
                "from": [{"method": "standard", "name": "Standard", "price": 500, "countries": [], "free_above": null}],
                "to": [
                    {"method": "express", "name": "Express", "price": 1200, "countries": [], "free_above": null},
                    {"method": "standard", "name": "Standard", "price": 495, "countries": ["IT", "FR"], "free_above": 150000}
                ]
            },
            "tax_rates": {
                "from": [{"country": "FR", "rate": "0.2"}],
                "to": [{"country": "FR", "rate": "0.2"}, {"country": "US", "region": "CA", "rate": "0.0725"}]
            },
            "store_name": {"from": "Shop", "to": "Shop"}
        }));
        let of = |n: &str| {
            let x = find(&f, n);
            (x.from.clone(), x.to.clone())
        };
        let change = |from: &str, to: &str| (Some(from.to_string()), to.to_string());
        assert_eq!(of("currency"), change("USD", "EUR"));
        assert_eq!(of("timezone"), change("UTC", "Europe/Rome"));
        assert_eq!(of("shipping_taxed"), change("no", "yes"));
        // Rates compare by method, though express now comes first.
        let rate = |method: &str, field: &str| of(&format!("shipping_rates[{method}].{field}"));
        assert_eq!(rate("standard", "price"), change("€5.00", "€4.95"));
        assert_eq!(rate("standard", "countries"), change("–", "IT, FR"));
        assert_eq!(rate("standard", "free_above"), change("–", "€1,500.00"));
        assert_eq!(rate("express", "method"), change("–", "express"));
        assert_eq!(rate("express", "name"), change("–", "Express"));
        assert_eq!(rate("express", "price"), change("–", "€12.00"));
        // Items without a key of their own are numbered.
        assert_eq!(of("tax_rates[2].region"), change("–", "CA"));
        assert_eq!(of("tax_rates[2].rate"), change("–", "0.0725"));
        // What reads the same is left out: the standard rate's method and name, the store name,
        // the first tax rate, the new rate's free-above (none before or after) and countries
        // (none, then empty).
        for gone in [
            "shipping_rates[standard].method",
            "shipping_rates[standard].name",
            "store_name",
            "tax_rates[1].rate",
            "shipping_rates[express].free_above",
            "shipping_rates[express].countries",
        ] {
            assert!(f.iter().all(|x| x.name != gone), "{gone}: {f:?}");
        }
        assert_eq!(f.len(), 12, "{f:?}");
    }

    #[test]
    fn a_snapshot_shows_its_fields_flattened_and_formatted() {
        let f = read(json!({
            "id": 3,
            "title": "Mug",
            "status": "active",
            "description": "",
            "tags": ["kitchen", "gift"],
            "variants": [{"id": 7, "sku": "MUG-1", "price": {"amount": 123456, "currency": "EUR"}, "barcode": null, "weight_grams": 1200}],
            "lines": [{"quantity": 2}, {"quantity": 1}],
            "created_at": "2026-01-02T03:04:05Z",
            "deadline": "2026-01-02T03:04:05Z",
            "seo": {"title": "A mug"}
        }));
        let to = |n: &str| {
            let x = find(&f, n);
            assert_eq!(x.from, None, "{n}");
            x.to.clone()
        };
        assert_eq!(to("title"), "Mug");
        assert_eq!(to("tags"), "kitchen, gift");
        assert_eq!(to("variants[MUG-1].sku"), "MUG-1");
        assert_eq!(to("variants[MUG-1].price"), "€1,234.56");
        assert_eq!(to("variants[MUG-1].weight_grams"), "1,200");
        assert_eq!(to("lines[2].quantity"), "1");
        assert_eq!(
            to("deadline"),
            "at 2026-01-02T03:04:05Z in the store's zone"
        );
        assert_eq!(to("seo.title"), "A mug");
        // Empty parts, and the thing's own id and times, are left out.
        for gone in [
            "description",
            "variants[MUG-1].barcode",
            "variants[MUG-1].id",
            "id",
            "created_at",
        ] {
            assert!(f.iter().all(|x| x.name != gone), "{gone}: {f:?}");
        }
    }

    #[test]
    fn changes_and_records_mix_ids_stay_plain_amounts_are_money() {
        let f = read(json!({
            "status": {"from": "open", "to": "cancelled"},
            "payment_status": {"from": "paid", "to": "paid"},
            "released_units": 1200,
            "reason": null,
            "order_id": 12345,
            "location_ids": [1001, 1002],
            "amount": -250,
            "total": {"from": 10000, "to": 12550},
            "reserved": [[3, 2], [4, 1]],
            "note": "x".repeat(250)
        }));
        assert_eq!(find(&f, "status").from.as_deref(), Some("open"));
        assert!(f.iter().all(|x| x.name != "payment_status"), "{f:?}");
        assert!(f.iter().all(|x| x.name != "reason"), "{f:?}");
        assert_eq!(find(&f, "released_units").to, "1,200");
        assert_eq!(find(&f, "order_id").to, "12345");
        assert_eq!(find(&f, "location_ids").to, "1001, 1002");
        assert_eq!(find(&f, "amount").to, "-€2.50");
        let total = find(&f, "total");
        assert_eq!(
            (total.from.as_deref(), total.to.as_str()),
            (Some("€100.00"), "€125.50")
        );
        assert_eq!(find(&f, "reserved").to, "(3, 2), (4, 1)");
        assert_eq!(find(&f, "note").to.chars().count(), 201);
        assert!(read(json!({})).is_empty());
    }

    #[test]
    fn actions_read_as_words() {
        assert_eq!(wording("settings.updated"), "Changed store settings");
        assert_eq!(wording("order.cancelled"), "Cancelled order {}");
        assert_eq!(wording("widget.frobbed"), "Frobbed widget {}");
        assert_eq!(wording("channel.limit_set"), "Channel limit set {}");
        assert_eq!(wording("email_campaign.sent"), "Email campaign sent {}");
        assert!(WORDS.iter().all(|(a, _)| a.contains('.')));
    }
}
