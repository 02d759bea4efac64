//! Finding anything: one search over orders (number, email, customer name or phone), products
//! (title or SKU) and customers (name, email or phone), each part shown when the role may read
//! it; and the help page with the keyboard shortcuts.

use super::ui::{self, col};
use super::{App, Fields, Staff, load, page};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use backroom_core::catalog::{self, ProductQuery};
use backroom_core::customers::{self, CustomerQuery};
use backroom_core::orders::{self, OrderQuery};
use backroom_domain::roles::Permission;
use maud::html;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/search", get(search))
        .route("/console/help", get(help))
}

/// How many of each kind the search shows before "all results" links to the list.
const SHOWN: i64 = 10;

struct Found {
    orders: Option<backroom_core::api::Page<backroom_core::api::Order>>,
    products: Option<backroom_core::api::Page<backroom_core::api::Product>>,
    customers: Option<backroom_core::api::Page<backroom_core::api::Customer>>,
}

async fn search(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let Some(staff) = Staff::signed_in(&app, &headers).await else {
        return Redirect::to("/console/login").into_response();
    };
    let text = q.text("q");
    let may = (
        staff.may(Permission::OrdersRead),
        staff.may(Permission::CatalogRead),
        staff.may(Permission::CustomersRead),
    );
    let now = backroom_core::util::now_micros();
    let t = text.clone();
    let found = if text.is_empty() {
        Found {
            orders: None,
            products: None,
            customers: None,
        }
    } else {
        match load(&app, &staff, move |tx| {
            let q = Some(t.clone());
            Ok(Found {
                orders: may
                    .0
                    .then(|| {
                        orders::list(
                            tx,
                            &OrderQuery {
                                q: q.clone(),
                                limit: Some(SHOWN),
                                ..Default::default()
                            },
                            now,
                        )
                    })
                    .transpose()?,
                products: may
                    .1
                    .then(|| {
                        catalog::list_products(
                            tx,
                            &ProductQuery {
                                q: q.clone(),
                                limit: Some(SHOWN),
                                ..Default::default()
                            },
                        )
                    })
                    .transpose()?,
                customers: may
                    .2
                    .then(|| {
                        customers::list_customers(
                            tx,
                            &CustomerQuery {
                                q: q.clone(),
                                limit: Some(SHOWN),
                                ..Default::default()
                            },
                        )
                    })
                    .transpose()?,
            })
        })
        .await
        {
            Ok(f) => f,
            Err(r) => return r,
        }
    };
    // An order number that matches exactly opens the order.
    if let Some(o) = found.orders.as_ref().and_then(|p| p.items.first())
        && text.trim_start_matches('#').parse::<i64>() == Ok(o.number)
        && found.products.as_ref().is_none_or(|p| p.items.is_empty())
    {
        return Redirect::to(&format!("/console/orders/{}", o.id)).into_response();
    }
    let all = |path: &str| format!("{path}{}", ui::query_string([("q", text.as_str())]));
    let body = html! {
        form.filters method="get" action="/console/search" role="search" aria-label="Search" {
            (ui::input("Order number, email, name, phone, product title or SKU", "q", "search", &text))
            div.actions { (ui::button(ui::Kind::Primary, "Search")) }
        }
        @if text.is_empty() {
            p.muted { "Type what you are looking for. Press " kbd { "/" } " on any page to come here." }
        } @else {
            @if let Some(o) = &found.orders {
                h2 { "Orders" }
                (ui::table("Orders", &[col("Order"), col("Customer"), col("Status"), col("Total").num(), col("Placed")],
                    o.items.iter().map(|o| vec![
                        ui::link(&format!("/console/orders/{}", o.id), &format!("#{}", o.number)),
                        html! { (o.customer.name) br; span.muted { (o.customer.email) } },
                        ui::badge(o.status.as_str()),
                        html! { (ui::show_money(&o.total)) },
                        html! { (staff.when(&o.placed_at)) },
                    ]).collect(), "No order matches."))
                @if o.next_cursor.is_some() { p { a href=(all("/console/orders")) { "All matching orders" } } }
            }
            @if let Some(p) = &found.products {
                h2 { "Products" }
                (ui::table("Products", &[col("Product"), col("Status"), col("Vendor")],
                    p.items.iter().map(|p| vec![
                        ui::link(&format!("/console/products/{}", p.id), &p.title),
                        ui::badge(p.status.as_str()),
                        html! { (p.vendor) },
                    ]).collect(), "No product matches."))
                @if p.next_cursor.is_some() { p { a href=(all("/console/products")) { "All matching products" } } }
            }
            @if let Some(c) = &found.customers {
                h2 { "Customers" }
                (ui::table("Customers", &[col("Name"), col("Email"), col("Phone"), col("Orders").num()],
                    c.items.iter().map(|c| vec![
                        ui::link(&format!("/console/customers/{}", c.id), &format!("{} {}", c.first_name, c.last_name)),
                        html! { (c.email) },
                        html! { (c.phone.as_deref().unwrap_or("–")) },
                        html! { (ui::count(c.orders_count)) },
                    ]).collect(), "No customer matches."))
                @if c.next_cursor.is_some() { p { a href=(all("/console/customers")) { "All matching customers" } } }
            }
        }
    };
    page(&staff, &headers, "Search", body)
}

/// The keyboard shortcuts: (keys, what they do).
pub(super) const SHORTCUTS: &[(&str, &str)] = &[
    ("/", "Search orders, products and customers"),
    ("g h", "Go to the home page"),
    ("g o", "Go to orders"),
    ("g r", "Go to returns"),
    ("g p", "Go to products"),
    ("g i", "Go to stock levels"),
    ("g l", "Go to low stock"),
    ("g t", "Go to transfers"),
    ("g c", "Go to customers"),
    ("g a", "Go to analytics"),
    ("g s", "Go to settings"),
    ("?", "Open this page"),
];

async fn help(State(app): State<App>, headers: HeaderMap) -> Response {
    let Some(staff) = Staff::signed_in(&app, &headers).await else {
        return Redirect::to("/console/login").into_response();
    };
    let body = html! {
        (ui::card(Some("Keyboard shortcuts"), html! {
            p.muted { "Shortcuts work anywhere but in a text field. Every page also works without them, and without script." }
            (ui::table("Keyboard shortcuts", &[col("Keys"), col("Does")],
                SHORTCUTS.iter().map(|(k, what)| vec![
                    html! { @for (i, key) in k.split(' ').enumerate() { @if i > 0 { " then " } kbd { (key) } } },
                    html! { (what) },
                ]).collect(), ""))
        }))
        (ui::card(Some("Finding things"), html! {
            p { "The search box at the top of every page finds orders by number (" kbd { "1042" } " or " kbd { "#1042" }
                "), by the customer's email, name or phone; products by title or SKU; customers by name, email or phone. "
                "An exact order number opens the order." }
            p { "Lists sort by the columns whose headings are links, and keep their filters when you page, sort or act on several rows at once." }
        }))
        (ui::card(Some("Times and money"), html! {
            p { "Times are shown in the store's time zone, set under Settings. Amounts are in the store's currency, with thousands separators; exports (CSV) carry plain numbers." }
        }))
    };
    page(&staff, &headers, "Help", body)
}
