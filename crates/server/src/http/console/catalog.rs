//! Catalog: products with search, filters and sorting; a product's page with its variants, stock
//! by location and listing-quality checks; forms to create, edit and archive.

use super::ui::{self, Kind, col};
use super::{
    App, Fields, Posted, Staff, act, amount_value, code_of, describe, failed, load, page, status_of,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backroom_core::api::{
    Location, NewProduct, NewVariant, Product, ProductPatch, SkuStock, Variant, VariantPatch,
};
use backroom_core::auth::views;
use backroom_core::catalog::{self, ProductQuery};
use backroom_core::{Error, inventory, settings};
use backroom_domain::listing::{self, Listing, Severity, VariantListing};
use backroom_domain::order::ProductStatus;
use backroom_domain::roles::Permission;
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/products", get(list).post(create))
        .route("/console/products/new", get(new_page))
        .route("/console/products/{id}", get(show).post(update))
        .route("/console/products/{id}/archive", post(archive))
        .route("/console/variants/{id}", post(update_variant))
}

/// The product list's columns; those with a key sort the whole list on the server
/// ([`ProductQuery::sort`]: `title`, `updated_at`, `id`).
const COLUMNS: [ui::Col; 9] = [
    col("Title").sort("title"),
    col("Status"),
    col("Vendor"),
    col("Type"),
    col("Variants").num(),
    col("SKUs"),
    col("Price").num(),
    col("Updated").sort("updated_at"),
    col("ID").num().sort("id"),
];

async fn list(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::CatalogRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = ProductQuery {
        q: q.opt("q"),
        status: q.opt("status"),
        vendor: q.opt("vendor"),
        product_type: q.opt("product_type"),
        stock: q.opt("stock"),
        sort: q.opt("sort"),
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let ctx = staff.ctx();
    let found = app
        .db
        .read(move |tx| {
            let page = catalog::list_products(tx, &query)?;
            let vendors = catalog::vendors(tx, 200)?;
            let types = catalog::product_types(tx, 200)?;
            let saved = views::list_views(tx, &ctx, "/console/products")?;
            Ok((page, vendors, types, saved))
        })
        .await;
    let (found, vendors, types, saved) = match found {
        Ok(f) => f,
        Err(e @ Error::Invalid(_)) => {
            return super::refused(status_of(&e), Some(&staff), &describe(&e));
        }
        Err(e) => return failed(&staff, &e),
    };
    let table = ui::Table {
        caption: "Products",
        cols: &COLUMNS,
        rows: found.items.iter().map(|p| product_row(&staff, p)).collect(),
        empty: "No product matches these filters.",
        sorted: Some(("/console/products", &q)),
    };
    let body = html! {
        @if staff.may(Permission::CatalogWrite) {
            p { (ui::button_link(Kind::Primary, "/console/products/new", "New product")) }
        }
        (super::views::bar(&staff, "/console/products", &q, &saved))
        (product_filters(&q, vendors, types))
        (table)
        (ui::pager("/console/products", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Products", body)
}

/// The product list's filters: words or a SKU, status, vendor, type and stock. The sort is the
/// columns' (kept by the form).
fn product_filters(q: &Fields, vendors: Vec<String>, types: Vec<String>) -> Markup {
    let any = |v: Vec<String>| {
        let mut o = vec![(String::new(), "any".to_string())];
        o.extend(v.into_iter().map(|x| (x.clone(), x)));
        o
    };
    let stock = [
        (String::new(), "any".to_string()),
        ("in_stock".to_string(), "in stock".to_string()),
        ("low".to_string(), "low".to_string()),
        ("out_of_stock".to_string(), "out of stock".to_string()),
    ];
    let statuses = ui::any_of(&ui::names(ProductStatus::ALL, ProductStatus::as_str));
    ui::filter_form(
        "/console/products",
        q,
        html! {
            (ui::input("Search title or SKU", "q", "search", &q.text("q")))
            (ui::select("Status", "status", &statuses, &q.text("status")))
            (ui::select("Vendor", "vendor", &any(vendors), &q.text("vendor")))
            (ui::select("Type", "product_type", &any(types), &q.text("product_type")))
            (ui::select("Stock", "stock", &stock, &q.text("stock")))
        },
    )
}

/// A product's row in the list, its prices from the lowest to the highest of its variants'.
fn product_row(staff: &Staff, p: &Product) -> Vec<Markup> {
    let prices: Vec<i64> = p.variants.iter().map(|v| v.price.amount).collect();
    let cur = p
        .variants
        .first()
        .map(|v| v.price.currency.clone())
        .unwrap_or_default();
    let price = match (prices.iter().min(), prices.iter().max()) {
        (Some(a), Some(b)) if a == b => ui::money(*a, &cur),
        (Some(a), Some(b)) => format!("{} – {}", ui::money(*a, &cur), ui::money(*b, &cur)),
        _ => "–".into(),
    };
    let skus: Vec<&str> = p.variants.iter().map(|v| v.sku.as_str()).collect();
    vec![
        ui::link(&format!("/console/products/{}", p.id), &p.title),
        ui::badge(&p.status),
        html! { (p.vendor) },
        html! { (p.product_type) },
        html! { (ui::count(p.variants.len() as i64)) },
        html! { (skus.join(", ")) },
        html! { (price) },
        html! { (staff.when(&p.updated_at)) },
        html! { (p.id) },
    ]
}

async fn new_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::CatalogWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    page(
        &staff,
        &headers,
        "New product",
        new_product_form(&staff, None),
    )
}

/// The new-product form: empty, or, after a refusal, with what was typed, the reason above it
/// and under the field it names.
fn new_product_form(staff: &Staff, refused: Option<(&Fields, &Error)>) -> Markup {
    let typed = |name: &str, default: &str| -> String {
        refused.map_or(default.to_string(), |(f, _)| f.raw(name).to_string())
    };
    let refusal = refused.map(|(_, e)| describe(e));
    let r = refusal.as_deref();
    html! {
        @if let Some(why) = r { p.notice.error role="alert" { (why) } }
        (ui::form(staff, "/console/products", html! {
            fieldset {
                legend { "Product" }
                (ui::input("Title", "title", "text", &typed("title", "")).required().maxlength(255).autofocus().error_from(r))
                (ui::input("Vendor", "vendor", "text", &typed("vendor", "")).error_from(r))
                (ui::input("Type", "product_type", "text", &typed("product_type", "")).error_from(r))
                (ui::select("Status", "status", &ui::options(&["draft", "active"]), &typed("status", "draft")))
            }
            fieldset {
                legend { "First variant" }
                (ui::input("SKU", "sku", "text", &typed("sku", "")).required().error_from(r))
                (ui::input("Price", "price", "text", &typed("price", "")).required().inputmode("decimal").hint("like 19.99").error_from(r))
                (ui::input("Unit cost", "unit_cost", "text", &typed("unit_cost", "")).inputmode("decimal").error_from(r))
            }
        }, "Create product"))
    }
}

async fn create(
    State(app): State<App>,
    headers: HeaderMap,
    Posted { staff, form: f }: Posted,
) -> Response {
    let typed = f.clone();
    let ctx = staff.ctx();
    let made = app
        .db
        .write(move |tx| {
            let cur = settings::load(tx)?.currency;
            let p = NewProduct {
                title: f.text("title"),
                vendor: f.opt("vendor"),
                product_type: f.opt("product_type"),
                status: f.opt("status"),
                variants: vec![NewVariant {
                    sku: f.text("sku"),
                    price: f
                        .opt_amount("price", cur)?
                        .ok_or_else(|| Error::invalid("price", "is required"))?,
                    unit_cost: f.opt_amount("unit_cost", cur)?,
                    ..Default::default()
                }],
                ..Default::default()
            };
            catalog::create_product(tx, &ctx, &p)
        })
        .await;
    match made {
        Ok(p) => super::see_other(
            &format!("/console/products/{}", p.id),
            true,
            &format!("Created {}.", p.title),
        ),
        // Shown again with what was typed (no redirect, so nothing typed is lost).
        Err(e) => (
            status_of(&e),
            page(
                &staff,
                &headers,
                "New product",
                new_product_form(&staff, Some((&typed, &e))),
            ),
        )
            .into_response(),
    }
}

/// Stock of every variant of a product, by SKU.
fn stock_of(tx: &mut dyn backroom_core::Sql, p: &Product) -> backroom_core::Result<Vec<SkuStock>> {
    p.variants
        .iter()
        .map(|v| inventory::sku_stock(tx, &v.sku))
        .collect()
}

async fn show(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    product_page(&app, &headers, id, None).await
}

/// A product's page; after a refused edit, the form keeps what was typed and says what is wrong.
async fn product_page(
    app: &App,
    headers: &HeaderMap,
    id: i64,
    refused_edit: Option<(Fields, Error)>,
) -> Response {
    let staff = match Staff::viewing(app, headers, Permission::CatalogRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (p, stock, locations) = match load(app, &staff, move |tx| load_product(tx, id)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        p { (ui::badge(&p.status)) " · handle " code { (p.handle) } " · updated " (staff.when(&p.updated_at)) }
        (quality_section(&p))
        (variants_section(&p, &stock, &locations))
        @if staff.may(Permission::CatalogWrite) { (edit_section(&staff, &p, refused_edit.as_ref())) }
    };
    let status = match &refused_edit {
        Some((_, e)) => status_of(e),
        None => axum::http::StatusCode::OK,
    };
    (status, page(&staff, headers, &p.title, body)).into_response()
}

/// What a product's page shows: the product, its variants' stock, and the locations.
fn load_product(
    tx: &mut dyn backroom_core::Sql,
    id: i64,
) -> backroom_core::Result<(Product, Vec<SkuStock>, Vec<Location>)> {
    let p = catalog::get_product(tx, id)?;
    let stock = stock_of(tx, &p)?;
    Ok((p, stock, catalog::list_locations(tx)?))
}

/// The listing-quality checks: how many pass, and what to fix or consider.
fn quality_section(p: &Product) -> Markup {
    let findings = listing::check(&Listing {
        title: &p.title,
        description: &p.description,
        seo_title: p.seo_title.as_deref(),
        seo_description: p.seo_description.as_deref(),
        vendor: &p.vendor,
        product_type: &p.product_type,
        tags: p.tags.len(),
        images: p.image_urls.len(),
        variants: p
            .variants
            .iter()
            .map(|v| VariantListing {
                sku: &v.sku,
                price: v.price.amount,
                compare_at_price: v.compare_at_price.as_ref().map(|m| m.amount),
                unit_cost: v.unit_cost.as_ref().map(|m| m.amount),
                barcode: v.barcode.as_deref(),
            })
            .collect(),
    });
    let passed = listing::CHECKS - findings.len();
    html! {
        h2 { "Listing quality: " (passed) " of " (listing::CHECKS) " checks pass" }
        @if findings.is_empty() {
            p.up { "Nothing to fix." }
        } @else {
            ul.findings {
                @for f in &findings {
                    @let (class, word) = match f.severity {
                        Severity::Fix => ("fix", "Fix"),
                        Severity::Consider => ("consider", "Consider"),
                    };
                    li class=(class) data-check=(f.code) { strong { (word) ":" } " " (f.message) }
                }
            }
        }
    }
}

/// The variants with their prices and stock by location.
fn variants_section(p: &Product, stock: &[SkuStock], locations: &[Location]) -> Markup {
    let money =
        |m: Option<&backroom_core::api::Money>| html! { (m.map_or("–".into(), ui::show_money)) };
    let rows = p
        .variants
        .iter()
        .zip(stock)
        .map(|(v, s)| {
            vec![
                ui::link(
                    &format!("/console/inventory/sku?sku={}", ui::url_encode(&v.sku)),
                    &v.sku,
                ),
                html! { (v.title) },
                money(Some(&v.price)),
                money(v.compare_at_price.as_ref()),
                money(v.unit_cost.as_ref()),
                html! { (v.inventory_policy) },
                html! { span data-available=(v.sku) { (ui::count(s.totals.available)) } },
                html! {
                    @for (i, l) in s.levels.iter().enumerate() {
                        @if i > 0 { br; }
                        (code_of(locations, l.location_id)) ": " (ui::count(l.available))
                        " available (" (ui::count(l.on_hand)) " on hand)"
                    }
                    @if s.levels.is_empty() { "none" }
                },
            ]
        })
        .collect();
    html! {
        h2 { "Variants" }
        (ui::table("Variants and stock", &[col("SKU"), col("Variant"), col("Price").num(), col("Compare at").num(),
            col("Unit cost").num(), col("When out of stock"), col("Available").num(), col("By location")],
            rows, "No variant."))
    }
}

/// The forms of a member who may edit: the product, each variant, and archiving.
fn edit_section(staff: &Staff, p: &Product, refused_edit: Option<&(Fields, Error)>) -> Markup {
    let (typed, error) = match refused_edit {
        Some((f, e)) => (Some(f), Some(e)),
        None => (None, None),
    };
    html! {
        (edit_form(staff, p, typed, error))
        h2 { "Variants' prices" }
        @for v in &p.variants { (variant_form(staff, v)) }
        @if p.status != "archived" {
            h2 { "Archive" }
            (ui::danger_form(staff, &format!("/console/products/{}/archive", p.id), html! {},
                "Archive product", "Yes, archive it: it leaves every channel"))
        }
    }
}

/// A variant's prices, barcode and policy when out of stock. Amounts are as typed, without
/// separators, so they read back.
fn variant_form(staff: &Staff, v: &Variant) -> Markup {
    let cur = &v.price.currency;
    let amount = |m: &Option<backroom_core::api::Money>| {
        m.as_ref()
            .map(|m| amount_value(m.amount, cur))
            .unwrap_or_default()
    };
    let policies = [
        ("deny".to_string(), "stop selling".to_string()),
        (
            "continue".to_string(),
            "keep selling (backorder)".to_string(),
        ),
    ];
    ui::form_of(
        staff,
        &format!("/console/variants/{}", v.id),
        html! {
            strong { (v.sku) }
            (ui::input("Price", "price", "text", &amount_value(v.price.amount, cur)).required().inputmode("decimal"))
            (ui::input("Compare at", "compare_at_price", "text", &amount(&v.compare_at_price)).inputmode("decimal"))
            (ui::input("Unit cost", "unit_cost", "text", &amount(&v.unit_cost)).inputmode("decimal"))
            (ui::input("Barcode", "barcode", "text", v.barcode.as_deref().unwrap_or_default()))
            (ui::select("When out of stock", "inventory_policy", &policies, &v.inventory_policy))
        },
        Kind::Secondary,
        "Save variant",
    )
}

/// The product's edit form: its current values, or what was typed when an edit was refused, with
/// the reason under the field it names.
fn edit_form(staff: &Staff, p: &Product, typed: Option<&Fields>, error: Option<&Error>) -> Markup {
    let refusal = error.map(describe);
    let value = |name: &str, current: &str| -> String {
        typed.map_or_else(
            || current.to_string(),
            |f| {
                f.0.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            },
        )
    };
    let field = |label: &'static str, name: &'static str, current: &str| {
        ui::input(label, name, "text", &value(name, current)).error_from(refusal.as_deref())
    };
    let statuses = ui::options(&ui::names(ProductStatus::ALL, ProductStatus::as_str));
    let fields = html! {
        (field("Title", "title", &p.title).required().maxlength(255))
        (field("Vendor", "vendor", &p.vendor))
        (field("Type", "product_type", &p.product_type))
        (field("Tags (comma-separated)", "tags", &p.tags.join(", ")))
        (field("Search title", "seo_title", p.seo_title.as_deref().unwrap_or_default()))
        (field("Search description", "seo_description", p.seo_description.as_deref().unwrap_or_default()).size(60))
        (field("Image URLs (comma-separated)", "image_urls", &p.image_urls.join(", ")).size(60))
        (ui::select("Status", "status", &statuses, &value("status", &p.status)))
        (ui::textarea("Description", "description", &value("description", &p.description))
            .error_from(refusal.as_deref()))
    };
    html! {
        h2 { "Edit" }
        @if let Some(r) = &refusal { p.error role="alert" { "Nothing was saved. " (r) } }
        (ui::form(staff, &format!("/console/products/{}", p.id), fields, "Save product"))
    }
}

fn list_field(f: &Fields, name: &str) -> Vec<String> {
    f.text(name)
        .split(',')
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

async fn update(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let patch = ProductPatch {
        title: Some(f.text("title")),
        description: Some(f.raw("description").to_string()),
        vendor: Some(f.text("vendor")),
        product_type: Some(f.text("product_type")),
        tags: Some(list_field(&f, "tags")),
        image_urls: Some(list_field(&f, "image_urls")),
        status: f.opt("status"),
        seo_title: Some(f.opt("seo_title")),
        seo_description: Some(f.opt("seo_description")),
        ..Default::default()
    };
    let patch = std::sync::Arc::new(patch);
    let ctx = staff.ctx();
    match app
        .db
        .write(move |tx| catalog::update_product(tx, &ctx, id, &patch))
        .await
    {
        Ok(p) => super::see_other(
            &format!("/console/products/{id}"),
            true,
            &format!("Saved {}.", p.title),
        ),
        Err(e) => product_page(&app, &headers, id, Some((f, e))).await,
    }
}

async fn archive(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let back = format!("/console/products/{id}");
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| {
            f.confirmed()?;
            catalog::archive_product(tx, ctx, id)
        },
        |p| format!("Archived {}.", p.title),
    )
    .await
}

async fn update_variant(
    State(app): State<App>,
    Path(id): Path<i64>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let product = match load(&app, &staff, move |tx| {
        Ok(catalog::get_variant(tx, id)?.product_id)
    })
    .await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let back = format!("/console/products/{product}");
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| {
            let cur = settings::load(tx)?.currency;
            let patch = VariantPatch {
                price: Some(
                    f.opt_amount("price", cur)?
                        .ok_or_else(|| Error::invalid("price", "is required"))?,
                ),
                compare_at_price: Some(f.opt_amount("compare_at_price", cur)?),
                unit_cost: Some(f.opt_amount("unit_cost", cur)?),
                barcode: Some(f.opt("barcode")),
                inventory_policy: f.opt("inventory_policy"),
                ..Default::default()
            };
            catalog::update_variant(tx, ctx, id, &patch)
        },
        |v| format!("Saved {}.", v.sku),
    )
    .await
}
