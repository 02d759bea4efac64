//! Customers: search, and a profile with orders, lifetime value, acquisition source and consent.

use super::{
    App, Fields, Staff, badge, esc, filter_form, input, link, load, page_html, pager, select,
    show_money, table, when,
};
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use backroom_core::customers::{self, CustomerQuery};
use backroom_core::orders::{self, OrderQuery};
use backroom_domain::roles::Permission;
use std::fmt::Write;

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/customers", get(list))
        .route("/console/customers/{id}", get(show))
}

async fn list(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::CustomersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = CustomerQuery {
        q: q.opt("q"),
        accepts_marketing: q.flag("accepts_marketing"),
        sort: None,
        limit: Some(50),
        cursor: q.opt("cursor"),
    };
    let found = match load(&app, &staff, move |tx| {
        customers::list_customers(tx, &query)
    })
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut body = filter_form(
        "/console/customers",
        &[
            input("Name or email", "q", "search", &q.text("q"), "autofocus"),
            select(
                "Marketing consent",
                "accepts_marketing",
                &[
                    (String::new(), "any".into()),
                    ("yes".into(), "consented".into()),
                    ("no".into(), "not consented".into()),
                ],
                &q.text("accepts_marketing"),
            ),
        ]
        .concat(),
    );
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|c| {
            vec![
                link(
                    &format!("/console/customers/{}", c.id),
                    &format!("{} {}", c.first_name, c.last_name),
                ),
                esc(&c.email),
                c.orders_count.to_string(),
                esc(&show_money(&c.lifetime_value)),
                esc(c.acquisition_source.as_deref().unwrap_or("–")),
                if c.accepts_marketing {
                    badge("consented")
                } else {
                    String::new()
                },
                esc(&when(&c.created_at)),
            ]
        })
        .collect();
    body.push_str(&table(
        "Customers, newest first",
        &[
            "Name",
            "Email",
            "Orders",
            "Lifetime value",
            "Acquired from",
            "Marketing",
            "Since",
        ],
        &rows,
        "No customer matches.",
    ));
    body.push_str(&pager(
        "/console/customers",
        &q,
        found.next_cursor.as_deref(),
    ));
    page_html(&staff, &headers, "Customers", &body)
}

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
    let aov = if c.orders_count > 0 {
        super::money(
            c.total_spent.amount / c.orders_count,
            &c.total_spent.currency,
        )
    } else {
        "–".into()
    };
    let mut body = String::from("<dl>");
    for (label, value) in [
        ("Email", esc(&c.email)),
        ("Phone", esc(c.phone.as_deref().unwrap_or("–"))),
        ("Orders", c.orders_count.to_string()),
        (
            "Lifetime value",
            format!(
                "<span data-ltv=\"{}\">{}</span> <small>net sales to date: orders' merchandise net of discounts and tax, less refunds</small>",
                c.lifetime_value.amount,
                esc(&show_money(&c.lifetime_value))
            ),
        ),
        ("Total spent", esc(&show_money(&c.total_spent))),
        ("Average order", esc(&aov)),
        (
            "Acquired from",
            esc(c.acquisition_source.as_deref().unwrap_or("unknown")),
        ),
        (
            "Marketing consent",
            if c.accepts_marketing {
                format!(
                    "yes, since {}{}",
                    esc(&c
                        .marketing_consent_at
                        .as_deref()
                        .map(when)
                        .unwrap_or_default()),
                    c.marketing_consent_source
                        .as_deref()
                        .map(|s| format!(" ({})", esc(s)))
                        .unwrap_or_default()
                )
            } else {
                "no".into()
            },
        ),
        ("Tags", esc(&c.tags.join(", "))),
        ("Customer since", esc(&when(&c.created_at))),
    ] {
        let _ = write!(body, "<dt>{label}</dt><dd>{value}</dd>");
    }
    body.push_str("</dl>");
    if let Some(n) = &c.note {
        let _ = write!(body, "<p>Note: {}</p>", esc(n));
    }
    let rows: Vec<Vec<String>> = placed
        .items
        .iter()
        .map(|o| {
            vec![
                link(&format!("/console/orders/{}", o.id), &o.name),
                esc(&when(&o.placed_at)),
                esc(&show_money(&o.total)),
                badge(&o.status),
                badge(&o.payment_status),
                badge(&o.fulfillment_status),
            ]
        })
        .collect();
    body.push_str("<h2>Orders</h2>");
    body.push_str(&table(
        "Orders, newest first",
        &[
            "Order",
            "Placed",
            "Total",
            "Status",
            "Payment",
            "Fulfillment",
        ],
        &rows,
        "No order yet.",
    ));
    body.push_str(&pager(
        &format!("/console/customers/{id}"),
        &q,
        placed.next_cursor.as_deref(),
    ));
    page_html(
        &staff,
        &headers,
        &format!("{} {}", c.first_name, c.last_name),
        &body,
    )
}
