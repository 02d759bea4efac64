//! Inventory: stock by SKU and location; a SKU's page with receive, adjust, count, damage and
//! transfer forms and its ledger; low stock with reorder points editable in place; transfers.

use super::ui::{self, Kind, col};
use super::{App, Fields, Posted, Staff, act, code_of, load, location_options, page};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::api::{
    AdjustStock, CountStock, DamageStock, LedgerEntry, Location, NewTransfer, Page, ReceiveStock,
    ReceiveTransfer, ReorderLevel, SetBin, SetReorderPoint, SkuQuantity, SkuStock, StockLevel,
    Transfer,
};
use backroom_core::catalog;
use backroom_core::inventory::{self, LedgerQuery, LevelQuery, ReorderQuery, TransferQuery};
use backroom_domain::order::TransferStatus;
use backroom_domain::roles::Permission;
use maud::{Markup, html};
use std::collections::HashMap;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/inventory", get(levels))
        .route("/console/inventory/sku", get(sku_page))
        .route("/console/inventory/low", get(low))
        .route("/console/inventory/bin", post(set_bin))
        .route("/console/inventory/{action}", post(change))
        .route("/console/transfers", get(transfers))
        .route("/console/transfers/{id}/{action}", post(transfer_action))
}

/// The page of a SKU's stock.
fn sku_href(sku: &str) -> String {
    format!("/console/inventory/sku?sku={}", ui::url_encode(sku))
}

fn sku_link(sku: &str) -> Markup {
    ui::link(&sku_href(sku), sku)
}

/// The filters every stock list starts with: part of a SKU, and a location.
fn sku_and_location(q: &Fields, locations: &[Location]) -> Markup {
    html! {
        (ui::input("SKU contains", "sku", "search", &q.text("sku")))
        (ui::select("Location", "location_id", &location_options(locations, true), &q.text("location_id")))
    }
}

/// The links between the inventory pages, the one shown marked.
fn subnav(current: &str) -> Markup {
    let pages = [
        ("/console/inventory", "Stock levels"),
        ("/console/inventory/low", "Low stock"),
        ("/console/transfers", "Transfers"),
    ];
    html! {
        nav.sub aria-label="Inventory" {
            @for (i, (href, text)) in pages.iter().enumerate() {
                @if i > 0 { " · " }
                a href=(href) aria-current=[(*href == current).then_some("page")] { (text) }
            }
        }
    }
}

/// A change of units as the ledger shows it: `+1,200`, `-3`, `0`.
fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{}", ui::count(n))
    } else {
        ui::count(n)
    }
}

/// A list in the order the server gives it, one page at a time: no column sorts it (sorting a
/// page in the browser would say nothing of the pages after it).
fn paged_table(
    caption: &str,
    cols: &[ui::Col],
    rows: Vec<Vec<Markup>>,
    empty: &str,
    path: &str,
    q: &Fields,
) -> Markup {
    use maud::Render;
    ui::Table {
        caption,
        cols,
        rows,
        empty,
        sorted: Some((path, q)),
    }
    .render()
}

async fn levels(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::InventoryRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = match q.opt_int("location_id") {
        Ok(location_id) => LevelQuery {
            location_id,
            sku: q.opt("sku"),
            out_of_stock: q.flag("out_of_stock"),
            limit: Some(100),
            cursor: q.opt("cursor"),
        },
        Err(e) => return super::failed(&staff, &e),
    };
    let (found, locations) = match load(&app, &staff, move |tx| {
        Ok((
            inventory::list_levels(tx, &query)?,
            catalog::list_locations(tx)?,
        ))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let show = [
        (String::new(), "all levels".to_string()),
        ("yes".to_string(), "out of stock only".to_string()),
    ];
    let rows = found
        .items
        .iter()
        .map(|l| {
            vec![
                sku_link(&l.sku),
                html! { (l.location_code) },
                html! { (ui::count(l.on_hand)) },
                html! { (ui::count(l.reserved)) },
                html! { (ui::count(l.unavailable)) },
                html! { strong { (ui::count(l.available)) } },
                html! { (ui::count(l.incoming)) },
                html! { (l.bin.as_deref().unwrap_or("–")) },
            ]
        })
        .collect();
    let body = html! {
        (subnav("/console/inventory"))
        (ui::filter_form("/console/inventory", &q, html! {
            (sku_and_location(&q, &locations))
            (ui::select("Show", "out_of_stock", &show, &q.text("out_of_stock")))
        }))
        (paged_table("Stock levels", &[col("SKU"), col("Location"), col("On hand").num(), col("Reserved").num(),
            col("Unavailable").num(), col("Available").num(), col("Incoming").num(), col("Bin")],
            rows, "No stock level matches these filters.", "/console/inventory", &q))
        (ui::pager("/console/inventory", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Inventory", body)
}

async fn sku_page(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::InventoryRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let sku = q.text("sku");
    let ledger_query = match q.opt_int("location_id") {
        Ok(location_id) => LedgerQuery {
            sku: sku.clone(),
            location_id,
            reason: q.opt("reason"),
            limit: Some(50),
            cursor: q.opt("cursor"),
        },
        Err(e) => return super::failed(&staff, &e),
    };
    let s2 = sku.clone();
    let (stock, ledger, locations, product) =
        match load(&app, &staff, move |tx| load_sku(tx, &s2, &ledger_query)).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let writer = staff.may(Permission::InventoryWrite).then_some(&staff);
    let body = html! {
        (subnav(""))
        (stock_section(&stock, product, writer))
        @if let Some(staff) = writer { (change_forms(staff, &sku, &locations, &stock.levels)) }
        (ledger_section(&staff, &q, &sku, &ledger, &locations))
    };
    page(&staff, &headers, &format!("Stock of {sku}"), body)
}

/// What a SKU's page shows: its stock, a page of its ledger, the locations, and its product.
fn load_sku(
    tx: &mut dyn backroom_core::Sql,
    sku: &str,
    ledger_query: &LedgerQuery,
) -> backroom_core::Result<(SkuStock, Ledger, Vec<Location>, i64)> {
    let stock = inventory::sku_stock(tx, sku)?;
    let product = catalog::get_variant(tx, stock.variant_id)?.product_id;
    let ledger = inventory::ledger(tx, ledger_query)?;
    let orders: Vec<i64> = ledger
        .items
        .iter()
        .filter(|e| e.reference_type.as_deref() == Some("order"))
        .filter_map(|e| e.reference_id)
        .collect();
    let numbers = backroom_core::orders::numbers(tx, &orders)?;
    Ok((
        stock,
        (ledger, numbers),
        catalog::list_locations(tx)?,
        product,
    ))
}

/// The SKU's policy and product, its stock by location, and the totals; its bins editable in
/// place for a member who may change stock.
fn stock_section(stock: &SkuStock, product: i64, writer: Option<&Staff>) -> Markup {
    let rows = stock
        .levels
        .iter()
        .map(|l| {
            vec![
                html! { (l.location_code) },
                html! { (ui::count(l.on_hand)) },
                html! { (ui::count(l.reserved)) },
                html! { (ui::count(l.unavailable)) },
                html! { strong data-available-at=(l.location_code) { (ui::count(l.available)) } },
                html! { (ui::count(l.incoming)) },
                match writer {
                    Some(staff) => ui::form_of(
                        staff,
                        "/console/inventory/bin",
                        html! {
                            (ui::hidden("sku", &stock.sku))
                            (ui::hidden("location_id", &l.location_id.to_string()))
                            (ui::input("Bin", "bin", "text", l.bin.as_deref().unwrap_or_default())
                                .maxlength(64).size(8))
                        },
                        Kind::Secondary,
                        "Save",
                    ),
                    None => html! { (l.bin.as_deref().unwrap_or("–")) },
                },
            ]
        })
        .collect();
    let t = &stock.totals;
    html! {
        p { "Policy when out of stock: " strong { (stock.inventory_policy) } " · "
            (ui::link(&format!("/console/products/{product}"), "Product page")) }
        (ui::table("Stock by location", &[col("Location"), col("On hand").num(), col("Reserved").num(),
            col("Unavailable").num(), col("Available").num(), col("Incoming").num(), col("Bin")],
            rows, "No stock at any location yet."))
        p data-totals {
            "Total: " (ui::count(t.on_hand)) " on hand, " (ui::count(t.reserved)) " reserved, "
            (ui::count(t.unavailable)) " unavailable, " strong { (ui::count(t.available)) " available" } ", "
            (ui::count(t.incoming)) " incoming."
        }
    }
}

/// Where a transfer of a SKU starts out: from the active location with the most of it
/// available (the first location when none has any), to the first other active location; never
/// the same location on both sides when there are two.
fn transfer_defaults(locations: &[Location], levels: &[StockLevel]) -> (String, String) {
    let active: Vec<&Location> = locations.iter().filter(|l| l.active).collect();
    let available = |id: i64| {
        levels
            .iter()
            .find(|l| l.location_id == id)
            .map_or(0, |l| l.available)
    };
    let from = active
        .iter()
        .copied()
        .max_by_key(|l| (available(l.id), std::cmp::Reverse(l.id)))
        .filter(|l| available(l.id) > 0)
        .or(active.first().copied());
    let to = active.iter().find(|l| Some(l.id) != from.map(|f| f.id));
    (
        from.map(|l| l.id.to_string()).unwrap_or_default(),
        to.map(|l| l.id.to_string()).unwrap_or_default(),
    )
}

/// The forms that change the SKU's stock: receive, adjust, count, damage, transfer.
fn change_forms(staff: &Staff, sku: &str, locations: &[Location], levels: &[StockLevel]) -> Markup {
    let (from, to) = transfer_defaults(locations, levels);
    let places = location_options(locations, false);
    let here = html! {
        (ui::hidden("sku", sku))
        (ui::select("Location", "location_id", &places, ""))
    };
    let note = || ui::input("Note", "note", "text", "");
    let damage = [
        ("mark".to_string(), "mark damaged (unavailable)".to_string()),
        (
            "release".to_string(),
            "release back to sellable".to_string(),
        ),
        ("write_off".to_string(), "write off".to_string()),
    ];
    let ship = [
        ("yes".to_string(), "yes, units leave now".to_string()),
        ("no".to_string(), "no, keep a draft".to_string()),
    ];
    html! {
        h2 { "Change stock" }
        div.grid {
            (ui::form(staff, "/console/inventory/receive", html! {
                (here)
                (ui::input("Units received", "quantity", "number", "").required().min("1"))
                (note())
            }, "Receive"))
            (ui::form(staff, "/console/inventory/adjust", html! {
                (here)
                (ui::input("Change (+/-)", "delta", "number", "").required())
                (ui::input("Reason", "note", "text", "").required())
            }, "Adjust"))
            (ui::form(staff, "/console/inventory/count", html! {
                (here)
                (ui::input("Counted on hand", "counted", "number", "").required().min("0"))
                (note())
            }, "Record count"))
            (ui::form(staff, "/console/inventory/damage", html! {
                (here)
                (ui::input("Units", "quantity", "number", "").required().min("1"))
                (ui::select("Action", "action", &damage, "mark"))
                (note())
            }, "Record damage"))
            (ui::form(staff, "/console/inventory/transfer", html! {
                (ui::hidden("sku", sku))
                (ui::select("From", "from_location_id", &places, &from))
                (ui::select("To", "to_location_id", &places, &to))
                (ui::input("Units", "quantity", "number", "").required().min("1"))
                (ui::select("Ship now", "ship", &ship, "yes"))
                (note())
            }, "Transfer"))
        }
    }
}

/// A page of ledger entries, with the numbers of the orders they refer to (by id).
type Ledger = (Page<LedgerEntry>, HashMap<i64, i64>);

/// What a ledger entry refers to: an order by its number, as staff know it (its id means
/// nothing to them), linked to it.
fn reference(e: &LedgerEntry, numbers: &HashMap<i64, i64>) -> Markup {
    match (&e.reference_type, e.reference_id) {
        (Some(t), Some(id)) if t == "order" => match numbers.get(&id) {
            Some(n) => ui::link(&format!("/console/orders/{id}"), &format!("order #{n}")),
            None => html! { "order (id " (id) ")" },
        },
        (Some(t), Some(id)) => html! { (t) " " (id) },
        _ => html! {},
    }
}

/// The SKU's ledger, newest first, filtered by location, with its pager.
fn ledger_section(
    staff: &Staff,
    q: &Fields,
    sku: &str,
    (ledger, numbers): &Ledger,
    locations: &[Location],
) -> Markup {
    let rows = ledger
        .items
        .iter()
        .map(|e| {
            vec![
                html! { (staff.when(&e.created_at)) },
                html! { (code_of(locations, e.location_id)) },
                ui::badge(&e.reason),
                html! { (signed(e.on_hand_delta)) },
                html! { (signed(e.unavailable_delta)) },
                html! { (e.actor) },
                reference(e, numbers),
                html! { (e.note.as_deref().unwrap_or_default()) },
            ]
        })
        .collect();
    // The filter clears back to this SKU's page (a GET form sends its own fields, the SKU too).
    let here = sku_href(sku);
    html! {
        h2 { "Ledger" }
        (ui::filter_form(&here, q, html! {
            (ui::hidden("sku", sku))
            (ui::select("Location", "location_id", &location_options(locations, true), &q.text("location_id")))
        }))
        (paged_table("Ledger, newest first", &[col("When"), col("Location"), col("Reason"), col("On hand").num(),
            col("Unavailable").num(), col("By"), col("Reference"), col("Note")],
            rows, "No ledger entry.", "/console/inventory/sku", q))
        (ui::pager("/console/inventory/sku", q, ledger.next_cursor.as_deref()))
    }
}

/// Where a SKU sits at a location (aisle, shelf, bin), from the SKU's page; empty clears it.
async fn set_bin(State(app): State<App>, Posted { staff, form: f }: Posted) -> Response {
    let sku = f.text("sku");
    let back = format!("/console/inventory/sku?sku={}", super::ui::url_encode(&sku));
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| {
            let l = inventory::set_bin(
                tx,
                ctx,
                &SetBin {
                    sku: sku.clone(),
                    location_id: f.int("location_id")?,
                    bin: f.opt("bin"),
                },
            )?;
            Ok(match &l.bin {
                Some(b) => format!("{} sits in bin {b} at {}.", l.sku, l.location_code),
                None => format!("Bin of {} at {} cleared.", l.sku, l.location_code),
            })
        },
        String::clone,
    )
    .await
}

/// Receive, adjust, count, damage, transfer or set a reorder point, then back to where the form
/// was.
async fn change(
    State(app): State<App>,
    Path(action): Path<String>,
    Posted { staff, form: f }: Posted,
) -> Response {
    let sku = f.text("sku");
    let back = if action == "reorder-point" {
        "/console/inventory/low".to_string()
    } else {
        format!("/console/inventory/sku?sku={}", super::ui::url_encode(&sku))
    };
    act(
        &app,
        &staff,
        &back,
        move |tx, ctx| {
            let sku = sku.clone();
            let location_id = || f.int("location_id");
            Ok(match action.as_str() {
                "receive" => {
                    let c = inventory::receive(
                        tx,
                        ctx,
                        &ReceiveStock {
                            sku,
                            location_id: location_id()?,
                            quantity: f.int("quantity")?,
                            note: f.opt("note"),
                        },
                    )?;
                    format!(
                        "Received {} at {}: {} available there.",
                        c.ledger_entry.on_hand_delta, c.level.location_code, c.level.available
                    )
                }
                "adjust" => {
                    let c = inventory::adjust(
                        tx,
                        ctx,
                        &AdjustStock {
                            sku,
                            location_id: location_id()?,
                            delta: f.int("delta")?,
                            note: f.text("note"),
                        },
                    )?;
                    format!(
                        "Adjusted by {} at {}: {} on hand, {} available.",
                        c.ledger_entry.on_hand_delta,
                        c.level.location_code,
                        c.level.on_hand,
                        c.level.available
                    )
                }
                "count" => {
                    let c = inventory::count(
                        tx,
                        ctx,
                        &CountStock {
                            sku,
                            location_id: location_id()?,
                            counted: f.int("counted")?,
                            note: f.opt("note"),
                        },
                    )?;
                    format!(
                        "Counted {} at {}: variance {}.",
                        c.level.on_hand, c.level.location_code, c.ledger_entry.on_hand_delta
                    )
                }
                "damage" => {
                    let c = inventory::damage(
                        tx,
                        ctx,
                        &DamageStock {
                            sku,
                            location_id: location_id()?,
                            quantity: f.int("quantity")?,
                            action: f.opt("action"),
                            note: f.opt("note"),
                        },
                    )?;
                    format!(
                        "Recorded at {}: {} unavailable, {} available.",
                        c.level.location_code, c.level.unavailable, c.level.available
                    )
                }
                "transfer" => {
                    let t = inventory::create_transfer(
                        tx,
                        ctx,
                        &NewTransfer {
                            from_location_id: f.int("from_location_id")?,
                            to_location_id: f.int("to_location_id")?,
                            lines: vec![SkuQuantity {
                                sku,
                                quantity: f.int("quantity")?,
                            }],
                            note: f.opt("note"),
                            ship: f.flag("ship").unwrap_or(false),
                        },
                    )?;
                    format!("Transfer {} created: {}.", t.id, t.status.replace('_', " "))
                }
                "reorder-point" => {
                    let point = f.opt_int("reorder_point")?;
                    let l = inventory::set_reorder_point(
                        tx,
                        ctx,
                        &SetReorderPoint {
                            sku: sku.clone(),
                            location_id: location_id()?,
                            reorder_point: point,
                            reorder_quantity: f.opt_int("reorder_quantity")?,
                            lead_time_days: f.opt_int("lead_time_days")?,
                        },
                    )?;
                    match l.reorder_point {
                        Some(p) => format!(
                            "Reorder point of {sku} at {} set to {p}{}.",
                            l.location_code,
                            if l.low { ": it is low now" } else { "" }
                        ),
                        None => format!("Reorder point of {sku} at {} cleared.", l.location_code),
                    }
                }
                _ => {
                    return Err(backroom_core::Error::NotFound {
                        entity: "inventory action",
                    });
                }
            })
        },
        String::clone,
    )
    .await
}

async fn low(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::InventoryRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = match q.opt_int("location_id") {
        Ok(location_id) => ReorderQuery {
            location_id,
            sku: q.opt("sku"),
            low: Some(q.get("show") != Some("all")),
            limit: Some(100),
            cursor: q.opt("cursor"),
        },
        Err(e) => return super::failed(&staff, &e),
    };
    let (found, locations) = match load(&app, &staff, move |tx| {
        Ok((
            inventory::reorder_levels(tx, &query)?,
            catalog::list_locations(tx)?,
        ))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let show = [
        (String::new(), "low only".to_string()),
        (
            "all".to_string(),
            "every level with a reorder point".to_string(),
        ),
    ];
    let writer = staff.may(Permission::InventoryWrite).then_some(&staff);
    let rows = found
        .items
        .iter()
        .map(|l| {
            vec![
                sku_link(&l.sku),
                html! { (l.location_code) },
                html! { (ui::count(l.available)) },
                html! { (ui::count(l.incoming)) },
                html! { @if l.low { (ui::badge("low")) } },
                html! { (ui::count(l.suggested_order)) },
                match writer {
                    Some(staff) => reorder_form(staff, l),
                    None => html! { (l.reorder_point.map(ui::count).unwrap_or_default()) },
                },
            ]
        })
        .collect();
    let body = html! {
        (subnav("/console/inventory/low"))
        p { "Low stock: available plus incoming at or below the reorder point." }
        (ui::filter_form("/console/inventory/low", &q, html! {
            (sku_and_location(&q, &locations))
            (ui::select("Show", "show", &show, &q.text("show")))
        }))
        (ui::table("Reorder levels", &[col("SKU"), col("Location"), col("Available").num(), col("Incoming").num(),
            col("Low"), col("Suggested order").num(), col("Reorder point")], rows, "Nothing is low."))
        (ui::pager("/console/inventory/low", &q, found.next_cursor.as_deref()))
        @if let Some(staff) = writer {
            h2 { "Set a reorder point" }
            (ui::form(staff, "/console/inventory/reorder-point", html! {
                (ui::input("SKU", "sku", "text", "").required())
                (ui::select("Location", "location_id", &location_options(&locations, false), ""))
                (ui::input("Reorder point", "reorder_point", "number", "").min("0"))
                (ui::input("Order quantity", "reorder_quantity", "number", "").min("1"))
                (ui::input("Lead time (days)", "lead_time_days", "number", "").min("0"))
            }, "Set"))
        }
    };
    page(&staff, &headers, "Low stock", body)
}

/// A level's reorder point, editable in its row. Every field the point is saved with is in the
/// form, with its value: one left out would be saved as cleared.
fn reorder_form(staff: &Staff, l: &ReorderLevel) -> Markup {
    let value = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    ui::form_of(
        staff,
        "/console/inventory/reorder-point",
        html! {
            (ui::hidden("sku", &l.sku))
            (ui::hidden("location_id", &l.location_id.to_string()))
            (ui::input("Point", "reorder_point", "number", &value(l.reorder_point)).min("0").size(4))
            (ui::input("Order qty", "reorder_quantity", "number", &value(l.reorder_quantity)).min("1").size(4))
            (ui::input("Lead days", "lead_time_days", "number", &value(l.lead_time_days)).min("0").size(3))
        },
        Kind::Secondary,
        "Save",
    )
}

async fn transfers(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::InventoryRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = TransferQuery {
        status: q.opt("status"),
        location_id: None,
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let (found, locations) = match load(&app, &staff, move |tx| {
        Ok((
            inventory::list_transfers(tx, &query)?,
            catalog::list_locations(tx)?,
        ))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let writer = staff.may(Permission::InventoryWrite).then_some(&staff);
    let rows = found
        .items
        .iter()
        .map(|t| {
            vec![
                html! { (t.id) },
                html! { (code_of(&locations, t.from_location_id)) },
                html! { (code_of(&locations, t.to_location_id)) },
                ui::badge(&t.status),
                html! {
                    @for (i, l) in t.lines.iter().enumerate() {
                        @if i > 0 { br; }
                        (sku_link(&l.sku)) " × " (ui::count(l.quantity))
                        " (" (ui::count(l.received_quantity)) " received)"
                    }
                },
                html! { (staff.when(&t.created_at)) },
                writer.map_or_else(|| html! {}, |staff| transfer_actions(staff, t)),
            ]
        })
        .collect();
    let statuses = ui::any_of(&ui::names(TransferStatus::ALL, TransferStatus::as_str));
    let body = html! {
        (subnav("/console/transfers"))
        (ui::filter_form("/console/transfers", &q, html! {
            (ui::select("Status", "status", &statuses, &q.text("status")))
        }))
        (paged_table("Transfers, newest first", &[col("#").num(), col("From"), col("To"), col("Status"),
            col("Lines"), col("Created"), col("Actions")], rows, "No transfer.", "/console/transfers", &q))
        (ui::pager("/console/transfers", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Transfers", body)
}

/// What can be done with a transfer where it stands: ship or cancel a draft (cancelling asks
/// to confirm), receive what is on its way.
fn transfer_actions(staff: &Staff, t: &Transfer) -> Markup {
    let action = |a: &str| format!("/console/transfers/{}/{a}", t.id);
    match t.status.as_str() {
        "draft" => html! {
            (ui::form(staff, &action("ship"), html! {}, "Ship"))
            (ui::danger_form(staff, &action("cancel"), html! {}, "Cancel transfer",
                &format!("Yes, cancel transfer {}", t.id)))
        },
        "in_transit" | "partially_received" => {
            ui::form(staff, &action("receive"), html! {}, "Receive all")
        }
        _ => html! {},
    }
}

/// Ships, receives (everything outstanding) or cancels a transfer from the list; cancelling is
/// refused unless confirmed.
async fn transfer_action(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, form: f }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/transfers",
        move |tx, ctx| match action.as_str() {
            "ship" => inventory::ship_transfer(tx, ctx, id),
            "receive" => inventory::receive_transfer(tx, ctx, id, &ReceiveTransfer { lines: None }),
            "cancel" => {
                f.confirmed()?;
                inventory::cancel_transfer(tx, ctx, id)
            }
            _ => Err(backroom_core::Error::NotFound {
                entity: "transfer action",
            }),
        },
        |t| format!("Transfer {} is {}.", t.id, t.status.replace('_', " ")),
    )
    .await
}
