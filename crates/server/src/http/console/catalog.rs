//! Catalog: products with search, filters and sorting; a product's page with its variants, stock
//! by location and listing-quality checks; forms to create, edit and archive.

use super::{
    App, Fields, Posted, Staff, act, act_then, amount_value, badge, describe, esc, failed,
    filter_form, form, input, link, load, names, options, page_html, pager, select, show_money,
    status_of,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use backroom_core::api::{
    Location, NewProduct, NewVariant, Product, ProductPatch, SkuStock, VariantPatch,
};
use backroom_core::catalog::{self, ProductQuery};
use backroom_core::{Error, inventory, settings};
use backroom_domain::listing::{self, Listing, Severity, VariantListing};
use backroom_domain::order::ProductStatus;
use backroom_domain::roles::Permission;
use std::fmt::Write;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/products", get(list).post(create))
        .route("/console/products/new", get(new_page))
        .route("/console/products/{id}", get(show).post(update))
        .route("/console/products/{id}/archive", post(archive))
        .route("/console/variants/{id}", post(update_variant))
}

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
    let found = app
        .db
        .read(move |tx| {
            let page = catalog::list_products(tx, &query)?;
            let vendors = catalog::vendors(tx, 200)?;
            let types = catalog::product_types(tx, 200)?;
            Ok((page, vendors, types))
        })
        .await;
    let (found, vendors, types) = match found {
        Ok(f) => f,
        Err(e @ Error::Invalid(_)) => {
            return super::refused(status_of(&e), Some(&staff), &describe(&e));
        }
        Err(e) => return failed(&staff, &e),
    };
    let any = |v: Vec<String>| {
        let mut o = vec![(String::new(), "any".to_string())];
        o.extend(v.into_iter().map(|x| (x.clone(), x)));
        o
    };
    let mut body = String::new();
    if staff.may(Permission::CatalogWrite) {
        body.push_str("<p><a href=\"/console/products/new\">New product</a></p>");
    }
    body.push_str(&filter_form(
        "/console/products",
        &[
            input(
                "Search title or SKU",
                "q",
                "search",
                &q.text("q"),
                "autofocus",
            ),
            select(
                "Status",
                "status",
                &any(names(ProductStatus::ALL, ProductStatus::as_str)
                    .into_iter()
                    .map(String::from)
                    .collect()),
                &q.text("status"),
            ),
            select("Vendor", "vendor", &any(vendors), &q.text("vendor")),
            select("Type", "product_type", &any(types), &q.text("product_type")),
            select(
                "Stock",
                "stock",
                &[
                    (String::new(), "any".into()),
                    ("in_stock".into(), "in stock".into()),
                    ("low".into(), "low".into()),
                    ("out_of_stock".into(), "out of stock".into()),
                ],
                &q.text("stock"),
            ),
            select(
                "Sort",
                "sort",
                &[
                    (String::new(), "recently updated".into()),
                    ("title".into(), "title A–Z".into()),
                    ("-title".into(), "title Z–A".into()),
                    ("-id".into(), "newest".into()),
                    ("id".into(), "oldest".into()),
                ],
                &q.text("sort"),
            ),
        ]
        .concat(),
    ));
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|p| {
            let prices: Vec<i64> = p.variants.iter().map(|v| v.price.amount).collect();
            let cur = p
                .variants
                .first()
                .map(|v| v.price.currency.clone())
                .unwrap_or_default();
            let price = match (prices.iter().min(), prices.iter().max()) {
                (Some(a), Some(b)) if a == b => super::money(*a, &cur),
                (Some(a), Some(b)) => {
                    format!("{} – {}", super::money(*a, &cur), super::money(*b, &cur))
                }
                _ => "–".into(),
            };
            vec![
                link(&format!("/console/products/{}", p.id), &p.title),
                badge(&p.status),
                esc(&p.vendor),
                esc(&p.product_type),
                p.variants.len().to_string(),
                esc(&p
                    .variants
                    .iter()
                    .map(|v| v.sku.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")),
                esc(&price),
            ]
        })
        .collect();
    body.push_str(&super::table(
        "Products",
        &[
            "Title", "Status", "Vendor", "Type", "Variants", "SKUs", "Price",
        ],
        &rows,
        "No product matches these filters.",
    ));
    body.push_str(&pager(
        "/console/products",
        &q,
        found.next_cursor.as_deref(),
    ));
    page_html(&staff, &headers, "Products", &body)
}

async fn new_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::CatalogWrite).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = form(
        &staff,
        "/console/products",
        &[
            "<fieldset><legend>Product</legend>",
            &input("Title", "title", "text", "", "required maxlength=\"255\""),
            &input("Vendor", "vendor", "text", "", ""),
            &input("Type", "product_type", "text", "", ""),
            &select("Status", "status", &options(&["draft", "active"]), "draft"),
            "</fieldset><fieldset><legend>First variant</legend>",
            &input("SKU", "sku", "text", "", "required"),
            &input(
                "Price",
                "price",
                "text",
                "",
                "required inputmode=\"decimal\"",
            ),
            &input(
                "Unit cost",
                "unit_cost",
                "text",
                "",
                "inputmode=\"decimal\"",
            ),
            "</fieldset>",
        ]
        .concat(),
        "Create product",
    );
    page_html(&staff, &headers, "New product", &body)
}

async fn create(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    act_then(
        &app,
        &staff,
        "/console/products/new",
        move |tx, ctx| {
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
            catalog::create_product(tx, ctx, &p)
        },
        |p| {
            (
                format!("/console/products/{}", p.id),
                format!("Created {}.", p.title),
            )
        },
    )
    .await
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
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>{} · handle <code>{}</code> · updated {}</p>",
        badge(&p.status),
        esc(&p.handle),
        esc(&super::when(&p.updated_at))
    );
    body.push_str(&quality_section(&p));
    body.push_str(&variants_section(&p, &stock, &locations));
    if staff.may(Permission::CatalogWrite) {
        body.push_str(&edit_section(&staff, &p, refused_edit.as_ref()));
    }
    let status = match &refused_edit {
        Some((_, e)) => status_of(e),
        None => axum::http::StatusCode::OK,
    };
    (status, page_html(&staff, headers, &p.title, &body)).into_response()
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
fn quality_section(p: &Product) -> String {
    let mut body = String::new();
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
    let _ = write!(
        body,
        "<h2>Listing quality: {passed} of {} checks pass</h2>",
        listing::CHECKS
    );
    if findings.is_empty() {
        body.push_str("<p class=\"up\">Nothing to fix.</p>");
    } else {
        body.push_str("<ul class=\"findings\">");
        for f in &findings {
            let (class, word) = match f.severity {
                Severity::Fix => ("fix", "Fix"),
                Severity::Consider => ("consider", "Consider"),
            };
            let _ = write!(
                body,
                "<li class=\"{class}\" data-check=\"{}\"><strong>{word}:</strong> {}</li>",
                f.code,
                esc(&f.message)
            );
        }
        body.push_str("</ul>");
    }
    body
}

/// The variants with their prices and stock by location.
fn variants_section(p: &Product, stock: &[SkuStock], locations: &[Location]) -> String {
    let mut body = String::new();
    let loc_code = |id: i64| {
        locations
            .iter()
            .find(|l| l.id == id)
            .map_or_else(|| id.to_string(), |l| l.code.clone())
    };
    let rows: Vec<Vec<String>> = p
        .variants
        .iter()
        .zip(stock)
        .map(|(v, s)| {
            let by_loc = s
                .levels
                .iter()
                .map(|l| {
                    format!(
                        "{}: {} available ({} on hand)",
                        loc_code(l.location_id),
                        l.available,
                        l.on_hand
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            vec![
                link(
                    &format!(
                        "/console/inventory/sku?sku={}",
                        super::ui::url_encode(&v.sku)
                    ),
                    &v.sku,
                ),
                esc(&v.title),
                esc(&show_money(&v.price)),
                v.compare_at_price
                    .as_ref()
                    .map_or_else(|| "–".into(), |m| esc(&show_money(m))),
                v.unit_cost
                    .as_ref()
                    .map_or_else(|| "–".into(), |m| esc(&show_money(m))),
                esc(&v.inventory_policy),
                format!(
                    "<span data-available=\"{}\">{}</span>",
                    esc(&v.sku),
                    s.totals.available
                ),
                if by_loc.is_empty() {
                    "none".into()
                } else {
                    by_loc
                },
            ]
        })
        .collect();
    body.push_str("<h2>Variants</h2>");
    body.push_str(&super::table(
        "Variants and stock",
        &[
            "SKU",
            "Variant",
            "Price",
            "Compare at",
            "Unit cost",
            "When out of stock",
            "Available",
            "By location",
        ],
        &rows,
        "No variant.",
    ));
    body
}

/// The forms of a member who may edit: the product, each variant, and archiving.
fn edit_section(staff: &Staff, p: &Product, refused_edit: Option<&(Fields, Error)>) -> String {
    let mut body = String::new();
    let (values, error) = match refused_edit {
        Some((f, e)) => (Some(f), Some(e)),
        None => (None, None),
    };
    body.push_str(&edit_form(staff, p, values, error));
    for v in &p.variants {
        let cur = &v.price.currency;
        let amount = |m: &Option<backroom_core::api::Money>| {
            m.as_ref()
                .map(|m| amount_value(m.amount, cur))
                .unwrap_or_default()
        };
        body.push_str(&form(
            staff,
            &format!("/console/variants/{}", v.id),
            &[
                format!("<strong>{}</strong> ", esc(&v.sku)),
                input(
                    "Price",
                    "price",
                    "text",
                    &amount_value(v.price.amount, cur),
                    "required inputmode=\"decimal\"",
                ),
                input(
                    "Compare at",
                    "compare_at_price",
                    "text",
                    &amount(&v.compare_at_price),
                    "inputmode=\"decimal\"",
                ),
                input(
                    "Unit cost",
                    "unit_cost",
                    "text",
                    &amount(&v.unit_cost),
                    "inputmode=\"decimal\"",
                ),
                input(
                    "Barcode",
                    "barcode",
                    "text",
                    v.barcode.as_deref().unwrap_or_default(),
                    "",
                ),
                select(
                    "When out of stock",
                    "inventory_policy",
                    &[
                        ("deny".into(), "stop selling".into()),
                        ("continue".into(), "keep selling (backorder)".into()),
                    ],
                    &v.inventory_policy,
                ),
            ]
            .concat(),
            "Save variant",
        ));
    }
    if p.status != "archived" {
        body.push_str(&super::danger_form(
            staff,
            &format!("/console/products/{}/archive", p.id),
            "",
            "Archive product",
            "Yes, archive it: it leaves every channel",
        ));
    }
    body
}

/// The product's edit form: its current values, or what was typed when an edit was refused, with
/// the message beside the field it names.
fn edit_form(staff: &Staff, p: &Product, typed: Option<&Fields>, error: Option<&Error>) -> String {
    let field_of = |e: &Error| match e {
        Error::Invalid(i) => i.field.clone(),
        _ => String::new(),
    };
    let bad = error.map(field_of).unwrap_or_default();
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
    let field = |label: &str, name: &str, current: &str, attrs: &str| {
        let invalid = bad == name;
        let mut out = input(
            label,
            name,
            "text",
            &value(name, current),
            &format!(
                "{attrs}{}",
                if invalid {
                    format!(" aria-invalid=\"true\" aria-describedby=\"err-{name}\"")
                } else {
                    String::new()
                }
            ),
        );
        if invalid && let Some(e) = error {
            let _ = write!(
                out,
                "<span class=\"error\" id=\"err-{name}\">{}</span>",
                esc(&describe(e))
            );
        }
        out
    };
    let mut fields = vec![
        field("Title", "title", &p.title, "required maxlength=\"255\""),
        field("Vendor", "vendor", &p.vendor, ""),
        field("Type", "product_type", &p.product_type, ""),
        field("Tags (comma-separated)", "tags", &p.tags.join(", "), ""),
        field(
            "Search title",
            "seo_title",
            p.seo_title.as_deref().unwrap_or_default(),
            "",
        ),
        field(
            "Search description",
            "seo_description",
            p.seo_description.as_deref().unwrap_or_default(),
            "size=\"60\"",
        ),
        field(
            "Image URLs (comma-separated)",
            "image_urls",
            &p.image_urls.join(", "),
            "size=\"60\"",
        ),
    ];
    fields.push(select(
        "Status",
        "status",
        &options(&names(ProductStatus::ALL, ProductStatus::as_str)),
        &value("status", &p.status),
    ));
    let mut description = format!(
        "<label>Description <textarea name=\"description\" rows=\"4\" cols=\"60\"{}>{}</textarea></label>",
        if bad == "description" {
            " aria-invalid=\"true\""
        } else {
            ""
        },
        esc(&value("description", &p.description))
    );
    if bad == "description"
        && let Some(e) = error
    {
        let _ = write!(
            description,
            "<span class=\"error\">{}</span>",
            esc(&describe(e))
        );
    }
    fields.push(description);
    let mut out = String::from("<h2>Edit</h2>");
    if let Some(e) = error {
        let _ = write!(
            out,
            "<p class=\"error\" role=\"alert\">Nothing was saved. {}</p>",
            esc(&describe(e))
        );
    }
    out.push_str(&form(
        staff,
        &format!("/console/products/{}", p.id),
        &fields.concat(),
        "Save product",
    ));
    out
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
