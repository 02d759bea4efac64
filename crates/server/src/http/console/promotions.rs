//! Promotions: every promotion with its trigger, what it gives, its conditions, its uses
//! against its limit and its last 30 days; a form to create one with a preview of what a sample
//! cart would get; and each promotion's page with its figures and codes (generate a batch,
//! export, import) and a switch to turn it off or on.

use super::ui::{self, Kind as Button, col};
use super::{App, Fields, Posted, Staff, act, act_on, load, page};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::analytics::promotions::{PromotionReport, PromotionRow};
use backroom_core::analytics::report::Period;
use backroom_core::promotions::codes::{self, CodesAdded, NewCodes, PromotionCode};
use backroom_core::promotions::{
    self, NewPromotion, Preview, PreviewRequest, Promotion, PromotionBuyXGetY, PromotionConditions,
    PromotionPatch, PromotionTier,
};
use backroom_domain::roles::Permission;
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/promotions", get(list).post(create))
        .route("/console/promotions/preview", post(preview))
        .route("/console/promotions/{id}", get(detail))
        .route("/console/promotions/{id}/active", post(switch))
        .route("/console/promotions/{id}/codes", post(generate))
        .route("/console/promotions/{id}/import", post(import))
        .route("/console/promotions/{id}/codes.csv", get(export))
}

/// What a promotion gives, as people say it.
fn gives(p: &Promotion, currency: &str) -> String {
    let amount = |v: &str| ui::money(v.parse::<i64>().unwrap_or(0), currency);
    let off = if p.applies_to == "lines" {
        " eligible lines"
    } else {
        ""
    };
    match (p.kind.as_str(), p.value.as_deref()) {
        ("percentage", Some(v)) => format!("{v}% off{off}"),
        ("fixed_amount", Some(v)) => format!("{} off{off}", amount(v)),
        ("buy_x_get_y", v) => {
            let b = p.buy_x_get_y.clone().unwrap_or_default();
            let what = match v {
                Some("100") | None => "free".to_string(),
                Some(v) => format!("{v}% off"),
            };
            format!("buy {}, get {} {what}", b.buy_quantity, b.get_quantity)
        }
        ("free_shipping", _) => "free shipping".into(),
        (_, None) => {
            let steps: Vec<String> = p
                .tiers
                .iter()
                .map(|t| {
                    let v = if p.kind == "percentage" {
                        format!("{}%", t.value)
                    } else {
                        amount(&t.value)
                    };
                    format!("{} from {}", v, ui::money(t.min_subtotal, currency))
                })
                .collect();
            steps.join("; ")
        }
        _ => "-".into(),
    }
}

/// Its conditions in a few words.
fn conditions(p: &Promotion, currency: &str) -> String {
    let c = &p.conditions;
    let mut out: Vec<String> = Vec::new();
    let list =
        |name: &str, v: &[String]| (!v.is_empty()).then(|| format!("{name} {}", v.join(", ")));
    out.extend(list("channels", &c.channels));
    out.extend(list("products", &c.products));
    out.extend(list("SKUs", &c.variants));
    out.extend(list("types", &c.product_types));
    out.extend(list("vendors", &c.vendors));
    out.extend(list("tags", &c.tags));
    if let Some(m) = c.min_subtotal {
        out.push(format!("from {}", ui::money(m, currency)));
    }
    if let Some(m) = c.min_quantity {
        out.push(format!("from {m} units"));
    }
    if c.new_customers_only {
        out.push("first order only".into());
    }
    out.extend(list("customers tagged", &c.customer_tags));
    if out.is_empty() {
        "every order".into()
    } else {
        out.join("; ")
    }
}

fn status(p: &Promotion, now: &str) -> &'static str {
    match (&p.starts_at, &p.ends_at) {
        _ if !p.active => "off",
        (_, Some(e)) if e.as_str() <= now => "ended",
        (Some(s), _) if s.as_str() > now => "scheduled",
        _ => "active",
    }
}

/// The last 30 local days, ending today.
fn last_30_days() -> Period {
    let today = (backroom_core::util::now_micros() / 86_400_000_000) as i32;
    Period {
        from: today - 29,
        to: today + 1,
    }
}

struct ListData {
    all: Vec<Promotion>,
    currency: String,
    report: PromotionReport,
}

async fn list_data(app: &App, staff: &Staff) -> Result<ListData, Response> {
    let ctx = staff.ctx();
    load(app, staff, move |tx| {
        Ok(ListData {
            all: promotions::list(tx, &ctx)?,
            currency: backroom_core::settings::load(tx)?
                .currency
                .as_str()
                .to_string(),
            report: backroom_core::analytics::promotions::report(tx, last_30_days())?,
        })
    })
    .await
}

async fn list(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    match list_data(&app, &staff).await {
        Ok(d) => list_page(&staff, &headers, &d, &Fields::default(), None),
        Err(r) => r,
    }
}

fn list_page(
    staff: &Staff,
    headers: &HeaderMap,
    d: &ListData,
    typed: &Fields,
    preview: Option<Result<Preview, String>>,
) -> Response {
    let now = backroom_core::util::rfc3339(backroom_core::util::now_micros());
    let rows: Vec<Vec<Markup>> = d
        .all
        .iter()
        .map(|p| {
            let r = d.report.promotions.iter().find(|r| r.promotion_id == p.id);
            vec![
                html! { (ui::link(&format!("/console/promotions/{}", p.id), &p.name)) },
                html! {
                    @if p.automatic { "automatic" }
                    @else if p.codes == 1 { code { (p.code.as_deref().unwrap_or("-")) } }
                    @else { (ui::count(p.codes)) " codes" }
                },
                html! { (gives(p, &d.currency)) @if p.combines { " (combines)" } },
                html! { (conditions(p, &d.currency)) },
                html! {
                    (ui::count(p.times_used))
                    @if let Some(l) = p.usage_limit { " of " (ui::count(l)) }
                },
                html! { (r.map_or("-".into(), |r| ui::money(r.discount + r.shipping_discount, &d.currency))) },
                html! { (r.map_or("-".into(), |r| ui::count(r.orders))) },
                html! { (ui::badge(status(p, &now))) },
            ]
        })
        .collect();
    let body = html! {
        p.muted { "Automatic promotions apply to every order that qualifies; others need a code (one, or a batch of single-use codes). Promotions that combine stack; one that does not applies alone, when it gives more. Limits and budgets are exact however many orders race for the last uses; a cancelled order gives its use back." }
        (headline(&d.report))
        (ui::table("Promotions, newest first", &[
            col("Promotion"), col("Trigger"), col("Gives"), col("Conditions"), col("Used").num(),
            col("Discount, 30 days").num(), col("Orders, 30 days").num(), col("Status"),
        ], rows, "No promotion yet."))
        @if staff.may(Permission::MarketingWrite) {
            h2 { "New promotion" }
            div #preview data-preview aria-live="polite" {
                @match &preview {
                    Some(Ok(p)) => (preview_card(p)),
                    Some(Err(e)) => p.error role="alert" { "Preview: " (e) },
                    None => {},
                }
            }
            (new_form(staff, typed, &d.currency))
        }
    };
    page(staff, headers, "Promotions", body)
}

/// The period's headline: discounts, orders with one, their share.
fn headline(r: &PromotionReport) -> Markup {
    let cards = crate::promo_view::headline(r);
    html! {
        div.stats {
            @for (k, v) in cards {
                (ui::stat(k, "", &v, html! { span.muted { "last 30 days" } }))
            }
        }
    }
}

fn preview_card(p: &Preview) -> Markup {
    let m = ui::show_money;
    ui::card(
        Some("Preview"),
        html! {
            @if p.applies {
                p { "The sample cart of " (m(&p.subtotal)) " gets " strong { (m(&p.discount)) } " off"
                    @if p.shipping_discount.amount > 0 { " and free shipping" } "." }
            } @else {
                p { "It would not apply: " (p.reason.as_deref().unwrap_or("-")) "." }
            }
            (ui::table("Lines", &[col("SKU"), col("Qty").num(), col("Amount").num(), col("Discount").num()],
                p.lines.iter().map(|l| vec![
                    html! { (l.sku) }, html! { (l.quantity) }, html! { (m(&l.amount)) }, html! { (m(&l.discount)) },
                ]).collect(), ""))
        },
    )
}

/// The new-promotion form, with what was typed; its Preview button posts to the preview page.
fn new_form(staff: &Staff, f: &Fields, currency: &str) -> Markup {
    let v = |n: &str| f.raw(n).to_string();
    let kinds = ui::options(&["percentage", "fixed_amount", "free_shipping", "buy_x_get_y"]);
    let targets = vec![
        ("order".to_string(), "the whole order".to_string()),
        ("lines".to_string(), "eligible lines only".to_string()),
    ];
    html! {
        form.act method="post" action="/console/promotions" data-live-preview="/console/promotions/preview" {
            (ui::hidden("csrf", &staff.csrf))
            (ui::input("Name", "name", "text", &v("name")).required())
            (ui::select("Kind", "kind", &kinds, f.get("kind").unwrap_or("percentage")))
            (ui::input("Value", "value", "text", &v("value")).hint(&format!("a percentage such as 10, or an amount in minor units such as 500 ({currency}); for buy X get Y, the percentage off what is given (100: free); empty for free shipping or tiers")))
            (ui::select("Comes off", "applies_to", &targets, f.get("applies_to").unwrap_or("order")))
            (ui::checkbox("Automatic (no code)", "automatic", "on", f.get("automatic").is_some()))
            (ui::checkbox("Combines with other promotions", "combines", "on", f.get("combines").is_some()))
            (ui::input("Code", "code", "text", &v("code")).hint("letters, digits, - or _; batches of codes are added on the promotion's page"))
            (ui::input("Tiers", "tiers", "text", &v("tiers")).hint("subtotal:value pairs in minor units, such as 20000:2000, 50000:6000"))
            (ui::input("Buy", "buy_quantity", "number", &v("buy_quantity")).hint("buy X get Y: units to buy"))
            (ui::input("Get", "get_quantity", "number", &v("get_quantity")).hint("units given (the cheapest)"))
            (ui::input("Given SKUs", "get_variants", "text", &v("get_variants")).hint("empty: the eligible lines' own units"))
            (ui::input("Channels", "channels", "text", &v("channels")).hint("channel codes, comma separated; empty for every channel"))
            (ui::input("Minimum subtotal", "min_subtotal", "number", &v("min_subtotal")).hint("minor units of eligible lines"))
            (ui::input("Minimum quantity", "min_quantity", "number", &v("min_quantity")))
            (ui::input("Product handles", "products", "text", &v("products")))
            (ui::input("SKUs", "variants", "text", &v("variants")))
            (ui::input("Product types", "product_types", "text", &v("product_types")))
            (ui::input("Vendors", "vendors", "text", &v("vendors")))
            (ui::input("Product tags", "tags", "text", &v("tags")))
            (ui::checkbox("First order only", "new_customers_only", "on", f.get("new_customers_only").is_some()))
            (ui::input("Customer tags", "customer_tags", "text", &v("customer_tags")))
            (ui::input("Campaign", "campaign", "text", &v("campaign")).hint("the utm_campaign whose budget caps it"))
            (ui::input("Uses in all", "usage_limit", "number", &v("usage_limit")).hint("empty for no limit"))
            (ui::input("Uses per customer", "usage_limit_per_customer", "number", &v("usage_limit_per_customer")))
            (ui::input("From", "starts_at", "date", &v("starts_at")).hint("in the store's time zone"))
            (ui::input("Until (not included)", "ends_at", "date", &v("ends_at")))
            (ui::input("Sample cart", "sample", "text", &v("sample")).hint("for the preview: SKU x quantity, comma separated, such as TEE-M x 2, CAP x 1"))
            div.actions {
                button type="submit" class="secondary" formaction="/console/promotions/preview" { "Preview" }
                (ui::button(Button::Primary, "Create promotion"))
            }
        }
    }
}

/// A comma-separated list.
fn words(f: &Fields, name: &str) -> Vec<String> {
    f.raw(name)
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

/// The promotion the form describes.
fn promotion_of(f: &Fields) -> backroom_core::Result<NewPromotion> {
    let tiers = words(f, "tiers")
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (min, value) = t.split_once(':').ok_or_else(|| {
                backroom_core::Error::invalid(format!("tiers[{i}]"), "write subtotal:value")
            })?;
            Ok(PromotionTier {
                min_subtotal: min.trim().parse().map_err(|_| {
                    backroom_core::Error::invalid(
                        format!("tiers[{i}].min_subtotal"),
                        "must be minor units",
                    )
                })?,
                value: value.trim().to_string(),
            })
        })
        .collect::<backroom_core::Result<Vec<_>>>()?;
    let buy = f.opt_int("buy_quantity")?;
    Ok(NewPromotion {
        name: f.text("name"),
        kind: f.text("kind"),
        value: f.opt("value"),
        applies_to: f.opt("applies_to"),
        code: f.opt("code"),
        automatic: Some(f.get("automatic").is_some()),
        combines: Some(f.get("combines").is_some()),
        conditions: Some(PromotionConditions {
            channels: words(f, "channels"),
            min_subtotal: f.opt_int("min_subtotal")?,
            min_quantity: f.opt_int("min_quantity")?,
            products: words(f, "products"),
            variants: words(f, "variants"),
            product_types: words(f, "product_types"),
            vendors: words(f, "vendors"),
            tags: words(f, "tags"),
            new_customers_only: f.get("new_customers_only").is_some(),
            customer_tags: words(f, "customer_tags"),
        }),
        tiers: (!tiers.is_empty()).then_some(tiers),
        buy_x_get_y: match buy {
            Some(b) => Some(PromotionBuyXGetY {
                buy_quantity: b,
                get_quantity: f.opt_int("get_quantity")?.unwrap_or(1),
                get_variants: words(f, "get_variants"),
                ..Default::default()
            }),
            None => None,
        },
        campaign: f.opt("campaign"),
        usage_limit: f.opt_int("usage_limit")?,
        usage_limit_per_customer: f.opt_int("usage_limit_per_customer")?,
        starts_at: f.opt("starts_at"),
        ends_at: f.opt("ends_at"),
    })
}

/// The sample cart: `SKU x 2, SKU2` (a quantity of 1 when none is given).
fn sample_of(f: &Fields) -> backroom_core::Result<Vec<backroom_core::api::SkuQuantity>> {
    words(f, "sample")
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let (sku, q) = match w.rsplit_once(['x', '×']) {
                Some((s, q)) if !s.trim().is_empty() && q.trim().parse::<i64>().is_ok() => {
                    (s.trim(), q.trim().parse::<i64>().unwrap_or(1))
                }
                _ => (w.as_str(), 1),
            };
            if sku.is_empty() {
                return Err(backroom_core::Error::invalid(
                    format!("sample[{i}]"),
                    "names no SKU",
                ));
            }
            Ok(backroom_core::api::SkuQuantity {
                sku: sku.to_string(),
                quantity: q,
            })
        })
        .collect()
}

async fn preview(
    State(app): State<App>,
    headers: HeaderMap,
    Posted { staff, form }: Posted,
) -> Response {
    let data = match list_data(&app, &staff).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let request = promotion_of(&form).and_then(|p| {
        Ok(PreviewRequest {
            promotion: p,
            lines: sample_of(&form)?,
            ..Default::default()
        })
    });
    let ctx = staff.ctx();
    let result = match request {
        Err(e) => Err(super::describe(&e)),
        Ok(r) => app
            .db
            .read(move |tx| promotions::preview(tx, &ctx, &r))
            .await
            .map_err(|e| super::describe(&e)),
    };
    list_page(&staff, &headers, &data, &form, Some(result))
}

async fn create(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    act_on(
        &app,
        &staff,
        "/console/promotions",
        promotion_of(&form),
        promotions::create,
        |p: &Promotion| format!("Promotion {} created", p.name),
    )
    .await
}

struct DetailData {
    p: Promotion,
    codes: Vec<PromotionCode>,
    currency: String,
    row: Option<PromotionRow>,
    top_codes: Vec<PromotionRow>,
}

async fn detail(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let d = match load(&app, &staff, move |tx| {
        let report = backroom_core::analytics::promotions::report(tx, last_30_days())?;
        Ok(DetailData {
            p: promotions::get(tx, id)?,
            codes: codes::list(tx, &ctx, id, 0, 100)?,
            currency: backroom_core::settings::load(tx)?
                .currency
                .as_str()
                .to_string(),
            row: report.promotions.into_iter().find(|r| r.promotion_id == id),
            top_codes: report
                .codes
                .into_iter()
                .filter(|r| r.promotion_id == id)
                .collect(),
        })
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let p = &d.p;
    let cur = &d.currency;
    let now = backroom_core::util::rfc3339(backroom_core::util::now_micros());
    let base = format!("/console/promotions/{id}");
    let body = html! {
        p { (ui::badge(status(p, &now))) " " (gives(p, cur)) "; " (conditions(p, cur)) "." }
        dl.facts {
            dt { "Trigger" } dd { @if p.automatic { "automatic" } @else { (ui::count(p.codes)) " codes" } }
            dt { "Combines" } dd { @if p.combines { "with others that combine" } @else { "no: applies alone" } }
            dt { "Used" } dd { (ui::count(p.times_used)) @if let Some(l) = p.usage_limit { " of " (ui::count(l)) } }
            dt { "Per customer" } dd { (p.usage_limit_per_customer.map_or("no limit".into(), |l| l.to_string())) }
            dt { "Window" } dd { (p.starts_at.as_deref().map_or("from the start".into(), |t| staff.when(t))) " to " (p.ends_at.as_deref().map_or("no end".into(), |t| staff.when(t))) }
            @if let Some(c) = &p.campaign { dt { "Campaign" } dd { (c) } }
        }
        @if let Some(r) = &d.row {
            div.stats {
                (ui::stat("Orders", "", &ui::count(r.orders), html! { span.muted { "last 30 days" } }))
                (ui::stat("Discount", "", &ui::money(r.discount + r.shipping_discount, cur), html! { span.muted { "lines and shipping" } }))
                (ui::stat("Sales", "", &ui::money(r.sales, cur), html! { span.muted { "of those orders" } }))
                (ui::stat("Gross margin", "", &crate::kpi_view::pct(r.gross_margin), html! { span.muted { "where costs are known" } }))
            }
        }
        @if !d.top_codes.is_empty() {
            (ui::table("Codes used, last 30 days", &[col("Code"), col("Orders").num(), col("Discount").num(), col("Sales").num()],
                d.top_codes.iter().map(|r| vec![
                    html! { code { (r.code.as_deref().unwrap_or("-")) } }, html! { (ui::count(r.orders)) },
                    html! { (ui::money(r.discount, cur)) }, html! { (ui::money(r.sales, cur)) },
                ]).collect(), ""))
        }
        (ui::table("Codes (the first 100)", &[col("Code"), col("Uses").num(), col("Limit").num(), col("Batch")],
            d.codes.iter().map(|c| vec![
                html! { code { (c.code) } }, html! { (ui::count(c.times_used)) },
                html! { (c.usage_limit.map_or("-".into(), |l| l.to_string())) }, html! { (c.batch.as_deref().unwrap_or("-")) },
            ]).collect(), "No code: automatic, or none added yet."))
        p { (ui::link(&format!("{base}/codes.csv"), "Export every code as CSV")) }
        @if staff.may(Permission::MarketingWrite) {
            h2 { "Generate codes" }
            (ui::form(&staff, &format!("{base}/codes"), html! {
                (ui::input("How many", "count", "number", "100").required().min("1").max("100000"))
                (ui::input("Prefix", "prefix", "text", "").hint("such as BF26-"))
                (ui::input("Uses per code", "usage_limit_per_code", "number", "1"))
            }, "Generate"))
            h2 { "Import codes" }
            (ui::form(&staff, &format!("{base}/import"), html! {
                (ui::textarea("CSV", "csv", "").required().hint("a code column, and optionally usage_limit"))
                (ui::input("Uses per code", "usage_limit_per_code", "number", "").hint("when a row gives none; empty for no limit"))
            }, "Import"))
            (ui::form_of(&staff, &format!("{base}/active"), ui::hidden("active", if p.active { "no" } else { "yes" }),
                if p.active { Button::Danger } else { Button::Primary },
                if p.active { "Switch off" } else { "Switch on" }))
        }
    };
    page(&staff, &headers, &p.name, body)
}

async fn switch(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let active = form.flag("active").unwrap_or(false);
    act(
        &app,
        &staff,
        &format!("/console/promotions/{id}"),
        move |tx, ctx| {
            promotions::update(
                tx,
                ctx,
                id,
                &PromotionPatch {
                    active: Some(active),
                    ..Default::default()
                },
            )
        },
        |p: &Promotion| format!("{} is {}", p.name, if p.active { "on" } else { "off" }),
    )
    .await
}

async fn generate(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let parsed = (|| {
        Ok::<_, backroom_core::Error>(NewCodes {
            count: form.int("count")?,
            prefix: form.opt("prefix"),
            length: None,
            usage_limit_per_code: form.opt_int("usage_limit_per_code")?,
        })
    })();
    act_on(
        &app,
        &staff,
        &format!("/console/promotions/{id}"),
        parsed,
        move |tx, ctx, n| codes::generate(tx, ctx, id, n),
        |a: &CodesAdded| format!("{} codes added (batch {})", a.added, a.batch),
    )
    .await
}

async fn import(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form }: Posted,
) -> Response {
    let parsed = form
        .opt_int("usage_limit_per_code")
        .map(|l| (form.text("csv"), l));
    act_on(
        &app,
        &staff,
        &format!("/console/promotions/{id}"),
        parsed,
        move |tx, ctx, (text, limit)| codes::import_csv(tx, ctx, id, text, *limit),
        |a: &CodesAdded| {
            let mut m = format!("{} codes added, {} refused", a.added, a.refused.len());
            for r in a.refused.iter().take(5) {
                m.push_str(&format!("; row {}: {}", r.row, r.reason));
            }
            m
        },
    )
    .await
}

async fn export(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    match load(&app, &staff, move |tx| codes::export_csv(tx, &ctx, id)).await {
        Ok(csv) => crate::http::csv_response(csv, Some(&format!("promotion-{id}-codes.csv"))),
        Err(r) => r,
    }
}
