//! Orders: the queue with filters, sorting and bulk actions; an order's page with lines,
//! sourcing, payments, balance, shipments, returns and timeline, and every action on it; a
//! new-order form; returns; pick lists to print.

use super::ui::{self, Col, Kind, col, show_money};
use super::{
    App, Fields, Posted, Staff, act, code_of, describe, failed, load, location_options, page,
    see_other,
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
use backroom_core::auth::views::{self, SavedView};
use backroom_core::fulfillment::HOLD_REASONS;
use backroom_core::orders::{self, OrderQuery};
use backroom_core::returns::REASONS as RETURN_REASONS;
use backroom_core::{Error, catalog, fulfillment, returns, settings};
use backroom_domain::order::{FulfillmentStatus, OrderStatus, PaymentStatus};
use backroom_domain::roles::Permission;
use maud::{Markup, html};

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

// ---------------------------------------------------------------------------------------------
// The list

/// The order list: filters, the orders in the order asked (newest first by default), the boxes
/// and the form of the bulk actions, the pager.
async fn list(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = match order_query(&q) {
        Ok(v) => v,
        Err(e) => return failed(&staff, &e),
    };
    let (now, ctx) = (backroom_core::util::now_micros(), staff.ctx());
    let (found, channels, locations, saved) =
        match load(&app, &staff, move |tx| load_list(tx, &ctx, &query, now)).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let listed = listed(&q);
    let body = html! {
        (list_links(&staff, &locations))
        (super::views::bar(&staff, "/console/orders", &listed, &saved))
        (list_filters(&q, &channels, &locations))
        (list_results(&staff, &q, &found, &channels))
        (ui::pager("/console/orders", &listed, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Orders", body)
}

/// The order query the list's filters and sort ask for, 50 to a page.
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
        sort: q.opt("sort"),
        limit: Some(50),
        cursor: q.opt("cursor"),
        ..Default::default()
    })
}

/// The list's query without its selection (`select=all`): what links to other pages and sorts,
/// and the way back after a bulk action, keep.
fn listed(q: &Fields) -> Fields {
    Fields(q.0.iter().filter(|(k, _)| k != "select").cloned().collect())
}

/// What the order list shows: a page of orders, the channels and locations its filters offer,
/// and the member's saved views.
type ListData = (Page<Order>, Vec<Channel>, Vec<Location>, Vec<SavedView>);

/// Reads [`ListData`] in the page's transaction.
fn load_list(
    tx: &mut dyn backroom_core::Sql,
    ctx: &backroom_core::Ctx,
    query: &OrderQuery,
    now: i64,
) -> backroom_core::Result<ListData> {
    Ok((
        orders::list(tx, query, now)?,
        catalog::list_channels(tx)?,
        catalog::list_locations(tx)?,
        views::list_views(tx, ctx, "/console/orders")?,
    ))
}

/// The links above the list: a new order, the returns to inspect, each location's pick list.
fn list_links(staff: &Staff, locations: &[Location]) -> Markup {
    html! {
        p.quick {
            @if staff.may(Permission::OrdersPlace) {
                (ui::button_link(Kind::Primary, "/console/orders/new", "New order")) " "
            }
            (ui::link("/console/returns?to_inspect=yes", "Returns to inspect"))
            @for l in locations {
                " · " (ui::link(&format!("/console/pick-list?location_id={}", l.id), &format!("Pick list {}", l.code)))
            }
        }
    }
}

/// "Any", yes or no, for a yes/no filter.
fn yes_no() -> Vec<(String, String)> {
    ui::any_of(&["yes", "no"])
}

/// The list's filters: number or email, statuses, channel, location, late, on hold, dates.
fn list_filters(q: &Fields, channels: &[Channel], locations: &[Location]) -> Markup {
    let mut channel_opts = vec![(String::new(), "any".to_string())];
    channel_opts.extend(channels.iter().map(|c| (c.id.to_string(), c.name.clone())));
    let statuses = |label: &str, name: &str, all: Vec<&str>| {
        ui::select(label, name, &ui::any_of(&all), &q.text(name))
    };
    ui::filter_form(
        "/console/orders",
        q,
        html! {
            (ui::input("Number, email, name or phone", "q", "search", &q.text("q")))
            (statuses("Status", "status", ui::names(OrderStatus::ALL, OrderStatus::as_str)))
            (statuses("Payment", "payment_status", ui::names(PaymentStatus::ALL, PaymentStatus::as_str)))
            (statuses("Fulfillment", "fulfillment_status", ui::names(FulfillmentStatus::ALL, FulfillmentStatus::as_str)))
            (ui::select("Channel", "channel_id", &channel_opts, &q.text("channel_id")))
            (ui::select("Location", "location_id", &location_options(locations, true), &q.text("location_id")))
            (ui::select("Late", "late", &yes_no(), &q.text("late")))
            (ui::select("On hold", "on_hold", &yes_no(), &q.text("on_hold")))
            (ui::input("Placed from", "placed_from", "date", &q.text("placed_from")))
            (ui::input("Placed before", "placed_to", "date", &q.text("placed_to")))
        },
    )
}

/// The order list's columns: a box to select the row (for those who may act on orders), then
/// the order. Number, status and total are cells of every row, so a phone's card shows them.
const LIST_COLS: [Col; 10] = [
    col("Select"),
    col("Order").sort("number"),
    col("Placed").sort("placed_at"),
    col("Customer"),
    col("Channel"),
    col("Total").num().sort("total"),
    col("Status"),
    col("Payment"),
    col("Fulfillment"),
    col("Hold"),
];

/// What the order list's caption says of its order.
fn list_caption(sort: Option<&str>) -> &'static str {
    match sort {
        Some("placed_at") => "Orders, oldest first",
        Some("number") => "Orders by number",
        Some("-number") => "Orders by number, highest first",
        Some("total") => "Orders by total, smallest first",
        Some("-total") => "Orders by total, largest first",
        _ => "Orders, newest first",
    }
}

/// The orders found, in a table sorted by the server; a member who may manage orders selects
/// rows (each, or all on the page) and acts on them with the bulk form under it.
fn list_results(staff: &Staff, q: &Fields, found: &Page<Order>, channels: &[Channel]) -> Markup {
    let channel_name = |id: i64| {
        channels
            .iter()
            .find(|c| c.id == id)
            .map_or_else(|| id.to_string(), |c| c.name.clone())
    };
    let bulk = staff.may(Permission::OrdersManage) && !found.items.is_empty();
    let all = q.get("select") == Some("all");
    let rows: Vec<Vec<Markup>> = found
        .items
        .iter()
        .map(|o| {
            let mut row = Vec::with_capacity(LIST_COLS.len());
            if bulk {
                row.push(html! {
                    input type="checkbox" name="order_id" value=(o.id) form="bulk" checked[all]
                        aria-label=(format!("Select {}", o.name));
                });
            }
            row.extend([
                ui::link(&format!("/console/orders/{}", o.id), &o.name),
                html! { (staff.when(&o.placed_at)) },
                html! { (o.customer.name) },
                html! { (channel_name(o.channel_id)) },
                html! { (show_money(&o.total)) },
                ui::badge(&o.status),
                ui::badge(&o.payment_status),
                ui::badge(&o.fulfillment_status),
                o.hold
                    .as_ref()
                    .map_or_else(|| html! {}, |h| ui::badge(&h.reason)),
            ]);
            row
        })
        .collect();
    let listed = listed(q);
    let table = ui::Table {
        caption: list_caption(q.get("sort")),
        cols: if bulk { &LIST_COLS } else { &LIST_COLS[1..] },
        rows,
        empty: "No order matches these filters.",
        sorted: Some(("/console/orders", &listed)),
    };
    html! {
        @if bulk { (select_all(&listed, all)) }
        (table)
        @if bulk { (bulk_form(staff, &listed)) }
    }
}

/// Selecting every order of the page: a box the page's script shows (it ticks every row's box),
/// and without script a link that reloads the page with every box ticked.
fn select_all(listed: &Fields, all: bool) -> Markup {
    html! {
        p.select-all {
            input type="checkbox" data-select-all="order_id" hidden checked[all]
                aria-label="Select every order on this page";
            " "
            @if all {
                a href=(ui::with_params("/console/orders", listed, &[], &[])) { "Clear the selection" }
            } @else {
                a href=(ui::with_params("/console/orders", listed, &[], &[("select", "all")])) { "Select all on this page" }
            }
        }
    }
}

/// The bulk form the rows' boxes belong to (`form="bulk"`): an action and a note applied to the
/// selected orders, or cancelling them, which asks for its box to be ticked first (the other
/// actions do not: their button skips the check). It posts to a path carrying the list's query,
/// so the browser comes back to the same filters, sort and page.
///
/// Not [`ui::form`]/[`ui::danger_form`]: the two actions share the selection, so they are one
/// form with two buttons.
fn bulk_form(staff: &Staff, listed: &Fields) -> Markup {
    let action = ui::with_params("/console/orders/bulk", listed, &[], &[]);
    html! {
        form #bulk.act method="post" action=(action) aria-label="With the selected orders" {
            (ui::hidden("csrf", &staff.csrf))
            (ui::select("With the selected orders", "action", &[
                ("mark_paid".into(), "mark paid".into()),
                ("hold".into(), "hold (customer request)".into()),
                ("release".into(), "release hold".into()),
            ], ""))
            (ui::input("Note", "note", "text", "").hint("the payment reference, or why"))
            div.actions { button.btn.primary type="submit" formnovalidate { "Apply to selected" } }
            label.check {
                input type="checkbox" name="confirm" value="yes" required;
                " Yes, cancel the selected orders and release their stock"
            }
            div.actions { button.btn.danger type="submit" name="cancel" value="yes" { "Cancel selected orders" } }
        }
    }
}

/// One action on many orders, each in its own transaction: what one refuses does not stop the
/// others, and the notice says which. Cancelling needs the form's box ticked. The browser goes
/// back to the list the form was on (the query of the form's path).
async fn bulk(
    State(app): State<App>,
    Query(from): Query<Fields>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let back = ui::with_params("/console/orders", &listed(&from), &[], &[]);
    let ids: Vec<i64> = f
        .all("order_id")
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect();
    if ids.is_empty() {
        return see_other(&back, false, "Select at least one order.");
    }
    let action = if f.get("cancel") == Some("yes") {
        "cancel".to_string()
    } else {
        f.text("action")
    };
    if action == "cancel"
        && let Err(e) = f.confirmed()
    {
        return see_other(&back, false, &describe(&e));
    }
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
    let updated = format!(
        "{} order{} updated.",
        ui::count(done),
        if done == 1 { "" } else { "s" }
    );
    if refused.is_empty() {
        see_other(&back, true, &updated)
    } else {
        see_other(
            &back,
            false,
            &format!("{updated} Refused: {}", refused.join("; ")),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// A new order

async fn new_page(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersPlace).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    new_order_page(&app, &staff, &headers, None).await
}

/// The new-order form: empty, or after a refusal what was typed (the same idempotency key, so a
/// corrected form still places one order) with the reason above it and at the field it names.
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
    let reason = refused.map(|(f, e)| (f, describe(e)));
    let body = html! {
        @if let Some((_, r)) = &reason { p.notice.error role="alert" { (r) } }
        (ui::form(staff, "/console/orders",
            new_order_fields(&channels, &locations, reason.as_ref().map(|(f, r)| (*f, r.as_str()))),
            "Place order"))
    };
    let status = refused.map_or(axum::http::StatusCode::OK, |(_, e)| super::status_of(e));
    axum::response::IntoResponse::into_response((status, page(staff, headers, "New order", body)))
}

/// The new-order form's fields; after a refusal (what was typed, and why it was refused) with
/// what was typed and the field the refusal names.
fn new_order_fields(
    channels: &[Channel],
    locations: &[Location],
    refused: Option<(&Fields, &str)>,
) -> Markup {
    let typed = |name: &str| refused.map(|(f, _)| f.text(name)).unwrap_or_default();
    let refusal = refused.map(|(_, why)| as_form_refusal(why));
    let refusal = refusal.as_deref();
    let channel_opts: Vec<(String, String)> = channels
        .iter()
        .filter(|c| c.active)
        .map(|c| (c.code.clone(), c.name.clone()))
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
    let text = |label: &'static str, name: &'static str, kind: &'static str| {
        ui::input(label, name, kind, &typed(name)).error_from(refusal)
    };
    html! {
        (ui::hidden("idempotency_key", &key))
        (ui::select("Channel", "channel", &channel_opts, &channel))
        fieldset {
            legend { "Customer" }
            (text("Email", "email", "email").required())
            (text("First name", "first_name", "text"))
            (text("Last name", "last_name", "text"))
            (text("Phone", "phone", "tel"))
        }
        fieldset {
            legend { "Ship to" }
            (text("Name", "address_name", "text").required())
            (text("Address", "line1", "text").required())
            (text("City", "city", "text").required())
            (text("Postal code", "postal_code", "text").required())
            (text("Country (2 letters)", "country", "text").required().maxlength(2).size(3))
            (ui::select("Pickup", "pickup_location_id", &pickup, &typed("pickup_location_id")))
        }
        fieldset {
            legend { "Lines" }
            (ui::textarea("One line per SKU: the SKU, a space, the quantity", "lines", &typed("lines"))
                .required().placeholder("TEE-M-BLK 2").error_from(refusal))
            (text("Discount code", "discount_code", "text"))
            (text("Note", "note", "text"))
        }
    }
}

/// A refusal of placing an order with its field named as the form names it: the service says
/// `customer.email` and `shipping_address.name`, the form has `email` and `address_name`.
fn as_form_refusal(refusal: &str) -> String {
    let r = refusal.strip_prefix("customer.").unwrap_or(refusal);
    match r.strip_prefix("shipping_address.") {
        Some(rest) if rest.starts_with("name:") => format!("address_{rest}"),
        Some(rest) => rest.to_string(),
        None => r.to_string(),
    }
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
        Ok(p) => see_other(
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
        discount_codes: f.opt("discount_code").map(|c| {
            c.split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect()
        }),
        skip_invalid_codes: None,
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

// ---------------------------------------------------------------------------------------------
// An order's page

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
    let body = html! {
        // The actions sit below the order's facts; on a phone they are one tap away.
        nav.jump aria-label="On this page" {
            a href="#actions" { "Actions" } " · " a href="#timeline" { "Timeline" }
        }
        (order_summary(&staff, &o, &channels))
        (lines_section(&o, &locations))
        (money_section(&staff, &o, &locations))
        (shipments_section(&staff, &o, &locations))
        h2 { "Returns" }
        @if rets.is_empty() { (ui::empty("No return.", None)) }
        @for r in &rets { (return_section(&staff, r, &locations)) }
        h2 #actions { "Actions" }
        div.grid { (actions(&staff, &o, &locations)) }
        div #timeline { (timeline_section(&staff, &timeline)) }
    };
    page(&staff, &headers, &format!("Order {}", o.name), body)
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
fn order_summary(staff: &Staff, o: &Order, channels: &[Channel]) -> Markup {
    let channel = channels
        .iter()
        .find(|c| c.id == o.channel_id)
        .map_or_else(String::new, |c| c.name.clone());
    let customer = if staff.may(Permission::CustomersRead) {
        ui::link(
            &format!("/console/customers/{}", o.customer.id),
            &format!("{} <{}>", o.customer.name, o.customer.email),
        )
    } else {
        html! { (o.customer.name) }
    };
    let mut facts = vec![
        ("Placed", html! { (staff.when(&o.placed_at)) }),
        ("Channel", html! { (channel) }),
        ("Customer", customer),
    ];
    if let Some(s) = &o.ship_by {
        facts.push(("Ship by", html! { (staff.when(s)) }));
    }
    html! {
        p.statuses { (ui::badge(&o.status)) " " (ui::badge(&o.payment_status)) " " (ui::badge(&o.fulfillment_status)) }
        (ui::facts(&facts))
        @if let Some(h) = &o.hold {
            p.notice.error role="status" {
                "On hold since " (staff.when(&h.held_at)) ": " (h.reason.replace('_', " "))
                @if let Some(n) = &h.note { " (" (n) ")" }
            }
        }
        @if let Some(reason) = &o.cancel_reason { p { "Cancelled: " (reason) } }
    }
}

/// Where an order line's units are reserved: `WH-A × 2 (1 backordered)`, one location a line.
fn reserved_at(locations: &[Location], l: &backroom_core::api::OrderLine) -> Markup {
    html! {
        @for (i, a) in l.allocations.iter().enumerate() {
            @if i > 0 { br; }
            (code_of(locations, a.location_id)) " × " (ui::count(a.quantity))
            @if a.backordered > 0 { " (" (ui::count(a.backordered)) " backordered)" }
            @if !a.live { " (released)" }
        }
    }
}

/// The order's lines with their allocations, and how they were sourced.
fn lines_section(o: &Order, locations: &[Location]) -> Markup {
    let rows: Vec<Vec<Markup>> = o
        .lines
        .iter()
        .map(|l| {
            vec![
                html! { (l.sku) },
                html! { (l.title) },
                html! { (ui::count(l.quantity)) },
                html! { (show_money(&l.unit_price)) },
                html! { (show_money(&l.discount)) },
                html! { (show_money(&l.tax)) },
                html! { (ui::count(shipped_of(o, l.id))) },
                html! { (ui::count(l.returned_quantity)) },
                html! { (ui::count(l.refunded_quantity)) },
                reserved_at(locations, l),
            ]
        })
        .collect();
    html! {
        (ui::table("Lines", &[
            col("SKU"), col("Item"), col("Qty").num(), col("Price").num(), col("Discount").num(),
            col("Tax").num(), col("Shipped").num(), col("Returned").num(), col("Refunded").num(),
            col("Reserved at"),
        ], rows, "No line."))
        p { "Sourcing: " strong { (o.sourcing.strategy) } ": " (o.sourcing.reason) }
    }
}

/// The money (totals, payments, refunds, balance) beside where the order goes.
fn money_section(staff: &Staff, o: &Order, locations: &[Location]) -> Markup {
    let tax = if o.prices_include_tax {
        "Tax (included in prices)"
    } else {
        "Tax"
    };
    let balance = match o.balance.amount {
        0 => "settled".to_string(),
        a if a > 0 => format!("{} to refund", show_money(&o.balance)),
        a => format!("{} to collect", ui::money(-a, &o.balance.currency)),
    };
    let a = &o.shipping_address;
    html! {
        div.grid {
            (ui::card(Some("Money"), html! {
                dl {
                    @for (label, m) in [("Subtotal", &o.subtotal), ("Discounts", &o.discounts),
                        ("Shipping", &o.shipping), (tax, &o.tax), ("Total", &o.total), ("Paid", &o.paid),
                        ("Refunded", &o.refunded), ("Owed", &o.owed)] {
                        dt { (label) } dd { (show_money(m)) }
                    }
                    dt { "Balance" } dd data-balance=(o.balance.amount) { strong { (balance) } }
                }
                @if !o.discount_applications.is_empty() || !o.discounts_not_applied.is_empty() {
                    h3 { "Promotions" }
                    ul.promotions {
                        @for a in &o.discount_applications {
                            li {
                                (ui::link(&format!("/console/promotions/{}", a.promotion_id), &a.name))
                                @if let Some(c) = &a.code { " (" code { (c) } ")" }
                                ": " (show_money(&a.amount)) " off"
                                @if a.shipping.amount > 0 { ", " (show_money(&a.shipping)) " off shipping" }
                            }
                        }
                        @for n in &o.discounts_not_applied {
                            li.muted {
                                (n.name.as_deref().or(n.code.as_deref()).unwrap_or("A code"))
                                @if let (Some(_), Some(c)) = (&n.name, &n.code) { " (" code { (c) } ")" }
                                " did not apply: " (n.reason)
                            }
                        }
                    }
                }
            }))
            (ui::card(Some(if o.pickup.is_some() { "Click and collect" } else { "Ship to" }), html! {
                p {
                    (a.name) br; (a.line1) br;
                    @if let Some(l2) = &a.line2 { (l2) br; }
                    (a.postal_code) " " (a.city) br;
                    @if let Some(r) = &a.region { (r) br; }
                    (a.country)
                }
                @if let Some(p) = &o.pickup {
                    p {
                        "Collect at " (code_of(locations, p.location_id))
                        @if let Some(d) = &p.deadline { ", by " (staff.when(d)) }
                        @if let Some(d) = &p.picked_up_at { "; picked up " (staff.when(d)) }
                    }
                }
            }))
        }
    }
}

/// The order's shipments, each shipped one with a form to mark it delivered.
fn shipments_section(staff: &Staff, o: &Order, locations: &[Location]) -> Markup {
    let fulfil = staff.may(Permission::OrdersFulfil);
    let rows: Vec<Vec<Markup>> = o
        .fulfillments
        .iter()
        .map(|f| {
            let carrier = [f.carrier.as_deref(), f.service.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" ");
            vec![
                html! { (f.id) },
                html! { (code_of(locations, f.location_id)) },
                ui::badge(&f.status),
                html! { (carrier) },
                match (&f.tracking_number, &f.tracking_url) {
                    (Some(n), Some(u)) if u.starts_with("https://") => ui::link(u, n),
                    (Some(n), _) => html! { (n) },
                    _ => html! {},
                },
                html! {
                    @for (i, l) in f.lines.iter().enumerate() {
                        @if i > 0 { br; }
                        (o.lines.iter().find(|x| x.id == l.order_line_id).map_or("?", |x| x.sku.as_str()))
                        " × " (ui::count(l.quantity))
                    }
                },
                html! { (staff.when(&f.shipped_at)) },
                if fulfil && f.status == "shipped" {
                    ui::form_of(
                        staff,
                        &format!("/console/orders/{}/deliver", o.id),
                        ui::hidden("fulfillment_id", &f.id.to_string()),
                        Kind::Secondary,
                        "Mark delivered",
                    )
                } else {
                    html! {}
                },
            ]
        })
        .collect();
    html! {
        h2 { "Shipments" }
        (ui::table("Shipments", &[
            col("Shipment"), col("From"), col("Status"), col("Carrier"), col("Tracking"),
            col("Units"), col("Shipped"), col("Delivery"),
        ], rows, "Nothing shipped yet."))
    }
}

/// The order's timeline of events.
fn timeline_section(staff: &Staff, timeline: &[OrderEvent]) -> Markup {
    let rows: Vec<Vec<Markup>> = timeline
        .iter()
        .map(|e| {
            vec![
                html! { (staff.when(&e.created_at)) },
                ui::badge(&e.kind),
                html! { (e.message) },
                html! { (e.actor) },
            ]
        })
        .collect();
    html! {
        h2 { "Timeline" }
        (ui::table("Timeline", &[col("When"), col("What"), col("Detail"), col("By")], rows, "Nothing yet."))
    }
}

/// A return of the order: its lines, and the forms to receive it back and to cancel it while
/// nothing has come back.
fn return_section(staff: &Staff, r: &Return, locations: &[Location]) -> Markup {
    let rows: Vec<Vec<Markup>> = r
        .lines
        .iter()
        .map(|l| {
            vec![
                html! { (l.sku) },
                html! { (ui::count(l.quantity)) },
                html! { (l.reason.replace('_', " ")) },
                html! { (ui::count(l.received_quantity)) },
                html! {
                    (ui::count(l.restocked)) " restocked, " (ui::count(l.unavailable)) " unavailable, "
                    (ui::count(l.written_off)) " written off"
                },
            ]
        })
        .collect();
    let open = matches!(r.status.as_str(), "requested" | "partially_received");
    html! {
        section.return {
            h3 { "Return " (r.id) " " (ui::badge(&r.status)) @if r.exchange { " (exchange)" } }
            (ui::table(&format!("Return {}", r.id), &[
                col("SKU"), col("Qty").num(), col("Reason"), col("Received").num(), col("Disposition"),
            ], rows, "No line."))
            @if open && staff.may(Permission::OrdersFulfil) {
                (ui::form(staff, &format!("/console/returns/{}/receive", r.id), html! {
                    @for l in &r.lines {
                        @let left = l.quantity - l.received_quantity;
                        @if left > 0 {
                            fieldset {
                                legend { (l.sku) }
                                (ui::input("Units received", &format!("received_{}", l.order_line_id), "number", &left.to_string())
                                    .min("0").max(&left.to_string()))
                                (ui::select("Disposition", &format!("disposition_{}", l.order_line_id), &[
                                    ("restock".into(), "restock (sellable)".into()),
                                    ("unavailable".into(), "keep, not sellable".into()),
                                    ("write_off".into(), "write off".into()),
                                ], "restock"))
                            }
                        }
                    }
                    (ui::select("Back to", "location_id", &location_options(locations, false), ""))
                }, "Receive return"))
            }
            @if r.status == "requested" && staff.may(Permission::OrdersManage) {
                (ui::danger_form(staff, &format!("/console/returns/{}/cancel", r.id), html! {},
                    "Cancel return", "Yes, cancel this return"))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The order page's forms

/// The forms for what can be done to the order now, by the signed-in member's role.
fn actions(staff: &Staff, o: &Order, locations: &[Location]) -> Markup {
    html! {
        (fulfilment_forms(staff, o, locations))
        (payment_forms(staff, o))
        (manage_forms(staff, o))
        (return_form(staff, o))
        (refund_form(staff, o))
        @if staff.may(Permission::OrdersRead) {
            (ui::form_of(staff, &format!("/console/orders/{}/note", o.id),
                html! { (ui::input("Note for the team", "message", "text", "").required()) },
                Kind::Secondary, "Add note"))
        }
    }
}

/// Shipping what is reserved at a location, or handing a pickup over.
fn fulfilment_forms(staff: &Staff, o: &Order, locations: &[Location]) -> Markup {
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    let open = o.status == "open";
    let fulfil = staff.may(Permission::OrdersFulfil);
    let mut unshipped: Vec<i64> = o
        .lines
        .iter()
        .flat_map(|l| &l.allocations)
        .filter(|a| a.live)
        .map(|a| a.location_id)
        .collect();
    unshipped.sort_unstable();
    unshipped.dedup();
    let locs: Vec<(String, String)> = unshipped
        .iter()
        .map(|id| (id.to_string(), code_of(locations, *id)))
        .collect();
    html! {
        @if open && fulfil && !unshipped.is_empty() && o.pickup.is_none() {
            (ui::form(staff, &path("ship"), html! {
                p { "Ships every unit reserved at the location." }
                (ui::select("From", "location_id", &locs, ""))
                (ui::input("Carrier", "carrier", "text", ""))
                (ui::input("Tracking number", "tracking_number", "text", ""))
                (ui::input("Tracking URL", "tracking_url", "url", ""))
            }, "Ship"))
        }
        @if open && fulfil && o.pickup.is_some() {
            @if o.fulfillment_status == "ready_for_pickup" {
                (ui::form(staff, &path("picked_up"), html! {
                    (ui::input("Handed over by", "handed_over_by", "text", &staff.actor.name).required())
                }, "Picked up"))
            } @else {
                (ui::form(staff, &path("ready"), html! {}, "Ready for pickup"))
            }
        }
    }
}

/// Recording a payment while one is due (voiding it asks first), or capturing what the
/// customer owes.
fn payment_forms(staff: &Staff, o: &Order) -> Markup {
    let path = format!("/console/orders/{}/pay", o.id);
    let manage = staff.may(Permission::OrdersManage);
    let due = matches!(o.payment_status.as_str(), "pending" | "authorized") && o.status == "open";
    html! {
        @if manage && due {
            (ui::form(staff, &path, html! {
                (ui::select("Payment", "status", &ui::options(&["paid", "authorized"]), "paid"))
                (ui::input("Gateway reference", "reference", "text", ""))
            }, "Record payment"))
            (ui::danger_form(staff, &path, html! {
                (ui::hidden("status", "voided"))
                (ui::input("Gateway reference", "reference", "text", ""))
            }, "Void payment", "Yes, void the payment: the customer is not charged"))
        } @else if manage && o.balance.amount < 0 {
            (ui::form(staff, &path, html! {
                (ui::hidden("status", "paid"))
                p { "The customer owes " (ui::money(-o.balance.amount, &o.balance.currency)) "." }
            }, "Capture what is due"))
        }
    }
}

/// Holding or releasing an open order, cancelling it before it ships, and editing its lines.
fn manage_forms(staff: &Staff, o: &Order) -> Markup {
    let path = |a: &str| format!("/console/orders/{}/{a}", o.id);
    if o.status != "open" || !staff.may(Permission::OrdersManage) {
        return html! {};
    }
    html! {
        @if o.hold.is_some() {
            (ui::form_of(staff, &path("release"), html! {}, Kind::Secondary, "Release hold"))
        } @else {
            (ui::form_of(staff, &path("hold"), html! {
                (ui::select("Reason", "reason", &ui::options(&HOLD_REASONS), "other"))
                (ui::input("Note", "note", "text", ""))
            }, Kind::Secondary, "Hold"))
        }
        @if o.fulfillments.is_empty() {
            (ui::danger_form(staff, &path("cancel"),
                html! { (ui::input("Reason", "reason", "text", "")) },
                "Cancel order", "Yes, cancel this order and release its stock"))
        }
        // Edit: new quantities for lines, and a SKU to add.
        (ui::form_of(staff, &path("edit"), html! {
            @for l in &o.lines {
                (ui::input(&format!("{} quantity", l.sku), &format!("qty_{}", l.id), "number",
                    &l.quantity.to_string()).min("0").size(4))
            }
            (ui::input("Add SKU", "add_sku", "text", ""))
            (ui::input("Units", "add_quantity", "number", "").min("1").size(4))
            (ui::input("Why", "reason", "text", ""))
        }, Kind::Secondary, "Edit order"))
    }
}

/// A return or exchange of shipped units.
fn return_form(staff: &Staff, o: &Order) -> Markup {
    let returnable: Vec<_> = o
        .lines
        .iter()
        .map(|l| (l, shipped_of(o, l.id) - l.returned_quantity))
        .filter(|(_, n)| *n > 0)
        .collect();
    if !staff.may(Permission::OrdersManage) || returnable.is_empty() {
        return html! {};
    }
    let reasons = ui::options(&RETURN_REASONS);
    ui::form_of(
        staff,
        &format!("/console/orders/{}/return", o.id),
        html! {
            @for (l, n) in &returnable {
                fieldset {
                    legend { (l.sku) }
                    (ui::input("Units to return", &format!("return_{}", l.id), "number", "0").min("0").max(&n.to_string()))
                    (ui::select("Reason", &format!("reason_{}", l.id), &reasons, "changed_mind"))
                }
            }
            (ui::input("Exchange for SKU (optional)", "exchange_sku", "text", ""))
            (ui::input("Units", "exchange_quantity", "number", "").min("1").size(4))
            (ui::input("Note", "note", "text", ""))
        },
        Kind::Secondary,
        "Create return or exchange",
    )
}

/// A refund of what was paid: an amount, or units per line. It cannot be undone, so it asks
/// first.
fn refund_form(staff: &Staff, o: &Order) -> Markup {
    if !staff.may(Permission::OrdersManage) || o.paid.amount <= o.refunded.amount {
        return html! {};
    }
    ui::danger_form(
        staff,
        &format!("/console/orders/{}/refund", o.id),
        html! {
            p { "Up to " (ui::money(o.paid.amount - o.refunded.amount, &o.currency))
                " can be refunded. Give an amount, or units per line." }
            (ui::input("Amount", "amount", "text", "").inputmode("decimal").size(8))
            @for l in &o.lines {
                (ui::input(&format!("{} units", l.sku), &format!("refund_{}", l.id), "number", "").min("0").size(4))
            }
            (ui::checkbox("Refund shipping", "shipping", "yes", false))
            (ui::input("Reason", "reason", "text", "").required())
        },
        "Refund",
        "Yes, refund this to the customer",
    )
}

/// An action of the order page (see [`actions`]) in one transaction; the browser goes back to
/// the order with what was done, or why nothing was. Cancelling, voiding and refunding need the
/// form's box ticked.
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
                    if f.get("status") == Some("voided") {
                        f.confirmed()?;
                    }
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
                "refund" => {
                    f.confirmed()?;
                    refund_lines(tx, ctx, id, &f)?
                }
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
                f.confirmed()?;
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

// ---------------------------------------------------------------------------------------------
// Pick lists and returns

/// A location's pick list to print: what to pick, in bin order, for its open orders, oldest
/// first.
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
    let rows: Vec<Vec<Markup>> = list
        .items
        .iter()
        .map(|i| {
            vec![
                html! { (i.bin.as_deref().unwrap_or("–")) },
                html! { (i.sku) },
                html! { (i.title) },
                html! { strong { (ui::count(i.quantity)) } },
                html! {
                    @for (n, o) in i.orders.iter().enumerate() {
                        @if n > 0 { ", " }
                        (ui::link(&format!("/console/orders/{}", o.order_id), &format!("#{}", o.number)))
                        " × " (ui::count(o.quantity))
                    }
                },
                html! { "☐" },
            ]
        })
        .collect();
    let orders_n = i64::try_from(list.order_numbers.len()).unwrap_or(i64::MAX);
    let body = html! {
        p {
            (ui::count(orders_n)) " orders, oldest first; items in bin order. "
            button.btn.secondary type="button" data-print hidden { "Print" }
        }
        (ui::table("Pick list", &[
            col("Bin"), col("SKU"), col("Item"), col("Units").num(), col("Orders"), col("Picked"),
        ], rows, "Nothing to pick here."))
    };
    page(
        &staff,
        &headers,
        &format!("Pick list: {} ({})", loc.name, loc.code),
        body,
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
    let rows: Vec<Vec<Markup>> = found
        .items
        .iter()
        .map(|r| {
            let asked: i64 = r.lines.iter().map(|l| l.quantity).sum();
            let received: i64 = r.lines.iter().map(|l| l.received_quantity).sum();
            vec![
                html! { (r.id) },
                match numbers.get(&r.order_id) {
                    Some(n) => {
                        ui::link(&format!("/console/orders/{}", r.order_id), &format!("#{n}"))
                    }
                    None => html! { "id " (r.order_id) },
                },
                ui::badge(&r.status),
                html! { (if r.exchange { "exchange" } else { "return" }) },
                html! { (ui::count(received)) " of " (ui::count(asked)) },
                html! { (staff.when(&r.created_at)) },
                html! { (r.created_by) },
            ]
        })
        .collect();
    let body = html! {
        (ui::filter_form("/console/returns", &q, html! {
            (ui::select("Status", "status",
                &ui::any_of(&["requested", "partially_received", "received", "cancelled"]), &q.text("status")))
            (ui::select("To inspect", "to_inspect", &yes_no(), &q.text("to_inspect")))
        }))
        (ui::table("Returns, newest first", &[
            col("Return"), col("Order"), col("Status"), col("Kind"), col("Units received"),
            col("Opened"), col("By"),
        ], rows, "No return matches."))
        (ui::pager("/console/returns", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Returns", body)
}
