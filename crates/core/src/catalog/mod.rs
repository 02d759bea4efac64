//! Products and variants, locations, and sales channels.

pub mod history;
mod sourcing;
pub mod sql;

pub(crate) use sourcing::{CHANNEL_SOURCING_BY_CODE_SQL, channel_sourcing_from};
pub use sourcing::{ChannelSourcing, channel_sourcing};

use crate::api::{
    self, Channel, ChannelPatch, Location, LocationPatch, NewChannel, NewLocation, NewProduct,
    NewVariant, Page, Product, ProductPatch, Variant, VariantPatch,
};
use crate::audit;
use crate::db::{Row, Sql};
use crate::util::page;
use crate::util::{Filter, decode_cursor, encode_cursor, from_json, page_limit, rfc3339, to_json};
use crate::{Ctx, DbError, Error, Result, Val, params, settings};
use backroom_domain::order::{InventoryPolicy, LocationKind, ProductStatus};
use backroom_domain::roles::Permission;
use backroom_domain::values::{optional_text, required_text};
use backroom_domain::{Handle, Invalid, Sku};
use serde_json::json;

fn money(amount: i64, currency: &str) -> api::Money {
    api::Money {
        amount,
        currency: currency.to_string(),
    }
}

/// Maps a unique violation to a 409 naming the field; anything else passes through.
fn unique_as(field: &'static str, message: String) -> impl FnOnce(DbError) -> Error {
    move |e| match e {
        DbError::Unique(_) => Error::Conflict {
            code: "already_exists",
            message,
            field: Some(field.into()),
        },
        other => Error::Db(other),
    }
}

fn check_price(field: &str, v: i64) -> Result<i64> {
    if (0..=100_000_000_000).contains(&v) {
        Ok(v)
    } else {
        Err(Error::invalid(
            field,
            "must be between 0 and 100000000000 minor units",
        ))
    }
}

pub(crate) fn check_list(field: &str, items: &[String], max_items: usize) -> Result<Vec<String>> {
    if items.len() > max_items {
        return Err(Error::invalid(
            field,
            format!("may hold at most {max_items} entries"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, s)| required_text(&format!("{field}[{i}]"), s, 255).map_err(Error::from))
        .collect()
}

const VARIANT_COLS: &str = "id, product_id, sku, title, option1, option2, option3, price_minor, compare_at_minor, cost_minor, weight_grams, barcode, inventory_policy, position, created_at, updated_at";

fn variant_from(r: &Row, cur: &str) -> std::result::Result<Variant, DbError> {
    let mut options = Vec::new();
    for col in ["option1", "option2", "option3"] {
        if let Some(o) = r.get::<Option<String>>(col)? {
            options.push(o);
        }
    }
    Ok(Variant {
        id: r.get("id")?,
        product_id: r.get("product_id")?,
        sku: r.get("sku")?,
        title: r.get("title")?,
        options,
        price: money(r.get("price_minor")?, cur),
        compare_at_price: r
            .get::<Option<i64>>("compare_at_minor")?
            .map(|v| money(v, cur)),
        unit_cost: r.get::<Option<i64>>("cost_minor")?.map(|v| money(v, cur)),
        weight_grams: r.get("weight_grams")?,
        barcode: r.get("barcode")?,
        inventory_policy: r.get("inventory_policy")?,
        position: r.get("position")?,
        created_at: rfc3339(r.get("created_at")?),
        updated_at: rfc3339(r.get("updated_at")?),
    })
}

const PRODUCT_COLS: &str = "id, handle, title, description, vendor, product_type, tags, options, image_urls, status, seo_title, seo_description, created_at, updated_at";

fn product_from(r: &Row, variants: Vec<Variant>) -> std::result::Result<Product, DbError> {
    Ok(Product {
        id: r.get("id")?,
        handle: r.get("handle")?,
        title: r.get("title")?,
        description: r.get("description")?,
        vendor: r.get("vendor")?,
        product_type: r.get("product_type")?,
        tags: from_json(&r.get::<String>("tags")?),
        options: from_json(&r.get::<String>("options")?),
        image_urls: from_json(&r.get::<String>("image_urls")?),
        status: r.get("status")?,
        seo_title: r.get("seo_title")?,
        seo_description: r.get("seo_description")?,
        variants,
        created_at: rfc3339(r.get("created_at")?),
        updated_at: rfc3339(r.get("updated_at")?),
    })
}

pub fn get_product(tx: &mut dyn Sql, id: i64) -> Result<Product> {
    let cur = settings::load(tx)?.currency;
    let r = tx
        .query_one(
            &format!("SELECT {PRODUCT_COLS} FROM products WHERE id = $1"),
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "product" })?;
    let vs = tx.query(
        &format!("SELECT {VARIANT_COLS} FROM variants WHERE product_id = $1 ORDER BY position, id"),
        params![id],
    )?;
    let variants = vs
        .iter()
        .map(|v| variant_from(v, cur.as_str()))
        .collect::<std::result::Result<_, _>>()?;
    Ok(product_from(&r, variants)?)
}

pub fn get_variant(tx: &mut dyn Sql, id: i64) -> Result<Variant> {
    let cur = settings::load(tx)?.currency;
    let r = tx
        .query_one(
            &format!("SELECT {VARIANT_COLS} FROM variants WHERE id = $1"),
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "variant" })?;
    Ok(variant_from(&r, cur.as_str())?)
}

/// The variant id and inventory policy behind a SKU; `field` names the input for the error.
pub fn variant_by_sku(
    tx: &mut dyn Sql,
    field: &str,
    sku: &str,
) -> Result<(i64, Sku, InventoryPolicy)> {
    let sku = Sku::parse(sku).map_err(|e| Invalid::new(field, e.message))?;
    let r = tx
        .query_one(
            "SELECT id, inventory_policy FROM variants WHERE sku = $1",
            params![sku.as_str()],
        )?
        .ok_or_else(|| Error::invalid(field, format!("no variant has SKU {sku}")))?;
    Ok((
        r.get("id")?,
        sku,
        InventoryPolicy::parse(&r.get::<String>("inventory_policy")?)
            .unwrap_or(InventoryPolicy::Deny),
    ))
}

struct VariantFields {
    sku: Sku,
    title: String,
    options: Vec<String>,
    price: i64,
    compare_at: Option<i64>,
    cost: Option<i64>,
    weight: Option<i64>,
    barcode: Option<String>,
    policy: InventoryPolicy,
}

fn parse_variant(v: &NewVariant, option_names: usize) -> Result<VariantFields> {
    let sku = Sku::parse(&v.sku)?;
    let options = v.options.clone().unwrap_or_default();
    if options.len() != option_names {
        return Err(Error::invalid(
            "options",
            format!("needs one value per product option ({option_names})"),
        ));
    }
    let options = check_list("options", &options, 3)?;
    let title = match &v.title {
        Some(t) => required_text("title", t, 255)?,
        None if options.is_empty() => "Default".to_string(),
        None => options.join(" / "),
    };
    let policy = match &v.inventory_policy {
        None => InventoryPolicy::Deny,
        Some(p) => InventoryPolicy::parse(p)
            .ok_or_else(|| Error::invalid("inventory_policy", "must be deny or continue"))?,
    };
    if let Some(w) = v.weight_grams
        && !(0..=1_000_000_000).contains(&w)
    {
        return Err(Error::invalid(
            "weight_grams",
            "must be between 0 and 1000000000",
        ));
    }
    Ok(VariantFields {
        sku,
        title,
        options,
        price: check_price("price", v.price)?,
        compare_at: v
            .compare_at_price
            .map(|p| check_price("compare_at_price", p))
            .transpose()?,
        cost: v
            .unit_cost
            .map(|p| check_price("unit_cost", p))
            .transpose()?,
        weight: v.weight_grams,
        barcode: optional_text("barcode", v.barcode.as_deref(), 64)?,
        policy,
    })
}

fn insert_variant(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    product_id: i64,
    position: i64,
    f: &VariantFields,
) -> Result<i64> {
    let o = |i: usize| f.options.get(i).cloned();
    let row = tx
        .query_one(
            "INSERT INTO variants (product_id, sku, title, option1, option2, option3, price_minor, compare_at_minor, cost_minor, weight_grams, barcode, inventory_policy, position, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) RETURNING id",
            params![product_id, f.sku.as_str(), f.title.as_str(), o(0), o(1), o(2), f.price, f.compare_at, f.cost, f.weight, f.barcode.clone(), f.policy.as_str(), position, ctx.now],
        )
        .map_err(unique_as("sku", format!("a variant with SKU {} already exists", f.sku)))?;
    Ok(row
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0))
}

pub fn create_product(tx: &mut dyn Sql, ctx: &Ctx, p: &NewProduct) -> Result<Product> {
    ctx.actor.require(Permission::CatalogWrite)?;
    let title = required_text("title", &p.title, 255)?;
    let handle = match &p.handle {
        Some(h) => Handle::parse(h)?,
        None => Handle::from_title(&title)?,
    };
    let status = match &p.status {
        None => ProductStatus::Draft,
        Some(s) => ProductStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be draft, active or archived"))?,
    };
    let options = check_list("options", p.options.as_deref().unwrap_or(&[]), 3)?;
    let tags = check_list("tags", p.tags.as_deref().unwrap_or(&[]), 250)?;
    let images = check_list("image_urls", p.image_urls.as_deref().unwrap_or(&[]), 50)?;
    if p.variants.is_empty() {
        return Err(Error::invalid(
            "variants",
            "a product needs at least one variant",
        ));
    }
    if p.variants.len() > 100 {
        return Err(Error::invalid(
            "variants",
            "a product may have at most 100 variants",
        ));
    }
    let mut fields = Vec::new();
    for (i, v) in p.variants.iter().enumerate() {
        let f = parse_variant(v, options.len()).map_err(|e| under(e, &format!("variants[{i}]")))?;
        if fields.iter().any(|g: &VariantFields| g.sku == f.sku) {
            return Err(Error::invalid(
                format!("variants[{i}].sku"),
                format!("SKU {} appears twice", f.sku),
            ));
        }
        if !f.options.is_empty()
            && fields
                .iter()
                .any(|g: &VariantFields| g.options == f.options)
        {
            return Err(Error::invalid(
                format!("variants[{i}].options"),
                "two variants have the same option values",
            ));
        }
        fields.push(f);
    }
    let row = tx
        .query_one(
            "INSERT INTO products (handle, title, description, vendor, product_type, tags, options, image_urls, status, seo_title, seo_description, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
            params![
                handle.as_str(),
                title.as_str(),
                optional_text("description", p.description.as_deref(), 65_535)?.unwrap_or_default(),
                optional_text("vendor", p.vendor.as_deref(), 255)?.unwrap_or_default(),
                optional_text("product_type", p.product_type.as_deref(), 255)?.unwrap_or_default(),
                to_json(&tags),
                to_json(&options),
                to_json(&images),
                status.as_str(),
                optional_text("seo_title", p.seo_title.as_deref(), 255)?,
                optional_text("seo_description", p.seo_description.as_deref(), 1000)?,
                ctx.now
            ],
        )
        .map_err(unique_as("handle", format!("a product with handle {} already exists", handle.as_str())))?;
    let id = row
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    for (i, f) in fields.iter().enumerate() {
        insert_variant(tx, ctx, id, i as i64 + 1, f)
            .map_err(|e| under(e, &format!("variants[{i}]")))?;
    }
    let product = get_product(tx, id)?;
    audit::record(
        tx,
        ctx,
        "product.created",
        "product",
        id,
        serde_json::to_value(&product).unwrap_or_default(),
    )?;
    Ok(product)
}

/// Reports a field error under a path prefix (`sku` becomes `variants[2].sku`).
pub(crate) fn under(e: Error, prefix: &str) -> Error {
    match e {
        Error::Invalid(i) => Error::Invalid(i.under(prefix)),
        Error::Conflict {
            code,
            message,
            field,
        } => Error::Conflict {
            code,
            message,
            field: Some(field.map_or(prefix.to_string(), |f| format!("{prefix}.{f}"))),
        },
        other => other,
    }
}

pub fn update_product(tx: &mut dyn Sql, ctx: &Ctx, id: i64, p: &ProductPatch) -> Result<Product> {
    ctx.actor.require(Permission::CatalogWrite)?;
    let before = get_product(tx, id)?;
    let mut sets: Vec<(&str, Val)> = Vec::new();
    if let Some(t) = &p.title {
        sets.push(("title", required_text("title", t, 255)?.into()));
    }
    if let Some(h) = &p.handle {
        sets.push(("handle", Handle::parse(h)?.as_str().into()));
    }
    if let Some(d) = &p.description {
        sets.push((
            "description",
            optional_text("description", Some(d), 65_535)?.into(),
        ));
    }
    if let Some(v) = &p.vendor {
        sets.push(("vendor", optional_text("vendor", Some(v), 255)?.into()));
    }
    if let Some(v) = &p.product_type {
        sets.push((
            "product_type",
            optional_text("product_type", Some(v), 255)?.into(),
        ));
    }
    if let Some(v) = &p.tags {
        sets.push(("tags", to_json(&check_list("tags", v, 250)?).into()));
    }
    if let Some(v) = &p.options {
        let names = check_list("options", v, 3)?;
        if names.len() != before.options.len() {
            return Err(Error::invalid(
                "options",
                "renaming options is allowed; changing how many there are is not (variants hold one value per option)",
            ));
        }
        sets.push(("options", to_json(&names).into()));
    }
    if let Some(v) = &p.image_urls {
        sets.push((
            "image_urls",
            to_json(&check_list("image_urls", v, 50)?).into(),
        ));
    }
    if let Some(s) = &p.status {
        let s = ProductStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be draft, active or archived"))?;
        sets.push(("status", s.as_str().into()));
    }
    if let Some(v) = &p.seo_title {
        sets.push((
            "seo_title",
            optional_text("seo_title", v.as_deref(), 255)?.into(),
        ));
    }
    if let Some(v) = &p.seo_description {
        sets.push((
            "seo_description",
            optional_text("seo_description", v.as_deref(), 1000)?.into(),
        ));
    }
    apply_sets(tx, ctx, "products", id, sets).map_err(|e| match e {
        Error::Db(DbError::Unique(_)) => Error::Conflict {
            code: "already_exists",
            message: "another product has this handle".into(),
            field: Some("handle".into()),
        },
        e => e,
    })?;
    let after = get_product(tx, id)?;
    audit::record(
        tx,
        ctx,
        "product.updated",
        "product",
        id,
        diff(&before, &after),
    )?;
    Ok(after)
}

/// Updates the named columns and `updated_at`.
fn apply_sets(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    table: &str,
    id: i64,
    sets: Vec<(&str, Val)>,
) -> Result<()> {
    let mut params: Vec<Val> = Vec::new();
    let mut cols = Vec::new();
    for (c, v) in sets {
        params.push(v);
        cols.push(format!("{c} = ${}", params.len()));
    }
    params.push(ctx.now.into());
    cols.push(format!("updated_at = ${}", params.len()));
    params.push(id.into());
    let sql = format!(
        "UPDATE {table} SET {} WHERE id = ${}",
        cols.join(", "),
        params.len()
    );
    tx.exec(&sql, &params)?;
    Ok(())
}

/// The fields that differ between two views, as `{field: {"from": old, "to": new}}`.
pub(crate) fn diff<T: serde::Serialize>(before: &T, after: &T) -> serde_json::Value {
    let (a, b) = (
        serde_json::to_value(before).unwrap_or_default(),
        serde_json::to_value(after).unwrap_or_default(),
    );
    let mut out = serde_json::Map::new();
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        for (k, vb) in b {
            if k == "updated_at" {
                continue;
            }
            let va = a.get(k).cloned().unwrap_or(serde_json::Value::Null);
            if &va != vb {
                out.insert(k.clone(), json!({"from": va, "to": vb}));
            }
        }
    }
    serde_json::Value::Object(out)
}

pub fn archive_product(tx: &mut dyn Sql, ctx: &Ctx, id: i64) -> Result<Product> {
    update_product(
        tx,
        ctx,
        id,
        &ProductPatch {
            status: Some("archived".into()),
            ..Default::default()
        },
    )
}

pub fn add_variant(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    product_id: i64,
    v: &NewVariant,
) -> Result<Variant> {
    ctx.actor.require(Permission::CatalogWrite)?;
    let product = get_product(tx, product_id)?;
    if product.variants.len() >= 100 {
        return Err(Error::conflict(
            "too_many_variants",
            "a product may have at most 100 variants",
        ));
    }
    let f = parse_variant(v, product.options.len())?;
    if !f.options.is_empty() && product.variants.iter().any(|x| x.options == f.options) {
        return Err(Error::invalid(
            "options",
            "another variant has the same option values",
        ));
    }
    let pos = product
        .variants
        .iter()
        .map(|x| x.position)
        .max()
        .unwrap_or(0)
        + 1;
    let id = insert_variant(tx, ctx, product_id, pos, &f)?;
    tx.exec(
        "UPDATE products SET updated_at = $1 WHERE id = $2",
        params![ctx.now, product_id],
    )?;
    let variant = get_variant(tx, id)?;
    audit::record(
        tx,
        ctx,
        "variant.created",
        "variant",
        id,
        serde_json::to_value(&variant).unwrap_or_default(),
    )?;
    Ok(variant)
}

pub fn update_variant(tx: &mut dyn Sql, ctx: &Ctx, id: i64, p: &VariantPatch) -> Result<Variant> {
    ctx.actor.require(Permission::CatalogWrite)?;
    let before = get_variant(tx, id)?;
    let mut sets: Vec<(&str, Val)> = Vec::new();
    if let Some(s) = &p.sku {
        sets.push(("sku", Sku::parse(s)?.as_str().into()));
    }
    if let Some(t) = &p.title {
        sets.push(("title", required_text("title", t, 255)?.into()));
    }
    if let Some(o) = &p.options {
        if o.len() != before.options.len() {
            return Err(Error::invalid(
                "options",
                format!(
                    "needs one value per product option ({})",
                    before.options.len()
                ),
            ));
        }
        let o = check_list("options", o, 3)?;
        for (i, col) in ["option1", "option2", "option3"].iter().enumerate() {
            sets.push((col, o.get(i).cloned().into()));
        }
    }
    if let Some(v) = p.price {
        sets.push(("price_minor", check_price("price", v)?.into()));
    }
    if let Some(v) = p.compare_at_price {
        sets.push((
            "compare_at_minor",
            v.map(|x| check_price("compare_at_price", x))
                .transpose()?
                .into(),
        ));
    }
    if let Some(v) = p.unit_cost {
        sets.push((
            "cost_minor",
            v.map(|x| check_price("unit_cost", x)).transpose()?.into(),
        ));
    }
    if let Some(v) = p.weight_grams {
        if v.is_some_and(|w| !(0..=1_000_000_000).contains(&w)) {
            return Err(Error::invalid(
                "weight_grams",
                "must be between 0 and 1000000000",
            ));
        }
        sets.push(("weight_grams", v.into()));
    }
    if let Some(v) = &p.barcode {
        sets.push((
            "barcode",
            optional_text("barcode", v.as_deref(), 64)?.into(),
        ));
    }
    if let Some(v) = &p.inventory_policy {
        let pol = InventoryPolicy::parse(v)
            .ok_or_else(|| Error::invalid("inventory_policy", "must be deny or continue"))?;
        sets.push(("inventory_policy", pol.as_str().into()));
    }
    apply_sets(tx, ctx, "variants", id, sets).map_err(|e| match e {
        Error::Db(DbError::Unique(_)) => Error::Conflict {
            code: "already_exists",
            message: "another variant has this SKU".into(),
            field: Some("sku".into()),
        },
        e => e,
    })?;
    let after = get_variant(tx, id)?;
    audit::record(
        tx,
        ctx,
        "variant.updated",
        "variant",
        id,
        diff(&before, &after),
    )?;
    Ok(after)
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProductQuery {
    /// Words in the title, or part of a SKU.
    pub q: Option<String>,
    pub status: Option<String>,
    pub vendor: Option<String>,
    pub product_type: Option<String>,
    /// `in_stock` (some variant available somewhere), `out_of_stock` (none available anywhere) or
    /// `low` (some variant at or below its reorder point at a location, counting incoming).
    pub stock: Option<String>,
    /// `updated_at` (default, newest first as `-updated_at`), `title`, `id`; prefix `-` for descending.
    pub sort: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub fn list_products(tx: &mut dyn Sql, q: &ProductQuery) -> Result<Page<Product>> {
    let limit = page_limit(q.limit)?;
    // The column is the key itself.
    let (col, desc) = crate::util::parse_sort(
        q.sort.as_deref().unwrap_or("-updated_at"),
        &["id", "title", "updated_at"],
    )?;
    let mut f = Filter::default();
    if let Some(s) = &q.q {
        let pat = crate::util::like_contains(s);
        f.add("(lower(title) LIKE ? ESCAPE '\\' OR id IN (SELECT product_id FROM variants WHERE lower(sku) LIKE ? ESCAPE '\\'))", vec![pat.clone().into(), pat.into()]);
    }
    if let Some(s) = &q.status {
        let s = ProductStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be draft, active or archived"))?;
        f.add("status = ?", vec![s.as_str().into()]);
    }
    if let Some(v) = &q.vendor {
        f.add("vendor = ?", vec![v.into()]);
    }
    if let Some(v) = &q.product_type {
        f.add("product_type = ?", vec![v.into()]);
    }
    let having = |variants: &str| {
        format!("id IN (SELECT v.product_id FROM variants v WHERE v.id IN ({variants}))")
    };
    let available = having(crate::inventory::sql::VARIANTS_AVAILABLE);
    match q.stock.as_deref() {
        None => {}
        Some("in_stock") => f.add(&available, vec![]),
        Some("out_of_stock") => f.add(&format!("NOT {available}"), vec![]),
        Some("low") => f.add(&having(crate::inventory::sql::VARIANTS_LOW), vec![]),
        Some(_) => {
            return Err(Error::invalid(
                "stock",
                "must be in_stock, out_of_stock or low",
            ));
        }
    }
    let op = if desc { "<" } else { ">" };
    if let Some(c) = &q.cursor {
        let (v, id) = decode_cursor(c)?;
        let val: Val = if col == "title" {
            v.into()
        } else {
            v.parse::<i64>()
                .map_err(|_| Error::invalid("cursor", "does not match this sort"))?
                .into()
        };
        if col == "id" {
            f.add(&format!("id {op} ?"), vec![id.into()]);
        } else {
            f.add(
                &format!("({col} {op} ? OR ({col} = ? AND id {op} ?))"),
                vec![val.clone(), val, id.into()],
            );
        }
    }
    let dir = if desc { "DESC" } else { "ASC" };
    let lim = f.push((limit + 1).into());
    let sql = format!(
        "SELECT {PRODUCT_COLS} FROM products{} ORDER BY {col} {dir}, id {dir} LIMIT {lim}",
        f.where_sql()
    );
    let rows = tx.query(&sql, &f.params)?;
    let cur = settings::load(tx)?.currency;
    // Every variant of the page in one query.
    let ids: Vec<Val> = rows
        .iter()
        .map(|r| r.get::<i64>("id").map(Val::from))
        .collect::<std::result::Result<_, _>>()?;
    let mut variants: Vec<Row> = Vec::new();
    if !ids.is_empty() {
        let (cond, list) = crate::db::in_list(tx.dialect(), "product_id", 1, &ids);
        variants = tx.query(
            &format!("SELECT {VARIANT_COLS} FROM variants WHERE {cond} ORDER BY position, id"),
            &[list],
        )?;
    }
    let mut items: Vec<Product> = rows
        .iter()
        .map(|r| {
            let id: i64 = r.get("id")?;
            let mut vs = Vec::new();
            for v in &variants {
                if v.get::<i64>("product_id")? == id {
                    vs.push(variant_from(v, cur.as_str())?);
                }
            }
            product_from(r, vs)
        })
        .collect::<std::result::Result<_, DbError>>()?;
    // The cursor carries the raw sort value of the last row (updated_at in microseconds).
    let keys: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            let key = match col {
                "title" => r.get::<String>("title")?,
                "updated_at" => r.get::<i64>("updated_at")?.to_string(),
                _ => r.get::<i64>("id")?.to_string(),
            };
            Ok((r.get("id")?, key))
        })
        .collect::<std::result::Result<_, DbError>>()?;
    let cursor_of = |p: &Product| {
        encode_cursor(
            keys.iter()
                .find(|(id, _)| *id == p.id)
                .map_or("", |(_, k)| k.as_str()),
            p.id,
        )
    };
    Ok(page(&mut items, limit, cursor_of))
}

// ----------------------------------------------------------------------------------------------
// Locations

const LOCATION_COLS: &str = "id, code, name, kind, ships_online, offers_pickup, sells_in_store, priority, latitude, longitude, postal_code, country, active, created_at, updated_at";

fn location_from(r: &Row) -> std::result::Result<Location, DbError> {
    Ok(Location {
        id: r.get("id")?,
        code: r.get("code")?,
        name: r.get("name")?,
        kind: r.get("kind")?,
        ships_online: r.get("ships_online")?,
        offers_pickup: r.get("offers_pickup")?,
        sells_in_store: r.get("sells_in_store")?,
        priority: r.get("priority")?,
        latitude: r.get("latitude")?,
        longitude: r.get("longitude")?,
        postal_code: r.get("postal_code")?,
        country: r.get("country")?,
        active: r.get("active")?,
        created_at: rfc3339(r.get("created_at")?),
        updated_at: rfc3339(r.get("updated_at")?),
    })
}

fn check_code(field: &str, s: &str) -> Result<String> {
    let ok = !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(Error::invalid(
            field,
            "must be 1 to 32 lower-case letters, digits, - or _",
        ))
    }
}

fn check_coords(lat: Option<f64>, lon: Option<f64>) -> Result<()> {
    if lat.is_some_and(|v| !(-90.0..=90.0).contains(&v)) {
        return Err(Error::invalid("latitude", "must be between -90 and 90"));
    }
    if lon.is_some_and(|v| !(-180.0..=180.0).contains(&v)) {
        return Err(Error::invalid("longitude", "must be between -180 and 180"));
    }
    Ok(())
}

pub fn get_location(tx: &mut dyn Sql, id: i64) -> Result<Location> {
    let r = tx
        .query_one(
            &format!("SELECT {LOCATION_COLS} FROM locations WHERE id = $1"),
            params![id],
        )?
        .ok_or(Error::NotFound { entity: "location" })?;
    Ok(location_from(&r)?)
}

pub fn list_locations(tx: &mut dyn Sql) -> Result<Vec<Location>> {
    Ok(tx
        .query(
            &format!("SELECT {LOCATION_COLS} FROM locations ORDER BY priority, id"),
            &[],
        )?
        .iter()
        .map(location_from)
        .collect::<std::result::Result<_, _>>()?)
}

/// The distinct non-empty values of a product text column, sorted, at most `limit`: what a
/// filter offers.
fn distinct_product_values(tx: &mut dyn Sql, column: &str, limit: i64) -> Result<Vec<String>> {
    Ok(tx
        .query(
            &format!(
                "SELECT DISTINCT {column} AS v FROM products WHERE {column} <> '' ORDER BY v LIMIT $1"
            ),
            params![limit],
        )?
        .iter()
        .map(|r| r.get("v"))
        .collect::<std::result::Result<_, _>>()?)
}

/// The vendors products have, sorted, at most `limit`.
pub fn vendors(tx: &mut dyn Sql, limit: i64) -> Result<Vec<String>> {
    distinct_product_values(tx, "vendor", limit)
}

/// The product types products have, sorted, at most `limit`.
pub fn product_types(tx: &mut dyn Sql, limit: i64) -> Result<Vec<String>> {
    distinct_product_values(tx, "product_type", limit)
}

/// Every SKU, in the order the variants were made.
pub fn all_skus(tx: &mut dyn Sql) -> Result<Vec<String>> {
    Ok(tx
        .query("SELECT sku FROM variants ORDER BY id", &[])?
        .iter()
        .map(|r| r.get("sku"))
        .collect::<std::result::Result<_, _>>()?)
}

/// The id of the active location with this code, if there is one: where a file's stock goes, or
/// the demo's history happens.
pub fn active_location_id(tx: &mut dyn Sql, code: &str) -> Result<Option<i64>> {
    Ok(tx
        .query_one(
            "SELECT id FROM locations WHERE code = $1 AND active = TRUE",
            params![code],
        )?
        .map(|r| r.get::<i64>("id"))
        .transpose()?)
}

/// The id of the channel with this code, if there is one.
pub fn channel_id(tx: &mut dyn Sql, code: &str) -> Result<Option<i64>> {
    Ok(tx
        .query_one("SELECT id FROM channels WHERE code = $1", params![code])?
        .map(|r| r.get::<i64>("id"))
        .transpose()?)
}

/// The id of the product with this handle, if there is one.
pub fn product_id_by_handle(tx: &mut dyn Sql, handle: &str) -> Result<Option<i64>> {
    Ok(tx
        .query_one("SELECT id FROM products WHERE handle = $1", params![handle])?
        .map(|r| r.get::<i64>("id"))
        .transpose()?)
}

/// Product handles and variant SKUs by id, for those of the ids that exist.
pub fn names_of(
    tx: &mut dyn Sql,
    product_ids: &[i64],
    variant_ids: &[i64],
) -> Result<(
    std::collections::HashMap<i64, String>,
    std::collections::HashMap<i64, String>,
)> {
    let mut handles = std::collections::HashMap::new();
    let mut skus = std::collections::HashMap::new();
    for (ids, sql, names, col) in [
        (
            product_ids,
            "SELECT id, handle AS name FROM products WHERE ",
            &mut handles,
            "id",
        ),
        (
            variant_ids,
            "SELECT id, sku AS name FROM variants WHERE ",
            &mut skus,
            "id",
        ),
    ] {
        for chunk in ids.chunks(1000) {
            let vals: Vec<Val> = chunk.iter().map(|i| (*i).into()).collect();
            let (cond, list) = crate::db::in_list(tx.dialect(), col, 1, &vals);
            for r in tx.query(&format!("{sql}{cond}"), &[list])? {
                names.insert(r.get("id")?, r.get("name")?);
            }
        }
    }
    Ok((handles, skus))
}

/// A variant's product's id, type, vendor and tags.
pub type ProductFacts = (i64, String, String, Vec<String>);

/// What promotions' conditions look at, per variant id: the product's id, type, vendor and tags.
pub fn promotion_facts(
    tx: &mut dyn Sql,
    variant_ids: &[i64],
) -> Result<std::collections::HashMap<i64, ProductFacts>> {
    let mut out = std::collections::HashMap::new();
    for chunk in variant_ids.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|i| (*i).into()).collect();
        let (cond, list) = crate::db::in_list(tx.dialect(), "v.id", 1, &vals);
        for r in tx.query(
            &format!("SELECT v.id, v.product_id, p.product_type, p.vendor, p.tags FROM variants v JOIN products p ON p.id = v.product_id WHERE {cond}"),
            &[list],
        )? {
            out.insert(
                r.get("id")?,
                (
                    r.get("product_id")?,
                    r.get("product_type")?,
                    r.get("vendor")?,
                    crate::util::from_json(&r.get::<String>("tags")?),
                ),
            );
        }
    }
    Ok(out)
}

/// The handle of the product whose variant has this SKU, if one has it.
pub fn sku_owner(tx: &mut dyn Sql, sku: &str) -> Result<Option<String>> {
    Ok(tx
        .query_one(
            "SELECT p.handle FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku = $1",
            params![sku],
        )?
        .map(|r| r.get::<String>("handle"))
        .transpose()?)
}

/// Variant ids by SKU, for those of `skus` that exist (a query per 1,000 SKUs).
pub fn variant_ids_by_sku<S: AsRef<str>>(
    tx: &mut dyn Sql,
    skus: &[S],
) -> Result<std::collections::HashMap<String, i64>> {
    let mut variants = std::collections::HashMap::new();
    for chunk in skus.chunks(1000) {
        let vals: Vec<Val> = chunk.iter().map(|s| s.as_ref().into()).collect();
        let (cond, list) = crate::db::in_list(tx.dialect(), "sku", 1, &vals);
        for r in tx.query(
            &format!("SELECT sku, id FROM variants WHERE {cond}"),
            &[list],
        )? {
            variants.insert(r.get("sku")?, r.get("id")?);
        }
    }
    Ok(variants)
}

/// A variant's inventory policy, when the variant exists (and its policy is one Backroom knows).
pub fn variant_policy(tx: &mut dyn Sql, variant_id: i64) -> Result<Option<InventoryPolicy>> {
    Ok(tx
        .query_one(
            "SELECT inventory_policy FROM variants WHERE id = $1",
            params![variant_id],
        )?
        .map(|r| r.get::<String>("inventory_policy"))
        .transpose()?
        .and_then(|p| InventoryPolicy::parse(&p)))
}

/// Locations in sourcing order (priority, then id), paged.
pub fn locations_page(tx: &mut dyn Sql, q: &api::PageQuery) -> Result<api::Page<Location>> {
    crate::util::keyset_page(
        tx,
        &format!("SELECT {LOCATION_COLS} FROM locations"),
        Filter::default(),
        q,
        crate::util::Keyset::Int("priority"),
        "id",
        location_from,
        |l| (l.priority.to_string(), l.id),
    )
}

pub fn create_location(tx: &mut dyn Sql, ctx: &Ctx, l: &NewLocation) -> Result<Location> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let code = check_code("code", &l.code)?;
    let name = required_text("name", &l.name, 255)?;
    let kind = LocationKind::parse(&l.kind)
        .ok_or_else(|| Error::invalid("kind", "must be warehouse, boutique or third_party"))?;
    check_coords(l.latitude, l.longitude)?;
    let row = tx
        .query_one(
            "INSERT INTO locations (code, name, kind, ships_online, offers_pickup, sells_in_store, priority, latitude, longitude, postal_code, country, active, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING id",
            params![
                code.as_str(),
                name,
                kind.as_str(),
                l.ships_online.unwrap_or(kind != LocationKind::Boutique),
                l.offers_pickup.unwrap_or(kind == LocationKind::Boutique),
                l.sells_in_store.unwrap_or(kind == LocationKind::Boutique),
                l.priority.unwrap_or(100),
                l.latitude,
                l.longitude,
                optional_text("postal_code", l.postal_code.as_deref(), 32)?,
                optional_text("country", l.country.as_deref(), 2)?,
                true,
                ctx.now
            ],
        )
        .map_err(unique_as("code", format!("a location with code {code} already exists")))?;
    let id = row
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    let loc = get_location(tx, id)?;
    audit::record(
        tx,
        ctx,
        "location.created",
        "location",
        loc.id,
        serde_json::to_value(&loc).unwrap_or_default(),
    )?;
    Ok(loc)
}

pub fn update_location(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    p: &LocationPatch,
) -> Result<Location> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let before = get_location(tx, id)?;
    let mut sets: Vec<(&str, Val)> = Vec::new();
    if let Some(v) = &p.name {
        sets.push(("name", required_text("name", v, 255)?.into()));
    }
    if let Some(v) = &p.kind {
        sets.push((
            "kind",
            LocationKind::parse(v)
                .ok_or_else(|| {
                    Error::invalid("kind", "must be warehouse, boutique or third_party")
                })?
                .as_str()
                .into(),
        ));
    }
    for (col, v) in [
        ("ships_online", p.ships_online),
        ("offers_pickup", p.offers_pickup),
        ("sells_in_store", p.sells_in_store),
        ("active", p.active),
    ] {
        if let Some(b) = v {
            sets.push((col, b.into()));
        }
    }
    if let Some(v) = p.priority {
        sets.push(("priority", v.into()));
    }
    check_coords(p.latitude.flatten(), p.longitude.flatten())?;
    if let Some(v) = p.latitude {
        sets.push(("latitude", v.into()));
    }
    if let Some(v) = p.longitude {
        sets.push(("longitude", v.into()));
    }
    if let Some(v) = &p.postal_code {
        sets.push((
            "postal_code",
            optional_text("postal_code", v.as_deref(), 32)?.into(),
        ));
    }
    if let Some(v) = &p.country {
        sets.push(("country", optional_text("country", v.as_deref(), 2)?.into()));
    }
    apply_sets(tx, ctx, "locations", id, sets)?;
    let after = get_location(tx, id)?;
    audit::record(
        tx,
        ctx,
        "location.updated",
        "location",
        id,
        diff(&before, &after),
    )?;
    Ok(after)
}

// ----------------------------------------------------------------------------------------------
// Channels

pub fn get_channel(tx: &mut dyn Sql, id: i64) -> Result<Channel> {
    let r = tx
        .query_one("SELECT id, code, name, kind, active, created_at, updated_at, sourcing_strategy, handling_hours, pickup_hold_hours FROM channels WHERE id = $1", params![id])?
        .ok_or(Error::NotFound { entity: "channel" })?;
    let locs = tx.query(
        "SELECT location_id FROM channel_locations WHERE channel_id = $1 ORDER BY location_id",
        params![id],
    )?;
    Ok(Channel {
        id: r.get("id")?,
        code: r.get("code")?,
        name: r.get("name")?,
        kind: r.get("kind")?,
        active: r.get("active")?,
        location_ids: locs
            .iter()
            .map(|l| l.get("location_id"))
            .collect::<std::result::Result<_, _>>()?,
        sourcing_strategy: r.get("sourcing_strategy")?,
        handling_hours: r.get("handling_hours")?,
        pickup_hold_hours: r.get("pickup_hold_hours")?,
        created_at: rfc3339(r.get("created_at")?),
        updated_at: rfc3339(r.get("updated_at")?),
    })
}

pub fn list_channels(tx: &mut dyn Sql) -> Result<Vec<Channel>> {
    let ids: Vec<i64> = tx
        .query("SELECT id FROM channels ORDER BY id", &[])?
        .iter()
        .map(|r| r.get("id"))
        .collect::<std::result::Result<_, _>>()?;
    ids.into_iter().map(|id| get_channel(tx, id)).collect()
}

/// Channels in the order they were made, paged.
pub fn channels_page(tx: &mut dyn Sql, q: &api::PageQuery) -> Result<api::Page<Channel>> {
    crate::util::page_by_id(
        tx,
        "channels",
        Filter::default(),
        q,
        crate::util::Keyset::IdAsc,
        get_channel,
    )
}

fn set_channel_locations(tx: &mut dyn Sql, channel_id: i64, ids: &[i64]) -> Result<()> {
    let mut seen = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if seen.contains(id) {
            return Err(Error::invalid(format!("location_ids[{i}]"), "listed twice"));
        }
        if tx
            .query_one("SELECT id FROM locations WHERE id = $1", params![*id])?
            .is_none()
        {
            return Err(Error::invalid(
                format!("location_ids[{i}]"),
                format!("no location has id {id}"),
            ));
        }
        seen.push(*id);
    }
    tx.exec(
        "DELETE FROM channel_locations WHERE channel_id = $1",
        params![channel_id],
    )?;
    for id in seen {
        tx.exec(
            "INSERT INTO channel_locations (channel_id, location_id) VALUES ($1, $2)",
            params![channel_id, id],
        )?;
    }
    Ok(())
}

fn handling(hours: i64) -> Result<i64> {
    if (0..=24 * 60).contains(&hours) {
        Ok(hours)
    } else {
        Err(Error::invalid(
            "handling_hours",
            "must be between 0 and 1440 hours",
        ))
    }
}

fn strategy(s: &str) -> Result<&'static str> {
    backroom_domain::sourcing::Strategy::parse(s)
        .map(|x| x.as_str())
        .ok_or_else(|| {
            Error::invalid(
                "sourcing_strategy",
                "must be priority, fewest_shipments, nearest or highest_stock",
            )
        })
}

/// What a channel can be.
pub const CHANNEL_KINDS: [&str; 4] = ["online", "marketplace", "pos", "phone"];

pub fn create_channel(tx: &mut dyn Sql, ctx: &Ctx, c: &NewChannel) -> Result<Channel> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let code = check_code("code", &c.code)?;
    let name = required_text("name", &c.name, 255)?;
    if !CHANNEL_KINDS.contains(&c.kind.as_str()) {
        return Err(Error::invalid(
            "kind",
            "must be online, marketplace, pos or phone",
        ));
    }
    let row = tx
        .query_one(
            "INSERT INTO channels (code, name, kind, active, sourcing_strategy, handling_hours, pickup_hold_hours, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            params![code.as_str(), name, c.kind.as_str(), true, strategy(c.sourcing_strategy.as_deref().unwrap_or("fewest_shipments"))?, handling(c.handling_hours.unwrap_or(48))?, handling(c.pickup_hold_hours.unwrap_or(72))?, ctx.now],
        )
        .map_err(unique_as("code", format!("a channel with code {code} already exists")))?;
    let id = row
        .map(|r| r.get::<i64>("id"))
        .transpose()?
        // No row back (never, for an INSERT ... RETURNING) keeps the old 0.
        .unwrap_or(0);
    set_channel_locations(tx, id, &c.location_ids)?;
    let ch = get_channel(tx, id)?;
    audit::record(
        tx,
        ctx,
        "channel.created",
        "channel",
        id,
        serde_json::to_value(&ch).unwrap_or_default(),
    )?;
    Ok(ch)
}

pub fn update_channel(tx: &mut dyn Sql, ctx: &Ctx, id: i64, p: &ChannelPatch) -> Result<Channel> {
    ctx.actor.require(Permission::SettingsWrite)?;
    let before = get_channel(tx, id)?;
    let mut sets: Vec<(&str, Val)> = Vec::new();
    if let Some(v) = &p.name {
        sets.push(("name", required_text("name", v, 255)?.into()));
    }
    if let Some(v) = p.active {
        sets.push(("active", v.into()));
    }
    if let Some(v) = &p.sourcing_strategy {
        sets.push(("sourcing_strategy", strategy(v)?.into()));
    }
    if let Some(h) = p.pickup_hold_hours {
        sets.push(("pickup_hold_hours", handling(h)?.into()));
    }
    if let Some(h) = p.handling_hours {
        sets.push(("handling_hours", handling(h)?.into()));
    }
    apply_sets(tx, ctx, "channels", id, sets)?;
    if let Some(ids) = &p.location_ids {
        set_channel_locations(tx, id, ids)?;
    }
    let after = get_channel(tx, id)?;
    audit::record(
        tx,
        ctx,
        "channel.updated",
        "channel",
        id,
        diff(&before, &after),
    )?;
    Ok(after)
}

pub fn set_safety_buffer(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    channel_id: i64,
    b: &api::SafetyBuffer,
) -> Result<api::SafetyBuffer> {
    ctx.actor.require(Permission::InventoryWrite)?;
    get_channel(tx, channel_id)?;
    let (variant_id, sku, _) = variant_by_sku(tx, "sku", &b.sku)?;
    if !(0..=1_000_000).contains(&b.quantity) {
        return Err(Error::invalid("quantity", "must be between 0 and 1000000"));
    }
    if b.quantity == 0 {
        tx.exec(
            "DELETE FROM channel_buffers WHERE channel_id = $1 AND variant_id = $2",
            params![channel_id, variant_id],
        )?;
    } else {
        tx.exec(
            "INSERT INTO channel_buffers (channel_id, variant_id, quantity) VALUES ($1, $2, $3) ON CONFLICT (channel_id, variant_id) DO UPDATE SET quantity = excluded.quantity",
            params![channel_id, variant_id, b.quantity],
        )?;
    }
    audit::record(
        tx,
        ctx,
        "channel.safety_buffer_set",
        "channel",
        channel_id,
        json!({"sku": sku.as_str(), "quantity": b.quantity}),
    )?;
    Ok(api::SafetyBuffer {
        sku: sku.to_string(),
        quantity: b.quantity,
    })
}

/// The variants with `n` SKUs bound as `$1..$n`, as an order line is priced from them: `sku`,
/// `id`, `price_minor`, `inventory_policy`, `product_title`, `title` (the variant's), the
/// product's `status` and `cost_minor`. Placement sends it in its one batch.
pub(crate) fn variants_for_sale_sql(n: usize) -> String {
    format!(
        "SELECT v.sku, v.id, v.price_minor, v.inventory_policy, p.title AS product_title, v.title, p.status, v.cost_minor, v.product_id, p.product_type, p.vendor, p.tags FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku IN ({})",
        crate::db::placeholders(1, n)
    )
}

/// Whether any variant has a unit cost (before that, no line's margin can be known).
pub fn any_unit_cost(tx: &mut dyn Sql) -> Result<bool> {
    Ok(tx
        .query_one(
            "SELECT 1 FROM variants WHERE cost_minor IS NOT NULL LIMIT 1",
            &[],
        )?
        .is_some())
}

/// The units of a variant a channel keeps back (its safety buffer; 0 when none is set).
pub fn safety_buffer(tx: &mut dyn Sql, channel_id: i64, variant_id: i64) -> Result<i64> {
    Ok(tx
        .query_one(
            "SELECT quantity FROM channel_buffers WHERE channel_id = $1 AND variant_id = $2",
            params![channel_id, variant_id],
        )?
        .map(|r| r.get::<i64>("quantity"))
        .transpose()?
        .unwrap_or(0))
}

/// A channel's safety buffers by SKU, paged.
pub fn safety_buffers_page(
    tx: &mut dyn Sql,
    channel_id: i64,
    q: &api::PageQuery,
) -> Result<api::Page<api::SafetyBuffer>> {
    get_channel(tx, channel_id)?;
    let mut f = Filter::default();
    f.add("b.channel_id = ?", vec![channel_id.into()]);
    let page = crate::util::keyset_page(
        tx,
        "SELECT v.sku, b.quantity, b.variant_id FROM channel_buffers b JOIN variants v ON v.id = b.variant_id",
        f,
        q,
        crate::util::Keyset::Text("v.sku"),
        "b.variant_id",
        |r| {
            let b = api::SafetyBuffer {
                sku: r.get("sku")?,
                quantity: r.get("quantity")?,
            };
            Ok((b, r.get("variant_id")?))
        },
        |(b, id)| (b.sku.clone(), *id),
    )?;
    Ok(api::Page {
        items: page.items.into_iter().map(|(b, _)| b).collect(),
        next_cursor: page.next_cursor,
    })
}
