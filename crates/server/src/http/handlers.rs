//! Route handlers, each documented for the OpenAPI document. Reads check the caller's permission
//! here; writes are checked inside the service, in the transaction.

use super::App;
use super::analytics;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiQuery, Auth, Id, Ids};
use super::support;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use backroom_core::api::*;
use backroom_core::audit::AuditQuery;
use backroom_core::catalog::{self, ProductQuery};
use backroom_core::customers::{self, CustomerQuery};
use backroom_core::fulfillment::FulfillmentReportQuery;
use backroom_core::imports::jobs::{self as import_jobs, ImportJob, NewImport};
use backroom_core::inventory::{self, LedgerQuery, LevelQuery, ReorderQuery, TransferQuery};
use backroom_core::jobs;
use backroom_core::orders::{self, OrderQuery};
use backroom_core::{
    Ctx, Sql, audit, auth as core_auth, fulfillment, inventory::check, orders::edits, returns,
    settings, webhooks,
};
use backroom_domain::roles::Permission;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type R<T> = Result<Json<T>, ApiError>;

#[derive(OpenApi)]
#[openapi(
    info(title = "Backroom API", description = "The back office of an online business: catalog, inventory, orders, customers. Money is integer minor units with a currency; times are RFC 3339 in UTC. Every error has the shape {\"error\": {\"code\", \"message\", \"field\", \"details\"}}."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;
impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

pub fn api_router() -> OpenApiRouter<App> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(list_users, create_user))
        .routes(routes!(deactivate_user))
        .routes(routes!(activate_user))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product))
        .routes(routes!(archive_product))
        .routes(routes!(add_variant))
        .routes(routes!(get_variant, update_variant))
        .routes(routes!(list_locations, create_location))
        .routes(routes!(get_location, update_location))
        .routes(routes!(list_channels, create_channel))
        .routes(routes!(get_channel, update_channel))
        .routes(routes!(list_buffers, set_buffer))
        .routes(routes!(channel_availability))
        .routes(routes!(list_levels))
        .routes(routes!(sku_stock))
        .routes(routes!(receive_stock))
        .routes(routes!(adjust_stock))
        .routes(routes!(count_stock))
        .routes(routes!(damage_stock))
        .routes(routes!(ledger))
        .routes(routes!(list_reorder_points, set_reorder_point))
        .routes(routes!(set_bin))
        .routes(routes!(inventory_check))
        .routes(routes!(list_transfers, create_transfer))
        .routes(routes!(get_transfer))
        .routes(routes!(ship_transfer))
        .routes(routes!(receive_transfer))
        .routes(routes!(cancel_transfer))
        .routes(routes!(list_orders, place_order))
        .routes(routes!(get_order))
        .routes(routes!(cancel_order))
        .routes(routes!(record_payment))
        .routes(routes!(order_timeline))
        .routes(routes!(ship_order))
        .routes(routes!(deliver_fulfillment))
        .routes(routes!(refund_order))
        .routes(routes!(reship_order))
        .routes(routes!(
            super::promotions::create_promotion,
            super::promotions::list_promotions
        ))
        .routes(routes!(
            super::promotions::get_promotion,
            super::promotions::update_promotion
        ))
        .routes(routes!(super::promotions::preview_promotion))
        .routes(routes!(
            super::budgets::create_campaign_budget,
            super::budgets::list_campaign_budgets
        ))
        .routes(routes!(
            super::budgets::get_campaign_budget,
            super::budgets::update_campaign_budget
        ))
        .routes(routes!(
            super::budgets::put_budgets,
            super::budgets::budget_report
        ))
        .routes(routes!(
            super::budgets::put_targets,
            super::budgets::target_report
        ))
        .routes(routes!(
            super::promotions::generate_codes,
            super::promotions::list_codes
        ))
        .routes(routes!(super::promotions::export_codes))
        .routes(routes!(super::promotions::import_codes))
        .routes(routes!(edit_order))
        .routes(routes!(add_order_note))
        .routes(routes!(resource_line))
        .routes(routes!(fulfillment_report))
        .routes(routes!(list_imports, start_import))
        .routes(routes!(get_import))
        .routes(routes!(import_rejects))
        .routes(routes!(list_jobs))
        .routes(routes!(get_job))
        .routes(routes!(retry_job))
        .routes(routes!(cancel_job))
        .routes(routes!(hold_order))
        .routes(routes!(release_hold))
        .routes(routes!(pick_list))
        .routes(routes!(ready_for_pickup))
        .routes(routes!(picked_up))
        .routes(routes!(list_returns, create_return))
        .routes(routes!(get_return))
        .routes(routes!(list_all_returns))
        .routes(routes!(receive_return))
        .routes(routes!(cancel_return))
        .routes(routes!(return_rates))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
        .routes(routes!(webhook_deliveries))
        .routes(routes!(replay_delivery))
        .routes(routes!(list_customers))
        .routes(routes!(get_customer, update_customer))
        .routes(routes!(audit_log))
        .routes(routes!(get_settings, update_settings))
        .routes(routes!(analytics::ingest_events))
        .routes(routes!(analytics::ingest_email_events))
        .routes(routes!(analytics::kpis))
        .routes(routes!(analytics::promotion_report))
        .routes(routes!(analytics::funnel))
        .routes(routes!(analytics::top))
        .routes(routes!(analytics::cohorts))
        .routes(routes!(analytics::clv))
        .routes(routes!(analytics::reconciliation))
        .routes(routes!(analytics::stock))
        .routes(routes!(analytics::rebuild))
        .routes(routes!(analytics::list_spend, analytics::put_spend))
        .routes(routes!(
            analytics::list_email_campaigns,
            analytics::create_email_campaign
        ))
        .routes(routes!(support::inbound_email))
        .routes(routes!(support::contact))
        .routes(routes!(support::list_tickets, support::create_ticket))
        .routes(routes!(support::get_ticket, support::update_ticket))
        .routes(routes!(support::add_message))
        .routes(routes!(support::list_teams, support::create_team))
        .routes(routes!(support::update_team))
        .routes(routes!(support::set_member, support::remove_member))
        .routes(routes!(support::list_calendars, support::create_calendar))
        .routes(routes!(support::list_policies, support::create_policy))
        .routes(routes!(support::list_macros, support::create_macro))
        .routes(routes!(support::render_macro))
        .routes(routes!(support::update_policy))
        .routes(routes!(support::update_triage_rule))
        .routes(routes!(support::delete_macro))
        .routes(routes!(support::merge))
        .routes(routes!(support::after_sale))
        .routes(routes!(support::workload))
        .routes(routes!(support::support_report))
        .routes(routes!(support::bulk_update))
        .routes(routes!(
            support::list_triage_rules,
            support::create_triage_rule
        ));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

impl App {
    pub(super) async fn read<T: Send + 'static>(
        &self,
        auth: &Auth,
        p: Permission,
        f: impl FnMut(&mut dyn Sql) -> backroom_core::Result<T> + Send + 'static,
    ) -> R<T> {
        auth.require(p)?;
        Ok(Json(self.db.read(f).await?))
    }
    pub(super) async fn write<T: Send + 'static>(
        &self,
        auth: &Auth,
        mut f: impl FnMut(&mut dyn Sql, &Ctx) -> backroom_core::Result<T> + Send + 'static,
    ) -> R<T> {
        let ctx = auth.ctx();
        Ok(Json(self.db.write(move |tx| f(tx, &ctx)).await?))
    }
}

/// Liveness and database reachability; needs no authentication.
pub async fn health(State(app): State<App>) -> Response {
    match app.db.read(|tx| Ok(backroom_core::db::ping(tx)?)).await {
        Ok(_) => Json(serde_json::json!({"status": "ok", "database": format!("{:?}", app.db.dialect()).to_lowercase()})).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "unavailable"}))).into_response(),
    }
}

pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such endpoint; see /api/docs",
    )
}

/// The API reference page: a self-contained page that loads the OpenAPI document with your token.
pub async fn docs_page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}

// ---------------------------------------------------------------------------------------------
// Sign-in, users and tokens

/// Signs in with email and password; returns a session token valid for 12 hours.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login, security(()),
    responses((status = 200, body = IssuedToken), (status = 401, body = ErrorBody)))]
async fn login(State(app): State<App>, ApiJson(body): ApiJson<Login>) -> R<IssuedToken> {
    let now = backroom_core::util::now_micros();
    match core_auth::sign_in(&app.db, &body.email, &body.password, now).await {
        Ok(t) => Ok(Json(t)),
        Err(backroom_core::Error::Unauthenticated(m)) => {
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", m).field("password"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Signs out: revokes the token that signed this request.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
async fn logout(State(app): State<App>, auth: Auth) -> Result<StatusCode, ApiError> {
    let secret = auth.secret.clone();
    let _ = app
        .write(&auth, move |tx, ctx| {
            core_auth::revoke_by_secret(tx, ctx, &secret)
        })
        .await?;
    app.forget_tokens();
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = User)))]
async fn me(State(app): State<App>, auth: Auth) -> R<User> {
    let id = auth.actor.user_id;
    app.db
        .read(move |tx| core_auth::get_user(tx, id))
        .await
        .map(Json)
        .map_err(Into::into)
}

/// Staff accounts (admins), oldest first, paged.
#[utoipa::path(get, path = "/users", tag = "users", params(PageQuery), responses((status = 200, body = Page<User>)))]
async fn list_users(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<User>> {
    let ctx = auth.ctx();
    app.db
        .read(move |tx| core_auth::users_page(tx, &ctx, &q))
        .await
        .map(Json)
        .map_err(Into::into)
}

/// Creates a staff account or an integration account (role `storefront`).
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUser, responses((status = 201, body = User), (status = 409, body = ErrorBody)))]
async fn create_user(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    auth.require(Permission::UsersAdmin)?;
    let prepared = tokio::task::spawn_blocking(move || core_auth::prepare_user(&body))
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    let prepared = std::sync::Arc::new(prepared);
    let user = app
        .write(&auth, move |tx, ctx| {
            core_auth::create_user(tx, ctx, &prepared)
        })
        .await?;
    Ok((StatusCode::CREATED, user))
}

/// Deactivates a user: their tokens stop working.
#[utoipa::path(post, path = "/users/{id}/deactivate", tag = "users", params(("id" = i64, Path)), responses((status = 200, body = User)))]
async fn deactivate_user(State(app): State<App>, auth: Auth, Id(id): Id) -> R<User> {
    let r = app
        .write(&auth, move |tx, ctx| {
            core_auth::set_user_active(tx, ctx, id, false)
        })
        .await;
    app.forget_tokens();
    r
}

/// Reactivates a user.
#[utoipa::path(post, path = "/users/{id}/activate", tag = "users", params(("id" = i64, Path)), responses((status = 200, body = User)))]
async fn activate_user(State(app): State<App>, auth: Auth, Id(id): Id) -> R<User> {
    app.write(&auth, move |tx, ctx| {
        core_auth::set_user_active(tx, ctx, id, true)
    })
    .await
}

/// API tokens: yours, or every one for admins, oldest first, paged. Secrets are never shown again.
#[utoipa::path(get, path = "/tokens", tag = "users", params(PageQuery), responses((status = 200, body = Page<ApiToken>)))]
async fn list_tokens(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<ApiToken>> {
    let ctx = auth.ctx();
    app.db
        .read(move |tx| core_auth::tokens_page(tx, &ctx, &q))
        .await
        .map(Json)
        .map_err(Into::into)
}

/// Creates an API token; the secret is in this response only.
#[utoipa::path(post, path = "/tokens", tag = "users", request_body = NewToken, responses((status = 201, body = IssuedToken)))]
async fn create_token(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<IssuedToken>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            core_auth::create_token(tx, ctx, &body)
        })
        .await?,
    ))
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "users", params(("id" = i64, Path)), responses((status = 200, body = ApiToken)))]
async fn revoke_token(State(app): State<App>, auth: Auth, Id(id): Id) -> R<ApiToken> {
    let r = app
        .write(&auth, move |tx, ctx| core_auth::revoke_token(tx, ctx, id))
        .await;
    app.forget_tokens();
    r
}

// ---------------------------------------------------------------------------------------------
// Catalog

/// Products with their variants: search by title or SKU, filter, sort, paginate.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductQuery), responses((status = 200, body = Page<Product>)))]
async fn list_products(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> R<Page<Product>> {
    app.read(&auth, Permission::CatalogRead, move |tx| {
        catalog::list_products(tx, &q)
    })
    .await
}

/// Creates a product with its variants.
#[utoipa::path(post, path = "/products", tag = "catalog", request_body = NewProduct, responses((status = 201, body = Product), (status = 422, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_product(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            catalog::create_product(tx, ctx, &body)
        })
        .await?,
    ))
}

/// One product.
#[utoipa::path(get, path = "/products/{id}", tag = "catalog", params(("id" = i64, Path)), responses((status = 200, body = Product), (status = 404, body = ErrorBody)))]
async fn get_product(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Product> {
    app.read(&auth, Permission::CatalogRead, move |tx| {
        catalog::get_product(tx, id)
    })
    .await
}

/// Updates a product's fields; absent fields are left alone.
#[utoipa::path(patch, path = "/products/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = ProductPatch, responses((status = 200, body = Product)))]
async fn update_product(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<ProductPatch>,
) -> R<Product> {
    app.write(&auth, move |tx, ctx| {
        catalog::update_product(tx, ctx, id, &body)
    })
    .await
}

/// Archives a product: it stays for history but cannot be sold.
#[utoipa::path(post, path = "/products/{id}/archive", tag = "catalog", params(("id" = i64, Path)), responses((status = 200, body = Product)))]
async fn archive_product(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Product> {
    app.write(&auth, move |tx, ctx| catalog::archive_product(tx, ctx, id))
        .await
}

/// Adds a variant to a product.
#[utoipa::path(post, path = "/products/{id}/variants", tag = "catalog", params(("id" = i64, Path)), request_body = NewVariant, responses((status = 201, body = Variant)))]
async fn add_variant(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<NewVariant>,
) -> Result<(StatusCode, Json<Variant>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            catalog::add_variant(tx, ctx, id, &body)
        })
        .await?,
    ))
}

/// One variant.
#[utoipa::path(get, path = "/variants/{id}", tag = "catalog", params(("id" = i64, Path)), responses((status = 200, body = Variant)))]
async fn get_variant(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Variant> {
    app.read(&auth, Permission::CatalogRead, move |tx| {
        catalog::get_variant(tx, id)
    })
    .await
}

/// Updates a variant: SKU, price, cost, policy...; `null` clears an optional field.
#[utoipa::path(patch, path = "/variants/{id}", tag = "catalog", params(("id" = i64, Path)), request_body = VariantPatch, responses((status = 200, body = Variant)))]
async fn update_variant(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<VariantPatch>,
) -> R<Variant> {
    app.write(&auth, move |tx, ctx| {
        catalog::update_variant(tx, ctx, id, &body)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Locations and channels

/// Locations by sourcing priority, paged.
#[utoipa::path(get, path = "/locations", tag = "locations", params(PageQuery), responses((status = 200, body = Page<Location>)))]
async fn list_locations(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<Location>> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        catalog::locations_page(tx, &q)
    })
    .await
}

/// Creates a location.
#[utoipa::path(post, path = "/locations", tag = "locations", request_body = NewLocation, responses((status = 201, body = Location)))]
async fn create_location(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewLocation>,
) -> Result<(StatusCode, Json<Location>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            catalog::create_location(tx, ctx, &body)
        })
        .await?,
    ))
}

/// One location.
#[utoipa::path(get, path = "/locations/{id}", tag = "locations", params(("id" = i64, Path)), responses((status = 200, body = Location)))]
async fn get_location(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Location> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        catalog::get_location(tx, id)
    })
    .await
}

/// Updates a location.
#[utoipa::path(patch, path = "/locations/{id}", tag = "locations", params(("id" = i64, Path)), request_body = LocationPatch, responses((status = 200, body = Location)))]
async fn update_location(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<LocationPatch>,
) -> R<Location> {
    app.write(&auth, move |tx, ctx| {
        catalog::update_location(tx, ctx, id, &body)
    })
    .await
}

/// Sales channels and the locations each sells from, oldest first, paged.
#[utoipa::path(get, path = "/channels", tag = "channels", params(PageQuery), responses((status = 200, body = Page<Channel>)))]
async fn list_channels(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<Channel>> {
    app.read(&auth, Permission::CatalogRead, move |tx| {
        catalog::channels_page(tx, &q)
    })
    .await
}

/// Creates a sales channel.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = NewChannel, responses((status = 201, body = Channel)))]
async fn create_channel(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewChannel>,
) -> Result<(StatusCode, Json<Channel>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            catalog::create_channel(tx, ctx, &body)
        })
        .await?,
    ))
}

/// One channel.
#[utoipa::path(get, path = "/channels/{id}", tag = "channels", params(("id" = i64, Path)), responses((status = 200, body = Channel)))]
async fn get_channel(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Channel> {
    app.read(&auth, Permission::CatalogRead, move |tx| {
        catalog::get_channel(tx, id)
    })
    .await
}

/// Updates a channel: name, active, the locations it sells from.
#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", params(("id" = i64, Path)), request_body = ChannelPatch, responses((status = 200, body = Channel)))]
async fn update_channel(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<ChannelPatch>,
) -> R<Channel> {
    app.write(&auth, move |tx, ctx| {
        catalog::update_channel(tx, ctx, id, &body)
    })
    .await
}

/// The channel's safety buffers by SKU, paged.
#[utoipa::path(get, path = "/channels/{id}/safety-buffers", tag = "channels", params(("id" = i64, Path), PageQuery), responses((status = 200, body = Page<SafetyBuffer>)))]
async fn list_buffers(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<SafetyBuffer>> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        catalog::safety_buffers_page(tx, id, &q)
    })
    .await
}

/// Sets the units of a SKU held back from this channel at each location (0 removes it).
#[utoipa::path(put, path = "/channels/{id}/safety-buffers", tag = "channels", params(("id" = i64, Path)), request_body = SafetyBuffer, responses((status = 200, body = SafetyBuffer)))]
async fn set_buffer(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<SafetyBuffer>,
) -> R<SafetyBuffer> {
    app.write(&auth, move |tx, ctx| {
        catalog::set_safety_buffer(tx, ctx, id, &body)
    })
    .await
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SkuParam {
    sku: String,
}

/// What a channel may sell of a SKU now.
#[utoipa::path(get, path = "/channels/{id}/availability", tag = "channels", params(("id" = i64, Path), SkuParam), responses((status = 200, body = ChannelAvailability)))]
async fn channel_availability(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiQuery(q): ApiQuery<SkuParam>,
) -> R<ChannelAvailability> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::channel_availability(tx, id, &q.sku)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Inventory

/// Reorder points; by default only the levels that are low (`available + incoming <= reorder
/// point`), with a suggested order quantity.
#[utoipa::path(get, path = "/inventory/reorder-points", tag = "inventory", params(ReorderQuery), responses((status = 200, body = Page<ReorderLevel>)))]
async fn list_reorder_points(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ReorderQuery>,
) -> R<Page<ReorderLevel>> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::reorder_levels(tx, &q)
    })
    .await
}

/// Sets (or clears) the bin a SKU sits in at a location; pick lists follow bin order.
#[utoipa::path(put, path = "/inventory/bins", tag = "inventory", request_body = SetBin, responses((status = 200, body = StockLevel), (status = 422, body = ErrorBody)))]
async fn set_bin(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<SetBin>,
) -> R<StockLevel> {
    app.write(&auth, move |tx, ctx| inventory::set_bin(tx, ctx, &body))
        .await
}

/// Sets (or clears) the reorder point, reorder quantity and lead time of a SKU at a location.
#[utoipa::path(put, path = "/inventory/reorder-points", tag = "inventory", request_body = SetReorderPoint, responses((status = 200, body = ReorderLevel), (status = 400, body = ErrorBody)))]
async fn set_reorder_point(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<SetReorderPoint>,
) -> R<ReorderLevel> {
    app.write(&auth, move |tx, ctx| {
        inventory::set_reorder_point(tx, ctx, &body)
    })
    .await
}

/// Stock levels per SKU and location.
#[utoipa::path(get, path = "/inventory", tag = "inventory", params(LevelQuery), responses((status = 200, body = Page<StockLevel>)))]
async fn list_levels(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<LevelQuery>,
) -> R<Page<StockLevel>> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::list_levels(tx, &q)
    })
    .await
}

/// A SKU's stock at every location, with totals.
#[utoipa::path(get, path = "/inventory/{sku}", tag = "inventory", params(("sku" = String, Path)), responses((status = 200, body = SkuStock), (status = 404, body = ErrorBody)))]
async fn sku_stock(State(app): State<App>, auth: Auth, Path(sku): Path<String>) -> R<SkuStock> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::sku_stock(tx, &sku)
    })
    .await
}

/// Receives units into on hand (ledger `receipt`).
#[utoipa::path(post, path = "/inventory/receive", tag = "inventory", request_body = ReceiveStock, responses((status = 200, body = StockChange)))]
async fn receive_stock(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<ReceiveStock>,
) -> R<StockChange> {
    app.write(&auth, move |tx, ctx| inventory::receive(tx, ctx, &body))
        .await
}

/// Adds or removes units with a reason (ledger `adjustment`). Refuses to remove promised units.
#[utoipa::path(post, path = "/inventory/adjust", tag = "inventory", request_body = AdjustStock, responses((status = 200, body = StockChange), (status = 409, body = ErrorBody)))]
async fn adjust_stock(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<AdjustStock>,
) -> R<StockChange> {
    app.write(&auth, move |tx, ctx| inventory::adjust(tx, ctx, &body))
        .await
}

/// Sets on hand to a counted number; the variance is recorded (ledger `count`).
#[utoipa::path(post, path = "/inventory/count", tag = "inventory", request_body = CountStock, responses((status = 200, body = StockChange)))]
async fn count_stock(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<CountStock>,
) -> R<StockChange> {
    app.write(&auth, move |tx, ctx| inventory::count(tx, ctx, &body))
        .await
}

/// Marks units damaged (unavailable), releases them, or writes them off.
#[utoipa::path(post, path = "/inventory/damage", tag = "inventory", request_body = DamageStock, responses((status = 200, body = StockChange)))]
async fn damage_stock(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<DamageStock>,
) -> R<StockChange> {
    app.write(&auth, move |tx, ctx| inventory::damage(tx, ctx, &body))
        .await
}

/// The inventory ledger of a SKU, newest first.
#[utoipa::path(get, path = "/inventory-ledger", tag = "inventory", params(LedgerQuery), responses((status = 200, body = Page<LedgerEntry>)))]
async fn ledger(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<LedgerQuery>,
) -> R<Page<LedgerEntry>> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::ledger(tx, &q)
    })
    .await
}

/// Verifies the inventory invariants now (the same check as `backroom check`).
#[utoipa::path(get, path = "/inventory-check", tag = "inventory", responses((status = 200, body = CheckReport)))]
async fn inventory_check(State(app): State<App>, auth: Auth) -> R<CheckReport> {
    app.read(&auth, Permission::InventoryRead, check::run).await
}

/// Transfers between locations, newest first.
#[utoipa::path(get, path = "/transfers", tag = "inventory", params(TransferQuery), responses((status = 200, body = Page<Transfer>)))]
async fn list_transfers(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<TransferQuery>,
) -> R<Page<Transfer>> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::list_transfers(tx, &q)
    })
    .await
}

/// Creates a transfer (a draft, or shipped at once with `ship: true`).
#[utoipa::path(post, path = "/transfers", tag = "inventory", request_body = NewTransfer, responses((status = 201, body = Transfer)))]
async fn create_transfer(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<NewTransfer>,
) -> Result<(StatusCode, Json<Transfer>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            inventory::create_transfer(tx, ctx, &body)
        })
        .await?,
    ))
}

/// One transfer.
#[utoipa::path(get, path = "/transfers/{id}", tag = "inventory", params(("id" = i64, Path)), responses((status = 200, body = Transfer)))]
async fn get_transfer(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Transfer> {
    app.read(&auth, Permission::InventoryRead, move |tx| {
        inventory::get_transfer(tx, id)
    })
    .await
}

/// Ships a draft transfer: units leave the origin and are incoming at the destination.
#[utoipa::path(post, path = "/transfers/{id}/ship", tag = "inventory", params(("id" = i64, Path)), responses((status = 200, body = Transfer)))]
async fn ship_transfer(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Transfer> {
    app.write(&auth, move |tx, ctx| inventory::ship_transfer(tx, ctx, id))
        .await
}

/// Receives some or all units of a shipped transfer.
#[utoipa::path(post, path = "/transfers/{id}/receive", tag = "inventory", params(("id" = i64, Path)), request_body = ReceiveTransfer, responses((status = 200, body = Transfer)))]
async fn receive_transfer(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<ReceiveTransfer>,
) -> R<Transfer> {
    app.write(&auth, move |tx, ctx| {
        inventory::receive_transfer(tx, ctx, id, &body)
    })
    .await
}

/// Cancels a draft transfer.
#[utoipa::path(post, path = "/transfers/{id}/cancel", tag = "inventory", params(("id" = i64, Path)), responses((status = 200, body = Transfer)))]
async fn cancel_transfer(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Transfer> {
    app.write(&auth, move |tx, ctx| {
        inventory::cancel_transfer(tx, ctx, id)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Orders and customers

/// Orders, newest first, with filters.
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderQuery), responses((status = 200, body = Page<Order>)))]
async fn list_orders(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<OrderQuery>,
) -> R<Page<Order>> {
    let now = backroom_core::util::now_micros();
    app.read(&auth, Permission::OrdersRead, move |tx| {
        orders::list(tx, &q, now)
    })
    .await
}

/// Places an order. The server prices it and reserves every line or none. Send an
/// `Idempotency-Key` so that a retry returns the same order instead of placing a second one.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to retry")),
    responses((status = 201, body = Order, description = "Placed (or replayed: see the Idempotent-Replayed header)"), (status = 409, body = ErrorBody, description = "Not enough stock, or a key reused for a different order"), (status = 422, body = ErrorBody)))]
async fn place_order(
    State(app): State<App>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(body): ApiJson<PlaceOrder>,
) -> Result<Response, ApiError> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::invalid("Idempotency-Key", "must be printable ASCII"))?
                .to_string(),
        ),
    };
    let placed = app
        .write(&auth, move |tx, ctx| {
            orders::place(tx, ctx, &body, key.as_deref())
        })
        .await?
        .0;
    let mut resp = (StatusCode::CREATED, Json(placed.order)).into_response();
    if placed.replayed {
        resp.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(resp)
}

/// One order with lines, allocations and sourcing reason.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders", params(("id" = i64, Path)), responses((status = 200, body = Order), (status = 404, body = ErrorBody)))]
async fn get_order(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Order> {
    app.read(&auth, Permission::OrdersRead, move |tx| orders::get(tx, id))
        .await
}

/// Cancels an unfulfilled order and releases its reservations.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", params(("id" = i64, Path)), request_body = CancelOrder, responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn cancel_order(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<CancelOrder>,
) -> R<Order> {
    app.write(&auth, move |tx, ctx| orders::cancel(tx, ctx, id, &body))
        .await
}

/// Records a payment event: authorized, paid or voided.
#[utoipa::path(post, path = "/orders/{id}/payments", tag = "orders", params(("id" = i64, Path)), request_body = RecordPayment, responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn record_payment(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<RecordPayment>,
) -> R<Order> {
    app.write(&auth, move |tx, ctx| {
        orders::record_payment(tx, ctx, id, &body)
    })
    .await
}

/// Every event of an order, oldest first.
#[utoipa::path(get, path = "/orders/{id}/timeline", tag = "orders", params(("id" = i64, Path)), responses((status = 200, body = Vec<OrderEvent>)))]
async fn order_timeline(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Vec<OrderEvent>> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        orders::timeline(tx, id)
    })
    .await
}

/// Ships units of an order from one location: on hand goes down (ledger `sale_shipped`) and the
/// matching reservation is released in the same step.
#[utoipa::path(post, path = "/orders/{id}/fulfillments", tag = "orders", params(("id" = i64, Path)), request_body = ShipOrder, responses((status = 201, body = Order), (status = 409, body = ErrorBody)))]
async fn ship_order(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<ShipOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| fulfillment::ship(tx, ctx, id, &body))
            .await?,
    ))
}

/// Marks a shipment delivered.
#[utoipa::path(post, path = "/fulfillments/{id}/deliver", tag = "orders", params(("id" = i64, Path)), responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn deliver_fulfillment(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Order> {
    app.write(&auth, move |tx, ctx| fulfillment::deliver(tx, ctx, id))
        .await
}

/// Refunds an amount: never more than paid minus already refunded.
#[utoipa::path(post, path = "/orders/{id}/refunds", tag = "orders", params(("id" = i64, Path)), request_body = RefundOrder, responses((status = 201, body = Order), (status = 409, body = ErrorBody)))]
async fn refund_order(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<RefundOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| orders::refund(tx, ctx, id, &body))
            .await?,
    ))
}

/// Sends shipped units again at no charge (lost, damaged): a replacement order to the same
/// customer and address, each line discounted in full, no shipping, nothing owed; both orders'
/// timelines name each other. No lines: every shipped unit.
#[utoipa::path(post, path = "/orders/{id}/reship", tag = "orders", params(("id" = i64, Path)), request_body = orders::Reship, responses((status = 201, body = orders::Reshipped), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reship_order(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<orders::Reship>,
) -> Result<(StatusCode, Json<orders::Reshipped>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| orders::reship(tx, ctx, id, &body))
            .await?,
    ))
}

/// Edits an open order before shipment: add lines, change quantities (0 removes a line's
/// unshipped units). Reservations and totals follow; the balance shows what is owed either way.
#[utoipa::path(post, path = "/orders/{id}/edits", tag = "orders", params(("id" = i64, Path)), request_body = EditOrder, responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn edit_order(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<EditOrder>,
) -> R<Order> {
    app.write(&auth, move |tx, ctx| edits::edit(tx, ctx, id, &body))
        .await
}

/// Adds a staff note to the order's timeline.
#[utoipa::path(post, path = "/orders/{id}/notes", tag = "orders", params(("id" = i64, Path)), request_body = OrderNote, responses((status = 201, body = OrderEvent), (status = 404, body = ErrorBody)))]
async fn add_order_note(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<OrderNote>,
) -> Result<(StatusCode, Json<OrderEvent>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| orders::add_note(tx, ctx, id, &body))
            .await?,
    ))
}

/// Moves a line's unshipped units to another location (or lets the channel's strategy choose
/// again), atomically.
#[utoipa::path(post, path = "/orders/{id}/lines/{line_id}/source", tag = "orders", params(("id" = i64, Path), ("line_id" = i64, Path)), request_body = ResourceLine, responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn resource_line(
    State(app): State<App>,
    auth: Auth,
    Ids(id, line_id): Ids,
    ApiJson(body): ApiJson<ResourceLine>,
) -> R<Order> {
    app.write(&auth, move |tx, ctx| {
        edits::resource_line(tx, ctx, id, line_id, &body)
    })
    .await
}

/// Fulfillment time (median, 90th percentile) and on-time shipping rate for orders placed in a
/// period.
#[utoipa::path(get, path = "/reports/fulfillment", tag = "reports", params(FulfillmentReportQuery), responses((status = 200, body = FulfillmentReport)))]
async fn fulfillment_report(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<FulfillmentReportQuery>,
) -> R<FulfillmentReport> {
    let now = backroom_core::util::now_micros();
    app.read(&auth, Permission::OrdersRead, move |tx| {
        backroom_core::analytics::operations::fulfillment_report(tx, &q, now)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Imports

/// Starts an import: the request body is the file (CSV, up to 256 MB); the query says what it
/// is. The job runs in the background; poll it for progress and its summary.
#[utoipa::path(post, path = "/imports", tag = "imports", params(NewImport), request_body(content = String, content_type = "text/csv"), responses((status = 202, body = ImportJob), (status = 422, body = ErrorBody)))]
async fn start_import(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<NewImport>,
    body: axum::body::Body,
) -> Result<(StatusCode, Json<ImportJob>), ApiError> {
    let bytes = axum::body::to_bytes(body, 256 << 20).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "a file of at most 256 MB can be uploaded; import larger ones with the CLI",
        )
        .field("body")
    })?;
    let job = import_jobs::start(&app.db, auth.actor.clone(), q, bytes).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Imports, newest first, paged.
#[utoipa::path(get, path = "/imports", tag = "imports", params(PageQuery), responses((status = 200, body = Page<ImportJob>)))]
async fn list_imports(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<ImportJob>> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        import_jobs::page(tx, &q)
    })
    .await
}

/// One import: its progress while it runs, its summary (and first rejected rows) when done.
#[utoipa::path(get, path = "/imports/{id}", tag = "imports", params(("id" = i64, Path)), responses((status = 200, body = ImportJob), (status = 404, body = ErrorBody)))]
async fn get_import(State(app): State<App>, auth: Auth, Id(id): Id) -> R<ImportJob> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        import_jobs::get(tx, id)
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// Background jobs (imports), newest first, paged; filter by status and kind.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(jobs::JobQuery), responses((status = 200, body = Page<jobs::Job>)))]
async fn list_jobs(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<jobs::JobQuery>,
) -> R<Page<jobs::Job>> {
    app.read(&auth, Permission::SettingsWrite, move |tx| {
        jobs::page(tx, &q)
    })
    .await
}

/// One job: its status, attempts, lease, progress and last error.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = jobs::Job), (status = 404, body = ErrorBody)))]
async fn get_job(State(app): State<App>, auth: Auth, Id(id): Id) -> R<jobs::Job> {
    app.read(&auth, Permission::SettingsWrite, move |tx| {
        jobs::get(tx, id)
    })
    .await
}

/// Queues a failed job again with a fresh set of attempts.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = jobs::Job), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn retry_job(State(app): State<App>, auth: Auth, Id(id): Id) -> R<jobs::Job> {
    app.write(&auth, move |tx, ctx| {
        let job = jobs::retry(tx, ctx, id)?;
        super::job_worker::changed(tx, &job, ctx.now)?;
        Ok(job)
    })
    .await
}

/// Cancels a job that has not started (or waits for a retry).
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path)), responses((status = 200, body = jobs::Job), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn cancel_job(State(app): State<App>, auth: Auth, Id(id): Id) -> R<jobs::Job> {
    app.write(&auth, move |tx, ctx| {
        let job = jobs::cancel(tx, ctx, id)?;
        super::job_worker::changed(tx, &job, ctx.now)?;
        Ok(job)
    })
    .await
}

/// Every rejected row of an import, with its reason, as CSV.
#[utoipa::path(get, path = "/imports/{id}/rejects", tag = "imports", params(("id" = i64, Path)), responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = ErrorBody)))]
async fn import_rejects(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let csv = app
        .read(&auth, Permission::OrdersRead, move |tx| {
            import_jobs::rejects_csv(tx, id)
        })
        .await?
        .0;
    Ok(super::csv_response(csv, None))
}

/// Puts an order on hold (fraud review, address problem, customer request...): it cannot ship
/// until the hold is released.
#[utoipa::path(post, path = "/orders/{id}/hold", tag = "orders", params(("id" = i64, Path)), request_body = HoldOrder, responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn hold_order(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<HoldOrder>,
) -> R<Order> {
    app.write(&auth, move |tx, ctx| fulfillment::hold(tx, ctx, id, &body))
        .await
}

/// Releases an order's hold.
#[utoipa::path(post, path = "/orders/{id}/release-hold", tag = "orders", params(("id" = i64, Path)), responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn release_hold(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Order> {
    app.write(&auth, move |tx, ctx| fulfillment::release_hold(tx, ctx, id))
        .await
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct PickQuery {
    /// How many orders (oldest first) the list covers: 50 by default, at most 500.
    orders: Option<i64>,
}

/// The pick list of a location: units per SKU across its open, unheld orders, oldest first.
#[utoipa::path(get, path = "/locations/{id}/pick-list", tag = "orders", params(("id" = i64, Path), PickQuery), responses((status = 200, body = PickList)))]
async fn pick_list(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiQuery(q): ApiQuery<PickQuery>,
) -> R<PickList> {
    let now = backroom_core::util::now_micros();
    app.read(&auth, Permission::OrdersRead, move |tx| {
        backroom_core::analytics::operations::pick_list(tx, id, q.orders.unwrap_or(50), now)
    })
    .await
}

/// The returns of an order.
#[utoipa::path(get, path = "/orders/{id}/returns", tag = "returns", params(("id" = i64, Path)), responses((status = 200, body = Vec<Return>)))]
async fn list_returns(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Vec<Return>> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        returns::list_for_order(tx, id)
    })
    .await
}

/// Returns, newest first: by status, those still to inspect (`to_inspect=true`), or of one
/// order; paged.
#[utoipa::path(get, path = "/returns", tag = "returns", params(returns::ReturnQuery), responses((status = 200, body = Page<Return>), (status = 422, body = ErrorBody)))]
async fn list_all_returns(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<returns::ReturnQuery>,
) -> R<Page<Return>> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        returns::list(tx, &q)
    })
    .await
}

/// Opens a return (RMA) for shipped units, with a reason per line.
#[utoipa::path(post, path = "/orders/{id}/returns", tag = "returns", params(("id" = i64, Path)), request_body = NewReturn, responses((status = 201, body = Return), (status = 409, body = ErrorBody)))]
async fn create_return(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<NewReturn>,
) -> Result<(StatusCode, Json<Return>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| returns::create(tx, ctx, id, &body))
            .await?,
    ))
}

/// One return.
#[utoipa::path(get, path = "/returns/{id}", tag = "returns", params(("id" = i64, Path)), responses((status = 200, body = Return)))]
async fn get_return(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Return> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        returns::get_return(tx, id)
    })
    .await
}

/// Receives and inspects returned units: restock, keep as unavailable, or write off.
#[utoipa::path(post, path = "/returns/{id}/receive", tag = "returns", params(("id" = i64, Path)), request_body = ReceiveReturn, responses((status = 200, body = Return), (status = 409, body = ErrorBody)))]
async fn receive_return(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<ReceiveReturn>,
) -> R<Return> {
    app.write(&auth, move |tx, ctx| returns::receive(tx, ctx, id, &body))
        .await
}

/// Cancels a return nothing of which was received.
#[utoipa::path(post, path = "/returns/{id}/cancel", tag = "returns", params(("id" = i64, Path)), responses((status = 200, body = Return), (status = 409, body = ErrorBody)))]
async fn cancel_return(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Return> {
    app.write(&auth, move |tx, ctx| returns::cancel(tx, ctx, id))
        .await
}

/// Return rate (units returned / units sold) overall, by product and by reason.
#[utoipa::path(get, path = "/reports/returns", tag = "returns", params(returns::ReturnRateQuery), responses((status = 200, body = returns::ReturnRates)))]
async fn return_rates(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<returns::ReturnRateQuery>,
) -> R<returns::ReturnRates> {
    app.read(&auth, Permission::OrdersRead, move |tx| {
        backroom_core::analytics::operations::return_rates(tx, &q)
    })
    .await
}

/// Webhook subscriptions, oldest first, paged.
#[utoipa::path(get, path = "/webhooks", tag = "webhooks", params(PageQuery), responses((status = 200, body = Page<webhooks::Subscription>)))]
async fn list_webhooks(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<webhooks::Subscription>> {
    let ctx = auth.ctx();
    app.db
        .read(move |tx| webhooks::subscriptions_page(tx, &ctx, &q))
        .await
        .map(Json)
        .map_err(Into::into)
}

/// Subscribes a URL to event types. Payloads are signed: `Backroom-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256 of "<t>.<body>" with the secret>`; the secret is in this response only.
#[utoipa::path(post, path = "/webhooks", tag = "webhooks", request_body = webhooks::NewSubscription, responses((status = 201, body = webhooks::Subscription)))]
async fn create_webhook(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<webhooks::NewSubscription>,
) -> Result<(StatusCode, Json<webhooks::Subscription>), ApiError> {
    Ok((
        StatusCode::CREATED,
        app.write(&auth, move |tx, ctx| {
            webhooks::create_subscription(tx, ctx, &body)
        })
        .await?,
    ))
}

/// Stops a subscription (its delivery log stays).
#[utoipa::path(delete, path = "/webhooks/{id}", tag = "webhooks", params(("id" = i64, Path)), responses((status = 200, body = webhooks::Subscription)))]
async fn delete_webhook(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
) -> R<webhooks::Subscription> {
    app.write(&auth, move |tx, ctx| {
        webhooks::deactivate_subscription(tx, ctx, id)
    })
    .await
}

/// The delivery log of a subscription, newest first, paged.
#[utoipa::path(get, path = "/webhooks/{id}/deliveries", tag = "webhooks", params(("id" = i64, Path), PageQuery), responses((status = 200, body = Page<webhooks::Delivery>)))]
async fn webhook_deliveries(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> R<Page<webhooks::Delivery>> {
    let ctx = auth.ctx();
    app.db
        .read(move |tx| webhooks::deliveries_page(tx, &ctx, id, &q))
        .await
        .map(Json)
        .map_err(Into::into)
}

/// Sends a delivery again now.
#[utoipa::path(post, path = "/webhook-deliveries/{id}/replay", tag = "webhooks", params(("id" = i64, Path)), responses((status = 200, body = webhooks::Delivery)))]
async fn replay_delivery(State(app): State<App>, auth: Auth, Id(id): Id) -> R<webhooks::Delivery> {
    app.write(&auth, move |tx, ctx| webhooks::replay(tx, ctx, id))
        .await
}

/// Click and collect: the order is packed at its pickup location and waits for the customer
/// until the channel's pickup hold runs out (then it is cancelled and its stock released).
#[utoipa::path(post, path = "/orders/{id}/ready-for-pickup", tag = "orders", params(("id" = i64, Path)), responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn ready_for_pickup(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Order> {
    app.write(&auth, move |tx, ctx| {
        fulfillment::ready_for_pickup(tx, ctx, id)
    })
    .await
}

/// The customer collected the order: its units leave the boutique like a shipment.
#[utoipa::path(post, path = "/orders/{id}/picked-up", tag = "orders", params(("id" = i64, Path)), request_body = PickedUp, responses((status = 200, body = Order), (status = 409, body = ErrorBody)))]
async fn picked_up(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<PickedUp>,
) -> R<Order> {
    app.write(&auth, move |tx, ctx| {
        fulfillment::picked_up(tx, ctx, id, &body)
    })
    .await
}

/// Customers, newest first.
#[utoipa::path(get, path = "/customers", tag = "customers", params(CustomerQuery), responses((status = 200, body = Page<Customer>)))]
async fn list_customers(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> R<Page<Customer>> {
    app.read(&auth, Permission::CustomersRead, move |tx| {
        customers::list_customers(tx, &q)
    })
    .await
}

/// One customer.
#[utoipa::path(get, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)), responses((status = 200, body = Customer)))]
async fn get_customer(State(app): State<App>, auth: Auth, Id(id): Id) -> R<Customer> {
    app.read(&auth, Permission::CustomersRead, move |tx| {
        customers::get_customer(tx, id)
    })
    .await
}

/// Edits a customer (admin, operations, support): names, phone, tags, notes, marketing consent
/// (with its time and source) and saved addresses; only the fields given change, audited.
#[utoipa::path(patch, path = "/customers/{id}", tag = "customers", params(("id" = i64, Path)), request_body = CustomerPatch, responses((status = 200, body = Customer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_customer(
    State(app): State<App>,
    auth: Auth,
    Id(id): Id,
    ApiJson(body): ApiJson<CustomerPatch>,
) -> R<Customer> {
    app.write(&auth, move |tx, ctx| {
        customers::update_customer(tx, ctx, id, &body)
    })
    .await
}

/// The store's settings: name, currency, time zone, attribution window, taxes per destination and
/// shipping rates (admin, operations).
#[utoipa::path(get, path = "/settings", tag = "settings", responses((status = 200, body = settings::StoreSettings)))]
async fn get_settings(State(app): State<App>, auth: Auth) -> R<settings::StoreSettings> {
    app.read(&auth, Permission::SettingsWrite, settings::current)
        .await
}

/// Changes the settings given (a list given replaces the whole list), all or nothing, audited.
/// A changed time zone or attribution window re-derives the reports; the currency is fixed once
/// the store has orders (409 `currency_locked`).
#[utoipa::path(patch, path = "/settings", tag = "settings", request_body = settings::SettingsPatch, responses((status = 200, body = settings::StoreSettings)))]
async fn update_settings(
    State(app): State<App>,
    auth: Auth,
    ApiJson(body): ApiJson<settings::SettingsPatch>,
) -> R<settings::StoreSettings> {
    app.write(&auth, move |tx, ctx| settings::update(tx, ctx, &body))
        .await
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/audit-log", tag = "audit", params(AuditQuery), responses((status = 200, body = Page<AuditEntry>)))]
async fn audit_log(
    State(app): State<App>,
    auth: Auth,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> R<Page<AuditEntry>> {
    app.read(&auth, Permission::AuditRead, move |tx| audit::list(tx, &q))
        .await
}
