//! Orders: the queue with filters and bulk actions; an order's page with lines, sourcing,
//! payments, balance, shipments, returns and timeline, and every action on it; a new-order form;
//! pick lists to print.

use super::{
    App, Fields, Posted, Staff, act, badge, code_of, danger_form, describe, esc, failed,
    filter_form, form, input, link, load, location_options, names, options, page_html, pager,
    see_other, select, show_money, table, when,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::api::{
    Address, CancelOrder, Channel, CustomerInput, EditOrder, HoldOrder, LineQuantity, Location,
    NewReturn, NewReturnLine, Order, OrderEvent, OrderNote, Page, PickedUp, PlaceOrder,
    ReceiveReturn, ReceivedLine, RecordPayment, RefundLine, RefundOrder, Return, ShipOrder,
    SkuQuantity,
};
use backroom_core::fulfillment::HOLD_REASONS;
use backroom_core::orders::{self, OrderQuery};
use backroom_core::returns::REASONS as RETURN_REASONS;
use backroom_core::{Error, catalog, fulfillment, returns, settings};
use backroom_domain::order::{FulfillmentStatus, OrderStatus, PaymentStatus};
use backroom_domain::roles::Permission;
use std::fmt::Write;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/orders", get(list).post(place))
        .route("/console/orders/new", get(new_page))
        .route("/console/orders/bulk", post(bulk))
        .route("/console/orders/{id}", get(show))
        .route("/console/orders/{id}/{action}", post(order_action))
        .route("/console/returns", get(returns_list))
        .route("/console/returns/{id}/{action}", post(return_action))
        .route("/console/pick-list", get(pick_list))
}

fn any_of(values: &[&str]) -> Vec<(String, String)> {
    let mut o = vec![(String::new(), "any".to_string())];
    o.extend(options(values));
    o
}

async fn list(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = match order_query(&q) {
        Ok(v) => v,
        Err(e) => return failed(&staff, &e),
    };
    let now = backroom_core::util::now_micros();
    let (found, channels, locations) =
        match load(&app, &staff, move |tx| load_list(tx, &query, now)).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let mut body = list_links(&staff, &locations);
    body.push_str(&list_filters(&q, &channels, &locations));
    body.push_str(&list_results(&staff, &found, &channels));
    body.push_str(&pager("/console/orders", &q, found.next_cursor.as_deref()));
    page_html(&staff, &headers, "Orders", &body)
}

/// The order query the list's filters ask for, 50 to a page.
fn order_query(q: &Fields) -> backroom_core::Result<OrderQuery> {
    Ok(OrderQuery {
        status: q.opt("status"),
        payment_status: q.opt("payment_status"),
        fulfillment_status: q.opt("fulfillment_status"),
        channel_id: q.opt_int("channel_id")?,
        location_id: q.opt_int("location_id")?,
        placed_from: q.opt("placed_from"),
        placed_to: q.opt("placed_to"),
        q: q.opt("q"),
        late: q.flag("late"),
        on_hold: q.flag("on_hold"),
        limit: Some(50),
        cursor: q.opt("cursor"),
        ..Default::default()
    })
}

/// What the order list shows: a page of orders, the channels, and the locations.
fn load_list(
    tx: &mut dyn backroom_core::Sql,
    query: &OrderQuery,
    now: i64,
) -> backroom_core::Result<(Page<Order>, Vec<Channel>, Vec<Location>)> {
    Ok((
        orders::list(tx, query, now)?,
        catalog::list_channels(tx)?,
        catalog::list_locations(tx)?,
    ))
}

/// The links above the list: a new order, and each location's pick list.
fn list_links(staff: &Staff, locations: &[Location]) -> String {
    let mut body = String::new();
    let mut links = Vec::new();
    if staff.may(Permission::OrdersPlace) {
        links.push(link("/console/orders/new", "New order"));
    }
    links.push(link(
        "/console/returns?to_inspect=yes",
        "Returns to inspect",
    ));
    for l in locations {
        links.push(link(
            &format!("/console/pick-list?location_id={}", l.id),
            &format!("Pick list {}", l.code),
        ));
    }
    let _ = write!(body, "<p>{}</p>", links.join(" · "));
    body
}

/// The list's filters: number or email, statuses, channel, location, late, on hold, dates.
fn list_filters(q: &Fields, channels: &[Channel], locations: &[Location]) -> String {
    let mut body = String::new();
    let mut channel_opts = vec![(String::new(), "any".to_string())];
    channel_opts.extend(channels.iter().map(|c| (c.id.to_string(), c.name.clone())));
    let mut location_opts = vec![(String::new(), "any".to_string())];
    location_opts.extend(location_options(locations, false));
    let yes_no = |name: &str, label: &str| {
        select(
            label,
            name,
            &[
                (String::new(), "any".into()),
                ("yes".into(), "yes".into()),
                ("no".into(), "no".into()),
            ],
            &q.text(name),
        )
    };
    body.push_str(&filter_form(
        "/console/orders",
        &[
            input("Number or email", "q", "search", &q.text("q"), "autofocus"),
            select(
                "Status",
                "status",
                &any_of(&names(OrderStatus::ALL, OrderStatus::as_str)),
                &q.text("status"),
            ),
            select(
                "Payment",
                "payment_status",
                &any_of(&names(PaymentStatus::ALL, PaymentStatus::as_str)),
                &q.text("payment_status"),
            ),
            select(
                "Fulfillment",
                "fulfillment_status",
                &any_of(&names(FulfillmentStatus::ALL, FulfillmentStatus::as_str)),
                &q.text("fulfillment_status"),
            ),
            select(
                "Channel",
                "channel_id",
                &channel_opts,
                &q.text("channel_id"),
            ),
            select(
                "Location",
                "location_id",
                &location_opts,
                &q.text("location_id"),
            ),
            yes_no("late", "Late"),
            yes_no("on_hold", "On hold"),
            input(
                "Placed from",
                "placed_from",
                "date",
                &q.text("placed_from"),
                "",
            ),
            input(
                "Placed before",
                "placed_to",
                "date",
                &q.text("placed_to"),
                "",
            ),
        ]
        .concat(),
    ));
    body
}

/// The orders found, in a table whose selection a member who may manage orders acts on.
fn list_results(staff: &Staff, found: &Page<Order>, channels: &[Channel]) -> String {
    let channel_name = |id: i64| {
        channels
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|o| {
            vec![
                format!(
                    "<input type=\"checkbox\" name=\"order_id\" value=\"{}\" aria-label=\"Select {}\">",
                    o.id,
                    esc(&o.name)
                ),
                link(&format!("/console/orders/{}", o.id), &o.name),
                esc(&when(&o.placed_at)),
                esc(&o.customer.name),
                esc(&channel_name(o.channel_id)),
                esc(&show_money(&o.total)),
                badge(&o.status),
                badge(&o.payment_status),
                badge(&o.fulfillment_status),
                match &o.hold {
                    Some(h) => badge(&format!("hold: {}", h.reason)),
                    None => String::new(),
                },
            ]
        })
        .collect();
    let mut bulk = table(
        "Orders, newest first",
        &[
            "",
            "Order",
            "Placed",
            "Customer",
            "Channel",
            "Total",
            "Status",
            "Payment",
            "Fulfillment",
            "",
        ],
        &rows,
        "No order matches these filters.",
    );
    if !rows.is_empty() && staff.may(Permission::OrdersManage) {
        let _ = write!(
            bulk,
            "<p>{}{}</p>",
            select(
                "With the selected orders",
                "action",
                &[
                    ("mark_paid".into(), "mark paid".into()),
                    ("hold".into(), "hold (customer request)".into()),
                    ("release".into(), "release hold".into()),
                    ("cancel".into(), "cancel".into()),
                ],
                "",
            ),
            input("Note", "note", "text", "", "")
        );
        bulk = form(staff, "/console/orders/bulk", &bulk, "Apply to selected");
    }
    bulk
}

/// One action on many orders, each in its own transaction: what one refuses does not stop the
/// others, and the notice says which.
async fn bulk(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    let ids: Vec<i64> = f
        .all("order_id")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    if ids.is_empty() {
        return see_other("/console/orders", false, "Select at least one order.");
    }
    let action = f.text("action");
    let note = f.opt("note");
    let (mut done, mut refused) = (0, Vec::new());
    for id in ids.into_iter().take(200) {
        let (ctx, action, note) = (staff.ctx(), action.clone(), note.clone());
        let r = app
            .db
            .write(move |tx| match action.as_str() {
                "mark_paid" => orders::record_payment(
                    tx,
                    &ctx,
                    id,
                    &RecordPayment {
                        status: "paid".into(),
                        amount: None,
                        reference: note.clone(),
                    },
                ),
                "hold" => fulfillment::hold(
                    tx,
                    &ctx,
                    id,
                    &HoldOrder {
                        reason: "customer_request".into(),
                        note: note.clone(),
                    },
                ),
                "release" => fulfillment::release_hold(tx, &ctx, id),
                "cancel" => orders::cancel(
                    tx,
                    &ctx,
                    id,
                    &CancelOrder {
                        reason: note.clone(),
                    },
                ),
                _ => Err(Error::invalid(
                    "action",
                    "must be mark_paid, hold, release or cancel",
                )),
            })
            .await;
        match r {
            Ok(_) => done += 1,
            Err(e) => refused.push(format!("order {id}: {}", describe(&e))),
        }
    }
    let mut text = format!("{done} order{} updated.", if done == 1 { "" } else { "s" });
    if !refused.is_empty() {
        let _ = write!(text, " Refused: {}", refused.join("; "));
    }
    see_other("/console/orders", refused.is_empty(), &text)
}

async fn new_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersPlace).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    new_order_page(&app, &staff, &headers, None).await
}

/// The new-order form: empty, or after a refusal what was typed (the same idempotency key, so a
/// corrected form still places one order) with the reason above it.
async fn new_order_page(
    app: &App,
    staff: &Staff,
    headers: &HeaderMap,
    refused: Option<(&Fields, &Error)>,
) -> Response {
    let (channels, locations) = match load(app, staff, |tx| {
        Ok((catalog::list_channels(tx)?, catalog::list_locations(tx)?))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let typed = |name: &str| refused.map(|(f, _)| f.text(name)).unwrap_or_default();
    let channel_opts: Vec<(String, String)> = channels
        .iter()
        .filter(|c| c.active)
        .map(|c: &Channel| (c.code.clone(), c.name.clone()))
        .collect();
    let mut pickup = vec![(String::new(), "none (ship it)".to_string())];
    pickup.extend(
        locations
            .iter()
            .filter(|l| l.offers_pickup)
            .map(|l| (l.id.to_string(), format!("collect at {}", l.name))),
    );
    let key = match refused.and_then(|(f, _)| f.opt("idempotency_key")) {
        Some(k) => k,
        None => format!("console-{}", backroom_core::util::random_hex(12)),
    };
    let channel = match refused {
        Some(_) => typed("channel"),
        None => "online".to_string(),
    };
    let fields = [
        format!(
            "<input type=\"hidden\" name=\"idempotency_key\" value=\"{}\">",
            esc(&key)
        ),
        select("Channel", "channel", &channel_opts, &channel),
        "<fieldset><legend>Customer</legend>".into(),
        input("Email", "email", "email", &typed("email"), "required"),
        input("First name", "first_name", "text", &typed("first_name"), ""),
        input("Last name", "last_name", "text", &typed("last_name"), ""),
        input("Phone", "phone", "tel", &typed("phone"), ""),
        "</fieldset><fieldset><legend>Ship to</legend>".into(),
        input(
            "Name",
            "address_name",
            "text",
            &typed("address_name"),
            "required",
        ),
        input("Address", "line1", "text", &typed("line1"), "required"),
        input("City", "city", "text", &typed("city"), "required"),
        input(
            "Postal code",
            "postal_code",
            "text",
            &typed("postal_code"),
            "required",
        ),
        input(
            "Country (2 letters)",
            "country",
            "text",
            &typed("country"),
            "required maxlength=\"2\" size=\"3\"",
        ),
        select(
            "Pickup",
            "pickup_location_id",
            &pickup,
            &typed("pickup_location_id"),
        ),
        "</fieldset><fieldset><legend>Lines</legend>".into(),
        format!(
            "<label>One line per SKU: the SKU, a space, the quantity <textarea name=\"lines\" rows=\"4\" cols=\"30\" required placeholder=\"TEE-M-BLK 2\">{}</textarea></label>",
            esc(&typed("lines"))
        ),
        input("Note", "note", "text", &typed("note"), ""),
        "</fieldset>".into(),
    ];
    let mut body = String::new();
    if let Some((_, e)) = refused {
        let _ = write!(
            body,
            "<p class=\"notice error\" role=\"alert\">{}</p>",
            esc(&describe(e))
        );
    }
    body.push_str(&form(
        staff,
        "/console/orders",
        &fields.concat(),
        "Place order",
    ));
    let status = refused.map_or(axum::http::StatusCode::OK, |(_, e)| super::status_of(e));
    axum::response::IntoResponse::into_response((
        status,
        page_html(staff, headers, "New order", &body),
    ))
}

/// `SKU quantity` per line (quantity 1 when left out).
fn parse_lines(text: &str) -> backroom_core::Result<Vec<SkuQuantity>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut parts = line.split_whitespace();
        let Some(sku) = parts.next() else { continue };
        let quantity = match parts.next() {
            None => 1,
            Some(q) => q.parse().map_err(|_| {
                Error::invalid(
                    "lines",
                    format!("line {}: the quantity must be a whole number", i + 1),
                )
            })?,
        };
        out.push(SkuQuantity {
            sku: sku.to_string(),
            quantity,
        });
    }
    if out.is_empty() {
        return Err(Error::invalid("lines", "name at least one SKU"));
    }
    Ok(out)
}

async fn place(
    State(app): State<App>,
    headers: HeaderMap,
    Posted { staff, form: f }: Posted,
) -> Response {
    let order = match order_of(&f) {
        Ok(o) => std::sync::Arc::new(o),
        Err(e) => return new_order_page(&app, &staff, &headers, Some((&f, &e))).await,
    };
    let key = f.opt("idempotency_key");
    let ctx = staff.ctx();
    match app
        .db
        .write(move |tx| orders::place(tx, &ctx, &order, key.as_deref()))
        .await
    {
        Ok(p) => super::see_other(
            &format!("/console/orders/{}", p.order.id),
            true,
            &format!(
                "Order {} placed: {}.",
                p.order.name,
                show_money(&p.order.total)
            ),
        ),
        Err(e) => new_order_page(&app, &staff, &headers, Some((&f, &e))).await,
    }
}

/// The order the new-order form describes.
fn order_of(f: &Fields) -> backroom_core::Result<PlaceOrder> {
    let pickup = f.opt_int("pickup_location_id")?;
    Ok(PlaceOrder {
        channel: f.text("channel"),
        customer: CustomerInput {
            email: f.text("email"),
            first_name: f.opt("first_name"),
            last_name: f.opt("last_name"),
            phone: f.opt("phone"),
            accepts_marketing: None,
        },
        shipping_address: Address {
            name: f.text("address_name"),
            line1: f.text("line1"),
            city: f.text("city"),
            postal_code: f.text("postal_code"),
            country: f.text("country").to_uppercase(),
            ..Default::default()
        },
        shipping_method: pickup.map(|_| "pickup".to_string()),
        pickup_location_id: pickup,
        lines: parse_lines(&f.text("lines"))?,
        note: f.opt("note"),
        origin_location_id: None,
    })
}

/// Units shipped per order line.
fn shipped_of(o: &Order, line_id: i64) -> i64 {
    o.fulfillments
        .iter()
        .flat_map(|f| &f.lines)
        .filter(|l| l.order_line_id == line_id)
        .map(|l| l.quantity)
        .sum()
}

async fn show(State(app): State<App>, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let OrderPage {
        order: o,
        timeline,
        returns: rets,
        locations,
        channels,
    } = match load(&app, &staff, move |tx| load_order(tx, id)).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = order_summary(&staff, &o, &channels);
    body.push_str(&lines_section(&o, &locations));
    body.push_str(&money_section(&o, &locations));
    body.push_str(&shipments_section(&staff, &o, &locations));
    body.push_str("<h2>Returns</h2>");
    if rets.is_empty() {
        body.push_str("<p class=\"empty\">No return.</p>");
    }
    for r in &rets {
        body.push_str(&return_section(&staff, &o, r, &locations));
    }
    body.push_str("<h2>Actions</h2><div class=\"grid\">");
    body.push_str(&actions(&staff, &o, &locations));
    body.push_str("</div>");
    body.push_str(&timeline_section(&timeline));
    page_html(&staff, &headers, &format!("Order {}", o.name), &body)
}

/// What an order's page shows, read in one transaction.
struct OrderPage {
    order: Order,
    timeline: Vec<OrderEvent>,
    returns: Vec<Return>,
    locations: Vec<Location>,
    channels: Vec<Channel>,
}

/// Reads an order's page: the order, its timeline, its returns, the locations and channels.
fn load_order(tx: &mut dyn backroom_core::Sql, id: i64) -> backroom_core::Result<OrderPage> {
    Ok(OrderPage {
        order: orders::get(tx, id)?,
        timeline: orders::timeline(tx, id)?,
        returns: returns::list_for_order(tx, id)?,
        locations: catalog::list_locations(tx)?,
        channels: catalog::list_channels(tx)?,
    })
}

/// The order's statuses, when and where it was placed, its customer, any hold or cancellation.
fn order_summary(staff: &Staff, o: &Order, channels: &[Channel]) -> String {
    let mut body = String::new();
    let channel = channels
        .iter()
        .find(|c| c.id == o.channel_id)
        .map_or_else(String::new, |c| c.name.clone());
    let _ = write!(
        body,
        "<p>{} {} {} · placed {} on {} · customer {}{}</p>",
        badge(&o.status),
        badge(&o.payment_status),
        badge(&o.fulfillment_status),
        esc(&when(&o.placed_at)),
        esc(&channel),
        if staff.may(Permission::CustomersRead) {
            link(
                &format!("/console/customers/{}", o.customer.id),
                &format!("{} <{}>", o.customer.name, o.customer.email),
            )
        } else {
            esc(&o.customer.name)
        },
        o.ship_by
            .as_deref()
            .map(|s| format!(" · ship by {}", esc(&when(s))))
            .unwrap_or_default()
    );
    if let Some(h) = &o.hold {
        let _ = write!(
            body,
            "<p class=\"notice error\" role=\"status\">On hold since {}: {}{}</p>",
            esc(&when(&h.held_at)),
            esc(&h.reason.replace('_', " ")),
            h.note
                .as_deref()
                .map(|n| format!(" ({})", esc(n)))
                .unwrap_or_default()
        );
    }
    if let Some(reason) = &o.cancel_reason {
        let _ = write!(body, "<p>Cancelled: {}</p>", esc(reason));
    }
    body
}

/// The order's lines with their allocations, and how they were sourced.
fn lines_section(o: &Order, locations: &[Location]) -> String {
    let mut body = String::new();
    let rows: Vec<Vec<String>> = o
        .lines
        .iter()
        .map(|l| {
            let alloc = l
                .allocations
                .iter()
                .map(|a| {
                    format!(
                        "{} × {}{}{}",
                        esc(&code_of(locations, a.location_id)),
                        a.quantity,
                        if a.backordered > 0 {
                            format!(" ({} backordered)", a.backordered)
                        } else {
                            String::new()
                        },
                        if a.live { "" } else { " (released)" }
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>");
            vec![
                esc(&l.sku),
                esc(&l.title),
                l.quantity.to_string(),
                esc(&show_money(&l.unit_price)),
                esc(&show_money(&l.discount)),
                esc(&show_money(&l.tax)),
                shipped_of(o, l.id).to_string(),
                l.returned_quantity.to_string(),
                l.refunded_quantity.to_string(),
                alloc,
            ]
        })
        .collect();
    body.push_str(&table(
        "Lines",
        &[
            "SKU",
            "Item",
            "Qty",
            "Price",
            "Discount",
            "Tax",
            "Shipped",
            "Returned",
            "Refunded",
            "Reserved at",
        ],
        &rows,
        "No line.",
    ));
    let _ = write!(
        body,
        "<p>Sourcing: <strong>{}</strong>: {}</p>",
        esc(&o.sourcing.strategy),
        esc(&o.sourcing.reason)
    );
    body
}

/// The money (totals, payments, refunds, balance) beside where the order goes.
fn money_section(o: &Order, locations: &[Location]) -> String {
    let mut body = String::new();
    body.push_str("<div class=\"grid\"><section><h2>Money</h2><dl>");
    for (label, m) in [
        ("Subtotal", &o.subtotal),
        ("Discounts", &o.discounts),
        ("Shipping", &o.shipping),
        (
            if o.prices_include_tax {
                "Tax (included in prices)"
            } else {
                "Tax"
            },
            &o.tax,
        ),
        ("Total", &o.total),
        ("Paid", &o.paid),
        ("Refunded", &o.refunded),
        ("Owed", &o.owed),
    ] {
        let _ = write!(body, "<dt>{label}</dt><dd>{}</dd>", esc(&show_money(m)));
    }
    let balance = match o.balance.amount {
        0 => "settled".to_string(),
        a if a > 0 => format!("{} to refund", show_money(&o.balance)),
        _ => format!(
            "{} to collect",
            super::money(-o.balance.amount, &o.balance.currency)
        ),
    };
    let _ = write!(
        body,
        "<dt>Balance</dt><dd data-balance=\"{}\"><strong>{}</strong></dd></dl></section>",
        o.balance.amount,
        esc(&balance)
    );
    let a = &o.shipping_address;
    let _ = write!(
        body,
        "<section><h2>{}</h2><p>{}<br>{}<br>{} {}<br>{}</p>{}</section></div>",
        if o.pickup.is_some() {
            "Click and collect"
        } else {
            "Ship to"
        },
        esc(&a.name),
        esc(&a.line1),
        esc(&a.postal_code),
        esc(&a.city),
        esc(&a.country),
        o.pickup
            .as_ref()
            .map(|p| format!(
                "<p>Collect at {}{}{}</p>",
                esc(&code_of(locations, p.location_id)),
                p.deadline
                    .as_deref()
                    .map(|d| format!(", by {}", esc(&when(d))))
                    .unwrap_or_default(),
                p.picked_up_at
                    .as_deref()
                    .map(|d| format!("; picked up {}", esc(&when(d))))
                    .unwrap_or_default()
            ))
            .unwrap_or_default()
    );
    body
}

/// The order's shipments, each shipped one with a form to mark it delivered.
fn shipments_section(staff: &Staff, o: &Order, locations: &[Location]) -> String {
    let mut body = String::new();
    let fulfil = staff.may(Permission::OrdersFulfil);
    let rows: Vec<Vec<String>> = o
        .fulfillments
        .iter()
        .map(|f| {
            vec![
                f.id.to_string(),
                esc(&code_of(locations, f.location_id)),
                badge(&f.status),
                esc(&[f.carrier.as_deref(), f.service.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ")),
                match (&f.tracking_number, &f.tracking_url) {
                    (Some(n), Some(u)) if u.starts_with("https://") => link(u, n),
                    (Some(n), _) => esc(n),
                    _ => String::new(),
                },
                f.lines
                    .iter()
                    .map(|l| {
                        let sku = o
                            .lines
                            .iter()
                            .find(|x| x.id == l.order_line_id)
                            .map_or("?", |x| x.sku.as_str());
                        format!("{} × {}", esc(sku), l.quantity)
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
                esc(&when(&f.shipped_at)),
                if fulfil && f.status == "shipped" {
                    form(
                        staff,
                        &format!("/console/orders/{}/deliver", o.id),
                        &format!(
                            "<input type=\"hidden\" name=\"fulfillment_id\" value=\"{}\">",
                            f.id
                        ),
                        "Mark delivered",
                    )
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    body.push_str("<h2>Shipments</h2>");
    body.push_str(&table(
        "Shipments",
        &[
            "#", "From", "Status", "Carrier", "Tracking", "Units", "Shipped", "",
        ],
        &rows,
        "Nothing shipped yet.",
    ));
    body
}

/// The order's timeline of events.
fn timeline_section(timeline: &[OrderEvent]) -> String {
    let mut body = String::new();
    let rows: Vec<Vec<String>> = timeline
        .iter()
        .map(|e| {
            vec![
                esc(&when(&e.created_at)),
                badge(&e.kind),
                esc(&e.message),
                esc(&e.actor),
            ]
        })
        .collect();
    body.push_str("<h2>Timeline</h2>");
    body.push_str(&table(
        "Timeline",
        &["When", "What", "Detail", "By"],
        &rows,
        "Nothing yet.",
    ));
    body
}

fn return_section(staff: &Staff, o: &Order, r: &Return, locations: &[Location]) -> String {
    let mut out = format!(
        "<section class=\"return\"><h3>Return {} {}{}</h3>",
        r.id,
        badge(&r.status),
        if r.exchange { " (exchange)" } else { "" }
    );
    let rows: Vec<Vec<String>> = r
        .lines
        .iter()
        .map(|l| {
            vec![
                esc(&l.sku),
                l.quantity.to_string(),
                esc(&l.reason.replace('_', " ")),
                l.received_quantity.to_string(),
                format!(
                    "{} restocked, {} unavailable, {} written off",
                    l.restocked, l.unavailable, l.written_off
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        &format!("Return {}", r.id),
        &["SKU", "Qty", "Reason", "Received", "Disposition"],
        &rows,
        "No line.",
    ));
    let open = matches!(r.status.as_str(), "requested" | "partially_received");
    if open && staff.may(Permission::OrdersFulfil) {
        let mut fields = String::new();
        for l in &r.lines {
            let left = l.quantity - l.received_quantity;
            if left <= 0 {
                continue;
            }
            let _ = write!(
                fields,
                "<p><strong>{}</strong> {}{}</p>",
                esc(&l.sku),
                input(
                    "Units received",
                    &format!("received_{}", l.order_line_id),
                    "number",
                    &left.to_string(),
                    &format!("min=\"0\" max=\"{left}\"")
                ),
                select(
                    "Disposition",
                    &format!("disposition_{}", l.order_line_id),
                    &[
                        ("restock".into(), "restock (sellable)".into()),
                        ("unavailable".into(), "keep, not sellable".into()),
                        ("write_off".into(), "write off".into()),
                    ],
                    "restock"
                )
            );
        }
        fields.push_str(&select(
            "Back to",
            "location_id",
            &location_options(locations, false),
            "",
        ));
        out.push_str(&form(
            staff,
            &format!("/console/returns/{}/receive", r.id),
            &fields,
            "Receive return",
        ));
    }
    if r.status == "requested" && staff.may(Permission::OrdersManage) {
        out.push_str(&form(
            staff,
            &format!("/console/returns/{}/cancel", r.id),
            "",
            "Cancel return",
        ));
    }
    let _ = o;
    out.push_str("</section>");
    out
}

/// The forms for what can be done to the order now, by the signed-in member's role.
fn actions(staff: &Staff, o: &Order, locations: &[Location]) -> String {
    let mut out = fulfilment_forms(staff, o, locations);
    out.push_str(&payment_form(staff, o));
    out.push_str(&manage_forms(staff, o));
    out.push_str(&return_form(staff, o));
    out.push_str(&refund_form(staff, o));
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    if staff.may(Permission::OrdersRead) {
        out.push_str(&form(
            staff,
            &path("note"),
            &input("Note for the team", "message", "text", "", "required"),
            "Add note",
        ));
    }
    out
}

/// Shipping what is reserved at a location, or handing a pickup over.
fn fulfilment_forms(staff: &Staff, o: &Order, locations: &[Location]) -> String {
    let mut out = String::new();
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    let open = o.status == "open";
    let fulfil = staff.may(Permission::OrdersFulfil);
    let unshipped: Vec<i64> = {
        let mut ids: Vec<i64> = o
            .lines
            .iter()
            .flat_map(|l| &l.allocations)
            .filter(|a| a.live)
            .map(|a| a.location_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    if open && fulfil && !unshipped.is_empty() && o.pickup.is_none() {
        let locs: Vec<(String, String)> = unshipped
            .iter()
            .map(|id| (id.to_string(), code_of(locations, *id)))
            .collect();
        out.push_str(&form(
            staff,
            &path("ship"),
            &[
                "<p>Ships every unit reserved at the location.</p>".to_string(),
                select("From", "location_id", &locs, ""),
                input("Carrier", "carrier", "text", "", ""),
                input("Tracking number", "tracking_number", "text", "", ""),
                input("Tracking URL", "tracking_url", "url", "", ""),
            ]
            .concat(),
            "Ship",
        ));
    }
    if open && fulfil && o.pickup.is_some() {
        if o.fulfillment_status == "ready_for_pickup" {
            out.push_str(&form(
                staff,
                &path("picked_up"),
                &input(
                    "Handed over by",
                    "handed_over_by",
                    "text",
                    &staff.actor.name,
                    "required",
                ),
                "Picked up",
            ));
        } else {
            out.push_str(&form(staff, &path("ready"), "", "Ready for pickup"));
        }
    }
    out
}

/// Recording a payment while one is due, or capturing what the customer owes.
fn payment_form(staff: &Staff, o: &Order) -> String {
    let mut out = String::new();
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    let open = o.status == "open";
    let manage = staff.may(Permission::OrdersManage);
    if manage && matches!(o.payment_status.as_str(), "pending" | "authorized") && open {
        out.push_str(&form(
            staff,
            &path("pay"),
            &[
                select(
                    "Payment",
                    "status",
                    &[
                        ("paid".into(), "paid".into()),
                        ("authorized".into(), "authorized".into()),
                        ("voided".into(), "voided".into()),
                    ],
                    "paid",
                ),
                input("Gateway reference", "reference", "text", "", ""),
            ]
            .concat(),
            "Record payment",
        ));
    } else if manage && o.balance.amount < 0 {
        out.push_str(&form(
            staff,
            &path("pay"),
            "<input type=\"hidden\" name=\"status\" value=\"paid\"><p>The customer owes the difference.</p>",
            "Capture what is due",
        ));
    }
    out
}

/// Holding or releasing an open order, cancelling it before it ships, and editing its lines.
fn manage_forms(staff: &Staff, o: &Order) -> String {
    let mut out = String::new();
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    let open = o.status == "open";
    let manage = staff.may(Permission::OrdersManage);
    if open && manage {
        if o.hold.is_some() {
            out.push_str(&form(staff, &path("release"), "", "Release hold"));
        } else {
            out.push_str(&form(
                staff,
                &path("hold"),
                &[
                    select("Reason", "reason", &options(&HOLD_REASONS), "other"),
                    input("Note", "note", "text", "", ""),
                ]
                .concat(),
                "Hold",
            ));
        }
        if o.fulfillments.is_empty() {
            out.push_str(&danger_form(
                staff,
                &path("cancel"),
                &input("Reason", "reason", "text", "", ""),
                "Cancel order",
                "Yes, cancel this order and release its stock",
            ));
        }
        // Edit: new quantities for lines, and a SKU to add.
        let mut fields = String::new();
        for l in &o.lines {
            fields.push_str(&input(
                &format!("{} quantity", l.sku),
                &format!("qty_{}", l.id),
                "number",
                &l.quantity.to_string(),
                "min=\"0\" size=\"4\"",
            ));
        }
        fields.push_str(&input("Add SKU", "add_sku", "text", "", ""));
        fields.push_str(&input(
            "Units",
            "add_quantity",
            "number",
            "",
            "min=\"1\" size=\"4\"",
        ));
        fields.push_str(&input("Why", "reason", "text", "", ""));
        out.push_str(&form(staff, &path("edit"), &fields, "Edit order"));
    }
    out
}

/// A return or exchange of shipped units.
fn return_form(staff: &Staff, o: &Order) -> String {
    let mut out = String::new();
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    let manage = staff.may(Permission::OrdersManage);
    let returnable: Vec<_> = o
        .lines
        .iter()
        .map(|l| (l, shipped_of(o, l.id) - l.returned_quantity))
        .filter(|(_, n)| *n > 0)
        .collect();
    if manage && !returnable.is_empty() {
        let mut fields = String::new();
        for (l, n) in &returnable {
            let _ = write!(
                fields,
                "<p><strong>{}</strong> {}{}</p>",
                esc(&l.sku),
                input(
                    "Units to return",
                    &format!("return_{}", l.id),
                    "number",
                    "0",
                    &format!("min=\"0\" max=\"{n}\"")
                ),
                select(
                    "Reason",
                    &format!("reason_{}", l.id),
                    &options(&RETURN_REASONS),
                    "changed_mind"
                )
            );
        }
        fields.push_str(&input(
            "Exchange for SKU (optional)",
            "exchange_sku",
            "text",
            "",
            "",
        ));
        fields.push_str(&input(
            "Units",
            "exchange_quantity",
            "number",
            "",
            "min=\"1\" size=\"4\"",
        ));
        fields.push_str(&input("Note", "note", "text", "", ""));
        out.push_str(&form(
            staff,
            &path("return"),
            &fields,
            "Create return or exchange",
        ));
    }
    out
}

/// A refund of what was paid: an amount, or units per line.
fn refund_form(staff: &Staff, o: &Order) -> String {
    let mut out = String::new();
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    let manage = staff.may(Permission::OrdersManage);
    if manage && o.paid.amount > o.refunded.amount {
        let mut fields = format!(
            "<p>Up to {} can be refunded. Give an amount, or units per line.</p>",
            esc(&super::money(
                o.paid.amount - o.refunded.amount,
                &o.currency
            ))
        );
        fields.push_str(&input(
            "Amount",
            "amount",
            "text",
            "",
            "inputmode=\"decimal\" size=\"8\"",
        ));
        for l in &o.lines {
            fields.push_str(&input(
                &format!("{} units", l.sku),
                &format!("refund_{}", l.id),
                "number",
                "",
                "min=\"0\" size=\"4\"",
            ));
        }
        fields.push_str("<label><input type=\"checkbox\" name=\"shipping\" value=\"yes\"> Refund shipping</label>");
        fields.push_str(&input("Reason", "reason", "text", "", "required"));
        out.push_str(&form(staff, &path("refund"), &fields, "Refund"));
    }
    out
}

async fn order_action(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let back = format!("/console/orders/{id}");
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| {
            let message = match action.as_str() {
                "ship" => {
                    let o = fulfillment::ship(
                        tx,
                        ctx,
                        id,
                        &ShipOrder {
                            location_id: f.int("location_id")?,
                            lines: None,
                            carrier: f.opt("carrier"),
                            service: None,
                            tracking_number: f.opt("tracking_number"),
                            tracking_url: f.opt("tracking_url"),
                        },
                    )?;
                    format!(
                        "Shipped: the order is {}.",
                        o.fulfillment_status.replace('_', " ")
                    )
                }
                "deliver" => {
                    fulfillment::deliver(tx, ctx, f.int("fulfillment_id")?)?;
                    "Marked delivered.".to_string()
                }
                "ready" => {
                    fulfillment::ready_for_pickup(tx, ctx, id)?;
                    "Ready for pickup: the customer can come.".to_string()
                }
                "picked_up" => {
                    fulfillment::picked_up(
                        tx,
                        ctx,
                        id,
                        &PickedUp {
                            handed_over_by: f.text("handed_over_by"),
                        },
                    )?;
                    "Handed over.".to_string()
                }
                "pay" => {
                    let o = orders::record_payment(
                        tx,
                        ctx,
                        id,
                        &RecordPayment {
                            status: f.text("status"),
                            amount: None,
                            reference: f.opt("reference"),
                        },
                    )?;
                    format!("Payment recorded: {}.", o.payment_status.replace('_', " "))
                }
                "hold" => {
                    fulfillment::hold(
                        tx,
                        ctx,
                        id,
                        &HoldOrder {
                            reason: f.text("reason"),
                            note: f.opt("note"),
                        },
                    )?;
                    "On hold: it will not ship until released.".to_string()
                }
                "release" => {
                    fulfillment::release_hold(tx, ctx, id)?;
                    "Hold released.".to_string()
                }
                "cancel" => {
                    f.confirmed()?;
                    orders::cancel(
                        tx,
                        ctx,
                        id,
                        &CancelOrder {
                            reason: f.opt("reason"),
                        },
                    )?;
                    "Cancelled; its reservations are released.".to_string()
                }
                "note" => {
                    orders::add_note(
                        tx,
                        ctx,
                        id,
                        &OrderNote {
                            message: f.text("message"),
                        },
                    )?;
                    "Note added.".to_string()
                }
                "edit" => edit_lines(tx, ctx, id, &f)?,
                "return" => return_lines(tx, ctx, id, &f)?,
                "refund" => refund_lines(tx, ctx, id, &f)?,
                _ => {
                    return Err(Error::NotFound {
                        entity: "order action",
                    });
                }
            };
            Ok(message)
        },
        String::clone,
    )
    .await
}

/// The numbers a form gives per order line, in fields named `prefix` and the line's id.
fn line_numbers(
    tx: &mut dyn backroom_core::Sql,
    id: i64,
    f: &Fields,
    prefix: &str,
) -> backroom_core::Result<Vec<(i64, i64)>> {
    let o = orders::get(tx, id)?;
    let mut out = Vec::new();
    for l in &o.lines {
        if let Some(n) = f.opt_int(&format!("{prefix}{}", l.id))? {
            out.push((l.id, n));
        }
    }
    Ok(out)
}

/// The order page's edit: changed quantities and an added SKU.
fn edit_lines(
    tx: &mut dyn backroom_core::Sql,
    ctx: &backroom_core::Ctx,
    id: i64,
    f: &Fields,
) -> backroom_core::Result<String> {
    let o = orders::get(tx, id)?;
    let change: Vec<LineQuantity> = line_numbers(tx, id, f, "qty_")?
        .into_iter()
        .filter(|(line, q)| o.lines.iter().any(|l| l.id == *line && l.quantity != *q))
        .map(|(line_id, quantity)| LineQuantity { line_id, quantity })
        .collect();
    let add = match f.opt("add_sku") {
        Some(sku) => vec![SkuQuantity {
            sku,
            quantity: f.opt_int("add_quantity")?.unwrap_or(1),
        }],
        None => vec![],
    };
    if change.is_empty() && add.is_empty() {
        return Err(Error::invalid("quantity", "nothing to change"));
    }
    let o = backroom_core::orders::edits::edit(
        tx,
        ctx,
        id,
        &EditOrder {
            add,
            change,
            reason: f.opt("reason"),
        },
    )?;
    Ok(format!(
        "Edited: the total is now {}.",
        show_money(&o.total)
    ))
}

/// The order page's return (or exchange) of the units entered per line.
fn return_lines(
    tx: &mut dyn backroom_core::Sql,
    ctx: &backroom_core::Ctx,
    id: i64,
    f: &Fields,
) -> backroom_core::Result<String> {
    let lines: Vec<NewReturnLine> = line_numbers(tx, id, f, "return_")?
        .into_iter()
        .filter(|(_, q)| *q != 0)
        .map(|(line_id, quantity)| NewReturnLine {
            line_id,
            quantity,
            reason: f.text(&format!("reason_{line_id}")),
        })
        .collect();
    if lines.is_empty() {
        return Err(Error::invalid("quantity", "return at least one unit"));
    }
    let exchange_lines = match f.opt("exchange_sku") {
        Some(sku) => Some(vec![SkuQuantity {
            sku,
            quantity: f.opt_int("exchange_quantity")?.unwrap_or(1),
        }]),
        None => None,
    };
    let r = returns::create(
        tx,
        ctx,
        id,
        &NewReturn {
            lines,
            exchange_lines,
            note: f.opt("note"),
            ..Default::default()
        },
    )?;
    Ok(if r.exchange {
        format!(
            "Exchange {} created: the new items are reserved; the difference is {}.",
            r.id,
            show_money(&r.price_difference)
        )
    } else {
        format!(
            "Return {} created: receive it when the parcel arrives.",
            r.id
        )
    })
}

/// The order page's refund: an amount, or the units entered per line, and shipping.
fn refund_lines(
    tx: &mut dyn backroom_core::Sql,
    ctx: &backroom_core::Ctx,
    id: i64,
    f: &Fields,
) -> backroom_core::Result<String> {
    let cur = settings::load(tx)?.currency;
    let lines: Vec<RefundLine> = line_numbers(tx, id, f, "refund_")?
        .into_iter()
        .filter(|(_, q)| *q != 0)
        .map(|(line_id, quantity)| RefundLine { line_id, quantity })
        .collect();
    let o = orders::refund(
        tx,
        ctx,
        id,
        &RefundOrder {
            amount: f.opt_amount("amount", cur)?,
            lines: if lines.is_empty() { None } else { Some(lines) },
            shipping: f.flag("shipping"),
            reason: f.text("reason"),
            note: None,
        },
    )?;
    Ok(format!("Refunded: {} in all.", show_money(&o.refunded)))
}

async fn return_action(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let order = match load(&app, &staff, move |tx| {
        Ok(returns::get_return(tx, id)?.order_id)
    })
    .await
    {
        Ok(o) => o,
        Err(r) => return r,
    };
    let back = format!("/console/orders/{order}");
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| match action.as_str() {
            "receive" => {
                let r = returns::get_return(tx, id)?;
                let location_id = f.opt_int("location_id")?;
                let mut lines = Vec::new();
                for l in &r.lines {
                    let q = f
                        .opt_int(&format!("received_{}", l.order_line_id))?
                        .unwrap_or(0);
                    if q > 0 {
                        lines.push(ReceivedLine {
                            line_id: l.order_line_id,
                            quantity: q,
                            disposition: f.text(&format!("disposition_{}", l.order_line_id)),
                            location_id,
                        });
                    }
                }
                if lines.is_empty() {
                    return Err(Error::invalid("quantity", "receive at least one unit"));
                }
                let r = returns::receive(tx, ctx, id, &ReceiveReturn { lines })?;
                Ok(format!(
                    "Return {} is {}.",
                    r.id,
                    r.status.replace('_', " ")
                ))
            }
            "cancel" => {
                let r = returns::cancel(tx, ctx, id)?;
                Ok(format!("Return {} cancelled.", r.id))
            }
            _ => Err(Error::NotFound {
                entity: "return action",
            }),
        },
        String::clone,
    )
    .await
}

async fn pick_list(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let location = match q.int("location_id") {
        Ok(l) => l,
        Err(e) => return failed(&staff, &e),
    };
    let now = backroom_core::util::now_micros();
    let (list, loc) = match load(&app, &staff, move |tx| {
        Ok((
            backroom_core::analytics::operations::pick_list(tx, location, 100, now)?,
            catalog::get_location(tx, location)?,
        ))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = format!(
        "<p>{} orders, oldest first; items in bin order. <button type=\"button\" onclick=\"window.print()\">Print</button></p>",
        list.order_numbers.len()
    );
    let rows: Vec<Vec<String>> = list
        .items
        .iter()
        .map(|i| {
            vec![
                esc(i.bin.as_deref().unwrap_or("–")),
                esc(&i.sku),
                esc(&i.title),
                format!("<strong>{}</strong>", i.quantity),
                i.orders
                    .iter()
                    .map(|o| format!("#{} × {}", o.number, o.quantity))
                    .collect::<Vec<_>>()
                    .join(", "),
                "☐".into(),
            ]
        })
        .collect();
    body.push_str(&table(
        "Pick list",
        &["Bin", "SKU", "Item", "Units", "Orders", "Picked"],
        &rows,
        "Nothing to pick here.",
    ));
    page_html(
        &staff,
        &headers,
        &format!("Pick list: {} ({})", loc.name, loc.code),
        &body,
    )
}

/// Returns, newest first: by status, still to inspect (the work queue's count), or of one
/// order; each with its order's number, units asked for and received, and when.
async fn returns_list(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = match q.opt_int("order_id") {
        Ok(order_id) => backroom_core::returns::ReturnQuery {
            status: q.opt("status"),
            to_inspect: q.flag("to_inspect"),
            order_id,
            limit: Some(50),
            cursor: q.opt("cursor"),
        },
        Err(e) => return failed(&staff, &e),
    };
    let (found, numbers) = match load(&app, &staff, move |tx| {
        let found = returns::list(tx, &query)?;
        let ids: Vec<i64> = found.items.iter().map(|r| r.order_id).collect();
        let numbers = orders::numbers(tx, &ids)?;
        Ok((found, numbers))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = filter_form(
        "/console/returns",
        &[
            select(
                "Status",
                "status",
                &[
                    (String::new(), "any".into()),
                    ("requested".into(), "requested".into()),
                    ("partially_received".into(), "partially received".into()),
                    ("received".into(), "received".into()),
                    ("cancelled".into(), "cancelled".into()),
                ],
                &q.text("status"),
            ),
            select(
                "To inspect",
                "to_inspect",
                &[
                    (String::new(), "any".into()),
                    ("yes".into(), "yes".into()),
                    ("no".into(), "no".into()),
                ],
                &q.text("to_inspect"),
            ),
        ]
        .concat(),
    );
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|r| {
            let asked: i64 = r.lines.iter().map(|l| l.quantity).sum();
            let received: i64 = r.lines.iter().map(|l| l.received_quantity).sum();
            let order = match numbers.get(&r.order_id) {
                Some(n) => link(&format!("/console/orders/{}", r.order_id), &format!("#{n}")),
                None => esc(&format!("id {}", r.order_id)),
            };
            vec![
                r.id.to_string(),
                order,
                badge(&r.status),
                if r.exchange {
                    "exchange".into()
                } else {
                    "return".into()
                },
                format!("{received} of {asked}"),
                esc(&when(&r.created_at)),
                esc(&r.created_by),
            ]
        })
        .collect();
    body.push_str(&table(
        "Returns, newest first",
        &[
            "Return",
            "Order",
            "Status",
            "Kind",
            "Units received",
            "Opened",
            "By",
        ],
        &rows,
        "No return matches.",
    ));
    body.push_str(&pager("/console/returns", &q, found.next_cursor.as_deref()));
    page_html(&staff, &headers, "Returns", &body)
}
