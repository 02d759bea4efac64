//! Promotions: every promotion with its code, what it gives, its window and how often it was
//! used against its limit; a form to create one (marketing, operations, admins).

use super::ui::{self, col};
use super::{App, Posted, Staff, act_on, load, page};
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use backroom_core::promotions::{self, NewPromotion, Promotion};
use backroom_domain::roles::Permission;
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new().route("/console/promotions", get(list).post(create))
}

/// What a promotion gives, as people say it.
fn gives(p: &Promotion, currency: &str) -> String {
    match (p.kind.as_str(), p.value.as_deref()) {
        ("percentage", Some(v)) => format!("{v}% off"),
        ("fixed_amount", Some(v)) => {
            let minor = v.parse::<i64>().unwrap_or(0);
            format!("{} off", ui::money(minor, currency))
        }
        _ => "free shipping".into(),
    }
}

async fn list(State(app): State<App>, headers: HeaderMap) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::OrdersRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let ctx = staff.ctx();
    let (all, currency) = match load(&app, &staff, move |tx| {
        Ok((
            promotions::list(tx, &ctx)?,
            backroom_core::settings::load(tx)?
                .currency
                .as_str()
                .to_string(),
        ))
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let rows: Vec<Vec<Markup>> = all
        .iter()
        .map(|p| {
            vec![
                html! { (p.name) },
                html! { code { (p.code.as_deref().unwrap_or("-")) } },
                html! { (gives(p, &currency)) },
                html! {
                    (ui::count(p.times_used))
                    @if let Some(l) = p.usage_limit { " of " (ui::count(l)) }
                },
                html! { (p.usage_limit_per_customer.map_or("-".into(), |l| l.to_string())) },
                html! { (p.starts_at.as_deref().map_or("-".into(), |t| staff.when(t))) },
                html! { (p.ends_at.as_deref().map_or("-".into(), |t| staff.when(t))) },
            ]
        })
        .collect();
    let kinds = ui::options(&["percentage", "fixed_amount", "free_shipping"]);
    let body = html! {
        p.muted { "A code gives its promotion to an order placed with it (one per order): a percentage or an amount off the lines, spread over them, or free shipping. Limits are exact however many orders race for the last uses; a cancelled order gives its use back." }
        (ui::table("Promotions, newest first", &[
            col("Promotion"), col("Code"), col("Gives"), col("Used").num(), col("Per customer").num(), col("From"), col("Until"),
        ], rows, "No promotion yet."))
        @if staff.may(Permission::MarketingWrite) {
            h2 { "New promotion" }
            (ui::form(&staff, "/console/promotions", html! {
                (ui::input("Name", "name", "text", "").required())
                (ui::select("Kind", "kind", &kinds, "percentage"))
                (ui::input("Value", "value", "text", "").hint(&format!("a percentage such as 10, or an amount in minor units such as 500 ({currency}); empty for free shipping")))
                (ui::input("Code", "code", "text", "").required().hint("letters, digits, - or _; customers type it in any case"))
                (ui::input("Uses in all", "usage_limit", "number", "").hint("empty for no limit"))
                (ui::input("Uses per customer", "usage_limit_per_customer", "number", ""))
                (ui::input("From", "starts_at", "date", ""))
                (ui::input("Until (not included)", "ends_at", "date", ""))
            }, "Create promotion"))
        }
    };
    page(&staff, &headers, "Promotions", body)
}

async fn create(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let back = "/console/promotions";
    let parsed = (|| {
        Ok::<_, backroom_core::Error>(NewPromotion {
            name: form.text("name"),
            kind: form.text("kind"),
            value: form.opt("value"),
            code: form.opt("code"),
            usage_limit: form.opt_int("usage_limit")?,
            usage_limit_per_customer: form.opt_int("usage_limit_per_customer")?,
            starts_at: form.opt("starts_at"),
            ends_at: form.opt("ends_at"),
            ..NewPromotion::default()
        })
    })();
    act_on(
        &app,
        &staff,
        back,
        parsed,
        promotions::create,
        |p: &Promotion| format!("Promotion {} created", p.name),
    )
    .await
}
