//! Applying imports: products (upserted by handle, variants by SKU), stock (set or add per SKU and
//! location) and order histories (by order number). Parsing lives in `backroom-import`; this
//! module decides what to create, update or leave, and writes it through the services, so the
//! rules, the ledger and the audit log hold for imported data too.
//!
//! Every product (or stock row, or batch of invoices) is one unit of work: a bad one is reported
//! and the rest goes in, or, with `strict`, nothing goes in when anything is bad. A dry run does
//! all the work in a transaction that is then rolled back, so what it reports is exactly what a
//! real run would do.

pub mod jobs;

use crate::api::{
    CountStock, NewProduct, NewVariant, Product, ProductPatch, ReceiveStock, Variant, VariantPatch,
};
use crate::catalog::history::FirstSeenProduct;
use crate::customers::history::HistoricalCustomer;
use crate::orders::history::{
    self as order_history, HistoricalLine, HistoricalOrder, HistoricalRefund, OrderMoney,
    RefundedOrder, SaleLine,
};
use crate::returns::history::{HistoricalReturn, HistoricalReturnLine};
use crate::{Ctx, Error, Result, Sql, audit, catalog, inventory};
use backroom_domain::order::{FulfillmentStatus, OrderStatus, PaymentStatus};
use backroom_import::RowError;
use backroom_import::products::{ProductRecord, VariantRecord};
use backroom_import::stock::StockRecord;
use serde::Serialize;
use serde_json::json;
use std::collections::{HashMap, HashSet};

/// What one record did (or would do, in a dry run).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Change {
    /// The natural key: a handle, `SKU@location`, an order number.
    pub key: String,
    /// `created`, `updated` or `unchanged`.
    pub action: &'static str,
    /// Each changed field: name, before, after.
    pub fields: Vec<(String, serde_json::Value, serde_json::Value)>,
}

/// The outcome of an import.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows deliberately left out, with why.
    pub skipped: Vec<RowError>,
    /// Rows refused, with why.
    pub rejected: Vec<RowError>,
    /// What was filled in (generated SKUs, ignored stock...).
    pub notes: Vec<RowError>,
    pub changes: Vec<Change>,
    /// Extra counts (orders, lines, customers, products, returns...).
    pub counts: Vec<(String, u64)>,
}

impl Summary {
    pub fn count(&mut self, what: &str, n: u64) {
        match self.counts.iter_mut().find(|(k, _)| k == what) {
            Some(c) => c.1 += n,
            None => self.counts.push((what.to_string(), n)),
        }
    }

    fn record(&mut self, c: Change) {
        match c.action {
            "created" => self.created += 1,
            "updated" => self.updated += 1,
            _ => self.unchanged += 1,
        }
        self.changes.push(c);
    }
}

fn err_row(line: u64, e: &Error) -> RowError {
    match e {
        Error::Invalid(i) => RowError::new(line, Some(&i.field), i.message.clone()),
        Error::Conflict { message, field, .. } => {
            RowError::new(line, field.as_deref(), message.clone())
        }
        other => RowError::new(line, None, other.to_string()),
    }
}

fn new_variant(v: &VariantRecord) -> NewVariant {
    NewVariant {
        sku: v.sku.clone(),
        title: None,
        options: (!v.options.is_empty()).then(|| v.options.clone()),
        price: v.price,
        compare_at_price: v.compare_at_price,
        unit_cost: v.unit_cost,
        weight_grams: v.weight_grams,
        barcode: v.barcode.clone(),
        inventory_policy: Some(v.inventory_policy.clone()),
    }
}

type Fields = Vec<(String, serde_json::Value, serde_json::Value)>;

/// `Some(after)` when it differs from `before`, with the change recorded in `fields`: a patch
/// field, set only where the file changes something.
fn changed<T: Serialize + PartialEq + Clone>(
    fields: &mut Fields,
    name: &str,
    before: &T,
    after: &T,
) -> Option<T> {
    if before == after {
        return None;
    }
    fields.push((name.to_string(), json!(before), json!(after)));
    Some(after.clone())
}

/// The variant's changes; fields the file leaves empty (cost, weight, barcode) are kept.
fn variant_patch(
    current: &Variant,
    v: &VariantRecord,
    fields: &mut Fields,
) -> Option<VariantPatch> {
    let before = fields.len();
    let key = |f: &str| format!("{}.{f}", v.sku);
    let money = |m: &Option<crate::api::Money>| m.as_ref().map(|m| m.amount);
    let p = VariantPatch {
        sku: None,
        title: None,
        options: changed(fields, &key("options"), &current.options, &v.options),
        price: changed(fields, &key("price"), &current.price.amount, &v.price),
        compare_at_price: changed(
            fields,
            &key("compare_at_price"),
            &money(&current.compare_at_price),
            &v.compare_at_price,
        ),
        unit_cost: v.unit_cost.and_then(|_| {
            changed(
                fields,
                &key("unit_cost"),
                &money(&current.unit_cost),
                &v.unit_cost,
            )
        }),
        weight_grams: v.weight_grams.and_then(|_| {
            changed(
                fields,
                &key("weight_grams"),
                &current.weight_grams,
                &v.weight_grams,
            )
        }),
        barcode: v
            .barcode
            .as_ref()
            .and_then(|_| changed(fields, &key("barcode"), &current.barcode, &v.barcode)),
        inventory_policy: changed(
            fields,
            &key("inventory_policy"),
            &current.inventory_policy,
            &v.inventory_policy,
        ),
    };
    (fields.len() > before).then_some(p)
}

/// Runs one row in its own savepoint: a refused row rolls back alone and is reported under its
/// line; `Some` carries what an accepted row gave.
fn row_unit<T>(
    tx: &mut dyn Sql,
    rejected: &mut Vec<RowError>,
    line: u64,
    f: impl FnOnce(&mut dyn Sql) -> Result<T>,
) -> Result<Option<T>> {
    tx.exec("SAVEPOINT import_row", &[])?;
    match f(tx) {
        Ok(v) => {
            tx.exec("RELEASE import_row", &[])?;
            Ok(Some(v))
        }
        Err(e) => {
            tx.exec("ROLLBACK TO import_row", &[])?;
            tx.exec("RELEASE import_row", &[])?;
            rejected.push(err_row(line, &e));
            Ok(None)
        }
    }
}

/// Creates or updates one product and its variants; returns what changed.
pub fn apply_product(tx: &mut dyn Sql, ctx: &Ctx, p: &ProductRecord) -> Result<Change> {
    let existing = catalog::product_id_by_handle(tx, &p.handle)?;
    let Some(id) = existing else {
        let created = catalog::create_product(
            tx,
            ctx,
            &NewProduct {
                title: p.title.clone(),
                handle: Some(p.handle.clone()),
                description: p.description.clone(),
                vendor: p.vendor.clone(),
                product_type: p.product_type.clone(),
                tags: Some(p.tags.clone()),
                options: Some(p.options.clone()),
                image_urls: Some(p.image_urls.clone()),
                status: Some(p.status.clone()),
                seo_title: p.seo_title.clone(),
                seo_description: p.seo_description.clone(),
                variants: p.variants.iter().map(new_variant).collect(),
            },
        )?;
        return Ok(Change {
            key: created.handle,
            action: "created",
            fields: Vec::new(),
        });
    };
    let current: Product = catalog::get_product(tx, id)?;
    let mut fields = Vec::new();
    let f = &mut fields;
    let patch = ProductPatch {
        title: changed(f, "title", &current.title, &p.title),
        handle: None,
        description: changed(
            f,
            "description",
            &current.description,
            &p.description.clone().unwrap_or_default(),
        ),
        vendor: changed(
            f,
            "vendor",
            &current.vendor,
            &p.vendor.clone().unwrap_or_default(),
        ),
        product_type: changed(
            f,
            "product_type",
            &current.product_type,
            &p.product_type.clone().unwrap_or_default(),
        ),
        tags: changed(f, "tags", &current.tags, &p.tags),
        options: changed(f, "options", &current.options, &p.options),
        image_urls: changed(f, "image_urls", &current.image_urls, &p.image_urls),
        status: changed(f, "status", &current.status, &p.status),
        seo_title: changed(f, "seo_title", &current.seo_title, &p.seo_title),
        seo_description: changed(
            f,
            "seo_description",
            &current.seo_description,
            &p.seo_description,
        ),
    };
    let mut any = !fields.is_empty();
    if any {
        catalog::update_product(tx, ctx, id, &patch)?;
    }
    for v in &p.variants {
        match current.variants.iter().find(|x| x.sku == v.sku) {
            Some(cur) => {
                if let Some(vp) = variant_patch(cur, v, &mut fields) {
                    catalog::update_variant(tx, ctx, cur.id, &vp)?;
                    any = true;
                }
            }
            None => {
                if let Some(h) = catalog::sku_owner(tx, &v.sku)? {
                    return Err(Error::Conflict {
                        code: "sku_taken",
                        message: format!("SKU {} belongs to product {h}", v.sku),
                        field: Some("sku".into()),
                    });
                }
                catalog::add_variant(tx, ctx, id, &new_variant(v))?;
                fields.push((v.sku.clone(), json!(null), json!("added")));
                any = true;
            }
        }
    }
    Ok(Change {
        key: p.handle.clone(),
        action: if any { "updated" } else { "unchanged" },
        fields,
    })
}

/// Sets on-hand stock at `location` to each variant's quantity from the file (a count: the
/// variance goes to the ledger with reason `count`).
pub fn apply_product_stock(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    p: &ProductRecord,
    location_id: i64,
) -> Result<u64> {
    let mut n = 0;
    for v in p.variants.iter().filter(|v| v.inventory_quantity.is_some()) {
        let counted = v.inventory_quantity.unwrap_or(0).max(0);
        let level = inventory::on_hand_by_sku(tx, &v.sku, location_id)?;
        if level == counted {
            continue;
        }
        inventory::count(
            tx,
            ctx,
            &CountStock {
                sku: v.sku.clone(),
                location_id,
                counted,
                note: Some("import".into()),
            },
        )?;
        n += 1;
    }
    Ok(n)
}

/// The id of an active location by its code, for files that name locations.
pub fn location_id(tx: &mut dyn Sql, code: &str) -> Result<i64> {
    catalog::active_location_id(tx, code)?
        .ok_or_else(|| Error::invalid("location", format!("no active location has code {code}")))
}

/// How a stock file's quantities apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StockMode {
    /// The quantity is what is on hand (a count).
    Set,
    /// The quantity is added (a receipt; negative removes, as an adjustment).
    Add,
}

/// Applies one stock row.
pub fn apply_stock(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    r: &StockRecord,
    mode: StockMode,
    reason: &str,
) -> Result<Change> {
    let loc = location_id(tx, &r.location)?;
    let before = inventory::on_hand_by_sku(tx, &r.sku, loc)?;
    let key = format!("{}@{}", r.sku, r.location);
    let after = match mode {
        StockMode::Set => r.quantity,
        StockMode::Add => before + r.quantity,
    };
    if after == before {
        // A count equal to what is there, or adding nothing.
        catalog::variant_by_sku(tx, "sku", &r.sku)?;
        return Ok(Change {
            key,
            action: "unchanged",
            fields: Vec::new(),
        });
    }
    match mode {
        StockMode::Set => {
            inventory::count(
                tx,
                ctx,
                &CountStock {
                    sku: r.sku.clone(),
                    location_id: loc,
                    counted: r.quantity,
                    note: Some(reason.to_string()),
                },
            )?;
        }
        StockMode::Add if r.quantity > 0 => {
            inventory::receive(
                tx,
                ctx,
                &ReceiveStock {
                    sku: r.sku.clone(),
                    location_id: loc,
                    quantity: r.quantity,
                    note: Some(reason.to_string()),
                },
            )?;
        }
        StockMode::Add => {
            inventory::adjust(
                tx,
                ctx,
                &crate::api::AdjustStock {
                    sku: r.sku.clone(),
                    location_id: loc,
                    delta: r.quantity,
                    note: reason.to_string(),
                },
            )?;
        }
    }
    Ok(Change {
        key,
        action: "updated",
        fields: vec![("on_hand".into(), json!(before), json!(after))],
    })
}

/// Records that an import ran, with its counts, in the audit log.
pub fn audit_import(tx: &mut dyn Sql, ctx: &Ctx, what: &str, s: &Summary) -> Result<()> {
    audit::record(
        tx,
        ctx,
        &format!("import.{what}"),
        "import",
        what.to_string(),
        json!({"rows": s.rows, "created": s.created, "updated": s.updated, "unchanged": s.unchanged,
               "rejected": s.rejected.len(), "skipped": s.skipped.len(), "counts": s.counts}),
    )
}

// ----------------------------------------------------------------------------------------------
// Drivers: run the units of work against a database.

use crate::{Actor, Db};
use backroom_import::products::ProductFile;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Do everything, report it, and roll it back.
    pub dry_run: bool,
    /// Apply nothing if any row is bad.
    pub strict: bool,
    /// Product files: set on-hand stock here from the file's quantities.
    pub location: Option<String>,
}

/// Runs `work` as one unit: committed unless `keep` says no, in which case it is rolled back but
/// its summary still comes out.
async fn unit(
    db: &Db,
    work: impl FnMut(&mut dyn Sql) -> Result<Summary> + Send + 'static,
    keep: impl Fn(&Summary) -> bool + Send + Sync + 'static,
) -> Result<Summary> {
    let cell: Arc<Mutex<Option<Summary>>> = Arc::new(Mutex::new(None));
    let out = cell.clone();
    let mut work = work;
    let r = db
        .write(move |tx| {
            let s = work(tx)?;
            let k = keep(&s);
            if let Ok(mut c) = out.lock() {
                *c = Some(s);
            }
            if k {
                Ok(())
            } else {
                Err(Error::conflict(
                    "rolled_back",
                    "a dry run, or a strict run with errors",
                ))
            }
        })
        .await;
    match r {
        Ok(())
        | Err(Error::Conflict {
            code: "rolled_back",
            ..
        }) => cell
            .lock()
            .ok()
            .and_then(|mut c| c.take())
            .ok_or_else(|| Error::conflict("import_failed", "the import produced no summary")),
        Err(e) => Err(e),
    }
}

fn ctx_for(actor: &Actor) -> Ctx {
    Ctx::new(actor.clone(), crate::util::now_micros())
}

/// Imports a parsed product file.
pub async fn products(db: &Db, actor: Actor, file: ProductFile, opts: &Options) -> Result<Summary> {
    products_with_progress(db, actor, file, opts, |_, _| {}).await
}

/// [`products`], calling `progress(done, total)` as products are applied.
pub async fn products_with_progress(
    db: &Db,
    actor: Actor,
    file: ProductFile,
    opts: &Options,
    mut progress: impl FnMut(u64, u64),
) -> Result<Summary> {
    actor.require(backroom_domain::roles::Permission::CatalogWrite)?;
    let mut base = Summary {
        rows: file.rows,
        skipped: file.skipped.clone(),
        rejected: file.errors.clone(),
        notes: file.notes.clone(),
        ..Default::default()
    };
    if opts.location.is_none()
        && file
            .products
            .iter()
            .any(|p| p.variants.iter().any(|v| v.inventory_quantity.is_some()))
    {
        base.notes.push(RowError::new(
            0,
            None,
            "the file has stock quantities; they were not applied (name a location to set them)",
        ));
    }
    if opts.strict && !base.rejected.is_empty() {
        return Ok(base);
    }
    let products = Arc::new(file.products);
    let location = opts.location.clone();
    let one_unit = opts.dry_run || opts.strict;
    let mut s = if one_unit {
        let ps = products.clone();
        let a = actor.clone();
        let strict = opts.strict;
        let dry = opts.dry_run;
        let mut s = unit(
            db,
            move |tx| {
                let ctx = ctx_for(&a);
                let loc = location
                    .as_deref()
                    .map(|c| location_id(tx, c))
                    .transpose()?;
                let mut s = Summary::default();
                for p in ps.iter() {
                    let done = row_unit(tx, &mut s.rejected, p.line, |tx| {
                        let c = apply_product(tx, &ctx, p)?;
                        let n = match loc {
                            Some(l) => Some(apply_product_stock(tx, &ctx, p, l)?),
                            None => None,
                        };
                        Ok((c, n))
                    })?;
                    if let Some((c, n)) = done {
                        s.record(c);
                        if let Some(n) = n {
                            s.count("stock levels set", n);
                        }
                    }
                }
                Ok(s)
            },
            move |s| !dry && (!strict || s.rejected.is_empty()),
        )
        .await?;
        if opts.strict && !s.rejected.is_empty() {
            // Nothing was applied: report the errors only.
            s.created = 0;
            s.updated = 0;
            s.unchanged = 0;
            s.changes.clear();
        }
        s
    } else {
        let mut s = Summary::default();
        for i in 0..products.len() {
            progress(i as u64, products.len() as u64);
            let ps = products.clone();
            let a = actor.clone();
            let loc_code = location.clone();
            let r = db
                .write(move |tx| {
                    let ctx = ctx_for(&a);
                    let c = apply_product(tx, &ctx, &ps[i])?;
                    let mut n = 0;
                    if let Some(code) = &loc_code {
                        let l = location_id(tx, code)?;
                        n = apply_product_stock(tx, &ctx, &ps[i], l)?;
                    }
                    Ok((c, n))
                })
                .await;
            match r {
                Ok((c, n)) => {
                    s.record(c);
                    if location.is_some() {
                        s.count("stock levels set", n);
                    }
                }
                Err(e) => s.rejected.push(err_row(products[i].line, &e)),
            }
        }
        s
    };
    s.rows = base.rows;
    s.skipped = base.skipped;
    s.notes = base.notes;
    s.rejected.extend(base.rejected);
    s.rejected.sort_by_key(|e| e.line);
    if !opts.dry_run {
        finish_audit(db, &actor, "products", &s).await?;
    }
    Ok(s)
}

async fn finish_audit(db: &Db, actor: &Actor, what: &'static str, s: &Summary) -> Result<()> {
    let s = s.clone();
    let a = actor.clone();
    db.write(move |tx| audit_import(tx, &ctx_for(&a), what, &s))
        .await
}

/// Imports stock rows.
pub async fn stock(
    db: &Db,
    actor: Actor,
    records: Vec<StockRecord>,
    errors: Vec<RowError>,
    mode: StockMode,
    reason: String,
    opts: &Options,
) -> Result<Summary> {
    actor.require(backroom_domain::roles::Permission::InventoryWrite)?;
    let rows = (records.len() + errors.len()) as u64;
    if opts.strict && !errors.is_empty() {
        return Ok(Summary {
            rows,
            rejected: errors,
            ..Default::default()
        });
    }
    let mut s = stock_units(
        db,
        &actor,
        records,
        mode,
        &reason,
        opts.dry_run,
        opts.strict,
    )
    .await?;
    s.rows = rows;
    s.rejected.extend(errors);
    s.rejected.sort_by_key(|e| e.line);
    if !opts.dry_run && (!opts.strict || s.rejected.is_empty()) {
        finish_audit(db, &actor, "stock", &s).await?;
    }
    Ok(s)
}

/// Applies stock rows in one unit, each row in its own savepoint; rolled back for a dry run or a
/// strict run with a refused row.
async fn stock_units(
    db: &Db,
    actor: &Actor,
    records: Vec<StockRecord>,
    mode: StockMode,
    reason: &str,
    dry: bool,
    strict: bool,
) -> Result<Summary> {
    let n = records.len() as u64;
    let recs = Arc::new(records);
    let a = actor.clone();
    let reason = reason.to_string();
    let mut s = unit(
        db,
        move |tx| {
            let ctx = ctx_for(&a);
            let mut s = Summary::default();
            for r in recs.iter() {
                if let Some(c) = row_unit(tx, &mut s.rejected, r.line, |tx| {
                    apply_stock(tx, &ctx, r, mode, &reason)
                })? {
                    s.record(c);
                }
            }
            Ok(s)
        },
        move |s| !dry && (!strict || s.rejected.is_empty()),
    )
    .await?;
    s.rows = n;
    Ok(s)
}

/// Imports a stock file as it is read: units of 2,000 rows, so memory stays flat whatever the
/// file's size. With `dry_run` or `strict`, the rows are gathered and applied as one unit.
pub async fn stock_stream(
    db: &Db,
    actor: Actor,
    mut next: impl FnMut() -> Option<std::result::Result<StockRecord, RowError>>,
    mode: StockMode,
    reason: String,
    opts: &Options,
) -> Result<Summary> {
    if opts.dry_run || opts.strict {
        let (mut recs, mut errs) = (Vec::new(), Vec::new());
        while let Some(item) = next() {
            match item {
                Ok(r) => recs.push(r),
                Err(e) => errs.push(e),
            }
        }
        return stock(db, actor, recs, errs, mode, reason, opts).await;
    }
    actor.require(backroom_domain::roles::Permission::InventoryWrite)?;
    let mut total = Summary::default();
    loop {
        let (mut recs, mut errs) = (Vec::with_capacity(2000), Vec::new());
        while recs.len() < 2000 {
            match next() {
                Some(Ok(r)) => recs.push(r),
                Some(Err(e)) => errs.push(e),
                None => break,
            }
        }
        if recs.is_empty() && errs.is_empty() {
            break;
        }
        let s = stock_units(db, &actor, recs, mode, &reason, false, false).await?;
        total.rows += s.rows + errs.len() as u64;
        total.created += s.created;
        total.updated += s.updated;
        total.unchanged += s.unchanged;
        total.rejected.extend(s.rejected);
        total.rejected.extend(errs);
        total.changes.extend(s.changes);
    }
    total.rejected.sort_by_key(|e| e.line);
    finish_audit(db, &actor, "stock", &total).await?;
    Ok(total)
}

/// Imports customers, created or updated by email (case-insensitive), each row its own savepoint;
/// one unit, rolled back for a dry run or a strict run with a refused row.
pub async fn customers(
    db: &Db,
    actor: Actor,
    records: Vec<backroom_import::customers::CustomerRecord>,
    errors: Vec<RowError>,
    opts: &Options,
) -> Result<Summary> {
    actor.require(backroom_domain::roles::Permission::OrdersManage)?;
    let rows = (records.len() + errors.len()) as u64;
    let batch = Batch {
        what: "customers",
        records,
        errors,
        rows,
    };
    record_by_record(db, actor, batch, opts, |tx, ctx, r, s| {
        let res = row_unit(tx, &mut s.rejected, r.line, |tx| {
            let email = backroom_domain::Email::parse(&r.email)?;
            let before = crate::customers::names_by_email_key(tx, &email.key())?
                .map(|x| (x.first_name, x.last_name, x.phone));
            crate::customers::upsert_customer(
                tx,
                ctx,
                &email,
                &crate::customers::CustomerInput {
                    first: r.first_name.as_deref(),
                    last: r.last_name.as_deref(),
                    phone: r.phone.as_deref(),
                    accepts_marketing: r.accepts_marketing,
                    channel: "import",
                    address: None,
                },
            )?;
            let after = (
                r.first_name.clone().unwrap_or_default(),
                r.last_name.clone().unwrap_or_default(),
                r.phone.clone(),
            );
            Ok::<_, Error>(Change {
                key: r.email.clone(),
                action: match &before {
                    None => "created",
                    Some(b)
                        if b.0 == after.0
                            && b.1 == after.1
                            && (r.phone.is_none() || b.2 == after.2) =>
                    {
                        "unchanged"
                    }
                    Some(_) => "updated",
                },
                fields: Vec::new(),
            })
        })?;
        if let Some(c) = res {
            s.record(c);
        }
        Ok(())
    })
    .await
}

/// Imports a ticket history (see [`backroom_import::tickets`]): each ticket whole or not at
/// all, refused by the line of its first row; tickets already here are left unchanged.
pub async fn tickets(
    db: &Db,
    actor: Actor,
    records: Vec<backroom_import::tickets::TicketRecord>,
    errors: Vec<RowError>,
    rows: u64,
    opts: &Options,
) -> Result<Summary> {
    use crate::support::history::{Restored, restore};
    actor.require(backroom_domain::roles::Permission::SupportManage)?;
    let batch = Batch {
        what: "tickets",
        records,
        errors,
        rows,
    };
    record_by_record(db, actor, batch, opts, |tx, ctx, r, s| {
        // A message's unreadable time is named by its own line.
        let bad = r.messages.iter().find_map(|m| {
            crate::util::parse_time("message_at", &m.at)
                .err()
                .map(|e| err_row(m.line, &e))
        });
        if let Some(e) = bad {
            s.rejected.push(e);
            return Ok(());
        }
        let action = match row_unit(tx, &mut s.rejected, r.line, |tx| restore(tx, ctx, r))? {
            Some(Restored::Created(_)) => {
                s.count("messages", r.messages.len() as u64);
                "created"
            }
            Some(Restored::Unchanged(_)) => "unchanged",
            None => return Ok(()),
        };
        s.record(Change {
            key: r.reference.clone(),
            action,
            fields: Vec::new(),
        });
        Ok(())
    })
    .await
}

/// The records of a file to apply, the rows the file refused itself, and how many rows it had.
struct Batch<R> {
    what: &'static str,
    records: Vec<R>,
    errors: Vec<RowError>,
    rows: u64,
}

/// Applies records one by one in one unit (`apply` puts each in its own savepoint): with
/// `strict`, nothing when any row is refused; with `dry_run`, everything rolled back. The
/// file's own refusals join the summary in line order, and a kept import is audited.
async fn record_by_record<R: Send + Sync + 'static>(
    db: &Db,
    actor: Actor,
    batch: Batch<R>,
    opts: &Options,
    mut apply: impl FnMut(&mut dyn Sql, &Ctx, &R, &mut Summary) -> Result<()> + Send + 'static,
) -> Result<Summary> {
    let Batch {
        what,
        records,
        errors,
        rows,
    } = batch;
    if opts.strict && !errors.is_empty() {
        return Ok(Summary {
            rows,
            rejected: errors,
            ..Default::default()
        });
    }
    let a = actor.clone();
    let (dry, strict) = (opts.dry_run, opts.strict);
    let mut s = unit(
        db,
        move |tx| {
            let ctx = ctx_for(&a);
            let mut s = Summary::default();
            for r in &records {
                apply(tx, &ctx, r, &mut s)?;
            }
            Ok(s)
        },
        move |s| !dry && (!strict || s.rejected.is_empty()),
    )
    .await?;
    s.rows = rows;
    s.rejected.extend(errors);
    s.rejected.sort_by_key(|e| e.line);
    if !opts.dry_run && (!opts.strict || s.rejected.is_empty()) {
        finish_audit(db, &actor, what, &s).await?;
    }
    Ok(s)
}

// ----------------------------------------------------------------------------------------------
// Order histories (UCI Online Retail layout).

use backroom_import::orders::OrderRecord;
use backroom_import::retail::Invoice;

#[derive(Clone, Debug)]
pub struct OrderOptions {
    /// The channel the orders came through (its code).
    pub channel: String,
    /// The currency the file's prices are in (the store's by default).
    pub currency: Option<String>,
    /// The time zone the file's local times are in (the store's by default).
    pub timezone: Option<String>,
    /// Historical orders leave stock alone, unless this names a location (code): then shipped
    /// units leave it (`sale_shipped`) and cancelled ones come back (`return_restock`).
    pub stock_location: Option<String>,
}

/// What an order-history import needs to know once: the channel, currency, exponent, zone.
#[derive(Clone)]
pub struct OrderContext {
    pub channel_id: i64,
    pub currency: String,
    pub zone: jiff::tz::TimeZone,
    /// Where history moves stock, when asked.
    pub stock_location: Option<i64>,
}

/// Resolves the import's channel (created, with no locations, when the store has none by that
/// code: historical orders need no stock), currency and time zone.
pub async fn order_context(
    db: &Db,
    actor: &Actor,
    o: &OrderOptions,
) -> Result<(OrderContext, u32)> {
    let o = o.clone();
    let a = actor.clone();
    db.write(move |tx| {
        let s = crate::settings::load(tx)?;
        let channel_id = match catalog::channel_id(tx, &o.channel)? {
            Some(id) => id,
            None => {
                catalog::create_channel(
                    tx,
                    &ctx_for(&a),
                    &crate::api::NewChannel {
                        code: o.channel.clone(),
                        name: o.channel.clone(),
                        kind: "online".into(),
                        ..Default::default()
                    },
                )?
                .id
            }
        };
        let currency = match &o.currency {
            Some(c) => backroom_domain::Currency::parse(c)?,
            None => s.currency,
        };
        let tz_name = o.timezone.clone().unwrap_or(s.timezone.clone());
        let zone = jiff::tz::TimeZone::get(&tz_name)
            .map_err(|_| Error::invalid("timezone", format!("{tz_name} is not a time zone")))?;
        // A history in another currency or zone: an empty store takes them on (its reports would
        // otherwise leave every imported order out); a store with orders keeps its currency and
        // refuses the import, since its reports are in one currency.
        if currency != s.currency || tz_name != s.timezone {
            let orders = crate::orders::count(tx)?;
            if orders == 0 {
                crate::settings::update(
                    tx,
                    &ctx_for(&a),
                    &crate::settings::SettingsPatch {
                        currency: Some(currency.as_str().to_string()),
                        timezone: Some(tz_name.clone()),
                        ..Default::default()
                    },
                )?;
            } else if currency != s.currency {
                return Err(Error::conflict(
                    "currency_mismatch",
                    format!(
                        "the store's currency is {} and it has {orders} orders; orders in {currency} would count in no report. Import into a store in {currency}, or leave --currency out",
                        s.currency
                    ),
                ));
            }
        }
        let stock_location = o
            .stock_location
            .as_deref()
            .map(|code| location_id(tx, code))
            .transpose()?;
        Ok((
            OrderContext {
                channel_id,
                currency: currency.as_str().to_string(),
                zone,
                stock_location,
            },
            currency.exponent(),
        ))
    })
    .await
}

fn local_to_micros(zone: &jiff::tz::TimeZone, local: &str) -> Option<i64> {
    let dt: jiff::civil::DateTime = local.replace(' ', "T").parse().ok()?;
    Some(dt.to_zoned(zone.clone()).ok()?.timestamp().as_microsecond())
}

/// The handle of a product made for a stock code: codes differing only in case get distinct
/// handles.
fn code_handle(code: &str) -> String {
    let base = backroom_import::products::slug(code);
    if code.chars().any(|c| c.is_ascii_lowercase()) {
        format!("{base}-lc")
    } else {
        base
    }
}

/// A stock code as a SKU: characters a SKU may not hold become `-`.
fn code_sku(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The placeholder customers that orders without one (guest invoices, rows with no email) hang
/// on. They are marked `guest`: their orders count in orders and sales, never in the customer
/// KPIs (customers, repeat rate, cohorts, lifetime value).
const GUEST_RETAIL: &str = "guest@online-retail.invalid";
const GUEST_IMPORT: &str = "guest@import.invalid";

fn customer_email(id: &Option<String>) -> String {
    match id {
        Some(id) => format!("customer-{id}@online-retail.invalid"),
        None => GUEST_RETAIL.into(),
    }
}

/// Imports one batch of invoices: customers and products first seen, sales as closed, paid,
/// fulfilled orders (stock untouched), and cancellations as received returns with their refund
/// against the latest earlier sale of the same stock code to the same customer. Orders already
/// there (by number) and cancellations already applied are left alone.
pub fn apply_invoices(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    oc: &OrderContext,
    invoices: &[Invoice],
) -> Result<Summary> {
    let mut s = Summary::default();
    let now = ctx.now;
    let when = |inv: &Invoice| local_to_micros(&oc.zone, &inv.date).unwrap_or(now);
    let merged = merge_split_invoices(invoices);
    let invoices = merged.as_deref().unwrap_or(invoices);
    let customers = retail_customers(tx, invoices, &when, &mut s)?;
    let variants = retail_products(tx, invoices, &when, &mut s)?;
    let ids = Resolved {
        customers,
        variants,
    };
    let sales: Vec<&Invoice> = invoices.iter().filter(|i| !i.cancellation).collect();
    apply_sales(tx, ctx, oc, &sales, &ids, &when, &mut s)?;
    // Cancellations, after the sales of the batch.
    let cancels: Vec<&Invoice> = invoices.iter().filter(|i| i.cancellation).collect();
    if !cancels.is_empty() {
        apply_cancellations(tx, ctx, &cancels, &ids, &when, oc.stock_location, &mut s)?;
    }
    Ok(s)
}

/// Customer ids by email and variant ids by SKU, as a batch of invoices resolved them.
struct Resolved {
    customers: HashMap<String, i64>,
    variants: HashMap<String, i64>,
}

/// A stock move of history: (variant, units (+ back, - out), order, line, file).
type StockMove = (i64, i64, i64, u64, Option<String>);

/// Merges an invoice split in pieces into one, copying the batch only when one is (else `None`).
fn merge_split_invoices(invoices: &[Invoice]) -> Option<Vec<Invoice>> {
    // An invoice whose rows are interrupted by another's comes in two pieces: one order. The
    // batch is copied only when that happens (once in the whole Online Retail year).
    let mut numbers: HashSet<&str> = HashSet::new();
    if invoices.iter().all(|i| numbers.insert(&i.number)) {
        return None;
    }
    let mut m: Vec<Invoice> = Vec::with_capacity(invoices.len());
    let mut at: HashMap<&str, usize> = HashMap::new();
    for inv in invoices {
        match at.get(inv.number.as_str()) {
            Some(&i) if m[i].customer == inv.customer => {
                m[i].lines.extend(inv.lines.iter().cloned())
            }
            _ => {
                at.insert(&inv.number, m.len());
                m.push(inv.clone());
            }
        }
    }
    Some(m)
}

/// Customers: the invoices' customer ids by email, creating those first seen.
fn retail_customers(
    tx: &mut dyn Sql,
    invoices: &[Invoice],
    when: &dyn Fn(&Invoice) -> i64,
    s: &mut Summary,
) -> Result<HashMap<String, i64>> {
    let mut emails: Vec<String> = invoices
        .iter()
        .map(|i| customer_email(&i.customer))
        .collect();
    emails.sort();
    emails.dedup();
    let mut customers = crate::customers::history::ids_by_email_key(tx, &emails)?;
    let mut new_customers: Vec<HistoricalCustomer> = Vec::new();
    let mut added: HashSet<String> = HashSet::new();
    for inv in invoices {
        let e = customer_email(&inv.customer);
        if customers.contains_key(&e) || added.contains(&e) {
            continue;
        }
        new_customers.push(HistoricalCustomer {
            email: e.clone(),
            email_key: e.clone(),
            first_name: if inv.customer.is_none() {
                "Guest".into()
            } else {
                "".into()
            },
            note: Some(inv.country.clone()),
            at: when(inv),
            guest: inv.customer.is_none(),
        });
        added.insert(e);
    }
    for (key, id) in crate::customers::history::insert_customers(tx, &new_customers)? {
        if key != GUEST_RETAIL {
            s.count("customers", 1);
        }
        customers.insert(key, id);
    }
    Ok(customers)
}

/// A product an order history names first: active, with one `Default` variant (`deny`) at the
/// first price seen.
fn first_seen(handle: String, title: String, sku: String, price: i64, at: i64) -> FirstSeenProduct {
    FirstSeenProduct {
        handle,
        title,
        status: backroom_domain::order::ProductStatus::Active,
        sku,
        variant_title: "Default".into(),
        price,
        inventory_policy: backroom_domain::order::InventoryPolicy::Deny,
        at,
    }
}

/// Creates the products first seen (one multi-row insert for the products, one for their
/// variants) and adds their variant ids by SKU to `variants`.
fn insert_first_seen(
    tx: &mut dyn Sql,
    new: &[FirstSeenProduct],
    variants: &mut HashMap<String, i64>,
    s: &mut Summary,
) -> Result<()> {
    variants.extend(catalog::history::insert_first_seen(tx, new)?);
    s.count("products", new.len() as u64);
    Ok(())
}

/// Products: one per stock code, priced at the first price seen; the variant ids by SKU.
fn retail_products(
    tx: &mut dyn Sql,
    invoices: &[Invoice],
    when: &dyn Fn(&Invoice) -> i64,
    s: &mut Summary,
) -> Result<HashMap<String, i64>> {
    let mut codes: Vec<(&str, &str, i64, i64)> = Vec::new(); // (code, description, price, time)
    let mut seen_codes: HashSet<&str> = HashSet::new();
    for inv in invoices {
        for l in &inv.lines {
            if seen_codes.insert(&l.stock_code) {
                codes.push((&l.stock_code, &l.description, l.unit_price, when(inv)));
            }
        }
    }
    let skus: Vec<String> = codes.iter().map(|(c, ..)| code_sku(c)).collect();
    let mut variants = catalog::variant_ids_by_sku(tx, &skus)?;
    let missing: Vec<&(&str, &str, i64, i64)> = codes
        .iter()
        .filter(|(c, ..)| !variants.contains_key(&code_sku(c)))
        .collect();
    if missing.is_empty() {
        return Ok(variants);
    }
    let new: Vec<FirstSeenProduct> = missing
        .iter()
        .map(|(c, d, price, t)| {
            let title = if d.trim().is_empty() {
                c.to_string()
            } else {
                d.trim().to_string()
            };
            first_seen(code_handle(c), title, code_sku(c), *price, *t)
        })
        .collect();
    insert_first_seen(tx, &new, &mut variants, s)?;
    Ok(variants)
}

/// Sales: those not already there (by number) become closed, paid, fulfilled orders.
fn apply_sales(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    oc: &OrderContext,
    sales: &[&Invoice],
    ids: &Resolved,
    when: &dyn Fn(&Invoice) -> i64,
    s: &mut Summary,
) -> Result<()> {
    let numbers: Vec<i64> = sales
        .iter()
        .map(|i| i.number.parse::<i64>().unwrap_or(0))
        .collect();
    let existing = order_history::existing_numbers(tx, &numbers)?;
    let fresh: Vec<&Invoice> = sales
        .iter()
        .copied()
        .filter(|i| !existing.contains(&i.number.parse::<i64>().unwrap_or(0)))
        .collect();
    s.unchanged += (sales.len() - fresh.len()) as u64;
    if fresh.is_empty() {
        return Ok(());
    }
    let order_id = insert_sales(tx, ctx, oc, &fresh, &ids.customers, when)?;
    let lines = insert_sale_lines(tx, &fresh, &order_id, &ids.variants)?;
    let new_ids: Vec<i64> = order_id.values().copied().collect();
    crate::analytics::rollup::imported(tx, &new_ids)?;
    if let Some(loc) = oc.stock_location {
        let vmap = &ids.variants;
        let moves: Vec<StockMove> = fresh
            .iter()
            .flat_map(|inv| {
                let oid = order_id
                    .get(&inv.number.parse::<i64>().unwrap_or(0))
                    .copied()
                    .unwrap_or(0);
                inv.lines.iter().map(move |l| {
                    (
                        vmap.get(&code_sku(&l.stock_code)).copied().unwrap_or(0),
                        -l.quantity,
                        oid,
                        l.line,
                        inv.file.clone(),
                    )
                })
            })
            .collect();
        move_history_stock(tx, ctx, loc, &moves, s)?;
    }
    s.count("orders", fresh.len() as u64);
    s.count("order lines", lines);
    s.created += fresh.len() as u64;
    Ok(())
}

/// Inserts the new sales' orders (closed, paid, fulfilled, nothing refunded yet); their ids by
/// number.
fn insert_sales(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    oc: &OrderContext,
    fresh: &[&Invoice],
    customers: &HashMap<String, i64>,
    when: &dyn Fn(&Invoice) -> i64,
) -> Result<HashMap<i64, i64>> {
    let orders: Vec<HistoricalOrder> = fresh
        .iter()
        .map(|inv| {
            let total: i64 = inv.lines.iter().map(|l| l.quantity * l.unit_price).sum();
            // The file names the country; one it cannot code (Unspecified, European
            // Community) is `ZZ` (unknown), its name kept in the region.
            let country = backroom_import::retail::country_code(&inv.country).unwrap_or("ZZ");
            let region = (country == "ZZ" && !inv.country.trim().is_empty()).then_some(inv.country.trim());
            let address = json!({"name": inv.customer.as_deref().map_or("Guest".to_string(), |c| format!("Customer {c}")), "line1": "-", "city": "-", "postal_code": "-", "country": country, "line2": null, "region": region, "phone": null, "latitude": null, "longitude": null}).to_string();
            HistoricalOrder {
                number: inv.number.parse::<i64>().unwrap_or(0),
                channel_id: oc.channel_id,
                customer_id: customers.get(&customer_email(&inv.customer)).copied().unwrap_or(0),
                currency: oc.currency.clone(),
                status: OrderStatus::Closed,
                payment_status: PaymentStatus::Paid,
                fulfillment_status: FulfillmentStatus::Fulfilled,
                subtotal: total,
                discounts: 0,
                shipping: 0,
                tax: 0,
                total,
                paid: total,
                refunded: 0,
                shipping_method: "imported".into(),
                shipping_address: address,
                sourcing_strategy: "imported".into(),
                sourcing_reason: "imported order history".into(),
                placed_at: when(inv),
                created_by: ctx.actor.user_id,
                ship_country: country.into(),
            }
        })
        .collect();
    order_history::insert_unrefunded_orders(tx, &orders)
}

/// Copies in the new sales' lines; how many.
fn insert_sale_lines(
    tx: &mut dyn Sql,
    fresh: &[&Invoice],
    order_id: &HashMap<i64, i64>,
    variants: &HashMap<String, i64>,
) -> Result<u64> {
    let mut lines: Vec<HistoricalLine> = Vec::new();
    for inv in fresh {
        let oid = order_id
            .get(&inv.number.parse::<i64>().unwrap_or(0))
            .copied()
            .unwrap_or(0);
        for (n, l) in inv.lines.iter().enumerate() {
            let sku = code_sku(&l.stock_code);
            lines.push(HistoricalLine {
                order_id: oid,
                line_no: n as i64 + 1,
                variant_id: variants.get(&sku).copied().unwrap_or(0),
                sku,
                title: if l.description.trim().is_empty() {
                    l.stock_code.clone()
                } else {
                    l.description.trim().to_string()
                },
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: 0,
                tax: 0,
                returned_quantity: 0,
            });
        }
    }
    order_history::insert_unreturned_lines(tx, &lines)?;
    Ok(lines.len() as u64)
}

/// Cancellations: received returns and refunds against the sales they take back.
fn apply_cancellations(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    cancels: &[&Invoice],
    ids: &Resolved,
    when: &dyn Fn(&Invoice) -> i64,
    stock_location: Option<i64>,
    s: &mut Summary,
) -> Result<()> {
    let todo = pending_cancellations(tx, cancels, s)?;
    let cands = candidate_sale_lines(tx, &todo, ids)?;
    let Matches {
        matched,
        back,
        lines,
    } = match_cancellations(&todo, cands, ids, when, s);
    if matched.is_empty() {
        return Ok(());
    }
    s.count("cancellation lines matched", lines);
    return_units(tx, &matched)?;
    // One return (received) and one refund per cancellation and order.
    let mut groups: Vec<(usize, i64)> = matched.iter().map(|m| (m.0, m.1)).collect();
    groups.sort_unstable();
    groups.dedup();
    let value_of = insert_returns(tx, ctx, &todo, &matched, &groups, when)?;
    // Orders: what they were, then what they become, in one statement.
    let mut order_ids: Vec<i64> = groups.iter().map(|g| g.1).collect();
    order_ids.sort_unstable();
    order_ids.dedup();
    let mut state = order_history::order_money(tx, &order_ids)?;
    insert_refunds(tx, ctx, &todo, &groups, &value_of, &mut state, when)?;
    update_refunded_orders(tx, ctx.now, &state)?;
    crate::analytics::rollup::imported(tx, &order_ids)?;
    s.count("returns", groups.len() as u64);
    if let Some(loc) = stock_location {
        move_history_stock(tx, ctx, loc, &back, s)?;
    }
    Ok(())
}

/// The cancellations not already applied; those that are count as unchanged.
fn pending_cancellations<'a>(
    tx: &mut dyn Sql,
    cancels: &[&'a Invoice],
    s: &mut Summary,
) -> Result<Vec<&'a Invoice>> {
    // Already applied (a re-run): their refund carries the cancellation's number.
    let numbers: Vec<&str> = cancels.iter().map(|i| i.number.as_str()).collect();
    let done = order_history::cancellation_refund_notes(tx, &numbers)?;
    let todo: Vec<&Invoice> = cancels
        .iter()
        .copied()
        .filter(|i| !done.contains(&i.number))
        .collect();
    s.unchanged += (cancels.len() - todo.len()) as u64;
    Ok(todo)
}

/// The sale lines the cancellations may take back, latest sale first, fetched in one query.
fn candidate_sale_lines(
    tx: &mut dyn Sql,
    todo: &[&Invoice],
    ids: &Resolved,
) -> Result<Vec<SaleLine>> {
    // Matched in memory against the candidate sale lines fetched in one query (a query per line
    // costs a round trip each on PostgreSQL).
    let mut cust_ids: Vec<i64> = todo
        .iter()
        .filter(|i| i.customer.is_some())
        .filter_map(|i| ids.customers.get(&customer_email(&i.customer)).copied())
        .collect();
    cust_ids.sort_unstable();
    cust_ids.dedup();
    let mut var_ids: Vec<i64> = todo
        .iter()
        .flat_map(|i| i.lines.iter())
        .filter_map(|l| ids.variants.get(&code_sku(&l.stock_code)).copied())
        .collect();
    var_ids.sort_unstable();
    var_ids.dedup();
    let mut cands = order_history::open_sale_lines(tx, &cust_ids, &var_ids)?;
    // Latest sale first; within a sale, its last line first (so the order is the same on every
    // engine, whatever order the query returned).
    cands.sort_by_key(|c| std::cmp::Reverse((c.placed, c.order, c.line)));
    Ok(cands)
}

/// What the cancellations took back.
struct Matches {
    /// (cancellation index, order, line, units, value)
    matched: Vec<(usize, i64, i64, i64, i64)>,
    /// The stock coming back.
    back: Vec<StockMove>,
    /// Cancellation lines matched.
    lines: u64,
}

/// Matches each cancellation line against the candidate sale lines; a line none covers is refused.
fn match_cancellations(
    todo: &[&Invoice],
    mut cands: Vec<SaleLine>,
    ids: &Resolved,
    when: &dyn Fn(&Invoice) -> i64,
    s: &mut Summary,
) -> Matches {
    // A cancellation takes back units of the same customer, product and unit price, from the
    // latest earlier sales that still have them open (across several when one is not enough),
    // so no order is ever credited more than it was sold for.
    let mut by_key: HashMap<(i64, i64, i64), Vec<usize>> = HashMap::new();
    for (i, c) in cands.iter().enumerate() {
        by_key
            .entry((c.customer, c.variant, c.price))
            .or_default()
            .push(i);
    }
    let mut matched: Vec<(usize, i64, i64, i64, i64)> = Vec::new();
    let mut back: Vec<StockMove> = Vec::new();
    let mut matched_lines = 0u64;
    for (ci, inv) in todo.iter().enumerate() {
        let at = when(inv);
        let customer = ids
            .customers
            .get(&customer_email(&inv.customer))
            .copied()
            .unwrap_or(0);
        for l in &inv.lines {
            let variant = ids
                .variants
                .get(&code_sku(&l.stock_code))
                .copied()
                .unwrap_or(0);
            let open: Vec<usize> = if inv.customer.is_none() {
                Vec::new()
            } else {
                by_key
                    .get(&(customer, variant, l.unit_price))
                    .map(|idx| {
                        idx.iter()
                            .copied()
                            .filter(|&k| cands[k].placed <= at && cands[k].remaining > 0)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let available: i64 = open.iter().map(|&k| cands[k].remaining).sum();
            if available >= l.quantity {
                matched_lines += 1;
                let mut left = l.quantity;
                for k in open {
                    let take = left.min(cands[k].remaining);
                    if take == 0 {
                        break;
                    }
                    cands[k].remaining -= take;
                    left -= take;
                    back.push((variant, take, cands[k].order, l.line, inv.file.clone()));
                    matched.push((ci, cands[k].order, cands[k].line, take, take * l.unit_price));
                }
            } else {
                s.rejected.push(unmatched_cancellation(inv, l));
            }
        }
    }
    Matches {
        matched,
        back,
        lines: matched_lines,
    }
}

/// Why a cancellation line no earlier sale covers is refused.
fn unmatched_cancellation(inv: &Invoice, l: &backroom_import::retail::InvoiceLine) -> RowError {
    RowError {
        file: inv.file.clone(),
        ..RowError::new(
            l.line,
            Some("InvoiceNo"),
            format!(
                "no earlier sale to cancel: cancellation {} of {} x {} at {} for {} (a cancellation matches sales of the same customer, product and unit price with units still open)",
                inv.number,
                l.quantity,
                l.stock_code,
                // The Online Retail file's prices are pounds and pence.
                crate::analytics::export::decimal(l.unit_price, 2),
                inv.customer
                    .as_deref()
                    .map_or("a guest".to_string(), |c| format!("customer {c}"))
            ),
        )
    }
}

/// Units back per line: adds the matched units to the sale lines' returned quantity.
fn return_units(tx: &mut dyn Sql, matched: &[(usize, i64, i64, i64, i64)]) -> Result<()> {
    let units: Vec<(i64, i64)> = matched.iter().map(|m| (m.2, m.3)).collect();
    order_history::add_returned_units(tx, &units)
}

/// Inserts one received return per cancellation and order, with its lines; their values.
fn insert_returns(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    todo: &[&Invoice],
    matched: &[(usize, i64, i64, i64, i64)],
    groups: &[(usize, i64)],
    when: &dyn Fn(&Invoice) -> i64,
) -> Result<HashMap<(usize, i64), i64>> {
    let returns: Vec<HistoricalReturn> = groups
        .iter()
        .map(|(ci, order)| {
            let at = when(todo[*ci]);
            HistoricalReturn {
                order_id: *order,
                status: "received".into(),
                note: todo[*ci].number.clone(),
                created_by: ctx.actor.name.clone(),
                created_at: at,
                received_at: Some(at),
            }
        })
        .collect();
    let return_id = crate::returns::history::insert_returns(tx, &returns)?;
    let mut lines: Vec<HistoricalReturnLine> = Vec::new();
    let mut value_of: HashMap<(usize, i64), i64> = HashMap::new();
    for m in matched {
        let rid = return_id
            .get(&(m.1, todo[m.0].number.clone()))
            .copied()
            .unwrap_or(0);
        lines.push(HistoricalReturnLine {
            return_id: rid,
            order_line_id: m.2,
            quantity: m.3,
            reason: "other".into(),
            received_quantity: m.3,
            written_off: m.3,
        });
        *value_of.entry((m.0, m.1)).or_default() += m.4;
    }
    crate::returns::history::insert_lines(tx, &lines)?;
    Ok(value_of)
}

/// Copies in one refund per cancellation and order (up to what is left paid), updating `state`.
fn insert_refunds(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    todo: &[&Invoice],
    groups: &[(usize, i64)],
    value_of: &HashMap<(usize, i64), i64>,
    state: &mut HashMap<i64, OrderMoney>,
    when: &dyn Fn(&Invoice) -> i64,
) -> Result<()> {
    let mut refunds: Vec<HistoricalRefund> = Vec::new();
    for (ci, order) in groups {
        let value = value_of.get(&(*ci, *order)).copied().unwrap_or(0);
        let Some(st) = state.get_mut(order) else {
            continue;
        };
        let refund = value.min(st.paid - st.refunded).max(0);
        st.refunded += refund;
        st.returned_value += value;
        refunds.push(HistoricalRefund {
            order_id: *order,
            amount: refund,
            currency: st.currency.clone(),
            reason: "cancellation".into(),
            note: todo[*ci].number.clone(),
            actor: ctx.actor.name.clone(),
            created_at: when(todo[*ci]),
            settled: refund,
            // Imported history carries no tax or shipping: the refund is all merchandise.
            merchandise: refund,
        });
    }
    order_history::insert_refunds(tx, &refunds)
}

/// Writes what the cancelled orders become: refunded, returned and their statuses.
fn update_refunded_orders(
    tx: &mut dyn Sql,
    now: i64,
    state: &HashMap<i64, OrderMoney>,
) -> Result<()> {
    let orders: Vec<RefundedOrder> = state
        .iter()
        .map(|(id, st)| RefundedOrder {
            id: *id,
            refunded: st.refunded,
            returned_value: st.returned_value,
            payment_status: if st.refunded >= st.paid {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            },
            fulfillment_status: if st.returned_units >= st.units {
                FulfillmentStatus::Returned
            } else {
                FulfillmentStatus::PartiallyReturned
            },
        })
        .collect();
    order_history::set_refunded(tx, now, &orders)
}

/// History that moves stock (only when asked): each unit leaves or comes back through the ledger,
/// and a sale the location cannot cover is refused for that line (the order stays, its stock is
/// not moved), so no `deny` variant goes below zero.
fn move_history_stock(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    location: i64,
    moves: &[StockMove],
    s: &mut Summary,
) -> Result<()> {
    use backroom_domain::order::{InventoryPolicy, LedgerReason};
    let mut sorted: Vec<&StockMove> = moves.iter().collect();
    sorted.sort_by_key(|m| m.0);
    for (variant, units, order, line, file) in sorted {
        inventory::ensure_level(tx, *variant, location, ctx.now)?;
        let (on_hand, reserved, unavailable, _) = inventory::lock_level(tx, *variant, location)?;
        let policy = catalog::variant_policy(tx, *variant)?;
        if *units < 0
            && policy != Some(InventoryPolicy::Continue)
            && on_hand - reserved - unavailable + units < 0
        {
            s.rejected.push(RowError {
                file: file.clone(),
                ..RowError::new(
                    *line,
                    None,
                    format!(
                        "not enough stock to record this sale: {} available, {} sold; the order is imported, its stock not moved",
                        on_hand - reserved - unavailable,
                        -units
                    ),
                )
            });
            continue;
        }
        inventory::apply(
            tx,
            ctx,
            *variant,
            location,
            *units,
            0,
            if *units < 0 {
                LedgerReason::SaleShipped
            } else {
                LedgerReason::ReturnRestock
            },
            inventory::Reference {
                kind: "order",
                id: Some(*order),
            },
            Some("imported history"),
        )?;
        s.count("stock moves", 1);
    }
    Ok(())
}

/// A record an order-history import streams: how many file rows it stands for.
pub trait Streamed: Clone + Send + Sync + 'static {
    fn rows(&self) -> u64;
}

impl Streamed for Invoice {
    fn rows(&self) -> u64 {
        self.lines.len() as u64
    }
}

impl Streamed for backroom_import::orders::OrderRecord {
    fn rows(&self) -> u64 {
        self.lines.len() as u64
    }
}

/// The Online Retail layout: see [`history`].
pub async fn orders(
    db: &Db,
    actor: Actor,
    oc: OrderContext,
    mut next: impl FnMut() -> Option<backroom_import::retail::Item>,
    opts: &Options,
    progress: impl FnMut(u64),
) -> Result<Summary> {
    use backroom_import::retail::Item;
    let next = move || {
        next().map(|i| match i {
            Item::Invoice(v) => Ok(v),
            Item::Rejected(e, _) => Err(e),
        })
    };
    history(db, actor, oc, next, apply_invoices, opts, progress).await
}

/// Shopify's and Backroom's order layouts: see [`history`].
pub async fn order_records(
    db: &Db,
    actor: Actor,
    oc: OrderContext,
    mut next: impl FnMut() -> Option<backroom_import::orders::Item>,
    opts: &Options,
    progress: impl FnMut(u64),
) -> Result<Summary> {
    use backroom_import::orders::Item;
    let next = move || {
        next().map(|i| match i {
            Item::Order(v) => Ok(v),
            Item::Rejected(e) => Err(e),
        })
    };
    history(db, actor, oc, next, apply_order_records, opts, progress).await
}

/// Imports an order history, streaming: invoices come from `next` in batches of `batch`, each
/// written as one unit while the next is read. With `dry_run` or `strict` everything is one unit
/// (held in memory), rolled back for a dry run, or when strict and anything was refused.
pub async fn history<T: Streamed>(
    db: &Db,
    actor: Actor,
    oc: OrderContext,
    mut next: impl FnMut() -> Option<std::result::Result<T, RowError>>,
    apply: fn(&mut dyn Sql, &Ctx, &OrderContext, &[T]) -> Result<Summary>,
    opts: &Options,
    mut progress: impl FnMut(u64),
) -> Result<Summary> {
    actor.require(backroom_domain::roles::Permission::OrdersManage)?;
    let mut total = Summary::default();
    let mut rows = 0u64;
    let one_unit = opts.dry_run || opts.strict;
    const BATCH: usize = 2000;
    const BATCH_ROWS: u64 = 40_000;
    let mut batch: Vec<T> = Vec::with_capacity(BATCH);
    let mut batch_rows = 0u64;
    let mut pending: Option<tokio::task::JoinHandle<Result<Summary>>> = None;
    let merge = |total: &mut Summary, s: Summary| {
        total.created += s.created;
        total.updated += s.updated;
        total.unchanged += s.unchanged;
        total.rejected.extend(s.rejected);
        for (k, v) in s.counts {
            total.count(&k, v);
        }
    };
    loop {
        let item = next();
        let end = item.is_none();
        match item {
            Some(Ok(i)) => {
                rows += i.rows();
                batch_rows += i.rows();
                batch.push(i);
            }
            Some(Err(e)) => {
                rows += 1;
                total.rejected.push(e);
            }
            None => {}
        }
        // A batch is bounded in invoices and in lines, so memory does not depend on the file.
        if (!one_unit && (batch.len() >= BATCH || batch_rows >= BATCH_ROWS))
            || (end && !batch.is_empty())
        {
            if one_unit && !end {
                continue;
            }
            let invoices = Arc::new(std::mem::take(&mut batch));
            batch_rows = 0;
            if let Some(p) = pending.take() {
                let s = p
                    .await
                    .map_err(|e| Error::conflict("import_failed", e.to_string()))??;
                merge(&mut total, s);
            }
            let (db2, a, oc2) = (db.clone(), actor.clone(), oc.clone());
            let keep_all = !one_unit;
            let dry = opts.dry_run;
            let already_rejected = !total.rejected.is_empty();
            let strict = opts.strict;
            pending = Some(tokio::spawn(async move {
                unit(
                    &db2,
                    move |tx| {
                        let s = apply(tx, &ctx_for(&a), &oc2, &invoices)?;
                        if !dry {
                            order_history::bump_order_numbers(tx)?;
                        }
                        Ok(s)
                    },
                    move |s| {
                        keep_all
                            || (!dry && !(strict && (already_rejected || !s.rejected.is_empty())))
                    },
                )
                .await
            }));
            progress(rows);
        }
        if end {
            break;
        }
    }
    if let Some(p) = pending.take() {
        let s = p
            .await
            .map_err(|e| Error::conflict("import_failed", e.to_string()))??;
        merge(&mut total, s);
    }
    progress(rows);
    total.rows = rows;
    total
        .rejected
        .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    if opts.strict && !total.rejected.is_empty() {
        total.created = 0;
        total.counts.clear();
    }
    if !opts.dry_run && (!opts.strict || total.rejected.is_empty()) {
        finish_audit(db, &actor, "orders", &total).await?;
    }
    Ok(total)
}

/// A time as order files write it: RFC 3339, `2024-01-05 10:12:33 -0500`, or a local time in
/// the import's zone.
fn order_time(zone: &jiff::tz::TimeZone, s: &str) -> Option<i64> {
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Some(t.as_microsecond());
    }
    if let Ok(z) = jiff::fmt::strtime::parse("%Y-%m-%d %H:%M:%S %z", s).and_then(|t| t.to_zoned()) {
        return Some(z.timestamp().as_microsecond());
    }
    local_to_micros(zone, s)
}

/// Imports one batch of historical orders in Shopify's or Backroom's layout, keeping their
/// statuses and totals; customers and products first seen are created; orders already there (by
/// number) are left alone. Stock is not touched.
pub fn apply_order_records(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    oc: &OrderContext,
    orders: &[OrderRecord],
) -> Result<Summary> {
    let mut s = Summary::default();
    let good = valid_order_records(oc, orders, &mut s);
    let customers = record_customers(tx, ctx, &good, &mut s)?;
    let channels = record_channels(tx, oc, &good)?;
    let variants = record_products(tx, ctx, &good, &mut s)?;
    let fresh = fresh_records(tx, &good, &mut s)?;
    if fresh.is_empty() {
        return Ok(s);
    }
    let ids = insert_record_orders(tx, ctx, oc, &fresh, &customers, &channels)?;
    let lines = insert_record_lines(tx, &fresh, &ids, &variants)?;
    let new_ids: Vec<i64> = ids.values().copied().collect();
    crate::analytics::rollup::imported(tx, &new_ids)?;
    if let Some(loc) = oc.stock_location {
        let moves = record_stock_moves(&fresh, &ids, &variants);
        move_history_stock(tx, ctx, loc, &moves, &mut s)?;
    }
    s.count("orders", fresh.len() as u64);
    s.count("order lines", lines);
    s.created += fresh.len() as u64;
    Ok(s)
}

/// The orders whose statuses, time, SKUs and email read; the others are refused.
fn valid_order_records<'a>(
    oc: &OrderContext,
    orders: &'a [OrderRecord],
    s: &mut Summary,
) -> Vec<&'a OrderRecord> {
    let mut good = Vec::with_capacity(orders.len());
    for o in orders {
        let bad = |col: &str, m: String| RowError {
            file: o.file.clone(),
            ..RowError::new(o.first_line, Some(col), m)
        };
        if OrderStatus::parse(&o.status).is_none() {
            s.rejected.push(bad(
                "status",
                format!("{:?} is not an order status", o.status),
            ));
        } else if PaymentStatus::parse(&o.payment_status).is_none() {
            s.rejected.push(bad(
                "payment_status",
                format!("{:?} is not a payment status", o.payment_status),
            ));
        } else if FulfillmentStatus::parse(&o.fulfillment_status).is_none() {
            s.rejected.push(bad(
                "fulfillment_status",
                format!("{:?} is not a fulfillment status", o.fulfillment_status),
            ));
        } else if order_time(&oc.zone, &o.placed_at).is_none() {
            s.rejected
                .push(bad("placed_at", format!("{:?} is not a time", o.placed_at)));
        } else if let Some(l) = o
            .lines
            .iter()
            .find(|l| backroom_domain::Sku::parse(&l.sku).is_err())
        {
            s.rejected
                .push(bad("sku", format!("{:?} is not a SKU", l.sku)));
        } else if let Some(e) = o
            .email
            .as_deref()
            .map(backroom_domain::Email::parse)
            .and_then(|r| r.err())
        {
            s.rejected.push(bad("email", e.message));
        } else {
            good.push(o);
        }
    }
    good
}

/// An order's customer key: its email in lower case, or the import's guest.
fn record_email(o: &OrderRecord) -> String {
    o.email
        .clone()
        .unwrap_or_else(|| GUEST_IMPORT.into())
        .trim()
        .to_lowercase()
}

/// Customers by email: the orders' customer ids, creating those first seen.
fn record_customers(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    good: &[&OrderRecord],
    s: &mut Summary,
) -> Result<HashMap<String, i64>> {
    let mut emails: Vec<String> = good.iter().map(|o| record_email(o)).collect();
    emails.sort();
    emails.dedup();
    let mut customers = crate::customers::history::ids_by_email_key(tx, &emails)?;
    // The address as the file writes it; the key in lower case.
    let mut written: HashMap<String, String> = HashMap::new();
    for o in good {
        if let Some(e) = &o.email {
            written
                .entry(record_email(o))
                .or_insert_with(|| e.trim().to_string());
        }
    }
    let new_c: Vec<HistoricalCustomer> = emails
        .iter()
        .filter(|e| !customers.contains_key(*e))
        .map(|e| HistoricalCustomer {
            email: written.get(e).cloned().unwrap_or_else(|| e.clone()),
            email_key: e.clone(),
            first_name: String::new(),
            note: None,
            at: ctx.now,
            guest: e == GUEST_IMPORT,
        })
        .collect();
    let new_guest = emails
        .iter()
        .any(|e| e == GUEST_IMPORT && !customers.contains_key(e));
    s.count("customers", (new_c.len() - usize::from(new_guest)) as u64);
    customers.extend(crate::customers::history::insert_unnamed_customers(
        tx, &new_c,
    )?);
    Ok(customers)
}

/// Channels by code: the orders' channel ids, the import's channel for a code not found.
fn record_channels(
    tx: &mut dyn Sql,
    oc: &OrderContext,
    good: &[&OrderRecord],
) -> Result<HashMap<String, i64>> {
    let mut channels: HashMap<String, i64> = HashMap::new();
    for o in good {
        if let Some(c) = &o.channel
            && !channels.contains_key(c)
        {
            let id = catalog::channel_id(tx, c)?.unwrap_or(oc.channel_id);
            channels.insert(c.clone(), id);
        }
    }
    Ok(channels)
}

/// Products by SKU: the orders' variant ids, creating the products first seen.
fn record_products(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    good: &[&OrderRecord],
    s: &mut Summary,
) -> Result<HashMap<String, i64>> {
    let mut skus: Vec<(&str, &str, i64)> = Vec::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for o in good {
        for l in &o.lines {
            if seen.insert(&l.sku) {
                skus.push((&l.sku, &l.title, l.unit_price));
            }
        }
    }
    let list: Vec<&str> = skus.iter().map(|(k, ..)| *k).collect();
    let mut variants = catalog::variant_ids_by_sku(tx, &list)?;
    let missing: Vec<&(&str, &str, i64)> = skus
        .iter()
        .filter(|(k, ..)| !variants.contains_key(*k))
        .collect();
    if missing.is_empty() {
        return Ok(variants);
    }
    let new: Vec<FirstSeenProduct> = missing
        .iter()
        .map(|(k, t, p)| {
            let title = (if t.is_empty() { *k } else { *t }).to_string();
            first_seen(code_handle(k), title, k.to_string(), *p, ctx.now)
        })
        .collect();
    insert_first_seen(tx, &new, &mut variants, s)?;
    Ok(variants)
}

/// Orders not already there (nor twice in the batch); the others count as unchanged.
fn fresh_records<'a>(
    tx: &mut dyn Sql,
    good: &[&'a OrderRecord],
    s: &mut Summary,
) -> Result<Vec<&'a OrderRecord>> {
    let numbers: Vec<i64> = good.iter().map(|o| o.number).collect();
    let existing = order_history::existing_numbers(tx, &numbers)?;
    let mut fresh: Vec<&OrderRecord> = Vec::new();
    let mut taken: HashSet<i64> = HashSet::new();
    for &o in good {
        if existing.contains(&o.number) || !taken.insert(o.number) {
            s.unchanged += 1;
        } else {
            fresh.push(o);
        }
    }
    Ok(fresh)
}

/// Inserts the new orders with their statuses and totals; their ids by number.
fn insert_record_orders(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    oc: &OrderContext,
    fresh: &[&OrderRecord],
    customers: &HashMap<String, i64>,
    channels: &HashMap<String, i64>,
) -> Result<HashMap<i64, i64>> {
    let address = json!({"name": "-", "line1": "-", "city": "-", "postal_code": "-", "country": "ZZ", "line2": null, "region": null, "phone": null, "latitude": null, "longitude": null}).to_string();
    let orders: Vec<HistoricalOrder> = fresh
        .iter()
        .map(|o| {
            let channel = o
                .channel
                .as_ref()
                .and_then(|c| channels.get(c).copied())
                .unwrap_or(oc.channel_id);
            // Every status reads: valid_order_records let no other order through.
            let (Some(status), Some(payment_status), Some(fulfillment_status)) = (
                OrderStatus::parse(&o.status),
                PaymentStatus::parse(&o.payment_status),
                FulfillmentStatus::parse(&o.fulfillment_status),
            ) else {
                return Err(Error::invalid(
                    "status",
                    format!("order {} has a status that does not read", o.number),
                ));
            };
            Ok(HistoricalOrder {
                number: o.number,
                channel_id: channel,
                customer_id: customers.get(&record_email(o)).copied().unwrap_or(0),
                currency: o.currency.clone().unwrap_or_else(|| oc.currency.clone()),
                status,
                payment_status,
                fulfillment_status,
                subtotal: o.subtotal,
                discounts: 0,
                shipping: o.shipping,
                tax: o.tax,
                total: o.total,
                paid: o.paid,
                refunded: o.refunded,
                shipping_method: "imported".into(),
                shipping_address: address.clone(),
                sourcing_strategy: "imported".into(),
                sourcing_reason: "imported order history".into(),
                placed_at: order_time(&oc.zone, &o.placed_at).unwrap_or(ctx.now),
                created_by: ctx.actor.user_id,
                ship_country: "ZZ".into(),
            })
        })
        .collect::<Result<_>>()?;
    order_history::insert_orders(tx, &orders)
}

/// Copies in the new orders' lines, with what they had returned; how many.
fn insert_record_lines(
    tx: &mut dyn Sql,
    fresh: &[&OrderRecord],
    ids: &HashMap<i64, i64>,
    variants: &HashMap<String, i64>,
) -> Result<u64> {
    let mut lines: Vec<HistoricalLine> = Vec::new();
    for o in fresh {
        let oid = ids.get(&o.number).copied().unwrap_or(0);
        for (n, l) in o.lines.iter().enumerate() {
            lines.push(HistoricalLine {
                order_id: oid,
                line_no: n as i64 + 1,
                variant_id: variants.get(&l.sku).copied().unwrap_or(0),
                sku: l.sku.clone(),
                title: if l.title.is_empty() {
                    l.sku.clone()
                } else {
                    l.title.clone()
                },
                quantity: l.quantity,
                unit_price: l.unit_price,
                discount: 0,
                tax: l.tax,
                returned_quantity: l.returned_quantity,
            });
        }
    }
    order_history::insert_lines(tx, &lines)?;
    Ok(lines.len() as u64)
}

/// The stock the new orders moved: units out for those shipped, back for those returned.
fn record_stock_moves(
    fresh: &[&OrderRecord],
    ids: &HashMap<i64, i64>,
    variants: &HashMap<String, i64>,
) -> Vec<StockMove> {
    let mut moves: Vec<StockMove> = Vec::new();
    for o in fresh {
        if !matches!(
            o.fulfillment_status.as_str(),
            "fulfilled" | "returned" | "partially_returned" | "picked_up"
        ) {
            continue;
        }
        let oid = ids.get(&o.number).copied().unwrap_or(0);
        for l in &o.lines {
            let v = variants.get(&l.sku).copied().unwrap_or(0);
            moves.push((v, -l.quantity, oid, l.line, o.file.clone()));
            if l.returned_quantity > 0 {
                moves.push((v, l.returned_quantity, oid, l.line, o.file.clone()));
            }
        }
    }
    moves
}
