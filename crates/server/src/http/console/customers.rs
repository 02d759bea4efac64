//! Customers: search, sorted by the server, and a profile with orders, lifetime value,
//! acquisition source and consent.

use super::ui::{self, Col, col, show_money};
use super::{App, Fields, Staff, load, page};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use backroom_core::api::{Customer, Order, Page};
use backroom_core::auth::views;
use backroom_core::customers::{self, CustomerQuery};
use backroom_core::orders::{self, OrderQuery};
use backroom_domain::roles::Permission;
use maud::{Markup, Render, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/customers", get(list))
        .route("/console/customers/{id}", get(show))
}

/// The customer list's columns; the server sorts by those with a key.
const LIST_COLS: [Col; 8] = [
    col("Name").sort("name"),
    col("Email"),
    col("Orders").num().sort("orders_count"),
    col("Total spent").num().sort("total_spent"),
    col("Lifetime value").num(),
    col("Acquired from"),
    col("Marketing"),
    col("Since").sort("created_at"),
];

/// What the customer list's caption says of its order.
fn list_caption(sort: Option<&str>) -> &'static str {
    match sort {
        Some("name") => "Customers by name",
        Some("-name") => "Customers by name, Z to A",
        Some("orders_count") => "Customers by orders, fewest first",
        Some("-orders_count") => "Customers by orders, most first",
        Some("total_spent") => "Customers by total spent, least first",
        Some("-total_spent") => "Customers by total spent, most first",
        Some("created_at") => "Customers, oldest first",
        _ => "Customers, newest first",
    }
}

/// The customer list: name or email and consent filters, the customers in the order asked
/// (newest first by default), the pager.
async fn list(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::CustomersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = CustomerQuery {
        q: q.opt("q"),
        accepts_marketing: q.flag("accepts_marketing"),
        sort: q.opt("sort"),
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let ctx = staff.ctx();
    let (found, saved) = match load(&app, &staff, move |tx| {
        Ok((
            customers::list_customers(tx, &query)?,
            views::list_views(tx, &ctx, "/console/customers")?,
        ))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        (super::views::bar(&staff, "/console/customers", &q, &saved))
        (ui::filter_form("/console/customers", &q, html! {
            (ui::input("Name, email or phone", "q", "search", &q.text("q")))
            (ui::select("Marketing consent", "accepts_marketing", &[
                (String::new(), "any".into()),
                ("yes".into(), "consented".into()),
                ("no".into(), "not consented".into()),
            ], &q.text("accepts_marketing")))
        }))
        (list_table(&staff, &q, &found))
        (ui::pager("/console/customers", &q, found.next_cursor.as_deref()))
    };
    page(&staff, &headers, "Customers", body)
}

/// The customers found, in a table whose headings sort the list.
fn list_table(staff: &Staff, q: &Fields, found: &Page<Customer>) -> Markup {
    let rows: Vec<Vec<Markup>> = found
        .items
        .iter()
        .map(|c| {
            vec![
                ui::link(&format!("/console/customers/{}", c.id), &name_of(c)),
                html! { (c.email) },
                html! { (ui::count(c.orders_count)) },
                html! { (show_money(&c.total_spent)) },
                html! { (show_money(&c.lifetime_value)) },
                html! { (c.acquisition_source.as_deref().unwrap_or("–")) },
                if c.accepts_marketing {
                    ui::badge("consented")
                } else {
                    html! {}
                },
                html! { (staff.when(&c.created_at)) },
            ]
        })
        .collect();
    ui::Table {
        caption: list_caption(q.get("sort")),
        cols: &LIST_COLS,
        rows,
        empty: "No customer matches.",
        sorted: Some(("/console/customers", q)),
    }
    .render()
}

/// A customer's profile, and their orders, newest first, 25 to a page.
async fn show(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(q): Query<Fields>,
) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::CustomersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let cursor = q.opt("cursor");
    let now = backroom_core::util::now_micros();
    let (c, placed) = match load(&app, &staff, move |tx| {
        Ok((
            customers::get_customer(tx, id)?,
            orders::list(
                tx,
                &OrderQuery {
                    customer_id: Some(id),
                    limit: Some(25),
                    cursor: cursor.clone(),
                    ..Default::default()
                },
                now,
            )?,
        ))
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        (profile(&staff, &c))
        h2 { "Orders" }
        (orders_table(&staff, &placed))
        (ui::pager(&format!("/console/customers/{id}"), &q, placed.next_cursor.as_deref()))
    };
    page(&staff, &headers, &name_of(&c), body)
}

/// A customer's name as shown, or their email when the store has no name for them.
fn name_of(c: &Customer) -> String {
    let name = format!("{} {}", c.first_name, c.last_name);
    match name.trim() {
        "" => c.email.clone(),
        n => n.to_string(),
    }
}

/// What the store knows of a customer: contact, figures, where they came from, consent.
fn profile(staff: &Staff, c: &Customer) -> Markup {
    let aov = if c.orders_count > 0 {
        ui::money(
            c.total_spent.amount / c.orders_count,
            &c.total_spent.currency,
        )
    } else {
        "–".into()
    };
    let consent = if c.accepts_marketing {
        html! {
            "yes, since " (c.marketing_consent_at.as_deref().map(|t| staff.when(t)).unwrap_or_default())
            @if let Some(s) = &c.marketing_consent_source { " (" (s) ")" }
        }
    } else {
        html! { "no" }
    };
    html! {
        (ui::facts(&[
            ("Email", html! { (c.email) }),
            ("Phone", html! { (c.phone.as_deref().unwrap_or("–")) }),
            ("Orders", html! { (ui::count(c.orders_count)) }),
            ("Lifetime value", html! {
                span data-ltv=(c.lifetime_value.amount) { (show_money(&c.lifetime_value)) }
                " " small { "net sales to date: orders' merchandise net of discounts and tax, less refunds" }
            }),
            ("Total spent", html! { (show_money(&c.total_spent)) }),
            ("Average order", html! { (aov) }),
            ("Acquired from", html! { (c.acquisition_source.as_deref().unwrap_or("unknown")) }),
            ("Marketing consent", consent),
            ("Tags", html! { (c.tags.join(", ")) }),
            ("Customer since", html! { (staff.when(&c.created_at)) }),
        ]))
        @if let Some(n) = &c.note { p { "Note: " (n) } }
    }
}

/// A customer's orders.
fn orders_table(staff: &Staff, placed: &Page<Order>) -> Markup {
    let rows: Vec<Vec<Markup>> = placed
        .items
        .iter()
        .map(|o| {
            vec![
                ui::link(&format!("/console/orders/{}", o.id), &o.name),
                html! { (staff.when(&o.placed_at)) },
                html! { (show_money(&o.total)) },
                ui::badge(&o.status),
                ui::badge(&o.payment_status),
                ui::badge(&o.fulfillment_status),
            ]
        })
        .collect();
    ui::table(
        "Orders, newest first",
        &[
            col("Order"),
            col("Placed"),
            col("Total").num(),
            col("Status"),
            col("Payment"),
            col("Fulfillment"),
        ],
        rows,
        "No order yet.",
    )
}
