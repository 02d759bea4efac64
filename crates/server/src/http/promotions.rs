//! Promotions and discount codes over HTTP: create, list, read. Placement takes the codes
//! (`discount_codes` on `POST /orders`).

use super::App;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, Auth, Id};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use backroom_core::promotions::{self, NewPromotion, Promotion};
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
