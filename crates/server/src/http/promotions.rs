//! Promotions and discount codes over HTTP: create, preview, list, read, change; generate,
//! list, export and import codes. Placement takes the codes (`discount_codes` on `POST /orders`).

use super::App;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Auth, Id};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use backroom_core::promotions::codes::{self, CodesAdded, NewCodes, PromotionCode};
use backroom_core::promotions::{
    self, NewPromotion, Preview, PreviewRequest, Promotion, PromotionPatch,
};
use backroom_domain::roles::Permission;

/// Creates a promotion: a percentage (`value: "10"`) or a fixed amount (`value: "500"`, minor
/// units) off the order's lines, or free shipping; with a code, limits and a window.
#[utoipa::path(post, path = "/promotions", tag = "promotions", request_body = NewPromotion, responses((status = 201, body = Promotion), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_promotion(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewPromotion>,
) -> Result<(StatusCode, Json<Promotion>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| promotions::create(tx, ctx, &body))
            .await?,
    ))
}

/// Every promotion, newest first, with how often each was used.
#[utoipa::path(get, path = "/promotions", tag = "promotions", responses((status = 200, body = Vec<Promotion>)))]
pub async fn list_promotions(
    State(app): State<App>,
    auth: Auth,
) -> Result<Json<Vec<Promotion>>, ApiError> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::OrdersRead, move |tx| {
        promotions::list(tx, &ctx)
    })
    .await
}

#[utoipa::path(get, path = "/promotions/{id}", tag = "promotions", params(("id" = i64, Path)), responses((status = 200, body = Promotion), (status = 404, body = ErrorBody)))]
pub async fn get_promotion(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
) -> Result<Json<Promotion>, ApiError> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        promotions::get(tx, id)
    })
    .await
}

/// Renames a promotion, switches it off or on, or moves its end; every server applies the
/// change to the next order.
#[utoipa::path(patch, path = "/promotions/{id}", tag = "promotions", params(("id" = i64, Path)), request_body = PromotionPatch, responses((status = 200, body = Promotion), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_promotion(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<PromotionPatch>,
) -> Result<Json<Promotion>, ApiError> {
    app.write(&auth, move |tx, ctx| promotions::update(tx, ctx, id, &body))
        .await
}

/// What a sample cart would get from a promotion before it is created (the console's live
/// preview): checked as creating it would be, the cart priced at today's prices.
#[utoipa::path(post, path = "/promotions/preview", tag = "promotions", request_body = PreviewRequest, responses((status = 200, body = Preview), (status = 422, body = ErrorBody)))]
pub async fn preview_promotion(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<PreviewRequest>,
) -> Result<Json<Preview>, ApiError> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::OrdersRead, move |tx| {
        promotions::preview(tx, &ctx, &body)
    })
    .await
}

/// Generates a batch of unique random codes for a promotion (single use unless
/// `usage_limit_per_code` says otherwise).
#[utoipa::path(post, path = "/promotions/{id}/codes", tag = "promotions", params(("id" = i64, Path)), request_body = NewCodes, responses((status = 201, body = CodesAdded), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn generate_codes(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<NewCodes>,
) -> Result<(StatusCode, Json<CodesAdded>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| codes::generate(tx, ctx, id, &body))
            .await?,
    ))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CodesQuery {
    /// Codes after this id.
    pub after: Option<i64>,
    /// At most this many (default 100).
    pub limit: Option<i64>,
}

/// A page of a promotion's codes with how often each was used.
#[utoipa::path(get, path = "/promotions/{id}/codes", tag = "promotions", params(("id" = i64, Path), CodesQuery), responses((status = 200, body = Vec<PromotionCode>), (status = 404, body = ErrorBody)))]
pub async fn list_codes(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiQuery(q): ApiQuery<CodesQuery>,
) -> Result<Json<Vec<PromotionCode>>, ApiError> {
    let ctx = auth.ctx();
    app.read(&auth, Permission::OrdersRead, move |tx| {
        codes::list(tx, &ctx, id, q.after.unwrap_or(0), q.limit.unwrap_or(100))
    })
    .await
}

/// Every code of a promotion as CSV (`code,usage_limit,times_used,batch`).
#[utoipa::path(get, path = "/promotions/{id}/codes/export", tag = "promotions", params(("id" = i64, Path)), responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
pub async fn export_codes(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let ctx = auth.ctx();
    let csv = app
        .read(&auth, Permission::OrdersRead, move |tx| {
            codes::export_csv(tx, &ctx, id)
        })
        .await?
        .0;
    Ok(super::csv_response(csv, None))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportCodesQuery {
    /// Uses each code allows when its row gives no `usage_limit` (default: no limit).
    pub usage_limit_per_code: Option<i64>,
}

/// Imports codes from CSV (a `code` column, optionally `usage_limit`): good rows go in, the
/// others come back with their row and reason.
#[utoipa::path(post, path = "/promotions/{id}/codes/import", tag = "promotions", params(("id" = i64, Path), ImportCodesQuery), request_body(content = String, content_type = "text/csv"), responses((status = 200, body = CodesAdded), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_codes(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiQuery(q): ApiQuery<ImportCodesQuery>,
    body: String,
) -> Result<Json<CodesAdded>, ApiError> {
    app.write(&auth, move |tx, ctx| {
        codes::import_csv(tx, ctx, id, &body, q.usage_limit_per_code)
    })
    .await
}
