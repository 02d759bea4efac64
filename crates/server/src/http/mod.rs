//! The HTTP API: state, router, and serving. Handlers live in [`handlers`] and stay thin: extract,
//! call one service function in one transaction, return its view.

pub mod analytics;
pub mod console;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod webhook_worker;

use axum::Router;
use backroom_core::{Actor, Db, Error};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a verified token is trusted before it is looked up again. Revocation through this
/// server clears the cache at once; a revocation made elsewhere takes effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

/// Signed-in tokens: the secret's hash to (who, token id, when cached).
type TokenCache = Arc<RwLock<HashMap<String, (Actor, Option<i64>, Instant)>>>;

#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub webhooks: webhook_worker::WorkerConfig,
    tokens: TokenCache,
}

impl App {
    pub fn new(db: Db) -> App {
        App {
            db,
            webhooks: webhook_worker::WorkerConfig::default(),
            tokens: Arc::new(RwLock::new(HashMap::new())),
        }
    }

    pub async fn authenticate(&self, secret: &str) -> Result<Actor, error::ApiError> {
        let now = backroom_core::util::now_micros();
        if let Ok(cache) = self.tokens.read()
            && let Some((actor, expires, at)) = cache.get(secret)
            && at.elapsed() < TOKEN_CACHE_TTL
            && expires.is_none_or(|e| e > now)
        {
            return Ok(actor.clone());
        }
        let s = secret.to_string();
        let (actor, expires) = self
            .db
            .read(move |tx| backroom_core::auth::authenticate(tx, &s, now))
            .await?;
        if let Ok(mut cache) = self.tokens.write() {
            if cache.len() > 10_000 {
                cache.clear();
            }
            cache.insert(secret.to_string(), (actor.clone(), expires, Instant::now()));
        }
        Ok(actor)
    }

    /// Forgets every cached token (after a revocation or a user change).
    pub fn forget_tokens(&self) {
        if let Ok(mut cache) = self.tokens.write() {
            cache.clear();
        }
    }
}

/// The whole router: health, the API under `/api/v1`, its OpenAPI document and reference page.
pub fn router(app: App) -> Router {
    let (api, openapi) = handlers::api_router().split_for_parts();
    let openapi = Arc::new(openapi);
    let doc = openapi.clone();
    Router::new()
        .route("/health", axum::routing::get(handlers::health))
        .route(
            "/api/openapi.json",
            axum::routing::get(move |_auth: extract::Auth| {
                let doc = doc.clone();
                async move { axum::Json((*doc).clone()) }
            }),
        )
        .route("/api/docs", axum::routing::get(handlers::docs_page))
        .merge(api)
        .merge(console::routes())
        .fallback(handlers::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
        .with_state(app)
}

/// The OpenAPI document, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    handlers::api_router().split_for_parts().1
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Imports whose server stopped before they finished (their lease ran out) are failed, and
    // said so; those another live server runs are left to it. The worker checks again every
    // minute.
    if let Err(e) = app
        .db
        .write(|tx| {
            backroom_core::import_jobs::fail_abandoned(tx, backroom_core::util::now_micros())
        })
        .await
    {
        tracing::warn!(error = %e, "failing abandoned imports failed");
    }
    // The webhook worker runs alongside and stops with the server.
    let worker = tokio::spawn(webhook_worker::run(app.db.clone(), app.webhooks.clone()));
    let result = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await;
    worker.abort();
    result
}

impl From<Error> for error::ApiError {
    fn from(e: Error) -> Self {
        error::ApiError::from_core(e)
    }
}
