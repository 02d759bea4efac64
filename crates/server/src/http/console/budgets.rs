//! Budgets and targets: a month's revenue and order targets (to date, at pace, forecast, gap),
//! its operating budgets against their actuals, and the campaign budgets with their spend;
//! forms to set each (targets and budgets: operations and admins; campaign budgets: marketing
//! too).

use super::ui::{self, col};
use super::{App, Fields, Posted, Staff, act_on, load, page};
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use backroom_core::budgets::plan::{self, BudgetIn, BudgetReport, TargetIn, TargetReport};
use backroom_core::budgets::{self, CampaignBudget, NewCampaignBudget};
use backroom_domain::roles::Permission;
use maud::{Markup, html};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/console/budgets", get(show))
        .route("/console/budgets/targets", post(set_target))
        .route("/console/budgets/operating", post(set_budget))
        .route("/console/budgets/campaigns", post(create_campaign))
}

struct Data {
    month: String,
    targets: TargetReport,
    budgets: BudgetReport,
    campaigns: Vec<CampaignBudget>,
}

/// The targets as cards and a table (also the home page's).
pub(super) fn targets_section(r: &TargetReport) -> Markup {
    let m = |v: i64| ui::money(v, &r.currency);
    html! {
        (ui::table(&format!("Targets, {} (day {} of {})", r.month, r.days_elapsed, r.days_in_month), &[
            col("For"), col("Target").num(), col("To date").num(), col("At pace").num(), col("Forecast").num(),
            col("Gap").num(), col("Orders target").num(), col("Orders to date").num(), col("Orders forecast").num(),
        ], r.targets.iter().map(|t| vec![
            html! { (t.channel.as_deref().unwrap_or("the store")) },
            html! { (m(t.target_revenue)) },
            html! { (m(t.revenue_to_date)) },
            html! { (t.revenue_at_pace.map_or("-".into(), m)) },
            html! { (m(t.revenue_forecast)) },
            html! { @if t.revenue_gap > 0 { span.down { (m(t.revenue_gap)) " short" } } @else { span.up { (m(-t.revenue_gap)) " ahead" } } },
            html! { (t.target_orders.map_or("-".into(), ui::count)) },
            html! { (ui::count(t.orders_to_date)) },
            html! { (ui::count(t.orders_forecast)) },
        ]).collect(), "No target for this month."))
    }
}

async fn show(State(app): State<App>, headers: HeaderMap, Query(q): Query<Fields>) -> Response {
    let staff = match Staff::viewing(&app, &headers, Permission::AnalyticsRead).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(e) = backroom_core::analytics::refresh::run(&app.db).await {
        return super::failed(&staff, &e);
    }
    let ctx = staff.ctx();
    let d = match load(&app, &staff, move |tx| {
        let month = plan::month_or_this(tx, q.get("month"))?;
        Ok(Data {
            targets: plan::target_report(tx, &ctx, &month)?,
            budgets: plan::budget_report(tx, &ctx, &month)?,
            campaigns: budgets::list(tx, &ctx)?,
            month,
        })
    })
    .await
    {
        Ok(d) => d,
        Err(r) => return r,
    };
    let cur = d.budgets.currency.clone();
    let m = |v: Option<i64>| v.map_or("-".to_string(), |v| ui::money(v, &cur));
    let categories = ui::options(
        &backroom_domain::budgets::Category::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>(),
    );
    let body = html! {
        form.filters method="get" action="/console/budgets" {
            (ui::input("Month", "month", "month", &d.month))
            (ui::button(ui::Kind::Secondary, "Show"))
        }
        (targets_section(&d.targets))
        (ui::table(&format!("Operating budgets, {}", d.month), &[
            col("Category"), col("Budget").num(), col("Actual").num(), col("Variance").num(), col("At pace").num(), col("Actual from"),
        ], d.budgets.lines.iter().map(|l| vec![
            html! { (l.category) }, html! { (m(l.budget)) }, html! { (m(l.actual)) },
            html! { @match l.variance { Some(v) if v > 0 => span.down { (ui::money(v, &cur)) " over" }, Some(v) => span.up { (ui::money(-v, &cur)) " under" }, None => "-" } },
            html! { (m(l.at_pace)) }, html! { (l.source) },
        ]).collect(), ""))
        (ui::table("Campaign budgets", &[
            col("Campaign"), col("Days"), col("Ad spend").num(), col("Cap").num(), col("Discounts").num(), col("Cap").num(),
            col("Uses").num(), col("ROAS").num(), col("CAC").num(), col("Status"),
        ], d.campaigns.iter().map(|b| vec![
            html! { (b.campaign) }, html! { (b.starts_on) " to " (b.ends_on) },
            html! { (ui::money(b.ad_spend, &cur)) @if let Some(p) = b.ad_spend_at_pace { br; span.muted { (ui::money(p, &cur)) " at pace" } } },
            html! { (m(b.ad_spend_cap)) },
            html! { (ui::money(b.discount_spent, &cur)) },
            html! { (m(b.discount_cap)) },
            html! { (ui::count(b.uses)) @if let Some(c) = b.usage_cap { " of " (ui::count(c)) } },
            html! { (b.roas.map_or("-".into(), |r| format!("{r:.2}"))) },
            html! { (m(b.cac)) },
            html! { (ui::badge(&b.status.replace('_', " "))) },
        ]).collect(), "No campaign budget yet."))
        @if staff.may(Permission::SettingsWrite) {
            div.grid {
                (ui::form(&staff, "/console/budgets/targets", html! {
                    (ui::hidden("month", &d.month))
                    (ui::input("Channel", "channel", "text", "").hint("a channel code; empty for the whole store"))
                    (ui::input(&format!("Revenue target ({cur})"), "revenue", "text", "").required().hint("net sales for the month"))
                    (ui::input("Orders target", "orders", "number", ""))
                }, "Set target"))
                (ui::form(&staff, "/console/budgets/operating", html! {
                    (ui::hidden("month", &d.month))
                    (ui::select("Category", "category", &categories, "advertising"))
                    (ui::input(&format!("Budget ({cur})"), "amount", "text", "").required())
                    (ui::input(&format!("Actual so far ({cur})"), "actual", "text", "").hint("for shipping, support and other only"))
                }, "Set budget"))
            }
        }
        @if staff.may(Permission::MarketingWrite) {
            h2 { "New campaign budget" }
            (ui::form(&staff, "/console/budgets/campaigns", html! {
                (ui::input("Campaign", "campaign", "text", "").required().hint("the utm_campaign its ads and promotions carry"))
                (ui::input("First day", "starts_on", "date", "").required())
                (ui::input("Last day", "ends_on", "date", "").required())
                (ui::input(&format!("Ad spend cap ({cur})"), "ad_spend_cap", "text", ""))
                (ui::input(&format!("Discount cap ({cur})"), "discount_cap", "text", "").hint("its promotions stop applying once their discounts reach it"))
                (ui::input("Uses cap", "usage_cap", "number", ""))
            }, "Create budget"))
        }
    };
    page(&staff, &headers, "Budgets and targets", body)
}

/// The store's currency, which amounts typed in the forms are in.
async fn store_currency(app: &App, staff: &Staff) -> Result<backroom_domain::Currency, Response> {
    load(app, staff, |tx| {
        Ok(backroom_core::settings::load(tx)?.currency)
    })
    .await
}

async fn set_target(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let cur = match store_currency(&app, &staff).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let back = format!("/console/budgets?month={}", form.raw("month"));
    let parsed = (|| {
        Ok::<_, backroom_core::Error>(vec![TargetIn {
            month: form.text("month"),
            channel: form.opt("channel"),
            revenue: form.opt_amount("revenue", cur)?.unwrap_or(0),
            orders: form.opt_int("orders")?,
        }])
    })();
    act_on(
        &app,
        &staff,
        &back,
        parsed,
        |tx, ctx, rows| plan::put_targets(tx, ctx, rows),
        |_| "Target set".to_string(),
    )
    .await
}

async fn set_budget(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let cur = match store_currency(&app, &staff).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let back = format!("/console/budgets?month={}", form.raw("month"));
    let parsed = (|| {
        Ok::<_, backroom_core::Error>(vec![BudgetIn {
            month: form.text("month"),
            category: form.text("category"),
            amount: form.opt_amount("amount", cur)?.unwrap_or(0),
            actual: form.opt_amount("actual", cur)?,
        }])
    })();
    act_on(
        &app,
        &staff,
        &back,
        parsed,
        |tx, ctx, rows| plan::put_budgets(tx, ctx, rows),
        |_| "Budget set".to_string(),
    )
    .await
}

async fn create_campaign(State(app): State<App>, Posted { staff, form }: Posted) -> Response {
    let cur = match store_currency(&app, &staff).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let parsed = (|| {
        Ok::<_, backroom_core::Error>(NewCampaignBudget {
            campaign: form.text("campaign"),
            starts_on: form.text("starts_on"),
            ends_on: form.text("ends_on"),
            ad_spend_cap: form.opt_amount("ad_spend_cap", cur)?,
            discount_cap: form.opt_amount("discount_cap", cur)?,
            usage_cap: form.opt_int("usage_cap")?,
        })
    })();
    act_on(
        &app,
        &staff,
        "/console/budgets",
        parsed,
        budgets::create,
        |b: &CampaignBudget| format!("Budget for {} created", b.campaign),
    )
    .await
}
