//! The HTTP API: state, router, and serving. Handlers live in [`handlers`] and stay thin: extract,
//! call one service function in one transaction, return its view.

pub mod analytics;
pub mod budgets;
pub mod console;
pub mod csat;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod job_worker;
pub mod mail_worker;
pub mod promotions;
pub mod support;
pub mod webhook_worker;

use axum::Router;
use backroom_core::{Actor, Db, Error};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a verified token is trusted before it is looked up again. Revocation through this
/// server clears the cache at once; a revocation made elsewhere takes effect within this time.
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(30);

/// Verified tokens: the secret as presented (not its hash) to (who, when the token expires, when
/// cached).
type TokenCache = Arc<RwLock<HashMap<String, (Actor, Option<i64>, Instant)>>>;

/// A CSV body as a response: UTF-8 text/csv, downloaded as `filename` when one is given.
pub fn csv_response(body: String, filename: Option<&str>) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    use axum::response::IntoResponse;
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Some(v) =
        filename.and_then(|f| HeaderValue::from_str(&format!("attachment; filename=\"{f}\"")).ok())
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[derive(Clone)]
pub struct App {
    pub db: Db,
    pub webhooks: webhook_worker::WorkerConfig,
    pub jobs: job_worker::JobConfig,
    pub mail: mail_worker::MailConfig,
    tokens: TokenCache,
}

impl App {
    pub fn new(db: Db) -> App {
        App {
            db,
            webhooks: webhook_worker::WorkerConfig::default(),
            jobs: job_worker::JobConfig::default(),
            mail: mail_worker::MailConfig::default(),
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
    let (api, mut openapi) = handlers::api_router().split_for_parts();
    document_errors(&mut openapi);
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
        .merge(csat::routes())
        .fallback(handlers::not_found)
        .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024))
        .with_state(app)
}

/// The OpenAPI document, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = handlers::api_router().split_for_parts().1;
    document_errors(&mut doc);
    doc
}

/// Adds to every operation the error statuses the shared layers can answer with, each with the
/// one error body, so a client (or schemathesis) finds every status it can meet documented: a
/// missing or bad token (401), a role that may not (403), a malformed request (400), a value
/// refused (422), the database busy past its timeout (503); with a path id, an unknown one (404);
/// with a body, one too large (413) or not JSON (415); on a change, a state that refuses it
/// (409). What an operation documents itself is kept.
fn document_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |what: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            (&mut item.get, false),
            (&mut item.post, true),
            (&mut item.put, true),
            (&mut item.patch, true),
            (&mut item.delete, true),
        ];
        for (op, changes) in ops {
            let Some(op) = op.as_mut() else { continue };
            let body = op.request_body.is_some();
            let mut statuses = vec![
                (
                    "400",
                    "malformed request: a query string or JSON that cannot be read",
                ),
                ("401", "no token, or a token that is not valid"),
                ("403", "the token's role may not do this"),
                ("422", "a value is refused; `field` names it"),
                ("503", "the database is busy or unreachable; retry"),
            ];
            if path.contains('{') {
                statuses.push(("404", "no such resource"));
            }
            if body {
                statuses.push(("413", "the body is too large"));
                statuses.push((
                    "415",
                    "the body is not JSON (or the type the operation takes)",
                ));
            }
            if changes {
                statuses.push(("409", "the resource's state refuses the change"));
            }
            for (status, what) in statuses {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(what));
            }
        }
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Imports from before jobs existed whose server stopped before they finished (their lease
    // ran out) are failed, and said so; those another live server runs are left to it. The
    // worker checks again every minute.
    if let Err(e) = app
        .db
        .write(|tx| {
            backroom_core::imports::jobs::fail_abandoned(tx, backroom_core::util::now_micros())
        })
        .await
    {
        tracing::warn!(error = %e, "failing abandoned imports failed");
    }
    // Jobs whose server stopped are queued again before this one starts claiming.
    job_worker::recover(&app.db).await;
    // The webhook and job workers run alongside and stop with the server.
    let worker = tokio::spawn(webhook_worker::run(app.db.clone(), app.webhooks.clone()));
    let job_runner = tokio::spawn(job_worker::run(app.db.clone(), app.jobs.clone()));
    let mailer = tokio::spawn(mail_worker::run(app.db.clone(), app.mail.clone()));
    let result = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await;
    worker.abort();
    job_runner.abort();
    mailer.abort();
    result
}

impl From<Error> for error::ApiError {
    fn from(e: Error) -> Self {
        error::ApiError::from_core(e)
    }
}
