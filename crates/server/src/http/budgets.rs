//! Budgets and targets over HTTP: campaign budgets with their spend, operating budgets and
//! revenue targets per month with their actuals, pace and forecast.

use super::App;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Auth, Id};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use backroom_core::budgets::plan::{self, BudgetIn, BudgetReport, TargetIn, TargetReport};
use backroom_core::budgets::{self, CampaignBudget, CampaignBudgetPatch, NewCampaignBudget};

/// Creates a campaign's budget: caps on ad spend, discount cost and uses over its days.
#[utoipa::path(post, path = "/campaign-budgets", tag = "budgets", request_body = NewCampaignBudget, responses((status = 201, body = CampaignBudget), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_campaign_budget(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewCampaignBudget>,
) -> Result<(StatusCode, Json<CampaignBudget>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| budgets::create(tx, ctx, &body))
            .await?,
    ))
}

/// Campaign budgets with their spend, pace, ROAS and CAC.
#[utoipa::path(get, path = "/campaign-budgets", tag = "budgets", responses((status = 200, body = Vec<CampaignBudget>)))]
pub async fn list_campaign_budgets(
    State(app): State<App>,
    auth: Auth,
) -> Result<Json<Vec<CampaignBudget>>, ApiError> {
    let ctx = auth.ctx();
    app.report(&auth, move |tx| budgets::list(tx, &ctx)).await
}

#[utoipa::path(get, path = "/campaign-budgets/{id}", tag = "budgets", params(("id" = i64, Path)), responses((status = 200, body = CampaignBudget), (status = 404, body = ErrorBody)))]
pub async fn get_campaign_budget(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
) -> Result<Json<CampaignBudget>, ApiError> {
    let ctx = auth.ctx();
    app.report(&auth, move |tx| budgets::get(tx, &ctx, id))
        .await
}

/// Changes a campaign budget's end or caps.
#[utoipa::path(patch, path = "/campaign-budgets/{id}", tag = "budgets", params(("id" = i64, Path)), request_body = CampaignBudgetPatch, responses((status = 200, body = CampaignBudget), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_campaign_budget(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<CampaignBudgetPatch>,
) -> Result<Json<CampaignBudget>, ApiError> {
    app.write(&auth, move |tx, ctx| budgets::update(tx, ctx, id, &body))
        .await
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// `YYYY-MM`; this month by default.
    pub month: Option<String>,
}

/// Sets operating budgets per month and category, all rows or none.
#[utoipa::path(put, path = "/budgets", tag = "budgets", request_body = Vec<BudgetIn>, responses((status = 200, body = BudgetReport), (status = 422, body = ErrorBody)))]
pub async fn put_budgets(
    State(app): State<App>,
    auth: Auth,
    ApiJson(rows): ApiJson<Vec<BudgetIn>>,
) -> Result<Json<BudgetReport>, ApiError> {
    let month = rows.first().map(|r| r.month.clone()).unwrap_or_default();
    let _saved = app
        .write(&auth, move |tx, ctx| plan::put_budgets(tx, ctx, &rows))
        .await?;
    let ctx = auth.ctx();
    app.report(&auth, move |tx| plan::budget_report(tx, &ctx, &month))
        .await
}

/// A month's budgets against their actuals, the variance and the pace to month end.
#[utoipa::path(get, path = "/budgets", tag = "budgets", params(MonthQuery), responses((status = 200, body = BudgetReport), (status = 422, body = ErrorBody)))]
pub async fn budget_report(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<BudgetReport>, ApiError> {
    let ctx = auth.ctx();
    app.report(&auth, move |tx| {
        let month = plan::month_or_this(tx, q.month.as_deref())?;
        plan::budget_report(tx, &ctx, &month)
    })
    .await
}

/// Sets revenue and order targets per month (for the store, or a channel), all rows or none.
#[utoipa::path(put, path = "/targets", tag = "budgets", request_body = Vec<TargetIn>, responses((status = 200, body = TargetReport), (status = 422, body = ErrorBody)))]
pub async fn put_targets(
    State(app): State<App>,
    auth: Auth,
    ApiJson(rows): ApiJson<Vec<TargetIn>>,
) -> Result<Json<TargetReport>, ApiError> {
    let month = rows.first().map(|r| r.month.clone()).unwrap_or_default();
    let _saved = app
        .write(&auth, move |tx, ctx| plan::put_targets(tx, ctx, &rows))
        .await?;
    let ctx = auth.ctx();
    app.report(&auth, move |tx| plan::target_report(tx, &ctx, &month))
        .await
}

/// A month's targets: revenue and orders to date, at the pace so far, the forecast to month
/// end and the gap.
#[utoipa::path(get, path = "/targets", tag = "budgets", params(MonthQuery), responses((status = 200, body = TargetReport), (status = 422, body = ErrorBody)))]
pub async fn target_report(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<MonthQuery>,
) -> Result<Json<TargetReport>, ApiError> {
    let ctx = auth.ctx();
    app.report(&auth, move |tx| {
        let month = plan::month_or_this(tx, q.month.as_deref())?;
        plan::target_report(tx, &ctx, &month)
    })
    .await
}
