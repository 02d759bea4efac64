//! Placing an order, in the steps its comments name: validate, fetch everything in one round
//! trip (or replay an idempotent request), read the context, source, draw ids, write, and build
//! the view from what was written.

use super::{
    IN_STORE, LineIn, Placed, check_address, fill_available, get, lines_from, lookup_sql, money,
    parse_lines, sourcing_error,
};
use crate::api::{self, Order, PlaceOrder};
use crate::audit;
use crate::db::{Dialect, Row, Sql};
use crate::inventory::{Hold, reserve};
use crate::util::{rfc3339, sha256_hex, to_json};
use crate::{Ctx, DbError, Error, Result, Val, params, settings};
use backroom_domain::order::{FulfillmentStatus, InventoryPolicy, OrderStatus, PaymentStatus};
use backroom_domain::pricing::{PriceLine, ShippingRule, Totals, price_order, shipping_charge};
use backroom_domain::roles::Permission;
use backroom_domain::sourcing::{Candidate, Decision, Demand, Place, Strategy, source};
use backroom_domain::values::optional_text;
use backroom_domain::{Email, Sku};
use serde_json::json;
use std::collections::HashMap;

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

/// What an order says, checked without the database.
struct Checked {
    email: Email,
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
    address: api::Address,
    note: Option<String>,
    shipping_method: String,
    parsed: Vec<(Sku, i64)>,
}

/// Step 1: validates everything that needs no database.
fn check(input: &PlaceOrder) -> Result<Checked> {
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
    let c = &input.customer;
    Ok(Checked {
        email,
        first_name: optional_text("customer.first_name", c.first_name.as_deref(), 255)?,
        last_name: optional_text("customer.last_name", c.last_name.as_deref(), 255)?,
        phone: optional_text("customer.phone", c.phone.as_deref(), 64)?,
        address: check_address(&input.shipping_address)?,
        note: optional_text("note", input.note.as_deref(), 5000)?,
        shipping_method: input
            .shipping_method
            .clone()
            .unwrap_or_else(|| "standard".into()),
        parsed: parse_lines("lines", &input.lines)?,
    })
}

/// The idempotency key and the fingerprint of the request it guards: the same key with another
/// body is refused.
fn claim_of<'k>(
    key: Option<&'k str>,
    input: &PlaceOrder,
    c: &Checked,
) -> Result<Option<(&'k str, String)>> {
    let Some(key) = key else { return Ok(None) };
    if key.is_empty() || key.len() > 255 {
        return Err(Error::invalid(
            "Idempotency-Key",
            "must be 1 to 255 characters",
        ));
    }
    let lines_key: Vec<(&str, i64)> = c.parsed.iter().map(|(s, q)| (s.as_str(), *q)).collect();
    let body = (
        input.channel.as_str(),
        &lines_key,
        c.email.key(),
        &c.address,
        &c.shipping_method,
        &c.note,
    );
    // The codes count as the body does (without case); an order without any keeps the
    // fingerprint it had before codes existed, so a retry across an upgrade still replays.
    let codes: Vec<String> = input
        .discount_codes
        .iter()
        .flatten()
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty())
        .collect();
    let text = if codes.is_empty() {
        serde_json::to_string(&body)
    } else {
        serde_json::to_string(&(body, &codes))
    };
    let fingerprint = sha256_hex(&text.unwrap_or_default());
    Ok(Some((key, fingerprint)))
}

/// What the one round trip brought back.
struct Fetched {
    /// The order id the idempotency claim drew, when there was a key.
    claimed_id: Option<i64>,
    /// Settings and the shipping rate ([`settings::STORE_AND_RATE_SQL`]).
    store: Vec<Row>,
    /// The channel with its locations ([`crate::catalog::CHANNEL_SOURCING_BY_CODE_SQL`]).
    channel: Vec<Row>,
    /// The lines' variants at today's prices.
    variants: Vec<Row>,
    /// The stock levels the lines could draw on, locked.
    levels: Vec<crate::inventory::LockedLevel>,
    /// The customer by email, when known.
    customer: Vec<Row>,
    /// The promotions' generation stamp.
    promotion_stamp: Vec<Row>,
    /// The rows of the codes the order names.
    codes: Vec<Row>,
}

/// Step 2: one round trip brings everything the decision needs, in this order: the idempotency
/// claim (before touching stock: a concurrent request with the same key waits on the key's row
/// on PostgreSQL, or on the single writer on SQLite, then finds it); settings, the shipping rate
/// and the channel with its locations; the lines' variants at today's prices; the stock levels
/// they could draw on, locked in one global order (variant, then location) so concurrent orders
/// cannot deadlock; and the customer by email. PostgreSQL gets them as one pipeline: on a small
/// machine each round trip costs more than the rows it brings.
fn fetch(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    input: &PlaceOrder,
    c: &Checked,
    claim: &Option<(&str, String)>,
) -> Result<Fetched> {
    let sku_vals: Vec<Val> = c.parsed.iter().map(|(s, _)| s.as_str().into()).collect();
    let lookup_sql = lookup_sql(c.parsed.len());
    let lock_sql = crate::inventory::lock_levels_sql(
        tx.dialect(),
        crate::inventory::Keys::SkuAndCode,
        c.parsed.len(),
    );
    let mut lock_params: Vec<Val> = vec![input.channel.as_str().into()];
    lock_params.extend(sku_vals.iter().cloned());
    let claim_params: Vec<Val> = match claim {
        Some((key, fingerprint)) => {
            params![ctx.actor.user_id, *key, fingerprint.as_str(), ctx.now].to_vec()
        }
        None => Vec::new(),
    };
    let store_params = params![c.shipping_method.as_str()].to_vec();
    let channel_params = params![input.channel.as_str()].to_vec();
    let customer_params = params![c.email.key()].to_vec();
    let (_, code_list) =
        crate::promotions::apply::code_keys(input.discount_codes.as_deref().unwrap_or_default());
    let has_codes = matches!(&code_list, Val::List(l) if !l.is_empty());
    let code_params = vec![code_list];
    let codes_sql = crate::promotions::apply::codes_sql(tx.dialect());
    let mut batch: Vec<(&str, &[Val])> = Vec::with_capacity(8);
    if claim.is_some() {
        let claim_sql = match tx.dialect() {
            Dialect::Postgres => CLAIM_PG_SQL,
            Dialect::Sqlite => CLAIM_SQLITE_SQL,
        };
        batch.push((claim_sql, &claim_params));
    }
    batch.push((settings::STORE_AND_RATE_SQL, &store_params));
    batch.push((
        crate::catalog::CHANNEL_SOURCING_BY_CODE_SQL,
        &channel_params,
    ));
    batch.push((&lookup_sql, &sku_vals));
    batch.push((&lock_sql, &lock_params));
    batch.push((&crate::customers::FIND_BUYER_SQL, &customer_params));
    batch.push((crate::promotions::apply::GENERATION_SQL, &[]));
    if has_codes {
        batch.push((&codes_sql, &code_params));
    }
    let mut results = tx.query_batch(&batch)?.into_iter();
    let mut next = || results.next().unwrap_or_default();
    let claimed_id = if claim.is_some() {
        next()
            .first()
            .map(|r| r.get::<Option<i64>>("order_id"))
            .transpose()?
            .flatten()
    } else {
        None
    };
    Ok(Fetched {
        claimed_id,
        store: next(),
        channel: next(),
        variants: next(),
        levels: crate::inventory::locked_levels(&next())?,
        customer: next(),
        promotion_stamp: next(),
        codes: next(),
    })
}

/// A key that was already claimed: the order it placed, or a refusal when the body differs or
/// the first request is still running.
fn replay(tx: &mut dyn Sql, ctx: &Ctx, key: &str, fingerprint: &str) -> Result<Placed> {
    let r = tx
        .query_one(
            "SELECT fingerprint, order_id FROM idempotency_keys WHERE principal_id = $1 AND key = $2",
            params![ctx.actor.user_id, key],
        )?
        .ok_or_else(|| Error::Db(DbError::Retry("idempotency key vanished".into())))?;
    if r.get::<String>("fingerprint")? != fingerprint {
        return Err(Error::Conflict {
            code: "idempotency_key_reused",
            message: "this Idempotency-Key was used for a different order".into(),
            field: Some("Idempotency-Key".into()),
        });
    }
    let order_id = r.get::<Option<i64>>("order_id")?.ok_or_else(|| {
        Error::conflict(
            "idempotency_key_in_use",
            "an order with this Idempotency-Key is still being placed",
        )
    })?;
    Ok(Placed {
        order: get(tx, order_id)?,
        replayed: true,
    })
}

/// The store and channel an order is placed in, read from the context rows.
struct Context {
    settings: settings::Settings,
    currency: String,
    shipping_price: i64,
    ships_to: Vec<String>,
    free_above: Option<i64>,
    channel_id: i64,
    strategy: Strategy,
    handling_hours: i64,
    /// The channel's active locations, stock not yet filled in.
    candidates: Vec<Candidate>,
}

/// Reads the settings, the shipping rate and the channel from their statements' rows; refuses
/// an unknown method or channel and an inactive channel.
fn read_context(
    store: &[Row],
    channel: &[Row],
    input: &PlaceOrder,
    shipping_method: &str,
) -> Result<Context> {
    let mut pairs = Vec::new();
    let mut rate = None;
    for r in store {
        match r.get::<String>("kind")?.as_str() {
            "setting" => pairs.push((r.get::<String>("key")?, r.get::<String>("value")?)),
            _ => rate = Some(r),
        }
    }
    let settings = settings::from_pairs(pairs.into_iter())?;
    let currency = settings.currency.as_str().to_string();
    let rate_row = rate.ok_or_else(|| {
        Error::invalid(
            "shipping_method",
            format!("unknown shipping method {shipping_method}"),
        )
    })?;
    let ch = crate::catalog::channel_sourcing_from(channel)?.ok_or_else(|| {
        Error::invalid("channel", format!("no channel has code {}", input.channel))
    })?;
    if !ch.active {
        return Err(Error::Conflict {
            code: "channel_inactive",
            message: format!("channel {} is inactive", input.channel),
            field: Some("channel".into()),
        });
    }
    Ok(Context {
        currency,
        shipping_price: rate_row.get::<String>("value")?.parse().unwrap_or(0),
        ships_to: crate::util::from_json(&rate_row.get::<String>("countries")?),
        free_above: rate_row.get("free_above")?,
        channel_id: ch.id,
        strategy: Strategy::parse(&ch.strategy).unwrap_or(Strategy::FewestShipments),
        handling_hours: ch.handling_hours,
        candidates: ch.candidates,
        settings,
    })
}

/// Click and collect: every line is reserved at the pickup location, which must offer pickup
/// and sell for this channel. Keeps only that location among the candidates.
fn pickup_location(
    tx: &mut dyn Sql,
    input: &PlaceOrder,
    shipping_method: &str,
    candidates: &mut Vec<Candidate>,
) -> Result<Option<i64>> {
    match (shipping_method, input.pickup_location_id) {
        ("pickup", Some(loc)) => {
            if !candidates.iter().any(|c| c.location_id == loc) {
                return Err(Error::invalid(
                    "pickup_location_id",
                    format!("location {loc} does not sell for channel {}", input.channel),
                ));
            }
            let offers = match crate::catalog::get_location(tx, loc) {
                Ok(l) => l.offers_pickup,
                Err(Error::NotFound { .. }) => false,
                Err(e) => return Err(e),
            };
            if !offers {
                return Err(Error::invalid(
                    "pickup_location_id",
                    format!("location {loc} does not offer pickup"),
                ));
            }
            candidates.retain(|c| c.location_id == loc);
            Ok(Some(loc))
        }
        ("pickup", None) => Err(Error::invalid(
            "pickup_location_id",
            "a pickup order names the location the customer collects from",
        )),
        (_, Some(_)) => Err(Error::invalid(
            "pickup_location_id",
            "only a pickup order names a pickup location",
        )),
        _ => Ok(None),
    }
}

/// Endless aisle: a boutique sells what it may not hold; the order records where the sale was
/// made while sourcing picks the location that ships it. The boutique must sell in store.
fn check_origin(tx: &mut dyn Sql, input: &PlaceOrder) -> Result<()> {
    let Some(loc) = input.origin_location_id else {
        return Ok(());
    };
    let sells = match crate::catalog::get_location(tx, loc) {
        Ok(l) if l.active => l.sells_in_store,
        Ok(_) | Err(Error::NotFound { .. }) => {
            return Err(Error::invalid(
                "origin_location_id",
                format!("no active location has id {loc}"),
            ));
        }
        Err(e) => return Err(e),
    };
    if !sells {
        return Err(Error::invalid(
            "origin_location_id",
            format!("location {loc} does not sell in store"),
        ));
    }
    Ok(())
}

/// A boutique sale: when the boutique that made it holds every unit and the staff did not ask
/// for a shipping method, the customer takes the goods there. Its location and name.
fn in_store_sale(
    input: &PlaceOrder,
    candidates: &[Candidate],
    lines: &[LineIn],
) -> Option<(i64, String)> {
    let loc = input
        .origin_location_id
        .filter(|_| input.shipping_method.is_none())?;
    let c = candidates.iter().find(|c| c.location_id == loc)?;
    let mut wanted: HashMap<i64, i64> = HashMap::new();
    for l in lines {
        *wanted.entry(l.variant_id).or_default() += l.quantity;
    }
    wanted
        .iter()
        .all(|(v, q)| c.available.get(v).copied().unwrap_or(0) >= *q)
        .then(|| (loc, c.name.clone()))
}

/// The ids drawn for the rows about to be written.
struct Ids {
    number: i64,
    order_id: i64,
    line_ids: Vec<i64>,
    new_customer: Option<i64>,
}

/// Step 4: the order's number and the ids of the rows about to be written, in one statement, so
/// that every write after it is queued and reaches PostgreSQL with the commit. Numbers are drawn
/// only now, so a refused order leaves no gap.
fn draw_ids(
    tx: &mut dyn Sql,
    claimed_id: Option<i64>,
    lines: usize,
    new_customer: bool,
) -> Result<Ids> {
    let ids = crate::db::next_ids(
        tx,
        &[
            ("order_numbers", 1),
            ("orders", usize::from(claimed_id.is_none())),
            ("order_lines", lines),
            ("customers", usize::from(new_customer)),
        ],
    )?;
    let (Some(&number), Some(order_id)) = (ids[0].first(), claimed_id.or(ids[1].first().copied()))
    else {
        return Err(Error::Db(DbError::Other(
            "no order number or id was drawn".into(),
        )));
    };
    if ids[2].len() != lines {
        return Err(Error::Db(DbError::Other(
            "too few line ids were drawn".into(),
        )));
    }
    Ok(Ids {
        number,
        order_id,
        line_ids: ids[2].clone(),
        new_customer: ids[3].first().copied(),
    })
}

/// Everything decided about an order before it is written.
struct Decided<'a> {
    input: &'a PlaceOrder,
    c: Checked,
    context: Context,
    lines: Vec<LineIn>,
    totals: Totals,
    tax: backroom_domain::pricing::TaxPolicy,
    decision: Decision,
    pickup: Option<i64>,
    ship_by: i64,
    ids: Ids,
    /// A replacement: every line discounted in full, no shipping charge, nothing owed.
    free: bool,
    /// Each line's discount, in line order.
    line_discounts: Vec<i64>,
    /// The promotions claimed, recorded once the order is written, and those that did not apply.
    promotions: crate::promotions::apply::Plan,
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
    place_charged(tx, ctx, input, idempotency_key, false)
}

/// Places a replacement (see [`super::reship`]): sourced and reserved like any order, each line
/// discounted in full and no shipping charged, so it is paid (nothing is owed) from the start.
pub(crate) fn place_free(tx: &mut dyn Sql, ctx: &Ctx, input: &PlaceOrder) -> Result<Placed> {
    place_charged(tx, ctx, input, None, true)
}

fn place_charged(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    input: &PlaceOrder,
    idempotency_key: Option<&str>,
    free: bool,
) -> Result<Placed> {
    ctx.actor.require(Permission::OrdersPlace)?;
    // 1. Validate everything that needs no database.
    let mut c = check(input)?;
    // 2. One round trip, or the order an earlier request with the same key placed.
    let claim = claim_of(idempotency_key, input, &c)?;
    let mut fetched = fetch(tx, ctx, input, &c, &claim)?;
    if let Some((key, fingerprint)) = &claim
        && fetched.claimed_id.is_none()
    {
        return replay(tx, ctx, key, fingerprint);
    }
    let mut context = read_context(&fetched.store, &fetched.channel, input, &c.shipping_method)?;
    let pickup = pickup_location(tx, input, &c.shipping_method, &mut context.candidates)?;
    check_origin(tx, input)?;
    let ship_by = ctx.now + context.handling_hours * 3_600_000_000;
    let lines = lines_from(&fetched.variants, std::mem::take(&mut c.parsed), "lines")?;

    // 3. Source from the locked levels. A level row that does not exist yet (a SKU never
    // stocked at a location) is created and the levels are locked again.
    let mut variant_ids: Vec<i64> = lines.iter().map(|l| l.variant_id).collect();
    variant_ids.sort_unstable();
    variant_ids.dedup();
    let location_ids: Vec<i64> = context.candidates.iter().map(|c| c.location_id).collect();
    let mut levels = std::mem::take(&mut fetched.levels);
    if !crate::inventory::levels_complete(&levels, &variant_ids, &location_ids) {
        levels = crate::inventory::lock_channel_levels(
            tx,
            ctx.now,
            context.channel_id,
            &variant_ids,
            &location_ids,
        )?;
    }
    fill_available(&mut context.candidates, &levels, &variant_ids);
    // A boutique sale is sourced from the boutique, with nothing to ship and no charge.
    let in_store = in_store_sale(input, &context.candidates, &lines);
    if let Some((loc, _)) = &in_store {
        context.candidates.retain(|c| c.location_id == *loc);
        c.shipping_method = IN_STORE.into();
    }
    let plain = in_store.is_some();
    let (line_discounts, promotions, totals, tax) = if free {
        let gross: Vec<i64> = lines.iter().map(|l| l.unit_price * l.quantity).collect();
        let (totals, tax) = price(&context, &c, &lines, true, &gross)?;
        (gross, Default::default(), totals, tax)
    } else {
        priced_with_promotions(tx, ctx, input, &fetched, &context, &c, &lines, plain)?
    };
    let mut decision = source_lines(&context, &c, &lines, &input.channel)?;
    if let Some((_, name)) = &in_store {
        decision.reason =
            format!("boutique sale: taken by the customer at {name}, which holds every unit");
    }

    // 4. Numbers and ids; from here on every write is queued.
    let existing = fetched.customer.first();
    let ids = draw_ids(tx, fetched.claimed_id, lines.len(), existing.is_none())?;

    // 5. The customer, created or updated by email.
    let customer = crate::customers::save_customer(
        tx,
        ctx,
        existing,
        ids.new_customer,
        &c.email,
        &crate::customers::CustomerInput {
            first: c.first_name.as_deref(),
            last: c.last_name.as_deref(),
            phone: c.phone.as_deref(),
            accepts_marketing: input.customer.accepts_marketing,
            channel: &input.channel,
            address: (pickup.is_none()).then_some(&c.address),
        },
    )?;

    // 6. Write the order, its lines and reservations, and say so.
    let d = Decided {
        input,
        c,
        context,
        lines,
        totals,
        tax,
        decision,
        pickup,
        ship_by,
        ids,
        free,
        line_discounts,
        promotions,
    };
    write_order(tx, ctx, &d, customer.id)?;
    let out_lines = write_lines(tx, ctx, &d, &levels)?;
    crate::promotions::apply::record(tx, &d.promotions, d.ids.order_id, customer.id, ctx.now)?;
    record_placed(tx, ctx, &d)?;
    Ok(Placed {
        order: view(ctx, d, customer, out_lines),
        replayed: false,
    })
}

/// The promotions the order gets (claimed in this transaction) and its totals with them: a
/// free-shipping promotion takes off (and records, and claims from its campaign's budget) the
/// charge the lines would have at full price.
#[allow(clippy::too_many_arguments)]
fn priced_with_promotions(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    input: &PlaceOrder,
    fetched: &Fetched,
    context: &Context,
    c: &Checked,
    lines: &[LineIn],
    no_shipping: bool,
) -> Result<(
    Vec<i64>,
    crate::promotions::apply::Plan,
    Totals,
    backroom_domain::pricing::TaxPolicy,
)> {
    let zeros = vec![0; lines.len()];
    let stamp = fetched
        .promotion_stamp
        .first()
        .map(|r| r.get::<String>("stamp"))
        .transpose()?
        .unwrap_or_default();
    let live = crate::promotions::apply::live(tx, &stamp, ctx.now)?;
    let (entered, _) =
        crate::promotions::apply::code_keys(input.discount_codes.as_deref().unwrap_or_default());
    if entered.len() > 5 {
        return Err(Error::invalid(
            "discount_codes",
            "at most five codes per order",
        ));
    }
    let (plain_totals, plain_tax) = price(context, c, lines, no_shipping, &zeros)?;
    let customer = fetched.customer.first();
    let cart = backroom_domain::promotions::engine::Cart {
        lines: cart_lines(&fetched.variants, lines)?,
        channel: input.channel.clone(),
        new_customer: match customer {
            Some(r) => r.get::<i64>("has_orders")? == 0,
            None => true,
        },
        customer_tags: match customer {
            Some(r) => crate::util::from_json(&r.get::<String>("tags")?),
            None => Vec::new(),
        },
        now: ctx.now,
        shipping: plain_totals.shipping,
    };
    let mut plan = crate::promotions::apply::plan(
        tx,
        crate::promotions::apply::Offer {
            live: &live,
            entered: &entered,
            code_rows: &fetched.codes,
            skip_invalid: input.skip_invalid_codes.unwrap_or(false),
            cart,
            customer_id: customer.map(|r| r.get::<i64>("id")).transpose()?,
            currency: &context.currency,
        },
    )?;
    if plan.is_empty() {
        return Ok((zeros, plan, plain_totals, plain_tax));
    }
    let discounts = std::mem::take(&mut plan.line_discounts);
    let free = no_shipping || plan.free_shipping;
    let (totals, tax) = price(context, c, lines, free, &discounts)?;
    Ok((discounts, plan, totals, tax))
}

/// The lines as promotions see them: with their product's id, type, vendor and tags.
fn cart_lines(
    variants: &[Row],
    lines: &[LineIn],
) -> Result<Vec<backroom_domain::promotions::engine::CartLine>> {
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let mut cl = backroom_domain::promotions::engine::CartLine {
            variant_id: l.variant_id,
            unit_price: l.unit_price,
            quantity: l.quantity,
            ..Default::default()
        };
        for r in variants {
            if r.get::<i64>("id")? == l.variant_id {
                cl.product_id = r.get("product_id")?;
                cl.product_type = r.get("product_type")?;
                cl.vendor = r.get("vendor")?;
                cl.tags = crate::util::from_json(&r.get::<String>("tags")?);
                break;
            }
        }
        out.push(cl);
    }
    Ok(out)
}

/// The order's totals and the tax policy that applies where it ships.
fn price(
    context: &Context,
    c: &Checked,
    lines: &[LineIn],
    no_shipping: bool,
    discounts: &[i64],
) -> Result<(Totals, backroom_domain::pricing::TaxPolicy)> {
    let price_lines: Vec<PriceLine> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| PriceLine {
            unit_price: l.unit_price,
            quantity: l.quantity,
            discount: discounts.get(i).copied().unwrap_or(0),
        })
        .collect();
    let shipping = if no_shipping {
        0
    } else {
        shipping_charge(
            ShippingRule {
                method: &c.shipping_method,
                price: context.shipping_price,
                countries: &context.ships_to,
                free_above: context.free_above,
            },
            &c.address.country,
            &price_lines,
        )?
    };
    let tax = context
        .settings
        .tax_for(&c.address.country, c.address.region.as_deref());
    Ok((price_order(&price_lines, shipping, tax)?, tax))
}

/// Sources every line from the candidates' available stock, toward the shipping address.
fn source_lines(
    context: &Context,
    c: &Checked,
    lines: &[LineIn],
    channel: &str,
) -> Result<Decision> {
    let destination = Place {
        latitude: c.address.latitude,
        longitude: c.address.longitude,
        postal_code: Some(c.address.postal_code.clone()),
        country: Some(c.address.country.clone()),
    };
    let demands: Vec<Demand> = lines
        .iter()
        .map(|l| Demand {
            variant_id: l.variant_id,
            sku: l.sku.to_string(),
            quantity: l.quantity,
            allow_backorder: l.policy == InventoryPolicy::Continue,
        })
        .collect();
    source(
        context.strategy,
        &demands,
        &context.candidates,
        &destination,
    )
    .map_err(|e| sourcing_error(e, channel, |i| format!("lines[{i}].quantity")))
}

/// A line's discount: in full for a replacement, its share of a code's otherwise.
fn line_discount(d: &Decided, i: usize) -> i64 {
    d.line_discounts.get(i).copied().unwrap_or(0)
}

/// A new order waits for its payment; a replacement owes nothing.
fn payment_at_start(d: &Decided) -> PaymentStatus {
    if d.free {
        PaymentStatus::Paid
    } else {
        PaymentStatus::Pending
    }
}

/// Queues the order's row.
fn write_order(tx: &mut dyn Sql, ctx: &Ctx, d: &Decided, customer_id: i64) -> Result<()> {
    let (t, c) = (&d.totals, &d.c);
    tx.exec_deferred(
        "INSERT INTO orders (id, number, channel_id, customer_id, currency, status, payment_status, fulfillment_status, subtotal_minor, discounts_minor, shipping_minor, tax_minor, total_minor, paid_minor, shipping_method, shipping_address, note, sourcing_strategy, sourcing_reason, placed_at, updated_at, created_by, ship_by, pickup_location_id, origin_location_id, tax_rate_ppm, shipping_taxed, tax_included, included_tax_minor, ship_country, promotion_notes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, $14, $15, $16, $17, $18, $19, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29)",
        params![
            d.ids.order_id,
            d.ids.number,
            d.context.channel_id,
            customer_id,
            d.context.currency.as_str(),
            OrderStatus::Open.as_str(),
            payment_at_start(d).as_str(),
            FulfillmentStatus::Unfulfilled.as_str(),
            t.subtotal,
            t.discounts,
            t.shipping,
            t.tax,
            t.total,
            c.shipping_method.as_str(),
            to_json(&c.address),
            c.note.clone(),
            d.decision.strategy,
            d.decision.reason.as_str(),
            ctx.now,
            ctx.actor.user_id,
            d.ship_by,
            d.pickup,
            d.input.origin_location_id,
            i64::from(d.tax.rate_ppm),
            i64::from(d.tax.shipping_taxed),
            i64::from(d.tax.included),
            t.included_tax(),
            c.address.country.trim().to_ascii_uppercase(),
            (!d.promotions.not_applied.is_empty()).then(|| to_json(&d.promotions.not_applied))
        ],
    )?;
    Ok(())
}

/// Queues the order's lines (one statement) and reservations, checks the reorder points of the
/// `levels` that have one, and gives back the lines as the order shows them.
fn write_lines(
    tx: &mut dyn Sql,
    ctx: &Ctx,
    d: &Decided,
    levels: &[crate::inventory::LockedLevel],
) -> Result<Vec<api::OrderLine>> {
    let m = |amount: i64| money(amount, &d.context.currency);
    let (lines, line_ids) = (&d.lines, &d.ids.line_ids);
    let mut vals: Vec<Val> = Vec::with_capacity(lines.len() * 10);
    let mut rows_sql = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let n = vals.len();
        rows_sql.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5,
            n + 6,
            n + 7,
            n + 8,
            n + 9,
            n + 10,
            n + 11
        ));
        let tax = d.totals.line_tax.get(i).copied().unwrap_or(0);
        vals.extend([
            line_ids[i].into(),
            d.ids.order_id.into(),
            (i as i64 + 1).into(),
            l.variant_id.into(),
            l.sku.as_str().into(),
            l.title.as_str().into(),
            l.quantity.into(),
            l.unit_price.into(),
            line_discount(d, i).into(),
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
    let mut out_lines: Vec<api::OrderLine> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| api::OrderLine {
            id: line_ids[i],
            line_no: i as i64 + 1,
            variant_id: l.variant_id,
            sku: l.sku.to_string(),
            title: l.title.clone(),
            quantity: l.quantity,
            unit_price: m(l.unit_price),
            discount: m(line_discount(d, i)),
            tax: m(d.totals.line_tax.get(i).copied().unwrap_or(0)),
            returned_quantity: 0,
            refunded_quantity: 0,
            exchange_return_id: None,
            allocations: Vec::new(),
        })
        .collect();
    let mut holds = Vec::with_capacity(d.decision.allocations.len());
    for a in &d.decision.allocations {
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
    reserve(tx, ctx.now, d.ids.order_id, &holds)?;
    // Reorder points: only levels that have one pay for the check.
    let watched: Vec<(i64, i64)> = holds
        .iter()
        .map(|h| (h.variant_id, h.location_id))
        .filter(|(v, l)| {
            levels
                .iter()
                .any(|r| r.variant_id == *v && r.location_id == *l && r.reorder_point.is_some())
        })
        .collect();
    crate::inventory::note_low(tx, ctx, &watched)?;
    Ok(out_lines)
}

/// The order's timeline, the roll-up mark, the audit entry and the `order.created` webhook.
fn record_placed(tx: &mut dyn Sql, ctx: &Ctx, d: &Decided) -> Result<()> {
    let (order_id, number, total) = (d.ids.order_id, d.ids.number, d.totals.total);
    let placed_msg = format!(
        "Order #{number} placed on {} for {}",
        d.input.channel,
        backroom_domain::Money::new(total, d.context.settings.currency)
    );
    let changes = json!({"number": number, "total": total, "lines": d.lines.len()});
    tx.exec_deferred(
        "INSERT INTO order_events (order_id, kind, message, actor, created_at) VALUES ($1, 'placed', $2, $3, $4), ($1, 'sourced', $5, $3, $4)",
        params![order_id, placed_msg, ctx.actor.name.as_str(), ctx.now, d.decision.reason.as_str()],
    )?;
    crate::analytics::rollup::mark_dirty(tx, order_id)?;
    audit::record(tx, ctx, "order.placed", "order", order_id, changes)?;
    crate::webhooks::emit(
        tx,
        ctx.now,
        "order.created",
        json!({"order_id": order_id, "number": number, "total": total, "currency": d.context.currency}),
    )
}

/// The order as `get` would show it, built from what was just written rather than read back; a
/// contract test checks that it equals what `get` returns.
fn view(
    ctx: &Ctx,
    d: Decided,
    customer: crate::customers::CustomerRef,
    lines: Vec<api::OrderLine>,
) -> Order {
    let m = |amount: i64| money(amount, &d.context.currency);
    let (t, number) = (&d.totals, d.ids.number);
    let at = rfc3339(ctx.now);
    Order {
        id: d.ids.order_id,
        number,
        name: format!("#{number}"),
        channel_id: d.context.channel_id,
        customer: api::OrderCustomer {
            id: customer.id,
            email: customer.email,
            name: format!("{} {}", customer.first_name, customer.last_name)
                .trim()
                .to_string(),
        },
        currency: d.context.currency.clone(),
        status: OrderStatus::Open.as_str().into(),
        payment_status: payment_at_start(&d).as_str().into(),
        fulfillment_status: FulfillmentStatus::Unfulfilled.as_str().into(),
        subtotal: m(t.subtotal),
        discounts: m(t.discounts),
        discount_applications: d.promotions.applications(&d.context.currency),
        discounts_not_applied: d.promotions.not_applied.clone(),
        shipping: m(t.shipping),
        tax: m(t.tax),
        prices_include_tax: t.included,
        total: m(t.total),
        paid: m(0),
        refunded: m(0),
        owed: m(t.total),
        balance: m(-t.total),
        shipping_method: d.c.shipping_method,
        shipping_address: d.c.address,
        note: d.c.note,
        lines,
        sourcing: api::Sourcing {
            strategy: d.decision.strategy.into(),
            reason: d.decision.reason,
        },
        placed_at: at.clone(),
        updated_at: at,
        cancelled_at: None,
        cancel_reason: None,
        fulfillments: Vec::new(),
        hold: None,
        ship_by: Some(rfc3339(d.ship_by)),
        pickup: d.pickup.map(|location_id| api::Pickup {
            location_id,
            deadline: None,
            picked_up_at: None,
            picked_up_by: None,
        }),
        origin_location_id: d.input.origin_location_id,
    }
}
