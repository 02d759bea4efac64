//! Inventory: stock by SKU and location; a SKU's page with receive, adjust, count, damage and
//! transfer forms and its ledger; low stock with reorder points editable in place; transfers.

use super::{
    App, Fields, Posted, Staff, act, badge, code_of, esc, filter_form, form, input, link, load,
    location_options, names, options, page_html, pager, select, table, when,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::api::{
    AdjustStock, CountStock, DamageStock, LedgerEntry, Location, NewTransfer, Page, ReceiveStock,
    ReceiveTransfer, SetBin, SetReorderPoint, SkuQuantity, SkuStock,
};
use backroom_core::catalog;
use backroom_core::inventory::{self, LedgerQuery, LevelQuery, ReorderQuery, TransferQuery};
use backroom_domain::order::TransferStatus;
use backroom_domain::roles::Permission;
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

fn sku_link(sku: &str) -> String {
    link(
        &format!("/console/inventory/sku?sku={}", super::ui::url_encode(sku)),
        sku,
    )
}

/// The filters every stock list starts with: part of a SKU, and a location.
fn sku_and_location(q: &Fields, locations: &[backroom_core::api::Location]) -> String {
    [
        input("SKU contains", "sku", "search", &q.text("sku"), ""),
        select(
            "Location",
            "location_id",
            &location_options(locations, true),
            &q.text("location_id"),
        ),
    ]
    .concat()
}

/// The links between the inventory pages.
const SUBNAV: &str = "<nav class=\"sub\" aria-label=\"Inventory\"><a href=\"/console/inventory\">Stock levels</a> · <a href=\"/console/inventory/low\">Low stock</a> · <a href=\"/console/transfers\">Transfers</a></nav>";

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
    let mut body = String::from(SUBNAV);
    body.push_str(&filter_form(
        "/console/inventory",
        &[
            sku_and_location(&q, &locations),
            select(
                "Show",
                "out_of_stock",
                &[
                    (String::new(), "all levels".into()),
                    ("yes".into(), "out of stock only".into()),
                ],
                &q.text("out_of_stock"),
            ),
        ]
        .concat(),
    ));
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|l| {
            vec![
                sku_link(&l.sku),
                esc(&l.location_code),
                l.on_hand.to_string(),
                l.reserved.to_string(),
                l.unavailable.to_string(),
                format!("<strong>{}</strong>", l.available),
                l.incoming.to_string(),
                esc(l.bin.as_deref().unwrap_or("–")),
            ]
        })
        .collect();
    body.push_str(&table(
        "Stock levels",
        &[
            "SKU",
            "Location",
            "On hand",
            "Reserved",
            "Unavailable",
            "Available",
            "Incoming",
            "Bin",
        ],
        &rows,
        "No stock level matches these filters.",
    ));
    body.push_str(&pager(
        "/console/inventory",
        &q,
        found.next_cursor.as_deref(),
    ));
    page_html(&staff, &headers, "Inventory", &body)
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
    let mut body = String::from(SUBNAV);
    let writer = staff.may(Permission::InventoryWrite).then_some(&staff);
    body.push_str(&stock_section(&stock, product, writer));
    if staff.may(Permission::InventoryWrite) {
        body.push_str(&change_forms(&staff, &sku, &locations, &stock.levels));
    }
    body.push_str(&ledger_section(&q, &sku, &ledger, &locations));
    page_html(&staff, &headers, &format!("Stock of {sku}"), &body)
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

/// The SKU's policy and product, its stock by location, and the totals.
/// A SKU's stock by location; its bins editable in place for a member who may change stock.
fn stock_section(stock: &SkuStock, product: i64, writer: Option<&Staff>) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<p>Policy when out of stock: <strong>{}</strong> · {}</p>",
        esc(&stock.inventory_policy),
        link(&format!("/console/products/{product}"), "Product page")
    ));
    let rows: Vec<Vec<String>> = stock
        .levels
        .iter()
        .map(|l| {
            vec![
                esc(&l.location_code),
                l.on_hand.to_string(),
                l.reserved.to_string(),
                l.unavailable.to_string(),
                format!(
                    "<strong data-available-at=\"{}\">{}</strong>",
                    esc(&l.location_code),
                    l.available
                ),
                l.incoming.to_string(),
                match writer {
                    Some(staff) => form(
                        staff,
                        "/console/inventory/bin",
                        &format!(
                            "<input type=\"hidden\" name=\"sku\" value=\"{}\"><input type=\"hidden\" name=\"location_id\" value=\"{}\">{}",
                            esc(&stock.sku),
                            l.location_id,
                            input(
                                "Bin",
                                "bin",
                                "text",
                                l.bin.as_deref().unwrap_or_default(),
                                "maxlength=\"64\" size=\"8\""
                            )
                        ),
                        "Save",
                    ),
                    None => esc(l.bin.as_deref().unwrap_or("–")),
                },
            ]
        })
        .collect();
    body.push_str(&table(
        "Stock by location",
        &[
            "Location",
            "On hand",
            "Reserved",
            "Unavailable",
            "Available",
            "Incoming",
            "Bin",
        ],
        &rows,
        "No stock at any location yet.",
    ));
    let t = &stock.totals;
    body.push_str(&format!(
        "<p>Total: {} on hand, {} reserved, {} unavailable, <strong>{} available</strong>, {} incoming.</p>",
        t.on_hand, t.reserved, t.unavailable, t.available, t.incoming
    ));
    body
}

/// Where a transfer of a SKU starts out: from the active location with the most of it
/// available (the first location when none has any), to the first other active location; never
/// the same location on both sides when there are two.
fn transfer_defaults(
    locations: &[Location],
    levels: &[backroom_core::api::StockLevel],
) -> (String, String) {
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
fn change_forms(
    staff: &Staff,
    sku: &str,
    locations: &[Location],
    levels: &[backroom_core::api::StockLevel],
) -> String {
    let (from, to) = transfer_defaults(locations, levels);
    let mut body = String::new();
    let here = |extra: &str| {
        format!(
            "<input type=\"hidden\" name=\"sku\" value=\"{}\">{}{extra}",
            esc(sku),
            select(
                "Location",
                "location_id",
                &location_options(locations, false),
                ""
            )
        )
    };
    body.push_str("<h2>Change stock</h2><div class=\"grid\">");
    body.push_str(&form(
        staff,
        "/console/inventory/receive",
        &here(
            &[
                input(
                    "Units received",
                    "quantity",
                    "number",
                    "",
                    "required min=\"1\"",
                ),
                input("Note", "note", "text", "", ""),
            ]
            .concat(),
        ),
        "Receive",
    ));
    body.push_str(&form(
        staff,
        "/console/inventory/adjust",
        &here(
            &[
                input("Change (+/-)", "delta", "number", "", "required"),
                input("Reason", "note", "text", "", "required"),
            ]
            .concat(),
        ),
        "Adjust",
    ));
    body.push_str(&form(
        staff,
        "/console/inventory/count",
        &here(
            &[
                input(
                    "Counted on hand",
                    "counted",
                    "number",
                    "",
                    "required min=\"0\"",
                ),
                input("Note", "note", "text", "", ""),
            ]
            .concat(),
        ),
        "Record count",
    ));
    body.push_str(&form(
        staff,
        "/console/inventory/damage",
        &here(
            &[
                input("Units", "quantity", "number", "", "required min=\"1\""),
                select(
                    "Action",
                    "action",
                    &[
                        ("mark".into(), "mark damaged (unavailable)".into()),
                        ("release".into(), "release back to sellable".into()),
                        ("write_off".into(), "write off".into()),
                    ],
                    "mark",
                ),
                input("Note", "note", "text", "", ""),
            ]
            .concat(),
        ),
        "Record damage",
    ));
    body.push_str(&form(
        staff,
        "/console/inventory/transfer",
        &[
            format!(
                "<input type=\"hidden\" name=\"sku\" value=\"{}\">",
                esc(sku)
            ),
            select(
                "From",
                "from_location_id",
                &location_options(locations, false),
                &from,
            ),
            select(
                "To",
                "to_location_id",
                &location_options(locations, false),
                &to,
            ),
            input("Units", "quantity", "number", "", "required min=\"1\""),
            select(
                "Ship now",
                "ship",
                &[
                    ("yes".into(), "yes, units leave now".into()),
                    ("no".into(), "no, keep a draft".into()),
                ],
                "yes",
            ),
            input("Note", "note", "text", "", ""),
        ]
        .concat(),
        "Transfer",
    ));
    body.push_str("</div>");
    body
}

/// The SKU's ledger, newest first, filtered by location, with its pager.
/// A page of ledger entries, with the numbers of the orders they refer to (by id).
type Ledger = (Page<LedgerEntry>, HashMap<i64, i64>);

fn ledger_section(
    q: &Fields,
    sku: &str,
    (ledger, numbers): &Ledger,
    locations: &[Location],
) -> String {
    let mut body = String::new();
    body.push_str("<h2>Ledger</h2>");
    body.push_str(&filter_form(
        "/console/inventory/sku",
        &[
            format!(
                "<input type=\"hidden\" name=\"sku\" value=\"{}\">",
                esc(sku)
            ),
            select(
                "Location",
                "location_id",
                &location_options(locations, true),
                &q.text("location_id"),
            ),
        ]
        .concat(),
    ));
    let rows: Vec<Vec<String>> = ledger
        .items
        .iter()
        .map(|e| {
            let signed = |n: i64| {
                if n > 0 {
                    format!("+{n}")
                } else {
                    n.to_string()
                }
            };
            vec![
                esc(&when(&e.created_at)),
                esc(&code_of(locations, e.location_id)),
                badge(&e.reason),
                signed(e.on_hand_delta),
                signed(e.unavailable_delta),
                esc(&e.actor),
                match (&e.reference_type, e.reference_id) {
                    // An order by its number, as staff know it (its id means nothing to them).
                    (Some(t), Some(id)) if t == "order" => match numbers.get(&id) {
                        Some(n) => link(&format!("/console/orders/{id}"), &format!("order #{n}")),
                        None => esc(&format!("order (id {id})")),
                    },
                    (Some(t), Some(id)) => esc(&format!("{t} {id}")),
                    _ => String::new(),
                },
                esc(e.note.as_deref().unwrap_or_default()),
            ]
        })
        .collect();
    body.push_str(&table(
        "Ledger, newest first",
        &[
            "When",
            "Location",
            "Reason",
            "On hand",
            "Unavailable",
            "By",
            "Reference",
            "Note",
        ],
        &rows,
        "No ledger entry.",
    ));
    body.push_str(&pager(
        "/console/inventory/sku",
        q,
        ledger.next_cursor.as_deref(),
    ));
    body
}

/// Receive, adjust, count, damage, transfer or set a reorder point, then back to where the form
/// was.
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
    let mut body = String::from(SUBNAV);
    body.push_str("<p>Low stock: available plus incoming at or below the reorder point.</p>");
    body.push_str(&filter_form(
        "/console/inventory/low",
        &[
            sku_and_location(&q, &locations),
            select(
                "Show",
                "show",
                &[
                    (String::new(), "low only".into()),
                    ("all".into(), "every level with a reorder point".into()),
                ],
                &q.text("show"),
            ),
        ]
        .concat(),
    ));
    let writer = staff.may(Permission::InventoryWrite);
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|l| {
            let point = l.reorder_point.map(|p| p.to_string()).unwrap_or_default();
            let edit = if writer {
                form(
                    &staff,
                    "/console/inventory/reorder-point",
                    // Every field the point is saved with is in the form, with its value:
                    // one left out would be saved as cleared.
                    &format!(
                        "<input type=\"hidden\" name=\"sku\" value=\"{}\"><input type=\"hidden\" name=\"location_id\" value=\"{}\">{}{}{}",
                        esc(&l.sku),
                        l.location_id,
                        input("Point", "reorder_point", "number", &point, "min=\"0\" size=\"4\""),
                        input(
                            "Order qty",
                            "reorder_quantity",
                            "number",
                            &l.reorder_quantity.map(|p| p.to_string()).unwrap_or_default(),
                            "min=\"1\" size=\"4\""
                        ),
                        input(
                            "Lead days",
                            "lead_time_days",
                            "number",
                            &l.lead_time_days.map(|p| p.to_string()).unwrap_or_default(),
                            "min=\"0\" size=\"3\""
                        ),
                    ),
                    "Save",
                )
            } else {
                esc(&point)
            };
            vec![
                sku_link(&l.sku),
                esc(&l.location_code),
                l.available.to_string(),
                l.incoming.to_string(),
                if l.low { badge("low") } else { String::new() },
                l.suggested_order.to_string(),
                edit,
            ]
        })
        .collect();
    body.push_str(&table(
        "Reorder levels",
        &[
            "SKU",
            "Location",
            "Available",
            "Incoming",
            "",
            "Suggested order",
            "Reorder point",
        ],
        &rows,
        "Nothing is low.",
    ));
    body.push_str(&pager(
        "/console/inventory/low",
        &q,
        found.next_cursor.as_deref(),
    ));
    if writer {
        body.push_str("<h2>Set a reorder point</h2>");
        body.push_str(&form(
            &staff,
            "/console/inventory/reorder-point",
            &[
                input("SKU", "sku", "text", "", "required"),
                select(
                    "Location",
                    "location_id",
                    &location_options(&locations, false),
                    "",
                ),
                input("Reorder point", "reorder_point", "number", "", "min=\"0\""),
                input(
                    "Order quantity",
                    "reorder_quantity",
                    "number",
                    "",
                    "min=\"1\"",
                ),
                input(
                    "Lead time (days)",
                    "lead_time_days",
                    "number",
                    "",
                    "min=\"0\"",
                ),
            ]
            .concat(),
            "Set",
        ));
    }
    page_html(&staff, &headers, "Low stock", &body)
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
    let mut body = String::from(SUBNAV);
    let mut statuses = vec![(String::new(), "any".to_string())];
    statuses.extend(options(&names(TransferStatus::ALL, TransferStatus::as_str)));
    body.push_str(&filter_form(
        "/console/transfers",
        &select("Status", "status", &statuses, &q.text("status")),
    ));
    let writer = staff.may(Permission::InventoryWrite);
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|t| {
            let mut actions = String::new();
            if writer {
                let button = |action: &str, label: &str| {
                    form(
                        &staff,
                        &format!("/console/transfers/{}/{action}", t.id),
                        "",
                        label,
                    )
                };
                match t.status.as_str() {
                    "draft" => {
                        actions.push_str(&button("ship", "Ship"));
                        actions.push_str(&button("cancel", "Cancel"));
                    }
                    "in_transit" | "partially_received" => {
                        actions.push_str(&button("receive", "Receive all"));
                    }
                    _ => {}
                }
            }
            vec![
                t.id.to_string(),
                esc(&code_of(&locations, t.from_location_id)),
                esc(&code_of(&locations, t.to_location_id)),
                badge(&t.status),
                t.lines
                    .iter()
                    .map(|l| {
                        format!(
                            "{} × {} ({} received)",
                            sku_link(&l.sku),
                            l.quantity,
                            l.received_quantity
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("<br>"),
                esc(&when(&t.created_at)),
                actions,
            ]
        })
        .collect();
    body.push_str(&table(
        "Transfers, newest first",
        &["#", "From", "To", "Status", "Lines", "Created", ""],
        &rows,
        "No transfer.",
    ));
    body.push_str(&pager(
        "/console/transfers",
        &q,
        found.next_cursor.as_deref(),
    ));
    page_html(&staff, &headers, "Transfers", &body)
}

async fn transfer_action(
    State(app): State<App>,
    Path((id, action)): Path<(i64, String)>,
    Posted { staff, .. }: Posted,
) -> Response {
    act(
        &app,
        &staff,
        "/console/transfers",
        move |tx, ctx| match action.as_str() {
            "ship" => inventory::ship_transfer(tx, ctx, id),
            "receive" => inventory::receive_transfer(tx, ctx, id, &ReceiveTransfer { lines: None }),
            "cancel" => inventory::cancel_transfer(tx, ctx, id),
            _ => Err(backroom_core::Error::NotFound {
                entity: "transfer action",
            }),
        },
        |t| format!("Transfer {} is {}.", t.id, t.status.replace('_', " ")),
    )
    .await
}
