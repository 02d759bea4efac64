//! Orders: placement (pricing, sourcing, reservation, all or nothing), idempotency,
//! cancellation, payments, and the order timeline.

pub mod edits;

use crate::api::{self, Order, OrderEvent, Page, PlaceOrder};
use crate::audit;
use crate::db::{Dialect, Row, Sql};
use crate::inventory::{Hold, ensure_level, release_order, reserve};
use crate::util::page;
use crate::util::{
    Filter, decode_cursor, encode_cursor, from_json, opt_rfc3339, page_limit, parse_time, rfc3339,
    sha256_hex, to_json,
};
use crate::{Ctx, DbError, Error, Result, params, settings};
use backroom_domain::balance;
use backroom_domain::order::{
    self as states, FulfillmentStatus, InventoryPolicy, OrderStatus, PaymentStatus, ProductStatus,
};
use backroom_domain::pricing::{PriceLine, ShippingRule, price_order, shipping_charge};
use backroom_domain::roles::Permission;
use backroom_domain::sourcing::{Candidate, Demand, Place, SourcingError, Strategy, source};
use backroom_domain::values::{optional_text, required_text};
use backroom_domain::{Email, Quantity, Sku};
use serde_json::json;
use std::collections::HashMap;

/// The result of placing an order: the order, and whether it was created now or replayed from an
/// earlier request with the same idempotency key.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

pub(crate) fn money(amount: i64, currency: &str) -> api::Money {
    api::Money {
        amount,
        currency: currency.to_string(),
    }
}

fn check_address(a: &api::Address) -> Result<api::Address> {
    check_address_at(a, "shipping_address")
}

/// Validates an address, naming its fields under `at` (`shipping_address`, `addresses[0]`).
pub(crate) fn check_address_at(a: &api::Address, at: &str) -> Result<api::Address> {
    let f = |e: backroom_domain::Invalid| Error::Invalid(e.under(at));
    let country = a.country.trim().to_uppercase();
    if a.latitude.is_some() != a.longitude.is_some() {
        return Err(Error::invalid(
            format!("{at}.latitude"),
            "give both latitude and longitude, or neither",
        ));
    }
    if a.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v))
        || a.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v))
    {
        return Err(Error::invalid(
            format!("{at}.latitude"),
            "latitude must be within ±90 and longitude within ±180",
        ));
    }
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(Error::invalid(
            format!("{at}.country"),
            "must be a two-letter ISO 3166 country code, like FR",
        ));
    }
    Ok(api::Address {
        name: required_text("name", &a.name, 255).map_err(f)?,
        line1: required_text("line1", &a.line1, 255).map_err(f)?,
        line2: optional_text("line2", a.line2.as_deref(), 255).map_err(f)?,
        city: required_text("city", &a.city, 255).map_err(f)?,
        region: optional_text("region", a.region.as_deref(), 255).map_err(f)?,
        postal_code: required_text("postal_code", &a.postal_code, 32).map_err(f)?,
        country,
        phone: optional_text("phone", a.phone.as_deref(), 64).map_err(f)?,
        latitude: a.latitude,
        longitude: a.longitude,
    })
}

pub(crate) struct LineIn {
    pub variant_id: i64,
    pub sku: Sku,
    pub title: String,
    pub quantity: i64,
    pub unit_price: i64,
    pub policy: InventoryPolicy,
    /// The variant's unit cost when the line is sold: what its cost of goods stays.
    pub unit_cost: Option<i64>,
}

/// Parses `(sku, quantity)` inputs under `field` (e.g. `lines`): the SKU and quantity rules.
pub(crate) fn parse_lines(field: &str, lines: &[api::SkuQuantity]) -> Result<Vec<(Sku, i64)>> {
    let mut parsed = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let sku = Sku::parse(&l.sku).map_err(|e| e.under(&format!("{field}[{i}]")))?;
        let q = Quantity::parse(l.quantity).map_err(|e| e.under(&format!("{field}[{i}]")))?;
        parsed.push((sku, q.get()));
    }
    Ok(parsed)
}

/// Looks up the variants of parsed lines, in one query, at today's prices; refuses SKUs that do
/// not exist or whose product is not active.
pub(crate) fn lookup_lines(
    tx: &mut dyn Sql,
    parsed: Vec<(Sku, i64)>,
    field: &str,
) -> Result<Vec<LineIn>> {
    if parsed.is_empty() {
        return Ok(Vec::new());
    }
    let sku_vals: Vec<crate::Val> = parsed.iter().map(|(s, _)| s.as_str().into()).collect();
    let found = tx.query(&lookup_sql(parsed.len()), &sku_vals)?;
    lines_from(&found, parsed, field)
}

/// The query behind [`lookup_lines`], for `n` SKUs bound as `$1..$n`.
fn lookup_sql(n: usize) -> String {
    format!(
        "SELECT v.sku, v.id, v.price_minor, v.inventory_policy, p.title, v.title, p.status, v.cost_minor FROM variants v JOIN products p ON p.id = v.product_id WHERE v.sku IN ({})",
        crate::db::placeholders(1, n)
    )
}

/// Matches parsed lines with the variant rows [`lookup_sql`] found.
fn lines_from(found: &[Row], parsed: Vec<(Sku, i64)>, field: &str) -> Result<Vec<LineIn>> {
    let mut lines = Vec::with_capacity(parsed.len());
    for (i, (sku, q)) in parsed.into_iter().enumerate() {
        let r = found
            .iter()
            .find(|r| r.string(0) == sku.as_str())
            .ok_or_else(|| {
                Error::invalid(
                    format!("{field}[{i}].sku"),
                    format!("no variant has SKU {sku}"),
                )
            })?;
        if ProductStatus::parse(&r.string(6)) != Some(ProductStatus::Active) {
            return Err(Error::Conflict {
                code: "not_for_sale",
                message: format!(
                    "{sku} belongs to a product that is {}, not active",
                    r.string(6)
                ),
                field: Some(format!("{field}[{i}].sku")),
            });
        }
        let vt = r.string(5);
        let title = if vt == "Default" {
            r.string(4)
        } else {
            format!("{} - {vt}", r.string(4))
        };
        lines.push(LineIn {
            variant_id: r.i64(1),
            sku,
            title,
            quantity: q,
            unit_price: r.i64(2),
            policy: InventoryPolicy::parse(&r.string(3)).unwrap_or(InventoryPolicy::Deny),
            unit_cost: r.opt_i64(7),
        });
    }
    Ok(lines)
}

/// How many orders the store has (any status): the settings that can no longer change once it has
/// some ask.
pub fn count(tx: &mut dyn Sql) -> Result<i64> {
    Ok(tx
        .query_one("SELECT COUNT(*) FROM orders", &[])?
        .map_or(0, |r| r.i64(0)))
}

/// Settings, the shipping rate (`$1`) and the channel (`$2`, by code) with its active locations,
/// in one query: each round trip costs more than the rows it brings.
const PLACE_CONTEXT_SQL: &str = "SELECT 'setting', key, value, CAST(NULL AS TEXT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT), \
       CAST(NULL AS TEXT), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS DOUBLE PRECISION), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS BIGINT) FROM settings \
     UNION ALL SELECT 'shipping', code, CAST(price_minor AS TEXT), countries, free_above_minor, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM shipping_rates WHERE code = $1 \
     UNION ALL SELECT 'channel', CAST(ch.id AS TEXT), CASE WHEN ch.active THEN 'active' ELSE 'inactive' END, loc.name, loc.id, loc.priority, \
       ch.sourcing_strategy, loc.latitude, loc.longitude, loc.postal_code, loc.country, ch.handling_hours FROM channels ch \
       LEFT JOIN channel_locations cl ON cl.channel_id = ch.id LEFT JOIN locations loc ON loc.id = cl.location_id AND loc.active = TRUE \
       WHERE ch.code = $2";

/// Claims an idempotency key, drawing the order's id at the same time (an id, unlike a number,
/// may be skipped), so the key names its order from the start and needs no second write. Returns
/// the id, or no row when the key was already claimed. `$id` draws the id.
macro_rules! claim_sql {
    ($id:literal) => {
        concat!(
            "INSERT INTO idempotency_keys (principal_id, key, fingerprint, order_id, created_at) VALUES ($1, $2, $3, ",
            $id,
            ", $4) ON CONFLICT (principal_id, key) DO NOTHING RETURNING order_id"
        )
    };
}
const CLAIM_PG_SQL: &str = claim_sql!("nextval('orders_id_seq')");
/// SQLite's single writer makes the next id one past the largest.
const CLAIM_SQLITE_SQL: &str = claim_sql!("(SELECT COALESCE(MAX(id), 0) + 1 FROM orders)");

/// The query that locks every stock level an order could draw on: the levels of `n` variants
/// (`$2..`, matched on `variant`: `v.id` or `v.sku`) at the locations of one channel (`$1`,
/// matched on `channel`: `ch.id` or `ch.code`), with the channel's safety buffer, in (variant,
/// location) order, the global lock order every writer uses (PostgreSQL takes row locks after the
/// sort). Each row: (variant, location, on_hand, reserved, unavailable, channel buffer, reorder
/// point). By SKU and channel code it needs no earlier answer, so placement sends it in one batch
/// with the queries that find the variants and the channel.
fn lock_levels_sql(dialect: Dialect, variant: &str, channel: &str, n: usize) -> String {
    format!(
        "SELECT l.variant_id, l.location_id, l.on_hand, l.reserved, l.unavailable, \
         (SELECT b.quantity FROM channel_buffers b WHERE b.channel_id = ch.id AND b.variant_id = l.variant_id), l.reorder_point \
         FROM inventory_levels l JOIN variants v ON v.id = l.variant_id \
         JOIN channel_locations cl ON cl.location_id = l.location_id JOIN channels ch ON ch.id = cl.channel_id \
         WHERE {channel} = $1 AND {variant} IN ({}) ORDER BY l.variant_id, l.location_id{}",
        crate::db::placeholders(2, n),
        match dialect {
            Dialect::Postgres => " FOR UPDATE OF l",
            Dialect::Sqlite => "",
        }
    )
}

/// Whether locked level rows cover every (variant, location) pair.
fn levels_complete(rows: &[Row], variant_ids: &[i64], locations: &[i64]) -> bool {
    variant_ids.iter().all(|v| {
        locations
            .iter()
            .all(|l| rows.iter().any(|r| r.i64(0) == *v && r.i64(1) == *l))
    })
}

/// Places an order: validates, prices on the server, sources every line and reserves all or none.
///
/// With an idempotency key, a repeated request (same principal, same key) returns the order the
/// first one created; a different body under a used key is refused.
pub fn place(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    input: &PlaceOrder,
    idempotency_key: Option<&str>,
) -> Result<Placed> {
    ctx.actor.require(Permission::OrdersPlace)?;
    // 1. Validate everything that needs no database.
    if input.lines.is_empty() {
        return Err(Error::invalid("lines", "an order needs at least one line"));
    }
    if input.lines.len() > 250 {
        return Err(Error::invalid(
            "lines",
            "an order may have at most 250 lines",
        ));
    }
    let email = Email::parse(&input.customer.email).map_err(|e| e.under("customer"))?;
    let first_name = optional_text(
        "customer.first_name",
        input.customer.first_name.as_deref(),
        255,
    )?;
    let last_name = optional_text(
        "customer.last_name",
        input.customer.last_name.as_deref(),
        255,
    )?;
    let phone = optional_text("customer.phone", input.customer.phone.as_deref(), 64)?;
    let address = check_address(&input.shipping_address)?;
    let note = optional_text("note", input.note.as_deref(), 5000)?;
    let mut shipping_method = input
        .shipping_method
        .clone()
        .unwrap_or_else(|| "standard".into());
    let parsed = parse_lines("lines", &input.lines)?;

    // 2. One round trip brings everything the decision needs, in this order: the idempotency
    // claim (before touching stock: a concurrent request with the same key waits on the key's
    // row on PostgreSQL, or on the single writer on SQLite, then finds it); settings, the
    // shipping rate and the channel with its locations; the lines' variants at today's prices;
    // the stock levels they could draw on, locked in one global order (variant, then location) so
    // concurrent orders cannot deadlock; and the customer by email. PostgreSQL gets them as one
    // pipeline: on a small machine each round trip costs more than the rows it brings.
    let claim = match idempotency_key {
        Some(key) => {
            if key.is_empty() || key.len() > 255 {
                return Err(Error::invalid(
                    "Idempotency-Key",
                    "must be 1 to 255 characters",
                ));
            }
            let lines_key: Vec<(&str, i64)> =
                parsed.iter().map(|(s, q)| (s.as_str(), *q)).collect();
            let fingerprint = sha256_hex(
                &serde_json::to_string(&(
                    input.channel.as_str(),
                    &lines_key,
                    email.key(),
                    &address,
                    &shipping_method,
                    &note,
                ))
                .unwrap_or_default(),
            );
            Some((key, fingerprint))
        }
        None => None,
    };
    let sku_vals: Vec<crate::Val> = parsed.iter().map(|(s, _)| s.as_str().into()).collect();
    let lookup_sql = lookup_sql(parsed.len());
    let lock_sql = lock_levels_sql(tx.dialect(), "v.sku", "ch.code", parsed.len());
    let mut lock_params: Vec<crate::Val> = vec![input.channel.as_str().into()];
    lock_params.extend(sku_vals.iter().cloned());
    let claim_params: Vec<crate::Val> = match &claim {
        Some((key, fingerprint)) => {
            params![ctx.actor.user_id, *key, fingerprint.as_str(), ctx.now].to_vec()
        }
        None => Vec::new(),
    };
    let ctx_params = params![shipping_method.as_str(), input.channel.as_str()].to_vec();
    let customer_params = params![email.key()].to_vec();
    let mut batch: Vec<(&str, &[crate::Val])> = Vec::with_capacity(5);
    if claim.is_some() {
        let claim_sql = match tx.dialect() {
            Dialect::Postgres => CLAIM_PG_SQL,
            Dialect::Sqlite => CLAIM_SQLITE_SQL,
        };
        batch.push((claim_sql, &claim_params));
    }
    batch.push((PLACE_CONTEXT_SQL, &ctx_params));
    batch.push((&lookup_sql, &sku_vals));
    batch.push((&lock_sql, &lock_params));
    batch.push((crate::customers::FIND_CUSTOMER_SQL, &customer_params));
    let mut results = tx.query_batch(&batch)?.into_iter();
    let mut next = || results.next().unwrap_or_default();
    let claimed_id = if claim.is_some() {
        next().first().and_then(|r| r.opt_i64(0))
    } else {
        None
    };
    if let Some((key, fingerprint)) = &claim
        && claimed_id.is_none()
    {
        let r = tx
                .query_one("SELECT fingerprint, order_id FROM idempotency_keys WHERE principal_id = $1 AND key = $2", params![ctx.actor.user_id, *key])?
                .ok_or_else(|| Error::Db(DbError::Retry("idempotency key vanished".into())))?;
        if r.string(0) != *fingerprint {
            return Err(Error::Conflict {
                code: "idempotency_key_reused",
                message: "this Idempotency-Key was used for a different order".into(),
                field: Some("Idempotency-Key".into()),
            });
        }
        let order_id = r.opt_i64(1).ok_or_else(|| {
            Error::conflict(
                "idempotency_key_in_use",
                "an order with this Idempotency-Key is still being placed",
            )
        })?;
        return Ok(Placed {
            order: get(tx, order_id)?,
            replayed: true,
        });
    }
    let (ctx_rows, found, mut rows, existing) = (next(), next(), next(), next());

    let settings = settings::from_pairs(
        ctx_rows
            .iter()
            .filter(|r| r.string(0) == "setting")
            .map(|r| (r.string(1), r.string(2))),
    )?;
    let currency = settings.currency.as_str().to_string();
    let rate_row = ctx_rows
        .iter()
        .find(|r| r.string(0) == "shipping")
        .ok_or_else(|| {
            Error::invalid(
                "shipping_method",
                format!("unknown shipping method {shipping_method}"),
            )
        })?;
    let shipping_price: i64 = rate_row.string(2).parse().unwrap_or(0);
    let ships_to: Vec<String> = crate::util::from_json(&rate_row.string(3));
    let free_above = rate_row.opt_i64(4);
    let mut ch_rows: Vec<&crate::Row> = ctx_rows
        .iter()
        .filter(|r| r.string(0) == "channel")
        .collect();
    ch_rows.sort_by_key(|r| r.opt_i64(4));
    let ch = ch_rows.first().ok_or_else(|| {
        Error::invalid("channel", format!("no channel has code {}", input.channel))
    })?;
    let channel_id: i64 = ch.string(1).parse().unwrap_or(0);
    if ch.string(2) != "active" {
        return Err(Error::Conflict {
            code: "channel_inactive",
            message: format!("channel {} is inactive", input.channel),
            field: Some("channel".into()),
        });
    }
    let mut candidates: Vec<Candidate> = Vec::with_capacity(ch_rows.len());
    for r in ch_rows.iter().filter(|r| r.opt_i64(4).is_some()) {
        candidates.push(Candidate {
            location_id: r.i64(4),
            name: r.string(3),
            priority: r.i64(5),
            place: Place {
                latitude: r.f64(7),
                longitude: r.f64(8),
                postal_code: r.opt_string(9),
                country: r.opt_string(10),
            },
            available: HashMap::new(),
        });
    }
    // Click and collect: every line is reserved at the pickup location, which must offer pickup
    // and sell for this channel.
    let pickup_location = match (shipping_method.as_str(), input.pickup_location_id) {
        ("pickup", Some(loc)) => {
            if !candidates.iter().any(|c| c.location_id == loc) {
                return Err(Error::invalid(
                    "pickup_location_id",
                    format!("location {loc} does not sell for channel {}", input.channel),
                ));
            }
            let offers = tx
                .query_one(
                    "SELECT offers_pickup FROM locations WHERE id = $1",
                    params![loc],
                )?
                .is_some_and(|r| r.bool(0));
            if !offers {
                return Err(Error::invalid(
                    "pickup_location_id",
                    format!("location {loc} does not offer pickup"),
                ));
            }
            candidates.retain(|c| c.location_id == loc);
            Some(loc)
        }
        ("pickup", None) => {
            return Err(Error::invalid(
                "pickup_location_id",
                "a pickup order names the location the customer collects from",
            ));
        }
        (_, Some(_)) => {
            return Err(Error::invalid(
                "pickup_location_id",
                "only a pickup order names a pickup location",
            ));
        }
        _ => None,
    };
    // Endless aisle: a boutique sells what it may not hold; the order records where the sale
    // was made while sourcing picks the location that ships it.
    if let Some(loc) = input.origin_location_id {
        let sells = tx
            .query_one(
                "SELECT sells_in_store FROM locations WHERE id = $1 AND active = TRUE",
                params![loc],
            )?
            .ok_or_else(|| {
                Error::invalid(
                    "origin_location_id",
                    format!("no active location has id {loc}"),
                )
            })?
            .bool(0);
        if !sells {
            return Err(Error::invalid(
                "origin_location_id",
                format!("location {loc} does not sell in store"),
            ));
        }
    }
    let strategy = Strategy::parse(&ch.string(6)).unwrap_or(Strategy::FewestShipments);
    let ship_by = ctx.now + ch.i64(11) * 3_600_000_000;
    let destination = Place {
        latitude: address.latitude,
        longitude: address.longitude,
        postal_code: Some(address.postal_code.clone()),
        country: Some(address.country.clone()),
    };
    let lines = lines_from(&found, parsed, "lines")?;
    let price_lines: Vec<PriceLine> = lines
        .iter()
        .map(|l| PriceLine {
            unit_price: l.unit_price,
            quantity: l.quantity,
            discount: 0,
        })
        .collect();

    // 3. Source from the locked levels. A level row that does not exist yet (a SKU never
    // stocked at a location) is created and the levels are locked again.
    let mut variant_ids: Vec<i64> = lines.iter().map(|l| l.variant_id).collect();
    variant_ids.sort_unstable();
    variant_ids.dedup();
    let location_ids: Vec<i64> = candidates.iter().map(|c| c.location_id).collect();
    if !levels_complete(&rows, &variant_ids, &location_ids) {
        rows = lock_channel_levels(tx, ctx.now, channel_id, &variant_ids, &location_ids)?;
    }
    fill_available(&mut candidates, &rows, &variant_ids);
    // A boutique sale: when the boutique that made it holds every unit and the staff did not ask
    // for a shipping method, the customer takes the goods there. It is sourced from the
    // boutique, with nothing to ship and no shipping charge.
    let in_store = input
        .origin_location_id
        .filter(|_| input.shipping_method.is_none())
        .and_then(|loc| {
            let c = candidates.iter().find(|c| c.location_id == loc)?;
            let mut wanted: HashMap<i64, i64> = HashMap::new();
            for l in &lines {
                *wanted.entry(l.variant_id).or_default() += l.quantity;
            }
            wanted
                .iter()
                .all(|(v, q)| c.available.get(v).copied().unwrap_or(0) >= *q)
                .then(|| (loc, c.name.clone()))
        });
    if let Some((loc, _)) = &in_store {
        candidates.retain(|c| c.location_id == *loc);
        shipping_method = IN_STORE.into();
    }
    let shipping = if in_store.is_some() {
        0
    } else {
        shipping_charge(
            ShippingRule {
                method: &shipping_method,
                price: shipping_price,
                countries: &ships_to,
                free_above,
            },
            &address.country,
            &price_lines,
        )?
    };
    let tax_policy = settings.tax_for(&address.country, address.region.as_deref());
    let totals = price_order(&price_lines, shipping, tax_policy)?;
    let demands: Vec<Demand> = lines
        .iter()
        .map(|l| Demand {
            variant_id: l.variant_id,
            sku: l.sku.to_string(),
            quantity: l.quantity,
            allow_backorder: l.policy == InventoryPolicy::Continue,
        })
        .collect();
    let mut decision = source(strategy, &demands, &candidates, &destination)
        .map_err(|e| sourcing_error(e, &input.channel, |i| format!("lines[{i}].quantity")))?;
    if let Some((_, name)) = &in_store {
        decision.reason =
            format!("boutique sale: taken by the customer at {name}, which holds every unit");
    }

    // 4. The order's number and the ids of the rows about to be written, in one statement, so
    // that every write below is queued and reaches PostgreSQL with the commit. Numbers are drawn
    // only now, so a refused order leaves no gap.
    let existing = existing.first();
    let ids = crate::db::next_ids(
        tx,
        &[
            ("order_numbers", 1),
            ("orders", usize::from(claimed_id.is_none())),
            ("order_lines", lines.len()),
            ("customers", usize::from(existing.is_none())),
        ],
    )?;
    let (Some(&number), Some(order_id)) = (ids[0].first(), claimed_id.or(ids[1].first().copied()))
    else {
        return Err(Error::Db(DbError::Other(
            "no order number or id was drawn".into(),
        )));
    };
    let line_ids = &ids[2];
    if line_ids.len() != lines.len() {
        return Err(Error::Db(DbError::Other(
            "too few line ids were drawn".into(),
        )));
    }

    // 5. The customer, created or updated by email.
    let customer = crate::customers::save_customer(
        tx,
        ctx,
        existing,
        ids[3].first().copied(),
        &email,
        &crate::customers::CustomerInput {
            first: first_name.as_deref(),
            last: last_name.as_deref(),
            phone: phone.as_deref(),
            accepts_marketing: input.customer.accepts_marketing,
            channel: &input.channel,
            address: (pickup_location.is_none()).then_some(&address),
        },
    )?;

    // 6. Write the order, its lines and reservations.
    tx.exec_deferred(
        "INSERT INTO orders (id, number, channel_id, customer_id, currency, status, payment_status, fulfillment_status, subtotal_minor, discounts_minor, shipping_minor, tax_minor, total_minor, paid_minor, shipping_method, shipping_address, note, sourcing_strategy, sourcing_reason, placed_at, updated_at, created_by, ship_by, pickup_location_id, origin_location_id, tax_rate_ppm, shipping_taxed, tax_included, included_tax_minor, ship_country) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16, $17, $18, $19, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)",
        params![
            order_id,
            number,
            channel_id,
            customer.id,
            currency.as_str(),
            OrderStatus::Open.as_str(),
            PaymentStatus::Pending.as_str(),
            FulfillmentStatus::Unfulfilled.as_str(),
            totals.subtotal,
            totals.discounts,
            totals.shipping,
            totals.tax,
            totals.total,
            shipping_method.as_str(),
            to_json(&address),
            note.clone(),
            decision.strategy,
            decision.reason.as_str(),
            ctx.now,
            ctx.actor.user_id,
            ship_by,
            pickup_location,
            input.origin_location_id,
            i64::from(tax_policy.rate_ppm),
            i64::from(tax_policy.shipping_taxed),
            i64::from(tax_policy.included),
            totals.included_tax(),
            address.country.trim().to_ascii_uppercase()
        ],
    )?;
    let m = |amount: i64| money(amount, &currency);
    // All lines in one statement, all reservations in two.
    let mut vals: Vec<crate::Val> = Vec::with_capacity(lines.len() * 10);
    let mut rows_sql = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let n = vals.len();
        rows_sql.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 0, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 8,
            n + 9,
            n + 10
        ));
        let tax = totals.line_tax.get(i).copied().unwrap_or(0);
        vals.extend([
            line_ids[i].into(),
            order_id.into(),
            (i as i64 + 1).into(),
            l.variant_id.into(),
            l.sku.as_str().into(),
            l.title.as_str().into(),
            l.quantity.into(),
            l.unit_price.into(),
            tax.into(),
            l.unit_cost.into(),
        ]);
    }
    tx.exec_deferred(
        &format!(
            "INSERT INTO order_lines (id, order_id, line_no, variant_id, sku, title, quantity, unit_price_minor, discount_minor, tax_minor, unit_cost_minor) VALUES {}",
            rows_sql.join(", ")
        ),
        &vals,
    )?;
    let mut out_lines = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let tax = totals.line_tax.get(i).copied().unwrap_or(0);
        out_lines.push(api::OrderLine {
            id: line_ids[i],
            line_no: i as i64 + 1,
            variant_id: l.variant_id,
            sku: l.sku.to_string(),
            title: l.title.clone(),
            quantity: l.quantity,
            unit_price: m(l.unit_price),
            discount: m(0),
            tax: m(tax),
            returned_quantity: 0,
            refunded_quantity: 0,
            exchange_return_id: None,
            allocations: Vec::new(),
        });
    }
    let mut holds = Vec::with_capacity(decision.allocations.len());
    for a in &decision.allocations {
        let l = &lines[a.line_index];
        holds.push(Hold {
            variant_id: l.variant_id,
            location_id: a.location_id,
            order_line_id: out_lines[a.line_index].id,
            quantity: a.quantity,
            backordered: a.backordered,
        });
        out_lines[a.line_index].allocations.push(api::Allocation {
            location_id: a.location_id,
            quantity: a.quantity,
            backordered: a.backordered,
            live: true,
        });
    }
    reserve(tx, ctx.now, order_id, &holds)?;
    // Reorder points: only levels that have one pay for the check.
    let watched: Vec<(i64, i64)> = holds
        .iter()
        .map(|h| (h.variant_id, h.location_id))
        .filter(|(v, l)| {
            rows.iter()
                .any(|r| r.i64(0) == *v && r.i64(1) == *l && r.opt_i64(6).is_some())
        })
        .collect();
    crate::inventory::note_low(tx, ctx, &watched)?;
    let placed_msg = format!(
        "Order #{number} placed on {} for {}",
        input.channel,
        backroom_domain::Money::new(totals.total, settings.currency)
    );
    let changes = json!({"number": number, "total": totals.total, "lines": lines.len()});
    tx.exec_deferred(
        "INSERT INTO order_events (order_id, kind, message, actor, created_at) VALUES ($1, 'placed', $2, $3, $4), ($1, 'sourced', $5, $3, $4)",
        params![order_id, placed_msg, ctx.actor.name.as_str(), ctx.now, decision.reason.as_str()],
    )?;
    crate::analytics::rollup::mark_dirty(tx, order_id)?;
    audit::record(tx, ctx, "order.placed", "order", order_id, changes)?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.created",
        json!({"order_id": order_id, "number": number, "total": totals.total, "currency": currency}),
    )?;
    // The view is built from what was just written rather than read back; a contract test checks
    // that it equals what `get` returns.
    let at = rfc3339(ctx.now);
    let order = Order {
        id: order_id,
        number,
        name: format!("#{number}"),
        channel_id,
        customer: api::OrderCustomer {
            id: customer.id,
            email: customer.email,
            name: format!("{} {}", customer.first_name, customer.last_name)
                .trim()
                .to_string(),
        },
        currency: currency.clone(),
        status: OrderStatus::Open.as_str().into(),
        payment_status: PaymentStatus::Pending.as_str().into(),
        fulfillment_status: FulfillmentStatus::Unfulfilled.as_str().into(),
        subtotal: m(totals.subtotal),
        discounts: m(totals.discounts),
        shipping: m(totals.shipping),
        tax: m(totals.tax),
        prices_include_tax: totals.included,
        total: m(totals.total),
        paid: m(0),
        refunded: m(0),
        owed: m(totals.total),
        balance: m(-totals.total),
        shipping_method,
        shipping_address: address,
        note,
        lines: out_lines,
        sourcing: api::Sourcing {
            strategy: decision.strategy.into(),
            reason: decision.reason,
        },
        placed_at: at.clone(),
        updated_at: at,
        cancelled_at: None,
        cancel_reason: None,
        fulfillments: Vec::new(),
        hold: None,
        ship_by: Some(rfc3339(ship_by)),
        pickup: pickup_location.map(|location_id| api::Pickup {
            location_id,
            deadline: None,
            picked_up_at: None,
            picked_up_by: None,
        }),
        origin_location_id: input.origin_location_id,
    };
    Ok(Placed {
        order,
        replayed: false,
    })
}

/// Locks every stock level of these variants at the channel's locations ([`lock_levels_sql`]);
/// if a level row does not exist yet, creates the missing ones and locks again.
pub(crate) fn lock_channel_levels(
    tx: &mut dyn Sql,
    now: i64,
    channel_id: i64,
    variant_ids: &[i64],
    locations: &[i64],
) -> Result<Vec<Row>> {
    let lock_sql = lock_levels_sql(tx.dialect(), "v.id", "ch.id", variant_ids.len());
    let mut lock_params: Vec<crate::Val> = vec![channel_id.into()];
    lock_params.extend(variant_ids.iter().map(|v| crate::Val::from(*v)));
    let rows = tx.query(&lock_sql, &lock_params)?;
    if levels_complete(&rows, variant_ids, locations) {
        return Ok(rows);
    }
    for v in variant_ids {
        for l in locations {
            ensure_level(tx, *v, *l, now)?;
        }
    }
    Ok(tx.query(&lock_sql, &lock_params)?)
}

/// Sets each candidate's sellable units per variant from locked level rows (less the channel's
/// safety buffer).
pub(crate) fn fill_available(candidates: &mut [Candidate], rows: &[Row], variant_ids: &[i64]) {
    for v in variant_ids {
        for c in candidates.iter_mut() {
            let avail = rows
                .iter()
                .find(|r| r.i64(0) == *v && r.i64(1) == c.location_id)
                .map_or(0, |r| {
                    r.i64(2) - r.i64(3) - r.i64(4) - r.opt_i64(5).unwrap_or(0)
                });
            c.available.insert(*v, avail);
        }
    }
}

/// The API error for a sourcing failure; `field` names the offending line's quantity.
pub(crate) fn sourcing_error(
    e: SourcingError,
    channel: &str,
    field: impl Fn(usize) -> String,
) -> Error {
    match e {
        SourcingError::NoLocations => Error::conflict(
            "no_locations",
            format!("channel {channel} sells from no active location"),
        ),
        SourcingError::Insufficient {
            line_index,
            sku,
            requested,
            available,
        } => Error::InsufficientStock {
            field: field(line_index),
            sku,
            requested,
            available,
        },
    }
}

/// The shipping method of a boutique sale the customer takes with them: nothing ships.
pub const IN_STORE: &str = "in_store";

pub(crate) fn event(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    order_id: i64,
    kind: &str,
    message: &str,
) -> Result<()> {
    tx.exec_deferred(
        "INSERT INTO order_events (order_id, kind, message, actor, created_at) VALUES ($1, $2, $3, $4, $5)",
        params![order_id, kind, message, ctx.actor.name.as_str(), ctx.now],
    )?;
    // What changes an order's KPI facts (its lines, status, refunds or returns) also tells the
    // analytics refresher, in the same transaction.
    if matches!(
        kind,
        "cancelled" | "edited" | "exchange" | "refunded" | "return_received"
    ) {
        crate::analytics::rollup::mark_dirty(tx, order_id)?;
    }
    Ok(())
}

const ORDER_COLS: &str = "o.id, o.number, o.channel_id, o.customer_id, c.email, c.first_name, c.last_name, o.currency, o.status, o.payment_status, o.fulfillment_status, o.subtotal_minor, o.discounts_minor, o.shipping_minor, o.tax_minor, o.total_minor, o.paid_minor, o.shipping_method, o.shipping_address, o.note, o.sourcing_strategy, o.sourcing_reason, o.placed_at, o.updated_at, o.cancelled_at, o.cancel_reason, o.refunded_minor, o.hold_reason, o.hold_note, o.held_at, o.ship_by, o.pickup_location_id, o.pickup_deadline, o.picked_up_at, o.picked_up_by, o.returned_minor, o.adjustments_minor, o.origin_location_id, o.tax_included";

fn order_from(tx: &mut dyn Sql, r: &Row) -> Result<Order> {
    let id = r.i64(0);
    let cur = r.string(7);
    let lines = tx.query("SELECT id, line_no, variant_id, sku, title, quantity, unit_price_minor, discount_minor, tax_minor, returned_quantity, refunded_quantity, exchange_return_id FROM order_lines WHERE order_id = $1 ORDER BY line_no", params![id])?;
    let res = tx.query("SELECT order_line_id, location_id, quantity, backordered, released_at FROM reservations WHERE order_id = $1 ORDER BY id", params![id])?;
    let shipped = tx.query(
        "SELECT f.id, f.location_id, f.status, f.carrier, f.service, f.tracking_number, f.tracking_url, f.shipped_at, f.delivered_at, fl.order_line_id, fl.quantity \
         FROM fulfillments f JOIN fulfillment_lines fl ON fl.fulfillment_id = f.id WHERE f.order_id = $1 ORDER BY f.id, fl.id",
        params![id],
    )?;
    let mut fulfillments: Vec<api::Fulfillment> = Vec::new();
    for f in &shipped {
        if fulfillments.last().is_none_or(|x| x.id != f.i64(0)) {
            fulfillments.push(api::Fulfillment {
                id: f.i64(0),
                location_id: f.i64(1),
                status: f.string(2),
                carrier: f.opt_string(3),
                service: f.opt_string(4),
                tracking_number: f.opt_string(5),
                tracking_url: f.opt_string(6),
                lines: Vec::new(),
                shipped_at: rfc3339(f.i64(7)),
                delivered_at: opt_rfc3339(f.opt_i64(8)),
            });
        }
        if let Some(last) = fulfillments.last_mut() {
            last.lines.push(api::FulfillmentLine {
                order_line_id: f.i64(9),
                quantity: f.i64(10),
            });
        }
    }
    let name = format!("{} {}", r.string(5), r.string(6))
        .trim()
        .to_string();
    let owed = balance::owed(
        r.string(8) == OrderStatus::Cancelled.as_str(),
        r.i64(15),
        r.i64(35),
        r.i64(36),
    );
    Ok(Order {
        id,
        number: r.i64(1),
        name: format!("#{}", r.i64(1)),
        channel_id: r.i64(2),
        customer: api::OrderCustomer {
            id: r.i64(3),
            email: r.string(4),
            name,
        },
        currency: cur.clone(),
        status: r.string(8),
        payment_status: r.string(9),
        fulfillment_status: r.string(10),
        subtotal: money(r.i64(11), &cur),
        discounts: money(r.i64(12), &cur),
        shipping: money(r.i64(13), &cur),
        tax: money(r.i64(14), &cur),
        total: money(r.i64(15), &cur),
        paid: money(r.i64(16), &cur),
        refunded: money(r.i64(26), &cur),
        owed: money(owed, &cur),
        balance: money(balance::balance(r.i64(16), r.i64(26), owed), &cur),
        origin_location_id: r.opt_i64(37),
        prices_include_tax: r.i64(38) != 0,
        shipping_method: r.string(17),
        shipping_address: from_json(&r.string(18)),
        note: r.opt_string(19),
        sourcing: api::Sourcing {
            strategy: r.string(20),
            reason: r.string(21),
        },
        placed_at: rfc3339(r.i64(22)),
        updated_at: rfc3339(r.i64(23)),
        cancelled_at: opt_rfc3339(r.opt_i64(24)),
        cancel_reason: r.opt_string(25),
        fulfillments,
        hold: r.opt_string(27).map(|reason| api::OrderHold {
            reason,
            note: r.opt_string(28),
            held_at: opt_rfc3339(r.opt_i64(29)).unwrap_or_default(),
        }),
        ship_by: opt_rfc3339(r.opt_i64(30)),
        pickup: r.opt_i64(31).map(|location_id| api::Pickup {
            location_id,
            deadline: opt_rfc3339(r.opt_i64(32)),
            picked_up_at: opt_rfc3339(r.opt_i64(33)),
            picked_up_by: r.opt_string(34),
        }),
        lines: lines
            .iter()
            .map(|l| api::OrderLine {
                id: l.i64(0),
                line_no: l.i64(1),
                variant_id: l.i64(2),
                sku: l.string(3),
                title: l.string(4),
                quantity: l.i64(5),
                unit_price: money(l.i64(6), &cur),
                discount: money(l.i64(7), &cur),
                tax: money(l.i64(8), &cur),
                returned_quantity: l.i64(9),
                refunded_quantity: l.i64(10),
                exchange_return_id: l.opt_i64(11),
                allocations: res
                    .iter()
                    .filter(|a| a.i64(0) == l.i64(0))
                    .map(|a| api::Allocation {
                        location_id: a.i64(1),
                        quantity: a.i64(2),
                        backordered: a.i64(3),
                        live: a.opt_i64(4).is_none(),
                    })
                    .collect(),
            })
            .collect(),
    })
}

pub fn get(tx: &mut dyn Sql, id: i64) -> Result<Order> {
    let r = tx
        .query_one(&format!("SELECT {ORDER_COLS} FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = $1"), params![id])?
        .ok_or(Error::NotFound { entity: "order" })?;
    order_from(tx, &r)
}

pub fn get_by_number(tx: &mut dyn Sql, number: i64) -> Result<Order> {
    let r = tx
        .query_one("SELECT id FROM orders WHERE number = $1", params![number])?
        .ok_or(Error::NotFound { entity: "order" })?;
    get(tx, r.i64(0))
}

#[derive(Default, Clone, Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    pub status: Option<String>,
    pub payment_status: Option<String>,
    pub fulfillment_status: Option<String>,
    pub channel_id: Option<i64>,
    pub customer_id: Option<i64>,
    /// Only orders with units reserved (still to ship) at this location, or picked up there.
    pub location_id: Option<i64>,
    /// Placed at or after this time (RFC 3339 or a date).
    pub placed_from: Option<String>,
    /// Placed before this time.
    pub placed_to: Option<String>,
    /// An order number (`1001` or `#1001`) or part of the customer's email.
    pub q: Option<String>,
    /// Only open orders not fully shipped whose ship-by time has passed.
    pub late: Option<bool>,
    /// Only open orders not fully shipped due to ship within the next 24 hours.
    pub at_risk: Option<bool>,
    /// Only orders on hold (true) or not on hold (false).
    pub on_hold: Option<bool>,
    /// By balance: `refund_due` (the store owes the customer), `to_collect` (the customer owes
    /// the store) or `settled`.
    pub balance: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Orders, newest first.
/// Orders, newest first; `now` decides what is late or at risk.
pub fn list(tx: &mut dyn Sql, q: &OrderQuery, now: i64) -> Result<Page<Order>> {
    let limit = page_limit(q.limit)?;
    let mut f = Filter::default();
    if let Some(s) = &q.status {
        let s = OrderStatus::parse(s)
            .ok_or_else(|| Error::invalid("status", "must be open, closed or cancelled"))?;
        f.add("o.status = ?", vec![s.as_str().into()]);
    }
    if let Some(s) = &q.payment_status {
        let s = PaymentStatus::parse(s)
            .ok_or_else(|| Error::invalid("payment_status", "is not a payment status"))?;
        f.add("o.payment_status = ?", vec![s.as_str().into()]);
    }
    if let Some(s) = &q.fulfillment_status {
        let s = FulfillmentStatus::parse(s)
            .ok_or_else(|| Error::invalid("fulfillment_status", "is not a fulfillment status"))?;
        f.add("o.fulfillment_status = ?", vec![s.as_str().into()]);
    }
    if let Some(v) = q.channel_id {
        f.add("o.channel_id = ?", vec![v.into()]);
    }
    if let Some(v) = q.customer_id {
        f.add("o.customer_id = ?", vec![v.into()]);
    }
    if let Some(v) = q.location_id {
        f.add(
            "(o.id IN (SELECT r.order_id FROM reservations r WHERE r.location_id = ? AND r.released_at IS NULL) OR o.pickup_location_id = ?)",
            vec![v.into(), v.into()],
        );
    }
    if let Some(v) = &q.placed_from {
        f.add(
            "o.placed_at >= ?",
            vec![parse_time("placed_from", v)?.into()],
        );
    }
    if let Some(v) = &q.placed_to {
        f.add("o.placed_at < ?", vec![parse_time("placed_to", v)?.into()]);
    }
    if let Some(s) = &q.q {
        let s = s.trim();
        match s.trim_start_matches('#').parse::<i64>() {
            Ok(n) => f.add("o.number = ?", vec![n.into()]),
            Err(_) => f.add(
                "c.email_key LIKE ? ESCAPE '\\'",
                vec![crate::util::like_contains(s).into()],
            ),
        }
    }
    let pending =
        "o.status = 'open' AND o.fulfillment_status IN ('unfulfilled', 'partially_fulfilled')";
    if q.late == Some(true) {
        f.add(&format!("{pending} AND o.ship_by < ?"), vec![now.into()]);
    }
    if q.at_risk == Some(true) {
        f.add(
            &format!("{pending} AND o.ship_by >= ? AND o.ship_by < ?"),
            vec![now.into(), (now + 24 * 3_600_000_000).into()],
        );
    }
    match q.on_hold {
        Some(true) => f.add("o.hold_reason IS NOT NULL", vec![]),
        Some(false) => f.add("o.hold_reason IS NULL", vec![]),
        None => {}
    }
    if let Some(b) = &q.balance {
        // `paid - refunded - owed`, as `backroom_domain::balance` has it.
        let balance = "(o.paid_minor - o.refunded_minor - CASE WHEN o.status = 'cancelled' THEN 0 \
                       ELSE o.total_minor - o.returned_minor - o.adjustments_minor END)";
        let op = match b.as_str() {
            "refund_due" => ">",
            "to_collect" => "<",
            "settled" => "=",
            _ => {
                return Err(Error::invalid(
                    "balance",
                    "must be refund_due, to_collect or settled",
                ));
            }
        };
        f.add(&format!("{balance} {op} 0"), vec![]);
    }
    if let Some(c) = &q.cursor {
        let (v, id) = decode_cursor(c)?;
        let at: i64 = v
            .parse()
            .map_err(|_| Error::invalid("cursor", "is not a cursor this list gave out"))?;
        f.add(
            "(o.placed_at < ? OR (o.placed_at = ? AND o.id < ?))",
            vec![at.into(), at.into(), id.into()],
        );
    }
    let lim = f.push((limit + 1).into());
    let rows = tx.query(&format!("SELECT {ORDER_COLS} FROM orders o JOIN customers c ON c.id = o.customer_id{} ORDER BY o.placed_at DESC, o.id DESC LIMIT {lim}", f.where_sql()), &f.params)?;
    let mut items = Vec::with_capacity(rows.len());
    let mut placed = Vec::with_capacity(rows.len());
    for r in &rows {
        placed.push((r.i64(0), r.i64(22)));
        items.push(order_from(tx, r)?);
    }
    Ok(page(&mut items, limit, |o| {
        let at = placed
            .iter()
            .find(|(id, _)| *id == o.id)
            .map_or(0, |(_, t)| *t);
        encode_cursor(&at.to_string(), o.id)
    }))
}

/// An order row, locked for the rest of the transaction: what the state-changing services decide on.
pub(crate) struct LockedOrder {
    pub status: OrderStatus,
    pub payment: PaymentStatus,
    pub fulfillment: FulfillmentStatus,
    pub total: i64,
    pub paid: i64,
    pub refunded: i64,
    pub number: i64,
    pub currency: String,
    pub hold_reason: Option<String>,
    pub pickup_location: Option<i64>,
    /// The channel's pickup hold, in hours.
    pub pickup_hold_hours: i64,
    pub returned: i64,
    pub adjustments: i64,
    pub shipping: i64,
    pub shipping_refunded: bool,
    /// The prices (and shipping price) hold the tax rather than having it added on top.
    pub tax_included: bool,
}

impl LockedOrder {
    /// What the customer owes for what they keep (see `backroom_domain::balance`).
    pub fn owed(&self) -> i64 {
        balance::owed(
            self.status == OrderStatus::Cancelled,
            self.total,
            self.returned,
            self.adjustments,
        )
    }

    /// `paid - refunded - owed`: positive when the store owes the customer.
    pub fn balance(&self) -> i64 {
        balance::balance(self.paid, self.refunded, self.owed())
    }
}

pub(crate) fn lock_order(tx: &mut dyn Sql, id: i64) -> Result<LockedOrder> {
    let sql = format!(
        "SELECT o.status, o.payment_status, o.fulfillment_status, o.total_minor, o.paid_minor, o.refunded_minor, o.number, o.currency, \
         o.hold_reason, o.pickup_location_id, (SELECT c.pickup_hold_hours FROM channels c WHERE c.id = o.channel_id), \
         o.returned_minor, o.adjustments_minor, o.shipping_minor, o.shipping_refunded, o.tax_included FROM orders o WHERE o.id = $1{}",
        tx.for_update()
    );
    let r = tx
        .query_one(&sql, params![id])?
        .ok_or(Error::NotFound { entity: "order" })?;
    Ok(LockedOrder {
        status: OrderStatus::parse(&r.string(0)).unwrap_or(OrderStatus::Open),
        payment: PaymentStatus::parse(&r.string(1)).unwrap_or(PaymentStatus::Pending),
        fulfillment: FulfillmentStatus::parse(&r.string(2))
            .unwrap_or(FulfillmentStatus::Unfulfilled),
        total: r.i64(3),
        paid: r.i64(4),
        refunded: r.i64(5),
        number: r.i64(6),
        currency: r.string(7),
        hold_reason: r.opt_string(8),
        pickup_location: r.opt_i64(9),
        pickup_hold_hours: r.i64(10),
        returned: r.i64(11),
        adjustments: r.i64(12),
        shipping: r.i64(13),
        shipping_refunded: r.bool(14),
        tax_included: r.i64(15) != 0,
    })
}

/// Cancels an unfulfilled order and releases every open reservation in the same transaction.
pub fn cancel(tx: &mut dyn Sql, ctx: &Ctx, id: i64, c: &api::CancelOrder) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let reason = optional_text("reason", c.reason.as_deref(), 1000)?;
    let LockedOrder {
        status,
        payment,
        fulfillment,
        number,
        ..
    } = lock_order(tx, id)?;
    let new_payment = states::cancel(status, payment, fulfillment)
        .map_err(|e| Error::conflict("cannot_cancel", e.0))?;
    let (released, levels) = release_order(tx, ctx.now, id, "cancelled")?;
    crate::inventory::note_low(tx, ctx, &levels)?;
    tx.exec_deferred(
        "UPDATE orders SET status = $1, payment_status = $2, cancelled_at = $3, cancel_reason = $4, updated_at = $3 WHERE id = $5",
        params![OrderStatus::Cancelled.as_str(), new_payment.as_str(), ctx.now, reason.clone(), id],
    )?;
    let msg = format!(
        "Order #{number} cancelled{}; {released} reserved units released",
        reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    );
    event(tx, ctx, id, "cancelled", &msg)?;
    audit::record(
        tx,
        ctx,
        "order.cancelled",
        "order",
        id,
        json!({"status": {"from": status.as_str(), "to": "cancelled"}, "payment_status": {"from": payment.as_str(), "to": new_payment.as_str()}, "released_units": released, "reason": reason}),
    )?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.cancelled",
        json!({"order_id": id, "number": number}),
    )?;
    get(tx, id)
}

/// Records a payment event from the gateway: authorized, paid (captured) or voided.
pub fn record_payment(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    p: &api::RecordPayment,
) -> Result<Order> {
    ctx.actor.require(Permission::OrdersManage)?;
    let to = PaymentStatus::parse(&p.status)
        .filter(|s| {
            matches!(
                s,
                PaymentStatus::Authorized | PaymentStatus::Paid | PaymentStatus::Voided
            )
        })
        .ok_or_else(|| Error::invalid("status", "must be authorized, paid or voided"))?;
    let reference = optional_text("reference", p.reference.as_deref(), 255)?;
    let locked = lock_order(tx, id)?;
    if to == PaymentStatus::Paid
        && matches!(
            locked.payment,
            PaymentStatus::Paid | PaymentStatus::PartiallyRefunded
        )
        && locked.status != OrderStatus::Cancelled
    {
        return capture_balance(tx, ctx, id, &locked, p.amount, reference);
    }
    let LockedOrder {
        status,
        payment: from,
        fulfillment,
        total,
        paid,
        number,
        currency: cur,
        ..
    } = locked;
    if let Some(a) = p.amount
        && a != total
    {
        return Err(Error::Conflict {
            code: "amount_mismatch",
            message: format!(
                "the amount must equal the order total ({total}); partial payments are not supported yet"
            ),
            field: Some("amount".into()),
        });
    }
    let new = states::record_payment(status, from, to)
        .map_err(|e| Error::conflict("invalid_payment_transition", e.0))?;
    let (kind, amount, new_paid) = match new {
        PaymentStatus::Authorized => ("authorization", total, paid),
        PaymentStatus::Paid => ("capture", total, total),
        _ => ("void", 0, paid),
    };
    tx.exec_deferred(
        "INSERT INTO payments (order_id, kind, amount_minor, currency, reference, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        params![id, kind, amount, cur.as_str(), reference, ctx.actor.name.as_str(), ctx.now],
    )?;
    // Paid and fully shipped: nothing is left to do.
    let new_status = if new == PaymentStatus::Paid && fulfillment == FulfillmentStatus::Fulfilled {
        OrderStatus::Closed
    } else {
        status
    };
    tx.exec_deferred(
        "UPDATE orders SET payment_status = $1, paid_minor = $2, status = $3, updated_at = $4 WHERE id = $5",
        params![new.as_str(), new_paid, new_status.as_str(), ctx.now, id],
    )?;
    event(
        tx,
        ctx,
        id,
        &format!("payment_{}", new.as_str()),
        &format!("Payment {} for order #{number}", new.as_str()),
    )?;
    audit::record(
        tx,
        ctx,
        "order.payment_recorded",
        "order",
        id,
        json!({"payment_status": {"from": from.as_str(), "to": new.as_str()}, "amount": amount}),
    )?;
    if new == PaymentStatus::Paid {
        crate::webhooks::emit(
            tx,
            ctx.now,
            "order.paid",
            json!({"order_id": id, "number": number, "amount": amount}),
        )?;
    }
    get(tx, id)
}

/// Captures what a paid order's customer owes after an edit or exchange added value.
fn capture_balance(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    id: i64,
    o: &LockedOrder,
    amount: Option<i64>,
    reference: Option<String>,
) -> Result<Order> {
    let due = -o.balance();
    if due <= 0 {
        return Err(Error::conflict(
            "nothing_due",
            format!("order #{} is paid and the customer owes nothing", o.number),
        ));
    }
    let amount = amount.unwrap_or(due);
    if amount <= 0 || amount > due {
        return Err(Error::Conflict {
            code: "amount_mismatch",
            message: format!("the customer owes {due}; capture between 1 and {due}"),
            field: Some("amount".into()),
        });
    }
    tx.exec_deferred(
        "INSERT INTO payments (order_id, kind, amount_minor, currency, reference, actor, created_at) VALUES ($1, 'capture', $2, $3, $4, $5, $6)",
        params![id, amount, o.currency.as_str(), reference, ctx.actor.name.as_str(), ctx.now],
    )?;
    tx.exec_deferred(
        "UPDATE orders SET paid_minor = paid_minor + $1, updated_at = $2 WHERE id = $3",
        params![amount, ctx.now, id],
    )?;
    let cur = backroom_domain::Currency::parse(&o.currency)?;
    event(
        tx,
        ctx,
        id,
        "payment_captured",
        &format!(
            "{} captured on order #{} (balance due)",
            backroom_domain::Money::new(amount, cur),
            o.number
        ),
    )?;
    audit::record(
        tx,
        ctx,
        "order.payment_recorded",
        "order",
        id,
        json!({"capture": amount, "due_before": due}),
    )?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.paid",
        json!({"order_id": id, "number": o.number, "amount": amount}),
    )?;
    get(tx, id)
}

/// Adds a staff note to an order's timeline.
pub fn add_note(tx: &mut dyn Sql, ctx: &Ctx, id: i64, n: &api::OrderNote) -> Result<OrderEvent> {
    // Whoever works on orders may annotate them: support and operations, and the warehouse.
    ctx.actor
        .require(Permission::OrdersFulfil)
        .or_else(|_| ctx.actor.require(Permission::OrdersManage))?;
    let message = required_text("message", &n.message, 5000)?;
    get(tx, id)?;
    let r = tx
        .query_one(
            "INSERT INTO order_events (order_id, kind, message, actor, created_at) VALUES ($1, 'note', $2, $3, $4) RETURNING id",
            params![id, message.as_str(), ctx.actor.name.as_str(), ctx.now],
        )?
        .ok_or(Error::NotFound { entity: "order" })?;
    audit::record(
        tx,
        ctx,
        "order.note_added",
        "order",
        id,
        json!({"message": message}),
    )?;
    Ok(OrderEvent {
        id: r.i64(0),
        kind: "note".into(),
        message,
        actor: ctx.actor.name.clone(),
        created_at: rfc3339(ctx.now),
    })
}

pub fn timeline(tx: &mut dyn Sql, id: i64) -> Result<Vec<OrderEvent>> {
    get(tx, id)?;
    let rows = tx.query("SELECT id, kind, message, actor, created_at FROM order_events WHERE order_id = $1 ORDER BY id", params![id])?;
    Ok(rows
        .iter()
        .map(|r| OrderEvent {
            id: r.i64(0),
            kind: r.string(1),
            message: r.string(2),
            actor: r.string(3),
            created_at: rfc3339(r.i64(4)),
        })
        .collect())
}
